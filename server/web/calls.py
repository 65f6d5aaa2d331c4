"""The page's reads and changes run the InspectionService methods themselves, in this process: a threshold
set on the page is an UpdateProduct, a drop of good images a Teach, with the same checks, logs and metrics as
over gRPC. A refusal keeps its gRPC status; `refusals` turns it into the HTTP answer the page gets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import grpc
from aiohttp import web

_HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 412,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 413,
    grpc.StatusCode.UNAVAILABLE: 503,
}


class Refused(Exception):
    """A call (or a page request) refused with a gRPC status and a message for the operator."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _InProcessContext:
    """The part of grpc.aio.ServicerContext the unary methods use: abort."""

    async def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        raise Refused(code, details)


async def call(method: Callable[[Any, Any], Awaitable[Any]], request: Any) -> Any:
    """await method(request, context) on this event loop (the service's methods wait for the product writer
    in a thread of their own); Refused when the method aborts the call."""
    return await method(request, _InProcessContext())


@web.middleware
async def refusals(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Answers a Refused with its HTTP status and {"error": message, "code": gRPC code name}."""
    try:
        return await handler(request)
    except Refused as refusal:
        headers = {"WWW-Authenticate": "Bearer"} if refusal.code == grpc.StatusCode.UNAUTHENTICATED else {}
        return web.json_response(
            {"error": refusal.message, "code": refusal.code.name},
            status=_HTTP_STATUS.get(refusal.code, 500),
            headers=headers,
        )
