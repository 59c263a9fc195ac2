"""Bad inputs: each a clear ijepa::Error (driver exit 3, "subject | problem. Note: expected ..."),
never a crash; run on the normal build and under AddressSanitizer + UndefinedBehaviorSanitizer."""

from __future__ import annotations

import json
import shutil

import pytest
from cpp_helpers import ASSETS

CHELSEA = ASSETS / "chelsea.jpg"


def _expect_error(build, args, *fragments):
    proc = build.run(*args)
    assert proc.returncode == 3, f"exit {proc.returncode} (want 3 = ijepa::Error)\n{proc.stdout}\n{proc.stderr}"
    message = proc.stderr.strip().splitlines()[-1]
    assert " | " in message and ". Note: expected " in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    jpeg, png = CHELSEA.read_bytes(), None
    from PIL import Image

    Image.open(CHELSEA).save(d / "ok.png")
    png = (d / "ok.png").read_bytes()
    (d / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (d / "truncated.png").write_bytes(png[: len(png) // 2])
    corrupt = bytearray(jpeg)
    corrupt[200:800] = b"\x00" * 600  # wipes the quantisation / Huffman tables
    (d / "corrupt.jpg").write_bytes(bytes(corrupt))
    bad_crc = bytearray(png)
    bad_crc[40] ^= 0xFF  # inside IHDR / first chunk: CRC mismatch
    (d / "corrupt.png").write_bytes(bytes(bad_crc))
    (d / "notes.txt").write_text("not an image\n")
    (d / "empty.jpg").write_bytes(b"")
    (d / "header-only.jpg").write_bytes(jpeg[:2])
    return d


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("truncated.jpg", "corrupt or truncated"),
        ("truncated.png", "corrupt or truncated"),
        ("corrupt.jpg", "corrupt or truncated"),
        ("corrupt.png", "corrupt or truncated"),
        ("notes.txt", "not an image"),
        ("empty.jpg", "empty (0 bytes)"),
        ("header-only.jpg", "not an image"),
        ("missing.jpg", "no such file"),
    ],
)
def test_bad_image_files(any_build, tiny_artifact, bad_files, tmp_path, name, fragment):
    _expect_error(
        any_build,
        ["preprocess", tiny_artifact, tmp_path / "o.bin", CHELSEA, bad_files / name],
        str(bad_files / name),
        fragment,
    )


def test_bad_bytes_and_pixels(any_build, tiny_artifact, bad_files, tmp_path):
    _expect_error(
        any_build,
        ["preprocess", tiny_artifact, tmp_path / "o.bin", f"bytes:{bad_files / 'truncated.jpg'}"],
        "bytes>",
        "corrupt or truncated",
    )
    raw = tmp_path / "two.raw"
    raw.write_bytes(bytes(2 * 2 * 2))
    _expect_error(
        any_build,
        ["preprocess", tiny_artifact, tmp_path / "o.bin", f"pixels:2:2:2:{raw}"],
        "2 channels",
        "C in 1, 3, 4",
    )


def _copy_artifact(src, dst, **changes):
    shutil.copytree(src, dst)
    manifest = dst / "ijepa_manifest.json"
    data = json.loads(manifest.read_text())
    data.update(changes)
    manifest.write_text(json.dumps(data))
    return dst


def test_tampered_model_file(any_build, tiny_artifact, tmp_path):
    art = _copy_artifact(tiny_artifact, tmp_path / "art")
    graph = art / "model.bin"  # the weights of the IR OpenVINO opens
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0x01
    graph.write_bytes(bytes(data))
    _expect_error(any_build, ["load", art, "openvino", "fp32"], "model.bin", "checksum mismatch")


def test_unknown_schema_version(any_build, tiny_artifact, tmp_path):
    art = _copy_artifact(tiny_artifact, tmp_path / "art", schema_version=99)
    _expect_error(any_build, ["load", art, "openvino", "fp32"], "schema_version is 99", "expected 1")


def test_status_failed_is_refused_unless_allowed(any_build, tiny_artifact, tmp_path):
    art = _copy_artifact(tiny_artifact, tmp_path / "art", status="failed")
    _expect_error(any_build, ["load", art, "openvino", "fp32"], "status is 'failed'", "allow_unverified")


def test_status_failed_loads_when_allowed(cpp_build, tiny_artifact, tmp_path):
    art = _copy_artifact(tiny_artifact, tmp_path / "art", status="failed")
    assert cpp_build.json("load", art, "openvino", "fp32", "allow-unverified")["variant"] == "fp32"


def test_bad_artifacts(any_build, tiny_artifact, tmp_path):
    _expect_error(any_build, ["load", tmp_path / "nowhere", "openvino", "fp32"], "does not exist")
    (tmp_path / "empty").mkdir()
    _expect_error(any_build, ["load", tmp_path / "empty", "openvino", "fp32"], "no ijepa_manifest.json")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "ijepa_manifest.json").write_text('{"schema_version": 1, ')
    _expect_error(any_build, ["load", broken, "openvino", "fp32"], "not valid JSON")
    (broken / "ijepa_manifest.json").write_text('{"schema_version": 1, "status": "passed"}')
    _expect_error(any_build, ["load", broken, "openvino", "fp32"], "manifest field $: missing key 'model'")
    _expect_error(any_build, ["load", tiny_artifact, "openvino", "fp16"], "no fp16 graph")
    _expect_error(any_build, ["load", tiny_artifact, "tensorrt", "fp32"], "no fp32 TensorRT engine", "ijepa-build")
    _expect_error(any_build, ["load", tiny_artifact, "onnxruntime", "fp32"], "unknown backend")
    missing = _copy_artifact(tiny_artifact, tmp_path / "missing")
    (missing / "model.xml").unlink()
    _expect_error(any_build, ["load", missing, "openvino", "fp32"], "artifact file is missing")


def test_zero_images(any_build, tiny_artifact, tmp_path):
    _expect_error(any_build, ["preprocess", tiny_artifact, tmp_path / "o.bin"], "no images given")


def test_wrong_task_and_chunking(cpp_build, tiny_artifact, tiny_cls_artifact, tmp_path):
    _expect_error(
        cpp_build, ["concurrency", tiny_cls_artifact, "fp32", "1", "1", CHELSEA], "task is image-classification"
    )
    info = cpp_build.json("run", tiny_artifact, "openvino", "fp32", tmp_path / "e.bin", *([CHELSEA] * 10))
    assert info["shape"] == [10, 192] and info["max_batch"] == 8


@pytest.mark.parametrize(
    "change, words",
    [
        (
            {"batch": {"min": 1, "max": 2**33}},
            "manifest field $.batch.max: 8589934592 is out of range. Note: expected a value <= 2147483647",
        ),
        (
            {"batch": {"min": 1, "max": 1e300}},
            "manifest field $.batch.max: 1e+300 has the wrong type. Note: expected an integer",
        ),
        (
            {"batch": {"min": 1, "max": 2**64 - 1}},
            "manifest field $.batch.max: 18446744073709551615 has the wrong type",
        ),
    ],
)
def test_numbers_the_cpp_runtime_cannot_hold_are_refused(any_build, tiny_artifact, tmp_path, change, words):
    """Beyond the schema (which Python's integers always fit): C++ holds batch sizes and image sizes
    as int, so larger values are refused by name, never truncated."""
    art = _copy_artifact(tiny_artifact, tmp_path / "art", **change)
    _expect_error(any_build, ["load", art, "openvino", "fp32"], words)
