// @vladmandic/human reduced to its face detector, BlazeFace (its default input size): mesh,
// iris, emotion, description, body, hand, object, gesture and segmentation off. Its bundle
// carries tfjs with the webgpu, webgl, wasm and cpu backends.
import { Human } from "/node_modules/@vladmandic/human/dist/human.esm.js";
import { WASM_PATH } from "./wasm.js";

const off = { enabled: false };

export async function create(_name, { backend, threshold }) {
  const human = new Human({
    backend,
    wasmPath: WASM_PATH,
    modelBasePath: "/node_modules/@vladmandic/human/models/",
    // Load from the server every time (sizes are measured from the network) and leave the first
    // call cold, like the other detectors.
    cacheModels: false,
    warmup: "none",
    // No reuse of the previous frame's result: every call runs the detector.
    cacheSensitivity: 0,
    // No image filters (auto brightness): only the detector's own preprocessing, as for the others.
    filter: off,
    gesture: off,
    body: off,
    hand: off,
    object: off,
    segmentation: off,
    face: {
      enabled: true,
      // scale 1: BlazeFace's own box, not enlarged 1.4x for the mesh model's crop.
      detector: { maxDetected: 100, minConfidence: threshold, skipFrames: 0, skipTime: 0, rotation: false, scale: 1, return: false },
      mesh: off,
      iris: off,
      attention: off,
      emotion: off,
      description: off,
      antispoof: off,
      liveness: off,
    },
  });
  // init() sets the backend up even when an earlier attempt on this page already did.
  await human.init();
  await human.load();
  const { tf } = human;
  async function detect(image) {
    // A tensor input, as for face-api, skips human's own canvas copies.
    const pixels = tf.browser.fromPixels(image);
    try {
      const result = await human.detect(pixels);
      if (result.error) throw new Error(result.error);
      return result.face.map(({ box: [x, y, width, height], score }) => ({ x, y, width, height, score }));
    } finally {
      pixels.dispose();
    }
  }
  return { tf, detect };
}
