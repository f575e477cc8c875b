#!/usr/bin/env python3
"""Face labels from a teacher detector (SCRFD-2.5GF with five keypoints), in WIDER FACE layout.

The teacher runs at two scales (the image as stored and doubled), merged by score-weighted box
voting. Its boxes become labels by two thresholds measured on the mask set's `val/` (`measure`):

- score >= --face (confident): a face;
- --ignore <= score < --face (doubtful): an ignored face (WIDER's `invalid` flag set), which
  training counts neither as a face nor as background;
- below --ignore: dropped.

With `--existing LABELS`, the existing labels are completed and given the teacher's box style:
a confident teacher box that overlaps a label by IoU >= 0.5 replaces that label's box (the label's
`invalid` flag is kept), and a teacher box overlapping no labelled face (IoU < 0.3) is added by
the same two thresholds. The restyling is needed because the mask set's boxes are shorter and sit
lower on the face than those of WIDER FACE, which the teacher learned from and the detector is
judged on (on the mask set's val/, the teacher's boxes on the same faces are 11 % taller, their
centres 13 % of a face higher); a model trained on both styles draws boxes between them. With
`--ignore-unconfirmed` too, a label that no confident teacher box restyles becomes an ignored
face: `humanfaces/` labels about half its faces with boxes wider than tall, and a model trained
on them drew boxes 1.1-1.2x as wide as WIDER FACE's.

Each output folder holds `labels.txt` (WIDER `bbx_gt`), `keypoints.txt` (per image: the name, the
face count, then per face `x y w h score` and the five keypoints `x y` in labels order, -1 for a
face that came from the existing labels) and `images`, a relative link to the photos.

A fixed tenth of each folder of unlabelled ordinary photos (shanghaitech, wider-test,
caltech-webfaces) is held back from training: its labels go to `labels/holdout/<folder>` instead,
a second yardstick beside wider-dev that no model is trained on from then on, and all of them
together to `labels/holdout/all`. Which photos is a
property of the file name alone (the first byte of its MD5 below 26, about 10 %), so relabelling
never moves a photo across.

Commands:
    teacher_labels.py label --images DIR --out DIR [--existing labels.txt [--ignore-unconfirmed]]
    teacher_labels.py measure --data DIR         precision and recall by threshold on labelled data
    teacher_labels.py all                        regenerates every folder under labels/teacher
                                                 (and labels/holdout)
    teacher_labels.py split                      moves the held-back photos of the existing
                                                 labels/teacher folders to labels/holdout
"""

import argparse
import hashlib
import os
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SSDFACE_SHARED", ROOT.parent / "shared"))
TEACHER = SHARED / "peer-models" / "teachers" / "scrfd_2.5g_kps.onnx"

# Thresholds chosen from `measure` on val/ (see the README's "The bundled model").
FACE_THRESHOLD = 0.5
IGNORE_THRESHOLD = 0.3
# A teacher box overlapping an existing label by this IoU is that label.
COVERED_IOU = 0.3
# A confident teacher box overlapping an existing label by this IoU replaces its box.
RESTYLE_IOU = 0.5
# SCRFD's own suppression IoU, used for voting too.
NMS_IOU = 0.4
SCALES = (1.0, 2.0)
# Longest side the teacher sees (bounds memory and time on large photos).
MAX_SIDE = 2048
STRIDES = (8, 16, 32)


class Teacher:
    def __init__(self, model=TEACHER, threads=None, scales=SCALES):
        self.scales = scales
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def run_scale(self, rgb, scale):
        """Boxes (x1 y1 x2 y2), scores and keypoints of one scale, in source pixels, before NMS."""
        h, w = rgb.shape[:2]
        scale = min(scale, MAX_SIDE / max(h, w))
        sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
        resized = np.asarray(Image.fromarray(rgb).resize((sw, sh), Image.BILINEAR), dtype=np.float32)
        pw, ph = -(-sw // 32) * 32, -(-sh // 32) * 32
        blob = np.zeros((ph, pw, 3), np.float32)
        blob[:sh, :sw] = (resized - 127.5) / 128.0
        outputs = self.session.run(None, {self.input: blob.transpose(2, 0, 1)[None]})
        boxes, scores, points = [], [], []
        for level, stride in enumerate(STRIDES):
            score = outputs[level].reshape(-1)
            distance = outputs[level + 3].reshape(-1, 4) * stride
            offsets = outputs[level + 6].reshape(-1, 10) * stride
            gh, gw = ph // stride, pw // stride
            ys, xs = np.mgrid[:gh, :gw]
            centres = np.stack([xs, ys], -1).reshape(-1, 2).astype(np.float32) * stride
            centres = np.repeat(centres, 2, axis=0)  # two anchors per cell
            keep = score >= 0.05
            c = centres[keep]
            d = distance[keep]
            boxes.append(np.concatenate([c - d[:, :2], c + d[:, 2:]], 1))
            scores.append(score[keep])
            points.append(np.tile(c, 5) + offsets[keep])
        factor_x, factor_y = sw / w, sh / h
        boxes = np.concatenate(boxes) / np.array([factor_x, factor_y] * 2, np.float32)
        points = np.concatenate(points) / np.array([factor_x, factor_y] * 5, np.float32)
        return boxes, np.concatenate(scores), points

    def detect(self, rgb, min_score=0.05):
        """Faces of every scale merged by score-weighted box voting: (boxes, scores, keypoints)."""
        # A scale that MAX_SIDE caps to one already run adds nothing.
        h, w = rgb.shape[:2]
        effective = sorted({min(s, MAX_SIDE / max(h, w)) for s in self.scales})
        parts = [self.run_scale(rgb, s) for s in effective]
        boxes = np.concatenate([p[0] for p in parts])
        scores = np.concatenate([p[1] for p in parts])
        points = np.concatenate([p[2] for p in parts])
        keep = scores >= min_score
        boxes, scores, points = vote(boxes[keep], scores[keep], points[keep])
        h, w = rgb.shape[:2]
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
        size_ok = ((boxes[:, 2] - boxes[:, 0]) >= 1) & ((boxes[:, 3] - boxes[:, 1]) >= 1)
        return boxes[size_ok], scores[size_ok], points[size_ok]


def iou_matrix(a, b):
    """IoU of every box of `a` with every box of `b` (x1 y1 x2 y2)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = (x2 - x1).clip(0) * (y2 - y1).clip(0)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)


def vote(boxes, scores, points):
    """Greedy suppression in score order; each kept box is the score-weighted mean of the boxes
    it suppresses (itself included) and keeps the best score and that box's keypoints."""
    order = np.argsort(-scores)
    boxes, scores, points = boxes[order], scores[order], points[order]
    alive = np.ones(len(boxes), bool)
    out_boxes, out_scores, out_points = [], [], []
    overlaps = iou_matrix(boxes, boxes)
    for i in range(len(boxes)):
        if not alive[i]:
            continue
        group = alive & (overlaps[i] >= NMS_IOU)
        group[i] = True
        weights = scores[group][:, None]
        out_boxes.append((boxes[group] * weights).sum(0) / weights.sum())
        out_scores.append(scores[i])
        out_points.append(points[i])
        alive &= ~group
    if not out_boxes:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 10), np.float32)
    return np.array(out_boxes, np.float32), np.array(out_scores, np.float32), np.array(out_points, np.float32)


def read_labels(path):
    """WIDER `bbx_gt` text: [(name, [[x, y, w, h, *attributes], ...]), ...]."""
    lines = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    images, i = [], 0
    while i < len(lines):
        name, count = lines[i], int(lines[i + 1])
        i += 2
        faces = [[float(v) for v in lines[i + k].split()] for k in range(count)]
        i += count
        if count == 0 and i < len(lines) and all(v == "0" for v in lines[i].split()):
            i += 1
        images.append((name, faces))
    return images


def label_images(teacher, images_dir, existing, ignore_unconfirmed, face_threshold, ignore_threshold):
    """Per image: (name, faces as WIDER lines, keypoints lines)."""
    if existing:
        listed = read_labels(existing)
    else:
        names = sorted(
            str(p.relative_to(images_dir))
            for p in images_dir.rglob("*")
            if p.suffix.lower() in (".jpg", ".jpeg", ".png")
        )
        listed = [(name, []) for name in names]
    results = []
    for n, (name, faces) in enumerate(listed):
        rgb = np.asarray(Image.open(images_dir / name).convert("RGB"))
        boxes, scores, points = teacher.detect(rgb, ignore_threshold)
        known = np.array([[f[0], f[1], f[0] + f[2], f[1] + f[3]] for f in faces], np.float32).reshape(-1, 4)
        overlaps = iou_matrix(boxes, known)
        covered = (overlaps >= COVERED_IOU).any(1)
        lines, keypoints = [], []
        for k, f in enumerate(faces):
            xywh, score, point = restyled(f[:4], overlaps[:, k], boxes, scores, points, face_threshold)
            unconfirmed = ignore_unconfirmed and score is None
            lines.append(face_line(xywh, invalid=unconfirmed or (len(f) > 7 and f[7] != 0)))
            keypoints.append(keypoint_line(xywh, score, point))
        for box, score, point, is_covered in zip(boxes, scores, points, covered):
            if is_covered:
                continue
            xywh = corners_to_xywh(box)
            lines.append(face_line(xywh, invalid=score < face_threshold))
            keypoints.append(keypoint_line(xywh, score, point))
        results.append((name, lines, keypoints))
        if (n + 1) % 100 == 0:
            print(f"  {n + 1}/{len(listed)} images", file=sys.stderr)
    return results


def restyled(xywh, overlaps, boxes, scores, points, face_threshold):
    """A label's box in the teacher's style: the best-overlapping confident teacher box at IoU >=
    RESTYLE_IOU, with its score and keypoints; otherwise the label as it is, with None for both."""
    candidates = np.where((overlaps >= RESTYLE_IOU) & (scores >= face_threshold))[0]
    if len(candidates) == 0:
        return list(xywh), None, None
    best = candidates[overlaps[candidates].argmax()]
    return corners_to_xywh(boxes[best]), scores[best], points[best]


def corners_to_xywh(box):
    return [box[0], box[1], box[2] - box[0], box[3] - box[1]]


def face_line(xywh, invalid):
    x, y, w, h = xywh
    return f"{x:.2f} {y:.2f} {w:.2f} {h:.2f} 0 0 0 {int(invalid)} 0 0"


def keypoint_line(xywh, score, points):
    """`x y w h score` and the five keypoints; -1 for the score and keypoints a label has not."""
    if score is None:
        return " ".join(f"{v:.2f}" for v in xywh) + " -1" + " -1" * 10
    return " ".join(f"{v:.2f}" for v in xywh) + f" {score:.3f} " + " ".join(f"{v:.2f}" for v in points)


# Folders of ordinary photos whose held-back tenth goes to labels/holdout.
HOLDOUT_SOURCES = ("shanghaitech", "wider-test", "caltech-webfaces")
HOLDOUT = ROOT / "labels" / "holdout"


def held_out(name):
    """Whether the photo `name` (its path under images/) belongs to the held-back tenth."""
    return hashlib.md5(name.encode()).digest()[0] < 26


def write_split(folder_name, out, images_dir, results):
    """Write `results` to `out`, the held-back photos of a hold-out source to labels/holdout."""
    if folder_name not in HOLDOUT_SOURCES:
        write_folder(out, images_dir, results)
        return
    write_folder(out, images_dir, [r for r in results if not held_out(r[0])])
    write_folder(HOLDOUT / folder_name, images_dir, [r for r in results if held_out(r[0])])


def read_folder(folder):
    """A labels folder written by `write_folder`: [(name, label lines, keypoint lines), ...]."""
    def blocks(path):
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        found, i = {}, 0
        while i < len(lines):
            name, count = lines[i], int(lines[i + 1])
            rows = lines[i + 2 : i + 2 + max(count, 1 if path.name == "labels.txt" else 0)]
            found[name] = (count, rows)
            i += 2 + len(rows)
        return found
    labels, points = blocks(folder / "labels.txt"), blocks(folder / "keypoints.txt")
    return [(name, rows if count else [], points.get(name, (0, []))[1]) for name, (count, rows) in labels.items()]


def split_existing():
    """Re-partition every hold-out source's labels (teacher folder and holdout together)."""
    for name in HOLDOUT_SOURCES:
        folders = [f for f in (ROOT / "labels/teacher" / name, HOLDOUT / name) if (f / "labels.txt").is_file()]
        results = sorted((r for f in folders for r in read_folder(f)), key=lambda r: r[0])
        images = (ROOT / "labels/teacher" / name / "images").resolve()
        write_split(name, ROOT / "labels/teacher" / name, images, results)
    write_holdout_all()


def write_holdout_all():
    """labels/holdout/all: the held-back photos of every source as one folder (for `--val` and
    `eval`), each listed as SOURCE/NAME under an images/ folder of links to the sources."""
    out = HOLDOUT / "all"
    (out / "images").mkdir(parents=True, exist_ok=True)
    with open(out / "labels.txt", "w") as labels, open(out / "keypoints.txt", "w") as keypoints:
        for name in HOLDOUT_SOURCES:
            link = out / "images" / name
            if link.is_symlink() or link.exists():
                link.unlink()
            images = (HOLDOUT / name / "images").resolve()
            link.symlink_to(os.path.relpath(images, (out / "images").resolve()))
            for photo, lines, points in read_folder(HOLDOUT / name):
                labels.write(f"{name}/{photo}\n{len(lines)}\n")
                labels.write("".join(line + "\n" for line in lines) if lines else "0 0 0 0 0 0 0 0 0 0\n")
                keypoints.write(f"{name}/{photo}\n{len(points)}\n" + "".join(p + "\n" for p in points))


def write_folder(out, images_dir, results):
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "labels.txt", "w") as labels, open(out / "keypoints.txt", "w") as keypoints:
        for name, lines, points in results:
            labels.write(f"{name}\n{len(lines)}\n")
            labels.write("".join(line + "\n" for line in lines) if lines else "0 0 0 0 0 0 0 0 0 0\n")
            keypoints.write(f"{name}\n{len(points)}\n" + "".join(p + "\n" for p in points))
    link = out / "images"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(os.path.relpath(images_dir.resolve(), out.resolve()))
    faces = sum(1 for _, lines, _ in results for line in lines if line.split()[7] == "0")
    ignored = sum(1 for _, lines, _ in results for line in lines if line.split()[7] != "0")
    print(f"{out}: {len(results)} images, {faces} faces, {ignored} ignored", file=sys.stderr)


def labelled_detections(teacher, data, min_score):
    """Per photo of a labelled folder: its height in pixels, its labelled faces (as read) with
    their boxes as corners (x1 y1 x2 y2), and the teacher's boxes and scores from `min_score`."""
    for name, faces in read_labels(data / "labels.txt"):
        rgb = np.asarray(Image.open(data / "images" / name).convert("RGB"))
        boxes, scores, _ = teacher.detect(rgb, min_score)
        known = np.array([[f[0], f[1], f[0] + f[2], f[1] + f[3]] for f in faces], np.float32).reshape(-1, 4)
        yield rgb.shape[0], faces, known, boxes, scores


def measure_by_height(teacher, data, input_height=240):
    """The share of `data`'s faces that the teacher boxes (IoU >= 0.5) as faces (score >= the
    face threshold) and as faces or ignored faces (>= the ignore threshold), by the face's height
    at the detector's input (`input_height` rows for the whole photo): the small faces that the
    teacher's labels teach. Faces flagged invalid are left out."""
    edges = [6, 8, 10, 12, 14, 16, 32, 10_000]
    totals = np.zeros(len(edges) - 1)
    as_face = np.zeros(len(edges) - 1)
    as_any = np.zeros(len(edges) - 1)
    for photo_height, faces, known, boxes, scores in labelled_detections(teacher, data, IGNORE_THRESHOLD):
        valid = np.array([len(f) < 8 or f[7] == 0 for f in faces], bool)
        known = known[valid]
        heights = (known[:, 3] - known[:, 1]) * input_height / photo_height
        overlaps = iou_matrix(known, boxes)
        for bucket in range(len(edges) - 1):
            inside = (heights >= edges[bucket]) & (heights < edges[bucket + 1])
            totals[bucket] += inside.sum()
            if len(boxes):
                as_face[bucket] += ((overlaps[inside][:, scores >= FACE_THRESHOLD] >= 0.5).any(1)).sum()
                as_any[bucket] += ((overlaps[inside] >= 0.5).any(1)).sum()
    print(f"height at {input_height} rows  faces  as faces  as faces or ignored")
    for bucket in range(len(edges) - 1):
        upper = "" if edges[bucket + 1] == 10_000 else f"{edges[bucket + 1]}"
        label = f"{edges[bucket]}-{upper} px" if upper else f">= {edges[bucket]} px"
        n = max(totals[bucket], 1)
        print(f"{label:>20} {int(totals[bucket]):6d} {as_face[bucket] / n:9.3f} {as_any[bucket] / n:20.3f}")


def measure(teacher, data):
    """Precision and recall of the teacher's boxes against `data`'s labels, by score threshold."""
    thresholds = np.array([0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    hits = np.zeros(len(thresholds))
    boxes_at = np.zeros(len(thresholds))
    found = np.zeros(len(thresholds))
    total = 0
    for _, _, known, boxes, scores in labelled_detections(teacher, data, thresholds[0]):
        overlaps = iou_matrix(boxes, known)
        total += len(known)
        for t, threshold in enumerate(thresholds):
            above = scores >= threshold
            boxes_at[t] += above.sum()
            hits[t] += (overlaps[above] >= 0.5).any(1).sum() if len(known) else 0
            found[t] += (overlaps[above] >= 0.5).any(0).sum() if above.any() else 0
    print("threshold  boxes  precision  recall")
    for t, threshold in enumerate(thresholds):
        precision = hits[t] / max(boxes_at[t], 1)
        print(f"{threshold:9.2f} {int(boxes_at[t]):6d} {precision:10.3f} {found[t] / max(total, 1):7.3f}")


# Every teacher-labelled folder: (output under labels/teacher, images, existing labels or None,
# whether existing labels that the teacher does not confirm are ignored).
FOLDERS = [
    ("shanghaitech", SHARED / "data/unlabeled/shanghaitech/images", None, False),
    ("wider-test", SHARED / "data/unlabeled/wider-test/images", None, False),
    ("caltech-webfaces", SHARED / "data/unlabeled/caltech-webfaces/images", None, False),
    ("train", SHARED / "data/train/images", SHARED / "data/train/labels.txt", False),
    ("humanfaces", SHARED / "data/humanfaces/images", SHARED / "data/humanfaces/labels.txt", True),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    label = commands.add_parser("label", help="label one folder of images")
    label.add_argument("--images", type=Path, required=True)
    label.add_argument("--out", type=Path, required=True)
    label.add_argument("--existing", type=Path, help="labels.txt to complete instead of replace")
    label.add_argument(
        "--ignore-unconfirmed",
        action="store_true",
        help="existing labels that no confident teacher box restyles become ignored faces",
    )
    for sub in (label, commands.add_parser("all", help="regenerate labels/teacher/*")):
        sub.add_argument("--face", type=float, default=FACE_THRESHOLD)
        sub.add_argument("--ignore", type=float, default=IGNORE_THRESHOLD)
        sub.add_argument("--threads", type=int, default=None)
    commands.add_parser("split", help="move the held-back photos to labels/holdout")
    check = commands.add_parser("measure", help="precision and recall by threshold")
    check.add_argument("--data", type=Path, default=SHARED / "data/val")
    check.add_argument("--threads", type=int, default=None)
    check.add_argument("--by-height", action="store_true",
                       help="recall by face height at 320x240 (e.g. on wider-dev/hard)")
    for sub in (label, check, commands.choices["all"]):
        sub.add_argument("--scales", type=lambda v: tuple(float(s) for s in v.split(",")),
                         default=SCALES, help="scales the teacher runs at (default 1,2)")
    args = parser.parse_args()

    if args.command == "split":
        split_existing()
        return
    if not TEACHER.is_file():
        sys.exit(f"error: the teacher model is missing: {TEACHER}")
    teacher = Teacher(threads=args.threads, scales=args.scales)
    if args.command == "measure":
        (measure_by_height if args.by_height else measure)(teacher, args.data)
        return
    if not 0 < args.ignore <= args.face <= 1:
        sys.exit(f"error: need 0 < --ignore ({args.ignore}) <= --face ({args.face}) <= 1")
    if args.command == "label" and args.ignore_unconfirmed and not args.existing:
        sys.exit("error: --ignore-unconfirmed needs --existing")
    jobs = (
        [(args.out, args.images, args.existing, args.ignore_unconfirmed)]
        if args.command == "label"
        else [(ROOT / "labels/teacher" / name, *rest) for name, *rest in FOLDERS]
    )
    for out, images, existing, ignore_unconfirmed in jobs:
        if not images.is_dir():
            sys.exit(f"error: no such folder: {images}")
        results = label_images(teacher, images, existing, ignore_unconfirmed, args.face, args.ignore)
        if args.command == "all":
            write_split(out.name, out, images, results)
        else:
            write_folder(out, images, results)
    if args.command == "all":
        write_holdout_all()


if __name__ == "__main__":
    main()
