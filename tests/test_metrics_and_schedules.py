"""The core's metrics against numbers worked out by hand, and the learning-rate schedules' shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cnnstudio.core.metrics import Evaluation, evaluate
from cnnstudio.core.training.schedule import lr_factor


def tiny_evaluation() -> Evaluation:
    """Six answers, three classes, worked out on paper:

    true:      0 0 0 1 1 2
    predicted: 0 0 1 1 2 2
    confusion (rows true, columns predicted): [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    """
    labels = np.array([0, 0, 0, 1, 1, 2])
    predicted = [0, 0, 1, 1, 2, 2]
    confidence = [0.9, 0.6, 0.7, 0.8, 0.5, 0.95]
    probs = np.full((6, 3), 0.0, np.float32)
    for i, (p, c) in enumerate(zip(predicted, confidence)):
        probs[i] = (1 - c) / 2
        probs[i, p] = c
    return Evaluation(["a", "b", "c"], labels, probs)


def test_confusion_matrix_and_accuracy_by_hand():
    ev = tiny_evaluation()
    assert ev.confusion_matrix().tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert ev.accuracy == pytest.approx(4 / 6)


def test_precision_recall_f1_by_hand():
    rows = {r["class"]: r for r in tiny_evaluation().per_class()}
    # a: 2 right of 2 predicted a, 2 of 3 true a
    assert rows["a"]["precision"] == pytest.approx(1.0) and rows["a"]["recall"] == pytest.approx(2 / 3)
    assert rows["a"]["f1"] == pytest.approx(2 * 1.0 * (2 / 3) / (1.0 + 2 / 3))
    # b: 1 of 2 predicted b, 1 of 2 true b
    assert rows["b"]["precision"] == pytest.approx(0.5) and rows["b"]["recall"] == pytest.approx(0.5)
    assert rows["b"]["f1"] == pytest.approx(0.5)
    # c: 1 of 2 predicted c, 1 of 1 true c
    assert rows["c"]["precision"] == pytest.approx(0.5) and rows["c"]["recall"] == pytest.approx(1.0)
    assert rows["c"]["f1"] == pytest.approx(2 / 3)
    assert [rows[k]["support"] for k in "abc"] == [3, 2, 1]


def test_macro_averages_and_the_first_cell_shown():
    ev = tiny_evaluation()
    macro = ev.macro_averages()
    assert macro["precision"] == pytest.approx((1.0 + 0.5 + 0.5) / 3)
    assert macro["recall"] == pytest.approx((2 / 3 + 0.5 + 1.0) / 3)
    assert macro["f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert ev.most_common_mistake() in {(0, 1), (1, 2)}  # both wrong cells hold one answer
    perfect = Evaluation(["a", "b"], np.array([0, 1, 1]), np.eye(2, dtype=np.float32)[[0, 1, 1]])
    assert perfect.most_common_mistake() == (1, 1)  # no mistakes: the best-recognised class


def test_loss_is_the_mean_negative_log_of_the_true_class():
    ev = tiny_evaluation()
    true_probs = [0.9, 0.6, 0.15, 0.8, 0.25, 0.95]
    assert ev.loss == pytest.approx(-np.mean(np.log(true_probs)), rel=1e-5)


def test_misclassified_most_confident_first_and_cells_in_confidence_order():
    ev = tiny_evaluation()
    assert ev.misclassified().tolist() == [2, 4]  # 0.7 then 0.5
    assert ev.samples_for_cell(0, 0).tolist() == [0, 1]  # 0.9 then 0.6


def test_chunked_evaluation_equals_one_pass_and_stops_when_cancelled():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    images = torch.randint(0, 256, (50, 1, 4, 4), dtype=torch.uint8)
    labels = torch.randint(0, 3, (50,))

    def normalise(x):
        return x.float() / 255

    whole = evaluate(model, images, labels, ["a", "b", "c"], normalise, torch.device("cpu"))
    seen = []
    chunked = evaluate(model, images, labels, ["a", "b", "c"], normalise, torch.device("cpu"), chunk=7,
                       progress=seen.append)
    np.testing.assert_allclose(chunked.probabilities, whole.probabilities, rtol=1e-6)
    assert seen == [(i, 50) for i in range(0, 50, 7)]
    assert evaluate(model, images, labels, ["a", "b", "c"], normalise, torch.device("cpu"), chunk=7,
                    cancelled=lambda: True) is None


# -- learning-rate schedules ---------------------------------------------------------------------------

TOTAL, PER_EPOCH, EPOCHS = 1000, 100, 10


def factors(schedule: str, **kw) -> list[float]:
    return [lr_factor(schedule, s, TOTAL, PER_EPOCH, epochs=EPOCHS, **kw) for s in range(TOTAL)]


def test_constant_is_flat_and_warmup_ramps_linearly():
    assert set(factors("constant")) == {1.0}
    ramp = factors("constant", warmup_epochs=2)
    assert ramp[0] == pytest.approx(1 / 200) and ramp[99] == pytest.approx(0.5) and ramp[199] == 1.0
    assert all(b > a for a, b in zip(ramp[:199], ramp[1:200])) and set(ramp[200:]) == {1.0}


def test_step_decays_tenfold_every_step_size_epochs():
    f = factors("step", step_size=3)
    assert f[0] == f[299] == 1.0
    assert f[300] == pytest.approx(0.1) and f[599] == pytest.approx(0.1)
    assert f[600] == pytest.approx(0.01) and f[900] == pytest.approx(0.001)
    default = factors("step")  # a third of the run
    assert default[299] == 1.0 and default[300] == pytest.approx(0.1)


def test_cosine_falls_from_one_to_zero_through_one_half():
    f = factors("cosine")
    assert f[0] == 1.0 and f[500] == pytest.approx(0.5) and f[-1] == pytest.approx(0.0, abs=1e-4)
    assert all(b <= a for a, b in zip(f, f[1:]))
    assert f[250] == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))


def test_onecycle_rises_over_a_quarter_then_anneals():
    f = factors("onecycle")
    peak = int(np.argmax(f))
    assert f[0] == pytest.approx(0.04) and peak == 250 and f[peak] == pytest.approx(1.0)
    assert all(b > a for a, b in zip(f[:250], f[1:251]))
    assert all(b <= a for a, b in zip(f[250:], f[251:]))
    assert f[-1] < 0.001


def test_unknown_schedule_is_refused():
    with pytest.raises(ValueError):
        lr_factor("sawtooth", 0, 10, 1)
