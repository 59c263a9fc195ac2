"""The listing: what a job embeds, in which order, under which key."""

from __future__ import annotations

import os

import pytest
from dataset_corpus import BAD

from ijepa_deploy.errors import InputError
from ijepa_deploy.runtime.dataset.inputs import list_inputs, shard_parts
from ijepa_deploy.runtime.photos import images_in


def test_directories_are_walked_depth_first_sorted_and_skip_non_images(corpus):
    listing = list_inputs([corpus.root])
    assert listing.keys == sorted(corpus.good + list(BAD), key=lambda r: r.split("/"))
    assert all(os.path.samefile(s, corpus.root / k) for k, s in zip(listing.keys, listing.sources))
    assert listing.skipped == {"files without an image extension": 2}  # README.txt, .DS_Store
    assert not listing.problems


def test_a_dataset_job_and_the_export_photos_take_the_same_files_from_a_directory(corpus):
    """The export's parity / calibration photos (images_in) and a dataset job pick a directory's
    images by the same suffixes: a GIF (Pillow decodes it, preprocessing composites its palette)
    is embedded by both or by neither."""
    photos = [p.relative_to(corpus.root).as_posix() for p in images_in(corpus.root)]
    assert sorted(photos) == sorted(list_inputs([corpus.root]).keys)
    assert "f.gif" in photos


@pytest.mark.parametrize("kind", ["text", "csv", "parquet"])
def test_listings_keep_paths_as_listed_and_resolve_them_beside_the_listing(corpus, kind, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # relative entries resolve against the listing's directory, not the cwd
    path = {"text": corpus.text_listing, "csv": corpus.csv_listing, "parquet": corpus.parquet_listing}[kind]
    listing = list_inputs([path], path_column="file")
    assert listing.keys == corpus.listed
    assert os.path.samefile(listing.sources[0], corpus.root / "a.jpg")
    assert listing.sources[2].endswith("missing.png")  # a missing file is an error row later, not here


def test_an_image_named_directly_is_listed_as_given(corpus):
    listing = list_inputs([corpus.root / "a.jpg", corpus.root / "nested"])
    assert listing.keys[0] == str(corpus.root / "a.jpg")
    assert listing.keys[1:4] == ["deeper/c.png", "deeper/i grey.png", "e.bmp"]


def test_an_unreadable_directory_is_an_entry_with_its_error(corpus, monkeypatch):
    real = os.scandir

    def scandir(path):
        if str(path).endswith("deeper"):  # root reads every directory, so permissions cannot show it
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    listing = list_inputs([corpus.root])
    index = listing.keys.index("nested/deeper/")
    assert listing.sources[index] is None
    assert "directory cannot be read (Permission denied)" in listing.problems[index]
    assert "nested/e.bmp" in listing.keys  # the walk went on


@pytest.mark.parametrize(
    "case, problem",
    [
        ("missing", "no such file or directory"),
        ("empty-dir", "no images found (skipped: none)"),
        ("only-text", "no images found (skipped: 1 files without an image extension)"),
        ("binary", "is neither an image (by its extension) nor a UTF-8 text listing"),
        ("no-column", "has no column 'path' (columns: ['id', 'file'])"),
        ("duplicate", "appears twice in the listing (entries 0 and 1)"),
    ],
)
def test_inputs_that_cannot_be_listed_are_clear_errors(corpus, tmp_path, case, problem):
    (tmp_path / "empty").mkdir()
    (tmp_path / "only").mkdir()
    (tmp_path / "only/notes.md").write_text("hi")
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\xff")
    (tmp_path / "dup.txt").write_text(f"{corpus.root / 'a.jpg'}\n{corpus.root / 'a.jpg'}\n")
    inputs = {
        "missing": [tmp_path / "nope"],
        "empty-dir": [tmp_path / "empty"],
        "only-text": [tmp_path / "only"],
        "binary": [tmp_path / "blob.bin"],
        "no-column": [corpus.csv_listing],
        "duplicate": [tmp_path / "dup.txt"],
    }[case]
    with pytest.raises(InputError) as info:
        list_inputs(inputs)
    assert problem in info.value.problem


def test_shards_take_every_nth_part_disjointly():
    shards = [shard_parts(10, k, 3) for k in range(3)]
    assert shards == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    with pytest.raises(InputError):
        shard_parts(10, 3, 3)
