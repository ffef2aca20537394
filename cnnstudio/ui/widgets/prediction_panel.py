"""The Draw page's right-hand panel: the guess, its probability bars, what the model sees, and which model.

A view only: it shows a core.inference.Prediction (or the neutral state) for the model it is told about.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from cnnstudio.core.checkpoint import CheckpointSummary
from cnnstudio.core.framing import describe_preparation, explain_preparation
from cnnstudio.core.inference import Prediction, Predictor
from cnnstudio.ui.widgets.muted import muted_color, paint_muted
from cnnstudio.ui.widgets.prediction import PixelView, ProbabilityBars, format_probability
from cnnstudio.ui.widgets.section_title import section_title

NO_MODEL = "Train a model or open one from Runs first"
DRAW_HINT = "Draw a figure to see what the model thinks"
UNSURE = 0.5  # below this top probability the headline says "not sure"


class PredictionPanel(QFrame):
    """The guess and the bars of the top classes, the prepared input pixel for pixel, the model's line."""

    def __init__(self, top_k: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("predictionPanel")
        self.setFixedWidth(310)
        right = QVBoxLayout(self)
        right.setContentsMargins(12, 8, 4, 8)
        self.headline = QLabel()
        self.headline.setWordWrap(True)
        self.headline.setTextFormat(Qt.TextFormat.RichText)
        self.headline.setMinimumHeight(56)
        self.headline.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.bars = ProbabilityBars(top_k)
        self.prepared_view = PixelView()
        self.prepared_view.setFixedHeight(172)
        self.prepared_caption = QLabel()
        self.prepared_caption.setWordWrap(True)
        self.prepared_caption.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.prepared_caption.setMinimumHeight(2 * self.fontMetrics().lineSpacing() + 4)
        self.explain_label = QLabel()
        self.explain_label.setWordWrap(True)
        self.explain_label.setTextFormat(Qt.TextFormat.PlainText)
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.model_label.setTextFormat(Qt.TextFormat.PlainText)
        self._muted = [self.prepared_caption, self.explain_label, self.model_label]
        self._apply_muted()
        right.addWidget(section_title("Prediction"))
        right.addWidget(self.headline)
        right.addWidget(self.bars)
        right.addSpacing(16)
        right.addWidget(section_title("What the model sees"))
        right.addWidget(self.prepared_view)
        right.addWidget(self.prepared_caption)
        right.addWidget(self.explain_label)
        right.addStretch(1)
        right.addWidget(self.model_label)

    def _apply_muted(self) -> None:
        """Secondary text: the palette's text colour blended towards the background (light and dark themes)."""
        paint_muted(self._muted, muted_color(self, text_weight=0.68))

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "_muted"):
            self._apply_muted()
        super().changeEvent(event)

    def show_model(self, predictor: Predictor | None, summary: CheckpointSummary | None, path: str | None) -> None:
        """The model's line: its name, what it was trained on, its classes and input."""
        if predictor is None or summary is None:
            self.model_label.setText("No model loaded.")
            self.model_label.setToolTip("")
            return
        dataset = summary.dataset_title if summary.dataset_name or summary.dataset_title != "its dataset" else ""
        c, h, w = predictor.input_shape
        self.model_label.setText(f"Model: {summary.model_name}" + (f" · trained on {dataset}" if dataset else "")
                                 + f"\n{len(predictor.classes)} classes · input {c}×{h}×{w}")
        self.model_label.setToolTip(path or "")

    def show_prediction(self, prediction: Prediction, predictor: Predictor) -> None:
        label, p = prediction.top[0]
        pct = format_probability(p)
        highlight = self.palette().color(QPalette.ColorRole.Highlight).name()
        if p >= UNSURE:
            self.headline.setText(f"<span style='font-size:22px; font-weight:600; color:{highlight}'>"
                                  f"{_html(label)}</span>&nbsp;&nbsp;<span style='font-size:15px'>{pct}</span>")
        else:
            self.headline.setText(f"<span style='font-size:15px'>Not sure. Maybe </span>"
                                  f"<span style='font-size:20px; font-weight:600; color:{highlight}'>"
                                  f"{_html(label)}</span>&nbsp;<span style='font-size:14px'>({pct})</span>")
        self.bars.set_rows(prediction.top)
        self.prepared_view.set_pixels(prediction.pixels)
        self.prepared_caption.setText(describe_preparation(predictor.framing, prediction.inverted))
        self.explain_label.setText(explain_preparation(predictor.framing, prediction.inverted))

    def show_neutral(self, predictor: Predictor | None, loading: bool, has_checkpoint: bool) -> None:
        """No guess: no model yet, a model loading, or nothing drawn."""
        if predictor is None:
            text = "Loading the model…" if loading else NO_MODEL
            self.headline.setText(f"<span style='font-size:14px'>{text}</span>")
            self.bars.clear("The classes and their probabilities appear here.")
            self.prepared_view.set_placeholder("")
            self.prepared_caption.setText("")
            self.explain_label.setText("")
            if not loading and not has_checkpoint:
                self.model_label.setText("No model loaded.")
        else:
            self.headline.setText(f"<span style='font-size:14px'>{DRAW_HINT}</span>")
            self.bars.clear()
            c, h, w = predictor.input_shape
            self.prepared_caption.setText(f"{w}×{h} input: nothing drawn yet")
            classes = predictor.classes
            known = ", ".join(classes[:12]) + (f" and {len(classes) - 12} more" if len(classes) > 12 else "")
            self.explain_label.setText(f"This model knows {len(classes)} classes: {known}.")
        self.prepared_view.set_pixels(None)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
