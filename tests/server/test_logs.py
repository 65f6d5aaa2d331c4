"""The server's JSON log lines."""

import io
import logging
import math

import pytest

from server.logs import LOGGER_NAME, configure_logging, log_event
from tests.json_lines import strict_json


@pytest.fixture
def json_log():
    """The JSON log lines written while the test runs; the logger is put back as it was afterwards."""
    logger = logging.getLogger(LOGGER_NAME)
    saved = logger.handlers[:], logger.level, logger.propagate
    configure_logging("info", json_lines=True)
    sink = io.StringIO()
    logger.handlers[0].setStream(sink)
    try:
        yield lambda: sink.getvalue().splitlines()
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved


def test_non_finite_numbers_are_written_as_strings(json_log):
    log_event(
        "server_draining", grace_seconds=math.nan, limits=[math.inf, -math.inf, 1.5], nested={"a": math.nan}
    )
    [line] = json_log()
    entry = strict_json(line)
    assert entry["grace_seconds"] == "NaN"
    assert entry["limits"] == ["Infinity", "-Infinity", 1.5]
    assert entry["nested"] == {"a": "NaN"}


def test_finite_fields_keep_their_types(json_log):
    log_event("product_taught", product="flange", version=2, threshold=0.0572, usable=True, region=None)
    [line] = json_log()
    entry = strict_json(line)
    assert (entry["level"], entry["event"]) == ("info", "product_taught")
    assert {key: entry[key] for key in ("product", "version", "threshold", "usable", "region")} == {
        "product": "flange",
        "version": 2,
        "threshold": 0.0572,
        "usable": True,
        "region": None,
    }
