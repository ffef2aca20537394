"""torchrun with 2 CPU processes (gloo): sharding, rank-0-only output, interchangeable checkpoints."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from cnnstudio.cli import main


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    run_dir, sample_log = tmp / "run", tmp / "samples"
    sample_log.mkdir()
    env = {**os.environ, "CNNSTUDIO_HOME": str(tmp / "home"), "CNNSTUDIO_SAMPLE_LOG": str(sample_log),
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "cnnstudio", "train", "--dataset", "shapes", "--model", "cnn3-dropout", "--epochs", "1",
           "--limit-train", "3001", "--batch-size", "64", "--device", "cpu", "--precision", "fp32",
           "--out", str(run_dir), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, run_dir, sample_log


def test_rank_zero_alone_writes_the_json_line_and_checkpoints(ddp_run):
    proc, run_dir, _ = ddp_run
    json_lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(json_lines) == 1, proc.stdout
    result = json.loads(json_lines[0])
    assert result["world_size"] == 2 and result["status"] == "finished"
    names = sorted(p.name for p in run_dir.iterdir())
    assert names == ["best.pt", "config.json", "last.pt", "metrics.json", "result.json"]
    # Only one progress/epoch report, from rank 0.
    assert proc.stderr.count("epoch 1/1:") == 1


def test_ranks_together_see_each_sample_exactly_once(ddp_run):
    _, _, sample_log = ddp_run
    shards = [torch.load(sample_log / f"rank{r}-epoch1.pt") for r in (0, 1)]
    seen = torch.cat(shards)
    n_train = 3001 - round(0.1 * 3001)  # the default validation split is held out
    assert seen.numel() == n_train
    assert torch.unique(seen).numel() == n_train, "no sample twice"
    assert abs(shards[0].numel() - shards[1].numel()) <= 1


def test_loss_falls(ddp_run):
    _, run_dir, _ = ddp_run
    steps = json.loads((run_dir / "metrics.json").read_text())["steps"]["loss"]
    assert len(steps) >= 4
    assert sum(steps[-2:]) / 2 < sum(steps[:2]) / 2


def test_checkpoint_evaluates_in_a_single_process_as_reported(ddp_run, capsys):
    proc, run_dir, _ = ddp_run
    reported = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][0])
    code = main(["evaluate", "--checkpoint", str(run_dir / "best.pt"), "--json", "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0
    evaluated = json.loads(out.strip().splitlines()[-1])
    assert evaluated["accuracy"] == pytest.approx(reported["test_accuracy"], abs=1e-9)
