"""UI responsiveness while training, in-app training speed, and start-up time.

1. Start-up: launches `cnnstudio` (the console script, offscreen) with CNNSTUDIO_STARTUP_PROBE=1, which
   makes the app print the time its main window was first exposed and then close itself; reports the
   time from launching the process to that moment (target < 2 s).
2. Responsiveness: opens the main window offscreen, loads the dataset, picks the model, and trains
   from the Train page (the real QThread worker, live charts, progress bar, log) while a 10 ms QTimer
   probe on the GUI thread records event-loop stalls (actual interval - 10 ms). Reports p50 / p99 / max
   (target p99 < 50 ms) and how often the GUI got a step update.
3. Speed, round by round: trains the same way without the probe (as a user trains: the probe's 100
   wake-ups a second cost the trainer time of their own), and runs the same config headless as the
   command line does (the Trainer on the main thread of its own process, no Qt). Reports the in-app
   images/s as a ratio of the headless engine's, the median of the rounds' ratios with a 95 % interval
   for that median. The order of the runs rotates from round to round. --with-thread adds the Trainer
   on a plain Python thread of this process, to tell the GUI's cost apart from the cost of training off
   the main thread. On a shared VM whole runs minutes apart differ by more than the few percent in
   question, so these rounds cannot resolve +-0.02 (see 4).
4. Speed, taking turns (the target figure, >= 0.95): the app (its own process, training from the
   Train page) and the headless engine (its own process) train at once but never together: each is
   stopped while the other runs a slice of --slice seconds, alternately, for --interleave seconds
   (benchmarks/_interleave.py). Neighbouring slices see the same machine, so each pair gives a ratio
   the machine's drift hardly touches; reports the median of the pairs' ratios and its 95 % interval.

    python benchmarks/ui_responsiveness.py [--dataset shapes] [--model cnn3-dropout] [--epochs 2]
                                           [--rounds 3] [--startup-runs 3] [--with-thread]
                                           [--interleave 300] [--slice 1.5]

Prints the figures and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if "--child" in sys.argv and os.environ.get("CNNSTUDIO_HOME"):
    _HOME = os.environ["CNNSTUDIO_HOME"]  # a contender of run_interleaved: its controller made it and removes it
else:
    _HOME = tempfile.mkdtemp(prefix="cnnstudio-bench-")
    os.environ["CNNSTUDIO_HOME"] = _HOME  # runs of this benchmark never land in the user's runs folder


from _interleave import report
from _stats import median_interval, percentile


# -- 1. start-up -------------------------------------------------------------------------------------

def measure_startup(runs: int) -> list[float]:
    exe = shutil.which("cnnstudio", path=str(Path(sys.executable).parent)) or shutil.which("cnnstudio")
    cmd = [exe] if exe else [sys.executable, "-m", "cnnstudio"]
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, CNNSTUDIO_STARTUP_PROBE="1", CNNSTUDIO_HOME=str(Path(tmp) / "home"),
                       XDG_CONFIG_HOME=str(Path(tmp) / "config"), QT_QPA_PLATFORM="offscreen")
            t0 = time.time()
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                    cwd=str(ROOT))
            shown = None
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("CNNSTUDIO_WINDOW_SHOWN"):
                    shown = float(line.split()[1])
                    break
            try:
                proc.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
            if shown is None or proc.returncode != 0:
                raise RuntimeError(f"the app did not report its window (exit {proc.returncode})")
            times.append(shown - t0)
    return times


# -- 2 and 3. in-app training with a stall probe, and the headless engine ---------------------------

def make_config(args, spec):
    from cnnstudio.core.training.recommend import default_config

    cfg = default_config(args.dataset).with_changes(model=spec["name"], spec=spec, epochs=args.epochs,
                                                    limit_train=args.limit, seed=0)
    if args.batch_size:
        cfg = cfg.with_changes(batch_size=args.batch_size)
    return cfg


def last_epoch_rate(history: dict) -> float:
    """The last epoch's images/s (from a run's metrics history): the steady state, without the first steps'
    one-off work (oneDNN picking kernels, first allocations), which a fresh headless process pays and a
    warm app does not."""
    return history["samples_per_second"][-1]


def run_headless(cfg, dataset) -> dict:
    from cnnstudio.core.training.trainer import Trainer

    t0 = time.perf_counter()
    result = Trainer(cfg, dataset=dataset).run()
    if result.status != "finished":
        raise RuntimeError(f"headless run {result.status}: {result.message}")
    return {"samples_per_second": result.train_samples_per_second, "wall_s": time.perf_counter() - t0,
            "last_epoch_samples_per_second": last_epoch_rate(result.history), "test_accuracy": result.test_accuracy}


# The headless engine as `cnnstudio train` runs it: the main thread of a fresh process, the same config.
_HEADLESS_SNIPPET = """
import json, sys
from cnnstudio.core.training.config import TrainConfig
from cnnstudio.core.training.trainer import Trainer
result = Trainer(TrainConfig.from_dict(json.loads(sys.argv[1]))).run()
print("RESULT " + json.dumps({k: getattr(result, k) for k in
                              ("status", "message", "train_samples_per_second", "test_accuracy", "history")}))
"""


def run_headless_process(cfg) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _HEADLESS_SNIPPET, json.dumps(cfg.to_dict())], cwd=str(ROOT),
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"headless process failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    result = json.loads(lines[-1][len("RESULT "):])
    if result["status"] != "finished":
        raise RuntimeError(f"headless run {result['status']}: {result.get('message')}")
    return {"samples_per_second": result["train_samples_per_second"], "wall_s": time.perf_counter() - t0,
            "last_epoch_samples_per_second": last_epoch_rate(result["history"]),
            "test_accuracy": result.get("test_accuracy")}


def run_headless_thread(cfg, dataset) -> dict:
    """The same Trainer on a plain Python thread (no Qt): separates the GUI's cost from the cost of
    training off the main thread (libgomp spins much less for a non-initial thread's team when it
    manages more threads than CPUs, so each parallel region pays a futex wake-up)."""
    import threading

    out: dict = {}
    thread = threading.Thread(target=lambda: out.setdefault("r", run_headless(cfg, dataset)))
    thread.start()
    thread.join()
    return out["r"]


def settle_background_tasks(app, timeout_s: float = 60.0) -> None:
    """Let other pages' background work (loading the new checkpoint, the Data page's loading) finish, so
    it neither competes with the next measured run for the cores nor draws from torch's global RNG."""
    from cnnstudio.ui import tasks

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app.processEvents()
        if tasks.idle():
            break
        time.sleep(0.01)
    app.processEvents()


def run_in_app(app, window, cfg, with_probe: bool = True) -> dict:
    from PySide6.QtCore import QEventLoop, Qt, QTimer

    page = window.page("train")
    window.show_page("train")
    ticks: list[float] = []
    probe = QTimer()
    probe.setTimerType(Qt.TimerType.PreciseTimer)
    probe.setInterval(10)
    probe.timeout.connect(lambda: ticks.append(time.perf_counter()))
    loop = QEventLoop()
    out: dict = {}

    def finished(result):
        out["result"] = result
        loop.quit()

    page.runFinished.connect(finished)
    # (time, GUI thread CPU time) at each step update: the share between the first tenth of the run and
    # its last update is the steady state, without the one-off work of starting and finishing a run.
    marks: list[tuple[float, float]] = []

    def on_steps(_step: int) -> None:
        marks.append((time.perf_counter(), time.thread_time()))

    page.stepsReceived.connect(on_steps)
    overrides = train_overrides(cfg)
    if with_probe:
        probe.start()
    t0 = time.perf_counter()
    cpu0 = time.thread_time()  # CPU time of this (the GUI) thread: what the app takes from the trainer
    if not page.start_training(overrides):
        raise RuntimeError(f"the Train page refused to start: {page.banner.text()}")
    run = page.run
    loop.exec()
    wall = time.perf_counter() - t0
    gui_cpu = time.thread_time() - cpu0
    probe.stop()
    page.runFinished.disconnect(finished)
    page.stepsReceived.disconnect(on_steps)
    settle_background_tasks(app)
    result = out["result"]
    if result.status != "finished":
        raise RuntimeError(f"in-app run {result.status}: {result.message}")
    intervals = [b - a for a, b in zip(ticks, ticks[1:])]
    stalls_ms = [max(0.0, (iv - 0.010) * 1000) for iv in intervals]
    (t_a, c_a), (t_b, c_b) = marks[len(marks) // 10], marks[-1]
    return {"samples_per_second": result.train_samples_per_second, "wall_s": wall,
            "last_epoch_samples_per_second": last_epoch_rate(result.history),
            "gui_cpu_steady": (c_b - c_a) / max(1e-6, t_b - t_a),
            "test_accuracy": result.test_accuracy, "stalls_ms": stalls_ms, "gui_cpu_s": gui_cpu,
            "step_events": run.stats["step_events"], "step_signals": run.stats["step_signals"],
            "chart_points": page.charts.step_count}


def open_app(args, epochs: int | None = None):
    """The main window offscreen with the dataset loaded and the model picked, as a user leaves it
    before pressing Train; background start-up work finished."""
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.models.presets import get_preset
    from cnnstudio.ui.app import create_application
    from cnnstudio.ui.main_window import MainWindow
    from cnnstudio.ui.torch_threads import use_one_torch_thread

    app = create_application([])
    # The GUI thread keeps to one torch thread, as in the app (cnnstudio/ui/torch_threads.py): a thread
    # that ever runs a parallel op keeps an OpenMP pool for good, and with more OpenMP threads than
    # cores libgomp stops spinning, which would tax the off-main-thread runs below. (The headless
    # engine runs in its own process, so it never adds such a pool here.)
    use_one_torch_thread()
    dataset = load_dataset(args.dataset)
    spec = get_preset(args.model)
    cfg = make_config(args, spec)
    if epochs is not None:
        cfg = cfg.with_changes(epochs=epochs)
    window = MainWindow()
    window.resize(1280, 820)
    window.show()
    app.processEvents()
    # Start-up work first (the device probe, the Data page's own first load): a load that finished
    # after the dataset below was set would put its own dataset back in its place.
    settle_background_tasks(app)
    window.state.set_dataset(dataset, args.dataset)
    window.state.set_spec(spec, True)
    settle_background_tasks(app)
    if window.state.dataset is not dataset or window.state.dataset_name != args.dataset:
        raise RuntimeError(f"the app holds {window.state.dataset_name!r}, not {args.dataset!r}")
    return app, window, dataset, spec, cfg


def train_overrides(cfg) -> dict:
    """The config's settings as Train page overrides (the page builds the rest from its form)."""
    return {k: getattr(cfg, k) for k in ("epochs", "batch_size", "limit_train", "seed", "optimizer", "lr",
                                         "schedule", "val_split", "augment", "weight_decay",
                                         "label_smoothing", "device", "precision")}


_last_epoch = [0]


def report_step(event) -> None:
    """A contender's progress line for benchmarks/_interleave.py: the moment, the global step, and 1 when
    the interval before it held an epoch's end (evaluation, checkpoints) rather than training steps."""
    if type(event).__name__ == "StepEvent":
        new_epoch = event.epoch != _last_epoch[0]
        _last_epoch[0] = event.epoch
        report(event.global_step, new_epoch)


# -- 4. the same two, taking turns on the CPU (benchmarks/_interleave.py) -----------------------------

LONG_RUN_EPOCHS = 1000  # the contenders train until stopped; the count only has to outlast the measurement


def child_headless(args) -> int:
    """Contender: the engine as `cnnstudio train` runs it, the Trainer on the main thread of this process."""
    from cnnstudio.core.models.presets import get_preset
    from cnnstudio.core.training.trainer import Trainer

    cfg = make_config(args, get_preset(args.model)).with_changes(epochs=LONG_RUN_EPOCHS)
    Trainer(cfg, on_event=report_step).run()
    return 0


def child_app(args) -> int:
    """Contender: the app training from its Train page (QThread worker, charts, progress, log)."""
    from cnnstudio.ui import training_worker

    app, window, _dataset, _spec, cfg = open_app(args, epochs=LONG_RUN_EPOCHS)
    forward = training_worker.TrainingWorker.on_event

    def on_event(worker, event):  # on the training thread, as the trainer calls it: the same moment as headless
        report_step(event)
        forward(worker, event)

    training_worker.TrainingWorker.on_event = on_event
    window.show_page("train")
    page = window.page("train")
    if not page.start_training(train_overrides(cfg)):
        print(f"the Train page refused to start: {page.banner.text()}", flush=True)
        return 1
    started = page.run.worker.config  # read right after the start, on this (GUI) thread
    if (started.dataset, started.model) != (args.dataset, args.model):
        print(f"the app trains {started.dataset} / {started.model}, not {args.dataset} / {args.model}", flush=True)
        return 1
    return app.exec()


def run_interleaved(args) -> dict:
    """In-app against headless, taking turns in slices of args.slice seconds for args.interleave seconds."""
    from _interleave import Contender, take_turns, wait_until_reporting

    contenders = []
    for kind in ("app", "headless"):
        home = tempfile.mkdtemp(prefix=f"cnnstudio-bench-{kind}-")
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--dataset", args.dataset,
               "--model", args.model, "--batch-size", str(args.batch_size), "--limit", str(args.limit)]
        env = dict(os.environ, CNNSTUDIO_HOME=home, XDG_CONFIG_HOME=str(Path(home) / "config"),
                   QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
        contenders.append((Contender(kind, cmd, env, str(ROOT)), home))
    (app, _), (headless, _) = contenders
    try:
        for c, _home in contenders:  # one at a time: neither's start-up competes with the other
            wait_until_reporting(c, timeout_s=300)

        gui_cpu: dict[int, tuple[float | None, int]] = {}

        def progress(done: int, total: int) -> None:
            # The app's main (GUI) thread CPU after the warm-up pairs and at the end: its share of the
            # app's running time, to compare with the GUI's share when the app trains alone.
            if done in (1, total):
                gui_cpu[done] = (app.main_thread_cpu_s(), len(app.slices))
            if done % 10 == 0 or done == total:
                print(f"  interleaved: {done} of {total} pairs of slices", flush=True)

        rates_app, rates_headless = take_turns(app, headless, args.interleave, args.slice, on_pair=progress)
    finally:
        for c, home in contenders:
            c.kill()
            shutil.rmtree(home, ignore_errors=True)
    # A slice with no whole interval between two steps has no rate (NaN): its pair is left out.
    pairs = [a / h for a, h in zip(rates_app, rates_headless) if math.isfinite(a) and math.isfinite(h) and h > 0]
    share = None
    if len(gui_cpu) == 2 and None not in (gui_cpu[1][0], gui_cpu[max(gui_cpu)][0]):
        (cpu_a, n_a), (cpu_b, n_b) = gui_cpu[1], gui_cpu[max(gui_cpu)]
        running = sum(e - s for s, e in app.slices[n_a:n_b])
        share = (cpu_b - cpu_a) / running if running > 0 else None
    return {"slice_s": args.slice, "pairs": len(pairs), "ratios": pairs,
            "app_steps_per_s": rates_app, "headless_steps_per_s": rates_headless, "gui_cpu_share": share}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="shapes")
    parser.add_argument("--model", default="cnn3-dropout")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=0, help="0: the dataset's default")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N training images (0: all)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of in-app / headless process (/ plain thread) runs, order rotated")
    parser.add_argument("--startup-runs", type=int, default=3)
    parser.add_argument("--skip-startup", action="store_true")
    parser.add_argument("--with-thread", action="store_true",
                        help="also run the Trainer on a plain Python thread of this process (a diagnostic)")
    parser.add_argument("--interleave", type=float, default=300.0,
                        help="seconds of in-app and headless training taking turns on the CPU (0: skip)")
    parser.add_argument("--slice", type=float, default=1.5, help="seconds of each turn when interleaving")
    parser.add_argument("--child", choices=("app", "headless"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "app":
        return child_app(args)
    if args.child == "headless":
        return child_headless(args)

    startup = [] if args.skip_startup else measure_startup(args.startup_runs)
    if startup:
        print(f"start-up to window shown: {', '.join(f'{t:.2f}' for t in startup)} s "
              f"(median {statistics.median(startup):.2f} s; target < 2 s)", flush=True)

    app, window, dataset, spec, cfg = open_app(args)
    import torch

    from cnnstudio.core.training.device import cpu_name, physical_cores
    from cnnstudio.ui.tasks import wait_for_all

    # Warm-up (first-call allocations, oneDNN kernels), not counted, on a thread as the measured runs.
    run_headless_thread(cfg.with_changes(epochs=1, limit_train=min(2000, dataset.train_images.shape[0])), dataset)

    headless, threaded, in_app, in_app_quiet = [], [], [], []
    # "quiet": in-app without the 10 ms probe, as a user trains: the throughput target is read there.
    # The probe wakes the GUI thread 100 times a second, and on two busy cores each wake pre-empts a
    # training thread; it is the instrument for the stalls, and its own cost shows in the "app" runs.
    kinds = ["quiet", "headless", "app"] + (["thread"] if args.with_thread else [])
    for r in range(args.rounds):
        for kind in kinds[r % len(kinds):] + kinds[:r % len(kinds)]:  # rotate the order from round to round
            if kind == "headless":
                h = run_headless_process(cfg)
                headless.append(h)
                print(f"  round {r + 1} headless (own process): {h['samples_per_second']:,.0f} images/s "
                      f"({h['wall_s']:.1f} s with start-up)", flush=True)
            elif kind == "thread":
                t = run_headless_thread(cfg, dataset)
                threaded.append(t)
                print(f"  round {r + 1} headless on a Python thread: {t['samples_per_second']:,.0f} images/s "
                      f"({t['wall_s']:.1f} s)", flush=True)
            elif kind == "quiet":
                q = run_in_app(app, window, cfg, with_probe=False)
                in_app_quiet.append(q)
                print(f"  round {r + 1} in-app:   {q['samples_per_second']:,.0f} images/s ({q['wall_s']:.1f} s); "
                      f"GUI thread {100 * q['gui_cpu_steady']:.1f} % of a core while training", flush=True)
            else:
                a = run_in_app(app, window, cfg)
                in_app.append(a)
                st = a["stalls_ms"]
                print(f"  round {r + 1} in-app with the stall probe: {a['samples_per_second']:,.0f} images/s "
                      f"({a['wall_s']:.1f} s); stalls p50 {percentile(st, 0.5):.1f} ms, "
                      f"p99 {percentile(st, 0.99):.1f} ms, max {max(st):.1f} ms; {a['step_signals']} GUI updates "
                      f"for {a['step_events']} step events", flush=True)
    window.close()
    wait_for_all()
    # This process is idle from here on (no event loop runs): the two contenders have the machine.
    interleaved = run_interleaved(args) if args.interleave > 0 else None

    def rates(runs: list[dict]) -> list[float]:
        return [run["samples_per_second"] for run in runs]

    def paired(runs: list[dict], key: str = "samples_per_second") -> list[float]:
        """In-app / headless of each round: the two ran minutes apart at most, so a machine that drifts
        between rounds moves both."""
        return [a[key] / h[key] for a, h in zip(runs, headless)]

    def interval(ratios: list[float]) -> list[float] | None:
        """95 % interval of the median ratio; None with too few rounds for one (fewer than 6)."""
        found = median_interval(ratios)
        return [round(x, 3) for x in found] if found else None

    def shown(ci: list[float] | None) -> str:
        return f"{ci[0]:.3f} to {ci[1]:.3f}" if ci else "needs 6 rounds or more"

    stalls = [s for a in in_app for s in a["stalls_ms"]]
    # Medians: on a shared VM one run in a dozen can be slowed by half by a neighbour; a mean would let
    # that one run decide the ratio.
    h_rate, q_rate, a_rate = (statistics.median(rates(x)) for x in (headless, in_app_quiet, in_app))
    quiet_pairs, probe_pairs = paired(in_app_quiet), paired(in_app)
    last_epoch_pairs = paired(in_app_quiet, "last_epoch_samples_per_second")
    updates_per_s = max(a["step_signals"] / a["wall_s"] for a in in_app)
    figures = {
        "benchmark": "ui_responsiveness",
        "dataset": args.dataset, "model": args.model, "epochs": args.epochs, "batch_size": cfg.batch_size,
        "limit_train": args.limit, "rounds": args.rounds,
        "cpu": cpu_name(), "cores": physical_cores(), "torch": str(torch.__version__),
        "python": platform.python_version(),
        "startup_s": [round(t, 3) for t in startup],
        "startup_median_s": round(statistics.median(startup), 3) if startup else None,
        "stall_p50_ms": round(percentile(stalls, 0.5), 2), "stall_p99_ms": round(percentile(stalls, 0.99), 2),
        "stall_max_ms": round(max(stalls), 2) if stalls else None, "probe_ticks": len(stalls),
        "gui_updates_per_s_max": round(updates_per_s, 1),
        "headless_samples_per_s": round(h_rate, 1), "in_app_samples_per_s": round(q_rate, 1),
        "in_app_ratio": round(statistics.median(quiet_pairs), 3),
        "in_app_ratio_ci95": interval(quiet_pairs),
        "in_app_ratio_of_medians": round(q_rate / h_rate, 3),
        "in_app_round_ratios": [round(r, 3) for r in quiet_pairs],
        "in_app_ratio_last_epoch": round(statistics.median(last_epoch_pairs), 3),
        "in_app_ratio_last_epoch_ci95": interval(last_epoch_pairs),
        "in_app_probe_samples_per_s": round(a_rate, 1),
        "in_app_probe_ratio": round(statistics.median(probe_pairs), 3),
        "in_app_probe_round_ratios": [round(r, 3) for r in probe_pairs],
        "headless_runs": [round(x, 1) for x in rates(headless)],
        "in_app_runs": [round(x, 1) for x in rates(in_app_quiet)],
        "in_app_probe_runs": [round(x, 1) for x in rates(in_app)],
        "gui_thread_cpu_share_training": round(statistics.median(q["gui_cpu_steady"] for q in in_app_quiet), 4),
        "gui_thread_cpu_share_training_probe": round(statistics.median(a["gui_cpu_steady"] for a in in_app), 4),
        "gui_thread_cpu_share_whole_run": round(sum(q["gui_cpu_s"] for q in in_app_quiet)
                                                / sum(q["wall_s"] for q in in_app_quiet), 4),
        "test_accuracy_in_app": in_app_quiet[-1]["test_accuracy"],
        "test_accuracy_headless": headless[-1]["test_accuracy"],
    }
    if interleaved:
        ratios = interleaved["ratios"]
        figures.update({
            "interleaved_ratio": round(statistics.median(ratios), 3),
            "interleaved_ratio_ci95": interval(ratios),
            "interleaved_pairs": interleaved["pairs"], "interleaved_slice_s": interleaved["slice_s"],
            "interleaved_ratio_mean": round(statistics.fmean(ratios), 3),
            "interleaved_gui_thread_cpu_share": (round(interleaved["gui_cpu_share"], 4)
                                                 if interleaved["gui_cpu_share"] is not None else None),
            "interleaved_pair_ratios": [round(r, 3) for r in ratios],
            "interleaved_app_steps_per_s": [round(r, 2) if math.isfinite(r) else None
                                            for r in interleaved["app_steps_per_s"]],
            "interleaved_headless_steps_per_s": [round(r, 2) if math.isfinite(r) else None
                                                 for r in interleaved["headless_steps_per_s"]],
        })
    if threaded:
        t_rate = statistics.median(rates(threaded))
        figures.update({"headless_thread_samples_per_s": round(t_rate, 1),
                        "thread_vs_process_ratio": round(statistics.median(paired(threaded)), 3),
                        "headless_thread_runs": [round(x, 1) for x in rates(threaded)]})
    print()
    print(f"Event-loop stalls while training ({len(stalls)} probe intervals of 10 ms): "
          f"p50 {figures['stall_p50_ms']} ms, p99 {figures['stall_p99_ms']} ms, max {figures['stall_max_ms']} ms "
          "(target p99 < 50 ms)")
    print(f"GUI thread CPU while training: {100 * figures['gui_thread_cpu_share_training']:.1f} % of one core "
          f"({100 * figures['gui_thread_cpu_share_training_probe']:.1f} % with the probe; "
          f"{100 * figures['gui_thread_cpu_share_whole_run']:.1f} % counting the start and end of each run)")
    print(f"GUI step updates: at most {figures['gui_updates_per_s_max']} per second (throttle: 10)")
    print(f"Training speed, in-app / headless, whole runs: median of the {args.rounds} rounds' ratios "
          f"{figures['in_app_ratio']:.3f} (95 % interval of that median: {shown(figures['in_app_ratio_ci95'])}; "
          f"target >= 0.95); medians {q_rate:,.0f} vs {h_rate:,.0f} images/s = "
          f"{figures['in_app_ratio_of_medians']:.3f}")
    print(f"  round by round: {', '.join(f'{r:.3f}' for r in quiet_pairs)}")
    print(f"  the last epoch only (steady state): median ratio {figures['in_app_ratio_last_epoch']:.3f} "
          f"(95 % interval {shown(figures['in_app_ratio_last_epoch_ci95'])})")
    print(f"  with the 10 ms stall probe running: median ratio {figures['in_app_probe_ratio']:.3f} "
          f"({', '.join(f'{r:.3f}' for r in probe_pairs)})")
    if threaded:
        print(f"  the Trainer on a plain Python thread of this process: {figures['thread_vs_process_ratio']:.3f} of "
              "the headless process")
    if interleaved:
        ci = figures["interleaved_ratio_ci95"]
        half = f", +-{(ci[1] - ci[0]) / 2:.3f}" if ci else ""
        print(f"Training speed, in-app / headless, taking turns on the CPU ({interleaved['pairs']} pairs of "
              f"{args.slice:g} s slices): median ratio {figures['interleaved_ratio']:.3f} (95 % interval "
              f"{shown(ci)}{half}; target >= 0.95); mean {figures['interleaved_ratio_mean']:.3f}")
        if interleaved["gui_cpu_share"] is not None:
            print(f"  the app's GUI thread used {100 * interleaved['gui_cpu_share']:.1f} % of its running time "
                  "while taking turns")
    if startup:
        print(f"Start-up to window shown: median {figures['startup_median_s']:.2f} s (target < 2 s)")
    print(json.dumps(figures))
    shutil.rmtree(_HOME, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
