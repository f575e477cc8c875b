"""What the Python benchmarks share: ssdface's side of a comparison, timed by one of the crate's
``cargo bench`` programs in a subprocess, and the facts about the machine that timings depend on.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (platform's name where that is missing)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def failure_excerpt(text: str) -> str:
    """The panic message when there is one (a backtrace's tail says little), else the last lines."""
    lines = text.strip().splitlines()
    for i, line in enumerate(lines):
        if "panicked at" in line:
            return "\n".join(lines[i:i + 2])
    return "\n".join(lines[-8:])


def run_cargo_bench(bench: str, args: list[str], threads: int | None = None,
                    weights: Path | None = None, timeout: float | None = None) -> str:
    """Run ``cargo bench --bench BENCH -- ARGS`` in the repository and return its stdout.

    burn's Flex backend runs on rayon's pool, so ``RAYON_NUM_THREADS`` sets its threads;
    LibTorch's are OpenMP's, ``OMP_NUM_THREADS``. ``SSDFACE_BENCH_FEATURES`` (e.g.
    ``libtorch``) adds cargo features, and with them the backends they bring.
    Raises RuntimeError with the panic message when the bench fails.
    """
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", str(Path.home() / ".cache" / "ssdface-target"))
    if threads is not None:
        env["RAYON_NUM_THREADS"] = str(threads)
        env["OMP_NUM_THREADS"] = str(threads)
    if weights is not None:
        env["SSDFACE_WEIGHTS"] = str(weights.resolve())
    features = env.get("SSDFACE_BENCH_FEATURES")
    command = ["cargo", "bench", "-q", "--bench", bench,
               *(["--features", features] if features else []), "--", *args]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}:\n"
                           f"{failure_excerpt(result.stderr or result.stdout)}")
    return result.stdout


def cargo_bench(bench: str, args: list[str], threads: int | None = None,
                weights: Path | None = None, timeout: float | None = None) -> dict:
    """``run_cargo_bench`` with ``--json``: the JSON lines of its CPU backends (flex, and
    LibTorch in a ``libtorch`` build), by backend name; a ``wgpu`` build's GPU line is left out.
    """
    stdout = run_cargo_bench(bench, [*args, "--json"], threads, weights, timeout)
    records = []
    for line in stdout.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    cpu = [r for r in records if str(r.get("backend", "")).startswith("cpu")]
    if not cpu:
        raise RuntimeError(f"no JSON line for the CPU in the output of cargo bench --bench {bench}:\n"
                           f"{stdout[-3000:]}")
    return {r["backend"]: r for r in cpu}


def layer_kind_table(by_kind: dict, implementations: list[str]) -> list[str]:
    """Markdown rows of `torch_ssd.py layers`' totals by kind of unit: forward + backward ms per
    implementation, and each ssdface backend's total over PyTorch's (the last implementation)."""
    reference = implementations[-1]
    lines = ["| kind of unit | " + " | ".join(implementations) + " |",
             "|" + "---|" * (1 + len(implementations))]
    for kind, per in by_kind.items():
        reference_total = sum(per[reference])
        cells = []
        for implementation in implementations:
            forward, backward = per[implementation]
            ratio = "" if implementation == reference else f" ({(forward + backward) / reference_total:.1f}x)"
            cells.append(f"{forward:.0f} + {backward:.0f}{ratio}")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return lines
