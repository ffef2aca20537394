"""The deployment report's figures for several presets and one pretrained backbone, in one run.

For each model: trains it briefly on Fashion-MNIST (the Debian package's files; one epoch on --train
pictures, CNN Studio's recommended recipe), then exports it as ONNX INT8 (whose report also measures the
fp32 graph), TorchScript and a web page, exactly as `cnnstudio export` does, and prints each report's
rows: size, latency p50/p90 for one image and a batch of 32 in the exported runtime, test accuracy and
top-1 agreement with PyTorch on 2,000 test images (the INT8 row measured on the INT8 file itself).
With --chromium, the web page is also opened in headless Chromium and its model timed in onnxruntime-web
(WebAssembly, one thread). The backbone is MobileNetV3-Small at 224 px with untrained weights standing in
for ImageNet's (none can be downloaded here): its sizes and times are real, its accuracy is not.

    python benchmarks/deployment_report.py [--models fast-cnn,gap-cnn] [--train 10000] [--chromium] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

MODELS = "lenet5,fast-cnn,convnet-5x5,gap-cnn,resnet20,mobilenet-v3-small-imagenet"


def place_untrained_weights(arch: str) -> None:
    import torch
    import torchvision

    from cnnstudio.core.models.backbones import find_weights, weights_dir, weights_file_name

    if find_weights(arch) is None:
        path = weights_dir() / weights_file_name(arch)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(torchvision.models.get_model(arch, weights=None).state_dict(), path)


def train(model: str, train_pictures: int, folder: Path) -> str:
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.models.backbones import input_size
    from cnnstudio.core.models.presets import get_preset
    from cnnstudio.core.training.recommend import default_config
    from cnnstudio.core.training.trainer import Trainer

    spec = get_preset(model)
    if input_size(spec):
        for layer in spec["layers"]:
            if layer["type"] == "backbone":
                place_untrained_weights(layer["arch"])
    cfg = replace(default_config("fashion-mnist", model, spec=spec), spec=spec, epochs=1, limit_train=train_pictures,
                  seed=0, device="cpu")
    result = Trainer(cfg, dataset=load_dataset("fashion-mnist"), run_dir=folder / model).run()
    assert result.status == "finished", result
    return result.checkpoint


def browser_latency(site: Path) -> tuple[list[float], list[float]]:
    from headless_chromium import Browser, serve

    with serve(site) as (url, _), Browser() as browser:
        page = browser.open(url)
        page.wait_for_text("title", timeout=60)
        page.evaluate("new Promise(r => { const t = () => window.cnnstudioTime ? r() : setTimeout(t, 100); t(); })",
                      timeout=120)
        one = page.evaluate("window.cnnstudioTime(1, 50)", timeout=300)
        batch = page.evaluate("window.cnnstudioTime(32, 10)", timeout=300)
    return one, batch


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=MODELS)
    parser.add_argument("--train", type=int, default=10000)
    parser.add_argument("--chromium", action="store_true")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()

    from cnnstudio.core.export import export_model
    from cnnstudio.core.export.report import size_text

    rows = []
    with tempfile.TemporaryDirectory(prefix="deploy-") as tmp:
        tmp_path = Path(tmp)
        for model in args.models.split(","):
            start = time.perf_counter()
            checkpoint = train(model, args.train, tmp_path)
            trained = time.perf_counter() - start
            int8 = export_model(checkpoint, "onnx", tmp_path / f"{model}.int8.onnx", int8=True).report
            script = export_model(checkpoint, "torchscript", tmp_path / f"{model}.torchscript.pt").report
            web_result = export_model(checkpoint, "web", tmp_path / f"{model}-web")
            web = web_result.report
            assert int8 is not None and script is not None and web is not None
            found = [int8.row("pytorch"), int8.row("onnx"), int8.row("onnx-int8"), script.row("torchscript"),
                     web.row("web")]
            browser = browser_latency(Path(web_result.path)) if args.chromium else None
            print(f"{model}: {int8.parameters:,} parameters, {int8.macs:,} MACs per image, trained {trained:.0f} s",
                  file=sys.stderr)
            for row in found:
                assert row is not None
                rows.append({"model": model, "parameters": int8.parameters, "macs": int8.macs, "format": row.title,
                             "bytes": row.bytes, "single": (row.single.p50_ms, row.single.p90_ms),
                             "batch": (row.batch.p50_ms, row.batch.p90_ms), "accuracy": row.accuracy,
                             "agreement": row.agreement, "runtime": row.runtime})
            if browser is not None:
                one, batch = browser
                rows.append({"model": model, "parameters": int8.parameters, "macs": int8.macs,
                             "format": "Web page in Chromium", "bytes": web.row("web").bytes,
                             "single": (pct(one, 50), pct(one, 90)), "batch": (pct(batch, 50), pct(batch, 90)),
                             "accuracy": None, "agreement": None,
                             "runtime": f"onnxruntime-web, headless Chromium ({statistics.median(one):.2f} ms)"})
    if args.markdown:
        print("| model | parameters | MACs per image | format | size | 1 image p50 / p90 (ms) "
              "| batch of 32 p50 / p90 (ms) | test accuracy | agreement with PyTorch |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.2%}"
            agree = "-" if r["agreement"] is None else f"{r['agreement']:.2%}"
            print(f"| {r['model']} | {r['parameters']:,} | {r['macs']:,} | {r['format']} | {size_text(r['bytes'])} | "
                  f"{r['single'][0]:.2f} / {r['single'][1]:.2f} | {r['batch'][0]:.2f} / {r['batch'][1]:.2f} | "
                  f"{acc} | {agree} |")
    else:
        print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
