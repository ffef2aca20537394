"""Export a run's configuration as the command line / torchrun launcher that reproduces it."""

from __future__ import annotations

import json
import shlex
import subprocess

from cnnstudio.cli import build_parser, config_from_args
from cnnstudio.core.datasets import load_dataset
from cnnstudio.core.models.presets import get_preset
from cnnstudio.ui.pages.train_page import TrainPage
from cnnstudio.ui.widgets.export_dialog import ExportCommandDialog


def test_train_page_exports_the_settings_it_would_train_with(qtbot, state, tmp_path):
    state.set_dataset(load_dataset("shapes"), "shapes")
    state.set_spec(get_preset("bn-cnn4"), True)
    page = TrainPage(state)
    qtbot.addWidget(page)
    dialog = page.export_command_line()
    qtbot.addWidget(dialog)
    expected = page.build_config()
    text = dialog.text.toPlainText()
    single = next(line for line in text.splitlines() if line.startswith("cnnstudio train"))
    parsed = config_from_args(build_parser().parse_args(shlex.split(single)[1:]))
    for field in ("dataset", "model", "epochs", "batch_size", "optimizer", "lr", "schedule", "augment"):
        assert getattr(parsed, field) == getattr(expected, field), field
    assert "torchrun --nproc-per-node 1 --standalone -m cnnstudio train" in text
    dialog.nproc.setValue(4)
    dialog.nnodes.setValue(2)
    assert "torchrun --nproc-per-node 4 --nnodes 2" in dialog.text.toPlainText()
    script = dialog.save(str(tmp_path / "launch.sh"))
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    assert not (tmp_path / "bn-cnn4.json").exists(), "a preset needs no spec file"


def test_custom_architecture_travels_as_json(qtbot, state, tmp_path):
    state.set_dataset(load_dataset("shapes"), "shapes")
    spec = get_preset("tiny-bn-cnn")
    spec["layers"][0]["out"] = 6
    spec["name"] = "my net"
    state.set_spec(spec, True)
    page = TrainPage(state)
    qtbot.addWidget(page)
    dialog = page.export_command_line()
    qtbot.addWidget(dialog)
    assert "--model my_net.json" in dialog.text.toPlainText()
    dialog.save(str(tmp_path / "launch.sh"))
    saved = json.loads((tmp_path / "my_net.json").read_text())
    assert saved["layers"][0]["out"] == 6
    assert isinstance(dialog, ExportCommandDialog)
