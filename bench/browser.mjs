// Milliseconds per 640x480 frame in headless Chromium, for each backend the browser offers:
// cold (first call) and the warm median of 100 frames (BENCH_FRAMES) after 10 warm-up frames
// (BENCH_BACKENDS=cpu for one backend). Each call is
// the whole `detector.detect(imageData)`: copy-in, preprocessing, network, read-back, decoding.
//
//   node bench/browser.mjs PHOTO   (after ./build.sh; bench/browser.sh runs everything)
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { launch, openDetector, serve, summary } from "./lib.mjs";

const photo = process.argv[2];
if (!photo) {
  console.error("usage: node bench/browser.mjs PHOTO");
  process.exit(2);
}
const www = fileURLToPath(new URL("../www", import.meta.url));
const { origin, close } = await serve(www);
const browser = await launch();
const photoBase64 = (await readFile(photo)).toString("base64");

const probe = await browser.newPage();
await probe.goto(`${origin}/index.html`);
const adapter = await probe.evaluate(async () => {
  const info = (await navigator.gpu?.requestAdapter())?.info;
  return info ? `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.trim() : "none";
});
await probe.close();
console.log(`Chromium ${browser.version()}, WebGPU adapter: ${adapter}; frame ${photo} resized to 640x480`);
for (const backend of (process.env.BENCH_BACKENDS ?? "webgpu,cpu").split(",")) {
  let page;
  try {
    page = await openDetector(browser, origin, backend);
  } catch (error) {
    console.log(`  browser ${backend.padEnd(8)} unavailable: ${error.message}`);
    continue;
  }
  const result = await page.evaluate(async ({ photoBase64, warmUp, frames }) => {
    const bytes = Uint8Array.from(atob(photoBase64), (c) => c.charCodeAt(0));
    const bitmap = await createImageBitmap(new Blob([bytes]));
    const canvas = new OffscreenCanvas(640, 480);
    const context = canvas.getContext("2d");
    context.drawImage(bitmap, 0, 0, 640, 480);
    const frame = context.getImageData(0, 0, 640, 480);
    const detector = window.ssdface.detector;
    let started = performance.now();
    await detector.detect(frame);
    const cold = performance.now() - started;
    for (let i = 1; i < warmUp; i++) await detector.detect(frame);
    const times = [];
    let faces = 0;
    for (let i = 0; i < frames; i++) {
      started = performance.now();
      faces = (await detector.detect(frame)).length;
      times.push(performance.now() - started);
    }
    return { backend: detector.backend, cold, times, faces };
  }, { photoBase64, warmUp: 10, frames: Number(process.env.BENCH_FRAMES ?? 100) });
  const { median, min, max } = summary(result.times);
  console.log(`  browser ${result.backend.padEnd(8)} median ${median.toFixed(1).padStart(6)} ms/frame ` +
    `(min ${min.toFixed(1)}, max ${max.toFixed(1)}; cold ${result.cold.toFixed(0)} ms; ${result.faces} faces)`);
  await page.close();
}
await browser.close();
close();
