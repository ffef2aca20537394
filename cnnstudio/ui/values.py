"""Values that a session and a widget both use: a widget never imports a session, so what they exchange
lives here, below both (plain frozen dataclasses, no Qt)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # they import torch: only their types are needed here
    import numpy as np
    from numpy.typing import NDArray

    from cnnstudio.core.capture.variety import Variety
    from cnnstudio.core.inference import Predictor
    from cnnstudio.core.inspection.embedding_map import EmbeddingMap
    from cnnstudio.core.inspection.faithfulness import Faithfulness
    from cnnstudio.core.inspection.methods import Attribution
    from cnnstudio.core.inspection.sanity import SanityResult


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


# The embedding map (ui/sessions/map_session.py computes them, ui/widgets/embedding_map_view.py shows them).
@dataclass(frozen=True)
class MapProgress:
    fraction: float  # 0..1 of the whole computation
    what: str  # the stage, in words


@dataclass(frozen=True)
class MapShown:
    """A computed map and what the view needs to show its pictures."""

    emap: EmbeddingMap
    images: Any  # the split's uint8 (N, C, H, W) pictures (a tensor or DiskImages): thumbnails on hover
    title: str  # the model and dataset, in words
    predictor: Predictor  # the map's own copy of the model (places the live point)


@dataclass(frozen=True)
class LivePoint:
    """Where the drawing lands on the map (None: nothing drawn, or no map for this model)."""

    xy: tuple[float, float] | None
    predicted: str = ""


# The Camera page's Record tab (ui/sessions/record_session.py decides, ui/widgets/record_panel.py shows).
@dataclass(frozen=True)
class ClassRecord:
    name: str
    count: int  # pictures in FOLDER/CLASS now
    variety: Variety | None  # of the frames recorded for it since the page opened


@dataclass(frozen=True)
class RecordStatus:
    folder: str | None
    classes: tuple[ClassRecord, ...]
    recording: str | None  # the class being recorded
    note: str  # the last thing worth saying (a stop, a refusal), or ""


# Inspect's "Compare methods" tab (ui/sessions/explain_session.py computes them, ui/widgets/compare_panel.py shows
# them). Those holding arrays compare by identity (eq=False): a progress report is always a new value.
@dataclass(frozen=True, eq=False)
class ExplainRequest:
    """One picture, one class, the methods to run on it."""

    pixels: NDArray[np.uint8]  # (C, H, W): exactly what the model sees
    target: int | None  # the class to explain (None: the predicted one)
    cam_key: str | None  # the layer the CAM methods look at (None: Grad-CAM's default)
    methods: tuple[str, ...]  # names of core.inspection.methods.METHODS, in the order shown
    name: str = ""  # the picture, in words ("test image 3")


@dataclass(frozen=True, eq=False)
class MethodShown:
    """One method's explanation and how faithful it is."""

    attribution: Attribution
    faithfulness: Faithfulness


@dataclass(frozen=True, eq=False)
class Comparison:
    """The methods compared so far for one request (done: all of them)."""

    request: ExplainRequest
    class_index: int
    class_name: str
    methods: tuple[MethodShown, ...]
    done: bool


@dataclass(frozen=True, eq=False)
class ExplainProgress:
    fraction: float  # 0..1 of the whole request
    text: str  # what is being computed, in words
    partial: Comparison | None = None  # the methods finished so far, when one has just finished


@dataclass(frozen=True, eq=False)
class SanityShown:
    """The sanity check of each method for one request."""

    request: ExplainRequest
    class_name: str
    results: tuple[SanityResult, ...]
