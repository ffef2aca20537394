"""Which learning-rate finder rule to trust: each rule's suggestion against a grid of learning rates.

For seven presets and one custom spec without normalisation (specs/plain-cnn.json), on Fashion-MNIST with
every other default for that model: the test accuracy after one epoch (on all 60,000 training images, or
the first N with --limit N) at each learning rate of a grid (1e-4 to 1, factors of about 3) and at the
suggestion of each rule of the finder (cnnstudio/core/training/lr_find.py), and the finder's own time.
Accuracy is measured on the 10,000 test images (the first 5,000 with --limit). To keep it short, the grid is
walked outwards from the model's default learning rate and stops in a direction at the first
point that ends 5 or more points below the best so far (or diverges): the points beyond are marked "–".
Results accumulate in a JSON file, so an interrupted measurement continues where it stopped.

    python benchmarks/lr_finder.py run [--limit N] [MODEL ...]   # the finder, the grid and the suggestions
    python benchmarks/lr_finder.py table [--limit N]             # the Markdown table for docs/benchmarks.md
"""

from __future__ import annotations

import dataclasses
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

MODELS = ["convnet-5x5", "lenet5", "cnn3-dropout", "fast-cnn", "gap-cnn", "bn-cnn4", "tiny-bn-cnn",
          str(HERE / "specs" / "plain-cnn.json")]
STOP_BELOW = 0.05  # a grid point this far below the best so far ends the walk in its direction
GRID = [1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0]
LIMIT: int | None = None  # all training images; --limit N: the first N (the test set then 5,000 images)
TEST = 5_000
RESULTS_ROOT = Path(tempfile.gettempdir()) / "cnnstudio-lr-finder-bench"


def results_dir() -> Path:
    return RESULTS_ROOT / (f"limit-{LIMIT}" if LIMIT else "full")


def _name(model: str) -> str:
    return Path(model).stem if model.endswith(".json") else model


def _config(model: str, ds, lr: float | None = None):
    from cnnstudio.core.models.presets import resolve_spec
    from cnnstudio.core.training.config import build_config
    from cnnstudio.core.training.recommend import recommend

    overrides = {"dataset": "fashion-mnist", "epochs": 1}
    if LIMIT:
        overrides["limit_train"] = LIMIT
    if model.endswith(".json"):
        overrides["spec"] = resolve_spec(model)
    if lr is not None:
        overrides["lr"] = lr
    return build_config(recommend("fashion-mnist", ds, model).config, overrides)


def accuracy(model: str, ds, lr: float) -> float | None:
    """Test accuracy after one epoch at this learning rate, every other setting the model's default;
    None when the run failed (diverged)."""
    from cnnstudio.core.training.trainer import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        result = Trainer(_config(model, ds, lr), dataset=ds, run_dir=Path(tmp) / "run").run()
    return result.test_accuracy if result.status == "finished" else None


def run(models: list[str]) -> None:
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.training.lr_find import RULES, find_lr, suggest_lr

    ds = load_dataset("fashion-mnist")
    if LIMIT:
        ds = dataclasses.replace(ds, test_images=ds.test_images[:TEST], test_labels=ds.test_labels[:TEST])
    for model in models:
        name = _name(model)
        path = results_dir() / f"{name}.json"
        data = json.loads(path.read_text()) if path.exists() else {"grid": {}, "suggested": {}}
        save = lambda: path.write_text(json.dumps(data, indent=1))  # noqa: E731 - a one-line helper of this loop
        results_dir().mkdir(parents=True, exist_ok=True)
        if "finder" not in data:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            result = find_lr(_config(model, ds), ds)
            after = resource.getrusage(resource.RUSAGE_SELF)
            data["finder"] = {"seconds": time.perf_counter() - t0, "steps": len(result.lrs),
                              "cpu_seconds": after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime,
                              "lrs": list(result.lrs), "losses": list(result.losses),
                              "suggestions": {rule: suggest_lr(result.lrs, result.losses, rule) for rule in RULES}}
            save()
            print(f"{name}: finder {data['finder']['seconds']:.0f} s ({data['finder']['cpu_seconds']:.0f} s CPU), "
                  f"{len(result.lrs)} steps, {data['finder']['suggestions']}", flush=True)

        def measure(lr: float) -> float | None:
            key = f"{lr:.6g}"
            if key not in data["grid"]:
                t0 = time.perf_counter()
                data["grid"][key] = accuracy(model, ds, lr)
                save()
                print(f"{name} lr {key}: {data['grid'][key]} ({time.perf_counter() - t0:.0f} s)", flush=True)
            return data["grid"][key]

        default = _config(model, ds).lr
        start = min(range(len(GRID)), key=lambda i: abs(GRID[i] / default - 1) + (GRID[i] > default))
        for direction in (range(start, len(GRID)), range(start - 1, -1, -1)):
            for i in direction:
                acc = measure(GRID[i])
                best = max((a for k, a in data["grid"].items() if a is not None and float(k) in GRID), default=0)
                if acc is None or acc < best - STOP_BELOW:
                    break
        finder = data["finder"]
        finder["suggestions"] = {rule: suggest_lr(finder["lrs"], finder["losses"], rule) for rule in RULES}
        save()
        for rule, lr in finder["suggestions"].items():
            if lr is not None:
                data["suggested"][rule] = measure(float(f"{lr:.6g}"))
                save()


def table() -> None:
    from cnnstudio.core.training.lr_find import RULES

    pct = lambda a: "diverged" if a is None else f"{100 * a:.1f}"  # noqa: E731 - a one-line formatter
    print("| model | " + " | ".join(f"{lr:g}" for lr in GRID) + " | best of grid | "
          + " | ".join(RULES) + " | finder |")
    print("|---" * (len(GRID) + len(RULES) + 3) + "|")
    for model in MODELS:
        name = _name(model)
        path = results_dir() / f"{name}.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        grid = {float(k): a for k, a in data["grid"].items()}
        accs = [grid[lr] if lr in grid else "–" for lr in GRID]
        best = max((a for lr, a in grid.items() if lr in GRID and a is not None), default=None)
        finder = data.get("finder", {})
        cells = []
        for rule in RULES:
            lr = finder.get("suggestions", {}).get(rule)
            key = float(f"{lr:.6g}") if lr is not None else None
            acc = grid.get(key)
            mark = "" if acc is None or best is None or acc < best - 0.01 else " ✓"
            cells.append("–" if lr is None else f"{pct(acc) if key in grid else 'not run'} @ {lr:.2g}{mark}")
        print(f"| {name} | " + " | ".join(a if isinstance(a, str) else pct(a) for a in accs)
              + f" | **{pct(best)}** | " + " | ".join(cells)
              + f" | {finder.get('seconds', float('nan')):.0f} s ({finder.get('cpu_seconds', float('nan')):.0f} s "
              f"CPU), {finder.get('steps', 0)} steps |")


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--limit" in args:
        i = args.index("--limit")
        LIMIT = int(args[i + 1])
        del args[i:i + 2]
    if args[0] == "run":
        run([m for m in MODELS if _name(m) in args[1:]] if args[1:] else MODELS)
    else:
        table()
