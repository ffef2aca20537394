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
    gc.collect(0)  # it survives one collection, as most objects do: its cycle is in the middle generation
    del window
    kept: list[list[list[int]]] = []

    def freed() -> bool:
        # Allocate past the youngest generation's threshold before each of the timer's looks, as a busy app
        # does: the window is freed by the collection of whichever generation it has reached by then.
        if gc.get_count()[0] <= gc.get_threshold()[0]:
            kept.append([[i] for i in range(gc.get_threshold()[0] + 1)])
        return bool(freed_on)

    qtbot.waitUntil(freed, timeout=60_000)
    assert freed_on == ["MainThread"]


def test_the_reproduction_runs_clean_with_the_remedy():
    """scripts/gc_thread_crash.py dies of SIGSEGV within seconds without --guarded (not run here: a crash
    on purpose is slow and noisy); with it, every window is freed on the GUI thread."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    script = REPO / "scripts" / "gc_thread_crash.py"
    result = subprocess.run([sys.executable, str(script), "--guarded", "--seconds", "3"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, (result.stdout + result.stderr)[-2000:]
    assert "on another thread: 0" in result.stdout
