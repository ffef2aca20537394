"""Which compiled files the frozen bundle must carry, found from the installed packages themselves.

PyInstaller follows `import` statements, so it misses every compiled file a package loads by path:
torchvision loads its operators (`_C_stable.so`, `image_stable.so` in 0.29; `_C.so` before) with
`torch.ops.load_library`, cuDNN opens its engine libraries with dlopen, Qt opens its plugins from a
folder. A list of such names goes stale with the next release (torchvision 0.29 renamed its
extensions and the bundle lost them). So this module reads the installed distributions instead:
starting from CNN Studio's own requirements, it follows each distribution's requirements and takes
every file in their RECORDs that is an extension module (`importlib.machinery.EXTENSION_SUFFIXES`) or
a shared library, whatever its name.

    binaries()        (source, destination folder) pairs for the spec's Analysis(binaries=...)
    path_imported_sources(), bundle_template_sources()
                      .py files that are read or imported by path, for Analysis(datas=...)
    missing(bundle)   the files a built bundle lacks (`packaging/build.py verify`)

It imports neither PyInstaller nor the packages it reads, so a test can call it in a second.
"""

from __future__ import annotations

import importlib.machinery
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

APP = "cnnstudio"

# Distributions of the app's requirement tree the bundle leaves out on purpose, with the reason:
# triton is torch's compiler for torch.compile, which CNN Studio never calls (the spec excludes the
# module too); it holds 630 MB of libraries.
EXCLUDED_DISTRIBUTIONS = {"triton": "torch.compile's compiler, not used"}

# Folders inside a distribution the bundle leaves out: Qt's QML modules and its Designer and QML tool
# plugins. CNN Studio is a Qt Widgets app; none of these is loaded by it.
EXCLUDED_FOLDERS = ("PySide6/Qt/qml/", "PySide6/Qt/plugins/designer/", "PySide6/Qt/plugins/qmllint/",
                    "PySide6/Qt/plugins/qmltooling/")

# Shared libraries that are not extension modules: libfoo.so, libfoo.so.6, libfoo.so.6.11, .dylib, .dll.
_SHARED_LIBRARY = re.compile(r"\.(so(\.\d+)*|dylib|dll|pyd)$", re.IGNORECASE)


@dataclass(frozen=True)
class Compiled:
    """One compiled file of an installed distribution."""

    source: Path            # where it is installed
    path: PurePosixPath     # where it lies relative to site-packages, and so inside the bundle
    distribution: str


def is_compiled(name: str) -> bool:
    return name.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)) or bool(_SHARED_LIBRARY.search(name))


def _requirements(dist: metadata.Distribution, extras: frozenset[str]) -> list[tuple[str, frozenset[str]]]:
    """The distributions `dist` needs at run time with the given extras of it asked for (torch asks
    for cuda-toolkit's [cublas,cudnn,...] extras: that is how the CUDA libraries come in), each with
    the extras it is asked for in turn; markers evaluated for this machine."""
    needed = []
    for text in dist.requires or []:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in ("", *extras)):
            continue
        needed.append((req.name, frozenset(req.extras)))
    return needed


def runtime_distributions(root: str = APP, excluded: dict[str, str] | None = None) -> list[metadata.Distribution]:
    """`root` and every installed distribution it needs, followed through their requirements."""
    excluded = EXCLUDED_DISTRIBUTIONS if excluded is None else excluded
    skip = {canonicalize_name(name) for name in excluded}
    seen: dict[str, metadata.Distribution] = {}
    visited: set[tuple[str, frozenset[str]]] = set()
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    while todo:
        raw, extras = todo.pop()
        name = canonicalize_name(raw)
        if (name, extras) in visited or name in skip:
            continue
        visited.add((name, extras))
        try:
            dist = seen.get(name) or metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional requirement whose marker held but which is not installed
        seen[name] = dist
        todo.extend(_requirements(dist, extras))
    return list(seen.values())


def compiled_files(dists: list[metadata.Distribution]) -> list[Compiled]:
    """Every extension module and shared library the distributions installed, from their RECORDs."""
    found: dict[PurePosixPath, Compiled] = {}
    for dist in dists:
        name = dist.metadata["Name"] or "?"
        for entry in dist.files or []:
            path = PurePosixPath(str(entry))
            text = path.as_posix()
            if ".." in path.parts or not is_compiled(path.name) or text.startswith(EXCLUDED_FOLDERS):
                continue  # `..`: a script installed outside site-packages
            source = Path(dist.locate_file(entry))
            if source.is_file():
                found.setdefault(path, Compiled(source, path, name))
    return sorted(found.values(), key=lambda c: c.path.as_posix())


def app_compiled_files() -> list[Compiled]:
    return compiled_files(runtime_distributions())


def binaries() -> list[tuple[str, str]]:
    """For PyInstaller's Analysis(binaries=...): each file into the folder it had in site-packages,
    where the code that loads it by path looks for it."""
    return [(str(c.source), c.path.parent.as_posix() or ".") for c in app_compiled_files()]


# A package that puts its own folder on sys.path (onnxruntime.transformers does, and INT8 export reaches
# it through onnxruntime.quantization) then imports its modules as top-level ones (`from fusion_utils
# import ...`), which PyInstaller's analysis cannot follow.
_ADDS_ITSELF_TO_PATH = re.compile(r"sys\.path\.(append|insert)\(.*(dirname|parent).*__file__")


def path_imported_sources(dists: list[metadata.Distribution] | None = None) -> list[tuple[str, str]]:
    """(source, destination folder) for the .py files of every package folder whose __init__.py puts
    that folder on sys.path: they travel as files, where the frozen package's __init__ looks for them."""
    pairs = []
    for dist in runtime_distributions() if dists is None else dists:
        for entry in dist.files or []:
            path = PurePosixPath(str(entry))
            if path.name != "__init__.py" or ".." in path.parts or "tests" in path.parts:
                continue
            init = Path(dist.locate_file(entry))
            try:
                text = init.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            if _ADDS_ITSELF_TO_PATH.search(text):
                pairs += [(str(py), path.parent.as_posix()) for py in sorted(init.parent.glob("*.py"))
                          if py.name != "__init__.py"]
    return pairs


def optuna_migration_files() -> list[tuple[str, str]]:
    """(source, destination folder) for Optuna's database migrations (storages/_rdb/alembic): alembic reads
    them by path when a sweep opens its study, so they travel as files, .py ones included."""
    import importlib.util

    spec = importlib.util.find_spec("optuna")
    if spec is None or spec.origin is None:
        return []
    package = Path(spec.origin).parent
    folder = package / "storages" / "_rdb" / "alembic"
    return [(str(f), f.parent.relative_to(package.parent).as_posix()) for f in sorted(folder.rglob("*"))
            if f.is_file() and "__pycache__" not in f.parts]


def bundle_template_sources() -> list[tuple[str, str]]:
    """The files `cnnstudio export --bundle` copies into a predictor bundle (the core's preparation
    modules and predict.py): a frozen app keeps only bytecode, so they travel as source files too,
    where cnnstudio/core/export/bundle.py looks for them. Taken from bundle.py itself, so a module
    added there is not forgotten here."""
    from cnnstudio.core.export import bundle

    pairs = [(str(bundle.CORE / name), "cnnstudio/core") for name in bundle.PREPARATION_MODULES]
    pairs.append((str(bundle.TEMPLATE), "cnnstudio/core/export/bundle_files"))
    return pairs


def web_page_files() -> list[tuple[str, str]]:
    """The files `cnnstudio export --format web` copies into a web page's folder (the page, prepare.js and
    onnxruntime-web's JavaScript and WebAssembly, with their manifest): data files, which PyInstaller's
    analysis cannot see, placed where cnnstudio/core/export/web.py looks for them. Taken from web.py and
    the runtime's manifest, so a file added there is not forgotten here."""
    from cnnstudio.core.export import web

    pairs = [(str(web.FILES / name), "cnnstudio/core/export/web_files") for name in web.PAGE_FILES]
    runtime = [*dict(web.runtime_manifest()["files"]), "LICENSE", "RUNTIME.json"]  # type: ignore[call-overload]
    pairs += [(str(web.RUNTIME_DIR / name), "cnnstudio/core/export/web_files/ort") for name in runtime]
    return pairs


def contents_folder(bundle: Path) -> Path:
    """Where a one-folder bundle keeps its libraries: _internal/ (PyInstaller 6), else the folder."""
    bundle = Path(bundle)
    for candidate in (bundle / "_internal", bundle / "Contents" / "Frameworks"):
        if candidate.is_dir():
            return candidate
    return bundle


def missing(bundle: Path, expected: list[Compiled] | None = None) -> list[Compiled]:
    """The compiled files of the installed packages that the built bundle does not hold where the
    code looks for them."""
    contents = contents_folder(bundle)
    expected = app_compiled_files() if expected is None else expected
    return [c for c in expected if not (contents / c.path).exists()]


FREEZE_HEADER = """\
# The versions `make package` bundles (pip install -c packaging/constraints.txt). The build refuses an
# environment that differs (packaging/build.py check_pins): changing a version here is how a bump is made,
# and the bundle then needs `make package` + `make package-check` again (docs/packaging.md).
# Regenerate from a working environment with: python packaging/collect.py --freeze > packaging/constraints.txt
"""


def freeze() -> str:
    """constraints.txt for the installed environment: the app's whole run-time requirement tree (the
    excluded distributions too: they are installed, if not bundled) and PyInstaller's."""
    app = {d.metadata["Name"]: d.version for d in runtime_distributions(excluded={})
           if canonicalize_name(d.metadata["Name"]) != APP}
    app_names = {canonicalize_name(n) for n in app}
    tool = {d.metadata["Name"]: d.version for d in runtime_distributions("pyinstaller", excluded={})
            if canonicalize_name(d.metadata["Name"]) not in app_names}

    def block(pins: dict[str, str]) -> list[str]:
        return [f"{n}=={v}" for n, v in sorted(pins.items(), key=lambda kv: kv[0].lower())]

    return "\n".join([FREEZE_HEADER, ("# What the app needs at run time, followed through every requirement "
                      "(packaging/collect.py)."), *block(app), "", "# The freezer.", *block(tool)]) + "\n"


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--freeze"]:
        sys.exit("usage: python packaging/collect.py --freeze > packaging/constraints.txt")
    sys.stdout.write(freeze())
