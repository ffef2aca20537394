"""RunsSession without widgets: run folders read off the GUI thread, and what may be done with them.

The Runs page only draws what the session hands it (RunsListing, RunDetail, RunsComparison) and asks the
user; these tests drive the session alone, through its methods and signals.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from cnnstudio.core import paths
from cnnstudio.core.run_compare import RunDetail, RunsComparison, setting_text
from cnnstudio.core.training.config import TrainConfig
from cnnstudio.ui.compose import app_state
from cnnstudio.ui.sessions import runs_session
from cnnstudio.ui.sessions.runs_session import RunsListing, RunsSession

TIMEOUT = 30_000  # the first background call of a process imports torch (seconds on a busy machine)


def write_run(root: Path, name: str, *, lr: float = 0.001, damaged: bool = False, checkpoint: bool = True,
              created: float | None = None) -> Path:
    run = root / name
    run.mkdir(parents=True)
    if damaged:
        (run / "config.json").write_text("{ broken")
        return run
    h = {"epoch": [1, 2], "train_loss": [1.0, 0.8], "train_accuracy": [0.5, 0.6], "val_loss": [1.1, 0.9],
         "val_accuracy": [0.4, 0.55], "lr": [lr, lr], "seconds": [1.0, 1.0], "samples_per_second": [10.0, 10.0],
         "steps": {"step": [1, 2, 3], "loss": [2.0, 1.5, 1.0], "accuracy": [0.1, 0.2, 0.3], "lr": [lr] * 3}}
    (run / "config.json").write_text(json.dumps({"config": {"dataset": "shapes", "model": "m", "epochs": 2,
                                                            "lr": lr, "batch_size": 32, "optimizer": "adam"},
                                                 "dataset": {"name": "shapes"}}))
    (run / "metrics.json").write_text(json.dumps(h))
    (run / "result.json").write_text(json.dumps({"status": "finished", "test_accuracy": 0.5}))
    if checkpoint:
        (run / "best.pt").write_bytes(b"x")
    if created is not None:
        os.utime(run / "config.json", (created, created))
    return run


@pytest.fixture
def state():
    return app_state()


@pytest.fixture
def session(qtbot, state):
    s = RunsSession(state)
    yield s
    s.close()


def refresh(qtbot, session: RunsSession, select=None) -> RunsListing:
    with qtbot.waitSignal(session.listed, timeout=TIMEOUT) as listed:
        session.refresh(select)
    return listed.args[0]


def test_the_folders_are_listed_off_the_gui_thread_newest_first_damaged_ones_included(qtbot, session, monkeypatch):
    root = paths.runs_dir()
    write_run(root, "older", created=1_000_000)
    write_run(root, "newer", created=2_000_000)
    write_run(root, "broken", damaged=True)
    threads = []
    real = runs_session.list_runs

    def listing(where):
        threads.append(threading.current_thread())
        return real(where)

    monkeypatch.setattr(runs_session, "list_runs", listing)
    listing_ = refresh(qtbot, session)
    assert threads and threads[0] is not threading.main_thread()
    assert isinstance(listing_, RunsListing) and listing_.select is None
    names = [r.name for r in listing_.runs]
    assert set(names) == {"older", "newer", "broken"} and names.index("newer") < names.index("older")
    assert listing_.root == str(root)
    assert [r.name for r in session.runs] == names and not session.refreshing
    broken = next(r for r in listing_.runs if r.name == "broken")
    assert listing_.status(broken) == "damaged" and "config.json" in broken.problem
    assert [r.name for r in listing_.find([str(root / "older"), "/not/a/run"])] == ["older"]


def test_a_newer_refresh_makes_the_one_in_flight_stale(qtbot, session):
    write_run(paths.runs_dir(), "a")
    listings: list[RunsListing] = []
    session.listed.connect(listings.append)
    session.refresh(["x"])
    session.refresh()  # only this one's listing arrives, with the selection the first one asked for
    qtbot.waitUntil(lambda: not session.refreshing, timeout=TIMEOUT)
    assert len(listings) == 1 and listings[0].select == ("x",)
    assert refresh(qtbot, session).select is None  # asked once, given once


def test_a_run_being_trained_reads_training_and_cannot_be_renamed_or_deleted(qtbot, session, monkeypatch):
    root = paths.runs_dir()
    live = root / "live"
    live.mkdir(parents=True)
    (live / "train.log").write_text("")  # a run that has not written its config yet
    done = write_run(root, "done")
    monkeypatch.setattr(runs_session, "active_run_dirs", lambda: {str(live)})
    listing = refresh(qtbot, session)
    by_name = {r.name: r for r in listing.runs}
    assert listing.status(by_name["live"]) == "training" and listing.status(by_name["done"]) == "finished"
    can = session.actions([by_name["live"]])
    assert can.busy and not can.rename and not can.delete and can.show_folder and not can.open_model
    can = session.actions([by_name["done"]])
    assert not can.busy and can.rename and can.delete and can.open_model and can.export_model and can.command_line
    both = session.actions([by_name["done"], by_name["live"]])
    assert both.busy and not both.delete and not both.rename and not both.show_folder
    assert session.actions([]) == runs_session.RunActions()

    problems: list = []
    session.problem.connect(lambda title, text: problems.append((title, text)))
    assert session.rename(by_name["live"], "renamed") is False and live.is_dir()
    assert session.delete([by_name["live"], by_name["done"]]) is False and done.is_dir()
    assert problems == [("Cannot rename", "This run is training; stop it first."),
                        ("Cannot delete", "'live' is training. Stop it on the Train page first.")]


def test_one_run_is_read_in_the_background_with_its_settings(qtbot, session, monkeypatch):
    root = paths.runs_dir()
    run = write_run(root, "r", lr=0.003)
    orphan = run / ".last.pt.k2j3.tmp"
    orphan.write_bytes(b"\0")
    os.utime(orphan, (1, 1))
    listing = refresh(qtbot, session)
    threads = []
    real = runs_session.read_detail
    monkeypatch.setattr(runs_session, "read_detail",
                        lambda r, training: threads.append(threading.current_thread()) or real(r, training))
    with qtbot.waitSignal(session.runRead, timeout=TIMEOUT) as read:
        session.show(listing.runs)
    assert threads and threads[0] is not threading.main_thread()
    detail = read.args[0]
    assert isinstance(detail, RunDetail) and detail.problem is None and detail.run.name == "r"
    assert detail.history["steps"]["step"] == [1, 2, 3] and detail.history["epoch"] == [1, 2]
    settings = dict(detail.settings)
    assert settings["Learning rate"] == "0.003" and settings["Test accuracy"] == "50.0 %"
    assert settings["Epochs"] == "2 of 2" and "Started" in settings
    assert "Parameters" not in settings  # nothing to say: left out
    assert not orphan.exists()  # what an interrupted save left behind goes


def test_a_damaged_run_says_why_and_has_no_curves(qtbot, session):
    write_run(paths.runs_dir(), "bad", damaged=True)
    listing = refresh(qtbot, session)
    with qtbot.waitSignal(session.runRead, timeout=TIMEOUT) as read:
        session.show(listing.runs)
    detail = read.args[0]
    assert detail.history is None and "config.json" in detail.problem


def test_nothing_selected_is_said_at_once_and_drops_a_read_in_flight(qtbot, session):
    write_run(paths.runs_dir(), "r")
    listing = refresh(qtbot, session)
    got: list = []
    session.runRead.connect(got.append)
    with qtbot.waitSignal(session.nothingSelected, timeout=10):
        session.show(listing.runs)
        session.show([])
    qtbot.wait(200)
    assert got == []


def test_several_runs_compare_their_settings_and_leave_out_the_damaged(qtbot, session):
    root = paths.runs_dir()
    write_run(root, "a", lr=0.001)
    write_run(root, "b", lr=0.003)
    write_run(root, "bad", damaged=True)
    listing = refresh(qtbot, session)
    with qtbot.waitSignal(session.runsCompared, timeout=TIMEOUT) as compared:
        session.show(listing.runs)
    comparison = compared.args[0]
    assert isinstance(comparison, RunsComparison)
    assert {r.name for r in comparison.runs} == {"a", "b"} and comparison.skipped == ("bad",)
    assert [c.name for c in comparison.curves] == [r.name for r in comparison.runs]
    assert all(c.history["epoch"] == [1, 2] and "adam" in c.text for c in comparison.curves)
    rows = {row.title: row for row in comparison.settings}
    assert rows["Learning rate"].differs and set(rows["Learning rate"].values) == {"0.001", "0.003"}
    assert not rows["Batch size"].differs and rows["Batch size"].values == ("32", "32")
    assert [row.title for row in comparison.results] == ["Test accuracy", "Best val. accuracy"]
    assert comparison.results[0].values == ("50.0 %", "50.0 %")


def test_use_this_model_opens_the_best_checkpoint_or_says_there_is_none(qtbot, session, state):
    root = paths.runs_dir()
    write_run(root, "with")
    write_run(root, "without", checkpoint=False)
    by_name = {r.name: r for r in refresh(qtbot, session).runs}
    messages: list[str] = []
    state.message.connect(messages.append)
    problems: list = []
    session.problem.connect(lambda title, text: problems.append((title, text)))
    assert session.open_model(by_name["with"]) is True
    assert state.checkpoint_path == str(root / "with" / "best.pt")
    assert messages == ["Evaluate, Inspect and Draw now use with (best.pt)."]
    assert session.open_model(by_name["without"]) is False
    assert problems == [("No checkpoint in this run", "'without' has no best.pt or last.pt to open.")]
    assert session.export_target(by_name["with"]) == (str(root / "with" / "best.pt"),
                                                      "m of run with, trained on shapes.")
    assert session.export_target(by_name["without"]) is None


def test_rename_checks_the_name_follows_the_checkpoint_and_selects_the_run(qtbot, session, state):
    root = paths.runs_dir()
    good = write_run(root, "good")
    run = refresh(qtbot, session).runs[0]
    state.set_checkpoint(str(good / "best.pt"))
    problems: list = []
    session.problem.connect(lambda title, text: problems.append((title, text)))
    assert session.rename(run, "a/b") is False
    assert problems[0][0] == "Cannot rename" and "cannot contain" in problems[0][1]
    with qtbot.waitSignal(session.listed, timeout=TIMEOUT) as listed:
        assert session.rename(run, "baseline") is True
    assert (root / "baseline").is_dir() and not good.exists()
    assert state.checkpoint_path == str(root / "baseline" / "best.pt")
    assert listed.args[0].select == (str(root / "baseline"),)
    assert [r.name for r in listed.args[0].runs] == ["baseline"]


def test_delete_asks_first_and_clears_the_checkpoint_it_removes(qtbot, session, state):
    root = paths.runs_dir()
    a, b = write_run(root, "a"), write_run(root, "b")
    runs = refresh(qtbot, session).runs
    state.set_checkpoint(str(a / "best.pt"))
    asked: list = []
    assert session.delete(runs, lambda rs: asked.append([r.name for r in rs]) or False) is False
    assert sorted(asked[0]) == ["a", "b"] and a.is_dir() and b.is_dir()
    messages: list[str] = []
    state.message.connect(messages.append)
    with qtbot.waitSignal(session.listed, timeout=TIMEOUT) as listed:
        assert session.delete(runs, lambda rs: True) is True
    assert not a.exists() and not b.exists() and state.checkpoint_path is None
    assert listed.args[0].runs == () and messages == ["Deleted 2 runs."]
    assert session.delete([]) is False


def test_the_command_line_needs_readable_settings(qtbot, session):
    root = paths.runs_dir()
    write_run(root, "ok", lr=0.003)
    write_run(root, "bad-config", damaged=True)  # config.json is not JSON
    by_name = {r.name: r for r in refresh(qtbot, session).runs}
    config = session.command_config(by_name["ok"])
    assert isinstance(config, TrainConfig) and config.lr == 0.003 and config.model == "m"
    problems: list = []
    session.problem.connect(lambda title, text: problems.append((title, text)))
    assert session.command_config(by_name["bad-config"]) is None
    assert problems and problems[0][0] == "No settings to export" and "config.json" in problems[0][1]


def test_a_finished_run_or_a_training_start_reads_the_folders_again(qtbot, session, state):
    write_run(paths.runs_dir(), "r")
    with qtbot.waitSignal(session.listed, timeout=TIMEOUT):
        state.runFinished.emit({"status": "finished"})
    with qtbot.waitSignal(session.listed, timeout=TIMEOUT):
        state.set_training(True)
    assert [r.name for r in session.runs] == ["r"]


def test_setting_text_never_raises_on_a_hand_edited_value():
    assert setting_text("limit_train", "1e999") == "(unreadable)"  # text where a count belongs
    assert setting_text("limit_train", 0) == "all" and setting_text("limit_train", 2000) == "2,000"
    assert setting_text("val_split", 0.1) == "10 %" and setting_text("early_stopping_patience", 0) == "off"
    assert setting_text("seed", None) == "" and setting_text("augment", True) == "on"
