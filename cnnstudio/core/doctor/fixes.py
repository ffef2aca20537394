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
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from cnnstudio.core.datasets.base import Dataset
from cnnstudio.core.datasets.imagefolder import CHANGES_LOG, EXCLUDED_FOLDER, split_dir_names
from cnnstudio.core.datasets.picture_cache import safe_relative
from cnnstudio.core.doctor.report import PictureRef
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


class ChangeLog:
    """The CSV of changes both kinds of fixes keep: read back, undone from the end."""

    log: Path

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

    def _append(self, action: str, file: str, moved_to: str, label: str, new_label: str, undoes: int = 0) -> Change:
        new = not self.log.exists()
        when = datetime.now().isoformat(timespec="seconds")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "a", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(COLUMNS)
            writer.writerow([when, action, file, moved_to, label, new_label, undoes or ""])
        return Change(len(self.history()), when, action, file, moved_to, label, new_label, undoes)


def _file(picture: PictureRef | str) -> str:
    if isinstance(picture, str):
        return picture
    if picture.file is None:
        raise FixError(f"{picture.name} has no file: it belongs to a built-in dataset")
    return picture.file


class FolderFixes(ChangeLog):
    """Fixes to one dataset folder (one subfolder per class, optionally under train/ and test/)."""

    def __init__(self, root: str | os.PathLike[str], classes: list[str]):
        self.root = Path(root)
        self.classes = list(classes)
        self.log = self.root / CHANGES_LOG

    # -- the fixes ---------------------------------------------------------------------------------
    def relabel(self, picture: PictureRef | str, new_class: str) -> Change:
        """Move the picture's file into the folder of `new_class` (same split, same name, or "name (2).png"
        when taken)."""
        file = _file(picture)
        if new_class not in self.classes:
            raise FixError(f"{new_class!r} is not one of this dataset's classes")
        parts = self._parts(file)
        at = self._class_position(parts)
        old_class = parts[at]
        if old_class == new_class:
            raise FixError(f"{file} is already in {new_class!r}")
        target = self._free(self.root.joinpath(*parts[:at], new_class, parts[-1]))
        return self._move(file, target, "relabel", old_class, new_class)

    def exclude(self, picture: PictureRef | str) -> Change:
        """Move the picture's file below `_excluded/`, keeping its path: out of the dataset, not deleted."""
        file = _file(picture)
        parts = self._parts(file)
        target = self._free(self.root.joinpath(EXCLUDED_FOLDER, *parts))
        return self._move(file, target, "exclude", parts[self._class_position(parts)], "")

    def add(self, source: str | os.PathLike[str], new_class: str) -> Change:
        """Move a new picture from outside the dataset folder into `new_class`'s folder (its training
        folder when the dataset is split into train/ and test/): logged as "add" with the file's full path,
        so undo moves it back where it came from."""
        if new_class not in self.classes:
            raise FixError(f"{new_class!r} is not one of this dataset's classes")
        path = Path(source).expanduser().absolute()
        if not path.is_file():
            raise FixError(f"{path} is not a file (moved or deleted since it was listed)")
        try:
            path.resolve().relative_to(self.root.resolve())
        except ValueError:
            pass
        else:
            raise FixError(f"{path} is inside the dataset already")
        split = next((d for d in split_dir_names() if (self.root / d / new_class).is_dir()), None)
        folder = self.root / split / new_class if split else self.root / new_class
        return self._move(str(path), self._free(folder / path.name), "add", "", new_class)

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


class BuiltinFixes(ChangeLog):
    """Fixes to a built-in dataset (MNIST, Fashion-MNIST, CIFAR-10...): its files are never touched. The
    changes are a log beside the runs (`data-fixes/<name>.csv` in the data folder), its pictures named
    "train/123", and load_dataset applies them (apply_builtin_fixes) every time the dataset loads."""

    def __init__(self, data: Dataset):
        self.data = data
        self.classes = list(data.classes)
        self.log = builtin_log(data)

    def relabel(self, picture: PictureRef, new_class: str) -> Change:
        if new_class not in self.classes:
            raise FixError(f"{new_class!r} is not one of this dataset's classes")
        label = self._label_now(picture)
        if label == new_class:
            raise FixError(f"{picture.name} is already labelled {new_class!r}")
        return self._checked_append("relabel", picture, label, new_class)

    def exclude(self, picture: PictureRef) -> Change:
        return self._checked_append("exclude", picture, self._label_now(picture), "")

    def undo(self) -> Change | None:
        pending = self.undoable()
        if not pending:
            return None
        last = pending[-1]
        return self._checked_append("undo", None, last.new_label, last.label, undoes=last.row, file=last.file)

    def _label_now(self, picture: PictureRef) -> str:
        """The picture's label with the earlier changes applied (the loaded dataset has them)."""
        for change in self.undoable():
            if change.file == _builtin_name(picture) and change.action == "exclude":
                raise FixError(f"{picture.name} is excluded already")
        data = self.data
        labels = data.train_labels if picture.split == "train" else data.test_labels
        offset = 0 if picture.split == "train" else len(data.train_labels)
        if data.origin is None:
            row = picture.index if 0 <= picture.index < len(labels) else -1
        else:
            found = [r for r in range(len(labels)) if int(data.origin[offset + r]) == picture.index]
            row = found[0] if found else -1
        if row < 0:
            raise FixError(f"{picture.name} is not in {data.name}")
        return data.classes[int(labels[row])]

    def _checked_append(self, action: str, picture: PictureRef | None, label: str, new_label: str,
                        undoes: int = 0, file: str = "") -> Change:
        try:
            return self._append(action, file or _builtin_name(picture), "", label, new_label, undoes)
        except OSError as exc:
            raise FixError(f"cannot write {self.log} ({exc.strerror or exc}); nothing was changed") from None


def _builtin_name(picture: PictureRef | None) -> str:
    assert picture is not None
    return f"{picture.split}/{picture.index}"


def builtin_log(data: Dataset) -> Path:
    """Where the changes to a dataset without picture files are listed: by name for a built-in set, by
    name and a digest of the folder's path for IDX files (two folders may share a name)."""
    import hashlib

    from cnnstudio.core.datasets.catalog import dataset_names
    from cnnstudio.core.paths import user_data_dir

    key = data.name if data.name in dataset_names() else (
        f"{Path(data.source).name}-{hashlib.sha1(str(Path(data.source).resolve()).encode()).hexdigest()[:8]}")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in key)
    return user_data_dir() / "data-fixes" / f"{safe}.csv"


def fixes_for(data: Dataset) -> FolderFixes | BuiltinFixes:
    """The fixes for a loaded dataset: its folder's, or a list beside the runs (built-in sets, IDX files)."""
    if data.files is not None and data.source and Path(data.source).is_dir():
        return FolderFixes(data.source, data.classes)
    return BuiltinFixes(data)


def apply_builtin_fixes(data: Dataset) -> Dataset:
    """`data` with its log's relabels and exclusions applied (the same object when there are none). The
    rows that stay keep their original numbers in `data.origin`, so a picture is named the same after."""
    import numpy as np
    import torch

    fixes = BuiltinFixes(data)
    if not fixes.log.is_file():
        return data
    try:
        changes = fixes.undoable()
    except FixError as exc:
        if data.report is not None:
            data.report.notes.append(f"the data doctor's changes were not applied: {exc}")
        return data
    index_of = {name: k for k, name in enumerate(data.classes)}
    labels = {"train": data.train_labels.clone(), "test": data.test_labels.clone()}
    keep = {"train": np.ones(len(labels["train"]), bool), "test": np.ones(len(labels["test"]), bool)}
    relabelled = excluded = 0
    for change in changes:
        split, _, number = change.file.partition("/")
        if split not in labels or not number.isdigit() or int(number) >= len(labels[split]):
            continue
        row = int(number)
        if change.action == "relabel" and change.new_label in index_of:
            labels[split][row] = index_of[change.new_label]
            relabelled += 1
        elif change.action == "exclude":
            keep[split][row] = False
            excluded += 1
    if not relabelled and not excluded:
        return data
    rows = {s: torch.from_numpy(np.flatnonzero(keep[s])) for s in ("train", "test")}
    fixed = replace(data, train_images=data.train_images[rows["train"]], train_labels=labels["train"][rows["train"]],
                    test_images=data.test_images[rows["test"]], test_labels=labels["test"][rows["test"]],
                    origin=np.r_[np.flatnonzero(keep["train"]), np.flatnonzero(keep["test"])])
    if fixed.report is not None:
        fixed.report.notes.append(f"{relabelled} pictures relabelled and {excluded} excluded by the data doctor "
                                  f"(the list: {fixes.log}; the original files are untouched)")
    return fixed
