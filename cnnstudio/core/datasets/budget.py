"""The one memory check every decoder makes before allocating what a file's header declares.

A header is a promise, not a fact: 16 bytes can declare 1 x 40000 x 40000 pixels. Readers compute the
bytes the decoded data will take (declared elements times the dtype they are decoded to) and call
check_decode_budget first, so a file that would need more than the memory budget is refused in one
line before any large allocation, decompression or copy.
"""

from __future__ import annotations

from pathlib import Path

from cnnstudio.core.datasets.disk_images import MEMORY_BUDGET_ENV, memory_budget
from cnnstudio.core.errors import DatasetError

# A decoded set is held at most this many times while a dataset is built: the reader's array, and the
# copy make_dataset hands to torch (the framing and statistics then read bounded samples of it).
DECODE_COPIES = 2


def human_bytes(n: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def check_decode_budget(path: str | Path, described: str, elements: int, itemsize: int = 1) -> None:
    """DatasetError unless `elements` values of `itemsize` bytes, held DECODE_COPIES times while the
    dataset is built, fit the memory budget (a quarter of this machine's memory, or
    CNNSTUDIO_MEMORY_BUDGET_MB). Call it with the header's figures, before reading the data."""
    need = elements * itemsize * DECODE_COPIES
    budget = memory_budget()
    if need > budget:
        raise DatasetError(f"{path}: its header describes {described} = {human_bytes(elements * itemsize)} of "
                           f"data, which would need {human_bytes(need)} of memory to load, more than the "
                           f"{human_bytes(budget)} this machine allows ({MEMORY_BUDGET_ENV} sets it); the "
                           "header is damaged or the set is too large to load here.")
