"""The one mapping from errors to gRPC status codes."""

import grpc
import pytest

from patchcore.errors import (
    InspectionError,
    InvalidInput,
    ModelError,
    ProductNotFound,
    ProductUnusable,
    StorageError,
    TooLarge,
)
from server.errors import ServerBusy, ShuttingDown, StreamIdle
from server.status import INTERNAL_MESSAGE, code_from_number, frame_error, status_of


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidInput("x"), grpc.StatusCode.INVALID_ARGUMENT),
        (ProductNotFound("x"), grpc.StatusCode.NOT_FOUND),
        (ProductUnusable("x"), grpc.StatusCode.FAILED_PRECONDITION),
        (TooLarge("x"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (ServerBusy("x"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (ShuttingDown("x"), grpc.StatusCode.UNAVAILABLE),
        (StorageError("x"), grpc.StatusCode.UNAVAILABLE),
        (StreamIdle("x"), grpc.StatusCode.DEADLINE_EXCEEDED),
    ],
)
def test_engine_and_server_errors_keep_their_message(error, code):
    assert status_of(error) == (code, "x")


@pytest.mark.parametrize("error", [ModelError("path /secret"), InspectionError("x"), KeyError("k")])
def test_other_errors_are_internal_without_details(error):
    assert status_of(error) == (grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE)


def test_frame_error_carries_the_code_number():
    error = frame_error(ProductNotFound("no product 'x'"))
    assert (error.code, error.message) == (5, "no product 'x'")
    assert code_from_number(error.code) == grpc.StatusCode.NOT_FOUND
