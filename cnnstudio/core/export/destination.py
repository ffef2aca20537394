"""Where an export may write: never over a file CNN Studio did not export, never over the checkpoint.

The rule, as `cp -n` and most export tools with a "replace?" prompt apply it, decided without asking:

- the checkpoint being exported is never replaced, whatever the spelling of the path (another
  relative form, a symlink, a hard link: compared with os.path.samefile), even with overwrite;
- an existing file is replaced only when it is an earlier export of CNN Studio, recognised by the
  metadata every export carries inside it (ONNX metadata_props, TorchScript extra files: see
  metadata.py), so "Export again" replaces its own earlier output and nothing else; any other file is
  refused unless the user says so (`--overwrite`, or a confirmed "Save as" in the app);
- a predictor bundle goes into a new or empty folder, or over an earlier bundle (a folder whose
  model.onnx is an export and that holds predict.py and the preparation package); never into another
  folder that holds files, unless overwrite; a web page's folder likewise (an earlier one holds
  index.html, model.json, prepare.js and a model.onnx that is an export);
- names that cannot be shown on one line (control characters) or that the file system cannot hold
  (too long) are refused before any work is done.

The file is moved into place last (see `place`): created with a hard link, which fails rather than
replace a file that appeared meanwhile, and with a rename only where replacing was decided above.
"""

from __future__ import annotations

import errno
import os
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.export.metadata import KEYS
from cnnstudio.core.text import printable

# Files larger than this are not parsed to look for CNN Studio's metadata (protobuf refuses > 2 GiB anyway).
MAX_RECOGNISED_BYTES = 2**31
# What a bundle writes at its top level; an earlier bundle is recognised by these and replaced file by file.
BUNDLE_MARKERS = ("model.onnx", "predict.py")
SHOWN_LIMIT = 160  # characters of a path shown in a message; longer ones keep their start and end


class ExportRefused(CNNStudioError):
    """An export that would overwrite something the user may want, or write where it cannot."""


def shown(path: str | os.PathLike[str]) -> str:
    """A path as one printable line (core.text.printable: a newline shows as \\n, U+202E as \\u202e), very
    long paths cut in the middle. Messages name paths with this, so a newline in a name cannot split the
    one line the user reads."""
    text = printable(os.fspath(path))
    if len(text) > SHOWN_LIMIT:
        half = SHOWN_LIMIT // 2 - 2
        text = f"{text[:half]}...{text[-half:]}"
    return text


def check_name(path: Path, what: str = "file") -> None:
    """Refuse a name that would not survive being printed or stored: control characters, or longer than
    the file system's limit for one name."""
    name = path.name
    if any(unicodedata.category(ch) == "Cc" for ch in str(path)):
        raise ExportRefused(f"the {what} name {shown(path)} holds a control character (a newline or tab, say); "
                            "choose a plain name")
    size = len(os.fsencode(name))
    limit = _name_max(path.parent)
    if size > limit:
        raise ExportRefused(f"the {what} name {shown(name)} is {size} bytes long; this file system allows {limit}")


def check_new_png(path: str | os.PathLike[str], what: str, command: str) -> Path:
    """Refuse, in one line, a PNG a command must not write: an existing file (never replaced), a name that
    is not .png, a folder that does not exist. `what` names the picture ("plot"), `command` the command."""
    final = Path(path)
    check_name(final, f"{what} file")
    if os.path.lexists(final):
        raise CNNStudioError(f"{shown(final)} already exists; {command} never replaces a file: name a new one")
    if final.suffix.lower() != ".png":
        raise CNNStudioError(f"the {what} is written as PNG: name a .png file (got {shown(final)})")
    if not final.parent.is_dir():
        raise CNNStudioError(f"the folder of {shown(final)} does not exist")
    return final


def _name_max(folder: Path) -> int:
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return int(os.pathconf(probe, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):  # Windows has no pathconf: NTFS allows 255 characters
        return 255


def same_file(a: str | os.PathLike[str] | None, b: str | os.PathLike[str]) -> bool:
    if a is None:
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def is_export(path: Path) -> bool:
    """True for a file CNN Studio exported: an ONNX model or a TorchScript archive carrying every key of
    its metadata. Reading is bounded and runs nothing: a zip's names, or one protobuf parse."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_RECOGNISED_BYTES:
            return False
        with open(path, "rb") as f:
            magic = f.read(4)
        if magic.startswith(b"PK"):
            with zipfile.ZipFile(path) as archive:
                # torch.jit.save keeps extra files under "<archive name>/extra/<key>".
                found = {name.rsplit("/", 1)[-1] for name in archive.namelist() if "/extra/" in name}
            return all(key in found for key in KEYS)
        import onnx

        proto = onnx.load(str(path), load_external_data=False)
        return all(key in {p.key for p in proto.metadata_props} for key in KEYS)
    except Exception:  # noqa: BLE001 - anything unreadable is simply not an export of ours
        return False


@dataclass(frozen=True)
class Destination:
    path: Path
    replaces: bool  # an existing file (an earlier export, or any file with overwrite) will be replaced


def check_output(final: Path, source: str | os.PathLike[str] | None, overwrite: bool) -> Destination:
    """Decide whether the export may be written at `final`; ExportRefused (one line) when not."""
    check_name(final)
    if same_file(source, final):
        raise ExportRefused(f"{shown(final)} is the checkpoint being exported; choose another --out "
                            "(the checkpoint is never replaced)")
    if not os.path.lexists(final):
        return Destination(final, replaces=False)
    if final.is_dir():
        raise ExportRefused(f"{shown(final)} is a folder; give a file name for --out")
    if not final.is_file() and not final.is_symlink():
        # A device, a pipe, a socket: never replaced, not even with overwrite (as root, replacing
        # /dev/null would replace the device itself).
        raise ExportRefused(f"{shown(final)} is not a regular file; give --out a file name")
    if is_export(final) or overwrite:
        return Destination(final, replaces=True)
    raise ExportRefused(f"{shown(final)} already exists and is not a model CNN Studio exported; choose another "
                        "--out, or add --overwrite to replace it")


def check_bundle_folder(folder: Path, overwrite: bool) -> bool:
    """Whether the bundle folder may be written; True when files already there will be replaced (an
    earlier bundle's, or any with overwrite). ExportRefused (one line) when not."""
    check_name(folder, "folder")
    if not os.path.lexists(folder):
        return False
    if not folder.is_dir():
        raise ExportRefused(f"{shown(folder)} is a file, not a folder; give --bundle a new or empty folder")
    if _empty(folder):
        return False
    if _is_bundle(folder) or overwrite:
        return True
    raise ExportRefused(f"{shown(folder)} is not empty and is not a predictor bundle CNN Studio wrote; give "
                        "--bundle a new or empty folder, or add --overwrite to write into it")


def check_web_folder(folder: Path, source: str | os.PathLike[str] | None, overwrite: bool) -> bool:
    """Whether the web page's folder may be written; True when files already there will be replaced (an
    earlier web export's, or any with overwrite). ExportRefused (one line) when not."""
    check_name(folder, "folder")
    if same_file(source, folder):
        raise ExportRefused(f"{shown(folder)} is the checkpoint being exported; give --out a folder")
    if not os.path.lexists(folder):
        return False
    if not folder.is_dir():
        raise ExportRefused(f"{shown(folder)} is a file, not a folder; give --out a new or empty folder for the "
                            "web page")
    if _empty(folder):
        return False
    if _is_web_export(folder) or overwrite:
        return True
    raise ExportRefused(f"{shown(folder)} is not empty and is not a web page CNN Studio exported; give --out a "
                        "new or empty folder, or add --overwrite to write into it")


def _is_web_export(folder: Path) -> bool:
    from cnnstudio.core.export.web import WEB_MARKERS

    return all((folder / name).is_file() for name in WEB_MARKERS) and is_export(folder / "model.onnx")


def _empty(folder: Path) -> bool:
    try:
        return folder.is_dir() and next(folder.iterdir(), None) is None
    except OSError:
        return False


def _is_bundle(folder: Path) -> bool:
    from cnnstudio.core.export.bundle import PACKAGE

    return (all((folder / name).is_file() for name in BUNDLE_MARKERS) and (folder / PACKAGE).is_dir()
            and is_export(folder / "model.onnx"))


def place(tmp: Path, final: Path, replace: bool) -> None:
    """Move a checked file into place. Without `replace`, a hard link creates the name only if it is still
    free (a file that appeared since the check is never replaced); file systems without hard links get a
    rename after a last look."""
    if replace:
        os.replace(tmp, final)
        return
    try:
        os.link(tmp, final)
    except FileExistsError:
        raise ExportRefused(f"{shown(final)} appeared while exporting; it was left as it is and nothing was "
                            "written") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS):
            raise
        if os.path.lexists(final):
            raise ExportRefused(f"{shown(final)} appeared while exporting; it was left as it is and nothing "
                                "was written") from None
        os.replace(tmp, final)
        return
    os.unlink(tmp)


def place_folder(tmp: Path, folder: Path, replace: bool) -> None:
    """Move a complete bundle, written in `tmp` beside `folder`, into place: one rename where the folder
    is new or empty; file by file over an earlier bundle (files of the user's that the bundle does not
    write stay)."""
    if not replace:
        try:
            os.rename(tmp, folder)  # replaces an empty folder on POSIX; never a folder that holds files
            return
        except OSError:
            if os.path.lexists(folder) and not _empty(folder):
                raise ExportRefused(f"{shown(folder)} was filled while exporting; it was left as it is and no "
                                    "bundle was written") from None
            if not folder.is_dir():
                raise
    for item in sorted(tmp.rglob("*")):
        target = folder / item.relative_to(tmp)
        if item.is_dir():
            target.mkdir(exist_ok=True)
        else:
            os.replace(item, target)
