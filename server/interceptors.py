"""Checks run before every InspectionService call: admission while draining and the --max-calls cap (tokens:
server/auth.py).

Health and reflection are not intercepted: probes must see NOT_SERVING while the server drains, and answer
however many calls are open; tools must list services without a token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from patchcore_edge.v1 import inspection_pb2 as pb

from server.lifecycle import Lifecycle
from server.logs import call_peer
from server.status import abort

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["InspectionService"].full_name

# A call's behaviour on grpc.aio: a coroutine function, or an async generator function for streamed responses.
Behavior = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any] | AsyncIterator[Any]]
Wrapper = Callable[[Behavior, bool], Behavior]  # (behaviour, streams_responses) -> new behaviour


def _is_inspection_call(details: grpc.HandlerCallDetails) -> bool:
    return details.method.startswith(f"/{SERVICE_NAME}/")


def wrap_behavior(
    handler: grpc.RpcMethodHandler, wrap: Wrapper, request_deserializer: Callable[[bytes], Any] | None = None
) -> grpc.RpcMethodHandler:
    """`handler` with its behaviour replaced by wrap(behaviour, streams_responses), and its request
    deserializer by `request_deserializer` when given."""
    kinds = (
        ("unary_unary", grpc.unary_unary_rpc_method_handler, False),
        ("unary_stream", grpc.unary_stream_rpc_method_handler, True),
        ("stream_unary", grpc.stream_unary_rpc_method_handler, False),
        ("stream_stream", grpc.stream_stream_rpc_method_handler, True),
    )
    for attribute, make_handler, streams_responses in kinds:
        behavior = getattr(handler, attribute)
        if behavior is not None:
            return make_handler(
                wrap(behavior, streams_responses),
                request_deserializer=request_deserializer or handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
    return handler


class DrainInterceptor(grpc.aio.ServerInterceptor):
    """Counts InspectionService calls in flight; refuses new ones with UNAVAILABLE while draining and with
    RESOURCE_EXHAUSTED beyond --max-calls."""

    def __init__(self, lifecycle: Lifecycle) -> None:
        self._lifecycle = lifecycle

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or not _is_inspection_call(handler_call_details):
            return handler
        return wrap_behavior(handler, self._tracked)

    def _tracked(self, behavior: Behavior, streams_responses: bool) -> Behavior:
        lifecycle = self._lifecycle

        async def admit(context: grpc.aio.ServicerContext) -> None:
            call_peer.set(context.peer())  # each call runs in a task of its own: the value stays in it
            try:
                lifecycle.admit()
            except Exception as error:
                await abort(context, error)

        async def unary(request, context):
            await admit(context)
            try:
                return await behavior(request, context)
            finally:
                lifecycle.release()

        async def streaming(request, context):
            await admit(context)
            try:
                async for response in behavior(request, context):
                    yield response
            finally:
                lifecycle.release()

        return streaming if streams_responses else unary


def refusing(
    error: Exception, report: Callable[[grpc.aio.ServicerContext], None] = lambda context: None
) -> Wrapper:
    """A Wrapper whose behaviour ends every call with the status for `error`, after report(context)."""

    def wrap(behavior: Behavior, streams_responses: bool) -> Behavior:
        async def refuse(request, context):
            report(context)
            await abort(context, error)

        return refuse

    return wrap
