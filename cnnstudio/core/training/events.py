"""Events the trainer emits: plain Python numbers only, never tensors, so any thread can take them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class StartedEvent:
    run_dir: str
    device: str
    device_name: str
    precision: str
    threads: int
    train_samples: int
    val_samples: int
    test_samples: int
    epochs: int
    steps_per_epoch: int
    start_epoch: int
    params: int


@dataclass
class StepEvent:
    epoch: int  # 1-based
    epochs: int
    step: int  # within the epoch, 1-based
    steps_per_epoch: int
    global_step: int
    total_steps: int
    loss: float  # mean training loss since the previous step event
    accuracy: float  # training accuracy since the previous step event
    lr: float
    samples_per_second: float
    eta_seconds: float
    elapsed_seconds: float


@dataclass
class EpochEvent:
    epoch: int
    epochs: int
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    lr: float
    seconds: float
    samples_per_second: float
    is_best: bool
    checkpoint: str


@dataclass
class ProbeEvent:
    """The validation accuracy measured within an epoch, at a step the caller asked for (Trainer's
    `probe_at`): what a sweep's pruner compares trials by before they end."""

    global_step: int
    total_steps: int
    val_accuracy: float
    val_loss: float


@dataclass
class RecoveredEvent:
    """The run went back to its last good state and lowered its learning rate (training/recovery.py)."""

    epoch: int  # 1-based epoch the run goes on in
    step: int  # the global step it went back to (the steps after it are trained again)
    detected_at_step: int  # the global step where the problem showed
    reason: str  # what went wrong, in words: "the training loss became NaN at epoch 1, step 31"
    lr_factor: float  # the factor on the schedule's learning rate from now on (0.3, 0.09, ...)
    count: int  # recoveries so far in this run


@dataclass
class LogEvent:
    message: str


# The keys of result.json, in the order they are written (run folders on disk, the Runs page and
# `cnnstudio train --json` read them): a failed run's, then a finished, early-stopped or stopped run's.
FAILED_KEYS = ("status", "message", "run_dir", "phase", "epochs", "best_val_accuracy", "recoveries")
ENDED_KEYS = ("status", "message", "run_dir", "checkpoint", "last_checkpoint", "epochs", "global_step",
              "total_steps", "device", "precision", "threads", "world_size", "best_val_accuracy", "best_epoch",
              "train_samples_per_second", "skipped_files", "recoveries")
TEST_KEYS = ("test_accuracy", "test_loss")  # only once the checkpoint was tested


@dataclass(frozen=True)
class RunResult:
    """How a run ended: what Trainer.run() returns, FinishedEvent carries and result.json holds
    (through to_dict, the one writer of that object).

    `status` is "finished", "early-stopped", "stopped" or "failed". A failed run's `phase` says whether it
    was refused before it started ("setup": bad settings, data or checkpoint) or failed while training
    ("training": diverged, out of memory, disk full)."""

    status: str
    message: str
    run_dir: str | None = None
    checkpoint: str | None = None  # best.pt (last.pt when there is no best), None when neither exists
    last_checkpoint: str | None = None
    phase: str | None = None  # failed runs only
    epochs: int = 0  # epochs in the history
    global_step: int | None = None
    total_steps: int | None = None
    device: str | None = None
    precision: str | None = None
    threads: int | None = None
    world_size: int | None = None
    best_val_accuracy: float | None = None
    best_epoch: int | None = None
    train_samples_per_second: float | None = None
    skipped_files: int | None = None
    recoveries: tuple[dict[str, Any], ...] = ()  # the recoveries' records, as the history keeps them
    test_accuracy: float | None = None  # None when the checkpoint was not tested (stopped, no test set)
    test_loss: float | None = None
    # Never written: a traceback when the training thread met a bug, and the metrics history (in
    # metrics.json and the checkpoint already).
    details: str = field(default="", compare=False, repr=False)
    history: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def ended_well(self) -> bool:
        """Finished or stopped early: the run's best checkpoint is the model to use."""
        return self.status in ("finished", "early-stopped")

    def to_dict(self) -> dict[str, Any]:
        """result.json's object (and `cnnstudio train --json`'s), key for key as it has always been."""
        if self.status == "failed":
            keys: tuple[str, ...] = FAILED_KEYS
        else:
            keys = ENDED_KEYS + (TEST_KEYS if self.test_accuracy is not None else ())
        doc = {key: getattr(self, key) for key in keys}
        doc["recoveries"] = [dict(r) for r in self.recoveries]
        return doc


@dataclass
class FinishedEvent:
    """The end of a run: status is "finished", "early-stopped", "stopped" or "failed"."""

    status: str
    message: str
    result: RunResult
