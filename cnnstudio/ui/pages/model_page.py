"""Step 2, Model: pick a preset architecture or edit one layer by layer, with live shapes.

This module is the view: the spec being edited, the recommendation for the data, the proposal when a new
dataset does not suit the chosen model, and opening and saving specs live in ModelSession
(cnnstudio/ui/sessions/model_session.py). After every edit the table shows each layer's output shape,
parameters and size arithmetic; a layer that breaks the network is marked in the table and named in a
banner.

Nothing here imports torch: the page works (and the table fills) while torch is still loading.
"""

from __future__ import annotations

import copy
import html
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (QFileDialog, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QMenu, QMessageBox,
                               QPushButton, QSizePolicy, QSplitter, QToolButton, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout, QWidget)

from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.models import LAYER_TYPES, ShapeReport, get_preset
from cnnstudio.ui.sessions.model_session import ModelSession
from cnnstudio.ui.state import AppState
from cnnstudio.ui.widgets.section_title import page_header
from cnnstudio.ui.widgets.backbone_panel import BackbonePanel
from cnnstudio.ui.widgets.banner import Banner, show_error_dialog
from cnnstudio.ui.widgets.layer_form import LayerForm
from cnnstudio.ui.widgets.layer_table import COL_LABEL, ERROR_TINT, LayerTable

if TYPE_CHECKING:
    from cnnstudio.core.models.spec import ModelSpec

__all__ = ["ModelPage", "ERROR_TINT", "params_text"]  # ERROR_TINT: the table's error tint, re-exported


def params_text(n: int) -> str:
    """1234567 -> "1.23 M"; 2090 -> "2,090"."""
    if n >= 1_000_000:
        return f"{n / 1e6:.2f} M"
    return f"{n:,}"


class ModelPage(QWidget):
    # A new dataset that the chosen model does not suit: (the question, the preset proposed); ("", "")
    # once answered or out of date. The main window shows it in a bar above every page.
    proposalChanged = Signal(str, str)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.session = session = ModelSession(state, self)
        self.last_error = ""  # the last error shown in a dialog (tests read it)
        self._build_ui()
        self._fill_presets()
        session.edited.connect(self._on_edited)
        session.presetChosen.connect(self._mark_preset)
        session.customized.connect(self._show_custom)
        session.fileLoaded.connect(self._show_file)
        session.inputChanged.connect(self._on_input_changed)
        session.proposalChanged.connect(self.proposalChanged)
        session.failed.connect(self._error)
        session.start()

    # The decisions are the session's; these read them.
    @property
    def follows_dataset(self) -> bool:
        """True while the architecture was suggested for the dataset rather than chosen by the user."""
        return self.session.auto

    @property
    def proposal(self) -> str | None:
        return self.session.proposal

    @property
    def proposal_text(self) -> str:
        return self.session.proposal_text

    def use_spec(self, spec: ModelSpec, chosen: bool = True) -> None:
        """Show this architecture (a preset's own, or an edited one), e.g. the last session's."""
        self.session.use_spec(spec, chosen)

    # ---------------------------------------------------------------------------------------------
    # layout

    def _build_ui(self) -> None:
        header = page_header("Model", "Pick a ready-made architecture, or change it layer by layer: shapes and "
                                      "parameter counts update as you edit.")

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._build_presets_box())
        splitter.addWidget(self._build_editor_box())
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([300, 700])
        splitter.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 10)
        layout.setSpacing(8)
        layout.addLayout(header)
        layout.addWidget(splitter, 1)

    def _build_presets_box(self) -> QWidget:
        box = QGroupBox("Ready-made architectures")
        layout = QVBoxLayout(box)
        self.presets = QTreeWidget()
        self.presets.setHeaderLabels(["Preset", "Parameters"])
        self.presets.setRootIsDecorated(False)
        self.presets.setUniformRowHeights(True)
        self.presets.setAlternatingRowColors(True)
        self.presets.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.presets.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.presets.header().setStretchLastSection(False)
        self.presets.itemClicked.connect(self._on_preset_clicked)
        self.presets.currentItemChanged.connect(lambda cur, _prev: self._show_preset_description(cur))
        layout.addWidget(self.presets, 2)
        self.preset_description = QLabel()
        self.preset_description.setWordWrap(True)
        self.preset_description.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.preset_description.setTextFormat(Qt.TextFormat.RichText)
        self.preset_description.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        layout.addWidget(self.preset_description, 1)

        files = QHBoxLayout()
        self.open_button = QPushButton("Open JSON…")
        self.open_button.setToolTip("Load an architecture saved as a JSON file.")
        self.open_button.clicked.connect(self._ask_open)
        self.save_button = QPushButton("Save as JSON…")
        self.save_button.setToolTip("Save this architecture to a JSON file (to share it, or to train it from "
                                    "the command line).")
        self.save_button.clicked.connect(self._ask_save)
        files.addWidget(self.open_button)
        files.addWidget(self.save_button)
        layout.addLayout(files)
        box.setMinimumWidth(260)
        return box

    def _build_editor_box(self) -> QWidget:
        self.editor_box = QGroupBox("Architecture")
        layout = QVBoxLayout(self.editor_box)
        self.input_label = QLabel()
        self.input_label.setWordWrap(True)
        layout.addWidget(self.input_label)
        self.banner = Banner()
        layout.addWidget(self.banner)

        self.table = LayerTable()
        self.table.currentCellChanged.connect(lambda row, _c, prev, _p: self._on_row_changed(row, prev))
        layout.addWidget(self.table, 3)

        buttons = QHBoxLayout()
        self.add_button = QToolButton()
        self.add_button.setText("Add layer")
        self.add_button.setToolTip("Insert a new layer after the selected one.")
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.add_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        menu = QMenu(self.add_button)
        menu.setToolTipsVisible(True)
        for ltype in LAYER_TYPES.values():
            action = menu.addAction(ltype.title)
            action.setToolTip(ltype.description)
            action.triggered.connect(lambda _checked=False, t=ltype.name: self.add_layer(t))
        self.add_button.setMenu(menu)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(lambda: self.remove_layer(self.table.currentRow()))
        self.up_button = QPushButton("Move up")
        self.up_button.clicked.connect(lambda: self.move_layer(self.table.currentRow(), -1))
        self.down_button = QPushButton("Move down")
        self.down_button.clicked.connect(lambda: self.move_layer(self.table.currentRow(), +1))
        for w in (self.add_button, self.remove_button, self.up_button, self.down_button):
            buttons.addWidget(w)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        # Its own line: beside the four buttons it made the page too wide for a 1024-pixel screen.
        self.total_label = QLabel()
        self.total_label.setStyleSheet("font-weight: 600;")
        self.total_label.setAlignment(Qt.AlignmentFlag.AlignRight)
        layout.addWidget(self.total_label)

        # Shown while the spec has a pretrained backbone: its stages, and its weights file.
        self.backbone_panel = BackbonePanel(self.session.backbone)
        layout.addWidget(self.backbone_panel, 0)

        form_box = QGroupBox("Selected layer")
        form_layout = QVBoxLayout(form_box)
        self.form = LayerForm()
        self.form.paramChanged.connect(lambda name, value: self.set_layer_param(self.table.currentRow(), name,
                                                                                value, from_form=True))
        form_layout.addWidget(self.form)
        layout.addWidget(form_box, 0)
        return self.editor_box

    # ---------------------------------------------------------------------------------------------
    # presets

    def _fill_presets(self) -> None:
        """(Re)compute every preset's parameter count for the current input, keeping the selection."""
        current = self.presets.currentItem()
        current_name = current.data(0, Qt.ItemDataRole.UserRole) if current is not None else None
        blocker = QSignalBlocker(self.presets)  # clear() would report "no current item" and blank the description
        self.presets.clear()
        recommended = self.recommended_preset()
        for preset, report in self.session.preset_reports():
            count = params_text(report.total_params) if report.ok else "does not fit"
            item = QTreeWidgetItem([preset["name"], count])
            item.setData(0, Qt.ItemDataRole.UserRole, preset["name"])
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            tip = preset["description"] + (f"\n\nProblem for this dataset: {report.error}" if not report.ok else "")
            if preset["name"] == recommended:
                # The model `cnnstudio train` picks for this data without --model: marked, not forced.
                font = item.font(0)
                font.setBold(True)
                item.setFont(0, font)
                item.setIcon(0, _star_icon(self.palette().color(QPalette.ColorRole.Highlight)))
                tip = "Recommended for this data.\n\n" + tip
            item.setToolTip(0, tip)
            item.setToolTip(1, f"{report.total_params:,} trainable parameters" if report.ok else report.error or "")
            self.presets.addTopLevelItem(item)
            if preset["name"] == current_name:
                self.presets.setCurrentItem(item)
        blocker.unblock()
        # The description names the parameter count for this dataset: say it again for the new one.
        if self.presets.currentItem() is not None:
            self._show_preset_description(self.presets.currentItem())
        elif self.session.custom:
            self._show_custom_description()
        # Every preset fits without scrolling; the rest of the column explains the selected one.
        rows = self.presets.sizeHintForRow(0) * self.presets.topLevelItemCount()
        header = self.presets.header().sizeHint().height()
        self.presets.setMaximumHeight(rows + header + 2 * self.presets.frameWidth() + 4)

    def recommended_preset(self) -> str:
        """The preset recommended for the loaded data (the one the command line trains without --model)."""
        return self.session.recommended_preset()

    def preset_rows(self) -> list[tuple[str, str]]:
        """(name, parameter text) per preset as listed (for tests)."""
        items = [self.presets.topLevelItem(i) for i in range(self.presets.topLevelItemCount())]
        return [(item.text(0), item.text(1)) for item in items if item is not None]  # all are, within the count

    def _show_preset_description(self, item: QTreeWidgetItem | None) -> None:
        if item is None:
            self.preset_description.setText("")
            return
        try:
            preset = get_preset(item.data(0, Qt.ItemDataRole.UserRole))
        except CNNStudioError:
            return
        self.preset_description.setText(
            f"<b>{html.escape(preset['name'])}</b> &nbsp;({html.escape(item.text(1))} parameters here)<br>"
            f"{html.escape(preset['description'])}<br><br>"
            f"<span style='color: palette(placeholder-text)'>Good for: "
            f"{html.escape(preset.get('recommended', ''))}</span>")

    def _on_preset_clicked(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        name = item.data(0, Qt.ItemDataRole.UserRole)
        if self.session.custom and self.session.spec.get("layers"):
            answer = QMessageBox.question(
                self, "Replace your edits?",
                f"Switch to {name}? Your edited architecture will be replaced (save it as JSON first to "
                f"keep it).", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                self._show_custom()
                return
        self.select_preset(name)

    def select_preset(self, name: str, auto: bool = False) -> None:
        """Show a preset's architecture (auto: chosen for the dataset, so a dataset change may replace it)."""
        self.session.select_preset(name, auto)

    def _mark_preset(self, preset: str) -> None:
        """Mark the spec's preset in the list, with its description."""
        for i in range(self.presets.topLevelItemCount()):
            item = self.presets.topLevelItem(i)
            if item is not None and item.data(0, Qt.ItemDataRole.UserRole) == preset:  # not None within the count
                with QSignalBlocker(self.presets):
                    self.presets.setCurrentItem(item)
                self._show_preset_description(item)

    def _unmark_presets(self) -> None:
        with QSignalBlocker(self.presets):
            # None: Qt's "no current item", which PySide's stubs leave out.
            self.presets.setCurrentItem(None)  # type: ignore[call-overload]
            self.presets.clearSelection()

    def _show_custom(self) -> None:
        self._unmark_presets()
        self._show_custom_description()

    def _show_custom_description(self) -> None:
        self.preset_description.setText(
            f"<b>Your own architecture</b>, based on {html.escape(self.session.based_on())}.<br><br>"
            f"<span style='color: palette(placeholder-text)'>Click a preset to start over from it; "
            f"Save as JSON keeps your version.</span>")

    def _show_file(self, path: str) -> None:
        self._unmark_presets()
        self.preset_description.setText(
            f"<b>Opened from {html.escape(Path(path).name)}</b><br>"
            f"{html.escape(str(self.session.spec.get('description', '')))}"
            f"<br><br><span style='color: palette(placeholder-text)'>Click a preset to switch to it.</span>")

    # ---------------------------------------------------------------------------------------------
    # editing (the methods tests and menus call)

    def current_spec(self) -> ModelSpec:
        return copy.deepcopy(self.session.spec)

    def is_valid(self) -> bool:
        return self.session.report.ok

    def shape_report(self) -> ShapeReport:
        return self.session.report

    def error_row(self) -> int | None:
        """The table row marked as the problem, or None."""
        report = self.session.report
        return None if report.ok else report.error_index

    def add_layer(self, type_name: str, index: int | None = None) -> int:
        """Insert a new layer of this type at `index` (default: after the selected row); returns its row."""
        if index is None:
            current = self.table.currentRow()
            index = current + 1 if current >= 0 else len(self.session.spec["layers"])
        return self.session.add_layer(type_name, index)

    def remove_layer(self, index: int) -> None:
        self.session.remove_layer(index)

    def move_layer(self, index: int, delta: int) -> None:
        self.session.move_layer(index, delta)

    def set_layer_param(self, index: int, name: str, value: object, from_form: bool = False) -> None:
        """Change one parameter of one layer (None removes an optional parameter)."""
        if not from_form and index == self.table.currentRow() and 0 <= index < len(self.session.spec["layers"]):
            self.form.set_value(name, value)
        self.session.set_layer_param(index, name, value)

    # ---------------------------------------------------------------------------------------------
    # the live shape table

    def _on_edited(self, select_row: int | None) -> None:
        """After every change: redraw the table, the status and the backbone box."""
        self.table.show_layers(self.session.spec.get("layers", []), self.session.report, self.session.num_classes)
        if select_row is not None:
            self._select_row(select_row)
        self._show_status()
        layer = self.session.backbone_layer()  # the box follows the spec's (first) backbone layer
        if layer != self.backbone_panel.layer:
            self.backbone_panel.set_layer(layer)

    def shutdown(self) -> None:
        self.session.shutdown()

    def _select_row(self, row: int) -> None:
        if self.table.rowCount() == 0:
            self._on_row_changed(-1, -1)
            return
        row = max(0, min(row, self.table.rowCount() - 1))
        if self.table.currentRow() == row:
            self._on_row_changed(row, -1)  # same row, new layer: rebuild the form anyway
        else:
            self.table.setCurrentCell(row, COL_LABEL)  # -> _on_row_changed

    def _on_row_changed(self, row: int, _previous: int) -> None:
        layers = self.session.spec.get("layers", [])
        if 0 <= row < len(layers):
            self.form.show_layer(row, layers[row], self.session.num_classes)
        else:
            self.form.show_layer(None, None, self.session.num_classes)
        row, n = self.table.currentRow(), self.table.rowCount()
        self.remove_button.setEnabled(0 <= row < n)
        self.up_button.setEnabled(0 < row < n)
        self.down_button.setEnabled(0 <= row < n - 1)

    def _show_status(self) -> None:
        session, report = self.session, self.session.report
        name = session.spec.get("name") or "model"
        where = f" (from {Path(session.source_file).name})" if session.source_file and not session.custom else ""
        self.editor_box.setTitle(f"Architecture: {name}{where}")
        c_h_w = " x ".join(str(d) for d in session.input_shape)
        self.input_label.setText(f"Input: {c_h_w} images ({session.dataset_title()})   →   output: "
                                 f"{session.num_classes} class scores")
        self.total_label.setText(f"Total: {report.total_params:,} parameters")
        if report.ok:
            self.banner.clear_message()
            self.total_label.setToolTip("")
        else:
            self.banner.show_message(f"This architecture cannot be trained yet. {report.error}", "error")
            self.total_label.setText(f"Total: {report.total_params:,} parameters (up to the problem)")

    def _on_input_changed(self) -> None:
        self._fill_presets()
        self.form.set_num_classes(self.session.num_classes)

    def accept_proposal(self) -> bool:
        """Use the proposed model (it then follows later dataset changes, as a suggested model does)."""
        return self.session.accept_proposal()

    def keep_current(self) -> None:
        """Keep the chosen model for this dataset (not asked again for it)."""
        self.session.keep_current()

    # ---------------------------------------------------------------------------------------------
    # files

    def _ask_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an architecture", str(Path.home()),
                                              "Model files (*.json);;All files (*)")
        if path:
            self.load_json(path)

    def _ask_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the architecture",
                                              str(Path.home() / self.session.file_name()), "Model files (*.json)")
        if path:
            if not Path(path).suffix:
                path += ".json"
            self.save_json(path)

    def load_json(self, path: str | Path) -> bool:
        """Open a spec file; a bad file shows the reason and leaves the current architecture alone."""
        return self.session.load_json(path)

    def save_json(self, path: str | Path) -> bool:
        return self.session.save_json(path)

    def _error(self, title: str, message: str) -> None:
        self.last_error = message
        show_error_dialog(self, title, message)


def _star_icon(color: QColor) -> QIcon:
    """A small star, the recommended preset's mark in the list."""
    pix = QPixmap(14, 14)
    pix.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pix)
    painter.setPen(color)
    font = painter.font()
    font.setPixelSize(13)
    painter.setFont(font)
    painter.drawText(pix.rect(), Qt.AlignmentFlag.AlignCenter, "★")
    painter.end()
    return QIcon(pix)
