// Must not compile: each line misuses the API (the test expects these error codes).
import { FaceDetector, drawFaces } from "ssdface";

export async function main(): Promise<void> {
  const detector = await FaceDetector.create({ backend: "tpu" }); // TS2322: not a Backend
  await detector.detect("photo.jpg"); // TS2345: a string is not an image source
  const faces = await detector.detect(new ImageData(1, 1));
  faces[0].confidence; // TS2339: Face has no `confidence`
  new FaceDetector(); // TS2673: the constructor is private
  drawFaces(new OffscreenCanvas(1, 1).getContext("2d")!, faces, { thickness: 3 }); // TS2353: no `thickness`
  detector.detectVideo(new Image(), () => {}); // TS2345: an image is not a video
}
