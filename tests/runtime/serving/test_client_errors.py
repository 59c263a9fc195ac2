"""Which errors of the images model are the client's (BadRequest: INVALID_ARG, HTTP 400): the
InputErrors of decoding and preprocessing a request, and nothing else."""

from __future__ import annotations

import numpy as np
import pytest

from ijepa_deploy.contract import PreprocessConfig
from ijepa_deploy.errors import ArtifactError, InputError
from ijepa_deploy.runtime.preprocess import Preprocessor
from ijepa_deploy.runtime.serving.models import IMAGES_INPUT, BadRequest, ImagesModel, Unavailable


class _Request(dict):
    """PyTriton's request: a mapping of input names to arrays, also reachable as ``.data``."""

    @property
    def data(self):
        return self


def _images(*items: bytes) -> np.ndarray:
    images = np.empty((1, len(items)), dtype=object)
    images[0, :] = items
    return images


def _model(preprocess) -> ImagesModel:
    return ImagesModel(
        preprocess,
        forward=lambda pixels, names: {"embedding": pixels.mean(axis=(2, 3))},
        max_images=2,
        max_image_bytes=1000,
    )


def test_a_client_error_is_an_input_error_and_a_full_queue_is_not():
    assert issubclass(BadRequest, InputError)
    assert not issubclass(Unavailable, InputError)


@pytest.mark.parametrize(
    "images, match",
    [
        (_images(b"nope"), r"images\[0\] <4 bytes> \| not an image Pillow can decode"),
        (_images(b"a", b"b", b"c"), r"images \| 3 images in one request"),
        (_images(b"x" * 1001), r"images\[0\] \| 1001 bytes"),
    ],
)
def test_what_the_request_holds_is_refused_as_the_clients_error(images, match):
    model = _model(Preprocessor(PreprocessConfig(height=8, width=8)))
    with pytest.raises(BadRequest, match=match):
        model([_request(images)])


def test_an_error_that_is_not_the_clients_stays_a_server_error():
    class BrokenPreprocess:
        def one(self, item):
            raise ArtifactError("manifest.json", "manifest field $.preprocessing: broken", "a valid contract")

    with pytest.raises(ArtifactError) as info:
        _model(BrokenPreprocess())([_request(_images(b"abc"))])
    assert not isinstance(info.value, BadRequest)


def _request(images: np.ndarray) -> _Request:
    return _Request({IMAGES_INPUT: images})
