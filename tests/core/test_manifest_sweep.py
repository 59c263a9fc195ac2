"""Property-style sweep: seeded random corruptions of a valid manifest (wrong types, nulls, missing
keys, hostile file names, symlinks out, broken ranges, task/outputs mismatches). Each must be a
one-line IJepaDeployError from load(), exit 1 without a traceback from ijepa-embed, ijepa-build
and ijepa-bench, and no file outside the artifact directory may be opened on the way."""

from __future__ import annotations

import copy
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ijepa_deploy.cli import bench, build, embed
from ijepa_deploy.errors import IJepaDeployError
from ijepa_deploy.manifest import MANIFEST_NAME, sha256_file
from ijepa_deploy.runtime import load
from ijepa_deploy.runtime.photos import bundled_images

SEED, CASES = 20261122, 300
# Subtrees whose contents are provenance kept as written (any JSON is valid inside them).
FREE_FORM = {"export_seconds", "versions", "tool", "calibration", "quantization", "ops"}
# Keys that may hold null, and keys that may be absent: deleting / nulling these is no corruption.
NULLABLE = {"revision", "hardware_compatibility", "max_abs_threshold", "min_cosine", "max_abs", "mean_abs", "id2label"}
OPTIONAL = {
    "created",
    "preset",
    "mirrors",
    "seed",
    "architectures",
    "export_peak_rss_gib",
    "export_seconds",
    "tool",
    "calibration",
    "quantization",
    "seconds",
    "peak_rss_gib",
    "separate_process",
    "retrieval",
    "build_seconds",
    "openvino_ir",
}  # without an IR, OpenVINO runs the ONNX graph
# Maps keyed by name, where removing an entry is a legitimate edit (a graph dropped with its files kept).
DROPPABLE_MAPS = {"graphs", "engines"}
STRINGS_ANY = {"created", "weights", "converter", "source", "position_embeddings", "gpu_name", "backend", "reference"}
HOSTILE_NAMES = [
    "../model.onnx",
    "/etc/passwd",
    "sub/../../x.onnx",
    "../outside/secret.onnx",
    "./model.onnx",
    "a//b.onnx",
    "..",
    "C:\\x.onnx",
]
OTHER_KINDS = [None, 7, "x", True, [], {}, [None], {"k": None}]

_opened: list[str] = []
_watching = [False]


def _audit(event, args):
    if _watching[0] and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        _opened.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)  # hooks cannot be removed; this one only records while a sweep watches


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def _nodes(data, path=()):
    """(path, value, parent key) of every node outside the free-form subtrees."""
    yield path, data
    if isinstance(data, dict):
        for key, value in data.items():
            if key not in FREE_FORM:
                yield from _nodes(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _nodes(value, (*path, i))


def _parent(data, path):
    for part in path[:-1]:
        data = data[part]
    return data


def _last_key(path) -> str:
    return next((p for p in reversed(path) if isinstance(p, str)), "")


def _type_corruption(data, rng):
    candidates = [(p, v) for p, v in _nodes(data) if p and not (p[-1] == "notes" or (len(p) > 1 and p[-2] == "notes"))]
    while True:
        path, value = rng.choice(candidates)
        key = _last_key(path)
        choices = [
            o
            for o in OTHER_KINDS
            if _kind(o) != _kind(value)
            and not (o is None and key in NULLABLE)
            and not (key in STRINGS_ANY and isinstance(o, str))
            and not (key == "id2label" and isinstance(o, dict) and o)
        ]
        if isinstance(path[-1], str) and path[-2:-1] and path[-2] in DROPPABLE_MAPS:
            choices = [o for o in choices if not isinstance(o, dict)]
        if choices:
            _parent(data, path)[path[-1]] = copy.deepcopy(rng.choice(choices))
            return f"type {path} -> {_parent(data, path)[path[-1]]!r}"


def _delete_corruption(data, rng):
    candidates = [
        p
        for p, v in _nodes(data)
        if p
        and isinstance(p[-1], str)
        and p[-1] not in OPTIONAL
        and not (len(p) > 1 and p[-2] in DROPPABLE_MAPS)
        and not (p[0] in DROPPABLE_MAPS and p[-1] == "status")  # a graph's/engine's verdict is optional
        and p != ("files", "reference_outputs.npz")
    ]  # only acceptance reads it, and says when it is missing
    path = rng.choice(candidates)
    del _parent(data, path)[path[-1]]
    return f"delete {path}"


def _path_corruption(data, rng, directory: Path, outside: Path, record: dict):
    graph = data["graphs"]["fp32"]
    name = rng.choice([*HOSTILE_NAMES, "link.onnx", "linkdir/model.onnx"])
    if name == "link.onnx":
        os.symlink(outside / "secret.onnx", directory / name)
    elif name == "linkdir/model.onnx":
        os.symlink(outside, directory / "linkdir")
    where = rng.choice(["graph file", "files key", "data file", "openvino ir"])
    if where == "graph file":
        data["files"][name] = record
        graph["file"] = name
    elif where == "openvino ir":
        data["files"][name] = dict(record, role="openvino-ir")
        graph["openvino_ir"]["file"] = name
    elif where == "files key":
        data["files"][name] = record
    else:
        data["files"][name] = dict(record, role="onnx-external-data")
        graph["data_files"].append(name)
    return f"path {where} = {name!r}"


def _range_corruption(data, rng):
    choice = rng.randrange(8)
    if choice == 0:
        data["batch"]["max"] = 0
    elif choice == 1:
        data["batch"]["min"] = data["batch"]["max"] + 1
    elif choice == 2:
        next(iter(data["files"].values()))["bytes"] = -1
    elif choice == 3:
        data["schema_version"] = rng.choice([0, 2, "1", 1.5, None])
    elif choice == 4:
        data["graphs"]["fp32"]["opset"] = 5
    elif choice == 5:
        data["task"] = data["io"]["task"] = "image-classification"
    elif choice == 6:
        data["engines"]["fp32"] = {
            "file": "model.onnx",
            "source_graph": "fp32",
            "source_sha256": "0" * 64,
            "precision": "fp32",
            "tensorrt_version": "10.13.0",
            "gpu_name": "x",
            "compute_capability": "8.6",
            "profile": {"min": 1, "opt": 4, "max": data["batch"]["max"] + 1},
            "hardware_compatibility": None,
            "version_compatible": False,
        }
    else:
        data["parity"][0]["outputs"].pop(next(iter(data["parity"][0]["outputs"])))
    return f"range/consistency case {choice}"


def corruptions(valid: dict, directory: Path, outside: Path, count: int = CASES):
    """Yields (description, corrupted manifest): a seeded, bounded stream."""
    rng = random.Random(SEED)
    secret = outside / "secret.onnx"  # recorded with its true checksum: only the path check can stop it
    record = {"sha256": sha256_file(secret), "bytes": secret.stat().st_size, "role": "onnx-graph"}
    wholes = [[valid], None, "manifest", 1, {}, [], {"schema_version": 1}]
    for i in range(count):
        for leftover in ("link.onnx", "linkdir"):
            if (directory / leftover).is_symlink():
                (directory / leftover).unlink()
        data = copy.deepcopy(valid)
        kind = rng.choices(["type", "delete", "path", "range", "whole"], weights=[40, 25, 20, 12, 3])[0]
        if kind == "type":
            what = _type_corruption(data, rng)
        elif kind == "delete":
            what = _delete_corruption(data, rng)
        elif kind == "path":
            what = _path_corruption(data, rng, directory, outside, record)
        elif kind == "range":
            what = _range_corruption(data, rng)
        else:
            data = copy.deepcopy(rng.choice(wholes))
            what = f"whole document {str(data)[:40]}"
        yield f"#{i} {what}", data


@pytest.fixture(scope="module")
def sweep_dirs(tiny_artifact, tmp_path_factory):
    return make_sweep_dirs(tiny_artifact, tmp_path_factory.mktemp("sweep"))


def make_sweep_dirs(tiny_artifact: Path, root: Path):
    """A copy of the artifact under ``root`` and a directory beside it that hostile paths point at;
    the C++ sweep (tests/runtime/cpp) uses the same."""
    art, outside = root / "art", root / "outside"
    shutil.copytree(tiny_artifact, art)
    outside.mkdir()
    shutil.copy(art / "model.onnx", outside / "secret.onnx")  # a real graph: only the path check stops it
    (outside / "model.onnx").write_bytes(b"outside")
    valid = json.loads((art / MANIFEST_NAME).read_text())
    return art, outside, valid


def _outside_opens(outside: Path) -> list[str]:
    return [p for p in _opened if p.startswith(str(outside)) or p == "/etc/passwd" or Path(p).name == "secret.onnx"]


def test_every_corruption_is_a_one_line_user_error_from_load(sweep_dirs):
    art, outside, valid = sweep_dirs
    cases = corruptions(valid, art, outside)
    first = next(cases)  # the generator hashes the secret before the first case: not the code under test
    _opened.clear()
    failures = []
    _watching[0] = True
    try:
        for what, data in itertools.chain([first], cases):
            (art / MANIFEST_NAME).write_text(json.dumps(data))
            try:
                load(art).close()
            except IJepaDeployError as exc:
                if "\n" in exc.format() or not exc.format().startswith(str(art)):
                    failures.append(f"{what}: not one line naming the artifact: {exc.format()!r}")
            except Exception as exc:  # the point of the sweep: report every other exception
                failures.append(f"{what}: {type(exc).__name__}: {exc}")
            else:
                failures.append(f"{what}: loaded")
    finally:
        _watching[0] = False
        (art / MANIFEST_NAME).write_text(json.dumps(valid))
    assert not failures, "\n".join(failures[:20])
    assert not _outside_opens(outside)


def _cli_exit(main, argv, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code, capsys.readouterr().err


def test_clis_exit_1_without_a_traceback(sweep_dirs, capsys, tmp_path):
    art, outside, valid = sweep_dirs
    image = str(bundled_images()[0])
    commands = [
        ("ijepa-embed", embed.main, [str(art), image]),
        ("ijepa-build", build.main, [str(art)]),
        ("ijepa-bench", bench.main, [str(art), "-o", str(tmp_path / "report"), "--quiet"]),
    ]
    cases = corruptions(valid, art, outside, count=60)
    first = next(cases)
    _opened.clear()
    _watching[0] = True
    try:
        for n, (what, data) in enumerate(itertools.chain([first], cases)):
            (art / MANIFEST_NAME).write_text(json.dumps(data))
            name, main, argv = commands[n % len(commands)]
            code, err = _cli_exit(main, argv, capsys)
            assert code == 1, f"{name} {what}: exit {code}"
            assert err.startswith("error: ") and err.count("\n") == 1, f"{name} {what}: {err}"
            assert "Traceback" not in err, f"{name} {what}: {err}"
    finally:
        _watching[0] = False
        (art / MANIFEST_NAME).write_text(json.dumps(valid))
    assert not _outside_opens(outside)
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize("script", ["ijepa-embed", "ijepa-build"])
def test_real_process_has_no_traceback(sweep_dirs, tmp_path, script):
    art, _, valid = sweep_dirs
    target = tmp_path / "art"
    shutil.copytree(art, target)
    data = copy.deepcopy(valid)
    data["graphs"]["fp32"] = None
    (target / MANIFEST_NAME).write_text(json.dumps(data))
    argv = [str(target), str(bundled_images()[0])] if script == "ijepa-embed" else [str(target)]
    proc = subprocess.run(
        [str(Path(sys.executable).parent / script), *argv], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr == (
        f"error: {target / MANIFEST_NAME} | manifest field $.graphs.fp32: null has the wrong "
        "type. Note: expected an object\n"
    )
