"""Regressions in the Qt plumbing every page relies on: the task runner and the PySide version we run on."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_task_wait_returns_without_the_event_loop(qtbot):
    """wait() from the GUI thread (window close) must not depend on the GUI thread delivering quit()."""
    from cnnstudio.ui.tasks import run_in_background

    task = run_in_background(lambda: 42)
    start = time.monotonic()
    assert task.wait(5000)  # no event processing in between: a queued quit() would never arrive
    assert time.monotonic() - start < 4
    qtbot.waitUntil(lambda: not task.running, timeout=5000)


def test_many_void_qt_calls_do_not_abort_python():
    """PySide6 6.12.0 (abi3) on Python < 3.12 drops a reference to None on every void call, and Python
    aborts with "deallocating None"; pyproject.toml keeps that release out where it breaks."""
    code = (
        "import cnnstudio.ui\n"
        "from PySide6.QtCore import QCoreApplication, QObject\n"
        "app = QCoreApplication([])\n"
        "o = QObject()\n"
        "for i in range(50_000):\n"
        "    o.setObjectName('x'); QCoreApplication.processEvents()\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
