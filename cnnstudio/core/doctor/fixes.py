"""The fixes a person accepts in Review: relabel a picture, exclude it, undo. Nothing is ever deleted.

In a folder, a relabelled picture is moved into its new class's folder, an excluded one into the
`_excluded` folder at the top of the dataset folder (the loader never reads it: imagefolder.RESERVED),
keeping its path below, and every change is a row of `_changes.csv` beside the class folders, which a
person can read in any spreadsheet. Undo moves the last change's file back and adds a row saying so. A
built-in dataset's files are never touched: builtin_fixes.py keeps its list beside the runs.
"""

from __future__ import annotations

import csv
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cnnstudio.core.datasets.imagefolder import CHANGES_LOG, EXCLUDED_FOLDER, split_dir_names
from cnnstudio.core.datasets.picture_cache import safe_relative
from cnnstudio.core.errors import CNNStudioError

COLUMNS = ["time", "action", "file", "moved_to", "label", "new_label", "undoes"]


class FixError(CNNStudioError):
    """A fix that cannot be made; nothing was moved."""


@dataclass(frozen=True)
class Change:
    row: int  # 1-based, in the log
    time: str
    action: str  # "relabel", "exclude" or "undo"
    file: str  # relative to the dataset folder, before the move
    moved_to: str  # after it
    label: str
    new_label: str  # the new class ("" for an exclusion)
    undoes: int = 0  # for an undo: the row it reverses


class FolderFixes:
    """Fixes to one dataset folder (one subfolder per class, optionally under train/ and test/)."""

    def __init__(self, root: str | os.PathLike[str], classes: list[str]):
        self.root = Path(root)
        self.classes = list(classes)
        self.log = self.root / CHANGES_LOG

    # -- the fixes ---------------------------------------------------------------------------------
    def relabel(self, file: str, new_class: str) -> Change:
        """Move `file` into the folder of `new_class` (same split, same name, or "name (2).png" when taken)."""
        if new_class not in self.classes:
            raise FixError(f"{new_class!r} is not one of this dataset's classes")
        parts = self._parts(file)
        at = self._class_position(parts)
        old_class = parts[at]
        if old_class == new_class:
            raise FixError(f"{file} is already in {new_class!r}")
        target = self._free(self.root.joinpath(*parts[:at], new_class, parts[-1]))
        return self._move(file, target, "relabel", old_class, new_class)

    def exclude(self, file: str) -> Change:
        """Move `file` below `_excluded/`, keeping its path: out of the dataset, not deleted."""
        parts = self._parts(file)
        target = self._free(self.root.joinpath(EXCLUDED_FOLDER, *parts))
        return self._move(file, target, "exclude", parts[self._class_position(parts)], "")

    def undo(self) -> Change | None:
        """Reverse the last change not yet undone; None when there is none."""
        pending = self.undoable()
        if not pending:
            return None
        last = pending[-1]
        source, back = self.root / last.moved_to, self.root / last.file
        if not source.is_file():
            raise FixError(f"cannot undo: {last.moved_to} is no longer there (moved or renamed since)")
        if back.exists():
            raise FixError(f"cannot undo: {last.file} exists again (a new file took its name); move it first")
        back.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, back)
        return self._append("undo", last.moved_to, last.file, last.new_label or EXCLUDED_FOLDER, last.label,
                            undoes=last.row)

    # -- the log -----------------------------------------------------------------------------------
    def history(self) -> list[Change]:
        """Every row of the log, oldest first (an unreadable or hand-damaged row is skipped)."""
        if not self.log.is_file():
            return []
        changes = []
        try:
            with open(self.log, newline="", encoding="utf-8") as f:
                for n, row in enumerate(csv.DictReader(f), start=1):
                    try:
                        changes.append(Change(n, row["time"], row["action"], row["file"], row["moved_to"],
                                              row["label"], row["new_label"], int(row["undoes"] or 0)))
                    except (KeyError, TypeError, ValueError):
                        continue
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise FixError(f"cannot read {self.log} ({exc})") from None
        return changes

    def undoable(self) -> list[Change]:
        """The changes not undone, oldest first: undo takes them from the end."""
        changes = self.history()
        undone = {c.undoes for c in changes if c.action == "undo"}
        return [c for c in changes if c.action != "undo" and c.row not in undone]

    # -- helpers -----------------------------------------------------------------------------------
    def _parts(self, file: str) -> list[str]:
        if not safe_relative(file):
            raise FixError(f"{file!r} is not a file inside the dataset folder")
        path = self.root / file
        try:
            path.resolve().relative_to(self.root.resolve())
        except ValueError:
            raise FixError(f"{file} is not inside {self.root}") from None
        if not path.is_file():
            raise FixError(f"{file} is not in {self.root} any more (moved or deleted since the dataset loaded)")
        return file.split("/")

    def _class_position(self, parts: list[str]) -> int:
        """Which part of a relative path is the class folder: the first, or the second under train/ or test/."""
        at = 1 if len(parts) > 2 and parts[0].lower() in split_dir_names() else 0
        if len(parts) < at + 2 or parts[at] not in self.classes:
            raise FixError(f"{'/'.join(parts)} is not in a class folder of this dataset")
        return at

    @staticmethod
    def _free(target: Path) -> Path:
        """`target`, or "name (2).ext", "name (3).ext"... when a file has that name: never overwritten."""
        n = 2
        candidate = target
        while candidate.exists():
            candidate = target.with_name(f"{target.stem} ({n}){target.suffix}")
            n += 1
        return candidate

    def _move(self, file: str, target: Path, action: str, label: str, new_label: str) -> Change:
        source = self.root / file
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(source, target)
        except OSError as exc:
            raise FixError(f"cannot move {file} ({exc.strerror or exc}); nothing was changed") from None
        try:
            return self._append(action, file, target.relative_to(self.root).as_posix(), label, new_label)
        except OSError as exc:  # a move the log does not know of could never be undone: put it back
            shutil.move(target, source)
            raise FixError(f"cannot write {self.log} ({exc.strerror or exc}); {file} was left where it "
                           "was") from None

    def _append(self, action: str, file: str, moved_to: str, label: str, new_label: str, undoes: int = 0) -> Change:
        new = not self.log.exists()
        when = datetime.now().isoformat(timespec="seconds")
        with open(self.log, "a", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(COLUMNS)
            writer.writerow([when, action, file, moved_to, label, new_label, undoes or ""])
        return Change(len(self.history()), when, action, file, moved_to, label, new_label, undoes)
