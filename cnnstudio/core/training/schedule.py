"""Learning-rate schedules as a pure function of the step.

Computing the factor from (step, total steps) instead of keeping an LR-scheduler object means a resumed
run needs nothing but its step count to be at the same point of the schedule, and checkpoints hold
no scheduler objects that would have to be unpickled.
"""

from __future__ import annotations

import math


def lr_factor(schedule: str, step: int, total_steps: int, steps_per_epoch: int,
              warmup_epochs: float = 0.0, step_size: int = 0, epochs: int = 1) -> float:
    total_steps = max(1, total_steps)
    warmup = int(warmup_epochs * steps_per_epoch)
    if schedule == "onecycle":
        # Leslie Smith's one-cycle: up from lr/25 over the first quarter, cosine down to ~0.
        up = max(1, warmup or int(0.25 * total_steps))
        if step < up:
            return 0.04 + 0.96 * step / up
        t = min(1.0, (step - up) / max(1, total_steps - up))
        return 1e-4 + (1 - 1e-4) * 0.5 * (1 + math.cos(math.pi * t))
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    if schedule == "step":
        size = step_size or max(1, epochs // 3)
        return 0.1 ** ((step // max(1, steps_per_epoch)) // size)
    if schedule == "cosine":
        t = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return 0.5 * (1 + math.cos(math.pi * t))
    raise ValueError(f"unknown schedule {schedule!r}")
