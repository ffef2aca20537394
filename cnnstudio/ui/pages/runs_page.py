"""The Runs page: every saved run, its curves and settings; compare, rename, delete, open its model.

Reading run folders is cnnstudio.core.runs (Qt-free, never raises for a damaged folder); this page
shows what it reads. One selected run shows its charts and a summary of its settings; several are
overlaid, one colour each, listed beside the charts (a checkbox and swatch per run, a filter box) above
a table of their settings that highlights what differs.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal, Slot
from PySide6.QtGui import QBrush, QColor, QDesktopServices, QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QInputDialog, QLabel, QLineEdit,
                               QMessageBox, QPushButton, QSplitter, QTextBrowser, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout, QWidget)

from cnnstudio.core import paths
from cnnstudio.core.runs import (RunError, RunSummary, delete_run, list_runs, load_history,
                                 remove_orphaned_temp_files, rename_run, run_label)
from cnnstudio.ui.state import AppState
from cnnstudio.ui.training_worker import active_run_dirs
from cnnstudio.ui.widgets.charts import TrainingCharts
from cnnstudio.ui.widgets.queue_panel import QueuePanel
from cnnstudio.ui.widgets.run_compare import ChartOptions, ComparedRun, RunList

COLUMNS = ["Name", "Dataset", "Model", "Date", "Epochs", "Best val. acc.", "Test acc.", "Status"]
STATUS_TEXT = {"finished": "Finished", "early-stopped": "Stopped early", "stopped": "Stopped (can continue)",
               "failed": "Failed", "incomplete": "Incomplete", "damaged": "Damaged", "training": "Training…"}
# Settings compared side by side when several runs are selected.
# Setting names never wrap: a narrow panel broke them into fragments ("Augmentatio / n"); the panel
# scrolls sideways instead.
TITLE_CELL = "color:gray; white-space:nowrap; padding-right:6px"
CELL = "padding:2px 6px; white-space:nowrap;"
DIFFERS = "background: rgba(230,126,34,0.18);"
WIDE_FROM = 4  # from this many runs, the comparison table has a row per run instead of a column
COMPARED = [("model", "Model"), ("dataset", "Dataset"), ("epochs", "Epochs"), ("batch_size", "Batch size"),
            ("optimizer", "Optimizer"), ("lr", "Learning rate"), ("schedule", "LR schedule"),
            ("weight_decay", "Weight decay"), ("label_smoothing", "Label smoothing"), ("val_split", "Validation split"),
            ("augment", "Augmentation"), ("early_stopping_patience", "Early stopping"), ("class_weights", "Class weights"), ("seed", "Seed"),
            ("limit_train", "Training images"), ("precision", "Precision"), ("device", "Device")]


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f} %"


def _setting_text(key: str, value: Any) -> str:
    """A setting as shown in the summary; a hand-edited or damaged value shows as "(unreadable)"."""
    try:
        return _format_setting(key, value)
    except (ValueError, TypeError, OverflowError, AttributeError):  # "1e999" as an int, text as a count...
        return "(unreadable)"


def _format_setting(key: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "on" if value else "off"
    if key == "augment" and isinstance(value, dict):
        from cnnstudio.core.training.config import Augmentation, augmentation_text

        return augmentation_text(Augmentation.from_dict(value))  # a run from another version: what we know of it
    if key == "val_split" and isinstance(value, (int, float)):
        return f"{100 * value:.0f} %"
    if key == "limit_train":
        return "all" if not value else f"{value:,}"
    if key == "early_stopping_patience":
        return "off" if not value else f"{value} epochs"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _run_settings(run: RunSummary) -> dict[str, Any]:
    """The run's config with what it really used (model, dataset, precision, device) in place of the
    requested values: what the summary, the comparison table and the filter show."""
    cfg = dict(run.config)
    cfg.update({"model": run.model, "dataset": run.dataset, "precision": run.precision, "device": run.device})
    return cfg


def _search_text(run: RunSummary) -> str:
    """What the run list's filter matches besides the label: model, dataset and every setting's text."""
    cfg = _run_settings(run)
    return " ".join(_setting_text(key, cfg.get(key)) for key, _title in COMPARED) + f" {run.status}"


class _RunItem(QTreeWidgetItem):
    """A table row that sorts numbers as numbers and dates as dates."""

    def __lt__(self, other: QTreeWidgetItem) -> bool:
        column = self.treeWidget().sortColumn() if self.treeWidget() else 0
        a = self.data(column, Qt.ItemDataRole.UserRole + 1)
        b = other.data(column, Qt.ItemDataRole.UserRole + 1)
        if a is not None and b is not None:
            try:
                return a < b
            except TypeError:
                pass
        return self.text(column).lower() < other.text(column).lower()


class RunsPage(QWidget):
    """Public for other code and tests: refresh(), runs, select_paths(), selected_runs(),
    open_selected_model(), rename_selected(name), delete_selected(confirm), charts, table."""

    refreshed = Signal()
    selectionShown = Signal(int)  # how many runs the charts now show

    def __init__(self, state: AppState):
        super().__init__()
        self.state = state
        self.runs: list[RunSummary] = []
        self.error_dialog: QMessageBox | None = None
        self._build()
        state.runFinished.connect(lambda _result: self.refresh())
        state.trainingActive.connect(lambda _active: self.refresh())

    # ------------------------------------------------------------------------------------------------
    def _build(self) -> None:
        col = QVBoxLayout(self)
        col.setContentsMargins(8, 8, 8, 8)

        top = QHBoxLayout()
        self.hint_label = QLabel()
        self.hint_label.setWordWrap(True)
        self.hint_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top.addWidget(self.hint_label, 1)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Read the runs folder again (F5)")
        self.refresh_button.clicked.connect(self.refresh)
        top.addWidget(self.refresh_button)
        col.addLayout(top)

        self.table = QTreeWidget()
        self.table.setColumnCount(len(COLUMNS))
        self.table.setHeaderLabels(COLUMNS)
        self.table.setRootIsDecorated(False)
        self.table.setUniformRowHeights(True)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(3, Qt.SortOrder.DescendingOrder)
        header = self.table.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, len(COLUMNS)):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._on_selection_changed)
        self.table.itemDoubleClicked.connect(lambda *_: self.open_selected_model())

        buttons = QHBoxLayout()
        self.open_button = QPushButton("Use this model")
        self.open_button.setToolTip("Evaluate, Inspect and Draw will use this run's best checkpoint (double-click a run "
                                    "does the same)")
        self.open_button.clicked.connect(self.open_selected_model)
        self.rename_button = QPushButton("Rename…")
        self.rename_button.setToolTip("Rename the run's folder (F2)")
        self.rename_button.clicked.connect(lambda: self.rename_selected())
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setToolTip("Delete the selected runs and their checkpoints (Del)")
        self.delete_button.clicked.connect(lambda: self.delete_selected())
        self.folder_button = QPushButton("Show folder")
        self.folder_button.setToolTip("Open the run's folder in the file manager")
        self.folder_button.clicked.connect(self.show_folder)
        self.command_button = QPushButton("Command line…")
        self.command_button.setToolTip("This run's settings as a `cnnstudio train` command, or for torchrun on "
                                       "several GPUs and machines")
        self.command_button.clicked.connect(self.export_command_line)
        self.export_model_button = QPushButton("Export model…")
        self.export_model_button.setToolTip("Save the run's best model as ONNX (optionally INT8) or TorchScript, "
                                            "checked against PyTorch, to use it outside CNN Studio")
        self.export_model_button.clicked.connect(self.export_model_dialog)
        self.model_export_dialog = None
        self.selection_label = QLabel()
        self.selection_label.setStyleSheet("color: palette(placeholder-text);")
        for b in (self.open_button, self.rename_button, self.delete_button, self.folder_button, self.command_button,
                  self.export_model_button):
            buttons.addWidget(b)
        buttons.addSpacing(12)
        buttons.addWidget(self.selection_label, 1)

        upper = QWidget()
        ul = QVBoxLayout(upper)
        ul.setContentsMargins(0, 0, 0, 0)
        ul.addWidget(self.table, 1)
        ul.addLayout(buttons)
        self.queue_panel = QueuePanel(self.state.queue)
        ul.addWidget(self.queue_panel)

        self.charts = TrainingCharts()
        self.chart_options = ChartOptions(smoothing=self.charts.smoothing)
        self.chart_options.smoothingChanged.connect(self.charts.set_smoothing)
        self.chart_options.logLossChanged.connect(self.charts.set_log_loss)
        self.chart_options.xAxisChanged.connect(self.charts.set_x_axis)
        chart_side = QWidget()
        cl = QVBoxLayout(chart_side)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(self.chart_options)
        cl.addWidget(self.charts, 1)

        self.run_list = RunList()
        self.run_list.hiddenChanged.connect(self.charts.set_hidden_runs)
        self.run_list.setVisible(False)  # only while several runs are compared
        self.summary = QTextBrowser()
        self.summary.setOpenExternalLinks(False)
        self.summary.setMinimumWidth(240)
        side = QSplitter(Qt.Orientation.Vertical)
        side.addWidget(self.run_list)
        side.addWidget(self.summary)
        side.setSizes([300, 260])
        side.setChildrenCollapsible(False)
        self._side_split = side
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(chart_side)
        lower.addWidget(side)
        lower.setStretchFactor(0, 1)
        lower.setStretchFactor(1, 0)
        lower.setSizes([640, 360])
        self._lower_split = lower
        lower.setChildrenCollapsible(False)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(upper)
        split.addWidget(lower)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setSizes([170, 560])
        split.setChildrenCollapsible(False)
        col.addWidget(split, 1)

        for key, slot in (("F5", self.refresh), ("F2", lambda: self.rename_selected()),
                          (QKeySequence.StandardKey.Delete, lambda: self.delete_selected())):
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.WindowShortcut)
            sc.activated.connect(slot)
        self._update_buttons()
        self._show_nothing()

    # ------------------------------------------------------------------------------------------------
    @Slot()
    def refresh(self) -> None:
        """Read the runs folder again, keeping the selection."""
        keep = {r.path for r in self.selected_runs()}
        self.runs = list_runs(paths.runs_dir())
        active = active_run_dirs()
        self.table.blockSignals(True)
        self.table.setSortingEnabled(False)
        self.table.clear()
        for run in self.runs:
            self.table.addTopLevelItem(self._make_item(run, run.path in active))
        self.table.setSortingEnabled(True)
        for i in range(self.table.topLevelItemCount()):
            item = self.table.topLevelItem(i)
            if item.data(0, Qt.ItemDataRole.UserRole) in keep:
                item.setSelected(True)
        self.table.blockSignals(False)
        n = len(self.runs)
        where = html.escape(str(paths.runs_dir()))
        if n:
            self.hint_label.setText(
                f"<b>{n} run{'s' if n != 1 else ''}</b> saved in <code>{where}</code>. Click a run to see its curves; "
                "Ctrl- or Shift-click several to compare them.")
        else:
            self.hint_label.setText(
                "<b>No runs yet.</b> Train a model on the Train page (3  Train): every run is saved here with its "
                f"curves and checkpoints (in <code>{where}</code>).")
        self._on_selection_changed()
        self.refreshed.emit()

    def _make_item(self, run: RunSummary, training: bool) -> _RunItem:
        status = "training" if training and run.status in ("incomplete", "damaged") else run.status
        epochs = f"{run.epochs_done}/{run.epochs_planned}" if run.epochs_planned else str(run.epochs_done or "")
        values = [run.name, run.dataset or "", run.model or "", run.date_text, epochs,
                  _pct(run.best_val_accuracy), _pct(run.test_accuracy), STATUS_TEXT.get(status, status)]
        sort_keys = [None, None, None, run.created, run.epochs_done, run.best_val_accuracy or -1.0,
                     run.test_accuracy or -1.0, None]
        item = _RunItem(values)
        item.setData(0, Qt.ItemDataRole.UserRole, run.path)
        for c, key in enumerate(sort_keys):
            if key is not None:
                item.setData(c, Qt.ItemDataRole.UserRole + 1, key)
        for c in (4, 5, 6):
            item.setTextAlignment(c, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        tip = run.path
        if run.problem:
            tip = f"Damaged: {run.problem}\n{run.path}"
            item.setForeground(7, QBrush(QColor("#c0392b")))
        elif run.message:
            tip = f"{run.message}\n{run.path}"
        for c in range(len(values)):
            item.setToolTip(c, tip)
        return item

    def showEvent(self, event) -> None:  # noqa: N802
        self.refresh()
        super().showEvent(event)

    # ------------------------------------------------------------------------------------------------
    def selected_runs(self) -> list[RunSummary]:
        by_path = {r.path: r for r in self.runs}
        out = []
        for item in self.table.selectedItems():
            path = item.data(0, Qt.ItemDataRole.UserRole)
            if path in by_path:
                out.append(by_path[path])
        return out

    def select_paths(self, run_paths: list[str]) -> None:
        """Select these run folders (tests and other pages use it)."""
        wanted = {str(p) for p in run_paths}
        self.table.blockSignals(True)
        self.table.clearSelection()
        for i in range(self.table.topLevelItemCount()):
            item = self.table.topLevelItem(i)
            if item.data(0, Qt.ItemDataRole.UserRole) in wanted:
                item.setSelected(True)
        self.table.blockSignals(False)
        self._on_selection_changed()

    @Slot()
    def _on_selection_changed(self) -> None:
        runs = self.selected_runs()
        self._update_buttons()
        if not runs:
            self._show_nothing()
        elif len(runs) == 1:
            self._show_one(runs[0])
        else:
            self._show_many(runs)

    def _update_buttons(self) -> None:
        runs = self.selected_runs()
        one = len(runs) == 1
        active = active_run_dirs()
        busy = any(r.path in active for r in runs)
        self.open_button.setEnabled(one and (runs[0].has_best or runs[0].has_last))
        self.rename_button.setEnabled(one and not busy)
        self.delete_button.setEnabled(bool(runs) and not busy)
        self.folder_button.setEnabled(one)
        self.command_button.setEnabled(one)
        self.export_model_button.setEnabled(one and (runs[0].has_best or runs[0].has_last))
        if busy:
            self.delete_button.setToolTip("This run is training: stop it on the Train page first.")
        else:
            self.delete_button.setToolTip("Delete the selected runs and their checkpoints (Del)")
        if len(runs) > 1:
            self.selection_label.setText(f"Comparing {len(runs)} runs")
        elif one:
            self.selection_label.setText("Ctrl-click another run to compare")
        else:
            self.selection_label.setText("")

    def _show_nothing(self) -> None:
        self.run_list.setVisible(False)
        self.charts.clear("Select a run on the left to see its curves")
        self.summary.setHtml("<p style='color: gray'>Select a run to see its curves and settings here.</p>")
        self.selectionShown.emit(0)

    def _show_one(self, run: RunSummary) -> None:
        if run.path not in active_run_dirs():
            # Saves killed half-way leave hidden temporary files (tens of MB for a checkpoint). A minute's
            # age keeps this away from a save in flight by another process.
            remove_orphaned_temp_files(run.path, min_age_s=60)
        self.run_list.setVisible(False)
        problem = run.problem
        history = None
        if not problem:
            try:
                history = load_history(run.path)
            except RunError as exc:
                problem = str(exc)
        if history is not None:
            self.charts.load_history(history, run.name)
        else:
            self.charts.clear("This run has no curves to show")
        self.summary.setHtml(self._summary_html(run, problem))
        self.selectionShown.emit(1 if history is not None else 0)

    def _show_many(self, runs: list[RunSummary]) -> None:
        shown: list[tuple[str, dict]] = []
        skipped = []
        for run in runs:
            try:
                if run.problem:
                    raise RunError(run.problem)
                shown.append((run.name, load_history(run.path), run_label(run)))
            except RunError:
                skipped.append(run.name)
        self.charts.set_hidden_runs(self.run_list.hidden())
        self.charts.overlay(shown)
        colors = {o["name"]: (o["label"], o["color"]) for o in self.charts.overlay_curves}
        by_name = {r.name: r for r in runs}
        self.run_list.set_runs([ComparedRun(o["name"], o["label"], o["color"], by_name[o["name"]].test_accuracy,
                                            by_name[o["name"]].best_val_accuracy, _search_text(by_name[o["name"]]))
                                for o in self.charts.overlay_curves])
        self.run_list.setVisible(True)
        self.summary.setHtml(self._compare_html([r for r in runs if r.name not in skipped], skipped, colors))
        self.selectionShown.emit(len(shown))

    def _summary_html(self, run: RunSummary, problem: str | None) -> str:
        e = html.escape
        rows = []
        if problem:
            rows.append(f"<p style='color:#c0392b'><b>This run folder is damaged:</b> {e(problem)}</p>")
        status = STATUS_TEXT.get(run.status, run.status)
        rows.append(f"<h3 style='margin-bottom:2px'>{e(run.name)}</h3><p style='margin-top:0'>{e(status)}"
                    + (f": {e(run.message)}" if run.message else "") + "</p>")
        table = [("Test accuracy", _pct(run.test_accuracy)), ("Best val. accuracy", _pct(run.best_val_accuracy)),
                 ("Epochs", f"{run.epochs_done} of {run.epochs_planned}" if run.epochs_planned else str(run.epochs_done)),
                 ("Parameters", f"{run.params:,}" if run.params else "")]
        cfg = _run_settings(run)
        for key, title in COMPARED:
            if key in ("model", "dataset", "epochs"):
                continue
            if key == "momentum" or (key in cfg and cfg.get(key) is not None):
                table.append((title, _setting_text(key, cfg.get(key))))
        if cfg.get("optimizer") == "sgd":
            table.append(("Momentum", _setting_text("momentum", cfg.get("momentum"))))
        table.append(("Started", run.date_text))
        body = "".join(f"<tr><td style='padding-right:10px; color:gray'>{e(k)}</td><td>{e(v)}</td></tr>"
                       for k, v in table if v not in (None, ""))
        rows.append(f"<table>{body}</table>")
        files = ", ".join(name for name, ok in (("best.pt", run.has_best), ("last.pt", run.has_last)) if ok)
        rows.append(f"<p style='color:gray'>Checkpoints: {e(files) or 'none'}<br>{e(run.path)}</p>")
        return "".join(rows)

    def _compare_html(self, runs: list[RunSummary], skipped: list[str],
                      colors: dict[str, tuple[str, str]] | None = None) -> str:
        """A table of the runs' results and settings, highlighting what differs. Up to WIDE_FROM - 1 runs
        have a column each; more have a row each (a column per run breaks names into letters) with only
        the settings that differ as columns, and the shared ones in one line above."""
        e = html.escape
        colors = colors or {}
        out = [f"<h3>Comparing {len(runs)} runs</h3>"]
        if skipped:
            out.append(f"<p style='color:#c0392b'>Not shown (damaged): {e(', '.join(skipped))}</p>")
        settings = []  # (title, [value per run], differs)
        for key, title in COMPARED:
            values = []
            for r in runs:
                cfg = _run_settings(r)
                values.append(_setting_text(key, cfg.get(key)))
            settings.append((title, values, len(set(values)) > 1))
        labels = []
        for r in runs:
            label, color = colors.get(r.name, (run_label(r), ""))
            swatch = f"<span style='color:{color}'>&#9644;</span> " if color else ""
            labels.append(f"{swatch}{e(label)}")
        results = [("Test accuracy", [_pct(r.test_accuracy) for r in runs]),
                   ("Best val. accuracy", [_pct(r.best_val_accuracy) for r in runs])]
        if len(runs) >= WIDE_FROM:
            out.append(self._runs_as_rows(labels, results, settings))
            return "".join(out)
        lines = ["<tr><td></td>" + "".join(f"<th style='{CELL}' align='left'>{label}</th>" for label in labels)
                 + "</tr>"]
        for title, values in results:
            lines.append(f"<tr><td style='{TITLE_CELL}'>{e(title)}</td>"
                         + "".join(f"<td style='{CELL}'><b>{e(v)}</b></td>" for v in values) + "</tr>")
        for title, values, differs in settings:
            style = DIFFERS if differs else ""
            lines.append(f"<tr style='{style}'><td style='{TITLE_CELL}'>{e(title)}</td>"
                         + "".join(f"<td style='{CELL}'>{e(v)}</td>" for v in values) + "</tr>")
        out.append("<table cellspacing='0'>" + "".join(lines) + "</table>")
        out.append("<p style='color:gray'>Highlighted rows differ between the runs. Solid lines: validation; "
                   "dashed: training. Hover a chart to read every run's value.</p>")
        return "".join(out)

    @staticmethod
    def _runs_as_rows(labels: list[str], results: list[tuple[str, list[str]]],
                      settings: list[tuple[str, list[str], bool]]) -> str:
        e = html.escape
        same = [f"{e(title)} <b>{e(values[0])}</b>" for title, values, differs in settings
                if not differs and values and values[0]]
        differing = [(title, values) for title, values, differs in settings if differs]
        head = "".join(f"<th style='{CELL}' align='left'>{e(t)}</th>" for t, _ in results)
        head += "".join(f"<th style='{CELL} {DIFFERS}' align='left'>{e(t)}</th>" for t, _ in differing)
        lines = [f"<tr><th></th>{head}</tr>"]
        for i, label in enumerate(labels):
            cells = "".join(f"<td style='{CELL}'><b>{e(v[i])}</b></td>" for _, v in results)
            cells += "".join(f"<td style='{CELL} {DIFFERS}'>{e(v[i])}</td>" for _, v in differing)
            lines.append(f"<tr><td style='{CELL}'>{label}</td>{cells}</tr>")
        parts = []
        if same:
            parts.append("<p><span style='color:gray'>The same in every run:</span> " + " &middot; ".join(same)
                         + "</p>")
        parts.append("<table cellspacing='0'>" + "".join(lines) + "</table>")
        parts.append("<p style='color:gray'>Highlighted columns are the settings that differ. Solid lines: "
                     "validation; dashed: training. Hover a chart to read every run's value.</p>")
        return "".join(parts)

    # ------------------------------------------------------------------------------------------------
    @Slot()
    def open_selected_model(self) -> bool:
        """Make the selected run's best checkpoint (else last.pt) the one Evaluate/Inspect/Draw use."""
        runs = self.selected_runs()
        if len(runs) != 1:
            return False
        run = runs[0]
        path = run.best_checkpoint or run.last_checkpoint
        if path is None:
            self._warn("No checkpoint in this run", f"'{run.name}' has no best.pt or last.pt to open.")
            return False
        self.state.set_checkpoint(path)
        self.state.message.emit(f"Evaluate, Inspect and Draw now use {run.name} ({Path(path).name}).")
        return True

    def rename_selected(self, new_name: str | None = None) -> bool:
        """Rename the selected run's folder; asks for the name when none is given."""
        runs = self.selected_runs()
        if len(runs) != 1:
            return False
        run = runs[0]
        if run.path in active_run_dirs():
            self._warn("Cannot rename", "This run is training; stop it first.")
            return False
        if new_name is None:
            text, ok = QInputDialog.getText(self, "Rename run", "New name for the run folder:",
                                            QLineEdit.EchoMode.Normal, run.name)
            if not ok or text == run.name:
                return False
            new_name = text
        try:
            new_path = rename_run(run.path, new_name)
        except RunError as exc:
            self._warn("Cannot rename", str(exc))
            return False
        self._follow_checkpoint(run.path, str(new_path))
        self.refresh()
        self.select_paths([str(new_path)])
        self.state.message.emit(f"Renamed '{run.name}' to '{new_path.name}'.")
        return True

    def delete_selected(self, confirm: bool = True) -> bool:
        """Delete the selected runs (after a confirmation unless confirm=False); never a training one."""
        runs = self.selected_runs()
        if not runs:
            return False
        active = active_run_dirs()
        busy = [r.name for r in runs if r.path in active]
        if busy:
            self._warn("Cannot delete", f"'{busy[0]}' is training. Stop it on the Train page first.")
            return False
        if confirm:
            names = "\n".join(f"  {r.name}" for r in runs[:10]) + ("\n  …" if len(runs) > 10 else "")
            answer = QMessageBox.question(
                self, "Delete runs", f"Delete {len(runs)} run{'s' if len(runs) > 1 else ''} and their checkpoints?"
                f"\n\n{names}\n\nThis cannot be undone.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                return False
        errors = []
        for run in runs:
            try:
                delete_run(run.path, paths.runs_dir())
            except RunError as exc:
                errors.append(str(exc))
                continue
            self._follow_checkpoint(run.path, None)
        self.refresh()
        if errors:
            self._warn("Some runs were not deleted", "\n".join(errors))
        self.state.message.emit(f"Deleted {len(runs) - len(errors)} run(s).")
        return not errors

    def _follow_checkpoint(self, old_dir: str, new_dir: str | None) -> None:
        """Keep state.checkpoint_path valid when its run folder is renamed or deleted."""
        current = self.state.checkpoint_path
        if not current:
            return
        cur = Path(current)
        if cur.parent == Path(old_dir):
            self.state.set_checkpoint(str(Path(new_dir) / cur.name) if new_dir else None)

    @Slot()
    def export_command_line(self):
        """Show the selected run's configuration as a command line / torchrun launcher."""
        from cnnstudio.core.runs import RunError, load_config
        from cnnstudio.core.training.config import TrainConfig
        from cnnstudio.ui.widgets.export_dialog import ExportCommandDialog

        runs = self.selected_runs()
        if len(runs) != 1:
            return None
        try:
            config = TrainConfig.from_dict(load_config(runs[0].path).get("config") or {})
        except (RunError, TypeError, ValueError) as exc:
            QMessageBox.warning(self, "No settings to export", f"This run's settings cannot be read: {exc}")
            return None
        dialog = ExportCommandDialog(config, self)
        dialog.open()
        return dialog

    def export_model_dialog(self):
        """"Export model…" for the selected run's best checkpoint (else its last.pt)."""
        from cnnstudio.ui.widgets.model_export_dialog import ModelExportDialog

        runs = self.selected_runs()
        if len(runs) != 1 or not (runs[0].best_checkpoint or runs[0].last_checkpoint):
            return None
        run = runs[0]
        path = run.best_checkpoint or run.last_checkpoint
        what = f"{run.model or 'The model'} of run {run.name}" + (f", trained on {Path(run.dataset).name or run.dataset}"
                                                                  if run.dataset else "") + "."
        self.model_export_dialog = ModelExportDialog(self.state, str(path), what, self)
        self.model_export_dialog.open()
        return self.model_export_dialog

    def show_folder(self) -> None:
        runs = self.selected_runs()
        if len(runs) == 1:
            QDesktopServices.openUrl(QUrl.fromLocalFile(runs[0].path))

    def _warn(self, title: str, text: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        self.error_dialog = box
        box.finished.connect(lambda _r: setattr(self, "error_dialog", None))
        box.open()
