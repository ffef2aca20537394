"""The Model page's pretrained backbone: its stages, and its ImageNet weights file, in the background.

Computing the stage table needs torch (built on the meta device: shapes only); downloading or importing
the weights file is disk and network work. Both run on the task pool; the panel (widgets/backbone_panel.py)
only shows what arrives here. The newest layer asked about wins: a stage table for a layer the user
has already changed is dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from cnnstudio.core.models.backbones import BackboneStages
from cnnstudio.ui.tasks import LatestRunner, Task, run_in_background

if TYPE_CHECKING:
    from cnnstudio.core.models.spec import LayerDict


class BackboneSession(QObject):
    stagesReady = Signal(object)  # core.models.backbones.BackboneStages
    weightsChanged = Signal(str, bool, str)  # arch, found, a line for the user
    downloadProgress = Signal(int, int)  # bytes done, total
    downloadFinished = Signal(str)  # arch
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._stages = LatestRunner(self)
        self._download: Task | None = None
        self.layer: LayerDict | None = None

    @property
    def downloading(self) -> bool:
        return self._download is not None and self._download.running

    def show(self, layer: LayerDict | None) -> None:
        """The backbone layer now in the spec (None: none): its stages and its weights' status."""
        self.layer = dict(layer) if layer else None
        if layer is None:
            self._stages.discard()
            return
        arch, resolution, train = layer["arch"], int(layer["resolution"]), layer["train"]

        def work():
            from cnnstudio.core.models.backbones import stage_table, weights_status

            path, text = weights_status(arch)
            return stage_table(arch, resolution, train), path is not None, text

        self._stages.submit(work, lambda result: self._on_stages(arch, train, resolution, result),
                            lambda failure: self.failed.emit(failure.message))

    def _on_stages(self, arch: str, train: str, resolution: int, result: tuple) -> None:
        rows, found, text = result
        self.stagesReady.emit(BackboneStages(arch, train, resolution, tuple(rows)))
        self.weightsChanged.emit(arch, found, text)

    def download(self, arch: str) -> bool:
        """Download the ImageNet weights of `arch` (progress, Cancel); False while one is running."""
        if self.downloading:
            return False

        def work(report, cancelled):
            from cnnstudio.core.models.backbones import download_weights

            download_weights(arch, progress=lambda done, total: report((done, total)), cancel=cancelled)
            return arch

        self._download = run_in_background(work, self._on_downloaded, self._on_failed, on_progress=self._on_progress)
        self._download.cancelled.connect(self._on_cancelled)
        return True

    def cancel_download(self) -> None:
        if self._download is not None:
            self._download.cancel()

    def import_file(self, arch: str, path: str) -> None:
        """Check a weights file the user chose against `arch` and keep it in the weights folder."""

        def work():
            from cnnstudio.core.models.backbones import import_weights

            return import_weights(arch, path)

        run_in_background(work, lambda result: self._on_imported(arch, result), self._on_failed)

    def _on_imported(self, arch: str, result: tuple) -> None:
        where, note = result
        self.weightsChanged.emit(arch, True, f"Imported: {note}. Kept as {where}")

    def _on_downloaded(self, arch: str) -> None:
        self.downloadFinished.emit(arch)
        if self.layer is not None:
            self.show(self.layer)

    def _on_progress(self, value: tuple[int, int]) -> None:
        self.downloadProgress.emit(*value)

    def _on_failed(self, message: str, details: str = "") -> None:
        self.failed.emit(message)

    def _on_cancelled(self) -> None:
        self.failed.emit("Download cancelled; nothing was kept.")

    def shutdown(self) -> None:
        self._stages.close()
        self.cancel_download()
