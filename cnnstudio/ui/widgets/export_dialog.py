""""Export command line": a run's configuration as `cnnstudio train` / torchrun commands and a launcher.

The text comes from cnnstudio.core.launch, so what the app shows is exactly what the CLI parses. A
custom architecture (not a preset) travels as a JSON file saved beside the launcher script.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QMessageBox, QPlainTextEdit, QPushButton, QSpinBox, QVBoxLayout)

from cnnstudio.core.launch import command_line, launcher_script, torchrun_command
from cnnstudio.core.models.presets import preset_names
from cnnstudio.core.training.config import TrainConfig


def is_custom(config: TrainConfig) -> bool:
    """A spec that is not exactly a preset must be shipped as a JSON file."""
    if config.spec is None:
        return False
    if config.model in preset_names():
        from cnnstudio.core.models.presets import get_preset

        return get_preset(config.model)["layers"] != config.spec.get("layers")
    return True


class ExportCommandDialog(QDialog):
    def __init__(self, config: TrainConfig, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Export command line")
        self.resize(760, 420)
        self.config = config
        self.custom = is_custom(config)
        self.spec_name = f"{(config.spec or {}).get('name') or 'model'}.json".replace(" ", "_")

        intro = QLabel("Run this training headless, or on several GPUs and machines with torchrun "
                       "(see docs/scaling.md). --batch-size is per process.")
        intro.setWordWrap(True)
        self.nproc = QSpinBox()
        self.nproc.setRange(1, 64)
        self.nnodes = QSpinBox()
        self.nnodes.setRange(1, 1024)
        form = QFormLayout()
        form.addRow("Processes (GPUs) per machine", self.nproc)
        form.addRow("Machines", self.nnodes)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        note = QLabel(f"This architecture is custom: save the launcher, and {self.spec_name} is written beside it."
                      if self.custom else "")
        note.setWordWrap(True)

        copy = QPushButton("Copy commands")
        copy.clicked.connect(self.copy)
        save = QPushButton("Save launcher script…")
        save.clicked.connect(self.save_dialog)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(copy)
        row.addWidget(save)
        row.addStretch(1)
        row.addWidget(buttons)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.text, 1)
        layout.addWidget(note)
        layout.addLayout(row)
        self.nproc.valueChanged.connect(self.refresh)
        self.nnodes.valueChanged.connect(self.refresh)
        self.refresh()

    def _spec_path(self) -> str | None:
        return self.spec_name if self.custom else None

    def refresh(self) -> None:
        spec = self._spec_path()
        single = command_line(self.config, spec_path=spec)
        multi = torchrun_command(self.config, self.nproc.value(), self.nnodes.value(), spec_path=spec)
        self.text.setPlainText(f"# one process (this machine)\n{single}\n\n# torchrun\n{multi}\n")

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text.toPlainText())

    def save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save launcher script", "train_cnnstudio.sh",
                                              "Shell scripts (*.sh)")
        if path:
            self.save(path)

    def save(self, path: str) -> Path:
        target = Path(path)
        try:
            target.write_text(launcher_script(self.config, self.nproc.value(), self.nnodes.value(),
                                              spec_path=self._spec_path()))
            target.chmod(0o755)
            if self.custom and self.config.spec is not None:  # custom: the config carries the layer editor's spec
                from cnnstudio.core.models.spec import save_spec

                save_spec(self.config.spec, target.with_name(self.spec_name))
        except OSError as exc:
            QMessageBox.warning(self, "Could not save", f"Could not write {target}: {exc.strerror or exc}")
        return target
