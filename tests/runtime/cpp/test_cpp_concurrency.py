"""Model::embed from 8 threads x 20 calls equals the single-threaded results, bit for bit."""

from __future__ import annotations

from conftest import ASSETS


def test_threads_share_one_model(cpp_build, tiny_artifact):
    images = sorted(ASSETS.glob("*.jpg"))
    result = cpp_build.json("concurrency", tiny_artifact, "fp32", 8, 20, *images)
    assert result == {"calls": 160, "mismatches": 0, "errors": 0}
