"""``ijepa-triton-repo``: a model repository for the stock Triton Inference Server.

Layout (``NAME`` defaults to ``ijepa``)::

    OUT/NAME_pixels/config.pbtxt   onnxruntime_onnx (1/model.onnx, or 1/model.onnx/ with external data)
                                   or tensorrt_plan (1/model.plan, or one plan per compute capability)
    OUT/preprocess/config.pbtxt    Python backend: encoded images -> pixel_values, using a copy of
                                   the runtime's own preprocessing code (numpy + Pillow only)
    OUT/NAME/config.pbtxt          ensemble: images (BYTES [n, 1]) -> preprocess -> NAME_pixels

Configs are built as Triton's own ``ModelConfig`` protobuf (tritonclient ships it) and written in
its text format, so a field Triton does not know cannot be written.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ijepa_deploy.errors import IJepaDeployError
from ijepa_deploy.manifest import read_manifest, verify_files

PREPROCESS = "preprocess"
_DTYPES = {"float32": "TYPE_FP32", "float16": "TYPE_FP16", "int64": "TYPE_INT64", "int32": "TYPE_INT32"}


def _pb():
    try:
        from google.protobuf import text_format
        from tritonclient.grpc import model_config_pb2
    except ImportError as exc:
        raise IJepaDeployError("ijepa-triton-repo", f"tritonclient is not installed ({exc})",
                               "pip install 'ijepa-deploy[serve]'") from None
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


def write_repository(artifact: Path, output: Path, *, name: str = "ijepa", backend: str = "onnxruntime",
                     precision: str = "fp32", max_batch: int | None = None,
                     preferred_batch_sizes: list[int] | None = None, max_queue_delay_us: int = 1000,
                     instances: int = 1, kind: str = "KIND_AUTO", max_queue: int = 128,
                     preprocess_instances: int = 2, overwrite: bool = False) -> list[Path]:
    """Write the repository; returns the config.pbtxt paths. Builds in a sibling temp directory
    and renames it into place, so an existing OUTPUT is only replaced once the new one is complete."""
    pb, _ = _pb()
    artifact, output = Path(artifact), Path(output)
    manifest = read_manifest(artifact)
    if output.exists() and not overwrite:
        raise IJepaDeployError(str(output), "output directory exists", "a new directory (or --overwrite)")
    limit = manifest.batch.max
    max_batch = limit if max_batch is None else max_batch
    if not 1 <= max_batch <= limit:
        raise IJepaDeployError("--max-batch", f"{max_batch} is outside the artifact's batch range", f"1..{limit}")
    preferred = sorted(set(preferred_batch_sizes or []))
    if any(not 1 <= b <= max_batch for b in preferred):
        raise IJepaDeployError("--preferred-batch-sizes", f"{preferred} outside 1..{max_batch}", "sizes in range")
    spec = manifest.io
    tmp = output.with_name(f".{output.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        pixels = f"{name}_pixels"
        cfg = pb.ModelConfig(name=pixels, max_batch_size=max_batch)
        if backend == "onnxruntime":
            if precision not in manifest.graphs:
                raise IJepaDeployError(str(artifact), f"artifact has no {precision} graph",
                                       f"one of {sorted(manifest.graphs)}")
            files = manifest.graphs[precision].files
            verify_files(artifact, manifest, files)
            cfg.backend = "onnxruntime"
            cfg.platform = "onnxruntime_onnx"
            # External data: Triton's ORT backend loads a model.onnx *directory* holding the graph
            # and its data files, so the relative data paths inside the graph still resolve.
            target = tmp / pixels / "1" / "model.onnx"
            if len(files) > 1:
                target = target / "model.onnx"
            _link_or_copy(artifact / files[0], target)
            for rel in files[1:]:
                _link_or_copy(artifact / rel, target.parent / rel)
        elif backend == "tensorrt":
            if precision not in manifest.engines:
                raise IJepaDeployError(str(artifact), f"artifact has no {precision} TensorRT engine",
                                       f"one of {sorted(manifest.engines)} (ijepa-build on the GPU host)")
            entries = [manifest.engines[precision]]  # one engine per variant (the manifest schema)
            verify_files(artifact, manifest, [e.file for e in entries])
            cfg.platform = "tensorrt_plan"
            cfg.backend = "tensorrt"
            if len(entries) == 1:
                _link_or_copy(artifact / entries[0].file, tmp / pixels / "1" / "model.plan")
            else:  # one plan per compute capability: Triton picks by the GPU it runs on
                for e in entries:
                    cc = e.compute_capability
                    fname = f"model_sm{cc.replace('.', '')}.plan"
                    _link_or_copy(artifact / e.file, tmp / pixels / "1" / fname)
                    cfg.cc_model_filenames[cc] = fname
            max_batch = min([max_batch, *(e.profile.max for e in entries)])
            cfg.max_batch_size = max_batch
        else:
            raise IJepaDeployError("--backend", f"{backend!r} has no stock Triton backend here",
                                   "onnxruntime (onnxruntime_onnx) or tensorrt (tensorrt_plan)")
        pixel_in = spec.inputs[0]
        cfg.input.append(_tensor(pb, "ModelInput", pixel_in.name, _DTYPES[pixel_in.dtype], pixel_in.shape[1:]))
        for t in spec.outputs:
            cfg.output.append(_tensor(pb, "ModelOutput", t.name, _DTYPES[t.dtype], t.shape[1:]))
        cfg.dynamic_batching.max_queue_delay_microseconds = max_queue_delay_us
        cfg.dynamic_batching.preferred_batch_size.extend(preferred)
        cfg.dynamic_batching.default_queue_policy.max_queue_size = max_queue
        cfg.dynamic_batching.default_queue_policy.timeout_action = pb.ModelQueuePolicy.REJECT
        cfg.instance_group.append(pb.ModelInstanceGroup(count=instances, kind=getattr(pb.ModelInstanceGroup, kind)))
        _write_config(tmp / pixels, cfg)

        pre = pb.ModelConfig(name=PREPROCESS, backend="python", max_batch_size=max_batch)
        pre.input.append(_tensor(pb, "ModelInput", "images", "TYPE_STRING", [1]))
        pre.output.append(_tensor(pb, "ModelOutput", pixel_in.name, _DTYPES[pixel_in.dtype], pixel_in.shape[1:]))
        pre.dynamic_batching.max_queue_delay_microseconds = max_queue_delay_us
        pre.dynamic_batching.default_queue_policy.max_queue_size = max_queue
        pre.dynamic_batching.default_queue_policy.timeout_action = pb.ModelQueuePolicy.REJECT
        pre.instance_group.append(pb.ModelInstanceGroup(count=preprocess_instances,
                                                        kind=pb.ModelInstanceGroup.KIND_CPU))
        _write_config(tmp / PREPROCESS, pre)
        _write_preprocess_code(tmp / PREPROCESS / "1", manifest.preprocessing.to_dict())

        ens = pb.ModelConfig(name=name, platform="ensemble", max_batch_size=max_batch)
        ens.input.append(_tensor(pb, "ModelInput", "images", "TYPE_STRING", [1]))
        for t in spec.outputs:
            ens.output.append(_tensor(pb, "ModelOutput", t.name, _DTYPES[t.dtype], t.shape[1:]))
        step1 = ens.ensemble_scheduling.step.add(model_name=PREPROCESS, model_version=-1)
        step1.input_map["images"] = "images"
        step1.output_map[pixel_in.name] = "_pixels"
        step2 = ens.ensemble_scheduling.step.add(model_name=pixels, model_version=-1)
        step2.input_map[pixel_in.name] = "_pixels"
        for t in spec.outputs:
            step2.output_map[t.name] = t.name
        _write_config(tmp / name, ens)
        (tmp / name / "1").mkdir(parents=True, exist_ok=True)  # Triton wants a version dir, even empty
        if output.exists():
            old = output.with_name(f".{output.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            output.rename(old)
            tmp.rename(output)
            shutil.rmtree(old)
        else:
            output.parent.mkdir(parents=True, exist_ok=True)
            tmp.rename(output)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return sorted(output.glob("*/config.pbtxt"))


def _write_preprocess_code(version_dir: Path, contract: dict) -> None:
    import ijepa_deploy

    package_root = Path(ijepa_deploy.__file__).parent
    import ijepa_deploy.runtime.preprocess as runtime_preprocess

    sources = {"ijepa_deploy/errors.py": package_root / "errors.py",
               "ijepa_deploy/contract.py": package_root / "contract.py",
               "ijepa_deploy/runtime/preprocess.py": Path(runtime_preprocess.__file__)}
    for rel, src in sources.items():
        dst = version_dir / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    for pkg in ("ijepa_deploy/__init__.py", "ijepa_deploy/runtime/__init__.py"):
        (version_dir / pkg).write_text('"""Copied by ijepa-triton-repo: preprocessing only (numpy, Pillow)."""\n')
    shutil.copy2(Path(__file__).with_name("triton_preprocess_model.py"), version_dir / "model.py")
    (version_dir / "preprocessing.json").write_text(json.dumps(contract, indent=2) + "\n")
