"""WebP in the C++ runtime (issue 20 item 5): libwebp decodes lossy and lossless, with and without
alpha, and the first frame of an animation, to exactly Pillow's pixels (compared at the photo's own
size, where preprocessing is a per-pixel map, and through the 224 px contract); a truncated WebP is
an ijepa::Error, also under the sanitizers; other formats Pillow reads (BMP, GIF, TIFF) are refused
with a plain error. Skipped, naming the package, on a build without libwebp."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from cpp_helpers import ASSETS

from ijepa_deploy.manifest import MANIFEST_NAME, read_manifest
from ijepa_deploy.runtime.preprocess import Preprocessor

SIZE = 512  # astronaut.jpg is 512 x 512


@pytest.fixture(autouse=True)
def needs_webp(request):
    build = request.getfixturevalue("cpp_asan_build" if "asan" in request.node.name else "cpp_build")
    if "webp" not in build.json("formats")["formats"]:
        pytest.skip("C++ runtime built without WebP: install the Debian package libwebp-dev and rebuild")


@pytest.fixture(scope="module")
def webps(tmp_path_factory):
    from PIL import Image

    d = tmp_path_factory.mktemp("webp")
    rgb = Image.open(ASSETS / "astronaut.jpg").convert("RGB")
    assert rgb.size == (SIZE, SIZE)
    rgba = rgb.copy()
    rgba.putalpha(Image.fromarray((np.asarray(rgb.convert("L")) // 2 + 64).astype(np.uint8)))  # partial alpha
    rgb.save(d / "lossy.webp", quality=80)
    rgb.save(d / "lossless.webp", lossless=True)
    rgba.save(d / "lossy-alpha.webp", quality=70)
    rgba.save(d / "lossless-alpha.webp", lossless=True)
    second = Image.open(ASSETS / "coffee.jpg").convert("RGB").resize(rgb.size)
    rgb.save(d / "animated.webp", save_all=True, append_images=[second], duration=100, quality=90)
    assert Image.open(d / "lossy-alpha.webp").mode == "RGBA" and Image.open(d / "animated.webp").n_frames == 2
    return d


NAMES = ["lossy.webp", "lossless.webp", "lossy-alpha.webp", "lossless-alpha.webp", "animated.webp"]


def _native_size_artifact(tiny_artifact, dst):
    """The tiny artifact's manifest at the photo's size: preprocessing maps each pixel on its own."""
    shutil.copytree(tiny_artifact, dst)
    data = json.loads((dst / MANIFEST_NAME).read_text())
    data["preprocessing"].update(height=SIZE, width=SIZE)
    data["io"]["inputs"][0]["shape"] = ["batch", 3, SIZE, SIZE]
    (dst / MANIFEST_NAME).write_text(json.dumps(data))
    return dst


@pytest.mark.parametrize("native", [True, False], ids=["512px", "224px"])
def test_webp_equals_pillow(cpp_build, tiny_artifact, webps, tmp_path, native):
    art = _native_size_artifact(tiny_artifact, tmp_path / "art") if native else tiny_artifact
    paths = [webps / n for n in NAMES]
    out = tmp_path / "pixels.bin"
    cpp_build.run("preprocess", art, out, *paths, *[f"bytes:{p}" for p in paths], check=True)
    expected = Preprocessor(read_manifest(art).preprocessing)(paths)
    got = np.fromfile(out, dtype=np.float32).reshape(2 * len(paths), *expected.shape[1:])
    for i, name in enumerate(NAMES):
        assert np.abs(got[i] - expected[i]).max() == 0, name
        assert np.abs(got[len(paths) + i] - expected[i]).max() == 0, f"{name} (bytes)"


def test_webp_embeddings_equal_python(cpp_build, tiny_artifact, webps, tmp_path):
    from ijepa_deploy.runtime import load

    paths = [webps / n for n in NAMES]
    info = cpp_build.json("run", tiny_artifact, "openvino", "fp32", tmp_path / "e.bin", *paths)
    got = np.fromfile(tmp_path / "e.bin", dtype=np.float32).reshape(info["shape"]).astype(np.float64)
    with load(tiny_artifact, backend="openvino") as model:
        expected = model.embed(paths).astype(np.float64)
    cos = (got * expected).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(expected, axis=1)
    assert cos.min() >= 0.99999, cos


@pytest.mark.parametrize("build_name", ["release", "asan"])
def test_bad_webp_and_other_formats_are_errors(request, tiny_artifact, webps, tmp_path, build_name):
    from PIL import Image

    build = request.getfixturevalue("cpp_build" if build_name == "release" else "cpp_asan_build")
    data = (webps / "lossy-alpha.webp").read_bytes()
    cases = {
        "truncated.webp": data[: len(data) // 2],
        "header-only.webp": data[:30],
        "bad-chunk.webp": data[:12] + b"\x00" * 64 + data[76:],
    }
    for name, payload in cases.items():
        (tmp_path / name).write_bytes(payload)
        proc = build.run("preprocess", tiny_artifact, tmp_path / "o.bin", tmp_path / name)
        assert proc.returncode == 3, (name, proc.returncode, proc.stderr)
        assert "corrupt or truncated (WebP" in proc.stderr, (name, proc.stderr)
    rgb = Image.open(ASSETS / "chelsea.jpg").convert("RGB")
    for fmt in ("BMP", "GIF", "TIFF"):
        path = tmp_path / f"x.{fmt.lower()}"
        rgb.save(path, fmt)
        proc = build.run("preprocess", tiny_artifact, tmp_path / "o.bin", path)
        assert proc.returncode == 3, proc.stderr
        assert proc.stderr.strip() == (
            f"{path} | not an image the C++ runtime can decode. Note: expected a JPEG, PNG "
            "or WebP file (decode other formats yourself and pass RGB pixels)"
        )
