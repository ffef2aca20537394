"""`cnnstudio --self-test`, the smoke mode the packaging checks run on frozen bundles and installed .debs."""

from __future__ import annotations

import os
import subprocess
import sys


def test_self_test_passes_headless(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "CNNSTUDIO_HOME": str(tmp_path / "home")}
    proc = subprocess.run([sys.executable, "-m", "cnnstudio", "--self-test"], capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "window shown: 'CNN Studio'" in proc.stdout
    assert "checkpoint saved and reloaded" in proc.stdout
    assert "drawn circle predicted as" in proc.stdout
    assert "exported: model.int8.onnx" in proc.stdout and "predictor bundle of" in proc.stdout
    assert "QThread: Destroyed" not in proc.stderr
    # The self-test trains in a temporary folder: it leaves no run in the user's runs folder.
    assert not (tmp_path / "home" / "runs").exists() or not any((tmp_path / "home" / "runs").iterdir())
