// Shared by the browser benchmarks: the test harness's server and Chromium (playwright-core is
// installed in tests/browser/), plus the page and timing helpers.
import { launch as launchChromium, openDemo } from "../tests/browser/harness.mjs";

export { countGpuBuffers, serve, writeY4m } from "../tests/browser/harness.mjs";

/// Headless Chromium with WebGPU (a software adapter where the machine has no GPU).
export function launch(extra = []) {
  return launchChromium(["--enable-unsafe-webgpu", ...extra]);
}

/// Open the demo page on `backend` and wait for its detector.
export async function openDetector(browser, origin, backend) {
  return (await openDemo(browser, origin, `?backend=${backend}`)).page;
}

export function summary(times) {
  const sorted = [...times].sort((a, b) => a - b);
  return { median: sorted[sorted.length >> 1], min: sorted[0], max: sorted[sorted.length - 1] };
}
