"""Recovery instead of divergence: go back to the last good state, lower the learning rate, go on.

A run whose loss becomes NaN or infinite, explodes, or sits at the loss of a guess that ignores the
picture long after warm-up does not end (or, worse, end at chance without a word): the trainer puts
back the last good snapshot (weights, optimizer state, position in the schedule and in the data, every
random state), multiplies the learning rate by RECOVERY_LR_FACTOR (0.1) from then on (a factor on the
schedule, so one-cycle and cosine keep their shape) and continues. After MAX_RECOVERIES, or at once
with recovery turned off (config.recover), it stops with the clear message: "training diverged" as
before recovery existed, or "training is not learning" for a loss stuck at chance (which used to end
the run at chance without a word).

The snapshot lives in memory and is taken at the trainer's loss checks (which already read the loss
back, so no extra host sync), at most every SNAPSHOT_EVERY steps, and at each epoch's end. It is only
taken of a good state: a finite loss clearly below the chance level. A run that never left chance goes
back to its start.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import torch

MAX_RECOVERIES = 3
# x0.1 per recovery, measured (docs/benchmarks.md, fast-cnn on Fashion-MNIST at 5, 25x the recommended
# rate): two epochs, one recovery, 90.9 % (the default run: 91.5 %). One epoch: x0.1 recovered once, from
# the start, to 88.5 % (default 89.5 %); x0.3 needed two recoveries, the second from a state the x0.3 run
# had already shaken (step 28, lr 0.8), and ended at 80.2 %. A tenth is the step people take by hand
# ("try a tenth") and what the message advises.
RECOVERY_LR_FACTOR = 0.1
# Steps between in-memory snapshots. A snapshot of convnet-5x5 (3.2 M weights and Adam's two moments,
# 38 MB) measured 7 % of one batch-256 step on the 2-core EPYC (5 % with SGD; fast-cnn 2.6 %; medians of
# 15, docs/benchmarks.md): taken at most every 10 steps it costs under 1 % of training time, and a
# recovery trains again at most 10 steps plus one check interval.
SNAPSHOT_EVERY = 10
# "Long after warm-up": the loss must have stayed at chance for this many steps after the warm-up ended
# (counted from the last good check or the last recovery, whichever is later). Healthy runs leave chance
# far sooner: measured on Fashion-MNIST, the default fast-cnn run's loss is below the threshold by step
# 10 (its warm-up is 105 steps), and convnet-5x5 with Adam 1e-3 by step 15. 100 steps is also past the
# end of the steepest part of one-cycle's warm-up in a 1-epoch run of 211 steps. Small runs (the built-in
# shapes at a few dozen steps) never reach the bound, so a slow start there is never taken for a stall.
STUCK_STEPS = 100
# The loss counts as "at chance" while it has covered less than this fraction of the way from the
# chance loss down to the lowest loss the labels allow (which label smoothing raises above zero).
STUCK_FRACTION = 0.1
# A loss still at chance but falling is a slow start, not a stall: the count of steps "at chance" starts
# again whenever the loss (the trainer's check, an average over its interval) has come down by this
# fraction of the way from chance to the floor since the last such fall. Measured on a folder of 2,000
# photo-like colour pictures (docs/benchmarks.md, "Recipes that follow the model"): with Adam at 1e-3 and
# five epochs, seven of ten networks were above the "at chance" line 100 steps after warm-up and the rule
# stopped them with "training is not learning"; some of them were learning slowly (bn-cnn4's loss fell
# from 2.12 to 2.03 over two epochs): convnet-5x5 and a plain custom network now finish. A run at 25x its
# rate, or one whose loss a test pins at chance, does not fall at all, and is still caught after STUCK_STEPS.
PROGRESS_FRACTION = 0.02


def chance_loss(labels: torch.Tensor, num_classes: int, label_smoothing: float, balanced: bool) -> float:
    """The loss of the best guess that ignores the picture: predicting the class frequencies (the smoothed
    targets' average). Uniform classes (or a loss weighted to balance them): ln K whatever the smoothing."""
    k = max(2, num_classes)
    if balanced or labels.numel() == 0:
        prior = torch.full((k,), 1.0 / k, dtype=torch.float64)
    else:
        counts = torch.bincount(labels.detach().to("cpu", torch.int64), minlength=k)[:k].to(torch.float64)
        prior = counts / counts.sum()
    q = (1 - label_smoothing) * prior + label_smoothing / k
    q = q[q > 0]
    return float(-(q * q.log()).sum())


def floor_loss(num_classes: int, label_smoothing: float) -> float:
    """The lowest loss the smoothed targets allow (a perfect, perfectly calibrated model): 0 without smoothing."""
    k = max(2, num_classes)
    hit, miss = 1 - label_smoothing + label_smoothing / k, label_smoothing / k
    return -(hit * math.log(hit)) - ((k - 1) * miss * math.log(miss) if miss > 0 else 0.0)


def stuck_threshold(chance: float, floor: float) -> float:
    return chance - STUCK_FRACTION * max(0.0, chance - floor)


@dataclass
class Snapshot:
    """A good state of the run, in memory: what a checkpoint holds for resuming, minus the files."""

    epoch: int  # 0-based epoch the run continues in
    batch: int  # first batch of that epoch still to train
    global_step: int
    partial: dict[str, Any]
    best_metric: float | None
    best_tiebreak: float | None
    best_epoch: int
    bad_epochs: int
    model_state: dict[str, Any]
    optimizer_state: dict[str, Any]
    scaler_state: dict[str, Any] | None
    rng: dict[str, Any]
    history_lengths: dict[str, Any]


def _clone(value: Any) -> Any:
    """A copy whose tensors share nothing with the live ones (the optimizer updates its state in place)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_clone(v) for v in value)
    return copy.copy(value)


def history_lengths(history: dict[str, Any]) -> dict[str, Any]:
    lengths: dict[str, Any] = {k: len(v) for k, v in history.items() if isinstance(v, list) and k != "recoveries"}
    lengths["steps"] = {k: len(v) for k, v in (history.get("steps") or {}).items() if isinstance(v, list)}
    return lengths


def truncate_history(history: dict[str, Any], lengths: dict[str, Any]) -> None:
    """Drop what the run recorded after the snapshot: metrics.json then holds one trajectory, the one
    that goes on (the recovery itself is in history["recoveries"])."""
    for key, n in lengths.items():
        if key == "steps":
            for skey, sn in n.items():
                del history["steps"][skey][sn:]
        elif isinstance(history.get(key), list):
            del history[key][n:]


@dataclass
class RecoveryGuard:
    """Decides when a run recovers, keeps its snapshot and its learning-rate factor."""

    enabled: bool
    explode_loss: float  # a step loss above this has blown up
    stuck_loss: float  # a step loss at or above this after warm-up is "at chance"
    chance: float
    warmup_end: int  # the global step where warm-up ends (0: no warm-up)
    floor: float = 0.0  # the lowest loss the labels allow (floor_loss)
    lr_factor: float = 1.0
    last_good_step: int = 0  # the last check whose loss was clearly below chance (or the last restart)
    progress_loss: float = math.inf  # the loss at the last check that counted as progress
    last_progress_step: int = 0
    snapshot: Snapshot | None = None
    snapshot_step: int = -1
    records: list[Any] = field(default_factory=list)

    # -- what is wrong ------------------------------------------------------------------------------
    def step_problem(self, loss: float, global_step: int) -> tuple[str, bool] | None:
        """(what happened, whether the loss is merely stuck) when a step loss calls for a recovery, else None.
        Notes a good loss as the latest sign of learning."""
        if math.isnan(loss):
            return "became NaN", False
        if math.isinf(loss):
            return "became infinite", False
        if loss > self.explode_loss:
            return f"grew to {loss:.3g} (a random guess scores about {self.chance:.2g})", False
        if loss < self.stuck_loss:
            self.last_good_step = global_step
            return None
        if math.isinf(self.progress_loss):
            self.progress_loss = loss  # the first loss at chance is where a fall is measured from
        elif loss < self.progress_loss - PROGRESS_FRACTION * max(0.0, self.chance - self.floor):
            self.progress_loss, self.last_progress_step = loss, global_step  # falling: a slow start
        since = global_step - max(self.last_good_step, self.last_progress_step, self.warmup_end)
        if since >= STUCK_STEPS:
            return (f"stayed at chance level ({loss:.3g}; a guess that ignores the picture scores "
                    f"{self.chance:.3g}) for {since} steps after warm-up"), True
        return None

    def good(self, loss: float) -> bool:
        return math.isfinite(loss) and loss < self.stuck_loss

    # -- snapshots ----------------------------------------------------------------------------------
    def snapshot_due(self, global_step: int, loss: float) -> bool:
        return (self.enabled and self.good(loss) and global_step - self.snapshot_step >= SNAPSHOT_EVERY)

    def take(self, run: Any, epoch: int, batch: int, history: dict[str, Any]) -> None:
        """Keep the run's state now (between two steps) as the one to go back to."""
        rng = {"torch": torch.get_rng_state(), "aug": run.aug_gen.get_state()}
        if run.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state_all()
        self.snapshot = Snapshot(
            epoch=epoch, batch=batch, global_step=run.global_step, partial=dict(run.partial),
            best_metric=run.best_metric, best_tiebreak=run.best_tiebreak, best_epoch=run.best_epoch,
            bad_epochs=run.bad_epochs, model_state=_clone(run.model.state_dict()),
            optimizer_state=_clone(run.optimizer.state_dict()),
            scaler_state=_clone(run.scaler.state_dict()) if run.scaler is not None else None,
            rng=rng, history_lengths=history_lengths(history))
        self.snapshot_step = run.global_step

    def can_recover(self) -> bool:
        return self.enabled and self.snapshot is not None and len(self.records) < MAX_RECOVERIES

    def recover(self, run: Any, history: dict[str, Any], reason: str, detected_at: int) -> dict[str, Any]:
        """Put the snapshot back into `run`, lower the learning rate; returns the recovery's record."""
        snap = self.snapshot
        assert snap is not None
        run.model.load_state_dict(snap.model_state)
        # load_state_dict keeps the tensors it is given: a copy, so the snapshot stays as it was.
        run.optimizer.load_state_dict(_clone(snap.optimizer_state))
        if run.scaler is not None and snap.scaler_state is not None:
            run.scaler.load_state_dict(_clone(snap.scaler_state))
        torch.set_rng_state(snap.rng["torch"])
        run.aug_gen.set_state(snap.rng["aug"])
        if "cuda" in snap.rng and run.device.type == "cuda":
            torch.cuda.set_rng_state_all(list(snap.rng["cuda"]))
        run.start_epoch, run.start_batch, run.global_step = snap.epoch, snap.batch, snap.global_step
        run.partial = dict(snap.partial)
        run.best_metric, run.best_tiebreak = snap.best_metric, snap.best_tiebreak
        run.best_epoch, run.bad_epochs = snap.best_epoch, snap.bad_epochs
        truncate_history(history, snap.history_lengths)
        self.lr_factor *= RECOVERY_LR_FACTOR
        self.last_good_step = snap.global_step
        self.progress_loss, self.last_progress_step = math.inf, snap.global_step
        record = {"epoch": snap.epoch + 1, "step": snap.global_step, "detected_at_step": detected_at,
                  "reason": reason, "lr_factor": self.lr_factor}
        self.records.append(record)
        return record

    # -- checkpoints --------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"lr_factor": self.lr_factor, "last_good_step": self.last_good_step,
                "progress_loss": self.progress_loss if math.isfinite(self.progress_loss) else None,
                "last_progress_step": self.last_progress_step}

    def load(self, state: dict[str, Any] | None, records: list[Any] | None) -> None:
        """A resumed run goes on with the learning rate and the count of recoveries it had."""
        state = state or {}
        self.lr_factor = float(state.get("lr_factor", 1.0))
        self.last_good_step = int(state.get("last_good_step", 0))
        # Checkpoints written before the progress rule lack these: the count starts from the last good step.
        progress = state.get("progress_loss")
        self.progress_loss = math.inf
        if isinstance(progress, (int, float)) and not isinstance(progress, bool) and math.isfinite(progress):
            self.progress_loss = float(progress)
        step = state.get("last_progress_step")
        self.last_progress_step = step if isinstance(step, int) and not isinstance(step, bool) else self.last_good_step
        self.records = list(records or [])
