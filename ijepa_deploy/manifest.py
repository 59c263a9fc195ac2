"""The artifact manifest: one JSON file that is the contract between exporter, runtime and C++.

An artifact directory holds the graph files (ONNX, external data, engines) and
``ijepa_manifest.json`` with: model source and revision, task, weights origin, I/O schema, batch
range, preprocessing contract, id2label, tool versions, SHA-256 of every file, and parity
results. Plain JSON, no pickles, described by ``schema/manifest.schema.json``: every write and every
read is checked against it (:mod:`ijepa_deploy.manifest_schema`), the inner records are the
dataclasses of :mod:`ijepa_deploy.records`. Readers also check every file's checksum.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ijepa_deploy.contract import PreprocessConfig
from ijepa_deploy.errors import ArtifactError, IJepaDeployError
from ijepa_deploy.manifest_schema import check_manifest, resolve_inside
from ijepa_deploy.records import BatchRange, EngineRecord, FileRecord, GraphRecord, ModelInfo, ParityResult
from ijepa_deploy.spec import ExportSpec

MANIFEST_NAME = "ijepa_manifest.json"
SCHEMA_VERSION = 1

STATUS_EXPORTING = "exporting"
STATUS_PASSED = "passed"
STATUS_PARTIAL = "partial"  # the fp32 graph passed, some other graph or mode did not: what passed is served
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
    (``fp32``, ``fp16``, ``int8`` ...) to a record whose files are relative to the directory."""

    model: ModelInfo
    task: str
    io: ExportSpec
    preprocessing: PreprocessConfig
    batch: BatchRange
    id2label: dict[str, str] | None = None
    versions: dict[str, Any] = field(default_factory=dict)
    graphs: dict[str, GraphRecord] = field(default_factory=dict)
    engines: dict[str, EngineRecord] = field(default_factory=dict)
    files: dict[str, FileRecord] = field(default_factory=dict)
    parity: list[ParityResult] = field(default_factory=list)
    status: str = STATUS_EXPORTING
    notes: list[str] = field(default_factory=list)
    created: str = ""
    schema_version: int = SCHEMA_VERSION

    # -- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "schema_version": self.schema_version,
            "created": self.created,
            "status": self.status,
            "model": self.model.to_dict(),
            "task": self.task,
            "io": self.io.to_dict(),
            "batch": self.batch.to_dict(),
            "preprocessing": self.preprocessing.to_dict(),
            "id2label": self.id2label,
            "versions": dict(self.versions),
            "graphs": {v: g.to_dict() for v, g in self.graphs.items()},
            "engines": {v: e.to_dict() for v, e in self.engines.items()},
            "files": {name: f.to_dict() for name, f in self.files.items()},
            "parity": [r.to_dict() for r in self.parity],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = MANIFEST_NAME) -> Manifest:
        """The one reader: checks the version, the schema and the consistency, then builds records."""
        version = data.get("schema_version") if isinstance(data, dict) else SCHEMA_VERSION
        if version != SCHEMA_VERSION:
            raise ArtifactError(
                where,
                f"manifest schema_version is {version!r}",
                f"{SCHEMA_VERSION} (re-export with this version of ijepa-deploy)",
            )
        check_manifest(data, where)
        try:
            preprocessing = PreprocessConfig.from_dict(data["preprocessing"])
        except IJepaDeployError as exc:
            raise exc.restated(where, f"manifest field $.preprocessing: {exc.problem}") from None
        return cls(
            schema_version=version,
            created=data.get("created", ""),
            status=data["status"],
            model=ModelInfo.from_dict(data["model"]),
            task=data["task"],
            io=ExportSpec.from_dict(data["io"]),
            batch=BatchRange.from_dict(data["batch"]),
            preprocessing=preprocessing,
            id2label=data["id2label"],
            versions=dict(data["versions"]),
            graphs={v: GraphRecord.from_dict(g) for v, g in data["graphs"].items()},
            engines={v: EngineRecord.from_dict(e) for v, e in data["engines"].items()},
            files={name: FileRecord.from_dict(f) for name, f in data["files"].items()},
            parity=[ParityResult.from_dict(r) for r in data["parity"]],
            notes=list(data["notes"]),
        )

    def file_names(self) -> list[str]:
        """Every file name the manifest mentions (files, graphs, engines), each once."""
        names = list(self.files)
        for graph in self.graphs.values():
            names += graph.files + graph.openvino_files
        names += [engine.file for engine in self.engines.values()]
        return list(dict.fromkeys(names))

    # -- verdicts ------------------------------------------------------------------------------
    def settle_status(self) -> str:
        """Give every graph its verdict from its parity rows at its own precision (none yet:
        'unverified'), then the artifact its status: 'failed' unless the fp32 graph passed,
        'passed' when every graph, engine and runtime-mode row passed, else 'partial'."""
        for variant, graph in self.graphs.items():
            rows = [
                r.passed
                for r in self.parity
                if r.graph == variant and r.engine is None and r.precision == graph.precision
            ]
            graph.status = "unverified" if not rows else STATUS_PASSED if all(rows) else STATUS_FAILED
        fp32 = self.graphs.get("fp32")
        if fp32 is None or fp32.status != STATUS_PASSED:
            self.status = STATUS_FAILED
        elif (
            all(r.passed for r in self.parity)
            and all(g.status == STATUS_PASSED for g in self.graphs.values())
            and all(e.status in (None, STATUS_PASSED) for e in self.engines.values())
        ):
            self.status = STATUS_PASSED
        else:
            self.status = STATUS_PARTIAL
        return self.status

    # -- files ---------------------------------------------------------------------------------
    def record_file(self, directory: Path, relpath: str, role: str) -> None:
        path = resolve_inside(directory, relpath)
        self.files[relpath] = FileRecord(sha256=sha256_file(path), bytes=path.stat().st_size, role=role)

    def write(self, directory: Path) -> Path:
        """Check against the schema, then write atomically (temp file + rename) so a crash never
        leaves half a manifest. Non-finite numbers are refused: the file is strict JSON."""
        target = Path(directory) / MANIFEST_NAME
        data = self.to_dict()
        check_manifest(data, f"{target} (being written)")
        write_atomic(target, json.dumps(data, indent=2, allow_nan=False) + "\n")
        return target


def read_manifest(directory: Path) -> Manifest:
    """Read and check the manifest of ``directory``; every file name it mentions must resolve
    inside the directory (checked here, before any of them is opened or hashed)."""
    directory = Path(directory)
    path = directory / MANIFEST_NAME
    if not directory.is_dir():
        raise ArtifactError(str(directory), "artifact directory does not exist", "a directory written by ijepa-export")
    if not path.is_file():
        raise ArtifactError(
            str(directory), f"no {MANIFEST_NAME} in the directory", "a directory written by ijepa-export"
        )
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(
            str(path), f"manifest is not valid JSON ({exc})", "the file ijepa-export wrote, unmodified"
        ) from None
    except RecursionError:
        raise ArtifactError(str(path), "manifest nests too deeply", "the file ijepa-export wrote") from None
    manifest = Manifest.from_dict(data, where=str(path))
    for name in manifest.file_names():
        resolve_inside(directory, name, where=str(path))
    return manifest


def verify_files(directory: Path, manifest: Manifest, relpaths: list[str] | None = None) -> None:
    """Check that every listed file lies inside ``directory``, exists and matches its SHA-256."""
    directory = Path(directory)
    names = relpaths if relpaths is not None else list(manifest.files)
    paths = [resolve_inside(directory, rel) for rel in names]  # all of them before opening any
    for rel, path in zip(names, paths):
        entry = manifest.files.get(rel)
        if entry is None:
            raise ArtifactError(
                str(directory / rel),
                "file is not recorded in the manifest",
                "every artifact file listed under 'files' with its sha256",
            )
        if not path.is_file():
            raise ArtifactError(
                str(path),
                "artifact file is missing",
                "the files ijepa-export wrote (re-export or copy the whole directory)",
            )
        if path.stat().st_size != entry.bytes or sha256_file(path) != entry.sha256:
            raise ArtifactError(
                str(path),
                "checksum mismatch: the file was modified or truncated",
                f"sha256 {entry.sha256[:16]}... as recorded at export (re-export or re-copy)",
            )
