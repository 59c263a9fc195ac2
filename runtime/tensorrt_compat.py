"""Whether a serialized TensorRT engine may run on this host: the TensorRT version and GPU compute
capability it was built for (``compatibility_problem``), the host code a version-compatible engine
embeds (``host_code_problem``), and the command that rebuilds an engine here (``rebuild_hint``).
Pure functions of the manifest's engine record: no TensorRT import, so they also serve the Triton
repository check and tests on hosts without a GPU."""

from __future__ import annotations

from pathlib import Path

from ijepa_deploy.errors import ArtifactError, IJepaDeployError
from ijepa_deploy.records import EngineRecord
from ijepa_deploy.runtime.tensorrt_host import version_tuple


def rebuild_hint(artifact: Path | str, variant: str) -> str:
    return (
        f"an engine built on this host: ijepa-build {artifact} --variant {variant} "
        "(add --version-compatible / --hardware-compatibility ampere_plus to share engines across "
        "TensorRT versions / GPU generations)"
    )


def compatibility_problem(record: EngineRecord, tensorrt_version: str, compute_capability: str) -> str | None:
    """Why an engine recorded as ``record`` (a manifest ``engines`` entry) cannot run here, or None.

    Plain engines need the same TensorRT version and compute capability they were built with.
    ``version_compatible`` engines also run on a later TensorRT; ``hardware_compatibility ==
    "ampere_plus"`` engines on any GPU of compute capability >= 8.0.
    """
    built_version = record.tensorrt_version
    built_cc = record.compute_capability
    if built_version != tensorrt_version:
        newer_ok = record.version_compatible and version_tuple(tensorrt_version) > version_tuple(built_version)
        if not newer_ok:
            return f"engine was built with TensorRT {built_version}, this host has TensorRT {tensorrt_version}" + (
                "" if record.version_compatible else " (engines are tied to the TensorRT version they were built with)"
            )
    if built_cc != compute_capability:
        here = version_tuple(compute_capability)
        if not (record.hardware_compatibility == "ampere_plus" and here >= (8, 0)):
            gpu = record.gpu_name or "another GPU"
            return (
                f"engine was built for {gpu} (compute capability {built_cc}), this GPU has compute "
                f"capability {compute_capability}"
            )
    return None


ALLOW_HOST_CODE = "load(..., allow_engine_host_code=True) or --allow-engine-host-code"


def host_code_problem(
    record: EngineRecord | None,
    engine_path: Path | str,
    artifact: Path | str,
    variant: str,
    how_to_allow: str = ALLOW_HOST_CODE,
) -> IJepaDeployError | None:
    """Why ``record``'s engine must not be opened without the caller's opt-in, or None. A
    version-compatible plan embeds TensorRT's lean runtime as host code that runs in the process
    that loads it. Whoever can write the artifact must not decide that alone: TensorRT refuses such
    engines by default, and so do we unless the caller opts in."""
    if record is None or not record.version_compatible:
        return None
    return ArtifactError(
        str(engine_path),
        "engine is version-compatible: it embeds host code (TensorRT's "
        "lean runtime) that runs in the process that loads it",
        f"an explicit opt-in if you trust whoever built it: {how_to_allow}; or rebuild it "
        f"without --version-compatible on the serving host (ijepa-build {artifact} "
        f"--variant {variant})",
    )
