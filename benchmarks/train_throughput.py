"""Training throughput: the tutorial DataLoader loop against CNN Studio's engine, in one process.

Trains convnet-5x5 on Fashion-MNIST (the system copy from the Debian package dataset-fashion-mnist)
with (1) a reference loop written the way the PyTorch tutorials do it (torchvision dataset with
ToTensor + Normalize, DataLoader batch 100, fp32, Adam, torch's nn.Dropout) and (2) the engine
(uint8 tensors on the device, batches by index, channels_last, bf16 autocast where the CPU has it,
ReLU after max-pool while training, the cheaper dropout mask). The two alternate epoch
by epoch, so drift in the machine's speed hits both alike. Prints samples/s, their ratio, test accuracy
after the same number of epochs, and achieved GFLOP/s against a matmul peak measured in the same run.

    python benchmarks/train_throughput.py [--epochs 2] [--device auto] [--precision auto] [--markdown]
                                          [--as-avx2]

--as-avx2 runs both as on a CPU with AVX2 and no AVX-512 or bf16 (the fp32-only CPUs of issue 19): the
script starts itself again with torch's own kernels (ATEN_CPU_CAPABILITY), oneDNN's (ONEDNN_MAX_CPU_ISA)
and MKL's (MKL_ENABLE_INSTRUCTIONS) held to AVX2, and the engine in fp32; the matmul peak is measured
under the same limits.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cnnstudio.core.datasets import load_dataset  # noqa: E402
from cnnstudio.core.models.builder import build_model  # noqa: E402
from cnnstudio.core.models.presets import get_preset  # noqa: E402
from cnnstudio.core.models.spec import infer_shapes  # noqa: E402
from cnnstudio.core.training.config import TrainConfig  # noqa: E402
from cnnstudio.core.training.device import cpu_name, physical_cores, resolve_device  # noqa: E402
from cnnstudio.core.training.trainer import Trainer  # noqa: E402

MODEL = "convnet-5x5"
AVX2_LIMITS = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def training_flops_per_sample(spec: dict, input_shape, classes: int) -> float:
    """Multiply-adds of conv and linear layers x 2 FLOPs x 3 (forward, input grad, weight grad)."""
    report = infer_shapes(spec, input_shape, classes)
    macs = 0
    for layer in report.layers:
        if layer.type == "conv":
            c_in = layer.in_shape[0]
            c_out, h, w = layer.out_shape
            k = spec["layers"][layer.index].get("kernel", 3)
            macs += c_out * h * w * c_in * k * k
        elif layer.type == "linear":
            macs += layer.in_shape[0] * layer.out_shape[0]
    return 2.0 * 3.0 * macs


def matmul_peak(dtype: torch.dtype, device: torch.device, n: int = 2048, seconds: float = 3.0) -> float:
    """The best rate of square matrix products over several windows of about half a second.

    A peak is what the machine can do, so the best window counts: one 2-second average on this
    VM ranged from 142 to 180 GFLOP/s between runs (fp32), a share of the machine being taken by
    something else for part of it.
    """
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    sync(device)
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < 0.5:
            a @ b
            count += 1
        sync(device)
        best = max(best, 2 * n ** 3 * count / (time.perf_counter() - start) / 1e9)
    return best


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def tutorial_model(spec: dict, input_shape, classes: int) -> torch.nn.Module:
    """The same layers as the tutorial writes them: torch's own nn.Dropout, not the engine's FastDropout.

    The reference loop stands for the tutorial's code, so it gets none of the engine's changes (until
    the ninth session it shared FastDropout, which made the reference faster than the tutorial).
    """
    from cnnstudio.core.models.builder import FastDropout

    torch.manual_seed(0)
    model = build_model(spec, input_shape, classes)
    for module in model.modules():
        if isinstance(module, FastDropout):
            module.__class__ = torch.nn.Dropout  # the same attributes and state; Bernoulli masks
    return model


def tutorial_dataset(system_dir: Path, workdir: Path):
    """torchvision's FashionMNIST over the system copy (it wants raw/ files unpacked)."""
    import torchvision
    from torchvision import transforms

    raw = workdir / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for gz in system_dir.glob("*-ubyte.gz"):
        with gzip.open(gz, "rb") as src, open(raw / gz.name[:-3], "wb") as dst:
            shutil.copyfileobj(src, dst)
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.2860,), (0.3530,))])
    train = torchvision.datasets.FashionMNIST(str(workdir), train=True, transform=tf, download=False)
    test = torchvision.datasets.FashionMNIST(str(workdir), train=False, transform=tf, download=False)
    return train, test


def tutorial_epoch(model, loader, optimizer, device) -> tuple[float, int]:
    model.train()
    n, start = 0, time.perf_counter()
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        n += labels.shape[0]
    sync(device)
    return time.perf_counter() - start, n


@torch.no_grad()
def tutorial_accuracy(model, loader, device) -> float:
    model.eval()
    correct = total = 0
    for images, labels in loader:
        out = model(images.to(device))
        correct += (out.argmax(1).cpu() == labels).sum().item()
        total += labels.shape[0]
    return correct / total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128, help="the engine's batch (the reference uses 100)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
                        help="the engine's precision; fp32 on a bf16 CPU shows the path of CPUs without bf16")
    parser.add_argument("--system-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table row")
    parser.add_argument("--as-avx2", action="store_true",
                        help="hold torch, oneDNN and MKL to AVX2 kernels and train in fp32 (an fp32-only CPU)")
    args = parser.parse_args()
    if args.as_avx2:
        if any(os.environ.get(k) != v for k, v in AVX2_LIMITS.items()):
            # The limits are read when each library first runs a kernel: only a fresh process obeys them.
            env = dict(os.environ, **AVX2_LIMITS)
            os.execve(sys.executable, [sys.executable, *sys.argv], env)
        if args.precision == "auto":
            args.precision = "fp32"  # the engine reads the CPU's flags, which still say bf16

    system_dir = Path(args.system_dir)
    if not (system_dir / "train-images-idx3-ubyte.gz").exists():
        print(f"Fashion-MNIST not found in {system_dir}: apt-get install dataset-fashion-mnist", file=sys.stderr)
        return 2
    device = resolve_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(physical_cores())
    spec = get_preset(MODEL)
    ds = load_dataset("fashion-mnist")
    flops = training_flops_per_sample(spec, ds.input_shape, ds.num_classes)
    peak_fp32 = matmul_peak(torch.float32, device)
    # Held to AVX2 there are no bf16 instructions: one 2048^3 bf16 product takes most of a minute.
    peak_bf16 = float("nan") if args.as_avx2 else matmul_peak(torch.bfloat16, device)
    print(f"device: {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else cpu_name()}), "
          f"threads {torch.get_num_threads()}, torch {torch.__version__}"
          + (f", torch kernels {torch.backends.cpu.get_cpu_capability()}" if device.type == "cpu" else "")
          + (" (held to AVX2)" if args.as_avx2 else ""), flush=True)
    print(f"matmul peak: fp32 {peak_fp32:.0f} GFLOP/s, bf16 {peak_bf16:.0f} GFLOP/s; "
          f"{MODEL}: {flops / 1e6:.1f} MFLOP per training sample")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train_set, test_set = tutorial_dataset(system_dir, tmp / "tv")
        loader = torch.utils.data.DataLoader(train_set, batch_size=100, shuffle=True)
        test_loader = torch.utils.data.DataLoader(test_set, batch_size=1000)
        ref_model = tutorial_model(spec, ds.input_shape, ds.num_classes).to(device)
        ref_opt = torch.optim.Adam(ref_model.parameters(), lr=1e-3)

        run_dir = tmp / "engine-run"
        ref_times, ref_n, eng_rates = [], 0, []
        result = None
        for epoch in range(1, args.epochs + 1):
            seconds, n = tutorial_epoch(ref_model, loader, ref_opt, device)
            ref_times.append(seconds)
            ref_n += n
            print(f"epoch {epoch}: reference {n / seconds:,.0f} samples/s", flush=True)
            cfg = TrainConfig(dataset="fashion-mnist", model=MODEL, epochs=epoch, batch_size=args.batch_size, optimizer="adam",
                              lr=1e-3, val_split=0.0, device=args.device, precision=args.precision, seed=0)
            resume = run_dir / "last.pt" if epoch > 1 else None
            result = Trainer(cfg, dataset=ds, run_dir=run_dir, resume_from=resume).run()
            if result["status"] != "finished":
                print(f"engine failed: {result['message']}", file=sys.stderr)
                return 1
            rate = result["history"]["samples_per_second"][-1]
            eng_rates.append(rate)
            print(f"epoch {epoch}: engine    {rate:,.0f} samples/s ({result['precision']})", flush=True)
        ref_acc = tutorial_accuracy(ref_model, test_loader, device)

    ref_rate = ref_n / sum(ref_times)
    eng_rate = len(eng_rates) / sum(1 / r for r in eng_rates)  # harmonic mean = total samples / total time
    eng_acc = result["test_accuracy"]
    eng_peak = peak_bf16 if result["precision"] in ("bf16", "fp16") else peak_fp32
    summary = {
        "machine": f"{cpu_name() if device.type == 'cpu' else torch.cuda.get_device_name(device)}",
        "device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "epochs": args.epochs,
        "reference_samples_per_second": round(ref_rate, 1), "engine_samples_per_second": round(eng_rate, 1),
        "speedup": round(eng_rate / ref_rate, 2),
        "reference_test_accuracy": round(ref_acc, 4), "engine_test_accuracy": round(eng_acc, 4),
        "accuracy_difference_points": round(100 * (eng_acc - ref_acc), 2),
        "engine_precision": result["precision"],
        "reference_gflops": round(ref_rate * flops / 1e9, 1), "engine_gflops": round(eng_rate * flops / 1e9, 1),
        "peak_fp32_gflops": round(peak_fp32, 1),
        "peak_bf16_gflops": None if peak_bf16 != peak_bf16 else round(peak_bf16, 1),  # NaN: not measured
        "reference_fraction_of_fp32_peak": round(ref_rate * flops / 1e9 / peak_fp32, 3),
        "engine_fraction_of_peak": round(eng_rate * flops / 1e9 / eng_peak, 3),
        "python": platform.python_version(),
        "kernels": torch.backends.cpu.get_cpu_capability() if device.type == "cpu" else None,
        "held_to_avx2": bool(args.as_avx2),
    }
    print()
    print(f"reference: {ref_rate:,.0f} samples/s, test accuracy {ref_acc:.2%}, "
          f"{summary['reference_gflops']} GFLOP/s = {summary['reference_fraction_of_fp32_peak']:.0%} of fp32 peak")
    print(f"engine:    {eng_rate:,.0f} samples/s, test accuracy {eng_acc:.2%}, "
          f"{summary['engine_gflops']} GFLOP/s = {summary['engine_fraction_of_peak']:.0%} of "
          f"{'bf16' if eng_peak == peak_bf16 else 'fp32'} peak")
    print(f"speed-up: {summary['speedup']:.2f}x; accuracy difference {summary['accuracy_difference_points']:+.2f} points")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
