"""Architectures: spec shape inference, the builder, presets and spec files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from cnnstudio.core.errors import SpecError
from cnnstudio.core.models import (
    LAYER_TYPES,
    PRESETS,
    get_preset,
    infer_shapes,
    list_presets,
    load_spec,
    new_layer,
    resolve_spec,
    save_spec,
    validate_spec,
)
from cnnstudio.core.models.builder import BasicBlock, GlobalAvgPool, build_model, training_graph

REPO = Path(__file__).resolve().parents[1]
SHAPES = [(1, 28, 28), (3, 32, 32)]
PRESET_NAMES = list(PRESETS)


def numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def spec_of(*layers: dict) -> dict:
    return {"name": "test", "description": "", "layers": list(layers)}


def hooked_forward(model: nn.Sequential, x: torch.Tensor) -> tuple[torch.Tensor, dict[int, tuple]]:
    """Run the model, recording each child's output shape (without the batch axis) by index."""
    seen: dict[int, tuple] = {}
    handles = [
        child.register_forward_hook(lambda _m, _i, out, k=int(name): seen.__setitem__(k, tuple(out.shape[1:])))
        for name, child in model.named_children()
    ]
    try:
        out = model(x)
    finally:
        for h in handles:
            h.remove()
    return out, seen


# --------------------------------------------------------------------------------------------------
# Presets build, run, and agree with the shape table


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", PRESET_NAMES)
def test_preset_builds_and_runs_for_several_class_counts(name, shape):
    x = torch.randn(2, *shape)
    for classes in (2, 10, 47):
        model = build_model(get_preset(name), shape, classes)
        with torch.no_grad():
            out = model(x)
        assert out.shape == (2, classes)
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", PRESET_NAMES)
def test_shape_table_matches_forward_pass(name, shape):
    spec = get_preset(name)
    report = validate_spec(spec, shape, 7)
    model = build_model(spec, shape, 7)
    assert len(model) == len(spec["layers"]) == len(report.layers)
    with torch.no_grad():
        out, seen = hooked_forward(model, torch.randn(2, *shape))
    assert out.shape == (2, 7)
    for info, (name_, child) in zip(report.layers, model.named_children()):
        assert int(name_) == info.index
        assert seen[info.index] == info.out_shape, f"layer {info.index} {info.label}"
        assert numel(child) == info.params, f"layer {info.index} {info.label}"
    assert report.total_params == numel(model)


def test_every_layer_type_matches_its_module():
    """One spec using every layer type (and non-default options) agrees with the real modules."""
    spec = spec_of(
        {"type": "conv", "out": 8, "kernel": 3, "stride": 2, "padding": 1, "bias": False},
        {"type": "batchnorm"},
        {"type": "leaky_relu", "slope": 0.2},
        {"type": "maxpool", "kernel": 3, "stride": 1, "padding": 1},
        {"type": "basic_block", "out": 8},
        {"type": "basic_block", "out": 12, "stride": 2},
        {"type": "avgpool", "kernel": 3, "stride": 2},
        {"type": "gelu", "approximate": "tanh"},
        {"type": "dropout", "p": 0.1},
        {"type": "flatten"},
        {"type": "linear", "out": 20, "in": 12 * 2 * 3},
        {"type": "batchnorm"},
        {"type": "tanh"},
        {"type": "sigmoid"},
        {"type": "relu"},
        {"type": "flatten"},
        {"type": "linear", "out": "classes", "bias": False},
    )
    report = validate_spec(spec, (3, 23, 27), 5)
    assert [i.out_shape for i in report.layers[:7]] == [
        (8, 12, 14), (8, 12, 14), (8, 12, 14), (8, 12, 14), (8, 12, 14), (12, 6, 7), (12, 2, 3)]
    model = build_model(spec, (3, 23, 27), 5)
    assert isinstance(model[1], nn.BatchNorm2d) and isinstance(model[11], nn.BatchNorm1d)
    assert model[2].negative_slope == 0.2 and model[7].approximate == "tanh"
    assert model[10].in_features == 12 * 2 * 3 and model[16].bias is None
    _, seen = hooked_forward(model, torch.randn(2, 3, 23, 27))
    for info in report.layers:
        assert seen[info.index] == info.out_shape, info.label
        assert numel(model[info.index]) == info.params, info.label
    assert [type(m) for m in model[4].shortcut.modules()] == [nn.Identity]
    assert isinstance(model[5].shortcut, nn.Sequential)  # channels change: 1x1 conv + BN


def test_global_avgpool_flattens_to_channels():
    spec = spec_of({"type": "conv", "out": 6, "kernel": 3}, {"type": "global_avgpool"},
                   {"type": "linear", "out": "classes"})
    report = validate_spec(spec, (2, 9, 9), 4)
    assert report.layers[1].out_shape == (6,)
    model = build_model(spec, (2, 9, 9), 4)
    assert isinstance(model[1], GlobalAvgPool)
    x = torch.randn(2, 6, 7, 7)
    assert torch.allclose(model[1](x), x.mean(dim=(2, 3)))


# --------------------------------------------------------------------------------------------------
# Tutorial presets have exactly the described structure (1x28x28, 10 classes)


def describe(module: nn.Module) -> tuple:
    if isinstance(module, nn.Conv2d):
        return ("conv", module.in_channels, module.out_channels, module.kernel_size[0], module.stride[0],
                module.padding[0])
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        return ("max" if isinstance(module, nn.MaxPool2d) else "avg", module.kernel_size, module.stride,
                module.padding)
    if isinstance(module, nn.Linear):
        return ("linear", module.in_features, module.out_features)
    if isinstance(module, nn.Dropout):
        return ("dropout", module.p)
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return (type(module).__name__, module.num_features)
    return (type(module).__name__,)


TUTORIAL_STRUCTURES = {
    "cnn3-dropout": [
        ("conv", 1, 32, 3, 1, 1), ("ReLU",), ("max", 2, 2, 0), ("dropout", 0.3),
        ("conv", 32, 64, 3, 1, 1), ("ReLU",), ("max", 2, 2, 0), ("dropout", 0.3),
        ("conv", 64, 128, 3, 1, 1), ("ReLU",), ("max", 2, 2, 1), ("dropout", 0.3),
        ("Flatten",), ("linear", 2048, 625), ("ReLU",), ("dropout", 0.3), ("linear", 625, 10),
    ],
    "tiny-bn-cnn": [
        ("conv", 1, 4, 2, 1, 1), ("BatchNorm2d", 4), ("ReLU",), ("max", 2, 2, 0),
        ("conv", 4, 4, 2, 1, 1), ("BatchNorm2d", 4), ("ReLU",), ("max", 2, 2, 0),
        ("Flatten",), ("linear", 196, 10),
    ],
    "convnet-5x5": [
        ("conv", 1, 32, 5, 1, 2), ("ReLU",), ("max", 2, 2, 0),
        ("conv", 32, 64, 5, 1, 2), ("ReLU",), ("max", 2, 2, 0),
        ("Flatten",), ("dropout", 0.5), ("linear", 3136, 1000), ("linear", 1000, 10),
    ],
    "bn-cnn4": [
        ("conv", 1, 5, 3, 1, 1), ("ReLU",), ("BatchNorm2d", 5),
        ("conv", 5, 10, 3, 1, 1), ("ReLU",), ("BatchNorm2d", 10), ("max", 2, 2, 0),
        ("conv", 10, 20, 3, 1, 1), ("ReLU",), ("BatchNorm2d", 20),
        ("conv", 20, 40, 3, 1, 1), ("ReLU",), ("BatchNorm2d", 40), ("max", 2, 2, 0),
        ("Flatten",), ("linear", 1960, 200), ("ReLU",), ("dropout", 0.5), ("linear", 200, 500), ("ReLU",),
        ("linear", 500, 10),
    ],
    "sigmoid-cnn": [
        ("conv", 1, 3, 3, 1, 0), ("Sigmoid",), ("conv", 3, 6, 3, 1, 0), ("Sigmoid",), ("Flatten",),
        ("linear", 3456, 10),
    ],
    "lenet5": [
        ("conv", 1, 6, 5, 1, 2), ("Tanh",), ("avg", 2, 2, 0), ("conv", 6, 16, 5, 1, 0), ("Tanh",),
        ("avg", 2, 2, 0), ("Flatten",), ("linear", 400, 120), ("Tanh",), ("linear", 120, 84), ("Tanh",),
        ("linear", 84, 10),
    ],
}


@pytest.mark.parametrize("name", list(TUTORIAL_STRUCTURES))
def test_tutorial_preset_structure(name):
    model = build_model(get_preset(name), (1, 28, 28), 10)
    assert [describe(m) for m in model] == TUTORIAL_STRUCTURES[name]


def test_tutorial_shapes_and_sizes():
    r = validate_spec(get_preset("cnn3-dropout"), (1, 28, 28), 10)
    assert [i.out_shape[1] for i in r.layers if i.type == "maxpool"] == [14, 7, 4]
    r = validate_spec(get_preset("tiny-bn-cnn"), (1, 28, 28), 10)
    assert [i.out_shape[1] for i in r.layers if i.type in ("conv", "maxpool")] == [29, 14, 15, 7]
    assert validate_spec(get_preset("convnet-5x5"), (1, 28, 28), 10).total_params == 3_199_106
    # On colour 32x32 input the same presets adapt (in-features inferred).
    model = build_model(get_preset("cnn3-dropout"), (3, 32, 32), 10)
    assert describe(model[0]) == ("conv", 3, 32, 3, 1, 1) and describe(model[13]) == ("linear", 128 * 5 * 5, 625)
    model = build_model(get_preset("sigmoid-cnn"), (3, 32, 32), 10)
    assert describe(model[5]) == ("linear", 6 * 28 * 28, 10)


@pytest.mark.parametrize("channels", [1, 3])
def test_resnet18_matches_torchvision_parameter_count(channels):
    import torchvision

    reference = torchvision.models.resnet18(num_classes=10)
    reference.conv1 = nn.Conv2d(channels, 64, 3, 1, 1, bias=False)
    reference.maxpool = nn.Identity()
    ours = build_model(get_preset("resnet18"), (channels, 32, 32), 10)
    assert numel(ours) == numel(reference)
    blocks = [m for m in ours if isinstance(m, BasicBlock)]
    assert len(blocks) == 8 and [b.conv1.stride[0] for b in blocks] == [1, 1, 2, 1, 2, 1, 2, 1]


def test_resnet20_size():
    model = build_model(get_preset("resnet20"), (3, 32, 32), 10)
    blocks = [m for m in model if isinstance(m, BasicBlock)]
    assert [b.conv2.out_channels for b in blocks] == [16] * 3 + [32] * 3 + [64] * 3
    # He et al.'s option-A ResNet-20 has 269,722 parameters; our two 1x1-conv + BN shortcuts add
    # 16*32 + 2*32 + 32*64 + 2*64 = 2,752.
    assert numel(model) == 269_722 + 2_752


def test_channels_last_and_autocast():
    for name in ("resnet20", "cnn3-dropout", "vgg-bn"):
        torch.manual_seed(0)
        model = build_model(get_preset(name), (3, 32, 32), 10).eval()
        x = torch.randn(2, 3, 32, 32)
        with torch.no_grad():
            reference = model(x)
            model_cl = model.to(memory_format=torch.channels_last)
            out_cl = model_cl(x.contiguous(memory_format=torch.channels_last))
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out_amp = model_cl(x.contiguous(memory_format=torch.channels_last))
        assert torch.allclose(out_cl, reference, atol=1e-4, rtol=1e-4)
        assert out_amp.shape == (2, 10) and torch.isfinite(out_amp.float()).all()


@pytest.mark.parametrize("name, shape", [("convnet-5x5", (1, 28, 28)), ("fast-cnn", (1, 28, 28)),
                                         ("cnn3-dropout", (3, 32, 32))])
def test_training_graph_pools_before_relu_with_identical_results(name, shape):
    torch.manual_seed(0)
    model = build_model(get_preset(name), shape, 10).to(memory_format=torch.channels_last).eval()
    graph = training_graph(model)
    kinds = [type(m).__name__ for m in graph]
    # Every ReLU that fed a max-pool now follows it; the layers themselves are the model's, not copies.
    assert "ReLUMaxPool2d" not in "".join(kinds) and "MaxPool2dReLU" in "".join(kinds)
    assert sorted(map(id, graph)) == sorted(map(id, model)) and [type(m) for m in model][0] is nn.Conv2d
    assert list(dict(model.named_children())) == [str(i) for i in range(len(model))]  # spec order kept
    x = torch.randn(8, *shape).contiguous(memory_format=torch.channels_last)
    for dtype in (None, torch.bfloat16):
        grads = []
        for net in (model, graph):
            net.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                out = net(x)
            out.float().square().sum().backward()
            grads.append((out.detach(), [p.grad.clone() for p in model.parameters()]))
        assert torch.equal(grads[0][0], grads[1][0])
        assert all(torch.equal(a, b) for a, b in zip(grads[0][1], grads[1][1]))


def test_training_graph_leaves_other_orders_alone():
    torch.manual_seed(0)
    spec = {"name": "t", "layers": [{"type": "conv", "out": 4, "kernel": 3, "padding": 1}, {"type": "relu"},
                                    {"type": "batchnorm"}, {"type": "maxpool", "kernel": 2},
                                    {"type": "gelu"}, {"type": "maxpool", "kernel": 2},
                                    {"type": "flatten"}, {"type": "linear", "out": "classes"}]}
    model = build_model(spec, (1, 8, 8), 3)
    assert training_graph(model) is model  # BatchNorm in between; GELU is not monotone


def test_presets_are_independent_copies():
    a = get_preset("resnet20")
    a["layers"][1]["type"] = "sigmoid"
    assert get_preset("resnet20")["layers"][1]["type"] == "batchnorm"
    for spec in list_presets():
        ids = [id(layer) for layer in spec["layers"]]
        assert len(ids) == len(set(ids)), f"{spec['name']} reuses a layer dict"
        assert spec["description"] and spec["layers"][-1] == {"type": "linear", "out": "classes"}
        json.dumps(spec)  # plain JSON


def test_unknown_preset_lists_names():
    with pytest.raises(SpecError) as err:
        get_preset("resnet1000")
    assert "resnet1000" in str(err.value) and "lenet5" in str(err.value) and "resnet18" in str(err.value)


# --------------------------------------------------------------------------------------------------
# Arithmetic strings


def test_conv_and_pool_arithmetic():
    r = validate_spec(get_preset("convnet-5x5"), (1, 28, 28), 10)
    assert r.layers[0].label == "Conv 5x5, 32, pad 2"
    assert r.layers[0].arithmetic == "(28 - 5 + 2*2)/1 + 1 = 28"
    assert r.layers[2].label == "MaxPool 2x2" and r.layers[2].arithmetic == "(28 - 2 + 2*0)/2 + 1 = 14"
    assert r.layers[1].arithmetic is None
    # Not integral: floor, as PyTorch does.
    r = validate_spec(get_preset("cnn3-dropout"), (1, 28, 28), 10)
    assert r.layers[10].label == "MaxPool 2x2, pad 1"
    assert r.layers[10].arithmetic == "floor((7 - 2 + 2*1)/2) + 1 = 4"
    # H and W differ: both given.
    r = infer_shapes(spec_of({"type": "conv", "out": 4, "kernel": 3, "stride": 2}), (1, 28, 21), 10)
    assert r.layers[0].label == "Conv 3x3, 4, stride 2"
    assert r.layers[0].arithmetic == "H: floor((28 - 3 + 2*0)/2) + 1 = 13; W: (21 - 3 + 2*0)/2 + 1 = 10"
    assert r.layers[0].out_shape == (4, 13, 10)


# --------------------------------------------------------------------------------------------------
# Impossible specs


def assert_rejected(spec: dict, index: int | None, *fragments: str, shape=(1, 28, 28), classes=10) -> str:
    report = infer_shapes(spec, shape, classes)
    assert not report.ok and report.error_index == index
    for fragment in fragments:
        assert fragment in report.error, report.error
    with pytest.raises(SpecError) as err:
        validate_spec(spec, shape, classes)
    assert err.value.layer_index == index and str(err.value) == report.error
    with pytest.raises(SpecError) as err:
        build_model(spec, shape, classes)
    assert err.value.layer_index == index
    return report.error


def test_too_many_pools():
    layers = [{"type": "conv", "out": 8, "kernel": 3, "padding": 1}, {"type": "relu"}]
    layers += [{"type": "maxpool", "kernel": 2} for _ in range(6)]  # 28 14 7 3 1 -> 0
    layers += [{"type": "flatten"}, {"type": "linear", "out": "classes"}]
    spec = spec_of(*layers)
    error = assert_rejected(spec, 6, "Layer 7 (MaxPool 2x2): spatial size 1x1 falls below 1 (output 0x0)")
    report = infer_shapes(spec, (1, 28, 28), 10)
    assert len(report.layers) == 6 and report.layers[-1].out_shape == (8, 1, 1)
    assert "larger than" in error


def test_kernel_larger_than_padded_input():
    spec = spec_of({"type": "conv", "out": 4, "kernel": 7, "padding": 1}, {"type": "flatten"},
                   {"type": "linear", "out": "classes"})
    assert_rejected(spec, 0, "Layer 1 (Conv 7x7, 4, pad 1)", "padded input 6x6", shape=(1, 4, 4))


def test_linear_with_wrong_explicit_in():
    spec = get_preset("convnet-5x5")
    spec["layers"][8]["in"] = 2048
    assert_rejected(spec, 8, "Layer 9 (Linear 1000)", '"in" is 2048', "receives 3136 features", "64x7x7 flattened")


def test_linear_without_flatten():
    spec = get_preset("convnet-5x5")
    del spec["layers"][6]  # the Flatten
    assert_rejected(spec, 7, "Layer 8 (Linear 1000)", "64x7x7", "add a Flatten before it")


def test_conv_on_flat_vector():
    spec = spec_of({"type": "flatten"}, {"type": "conv", "out": 4, "kernel": 3}, {"type": "linear", "out": "classes"})
    assert_rejected(spec, 1, "Layer 2 (Conv 3x3, 4)", "flat vector of 784 features")


def test_pool_padding_more_than_half_the_kernel():
    spec = spec_of({"type": "maxpool", "kernel": 2, "padding": 2}, {"type": "flatten"}, {"type": "linear", "out": 10})
    assert_rejected(spec, 0, "Layer 1 (MaxPool 2x2, pad 2)", "more than half", "at most 1")


def test_output_must_be_the_classes():
    spec = spec_of({"type": "flatten"}, {"type": "linear", "out": 64})
    assert_rejected(spec, 1, "Layer 2 (Linear 64)", "64 outputs", "10 classes", '"classes"')
    spec = spec_of({"type": "conv", "out": 4, "kernel": 3})
    assert_rejected(spec, 0, "Layer 1 (Conv 3x3, 4)", "4x26x26 feature map", "Flatten")
    # The same spec with a matching explicit count is fine.
    assert validate_spec(spec_of({"type": "flatten"}, {"type": "linear", "out": 10}), (1, 28, 28), 10).ok


@pytest.mark.parametrize(
    "layer, fragments",
    [
        ({"type": "conv", "out": 0, "kernel": 3}, ["Layer 2 (Convolution)", "'out'", "positive whole number"]),
        ({"type": "conv", "out": 8, "kernel": -1}, ["'kernel'", "got -1"]),
        ({"type": "conv", "out": 8, "kernel": "3"}, ["'kernel'", "whole number"]),
        ({"type": "conv", "out": 8, "kernel": 2.5}, ["'kernel'", "whole number"]),
        ({"type": "conv", "out": 8, "kernel": True}, ["'kernel'"]),
        ({"type": "conv", "kernel": 3}, ["missing parameter 'out'"]),
        ({"type": "conv", "out": 8, "kernal": 3}, ["unknown parameter 'kernal'"]),
        ({"type": "maxpool", "stride": 0}, ["Layer 2 (Max pooling)", "'stride'"]),
        ({"type": "conv", "out": 8, "kernel": 3, "padding": -1}, ["'padding'", "at least 0"]),
        ({"type": "dropout", "p": 1.0}, ["Layer 2 (Dropout)", "'p'", "[0, 1)"]),
        ({"type": "dropout", "p": -0.1}, ["'p'"]),
        ({"type": "dropout", "p": float("nan")}, ["'p'"]),
        ({"type": "gelu", "approximate": "fast"}, ["'approximate'", "'none', 'tanh'"]),
        ({"type": "conv2d", "out": 8}, ["Layer 2: unknown layer type 'conv2d'", "basic_block"]),
        ({"out": 8}, ['Layer 2: needs a "type"']),
        ("relu", ["Layer 2: must be an object"]),
    ],
)
def test_bad_parameters(layer, fragments):
    spec = spec_of({"type": "relu"}, layer, {"type": "flatten"}, {"type": "linear", "out": "classes"})
    assert_rejected(spec, 1, *fragments)


def test_bad_linear_out():
    spec = spec_of({"type": "flatten"}, {"type": "linear", "out": "labels"})
    assert_rejected(spec, 1, "'out'", '"classes"')


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ([{"type": "relu"}], "must be an object"),
        ({"name": "x"}, 'no "layers"'),
        ({"layers": {"type": "relu"}}, '"layers" must be a list'),
        ({"layers": []}, "no layers"),
        ({"name": 3, "layers": [{"type": "flatten"}]}, '"name" must be text'),
    ],
)
def test_bad_structure(spec, fragment):
    report = infer_shapes(spec, (1, 28, 28), 10)
    assert not report.ok and report.error_index is None and fragment in report.error
    with pytest.raises(SpecError, match=fragment.replace("(", r"\(")):
        validate_spec(spec, (1, 28, 28), 10)


def test_bad_input_shape_and_classes():
    spec = spec_of({"type": "flatten"}, {"type": "linear", "out": "classes"})
    assert "Input shape" in infer_shapes(spec, (28, 28), 10).error
    assert "Input shape" in infer_shapes(spec, (1, 0, 28), 10).error
    assert "classes" in infer_shapes(spec, (1, 28, 28), 0).error
    assert validate_spec(spec, (784,), 10).layers[0].out_shape == (784,)  # flat input is allowed


def test_editor_defaults_are_valid():
    """Every registry entry is well formed and "Add layer" starting values pass validation."""
    for name, ltype in LAYER_TYPES.items():
        assert ltype.name == name and ltype.title and ltype.description
        for p in ltype.params:
            assert p.kind in ("int", "float", "bool", "choice") and p.title
        layer = new_layer(name)
        if ltype.input_rank == "vector":
            spec = spec_of({"type": "flatten"}, layer, {"type": "flatten"}, {"type": "linear", "out": "classes"})
        else:
            spec = spec_of(layer, {"type": "flatten"}, {"type": "linear", "out": "classes"})
        assert validate_spec(spec, (3, 16, 16), 4).ok, name
        build_model(spec, (3, 16, 16), 4)


# --------------------------------------------------------------------------------------------------
# Torch-free inference


def test_spec_inference_does_not_import_torch():
    code = (
        "import sys\n"
        "from cnnstudio.core.models import spec, presets, list_presets, infer_shapes\n"
        "for p in list_presets():\n"
        "    assert infer_shapes(p, (1, 28, 28), 10).ok\n"
        "assert not infer_shapes({'layers': [{'type': 'maxpool'}] * 9}, (1, 28, 28), 10).ok\n"
        "bad = [m for m in ('torch', 'torchvision', 'numpy', 'PySide6') if m in sys.modules]\n"
        "print('imported:', bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------------------------------
# Files


def test_json_round_trip(tmp_path):
    spec = get_preset("lenet5")
    path = tmp_path / "sub" / "lenet.json"
    save_spec(spec, path)
    assert load_spec(path) == spec
    assert resolve_spec(str(path)) == spec and resolve_spec(path) == spec
    assert resolve_spec("lenet5") == spec
    assert not list(path.parent.glob("*.tmp"))


def test_load_fills_name_from_file(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"layers": [{"type": "flatten"}, {"type": "linear", "out": "classes"}]}))
    assert load_spec(path)["name"] == "mine"


def test_bad_json_file_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"layers": [ {"type": "relu"}, ]')
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert str(path) in str(err.value) and "not valid JSON" in str(err.value) and "line 1" in str(err.value)


def test_bad_structure_in_file_names_file_and_layer(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"layers": [{"type": "relu"}, {"type": "conv", "out": 8}]}))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert str(path) in str(err.value) and "Layer 2 (Convolution)" in str(err.value) and "'kernel'" in str(err.value)
    assert err.value.layer_index == 1


def test_missing_file_and_unknown_name(tmp_path):
    with pytest.raises(SpecError, match="not found"):
        load_spec(tmp_path / "nope.json")
    with pytest.raises(SpecError, match="neither a preset"):
        resolve_spec("no-such-model")
    with pytest.raises(SpecError, match="not found"):
        resolve_spec(str(tmp_path / "nope.json"))


def test_save_refuses_invalid_spec(tmp_path):
    with pytest.raises(SpecError):
        save_spec({"layers": [{"type": "bogus"}]}, tmp_path / "x.json")
    with pytest.raises(SpecError, match="JSON"):
        save_spec(spec_of({"type": "dropout", "p": 0.5}) | {"extra": object()}, tmp_path / "y.json")
    assert not (tmp_path / "x.json").exists() and not (tmp_path / "y.json").exists()


@pytest.mark.parametrize("p", [0.3, 0.5, 0.9, 0.999])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fast_dropout_keeps_one_minus_p_and_the_mean(p, dtype):
    from cnnstudio.core.models.builder import FastDropout

    layer = FastDropout(p)
    x = torch.ones(64, 8, 25, 25, dtype=dtype).contiguous(memory_format=torch.channels_last)
    torch.manual_seed(0)
    out = layer(x)
    kept = out != 0
    threshold = min(255, round(p * 256))
    expected = (256 - threshold) / 256
    assert out.shape == x.shape and out.dtype == dtype and torch.isfinite(out.float()).all()
    assert abs(kept.float().mean().item() - expected) < 0.01  # 320,000 values: a few sigma at most
    # The kept values carry the scale that keeps the expected value of each unit.
    assert out[kept].float().mean().item() == pytest.approx(1 / expected, rel=4e-3)
    assert abs(out.float().mean().item() - 1.0) < 0.02 + (0.5 if p > 0.99 else 0)
    # The mask differs from channel to channel and place to place (no layout artefact), the draw is seeded.
    assert kept[:, 0].float().mean().item() == pytest.approx(kept[:, 7].float().mean().item(), abs=0.02)
    torch.manual_seed(0)
    assert torch.equal(layer(x), out)
    layer.eval()
    assert layer(x) is x
