"""A grid sweep against the halving search over the same space: best test accuracy and time.

On Fashion-MNIST with fast-cnn, 2 epochs, every other default: `cnnstudio sweep --strategy grid` over
learning rate {0.02, 0.05, 0.1, 0.2, 0.5} x batch size {128, 256} (10 runs), then `--strategy halving`
over the same space, each in its own process, unattended. Each sweep's time is its process's wall clock
and its CPU seconds (user + system, the children's rusage): on a shared machine the CPU seconds are the
fairer measure of work, and both are printed. The grid's best and the search's best are the trials with
the best validation accuracy (the sweep chooses by validation, never by test); their test accuracies are
compared.

    python benchmarks/sweep_halving.py [--epochs 2] [--limit-train N] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from time_to_accuracy import cpu_flags

PARAMS = ["lr=0.02,0.05,0.1,0.2,0.5", "batch_size=128,256"]


def sweep(strategy: str, out: Path, epochs: int, limit: int | None) -> dict:
    cmd = [sys.executable, "-m", "cnnstudio.cli", "sweep", "--dataset", "fashion-mnist", "--model", "fast-cnn",
           "--strategy", strategy, "--epochs", str(epochs), "--out", str(out), "--json"]
    for p in PARAMS:
        cmd += ["--param", p]
    if limit:
        cmd += ["--limit-train", str(limit)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{strategy} sweep failed ({proc.returncode}): {proc.stderr[-2000:]}")
    data = json.loads(proc.stdout)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    statuses = [t["status"] for t in data["trials"]]
    return {"strategy": strategy, "wall_seconds": wall, "cpu_seconds": cpu, "best": data["best"],
            "trials": len(statuses), "pruned": statuses.count("pruned"),
            "finished": statuses.count("finished")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--limit-train", type=int)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        grid = sweep("grid", Path(tmp) / "grid", args.epochs, args.limit_train)
        halving = sweep("halving", Path(tmp) / "halving", args.epochs, args.limit_train)
    result = {"machine": cpu_flags(), "grid": grid, "halving": halving,
              "accuracy_gap_points": 100 * (grid["best"]["test_accuracy"] - halving["best"]["test_accuracy"]),
              "wall_ratio": halving["wall_seconds"] / grid["wall_seconds"],
              "cpu_ratio": halving["cpu_seconds"] / grid["cpu_seconds"]}
    for r in (grid, halving):
        b = r["best"]
        print(f"{r['strategy']:8s} {r['wall_seconds']:7.0f} s wall {r['cpu_seconds']:7.0f} s CPU  "
              f"{r['finished']} finished, {r['pruned']} pruned; best {b['settings']}: "
              f"val {100 * b['best_val_accuracy']:.2f} %, test {100 * b['test_accuracy']:.2f} %", file=sys.stderr)
    print(f"halving / grid: {result['wall_ratio']:.2f} of the wall time, {result['cpu_ratio']:.2f} of the CPU time; "
          f"best test accuracy {result['accuracy_gap_points']:+.2f} points behind the grid's", file=sys.stderr)
    print(f"machine: {result['machine']}", file=sys.stderr)
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
