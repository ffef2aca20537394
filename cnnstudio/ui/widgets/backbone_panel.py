"""The Model page's "Pretrained backbone" box: its stages with shapes and trainable / frozen parameters,
and its ImageNet weights (where they are; Download with progress and Cancel; Import weights file…).

A thin view over the backbone's session (ui/sessions/backbone_session.py's BackboneSession, handed in by
the page as a BackboneSource); shown only while the spec has a backbone layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import Qt, SignalInstance
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import (QFileDialog, QFrame, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QProgressBar,
                               QPushButton, QScrollArea, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from cnnstudio.core.models.backbones import BackboneStages, StageRow
from cnnstudio.ui.widgets.muted import muted_color

if TYPE_CHECKING:
    from cnnstudio.core.models.spec import LayerDict


class BackboneSource(Protocol):
    """What the box needs of its session: the stages of a layer, the weights file, download and import."""

    stagesReady: SignalInstance  # core.models.backbones.BackboneStages
    weightsChanged: SignalInstance  # (arch, found, a line for the user)
    downloadProgress: SignalInstance  # (bytes done, total)
    downloadFinished: SignalInstance  # arch
    failed: SignalInstance  # a line for the user

    def show(self, layer: LayerDict | None) -> None: ...

    def download(self, arch: str) -> bool: ...

    def cancel_download(self) -> None: ...

    def import_file(self, arch: str, path: str) -> None: ...

    def shutdown(self) -> None: ...


def _count(n: int) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n:,}"


class BackbonePanel(QGroupBox):
    def __init__(self, session: BackboneSource, parent: QWidget | None = None):
        super().__init__("Pretrained backbone", parent)
        self.session = session
        self.layer: LayerDict | None = None
        self.rows: list[StageRow] = []
        self.found = False  # whether the weights file is on this computer

        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.stages = QTreeWidget()
        self.stages.setRootIsDecorated(False)
        self.stages.setHeaderLabels(["Stage", "Output", "Parameters", ""])
        self.stages.setUniformRowHeights(True)
        header = self.stages.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.stages.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)

        self.weights_label = QLabel()
        self.weights_label.setWordWrap(True)
        self.weights_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.download_button = QPushButton("Download weights")
        self.download_button.setToolTip("From download.pytorch.org (torchvision's file, checked against its checksum)")
        self.download_button.clicked.connect(self.download)
        self.import_button = QPushButton("Import weights file…")
        self.import_button.setToolTip("A weights file fetched elsewhere (e.g. on a computer with network); it is "
                                      "checked against the network and kept for later runs")
        self.import_button.clicked.connect(self._ask_import)
        self.progress = QProgressBar()
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.session.cancel_download)
        row = QHBoxLayout()
        row.addWidget(self.download_button, 0, Qt.AlignmentFlag.AlignLeft)
        row.addWidget(self.import_button, 0, Qt.AlignmentFlag.AlignLeft)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        row.addStretch(1)

        # In a scroll area: in a 700-pixel-high window the editor column cannot give the box its full
        # height, and wrapped labels squeezed below their height overlap instead of shrinking.
        content = QWidget()
        inner = QVBoxLayout(content)
        inner.setContentsMargins(0, 0, 4, 0)
        inner.addWidget(self.summary)
        inner.addWidget(self.stages)
        inner.addWidget(self.weights_label)
        inner.addLayout(row)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidget(content)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(self.scroll_area)

        self.session.stagesReady.connect(self._on_stages)
        self.session.weightsChanged.connect(self._on_weights)
        self.session.downloadProgress.connect(self._on_progress)
        self.session.downloadFinished.connect(lambda arch: self._downloading(False))
        self.session.failed.connect(self._on_failed)
        self.hide()

    def set_layer(self, layer: LayerDict | None) -> None:
        """The spec's backbone layer (normalised), or None to hide the box."""
        self.layer = layer
        self.setVisible(layer is not None)
        if layer is not None:
            self.summary.setText("Working out the stages…")
        self.session.show(layer)

    def _on_stages(self, stages: BackboneStages) -> None:
        if self.layer is None or stages.arch != self.layer["arch"]:
            return
        self.rows = rows = list(stages.rows)
        self.stages.clear()
        for r in rows:
            item = QTreeWidgetItem([r.name, "×".join(map(str, r.out_shape)), _count(r.params),
                                    "learns" if r.trainable else "frozen"])
            item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if not r.trainable:
                # A colour we own: a brush taken by reference from a temporary palette would dangle.
                item.setForeground(3, QBrush(muted_color(self)))
            self.stages.addTopLevelItem(item)
        # As tall as its rows (up to 6, then it scrolls): the layer table above keeps the page's height.
        shown = min(len(rows), 6)
        row_height = self.stages.sizeHintForRow(0) if rows else 18
        self.stages.setFixedHeight(self.stages.header().sizeHint().height() + shown * row_height + 6)
        learning = sum(r.params for r in rows if r.trainable)
        frozen = sum(r.params for r in rows if not r.trainable)
        mode = {"features": "Features only: the backbone is frozen; each picture's features are computed once.",
                "last": "The last stage learns with the head.",
                "all": "Everything learns, the backbone at a tenth of the rate."}[stages.train]
        self.summary.setText(f"{mode} Trainable {_count(learning)}, frozen {_count(frozen)}; pictures at "
                             f"{stages.resolution}×{stages.resolution} (\"What learns\", \"Resolution\" below).")

    def _on_weights(self, arch: str, found: bool, text: str) -> None:
        if self.layer is None or arch != self.layer["arch"]:
            return
        self.weights_label.setText(text)
        self.weights_label.setStyleSheet("" if found else "color: #b9770e;")
        self.download_button.setVisible(not found)
        self.found = found

    def download(self) -> bool:
        if self.layer is None or not self.session.download(self.layer["arch"]):
            return False
        self._downloading(True)
        return True

    def _downloading(self, on: bool) -> None:
        self.progress.setVisible(on)
        self.cancel_button.setVisible(on)
        self.download_button.setEnabled(not on)
        self.import_button.setEnabled(not on)
        if on:
            self.progress.setRange(0, 0)

    def _on_progress(self, done: int, total: int) -> None:
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
            self.progress.setFormat(f"{done / 1e6:.1f} of {total / 1e6:.1f} MB")

    def _on_failed(self, message: str) -> None:
        self._downloading(False)
        self.weights_label.setText(message)
        self.weights_label.setStyleSheet("color: #c0392b;")

    def _ask_import(self) -> None:
        if self.layer is None:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Import the backbone's weights file", "",
                                              "PyTorch weights (*.pth *.pt);;All files (*)")
        if path:
            self.import_file(path)

    def import_file(self, path: str) -> None:
        if self.layer is not None:
            self.session.import_file(self.layer["arch"], path)

    def shutdown(self) -> None:
        self.session.shutdown()
