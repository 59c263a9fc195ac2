"""The local engine end to end on the messy corpus: rows equal load().embed, error rows, resume,
shards, --overwrite, --retry-errors, and the errors given before any work."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dataset_corpus import image, read_rows

from ijepa_deploy.cli import run
from ijepa_deploy.cli.embed_dataset import _main
from ijepa_deploy.errors import InputError
from ijepa_deploy.runtime import load
from ijepa_deploy.runtime.dataset import DatasetOptions, embed_dataset


def options(artifact, inputs, out, **kw) -> DatasetOptions:
    kw = {
        "backend": "onnxruntime",
        "part_size": 4,
        "batch_size": 3,
        "workers": 1,
        "decode": "threads",
        "progress": False,
        **kw,
    }
    return DatasetOptions(artifact, [str(i) for i in inputs], out, **kw)


def quiet(_text):
    pass


@pytest.fixture(scope="module")
def reference(tiny_artifact, corpus):
    with load(tiny_artifact) as model:
        return {rel: model.embed([corpus.root / rel])[0] for rel in corpus.good}


def test_each_good_image_is_one_row_equal_to_embed_and_each_bad_one_an_error_row(
    tiny_artifact, corpus, reference, tmp_path
):
    out = tmp_path / "out"
    summary = embed_dataset(options(tiny_artifact, [corpus.root], out, decode="processes"), quiet)
    rows, errors = read_rows(out), read_rows(out, "errors")
    assert list(rows) == corpus.good and list(errors) == corpus.bad  # listing order, part by part
    for rel, row in rows.items():
        np.testing.assert_allclose(row["embedding"], reference[rel], atol=2e-6, rtol=0)
    assert "image data is corrupt or truncated" in errors["corrupt.jpg"]["error"]
    assert "file is empty (0 bytes)" in errors["nested/empty.png"]["error"]
    assert errors["nested/truncated.webp"]["error"].startswith(str(corpus.root / "nested/truncated.webp") + " | ")
    schema = pq.read_schema(out / "part-00000.parquet")
    assert schema.field("embedding").type == pa.list_(pa.float32(), 192) and schema.field("path").type == pa.string()
    state = json.loads((out / "_ijepa_dataset.json").read_text())
    assert state["parts"] == 3 and state["rows"] == 12 and state["part_size"] == 4 and len(state["finished"]) == 3
    assert sum(p["rows"] for p in state["finished"].values()) == 9 and summary.embedded == 9 and summary.failed == 3
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".") and p.name != ".ijepa_dataset.lock") == []

    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = embed_dataset(options(tiny_artifact, [corpus.root], out), quiet)
    assert again.written == [] and again.finished_after == 3
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before  # a no-op: nothing rewritten


def test_a_missing_part_is_the_only_work_of_a_rerun(tiny_artifact, corpus, tmp_path):
    out = tmp_path / "out"
    embed_dataset(options(tiny_artifact, [corpus.root], out), quiet)
    first = read_rows(out)
    (out / "part-00001.parquet").unlink()
    summary = embed_dataset(options(tiny_artifact, [corpus.root], out), quiet)
    assert summary.written == [1] and summary.finished_before == 2
    assert read_rows(out).keys() == first.keys()


def test_classification_artifacts_write_logits_and_label(tiny_cls_artifact, corpus, tmp_path):
    out = tmp_path / "out"
    embed_dataset(options(tiny_cls_artifact, [corpus.root / "nested"], out), quiet)
    rows = read_rows(out)
    with load(tiny_cls_artifact) as model:
        top = model.classify([corpus.root / "nested" / rel for rel in rows], top_k=1)
        logits = model.run(model.preprocess([corpus.root / "nested" / rel for rel in rows]))["logits"]
    assert [r["label"] for r in rows.values()] == [t[0][0] for t in top]
    np.testing.assert_allclose(np.array([r["logits"] for r in rows.values()]), logits, atol=2e-6, rtol=0)
    assert "embedding" not in pq.read_schema(out / "part-00000.parquet").names


def test_listings_give_rows_as_listed_and_missing_files_are_error_rows(tiny_artifact, corpus, tmp_path):
    out = tmp_path / "out"
    embed_dataset(options(tiny_artifact, [corpus.text_listing], out), quiet)
    assert list(read_rows(out)) == corpus.listed[:2]
    error = read_rows(out, "errors")["../corpus/missing.png"]["error"]
    assert "missing.png | no such file" in error


def test_shards_write_disjoint_parts_of_one_output(tiny_artifact, corpus, tmp_path):
    whole, shared = tmp_path / "whole", tmp_path / "shared"
    embed_dataset(options(tiny_artifact, [corpus.root], whole, part_size=2), quiet)
    first = embed_dataset(
        options(tiny_artifact, [corpus.root], shared, part_size=2, shard_index=0, num_shards=2), quiet
    )
    assert first.written == [0, 2, 4] and not (shared / "part-00001.parquet").exists()
    second = embed_dataset(
        options(tiny_artifact, [corpus.root], shared, part_size=2, shard_index=1, num_shards=2), quiet
    )
    assert second.written == [1, 3, 5] and any("output complete" in n for n in second.notes)
    a, b = read_rows(whole), read_rows(shared)
    assert list(a) == list(b)
    for key in a:
        np.testing.assert_array_equal(a[key]["embedding"], b[key]["embedding"])
    assert json.loads((shared / "_ijepa_dataset.json").read_text())["finished"].keys() == {f"{i:05d}" for i in range(6)}


def test_another_artifact_or_listing_is_refused_unless_overwrite(tiny_artifact, tiny_cls_artifact, corpus, tmp_path):
    out = tmp_path / "out"
    embed_dataset(options(tiny_artifact, [corpus.root / "nested"], out), quiet)
    with pytest.raises(InputError, match="holds the output of another job: another artifact"):
        embed_dataset(options(tiny_cls_artifact, [corpus.root / "nested"], out), quiet)
    with pytest.raises(InputError, match="another listing"):
        embed_dataset(options(tiny_artifact, [corpus.root], out), quiet)
    with pytest.raises(InputError, match="part size 4"):
        embed_dataset(options(tiny_artifact, [corpus.root / "nested"], out, part_size=5), quiet)
    assert len(list(out.glob("part-*.parquet"))) == 2  # untouched
    summary = embed_dataset(options(tiny_cls_artifact, [corpus.root / "nested"], out, overwrite=True), quiet)
    assert any("removed the earlier output" in n for n in summary.notes)
    assert "logits" in pq.read_schema(out / "part-00000.parquet").names
    assert not [p for p in out.iterdir() if p.name.startswith(".previous-")]


def test_retry_errors_re_embeds_only_the_error_rows(tiny_artifact, corpus, tmp_path):
    root = tmp_path / "corpus"
    shutil.copytree(corpus.root, root)
    out = tmp_path / "out"
    embed_dataset(options(tiny_artifact, [root], out), quiet)
    before = read_rows(out)
    image(7, (50, 40)).save(root / "corrupt.jpg", "JPEG")  # the user fixes one file
    untouched = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    summary = embed_dataset(options(tiny_artifact, [root], out, retry_errors=True), quiet)
    part = summary.written
    assert summary.embedded == 1 and summary.failed == 2 and len(part) == 2  # two parts held error rows
    rows, errors = read_rows(out), read_rows(out, "errors")
    assert "corrupt.jpg" in rows and "corrupt.jpg" not in errors and len(errors) == 2
    assert [k for k in rows if k != "corrupt.jpg"] == list(before)
    first = pq.read_table(out / "part-00000.parquet").column("path").to_pylist()
    assert first == sorted(first, key=lambda r: r.split("/"))  # still in listing order
    with load(tiny_artifact) as model:
        np.testing.assert_allclose(rows["corrupt.jpg"]["embedding"], model.embed([root / "corrupt.jpg"])[0], atol=2e-6)
    changed = {n for n, t in untouched.items() if (out / n).stat().st_mtime_ns != t}
    assert changed == {f"part-{p:05d}.parquet" for p in part}


def test_bad_outputs_and_options_are_refused_before_any_work(tiny_artifact, corpus, tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign/notes.md").write_text("mine")
    cases = [
        (tmp_path / "file", {}, "exists and is not a directory"),
        (tmp_path / "file/sub", {}, "is not a directory"),
        (tmp_path / "foreign", {}, "is not empty and holds no _ijepa_dataset.json"),
        (tmp_path / "new", {"batch_size": 9}, "over the artifact's max batch 8"),
        (tmp_path / "new", {"part_size": 0}, "0"),
    ]
    for out, kw, problem in cases:
        with pytest.raises(InputError) as info:
            embed_dataset(options(tiny_artifact, [corpus.root], out, **kw), quiet)
        assert problem in info.value.problem, info.value
    assert not (tmp_path / "new").exists()


def test_the_command_prints_a_summary_and_one_line_errors(tiny_artifact, corpus, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [
        str(tiny_artifact),
        str(corpus.root),
        "--output",
        str(out),
        "--part-size",
        "5",
        "--workers",
        "1",
        "--no-progress",
    ]
    assert run(_main, argv) == 0
    captured = capsys.readouterr()
    assert "3/3 parts of this job finished" in captured.out and "images embedded 9, error rows 3" in captured.out
    assert "12 images in 3 parts of 5" in captured.err
    assert run(_main, [str(tiny_artifact), str(tmp_path / "nothing"), "--output", str(out)]) == 1
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            "no such file or directory. Note: expected an image directory, a "
            "listing (.txt, .csv, .parquet) or an image file"
        )
    )
