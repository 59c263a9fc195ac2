"""Serve time: numpy/Pillow preprocessing and engine execution. Imports no torch, no transformers."""

from ijepa_deploy.runtime.model import DeployedModel, load
from ijepa_deploy.runtime.preprocess import Preprocessor
from ijepa_deploy.runtime.runner import Runner, RunnerOptions

__all__ = ["DeployedModel", "Preprocessor", "Runner", "RunnerOptions", "load"]
