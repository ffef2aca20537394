"""Sweeps (core/sweep, `cnnstudio sweep`): the settings' syntax, trials as run folders, halving that
stops trials early, a sweep continued after an interruption, and two workers sharing one study."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnnstudio.cli import main
from cnnstudio.core.sweep.space import SweepError, parse_param
from cnnstudio.core.sweep.runner import SweepRunner
from cnnstudio.core.sweep.study import TrialEnded, TrialStarted, make_spec, read_outcome
from cnnstudio.core.training.events import ProbeEvent, RunResult, StepEvent

ROOT = Path(__file__).resolve().parents[1]
# A trial that trains for real but briefly: the built-in shapes, 200 pictures, one epoch.
TINY = {"limit_train": 200, "seed": 0}


# -- the syntax ------------------------------------------------------------------------------------------
def test_lists_and_ranges_are_read_with_their_types():
    assert parse_param("lr=0.02,0.05").values == (0.02, 0.05)
    assert parse_param("batch-size=128, 256").values == (128, 256)  # the option's spelling works too
    assert parse_param("optimizer=adam,sgd").values == ("adam", "sgd")
    r = parse_param("lr=1e-4:1:log")
    assert (r.is_range, r.low, r.high, r.scale) == (True, 1e-4, 1.0, "log")
    assert parse_param("weight_decay=0:1e-3:lin").scale == "lin"
    assert parse_param("lr=1e-4:1:log").text() == "lr=0.0001:1:log"


@pytest.mark.parametrize("text, fragment", [
    ("momentum=0.9", "cannot be swept"),
    ("lr", "NAME=VALUES"),
    ("lr=0.1,fast", "not a number"),
    ("batch_size=12.5", "not a whole number"),
    ("lr=1:0.1:log", "low end must be below"),
    ("lr=0:1:log", "log range must start above 0"),
    ("lr=1e-3:1:cubic", "lo:hi:log or lo:hi:lin"),
    ("optimizer=adam:sgd:lin", "list of values"),
    ("lr=0.1,0.1", "listed twice"),
    ("lr=nan", "finite"),
])
def test_a_bad_param_is_one_clear_sentence(text, fragment):
    with pytest.raises(SweepError, match=fragment):
        parse_param(text)


def test_strategy_rules_are_checked_before_anything_trains():
    with pytest.raises(SweepError, match="is a range"):
        make_spec("shapes", ["lr=1e-3:1:log"], "grid")
    with pytest.raises(SweepError, match="--trials is for"):
        make_spec("shapes", ["lr=0.1,0.2"], "grid", trials=3)
    with pytest.raises(SweepError, match="given twice"):
        make_spec("shapes", ["lr=0.1", "lr=0.2"], "random")
    with pytest.raises(SweepError, match="both name the model"):
        make_spec("shapes", ["model=lenet5,fast-cnn"], "grid", model="lenet5")
    assert make_spec("shapes", ["lr=0.1,0.2", "batch_size=8,16,32"], "grid").target == 6
    assert make_spec("shapes", ["lr=1e-3:1:log"], "random", trials=4).target == 4


@pytest.mark.parametrize("args, fragment", [
    (["--dataset", "nosuchset", "--param", "lr=0.1"], "No dataset named"),
    (["--dataset", "shapes", "--param", "model=nosuchmodel"], "neither a preset"),
    (["--dataset", "shapes", "--param", "lr=0.1", "--storage", "nosuch://x"], "cannot be opened"),
])
def test_a_sweep_refused_before_its_first_trial_leaves_no_folder(capsys, tmp_path, args, fragment):
    out = tmp_path / "sweep"
    code = main(["sweep", *args, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and fragment in err.strip().splitlines()[-1]
    assert not out.exists()  # the same command, corrected, starts afresh there


def test_the_cli_refuses_a_bad_value_in_one_line_before_training(capsys, tmp_path):
    code = main(["sweep", "--dataset", "shapes", "--param", "optimizer=adam,rmsprop", "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "optimizer=rmsprop" in err.strip().splitlines()[-1]
    assert not (tmp_path / "s" / "trial-000").exists()  # nothing trained


# -- a grid from the command line -------------------------------------------------------------------------
def test_a_grid_sweep_trains_every_point_as_a_run_folder_and_reports_the_best(capsys, tmp_path):
    out = tmp_path / "grid"
    code = main(["sweep", "--dataset", "shapes", "--param", "lr=0.003,0.0003", "--param", "batch_size=32,64",
                 "--epochs", "1", "--limit-train", "200", "--device", "cpu", "--out", str(out), "--json"])
    stdout = capsys.readouterr().out
    assert code == 0
    doc = json.loads(stdout)  # stdout is one JSON object
    trials = doc["trials"]
    assert len(trials) == 4 and {t["status"] for t in trials} == {"finished"}
    assert {(t["settings"]["lr"], t["settings"]["batch_size"]) for t in trials} == {
        (0.003, 32), (0.003, 64), (0.0003, 32), (0.0003, 64)}
    for t in trials:  # each a normal run folder, trained with its settings and tagged with its sweep
        config = json.loads((Path(t["run_dir"]) / "config.json").read_text())["config"]
        assert (config["lr"], config["batch_size"]) == (t["settings"]["lr"], t["settings"]["batch_size"])
        assert json.loads((Path(t["run_dir"]) / "result.json").read_text())["test_accuracy"] == t["test_accuracy"]
        tag = json.loads((Path(t["run_dir"]) / "trial.json").read_text())
        assert tag["sweep"] == "grid" and tag["settings"] == t["settings"] and tag["status"] == "finished"
    best = max(trials, key=lambda t: t["best_val_accuracy"])
    assert doc["best"]["run_dir"] == best["run_dir"] and doc["best"]["settings"] == best["settings"]
    assert doc["complete"] is True
    # The same command again continues the finished sweep: nothing more is trained.
    code = main(["sweep", "--dataset", "shapes", "--param", "lr=0.003,0.0003", "--param", "batch_size=32,64",
                 "--epochs", "1", "--limit-train", "200", "--device", "cpu", "--out", str(out), "--json"])
    assert code == 0 and len(json.loads(capsys.readouterr().out)["trials"]) == 4
    # Another sweep into the same folder is refused: nothing is overwritten.
    code = main(["sweep", "--dataset", "shapes", "--param", "lr=0.1", "--out", str(out)])
    assert code == 2 and "holds another sweep" in capsys.readouterr().err


# -- continued after an interruption ----------------------------------------------------------------------
def test_a_sweep_stopped_mid_trial_continues_that_trial_from_its_last_checkpoint(tmp_path):
    spec = make_spec("shapes", ["lr=0.003,0.0003"], "grid", epochs=2, fixed=TINY)
    events: list = []
    runner: SweepRunner

    def stop_in_the_second_trial(event):
        events.append(event)
        started = [e for e in events if isinstance(e, TrialStarted)]
        if len(started) == 2 and isinstance(event, StepEvent) and event.epoch == 2:
            runner.stop()

    runner = SweepRunner(tmp_path / "s", spec, device="cpu", on_event=stop_in_the_second_trial)
    first = runner.run()
    assert not first.complete and first.stopped == "by the user"
    assert [t.status for t in first.trials] == ["finished", "interrupted"]
    interrupted = first.trials[1]
    assert (Path(interrupted.run_dir) / "last.pt").is_file()

    events = []
    # The folder alone says what to train.
    again = SweepRunner(tmp_path / "s", device="cpu", on_event=events.append).run()
    started = [e for e in events if isinstance(e, TrialStarted)]
    assert started[0].resumed and started[0].run_dir == interrupted.run_dir
    assert started[0].settings == interrupted.settings
    assert again.complete and len(again.trials) == 2
    assert sorted(t.settings["lr"] for t in again.trials) == [0.0003, 0.003]  # each point once
    assert {t.status for t in again.trials} == {"finished"}
    resumed = json.loads((Path(interrupted.run_dir) / "result.json").read_text())
    assert resumed["epochs"] == 2 and resumed["status"] == "finished"
    assert read_outcome(tmp_path / "s").best == again.best


# -- halving ------------------------------------------------------------------------------------------------
class _FakeTrainer:
    """Stands in for the Trainer: reports at the probes a validation accuracy that grows with the learning
    rate, so which trials the pruner keeps is known without training."""

    def __init__(self, cfg, *, dataset, run_dir, resume_from, on_event, control, probe_fractions):
        self.cfg, self.run_dir, self.on_event, self.control = cfg, Path(run_dir), on_event, control
        self.probes = probe_fractions

    def run(self) -> RunResult:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.control.stop_requested:
            return RunResult("stopped", "stopped by the user at step 0", run_dir=str(self.run_dir))
        total = 100
        for f in self.probes:
            self.on_event(ProbeEvent(round(f * total), total, self.cfg.lr * (0.5 + f), 1.0))
            if self.control.stop_requested:
                return RunResult("stopped", "stopped by the sweep (pruned)", run_dir=str(self.run_dir))
        return RunResult("finished", "", run_dir=str(self.run_dir), best_val_accuracy=self.cfg.lr,
                         test_accuracy=self.cfg.lr)


def test_halving_stops_trials_behind_the_best_third_and_never_the_best(tmp_path, monkeypatch):
    import cnnstudio.core.training.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "Trainer", _FakeTrainer)
    lrs = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09]
    spec = make_spec("shapes", ["lr=" + ",".join(map(str, lrs))], "halving", epochs=1, fixed=TINY)
    probes: list = []
    outcome = SweepRunner(tmp_path / "h", spec, on_event=probes.append).run()
    statuses = {t.settings["lr"]: t.status for t in outcome.trials}
    assert set(statuses) == set(lrs) and set(statuses.values()) <= {"finished", "pruned"}
    assert statuses[0.09] == "finished" and outcome.best.settings["lr"] == 0.09
    assert list(statuses.values()).count("pruned") >= 1
    pruned = [t for t in outcome.trials if t.status == "pruned"]
    assert all("pruned at 11 %" in t.message or "pruned at 33 %" in t.message for t in pruned)
    assert [e.trial.status for e in probes if isinstance(e, TrialEnded)] == [t.status for t in outcome.trials]


def test_the_trainer_measures_validation_at_the_fractions_asked_without_changing_training(tmp_path):
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.training.config import build_config, data_config
    from cnnstudio.core.training.trainer import Trainer

    ds = load_dataset("shapes")
    cfg = build_config(data_config("shapes"), {"epochs": 2, "limit_train": 200, "device": "cpu", "batch_size": 20})
    probed: list = []
    with_probes = Trainer(cfg, dataset=ds, run_dir=tmp_path / "a", on_event=probed.append,
                          probe_fractions=(0.11, 0.33)).run()
    plain = Trainer(cfg, dataset=ds, run_dir=tmp_path / "b").run()
    probes = [e for e in probed if isinstance(e, ProbeEvent)]
    total = probes[0].total_steps
    assert [p.global_step for p in probes] == [-(-11 * total // 100), -(-33 * total // 100)]
    assert all(0 <= p.val_accuracy <= 1 for p in probes)
    assert with_probes.history["steps"]["loss"] == plain.history["steps"]["loss"]  # the same training
    assert with_probes.test_accuracy == plain.test_accuracy


# -- two workers, one study ---------------------------------------------------------------------------------
def test_two_worker_processes_share_one_study_and_train_each_point_once(tmp_path):
    from cnnstudio.core.sweep.study import default_storage, make_sweep_dir, open_study

    out = tmp_path / "shared"
    lrs = [0.003, 0.002, 0.0015, 0.001, 0.0005, 0.0003]
    spec = make_spec("shapes", ["lr=" + ",".join(map(str, lrs))], "grid", epochs=1, fixed={"limit_train": 200})
    make_sweep_dir(out, spec)  # the sweep and its study made first, so both workers start as joiners...
    open_study(spec, default_storage(out))
    cmd = [sys.executable, "-m", "cnnstudio.cli", "sweep", "--out", str(out), "--device", "cpu", "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # ...at the same moment, each asking the study for its next trial.
    workers = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    logs = [w.communicate(timeout=900) for w in workers]
    for w, (_, err) in zip(workers, logs):
        assert w.returncode == 0, err
    trained = [[line for line in err.splitlines() if line.startswith("trial ")] for _, err in logs]
    assert sum(map(len, trained)) == len(lrs)  # no point trained twice
    assert all(trained), "each worker trained a share of the trials"
    final = read_outcome(out)
    assert final.complete and sorted(t.settings["lr"] for t in final.trials) == sorted(lrs)


def test_a_sweeps_trials_are_listed_with_the_runs_and_say_what_they_tried(tmp_path, monkeypatch):
    from cnnstudio.core.runs import list_runs

    monkeypatch.setattr("cnnstudio.core.training.trainer.Trainer", _FakeTrainer)
    root = tmp_path / "runs"
    spec = make_spec("shapes", ["lr=0.01,0.02"], "grid", epochs=1, fixed=TINY)
    SweepRunner(root / "my-sweep", spec).run()
    for trial in (root / "my-sweep").glob("trial-*"):  # what the real trainer writes first
        (trial / "config.json").write_text(json.dumps({"config": {"lr": 0.01, "epochs": 1}}))
    runs = list_runs(root)
    assert sorted((r.sweep, r.trial_settings["lr"], r.trial_status) for r in runs) == [
        ("my-sweep", 0.01, "finished"), ("my-sweep", 0.02, "finished")]


def test_a_sweeps_estimate_measures_each_kind_of_trial_once(monkeypatch):
    import cnnstudio.core.training.estimate as estimate
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.sweep.estimate import estimate_sweep

    probed = []
    real_probe = estimate.probe
    monkeypatch.setattr(estimate, "probe", lambda cfg, data: probed.append(cfg.batch_size) or real_probe(cfg, data))
    data = load_dataset("shapes")
    spec = make_spec("shapes", ["lr=0.1,0.01,0.001", "batch_size=32,64"], "grid", epochs=2, fixed=TINY)
    grid_estimate = estimate_sweep(spec, data, "cpu")
    assert grid_estimate.trials == 6 and not grid_estimate.upper_bound and grid_estimate.seconds > 0
    assert sorted(probed) == [32, 64]  # the learning rate does not change the speed: one probe per batch size
    halving = estimate_sweep(make_spec("shapes", ["lr=0.1,0.01"], "halving", epochs=2, fixed=TINY), data, "cpu")
    assert halving.upper_bound and halving.text().startswith("at most about")


# -- compared by settings -------------------------------------------------------------------------------------
def _trial(i: int, lr: float, bs: int, acc: float | None, sweep: str | None = "s"):
    from cnnstudio.core.runs import RunSummary

    return RunSummary(name=f"trial-{i:03d}", path=f"/runs/{i}", status="finished" if acc else "stopped",
                      best_val_accuracy=acc, test_accuracy=None if acc is None else acc - 0.01,
                      config={"lr": lr, "batch_size": bs, "epochs": 2, "model": "fast-cnn", "optimizer": "sgd"},
                      model="fast-cnn", sweep=sweep, trial_settings={"lr": lr, "batch_size": bs} if sweep else None,
                      trial_status=("finished" if acc else "pruned") if sweep else None)


def test_runs_compared_by_settings_sort_by_accuracy_and_name_the_setting_that_mattered():
    import dataclasses
    import itertools
    import math

    from cnnstudio.core.sweep.compare import by_settings

    runs = [_trial(i, lr, bs, 0.9 - 0.05 * abs(math.log10(lr / 0.1)) + (0.001 if bs == 128 else 0))
            for i, (lr, bs) in enumerate(itertools.product([0.01, 0.03, 0.1, 0.3, 1.0], [128, 256]))]
    runs.append(_trial(10, 0.5, 128, None))  # pruned before any epoch: no accuracy
    early = _trial(11, 0.5, 256, 0.95)  # pruned after an epoch: its accuracy then is no final one
    runs.append(dataclasses.replace(early, status="stopped", trial_status="pruned"))
    compared = by_settings(runs)
    assert compared.settings == ("lr", "batch_size") and compared.titles == ("Learning rate", "Batch size")
    assert compared.best.values == (0.1, 128) and compared.best.status == "finished"
    assert [r.status for r in compared.rows[-2:]] == ["pruned", "pruned"]  # the stopped ones last
    assert compared.rows[-1].best_val_accuracy is None
    accs = [r.best_val_accuracy for r in compared.rows[:-2]]
    assert accs == sorted(accs, reverse=True)
    assert [k for k, _ in compared.importances] == ["lr", "batch_size"]
    assert compared.importances[0][1] > 0.9  # 5 points against 0.1
    assert compared.log_scale("lr") and not compared.log_scale("batch_size")


def test_any_selection_of_runs_is_compared_by_the_settings_that_differ():
    from cnnstudio.core.sweep.compare import by_settings

    runs = [_trial(i, 0.001 * (i + 1), 64, 0.8 + i / 100, sweep=None) for i in range(3)]
    compared = by_settings(runs)
    assert compared.settings == ("lr",) and compared.importances == ()  # three runs: too few to say
    assert "4 or more" in compared.note
    same = by_settings([_trial(0, 0.1, 64, 0.8, sweep=None), _trial(1, 0.1, 64, 0.81, sweep=None)])
    assert same.settings == () and "same" in same.note


def test_the_whole_sweeps_stop_ends_it_after_the_trial_in_training(tmp_path, monkeypatch):
    from cnnstudio.core.training.control import RunControl

    monkeypatch.setattr("cnnstudio.core.training.trainer.Trainer", _FakeTrainer)
    control = RunControl()  # the app's Stop button holds this one

    def stop_at_the_second_trial(event):
        if isinstance(event, TrialStarted) and event.index == 2:
            control.stop()

    spec = make_spec("shapes", ["lr=0.01,0.02,0.03"], "grid", epochs=1, fixed=TINY)
    outcome = SweepRunner(tmp_path / "s", spec, control=control, on_event=stop_at_the_second_trial).run()
    assert outcome.stopped == "by the user" and not outcome.complete
    assert [t.status for t in outcome.trials] == ["finished", "interrupted"]  # and no third trial started
