"""Recorded frames into a dataset folder: FOLDER/CLASS/*.jpg, never overwriting, never half-written.

Each frame is written to a hidden temporary name in the class folder (the folder loader skips names
that start with a dot), flushed, then linked to its final name, which fails if the name exists: no
file of the user's is ever replaced, even one that appeared meanwhile. A write that fails (a full
disk, a folder taken away) removes the temporary file and raises RecordingError: recording stops, and
every frame saved before it is kept and counted.
"""

from __future__ import annotations

import errno
import io
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.text import name_problem, plural, printable

JPEG_QUALITY = 92
SAVED_SUFFIXES = (".jpg", ".jpeg", ".png")


class RecordingError(CNNStudioError):
    """A frame could not be saved: recording stops, the frames saved before it stay."""


@dataclass(frozen=True)
class SavedFrame:
    path: Path
    class_name: str
    count: int  # the class's pictures in the folder, this one included


def check_class_name(name: str) -> str:
    """The name as a class folder's name, or RecordingError saying why it cannot be one."""
    name = name.strip()
    if not name:
        raise RecordingError("a class needs a name")
    if name in (".", "..") or "/" in name or "\\" in name or name.startswith((".", "_")):
        raise RecordingError(f"'{printable(name)}' cannot name a class folder (no slashes, and not starting "
                             "with a dot or an underscore)")
    if name.lower() in ("train", "test"):
        raise RecordingError(f"'{name}' names a split folder, not a class: choose another name")
    problem = name_problem(name)
    if problem:
        raise RecordingError(problem)
    return name


def count_pictures(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    return sum(1 for p in folder.iterdir() if p.suffix.lower() in SAVED_SUFFIXES and not p.name.startswith("."))


class FrameWriter:
    """Saves frames of named classes into `root`/CLASS/ (created as needed)."""

    def __init__(self, root: str | os.PathLike[str], prefix: str = "frame"):
        self.root = Path(root)
        self.prefix = prefix
        self._serial = 0

    def counts(self, classes: Iterable[str]) -> dict[str, int]:
        return {name: count_pictures(self.root / name) for name in classes}

    def save(self, class_name: str, rgb: np.ndarray, stamp: float | None = None,
             image_format: str = "JPEG") -> SavedFrame:
        """Save one RGB (H, W, 3) uint8 frame as a new file of the class; RecordingError when it cannot."""
        class_name = check_class_name(class_name)
        folder = self.root / class_name
        suffix = ".png" if image_format == "PNG" else ".jpg"
        data = _encode(rgb, image_format)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = self._write_new(folder, data, suffix, stamp if stamp is not None else time.time())
        except OSError as exc:
            raise RecordingError(self._stop_line(class_name, exc)) from None
        return SavedFrame(path, class_name, count_pictures(folder))

    def save_named(self, folder: Path, name: str, rgb: np.ndarray, image_format: str = "JPEG") -> Path:
        """Save under exactly this file name in `folder` (a clip's frames by their time); never over a file."""
        data = _encode(rgb, image_format)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return _place(folder, name, data)
        except FileExistsError:
            raise RecordingError(f"{folder / name} exists: nothing was overwritten; choose an empty folder") from None
        except OSError as exc:
            raise RecordingError(self._stop_line(folder.name, exc)) from None

    def _write_new(self, folder: Path, data: bytes, suffix: str, stamp: float) -> Path:
        moment = time.strftime("%Y%m%d-%H%M%S", time.localtime(stamp))
        while True:
            self._serial += 1
            name = f"{self.prefix}-{moment}-{int(stamp * 1000) % 1000:03d}-{self._serial:04d}{suffix}"
            try:
                return _place(folder, name, data)
            except FileExistsError:
                continue  # a file of that name is there (another recording, the user's): the next serial

    def _stop_line(self, class_name: str, exc: OSError) -> str:
        saved = count_pictures(self.root / class_name)
        kept = f"{plural(saved, 'picture')} of '{printable(class_name)}' kept in {printable(self.root)}"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return f"the disk is full: recording stopped; {kept}"
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return f"cannot write into {printable(self.root)} (permission denied): recording stopped; {kept}"
        return f"cannot save a frame ({exc.strerror or exc}): recording stopped; {kept}"


def _encode(rgb: np.ndarray, image_format: str) -> bytes:
    buffer = io.BytesIO()
    options = {"quality": JPEG_QUALITY} if image_format == "JPEG" else {}
    Image.fromarray(rgb).save(buffer, format=image_format, **options)
    return buffer.getvalue()


def _place(folder: Path, name: str, data: bytes) -> Path:
    """Write data to a hidden temporary file, then give it `name` only if no such file exists."""
    final = folder / name
    if final.exists():
        raise FileExistsError(final)
    temporary = folder / f".{name}.{os.getpid()}.part"
    try:
        with open(temporary, "xb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temporary, final)  # fails when `final` exists: never replaces a file
        except FileExistsError:
            raise
        except OSError:
            # A file system without hard links (FAT, some network shares): rename after the check above.
            if final.exists():
                raise FileExistsError(final) from None
            os.replace(temporary, final)
    finally:
        try:
            temporary.unlink()
        except FileNotFoundError:
            pass
    return final
