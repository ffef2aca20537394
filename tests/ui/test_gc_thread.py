"""Python's cyclic GC frees Qt objects on the GUI thread only (cnnstudio/ui/gui_gc.py): without that, a
long Qt process died of a segmentation fault at random points."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
import weakref
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_collection_on_another_thread_frees_no_qt_object(qtbot):
    from PySide6.QtWidgets import QWidget

    from cnnstudio.ui import gui_gc

    assert gui_gc.installed() and not gc.isenabled()  # tests/ui/conftest.py installs it, as the app does
    freed_on: list[str] = []
    window = QWidget()
    window.cycle = window  # only the cyclic GC frees it
    weakref.finalize(window, lambda: freed_on.append(threading.current_thread().name))
    del window
    worker = threading.Thread(target=gc.collect, name="worker")  # as torch's ONNX exporter does on a pool thread
    worker.start()
    worker.join()
    assert freed_on == []  # that collection found nothing: it waits for one on the GUI thread
    gc.collect()
    assert freed_on == ["MainThread"]


def test_the_gui_thread_collects_on_its_timer(qtbot):
    """Automatic collection is off; the GUI thread's timer collects once CPython's threshold is passed."""
    from PySide6.QtWidgets import QWidget

    freed_on: list[str] = []
    window = QWidget()
    window.cycle = window
    weakref.finalize(window, lambda: freed_on.append(threading.current_thread().name))
    del window
    allocations = [[i] for i in range(2 * gc.get_threshold()[0])]  # past the youngest generation's threshold
    qtbot.waitUntil(lambda: bool(freed_on), timeout=5000)
    assert freed_on == ["MainThread"] and len(allocations) > 0


def test_the_reproduction_runs_clean_with_the_remedy():
    """scripts/gc_thread_crash.py dies of SIGSEGV within seconds without --guarded (not run here: a crash
    on purpose is slow and noisy); with it, every window is freed on the GUI thread."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "gc_thread_crash.py"), "--guarded", "--seconds", "3"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, (result.stdout + result.stderr)[-2000:]
    assert "on another thread: 0" in result.stdout
