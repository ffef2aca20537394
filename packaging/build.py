"""Build CNN Studio's frozen bundle and the platform's installers, and check them.

    python packaging/build.py bundle       PyInstaller one-folder bundle: dist/cnnstudio/
    python packaging/build.py installers   from that bundle: Linux .deb + .tar.gz, Windows setup .exe
                                           (Inno Setup), macOS .dmg holding "CNN Studio.app"
    python packaging/build.py all          both (what `make package` runs)
    python packaging/build.py verify [DIR] a built bundle (default dist/cnnstudio) holds every extension module
                                           and shared library of the installed packages (packaging/collect.py)
    python packaging/build.py check        the bundle's self-test from a folder outside the source tree with
                                           a bare environment, then (Linux, as root) dpkg -i of the .deb and
                                           the installed `cnnstudio --self-test` (`make package-check`)

Sizes and timings go to dist/packaging-report.json (docs/packaging.md quotes them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist"
WORK = ROOT / "build" / "packaging"
BUNDLE = DIST / "cnnstudio"
REPORT = DIST / "packaging-report.json"
RESOURCES = ROOT / "resources"
CONSTRAINTS = ROOT / "packaging" / "constraints.txt"
PACKAGE = "cnnstudio"
MAINTAINER = "CNN Studio developers <cnnstudio@users.noreply.github.com>"
DESCRIPTION = "Train and understand convolutional neural networks without writing code"
# What the bundled Qt needs from the system: its xcb platform plugin's X libraries, OpenGL / EGL for
# the widgets, fontconfig for text, D-Bus for the desktop. Everything else is inside the bundle.
DEB_DEPENDS = ("libc6 (>= 2.28), libgl1, libegl1, libfontconfig1, libdbus-1-3, libxkbcommon0, "
               "libxkbcommon-x11-0, libxcb-cursor0, libxcb-icccm4, libxcb-keysyms1, libxcb-image0, "
               "libxcb-render-util0, libxcb-shape0, libxcb-randr0, libxcb-xkb1, libxcb-xinerama0, "
               # QtMultimedia and its FFmpeg backend (the camera, video files): what they link from the system.
               "libpulse0, libx11-6, libxext6, libxrandr2, libdrm2, libbz2-1.0, zlib1g")


def version() -> str:
    """The app's version, plus "+<variant>" for a variant build (CNNSTUDIO_VARIANT=cpu: a CPU-only torch),
    so both Linux builds can sit side by side on a release page."""
    text = (ROOT / "cnnstudio" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'__version__\s*=\s*"([^"]+)"', text)
    if not match:
        raise SystemExit("cnnstudio/__init__.py has no __version__")
    variant = os.environ.get("CNNSTUDIO_VARIANT", "").strip()
    return match.group(1) + (f"+{variant}" if variant else "")


def say(text: str) -> None:
    print(f"[package] {text}", flush=True)


def run(cmd: list[str], **kwargs) -> None:
    say("$ " + " ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def load_report() -> dict:
    try:
        return json.loads(REPORT.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def save_report(**entries) -> None:
    report = load_report()
    report.update(entries)
    report.update(version=version(), platform=platform.platform(), python=platform.python_version())
    DIST.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def size_by_package(bundle: Path, top: int = 6) -> dict[str, int]:
    """Bytes per top-level folder of the bundle's _internal (nvidia, torch, PySide6, ...) and the rest."""
    internal = bundle / "_internal"
    sizes = {}
    for entry in internal.iterdir() if internal.is_dir() else []:
        if entry.is_symlink():
            continue  # PyInstaller links some libraries up from their package's folder: count them once
        sizes[entry.name] = folder_size(entry) if entry.is_dir() else entry.stat().st_size
    ranked = dict(sorted(sizes.items(), key=lambda kv: -kv[1])[:top])
    ranked["everything else"] = folder_size(bundle) - sum(ranked.values())
    return ranked


def largest_parts(bundle: Path, top: int = 8) -> list[tuple[str, int]]:
    """The biggest files of the bundle, to say what makes it large."""
    files = [(str(f.relative_to(bundle)), f.stat().st_size) for f in bundle.rglob("*")
             if f.is_file() and not f.is_symlink()]
    return sorted(files, key=lambda t: -t[1])[:top]


def load_collect():
    """packaging/collect.py, by path: `packaging` is also the name of the PyPI package it imports."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("cnnstudio_collect", ROOT / "packaging" / "collect.py")
    module = sys.modules["cnnstudio_collect"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pinned_versions(path: Path = CONSTRAINTS) -> dict[str, str]:
    """name -> version of each `name==version` line of the constraints file."""
    from packaging.utils import canonicalize_name

    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, ver = (part.strip() for part in line.split("==", 1))
            pins[canonicalize_name(name)] = ver.split(";", 1)[0].strip()
    return pins


def version_mismatches(pins: dict[str, str]) -> list[str]:
    """Each pinned distribution installed at another version (or missing), as `name: pinned X, installed Y`.
    A local version label (torch's +cu130) is not part of the pin."""
    from importlib import metadata

    wrong = []
    for name, ver in sorted(pins.items()):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "none"
        if installed.split("+", 1)[0] != ver.split("+", 1)[0]:
            wrong.append(f"{name}: pinned {ver}, installed {installed}")
    return wrong


def unpinned_requirements(pins: dict[str, str]) -> list[str]:
    """Distributions the app or PyInstaller needs on this machine that the constraints file leaves free."""
    from packaging.utils import canonicalize_name

    collect = load_collect()
    needed = {canonicalize_name(d.metadata["Name"]) for root in (collect.APP, "pyinstaller")
              for d in collect.runtime_distributions(root, excluded={})} - {collect.APP}
    return sorted(needed - set(pins))


def check_pins() -> None:
    """The bundle is built from the versions in packaging/constraints.txt, or not at all: a bump is a
    change of that file, made on purpose. Pins of distributions this platform does not install (the
    nvidia-* wheels on Windows, macOS or a CPU-only torch) are not asked for."""
    from importlib import metadata

    pins = pinned_versions()
    present = {}
    for name, ver in pins.items():
        try:
            metadata.distribution(name)
            present[name] = ver
        except metadata.PackageNotFoundError:
            pass
    wrong = [f"{name}: not pinned" for name in unpinned_requirements(pins)] + version_mismatches(present)
    if wrong:
        raise SystemExit(f"the environment does not match {CONSTRAINTS.relative_to(ROOT)} "
                         f"(`make package` installs it): " + "; ".join(wrong))


def verify_bundle(bundle: Path = BUNDLE) -> int:
    """Every extension module and shared library of the installed packages is in the built bundle."""
    collect = load_collect()
    if not bundle.is_dir():
        raise SystemExit(f"no bundle at {bundle}: run `make package` first")
    expected = collect.app_compiled_files()
    lost = collect.missing(bundle, expected)
    if lost:
        names = ", ".join(c.path.as_posix() for c in lost[:8]) + (f" and {len(lost) - 8} more" if len(lost) > 8 else "")
        raise SystemExit(f"the bundle {bundle} misses {len(lost)} of the {len(expected)} compiled files of the "
                         f"installed packages: {names}")
    say(f"bundle {bundle} holds all {len(expected)} compiled files of the installed packages")
    return len(expected)


# -- the bundle ---------------------------------------------------------------------------------------

def build_bundle() -> Path:
    check_pins()
    t0 = time.monotonic()
    run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
         "--distpath", DIST, "--workpath", WORK / "pyinstaller", ROOT / "packaging" / "cnnstudio.spec"], cwd=ROOT)
    seconds = time.monotonic() - t0
    size = folder_size(BUNDLE)
    import torch
    import torchvision

    save_report(bundle_seconds=round(seconds, 1), bundle_bytes=size, torch=torch.__version__,
                torchvision=torchvision.__version__,
                torch_cuda=torch.version.cuda, largest_files=largest_parts(BUNDLE),
                size_by_package=size_by_package(BUNDLE))
    say(f"bundle: {BUNDLE} ({mib(size)}) in {seconds:.0f} s")
    return BUNDLE


# -- Linux: .deb and .tar.gz --------------------------------------------------------------------------

def deb_architecture() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def deb_control(ver: str, installed_kib: int, arch: str) -> str:
    return (f"Package: {PACKAGE}\n"
            f"Version: {ver}\n"
            "Section: science\n"
            "Priority: optional\n"
            f"Architecture: {arch}\n"
            f"Maintainer: {MAINTAINER}\n"
            f"Installed-Size: {installed_kib}\n"
            f"Depends: {DEB_DEPENDS}\n"
            "Homepage: https://github.com/cnnstudio/cnnstudio\n"
            f"Description: {DESCRIPTION}\n"
            " CNN Studio is a desktop application for training convolutional networks on MNIST,\n"
            " Fashion-MNIST, CIFAR-10 or your own images, with live charts, evaluation (confusion\n"
            " matrix, misclassified images), inspection (filters, feature maps, Grad-CAM) and a\n"
            " drawing canvas. PyTorch and Qt are bundled in /opt/cnnstudio; `cnnstudio train` runs\n"
            " the same training from the command line.\n")


POSTINST = """#!/bin/sh
set -e
# Let the menus and the icon theme see the new entry at once (both tools are optional).
if command -v update-desktop-database >/dev/null 2>&1; then update-desktop-database -q /usr/share/applications || true; fi
if command -v gtk-update-icon-cache >/dev/null 2>&1; then gtk-update-icon-cache -q -t /usr/share/icons/hicolor || true; fi
exit 0
"""  # noqa: E501 - a shell script, each command on one line as dpkg runs it


def stage_linux_files(stage: Path, bundle: Path, program_dir: Path) -> None:
    """The program in `program_dir` (hard links: the bundle is several GB), the desktop entry and the
    icons in their freedesktop places under `stage`."""
    shutil.copytree(bundle, program_dir, symlinks=True, copy_function=_link_or_copy)
    apps = stage / "usr" / "share" / "applications"
    apps.mkdir(parents=True, exist_ok=True)
    shutil.copy2(RESOURCES / "cnnstudio.desktop", apps / "cnnstudio.desktop")
    for png in sorted((RESOURCES / "icons").glob("cnnstudio-*.png")):
        n = int(png.stem.split("-")[1])
        if n > 512:
            continue  # the hicolor theme stops at 512
        dest = stage / "usr" / "share" / "icons" / "hicolor" / f"{n}x{n}" / "apps"
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(png, dest / "cnnstudio.png")


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def build_deb(bundle: Path) -> Path:
    ver, arch = version(), deb_architecture()
    stage = WORK / "deb" / f"{PACKAGE}_{ver}_{arch}"
    shutil.rmtree(stage, ignore_errors=True)
    stage_linux_files(stage, bundle, stage / "opt" / PACKAGE)
    (stage / "usr" / "bin").mkdir(parents=True, exist_ok=True)
    os.symlink(f"/opt/{PACKAGE}/cnnstudio", stage / "usr" / "bin" / "cnnstudio")
    doc = stage / "usr" / "share" / "doc" / PACKAGE
    doc.mkdir(parents=True, exist_ok=True)
    (doc / "copyright").write_text("CNN Studio, MIT licence. Bundled: PyTorch (BSD-3-Clause), Qt for Python "
                                   "(LGPL-3.0), NVIDIA CUDA libraries (NVIDIA EULA), pyqtgraph (MIT), "
                                   "Pillow (HPND), NumPy (BSD-3-Clause).\n", encoding="utf-8")
    debian = stage / "DEBIAN"
    debian.mkdir()
    installed_kib = folder_size(stage) // 1024
    (debian / "control").write_text(deb_control(ver, installed_kib, arch), encoding="utf-8")
    for name, text in (("postinst", POSTINST), ("postrm", POSTINST)):
        (debian / name).write_text(text, encoding="utf-8")
        (debian / name).chmod(0o755)
    out = DIST / f"{PACKAGE}_{ver}_{arch}.deb"
    t0 = time.monotonic()
    # xz at level 1 on every core: most of the bytes are CUDA libraries, which compress about as well
    # at level 1 as at 6, in a fraction of the time.
    run(["dpkg-deb", "--root-owner-group", f"--threads-max={os.cpu_count() or 1}", "-Zxz", "-z1", "--build",
         stage, out])
    seconds = time.monotonic() - t0
    shutil.rmtree(stage, ignore_errors=True)
    save_report(deb=out.name, deb_bytes=out.stat().st_size, deb_installed_bytes=installed_kib * 1024,
                deb_seconds=round(seconds, 1))
    say(f"deb: {out} ({mib(out.stat().st_size)}) in {seconds:.0f} s")
    return out


TARBALL_README = """CNN Studio {ver} for Linux ({arch})

Run it from here:            ./cnnstudio
Check it works (no window):  QT_QPA_PLATFORM=offscreen ./cnnstudio --self-test
Add it to your menu:         ./install-desktop-entry.sh   (for your user; no root needed)

Everything it needs is in this folder; datasets and runs go to ~/.local/share/cnnstudio.
"""

DESKTOP_INSTALLER = """#!/bin/sh
# Adds CNN Studio to this user's application menu, pointing at this folder.
set -e
here="$(cd "$(dirname "$0")" && pwd)"
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
icons="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor"
mkdir -p "$apps"
sed -e "s|^Exec=.*|Exec=\\"$here/cnnstudio\\"|" -e "s|^TryExec=.*|TryExec=$here/cnnstudio|" \\
    "$here/share/applications/cnnstudio.desktop" > "$apps/cnnstudio.desktop"
for d in "$here"/share/icons/hicolor/*; do
    mkdir -p "$icons/$(basename "$d")/apps"
    cp "$d/apps/cnnstudio.png" "$icons/$(basename "$d")/apps/cnnstudio.png"
done
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$apps" || true
echo "CNN Studio is in your application menu."
"""


def build_tarball(bundle: Path) -> Path:
    ver, arch = version(), platform.machine().lower()
    name = f"{PACKAGE}-{ver}-linux-{arch}"
    stage = WORK / "tar" / name
    shutil.rmtree(stage.parent, ignore_errors=True)
    stage_linux_files(stage / "_", bundle, stage)
    shutil.move(str(stage / "_" / "usr" / "share"), str(stage / "share"))
    shutil.rmtree(stage / "_")
    (stage / "README.txt").write_text(TARBALL_README.format(ver=ver, arch=arch), encoding="utf-8")
    script = stage / "install-desktop-entry.sh"
    script.write_text(DESKTOP_INSTALLER, encoding="utf-8")
    script.chmod(0o755)
    out = DIST / f"{name}.tar.gz"
    t0 = time.monotonic()
    compressor = "pigz" if shutil.which("pigz") else "gzip"
    with open(out, "wb") as fh:
        tar = subprocess.Popen(["tar", "-C", str(stage.parent), "-cf", "-", name], stdout=subprocess.PIPE)
        gz = subprocess.run([compressor, "-6"], stdin=tar.stdout, stdout=fh, check=True)
        tar.stdout.close()
        if tar.wait() != 0 or gz.returncode != 0:
            raise SystemExit("tar failed")
    seconds = time.monotonic() - t0
    shutil.rmtree(stage.parent, ignore_errors=True)
    save_report(tarball=out.name, tarball_bytes=out.stat().st_size, tarball_seconds=round(seconds, 1))
    say(f"tar.gz: {out} ({mib(out.stat().st_size)}) in {seconds:.0f} s")
    return out


# -- Windows and macOS ---------------------------------------------------------------------------------

def build_windows_installer(bundle: Path) -> Path:
    iscc = shutil.which("iscc") or r"C:\Program Files (x86)\Inno Setup 6\ISCC.exe"
    out_name = f"CNNStudio-{version()}-windows-x64-setup"
    run([iscc, f"/DAppVersion={version()}", f"/DBundleDir={bundle}", f"/DOutputDir={DIST}",
         f"/DOutputBaseName={out_name}", f"/DIconFile={RESOURCES / 'cnnstudio.ico'}",
         ROOT / "packaging" / "windows" / "cnnstudio.iss"])
    out = DIST / f"{out_name}.exe"
    save_report(windows_installer=out.name, windows_installer_bytes=out.stat().st_size)
    return out


def build_dmg() -> Path:
    app = DIST / "CNN Studio.app"
    out = DIST / f"CNNStudio-{version()}-macos-{platform.machine()}.dmg"
    stage = WORK / "dmg"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    shutil.copytree(app, stage / app.name, symlinks=True)
    os.symlink("/Applications", stage / "Applications")  # drag the app onto it
    run(["hdiutil", "create", "-volname", "CNN Studio", "-srcfolder", stage, "-ov", "-format", "UDZO", out])
    save_report(dmg=out.name, dmg_bytes=out.stat().st_size)
    return out


def build_installers(bundle: Path) -> list[Path]:
    if not bundle.is_dir():
        raise SystemExit(f"no bundle at {bundle}: run `python packaging/build.py bundle` first")
    if sys.platform.startswith("linux"):
        return [build_deb(bundle), build_tarball(bundle)]
    if sys.platform == "win32":
        return [build_windows_installer(bundle)]
    if sys.platform == "darwin":
        return [build_dmg()]
    raise SystemExit(f"no installer for {sys.platform}")


# -- checks ---------------------------------------------------------------------------------------------

def bare_environment(home: Path) -> dict[str, str]:
    """No virtual environment, no PYTHONPATH, no Python on PATH beyond the system's: the bundle must
    bring all of its own."""
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(home),
           "LANG": "C.UTF-8", "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(home / "runtime")}
    (home / "runtime").mkdir(parents=True, exist_ok=True, mode=0o700)
    if sys.platform == "win32":
        env = {**{k: v for k, v in os.environ.items() if k.upper() in ("SYSTEMROOT", "TEMP", "TMP", "PATH")},
               "QT_QPA_PLATFORM": "offscreen", "LOCALAPPDATA": str(home)}
    return env


def self_test(executable: Path, cwd: Path, home: Path) -> float:
    t0 = time.monotonic()
    say(f"self-test of {executable} (cwd {cwd}, HOME {home}, no virtual environment)")
    proc = subprocess.run([str(executable), "--self-test"], cwd=cwd, env=bare_environment(home),
                          capture_output=True, text=True, timeout=900)
    output = (proc.stdout + proc.stderr).strip()
    print("\n".join("    " + line for line in output.splitlines() if "propagateSizeHints" not in line), flush=True)
    if proc.returncode != 0:
        raise SystemExit(f"self-test of {executable} failed (exit {proc.returncode})")
    data = home / ".local" / "share" / "cnnstudio"
    if sys.platform.startswith("linux") and not data.is_dir():
        raise SystemExit(f"the self-test did not use the user's data folder {data}")
    return time.monotonic() - t0


def check(keep_installed: bool = False) -> None:
    results: dict = {"bundle_compiled_files": verify_bundle(BUNDLE)}
    with tempfile.TemporaryDirectory(prefix="cnnstudio-package-check-") as tmp:
        tmp_path = Path(tmp)
        if sys.platform.startswith("linux"):
            tarballs = sorted(DIST.glob(f"{PACKAGE}-{version()}-linux-*.tar.gz"))
            if not tarballs:
                raise SystemExit("no .tar.gz in dist/: run `make package` first")
            with tarfile.open(tarballs[-1]) as tar:
                tar.extractall(tmp_path / "unpacked", filter="tar")
            (folder,) = (tmp_path / "unpacked").iterdir()
            results["tarball_self_test_seconds"] = round(
                self_test(folder / "cnnstudio", cwd=tmp_path, home=tmp_path / "home-tar"), 1)
            debs = sorted(DIST.glob(f"{PACKAGE}_{version()}_*.deb"))
            if debs and shutil.which("dpkg") and os.geteuid() == 0:
                t0 = time.monotonic()
                run(["dpkg", "-i", debs[-1]])
                results["deb_install_seconds"] = round(time.monotonic() - t0, 1)
                try:
                    installed = Path(shutil.which("cnnstudio", path="/usr/bin") or "/usr/bin/cnnstudio")
                    for path in ("/usr/share/applications/cnnstudio.desktop",
                                 "/usr/share/icons/hicolor/256x256/apps/cnnstudio.png", str(installed)):
                        if not Path(path).exists():
                            raise SystemExit(f"the .deb did not install {path}")
                    results["deb_self_test_seconds"] = round(
                        self_test(installed, cwd=tmp_path, home=tmp_path / "home-deb"), 1)
                finally:
                    if not keep_installed:
                        run(["dpkg", "-r", PACKAGE])
            elif debs:
                say("skipping the .deb install check: it needs dpkg and root")
        else:
            exe = BUNDLE / ("cnnstudio.exe" if sys.platform == "win32" else "cnnstudio")
            copy = tmp_path / "cnnstudio"
            shutil.copytree(BUNDLE, copy, symlinks=True)
            results["bundle_self_test_seconds"] = round(self_test(copy / exe.name, cwd=tmp_path,
                                                                  home=tmp_path / "home"), 1)
    save_report(**results)
    say("package check passed: " + ", ".join(f"{k} {v}" for k, v in results.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["bundle", "installers", "all", "check", "verify"])
    parser.add_argument("bundle", nargs="?", type=Path, default=BUNDLE, help="verify: the bundle folder")
    parser.add_argument("--keep-installed", action="store_true", help="check: leave the .deb installed")
    args = parser.parse_args(argv)
    if args.step in ("bundle", "all"):
        build_bundle()
        verify_bundle(BUNDLE)
    if args.step in ("installers", "all"):
        build_installers(BUNDLE)
    if args.step == "verify":
        verify_bundle(args.bundle)
    if args.step == "check":
        check(keep_installed=args.keep_installed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
