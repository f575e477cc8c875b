// The module Web Worker behind `WorkerFaceDetector`: one detector, driven by messages
// `{ id, type, ... }`; every message is answered with `{ id, result }` or `{ id, error }`, with
// `stopped: true` when the module in this worker stopped and the worker should be replaced.
// While a `create` with `progress: true` loads its module, `{ id, progress: [loaded, total] }`
// messages report the download.
import { FaceDetector, __panicForTesting } from "./index.js";

let detector = null;

async function handle(message) {
  switch (message.type) {
    case "create": {
      detector?.dispose();
      const onProgress = message.progress
        ? (loaded, total) => self.postMessage({ id: message.id, progress: [loaded, total] })
        : undefined;
      detector = await FaceDetector.create({ ...message.options, onProgress });
      return {
        backend: detector.backend,
        backendReason: detector.backendReason,
        scoreThreshold: detector.scoreThreshold,
      };
    }
    case "threshold":
      detector.scoreThreshold = message.value;
      return null;
    case "detect":
      try {
        const faces = await detector.detect(message.image);
        return { faces, backend: detector.backend, backendReason: detector.backendReason };
      } finally {
        message.image.close?.();
      }
    case "panicForTesting":
      return __panicForTesting(message.afterAwait);
    default:
      throw new Error(`unknown message type ${message.type}`);
  }
}

self.addEventListener("message", async ({ data }) => {
  try {
    self.postMessage({ id: data.id, result: await handle(data) });
  } catch (error) {
    self.postMessage({
      id: data.id,
      error: error?.message ?? String(error),
      stopped: error?.name === "ModuleStoppedError",
    });
  }
});
