"""Who may read and change what on the page: the gRPC tokens and roles (server/auth.py), per request.

Each page request names the InspectionService method it amounts to (reading a product is GetProduct, setting
its threshold UpdateProduct) and needs the role that method needs. The token travels as
`Authorization: Bearer <token>`, never in a URL; the page keeps it in the browser tab's sessionStorage.

A change (a POST) also needs the header PAGE_HEADER, which the page sends: a form or a script of another
site cannot send it without the browser asking this server first, which it never allows (no CORS). Without
tokens every visitor is admin, and a site the operator's browser opens could otherwise change products.

The page answers only requests addressed to a name it knows (known_hosts_only): a site whose name is made to
resolve to the page's address (DNS rebinding: 127.0.0.1, or the line PC's address on the network) is the same
origin as the page to the browser, so its scripts could otherwise send the page header too. Such a site always
sends its own name, never an IP address, so IP addresses pass on a page listening on the network; other names
only when given with --page-allowed-hosts.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Sequence

import grpc
from aiohttp import web

from server.auth import RefusalLog, Role, TokenFault, TokenTable, required_role, role_or_fault
from server.tls import is_loopback
from server.web.calls import Refused

PAGE_HEADER = "X-Patchcore-Page"
# The page shows these in its token form (static/page.js), and asks for a token again.
_UNAUTHENTICATED_MESSAGES = {
    TokenFault.MISSING: "this server needs a token: enter one to continue",
    TokenFault.MALFORMED: "the request's Authorization header is not `Bearer <token>`: enter the token again",
    TokenFault.UNKNOWN: "this server does not know that token (mistyped, revoked, or another server's): "
    "enter a valid one",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


class PageAccess:
    """The page's check of each request: its token's role against the method's, and the page header on
    changes. A refusal is counted and logged like a refused gRPC call (`call_refused`)."""

    def __init__(self, tokens: TokenTable, refusals: RefusalLog) -> None:
        self._tokens = tokens
        self._refusals = refusals

    def role_of(self, request: web.Request) -> Role | None:
        """The role of the request's token; ADMIN when the server has no tokens; None without a valid one."""
        role = self._role_or_fault(request)
        return role if isinstance(role, Role) else None

    def require(self, request: web.Request, method: str) -> None:
        """Refused (UNAUTHENTICATED / PERMISSION_DENIED) unless the request may do what `method` does."""
        refusal = self._refusal(request, method)
        if refusal is not None:
            self._refusals.refused(method, refusal.code, f"page:{request.remote}")
            raise refusal

    def known_hosts_only(self, listening_on: str, allowed_names: Sequence[str]) -> Middleware:
        """A middleware refusing (and counting and logging, as `require` does) every request whose Host
        names a site the page does not know: a loopback name or address (localhost, 127.0.0.1, [::1]) and
        the `allowed_names` (--page-allowed-hosts; "*" = any) pass, and, unless the page listens on the
        loopback (`listening_on`), any IP address. A DNS rebinding site always sends its own name."""
        on_loopback = is_loopback(listening_on)
        names = frozenset(allowed_names)
        where = (
            "this page listens on the loopback and answers to a loopback address: open it at 127.0.0.1, "
            "localhost or [::1] with its port"
            if on_loopback
            else "this page answers to the server's IP address and localhost: open it at the address with "
            "its port"
        )
        message = f"{where}, or start the server with --page-allowed-hosts NAME to open it at NAME"

        @web.middleware
        async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
            name = _host_name(request.headers.get("Host", "")).lower().removesuffix(".")
            known = (
                "*" in names or name in names or is_loopback(name) or (not on_loopback and _is_address(name))
            )
            if not known:
                self._refusals.refused(
                    request.path, grpc.StatusCode.PERMISSION_DENIED, f"page:{request.remote}"
                )
                raise Refused(grpc.StatusCode.PERMISSION_DENIED, message)
            return await handler(request)

        return check

    def _role_or_fault(self, request: web.Request) -> Role | TokenFault:
        if not self._tokens:
            return Role.ADMIN
        header = request.headers.get("Authorization")
        return role_or_fault(self._tokens, (("authorization", header),) if header is not None else ())

    def _refusal(self, request: web.Request, method: str) -> Refused | None:
        role = self._role_or_fault(request)
        if isinstance(role, TokenFault):
            return Refused(grpc.StatusCode.UNAUTHENTICATED, _UNAUTHENTICATED_MESSAGES[role])
        needed = required_role(method)
        if role < needed:
            return Refused(
                grpc.StatusCode.PERMISSION_DENIED,
                f"this needs a token with the {needed.name.lower()} role ({method}); yours has "
                f"{role.name.lower()}",
            )
        if request.method == "POST" and PAGE_HEADER not in request.headers:
            return Refused(
                grpc.StatusCode.PERMISSION_DENIED,
                f"changes are accepted from the operator's page only (it sends the header {PAGE_HEADER})",
            )
        return None


def _host_name(host_header: str) -> str:
    """The name or address of an HTTP Host header, without its port."""
    if host_header.startswith("["):
        return host_header[: host_header.find("]") + 1]
    return host_header.rpartition(":")[0] if ":" in host_header else host_header


def _is_address(name: str) -> bool:
    """True when `name` (from _host_name) is an IPv4 address or a bracketed IPv6 one."""
    try:
        ipaddress.ip_address(name.removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    return True
