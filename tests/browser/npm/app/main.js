// A bundled app using the package as its README shows: the bundled model on the main thread
// and in a worker, and a weights file of the site's own.
import { FaceDetector, WorkerFaceDetector, drawFaces } from "ssdface";

async function loaded(id) {
  const image = document.getElementById(id);
  await image.decode();
  return image;
}

/** A playing video of `image`, from a canvas stream repainted 30 times a second. */
async function videoOf(image) {
  const source = document.createElement("canvas");
  source.width = image.naturalWidth;
  source.height = image.naturalHeight;
  const paint = () => source.getContext("2d").drawImage(image, 0, 0);
  paint();
  const repaint = setInterval(paint, 33);
  const video = document.createElement("video");
  video.muted = true;
  video.srcObject = source.captureStream(30);
  await video.play();
  return { video, stop: () => clearInterval(repaint) };
}

/** The README's video example as it stands, with one line added to report the first frame. */
async function readmeVideo(video, canvas, report) {
  const detector = await FaceDetector.create();
  await detector.warmup(); // the first detection compiles the network; do it before the video starts
  const ctx = canvas.getContext("2d");
  const loop = detector.detectVideo(video, (faces, frame) => {
    canvas.width = frame.width;
    canvas.height = frame.height;
    ctx.drawImage(frame.image, 0, 0); // the very frame the faces were found in
    drawFaces(ctx, faces, { color: "#0f0", showScores: true });
    report(loop, faces, ctx);
  });
  // later: loop.stop();
}

/** The README's first example as it stands, on a video. */
async function readmeUse(video) {
  const detector = await FaceDetector.create();
  const faces = await detector.detect(video); // [{ x, y, width, height, score }, ...]
  return faces;
}

/** The README's worker example as it stands, on a video. */
async function readmeWorker(video) {
  const detector = await WorkerFaceDetector.create(); // starts ssdface/worker.js
  const faces = await detector.detect(await createImageBitmap(video)); // the bitmap is transferred
  detector.dispose(); // stops the worker
  return faces;
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

  const { video, stop } = await videoOf(photo);
  const readmeUseFaces = await readmeUse(video);
  const readmeWorkerFaces = await readmeWorker(video);
  const canvas = document.createElement("canvas");
  const video_ = await new Promise((resolve, reject) => {
    readmeVideo(video, canvas, (loop, faces, ctx) => {
      loop.stop();
      // The first face's left edge is drawn in the box colour: a pixel of the 2-pixel line,
      // which antialiasing blends with the photo where it crosses pixel boundaries, is green
      // among the three around the edge.
      const face = faces[0];
      const pixels = face
        ? ctx.getImageData(Math.round(face.x) - 1, Math.round(face.y + face.height / 2), 3, 1).data
        : [];
      let boxDrawn = false;
      for (let i = 0; i < pixels.length; i += 4) {
        const [r, g, b] = pixels.slice(i, i + 3);
        boxDrawn ||= r < 60 && g > 200 && b < 60;
      }
      resolve({ faces, size: [canvas.width, canvas.height], boxDrawn });
    }).catch(reject);
  });
  stop();

  return {
    backend: detector.backend,
    videoFaces: video_.faces,
    videoSize: video_.size,
    photoSize: [photo.naturalWidth, photo.naturalHeight],
    videoBoxDrawn: video_.boxDrawn,
    faces,
    workerBackend: worker.backend,
    workerFaces,
    workerPanic,
    workerFacesAfterPanic,
    customFaces,
    readmeUseFaces,
    readmeWorkerFaces,
  };
}

run().then(
  (result) => { window.result = result; },
  (error) => { window.result = { error: String(error?.stack ?? error) }; },
);
