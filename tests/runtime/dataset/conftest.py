"""The dataset tests' shared corpus (built once per session; see dataset_corpus.py)."""

from __future__ import annotations

import pytest
from dataset_corpus import Corpus, build_corpus


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Corpus:
    root = tmp_path_factory.mktemp("dataset") / "corpus"
    root.mkdir()
    return build_corpus(root)
