"""Events the trainer emits: plain Python numbers only, never tensors, so any thread can take them."""

from __future__ import annotations

from dataclasses import dataclass, field


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


@dataclass
class FinishedEvent:
    """The end of a run: status is "finished", "early-stopped", "stopped" or "failed"."""

    status: str
    message: str
    result: dict = field(default_factory=dict)
