"""Attribution methods (core/inspection/methods.py), their faithfulness, the sanity check, activation
maximisation and `cnnstudio explain`: each against a case whose answer is known. Offline, CPU only."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from cnnstudio.core.inspection.faithfulness import auc, faithfulness
from cnnstudio.core.inspection.methods import (METHODS, SLOW, ExplanationCancelled, explain)
from cnnstudio.core.inspection.sanity import FLAG_AT, layer_groups, sanity_check, spearman
from cnnstudio.core.models.builder import build_model
from cnnstudio.core.models.presets import get_preset

SIDE = 28
HALF = SIDE // 2


class TopLeftOnly(nn.Module):
    """Zeroes everything outside the top-left quadrant: the model after it cannot see the rest."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = torch.zeros_like(x)
        mask[..., :HALF, :HALF] = 1
        return x * mask


def quadrant_model(seed: int = 0, gain: float = 1.0) -> nn.Sequential:
    torch.manual_seed(seed)
    model = nn.Sequential(TopLeftOnly(), nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8 * SIDE * SIDE, 3)).eval()
    with torch.no_grad():
        model[-1].weight.mul_(gain)  # logits of a trained model's size
    return model


def picture(seed: int = 1, shape=(1, SIDE, SIDE)) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed)) + 0.5


@pytest.mark.parametrize("method", METHODS)
def test_a_model_that_sees_one_quadrant_gets_its_attribution_there(method):
    """Known answer: the score depends on the top-left quadrant only, so (almost) every bit of every method's
    map lies there; the opposite quadrant, which no method can reach, gets nothing."""
    model = quadrant_model()
    a = explain(model, picture(), method)
    heat = a.heatmap
    assert heat.shape == (SIDE, SIDE) and heat.dtype == np.float32 and heat.max() == pytest.approx(1.0)
    margin = 4  # a CAM's 3x3 convolutions and an occlusion patch reach a few pixels past the border
    near = heat[:HALF + margin, :HALF + margin].sum()
    assert near / heat.sum() > 0.97, (method, near / heat.sum())
    assert heat[:HALF, :HALF].sum() / heat.sum() > 0.8, method
    assert heat[HALF + margin:, HALF + margin:].max() < 1e-6, method
    assert a.class_index == int(model(picture()[None]).argmax()) and a.seconds > 0
    assert (a.layer is not None) == (method in ("gradcam", "gradcam++", "scorecam", "layercam"))


def test_integrated_gradients_add_up_to_the_score_difference_from_the_baseline(trained_shapes):
    """Completeness (Sundararajan et al. 2017): the attributions sum to F(x) - F(baseline), within 5 % (32
    Gauss-Legendre steps on a network of ReLUs, whose path integral has kinks)."""
    from cnnstudio.core.inspection.methods import black_baseline

    predictor, data = trained_shapes
    cases = [(quadrant_model(gain=30), picture(), torch.zeros(1, SIDE, SIDE))]
    cases += [(predictor.model, predictor.normalise(data.test_images[i][None])[0], black_baseline(predictor))
              for i in range(3)]
    for model, x, baseline in cases:
        a = explain(model, x, "integrated-gradients", baseline=baseline)
        with torch.no_grad():
            diff = float(model(x[None])[0, a.class_index] - model(baseline[None])[0, a.class_index])
        assert abs(diff) > 0.5
        assert a.total == pytest.approx(diff, rel=0.05)
        assert a.signed.sum() == pytest.approx(a.total, rel=1e-4, abs=1e-5)  # the map is the channels' sum
        assert abs(a.delta) < 0.05 * abs(diff)


def test_every_method_on_a_preset_a_custom_spec_and_a_backbone_leaves_the_model_as_it_was():
    custom = {"name": "custom", "layers": [
        {"type": "basic_block", "out": 8, "stride": 2}, {"type": "conv", "out": 12, "kernel": 3, "padding": 1},
        {"type": "gelu"}, {"type": "flatten"}, {"type": "linear", "out": "classes"}]}
    backbone = {"name": "bb", "layers": [
        {"type": "backbone", "arch": "mobilenet_v3_small", "weights": "none", "train": "all", "resolution": 32},
        {"type": "linear", "out": "classes"}]}
    for spec, shape in ((get_preset("bn-cnn4"), (1, 28, 28)), (custom, (3, 20, 20)), (backbone, (3, 32, 32))):
        torch.manual_seed(0)
        model = build_model(spec, shape, 4).train()
        before = {k: v.clone() for k, v in model.state_dict().items()}
        x = picture(2, shape)
        for method in METHODS:
            a = explain(model, x, method, target_class=2)
            assert a.heatmap.shape == shape[1:] and np.isfinite(a.heatmap).all(), (spec["name"], method)
            assert a.class_index == 2
        assert all(m.training for m in model.modules())
        assert all(p.grad is None for p in model.parameters())
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("method", SLOW)
def test_slow_methods_report_progress_and_stop_when_cancelled(method):
    model = build_model(get_preset("fast-cnn"), (1, 28, 28), 10).eval()
    seen: list[float] = []
    explain(model, picture(), method, progress=seen.append)
    assert len(seen) >= 3 and seen == sorted(seen) and seen[-1] == 1.0 and seen[0] < 0.5
    calls = []

    def cancelled() -> bool:
        calls.append(1)
        return len(calls) > 1  # after the first pass
    with pytest.raises(ExplanationCancelled):
        explain(model, picture(), method, cancelled=cancelled)
    assert len(calls) == 2  # stopped at once, not after all the passes


def test_deletion_and_insertion_curves_follow_the_pixels_the_model_uses():
    """On the quadrant model, a map on the quadrant it sees is more faithful than a map on one it cannot see."""
    model = quadrant_model(gain=30)
    x = picture()
    cls = int(model(x[None]).argmax())
    seen, unseen = np.zeros((SIDE, SIDE), np.float32), np.zeros((SIDE, SIDE), np.float32)
    seen[:HALF, :HALF] = 1
    unseen[HALF:, HALF:] = 1
    good, bad = faithfulness(model, x, seen, cls), faithfulness(model, x, unseen, cls)
    with torch.no_grad():
        p_x = float(torch.softmax(model(x[None]), 1)[0, cls])
        p_0 = float(torch.softmax(model(torch.zeros_like(x)[None]), 1)[0, cls])
    for f in (good, bad):
        assert f.fractions[0] == 0 and f.fractions[-1] == 1
        assert f.deletion[0] == pytest.approx(p_x, abs=1e-5) and f.deletion[-1] == pytest.approx(p_0, abs=1e-5)
        assert f.insertion[0] == pytest.approx(p_0, abs=1e-5) and f.insertion[-1] == pytest.approx(p_x, abs=1e-5)
    assert good.deletion_auc < bad.deletion_auc - 0.05 and good.insertion_auc > bad.insertion_auc + 0.05
    # The unseen map: nothing changes while its quadrant's pixels go (the first quarter); the ties after it are
    # taken in random order, not row by row.
    first = bad.fractions <= 0.25
    assert first.sum() >= 5 and np.allclose(bad.deletion[first], p_x, atol=1e-5)
    assert not np.allclose(bad.deletion[~first], p_x, atol=1e-3)
    assert auc(np.array([0, 0.5, 1.0]), np.array([1.0, 1.0, 0.0])) == pytest.approx(0.75)


def sobel_edges(_model: nn.Module, x: torch.Tensor, _cls: int) -> np.ndarray:
    """An "explanation" built to ignore the model: the picture's edges."""
    g = x.reshape(-1, *x.shape[-2:]).mean(0).numpy()
    gy, gx = np.gradient(g)
    m = np.hypot(gx, gy)
    return (m / m.max()).astype(np.float32)


@pytest.fixture(scope="module")
def trained_shapes(cli_shapes_run):
    """The session's well-trained shapes model (tests/conftest.py: fast-cnn, 99 % test accuracy; light figures
    on a dark ground) as a Predictor, and the shapes set."""
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.inference import Predictor

    return Predictor(cli_shapes_run["checkpoint"]), load_dataset("shapes")


def test_the_sanity_check_flags_an_edge_detector_and_not_grad_cam_on_a_trained_model(trained_shapes):
    predictor, data = trained_shapes
    model = predictor.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for i in range(3):
        u8 = data.test_images[i]
        x = predictor.normalise(u8[None])[0]
        cls = int(data.test_labels[i])
        edges = sanity_check(model, x, sobel_edges, cls, name="edges")
        assert edges.flagged and edges.final == pytest.approx(1.0)
        cam = sanity_check(model, x, "gradcam", cls)
        assert not cam.flagged, [s.spearman for s in cam.steps]
        assert cam.final < FLAG_AT and len(cam.steps) >= 2
        assert cam.steps[-1].layers == len(layer_groups(model)) and cam.steps[-1].down_to == "layer 1"
        assert "changes with the weights" in cam.verdict() and "barely changes" in edges.verdict()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # copies were randomised


def test_spearman_is_the_rank_correlation():
    a = np.arange(10.0)
    assert spearman(a, a ** 3) == pytest.approx(1.0) and spearman(a, -a) == pytest.approx(-1.0)
    assert spearman(a, np.zeros(10)) == 0.0


def test_activation_maximisation_finds_what_a_known_channel_wants():
    """A 1x1 convolution whose channel 0 is +brightness and channel 1 is -brightness: the synthesised
    picture of channel 0 is bright, that of channel 1 dark, and both fire far more than on the start noise."""
    from cnnstudio.core.inspection.maximise import maximise_channels

    conv = nn.Conv2d(1, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight[:, 0, 0, 0] = torch.tensor([1.0, -1.0])
    model = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(2 * 16 * 16, 2))
    result = maximise_channels(model, "0", (1, 16, 16), [0.5], [0.25], steps=60)
    assert result.pixels.shape == (2, 16, 16) and result.pixels.dtype == np.uint8
    assert result.pixels[0].mean() > 200 and result.pixels[1].mean() < 55
    assert (result.activation > result.start_activation + 0.5).all()
    assert all(p.grad is None for p in model.parameters())


def test_explain_command(tiny_shapes_run, tmp_path, capsys):
    from PIL import Image

    from cnnstudio.cli import main
    from cnnstudio.core.datasets import load_dataset

    image = tmp_path / "shape.png"
    Image.fromarray(load_dataset("shapes").test_images[0, 0].numpy()).save(image)
    ckpt = str(tiny_shapes_run / "best.pt")
    out = tmp_path / "overlay.png"
    assert main(["explain", "--checkpoint", ckpt, str(image), "--method", "gradcam++", "--out", str(out),
                 "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)  # one object, nothing else on stdout
    assert set(result) == {"method", "class", "deletion_auc", "insertion_auc", "seconds"}
    assert result["method"] == "gradcam++" and 0 <= result["deletion_auc"] <= 1 and result["seconds"] > 0
    written = Image.open(out)
    assert written.size[0] > written.size[1] >= 28  # the picture beside its overlay
    stamp = out.read_bytes()
    # --out never replaces a file: one line, nothing written, nothing computed.
    assert main(["explain", "--checkpoint", ckpt, str(image), "--method", "occlusion", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "already exists" in err and out.read_bytes() == stamp
    assert main(["explain", "--checkpoint", ckpt, str(image), "--method", "saliency", "--class", "99"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--class 99" in err
    assert main(["explain", "--checkpoint", ckpt, str(image), "--method", "smoothgrad", "--class", "1"]) == 0
    assert capsys.readouterr().out.startswith("SmoothGrad for class 1")
    with pytest.raises(SystemExit):
        main(["explain", "--checkpoint", ckpt, str(image), "--method", "lime"])


def test_a_private_copy_carries_no_hooks_of_an_inspection_running_meanwhile():
    from cnnstudio.core.inspection.activations import capture
    from cnnstudio.core.inspection.methods import private_copy

    model = quadrant_model()
    with capture(dict(model.named_children())) as outputs:
        clone = private_copy(model)  # as if copied while another thread's inspection had its hooks on
    clone(picture()[None])
    assert outputs == {}  # the copy's pass wrote nothing into that inspection's outputs
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), clone.state_dict().values()))
