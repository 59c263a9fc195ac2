"""``ijepa-triton-repo``: a model repository for the stock Triton Inference Server.

Layout (``NAME`` defaults to ``ijepa``)::

    OUT/NAME_pixels/config.pbtxt   onnxruntime_onnx (1/model.onnx, or 1/model.onnx/ with external data)
                                   or tensorrt_plan (1/model.plan: the artifact's one engine for
                                   --precision, linked or copied; max batch capped by its profile)
    OUT/preprocess/config.pbtxt    Python backend: encoded images -> pixel_values, using a copy of
                                   the runtime's own preprocessing code (numpy + Pillow only)
    OUT/NAME/config.pbtxt          ensemble: images (BYTES [n, 1]) -> preprocess -> NAME_pixels
    OUT/NOTE.txt, OUT/NAME_pixels/NOTE.txt
                                   only when a check was overridden (--allow-unverified,
                                   --allow-engine-host-code): what was let through, loudly

Sources are checked as ``load()`` checks them (the runtime's own gates: artifact and engine parity
status, checksums, version-compatible engines' host code) before anything is written.

Configs are built as Triton's own ``ModelConfig`` protobuf (tritonclient ships it) and written in
its text format, so a field Triton does not know cannot be written.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import ijepa_deploy
import ijepa_deploy.runtime.preprocess as runtime_preprocess
from ijepa_deploy.directory_swap import swap_in
from ijepa_deploy.errors import ArtifactError, BackendUnavailable, InputError
from ijepa_deploy.manifest import Manifest, read_manifest, verify_files
from ijepa_deploy.runtime.model import check_verified
from ijepa_deploy.runtime.tensorrt_compat import host_code_problem

PREPROCESS = "preprocess"
_DTYPES = {"float32": "TYPE_FP32", "float16": "TYPE_FP16", "int64": "TYPE_INT64", "int32": "TYPE_INT32"}


def _pb():
    try:
        from google.protobuf import text_format
        from tritonclient.grpc import model_config_pb2
    except ImportError as exc:
        raise BackendUnavailable(
            "ijepa-triton-repo", f"tritonclient is not installed ({exc})", "pip install 'ijepa-deploy[serve]'"
        ) from None
    return model_config_pb2, text_format


def _tensor(pb, kind, name: str, dtype: str, dims):
    t = getattr(pb, kind)(name=name, data_type=getattr(pb, dtype) if isinstance(dtype, str) else dtype)
    t.dims.extend(int(d) for d in dims)
    return t


def _write_config(path: Path, config) -> None:
    _, text_format = _pb()
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.pbtxt").write_text(text_format.MessageToString(config))


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)  # same filesystem: no second copy of a multi-GB graph
    except OSError:
        shutil.copy2(src, dst)


NOTE_FILE = "NOTE.txt"
# The stock TensorRT backend loads version-compatible plans only when the whole server allows it.
TRITON_HOST_CODE_FLAG = "--backend-config=tensorrt,version-compatible=true"
ALLOW_HOST_CODE = (
    f"--allow-engine-host-code, and start tritonserver with {TRITON_HOST_CODE_FLAG} (the stock "
    "TensorRT backend refuses version-compatible plans without it; it then allows them for "
    "every model that server loads)"
)


def _source_files(artifact: Path, manifest: Manifest, backend: str, precision: str) -> list[str]:
    """The artifact's files the Triton model serves: the graph's for onnxruntime, the engine for
    tensorrt; refused when the artifact lacks them or the backend has no stock Triton backend."""
    if backend == "onnxruntime":
        if precision not in manifest.graphs:
            raise ArtifactError(
                str(artifact), f"artifact has no {precision} graph", f"one of {sorted(manifest.graphs)}"
            )
        return manifest.graphs[precision].files
    elif backend == "tensorrt":
        if precision not in manifest.engines:
            raise ArtifactError(
                str(artifact),
                f"artifact has no {precision} TensorRT engine",
                f"one of {sorted(manifest.engines)} (ijepa-build on the GPU host)",
            )
        return [manifest.engines[precision].file]
    else:
        raise InputError(
            "--backend",
            f"{backend!r} has no stock Triton backend here",
            "onnxruntime (onnxruntime_onnx) or tensorrt (tensorrt_plan)",
        )


def check_source(
    artifact: Path,
    manifest: Manifest,
    backend: str,
    precision: str,
    *,
    allow_unverified: bool = False,
    allow_engine_host_code: bool = False,
) -> list[str]:
    """Refuse what ``load()`` would refuse before anything is written: a graph or engine the
    artifact lacks, an artifact or engine that did not pass its parity check (unless
    ``allow_unverified``), files that do not match their checksums, and a version-compatible
    engine without ``allow_engine_host_code``. Returns the notes the repository must carry."""
    files = _source_files(artifact, manifest, backend, precision)
    notes = [
        f"UNVERIFIED (--allow-unverified): {problem}"
        for problem in check_verified(
            artifact,
            manifest,
            backend,
            precision,
            variant=precision,
            allow_unverified=allow_unverified,
            how_to_allow="--allow-unverified",
        )
    ]
    verify_files(artifact, manifest, files)
    if backend == "tensorrt":
        problem = host_code_problem(
            manifest.engines[precision], artifact / files[0], artifact, precision, how_to_allow=ALLOW_HOST_CODE
        )
        if problem and not allow_engine_host_code:
            raise problem
        if problem:
            notes.append(
                f"ENGINE HOST CODE (--allow-engine-host-code): {files[0]} is a version-compatible "
                "TensorRT engine; it embeds TensorRT's lean runtime as host code that runs inside "
                f"tritonserver. The stock TensorRT backend loads it only when tritonserver is started "
                f"with {TRITON_HOST_CODE_FLAG}, which allows host code from every model that server "
                "loads: serve only engines from a builder you trust."
            )
    return notes


def write_repository(
    artifact: Path,
    output: Path,
    *,
    name: str = "ijepa",
    backend: str = "onnxruntime",
    precision: str = "fp32",
    max_batch: int | None = None,
    preferred_batch_sizes: list[int] | None = None,
    max_queue_delay_us: int = 1000,
    instances: int = 1,
    kind: str = "KIND_AUTO",
    max_queue: int = 128,
    preprocess_instances: int = 2,
    overwrite: bool = False,
    allow_unverified: bool = False,
    allow_engine_host_code: bool = False,
    warn=None,
) -> list[Path]:
    """Write the repository; returns the config.pbtxt paths. Builds in a sibling temp directory
    and renames it into place, so an existing OUTPUT is only replaced once the new one is complete.
    What ``allow_unverified`` / ``allow_engine_host_code`` let through is written to NOTE.txt (in
    the repository and beside the model) and passed to ``warn`` (default: printed to stderr)."""
    pb, _ = _pb()
    artifact, output = Path(artifact), Path(output)
    manifest = read_manifest(artifact)
    if output.exists() and not overwrite:
        raise InputError(str(output), "output directory exists", "a new directory (or --overwrite)")
    limit = manifest.batch.max
    max_batch = limit if max_batch is None else max_batch
    if not 1 <= max_batch <= limit:
        raise InputError("--max-batch", f"{max_batch} is outside the artifact's batch range", f"1..{limit}")
    preferred = sorted(set(preferred_batch_sizes or []))
    if any(not 1 <= b <= max_batch for b in preferred):
        raise InputError("--preferred-batch-sizes", f"{preferred} outside 1..{max_batch}", "sizes in range")
    notes = check_source(
        artifact,
        manifest,
        backend,
        precision,
        allow_unverified=allow_unverified,
        allow_engine_host_code=allow_engine_host_code,
    )
    tmp = output.with_name(f".{output.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        pixels = f"{name}_pixels"
        queue = (max_queue_delay_us, max_queue)
        max_batch = _pixels_model(
            pb, tmp / pixels, artifact, manifest, backend, precision, max_batch, preferred, queue, instances, kind
        )
        _preprocess_model(pb, tmp / PREPROCESS, manifest, max_batch, queue, preprocess_instances)
        _ensemble_model(pb, tmp / name, manifest, name, pixels, max_batch)
        write_notes(tmp, [tmp, tmp / pixels], artifact, notes, warn)
        _replace(tmp, output)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return sorted(output.glob("*/config.pbtxt"))


def _batching(pb, cfg, queue: tuple[int, int], preferred: list[int] | None = None) -> None:
    """Triton's dynamic batcher with a bounded queue: past ``max_queue`` a request is rejected at once."""
    delay_us, max_queue = queue
    cfg.dynamic_batching.max_queue_delay_microseconds = delay_us
    cfg.dynamic_batching.preferred_batch_size.extend(preferred or [])
    cfg.dynamic_batching.default_queue_policy.max_queue_size = max_queue
    cfg.dynamic_batching.default_queue_policy.timeout_action = pb.ModelQueuePolicy.REJECT


def _pixels_model(
    pb,
    path: Path,
    artifact: Path,
    manifest: Manifest,
    backend: str,
    precision: str,
    max_batch: int,
    preferred: list[int],
    queue: tuple[int, int],
    instances: int,
    kind: str,
) -> int:
    """``<name>_pixels``: the graph (onnxruntime_onnx) or engine (tensorrt_plan); returns its max batch."""
    cfg = pb.ModelConfig(name=path.name, max_batch_size=max_batch)
    if backend == "onnxruntime":
        files = manifest.graphs[precision].files
        cfg.backend = "onnxruntime"
        cfg.platform = "onnxruntime_onnx"
        # External data: Triton's ORT backend loads a model.onnx *directory* holding the graph
        # and its data files, so the relative data paths inside the graph still resolve.
        target = path / "1" / "model.onnx"
        if len(files) > 1:
            target = target / "model.onnx"
        _link_or_copy(artifact / files[0], target)
        for rel in files[1:]:
            _link_or_copy(artifact / rel, target.parent / rel)
    else:
        engine = manifest.engines[precision]  # one engine per variant (the manifest schema)
        cfg.platform = "tensorrt_plan"
        cfg.backend = "tensorrt"
        _link_or_copy(artifact / engine.file, path / "1" / "model.plan")
        max_batch = min(max_batch, engine.profile.max)
        cfg.max_batch_size = max_batch
    pixel_in = manifest.io.inputs[0]
    cfg.input.append(_tensor(pb, "ModelInput", pixel_in.name, _DTYPES[pixel_in.dtype], pixel_in.shape[1:]))
    for t in manifest.io.outputs:
        cfg.output.append(_tensor(pb, "ModelOutput", t.name, _DTYPES[t.dtype], t.shape[1:]))
    _batching(pb, cfg, queue, preferred)
    cfg.instance_group.append(pb.ModelInstanceGroup(count=instances, kind=getattr(pb.ModelInstanceGroup, kind)))
    _write_config(path, cfg)
    return max_batch


def _preprocess_model(
    pb, path: Path, manifest: Manifest, max_batch: int, queue: tuple[int, int], instances: int
) -> None:
    """The Python-backend model that decodes bytes with the runtime's own preprocessing code."""
    pixel_in = manifest.io.inputs[0]
    pre = pb.ModelConfig(name=PREPROCESS, backend="python", max_batch_size=max_batch)
    pre.input.append(_tensor(pb, "ModelInput", "images", "TYPE_STRING", [1]))
    pre.output.append(_tensor(pb, "ModelOutput", pixel_in.name, _DTYPES[pixel_in.dtype], pixel_in.shape[1:]))
    _batching(pb, pre, queue)
    pre.instance_group.append(pb.ModelInstanceGroup(count=instances, kind=pb.ModelInstanceGroup.KIND_CPU))
    _write_config(path, pre)
    _write_preprocess_code(path / "1", manifest.preprocessing.to_dict())


def _ensemble_model(pb, path: Path, manifest: Manifest, name: str, pixels: str, max_batch: int) -> None:
    """``<name>``: JPEG/PNG bytes in, the graph's outputs out (preprocess -> pixels model)."""
    pixel_in = manifest.io.inputs[0]
    ens = pb.ModelConfig(name=name, platform="ensemble", max_batch_size=max_batch)
    ens.input.append(_tensor(pb, "ModelInput", "images", "TYPE_STRING", [1]))
    for t in manifest.io.outputs:
        ens.output.append(_tensor(pb, "ModelOutput", t.name, _DTYPES[t.dtype], t.shape[1:]))
    step1 = ens.ensemble_scheduling.step.add(model_name=PREPROCESS, model_version=-1)
    step1.input_map["images"] = "images"
    step1.output_map[pixel_in.name] = "_pixels"
    step2 = ens.ensemble_scheduling.step.add(model_name=pixels, model_version=-1)
    step2.input_map[pixel_in.name] = "_pixels"
    for t in manifest.io.outputs:
        step2.output_map[t.name] = t.name
    _write_config(path, ens)
    (path / "1").mkdir(parents=True, exist_ok=True)  # Triton wants a version dir, even empty


def _replace(tmp: Path, output: Path) -> None:
    """Put the finished repository in place; an existing one is removed only once the new one is
    there (ijepa_deploy.directory_swap: atomic where the kernel can swap two paths)."""
    if output.exists():
        shutil.rmtree(swap_in(tmp, output))
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(output)


def write_notes(repository: Path, places: list[Path], artifact: Path, notes: list[str], warn) -> None:
    """A loud NOTE.txt in the repository root and the model's directory (Triton reads neither: it
    loads model directories and their numbered version directories), and a warning per note."""
    if not notes:
        return
    text = (
        f"DO NOT SERVE IN PRODUCTION WITHOUT READING THIS. ijepa-triton-repo wrote this repository from "
        f"{artifact.resolve()} with checks overridden:\n\n" + "\n\n".join(f"- {n}" for n in notes) + "\n"
    )
    for place in places:
        (place / NOTE_FILE).write_text(text)
    for note in notes:
        (warn or _warn_stderr)(note)


def _warn_stderr(note: str) -> None:
    print(f"WARNING: {note}", file=sys.stderr)


def _write_preprocess_code(version_dir: Path, contract: dict) -> None:
    package_root = Path(ijepa_deploy.__file__).parent
    sources = {
        "ijepa_deploy/errors.py": package_root / "errors.py",
        "ijepa_deploy/contract.py": package_root / "contract.py",
        "ijepa_deploy/runtime/preprocess.py": Path(runtime_preprocess.__file__),
    }
    for rel, src in sources.items():
        dst = version_dir / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    for pkg in ("ijepa_deploy/__init__.py", "ijepa_deploy/runtime/__init__.py"):
        (version_dir / pkg).write_text('"""Copied by ijepa-triton-repo: preprocessing only (numpy, Pillow)."""\n')
    shutil.copy2(Path(__file__).with_name("triton_preprocess_model.py"), version_dir / "model.py")
    (version_dir / "preprocessing.json").write_text(json.dumps(contract, indent=2) + "\n")
