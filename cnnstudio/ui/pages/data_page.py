"""Step 1, Data: pick, download or open a dataset, look at its images, choose the augmentation.

Left column: the datasets (listed at once from the torch-free catalog), Download / Open folder, and
what is loading. Right column: what is loaded (sizes, load report, images per class), sample images
with a class filter, and the augmentation switches with the same samples augmented the way training
will augment them.

Loading and downloading live in DataSession (cnnstudio/ui/sessions/data_session.py): a load started
later wins, and the page only ever sees results on the GUI thread. The loaded dataset comes back
through AppState.datasetChanged, so a dataset set by another page (reopening a run) shows here the
same way.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (QFileDialog, QFrame, QGridLayout, QGroupBox, QMessageBox, QScrollArea, QVBoxLayout,
                               QWidget)

from cnnstudio.core.datasets import DatasetInfo, info_from_dataset, list_datasets
from cnnstudio.core.datasets.catalog import human_size
from cnnstudio.core.training.config import Augmentation
from cnnstudio.ui.state import AppState
from cnnstudio.ui.sessions.data_session import DataSession, SamplePicker
from cnnstudio.ui.tasks import Task
from cnnstudio.ui.widgets.banner import show_error_dialog
from cnnstudio.ui.widgets.data_previews import AugmentBox, SamplesBox
from cnnstudio.ui.widgets.dataset_boxes import ChooseBox, LoadedBox
from cnnstudio.ui.widgets.section_title import page_header

if TYPE_CHECKING:  # imports torch: only its type is needed here
    from cnnstudio.core.datasets.base import Dataset

PREVIEW_COUNT = 64  # samples in the preview grid (8 x 8)
AUGMENT_COUNT = 32  # of those, how many are shown augmented (4 x 8)
ALL_CLASSES = -1


class DataPage(QWidget):
    augmentationChanged = Signal(object)  # Augmentation, whenever a switch changes or a dataset loads

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.last_error = ""  # the last error shown (dialog and banner), for tests and bug reports
        self._dataset: Dataset | None = None
        self._samples = SamplePicker()
        self._aug_seed = 0
        self._loading_title = ""
        self._error_box: QMessageBox | None = None
        self.session = session = DataSession(state, self)
        session.loadProgress.connect(self._on_load_progress)
        session.loaded.connect(self._on_loaded)
        session.loadFailed.connect(self._on_load_failed)
        session.loadCancelled.connect(self._on_load_cancelled)
        session.downloadProgress.connect(self._on_download_progress)
        session.downloaded.connect(self._on_downloaded)
        session.downloadFailed.connect(self._on_download_failed)
        session.downloadCancelled.connect(self._on_download_cancelled)
        self._build_ui()

        state.datasetChanged.connect(self._on_dataset_changed)
        self.aug_panel.set_augmentation(state.augmentation, emit=False)
        self.refresh_datasets()
        # The user's own folders of earlier sessions (session_memory.py): listed again; those no longer on
        # disk were dropped, and a note says which.
        for info in getattr(state, "remembered_folders", []):
            self.datasets.add_folder(info.name, info)
        missing = list(getattr(state, "missing_folders", []))
        if missing:
            names = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            self.banner.show_message(f"No longer on this computer, so taken off the list: {names}.", "info",
                                     about="missing-folders")
        # The offline default loads at once, in the background: the window is already usable.
        self.datasets.select_key(state.dataset_name)
        self._show_selected_details()
        if state.dataset is not None:
            self._on_dataset_changed(state.dataset)
        else:
            # Start after the window is on screen: the load imports torch, and that import would
            # hold the GIL while the other pages are still being built.
            QTimer.singleShot(0, self._load_remembered)

    def _load_remembered(self) -> None:
        """The dataset of the last session, unless one was loaded or a load started meanwhile."""
        if self.state.dataset is None and not self.is_loading():
            self.load(self.state.dataset_name)

    # ---------------------------------------------------------------------------------------------
    # layout

    def _build_ui(self) -> None:
        content = QWidget()
        grid = QGridLayout(content)
        grid.setContentsMargins(14, 10, 14, 10)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(10)

        grid.addLayout(page_header("Data", "Choose the images the network learns from, look at them, and decide "
                                           "how training may vary them."), 0, 0, 1, 2)

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
        self.choose_box = box = ChooseBox()
        self.datasets, self.details = box.datasets, box.details
        self.download_button, self.open_button = box.download_button, box.open_button
        self.download_row, self.loading_row = box.download_row, box.loading_row
        self.banner, self.report = box.banner, box.report
        self.report_label, self.skipped_toggle = self.report.report_label, self.report.skipped_toggle
        self.skipped_list = self.report.skipped_list
        self.datasets.datasetActivated.connect(self._on_activated)
        self.download_button.clicked.connect(lambda: self.start_download())
        self.open_button.clicked.connect(self._ask_folder)
        self.download_row.cancel.clicked.connect(self.cancel_download)
        self.loading_row.cancel.clicked.connect(self.cancel_load)
        return box

    def _build_loaded_box(self) -> QGroupBox:
        self.loaded_box = box = LoadedBox()
        self.info_label, self.class_chart = box.info_label, box.class_chart
        return box

    def _build_samples_box(self) -> QGroupBox:
        box = SamplesBox()
        self.class_filter, self.shuffle_button, self.preview = box.class_filter, box.shuffle_button, box.preview
        self.class_filter.currentIndexChanged.connect(lambda _i: self.pick_samples())
        self.shuffle_button.clicked.connect(lambda: self.pick_samples())
        return box

    def _build_augment_box(self) -> QGroupBox:
        self.augment_box = box = AugmentBox()
        self.aug_panel, self.redraw_button, self.reset_aug_button = (box.aug_panel, box.redraw_button,
                                                                     box.reset_aug_button)
        self.aug_caption, self.aug_preview = box.aug_caption, box.aug_preview
        self.aug_panel.changed.connect(self._on_augmentation_changed)
        self.redraw_button.clicked.connect(self.redraw_augmentation)
        self.reset_aug_button.clicked.connect(self.reset_augmentation)
        return box

    # ---------------------------------------------------------------------------------------------
    # the dataset list

    def refresh_datasets(self) -> None:
        """Re-read which registered datasets are on disk (torch-free, a few file checks)."""
        try:
            infos = list_datasets()
        except Exception as exc:  # noqa: BLE001 - a broken data folder must not take the page down
            self._error("Could not list the datasets", str(exc))
            return
        self.datasets.set_infos(infos)
        if self.session.download_key:
            self.datasets.set_progress(self.session.download_key, self.download_row.bar.value())
        self._update_buttons()

    def _selected_info(self) -> DatasetInfo | None:
        key = self.datasets.selected_key()
        return None if key is None else self.datasets.info(key)

    def _show_selected_details(self) -> None:
        self.choose_box.show_details(self._selected_info())

    def _update_buttons(self) -> None:
        self.choose_box.show_download_state(self._selected_info(), self.session.downloading)

    def _on_activated(self, key: str) -> None:
        """The user selected a row: load it if it can be used offline, else say how to get it."""
        # Files may have been put in place by hand since the list was made (the download error
        # says how): look again, it is only a few file checks.
        self.banner.clear_unless(key)  # a message about another dataset is out of date now
        self.refresh_datasets()
        self._show_selected_details()
        self._update_buttons()
        info = self.datasets.info(key)
        if info is None:
            return
        if info.available:
            if self.is_loading() and key == self.session.loading_key:
                return  # already on its way
            if key != self.state.dataset_name or self.state.dataset is None or self.is_loading():
                self.load(key)
            return
        if key == self.session.download_key:
            return
        if self.session.downloading:
            self.banner.show_message(f"{info.title} is not on this computer yet. It can be downloaded "
                                     f"({human_size(info.download_bytes)}) once the download of "
                                     f"{self._download_title()} has finished.", "info")
            return
        self.banner.show_message(f"{info.title} is not on this computer yet. Click Download to fetch it "
                                 f"({human_size(info.download_bytes)}).", "info")

    # ---------------------------------------------------------------------------------------------
    # loading

    def load(self, key: str, title: str | None = None) -> None:
        """Load a registered dataset (by name) or a folder (by path) in the background."""
        info = self.datasets.info(key)
        self._loading_title = title or (info.title if info is not None else Path(key).name or key)
        is_folder = info is None or info.kind in ("image-folder", "idx-folder")
        self.loading_row.start(f"Loading {self._loading_title}…", busy=not is_folder)
        if self.banner.about != "missing-folders":  # that note stays until dismissed
            self.banner.clear_message()
        self.session.load(key)

    def open_folder(self, path: str | Path) -> None:
        """Load a folder of images (one subfolder per class) or of MNIST IDX files."""
        folder = str(Path(path).expanduser())
        self.datasets.clearSelection()
        self.load(folder, title=Path(folder).name or folder)

    def _ask_folder(self) -> None:
        start = self.state.dataset_name if Path(self.state.dataset_name).is_dir() else str(Path.home())
        path = QFileDialog.getExistingDirectory(self, "Open a dataset folder", start)
        if path:
            self.open_folder(path)

    def cancel_load(self) -> None:
        if self.session.cancel_load():
            self.loading_row.label.setText("Cancelling…")
            self.loading_row.cancel.setEnabled(False)

    def is_loading(self) -> bool:
        return self.session.loading

    def _on_load_progress(self, pct: int) -> None:
        self.loading_row.bar.setRange(0, 100)
        self.loading_row.bar.setValue(int(pct))

    def _on_loaded(self, key: str, dataset: Dataset) -> None:
        self.loading_row.hide()
        info = self.datasets.info(key)
        if info is None or info.kind in ("image-folder", "idx-folder"):
            self.datasets.add_folder(key, info_from_dataset(dataset))
        self.state.set_dataset(dataset, key)  # -> _on_dataset_changed
        self.datasets.select_key(key)
        self._show_selected_details()
        report = dataset.report
        if report is not None and report.skipped:
            self.banner.show_message(f"Loaded {dataset.title}, but {report.files_skipped} of "
                                     f"{report.files_seen} files were skipped: see the load report.", "warning")
        self.state.message.emit(f"Loaded {dataset.title}")

    def _on_load_failed(self, message: str, details: str) -> None:
        self.loading_row.hide()
        self._error(f"Could not load {self._loading_title}", message, details)
        # Point the selection back at what is still loaded, so the list does not lie.
        if self.state.dataset is not None:
            self.datasets.select_key(self.state.dataset_name)
            self._show_selected_details()
            self._update_buttons()

    def _on_load_cancelled(self) -> None:
        self.loading_row.hide()
        self.banner.show_message(f"Loading {self._loading_title} was cancelled.", "info")

    # ---------------------------------------------------------------------------------------------
    # downloading

    def start_download(self, key: str | None = None) -> Task | None:
        """Download a registered dataset (default: the selected one) with progress and Cancel."""
        key = key or self.datasets.selected_key()
        info = self.datasets.info(key) if key else None
        if not key or info is None or info.kind != "torchvision":  # no key: no info either
            self.banner.show_message("Select a dataset that needs a download first.", "info")
            return None
        if self.session.downloading:
            self.banner.show_message(f"Wait for the download of {self._download_title()} to finish first "
                                     f"(or cancel it).", "info")
            return None
        self.download_row.start(f"Downloading {info.title}…", busy=False)
        self.datasets.set_progress(key, 0)
        self.banner.clear_message()
        task = self.session.download(key)
        self._update_buttons()
        return task

    def cancel_download(self) -> None:
        if self.session.downloading:
            self.session.cancel_download()
            self.download_row.label.setText("Cancelling the download…")
            self.download_row.cancel.setEnabled(False)

    def is_downloading(self) -> bool:
        return self.session.downloading

    def _download_title(self) -> str:
        key = self.session.download_key
        info = self.datasets.info(key or "")
        return info.title if info is not None else str(key)

    def _on_download_progress(self, done: int, total: int, pct: int) -> None:
        key = self.session.download_key
        if key is None:
            return
        self.download_row.bar.setValue(int(pct))
        if self.download_row.cancel.isEnabled():
            self.download_row.label.setText(f"Downloading {self._download_title()}: "
                                             f"{human_size(done)} of {human_size(total)}")
        self.datasets.set_progress(key, int(pct))

    def _end_download(self, key: str) -> None:
        self.download_row.hide()
        self.datasets.set_progress(key, None)

    def _on_downloaded(self, key: str, path: str) -> None:
        info = self.datasets.info(key)
        title = info.title if info else key
        self._end_download(key)
        self.refresh_datasets()
        self._show_selected_details()
        self.banner.show_message(f"{title} downloaded to {path}.", "ok")
        self.state.message.emit(f"{title} downloaded")
        if self.datasets.selected_key() == key:
            self.load(key)

    def _on_download_failed(self, key: str, message: str, details: str) -> None:
        info = self.datasets.info(key)
        title = info.title if info else key
        self._end_download(key)
        self._update_buttons()
        if details:  # a bug, not the network: the dialog keeps the traceback behind "Show Details"
            self._error(f"Could not download {title}", message, details)
            return
        # Said once, in the banner, which belongs to this dataset: choosing another one, or the ×, clears it.
        self.last_error = message
        self.banner.show_message(message, "error", about=key)
        self.state.message.emit(f"Could not download {title}")

    def _on_download_cancelled(self, key: str) -> None:
        info = self.datasets.info(key)
        title = info.title if info else key
        self._end_download(key)
        self._update_buttons()
        self.banner.show_message(f"Download of {title} cancelled; no partial files were kept.", "info")

    # ---------------------------------------------------------------------------------------------
    # the loaded dataset

    def _on_dataset_changed(self, dataset: Dataset) -> None:
        self._dataset = dataset
        self._samples = samples = SamplePicker(dataset)  # the same first view of a dataset every time
        key = self.state.dataset_name
        if self.datasets.info(key) is None:  # loaded elsewhere (e.g. a reopened run's folder)
            self.datasets.add_folder(key, info_from_dataset(dataset))
        self.datasets.set_loaded(key)
        counts = samples.counts
        self.loaded_box.show_dataset(dataset, counts)
        self.report.show_report(dataset)

        self.class_filter.blockSignals(True)
        self.class_filter.clear()
        self.class_filter.addItem(f"All classes ({len(samples.labels):,})", ALL_CLASSES)
        for k, name in enumerate(dataset.classes):
            self.class_filter.addItem(f"{name} ({int(counts[k]):,})", k)
        self.class_filter.blockSignals(False)

        self.aug_panel.set_flip_safe(bool(dataset.hflip_ok))
        self.pick_samples(update_augmented=False)
        self.reset_augmentation()  # emits augmentationChanged and draws the augmented preview

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
        samples = self._samples.pick(self.class_filter_value(), PREVIEW_COUNT)
        self.preview.set_images(samples.images, samples.captions,
                                placeholder="This class has no training images.")
        if update_augmented:
            self._update_augmented_preview()

    def sample_labels(self) -> np.ndarray:
        """The class index of every image in the preview (for tests)."""
        return self._samples.picked().labels

    # -- augmentation -----------------------------------------------------------------------------
    def augmentation(self) -> Augmentation:
        return self.aug_panel.augmentation()

    def set_augmentation(self, aug: Augmentation) -> None:
        self.aug_panel.set_augmentation(aug)  # -> _on_augmentation_changed

    def default_augmentation(self) -> Augmentation:
        """The state's recommended augmentation (as `cnnstudio train` uses it), flips only where labels stay true."""
        ds, aug = self._dataset, self.state.recommendation.config.augment
        return replace(aug, hflip=bool(aug.hflip and ds is not None and ds.hflip_ok))

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
        samples = self._samples.picked(AUGMENT_COUNT)
        self.augment_box.show_augmented(samples.images, samples.captions, self._dataset, self._aug_seed)

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
        self.session.shutdown()
