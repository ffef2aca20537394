"""Values that a session and a widget both use: a widget never imports a session, so what they exchange
lives here, below both (plain frozen dataclasses, no Qt)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExportRequest:
    """One "Export model…": what the dialog asks for and ExportSession hands to the core's export_model."""

    checkpoint: str  # path of the checkpoint to export
    out: str  # the file to write
    format: str = "onnx"  # "onnx" or "torchscript"
    int8: bool = False
    bundle: str | None = None  # folder for the torch-free predictor bundle
    # Replace an existing file that is not an earlier export (never the checkpoint): only when the user
    # confirmed replacing it (the file dialog asks); otherwise the core refuses it in one line.
    overwrite: bool = False
