"""Serve-time preprocessing: Pillow decodes and resizes, numpy does the rest.

Reproduces transformers' ``ViTImageProcessor`` PIL path (``use_fast=False``, ``do_convert_rgb``)
to within 1e-6, driven by the artifact's :class:`PreprocessConfig`. One deliberate difference:
16-bit greyscale images (``I;16``, ``I``) are scaled to 8 bits (value >> 8); Pillow's own
conversion, which transformers uses, clips them at 255 and turns most 16-bit photos white.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ijepa_deploy.contract import PreprocessConfig
from ijepa_deploy.errors import IJepaDeployError

_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")

ImageLike = str | os.PathLike | bytes | Image.Image | np.ndarray


def _describe(item) -> str:
    if isinstance(item, (str, os.PathLike)):
        return str(item)
    if isinstance(item, bytes):
        return f"<{len(item)} bytes>"
    if isinstance(item, np.ndarray):
        return f"<array {item.dtype} {item.shape}>"
    return f"<{type(item).__name__}>"


def open_image(item) -> Image.Image:
    """Decode one input into a fully loaded PIL image, or raise IJepaDeployError."""
    subject = _describe(item)
    if isinstance(item, Image.Image):
        return item
    if isinstance(item, np.ndarray):
        return _from_array(item, subject)
    source: Path | io.BytesIO
    if isinstance(item, (str, os.PathLike)):
        path = Path(item)
        if not path.is_file():
            raise IJepaDeployError(subject, "no such file", "a path to an image file")
        if path.stat().st_size == 0:
            raise IJepaDeployError(subject, "file is empty (0 bytes)", "an image file (JPEG, PNG, WebP, ...)")
        source = path
    elif isinstance(item, (bytes, bytearray)):
        if not item:
            raise IJepaDeployError(subject, "no image data (0 bytes)", "encoded image bytes")
        source = io.BytesIO(item)
    else:
        raise IJepaDeployError(subject, f"unsupported input type {type(item).__name__}",
                               "a file path, encoded bytes, a PIL image or a uint8 array")
    try:
        image = Image.open(source)
        width, height = image.size
        if width * height > (Image.MAX_IMAGE_PIXELS or float("inf")):
            raise IJepaDeployError(subject, f"image is {width}x{height} = {width * height} pixels, "
                                   "over Pillow's decompression-bomb limit",
                                   f"at most {Image.MAX_IMAGE_PIXELS} pixels")
        image.load()
    except IJepaDeployError:
        raise
    except Image.DecompressionBombError as exc:
        raise IJepaDeployError(subject, f"rejected as a decompression bomb ({exc})",
                               f"at most {Image.MAX_IMAGE_PIXELS} pixels") from None
    except UnidentifiedImageError:
        raise IJepaDeployError(subject, "not an image Pillow can decode",
                               "an image file (JPEG, PNG, WebP, BMP, TIFF, ...)") from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
        raise IJepaDeployError(subject, f"image data is corrupt or truncated ({exc})",
                               "a complete image file") from None
    return image


def _from_array(array: np.ndarray, subject: str) -> Image.Image:
    if array.dtype != np.uint8:
        raise IJepaDeployError(subject, f"array dtype is {array.dtype}",
                               "uint8 pixels (H, W) or (H, W, C) with C in 1, 3, 4; "
                               "pass float tensors to Runner.run instead")
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(array))
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        return Image.fromarray(np.ascontiguousarray(array))
    raise IJepaDeployError(subject, f"array shape is {array.shape}",
                           "(H, W) or (H, W, C) with C in 1, 3, 4 (channels last, RGB order)")


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB the way transformers' ``convert_to_rgb`` does it (alpha composited onto white)."""
    if image.mode == "RGB":
        return image
    if image.mode in _SIXTEEN_BIT:
        data = np.asarray(image).astype(np.int64)
        data = (np.clip(data, 0, 65535) >> 8).astype(np.uint8)
        return Image.fromarray(data).convert("RGB")
    if image.mode == "F":
        raise IJepaDeployError("image", "mode F (32-bit float) has no defined range",
                               "an 8- or 16-bit image; scale float data to uint8 first")
    if "A" in image.getbands() or image.info.get("transparency") is not None:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


class Preprocessor:
    """Turns images into the float32 NCHW batch the graph expects, per the artifact's contract."""

    def __init__(self, config: PreprocessConfig):
        self.config = config
        self._mean = np.asarray(config.image_mean, dtype=np.float32)
        self._std = np.asarray(config.image_std, dtype=np.float32)
        self._resample = _RESAMPLE[config.resample]

    def one(self, item) -> np.ndarray:
        cfg = self.config
        image = open_image(item)
        if cfg.convert_rgb:
            try:
                image = to_rgb(image)
            except IJepaDeployError as exc:
                raise IJepaDeployError(_describe(item), exc.problem, exc.expected) from None
        elif image.mode != "RGB":
            raise IJepaDeployError(_describe(item), f"image mode is {image.mode}", "RGB (convert_rgb is off)")
        if cfg.do_resize:
            if image.size != (cfg.width, cfg.height):
                image = image.resize((cfg.width, cfg.height), resample=self._resample)
        elif image.size != (cfg.width, cfg.height):
            raise IJepaDeployError(_describe(item), f"image is {image.size[0]}x{image.size[1]}",
                                   f"{cfg.width}x{cfg.height} (resizing is off in this contract)")
        pixels = np.asarray(image)
        if cfg.do_rescale:
            # float64 first, then float32: the order transformers' rescale() uses.
            pixels = (pixels.astype(np.float64) * cfg.rescale_factor).astype(np.float32)
        else:
            pixels = pixels.astype(np.float32)
        if cfg.do_normalize:
            pixels = (pixels - self._mean) / self._std
        return np.ascontiguousarray(pixels.transpose(2, 0, 1))

    def __call__(self, items: Iterable | ImageLike) -> np.ndarray:
        if isinstance(items, (str, os.PathLike, bytes, Image.Image)) or (
            isinstance(items, np.ndarray) and items.dtype == np.uint8 and items.ndim in (2, 3)
        ):
            items = [items]
        items = list(items) if not isinstance(items, Sequence) else items
        if len(items) == 0:
            raise IJepaDeployError("images", "no images given", "at least one image")
        return np.stack([self.one(item) for item in items])
