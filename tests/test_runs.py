"""cnnstudio.core.runs: listing, reading, renaming and deleting run folders (no Qt, no torch needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnnstudio.core import paths
from cnnstudio.core.runs import (RunError, delete_run, list_runs, load_config, load_history, load_result, read_run,
                                 rename_run, validate_run_name)


def history(epochs: int = 2, steps: int = 6) -> dict:
    return {
        "epoch": list(range(1, epochs + 1)),
        "train_loss": [1.0 / e for e in range(1, epochs + 1)],
        "train_accuracy": [0.5 + 0.1 * e for e in range(epochs)],
        "val_loss": [1.1 / e for e in range(1, epochs + 1)],
        "val_accuracy": [0.4 + 0.1 * e for e in range(epochs)],
        "lr": [0.001] * epochs, "seconds": [1.0] * epochs, "samples_per_second": [100.0] * epochs,
        "steps": {"step": list(range(1, steps + 1)), "loss": [2.0 - 0.1 * s for s in range(steps)],
                  "accuracy": [0.1] * steps, "lr": [0.001] * steps},
    }


def make_run(root: Path, name: str, *, status: str | None = "finished", epochs: int = 2, planned: int = 2,
             test_acc: float | None = 0.81, mtime: float | None = None) -> Path:
    run = root / name
    run.mkdir(parents=True)
    config = {"config": {"dataset": "shapes", "model": "tiny-bn-cnn", "spec": {"name": "tiny-bn-cnn", "layers": []},
                         "epochs": planned, "batch_size": 32, "optimizer": "adam", "lr": 0.001},
              "dataset": {"name": "shapes"}, "device": "cpu", "precision": "bf16", "params": 1680}
    (run / "config.json").write_text(json.dumps(config))
    (run / "metrics.json").write_text(json.dumps(history(epochs)))
    if status is not None:
        result = {"status": status, "message": f"{status}: {epochs} epochs", "run_dir": str(run), "epochs": epochs,
                  "best_val_accuracy": 0.5, "test_accuracy": test_acc}
        (run / "result.json").write_text(json.dumps(result))
    (run / "best.pt").write_bytes(b"x")
    (run / "last.pt").write_bytes(b"x")
    if mtime is not None:
        os.utime(run / "config.json", (mtime, mtime))
    return run


def test_list_runs_newest_first_with_summaries(tmp_path):
    now = time.time()
    make_run(tmp_path, "old", mtime=now - 100)
    make_run(tmp_path, "new", status="stopped", epochs=1, planned=5, test_acc=None, mtime=now)
    (tmp_path / "not-a-run").mkdir()  # an unrelated empty folder is no run
    (tmp_path / ".hidden").mkdir()
    runs = list_runs(tmp_path)
    assert [r.name for r in runs] == ["new", "old"]
    new, old = runs
    assert old.status == "finished" and old.dataset == "shapes" and old.model == "tiny-bn-cnn"
    assert old.epochs_done == 2 and old.epochs_planned == 2
    assert old.test_accuracy == pytest.approx(0.81)
    assert old.best_val_accuracy == pytest.approx(0.5)
    assert old.params == 1680 and old.precision == "bf16"
    assert old.has_best and old.best_checkpoint.endswith("best.pt")
    assert new.status == "stopped" and new.epochs_done == 1 and new.epochs_planned == 5 and new.test_accuracy is None
    assert new.date_text  # a readable date


def test_list_runs_defaults_to_the_user_runs_folder():
    assert list_runs() == []  # CNNSTUDIO_HOME is a fresh folder per test
    make_run(paths.runs_dir(), "a")
    assert [r.name for r in list_runs()] == ["a"]


def test_run_without_result_is_incomplete(tmp_path):
    run = make_run(tmp_path, "running", status=None)
    summary = read_run(run)
    assert summary.status == "incomplete" and not summary.damaged
    assert summary.epochs_done == 2
    assert load_result(run) is None


@pytest.mark.parametrize("damage", ["bad-json", "not-object", "bad-metrics", "inconsistent", "missing-config",
                                    "strings-in-metrics", "bad-result"])
def test_damaged_folders_are_listed_never_raised(tmp_path, damage):
    run = make_run(tmp_path, "r")
    if damage == "bad-json":
        (run / "config.json").write_text("{not json")
    elif damage == "not-object":
        (run / "config.json").write_text("[1, 2]")
    elif damage == "bad-metrics":
        (run / "metrics.json").write_bytes(b"\xff\xfe garbage")
    elif damage == "inconsistent":
        h = history()
        h["val_loss"] = [1.0]
        (run / "metrics.json").write_text(json.dumps(h))
    elif damage == "missing-config":
        (run / "config.json").unlink()
    elif damage == "strings-in-metrics":
        h = history()
        h["steps"]["loss"][2] = "oops"
        (run / "metrics.json").write_text(json.dumps(h))
    elif damage == "bad-result":
        (run / "result.json").write_text('"just a string"')
    runs = list_runs(tmp_path)
    assert len(runs) == 1
    assert runs[0].status == "damaged" and runs[0].damaged
    assert runs[0].problem  # says why
    if damage in ("bad-metrics", "inconsistent", "strings-in-metrics"):
        with pytest.raises(RunError):
            load_history(run)


def test_load_history_config_and_result(tmp_path):
    run = make_run(tmp_path, "r", epochs=3)
    h = load_history(run)
    assert h["epoch"] == [1, 2, 3] and len(h["steps"]["step"]) == 6
    assert load_config(run)["config"]["model"] == "tiny-bn-cnn"
    assert load_result(run)["status"] == "finished"
    empty = tmp_path / "empty-run"
    empty.mkdir()
    (empty / "train.log").write_text("started")
    assert load_history(empty)["epoch"] == []
    with pytest.raises(RunError):
        load_config(empty)


@pytest.mark.parametrize("name,ok", [("my run", True), ("baseline-v2.1", True), ("", False), ("  ", False),
                                     (" lead", False), ("a/b", False), ("a\\b", False), ("x:y", False),
                                     (".hidden", False), ("..", False), ("CON", False), ("a" * 121, False),
                                     ("tab\there", False)])
def test_validate_run_name(name, ok):
    assert (validate_run_name(name) is None) == ok


def test_rename_run(tmp_path):
    run = make_run(tmp_path, "r1")
    make_run(tmp_path, "taken")
    new = rename_run(run, "baseline")
    assert new == tmp_path / "baseline" and new.is_dir() and not run.exists()
    assert read_run(new).status == "finished"
    with pytest.raises(RunError, match="already a run"):
        rename_run(new, "taken")
    with pytest.raises(RunError, match="cannot contain"):
        rename_run(new, "a/b")
    with pytest.raises(RunError, match="no longer exists"):
        rename_run(tmp_path / "gone", "x")
    assert rename_run(new, "baseline") == new  # same name: nothing to do


def test_delete_run_only_inside_root(tmp_path):
    root = tmp_path / "runs"
    run = make_run(root, "r1")
    outside = make_run(tmp_path / "elsewhere", "r2")
    with pytest.raises(RunError, match="not a run folder in"):
        delete_run(outside, root)
    assert outside.exists()
    plain = root / "plain"
    plain.mkdir()
    with pytest.raises(RunError, match="does not look like a run folder"):
        delete_run(plain, root)
    delete_run(run, root)
    assert not run.exists()
    with pytest.raises(RunError, match="no longer exists"):
        delete_run(run, root)


def test_runs_module_imports_neither_torch_nor_qt():
    import subprocess
    import sys

    code = ("import sys, cnnstudio.core.runs; "
            "bad=[m for m in ('torch','PySide6','pyqtgraph') if m in sys.modules]; assert not bad, bad; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_run_labels_come_from_the_run_not_from_parsing_its_folder_name(tmp_path):
    """Dataset names have hyphens too: "fashion-mnist" must not end up in the model's place."""
    from cnnstudio.core.runs import run_label

    for name, model, expected in (("20261201-095219-fashion-mnist-convnet-5x5", "convnet-5x5", "09:52:19 convnet-5x5"),
                                  ("20261201-095219-kuzushiji-mnist-bn-cnn4-2", "bn-cnn4", "09:52:19 bn-cnn4-2"),
                                  ("my best run", "convnet-5x5", "my best run")):
        path = tmp_path / name
        path.mkdir()
        (path / "config.json").write_text(json.dumps({"config": {"dataset": "fashion-mnist", "model": model,
                                                                 "epochs": 1}}))
        assert run_label(read_run(path)) == expected


def test_curve_times_recorded_or_derived_from_epoch_durations():
    """The time axis: recorded times when the run has them; older runs get them from their epochs."""
    from cnnstudio.core.runs import curve_times, normalise_history

    h = normalise_history({"epoch": [1, 2], "train_loss": [1, 1], "train_accuracy": [0, 0], "val_loss": [1, 1],
                           "val_accuracy": [0, 0], "lr": [0.1, 0.1], "seconds": [10.0, 30.0], "time": [11.0, 42.0],
                           "steps": {"step": [50, 100, 150, 200, 230], "loss": [1] * 5, "lr": [0.1] * 5,
                                     "time": [5.0, 10.0, 25.0, 40.0, 49.0]}})
    assert curve_times(h) == ([5.0, 10.0, 25.0, 40.0, 49.0], [11.0, 42.0])
    # A time list that does not match its steps is dropped when read, not trusted.
    h["steps"]["time"] = [1.0]
    h = normalise_history(h)
    assert "time" not in h["steps"]
    del h["time"]
    step_t, epoch_t = curve_times(h)
    assert epoch_t == [10.0, 40.0]  # summed epoch durations
    # Steps spread evenly over each epoch: 115 per epoch here (230 steps in 2 epochs).
    assert step_t == pytest.approx([50 / 115 * 10, 100 / 115 * 10, 10 + 35 / 115 * 30, 10 + 85 / 115 * 30, 40.0])
    assert curve_times({"epoch": [], "steps": {"step": [1, 2]}}) == (None, None)


def _hold_lock(run: Path) -> subprocess.Popen:
    """Another process that trains into `run` as the trainer does: it holds the folder's lock until killed."""
    code = ("import time; from cnnstudio.core.run_lock import lock_run_folder; "
            f"held = lock_run_folder({str(run)!r}); print('locked', flush=True); time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_run_another_process_trains_reads_training_and_one_whose_writer_died_incomplete(tmp_path):
    """Issue 31, item 7a: a `cnnstudio train` in another process is not "incomplete" while it trains."""
    run = make_run(tmp_path, "cli-run", status=None, epochs=1, planned=3)  # no result.json: mid-run
    holder = _hold_lock(run)
    try:
        summary = read_run(run)
        assert summary.status == "training" and summary.problem is None
        assert summary.holder is not None and summary.holder.pid == holder.pid
        assert summary.epochs_done == 1 and summary.epochs_planned == 3
        assert [r.status for r in list_runs(tmp_path)] == ["training"]
        # Its files are still being written: neither renamed nor deleted from under it.
        with pytest.raises(RunError, match=f"is training \\(process {holder.pid} "):
            rename_run(run, "other")
        with pytest.raises(RunError, match="is training"):
            delete_run(run, tmp_path)
        assert run.is_dir() and not (tmp_path / "other").exists()
    finally:
        holder.kill()
        holder.wait()
    # The writer is gone (killed, its lock file left behind): the folder is an interrupted run.
    assert (run / ".cnnstudio-train.lock").exists()
    summary = read_run(run)
    assert summary.status == "incomplete" and summary.holder is None
    assert rename_run(run, "other") == tmp_path / "other"


def test_a_continued_run_reads_training_until_it_writes_its_new_result(tmp_path):
    """A run continued from its last.pt still holds the result.json of its earlier end while it trains."""
    run = make_run(tmp_path, "resumed", status="stopped", epochs=2, planned=4)
    old = time.time() - 3600
    os.utime(run / "result.json", (old, old))  # written before the lock was taken
    holder = _hold_lock(run)
    try:
        summary = read_run(run)
        assert summary.status == "training" and summary.test_accuracy is None and summary.message == ""
        (run / "result.json").write_text(json.dumps({"status": "finished", "epochs": 4, "test_accuracy": 0.9}))
        # Its result written, the process is about to let go of the folder: the run reads as ended.
        assert read_run(run).status == "finished"
    finally:
        holder.kill()
        holder.wait()


def test_a_probe_of_the_lock_does_not_make_a_starting_training_refuse_the_folder(tmp_path, monkeypatch):
    """The Runs page's probe holds the lock for an instant: a trainer meeting it tries again."""
    from cnnstudio.core import run_lock

    real, calls = run_lock.try_lock, []

    def contended(f, shared=False):
        calls.append(shared)
        if len(calls) <= 3:
            raise BlockingIOError("held by a probe")
        real(f, shared)

    monkeypatch.setattr(run_lock, "try_lock", contended)
    monkeypatch.setattr(run_lock, "CONTENDED_WAIT_S", 0.0)
    lock = run_lock.lock_run_folder(tmp_path)
    try:
        assert lock.held and len(calls) == 4
    finally:
        lock.release()


def test_a_real_cnnstudio_train_reads_training_while_it_runs_and_incomplete_once_killed(tmp_path):
    """End to end: the CLI's trainer in another process, seen from here as the Runs page sees it."""
    import signal

    out = tmp_path / "cli-run"
    train = ["train", "--dataset", "shapes", "--model", "tiny-bn-cnn", "--epochs", "50", "--limit-train", "600",
             "--device", "cpu", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "cnnstudio", *train],
                            cwd=Path(__file__).resolve().parents[1], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        seen = None
        deadline = time.monotonic() + 300  # a loaded machine takes its time to import torch and load data
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "config.json").is_file():
                seen = read_run(out)
                if seen.status == "training" and seen.epochs_done >= 1:
                    break
            time.sleep(0.2)
        assert seen is not None and seen.status == "training", seen
        assert seen.holder is not None and seen.holder.pid == proc.pid and seen.epochs_planned == 50
    finally:
        proc.send_signal(signal.SIGKILL)  # no chance to write a result: an interrupted run
        proc.wait()
    after = read_run(out)
    assert after.status == "incomplete" and after.holder is None
