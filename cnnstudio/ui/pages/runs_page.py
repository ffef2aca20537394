"""The Runs page: every saved run, its curves and settings; compare, rename, delete, open its model.

A view of RunsSession (ui/sessions/runs_session.py), which reads the run folders off the GUI thread and
decides what may be done with them. One selected run shows its charts and a summary of its settings;
several are overlaid, one colour each, listed beside the charts (a checkbox and swatch per run, a filter
box) above a table of their settings that highlights what differs (widgets/run_summary.py).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from PySide6.QtCore import Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QHideEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QMessageBox, QPushButton, QSplitter, QTabWidget, QTextBrowser,
                               QVBoxLayout, QWidget)

from cnnstudio.core.run_compare import RunDetail, RunsComparison, restrict
from cnnstudio.core.runs import RunSummary
from cnnstudio.core.sweep.compare import by_settings
from cnnstudio.core.text import plural
from cnnstudio.ui.sessions.runs_session import RunsListing, RunsSession
from cnnstudio.ui.state import AppState
from cnnstudio.ui.widgets.charts import TrainingCharts
from cnnstudio.ui.widgets.export_dialog import ExportCommandDialog
from cnnstudio.ui.sessions.export_session import ExportSession
from cnnstudio.ui.widgets.model_export_dialog import ModelExportDialog
from cnnstudio.ui.widgets.queue_panel import QueuePanel
from cnnstudio.ui.widgets.rename_dialog import RenameDialog
from cnnstudio.ui.widgets.run_compare import ChartOptions, ComparedRun, RunList
from cnnstudio.ui.widgets.run_summary import NOTHING_HTML, compare_html, compare_title, run_html
from cnnstudio.ui.widgets.runs_table import RunsTable
from cnnstudio.ui.widgets.settings_view import SettingsView

DELETE_TIP = "Delete the selected runs and their checkpoints (Del)"


class RunsPage(QWidget):
    """Public for other code and tests: refresh(), runs, select_paths(), selected_runs(), refreshing,
    open_selected_model(), rename_selected(name), delete_selected(confirm), charts, table, session.
    `refreshed` follows a refresh() once the table shows the runs; `selectionShown` once the charts
    show the selection (its runs are read in the background)."""

    refreshed = Signal()
    selectionShown = Signal(int)  # how many runs the charts now show

    def __init__(self, session: RunsSession):
        super().__init__()
        self.session = session
        session.setParent(self)
        self.state: AppState = session.state
        self.error_dialog: QMessageBox | None = None
        self.rename_dialog: RenameDialog | None = None  # while "Rename…" asks for a name
        self._comparison: RunsComparison | None = None  # the selected runs as read, while several are shown
        self._colors: dict[str, tuple[str, str]] = {}  # their labels and curve colours
        self._build()
        session.listed.connect(self._on_listed)
        session.nothingSelected.connect(self._show_nothing)
        session.runRead.connect(self._show_one)
        session.runsCompared.connect(self._show_many)
        session.problem.connect(self._warn)

    @property
    def runs(self) -> list[RunSummary]:
        return self.session.runs

    @property
    def refreshing(self) -> bool:
        return self.session.refreshing

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

        self.table = RunsTable()
        self.table.itemSelectionChanged.connect(self._on_selection_changed)
        self.table.itemDoubleClicked.connect(lambda *_: self.open_selected_model())

        buttons = QHBoxLayout()
        self.open_button = QPushButton("Use this model")
        self.open_button.setToolTip("Evaluate, Inspect and Draw will use this run's best checkpoint "
                                    "(double-click a run does the same)")
        self.open_button.clicked.connect(self.open_selected_model)
        self.rename_button = QPushButton("Rename…")
        self.rename_button.setToolTip("Rename the run's folder (F2)")
        self.rename_button.clicked.connect(lambda: self.rename_selected())
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setToolTip(DELETE_TIP)
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
        self.model_export_dialog: ModelExportDialog | None = None
        self.selection_label = QLabel()
        self.selection_label.setWordWrap(True)  # a long hint wraps; it never widens the window past 1024 px
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
        self.queue_panel = QueuePanel()
        queue = self.session.queue
        self.queue_panel.startRequested.connect(queue.request_start)
        self.queue_panel.moveRequested.connect(queue.move)
        self.queue_panel.removeRequested.connect(queue.remove)
        queue.changed.connect(self._show_queue)
        self._show_queue()
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
        self.run_list.hiddenChanged.connect(self._show_comparison_text)
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
        # Curves, or the selected runs side by side by their settings (a sweep's trials: which setting mattered).
        self.views = QTabWidget()
        self.views.addTab(chart_side, "Curves")
        self.settings_view = SettingsView()
        self.settings_view.useBest.connect(self.session.use_best)
        self.views.addTab(self.settings_view, "By settings")
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.views)
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
        self._update_buttons([])
        self._show_nothing()

    # ------------------------------------------------------------------------------------------------
    @Slot()
    def refresh(self) -> None:
        """Read the runs folder again (in the background), keeping the selection; `refreshed` follows."""
        self.session.refresh()

    def _on_listed(self, listing: RunsListing) -> None:
        keep = self.table.selected_paths() if listing.select is None else listing.select
        before = self.selected_runs() if listing.live else None
        self.table.show_runs([(run, listing.status(run)) for run in listing.runs], keep)
        n = len(listing.runs)
        where = html.escape(listing.root)
        if n:
            self.hint_label.setText(
                f"<b>{n} run{'s' if n != 1 else ''}</b> saved in <code>{where}</code>. Click a run to see its curves; "
                "Ctrl- or Shift-click several to compare them.")
        else:
            self.hint_label.setText(
                "<b>No runs yet.</b> Train a model on the Train page (3  Train): every run is saved here with its "
                f"curves and checkpoints (in <code>{where}</code>).")
        if before is not None and self.selected_runs() == before:
            self._update_buttons(before)  # a live re-read changed nothing shown: no redraw every few seconds
        else:
            self._on_selection_changed()
        self.refreshed.emit()

    def showEvent(self, event: QShowEvent) -> None:
        self.session.watch(True)
        self.refresh()
        super().showEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:
        self.session.watch(False)
        super().hideEvent(event)

    def shutdown(self) -> None:
        self.session.close()

    # ------------------------------------------------------------------------------------------------
    def selected_runs(self) -> list[RunSummary]:
        return self.session.listing.find(self.table.selected_paths())

    def select_paths(self, run_paths: Sequence[str]) -> None:
        """Select these run folders (tests and other pages use it); `selectionShown` follows."""
        self.table.select_paths(run_paths)
        self._on_selection_changed()

    @Slot()
    def _on_selection_changed(self) -> None:
        runs = self.selected_runs()
        self._update_buttons(runs)
        self.session.show(runs)

    def _update_buttons(self, runs: list[RunSummary]) -> None:
        can = self.session.actions(runs)
        self.open_button.setEnabled(can.open_model)
        self.rename_button.setEnabled(can.rename)
        self.delete_button.setEnabled(can.delete)
        self.folder_button.setEnabled(can.show_folder)
        self.command_button.setEnabled(can.command_line)
        self.export_model_button.setEnabled(can.export_model)
        self.delete_button.setToolTip("This run is training: it can be deleted once it has stopped." if can.busy
                                      else DELETE_TIP)
        if len(runs) > 1:
            hidden = self.run_list.filtered_out() if self._comparison is not None else set()
            filtered = len(hidden & {r.name for r in runs})
            self.selection_label.setText(compare_title(len(runs) - filtered, filtered))
        elif len(runs) == 1:
            self.selection_label.setText("Ctrl-click another run to compare")
        else:
            self.selection_label.setText("")

    def _show_queue(self) -> None:
        queue = self.session.queue
        self.queue_panel.show_queue([(entry.id, entry.summary()) for entry in queue.entries], queue.held)

    def _show_nothing(self) -> None:
        self._comparison = None
        self.settings_view.show_compared(None)
        self.run_list.setVisible(False)
        self.charts.clear("Select a run on the left to see its curves")
        self.summary.setHtml(NOTHING_HTML)
        self.selectionShown.emit(0)

    def _show_one(self, detail: RunDetail) -> None:
        self._comparison = None
        self.settings_view.show_compared(None)
        self.run_list.setVisible(False)
        if detail.history is not None:
            self.charts.load_history(detail.history, detail.run.name)
        else:
            self.charts.clear("This run has no curves to show")
        self.summary.setHtml(run_html(detail))
        self.selectionShown.emit(1 if detail.history is not None else 0)

    def _show_many(self, comparison: RunsComparison) -> None:
        self._comparison = None  # set_runs below filters: the text follows once the list is filled
        self.charts.set_hidden_runs(self.run_list.hidden())
        self.charts.overlay([(c.name, c.history, c.label) for c in comparison.curves])
        self._colors = {o["name"]: (o["label"], o["color"]) for o in self.charts.overlay_curves}
        by_name = {c.name: c for c in comparison.curves}
        self.run_list.set_runs([ComparedRun(o["name"], o["label"], o["color"], by_name[o["name"]].test_accuracy,
                                            by_name[o["name"]].best_val_accuracy, by_name[o["name"]].text)
                                for o in self.charts.overlay_curves])
        self.run_list.setVisible(True)
        self._comparison = comparison
        self._show_comparison_text()
        self.selectionShown.emit(len(comparison.curves))

    def _show_comparison_text(self, *_hidden: object) -> None:
        """The settings table and the count: only the selected runs the list's filter lets through."""
        comparison = self._comparison
        if comparison is None:
            return
        filtered = self.run_list.filtered_out()
        shown = restrict(comparison, {r.name for r in comparison.runs} - filtered)
        self.summary.setHtml(compare_html(shown, self._colors, len(filtered)))
        self.settings_view.show_compared(by_settings(shown.runs))
        self._update_buttons(self.selected_runs())

    # ------------------------------------------------------------------------------------------------
    @Slot()
    def open_selected_model(self) -> bool:
        """Make the selected run's best checkpoint (else last.pt) the one Evaluate/Inspect/Draw use."""
        runs = self.selected_runs()
        return len(runs) == 1 and self.session.open_model(runs[0])

    def rename_selected(self, new_name: str | None = None) -> bool:
        """Rename the selected run's folder to `new_name` (True once renamed); with none, open the rename
        dialog (`rename_dialog`, False here), which stays open with what was typed until a name is taken.
        The table follows (`refreshed`), the renamed run selected."""
        runs = self.selected_runs()
        if len(runs) != 1:
            return False
        run = runs[0]
        if new_name is not None:
            return self.session.rename(run, new_name)
        if self.session.may_rename(run):
            self.rename_dialog = dialog = RenameDialog(run.name, lambda name: self.session.try_rename(run, name), self)
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.finished.connect(lambda _r: setattr(self, "rename_dialog", None))
            dialog.open()
        return False

    def delete_selected(self, confirm: bool = True) -> bool:
        """Delete the selected runs (after a confirmation unless confirm=False); never a training one."""
        return self.session.delete(self.selected_runs(), self._confirm_delete if confirm else None)

    def _confirm_delete(self, runs: Sequence[RunSummary]) -> bool:
        names = "\n".join(f"  {r.name}" for r in runs[:10]) + ("\n  …" if len(runs) > 10 else "")
        whose = "its" if len(runs) == 1 else "their"
        answer = QMessageBox.question(
            self, "Delete run" if len(runs) == 1 else "Delete runs",
            f"Delete {plural(len(runs), 'run')} and {whose} checkpoints?\n\n{names}\n\nThis cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    @Slot()
    def export_command_line(self) -> ExportCommandDialog | None:
        """Show the selected run's configuration as a command line / torchrun launcher."""
        runs = self.selected_runs()
        config = self.session.command_config(runs[0]) if len(runs) == 1 else None
        if config is None:
            return None
        dialog = ExportCommandDialog(config, self)
        dialog.open()
        return dialog

    def export_model_dialog(self) -> ModelExportDialog | None:
        """"Export model…" for the selected run's best checkpoint (else its last.pt)."""
        runs = self.selected_runs()
        target = self.session.export_target(runs[0]) if len(runs) == 1 else None
        if target is None:
            return None
        path, what = target
        self.model_export_dialog = ModelExportDialog(ExportSession(self.state), path, what, self)
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
