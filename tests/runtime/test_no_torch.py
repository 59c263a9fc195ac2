"""The runtime imports neither torch nor transformers: proven in a fresh interpreter that loads
an artifact and embeds a photo, on the default backend and on OpenVINO (which is imported only
when asked for)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ijepa_deploy.runtime.photos import bundled_images

HEAVY = """
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'onnx', 'onnxscript'))
print('HEAVY', heavy)
"""
SCRIPT = (
    """
import sys
from ijepa_deploy.runtime import load
model = load(sys.argv[1])
vectors = model.embed([sys.argv[2]])
assert vectors.shape == (1, 192), vectors.shape
"""
    + HEAVY
)
OPENVINO = (
    """
import sys
import ijepa_deploy.runtime
assert 'openvino' not in sys.modules, 'openvino imported before it was asked for'
from ijepa_deploy.runtime import load
model = load(sys.argv[1], backend='auto')
assert model.backend == 'openvino-cpu', model.choice
assert model.embed([sys.argv[2]]).shape == (1, 192)
"""
    + HEAVY
)


def _fresh_interpreter(script: str, tiny_artifact) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", script, str(tiny_artifact), str(bundled_images()[0])],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_openvino_path_imports_no_torch(tiny_artifact):
    pytest.importorskip("openvino")
    proc = _fresh_interpreter(OPENVINO, tiny_artifact)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout, proc.stdout


def test_runtime_never_imports_torch_or_transformers(tiny_artifact):
    proc = _fresh_interpreter(SCRIPT, tiny_artifact)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout, proc.stdout
