"""Token auth with two roles: the token table on its own, then every method against a live server."""

import json
import logging
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from patchcore_edge.v1 import inspection_pb2 as pb
from prometheus_client import CollectorRegistry, Counter
from reliability_support import (
    SERVING,
    health_status,
    inspect_request,
    log_events,
    metric_value,
    start_server,
    status_code,
    stub_for,
    wait_for_log_event,
)
from reliability_support import teach_request as make_teach_request

from server import auth as auth_module
from server.auth import (
    RefusalLog,
    Role,
    TokenFault,
    bearer_token,
    load_tokens,
    read_tokens_file,
    required_role,
    warn_if_open,
)
from server.errors import ConfigError

ADMIN_TOKEN = "adm-7f3c9e1b2a"
INSPECT_TOKEN = "insp-5d8a0c4e6f"
ENV_INSPECT_TOKEN = "insp-env-91b2c3"
PRODUCT = "guarded"


def write_tokens(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_tokens_file_lines_give_roles(tmp_path):
    path = write_tokens(tmp_path / "tokens", "# line 7\nadmin  a-token\n\n  # camera PC\ninspect i-token\n")
    tokens = load_tokens(path, environ={})
    assert tokens.role_of("a-token") is Role.ADMIN
    assert tokens.role_of("i-token") is Role.INSPECT
    assert tokens.role_of("a-token ") is None
    assert tokens.role_of("") is None


def test_a_hash_inside_a_token_is_part_of_it(tmp_path):
    tokens = load_tokens(write_tokens(tmp_path / "tokens", "admin S3cret#admin-token-1\n"), environ={})
    assert tokens.role_of("S3cret#admin-token-1") is Role.ADMIN
    assert tokens.role_of("S3cret") is None


def test_environment_and_legacy_flag_tokens(tmp_path):
    environ = {"PATCHCORE_ADMIN_TOKEN": "env-admin", "PATCHCORE_INSPECT_TOKEN": "env-inspect"}
    tokens = load_tokens(None, admin_tokens=("flag-admin", ""), environ=environ)
    assert tokens.roles() == {"inspect": 1, "admin": 2}
    assert tokens.role_of("flag-admin") is Role.ADMIN
    assert tokens.role_of("env-inspect") is Role.INSPECT


def test_no_tokens_means_auth_is_off():
    assert not load_tokens(None, environ={})


def test_an_empty_token_variable_counts_as_unset():
    assert not load_tokens(None, environ={"PATCHCORE_ADMIN_TOKEN": "", "PATCHCORE_INSPECT_TOKEN": ""})


@pytest.mark.parametrize("text", ["", "# admin a-token\n\n   \n"], ids=["empty", "only-comments"])
def test_a_tokens_file_without_a_token_is_refused(tmp_path, text):
    path = write_tokens(tmp_path / "tokens", text)
    with pytest.raises(ConfigError, match="no token"):
        load_tokens(path, environ={"PATCHCORE_ADMIN_TOKEN": "env-admin"})


def test_a_server_given_a_tokens_file_without_a_token_does_not_start(tiny_model, tmp_path):
    tokens = write_tokens(tmp_path / "tokens", "# admin CHANGE-ME\n")
    command = [sys.executable, "-m", "server", "--model", str(tiny_model), "--store", str(tmp_path / "store"),
               "--port", "0", "--metrics-port", "0", "--tokens-file", str(tokens)]  # fmt: skip
    finished = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 2
    [failure] = [json.loads(line) for line in finished.stderr.splitlines() if "failed_to_start" in line]
    assert str(tokens) in failure["error"] and "no token" in failure["error"]


def test_no_token_on_a_network_address_logs_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="patchcore.server"):
        warn_if_open(load_tokens(None, environ={}), "127.0.0.1")
        warn_if_open(load_tokens(None, environ={"PATCHCORE_INSPECT_TOKEN": "i"}), "0.0.0.0")
        assert not caplog.records
        warn_if_open(load_tokens(None, environ={"PATCHCORE_ADMIN_TOKEN": ""}), "0.0.0.0")
    [record] = caplog.records
    assert record.getMessage() == "authentication_off"


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("admin\n", "expected `role token`, got 1 word ("),
        ("root s3cret-token\n", "the first word is not a role: use 'admin' or 'inspect'"),
        (
            "s3cret-token inspect\n",
            "the first word is not a role: use 'admin' or 'inspect' (role and token swapped?)",
        ),
        ("inspect s3cret-token # camera 3\n", "expected `role token`"),
    ],
)
def test_malformed_tokens_file_is_refused_without_showing_tokens(tmp_path, text, complaint):
    with pytest.raises(ConfigError) as raised:
        read_tokens_file(write_tokens(tmp_path / "tokens", text))
    assert complaint in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_one_token_with_two_roles_is_refused_naming_where_without_showing_it(tmp_path):
    path = write_tokens(tmp_path / "tokens", "inspect s3cret-line\nadmin other-token\n")
    with pytest.raises(ConfigError) as raised:
        load_tokens(path, environ={"PATCHCORE_ADMIN_TOKEN": "s3cret-line"})
    assert f"inspect in {path} line 1; admin in PATCHCORE_ADMIN_TOKEN" in str(raised.value)
    assert "s3cret" not in str(raised.value)
    with pytest.raises(ConfigError, match="two roles"):
        load_tokens(write_tokens(tmp_path / "both", "admin s3cret\ninspect s3cret\n"), environ={})


def test_one_token_listed_twice_with_one_role_is_taken(tmp_path):
    tokens = load_tokens(
        write_tokens(tmp_path / "tokens", "inspect cam-token\n"),
        environ={"PATCHCORE_INSPECT_TOKEN": "cam-token"},
    )
    assert tokens.role_of("cam-token") is Role.INSPECT


def test_a_tokens_file_that_is_not_utf8_is_refused_with_a_reason(tmp_path):
    path = tmp_path / "tokens"
    path.write_bytes(b"\xff\xfe admin s3cret\n")
    with pytest.raises(ConfigError) as raised:
        read_tokens_file(path)
    assert f"tokens file {path} is not UTF-8 text" in str(raised.value)


def test_a_tokens_file_saved_with_a_byte_order_mark_is_read(tmp_path):
    """Windows Notepad starts UTF-8 files with one."""
    path = tmp_path / "tokens"
    path.write_bytes("admin s3cret\r\n".encode("utf-8-sig"))
    assert read_tokens_file(path) == [(b"s3cret", Role.ADMIN)]


def test_tokens_never_appear_in_a_repr(tmp_path):
    tokens = load_tokens(write_tokens(tmp_path / "tokens", "admin hidden-token\n"), environ={})
    assert "hidden-token" not in repr(tokens)


@pytest.mark.parametrize(
    ("value", "token"),
    [("Bearer t-1", "t-1"), ("bearer t-1", "t-1"), ("BEARER t-1", "t-1"), ("bEaReR t-1", "t-1"),
     ("Basic t-1", TokenFault.MALFORMED), ("Bearer", TokenFault.MALFORMED), ("Bearer ", TokenFault.MALFORMED),
     ("Bearert-1", TokenFault.MALFORMED), ("t-1", TokenFault.MALFORMED), ("", TokenFault.MALFORMED)],
)  # fmt: skip
def test_the_bearer_scheme_is_matched_case_insensitively(value, token):
    assert bearer_token((("x-other", "Bearer no"), ("authorization", value))) == token


def test_a_call_without_an_authorization_header_has_no_token():
    assert bearer_token((("x-token", "Bearer t-1"),)) is TokenFault.MISSING
    assert bearer_token(None) is TokenFault.MISSING


def test_every_method_has_the_documented_role():
    methods = pb.DESCRIPTOR.services_by_name["InspectionService"].methods_by_name
    roles = {name: required_role(name) for name in methods}
    assert {name for name, role in roles.items() if role is Role.ADMIN} == {
        "Teach",
        "AddImages",
        "UpdateProduct",
        "DeleteProduct",
    }
    assert required_role("SomeFutureMethod") is Role.ADMIN  # closed until listed


@pytest.fixture(scope="module")
def guarded(tiny_model, tmp_path_factory):
    """A server with an admin and an inspect token in a file, and another inspect token in the environment."""
    folder = tmp_path_factory.mktemp("auth")
    tokens = write_tokens(folder / "tokens", f"admin {ADMIN_TOKEN}\ninspect {INSPECT_TOKEN}\n")
    server = start_server(
        tiny_model,
        folder / "store",
        folder,
        "--tokens-file",
        str(tokens),
        "--log-level",
        "debug",
        env={"PATCHCORE_INSPECT_TOKEN": ENV_INSPECT_TOKEN},
    )
    with server, grpc.insecure_channel(server.target) as channel:
        stub = stub_for(channel)
        stub.Teach(make_teach_request(PRODUCT, seed=1), metadata=bearer(ADMIN_TOKEN))
        yield server, stub


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def calls(stub) -> dict:
    """One harmless call per method, each given metadata; Teach, AddImages and DeleteProduct are refused."""
    frame = inspect_request(PRODUCT)
    return {
        "Teach": lambda md: stub.Teach(pb.TeachRequest(product_id="other"), metadata=md),
        "AddImages": lambda md: stub.AddImages(pb.AddImagesRequest(product_id="gone"), metadata=md),
        "Inspect": lambda md: stub.Inspect(frame, metadata=md),
        "InspectStream": lambda md: list(stub.InspectStream(iter([frame]), metadata=md)),
        "GetProduct": lambda md: stub.GetProduct(pb.GetProductRequest(product_id=PRODUCT), metadata=md),
        "ListProducts": lambda md: stub.ListProducts(pb.ListProductsRequest(), metadata=md),
        "UpdateProduct": lambda md: stub.UpdateProduct(
            pb.UpdateProductRequest(product_id=PRODUCT, options=pb.ProductOptions(threshold=0.5),
                                    update_fields=["threshold"]), metadata=md),
        "DeleteProduct": lambda md: stub.DeleteProduct(
            pb.DeleteProductRequest(product_id="gone"), metadata=md),
        "GetServerInfo": lambda md: stub.GetServerInfo(pb.GetServerInfoRequest(), metadata=md),
    }  # fmt: skip


# What each method answers once it is let through (Teach's empty set and the absent product of AddImages and
# DeleteProduct show the call reached the service).
ADMITTED = {
    "Teach": grpc.StatusCode.INVALID_ARGUMENT,
    "AddImages": grpc.StatusCode.NOT_FOUND,
    "DeleteProduct": grpc.StatusCode.NOT_FOUND,
}
METHODS = tuple(pb.DESCRIPTOR.services_by_name["InspectionService"].methods_by_name)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "metadata",
    [(), (("authorization", "Bearer nope"),), (("authorization", ADMIN_TOKEN),), (("x-token", ADMIN_TOKEN),)],
    ids=["none", "unknown", "no-bearer-prefix", "other-header"],
)
def test_calls_without_a_valid_token_are_unauthenticated(guarded, method, metadata):
    _, stub = guarded
    assert status_code(calls(stub)[method], metadata) == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("metadata", "says"),
    [
        ((), "this server needs a token: send it as `authorization: Bearer <token>` metadata "
             "(patchcore-client: --token, or the environment variable PATCHCORE_TOKEN)"),
        ((("x-token", ADMIN_TOKEN),), "this server needs a token"),
        ((("authorization", ADMIN_TOKEN),), "the call's `authorization` metadata is not `Bearer <token>`"),
        ((("authorization", f"Basic {ADMIN_TOKEN}"),), "is not `Bearer <token>`"),
        ((("authorization", "Bearer"),), "is not `Bearer <token>`"),
        (bearer(f"{ADMIN_TOKEN}x"), "this server does not know the call's token (mistyped, revoked, or "
                                    "another server's): send one listed in this server's --tokens-file, "
                                    "PATCHCORE_ADMIN_TOKEN or PATCHCORE_INSPECT_TOKEN"),
    ],
    ids=["none", "other-header", "no-scheme", "other-scheme", "scheme-only", "unknown"],
)  # fmt: skip
def test_an_unauthenticated_call_is_told_what_is_wrong_with_its_token_without_it(guarded, metadata, says):
    _, stub = guarded
    with pytest.raises(grpc.RpcError) as raised:
        stub.ListProducts(pb.ListProductsRequest(), metadata=metadata)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert says in raised.value.details()
    assert ADMIN_TOKEN[:4] not in raised.value.details()


@pytest.mark.parametrize("method", METHODS)
def test_admin_token_may_call_everything(guarded, method):
    _, stub = guarded
    assert status_code(calls(stub)[method], bearer(ADMIN_TOKEN)) == ADMITTED.get(method, grpc.StatusCode.OK)


@pytest.mark.parametrize("token", [INSPECT_TOKEN, ENV_INSPECT_TOKEN], ids=["file", "environment"])
@pytest.mark.parametrize("method", METHODS)
def test_inspect_token_may_only_inspect_and_read(guarded, method, token):
    _, stub = guarded
    code = status_code(calls(stub)[method], bearer(token))
    if required_role(method) is Role.ADMIN:
        assert code == grpc.StatusCode.PERMISSION_DENIED
    else:
        assert code == grpc.StatusCode.OK


@pytest.mark.parametrize("scheme", ["bearer", "BEARER"])
def test_a_server_takes_the_scheme_in_any_case(guarded, scheme):
    _, stub = guarded
    metadata = (("authorization", f"{scheme} {INSPECT_TOKEN}"),)
    assert status_code(calls(stub)["GetServerInfo"], metadata) == grpc.StatusCode.OK


def test_health_and_reflection_need_no_token(guarded):
    server, _ = guarded
    with grpc.insecure_channel(server.target) as channel:
        assert health_status(channel) == SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        answer = next(reflection.ServerReflectionInfo(iter([request])))
    names = {service.name for service in answer.list_services_response.service}
    assert "patchcore.edge.v1.InspectionService" in names


def test_tokens_are_never_logged(guarded):
    server, stub = guarded
    for method in METHODS:  # every kind of answer, refusals included, has been logged by now
        status_code(calls(stub)[method], bearer(INSPECT_TOKEN))
    log = server.log()
    assert "server_started" in log
    for token in (ADMIN_TOKEN, INSPECT_TOKEN, ENV_INSPECT_TOKEN):
        assert token not in log


def test_refusals_are_all_counted_and_logged_once_a_minute_per_client_address(caplog):
    counter = Counter("refused", "refused calls", ["code"], registry=CollectorRegistry())
    now = [1000.0]
    refusals = RefusalLog(counter, clock=lambda: now[0])
    denied, unauthenticated = grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED
    with caplog.at_level(logging.DEBUG, logger="patchcore.server"):
        refusals.refused("Teach", denied, "ipv4:10.0.0.7:40001")
        refusals.refused("Inspect", unauthenticated, "ipv4:10.0.0.7:40002")  # same client, a new connection
        refusals.refused("Inspect", unauthenticated, "ipv4:10.0.0.8:40003")
        now[0] += 61
        refusals.refused("Inspect", unauthenticated, "ipv4:10.0.0.7:40004")
    logged = [(r.levelno, r.getMessage(), r.fields) for r in caplog.records]
    client_7, client_8 = "ipv4:10.0.0.7", "ipv4:10.0.0.8"
    assert logged == [
        (logging.WARNING, "call_refused",
         {"method": "Teach", "code": "PERMISSION_DENIED", "peer": f"{client_7}:40001", "not_logged": 0}),
        (logging.WARNING, "call_refused",
         {"method": "Inspect", "code": "UNAUTHENTICATED", "peer": f"{client_8}:40003", "not_logged": 0}),
        (logging.WARNING, "call_refused",
         {"method": "Inspect", "code": "UNAUTHENTICATED", "peer": f"{client_7}:40004", "not_logged": 1}),
    ]  # fmt: skip
    assert counter.labels("UNAUTHENTICATED")._value.get() == 3
    assert counter.labels("PERMISSION_DENIED")._value.get() == 1


def test_a_flood_of_refusing_addresses_keeps_only_the_latest_in_memory(monkeypatch):
    """Past the cap, the addresses logged longest ago are forgotten, even within the minute: a flood from
    many addresses (an IPv6 /64) must neither grow the table nor slow each refusal."""
    monkeypatch.setattr(auth_module, "_MAX_REFUSING_ADDRESSES", 3)
    counter = Counter("refused", "refused calls", ["code"], registry=CollectorRegistry())
    refusals = RefusalLog(counter, clock=lambda: 1000.0)
    for number in range(10):
        refusals.refused("Inspect", grpc.StatusCode.UNAUTHENTICATED, f"ipv6:[2001:db8::{number}]:4000")
    assert list(refusals._last_logged) == ["ipv6:[2001:db8::7]", "ipv6:[2001:db8::8]", "ipv6:[2001:db8::9]"]


def test_a_server_logs_and_counts_refused_calls_without_their_tokens(tiny_model, tmp_path):
    tokens = write_tokens(tmp_path / "tokens", f"admin {ADMIN_TOKEN}\ninspect {INSPECT_TOKEN}\n")
    server = start_server(tiny_model, tmp_path / "store", tmp_path, "--tokens-file", str(tokens))
    with server, grpc.insecure_channel(server.target) as channel:
        stub = stub_for(channel)
        assert status_code(calls(stub)["Teach"], bearer(INSPECT_TOKEN)) == grpc.StatusCode.PERMISSION_DENIED
        assert status_code(calls(stub)["ListProducts"], bearer("guess-1")) == grpc.StatusCode.UNAUTHENTICATED
        assert status_code(calls(stub)["ListProducts"], ()) == grpc.StatusCode.UNAUTHENTICATED
        assert status_code(calls(stub)["DeleteProduct"], bearer(ADMIN_TOKEN)) == grpc.StatusCode.NOT_FOUND
        wait_for_log_event(server, "delete_failed")  # logged after every refusal
        refused = log_events(server, "call_refused")
        counted = {
            code: metric_value(server, f'patchcore_calls_refused_total{{code="{code}"}}')
            for code in ("UNAUTHENTICATED", "PERMISSION_DENIED")
        }
    assert [(entry["level"], entry["method"], entry["code"]) for entry in refused] == [
        ("warning", "Teach", "PERMISSION_DENIED")  # the next refusals of this client within a minute: counted
    ]
    assert refused[0]["peer"].startswith("ipv4:127.0.0.1:")
    assert counted == {"UNAUTHENTICATED": 2, "PERMISSION_DENIED": 1}
    assert INSPECT_TOKEN not in server.log() and "guess-1" not in server.log()
