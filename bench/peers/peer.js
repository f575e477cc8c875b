// Loads one peer face detector (npm package served from bench/node_modules, weights included) on
// the best tfjs backend that starts here, or the one named by ?backend=, and exposes
//   window.detect(imageDataOrCanvas) -> [{ x, y, width, height, score }] in source pixels
//   window.peer: { name, backend, crossOriginIsolated, wasm, skipped }
// (window.peerError instead when it cannot start). `skipped` says why each better backend lost.
const modules = {
  "faceapi-ssd-mobilenetv1": "./faceapi.js",
  "faceapi-tiny": "./faceapi.js",
  "human-blazeface": "./human.js",
};
// Fastest first where the hardware is real; the first that starts wins.
const BACKENDS = ["webgpu", "webgl", "wasm", "cpu"];

const query = new URLSearchParams(location.search);
const name = query.get("peer");
const threshold = Number(query.get("threshold") ?? 0.5);
const status = document.getElementById("status");

/// How tfjs set its wasm backend up: SIMD and the threaded build need browser support, the
/// threaded build also a cross-origin isolated page; tfjs picks the thread count itself.
async function wasmInfo(tf) {
  return {
    simd: await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"),
    threadedBuild: await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT"),
    threads: tf.getThreadsCount(),
  };
}

async function start() {
  if (!modules[name]) throw new Error(`unknown peer ${name}; one of ${Object.keys(modules).join(", ")}`);
  const { create } = await import(modules[name]);
  const skipped = [];
  for (const backend of query.has("backend") ? [query.get("backend")] : BACKENDS) {
    try {
      const { tf, detect } = await create(name, { backend, threshold });
      // tfjs can fall back on its own; only the backend it reports counts.
      if (tf.getBackend() !== backend) throw new Error(`tfjs runs ${tf.getBackend()} instead`);
      window.peer = {
        name,
        backend,
        crossOriginIsolated: window.crossOriginIsolated,
        wasm: backend === "wasm" ? await wasmInfo(tf) : null,
        skipped,
      };
      window.detect = detect;
      return;
    } catch (error) {
      skipped.push(`${backend}: ${error.message}`);
    }
  }
  throw new Error(`no backend started: ${skipped.join("; ")}`);
}

start().then(
  () => (status.textContent = `${name} ready on ${window.peer.backend}`),
  (error) => {
    window.peerError = error.message;
    status.textContent = error.message;
  },
);
