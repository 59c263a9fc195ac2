"""Serving tests need the 'serve' extra; without it they skip and say so."""

import pytest

pytest.importorskip("pytriton", reason="serving tests need the 'serve' extra (nvidia-pytriton)")
pytest.importorskip("tritonclient.grpc", reason="serving tests need the 'serve' extra (tritonclient)")
