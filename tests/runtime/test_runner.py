"""The Runner base checks every request; the ONNX Runtime backend runs only checked inputs."""

from __future__ import annotations

import numpy as np
import pytest

from ijepa_deploy.errors import InputError
from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.runtime.model import open_runner
from ijepa_deploy.runtime.runner import Runner
from ijepa_deploy.spec import export_spec

SPEC = export_spec("feature-extraction", hidden_size=8, num_tokens=4, height=32, width=32)


class Echo(Runner):
    backend = "echo"

    def _run(self, feed):
        n = feed["pixel_values"].shape[0]
        return {"last_hidden_state": np.zeros((n, 4, 8), np.float32), "embedding": np.zeros((n, 8), np.float32)}


def px(n=1, c=3, h=32, w=32, dtype=np.float32):
    return np.zeros((n, c, h, w), dtype=dtype)


@pytest.mark.parametrize(
    "feed, problem",
    [
        ({"images": px()}, "input names"),
        ({"pixel_values": px(), "extra": px()}, "unexpected ['extra']"),
        ({"pixel_values": px(dtype=np.float64)}, "dtype is float64"),
        ({"pixel_values": px(dtype=np.uint8)}, "dtype is uint8"),
        ({"pixel_values": px(c=4)}, "axis 1 is 4"),
        ({"pixel_values": px(h=33)}, "axis 2 is 33"),
        ({"pixel_values": np.zeros((3, 32, 32), np.float32)}, "shape is [3, 32, 32]"),
        ({"pixel_values": px(n=0)}, "batch size 0 is outside"),
        ({"pixel_values": px(n=5)}, "batch size 5 is outside"),
        ({"pixel_values": [[1.0]]}, "is a list"),
        ("pixels", "inputs are a str"),
    ],
)
def test_checks(feed, problem):
    with pytest.raises(InputError) as err:
        Echo(SPEC, 1, 4).run(feed)
    assert problem in err.value.problem
    assert err.value.expected


def test_accepts_a_bare_array_and_valid_batches():
    runner = Echo(SPEC, 1, 4)
    for n in (1, 4):
        assert runner.run(px(n))["embedding"].shape == (n, 8)


def test_onnxruntime_runner_checks_and_runs(tiny_artifact):
    manifest = read_manifest(tiny_artifact)
    with open_runner(tiny_artifact, manifest) as runner:
        assert runner.backend == "onnxruntime-cpu"
        out = runner.run(np.random.default_rng(0).standard_normal((3, 3, 224, 224), dtype=np.float32))
        assert out["embedding"].shape == (3, 192) and out["last_hidden_state"].shape == (3, 196, 192)
        np.testing.assert_allclose(out["embedding"], out["last_hidden_state"].mean(axis=1), atol=1e-5)
        with pytest.raises(InputError, match="batch size 9 is outside"):
            runner.run(np.zeros((9, 3, 224, 224), np.float32))
        with pytest.raises(InputError, match="axis 2 is 256"):
            runner.run(np.zeros((1, 3, 256, 256), np.float32))
