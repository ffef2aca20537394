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
    Runs before qtbot closes the test's widgets (this fixture's teardown comes first).
    """
    yield
    from cnnstudio.ui import tasks

    tasks.wait_for_all()
    qtbot.waitUntil(lambda: not tasks._running, timeout=10_000)


@pytest.fixture
def state():
    from cnnstudio.ui.state import AppState

    return AppState()
