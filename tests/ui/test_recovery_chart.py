"""A recovery on the loss chart: the undone steps go, a mark with its reason stays; saved runs show theirs."""

from __future__ import annotations

from types import SimpleNamespace

from cnnstudio.core.runs import normalise_history
from cnnstudio.ui.widgets.charts import TrainingCharts
from cnnstudio.ui.widgets.train_form import TrainForm


def step(n: int, loss: float) -> SimpleNamespace:
    return SimpleNamespace(global_step=n, loss=loss, lr=0.1)


def test_a_live_recovery_drops_the_undone_steps_and_marks_the_place(qtbot):
    charts = TrainingCharts()
    qtbot.addWidget(charts)
    charts.begin_run("fast-cnn")
    charts.set_live_extent(100, 2)
    charts.append_steps([step(n, 2.0 if n <= 30 else float("nan")) for n in range(10, 60, 10)])
    charts.mark_recovery(30, 1, "the training loss became NaN at epoch 1, step 50", 0.3)
    assert list(charts.curve_data("step_loss")[0]) == [10, 20, 30]
    (mark,) = charts.recovery_marks
    assert mark.value() == 30 and "became NaN" in mark.toolTip() and "×0.3" in mark.toolTip()
    charts.append_steps([step(40, 1.8)])  # the run goes on from there
    assert list(charts.curve_data("step_loss")[0]) == [10, 20, 30, 40]
    charts.begin_run("next")  # a new run starts without the old marks
    assert charts.recovery_marks == []


def test_a_saved_run_shows_its_recoveries(qtbot):
    history = normalise_history({
        "epoch": [1], "train_loss": [1.0], "train_accuracy": [0.5], "val_loss": [1.0], "val_accuracy": [0.5],
        "lr": [0.1], "steps": {"step": [10, 20, 30], "loss": [2.3, 2.3, 1.0], "lr": [0.1, 0.1, 0.1]},
        "recoveries": [{"epoch": 1, "step": 20, "detected_at_step": 120, "reason": "stayed at chance",
                        "lr_factor": 0.3}, "not a record"]})
    assert len(history["recoveries"]) == 1
    charts = TrainingCharts()
    qtbot.addWidget(charts)
    charts.load_history(history, "run")
    (mark,) = charts.recovery_marks
    assert mark.value() == 20 and "stayed at chance" in mark.toolTip()


def test_the_train_form_offers_recovery_on_by_default(qtbot):
    form = TrainForm()
    qtbot.addWidget(form)
    assert form.values()["recover"] is True
    form.recover_check.setChecked(False)
    assert form.values()["recover"] is False
