"""Training throughput: the tutorial DataLoader loop against CNN Studio's engine, in one process.

Trains convnet-5x5 on Fashion-MNIST (the system copy from the Debian package dataset-fashion-mnist)
with (1) a reference loop written the way the PyTorch tutorials do it (torchvision dataset with
ToTensor + Normalize, DataLoader batch 100, fp32, Adam, torch's nn.Dropout) and (2) the engine
(uint8 tensors on the device, batches by index, channels_last, bf16 autocast where the CPU has it,
ReLU after max-pool while training, the cheaper dropout mask). The two alternate epoch
by epoch, so drift in the machine's speed hits both alike. Prints samples/s, their ratio, test accuracy
after the same number of epochs, and achieved GFLOP/s against a matmul peak measured in the same run.

    python benchmarks/train_throughput.py [--epochs 2] [--device auto] [--precision auto] [--markdown]
                                          [--as-avx2] [--recipe tutorial|defaults]
                                          [--interleave 240 --slice 3] [--glibc-default-memory]

--interleave S runs the two as separate processes taking turns on the CPU for S seconds instead
(benchmarks/_interleave.py): the median of the pairs' speed ratios with a 95 % interval, which the VM's
drift hardly touches (no accuracy then). Every contender runs with glibc keeping freed memory
(keep_freed_memory), the tutorial loop at its best; --glibc-default-memory leaves glibc as it is.

--recipe defaults trains the engine as CNN Studio does for this model and dataset (batch 256, SGD with
Nesterov momentum, one-cycle, label smoothing) instead of with the tutorial's Adam 1e-3 at batch 128:
what a user gets, where the default compares how a step runs with the optimizer held equal.

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
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cnnstudio.core.datasets import load_dataset
from cnnstudio.core.models.builder import build_model
from cnnstudio.core.models.presets import get_preset
from cnnstudio.core.models.spec import infer_shapes
from cnnstudio.core.training.config import TrainConfig
from cnnstudio.core.training.recommend import default_config
from cnnstudio.core.training.device import cpu_name, physical_cores, resolve_device, resolve_precision
from cnnstudio.core.training.events import EpochEvent, StepEvent
from cnnstudio.core.training.trainer import Trainer

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


def keep_freed_memory() -> bool:
    """Have glibc serve blocks of up to 64 MB from its heap and keep freed memory, on Linux.

    By default glibc maps each block above a threshold fresh from the kernel and unmaps it when freed,
    and it raises that threshold as the process frees large blocks: whether a training step page-faults
    thousands of times depends on what the process happened to free before. Measured here, the tutorial
    loop in a fresh process: 7,000-8,800 faults a step at 1,600-1,800 images/s; after one large product
    had raised the threshold, about 600 at 2,080. Both sides of every comparison here run with this
    setting, so neither's speed is left to that history. Returns False where it cannot be set.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 64 << 20)) and bool(libc.mallopt(m_trim_threshold, 1 << 30))
    except (OSError, AttributeError):
        return False


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


def engine_config(args: argparse.Namespace) -> TrainConfig:
    """The engine's run: the tutorial's optimizer at the engine's batch, or what CNN Studio picks.

    "tutorial": Adam 1e-3 at a constant rate, batch 128, the tutorial's recipe, so the two differ only in
    how a step runs. "defaults": what `cnnstudio train --dataset fashion-mnist --model convnet-5x5` runs
    (recommend.default_config: batch 256, SGD with Nesterov momentum, one-cycle, label smoothing), which
    is what a user of the app or the command line gets for this model and dataset.
    """
    common = dict(epochs=args.epochs, val_split=0.0, device=args.device, precision=args.precision, seed=0)
    if args.recipe == "defaults":
        return replace(default_config("fashion-mnist", MODEL), **common)
    return TrainConfig(dataset="fashion-mnist", model=MODEL, batch_size=args.batch_size, optimizer="adam",
                       lr=1e-3, **common)


# -- taking turns on the CPU (benchmarks/_interleave.py) -------------------------------------------------
# Epoch-by-epoch alternation above gives one ratio per run, and on this shared VM whole epochs drift by
# 10-20 % between neighbours (runs of the same code gave 2.70x to 3.06x). With --interleave the two run as
# separate processes that take turns in slices of a few seconds: every pair of neighbouring slices gives
# a ratio, and the median of a few hundred pairs comes with a 95 % interval.

LONG_RUN_EPOCHS = 1000  # a contender trains until it is stopped


def child_reference(args: argparse.Namespace) -> int:
    """Contender: the tutorial loop, epoch after epoch, reporting images trained after every batch (the
    interval that crossed an epoch's end, a new DataLoader iterator, is a break, as the engine's is)."""
    from _interleave import report

    device = resolve_device(args.device)
    spec, ds = get_preset(MODEL), load_dataset("fashion-mnist")
    with tempfile.TemporaryDirectory() as tmp:
        train_set, _ = tutorial_dataset(Path(args.system_dir), Path(tmp))
        loader = torch.utils.data.DataLoader(train_set, batch_size=100, shuffle=True)
        model = tutorial_model(spec, ds.input_shape, ds.num_classes).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        model.train()
        seen = 0
        for _ in range(LONG_RUN_EPOCHS):
            first = True
            for images, labels in loader:
                images, labels = images.to(device), labels.to(device)
                optimizer.zero_grad()
                F.cross_entropy(model(images), labels).backward()
                optimizer.step()
                sync(device)
                seen += labels.shape[0]
                report(seen, first)
                first = False
    return 0


def child_engine(args: argparse.Namespace) -> int:
    """Contender: the engine as in the alternating run, reporting at each of its step events."""
    from _interleave import report
    ds = load_dataset("fashion-mnist")
    epoch_seen = [0]

    def on_event(event) -> None:
        if isinstance(event, StepEvent):
            # Batches split an epoch evenly (tensor_split), so images so far = steps x images per step.
            report(event.global_step * ds.train_images.shape[0] / event.steps_per_epoch, event.epoch != epoch_seen[0])
            epoch_seen[0] = event.epoch

    with tempfile.TemporaryDirectory() as tmp:
        cfg = replace(engine_config(args), epochs=LONG_RUN_EPOCHS)
        Trainer(cfg, dataset=ds, run_dir=Path(tmp) / "engine-run", on_event=on_event).run()
    return 0


def run_interleaved(args: argparse.Namespace) -> dict:
    """The engine against the tutorial loop, taking turns in slices of args.slice s for args.interleave s."""
    from _interleave import Contender, take_turns, wait_until_reporting
    from _stats import median_interval

    contenders = []
    for kind in ("reference", "engine"):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--recipe", args.recipe,
               "--batch-size", str(args.batch_size), "--device", args.device, "--precision", args.precision,
               "--system-dir", args.system_dir]
        contenders.append(Contender(kind, cmd, dict(os.environ, PYTHONPATH=str(ROOT)), str(ROOT)))
    reference, engine = contenders
    try:
        for c in contenders:  # one at a time: neither's start-up competes with the other
            wait_until_reporting(c, timeout_s=600)

        def progress(done: int, total: int) -> None:
            if done % 20 == 0 or done == total:
                print(f"  taking turns: {done} of {total} pairs of slices", flush=True)

        rates_ref, rates_eng = take_turns(reference, engine, args.interleave, args.slice, on_pair=progress)
    finally:
        for c in contenders:
            c.kill()
    pairs = [(r, e) for r, e in zip(rates_ref, rates_eng) if r == r and e == e and r > 0]  # NaN: no whole interval
    if not pairs:
        raise RuntimeError("no pair of slices held a whole step of each: use longer slices (--slice)")
    ratios = [e / r for r, e in pairs]
    ci = median_interval(ratios)
    return {"slice_s": args.slice, "pairs": len(ratios),
            "interleaved_speedup": round(statistics.median(ratios), 3),
            "interleaved_speedup_ci95": [round(x, 3) for x in ci] if ci else None,
            "interleaved_reference_samples_per_second": round(statistics.median(r for r, _ in pairs), 1),
            "interleaved_engine_samples_per_second": round(statistics.median(e for _, e in pairs), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128,
                        help="the engine's batch with --recipe tutorial (the reference uses 100)")
    parser.add_argument("--recipe", default="tutorial", choices=("tutorial", "defaults"),
                        help="the engine's optimizer and batch: the tutorial's (Adam 1e-3, batch 128) or CNN "
                             "Studio's defaults for this model and dataset (batch 256, SGD, one-cycle)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
                        help="the engine's precision; fp32 on a bf16 CPU shows the path of CPUs without bf16")
    parser.add_argument("--system-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table row")
    parser.add_argument("--as-avx2", action="store_true",
                        help="hold torch, oneDNN and MKL to AVX2 kernels and train in fp32 (an fp32-only CPU)")
    parser.add_argument("--interleave", type=float, default=0.0,
                        help="seconds of the two taking turns on the CPU, as two processes (0: the epoch-by-epoch "
                             "run, which also measures accuracy)")
    parser.add_argument("--slice", type=float, default=1.5, help="seconds of each turn with --interleave")
    parser.add_argument("--child", choices=("reference", "engine"), help=argparse.SUPPRESS)
    parser.add_argument("--glibc-default-memory", action="store_true",
                        help="leave glibc's memory thresholds as they are (see keep_freed_memory)")
    args = parser.parse_args()
    if not args.glibc_default_memory:
        keep_freed_memory()
    if args.as_avx2:
        if any(os.environ.get(k) != v for k, v in AVX2_LIMITS.items()):
            # The limits are read when each library first runs a kernel: only a fresh process obeys them.
            env = dict(os.environ, **AVX2_LIMITS)
            os.execve(sys.executable, [sys.executable, *sys.argv], env)
        # The engine's auto precision is fp32 here: it reads oneDNN's cap (device.onednn_allows_bf16).

    system_dir = Path(args.system_dir)
    if not (system_dir / "train-images-idx3-ubyte.gz").exists():
        print(f"Fashion-MNIST not found in {system_dir}: apt-get install dataset-fashion-mnist", file=sys.stderr)
        return 2
    device = resolve_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(physical_cores())
    if args.child == "reference":
        return child_reference(args)
    if args.child == "engine":
        return child_engine(args)
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
    if args.interleave > 0:
        figures = run_interleaved(args)
        ci = figures["interleaved_speedup_ci95"]
        print(f"\ntaking turns ({figures['pairs']} pairs of {args.slice:g} s slices, engine recipe {args.recipe}): "
              f"reference {figures['interleaved_reference_samples_per_second']:,.0f} samples/s, engine "
              f"{figures['interleaved_engine_samples_per_second']:,.0f}; speed-up (median of the pairs' ratios) "
              f"{figures['interleaved_speedup']:.3f}x"
              + (f", 95 % interval {ci[0]:.3f} to {ci[1]:.3f}" if ci else " (too few pairs for an interval)"))
        print(json.dumps({"machine": cpu_name() if device.type == "cpu" else torch.cuda.get_device_name(device),
                          "device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
                          "engine_recipe": args.recipe, "engine_precision": resolve_precision(args.precision, device),
                          "held_to_avx2": bool(args.as_avx2), "peak_fp32_gflops": round(peak_fp32, 1),
                          "peak_bf16_gflops": None if peak_bf16 != peak_bf16 else round(peak_bf16, 1),
                          "mflop_per_sample": round(flops / 1e6, 1),
                          **figures}))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train_set, test_set = tutorial_dataset(system_dir, tmp / "tv")
        loader = torch.utils.data.DataLoader(train_set, batch_size=100, shuffle=True)
        test_loader = torch.utils.data.DataLoader(test_set, batch_size=1000)
        ref_model = tutorial_model(spec, ds.input_shape, ds.num_classes).to(device)
        ref_opt = torch.optim.Adam(ref_model.parameters(), lr=1e-3)

        # The engine trains once, start to finish (a one-cycle schedule must know its length), and each
        # reference epoch after the first runs in its epoch-end callback, on the same thread, outside the
        # engine's timed epochs: ref 1, engine 1, ref 2, engine 2, ... so drift hits both alike.
        ref_times, ref_n = [], 0

        def reference_epoch(epoch: int) -> None:
            nonlocal ref_n
            seconds, n = tutorial_epoch(ref_model, loader, ref_opt, device)
            ref_times.append(seconds)
            ref_n += n
            print(f"epoch {epoch}: reference {n / seconds:,.0f} samples/s", flush=True)

        def on_event(event) -> None:
            if isinstance(event, EpochEvent):
                print(f"epoch {event.epoch}: engine    {event.samples_per_second:,.0f} samples/s", flush=True)
                if event.epoch < args.epochs:
                    reference_epoch(event.epoch + 1)

        reference_epoch(1)
        cfg = engine_config(args)
        result = Trainer(cfg, dataset=ds, run_dir=tmp / "engine-run", on_event=on_event).run()
        if result.status != "finished":
            print(f"engine failed: {result.message}", file=sys.stderr)
            return 1
        eng_rates = result.history["samples_per_second"]
        ref_acc = tutorial_accuracy(ref_model, test_loader, device)

    ref_rate = ref_n / sum(ref_times)
    eng_rate = len(eng_rates) / sum(1 / r for r in eng_rates)  # harmonic mean = total samples / total time
    eng_acc = result.test_accuracy
    eng_peak = peak_bf16 if result.precision in ("bf16", "fp16") else peak_fp32
    summary = {
        "machine": f"{cpu_name() if device.type == 'cpu' else torch.cuda.get_device_name(device)}",
        "device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "epochs": args.epochs, "engine_recipe": args.recipe, "engine_batch_size": cfg.batch_size,
        "reference_samples_per_second": round(ref_rate, 1), "engine_samples_per_second": round(eng_rate, 1),
        "speedup": round(eng_rate / ref_rate, 2),
        "reference_test_accuracy": round(ref_acc, 4), "engine_test_accuracy": round(eng_acc, 4),
        "accuracy_difference_points": round(100 * (eng_acc - ref_acc), 2),
        "engine_precision": result.precision,
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
    print(f"speed-up: {summary['speedup']:.2f}x; "
          f"accuracy difference {summary['accuracy_difference_points']:+.2f} points")
    if args.markdown:
        print("| machine | engine recipe, precision | reference images/s | engine images/s | ratio | "
              "test accuracy, reference / engine | engine, of the matmul peak |")
        print(f"| {summary['machine']} | {args.recipe}, {summary['engine_precision']} | {ref_rate:,.0f} | "
              f"{eng_rate:,.0f} | {summary['speedup']:.2f}x | {ref_acc:.2%} / {eng_acc:.2%} | "
              f"{summary['engine_fraction_of_peak']:.0%} |")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
