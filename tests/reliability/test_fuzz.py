"""Property-based fuzzing: over 1,000 malformed requests across every call against the running server.

Each answer must carry one of the codes the case expects (never UNKNOWN or INTERNAL), health must stay
SERVING, and the server's resident memory must not keep growing.
"""

import time
from dataclasses import dataclass

import grpc
import pytest
from fuzz_cases import FUZZ_PRODUCT, MAX_MESSAGE_BYTES, PIXEL_CAP, Case, cases
from hypothesis import HealthCheck, given, settings
from reliability_support import SERVING, health_status, server_rss_bytes, start_server, stub_for
from reliability_support import teach_request as make_teach_request

SERVICE = "/patchcore.edge.v1.InspectionService"
EXAMPLES = 1300
MIN_MALFORMED = 1000
WARM_UP_REQUESTS = 200  # the baseline for memory is taken after these (caches, arenas, thread stacks)
MAX_RSS_GROWTH = 64 * 2**20


@pytest.fixture(scope="module")
def target(tiny_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    limits = ["--max-image-pixels", str(PIXEL_CAP), "--max-message-bytes", str(MAX_MESSAGE_BYTES)]
    server = start_server(tiny_model, folder / "store", folder, *limits)
    with server, grpc.insecure_channel(server.target) as channel:
        stub_for(channel).Teach(make_teach_request(FUZZ_PRODUCT, seed=0))
        yield server, channel


def code_of_number(number: int) -> grpc.StatusCode:
    return next(code for code in grpc.StatusCode if code.value[0] == number)


def answers(channel: grpc.Channel, case: Case) -> list[tuple[grpc.StatusCode, frozenset]]:
    """(code received, codes expected) for each request message of the case."""
    stub = stub_for(channel)
    try:
        if case.frames:
            requests = [request for request, _ in case.frames]
            responses = list(stub.InspectStream(iter(requests), timeout=60))
            assert [r.frame_id for r in responses] == [r.frame_id for r in requests]
            return [
                (code_of_number(response.error.code), expected)
                for response, (_, expected) in zip(responses, case.frames, strict=True)
            ]
        if isinstance(case.request, bytes):
            channel.unary_unary(f"{SERVICE}/{case.method}")(case.request, timeout=60)
        else:
            getattr(stub, case.method)(case.request, timeout=60)
    except grpc.RpcError as error:
        return [(error.code(), case.expected)]
    return [(grpc.StatusCode.OK, case.expected)]


@dataclass
class Tally:
    requests: int = 0
    malformed: int = 0
    baseline_rss: int = 0


def test_malformed_requests_get_specific_codes_and_the_server_stays_healthy(target):
    server, channel = target
    tally = Tally()
    started = time.perf_counter()

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def request_gets_a_specific_code(case: Case) -> None:
        for code, expected in answers(channel, case):
            assert code in expected, f"{case.method} answered {code}, expected one of {sorted(expected)}"
        messages = len(case.frames) or 1
        tally.requests += messages
        tally.malformed += sum(_malformed_messages(case))
        assert health_status(channel) == SERVING
        if not tally.baseline_rss and tally.requests >= WARM_UP_REQUESTS:
            tally.baseline_rss = server_rss_bytes(server)

    request_gets_a_specific_code()
    seconds = time.perf_counter() - started
    growth = server_rss_bytes(server) - tally.baseline_rss
    print(
        f"\nfuzz: {tally.requests} request messages ({tally.malformed} malformed) in {seconds:.1f} s; "
        f"server RSS grew {growth / 2**20:+.1f} MiB after the first {WARM_UP_REQUESTS}"
    )
    assert tally.malformed >= MIN_MALFORMED
    assert server.process.poll() is None
    assert growth < MAX_RSS_GROWTH


def _malformed_messages(case: Case) -> list[bool]:
    if case.frames:
        return [grpc.StatusCode.OK not in expected for _, expected in case.frames]
    return [case.malformed]
