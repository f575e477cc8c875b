// Shared by the browser benchmarks: the test harness's server and Chromium (playwright-core is
// installed in tests/browser/), plus the page and timing helpers.
import { launch as launchChromium, openDemo, serve } from "../tests/browser/harness.mjs";

export { countGpuBuffers, serve, writeY4m } from "../tests/browser/harness.mjs";

/// Headless Chromium with WebGPU (a software adapter where the machine has no GPU).
export function launch(extra = []) {
  return launchChromium(["--enable-unsafe-webgpu", ...extra]);
}

/// The harness's `serve` with the cross-origin isolation headers: only an isolated page gets
/// SharedArrayBuffer, and so WebAssembly threads. Resolves to `{ origin, close }`.
export function serveIsolated(root, options = {}) {
  return serve(root, {
    ...options,
    headers: {
      "cross-origin-opener-policy": "same-origin",
      "cross-origin-embedder-policy": "require-corp",
    },
  });
}

/// Open the demo page on `backend` and wait for its detector; `browser` may also be a
/// browser context (whose network a caller watches). `query` adds page parameters such as
/// `&inputSize=160x120`.
export async function openDetector(browser, origin, backend, query = "") {
  // Detection on the page's own thread: the figures are the detector's, not a worker's
  // messages, and the module's memory can be read.
  return (await openDemo(browser, origin, `?backend=${backend}&worker=0${query}`)).page;
}

export function summary(times) {
  const sorted = [...times].sort((a, b) => a - b);
  return { median: sorted[sorted.length >> 1], min: sorted[0], max: sorted[sorted.length - 1] };
}

/// Decode the image at `url` in the page into `window.benchFrame`, an ImageData: stretched to
/// `size` ([width, height]), or at its own size.
export function loadFrame(page, url, size = null) {
  return page.evaluate(async ({ url, size }) => {
    const bitmap = await createImageBitmap(await (await fetch(url)).blob());
    const [width, height] = size ?? [bitmap.width, bitmap.height];
    const context = new OffscreenCanvas(width, height).getContext("2d");
    context.drawImage(bitmap, 0, 0, width, height);
    window.benchFrame = context.getImageData(0, 0, width, height);
    bitmap.close();
  }, { url, size });
}
