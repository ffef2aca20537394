"""The Train page's dialogs: the settings as a command line, the learning-rate finder, the sweep,
"Continue a run…".

A mixin of TrainPage (kept apart so the page stays a short view): each opens its dialog non-blocking,
keeps it on the page while it is open (tests and the window read it there) and returns it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from cnnstudio.core.errors import CNNStudioError

if TYPE_CHECKING:
    from cnnstudio.core.training.config import ConfigValues, TrainConfig
    from cnnstudio.ui.sessions.train_session import TrainSession
    from cnnstudio.ui.widgets.export_dialog import ExportCommandDialog
    from cnnstudio.ui.widgets.lr_find_dialog import LrFindDialog
    from cnnstudio.ui.widgets.run_picker import RunPicker
    from cnnstudio.ui.widgets.sweep_dialog import SweepDialog
    from cnnstudio.ui.widgets.train_form import TrainForm


class TrainDialogsMixin:
    if TYPE_CHECKING:  # what the page that mixes this in has
        session: TrainSession
        form: TrainForm
        run_picker: RunPicker | None
        lr_find_dialog: LrFindDialog | None
        sweep_dialog: SweepDialog | None

        def build_config(self, overrides: ConfigValues | None = None) -> TrainConfig: ...

        def resume_from_checkpoint(self, path: str, config_overrides: ConfigValues | None = None) -> bool: ...

        def _show_error(self, title: str, message: str, details: str = "") -> None: ...

    def _page(self) -> QWidget:
        assert isinstance(self, QWidget), "mixed into the Train page, a QWidget"
        return self

    def export_command_line(self) -> ExportCommandDialog | None:
        """Show the current settings as a command line / torchrun launcher (docs/scaling.md)."""
        from cnnstudio.ui.widgets.export_dialog import ExportCommandDialog

        try:
            config = self.build_config()
        except CNNStudioError as exc:
            QMessageBox.warning(self._page(), "Settings not valid", str(exc))
            return None
        dialog = ExportCommandDialog(config, self._page())
        dialog.open()
        return dialog

    def find_learning_rate(self) -> LrFindDialog | None:
        """Open the "Find learning rate" dialog and run the range test on the form's settings; "Use this"
        puts the suggestion into the form. Returns the dialog (None when the settings are refused)."""
        from cnnstudio.ui.sessions.lr_find_session import LrFindSession
        from cnnstudio.ui.widgets.lr_find_dialog import LrFindDialog

        try:
            cfg, dataset = self.session.finder_request(self.form.values())
        except CNNStudioError as exc:
            self._show_error("Cannot find a learning rate", str(exc))
            return None
        self.lr_find_dialog = dialog = LrFindDialog(LrFindSession(self._page()), self._page())
        dialog.lrChosen.connect(self.form.lr_spin.setValue)
        dialog.finished.connect(lambda _r: setattr(self, "lr_find_dialog", None))
        dialog.open()
        dialog.start(cfg, dataset)
        return dialog

    def open_sweep_dialog(self) -> SweepDialog | None:
        """The Sweep dialog over the form's settings: what it varies, how, and how long it takes; Start
        sweep trains its trials here, one after the other (None when the settings are refused)."""
        from cnnstudio.ui.sessions.sweep_session import SweepSession
        from cnnstudio.ui.widgets.sweep_dialog import SweepDialog

        try:
            cfg = self.build_config()
        except CNNStudioError as exc:
            self._show_error("Cannot sweep these settings", str(exc))
            return None
        session = SweepSession.for_config(cfg, self._page())
        self.sweep_dialog = dialog = SweepDialog(session, self.session.state.dataset, self._page())
        dialog.accepted.connect(lambda: self.session.start_sweep(session, dialog.choice().budget_minutes))
        dialog.finished.connect(lambda _r: setattr(self, "sweep_dialog", None))
        dialog.open()
        return dialog

    def _resume_checkpoint_clicked(self) -> None:
        """Pick the run to continue by name, date and accuracy (or any checkpoint file)."""
        from cnnstudio.ui.widgets.run_picker import RunPicker

        picker = RunPicker(self._page())
        picker.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        picker.chosen.connect(self.resume_from_checkpoint)
        self.run_picker = picker
        picker.open()
