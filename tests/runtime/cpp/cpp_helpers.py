"""Helpers of the C++ tests (a module with its own name: ``conftest`` can resolve to another
directory's conftest when pytest collects several directories)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# the build logic lives in ijepa_deploy.benchmarks.cpp_build (ijepa-bench --cpp builds the same tree)
from ijepa_deploy.benchmarks.cpp_build import REPO

ASSETS = REPO / "ijepa_deploy" / "assets"


@dataclass
class CppBuild:
    name: str
    directory: Path
    driver: Path
    env: dict
    prefix: list = field(default_factory=list)  # runs the driver under this command (e.g. strace)

    def run(self, *args, check: bool = False, timeout: float = 300) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [*self.prefix, str(self.driver), *map(str, args)],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"driver {args[0]} exited {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
            )
        return proc

    def json(self, *args) -> dict:
        return json.loads(self.run(*args, check=True).stdout.strip().splitlines()[-1])


def configure_and_build(name: str, extra: list[str], targets: list[str]) -> Path:
    """The shared build: a missing system library is a skip naming the package, any other
    configure or compile error fails."""
    from ijepa_deploy.benchmarks import cpp_build

    try:
        return cpp_build.configure_and_build(name, extra, targets)
    except cpp_build.CppDependencyMissing as exc:
        pytest.skip(f"C++ runtime not built: {exc}")
    except cpp_build.CppBuildFailed as exc:
        pytest.fail(str(exc))
