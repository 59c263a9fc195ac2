"""The export spec: input/output names, dtypes, shapes and dynamic axes, declared once as data.

The exporter passes it to ``torch.onnx.export`` and the validator checks the produced graph
against it; the runtime's ``Runner`` checks every request against the copy stored in the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass

from ijepa_deploy.errors import InputError

BATCH = "batch"
TASKS = ("feature-extraction", "image-classification")
# The outputs an artifact of each task has, in graph order.
TASK_OUTPUTS = {"feature-extraction": ("last_hidden_state", "embedding"), "image-classification": ("logits",)}


def check_task(task: str) -> str:
    """``task`` if it is one of TASKS, else the user error every entry point gives."""
    if task not in TASKS:
        raise InputError("--task", f"unknown task {task!r}", f"one of {', '.join(TASKS)}")
    return task


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str  # numpy dtype name
    shape: tuple  # ints, or BATCH for the dynamic axis

    @property
    def dynamic_axes(self) -> dict[int, str]:
        return {i: d for i, d in enumerate(self.shape) if isinstance(d, str)}

    def to_dict(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, data: dict) -> TensorSpec:
        return cls(name=data["name"], dtype=data["dtype"], shape=tuple(data["shape"]))


@dataclass(frozen=True)
class ExportSpec:
    task: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.outputs]

    @property
    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        return {t.name: t.dynamic_axes for t in (*self.inputs, *self.outputs) if t.dynamic_axes}

    def output(self, name: str) -> TensorSpec:
        for t in self.outputs:
            if t.name == name:
                return t
        raise KeyError(name)

    def to_dict(self) -> dict:
        return {
            "task": self.task,
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
        }

    @classmethod
    def from_dict(cls, data: dict) -> ExportSpec:
        return cls(
            task=data["task"],
            inputs=tuple(TensorSpec.from_dict(t) for t in data["inputs"]),
            outputs=tuple(TensorSpec.from_dict(t) for t in data["outputs"]),
        )


def export_spec(
    task: str,
    *,
    hidden_size: int,
    num_tokens: int,
    height: int,
    width: int,
    num_labels: int | None = None,
    channels: int = 3,
) -> ExportSpec:
    """The I/O of an exported I-JEPA graph for ``task``."""
    check_task(task)
    pixel_values = TensorSpec("pixel_values", "float32", (BATCH, channels, height, width))
    outputs: tuple[TensorSpec, ...]
    if task == "feature-extraction":
        hidden, pooled = TASK_OUTPUTS[task]
        outputs = (
            TensorSpec(hidden, "float32", (BATCH, num_tokens, hidden_size)),
            TensorSpec(pooled, "float32", (BATCH, hidden_size)),
        )
    else:
        if not num_labels:
            raise InputError("image-classification", "the model has no labels", "config.num_labels > 0")
        (logits,) = TASK_OUTPUTS[task]
        outputs = (TensorSpec(logits, "float32", (BATCH, num_labels)),)
    return ExportSpec(task=task, inputs=(pixel_values,), outputs=outputs)


def primary_output(task: str) -> str:
    """The output a user consumes: pooled embedding or logits (parity thresholds are set on it)."""
    return "embedding" if task == "feature-extraction" else "logits"
