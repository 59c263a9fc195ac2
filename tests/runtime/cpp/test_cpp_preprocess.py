"""C++ preprocessing vs the Python runtime's Preprocessor on real photos in every mode."""

from __future__ import annotations

import numpy as np
import pytest
from photos import write_photo_set
from PIL import Image

from ijepa_deploy.contract import PreprocessConfig
from ijepa_deploy.runtime.preprocess import Preprocessor


@pytest.fixture(scope="module")
def photo_set(tmp_path_factory):
    return write_photo_set(tmp_path_factory.mktemp("photos"))


def _to_uint8(tensor: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """Invert rescale + normalise: the resized uint8 pixels the tensor came from."""
    mean = np.asarray(cfg.image_mean, dtype=np.float64)[:, None, None]
    std = np.asarray(cfg.image_std, dtype=np.float64)[:, None, None]
    return np.round((tensor.astype(np.float64) * std + mean) / cfg.rescale_factor).astype(np.int64)


def test_preprocessing_matches_python(cpp_build, tiny_artifact, photo_set, tmp_path):
    from ijepa_deploy.manifest import read_manifest

    cfg = read_manifest(tiny_artifact).preprocessing
    names = sorted(photo_set)
    out = tmp_path / "pixels.bin"
    cpp_build.run("preprocess", tiny_artifact, out, *[photo_set[n] for n in names], check=True)
    got = np.fromfile(out, dtype=np.float32).reshape(len(names), 3, cfg.height, cfg.width)
    expected = Preprocessor(cfg)([photo_set[n] for n in names])
    report = []
    for i, name in enumerate(names):
        max_abs = float(np.abs(got[i] - expected[i]).max())
        differing = int((_to_uint8(got[i], cfg) != _to_uint8(expected[i], cfg)).any(axis=0).sum())
        mode = Image.open(photo_set[name]).mode
        report.append(
            f"{name} ({mode}): max abs {max_abs:.2e}, resized uint8 pixels differing from Pillow: {differing}"
        )
    print("\n".join(report))
    worst = max(float(np.abs(got - expected).max()), 0.0)
    assert worst <= 1e-6, "\n".join(report)
    modes = {Image.open(photo_set[n]).mode for n in names}
    assert {"RGB", "RGBA", "L", "LA", "P", "CMYK", "I;16"} <= modes | {"I;16" if "I" in modes else ""}, modes


def test_encoded_bytes_and_decoded_pixels_agree(cpp_build, tiny_artifact, photo_set, tmp_path):
    """A service may pass encoded bytes or its own decoded RGB buffer: same tensor as the file."""
    path = photo_set["asset-chelsea"]
    rgb = np.asarray(Image.open(path).convert("RGB"))
    raw = tmp_path / "chelsea.rgb"
    raw.write_bytes(rgb.tobytes())
    grey = np.asarray(Image.open(photo_set["l-png-camera"]))
    raw_grey = tmp_path / "camera.l"
    raw_grey.write_bytes(grey.tobytes())
    out = tmp_path / "pixels.bin"
    cpp_build.run(
        "preprocess",
        tiny_artifact,
        out,
        path,
        f"bytes:{path}",
        f"pixels:{rgb.shape[1]}:{rgb.shape[0]}:3:{raw}",
        f"pixels:{grey.shape[1]}:{grey.shape[0]}:1:{raw_grey}",
        check=True,
    )
    got = np.fromfile(out, dtype=np.float32).reshape(4, 3, 224, 224)
    np.testing.assert_array_equal(got[0], got[1])
    np.testing.assert_array_equal(got[0], got[2])
    from ijepa_deploy.manifest import read_manifest

    expected = Preprocessor(read_manifest(tiny_artifact).preprocessing)([grey])
    assert float(np.abs(got[3] - expected[0]).max()) <= 1e-6


def test_448_non_square_contract(cpp_build, tiny_artifact, photo_set, tmp_path):
    """Another contract size (as the 448 px checkpoints): the manifest drives the C++ side too."""
    import json
    import shutil

    art = tmp_path / "art448"
    art.mkdir()
    data = json.loads((tiny_artifact / "ijepa_manifest.json").read_text())
    data["preprocessing"].update(height=448, width=320)
    data["io"]["inputs"][0]["shape"] = ["batch", 3, 448, 320]  # a consistent manifest (the runtime checks)
    (art / "ijepa_manifest.json").write_text(json.dumps(data))
    images = [photo_set["asset-rocket"], photo_set["rgba-png-astronaut"], photo_set["one-pixel"]]
    out = tmp_path / "pixels.bin"
    cpp_build.run("preprocess", art, out, *images, check=True)
    got = np.fromfile(out, dtype=np.float32).reshape(len(images), 3, 448, 320)
    cfg = PreprocessConfig.from_dict(data["preprocessing"])
    assert float(np.abs(got - Preprocessor(cfg)(images)).max()) <= 1e-6
    shutil.rmtree(art)
