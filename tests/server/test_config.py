"""Settings: flags win over PATCHCORE_* variables, which win over defaults; --help reads well."""

import pytest

from server.config import ServerConfig, build_parser, parse_config


def test_defaults(monkeypatch):
    monkeypatch.setenv("PATCHCORE_MODEL", "model.onnx")
    config = parse_config([])
    assert (config.host, config.port, config.max_message_bytes) == ("127.0.0.1", 50051, 64 * 1024 * 1024)
    assert (config.max_image_pixels, config.max_batch, config.max_wait_ms) == (50_000_000, 1, 0.0)


def test_environment_sets_and_flags_override(monkeypatch):
    monkeypatch.setenv("PATCHCORE_MODEL", "from-env.onnx")
    monkeypatch.setenv("PATCHCORE_PORT", "6000")
    monkeypatch.setenv("PATCHCORE_MAX_BATCH", "6")
    monkeypatch.setenv("PATCHCORE_LOG_JSON", "false")
    config = parse_config(["--port", "7000"])
    assert str(config.model) == "from-env.onnx"
    assert (config.port, config.max_batch, config.log_json) == (7000, 6, False)


def test_model_is_required(monkeypatch, capsys):
    monkeypatch.delenv("PATCHCORE_MODEL", raising=False)
    with pytest.raises(SystemExit):
        parse_config([])
    assert "--model" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flag", ["--max-batch", "--queue-size", "--stream-window", "--max-image-pixels", "--model-workers"]
)
def test_limits_below_one_are_refused(monkeypatch, flag):
    monkeypatch.setenv("PATCHCORE_MODEL", "model.onnx")
    with pytest.raises(SystemExit):
        parse_config([flag, "0"])


@pytest.mark.parametrize(
    ("cores", "flags", "threads"),
    [
        (8, [], 8),  # a run alone: a thread per core, whatever the model workers
        (2, ["--model-workers", "3"], 2),
        (8, ["--intra-op-threads", "3"], 3),
    ],
)
def test_onnx_threads(monkeypatch, cores, flags, threads):
    monkeypatch.setenv("PATCHCORE_MODEL", "model.onnx")
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    assert parse_config(flags).onnx_threads() == threads


@pytest.mark.parametrize(
    ("cores", "flags", "threads"),
    [
        (2, [], 1),  # two model workers by default: a run beside the other gets one of two cores
        (8, ["--model-workers", "3"], 2),
        (2, ["--model-workers", "3"], 1),  # never none
        (8, ["--intra-op-threads", "4"], 2),
    ],
)
def test_onnx_threads_beside(monkeypatch, cores, flags, threads):
    monkeypatch.setenv("PATCHCORE_MODEL", "model.onnx")
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    assert parse_config(flags).onnx_threads_beside() == threads


def test_help_names_every_setting_with_its_variable_and_default():
    text = build_parser().format_help()
    for name in ServerConfig.__dataclass_fields__:
        if name not in ("model",):
            assert f"--{name.replace('_', '-')}" in text
    assert "[PATCHCORE_MODEL]" in text and "[PATCHCORE_MAX_WAIT_MS]" in text
    assert "(default: 127.0.0.1)" in text
    assert "(default: None)" not in text and "(default: )" not in text  # flags without a default say none


def test_a_server_is_on_its_own_unless_given_a_fleet_store(monkeypatch):
    monkeypatch.setenv("PATCHCORE_MODEL", "model.onnx")
    config = parse_config([])
    assert (config.fleet_store, config.fleet_creds, config.fleet_bucket) == ("", None, "patchcore")


def test_the_fleet_store_comes_from_a_flag_or_the_environment(monkeypatch, tmp_path):
    creds = tmp_path / "site.creds"
    creds.write_text("credentials")
    monkeypatch.setenv("PATCHCORE_MODEL", "model.onnx")
    monkeypatch.setenv("PATCHCORE_FLEET_STORE", "tls://nats.plant:4222")
    config = parse_config(["--fleet-creds", str(creds), "--fleet-bucket", "line-7"])
    assert (config.fleet_store, config.fleet_creds, config.fleet_bucket) == (
        "tls://nats.plant:4222",
        creds,
        "line-7",
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--fleet-store", "nats://nats:4222", "--fleet-creds", "missing.creds"],
            "missing.creds: no such file",
        ),
        (["--fleet-creds", "missing.creds"], "--fleet-creds needs --fleet-store"),
    ],
)
def test_fleet_credentials_must_be_a_file_and_need_a_store(monkeypatch, capsys, flags, message):
    monkeypatch.setenv("PATCHCORE_MODEL", "model.onnx")
    with pytest.raises(SystemExit):
        parse_config(flags)
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags",
    [["--fleet-store", "http://nats:4222"], ["--fleet-store", "nats:4222"], ["--fleet-bucket", "a.b"]],
)
def test_a_fleet_store_that_is_no_nats_url_or_bucket_name_is_refused(monkeypatch, capsys, flags):
    monkeypatch.setenv("PATCHCORE_MODEL", "model.onnx")
    with pytest.raises(SystemExit):
        parse_config(flags)
    assert flags[0] in capsys.readouterr().err


def test_grpc_threads_is_still_accepted_as_max_calls(monkeypatch):
    monkeypatch.setenv("PATCHCORE_MODEL", "model.onnx")
    assert parse_config(["--grpc-threads", "12"]).max_calls == 12
    assert parse_config(["--max-calls", "40"]).max_calls == 40


def refusal(monkeypatch, capsys, flags: list[str]) -> str:
    """What parse_config prints when it refuses `flags`; fails unless it exits 2 (a usage error)."""
    monkeypatch.setenv("PATCHCORE_MODEL", "model.onnx")
    with pytest.raises(SystemExit) as exited:
        parse_config(flags)
    assert exited.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--port", "--metrics-port", "--web-port"])
@pytest.mark.parametrize("value", ["65536", "115441", "-5"])
def test_ports_outside_0_to_65535_are_refused(monkeypatch, capsys, flag, value):
    assert f"{flag} must be from 0 to 65535, got {value}" in refusal(monkeypatch, capsys, [flag, value])


def test_ports_0_and_65535_are_accepted(monkeypatch):
    monkeypatch.setenv("PATCHCORE_MODEL", "model.onnx")
    config = parse_config(["--port", "0", "--metrics-port", "65535", "--web-port", "0"])
    assert (config.port, config.metrics_port, config.web_port) == (0, 65535, 0)


@pytest.mark.parametrize("flag", ["--max-wait-ms", "--grace-seconds", "--stream-idle-seconds"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1"])
def test_durations_must_be_finite_and_not_negative(monkeypatch, capsys, flag, value):
    assert flag in refusal(monkeypatch, capsys, [flag, value])


@pytest.mark.parametrize("flag", ["--max-wait-ms", "--grace-seconds", "--stream-idle-seconds"])
def test_durations_a_thread_cannot_wait_for_are_refused(monkeypatch, capsys, flag):
    """Python's waits take at most threading.TIMEOUT_MAX seconds (about 292 years); 1e13 s or ms is more."""
    assert flag in refusal(monkeypatch, capsys, [flag, "1e13"])


@pytest.mark.parametrize("flag", ["--intra-op-threads", "--decode-threads"])
def test_thread_counts_must_not_be_negative(monkeypatch, capsys, flag):
    assert flag in refusal(monkeypatch, capsys, [flag, "-1"])


@pytest.mark.parametrize(
    "flag", ["--max-message-bytes", "--max-streams-per-connection", "--intra-op-threads"]
)
def test_limits_passed_to_grpc_or_onnx_runtime_fit_their_c_int(monkeypatch, capsys, flag):
    assert f"{flag} must be" in refusal(monkeypatch, capsys, [flag, str(2**31)])
    monkeypatch.setenv("PATCHCORE_MODEL", "model.onnx")
    assert parse_config([flag, str(2**31 - 1)])


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PATCHCORE_PORT", "abc", "PATCHCORE_PORT: invalid int value: 'abc'"),
        ("PATCHCORE_MAX_BATCH", "1.5", "PATCHCORE_MAX_BATCH: invalid int value: '1.5'"),
        ("PATCHCORE_GRACE_SECONDS", "ten", "PATCHCORE_GRACE_SECONDS: invalid float value: 'ten'"),
        ("PATCHCORE_LOG_LEVEL", "verbose", "PATCHCORE_LOG_LEVEL: invalid choice: 'verbose'"),
        ("PATCHCORE_LOG_JSON", "flase", "PATCHCORE_LOG_JSON: invalid boolean value: 'flase'"),
    ],
)
def test_a_bad_environment_value_is_a_usage_error_naming_the_variable(
    monkeypatch, capsys, variable, value, message
):
    monkeypatch.setenv(variable, value)
    assert message in refusal(monkeypatch, capsys, [])


def test_a_flag_on_the_command_line_wins_over_a_bad_environment_value(monkeypatch):
    monkeypatch.setenv("PATCHCORE_MODEL", "model.onnx")
    monkeypatch.setenv("PATCHCORE_PORT", "abc")
    monkeypatch.setenv("PATCHCORE_LOG_LEVEL", "verbose")
    config = parse_config(["--port", "7000", "--log-level", "debug"])
    assert (config.port, config.log_level) == (7000, "debug")


@pytest.mark.parametrize(
    ("value", "log_json"), [("true", True), ("On", True), ("1", True), ("no", False), ("FALSE", False)]
)
def test_boolean_variables_take_clear_values(monkeypatch, value, log_json):
    monkeypatch.setenv("PATCHCORE_MODEL", "model.onnx")
    monkeypatch.setenv("PATCHCORE_LOG_JSON", value)
    assert parse_config([]).log_json is log_json


def test_log_level_takes_any_case(monkeypatch):
    monkeypatch.setenv("PATCHCORE_MODEL", "model.onnx")
    monkeypatch.setenv("PATCHCORE_LOG_LEVEL", "DEBUG")
    assert parse_config([]).log_level == "debug"
    assert parse_config(["--log-level", "Warning"]).log_level == "warning"


def test_a_store_that_is_a_file_is_refused_as_not_a_directory(monkeypatch, capsys, tmp_path):
    store = tmp_path / "storefile"
    store.write_text("not a store")
    assert f"--store {store}: not a directory" in refusal(monkeypatch, capsys, ["--store", str(store)])


def test_the_page_answers_no_extra_name_unless_given(monkeypatch):
    monkeypatch.setenv("PATCHCORE_MODEL", "model.onnx")
    assert parse_config([]).page_allowed_hosts == ()


def test_page_allowed_hosts_come_from_a_flag_or_the_environment_in_lower_case(monkeypatch):
    monkeypatch.setenv("PATCHCORE_MODEL", "model.onnx")
    monkeypatch.setenv("PATCHCORE_PAGE_ALLOWED_HOSTS", "line-pc-3, Line-PC-3.Plant.")
    assert parse_config([]).page_allowed_hosts == ("line-pc-3", "line-pc-3.plant")
    assert parse_config(["--page-allowed-hosts", "*"]).page_allowed_hosts == ("*",)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("line-pc-3,,line-pc-4", "an empty name in 'line-pc-3,,line-pc-4': give names separated by commas"),
        ("line-pc-3,", "an empty name in 'line-pc-3,'"),
        ("line-pc-3:8080", "'line-pc-3:8080': give the name alone, as in line-pc-3.plant, without http://"),
        ("http://line-pc-3", "'http://line-pc-3': give the name alone"),
        ("line pc 3", "'line pc 3' is not a host name: letters, digits, '-', '_' and dots between them"),
        ("line-pc-3..plant", "'line-pc-3..plant' is not a host name"),
    ],
)
def test_page_allowed_hosts_that_are_no_names_are_refused_saying_why(monkeypatch, capsys, value, message):
    assert f"--page-allowed-hosts: {message}" in refusal(monkeypatch, capsys, ["--page-allowed-hosts", value])
    monkeypatch.setenv("PATCHCORE_PAGE_ALLOWED_HOSTS", value)
    assert f"PATCHCORE_PAGE_ALLOWED_HOSTS: {message}" in refusal(monkeypatch, capsys, [])
