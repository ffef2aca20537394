"""Regressions in the Qt plumbing every page relies on: the task runner and the PySide version we run on."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

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


_POOL_PROBE = """
import sys
from pathlib import Path
if sys.argv[1] == "app":
    from cnnstudio.ui.app import create_application
    app = create_application([])
else:
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
from PySide6.QtGui import QColor, QImage, QPainter, QPen
image = QImage(1200, 900, QImage.Format.Format_ARGB32_Premultiplied)
image.fill(QColor("white"))
painter = QPainter(image)
painter.setPen(QPen(QColor("navy"), 3))
painter.setBrush(QColor(40, 120, 200, 128))  # translucent: blended span by span
for i in range(20):
    painter.drawRect(10 + i, 10 + i, 1100, 800)
painter.end()
threads = [p for p in Path("/proc/self/task").iterdir() if (p / "comm").read_text().strip() == "Thread (pooled)"]
print(len(threads))
"""


def test_the_app_paints_without_qt_gui_thread_pool():
    """Qt's raster engine farms large fills out to a thread pool whose wake-ups pre-empt the trainer's
    OpenMP threads (cnnstudio/ui/app.py); the app turns that pool off before its QApplication exists."""
    if not Path("/proc/self/task").is_dir():
        pytest.skip("counts threads through /proc (Linux)")

    def pooled_threads(kind: str) -> int:
        env = {k: v for k, v in os.environ.items() if k != "QT_NO_GUI_THREADPOOL"}
        env["QT_QPA_PLATFORM"] = "offscreen"
        result = subprocess.run([sys.executable, "-c", _POOL_PROBE, kind], cwd=REPO, env=env, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        return int(result.stdout.split()[-1])

    baseline = pooled_threads("plain")
    if baseline == 0:
        pytest.skip("this Qt paints large fills on the calling thread anyway")
    assert pooled_threads("app") == 0
