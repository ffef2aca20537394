"""Decoded pictures of a folder, kept on disk: the next load of the same folder decodes nothing, and a
folder larger than memory is read from here a batch at a time.

Decoding is most of a folder's load time (1,000 photos at 224 px: seconds; a few thousand: a minute).
Each decoded picture is appended to a raw file of uint8 rows as soon as it is ready, training rows
first, then test rows, so the decode never holds the folder in memory and the two splits are two
contiguous ranges of the file. Beside it a JSON file records each row's class, where the training rows
end, the files skipped, the size and channels; it is written last, so its presence means the entry is
complete. The key is made of the folder, the requested size, how it was split, and every file's path,
size and modification time: add, remove, replace or touch one picture and the key changes, so a stale
copy is never used. The newest few entries are kept.

A load reads the rows into memory when they fit the memory budget (disk_images.memory_budget) and
otherwise returns them as DiskImages, which reads rows on demand.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, IO

import numpy as np

from cnnstudio.core.bounded import finite_numbers, loads_json
from cnnstudio.core.datasets.disk_images import DiskImages, memory_budget

KEEP = 8  # cached folders kept (the least recently used go first)
# v4: each row's file (relative to the folder); v3: the crop follows the subject (cover.py); v2: raw rows in
# split order; v1: one .npy in file order
VERSION = "v4"


@dataclass
class Decoded:
    """What decoding a folder produced: training rows first, then test rows."""

    images: np.ndarray | DiskImages  # uint8 (N, C, S, S): in memory, or on disk above the memory budget
    labels: np.ndarray  # int64 (N,)
    n_train: int  # rows [0, n_train) are training pictures, the rest test pictures
    skipped: list[tuple[str, str]]  # (path, reason)
    size: int
    channels: int
    key: str | None = None  # its cache entry, when it has one
    stats: tuple[tuple[float, ...], tuple[float, ...]] | None = None  # the training rows' (mean, std), once known
    # Each row's file, relative to the folder (POSIX separators): the data doctor names and moves pictures by it.
    files: list[str] | None = None


def cache_folder() -> Path:
    from cnnstudio.core.paths import cache_dir

    return cache_dir() / "pictures"


def folder_key(root: Path, files: list[tuple[Path, int, str | None]], image_size: int | None,
               split: str) -> str | None:
    """The cache key of a folder's candidate files ((path, class index, split folder) each) decoded at
    `image_size` and split as `split` describes, or None when a file cannot even be stat'ed (then
    nothing is cached)."""
    digest = hashlib.sha1(f"{VERSION}|{root.resolve()}|{image_size}|{split}".encode())
    try:
        for path, index, folder_split in files:
            st = path.stat()
            digest.update(f"|{path.relative_to(root)}|{index}|{folder_split}|{st.st_size}|{st.st_mtime_ns}".encode())
    except (OSError, ValueError):
        return None
    return digest.hexdigest()[:24]


def load(key: str, *, num_classes: int | None = None, max_rows: int | None = None,
         image_size: int | None = None) -> Decoded | None:
    """The cached decode for `key`, or None (none yet, unreadable, or failing validation: decoded again).

    An entry is input like any other (a hand edit, a disk error, another version): it is used only when
    entry_problem finds nothing wrong with it and its raw file, given what the caller knows of the folder
    (its number of classes, at most how many pictures, the size asked for)."""
    folder = cache_folder()
    meta_path, raw_path = folder / f"{key}.json", folder / f"{key}.u8"
    try:
        if meta_path.stat().st_size > MAX_META_BYTES:
            return None
        meta = loads_json(meta_path.read_text(encoding="utf-8"))
        if entry_problem(meta, key, raw_path.stat().st_size, num_classes=num_classes, max_rows=max_rows,
                         image_size=image_size) is not None:
            return None
        decoded = _open(raw_path, meta)
        os.utime(meta_path)  # recently used: kept longer
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return decoded


# The JSON of an entry: its labels (a few bytes a picture) and skipped files; far below this for any folder.
MAX_META_BYTES = 256 * 2**20
_MAX_SIDE = 8192
_MAX_TEXT = 4096


def entry_problem(meta: object, key: str, raw_bytes: int, *, num_classes: int | None = None,
                  max_rows: int | None = None, image_size: int | None = None) -> str | None:
    """Why a cache entry cannot be trusted, or None. Checks every field for type and range before any
    is used: labels whole numbers in 0..num_classes-1, at most max_rows of them, the picture size and
    channels plausible (and the size asked for), n_train within the labels, skipped files as
    (path, reason) text pairs, the statistics finite with positive deviations, and the raw file exactly
    as large as its rows."""
    def whole(value: object, low: int, high: int) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high

    if not isinstance(meta, dict):
        return "not an object"
    if meta.get("key", key) != key:
        return "written for another key"
    labels = meta.get("labels")
    top = num_classes - 1 if num_classes is not None else 2**31
    if not isinstance(labels, list) or (max_rows is not None and len(labels) > max_rows):
        return "labels missing or more than the folder's pictures"
    if not all(whole(v, 0, top) for v in labels):
        return "a label out of range"
    n = len(labels)
    size, channels = meta.get("size"), meta.get("channels")
    if not whole(size, 1, _MAX_SIDE) or (image_size is not None and size != image_size):
        return "picture size out of range"
    if channels not in (1, 3) or isinstance(channels, bool):
        return "channels not 1 or 3"
    if not whole(meta.get("n_train"), 0, n):
        return "n_train out of range"
    skipped = meta.get("skipped", [])
    if not isinstance(skipped, list) or (max_rows is not None and len(skipped) > max_rows) or not all(
            isinstance(s, list) and len(s) == 2 and all(isinstance(t, str) and len(t) <= _MAX_TEXT for t in s)
            for s in skipped):
        return "skipped files damaged"
    stats = meta.get("stats")
    if stats is not None and not (isinstance(stats, list) and len(stats) == 2
                                  and finite_numbers(stats[0], channels) and finite_numbers(stats[1], channels)
                                  and all(0 < v < 1e3 for v in stats[1])):
        return "statistics not finite"
    files = meta.get("files")
    if not isinstance(files, list) or len(files) != n or not all(safe_relative(f) for f in files):
        return "files missing or not inside the folder"
    if raw_bytes != n * channels * size * size:
        return "raw file size differs from its rows"
    return None


def safe_relative(name: object) -> bool:
    """Whether `name` is a relative path that stays inside its folder: the doctor moves the file a cache
    entry names, so an edited entry must not name one elsewhere."""
    if not isinstance(name, str) or not name or len(name) > _MAX_TEXT or "\x00" in name:
        return False
    parts = name.split("/")
    return not name.startswith("/") and ".." not in parts and not (len(parts[0]) == 2 and parts[0][1] == ":")


def _open(path: Path, meta: dict[str, Any], mapped: bool = True) -> Decoded:
    """The rows of a raw file as meta describes them: within the memory budget as an array (mapped from
    the file, copy on write: no copy is made and a change never reaches the file; or read, when
    `mapped` is False), above it as DiskImages (read a batch at a time, memory bounded)."""
    labels = np.asarray(meta["labels"], dtype=np.int64)
    size, channels = int(meta["size"]), int(meta["channels"])
    row_shape = (channels, size, size)
    n = len(labels)
    nbytes = n * channels * size * size
    if path.stat().st_size < nbytes or not 0 <= int(meta["n_train"]) <= n:
        raise ValueError(f"{path} is incomplete")
    images: np.ndarray | DiskImages
    if nbytes <= memory_budget():
        # Mapped rather than read: reading 150 MB into fresh memory took 0.34 s of page faults here, 3x the
        # rest of a reload; the mapping shares the page cache's copy.
        images = (np.asarray(np.memmap(path, np.uint8, "c", shape=(n, *row_shape))) if mapped and nbytes
                  else np.fromfile(path, dtype=np.uint8, count=nbytes).reshape(n, *row_shape))
    else:
        images = DiskImages(path, row_shape, range(n))
    stats = meta.get("stats")
    return Decoded(images, labels, int(meta["n_train"]), [tuple(s) for s in meta["skipped"]], size, channels,
                   key=meta.get("key"), stats=(tuple(stats[0]), tuple(stats[1])) if stats else None,
                   files=list(meta["files"]) if "files" in meta else None)


def remember_stats(decoded: Decoded, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
    """Keep the training rows' channel statistics with the entry: the next load skips counting them
    (two thirds of a reload's time for 1,000 pictures at 224 px). Best effort, like every cache write."""
    if decoded.key is None or decoded.stats is not None:
        return
    path = cache_folder() / f"{decoded.key}.json"
    try:
        meta = loads_json(path.read_text(encoding="utf-8"))
        meta["stats"] = [list(mean), list(std)]
        temp = path.with_name(f".{decoded.key}.{os.getpid()}.stats.json")
        temp.write_text(json.dumps(meta), encoding="utf-8")
        os.replace(temp, path)
    except (OSError, ValueError, TypeError):
        pass


class RowWriter:
    """Appends decoded pictures to a new cache entry; commit() makes it visible and returns the Decoded.

    Written with plain file writes (never a writable memory map, whose dirty pages would count in the
    process's memory): decoding a folder of any size holds one picture per thread. When the cache
    folder cannot be written, the rows go to an anonymous temporary file instead (loaded for this
    session only); when no file can be written at all, OSError reaches the caller."""

    def __init__(self, key: str | None, row_shape: tuple[int, int, int]):
        self.key = key
        self.row_shape = row_shape
        self.row_bytes = int(np.prod(row_shape))
        self.count = 0
        self.final: Path | None = None
        file: IO[bytes] | None = None
        if key is not None:
            try:
                folder = cache_folder()
                folder.mkdir(parents=True, exist_ok=True)
                self.temp = folder / f".{key}.{os.getpid()}.u8"
                file = open(self.temp, "w+b")
                self.final = folder / f"{key}.u8"
            except OSError:
                file = None
        if file is None:
            file = tempfile.NamedTemporaryFile(prefix="cnnstudio-pictures-", suffix=".u8", delete=False)
            self.temp = Path(file.name)
        self.file: IO[bytes] = file

    def append(self, row: np.ndarray) -> None:
        self.file.write(np.ascontiguousarray(row, dtype=np.uint8).tobytes())
        self.count += 1

    def reorder(self, order: list[int]) -> None:
        """Rewrite the rows as rows[order] (a few at a time: memory stays bounded)."""
        self.file.flush()
        target = self.temp.with_name(self.temp.name + ".order")
        with open(target, "wb") as out:
            for row in order:
                self.file.seek(row * self.row_bytes)
                out.write(self.file.read(self.row_bytes))
        self.file.close()
        os.replace(target, self.temp)
        self.file = open(self.temp, "r+b")
        self.file.seek(0, os.SEEK_END)
        self.count = len(order)

    def commit(self, labels: np.ndarray, n_train: int, skipped: list[tuple[str, str]],
               files: list[str]) -> Decoded:
        c, size, _ = self.row_shape
        meta = {"labels": [int(v) for v in labels], "n_train": int(n_train), "skipped": skipped,
                "size": int(size), "channels": int(c), "key": self.key, "files": files}
        self.file.close()
        path = self.temp
        if self.final is not None:
            try:
                os.replace(self.temp, self.final)
                path = self.final
                temp_meta = self.final.with_name(f".{self.key}.{os.getpid()}.json")
                temp_meta.write_text(json.dumps(meta), encoding="utf-8")
                os.replace(temp_meta, self.final.with_suffix(".json"))  # written last: its presence means complete
                _prune(self.final.parent)
            except OSError:
                pass  # a full disk or a read-only cache only costs the next load's time
        uncached = path == self.temp
        decoded = _open(path, meta, mapped=not uncached)
        if uncached and isinstance(decoded.images, np.ndarray):
            path.unlink(missing_ok=True)  # an uncached decode that fits memory needs no file
        return decoded

    def abandon(self) -> None:
        """A cancelled or failed decode leaves nothing behind."""
        try:
            self.file.close()
        finally:
            self.temp.unlink(missing_ok=True)


def _prune(folder: Path) -> None:
    entries = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[KEEP:]:
        for path in (old, old.with_suffix(".u8"), old.with_suffix(".npy")):
            try:
                path.unlink(missing_ok=True)  # a file still read by a loaded dataset stays readable (POSIX)
            except OSError:
                pass  # Windows: still open; pruned next time
