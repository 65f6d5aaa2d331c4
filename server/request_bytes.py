"""Request bytes the service refuses before a method runs, as the client's fault.

- Not a valid protobuf message (bad wire format, a string field that is not UTF-8): gRPC would answer
  INTERNAL "Exception deserializing request!", which reads like a server bug; here it is INVALID_ARGUMENT.
  In a stream, the frames before the malformed message are answered; then the stream ends with
  INVALID_ARGUMENT (the message has no readable frame_id to answer).
- Over --max-message-bytes, but within the transport's larger limit (server/message_size.py): a unary call
  ends with RESOURCE_EXHAUSTED; in InspectStream the frame becomes an OversizedFrame, which the service
  answers with the frame's own RESOURCE_EXHAUSTED error, and the stream goes on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from patchcore.errors import InspectionError, InvalidInput
from server.interceptors import SERVICE_NAME, Behavior, wrap_behavior
from server.message_size import OversizedFrame, message_too_large
from server.status import abort, status_of


@dataclass(frozen=True)
class RefusedRequest:
    """Stands in for a request message the call is refused for."""

    error: InspectionError


class _StreamEnded(grpc.RpcError):
    """Ends a request stream early, the way a broken connection would; the call's status is already set."""


def _parser(
    deserialize: Callable[[bytes], Any], max_message_bytes: int, streaming: bool, method: str
) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        too_large = len(data) > max_message_bytes
        if too_large and not streaming:
            return RefusedRequest(message_too_large(len(data), max_message_bytes, method))
        try:
            request = deserialize(data)
        except Exception as error:  # protobuf raises DecodeError, and others for some inputs
            reason = str(error) or type(error).__name__
            return RefusedRequest(InvalidInput(f"the request is not a valid protobuf message ({reason})"))
        if too_large:  # InspectStream's InspectRequest: the one request stream of the service
            return OversizedFrame(len(data), max_message_bytes, request.frame_id, request.product_id)
        return request

    return parse


async def _checked_stream(
    requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, RefusedRequest):
            code, message = status_of(request.error)
            context.set_code(code)
            context.set_details(message)
            raise _StreamEnded()
        yield request


def _checked(behavior: Behavior, request_streaming: bool, streams_responses: bool) -> Behavior:
    async def unary(request, context):
        if isinstance(request, RefusedRequest):
            await abort(context, request.error)
        return await behavior(request, context)

    async def stream_in(requests, context):
        return await behavior(_checked_stream(requests, context), context)

    async def stream_in_out(requests, context):
        async for response in behavior(_checked_stream(requests, context), context):
            yield response

    if not request_streaming:
        return unary
    return stream_in_out if streams_responses else stream_in


class RequestBytesInterceptor(grpc.aio.ServerInterceptor):
    """Applies to InspectionService, whose stream reader ends quietly on a grpc.RpcError from its requests."""

    def __init__(self, max_message_bytes: int) -> None:
        self._max_message_bytes = max_message_bytes

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or not handler_call_details.method.startswith(f"/{SERVICE_NAME}/"):
            return handler
        streaming = handler.request_streaming
        method = handler_call_details.method.rpartition("/")[2]
        return wrap_behavior(
            handler,
            lambda behavior, streams_responses: _checked(behavior, streaming, streams_responses),
            request_deserializer=_parser(
                handler.request_deserializer, self._max_message_bytes, streaming, method
            ),
        )
