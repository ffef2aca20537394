"""Draw and classify: sketch a figure (or open, drop or paste a picture) and watch the model's guess live.

Everything a user gives the page goes through the core's single preprocessing path
(cnnstudio.core.inference: Predictor.predict_image -> prepare_image), so what the page shows is exactly
what `cnnstudio predict` would say about the same picture. The prepared input (what the model sees) is
shown beside the bars, pixel for pixel, and published as preparedInputChanged for the Inspect view.

This module is the view: the model (the app's current model, loaded once for every page) and the
prediction stream live in DrawSession (cnnstudio/ui/sessions/draw_session.py). Live updates during a
stroke: the canvas reports changes at most ~30 times a second and the page starts a short timer
(prediction_delay_ms) on the first report that is not yet scheduled; the timer is not restarted by
later reports, so predictions keep coming while the pen moves. A stroke's end, undo, redo and clear
predict at once.

Colour models (3 input channels): the canvas switches to RGB output and a colour button appears;
for gray models strokes are black ink, and the core inverts them to the dataset's polarity.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QEvent, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import (QAction, QActionGroup, QIcon,
                           QImage, QKeySequence, QShortcut)
from PySide6.QtWidgets import (QColorDialog, QFileDialog, QFrame, QHBoxLayout, QLabel, QPushButton,
                               QSlider, QToolBar, QToolButton, QVBoxLayout, QWidget)

from cnnstudio.ui.image_input import IMAGE_FILTER, ImageInputMixin
from cnnstudio.ui.qimage import numpy_to_qimage, qimage_to_numpy
from cnnstudio.ui.compose import app_state
from cnnstudio.ui.state import AppState
from cnnstudio.core.inference import Prediction, Predictor
from cnnstudio.ui.sessions.draw_session import TOP_K, DrawSession, OpenedPicture
from cnnstudio.ui.widgets.banner import Banner
from cnnstudio.ui.widgets.canvas import DrawingCanvas
from cnnstudio.ui.widgets.prediction_panel import NO_MODEL, PredictionPanel

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["DrawPage", "NO_MODEL"]



class DrawPage(ImageInputMixin, QWidget):
    """Draw (or open) a picture and see the current model's top classes and its prepared input."""

    modelLoaded = Signal(object)  # the Predictor
    predictionUpdated = Signal(object)  # core.inference.Prediction
    preparedInputChanged = Signal(object)  # uint8 (C, H, W) the model sees, or None when nothing is drawn
    imageError = Signal(str)  # a picture could not be opened or pasted (also shown in the banner)

    def __init__(self, state: AppState | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state or app_state()
        self.session = DrawSession(self.state, self)
        self.last_prediction: Prediction | None = None
        self.last_prepared: np.ndarray | None = None
        # Coalesce mouse moves for 10 ms: preparing a 560x560 drawing and predicting takes ~4 ms, so
        # this keeps a moving pen to ~60 predictions a second and the latency under 20 ms.
        self.prediction_delay_ms = 10
        self._image: Image.Image | np.ndarray | None = None  # the opened picture in picture mode
        self._image_name = ""
        self._image_error_shown = False

        self.banner = Banner()
        self.canvas = DrawingCanvas()
        self.setAcceptDrops(True)
        self._build_ui()

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.request_prediction)
        self.canvas.strokeChanged.connect(self._schedule_prediction)
        self.canvas.imageChanged.connect(self.request_prediction)
        self.canvas.historyChanged.connect(self._update_actions)
        self.canvas.strokeFinished.connect(self._on_stroke_finished)
        session = self.session
        session.modelLoading.connect(self._on_model_loading)
        session.modelChanged.connect(self._on_model_changed)
        session.modelFailed.connect(self._on_model_failed)
        session.predicted.connect(self._publish)
        session.predictionFailed.connect(lambda message: self.banner.show_message(
            f"Prediction failed: {message}", "error"))
        session.imageOpened.connect(self._on_image_opened)
        session.imageFailed.connect(self._on_image_failed)
        self._apply_model_ui()
        self._show_neutral()
        self._update_actions()

    # The model is the app's current model; these read it from the session.
    @property
    def predictor(self) -> Predictor | None:
        return self.session.predictor

    @property
    def checkpoint_path(self) -> str | None:
        return self.session.checkpoint_path

    # -- UI ---------------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.toolbar = QToolBar()
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tools = QActionGroup(self)
        self.pen_action = self._action("Pen", "draw-freehand", "Draw (P)", "P", checkable=True)
        self.eraser_action = self._action("Eraser", "draw-eraser", "Erase (E)", "E", checkable=True)
        for action in (self.pen_action, self.eraser_action):
            tools.addAction(action)
            self.toolbar.addAction(action)
        self.pen_action.setChecked(True)
        self.eraser_action.toggled.connect(self.canvas.set_eraser)

        self.color_button = QToolButton()
        self.color_button.setToolTip("Ink colour (for models that see colour)")
        self.color_button.clicked.connect(self._choose_color)
        self.color_action = self.toolbar.addWidget(self.color_button)
        self.color_action.setVisible(False)
        self._paint_color_button()

        self.toolbar.addSeparator()
        size_label = QLabel(" Size ")
        self.toolbar.addWidget(size_label)
        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setRange(4, 80)
        self.size_slider.setValue(int(self.canvas.brush_size()))
        self.size_slider.setFixedWidth(90)  # the whole toolbar fits beside the panel in a 1024-pixel window
        self.size_slider.setToolTip("Brush size in drawing pixels ( [ and ] change it)")
        self.size_slider.valueChanged.connect(self._on_size)
        self.toolbar.addWidget(self.size_slider)
        self.size_value = QLabel()
        self.size_value.setMinimumWidth(44)
        self.toolbar.addWidget(self.size_value)
        self._on_size(self.size_slider.value())

        self.toolbar.addSeparator()
        self.undo_action = self._action("Undo", "edit-undo", "Undo the last stroke (Ctrl+Z)",
                                        QKeySequence.StandardKey.Undo)
        self.redo_action = self._action("Redo", "edit-redo", "Redo (Ctrl+Shift+Z or Ctrl+Y)",
                                        [QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.clear_action = self._action("Clear", "edit-clear", "Clear the page (Delete or Ctrl+Backspace)",
                                         [QKeySequence(Qt.Key.Key_Delete), QKeySequence("Ctrl+Backspace")])
        self.undo_action.triggered.connect(self.undo)
        self.redo_action.triggered.connect(self.redo)
        self.clear_action.triggered.connect(self.clear)
        for action in (self.undo_action, self.redo_action, self.clear_action):
            self.toolbar.addAction(action)

        # Opening a picture is another way in, not a drawing tool: a button under the canvas, so the tools
        # fit beside the prediction panel in a 1024-pixel window. Ctrl+O works anywhere on the page.
        self.open_action = self._action("Open image…", "document-open",
                                        "Classify a picture file; you can also drop one here or paste (Ctrl+V)",
                                        QKeySequence.StandardKey.Open)
        self.open_action.triggered.connect(self.open_image_dialog)
        self.open_button = QPushButton("Open an image…")
        self.open_button.setToolTip(self.open_action.toolTip() + f" ({self.open_action.shortcut().toString()})")
        self.open_button.clicked.connect(self.open_action.trigger)
        paste = QAction(self)
        paste.setShortcut(QKeySequence.StandardKey.Paste)
        paste.triggered.connect(self.paste)
        self.addAction(paste)
        for key, step in (("[", -4), ("]", 4)):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.activated.connect(lambda s=step: self.size_slider.setValue(self.size_slider.value() + s))

        # Picture mode strip: what is shown instead of the drawing, and the way back.
        self.image_strip = QFrame()
        self.image_strip.setObjectName("imageStrip")
        self.image_strip.setStyleSheet("QFrame#imageStrip { background: rgba(38, 139, 210, 0.14); "
                                       "border-left: 4px solid rgb(38, 139, 210); border-radius: 3px; }")
        strip = QHBoxLayout(self.image_strip)
        strip.setContentsMargins(8, 4, 4, 4)
        self.image_label = QLabel()
        self.image_label.setTextFormat(Qt.TextFormat.PlainText)
        self.back_button = QPushButton("Back to drawing")
        self.back_button.clicked.connect(self.back_to_drawing)
        strip.addWidget(self.image_label, 1)
        strip.addWidget(self.back_button)
        self.image_strip.hide()

        left = QVBoxLayout()
        left.setContentsMargins(0, 0, 0, 0)
        left.addWidget(self.toolbar)
        left.addWidget(self.image_strip)
        left.addWidget(self.canvas, 1)
        below = QHBoxLayout()
        below.addWidget(QLabel("…or classify a picture:"))
        below.addWidget(self.open_button)
        below.addStretch(1)
        left.addLayout(below)

        # Right: the guess, the bars, what the model sees, which model (widgets/prediction_panel.py).
        self.panel = panel = PredictionPanel(TOP_K)
        self.headline, self.bars, self.prepared_view = panel.headline, panel.bars, panel.prepared_view
        self.prepared_caption, self.explain_label = panel.prepared_caption, panel.explain_label
        self.model_label = panel.model_label

        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.addLayout(left, 1)
        body.addWidget(panel)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(10, 8, 10, 8)
        outer.addWidget(self.banner)
        outer.addLayout(body, 1)

    def _action(self, text: str, icon: str, tip: str,
                shortcut: str | QKeySequence | QKeySequence.StandardKey | list[QKeySequence] | None = None,
                checkable: bool = False) -> QAction:
        action = QAction(QIcon.fromTheme(icon), text, self)
        action.setToolTip(tip)
        action.setCheckable(checkable)
        if isinstance(shortcut, list):
            action.setShortcuts(shortcut)
        elif shortcut is not None:
            action.setShortcut(QKeySequence(shortcut) if isinstance(shortcut, str) else shortcut)
        # Shortcuts work while the page is shown, wherever the focus is within the window.
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.addAction(action)
        return action

    def _on_size(self, value: int) -> None:
        self.canvas.set_brush_size(value)
        self.size_value.setText(f"{value} px")

    def _paint_color_button(self) -> None:
        color = self.canvas.color()
        self.color_button.setText("Colour")
        self.color_button.setStyleSheet(
            f"QToolButton {{ border-left: 14px solid {color.name()}; padding-left: 4px; }}")

    def _choose_color(self) -> None:
        color = QColorDialog.getColor(self.canvas.color(), self, "Ink colour")
        if color.isValid():
            self.canvas.set_color(color)
            self._paint_color_button()

    def _update_actions(self) -> None:
        picture = self._image is not None
        self.undo_action.setEnabled(self.canvas.can_undo() and not picture)
        self.redo_action.setEnabled(self.canvas.can_redo() and not picture)
        self.clear_action.setEnabled(picture or not self.canvas.is_empty())
        for action in (self.pen_action, self.eraser_action):
            action.setEnabled(not picture)
        self.size_slider.setEnabled(not picture)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.canvas.setFocus(Qt.FocusReason.OtherFocusReason)

    # -- drawing commands -------------------------------------------------------------------------
    def undo(self) -> None:
        if self._image is None:
            self.canvas.undo()

    def redo(self) -> None:
        if self._image is None:
            self.canvas.redo()

    def clear(self) -> None:
        """Clear the drawing; in picture mode also put the picture away."""
        was_blank = self.canvas.is_empty()
        if self._image is not None:
            self._leave_picture()
        self.canvas.clear()  # emits imageChanged (and so predicts) when something was drawn
        if was_blank:
            self.request_prediction()

    # -- model ------------------------------------------------------------------------------------
    def set_checkpoint(self, path: str | None) -> None:
        """Use this checkpoint (the app's current model: every page follows); modelLoaded follows."""
        self.session.set_checkpoint(path)

    def _on_model_loading(self, path: str) -> None:
        self.model_label.setText(f"Loading {Path(path).name}…")
        if self.predictor is None:
            self._show_neutral()  # "Loading the model…"; with a model shown, it stays until the new one is in

    def _on_model_failed(self, path: str, message: str) -> None:
        self.banner.show_message(f"Could not load the model {Path(path).name}: {message}", "error")
        self._apply_model_ui()  # the previous model, if any, stays
        self._show_neutral()
        if self.predictor is not None:
            self.request_prediction()

    def _on_model_changed(self, predictor: Predictor | None) -> None:
        self._apply_model_ui()
        if predictor is None:
            self._show_neutral()
            return
        self.banner.clear_message()
        self.modelLoaded.emit(predictor)
        self.request_prediction()

    def _apply_model_ui(self) -> None:
        p = self.predictor
        self.panel.show_model(p, None if p is None else p.summary, self.checkpoint_path)
        colour = p is not None and p.framing.channels == 3
        self.canvas.set_color_mode(colour)
        self.color_action.setVisible(colour)

    # -- predictions ------------------------------------------------------------------------------
    def _schedule_prediction(self) -> None:
        """Live updates during a stroke: a short timer, started once and not restarted by later reports."""
        if self.prediction_delay_ms <= 0:
            self.request_prediction()
        elif not self._timer.isActive():
            self._timer.start(self.prediction_delay_ms)

    def request_prediction(self) -> None:
        """Predict the current input now (or right after the prediction in flight)."""
        self._timer.stop()
        self._update_actions()
        if self.predictor is None:
            self._show_neutral()
            return
        if self._image is None and self.canvas.is_empty():
            self.session.clear_prediction()  # a blank page: the neutral state at once, never a guess
            return
        self.session.predict(self._current_input)

    def _current_input(self) -> tuple[Image.Image | np.ndarray, str]:
        """What to predict, read when the prediction starts: the drawing, or the picture shown instead."""
        if self._image is None:
            return self.canvas.to_numpy(), "drawing"
        return self._image, "image"

    def _publish(self, prediction: Prediction) -> None:
        self.last_prediction = prediction
        pixels = prediction.pixels
        changed = not (pixels is None and self.last_prepared is None)
        self.last_prepared = pixels
        if prediction.empty or self.predictor is None:
            self._show_neutral()
        else:
            self.panel.show_prediction(prediction, self.predictor)
        if changed:
            self.preparedInputChanged.emit(pixels)
        self.predictionUpdated.emit(prediction)

    def _show_neutral(self) -> None:
        """No guess: no model yet, a model loading, or nothing drawn."""
        self.panel.show_neutral(self.predictor, self.session.loading, bool(self.checkpoint_path))
        if self.predictor is None:
            self.canvas.set_hint("Draw a figure here")

    # -- pictures: open, drop, paste --------------------------------------------------------------
    def open_image_dialog(self) -> None:
        settings = QSettings()
        folder = str(settings.value("draw/image_folder", "") or "")
        path, _ = QFileDialog.getOpenFileName(self, "Open an image to classify", folder, IMAGE_FILTER)
        if path:
            settings.setValue("draw/image_folder", str(Path(path).parent))
            self.open_image_file(path)

    def open_image_file(self, path: str) -> None:
        """Open a picture file in the background and classify it; a bad file shows a message (imageError)."""
        self.session.open_image(str(path))

    def _on_image_opened(self, opened: OpenedPicture) -> None:
        self.set_image(opened.image, opened.name, numpy_to_qimage(opened.display).copy())

    def _on_image_failed(self, message: str, details: str = "") -> None:
        self.banner.show_message(message, "error")
        self._image_error_shown = True
        self.imageError.emit(message)

    def _on_stroke_finished(self) -> None:
        if self._image_error_shown:  # the message about a picture has been read: the user draws on
            self._image_error_shown = False
            self.banner.clear_message()

    def set_image(self, image: Image.Image | np.ndarray | QImage, name: str = "pasted image",
                  display: QImage | None = None) -> None:
        """Classify a picture (PIL image, numpy array or QImage) instead of the drawing."""
        if isinstance(image, QImage):
            if display is None:
                display = image
            image = qimage_to_numpy(image)
        if display is None:
            array = np.asarray(image.convert("RGBA")) if hasattr(image, "convert") else np.asarray(image)
            display = numpy_to_qimage(np.ascontiguousarray(array, dtype=np.uint8)).copy()
        self.banner.clear_message()
        self._image_error_shown = False
        self._image, self._image_name = image, name
        self.session.new_context()
        self.canvas.show_image(display if display is not None else QImage())
        self.image_label.setText(f"Showing {name}. Your drawing is kept.")
        self.image_strip.show()
        self.request_prediction()

    def back_to_drawing(self) -> None:
        if self._image is None:
            return
        self._leave_picture()
        self.request_prediction()

    def _leave_picture(self) -> None:
        self._image, self._image_name = None, ""
        self.session.new_context()
        self.canvas.show_image(None)
        self.image_strip.hide()
        self._update_actions()

    def busy(self) -> bool:
        """Whether a model load or a prediction is under way or scheduled (tests wait for False)."""
        return self.session.busy or self._timer.isActive()

    def showing_image(self) -> bool:
        return self._image is not None

    # Paste, drag and drop: ImageInputMixin, through these two hooks.
    def _take_image(self, image, name: str) -> None:
        self.set_image(image, name)

    def _reject_input(self, message: str) -> None:
        self._on_image_failed(message)

    # -- lifecycle --------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop timers and drop late results; the main window then waits for the background calls."""
        self._timer.stop()
        self.session.shutdown()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange and self.last_prediction and not self.last_prediction.empty \
                and self.predictor is not None:
            self.panel.show_prediction(self.last_prediction, self.predictor)  # the headline colour follows the theme
        super().changeEvent(event)
