// Shared by the browser tests and benchmarks: a static file server, Debian's headless Chromium
// through playwright-core, and the comparison of detected faces.
import { createServer } from "node:http";
import { readFile, writeFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { chromium } from "playwright-core";

const types = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".css": "text/css",
  ".wasm": "application/wasm",
  ".jpg": "image/jpeg",
  ".png": "image/png",
};

/// Serve the folder `root` on 127.0.0.1, plus `files`: URL path -> file, and `folders`:
/// URL prefix -> folder; `headers` go with every file. Resolves to `{ origin, close }`.
export async function serve(root, { files = {}, folders = {}, headers = {} } = {}) {
  const server = createServer(async (request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url, "http://x").pathname));
    const prefix = Object.keys(folders).find((p) => path.startsWith(p));
    const file = files[path]
      ?? (prefix ? join(folders[prefix], path.slice(prefix.length)) : null)
      ?? join(root, path.endsWith("/") ? `${path}index.html` : path);
    try {
      const body = await readFile(file);
      response.writeHead(200, {
        "content-type": types[extname(file)] ?? "application/octet-stream",
        "content-length": body.length,
        ...headers,
      });
      response.end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

/// Debian's headless Chromium (never a downloaded one); `extra` flags are appended.
export function launch(extra = []) {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--no-first-run", "--disable-quic", ...extra],
  });
}

/// An init script that counts the WebGPU buffers alive and their bytes in
/// `window.gpuBufferStats`: created by `createBuffer`, gone at `destroy()` or when garbage
/// collected (wgpu on the web drops buffers without destroying them).
export function countGpuBuffers() {
  const stats = { buffers: 0, bytes: 0 };
  window.gpuBufferStats = stats;
  if (!window.GPUDevice) return;
  const sizes = new WeakMap();
  const gone = (size) => {
    stats.buffers -= 1;
    stats.bytes -= size;
  };
  const collected = new FinalizationRegistry((token) => {
    if (!token.destroyed) gone(token.size);
  });
  const create = GPUDevice.prototype.createBuffer;
  GPUDevice.prototype.createBuffer = function (descriptor) {
    const buffer = create.call(this, descriptor);
    const token = { size: descriptor.size, destroyed: false };
    stats.buffers += 1;
    stats.bytes += descriptor.size;
    sizes.set(buffer, token);
    collected.register(buffer, token);
    return buffer;
  };
  const destroy = GPUBuffer.prototype.destroy;
  GPUBuffer.prototype.destroy = function () {
    const token = sizes.get(this);
    if (token && !token.destroyed) {
      token.destroyed = true;
      gone(token.size);
    }
    return destroy.call(this);
  };
}

/// Open the demo page served at `origin` (with `query`, e.g. `?backend=cpu`) and wait until its
/// detector is ready; `errors` collects the page's console errors from then on.
export async function openDemo(browser, origin, query = "") {
  const page = await browser.newPage();
  const errors = [];
  page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(`${origin}/index.html${query}`);
  await page.waitForFunction(() => window.ssdface || !document.getElementById("error").hidden,
    null, { timeout: 120000 });
  const error = await page.locator("#error").textContent();
  assert(await page.locator("#error").isHidden(), `page error: ${error}`);
  return { page, errors };
}

/// Write `path`, a one-second .y4m video (640x480, I420) of the still `photo`, for Chromium's
/// fake camera. The photo is decoded and resized (stretched) by the browser itself. Resolves to
/// the photo's own size, `{ width, height }`.
export async function writeY4m(photo, path) {
  const browser = await launch();
  const page = await browser.newPage();
  const { rgba, size } = await page.evaluate(async (base64) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const bitmap = await createImageBitmap(new Blob([bytes]));
    const context = new OffscreenCanvas(640, 480).getContext("2d");
    context.drawImage(bitmap, 0, 0, 640, 480);
    return {
      rgba: Array.from(context.getImageData(0, 0, 640, 480).data),
      size: { width: bitmap.width, height: bitmap.height },
    };
  }, (await readFile(photo)).toString("base64"));
  await browser.close();
  const [w, h] = [640, 480];
  const y = Buffer.alloc(w * h);
  const u = Buffer.alloc(w * h / 4);
  const v = Buffer.alloc(w * h / 4);
  for (let row = 0; row < h; row++) {
    for (let x = 0; x < w; x++) {
      const i = (row * w + x) * 4;
      const [r, g, b] = [rgba[i], rgba[i + 1], rgba[i + 2]];
      y[row * w + x] = Math.round(16 + 0.257 * r + 0.504 * g + 0.098 * b);
      if (x % 2 === 0 && row % 2 === 0) {
        const j = (row / 2) * (w / 2) + x / 2;
        u[j] = Math.round(128 - 0.148 * r - 0.291 * g + 0.439 * b);
        v[j] = Math.round(128 + 0.439 * r - 0.368 * g - 0.071 * b);
      }
    }
  }
  const frame = Buffer.concat([Buffer.from("FRAME\n"), y, u, v]);
  const header = Buffer.from(`YUV4MPEG2 W${w} H${h} F30:1 Ip A1:1 C420jpeg\n`);
  await writeFile(path, Buffer.concat([header, ...Array(30).fill(frame)]));
  return size;
}

export function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/// Intersection over union of two faces.
export function iou(a, b) {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  const inter = Math.max(0, w) * Math.max(0, h);
  return inter / (a.width * a.height + b.width * b.height - inter);
}

/// The same faces, in score order: boxes within `pixels`, scores within `scores` (the defaults
/// allow for photos decoded by another JPEG decoder; the same pixels through the fused and the
/// unfused network agree to about 1e-6).
export function assertSameFaces(actual, expected, what, { pixels = 2, scores = 0.02 } = {}) {
  const order = (faces) => [...faces].sort((a, b) => b.score - a.score);
  const [a, e] = [order(actual), order(expected)];
  assert(a.length === e.length, `${what}: ${a.length} faces vs ${e.length}: ${JSON.stringify(a)} vs ${JSON.stringify(e)}`);
  a.forEach((face, i) => {
    for (const key of ["x", "y", "width", "height"]) {
      assert(Math.abs(face[key] - e[i][key]) <= pixels, `${what}: face ${i} ${key} ${face[key]} vs ${e[i][key]}`);
    }
    assert(Math.abs(face.score - e[i].score) <= scores, `${what}: face ${i} score ${face.score} vs ${e[i].score}`);
  });
}

/// Run named checks one after another, logging each; `failures()` counts the failed ones.
export function checker() {
  let failed = 0;
  async function check(name, body) {
    const started = Date.now();
    try {
      await body();
      console.log(`ok   ${name} (${Date.now() - started} ms)`);
    } catch (error) {
      failed += 1;
      console.log(`FAIL ${name}: ${error.stack ?? error}`);
    }
  }
  return { check, failures: () => failed };
}
