"""The checkpoint in use: loaded once, held here, observed by every page that shows a model.

AppState.set_checkpoint(path) names the checkpoint; CurrentModel loads it on the background pool (the
model, its layers, and the test set it was trained on: the app's dataset when it fits, else the
checkpoint's own from disk) and announces the ModelContext. Draw, Evaluate and Inspect all observe the
same object, so a checkpoint is read once, not three times, and "test image 17" means the same image
on every page. A failed load leaves the previous model in place and says why.

It does not know AppState: cnnstudio.ui.compose.app_state() connects the state's checkpointChanged to
load() and datasetChanged to on_dataset_changed(), and hands it a way to read the app's dataset.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from cnnstudio.core.model_context import ModelContext
from cnnstudio.core.datasets.base import Dataset
from cnnstudio.ui.tasks import Failure, LatestRunner


class CurrentModel(QObject):
    loadingStarted = Signal(str)  # the checkpoint path being loaded
    loaded = Signal(object)  # cnnstudio.core.model_context.ModelContext
    failed = Signal(str, str)  # path, message (the previous model, if any, stays)
    cleared = Signal()

    def __init__(self, app_dataset: Callable[[], Dataset | None], parent: QObject | None = None) -> None:
        """app_dataset: the dataset the app has loaded now (a load pairs the model with it when it fits)."""
        super().__init__(parent)
        self._app_dataset = app_dataset
        self._runner = LatestRunner(self)
        self.context: ModelContext | None = None  # the model in use
        self.path: str | None = None  # the checkpoint asked for last (loading or loaded)

    @property
    def loading(self) -> bool:
        return self._runner.busy

    def load(self, path: str | None) -> None:
        """Load this checkpoint in the background (None: no model)."""
        if not path:
            self._runner.discard()
            self.path, self.context = None, None
            self.cleared.emit()
            return
        self.path = p = str(path)  # p: this load's path, whatever self.path becomes meanwhile
        app_dataset = self._app_dataset()
        self.loadingStarted.emit(self.path)

        def work() -> ModelContext:
            from cnnstudio.core.model_context import load_context

            return load_context(p, app_dataset)

        self._runner.submit(work, self._on_loaded, lambda failure: self._on_failed(p, failure))

    def reload(self) -> None:
        if self.path:
            self.load(self.path)

    def close(self) -> None:
        self._runner.close()

    def _on_loaded(self, context: ModelContext) -> None:
        self.context = context
        self.loaded.emit(context)

    def _on_failed(self, path: str, failure: Failure) -> None:
        if self.context is not None:
            self.path = self.context.path
        self.failed.emit(path, failure.message)

    def on_dataset_changed(self, dataset: Dataset | None) -> None:
        """A model without its test set gets it as soon as the app loads a dataset that fits."""
        from cnnstudio.core.model_context import dataset_fits

        ctx = self.context
        if ctx is not None and ctx.dataset is None and dataset_fits(ctx.predictor.checkpoint, dataset):
            self.reload()
