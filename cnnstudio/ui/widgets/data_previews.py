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
        self.class_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.class_filter.setMinimumContentsLength(16)
        self.class_filter.setToolTip("Which class the samples show. Hover an image for its class.")
        controls.addWidget(self.class_filter)
        self.shuffle_button = QPushButton("Shuffle")
        self.shuffle_button.setToolTip("Show other random training images. Hover an image for its class.")
        controls.addWidget(self.shuffle_button)
        controls.addStretch(1)
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


    def show_augmented(self, images, captions: list[str], dataset, seed: int) -> None:
        """The samples as one training batch could see them, with the switches as they are now."""
        aug = self.aug_panel.augmentation()
        try:
            from cnnstudio.ui.augment_preview import augment_preview

            shown = augment_preview(images, dataset.mean, dataset.std, aug, seed)
        except Exception as exc:  # noqa: BLE001 - the preview is a nicety: report, never crash
            self.aug_preview.set_images(None, placeholder=f"Preview unavailable: {exc}")
            return
        self.aug_preview.set_images(shown, captions)
        if aug.enabled:
            self.aug_caption.setText(f"The first {len(images)} sample images as one training batch could see "
                                     f"them; every batch draws new random changes.")
        else:
            self.aug_caption.setText("Augmentation is off: training sees the sample images exactly as they are.")
