"""Preprocessing matches transformers' ViTImageProcessor (PIL path) on real photos and every
Pillow mode a user can hand in; bad inputs give one clear error each."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from ijepa_deploy.contract import PreprocessConfig
from ijepa_deploy.errors import InputError
from ijepa_deploy.runtime.preprocess import Preprocessor

skdata = pytest.importorskip("skimage.data")

PHOTOS = ("chelsea", "coffee", "astronaut")


def hf_processor(height=224, width=224, resample=2):
    from transformers.models.vit import ViTImageProcessorPil

    return ViTImageProcessorPil(
        size={"height": height, "width": width},
        resample=resample,
        image_mean=[0.5] * 3,
        image_std=[0.5] * 3,
        do_convert_rgb=True,
    )


def with_alpha(image: Image.Image) -> Image.Image:
    rgba = np.array(image.convert("RGBA"))
    rgba[..., 3] = np.linspace(0, 255, rgba.shape[1]).astype(np.uint8)[None, :]
    return Image.fromarray(rgba)


def sixteen_bit(image: Image.Image) -> Image.Image:
    grey = np.array(image.convert("L")).astype(np.uint16) * 257 + 3
    return Image.fromarray(grey)  # mode I;16


def modes(photo: Image.Image) -> dict[str, Image.Image]:
    palette_transparent = photo.convert("P")
    palette_transparent.info["transparency"] = 0
    return {
        "RGB": photo,
        "RGBA": with_alpha(photo),
        "L": photo.convert("L"),
        "LA": with_alpha(photo).convert("LA"),
        "P": photo.convert("P"),
        "P+transparency": palette_transparent,
        "CMYK": photo.convert("CMYK"),
        "1": photo.convert("1"),
        "I;16": sixteen_bit(photo),
    }


@pytest.mark.parametrize("photo_name", PHOTOS)
def test_matches_transformers_on_every_mode(photo_name):
    photo = Image.fromarray(getattr(skdata, photo_name)())
    ours = Preprocessor(PreprocessConfig(224, 224))
    reference = hf_processor()
    for mode, image in modes(photo).items():
        if mode == "I;16":
            assert image.mode == "I;16"
            # Documented difference: we scale 16-bit to 8-bit; transformers (Pillow) clips at 255.
            ref_input = Image.fromarray((np.array(image) >> 8).astype(np.uint8))
        else:
            ref_input = image
        ref = reference(ref_input, return_tensors="np")["pixel_values"][0]
        got = ours([image])[0]
        assert got.dtype == np.float32 and got.shape == (3, 224, 224), mode
        assert np.abs(ref - got).max() <= 1e-6, mode


def test_sixteen_bit_is_not_clipped_white():
    photo = Image.fromarray(skdata.camera())
    got = Preprocessor(PreprocessConfig(224, 224))([sixteen_bit(photo)])[0]
    assert got.std() > 0.2  # Pillow's own conversion would give a nearly constant (white) image


def test_448_contract_and_bicubic_match_transformers():
    photo = Image.fromarray(skdata.coffee())
    cfg = PreprocessConfig(448, 448, resample="bicubic")
    ref = hf_processor(448, 448, resample=3)(photo, return_tensors="np")["pixel_values"][0]
    assert np.abs(Preprocessor(cfg)([photo])[0] - ref).max() <= 1e-6


def test_inputs_of_every_kind_agree(tmp_path):
    photo = Image.fromarray(skdata.chelsea())
    path = tmp_path / "cat.png"
    photo.save(path)
    pre = Preprocessor(PreprocessConfig(224, 224))
    batch = pre([str(path), path, path.read_bytes(), photo, np.array(photo)])
    assert batch.shape == (5, 3, 224, 224)
    for row in batch[1:]:
        assert np.array_equal(row, batch[0])
    grey = np.array(photo.convert("L"))
    assert np.array_equal(pre([grey])[0], pre([grey[..., None]])[0])
    assert np.array_equal(pre(photo), batch[:1])  # a single image is a batch of one


def test_from_hf_preprocessor_config(tmp_path):
    hf_processor(448, 448, resample=3).save_pretrained(tmp_path)
    cfg = PreprocessConfig.from_pretrained_dir(tmp_path, fallback_size=224)
    assert (cfg.height, cfg.width, cfg.resample) == (448, 448, "bicubic")
    assert cfg.image_mean == (0.5, 0.5, 0.5) and cfg.rescale_factor == pytest.approx(1 / 255)
    assert PreprocessConfig.from_dict(cfg.to_dict()) == cfg


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


def _jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(skdata.chelsea()).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.mark.parametrize(
    "case, content, problem",
    [
        ("text.jpg", b"this is not an image\n" * 10, "not an image"),
        ("empty.png", b"", "empty"),
        ("truncated.jpg", None, "truncated"),
        ("bomb.png", _png_header_only(40000, 40000), "decompression bomb"),
    ],
)
def test_bad_files_give_one_clear_error(tmp_path, case, content, problem):
    path = tmp_path / case
    path.write_bytes(content if content is not None else _jpeg_bytes()[:3000])
    with pytest.raises(InputError) as err:
        Preprocessor(PreprocessConfig(224, 224))([path])
    assert err.value.subject == str(path)
    assert problem in err.value.problem
    assert err.value.expected


def test_bomb_limit_is_pillows(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (120, 120)).save(path)  # between 1x and 2x: Pillow only warns
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100 * 100)
    with pytest.warns(Image.DecompressionBombWarning), pytest.raises(InputError, match="decompression-bomb limit"):
        Preprocessor(PreprocessConfig(224, 224))([path])


@pytest.mark.parametrize(
    "item, problem",
    [
        (np.zeros((32, 32, 3), dtype=np.float32), "dtype is float32"),
        (np.zeros((32, 32, 2), dtype=np.uint8), "shape is (32, 32, 2)"),
        (np.zeros((2, 2, 32, 32, 3), dtype=np.uint8), "shape"),
        (12345, "unsupported input type"),
        ("/nonexistent/cat.jpg", "no such file"),
        (b"", "0 bytes"),
    ],
)
def test_bad_items(item, problem):
    with pytest.raises(InputError) as err:
        Preprocessor(PreprocessConfig(224, 224))([item])
    assert problem in err.value.problem


def test_empty_batch_and_float_mode():
    pre = Preprocessor(PreprocessConfig(224, 224))
    with pytest.raises(InputError, match="no images"):
        pre([])
    with pytest.raises(InputError, match="mode F"):
        pre([Image.new("F", (8, 8))])
