"""Pictures that stay on disk: the image set of a folder too large for memory, read a batch at a time.

A folder of 50,000 photos at 224 px decodes to 7.5 GB; holding it in RAM (and the trainer's copy of it)
is what makes other tools crash at a few thousand images per class. When a folder's decoded pictures
exceed the memory budget, the loader leaves them in the picture cache's raw file and the Dataset holds a
DiskImages instead of a tensor. Indexing it reads only the rows asked for, with positioned reads
(os.preadv) rather than a memory map: pages of a mapped file stay counted in the process's memory once
touched, so an epoch over a mapped file would end with the whole file resident. Rows asked for
together are sorted and read in runs, so a slice is one read. The result is an ordinary uint8 tensor.

The operations the program uses on a dataset's images are supported: shape, len, ndim, dtype, an
integer, a slice or an index array (tensor, numpy, list), subset() for the trainer's split, and
numpy() (a read-only memory map, for pages that show a few pictures).
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch is imported when rows are read: the picture cache itself does not need it
    import torch

MEMORY_BUDGET_ENV = "CNNSTUDIO_MEMORY_BUDGET_MB"


def memory_budget() -> int:
    """Bytes of decoded pictures a dataset may hold in memory; above it they stay on disk.

    A quarter of the machine's memory: the trainer keeps its own copy of the training rows, and the app,
    the model and the batches need the rest. CNNSTUDIO_MEMORY_BUDGET_MB overrides it (tests, small machines).
    """
    override = os.environ.get(MEMORY_BUDGET_ENV, "").strip()
    if override:
        try:
            return max(0, int(float(override) * (1 << 20)))
        except ValueError:
            pass
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # Windows has no sysconf
        total = 16 << 30
    return max(1 << 30, total // 4)


_allocator_bounded = False


def _return_large_buffers_to_the_system() -> None:
    """Have glibc serve large buffers (a batch of pictures, its float copy) from mmap, so that each goes
    back to the system when freed. By default glibc raises that threshold after the first large free and
    then keeps freed batches in its heap, where fragmentation made the peak memory of an epoch over a
    folder on disk vary between 100 and 250 MB from run to run (measured; with this: about 100 MB).
    Only for pictures read from disk, where memory staying bounded is the point; elsewhere a no-op."""
    global _allocator_bounded
    if _allocator_bounded or not sys.platform.startswith("linux"):
        return
    _allocator_bounded = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_mmap_threshold = -3
        libc.mallopt(m_mmap_threshold, 1 << 20)
    except (OSError, AttributeError):  # musl or another C library: its own policy stands
        pass


class _RawFile:
    """One open raw file of rows, shared by every view of it; reads are safe from several threads."""

    def __init__(self, path: Path, row_bytes: int):
        self.path = Path(path)
        self.row_bytes = row_bytes
        self.fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        self._lock = threading.Lock()  # only for the seek + read fallback (no pread on Windows)

    def read_into(self, buffer: memoryview, offset: int) -> None:
        done = 0
        while done < len(buffer):
            if hasattr(os, "preadv"):
                n = os.preadv(self.fd, [buffer[done:]], offset + done)
            else:
                with self._lock:
                    os.lseek(self.fd, offset + done, os.SEEK_SET)
                    n = _read_into(self.fd, buffer[done:])
            if n <= 0:
                raise OSError(f"{self.path} is shorter than expected (a picture cache file changed under us)")
            done += n

    def __del__(self) -> None:
        try:
            os.close(self.fd)
        except (OSError, AttributeError):
            pass


def _read_into(fd: int, buffer: memoryview) -> int:
    data = os.read(fd, len(buffer))
    buffer[:len(data)] = data
    return len(data)


class DiskImages:
    """uint8 (N, C, H, W) pictures in a raw file (rows back to back), read on demand."""

    def __init__(self, path: Path | str, row_shape: tuple[int, int, int], rows: np.ndarray | range,
                 _file: _RawFile | None = None):
        c, h, w = row_shape
        self.row_shape = (int(c), int(h), int(w))
        self.row_bytes = int(np.prod(self.row_shape))
        self._file = _file or _RawFile(Path(path), self.row_bytes)
        _return_large_buffers_to_the_system()
        # Physical row of each logical row; a range while the view is contiguous (numpy() maps it).
        self._rows = rows

    @property
    def path(self) -> Path:
        return self._file.path

    @property
    def shape(self) -> torch.Size:
        import torch

        return torch.Size((len(self._rows), *self.row_shape))

    @property
    def dtype(self) -> torch.dtype:
        import torch

        return torch.uint8

    @property
    def ndim(self) -> int:
        return 4

    @property
    def nbytes(self) -> int:
        return len(self._rows) * self.row_bytes

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"DiskImages({len(self)} x {self.row_shape} in {self.path})"

    def _physical(self, key: Any) -> np.ndarray | range | int:
        """`key`: what a tensor takes as an index (an int, a slice, a tensor or array of indices, a mask)."""
        import torch

        if isinstance(key, (int, np.integer)):
            return self._rows[int(key)]
        if isinstance(key, slice):
            return self._rows[key]
        if isinstance(key, torch.Tensor):
            key = key.detach().cpu().numpy()
        key = np.asarray(key)
        if key.dtype == bool:
            key = np.flatnonzero(key)
        picked: np.ndarray = np.asarray(self._rows)[key.astype(np.int64)]
        return picked

    def __getitem__(self, key: Any) -> torch.Tensor:
        """The rows asked for as a uint8 tensor: (C, H, W) for an integer, else (B, C, H, W)."""
        import torch

        rows = self._physical(key)
        if isinstance(rows, (int, np.integer)):
            return torch.from_numpy(self._read(np.array([rows]))[0])
        return torch.from_numpy(self._read(rows))

    def subset(self, index: Any) -> DiskImages:
        """A view of some rows (still on disk): the trainer's training and validation rows."""
        rows = self._physical(index)
        if isinstance(rows, (int, np.integer)):
            rows = np.array([rows])
        return DiskImages(self.path, self.row_shape, rows, _file=self._file)

    def numpy(self) -> np.ndarray:
        """The pictures as a read-only numpy array: memory-mapped while the view is contiguous (only the
        pictures looked at are read), read in full otherwise."""
        rows = self._rows
        if isinstance(rows, range) and rows.step == 1:
            if len(rows) == 0:
                return np.zeros((0, *self.row_shape), np.uint8)
            return np.memmap(self.path, np.uint8, "r", offset=rows.start * self.row_bytes,
                             shape=(len(rows), *self.row_shape))
        return self._read(rows)

    def _read(self, rows: np.ndarray | range) -> np.ndarray:
        """Rows in the order asked; the distinct rows sorted and read in runs of consecutive rows."""
        if isinstance(rows, range) and rows.step == 1:
            out = np.empty((len(rows), *self.row_shape), np.uint8)
            if len(rows):
                self._file.read_into(out.reshape(-1).data, rows.start * self.row_bytes)
            return out
        rows = np.asarray(rows, dtype=np.int64)
        unique, inverse = np.unique(rows, return_inverse=True)
        out = np.empty((len(unique), *self.row_shape), np.uint8)
        flat, size = out.reshape(-1), self.row_bytes
        if len(unique):
            breaks = np.flatnonzero(np.diff(unique) != 1) + 1
            for run_start, run_end in zip(np.r_[0, breaks], np.r_[breaks, len(unique)]):
                self._file.read_into(flat[run_start * size:run_end * size].data, int(unique[run_start]) * size)
        if len(unique) == len(rows) and np.all(inverse == np.arange(len(rows))):
            return out
        return out[inverse.reshape(-1)]
