"""`cnnstudio explain`'s core: one picture file, one method, the overlay as a PNG and the faithfulness figures.

The picture goes through the one preparation path (core/inference.py prepare_image, through Predictor), so
the command explains exactly what `cnnstudio predict` classifies. The PNG is never written over an existing
file. Qt-free.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.export.destination import check_new_png, place, shown
from cnnstudio.core.inspection.faithfulness import Faithfulness, faithfulness
from cnnstudio.core.inspection.methods import Attribution, black_baseline, check_method, explain_pixels

if TYPE_CHECKING:
    from cnnstudio.core.inference import Predictor

OVERLAY_SIDE = 448  # the PNG's picture side: small inputs are enlarged with crisp pixels


@dataclass(frozen=True)
class Explained:
    """One picture explained by one method: the attribution, its faithfulness, and what the model saw."""

    attribution: Attribution
    faithfulness: Faithfulness
    pixels: np.ndarray  # uint8 (C, H, W)
    class_name: str

    def to_dict(self) -> dict[str, Any]:
        """What `--json` prints."""
        a, f = self.attribution, self.faithfulness
        return {"method": a.method, "class": a.class_index, "deletion_auc": round(f.deletion_auc, 6),
                "insertion_auc": round(f.insertion_auc, 6), "seconds": round(a.seconds, 6)}


def check_png_path(path: str | os.PathLike[str]) -> Path:
    """Refuse, in one line, an --out that must not be written: an existing file, not .png, no such folder."""
    return check_new_png(path, "overlay", "explain")


def explain_image(predictor: Predictor, image: Image.Image | np.ndarray, method: str,
                  target_class: int | None = None) -> Explained:
    """Prepare the picture as the model's training data was framed, explain it, measure the explanation."""
    import torch

    check_method(method)
    if target_class is not None and not 0 <= target_class < len(predictor.classes):
        raise CNNStudioError(f"--class {target_class}: the model has {len(predictor.classes)} classes "
                             f"(0..{len(predictor.classes) - 1})")
    prepared = predictor.prepare(image)
    attribution = explain_pixels(predictor, prepared.pixels, method, target_class)
    x = predictor.normalise(torch.from_numpy(np.ascontiguousarray(prepared.pixels))[None])
    faith = faithfulness(predictor.model, x, attribution.heatmap, attribution.class_index, black_baseline(predictor))
    return Explained(attribution, faith, prepared.pixels, str(predictor.classes[attribution.class_index]))


def overlay_picture(pixels: np.ndarray, heatmap: np.ndarray, method: str) -> Image.Image:
    """The picture beside its heatmap blended over it, enlarged with crisp pixels."""
    from cnnstudio.core.inspection.display import as_rgb, overlay

    colormap = "inferno" if method in ("saliency", "smoothgrad") else "jet"
    both = np.concatenate([as_rgb(pixels), np.full((pixels.shape[-2], 1, 3), 255, np.uint8),
                           overlay(pixels, heatmap, 0.5, colormap)], axis=1)
    scale = max(1, OVERLAY_SIDE // max(pixels.shape[-2:]))
    return Image.fromarray(np.ascontiguousarray(both)).resize((both.shape[1] * scale, both.shape[0] * scale),
                                                              Image.Resampling.NEAREST)


def write_overlay(explained: Explained, path: str | os.PathLike[str]) -> Path:
    """Write the overlay PNG at `path`, never over a file (nor one that appears while writing)."""
    final = check_png_path(path)
    fd, tmp = tempfile.mkstemp(prefix=".explain-", suffix=".png", dir=final.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            overlay_picture(explained.pixels, explained.attribution.heatmap, explained.attribution.method).save(
                f, format="PNG")
        place(Path(tmp), final, replace=False)
    except OSError as exc:
        raise CNNStudioError(f"cannot write {shown(final)}: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return final
