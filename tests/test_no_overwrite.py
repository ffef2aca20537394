"""Never overwrite what CNN Studio did not write, and checks that describe the file written.

Each case looks from the user's side: the command's exit code, ONE line on stderr and no traceback,
and the user's files byte-identical afterwards (hashed before and after). Export writes under a
temporary name beside the output, checks the file itself through its own runtime, and moves it into
place only then: a refused, failed or disk-full export leaves nothing behind.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnstudio.cli import EXIT_ERROR, EXIT_FAILED, main
from cnnstudio.core.datasets import load_dataset
from cnnstudio.core.errors import TrainingError
from cnnstudio.core.training.config import TrainConfig
from cnnstudio.core.training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_clear_line(err: str, fragment: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert fragment in lines[0], lines[0]
    return lines[0]


def hashes(folder: Path) -> dict[str, str]:
    """Every file below `folder` (symlinks as their target text) by content hash."""
    out = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink():
            out[key] = "link:" + os.readlink(path)
        elif path.is_file():
            out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[key] = "dir"
    return out


def leftovers(folder: Path) -> list[str]:
    """Temporary files or folders an export or a save might leave behind."""
    return [str(p) for p in folder.rglob(".*") if p.name.startswith((".export-", ".bundle-")) or p.suffix == ".tmp"]


@pytest.fixture(scope="module")
def shapes():
    return load_dataset("shapes")


@pytest.fixture(scope="module")
def finished_run(tiny_shapes_run) -> Path:
    """A finished one-epoch tiny-bn-cnn run (tests/conftest.py trains it once for the session)."""
    return tiny_shapes_run


@pytest.fixture()
def run(finished_run, tmp_path) -> Path:
    """A private copy of the finished run, for a test that might (wrongly) change it."""
    copy = tmp_path / "R"
    shutil.copytree(finished_run, copy)
    return copy


# -- export never replaces the checkpoint, nor any file it did not export -------------------------------

def test_export_refuses_the_checkpoint_under_every_spelling(run, tmp_path, capsys, monkeypatch):
    ckpt = run / "best.pt"
    (tmp_path / "link.onnx").symlink_to(ckpt)
    os.link(ckpt, tmp_path / "hard.onnx")
    before = hashes(tmp_path)
    monkeypatch.chdir(run)
    spellings = [str(ckpt), "best.pt", "./best.pt", f"{run}/../R/best.pt", str(tmp_path / "link.onnx"),
                 str(tmp_path / "hard.onnx")]
    for out in spellings:
        for extra in ([], ["--overwrite"]):  # not even when told to overwrite
            code, stdout, err = run_cli(capsys, "export", "--checkpoint", str(ckpt), "--out", out, *extra)
            assert code == EXIT_ERROR, (out, extra, stdout)
            one_clear_line(err, "is the checkpoint being exported")
    assert hashes(tmp_path) == before
    assert not leftovers(tmp_path)


def test_export_refuses_an_existing_file_it_did_not_write(run, tmp_path, capsys):
    ckpt = run / "best.pt"
    notes = tmp_path / "notes.onnx"
    notes.write_bytes(b"my own notes, not a model\n" * 100)
    (tmp_path / "dangling.onnx").symlink_to(tmp_path / "nowhere")
    before = hashes(tmp_path)
    for out in (run / "last.pt", notes, tmp_path / "dangling.onnx"):
        for fmt in ("onnx", "torchscript"):
            code, _, err = run_cli(capsys, "export", "--checkpoint", str(ckpt), "--format", fmt, "--out", str(out))
            assert code == EXIT_ERROR
            one_clear_line(err, "already exists and is not a model CNN Studio exported")
            assert "--overwrite" in err
    assert hashes(tmp_path) == before and not leftovers(tmp_path)

    # Told to: the user's file is replaced by a checked export.
    code, out, _ = run_cli(capsys, "export", "--checkpoint", str(ckpt), "--out", str(notes), "--overwrite")
    assert code == 0 and out.startswith("exported ")
    assert notes.read_bytes()[:40] != b"my own notes, not a model\n"[:40]


def test_export_again_replaces_its_own_earlier_export(run, capsys):
    ckpt = run / "best.pt"
    for fmt, name in (("onnx", "m.onnx"), ("torchscript", "m.torchscript.pt")):
        for _ in range(2):  # the second export replaces the first: it carries CNN Studio's metadata
            code, out, err = run_cli(capsys, "export", "--checkpoint", str(ckpt), "--format", fmt,
                                     "--out", str(run / name))
            assert code == 0, err
    # Another format over an earlier export of ours: still ours, replaced.
    assert run_cli(capsys, "export", "--checkpoint", str(ckpt), "--format", "torchscript",
                   "--out", str(run / "m.onnx"))[0] == 0
    assert not leftovers(run)


def test_bundle_refuses_a_folder_it_did_not_create(run, tmp_path, capsys):
    ckpt = run / "best.pt"
    folder = tmp_path / "mine"
    folder.mkdir()
    for name in ("README.md", "requirements.txt", "labels.txt", "predict.py"):
        (folder / name).write_text(f"the user's own {name}\n")
    (tmp_path / "afile").write_text("a file, not a folder\n")
    before = hashes(tmp_path)
    for bundle, words in ((folder, "is not empty and is not a predictor bundle"), (run, "is not empty"),
                          (tmp_path / "afile", "is a file, not a folder"), (tmp_path / "m.onnx", "both name"),
                          (tmp_path / "new\nline", "holds a control character")):
        code, _, err = run_cli(capsys, "export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "m.onnx"),
                               "--bundle", str(bundle))
        assert code == EXIT_ERROR
        one_clear_line(err, words)
    assert hashes(tmp_path) == before and not leftovers(tmp_path)  # not even m.onnx was written

    # A new folder, an empty one, and an earlier bundle (re-exported) are written; a file of the user's
    # put into the bundle folder survives a re-export.
    empty = tmp_path / "empty"
    empty.mkdir()
    for bundle in (tmp_path / "new" / "bundle", empty, empty):
        code, out, err = run_cli(capsys, "export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "m.onnx"),
                                 "--bundle", str(bundle))
        assert code == 0, err
        assert (bundle / "predict.py").is_file() and (bundle / "model.onnx").read_bytes() == (
            tmp_path / "m.onnx").read_bytes()
        if bundle == empty:
            (empty / "my-notes.txt").write_text("kept\n")
    assert (empty / "my-notes.txt").read_text() == "kept\n"
    assert not leftovers(tmp_path)


# -- training never writes over a run it does not continue; one training per folder ---------------------

TRAIN = ("train", "--dataset", "shapes", "--model", "tiny-bn-cnn", "--epochs", "1", "--limit-train", "200",
         "--val-split", "0", "--device", "cpu", "--precision", "fp32")


def test_train_out_refuses_a_finished_run(run, shapes, capsys):
    before = hashes(run)
    code, _, err = run_cli(capsys, *TRAIN, "--out", str(run))
    assert code == EXIT_ERROR
    one_clear_line(err, "already holds a run")
    assert "--resume" in err
    # The app's Train page trains through the same Trainer: the same refusal, nothing written.
    cfg = TrainConfig(dataset="shapes", model="tiny-bn-cnn", epochs=1, limit_train=200, val_split=0.0,
                      device="cpu", precision="fp32")
    result = Trainer(cfg, dataset=shapes, run_dir=run).run()
    assert result.status == "failed" and "already holds a run" in result.message
    assert hashes(run) == before  # no result.json "failed", no train.log line, no lock file


def test_a_folder_being_trained_into_is_refused_and_a_dead_holder_does_not_block(tmp_path, capsys):
    out = tmp_path / "R"
    out.mkdir()
    holder = subprocess.Popen([PY, "-c", ("import sys, time; from cnnstudio.core.run_lock import lock_run_folder; "
                               f"held = lock_run_folder({str(out)!r}); print('locked', flush=True); time.sleep(120)")],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, _, err = run_cli(capsys, *TRAIN, "--out", str(out))
        assert code == EXIT_ERROR
        line = one_clear_line(err, "is in use by another training")
        assert f"process {holder.pid}" in line
        assert sorted(p.name for p in out.iterdir()) == [".cnnstudio-train.lock"]
    finally:
        holder.kill()
        holder.wait()
    # Killed with its lock held: the lock file stays, the lock does not, and the next training proceeds.
    assert (out / ".cnnstudio-train.lock").exists()
    code, _, err = run_cli(capsys, *TRAIN, "--out", str(out))
    assert code == 0, err
    assert (out / "result.json").is_file() and not (out / ".cnnstudio-train.lock").exists()


def test_two_trainings_into_one_folder_at_once_one_is_refused(tmp_path):
    out = tmp_path / "R"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([PY, "-m", "cnnstudio", *TRAIN, "--limit-train", "600", "--out", str(out)], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, EXIT_ERROR], results
    err = next(e for code, _, e in results if code == EXIT_ERROR)
    # The refusal is one line; "note:" lines (the recipe chosen, printed before training) may precede it.
    lines = [line for line in err.strip().splitlines() if line.strip() and not line.startswith("note: ")]
    assert "Traceback" not in err and len(lines) == 1, err
    # Refused while the other trains ("in use"), or, had it finished already, as a finished run.
    assert "is in use by another training" in lines[0] or "already holds a run" in lines[0], lines[0]
    from cnnstudio.core.runs import load_result

    assert load_result(out)["status"] == "finished"


def test_a_failed_resume_leaves_the_finished_result_as_it_was(run, shapes, monkeypatch):
    from cnnstudio.core.errors import DatasetError
    from cnnstudio.core.training import trainer as trainer_module

    result_bytes = (run / "result.json").read_bytes()
    cfg = TrainConfig(epochs=3, device="cpu")

    # Refused before training starts (the data is gone): the run is untouched.
    def no_data(*args, **kwargs):
        raise DatasetError("the dataset folder was moved")

    monkeypatch.setattr(trainer_module, "load_dataset", no_data)
    failed = Trainer(cfg, resume_from=run / "last.pt").run()
    assert failed.status == "failed" and "moved" in failed.message
    assert (run / "result.json").read_bytes() == result_bytes
    monkeypatch.undo()

    # Fails while training: the finished result stays too.
    def boom(self, run_state, epoch):
        raise TrainingError("diverged on purpose")

    monkeypatch.setattr(Trainer, "_train_one_epoch", boom)
    failed = Trainer(cfg, dataset=shapes, resume_from=run / "last.pt").run()
    assert failed.status == "failed" and "diverged on purpose" in failed.message
    assert (run / "result.json").read_bytes() == result_bytes
    assert "diverged on purpose" in (run / "train.log").read_text()  # the reason is kept, in the log
    assert not (run / ".cnnstudio-train.lock").exists()


def test_the_cli_resume_of_a_finished_run_into_its_own_folder_is_allowed(run, capsys):
    code, _, err = run_cli(capsys, "train", "--resume", str(run / "last.pt"), "--epochs", "2", "--device", "cpu",
                           "--out", str(run))
    assert code == 0, err


def test_the_app_shows_the_same_refusal_in_one_line(qtbot, run):
    from types import SimpleNamespace

    from cnnstudio.ui.sessions.export_session import ExportRequest, ExportSession

    before = hashes(run)
    session = ExportSession(SimpleNamespace(dataset=None))
    messages: list[str] = []
    session.failed.connect(messages.append)
    for out in (run / "best.pt", run / "last.pt"):  # the checkpoint itself, a file no export wrote
        with qtbot.waitSignal(session.failed, timeout=60_000):
            assert session.start(ExportRequest(checkpoint=str(run / "best.pt"), out=str(out)))
        qtbot.waitUntil(lambda: not session.running, timeout=10_000)
    assert "is the checkpoint being exported" in messages[0] and "not a model CNN Studio exported" in messages[1]
    assert all("\n" not in m for m in messages)
    assert hashes(run) == before


# -- checks that describe the file written ------------------------------------------------------------

def _parity_inputs(checkpoint: Path):
    """The images the exporter checks on, prepared as it prepares them."""
    from cnnstudio.core.checkpoint import load_checkpoint, model_from_checkpoint
    from cnnstudio.core.export.exporter import PARITY_IMAGES, _sample
    from cnnstudio.core.preparation import normalise

    ckpt = load_checkpoint(checkpoint)
    ds = load_dataset("shapes")
    inputs = normalise(_sample(ds.test_images.numpy(), PARITY_IMAGES), ckpt["mean"], ckpt["std"])
    return model_from_checkpoint(ckpt).float().eval(), inputs


def test_int8_parity_is_what_onnxruntime_gives_for_the_written_file(run, tmp_path):
    from cnnstudio.core.export import export_model
    from cnnstudio.core.export.onnx_file import run_onnx, session_for
    from cnnstudio.core.export.parity import torch_logits

    result = export_model(run / "best.pt", "onnx", tmp_path / "m.int8.onnx", int8=True)
    assert result.ok, result.message
    model, inputs = _parity_inputs(run / "best.pt")
    reference = torch_logits(model, inputs)
    written = run_onnx(session_for(tmp_path / "m.int8.onnx"), inputs)
    assert result.parity.images == len(inputs)
    assert result.parity.max_abs_diff == pytest.approx(float(np.abs(reference - written).max()), rel=1e-6)
    assert result.parity.agreement == pytest.approx(float((reference.argmax(1) == written.argmax(1)).mean()))
    assert f"{result.parity.max_abs_diff:.2e}" in result.message
    # Not the fp32 graph's figures: quantization moves the logits by far more than float rounding.
    assert result.parity.max_abs_diff > 1e-4


def test_torchscript_parity_is_what_torch_jit_load_gives_for_the_written_file(run, tmp_path):
    import torch

    from cnnstudio.core.export import export_model
    from cnnstudio.core.export.parity import torch_logits

    result = export_model(run / "best.pt", "torchscript", tmp_path / "m.pt")
    model, inputs = _parity_inputs(run / "best.pt")
    written = torch_logits(torch.jit.load(str(tmp_path / "m.pt")), inputs)
    assert result.parity.max_abs_diff == pytest.approx(float(np.abs(torch_logits(model, inputs) - written).max()),
                                                       rel=1e-6, abs=1e-12)


def _with_normalisation(run: Path, std: list[float]) -> Path:
    from cnnstudio.core.checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(run / "best.pt")
    ckpt["std"] = std
    return save_checkpoint({k: v for k, v in ckpt.items() if k not in ("format", "version")}, run / "nan.pt")


def test_nan_outputs_fail_the_check_and_write_nothing(run, tmp_path, capsys):
    nan_ckpt = _with_normalisation(run, [1e-45])  # pixels / 1e-45 overflow: inf in, NaN out
    earlier = tmp_path / "m.onnx"
    assert run_cli(capsys, "export", "--checkpoint", str(run / "best.pt"), "--out", str(earlier))[0] == 0
    before = hashes(tmp_path)
    for fmt in ("onnx", "torchscript"):
        code, out, err = run_cli(capsys, "export", "--checkpoint", str(nan_ckpt), "--format", fmt,
                                 "--out", str(earlier))
        assert code == EXIT_ERROR, out
        one_clear_line(err, "NaN or infinite outputs")
        assert "nothing was exported" in err and "nan" not in out.lower()
    assert hashes(tmp_path) == before and not leftovers(tmp_path)


def test_nan_in_the_exported_file_alone_fails_and_keeps_the_earlier_export(run, tmp_path, capsys, monkeypatch):
    from cnnstudio.core.export import onnx_file

    earlier = tmp_path / "m.onnx"
    assert run_cli(capsys, "export", "--checkpoint", str(run / "best.pt"), "--out", str(earlier))[0] == 0
    before = hashes(tmp_path)
    real = onnx_file.run_onnx

    def one_nan(session, x, batch=256):
        out = real(session, x, batch)
        out[3, 0] = np.nan
        return out

    monkeypatch.setattr(onnx_file, "run_onnx", one_nan)
    code, out, err = run_cli(capsys, "export", "--checkpoint", str(run / "best.pt"), "--out", str(earlier))
    assert code == EXIT_FAILED
    one_clear_line(err, "NaN or infinite outputs for 1 of 300")
    assert "Nothing was written" in err
    assert hashes(tmp_path) == before and not leftovers(tmp_path)


# -- hostile: export names with odd characters -------------------------------------------------------------

def test_export_names_with_odd_characters(run, tmp_path, capsys, monkeypatch):
    ckpt = str(run / "best.pt")
    monkeypatch.chdir(tmp_path)
    accepted = ["with spaces.onnx", "ünïcødé-模型-🙂.onnx", "-leading-dash.onnx", "missing/parent/m.onnx",
                "\u202exnno.onnx"]
    for name in accepted:
        code, out, err = run_cli(capsys, "export", "--checkpoint", ckpt, f"--out={name}")
        assert code == 0, (name, err)
        assert (tmp_path / name).is_file() and len(out.strip().splitlines()) == 1
        assert "\u202e" not in out  # a bidi override is shown escaped, never applied to the terminal
    # A folder: the export goes inside it, under the default name; "new/" is a folder to create.
    (tmp_path / "folder").mkdir()
    assert run_cli(capsys, "export", "--checkpoint", ckpt, "--out", "folder")[0] == 0
    assert (tmp_path / "folder" / "best.onnx").is_file()
    assert run_cli(capsys, "export", "--checkpoint", ckpt, "--out", "new-folder/")[0] == 0
    assert (tmp_path / "new-folder" / "best.onnx").is_file()
    os.mkfifo(tmp_path / "pipe.onnx")
    before = hashes(tmp_path)
    refused = [("line\nbreak.onnx", "holds a control character"), ("tab\there.onnx", "holds a control character"),
               ("x" * 300 + ".onnx", "bytes long"), ("é" * 200 + ".onnx", "bytes long"),
               ("with spaces.onnx/m.onnx", "cannot write into"), (str(run / "best.pt"), "is the checkpoint"),
               ("pipe.onnx", "is not a regular file")]
    for name, words in refused:
        code, _, err = run_cli(capsys, "export", "--checkpoint", ckpt, f"--out={name}", "--overwrite")
        assert code == EXIT_ERROR, name
        one_clear_line(err, words)
        assert "\n" not in err.strip() and "\t" not in err
    # A directory named like the default output, inside the folder given.
    (tmp_path / "folder2" / "best.onnx").mkdir(parents=True)
    code, _, err = run_cli(capsys, "export", "--checkpoint", ckpt, "--out", "folder2")
    assert code == EXIT_ERROR
    one_clear_line(err, "is a folder")
    assert {k: v for k, v in hashes(tmp_path).items() if not k.startswith("folder2")} == before
    assert not leftovers(tmp_path)


# -- hostile: disk full during export -----------------------------------------------------------------------

def test_disk_full_while_writing_each_format_loses_nothing(run, tmp_path, capsys, monkeypatch):
    import onnx
    import torch

    ckpt = str(run / "best.pt")
    for name in ("m.onnx", "m.pt"):
        fmt = "onnx" if name.endswith(".onnx") else "torchscript"
        assert run_cli(capsys, "export", "--checkpoint", ckpt, "--format", fmt, "--out", str(tmp_path / name))[0] == 0
    before = hashes(tmp_path)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    def torch_full(*args, **kwargs):  # torch's zip writer says it in its own words
        raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 64 vs 0: file write failed")

    import onnxruntime.quantization

    real_usage = shutil.disk_usage
    cases = [("onnx", "m.onnx", [(onnx, "save", full)]),
             ("int8", "m.onnx", [(onnxruntime.quantization, "quantize_static", full)]),
             ("onnx", "m.onnx", [(torch.onnx, "export", full)]),
             ("onnx", "m.onnx", [(os, "replace", full)]),
             ("torchscript", "m.pt", [(torch.jit, "save", torch_full),
                                      (shutil, "disk_usage", lambda p: real_usage(p)._replace(free=4096))])]
    for fmt, name, patches in cases:
        with monkeypatch.context() as m:
            for owner, attr, fake in patches:
                m.setattr(owner, attr, fake)
            flags = ["--format", "onnx", "--int8"] if fmt == "int8" else ["--format", fmt]
            code, out, err = run_cli(capsys, "export", "--checkpoint", ckpt, *flags, "--out", str(tmp_path / name))
        assert code == EXIT_ERROR, (fmt, patches, out)
        one_clear_line(err, "disk full while exporting")
        assert f"the previous {name} is intact" in err
        assert hashes(tmp_path) == before and not leftovers(tmp_path)


def test_disk_full_while_writing_the_bundle_loses_nothing(run, tmp_path, capsys, monkeypatch):
    from cnnstudio.core.export import bundle as bundle_module

    ckpt = str(run / "best.pt")
    earlier = tmp_path / "bundle"
    assert run_cli(capsys, "export", "--checkpoint", ckpt, "--out", str(tmp_path / "m.onnx"),
                   "--bundle", str(earlier))[0] == 0
    before = hashes(tmp_path)
    real = bundle_module.shutil.copyfile
    calls = []

    def fills_up(src, dst, *args, **kwargs):
        calls.append(dst)
        if len(calls) == 4:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(bundle_module.shutil, "copyfile", fills_up)
    code, _, err = run_cli(capsys, "export", "--checkpoint", ckpt, "--out", str(tmp_path / "m.onnx"),
                           "--bundle", str(earlier))
    assert code == EXIT_ERROR
    one_clear_line(err, "disk full while exporting")
    assert hashes(tmp_path) == before and not leftovers(tmp_path)


@pytest.fixture()
def tiny_disk(tmp_path):
    """A 96 kB tmpfs: a real full disk. Needs root (mount); skipped elsewhere."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_really_full_disk_during_export(run, tiny_disk, capsys):
    ckpt = str(run / "best.pt")
    assert run_cli(capsys, "export", "--checkpoint", ckpt, "--out", str(tiny_disk / "m.onnx"))[0] == 0
    ballast = tiny_disk / "ballast"
    with open(ballast, "wb") as f:  # fill what is left but a few kB
        free = shutil.disk_usage(tiny_disk).free
        f.write(b"\0" * max(0, free - 8192))
    before = hashes(tiny_disk)
    for extra in ([], ["--format", "torchscript"], ["--bundle", str(tiny_disk / "b")]):
        code, _, err = run_cli(capsys, "export", "--checkpoint", ckpt, "--out", str(tiny_disk / "m.onnx"), *extra)
        assert code == EXIT_ERROR, (extra, err)
        one_clear_line(err, "disk full while exporting")
        assert hashes(tiny_disk) == before and not leftovers(tiny_disk)


def test_only_file_system_errors_end_an_onnx_export_as_such():
    """torch.export meets inspect's OSError("could not get source code") in the frozen app (no .py files)
    and the fallback exporter then succeeds: only an OSError with an errno (a full disk) is re-raised."""
    import errno

    from cnnstudio.core.export.onnx_file import _raise_os_error

    def wrapped(inner: OSError) -> RuntimeError:
        try:
            try:
                raise inner
            except OSError as exc:
                raise RuntimeError("the exporter's own error") from exc
        except RuntimeError as outer:
            return outer

    _raise_os_error(wrapped(OSError("could not get source code")))  # not a disk error: nothing raised
    with pytest.raises(OSError) as raised:
        _raise_os_error(wrapped(OSError(errno.ENOSPC, "No space left on device")))
    assert raised.value.errno == errno.ENOSPC
