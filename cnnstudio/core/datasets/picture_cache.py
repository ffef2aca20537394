"""Decoded pictures of a folder, kept on disk so the next load of the same folder decodes nothing.

Decoding is most of a folder's load time (1,000 photos at 224 px: seconds; a few thousand: a minute).
The result of the two passes - the pixels at the chosen size, each picture's class and split, and the
files skipped - is stored in the user's cache folder under a key made of the folder, the requested
size and every file's path, size and modification time: add, remove, replace or touch one picture
and the key changes, so a stale copy is never used. The newest few entries are kept.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

KEEP = 8  # cached folders kept (the least recently used go first)


@dataclass
class Decoded:
    """What the two passes produced for a folder."""

    images: np.ndarray  # uint8 (N, C, S, S)
    labels: np.ndarray  # int64 (N,)
    splits: list[str | None]  # "train" / "test" for a pre-split folder, else None
    skipped: list[tuple[str, str]]  # (path, reason)
    size: int
    channels: int


def cache_folder() -> Path:
    from cnnstudio.core.paths import cache_dir

    return cache_dir() / "pictures"


def folder_key(root: Path, files: list[tuple[Path, int, str | None]], image_size: int | None) -> str | None:
    """The cache key of a folder's candidate files ((path, class index, split) each), or None when a
    file cannot even be stat'ed (then nothing is cached)."""
    digest = hashlib.sha1(f"v1|{root.resolve()}|{image_size}".encode())
    try:
        for path, index, split in files:
            st = path.stat()
            digest.update(f"|{path.relative_to(root)}|{index}|{split}|{st.st_size}|{st.st_mtime_ns}".encode())
    except (OSError, ValueError):
        return None
    return digest.hexdigest()[:24]


def load(key: str) -> Decoded | None:
    """The cached decode for `key`, or None (none yet, or unreadable: decoded again)."""
    folder = cache_folder()
    try:
        meta = json.loads((folder / f"{key}.json").read_text(encoding="utf-8"))
        images = np.load(folder / f"{key}.npy", allow_pickle=False)
        os.utime(folder / f"{key}.json")  # recently used: kept longer
    except (OSError, ValueError, KeyError):
        return None
    if images.dtype != np.uint8 or images.ndim != 4 or len(images) != len(meta["labels"]):
        return None
    return Decoded(images, np.asarray(meta["labels"], dtype=np.int64), list(meta["splits"]),
                   [tuple(s) for s in meta["skipped"]], int(meta["size"]), int(meta["channels"]))


def save(key: str, decoded: Decoded) -> None:
    """Store a decode (best effort: a full disk or a read-only cache only costs the next load's time)."""
    folder = cache_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temp = folder / f".{key}.{os.getpid()}.npy"
        np.save(temp, np.ascontiguousarray(decoded.images), allow_pickle=False)
        os.replace(temp, folder / f"{key}.npy")
        meta = {"labels": decoded.labels.tolist(), "splits": decoded.splits, "skipped": decoded.skipped,
                "size": decoded.size, "channels": decoded.channels}
        temp_meta = folder / f".{key}.{os.getpid()}.json"
        temp_meta.write_text(json.dumps(meta), encoding="utf-8")
        os.replace(temp_meta, folder / f"{key}.json")  # written last: its presence means complete
        _prune(folder)
    except OSError:
        pass


def _prune(folder: Path) -> None:
    entries = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[KEEP:]:
        for path in (old, old.with_suffix(".npy")):
            path.unlink(missing_ok=True)
