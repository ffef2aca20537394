"""Start the desktop app: QApplication, main window, event loop."""

from __future__ import annotations

import sys


def create_application(argv: list[str] | None = None):
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(list(argv if argv is not None else sys.argv))
    app.setApplicationName("CNN Studio")
    app.setOrganizationName("CNN Studio")
    app.setApplicationDisplayName("CNN Studio")
    app.setDesktopFileName("cnnstudio")
    import pyqtgraph as pg

    # Row-major images (numpy's own layout) and antialiased curves everywhere.
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
    return app


def run_app(argv: list[str] | None = None) -> int:
    app = create_application(argv)
    from cnnstudio.ui.main_window import MainWindow

    window = MainWindow()
    window.show()
    return app.exec()
