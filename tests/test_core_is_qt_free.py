"""The core never imports Qt or pyqtgraph: the CLI and torchrun use it on machines without a display."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import cnnstudio.core

BLOCKER = r"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("PySide6", "PyQt5", "PyQt6", "shiboken6", "pyqtgraph"):
            raise ImportError(f"blocked: {name}")
        return None
sys.meta_path.insert(0, Block())
import importlib
for name in sys.argv[1:]:
    importlib.import_module(name)
bad = [m for m in sys.modules if m.split(".")[0] in ("PySide6", "pyqtgraph", "shiboken6")]
assert not bad, bad
print("ok", len(sys.argv) - 1)
"""


def core_modules() -> list[str]:
    root = Path(cnnstudio.core.__file__).parent
    return sorted(m.name for m in pkgutil.walk_packages([str(root)], prefix="cnnstudio.core."))


def test_core_has_the_expected_modules():
    mods = core_modules()
    for expected in ("cnnstudio.core.datasets", "cnnstudio.core.models.builder", "cnnstudio.core.training.trainer",
                     "cnnstudio.core.checkpoint", "cnnstudio.core.inference", "cnnstudio.core.metrics"):
        assert expected in mods


def test_every_core_module_imports_with_qt_blocked():
    mods = core_modules()
    proc = subprocess.run([sys.executable, "-c", BLOCKER, *mods, "cnnstudio.cli"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"ok {len(mods) + 1}"


def test_blocker_really_blocks():
    """The check above would be worthless if the blocker let PySide6 through."""
    proc = subprocess.run([sys.executable, "-c", BLOCKER, "cnnstudio.ui.main_window"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0
    assert "blocked: PySide6" in proc.stderr
