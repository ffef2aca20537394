"""Where a training step's time goes on this CPU: torch.profiler tables for the engine's step.

One step as the trainer runs it (uint8 batch gathered by index, BatchPreprocessor, channels_last,
autocast in the chosen precision, cross-entropy with label smoothing, the fused optimizer), profiled
over 20 steps after 5 warm-up steps, for each preset and precision asked. Prints the operators by self
CPU time, each step's time, images/s and the fraction of the matmul peak measured in the same run
(issue 19, item 2: the fp32 CPU path).

    python benchmarks/profile_step.py [--presets convnet-5x5 fast-cnn] [--precisions fp32 bf16] [--rows 12]
                                      [--orders spec training]

--orders spec training profiles the layers both in the spec's order and in the order the trainer runs
them (builder.training_graph: each ReLU after the max-pool it fed), and times the two alternately, so
"before" and "after" come from one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from train_throughput import matmul_peak, training_flops_per_sample

from cnnstudio.core.datasets import load_dataset
from cnnstudio.core.models.builder import build_model, training_graph
from cnnstudio.core.models.presets import get_preset
from cnnstudio.core.training.augment import BatchPreprocessor
from cnnstudio.core.training.config import TrainConfig
from cnnstudio.core.training.device import configure_threads, cpu_name
from cnnstudio.core.training.trainer import make_optimizer

BATCH = {"fast-cnn": 256}  # each preset's default batch; others: 128


def make_step(preset: str, precision: str, ds, order: str):
    """One training step as the trainer runs it, on a fresh model (seed 0), with the layers in `order`."""
    device = torch.device("cpu")
    spec = get_preset(preset)
    batch = BATCH.get(preset, 128)
    torch.manual_seed(0)
    model = build_model(spec, ds.input_shape, ds.num_classes).to(memory_format=torch.channels_last)
    net = training_graph(model) if order == "training" else model
    cfg = TrainConfig(dataset="fashion-mnist", model=preset, optimizer="sgd" if preset == "fast-cnn" else "adam",
                      lr=0.05 if preset == "fast-cnn" else 1e-3, momentum=0.9, weight_decay=5e-4)
    optimizer = make_optimizer(cfg, model, device)
    pre = BatchPreprocessor(ds.mean, ds.std, device, channels_last=True)
    images, labels = ds.train_images, ds.train_labels
    gen = torch.Generator().manual_seed(0)
    amp = torch.bfloat16 if precision == "bf16" else None

    def step() -> None:
        idx = torch.randint(0, len(labels), (batch,), generator=gen)
        x = pre.normalise(images[idx])
        with torch.autocast("cpu", dtype=amp, enabled=amp is not None):
            loss = F.cross_entropy(net(x), labels[idx], label_smoothing=0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(5):
        step()
    return step, batch, training_flops_per_sample(spec, ds.input_shape, ds.num_classes)


def profile(preset: str, precision: str, orders: list[str], ds, rows: int, rounds: int = 8) -> list[dict]:
    steps = {order: make_step(preset, precision, ds, order) for order in orders}
    for order, (step, batch, _) in steps.items():
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(20):
                step()
        print(f"\n## {preset}, {precision}, batch {batch}, layers in the {order} order: 20 profiled steps")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))
    # Unprofiled timing (the profiler adds its own overhead), the orders alternating in rotated order
    # round by round, so drift in the machine's speed hits them alike.
    seconds: dict[str, list[float]] = {order: [] for order in orders}
    for r in range(rounds):
        for order in orders[r % len(orders):] + orders[:r % len(orders)]:
            step = steps[order][0]
            start = time.perf_counter()
            for _ in range(10):
                step()
            seconds[order].append((time.perf_counter() - start) / 10)
    results = []
    for order in orders:
        _, batch, flops = steps[order]
        plain = statistics.median(seconds[order])
        print(f"{preset}, {precision}, {order} order: {1000 * plain:.1f} ms a step (median of {rounds} rounds), "
              f"{batch / plain:,.0f} images/s, {batch * flops / plain / 1e9:.0f} GFLOP/s")
        results.append({"preset": preset, "precision": precision, "order": order,
                        "images_per_second": batch / plain, "gflops": batch * flops / plain / 1e9,
                        "vs_first": statistics.median(a / b for a, b in zip(seconds[orders[0]], seconds[order]))})
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="*", default=["convnet-5x5", "fast-cnn"])
    parser.add_argument("--precisions", nargs="*", default=["fp32", "bf16"])
    parser.add_argument("--rows", type=int, default=12)
    parser.add_argument("--orders", nargs="*", default=["training"], choices=("spec", "training"))
    args = parser.parse_args()
    threads = configure_threads(torch.device("cpu"))
    ds = load_dataset("fashion-mnist")
    # Only the precisions asked: held to AVX2 (ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
    # MKL_ENABLE_INSTRUCTIONS=AVX2, an fp32-only CPU) one bf16 product of the peak's size takes a minute.
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    peaks = {p: matmul_peak(dtypes[p], torch.device("cpu")) for p in args.precisions}
    print(f"CPU: {cpu_name()}, {threads} threads, torch {torch.__version__}, torch kernels "
          f"{torch.backends.cpu.get_cpu_capability()}; matmul peak "
          + ", ".join(f"{p} {peak:.0f} GFLOP/s" for p, peak in peaks.items()))
    results = [r for p in args.presets for precision in args.precisions
               for r in profile(p, precision, args.orders, ds, args.rows)]
    print(f"\n| preset | precision | layer order | images/s | GFLOP/s | of the matmul peak | speed vs the "
          f"{args.orders[0]} order (median of paired rounds) |\n|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['preset']} | {r['precision']} | {r['order']} | {r['images_per_second']:,.0f} | "
              f"{r['gflops']:.0f} | "
              f"{r['gflops'] / peaks[r['precision']]:.0%} | {r['vs_first']:.3f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
