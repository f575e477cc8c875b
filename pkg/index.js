// The package's entry point: typed, promise-based wrappers over the WebAssembly detector.
// There are two builds of it: a CPU-only module, and a larger one that runs on WebGPU too.
// Each module is fetched and compiled once, on the first `create` that needs it, so a page on
// the CPU never downloads the WebGPU kernels.
//
// A trap (a panic, or an allocation that failed) aborts the WebAssembly instance: the calls in
// flight would never settle and later calls would fail in obscure ways. The wrapper rejects
// the calls in flight with an `Error` that carries the panic message, and every later call at
// once with one that says so. (Starting a fresh instance in place needs a synchronous
// `WebAssembly.Instance`, which Chromium refuses on the main thread for a module over 8 MB.)
// Both bindings are imported up front (18 kB gzipped in all): a dynamic import would split the
// worker's bundle, which Vite's default worker format refuses. Only the modules load lazily.
import * as cpuBindings from "./ssdface_cpu.js";
import * as webgpuBindings from "./ssdface.js";
import { watchVideo } from "./video.js";

export { drawFaces } from "./draw.js";

/** What a WebGPU call fails with once its device is lost or destroyed. */
const DEVICE_LOST = /device (is poisoned|was destroyed|is lost|was lost)|Destroyed|DeviceLost/i;

/** Only `FaceDetector.create` may construct a `FaceDetector`. */
const CREATE = Symbol("FaceDetector.create");

/** A blank 64x48 RGBA image: `warmup()` detects in it to compile the network's kernels. */
function blankImage() {
  return { data: new Uint8Array(64 * 48 * 4), width: 64, height: 48 };
}

/** Software WebGPU adapters that do not say they are fallback adapters, by name. */
const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|softpipe|basic render/i;

/**
 * The backend to start for `asked`, and why. `auto` takes WebGPU only on a hardware adapter:
 * on a software one (SwiftShader, llvmpipe) the network runs many times slower than on the
 * CPU path.
 */
async function chooseBackend(asked) {
  if (asked !== undefined && asked !== "auto" && asked !== "webgpu") {
    return { backend: asked, reason: `asked for ${asked}` };
  }
  // Asked for WebGPU, a browser without it is said so here, in its terms (the module's own
  // error names wgpu's adapter selectors).
  const missing = (why) => {
    if (asked === "webgpu") throw new Error(`WebGPU is not available: ${why}`);
    return { backend: "cpu", reason: why };
  };
  const gpu = globalThis.navigator?.gpu;
  if (!gpu) return missing("this browser offers no WebGPU");
  const adapter = await gpu.requestAdapter().catch(() => null);
  if (!adapter) return missing("the browser gave no WebGPU adapter (it found no GPU to use)");
  if (asked === "webgpu") return { backend: "webgpu", reason: "asked for webgpu" };
  const info = adapter.info ?? {};
  const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(" ") || "unnamed";
  if (info.isFallbackAdapter || adapter.isFallbackAdapter || SOFTWARE_ADAPTER.test(name)) {
    return { backend: "cpu", reason: `the only WebGPU adapter is a software one (${name}), slower than the CPU` };
  }
  return { backend: "webgpu", reason: `a hardware WebGPU adapter (${name})` };
}

/**
 * `options` of `create`: `undefined` (the defaults) or an object, else a `TypeError`. An option
 * set to `null` or `undefined` takes its default, as in the module.
 */
function optionsObject(options, className) {
  if (options === undefined) return {};
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    const got = options === null ? "null" : Array.isArray(options) ? "an array" : typeof options;
    throw new TypeError(`${className}.create(options): options must be an object, got ${got}`);
  }
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== null && value !== undefined));
}

/** `value` as a score threshold: a number from 0 to 1, or an error (both classes' setters). */
function checkedScoreThreshold(value) {
  if (typeof value !== "number" || !(value >= 0 && value <= 1)) {
    throw new Error("scoreThreshold must be between 0 and 1");
  }
  return value;
}

/** Refuses an `ImageBitmap` that holds no image any more: closed, or transferred already. */
function checkBitmap(source) {
  if (typeof ImageBitmap !== "undefined" && source instanceof ImageBitmap
      && source.width === 0 && source.height === 0) {
    throw new TypeError("detect() got an ImageBitmap that is closed or was transferred already");
  }
}

/**
 * Refuses a video without a frame, an image not loaded and an empty canvas, with the module's
 * own messages: a `WorkerFaceDetector` turns sources into bitmaps on this thread, where
 * `createImageBitmap` would only say that the source is "invalid".
 */
function checkHasPixels(source) {
  if (typeof HTMLVideoElement !== "undefined" && source instanceof HTMLVideoElement && source.videoWidth === 0) {
    throw new Error("the video has no frame yet (wait for loadeddata)");
  }
  if (typeof HTMLImageElement !== "undefined" && source instanceof HTMLImageElement
      && (!source.complete || source.naturalWidth === 0)) {
    throw new Error("the image has not loaded");
  }
  const canvases = [globalThis.HTMLCanvasElement, globalThis.OffscreenCanvas].filter(Boolean);
  if (canvases.some((type) => source instanceof type) && (source.width === 0 || source.height === 0)) {
    throw new Error(`the source is empty (${source.width}x${source.height})`);
  }
}

/** A promise that settles with `promise` and is removed from `set` when it does. */
function tracked(set, promise) {
  set.add(promise);
  const forget = () => set.delete(promise);
  promise.then(forget, forget);
  return promise;
}

/** The reject functions of the calls in flight. */
const inFlight = new Set();
/** Why the instance stopped, once it has. */
let failure = null;

/** The two builds: their bindings and their modules' addresses. */
const BUILDS = {
  cpu: { bindings: cpuBindings, url: () => new URL("./ssdface_cpu_bg.wasm", import.meta.url) },
  webgpu: { bindings: webgpuBindings, url: () => new URL("./ssdface_bg.wasm", import.meta.url) },
};
/** Each build's bindings, once its module is instantiated. */
const loaded = {};

/** `response` whose body reports its bytes to `onProgress(loaded, total)` as they arrive. */
function counted(response, onProgress) {
  const total = Number(response.headers.get("content-length")) || null;
  let received = 0;
  const body = response.body.pipeThrough(new TransformStream({
    transform(chunk, controller) {
      received += chunk.byteLength;
      onProgress(received, total);
      controller.enqueue(chunk);
    },
  }));
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}

/**
 * The bindings of build `kind` ("cpu" or "webgpu"), its module loaded from `source` (default:
 * next to this file) once; later calls share the first call's promise.
 */
function loadBuild(kind, source, onProgress) {
  loaded[kind] ??= (async () => {
    const build = BUILDS[kind];
    const { bindings } = build;
    let module = source ?? build.url();
    if (onProgress && (typeof module === "string" || module instanceof URL)) {
      const response = await fetch(module);
      module = response.ok ? counted(response, onProgress) : response;
    }
    const exports = await bindings.default({ module_or_path: module });
    bindings.onPanic(stop);
    return { bindings, exports };
  })();
  // A failed load (the network, say) may be tried again.
  loaded[kind].catch(() => { delete loaded[kind]; });
  return loaded[kind];
}

/** The build that runs `backend`: the CPU-only one unless WebGPU is asked for. */
function buildFor(backend) {
  return backend === "webgpu" ? "webgpu" : "cpu";
}

/** An error saying that the module stopped (`worker.js` restarts on these). */
function stoppedError(message) {
  const error = new Error(message);
  error.name = "ModuleStoppedError";
  return error;
}

function stop(reason) {
  failure ??= reason;
  const error = stoppedError(`ssdface stopped: ${failure}`);
  for (const reject of inFlight) reject(error);
  inFlight.clear();
}

function stopped() {
  return stoppedError(`ssdface stopped after an earlier failure (${failure}); reload the page ` +
    "to start it again");
}

// A trap in the asynchronous part of a call surfaces as an uncaught error of the event loop;
// the calls it concerns are rejected instead.
globalThis.addEventListener?.("error", (event) => {
  if (!(event.error instanceof WebAssembly.RuntimeError)) return;
  // Another module's trap: its stack names other wasm files (bundlers keep the "ssdface_bg"
  // and "ssdface_cpu_bg" prefixes when they add a hash).
  const stack = String(event.error.stack ?? "");
  if (stack.includes(".wasm") && !/ssdface(_cpu)?_bg/.test(stack)) return;
  if (failure === null && inFlight.size === 0) return;
  event.preventDefault();
  stop(event.error.message);
});

/**
 * Run `call` (which returns a promise from the WebAssembly module), rejecting with an `Error`
 * if the instance traps before it settles.
 */
function guarded(call) {
  if (failure !== null) return Promise.reject(stopped());
  return new Promise((resolve, reject) => {
    inFlight.add(reject);
    const settle = (then) => (value) => {
      inFlight.delete(reject);
      then(value);
    };
    try {
      call().then(settle(resolve), settle(reject));
    } catch (error) {
      if (error instanceof WebAssembly.RuntimeError) stop(error.message);
      settle(reject)(error);
    }
  });
}

/** A face detector running in this thread. */
/** The calls a subclass of `Detector` answers: whether it can still be used (throwing when
 * not), and taking a new score threshold (already checked). Symbols keep them off the public
 * API. */
const CHECK_LIVE = Symbol("checkLive");
const APPLY_THRESHOLD = Symbol("applyThreshold");
/** The score threshold as it is, for the subclasses' own use: read without the check that a
 * disposed detector fails, set without being applied (the worker's own, once created). */
const THRESHOLD = Symbol("threshold");

/** What `FaceDetector` and `WorkerFaceDetector` do alike; each answers `detect`, `dispose` and
 * the two calls above in its own way. */
class Detector {
  #scoreThreshold;

  constructor(scoreThreshold) {
    this.#scoreThreshold = scoreThreshold;
  }

  get [THRESHOLD]() {
    return this.#scoreThreshold;
  }

  set [THRESHOLD](value) {
    this.#scoreThreshold = value;
  }

  get scoreThreshold() {
    this[CHECK_LIVE]();
    return this.#scoreThreshold;
  }

  /** Checked at once, applied from the next `detect` on. */
  set scoreThreshold(value) {
    this[CHECK_LIVE]();
    this.#scoreThreshold = checkedScoreThreshold(value);
    this[APPLY_THRESHOLD](this.#scoreThreshold);
  }

  /** One detection in a blank image, so that the first real frame is not the slow one. */
  async warmup() {
    await this.detect(blankImage());
  }

  detectVideo(video, onFaces, options) {
    this[CHECK_LIVE]();
    return watchVideo((image) => this.detect(image), video, onFaces, options);
  }
}

export class FaceDetector extends Detector {
  #inner;
  #backendReason;
  #thresholdChanged = false;
  /** This detector's calls in flight: `dispose()` frees the network after them. */
  #calls = new Set();
  #disposed = null;
  #exports;
  /** Starts a network like this one on another backend (the CPU, after a lost GPU device). */
  #start;
  /** The move to the CPU under way, shared by the calls that found the device lost. */
  #moving = null;

  /** Use `FaceDetector.create()`. */
  constructor(token, [inner, exports], backendReason, start) {
    if (token !== CREATE) {
      throw new TypeError("use `await FaceDetector.create(options)` to make a FaceDetector");
    }
    super(inner.scoreThreshold);
    this.#inner = inner;
    this.#exports = exports;
    this.#backendReason = backendReason;
    this.#start = start;
  }

  static async create(options) {
    const { wasm = {}, onProgress, ...rest } = optionsObject(options, "FaceDetector");
    if (typeof wasm !== "object" || wasm === null || ArrayBuffer.isView(wasm) || wasm instanceof URL) {
      throw new TypeError("option wasm must be { cpu, webgpu }: where to load each module from");
    }
    const start = async (backend, overrides = {}) => {
      const kind = buildFor(backend);
      const { bindings, exports } = await loadBuild(kind, wasm[kind], onProgress);
      const inner = await guarded(() => bindings.FaceDetector.create({ ...rest, ...overrides, backend }));
      return [inner, exports];
    };
    const chosen = await chooseBackend(rest.backend);
    try {
      return new FaceDetector(CREATE, await start(chosen.backend), chosen.reason, start);
    } catch (error) {
      // `auto` moves to the CPU when a hardware adapter's device fails to start; every other
      // error (bad options, weights) is the caller's to see.
      const auto = rest.backend === undefined || rest.backend === "auto";
      if (!auto || !/^WebGPU is not available/.test(error?.message)) throw error;
      return new FaceDetector(CREATE, await start("cpu"), `${error.message}: running on the CPU`, start);
    }
  }

  /** Bytes of WebAssembly memory of this detector's module: for the memory soak. */
  __wasmMemoryBytes() {
    return this.#exports.memory.buffer.byteLength;
  }

  get backend() {
    return this.#live().backend;
  }

  /** Why `backend` is what it is: asked for, or what `auto` found. */
  get backendReason() {
    return this.#backendReason;
  }

  /** A new threshold waits for the next `detect` (one may be in flight now). */
  [APPLY_THRESHOLD]() {
    this.#thresholdChanged = true;
  }

  [CHECK_LIVE]() {
    this.#live();
  }

  /**
   * Faces in `source`. When the GPU device is lost (a driver reset, another tab's crash), the
   * detector moves to the CPU, says so in `backendReason`, and the call is answered there.
   */
  detect(source) {
    const once = () => guarded(() => {
      const inner = this.#live();
      checkBitmap(source);
      if (this.#thresholdChanged) {
        inner.scoreThreshold = this[THRESHOLD];
        this.#thresholdChanged = false;
      }
      return inner.detect(source);
    });
    return tracked(this.#calls, once().catch(async (error) => {
      if (this.#inner?.backend !== "webgpu" || !DEVICE_LOST.test(error?.message)) throw error;
      this.#moving ??= this.#moveToCpu(error).finally(() => { this.#moving = null; });
      await this.#moving;
      return once();
    }));
  }

  /** A CPU network in place of the one whose GPU device was lost. */
  async #moveToCpu(error) {
    const [inner, exports] = await this.#start("cpu", { scoreThreshold: this[THRESHOLD] });
    if (this.#disposed) {
      inner.dispose();
      throw new Error("this FaceDetector was disposed");
    }
    try {
      this.#inner?.dispose();
    } catch {
      // The lost device's buffers are gone with it.
    }
    this.#inner = inner;
    this.#exports = exports;
    this.#thresholdChanged = false;
    this.#backendReason = `the GPU device was lost (${error.message.split("\n")[0]}): moved to the CPU`;
  }

  dispose() {
    if (this.#disposed) return this.#disposed;
    const inner = this.#inner;
    this.#inner = null;
    // The network is freed once the calls in flight have settled (at once when there are none):
    // freeing it under a running call would fail that call.
    const free = () => {
      // An instance that stopped has nothing left to free.
      if (failure === null) inner?.dispose();
    };
    if (this.#calls.size === 0) {
      free();
      this.#disposed = Promise.resolve();
    } else {
      this.#disposed = Promise.allSettled([...this.#calls]).then(free);
    }
    return this.#disposed;
  }

  #live() {
    if (!this.#inner) throw new Error("this FaceDetector was disposed");
    if (failure !== null) throw stopped();
    return this.#inner;
  }
}

/** Panics inside the CPU module, now or after an `await`: for tests of the handling above. */
export async function __panicForTesting(afterAwait) {
  const { bindings } = await loadBuild("cpu");
  return guarded(() => bindings.panicForTesting(afterAwait));
}

/**
 * A face detector running in a module Web Worker (`worker.js`), keeping this thread free. If
 * the module in the worker stops (a panic), the worker it started is replaced by a fresh one.
 */
export class WorkerFaceDetector extends Detector {
  #worker;
  #startWorker;
  #options;
  #pending = new Map();
  #next = 0;
  #ready = null;
  #backend;
  #backendReason;
  /** This detector's `detect` calls in flight: `dispose()` stops the worker after them. */
  #calls = new Set();
  #disposed = null;
  #terminated = false;

  /** Use `WorkerFaceDetector.create()`. */
  constructor(startWorker, options) {
    // The worker's detector says its threshold once created (below).
    super(undefined);
    this.#startWorker = startWorker;
    this.#options = options;
  }

  static async create(options) {
    const { worker, onProgress, ...rest } = optionsObject(options, "WorkerFaceDetector");
    // A worker passed in cannot be started again: its failures are final.
    let given = worker;
    const startWorker = () => {
      const next = given ?? new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
      given = undefined;
      return next;
    };
    const detector = new WorkerFaceDetector(worker ? null : startWorker, rest);
    detector.#attach(startWorker());
    const created = detector.#call(
      { type: "create", options: rest, progress: Boolean(onProgress) }, [], onProgress);
    // A detector that failed to start leaves no worker behind (one passed in is the caller's).
    const { backend, backendReason, scoreThreshold } = await created.catch((error) => {
      if (!worker) detector.#worker.terminate();
      throw error;
    });
    detector.#backend = backend;
    detector.#backendReason = backendReason;
    detector[THRESHOLD] = scoreThreshold;
    return detector;
  }

  get backend() {
    return this.#backend;
  }

  get backendReason() {
    return this.#backendReason;
  }

  /** Sent at once: messages to the worker stay in order, so the next `detect` uses it. */
  [APPLY_THRESHOLD](value) {
    this.#send({ type: "threshold", value }).catch(() => {});
  }

  [CHECK_LIVE]() {
    if (this.#disposed) throw new Error("this WorkerFaceDetector was disposed");
  }

  /** Sources are turned into an `ImageBitmap` here and transferred; one passed in is consumed. */
  detect(source) {
    if (this.#disposed) return Promise.reject(new Error("this WorkerFaceDetector was disposed"));
    return tracked(this.#calls, this.#detect(source));
  }

  async #detect(source) {
    const { faces, backend, backendReason } = await this.#post(source);
    // The worker's detector may have moved to the CPU after a lost GPU device.
    this.#backend = backend;
    this.#backendReason = backendReason;
    return faces;
  }

  async #post(source) {
    if (source && typeof source === "object" && "data" in source && !(source instanceof ImageData)) {
      const data = new Uint8Array(source.data);
      return this.#send({ type: "detect", image: { data, width: source.width, height: source.height } },
        [data.buffer]);
    }
    checkBitmap(source);
    checkHasPixels(source);
    const image = source instanceof ImageBitmap ? source : await createImageBitmap(source).catch((error) => {
      throw new TypeError("detect() takes ImageData, a canvas, a video, an image, an ImageBitmap or " +
        `{ data, width, height } with RGBA bytes (${error.message})`);
    });
    return this.#send({ type: "detect", image }, [image]);
  }

  /** Stops the worker once the calls in flight have settled; later calls reject. */
  dispose() {
    if (this.#disposed) return this.#disposed;
    const inFlight = [...this.#calls, ...[...this.#pending.values()].map((p) => p.settled)];
    this.#disposed = Promise.allSettled(inFlight).then(() => {
      this.#terminated = true;
      this.#worker.terminate();
    });
    return this.#disposed;
  }

  /** Panics inside the worker's module: for tests of the restart. */
  __panicForTesting(afterAwait) {
    return this.#send({ type: "panicForTesting", afterAwait });
  }

  #attach(worker) {
    this.#worker = worker;
    worker.addEventListener("message", ({ data }) => {
      const pending = this.#pending.get(data.id);
      if (!pending) return;
      if ("progress" in data) {
        pending.onProgress?.(...data.progress);
        return;
      }
      this.#pending.delete(data.id);
      if (!("error" in data)) {
        pending.resolve(data.result);
        return;
      }
      pending.reject(new Error(data.error));
      if (data.stopped && worker === this.#worker) this.#restart();
    });
    worker.addEventListener("error", (event) => {
      const error = new Error(`the detector's worker failed: ${event.message ?? "unknown error"}`);
      for (const pending of this.#pending.values()) pending.reject(error);
      this.#pending.clear();
    });
  }

  /** A fresh worker with the same options, in place of one whose module stopped. */
  #restart() {
    if (!this.#startWorker) return;
    this.#worker.terminate();
    const error = new Error("ssdface's worker was restarted after a failure");
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
    this.#attach(this.#startWorker());
    const options = { ...this.#options, scoreThreshold: this[THRESHOLD] };
    this.#ready = this.#call({ type: "create", options });
  }

  /** `#call` once a restarted worker has its detector (messages are handled concurrently). */
  async #send(message, transfer = []) {
    if (this.#terminated) {
      for (const item of transfer) item.close?.();
      throw new Error("this WorkerFaceDetector was disposed");
    }
    await this.#ready;
    return this.#call(message, transfer);
  }

  #call(message, transfer = [], onProgress = undefined) {
    const id = this.#next++;
    let entry;
    const promise = new Promise((resolve, reject) => {
      entry = { resolve, reject, onProgress };
    });
    entry.settled = promise.then(() => {}, () => {});
    this.#pending.set(id, entry);
    try {
      this.#worker.postMessage({ id, ...message }, transfer);
    } catch (error) {
      // Not sent (an image that cannot be transferred): nothing will answer, so nothing waits.
      this.#pending.delete(id);
      entry.reject(new TypeError(`cannot send the ${message.type} request to the worker: ${error.message}`));
    }
    return promise;
  }
}
