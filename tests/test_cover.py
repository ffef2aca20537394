"""The cover crop follows the subject of a long picture on a plain backdrop, and only there."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cnnstudio.core.cover import cover, subject_window
from cnnstudio.core.datasets import load_dataset
from cnnstudio.core.framing import FramingProfile
from cnnstudio.core.preparation import prepare_image

RED, TEAL = (220, 30, 30), (20, 120, 130)


def strip(width: int, height: int, box: tuple[int, int, int, int], backdrop=TEAL) -> Image.Image:
    """A plain backdrop with a red disc in `box`."""
    im = Image.new("RGB", (width, height), backdrop)
    ImageDraw.Draw(im).ellipse(box, fill=RED)
    return im


def red_pixels(pixels: np.ndarray) -> int:
    """Red pixels in (H, W, 3) or (3, H, W) uint8."""
    rgb = pixels if pixels.shape[-1] == 3 else pixels.transpose(1, 2, 0)
    return int(((rgb[..., 0] > 150) & (rgb[..., 1] < 100)).sum())


@pytest.mark.parametrize("vertical", [False, True])
def test_a_subject_at_one_end_of_a_long_picture_is_kept_whole(vertical):
    im = strip(200, 40, (6, 4, 38, 36))  # a disc 32 px across near the left end; the centre crop misses it
    if vertical:
        im = im.transpose(Image.Transpose.ROTATE_90)
    out = np.asarray(cover(im, 40, 40))
    assert out.shape == (40, 40, 3)
    assert red_pixels(out) == red_pixels(np.asarray(im))  # all of the disc
    # ... and centred on it: as much backdrop either side, to a pixel.
    along = (out[..., 0] > 150).any(axis=0 if not vertical else 1)
    first, last = np.flatnonzero(along)[[0, -1]]
    assert abs(first - (39 - last)) <= 1


def test_a_busy_border_keeps_the_centre_crop():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (40, 200, 3), dtype=np.uint8)  # a scene: no plain backdrop anywhere
    photo[4:36, 6:38] = RED
    out = np.asarray(cover(Image.fromarray(photo), 40, 40))
    assert np.array_equal(out, photo[:, 80:120])


def test_a_subject_longer_than_the_window_gets_the_window_that_holds_most_of_it():
    pixels = np.full((10, 100), 200, np.uint8)
    pixels[3:7, 5:25] = 0  # a bar 20 long at the left ...
    pixels[2:8, 60:95] = 0  # ... and a larger block 35 long at the right: a window of 10 fits neither
    start = subject_window(pixels, 10, axis=1)
    assert 60 <= start <= 85


def test_nothing_to_follow_keeps_the_centre():
    assert subject_window(np.full((10, 100, 3), 90, np.uint8), 10, axis=1) == 45


@pytest.mark.parametrize("channels", [1, 3])
def test_folder_and_user_image_paths_crop_long_pictures_alike(tmp_path, channels):
    root = tmp_path / "long"
    pictures = {"a": strip(180, 30, (140, 2, 166, 28)), "b": strip(30, 150, (2, 8, 28, 34), backdrop=(240, 240, 240))}
    for cls, im in pictures.items():
        (root / cls).mkdir(parents=True)
        for i in range(3):
            (im if channels == 3 else im.convert("L")).save(root / cls / f"{i}.png")
    ds = load_dataset(root)
    assert ds.input_shape == (channels, 30, 30)
    rows = {int(y): x.numpy() for x, y in zip(ds.train_images, ds.train_labels)}
    framing = FramingProfile(30, 30, channels)  # the plain cover rule
    for label, cls in enumerate(("a", "b")):
        with Image.open(root / cls / "0.png") as im:
            prepared = prepare_image(im, framing).pixels
        assert np.array_equal(prepared, rows[label]), cls
        if channels == 3:
            assert red_pixels(prepared) == red_pixels(np.asarray(pictures[cls]))  # the whole disc, both ways


@pytest.mark.parametrize("size", [(50_000, 1), (3, 30_000)])
def test_a_strip_is_cut_to_its_middle_without_scaling_all_of_it(size):
    import tracemalloc

    pixels = np.full(size[::-1], 30, np.uint8)
    if size[0] > size[1]:
        pixels[:, : size[0] // 2] = 220  # the first half light, the second dark
    else:
        pixels[: size[1] // 2] = 220
    strip_ = Image.fromarray(pixels)
    tracemalloc.start()
    out = np.asarray(cover(strip_, 64, 64))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert out.shape == (64, 64)
    assert peak < 20_000_000  # all of it scaled would be 50,000 x 64 x 64 bytes at least (200 MB)
    # The middle: where the light half meets the dark one.
    along = out.mean(axis=0 if size[0] > size[1] else 1)
    assert along[0] > 150 and along[-1] < 60 and (np.diff(along) <= 0).all()


def test_transparent_pictures_are_prepared_over_white_as_the_folder_loader_does(tmp_path):
    """A grey model trained on transparent PNGs (strokes on a clear sheet) saw them over white: a picture
    given to predict, Draw or Inspect is prepared the same way, not with its alpha taken as the content."""
    root = tmp_path / "clear"
    for cls, ink in (("dark", (0, 0, 0, 255)), ("light", (250, 250, 250, 255)), ("red", (200, 20, 20, 160))):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            im = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
            ImageDraw.Draw(im).line((5 + i, 5, 34, 30 - i), fill=ink, width=5)
            im.convert("LA").save(root / cls / f"{i}.png")
    ds = load_dataset(root)
    assert ds.input_shape[0] == 1
    framing = FramingProfile(ds.input_shape[1], ds.input_shape[2], 1)
    loaded: dict[int, set[bytes]] = {}
    for images, labels in ((ds.train_images, ds.train_labels), (ds.test_images, ds.test_labels)):
        for x, y in zip(images, labels):
            loaded.setdefault(int(y), set()).add(x.numpy().tobytes())
    for label, cls in enumerate(ds.classes):
        prepared = set()
        for path in sorted((root / cls).iterdir()):
            with Image.open(path) as im:
                prepared.add(prepare_image(im, framing).pixels.tobytes())
        assert prepared == loaded[label], cls


@pytest.mark.parametrize("channels", [1, 3])
def test_large_jpeg_photos_reach_prediction_as_the_folder_loader_decoded_them(tmp_path, channels):
    """The loader decodes a large JPEG at 1/2^k scale (draft mode); prediction opening the file with the
    model's framing decodes it the same way, so the model sees the very pixels it trained on."""
    from cnnstudio.core.preparation import open_image

    rng = np.random.default_rng(channels)
    root = tmp_path / "photos"
    y, x = np.mgrid[0:600, 0:800]
    for cls, period in (("waves", 23.0), ("ripples", 41.0)):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            wave = 128 + 90 * np.sin(x / period + i) * np.cos(y / (period * 1.7))
            rgb = np.stack([wave, wave[::-1], 255 - wave], -1) + rng.normal(0, 18, (600, 800, 3))
            im = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
            (im if channels == 3 else im.convert("L")).save(root / cls / f"{i}.jpg", quality=90)
    ds = load_dataset(root)
    c, h, w = ds.input_shape
    assert c == channels and max(h, w) * 2 <= 600  # small enough a frame that a draft scale applies
    framing = FramingProfile(h, w, channels)
    loaded: dict[int, set[bytes]] = {}
    for images, labels in ((ds.train_images, ds.train_labels), (ds.test_images, ds.test_labels)):
        for img, label in zip(images, labels):
            loaded.setdefault(int(label), set()).add(img.numpy().tobytes())
    for label, cls in enumerate(ds.classes):
        paths = sorted((root / cls).iterdir())
        drafted = {prepare_image(open_image(p, framing), framing).pixels.tobytes() for p in paths}
        assert drafted == loaded[label], cls
        whole = {prepare_image(open_image(p), framing).pixels.tobytes() for p in paths}
        assert whole != loaded[label], "the photos must be large enough for the draft to matter"
        assert open_image(paths[0], framing).width < 800  # decoded at a reduced scale
