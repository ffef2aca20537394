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


@pytest.fixture
def state():
    from cnnstudio.ui.state import AppState

    return AppState()


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
