"""The Runs page's view of runs compared by their settings (ui/widgets/settings_view.py)."""

from __future__ import annotations

import itertools
import math

from cnnstudio.core.runs import RunSummary
from cnnstudio.core.sweep.compare import by_settings
from cnnstudio.ui.widgets.settings_view import SettingsView


def _sweep() -> list[RunSummary]:
    runs = []
    for i, (lr, bs) in enumerate(itertools.product([0.02, 0.05, 0.1, 0.2, 0.5], [128, 256])):
        acc = 0.915 - 0.02 * abs(math.log10(lr / 0.1)) + (0.002 if bs == 128 else 0)
        runs.append(RunSummary(name=f"trial-{i:03d}", path=f"/sweep/trial-{i:03d}", status="finished",
                               best_val_accuracy=acc, test_accuracy=acc - 0.004, config={"lr": lr, "batch_size": bs},
                               sweep="sweep", trial_settings={"lr": lr, "batch_size": bs}, trial_status="finished"))
    return runs


def test_the_view_lists_the_trials_best_first_plots_what_mattered_and_uses_the_best(qtbot):
    view = SettingsView()
    qtbot.addWidget(view)
    view.show_compared(by_settings(_sweep()))
    table = view.table
    assert table.rowCount() == 10
    assert [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())] == [
        "Run", "Learning rate", "Batch size", "Val. %", "Test %", "Status"]
    assert table.item(0, 0).text() == "trial-004" and table.item(0, 1).text() == "0.1"
    vals = [float(table.item(r, 3).text()) for r in range(10)]
    assert vals == sorted(vals, reverse=True)
    assert view.plotted_settings() == ["Learning rate", "Batch size"]  # the one that mattered most first
    assert "What mattered: Learning rate" in view.summary.text()
    assert view.use_best.isEnabled()
    with qtbot.waitSignal(view.useBest) as chosen:
        view.use_best.click()
    assert chosen.args == ["/sweep/trial-004"]


def test_nothing_to_compare_says_what_to_select(qtbot):
    view = SettingsView()
    qtbot.addWidget(view)
    view.show_compared(None)
    assert "Select" in view.summary.text() and not view.use_best.isEnabled() and view.table.rowCount() == 0
