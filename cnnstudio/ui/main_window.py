"""The main window."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QMainWindow

from cnnstudio import __version__


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("CNN Studio")
        self.resize(1200, 800)
        label = QLabel(f"CNN Studio {__version__}")
        self.setCentralWidget(label)
