"""The TensorRT API checker itself: it flags removed and unknown APIs, accepts the TensorRT 11 idiom
and insists on ``import tensorrt as trt`` (so a broken checker cannot pass our code silently)."""

from __future__ import annotations

from trt_api_checker import check_source

BAD_SNIPPET = """
def build(onnx):
    import tensorrt as trt
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    config = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.FP16)
    config.set_flag(getattr(trt.BuilderFlag, "INT8"))
    config.int8_calibrator = None
    plan = builder.build_engine(None, config)
    engine = trt.Runtime(logger).deserialize_cuda_engine(b"")
    context = engine.create_execution_context()
    context.execute_async_v2([0, 0], 0)
    shape = engine.get_binding_shape(0)
    config.set_timing_cache_bogus(None)
    flag = trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH
    runtime = trt.Runtime(logger)
    return runtime.deserialize_cuda_engine(b"").no_such_property
"""


def test_checker_flags_removed_and_unknown_apis(surfaces):
    problems, _ = check_source(BAD_SNIPPET, "bad.py", surfaces)
    text = "\n".join(problems)
    for expected in (
        "BuilderFlag.FP16",
        "BuilderFlag.INT8",
        "int8_calibrator",
        "build_engine",
        "execute_async_v2",
        "get_binding_shape",
        "EXPLICIT_BATCH",
    ):
        assert expected in text, f"{expected} not flagged:\n{text}"
    if surfaces[0].mode == "import":
        assert "IBuilderConfig.set_timing_cache_bogus does not exist" in text, text
        assert "ICudaEngine.no_such_property does not exist" in text, text
        assert "IExecutionContext.execute_async_v2 does not exist in TensorRT 11" in text, text


def test_checker_accepts_the_tensorrt_11_idiom(surfaces):
    good = """
def run(engine_bytes, stream):
    import tensorrt as trt
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    engine = runtime.deserialize_cuda_engine(engine_bytes)
    context = engine.create_execution_context()
    name = engine.get_tensor_name(0)
    if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
        context.set_input_shape(name, (1, 3, 224, 224))
    context.set_tensor_address(name, 0)
    return context.execute_async_v3(stream)
"""
    problems, uses = check_source(good, "good.py", surfaces)
    assert not problems
    if surfaces[0].mode == "import":
        assert ("IExecutionContext", "execute_async_v3") in {(u.owner, u.name) for u in uses}


def test_checker_rejects_tensorrt_under_another_name(surfaces):
    problems, _ = check_source("import tensorrt\nx = tensorrt.Builder\n", "alias.py", surfaces)
    assert any("import tensorrt only as" in p for p in problems)
