"""Live prediction from a camera stream: answers per second, latency, and how far behind the stream it runs.

A 640x480, 30 fps clip of shapes (benchmarks/shape_clips.py, made with ffmpeg) plays through the Camera
page's real path: QtMultimedia (cnnstudio/media FrameSource, the clip standing in for the camera, played
at its own speed), CameraSession, LiveSession (LatestRunner: one call in flight, the next takes the
newest frame), core/capture/live.classify_frame (centred square, prepare_image, Predictor). Models with
random weights (latency does not depend on what they learned; nothing is downloaded):

- a small preset (bn-cnn4) at 64x64 colour, without and with Grad-CAM;
- MobileNetV3-Small (torchvision, random weights) at 224x224 through the backbone layer.

Reported per model: frames the clip delivered, answers, answers a second, latency (the frame's arrival on
the GUI thread to its answer there) p50 / p95, compute (framing + preparing + the model) p50, frames
skipped (never queued), `behind` = frames newer than the classified one when its call started (the rule:
0, so the stream never lags more than one frame), and `newer by the answer` = frames that arrived while
it was computed (latency / frame interval).

    OMP_NUM_THREADS=2 taskset -c 0,1 python benchmarks/camera_live.py [--seconds 10]

Prints a table and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["CNNSTUDIO_HOME"] = tempfile.mkdtemp(prefix="cnnstudio-bench-")
atexit.register(shutil.rmtree, os.environ["CNNSTUDIO_HOME"], ignore_errors=True)

from _stats import percentile
from shape_clips import make_clip


def make_checkpoint(name: str, spec: dict, side: int, folder: Path) -> str:
    import torch

    from cnnstudio.core.checkpoint import save_checkpoint
    from cnnstudio.core.framing import natural_profile
    from cnnstudio.core.models.builder import build_model

    torch.manual_seed(0)
    model = build_model(spec, (3, side, side), 2).eval()
    return str(save_checkpoint({"model_spec": spec, "classes": ["discs", "squares"], "input_shape": [3, side, side],
                                "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25],
                                "framing": natural_profile(side, side, 3).to_dict(),
                                "model_state": model.state_dict()}, folder / f"{name}.pt"))


def run(label: str, checkpoint: str, clip: Path, grad_cam: bool) -> dict:
    from PySide6.QtCore import QEventLoop, QTimer

    from cnnstudio.ui.compose import app_state
    from cnnstudio.ui.sessions.camera_session import CameraSession
    from cnnstudio.ui.sessions.live_session import LiveSession

    state = app_state()
    loop = QEventLoop()
    state.model.loaded.connect(lambda _c: loop.quit())
    state.model.failed.connect(lambda _p, message: (print(message), loop.quit()))
    state.set_checkpoint(checkpoint)
    loop.exec()
    camera, live = CameraSession(), LiveSession(state)
    camera.frameArrived.connect(live.on_frame)
    live.set_grad_cam(grad_cam)
    assert live.start()
    # Warm up (the first call builds the Grad-CAM copy, allocates), then the measured play.
    for _play in ("warm-up", "measured"):
        loop = QEventLoop()
        camera.ended.connect(loop.quit)
        live.answers = []
        camera.open_file(str(clip))
        QTimer.singleShot(120_000, loop.quit)
        loop.exec()
        camera.ended.disconnect(loop.quit)
        while live._runner.busy:
            loop = QEventLoop()
            QTimer.singleShot(20, loop.quit)
            loop.exec()
    delivered = camera.source.delivered
    answers = live.answers
    latency = [a.latency_ms for a in answers]
    compute = [a.answer.ms for a in answers]
    span = answers[-1].frame_time - answers[0].frame_time if len(answers) > 1 else 0.0
    row = {"model": label, "grad_cam": grad_cam, "frames": delivered, "answers": len(answers),
           "answers_per_s": (len(answers) - 1) / span if span > 0 else 0.0,
           "latency_p50_ms": percentile(latency, 0.5), "latency_p95_ms": percentile(latency, 0.95),
           "compute_p50_ms": percentile(compute, 0.5), "skipped": delivered - len(answers),
           "behind_max": max(a.behind for a in answers),
           "newer_by_answer_p50": percentile([float(a.overtaken) for a in answers], 0.5),
           "newer_by_answer_max": max(a.overtaken for a in answers)}
    live.shutdown()
    camera.shutdown()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the clip (default 10)")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg is not installed: the clip is made with it")
    from cnnstudio.core.models.presets import get_preset
    from cnnstudio.ui.app import create_application

    app = create_application(["camera_live"])
    work = Path(tempfile.mkdtemp(prefix="camera-live-"))
    clip = make_clip(work / "clip.mp4", ["squares", "discs"], args.seconds / 2, fps=30, seed=0, size=(640, 480))
    small = make_checkpoint("bn-cnn4", get_preset("bn-cnn4"), 64, work)
    mobilenet_spec = get_preset("mobilenet-v3-small-imagenet")
    mobilenet_spec["layers"][0]["weights"] = "none"  # random weights: nothing to download, the same speed
    mobile = make_checkpoint("mobilenet-v3-small", mobilenet_spec, 224, work)
    rows = [run("bn-cnn4, 64x64", small, clip, False), run("bn-cnn4, 64x64", small, clip, True),
            run("MobileNetV3-Small, 224x224", mobile, clip, False)]
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    print(f"CPU: {cpu}; {len(os.sched_getaffinity(0))} cores; load average {os.getloadavg()[0]:.1f}; "
          f"clip 640x480, 30 fps, {args.seconds:.0f} s")
    print(f"{'model':28} {'Grad-CAM':8} {'frames':>6} {'answers':>7} {'answers/s':>9} {'latency p50':>11} "
          f"{'p95':>6} {'compute':>7} {'skipped':>7} {'behind':>6} {'newer':>5}")
    for r in rows:
        print(f"{r['model']:28} {'yes' if r['grad_cam'] else 'no':8} {r['frames']:6d} {r['answers']:7d} "
              f"{r['answers_per_s']:9.1f} {r['latency_p50_ms']:9.0f} ms {r['latency_p95_ms']:4.0f} ms "
              f"{r['compute_p50_ms']:4.0f} ms {r['skipped']:7d} {r['behind_max']:6d} {r['newer_by_answer_max']:5d}")
    worst = max(r["behind_max"] for r in rows)
    print(f"every call took the newest frame or the one before it (behind <= 1): {'yes' if worst <= 1 else 'NO'} "
          f"(worst {worst})")
    print(json.dumps({"cpu": cpu, "rows": rows}))
    shutil.rmtree(work, ignore_errors=True)
    del app


if __name__ == "__main__":
    main()
