"""`cnnstudio predict --video` and `cnnstudio frames`: a clip's frames classified, or extracted into a class
folder (cli.py registers both). Frames are decoded by QtMultimedia (cnnstudio/media, the decoder the
Camera page uses), framed by core/capture/frames.camera_square and classified by the core's Predictor:
the same pictures, prepared the same way, as the Camera page records and classifies live.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.text import plural, printable


def add_predict_options(p: argparse.ArgumentParser, positive_int: Any) -> None:
    p.add_argument("--video", metavar="FILE", help="classify the frames of a video file (with --every N, every "
                   "N-th frame); --csv writes time,class,probability per frame")
    p.add_argument("--every", type=positive_int, metavar="N", help="with --video: every N-th frame (default 1)")


def add_parser(sub: Any, positive_int: Any) -> None:
    p = sub.add_parser("frames", help="extract a video's frames (the centred square) into a class folder",
                       description="Decode a video file and save its frames, as the Camera page records "
                       "them (the centred square, at most 320 pixels a side), into FOLDER: give "
                       "DATASET/CLASS to add them to a class of a dataset folder. Files are named by "
                       "their time in the clip; no file is ever overwritten.")
    p.add_argument("video", metavar="VIDEO")
    p.add_argument("--to", required=True, metavar="FOLDER", help="the class folder to write into (created)")
    p.add_argument("--every", type=positive_int, default=1, metavar="N", help="every N-th frame (default 1)")
    p.add_argument("--format", choices=["jpg", "png"], default="jpg", help="jpg (default) or png (lossless)")
    p.add_argument("--json", action="store_true", help='print one JSON object: {"folder": ..., "files": [...]}')


def predict_video(args: argparse.Namespace, print_json: Callable[[Any], None]) -> int:
    """`cnnstudio predict --checkpoint C --video FILE [--every N] [--csv OUT] [--json]`."""
    from cnnstudio.core.capture.clip import FrameClass, check_new_csv, write_csv
    from cnnstudio.core.capture.live import classify_frame
    from cnnstudio.core.inference import Predictor
    from cnnstudio.media.video import check_video_path, decode_video

    if args.images or args.folder:
        raise CNNStudioError("give --video FILE, or image files / --folder, not both")
    if args.strict:
        raise CNNStudioError("--strict goes with --folder")
    check_video_path(args.video)
    if args.csv:
        check_new_csv(args.csv)
    predictor = Predictor(args.checkpoint)
    rows: list[FrameClass] = []

    def classify(seconds: float, rgb: Any) -> None:
        top = classify_frame(predictor, rgb, top=1).prediction.top
        label, probability = top[0] if top else ("(nothing)", 0.0)
        rows.append(FrameClass(seconds, label, float(probability)))

    decode_video(args.video, classify, every=args.every or 1)
    if args.csv:
        write_csv(rows, args.csv)
    if args.json:
        print_json({"frames": [row.to_dict() for row in rows]})
        return 0
    for row in rows:
        print(printable(f"{row.time:9.3f} s  {row.label} {row.probability:.1%}"))
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.label] = counts.get(row.label, 0) + 1
    summary = ", ".join(f"{label} {n}" for label, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    print(printable(f"{plural(len(rows), 'frame')} classified: {summary}"))
    if args.csv:
        print(printable(f"table written to {args.csv}"))
    return 0


def cmd_frames(args: argparse.Namespace, print_json: Callable[[Any], None]) -> int:
    """`cnnstudio frames VIDEO --to FOLDER [--every N] [--format jpg|png] [--json]`."""
    from cnnstudio.core.capture.clip import frame_file_name
    from cnnstudio.core.capture.frames import camera_square
    from cnnstudio.core.capture.recorder import FrameWriter, RecordingError
    from cnnstudio.media.video import check_video_path, decode_video

    video = check_video_path(args.video)
    folder = Path(args.to)
    if folder.exists() and not folder.is_dir():
        raise CNNStudioError(f"--to {printable(folder)} is a file, not a folder")
    writer = FrameWriter(folder.parent)
    suffix, image_format = (".png", "PNG") if args.format == "png" else (".jpg", "JPEG")
    written: list[Path] = []

    def save(seconds: float, rgb: Any) -> None:
        name = frame_file_name(video.stem, seconds, suffix)
        written.append(writer.save_named(folder, name, camera_square(rgb), image_format))

    try:
        decode_video(video, save, every=args.every)
    except RecordingError as exc:
        raise CNNStudioError(f"{exc} ({plural(len(written), 'frame')} of the clip saved before it)") from None
    if args.json:
        print_json({"folder": str(folder), "files": [str(p) for p in written]})
    else:
        print(printable(f"{plural(len(written), 'frame')} of {video.name} saved into {folder}"), file=sys.stdout)
    return 0
