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


def test_a_sweep_from_the_train_page_trains_its_trials_as_runs_and_the_runs_page_lists_them(qtbot, shapes_dataset):
    from cnnstudio.core.models.presets import get_preset
    from cnnstudio.core.runs import list_runs
    from cnnstudio.ui.compose import app_state
    from cnnstudio.ui.pages.train_page import TrainPage

    state = app_state()
    state.set_dataset(shapes_dataset, "shapes")
    state.set_spec(get_preset("tiny-bn-cnn"), True)
    page = TrainPage(state)
    qtbot.addWidget(page)
    page.resize(1040, 760)
    page.show()
    page.form.epochs_spin.setValue(1)
    page.form.limit_spin.setValue(200)
    page.form.batch_spin.setValue(32)
    assert page.panel.sweep_button.isEnabled()
    dialog = page.open_sweep_dialog()
    assert dialog is not None
    dialog.ticks["lr"].setChecked(True)
    dialog.values["lr"].setText("0.003,0.001")
    assert dialog.start.isEnabled(), dialog.problem.text()
    started: list = []
    page.session.started.connect(started.append)
    now: list = []
    page.session.trialStarted.connect(lambda _t: now.append(page.form.running_label.text()))
    with qtbot.waitSignal(page.session.ended, timeout=180_000) as ended:
        dialog.start.click()
    result, failure = ended.args
    assert failure is None and result.status == "finished", result.message
    assert "sweep of 2 trials: 2 ended" in result.message
    assert len(started) == 2  # each trial shown as a run: the charts start again
    assert "trial 1 of 2: lr=" in now[0] and "trial 2 of 2: lr=" in now[1]  # "Training now" says which
    log = page.log_view.toPlainText()
    assert "trial 1/2: lr=" in log and "trial 2/2: lr=" in log
    trials = [r for r in list_runs() if r.sweep is not None]
    assert sorted(r.trial_settings["lr"] for r in trials) == [0.001, 0.003]
    assert all(r.config["epochs"] == 1 and r.config["limit_train"] == 200 and r.config["batch_size"] == 32
               for r in trials)  # every setting not varied is the form's
    assert {r.model for r in trials} == {"tiny-bn-cnn"}  # the network chosen on the Model page
    page.shutdown()
