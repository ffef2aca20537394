"""Shared fixtures for the Qt tests: pyqtgraph configured like the app, no worker thread outliving a test.

Add fixtures here rather than replacing the file: several test modules under tests/ui share it.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _pyqtgraph_like_the_app():
    """The options ui/app.py create_application sets: row-major images, antialiased curves."""
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)


@pytest.fixture(scope="package", autouse=True)
def _gc_on_the_gui_thread(qapp):
    """As in the app (ui/app.py create_application): Python's cyclic GC frees Qt objects on the GUI thread
    only. Without it a long process of these tests died of a segmentation fault at random points: a
    Python-owned QObject in a reference cycle freed by a collection on a task or training thread (ui/gui_gc.py,
    scripts/gc_thread_crash.py). Removed after the last Qt test, so tests run after them collect as usual."""
    from cnnstudio.ui import gui_gc

    gui_gc.collect_on_gui_thread()
    yield
    gui_gc.stop_collecting_on_gui_thread()


@pytest.fixture(autouse=True)
def _no_task_left_running(qtbot):
    """Cancel and join every background Task after the test, then let their finished slots run.

    A QThread still running when its QThread object is destroyed aborts the whole test process.
    Runs before qtbot closes the test's widgets (this fixture's teardown comes first). A main window
    closed by an earlier test closed the task gate: each test starts with it open.
    """
    from cnnstudio.ui import tasks

    tasks.reopen()
    yield

    tasks.wait_for_all()
    qtbot.waitUntil(tasks.idle, timeout=10_000)


@pytest.fixture(autouse=True)
def _own_settings(tmp_path_factory):
    """Each test reads and writes its own QSettings (window geometry, the remembered session): nothing
    leaks from one test to the next, nor into the user's real settings."""
    from PySide6.QtCore import QSettings

    folder = tmp_path_factory.mktemp("settings")
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(folder))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    yield


@pytest.fixture
def state():
    from cnnstudio.ui.compose import app_state

    return app_state()


@pytest.fixture(autouse=True)
def _no_training_thread_left_running(qtbot):
    """Fail a test that leaves a training run's QThread alive; stop and join it anyway so the session
    survives ("QThread: Destroyed while thread is still running" would abort every later test)."""
    yield
    from cnnstudio.ui import training_worker

    left = [run for run in training_worker.active_runs() if run.thread_alive()]
    training_worker.wait_for_runs(120_000)
    qtbot.waitUntil(lambda: not training_worker.active_runs(), timeout=10_000)
    assert not left, f"{len(left)} training thread(s) were still running at the end of the test"


@pytest.fixture(scope="session")
def shapes_dataset():
    """The built-in shapes set, loaded once for the whole session."""
    from cnnstudio.core.datasets import load_dataset

    return load_dataset("shapes")


@pytest.fixture(scope="session")
def shapes_checkpoint(shapes_dataset, tmp_path_factory):
    """best.pt of a tiny shapes model (tiny-bn-cnn, one short epoch) trained once for the session."""
    from cnnstudio.core.training.config import Augmentation, TrainConfig
    from cnnstudio.core.training.trainer import Trainer

    run_dir = tmp_path_factory.mktemp("shared-run") / "run"
    config = TrainConfig(dataset="shapes", model="tiny-bn-cnn", epochs=1, limit_train=1500, device="cpu",
                         precision="fp32", seed=0, augment=Augmentation())
    result = Trainer(config, dataset=shapes_dataset, run_dir=run_dir).run()
    assert result.status == "finished", result
    return result.checkpoint


@pytest.fixture
def shapes_state(shapes_dataset):
    """An AppState with shapes loaded, as the Data page leaves it."""
    from cnnstudio.ui.compose import app_state

    st = app_state()
    st.set_dataset(shapes_dataset, "shapes")
    return st
