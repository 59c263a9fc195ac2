"""The manifest round-trips as plain JSON and rejects what it cannot trust."""

from __future__ import annotations

import json

import pytest

from ijepa_deploy.contract import PreprocessConfig
from ijepa_deploy.errors import IJepaDeployError
from ijepa_deploy.manifest import MANIFEST_NAME, Manifest, read_manifest, verify_files
from ijepa_deploy.spec import BATCH, export_spec


def make(tmp_path) -> Manifest:
    spec = export_spec("image-classification", hidden_size=8, num_tokens=4, height=32, width=32, num_labels=3)
    m = Manifest(model={"source": "random:tiny"}, task=spec.task, io=spec,
                 preprocessing=PreprocessConfig(32, 32), id2label={"0": "a", "1": "b", "2": "c"})
    (tmp_path / "g.onnx").write_bytes(b"graph")
    m.record_file(tmp_path, "g.onnx", role="onnx-graph")
    return m


def test_round_trip_is_plain_json(tmp_path):
    m = make(tmp_path)
    m.write(tmp_path)
    data = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert data["io"]["inputs"][0]["shape"] == [BATCH, 3, 32, 32]
    import hashlib
    assert data["files"]["g.onnx"]["sha256"] == hashlib.sha256(b"graph").hexdigest()
    back = read_manifest(tmp_path)
    assert back.to_dict() == m.to_dict()
    verify_files(tmp_path, back)


def test_checksum_and_unknown_fields(tmp_path):
    m = make(tmp_path)
    (tmp_path / "g.onnx").write_bytes(b"graph!")
    with pytest.raises(IJepaDeployError, match="checksum mismatch"):
        verify_files(tmp_path, m)
    with pytest.raises(IJepaDeployError, match="not recorded"):
        verify_files(tmp_path, m, ["other.onnx"])
    with pytest.raises(IJepaDeployError, match="unknown fields"):
        PreprocessConfig.from_dict({"height": 1, "width": 1, "colour": "blue"})
    with pytest.raises(IJepaDeployError, match="unknown resample"):
        PreprocessConfig(32, 32, resample="magic")


def test_missing_field_is_a_user_error(tmp_path):
    m = make(tmp_path)
    data = m.to_dict()
    del data["io"]
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(data))
    with pytest.raises(IJepaDeployError, match="missing or has a malformed field"):
        read_manifest(tmp_path)
