// Browser checks of the installed npm package, in Debian's headless Chromium. Run by
// tests/npm_package.rs after it packed and installed the package and built the Vite app;
// through the environment:
//   SSDFACE_DIST          the Vite app's build output
//   SSDFACE_PHOTO          a photo with faces
//   SSDFACE_NATIVE_JSON    the native CLI's faces for it with the bundled model (JSON array)
//   SSDFACE_CUSTOM_WEIGHTS a weights file of another model, passed as `weights`
//   SSDFACE_CUSTOM_PHOTO   a photo it finds faces in
//   SSDFACE_CUSTOM_JSON    the native CLI's faces for that photo with those weights
//   SSDFACE_EXAMPLES       the pages of the package README's examples, relative to the app's
//                          folder, comma-separated (the package test writes them)
//   SSDFACE_CAMERA_VIDEO   where to write the fake camera's video (of SSDFACE_PHOTO)
// Exits non-zero when a check fails.
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { assert, assertSameFaces, checker, iou, launch, serve, writeY4m } from "./harness.mjs";

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
const photoSize = await writeY4m(env("SSDFACE_PHOTO"), env("SSDFACE_CAMERA_VIDEO"));
const browser = await launch(["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
  `--use-file-for-fake-video-capture=${env("SSDFACE_CAMERA_VIDEO")}`]);

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
    assert(value.customFaces.length > 0, "no faces found with the custom weights");
    assertSameFaces(value.customFaces, nativeCustom, "Vite app with custom weights vs native");
  } finally {
    close();
  }
});

/// The native CLI's best face in the photo, on the fake camera's 640x480 frame (the photo
/// stretched to it; its colours pass through YUV).
const scale = { x: 640 / photoSize.width, y: 480 / photoSize.height };
const best = (faces) => [...faces].sort((a, b) => b.score - a.score)[0];
const bestNative = best(native);
const cameraFace = {
  x: bestNative.x * scale.x, y: bestNative.y * scale.y,
  width: bestNative.width * scale.x, height: bestNative.height * scale.y,
};

/**
 * Open the README example `page` at `origin` and wait for what it shows: the faces it logs
 * (`console.log(faces)`), or, for one that draws, the first canvas it adds once the box of the
 * best face is drawn on it. Either must be where the native CLI finds the best face.
 */
async function runExample(origin, path) {
  const page = await browser.newPage();
  const errors = [];
  const logged = [];
  page.on("console", async (message) => {
    if (message.type() === "error") errors.push(message.text());
    if (message.type() === "log") logged.push(await message.args()[0]?.jsonValue().catch(() => null));
  });
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(`${origin}/${path}`);
  const deadline = Date.now() + 120000;
  let shown = null;
  while (!shown && errors.length === 0 && Date.now() < deadline) {
    await page.waitForTimeout(250);
    const faces = logged.find(Array.isArray);
    if (faces) {
      assert(faces.length > 0, `${path} logged no faces`);
      const overlap = iou(best(faces), cameraFace);
      assert(overlap > 0.7, `${path}: best logged face vs native: IoU ${overlap.toFixed(2)}`);
      shown = `logged ${faces.length} faces`;
    } else {
      // The box's left edge (2 px, green) in the face's middle row, as near the native box's
      // left edge as the face checks allow (IoU > 0.7: within a sixth of the face's width).
      shown = await page.evaluate((face) => {
        const canvas = document.querySelector("canvas");
        if (!canvas || canvas.width === 0) return null;
        const reach = Math.max(3, Math.round(face.width / 6));
        const row = canvas.getContext("2d").getImageData(Math.round(face.x) - reach,
          Math.round(face.y + face.height / 2), 2 * reach + 1, 1).data;
        for (let i = 0; i < row.length; i += 4) {
          if (row[i] < 60 && row[i + 1] > 200 && row[i + 2] < 60) {
            return `drew the box on a ${canvas.width}x${canvas.height} canvas`;
          }
        }
        return null;
      }, cameraFace);
    }
  }
  await page.close();
  assert(errors.length === 0, `${path}: console errors: ${errors.join("; ")}`);
  assert(shown, `${path}: neither logged faces nor drew the best face's box within 120 s`);
  return shown;
}

/** Vite's dev server on the app; resolves to `{ origin, close }`. */
async function viteDevServer() {
  const child = spawn("npx", ["--no-install", "vite", "npm/app", "--host", "127.0.0.1", "--port", "5273"], {
    cwd: here("."), detached: true, env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
  });
  let output = "";
  // The server and the npx process above it, as a group; gone already is fine.
  const close = () => {
    try {
      process.kill(-child.pid);
    } catch {}
  };
  const origin = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`vite did not start in 60 s:\n${output}`)), 60000);
    const read = (chunk) => {
      output += chunk;
      const found = /(http:\/\/127\.0\.0\.1:\d+)\//.exec(output);
      if (found) {
        clearTimeout(timer);
        resolve(found[1]);
      }
    };
    child.stdout.on("data", read);
    child.stderr.on("data", read);
    child.on("exit", (code) => reject(new Error(`vite exited (${code}):\n${output}`)));
  }).catch((error) => {
    close();
    throw error;
  });
  return { origin, close };
}

const examples = env("SSDFACE_EXAMPLES").split(",");
for (const [where, start] of [
  ["built by Vite", () => serve(env("SSDFACE_DIST"))],
  ["on Vite's dev server", viteDevServer],
]) {
  await check(`the package README's examples run as written, ${where}, on the fake camera`, async () => {
    const { origin, close } = await start();
    try {
      for (const path of examples) console.log(`  ${path}: ${await runExample(origin, path)}`);
    } finally {
      close();
    }
  });
}

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
