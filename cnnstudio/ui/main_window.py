"""The main window: a sidebar with the steps from data to model to training and beyond, one page each."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (QFileDialog, QLabel, QListWidget, QListWidgetItem, QMainWindow, QMenu, QMessageBox,
                               QProgressDialog, QSplitter, QStackedWidget, QVBoxLayout, QWidget)

from cnnstudio import __version__
from cnnstudio.ui import session_memory
from cnnstudio.ui.compose import app_state, runs_page
from cnnstudio.ui.session_memory import RecentItem, recall, remember
from cnnstudio.ui.state import AppState
from cnnstudio.ui import tasks
from cnnstudio.ui.tasks import run_in_background
from cnnstudio.ui.training_worker import active_runs, wait_for_runs

if TYPE_CHECKING:  # these import torch: only their types are needed here
    from cnnstudio.core.model_context import ModelContext
    from cnnstudio.core.training.device import DeviceInfo
    from cnnstudio.ui.widgets.help_window import HelpWindow

# (key, sidebar title, one-line hint shown under it)
PAGES = [
    ("data", "1  Data", "Pick or import a dataset"),
    ("review", "2  Review", "Wrong labels, duplicates"),
    ("model", "3  Model", "Choose or edit an architecture"),
    ("train", "4  Train", "Train and watch it learn"),
    ("runs", "5  Runs", "Reopen and compare runs"),
    ("evaluate", "6  Evaluate", "Confusion matrix, mistakes"),
    ("inspect", "7  Inspect", "Filters, feature maps, Grad-CAM"),
    ("draw", "8  Draw", "Draw and classify"),
    ("camera", "9  Camera", "Record data, classify live"),
]


class PlaceholderPage(QWidget):
    def __init__(self, text: str):
        super().__init__()
        layout = QVBoxLayout(self)
        label = QLabel(text)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setWordWrap(True)
        label.setStyleSheet("color: palette(mid); font-size: 15px;")
        layout.addWidget(label)


def make_page(key: str, state: AppState) -> QWidget:
    """Build a page lazily by key; a page module that is not there yet shows a placeholder."""
    try:
        if key == "data":
            from cnnstudio.ui.pages.data_page import DataPage

            return DataPage(state)
        if key == "review":
            from cnnstudio.ui.pages.review_page import ReviewPage

            return ReviewPage(state)
        if key == "model":
            from cnnstudio.ui.pages.model_page import ModelPage

            return ModelPage(state)
        if key == "train":
            from cnnstudio.ui.pages.train_page import TrainPage

            return TrainPage(state)
        if key == "runs":
            return runs_page(state)
        if key == "evaluate":
            from cnnstudio.ui.pages.evaluate_page import EvaluatePage

            return EvaluatePage(state)
        if key == "inspect":
            from cnnstudio.ui.pages.inspect_page import InspectPage

            return InspectPage(state)
        if key == "draw":
            from cnnstudio.ui.pages.draw_page import DrawPage

            return DrawPage(state)
        if key == "camera":
            from cnnstudio.ui.pages.camera_page import CameraPage

            return CameraPage(state)
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("cnnstudio.ui.pages"):
            raise
    return PlaceholderPage("This view arrives in a coming version of CNN Studio.")


class MainWindow(QMainWindow):
    def __init__(self, state: AppState | None = None) -> None:
        super().__init__()
        tasks.reopen()  # a window opened after another one closed in this process (tests, self-test)
        self.setWindowTitle("CNN Studio")
        self._close_after: set[int] = set()  # training runs whose end closes the window
        self._saving_notice: QProgressDialog | None = None
        self.state = state or app_state()
        self.pages: dict[str, QWidget] = {}
        # The last session: its dataset is what the Data page loads first, its architecture what the Model
        # page shows, its checkpoint what Evaluate, Inspect and Draw open (only what still exists).
        remembered = recall() if state is None else None
        if remembered is not None:
            if remembered.dataset:
                self.state.dataset_name = remembered.dataset
            if remembered.spec is not None:
                self.state.remembered_spec = (remembered.spec, remembered.spec_chosen)
            # The user's own folders of earlier sessions go back into the Data page's list.
            self.state.remembered_folders = remembered.folders
            self.state.missing_folders = remembered.missing_folders
            if remembered.missing_folders:
                session_memory.forget_folders(remembered.missing_folders)
        self.help_window: HelpWindow | None = None
        self._opening_checkpoint: str | None = None

        self.sidebar = QListWidget()
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setIconSize(QSize(20, 20))
        self.sidebar.setMinimumWidth(200)  # page titles and hints still read whole; pages get the room
        self.sidebar.setMaximumWidth(280)
        self.stack = QStackedWidget()
        for key, title, hint in PAGES:
            item = QListWidgetItem(f"{title}\n     {hint}")
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setSizeHint(QSize(180, 48))
            self.sidebar.addItem(item)
            page = make_page(key, self.state)
            self.pages[key] = page
            self.stack.addWidget(page)
        self.sidebar.currentRowChanged.connect(self.stack.setCurrentIndex)
        self._connect_pages()
        self.sidebar.setStyleSheet(
            "QListWidget#sidebar { border: none; background: palette(alternate-base); font-size: 13px; }"
            "QListWidget#sidebar::item { padding: 4px 8px; }"
            "QListWidget#sidebar::item:selected { background: palette(highlight); color: palette(highlighted-text); }")

        # Above every page: what the app proposes and waits for an answer to (a model for a new dataset).
        from cnnstudio.ui.widgets.proposal_bar import ProposalBar

        self.proposal_bar = ProposalBar()
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.setSpacing(0)
        right_layout.addWidget(self.proposal_bar)
        right_layout.addWidget(self.stack, 1)
        self._connect_proposal()

        splitter = QSplitter()
        splitter.addWidget(self.sidebar)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setCollapsible(0, False)
        self.setCentralWidget(splitter)

        self.device_label = QLabel("Loading PyTorch…")
        self.statusBar().addPermanentWidget(self.device_label)
        self.state.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.state.model.loaded.connect(self._on_model_loaded)
        self.state.model.failed.connect(self._on_model_failed)
        self._build_menus()
        self._restore_settings()
        model_page = self.pages.get("model")
        remember(self.state, lambda: not getattr(model_page, "follows_dataset", True))
        if remembered is not None and remembered.checkpoint:
            self.state.set_checkpoint(remembered.checkpoint)
        self.sidebar.setCurrentRow(0)
        # PyTorch takes seconds to import: the window shows first, then torch loads in the background.
        QTimer.singleShot(0, self._probe_devices)

    def _connect_pages(self) -> None:
        """Cross-page actions are signals wired here; pages never look each other up."""
        # A page is its own class, or the PlaceholderPage shown when it failed to build: hasattr says which.
        pages: dict[str, Any] = self.pages
        evaluate, inspect = pages.get("evaluate"), pages.get("inspect")
        # hasattr(None, ...) is False, so a missing train or draw page needs no check of its own.
        train: Any = pages.get("train")
        draw: Any = pages.get("draw")
        if evaluate is not None and inspect is not None and hasattr(evaluate, "inspectRequested"):
            def inspect_test_image(index: int) -> None:
                inspect.show_test_sample(index)
                self.show_page("inspect")

            evaluate.inspectRequested.connect(inspect_test_image)
        if inspect is not None and hasattr(inspect, "on_training_epoch") and hasattr(train, "epochFinished"):
            train.epochFinished.connect(inspect.on_training_epoch)
        if inspect is not None and hasattr(inspect, "on_drawing") and hasattr(draw, "preparedInputChanged"):
            draw.preparedInputChanged.connect(inspect.on_drawing)
        review: Any = pages.get("review")
        if hasattr(review, "retrainRequested") and hasattr(train, "start_training"):
            # Review's "Retrain": a new run on the fixed dataset, from the Train page's form.
            def retrain() -> None:
                self.show_page("train")
                train.start_training()

            review.retrainRequested.connect(retrain)
        if evaluate is not None and hasattr(evaluate, "map_view") and hasattr(draw, "preparedInputChanged"):
            draw.preparedInputChanged.connect(evaluate.session.map.on_drawing)  # the drawing on Evaluate's map
        camera: Any = pages.get("camera")
        data: Any = pages.get("data")
        if hasattr(camera, "datasetRequested") and hasattr(data, "open_folder"):
            # The Camera page's "Use as dataset": the recorded folder through the Data page's loader.
            def use_recorded(folder: str) -> None:
                data.open_folder(folder)
                self.show_page("data")

            camera.datasetRequested.connect(use_recorded)
        if hasattr(camera, "datasetRequested") and hasattr(data, "choose_box"):
            data.choose_box.camera_button.clicked.connect(lambda: self.show_page("camera"))
        model = pages.get("model")
        if model is not None and hasattr(train, "backboneModeRequested"):
            # The Train page's "Backbone" choice edits the layer's "What learns" on the Model page, which
            # owns the spec (and marks it as edited from its preset).
            train.backboneModeRequested.connect(
                lambda index, mode: model.set_layer_param(index, "train", mode))

    def _connect_proposal(self) -> None:
        model: Any = self.pages.get("model")  # the ModelPage, or a PlaceholderPage (checked below)
        if model is None or not hasattr(model, "proposalChanged"):
            return
        bar = self.proposal_bar

        def show(text: str, preset: str) -> None:
            if not preset:
                bar.clear()
                return
            current = str((self.state.spec or {}).get("name") or "my model")
            bar.ask(text, f"Use {preset}", f"Keep {current}")

        model.proposalChanged.connect(show)
        bar.accepted.connect(model.accept_proposal)
        bar.kept.connect(model.keep_current)

    # -- navigation -------------------------------------------------------------------------------
    def show_page(self, key: str) -> None:
        for row, (k, _, _) in enumerate(PAGES):
            if k == key:
                self.sidebar.setCurrentRow(row)
                return

    def page(self, key: str) -> QWidget:
        return self.pages[key]

    # -- menus, about, settings -------------------------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.file_menu = file_menu
        for text, keys, slot, tip in (
                ("Open &folder…", "Ctrl+O", self._ask_dataset_folder,
                 "A dataset: a folder with one subfolder per class, or the four MNIST-style IDX files"),
                ("Open &checkpoint…", "Ctrl+Shift+O", self._ask_checkpoint,
                 "A trained model (.pt) for Evaluate, Inspect and Draw"),
                ("Open &architecture…", "", self._ask_architecture, "A model spec (.json) for the Model page")):
            action = QAction(text, self)
            if keys:
                action.setShortcut(QKeySequence(keys))
            action.setStatusTip(tip)
            action.triggered.connect(slot)
            file_menu.addAction(action)
        self.recent_menu = QMenu("Open &Recent", self)
        self.recent_menu.aboutToShow.connect(self.fill_recent_menu)
        file_menu.addMenu(self.recent_menu)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        view_menu = self.menuBar().addMenu("&View")
        for row, (key, title, _) in enumerate(PAGES):
            action = QAction(title.split(maxsplit=1)[1], self)
            action.setShortcut(QKeySequence(f"Ctrl+{row + 1}"))
            action.triggered.connect(lambda checked=False, k=key: self.show_page(k))
            view_menu.addAction(action)
        help_menu = self.menuBar().addMenu("&Help")
        shortcuts = QAction("&Keyboard shortcuts", self)
        shortcuts.setShortcut(QKeySequence("F1"))
        shortcuts.triggered.connect(self.show_shortcuts)
        help_menu.addAction(shortcuts)
        docs = QAction("&Documentation", self)
        docs.triggered.connect(self.open_documentation)
        help_menu.addAction(docs)
        help_menu.addSeparator()
        about = QAction("&About CNN Studio", self)
        about.triggered.connect(self.show_about)
        help_menu.addAction(about)

    # -- File menu ------------------------------------------------------------------------------------
    def _ask_dataset_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a dataset folder", str(Path.home()))
        if path:
            self.open_dataset_folder(path)

    def _ask_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a checkpoint", str(Path.home()),
                                              "Checkpoints (*.pt);;All files (*)")
        if path:
            self.open_checkpoint(path)

    def _ask_architecture(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an architecture", str(Path.home()),
                                              "Model files (*.json);;All files (*)")
        if path:
            self.open_architecture(path)

    def _file_problem(self, title: str, text: str) -> None:
        """One clear line, in a dialog that does not block (and in the status bar)."""
        from cnnstudio.ui.widgets.banner import show_error_dialog

        self.statusBar().showMessage(text, 8000)
        self.last_file_problem = text
        show_error_dialog(self, title, text)

    def open_dataset_folder(self, path: str) -> bool:
        """Load a dataset folder the way the Data page does (its progress, its errors)."""
        data = self.pages.get("data")
        if not session_memory.is_dir(path):
            session_memory.forget_recent("folder", path)
            self._file_problem("Cannot open the folder", f"{path} is not a folder on this computer.")
            return False
        if data is None or not hasattr(data, "open_folder"):
            return False
        data.open_folder(path)
        self.show_page("data")
        return True

    def open_checkpoint(self, path: str) -> bool:
        """Use a checkpoint in Evaluate, Inspect and Draw (AppState.set_checkpoint; loaded once, in the
        background). A file that does not load leaves the model in use as it was and says why."""
        if not session_memory.is_file(path):
            session_memory.forget_recent("checkpoint", path)
            self._file_problem("Cannot open the checkpoint", f"{path} is not a file on this computer.")
            return False
        self._opening_checkpoint = str(path)
        self.state.set_checkpoint(str(path))
        self.statusBar().showMessage(f"Opening {Path(path).name}…", 8000)
        return True

    @property
    def opening_checkpoint(self) -> str | None:
        """The checkpoint File > Open checkpoint… is loading (None once it has loaded or failed)."""
        return self._opening_checkpoint

    def _on_model_loaded(self, context: ModelContext) -> None:
        if self._opening_checkpoint is not None and context.path == self._opening_checkpoint:
            self._opening_checkpoint = None
            self.state.message.emit(f"Evaluate, Inspect and Draw now use {Path(context.path).name}.")

    def _on_model_failed(self, path: str, message: str) -> None:
        if path == self._opening_checkpoint:
            self._opening_checkpoint = None
            self._file_problem("Cannot open the checkpoint", message)

    def open_architecture(self, path: str) -> bool:
        """Open a spec file on the Model page (its own check and error)."""
        model = self.pages.get("model")
        if model is None or not hasattr(model, "load_json"):
            return False
        if model.load_json(path):
            self.show_page("model")
            return True
        session_memory.forget_recent("architecture", path)
        return False

    def fill_recent_menu(self) -> None:
        """Open Recent: folders, checkpoints and architectures opened before, newest first."""
        menu = self.recent_menu
        menu.clear()
        items = session_memory.recent_items()
        labels = {"folder": "Folder", "checkpoint": "Checkpoint", "architecture": "Architecture"}
        for item in items:
            exists = (session_memory.is_dir(item.path) if item.kind == "folder"
                      else session_memory.is_file(item.path))
            action = menu.addAction(f"{labels[item.kind]}: {Path(item.path).name or item.path}"
                                    + ("" if exists else "  (not found)"))
            action.setToolTip(item.path)
            action.setStatusTip(item.path)
            action.setEnabled(exists)
            action.setData(item)
            action.triggered.connect(lambda checked=False, it=item: self.open_recent(it))
        if not items:
            none = menu.addAction("Nothing opened yet")
            none.setEnabled(False)
        else:
            menu.addSeparator()
            menu.addAction("Clear the list", session_memory.clear_recent)

    def open_recent(self, item: RecentItem) -> bool:
        if item.kind == "folder":
            return self.open_dataset_folder(item.path)
        if item.kind == "checkpoint":
            return self.open_checkpoint(item.path)
        return self.open_architecture(item.path)

    def shortcuts_html(self) -> str:
        from cnnstudio.ui.shortcuts import shortcut_table

        rows = "".join(f"<tr><td style='color:gray; padding-right:12px'>{where}</td><td style='padding-right:12px'>"
                       f"{what}</td><td><b>{keys}</b></td></tr>" for where, what, keys in shortcut_table())
        return f"<table cellspacing='2'>{rows}</table>"

    def show_shortcuts(self) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.NoIcon, "Keyboard shortcuts", self.shortcuts_html(),
                          QMessageBox.StandardButton.Close, self)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()  # not modal to the app: the keys can be tried with the list open
        return box

    def documentation_path(self):
        """The README of this installation (a source checkout or an installer ships it)."""
        from cnnstudio.ui.widgets.help_window import documentation_files

        files = documentation_files(Path(__file__).resolve().parents[2])
        return files[0] if files else None

    def open_documentation(self) -> bool:
        """A help window inside the app (no browser needed); where no documentation ships, say where it is."""
        from cnnstudio.ui.widgets.help_window import HelpWindow, documentation_files

        root = Path(__file__).resolve().parents[2]
        files = documentation_files(root)
        if not files:
            QMessageBox.information(self, "Documentation", "The documentation is not installed with this copy of "
                                    f"CNN Studio (looked for README.md and docs/ in {root}); it is the README.md "
                                    "and docs/ folder of the source.")
            return False
        if self.help_window is None:
            self.help_window = HelpWindow(files, self)
        self.help_window.show()
        self.help_window.raise_()
        return True

    def about_text(self) -> str:
        from PySide6 import __version__ as pyside_version
        from PySide6.QtCore import qVersion

        import sys

        torch_version = cuda_version = "not loaded yet"
        if "torch" in sys.modules:
            torch = sys.modules["torch"]
            torch_version = str(torch.__version__)
            cuda_version = str(torch.version.cuda or "none (CPU build)")
        try:
            import pyqtgraph

            pg_version = pyqtgraph.__version__
        except Exception:  # noqa: BLE001 - the About box shows "n/a" for a pyqtgraph that fails to import
            pg_version = "n/a"
        return (f"<h3>CNN Studio {__version__}</h3>"
                "<p>Train and understand convolutional networks, without writing code.</p>"
                f"<table><tr><td>PyTorch</td><td>{torch_version}</td></tr>"
                f"<tr><td>CUDA</td><td>{cuda_version}</td></tr>"
                f"<tr><td>Qt</td><td>{qVersion()} (PySide6 {pyside_version})</td></tr>"
                f"<tr><td>pyqtgraph</td><td>{pg_version}</td></tr>"
                f"<tr><td>Python</td><td>{platform.python_version()}</td></tr></table>")

    def show_about(self) -> None:
        QMessageBox.about(self, "About CNN Studio", self.about_text())

    def _restore_settings(self) -> None:
        from PySide6.QtCore import QByteArray

        settings = QSettings()
        try:
            geometry = settings.value("window/geometry")
        except Exception:  # noqa: BLE001 - a value QSettings cannot convert: the default size
            geometry = None
        # A damaged value (another type, garbage bytes, megabytes of it) gives the default size.
        ok = (isinstance(geometry, QByteArray) and 0 < geometry.size() <= session_memory.MAX_GEOMETRY
              and self.restoreGeometry(geometry))
        if not ok:  # recall() has logged a damaged value
            self.resize(1280, 820)

    def _save_settings(self) -> None:
        settings = QSettings()
        settings.setValue("window/geometry", self.saveGeometry())

    # -- devices ----------------------------------------------------------------------------------
    def _probe_devices(self) -> None:
        def probe() -> list[DeviceInfo]:
            from cnnstudio.core.training.device import available_devices

            return available_devices()

        run_in_background(probe, on_success=self._on_devices, on_error=lambda msg, _: self.device_label.setText(
            f"PyTorch unavailable: {msg}"), parent=self)

    def _on_devices(self, devices: list[DeviceInfo]) -> None:
        self.devices = devices
        best = devices[0]
        self.device_label.setText(f"Device: {best.name} ({best.detail})")
        for page in self.pages.values():
            hook = getattr(page, "on_devices", None)
            if hook is not None:
                hook(devices)

    # -- closing ----------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        """Close in two steps when a run is training: ask it to stop (it saves last.pt within a batch)
        and keep the window responsive, saying what it waits for; close for real once its thread ended.

        Then every page stops its own work, the task gate closes and every background task is waited
        for, so nothing runs on after the event loop (a QThread alive at exit aborts the process).
        """
        runs = active_runs()
        if runs:
            event.ignore()
            for run in runs:
                run.stop()
                if run.generation not in self._close_after:
                    self._close_after.add(run.generation)
                    run.ended.connect(lambda _gen: QTimer.singleShot(0, self.close))
            self._show_saving_notice()
            return
        if self._saving_notice is not None:
            self._saving_notice.close()
        for page in self.pages.values():
            shutdown = getattr(page, "shutdown", None)
            if shutdown is not None:
                shutdown()
        tasks.shutdown()
        self._save_settings()
        event.accept()

    def _show_saving_notice(self) -> None:
        """A small busy dialog, shown only if saving takes more than a moment."""
        self.statusBar().showMessage("Stopping training: saving the current run to last.pt, then closing…")
        if self._saving_notice is None:
            notice = QProgressDialog("Saving the current run to last.pt before closing…", "", 0, 0, self)
            notice.setWindowTitle("Closing CNN Studio")
            notice.setCancelButton(None)  # the run is stopping already; there is nothing to cancel
            notice.setWindowModality(Qt.WindowModality.WindowModal)
            notice.setMinimumDuration(400)
            notice.setValue(0)  # starts the minimum-duration timer
            self._saving_notice = notice


def shut_down_background_work() -> None:
    """After the event loop has ended: stop and wait for whatever still runs (app.quit() without a close)."""
    wait_for_runs(120000)
    tasks.shutdown()
