"""--engine ray on a local Ray (started once for the module, 2 CPUs) writes the same rows as the
local engine: the same keys, parts, error rows and numbers."""

from __future__ import annotations

import numpy as np
import pytest
from dataset_corpus import read_rows

from ijepa_deploy.errors import ArtifactError
from ijepa_deploy.runtime.dataset import DatasetOptions, embed_dataset

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    yield
    ray.shutdown()


def run(artifact, inputs, out, engine, **kw):
    opts = DatasetOptions(
        artifact,
        [str(i) for i in inputs],
        out,
        backend="onnxruntime",
        part_size=4,
        batch_size=3,
        workers=1,
        decode="threads",
        engine=engine,
        progress=False,
        **kw,
    )
    return embed_dataset(opts, lambda text: None)


def test_ray_writes_the_rows_of_the_local_engine(tiny_artifact, corpus, tmp_path):
    local, distributed = tmp_path / "local", tmp_path / "ray"
    run(tiny_artifact, [corpus.root, corpus.text_listing], local, "local")
    summary = run(tiny_artifact, [corpus.root, corpus.text_listing], distributed, "ray")
    assert summary.written == [0, 1, 2, 3] and "ray engine" in summary.backend
    assert sorted(p.name for p in local.glob("*.parquet")) == sorted(p.name for p in distributed.glob("*.parquet"))
    a, b = read_rows(local), read_rows(distributed)
    assert list(a) == list(b) and len(a) == 11
    for key in a:
        np.testing.assert_allclose(b[key]["embedding"], a[key]["embedding"], atol=2e-6, rtol=0)
    assert read_rows(local, "errors") == read_rows(distributed, "errors")
    again = run(tiny_artifact, [corpus.root, corpus.text_listing], distributed, "ray")
    assert again.written == []


def test_an_actor_that_cannot_load_the_artifact_is_a_user_error(tiny_artifact, corpus, tmp_path):
    with pytest.raises(ArtifactError, match="artifact has no int8 graph"):
        run(tiny_artifact, [corpus.root], tmp_path / "out", "ray", precision="int8")
