"""The training queue: configured runs that train one after another, unattended (DIGITS' job queue).

A queued run keeps everything it needs from the moment it was queued: its TrainConfig (the model spec
travels inside it) and the dataset that was loaded then, so switching datasets or editing the model
afterwards changes nothing that is queued. The Train page starts the next entry when a run ends; the
Train page and the Runs page show the queue and can reorder, remove, hold or start it; the Train page
also edits an entry in place. After the user stops a run the queue is held, so Stop never starts something
else behind the user's back. The queue outlives the app (ui/queue_memory.py): an entry restored whose
dataset folder or model file has gone is kept, marked stale with the reason, and never started.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from cnnstudio.core.text import plural

if TYPE_CHECKING:  # the dataset imports torch: only its type is needed here
    from cnnstudio.core.datasets.base import Dataset
    from cnnstudio.core.training.config import TrainConfig

_ids = itertools.count(1)


def config_summary(c: TrainConfig, dataset_title: str = "", find_lr: bool = False) -> str:
    """"convnet-5x5 on Fashion-MNIST · 5 epochs · batch 128 · adam lr 0.001"."""
    return (f"{c.model} on {dataset_title or c.dataset} · {plural(c.epochs, 'epoch')} · batch {c.batch_size}"
            f" · {c.optimizer} lr {'found at start' if find_lr else f'{c.lr:g}'}")


@dataclass
class QueuedRun:
    config: TrainConfig
    dataset: Dataset | None = None  # the one loaded when queued; None: the trainer loads config.dataset itself
    dataset_title: str = ""
    find_lr: bool = False  # the learning-rate finder sets config.lr when the run starts
    id: int = field(default_factory=lambda: next(_ids))
    # Why this entry cannot train (restored after its dataset folder or model file went away), or None.
    problem: str | None = None
    # A restored entry whose settings could not be read: written back exactly as it was read.
    saved: object = None

    @property
    def stale(self) -> bool:
        return self.problem is not None

    def summary(self) -> str:
        """"convnet-5x5 on Fashion-MNIST · 5 epochs · batch 128 · adam lr 0.001"; a stale entry says why."""
        if self.saved is not None:
            return f"NOT STARTABLE: {self.problem}"
        text = config_summary(self.config, self.dataset_title, self.find_lr)
        return f"NOT STARTABLE ({self.problem}): {text}" if self.problem else text


class TrainQueue(QObject):
    """The queued runs, in order. `changed` fires on every change (entries or held)."""

    changed = Signal()
    startRequested = Signal()  # the Runs page's "Start queue": the Train page starts the next run

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.entries: list[QueuedRun] = []
        self.held = False  # True: a run ending does not start the next one

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, config: TrainConfig, dataset: Dataset | None = None, dataset_title: str = "",
            find_lr: bool = False) -> QueuedRun:
        entry = QueuedRun(config, dataset, dataset_title, find_lr)
        self.entries.append(entry)
        self.changed.emit()
        return entry

    def restore_entry(self, config: TrainConfig, dataset_title: str, find_lr: bool, problem: str | None,
                      saved: object = None) -> QueuedRun:
        """An entry saved at the last launch (queue_memory), stale when `problem` says why."""
        entry = QueuedRun(config, None, dataset_title, find_lr, problem=problem, saved=saved)
        self.entries.append(entry)
        self.changed.emit()
        return entry

    def get(self, entry_id: int) -> QueuedRun | None:
        return next((e for e in self.entries if e.id == entry_id), None)

    def replace(self, entry_id: int, config: TrainConfig, dataset: Dataset | None, dataset_title: str,
                find_lr: bool) -> QueuedRun | None:
        """New settings for a waiting entry, in its place in the queue (None: it is no longer waiting)."""
        index = next((i for i, e in enumerate(self.entries) if e.id == entry_id), None)
        if index is None:
            return None
        entry = self.entries[index] = QueuedRun(config, dataset, dataset_title, find_lr, id=entry_id)
        self.changed.emit()
        return entry

    def remove(self, entry_id: int) -> bool:
        before = len(self.entries)
        self.entries = [e for e in self.entries if e.id != entry_id]
        if len(self.entries) != before:
            self.changed.emit()
            return True
        return False

    def move(self, entry_id: int, delta: int) -> bool:
        """Move an entry up (delta < 0) or down the queue; False at either end."""
        index = next((i for i, e in enumerate(self.entries) if e.id == entry_id), None)
        if index is None:
            return False
        target = index + delta
        if not 0 <= target < len(self.entries):
            return False
        self.entries.insert(target, self.entries.pop(index))
        self.changed.emit()
        return True

    def clear(self) -> None:
        if self.entries:
            self.entries = []
            self.changed.emit()

    def set_held(self, held: bool) -> None:
        if held != self.held:
            self.held = held
            self.changed.emit()

    def request_start(self) -> None:
        """Release the queue and ask for its next run to start now (if nothing is training)."""
        self.set_held(False)
        self.startRequested.emit()

    def startable(self) -> int:
        """How many entries can train (the stale ones wait for the user to remove them)."""
        return sum(not e.stale for e in self.entries)

    def take_next(self) -> QueuedRun | None:
        """The next run that can train, removed from the queue; None when there is none or the queue is held.
        Stale entries are passed over and stay, marked, where they are."""
        entry = None if self.held else next((e for e in self.entries if not e.stale), None)
        if entry is None:
            return None
        self.entries.remove(entry)
        self.changed.emit()
        return entry
