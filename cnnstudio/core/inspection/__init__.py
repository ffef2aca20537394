"""Inspection: what a CNN has learned and what it looks at, for one model and one image. Qt-free.

    conv_layers(model_or_spec, input_shape=None, num_classes=None) -> list[ConvLayer]
    filters(model, layer_ref, per_filter=True) -> FilterGrid       cached until the weights change
    all_filters(model, per_filter=True) -> list[FilterGrid];  clear_filter_cache()
    feature_maps(model, x) -> list[FeatureMap]                     one hooked forward pass
    grad_cam(model, x, target_class=None, layer_ref=None) -> CamResult
    saliency(model, x, target_class=None) -> np.ndarray (H, W) in 0..1
    inspect_image(model, x, layer_ref=None, target_class=None, with_saliency=False) -> Inspection
    cam_layers(model, input_shape) -> list[LayerChoice];  default_cam_layer(model, input_shape) -> key
    tile(images, cols=None, pad=1, pad_value=0) -> uint8 mosaic;  tile_at(y, x, ...) -> tile index
    layer_number(key) -> the key as the app shows it, from 1 ("5.conv1" -> "6.conv1")
    overlay(input_u8, cam, alpha=0.5, colormap="jet") -> uint8 (H, W, 3);  colorize(values01, colormap)

`model` is what build_model / Predictor.model gives (an nn.Sequential whose child i is spec layer i);
`x` is one *normalised* image, (C, H, W) or (1, C, H, W), tensor or array, e.g.
predictor.normalise(torch.from_numpy(prepared.pixels)[None]). Layers are named by key: "3" for spec
layer 3, "5.conv1" for a convolution inside the residual block at layer 5 (see layers.py).

Every call leaves the model as it found it: training flags restored module by module, hooks
removed (also on errors), requires_grad and .grad untouched. It does switch the model to eval mode
while running, so do not inspect a model that another thread is training at that moment.

Modules: layers (keys, labels, layer choice, receptive-field geometry), kernels (filters),
activations (feature maps, the eval/hook machinery), attribution (Grad-CAM, saliency,
inspect_image), display (levels, mosaics, colour maps, overlays; numpy only).
"""

import importlib
from typing import Any

# Names resolve lazily, so the numpy-only helpers (display: tile, tile_at, overlay) can be imported by
# the app's widgets without pulling in torch on the GUI thread at start-up.
_EXPORTS = {
    "FeatureMap": "activations", "MapTiles": "activations", "feature_maps": "activations",
    "CamResult": "attribution", "Inspection": "attribution", "cam_layers": "attribution",
    "default_cam_layer": "attribution", "grad_cam": "attribution", "inspect_image": "attribution",
    "saliency": "attribution",
    "COLORMAPS": "display", "colorize": "display", "overlay": "display", "tile": "display", "tile_at": "display",
    "FilterGrid": "kernels", "all_filters": "kernels", "clear_filter_cache": "kernels", "filters": "kernels",
    "ConvLayer": "layers", "InspectionError": "layers", "LayerChoice": "layers", "LayerRef": "layers",
    "layer_number": "display",
    "conv_layers": "layers",
}

__all__ = sorted(_EXPORTS)  # noqa: PLE0605 - the lazy exports, named once in _EXPORTS


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
