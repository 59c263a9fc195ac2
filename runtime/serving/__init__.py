"""Serving on NVIDIA Triton Inference Server: ``ijepa-serve`` (PyTriton, one process) and
``ijepa-triton-repo`` (a model repository for the stock server). Needs the ``serve`` extra."""
