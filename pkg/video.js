// The video loop behind `detectVideo`: every new frame of a video element through a detector,
// one frame at a time, each result handed over with the frame it was found in.

/**
 * Detect faces in each new frame of `video` with `detect(bitmap)` (which may consume the
 * bitmap) and call `onFaces(faces, frame)` with them.
 *
 * - Frames come from `requestVideoFrameCallback` where the browser has it (one call per
 *   presented frame), else from `requestAnimationFrame`.
 * - One frame is in flight at a time: frames that arrive meanwhile are skipped, never queued,
 *   and a frame already detected is never detected again.
 * - Frames larger than `maxSide` on their longer side are scaled down before their pixels are
 *   read; faces are scaled back to the video's pixels.
 * - `frame.image` is an `ImageBitmap` of the very frame the faces were found in, for drawing;
 *   it is closed once `onFaces` returns (or the promise it returns settles).
 *
 * Errors go to `onError` when given (the loop goes on); otherwise the loop stops and `done`
 * rejects with the error.
 */
export function watchVideo(detect, video, onFaces, { maxSide = 640, onError } = {}) {
  if (typeof HTMLVideoElement === "undefined" || !(video instanceof HTMLVideoElement)) {
    throw new TypeError("detectVideo() takes an HTMLVideoElement");
  }
  if (typeof onFaces !== "function") throw new TypeError("detectVideo() needs an onFaces callback");
  if (!(maxSide >= 32)) throw new RangeError("maxSide must be at least 32");
  const byFrameCallback = typeof video.requestVideoFrameCallback === "function";
  let running = true;
  let request = null;
  let lastFrame = null;
  let frames = 0;
  let finish;
  let fail;
  const done = new Promise((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  // A caller that never looks at `done` gets no unhandled-rejection report; one that awaits it
  // still sees the error.
  done.catch(() => {});

  const schedule = () => {
    if (!running) return;
    request = byFrameCallback
      ? video.requestVideoFrameCallback((_, meta) => onFrame(meta.presentedFrames, meta.mediaTime))
      : requestAnimationFrame(() => onFrame(video.currentTime, video.currentTime));
  };

  const onFrame = async (identity, time) => {
    if (!running) return;
    if (identity === lastFrame || video.readyState < 2 || video.videoWidth === 0) {
      schedule();
      return;
    }
    lastFrame = identity;
    try {
      await detectFrame(time);
    } catch (error) {
      if (!running) return;
      if (onError) {
        onError(error);
      } else {
        stopLoop();
        fail(error);
        return;
      }
    }
    schedule();
  };

  const detectFrame = async (time) => {
    const { videoWidth: width, videoHeight: height } = video;
    const scale = Math.min(1, maxSide / Math.max(width, height));
    const resize = scale < 1
      ? { resizeWidth: Math.round(width * scale), resizeHeight: Math.round(height * scale), resizeQuality: "low" }
      : {};
    // Both snapshots are taken now, before any await, so they hold the same frame.
    const grabs = [createImageBitmap(video), createImageBitmap(video, resize)];
    const [image, small] = await Promise.allSettled(grabs).then((results) => {
      const failed = results.find((r) => r.status === "rejected");
      if (!failed) return results.map((r) => r.value);
      for (const r of results) if (r.status === "fulfilled") r.value.close();
      throw failed.reason;
    });
    // Read before `detect`: a worker takes the bitmap over (transfers it), leaving it 0x0 here.
    const [sx, sy] = [width / small.width, height / small.height];
    try {
      const started = performance.now();
      const found = await detect(small);
      const ms = performance.now() - started;
      if (!running) return;
      const faces = found.map((f) => ({
        x: f.x * sx, y: f.y * sy, width: f.width * sx, height: f.height * sy, score: f.score,
      }));
      frames += 1;
      await onFaces(faces, { image, time, number: frames, width, height, ms });
    } finally {
      small.close();
      image.close();
    }
  };

  const stopLoop = () => {
    running = false;
    if (request === null) return;
    if (byFrameCallback) video.cancelVideoFrameCallback(request);
    else cancelAnimationFrame(request);
  };

  schedule();
  return {
    /** Stop the loop: no `onFaces` call after this one returns. */
    stop() {
      stopLoop();
      finish();
    },
    /** Settles when the loop stops: resolves after `stop()`, rejects with an error that stopped it. */
    done,
  };
}
