"""Where CNN Studio keeps its files: one per-user data folder holding datasets and runs.

CNNSTUDIO_HOME overrides the location (tests point it at a temporary folder; a frozen app never
writes into its own bundle).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def user_data_dir() -> Path:
    override = os.environ.get("CNNSTUDIO_HOME")
    if override:
        return Path(override).expanduser()
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or os.environ.get("APPDATA") or home / "AppData" / "Local")
        return base / "CNN Studio"
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "CNN Studio"
    base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "cnnstudio"


def datasets_dir() -> Path:
    return user_data_dir() / "datasets"


def runs_dir() -> Path:
    return user_data_dir() / "runs"


def cache_dir() -> Path:
    return user_data_dir() / "cache"


def new_dated_folder(name: str) -> Path:
    """A path in the runs folder that does not exist yet: `<date>-<time>-<name>` (characters a file system
    may refuse replaced), with -2, -3... when that second is taken. Run folders and sweep folders alike."""
    from datetime import datetime

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    base = runs_dir() / f"{stamp}-{safe}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path
