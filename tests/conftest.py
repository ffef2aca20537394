"""Shared test set-up: every test runs offline, headless, with its own per-user data folder."""

from __future__ import annotations

import os

# Set before Qt or torch is imported anywhere in the test session.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest


@pytest.fixture(autouse=True)
def _no_weights_download(monkeypatch):
    """Tests never download: a pretrained backbone whose weights a test did not place fails with the
    user's message instead of fetching 45 MB (tests of the download path remove this themselves)."""
    monkeypatch.setenv("CNNSTUDIO_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """A fresh CNNSTUDIO_HOME per test, so no test sees another's runs or downloads."""
    home = tmp_path_factory.mktemp("cnnstudio-home")
    monkeypatch.setenv("CNNSTUDIO_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def _automatic_gc_outside_the_qt_tests(request):
    """create_application() hands Python's cyclic GC to the GUI thread's timer (cnnstudio/ui/gui_gc.py); a
    test outside tests/ui that calls it gives collection back to CPython, or the tests after it, which run
    no event loop, would never collect. (tests/ui/conftest.py keeps it for the Qt tests, as the app does.)"""
    yield
    import sys

    gui_gc = sys.modules.get("cnnstudio.ui.gui_gc")
    if gui_gc is not None and gui_gc.installed() and "ui" not in request.node.path.parent.parts[-1:]:
        gui_gc.stop_collecting_on_gui_thread()
