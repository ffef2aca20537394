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
