"""The artifact manifest: one JSON file that is the contract between exporter, runtime and C++.

An artifact directory holds the graph files (ONNX, external data, engines) and
``ijepa_manifest.json`` with: model source and revision, task, weights origin, I/O schema, batch
range, preprocessing contract, id2label, tool versions, SHA-256 of every file, and parity
results. Plain JSON, no pickles. Readers check ``schema_version`` and every file's checksum.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ijepa_deploy.contract import PreprocessConfig
from ijepa_deploy.errors import IJepaDeployError
from ijepa_deploy.spec import ExportSpec

MANIFEST_NAME = "ijepa_manifest.json"
SCHEMA_VERSION = 1

STATUS_EXPORTING = "exporting"
STATUS_PASSED = "passed"
STATUS_FAILED = "failed"


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    """Write via a temp file + rename, so readers never see half a file. The file gets ``mode``
    (mkstemp's 0600 would hide artifacts from a serving process running as another user)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else memoryview(data))
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class Manifest:
    """In-memory form of ``ijepa_manifest.json``. ``graphs``/``engines`` map a variant name
    (``fp32``, ``fp16``, ``int8`` ...) to a record whose ``file`` is relative to the directory."""

    model: dict
    task: str
    io: ExportSpec
    preprocessing: PreprocessConfig
    batch: dict = field(default_factory=lambda: {"min": 1, "max": 64})
    id2label: dict | None = None
    versions: dict = field(default_factory=dict)
    graphs: dict = field(default_factory=dict)
    engines: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)
    parity: list = field(default_factory=list)
    status: str = STATUS_EXPORTING
    notes: list = field(default_factory=list)
    created: str = ""
    schema_version: int = SCHEMA_VERSION

    # -- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "schema_version": self.schema_version,
            "created": self.created,
            "status": self.status,
            "model": self.model,
            "task": self.task,
            "io": self.io.to_dict(),
            "batch": self.batch,
            "preprocessing": self.preprocessing.to_dict(),
            "id2label": self.id2label,
            "versions": self.versions,
            "graphs": self.graphs,
            "engines": self.engines,
            "files": self.files,
            "parity": self.parity,
            "notes": self.notes,
        }

    @classmethod
    def from_dict(cls, data: dict, where: str = MANIFEST_NAME) -> "Manifest":
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise IJepaDeployError(
                where, f"manifest schema_version is {version!r}",
                f"{SCHEMA_VERSION} (re-export with this version of ijepa-deploy)",
            )
        try:
            return cls(
                schema_version=version,
                created=data.get("created", ""),
                status=data["status"],
                model=data["model"],
                task=data["task"],
                io=ExportSpec.from_dict(data["io"]),
                batch=data["batch"],
                preprocessing=PreprocessConfig.from_dict(data["preprocessing"]),
                id2label=data.get("id2label"),
                versions=data.get("versions", {}),
                graphs=data.get("graphs", {}),
                engines=data.get("engines", {}),
                files=data.get("files", {}),
                parity=data.get("parity", []),
                notes=data.get("notes", []),
            )
        except (KeyError, TypeError) as exc:
            raise IJepaDeployError(where, f"manifest is missing or has a malformed field ({exc})",
                                   "a manifest written by ijepa-export") from None

    # -- files ---------------------------------------------------------------------------------
    def record_file(self, directory: Path, relpath: str, role: str) -> None:
        path = Path(directory) / relpath
        self.files[relpath] = {"sha256": sha256_file(path), "bytes": path.stat().st_size, "role": role}

    def forget_file(self, relpath: str) -> None:
        self.files.pop(relpath, None)

    def write(self, directory: Path) -> Path:
        """Write atomically (temp file + rename) so a crash never leaves half a manifest."""
        target = Path(directory) / MANIFEST_NAME
        write_atomic(target, json.dumps(self.to_dict(), indent=2) + "\n")
        return target


def read_manifest(directory: Path) -> Manifest:
    directory = Path(directory)
    path = directory / MANIFEST_NAME
    if not directory.is_dir():
        raise IJepaDeployError(str(directory), "artifact directory does not exist",
                               "a directory written by ijepa-export")
    if not path.is_file():
        raise IJepaDeployError(str(directory), f"no {MANIFEST_NAME} in the directory",
                               "a directory written by ijepa-export")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IJepaDeployError(str(path), f"manifest is not valid JSON ({exc})",
                               "the file ijepa-export wrote, unmodified") from None
    return Manifest.from_dict(data, where=str(path))


def verify_files(directory: Path, manifest: Manifest, relpaths: list[str] | None = None) -> None:
    """Check that every listed file exists and matches its recorded SHA-256."""
    directory = Path(directory)
    for rel in relpaths if relpaths is not None else list(manifest.files):
        entry = manifest.files.get(rel)
        if entry is None:
            raise IJepaDeployError(str(directory / rel), "file is not recorded in the manifest",
                                   "every artifact file listed under 'files' with its sha256")
        path = directory / rel
        if not path.is_file():
            raise IJepaDeployError(str(path), "artifact file is missing",
                                   "the files ijepa-export wrote (re-export or copy the whole directory)")
        if path.stat().st_size != entry["bytes"] or sha256_file(path) != entry["sha256"]:
            raise IJepaDeployError(str(path), "checksum mismatch: the file was modified or truncated",
                                   f"sha256 {entry['sha256'][:16]}... as recorded at export (re-export or re-copy)")
