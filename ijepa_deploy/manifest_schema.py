"""Checks a manifest (as parsed JSON) before anything trusts it.

Three layers, each reporting the first problem as an :class:`IJepaDeployError` of the form
``<manifest> | manifest field <json path>: <problem>. Note: expected ...``:

1. the JSON Schema shipped in the package (``schema/manifest.schema.json``, draft 2020-12; the
   C++ runtime and the serving layer validate against the same file);
2. consistency the schema cannot express (task vs outputs, batch max >= min, every graph and
   engine file listed under ``files``, profiles within the batch range, artifact and engine status vs parity);
3. :func:`resolve_inside`: every file name resolves inside the artifact directory after symlinks,
   checked before any file is opened or hashed.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

from ijepa_deploy.errors import ArtifactError, IJepaDeployError
from ijepa_deploy.spec import BATCH, TASK_OUTPUTS

SCHEMA_RESOURCE = "schema/manifest.schema.json"

_TYPE_WORDS = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def schema_text() -> str:
    return (resources.files("ijepa_deploy") / SCHEMA_RESOURCE).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def _validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(schema_text()))


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _json_path(parts: list[str | int]) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if part.isidentifier() else f"[{part!r}]")
    return path


def _types(value: str | list[str]) -> str:
    names = value if isinstance(value, list) else [value]
    return " or ".join(_TYPE_WORDS.get(n, n) for n in names)


def _describe(error) -> tuple[str, str]:
    """(problem, expected) for one jsonschema error, in the words of this project's messages."""
    kind, want, got, schema = error.validator, error.validator_value, error.instance, error.schema
    if kind == "type":
        return f"{_show(got)} has the wrong type", _types(want)
    if kind == "required":
        missing = [k for k in want if k not in got]
        return f"missing key {missing[0]!r}", f"the keys {', '.join(want)}"
    if kind == "additionalProperties" and want is False:
        extra = sorted(set(got) - set(schema.get("properties", {})))
        return f"unknown key {extra[0]!r}", f"only the keys {', '.join(schema.get('properties', {}))}"
    if kind == "enum":
        return f"{_show(got)} is not allowed", "one of " + ", ".join(_show(v) for v in want)
    if kind == "const":
        return f"{_show(got)} is not allowed", _show(want)
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        sign = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[kind]
        return f"{_show(got)} is out of range", f"a value {sign} {want}"
    if kind in ("minItems", "minProperties", "minLength"):
        return f"{_show(got)} is too short", f"at least {want} item(s)"
    if kind in ("maxItems", "maxProperties"):
        return f"{_show(got)} is too long", f"at most {want} item(s)"
    if kind == "pattern":
        return f"{_show(got)} is not allowed", schema.get("description") or f"a string matching {want}"
    return error.message, f"what {SCHEMA_RESOURCE} allows here"


def _fail(where: str, path: str, problem: str, expected: str) -> IJepaDeployError:
    return ArtifactError(where, f"manifest field {path}: {problem}", expected)


def check_schema(data: Any, where: str) -> None:
    from jsonschema.exceptions import best_match

    error = best_match(_validator().iter_errors(data))
    if error is None:
        return
    path = list(error.absolute_path)
    problem, expected = _describe(error)
    if "propertyNames" in error.absolute_schema_path:
        # a bad key is reported at the object that holds it: name the key itself
        path.append(error.instance)
        problem = f"key {problem}"
    raise _fail(where, _json_path(path), problem, expected)


def check_consistency(data: dict, where: str) -> None:
    """What the schema cannot say: relations between fields. ``data`` passed :func:`check_schema`."""
    task, io, batch = data["task"], data["io"], data["batch"]
    if io["task"] != task:
        raise _fail(where, "$.io.task", f"{io['task']!r} differs from the manifest task {task!r}", "the same task")
    names = [t["name"] for t in io["outputs"]]
    if sorted(names) != sorted(TASK_OUTPUTS[task]):
        raise _fail(
            where, "$.io.outputs", f"outputs {names} do not match task {task!r}", f"exactly {list(TASK_OUTPUTS[task])}"
        )
    pre = data["preprocessing"]
    want_input = [BATCH, 3, pre["height"], pre["width"]]
    if [t["name"] for t in io["inputs"]] != ["pixel_values"] or io["inputs"][0]["shape"] != want_input:
        raise _fail(
            where,
            "$.io.inputs",
            f"{_show(io['inputs'])} does not match the preprocessing size",
            f"one input pixel_values of shape {want_input}",
        )
    if batch["max"] < batch["min"]:
        raise _fail(where, "$.batch.max", f"{batch['max']} is below batch.min {batch['min']}", "max >= min")
    labels = data["id2label"]
    if (labels is None) != (task == "feature-extraction"):
        raise _fail(
            where,
            "$.id2label",
            f"{_show(labels)} does not fit task {task!r}",
            "null for feature-extraction, a label per class for image-classification",
        )
    if labels is not None and len(labels) != io["outputs"][0]["shape"][-1]:
        raise _fail(
            where,
            "$.id2label",
            f"{len(labels)} labels for {io['outputs'][0]['shape'][-1]} logits",
            "one label per logit",
        )
    _check_files_listed(data, where)
    _check_engines(data, where)
    _check_parity(data, names, where)


def _check_files_listed(data: dict, where: str) -> None:
    files = data["files"]
    for variant, graph in data["graphs"].items():
        for field, name, role in _graph_files(variant, graph):
            if name not in files:
                raise _fail(where, field, f"{name!r} is not listed under files", "every artifact file with its sha256")
            if files[name]["role"] != role:
                raise _fail(where, f"$.files[{name!r}].role", f"{files[name]['role']!r}", _show(role))
    for variant, engine in data["engines"].items():
        if engine["file"] not in files:
            raise _fail(
                where,
                f"$.engines[{variant!r}].file",
                f"{engine['file']!r} is not listed under files",
                "every artifact file with its sha256",
            )


def _graph_files(variant: str, graph: dict) -> list[tuple[str, str, str]]:
    """(JSON path, file name, role) of every file a graph names: its ONNX files and its OpenVINO IR."""
    where = f"$.graphs[{variant!r}]."
    named = [(where + "file", graph["file"], "onnx-graph")]
    named += [(f"{where}data_files[{i}]", name, "onnx-external-data") for i, name in enumerate(graph["data_files"])]
    if "openvino_ir" in graph:
        named += [
            (f"{where}openvino_ir.file", graph["openvino_ir"]["file"], "openvino-ir"),
            (f"{where}openvino_ir.weights", graph["openvino_ir"]["weights"], "openvino-ir-weights"),
        ]
    return named


def _check_engines(data: dict, where: str) -> None:
    low, high = data["batch"]["min"], data["batch"]["max"]
    for variant, engine in data["engines"].items():
        p = engine["profile"]
        if not low <= p["min"] <= p["opt"] <= p["max"] <= high:
            raise _fail(
                where,
                f"$.engines[{variant!r}].profile",
                f"min {p['min']}, opt {p['opt']}, max {p['max']}",
                f"{low} <= min <= opt <= max <= {high} (the artifact's batch range)",
            )


def _check_parity(data: dict, outputs: list[str], where: str) -> None:
    for i, result in enumerate(data["parity"]):
        if sorted(result["outputs"]) != sorted(outputs):
            raise _fail(
                where,
                f"$.parity[{i}].outputs",
                f"results for {sorted(result['outputs'])}",
                f"one per output: {outputs}",
            )
        if sorted(result["per_batch"], key=int) != [str(b) for b in sorted(result["batch_sizes"])]:
            raise _fail(
                where,
                f"$.parity[{i}].per_batch",
                f"batches {list(result['per_batch'])}",
                f"one entry per batch size {result['batch_sizes']}",
            )
        for batch, stats in result["per_batch"].items():
            if sorted(stats) != sorted(outputs):
                raise _fail(
                    where,
                    f"$.parity[{i}].per_batch[{batch!r}]",
                    f"results for {sorted(stats)}",
                    f"one per output: {outputs}",
                )
        engine = result.get("engine")
        if engine is None and data["status"] == "passed" and not result["passed"]:
            raise _fail(
                where,
                "$.status",
                f"'passed' but parity result {i} ({result['graph']}) failed",
                "status 'partial' or 'failed' when any graph's parity check failed",
            )
        if engine is not None:
            _check_engine_parity(data, i, engine, result["passed"], where)
        graph = data["graphs"].get(result["graph"])
        if (
            engine is None
            and graph
            and graph.get("status") == "passed"
            and result["precision"] == graph["precision"]
            and not result["passed"]
        ):
            raise _fail(
                where,
                f"$.graphs[{result['graph']!r}].status",
                f"'passed' but its parity result {i} ({result['backend']}) failed",
                "status 'failed' when any of the graph's checks failed",
            )
    _check_graph_statuses(data, where)


def _check_graph_statuses(data: dict, where: str) -> None:
    """The artifact's status sums up its graphs': 'passed' only when every graph passed, 'partial'
    only when the fp32 graph passed (a partial artifact still serves what passed)."""
    status, graphs = data["status"], data["graphs"]
    for variant, graph in graphs.items():
        if status == "passed" and graph.get("status", "passed") != "passed":
            raise _fail(
                where,
                f"$.graphs[{variant!r}].status",
                f"{graph['status']!r} in an artifact with status 'passed'",
                "'passed' (or artifact status 'partial' / 'failed')",
            )
    if status == "partial" and graphs.get("fp32", {}).get("status") != "passed":
        raise _fail(
            where,
            "$.status",
            "'partial' but the fp32 graph did not pass",
            "'partial' only when graphs.fp32.status is 'passed' (else 'failed')",
        )


def _check_engine_parity(data: dict, i: int, engine: str, passed: bool, where: str) -> None:
    """An engine's parity entry decides that engine's status (not the artifact's, which ijepa-build
    leaves as the export set it): the two must agree."""
    variant = next((v for v, e in data["engines"].items() if e["file"] == engine), None)
    if variant is None:
        raise _fail(
            where,
            f"$.parity[{i}].engine",
            f"{engine!r} is not an engine of this artifact",
            "the file of an entry under engines",
        )
    status = data["engines"][variant].get("status")
    if status == "passed" and not passed:
        raise _fail(
            where,
            f"$.engines[{variant!r}].status",
            f"'passed' but its parity result {i} failed",
            "status 'failed' when the engine's parity check failed",
        )


def check_manifest(data: Any, where: str) -> None:
    """Schema, then consistency; raises IJepaDeployError naming the first violation."""
    check_schema(data, where)
    check_consistency(data, where)


def resolve_inside(directory: Path, name: str, where: str | None = None) -> Path:
    """``directory / name`` if it resolves (symlinks followed) inside ``directory``; else a user error.
    Never opens the file."""
    directory = Path(directory)
    base = directory.resolve()
    try:
        target = (directory / name).resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise ArtifactError(
            where or str(directory),
            f"file name {name!r} cannot be resolved ({exc})",
            "a file inside the artifact directory",
        ) from None
    if Path(name).is_absolute() or (target != base and base not in target.parents):
        raise ArtifactError(
            where or str(directory),
            f"file name {name!r} points outside the artifact directory (to {target})",
            "a file inside the artifact directory (relative, no '..', no symlink leading out)",
        )
    return target
