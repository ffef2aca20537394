"""How long a whole sweep will take, before it starts (the Sweep dialog, `cnnstudio sweep`).

Each trial's duration is estimated as a single run's is (core/training/estimate.py); trials that share
a model, batch size and augmentation share one measurement, so a sweep over learning rates probes once.
A range is estimated at its middle (geometric for a log range). For halving the figure is an upper
bound: the trials it stops early take a ninth or a third of their time.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from cnnstudio.core.datasets.base import Dataset
from cnnstudio.core.sweep.space import SweepParam, grid
from cnnstudio.core.sweep.runner import TrialConfigs
from cnnstudio.core.sweep.study import SweepSpec
from cnnstudio.core.text import plural
from cnnstudio.core.training.estimate import RunSize, duration_text, estimate_duration, run_seconds


@dataclass(frozen=True)
class SweepEstimate:
    seconds: float
    trials: int
    upper_bound: bool  # halving: trials stopped early take less

    def text(self) -> str:
        bound = "at most " if self.upper_bound else ""
        return f"{bound}about {duration_text(self.seconds)} for {plural(self.trials, 'trial')}"


def _middle(param: SweepParam) -> Any:
    assert param.low is not None and param.high is not None
    mid = math.sqrt(param.low * param.high) if param.scale == "log" else (param.low + param.high) / 2
    return int(round(mid)) if param.kind == "int" else mid


def estimate_sweep(spec: SweepSpec, data: Dataset, device: str = "auto") -> SweepEstimate:
    configs = TrialConfigs(spec, data, device)
    if all(not p.is_range for p in spec.params) and spec.strategy != "random" and spec.trials is None:
        settings = list(grid(spec.params))
    else:  # draws: each listed value as often as any other, each range at its middle
        lists = [p for p in spec.params if not p.is_range]
        fixed = {p.name: _middle(p) for p in spec.params if p.is_range}
        combos = list(grid(lists)) if lists else [{}]
        settings = [{**combos[i % len(combos)], **fixed} for i in range(spec.target)]
    rates: dict[str, tuple[float, float]] = {}
    total = 0.0
    for s in settings:
        cfg, _ = configs.config(s)
        # What decides the speed: the network, the batch, the augmentation and the precision.
        key = json.dumps([cfg.model, cfg.spec, cfg.batch_size, asdict(cfg.augment), cfg.precision], sort_keys=True)
        if key not in rates:
            one = estimate_duration(cfg, data)
            rates[key] = (one.train_images_per_second, one.eval_images_per_second)
        total += run_seconds(RunSize.of(cfg, data), *rates[key])
    return SweepEstimate(total, len(settings), spec.strategy == "halving")
