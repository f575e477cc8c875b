// A bundled app using the package as its README shows: on the main thread and in a worker.
import { FaceDetector, WorkerFaceDetector } from "ssdface";

async function run() {
  const weights = new Uint8Array(await (await fetch("/model.ssdface")).arrayBuffer());
  const photo = document.getElementById("photo");
  await photo.decode();

  const detector = await FaceDetector.create({ weights });
  const faces = await detector.detect(photo);

  const worker = await WorkerFaceDetector.create({ weights });
  const workerFaces = await worker.detect(await createImageBitmap(photo));
  worker.dispose();

  return { backend: detector.backend, faces, workerBackend: worker.backend, workerFaces };
}

run().then(
  (result) => { window.result = result; },
  (error) => { window.result = { error: String(error?.stack ?? error) }; },
);
