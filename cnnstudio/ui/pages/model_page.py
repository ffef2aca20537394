"""Step 2, Model: pick a preset architecture or edit one layer by layer, with live shapes.

The page owns one spec (a plain dict, see cnnstudio.core.models.spec). Every edit re-runs the
torch-free infer_shapes for the loaded dataset's input shape and class count, refreshes the table
(output shape, parameters and the size arithmetic of every layer) and hands the spec to
AppState.set_spec(spec, valid) - so the Train page can refuse to start an architecture that does not
fit. A layer that breaks the network is marked in the table and named in a banner.

Nothing here imports torch: the page works (and the table fills) while torch is still loading.
"""

from __future__ import annotations

import copy
import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (QFileDialog, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QMenu, QMessageBox,
                               QPushButton, QSizePolicy, QSplitter, QToolButton, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout, QWidget)

from cnnstudio.core.datasets import dataset_info, dataset_names
from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.models import (LAYER_TYPES, ShapeReport, get_preset, infer_shapes, list_presets, load_spec,
                                   new_layer, save_spec)
from cnnstudio.core.models.backbones import backbone_layer_index
from cnnstudio.core.models.layer_types import normalize_layer
from cnnstudio.core.training.config import default_config
from cnnstudio.ui.state import AppState
from cnnstudio.ui.widgets.section_title import page_header
from cnnstudio.ui.widgets.backbone_panel import BackbonePanel
from cnnstudio.ui.widgets.banner import Banner, show_error_dialog
from cnnstudio.ui.widgets.layer_form import LayerForm
from cnnstudio.ui.widgets.layer_table import COL_LABEL, ERROR_TINT, LayerTable

__all__ = ["ModelPage", "ERROR_TINT", "params_text"]  # ERROR_TINT: the table's error tint, re-exported

FALLBACK_INPUT = ((1, 28, 28), 10)  # before any dataset is known


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
        self.proposal: str | None = None  # the preset proposed for the new dataset, until answered
        self.proposal_text = ""
        self._kept: tuple[str, str] | None = None  # (dataset, model) the user chose to keep: not asked again
        self.last_error = ""  # the last error shown in a dialog (tests read it)
        self._spec: dict[str, Any] = {"name": "", "description": "", "layers": []}
        self._base: str | None = None  # the preset the spec started from
        self._custom = False  # edited since it was a preset / loaded from a file
        self._auto = True  # the preset was chosen for the dataset, not by the user: follow dataset changes
        self._source_file: str | None = None
        self._report = ShapeReport(input_shape=FALLBACK_INPUT[0], num_classes=FALLBACK_INPUT[1])
        self._input_shape, self._num_classes = self._shape_of_state()
        self._build_ui()
        self._fill_presets()
        state.datasetChanged.connect(self._on_dataset_changed)
        remembered = getattr(state, "remembered_spec", None)
        if remembered is not None:  # the last session's architecture (session_memory.py)
            self.use_spec(*remembered)
        else:
            self.select_preset(default_config(state.dataset_name, data=state.dataset).model, auto=True)
        # The recommendation for the data loaded (None until some is: the first load, e.g. the last session's
        # dataset, does not count as a change of data).
        self._recommended = self.recommended_preset() if state.dataset is not None else None

    @property
    def follows_dataset(self) -> bool:
        """True while the architecture was suggested for the dataset rather than chosen by the user."""
        return self._auto

    def use_spec(self, spec: dict[str, Any], chosen: bool = True) -> None:
        """Show this architecture (a preset's own, or an edited one), e.g. the last session's."""
        name = spec.get("name")
        preset = name if isinstance(name, str) and name in {row[0] for row in self.preset_rows()} else None
        if preset is not None and not chosen:
            self.select_preset(preset, auto=True)
            return
        self._spec = copy.deepcopy(spec)
        self._base = preset
        self._custom = preset is None or spec != self._preset_spec(preset)
        self._auto = False
        self._source_file = None
        self._show_spec(preset)

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
        self.backbone_panel = BackbonePanel()
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

    def _shape_of_state(self) -> tuple[tuple[int, ...], int]:
        ds = self.state.dataset
        if ds is not None:
            return tuple(ds.input_shape), int(ds.num_classes)
        name = self.state.dataset_name
        if name in dataset_names():  # a registered dataset's shape is known without loading it
            info = dataset_info(name)
            return tuple(info.input_shape), len(info.classes)
        return FALLBACK_INPUT

    def _fill_presets(self) -> None:
        """(Re)compute every preset's parameter count for the current input, keeping the selection."""
        current = self.presets.currentItem()
        current_name = current.data(0, Qt.ItemDataRole.UserRole) if current is not None else None
        blocker = QSignalBlocker(self.presets)  # clear() would report "no current item" and blank the description
        self.presets.clear()
        recommended = self.recommended_preset()
        for preset in list_presets():
            report = infer_shapes(preset, self._input_shape, self._num_classes)
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
        elif self._custom:
            self._show_custom_description()
        # Every preset fits without scrolling; the rest of the column explains the selected one.
        rows = self.presets.sizeHintForRow(0) * self.presets.topLevelItemCount()
        self.presets.setMaximumHeight(rows + self.presets.header().sizeHint().height() + 2 * self.presets.frameWidth() + 4)

    def recommended_preset(self) -> str:
        """The preset recommended for the loaded data (the one the command line trains without --model)."""
        return default_config(self.state.dataset_name, data=self.state.dataset).model

    def preset_rows(self) -> list[tuple[str, str]]:
        """(name, parameter text) per preset as listed (for tests)."""
        return [(self.presets.topLevelItem(i).text(0), self.presets.topLevelItem(i).text(1))
                for i in range(self.presets.topLevelItemCount())]

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
        if self._custom and self._spec.get("layers"):
            answer = QMessageBox.question(
                self, "Replace your edits?",
                f"Switch to {name}? Your edited architecture will be replaced (save it as JSON first to "
                f"keep it).", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                with QSignalBlocker(self.presets):
                    self.presets.setCurrentItem(None)
                    self.presets.clearSelection()
                self._show_custom_description()
                return
        self.select_preset(name)

    @staticmethod
    def _preset_spec(name: str) -> dict[str, Any]:
        spec = get_preset(name)
        spec.pop("recommended", None)
        return spec

    def select_preset(self, name: str, auto: bool = False) -> None:
        """Show a preset's architecture (auto: chosen for the dataset, so a dataset change may replace it)."""
        try:
            spec = get_preset(name)
        except CNNStudioError as exc:
            self._error("Unknown architecture", str(exc))
            return
        spec.pop("recommended", None)
        self._set_proposal(None)
        self._spec = spec
        self._base = name
        self._custom = False
        self._auto = auto
        self._source_file = None
        self._show_spec(name)

    def _show_spec(self, preset: str | None) -> None:
        """Mark the spec's preset in the list (with its description) and show the spec's layers."""
        for i in range(self.presets.topLevelItemCount()):
            item = self.presets.topLevelItem(i)
            if item.data(0, Qt.ItemDataRole.UserRole) == preset:
                with QSignalBlocker(self.presets):
                    self.presets.setCurrentItem(item)
                self._show_preset_description(item)
        self._changed(select_row=0)

    # ---------------------------------------------------------------------------------------------
    # editing (the methods tests and menus call)

    def current_spec(self) -> dict[str, Any]:
        return copy.deepcopy(self._spec)

    def is_valid(self) -> bool:
        return self._report.ok

    def shape_report(self) -> ShapeReport:
        return self._report

    def error_row(self) -> int | None:
        """The table row marked as the problem, or None."""
        return None if self._report.ok else self._report.error_index

    def add_layer(self, type_name: str, index: int | None = None) -> int:
        """Insert a new layer of this type at `index` (default: after the selected row); returns its row."""
        layers = self._spec["layers"]
        if index is None:
            current = self.table.currentRow()
            index = current + 1 if current >= 0 else len(layers)
        index = max(0, min(int(index), len(layers)))
        layers.insert(index, new_layer(type_name))
        self._mark_custom()
        self._changed(select_row=index)
        return index

    def remove_layer(self, index: int) -> None:
        layers = self._spec["layers"]
        if not 0 <= index < len(layers):
            return
        del layers[index]
        self._mark_custom()
        self._changed(select_row=min(index, len(layers) - 1))

    def move_layer(self, index: int, delta: int) -> None:
        layers = self._spec["layers"]
        target = index + delta
        if not (0 <= index < len(layers) and 0 <= target < len(layers)):
            return
        layers[index], layers[target] = layers[target], layers[index]
        self._mark_custom()
        self._changed(select_row=target)

    def set_layer_param(self, index: int, name: str, value: Any, from_form: bool = False) -> None:
        """Change one parameter of one layer (None removes an optional parameter)."""
        layers = self._spec["layers"]
        if not 0 <= index < len(layers):
            return
        layer = layers[index]
        if value is None:
            layer.pop(name, None)
        else:
            layer[name] = value
        self._mark_custom()
        if not from_form and index == self.table.currentRow():
            self.form.set_value(name, value)
        self._changed(select_row=None)

    def _mark_custom(self) -> None:
        """The first edit turns a preset into "custom (based on X)"."""
        self._auto = False
        self._set_proposal(None)
        if self._custom:
            return
        self._custom = True
        base = self._base or Path(self._source_file or "model").stem
        self._spec["name"] = f"custom (based on {base})"
        self._spec["description"] = f"Edited from {base}."
        with QSignalBlocker(self.presets):
            self.presets.setCurrentItem(None)
            self.presets.clearSelection()
        self._show_custom_description()

    def _show_custom_description(self) -> None:
        base = self._base or Path(self._source_file or "model").stem
        self.preset_description.setText(
            f"<b>Your own architecture</b>, based on {html.escape(base)}.<br><br>"
            f"<span style='color: palette(placeholder-text)'>Click a preset to start over from it; "
            f"Save as JSON keeps your version.</span>")

    # ---------------------------------------------------------------------------------------------
    # the live shape table

    def _changed(self, select_row: int | None) -> None:
        """After every edit: infer shapes, redraw, publish to the app state."""
        self._report = infer_shapes(self._spec, self._input_shape, self._num_classes)
        self._fill_table()
        if select_row is not None:
            self._select_row(select_row)
        self._show_status()
        self._show_backbone()
        self.state.set_spec(self._spec, self._report.ok)

    def shutdown(self) -> None:
        self.backbone_panel.shutdown()

    def _show_backbone(self) -> None:
        """The backbone box follows the spec's (first) backbone layer; recomputed only when it changes."""
        layer, index = None, backbone_layer_index(self._spec)
        if index is not None:
            try:
                layer = normalize_layer(index, self._spec["layers"][index])
            except CNNStudioError:
                layer = None
        if layer != self.backbone_panel.layer:
            self.backbone_panel.set_layer(layer)

    def _fill_table(self) -> None:
        self.table.show_layers(self._spec.get("layers", []), self._report, self._num_classes)

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
        layers = self._spec.get("layers", [])
        if 0 <= row < len(layers):
            self.form.show_layer(row, layers[row], self._num_classes)
        else:
            self.form.show_layer(None, None, self._num_classes)
        self._update_buttons()

    def _update_buttons(self) -> None:
        row, n = self.table.currentRow(), self.table.rowCount()
        self.remove_button.setEnabled(0 <= row < n)
        self.up_button.setEnabled(0 < row < n)
        self.down_button.setEnabled(0 <= row < n - 1)

    def _show_status(self) -> None:
        name = self._spec.get("name") or "model"
        where = f" (from {Path(self._source_file).name})" if self._source_file and not self._custom else ""
        self.editor_box.setTitle(f"Architecture: {name}{where}")
        c_h_w = " x ".join(str(d) for d in self._input_shape)
        self.input_label.setText(f"Input: {c_h_w} images ({self._dataset_title()})   →   output: "
                                 f"{self._num_classes} class scores")
        self.total_label.setText(f"Total: {self._report.total_params:,} parameters")
        if self._report.ok:
            self.banner.clear_message()
            self.total_label.setToolTip("")
        else:
            self.banner.show_message(f"This architecture cannot be trained yet. {self._report.error}", "error")
            self.total_label.setText(f"Total: {self._report.total_params:,} parameters (up to the problem)")

    def _dataset_title(self) -> str:
        ds = self.state.dataset
        if ds is not None:
            return ds.title
        name = self.state.dataset_name
        return dataset_info(name).title if name in dataset_names() else Path(name).name

    def _on_dataset_changed(self, dataset: Any) -> None:
        self._input_shape, self._num_classes = tuple(dataset.input_shape), int(dataset.num_classes)
        self._fill_presets()
        self.form.set_num_classes(self._num_classes)
        previous, recommended = getattr(self, "_recommended", None), self.recommended_preset()
        self._recommended = recommended
        if self._auto:  # the user has not chosen: suggest what suits the new dataset
            self.select_preset(recommended, auto=True)
            return
        self._changed(select_row=None)
        # The user chose this model for other data: ask (never replace it silently) when the data calls for
        # another one: the recommendation changed with the dataset, or the model does not fit at all.
        current = str(self._spec.get("name") or "your model")
        if current == recommended or (previous in (None, recommended) and self._report.ok) or \
                self._kept == (self.state.dataset_name, current):
            self._set_proposal(None)
            return
        c, h, w = self._input_shape
        why = ("does not fit it" if not self._report.ok else
               "was chosen for other data")
        self._set_proposal(recommended, f"{self._dataset_title()} is {h}x{w} {'grayscale' if c == 1 else 'colour'} "
                                        f"images in {self._num_classes} classes: the model recommended for it is "
                                        f"{recommended}. {current} {why}.")

    def _set_proposal(self, preset: str | None, text: str = "") -> None:
        if preset is None and self.proposal is None:
            return
        self.proposal, self.proposal_text = preset, (text if preset else "")
        self.proposalChanged.emit(self.proposal_text, preset or "")

    def accept_proposal(self) -> bool:
        """Use the proposed model (it then follows later dataset changes, as a suggested model does)."""
        preset = self.proposal
        if preset is None:
            return False
        self.select_preset(preset, auto=True)
        self.state.message.emit(f"Model: {preset}, recommended for {self._dataset_title()}.")
        return True

    def keep_current(self) -> None:
        """Keep the chosen model for this dataset (not asked again for it)."""
        if self.proposal is not None:
            self._kept = (self.state.dataset_name, str(self._spec.get("name") or "your model"))
        self._set_proposal(None)

    # ---------------------------------------------------------------------------------------------
    # files

    def _ask_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an architecture", str(Path.home()),
                                              "Model files (*.json);;All files (*)")
        if path:
            self.load_json(path)

    def _ask_save(self) -> None:
        name = str(self._spec.get("name") or "model")
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name).strip("-") or "model"
        path, _ = QFileDialog.getSaveFileName(self, "Save the architecture", str(Path.home() / f"{safe}.json"),
                                              "Model files (*.json)")
        if path:
            if not Path(path).suffix:
                path += ".json"
            self.save_json(path)

    def load_json(self, path: str | Path) -> bool:
        """Open a spec file; a bad file shows the reason and leaves the current architecture alone."""
        try:
            spec = load_spec(path)
        except CNNStudioError as exc:
            self._error("Could not open the model file", str(exc))
            return False
        except Exception as exc:  # noqa: BLE001 - never a traceback for a bad file
            self._error("Could not open the model file", f"{path}: {exc}")
            return False
        self._set_proposal(None)
        self._spec = spec
        self._base = None
        self._custom = False
        self._auto = False
        self._source_file = str(path)
        with QSignalBlocker(self.presets):
            self.presets.setCurrentItem(None)
            self.presets.clearSelection()
        self.preset_description.setText(
            f"<b>Opened from {html.escape(Path(path).name)}</b><br>{html.escape(str(spec.get('description', '')))}"
            f"<br><br><span style='color: palette(placeholder-text)'>Click a preset to switch to it.</span>")
        self._changed(select_row=0)
        self.state.message.emit(f"Opened {Path(path).name}")
        self.state.fileOpened.emit("architecture", str(path))
        return True

    def save_json(self, path: str | Path) -> bool:
        try:
            save_spec(self._spec, path)
        except CNNStudioError as exc:
            self._error("Could not save the model", str(exc))
            return False
        note = "" if self._report.ok else " (it does not fit the current dataset yet)"
        self.state.message.emit(f"Saved {Path(path).name}{note}")
        return True

    def _error(self, title: str, message: str) -> None:
        self.last_error = message
        self.state.message.emit(title)
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
