"""Which precision steps run in a child process (see ``ijepa_deploy.child_process``)."""

from __future__ import annotations

import os
from pathlib import Path

from ijepa_deploy.exporters.precision.onnx_files import graph_bytes

ISOLATE_ABOVE_BYTES = 256_000_000
INPROCESS_ENV = "IJEPA_EXPORT_INPROCESS"


def should_isolate(source: Path) -> bool:
    """Big graphs get each precision step in a fresh process: protobuf and ORT keep freed memory in
    the heap, so in one process the steps' peaks add up, while separate processes peak at the
    largest step. ``IJEPA_EXPORT_INPROCESS=1`` keeps everything in-process (debugging)."""
    if os.environ.get(INPROCESS_ENV, "") not in ("", "0"):
        return False
    return graph_bytes(source) > ISOLATE_ABOVE_BYTES
