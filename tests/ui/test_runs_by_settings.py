"""Issue 31, item 3: a sweep's trials on the Runs page, compared by their settings; "Use best"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnstudio.core import paths

BACKGROUND_MS = 30_000


def write_trial(sweep: Path, i: int, lr: float, batch: int, val: float) -> Path:
    run = sweep / f"trial-{i:03d}"
    run.mkdir(parents=True)
    cfg = {"dataset": "shapes", "model": "cnn3-dropout", "epochs": 1, "lr": lr, "batch_size": batch,
           "optimizer": "adam"}
    (run / "config.json").write_text(json.dumps({"config": cfg, "dataset": {"name": "shapes"}}))
    (run / "metrics.json").write_text(json.dumps({
        "epoch": [1], "train_loss": [1.0], "train_accuracy": [0.5], "val_loss": [1.0], "val_accuracy": [val],
        "lr": [lr], "seconds": [1.0], "samples_per_second": [10.0],
        "steps": {"step": [1], "loss": [1.0], "accuracy": [0.5], "lr": [lr]}}))
    (run / "result.json").write_text(json.dumps({"status": "finished", "test_accuracy": val - 0.01,
                                                 "best_val_accuracy": val}))
    (run / "best.pt").write_bytes(b"x")
    (run / "trial.json").write_text(json.dumps({"sweep": sweep.name, "trial": i, "status": "finished",
                                                "settings": {"lr": lr, "batch_size": batch}}))
    return run


@pytest.fixture
def page(qtbot, state):
    from cnnstudio.ui.compose import runs_page

    p = runs_page(state)
    qtbot.addWidget(p)
    p.resize(1280, 800)
    p.show()
    qtbot.waitExposed(p)
    return p


def test_a_sweeps_trials_compared_by_settings_and_the_best_put_in_use(qtbot, page, state):
    from cnnstudio.ui.pages.train_page import TrainPage

    sweep = paths.runs_dir() / "20261207-sweep-shapes"
    sweep.mkdir(parents=True)
    (sweep / "sweep.json").write_text("{}")
    accs = {(0.01, 32): 0.7, (0.01, 64): 0.72, (0.001, 32): 0.9, (0.001, 64): 0.85, (0.0001, 32): 0.5}
    for i, ((lr, bs), acc) in enumerate(accs.items()):
        write_trial(sweep, i, lr, bs, acc)
    train = TrainPage(state)
    qtbot.addWidget(train)
    with qtbot.waitSignal(page.refreshed, timeout=BACKGROUND_MS):
        page.refresh()
    assert len(page.runs) == 5 and all(r.sweep == sweep.name for r in page.runs)
    with qtbot.waitSignal(page.selectionShown, timeout=BACKGROUND_MS):
        page.select_paths([r.path for r in page.runs])
    view = page.settings_view
    compared = view.compared
    assert compared is not None and compared.settings == ("lr", "batch_size")
    assert compared.best.name == "trial-002" and compared.best.values == (0.001, 32)
    assert view.table.rowCount() == 5 and "What mattered" in view.summary.text()
    view.use_best.click()
    assert state.checkpoint_path == str(sweep / "trial-002" / "best.pt")
    assert train.form.lr_spin.value() == pytest.approx(0.001) and train.form.batch_spin.value() == 32
