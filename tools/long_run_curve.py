"""The long run's curve on both yardsticks: every checkpoint that runs/long-1 keeps, exported and
scored with `ssdface eval` on `wider-dev` (easy, medium, hard at 320x240) and on the held-back
photos (labels/holdout/all), beside the run's own validation AP of every epoch.

    python3 tools/long_run_curve.py [--ssdface BIN] [--run runs/long-1]

Writes models/runs/long-1/yardsticks.json (the figures, kept between calls: an epoch already
scored is not scored again) and models/runs/long-1/curve.png (needs matplotlib: bench/.venv
has it).
"""

import argparse
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STATE = REPO / "models" / "runs" / "long-1"
WIDER_DEV = REPO.parent / "shared" / "data" / "wider-dev"
HOLDOUT = REPO / "labels" / "holdout" / "all"


def ap(report_dir: Path) -> float:
    """The AP over faces of every size in an `ssdface eval` report."""
    results = json.loads((report_dir / "report.json").read_text())["results"]
    return next(r["ap"] for r in results if r["sizes"] == "all")


def score(ssdface: str, run: Path, epoch: int) -> dict:
    """wider-dev's three APs and the held-back photos' AP of one epoch's checkpoint."""
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        weights = scratch / f"e{epoch}.ssdface"
        subprocess.run([ssdface, "export", str(run), "--epoch", str(epoch), "--f32",
                        "--out", str(weights)], check=True, capture_output=True)
        figures = {}
        for name, data in (("wider-dev", WIDER_DEV), ("holdout", HOLDOUT)):
            out = scratch / name
            subprocess.run([ssdface, "eval", "--weights", str(weights), "--data", str(data),
                            "--out", str(out)], check=True, capture_output=True)
            if name == "wider-dev":
                for setting in ("easy", "medium", "hard"):
                    figures[setting] = round(ap(out / setting), 4)
            else:
                figures["holdout"] = round(ap(out), 4)
        return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    target = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "ssdface-target"))
    parser.add_argument("--ssdface", default=str(target / "release" / "ssdface"))
    parser.add_argument("--run", type=Path, default=REPO / "runs" / "long-1")
    args = parser.parse_args()

    figures_file = STATE / "yardsticks.json"
    scored = json.loads(figures_file.read_text()) if figures_file.exists() else {}
    kept = sorted({int(m.group(1)) for f in (args.run / "checkpoint").glob("model-*.bpk")
                   if (m := re.fullmatch(r"model-(\d+)\.bpk", f.name))})
    for epoch in kept:
        if str(epoch) not in scored:
            scored[str(epoch)] = score(args.ssdface, args.run, epoch)
            print(f"epoch {epoch}: {scored[str(epoch)]}", flush=True)
            figures_file.write_text(json.dumps(scored, indent=1, sort_keys=True) + "\n")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = json.loads((STATE / "history.json").read_text())["epochs"]
    epochs = sorted(int(e) for e in scored)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    ax.plot([e["epoch"] for e in history], [e.get("val_ap") for e in history], color="0.6",
            linewidth=1, label="held-back photos, the run's own validation (every epoch)")
    ax.plot(epochs, [scored[str(e)]["holdout"] for e in epochs], "o-", color="black",
            label="held-back photos, ssdface eval")
    for setting, color in (("easy", "tab:green"), ("medium", "tab:blue"), ("hard", "tab:red")):
        ax.plot(epochs, [scored[str(e)][setting] for e in epochs], "o-", color=color,
                label=f"wider-dev {setting}, 320x240")
    ax.set_xlabel("epoch")
    ax.set_ylabel("AP")
    ax.set_ylim(0, 0.75)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("The long run on both yardsticks")
    fig.tight_layout()
    fig.savefig(STATE / "curve.png")
    print(f"wrote {figures_file.relative_to(REPO)} and {(STATE / 'curve.png').relative_to(REPO)}")


if __name__ == "__main__":
    main()
