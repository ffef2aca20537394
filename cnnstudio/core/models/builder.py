"""The one place a model spec becomes a torch module.

build_model returns an nn.Sequential whose child i is exactly spec layer i (child names "0", "1",
...), so a forward hook on child i yields the activation shown in row i of the shape table, and
the shape table's parameter counts can be checked against the real module. Every size that depends
on the input (in_channels, in_features, the "classes" output) comes from infer_shapes, never from
a second, hand-written computation.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from cnnstudio.core.models.spec import LayerInfo, Shape, validate_spec


class BasicBlock(nn.Module):
    """ResNet BasicBlock (He et al. 2016): conv3x3-BN-ReLU-conv3x3-BN, plus a shortcut, then ReLU.

    The shortcut is a 1x1 conv + BN ("option B") when the stride or the channel count changes,
    the identity otherwise; torchvision's resnet18 does the same, so parameter counts match it.
    No operation is in-place, so hooks on the inner modules see unmodified tensors.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride != 1 or in_channels != out_channels:
            self.shortcut: nn.Module = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels))
        else:
            self.shortcut = nn.Identity()
        # Kaiming (fan_out, ReLU) as in torchvision's ResNets: keeps activations from shrinking
        # through deep stacks of blocks. BatchNorm keeps PyTorch's default scale 1, shift 0.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        result: torch.Tensor = self.relu(out + self.shortcut(x))
        return result


class FastDropout(nn.Dropout):
    """nn.Dropout with a cheaper mask: random bytes compared with round(p * 256).

    Drawing float Bernoulli samples was 12 % of a convnet-5x5 training step on the CPU; random bytes
    cost a third of that, and drawing them four at a time (below) a third again. The kept values'
    scale is folded into the mask in x's dtype, so forwards and backwards are one multiply each (the
    whole layer, forward and backward, 1.1 ms instead of 3.0 for convnet-5x5's 128 x 3136 values in
    bf16). p is used to within 1/512 (0.5 exactly). Same module type and state_dict as nn.Dropout,
    identity in eval mode.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        threshold = min(255, int(round(self.p * 256)))  # p just under 1 must still keep something
        keep = random_bytes(x) >= threshold
        return x * keep.to(x.dtype).mul_(256.0 / (256 - threshold))


def random_bytes(x: torch.Tensor) -> torch.Tensor:
    """Uniform random uint8 values shaped like x, on x's device, from torch's default generator.

    On the CPU they are drawn as int32 words over their whole range and read as bytes: the CPU
    generator's cost is per number drawn, so four bytes a draw is three times cheaper (0.48 vs 1.48 ms
    for 400,000 bytes here). GPUs draw in parallel and keep the plain byte draw.
    """
    if x.device.type != "cpu":
        return torch.empty_like(x, dtype=torch.uint8).random_(0, 256)
    n = x.numel()
    words = torch.empty((n + 3) // 4, dtype=torch.int32).random_(-2 ** 31, 2 ** 31)
    flat = words.view(torch.uint8)[:n]
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        # Laid out as x is, so the multiply walks both in memory order.
        n_, c, h, w = x.shape
        return flat.view(n_, h, w, c).permute(0, 3, 1, 2)
    return flat.view(x.shape)


class GlobalAvgPool(nn.Module):
    """(N, C, H, W) -> (N, C): mean over the spatial axes; one module so it is one spec layer."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(-2, -1))


def _module(info: LayerInfo) -> nn.Module:
    c: dict[str, Any] = info.config
    kind = info.type
    if kind == "conv":
        return nn.Conv2d(info.in_shape[0], c["out"], c["kernel"], c["stride"], c["padding"], bias=c["bias"])
    if kind in ("maxpool", "avgpool"):
        cls = nn.MaxPool2d if kind == "maxpool" else nn.AvgPool2d
        return cls(c["kernel"], c["stride"] if c["stride"] is not None else c["kernel"], c["padding"])
    if kind == "global_avgpool":
        return GlobalAvgPool()
    if kind == "batchnorm":
        return (nn.BatchNorm2d if len(info.in_shape) == 3 else nn.BatchNorm1d)(info.in_shape[0])
    if kind == "linear":
        return nn.Linear(info.in_shape[0], info.out_shape[0], bias=c["bias"])
    if kind == "basic_block":
        return BasicBlock(info.in_shape[0], c["out"], c["stride"])
    if kind == "backbone":
        from cnnstudio.core.models.backbones import make_backbone

        backbone: nn.Module = make_backbone(c["arch"], c["resolution"], c["train"], c["weights"], info.in_shape[0])
        return backbone
    if kind == "leaky_relu":
        return nn.LeakyReLU(c["slope"])
    if kind == "gelu":
        return nn.GELU(approximate=c["approximate"])
    if kind == "dropout":
        return FastDropout(c["p"])
    # Activations are not in-place: a hook that keeps layer i's output must not see it overwritten
    # by layer i + 1.
    simple: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
                                          "flatten": nn.Flatten}
    return simple[kind]()


def build_model(spec: dict[str, Any], input_shape: Shape, num_classes: int) -> nn.Sequential:
    """Validate `spec` for this input and class count (SpecError if invalid) and build it.

    The result's child i is spec layer i. PyTorch's default initialisation is kept except in
    residual blocks (Kaiming). Works with channels_last and autocast: only standard modules and
    shape-agnostic reductions are used.
    """
    report = validate_spec(spec, input_shape, num_classes)
    return nn.Sequential(*(_module(info) for info in report.layers))


def _commutes_with_max(module: nn.Module) -> bool:
    # max(f(a), f(b)) == f(max(a, b)) for any non-decreasing f, exactly, also in floating point:
    # ReLU and a LeakyReLU with a non-negative slope only clamp or scale by a positive constant.
    if isinstance(module, nn.ReLU):
        return True
    return isinstance(module, nn.LeakyReLU) and module.negative_slope >= 0


def training_graph(model: nn.Module) -> nn.Module:
    """The same layers in the order that is cheapest to train: each ReLU that feeds a max-pool runs after it.

    ReLU then max-pool equals max-pool then ReLU, forwards and backwards, bit for bit (a non-decreasing
    function commutes with max; the pooled argmax, and so where the gradient goes, is the same wherever
    it is not zero). After the pool the activation works on a quarter of the values: on the CPU the
    ReLU, its backward pass and their memory traffic at full resolution were 8 % of a convnet-5x5 step.
    The modules are shared, not copied: training this graph trains `model`, whose layer order (and so
    every hook, shape table and checkpoint) stays the spec's. Anything but a plain Sequential is
    returned as it is.
    """
    if type(model) is not nn.Sequential:
        return model
    order = list(model)
    swapped = False
    for i in range(len(order) - 1):
        if _commutes_with_max(order[i]) and isinstance(order[i + 1], nn.MaxPool2d):
            order[i], order[i + 1] = order[i + 1], order[i]
            swapped = True
    return nn.Sequential(*order) if swapped else model
