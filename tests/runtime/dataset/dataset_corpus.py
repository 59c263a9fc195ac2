"""A small messy corpus built once per session: nested folders, spaces and accents in names, every
listed format (JPEG, PNG, WebP, BMP, GIF, TIFF), corrupt, truncated and empty files, a file that is
not an image, and listings of part of it (text, CSV, Parquet)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

GOOD = {  # relative path -> Pillow format
    "a.jpg": "JPEG",
    "B upper.JPEG": "JPEG",
    "nested/deeper/c.png": "PNG",
    "nested/été 2024/d é.webp": "WEBP",
    "nested/e.bmp": "BMP",
    "f.gif": "GIF",
    "g.tif": "TIFF",
    "nested/h.tiff": "TIFF",
    "nested/deeper/i grey.png": "PNG",
}
BAD = ("corrupt.jpg", "nested/empty.png", "nested/truncated.webp")
OTHER = ("README.txt", "nested/.DS_Store")


@dataclass
class Corpus:
    root: Path
    good: list[str]  # relative paths, listing order
    bad: list[str]
    text_listing: Path
    csv_listing: Path
    parquet_listing: Path
    listed: list[str]  # what the three listings name (as listed)


def image(seed: int, size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels).convert(mode)


def build_corpus(root: Path) -> Corpus:
    for k, (rel, fmt) in enumerate(GOOD.items()):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = "L" if "grey" in rel else ("P" if fmt == "GIF" else "RGB")
        image(k, (37 + 23 * k, 29 + 17 * k), mode).save(path, fmt)  # mixed sizes
    (root / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    (root / "nested/empty.png").write_bytes(b"")
    buffer = io.BytesIO()
    image(99, (64, 64)).save(buffer, "WEBP")
    (root / "nested/truncated.webp").write_bytes(buffer.getvalue()[:40])
    for rel in OTHER:
        (root / rel).write_text("not an image")
    listings = root.parent / f"{root.name}-listings"
    listings.mkdir()
    listed = ["../corpus/a.jpg", str(root / "nested/e.bmp"), "../corpus/missing.png"]
    text = listings / "list.txt"
    text.write_text("\n".join(listed) + "\n\n")
    csv = listings / "list.csv"
    csv.write_text("id,file\n" + "".join(f"{i},{p}\n" for i, p in enumerate(listed)))
    parquet = listings / "list.parquet"
    pq.write_table(pa.table({"file": listed, "n": list(range(len(listed)))}), parquet)
    return Corpus(root, _walk_order(GOOD), _walk_order(BAD), text, csv, parquet, listed)


def _walk_order(paths) -> list[str]:
    """Depth-first with names sorted by code point, as the listing walks (not plain string order:
    'nested/e.bmp' comes after 'nested/deeper/...' and 'nested/été 2024/...' because a directory's
    entries are sorted by name first)."""
    return sorted(paths, key=lambda r: r.split("/"))


def read_rows(out: Path, name: str = "part") -> dict[str, dict]:
    """Every row of every ``name``-NNNNN.parquet in ``out``, by path (asserting each path once)."""
    rows: dict[str, dict] = {}
    for file in sorted(out.glob(f"{name}-*.parquet")):
        for row in pq.read_table(file).to_pylist():
            assert row["path"] not in rows, f"{row['path']} twice"
            rows[row["path"]] = row
    return rows
