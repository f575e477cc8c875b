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
  /**
   * `"auto"` (default): WebGPU on a hardware adapter, else the CPU (a software adapter such as
   * SwiftShader is slower than the CPU path). `"webgpu"` takes any adapter.
   */
  backend?: Backend | "auto";
  /** Faces scoring below this are dropped. Default 0.5. */
  scoreThreshold?: number;
  /** A box overlapping a better one by more than this IoU is dropped (and merged into it, weighted by score). Default 0.3. */
  iouThreshold?: number;
  /** Candidates kept on the device, read back and suppressed per image. Default 100. */
  topK?: number;
  /** At most this many faces per image. Default 100. */
  maxFaces?: number;
  /**
   * Network input size, `[width, height]` or `"WIDTHxHEIGHT"` (as the command line's
   * `--input-size`), sides multiples of 8: larger finds smaller faces, slower.
   * Default: the model's own (320 x 240).
   */
  inputSize?: [width: number, height: number] | `${number}x${number}`;
  /** An ssdface weights file. Default: the model bundled in the package. */
  weights?: Uint8Array;
  /**
   * Where to load each WebAssembly module from, for bundlers that do not handle
   * `new URL("…", import.meta.url)`: `cpu` is `ssdface_cpu_bg.wasm` (the CPU backend),
   * `webgpu` is `ssdface_bg.wasm` (WebGPU). Only the first `create` that loads a module uses it.
   */
  wasm?: { cpu?: WasmSource; webgpu?: WasmSource };
  /** Called as the module downloads (first `create` per module only); `total` may be null. */
  onProgress?: (loaded: number, total: number | null) => void;
}

/** A WebAssembly module, or where to fetch one. */
export type WasmSource = string | URL | Response | BufferSource | WebAssembly.Module;

/** Options of `detectVideo`. */
export interface VideoOptions {
  /**
   * Frames longer than this on their longer side are scaled down before their pixels are read
   * (faces are still given in the video's pixels). Default 640.
   */
  maxSide?: number;
  /** Called with each failed frame's error, and the loop goes on. Default: the loop stops. */
  onError?: (error: Error) => void;
}

/** The frame a `detectVideo` result belongs to. */
export interface VideoFrameInfo {
  /** The frame itself, to draw the faces on; closed once the callback returns or settles. */
  image: ImageBitmap;
  /** The frame's media time, in seconds. */
  time: number;
  /** 1 for the first frame detected, 2 for the next, ... */
  number: number;
  /** The video's size, in whose pixels the faces are. */
  width: number;
  height: number;
  /** Milliseconds the detection took. */
  ms: number;
}

/** What `detectVideo` calls with each frame's faces; a promise it returns is awaited. */
export type OnFaces = (faces: Face[], frame: VideoFrameInfo) => void | Promise<void>;

/** A running `detectVideo` loop. */
export interface VideoHandle {
  /** Stop the loop: `onFaces` is not called again. */
  stop(): void;
  /** Resolves once `stop()` is called; rejects with an error that stopped the loop. */
  readonly done: Promise<void>;
}

/** Options of `drawFaces`. */
export interface DrawOptions {
  /** Flip the boxes left to right, for a canvas showing a mirrored camera image. Default false. */
  mirrored?: boolean;
  /** Any canvas colour. Default `"#0f0"`. */
  color?: string;
  /** Write each face's score above its box. Default true. */
  showScores?: boolean;
}

/** Draw `faces` (in the canvas's pixels) on a 2D canvas context: a box and a score per face. */
export declare function drawFaces(
  ctx: CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D,
  faces: readonly Face[],
  options?: DrawOptions,
): void;

/** What both detectors offer once created. */
export interface Detector {
  /** Where the network runs. */
  readonly backend: Backend;
  /** Why: asked for, or what `"auto"` found (e.g. only a software WebGPU adapter). */
  readonly backendReason: string;
  /** The score threshold faces must reach; may be changed between calls. */
  scoreThreshold: number;
  /**
   * Faces in `source`, in its pixels, best first. If the GPU device is lost, the detector moves
   * to the CPU (`backend` and `backendReason` say so) and answers there.
   */
  detect(source: ImageSource): Promise<Face[]>;
  /** One detection in a blank image, so that the first real frame is not the slow one. */
  warmup(): Promise<void>;
  /**
   * Detect faces in every new frame of `video`, one frame in flight at a time (frames that
   * arrive meanwhile are skipped), and call `onFaces` with each frame's faces and the frame.
   */
  detectVideo(video: HTMLVideoElement, onFaces: OnFaces, options?: VideoOptions): VideoHandle;
  /**
   * Release the network once the calls in flight have settled; later calls reject. On WebGPU
   * its buffers go back to the page's GPU memory pool and serve later detectors: create one
   * detector and keep it.
   */
  dispose(): Promise<void>;
}

/** A face detector running in this thread. */
export interface FaceDetector extends Detector {}
export declare class FaceDetector {
  private constructor(inner: never);
  /** Load the module (first call only) and the weights; pick the backend. */
  static create(options?: DetectorOptions): Promise<FaceDetector>;
}

/** Options of `WorkerFaceDetector.create`. */
export interface WorkerDetectorOptions extends Omit<DetectorOptions, "wasm"> {
  /** A worker running `ssdface/worker.js`; default: one started from the package. */
  worker?: Worker;
}

/**
 * A face detector running in a module Web Worker, keeping the calling thread free. `detect`
 * transfers an `ImageBitmap` passed in to the worker, which consumes it; `dispose` stops the
 * worker.
 */
export interface WorkerFaceDetector extends Detector {}
export declare class WorkerFaceDetector {
  private constructor(worker: never);
  static create(options?: WorkerDetectorOptions): Promise<WorkerFaceDetector>;
}
