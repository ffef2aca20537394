"""The Data page's two upper boxes: choosing a dataset (the list, Download, Open folder, what is loading
and the load report), and what is loaded (its sizes and framing, and its training images per class).

Views only: the page connects their buttons and fills them.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from cnnstudio.core.datasets import DatasetInfo
from cnnstudio.core.datasets.catalog import human_size
from cnnstudio.ui.widgets.banner import Banner
from cnnstudio.ui.widgets.class_bars import ClassCountChart
from cnnstudio.ui.widgets.dataset_list import DatasetList
from cnnstudio.ui.widgets.load_report import LoadReportView
from cnnstudio.ui.widgets.progress_row import ProgressRow

if TYPE_CHECKING:  # these import torch: only their types are needed here
    from cnnstudio.core.datasets.base import Dataset


class ChooseBox(QGroupBox):
    """The datasets, what the selected one is, Download / Open folder, the progress rows, the load report."""

    def __init__(self) -> None:
        super().__init__("Choose a dataset")
        layout = QVBoxLayout(self)
        self.datasets = DatasetList()
        # Five registered rows (plus a few opened folders) fit without scrolling; the previews below
        # get the rest of the height.
        self.datasets.setMinimumHeight(120)
        self.datasets.setMaximumHeight(165)
        layout.addWidget(self.datasets)

        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setStyleSheet("color: palette(placeholder-text);")
        layout.addWidget(self.details)

        buttons = QHBoxLayout()
        self.download_button = QPushButton("Download")
        self.download_button.setToolTip("Download the selected dataset into your CNN Studio data folder.")
        self.open_button = QPushButton("Open folder…")
        self.open_button.setToolTip("Your own images: a folder with one subfolder per class (cats/, dogs/, …), "
                                    "or a folder holding the four MNIST-style IDX files.")
        # The Camera page records a dataset class by class (MainWindow shows it when this is clicked).
        self.camera_button = QPushButton("Camera…")
        self.camera_button.setToolTip("Record your own classes with a camera (or from video files) on the Camera page.")
        buttons.addWidget(self.download_button)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.camera_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        folder_hint = QLabel("Your own images? Open a folder with one subfolder per class (cats/, dogs/…) or the "
                             "four MNIST-style IDX files, or record them with a camera.")
        folder_hint.setWordWrap(True)
        folder_hint.setStyleSheet("color: palette(placeholder-text);")
        layout.addWidget(folder_hint)

        self.download_row = ProgressRow()
        self.loading_row = ProgressRow()
        layout.addWidget(self.download_row)
        layout.addWidget(self.loading_row)
        self.banner = Banner()
        layout.addWidget(self.banner)
        self.report = LoadReportView()
        layout.addWidget(self.report)
        layout.addStretch(1)

    def show_details(self, info: DatasetInfo | None) -> None:
        """What the selected dataset is, and whether it is on this computer."""
        if info is None:
            self.details.setText("")
            return
        text = info.description
        if info.kind == "torchvision":
            if info.available:
                text += f"\nOn this computer: {info.location}"
            else:
                text += (f"\nNot on this computer yet: Download fetches {human_size(info.download_bytes)} "
                         f"into {info.location}.")
        elif info.kind == "builtin":
            text += "\nAlways available, no download needed."
        self.details.setText(text)

    def show_download_state(self, info: DatasetInfo | None, downloading: bool) -> None:
        """Download is offered for a registered dataset not on this computer, while nothing downloads."""
        self.download_button.setEnabled(info is not None and info.kind == "torchvision" and not info.available
                                        and not downloading)
        on_disk = info is not None and info.kind == "torchvision" and info.available
        self.download_button.setText("Downloaded" if on_disk else "Download")


class LoadedBox(QGroupBox):
    """The loaded dataset: its sizes, channels, framing and source, and its training images per class."""

    def __init__(self) -> None:
        super().__init__("Loaded dataset")
        layout = QVBoxLayout(self)
        self.info_label = QLabel("Nothing loaded yet.")
        self.info_label.setWordWrap(True)
        self.info_label.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.info_label)
        chart_title = QLabel("Training images per class")
        chart_title.setStyleSheet("font-weight: 600;")
        layout.addWidget(chart_title)
        self.class_chart = ClassCountChart()
        self.class_chart.setMaximumHeight(170)
        layout.addWidget(self.class_chart, 1)
        layout.addStretch(1)

    def show_dataset(self, ds: Dataset, counts: np.ndarray) -> None:
        """A loaded core Dataset, with its training images per class."""
        c, h, w = ds.input_shape
        colour = {1: "grayscale, 1 channel", 3: "colour (RGB), 3 channels"}.get(c, f"{c} channels")
        source = "built in, generated on this computer" if not ds.source else ds.source
        self.info_label.setText(
            f"<b style='font-size:14px'>{html.escape(ds.title)}</b><br>"
            f"{h} x {w} pixels, {colour} &nbsp;·&nbsp; {ds.num_classes} classes<br>"
            f"{len(ds.train_images):,} training images &nbsp;·&nbsp; {len(ds.test_images):,} test images<br>"
            + (f"Framed as: {html.escape(ds.framing.description)}<br>" if ds.framing.description else "")
            + _imbalance_html(ds)
            + f"<span style='color: palette(placeholder-text)'>From: {html.escape(source)}</span>")
        self.class_chart.set_counts(ds.classes, counts)


def _imbalance_html(ds: Dataset) -> str:
    """A line when the classes are unbalanced (the Train page then weights the loss by class)."""
    from cnnstudio.core.training.recommend import IMBALANCE, class_imbalance

    ratio, most, least = class_imbalance(ds)
    if ratio <= IMBALANCE:
        return ""
    return (f"<span style='color:#d35400'>Unbalanced: '{html.escape(most)}' has {ratio:.0f}x as many training "
            f"images as '{html.escape(least)}'. Training weights the loss by class (Train page, "
            "Class weights); Evaluate's per-class recall shows how the rare ones fare.</span><br>")
