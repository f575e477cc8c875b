// Shared by the browser tests and benchmarks: a static file server, Debian's headless Chromium
// through playwright-core, and the comparison of detected faces.
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
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
/// URL prefix -> folder. Resolves to `{ origin, close }`.
export async function serve(root, { files = {}, folders = {} } = {}) {
  const server = createServer(async (request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url, "http://x").pathname));
    const prefix = Object.keys(folders).find((p) => path.startsWith(p));
    const file = files[path]
      ?? (prefix ? join(folders[prefix], path.slice(prefix.length)) : null)
      ?? join(root, path.endsWith("/") ? `${path}index.html` : path);
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

export function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/// Faces equal within 2 px and 0.02 of score, compared in score order.
export function assertSameFaces(actual, expected, what) {
  const order = (faces) => [...faces].sort((a, b) => b.score - a.score);
  const [a, e] = [order(actual), order(expected)];
  assert(a.length === e.length, `${what}: ${a.length} faces vs ${e.length}: ${JSON.stringify(a)} vs ${JSON.stringify(e)}`);
  a.forEach((face, i) => {
    for (const key of ["x", "y", "width", "height"]) {
      assert(Math.abs(face[key] - e[i][key]) <= 2, `${what}: face ${i} ${key} ${face[key]} vs ${e[i][key]}`);
    }
    assert(Math.abs(face.score - e[i].score) <= 0.02, `${what}: face ${i} score ${face.score} vs ${e[i].score}`);
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
