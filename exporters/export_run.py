"""What every step of one export shares: its options, where it writes, the spec its graphs are
checked against, the manifest it records into and the progress it reports to. The steps take one
:class:`ExportRun` instead of the same long positional list each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ijepa_deploy.manifest import Manifest
from ijepa_deploy.progress import Progress
from ijepa_deploy.spec import ExportSpec

if TYPE_CHECKING:  # annotation only: pipeline imports the steps that import this module
    from ijepa_deploy.exporters.pipeline import ExportOptions


@dataclass
class ExportRun:
    opts: ExportOptions
    out: Path  # the directory being written: the target, or a hidden sibling when replacing one
    target: Path  # where the artifact will live once it passed
    spec: ExportSpec
    manifest: Manifest
    progress: Progress
