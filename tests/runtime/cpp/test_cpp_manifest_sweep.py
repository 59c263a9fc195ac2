"""The Python sweep's seeded manifest corruptions (tests/core/test_manifest_sweep.py: wrong types,
nulls, missing keys, hostile file names, symlinks out, broken ranges) through the C++ loader, under
AddressSanitizer + UndefinedBehaviorSanitizer: every case a one-line ijepa::Error naming the
manifest or the artifact (driver exit 3), in the Python runtime's words, never a crash, a sanitizer
report or an opened file outside the artifact (checked with strace where it exists)."""

from __future__ import annotations

import importlib.util
import json
import shutil

import pytest
from cpp_helpers import REPO

from ijepa_deploy.manifest import MANIFEST_NAME

STRACE = shutil.which("strace")


def _python_sweep():
    spec = importlib.util.spec_from_file_location(
        "python_manifest_sweep", REPO / "tests" / "core" / "test_manifest_sweep.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sweep(tiny_artifact, tmp_path_factory):
    module = _python_sweep()
    art, outside, valid = module.make_sweep_dirs(tiny_artifact, tmp_path_factory.mktemp("cpp-sweep"))
    return module, art, outside, valid


def _outside_opens(trace: str, outside) -> list[str]:
    opened = [line.split('"')[1] for line in trace.splitlines() if "open" in line and '"' in line]
    return [p for p in opened if p.startswith(str(outside)) or p == "/etc/passwd" or p.endswith("secret.onnx")]


def _python_message(art) -> str:
    from ijepa_deploy.errors import IJepaDeployError
    from ijepa_deploy.manifest import read_manifest

    try:
        read_manifest(art)
    except IJepaDeployError as exc:
        return exc.format()
    return "accepted"


def _same_words(cpp: str, python: str) -> bool:
    """The Python runtime's message, word for word; for a foreign schema_version the C++ hint differs."""
    if python.startswith(f"{python.split(' | ')[0]} | manifest schema_version is "):
        return cpp.split(". Note: ")[0] == python.split(". Note: ")[0]
    return cpp == python


def _check(build, art, what) -> str | None:
    proc = build.run("load", art, "openvino", "fp32")
    lines = proc.stderr.strip().splitlines()
    if proc.returncode != 3:
        return f"{what}: exit {proc.returncode}: {proc.stderr[-800:]}"
    if len(lines) != 1 or not lines[0].startswith(str(art)) or ". Note: expected " not in lines[0]:
        return f"{what}: not one line naming the artifact: {proc.stderr!r}"
    if "has no OpenVINO backend" in lines[0]:  # this build's last step: every check let it through
        return f"{what}: accepted"
    python = _python_message(art)
    if not _same_words(lines[0], python):
        return f"{what}: C++ and Python say different things:\n  C++:    {lines[0]}\n  Python: {python}"
    return None


def _traced(build, art, outside, what, trace_file) -> str | None:
    """The hostile-path cases once more under strace (LeakSanitizer cannot run under ptrace)."""
    env = dict(build.env, ASAN_OPTIONS=build.env.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
    traced = type(build)(
        build.name,
        build.directory,
        build.driver,
        env,
        [STRACE, "-f", "-qq", "-e", "trace=open,openat", "-o", str(trace_file)],
    )
    problem = _check(traced, art, what)
    opened = _outside_opens(trace_file.read_text(), outside)
    return problem or (f"{what}: opened {opened}" if opened else None)


def test_every_python_corruption_is_an_ijepa_error_in_cpp(cpp_asan_build, sweep, tmp_path):
    module, art, outside, valid = sweep
    failures, traced = [], 0
    try:
        for what, data in module.corruptions(valid, art, outside):
            (art / MANIFEST_NAME).write_text(json.dumps(data))
            problem = _check(cpp_asan_build, art, what)
            if problem is None and STRACE and what.split()[1] == "path":
                problem = _traced(cpp_asan_build, art, outside, what, tmp_path / "trace")
                traced += 1
            if problem:
                failures.append(problem)
    finally:
        (art / MANIFEST_NAME).write_text(json.dumps(valid))
    assert not failures, f"{len(failures)} of {module.CASES} cases:\n" + "\n".join(failures[:20])
    assert traced > 20 or not STRACE, traced


def test_the_valid_manifest_passes_every_check(cpp_asan_build, sweep):
    """The control: the uncorrupted manifest gets through every check (to this build's missing backend)."""
    _, art, _, _ = sweep
    proc = cpp_asan_build.run("load", art, "openvino", "fp32")
    assert proc.returncode == 3 and "has no OpenVINO backend" in proc.stderr, proc.stderr
