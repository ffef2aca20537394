"""The augmentation switches: random crop, horizontal flip, rotation, zoom, shift and lighting.

Each amount is a spin box whose lowest value reads "Off", so there is one control per augmentation
instead of a checkbox plus a number. The panel knows nothing about torch or datasets; it turns its
controls into an Augmentation and back, and warns when a flip would change what an image means.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QGridLayout, QLabel, QSpinBox, QWidget

from cnnstudio.core.training.config import Augmentation


def _amount(maximum: int, suffix: str, tip: str) -> QSpinBox:
    box = QSpinBox()
    box.setRange(0, maximum)
    box.setSpecialValueText("Off")  # shown at 0
    box.setSuffix(suffix)
    box.setToolTip(tip)
    box.setAccelerated(True)
    box.setMinimumWidth(80)
    return box


class AugmentationPanel(QWidget):
    changed = Signal(object)  # Augmentation

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._flip_safe = True
        self.crop = _amount(16, " px", "Pad the image with black by this many pixels on every side, then cut a "
                                        "random window of the original size: the object shifts a little.")
        self.hflip = QCheckBox("On")
        self.hflip.setToolTip("Mirror a random half of the images left-right. Only for images whose class "
                              "survives a mirror (a shirt, a cat); never for digits or letters.")
        self.rotation = _amount(180, "°", "Rotate each image by a random angle between -N and +N degrees.")
        self.scale = _amount(50, " %", "Zoom each image in or out by a random factor between 1 - N % and 1 + N %.")
        self.translate = _amount(30, " %", "Shift each image by up to N % of its size, in x and y.")
        self.lighting = _amount(90, " %", "Vary each image's brightness and contrast by up to N %: for photos "
                                          "taken in other light, or shapes whose colour does not matter.")
        self.flip_warning = QLabel()
        self.flip_warning.setWordWrap(True)
        self.flip_warning.setStyleSheet("color: rgb(210, 120, 0);")
        self.flip_warning.hide()

        # Two columns of label + control: six switches in three rows leave room for the preview.
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(4)
        # Short labels (the tooltips say more): the box then fits beside the samples in a 1024-pixel window.
        rows = [("Crop (padding)", self.crop, 0, 0), ("Horizontal flip", self.hflip, 1, 0),
                ("Rotation (±)", self.rotation, 0, 2), ("Zoom (±)", self.scale, 1, 2),
                ("Lighting (±)", self.lighting, 2, 0), ("Shift (±)", self.translate, 2, 2)]
        for text, control, row, col in rows:
            if isinstance(control, QSpinBox):
                control.setMinimumWidth(64)
                control.setMaximumWidth(110)
            label = QLabel(text)
            label.setToolTip(control.toolTip())
            label.setBuddy(control)
            grid.addWidget(label, row, col)
            grid.addWidget(control, row, col + 1)
        grid.addWidget(self.flip_warning, 3, 0, 1, 4)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        grid.setColumnMinimumWidth(2, 10)

        for box in (self.crop, self.rotation, self.scale, self.translate, self.lighting):
            box.valueChanged.connect(self._emit)
        self.hflip.toggled.connect(self._emit)

    def augmentation(self) -> Augmentation:
        return Augmentation(
            crop_padding=int(self.crop.value()),
            hflip=bool(self.hflip.isChecked()),
            rotation=float(self.rotation.value()),
            scale=self.scale.value() / 100.0,
            translate=self.translate.value() / 100.0,
            lighting=self.lighting.value() / 100.0,
        )

    def set_augmentation(self, aug: Augmentation, emit: bool = True) -> None:
        """Show `aug` in the controls (one changed signal at the end, not one per control)."""
        aug = replace(aug)
        controls = (self.crop, self.hflip, self.rotation, self.scale, self.translate, self.lighting)
        for c in controls:
            c.blockSignals(True)
        try:
            self.crop.setValue(int(aug.crop_padding))
            self.hflip.setChecked(bool(aug.hflip))
            self.rotation.setValue(int(round(aug.rotation)))
            self.scale.setValue(int(round(aug.scale * 100)))
            self.translate.setValue(int(round(aug.translate * 100)))
            self.lighting.setValue(int(round(aug.lighting * 100)))
        finally:
            for c in controls:
                c.blockSignals(False)
        self._update_warning()
        if emit:
            self.changed.emit(self.augmentation())

    def set_flip_safe(self, safe: bool) -> None:
        """Whether mirroring keeps this dataset's labels true (Dataset.hflip_ok)."""
        self._flip_safe = safe
        self._update_warning()

    def _update_warning(self) -> None:
        show = self.hflip.isChecked() and not self._flip_safe
        self.flip_warning.setText("Careful: this dataset is not marked flip-safe. A mirrored 2 or a mirrored "
                                  "letter is no longer the same class." if show else "")
        self.flip_warning.setVisible(show)

    def _emit(self, *_args: object) -> None:
        self._update_warning()
        self.changed.emit(self.augmentation())
