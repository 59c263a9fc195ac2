"""The runtime as a hostile user probes it: every image or array that cannot give a meaningful
embedding is one IJepaDeployError naming the item; every file Pillow cannot decode, whatever its
decoder raises, is a user error naming the file; a corpus of every format and mode Pillow writes
matches transformers' processor except where documented (16-bit)."""

from __future__ import annotations

import functools
import io
import random
import struct

import numpy as np
import pytest
from PIL import Image

from ijepa_deploy.contract import PreprocessConfig
from ijepa_deploy.errors import IJepaDeployError, InputError
from ijepa_deploy.runtime import load
from ijepa_deploy.runtime.photos import bundled_images
from ijepa_deploy.runtime.preprocess import Preprocessor

PHOTO = bundled_images()[0]
OK = np.zeros((8, 8, 3), np.uint8)


@pytest.fixture(scope="module")
def pre():
    return Preprocessor(PreprocessConfig(height=32, width=32))


@pytest.mark.parametrize(
    "items, subject, problem",
    [
        (np.zeros((0, 0, 3), np.uint8), "<array uint8 (0, 0, 3)>", "zero-size dimension"),
        (np.zeros((5, 0), np.uint8), "<array uint8 (5, 0)>", "zero-size dimension"),
        (np.zeros((4, 4), bool), "<array bool (4, 4)>", "array dtype is bool"),
        (np.zeros((4, 4, 3), np.uint16), "<array uint16 (4, 4, 3)>", "array dtype is uint16"),
        (np.zeros((4, 4, 3), np.float32), "<array float32 (4, 4, 3)>", "array dtype is float32"),
        (np.zeros((4, 4, 2), np.uint8), "<array uint8 (4, 4, 2)>", "array shape is (4, 4, 2)"),
        (np.zeros(5, np.uint8), "<array uint8 (5,)>", "array has 1 dimension(s)"),
        (
            np.lib.stride_tricks.as_strided(np.zeros(1, np.uint8), (20000, 20000), (0, 0)),
            "<array uint8 (20000, 20000)>",
            "decompression-bomb limit",
        ),
        ([OK, None], "images[1] <NoneType>", "unsupported input type NoneType"),
        ([str(PHOTO), OK, np.zeros((0, 3, 3), np.uint8)], "images[2] <array uint8 (0, 3, 3)>", "zero-size"),
        (Image.new("RGB", (0, 0)), "<Image>", "image is 0x0 pixels"),
        ({"a": OK}, "images", "got a dict"),
        (5, "images", "got a int"),
        ([], "images", "no images given"),
        (np.zeros((0, 8, 8, 3), np.uint8), "images", "no images given"),
        (memoryview(b""), "<0 bytes>", "no image data"),
    ],
)
def test_meaningless_images_are_user_errors_naming_the_item(pre, items, subject, problem):
    with pytest.raises(InputError) as info:
        pre(items)
    assert info.value.subject == subject and problem in info.value.problem


def test_bytes_like_strided_and_lazy_inputs_are_images(pre):
    data = PHOTO.read_bytes()
    want = pre(data)
    np.testing.assert_array_equal(pre(bytearray(data)), want)
    np.testing.assert_array_equal(pre(memoryview(data)), want)
    np.testing.assert_array_equal(pre([memoryview(data), bytearray(data)]), np.concatenate([want, want]))
    np.testing.assert_array_equal(pre(Image.open(io.BytesIO(data))), want)  # not yet loaded
    array = np.asarray(Image.open(PHOTO).convert("RGB"))
    np.testing.assert_array_equal(pre(array[::-1, ::2]), pre(np.ascontiguousarray(array[::-1, ::2])))
    np.testing.assert_array_equal(pre(x for x in [array, array]), pre(np.stack([array, array])))


def test_run_refuses_non_finite_and_empty_batches(tiny_artifact):
    with load(tiny_artifact) as model:
        pixels = np.zeros((3, 3, 224, 224), np.float32)
        pixels[1, 0, 5, 5] = np.nan
        pixels[2, 2, 0, 0] = -np.inf
        with pytest.raises(InputError) as info:
            model.run(pixels)
        assert info.value.subject == "input pixel_values" and "batch item(s) [1, 2] contain NaN" in info.value.problem
        with pytest.raises(InputError, match="batch size 0 is outside"):
            model.run(np.zeros((0, 3, 224, 224), np.float32))
        strided = np.zeros((2, 3, 224, 448), np.float32)[..., ::2]
        assert model.run(strided)["embedding"].shape == (2, 192)


# -- decoders ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raised",
    [
        NotImplementedError("unknown compression"),
        struct.error("unpack requires"),
        EOFError(),
        MemoryError(),
        RuntimeError("libavif: missing item"),
        IndexError("list index"),
        KeyError("tag"),
        ZeroDivisionError(),
    ],
)
def test_every_decoder_failure_is_a_user_error_naming_the_file(tmp_path, monkeypatch, pre, raised):
    path = tmp_path / "odd.png"
    Image.new("RGB", (4, 4)).save(path)

    real_open = Image.open

    class Broken:
        size = (4, 4)

        def load(self):
            raise raised

    monkeypatch.setattr(
        Image, "open", lambda source, *a: Broken() if str(source).endswith("odd.png") else real_open(source, *a)
    )
    with pytest.raises(InputError) as info:
        pre([str(PHOTO), str(path)])
    assert info.value.subject == f"images[1] {path}" and type(raised).__name__ in info.value.problem


def photo(size=(64, 48)) -> Image.Image:
    skimage_data = pytest.importorskip("skimage.data")
    return Image.fromarray(skimage_data.chelsea()).resize(size)


@functools.cache
def corpus() -> tuple[tuple[str, str, bytes], ...]:
    """Every (format, mode) Pillow here can write, from a real photo; alpha with clear, half and
    opaque rows; PNGs with a transparency colour key (tRNS) in L, P and RGB."""
    Image.init()
    base = photo()
    alpha = np.asarray(base.convert("RGBA")).copy()
    alpha[:12, :, 3], alpha[12:20, :, 3] = 0, 128
    rgba = Image.fromarray(alpha)
    sixteen = Image.fromarray(np.asarray(base.convert("L")).astype(np.uint16) * 257)
    sources = {
        "1": base.convert("1"),
        "L": base.convert("L"),
        "LA": rgba.convert("LA"),
        "P": base.convert("P"),
        "PA": rgba.convert("PA"),
        "RGB": base,
        "RGBA": rgba,
        "CMYK": base.convert("CMYK"),
        "YCbCr": base.convert("YCbCr"),
        "I;16": sixteen,
        "I": sixteen.convert("I"),
        "F": base.convert("F"),
    }
    files = []
    for fmt in sorted(set(Image.SAVE)):
        for mode, image in sources.items():
            buffer = io.BytesIO()
            try:
                image.save(buffer, fmt)
            except Exception:  # this format cannot hold this mode: not part of the corpus
                continue
            files.append((fmt, mode, buffer.getvalue()))
    for mode, key in (
        ("RGB", tuple(int(v) for v in np.asarray(base)[0, 0])),
        ("L", int(np.asarray(base.convert("L"))[0, 0])),
        ("P", int(np.asarray(base.convert("P"))[0, 0])),
    ):
        buffer = io.BytesIO()
        base.convert(mode).save(buffer, "PNG", transparency=key)
        files.append(("PNG-tRNS", mode, buffer.getvalue()))
    return tuple(files)


def test_corpus_matches_transformers_except_16_bit(pre):
    from transformers import ViTImageProcessorPil

    processor = ViTImageProcessorPil()
    pre = Preprocessor(PreprocessConfig(height=224, width=224))
    files = corpus()
    assert len(files) > 120 and sum(f == "PNG-tRNS" for f, _, _ in files) == 3
    checked, refused = 0, []
    for fmt, mode, data in files:
        try:
            ours = pre(data)
        except IJepaDeployError as exc:
            refused.append((fmt, mode, exc.problem))
            continue
        decoded = Image.open(io.BytesIO(data))
        theirs = processor(decoded, return_tensors="np", do_convert_rgb=True)["pixel_values"]
        if decoded.mode in ("I;16", "I;16B", "I;16L", "I"):  # the documented difference (see preprocess.py)
            continue
        np.testing.assert_allclose(ours, theirs, atol=1e-6, err_msg=f"{fmt} {mode} (decoded as {decoded.mode})")
        checked += 1
    assert checked > 100
    for fmt, mode, problem in refused:  # only what has no meaning or needs a missing tool
        assert "mode F" in problem or "not an image Pillow can decode" in problem or "Ghostscript" in problem, (
            fmt,
            mode,
            problem,
        )


def test_crafted_and_damaged_files_are_user_errors(pre):
    """Truncations and header corruptions of every corpus file (seeded): decoded or refused, never raw."""
    rng = random.Random(8)
    damaged = []
    for fmt, mode, data in corpus():
        cuts = [data[: max(1, int(len(data) * f))] for f in (0.1, 0.6, 0.97)]
        flips = []
        for _ in range(3):
            b = bytearray(data)
            for _ in range(rng.randint(1, 3)):
                b[rng.randrange(min(len(b), 96))] = rng.randrange(256)
            flips.append(bytes(b))
        damaged += [(fmt, mode, d) for d in cuts + flips]
    blp = next(d for f, m, d in corpus() if f == "BLP")
    damaged.append(("BLP", "unknown compression", blp[:4] + struct.pack("<i", 1) + b"\x39" + blp[9:]))
    outcomes = {"decoded": 0, "refused": 0}
    for _fmt, _mode, data in damaged:
        try:
            pre(data)
            outcomes["decoded"] += 1
        except IJepaDeployError as exc:
            assert exc.subject.startswith("<") and exc.subject.endswith("bytes>")
            outcomes["refused"] += 1
    assert outcomes["refused"] > len(damaged) // 3, outcomes
