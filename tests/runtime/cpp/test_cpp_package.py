"""The installed package as a service consumes it: cmake --install, then the example project
configured on its own with find_package(ijepa_deploy) + ijepa::runtime; its JSON lines match
ijepa-embed's."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ijepa_deploy.benchmarks.cpp_build import REPO, cmake_exe, ninja_exe, openvino_cmake_dir

ASSETS = REPO / "ijepa_deploy" / "assets"


def test_installed_package_builds_the_example(cpp_build, tiny_artifact, tmp_path):
    prefix = tmp_path / "prefix"
    proc = subprocess.run(
        [cmake_exe(), "--install", str(cpp_build.directory), "--prefix", str(prefix)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert (prefix / "include" / "ijepa" / "model.hpp").is_file()
    openvino_cmake = openvino_cmake_dir()
    build = tmp_path / "service"
    proc = subprocess.run(
        [
            cmake_exe(),
            "-S",
            str(REPO / "runtime" / "cpp" / "examples"),
            "-B",
            str(build),
            "-G",
            "Ninja",
            f"-DCMAKE_MAKE_PROGRAM={ninja_exe()}",
            "-DCMAKE_BUILD_TYPE=Release",
            f"-DCMAKE_PREFIX_PATH={prefix};{openvino_cmake}",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run([cmake_exe(), "--build", str(build)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    images = [str(p) for p in sorted(ASSETS.glob("*.jpg"))]
    cpp = subprocess.run([str(build / "ijepa_embed"), str(tiny_artifact), *images], capture_output=True, text=True)
    assert cpp.returncode == 0, cpp.stderr
    py = subprocess.run(
        [sys.executable, "-c", "from ijepa_deploy.cli.embed import main; main()", str(tiny_artifact), *images],
        capture_output=True,
        text=True,
    )
    assert py.returncode == 0, py.stderr
    cpp_lines = [json.loads(line) for line in cpp.stdout.splitlines()]
    py_lines = [json.loads(line) for line in py.stdout.splitlines()]
    assert [set(c) for c in cpp_lines] == [set(p) for p in py_lines]
    for c, p in zip(cpp_lines, py_lines):
        assert c["image"] == p["image"] and c["dim"] == p["dim"]
        assert c["norm"] == pytest.approx(p["norm"], rel=1e-5, abs=2e-6)
        assert c["head"] == pytest.approx(p["head"], abs=2e-5)
    bad = subprocess.run(
        [str(build / "ijepa_embed"), str(tmp_path / "nowhere"), images[0]], capture_output=True, text=True
    )
    assert bad.returncode == 1 and "does not exist. Note: expected" in bad.stderr
