"""The learning-rate finder (cnnstudio/core/training/lr_find.py), `cnnstudio lr-find` and `train --lr auto`.

Tiny data only: a few hundred shapes pictures, small batches, a tiny model; each test takes seconds.
"""

from __future__ import annotations

import json
import math
import threading

import pytest
import torch

from cnnstudio.cli import main
from cnnstudio.core.training.config import Augmentation, TrainConfig

TINY = dict(dataset="shapes", model="tiny-bn-cnn", epochs=1, limit_train=300, batch_size=16, device="cpu",
            precision="fp32", seed=0, augment=Augmentation(), lr=0.05)
CLI_TINY = ["--dataset", "shapes", "--model", "tiny-bn-cnn", "--limit-train", "300", "--batch-size", "16",
            "--device", "cpu", "--precision", "fp32"]


@pytest.fixture(scope="module")
def shapes():
    from cnnstudio.core.datasets import load_dataset

    return load_dataset("shapes")


def test_the_learning_rate_rises_exponentially_over_a_bounded_number_of_steps():
    from cnnstudio.core.training.lr_find import END_LR, START_LR, STEPS, lr_schedule

    lrs = lr_schedule()
    assert len(lrs) == STEPS <= 300  # "at most a few hundred steps"
    assert lrs[0] == pytest.approx(START_LR) and lrs[-1] == pytest.approx(END_LR)
    assert START_LR <= 1e-6 and END_LR >= 1
    ratios = [b / a for a, b in zip(lrs, lrs[1:])]
    assert max(ratios) == pytest.approx(min(ratios), rel=1e-9) and ratios[0] > 1  # a constant factor


def test_find_lr_follows_the_schedule_stops_at_divergence_and_suggests_a_rate_inside_it(shapes):
    from cnnstudio.core.training.lr_find import STEPS, find_lr, lr_schedule, rule_for

    steps = []
    result = find_lr(TrainConfig(**TINY), shapes, progress=lambda i, n, lr, loss: steps.append((i, n, lr, loss)))
    n = len(result.lrs)
    assert 10 <= n <= STEPS and len(result.losses) == n and len(steps) == n
    assert list(result.lrs) == pytest.approx(lr_schedule()[:n])
    assert all(math.isfinite(v) for v in result.losses)
    if n < STEPS:  # stopped early: only because the smoothed loss passed 4x its minimum
        assert result.losses[-1] > 4 * min(result.losses[:-1])
    assert result.rule == rule_for(TrainConfig(**TINY))
    assert result.suggested_lr is not None and result.lrs[0] < result.suggested_lr < result.lrs[-1]
    assert set(result.to_dict()) == {"suggested_lr", "rule", "lrs", "losses"}


def test_the_callers_model_optimizer_and_random_state_are_unchanged():
    from cnnstudio.core.training.lr_find import range_test

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(),
                                torch.nn.Dropout(0.2), torch.nn.Linear(16, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    # A step already taken: the optimizer holds momentum, which must survive too.
    torch.nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    momentum = {k: v["momentum_buffer"].clone() for k, v in optimizer.state_dict()["state"].items()}
    gen = torch.Generator().manual_seed(7)
    rng, gen_state = torch.get_rng_state(), gen.get_state()
    model.eval()

    def step():
        optimizer.zero_grad()
        idx = torch.randint(0, 64, (16,), generator=gen)
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        optimizer.step()
        return loss

    lrs, losses = range_test(model, optimizer, step, steps=40, generators=(gen,))
    assert len(lrs) >= 10
    for k, v in model.state_dict().items():
        assert torch.equal(v, weights[k]), k  # weights and BatchNorm's running statistics
    state = optimizer.state_dict()
    assert all(torch.equal(state["state"][k]["momentum_buffer"], m) for k, m in momentum.items())
    assert [g["lr"] for g in optimizer.param_groups] == [0.1]
    assert torch.equal(torch.get_rng_state(), rng) and torch.equal(gen.get_state(), gen_state)
    assert not model.training  # put back in the mode it was in


def test_find_lr_leaves_the_global_random_state_alone(shapes):
    from cnnstudio.core.training.lr_find import find_lr

    torch.manual_seed(123)
    before = torch.get_rng_state()
    cfg = TrainConfig(**TINY)
    find_lr(cfg, shapes)
    assert torch.equal(torch.get_rng_state(), before)
    assert cfg.lr == 0.05 and cfg.epochs == 1  # the caller's configuration is not the finder's copy


def _synthetic(n=100):
    """A range-test curve as it looks: flat, a long fall (steepest around lr 1e-3), a minimum near 1e-2,
    then the blow-up."""
    from cnnstudio.core.training.lr_find import lr_schedule

    lrs = lr_schedule(n)
    losses = []
    for lr in lrs:
        t = math.log10(lr)
        fall = 1.0 / (1.0 + math.exp(-2.5 * (t + 3)))  # a sigmoid in log(lr), centred on 1e-3
        rise = math.exp(3.0 * (t + 1.5)) if t > -1.5 else 0.0
        losses.append(2.3 - 1.8 * fall + 0.1 * rise)
    return lrs, losses


def test_each_rule_reads_the_synthetic_curve_where_it_should():
    from cnnstudio.core.training.lr_find import RULES, suggest_lr

    lrs, losses = _synthetic()
    lowest = lrs[losses.index(min(losses))]
    steep = suggest_lr(lrs, losses, "steep")
    assert 10 ** -3.3 < steep < 10 ** -2.7  # the steepest fall is at 1e-3
    assert suggest_lr(lrs, losses, "minimum/10") == pytest.approx(lowest / 10)
    valley = suggest_lr(lrs, losses, "valley")
    # Inside the falling stretch: after the flat start, before the minimum.
    assert 1e-5 < valley < lowest
    assert set(RULES) >= {"valley", "steep", "minimum/10"}
    with pytest.raises(ValueError):
        suggest_lr(lrs, losses, "nonsense")
    assert suggest_lr(lrs[:5], losses[:5]) is None  # too short to say


def test_cancel_stops_the_finder_at_the_next_step(shapes):
    from cnnstudio.core.training.control import RunControl
    from cnnstudio.core.training.lr_find import LrFindCancelled, find_lr

    control = RunControl()
    seen = []

    def progress(i, n, lr, loss):
        seen.append(i)
        if i == 3:
            threading.Thread(target=control.stop).start()  # from another thread, as the app's Cancel
            threading.Event().wait(0.2)

    torch.manual_seed(5)
    before = torch.get_rng_state()
    with pytest.raises(LrFindCancelled):
        find_lr(TrainConfig(**TINY), shapes, control=control, progress=progress)
    assert seen == [1, 2, 3]
    assert torch.equal(torch.get_rng_state(), before)


def test_lr_find_json_prints_exactly_one_object(capsys):
    from cnnstudio.core.training.lr_find import RULES

    assert main(["lr-find", *CLI_TINY, "--json"]) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1
    data = json.loads(out)
    assert set(data) == {"suggested_lr", "rule", "lrs", "losses"}
    assert isinstance(data["suggested_lr"], float) and data["rule"] in RULES
    assert len(data["lrs"]) == len(data["losses"]) >= 10


def test_lr_find_plot_writes_a_png_and_never_replaces_a_file(tmp_path, capsys):
    from PIL import Image

    png = tmp_path / "curve.png"
    assert main(["lr-find", *CLI_TINY, "--plot", str(png)]) == 0
    assert "suggested learning rate" in capsys.readouterr().out
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size[0] > 300
    mine = tmp_path / "mine.png"
    mine.write_bytes(b"the user's own file")
    assert main(["lr-find", *CLI_TINY, "--plot", str(mine)]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert mine.read_bytes() == b"the user's own file"


def test_train_lr_auto_says_the_rate_and_records_it_in_config_json(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *CLI_TINY, "--epochs", "1", "--lr", "auto", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    line = [s for s in err.splitlines() if "learning-rate finder" in s]
    assert len(line) == 1 and "rule: " in line[0]
    saved = json.loads((out / "config.json").read_text())["config"]["lr"]
    assert isinstance(saved, float) and 0 < saved < 10
    assert f"{saved:.3g}" in line[0]


def test_train_lr_still_takes_a_number_and_refuses_nonsense(capsys):
    from cnnstudio.cli import build_parser

    assert build_parser().parse_args(["train", "--lr", "0.01"]).lr == 0.01
    assert build_parser().parse_args(["train", "--lr", "AUTO"]).lr == "auto"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--lr", "fast"])


def test_a_deep_custom_network_without_normalisation_gets_its_rate_from_the_finder(tmp_path, capsys):
    """recipes.py raises `lr_auto` where no measured recipe fits; `cnnstudio train` then runs the finder
    without being asked (an explicit --lr still wins)."""
    deep = {"name": "deep-plain", "layers": [
        *[layer for _ in range(7) for layer in ({"type": "conv", "out": 4, "kernel": 3, "padding": 1},
                                                  {"type": "relu"})],
        {"type": "flatten"}, {"type": "linear", "out": "classes"}]}
    spec = tmp_path / "deep.json"
    spec.write_text(json.dumps(deep))
    tiny = [a for a in CLI_TINY]
    if "--model" in tiny:
        i = tiny.index("--model")
        del tiny[i:i + 2]
    out = tmp_path / "run"
    assert main(["train", *tiny, "--model", str(spec), "--epochs", "1", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert len([s for s in err.splitlines() if "learning-rate finder" in s and "rule: " in s]) == 1
    saved = json.loads((out / "config.json").read_text())["config"]["lr"]
    assert isinstance(saved, float) and 0 < saved < 10
    out2 = tmp_path / "run2"
    assert main(["train", *tiny, "--model", str(spec), "--epochs", "1", "--lr", "0.004", "--out", str(out2)]) == 0
    assert json.loads((out2 / "config.json").read_text())["config"]["lr"] == 0.004


def test_the_rule_follows_the_schedule():
    """minimum for a one-cycle run (fast-cnn, bn-cnn4 within a point of their grids' best), a tenth of it
    for a run that holds its rate (convnet-5x5, lenet5, cnn3-dropout, a custom spec): docs/benchmarks.md."""
    from cnnstudio.core.training.lr_find import rule_for

    assert rule_for(TrainConfig(schedule="onecycle")) == "minimum"
    assert {rule_for(TrainConfig(schedule=s)) for s in ("constant", "cosine", "step")} == {"minimum/10"}
