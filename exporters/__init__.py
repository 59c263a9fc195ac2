"""Build time (torch, transformers, onnx): HF checkpoint -> ONNX graphs -> precision graphs -> engines.

Loaders are small composable callables named ``<Target>From<Source>``; the exporters may import
the runtime (to validate what they build), never the reverse.
"""
