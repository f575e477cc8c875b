// Browser checks of the installed npm package, in Debian's headless Chromium. Run by
// tests/npm_package.rs after it packed and installed the package and built the Vite app;
// through the environment:
//   SSDFACE_DIST          the Vite app's build output
//   SSDFACE_PHOTO          a photo with faces
//   SSDFACE_NATIVE_JSON    the native CLI's faces for it with the bundled model (JSON array)
//   SSDFACE_CUSTOM_WEIGHTS a weights file of another model, passed as `weights`
//   SSDFACE_CUSTOM_PHOTO   a photo it finds faces in
//   SSDFACE_CUSTOM_JSON    the native CLI's faces for that photo with those weights
// Exits non-zero when a check fails.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { assert, assertSameFaces, checker, iou, launch, serve } from "./harness.mjs";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const faces = async (name) => JSON.parse(await readFile(env(name), "utf8"));
const native = await faces("SSDFACE_NATIVE_JSON");
const nativeCustom = await faces("SSDFACE_CUSTOM_JSON");
const files = {
  "/photo.jpg": env("SSDFACE_PHOTO"),
  "/custom-photo.jpg": env("SSDFACE_CUSTOM_PHOTO"),
  "/custom.ssdface": env("SSDFACE_CUSTOM_WEIGHTS"),
};
const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const { check, failures } = checker();
const browser = await launch([]);

/// Open `url`, wait for the page's `window.result`, fail on console errors.
async function result(url) {
  const page = await browser.newPage();
  const errors = [];
  page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(url);
  await page.waitForFunction(() => window.result !== undefined, null, { timeout: 120000 });
  const value = await page.evaluate(() => window.result);
  await page.close();
  assert(!value.error, `the page failed: ${value.error}`);
  // The worker's panic hook logs the panic that the Vite app asks for; nothing else may be logged.
  const others = errors.filter((e) => !/panicForTesting was called/.test(e));
  assert(others.length === 0, `console errors: ${others.join("; ")}`);
  return value;
}

await check("a Vite app built with the package detects like the native CLI: bundled model, worker, own weights", async () => {
  const { origin, close } = await serve(env("SSDFACE_DIST"), { files });
  try {
    const value = await result(`${origin}/index.html`);
    assert(value.backend === "cpu", `backend ${value.backend} (this Chromium has no WebGPU flag)`);
    assert(value.faces.length > 0, "no faces found");
    assertSameFaces(value.faces, native, "Vite app vs native");
    assert(value.workerBackend === "cpu", `worker backend ${value.workerBackend}`);
    assertSameFaces(value.workerFaces, native, "Vite app's worker vs native");
    assert(/panicForTesting was called/.test(value.workerPanic), `worker panic: ${value.workerPanic}`);
    assertSameFaces(value.workerFacesAfterPanic, native, "the restarted worker vs native");
    // A video of the photo (a canvas stream: colours pass through YUV) finds the same best face.
    assert(value.videoSize.join("x") === value.photoSize.join("x"),
      `video frame ${value.videoSize} vs photo ${value.photoSize}`);
    const best = (faces) => [...faces].sort((a, b) => b.score - a.score)[0];
    for (const [name, faces] of [["video example", value.videoFaces], ["first example", value.readmeUseFaces],
      ["worker example", value.readmeWorkerFaces]]) {
      assert(faces.length > 0, `the README's ${name}: no faces in the video`);
      const overlap = iou(best(faces), best(native));
      assert(overlap > 0.7, `the README's ${name}: best face vs native: IoU ${overlap.toFixed(2)}`);
    }
    assert(value.videoBoxDrawn, "drawFaces drew no box on the video frame");
    assert(value.customFaces.length > 0, "no faces found with the custom weights");
    assertSameFaces(value.customFaces, nativeCustom, "Vite app with custom weights vs native");
  } finally {
    close();
  }
});

await check("a plain page without a bundler detects like the native CLI", async () => {
  const { origin, close } = await serve(here("npm/plain"), {
    files,
    folders: { "/node_modules/": here("node_modules") },
  });
  try {
    const value = await result(`${origin}/index.html`);
    assert(value.faces.length > 0, "no faces found");
    assertSameFaces(value.faces, native, "plain page vs native");
  } finally {
    close();
  }
});

await browser.close();
console.log(failures() === 0 ? "all package checks passed" : `${failures()} package checks failed`);
process.exit(failures() === 0 ? 0 : 1);
