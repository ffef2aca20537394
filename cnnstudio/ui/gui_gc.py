"""Python's cyclic garbage collector frees Qt objects on the GUI thread only.

CPython runs a cyclic collection on whichever thread happens to cross the allocation threshold, and
gc.collect() runs on the thread that calls it. In this app the threads that allocate most are not the
GUI's: the task pool (ui/tasks.py), the training QThread, and torch's ONNX exporter, which calls
gc.collect() itself at the end of every export. A Python-owned QObject in a reference cycle (an AppState
and its CurrentModel, a closed page or dialog, pyqtgraph's parentless ViewBoxMenu) is then destroyed on
that thread. Qt cannot stop a widget's timers from another thread ("QObject::killTimer: Timers cannot be
stopped from another thread"), so the GUI thread later delivers a timer event to the deleted window and
the process dies of a segmentation fault at a random point (QTimerInfoList::activateTimers ->
sendQWindowEventToQPlatformWindow under gdb). scripts/gc_thread_crash.py reproduces it in seconds.

The remedy pyqtgraph documents (pyqtgraph.util.garbage_collector): automatic collection off, and the GUI
thread collects on a timer by the same thresholds CPython uses. A collection another thread still asks
for (gc.collect() in a library) finds nothing: its start freezes every tracked object and its end
unfreezes them into the oldest generation, which the GUI thread collects later.
"""

from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QObject, QTimer

# How often the GUI thread looks at the allocation counts. A generation is collected only when its count
# passes CPython's own threshold, so a quiet app does no work; a busy training thread's cyclic garbage
# waits at most this long.
INTERVAL_MS = 250

_guard: _GuiThreadCollector | None = None


class _GuiThreadCollector(QObject):
    def __init__(self) -> None:
        super().__init__()
        self._gui_thread = threading.current_thread()
        self._thresholds = gc.get_threshold()
        self._was_enabled = gc.isenabled()
        self._frozen_here = False
        gc.disable()
        gc.callbacks.append(self._on_collection)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.check)
        self._timer.start(INTERVAL_MS)

    def check(self) -> None:
        """Collect what CPython would have collected by now, here on the GUI thread."""
        young, middle, old = gc.get_count()
        if young > self._thresholds[0]:
            gc.collect(0)
            if middle > self._thresholds[1]:
                gc.collect(1)
                if old > self._thresholds[2]:
                    gc.collect(2)

    def _on_collection(self, phase: str, _info: dict) -> None:
        # Collections never overlap (CPython runs one at a time, under the GIL), so one flag suffices.
        if phase == "start" and threading.current_thread() is not self._gui_thread:
            gc.freeze()
            self._frozen_here = True
        elif phase == "stop" and self._frozen_here:
            self._frozen_here = False
            gc.unfreeze()

    def remove(self) -> None:
        self._timer.stop()
        gc.callbacks.remove(self._on_collection)
        if self._was_enabled:
            gc.enable()


def collect_on_gui_thread() -> None:
    """Install the collector; call on the GUI thread once the QApplication exists (idempotent)."""
    global _guard
    if _guard is None:
        _guard = _GuiThreadCollector()


def stop_collecting_on_gui_thread() -> None:
    """Give automatic collection back to CPython (the Qt tests bracket their package with these two)."""
    global _guard
    if _guard is not None:
        guard, _guard = _guard, None
        guard.remove()


def installed() -> bool:
    return _guard is not None
