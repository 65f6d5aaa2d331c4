"""`python -m server`: parse the settings, start the server, drain on SIGTERM or Ctrl-C, exit 0."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from patchcore.errors import InspectionError
from server.app import InspectionServer
from server.config import ServerConfig, parse_config
from server.logs import configure_logging, log_event
from server.malloc_arenas import limit_malloc_arenas, release_free_memory
from server.stderr_relay import route_stderr_through_relay

TRIM_EVERY_WAKEUPS = 20  # 10 s


def main(argv: list[str] | None = None) -> int:
    limit_malloc_arenas()
    config = parse_config(argv)
    stop_relay = route_stderr_through_relay() if config.log_json else None
    try:
        configure_logging(config.log_level, config.log_json)
        return _serve(config)
    except Exception as error:  # logged as an event, not left to a plain-text traceback
        log_event("server_crashed", level=logging.CRITICAL, exc_info=error)
        return 1
    finally:
        if stop_relay:
            stop_relay()


def _serve(config: ServerConfig) -> int:
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log_event("signal_received", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        server = InspectionServer(config)
        server.start()
    except (InspectionError, OSError) as error:
        log_event("server_failed_to_start", level=logging.CRITICAL, error=str(error))
        return 2
    # Wake up regularly: the signal may land on a gRPC thread, and Python runs handlers only in the main
    # thread, which a plain wait() would leave asleep.
    wakeups = 0
    while not stop.wait(timeout=0.5):
        wakeups += 1
        if wakeups % TRIM_EVERY_WAKEUPS == 0:
            release_free_memory()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
