"""ONNX file I/O shared by the precision steps: sizes with external data, saving to one data file."""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

EXTERNAL_DATA_THRESHOLD = 1_800_000_000  # protobuf's hard limit is 2 GiB per file


def _onnx():
    import onnx

    return onnx


def graph_bytes(path: Path) -> int:
    """Size of a graph plus the external data files it references (or ``<name>.data`` beside it)."""
    path = Path(path)
    total = path.stat().st_size
    data = {path.with_name(path.name + ".data")}
    try:
        onnx = _onnx()
        model = onnx.load(str(path), load_external_data=False)
        data |= {
            path.parent / e.value
            for i in model.graph.initializer
            if i.data_location == onnx.TensorProto.EXTERNAL
            for e in i.external_data
            if e.key == "location"
        }
    except Exception:  # unreadable graph: the size on disk is all we know
        pass
    return total + sum(p.stat().st_size for p in data if p.is_file())


def written(path: Path) -> list[Path]:
    """The files a save produced: the graph, then its ``<name>.data`` when there is one."""
    data = path.with_name(path.name + ".data")
    return [path, data] if data.is_file() else [path]


def clear_graph(path: Path) -> None:
    """Remove a graph and its data file first: onnx *appends* to an existing external data file."""
    for p in (path, path.with_name(path.name + ".data")):
        p.unlink(missing_ok=True)


def save_graph(model, path: Path, external: bool) -> list[Path]:
    """Save ``model`` to ``path``; with ``external``, all weights go to ONE ``<name>.data`` beside it."""
    onnx = _onnx()
    path = Path(path)
    clear_graph(path)
    if external:
        onnx.save_model(
            model,
            str(path),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=path.name + ".data",
            size_threshold=1024,
            convert_attribute=False,
        )
    else:
        onnx.save_model(model, str(path))
    return written(path)


@contextlib.contextmanager
def quiet_ort_logs():
    """The quantization tools print per-tensor lines and 'consider pre-processing' warnings."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)
