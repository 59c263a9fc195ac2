"""The manifest: typed records round-trip through strict JSON, the shipped schema and the
consistency checks reject what cannot be trusted, and no file name leads outside the directory."""

from __future__ import annotations

import hashlib
import json
import math
import os

import pytest

from ijepa_deploy.contract import PreprocessConfig
from ijepa_deploy.errors import ArtifactError
from ijepa_deploy.manifest import MANIFEST_NAME, Manifest, read_manifest, verify_files
from ijepa_deploy.manifest_schema import check_manifest, schema_text
from ijepa_deploy.records import BatchStats, EngineProfile, EngineRecord, OutputParity, ParityResult
from ijepa_deploy.spec import BATCH
from manifest_factory import small_manifest


def written(tmp_path, **kwargs) -> dict:
    manifest = small_manifest(tmp_path, **kwargs)
    manifest.write(tmp_path)
    return json.loads((tmp_path / MANIFEST_NAME).read_text())


def rewrite(tmp_path, data) -> None:
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(data))


def read_error(tmp_path) -> str:
    with pytest.raises(ArtifactError) as err:
        read_manifest(tmp_path)
    return err.value.format()


def test_round_trip_is_plain_json(tmp_path):
    m = small_manifest(tmp_path, task="image-classification", graphs=("fp32", "int8"))
    m.write(tmp_path)
    data = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert data["io"]["inputs"][0]["shape"] == [BATCH, 3, 32, 32]
    assert data["files"]["model_fp32.onnx"]["sha256"] == hashlib.sha256(b"graph fp32").hexdigest()
    assert data["graphs"]["int8"]["for"] == ["onnxruntime"] and "tool" not in data["graphs"]["int8"]
    back = read_manifest(tmp_path)
    assert back == m
    verify_files(tmp_path, back)


def test_non_finite_parity_is_written_as_null_and_read_back(tmp_path):
    """A candidate that produced NaN: the file stays strict JSON (C++ parsers reject NaN)."""
    m = small_manifest(tmp_path, status="failed")
    outputs = {name: OutputParity(math.nan, math.inf, math.inf, 0.99, None, False) for name in m.io.output_names}
    m.parity.append(
        ParityResult(
            "fp32",
            "fp32",
            "onnxruntime-cpu",
            "torch-eager",
            ["a.jpg"],
            [1],
            outputs,
            {"1": {n: BatchStats(math.nan, math.inf) for n in outputs}},
            passed=False,
        )
    )
    m.write(tmp_path)
    text = (tmp_path / MANIFEST_NAME).read_text()
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    embedding = read_manifest(tmp_path).parity[0].outputs["embedding"]
    assert math.isnan(embedding.min_cosine) and embedding.max_abs == math.inf


def test_checksum_and_unknown_fields(tmp_path):
    m = small_manifest(tmp_path)
    (tmp_path / "model_fp32.onnx").write_bytes(b"graph!")
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        verify_files(tmp_path, m)
    with pytest.raises(ArtifactError, match="not recorded"):
        verify_files(tmp_path, m, ["other.onnx"])
    with pytest.raises(ArtifactError, match="unknown fields"):
        PreprocessConfig.from_dict({"height": 1, "width": 1, "colour": "blue"})
    with pytest.raises(ArtifactError, match="unknown resample"):
        PreprocessConfig(32, 32, resample="magic")


@pytest.mark.parametrize("field, value", [("channel_order", "BGR"), ("layout", "NHWC")])
def test_preprocessing_refuses_what_the_runtime_cannot_produce(field, value):
    with pytest.raises(ArtifactError, match=f"{field} '{value}' is not supported"):
        PreprocessConfig(32, 32, **{field: value})


@pytest.mark.parametrize(
    "mutate, field, problem, expected",
    [
        (lambda d: d.pop("io"), "$", "missing key 'io'", "the keys schema_version"),
        (lambda d: d["batch"].update(max=0), "$.batch.max", "0 is out of range", "a value >= 1"),
        (lambda d: d["graphs"].update(fp32=None), "$.graphs.fp32", "null has the wrong type", "an object"),
        (
            lambda d: d["files"]["model_fp32.onnx"].update(sha256=None),
            "$.files['model_fp32.onnx'].sha256",
            "null has the wrong type",
            "a string",
        ),
        (lambda d: d.update(status="shipped"), "$.status", '"shipped" is not allowed', 'one of "exporting"'),
        (lambda d: d["model"].update(extra=1), "$.model", "unknown key 'extra'", "only the keys source"),
        (
            lambda d: d["graphs"]["fp32"].update(file="../model_fp32.onnx"),
            "$.graphs.fp32.file",
            '"../model_fp32.onnx" is not allowed',
            "a file name inside the artifact directory",
        ),
        (
            lambda d: d["files"].update({"/etc/passwd": d["files"]["model_fp32.onnx"]}),
            "$.files['/etc/passwd']",
            'key "/etc/passwd" is not allowed',
            "a file name inside the artifact directory",
        ),
    ],
)
def test_schema_violation_names_the_field(tmp_path, mutate, field, problem, expected):
    data = written(tmp_path)
    mutate(data)
    rewrite(tmp_path, data)
    message = read_error(tmp_path)
    assert message.startswith(
        f"{tmp_path / MANIFEST_NAME} | manifest field {field}: {problem}. Note: expected {expected}"
    ), message
    assert "\n" not in message


def test_a_list_is_not_a_manifest(tmp_path):
    rewrite(tmp_path, [written(tmp_path)])
    assert "manifest field $: " in read_error(tmp_path) and "expected an object" in read_error(tmp_path)


@pytest.mark.parametrize(
    "mutate, field, problem",
    [
        (lambda d: d.update(task="image-classification"), "$.io.task", "differs from the manifest task"),
        (
            lambda d: (
                d["io"].update(task="image-classification", outputs=d["io"]["outputs"][:1])
                or d.update(task="image-classification")
            ),
            "$.io.outputs",
            "do not match task 'image-classification'",
        ),
        (lambda d: d["batch"].update(min=9), "$.batch.max", "8 is below batch.min 9"),
        (lambda d: d["files"].pop("model_fp32.onnx"), "$.graphs['fp32'].file", "is not listed under files"),
        (lambda d: d["preprocessing"].update(height=64), "$.io.inputs", "does not match the preprocessing size"),
        (lambda d: d.update(id2label={"0": "cat"}), "$.id2label", "does not fit task 'feature-extraction'"),
    ],
)
def test_inconsistent_fields_are_user_errors(tmp_path, mutate, field, problem):
    data = written(tmp_path)
    mutate(data)
    rewrite(tmp_path, data)
    assert f"manifest field {field}: " in read_error(tmp_path) and problem in read_error(tmp_path)


def test_openvino_ir_files_must_be_listed_with_their_roles(tmp_path):
    data = written(tmp_path)
    data["graphs"]["fp32"]["openvino_ir"] = {
        "file": "model_fp32.xml",
        "weights": "model_fp32.bin",
        "converter": "openvino 2026.4.1",
    }
    rewrite(tmp_path, data)
    assert "manifest field $.graphs['fp32'].openvino_ir.file: 'model_fp32.xml' is not listed" in read_error(tmp_path)
    digest = {"sha256": "0" * 64, "bytes": 1}
    data["files"].update(
        {
            "model_fp32.xml": {**digest, "role": "openvino-ir"},
            "model_fp32.bin": {**digest, "role": "onnx-external-data"},
        }
    )
    rewrite(tmp_path, data)
    assert (
        "manifest field $.files['model_fp32.bin'].role: 'onnx-external-data'. Note: expected "
        '"openvino-ir-weights"' in read_error(tmp_path)
    )
    data["files"]["model_fp32.bin"]["role"] = "openvino-ir-weights"
    rewrite(tmp_path, data)
    graph = read_manifest(tmp_path).graphs["fp32"]
    assert graph.openvino_files == ["model_fp32.xml", "model_fp32.bin"]
    assert graph.files == ["model_fp32.onnx", *graph.data_files]


def test_passed_status_with_a_failed_parity_is_refused(tmp_path):
    m = small_manifest(tmp_path, status="passed")
    outputs = {n: OutputParity(0.5, 1.0, 0.1, 0.99, None, False) for n in m.io.output_names}
    m.parity.append(
        ParityResult(
            "fp32",
            "fp32",
            "onnxruntime-cpu",
            "torch-eager",
            ["a.jpg"],
            [1],
            outputs,
            {"1": {n: BatchStats(0.5, 1.0) for n in outputs}},
            passed=False,
        )
    )
    with pytest.raises(ArtifactError, match=r"manifest field \$.status: 'passed' but parity result 0"):
        m.write(tmp_path)
    assert not (tmp_path / MANIFEST_NAME).exists()  # refused before anything was written


def with_rows(tmp_path, passed: dict[str, bool]) -> Manifest:
    """An artifact with one parity row per graph in ``passed`` (its verdict), statuses settled."""
    m = small_manifest(tmp_path, graphs=tuple(passed))
    for graph, ok in passed.items():
        cos = 1.0 if ok else 0.5
        outputs = {n: OutputParity(cos, 0.0, 0.0, 0.99, None, ok) for n in m.io.output_names}
        m.parity.append(
            ParityResult(
                graph,
                graph.split("-")[0],
                "onnxruntime-cpu",
                "torch-eager",
                ["a.jpg"],
                [1],
                outputs,
                {"1": {n: BatchStats(cos, 0.0) for n in outputs}},
                passed=ok,
            )
        )
    m.settle_status()
    return m


@pytest.mark.parametrize(
    "passed, status, graphs",
    [
        ({"fp32": True, "int8": True}, "passed", ["passed", "passed"]),
        ({"fp32": True, "int8": False}, "partial", ["passed", "failed"]),
        ({"fp32": False, "int8": True}, "failed", ["failed", "passed"]),
    ],
)
def test_graph_verdicts_and_the_artifact_status(tmp_path, passed, status, graphs):
    m = with_rows(tmp_path, passed)
    assert m.status == status and [g.status for g in m.graphs.values()] == graphs
    m.write(tmp_path)
    assert read_manifest(tmp_path) == m


@pytest.mark.parametrize(
    "mutate, field, problem",
    [
        (
            lambda d: d["graphs"]["int8"].update(status="passed"),
            "$.graphs['int8'].status",
            "'passed' but its parity result 1 (onnxruntime-cpu) failed",
        ),
        (
            lambda d: d["graphs"]["fp32"].update(status="failed"),
            "$.status",
            "'partial' but the fp32 graph did not pass",
        ),
        (lambda d: d.update(status="passed"), "$.status", "'passed' but parity result 1 (int8) failed"),
        (lambda d: d["graphs"]["int8"].update(status="fine"), "$.graphs.int8.status", '"fine" is not allowed'),
    ],
)
def test_graph_verdicts_contradicting_the_rows_are_refused(tmp_path, mutate, field, problem):
    with_rows(tmp_path, {"fp32": True, "int8": False}).write(tmp_path)
    data = json.loads((tmp_path / MANIFEST_NAME).read_text())
    mutate(data)
    rewrite(tmp_path, data)
    assert f"manifest field {field}: " in read_error(tmp_path) and problem in read_error(tmp_path)


def with_engine(tmp_path, status: str | None, checked: bool | None) -> Manifest:
    """A passed artifact with an fp32 engine of ``status``; ``checked`` adds its parity entry
    (passed or not), None leaves it unchecked."""
    m = small_manifest(tmp_path, status="passed")
    (tmp_path / "model_fp32.engine").write_bytes(b"plan")
    m.record_file(tmp_path, "model_fp32.engine", role="tensorrt-engine")
    m.engines["fp32"] = EngineRecord(
        "model_fp32.engine",
        "fp32",
        m.files["model_fp32.onnx"].sha256,
        "fp32",
        "10.13.3.9",
        "Fake GPU",
        "8.6",
        EngineProfile(1, 8, 8),
        status=status,
    )
    if checked is not None:
        cos = 1.0 if checked else 0.5
        outputs = {n: OutputParity(cos, 0.0, 0.0, 0.99, None, checked) for n in m.io.output_names}
        m.parity.append(
            ParityResult(
                "fp32",
                "fp32",
                "tensorrt",
                "torch-eager",
                ["a.jpg"],
                [1],
                outputs,
                {"1": {n: BatchStats(cos, 0.0) for n in outputs}},
                passed=checked,
                engine="model_fp32.engine",
            )
        )
    return m


@pytest.mark.parametrize("status, checked", [("passed", True), ("failed", False), ("unverified", None), (None, None)])
def test_engine_status_and_its_parity_entry_round_trip(tmp_path, status, checked):
    """ijepa-build leaves the artifact's status as the export set it: a failed engine check fails
    the engine, not the graphs ONNX Runtime serves."""
    m = with_engine(tmp_path, status, checked)
    m.write(tmp_path)
    data = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert data["engines"]["fp32"].get("status") == status
    assert [r.get("engine") for r in data["parity"]] == (["model_fp32.engine"] if checked is not None else [])
    assert read_manifest(tmp_path) == m


@pytest.mark.parametrize(
    "mutate, field, problem",
    [
        (lambda d: d["engines"]["fp32"].update(status="maybe"), "$.engines.fp32.status", '"maybe" is not allowed'),
        (
            lambda d: d["engines"]["fp32"].update(status="passed"),
            "$.engines['fp32'].status",
            "'passed' but its parity result 0 failed",
        ),
        (
            lambda d: d["parity"][0].update(engine="model_fp16.engine"),
            "$.parity[0].engine",
            "'model_fp16.engine' is not an engine of this artifact",
        ),
        (lambda d: d["parity"][0].update(engine="../x.engine"), "$.parity[0].engine", '"../x.engine" is not allowed'),
    ],
)
def test_engine_status_contradicting_its_parity_is_refused(tmp_path, mutate, field, problem):
    with_engine(tmp_path, "failed", False).write(tmp_path)
    data = json.loads((tmp_path / MANIFEST_NAME).read_text())
    mutate(data)
    rewrite(tmp_path, data)
    assert f"manifest field {field}: " in read_error(tmp_path) and problem in read_error(tmp_path)


def test_symlink_out_of_the_directory_is_refused_before_hashing(tmp_path):
    art, outside = tmp_path / "art", tmp_path / "secret.onnx"
    art.mkdir()
    outside.write_bytes(b"graph fp32")  # same bytes: the checksum alone would accept it
    small_manifest(art).write(art)
    (art / "model_fp32.onnx").unlink()
    os.symlink(outside, art / "model_fp32.onnx")
    message = read_error(art)
    assert "file name 'model_fp32.onnx' points outside the artifact directory" in message
    with pytest.raises(ArtifactError, match="points outside"):
        verify_files(art, Manifest.from_dict(json.loads((art / MANIFEST_NAME).read_text())))


def test_symlink_inside_the_directory_is_fine(tmp_path):
    small_manifest(tmp_path).write(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "model_fp32.onnx").rename(tmp_path / "sub" / "real.onnx")
    os.symlink(tmp_path / "sub" / "real.onnx", tmp_path / "model_fp32.onnx")
    verify_files(tmp_path, read_manifest(tmp_path))


def test_shipped_schema_is_a_valid_draft_2020_12_schema():
    from jsonschema import Draft202012Validator

    schema = json.loads(schema_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_exported_manifests_pass_the_schema(tiny_artifact, tiny_cls_artifact):
    for directory in (tiny_artifact, tiny_cls_artifact):
        data = json.loads((directory / MANIFEST_NAME).read_text())
        check_manifest(data, str(directory))
        assert read_manifest(directory).to_dict() == data  # the one reader and writer are inverse


def test_records_write_renamed_keys_kept_nulls_and_omit_unset_optionals(tmp_path):
    """The (de)serialisation derived from the dataclass fields keeps the JSON shape exporters have
    always written: ``class`` / ``for`` keys, engine ``hardware_compatibility`` as null, unset
    optional keys absent; and reads it back to equal records."""
    m = small_manifest(tmp_path, graphs=("fp32",))
    model = m.model.to_dict()
    assert model["class"] == m.model.class_name and "class_name" not in model
    unset = [f for f in ("preset", "mirrors", "seed", "architectures", "export_seconds") if getattr(m.model, f) is None]
    assert unset and not set(unset) & set(model) and model["revision"] is None  # revision: always written
    engine = EngineRecord("e.engine", "model.onnx", "0" * 64, "fp16", "10.8", "gpu", "8.6", EngineProfile(1, 2, 4))
    data = engine.to_dict()
    assert data["hardware_compatibility"] is None and data["profile"] == {"min": 1, "opt": 2, "max": 4}
    assert "status" not in data and "build_seconds" not in data and data["version_compatible"] is False
    assert EngineRecord.from_dict(data) == engine and type(EngineRecord.from_dict(data).profile) is EngineProfile
    assert type(m.model).from_dict(model) == m.model
