"""Ready-made architectures, each a plain spec with a line on where it comes from.

Presets never hard-code the input: convolutions infer their input channels, every Linear infers its
input features, and the last Linear's out is "classes". So each preset builds for 1x28x28 digits
and 3x32x32 photos alike (the shape table changes, the spec does not). Sizes quoted in the
descriptions are for 1x28x28 input and 10 classes. Torch-free, like spec.py.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from cnnstudio.core.errors import SpecError
from cnnstudio.core.models.layer_types import CLASSES
from cnnstudio.core.models.spec import load_spec

Layer = dict[str, Any]


# Small constructors keep the preset table readable; they produce ordinary spec dicts.
def conv(out: int, kernel: int, *, stride: int = 1, padding: int = 0, bias: bool = True) -> Layer:
    layer: Layer = {"type": "conv", "out": out, "kernel": kernel}
    if stride != 1:
        layer["stride"] = stride
    if padding:
        layer["padding"] = padding
    if not bias:
        layer["bias"] = False
    return layer


def pool(kind: str = "maxpool", kernel: int = 2, *, padding: int = 0) -> Layer:
    layer: Layer = {"type": kind, "kernel": kernel}
    if padding:
        layer["padding"] = padding
    return layer


def linear(out: int | str) -> Layer:
    return {"type": "linear", "out": out}


def dropout(p: float) -> Layer:
    return {"type": "dropout", "p": p}


def block(out: int, stride: int = 1) -> Layer:
    layer: Layer = {"type": "basic_block", "out": out}
    if stride != 1:
        layer["stride"] = stride
    return layer


def act(kind: str) -> Layer:
    return {"type": kind}


# Functions, not shared constants: a preset must never hold the same dict twice, or editing one
# layer of a copy (deepcopy keeps aliasing) would edit the other too.
def relu() -> Layer:
    return act("relu")


def flatten() -> Layer:
    return act("flatten")


def bn() -> Layer:
    return act("batchnorm")


def tanh() -> Layer:
    return act("tanh")


def sigmoid() -> Layer:
    return act("sigmoid")


def _cnn3_dropout() -> list[Layer]:
    layers: list[Layer] = []
    for out, pad in ((32, 0), (64, 0), (128, 1)):
        layers += [conv(out, 3, padding=1), relu(), pool(padding=pad), dropout(0.3)]
    return layers + [flatten(), linear(625), relu(), dropout(0.3), linear(CLASSES)]


def _tiny_bn_cnn() -> list[Layer]:
    layers: list[Layer] = []
    for _ in range(2):
        layers += [conv(4, 2, padding=1), bn(), relu(), pool()]
    return layers + [flatten(), linear(CLASSES)]


def _convnet_5x5() -> list[Layer]:
    layers: list[Layer] = []
    for out in (32, 64):
        layers += [conv(out, 5, padding=2), relu(), pool()]
    return layers + [flatten(), dropout(0.5), linear(1000), linear(CLASSES)]


def _bn_cnn4() -> list[Layer]:
    layers: list[Layer] = []
    for i, out in enumerate((5, 10, 20, 40)):
        layers += [conv(out, 3, padding=1), relu(), bn()]
        if i % 2 == 1:
            layers.append(pool())
    return layers + [flatten(), linear(200), relu(), dropout(0.5), linear(500), relu(), linear(CLASSES)]


def _fast_cnn() -> list[Layer]:
    """Three conv3x3-BN-ReLU-maxpool blocks (32, 64, 128) and one linear layer on the 3x3x128 map."""
    layers: list[Layer] = []
    for out in (32, 64, 128):
        layers += [conv(out, 3, padding=1, bias=False), bn(), relu(), pool()]
    return layers + [flatten(), linear(CLASSES)]


def _gap_cnn() -> list[Layer]:
    """conv3x3-BN-ReLU blocks (32, 64, 128, 128) with max-pooling after the first three, then global
    average pooling: few weights, and the class read from anywhere in the picture."""
    layers: list[Layer] = []
    for i, out in enumerate((32, 64, 128, 128)):
        layers += [conv(out, 3, padding=1, bias=False), bn(), relu()]
        if i < 3:
            layers.append(pool())
    return layers + [{"type": "global_avgpool"}, dropout(0.3), linear(CLASSES)]


def _sigmoid_cnn() -> list[Layer]:
    return [conv(3, 3), sigmoid(), conv(6, 3), sigmoid(), flatten(), linear(CLASSES)]


def _lenet5() -> list[Layer]:
    return [conv(6, 5, padding=2), tanh(), pool("avgpool"), conv(16, 5), tanh(), pool("avgpool"),
            flatten(), linear(120), tanh(), linear(84), tanh(), linear(CLASSES)]


def _vgg_bn() -> list[Layer]:
    layers: list[Layer] = []
    for item in (64, 64, "M", 128, 128, "M", 256, 256, "M"):
        if isinstance(item, str):  # "M"
            layers.append(pool())
        else:
            layers += [conv(item, 3, padding=1, bias=False), bn(), relu()]  # BN's shift replaces the bias
    return layers + [{"type": "global_avgpool"}, dropout(0.5), linear(CLASSES)]


def _resnet(stages: tuple[tuple[int, int], ...]) -> list[Layer]:
    """A CIFAR-style ResNet stem (conv3x3, no max-pool) and stages of (channels, blocks)."""
    layers: list[Layer] = [conv(stages[0][0], 3, padding=1, bias=False), bn(), relu()]
    for s, (channels, blocks) in enumerate(stages):
        for b in range(blocks):
            layers.append(block(channels, 2 if s > 0 and b == 0 else 1))
    return layers + [{"type": "global_avgpool"}, linear(CLASSES)]


def _pretrained(arch: str, resolution: int = 224) -> list[Layer]:
    """A backbone pretrained on ImageNet (frozen: features only) and a head for the classes.

    The head standardises the features first (BatchNorm): each backbone's features have their own scale
    (EfficientNet's differ from ResNet's by an order of magnitude), and a linear layer on standardised
    features learns at the same pace whichever backbone feeds it.
    """
    return [{"type": "backbone", "arch": arch, "weights": "imagenet", "train": "features", "resolution": resolution},
            bn(), dropout(0.2), linear(CLASSES)]


def _preset(name: str, description: str, recommended: str, layers: list[Layer]) -> dict[str, Any]:
    return {"name": name, "description": description, "recommended": recommended, "layers": layers}


PRESETS: dict[str, dict[str, Any]] = {
    p["name"]: p
    for p in (
        _preset("cnn3-dropout",
                "Three conv-ReLU-maxpool-dropout blocks (32/64/128) and a 625-unit hidden layer, as in the "
                "'deep CNN' MNIST lab of the Deep Learning Zero To All course; 99%+ on MNIST.",
                "MNIST, Fashion-MNIST; also works on 32x32 colour images", _cnn3_dropout()),
        _preset("tiny-bn-cnn",
                "A deliberately tiny net: two 4-channel 2x2 convs with BatchNorm, about two thousand "
                "parameters; shows how far batch normalisation gets with almost no capacity.",
                "MNIST; quick experiments on CPU", _tiny_bn_cnn()),
        _preset("convnet-5x5",
                "Two 5x5 conv-ReLU-maxpool layers (32/64), dropout and a 1000-unit layer, as in the "
                "widely copied 'ConvNet' PyTorch MNIST tutorial (about 3.2 M parameters).",
                "MNIST, Fashion-MNIST, EMNIST", _convnet_5x5()),
        _preset("bn-cnn4",
                "Four narrow 3x3 convs (5/10/20/40) each followed by ReLU then BatchNorm, max-pooling "
                "after the second and fourth, then a 200-500 unit MLP head: a common MNIST "
                "classroom model.",
                "MNIST, Fashion-MNIST", _bn_cnn4()),
        _preset("sigmoid-cnn",
                "Two unpadded 3x3 convs (3 and 6 channels) with sigmoid activations and a single Linear: "
                "the kind of early, pre-ReLU network that shows why sigmoids train slowly.",
                "MNIST; for comparing activations", _sigmoid_cnn()),
        _preset("lenet5",
                "LeNet-5 (LeCun et al. 1998) with tanh activations and average pooling; the first conv "
                "is padded by 2 so 28x28 digits see the 32x32 field of the original. Plain tanh and "
                "full connections replace the original's scaled tanh, sparse C3 table and RBF output.",
                "MNIST, Fashion-MNIST", _lenet5()),
        _preset("fast-cnn",
                "Three 3x3 conv-BatchNorm-ReLU-maxpool blocks (32, 64, 128) and a linear classifier on the "
                "last 3x3 map: about 0.1 M parameters, designed for time to accuracy the way the CIFAR-10 "
                "speed records are (a small BatchNorm net, one-cycle, label smoothing, two epochs): 91 % on "
                "Fashion-MNIST in about two epochs.",
                "MNIST, Fashion-MNIST, KMNIST: the fastest way to a good model", _fast_cnn()),
        _preset("gap-cnn",
                "Four 3x3 conv-BatchNorm-ReLU blocks (32, 64, 128, 128), max-pooling after the first three, "
                "global average pooling, dropout 0.3 and a linear classifier: about 0.24 M parameters, and "
                "the object is recognised wherever it sits. Strong when the object fills much of the picture "
                "(94 % on a messy folder of 300 pictures where bn-cnn4 reached 90 %); slow to learn small "
                "objects in busy scenes (docs/benchmarks-history.md).",
                "small sets of your own photos with a large subject", _gap_cnn()),
        _preset("vgg-bn",
                "A small VGG-style net (Simonyan and Zisserman 2015) with BatchNorm: "
                "[64, 64, M, 128, 128, M, 256, 256, M] of conv3x3-BN-ReLU, global average pooling, "
                "dropout 0.5 and a linear classifier (about 1.15 M parameters).",
                "CIFAR-10, Fashion-MNIST, SVHN", _vgg_bn()),
        _preset("resnet20",
                "ResNet-20 for CIFAR (He et al. 2016, section 4.2): conv3x3 16, three stages of three "
                "basic blocks (16, 32, 64), global average pooling. Uses 1x1-conv shortcuts where the "
                "shape changes (option B) instead of the paper's zero-padding identity (option A), "
                "which adds about 2.8 k parameters to its 0.27 M.",
                "CIFAR-10, CIFAR-100, SVHN", _resnet(((16, 3), (32, 3), (64, 3)))),
        _preset("resnet18",
                "torchvision's ResNet-18 (He et al. 2016) adapted to small images: a 3x3 stride-1 first "
                "conv and no max-pool, then four stages of two basic blocks (64, 128, 256, 512); "
                "about 11.2 M parameters, the same count as torchvision's with those two changes.",
                "CIFAR-10, CIFAR-100; slow on CPU", _resnet(((64, 2), (128, 2), (256, 2), (512, 2)))),
        _preset("resnet18-imagenet",
                "torchvision's ResNet-18 with its ImageNet weights (69.8 % top-1), frozen, and a new linear "
                "head: features only, the quickest way to a good model of your own photos. Set the backbone's "
                "\"What learns\" to fine-tune its last stage or all of it.",
                "your own photos (a few hundred per class)", _pretrained("resnet18")),
        _preset("mobilenet-v3-small-imagenet",
                "torchvision's MobileNetV3-Small with its ImageNet weights (67.7 % top-1; 0.9 M parameters), "
                "frozen, and a new linear head: the fastest pretrained choice on a CPU.",
                "your own photos; slow CPUs", _pretrained("mobilenet_v3_small")),
        _preset("mobilenet-v3-large-imagenet",
                "torchvision's MobileNetV3-Large with its ImageNet weights (75.3 % top-1; 3.0 M parameters), "
                "frozen, and a new linear head.",
                "your own photos", _pretrained("mobilenet_v3_large")),
        _preset("efficientnet-b0-imagenet",
                "torchvision's EfficientNet-B0 with its ImageNet weights (77.7 % top-1; 4.0 M parameters), "
                "frozen, and a new linear head: the most accurate of the four.",
                "your own photos", _pretrained("efficientnet_b0")),
    )
}


def list_presets() -> list[dict[str, Any]]:
    """Every preset (deep copies), in the order they are offered."""
    return [copy.deepcopy(p) for p in PRESETS.values()]


def preset_names() -> list[str]:
    return list(PRESETS)


def get_preset(name: str) -> dict[str, Any]:
    """A deep copy of the preset: callers may edit it without changing the table."""
    try:
        return copy.deepcopy(PRESETS[name])
    except (KeyError, TypeError):
        raise SpecError(f"Unknown architecture {name!r}; presets: {', '.join(PRESETS)}") from None


def resolve_spec(name_or_path: str | os.PathLike[str]) -> dict[str, Any]:
    """A preset by name, or a spec loaded from a JSON file path (what the CLI's --model accepts)."""
    if isinstance(name_or_path, str) and name_or_path in PRESETS:
        return get_preset(name_or_path)
    path = Path(name_or_path)
    if path.exists() or path.suffix.lower() == ".json" or isinstance(name_or_path, os.PathLike):
        return load_spec(path)
    raise SpecError(f"{str(name_or_path)!r} is neither a preset ({', '.join(PRESETS)}) "
                    f"nor an existing model file")
