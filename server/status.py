"""The one place where errors become gRPC status codes: for aborted calls and for in-stream FrameErrors.

Decisions beyond the obvious ones:
- StorageError (the store cannot be written: disk full, read-only) -> UNAVAILABLE. Nothing was changed, the
  server still inspects, and the same request succeeds once the store is writable or on another instance.
- VersionConflict (a stale expected_version) -> ABORTED, as google.rpc.Code defines it for a failed
  read-modify-write: the client reads the product again and retries.
- ModelError at run time and any unexpected exception -> INTERNAL with a generic message (details: the log).
"""

from __future__ import annotations

from typing import NoReturn

import grpc
from patchcore_edge.v1 import inspection_pb2 as pb

from patchcore.errors import (
    InspectionError,
    InvalidInput,
    ModelError,
    ProductNotFound,
    ProductUnusable,
    StorageError,
    TooLarge,
    VersionConflict,
)
from server.errors import PermissionDenied, ServerBusy, ShuttingDown, StreamIdle, Unauthenticated

_CODE_BY_ERROR: dict[type[InspectionError], grpc.StatusCode] = {
    InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    ProductNotFound: grpc.StatusCode.NOT_FOUND,
    ProductUnusable: grpc.StatusCode.FAILED_PRECONDITION,
    TooLarge: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ServerBusy: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ShuttingDown: grpc.StatusCode.UNAVAILABLE,
    StreamIdle: grpc.StatusCode.DEADLINE_EXCEEDED,
    StorageError: grpc.StatusCode.UNAVAILABLE,
    VersionConflict: grpc.StatusCode.ABORTED,
    ModelError: grpc.StatusCode.INTERNAL,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
}

INTERNAL_MESSAGE = "internal server error; the server log has the details"


def status_of(error: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and the message to send for `error`."""
    for error_class in type(error).__mro__:
        code = _CODE_BY_ERROR.get(error_class)
        if code is not None:
            return code, str(error) if code != grpc.StatusCode.INTERNAL else INTERNAL_MESSAGE
    return grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE


def frame_error(error: BaseException) -> pb.FrameError:
    """`error` as the FrameError of one failed frame in a stream."""
    code, message = status_of(error)
    return pb.FrameError(code=code.value[0], message=message)


def code_from_number(number: int) -> grpc.StatusCode:
    """The StatusCode whose number (google.rpc.Code) is `number`."""
    return next(code for code in grpc.StatusCode if code.value[0] == number)


async def abort(context: grpc.aio.ServicerContext, error: BaseException) -> NoReturn:
    """Ends the call with the status for `error`. Raises, as context.abort does."""
    code, message = status_of(error)
    await context.abort(code, message)
