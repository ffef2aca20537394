"""A clip's frames classified: the rows `cnnstudio predict --video` prints, as JSON or CSV."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.text import csv_cell, printable


@dataclass(frozen=True)
class FrameClass:
    """One frame of a clip and what the model says it is."""

    time: float  # seconds from the clip's start
    label: str
    probability: float

    def to_dict(self) -> dict[str, Any]:
        return {"time": round(self.time, 6), "class": self.label, "probability": self.probability}


def frame_file_name(stem: str, time_s: float, suffix: str) -> str:
    """The name of a clip's frame extracted as a file: sorts by time, and names its time in milliseconds."""
    return f"{stem}-{int(round(time_s * 1000)):09d}ms{suffix}"


def check_new_csv(path: str | os.PathLike[str]) -> Path:
    """A CSV to write is a new file in a folder that exists (nothing of the user's is overwritten)."""
    target = Path(path)
    if target.exists():
        raise CNNStudioError(f"--csv {printable(target)}: the file exists; name a new file (nothing was overwritten)")
    if not target.parent.is_dir():
        raise CNNStudioError(f"--csv {printable(target)}: the folder {printable(target.parent)} does not exist")
    return target


def write_csv(rows: list[FrameClass], path: str | os.PathLike[str]) -> None:
    """time,class,probability per frame, into a new file (open mode "x": never over one that appeared)."""
    try:
        with open(path, "x", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["time", "class", "probability"])
            for row in rows:
                writer.writerow([f"{row.time:.3f}", csv_cell(row.label), f"{row.probability:.6f}"])
    except FileExistsError:
        raise CNNStudioError(f"--csv {printable(path)}: the file exists; name a new file "
                             "(nothing was overwritten)") from None
