"""Who may read and change what on the page: the gRPC tokens and roles (server/auth.py), per request.

Each page request names the InspectionService method it amounts to (reading a product is GetProduct, setting
its threshold UpdateProduct) and needs the role that method needs. The token travels as
`Authorization: Bearer <token>`, never in a URL; the page keeps it in the browser tab's sessionStorage.
"""

from __future__ import annotations

import grpc
from aiohttp import web

from server.auth import Role, TokenTable, bearer_token, required_role
from server.web.calls import Refused


def role_of(request: web.Request, tokens: TokenTable) -> Role | None:
    """The role of the request's token; ADMIN when the server has no tokens; None without a valid one."""
    if not tokens:
        return Role.ADMIN
    token = bearer_token((("authorization", request.headers.get("Authorization", "")),))
    return tokens.role_of(token) if token is not None else None


def require(request: web.Request, tokens: TokenTable, method: str) -> None:
    """Refused (UNAUTHENTICATED / PERMISSION_DENIED) unless the request may do what `method` does."""
    role = role_of(request, tokens)
    if role is None:
        raise Refused(grpc.StatusCode.UNAUTHENTICATED, "this server needs a token: enter one to continue")
    needed = required_role(method)
    if role < needed:
        raise Refused(
            grpc.StatusCode.PERMISSION_DENIED,
            f"this needs a token with the {needed.name.lower()} role ({method}); yours has "
            f"{role.name.lower()}",
        )
