// Browser tests of the demo page in Debian's headless Chromium, driven by playwright-core.
// Run by tests/browser.rs, which builds the page and passes, through the environment:
//   SSDFACE_WWW           the built www/ folder (with pkg/)
//   SSDFACE_PHOTO         a photo with faces
//   SSDFACE_NATIVE_JSON   the native CLI's faces for that photo (JSON array of faces)
//   SSDFACE_NATIVE_480X360_JSON   the same with `--input-size 480x360`
//   SSDFACE_ARTIFACTS     where to write screenshots and the fake camera's video
// Exits non-zero when a check fails.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { assert, assertSameFaces, checker, iou, launch, openDemo, serve, writeY4m } from "./harness.mjs";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const www = env("SSDFACE_WWW");
const photo = env("SSDFACE_PHOTO");
const native = JSON.parse(await readFile(env("SSDFACE_NATIVE_JSON"), "utf8"));
const native480 = JSON.parse(await readFile(env("SSDFACE_NATIVE_480X360_JSON"), "utf8"));
const artifacts = env("SSDFACE_ARTIFACTS");
const y4m = join(artifacts, "face.y4m");
const photoSize = await writeY4m(photo, y4m);

const { origin, close } = await serve(www);
const { check, failures } = checker();

const openPage = (browser, query = "") => openDemo(browser, origin, query);

/// Defines `window.messageOf(promise)` in the page: the message of the Error it rejects with.
async function defineMessageOf(page) {
  await page.evaluate(() => {
    window.messageOf = async (promise) => {
      try {
        await promise;
        return "no error";
      } catch (error) {
        return error instanceof Error ? error.message : `not an Error: ${error}`;
      }
    };
  });
}

async function detectPhoto(page) {
  await page.evaluate(() => { window.lastFaces = undefined; });
  await page.setInputFiles("#photo", photo);
  await page.waitForFunction(() => window.lastFaces !== undefined, null, { timeout: 120000 });
  return page.evaluate(() => window.lastFaces);
}

const gpuBrowser = await launch(["--enable-unsafe-webgpu", "--use-fake-ui-for-media-stream",
  "--use-fake-device-for-media-stream", `--use-file-for-fake-video-capture=${y4m}`]);

let cpuFaces = null;
await check("page loads without console errors; CPU path matches the native CLI", async () => {
  const { page, errors } = await openPage(gpuBrowser, "?backend=cpu");
  assert((await page.locator("#backend").textContent()).includes("CPU"), "backend label");
  cpuFaces = await detectPhoto(page);
  assert(cpuFaces.length > 0, "no faces found in the photo");
  assertSameFaces(cpuFaces, native, "CPU wasm vs native");
  await page.screenshot({ path: join(artifacts, "photo-cpu.png") });
  assert(errors.length === 0, `console errors: ${errors.join("; ")}`);
  await page.close();
});

await check("bad calls reject with Errors and the detector keeps working", async () => {
  const { page, errors } = await openPage(gpuBrowser, "?backend=cpu");
  await defineMessageOf(page);
  const outcome = await page.evaluate(async () => {
    const message = window.messageOf;
    const { FaceDetector } = await import("./pkg/index.js");
    const detector = window.ssdface.detector;
    return {
      shortData: await message(detector.detect({ data: new Uint8Array(10), width: 100, height: 100 })),
      notAnImage: await message(detector.detect(42)),
      badWeights: await message(FaceDetector.create({ weights: new Uint8Array([1, 2, 3]) })),
      badBackend: await message(FaceDetector.create({ backend: "tpu" })),
      badThreshold: await message(FaceDetector.create({ scoreThreshold: 2 })),
      badInputSize: await message(FaceDetector.create({ inputSize: [320] })),
      oddInputSize: await message(FaceDetector.create({ inputSize: [321, 240], backend: "cpu" })),
      badInputText: await message(FaceDetector.create({ inputSize: "320 by 240", backend: "cpu" })),
      after: Array.isArray(await detector.detect(new ImageData(64, 48))),
    };
  });
  assert(/100x100/.test(outcome.shortData) || /bytes/.test(outcome.shortData), `short data: ${outcome.shortData}`);
  assert(/detect\(\) takes/.test(outcome.notAnImage), `not an image: ${outcome.notAnImage}`);
  assert(/weights/i.test(outcome.badWeights), `bad weights: ${outcome.badWeights}`);
  assert(/backend/.test(outcome.badBackend), `bad backend: ${outcome.badBackend}`);
  assert(/scoreThreshold/.test(outcome.badThreshold), `bad threshold: ${outcome.badThreshold}`);
  assert(/inputSize/.test(outcome.badInputSize), `bad input size: ${outcome.badInputSize}`);
  assert(/inputSize: expected WIDTHxHEIGHT/.test(outcome.badInputText), `bad input text: ${outcome.badInputText}`);
  assert(/8/.test(outcome.oddInputSize), `input size not a multiple of 8: ${outcome.oddInputSize}`);
  assert(outcome.after, "detection after the errors returned no array");
  const faces = await detectPhoto(page);
  assertSameFaces(faces, native, "after bad calls");
  assert(errors.length === 0, `console errors: ${errors.join("; ")}`);
  await page.close();
});

await check("a panic rejects the call and later calls with Errors, not a dead page", async () => {
  for (const afterAwait of [false, true]) {
    // The page's detector on the thread whose module panics.
    const { page, errors } = await openPage(gpuBrowser, "?backend=cpu&worker=0");
    await defineMessageOf(page);
    const outcome = await page.evaluate(async (afterAwait) => {
      const message = window.messageOf;
      const { __panicForTesting } = await import("./pkg/index.js");
      return {
        panic: await message(__panicForTesting(afterAwait)),
        later: await message(window.ssdface.detector.detect(new ImageData(64, 48))),
      };
    }, afterAwait);
    const when = afterAwait ? "after an await" : "at once";
    assert(/^ssdface stopped: .*panicForTesting was called/s.test(outcome.panic),
      `panic ${when}: ${outcome.panic}`);
    assert(/earlier failure .*panicForTesting was called.*reload the page/s.test(outcome.later),
      `the call after a panic ${when}: ${outcome.later}`);
    // The page still runs and says what happened when a photo is chosen.
    await page.setInputFiles("#photo", photo);
    await page.waitForFunction(() => !document.getElementById("error").hidden, null, { timeout: 30000 });
    const shown = await page.locator("#error").textContent();
    assert(/reload the page/.test(shown), `the page shows: ${shown}`);
    // The panic hook logs the panic; nothing else may reach the console, uncaught traps included.
    const others = errors.filter((e) => !/panicForTesting was called/.test(e));
    assert(others.length === 0, `console errors: ${others.join("; ")}`);
    assert(errors.length === 1, `the panic was not logged once: ${errors.join("; ")}`);
    await page.close();
  }
});

await check("auto refuses the software WebGPU adapter (SwiftShader) and says why", async () => {
  const { page, errors } = await openPage(gpuBrowser, "");
  const outcome = await page.evaluate(async () => {
    const { WorkerFaceDetector } = await import("./pkg/index.js");
    const worker = await WorkerFaceDetector.create();
    const result = {
      main: [window.ssdface.detector.backend, window.ssdface.detector.backendReason],
      worker: [worker.backend, worker.backendReason],
      shown: document.getElementById("status").textContent,
    };
    await worker.dispose();
    return result;
  });
  for (const side of ["main", "worker"]) {
    const [backend, reason] = outcome[side];
    assert(backend === "cpu", `${side}: auto chose ${backend} (${reason})`);
    assert(/software/.test(reason) && /swiftshader/i.test(reason), `${side}: reason "${reason}"`);
  }
  assert(/software/.test(outcome.shown), `the page says: ${outcome.shown}`);
  assert(errors.length === 0, `console errors: ${errors.join("; ")}`);
  await page.close();
});

await check("backend webgpu takes even a software adapter and matches the CPU path", async () => {
  const { page, errors } = await openPage(gpuBrowser, "?backend=webgpu");
  const [backend, reason] = await page.evaluate(() => [window.ssdface.detector.backend,
    window.ssdface.detector.backendReason]);
  assert(backend === "webgpu" && reason === "asked for webgpu", `got ${backend} (${reason})`);
  const faces = await detectPhoto(page);
  assertSameFaces(faces, native, "WebGPU vs native");
  // The same decoded pixels through burn's operations on WebGPU and the fused CPU kernels.
  if (cpuFaces) assertSameFaces(faces, cpuFaces, "WebGPU vs CPU", { pixels: 0.05, scores: 1e-4 });
  await page.screenshot({ path: join(artifacts, "photo-webgpu.png") });
  assert(errors.length === 0, `console errors: ${errors.join("; ")}`);
  await page.close();
});

await check("the fake camera gives live boxes (drawn, in the default worker mode) and a moving frame counter", async () => {
  const { page, errors } = await openPage(gpuBrowser, "?backend=cpu");
  assert(/in a worker/.test(await page.locator("#backend").textContent()), "not in a worker");
  await page.click("#camera");
  await page.waitForFunction(() => (window.lastFaces?.length ?? 0) > 0, null, { timeout: 60000 });
  // The best face is where the native CLI finds it in the photo, stretched to the camera's
  // 640x480, and its box is on the canvas: the left edge of the mirrored box (2 px, green) is
  // among the pixels around it, in the face's middle row.
  const shown = await page.evaluate(() => {
    const face = [...window.lastFaces].sort((a, b) => b.score - a.score)[0];
    const view = document.getElementById("view");
    const left = view.width - face.x - face.width;
    const row = view.getContext("2d").getImageData(Math.round(left) - 3, Math.round(face.y + face.height / 2), 7, 1).data;
    let green = false;
    for (let i = 0; i < row.length; i += 4) green ||= row[i] < 60 && row[i + 1] > 200 && row[i + 2] < 60;
    return { face, green, size: [view.width, view.height] };
  });
  const nativeBest = [...native].sort((a, b) => b.score - a.score)[0];
  const [sx, sy] = [640 / photoSize.width, 480 / photoSize.height];
  const expected = { x: nativeBest.x * sx, y: nativeBest.y * sy, width: nativeBest.width * sx, height: nativeBest.height * sy };
  const overlap = iou(shown.face, expected);
  assert(overlap > 0.7, `camera's best face ${JSON.stringify(shown.face)} vs native: IoU ${overlap.toFixed(2)}`);
  assert(shown.green, `no box drawn at the best face on the ${shown.size.join("x")} canvas`);
  const frames = async () => page.evaluate(() => window.ssdface.frames);
  const first = await frames();
  await page.waitForTimeout(1500);
  const second = await frames();
  assert(second > first, `frames did not advance (${first} -> ${second})`);
  const fps = await page.locator("#fps").textContent();
  assert(/^[1-9]\d* fps$/.test(fps), `fps counter shows ${fps}`);
  await page.screenshot({ path: join(artifacts, "camera.png") });
  await page.click("#camera");
  assert(errors.length === 0, `console errors: ${errors.join("; ")}`);
  await page.close();
});
await check("the demo detects in a worker by default; its selectors, sample photo and camera picker work", async () => {
  const { page, errors } = await openPage(gpuBrowser, "?backend=cpu");
  assert(/in a worker/.test(await page.locator("#backend").textContent()), "not in a worker");
  await page.evaluate(() => { window.lastFaces = undefined; });
  await page.click("#sample");
  await page.waitForFunction(() => window.lastFaces !== undefined, null, { timeout: 60000 });
  assert((await page.evaluate(() => window.lastFaces.length)) > 0, "no faces in the sample photo");
  // A photo has a time, not a frame rate; its status and count follow the threshold.
  const shown = async () => page.evaluate(() => ({
    faces: window.lastFaces.length,
    status: document.getElementById("status").textContent,
    count: document.getElementById("count").textContent,
    fps: document.getElementById("fps").textContent,
    busy: document.body.classList.contains("busy"),
  }));
  const agree = (state, what) => {
    assert(state.status === `sample photo: ${state.faces} faces.` && state.count === `${state.faces} faces`,
      `${what}: ${JSON.stringify(state)}`);
    assert(state.fps === "" && !state.busy, `${what}: ${JSON.stringify(state)}`);
  };
  const before = await shown();
  agree(before, "the sample photo");
  await page.evaluate(() => { window.lastFaces = undefined; });
  await page.evaluate(() => {
    const slider = document.getElementById("threshold");
    slider.value = "0.05";
    slider.dispatchEvent(new Event("input"));
  });
  await page.waitForFunction(() => window.lastFaces !== undefined, null, { timeout: 60000 });
  const after = await shown();
  agree(after, "after the threshold moved to 0.05");
  assert(after.faces > before.faces, `threshold 0.05 kept ${after.faces} faces, 0.5 kept ${before.faces}`);
  // The camera list is filled once the camera runs (names need the permission).
  await page.click("#camera");
  await page.waitForFunction(() => window.ssdface.frames > 1, null, { timeout: 60000 });
  const cameras = await page.locator("#camera-choice option").count();
  assert(cameras >= 1, `${cameras} cameras listed`);
  // The fake camera has one size: a new resolution restarts it, at the size it can give.
  await page.evaluate(() => { document.getElementById("status").textContent = ""; });
  await page.selectOption("#resolution", "1280x720");
  await page.waitForFunction(() => /Camera running at \d+x\d+/.test(document.getElementById("status").textContent),
    null, { timeout: 30000 });
  await page.click("#camera");
  // Each setting restarts the page with it in the address.
  const settled = () => page.waitForFunction(() => window.ssdface, null, { timeout: 120000 });
  await Promise.all([page.waitForNavigation(), page.selectOption("#input-size", "480x360")]);
  await settled();
  assert(/inputSize=480x360/.test(page.url()), `address after the input size: ${page.url()}`);
  await Promise.all([page.waitForNavigation(), page.uncheck("#in-worker")]);
  await settled();
  assert(/worker=0/.test(page.url()), `address after the worker box: ${page.url()}`);
  assert(!/worker/.test(await page.locator("#backend").textContent()), "still in a worker");
  assertSameFaces(await detectPhoto(page), native480, "the selectors' 480x360 vs native --input-size 480x360");
  assert(errors.length === 0, `console errors: ${errors.join("; ")}`);
  await page.close();
});

await check("detectVideo: the faces of each new frame with that frame, none twice; stop() stops", async () => {
  const { page, errors } = await openPage(gpuBrowser, "?backend=cpu");
  const outcome = await page.evaluate(async () => {
    const { FaceDetector, WorkerFaceDetector } = await import("./pkg/index.js");
    const video = document.createElement("video");
    video.muted = true;
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
    await video.play();
    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    /// Frames of `detector`'s loop until `count` have come (or 60 s passed); then stopped.
    async function watch(detector, count, options) {
      const seen = [];
      let busy = 0;
      let overlapping = 0;
      const handle = detector.detectVideo(video, async (faces, frame) => {
        busy += 1;
        overlapping = Math.max(overlapping, busy);
        seen.push({ faces, time: frame.time, number: frame.number, width: frame.width,
          imageWidth: frame.image.width, imageHeight: frame.image.height, ms: frame.ms });
        await sleep(5);
        busy -= 1;
      }, options);
      const started = performance.now();
      while (seen.length < count && performance.now() - started < 60000) await sleep(50);
      handle.stop();
      const atStop = seen.length;
      await sleep(1500);
      await handle.done;
      return { seen, atStop, afterStop: seen.length, overlapping };
    }
    const detector = await FaceDetector.create({ backend: "cpu" });
    const main = await watch(detector, 6);
    const small = await watch(detector, 2, { maxSide: 320 });
    const worker = await WorkerFaceDetector.create({ backend: "cpu" });
    await worker.warmup();
    const inWorker = await watch(worker, 3);
    await worker.dispose();
    await detector.dispose();
    for (const track of video.srcObject.getTracks()) track.stop();
    return { main, small, inWorker };
  });
  for (const [name, run] of Object.entries(outcome)) {
    const { seen, atStop, afterStop, overlapping } = run;
    assert(seen.length >= 2, `${name}: ${seen.length} frames`);
    assert(afterStop === atStop, `${name}: ${afterStop - atStop} frames after stop()`);
    assert(overlapping === 1, `${name}: ${overlapping} frames in flight at once`);
    const numbers = seen.map((f) => f.number);
    assert(numbers.every((n, i) => n === i + 1), `${name}: frame numbers ${numbers}`);
    const times = seen.map((f) => f.time);
    assert(times.every((t, i) => i === 0 || t > times[i - 1]), `${name}: a frame detected twice (times ${times})`);
    for (const frame of seen) {
      assert(frame.faces.length > 0, `${name}: no faces in frame ${frame.number}`);
      assert(frame.width === 640 && frame.imageWidth === 640 && frame.imageHeight === 480,
        `${name}: frame ${frame.width}, image ${frame.imageWidth}x${frame.imageHeight}`);
      // In the video's pixels, on the main thread and in a worker alike (a worker takes the
      // frame's bitmap over, so its size must be read before).
      for (const f of frame.faces) {
        const inside = [f.x, f.y, f.width, f.height].every(Number.isFinite)
          && f.x >= -1 && f.y >= -1 && f.width > 0 && f.height > 0
          && f.x + f.width <= 641 && f.y + f.height <= 481;
        assert(inside, `${name}: frame ${frame.number}: a face outside the video: ${JSON.stringify(f)}`);
      }
    }
  }
  // The fake camera repeats one picture: the worker finds the faces the main thread finds.
  assertSameFaces(outcome.inWorker.seen[0].faces, outcome.main.seen[0].faces,
    "detectVideo in a worker vs on the main thread", { pixels: 0.5 });
  // Detected at half size, the faces are still in the video's pixels: the best one lands where
  // it does at full size.
  const [full, half] = [outcome.main.seen[0].faces[0], outcome.small.seen[0].faces[0]];
  assert(iou(full, half) > 0.5, `maxSide 320 vs full size: ${JSON.stringify([full, half])}`);
  assert(errors.length === 0, `console errors: ${errors.join("; ")}`);
  await page.close();
});

await check("each backend loads only its own module, reporting the download's progress", async () => {
  const { page, errors } = await openPage(gpuBrowser, "?backend=cpu&worker=0");
  const outcome = await page.evaluate(async () => {
    const { FaceDetector, WorkerFaceDetector } = await import("./pkg/index.js");
    const fetchedBefore = performance.getEntriesByType("resource").map((e) => new URL(e.name).pathname);
    const track = async (create) => {
      const calls = [];
      const detector = await create((loaded, total) => calls.push([loaded, total]));
      await detector.dispose();
      return { calls: calls.length, last: calls[calls.length - 1] ?? null };
    };
    return {
      fetchedBefore,
      webgpu: await track((onProgress) => FaceDetector.create({ backend: "webgpu", onProgress })),
      worker: await track((onProgress) => WorkerFaceDetector.create({ backend: "cpu", onProgress })),
    };
  });
  const { fetchedBefore, ...loads } = outcome;
  // The page on the CPU fetched the CPU module only.
  assert(fetchedBefore.some((p) => p.endsWith("/ssdface_cpu_bg.wasm"))
    && !fetchedBefore.some((p) => p.endsWith("/ssdface_bg.wasm")), `fetched: ${fetchedBefore}`);
  for (const [name, { calls, last }] of Object.entries(loads)) {
    assert(calls > 0 && last && last[0] === last[1] && last[1] > 1e6, `${name}: ${calls} calls, last ${last}`);
  }
  assert(loads.webgpu.last[1] > loads.worker.last[1], "the WebGPU module is not the larger one");
  assert(errors.length === 0, `console errors: ${errors.join("; ")}`);
  await page.close();
});

await check("a lost GPU device moves the detector to the CPU, which answers the call", async () => {
  const context = await gpuBrowser.newContext();
  // Every WebGPU device the page gets, so that the test can destroy them (a lost device).
  await context.addInitScript(() => {
    if (!window.GPUAdapter) return;
    const requestDevice = GPUAdapter.prototype.requestDevice;
    GPUAdapter.prototype.requestDevice = async function (...args) {
      const device = await requestDevice.apply(this, args);
      (window.gpuDevices ??= []).push(device);
      return device;
    };
  });
  const { page, errors } = await openPage(context, "?backend=cpu&worker=0");
  const outcome = await page.evaluate(async () => {
    const { FaceDetector } = await import("./pkg/index.js");
    const photo = await createImageBitmap(await (await fetch("samples/group.jpg")).blob());
    const onGpu = await FaceDetector.create({ backend: "webgpu" });
    const before = [onGpu.backend, (await onGpu.detect(photo)).length];
    for (const device of window.gpuDevices) device.destroy();
    const faces = await onGpu.detect(photo);
    const after = [onGpu.backend, onGpu.backendReason];
    const again = (await onGpu.detect(photo)).length;
    const cpu = await FaceDetector.create({ backend: "cpu" });
    return { devices: window.gpuDevices.length, before, faces, after, again, cpuFaces: await cpu.detect(photo) };
  });
  assert(outcome.devices > 0, "no WebGPU device was made");
  assert(outcome.before[0] === "webgpu" && outcome.before[1] > 0, `before: ${outcome.before}`);
  assert(outcome.after[0] === "cpu" && /device was lost/.test(outcome.after[1]), `after: ${outcome.after}`);
  assert(outcome.faces.length > 0 && outcome.again === outcome.faces.length, `${outcome.faces.length}, then ${outcome.again}`);
  assertSameFaces(outcome.faces, outcome.cpuFaces, "moved to the CPU vs a CPU detector");
  assert(errors.length === 0, `console errors: ${errors.join("; ")}`);
  await context.close();
});

await check("dispose() waits for the calls in flight; later calls reject", async () => {
  const { page, errors } = await openPage(gpuBrowser, "?backend=cpu");
  await defineMessageOf(page);
  const outcome = await page.evaluate(async () => {
    const { FaceDetector, WorkerFaceDetector } = await import("./pkg/index.js");
    const image = new ImageData(640, 480);
    const results = {};
    for (const [name, Detector] of [["main", FaceDetector], ["worker", WorkerFaceDetector]]) {
      const detector = await Detector.create({ backend: "cpu" });
      const during = detector.detect(image);
      const disposed = detector.dispose();
      results[name] = {
        during: await window.messageOf(during),
        disposed: await window.messageOf(disposed),
        after: await window.messageOf(detector.detect(image)),
      };
    }
    return results;
  });
  for (const [name, result] of Object.entries(outcome)) {
    assert(result.during === "no error", `${name}: the call in flight: ${result.during}`);
    assert(result.disposed === "no error", `${name}: dispose: ${result.disposed}`);
    assert(/disposed/.test(result.after), `${name}: a call after dispose: ${result.after}`);
  }
  assert(errors.length === 0, `console errors: ${errors.join("; ")}`);
  await page.close();
});

await check("both classes check options and images alike, settle dispose() after a failed call, leave no worker from a failed create", async () => {
  const { page, errors } = await openPage(gpuBrowser, "?backend=cpu&worker=0");
  await defineMessageOf(page);
  const outcome = await page.evaluate(async () => {
    // Every worker the page starts and stops, counted.
    const counts = { started: 0, terminated: 0 };
    const PageWorker = window.Worker;
    window.Worker = class extends PageWorker {
      constructor(...args) {
        super(...args);
        counts.started += 1;
      }
      terminate() {
        counts.terminated += 1;
        super.terminate();
      }
    };
    const { FaceDetector, WorkerFaceDetector } = await import("./pkg/index.js");
    const results = {};
    for (const [name, Detector] of [["main", FaceDetector], ["worker", WorkerFaceDetector]]) {
      const detector = await Detector.create({ backend: "cpu" });
      const thresholds = [];
      for (const value of [1.5, "0.3", NaN, -0.1]) {
        const message = await window.messageOf((async () => { detector.scoreThreshold = value; })());
        thresholds.push([String(value), message, detector.scoreThreshold]);
      }
      const closed = await createImageBitmap(new ImageData(64, 48));
      closed.close();
      const closedMessage = await window.messageOf(detector.detect(closed));
      const emptyCanvas = document.createElement("canvas");
      emptyCanvas.width = 0;
      const unreadable = {
        emptyCanvas: await window.messageOf(detector.detect(emptyCanvas)),
        framelessVideo: await window.messageOf(detector.detect(document.createElement("video"))),
        unloadedImage: await window.messageOf(detector.detect(new Image())),
      };
      const disposed = await Promise.race([
        detector.dispose().then(() => "settled"),
        new Promise((resolve) => setTimeout(() => resolve("still waiting after 20 s"), 20000)),
      ]);
      const failedCreates = [];
      for (let i = 0; i < 3; i++) {
        failedCreates.push(await window.messageOf(Detector.create({ backend: "cpu", scoreThreshold: 2 })));
      }
      const badOptions = {
        nullOptions: await window.messageOf(Detector.create(null)),
        fractionalMaxFaces: await window.messageOf(Detector.create({ backend: "cpu", maxFaces: 2.5 })),
        unknownOption: await window.messageOf(Detector.create({ backend: "cpu", minDetectionConfidence: 0.5 })),
      };
      results[name] = { thresholds, closedMessage, unreadable, disposed, failedCreates, badOptions, counts: { ...counts } };
    }
    return results;
  });
  for (const [name, result] of Object.entries(outcome)) {
    for (const [value, message, kept] of result.thresholds) {
      assert(/scoreThreshold must be between 0 and 1/.test(message), `${name}: scoreThreshold = ${value}: ${message}`);
      assert(kept === 0.5, `${name}: scoreThreshold = ${value} left ${kept}`);
    }
    assert(/closed or was transferred/.test(result.closedMessage), `${name}: closed bitmap: ${result.closedMessage}`);
    assert(result.disposed === "settled", `${name}: dispose() after a failed call: ${result.disposed}`);
    for (const message of result.failedCreates) {
      assert(/scoreThreshold/.test(message), `${name}: create with scoreThreshold 2: ${message}`);
    }
    const { nullOptions, fractionalMaxFaces, unknownOption } = result.badOptions;
    assert(/options must be an object, got null/.test(nullOptions), `${name}: create(null): ${nullOptions}`);
    assert(/maxFaces must be a whole number/.test(fractionalMaxFaces), `${name}: maxFaces 2.5: ${fractionalMaxFaces}`);
    assert(/unknown option minDetectionConfidence/.test(unknownOption), `${name}: unknown option: ${unknownOption}`);
  }
  const { emptyCanvas, framelessVideo, unloadedImage } = outcome.main.unreadable;
  assert(/the source is empty \(0x150\)/.test(emptyCanvas) && /no frame yet/.test(framelessVideo)
    && /has not loaded/.test(unloadedImage), `unreadable sources: ${JSON.stringify(outcome.main.unreadable)}`);
  assert(JSON.stringify(outcome.main.unreadable) === JSON.stringify(outcome.worker.unreadable),
    `the classes' messages differ: ${JSON.stringify(outcome.main.unreadable)} vs ${JSON.stringify(outcome.worker.unreadable)}`);
  assert(JSON.stringify(outcome.main.badOptions).replaceAll("FaceDetector", "")
    === JSON.stringify(outcome.worker.badOptions).replaceAll("WorkerFaceDetector", ""),
    `the classes' messages differ: ${JSON.stringify(outcome.main.badOptions)} vs ${JSON.stringify(outcome.worker.badOptions)}`);
  // The worker class started one worker per create that got past the page's own checks (all
  // but create(null)): every one is stopped again.
  const { started, terminated } = outcome.worker.counts;
  assert(started === 6 && terminated === 6, `workers started ${started}, stopped ${terminated}`);
  assert(errors.length === 0, `console errors: ${errors.join("; ")}`);
  await page.close();
});

await check("drawFaces draws boxes where the faces are, mirrored on request", async () => {
  const { page } = await openPage(gpuBrowser, "?backend=cpu");
  const outcome = await page.evaluate(async () => {
    const { drawFaces } = await import("./pkg/index.js");
    const face = { x: 10, y: 20, width: 50, height: 40, score: 0.9 };
    const paint = (options) => {
      const canvas = new OffscreenCanvas(200, 100);
      const ctx = canvas.getContext("2d");
      drawFaces(ctx, [face], options);
      const red = (x, y) => {
        const [r, g, b, a] = ctx.getImageData(x, y, 1, 1).data;
        return r > 200 && g < 50 && b < 50 && a > 200;
      };
      const anything = (x0, y0, x1, y1) => ctx.getImageData(x0, y0, x1 - x0, y1 - y0).data.some((v) => v > 0);
      return {
        left: red(10, 40), right: red(60, 40), top: red(35, 20), inside: anything(14, 24, 56, 56),
        mirroredLeft: red(140, 40), mirroredRight: red(190, 40),
        label: anything(10, 0, 60, 18),
      };
    };
    return {
      plain: paint({ color: "#f00", showScores: false }),
      mirrored: paint({ color: "#f00", showScores: false, mirrored: true }),
      scored: paint({ color: "#f00" }),
    };
  });
  const { plain, mirrored, scored } = outcome;
  assert(plain.left && plain.right && plain.top && !plain.inside, `plain: ${JSON.stringify(plain)}`);
  assert(!plain.mirroredLeft && !plain.label, `plain draws elsewhere: ${JSON.stringify(plain)}`);
  assert(mirrored.mirroredLeft && mirrored.mirroredRight && !mirrored.left, `mirrored: ${JSON.stringify(mirrored)}`);
  assert(scored.label && scored.left, `with scores: ${JSON.stringify(scored)}`);
  await page.close();
});
await gpuBrowser.close();

await check("a denied camera is explained and photos still work", async () => {
  const browser = await launch([]);
  const context = await browser.newContext({ permissions: [] });
  const page = await context.newPage();
  await page.goto(`${origin}/index.html?backend=cpu`);
  await page.waitForFunction(() => window.ssdface, null, { timeout: 120000 });
  await page.click("#camera");
  await page.waitForFunction(() => !document.getElementById("error").hidden, null, { timeout: 30000 });
  const message = await page.locator("#error").textContent();
  assert(/camera/i.test(message) && /photo/i.test(message), `message: ${message}`);
  const faces = await detectPhoto(page);
  assert(faces.length > 0, "photo mode after a denied camera");
  await browser.close();
});

await check("without WebGPU the page falls back to the CPU", async () => {
  const browser = await launch(["--disable-features=WebGPU"]);
  const { page, errors } = await openPage(browser, "");
  const [backend, reason] = await page.evaluate(() => [window.ssdface.detector.backend,
    window.ssdface.detector.backendReason]);
  assert(backend === "cpu", `expected the CPU fallback, got ${backend}`);
  assert(/WebGPU/.test(reason), `reason: ${reason}`);
  // Asked for WebGPU, both classes say there is none, in a sentence.
  const asked = await page.evaluate(async () => {
    const { FaceDetector, WorkerFaceDetector } = await import("./pkg/index.js");
    const messageOf = (promise) => promise.then(() => "no error", (error) => error.message);
    return Promise.all([FaceDetector, WorkerFaceDetector].map((D) => messageOf(D.create({ backend: "webgpu" }))));
  });
  for (const message of asked) {
    // (Without the feature, this Chromium still has `navigator.gpu`, which gives no adapter.)
    assert(message === "WebGPU is not available: the browser gave no WebGPU adapter (it found no GPU to use)",
      `backend webgpu: ${message}`);
  }
  assertSameFaces(await detectPhoto(page), native, "fallback vs native");
  assert(errors.length === 0, `console errors: ${errors.join("; ")}`);
  await browser.close();
});

await check("?inputSize= sets the network's input size; a malformed one is explained", async () => {
  const browser = await launch([]);
  const { page } = await openPage(browser, "?backend=cpu&inputSize=480x360");
  const faces = await detectPhoto(page);
  assertSameFaces(faces, native480, "inputSize=480x360 vs native --input-size 480x360");
  for (const [size, expected] of [["oops", /inputSize: expected WIDTHxHEIGHT, like 320x240, got "oops"/], ["100x100", /multiple/]]) {
    const other = await browser.newPage();
    await other.goto(`${origin}/index.html?backend=cpu&inputSize=${size}`);
    await other.waitForFunction(() => !document.getElementById("error").hidden, null,
      { timeout: 120000 });
    const message = await other.locator("#error").textContent();
    assert(expected.test(message), `inputSize=${size}: message "${message}"`);
  }
  await browser.close();
});

close();
console.log(failures() === 0 ? "all browser checks passed" : `${failures()} browser checks failed`);
process.exit(failures() === 0 ? 0 : 1);
