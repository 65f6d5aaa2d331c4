"""Token authentication with two roles, checked before every InspectionService call.

A call carries `authorization: Bearer <token>`. A token has a role: `inspect` may score frames and read
products and server info; `admin` may do everything, including Teach, AddImages, UpdateProduct and
DeleteProduct.
No token, a malformed header or an unknown token -> UNAUTHENTICATED, the message saying which; a known token
whose role is too low -> PERMISSION_DENIED.
Health and reflection are never checked, so orchestrators and grpcurl work without a token.

Tokens come from a file (`role token` per line, `#` comment lines) and from PATCHCORE_ADMIN_TOKEN /
PATCHCORE_INSPECT_TOKEN. They are compared in constant time and never logged or shown in a repr.
"""

from __future__ import annotations

import enum
import hmac
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from prometheus_client import Counter

from server.errors import ConfigError, PermissionDenied, Unauthenticated
from server.interceptors import SERVICE_NAME, refusing, wrap_behavior
from server.logs import log_event
from server.status import status_of
from server.tls import is_loopback

ADMIN_TOKEN_VARIABLE = "PATCHCORE_ADMIN_TOKEN"
INSPECT_TOKEN_VARIABLE = "PATCHCORE_INSPECT_TOKEN"
_BEARER_SCHEME = "bearer"
_MAX_REFUSING_ADDRESSES = 10_000  # beyond this many, addresses not logged for a while are forgotten


class Role(enum.IntEnum):
    """Ordered: a higher role may do everything a lower one may."""

    INSPECT = 1
    ADMIN = 2


# Methods an `inspect` token may call. Every other InspectionService method needs `admin`, so a method
# added to the service later is closed until it is listed here.
_INSPECT_METHODS = frozenset({"Inspect", "InspectStream", "GetProduct", "ListProducts", "GetServerInfo"})


def required_role(method: str) -> Role:
    """The role needed for the InspectionService method named `method` (e.g. "Teach")."""
    return Role.INSPECT if method in _INSPECT_METHODS else Role.ADMIN


@dataclass(frozen=True)
class TokenTable:
    """The tokens the server accepts and the role of each. Empty = authentication is off."""

    entries: tuple[tuple[bytes, Role], ...] = field(default=(), repr=False)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def role_of(self, token: str) -> Role | None:
        """The role of `token`, None when unknown. Compares against every entry, in constant time each."""
        given = token.encode(errors="surrogateescape")  # a header's undecodable bytes come back as given
        found = None
        for expected, role in self.entries:
            if hmac.compare_digest(given, expected):
                found = role
        return found

    def roles(self) -> dict[str, int]:
        """How many tokens each role has (safe to log)."""
        return {role.name.lower(): sum(r is role for _, r in self.entries) for role in Role}


def _parse_role(name: str) -> Role | None:
    try:
        return Role[name.upper()]
    except KeyError:
        return None


_Source = tuple[bytes, Role, str]  # a token, its role, and where it was given (for messages only)


def _tokens_file_entries(path: Path) -> list[_Source]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as error:
        raise ConfigError(f"cannot read tokens file {path}: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise ConfigError(f"tokens file {path} is not UTF-8 text (byte {error.start})") from error
    entries = []
    for number, line in enumerate(lines, start=1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        where = f"{path} line {number}"
        if len(words) != 2:
            counted = "1 word" if len(words) == 1 else f"{len(words)} words"
            raise ConfigError(f"{where}: expected `role token`, got {counted} (a comment needs its own line)")
        role = _parse_role(words[0])
        if role is None:
            # The word is not shown: in a line written `token role` it is the token, and this goes to the log.
            swapped = " (role and token swapped?)" if _parse_role(words[1]) else ""
            raise ConfigError(
                f"{where}: the first word is not a role: use 'admin' or 'inspect'{swapped}; "
                "a line is `role token`"
            )
        entries.append((words[1].encode(), role, where))
    return entries


def read_tokens_file(path: Path) -> list[tuple[bytes, Role]]:
    """(token, role) pairs from a file of `role token` lines; blank lines and comment lines are skipped.

    A comment is a line whose first non-blank character is `#`. A `#` anywhere else is part of the line, so
    a token with a `#` in it stays whole, and a comment after a token makes the line malformed."""
    return [(token, role) for token, role, _ in _tokens_file_entries(path)]


def _refuse_a_token_with_two_roles(entries: list[_Source]) -> None:
    """A station given an inspect token must not find it is admin because the same string is listed as admin
    elsewhere (a copied line, an environment variable left over): such a table is refused, naming where."""
    places: dict[bytes, list[tuple[Role, str]]] = {}
    for token, role, where in entries:
        places.setdefault(token, []).append((role, where))
    for listed in places.values():
        if len({role for role, _ in listed}) > 1:
            named = "; ".join(f"{role.name.lower()} in {where}" for role, where in listed)
            raise ConfigError(
                f"one token is given two roles ({named}): give each token one role, and each station "
                "its own token"
            )


def load_tokens(
    tokens_file: Path | None, admin_tokens: tuple[str, ...] = (), environ: Mapping[str, str] | None = None
) -> TokenTable:
    """All tokens: from `tokens_file`, `admin_tokens` (e.g. the legacy --token) and the environment.

    An empty token variable counts as unset. ConfigError when `tokens_file` holds no token, or when one token
    is given two roles."""
    environ = os.environ if environ is None else environ
    entries = _tokens_file_entries(tokens_file) if tokens_file else []
    if tokens_file and not entries:  # a template or a file commented out must not turn authentication off
        raise ConfigError(
            f"tokens file {tokens_file} holds no token: add `role token` lines, or leave out --tokens-file "
            "to run without authentication"
        )
    entries += [(token.encode(), Role.ADMIN, "--token") for token in admin_tokens if token]
    for variable, role in ((ADMIN_TOKEN_VARIABLE, Role.ADMIN), (INSPECT_TOKEN_VARIABLE, Role.INSPECT)):
        if environ.get(variable):
            entries.append((environ[variable].encode(), role, variable))
    _refuse_a_token_with_two_roles(entries)
    return TokenTable(tuple((token, role) for token, role, _ in entries))


def warn_if_open(tokens: TokenTable, host: str) -> None:
    """Logs a warning when no token is configured and the server listens on an address other machines can
    reach: anyone there may teach and delete."""
    if not tokens and not is_loopback(host):
        log_event(
            "authentication_off",
            level=logging.WARNING,
            host=host,
            advice="every client may call everything: set --tokens-file or PATCHCORE_ADMIN_TOKEN",
        )


class TokenFault(enum.Enum):
    """Why a call is UNAUTHENTICATED."""

    MISSING = enum.auto()  # no `authorization` metadata at all
    MALFORMED = enum.auto()  # `authorization` metadata that is not `Bearer <token>`
    UNKNOWN = enum.auto()  # a token the server does not know


# The messages never show the token, nor part of it: a malformed header may be the token itself.
_UNAUTHENTICATED_MESSAGES = {
    TokenFault.MISSING: "this server needs a token: send it as `authorization: Bearer <token>` metadata "
    "(patchcore-client: --token, or the environment variable PATCHCORE_TOKEN)",
    TokenFault.MALFORMED: "the call's `authorization` metadata is not `Bearer <token>`: send the word "
    "Bearer, one space, then the token (patchcore-client does so with --token or PATCHCORE_TOKEN)",
    TokenFault.UNKNOWN: "this server does not know the call's token (mistyped, revoked, or another "
    f"server's): send one listed in this server's --tokens-file, {ADMIN_TOKEN_VARIABLE} or "
    f"{INSPECT_TOKEN_VARIABLE}",
}


def bearer_token(metadata: tuple | None) -> str | TokenFault:
    """The token of the call's `authorization: Bearer <token>` header; MISSING without an `authorization`
    header, MALFORMED when none is `Bearer <token>`.

    The scheme name is case-insensitive (RFC 6750 via RFC 7235): `bearer` and `BEARER` are accepted too.
    """
    fault = TokenFault.MISSING
    for key, value in metadata or ():
        if key == "authorization":
            fault = TokenFault.MALFORMED
            if isinstance(value, str):
                scheme, _, token = value.partition(" ")
                if scheme.lower() == _BEARER_SCHEME and token:
                    return token
    return fault


def role_or_fault(tokens: TokenTable, metadata: tuple | None) -> Role | TokenFault:
    """The role of the call's token, or why the call has none."""
    token = bearer_token(metadata)
    if isinstance(token, TokenFault):
        return token
    role = tokens.role_of(token)
    return TokenFault.UNKNOWN if role is None else role


class RefusalLog:
    """Counts every refused call by its code, and logs it as `call_refused` at warning, without its token.

    A client that keeps guessing (or a camera with a revoked token) would fill the journal, so each client
    address is logged at most once per `every_seconds`; its next line says how many refusals were not
    logged in between (`not_logged`). The counter has them all.
    """

    def __init__(
        self, counter: Counter, every_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._counter = counter
        self._every_seconds = every_seconds
        self._clock = clock
        self._last_logged: dict[str, float] = {}  # client address -> when it was last logged
        self._not_logged: dict[str, int] = {}

    def refused(self, method: str, code: grpc.StatusCode, peer: str) -> None:
        """Counts, and logs unless this client's address was logged less than every_seconds ago."""
        self._counter.labels(code.name).inc()
        address = peer.rsplit(":", 1)[0] if peer.startswith(("ipv4:", "ipv6:")) else peer  # without the port
        now = self._clock()
        last = self._last_logged.get(address)
        if last is not None and now - last < self._every_seconds:
            self._not_logged[address] = self._not_logged.get(address, 0) + 1
            return
        self._last_logged.pop(address, None)  # re-entered below: the dict stays in the order last logged
        while len(self._last_logged) >= _MAX_REFUSING_ADDRESSES:  # a flood of addresses: forget the oldest
            oldest = next(iter(self._last_logged))
            del self._last_logged[oldest]
            self._not_logged.pop(oldest, None)
        self._last_logged[address] = now
        not_logged = self._not_logged.pop(address, 0)
        log_event(
            "call_refused",
            level=logging.WARNING,
            method=method,
            code=code.name,
            peer=peer,
            not_logged=not_logged,
        )


class RoleInterceptor(grpc.aio.ServerInterceptor):
    """Refuses InspectionService calls without a token of the role the method needs."""

    def __init__(self, tokens: TokenTable, refusals: RefusalLog) -> None:
        self._tokens = tokens
        self._refusals = refusals

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        service, _, method = handler_call_details.method.lstrip("/").partition("/")
        if handler is None or service != SERVICE_NAME:
            return handler
        role = role_or_fault(self._tokens, handler_call_details.invocation_metadata)
        if isinstance(role, TokenFault):
            refusal = Unauthenticated(_UNAUTHENTICATED_MESSAGES[role])
        elif role < (needed := required_role(method)):
            refusal = PermissionDenied(
                f"{method} needs a token with the {needed.name.lower()} role; this one has "
                f"{role.name.lower()}"
            )
        else:
            return handler
        code, _ = status_of(refusal)
        return wrap_behavior(
            handler, refusing(refusal, lambda context: self._refusals.refused(method, code, context.peer()))
        )
