"""The page's HTTP API without a browser: every route against every kind of token, bad requests, and what
must never reach the log."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import cv2
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from page_helpers import ADMIN_TOKEN, INSPECT_TOKEN, good_parts, new_product
from patchcore_client import InspectionClient
from prometheus_client import CollectorRegistry, Counter

from server.auth import RefusalLog, Role, TokenTable
from server.web.access import PageAccess
from server.web.calls import Refused
from server.web.handlers import frame_number
from tests.reliability.reliability_support import wait_for_log_event


def _request(
    url: str,
    token: str | None = None,
    body: bytes | None = None,
    stream: bool = False,
    headers: dict[str, str] | None = None,
):
    """(HTTP status, JSON body or None) of a GET (body None) or a JSON POST as the page sends them (headers:
    instead of the page's); `stream`: read no body."""
    headers = {"Content-Type": "application/json", "X-Patchcore-Page": "1"} if headers is None else headers
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, None if stream else json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _threshold(value: object) -> bytes:
    return json.dumps({"threshold": value}).encode()


@pytest.mark.parametrize(
    ("token", "read", "change"),
    [(None, 401, 401), ("wrong", 401, 401), (INSPECT_TOKEN, 200, 403), (ADMIN_TOKEN, 200, 200)],
)
def test_reading_needs_the_inspect_role_and_changing_the_admin_role(token_server, token, read, change):
    product_id = new_product(token_server, token=ADMIN_TOKEN)
    api = f"{token_server.page_url}api"
    assert _request(f"{api}/session", token)[0] == read
    assert _request(f"{api}/events", token, stream=True)[0] == read
    assert _request(f"{api}/products/{product_id}/events", token, stream=True)[0] == read
    status, answer = _request(f"{api}/products/{product_id}/threshold", token, _threshold(0.3))
    assert status == change
    with InspectionClient(token_server.target, token=ADMIN_TOKEN) as client:
        product = client.get_product(product_id)
    assert (product.version, product.threshold == pytest.approx(0.3)) == (
        (2, True) if change == 200 else (1, False)
    )
    if change != 200:
        assert answer["code"] == ("UNAUTHENTICATED" if change == 401 else "PERMISSION_DENIED")


def test_a_token_that_is_not_utf8_is_unauthenticated_not_a_server_error(token_server):
    status, answer = _request(f"{token_server.page_url}api/session", token="\xff\xfe")
    assert (status, answer["code"]) == (401, "UNAUTHENTICATED")


@pytest.mark.parametrize(
    ("authorization", "says"),
    [
        (None, "this server needs a token: enter one to continue"),
        ("s3cret", "the request's Authorization header is not `Bearer <token>`: enter the token again"),
        ("Bearer s3cret-guess", "this server does not know that token (mistyped, revoked, or another "
                                "server's): enter a valid one"),
    ],
    ids=["none", "malformed", "unknown"],
)  # fmt: skip
def test_the_page_tells_a_missing_a_malformed_and_an_unknown_token_apart(authorization, says):
    access = PageAccess(
        TokenTable(((b"s3cret", Role.ADMIN),)),
        RefusalLog(Counter("r", "r", ["code"], registry=CollectorRegistry())),
    )
    headers = {} if authorization is None else {"Authorization": authorization}
    with pytest.raises(Refused) as refused:
        access.require(make_mocked_request("GET", "/api/session", headers=headers), "GetServerInfo")
    assert (refused.value.code.name, refused.value.message) == ("UNAUTHENTICATED", says)


def _refused_count(server, code: str) -> float:
    """patchcore_calls_refused_total{code=...} on the server's /metrics page (0 before the first)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=10) as page:
        lines = page.read().decode().splitlines()
    series = f'patchcore_calls_refused_total{{code="{code}"}}'
    return sum(float(line.split()[-1]) for line in lines if line.startswith(series))


def test_refused_page_requests_are_counted_and_logged_like_refused_calls(token_server):
    before = (
        _refused_count(token_server, "UNAUTHENTICATED"),
        _refused_count(token_server, "PERMISSION_DENIED"),
    )
    product_id = new_product(token_server, token=ADMIN_TOKEN)
    assert _request(f"{token_server.page_url}api/session", "guessed-token")[0] == 401
    url = f"{token_server.page_url}api/products/{product_id}/threshold"
    assert _request(url, INSPECT_TOKEN, _threshold(0.3))[0] == 403
    after = _refused_count(token_server, "UNAUTHENTICATED"), _refused_count(token_server, "PERMISSION_DENIED")
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)
    refused = wait_for_log_event(token_server, "call_refused", peer="page:127.0.0.1")
    assert refused["level"] == "warning" and refused["code"] in {"UNAUTHENTICATED", "PERMISSION_DENIED"}
    assert "guessed-token" not in token_server.log()


@pytest.mark.parametrize(
    ("text", "number"), [("12", 12), ("²", None), ("\u0661", None), ("9" * 5000, None), ("", None)]
)
def test_frame_numbers_in_urls_are_ascii_digits_of_a_sane_length(text, number):
    assert frame_number(text) == number


def test_the_token_never_reaches_the_log(token_server):
    product_id = new_product(token_server, token=ADMIN_TOKEN)
    _request(f"{token_server.page_url}api/products/{product_id}/threshold", ADMIN_TOKEN, _threshold(0.2))
    log = token_server.log()
    assert "product_updated" in log
    assert ADMIN_TOKEN not in log and INSPECT_TOKEN not in log


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (_threshold("high"), "INVALID_ARGUMENT"),
        (_threshold(True), "INVALID_ARGUMENT"),
        (_threshold(5.0), "INVALID_ARGUMENT"),  # UpdateProduct's own range check
        (b"[0.1]", "INVALID_ARGUMENT"),
        (b"not json", "INVALID_ARGUMENT"),
    ],
)
def test_a_bad_threshold_is_refused_and_changes_nothing(open_server, body, code):
    product_id = new_product(open_server)
    status, answer = _request(f"{open_server.page_url}api/products/{product_id}/threshold", body=body)
    assert (status, answer["code"]) == (400, code)
    with InspectionClient(open_server.target) as client:
        assert client.get_product(product_id).version == 1


def test_unknown_products_and_frames_are_not_found(open_server):
    api = f"{open_server.page_url}api/products"
    assert _request(f"{api}/no-such-part/events", stream=True)[0] == 404
    assert _request(f"{api}/no-such-part/threshold", body=_threshold(0.1))[0] == 404
    product_id = new_product(open_server)
    status, answer = _request(f"{api}/{product_id}/frames/99/large.jpg")
    assert (status, answer["code"]) == (404, "NOT_FOUND")


def test_a_frame_named_by_an_earlier_server_run_is_not_found_and_not_added(open_server):
    """Frame numbers start again at 1 after a restart: a page still showing frame 1 of the run before must
    not add this run's frame 1 as a good part."""
    product_id = new_product(open_server)
    url = f"{open_server.page_url}api/products/{product_id}/frames/0badc0de-1/good"
    status, answer = _request(url, body=json.dumps({"expected_version": 1}).encode())
    assert (status, answer["code"]) == (404, "NOT_FOUND")
    assert "before the server restarted" in answer["error"]
    with InspectionClient(open_server.target) as client:
        assert client.get_product(product_id).version == 1


@pytest.mark.parametrize(
    ("route", "body", "content_type"),
    [
        ("threshold", b'{"threshold": 2.0, "x": "="}', "text/plain"),  # a form's text/plain JSON trick
        (
            "teach",
            b"--b\r\nContent-Disposition: form-data; name=images; filename=a.png\r\n\r\nx\r\n--b--\r\n",
            "multipart/form-data; boundary=b",
        ),
    ],
    ids=["threshold", "teach"],
)
def test_a_change_sent_by_a_form_of_another_site_is_refused(open_server, route, body, content_type):
    """A server without tokens makes every visitor admin; a page the operator's browser opens elsewhere can
    still post forms to it, but not with the page's header."""
    product_id = new_product(open_server)
    url = f"{open_server.page_url}api/products/{product_id}/{route}"
    status, answer = _request(url, body=body, headers={"Content-Type": content_type, "Origin": "http://evil"})
    assert (status, answer["code"]) == (403, "PERMISSION_DENIED")
    with InspectionClient(open_server.target) as client:
        assert client.get_product(product_id).version == 1


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.evil.example", "10.0.0.7"])
def test_a_page_on_the_loopback_answers_no_other_name(open_server, host):
    """A site whose name is made to resolve to 127.0.0.1 (DNS rebinding) is the page's own origin to the
    browser, so its scripts can send the page header: the Host it sends names the site, not the loopback."""
    product_id = new_product(open_server)
    refused_before = _refused_count(open_server, "PERMISSION_DENIED")
    port = open_server.web_port
    url = f"{open_server.page_url}api/products/{product_id}/threshold"
    headers = {"Content-Type": "application/json", "X-Patchcore-Page": "1", "Host": f"{host}:{port}"}
    status, answer = _request(url, body=_threshold(0.3), headers=headers)
    assert (status, answer["code"]) == (403, "PERMISSION_DENIED")
    assert _request(f"{open_server.page_url}api/session", headers={"Host": f"{host}:{port}"})[0] == 403
    with InspectionClient(open_server.target) as client:
        assert client.get_product(product_id).version == 1
    assert _refused_count(open_server, "PERMISSION_DENIED") - refused_before == 2  # counted as refused calls
    for name in ("localhost", "127.0.0.1"):
        headers = {"Content-Type": "application/json", "X-Patchcore-Page": "1", "Host": f"{name}:{port}"}
        assert _request(url, body=_threshold(0.3), headers=headers)[0] == 200


def test_a_page_on_the_network_answers_its_addresses_and_the_names_given_only(network_server):
    """On 0.0.0.0 the page is reached at the line PC's address or a name; a site whose name is made to
    resolve to that address (DNS rebinding) sends its own name, which is neither."""
    product_id = new_product(network_server)
    refused_before = _refused_count(network_server, "PERMISSION_DENIED")
    port = network_server.web_port
    url = f"{network_server.page_url}api/products/{product_id}/threshold"
    session = f"{network_server.page_url}api/session"

    def change(host: str) -> tuple[int, dict | None]:
        headers = {"Content-Type": "application/json", "X-Patchcore-Page": "1", "Host": host}
        return _request(url, body=_threshold(0.3), headers=headers)

    status, answer = change(f"evil.example:{port}")
    assert (status, answer.get("code")) == (403, "PERMISSION_DENIED")
    assert "--page-allowed-hosts" in answer["error"]
    assert _request(session, headers={"Host": "evil.example"})[0] == 403
    with InspectionClient(network_server.target) as client:
        assert client.get_product(product_id).version == 1
    assert _refused_count(network_server, "PERMISSION_DENIED") - refused_before == 2
    refused = wait_for_log_event(network_server, "call_refused", peer="page:127.0.0.1")
    assert refused["code"] == "PERMISSION_DENIED"

    for host in ("192.168.10.5", f"192.168.10.5:{port}", f"[fe80::1]:{port}", f"localhost:{port}"):
        assert _request(session, headers={"Host": host})[0] == 200, host
    assert _request(session, headers={"Host": f"LINE-PC-3.plant.:{port}"})[0] == 200
    assert change(f"10.0.0.7:{port}")[0] == 200
    assert change(f"line-pc-3.plant:{port}")[0] == 200
    with InspectionClient(network_server.target) as client:
        assert client.get_product(product_id).version == 3


def _host_checked(listening_on: str, allowed: tuple[str, ...], host: str) -> bool:
    """Whether the page's Host check lets a request with this Host header through."""
    access = PageAccess(TokenTable(), RefusalLog(Counter("r", "r", ["code"], registry=CollectorRegistry())))
    check = access.known_hosts_only(listening_on, allowed)

    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(text="page")

    try:
        asyncio.run(check(make_mocked_request("GET", "/", headers={"Host": host}), answer))
    except Refused:
        return False
    return True


@pytest.mark.parametrize(
    ("listening_on", "allowed", "host", "passes"),
    [
        ("0.0.0.0", (), "evil.example:8080", False),
        ("0.0.0.0", (), "10.0.0.7.evil.example", False),
        ("0.0.0.0", (), "", False),
        ("0.0.0.0", (), "10.0.0.7:8080", True),
        ("0.0.0.0", (), "[2001:db8::7]:8080", True),
        ("0.0.0.0", (), "localhost:8080", True),
        ("192.168.10.5", ("line-pc-3",), "line-pc-3:8080", True),
        ("192.168.10.5", ("line-pc-3",), "line-pc-3.evil.example:8080", False),
        ("::", ("*",), "evil.example:8080", True),
        ("127.0.0.1", (), "10.0.0.7:8080", False),  # the loopback page: loopback addresses only
        ("127.0.0.1", ("line-pc-3",), "line-pc-3:8080", True),  # as a proxy in front of it sends it
    ],
)
def test_which_host_names_the_page_answers(listening_on, allowed, host, passes):
    assert _host_checked(listening_on, allowed, host) is passes


@pytest.mark.parametrize("path", ["", "products/any", "static/product.js", "api/session"])
def test_no_other_site_may_frame_the_page(open_server, path):
    """Shown in another site's frame under a decoy, the operator's click could press Apply or "This is a
    good part": every answer forbids framing."""
    with urllib.request.urlopen(f"{open_server.page_url}{path}", timeout=30) as response:
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'"


def test_a_threshold_for_a_version_that_changed_meanwhile_is_refused(open_server):
    product_id = new_product(open_server)
    with InspectionClient(open_server.target) as client:
        client.update_product(product_id, threshold=0.4)  # version 2, unseen by the page
    url = f"{open_server.page_url}api/products/{product_id}/threshold"
    status, answer = _request(url, body=json.dumps({"threshold": 0.3, "expected_version": 1}).encode())
    assert (status, answer["code"]) == (409, "ABORTED")
    with InspectionClient(open_server.target) as client:
        assert client.get_product(product_id).threshold == pytest.approx(0.4)


def test_images_over_the_message_limit_are_refused_with_the_limit_named(open_server):
    """A drop of images larger than --max-message-bytes altogether: the operator learns the limit, as a
    Teach over gRPC would, not a bare "413 Request Entity Too Large"."""
    product_id = new_product(open_server)
    with InspectionClient(open_server.target) as client:
        limit = client.server_info().max_message_bytes
    part = b"--b\r\nContent-Disposition: form-data; name=images; filename=big.png\r\n\r\n%s\r\n--b--\r\n"
    body = part % bytes(limit)
    headers = {"Content-Type": "multipart/form-data; boundary=b", "X-Patchcore-Page": "1"}
    url = f"{open_server.page_url}api/products/{product_id}/teach"
    status, answer = _request(url, body=body, headers=headers)
    assert (status, answer["code"]) == (413, "RESOURCE_EXHAUSTED")
    assert f"the images have {len(body):,} bytes together" in answer["error"]
    assert f"at most {limit:,} at once (--max-message-bytes)" in answer["error"]
    with InspectionClient(open_server.target) as client:
        assert client.get_product(product_id).version == 1


def test_teaching_a_product_again_from_its_page_keeps_how_it_was_taught(open_server):
    """The product page's "teach again" drops new good images only: the product keeps its region of
    interest, tiles and line views (losing them changed what the model sees, and the frame-size check)."""
    product_id = f"again-{id(open_server)}"
    with InspectionClient(open_server.target) as client:
        client.teach(product_id, good_parts(4, seed=5), roi=(16, 16, 200, 200), tile_size=100, line_views=0)
    parts = b"".join(
        b"--b\r\nContent-Disposition: form-data; name=images; filename=p%d.png\r\n"
        b"Content-Type: image/png\r\n\r\n%s\r\n" % (number, cv2.imencode(".png", image)[1].tobytes())
        for number, image in enumerate(good_parts(3, seed=6))
    )
    headers = {"Content-Type": "multipart/form-data; boundary=b", "X-Patchcore-Page": "1"}
    url = f"{open_server.page_url}api/products/{product_id}/teach"
    status, answer = _request(url, body=parts + b"--b--\r\n", headers=headers)
    assert status == 200, answer
    with InspectionClient(open_server.target) as client:
        product = client.get_product(product_id)
    roi = product.teach_options.roi
    assert (product.version, product.teach_stats.image_count) == (2, 3)
    assert (roi.x, roi.y, roi.width, roi.height) == (16, 16, 200, 200)
    assert (product.teach_options.tile_size, product.teach_options.line_views) == (100, 0)
