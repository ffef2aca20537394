"""Architectures: torch-free model specs with shape inference, presets, and the one torch builder.

Importing this package (or .spec / .presets / .layer_types) does not import torch; the layer editor
relies on that. build_model and the torch modules are loaded on first use through __getattr__.
"""

from __future__ import annotations

from typing import Any

from cnnstudio.core.models.layer_types import CLASSES, LAYER_TYPES, LayerType, ParamSpec, new_layer
from cnnstudio.core.models.presets import PRESETS, get_preset, list_presets, preset_names, resolve_spec
from cnnstudio.core.models.spec import (
    LayerInfo,
    ShapeReport,
    check_structure,
    format_shape,
    infer_shapes,
    load_spec,
    save_spec,
    validate_spec,
)

_LAZY = {"build_model", "BasicBlock", "GlobalAvgPool"}

__all__ = [  # noqa: PLE0604 - *sorted(_LAZY): the names built on first use, named once in _LAZY
    "CLASSES", "LAYER_TYPES", "LayerType", "ParamSpec", "new_layer", "PRESETS", "get_preset",
    "list_presets", "preset_names", "resolve_spec", "LayerInfo", "ShapeReport", "check_structure",
    "format_shape", "infer_shapes", "load_spec", "save_spec", "validate_spec", *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from cnnstudio.core.models import builder

        return getattr(builder, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
