"""The GPU path, proven in one run: every check the product promises on an NVIDIA GPU, one JSON of figures.

Run by benchmarks/gpu_check.sh on a machine with one CUDA GPU and no network (the Fashion-MNIST files
travel with the repository: `make gpu-check-data`). Each step is timed and recorded, and a failing step
is recorded with its error without stopping the others:

- environment: torch, CUDA, the GPU, bf16 support;
- defaults: `cnnstudio train --dataset fashion-mnist --json` on the GPU, process start to exit, and the
  seeds' tutorial recipe on the same GPU, both to 91 % test accuracy (benchmarks/time_to_accuracy.py);
- precisions: one epoch of convnet-5x5 in fp32, bf16 and fp16 (GradScaler): images/s and accuracy;
- torchrun: `torchrun --nproc-per-node 1` with NCCL trains one epoch;
- latency: one drawing's prediction and one Grad-CAM inspection, GPU against CPU (median ms);
- pictures on disk: a folder over the memory budget trains on the GPU from the picture cache;
- app: the Train page offscreen, training on the GPU in its QThread with live charts (needs PySide6
  and pyqtgraph there; recorded as skipped, with the reason, when they are missing).

    python benchmarks/gpu_check.py --data DIR [--device cuda] [--out FILE] [--quick]

--quick shrinks every step (a few thousand images, one epoch) to check the script itself, on a CPU too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


class Steps:
    """Runs named steps, recording each one's figures, seconds, and error if it failed."""

    def __init__(self) -> None:
        self.results: dict[str, dict] = {}

    def run(self, name: str, fn, *args) -> None:
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        try:
            figures = fn(*args) or {}
            record = {"ok": not figures.get("skipped"), **figures}
        except Exception as exc:  # noqa: BLE001 - a failed step is a finding, not the end of the check
            record = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                      "traceback": traceback.format_exc()[-3000:]}
        record["seconds"] = round(time.perf_counter() - start, 2)
        self.results[name] = record
        print(json.dumps({k: v for k, v in record.items() if k != "traceback"}), flush=True)


def environment(device: str) -> dict:
    import torch

    info = {"torch": torch.__version__, "cuda_available": torch.cuda.is_available(), "device": device}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, capability=f"{props.major}.{props.minor}",
                    memory_gib=round(props.total_memory / 2**30, 1), cuda=torch.version.cuda,
                    cudnn=torch.backends.cudnn.version(), bf16=torch.cuda.is_bf16_supported())
    return info


def defaults_and_seeds(data: Path, device: str, quick: bool) -> dict:
    from time_to_accuracy import run_cnnstudio, run_seeds_recipe

    extra = ["--epochs", "1", "--limit-train", "3000"] if quick else []
    studio = run_cnnstudio(data, device, extra)
    figures = {"cnnstudio_defaults": studio}
    seeds = run_seeds_recipe(data, 0.91, 1 if quick else 12, device)
    figures["seeds_recipe"] = seeds
    if seeds["seconds_to_target"] and (studio["test_accuracy"] or 0) >= 0.91:
        figures["ratio_to_91"] = round(seeds["seconds_to_target"] / studio["seconds"], 2)
    return figures


def precisions(data: Path, device: str, quick: bool) -> dict:
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.training.config import TrainConfig
    from cnnstudio.core.training.trainer import Trainer

    ds = load_dataset("fashion-mnist", data_dir=data)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for precision in ("fp32", "bf16", "fp16"):
            cfg = TrainConfig(dataset="fashion-mnist", model="convnet-5x5", epochs=1, batch_size=256,
                              lr=2e-3, val_split=0.0, device=device, precision=precision,
                              limit_train=3000 if quick else 0)
            result = Trainer(cfg, dataset=ds, run_dir=Path(tmp) / precision).run()
            out[precision] = {"status": result.status, "message": result.message,
                              "images_per_second": round(result.train_samples_per_second or 0),
                              "test_accuracy": result.test_accuracy}
    failed = [p for p, r in out.items() if r["status"] != "finished" and (device != "cpu" or p != "fp16")]
    if failed:  # fp16 is refused on a CPU by design; on a GPU every precision must train
        raise RuntimeError(f"{', '.join(failed)} failed: {out}")
    return out


def torchrun_nccl(data: Path, device: str, quick: bool) -> dict:
    env = dict(os.environ, CNNSTUDIO_SYSTEM_DATASETS=str(data.parent),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    with tempfile.TemporaryDirectory() as home:
        env["CNNSTUDIO_HOME"] = home
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1",
                   "-m", "cnnstudio", "train", "--dataset", "fashion-mnist", "--model", "bn-cnn4", "--epochs", "1",
                   "--device", device, "--json"] + (["--limit-train", "3000"] if quick else [])
        out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {"world_size": result.get("world_size"), "device": result.get("device"),
            "test_accuracy": result.get("test_accuracy"),
            "images_per_second": round(result.get("train_samples_per_second") or 0)}


def latency(data: Path, device: str, quick: bool) -> dict:
    import numpy as np
    import torch

    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.inference import Predictor
    from cnnstudio.core.inspection import inspect_image
    from cnnstudio.core.training.config import TrainConfig
    from cnnstudio.core.training.trainer import Trainer

    ds = load_dataset("fashion-mnist", data_dir=data)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(dataset="fashion-mnist", model="convnet-5x5", epochs=1, val_split=0.0, device=device,
                          limit_train=3000)
        checkpoint = Trainer(cfg, dataset=ds, run_dir=Path(tmp) / "run").run().checkpoint
        pixels = ds.test_images[0].numpy()
        figures = {}
        for where in dict.fromkeys(["cpu", device]):
            predictor = Predictor(checkpoint, device=where)
            times = []
            for _ in range(20 if quick else 200):
                start = time.perf_counter()
                predictor.probabilities(pixels)  # includes the copy back: a prediction the Draw page can show
                times.append(time.perf_counter() - start)
            cam_times = []
            x = predictor.normalise(torch.from_numpy(np.ascontiguousarray(pixels))[None])[0]
            for _ in range(5 if quick else 50):
                start = time.perf_counter()
                ins = inspect_image(predictor.model, x)
                _ = ins.cam.cam if ins.cam is not None else None
                if where.startswith("cuda"):
                    torch.cuda.synchronize()
                cam_times.append(time.perf_counter() - start)
            figures[where] = {"prediction_ms": round(1000 * statistics.median(times[5:]), 3),
                              "grad_cam_ms": round(1000 * statistics.median(cam_times[2:]), 3)}
    return figures


def pictures_on_disk(device: str, quick: bool) -> dict:
    from backbones import write_pictures

    from cnnstudio.core.datasets.disk_images import MEMORY_BUDGET_ENV, DiskImages
    from cnnstudio.core.datasets.imagefolder import load_image_folder
    from cnnstudio.core.training.config import TrainConfig
    from cnnstudio.core.training.trainer import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        write_pictures(folder, 100 if quick else 1000, size=96)
        os.environ[MEMORY_BUDGET_ENV] = "0"
        try:
            ds = load_image_folder(folder)
        finally:
            del os.environ[MEMORY_BUDGET_ENV]
        cfg = TrainConfig(dataset=str(folder), model="bn-cnn4", epochs=2, batch_size=64, val_split=0.1,
                          device=device)
        result = Trainer(cfg, dataset=ds, run_dir=Path(tmp) / "run").run()
    return {"on_disk": isinstance(ds.train_images, DiskImages), "status": result.status,
            "test_accuracy": result.test_accuracy,
            "images_per_second": round(result.train_samples_per_second or 0)}


def app_train_page(device: str, quick: bool) -> dict:
    try:
        import pyqtgraph  # noqa: F401 - importing it is the check
        from PySide6.QtWidgets import QApplication
    except ImportError as exc:
        return {"skipped": f"the app's libraries are not installed here ({exc})"}
    sys.path.insert(0, str(ROOT / "scripts"))
    from _drive import wait_until

    from cnnstudio.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    window = MainWindow()
    window.resize(1280, 820)
    window.show()
    state, train = window.state, window.page("train")
    wait_until(app, lambda: state.dataset is not None, 120, "the dataset")
    wait_until(app, lambda: getattr(window, "devices", None) is not None, 120, "the device probe")
    finished: list = []
    steps: list = []
    train.runFinished.connect(finished.append)
    train.stepsReceived.connect(steps.append)
    window.show_page("train")
    train.start_training({"epochs": 1 if quick else 2, "device": device, "seed": 0})
    wait_until(app, lambda: finished, 600, "the training")
    result = finished[-1]
    curve_points = len(train.charts.curve_data("step_loss")[0])
    picture = Path(tempfile.gettempdir()) / "gpu-check-train-page.png"
    window.grab().save(str(picture))
    window.close()
    return {"status": result.status, "device": result.device,
            "images_per_second": round(result.train_samples_per_second or 0),
            "step_updates_seen": len(steps), "curve_points": curve_points, "screenshot": str(picture)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="folder holding Fashion-MNIST's four IDX .gz files")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", default="", help="also write the JSON here")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check the script itself")
    args = parser.parse_args()
    data = Path(args.data).resolve()
    if not (data / "train-images-idx3-ubyte.gz").exists():
        print(f"{data} does not hold Fashion-MNIST's IDX files (make gpu-check-data copies them)", file=sys.stderr)
        return 2
    os.environ.setdefault("CNNSTUDIO_HOME", tempfile.mkdtemp(prefix="gpu-check-home-"))
    os.environ.setdefault("CNNSTUDIO_OFFLINE", "1")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    steps = Steps()
    steps.run("environment", environment, args.device)
    steps.run("defaults_and_seeds_recipe", defaults_and_seeds, data, args.device, args.quick)
    steps.run("precisions", precisions, data, args.device, args.quick)
    steps.run("torchrun_nccl", torchrun_nccl, data, args.device, args.quick)
    steps.run("latency", latency, data, args.device, args.quick)
    steps.run("pictures_on_disk", pictures_on_disk, args.device, args.quick)
    steps.run("app_train_page", app_train_page, args.device, args.quick)
    summary = {"ok": all(r["ok"] or "skipped" in r for r in steps.results.values()), "steps": steps.results}
    text = json.dumps(summary, indent=1)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
