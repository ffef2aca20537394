"""The Qt-free core of CNN Studio: datasets, architectures, training, metrics, inference.

Nothing under this package may import Qt or pyqtgraph (tests/test_core_is_qt_free.py enforces it),
so the CLI, the desktop app and torchrun all drive the same code.
"""
