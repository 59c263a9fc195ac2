"""The export's last step: TensorRT engines from the precision graphs when TensorRT and a GPU are
present, each checked like the graphs; otherwise a note saying how to build them on the GPU host."""

from __future__ import annotations

from ijepa_deploy.errors import IJepaDeployError
from ijepa_deploy.exporters.export_run import ExportRun
from ijepa_deploy.manifest import STATUS_FAILED, STATUS_PARTIAL, STATUS_PASSED, Manifest
from ijepa_deploy.runtime.acceptance.parity import ReferenceParity


def engine_variants(manifest: Manifest) -> list[str]:
    """Graphs a TensorRT engine is built from: the precision graphs meant for TensorRT."""
    return [v for v in ("fp16", "int8") if v in manifest.graphs] or ["fp32"]


def engine_step(run: ExportRun, check: ReferenceParity | None = None) -> None:
    """Build and check an engine per passed precision graph (``check``: the export's own saved
    reference; None reads the artifact's)."""
    out, manifest, progress = run.out, run.manifest, run.progress
    variants = [v for v in engine_variants(manifest) if manifest.graphs[v].status == STATUS_PASSED]
    try:
        # lazy: guarded import, a broken TensorRT build module skips the engine step instead of the export
        from ijepa_deploy.exporters.tensorrt_build import EngineOptions, build_engines, tensorrt_status
    except ImportError as exc:  # the module is part of the package; a broken install lands here
        available, reason = False, f"the TensorRT build module cannot be imported ({exc})"
    else:
        available, reason = tensorrt_status()
    command = f"ijepa-build {run.target} " + " ".join(f"--variant {v}" for v in variants)
    if not available:
        message = f"TensorRT engine step skipped: {reason}; build on the GPU host with: {command}"
        progress.say(message)
        manifest.notes.append(message)
        return
    if not variants or manifest.status == STATUS_FAILED:
        message = f"TensorRT engine step skipped: a parity check failed; fix it, re-export, then: {command}"
        progress.say(message)
        manifest.notes.append(message)
        return
    try:
        records = build_engines(
            out, manifest, EngineOptions(variants=tuple(variants), max_batch=run.opts.max_batch), progress, parity=check
        )
    except IJepaDeployError as exc:
        manifest.notes.append(f"TensorRT engine build failed: {exc.format()}")
        manifest.status = STATUS_PARTIAL if manifest.status != STATUS_FAILED else STATUS_FAILED
        progress.say(f"[tensorrt] FAILED: {exc.format()}")
        return
    failed = [r.file for r in records if r.status != STATUS_PASSED]
    if failed:  # an engine that ships unchecked or wrong fails the export, like a graph would
        manifest.notes.append(f"TensorRT engine parity check failed: {', '.join(failed)}")
    manifest.settle_status()
    manifest.write(out)
