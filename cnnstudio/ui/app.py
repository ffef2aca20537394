"""Start the desktop app: QApplication, main window, event loop."""

from __future__ import annotations

import sys


def run_app(argv: list[str] | None = None) -> int:
    from PySide6.QtWidgets import QApplication

    from cnnstudio.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(list(argv if argv is not None else sys.argv))
    app.setApplicationName("CNN Studio")
    app.setOrganizationName("CNN Studio")
    window = MainWindow()
    window.show()
    return app.exec()
