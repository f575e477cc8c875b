// Shared by the browser benchmarks: a static server for www/ and Debian's headless Chromium
// through the playwright-core installed in tests/browser/.
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";

const require = createRequire(new URL("../tests/browser/package.json", import.meta.url));
const { chromium } = require("playwright-core");

const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".wasm": "application/wasm" };

/// Serve `root` on 127.0.0.1; resolves to `{ origin, close }`.
export async function serve(root) {
  const server = createServer(async (request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url, "http://x").pathname));
    const file = join(root, path.endsWith("/") ? `${path}index.html` : path);
    try {
      const body = await readFile(file);
      response.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" });
      response.end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

/// Headless Chromium with WebGPU (a software adapter where the machine has no GPU).
export function launch(extra = []) {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--enable-unsafe-webgpu", "--disable-background-networking",
      "--disable-component-update", "--no-first-run", ...extra],
  });
}

/// Open the demo page on `backend` and wait for its detector.
export async function openDetector(browser, origin, backend) {
  const page = await browser.newPage();
  await page.goto(`${origin}/index.html?backend=${backend}`);
  await page.waitForFunction(() => window.ssdface || !document.getElementById("error").hidden,
    null, { timeout: 120000 });
  const error = await page.locator("#error").textContent();
  if (!(await page.locator("#error").isHidden())) throw new Error(`page error: ${error}`);
  return page;
}

export function summary(times) {
  const sorted = [...times].sort((a, b) => a - b);
  return { median: sorted[sorted.length >> 1], min: sorted[0], max: sorted[sorted.length - 1] };
}
