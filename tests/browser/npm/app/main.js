// A bundled app using the package: the bundled model on the main thread and in a worker, a
// worker's restart after a panic, and a weights file of the site's own. (The README's examples
// are pages of their own, written into readme/ by the package test.)
import { FaceDetector, WorkerFaceDetector } from "ssdface";

async function loaded(id) {
  const image = document.getElementById(id);
  await image.decode();
  return image;
}

async function run() {
  const photo = await loaded("photo");

  const detector = await FaceDetector.create();
  const faces = await detector.detect(photo);

  const worker = await WorkerFaceDetector.create();
  const workerFaces = await worker.detect(await createImageBitmap(photo));
  // A panic in the worker's module rejects the call; a fresh worker takes over.
  const workerPanic = await worker.__panicForTesting(true).then(() => "no error", (e) => e.message);
  const workerFacesAfterPanic = await worker.detect(await createImageBitmap(photo));
  worker.dispose();

  const weights = new Uint8Array(await (await fetch("/custom.ssdface")).arrayBuffer());
  const custom = await FaceDetector.create({ weights });
  const customFaces = await custom.detect(await loaded("custom-photo"));

  return {
    backend: detector.backend,
    faces,
    workerBackend: worker.backend,
    workerFaces,
    workerPanic,
    workerFacesAfterPanic,
    customFaces,
  };
}

run().then(
  (result) => { window.result = result; },
  (error) => { window.result = { error: String(error?.stack ?? error) }; },
);
