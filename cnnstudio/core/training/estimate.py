"""How long a run will take, before it starts: the Train page's estimate and the Sweep dialog's.

Two sources, the better first:
- the last comparable run in the runs folder (same data, model, batch size, precision, device and
  thread count): the images per second it trained at on this machine are what the next run will see;
- a probe: the run prepared exactly as training prepares it (data on the device, model, optimizer,
  augmentation, precision), a few warm-up steps, then a few timed ones, and the validation pass timed
  on a slice. Seconds on a small model, and it leaves every random state as it found it.

The run's duration is then its training images over the training rate plus the images it evaluates
(the validation set after every epoch, the test set at the end) over the evaluation rate; start-up
(loading the data, building the model) is not counted, as the Train page's clock does not count it.
benchmarks/estimate_duration.py compares the estimate with the real duration.
"""

from __future__ import annotations

import copy
import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cnnstudio.core.datasets.base import Dataset
from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.training.config import TrainConfig

PROBE_WARMUP = 2  # steps whose time is not counted: the first allocations and kernel choices
PROBE_STEPS = 6
EVAL_SLICE = 1024  # validation images timed for the evaluation rate


@dataclass(frozen=True)
class DurationEstimate:
    seconds: float
    train_images_per_second: float
    eval_images_per_second: float
    basis: str  # where the rates come from, in words

    def text(self) -> str:
        return f"about {duration_text(self.seconds)} ({self.basis})"


def duration_text(seconds: float) -> str:
    """Rounded as a person says it: 40 s, 3 min, 1 h 20 min."""
    if seconds < 90:
        return f"{max(1, round(seconds / 5) * 5 if seconds >= 20 else round(seconds))} s"
    minutes = seconds / 60
    if minutes < 60:
        return f"{round(minutes)} min"
    hours, rest = divmod(round(minutes), 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


@dataclass(frozen=True)
class RunSize:
    """The images one run trains and evaluates."""

    train: int  # per epoch
    val: int  # per epoch
    test: int  # once, at the end
    epochs: int

    @classmethod
    def of(cls, cfg: TrainConfig, data: Dataset) -> RunSize:
        n = int(len(data.train_labels))
        if cfg.limit_train:
            n = min(n, cfg.limit_train)
        val = int(round(n * cfg.val_split)) if cfg.val_split else 0
        return cls(n - val, val, int(len(data.test_labels)), cfg.epochs)


def run_seconds(size: RunSize, train_rate: float, eval_rate: float) -> float:
    return (size.epochs * size.train / max(train_rate, 1e-9)
            + (size.epochs * size.val + size.test) / max(eval_rate, 1e-9))


def comparable(cfg: TrainConfig, run_config: dict[str, Any], dataset_name: str) -> bool:
    """A run trained the same network on the same data in the same way (its speed carries over)."""
    def spec_key(c: Any) -> str:
        return json.dumps(c.get("spec") if isinstance(c, dict) else c, sort_keys=True, default=str)

    same_model = (spec_key(run_config) == json.dumps(cfg.spec, sort_keys=True, default=str)
                  if cfg.spec is not None else run_config.get("model") == cfg.model)
    return (same_model and run_config.get("dataset") == dataset_name
            and run_config.get("batch_size") == cfg.batch_size and run_config.get("precision") == cfg.precision
            and run_config.get("device") == cfg.device and run_config.get("augment") == asdict(cfg.augment))


def from_runs(cfg: TrainConfig, data: Dataset, runs_root: Path | None = None) -> DurationEstimate | None:
    """The estimate from the newest comparable run that trained at least one epoch, or None."""
    from cnnstudio.core.runs import list_runs, load_history

    for run in list_runs(runs_root):
        if run.damaged or not run.epochs_done or not comparable(cfg, run.config, cfg.dataset):
            continue
        try:
            history = load_history(run.path)
        except CNNStudioError:  # a damaged metrics.json: not a run to compare with
            continue
        rates = [r for r in history.get("samples_per_second", []) if isinstance(r, (int, float)) and r > 0]
        if not rates:
            continue
        rate = sorted(rates)[len(rates) // 2]
        # Evaluation runs without gradients: about three times the training rate for these networks
        # (benchmarks/estimate_duration.py measures the estimate as a whole).
        eval_rate = 3 * rate
        return DurationEstimate(run_seconds(RunSize.of(cfg, data), rate, eval_rate), rate, eval_rate,
                                f"the run {run.name} trained this model at {rate:,.0f} images/s here")
    return None


@dataclass(frozen=True)
class MeasuredRates:
    train: float  # images per second, training steps
    eval: float  # images per second, evaluation
    device: str


def probe(cfg: TrainConfig, data: Dataset) -> MeasuredRates:
    """Time a few training steps and a validation slice of this very run, prepared as training prepares it."""
    import torch

    from cnnstudio.core.metrics import predict_probabilities
    from cnnstudio.core.training.trainer import Trainer, forward_loss, optimizer_step

    cfg = copy.deepcopy(cfg)
    cfg.epochs = 1
    rng = torch.get_rng_state()  # preparing the run seeds torch: put it back after
    try:
        with tempfile.TemporaryDirectory(prefix="cnnstudio-estimate-") as tmp:
            trainer = Trainer(cfg, dataset=data, run_dir=Path(tmp) / "run")
            with trainer.prepared() as run:
                order = torch.randperm(run.n_train, generator=torch.Generator().manual_seed(cfg.seed))
                batches = torch.split(order, cfg.batch_size)
                timed, images = 0.0, 0
                for i in range(PROBE_WARMUP + PROBE_STEPS):
                    rows = batches[i % len(batches)]
                    t0 = time.perf_counter()
                    loss, _ = forward_loss(run, rows)
                    optimizer_step(run, loss)
                    float(loss.detach())  # the step is done when its loss is known (on an asynchronous device too)
                    if i >= PROBE_WARMUP:
                        timed += time.perf_counter() - t0
                        images += int(rows.numel())
                val = run.val_x[:EVAL_SLICE] if run.val_x.shape[0] else run.train_x[:EVAL_SLICE]
                model = run.head if run.head is not None else run.model
                normalise = run.pre.normalise
                predict_probabilities(model, val[:64], normalise, run.device, run.amp_dtype)  # warm-up
                t0 = time.perf_counter()
                # Returns CPU tensors: the device has finished when it returns.
                predict_probabilities(model, val, normalise, run.device, run.amp_dtype, cfg.eval_batch_size)
                eval_rate = int(val.shape[0]) / max(time.perf_counter() - t0, 1e-9)
                run.release_batch()
                return MeasuredRates(images / max(timed, 1e-9), eval_rate, str(run.device))
    finally:
        torch.set_rng_state(rng)


def estimate_duration(cfg: TrainConfig, data: Dataset, runs_root: Path | None = None) -> DurationEstimate:
    """The run's duration: from the last comparable run when there is one, else from a probe."""
    found = from_runs(cfg, data, runs_root)
    if found is not None:
        return found
    rates = probe(cfg, data)
    return DurationEstimate(run_seconds(RunSize.of(cfg, data), rates.train, rates.eval), rates.train, rates.eval,
                            f"measured: {PROBE_STEPS} steps of this model on {rates.device}")
