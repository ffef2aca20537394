""""Export model…": a checkpoint as ONNX (optionally INT8), TorchScript or a web page, with the parity
check's figures and the deployment report (widgets/deployment_report.py).

A thin view over an export session (ui/sessions/export_session.py, handed in by the page; the dialog
knows it only as the ModelExporter protocol below): the form builds an ExportRequest, the session runs
the core's export in the background, and the dialog shows its progress, then what the check measured (agreement with
PyTorch, the largest logit difference, INT8's accuracy before and after, the file sizes) and offers
"Open folder". A failed check is shown as a failure, never as done.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject, Qt, QUrl, SignalInstance
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QProgressBar, QPushButton, QRadioButton,
                               QVBoxLayout, QWidget)

from cnnstudio.core.checkpoint import CheckpointSummary
from cnnstudio.ui.values import ExportRequest
from cnnstudio.ui.widgets.deployment_report import DeploymentReportView

if TYPE_CHECKING:  # imports torch: only its type is needed here
    from cnnstudio.core.export.exporter import ExportResult

SUFFIX = {"onnx": ".onnx", "onnx-int8": ".int8.onnx", "torchscript": ".torchscript.pt", "web": "-web"}


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


class ModelExporter(Protocol):
    """What the dialog needs of its session: start and cancel an export, and hear how it went."""

    progress: SignalInstance  # (fraction done, what is happening)
    finished: SignalInstance  # ExportResult (ok or not: the result says)
    failed: SignalInstance  # why nothing was exported
    cancelled: SignalInstance

    @property
    def running(self) -> bool: ...

    def start(self, request: ExportRequest) -> bool: ...

    def cancel(self) -> None: ...

    def setParent(self, parent: QObject | None) -> None: ...


class ModelExportDialog(QDialog):
    def __init__(self, session: ModelExporter, checkpoint: str, description: str = "",
                 parent: QWidget | None = None):
        """session: an ExportSession, which the dialog then owns; description: what the model is, one line
        (describe() makes it from a CheckpointSummary)."""
        super().__init__(parent)
        self.setWindowTitle("Export model")
        self.checkpoint = str(checkpoint)
        self.session = session
        session.setParent(self)  # it lives as long as the dialog
        self.export_result: ExportResult | None = None  # how the last export went (QDialog.result() is Qt's own)
        self._out_edited = False
        self._confirmed: str | None = None  # an existing file the user chose to replace in the file dialog

        about = QLabel((description or "Export the model so it runs outside CNN Studio.")
                       + " After writing, the file is run on test images and compared with PyTorch, and its size, "
                       "speed and accuracy are measured (the deployment report); an export that disagrees is "
                       "reported as failed.")
        about.setWordWrap(True)
        about.setTextFormat(Qt.TextFormat.PlainText)

        self.onnx_radio = QRadioButton("ONNX")
        self.onnx_radio.setToolTip("Runs in onnxruntime (Python, C++, C#, Java, JavaScript, mobile) and converts "
                                   "to most other formats")
        self.torchscript_radio = QRadioButton("TorchScript")
        self.torchscript_radio.setToolTip("Loads with torch.jit.load in Python or LibTorch (C++), without CNN Studio")
        self.web_radio = QRadioButton("Web page")
        self.web_radio.setToolTip("A folder with index.html that runs the model in any browser, with no network: "
                                  "draw, open or drop a picture, or use the camera (onnxruntime-web)")
        self.onnx_radio.setChecked(True)
        group = QButtonGroup(self)
        for b in (self.onnx_radio, self.torchscript_radio, self.web_radio):
            group.addButton(b)
        formats = QHBoxLayout()
        formats.addWidget(self.onnx_radio)
        formats.addWidget(self.torchscript_radio)
        formats.addWidget(self.web_radio)
        formats.addStretch(1)
        self.int8_check = QCheckBox("INT8 (about 4x smaller, faster on CPUs)")
        self.int8_check.setToolTip("Static quantization calibrated on 512 training images; the accuracy before and "
                                   "after is measured on the test images and shown here")
        self.bundle_check = QCheckBox("Also write a predictor folder that needs no PyTorch")
        self.bundle_check.setToolTip("model.onnx, labels.txt and predict.py (onnxruntime, numpy and Pillow only), "
                                     "preparing images exactly as CNN Studio does")
        self.out_edit = QLineEdit()
        self.out_edit.textEdited.connect(lambda _t: setattr(self, "_out_edited", True))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_edit, 1)
        out_row.addWidget(browse)

        form = QFormLayout()
        form.addRow("Format:", formats)
        form.addRow("", self.int8_check)
        form.addRow("", self.bundle_check)
        form.addRow("Save as:", out_row)

        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.hide()
        self.report_view = DeploymentReportView()
        self.report_view.hide()

        self.buttons = QDialogButtonBox()
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.open_button = self.buttons.addButton("Open folder", QDialogButtonBox.ButtonRole.ActionRole)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.export_button.setDefault(True)
        self.open_button.hide()
        self.close_button.hide()
        self.export_button.clicked.connect(self.start)
        self.open_button.clicked.connect(self.open_folder)
        self.cancel_button.clicked.connect(self._cancel_or_close)
        self.close_button.clicked.connect(self.accept)

        layout = QVBoxLayout(self)
        layout.addWidget(about)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.report_view)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.resize(560, 0)

        for signal in (self.onnx_radio.toggled, self.web_radio.toggled, self.int8_check.toggled,
                       self.bundle_check.toggled):
            signal.connect(self._sync)
        self.session.progress.connect(self._on_progress)
        self.session.finished.connect(self._on_finished)
        self.session.failed.connect(self._on_failed)
        self.session.cancelled.connect(self._on_cancelled)
        self._sync()

    # -- the form --------------------------------------------------------------------------------------
    @staticmethod
    def describe(summary: CheckpointSummary) -> str:
        return (f"{summary.model_name}, trained on {summary.dataset_title} ({len(summary.classes)} classes, "
                f"{summary.shape_text}).")

    @property
    def format_key(self) -> str:
        if self.torchscript_radio.isChecked():
            return "torchscript"
        if self.web_radio.isChecked():
            return "web"
        return "onnx-int8" if self.int8_check.isChecked() else "onnx"

    def default_output(self) -> Path:
        path = Path(self.checkpoint)
        return path.with_name(path.stem + SUFFIX[self.format_key])

    def bundle_folder(self) -> Path:
        out = Path(self.out_edit.text().strip() or self.default_output())
        return out.with_name(out.name.split(".")[0] + "-predictor")

    def _sync(self) -> None:
        onnx = self.onnx_radio.isChecked()
        self.int8_check.setEnabled(onnx)
        self.bundle_check.setEnabled(onnx)
        if not onnx:
            self.int8_check.setChecked(False)
            self.bundle_check.setChecked(False)
        if not self._out_edited:
            self.out_edit.setText(str(self.default_output()))
        if self.bundle_check.isChecked():
            self.status.setText(f"The predictor folder will be {self.bundle_folder()}")
        elif not self.session.running and self.export_result is None:
            self.status.setText("")

    def _browse(self) -> None:
        if self.format_key == "web":
            folder = QFileDialog.getExistingDirectory(self, "Write the web page into (a new or empty folder)",
                                                      str(Path(self.out_edit.text()).parent))
            if folder:
                self.out_edit.setText(folder)
                self._out_edited = True
                self._confirmed = None
                self._sync()
            return
        suffix = SUFFIX[self.format_key]
        kind = "ONNX model (*.onnx)" if suffix.endswith(".onnx") else "TorchScript (*.pt)"
        path, _ = QFileDialog.getSaveFileName(self, "Save the exported model as", self.out_edit.text(), kind)
        if path:
            self.out_edit.setText(path)
            self._out_edited = True
            # The file dialog asked before choosing an existing file: replacing it is what the user said.
            self._confirmed = path if Path(path).exists() else None
            self._sync()

    def request(self) -> ExportRequest:
        out = self.out_edit.text().strip() or str(self.default_output())
        fmt = "torchscript" if self.torchscript_radio.isChecked() else "web" if self.web_radio.isChecked() else "onnx"
        return ExportRequest(checkpoint=self.checkpoint, out=out, format=fmt, int8=self.int8_check.isChecked(),
                             bundle=str(self.bundle_folder()) if self.bundle_check.isChecked() else None,
                             overwrite=out == self._confirmed)

    # -- running -------------------------------------------------------------------------------------
    def start(self) -> bool:
        self.export_result = None
        if not self.session.start(self.request()):
            return False
        self._set_running(True)
        self.status.setText("Starting…")
        self.status.setStyleSheet("")
        return True

    def _set_running(self, running: bool) -> None:
        for w in (self.onnx_radio, self.torchscript_radio, self.web_radio, self.out_edit):
            w.setEnabled(not running)
        self.int8_check.setEnabled(not running and self.onnx_radio.isChecked())
        self.bundle_check.setEnabled(not running and self.onnx_radio.isChecked())
        self.export_button.setEnabled(not running)
        self.progress.setVisible(running)
        self.progress.setValue(0)

    def _on_progress(self, fraction: float, text: str) -> None:
        self.progress.setValue(int(round(100 * fraction)))
        self.status.setText(text[:1].upper() + text[1:] + "…")

    def _on_finished(self, result: ExportResult) -> None:
        self.export_result = result
        self._set_running(False)
        self.status.setText(self.result_text(result))
        self.status.setStyleSheet("" if result.ok else "color: #c0392b;")
        if result.report is not None:
            self.report_view.show_report(result.report)
        self.report_view.setVisible(result.report is not None)
        self.open_button.setVisible(True)
        self.cancel_button.hide()
        self.close_button.show()
        self.export_button.setText("Export again")
        self._fit()

    def _fit(self) -> None:
        """Grow to show every line of the result (a dialog does not grow by itself when a label does)."""
        layout = self.layout()
        if layout is not None:  # built in __init__
            layout.activate()
        self.resize(self.width(), max(self.height(), self.sizeHint().height()))

    def _on_failed(self, message: str) -> None:
        self._set_running(False)
        self.status.setText(f"Nothing was exported: {message}")
        self.status.setStyleSheet("color: #c0392b;")
        self._fit()

    def _on_cancelled(self) -> None:
        self._set_running(False)
        self.status.setText("Cancelled; nothing was written.")
        self.status.setStyleSheet("")

    @staticmethod
    def result_text(result: ExportResult) -> str:
        p = result.parity
        head = (f"Exported {Path(result.path).name} ({_size(result.bytes)}) in {result.seconds:.0f} s."
                if result.ok else "Export FAILED its check: the exported file does not compute what the model "
                                  f"computes, so nothing was written to {Path(result.path).name}.")
        lines = [head, (f"Checked on {p.images} {p.source}: top-1 agreement with PyTorch {p.agreement:.2%}, "
                       f"largest logit difference {p.max_abs_diff:.1e}.")]
        if result.int8 is not None:
            q = result.int8
            change = round(-q.drop * 100, 2) + 0.0  # + 0.0: no "-0.00" for an unchanged accuracy
            lines.append(f"INT8: accuracy {q.int8_accuracy:.2%} (fp32 {q.fp32_accuracy:.2%}, "
                         f"{change:+.2f} points) on {q.images:,} test images; "
                         f"{_size(q.int8_bytes)} instead of {_size(q.fp32_bytes)}.")
            if q.drop > 0.01:
                lines.append("INT8 costs more than a point of accuracy here: the fp32 model may be the better choice.")
        if result.bundle:
            lines.append(f"Predictor folder: {result.bundle} (python predict.py IMAGE; see its README.md).")
        if result.ok and result.format == "web":
            lines.append("Open it through a web server: python -m http.server in that folder, then "
                         "http://localhost:8000/ (its README.md says more).")
        if result.card:
            lines.append(f"The deployment report below is also in {Path(result.card).name}, beside the export.")
        return "\n".join(lines)

    def open_folder(self) -> None:
        if self.export_result is not None:
            path = Path(self.export_result.path)
            folder = path if self.export_result.format == "web" else path.parent
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def _cancel_or_close(self) -> None:
        if self.session.running:
            self.session.cancel()
            self.status.setText("Cancelling…")
        else:
            self.reject()

    def closeEvent(self, event) -> None:
        self.session.cancel()  # a running export stops at its next step and removes its temporary files
        super().closeEvent(event)

    def reject(self) -> None:
        self.session.cancel()
        super().reject()
