// Boxes and scores drawn over an image on a 2D canvas: the one drawing routine of the package,
// used by the demo page too.

/**
 * Draw `faces` (in the canvas's pixels) on `ctx`: a rectangle per face and, unless
 * `showScores` is false, its score above it. `mirrored` flips the boxes left to right, for a
 * canvas that shows a mirrored camera image.
 */
export function drawFaces(ctx, faces, { mirrored = false, color = "#0f0", showScores = true } = {}) {
  const { width } = ctx.canvas;
  // Lines and labels scale with the canvas, so that they read the same on any frame size.
  const lineWidth = Math.max(2, width / 300);
  const fontSize = Math.round(Math.max(12, width / 45));
  ctx.save();
  ctx.lineWidth = lineWidth;
  ctx.strokeStyle = color;
  ctx.font = `${fontSize}px system-ui, sans-serif`;
  ctx.textBaseline = "bottom";
  for (const face of faces) {
    const x = mirrored ? width - face.x - face.width : face.x;
    ctx.strokeRect(x, face.y, face.width, face.height);
    if (!showScores) continue;
    const label = face.score.toFixed(2);
    const labelWidth = ctx.measureText(label).width + 6;
    const top = Math.max(0, face.y - fontSize - 4);
    ctx.fillStyle = "rgba(0,0,0,0.7)";
    ctx.fillRect(x, top, labelWidth, fontSize + 4);
    ctx.fillStyle = color;
    ctx.fillText(label, x + 3, top + fontSize + 2);
  }
  ctx.restore();
}
