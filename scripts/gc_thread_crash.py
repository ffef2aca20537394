"""Reproduce the segmentation fault a long Qt process died of: a Qt window freed by Python's cyclic GC on a
background thread (cnnstudio/ui/gui_gc.py explains it).

    QT_QPA_PLATFORM=offscreen python scripts/gc_thread_crash.py            # crashes within seconds
    QT_QPA_PLATFORM=offscreen python scripts/gc_thread_crash.py --guarded  # the app's remedy: runs clean

The GUI thread keeps making small windows that sit in a reference cycle (as a page holding its session
which holds the page back), showing and dropping them, while background calls on the app's task pool
(cnnstudio/ui/tasks.py) allocate the way loading or inference does, and one of them calls gc.collect()
as torch's ONNX exporter does. Unguarded, some windows are freed on a pool thread and the GUI thread soon
delivers a timer event to a deleted window (exit by SIGSEGV, or an abort: "pure virtual method called").
Guarded, every window is freed on the GUI thread. Prints where the windows were freed; exits 0 when none
was freed off the GUI thread.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import sys
import threading
import time
import weakref

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guarded", action="store_true", help="install cnnstudio.ui.gui_gc first, as the app does")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    faulthandler.enable()

    import pyqtgraph as pg
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QLabel, QVBoxLayout, QWidget

    from cnnstudio.ui import tasks

    app = QApplication.instance() or QApplication(sys.argv[:1])
    if args.guarded:
        from cnnstudio.ui.gui_gc import collect_on_gui_thread

        collect_on_gui_thread()
    freed = {"gui": 0, "other": 0}

    def note_freed() -> None:
        freed["gui" if threading.current_thread() is threading.main_thread() else "other"] += 1

    class Page(QWidget):
        def __init__(self) -> None:
            super().__init__()
            layout = QVBoxLayout(self)
            self.chart = pg.PlotWidget()
            self.chart.plot(list(range(100)))
            layout.addWidget(self.chart)
            layout.addWidget(QLabel("a page"))
            self.session = {"page": self}  # a reference cycle: only the cyclic GC frees this window

    def churn() -> None:
        page = Page()
        page.show()
        weakref.finalize(page, note_freed)
        live.plot(list(range(50)), clear=True)

    live = pg.PlotWidget()
    live.show()
    timer = QTimer()
    timer.timeout.connect(churn)
    timer.start(5)
    deadline = time.monotonic() + args.seconds

    def background_call(index: int) -> None:
        junk = [[i] for i in range(20_000)]  # loading, inference: allocation runs the GC on this thread
        if index % 5 == 0:
            import gc

            gc.collect()  # what torch.onnx.export does at its end (ONNXProgram.release)
        del junk

    calls = [0]

    def submit() -> None:
        if time.monotonic() > deadline:
            tasks.shutdown()
            app.quit()
            return
        if tasks.idle():
            calls[0] += 1
            tasks.run_in_background(lambda n=calls[0]: background_call(n))

    feeder = QTimer()
    feeder.timeout.connect(submit)
    feeder.start(1)
    app.exec()
    print(f"windows freed on the GUI thread: {freed['gui']}, on another thread: {freed['other']}; "
          f"background calls: {calls[0]}", flush=True)
    return 0 if freed["other"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
