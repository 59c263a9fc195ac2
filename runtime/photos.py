"""The photo set every check runs on: the sample photos shipped with the package (or a directory
of the user's), and a deterministic endless sequence of distinct images made from them (mirrored,
rotated, cropped variants) for parity batches, the neighbour check and calibration."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ijepa_deploy.errors import InputError
from ijepa_deploy.runtime.preprocess import IMAGE_SUFFIXES, open_image


def bundled_images() -> list[Path]:
    """The sample photos shipped with the package (scikit-image's CC0/public-domain photos)."""
    folder = resources.files("ijepa_deploy") / "assets"
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".jpg"))


def images_in(directory: Path) -> list[Path]:
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(str(directory), "not a directory", "a directory of image files")
    found = sorted(p for p in directory.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not found:
        raise InputError(str(directory), "contains no image files", f"files ending in {IMAGE_SUFFIXES}")
    return found


def _crop(image, left: float, top: float, right: float, bottom: float):
    w, h = image.size
    return image.crop((int(w * left), int(h * top), int(w * right), int(h * bottom)))


def _variants():
    """Deterministic label-preserving variants: (suffix, transform). A parity batch uses the first
    few; calibration and the neighbour check go further down the list for distinct images."""
    T = Image.Transpose
    return (
        ("", lambda im: im),
        (":mirror", ImageOps.mirror),
        (":rot90", lambda im: im.transpose(T.ROTATE_90)),
        (":crop", lambda im: _crop(im, 1 / 8, 1 / 8, 7 / 8, 7 / 8)),
        (":rot270", lambda im: im.transpose(T.ROTATE_270)),
        (":rot180", lambda im: im.transpose(T.ROTATE_180)),
        (":crop-tl", lambda im: _crop(im, 0, 0, 3 / 4, 3 / 4)),
        (":crop-br", lambda im: _crop(im, 1 / 4, 1 / 4, 1, 1)),
        (":mirror-rot90", lambda im: ImageOps.mirror(im).transpose(T.ROTATE_90)),
        (":crop-center", lambda im: _crop(im, 1 / 4, 1 / 4, 3 / 4, 3 / 4)),
        (":crop-tr", lambda im: _crop(im, 1 / 4, 0, 1, 3 / 4)),
        (":crop-bl", lambda im: _crop(im, 0, 1 / 4, 3 / 4, 1)),
        (":grey", lambda im: ImageOps.grayscale(im).convert("RGB")),
        (":autocontrast", ImageOps.autocontrast),
        (":mirror-crop", lambda im: ImageOps.mirror(_crop(im, 1 / 8, 1 / 8, 7 / 8, 7 / 8))),
        (":mirror-rot270", lambda im: ImageOps.mirror(im).transpose(T.ROTATE_270)),
    )


VARIANTS_PER_PHOTO = 16


def photo_variant(paths: list[Path], i: int):
    """The ``i``-th image of the endless deterministic sequence over ``paths``: every photo as
    is, then every photo mirrored, rotated, cropped, ... (``VARIANTS_PER_PHOTO`` kinds, then the
    sequence repeats). Returns ``(PIL RGB image, name)``."""
    path = paths[i % len(paths)]
    variant = (i // len(paths)) % VARIANTS_PER_PHOTO
    suffix, transform = _variants()[variant]
    return transform(open_image(path).convert("RGB")), path.name + suffix


def photo_arrays(preprocess, count: int, paths: list[Path] | None = None) -> tuple[np.ndarray, list[str]]:
    """``count`` photos resized by ``preprocess`` (a runtime Preprocessor): uint8 [count, H, W, 3].
    When fewer files than ``count`` are given, the extra ones are mirrored / rotated / cropped
    versions so every row is a distinct image (up to ``VARIANTS_PER_PHOTO`` times the files)."""
    paths = list(paths or bundled_images())
    images, names = [], []
    for i in range(count):
        image, name = photo_variant(paths, i)
        images.append(preprocess.resized(image))
        names.append(name)
    return np.stack(images), names


def photo_batch(preprocess, count: int, paths: list[Path] | None = None) -> tuple[np.ndarray, list[str]]:
    """``count`` preprocessed photos (:func:`photo_arrays`, normalised): float32 [count, 3, H, W]."""
    images, names = photo_arrays(preprocess, count, paths)
    return preprocess(list(images)), names
