"""What the frozen bundle holds, checked in seconds without running PyInstaller.

The bundle is built by `make package` (packaging/cnnstudio.spec, 20+ minutes); the spec hands
packaging/collect.py's list of compiled files to PyInstaller. These tests check that list: it is found
from the installed packages whatever the files are named, and it holds every extension module, shared
library and Qt plugin the app really loads (read from /proc/self/maps of a process that opens the
window, imports torchvision's operators, decodes pictures and runs onnxruntime). torchvision 0.29
renamed its extensions to `_C_stable.so` / `image_stable.so`; the bundle lost them and every training
in the packaged app failed with "operator torchvision::nms does not exist". That is what these catch.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


collect = _load("cnnstudio_collect", ROOT / "packaging" / "collect.py")


@pytest.fixture(scope="module")
def planned() -> dict[str, object]:
    """Bundle-relative path -> Compiled, for what the spec hands to PyInstaller."""
    return {c.path.as_posix(): c for c in collect.app_compiled_files()}


# -- found from the installed packages, whatever the names -----------------------------------------------

def _fake_distribution(site: Path, name: str, files: list[str], requires: list[str] = ()):
    """An installed distribution as pip leaves one: the files, and a dist-info with METADATA and RECORD."""
    from importlib import metadata

    for rel in files:
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_bytes(b"\x7fELF" + b"\0" * 60)
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: " + name + "\nVersion: 1.0\n"
                                   + "".join(f"Requires-Dist: {r}\n" for r in requires), encoding="utf-8")
    (info / "RECORD").write_text("".join(f"{rel},,\n" for rel in files) + f"{info.name}/RECORD,,\n",
                                 encoding="utf-8")
    return metadata.PathDistribution(info)


def test_compiled_files_are_found_whatever_their_names(tmp_path):
    dist = _fake_distribution(tmp_path, "visionlike", [
        "visionlike/__init__.py",
        "visionlike/_C_stable.so",                                   # a renamed operator library
        "visionlike/image_nextgen.so",
        "visionlike/ops/_fast.cpython-311-x86_64-linux-gnu.so",
        "visionlike/_native.abi3.so",
        "visionlike/plugins/platforms/libqsomething.so",
        "visionlike.libs/libjpeg.67fb65bd.so.8",                     # a vendored library, versioned name
        "visionlike/lib/libvision.so.1.2",
        "visionlike/data/weights.bin",
        "visionlike/notes.txt",
        "../../bin/visionlike-tool",
    ])
    found = {c.path.as_posix() for c in collect.compiled_files([dist])}
    assert found == {"visionlike/_C_stable.so", "visionlike/image_nextgen.so",
                     "visionlike/ops/_fast.cpython-311-x86_64-linux-gnu.so", "visionlike/_native.abi3.so",
                     "visionlike/plugins/platforms/libqsomething.so", "visionlike.libs/libjpeg.67fb65bd.so.8",
                     "visionlike/lib/libvision.so.1.2"}


def test_binaries_keep_each_file_in_its_package_folder(planned):
    """torchvision looks for its operator library beside its own __init__.py: the destination folder is
    the file's folder in site-packages."""
    pairs = dict((Path(src).name, dest) for src, dest in collect.binaries())
    c = next(c for c in planned.values()
             if c.distribution.lower() == "torchvision" and c.path.parent.name == "torchvision")
    assert pairs[c.path.name] == "torchvision"
    assert all(Path(src).is_file() for src, _ in collect.binaries())


def test_the_requirement_tree_reaches_every_compiled_package_the_app_uses():
    names = {d.metadata["Name"].lower().replace("_", "-") for d in collect.runtime_distributions()}
    assert {"torch", "torchvision", "pyside6-essentials", "shiboken6", "numpy", "pillow", "onnx",
            "onnxruntime", "pyqtgraph"} <= names
    assert "triton" not in names  # left out on purpose (collect.EXCLUDED_DISTRIBUTIONS)
    assert any(n.startswith("nvidia-cudnn") for n in names) or sys.platform != "linux" or "+cpu" in _torch_version()


def _torch_version() -> str:
    from importlib import metadata

    return metadata.version("torch")


def test_torchvisions_operator_libraries_are_collected(planned):
    """Whatever torchvision calls them this release: every compiled file in its package folder."""
    import torchvision

    folder = Path(torchvision.__file__).parent
    on_disk = {f"torchvision/{p.name}" for p in folder.iterdir() if collect.is_compiled(p.name)}
    assert on_disk, "torchvision installed without compiled operators?"
    assert on_disk <= set(planned)


def test_the_desktop_qt_plugins_are_collected(planned):
    """The platform plugins a desktop uses (X11, Wayland) are not loaded in a headless test, so they are
    named here: the bundle without them opens no window on a user's desktop."""
    if sys.platform != "linux":
        pytest.skip("Linux plugin names")
    for plugin in ("platforms/libqxcb.so", "platforms/libqwayland.so", "platforms/libqoffscreen.so",
                   "xcbglintegrations/libqxcb-glx-integration.so", "imageformats/libqjpeg.so",
                   "platformthemes/libqgtk3.so", "platforminputcontexts/libcomposeplatforminputcontextplugin.so"):
        path = f"PySide6/Qt/plugins/{plugin}"
        installed = Path(collect.metadata.distribution("PySide6-Essentials").locate_file(path))
        if installed.exists():
            assert path in planned, path


def test_the_multimedia_backend_is_collected():
    """The Camera page and video files need QtMultimedia and its FFmpeg backend plugin, which PySide6-Addons
    ships (with the FFmpeg libraries beside Qt's): the app requires it with Essentials' own markers, so the
    requirement tree brings its plugin folder into the bundle like every other Qt plugin."""
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    markers = lambda name: sorted(d.split(";", 1)[1].strip() for d in deps if d.startswith(name + ">"))  # noqa: E731
    assert markers("PySide6-Addons") == markers("PySide6-Essentials") and markers("PySide6-Addons")
    from importlib import metadata

    assert metadata.version("PySide6-Addons") == metadata.version("PySide6-Essentials")  # one Qt build
    paths = {c.path.as_posix() for c in collect.compiled_files(collect.runtime_distributions("PySide6-Addons"))}
    plugins = [p for p in paths if p.startswith("PySide6/Qt/plugins/multimedia/")]
    assert any("ffmpegmediaplugin" in p for p in plugins), plugins
    if sys.platform == "linux":
        assert {"PySide6/Qt/lib/libQt6Multimedia.so.6", "PySide6/Qt/lib/libavcodec.so.61"} <= paths


# -- what the app really loads -------------------------------------------------------------------------

PROBE = r'''
import io, json, os, sys
import numpy as np
from PIL import Image

from cnnstudio.ui.app import create_application
from cnnstudio.ui.main_window import MainWindow, PAGES

app = create_application(sys.argv[:1])
window = MainWindow()
window.show()
app.processEvents()
for key, _, _ in PAGES:                     # every page built and shown once
    window.show_page(key)
    app.processEvents()

import torch, torchvision
from torchvision.ops import nms
nms(torch.tensor([[0., 0., 1., 1.], [0., 0., 1., 1.]]), torch.tensor([0.9, 0.8]), 0.5)
torchvision.io.decode_jpeg  # the image extension's entry point

from cnnstudio.core.models import build_model
from cnnstudio.core.inference import Predictor  # noqa: F401 - importing it is the check

# The picture formats a user's folder may hold, decoded the way the app decodes them (Pillow).
picture = Image.fromarray((np.arange(64 * 64 * 3) % 251).astype(np.uint8).reshape(64, 64, 3))
for fmt in ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF"):
    buf = io.BytesIO()
    picture.save(buf, fmt)
    buf.seek(0)
    Image.open(buf).convert("RGB").load()

# Export: onnx and onnxruntime, a session run on a one-node model.
import onnx, onnxruntime
from onnx import TensorProto, helper
graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
session.run(None, {"x": np.ones((1, 3), np.float32)})
import onnxscript  # noqa: F401 - importing it is the check (the ONNX exporter)
import onnxruntime.quantization  # noqa: F401 - importing it is the check (INT8 export)

# Modules imported under a top-level name from inside a package's folder (a package that put its own
# folder on sys.path): PyInstaller cannot see those imports.
top_level_from_packages = sorted(m.__file__ for name, m in list(sys.modules.items())
                                 if "." not in name and getattr(m, "__file__", None)
                                 and "site-packages" in m.__file__
                                 and os.path.basename(os.path.dirname(m.__file__)) not in ("site-packages", name))
print("TOPLEVEL " + json.dumps(top_level_from_packages))

window.close()
app.processEvents()
with open("/proc/self/maps", encoding="utf-8") as fh:
    paths = sorted({line.split(None, 5)[5].strip() for line in fh if len(line.split(None, 5)) == 6})
print("LOADED " + json.dumps([p for p in paths if p.startswith("/")]))
'''


def _site_packages() -> list[Path]:
    """The folders distributions are installed in (venv and system), longest first."""
    roots = {Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
    roots |= {Path(p).resolve() for p in sys.path if p.endswith(("site-packages", "dist-packages"))}
    return sorted(roots, key=lambda p: -len(str(p)))


@pytest.fixture(scope="module", params=["offscreen", "xcb"])
def loaded(request, tmp_path_factory) -> tuple[str, list[str], list[str]]:
    """Every shared object mapped into a process that does what the app does (see PROBE), under the
    headless platform and, where Xvfb is installed, under X11 as on a user's desktop."""
    if not Path("/proc/self/maps").exists():
        pytest.skip("reads /proc/self/maps (Linux)")
    platform_name = request.param
    prefix: list[str] = []
    if platform_name == "xcb":
        if not (shutil.which("xvfb-run") and shutil.which("xauth")):
            pytest.skip("xvfb-run or xauth is not installed (apt-get install xvfb xauth)")
        prefix = ["xvfb-run", "-a"]
    home = tmp_path_factory.mktemp("home")
    env = {**os.environ, "QT_QPA_PLATFORM": platform_name, "HOME": str(home),
           "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
           "XDG_CACHE_HOME": str(home / "cache")}
    proc = subprocess.run([*prefix, sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = {line.split(" ", 1)[0]: json.loads(line.split(" ", 1)[1]) for line in proc.stdout.splitlines()
             if line.startswith(("LOADED ", "TOPLEVEL "))}
    return platform_name, lines["LOADED"], lines["TOPLEVEL"]


def _relative_to_site(path: str) -> str | None:
    real = Path(path).resolve()
    for root in _site_packages():
        if real.is_relative_to(root):
            return PurePosixPath(real.relative_to(root)).as_posix()
    return None


def test_every_compiled_file_the_app_loads_is_in_the_bundle(loaded, planned):
    """Every extension module, library and Qt plugin mapped into the probe process from an installed
    package is on the list the spec hands to PyInstaller."""
    platform_name, paths, _ = loaded
    from_packages = {rel for rel in map(_relative_to_site, paths) if rel and collect.is_compiled(rel)}
    # The probe loads what these tests mean to cover: torchvision's operators, Qt's platform plugin,
    # onnxruntime, Pillow's codecs. Without them this test would pass for nothing.
    assert any(rel.startswith("torchvision/") for rel in from_packages), sorted(from_packages)
    plugin = {"offscreen": "libqoffscreen.so", "xcb": "libqxcb.so"}[platform_name]
    assert f"PySide6/Qt/plugins/platforms/{plugin}" in from_packages
    assert any(rel.startswith("onnxruntime/") for rel in from_packages)
    assert any(rel.startswith("PIL/_webp") for rel in from_packages)
    # Left out on purpose (collect.EXCLUDED_DISTRIBUTIONS): torch imports triton when it is installed and
    # carries on without it where it is not, as on every CPU-only install.
    left_out = set()
    for name in collect.EXCLUDED_DISTRIBUTIONS:
        try:
            left_out |= {PurePosixPath(str(f)).as_posix() for f in collect.metadata.distribution(name).files or []}
        except collect.metadata.PackageNotFoundError:
            pass
    missing = sorted(from_packages - set(planned) - left_out)
    assert not missing, f"the bundle would miss {len(missing)} compiled files the app loads: {missing}"


def test_modules_imported_by_path_travel_as_files(loaded):
    """INT8 export imports onnxruntime.quantization, which imports onnxruntime.transformers' modules as
    top-level ones (`from fusion_utils import ...`): the frozen app failed with "No module named
    'fusion_utils'" until those files travelled as sources."""
    _, _, top_level = loaded
    assert any("onnxruntime/transformers/" in f for f in top_level), top_level  # the case this is about
    sources = {str(Path(src).resolve()) for src, _ in collect.path_imported_sources()}
    missing = sorted(f for f in top_level if str(Path(f).resolve()) not in sources)
    assert not missing, f"imported by path but not in the bundle: {missing}"


def test_the_files_a_predictor_bundle_copies_travel_as_sources(tmp_path, monkeypatch):
    """`cnnstudio export --bundle` copies core modules as source; the frozen app has only bytecode, so
    each file write_bundle reads must be among the spec's data files (cover.py and image_modes.py were
    not, and the frozen app's --bundle failed with "No such file or directory")."""
    import types

    from cnnstudio.core.export import bundle

    read: list[str] = []
    real_copy = bundle.shutil.copyfile

    def recording_copy(src, dst, *args, **kwargs):
        read.append(str(Path(src).resolve()))
        return real_copy(src, dst, *args, **kwargs)

    monkeypatch.setattr(bundle.shutil, "copyfile", recording_copy)
    monkeypatch.setattr(bundle, "_readme", lambda metadata: "")
    model = tmp_path / "model.onnx"
    model.write_bytes(b"onnx")
    bundle.write_bundle(tmp_path / "out", model, types.SimpleNamespace(classes=["a", "b"]))
    from_app = [f for f in read if Path(f).is_relative_to(ROOT / "cnnstudio")]
    assert len(from_app) >= 3
    sources = {str(Path(src).resolve()): dest for src, dest in collect.bundle_template_sources()}
    for f in from_app:
        assert f in sources, f"export --bundle reads {f}, which the frozen app would not have"
        assert sources[f] == Path(f).parent.relative_to(ROOT).as_posix()


# -- the spec and the built-bundle check ---------------------------------------------------------------

def test_the_spec_hands_collect_binaries_to_pyinstaller():
    tree = ast.parse((ROOT / "packaging" / "cnnstudio.spec").read_text(encoding="utf-8"))
    analysis = next(node for node in ast.walk(tree) if isinstance(node, ast.Call)
                    and getattr(node.func, "id", None) == "Analysis")
    keywords = {k.arg: k.value for k in analysis.keywords}
    assert "binaries" in keywords
    source = ast.unparse(tree)
    assert "collect.py" in source and "collect.binaries()" in source
    assert "collect.bundle_template_sources()" in source and "collect.path_imported_sources()" in source


@pytest.fixture
def build(monkeypatch):
    module = _load("cnnstudio_packaging_build_contents", ROOT / "packaging" / "build.py")
    return module


def _stand_in_bundle(tmp_path: Path, planned: dict, leave_out: set[str]) -> Path:
    bundle = tmp_path / "cnnstudio"
    for rel in planned:
        if rel not in leave_out:
            (bundle / "_internal" / rel).parent.mkdir(parents=True, exist_ok=True)
            (bundle / "_internal" / rel).touch()
    return bundle


def test_verify_passes_a_bundle_holding_every_compiled_file(build, planned, tmp_path):
    bundle = _stand_in_bundle(tmp_path, planned, set())
    assert build.verify_bundle(bundle) == len(planned)


def test_verify_fails_a_bundle_without_torchvisions_extension(build, planned, tmp_path):
    gone = {rel for rel in planned if rel.startswith("torchvision/")}
    bundle = _stand_in_bundle(tmp_path, planned, gone)
    with pytest.raises(SystemExit) as failure:
        build.verify_bundle(bundle)
    message = str(failure.value)
    assert "\n" not in message and f"misses {len(gone)} of the {len(planned)}" in message
    assert all(rel in message for rel in sorted(gone)[:8])


def test_verify_command_exits_1_with_one_line(planned, tmp_path):
    bundle = _stand_in_bundle(tmp_path, planned, {sorted(planned)[0]})
    proc = subprocess.run([sys.executable, str(ROOT / "packaging" / "build.py"), "verify", str(bundle)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and sorted(planned)[0] in proc.stderr


# -- pinned versions -------------------------------------------------------------------------------------

def test_constraints_pin_every_distribution_the_bundle_is_made_of(build):
    from packaging.utils import canonicalize_name

    pins = build.pinned_versions()
    tree = {canonicalize_name(d.metadata["Name"]) for d in collect.runtime_distributions(excluded={})}
    unpinned = sorted(tree - {"cnnstudio"} - set(pins))
    assert not unpinned, f"packaging/constraints.txt does not pin {unpinned}"
    for name in ("torch", "torchvision", "pyside6-essentials", "shiboken6", "numpy", "pillow", "onnx",
                 "onnxscript", "onnxruntime", "pyqtgraph", "pyinstaller", "pyinstaller-hooks-contrib"):
        assert pins.get(name), name


def test_the_build_refuses_an_environment_that_differs_from_the_pins(build):
    from importlib import metadata

    numpy_version = metadata.version("numpy")
    assert build.version_mismatches({"numpy": numpy_version}) == []
    assert build.version_mismatches({"numpy": "0.0.1"}) == [f"numpy: pinned 0.0.1, installed {numpy_version}"]
    assert build.version_mismatches({"no-such-distribution": "1.0"}) == [
        "no-such-distribution: pinned 1.0, installed none"]
    torch_version = metadata.version("torch")  # 2.14.1+cu130 matches a pin of 2.14.1
    assert build.version_mismatches({"torch": torch_version.split("+")[0]}) == []


def test_make_package_installs_the_pinned_versions():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    rule = makefile.split("$(VENV)/.installed-package:", 1)[1].split("\n\n", 1)[0]
    assert "-c packaging/constraints.txt" in rule and "packaging/constraints.txt" in rule.splitlines()[0]
    check_rule = makefile.split("\npackage-check:", 1)[1].split("\n\n", 1)[0]
    assert "build.py check" in check_rule
    build_source = (ROOT / "packaging" / "build.py").read_text(encoding="utf-8")
    assert "verify_bundle(BUNDLE)" in build_source.split("def check(", 1)[1].split("\ndef ", 1)[0]


def test_check_pins_refuses_a_bumped_or_unpinned_distribution(build, monkeypatch):
    pins = build.pinned_versions()
    monkeypatch.setattr(build, "pinned_versions", lambda: {**pins, "numpy": "0.0.1"})
    with pytest.raises(SystemExit, match=r"numpy: pinned 0\.0\.1, installed"):
        build.check_pins()
    monkeypatch.setattr(build, "pinned_versions", lambda: {k: v for k, v in pins.items() if k != "pillow"})
    with pytest.raises(SystemExit, match="pillow: not pinned"):
        build.check_pins()
    # Pins equal to what is installed pass, and a pin of a distribution this platform does not install
    # (nvidia-* on Windows) is not asked for. (Installed versions, not the file's: `make test`'s
    # environment is not pinned.)
    installed = {name: collect.metadata.version(name) for name in pins if _installed(name)}
    monkeypatch.setattr(build, "pinned_versions", lambda: {**installed, "no-such-wheel": "1.0"})
    build.check_pins()


def _installed(name: str) -> bool:
    try:
        collect.metadata.distribution(name)
        return True
    except collect.metadata.PackageNotFoundError:
        return False
