"""ijepa-deploy: I-JEPA vision transformers from checkpoint to verified ONNX / TensorRT deployment.

The core package (this directory) holds what both halves share and imports neither torch nor
transformers at module level: model presets, the preprocessing contract, the export spec, the
artifact manifest and the error type. Build-time code lives in ``ijepa_deploy.exporters``,
serve-time code in ``ijepa_deploy.runtime``.
"""

__version__ = "0.1.0"

from ijepa_deploy.errors import IJepaDeployError

__all__ = ["IJepaDeployError", "__version__"]
