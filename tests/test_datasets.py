"""Datasets: IDX and CIFAR readers, image folders, the shapes generator, downloads and the registry.

Everything runs offline: datasets are written as tiny files into temporary folders, and downloads
go to a throw-away HTTP server on 127.0.0.1 (or to a closed port, to fail).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import json
import os
import pickle
import socket
import struct
import subprocess
import sys
import tarfile
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnstudio.core import paths
from cnnstudio.core.datasets import (DatasetInfo, dataset_info, download_dataset, info_from_dataset,
                                     list_datasets, load_dataset)
from cnnstudio.core.datasets import download as download_module
from cnnstudio.core.datasets import shapes as shapes_module
from cnnstudio.core.datasets.cifar import safe_load_pickle
from cnnstudio.core.datasets.idx import read_idx
from cnnstudio.core.errors import DatasetError, DownloadCancelled

SYSTEM_FASHION = Path("/usr/share/datasets/fashion-mnist")
REPO_ROOT = Path(__file__).resolve().parents[1]


# --- fixtures and file writers ---------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _no_system_datasets(tmp_path_factory, monkeypatch):
    """By default no system dataset folder exists, so results do not depend on the machine."""
    empty = tmp_path_factory.mktemp("no-system-datasets")
    monkeypatch.setenv("CNNSTUDIO_SYSTEM_DATASETS", str(empty))


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("this test must not touch the network")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def idx_bytes(array: np.ndarray) -> bytes:
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_file(path: Path, data: bytes, gz: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data, mtime=0))
    else:
        path.write_bytes(data)
    return path


def make_idx_arrays(n_train=30, n_test=10, size=28, n_classes=10, seed=0):
    rng = np.random.default_rng(seed)
    train_x = rng.integers(0, 256, (n_train, size, size), dtype=np.uint8)
    test_x = rng.integers(0, 256, (n_test, size, size), dtype=np.uint8)
    train_y = (np.arange(n_train) % n_classes).astype(np.uint8)
    test_y = (np.arange(n_test) % n_classes).astype(np.uint8)
    return train_x, train_y, test_x, test_y


def write_idx_folder(folder: Path, gz=True, sep="-", **kwargs):
    """The four MNIST files; sep="." writes the train-images.idx3-ubyte spelling."""
    train_x, train_y, test_x, test_y = arrays = make_idx_arrays(**kwargs)
    write_file(folder / f"train-images{sep}idx3-ubyte", idx_bytes(train_x), gz)
    write_file(folder / f"train-labels{sep}idx1-ubyte", idx_bytes(train_y), gz)
    write_file(folder / f"t10k-images{sep}idx3-ubyte", idx_bytes(test_x), gz)
    write_file(folder / f"t10k-labels{sep}idx1-ubyte", idx_bytes(test_y), gz)
    return arrays


def cifar_batch(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"batch", b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"labels": [int(v) for v in rng.integers(0, 10, n)]}


def write_cifar(folder: Path, n=8, protocol=2) -> dict[str, dict]:
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        batches[name] = cifar_batch(n, i)
        (folder / name).write_bytes(pickle.dumps(batches[name], protocol=protocol))
    names = [b"plane", b"car", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}, protocol=protocol))
    return batches


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A cancelled download drops the connection mid-file; that is the point, not an error."""


@pytest.fixture
def http_server(tmp_path, monkeypatch):
    """A local HTTP server on a free port serving tmp_path/www; yields (base_url, folder)."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    www = tmp_path / "www"
    www.mkdir()
    server = _QuietServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", www
    finally:
        server.shutdown()
        server.server_close()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def serve_mnist_files(www: Path, n_train=200, n_test=50) -> dict[str, bytes]:
    """gzipped IDX files in www, returned by name."""
    train_x, train_y, test_x, test_y = make_idx_arrays(n_train=n_train, n_test=n_test)
    files = {
        "train-images-idx3-ubyte.gz": gzip.compress(idx_bytes(train_x), mtime=0),
        "train-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(train_y), mtime=0),
        "t10k-images-idx3-ubyte.gz": gzip.compress(idx_bytes(test_x), mtime=0),
        "t10k-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(test_y), mtime=0),
    }
    for name, data in files.items():
        (www / name).write_bytes(data)
    return files


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- IDX ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_round_trips(tmp_path, gz):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = write_file(tmp_path / "x-idx3-ubyte", idx_bytes(array), gz)
    assert np.array_equal(read_idx(path), array)


def test_idx_folder_loads_by_path(tmp_path, no_network):
    folder = tmp_path / "digits"
    train_x, train_y, test_x, test_y = write_idx_folder(folder, gz=True, n_classes=7)
    ds = load_dataset(str(folder))
    assert ds.name == "digits"
    assert ds.classes == [str(i) for i in range(7)]
    assert ds.input_shape == (1, 28, 28)
    assert ds.train_images.dtype.is_floating_point is False and str(ds.train_images.dtype) == "torch.uint8"
    assert str(ds.train_labels.dtype) == "torch.int64"
    assert np.array_equal(ds.train_images.numpy()[:, 0], train_x)
    assert np.array_equal(ds.test_labels.numpy(), test_y)
    # Issue 16: framing is measured from the images, no longer assumed to be MNIST's for any 28x28 folder
    # (these are random noise, with no plain background: framed as natural images).
    from cnnstudio.core.framing import measure_framing

    assert ds.framing == measure_framing(train_x[:, None]) and ds.framing.fit == "cover"
    assert ds.mean[0] == pytest.approx(train_x.mean() / 255, rel=1e-6)
    assert ds.std[0] == pytest.approx(train_x.std() / 255, rel=1e-5)


def test_idx_folder_with_dot_names_plain_and_other_size(tmp_path):
    folder = tmp_path / "small"
    write_idx_folder(folder, gz=False, sep=".", size=12, n_classes=3)
    assert (folder / "train-images.idx3-ubyte").exists()
    ds = load_dataset(folder)
    assert ds.input_shape == (1, 12, 12)
    assert ds.classes == ["0", "1", "2"]
    assert ds.framing.fit == "cover"  # not 28x28: natural framing


def test_truncated_idx_names_file(tmp_path):
    folder = tmp_path / "bad"
    write_idx_folder(folder, gz=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte.*truncated"):
        load_dataset(folder)


def test_truncated_gzip_names_file(tmp_path):
    folder = tmp_path / "bad"
    write_idx_folder(folder, gz=True)
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte\.gz"):
        load_dataset(folder)


def test_wrong_magic_names_file(tmp_path):
    folder = tmp_path / "bad"
    write_idx_folder(folder, gz=False)
    # Swap: a labels file where the training images should be.
    (folder / "train-images-idx3-ubyte").write_bytes((folder / "train-labels-idx1-ubyte").read_bytes())
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte.*magic number 0x00000801"):
        load_dataset(folder)


def test_count_mismatch_names_files(tmp_path):
    folder = tmp_path / "bad"
    write_idx_folder(folder, gz=False, n_test=10)
    (folder / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(9, np.uint8)))
    with pytest.raises(DatasetError, match=r"10 images.*t10k-labels-idx1-ubyte.*9 labels"):
        load_dataset(folder)


def test_registered_mnist_loads_from_user_folder_offline(no_network):
    folder = paths.datasets_dir() / "mnist"
    train_x, train_y, _, test_y = write_idx_folder(folder, gz=True)
    info = dataset_info("mnist")
    assert info.available and info.location == str(folder)
    ds = load_dataset("mnist")
    assert ds.name == "mnist" and ds.title == "MNIST"
    assert ds.classes == [str(i) for i in range(10)]
    assert np.array_equal(ds.train_images.numpy()[:, 0], train_x)
    assert np.array_equal(ds.test_labels.numpy(), test_y)
    assert ds.hflip_ok is False
    assert (ds.framing.polarity, ds.framing.box, ds.framing.centering) == ("light-on-dark", 20, "mass")
    assert ds.source == str(folder)


def test_registered_kmnist_with_explicit_data_dir(tmp_path, no_network):
    folder = tmp_path / "elsewhere"
    write_idx_folder(folder, gz=False)  # hand-unpacked files are fine too
    assert not dataset_info("kmnist").available
    assert dataset_info("kmnist", data_dir=folder).available
    ds = load_dataset("kmnist", data_dir=folder)
    assert ds.classes == ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
    assert ds.hflip_ok is False and ds.input_shape == (1, 28, 28)


def test_registered_label_out_of_range(no_network):
    folder = paths.datasets_dir() / "mnist"
    write_idx_folder(folder, gz=True)
    labels = np.zeros(30, np.uint8)
    labels[3] = 12
    write_file(folder / "train-labels-idx1-ubyte", idx_bytes(labels), gz=True)
    with pytest.raises(DatasetError, match=r"train-labels-idx1-ubyte.gz.*label 12 is out of range"):
        load_dataset("mnist")


def test_missing_dataset_without_download_explains(no_network):
    with pytest.raises(DatasetError) as err:
        load_dataset("mnist")
    message = str(err.value)
    assert "cnnstudio datasets --download mnist" in message
    assert str(paths.datasets_dir() / "mnist") in message
    assert "train-images-idx3-ubyte.gz" in message and "MB" in message


def test_unknown_names_and_paths(tmp_path):
    with pytest.raises(DatasetError, match="mnist, fashion-mnist, kmnist, cifar10, shapes"):
        dataset_info("imagenet")
    with pytest.raises(DatasetError, match="no folder at"):
        load_dataset(str(tmp_path / "does-not-exist"))
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(DatasetError, match="is a file"):
        load_dataset(str(a_file))


# --- CIFAR-10 ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_loads_from_batches(protocol, no_network):
    folder = paths.datasets_dir() / "cifar10"
    batches = write_cifar(folder / "cifar-10-batches-py", n=8, protocol=protocol)
    info = dataset_info("cifar10")
    assert info.available and info.location == str(folder)
    ds = load_dataset("cifar10")
    assert ds.input_shape == (3, 32, 32)
    assert len(ds.train_images) == 40 and len(ds.test_images) == 8
    assert ds.classes[:2] == ["plane", "car"]  # from batches.meta
    first = batches["data_batch_1"][b"data"][0]
    c, y, x = 2, 5, 7  # rows are R plane, G plane, B plane, each row-major
    assert int(ds.train_images[0, c, y, x]) == int(first[c * 1024 + y * 32 + x])
    assert ds.train_labels.tolist()[:8] == batches["data_batch_1"][b"labels"]
    assert ds.test_labels.tolist() == batches["test_batch"][b"labels"]
    assert ds.hflip_ok is True and ds.framing.fit == "cover" and ds.framing.channels == 3
    assert len(ds.mean) == 3


def test_cifar10_corrupt_batch_names_file(no_network):
    folder = paths.datasets_dir() / "cifar10" / "cifar-10-batches-py"
    write_cifar(folder)
    raw = (folder / "data_batch_3").read_bytes()
    (folder / "data_batch_3").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DatasetError, match=r"data_batch_3.*truncated or corrupt"):
        load_dataset("cifar10")


def test_cifar10_missing_batch_is_not_available(no_network):
    folder = paths.datasets_dir() / "cifar10" / "cifar-10-batches-py"
    write_cifar(folder)
    (folder / "data_batch_5").unlink()
    assert not dataset_info("cifar10").available
    with pytest.raises(DatasetError, match="needs a download"):
        load_dataset("cifar10")


class _Shell:
    """Unpickling this would run a shell command."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Opener:
    """Unpickling this would create a file."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("evil_kind", ["os.system", "builtins.open"])
def test_cifar10_malicious_pickle_is_refused(tmp_path, evil_kind, no_network):
    folder = paths.datasets_dir() / "cifar10" / "cifar-10-batches-py"
    write_cifar(folder)
    marker = tmp_path / "pwned"
    evil = _Shell(f"touch {marker}") if evil_kind == "os.system" else _Opener(str(marker))
    batch = cifar_batch(8, 0)
    batch[b"data"] = evil
    (folder / "data_batch_2").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DatasetError, match=r"data_batch_2.*refusing"):
        load_dataset("cifar10")
    assert not marker.exists()


def test_restricted_unpickler_allows_arrays_only():
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert np.array_equal(safe_load_pickle(pickle.dumps({"a": array}, protocol=2))["a"], array)
    # Hand-written protocol-0 pickle calling subprocess.Popen("true").
    with pytest.raises(DatasetError, match=r"refusing to load subprocess\.Popen"):
        safe_load_pickle(b"csubprocess\nPopen\n(S'true'\ntR.")


def test_cifar10_archive_is_unpacked_offline(no_network):
    folder = paths.datasets_dir() / "cifar10"
    staging = folder / "staging"
    write_cifar(staging / "cifar-10-batches-py")
    with tarfile.open(folder / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(staging / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    for p in sorted((staging / "cifar-10-batches-py").iterdir()):
        p.unlink()
    (staging / "cifar-10-batches-py").rmdir()
    staging.rmdir()
    assert dataset_info("cifar10").available
    ds = load_dataset("cifar10")
    assert len(ds.train_images) == 40
    assert (folder / "cifar-10-batches-py" / "test_batch").is_file()


# --- system folders ----------------------------------------------------------------------------------

@pytest.mark.skipif(not (SYSTEM_FASHION / "train-images-idx3-ubyte.gz").is_file(),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_fashion_mnist_from_debian_package(monkeypatch, no_network):
    monkeypatch.delenv("CNNSTUDIO_SYSTEM_DATASETS")
    infos = {i.name: i for i in list_datasets()}
    assert infos["fashion-mnist"].available
    assert infos["fashion-mnist"].location == str(SYSTEM_FASHION)
    ds = load_dataset("fashion-mnist")
    assert (len(ds.train_images), len(ds.test_images)) == (60000, 10000)
    assert ds.input_shape == (1, 28, 28)
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"
    assert np.bincount(ds.train_labels.numpy()).tolist() == [6000] * 10
    assert ds.mean[0] == pytest.approx(0.286, abs=0.002)  # the well-known Fashion-MNIST statistics
    assert ds.std[0] == pytest.approx(0.353, abs=0.002)


def test_system_folder_override_and_search_order(tmp_path, monkeypatch, no_network):
    system_a, system_b = tmp_path / "sys-a", tmp_path / "sys-b"
    write_idx_folder(system_b / "fashion-mnist", gz=True, n_train=20)
    monkeypatch.setenv("CNNSTUDIO_SYSTEM_DATASETS", os.pathsep.join([str(system_a), str(system_b)]))
    info = dataset_info("fashion-mnist")
    assert info.available and info.location == str(system_b / "fashion-mnist")
    ds = load_dataset("fashion-mnist")
    assert len(ds.train_images) == 20 and ds.hflip_ok is True
    assert (ds.framing.polarity, ds.framing.fit, ds.framing.box, ds.framing.centering) == \
        ("light-on-dark", "box", 28, "box")
    assert download_dataset("fashion-mnist") == system_b / "fashion-mnist"  # nothing to fetch

    # A copy in the user's folder comes first.
    user = paths.datasets_dir() / "fashion-mnist"
    write_idx_folder(user, gz=False, n_train=30)
    assert dataset_info("fashion-mnist").location == str(user)
    assert len(load_dataset("fashion-mnist").train_images) == 30


# --- image folders -----------------------------------------------------------------------------------

def png_with_size_in_header(path: Path, width: int, height: int) -> None:
    """A small real PNG whose IHDR claims width x height (CRC fixed): PIL reads the header happily."""
    buffer = io.BytesIO()
    Image.new("L", (4, 4), 0).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4: ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr: ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17: ihdr + 21] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))


def noise(mode: str, size: tuple[int, int], seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    if mode == "RGB":
        return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")
    if mode == "RGBA":
        return Image.fromarray(rng.integers(0, 256, (h, w, 4), dtype=np.uint8), "RGBA")
    return Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8), "L")


def make_messy_folder(root: Path) -> dict[str, str]:
    """Two classes of mixed formats and modes plus broken files; returns {broken name: reason}."""
    cats, dogs = root / "cats", root / "dogs"
    cats.mkdir(parents=True)
    dogs.mkdir(parents=True)
    noise("RGBA", (40, 24), 1).save(cats / "rgba.png")
    noise("RGB", (24, 30), 2).convert("P").save(cats / "palette.png")
    noise("L", (24, 24), 3).save(cats / "gray.png")
    Image.fromarray((np.full((24, 26), 128 * 257)).astype(np.uint16)).save(cats / "deep16.png")
    noise("RGB", (60, 24), 4).save(cats / "photo.JPG")
    noise("RGB", (24, 24), 5).convert("CMYK").save(cats / "print.jpeg")
    noise("RGB", (24, 50), 6).save(dogs / "bitmap.bmp")
    noise("RGB", (30, 24), 7).convert("P").save(dogs / "anim.gif")
    noise("RGBA", (24, 24), 8).save(dogs / "pic.webp")
    noise("RGB", (24, 40), 9).save(dogs / "scan.tiff")
    noise("L", (24, 24), 10).convert("1").save(dogs / "bw.tif")
    noise("L", (100, 100), 11).save(dogs / "big.png")
    # Broken files, each with an image extension.
    noise("RGB", (64, 64), 12).save(cats / "cut.png")
    (cats / "cut.png").write_bytes((cats / "cut.png").read_bytes()[:3000])
    (dogs / "x.jpg").write_text("this is not a JPEG")
    (dogs / "empty.png").write_bytes(b"")
    png_with_size_in_header(dogs / "huge.png", 20000, 20000)
    png_with_size_in_header(cats / "wide.png", 10000, 6000)  # 60 MP: over our limit, under PIL's
    # Ignored: other extensions, hidden files and folders.
    (cats / "notes.txt").write_text("hello")
    noise("L", (24, 24), 13).save(cats / ".hidden.png")
    (dogs / ".thumbs").mkdir()
    noise("L", (24, 24), 14).save(dogs / ".thumbs" / "t.png")
    return {"cut.png": "truncated", "x.jpg": "not an image", "empty.png": "empty file",
            "huge.png": "too large", "wide.png": "too large"}


def test_messy_image_folder_loads_and_reports(tmp_path):
    root = tmp_path / "pets"
    broken = make_messy_folder(root)
    ds = load_dataset(str(root))
    report = ds.report
    assert ds.name == "pets" and ds.title == "pets" and ds.source == str(root)
    assert ds.classes == ["cats", "dogs"]
    assert {Path(s.path).name: s.reason for s in report.skipped} == broken
    assert report.files_seen == 12 + len(broken)  # hidden files and notes.txt are not seen
    assert report.files_loaded == 12
    assert len(ds.train_images) + len(ds.test_images) == 12
    assert any("1 .txt" in n for n in report.notes)
    assert ds.input_shape == (3, 24, 24)  # colour present; most common shorter side is 24
    assert ds.framing.fit == "cover" and ds.framing.height == 24
    # Stratified 20 % split with at least one test image per class.
    assert sorted(ds.test_labels.tolist()) == [0, 1]
    assert report.summary() == ("12 of 17 files loaded, skipped: 1 empty file, 1 not an image, "
                                "2 too large, 1 truncated")


def test_image_modes_are_normalised(tmp_path):
    root = tmp_path / "gray"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir(parents=True)
    Image.fromarray(np.full((20, 20), 128 * 257, np.uint16)).save(root / "a" / "deep.png")  # I;16
    Image.fromarray(np.full((20, 20), 0.5, np.float32)).save(root / "a" / "float.tiff")  # F
    Image.new("LA", (20, 20), (0, 0)).save(root / "b" / "clear.png")  # transparent: white
    Image.new("1", (20, 20), 1).save(root / "b" / "bw.png")
    ds = load_dataset(root)
    assert ds.input_shape == (1, 20, 20)  # every image grayscale
    assert ds.report.files_loaded == 4
    images = np.concatenate([ds.train_images.numpy(), ds.test_images.numpy()])
    labels = np.concatenate([ds.train_labels.numpy(), ds.test_labels.numpy()])
    # a: 16-bit 128*257 and float 0.5 both become 128; b: transparent and white 1-bit become 255.
    assert sorted(images[labels == 0].reshape(2, -1).min(1).tolist()) == [128, 128]
    assert (images[labels == 0] == 128).all()
    assert (images[labels == 1] == 255).all()


@pytest.mark.parametrize("channels", [1, 3])
def test_user_images_in_deep_modes_are_prepared_as_the_folder_loader_decoded_them(tmp_path, channels):
    # A 16-bit grey PNG went through Pillow's convert("RGB") on the way to a colour model, which clips
    # at 255: a picture the model had trained on arrived as a white page. Both paths share one rule now.
    from cnnstudio.core.framing import FramingProfile
    from cnnstudio.core.preparation import prepare_image

    # 0.2..0.8, every pixel different: neither the full range (which a stretch to the image's own range
    # would leave alone) nor a clipped one.
    ramp = 0.2 + 0.6 * np.add.outer(np.arange(24), np.arange(24)).astype(np.float64) / 46.0
    root = tmp_path / "deep"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir(parents=True)
    Image.fromarray(np.rint(ramp * 65535).astype(np.uint16)).save(root / "a" / "deep.png")  # I;16
    Image.fromarray(ramp[::-1].astype(np.float32)).save(root / "a" / "float.tiff")  # F, 0..1
    other = np.rint(ramp.T * 255).astype(np.uint8)
    Image.fromarray(np.stack([other] * 3, -1) if channels == 3 else other).save(root / "b" / "plain.png")
    ds = load_dataset(root)
    assert ds.input_shape == (channels, 24, 24)
    rows: dict[int, list[np.ndarray]] = {0: [], 1: []}
    for images, labels in ((ds.train_images, ds.train_labels), (ds.test_images, ds.test_labels)):
        for x, y in zip(images.numpy(), labels.numpy()):
            rows[int(y)].append(x)
    framing = FramingProfile(24, 24, channels)  # the plain cover rule, whatever the folder measured
    for name in ("deep.png", "float.tiff"):
        with Image.open(root / "a" / name) as im:
            prepared = prepare_image(im, framing).pixels
        assert prepared.shape == (channels, 24, 24)
        assert 40 < prepared.mean() < 215  # a ramp, not a white (or black) page
        assert any(np.array_equal(prepared, row) for row in rows[0]), name


def test_transparent_colour_image_over_white_and_cover_crop(tmp_path):
    root = tmp_path / "icons"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir(parents=True)
    Image.new("RGBA", (16, 16), (255, 0, 0, 0)).save(root / "a" / "clear.png")
    # 48x16: black | red | black thirds; a cover crop to 16x16 keeps only the red middle.
    wide = np.zeros((16, 48, 3), np.uint8)
    wide[:, 16:32] = (255, 0, 0)
    Image.fromarray(wide).save(root / "b" / "wide.png")
    ds = load_dataset(root)
    images = {int(y): x.numpy() for x, y in zip(ds.train_images, ds.train_labels)}
    assert ds.input_shape == (3, 16, 16)
    assert (images[0] == 255).all()  # transparent over white
    assert images[1][0].min() > 200 and images[1][1:].max() < 40  # red, nothing of the black sides


def test_image_size_override(tmp_path):
    from cnnstudio.core.datasets.imagefolder import load_image_folder

    root = tmp_path / "two"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            noise("RGB", (100, 80), i).save(root / cls / f"{i}.jpg")
    assert load_dataset(root).input_shape == (3, 64, 64)  # 80 clamped to 64
    assert load_image_folder(root, image_size=32).input_shape == (3, 32, 32)


def test_split_folders_keep_their_split(tmp_path):
    root = tmp_path / "split"
    for split, cls, n in (("train", "a", 4), ("train", "b", 3), ("test", "a", 2)):
        (root / split / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            noise("L", (20, 20), i).save(root / split / cls / f"{i}.png")
    ds = load_dataset(root)
    assert ds.classes == ["a", "b"]
    assert sorted(ds.train_labels.tolist()) == [0, 0, 0, 0, 1, 1, 1]
    assert ds.test_labels.tolist() == [0, 0]  # class b missing from test is fine
    assert any("b" in n and "no test images" in n for n in ds.report.notes)

    (root / "test" / "c").mkdir()
    noise("L", (20, 20), 9).save(root / "test" / "c" / "0.png")
    with pytest.raises(DatasetError, match="'c' has no usable images in train/"):
        load_dataset(root)


def test_automatic_split_is_stratified_and_deterministic(tmp_path):
    root = tmp_path / "auto"
    for cls, n in (("a", 10), ("b", 10), ("c", 2), ("d", 1)):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            noise("L", (20, 20), hash((cls, i)) % 1000).save(root / cls / f"{i}.png")
    first, second = load_dataset(root), load_dataset(root)
    assert np.bincount(first.test_labels.numpy(), minlength=4).tolist() == [2, 2, 1, 0]
    assert np.bincount(first.train_labels.numpy(), minlength=4).tolist() == [8, 8, 1, 1]
    assert np.array_equal(first.test_images.numpy(), second.test_images.numpy())


def test_symlink_loop_does_not_hang(tmp_path):
    root = tmp_path / "loop"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        noise("L", (20, 20), 0).save(root / cls / "0.png")
    (root / "a" / "again").symlink_to(root / "a", target_is_directory=True)
    ds = load_dataset(root)
    assert ds.report.files_loaded == 2


def test_one_class_is_an_error(tmp_path):
    root = tmp_path / "single"
    (root / "only").mkdir(parents=True)
    noise("L", (20, 20), 0).save(root / "only" / "0.png")
    with pytest.raises(DatasetError, match=r"at least two class subfolders.*'only'"):
        load_dataset(root)


def test_class_with_only_broken_files_is_an_error(tmp_path):
    root = tmp_path / "broken"
    (root / "good").mkdir(parents=True)
    (root / "bad").mkdir(parents=True)
    noise("L", (20, 20), 0).save(root / "good" / "0.png")
    (root / "bad" / "a.png").write_text("nope")
    (root / "bad" / "b.jpg").write_bytes(b"")
    with pytest.raises(DatasetError, match="'bad' has no usable images"):
        load_dataset(root)


# --- shapes ------------------------------------------------------------------------------------------

def test_shapes_default_dataset():
    ds = load_dataset("shapes")
    assert ds.name == "shapes"
    assert len(ds.classes) >= 8 and len(set(ds.classes)) == len(ds.classes)
    assert tuple(ds.train_images.shape) == (12000, 1, 28, 28)
    assert tuple(ds.test_images.shape) == (2000, 1, 28, 28)
    assert str(ds.train_images.dtype) == "torch.uint8" and str(ds.train_labels.dtype) == "torch.int64"
    counts = np.bincount(ds.train_labels.numpy(), minlength=len(ds.classes))
    assert counts.min() >= 0.9 * counts.max()
    assert np.bincount(ds.test_labels.numpy()).min() >= 200
    assert (ds.framing.polarity, ds.framing.fit, ds.framing.box, ds.framing.centering) == \
        ("light-on-dark", "box", 20, "mass")
    images = ds.train_images.numpy()[:, 0]
    assert images[:, 0, :].mean() < images[:, 10:18, 10:18].mean()  # light figures on dark
    # The figure extents spread around the 20 px framing box.
    mask = images > 64
    extent = np.maximum(mask.any(1).sum(1), mask.any(2).sum(1))
    assert extent.min() >= 8 and extent.max() <= 28 and 16 <= np.median(extent) <= 23
    info = dataset_info("shapes")
    assert info.available and info.kind == "builtin" and info.classes == ds.classes


def test_shapes_deterministic_per_seed(monkeypatch):
    a = shapes_module.generate(seed=5, n_train=160, n_test=40)
    b = shapes_module.generate(seed=5, n_train=160, n_test=40)
    c = shapes_module.generate(seed=6, n_train=160, n_test=40)
    d = shapes_module.generate(seed=5, n_train=80, n_test=40)
    for x, y in zip(a, b):
        assert np.array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    assert np.array_equal(a[2], d[2])  # the test set does not depend on n_train
    assert np.bincount(a[1]).tolist() == [20] * 8


def test_shapes_cache_on_disk_and_in_process(monkeypatch):
    key = (11, 64, 16)
    shapes_module._memo.pop(key, None)
    first = shapes_module.load_shapes(*key)
    cache = shapes_module._cache_file(*key)
    assert cache.is_file()

    def must_not_run(*args, **kwargs):
        raise AssertionError("shapes were generated again")

    monkeypatch.setattr(shapes_module, "generate", must_not_run)
    assert np.array_equal(shapes_module.load_shapes(*key).train_images.numpy(), first.train_images.numpy())
    shapes_module._memo.pop(key)  # now only the disk cache can serve it
    assert np.array_equal(shapes_module.load_shapes(*key).test_images.numpy(), first.test_images.numpy())
    # The loaded tensors are copies: editing one does not change the next load.
    again = shapes_module.load_shapes(*key)
    again.train_images.zero_()
    assert shapes_module.load_shapes(*key).train_images.numpy().any()


# --- downloads ---------------------------------------------------------------------------------------

def test_download_unreachable_mirror(monkeypatch):
    import torchvision.datasets as tvd

    monkeypatch.setattr(tvd.MNIST, "mirrors", ["http://127.0.0.1:9/mnist/"])
    folder = paths.datasets_dir() / "mnist"
    with pytest.raises(DatasetError) as err:
        download_dataset("mnist")
    message = str(err.value)
    assert "MNIST" in message and "mnist" in message
    assert str(folder) in message
    assert "train-images-idx3-ubyte.gz" in message and "by hand" in message
    assert not [n for n in leftovers(folder) if n.endswith(".part")]


def test_download_wrong_bytes_fails_checksum(monkeypatch, http_server):
    import torchvision.datasets as tvd

    base, www = http_server
    files = serve_mnist_files(www)
    resources = [(name, md5(data)) for name, data in files.items()]
    resources[2] = (resources[2][0], md5(b"something else"))  # the server's bytes will not match
    monkeypatch.setattr(tvd.MNIST, "mirrors", [base])
    monkeypatch.setattr(tvd.MNIST, "resources", resources)
    folder = paths.datasets_dir() / "mnist"
    with pytest.raises(DatasetError, match="checksum") as err:
        download_dataset("mnist")
    assert str(folder) in str(err.value)
    # Files before the bad one were verified and kept; the bad one left nothing behind.
    assert leftovers(folder) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]


def test_download_with_progress_then_load(monkeypatch, http_server):
    import torchvision.datasets as tvd

    base, www = http_server
    files = serve_mnist_files(www)
    monkeypatch.setattr(tvd.MNIST, "mirrors", ["http://127.0.0.1:9/", base])  # first mirror is down
    monkeypatch.setattr(tvd.MNIST, "resources", [(n, md5(d)) for n, d in files.items()])
    monkeypatch.setattr(download_module, "CHUNK_SIZE", 4096)
    calls: list[tuple[int, int]] = []
    folder = download_dataset("mnist", progress=lambda done, total: calls.append((done, total)))
    assert folder == paths.datasets_dir() / "mnist"
    assert sorted(leftovers(folder)) == sorted(files)
    total_bytes = sum(len(d) for d in files.values())
    dones = [d for d, _ in calls]
    assert len(calls) > 4 and dones == sorted(dones)
    assert calls[-1] == (total_bytes, total_bytes)
    assert all(d <= t for d, t in calls)
    ds = load_dataset("mnist")
    assert len(ds.train_images) == 200 and len(ds.test_images) == 50


def test_load_with_download_true(monkeypatch, http_server):
    import torchvision.datasets as tvd

    base, www = http_server
    files = serve_mnist_files(www, n_train=40, n_test=20)
    monkeypatch.setattr(tvd.KMNIST, "mirrors", [base])
    monkeypatch.setattr(tvd.KMNIST, "resources", [(n, md5(d)) for n, d in files.items()])
    with pytest.raises(DatasetError, match="needs a download"):
        load_dataset("kmnist")
    ds = load_dataset("kmnist", download=True)
    assert len(ds.train_images) == 40 and ds.classes[0] == "o"


def test_download_cancel_leaves_no_partial_file(monkeypatch, http_server):
    import torchvision.datasets as tvd

    base, www = http_server
    big = os.urandom(300_000)  # incompressible: many chunks
    (www / "train-images-idx3-ubyte.gz").write_bytes(big)
    monkeypatch.setattr(tvd.MNIST, "mirrors", [base])
    monkeypatch.setattr(tvd.MNIST, "resources", [("train-images-idx3-ubyte.gz", md5(big))])
    monkeypatch.setattr(download_module, "CHUNK_SIZE", 1024)
    seen: list[int] = []
    with pytest.raises(DownloadCancelled):
        download_dataset("mnist", progress=lambda d, t: seen.append(d), cancel=lambda: len(seen) > 5)
    assert 0 < max(seen) < len(big)
    assert leftovers(paths.datasets_dir() / "mnist") == []


def test_download_cifar10_extracts(monkeypatch, http_server, tmp_path):
    import torchvision.datasets as tvd

    base, www = http_server
    write_cifar(tmp_path / "src" / "cifar-10-batches-py", n=4)
    with tarfile.open(www / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    archive = (www / "cifar-10-python.tar.gz").read_bytes()
    monkeypatch.setattr(tvd.CIFAR10, "url", base + "cifar-10-python.tar.gz")
    monkeypatch.setattr(tvd.CIFAR10, "tgz_md5", md5(archive))
    ds = load_dataset("cifar10", download=True)
    folder = paths.datasets_dir() / "cifar10"
    assert len(ds.train_images) == 20
    assert leftovers(folder) == ["cifar-10-batches-py"]  # archive removed once unpacked


def test_remote_files_come_from_torchvision():
    from cnnstudio.core.datasets.catalog import get_spec
    from cnnstudio.core.datasets.download import remote_files

    for name in ("mnist", "fashion-mnist", "kmnist", "cifar10"):
        spec = get_spec(name)
        files = remote_files(spec)
        assert [f.filename for f in files] == list(spec.files), name
        for f in files:
            assert f.urls and all(u.startswith(("http://", "https://")) and u.endswith(f.filename)
                                  for u in f.urls)
            assert f.md5 and len(f.md5) == 32


def test_cifar_archive_with_unsafe_path_is_refused(tmp_path, no_network):
    folder = paths.datasets_dir() / "cifar10"
    folder.mkdir(parents=True)
    payload = b"gotcha"
    with tarfile.open(folder / "cifar-10-python.tar.gz", "w:gz") as tar:
        member = tarfile.TarInfo("../../escaped.txt")
        member.size = len(payload)
        tar.addfile(member, io.BytesIO(payload))
    with pytest.raises(DatasetError, match="unsafe path"):
        load_dataset("cifar10")
    assert not (folder.parent.parent / "escaped.txt").exists()
    assert not (folder.parent / "escaped.txt").exists()


# --- registry ----------------------------------------------------------------------------------------

def test_list_datasets_order_and_json():
    infos = list_datasets()
    assert [i.name for i in infos] == ["mnist", "fashion-mnist", "kmnist", "cifar10", "shapes"]
    assert all(isinstance(i, DatasetInfo) for i in infos)
    data = json.loads(json.dumps([i.to_dict() for i in infos]))
    mnist = data[0]
    assert mnist["name"] == "mnist" and mnist["input_shape"] == [1, 28, 28]
    assert mnist["available"] is False
    assert mnist["location"] == str(paths.datasets_dir() / "mnist")
    assert 10_000_000 < mnist["download_bytes"] < 13_000_000
    assert data[3]["input_shape"] == [3, 32, 32] and data[3]["num_train"] == 50000
    assert data[4]["available"] is True and data[4]["download_bytes"] is None


def test_list_datasets_base_dir_argument(tmp_path):
    write_idx_folder(tmp_path / "mnist", gz=True)
    infos = {i.name: i for i in list_datasets(tmp_path)}
    assert infos["mnist"].available and infos["mnist"].location == str(tmp_path / "mnist")
    assert not infos["kmnist"].available


def test_info_from_loaded_datasets(tmp_path):
    write_idx_folder(tmp_path / "mnist", gz=False, n_classes=4)  # a folder that happens to be called mnist
    info = info_from_dataset(load_dataset(str(tmp_path / "mnist")))
    assert (info.kind, info.classes, info.num_train, info.num_test) == ("idx-folder", ["0", "1", "2", "3"], 30, 10)
    root = tmp_path / "pics"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(2):
            noise("L", (20, 20), i).save(root / cls / f"{i}.png")
    info = info_from_dataset(load_dataset(root))
    assert info.kind == "image-folder" and info.input_shape == (1, 20, 20) and info.location == str(root)
    assert json.loads(json.dumps(info.to_dict()))["input_shape"] == [1, 20, 20]
    assert info_from_dataset(shapes_module.load_shapes(2, 16, 8)).kind == "builtin"


def test_list_datasets_imports_neither_torch_nor_qt(tmp_path):
    code = (
        "import sys\n"
        "from cnnstudio.core.datasets import list_datasets, dataset_info\n"
        "infos = list_datasets()\n"
        "assert [i.name for i in infos] == ['mnist', 'fashion-mnist', 'kmnist', 'cifar10', 'shapes']\n"
        "dataset_info('cifar10').to_dict()\n"
        "bad = [m for m in ('torch', 'torchvision', 'PySide6', 'pyqtgraph') if m in sys.modules]\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    env = dict(os.environ, CNNSTUDIO_HOME=str(tmp_path), PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                            timeout=60, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_dataset_modules_are_qt_free():
    for path in (REPO_ROOT / "cnnstudio" / "core" / "datasets").glob("*.py"):
        text = path.read_text()
        assert "PySide6" not in text and "pyqtgraph" not in text and "PyQt" not in text, path


def test_offline_download_says_so_once_with_the_folder_to_fill(monkeypatch):
    """No name lookup (the usual "offline"): one plain sentence, not the resolver's "[Errno -2] ..." text."""
    import socket
    import urllib.error

    import cnnstudio.core.datasets.download as dl

    def no_network(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(dl.urllib.request, "urlopen", no_network)
    folder = paths.datasets_dir() / "mnist"
    with pytest.raises(DatasetError) as err:
        download_dataset("mnist")
    message = str(err.value)
    assert message.startswith("You are offline: MNIST cannot be downloaded now")
    assert str(folder) in message and "train-images-idx3-ubyte.gz" in message and "by hand" in message
    assert "Errno" not in message and "Name or service" not in message


def test_phone_photos_load_upright_in_training_and_in_prediction(tmp_path):
    """Issue 16, item 3: half the photos are stored sideways or upside down with an EXIF orientation tag,
    as phones save them. The folder loader and open_image (prediction) both show them as a viewer
    does, so training and prediction agree."""
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.inference import open_image

    rng = np.random.default_rng(0)

    def photo(bright_top: bool) -> Image.Image:
        """40x30 (landscape) photo-like noise, bright in its top half (class "up") or bottom half."""
        a = rng.integers(0, 60, (30, 40, 3)).astype(np.uint8)
        half = slice(0, 15) if bright_top else slice(15, 30)
        a[half] += 180
        return Image.fromarray(a, "RGB")

    # EXIF orientation tag 0x0112: 3 = stored upside down, 6 = stored turned 90 degrees anticlockwise
    # (shown after a clockwise turn), 8 = the other way. The stored pixels are turned the opposite way.
    stored_as = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}
    tagged = []
    for cls, top in (("up", True), ("down", False)):
        (tmp_path / "photos" / cls).mkdir(parents=True)
        for i in range(12):
            im = photo(top)
            path = tmp_path / "photos" / cls / f"{i}.jpg"
            if i % 2:
                tag = (3, 6, 8)[i // 2 % 3]
                exif = Image.Exif()
                exif[0x0112] = tag
                im.transpose(stored_as[tag]).save(path, quality=95, exif=exif)
                tagged.append((path, top))
            else:
                im.save(path, quality=95)
    ds = load_dataset(tmp_path / "photos")
    images = np.concatenate([ds.train_images.numpy(), ds.test_images.numpy()]).astype(np.float32)
    labels = np.concatenate([ds.train_labels.numpy(), ds.test_labels.numpy()])
    assert len(images) == 24
    up = ds.classes.index("up")
    h = images.shape[2]
    top_mean = images[:, :, : h // 2].mean(axis=(1, 2, 3))
    bottom_mean = images[:, :, h // 2:].mean(axis=(1, 2, 3))
    # Every image, tagged or not, is bright where a viewer shows it bright.
    assert np.all((top_mean > bottom_mean) == (labels == up)), (top_mean - bottom_mean, labels)
    for path, top in tagged:
        shown = np.asarray(open_image(path).convert("L"), dtype=np.float32)
        assert shown.shape == (30, 40)  # landscape again, as taken
        assert (shown[:15].mean() > shown[15:].mean()) == top, path


def test_a_folder_loaded_again_comes_from_the_picture_cache_until_a_file_changes(tmp_path, monkeypatch):
    """Decoding is done once per unchanged folder; the second load decodes nothing and gives the same
    dataset, skipped files included; any change to a file decodes again."""
    import torch

    from cnnstudio.core.datasets import imagefolder
    from cnnstudio.core.datasets.imagefolder import load_image_folder

    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (tmp_path / "pics" / name).mkdir(parents=True)
        for i in range(6):
            pixels = rng.integers(0, 255, (30, 30, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "pics" / name / f"{i}.png")
    (tmp_path / "pics" / "a" / "broken.png").write_bytes(b"nope")
    calls = []
    real = imagefolder._decode
    monkeypatch.setattr(imagefolder, "_decode", lambda *a: (calls.append(a[0]), real(*a))[1])
    first = load_image_folder(tmp_path / "pics")
    assert len(calls) == 12
    second = load_image_folder(tmp_path / "pics")
    assert len(calls) == 12  # nothing decoded
    assert torch.equal(first.train_images, second.train_images) and torch.equal(first.test_labels, second.test_labels)
    assert [s.path for s in second.report.skipped] == [s.path for s in first.report.skipped]
    assert second.report.summary() == first.report.summary() == "12 of 13 files loaded, skipped: 1 not an image"
    assert any("from the cache" in n for n in second.report.notes)
    # Another size is another entry; a changed picture is decoded again (all of them: the key is the folder's).
    load_image_folder(tmp_path / "pics", image_size=20)
    assert len(calls) == 24
    path = tmp_path / "pics" / "b" / "3.png"
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(path)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    third = load_image_folder(tmp_path / "pics")
    assert len(calls) == 36
    assert not torch.equal(third.train_images, first.train_images) or not torch.equal(third.test_images,
                                                                                       first.test_images)


def test_a_file_that_fails_only_when_decoded_does_not_move_the_split(tmp_path):
    """The split is made on the pictures that decoded: a cut-off file (its header reads, its pixels do
    not) leaves the same training and test pictures as a folder without it, whichever split it fell in."""
    import shutil

    import torch

    from cnnstudio.core.datasets.imagefolder import load_image_folder

    rng = np.random.default_rng(3)
    clean, broken = tmp_path / "clean", tmp_path / "broken"
    for name in ("a", "b"):
        (clean / name).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(clean / name / f"{i:02d}.png")
    shutil.copytree(clean, broken)
    for name in ("a", "b"):
        for i in (3, 7, 11):  # cut in half: pass 1 reads the header, pass 2 fails
            whole = (clean / name / f"{i:02d}.png").read_bytes()
            (broken / name / f"{i:02d}x.png").write_bytes(whole[:len(whole) // 2])
    with_cuts, without = load_image_folder(broken), load_image_folder(clean)
    assert with_cuts.report.files_skipped == 6 and {s.reason for s in with_cuts.report.skipped} == {"truncated"}
    assert torch.equal(with_cuts.train_images, without.train_images)
    assert torch.equal(with_cuts.test_images, without.test_images)
    assert torch.equal(with_cuts.train_labels, without.train_labels)
    assert "split 20 train / 4 test" in " ".join(with_cuts.report.notes)
