"""The runtime imports neither torch nor transformers: proven in a fresh interpreter that loads
an artifact and embeds a photo."""

from __future__ import annotations

import subprocess
import sys

from ijepa_deploy.exporters.parity import bundled_images

SCRIPT = """
import sys
from ijepa_deploy.runtime import load
model = load(sys.argv[1])
vectors = model.embed([sys.argv[2]])
assert vectors.shape == (1, 192), vectors.shape
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'onnx', 'onnxscript'))
print('HEAVY', heavy)
"""


def test_runtime_never_imports_torch_or_transformers(tiny_artifact):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tiny_artifact), str(bundled_images()[0])],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout, proc.stdout
