/** Where the network runs. */
export type Backend = "webgpu" | "cpu";

/** A detected face, in the source image's pixels. */
export interface Face {
  /** Left edge. */
  x: number;
  /** Top edge. */
  y: number;
  width: number;
  height: number;
  /** Confidence, 0 to 1. */
  score: number;
}

/** RGBA bytes, 4 per pixel, row by row. */
export interface RgbaImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
}

/** Anything `detect` accepts. */
export type ImageSource =
  | ImageData
  | ImageBitmap
  | HTMLCanvasElement
  | OffscreenCanvas
  | HTMLVideoElement
  | HTMLImageElement
  | RgbaImage;

/** Options of `FaceDetector.create`; every one has a default. */
export interface DetectorOptions {
  /** `"auto"` (default): WebGPU when the browser gives an adapter, else the CPU. */
  backend?: Backend | "auto";
  /** Faces scoring below this are dropped. Default 0.5. */
  scoreThreshold?: number;
  /** A box overlapping a better one by more than this IoU is dropped. Default 0.3. */
  iouThreshold?: number;
  /** Candidates kept on the device, read back and suppressed per image. Default 100. */
  topK?: number;
  /** At most this many faces per image. Default 100. */
  maxFaces?: number;
  /**
   * Network input size, sides multiples of 8: larger finds smaller faces, slower.
   * Default: the model's own (320 x 240).
   */
  inputSize?: [width: number, height: number];
  /** An ssdface weights file. Default: the model bundled in the package. */
  weights?: Uint8Array;
  /**
   * Where to load the WebAssembly from, for bundlers that do not handle
   * `new URL("ssdface_bg.wasm", import.meta.url)`. Only the first `create` uses it.
   */
  wasm?: string | URL | Response | BufferSource | WebAssembly.Module;
}

/** A face detector running in this thread. */
export declare class FaceDetector {
  private constructor(inner: never);
  /** Load the module (first call only) and the weights; pick the backend. */
  static create(options?: DetectorOptions): Promise<FaceDetector>;
  /** Where the network runs. */
  readonly backend: Backend;
  /** The score threshold faces must reach; may be changed between calls. */
  scoreThreshold: number;
  /** Faces in `source`, in its pixels, best first. */
  detect(source: ImageSource): Promise<Face[]>;
  /**
   * Release the network; unusable after. On WebGPU its buffers go back to the page's GPU
   * memory pool and serve later detectors: create one detector and keep it.
   */
  dispose(): void;
}

/** Options of `WorkerFaceDetector.create`. */
export interface WorkerDetectorOptions extends Omit<DetectorOptions, "wasm"> {
  /** A worker running `ssdface/worker.js`; default: one started from the package. */
  worker?: Worker;
}

/** A face detector running in a module Web Worker, keeping the calling thread free. */
export declare class WorkerFaceDetector {
  private constructor(worker: never);
  static create(options?: WorkerDetectorOptions): Promise<WorkerFaceDetector>;
  readonly backend: Backend;
  /** Takes effect from the next `detect` on. */
  scoreThreshold: number;
  /** Faces in `source`; an `ImageBitmap` passed in is transferred to the worker and consumed. */
  detect(source: ImageSource): Promise<Face[]>;
  /** Stop the worker and free its memory. */
  dispose(): void;
}
