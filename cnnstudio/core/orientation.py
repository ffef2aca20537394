"""Pictures the right way up: the one place the EXIF orientation tag is applied.

Phones store a photo as the sensor saw it and write how to turn it into the EXIF orientation tag;
every image viewer applies it. The folder loader (training) and open_image (prediction, Draw,
Inspect) both call upright(), so a model trains on the photos it will later be asked about, the
same way up as the user sees them.
"""

from __future__ import annotations

from PIL import Image, ImageOps


def upright(image: Image.Image) -> Image.Image:
    """The image turned and mirrored as its EXIF orientation tag says (unchanged without a tag).

    A tag PIL cannot read (a damaged EXIF block) leaves the image as stored rather than failing the load.
    """
    try:
        if image.getexif().get(0x0112, 1) == 1:  # upright already: exif_transpose would return a full copy
            return image
        return ImageOps.exif_transpose(image) or image
    except Exception:  # noqa: BLE001 - broken EXIF data: the pixels are still good
        return image
