// ssdface in the browser against established JavaScript face detectors (bench/peers/: npm
// packages whose weights ship inside them, installed with `npm install --prefix bench`), all in
// headless Chromium on pages served cross-origin isolated, so that wasm threads are possible.
//
//   node bench/browser_peers.mjs predict --data DIR --out DIR [--detectors a,b]
//       every image of DIR/labels.txt through each peer, as WIDER submission files
//       OUT/<peer>/<image path with .txt>; a low threshold (0.05) and up to 100 faces.
//   node bench/browser_peers.mjs speed --frame PHOTO --out FILE.json [--rounds 5] [--frames 20]
//       [--slow-frames N] [--detectors a,b]
//       ms per call of detect on PHOTO stretched to 640x480, at the default threshold 0.5.
//   node bench/browser_peers.mjs sizes --out FILE.json [--detectors a,b]
//       bytes the browser downloads for each detector (script, wasm, weights), raw and gzipped.
//
// Detectors: ssdface@webgpu, ssdface@cpu, faceapi-ssd-mobilenetv1, faceapi-tiny,
// human-blazeface; a peer runs on the first tfjs backend that starts of webgpu, webgl, wasm, cpu,
// or on the one named after @ (faceapi-tiny@wasm). BENCH_DETECTORS works like --detectors.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { launch, loadFrame, openDetector, serveIsolated, summary } from "./lib.mjs";

const PEERS = ["faceapi-ssd-mobilenetv1", "faceapi-tiny", "human-blazeface"];
const FRAME = [640, 480];
const WARM_UP = 10;
const here = (path) => fileURLToPath(new URL(path, import.meta.url));

const { positionals: [mode], values: args } = parseArgs({
  allowPositionals: true,
  options: {
    data: { type: "string" },
    out: { type: "string" },
    frame: { type: "string" },
    rounds: { type: "string", default: "5" },
    frames: { type: "string", default: "20" },
    "slow-frames": { type: "string" },
    detectors: { type: "string", default: process.env.BENCH_DETECTORS },
  },
});
const modes = { predict, speed, sizes };
if (!modes[mode] || !args.out) {
  console.error("usage: node bench/browser_peers.mjs predict --data DIR --out DIR | speed --frame PHOTO "
    + "--out FILE.json [--rounds 5] [--frames 20] [--slow-frames N] | sizes --out FILE.json; [--detectors a,b]");
  process.exit(2);
}

/// `name@backend` specs: the chosen ones or `fallback`.
function detectorSpecs(fallback) {
  return (args.detectors?.split(",") ?? fallback).map((spec) => {
    const [name, backend] = spec.split("@");
    if (name !== "ssdface" && !PEERS.includes(name)) throw new Error(`unknown detector ${name}`);
    if (name === "ssdface" && !backend) throw new Error("ssdface needs a backend: ssdface@webgpu or ssdface@cpu");
    return { name, backend };
  });
}

/// One server for all pages: the demo (www/) at /, the peer pages at /peers/, the npm packages
/// at /node_modules/, the data set's images at /data/ and the speed photo at /frame.
function startServer({ data, frame } = {}) {
  return serveIsolated(here("../www"), {
    files: frame ? { "/frame": resolve(frame) } : {},
    folders: {
      "/peers/": here("peers"),
      "/node_modules/": here("node_modules"),
      ...(data ? { "/data/": join(resolve(data), "images") } : {}),
    },
  });
}

/// A thread-capable wasm-bindgen build imports a shared memory; a single-threaded one exports its
/// own. The CPU backend runs the CPU-only module.
async function ssdfaceWasmThreads() {
  const module = await WebAssembly.compile(await readFile(here("../www/pkg/ssdface_cpu_bg.wasm")));
  return WebAssembly.Module.imports(module).some((entry) => entry.kind === "memory");
}

/// Open `spec` on a new page of `browser` (or of a browser context) and give every page the same
/// `window.detect(frame)`. Resolves to `{ page, info }`, info as in the speed results.
async function openSpec(browser, origin, { name, backend }, threshold) {
  if (name === "ssdface") {
    const page = await openDetector(browser, origin, backend);
    // The demo's default threshold is 0.5, the speed setting; ssdface is not in predict.
    const info = await page.evaluate(() => {
      window.detect = (frame) => window.ssdface.detector.detect(frame);
      return { backend: window.ssdface.detector.backend, crossOriginIsolated: window.crossOriginIsolated };
    });
    return {
      page,
      info: {
        detector: name,
        backend: info.backend,
        cross_origin_isolated: info.crossOriginIsolated,
        wasm_threads: info.backend === "cpu" ? await ssdfaceWasmThreads() : null,
        notes: [],
      },
    };
  }
  const page = await browser.newPage();
  const query = new URLSearchParams({ peer: name, threshold, ...(backend ? { backend } : {}) });
  await page.goto(`${origin}/peers/index.html?${query}`);
  await page.waitForFunction(() => window.peer || window.peerError, null, { timeout: 300000 });
  const peer = await page.evaluate(() => window.peer ?? { error: window.peerError });
  if (peer.error) throw new Error(`${name}: ${peer.error}`);
  return {
    page,
    info: {
      detector: name,
      backend: peer.backend,
      cross_origin_isolated: peer.crossOriginIsolated,
      wasm_threads: peer.wasm ? peer.wasm.threads > 1 : null,
      notes: [
        ...(peer.wasm ? [`wasm: ${peer.wasm.simd ? "SIMD" : "no SIMD"}, ${peer.wasm.threadedBuild ? "threaded" : "single-threaded"} build, ${peer.wasm.threads} thread(s)`] : []),
        ...peer.skipped.map((reason) => `skipped ${reason}`),
      ],
    },
  };
}

/// Time `count` calls of `window.detect` on `window.benchFrame`; also the last call's face count.
function timeFrames(page, count) {
  return page.evaluate(async (count) => {
    const times = [];
    let faces = 0;
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      faces = (await window.detect(window.benchFrame)).length;
      times.push(performance.now() - started);
    }
    return { times, faces };
  }, count);
}

/// WIDER FACE bbx_gt: image path, face count N, N box lines (one line of zeros when N is 0).
async function readLabels(data) {
  const lines = (await readFile(join(data, "labels.txt"), "utf8")).split("\n");
  const images = [];
  for (let i = 0; i < lines.length && lines[i].trim();) {
    const count = Number(lines[i + 1]);
    images.push(lines[i].trim());
    i += 2 + Math.max(count, 1);
  }
  return images;
}

/// A WIDER submission file: the image path, the box count, then `x y w h score` per box.
function submission(image, faces) {
  const boxes = faces.map(({ x, y, width, height, score }) =>
    `${x.toFixed(1)} ${y.toFixed(1)} ${width.toFixed(1)} ${height.toFixed(1)} ${score.toFixed(4)}`);
  return [image, faces.length, ...boxes].join("\n") + "\n";
}

async function predict() {
  if (!args.data) throw new Error("predict needs --data DIR");
  const images = await readLabels(args.data);
  const { origin, close } = await startServer({ data: args.data });
  const browser = await launch();
  for (const spec of detectorSpecs(PEERS)) {
    if (spec.name === "ssdface") throw new Error("predict runs the peers; ssdface has its own eval");
    const started = Date.now();
    const { page, info } = await openSpec(browser, origin, spec, 0.05);
    let boxes = 0;
    for (const image of images) {
      await loadFrame(page, `/data/${encodeURI(image)}`);
      const faces = await page.evaluate(() => window.detect(window.benchFrame));
      boxes += faces.length;
      const path = join(args.out, spec.name, image.replace(/\.[^./]*$/, "") + ".txt");
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, submission(image, faces));
    }
    await page.close();
    const seconds = (Date.now() - started) / 1000;
    console.log(`${spec.name} on ${info.backend}: ${images.length} images, ${boxes} boxes, ${seconds.toFixed(0)} s`
      + (info.notes.length ? ` (${info.notes.join("; ")})` : ""));
  }
  await browser.close();
  close();
}

/// The WebGPU adapter and the WebGL renderer: SwiftShader is a software GPU.
async function gpus(browser, origin) {
  const page = await browser.newPage();
  await page.goto(`${origin}/peers/index.html`);
  const found = await page.evaluate(async () => {
    const info = (await navigator.gpu?.requestAdapter())?.info;
    const gl = document.createElement("canvas").getContext("webgl2");
    const debug = gl?.getExtension("WEBGL_debug_renderer_info");
    return {
      webgpu: info ? `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.trim() : "none",
      webgl: gl ? gl.getParameter(debug ? debug.UNMASKED_RENDERER_WEBGL : gl.RENDERER) : "none",
      cores: navigator.hardwareConcurrency,
    };
  });
  await page.close();
  return found;
}

async function speed() {
  if (!args.frame) throw new Error("speed needs --frame PHOTO");
  const [rounds, frames] = [Number(args.rounds), Number(args.frames)];
  const slowFrames = Number(args["slow-frames"] ?? frames);
  const { origin, close } = await startServer({ frame: args.frame });
  const browser = await launch();
  const gpu = await gpus(browser, origin);
  const software = { webgpu: /swiftshader/i.test(gpu.webgpu), webgl: /swiftshader/i.test(gpu.webgl) };
  console.log(`Chromium ${browser.version()}, ${gpu.cores} cores; WebGPU adapter: ${gpu.webgpu}; `
    + `WebGL: ${gpu.webgl}; frame ${args.frame} stretched to ${FRAME.join("x")}`);
  const runs = [];
  for (const spec of detectorSpecs(["ssdface@webgpu", "ssdface@cpu", ...PEERS])) {
    const { page, info } = await openSpec(browser, origin, spec, 0.5);
    await loadFrame(page, "/frame", FRAME);
    // A software GPU takes seconds a frame: --slow-frames keeps its run short.
    const slow = software[info.backend] === true;
    const perRound = slow ? slowFrames : frames;
    if (slow && perRound !== frames) info.notes.push(`software GPU: ${perRound} frame(s) a round, ${Math.min(WARM_UP, perRound)} warm-up (--slow-frames)`);
    runs.push({ page, info, perRound, warmUp: slow ? Math.min(WARM_UP, perRound) : WARM_UP, times: [], medians: [] });
  }
  // Interleaved, so that the load of this shared machine falls on every detector alike.
  for (const run of runs) run.cold = (await timeFrames(run.page, 1)).times[0];
  for (const run of runs) await timeFrames(run.page, run.warmUp);
  for (let round = 0; round < rounds; round++) {
    for (const run of runs) {
      const { times, faces } = await timeFrames(run.page, run.perRound);
      run.times.push(...times);
      run.medians.push(summary(times).median);
      run.faces = faces;
    }
  }
  await browser.close();
  close();
  const results = runs.map(({ info, cold, medians, times }) => ({
    detector: info.detector,
    backend: info.backend,
    setting: FRAME.join("x"),
    cross_origin_isolated: info.cross_origin_isolated,
    wasm_threads: info.wasm_threads,
    cold_ms: cold,
    round_medians_ms: medians,
    times_ms: times,
  }));
  await writeJson(args.out, {
    kind: "browser-speed",
    machine: { chromium: browser.version(), webgpu_adapter: gpu.webgpu, cores: gpu.cores },
    date: new Date().toISOString(),
    frame: args.frame,
    rounds,
    results,
  });
  console.log("detector                 backend  isolated threads  median ms   min ms   max ms   cold ms  frames faces");
  for (const { info, cold, times, faces } of runs) {
    const { median, min, max } = summary(times);
    console.log(`${info.detector.padEnd(24)} ${info.backend.padEnd(8)} ${String(info.cross_origin_isolated).padEnd(8)} `
      + `${String(info.wasm_threads ?? "-").padEnd(7)} ${median.toFixed(1).padStart(10)} ${min.toFixed(1).padStart(8)} `
      + `${max.toFixed(1).padStart(8)} ${cold.toFixed(0).padStart(9)} ${String(times.length).padStart(7)} ${String(faces).padStart(5)}`);
    for (const note of info.notes) console.log(`    ${note}`);
  }
}

/// The demo's and the bench pages' own files are not the detector's download.
function isDetectorFile(url, origin) {
  if (!url.startsWith(origin)) return false;
  const path = new URL(url).pathname;
  return !["/index.html", "/app.js", "/style.css"].includes(path) && !path.startsWith("/peers/");
}

async function sizes() {
  const { origin, close } = await startServer();
  const browser = await launch();
  const results = [];
  for (const spec of detectorSpecs(["ssdface@webgpu", ...PEERS])) {
    // A fresh context: an empty cache, and its network seen from the first request.
    const context = await browser.newContext();
    const responses = [];
    context.on("response", (response) => responses.push(response));
    const { page, info } = await openSpec(context, origin, spec, 0.5);
    // Any frame will do for the one call that makes the detector fetch what it needs.
    await page.evaluate(([width, height]) => (window.benchFrame = new ImageData(width, height)), FRAME);
    await timeFrames(page, 1);
    const files = [];
    for (const response of responses.filter((r) => isDetectorFile(r.url(), origin))) {
      if (files.some((file) => file.url === response.url())) continue;
      const body = await response.body();
      files.push({ url: response.url().slice(origin.length), bytes: body.length, gzip_bytes: gzipSync(body, { level: 9 }).length });
    }
    await context.close();
    const total = (key) => files.reduce((sum, file) => sum + file[key], 0);
    results.push({ detector: spec.name, backend: info.backend, files, bytes: total("bytes"), gzip_bytes: total("gzip_bytes") });
    console.log(`${spec.name.padEnd(24)} ${info.backend.padEnd(7)} ${(total("bytes") / 1e6).toFixed(2).padStart(7)} MB, `
      + `gzip ${(total("gzip_bytes") / 1e6).toFixed(2).padStart(6)} MB: ${files.map((file) => file.url).join(" ")}`);
  }
  await browser.close();
  close();
  await writeJson(args.out, { kind: "browser-sizes", results });
}

async function writeJson(path, value) {
  await mkdir(dirname(resolve(path)), { recursive: true });
  await writeFile(path, JSON.stringify(value, null, 2) + "\n");
}

await modes[mode]();
