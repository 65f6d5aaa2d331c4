"""Errors the server itself raises, beside the engine's (patchcore/errors.py); status.py maps both."""

from patchcore.errors import InspectionError, StorageError


class ShuttingDown(InspectionError):
    """The server is draining after SIGTERM and takes no new work."""


class StreamIdle(InspectionError):
    """A stream sent no frame for --stream-idle-seconds and had none in flight."""


class ServerBusy(InspectionError):
    """The inference queue is full (frames arrive faster than the model scores them), or --max-calls calls
    are open."""


class Unauthenticated(InspectionError):
    """The server requires a token and the call carries none, a malformed `authorization` header, or a token
    the server does not know."""


class PermissionDenied(InspectionError):
    """The call's token is known, but its role may not call the method (an `inspect` token calling Teach)."""


class ConfigError(InspectionError):
    """A setting or a file it names (certificate, tokens file) cannot be used; the server does not start."""


class FleetUnavailable(StorageError):
    """The fleet's product store (NATS) is unreachable: changes are refused, inspection goes on."""

    tells_outcome = True


class StoredInFleetOnly(StorageError):
    """This server's folder refused a change the fleet's store has made already: the other servers have it,
    and this server takes it from the fleet once its folder can be written."""

    tells_outcome = True


class CallEnded(Exception):
    """The call of a Teach or AddImages ended (its deadline, the client cancelled, the server's drain ran out)
    while it was being built: the build stops at its next step and stores nothing."""
