"""BENCHMARKS.md and its charts from the raw results that bench/run.sh leaves in bench/out/.

    bench/.venv/bin/python bench/report.py [--out bench/out] [--doc BENCHMARKS.md]
        [--charts bench/results]

Inputs (each written by one script of bench/run.sh):
  wider-eval/<detector>/{easy,medium,hard}/report.json                   `ssdface eval`
  eval/<detector>-iou50/report.json, eval/<detector>-iou30/report.json   `ssdface eval`
  native_speed.json, native_sizes.json                                  native_peers.py
  browser_speed.json, browser_sizes.json                                browser_peers.mjs
  training_speed.json, training_layers.json                             torch_ssd.py
A missing input leaves its section saying so rather than failing: one peer that cannot run
must not hide the others' figures.

Speed claims are ratios: every script times ssdface and its peers interleaved in rounds, so a
ratio of the two medians of one round is measured under the same load. The tables give the
median of those per-round ratios with their spread (min-max).
"""

import argparse
import json
import statistics
from pathlib import Path

import matplotlib

from ssdface_bench import layer_kind_table

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SIZES = ("all", "small", "medium", "large")

# Where each detector runs and what it is, for the tables' first columns.
DESCRIPTIONS = {
    "ssdface": "ssdface (this project), SSD 320x240",
    "ultraface-rfb-320": "Ultra-Light RFB-320",
    "ultraface-slim-320": "Ultra-Light slim-320",
    "ultraface-rfb-640": "Ultra-Light RFB-640",
    "yunet-n": "YuNet n (640x640)",
    "yunet-s": "YuNet s (640x640)",
    "faceapi-ssd-mobilenetv1": "face-api SSD MobileNetV1",
    "faceapi-tiny": "face-api TinyFaceDetector",
    "human-blazeface": "Human BlazeFace",
}


def load(path):
    """The JSON at `path`, or None when that step did not run."""
    return json.loads(path.read_text()) if path.is_file() else None


def fmt_ms(value):
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def spread(values):
    """`median (min-max)` of a list of numbers."""
    return (
        f"{fmt_ms(statistics.median(values))} "
        f"({fmt_ms(min(values))}-{fmt_ms(max(values))})"
    )


def ratio_spread(numerators, denominators):
    """Per-round ratios of two interleaved series: `median x (min-max)`."""
    ratios = [n / d for n, d in zip(numerators, denominators)]
    return (
        f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
    )


def ratio_cell(result, own):
    """The table cell comparing `result` with ssdface's `own` result of the same rounds."""
    if result is own:
        return "1"
    if own and len(result["round_medians_ms"]) == len(own["round_medians_ms"]):
        return ratio_spread(result["round_medians_ms"], own["round_medians_ms"])
    return "-"


def not_measured(title, what):
    """A section whose input is missing: it says so instead of failing the report."""
    return [f"## {title}", "", f"Not measured ({what} is missing).", ""]


def accuracy(out):
    """{detector: {"iou50": report, "iou30": report}} from eval/."""
    reports = {}
    for path in sorted((out / "eval").glob("*/report.json")):
        name, _, iou = path.parent.name.rpartition("-")
        reports.setdefault(name, {})[iou] = json.loads(path.read_text())
    return reports


WIDER_SETTINGS = ("easy", "medium", "hard")


def wider_accuracy(out):
    """{detector: {setting: report}} from wider-eval/."""
    reports = {}
    for path in sorted((out / "wider-eval").glob("*/*/report.json")):
        reports.setdefault(path.parent.parent.name, {})[path.parent.name] = json.loads(path.read_text())
    return {d: r for d, r in reports.items() if all(s in r for s in WIDER_SETTINGS)}


def wider_section(reports):
    lines = [
        "## Accuracy on ordinary photos: WIDER FACE easy, medium, hard",
        "",
        "`../shared/data/wider-dev`: 103 WIDER FACE validation photos (parades, meetings,",
        "streets, ...; stored at 416x416) with the official ground truth and settings, never",
        "trained on. AP at IoU 0.5 per setting, from one `ssdface eval --data ../shared/data/wider-dev",
        "--predictions` per detector (score threshold 0.01).",
        "",
        "| detector | easy | medium | hard | recall, hard |",
        "|---|---|---|---|---|",
    ]
    order = sorted(reports, key=lambda d: -ap_of(reports[d]["hard"])["ap"])
    for detector in order:
        cells = [f"{ap_of(reports[detector][s])['ap']:.3f}" for s in WIDER_SETTINGS]
        cells.append(f"{ap_of(reports[detector]['hard'])['recall']:.3f}")
        lines.append(f"| {DESCRIPTIONS.get(detector, detector)} | " + " | ".join(cells) + " |")
    faces = {s: ap_of(reports[order[0]][s])["faces"] for s in WIDER_SETTINGS}
    lines += [
        "",
        f"Faces counted: easy {faces['easy']}, medium {faces['medium']}, hard {faces['hard']}.",
        "",
    ]
    return lines


def ap_of(report, sizes="all"):
    return next(r for r in report["results"] if r["sizes"] == sizes)


def accuracy_section(reports):
    lines = [
        "## Accuracy on the mask set",
        "",
        "Validation split of `../shared/data` (81 % masked faces; WIDER FACE protocol: greedy matching in score",
        "order, 1000 thresholds, VOC-interpolated AP; face height small < 32 px, medium 32-96,",
        "large > 96). Every detector's boxes are written as WIDER submission files and scored",
        "by the same `ssdface eval --predictions`. AP at IoU 0.3 is given too because some",
        "peers draw boxes of another shape than these labels (BlazeFace and face-api's",
        "square-ish boxes include forehead and chin), which costs them matches at 0.5.",
        "",
        "| detector | AP all | small | medium | large | recall | AP all, IoU 0.3 |",
        "|---|---|---|---|---|---|---|",
    ]
    order = sorted(reports, key=lambda d: -ap_of(reports[d]["iou50"])["ap"])
    for detector in order:
        r50 = reports[detector]["iou50"]
        r30 = reports[detector].get("iou30")
        cells = [f"{ap_of(r50, s)['ap']:.3f}" for s in SIZES]
        cells.append(f"{ap_of(r50)['recall']:.3f}")
        cells.append(f"{ap_of(r30)['ap']:.3f}" if r30 else "-")
        lines.append(f"| {DESCRIPTIONS.get(detector, detector)} | " + " | ".join(cells) + " |")
    faces = {s: ap_of(reports[order[0]]["iou50"], s)["faces"] for s in SIZES}
    images = reports[order[0]]["iou50"]["images"]
    lines += [
        "",
        f"{images} images, {faces['all']} faces ({faces['small']} small, "
        f"{faces['medium']} medium, {faces['large']} large). Precision-recall curves: "
        "[bench/results/pr_curves.png](bench/results/pr_curves.png).",
        "",
    ]
    return lines


def pr_chart(reports, path):
    fig, ax = plt.subplots(figsize=(7, 5.5))
    for detector, pair in sorted(reports.items(), key=lambda kv: -ap_of(kv[1]["iou50"])["ap"]):
        curve = pair["iou50"]["curve"]
        style = {"linewidth": 2.5, "color": "black"} if detector == "ssdface" else {}
        ax.plot(
            curve["recall"],
            curve["precision"],
            label=f"{detector} (AP {ap_of(pair['iou50'])['ap']:.3f})",
            **style,
        )
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
    ax.set_title("Precision-recall on the validation split, IoU 0.5, all face sizes")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def by_setting(results, key):
    """Group speed results by their setting (size and threads, or browser frame)."""
    groups = {}
    for r in results:
        groups.setdefault(key(r), []).append(r)
    return groups


def native_speed_section(speed):
    if speed is None:
        return not_measured("Native speed", "`native_speed.json`")
    lines = [
        "## Native speed (CPU)",
        "",
        "Milliseconds per image, the whole detection (resize, normalise, network, decoding,",
        f"suppression), warm; {speed['rounds']} rounds of {speed['runs']} runs per detector,",
        "interleaved. The ratio is the peer's time over ssdface's in the same round, so above",
        "1 means ssdface is faster. ssdface runs on burn's Flex CPU backend; peers on",
        "onnxruntime (Ultra-Light) and OpenCV's DNN module (YuNet).",
        "",
    ]
    groups = by_setting(speed["results"], lambda r: (r["size"], r["threads"]))
    for (size, threads), results in sorted(groups.items(), key=lambda kv: (kv[0][0] != "320x240", kv[0][1])):
        own = next((r for r in results if r["detector"] == "ssdface"), None)
        lines += [
            f"**{size} input, {threads} thread{'s' if threads > 1 else ''}**",
            "",
            "| detector | backend | ms, median (min-max) | cold ms | peer / ssdface |",
            "|---|---|---|---|---|",
        ]
        for r in sorted(results, key=lambda r: statistics.median(r["times_ms"])):
            lines.append(
                f"| {r['detector']} | {r['backend']} | {spread(r['times_ms'])} | "
                f"{fmt_ms(r['cold_ms'])} | {ratio_cell(r, own)} |"
            )
        lines.append("")
    return lines


def browser_speed_section(speed):
    if speed is None:
        return not_measured("Browser speed", "`browser_speed.json`")
    machine = speed["machine"]
    lines = [
        "## Browser speed",
        "",
        f"Headless Chromium {machine.get('chromium', '?')}, WebGPU adapter: "
        f"{machine.get('webgpu_adapter', '?')}. Milliseconds per 640x480 frame "
        "(`detect(ImageData)`), cold first call and warm frames in interleaved rounds. Each",
        "peer runs on the best tfjs backend the page could get. The ratio is the peer's time",
        "over ssdface on the CPU (wasm) in the same round.",
        "",
        "| detector | backend | frames | ms, median (min-max) | cold ms | cross-origin isolated | peer / ssdface cpu |",
        "|---|---|---|---|---|---|---|",
    ]
    results = speed["results"]
    own = next((r for r in results if r["detector"] == "ssdface" and r["backend"] == "cpu"), None)
    for r in sorted(results, key=lambda r: statistics.median(r["times_ms"])):
        threads = r.get("wasm_threads")
        isolation = "yes" if r.get("cross_origin_isolated") else "no"
        if threads is not None:
            isolation += f", wasm threads {'on' if threads else 'off'}"
        lines.append(
            f"| {r['detector']} | {r['backend']} | {len(r['times_ms'])} | {spread(r['times_ms'])} | "
            f"{fmt_ms(r['cold_ms'])} | {isolation} | {ratio_cell(r, own)} |"
        )
    lines.append("")
    return lines


def size_section(native, browser, weights):
    lines = ["## Size", ""]
    if native:
        native["results"].append(
            {"detector": "ssdface", "file": weights.name, "bytes": weights.stat().st_size}
        )
        lines += [
            "Model files (ssdface: f16 weights with the config; peers: their released ONNX):",
            "",
            "| detector | file | bytes |",
            "|---|---|---|",
        ]
        for r in sorted(native["results"], key=lambda r: r["bytes"]):
            lines.append(f"| {r['detector']} | `{r['file']}` | {r['bytes']:,} |")
        lines.append("")
    if browser:
        lines += [
            "Browser download, everything the page fetched to create the detector and run it once",
            "(JS, WebAssembly, weights; the demo page's own HTML, CSS and app script excluded):",
            "",
            "| detector | backend | files | bytes | gzipped |",
            "|---|---|---|---|---|",
        ]
        for r in sorted(browser["results"], key=lambda r: r["gzip_bytes"]):
            lines.append(
                f"| {r['detector']} | {r['backend']} | {len(r['files'])} | {r['bytes']:,} | "
                f"{r['gzip_bytes']:,} |"
            )
        lines.append("")
    if not native and not browser:
        lines += ["Not measured.", ""]
    return lines


def training_section(training):
    if training is None:
        return not_measured("Training speed", "`training_speed.json`")
    machine = training["machine"]
    lines = [
        "## Training speed",
        "",
        "Images per second of one optimisation step (forward, MultiBox loss with hard-negative",
        f"mining, backward, Adam) at batch {training['batch']}, {training['size']}, on the CPU,",
        f"{training['rounds']} interleaved rounds: ssdface on burn (autodiff over each CPU backend:",
        "Flex, and LibTorch 2.9.0, PyTorch's kernels, in a `libtorch` build) and the same network and",
        f"loss ported to PyTorch {machine.get('torch', '?')} "
        f"(`bench/torch_ssd.py`, {machine.get('torch_threads', '?')} threads).",
        "",
    ]
    # The phase split, where the results have one (older results do not).
    split = any(r.get("phase_ms") for r in training["results"])
    if split:
        lines += [
            "| implementation | backend | ms per step, median (min-max) | forward / loss / backward / optimiser, median ms | images/s |",
            "|---|---|---|---|---|",
        ]
    else:
        lines += [
            "| implementation | backend | ms per step, median (min-max) | images/s |",
            "|---|---|---|---|",
        ]
    for r in training["results"]:
        phases = r.get("phase_ms") or {}
        cells = [r["detector"], r["backend"], spread(r["step_ms"])]
        if split:
            cells.append(" / ".join(
                f"{statistics.median(phases[name]):.0f}" if phases.get(name) else "-"
                for name in ("forward", "loss", "backward", "optimiser")
            ))
        cells.append(f"{r['images_per_second']:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    other = next((r for r in training["results"] if r["detector"] != "ssdface"), None)
    own = [r for r in training["results"] if r["detector"] == "ssdface"]
    if own and other:
        lines.append("")
        lines += [
            f"- PyTorch step time over ssdface's on {r['backend']}, per round: "
            + ratio_spread(other["round_medians_ms"], r["round_medians_ms"])
            for r in own
        ]
    lines.append("")
    return lines


def training_layers_section(layers):
    """Where a training step's time goes: `torch_ssd.py layers`' totals by kind of unit."""
    if layers is None:
        return not_measured("Training time by layer", "`training_layers.json`")
    machine = layers["machine"]
    lines = [
        "## Training time by layer",
        "",
        "Each unit of the network timed alone at its shape in a training step (batch "
        f"{layers['batch']}, {layers['size']}), forward and backward, in {layers['rounds']} rounds",
        f"alternating with the PyTorch port ({machine.get('torch_threads', '?')} threads): "
        "`bench/torch_ssd.py layers` (which prints every unit's row).",
        "Sums of the per-unit median ms; *batch norm (+ ReLU6) alone* times the normalisation",
        "of each conv_bn unit on its own, so it is also inside the conv_bn rows.",
        "",
        *layer_kind_table(layers["by_kind_ms"], layers["implementations"]),
        "",
    ]
    return lines


def speed_vs_ap_chart(reports, native, browser, path):
    """Warm median ms against AP: native at 640x480 on all threads, and the browser's CPU
    (wasm) backends. GPU backends are left out where the adapter is a software one: seconds
    per frame on SwiftShader say nothing about a real GPU."""
    points = []
    if native:
        most = max(r["threads"] for r in native["results"])
        points += [("native", r) for r in native["results"]
                   if r["size"] == "640x480" and r["threads"] == most]
    if browser:
        software = "swiftshader" in browser["machine"].get("webgpu_adapter", "").lower()
        points += [("browser", r) for r in browser["results"]
                   if not (software and r["backend"] in ("webgpu", "webgl"))]
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for index, (where, r) in enumerate(p for p in points if p[1]["detector"] in reports):
        ax.scatter(
            statistics.median(r["times_ms"]),
            ap_of(reports[r["detector"]]["iou50"])["ap"],
            marker="o" if where == "native" else "s",
            s=90 if r["detector"] == "ssdface" else 45,
            color="black" if r["detector"] == "ssdface" else f"C{index % 10}",
            label=f"{r['detector']} ({where}, {r['backend']})",
        )
    ax.set_xscale("log")
    ax.set(xlabel="ms per 640x480 image, warm median (log scale)", ylabel="AP, IoU 0.5")
    ax.set_title("Speed against accuracy (circles: native CPU, squares: browser CPU)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--doc", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument("--charts", type=Path, default=Path("bench/results"))
    parser.add_argument("--weights", type=Path, required=True, help="ssdface's weights file")
    args = parser.parse_args()

    reports = accuracy(args.out)
    native = load(args.out / "native_speed.json")
    browser = load(args.out / "browser_speed.json")
    args.charts.mkdir(parents=True, exist_ok=True)
    machine = (native or {}).get("machine", {})
    lines = [
        "# Benchmarks",
        "",
        "Written by `bench/run.sh` (see the README's Benchmarks section) from the results in",
        "`bench/out/`, each from one run of its step (rerun alone when its subject changed). Machine: "
        f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, no GPU; "
        f"date {(native or {}).get('date', '?')}. The machine is shared, so absolute times are noisy:",
        "compare the ratios, measured in the same rounds. ssdface's weights: "
        f"`{args.weights.name}` ({args.weights.stat().st_size:,} bytes).",
        "",
    ]
    wider = wider_accuracy(args.out)
    if wider:
        lines += wider_section(wider)
    else:
        lines += not_measured("Accuracy on ordinary photos", "`wider-eval/*/*/report.json`")
    if reports:
        lines += accuracy_section(reports)
        pr_chart(reports, args.charts / "pr_curves.png")
    else:
        lines += not_measured("Accuracy", "`eval/*/report.json`")
    lines += native_speed_section(native)
    lines += browser_speed_section(browser)
    lines += size_section(load(args.out / "native_sizes.json"), load(args.out / "browser_sizes.json"), args.weights)
    lines += training_section(load(args.out / "training_speed.json"))
    lines += training_layers_section(load(args.out / "training_layers.json"))
    if reports and (native or browser):
        speed_vs_ap_chart(reports, native, browser, args.charts / "speed_vs_ap.png")
        lines += [
            "![Speed against accuracy](bench/results/speed_vs_ap.png)",
            "![Precision-recall curves](bench/results/pr_curves.png)",
            "",
        ]
    args.doc.write_text("\n".join(lines))
    print(f"wrote {args.doc} and the charts in {args.charts}")


if __name__ == "__main__":
    main()
