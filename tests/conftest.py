"""Shared fixtures: tiny seeded models exported once per session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a hub


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory):
    """random:tiny feature-extraction artifact (exported, validated, parity passed)."""
    from ijepa_deploy.exporters.pipeline import ExportOptions, export_artifact
    from ijepa_deploy.progress import Progress

    out = tmp_path_factory.mktemp("art") / "tiny"
    manifest = export_artifact(ExportOptions(model="random:tiny", output=out, max_batch=8),
                               Progress(quiet=True))
    assert manifest.status == "passed"
    return out


@pytest.fixture(scope="session")
def tiny_cls_artifact(tmp_path_factory):
    """random:tiny image-classification artifact."""
    from ijepa_deploy.exporters.pipeline import ExportOptions, export_artifact
    from ijepa_deploy.progress import Progress

    out = tmp_path_factory.mktemp("art") / "tiny-cls"
    manifest = export_artifact(ExportOptions(model="random:tiny", task="image-classification", output=out,
                                             max_batch=8), Progress(quiet=True))
    assert manifest.status == "passed"
    return out
