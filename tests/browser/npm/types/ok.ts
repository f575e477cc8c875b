// Compiles: the API used as documented.
import {
  FaceDetector, WorkerFaceDetector, drawFaces, type Backend, type DetectorOptions, type Face, type VideoHandle,
} from "ssdface";

const options: DetectorOptions = { backend: "auto", scoreThreshold: 0.6, maxFaces: 10, inputSize: [640, 480] };

export async function main(video: HTMLVideoElement, bitmap: ImageBitmap): Promise<number> {
  const detector = await FaceDetector.create(options);
  const backend: Backend = detector.backend;
  detector.scoreThreshold = 0.7;
  const faces: Face[] = await detector.detect(video);
  const raw = await detector.detect({ data: new Uint8ClampedArray(16), width: 2, height: 2 });
  const worker = await WorkerFaceDetector.create({ scoreThreshold: 0.5 });
  const more = await worker.detect(bitmap);
  await detector.warmup();
  const ctx = new OffscreenCanvas(640, 480).getContext("2d")!;
  const loop: VideoHandle = detector.detectVideo(video, (found, frame) => {
    ctx.drawImage(frame.image, 0, 0);
    drawFaces(ctx, found, { mirrored: true, color: "red", showScores: frame.ms < 100 });
  }, { maxSide: 480, onError: (error) => console.warn(error.message) });
  const workerLoop = worker.detectVideo(video, async (found) => { await Promise.resolve(found.length); });
  loop.stop();
  workerLoop.stop();
  await Promise.all([loop.done, workerLoop.done]);
  await worker.dispose();
  await detector.dispose();
  return faces.length + raw.length + more.length + (backend === "webgpu" ? 1 : 0);
}
