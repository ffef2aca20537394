"""The learning-rate finder: the range test of Smith (2017), as fastai's `lr_find` runs it.

A short run in which the learning rate rises exponentially, step by step, from START_LR to END_LR while
the training loss is recorded (smoothed by an exponential moving average with bias correction); it ends
early once the smoothed loss exceeds DIVERGE_FACTOR times its minimum. A rule then reads a learning rate
off the curve. The run uses the trainer's own pieces (Trainer.prepared: data, model, optimizer,
preprocessing, augmentation, precision; forward_loss and optimizer_step: the training step), and the
model, optimizer and random state it touched are put back afterwards, so the caller's state is unchanged.

Which rule: docs/benchmarks.md, "Learning-rate finder" (benchmarks/lr_finder.py) measured each rule's
suggestion against a grid of learning rates for seven presets and a custom spec; rule_for() picks by the
run's schedule.
"""

from __future__ import annotations

import copy
import math
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cnnstudio.core.datasets.base import Dataset
from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.training.config import TrainConfig
from cnnstudio.core.training.control import RunControl

START_LR = 1e-7
END_LR = 10.0
STEPS = 100  # fastai's default; bounded so the test stays under 30 s for the presets on 2 CPU cores
SMOOTHING = 0.98  # the moving average's beta, as fastai
DIVERGE_FACTOR = 4.0  # stop once the smoothed loss exceeds this times its minimum
# The rules a suggestion can follow; rule_for() chooses one for a run (by measurement, see the module doc).
RULES = ("valley", "steep", "minimum/10", "minimum")
RULE = "minimum/10"  # runs at a constant, step or cosine schedule
ONE_CYCLE_RULE = "minimum"  # runs on a one-cycle schedule


def rule_for(config: TrainConfig) -> str:
    """The rule whose suggestion trains this run best. A one-cycle schedule warms up to its peak and anneals
    away from it, so its peak may sit at the range test's minimum (Smith's upper bound); a run that holds
    its rate (constant, or cosine from the start) wants a tenth of it (fastai's first rule). Measured on
    Fashion-MNIST, one epoch, against a grid (docs/benchmarks.md): within one point of the grid's best for
    convnet-5x5, lenet5, cnn3-dropout and a custom spec (minimum/10) and for fast-cnn and bn-cnn4
    (minimum); not for gap-cnn (minimum 1.4 points short)."""
    return ONE_CYCLE_RULE if config.schedule == "onecycle" else RULE

ProgressCallback = Callable[[int, int, float, float], None]  # (step, steps, lr, smoothed loss)


class LrFindCancelled(CNNStudioError):
    """The user cancelled the learning-rate finder."""


class NoLearningRateFound(CNNStudioError):
    """The range test's loss did not fall: no learning rate can be read off the curve."""


@dataclass(frozen=True)
class LrFindResult:
    """What the range test found: the learning rates tried and the smoothed loss at each, the suggested
    learning rate and the rule that chose it (None when the curve gave no usable suggestion)."""

    lrs: tuple[float, ...]
    losses: tuple[float, ...]
    suggested_lr: float | None
    rule: str
    seconds: float = 0.0

    def chosen_lr(self) -> float:
        """The suggestion, for a run whose learning rate is to come from the finder (train --lr auto, or a
        network no measured recipe fits); NoLearningRateFound when the curve gave none."""
        if self.suggested_lr is None:
            raise NoLearningRateFound("the learning-rate finder found no learning rate (the loss did not fall "
                                      "during the range test): give one by hand")
        return self.suggested_lr

    def summary(self) -> str:
        """One line for the log: what was chosen and how."""
        return (f"learning rate {self.suggested_lr:.3g}, chosen by the learning-rate finder (rule: {self.rule}, "
                f"{len(self.lrs)} steps in {self.seconds:.1f} s)")

    def to_dict(self) -> dict[str, Any]:
        return {"suggested_lr": self.suggested_lr, "rule": self.rule, "lrs": list(self.lrs),
                "losses": list(self.losses)}


def lr_schedule(steps: int = STEPS, start_lr: float = START_LR, end_lr: float = END_LR) -> list[float]:
    """The learning rate of each step: exponential from start_lr to end_lr (both included)."""
    if steps < 2 or not 0 < start_lr < end_lr:
        raise ValueError("the range test needs at least two steps and 0 < start_lr < end_lr")
    ratio = end_lr / start_lr
    return [start_lr * ratio ** (i / (steps - 1)) for i in range(steps)]


def range_test(model: torch.nn.Module, optimizer: torch.optim.Optimizer, train_step: Callable[[], torch.Tensor],
               *, steps: int = STEPS, start_lr: float = START_LR, end_lr: float = END_LR,
               progress: ProgressCallback | None = None, control: RunControl | None = None,
               generators: Sequence[torch.Generator] = ()) -> tuple[list[float], list[float]]:
    """Run the range test on this model and optimizer: before each call of train_step (one batch forward,
    backward and update, returning the loss), every parameter group's learning rate is set to the
    schedule's (times the group's "lr_scale", as training does). Returns (lrs, smoothed losses) up to the
    step where the loss diverged. The model's weights, the optimizer's state, torch's global random state
    and the given generators' states are restored afterwards, whatever happens."""
    lrs: list[float] = []
    losses: list[float] = []
    with _restored(model, optimizer, generators):
        model.train()
        average, best = 0.0, math.inf
        for i, lr in enumerate(lr_schedule(steps, start_lr, end_lr)):
            if control is not None and control.stop_requested:
                raise LrFindCancelled("learning-rate finder cancelled")
            for group in optimizer.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)
            loss = float(train_step().detach())
            if not math.isfinite(loss):
                break
            average = SMOOTHING * average + (1 - SMOOTHING) * loss
            smoothed = average / (1 - SMOOTHING ** (i + 1))  # bias correction: the first steps are not ~0
            lrs.append(lr)
            losses.append(smoothed)
            if progress is not None:
                progress(i + 1, steps, lr, smoothed)
            best = min(best, smoothed)
            if i > 0 and smoothed > DIVERGE_FACTOR * best:
                break
    return lrs, losses


@contextmanager
def _restored(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
              generators: Sequence[torch.Generator]) -> Iterator[None]:
    """Put the model's weights (and buffers: BatchNorm's running statistics), the optimizer's state and
    learning rates, and the random states back as they were."""
    model_state = copy.deepcopy(model.state_dict())
    optimizer_state = copy.deepcopy(optimizer.state_dict())
    was_training = model.training
    rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    gen_states = [g.get_state() for g in generators]
    try:
        yield
    finally:
        model.load_state_dict(model_state)
        optimizer.load_state_dict(optimizer_state)
        model.train(was_training)
        torch.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
        for g, state in zip(generators, gen_states):
            g.set_state(state)


# -- reading a learning rate off the curve ---------------------------------------------------------------
def suggest_lr(lrs: Sequence[float], losses: Sequence[float], rule: str = RULE) -> float | None:
    """The learning rate this rule reads off the (lrs, smoothed losses) curve; None when the curve is too
    short to say. As fastai, the first tenth of the steps (the average still settling) and the last few
    (the divergence) are left out of "steep" and "valley".

    valley: the longest stretch over which the loss keeps falling, and a point a half of the way into it
      (fastai's default rule since 2.4);
    steep: where the loss falls fastest against log(lr);
    minimum/10: a tenth of the learning rate at the lowest loss (the rule of fastai's first versions);
    minimum: the learning rate at the lowest loss (Smith's upper bound for a one-cycle schedule's peak).
    """
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r} (one of {', '.join(RULES)})")
    n = len(lrs)
    if n != len(losses) or n < 10:
        return None
    if rule in ("minimum/10", "minimum"):
        return float(lrs[min(range(n), key=lambda i: losses[i])]) / (10 if rule == "minimum/10" else 1)
    lo, hi = n // 10, max(n // 10 + 3, n - 5)
    x, y = [math.log(v) for v in lrs[lo:hi]], list(losses[lo:hi])
    if rule == "steep":
        slopes = [(y[i + 1] - y[i - 1]) / (x[i + 1] - x[i - 1]) for i in range(1, len(y) - 1)]
        return float(lrs[lo + 1 + min(range(len(slopes)), key=slopes.__getitem__)])
    # valley: the longest decreasing subsequence of the loss (quadratic, n is a few hundred at most),
    # then the point that lies 1/3 + 1/6 of the way along the stretch it spans.
    run = [1] * len(y)
    end = 0
    for i in range(1, len(y)):
        for j in range(i):
            if y[i] < y[j] and run[i] < run[j] + 1:
                run[i] = run[j] + 1
        if run[i] > run[end]:
            end = i
    start = end - run[end] + 1
    third = (end - start) / 3
    return float(lrs[lo + start + int(third) + int(third / 2)])


# -- the finder on a training configuration ------------------------------------------------------------
def find_lr(config: TrainConfig, dataset: Dataset | None = None, *, steps: int = STEPS, rule: str | None = None,
            progress: ProgressCallback | None = None, control: RunControl | None = None) -> LrFindResult:
    """The range test for this training configuration: the run as training would prepare it (the data
    subset, model, optimizer, augmentation, precision and device of `config`; `dataset` is loaded from the
    config when None), on its own model, so nothing of the caller's changes. Raises LrFindCancelled when
    `control` asks to stop, and CNNStudioError for what would refuse the training itself. `rule`: the
    config's own (rule_for) when None."""
    import time

    from cnnstudio.core.training.trainer import Trainer, forward_loss, optimizer_step

    start = time.perf_counter()
    cfg = copy.deepcopy(config)
    cfg.lr = START_LR
    cfg.epochs = 1
    control = control or RunControl()
    rng = torch.get_rng_state()  # preparing the run seeds torch (the initial weights): put it back after
    try:
        with tempfile.TemporaryDirectory(prefix="cnnstudio-lr-find-") as tmp:
            trainer = Trainer(cfg, dataset=dataset, run_dir=Path(tmp) / "run", control=control)
            with trainer.prepared() as run:
                # Batches as training draws them, from their own seeded generator: the data order of
                # every later run is untouched.
                order = torch.Generator().manual_seed(cfg.seed)
                batches: list[torch.Tensor] = []

                def next_rows() -> torch.Tensor:
                    if not batches:
                        perm = torch.randperm(run.n_train, generator=order)
                        batches.extend(reversed(torch.split(perm, cfg.batch_size)))
                    return batches.pop()

                def train_step() -> torch.Tensor:
                    loss, _ = forward_loss(run, next_rows())
                    optimizer_step(run, loss)
                    return loss

                lrs, losses = range_test(run.model, run.optimizer, train_step, steps=steps, progress=progress,
                                         control=control, generators=(run.aug_gen,))
                run.release_batch()
    finally:
        torch.set_rng_state(rng)
    chosen = rule or rule_for(config)
    return LrFindResult(tuple(lrs), tuple(losses), suggest_lr(lrs, losses, chosen), chosen,
                        time.perf_counter() - start)
