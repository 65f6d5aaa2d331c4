"""`python -m server`: parse the settings, start the server, drain on SIGTERM or Ctrl-C, exit 0.

SIGHUP is logged and ignored: the server has nothing to reload (a restart applies changed settings), and
a closed terminal or an operator's `kill -HUP` must not take a line's inspection down.
"""

from __future__ import annotations

import asyncio
import faulthandler
import gc
import logging
import signal
import sys

from patchcore.errors import InspectionError, StorageError
from server.config import ServerConfig, parse_config
from server.logs import configure_logging, log_event
from server.malloc_arenas import limit_malloc_arenas, release_free_memory
from server.stderr_relay import route_stderr_through_relay

TRIM_EVERY_SECONDS = 10.0


def main(argv: list[str] | None = None) -> int:
    limit_malloc_arenas()
    config = parse_config(argv)
    stop_relay = route_stderr_through_relay() if config.log_json else None
    faulthandler.enable()  # a fatal signal's Python traceback goes to stderr (through the relay)
    try:
        configure_logging(config.log_level, config.log_json)
        return asyncio.run(serve(config))
    except Exception as error:  # logged as an event, not left to a plain-text traceback
        log_event("server_crashed", level=logging.CRITICAL, exc_info=error)
        return 1
    finally:
        if stop_relay:
            stop_relay()


async def serve(config: ServerConfig) -> int:
    """Runs the server until SIGTERM or SIGINT, then drains it; the exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _request_stop, signum, stop)
    loop.add_signal_handler(signal.SIGHUP, _ignore_hangup)
    try:
        # Imported once the relay has fd 2: ONNX Runtime can write to stderr as it is imported.
        from server.app import InspectionServer

        server = InspectionServer(config)
        await server.start()
    except StorageError as error:  # the store away, or in use by another process: it may pass, so exit 1
        log_event("server_failed_to_start", level=logging.CRITICAL, error=str(error))
        return 1
    except (InspectionError, OSError) as error:  # a setting, a file it names, a taken port: exit 2
        log_event("server_failed_to_start", level=logging.CRITICAL, error=str(error))
        return 2
    gc.freeze()
    trimming = asyncio.create_task(_release_free_memory_regularly())
    await stop.wait()
    trimming.cancel()
    await server.shutdown()
    return 0


def _request_stop(signum: int, stop: asyncio.Event) -> None:
    log_event("signal_received", signal=signal.Signals(signum).name)
    stop.set()


def _ignore_hangup() -> None:
    log_event(
        "signal_ignored",
        level=logging.WARNING,
        signal="SIGHUP",
        advice="the server has nothing to reload: restart it to apply changes; SIGTERM stops it",
    )


async def _release_free_memory_regularly() -> None:
    while True:
        await asyncio.sleep(TRIM_EVERY_SECONDS)
        await asyncio.to_thread(release_free_memory)


if __name__ == "__main__":
    sys.exit(main())
