// Compiles: the API used as documented.
import { FaceDetector, WorkerFaceDetector, type Backend, type DetectorOptions, type Face } from "ssdface";

const options: DetectorOptions = { backend: "auto", scoreThreshold: 0.6, maxFaces: 10, inputSize: [640, 480] };

export async function main(video: HTMLVideoElement, bitmap: ImageBitmap): Promise<number> {
  const detector = await FaceDetector.create(options);
  const backend: Backend = detector.backend;
  detector.scoreThreshold = 0.7;
  const faces: Face[] = await detector.detect(video);
  const raw = await detector.detect({ data: new Uint8ClampedArray(16), width: 2, height: 2 });
  const worker = await WorkerFaceDetector.create({ scoreThreshold: 0.5 });
  const more = await worker.detect(bitmap);
  worker.dispose();
  detector.dispose();
  return faces.length + raw.length + more.length + (backend === "webgpu" ? 1 : 0);
}
