"""Shared test set-up: every test runs offline, headless, with its own per-user data folder."""

from __future__ import annotations

import os

# Set before Qt or torch is imported anywhere in the test session.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest


@pytest.fixture(autouse=True)
def _no_weights_download(monkeypatch):
    """Tests never download: a pretrained backbone whose weights a test did not place fails with the
    user's message instead of fetching 45 MB (tests of the download path remove this themselves)."""
    monkeypatch.setenv("CNNSTUDIO_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """A fresh CNNSTUDIO_HOME per test, so no test sees another's runs or downloads."""
    home = tmp_path_factory.mktemp("cnnstudio-home")
    monkeypatch.setenv("CNNSTUDIO_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def _automatic_gc_outside_the_qt_tests(request):
    """create_application() hands Python's cyclic GC to the GUI thread's timer (cnnstudio/ui/gui_gc.py); a
    test outside tests/ui that calls it gives collection back to CPython, or the tests after it, which run
    no event loop, would never collect. (tests/ui/conftest.py keeps it for the Qt tests, as the app does.)"""
    yield
    import sys

    gui_gc = sys.modules.get("cnnstudio.ui.gui_gc")
    if gui_gc is not None and gui_gc.installed() and "ui" not in request.node.path.parent.parts[-1:]:
        gui_gc.stop_collecting_on_gui_thread()


# Trained models shared across modules. Training is most of the suite's time on a CPU: a module that needs
# "a well-trained shapes model" takes this one instead of training its own. The consumers only read the
# run folder (evaluate, predict, inspect); a test that changes it copies it into its tmp_path first.
SHARED_SHAPES_TRAINING = ("train", "--dataset", "shapes", "--model", "fast-cnn", "--epochs", "2", "--batch-size", "128",
                          "--lr", "0.01", "--schedule", "onecycle", "--device", "cpu", "--precision", "fp32", "--seed",
                          "0")


@pytest.fixture(scope="session")
def cli_shapes_run(tmp_path_factory) -> dict:
    """`cnnstudio train ... --json` of fast-cnn on all of shapes (two one-cycle epochs, 99 % test accuracy),
    run once for the session as a real process: the JSON object it printed on its last line (run_dir,
    checkpoint, test_accuracy, epochs...). tests/test_cli.py checks that object and the process;
    tests/test_training.py's inference tests use its best.pt as their trained model. (fast-cnn, a small
    BatchNorm net, gets there in less time than cnn3-dropout's two epochs took to reach 95 %.)"""
    import json
    import subprocess
    import sys

    out_dir = tmp_path_factory.mktemp("shared-cli-run")
    env = {**os.environ, "CNNSTUDIO_HOME": str(out_dir / "home")}
    proc = subprocess.run([sys.executable, "-m", "cnnstudio", *SHARED_SHAPES_TRAINING, "--json", "--out",
                           str(out_dir / "run")], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == "finished", result
    return result


@pytest.fixture(scope="session")
def tiny_shapes_run(tmp_path_factory):
    """The run folder (best.pt, last.pt, config.json...) of a one-epoch tiny-bn-cnn on 400 shapes pictures,
    trained once for the session: "some finished run" for the tests of what is done with one (export,
    refusals, escaping). Read it only; a test that changes it copies it into its tmp_path first."""
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.training.config import TrainConfig
    from cnnstudio.core.training.trainer import Trainer

    folder = tmp_path_factory.mktemp("shared-tiny-run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNSTUDIO_HOME", str(folder / "home"))  # set up before any test's own home exists
        cfg = TrainConfig(dataset="shapes", model="tiny-bn-cnn", epochs=1, batch_size=64, limit_train=400,
                          val_split=0.0, device="cpu", precision="fp32", seed=0)
        result = Trainer(cfg, dataset=load_dataset("shapes"), run_dir=folder / "run").run()
    assert result.status == "finished", result
    return folder / "run"
