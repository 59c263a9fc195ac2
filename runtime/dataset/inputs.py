"""The listing: every image a dataset job will embed, in a deterministic order.

Inputs are directories (walked recursively, names sorted by code point, symlinked directories not
followed), text files with one path per line, CSV / Parquet files with a path column, or image files
named directly. Each entry has a key (the ``path`` column of the output: relative to its input
directory, or as listed) and the file to open; relative paths in a listing file are resolved
against the listing file's directory, so a job gives the same result from any working directory.
A directory that cannot be read becomes an entry whose error is known in advance (an error row of
its part), so the run goes on and the rows of every part stay a fixed slice of the listing.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ijepa_deploy.errors import InputError, first_line
from ijepa_deploy.runtime.preprocess import IMAGE_SUFFIXES

TABLE_EXTENSIONS = (".csv", ".parquet")


@dataclass
class Listing:
    """``keys[i]`` is entry i's output path, ``sources[i]`` the file to open (None when
    ``problems[i]`` already says why there is nothing to open)."""

    keys: list[str] = field(default_factory=list)
    sources: list[str | None] = field(default_factory=list)
    problems: dict[int, str] = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)  # reason -> files

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, key: str, source: str | None, problem: str | None = None) -> None:
        if problem is not None:
            self.problems[len(self.keys)] = problem
        self.keys.append(key)
        self.sources.append(source)

    def digest(self) -> str:
        """SHA-256 of the keys in order: the same corpus moved elsewhere keeps its digest."""
        h = hashlib.sha256()
        for key in self.keys:
            h.update(key.encode("utf-8", "surrogateescape"))
            h.update(b"\0")
        return h.hexdigest()

    def skipped_text(self) -> str:
        return ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items())) or "none"


def list_inputs(inputs, path_column: str = "path") -> Listing:
    """The listing of ``inputs`` (see the module docstring). Raises IJepaDeployError for an input
    that does not exist or cannot be listed, duplicate keys and an empty result."""
    if not inputs:
        raise InputError("INPUT", "no inputs given", "directories, listing files or images")
    listing = Listing()
    for given in inputs:
        path = Path(given).expanduser()
        if path.is_dir():
            _walk(path, listing)
        elif not path.exists():
            raise InputError(
                str(given),
                "no such file or directory",
                "an image directory, a listing (.txt, .csv, .parquet) or an image file",
            )
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            listing.add(str(given), str(path))
        elif path.suffix.lower() in TABLE_EXTENSIONS:
            _table(path, path_column, listing)
        else:
            _text(path, listing)
    _check_unique(listing)
    if not len(listing):
        raise InputError(
            " ".join(map(str, inputs)),
            f"no images found (skipped: {listing.skipped_text()})",
            f"image files ({', '.join(IMAGE_SUFFIXES)}) or listings naming them",
        )
    return listing


def _walk(root: Path, listing: Listing) -> None:
    """Depth-first, every directory's entries sorted by name; errors become entries."""

    def visit(directory: Path, rel: str) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            key = f"{rel}/" if rel else "./"
            listing.add(
                key,
                None,
                InputError(
                    str(directory), f"directory cannot be read ({exc.strerror or exc})", "a readable directory"
                ).format(),
            )
            return
        for entry in entries:
            child = f"{rel}/{entry.name}" if rel else entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                if is_dir:
                    visit(Path(entry.path), child)
                    continue
                if entry.is_symlink() and entry.is_dir():
                    listing.skipped["symlinked directories (not followed)"] += 1
                    continue
            except OSError as exc:
                listing.add(
                    child,
                    None,
                    InputError(entry.path, f"cannot be read ({exc.strerror or exc})", "a readable file").format(),
                )
                continue
            if Path(entry.name).suffix.lower() in IMAGE_SUFFIXES:
                listing.add(child, entry.path)
            else:  # skipped and counted, so a README or a .DS_Store never becomes an error row
                listing.skipped["files without an image extension"] += 1

    visit(root, "")


def _resolve(listed: str, base: Path) -> str:
    path = Path(listed).expanduser()
    return str(path if path.is_absolute() else base / path)


def _text(path: Path, listing: Listing) -> None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(
            str(path), f"listing cannot be read ({exc.strerror or exc})", "a readable text file, one path per line"
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if "\0" in text or (data and not text):
        raise InputError(
            str(path),
            "is neither an image (by its extension) nor a UTF-8 text listing",
            f"a directory, an image ({', '.join(IMAGE_SUFFIXES)}), a .csv/.parquet table "
            "or a text file with one path per line",
        )
    base = path.resolve().parent
    for line in text.splitlines():
        if line.strip():
            listing.add(line, _resolve(line, base))


def _table(path: Path, column: str, listing: Listing) -> None:
    table = _read_table(path, column)
    if column not in table.column_names:
        raise InputError(
            str(path),
            f"has no column {column!r} (columns: {table.column_names})",
            "--path-column naming the column that holds the image paths",
        )
    values = table.column(column)
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        raise InputError(f"{path} column {column}", f"has type {values.type}", "strings (image paths)")
    base = path.resolve().parent
    for row, value in enumerate(values.to_pylist()):
        if not value:
            raise InputError(f"{path} row {row}", f"column {column!r} is empty", "an image path in every row")
        listing.add(value, _resolve(value, base))


def _read_table(path: Path, column: str):
    try:
        if path.suffix.lower() == ".parquet":
            names = pq.read_schema(path).names
            return pq.read_table(path, columns=[column] if column in names else [])
        # Every column read as text: a column of numeric-looking file names stays a string.
        options = pacsv.ConvertOptions(column_types={column: pa.string()}, strings_can_be_null=False)
        return pacsv.read_csv(path, convert_options=options)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(
            str(path),
            f"cannot be read as {path.suffix[1:].upper()} ({first_line(exc)})",
            f"a {path.suffix[1:].upper()} file with a {column!r} column",
        ) from None


def _check_unique(listing: Listing) -> None:
    seen: dict[str, int] = {}
    for i, key in enumerate(listing.keys):
        if key in seen:
            raise InputError(
                key,
                f"appears twice in the listing (entries {seen[key]} and {i})",
                "one entry per path (the path column is each row's key; give the common parent "
                "directory instead of two directories with the same file names)",
            )
        seen[key] = i


def shard_parts(parts: int, shard_index: int = 0, num_shards: int = 1) -> list[int]:
    """The parts job ``shard_index`` of ``num_shards`` writes: every num_shards-th part, so jobs
    split the listing disjointly and the parts stay the same whatever the number of jobs."""
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise InputError(
            "--shard-index/--num-shards", f"{shard_index}/{num_shards}", "0 <= shard index < number of shards"
        )
    return list(range(shard_index, parts, num_shards))
