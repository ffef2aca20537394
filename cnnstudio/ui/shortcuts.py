"""Every keyboard shortcut the app has, listed once for Help > Keyboard shortcuts.

The Train page's keys come from its own table (widgets/run_panel.py), so the list cannot drift from what
the buttons do; the rest are the standard keys the pages bind.
"""

from __future__ import annotations

from PySide6.QtGui import QKeySequence

from cnnstudio.ui.widgets.run_panel import SHORTCUTS as TRAIN_SHORTCUTS


def _native(*keys: str) -> str:
    return " or ".join(QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText) for k in keys)


def shortcut_table() -> list[tuple[str, str, str]]:
    """(where, what, keys) rows, in the order of the pages."""
    quit_keys = QKeySequence(QKeySequence.StandardKey.Quit).toString() or "Ctrl+Q"
    rows = [("Everywhere", "Go to page 1 to 8 (Data … Draw)", _native("Ctrl+1") + " … " + _native("Ctrl+8")),
            ("Everywhere", "Quit (a running training is saved first)", _native(quit_keys)),
            ("Everywhere", "Keyboard shortcuts (this list)", _native("F1"))]
    rows += [("Review", "Accept the suggestion / keep / exclude", "A or Enter / K / X"),
             ("Review", "Label a new picture with a class / the model's guess", "its digit (1 … 9, 0) / A"),
             ("Review", "Undo the last decision", _native("Ctrl+Z"))]
    rows += [("Train", "Start training", _native(*TRAIN_SHORTCUTS["start"])),
             ("Train", "Pause / resume", _native(*TRAIN_SHORTCUTS["pause"])),
             ("Train", "Stop (saves last.pt)", _native(*TRAIN_SHORTCUTS["stop"]))]
    rows += [("Inspect", "Previous / next test image", _native("Alt+Left") + " / " + _native("Alt+Right")),
             ("Inspect", "A random test image", _native("Alt+R")),
             ("Inspect, Draw", "Paste an image to look at", _native("Ctrl+V")),
             ("Draw", "Pen / eraser", "P / E"),
             ("Draw", "Smaller / larger brush", "[ / ]"),
             ("Draw", "Undo / redo", _native("Ctrl+Z") + " / " + _native("Ctrl+Shift+Z", "Ctrl+Y")),
             ("Draw", "Clear the page", _native("Delete", "Ctrl+Backspace")),
             ("Draw", "Open an image", _native("Ctrl+O"))]
    return rows
