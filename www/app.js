// The live page: camera frames or a chosen photo go through the wasm detector; boxes are
// drawn on a canvas over the frame they were found in. The package's video loop keeps one
// frame in flight, so slow devices skip frames instead of piling work up.
import init from "./pkg/ssdface.js";
import { FaceDetector, drawFaces } from "./pkg/index.js";

const $ = (id) => document.getElementById(id);
const view = $("view");
const context = view.getContext("2d");
const video = $("video");
const threshold = $("threshold");

let detector = null;
let streaming = false;
let videoLoop = null;
let lastPhoto = null;
const frameTimes = [];

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function setStatus(message) {
  $("status").textContent = message;
}

/// The bundled model, on `backend`.
function createDetector(backend, inputSize) {
  return FaceDetector.create({ backend, inputSize, scoreThreshold: Number(threshold.value) });
}

/// `?inputSize=WxH` picks the network's input size; absent, the model's own.
function inputSizeFrom(query) {
  const text = query.get("inputSize");
  if (text === null) return undefined;
  const size = /^(\d+)x(\d+)$/.exec(text);
  if (!size) throw new Error(`inputSize must look like 320x240, not "${text}"`);
  return [Number(size[1]), Number(size[2])];
}

let frames = 0;
function recordFrame(ms) {
  frames += 1;
  if (window.ssdface) window.ssdface.frames = frames;
  const now = performance.now();
  frameTimes.push(now);
  while (frameTimes.length && now - frameTimes[0] > 1000) frameTimes.shift();
  $("fps").textContent = `${frameTimes.length} fps`;
  $("ms").textContent = `${ms.toFixed(1)} ms/frame`;
}

/// `image` with its `faces` on the canvas.
function drawFrame(image, faces, mirrored) {
  context.save();
  if (mirrored) {
    context.translate(view.width, 0);
    context.scale(-1, 1);
  }
  context.drawImage(image, 0, 0, view.width, view.height);
  context.restore();
  drawFaces(context, faces, { mirrored });
  $("count").textContent = `${faces.length} faces`;
  // Exposed for automated tests and curious users.
  window.lastFaces = faces;
}

async function detectAndDraw(source, mirrored) {
  const started = performance.now();
  const faces = await detector.detect(source);
  recordFrame(performance.now() - started);
  drawFrame(source, faces, mirrored);
  return faces;
}

function startVideoLoop() {
  // The user sees a mirror image of themselves; boxes are mirrored with it.
  videoLoop = detector.detectVideo(video, (faces, frame) => {
    recordFrame(frame.ms);
    drawFrame(frame.image, faces, true);
  }, { onError: (error) => showError(error.message) });
}

async function startCamera() {
  showError("");
  if (!navigator.mediaDevices?.getUserMedia) {
    showError("This browser gives no camera access here (it needs https or localhost). Photos still work.");
    return;
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
    video.srcObject = stream;
    await video.play();
    view.width = video.videoWidth;
    view.height = video.videoHeight;
    streaming = true;
    $("camera").textContent = "Stop camera";
    setStatus("Camera running.");
    startVideoLoop();
  } catch (error) {
    const reason = error.name === "NotAllowedError" ? "Camera permission was denied."
      : error.name === "NotFoundError" ? "No camera was found."
      : `The camera could not start (${error.message}).`;
    showError(`${reason} You can still choose or drop a photo.`);
  }
}

function stopCamera() {
  streaming = false;
  videoLoop?.stop();
  videoLoop = null;
  for (const track of video.srcObject?.getTracks() ?? []) track.stop();
  video.srcObject = null;
  $("camera").textContent = "Start camera";
  setStatus("Camera stopped.");
}

async function showPhoto(file) {
  showError("");
  if (streaming) stopCamera();
  try {
    const bitmap = await createImageBitmap(file);
    view.width = bitmap.width;
    view.height = bitmap.height;
    lastPhoto = bitmap;
    const faces = await detectAndDraw(bitmap, false);
    setStatus(`${file.name}: ${faces.length} faces.`);
  } catch (error) {
    showError(`Cannot read this photo: ${error.message}`);
  }
}

threshold.addEventListener("input", async () => {
  $("threshold-value").textContent = Number(threshold.value).toFixed(2);
  if (!detector) return;
  detector.scoreThreshold = Number(threshold.value);
  if (!streaming && lastPhoto) await detectAndDraw(lastPhoto, false);
});
$("camera").addEventListener("click", () => (streaming ? stopCamera() : startCamera()));
$("photo").addEventListener("change", (event) => event.target.files[0] && showPhoto(event.target.files[0]));
const stage = $("stage");
stage.addEventListener("dragover", (event) => { event.preventDefault(); stage.classList.add("dragging"); });
stage.addEventListener("dragleave", () => stage.classList.remove("dragging"));
stage.addEventListener("drop", (event) => {
  event.preventDefault();
  stage.classList.remove("dragging");
  const file = event.dataTransfer.files[0];
  if (file) showPhoto(file);
});

async function main() {
  const query = new URLSearchParams(location.search);
  const wanted = query.get("backend") ?? "auto";
  try {
    detector = await createDetector(wanted, inputSizeFrom(query));
  } catch (error) {
    setStatus("The detector could not start.");
    showError(error.message);
    return;
  }
  const name = detector.backend === "webgpu" ? "WebGPU" : "CPU (WebAssembly)";
  $("backend").textContent = `backend: ${name}`;
  $("backend").title = detector.backendReason;
  setStatus(`Ready on ${name} (${detector.backendReason}): start the camera or choose a photo.`);
  $("camera").disabled = false;
  const wasm = await init(); // the instance that FaceDetector.create loaded
  // Exposed for automated tests, benchmarks and curious users.
  window.ssdface = { detector, detectAndDraw, frames, wasmMemory: () => wasm.memory.buffer.byteLength };
}

main();
