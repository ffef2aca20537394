"""The app's shared model: what is chosen (dataset, architecture, config) and what is loaded.

Pages observe it through signals and never talk to each other directly (napari's model/view split):
the Data page sets the dataset, the Model page the spec, the Train page reads both.

It holds state only: the current model and the training queue it shares are built and wired by
cnnstudio.ui.compose.app_state() and handed to it, so the sessions that read AppState can import it
(the state no longer constructs sessions, which made that an import cycle).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from cnnstudio.core.training.config import Augmentation

if TYPE_CHECKING:  # for the annotations only: none of these modules imports this one
    from cnnstudio.core.datasets.base import Dataset
    from cnnstudio.core.datasets.catalog import DatasetInfo
    from cnnstudio.core.models.spec import ModelSpec
    from cnnstudio.core.training.recommend import Recommendation
    from cnnstudio.ui.sessions.current_model import CurrentModel
    from cnnstudio.ui.sessions.train_queue import TrainQueue


@dataclass(frozen=True)
class CurrentSpec:
    """The model being built, as specChanged announces it: a copy of the spec for the listener (the state
    keeps its own, so a listener that edits this one changes nothing) and whether the Model page found
    it valid for the loaded data."""

    spec: ModelSpec
    valid: bool

    @property
    def name(self) -> str:
        return str(self.spec.get("name") or "custom")


class AppState(QObject):
    datasetChanged = Signal(object)  # the loaded cnnstudio.core.datasets.base.Dataset
    datasetLoading = Signal(str)  # name or path being loaded
    specChanged = Signal(object)  # CurrentSpec: the model being built and whether it is valid
    checkpointChanged = Signal(object)  # path of the checkpoint the Evaluate/Inspect/Draw views use
    runFinished = Signal(object)  # the RunResult of a run that ended (core/training/events.py)
    settingsChosen = Signal(object)  # a TrainConfig for the Train page's form (Runs > By settings > Use best)
    runRenamed = Signal(str, str)  # (old, new) run folder: the Runs page renamed it; who holds its path follows
    trainingActive = Signal(bool)
    message = Signal(str)  # a short status-bar message
    augmentationChanged = Signal(object)  # cnnstudio.core.training.config.Augmentation chosen on the Data page
    fileOpened = Signal(str, str)  # (kind, path) a file the user opened: "architecture" (File > Open Recent)

    def __init__(self, model: CurrentModel, queue: TrainQueue) -> None:
        """model, queue: the shared current model and training queue (compose.app_state() builds the set)."""
        super().__init__()
        self.dataset: Dataset | None = None  # once loaded
        self.dataset_name: str = "shapes"
        self.spec: ModelSpec | None = None
        self.spec_valid: bool = False
        self.checkpoint_path: str | None = None
        self.training: bool = False
        # The augmentation chosen on the Data page (none until it picks the dataset's defaults); the
        # Train page reads it. A plain dataclass: importing it does not import torch.
        self.augmentation: Augmentation = Augmentation()
        # What the last launch left (MainWindow sets them from session_memory.recall() before the pages
        # are built): the architecture and whether the user chose it, the user's dataset folders still
        # on disk (DatasetInfo) and those no longer there. The Model and Data pages read them once.
        self.remembered_spec: tuple[ModelSpec, bool] | None = None
        self.remembered_folders: list[DatasetInfo] = []
        self.missing_folders: list[str] = []
        # The checkpoint named by set_checkpoint, loaded once for Draw, Evaluate and Inspect.
        self.model: CurrentModel = model
        # Runs waiting to train, one after another: the Train page runs them, the Runs page shows them.
        self.queue: TrainQueue = queue
        # (dataset name, dataset, spec, what recommend() said for them): see `recommendation`
        self._recommended: tuple[str, Dataset | None, ModelSpec | None, Recommendation] | None = None

    @property
    def recommendation(self) -> Recommendation:
        """recommend() for the loaded data and the model being built (the recipe follows both): made once
        per change of either, and read by every page, so they all show and use the same decision."""
        cached = self._recommended
        if cached is None or cached[0] != self.dataset_name or cached[1] is not self.dataset or cached[2] != self.spec:
            from cnnstudio.core.training.recommend import recommend

            rec = recommend(self.dataset_name, self.dataset, spec=self.spec)
            self._recommended = cached = (self.dataset_name, self.dataset, copy.deepcopy(self.spec), rec)
        return cached[3]

    def set_dataset(self, dataset: Dataset, name: str) -> None:
        self.dataset = dataset
        self.dataset_name = name
        self.datasetChanged.emit(dataset)

    def set_spec(self, spec: ModelSpec, valid: bool) -> None:
        self.spec = copy.deepcopy(spec)
        self.spec_valid = valid
        self.specChanged.emit(CurrentSpec(copy.deepcopy(spec), valid))

    def set_augmentation(self, augmentation: Augmentation) -> None:
        self.augmentation = copy.deepcopy(augmentation)
        self.augmentationChanged.emit(self.augmentation)

    def set_checkpoint(self, path: str | None) -> None:
        self.checkpoint_path = path
        self.checkpointChanged.emit(path)

    def set_training(self, active: bool) -> None:
        self.training = active
        self.trainingActive.emit(active)
