"""The camera as a data source and a live input, through the real QtMultimedia pipeline (cnnstudio/media):
video clips made with ffmpeg stand in for the camera.

The main test records two classes from two clips on the Record path, loads the folder with the dataset
loader, trains a small model, classifies a third clip live and checks each live answer against
`cnnstudio predict` on the same frame extracted as a file by `cnnstudio frames`. Then `cnnstudio predict
--video` (JSON, CSV) and the bad cases: no camera, a camera in use, unplugged while recording, a full
disk, a file that is not a video, no model yet.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None,
                                reason="ffmpeg is not installed (.ci/run installs it): the clips are made with it")


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import shape_clips

    folder = tmp_path_factory.mktemp("clips")
    return {"squares": shape_clips.make_clip(folder / "squares.mp4", ["squares"], 3.0, seed=1),
            "discs": shape_clips.make_clip(folder / "discs.mp4", ["discs"], 3.0, seed=2),
            "both": shape_clips.make_clip(folder / "both.mp4", ["squares", "discs"], 2.0, seed=3),
            # Long enough that it never ends while a test records from it, however busy the machine.
            "long": shape_clips.make_clip(folder / "long.mp4", ["squares"], 30.0, fps=5, seed=4)}


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    from cnnstudio.cli import main

    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_frame_of_a_clip_is_decoded_in_order(qapp, clips):
    from cnnstudio.media.video import decode_video

    times: list[float] = []
    assert decode_video(clips["both"], lambda t, rgb: times.append(t)) == 40
    assert len(times) == 40 and times == sorted(times) and times[0] == 0.0
    every: list[float] = []
    decode_video(clips["both"], lambda t, rgb: every.append(t), every=7)
    assert every == times[::7]


def test_record_train_and_classify_live_agrees_with_cnnstudio_predict(qtbot, qapp, state, clips, tmp_path, capsys):
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.training.config import Augmentation, TrainConfig
    from cnnstudio.core.training.trainer import Trainer
    from cnnstudio.ui.sessions.camera_session import CameraSession
    from cnnstudio.ui.sessions.live_session import LiveSession
    from cnnstudio.ui.sessions.record_session import RecordSession

    camera = CameraSession()
    record = RecordSession(rate=100.0)  # every frame the clip plays (a camera would use a few a second)
    camera.frameArrived.connect(record.on_frame)
    folder = tmp_path / "my shapes"
    record.set_folder(folder)
    for name in ("squares", "discs"):
        assert record.add_class(name)
        with qtbot.waitSignal(camera.ended, timeout=30_000):
            assert camera.open_file(str(clips[name]), rate=2.0)
            assert record.start(name)
        record.stop()
        qtbot.waitUntil(lambda: not record.saving, timeout=30_000)
    counts = {row.name: row.count for row in record.status.classes}
    assert min(counts.values()) >= 20, counts  # 30 frames a clip, a few may be skipped by a busy GUI thread

    requested: list[str] = []
    record.datasetRequested.connect(requested.append)
    record.use_as_dataset()
    assert requested == [str(folder)]
    data = load_dataset(requested[0], image_size=32)  # the Data page's loader
    assert data.classes == ["discs", "squares"]
    config = TrainConfig(dataset=str(folder), model="tiny-bn-cnn", epochs=4, batch_size=8, optimizer="adam",
                         lr=3e-3, device="cpu", precision="fp32", seed=0, augment=Augmentation())
    result = Trainer(config, dataset=data, run_dir=tmp_path / "run").run()
    assert result.status == "finished", result.message

    with qtbot.waitSignal(state.model.loaded, timeout=60_000):
        state.set_checkpoint(result.checkpoint)
    live = LiveSession(state)
    camera.frameArrived.connect(live.on_frame)
    assert live.start()
    with qtbot.waitSignal(camera.ended, timeout=30_000):
        camera.open_file(str(clips["both"]))
    qtbot.waitUntil(lambda: not live._runner.busy, timeout=30_000)
    answers = live.answers
    assert len(answers) >= 10
    assert all(a.behind == 0 for a in answers)  # each call took the newest frame: none waited in a queue
    truth = ["squares" if a.frame_time < 2.0 else "discs" for a in answers]
    labels = [a.answer.prediction.top[0][0] for a in answers]
    assert sum(t == p for t, p in zip(truth, labels)) >= 0.9 * len(answers), list(zip(truth, labels))

    # The same frames as files (lossless), classified by `cnnstudio predict`: the same answers.
    frames_dir = tmp_path / "frames"
    code, out, _ = run_cli(capsys, "frames", str(clips["both"]), "--to", str(frames_dir), "--format", "png", "--json")
    assert code == 0 and len(json.loads(out)["files"]) == 40
    from cnnstudio.core.capture.clip import frame_file_name

    files = [str(frames_dir / frame_file_name("both", a.frame_time, ".png")) for a in answers]
    code, out, _ = run_cli(capsys, "predict", "--checkpoint", result.checkpoint, *files, "--json")
    assert code == 0
    for a, row in zip(answers, json.loads(out)):
        label, probability = a.answer.prediction.top[0]
        assert row["label"] == label
        assert row["probability"] == pytest.approx(probability, abs=1e-5)

    # And `cnnstudio predict --video` on the clip: the same class at each of those times.
    code, out, _ = run_cli(capsys, "predict", "--checkpoint", result.checkpoint, "--video", str(clips["both"]),
                           "--json")
    by_time = {round(f["time"], 3): f for f in json.loads(out)["frames"]}
    assert len(by_time) == 40
    for a in answers:
        row = by_time[round(a.frame_time, 3)]
        assert row["class"] == a.answer.prediction.top[0][0]
        assert row["probability"] == pytest.approx(a.answer.prediction.top[0][1], abs=1e-5)
    camera.shutdown()
    live.shutdown()


def test_predict_video_writes_json_and_a_new_csv(qapp, clips, shapes_checkpoint, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "predict", "--checkpoint", shapes_checkpoint, "--video", str(clips["both"]),
                           "--every", "10", "--json")
    frames = json.loads(out)["frames"]
    assert code == 0 and [f["time"] for f in frames] == [0.0, 1.0, 2.0, 3.0]
    assert set(frames[0]) == {"time", "class", "probability"} and 0 <= frames[0]["probability"] <= 1
    table = tmp_path / "clip.csv"
    code, out, _ = run_cli(capsys, "predict", "--checkpoint", shapes_checkpoint, "--video", str(clips["both"]),
                           "--every", "20", "--csv", str(table))
    lines = table.read_text(encoding="utf-8").splitlines()
    assert code == 0 and lines[0] == "time,class,probability" and [line.split(",")[0] for line in lines[1:]] == [
        "0.000", "2.000"]
    assert "2 frames classified" in out
    code, _, err = run_cli(capsys, "predict", "--checkpoint", shapes_checkpoint, "--video", str(clips["both"]),
                           "--csv", str(table))
    assert code == 2 and "the file exists" in err and table.read_text(encoding="utf-8").splitlines() == lines
    code, _, err = run_cli(capsys, "predict", "--checkpoint", shapes_checkpoint, str(tmp_path / "x.png"),
                           "--every", "2")
    assert code == 2 and err.strip() == "cnnstudio: error: --every goes with --video"


def test_frames_never_overwrite_a_file(qapp, clips, tmp_path, capsys):
    target = tmp_path / "data" / "squares"
    code, out, _ = run_cli(capsys, "frames", str(clips["squares"]), "--to", str(target), "--every", "10")
    assert code == 0 and out.strip() == f"3 frames of squares.mp4 saved into {target}"
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    code, _, err = run_cli(capsys, "frames", str(clips["squares"]), "--to", str(target))
    assert code == 2 and "exists: nothing was overwritten" in err and "(0 frames of the clip saved before it)" in err
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before


def test_a_file_that_is_not_a_video_is_one_line(qapp, qtbot, clips, shapes_checkpoint, tmp_path, capsys):
    from cnnstudio.ui.sessions.camera_session import CameraSession

    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all")
    code, out, err = run_cli(capsys, "predict", "--checkpoint", shapes_checkpoint, "--video", str(text), "--json")
    assert code == 2 and out == ""
    assert err.strip().splitlines()[-1].startswith(f"cnnstudio: error: cannot play {text}: not a video")
    import subprocess

    # A process of its own (the command line's QCoreApplication): stderr is that one line, nothing of FFmpeg's.
    proc = subprocess.run([sys.executable, "-m", "cnnstudio", "frames", str(text), "--to", str(tmp_path / "f")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 2 and proc.stdout == ""
    line = f"cnnstudio: error: cannot play {text}: not a video, or damaged (Could not open file)"
    assert proc.stderr.splitlines() == [line]
    sound = tmp_path / "sound.m4a"

    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "sine=d=1", str(sound)],
                   check=True, timeout=60)
    code, _, err = run_cli(capsys, "frames", str(sound), "--to", str(tmp_path / "out"))
    assert code == 2 and "holds no video picture" in err and not (tmp_path / "out").exists()

    camera = CameraSession()
    with qtbot.waitSignal(camera.problem, timeout=10_000) as said:
        camera.open_file(str(text))
    assert "not a video" in said.args[0] and camera.kind == "none"
    assert not camera.open_file(str(tmp_path / "gone.mp4")) and "video not found" in camera.last_problem


def test_no_camera_offers_the_video_file_and_a_busy_camera_says_so(qapp):
    from cnnstudio.media.video import camera_error_line, cameras
    from cnnstudio.ui.sessions.camera_session import NO_CAMERA, CameraSession

    if cameras():
        pytest.skip("this computer has a camera")
    camera = CameraSession()
    said: list[str] = []
    camera.problem.connect(said.append)
    camera.list_cameras()
    assert not camera.open_camera() and said == [NO_CAMERA] and "video file" in NO_CAMERA
    # Qt's V4L2 camera says "Camera is in use" for a device another program holds (EBUSY).
    for text in ("Camera is in use", "Could not open the device: Device or resource busy"):
        line = camera_error_line("USB Camera", text)
        assert line.startswith("the camera USB Camera is in use by another program") and "\n" not in line
    assert camera_error_line("USB Camera", "") == "the camera USB Camera cannot be used (no reason given)"


def test_no_model_yet_is_one_line(qapp, state):
    from cnnstudio.ui.sessions.live_session import NO_MODEL, LiveSession

    live = LiveSession(state)
    said: list[str] = []
    live.problem.connect(said.append)
    assert not live.start() and said == [NO_MODEL]


def _recording_page(qtbot, state, clips, folder):
    from cnnstudio.ui.pages.camera_page import CameraPage

    page = CameraPage(state)
    qtbot.addWidget(page)
    page.record.set_folder(folder)
    page.record.add_class("squares")
    page.open_video(str(clips["long"]))
    page.record.interval = 0.05
    page.record.start("squares")
    return page


def test_unplugged_while_recording_stops_and_keeps_the_frames(qtbot, state, clips, tmp_path):
    page = _recording_page(qtbot, state, clips, tmp_path / "data")
    qtbot.waitUntil(lambda: page.record.count("squares") >= 3, timeout=30_000)
    # The camera this source had open leaves the system's list of cameras (it is not in it here).
    source = page.camera.source
    source._camera_id = "usb-camera-0"
    source.description = "USB Camera"
    source._on_inputs_changed()
    assert page.record.recording is None and page.camera.kind == "none"
    qtbot.waitUntil(lambda: not page.record.saving, timeout=10_000)
    saved = page.record.count("squares")
    assert saved >= 3
    note = page.record.status.note
    assert note.startswith("the camera USB Camera was unplugged: recording stopped;") and "'squares' kept" in note
    assert page.banner.text().startswith("the camera USB Camera was unplugged")
    page.shutdown()


def test_a_full_disk_stops_recording_with_no_half_written_file(qtbot, state, clips, tmp_path, monkeypatch):
    page = _recording_page(qtbot, state, clips, tmp_path / "data")
    qtbot.waitUntil(lambda: page.record.count("squares") >= 2, timeout=30_000)

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    qtbot.waitUntil(lambda: page.record.recording is None, timeout=10_000)
    qtbot.waitUntil(lambda: not page.record.saving, timeout=10_000)
    files = sorted((tmp_path / "data" / "squares").iterdir())
    assert all(f.suffix == ".jpg" and not f.name.startswith(".") for f in files)
    assert page.record.status.note.startswith("the disk is full: recording stopped;")
    from cnnstudio.core.text import plural

    assert f"{plural(len(files), 'picture')} of 'squares' kept" in page.record.status.note
    page.shutdown()


def test_use_as_dataset_loads_the_recorded_folder_on_the_data_page(qtbot, state, tmp_path):
    import numpy as np

    from cnnstudio.core.capture.recorder import FrameWriter
    from cnnstudio.ui.main_window import MainWindow

    writer = FrameWriter(tmp_path / "toys")
    rng = np.random.default_rng(0)
    for name, colour in (("red", (200, 30, 30)), ("blue", (30, 30, 200))):
        for _ in range(6):
            picture = np.clip(np.array(colour) + rng.integers(-20, 20, (40, 40, 3)), 0, 255).astype(np.uint8)
            writer.save(name, picture)
    window = MainWindow(state)
    qtbot.addWidget(window)
    window.page("data").choose_box.camera_button.click()
    assert window.stack.currentWidget() is window.page("camera")
    record = window.page("camera").record
    record.set_folder(tmp_path / "toys")
    assert [row.count for row in record.status.classes] == [6, 6]
    record.use_as_dataset()
    assert window.stack.currentWidget() is window.page("data")
    qtbot.waitUntil(lambda: state.dataset is not None and state.dataset_name == str(tmp_path / "toys"),
                    timeout=60_000)
    assert state.dataset.classes == ["blue", "red"]
    window.close()


def test_grad_cam_of_a_frame_runs_on_a_copy_of_the_model(shapes_checkpoint):
    import numpy as np

    from cnnstudio.core.capture.live import CamModel, classify_frame
    from cnnstudio.core.inference import Predictor
    from cnnstudio.core.inspection import default_cam_layer

    predictor = Predictor(shapes_checkpoint)
    frame = np.full((120, 160, 3), 255, np.uint8)
    frame[30:90, 50:110] = 0  # a dark square in the centred square
    plain = classify_frame(predictor, frame)
    cam = CamModel(predictor, default_cam_layer(predictor.model, predictor.input_shape))
    explained = classify_frame(predictor, frame, cam=cam)
    assert plain.overlay is None and explained.overlay is not None
    assert explained.overlay.shape == (*predictor.input_shape[1:], 3) and explained.overlay.dtype == np.uint8
    assert explained.prediction.top == plain.prediction.top  # the same answer, with or without the map
    assert cam.model is not predictor.model
    assert not any(m._forward_hooks or m._backward_hooks for m in predictor.model.modules())


def test_leaving_the_page_lets_the_source_go(qtbot, state, clips):
    from PySide6.QtWidgets import QStackedWidget, QWidget

    from cnnstudio.ui.pages.camera_page import CameraPage

    stack = QStackedWidget()
    qtbot.addWidget(stack)
    page, other = CameraPage(state), QWidget()
    stack.addWidget(page)
    stack.addWidget(other)
    stack.show()
    assert page.open_video(str(clips["both"]))
    qtbot.waitUntil(lambda: page.preview.has_frame, timeout=10_000)
    stack.setCurrentWidget(other)
    assert page.camera.kind == "none" and not page.camera.source.active
    page.shutdown()
