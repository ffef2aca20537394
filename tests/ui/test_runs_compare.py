"""Issue 15, item 4: comparing many runs the way TensorBoard and W&B do.

A run list beside the charts (swatch, checkbox, filter) instead of an in-plot legend, hover values,
a smoothing slider, a log-scale loss axis, training time on the x axis, and a settings table that
stays readable with a dozen runs and highlights what differs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextTable

from cnnstudio.core import paths

# Waits for what the Runs page reads in the background: the first call of a process imports torch.
BACKGROUND_MS = 30_000

MODELS = ["convnet-5x5", "bn-cnn4", "cnn3-dropout"]


def fake_history(i: int, *, with_times: bool = True) -> dict:
    """A finished 4-epoch run whose curves differ with i (run i converges faster as i grows)."""
    n, epochs = 40, 4
    k = 0.5 + 0.1 * i
    steps = list(range(10, 10 * n + 1, 10))
    h = {"epoch": list(range(1, epochs + 1)),
         "train_loss": [float(2 * np.exp(-e * k) + 0.2) for e in range(1, epochs + 1)],
         "train_accuracy": [float(1 - 0.5 * np.exp(-e * k)) for e in range(1, epochs + 1)],
         "val_loss": [float(2 * np.exp(-e * k) + 0.3) for e in range(1, epochs + 1)],
         "val_accuracy": [float(0.95 - 0.5 * np.exp(-e * k)) for e in range(1, epochs + 1)],
         "lr": [0.001] * epochs, "seconds": [5.0 + i] * epochs, "samples_per_second": [100.0] * epochs,
         "steps": {"step": steps, "loss": [float(2.3 * np.exp(-k * s / 100) + 0.2) for s in steps],
                   "accuracy": [0.5] * n, "lr": [0.001] * n}}
    if with_times:
        h["steps"]["time"] = [round(0.1 * (5 + i) * j, 3) for j in range(1, n + 1)]
        h["time"] = [round((5.0 + i) * e + 0.5 * e, 3) for e in range(1, epochs + 1)]
    return h


def write_run(root: Path, i: int, **kw) -> Path:
    model = MODELS[i % 3]
    run = root / f"20261201-10{i:02d}00-fashion-mnist-{model}"
    run.mkdir(parents=True)
    cfg = {"dataset": "fashion-mnist", "model": model, "epochs": 4, "lr": [1e-3, 3e-3][i % 2],
           "batch_size": 128, "optimizer": "adam"}
    (run / "config.json").write_text(json.dumps({"config": cfg, "dataset": {"name": "fashion-mnist"},
                                                 "model": {"name": model}}))
    h = fake_history(i, **kw)
    (run / "metrics.json").write_text(json.dumps(h))
    (run / "result.json").write_text(json.dumps({"status": "finished", "test_accuracy": h["val_accuracy"][-1]}))
    return run


@pytest.fixture
def page(qtbot):
    from cnnstudio.ui.compose import app_state, runs_page

    p = runs_page(app_state())
    qtbot.addWidget(p)
    p.resize(1280, 800)
    p.show()
    qtbot.waitExposed(p)
    return p


def refresh(qtbot, page) -> None:
    """The page reads the runs folder in the background: `refreshed` says the table shows it."""
    with qtbot.waitSignal(page.refreshed, timeout=BACKGROUND_MS):
        page.refresh()


def select(qtbot, page, run_paths) -> None:
    """The selected runs are read in the background: `selectionShown` says the charts show them."""
    with qtbot.waitSignal(page.selectionShown, timeout=BACKGROUND_MS):
        page.select_paths([str(r) for r in run_paths])


def test_twenty_four_runs_get_a_run_list_with_swatches_checkboxes_and_a_filter(qtbot, page):
    root = paths.runs_dir()
    runs = [write_run(root, i) for i in range(24)]
    refresh(qtbot, page)
    with qtbot.waitSignal(page.selectionShown, timeout=5000) as shown:
        page.select_paths([str(r) for r in runs])
    assert shown.args == [24]
    charts, run_list = page.charts, page.run_list
    assert run_list.isVisible()
    # One distinct colour per run, past Tableau's ten; no in-plot legend covering the curves.
    colors = [o["color"] for o in charts.overlay_curves]
    assert len(set(colors)) == 24
    assert not charts.loss_legend.isVisible()
    # The list: a checked row per run, its swatch in the run's colour, its label from the run's config.
    rows = run_list.rows()
    assert len(rows) == 24
    by_name = {o["name"]: o for o in charts.overlay_curves}
    for row in rows:
        entry = by_name[row.data(0, Qt.ItemDataRole.UserRole)]
        assert row.checkState(0) == Qt.CheckState.Checked
        assert row.text(0) == entry["label"] and "fashion" not in row.text(0)
        swatch = row.icon(0).pixmap(14, 14).toImage().pixelColor(7, 7).name()
        assert swatch == entry["color"]

    def visible(name: str) -> bool:
        return all(c.isVisible() for c in by_name[name]["curves"].values())

    # Unticking a run hides its curves in every chart, and the hover readout leaves it out.
    row = next(r for r in rows if "bn-cnn4" in r.data(0, Qt.ItemDataRole.UserRole))
    target = row.data(0, Qt.ItemDataRole.UserRole)
    with qtbot.waitSignal(run_list.hiddenChanged, timeout=2000):
        row.setCheckState(0, Qt.CheckState.Unchecked)
    assert not visible(target) and sum(visible(n) for n in by_name) == 23
    assert target not in {v.label for v in charts.hover[charts.acc_plot].values(2)}
    assert len(charts.hover[charts.acc_plot].values(2)) == 23

    # The filter hides the runs that do not match (list rows and curves), and brings them back.
    qtbot.keyClicks(run_list.filter_edit, "bn-cnn4")
    bn = {n for n in by_name if "bn-cnn4" in n}
    assert len(bn) == 8
    assert {n for n in by_name if visible(n)} == bn - {target}
    assert sum(not r.isHidden() for r in rows) == 8
    assert "7 of 24" in run_list.count_label.text()
    run_list.set_all_checked(True)  # "All" ticks the listed ones only
    assert {n for n in by_name if visible(n)} == bn
    run_list.filter_edit.clear()
    assert sum(visible(n) for n in by_name) == 24
    row.setCheckState(0, Qt.CheckState.Unchecked)
    # Selecting the runs again keeps what was unticked.
    select(qtbot, page, runs)
    assert page.run_list.hidden() == {target}
    assert sum(c.isVisible() for o in page.charts.overlay_curves for c in o["curves"].values()) == 23 * 7


def test_hover_values_smoothing_log_scale_and_time_axis(qtbot, page):
    root = paths.runs_dir()
    runs = [write_run(root, i) for i in range(3)]
    old = write_run(root, 3, with_times=False)  # saved before times were recorded
    refresh(qtbot, page)
    select(qtbot, page, runs + [old])
    charts = page.charts
    histories = {o["name"]: fake_history(i) for i, o in
                 enumerate(sorted(charts.overlay_curves, key=lambda o: o["name"]))}

    # Hover: every shown run's value at the epoch under the mouse, best first.
    values = charts.hover[charts.acc_plot].values(2.2)
    assert [v.x for v in values] == [2.0] * 4
    got = {v.label: v.y for v in values}
    for o in charts.overlay_curves:
        assert got[o["label"]] == pytest.approx(100 * histories[o["name"]]["val_accuracy"][1])
    assert [v.y for v in values] == sorted((v.y for v in values), reverse=True)
    loss_values = charts.hover[charts.loss_plot].values(200)
    assert [v.y for v in loss_values] == sorted(v.y for v in loss_values)  # lowest loss first
    readout = charts.hover[charts.acc_plot]
    assert readout.show_at(2.2, 80.0) and readout.text.isVisible()
    text = readout.text.textItem.toPlainText()
    assert text.startswith("epoch 2") and all(o["label"] in text for o in charts.overlay_curves)
    assert charts.hover[charts.acc_plot].values(9.0) == []  # past the last epoch: nothing to read

    # Smoothing: the slider reaches the charts once it rests; 0 is the raw loss.
    entry = charts.overlay_curves[0]
    raw = entry["curves"]["step_loss"].getOriginalDataset()[1]
    before = entry["curves"]["step_loss_smooth"].getOriginalDataset()[1].copy()
    with qtbot.waitSignal(page.chart_options.smoothingChanged, timeout=2000):
        page.chart_options.smoothing_slider.setValue(0)
    assert np.allclose(entry["curves"]["step_loss_smooth"].getOriginalDataset()[1], raw)
    assert not np.allclose(before, raw)

    # Log-scale loss.
    page.chart_options.log_check.setChecked(True)
    assert charts.loss_plot.getPlotItem().ctrl.logYCheck.isChecked()
    assert charts.epoch_loss_plot.getPlotItem().ctrl.logYCheck.isChecked()
    assert not charts.acc_plot.getPlotItem().ctrl.logYCheck.isChecked()

    # Training time on the x axis: recorded times, and for the old run, times from its epoch durations.
    page.chart_options.x_combo.setCurrentIndex(page.chart_options.x_combo.findData("time"))
    assert charts.loss_plot.getPlotItem().getAxis("bottom").durations
    for o in charts.overlay_curves:
        x = o["curves"]["epoch_val_acc"].getOriginalDataset()[0]
        if o["name"] == old.name:
            assert list(x) == pytest.approx([8.0, 16.0, 24.0, 32.0])  # summed epoch seconds
            sx = o["curves"]["step_loss"].getOriginalDataset()[0]
            assert sx[-1] == pytest.approx(32.0) and np.all(np.diff(sx) > 0)
        else:
            assert list(x) == pytest.approx(histories[o["name"]]["time"])
            assert list(o["curves"]["step_loss"].getOriginalDataset()[0]) == pytest.approx(
                histories[o["name"]]["steps"]["time"])
    assert charts.hover[charts.acc_plot].values(20)[0].label  # still readable on a time axis
    assert charts.format_x_epochs(75) == "after 1:15"
    # The options stay when the selection changes.
    select(qtbot, page, [runs[0]])
    assert charts.mode == "single" and charts.curve_data("epoch_val_acc")[0][0] == pytest.approx(5.5)
    page.chart_options.x_combo.setCurrentIndex(page.chart_options.x_combo.findData("step"))
    assert list(charts.curve_data("epoch_val_acc")[0]) == [1, 2, 3, 4]


def test_a_dozen_runs_compare_in_a_table_with_a_row_per_run_and_only_the_differences(qtbot, page):
    root = paths.runs_dir()
    runs = [write_run(root, i) for i in range(12)]
    refresh(qtbot, page)
    select(qtbot, page, runs)
    page.summary.setFixedWidth(320)
    doc = page.summary.document()
    tables = [f for f in doc.rootFrame().childFrames() if isinstance(f, QTextTable)]
    assert len(tables) == 1
    table = tables[0]
    assert table.rows() == 13  # a header and a row per run

    def cell(r: int, c: int) -> str:
        return table.cellAt(r, c).firstCursorPosition().block().text().replace("\xa0", " ")

    header = [cell(0, c) for c in range(table.columns())]
    # Only model and learning rate differ between these runs; the rest is said once.
    assert header[1:] == ["Test accuracy", "Best val. accuracy", "Model", "Learning rate"]
    text = page.summary.toPlainText()
    assert "The same in every run:" in text and "Batch size 128" in text and "Dataset fashion-mnist" in text
    labels = {o["label"] for o in page.charts.overlay_curves}
    assert {cell(r, 0).lstrip("▬ ").strip() for r in range(1, 13)} == labels
    for r in range(1, 13):
        assert cell(r, 3) in MODELS
        # Every cell stays on one line (with a column per run, names broke into letters).
        for c in range(table.columns()):
            assert table.cellAt(r, c).firstCursorPosition().block().layout().lineCount() == 1


def test_every_page_fits_a_1024x700_window_with_a_queue_and_a_dozen_runs_compared(qtbot, state):
    """Issue 15, item 3 kept true by what item 4 and 8 added: a long queue title or the chart options
    must not push the window's minimum size past a 1024x700 screen (it grew to 1179 px once)."""
    from cnnstudio.core.training.config import TrainConfig
    from cnnstudio.ui.main_window import MainWindow

    root = paths.runs_dir()
    runs = [write_run(root, i) for i in range(12)]
    window = MainWindow(state)
    qtbot.addWidget(window)
    window.resize(1024, 700)
    window.show()
    qtbot.waitExposed(window)
    for i in range(7):
        state.queue.add(TrainConfig(model=f"a-model-with-a-long-name-{i}", epochs=30, lr=0.0003), None,
                        "a dataset with a long title")
    runs_page = window.page("runs")
    window.show_page("runs")
    refresh(qtbot, runs_page)
    select(qtbot, runs_page, runs)
    assert runs_page.queue_panel.isVisible() and runs_page.run_list.isVisible()
    for name in ("data", "review", "model", "train", "evaluate", "inspect", "draw", "camera", "runs"):
        window.show_page(name)
        qtbot.wait(20)
        hint = window.minimumSizeHint()
        assert hint.width() <= 1024 and hint.height() <= 700, (name, hint)
        assert window.width() == 1024, name
    window.page("inspect").filters.set_mode("patches")
    assert window.minimumSizeHint().width() <= 1024
    window.close()


def test_the_hover_readout_fits_a_narrow_plot(qtbot):
    """Seen in the real-window walk-through at 1024 px: the readout ran past the plot's right edge."""
    from cnnstudio.ui.widgets.charts import TrainingCharts

    charts = TrainingCharts()
    qtbot.addWidget(charts)
    charts.resize(500, 420)
    charts.show()
    qtbot.waitExposed(charts)
    charts.overlay([(f"run{i}", fake_history(i), f"14:24:5{i} a-model-with-a-long-name-{i}") for i in range(3)])
    qtbot.wait(50)
    readout = charts.hover[charts.epoch_loss_plot]
    assert readout.show_at(2.0, 1.0)
    room = charts.epoch_loss_plot.getPlotItem().getViewBox().sceneBoundingRect().width()
    assert readout.text.boundingRect().width() <= room
    text = readout.text.textItem.toPlainText()
    assert text.count("14:24:5") == 3  # every run still listed, its label shortened


def test_the_live_smoothed_loss_is_the_moving_average_of_every_step_so_far(qtbot):
    """Steps arrive in batches while training; the smoothed curve must be the bias-corrected moving
    average of all of them, the same as computed at once, also after the smoothing changes mid-run."""
    from types import SimpleNamespace

    from cnnstudio.ui.widgets.charts import TrainingCharts, ema

    charts = TrainingCharts()
    qtbot.addWidget(charts)
    charts.begin_run("live")
    rng = np.random.default_rng(0)
    losses = list(2.0 * np.exp(-np.arange(700) / 200) + 0.1 * rng.random(700))
    steps = [SimpleNamespace(global_step=i + 1, loss=v, lr=0.01) for i, v in enumerate(losses)]
    for start in range(0, 400, 37):  # uneven batches, more than the first buffer holds (256)
        charts.append_steps(steps[start:min(start + 37, 400)])
    x, y = charts.curve_data("step_loss_smooth")
    assert list(x) == list(range(1, 401))
    assert np.allclose(y, ema(losses[:400], charts.smoothing))
    charts.set_smoothing(0.5)
    charts.append_steps(steps[400:])
    x, y = charts.curve_data("step_loss_smooth")
    assert list(x) == list(range(1, 701))
    assert np.allclose(y, ema(losses, 0.5))


def test_the_queue_panel_reorders_removes_and_starts_the_queue(qtbot, page):
    """The panel only shows the queue and says what the user asked; the page hands that to the queue."""
    from cnnstudio.core.training.config import TrainConfig

    queue = page.session.queue
    entries = [queue.add(TrainConfig(model=f"m{i}", epochs=1, lr=0.001 * (i + 1)), None, "shapes") for i in range(3)]
    panel = page.queue_panel
    assert panel.isVisible() and panel.list.count() == 3 and "3 runs waiting" in panel.title_label.text()
    panel.list.setCurrentRow(1)
    assert panel.up_button.isEnabled() and panel.down_button.isEnabled() and panel.remove_button.isEnabled()
    qtbot.mouseClick(panel.up_button, Qt.MouseButton.LeftButton)
    assert [e.id for e in queue.entries] == [entries[1].id, entries[0].id, entries[2].id]
    assert panel.list.currentRow() == 0 and "m1" in panel.list.item(0).text()  # the moved run stays selected
    qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    assert [e.id for e in queue.entries] == [entries[0].id, entries[2].id] and panel.list.count() == 2
    queue.set_held(True)
    assert "held after a stop" in panel.title_label.text()
    with qtbot.waitSignal(queue.startRequested, timeout=2000):
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert not queue.held
    queue.clear()
    assert not panel.isVisible()
