"""Decoding and preprocessing one chunk of listing rows: the unit of work both engines hand to
their workers (local worker processes or threads, Ray tasks). A file that cannot be turned into
pixels becomes an error row with the runtime's one-line message; it never stops the chunk."""

from __future__ import annotations

import signal
from dataclasses import dataclass

import numpy as np

from ijepa_deploy.contract import PreprocessConfig
from ijepa_deploy.errors import IJepaDeployError, InputError, first_line
from ijepa_deploy.runtime.preprocess import Preprocessor


@dataclass
class Chunk:
    """Listing rows ``indices`` with their files (``sources``) and errors known in advance."""

    indices: list[int]
    sources: list[str | None]
    problems: list[str | None]


@dataclass
class Decoded:
    """``pixels[k]`` belongs to row ``ok[k]``; ``errors`` are (row, message)."""

    ok: np.ndarray  # int64
    pixels: np.ndarray | None  # float32 [len(ok), 3, H, W], None when every row failed
    errors: list[tuple[int, str]]


def decode_chunk(preprocess: Preprocessor, chunk: Chunk) -> Decoded:
    ok, pixels, errors = [], [], []
    for index, source, problem in zip(chunk.indices, chunk.sources, chunk.problems):
        if problem is not None or source is None:
            errors.append((index, problem or "no file to open"))
            continue
        try:
            pixels.append(preprocess.one(source))
        except IJepaDeployError as exc:
            errors.append((index, exc.format()))
        except Exception as exc:  # noqa: BLE001 - decoded, then a conversion Pillow refuses (LAB, ...) or MemoryError
            errors.append(
                (
                    index,
                    InputError(
                        source,
                        f"cannot be preprocessed ({type(exc).__name__}: {first_line(exc)})",
                        "an image Pillow converts to RGB",
                    ).format(),
                )
            )
        else:
            ok.append(index)
    return Decoded(np.asarray(ok, dtype=np.int64), np.stack(pixels) if pixels else None, errors)


# -- worker processes ------------------------------------------------------------------------------
_worker_preprocessor: Preprocessor | None = None


def init_worker(config: PreprocessConfig) -> None:
    """Decode workers leave SIGINT/SIGTERM to the job (a Ctrl-C reaches the whole process group):
    the job stops them after it has set its finished parts straight."""
    global _worker_preprocessor
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _worker_preprocessor = Preprocessor(config)


def decode_in_worker(chunk: Chunk) -> Decoded:
    assert _worker_preprocessor is not None, "init_worker runs first"
    return decode_chunk(_worker_preprocessor, chunk)
