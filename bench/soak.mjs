// Soak: 2,000 fake-camera frames through the live page on each backend, sampling the JS heap,
// the WebAssembly memory and the WebGPU buffers alive (counted by wrapping createBuffer and
// destroy) every 100 frames (a tenth of the run when shorter).
// Growth after warm-up means a leak.
//
//   node bench/soak.mjs PHOTO [FRAMES]   (after ./build.sh; SOAK_BACKENDS=cpu for one backend)
//
// SOAK_INPUT_SIZE=160x120 runs the network at a smaller input: the same buffers and kernels,
// fewer pixels, so that a software WebGPU adapter gets through 2,000 frames in under an hour.
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { countGpuBuffers, launch, openDetector, serve, writeY4m } from "./lib.mjs";

const [photo, framesArg] = process.argv.slice(2);
if (!photo) {
  console.error("usage: node bench/soak.mjs PHOTO [FRAMES]");
  process.exit(2);
}
const total = Number(framesArg ?? 2000);
const every = Math.max(1, Math.min(100, Math.floor(total / 10)));
const warmUp = Math.min(200, 2 * every);
const www = fileURLToPath(new URL("../www", import.meta.url));
const { origin, close } = await serve(www);

const y4m = join(await mkdtemp(join(tmpdir(), "ssdface-soak-")), "face.y4m");
await writeY4m(photo, y4m);
console.log(`fake camera video: ${y4m}`);
const browser = await launch(["--enable-precise-memory-info", "--use-fake-ui-for-media-stream",
  "--use-fake-device-for-media-stream", `--use-file-for-fake-video-capture=${y4m}`]);

const inputSize = process.env.SOAK_INPUT_SIZE;
const query = inputSize ? `&inputSize=${inputSize}` : "";
console.log(`soak: ${total} camera frames of ${photo} per backend; samples every ${every} frames` +
  `; network input ${inputSize ?? "the model's own"}`);
for (const backend of (process.env.SOAK_BACKENDS ?? "webgpu,cpu").split(",")) {
  const context = await browser.newContext();
  await context.addInitScript(countGpuBuffers);
  let page;
  try {
    page = await openDetector(context, origin, backend, query);
  } catch (error) {
    console.log(`${backend}: unavailable: ${error.message}`);
    await context.close();
    continue;
  }
  const name = await page.evaluate(() => window.ssdface.detector.backend);
  if (name !== backend) {
    console.log(`${backend}: unavailable (the page chose ${name})`);
    await context.close();
    continue;
  }
  await page.click("#camera");
  const started = Date.now();
  const samples = [];
  let next = every;
  while (next <= total) {
    await page.waitForFunction((n) => window.ssdface.frames >= n, next, { timeout: 0, polling: 50 });
    samples.push(await page.evaluate(() => ({
      frames: window.ssdface.frames,
      heap: performance.memory.usedJSHeapSize,
      wasm: window.ssdface.wasmMemory(),
      buffers: window.gpuBufferStats.buffers,
      bytes: window.gpuBufferStats.bytes,
      faces: window.lastFaces.length,
    })));
    next += every;
  }
  const seconds = (Date.now() - started) / 1000;
  await page.click("#camera");
  const error = await page.locator("#error").textContent();
  console.log(`\n${backend}: ${total} frames in ${seconds.toFixed(0)} s (${(total / seconds).toFixed(1)} fps)` +
    `${error ? `; page error: ${error}` : ""}`);
  console.log("   frame   JS heap MiB   wasm MiB   GPU buffers   GPU MiB   faces");
  for (const s of samples) {
    console.log(`${String(s.frames).padStart(8)} ${(s.heap / 2 ** 20).toFixed(2).padStart(13)}` +
      ` ${(s.wasm / 2 ** 20).toFixed(1).padStart(10)}` +
      `${String(s.buffers).padStart(14)} ${(s.bytes / 2 ** 20).toFixed(2).padStart(9)} ${String(s.faces).padStart(7)}`);
  }
  // The JS heap saws up and down with garbage collection: compare the ranges of the first and
  // second half after warm-up rather than two samples.
  const settled = samples.filter((s) => s.frames > warmUp);
  const halves = [settled.slice(0, settled.length >> 1), settled.slice(settled.length >> 1)];
  const range = (part) => part.length === 0 ? "-"
    : `${(Math.min(...part.map((s) => s.heap)) / 2 ** 20).toFixed(1)}-` +
      `${(Math.max(...part.map((s) => s.heap)) / 2 ** 20).toFixed(1)} MiB`;
  console.log(`JS heap after warm-up: first half ${range(halves[0])}, second half ${range(halves[1])}`);
  const base = samples.find((s) => s.frames >= warmUp) ?? samples[0];
  const last = samples[samples.length - 1];
  console.log(`growth from frame ${base.frames} to ${last.frames}: JS heap ` +
    `${((last.heap - base.heap) / 2 ** 20).toFixed(2)} MiB, wasm memory ` +
    `${((last.wasm - base.wasm) / 2 ** 20).toFixed(1)} MiB, GPU buffers ${last.buffers - base.buffers} ` +
    `(${((last.bytes - base.bytes) / 2 ** 20).toFixed(2)} MiB)`);
  await context.close();
}
await browser.close();
close();
