"""Serve-time preprocessing: Pillow decodes and resizes, numpy does the rest.

Reproduces transformers' ``ViTImageProcessor`` PIL path (``use_fast=False``, ``do_convert_rgb``)
to within 1e-6, driven by the artifact's :class:`PreprocessConfig`. One deliberate difference:
16-bit greyscale images (``I;16``, ``I``) are scaled to 8 bits (value >> 8); Pillow's own
conversion, which transformers uses, clips them at 255 and turns most 16-bit photos white.
Transparency is composited onto white as transformers 5 does, including a PNG tRNS colour key on
RGB, L and P images (tests/runtime/test_hostile_inputs.py checks a corpus of every format and mode
Pillow writes against transformers' processor).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ijepa_deploy.contract import PreprocessConfig
from ijepa_deploy.errors import IJepaDeployError, InputError, first_line

_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")

# The suffixes of the image formats Pillow decodes that a corpus holds (open_image reads them all).
# The one list for every directory the package walks: export photos (photos.images_in) and dataset
# jobs (dataset.inputs), so both take the same files from the same directory.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")

ImageLike = str | os.PathLike | bytes | Image.Image | np.ndarray


def _describe(item) -> str:
    if isinstance(item, (str, os.PathLike)):
        return str(item)
    if isinstance(item, (bytes, bytearray, memoryview)):
        return f"<{memoryview(item).nbytes} bytes>"
    if isinstance(item, np.ndarray):
        return f"<array {item.dtype} {item.shape}>"
    return f"<{type(item).__name__}>"


def open_image(item) -> Image.Image:
    """Decode one input into a fully loaded PIL image, or raise IJepaDeployError."""
    subject = _describe(item)
    if isinstance(item, Image.Image):
        if 0 in item.size:
            raise InputError(subject, f"image is {item.size[0]}x{item.size[1]} pixels", "at least 1x1 pixels")
        return _decoded(item, subject)
    if isinstance(item, np.ndarray):
        return _from_array(item, subject)
    source: Path | io.BytesIO
    if isinstance(item, (str, os.PathLike)):
        path = Path(item)
        if not path.is_file():
            raise InputError(subject, "no such file", "a path to an image file")
        if path.stat().st_size == 0:
            raise InputError(subject, "file is empty (0 bytes)", "an image file (JPEG, PNG, WebP, ...)")
        source = path
    elif isinstance(item, (bytes, bytearray, memoryview)):
        data = memoryview(item).cast("B").tobytes() if isinstance(item, memoryview) else bytes(item)
        if not data:
            raise InputError(subject, "no image data (0 bytes)", "encoded image bytes")
        source = io.BytesIO(data)
    else:
        raise InputError(
            subject,
            f"unsupported input type {type(item).__name__}",
            "a file path, encoded bytes, a PIL image or a uint8 array",
        )
    return _decoded(source, subject)


def _decoded(source, subject: str) -> Image.Image:
    """Open (a path or a buffer) and fully decode, or load a PIL image that is still lazy."""
    try:
        image = source if isinstance(source, Image.Image) else Image.open(source)
        width, height = image.size
        if width * height > (Image.MAX_IMAGE_PIXELS or float("inf")):
            raise InputError(
                subject,
                f"image is {width}x{height} = {width * height} pixels, over Pillow's decompression-bomb limit",
                f"at most {Image.MAX_IMAGE_PIXELS} pixels",
            )
        image.load()
    except IJepaDeployError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError(
            subject, f"rejected as a decompression bomb ({exc})", f"at most {Image.MAX_IMAGE_PIXELS} pixels"
        ) from None
    except UnidentifiedImageError:
        raise InputError(
            subject, "not an image Pillow can decode", "an image file (JPEG, PNG, WebP, BMP, TIFF, ...)"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
        raise InputError(
            subject, f"image data is corrupt or truncated ({first_line(exc)})", "a complete image file"
        ) from None
    except Exception as exc:  # noqa: BLE001 - see below
        # Pillow's decoders raise whatever their parser hits on crafted or damaged data
        # (NotImplementedError for unknown compressions, struct.error, EOFError, RuntimeError from
        # libavif, MemoryError from huge headers, ...): all of it is a bad file, not a crash.
        raise InputError(
            subject,
            f"image cannot be decoded ({type(exc).__name__}: {first_line(exc)})",
            "a complete image file in a format Pillow decodes",
        ) from None
    return image


def _from_array(array: np.ndarray, subject: str) -> Image.Image:
    if array.dtype != np.uint8:
        raise InputError(
            subject,
            f"array dtype is {array.dtype}",
            "uint8 pixels (H, W) or (H, W, C) with C in 1, 3, 4; pass float tensors to Runner.run instead",
        )
    if array.ndim in (2, 3) and 0 in array.shape:
        raise InputError(subject, "array has a zero-size dimension (no pixels)", "at least 1x1 pixels")
    if array.ndim in (2, 3) and array.shape[0] * array.shape[1] > (Image.MAX_IMAGE_PIXELS or float("inf")):
        raise InputError(
            subject,
            f"array is {array.shape[1]}x{array.shape[0]} pixels, over Pillow's decompression-bomb limit",
            f"at most {Image.MAX_IMAGE_PIXELS} pixels",
        )
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(array))
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        return Image.fromarray(np.ascontiguousarray(array))
    raise InputError(
        subject, f"array shape is {array.shape}", "(H, W) or (H, W, C) with C in 1, 3, 4 (channels last, RGB order)"
    )


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB the way transformers' ``convert_to_rgb`` does it (alpha composited onto white). That
    includes RGB images with a transparency colour key (PNG tRNS): its pixels become white."""
    if image.mode == "RGB" and image.info.get("transparency") is None:
        return image
    if image.mode in _SIXTEEN_BIT:
        data = np.asarray(image).astype(np.int64)
        data = (np.clip(data, 0, 65535) >> 8).astype(np.uint8)
        return Image.fromarray(data).convert("RGB")
    if image.mode == "F":
        raise InputError(
            "image",
            "mode F (32-bit float) has no defined range",
            "an 8- or 16-bit image; scale float data to uint8 first",
        )
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
        """One image as the graph's float32 CHW input."""
        return self.normalize(self.resized(item))

    def resized(self, item) -> np.ndarray:
        """One image decoded, made RGB and resized per the contract: uint8 HWC at the model's size
        (``normalize`` of it is ``one(item)``; feeding it back to the Preprocessor gives the same
        pixels, which is how saved reference outputs are checked on another host)."""
        cfg = self.config
        image = open_image(item)
        if cfg.convert_rgb:
            try:
                image = to_rgb(image)
            except IJepaDeployError as exc:
                raise exc.restated(_describe(item)) from None
        elif image.mode != "RGB":
            raise InputError(_describe(item), f"image mode is {image.mode}", "RGB (convert_rgb is off)")
        if cfg.do_resize:
            if image.size != (cfg.width, cfg.height):
                image = image.resize((cfg.width, cfg.height), resample=self._resample)
        elif image.size != (cfg.width, cfg.height):
            raise InputError(
                _describe(item),
                f"image is {image.size[0]}x{image.size[1]}",
                f"{cfg.width}x{cfg.height} (resizing is off in this contract)",
            )
        return np.asarray(image)

    def normalize(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 HWC at the model's size -> the graph's float32 CHW input (rescale, normalise)."""
        cfg = self.config
        if cfg.do_rescale:
            # float64 first, then float32: the order transformers' rescale() uses.
            pixels = (pixels.astype(np.float64) * cfg.rescale_factor).astype(np.float32)
        else:
            pixels = pixels.astype(np.float32)
        if cfg.do_normalize:
            pixels = (pixels - self._mean) / self._std
        return np.ascontiguousarray(pixels.transpose(2, 0, 1))

    def __call__(self, items: Iterable | ImageLike) -> np.ndarray:
        single = isinstance(items, (str, os.PathLike, bytes, bytearray, memoryview, Image.Image)) or (
            isinstance(items, np.ndarray) and items.ndim in (2, 3)
        )
        if single:
            items = [items]
        elif isinstance(items, np.ndarray):
            if items.ndim != 4:
                raise InputError(
                    _describe(items),
                    f"array has {items.ndim} dimension(s)",
                    "one image (H, W) or (H, W, C), or a batch (N, H, W, C) of uint8 pixels",
                )
            items = list(items)
        elif isinstance(items, Mapping) or not isinstance(items, Iterable):
            raise InputError(
                "images",
                f"got a {type(items).__name__}",
                "an image (path, bytes, PIL image, uint8 array) or a list of them",
            )
        else:
            items = list(items)
        if len(items) == 0:
            raise InputError("images", "no images given", "at least one image")
        batch = []
        for i, item in enumerate(items):
            try:
                batch.append(self.one(item))
            except IJepaDeployError as exc:
                if single or len(items) == 1:
                    raise
                raise exc.restated(f"images[{i}] {exc.subject}") from None
        return np.stack(batch)
