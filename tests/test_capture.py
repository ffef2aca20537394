"""core/capture: the centred square, the frame writer (never over a file, never half-written, a full disk
stops it with the frames kept), the variety advice and a clip's CSV rows. No Qt here."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest
from PIL import Image

from cnnstudio.core.capture.clip import FrameClass, check_new_csv, frame_file_name, write_csv
from cnnstudio.core.capture.frames import SAVED_SIDE, camera_square, square_box
from cnnstudio.core.capture.recorder import FrameWriter, RecordingError, check_class_name
from cnnstudio.core.capture.variety import ADVICE_AFTER, VarietyWatch
from cnnstudio.core.errors import CNNStudioError


def frame(h: int = 120, w: int = 160, value: int = 128) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def test_the_square_is_the_centre_of_the_frame_and_never_enlarged():
    rgb = np.zeros((120, 160, 3), np.uint8)
    rgb[:, 20:140] = 200  # exactly the centred square
    square = camera_square(rgb)
    assert square.shape == (120, 120, 3) and (square == 200).all()
    assert square_box(160, 120) == (20, 0, 120)
    big = camera_square(frame(1080, 1920))
    assert big.shape == (SAVED_SIDE, SAVED_SIDE, 3)
    with pytest.raises(ValueError):
        camera_square(np.zeros((10, 10), np.uint8))


def test_frames_get_new_names_and_never_replace_a_file(tmp_path):
    writer = FrameWriter(tmp_path)
    first = writer.save("cup", frame(), stamp=1_000_000.0)
    # A file already holds the name the next frame would get: it keeps its bytes, the frame gets another.
    next_name = first.path.name.replace("-0001.", "-0002.")
    (tmp_path / "cup" / next_name).write_bytes(b"the user's own file")
    second = writer.save("cup", frame(value=30), stamp=1_000_000.0)
    assert second.path != first.path and second.path.name != next_name
    assert (tmp_path / "cup" / next_name).read_bytes() == b"the user's own file"
    assert second.count == 3  # the user's file counts too: it is in the class folder
    assert Image.open(first.path).size == (160, 120)  # saved as given (the caller crops)
    assert not [p for p in (tmp_path / "cup").iterdir() if p.name.startswith(".")]


def test_a_full_disk_stops_with_no_half_written_file_and_the_saved_frames_counted(tmp_path, monkeypatch):
    writer = FrameWriter(tmp_path)
    writer.save("cup", frame())
    writer.save("cup", frame())
    real_fsync = os.fsync

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(RecordingError, match="the disk is full: recording stopped; 2 pictures of 'cup' kept"):
        writer.save("cup", frame())
    monkeypatch.setattr(os, "fsync", real_fsync)
    names = sorted(p.name for p in (tmp_path / "cup").iterdir())
    assert len(names) == 2 and all(n.endswith(".jpg") for n in names)  # no .part, no third file


def test_class_names_that_cannot_be_folders_are_refused():
    assert check_class_name("  red cup ") == "red cup"
    for bad, words in [("", "needs a name"), ("a/b", "cannot name"), (".hidden", "cannot name"),
                       ("_excluded", "cannot name"), ("train", "split folder"), ("a\nb", "line-break")]:
        with pytest.raises(RecordingError, match=words):
            check_class_name(bad)


def test_one_light_and_one_pose_get_advice_and_variety_gets_none():
    rng = np.random.default_rng(0)
    still = VarietyWatch()
    scene = rng.integers(0, 255, (60, 80, 3)).astype(np.uint8)
    for _ in range(ADVICE_AFTER):
        noisy = np.clip(scene.astype(int) + rng.integers(-2, 3, scene.shape), 0, 255).astype(np.uint8)
        result = still.add(noisy)
    assert "other light" in result.advice and "other angles" in result.advice
    assert result.similarity > 0.97 and result.brightness_spread < 0.04

    varied = VarietyWatch()
    for i in range(ADVICE_AFTER):
        level = 40 + 12 * i
        picture = np.clip(rng.integers(0, 120, (60, 80, 3)) + level, 0, 255).astype(np.uint8)
        result = varied.add(picture)
    assert result.advice == ""
    assert VarietyWatch().add(scene).advice == ""  # too early to say


def test_clip_rows_as_json_and_a_new_csv_only(tmp_path):
    rows = [FrameClass(0.0, "=cup", 0.9), FrameClass(0.5, "ball", 0.75)]
    assert rows[1].to_dict() == {"time": 0.5, "class": "ball", "probability": 0.75}
    out = tmp_path / "clip.csv"
    write_csv(rows, out)
    assert out.read_text(encoding="utf-8").splitlines() == [
        "time,class,probability", "0.000,'=cup,0.900000", "0.500,ball,0.750000"]
    with pytest.raises(CNNStudioError, match="the file exists"):
        check_new_csv(out)
    with pytest.raises(CNNStudioError, match="the file exists"):
        write_csv(rows, out)
    with pytest.raises(CNNStudioError, match="does not exist"):
        check_new_csv(tmp_path / "no" / "x.csv")
    assert frame_file_name("clip", 1.25, ".png") == "clip-000001250ms.png"
