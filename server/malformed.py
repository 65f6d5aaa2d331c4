"""Request bytes that are not a valid protobuf message get INVALID_ARGUMENT instead of gRPC's INTERNAL.

gRPC answers a request it cannot deserialize (bad wire format, a string field that is not UTF-8) with
INTERNAL "Exception deserializing request!", which reads like a server bug. This interceptor lets the
deserializer hand back a MalformedRequest marker instead, and the call refuses it as the client's fault.
In a stream, the frames before the malformed message are answered; then the stream ends with
INVALID_ARGUMENT (the message has no readable frame_id to answer).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from patchcore.errors import InvalidInput
from server.interceptors import SERVICE_NAME, Behavior, wrap_behavior
from server.status import abort, status_of


@dataclass(frozen=True)
class MalformedRequest:
    """Stands in for a request message whose bytes could not be parsed."""

    reason: str

    def error(self) -> InvalidInput:
        return InvalidInput(f"the request is not a valid protobuf message ({self.reason})")


class _StreamEnded(grpc.RpcError):
    """Ends a request stream early, the way a broken connection would; the call's status is already set."""


def _tolerant(deserialize: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception as error:  # protobuf raises DecodeError, and others for some inputs
            return MalformedRequest(str(error) or type(error).__name__)

    return parse


async def _checked_stream(
    requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, MalformedRequest):
            code, message = status_of(request.error())
            context.set_code(code)
            context.set_details(message)
            raise _StreamEnded()
        yield request


def _checked(behavior: Behavior, request_streaming: bool, streams_responses: bool) -> Behavior:
    async def unary(request, context):
        if isinstance(request, MalformedRequest):
            await abort(context, request.error())
        return await behavior(request, context)

    async def stream_in(requests, context):
        return await behavior(_checked_stream(requests, context), context)

    async def stream_in_out(requests, context):
        async for response in behavior(_checked_stream(requests, context), context):
            yield response

    if not request_streaming:
        return unary
    return stream_in_out if streams_responses else stream_in


class MalformedRequestInterceptor(grpc.aio.ServerInterceptor):
    """Applies to InspectionService, whose stream reader ends quietly on a grpc.RpcError from its requests."""

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or not handler_call_details.method.startswith(f"/{SERVICE_NAME}/"):
            return handler
        return wrap_behavior(
            handler,
            lambda behavior, streams_responses: _checked(
                behavior, handler.request_streaming, streams_responses
            ),
            request_deserializer=_tolerant(handler.request_deserializer),
        )
