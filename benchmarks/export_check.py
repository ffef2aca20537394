"""Export on a real model: ONNX, INT8 and TorchScript of a Fashion-MNIST convnet-5x5, checked and timed.

Trains convnet-5x5 on Fashion-MNIST (the Debian package's files) for --epochs with CNN Studio's
defaults, or takes --checkpoint, then in one run:
- exports fp32 ONNX, INT8 ONNX and TorchScript (`export_model`, as `cnnstudio export` does) and prints
  each one's parity figures, size and time;
- runs the fp32 ONNX through onnxruntime alone on the 10,000 test images read from the IDX files and
  normalised from the file's own metadata, against `cnnstudio evaluate`'s accuracy;
- times one-image prediction (prepared 28x28 input) with PyTorch, onnxruntime fp32 and INT8;
- runs the torch-free bundle's predict.py on a drawing with torch made unimportable.

    python benchmarks/export_check.py [--epochs 3 | --checkpoint C] [--markdown]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FASHION = Path("/usr/share/datasets/fashion-mnist")


def read_idx(path: Path) -> np.ndarray:
    data = gzip.decompress(path.read_bytes())
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def per_image_ms(fn, x, repeats: int = 300) -> float:
    for _ in range(20):
        fn(x)
    start = time.perf_counter()
    for _ in range(repeats):
        fn(x)
    return 1000 * (time.perf_counter() - start) / repeats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--checkpoint")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()

    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.export import export_model
    from cnnstudio.core.export.onnx_file import session_for
    from cnnstudio.core.inference import Predictor

    work = Path(tempfile.mkdtemp(prefix="export-check-"))
    ds = load_dataset("fashion-mnist")
    checkpoint = args.checkpoint
    if not checkpoint:
        from cnnstudio.core.training.recommend import default_config
        from cnnstudio.core.training.trainer import Trainer
        from dataclasses import replace

        cfg = replace(default_config("fashion-mnist", "convnet-5x5"), epochs=args.epochs, seed=0)
        result = Trainer(cfg, dataset=ds, run_dir=work / "run").run()
        checkpoint = result.checkpoint
        print(f"trained convnet-5x5 for {args.epochs} epochs: test accuracy {result.test_accuracy:.2%}")

    rows = []
    for fmt, int8, name in (("onnx", False, "fm.onnx"), ("onnx", True, "fm.int8.onnx"),
                            ("torchscript", False, "fm.torchscript.pt")):
        r = export_model(checkpoint, fmt, work / name, int8=int8, dataset=ds,
                         bundle=work / "bundle" if fmt == "onnx" and not int8 else None)
        rows.append((fmt + (" INT8" if int8 else ""), r))
        print(r.message)
        for note in r.notes:
            print("  " + note)

    evaluated = json.loads(subprocess.run(
        [sys.executable, "-m", "cnnstudio", "evaluate", "--checkpoint", checkpoint, "--device", "cpu", "--json"],
        capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])["accuracy"]
    images = read_idx(FASHION / "t10k-images-idx3-ubyte.gz")[:, None]
    labels = read_idx(FASHION / "t10k-labels-idx1-ubyte.gz")
    session = session_for(work / "fm.onnx")
    meta = session.get_modelmeta().custom_metadata_map
    mean, std = np.float32(json.loads(meta["mean"])[0]), np.float32(json.loads(meta["std"])[0])
    x = ((images.astype(np.float32) / 255 - mean) / std).astype(np.float32)
    onnx_acc = float((session.run(["logits"], {"input": x})[0].argmax(1) == labels).mean())
    print(f"onnxruntime alone on the 10,000 IDX test images: {onnx_acc:.2%}; cnnstudio evaluate: {evaluated:.2%} "
          f"(difference {abs(onnx_acc - evaluated) * 100:.2f} points)")

    predictor = Predictor(checkpoint)
    one = predictor.prepare(images[0, 0]).pixels
    xi = predictor.normalise(__import__("torch").from_numpy(one[None].copy())).numpy()
    int8 = session_for(work / "fm.int8.onnx")
    latency = {"PyTorch (Predictor.probabilities)": per_image_ms(predictor.probabilities, one),
               "onnxruntime fp32": per_image_ms(lambda a: session.run(["logits"], {"input": a}), xi),
               "onnxruntime INT8": per_image_ms(lambda a: int8.run(["logits"], {"input": a}), xi)}
    for k, v in latency.items():
        print(f"one image, {k}: {v:.3f} ms")

    from PIL import Image, ImageDraw

    drawing = Image.new("L", (320, 320), 255)
    ImageDraw.Draw(drawing).rectangle((110, 40, 210, 280), outline=0, width=14)  # a trouser-ish outline
    drawing.save(work / "drawn.png")
    blocked = work / "blocked" / "torch"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('no torch here')\n")
    env = {**os.environ, "PYTHONPATH": str(blocked.parent)}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(work / "bundle" / "predict.py"), str(work / "drawn.png")],
                          capture_output=True, text=True, env=env)
    bundle_s = time.perf_counter() - start
    _, probs = predictor.predict_image(drawing)
    print(f"bundle without torch: {proc.stdout.strip()} ({bundle_s:.2f} s including Python start); "
          f"the app: {predictor.classes[int(probs.argmax())]} {probs.max():.1%}")

    if args.markdown:
        print("\n| export | size | parity (300 test images) | time |")
        print("|---|---|---|---|")
        for name, r in rows:
            # INT8: the fp32 graph is checked against PyTorch first; the INT8 model's own agreement follows.
            print(f"| {name} | {r.bytes / 1e6:.1f} MB | {'fp32 graph: ' if r.int8 else ''}{r.parity.agreement:.2%} "
                  f"agreement, max logit diff {r.parity.max_abs_diff:.1e} | {r.seconds:.1f} s |")
        q = rows[1][1].int8
        print(f"\nINT8 on {q.images:,} test images: {q.int8_accuracy:.2%} against fp32 {q.fp32_accuracy:.2%}; "
              f"top-1 agreement with fp32 {q.agreement:.2%}; {q.int8_bytes / 1e6:.1f} MB against "
              f"{q.fp32_bytes / 1e6:.1f} MB.")
        print("\n| one 28x28 image | ms |")
        print("|---|---|")
        for k, v in latency.items():
            print(f"| {k} | {v:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
