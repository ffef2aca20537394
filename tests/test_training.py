"""The training engine: resume, pause/stop, safe checkpoints, failures, inference framing."""

from __future__ import annotations

import json
import os
import pickle
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

from cnnstudio.core.checkpoint import load_checkpoint, save_checkpoint
from cnnstudio.core.datasets import load_dataset
from cnnstudio.core.errors import CheckpointError, CNNStudioError
from cnnstudio.core.inference import Predictor, prepare_image
from cnnstudio.core.training.config import Augmentation, TrainConfig
from cnnstudio.core.training.events import EpochEvent, FinishedEvent, StepEvent
from cnnstudio.core.training.trainer import Trainer


@pytest.fixture(scope="module")
def shapes():
    return load_dataset("shapes")


def small_config(**changes) -> TrainConfig:
    cfg = TrainConfig(dataset="shapes", model="tiny-bn-cnn", epochs=2, batch_size=64, optimizer="adam", lr=2e-3,
                      val_split=0.1, limit_train=1500, device="cpu", precision="fp32", seed=3,
                      augment=Augmentation(crop_padding=2, hflip=True, rotation=5.0))
    for key, value in changes.items():
        setattr(cfg, key, value)
    return cfg


EPOCH_KEYS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr")


def assert_same_epochs(a: dict, b: dict) -> None:
    for key in EPOCH_KEYS:
        assert len(a[key]) == len(b[key]), key
        np.testing.assert_allclose(np.array(a[key], dtype=float), np.array(b[key], dtype=float), rtol=1e-5,
                                   atol=1e-6, err_msg=key)


def test_resume_at_epoch_boundary_matches_uninterrupted(shapes, tmp_path):
    full = Trainer(small_config(epochs=3), dataset=shapes, run_dir=tmp_path / "full").run()
    assert full.status == "finished"

    first = Trainer(small_config(epochs=1), dataset=shapes, run_dir=tmp_path / "split").run()
    assert first.epochs == 1
    resumed = Trainer(small_config(epochs=3), dataset=shapes, resume_from=tmp_path / "split" / "last.pt").run()
    assert resumed.run_dir == str(tmp_path / "split")
    assert_same_epochs(full.history, resumed.history)
    assert resumed.test_accuracy == pytest.approx(full.test_accuracy)


def test_stop_mid_epoch_then_resume_matches_uninterrupted(shapes, tmp_path):
    full = Trainer(small_config(log_every=1), dataset=shapes, run_dir=tmp_path / "full").run()

    holder = {}

    def on_event(event):
        if isinstance(event, StepEvent) and event.epoch == 2 and event.step == 5:
            holder["trainer"].stop()

    trainer = Trainer(small_config(log_every=1), dataset=shapes, run_dir=tmp_path / "stopped", on_event=on_event)
    holder["trainer"] = trainer
    stopped = trainer.run()
    assert stopped.status == "stopped"
    ckpt = load_checkpoint(tmp_path / "stopped" / "last.pt")
    # The stop took effect before the very next batch.
    assert (ckpt["epoch"], ckpt["batch_in_epoch"]) == (1, 5)

    resumed = Trainer(small_config(log_every=1), dataset=shapes, resume_from=tmp_path / "stopped" / "last.pt").run()
    assert resumed.status == "finished"
    assert_same_epochs(full.history, resumed.history)
    # Training time is recorded at every step and epoch end, and goes on across the stop and resume
    # (the Runs page's time axis, issue 15).
    steps = resumed.history["steps"]
    assert len(steps["time"]) == len(steps["step"]) and len(resumed.history["time"]) == 2
    assert all(b >= a for a, b in zip(steps["time"], steps["time"][1:]))
    assert steps["time"][0] > 0 and resumed.history["time"][-1] >= steps["time"][-1]


def test_pause_holds_the_step_count_and_resume_continues(shapes, tmp_path):
    steps: list[int] = []
    paused_at = threading.Event()
    holder = {}

    def on_event(event):
        if isinstance(event, StepEvent):
            steps.append(event.global_step)
            if event.global_step == 3:
                holder["trainer"].pause()
                paused_at.set()

    trainer = Trainer(small_config(epochs=1, log_every=1), dataset=shapes, run_dir=tmp_path / "r", on_event=on_event)
    holder["trainer"] = trainer
    results = []
    thread = threading.Thread(target=lambda: results.append(trainer.run()))
    thread.start()
    assert paused_at.wait(30)
    time.sleep(0.5)
    held = list(steps)
    assert held[-1] == 3, "pause must act before the next batch"
    time.sleep(0.3)
    assert steps == held, "no steps while paused"
    trainer.resume()
    thread.join(60)
    assert not thread.is_alive()
    assert results[0].status == "finished"
    assert steps[-1] > 3 and steps == sorted(steps) and len(set(steps)) == len(steps)


def test_time_spent_by_an_epoch_listener_stays_out_of_the_epoch_speed(shapes, tmp_path):
    # benchmarks/train_throughput.py runs the tutorial loop's epochs inside the engine's epoch-end
    # callback; a listener's work (or a slow UI slot) must not be charged to the next epoch's speed.
    def on_event(event):
        if isinstance(event, EpochEvent) and event.epoch == 1:
            time.sleep(3.0)

    result = Trainer(small_config(epochs=2, val_split=0.0, limit_train=256), dataset=shapes,
                     run_dir=tmp_path / "r", on_event=on_event).run()
    seconds = result.history["seconds"]
    assert len(seconds) == 2
    assert seconds[1] < 2.0, seconds  # a 256-image epoch of tiny-bn-cnn, without the listener's 3 s
    rates = result.history["samples_per_second"]
    assert rates[1] == pytest.approx(256 / seconds[1], rel=0.01)


def test_auto_precision_on_the_cpu_obeys_a_onednn_cap_below_bf16(monkeypatch):
    # With oneDNN held below bf16 (ONEDNN_MAX_CPU_ISA, to run as on an older CPU), bf16 products run on
    # reference code, about a thousand times slower: auto must pick fp32 there even on a bf16 CPU.
    from cnnstudio.core.training import device as devices

    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx2", "fma", "avx512f", "avx512_bf16"}))
    for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        monkeypatch.delenv(name, raising=False)
    cpu = torch.device("cpu")
    assert devices.resolve_precision("auto", cpu) == "bf16"
    for cap in ("AVX2", "avx512_core", "AVX512_CORE_VNNI", "AVX2_VNNI_2"):
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
        assert devices.resolve_precision("auto", cpu) == "fp32", cap
    for cap in ("AVX512_CORE_BF16", "AVX512_CORE_AMX", "AVX10_1_512", "ALL", "DEFAULT"):
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
        assert devices.resolve_precision("auto", cpu) == "bf16", cap
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    monkeypatch.setenv("DNNL_MAX_CPU_ISA", "AVX2")  # oneDNN's older name for the same setting
    assert devices.resolve_precision("auto", cpu) == "fp32"
    assert devices.resolve_precision("bf16", cpu) == "bf16"  # asked for by name: the user's choice stands


def test_checkpoint_is_self_describing(shapes, tmp_path):
    result = Trainer(small_config(epochs=1), dataset=shapes, run_dir=tmp_path / "r").run()
    ckpt = load_checkpoint(result.checkpoint)
    assert ckpt["classes"] == shapes.classes
    assert tuple(ckpt["input_shape"]) == shapes.input_shape
    assert ckpt["framing"]["fit"] == "box"
    assert ckpt["config"]["model"] == "tiny-bn-cnn"
    assert ckpt["model_spec"]["name"] == "tiny-bn-cnn"
    assert len(ckpt["history"]["epoch"]) == 1
    for key in ("optimizer_state", "rng", "global_step", "epoch"):
        assert key in ckpt
    for name in ("config.json", "metrics.json", "result.json", "last.pt", "best.pt"):
        assert (tmp_path / "r" / name).exists(), name
    # result.json holds what the run returned, through its one writer (RunResult.to_dict), history apart.
    saved = json.loads((tmp_path / "r" / "result.json").read_text())
    assert saved == result.to_dict() and "history" not in saved and result.history["epoch"] == [1]


def test_interrupted_save_leaves_previous_checkpoint_loadable(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    base = {"model_spec": {"layers": [{"type": "flatten"}, {"type": "linear", "out": "classes"}]},
            "model_state": {"w": torch.ones(3)}, "classes": ["a", "b"], "input_shape": [1, 28, 28],
            "mean": [0.1], "std": [0.3], "config": {"dataset": "shapes"}}
    save_checkpoint(base, path)

    real_save = torch.save

    def dying_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a zip")  # some bytes reach the disk, then the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({**base, "model_state": {"w": torch.zeros(3)}}, path)
    monkeypatch.setattr(torch, "save", real_save)
    data = load_checkpoint(path)
    assert torch.equal(data["model_state"]["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"], "no temporary file left behind"


class Exploit:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("container", ["torch-zip", "raw-pickle"])
def test_crafted_pickle_is_refused_and_runs_nothing(tmp_path, container):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    payload = {"format": "cnnstudio-checkpoint", "model_state": Exploit(str(marker))}
    if container == "torch-zip":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    with pytest.raises(CheckpointError, match=r"refused|not a readable"):
        load_checkpoint(path)
    assert not marker.exists()


def test_truncated_and_foreign_files_are_refused(tmp_path):
    good = tmp_path / "good.pt"
    save_checkpoint({"model_spec": {}, "model_state": {}, "classes": [], "input_shape": [1, 2, 2], "mean": [0.0],
                     "std": [1.0]}, good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.ones(1)}}, foreign)
    with pytest.raises(CheckpointError, match="not a CNN Studio checkpoint"):
        load_checkpoint(foreign)
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(CheckpointError):
        load_checkpoint(text)


def test_nan_loss_stops_the_run_with_advice(shapes, tmp_path):
    events = []
    # recover=False: the first NaN ends the run (with recovery, tests/test_recovery.py).
    cfg = small_config(model="convnet-5x5", epochs=2, optimizer="sgd", lr=1e12, momentum=0.0, log_every=1,
                       augment=Augmentation(), recover=False)
    result = Trainer(cfg, dataset=shapes, run_dir=tmp_path / "r", on_event=events.append).run()
    assert result.status == "failed"
    assert "NaN" in result.message or "infinite" in result.message
    assert "lower learning rate" in result.message
    finished = [e for e in events if isinstance(e, FinishedEvent)]
    assert len(finished) == 1 and finished[0].status == "failed"


def test_events_carry_plain_numbers(shapes, tmp_path):
    events = []
    Trainer(small_config(epochs=1), dataset=shapes, run_dir=tmp_path / "r", on_event=events.append).run()
    kinds = {type(e).__name__ for e in events}
    assert {"StartedEvent", "StepEvent", "EpochEvent", "FinishedEvent"} <= kinds
    for e in events:
        if isinstance(e, (StepEvent, EpochEvent)):
            for value in vars(e).values():
                assert not isinstance(value, torch.Tensor)
    steps = [e for e in events if isinstance(e, StepEvent)]
    assert all(e.samples_per_second > 0 and e.eta_seconds >= 0 for e in steps)
    assert steps[-1].eta_seconds == pytest.approx(0, abs=1e-6)


@pytest.fixture(scope="module")
def trained_shapes(cli_shapes_run):
    """A small model trained on all of shapes (fast-cnn, two one-cycle epochs): the session's shared
    `cnnstudio train` run (tests/conftest.py), shared by the inference tests."""
    return cli_shapes_run


def test_small_preset_learns_shapes(trained_shapes):
    assert trained_shapes["test_accuracy"] >= 0.95


def test_prediction_survives_inversion_upscaling_and_offcentre(shapes, trained_shapes):
    predictor = Predictor(trained_shapes["checkpoint"])
    agree = total = 0
    for i in range(0, 400, 20):
        original = shapes.test_images[i, 0].numpy()
        base = predictor.probabilities(original[None]).argmax()
        # Dark figure on white paper, 10x larger, pushed into a corner of a wide canvas.
        big = Image.fromarray(255 - original).resize((280, 280), Image.Resampling.BICUBIC)
        canvas = Image.new("L", (700, 500), 255)
        canvas.paste(big, (20, 200))
        _, probs = predictor.predict_image(canvas)
        agree += int(probs.argmax() == base)
        total += 1
    assert agree / total >= 0.9, f"{agree}/{total}"


def test_prepare_image_frames_like_mnist():
    from cnnstudio.core.framing import mnist_profile

    img = np.full((200, 300), 255, np.uint8)
    img[20:60, 30:50] = 0  # a dark bar, top-left, on white
    prepared = prepare_image(img, mnist_profile())
    px = prepared.pixels[0].astype(float)
    assert prepared.inverted and not prepared.empty
    ys, xs = np.nonzero(px > 40)
    assert ys.max() - ys.min() + 1 == 20  # the longer side fills the 20-pixel box
    cy, cx = (px * np.indices(px.shape)[0]).sum() / px.sum(), (px * np.indices(px.shape)[1]).sum() / px.sum()
    assert abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1
    blank = prepare_image(np.full((50, 50), 255, np.uint8), mnist_profile())
    assert blank.empty and blank.pixels.max() == 0


def test_training_runs_relu_after_max_pool(shapes, monkeypatch, tmp_path):
    # The trainer trains the cheaper order of the same layers (training_graph): the ReLU before each
    # max-pool sees pooled activations while training, the full-size ones everywhere else.
    import cnnstudio.core.training.trainer as trainer_module

    seen: list[tuple[bool, tuple[int, ...]]] = []
    build = trainer_module.build_model

    def build_and_watch(*args, **kwargs):
        model = build(*args, **kwargs)
        model[1].register_forward_hook(lambda m, inputs, out: seen.append((m.training, tuple(out.shape[1:]))))
        return model

    monkeypatch.setattr(trainer_module, "build_model", build_and_watch)
    spec = {"name": "t", "layers": [{"type": "conv", "out": 4, "kernel": 3, "padding": 1}, {"type": "relu"},
                                    {"type": "maxpool", "kernel": 2}, {"type": "flatten"},
                                    {"type": "linear", "out": "classes"}]}
    result = Trainer(small_config(spec=spec, epochs=1, limit_train=256), dataset=shapes, run_dir=tmp_path).run()
    assert result.status == "finished"
    size = shapes.input_shape[1]
    assert {shape for training, shape in seen if training} == {(4, size // 2, size // 2)}
    assert {shape for training, shape in seen if not training} == {(4, size, size)}


def test_equal_accuracy_with_a_lower_loss_is_the_better_epoch():
    from cnnstudio.core.training.trainer import _improves, _tiebreak_value

    assert _improves(0.9, -0.3, None, None)  # the first epoch
    assert _improves(0.95, -0.9, 0.9, -0.1)  # higher accuracy wins, even with a higher loss
    assert _improves(0.9, _tiebreak_value("val_accuracy", 0.2), 0.9, _tiebreak_value("val_accuracy", 0.3))
    assert not _improves(0.9, -0.4, 0.9, -0.3)  # same accuracy, higher loss
    assert not _improves(0.85, -0.01, 0.9, -0.3)
    assert _tiebreak_value("val_loss", 0.2) is None  # the loss is the metric: nothing to break ties with
    assert _tiebreak_value("val_accuracy", None) is None  # no validation split: the first best epoch stays
    assert not _improves(0.9, -0.1, 0.9, None)  # a checkpoint from before the tie-break: ties stay ties


def test_the_best_checkpoint_is_chosen_by_loss_when_validation_accuracy_ties(tmp_path):
    # Dark pictures against light ones: validation accuracy is 100 % from the first epoch on, and only
    # the loss still tells the epochs apart.
    rng = np.random.default_rng(0)
    for cls, (low, high) in (("dark", (0, 70)), ("light", (185, 256))):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for i in range(40):
            pixels = rng.integers(low, high, (16, 16), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "data" / cls / f"{i}.png")
    cfg = small_config(dataset=str(tmp_path / "data"), model="tiny-bn-cnn", epochs=4, limit_train=0, val_split=0.25,
                       augment=Augmentation(), early_stopping_patience=0)
    result = Trainer(cfg, dataset=load_dataset(tmp_path / "data"), run_dir=tmp_path / "run").run()
    h = result.history
    top = max(h["val_accuracy"])
    tied = [i for i, acc in enumerate(h["val_accuracy"]) if acc == top]
    assert len(tied) >= 2  # the case in question: the validation set no longer tells epochs apart
    expected = min(tied, key=lambda i: h["val_loss"][i]) + 1
    assert expected != tied[0] + 1  # ... and a later epoch of the same accuracy has the lower loss
    assert result.best_epoch == expected
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    assert best["epoch"] == expected and best["best_tiebreak"] == pytest.approx(-h["val_loss"][expected - 1])


def test_lighting_varies_brightness_and_contrast_within_its_range():
    from cnnstudio.core.training.augment import BatchPreprocessor
    from cnnstudio.core.training.config import build_config

    pre = BatchPreprocessor([0.0], [1 / 255], torch.device("cpu"), channels_last=False)  # pixels out as they are
    ramp = torch.linspace(60, 180, 16 * 16).reshape(1, 1, 16, 16).round().to(torch.uint8).repeat(256, 1, 1, 1)
    gen = torch.Generator().manual_seed(0)
    out = pre.augment(ramp, Augmentation(lighting=0.3), gen)
    assert out.shape == ramp.shape and 0 <= out.min() and out.max() <= 255
    means, spreads = out.mean(dim=(1, 2, 3)), out.std(dim=(1, 2, 3))
    mean0, spread0 = ramp.float().mean(), ramp.float().std()
    assert 0.69 * mean0 <= means.min() < 0.8 * mean0 and 1.2 * mean0 < means.max() <= 1.31 * mean0  # brightness ±30 %
    ratio = spreads / means * (mean0 / spread0)  # contrast relative to brightness
    assert ratio.min() < 0.8 and ratio.max() > 1.2  # contrast varied too, independently
    # Pictures are still pictures: each one a monotone ramp, as it came in.
    assert (out.flatten(1).diff(dim=1) >= 0).all()
    # Same generator state, same draws: a resumed run repeats them.
    again = pre.augment(ramp, Augmentation(lighting=0.3), torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    for bad in (1.0, -0.1, float("nan")):
        with pytest.raises(CNNStudioError, match="lighting"):
            build_config(TrainConfig(), {"augment": Augmentation(lighting=bad)})
