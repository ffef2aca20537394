"""Start the desktop app: QApplication, main window, event loop."""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:  # Qt is imported when the window is made: `cnnstudio --help` starts without it
    from PySide6.QtWidgets import QApplication

# Set CNNSTUDIO_STARTUP_PROBE=1 to measure start-up: once the main window is first exposed the app prints
# "CNNSTUDIO_WINDOW_SHOWN <unix time>" on stdout and closes itself (benchmarks/ui_responsiveness.py).
STARTUP_PROBE_ENV = "CNNSTUDIO_STARTUP_PROBE"

# Qt's raster engine hands every fill of 96 or more scanlines (and every large image conversion or smooth
# scale) to a pool of "Thread (pooled)" threads and waits for them. Each chart or progress-bar repaint
# then wakes those threads, which pre-empt the trainer's OpenMP threads; one stalled OpenMP thread makes
# the other wait at the next barrier. Measured here (2 cores, training shapes in the app): about 1,000
# pool wake-ups a second and 4,900-7,800 pre-emptions of the GUI thread per run with the pool; 89-136
# without it (docs/benchmarks-history.md). Our fills are chart- and widget-sized, so doing them on the GUI thread
# costs nothing visible. Qt reads the variable once, at the first fill: set it before the QApplication.
NO_GUI_THREADPOOL_ENV = "QT_NO_GUI_THREADPOOL"


def create_application(argv: list[str] | None = None) -> QApplication:
    os.environ.setdefault(NO_GUI_THREADPOOL_ENV, "1")
    from PySide6.QtWidgets import QApplication

    # instance() is typed QCoreApplication; the one there is, a test's or ours, is a QApplication.
    app = cast(QApplication, QApplication.instance() or QApplication(list(argv if argv is not None else sys.argv)))
    app.setApplicationName("CNN Studio")
    app.setOrganizationName("CNN Studio")
    app.setApplicationDisplayName("CNN Studio")
    app.setDesktopFileName("cnnstudio")  # matches resources/cnnstudio.desktop (Wayland, task switchers)
    from cnnstudio.ui.app_icon import app_icon

    app.setWindowIcon(app_icon())
    import pyqtgraph as pg

    # Row-major images (numpy's own layout) and antialiased curves everywhere.
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
    from cnnstudio.ui.gui_gc import collect_on_gui_thread

    # Qt objects in reference cycles must be freed here, never on a worker thread (ui/gui_gc.py).
    collect_on_gui_thread()
    return app


def run_app(argv: list[str] | None = None) -> int:
    app = create_application(argv)
    from cnnstudio.ui.main_window import MainWindow

    window = MainWindow()
    if os.environ.get(STARTUP_PROBE_ENV):
        _install_startup_probe(window)
    window.show()
    code = app.exec()
    from cnnstudio.ui.main_window import shut_down_background_work

    shut_down_background_work()
    return code


def _install_startup_probe(window) -> None:
    """Print when the window is first exposed (really on screen), then close it the normal way."""
    from PySide6.QtCore import QEvent, QObject, QTimer

    class ExposeProbe(QObject):
        def __init__(self):
            super().__init__(window)
            self.fired = False

        def eventFilter(self, obj, event):
            if not self.fired and event.type() == QEvent.Type.Expose and obj.isExposed():
                self.fired = True
                print(f"CNNSTUDIO_WINDOW_SHOWN {time.time():.6f}", flush=True)
                QTimer.singleShot(0, window.close)  # closeEvent waits for background threads as usual
            return False

    probe = ExposeProbe()
    window.winId()  # create the native window so its QWindow exists before show()
    window.windowHandle().installEventFilter(probe)
