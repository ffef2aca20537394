"""Downloading the torchvision datasets, with progress, cancel and checksums.

The mirror URLs, file names and md5 sums come from torchvision's dataset classes (imported here,
lazily, only when a download actually starts), so CNN Studio fetches exactly what torchvision
would. The transfer itself is our own chunked loop rather than torchvision's download(): the app
needs a progress bar (bytes done, total) and a Cancel button, and the user needs an error that says
which folder to fill by hand when the network is not there.

Every file is written to a hidden temporary name, checked against its md5 and only then renamed into
place, so an interrupted download never leaves a file that looks complete.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import socket
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cnnstudio.core.datasets.catalog import (CIFAR10_ARCHIVE, CIFAR10_FOLDER, DatasetSpec,
                                             cifar_batches_dir, human_size, idx_files_present,
                                             manual_instructions)
from cnnstudio.core.errors import DatasetError, DownloadCancelled

Progress = Callable[[int, int], None]
Cancel = Callable[[], bool]

CHUNK_SIZE = 256 * 1024  # bytes per read: small enough for a responsive Cancel, large enough to be fast
TIMEOUT_S = 30.0  # per connect / per read; a stalled mirror fails instead of hanging forever
USER_AGENT = "cnnstudio (Python urllib)"  # some mirrors refuse urllib's default agent


@dataclass(frozen=True)
class RemoteFile:
    filename: str
    md5: str | None
    urls: tuple[str, ...]  # tried in order
    expected_size: int | None = None


def remote_files(spec: DatasetSpec) -> list[RemoteFile]:
    """The files to fetch for a dataset, read from torchvision's dataset class."""
    import torchvision.datasets as tvd  # lazy: seconds to import, only needed to download

    cls = getattr(tvd, spec.torchvision_class or "")
    sizes = dict(zip(spec.files, spec.file_sizes))
    if spec.name == "cifar10":
        return [RemoteFile(cls.filename, cls.tgz_md5, (cls.url,), sizes.get(cls.filename))]
    mirrors = list(getattr(cls, "mirrors", []))
    files = []
    for filename, md5 in cls.resources:
        # Older torchvision versions store full URLs in resources instead of mirrors.
        if filename.startswith(("http://", "https://")):
            urls: tuple[str, ...] = (filename,)
            filename = filename.rstrip("/").rsplit("/", 1)[-1]
        else:
            urls = tuple(m if m.endswith("/") else m + "/" for m in mirrors)
            urls = tuple(u + filename for u in urls)
        files.append(RemoteFile(filename, md5, urls, sizes.get(filename)))
    return files


def file_digest(path: Path, algorithm: str = "md5") -> str:
    """The hex digest of a file, read in 1 MB blocks (md5 for torchvision's datasets, sha256 for its weights)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def md5_of(path: Path) -> str:
    return file_digest(path, "md5")


class _Transfer:
    """Byte counting across all files of one dataset download, for one (done, total) progress."""

    def __init__(self, files: list[RemoteFile], progress: Progress | None, cancel: Cancel | None):
        self.progress = progress
        self.cancel = cancel
        self.done = 0
        # Until a server states a file's length, its usual size stands in for the total.
        self.sizes = [f.expected_size or 0 for f in files]

    @property
    def total(self) -> int:
        return max(sum(self.sizes), self.done)

    def report(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.total)

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel():
            raise DownloadCancelled("Download cancelled.")


def _fetch(url: str, target: Path, index: int, transfer: _Transfer) -> str:
    """Download url into target (a temporary name); returns the md5 of what was written."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    digest = hashlib.md5()
    start_done = transfer.done
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        length = response.headers.get("Content-Length")
        if length and length.isdigit():
            transfer.sizes[index] = int(length)
        transfer.report()
        with open(target, "wb") as out:
            while True:
                transfer.check_cancel()
                chunk = response.read(CHUNK_SIZE)
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                transfer.done += len(chunk)
                transfer.report()
    if length and length.isdigit() and transfer.done - start_done != int(length):
        raise urllib.error.ContentTooShortError(
            f"got {transfer.done - start_done} of {length} bytes", None)  # type: ignore[arg-type]  # its content argument is never read here
    return digest.hexdigest()


def _download_file(remote: RemoteFile, folder: Path, index: int, transfer: _Transfer) -> Path:
    """Fetch one file into folder, trying each mirror; raises the last problem as a message."""
    final = folder / remote.filename
    temp = folder / f".{remote.filename}.{os.getpid()}.part"
    problems: list[str] = []
    unreachable = 0  # mirrors whose host could not even be looked up or reached: this computer is offline
    for url in remote.urls:
        done_before = transfer.done
        try:
            md5 = _fetch(url, temp, index, transfer)
            if remote.md5 and md5 != remote.md5:
                problems.append(f"{url}: checksum mismatch (md5 {md5}, expected {remote.md5})")
            else:
                os.replace(temp, final)
                return final
        except DownloadCancelled:
            temp.unlink(missing_ok=True)
            raise
        except urllib.error.HTTPError as exc:
            problems.append(f"{url}: HTTP {exc.code} {exc.reason}")
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, socket.timeout) or "timed out" in str(reason):
                problems.append(f"{url}: timed out")
            else:
                problems.append(f"{url}: {reason}")
                unreachable += _is_offline(reason)
        except TimeoutError:
            problems.append(f"{url}: timed out")
        except OSError as exc:  # disk full, permission denied, connection reset mid-transfer, ...
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            problems.append(f"{url}: {exc.strerror or exc}{where}")
        except Exception as exc:  # noqa: BLE001 - http.client errors etc.; never a traceback to the user
            problems.append(f"{url}: {type(exc).__name__}: {exc}")
        temp.unlink(missing_ok=True)
        transfer.done = done_before  # the next mirror starts this file again
        transfer.report()
    temp.unlink(missing_ok=True)
    raise _FileFailed(remote.filename, problems, offline=bool(remote.urls) and unreachable == len(remote.urls))


def _is_offline(reason: object) -> bool:
    """No name lookup, or no route to the network: the machine is offline, not the server broken."""
    if isinstance(reason, socket.gaierror):
        return True
    return isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN)


class _FileFailed(Exception):
    def __init__(self, filename: str, problems: list[str], offline: bool = False):
        super().__init__(filename)
        self.filename = filename
        self.problems = problems
        self.offline = offline  # no mirror's host could be looked up or reached


def _extract_cifar(archive: Path, folder: Path) -> None:
    """Unpack cifar-10-python.tar.gz into folder/cifar-10-batches-py, all or nothing."""
    staging = folder / f".extract-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        with tarfile.open(archive, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
            for member in members:  # never write outside the staging folder
                parts = Path(member.name).parts
                if member.name.startswith(("/", "\\")) or ".." in parts:
                    raise DatasetError(f"{archive}: unsafe path {member.name!r} in the archive.")
            if hasattr(tarfile, "data_filter"):
                tar.extractall(staging, members=members, filter="data")
            else:  # Python < 3.10.12 / 3.11.4: the manual check above is the guard
                tar.extractall(staging, members=members)
        extracted = cifar_batches_dir(staging)
        if extracted is None:
            raise DatasetError(f"{archive} does not contain the CIFAR-10 batches (data_batch_1..5, test_batch).")
        target = folder / CIFAR10_FOLDER
        shutil.rmtree(target, ignore_errors=True)
        os.replace(extracted, target)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DatasetError(f"{archive} is damaged or could not be unpacked ({exc}). Delete it and "
                           f"download it again.") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def ensure_cifar_extracted(folder: Path) -> Path | None:
    """The batches folder, unpacking a present archive if needed; None when neither is there."""
    batches = cifar_batches_dir(folder)
    if batches is not None:
        return batches
    archive = folder / CIFAR10_ARCHIVE
    if not archive.is_file():
        return None
    _extract_cifar(archive, folder)
    return cifar_batches_dir(folder)


def _already_there(spec: DatasetSpec, folder: Path, filename: str) -> bool:
    if spec.name == "cifar10":
        return cifar_batches_dir(folder) is not None or (folder / filename).is_file()
    if (folder / filename).is_file():
        return True
    # A hand-placed copy under another spelling counts too (train-images.idx3-ubyte, no .gz).
    base = filename[:-3] if filename.endswith(".gz") else filename
    return base in idx_files_present(folder)


def download(spec: DatasetSpec, folder: Path, progress: Progress | None = None,
             cancel: Cancel | None = None) -> Path:
    """Fetch whatever of the dataset is missing from folder; returns the folder.

    Raises DownloadCancelled when cancel() returns True (partial files removed) and DatasetError
    naming the dataset, the folder and the files to place by hand for every other failure.
    """
    manual = manual_instructions(spec, folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"Cannot create the folder for {spec.title} at {folder} ({exc.strerror or exc}).") from exc

    wanted = [r for r in remote_files(spec) if not _already_there(spec, folder, r.filename)]
    transfer = _Transfer(wanted, progress, cancel)
    transfer.report()
    for index, remote in enumerate(wanted):
        try:
            _download_file(remote, folder, index, transfer)
        except _FileFailed as exc:
            source = ' or '.join(remote.urls) or 'the dataset website'
            if exc.offline:
                # Said plainly, once: the raw resolver error ("[Errno -2] Name or service not known") helps
                # nobody, what to do instead does.
                raise DatasetError(
                    f"You are offline: {spec.title} cannot be downloaded now (no connection to the download "
                    f"server). To install it by hand, {manual} (from {source}).") from None
            details = "; ".join(exc.problems) or "no download address known"
            raise DatasetError(
                f"Could not download {spec.title} ({spec.name}, about {human_size(spec.download_bytes)}): "
                f"{exc.filename} failed - {details}. To install it by hand, {manual} "
                f"(from {' or '.join(remote.urls) or 'the dataset website'}).") from None
    if spec.name == "cifar10":
        ensure_cifar_extracted(folder)
        (folder / CIFAR10_ARCHIVE).unlink(missing_ok=True)  # 170 MB nobody needs once unpacked
    return folder
