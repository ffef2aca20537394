"""The duration estimate before Start against the real duration of the same run, measured back to back.

For a few models on Fashion-MNIST (every default for the model, `--epochs` epochs, the first `--limit`
training images): the probe's estimate (core/training/estimate.py, no earlier run to go by), then the
run itself, timed from its StartedEvent to the end of run() (what the estimate covers: training, the
validation after each epoch and the final test; not the data loading before). Prints the ratio
estimate / real for each; on a shared machine the load changes between the two, so the ratios are
rough there.

    python benchmarks/estimate_duration.py [--epochs 1] [--limit 20000] [--json] [MODEL ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from time_to_accuracy import cpu_flags

MODELS = ["fast-cnn", "convnet-5x5", "lenet5", "bn-cnn4", "cnn3-dropout"]


def measure(model: str, data, epochs: int, limit: int | None) -> dict:
    from cnnstudio.core.training.config import build_config
    from cnnstudio.core.training.estimate import estimate_duration
    from cnnstudio.core.training.events import StartedEvent
    from cnnstudio.core.training.recommend import recommend
    from cnnstudio.core.training.trainer import Trainer

    overrides = {"epochs": epochs, **({"limit_train": limit} if limit else {})}
    cfg = build_config(recommend("fashion-mnist", data, model, epochs=epochs).config, overrides)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        estimate = estimate_duration(cfg, data, runs_root=Path(tmp) / "no-runs")
        probe_seconds = time.perf_counter() - t0
        started: list[float] = []

        def on_event(event) -> None:
            if isinstance(event, StartedEvent):
                started.append(time.perf_counter())

        result = Trainer(cfg, dataset=data, run_dir=Path(tmp) / "run", on_event=on_event).run()
        real = time.perf_counter() - started[0]
    return {"model": model, "estimate_seconds": estimate.seconds, "real_seconds": real,
            "ratio": estimate.seconds / real, "probe_seconds": probe_seconds, "status": result.status}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--limit", type=int, default=20000)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("models", nargs="*")
    args = ap.parse_args()
    from cnnstudio.core.datasets import load_dataset

    data = load_dataset("fashion-mnist")
    rows = []
    for model in args.models or MODELS:
        row = measure(model, data, args.epochs, args.limit)
        rows.append(row)
        print(f"{model:14s} estimate {row['estimate_seconds']:6.1f} s  real {row['real_seconds']:6.1f} s  "
              f"ratio {row['ratio']:.2f}  (probe {row['probe_seconds']:.1f} s)", file=sys.stderr, flush=True)
    print(f"machine: {cpu_flags()}", file=sys.stderr)
    if args.json:
        print(json.dumps({"machine": cpu_flags(), "epochs": args.epochs, "limit": args.limit, "rows": rows}))


if __name__ == "__main__":
    main()
