"""What the data doctor found, as named values: the CLI's JSON and CSV, the Review view and the tests read these.

A picture is named by its split and its row in that split, and for a folder also by its file (relative
to the folder): the file is what a person recognises and what a fix moves; the row is what a built-in
dataset has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PictureRef:
    split: str  # "train" or "test"
    index: int  # the row in that split
    file: str | None = None  # relative to the dataset folder; None for a built-in dataset

    @property
    def name(self) -> str:
        """How a person reads it: the file, or "train #123"."""
        return self.file if self.file is not None else f"{self.split} #{self.index}"

    def to_dict(self) -> dict[str, Any]:
        where: dict[str, Any] = {"path": self.file} if self.file is not None else {"index": self.index}
        return {**where, "split": self.split}


@dataclass(frozen=True)
class LabelIssue:
    picture: PictureRef
    given: str
    suggested: str
    score: float  # 0..1, higher is more likely mislabelled (1 - the probability of the given label)

    def to_dict(self) -> dict[str, Any]:
        return {**self.picture.to_dict(), "given": self.given, "suggested": self.suggested,
                "score": round(self.score, 4)}


@dataclass(frozen=True)
class DuplicateGroup:
    pictures: tuple[PictureRef, ...]
    kind: str  # "exact" (the same pixels) or "near" (the same picture, re-encoded, resized or slightly edited)

    @property
    def leakage(self) -> bool:
        """A picture both in train and in test: the test accuracy counts a picture the model has seen."""
        return len({p.split for p in self.pictures}) > 1

    def to_dict(self) -> dict[str, Any]:
        return {"paths": [p.file if p.file is not None else f"{p.split}/{p.index}" for p in self.pictures],
                "pictures": [p.to_dict() for p in self.pictures], "kind": self.kind, "leakage": self.leakage}


@dataclass(frozen=True)
class Outlier:
    picture: PictureRef
    label: str
    score: float  # higher is more unusual
    reason: str  # "blank", "unlike its class", ...

    def to_dict(self) -> dict[str, Any]:
        return {**self.picture.to_dict(), "label": self.label, "score": round(self.score, 4), "reason": self.reason}


@dataclass(frozen=True)
class DoctorReport:
    dataset: str
    source: str  # the folder, or the built-in dataset's name
    classes: tuple[str, ...]
    pictures: int
    label_issues: tuple[LabelIssue, ...] = ()
    duplicates: tuple[DuplicateGroup, ...] = ()
    outliers: tuple[Outlier, ...] = ()
    method: str = ""  # how the probabilities were made, in words
    seconds: float = 0.0
    notes: tuple[str, ...] = field(default=())

    @property
    def leaked(self) -> int:
        """Test pictures that are also in train."""
        return sum(1 for g in self.duplicates if g.leakage for p in g.pictures if p.split == "test")

    def summary(self) -> str:
        exact = sum(1 for g in self.duplicates if g.kind == "exact")
        near = len(self.duplicates) - exact
        text = (f"{len(self.label_issues)} likely label errors, {exact} groups of exact and {near} of near "
                f"duplicates, {len(self.outliers)} outliers among {self.pictures:,} pictures")
        if self.leaked:
            text += f"; {self.leaked} test pictures are also in train (leakage: the test accuracy counts them)"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "source": self.source, "pictures": self.pictures,
                "method": self.method, "seconds": round(self.seconds, 2), "summary": self.summary(),
                "label_issues": [i.to_dict() for i in self.label_issues],
                "duplicates": [g.to_dict() for g in self.duplicates],
                "outliers": [o.to_dict() for o in self.outliers], "notes": list(self.notes)}
