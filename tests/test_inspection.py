"""Inspection core: filters, feature maps, Grad-CAM, saliency, display helpers. Offline, CPU only."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnstudio.core import inspection as I
from cnnstudio.core.inspection.layers import geometry
from cnnstudio.core.models.builder import BasicBlock, build_model
from cnnstudio.core.models.presets import get_preset, preset_names

SHAPES = [(1, 28, 28), (3, 32, 32)]
TUTORIAL = ["cnn3-dropout", "tiny-bn-cnn", "convnet-5x5", "bn-cnn4", "sigmoid-cnn"]


def make(name: str, shape=(1, 28, 28), classes: int = 10, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    model = build_model(get_preset(name), shape, classes)
    # Non-trivial BatchNorm statistics, so eval mode and train mode really differ.
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return model.eval()


def image(shape=(1, 28, 28), seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn((1, *shape), generator=g)


def manual_outputs(model: nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """The reference: run the children one by one, no hooks."""
    outs = []
    with torch.no_grad():
        h = x
        for child in model:
            h = child(h)
            outs.append(h[0])
    return outs


# --------------------------------------------------------------------------------------------------
# Feature maps


@pytest.mark.parametrize("name,shape", [("cnn3-dropout", (1, 28, 28)), ("bn-cnn4", (1, 28, 28)),
                                        ("sigmoid-cnn", (1, 28, 28)), ("resnet20", (1, 28, 28)),
                                        ("resnet20", (3, 32, 32)), ("vgg-bn", (3, 32, 32))])
def test_feature_maps_equal_a_manual_layer_by_layer_forward(name, shape):
    model = make(name, shape)
    x = image(shape)
    maps = I.feature_maps(model, x)
    ref = manual_outputs(model, x)
    assert len(maps) == len(model) == len(ref)
    for i, (fm, r) in enumerate(zip(maps, ref)):
        assert fm.index == i and fm.key == str(i)
        assert fm.shape == tuple(r.shape)
        assert fm.values.dtype == np.float32 and fm.values.flags.c_contiguous
        np.testing.assert_allclose(fm.values, r.numpy(), rtol=1e-5, atol=1e-5, err_msg=f"layer {i}")
    # The same maps come out of the combined call, whose forward also records a graph for Grad-CAM.
    combined = I.inspect_image(model, x).feature_maps
    for fm, r in zip(combined, ref):
        np.testing.assert_allclose(fm.values, r.numpy(), rtol=1e-5, atol=1e-5)


def test_feature_map_labels_match_the_spec_shape_table():
    from cnnstudio.core.models.spec import infer_shapes

    for name in preset_names():
        spec = get_preset(name)
        report = infer_shapes(spec, (1, 28, 28), 10)
        maps = I.feature_maps(make(name), image())
        assert [m.label for m in maps] == [info.label for info in report.layers], name
        assert [m.shape for m in maps] == [info.out_shape for info in report.layers], name


def test_feature_map_display_levels():
    fm = I.feature_maps(make("cnn3-dropout"), image())[0]  # conv 32x28x28, signed values
    c = fm.shape[0]
    per_map = fm.tiles("map")
    assert per_map.images.shape == fm.shape and per_map.images.dtype == np.uint8
    assert per_map.images.flags.c_contiguous
    flat = per_map.images.reshape(c, -1)
    assert (flat.min(axis=1) == 0).all() and (flat.max(axis=1) == 255).all()
    np.testing.assert_allclose(per_map.lo, fm.values.reshape(c, -1).min(axis=1))
    per_layer = fm.tiles("layer")
    assert per_layer.images.min() == 0 and per_layer.images.max() == 255
    assert len(set(per_layer.lo.tolist())) == 1 and len(set(per_layer.hi.tolist())) == 1
    assert (per_layer.images.reshape(c, -1).max(axis=1) < 255).any()  # weaker maps stay darker
    fixed = fm.tiles((0.0, 1.0))
    expected = np.clip(np.round(fm.values * 255), 0, 255)
    assert np.abs(fixed.images.astype(int) - expected).max() <= 1
    mosaic = fm.mosaic(pad=1)
    assert mosaic.dtype == np.uint8 and mosaic.ndim == 2 and mosaic.flags.c_contiguous
    # Vectors expose their values and refuse to be shown as maps.
    logits = I.feature_maps(make("cnn3-dropout"), image())[-1]
    assert logits.shape == (10,) and not logits.is_spatial
    with pytest.raises(I.InspectionError):
        logits.tiles()


def test_dead_channel_maps_to_black_not_noise():
    fm = I.FeatureMap(0, "0", "ReLU", np.zeros((2, 4, 4), np.float32))
    assert (fm.tiles("map").images == 0).all()


# --------------------------------------------------------------------------------------------------
# Filters


@pytest.mark.parametrize("name", preset_names())
@pytest.mark.parametrize("shape", SHAPES)
def test_filters_cover_every_conv_of_every_preset(name, shape):
    model = make(name, shape)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    listed = I.conv_layers(model)
    assert len(listed) == len(convs)
    # The spec gives the same list (keys, channels, kernels) without building anything.
    from_spec = I.conv_layers(get_preset(name), shape, 10)
    assert [(c.key, c.in_channels, c.out_channels, c.kernel, c.stride) for c in from_spec] == \
        [(c.key, c.in_channels, c.out_channels, c.kernel, c.stride) for c in listed]
    grids = I.all_filters(model)
    assert len(grids) == len(convs)
    for grid, conv, entry in zip(grids, convs, listed):
        o, i, kh, kw = conv.weight.shape
        assert grid.key == entry.key and grid.name == entry.name
        np.testing.assert_array_equal(grid.weights, conv.weight.detach().numpy())
        assert grid.images.dtype == np.uint8 and grid.images.flags.c_contiguous
        assert grid.ranges.shape == (o, 2) and (grid.ranges[:, 0] <= grid.ranges[:, 1]).all()
        first = conv is convs[0]
        # A pretrained backbone repeats grey input to RGB: its first convolution's kernels are colour.
        if first and (shape[0] == 3 or i == 3):
            assert grid.color and grid.images.shape == (o, kh, kw, 3)
        else:
            assert not grid.color and grid.images.shape == (o, i, kh, kw)
        mosaic = grid.mosaic()
        assert mosaic.dtype == np.uint8 and mosaic.flags.c_contiguous
        assert mosaic.ndim == (3 if grid.color else 2)
    if any(isinstance(m, BasicBlock) for m in model.modules()):
        assert any(c.in_block and c.key.endswith(".conv1") for c in listed)
        assert any(c.key.endswith(".shortcut.0") for c in listed)


def test_filter_display_is_symmetric_around_zero():
    model = make("convnet-5x5")
    with torch.no_grad():
        w = model[0].weight
        w.zero_()
        w[0, 0, 0, 0], w[0, 0, 0, 1] = 0.5, -0.25  # filter 0: one strong positive, one weak negative
        w[1].fill_(0.1)  # filter 1: all positive and weak
    grid = I.filters(model, 0)
    tiles = grid.images[:, 0].astype(int)
    assert tiles[0, 0, 0] == 255 and tiles[0, 0, 1] in (63, 64) and tiles[0, 2, 2] == 128
    assert (tiles[1] == 255).all()  # per filter: its own largest |w| is white
    per_layer = I.filters(model, 0, per_filter=False)
    assert (per_layer.images[1, 0].astype(int) == round(127.5 + 127.5 * 0.1 / 0.5)).all()
    np.testing.assert_allclose(per_layer.limits, 0.5)
    assert "filter 0" in grid.describe(0) and "-0.25" in grid.describe(0)


def test_filters_are_cached_until_the_weights_change():
    model = make("cnn3-dropout")
    a = I.filters(model, "0")
    assert I.filters(model, "0") is a
    assert not a.weights.flags.writeable and not a.images.flags.writeable
    with torch.no_grad():
        model[0].weight.mul_(2.0)  # an optimizer step or load_state_dict: an in-place update
    b = I.filters(model, "0")
    assert b is not a
    np.testing.assert_allclose(b.weights, 2 * a.weights)


def test_layer_references():
    model = make("resnet20")
    by_key = I.filters(model, "5.conv1")
    assert by_key.weights.shape == tuple(model[5].conv1.weight.shape)
    assert I.filters(model, model[5].conv1).key == "5.conv1"
    entry = next(c for c in I.conv_layers(model) if c.key == "6.shortcut.0")
    assert entry.index == 6 and entry.in_block and entry.kernel == (1, 1)
    assert I.filters(model, entry).key == "6.shortcut.0"
    assert I.filters(model, entry.name).key == "6.shortcut.0"  # "6.shortcut.0: Conv 1x1, 32, ..."
    assert I.filters(model, 0).key == "0"
    with pytest.raises(I.InspectionError, match=r"5\.conv1"):
        I.filters(model, 5)  # a block, not a convolution: the message lists its convolutions
    with pytest.raises(I.InspectionError):
        I.filters(model, "99")
    with pytest.raises(I.InspectionError):
        I.filters(model, 42)
    with pytest.raises(I.InspectionError):
        I.filters(model, nn.Conv2d(1, 1, 1))


# --------------------------------------------------------------------------------------------------
# Grad-CAM and saliency: correctness against a direct implementation


def reference_cam(model: nn.Sequential, x: torch.Tensor, k: int, cls: int) -> torch.Tensor:
    """Grad-CAM by splitting the Sequential at child k by hand (no hooks)."""
    with torch.enable_grad():
        a = model[:k + 1](x).detach().requires_grad_(True)
        score = model[k + 1:](a)[0, cls]
        (g,) = torch.autograd.grad(score, a)
    return torch.relu((g[0].mean(dim=(1, 2))[:, None, None] * a[0].detach()).sum(0))


def interp_reference(raw: np.ndarray, size: int, offset: float, stride: float) -> np.ndarray:
    """Separable linear interpolation with np.interp: cell j sits at input coordinate offset + stride * j."""
    h, w = raw.shape
    pos_y = offset + stride * np.arange(h)
    pos_x = offset + stride * np.arange(w)
    rows = np.stack([np.interp(np.arange(size), pos_x, r) for r in raw])  # (h, size)
    return np.stack([np.interp(np.arange(size), pos_y, c) for c in rows.T], axis=1)  # (size, size)


# name, default layer, where its map cells sit on the 28x28 input (offset, stride), plain-bilinear aligned
CAM_CASES = [
    ("convnet-5x5", 5, (1.5, 4.0), True),  # padded 5x5 convs and 2x2 pools: 7x7 map
    ("bn-cnn4", 13, (1.5, 4.0), True),
    ("cnn3-dropout", 10, (-0.5, 8.0), False),  # the last 2x2 pool pads 7x7 to 8x8: 4x4 map (not the
    #                                            dropout after it: identity at inspection time)
    ("resnet20", 11, (0.0, 4.0), False),  # strided 3x3 convs, pad 1: cell j centred on pixel 4j
    ("sigmoid-cnn", 3, (2.0, 1.0), False),  # two unpadded 3x3 convs: cell j sees pixels j..j+4
]


@pytest.mark.parametrize("name,k,placement,aligned", CAM_CASES)
def test_grad_cam_matches_a_direct_implementation(name, k, placement, aligned):
    model = make(name)
    x = image()
    res = I.grad_cam(model, x)
    assert res.key == str(k)  # the default: the last spatial map before flatten / global pooling
    cls = int(model(x).argmax())
    assert res.class_index == res.predicted == cls
    ref = reference_cam(model, x, k, cls)
    np.testing.assert_allclose(res.raw, ref.numpy(), rtol=1e-4, atol=1e-6)
    g = geometry(model, str(k))
    assert (g.offset, g.stride) == ((placement[0],) * 2, (placement[1],) * 2)
    expected = interp_reference(ref.numpy(), 28, *placement)
    np.testing.assert_allclose(res.cam, expected / expected.max(), rtol=1e-4, atol=1e-5)
    if aligned:  # where cells tile the input evenly this is exactly plain bilinear upsampling
        up = F.interpolate(ref[None, None], size=(28, 28), mode="bilinear", align_corners=False)[0, 0]
        np.testing.assert_allclose(res.cam, (up / up.max()).numpy(), rtol=1e-4, atol=1e-5)
    assert res.cam.dtype == np.float32 and res.cam.shape == (28, 28)
    assert res.cam.max() == pytest.approx(1.0) and res.cam.min() >= 0


def test_grad_cam_for_a_chosen_class_and_layer():
    model = make("cnn3-dropout")
    x = image()
    probs = torch.softmax(model(x), 1)[0].detach().numpy()
    other = int(np.argsort(probs)[0])  # the least likely class
    res = I.grad_cam(model, x, target_class=other)
    assert res.class_index == other and res.predicted == int(probs.argmax()) != other
    assert res.probability == pytest.approx(float(probs[other]), rel=1e-5)
    np.testing.assert_allclose(res.raw, reference_cam(model, x, 10, other).numpy(), rtol=1e-4, atol=1e-6)
    after_dropout = I.grad_cam(model, x, target_class=other, layer_ref=11)  # still selectable, same map
    np.testing.assert_allclose(after_dropout.raw, res.raw, rtol=1e-5, atol=1e-7)
    # Any spatial layer may be chosen; the map has that layer's size before upsampling.
    early = I.grad_cam(model, x, layer_ref=1)
    assert early.raw.shape == (28, 28) and early.key == "1"
    np.testing.assert_allclose(early.raw, reference_cam(model, x, 1, res.predicted).numpy(), rtol=1e-4, atol=1e-6)
    with pytest.raises(I.InspectionError):
        I.grad_cam(model, x, target_class=10)
    with pytest.raises(I.InspectionError, match="not a spatial map"):
        I.grad_cam(model, x, layer_ref=13)  # the 625-unit Linear


def test_grad_cam_inside_a_residual_block():
    model = make("resnet20")
    x = image()
    res = I.grad_cam(model, x, layer_ref="9.conv1")
    assert res.key == "9.conv1" and res.raw.shape == (7, 7) and res.cam.shape == (28, 28)
    assert np.isfinite(res.cam).all()
    choices = I.cam_layers(model, (1, 28, 28))
    keys = [c.key for c in choices]
    assert "9.conv1" in keys and "11" in keys and "12" not in keys  # 12 is the global pooling
    assert I.default_cam_layer(model, (1, 28, 28)) == "11"


def test_saliency_shape_range_and_value():
    model = make("lenet5", (3, 32, 32))
    x = image((3, 32, 32))
    s = I.saliency(model, x)
    assert s.shape == (32, 32) and s.dtype == np.float32
    assert s.min() >= 0 and s.max() == pytest.approx(1.0)
    xr = x.clone().requires_grad_(True)
    logits = model(xr)
    cls = int(logits.argmax())
    (g,) = torch.autograd.grad(logits[0, cls], xr)
    ref = g[0].abs().amax(0)
    np.testing.assert_allclose(s, (ref / ref.max()).numpy(), rtol=1e-4, atol=1e-6)
    other = I.saliency(model, x, target_class=(cls + 1) % 10)
    assert not np.allclose(other, s)


def test_inspect_image_agrees_with_the_separate_calls():
    model = make("bn-cnn4")
    x = image()
    ins = I.inspect_image(model, x, with_saliency=True)
    probs = torch.softmax(model(x), 1)[0].detach().numpy()
    np.testing.assert_allclose(ins.probabilities, probs, rtol=1e-5, atol=1e-7)
    assert ins.predicted == int(probs.argmax())
    cam = I.grad_cam(model, x)
    np.testing.assert_allclose(ins.cam.cam, cam.cam, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ins.saliency, I.saliency(model, x), rtol=1e-5, atol=1e-6)
    chosen = I.inspect_image(model, x, layer_ref="2", target_class=3)
    assert chosen.cam.key == "2" and chosen.cam.class_index == 3


def test_inspect_image_without_spatial_layers_still_gives_probabilities():
    spec = {"layers": [{"type": "flatten"}, {"type": "linear", "out": 16}, {"type": "relu"},
                       {"type": "linear", "out": "classes"}]}
    model = build_model(spec, (1, 28, 28), 10)
    ins = I.inspect_image(model, image())
    assert ins.cam is None and "no layer with a spatial output" in ins.cam_error
    assert ins.probabilities.shape == (10,) and ins.probabilities.sum() == pytest.approx(1.0, rel=1e-5)
    with pytest.raises(I.InspectionError):
        I.grad_cam(model, image())


@pytest.mark.parametrize("name", preset_names())
@pytest.mark.parametrize("shape", SHAPES)
def test_every_preset_with_random_weights(name, shape):
    model = make(name, shape)
    x = image(shape)
    ins = I.inspect_image(model, x, with_saliency=True)
    h, w = shape[1:]
    assert ins.cam is not None and ins.cam.cam.shape == (h, w) and ins.cam.cam.dtype == np.float32
    assert np.isfinite(ins.cam.cam).all() and 0 <= ins.cam.cam.min() and ins.cam.cam.max() <= 1 + 1e-6
    assert np.isfinite(ins.cam.raw).all() and np.isfinite(ins.cam.weights).all()
    assert ins.saliency.shape == (h, w) and np.isfinite(ins.saliency).all()
    assert 0 <= ins.saliency.min() and ins.saliency.max() <= 1 + 1e-6
    assert len(ins.feature_maps) == len(model)
    assert all(np.isfinite(m.values).all() for m in ins.feature_maps)
    assert ins.probabilities.shape == (10,) and np.isfinite(ins.probabilities).all()
    assert 0 <= ins.cam.probability <= 1
    picture = I.overlay(np.zeros(shape, np.uint8), ins.cam.cam, 0.5)
    assert picture.shape == (h, w, 3) and picture.dtype == np.uint8


# --------------------------------------------------------------------------------------------------
# The model is left exactly as it was


def _hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               + len(getattr(m, "_backward_pre_hooks", {})) for m in model.modules())


def _everything(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", ["cnn3-dropout", "bn-cnn4", "resnet20"])
def test_model_state_is_unchanged_by_inspection(name):
    model = make(name)
    model.train()
    blocks = [m for m in model.modules() if isinstance(m, (nn.BatchNorm2d, nn.Dropout))]
    blocks[0].eval()  # a mixed state must come back mixed, not all-train
    frozen = next(model.parameters())
    frozen.requires_grad_(False)
    flags = [m.training for m in model.modules()]
    grads = [p.requires_grad for p in model.parameters()]
    before = _everything(model)
    x = image()

    I.feature_maps(model, x)
    I.grad_cam(model, x)
    I.grad_cam(model, x, target_class=2, layer_ref=I.cam_layers(model, (1, 28, 28))[0])
    I.saliency(model, x)
    I.inspect_image(model, x, with_saliency=True)
    I.all_filters(model)
    I.default_cam_layer(model, (1, 28, 28))

    assert [m.training for m in model.modules()] == flags
    assert [p.requires_grad for p in model.parameters()] == grads
    assert all(p.grad is None for p in model.parameters())  # nothing accumulated into .grad
    assert _hooks(model) == 0
    after = _everything(model)
    for k in before:  # weights and BatchNorm running statistics (train-mode BN would update them)
        assert torch.equal(before[k], after[k]), k


def test_hooks_and_flags_are_restored_when_the_forward_fails():
    model = make("cnn3-dropout").train()
    bad = image((1, 20, 20))  # the 625-unit Linear expects 28x28 inputs: the forward raises
    for call in (lambda: I.feature_maps(model, bad), lambda: I.grad_cam(model, bad),
                 lambda: I.inspect_image(model, bad)):
        with pytest.raises(RuntimeError):
            call()
        assert _hooks(model) == 0
        assert all(m.training for m in model.modules())


def test_works_with_frozen_parameters_and_inference_tensors():
    model = make("convnet-5x5")
    x = image()
    expected = I.grad_cam(model, x).cam
    for p in model.parameters():
        p.requires_grad_(False)
    np.testing.assert_allclose(I.grad_cam(model, x).cam, expected, rtol=1e-6)
    assert all(not p.requires_grad for p in model.parameters())
    with torch.inference_mode():
        xi = x * 1.0  # an inference tensor, as Predictor.normalise makes under inference_mode
    np.testing.assert_allclose(I.grad_cam(model, xi).cam, expected, rtol=1e-6)
    with torch.no_grad():  # callers inside no_grad still get gradients for the heatmap
        np.testing.assert_allclose(I.inspect_image(model, x).cam.cam, expected, rtol=1e-6)


def test_bad_inputs_are_refused_clearly():
    model = make("cnn3-dropout")
    with pytest.raises(I.InspectionError, match="normalise"):
        I.feature_maps(model, torch.zeros((1, 1, 28, 28), dtype=torch.uint8))
    with pytest.raises(I.InspectionError, match="one image"):
        I.grad_cam(model, torch.zeros((2, 1, 28, 28)))
    np_input = image().numpy()[0]  # (C, H, W) numpy works too
    assert I.grad_cam(model, np_input).cam.shape == (28, 28)


# --------------------------------------------------------------------------------------------------
# Display helpers


def test_tile_layout_and_hit_testing():
    images = np.stack([np.full((3, 2), i + 1, np.uint8) for i in range(5)])
    out = I.tile(images, cols=2, pad=1, pad_value=0)
    assert out.shape == (3 * 3 + 2 * 1, 2 * 2 + 1) and out.flags.c_contiguous and out.dtype == np.uint8
    for i in range(5):
        r, c = divmod(i, 2)
        assert (out[r * 4:r * 4 + 3, c * 3:c * 3 + 2] == i + 1).all()
        assert I.tile_at(r * 4 + 1, c * 3 + 1, (3, 2), cols=2, count=5, pad=1) == i
    assert (out[8:11, 3:5] == 0).all()  # the empty sixth cell
    assert I.tile_at(3, 0, (3, 2), cols=2, count=5) is None  # padding row
    assert I.tile_at(9, 4, (3, 2), cols=2, count=5) is None  # empty cell
    colour = I.tile(np.zeros((4, 2, 2, 3), np.uint8), pad=0)
    assert colour.shape == (4, 4, 3)
    with pytest.raises(ValueError):
        I.tile(np.zeros((4, 2, 2), np.float32))


def test_overlay_and_colormaps():
    img = np.full((1, 4, 4), 100, np.uint8)
    cam = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
    assert (I.overlay(img, cam, alpha=0.0) == 100).all()
    full = I.overlay(img, cam, alpha=1.0, colormap="jet")
    np.testing.assert_array_equal(full, I.colorize(cam, "jet"))
    assert tuple(full[0, 0]) == (0, 0, 128) and tuple(full[-1, -1]) == (128, 0, 0)  # jet: blue -> red
    inferno = I.colorize(np.array([0.0, 1.0]), "inferno")
    assert inferno[0].sum() < 20 and inferno[1].min() > 150  # dark to light yellow
    for lut in I.COLORMAPS.values():
        assert lut.shape == (256, 3) and lut.dtype == np.uint8
    mixed = I.overlay(np.zeros((3, 4, 4), np.uint8), cam, alpha=0.5)
    assert mixed.shape == (4, 4, 3) and mixed.flags.c_contiguous
    with pytest.raises(ValueError):
        I.overlay(img, np.zeros((5, 5), np.float32))


# --------------------------------------------------------------------------------------------------
# On a trained model, Grad-CAM looks at the figure


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.inference import Predictor
    from cnnstudio.core.training.config import TrainConfig
    from cnnstudio.core.training.trainer import Trainer

    ds = load_dataset("shapes")
    cfg = TrainConfig(dataset="shapes", model="convnet-5x5", epochs=2, batch_size=64, device="cpu",
                      limit_train=4000, seed=0, log_every=1000)
    result = Trainer(cfg, dataset=ds, run_dir=tmp_path_factory.mktemp("run")).run()
    assert result.status == "finished", result.message
    return Predictor(result.checkpoint), ds


def test_grad_cam_of_a_trained_model_looks_at_the_figure(trained):
    predictor, ds = trained
    inside, outside = [], []
    for u8 in ds.test_images[:50]:
        x = predictor.normalise(u8[None])
        cam = I.grad_cam(predictor.model, x).cam
        figure = u8[0].numpy() > 0.3 * 255  # light figure on a dark background
        inside.append(cam[figure].mean())
        outside.append(cam[~figure].mean())
    inside, outside = np.array(inside), np.array(outside)
    assert inside.mean() > 1.5 * outside.mean(), (inside.mean(), outside.mean())
    assert (inside > outside).mean() >= 0.7, (inside > outside).mean()


CUSTOM = {"name": "custom", "layers": [
    {"type": "basic_block", "out": 8, "stride": 2},
    {"type": "conv", "out": 12, "kernel": 3, "stride": 2, "padding": 1, "bias": False},
    {"type": "batchnorm"}, {"type": "leaky_relu", "slope": 0.1},
    {"type": "conv", "out": 12, "kernel": 2}, {"type": "gelu"}, {"type": "avgpool", "kernel": 2},
    {"type": "dropout", "p": 0.2}, {"type": "flatten"}, {"type": "linear", "out": 20},
    {"type": "batchnorm"}, {"type": "tanh"}, {"type": "linear", "out": "classes"}]}


@pytest.mark.parametrize("shape", SHAPES)
def test_custom_spec_in_train_mode(shape):
    """Layer types the presets do not use, a block as the first layer, BatchNorm1d, train mode on."""
    torch.manual_seed(0)
    model = build_model(CUSTOM, shape, 5).train()  # BatchNorm1d in train mode would refuse one image
    x = image(shape)
    maps = I.feature_maps(model, x)
    model.eval()
    for fm, ref in zip(maps, manual_outputs(model, x)):
        np.testing.assert_allclose(fm.values, ref.numpy(), rtol=1e-5, atol=1e-5)
    model.train()
    ins = I.inspect_image(model, x, with_saliency=True)
    assert ins.cam.key == "6"  # the average pool: the last spatial map before the flatten (the dropout after
    #                            it is the identity at inspection time)
    assert ins.cam.cam.shape == shape[1:] and np.isfinite(ins.cam.cam).all()
    assert [c.key for c in I.conv_layers(model)] == ["0.conv1", "0.conv2", "0.shortcut.0", "1", "4"]
    colour = [g.color for g in I.all_filters(model)]
    assert colour == [shape[0] == 3, False, False, False, False]  # only the block's conv1 sees the RGB image
    half = (shape[1] + 1) // 2  # the block's stride-2 grid
    assert I.grad_cam(model, x, layer_ref="0.shortcut.0").raw.shape == (half, half)
    assert all(m.training for m in model.modules())


def test_layer_numbers_count_from_one_like_the_model_page():
    assert I.layer_number("0") == "1" and I.layer_number(10) == "11"
    assert I.layer_number("5.conv1") == "6.conv1" and I.layer_number("6.shortcut.0") == "7.shortcut.0"


def test_top_patches_find_the_images_and_the_places_a_channel_responds_to():
    """Known answer: a channel that passes one pixel through conv, pool and conv fires hardest on the
    images with the brightest pixels, and its patch (its receptive field, 8x8) holds that pixel."""
    from torch import nn

    from cnnstudio.core.inspection.layers import geometry
    from cnnstudio.core.inspection.patches import patch_mosaic, top_patches

    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(2, 2, 3, padding=1))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model[0].weight[0, 0, 1, 1] = 1.0
        model[3].weight[0, 0, 1, 1] = 1.0  # channel 0 passes pixels through; channel 1 is dead
    g = geometry(model, "3")
    assert g.size == (8.0, 8.0) and g.stride == (2.0, 2.0)  # 3x3, then 2x2 pool, then 3x3 at stride 2
    images = torch.from_numpy(np.random.default_rng(0).integers(0, 50, (20, 1, 16, 16)).astype(np.uint8))
    images[7, 0, 9, 5] = 255
    images[3, 0, 0, 15] = 200  # in a corner: the patch reaches past the image
    result = top_patches(model, "3", images, lambda u: u.float() / 255, per_channel=3)
    assert result.field == (8, 8) and result.searched == 20
    assert result.image_index[0, :2].tolist() == [7, 3]
    assert result.scores[0, :2].tolist() == pytest.approx([1.0, 200 / 255])
    bright = np.argwhere(result.patches[0, 0] == 255)
    assert bright.tolist() == [[4, 4]]  # the pixel at the centre of the field that saw it
    corner = result.patches[0, 1]
    assert (corner == 200).sum() == 1 and corner[:3].max() == 0  # past the image's top edge: black
    assert "dead channel" in result.describe(1) and "test image 7" in result.describe(0)
    picture = patch_mosaic(result)
    assert picture.layout.count == 2 and picture.display.shape[2] == 4
    # A layer whose output is not spatial cannot be searched; a wrong layer is named.
    with pytest.raises(I.InspectionError):
        top_patches(nn.Sequential(nn.Flatten(), nn.Linear(256, 2)), "1", images, lambda u: u.float())
