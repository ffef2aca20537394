"""Reading a torch file safely, for every kind CNN Studio opens (checkpoints, a backbone's weights file).

What a torch zip archive unpacks to is checked against its size before torch reads it (a compression
bomb is refused), torch.load(weights_only=True)'s refusal of a pickle that names code to run becomes one
sentence in CNN Studio's words, and the tensor dtypes a file's weights may have are listed once. torch is
imported when a check runs.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# torch.save writes its zip entries stored, not deflated: what a file unpacks to is about its size. A
# file that unpacks to far more than it holds is a compression bomb.
_MAX_UNPACK_RATIO = 4
_UNPACK_SLACK = 16 * 2**20


def zip_unpack_problem(path: Path) -> str | None:
    """For a torch zip archive: why it cannot be read safely ("was refused: it unpacks to 40 GB from a
    2 MB file", "is not readable (...)"), or None. Reads the archive's directory only."""
    import zipfile

    size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return f"is not a readable checkpoint (truncated or corrupt: {first_line(exc)})"
    if declared > _MAX_UNPACK_RATIO * size + _UNPACK_SLACK:
        return f"was refused: it unpacks to {_gb(declared)} from a {_gb(size)} file, which no CNN Studio file does"
    return None


def refusal_message(path: str | os.PathLike[str], exc: BaseException, what: str) -> str | None:
    """The one sentence for torch.load(weights_only=True) refusing a pickle that names code to run
    (None when `exc` is another failure): said in CNN Studio's words, with the object it named."""
    if not _is_weights_only_refusal(exc):
        return None
    return (f"{path} was refused: it is not a plain {what} and could run code when loaded "
            f"(it asks for {_refusal_reason(exc)}); nothing in it was run")


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


@functools.lru_cache(maxsize=1)
def weight_dtypes() -> frozenset[torch.dtype]:
    """The tensor dtypes a file's weights may have (torch is imported lazily in this module)."""
    import torch

    return frozenset({torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32,
                      torch.int16, torch.int8, torch.uint8, torch.bool})


def _is_weights_only_refusal(exc: BaseException) -> bool:
    """torch's weights_only unpickler refusing a global, as opposed to bytes that are no pickle at all."""
    # torch wraps every unpickling failure in "Weights only load failed"; only these name a refused object.
    # Their wording changes between torch versions ("Unsupported global: GLOBAL os.system", "unsupported
    # GLOBAL posix.system whose module posix is blocked"); what stays is the GLOBAL opcode it names. An
    # "unsupported operand" alone is a byte that is no pickle opcode it allows: damage, not danger.
    import re

    return re.search(r"unsupported global|\bGLOBAL [A-Za-z_]", str(exc), re.IGNORECASE) is not None


def _refusal_reason(exc: BaseException) -> str:
    """What the refused pickle asked for, from torch's long weights_only message: the function or class
    it names ("posix.system"), never torch's own wording."""
    import re

    text = str(exc)
    match = re.search(r"GLOBAL ([A-Za-z_][\w.]*)", text)
    if match:
        return f"the Python object {match.group(1)[:120]}"
    return "objects a plain file never needs"


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
