// The live page: camera frames or a chosen photo go through the detector (in a worker unless
// `?worker=0`), and boxes are drawn on a canvas over the frame they were found in. The
// package's video loop keeps one frame in flight, so slow devices skip frames instead of
// piling work up.
//
// Settings live in the address (`?backend=auto|webgpu|cpu&inputSize=WxH&worker=0|1`): the
// selectors rewrite it and the page starts again with the new detector.
import { FaceDetector, WorkerFaceDetector, drawFaces } from "./pkg/index.js";

const $ = (id) => document.getElementById(id);
const view = $("view");
const context = view.getContext("2d");
const video = $("video");
const threshold = $("threshold");
const query = new URLSearchParams(location.search);
const inWorker = query.get("worker") !== "0";
const SAMPLE_PHOTO = "samples/group.jpg";

let detector = null;
let streaming = false;
let videoLoop = null;
/// The photo shown, `{ bitmap, name }`, redetected when the threshold moves.
let lastPhoto = null;
const frameTimes = [];

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function setStatus(message) {
  $("status").textContent = message;
}

/// The bundled model, on `backend`, in a worker or on this thread; the progress bar follows
/// the module's download.
function createDetector(backend, inputSize) {
  const onProgress = (loaded, total) => {
    if (total) $("loading").value = loaded / total;
    setStatus(`Loading the detector… ${(loaded / 1e6).toFixed(1)} MB`);
  };
  const options = { backend, inputSize, scoreThreshold: Number(threshold.value), onProgress };
  return inWorker ? WorkerFaceDetector.create(options) : FaceDetector.create(options);
}

let frames = 0;
/// One detection's time; frames per second only for video (a photo is one frame, not a rate).
function recordFrame(ms, video) {
  frames += 1;
  if (window.ssdface) window.ssdface.frames = frames;
  if (video) {
    const now = performance.now();
    frameTimes.push(now);
    while (frameTimes.length && now - frameTimes[0] > 1000) frameTimes.shift();
  } else {
    frameTimes.length = 0;
  }
  $("fps").textContent = video ? `${frameTimes.length} fps` : "";
  $("ms").textContent = `${ms.toFixed(1)} ms/${video ? "frame" : "photo"}`;
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

/// Faces in the still photo `name` (an `ImageBitmap`, kept for redrawing when the threshold
/// moves), with the page busy meanwhile (a first detection on a GPU can take seconds).
async function detectAndDraw(image, mirrored, name = "photo") {
  const started = performance.now();
  setStatus(`${name}: detecting…`);
  document.body.classList.add("busy");
  try {
    // A worker consumes the bitmaps it is given: it gets a copy.
    const faces = await detector.detect(inWorker ? await createImageBitmap(image) : image);
    recordFrame(performance.now() - started, false);
    drawFrame(image, faces, mirrored);
    setStatus(`${name}: ${faces.length} faces.`);
    return faces;
  } finally {
    document.body.classList.remove("busy");
  }
}

function startVideoLoop() {
  // The user sees a mirror image of themselves; boxes are mirrored with it.
  videoLoop = detector.detectVideo(video, (faces, frame) => {
    recordFrame(frame.ms, true);
    drawFrame(frame.image, faces, true);
  }, { onError: (error) => showError(error.message) });
}

/// The cameras the page may use, named once permission is given.
async function listCameras() {
  const choice = $("camera-choice");
  const cameras = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
  const current = video.srcObject?.getVideoTracks()[0]?.getSettings().deviceId;
  choice.replaceChildren(...cameras.map((camera, i) => {
    const option = new Option(camera.label || `camera ${i + 1}`, camera.deviceId);
    option.selected = camera.deviceId === current;
    return option;
  }));
  choice.disabled = cameras.length < 2;
}

async function startCamera() {
  showError("");
  if (!navigator.mediaDevices?.getUserMedia) {
    showError("This browser gives no camera access here (it needs https or localhost). Photos still work.");
    return;
  }
  const [width, height] = $("resolution").value.split("x").map(Number);
  const deviceId = $("camera-choice").value;
  const constraints = { width: { ideal: width }, height: { ideal: height }, ...(deviceId ? { deviceId: { exact: deviceId } } : {}) };
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: constraints, audio: false });
    video.srcObject = stream;
    await video.play();
    view.width = video.videoWidth;
    view.height = video.videoHeight;
    streaming = true;
    $("camera").textContent = "Stop camera";
    setStatus(`Camera running at ${video.videoWidth}x${video.videoHeight}.`);
    startVideoLoop();
    await listCameras();
  } catch (error) {
    const reason = error.name === "NotAllowedError" ? "Camera permission was denied."
      : error.name === "NotFoundError" ? "No camera was found."
      : error.name === "OverconstrainedError" ? "This camera cannot give that resolution."
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

async function restartCamera() {
  if (!streaming) return;
  stopCamera();
  await startCamera();
}

async function showPhoto(blob, name) {
  showError("");
  if (streaming) stopCamera();
  try {
    const bitmap = await createImageBitmap(blob);
    view.width = bitmap.width;
    view.height = bitmap.height;
    lastPhoto?.bitmap.close();
    lastPhoto = { bitmap, name };
    await detectAndDraw(bitmap, false, name);
  } catch (error) {
    showError(`Cannot read this photo: ${error.message}`);
  }
}

async function showSample() {
  try {
    const response = await fetch(SAMPLE_PHOTO);
    if (!response.ok) throw new Error(`${SAMPLE_PHOTO}: ${response.status}`);
    await showPhoto(await response.blob(), "sample photo");
  } catch (error) {
    showError(`The sample photo could not be loaded: ${error.message}`);
  }
}

/// The settings selectors show the address's settings and start the page again on a change.
function bindSettings(backend, inputSize) {
  const settings = [["backend-choice", "backend", backend], ["input-size", "inputSize", inputSize ?? ""]];
  for (const [id, key, value] of settings) {
    const select = $(id);
    if (![...select.options].some((o) => o.value === value)) select.add(new Option(value, value));
    select.value = value;
    select.addEventListener("change", () => {
      if (select.value) query.set(key, select.value);
      else query.delete(key);
      location.search = query.toString();
    });
  }
  $("in-worker").checked = inWorker;
  $("in-worker").addEventListener("change", (event) => {
    query.set("worker", event.target.checked ? "1" : "0");
    location.search = query.toString();
  });
}

threshold.addEventListener("input", async () => {
  $("threshold-value").textContent = Number(threshold.value).toFixed(2);
  if (!detector) return;
  detector.scoreThreshold = Number(threshold.value);
  if (!streaming && lastPhoto) await detectAndDraw(lastPhoto.bitmap, false, lastPhoto.name);
});
$("camera").addEventListener("click", () => (streaming ? stopCamera() : startCamera()));
$("camera-choice").addEventListener("change", restartCamera);
$("resolution").addEventListener("change", restartCamera);
$("sample").addEventListener("click", showSample);
$("photo").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (file) showPhoto(file, file.name);
});
const stage = $("stage");
stage.addEventListener("dragover", (event) => { event.preventDefault(); stage.classList.add("dragging"); });
stage.addEventListener("dragleave", () => stage.classList.remove("dragging"));
stage.addEventListener("drop", (event) => {
  event.preventDefault();
  stage.classList.remove("dragging");
  const file = event.dataTransfer.files[0];
  if (file) showPhoto(file, file.name);
});

async function main() {
  const wanted = query.get("backend") ?? "auto";
  const sizeText = query.get("inputSize");
  bindSettings(wanted, sizeText);
  try {
    // `?inputSize=WxH` picks the network's input size (the package parses it as the command
    // line does); absent, the model's own.
    detector = await createDetector(wanted, sizeText ?? undefined);
    // The first detection compiles the network (seconds on a GPU): done now, not on the
    // first camera frame.
    setStatus("Preparing the detector…");
    await detector.warmup();
  } catch (error) {
    setStatus("The detector could not start.");
    showError(error.message);
    return;
  } finally {
    $("loading").hidden = true;
  }
  const name = detector.backend === "webgpu" ? "WebGPU" : "CPU (WebAssembly)";
  const where = inWorker ? ", in a worker" : "";
  $("backend").textContent = `backend: ${name}${where}`;
  $("backend").title = detector.backendReason;
  setStatus(`Ready on ${name}${where} (${detector.backendReason}): start the camera or try a photo.`);
  $("camera").disabled = false;
  $("sample").disabled = false;
  // Exposed for automated tests, benchmarks and curious users (the module's memory only when
  // detection runs on this thread).
  window.ssdface = {
    detector,
    detectAndDraw,
    frames,
    wasmMemory: () => detector.__wasmMemoryBytes?.() ?? null,
  };
}

main();
