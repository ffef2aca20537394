"""The Sweep dialog and its session: edits checked as `cnnstudio sweep` checks them, the estimate."""

from __future__ import annotations

from cnnstudio.core.datasets import load_dataset
from cnnstudio.ui.sessions.sweep_session import SweepSession
from cnnstudio.ui.widgets.sweep_dialog import SweepDialog


def test_the_dialog_checks_each_edit_and_estimates_a_valid_sweep(qtbot):
    data = load_dataset("shapes")
    session = SweepSession("shapes", "cnn3-dropout", {"limit_train": 200}, device="cpu")
    dialog = SweepDialog(session, data)
    qtbot.addWidget(dialog)
    assert not dialog.start.isEnabled() and "at least one" in dialog.problem.text()  # nothing ticked yet
    dialog.ticks["lr"].setChecked(True)
    dialog.values["lr"].setText("1e-4:1e-2:log")  # a range, but the strategy is grid
    assert not dialog.start.isEnabled() and "is a range" in dialog.problem.text()
    dialog.strategy.setCurrentIndex(dialog.strategy.findData("random"))
    assert dialog.start.isEnabled() and dialog.problem.text() == "" and dialog.trials.isEnabled()
    dialog.values["lr"].setText("0.01,0.001")
    dialog.strategy.setCurrentIndex(dialog.strategy.findData("grid"))
    dialog.epochs.setValue(1)
    with qtbot.waitSignal(session.estimated, timeout=120_000) as got:
        pass
    assert got.args[0].trials == 2 and "for 2 trials" in dialog.estimate.text()
    choice = dialog.choice()
    assert choice.params == ("lr=0.01,0.001",) and choice.strategy == "grid" and choice.epochs == 1
    assert session.spec is not None and session.spec.target == 2 and not dialog.trials.isEnabled()
    dialog.strategy.setCurrentIndex(dialog.strategy.findData("halving"))  # over lists: every combination
    assert not dialog.trials.isEnabled() and session.spec.target == 2
