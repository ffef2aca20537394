"""Issue 31, item 5: progress within an epoch on the command line.

The line's text and pace (core/training/progress_line.py) with a fake clock, then `cnnstudio train` for
real: with stderr a terminal (a pseudo-terminal) the line is redrawn in place; with stderr a pipe no
progress is written at all; with --json stdout is one JSON object either way.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnnstudio.core.training.events import StepEvent
from cnnstudio.core.training.progress_line import ERASE_TO_END, ProgressLine, step_text

ROOT = Path(__file__).resolve().parents[1]


def event(step: int, *, steps: int = 235, epoch: int = 1, loss: float = 0.5123, rate: float = 1850.4,
          eta: float = 41.2) -> StepEvent:
    return StepEvent(epoch=epoch, epochs=2, step=step, steps_per_epoch=steps, global_step=step, total_steps=2 * steps,
                     loss=loss, accuracy=0.8, lr=0.01, samples_per_second=rate, eta_seconds=eta,
                     elapsed_seconds=10.0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_line_says_epoch_step_rate_loss_and_eta():
    assert step_text(event(120)) == "epoch 1/2  step 120/235  1,850 img/s  loss 0.512  ETA 0:41"
    assert step_text(event(120, eta=3725)).endswith("ETA 1:02:05")
    assert step_text(event(7, loss=float("nan"))).endswith("loss nan  ETA 0:41")
    assert step_text(event(120), prefix="trial 3/10") == ("trial 3/10  epoch 1/2  step 120/235  1,850 img/s  "
                                                          "loss 0.512  ETA 0:41")


def test_the_line_is_redrawn_in_place_at_most_four_times_a_second():
    written: list[str] = []
    clock = FakeClock()
    line = ProgressLine(written.append, clock=clock)
    assert line.step(event(1))  # an epoch's first step: at once
    clock.now += 0.1
    assert not line.step(event(2))  # too soon
    clock.now += 0.1
    assert not line.step(event(3))
    clock.now += 0.06
    assert line.step(event(4))  # 0.26 s after the last draw
    clock.now += 0.01
    assert line.step(event(235))  # an epoch's last step: always, so the line ends on the epoch's end
    assert written == [f"\r{step_text(event(s))}{ERASE_TO_END}" for s in (1, 4, 235)]
    # Drawn in 1,000 steps over 10 s of fake time: about 4 draws a second, never more.
    written.clear()
    for s in range(2, 1002):
        clock.now += 0.01
        line.step(event(s, steps=5000))
    assert 38 <= len(written) <= 41
    assert all(w.startswith("\r") and "\n" not in w for w in written)


def test_clear_erases_the_line_only_when_one_is_shown_and_a_narrow_terminal_cuts_it():
    written: list[str] = []
    line = ProgressLine(written.append, clock=FakeClock(), columns=40)
    line.clear()
    assert written == []  # nothing drawn: nothing to erase
    line.step(event(1))
    assert written[-1] == f"\r{step_text(event(1))[:39]}{ERASE_TO_END}"  # never wraps
    line.clear()
    assert written[-1] == f"\r{ERASE_TO_END}" and not line.shown
    line.clear()
    assert len(written) == 2
    # A pseudo-terminal that never set its size reads 0 columns: the line is not cut to nothing.
    zero: list[str] = []
    ProgressLine(zero.append, clock=FakeClock(), columns=0).step(event(1))
    assert zero == [f"\r{step_text(event(1))}{ERASE_TO_END}"]


def test_a_sweep_puts_its_trial_before_the_progress_line(capsys):
    """`cnnstudio sweep` shows the same line per trial, led by which trial it is."""
    from cnnstudio.cli import TrainReporter
    from cnnstudio.cli_sweep import SweepReporter
    from cnnstudio.core.sweep.study import TrialStarted

    train = TrainReporter(enabled=True, json_mode=False)
    written: list[str] = []
    train.bar = ProgressLine(written.append, clock=FakeClock())  # as on a terminal
    sweep = SweepReporter(train)
    sweep(TrialStarted(number=2, index=3, total=10, settings={"lr": 0.1}, run_dir="/runs/t3", resumed=False))
    sweep(event(1))
    assert written == [f"\rtrial 3/10  {step_text(event(1))}{ERASE_TO_END}"]
    assert "trial 3/10: " in capsys.readouterr().err  # the trial's own line, before its progress


TRAIN = [sys.executable, "-m", "cnnstudio", "train", "--dataset", "shapes", "--model", "tiny-bn-cnn", "--epochs", "1",
         "--limit-train", "600", "--batch-size", "32", "--device", "cpu", "--json"]


def _train(out: Path, tty: bool) -> tuple[int, str, str]:
    """`cnnstudio train --json` with stderr a pseudo-terminal (tty) or a pipe: (exit code, stdout, stderr)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if not tty:
        proc = subprocess.run([*TRAIN, "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=600)
        return proc.returncode, proc.stdout, proc.stderr
    master, slave = pty.openpty()
    proc = subprocess.Popen([*TRAIN, "--out", str(out)], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + 600
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        stdout = proc.stdout.read().decode() if proc.stdout else ""
        code = proc.wait(timeout=60)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, stdout, b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("tty", [True, False], ids=["stderr-terminal", "stderr-pipe"])
def test_train_shows_progress_within_an_epoch_only_on_a_terminal_and_json_stays_one_object(tmp_path, tty):
    code, stdout, stderr = _train(tmp_path / "run", tty)
    assert code == 0, stderr
    result = json.loads(stdout)  # the whole of stdout is one JSON object
    assert isinstance(result, dict) and result["status"] == "finished"
    if tty:
        assert "\repoch 1/1  step 1/" in stderr
        assert re.search(r"\repoch 1/1  step (\d+)/\1  ", stderr)  # redrawn up to the epoch's last step
        assert " img/s  loss " in stderr and ERASE_TO_END in stderr
        assert "epoch 1/1: train loss" in stderr  # the epoch's own line after the progress
    else:
        assert "\r" not in stderr and "step " not in stderr and "\x1b" not in stderr
        assert "epoch 1/1: train loss" in stderr
