// @vladmandic/face-api: SSD MobileNetV1 (512x512 input, default) or TinyFaceDetector (input 416,
// its default). Its bundle carries tfjs with the webgl, wasm and cpu backends (no webgpu).
import * as faceapi from "/node_modules/@vladmandic/face-api/dist/face-api.esm.js";
import { WASM_PATH } from "./wasm.js";

const { tf } = faceapi;
const MODELS = "/node_modules/@vladmandic/face-api/model/";

export async function create(name, { backend, threshold }) {
  if (backend === "wasm") tf.setWasmPaths(WASM_PATH);
  if (!(await tf.setBackend(backend))) throw new Error("tfjs could not start it");
  await tf.ready();
  const tiny = name === "faceapi-tiny";
  const net = tiny ? faceapi.nets.tinyFaceDetector : faceapi.nets.ssdMobilenetv1;
  await net.loadFromUri(MODELS);
  const options = tiny
    ? new faceapi.TinyFaceDetectorOptions({ inputSize: 416, scoreThreshold: threshold })
    : new faceapi.SsdMobilenetv1Options({ minConfidence: threshold, maxResults: 100 });
  async function detect(image) {
    // A tensor input skips face-api's own canvas copy; boxes come back in its pixels.
    const pixels = tf.browser.fromPixels(image);
    try {
      const found = await faceapi.detectAllFaces(pixels, options);
      return found.map(({ box, score }) => ({ x: box.x, y: box.y, width: box.width, height: box.height, score }));
    } finally {
      pixels.dispose();
    }
  }
  return { tf, detect };
}
