"""``ijepa-bench``: every backend of an artifact, timed on the same inputs in one run.

Rows: eager PyTorch (the exporters' ``TorchRunner`` reference), ``torch.compile`` of it, ONNX
Runtime for every graph on every execution provider (the ``OnnxRuntimeRunner`` that
``runtime.load()`` serves) and the TensorRT engines. A backend that cannot run here is still a row,
with the reason. One module per job: :mod:`.options`, :mod:`.plan`, :mod:`.backends`,
:mod:`.sweep` and :mod:`.timing` (what is timed and how), :mod:`.paired` (paired A/B ratios),
:mod:`.flops`, :mod:`.gemm_peak`, :mod:`.machine`, :mod:`.memory_probe`, :mod:`.ort_profile`,
:mod:`.end_to_end`, :mod:`.run` (orchestration); the report: :mod:`.targets`,
:mod:`.report_schema`, :mod:`.markdown`, :mod:`.plots`, :mod:`.report`. Committed reports live in
``benchmarks/results/`` of the source tree, findings in ``benchmarks/README.md``.
"""
