"""The duration estimate before Start (core/training/estimate.py): a probe of the run itself, or the
speed of the last comparable run."""

from __future__ import annotations

import torch

from cnnstudio.core.datasets import load_dataset
from cnnstudio.core.paths import runs_dir
from cnnstudio.core.training.config import build_config, data_config
from cnnstudio.core.training.estimate import RunSize, duration_text, estimate_duration, probe, run_seconds
from cnnstudio.core.training.trainer import Trainer


def test_durations_read_as_a_person_says_them():
    assert [duration_text(s) for s in (7, 42, 95, 600, 3600, 4800)] == [
        "7 s", "40 s", "2 min", "10 min", "1 h", "1 h 20 min"]


def test_the_run_size_and_seconds_follow_the_settings():
    ds = load_dataset("shapes")
    cfg = build_config(data_config("shapes"), {"epochs": 3, "limit_train": 1000, "val_split": 0.2})
    size = RunSize.of(cfg, ds)
    assert (size.train, size.val, size.epochs) == (800, 200, 3)
    assert run_seconds(size, train_rate=100, eval_rate=1000) == 3 * 800 / 100 + (3 * 200 + size.test) / 1000


def test_a_probe_measures_this_run_and_leaves_the_random_state_alone():
    ds = load_dataset("shapes")
    cfg = build_config(data_config("shapes"), {"epochs": 1, "limit_train": 300, "device": "cpu"})
    state = torch.get_rng_state()
    rates = probe(cfg, ds)
    assert torch.equal(torch.get_rng_state(), state)
    assert rates.train > 0 and rates.eval > 0 and rates.device == "cpu"
    first = estimate_duration(cfg, ds)
    assert first.basis.startswith("measured") and first.seconds > 0


def test_the_last_comparable_run_is_the_better_source():
    ds = load_dataset("shapes")
    cfg = build_config(data_config("shapes"), {"epochs": 1, "limit_train": 300, "device": "cpu"})
    result = Trainer(cfg, dataset=ds, run_dir=runs_dir() / "earlier").run()
    assert result.status == "finished"
    again = estimate_duration(build_config(cfg, {"epochs": 4}), ds)
    assert again.basis.startswith("the run earlier trained this model at")
    rate = result.train_samples_per_second
    assert abs(again.train_images_per_second - rate) / rate < 1e-6  # one epoch: its rate is the median
    other = estimate_duration(build_config(cfg, {"batch_size": cfg.batch_size // 2}), ds)  # not comparable
    assert other.basis.startswith("measured")
