"""Eager fp32's outputs on the parity photos, saved in the artifact (``reference_outputs.npz``), so
any graph or engine can be checked on any host without torch or the checkpoint (Polygraphy's saved
reference outputs).

The file holds, for N photos (the parity batch first, then the rest of the neighbour check's set):
the photos themselves as the preprocessing contract resized them (uint8, before normalisation,
so the user's own ``--parity-images`` travel with the artifact), the SHA-256 of each photo's
float32 pixels as this host's Preprocessor made them at export, the pooled ``embedding`` (or
``logits``) of all N, and a bounded summary of ``last_hidden_state`` for the parity photos: up to
``HIDDEN_TOKENS`` evenly spaced tokens. Plain arrays in an ``.npz`` read with ``allow_pickle=False``;
the manifest lists it with its checksum like every other file.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ijepa_deploy.errors import ArtifactError, IJepaDeployError, ParityError
from ijepa_deploy.manifest import write_atomic

REFERENCE_FILE = "reference_outputs.npz"
HIDDEN = "last_hidden_state"
HIDDEN_TOKENS = 64
FORMAT = 1


def pixel_digest(pixels: np.ndarray) -> str:
    """SHA-256 of one image's float32 CHW pixels (C order)."""
    return hashlib.sha256(np.ascontiguousarray(pixels, dtype=np.float32).tobytes()).hexdigest()


def hidden_tokens(num_tokens: int, limit: int = HIDDEN_TOKENS) -> np.ndarray:
    """The token rows of ``last_hidden_state`` that are kept: all, or ``limit`` evenly spaced."""
    if num_tokens <= limit:
        return np.arange(num_tokens, dtype=np.int64)
    return np.unique(np.linspace(0, num_tokens - 1, limit).round().astype(np.int64))


@dataclass
class ReferenceOutputs:
    images: np.ndarray  # uint8 [N, H, W, 3], the contract's resize of each photo
    names: list[str]
    digests: list[str]  # pixel_digest of each photo's preprocessed pixels at export
    outputs: dict[str, np.ndarray]  # the pooled output ("embedding" or "logits") of all N photos
    parity_images: int  # the first P photos are the parity batch
    hidden: np.ndarray | None = None  # last_hidden_state[:P, tokens]
    tokens: np.ndarray | None = None
    reference: str = "torch-eager"  # what produced the outputs

    def __post_init__(self):
        n = len(self.images)
        if not (
            len(self.names) == len(self.digests) == n
            and 0 < self.parity_images <= n
            and all(len(v) == n for v in self.outputs.values())
        ):
            raise ArtifactError(
                "reference outputs", "arrays of different lengths", "one entry per photo, as ijepa-export writes them"
            )

    # -- the file ------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        arrays = {
            "format": np.array(FORMAT),
            "images": self.images,
            "names": np.array(self.names),
            "digests": np.array(self.digests),
            "parity_images": np.array(self.parity_images),
            "reference": np.array(self.reference),
        }
        arrays.update({f"output.{name}": value for name, value in self.outputs.items()})
        if self.hidden is not None and self.tokens is not None:
            arrays.update({f"output.{HIDDEN}": self.hidden, "tokens": self.tokens})
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        write_atomic(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> ReferenceOutputs:
        try:
            with np.load(path, allow_pickle=False) as data:
                if int(data["format"]) != FORMAT:
                    raise ArtifactError(
                        str(path),
                        f"reference outputs format {int(data['format'])}",
                        f"format {FORMAT} (re-export with this version of ijepa-deploy)",
                    )
                outputs = {
                    k.split(".", 1)[1]: data[k]
                    for k in data.files
                    if k.startswith("output.") and k != f"output.{HIDDEN}"
                }
                hidden = data[f"output.{HIDDEN}"] if f"output.{HIDDEN}" in data.files else None
                return cls(
                    images=data["images"],
                    names=[str(n) for n in data["names"]],
                    digests=[str(d) for d in data["digests"]],
                    outputs=outputs,
                    parity_images=int(data["parity_images"]),
                    hidden=hidden,
                    tokens=data["tokens"] if hidden is not None else None,
                    reference=str(data["reference"]),
                )
        except IJepaDeployError:
            raise
        except Exception as exc:  # zip/npz errors, missing keys, object arrays refused by allow_pickle=False
            raise ArtifactError(
                str(path),
                f"reference outputs cannot be read ({type(exc).__name__}: {exc})",
                "the reference_outputs.npz ijepa-export wrote",
            ) from None

    # -- using it ------------------------------------------------------------------------------
    def pixels(self, preprocess) -> np.ndarray:
        """The photos as this host's Preprocessor makes them, checked against the export's digests:
        a mismatch means this host's preprocessing (Pillow, numpy) differs from the export's, and
        every comparison after it would be meaningless."""
        pixels = preprocess(list(self.images))
        bad = [name for name, p, d in zip(self.names, pixels, self.digests) if pixel_digest(p) != d]
        if bad:
            raise ParityError(
                "reference outputs",
                f"this host preprocesses {len(bad)} of {len(self.names)} "
                f"photos differently from the export (e.g. {bad[0]})",
                "the same preprocessing on both hosts (same Pillow and numpy behaviour)",
            )
        return pixels

    def expected(self, count: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """For a batch of ``count`` rows cycling through the photos (:func:`tile`): per output, the
        rows the reference covers and their reference values (``last_hidden_state``: the rows that
        are parity photos)."""
        rows = np.arange(count)
        photo = rows % len(self.images)
        found = {name: (rows, value[photo]) for name, value in self.outputs.items()}
        if self.hidden is not None:
            covered = rows[photo < self.parity_images]
            found[HIDDEN] = (covered, self.hidden[covered % len(self.images)])
        return found

    def view(self, name: str, candidate: np.ndarray) -> np.ndarray:
        """The part of a candidate's output the reference holds (the kept tokens of last_hidden_state)."""
        return candidate[:, self.tokens] if name == HIDDEN and self.tokens is not None else candidate


def tile(pixels: np.ndarray, count: int) -> np.ndarray:
    """``count`` rows cycling through ``pixels`` (for batches larger than the saved photos)."""
    return np.ascontiguousarray(pixels[np.arange(count) % len(pixels)])
