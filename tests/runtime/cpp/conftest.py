"""Build the C++ runtime once per session (pip's cmake + ninja) and hand tests its programs.

Two builds under <repo>/build/cpp-tests/ (git-ignored; incremental across sessions), both by
ijepa_deploy.benchmarks.cpp_build: ``release`` (library, example, test driver, benchmark driver;
the root conftest's ``cpp_release_build``, shared with tests/benchmarks) and ``asan``
(AddressSanitizer + UndefinedBehaviorSanitizer, driver only) for the bad-input tests. A system
library CMake cannot find is a skip that names the Debian package (CMake's own message); any other
configure or compile error fails the test.
"""

from __future__ import annotations

import os

import pytest
from cpp_helpers import CppBuild, configure_and_build


@pytest.fixture(scope="session")
def cpp_build(cpp_release_build) -> CppBuild:
    """The release build from the root conftest (shared with the benchmark tests: built once)."""
    return CppBuild("release", cpp_release_build, cpp_release_build / "ijepa_test_driver", dict(os.environ))


@pytest.fixture(scope="session")
def cpp_asan_build() -> CppBuild:
    # Without OpenVINO: its TBB dlopens libtbbbind with RTLD_DEEPBIND, which the sanitizer runtime
    # refuses; the sanitized code is ours (manifest, checksums, decoding, preprocessing, errors).
    # Debug (-O0) compiles fastest; the checks do not depend on optimisation.
    build = configure_and_build(
        "asan",
        ["-DCMAKE_BUILD_TYPE=Debug", "-DIJEPA_SANITIZE=ON", "-DIJEPA_WITH_OPENVINO=OFF", "-DIJEPA_BUILD_EXAMPLES=OFF"],
        ["ijepa_test_driver"],
    )
    env = dict(os.environ)
    # halt_on_error: any report fails the run; leaks of the driver's own objects are reported too.
    env["ASAN_OPTIONS"] = "halt_on_error=1:detect_leaks=1:exitcode=86"
    env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1:exitcode=87"
    return CppBuild("asan", build, build / "ijepa_test_driver", env)


@pytest.fixture(params=["release", "asan"])
def any_build(request) -> CppBuild:
    """The bad-input tests run on the normal build and under ASan + UBSan (no OpenVINO there:
    tests that need inference ask for ``cpp_build`` only)."""
    return request.getfixturevalue("cpp_build" if request.param == "release" else "cpp_asan_build")


@pytest.fixture(scope="session")
def tiny_cls_int8_artifact(tmp_path_factory):
    """random:tiny image-classification artifact with fp32 and int8-cpu graphs."""
    from ijepa_deploy.exporters.pipeline import ExportOptions, export_artifact
    from ijepa_deploy.progress import Progress

    out = tmp_path_factory.mktemp("art") / "tiny-cls-int8"
    manifest = export_artifact(
        ExportOptions(
            model="random:tiny",
            task="image-classification",
            output=out,
            max_batch=8,
            int8=True,
            calib_count=16,
            engines=False,
        ),
        Progress(quiet=True),
    )
    assert manifest.status == "passed" and "int8-cpu" in manifest.graphs
    return out
