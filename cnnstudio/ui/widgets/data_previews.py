"""The Data page's two preview boxes: sample images with a class filter, and the augmentation with the
same samples augmented. Views only: the page connects them and fills them."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from cnnstudio.ui.widgets.augment_panel import AugmentationPanel
from cnnstudio.ui.widgets.image_grid import ImageGrid

GRID_COLS = 8


class SamplesBox(QGroupBox):
    def __init__(self) -> None:
        super().__init__("Sample images")
        layout = QVBoxLayout(self)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Show"))
        self.class_filter = QComboBox()
        self.class_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        controls.addWidget(self.class_filter)
        self.shuffle_button = QPushButton("Shuffle")
        self.shuffle_button.setToolTip("Show other random training images.")
        controls.addWidget(self.shuffle_button)
        controls.addStretch(1)
        hint = QLabel("Hover an image for its class.")
        hint.setStyleSheet("color: palette(placeholder-text);")
        controls.addWidget(hint)
        layout.addLayout(controls)
        self.preview = ImageGrid(GRID_COLS, "Loading the dataset…")
        layout.addWidget(self.preview, 1)



class AugmentBox(QGroupBox):
    def __init__(self) -> None:
        super().__init__("Augmentation (training images only)")
        layout = QVBoxLayout(self)
        intro = QLabel("Random changes applied to every training batch, so the network learns the object "
                       "rather than its exact pixels. Test images are never changed.")
        intro.setWordWrap(True)
        intro.setStyleSheet("color: palette(placeholder-text);")
        layout.addWidget(intro)
        self.aug_panel = AugmentationPanel()
        layout.addWidget(self.aug_panel)

        buttons = QHBoxLayout()
        self.redraw_button = QPushButton("New random draw")
        self.redraw_button.setToolTip("Augment the same images again with new random numbers.")
        self.reset_aug_button = QPushButton("Dataset defaults")
        self.reset_aug_button.setToolTip("The augmentation that suits this dataset.")
        buttons.addWidget(self.redraw_button)
        buttons.addWidget(self.reset_aug_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)

        self.aug_caption = QLabel()
        self.aug_caption.setWordWrap(True)
        self.aug_caption.setStyleSheet("color: palette(placeholder-text);")
        layout.addWidget(self.aug_caption)
        self.aug_preview = ImageGrid(GRID_COLS, "The first samples, augmented, appear here.")
        layout.addWidget(self.aug_preview, 1)

