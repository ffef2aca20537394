"""Taking a trained model out of CNN Studio: ONNX (fp32 or INT8), TorchScript, a torch-free predictor bundle, a web
page (web.py), each with its deployment report (report.py)."""

from cnnstudio.core.export.exporter import (FORMATS, ExportCancelled, ExportResult, Int8Report, default_output,
                                            export_model)
from cnnstudio.core.export.destination import ExportRefused
from cnnstudio.core.export.metadata import KEYS, ModelMetadata

__all__ = ["FORMATS", "KEYS", "ExportCancelled", "ExportRefused", "ExportResult", "Int8Report", "ModelMetadata",
           "default_output", "export_model"]
