"""Recovery instead of divergence: back to the last good state with a lower learning rate, a bounded
number of times, visible in the events, metrics.json and result.json, and exact across a resume."""

from __future__ import annotations

import json
import math
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as real_F

from cnnstudio.core.checkpoint import load_checkpoint
from cnnstudio.core.datasets.shapes import load_shapes
from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.training import trainer as trainer_module
from cnnstudio.core.training.config import Augmentation, TrainConfig
from cnnstudio.core.training.events import FinishedEvent, RecoveredEvent
from cnnstudio.core.training.recovery import (MAX_RECOVERIES, RECOVERY_LR_FACTOR, STUCK_STEPS, RecoveryGuard,
                                              chance_loss, floor_loss, stuck_threshold)
from cnnstudio.core.training.trainer import Trainer


@pytest.fixture(scope="module")
def shapes():
    return load_shapes(n_train=1000, n_test=300)  # small: each run takes seconds


def small_config(**changes) -> TrainConfig:
    cfg = TrainConfig(dataset="shapes", model="tiny-bn-cnn", epochs=2, batch_size=64, optimizer="adam", lr=2e-3,
                      val_split=0.1, limit_train=600, device="cpu", precision="fp32", seed=3, log_every=1,
                      augment=Augmentation(crop_padding=2, hflip=True))
    for key, value in changes.items():
        setattr(cfg, key, value)
    return cfg


class FaultyLoss:
    """Stands in for torch.nn.functional in the trainer: the real cross-entropy, except at the calls
    (training steps, counted from 1) that `fault(call)` names: NaN there (weights and optimizer state
    turn NaN too, as in a real blow-up), or "chance": a loss equal to a blind guess's, with no gradient."""

    def __init__(self, fault):
        self.fault = fault
        self.calls = 0

    def cross_entropy(self, logits, y, **kwargs):
        self.calls += 1
        loss = real_F.cross_entropy(logits, y, **kwargs)
        kind = self.fault(self.calls)
        if kind == "nan":
            return loss * math.nan
        if kind == "chance":
            return loss * 0.0 + math.log(logits.shape[1])
        if isinstance(kind, float):  # a loss pinned to this value, with no gradient
            return loss * 0.0 + kind
        return loss


def patch_loss(monkeypatch, fault) -> FaultyLoss:
    faulty = FaultyLoss(fault)
    monkeypatch.setattr(trainer_module, "F", types.SimpleNamespace(cross_entropy=faulty.cross_entropy))
    return faulty


def run(cfg, shapes, run_dir, **kwargs):
    events = []
    result = Trainer(cfg, dataset=shapes, run_dir=run_dir, on_event=events.append, **kwargs).run()
    return result, events


def test_a_nan_loss_goes_back_lowers_the_rate_and_finishes(shapes, tmp_path, monkeypatch):
    patch_loss(monkeypatch, lambda call: "nan" if call == 12 else None)
    result, events = run(small_config(), shapes, tmp_path / "r")
    assert result.status == "finished", result.message
    (recovered,) = [e for e in events if isinstance(e, RecoveredEvent)]
    assert recovered.detected_at_step == 12 and recovered.step < 12 and recovered.count == 1
    assert "NaN" in recovered.reason and recovered.lr_factor == pytest.approx(RECOVERY_LR_FACTOR)
    record = {"epoch": recovered.epoch, "step": recovered.step, "detected_at_step": 12,
              "reason": recovered.reason, "lr_factor": recovered.lr_factor}
    # In both files, and the curves hold one trajectory: every step once, in order, all finite.
    saved = json.loads((tmp_path / "r" / "result.json").read_text())
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert saved["recoveries"] == [record] and metrics["recoveries"] == [record]
    steps = metrics["steps"]["step"]
    assert steps == sorted(set(steps)) and steps[-1] == result.total_steps
    assert all(math.isfinite(v) for v in metrics["steps"]["loss"])
    assert len(metrics["epoch"]) == 2 and math.isfinite(saved["test_loss"])
    # The learning rate after the recovery is the schedule's (constant here) times the factor.
    lrs = dict(zip(steps, metrics["steps"]["lr"]))
    assert all(lr == pytest.approx(2e-3) for step, lr in lrs.items() if step <= recovered.step)
    assert all(lr == pytest.approx(2e-3 * RECOVERY_LR_FACTOR) for step, lr in lrs.items() if step > recovered.step)
    # A line in train.log says what happened.
    log = (tmp_path / "r" / "train.log").read_text()
    assert "recovered: the training loss became NaN" in log and f"x{RECOVERY_LR_FACTOR:g}" in log


def test_without_recovery_a_nan_loss_stops_with_the_clear_message(shapes, tmp_path, monkeypatch):
    patch_loss(monkeypatch, lambda call: "nan" if call == 12 else None)
    result, events = run(small_config(recover=False), shapes, tmp_path / "r")
    assert result.status == "failed"
    assert result.message.startswith("the training loss became NaN at epoch 2, step 3: training diverged. "
                                         "Try a lower learning rate (now 0.002; e.g. 0.0002)")
    assert not [e for e in events if isinstance(e, RecoveredEvent)]
    assert json.loads((tmp_path / "r" / "result.json").read_text())["recoveries"] == []


def test_recovery_is_bounded_then_the_run_stops_with_the_message(shapes, tmp_path, monkeypatch):
    patch_loss(monkeypatch, lambda call: "nan" if call >= 4 else None)
    result, events = run(small_config(), shapes, tmp_path / "r")
    assert result.status == "failed"
    recovered = [e for e in events if isinstance(e, RecoveredEvent)]
    assert [e.count for e in recovered] == list(range(1, MAX_RECOVERIES + 1))
    assert [e.lr_factor for e in recovered] == pytest.approx(
        [RECOVERY_LR_FACTOR ** n for n in range(1, MAX_RECOVERIES + 1)])
    message = result.message
    assert "became NaN" in message and f"after {MAX_RECOVERIES} recoveries" in message
    assert "training diverged. Try a lower learning rate" in message
    saved = json.loads((tmp_path / "r" / "result.json").read_text())
    assert saved["status"] == "failed" and len(saved["recoveries"]) == MAX_RECOVERIES
    assert [e for e in events if isinstance(e, FinishedEvent)][-1].status == "failed"


def test_a_loss_stuck_at_chance_after_warm_up_recovers(shapes, tmp_path, monkeypatch):
    # Blind for the first 110 steps (as a run at 25x its learning rate sits at chance), then learning.
    patch_loss(monkeypatch, lambda call: "chance" if call <= 110 else None)
    cfg = small_config(batch_size=8, epochs=3, lr=1e-2, limit_train=450, augment=Augmentation())  # 153 steps
    result, events = run(cfg, shapes, tmp_path / "r")
    assert result.status == "finished", result.message
    (recovered,) = [e for e in events if isinstance(e, RecoveredEvent)]
    assert "stayed at chance level" in recovered.reason
    # Noticed once it had sat there STUCK_STEPS steps, and back to the start: no state was better.
    assert recovered.detected_at_step == STUCK_STEPS and recovered.step == 0 and recovered.epoch == 1
    assert json.loads((tmp_path / "r" / "result.json").read_text())["recoveries"][0]["step"] == 0
    # Then it learned: its loss clearly below a blind guess's, which it had sat at.
    assert result.history["train_loss"][-1] < 0.9 * math.log(len(shapes.classes))


def test_without_recovery_a_loss_stuck_at_chance_stops_with_a_clear_message(shapes, tmp_path, monkeypatch):
    # It used to train to the end at chance without a word.
    patch_loss(monkeypatch, lambda call: "chance")
    cfg = small_config(batch_size=8, epochs=3, limit_train=450, augment=Augmentation(), recover=False)
    result, events = run(cfg, shapes, tmp_path / "r")
    assert result.status == "failed"
    assert "stayed at chance level" in result.message and f"for {STUCK_STEPS} steps" in result.message
    assert "training is not learning. Try a lower learning rate" in result.message
    assert not [e for e in events if isinstance(e, RecoveredEvent)]


def _guard(chance: float) -> RecoveryGuard:
    return RecoveryGuard(enabled=True, explode_loss=100.0, stuck_loss=stuck_threshold(chance, 0.0), chance=chance,
                         warmup_end=20)


def test_a_loss_that_falls_while_still_at_chance_is_a_slow_start_not_a_stall():
    # A folder of photo-like pictures: bn-cnn4's loss fell from 2.12 to 2.03 over two epochs, all of it above
    # the "at chance" line (1.87 for 8 classes), and the rule used to stop such runs as "not learning".
    chance = math.log(8)
    falling, flat = _guard(chance), _guard(chance)
    problems = []
    for step in range(10, 600, 10):  # falling 0.05 every 100 steps, about what bn-cnn4 did there
        assert falling.step_problem(chance + 0.05 - 0.0005 * step, step) is None, step
        problems.append(flat.step_problem(chance + 0.01 * (-1) ** (step // 10), step))  # noise, no fall
    # Flat at chance: caught STUCK_STEPS after warm-up, as before.
    first = next(i for i, p in enumerate(problems) if p is not None)
    assert (first + 1) * 10 == 20 + STUCK_STEPS and problems[first][1] is True


def test_a_run_whose_loss_falls_slowly_at_chance_finishes(shapes, tmp_path, monkeypatch):
    # 153 steps whose loss starts at chance and creeps down without ever crossing the line: no recovery.
    k = len(shapes.classes)
    patch_loss(monkeypatch, lambda call: math.log(k) * (1 - 0.0005 * call))
    cfg = small_config(batch_size=8, epochs=3, limit_train=450, augment=Augmentation(), recover=False)
    result, events = run(cfg, shapes, tmp_path / "r")
    assert result.status == "finished", result.message
    assert not [e for e in events if isinstance(e, RecoveredEvent)]


def test_a_loss_stuck_at_every_rate_stops_saying_the_rate_is_not_the_cause(shapes, tmp_path, monkeypatch):
    patch_loss(monkeypatch, lambda call: "chance")
    cfg = small_config(batch_size=8, epochs=8, limit_train=450, augment=Augmentation())  # 408 steps
    result, _ = run(cfg, shapes, tmp_path / "r")
    assert result.status == "failed" and len(result.recoveries) == MAX_RECOVERIES
    assert "training is not learning, and lower learning rates did not help" in result.message
    assert "Try a lower learning rate" not in result.message


def test_a_slow_start_is_not_taken_for_a_stall(shapes, tmp_path):
    # A healthy run at chance for its first steps never recovers: the thresholds leave it alone.
    result, events = run(small_config(epochs=1), shapes, tmp_path / "r")
    assert result.status == "finished" and result.recoveries == ()
    assert not [e for e in events if isinstance(e, RecoveredEvent)]


def test_resume_after_a_recovery_is_exact(shapes, tmp_path, monkeypatch):
    fault = lambda call: "nan" if call == 5 else None  # noqa: E731 - a one-line fault plan: NaN at call 5 (in epoch 1)
    patch_loss(monkeypatch, fault)
    full, _ = run(small_config(epochs=3), shapes, tmp_path / "full")
    assert full.status == "finished" and len(full.recoveries) == 1

    patch_loss(monkeypatch, fault)  # a new count: the same step goes wrong in the first part
    first, _ = run(small_config(epochs=1), shapes, tmp_path / "split")
    assert first.status == "finished" and first.recoveries == full.recoveries
    ckpt = load_checkpoint(tmp_path / "split" / "last.pt")
    assert ckpt["recovery"]["lr_factor"] == pytest.approx(RECOVERY_LR_FACTOR)
    assert ckpt["history"]["recoveries"] == list(full.recoveries)

    resumed, _ = run(small_config(epochs=3), shapes, None, resume_from=tmp_path / "split" / "last.pt")
    assert resumed.status == "finished"
    for key in ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"):
        np.testing.assert_allclose(np.array(resumed.history[key], dtype=float),
                                   np.array(full.history[key], dtype=float), rtol=1e-5, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(resumed.history["steps"]["loss"], full.history["steps"]["loss"], rtol=1e-5)
    assert resumed.history["steps"]["step"] == full.history["steps"]["step"]
    assert resumed.recoveries == full.recoveries
    assert resumed.test_accuracy == pytest.approx(full.test_accuracy)


def test_the_chance_level_accounts_for_label_smoothing_and_class_balance():
    balanced = torch.arange(10).repeat(10)
    assert chance_loss(balanced, 10, 0.0, balanced=False) == pytest.approx(math.log(10))
    assert chance_loss(balanced, 10, 0.1, balanced=False) == pytest.approx(math.log(10))
    # Smoothing raises the lowest loss reachable, so "at chance" starts higher above it.
    assert floor_loss(10, 0.0) == 0.0 and floor_loss(10, 0.1) == pytest.approx(0.4999, abs=1e-3)
    assert stuck_threshold(math.log(10), floor_loss(10, 0.1)) == pytest.approx(2.12, abs=0.01)
    # Nine in ten of one class: a blind guess of that class scores far below ln 2.
    skewed = torch.tensor([0] * 90 + [1] * 10)
    assert chance_loss(skewed, 2, 0.0, balanced=False) == pytest.approx(0.325, abs=1e-3)
    assert chance_loss(skewed, 2, 0.0, balanced=True) == pytest.approx(math.log(2))


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_recover_must_be_true_or_false(value):
    with pytest.raises(CNNStudioError, match="recover must be true or false"):
        small_config(recover=value).validate()


def test_no_recover_on_the_command_line_and_back(tmp_path, capsys):
    import shlex

    from cnnstudio.cli import build_parser, config_from_args, main
    from cnnstudio.core.launch import command_line

    def parsed(*extra):
        return config_from_args(build_parser().parse_args(["train", "--dataset", "shapes", *extra]))

    assert parsed().recover is True and parsed("--no-recover").recover is False
    cfg = small_config(recover=False)
    assert "--no-recover" in command_line(cfg) and "--no-recover" not in command_line(small_config())
    assert config_from_args(build_parser().parse_args(shlex.split(command_line(cfg))[1:])).recover is False
    # A resumed run keeps its saved setting: asking for another is refused, not ignored.
    ckpt = tmp_path / "last.pt"
    ckpt.write_bytes(b"x")
    assert main(["train", "--resume", str(ckpt), "--no-recover"]) != 0
    assert "--no-recover" in capsys.readouterr().err
