"""Step 1, Data: pick, download or open a dataset, look at its images, choose the augmentation.

Left column: the datasets (listed at once from the torch-free catalog), Download / Open folder, and
what is loading. Right column: what is loaded (sizes, load report, images per class), sample images
with a class filter, and the augmentation switches with the same samples augmented the way training
will augment them.

Loading and downloading run on background threads (cnnstudio.ui.tasks); the page only ever sees
their results on the GUI thread. A load started later wins: results of an older one are dropped by
a generation counter. The loaded dataset comes back through AppState.datasetChanged, so a dataset
set by another page (reopening a run) shows here the same way.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFrame, QGridLayout, QGroupBox, QHBoxLayout, QLabel,
                               QProgressBar, QPushButton, QScrollArea, QSizePolicy, QToolButton, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from cnnstudio.core.datasets import DatasetInfo, info_from_dataset, list_datasets
from cnnstudio.core.datasets.catalog import human_size
from cnnstudio.core.training.config import Augmentation, default_config
from cnnstudio.ui.state import AppState
from cnnstudio.ui.tasks import Task, run_in_background
from cnnstudio.ui.widgets.augment_panel import AugmentationPanel
from cnnstudio.ui.widgets.banner import Banner, show_error_dialog
from cnnstudio.ui.widgets.class_bars import ClassCountChart
from cnnstudio.ui.widgets.dataset_list import DatasetList
from cnnstudio.ui.widgets.image_grid import ImageGrid

PREVIEW_COUNT = 64  # samples in the preview grid (8 x 8)
AUGMENT_COUNT = 32  # of those, how many are shown augmented (4 x 8)
GRID_COLS = 8
ALL_CLASSES = -1


def _percent_reporter(report: Any, pack: Any) -> Any:
    """progress(done, total) that calls report(pack(done, total, pct)) only when the percent changes.

    A download reports every 256 KB chunk; forwarding each one would flood the GUI event loop.
    """
    last = [-1]

    def progress(done: int, total: int) -> None:
        pct = int(100 * done / total) if total > 0 else 0
        if pct != last[0]:
            last[0] = pct
            report(pack(done, total, pct))

    return progress


class _ProgressRow(QWidget):
    """"Loading Shapes… [=====   ] [Cancel]": one activity, hidden while idle."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.label = QLabel()
        self.label.setWordWrap(True)  # long titles wrap instead of widening the whole column
        self.label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.bar = QProgressBar()
        self.bar.setFixedWidth(130)
        self.bar.setTextVisible(True)
        self.cancel = QPushButton("Cancel")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.label, 1)
        row.addWidget(self.bar)
        row.addWidget(self.cancel)
        self.hide()

    def start(self, text: str, busy: bool) -> None:
        self.label.setText(text)
        self.bar.setRange(0, 0 if busy else 100)  # (0, 0) = an indeterminate "busy" bar
        self.bar.setValue(0)
        self.cancel.setEnabled(True)
        self.show()


class DataPage(QWidget):
    augmentationChanged = Signal(object)  # Augmentation, whenever a switch changes or a dataset loads

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.last_error = ""  # the last error shown (dialog and banner), for tests and bug reports
        self._dataset: Any = None
        self._train_np = np.zeros((0, 1, 1, 1), np.uint8)  # numpy views of the loaded tensors
        self._labels_np = np.zeros(0, np.int64)
        self._sample_idx = np.zeros(0, np.int64)
        self._rng = np.random.default_rng(0)
        self._aug_seed = 0
        self._load_task: Task | None = None
        self._load_gen = 0  # bumped per load; results of older loads are ignored
        self._loading_key: str | None = None
        self._download_task: Task | None = None
        self._download_key: str | None = None
        self._error_box: Any = None
        self._build_ui()

        state.datasetChanged.connect(self._on_dataset_changed)
        self.aug_panel.set_augmentation(state.augmentation, emit=False)
        self.refresh_datasets()
        # The offline default loads at once, in the background: the window is already usable.
        self.datasets.select_key(state.dataset_name)
        self._show_selected_details()
        if state.dataset is not None:
            self._on_dataset_changed(state.dataset)
        else:
            # Start after the window is on screen: the load imports torch, and that import would
            # hold the GIL while the other pages are still being built.
            QTimer.singleShot(0, lambda: self.state.dataset is None and not self.is_loading()
                              and self.load(self.state.dataset_name))

    # ---------------------------------------------------------------------------------------------
    # layout

    def _build_ui(self) -> None:
        content = QWidget()
        grid = QGridLayout(content)
        grid.setContentsMargins(14, 10, 14, 10)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(10)

        title = QLabel("Data")
        title.setStyleSheet("font-size: 18px; font-weight: 600;")
        subtitle = QLabel("Choose the images the network learns from, look at them, and decide how "
                          "training may vary them.")
        subtitle.setStyleSheet("color: palette(placeholder-text);")
        header = QHBoxLayout()
        header.addWidget(title)
        header.addSpacing(10)
        header.addWidget(subtitle, 1)
        grid.addLayout(header, 0, 0, 1, 2)

        grid.addWidget(self._build_choose_box(), 1, 0)
        grid.addWidget(self._build_loaded_box(), 1, 1)
        grid.addWidget(self._build_samples_box(), 2, 0)
        grid.addWidget(self._build_augment_box(), 2, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(2, 1)

        # A small window scrolls instead of squeezing the previews to nothing.
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    def _build_choose_box(self) -> QGroupBox:
        box = QGroupBox("Choose a dataset")
        layout = QVBoxLayout(box)
        self.datasets = DatasetList()
        # Five registered rows (plus a few opened folders) fit without scrolling; the previews below
        # get the rest of the height.
        self.datasets.setMinimumHeight(120)
        self.datasets.setMaximumHeight(165)
        self.datasets.datasetActivated.connect(self._on_activated)
        layout.addWidget(self.datasets)

        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setStyleSheet("color: palette(placeholder-text);")
        layout.addWidget(self.details)

        buttons = QHBoxLayout()
        self.download_button = QPushButton("Download")
        self.download_button.setToolTip("Download the selected dataset into your CNN Studio data folder.")
        self.download_button.clicked.connect(lambda: self.start_download())
        self.open_button = QPushButton("Open folder…")
        self.open_button.setToolTip("Your own images: a folder with one subfolder per class (cats/, dogs/, …), "
                                    "or a folder holding the four MNIST-style IDX files.")
        self.open_button.clicked.connect(self._ask_folder)
        buttons.addWidget(self.download_button)
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        folder_hint = QLabel("Your own images? Open a folder with one subfolder per class (for example "
                             "cats/ and dogs/), or a folder holding the four MNIST-style IDX files.")
        folder_hint.setWordWrap(True)
        folder_hint.setStyleSheet("color: palette(placeholder-text);")
        layout.addWidget(folder_hint)

        self.download_row = _ProgressRow()
        self.download_row.cancel.clicked.connect(self.cancel_download)
        self.loading_row = _ProgressRow()
        self.loading_row.cancel.clicked.connect(self.cancel_load)
        layout.addWidget(self.download_row)
        layout.addWidget(self.loading_row)
        self.banner = Banner()
        layout.addWidget(self.banner)
        self._build_report(layout)
        layout.addStretch(1)
        return box

    def _build_report(self, layout: QVBoxLayout) -> None:
        # Load report of a folder: summary line, notes, and the skipped files behind a toggle.
        self.report_label = QLabel()
        self.report_label.setWordWrap(True)
        self.report_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.report_label.hide()
        self.skipped_toggle = QToolButton()
        self.skipped_toggle.setCheckable(True)
        self.skipped_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.skipped_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.skipped_toggle.setAutoRaise(True)
        self.skipped_toggle.toggled.connect(self._toggle_skipped)
        self.skipped_toggle.hide()
        self.skipped_list = QTreeWidget()
        self.skipped_list.setHeaderLabels(["Skipped file", "Why"])
        self.skipped_list.setRootIsDecorated(False)
        self.skipped_list.hide()
        layout.addWidget(self.report_label)
        layout.addWidget(self.skipped_toggle)
        layout.addWidget(self.skipped_list)

    def _build_loaded_box(self) -> QGroupBox:
        box = QGroupBox("Loaded dataset")
        layout = QVBoxLayout(box)
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
        return box

    def _build_samples_box(self) -> QGroupBox:
        box = QGroupBox("Sample images")
        layout = QVBoxLayout(box)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Show"))
        self.class_filter = QComboBox()
        self.class_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.class_filter.currentIndexChanged.connect(lambda _i: self.pick_samples())
        controls.addWidget(self.class_filter)
        self.shuffle_button = QPushButton("Shuffle")
        self.shuffle_button.setToolTip("Show other random training images.")
        self.shuffle_button.clicked.connect(lambda: self.pick_samples())
        controls.addWidget(self.shuffle_button)
        controls.addStretch(1)
        hint = QLabel("Hover an image for its class.")
        hint.setStyleSheet("color: palette(placeholder-text);")
        controls.addWidget(hint)
        layout.addLayout(controls)
        self.preview = ImageGrid(GRID_COLS, "Loading the dataset…")
        layout.addWidget(self.preview, 1)
        return box

    def _build_augment_box(self) -> QGroupBox:
        box = QGroupBox("Augmentation (training images only)")
        layout = QVBoxLayout(box)
        intro = QLabel("Random changes applied to every training batch, so the network learns the object "
                       "rather than its exact pixels. Test images are never changed.")
        intro.setWordWrap(True)
        intro.setStyleSheet("color: palette(placeholder-text);")
        layout.addWidget(intro)
        self.aug_panel = AugmentationPanel()
        self.aug_panel.changed.connect(self._on_augmentation_changed)
        layout.addWidget(self.aug_panel)

        buttons = QHBoxLayout()
        self.redraw_button = QPushButton("New random draw")
        self.redraw_button.setToolTip("Augment the same images again with new random numbers.")
        self.redraw_button.clicked.connect(self.redraw_augmentation)
        self.reset_aug_button = QPushButton("Dataset defaults")
        self.reset_aug_button.setToolTip("The augmentation that suits this dataset.")
        self.reset_aug_button.clicked.connect(self.reset_augmentation)
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
        return box

    # ---------------------------------------------------------------------------------------------
    # the dataset list

    def refresh_datasets(self) -> None:
        """Re-read which registered datasets are on disk (torch-free, a few file checks)."""
        try:
            infos = list_datasets()
        except Exception as exc:  # a broken data folder must not take the page down
            self._error("Could not list the datasets", str(exc))
            return
        self.datasets.set_infos(infos)
        if self._download_task is not None and self._download_key:
            self.datasets.set_progress(self._download_key, self.download_row.bar.value())
        self._update_buttons()

    def _selected_info(self) -> DatasetInfo | None:
        key = self.datasets.selected_key()
        return None if key is None else self.datasets.info(key)

    def _show_selected_details(self) -> None:
        info = self._selected_info()
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

    def _update_buttons(self) -> None:
        info = self._selected_info()
        downloadable = (info is not None and info.kind == "torchvision" and not info.available
                        and self._download_task is None)
        self.download_button.setEnabled(downloadable)
        if info is not None and info.kind == "torchvision" and info.available:
            self.download_button.setText("Downloaded")
        else:
            self.download_button.setText("Download")

    def _on_activated(self, key: str) -> None:
        """The user selected a row: load it if it can be used offline, else say how to get it."""
        # Files may have been put in place by hand since the list was made (the download error
        # says how): look again, it is only a few file checks.
        self.refresh_datasets()
        self._show_selected_details()
        self._update_buttons()
        info = self.datasets.info(key)
        if info is None:
            return
        if info.available:
            if self.is_loading() and key == self._loading_key:
                return  # already on its way
            if key != self.state.dataset_name or self.state.dataset is None or self.is_loading():
                self.load(key)
            return
        if key == self._download_key:
            return
        if self._download_task is not None:
            self.banner.show_message(f"{info.title} is not on this computer yet. It can be downloaded "
                                     f"({human_size(info.download_bytes)}) once the download of "
                                     f"{self._download_title()} has finished.", "info")
            return
        self.banner.show_message(f"{info.title} is not on this computer yet. Click Download to fetch it "
                                 f"({human_size(info.download_bytes)}).", "info")

    # ---------------------------------------------------------------------------------------------
    # loading

    def load(self, key: str, title: str | None = None) -> Task:
        """Load a registered dataset (by name) or a folder (by path) in the background."""
        if self._load_task is not None and self._load_task.running:
            self._load_task.cancel()  # cooperative; its result is dropped by the generation check
        self._load_gen += 1
        gen = self._load_gen
        self._loading_key = key
        info = self.datasets.info(key)
        title = title or (info.title if info is not None else Path(key).name or key)
        is_folder = info is None or info.kind in ("image-folder", "idx-folder")
        self.loading_row.start(f"Loading {title}…", busy=not is_folder)
        self.banner.clear_message()
        self.state.datasetLoading.emit(key)

        def work(report: Any, is_cancelled: Any) -> Any:
            from cnnstudio.core.datasets import load_dataset  # imports torch on first use

            progress = _percent_reporter(report, lambda done, total, pct: pct)
            return load_dataset(key, progress=progress, cancel=is_cancelled)

        task = run_in_background(
            work, with_progress=True, parent=self,
            on_success=lambda ds, g=gen, k=key: self._on_loaded(g, k, ds),
            on_error=lambda msg, details, g=gen, t=title: self._on_load_failed(g, t, msg, details),
            on_progress=lambda pct, g=gen: self._on_load_progress(g, pct))
        task.cancelled.connect(lambda g=gen, t=title: self._on_load_cancelled(g, t))
        self._load_task = task
        return task

    def open_folder(self, path: str | Path) -> Task:
        """Load a folder of images (one subfolder per class) or of MNIST IDX files."""
        folder = str(Path(path).expanduser())
        self.datasets.clearSelection()
        return self.load(folder, title=Path(folder).name or folder)

    def _ask_folder(self) -> None:
        start = self.state.dataset_name if Path(self.state.dataset_name).is_dir() else str(Path.home())
        path = QFileDialog.getExistingDirectory(self, "Open a dataset folder", start)
        if path:
            self.open_folder(path)

    def cancel_load(self) -> None:
        if self._load_task is not None and self._load_task.running:
            self._load_task.cancel()
            self.loading_row.label.setText("Cancelling…")
            self.loading_row.cancel.setEnabled(False)

    def is_loading(self) -> bool:
        return self._load_task is not None and self._load_task.running

    def _on_load_progress(self, gen: int, pct: int) -> None:
        if gen == self._load_gen:
            self.loading_row.bar.setRange(0, 100)
            self.loading_row.bar.setValue(int(pct))

    def _on_loaded(self, gen: int, key: str, dataset: Any) -> None:
        if gen != self._load_gen:
            return  # a later load replaced this one
        self.loading_row.hide()
        if self.datasets.info(key) is None or self.datasets.info(key).kind in ("image-folder", "idx-folder"):
            self.datasets.add_folder(key, info_from_dataset(dataset))
        self.state.set_dataset(dataset, key)  # -> _on_dataset_changed
        self.datasets.select_key(key)
        self._show_selected_details()
        report = dataset.report
        if report is not None and report.skipped:
            self.banner.show_message(f"Loaded {dataset.title}, but {report.files_skipped} of "
                                     f"{report.files_seen} files were skipped: see the load report.", "warning")
        self.state.message.emit(f"Loaded {dataset.title}")

    def _on_load_failed(self, gen: int, title: str, message: str, details: str) -> None:
        if gen != self._load_gen:
            return
        self.loading_row.hide()
        self._error(f"Could not load {title}", message, details)
        # Point the selection back at what is still loaded, so the list does not lie.
        if self.state.dataset is not None:
            self.datasets.select_key(self.state.dataset_name)
            self._show_selected_details()
            self._update_buttons()

    def _on_load_cancelled(self, gen: int, title: str) -> None:
        if gen != self._load_gen:
            return
        self.loading_row.hide()
        self.banner.show_message(f"Loading {title} was cancelled.", "info")

    # ---------------------------------------------------------------------------------------------
    # downloading

    def start_download(self, key: str | None = None) -> Task | None:
        """Download a registered dataset (default: the selected one) with progress and Cancel."""
        key = key or self.datasets.selected_key()
        info = self.datasets.info(key) if key else None
        if info is None or info.kind != "torchvision":
            self.banner.show_message("Select a dataset that needs a download first.", "info")
            return None
        if self._download_task is not None:
            self.banner.show_message(f"Wait for the download of {self._download_title()} to finish first "
                                     f"(or cancel it).", "info")
            return None
        self._download_key = key
        self.download_row.start(f"Downloading {info.title}…", busy=False)
        self.datasets.set_progress(key, 0)
        self.banner.clear_message()

        def work(report: Any, is_cancelled: Any) -> str:
            from cnnstudio.core import datasets as api  # looked up at call time (tests replace it)

            progress = _percent_reporter(report, lambda done, total, pct: (done, total, pct))
            return str(api.download_dataset(key, progress=progress, cancel=is_cancelled))

        task = run_in_background(
            work, with_progress=True, parent=self,
            on_success=lambda path, k=key: self._on_downloaded(k, path),
            on_error=lambda msg, details, k=key: self._on_download_failed(k, msg, details),
            on_progress=self._on_download_progress)
        task.cancelled.connect(lambda k=key: self._on_download_cancelled(k))
        self._download_task = task
        self._update_buttons()
        return task

    def cancel_download(self) -> None:
        if self._download_task is not None:
            self._download_task.cancel()
            self.download_row.label.setText("Cancelling the download…")
            self.download_row.cancel.setEnabled(False)

    def is_downloading(self) -> bool:
        return self._download_task is not None

    def _download_title(self) -> str:
        info = self.datasets.info(self._download_key or "")
        return info.title if info is not None else str(self._download_key)

    def _on_download_progress(self, value: Any) -> None:
        done, total, pct = value
        if self._download_key is None:
            return
        self.download_row.bar.setValue(int(pct))
        if self.download_row.cancel.isEnabled():
            self.download_row.label.setText(f"Downloading {self._download_title()}: "
                                             f"{human_size(done)} of {human_size(total)}")
        self.datasets.set_progress(self._download_key, int(pct))

    def _end_download(self, key: str) -> None:
        self._download_task = None
        self._download_key = None
        self.download_row.hide()
        self.datasets.set_progress(key, None)

    def _on_downloaded(self, key: str, path: str) -> None:
        title = self.datasets.info(key).title if self.datasets.info(key) else key
        self._end_download(key)
        self.refresh_datasets()
        self._show_selected_details()
        self.banner.show_message(f"{title} downloaded to {path}.", "ok")
        self.state.message.emit(f"{title} downloaded")
        if self.datasets.selected_key() == key:
            self.load(key)

    def _on_download_failed(self, key: str, message: str, details: str) -> None:
        title = self.datasets.info(key).title if self.datasets.info(key) else key
        self._end_download(key)
        self._update_buttons()
        self._error(f"Could not download {title}", message, details)

    def _on_download_cancelled(self, key: str) -> None:
        title = self.datasets.info(key).title if self.datasets.info(key) else key
        self._end_download(key)
        self._update_buttons()
        self.banner.show_message(f"Download of {title} cancelled; no partial files were kept.", "info")

    # ---------------------------------------------------------------------------------------------
    # the loaded dataset

    def _on_dataset_changed(self, dataset: Any) -> None:
        self._dataset = dataset
        self._train_np = dataset.train_images.numpy()  # shares memory with the tensor: no copy
        self._labels_np = dataset.train_labels.numpy()
        key = self.state.dataset_name
        if self.datasets.info(key) is None:  # loaded elsewhere (e.g. a reopened run's folder)
            self.datasets.add_folder(key, info_from_dataset(dataset))
        self.datasets.set_loaded(key)
        self._show_info(dataset)
        self._show_report(dataset)
        counts = np.bincount(self._labels_np, minlength=dataset.num_classes)
        self.class_chart.set_counts(dataset.classes, counts)

        self.class_filter.blockSignals(True)
        self.class_filter.clear()
        self.class_filter.addItem(f"All classes ({len(self._labels_np):,})", ALL_CLASSES)
        for k, name in enumerate(dataset.classes):
            self.class_filter.addItem(f"{name} ({int(counts[k]):,})", k)
        self.class_filter.blockSignals(False)

        self._rng = np.random.default_rng(0)  # the same first view of a dataset every time
        self.aug_panel.set_flip_safe(bool(dataset.hflip_ok))
        self.pick_samples(update_augmented=False)
        self.reset_augmentation()  # emits augmentationChanged and draws the augmented preview

    def _show_info(self, ds: Any) -> None:
        c, h, w = ds.input_shape
        colour = {1: "grayscale, 1 channel", 3: "colour (RGB), 3 channels"}.get(c, f"{c} channels")
        source = "built in, generated on this computer" if not ds.source else ds.source
        self.info_label.setText(
            f"<b style='font-size:14px'>{html.escape(ds.title)}</b><br>"
            f"{h} x {w} pixels, {colour} &nbsp;·&nbsp; {ds.num_classes} classes<br>"
            f"{len(ds.train_images):,} training images &nbsp;·&nbsp; {len(ds.test_images):,} test images<br>"
            f"<span style='color: palette(placeholder-text)'>From: {html.escape(source)}</span>")

    def _show_report(self, ds: Any) -> None:
        report = ds.report
        self.skipped_list.clear()
        self.skipped_toggle.setChecked(False)
        if report is None:
            for w in (self.report_label, self.skipped_toggle, self.skipped_list):
                w.hide()
            return
        lines = [f"<b>Load report:</b> {report.files_loaded:,} of {report.files_seen:,} image files loaded"
                 + (f", <b>{report.files_skipped:,} skipped</b>" if report.skipped else ", none skipped")]
        lines += [f"• {html.escape(n)}" for n in report.notes]
        self.report_label.setText("<br>".join(lines))
        self.report_label.show()
        if report.skipped:
            root = Path(ds.source) if ds.source else None
            for item in report.skipped:
                shown = item.path
                if root is not None:
                    try:
                        shown = str(Path(item.path).relative_to(root))
                    except ValueError:
                        pass
                row = QTreeWidgetItem([shown, item.reason])
                row.setToolTip(0, item.path)
                self.skipped_list.addTopLevelItem(row)
            self.skipped_list.resizeColumnToContents(0)
            # As tall as its rows (a few skipped files need no big empty box), at most ~6 rows.
            rows = self.skipped_list.sizeHintForRow(0) * min(report.files_skipped, 6)
            self.skipped_list.setFixedHeight(rows + self.skipped_list.header().sizeHint().height() + 6)
            self.skipped_toggle.setText(f"Show the {report.files_skipped} skipped file(s) and why")
            self.skipped_toggle.show()
        else:
            self.skipped_toggle.hide()
        self.skipped_list.hide()

    def _toggle_skipped(self, shown: bool) -> None:
        self.skipped_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.skipped_list.setVisible(shown)

    # -- samples ----------------------------------------------------------------------------------
    def set_class_filter(self, class_index: int | None) -> None:
        """Show only one class (its index), or all classes (None)."""
        wanted = ALL_CLASSES if class_index is None else class_index
        row = self.class_filter.findData(wanted)
        if row >= 0:
            self.class_filter.setCurrentIndex(row)  # -> pick_samples

    def class_filter_value(self) -> int | None:
        data = self.class_filter.currentData()
        return None if data is None or data == ALL_CLASSES else int(data)

    def pick_samples(self, update_augmented: bool = True) -> None:
        """Draw new random training images (of the filtered class) into the preview."""
        if self._dataset is None:
            return
        wanted = self.class_filter_value()
        pool = np.arange(len(self._labels_np)) if wanted is None else np.flatnonzero(self._labels_np == wanted)
        n = min(PREVIEW_COUNT, len(pool))
        self._sample_idx = np.sort(self._rng.choice(pool, size=n, replace=False)) if n else pool[:0]
        classes = self._dataset.classes
        captions = [classes[int(k)] for k in self._labels_np[self._sample_idx]]
        self.preview.set_images(self._train_np[self._sample_idx], captions,
                                placeholder="This class has no training images.")
        if update_augmented:
            self._update_augmented_preview()

    def sample_labels(self) -> np.ndarray:
        """The class index of every image in the preview (for tests)."""
        return self._labels_np[self._sample_idx].copy()

    # -- augmentation -----------------------------------------------------------------------------
    def augmentation(self) -> Augmentation:
        return self.aug_panel.augmentation()

    def set_augmentation(self, aug: Augmentation) -> None:
        self.aug_panel.set_augmentation(aug)  # -> _on_augmentation_changed

    def default_augmentation(self) -> Augmentation:
        """This dataset's training defaults, with flips on exactly when they keep labels true."""
        aug = default_config(self.state.dataset_name).augment
        aug.hflip = bool(self._dataset is not None and self._dataset.hflip_ok)
        return aug

    def reset_augmentation(self) -> None:
        self.aug_panel.set_augmentation(self.default_augmentation())

    def redraw_augmentation(self) -> None:
        self._aug_seed += 1
        self._update_augmented_preview()

    def _on_augmentation_changed(self, aug: Augmentation) -> None:
        self._update_augmented_preview()
        self.state.set_augmentation(aug)
        self.augmentationChanged.emit(aug)

    def _update_augmented_preview(self) -> None:
        if self._dataset is None:
            return
        aug = self.aug_panel.augmentation()
        idx = self._sample_idx[:AUGMENT_COUNT]
        classes = self._dataset.classes
        captions = [classes[int(k)] for k in self._labels_np[idx]]
        try:
            from cnnstudio.ui.augment_preview import augment_preview

            images = augment_preview(self._train_np[idx], self._dataset.mean, self._dataset.std, aug,
                                     self._aug_seed)
        except Exception as exc:  # the preview is a nicety: report, never crash
            self.aug_preview.set_images(None, placeholder=f"Preview unavailable: {exc}")
            return
        self.aug_preview.set_images(images, captions)
        if aug.enabled:
            self.aug_caption.setText(f"The first {len(idx)} sample images as one training batch could see "
                                     f"them; every batch draws new random changes.")
        else:
            self.aug_caption.setText("Augmentation is off: training sees the sample images exactly as they are.")

    # ---------------------------------------------------------------------------------------------
    # errors and shutdown

    def _error(self, title: str, message: str, details: str = "") -> None:
        """A clear message twice: inline (stays visible) and in a dialog (cannot be missed)."""
        self.last_error = message
        self.banner.show_message(message, "error")
        self.state.message.emit(title)
        self._error_box = show_error_dialog(self, title, message, details)

    def shutdown(self) -> None:
        """Window closing: ask running loads and downloads to stop (the window waits for them)."""
        for task in (self._load_task, self._download_task):
            if task is not None and task.running:
                task.cancel()
