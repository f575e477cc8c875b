#!/usr/bin/env python3
"""Native peers: established face detectors run beside ssdface on the same images and machine.

Peers (released weights in ``../shared/peer-models``, see its README):

- ``ultraface-rfb-320``, ``ultraface-slim-320`` (1x3x240x320) and ``ultraface-rfb-640`` (1x3x480x640):
  Ultra-Light-Fast-Generic-Face-Detector-1MB, ONNX with decoding built in, run in onnxruntime (CPU).
  As in the authors' ``detect_imgs_onnx.py``: stretch-resize the RGB image to the net input
  (``cv2.resize``, bilinear), ``(pixel - 127) / 128``, NCHW float32, inference, keep scores above
  the threshold, hard NMS at IoU 0.3 over the highest-scoring candidates, normalised corners scaled
  back to source pixels.
- ``yunet-n``, ``yunet-s``: YuNet (libfacedetection), fixed 640x640 export, run in OpenCV's
  ``cv2.FaceDetectorYN`` (OpenCV dnn, CPU): stretch-resize to 640x640, RGB -> BGR, ``detect``
  (decoding, threshold and NMS at IoU 0.3 happen inside), boxes scaled back to source pixels.

Every peer's boxes are finally clipped to the image, as ssdface clips its own, and the
labelled boxes are clipped too (data README), so no side gains or loses IoU at image borders.

Two operating points, both fixed here:

- accuracy (``predict``): score threshold 0.01 and up to 750 boxes per image, so precision-recall
  curves reach the detector's full recall (WIDER FACE practice). UltraFace considers the 3,000
  highest-scoring boxes in NMS (the authors' WIDER script used 800 candidates, 400 kept, at 0.1);
  YuNet keeps its top 5,000 before NMS (OpenCV's default).
- speed (``speed``): each peer's usual default: UltraFace threshold 0.7 with the 200 NMS candidates
  of the authors' demo; YuNet threshold 0.9, top 5,000 (OpenCV zoo demo). No cap on boxes.

Subcommands:

``predict --data DIR --out DIR [--peers a,b]``
    WIDER FACE submission files ``OUT/<peer>/<image path with .txt>``: the image's relative path,
    the number of boxes, then ``x y w h score`` per box (top-left, source pixels) -- the format
    ``ssdface eval`` writes and reads back.
``speed --frame PHOTO --out FILE.json [--rounds 5] [--runs 10] [--warm-up 5] [--threads 1,N]``
    Milliseconds per frame at 320x240 and 640x480 for the peers and ssdface, interleaved in one
    invocation because the machine is shared and noisy: every round visits every (size, threads)
    pair and, inside it, every detector (the starting detector rotates by round). A run is the
    whole per-image work from an in-memory RGB uint8 frame: resize to the net input, normalise,
    inference, decoding, NMS, scaling back. Each (size, threads, detector) visit makes one cold
    call (the first call of round 1 is reported as ``cold_ms``), ``warm-up`` untimed calls, then
    ``runs`` timed calls. ssdface is timed by ``cargo bench --bench detection`` as a subprocess
    each round (``RAYON_NUM_THREADS``); peers use one onnxruntime session / OpenCV detector per
    (peer, threads), created once, with ``intra_op_num_threads = threads``, ``inter_op = 1``,
    sequential execution, and ``cv2.setNumThreads(threads)``. ``--weights`` sets ``SSDFACE_WEIGHTS``
    for the bench (needed when the build bundles no model); ``--no-ssdface`` times the peers only.
    A failed ssdface round is reported and skipped; the JSON is still written and the exit status is 1.
``sizes --out FILE.json``
    Bytes of each peer's model file.

Run with the bench virtualenv, e.g. ``bench/.venv/bin/python bench/native_peers.py predict
--data ../shared/data/val --out bench/out/peers-val``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from ssdface_bench import REPO, cargo_bench, cpu_model

MODELS = REPO.parent / "shared" / "peer-models"
FRAME_SIZES = ((320, 240), (640, 480))


@dataclass(frozen=True)
class Profile:
    """One operating point: which boxes a peer keeps."""

    score_threshold: float
    nms_iou: float
    candidates: int  # boxes considered by NMS (UltraFace) / kept before NMS (YuNet)
    keep: int  # boxes kept after NMS; 0 = all


ACCURACY = {
    "ultraface": Profile(score_threshold=0.01, nms_iou=0.3, candidates=3000, keep=750),
    "yunet": Profile(score_threshold=0.01, nms_iou=0.3, candidates=5000, keep=750),
}
SPEED = {
    "ultraface": Profile(score_threshold=0.7, nms_iou=0.3, candidates=200, keep=0),
    "yunet": Profile(score_threshold=0.9, nms_iou=0.3, candidates=5000, keep=0),
}


@dataclass(frozen=True)
class PeerSpec:
    """A released peer model: its family, file and fixed network input (width, height)."""

    family: str
    file: str
    input_size: tuple[int, int]
    backend: str


PEERS = {
    "ultraface-rfb-320": PeerSpec("ultraface", "ultraface/version-RFB-320.onnx", (320, 240), "onnxruntime cpu"),
    "ultraface-slim-320": PeerSpec("ultraface", "ultraface/version-slim-320.onnx", (320, 240), "onnxruntime cpu"),
    "ultraface-rfb-640": PeerSpec("ultraface", "ultraface/version-RFB-640.onnx", (640, 480), "onnxruntime cpu"),
    "yunet-n": PeerSpec("yunet", "yunet/yunet_n_640_640.onnx", (640, 640), "opencv dnn"),
    "yunet-s": PeerSpec("yunet", "yunet/yunet_s_640_640.onnx", (640, 640), "opencv dnn"),
}


# ---------------------------------------------------------------- box helpers


def hard_nms(boxes: np.ndarray, scores: np.ndarray, iou: float, candidates: int, keep: int) -> np.ndarray:
    """Greedy (hard) NMS as in UltraFace's ``box_utils_numpy.hard_nms``: indexes of kept boxes.

    Only the ``candidates`` highest scores take part, as in the authors' code; ``keep`` > 0 stops
    after that many boxes.
    """
    order = np.argsort(-scores, kind="stable")[:candidates]
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    picked = []
    while order.size > 0:
        current = order[0]
        picked.append(current)
        if 0 < keep == len(picked):
            break
        rest = order[1:]
        left_top = np.maximum(boxes[rest, :2], boxes[current, :2])
        right_bottom = np.minimum(boxes[rest, 2:], boxes[current, 2:])
        overlap = np.prod(np.clip(right_bottom - left_top, 0, None), axis=1)
        ratio = overlap / (areas[rest] + areas[current] - overlap + 1e-5)
        order = rest[ratio <= iou]
    return np.asarray(picked, dtype=np.int64)


def clip_corners(detections: np.ndarray, width: int, height: int) -> np.ndarray:
    """Clip ``x1 y1 x2 y2 score`` rows to the image, the same last step ssdface applies."""
    detections[:, [0, 2]] = np.clip(detections[:, [0, 2]], 0, width)
    detections[:, [1, 3]] = np.clip(detections[:, [1, 3]], 0, height)
    detections[:, 2:4] = np.maximum(detections[:, 2:4], detections[:, 0:2])  # no negative sizes
    return detections


def top_scores(detections: np.ndarray, keep: int) -> np.ndarray:
    """Rows sorted by descending score, at most ``keep`` of them (0 = all)."""
    detections = detections[np.argsort(-detections[:, 4], kind="stable")]
    return detections[:keep] if keep > 0 else detections


# ---------------------------------------------------------------- detectors


def onnx_session(path: Path, threads: int) -> ort.InferenceSession:
    """A CPU session pinned to ``threads`` intra-op threads, one inter-op thread, sequential."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # the released UltraFace graphs warn about initializers as inputs
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


class UltraFace:
    """UltraFace with built-in decoding, run the way the authors' ONNX demo runs it."""

    def __init__(self, path: Path, input_size: tuple[int, int], threads: int, profile: Profile):
        self.session = onnx_session(path, threads)
        self.input_name = self.session.get_inputs()[0].name
        self.input_size = input_size
        self.profile = profile

    def preprocess(self, rgb: np.ndarray) -> np.ndarray:
        """Stretch-resize to the net input and normalise to ``(pixel - 127) / 128``, NCHW."""
        resized = cv2.resize(rgb, self.input_size)
        tensor = (resized.astype(np.float32) - 127.0) / 128.0
        return np.ascontiguousarray(tensor.transpose(2, 0, 1)[np.newaxis])

    def detect(self, rgb: np.ndarray) -> np.ndarray:
        """``x1 y1 x2 y2 score`` rows in source pixels, best first."""
        scores, boxes = self.session.run(None, {self.input_name: self.preprocess(rgb)})
        face_scores, boxes = scores[0, :, 1], boxes[0]
        mask = face_scores > self.profile.score_threshold
        face_scores, boxes = face_scores[mask], boxes[mask]
        picked = hard_nms(boxes, face_scores, self.profile.nms_iou, self.profile.candidates, self.profile.keep)
        height, width = rgb.shape[:2]
        detections = np.concatenate([boxes[picked], face_scores[picked, np.newaxis]], axis=1)
        detections[:, :4] *= np.array([width, height, width, height], dtype=np.float32)
        return clip_corners(detections.astype(np.float64), width, height)


class YuNet:
    """YuNet's fixed 640x640 export in OpenCV's FaceDetectorYN."""

    def __init__(self, path: Path, input_size: tuple[int, int], profile: Profile):
        self.detector = cv2.FaceDetectorYN.create(
            str(path), "", input_size, profile.score_threshold, profile.nms_iou, profile.candidates
        )
        self.input_size = input_size
        self.profile = profile

    def detect(self, rgb: np.ndarray) -> np.ndarray:
        """``x1 y1 x2 y2 score`` rows in source pixels, best first."""
        bgr = cv2.cvtColor(cv2.resize(rgb, self.input_size), cv2.COLOR_RGB2BGR)
        _, faces = self.detector.detect(bgr)
        if faces is None:
            return np.zeros((0, 5))
        height, width = rgb.shape[:2]
        scale_x, scale_y = width / self.input_size[0], height / self.input_size[1]
        x, y, w, h, score = (faces[:, i].astype(np.float64) for i in (0, 1, 2, 3, 14))
        detections = np.stack([x * scale_x, y * scale_y, (x + w) * scale_x, (y + h) * scale_y, score], axis=1)
        return clip_corners(top_scores(detections, self.profile.keep), width, height)


def make_detector(name: str, threads: int, profiles: dict[str, Profile], models: Path):
    """The peer ``name`` at one operating point, its runtime limited to ``threads``."""
    spec = PEERS[name]
    path = models / spec.file
    if spec.family == "ultraface":
        return UltraFace(path, spec.input_size, threads, profiles["ultraface"])
    return YuNet(path, spec.input_size, profiles["yunet"])


def parse_peers(text: str | None) -> list[str]:
    """Peer names from a comma list (all when empty), rejecting unknown ones early."""
    names = [n.strip() for n in text.split(",") if n.strip()] if text else list(PEERS)
    unknown = [n for n in names if n not in PEERS]
    if unknown:
        raise SystemExit(f"unknown peer(s) {unknown}; known: {', '.join(PEERS)}")
    return names


# ---------------------------------------------------------------- predict


def read_image_paths(labels: Path) -> list[str]:
    """Relative image paths of a WIDER ``bbx_gt`` file (a count of 0 still has one line of zeros)."""
    lines = [line.strip() for line in labels.read_text().splitlines()]
    paths, i = [], 0
    while i < len(lines):
        if not lines[i]:
            i += 1
            continue
        paths.append(lines[i])
        count = int(lines[i + 1])
        i += 2 + max(count, 1)
    return paths


def load_rgb(path: Path) -> np.ndarray:
    """The stored pixels as RGB uint8, EXIF orientation ignored (labels are in stored pixels)."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if bgr is None:
        raise SystemExit(f"cannot read image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def submission_text(relative: str, detections: np.ndarray) -> str:
    """One WIDER FACE submission file: path, count, ``x y w h score`` lines."""
    lines = [relative, str(len(detections))]
    for x1, y1, x2, y2, score in detections:
        lines.append(f"{x1:.1f} {y1:.1f} {x2 - x1:.1f} {y2 - y1:.1f} {score:.4f}")
    return "\n".join(lines) + "\n"


def predict_peer(name: str, data: Path, paths: list[str], out: Path, models: Path) -> int:
    """Write one peer's submission files for every image; returns the number of boxes written."""
    detector = make_detector(name, os.cpu_count() or 1, ACCURACY, models)
    total = 0
    for relative in paths:
        detections = detector.detect(load_rgb(data / "images" / relative))
        target = (out / name / relative).with_suffix(".txt")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(submission_text(relative, detections))
        total += len(detections)
    return total


def command_predict(args: argparse.Namespace) -> None:
    """``predict``: submission files for every image and every chosen peer."""
    paths = read_image_paths(args.data / "labels.txt")
    cv2.setNumThreads(os.cpu_count() or 1)
    for name in parse_peers(args.peers):
        start = time.perf_counter()
        boxes = predict_peer(name, args.data, paths, args.out, args.models)
        print(
            f"{name}: {len(paths)} images, {boxes} boxes, {time.perf_counter() - start:.1f} s -> {args.out / name}",
            flush=True,
        )


# ---------------------------------------------------------------- speed


def stretch_frames(photo: Path) -> dict[str, np.ndarray]:
    """The photo stretch-resized to each benchmark frame size, RGB uint8, keyed ``WxH``."""
    rgb = load_rgb(photo)
    return {f"{w}x{h}": cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA) for w, h in FRAME_SIZES}


def time_calls(detect, frame: np.ndarray, runs: int, warm_up: int) -> tuple[float, list[float]]:
    """Cold call, ``warm_up`` untimed calls, then ``runs`` timed calls (ms)."""
    start = time.perf_counter()
    detect(frame)
    cold = (time.perf_counter() - start) * 1e3
    for _ in range(warm_up):
        detect(frame)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        detect(frame)
        times.append((time.perf_counter() - start) * 1e3)
    return cold, times


def time_ssdface(photo: Path, size: str, threads: int, runs: int, warm_up: int,
                 weights: Path | None) -> dict | None:
    """One round of ssdface timings on flex from its ``detection`` bench; None (and a warning)
    on failure."""
    try:
        return cargo_bench("detection", ["--frame", str(photo), "--size", size, "--runs", str(runs),
                                         "--warm-up", str(warm_up)], threads, weights)["cpu (flex)"]
    except (RuntimeError, KeyError) as error:
        print(f"warning: ssdface bench failed at {size}, {threads} threads: {error}",
              file=sys.stderr, flush=True)
        return None


def new_result(detector: str, backend: str, size: str, threads: int) -> dict:
    """An empty result row in the output JSON's shape."""
    return {"detector": detector, "backend": backend, "size": size, "threads": threads,
            "cold_ms": None, "round_medians_ms": [], "times_ms": []}


def add_round(result: dict, cold: float, times: list[float]) -> None:
    """Fold one round's times into a result; the first round's cold call is the one reported."""
    if result["cold_ms"] is None:
        result["cold_ms"] = cold
    result["round_medians_ms"].append(statistics.median(times))
    result["times_ms"].extend(times)


def parse_threads(text: str | None) -> list[int]:
    """Thread counts to test: ``1`` and all cores by default, duplicates dropped."""
    values = [int(t) for t in text.split(",")] if text else [1, os.cpu_count() or 1]
    return list(dict.fromkeys(values))


def machine_info() -> dict:
    """What the timings depend on besides the code."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "onnxruntime": ort.__version__, "opencv": cv2.__version__}


def run_speed(args: argparse.Namespace, peers: list[str], threads_list: list[int]) -> tuple[list[dict], int]:
    """The interleaved rounds; returns result rows and the number of failed ssdface rounds."""
    frames = stretch_frames(args.frame)
    detectors = ([] if args.no_ssdface else ["ssdface"]) + peers
    instances: dict[tuple[str, int], object] = {}
    results: dict[tuple[str, str, int], dict] = {}
    failures = 0
    for round_index in range(args.rounds):
        for size, frame in frames.items():
            for threads in threads_list:
                cv2.setNumThreads(threads)
                shift = round_index % len(detectors)
                for name in detectors[shift:] + detectors[:shift]:
                    backend = "cpu (flex)" if name == "ssdface" else PEERS[name].backend
                    row = results.setdefault((name, size, threads), new_result(name, backend, size, threads))
                    if name == "ssdface":
                        record = time_ssdface(args.frame.resolve(), size, threads, args.runs, args.warm_up, args.weights)
                        if record is None:
                            failures += 1
                            continue
                        row["backend"] = record.get("backend", backend)
                        add_round(row, float(record["cold_ms"]), [float(t) for t in record["times_ms"]])
                        continue
                    key = (name, threads)
                    if key not in instances:
                        instances[key] = make_detector(name, threads, SPEED, args.models)
                    cold, times = time_calls(instances[key].detect, frame, args.runs, args.warm_up)
                    add_round(row, cold, times)
        print(f"round {round_index + 1}/{args.rounds} done", flush=True)
    return [row for row in results.values() if row["times_ms"]], failures


def print_table(results: list[dict]) -> None:
    """Warm medians, minima and maxima over all rounds, one line per result."""
    print(f"{'detector':<20} {'size':>8} {'threads':>7} {'median ms':>10} {'min':>8} {'max':>8}")
    for row in sorted(results, key=lambda r: (r["size"], r["threads"], r["detector"])):
        times = row["times_ms"]
        print(f"{row['detector']:<20} {row['size']:>8} {row['threads']:>7} "
              f"{statistics.median(times):>10.2f} {min(times):>8.2f} {max(times):>8.2f}")


def command_speed(args: argparse.Namespace) -> None:
    """``speed``: interleaved timings of ssdface and the peers, written as JSON."""
    started = time.perf_counter()
    results, failures = run_speed(args, parse_peers(args.peers), parse_threads(args.threads))
    report = {"kind": "native-speed", "machine": machine_info(), "date": datetime.date.today().isoformat(),
              "frame": str(args.frame), "rounds": args.rounds, "runs": args.runs, "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print_table(results)
    print(f"wrote {args.out} in {time.perf_counter() - started:.0f} s")
    if failures:
        raise SystemExit(f"ssdface bench failed in {failures} round(s); its results are partial or missing")


# ---------------------------------------------------------------- sizes


def command_sizes(args: argparse.Namespace) -> None:
    """``sizes``: bytes of each peer's model file, as JSON."""
    results = [{"detector": name, "file": spec.file, "bytes": (args.models / spec.file).stat().st_size}
               for name, spec in PEERS.items()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"kind": "native-sizes", "results": results}, indent=1) + "\n")
    for row in results:
        print(f"{row['detector']:<20} {row['bytes']:>10,} B  {row['file']}")


# ---------------------------------------------------------------- CLI


def parser() -> argparse.ArgumentParser:
    """The command line: predict, speed and sizes."""
    top = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    top.add_argument("--models", type=Path, default=MODELS, help="peer-models folder (default: %(default)s)")
    commands = top.add_subparsers(dest="command", required=True)

    predict = commands.add_parser("predict", help="WIDER FACE submission files for each peer")
    predict.add_argument("--data", type=Path, required=True, help="folder with labels.txt and images/")
    predict.add_argument("--out", type=Path, required=True, help="folder for OUT/<peer>/<image>.txt")
    predict.add_argument("--peers", help=f"comma list (default: all of {','.join(PEERS)})")
    predict.set_defaults(run=command_predict)

    speed = commands.add_parser("speed", help="interleaved latency of ssdface and the peers")
    speed.add_argument("--frame", type=Path, required=True, help="photo, stretched to 320x240 and 640x480")
    speed.add_argument("--out", type=Path, required=True, help="JSON file to write")
    speed.add_argument("--rounds", type=int, default=5)
    speed.add_argument("--runs", type=int, default=10, help="timed runs per detector, size and threads per round")
    speed.add_argument("--warm-up", type=int, default=5, help="untimed runs after the cold one, per round")
    speed.add_argument("--threads", help="comma list (default: 1,<cpu count>)")
    speed.add_argument("--peers", help="comma list (default: all)")
    speed.add_argument("--weights", type=Path,
                       help="ssdface model for the bench (sets SSDFACE_WEIGHTS; default: inherited / bundled)")
    speed.add_argument("--no-ssdface", action="store_true", help="time the peers only")
    speed.set_defaults(run=command_speed)

    sizes = commands.add_parser("sizes", help="model file sizes")
    sizes.add_argument("--out", type=Path, required=True, help="JSON file to write")
    sizes.set_defaults(run=command_sizes)
    return top


def main() -> None:
    args = parser().parse_args()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    args.run(args)


if __name__ == "__main__":
    main()
