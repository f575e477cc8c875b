// The package's entry point: typed, promise-based wrappers over the WebAssembly detector.
// The module is fetched and compiled once, on the first `create`.
import init, { FaceDetector as WasmFaceDetector } from "./ssdface.js";

let initialised = null;

/** Load the WebAssembly module once; later calls share the first call's promise. */
function initOnce(wasm) {
  initialised ??= init(wasm === undefined ? undefined : { module_or_path: wasm });
  return initialised;
}

/** A face detector running in this thread. */
export class FaceDetector {
  #inner;

  /** Use `FaceDetector.create()`. */
  constructor(inner) {
    if (!(inner instanceof WasmFaceDetector)) {
      throw new TypeError("use `await FaceDetector.create(options)` to make a FaceDetector");
    }
    this.#inner = inner;
  }

  static async create(options = {}) {
    const { wasm, ...rest } = options;
    await initOnce(wasm);
    return new FaceDetector(await WasmFaceDetector.create(rest));
  }

  get backend() {
    return this.#live().backend;
  }

  get scoreThreshold() {
    return this.#live().scoreThreshold;
  }

  set scoreThreshold(value) {
    this.#live().scoreThreshold = value;
  }

  detect(source) {
    try {
      return this.#live().detect(source);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  dispose() {
    this.#inner?.dispose();
    this.#inner = null;
  }

  #live() {
    if (!this.#inner) throw new Error("this FaceDetector was disposed");
    return this.#inner;
  }
}

/** A face detector running in a module Web Worker (`worker.js`), keeping this thread free. */
export class WorkerFaceDetector {
  #worker;
  #pending = new Map();
  #next = 0;
  #backend;
  #scoreThreshold;

  constructor(worker) {
    this.#worker = worker;
    worker.addEventListener("message", ({ data }) => {
      const pending = this.#pending.get(data.id);
      if (!pending) return;
      this.#pending.delete(data.id);
      if ("error" in data) pending.reject(new Error(data.error));
      else pending.resolve(data.result);
    });
    worker.addEventListener("error", (event) => {
      const error = new Error(`the detector's worker failed: ${event.message ?? "unknown error"}`);
      for (const pending of this.#pending.values()) pending.reject(error);
      this.#pending.clear();
    });
  }

  static async create(options = {}) {
    const { worker, ...rest } = options;
    const detector = new WorkerFaceDetector(
      worker ?? new Worker(new URL("./worker.js", import.meta.url), { type: "module" }),
    );
    const { backend, scoreThreshold } = await detector.#call({ type: "create", options: rest });
    detector.#backend = backend;
    detector.#scoreThreshold = scoreThreshold;
    return detector;
  }

  get backend() {
    return this.#backend;
  }

  get scoreThreshold() {
    return this.#scoreThreshold;
  }

  /** Takes effect from the next `detect` on (messages to the worker stay in order). */
  set scoreThreshold(value) {
    this.#scoreThreshold = value;
    this.#call({ type: "threshold", value }).catch(() => {});
  }

  /** Sources are turned into an `ImageBitmap` here and transferred; one passed in is consumed. */
  async detect(source) {
    if (source && typeof source === "object" && "data" in source && !(source instanceof ImageData)) {
      const data = new Uint8Array(source.data);
      return this.#call({ type: "detect", image: { data, width: source.width, height: source.height } },
        [data.buffer]);
    }
    const image = source instanceof ImageBitmap ? source : await createImageBitmap(source);
    return this.#call({ type: "detect", image }, [image]);
  }

  dispose() {
    this.#call({ type: "dispose" }).catch(() => {});
    this.#worker.terminate();
  }

  #call(message, transfer = []) {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, ...message }, transfer);
    });
  }
}
