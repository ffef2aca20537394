"""The web page export and the deployment report, end to end.

- prepare.js (the page's preparation, in JavaScript) gives the pixels prepare_image gives, on the same
  pictures: every size, mode, framing and aspect ratio below, run in Node;
- headless Chromium opens the exported page served from 127.0.0.1, classifies 50 pictures
  (index.html#selftest) and agrees with `cnnstudio predict --json` on every top class, probabilities
  within 1e-3, for a grey preset, a colour preset and a pretrained backbone stand-in; the page asks
  for nothing but its own files;
- the deployment report's figures are the files' own (the INT8 row measured on the INT8 file), and the
  card is never written over a user's file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cnnstudio.core.datasets import load_dataset
from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.export import export_model
from cnnstudio.core.export.destination import ExportRefused
from cnnstudio.core.export.web import FILES, RUNTIME_DIR, pick_samples, runtime_manifest
from cnnstudio.core.framing import FramingProfile, mnist_profile, natural_profile
from cnnstudio.core.models.presets import get_preset
from cnnstudio.core.preparation import prepare_image
from cnnstudio.core.training.config import TrainConfig
from cnnstudio.core.training.trainer import Trainer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from headless_chromium import Browser, find_chromium, serve  # noqa: E402

NODE = shutil.which("node")
CHROMIUM = find_chromium()
PAGE_PICTURES = 50
# URLs that appear in onnxruntime-web's own files as text of messages (never fetched): anything else fails.
RUNTIME_TEXT_URLS = {"https://web.dev/cross-origin-isolation-guide/"}


def train(dataset, run_dir: Path, model: str, spec=None, **changes) -> Path:
    cfg = TrainConfig(dataset=str(changes.pop("name", dataset.name)), model=model, spec=spec, epochs=1,
                      batch_size=32, val_split=0.0, device="cpu", precision="fp32", seed=0, **changes)
    result = Trainer(cfg, dataset=dataset, run_dir=run_dir).run()
    assert result.status == "finished", result
    return Path(result.checkpoint)


def picture(w: int, h: int, mode: str, seed: int) -> Image.Image:
    """Ellipses of random sizes, widths and colours on a plain background: every framing has work to do."""
    r = np.random.default_rng(seed)
    def colour():
        return tuple(int(v) for v in r.integers(0, 256, 3)) if mode == "RGB" else int(r.integers(0, 256))

    image = Image.new(mode, (w, h), colour())
    draw = ImageDraw.Draw(image)
    for _ in range(3):
        x0, y0 = int(r.integers(0, w)), int(r.integers(0, h))
        draw.ellipse([x0, y0, x0 + int(r.integers(1, w)), y0 + int(r.integers(1, h))], outline=colour(),
                     width=int(r.integers(1, 8)))
    return image


def drawing(size: int, seed: int) -> Image.Image:
    """A dark-on-light drawing of a figure, as on the page's canvas."""
    rng = np.random.default_rng(seed)
    image = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(image)
    cx, cy = (int(v) for v in rng.integers(size // 3, 2 * size // 3, 2))
    r = int(rng.integers(size // 6, size // 4))
    if seed % 2:
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], outline=0, width=int(rng.integers(6, 16)))
    else:
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], outline=0, width=int(rng.integers(6, 16)))
    return image


# -- prepare.js against prepare_image --------------------------------------------------------------
RUNNER = """
const fs = require("fs"), path = require("path");
const prep = require(process.argv[2]);
const cases = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
const out = [];
for (const c of cases) {
  const rgba = new Uint8Array(fs.readFileSync(path.join(path.dirname(process.argv[3]), c.file)));
  const r = prep.prepare(rgba, c.width, c.height, c.framing);
  out.push({pixels: Buffer.from(r.pixels).toString("base64"), empty: r.empty, inverted: r.inverted});
}
process.stdout.write(JSON.stringify(out));
"""


def preparation_cases() -> list[tuple[Image.Image, FramingProfile]]:
    profiles = [mnist_profile(), natural_profile(32, 32, 3), natural_profile(28, 28, 1), natural_profile(64, 48, 3),
                FramingProfile(28, 28, 1, polarity="dark-on-light", fit="box", box=22, centering="box"),
                FramingProfile(20, 24, 3, polarity="light-on-dark", fit="box", box=16, centering="mass")]
    # Square, small, long either way (both resampling orders of Pillow), a strip (cover's strip rule).
    sizes = [(28, 28), (32, 32), (100, 37), (37, 100), (300, 280), (640, 90), (5, 900), (1000, 700)]
    cases = []
    for p, profile in enumerate(profiles):
        for s, (w, h) in enumerate(sizes):
            for mode in ("L", "RGB"):
                cases.append((picture(w, h, mode, 100 * p + 10 * s + (mode == "RGB")), profile))
        for seed in range(3):  # symmetric figures: centring by mass rounds halves exactly as Python does
            cases.append((drawing(280 + 40 * seed, seed), profile))
        cases.append((Image.new("L", (50, 40), 255), profile))  # nothing in it
        opaque = picture(120, 90, "RGB", p).convert("RGBA")  # RGBA without transparency, as canvases give it
        cases.append((opaque, profile))
    # Above BOX_WORK_PIXELS: reduced first (Pillow's reduce()) before framing to the content's box.
    cases.append((drawing(2100, 7).resize((2100, 2000)), mnist_profile()))
    return cases


@pytest.mark.skipif(NODE is None, reason="node is not installed: prepare.js is run in Node")
def test_prepare_js_gives_the_pixels_prepare_image_gives(tmp_path):
    cases = preparation_cases()
    listed = []
    for i, (image, profile) in enumerate(cases):
        (tmp_path / f"{i}.rgba").write_bytes(np.asarray(image.convert("RGBA")).tobytes())
        listed.append({"file": f"{i}.rgba", "width": image.width, "height": image.height,
                       "framing": profile.to_dict()})
    (tmp_path / "cases.json").write_text(json.dumps(listed))
    (tmp_path / "run.js").write_text(RUNNER)
    proc = subprocess.run([NODE, str(tmp_path / "run.js"), str(FILES / "prepare.js"), str(tmp_path / "cases.json")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert len(results) == len(cases) > 100
    differ = []
    for i, ((image, profile), js) in enumerate(zip(cases, results)):
        expected = prepare_image(image, profile)
        pixels = np.frombuffer(base64.b64decode(js["pixels"]), np.uint8).reshape(expected.pixels.shape)
        if (not np.array_equal(pixels, expected.pixels) or js["empty"] != expected.empty
                or js["inverted"] != expected.inverted):
            gap = int(np.abs(pixels.astype(int) - expected.pixels).max())
            differ.append((i, image.size, image.mode, profile.fit, gap))
    assert not differ, f"{len(differ)} of {len(cases)} pictures prepared differently: {differ[:8]}"
    assert any(r["inverted"] for r in results) and any(r["empty"] for r in results)


# -- the page in Chromium -------------------------------------------------------------------------
def write_colour_folder(root: Path, per_class: int = 80, seed: int = 0) -> None:
    """Photo-like pictures of three classes (a coloured square on a gradient), of many sizes and shapes."""
    rng = np.random.default_rng(seed)
    for k, name in enumerate(("red", "green", "blue")):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            w, h = (int(v) for v in rng.integers(36, 90, 2))
            base = np.linspace(0, 1, w)[None, :, None] * rng.uniform(40, 120, 3) + np.zeros((h, 1, 1))
            pixels = base + rng.normal(0, 12, (h, w, 3))
            side = min(w, h) // 2
            y, x = int(rng.integers(0, h - side)), int(rng.integers(0, w - side))
            pixels[y:y + side, x:x + side, k] += 120
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(root / name / f"{i}.png")


def place_backbone_weights(arch: str) -> None:
    """An untrained torchvision network's weights where CNN Studio looks for the ImageNet ones (no download)."""
    import torch
    import torchvision

    from cnnstudio.core.models.backbones import weights_dir, weights_file_name

    path = weights_dir() / weights_file_name(arch)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.get_model(arch, weights=None).state_dict(), path)


def grey_checkpoint(root: Path) -> tuple[Path, list[Path]]:
    checkpoint = train(load_dataset("shapes"), root / "run", "fast-cnn", limit_train=800)
    extra = []
    for seed in range(PAGE_PICTURES - 40):  # drawings as a user makes them: large, dark on light
        extra.append(root / f"drawing-{seed}.png")
        drawing(200 + 37 * seed, seed).save(extra[-1])
    return checkpoint, extra


def colour_checkpoint(root: Path, backbone: bool) -> tuple[Path, list[Path]]:
    folder = root / "colours"
    write_colour_folder(folder)
    if backbone:
        place_backbone_weights("resnet18")
        spec = get_preset("resnet18-imagenet")
        spec["layers"][0]["resolution"] = 64
        checkpoint = train(load_dataset(folder, image_size=64), root / "run", "resnet18-imagenet", spec=spec,
                           name=str(folder))
    else:
        checkpoint = train(load_dataset(folder), root / "run", "gap-cnn", name=str(folder))
    # Pictures as a user opens them: the original files, of any size, framed by the page itself.
    originals = sorted(folder.rglob("*.png"))[::7][:PAGE_PICTURES - 40]
    return checkpoint, originals


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt install chromium)")
@pytest.mark.parametrize("kind", ["grey", "colour", "backbone"])
def test_the_exported_page_agrees_with_cnnstudio_predict_offline(kind, tmp_path, capsys):
    from cnnstudio import cli

    checkpoint, extra = (grey_checkpoint(tmp_path) if kind == "grey"
                         else colour_checkpoint(tmp_path, backbone=kind == "backbone"))
    site = tmp_path / "site"
    result = export_model(checkpoint, "web", site, samples=40)
    assert result.ok, result.message
    names = json.loads((site / "samples" / "index.json").read_text())
    assert len(names) == 40 and len({n.split("-", 1)[1] for n in names}) >= 3  # several classes
    for i, path in enumerate(extra):  # more pictures, of other sizes, in the page's list
        shutil.copyfile(path, site / "samples" / f"user-{i}.png")
        names.append(f"user-{i}.png")
    (site / "samples" / "index.json").write_text(json.dumps(names))
    assert len(names) == PAGE_PICTURES

    with serve(site) as (url, served), Browser() as browser:
        page = browser.open(url + "#selftest")
        done = page.wait_for_text("selftest-done", timeout=120)
        assert done == f"{PAGE_PICTURES} pictures", (done, page.console)
        shown = json.loads(page.wait_for_text("selftest"))

    # What `cnnstudio predict --json` says about the same files.
    capsys.readouterr()
    assert cli.main(["predict", "--checkpoint", str(checkpoint), "--json",
                     *[str(site / "samples" / n) for n in names]]) == 0
    expected = json.loads(capsys.readouterr().out)
    assert [e["image"].rsplit("/", 1)[-1] for e in expected] == [s["image"] for s in shown]
    for page_row, cli_row in zip(shown, expected):
        assert "error" not in page_row, page_row
        assert page_row["label"] == cli_row["label"] and page_row["index"] == cli_row["index"], (page_row, cli_row)
        assert page_row["empty"] == cli_row["empty"]
        assert abs(page_row["probability"] - cli_row["probability"]) <= 1e-3, (page_row, cli_row)
        assert [t["index"] for t in page_row["top_k"]] == [t["index"] for t in cli_row["top_k"]]
        for a, b in zip(page_row["top_k"], cli_row["top_k"]):
            assert abs(a["probability"] - b["probability"]) <= 1e-3
    assert len({row["label"] for row in shown}) >= 2 or kind == "backbone"

    # Offline: every request the browser made went to the page's own server, and the server was asked
    # for the model and the WebAssembly runtime from this folder.
    assert page.requests and all(u.startswith(url) for u in page.requests), [
        u for u in page.requests if not u.startswith(url)]
    assert {"/model.onnx", "/model.json", "/ort/ort-wasm-simd-threaded.wasm", "/prepare.js"} <= set(served)
    for name in ("index.html", "page.js", "prepare.js", "model.json", "README.md"):
        assert not re.findall(r"https?://(?!localhost)", (site / name).read_text()), name
    for name in ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs"):
        assert set(re.findall(r"https?://[^\s\"'`)]+", (site / "ort" / name).read_text())) <= RUNTIME_TEXT_URLS


# -- the folder and the report ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("web")
    return train(load_dataset("shapes"), root / "run", "tiny-bn-cnn", limit_train=400)


def test_web_folder_holds_the_page_the_runtime_and_samples_of_several_classes(shapes_run, tmp_path):
    result = export_model(shapes_run, "web", tmp_path / "page")
    site = Path(result.path)
    assert result.ok and result.format == "web"
    assert {"index.html", "page.js", "prepare.js", "model.onnx", "model.json", "README.md", "model-card.md",
            "report.json", "ort", "samples"} == {p.name for p in site.iterdir()}
    manifest = runtime_manifest()
    assert {p.name for p in (site / "ort").iterdir()} == {*manifest["files"], "LICENSE", "RUNTIME.json"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((site / "ort" / name).read_bytes()).hexdigest() == digest
    meta = json.loads((site / "model.json").read_text())
    assert meta["classes"] == load_dataset("shapes").classes and meta["framing"]["fit"] == "box"
    samples = json.loads((site / "samples" / "index.json").read_text())
    assert len(samples) == 12 and all((site / "samples" / n).is_file() for n in samples)
    assert len({n.split("-", 1)[1] for n in samples}) == 8  # every class of shapes
    assert result.report is not None and result.report.row("web") is not None
    assert json.loads((site / "report.json").read_text()) == json.loads(json.dumps(result.report.to_dict()))


def test_web_export_never_writes_into_a_users_folder_and_replaces_its_own(shapes_run, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(ExportRefused, match="not a web page CNN Studio exported"):
        export_model(shapes_run, "web", mine)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    first = export_model(shapes_run, "web", tmp_path / "page", samples=3)
    again = export_model(shapes_run, "web", tmp_path / "page", samples=9)
    assert first.ok and again.ok
    assert len(json.loads((tmp_path / "page" / "samples" / "index.json").read_text())) == 9
    with pytest.raises(CNNStudioError, match="--samples is for the web page"):
        export_model(shapes_run, "onnx", tmp_path / "m.onnx", samples=3)


def test_a_damaged_runtime_is_refused_before_anything_is_written(shapes_run, tmp_path, monkeypatch):
    import cnnstudio.core.export.web as web

    fake = tmp_path / "ort"
    shutil.copytree(RUNTIME_DIR, fake)
    (fake / "ort.wasm.min.js").write_text("changed")
    monkeypatch.setattr(web, "RUNTIME_DIR", fake)
    with pytest.raises(CNNStudioError, match="differs from the one CNN Studio was built with"):
        export_model(shapes_run, "web", tmp_path / "page")
    assert not (tmp_path / "page").exists()


def test_samples_are_spread_over_the_classes():
    labels = np.array([0] * 10 + [1] * 3 + [2] * 5)
    picked = pick_samples(np.zeros((18, 1, 2, 2)), labels, 8)
    assert [int(labels[i]) for i in picked] == [0, 1, 2, 0, 1, 2, 0, 1]
    assert pick_samples(np.zeros((3, 1, 2, 2)), None, 8) == [0, 1, 2]


def test_the_int8_rows_figures_are_the_int8_files_own(shapes_run, tmp_path):
    import onnxruntime as ort

    from cnnstudio.core.export.report import REPORT_IMAGES
    from cnnstudio.core.inference import Predictor

    result = export_model(shapes_run, "onnx", tmp_path / "m.int8.onnx", int8=True)
    report = result.report
    assert report is not None and [r.format for r in report.formats] == ["pytorch", "onnx", "onnx-int8"]
    int8 = report.row("onnx-int8")
    assert int8.file == "m.int8.onnx" and int8.bytes == (tmp_path / "m.int8.onnx").stat().st_size
    assert report.row("onnx").file is None  # the fp32 graph is measured, not written

    # The INT8 file run independently on all 2,000 shapes test images, against the checkpoint in PyTorch.
    shapes = load_dataset("shapes")
    assert report.images == min(REPORT_IMAGES, len(shapes.test_images)) == 2000
    predictor = Predictor(shapes_run)
    inputs = predictor.normalise(shapes.test_images).numpy()
    session = ort.InferenceSession(str(tmp_path / "m.int8.onnx"), providers=["CPUExecutionProvider"])
    int8_top = session.run(["logits"], {"input": inputs})[0].argmax(1)
    torch_top = predictor.probabilities(shapes.test_images.numpy()).argmax(1)
    assert int8.agreement == pytest.approx(float((int8_top == torch_top).mean()), abs=1e-6)
    assert int8.accuracy == pytest.approx(float((int8_top == shapes.test_labels.numpy()).mean()), abs=1e-6)
    assert report.row("pytorch").accuracy == pytest.approx(float((torch_top == shapes.test_labels.numpy()).mean()))
    assert report.parameters == sum(p.numel() for p in predictor.model.parameters())
    assert report.macs > report.parameters  # every weight is used at least once per image
    assert all(r.single.runs >= 5 and r.batch.p50_ms > 0 and r.single.p90_ms >= r.single.p50_ms
               for r in report.formats)
    card = (tmp_path / "m.int8.model-card.md").read_text()
    assert "| ONNX INT8 | m.int8.onnx |" in card and "## Accuracy per class" in card and "circle" in card
    assert report.per_class and sum(c.support for c in report.per_class) == 2000


def test_the_card_never_replaces_a_users_file(shapes_run, tmp_path):
    (tmp_path / "m.model-card.md").write_text("my own notes")
    with pytest.raises(ExportRefused, match="not a model card CNN Studio wrote"):
        export_model(shapes_run, "onnx", tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
    assert (tmp_path / "m.model-card.md").read_text() == "my own notes"
    export_model(shapes_run, "onnx", tmp_path / "m.onnx", overwrite=True)
    assert (tmp_path / "m.model-card.md").read_text().startswith("<!-- CNN Studio model card -->")
    again = export_model(shapes_run, "onnx", tmp_path / "m.onnx")  # its own card is replaced
    assert again.ok and again.card == str(tmp_path / "m.model-card.md")


def test_cli_export_web_json_prints_one_object_with_the_report(shapes_run, tmp_path, capsys):
    from cnnstudio import cli

    capsys.readouterr()
    assert cli.main(["export", "--checkpoint", str(shapes_run), "--format", "web", "--out", str(tmp_path / "w"),
                     "--samples", "8", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["format"] == "web" and out["path"] == str(tmp_path / "w")
    rows = out["report"]["formats"]
    assert [r["format"] for r in rows] == ["pytorch", "web"]
    assert out["report"]["macs"] > 0 and rows[1]["bytes"] == (tmp_path / "w" / "model.onnx").stat().st_size
    assert cli.main(["export", "--checkpoint", str(shapes_run), "--format", "web", "--out", str(tmp_path / "w"),
                     "--samples", "8"]) == 0
    text = capsys.readouterr().out
    assert "web page:" in text and f"deployment report: {tmp_path / 'w' / 'model-card.md'}" in text


def test_the_web_pages_files_travel_in_the_wheel_and_the_installers():
    """Every file under web_files/ is package data (pyproject.toml) and a PyInstaller data file
    (packaging/collect.py web_page_files, which the spec calls), at the place web.py reads it from."""
    import ast
    import fnmatch
    import importlib.util
    import tomllib

    spec = importlib.util.spec_from_file_location("cnnstudio_collect_web", ROOT / "packaging" / "collect.py")
    collect = sys.modules["cnnstudio_collect_web"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(collect)
    shipped = {str(Path(src).resolve()): dest for src, dest in collect.web_page_files()}
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["cnnstudio"]
    files = [p for p in FILES.rglob("*") if p.is_file()]
    assert len(files) == 8
    for path in files:
        relative = path.relative_to(ROOT / "cnnstudio").as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) and "/" not in relative[len(pattern) - 1:] for pattern in
                   patterns), relative
        assert shipped.get(str(path.resolve())) == path.parent.relative_to(ROOT).as_posix(), relative
    assert "collect.web_page_files()" in ast.unparse(ast.parse((ROOT / "packaging" / "cnnstudio.spec").read_text()))
