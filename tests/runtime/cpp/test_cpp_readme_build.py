"""The README's C++ build is two lines, and CMake finds the pip packages (openvino's CMake config,
nlohmann-json's header) without a hand-typed path: the configure step of those lines, run from
another directory, with no -D option and no CMAKE_PREFIX_PATH. (The compile itself is the session's
release build, which passes only -DIJEPA_PYTHON=<this interpreter>.)"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from ijepa_deploy.benchmarks.cpp_build import REPO, cmake_exe, openvino_cmake_dir

MARK = "<!-- cpp-build -->"


def readme_build_lines() -> list[str]:
    text = (REPO / "README.md").read_text()
    assert MARK in text, f"README.md has no {MARK} block"
    block = text.split(MARK, 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_build_is_two_lines():
    lines = readme_build_lines()
    assert len(lines) == 2, lines
    assert lines[0] == ".venv/bin/pip install -e '.[cpp]'"
    assert "-D" not in lines[1] and "CMAKE_PREFIX_PATH" not in lines[1], lines[1]


def test_readme_configure_finds_pip_packages_from_another_directory(tmp_path):
    import nlohmann_json

    configure = shlex.split(readme_build_lines()[1].split("&&")[0])
    assert configure[0] == ".venv/bin/cmake", configure
    # the same command, run outside the checkout: the venv's cmake, the source tree by its full path
    argv = [cmake_exe(), *[str(REPO / a) if a == "runtime/cpp" else a for a in configure[1:]]]
    env = {k: v for k, v in os.environ.items() if k not in ("CMAKE_PREFIX_PATH", "VIRTUAL_ENV")}
    if Path(sys.prefix).resolve() != (REPO / ".venv").resolve():
        env["VIRTUAL_ENV"] = sys.prefix  # the other documented way: an active venv
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cache = (tmp_path / "build" / "cpp" / "CMakeCache.txt").read_text()
    assert f"IJEPA_JSON_DIR:PATH={Path(nlohmann_json.get_include())}" in cache
    assert f"OpenVINO_DIR:PATH={openvino_cmake_dir()}" in cache
