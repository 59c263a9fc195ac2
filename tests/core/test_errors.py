"""The error types: every subclass is an IJepaDeployError with the same one-line format, crosses
process boundaries as itself, and reaches the CLI as ``subject | problem. Note: ...``, exit 1."""

from __future__ import annotations

import pickle

import pytest

from ijepa_deploy import errors
from ijepa_deploy.cli import run
from ijepa_deploy.errors import (
    ArtifactError,
    BackendError,
    BackendUnavailable,
    IJepaDeployError,
    InputError,
    ParityError,
)
from ijepa_deploy.runtime.serving.models import BadRequest, Unavailable

SUBCLASSES = [InputError, ArtifactError, ParityError, BackendUnavailable, BackendError]


def test_the_subclasses_are_the_ones_errors_defines():
    defined = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, IJepaDeployError) and value is not IJepaDeployError
    }
    assert defined == {cls.__name__ for cls in SUBCLASSES}
    assert errors.ERROR_TYPES == {cls.__name__: cls for cls in [IJepaDeployError, *SUBCLASSES]}


@pytest.mark.parametrize("cls", SUBCLASSES)
def test_every_subclass_is_a_user_error_formatted_the_same(cls):
    error = cls("cat.jpg", "file is empty", "an image")
    assert isinstance(error, IJepaDeployError)
    assert (
        str(error)
        == error.format()
        == IJepaDeployError("cat.jpg", "file is empty", "an image").format()
        == "cat.jpg | file is empty. Note: expected an image"
    )
    assert cls("x", "y").format() == "x | y"


@pytest.mark.parametrize("cls", [IJepaDeployError, *SUBCLASSES, BadRequest, Unavailable])
def test_pickling_keeps_the_type_and_the_message(cls):
    error = cls("cat.jpg", "file is empty", "an image")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is cls
    assert (again.subject, again.problem, again.expected, str(again)) == (
        error.subject,
        error.problem,
        error.expected,
        str(error),
    )


@pytest.mark.parametrize("cls", SUBCLASSES)
def test_restated_keeps_the_type_and_what_was_expected(cls):
    error = cls("<4 bytes>", "not an image", "an image file").restated("images[2] <4 bytes>")
    assert type(error) is cls and error.format() == "images[2] <4 bytes> | not an image. Note: expected an image file"
    assert cls("a", "b").restated("a", "b (set aside)").problem == "b (set aside)"


@pytest.mark.parametrize("cls", SUBCLASSES)
def test_the_cli_prints_any_subclass_as_one_line_and_exits_1(cls, capsys):
    def main(argv):
        raise cls("--model x", "path is not a directory", "a directory")

    assert run(main, []) == 1
    err = capsys.readouterr().err
    assert err == "error: --model x | path is not a directory. Note: expected a directory\n"
