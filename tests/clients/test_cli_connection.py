"""patchcore-client's connection settings that are wrong before anything is sent: a certificate or key file
that cannot be read, a token a gRPC header cannot carry. Each is a bad command line (exit 2) naming what to
fix, never a traceback or an INTERNAL status from the gRPC library."""

import pytest
from patchcore_client import InspectionClient
from patchcore_client.cli import main

# No server listens here: every case must stop before connecting.
TARGET = ["--target", "127.0.0.1:1", "--timeout", "5"]


@pytest.mark.parametrize("flag", ["--ca-cert", "--client-cert", "--client-key"])
def test_a_certificate_file_that_cannot_be_read_is_named(flag, tmp_path, capsys):
    present, missing = tmp_path / "present.pem", tmp_path / "missing.pem"
    present.write_text("-----BEGIN CERTIFICATE-----\n")
    files = {"--ca-cert": present, "--client-cert": present, "--client-key": present, flag: missing}

    with pytest.raises(SystemExit) as exit_:
        main([*TARGET, *(str(part) for item in files.items() for part in item), "products"])

    assert exit_.value.code == 2
    assert f"cannot read {flag} {missing}: No such file or directory" in capsys.readouterr().err


def test_a_certificate_file_named_by_its_variable_is_named_with_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATCHCORE_CA_CERT", str(tmp_path / "ca.crt"))

    with pytest.raises(SystemExit) as exit_:
        main([*TARGET, "products"])

    assert exit_.value.code == 2
    assert f"cannot read --ca-cert {tmp_path / 'ca.crt'}" in capsys.readouterr().err


@pytest.mark.parametrize("token", ["admin-token\r", "admin\ntoken", "tab\there"])
def test_a_token_with_a_control_character_is_a_usage_error(token, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*TARGET, "--token", token, "products"])

    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "the token holds a control character" in err
    assert token not in err


def test_a_token_that_is_not_ascii_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*TARGET, "--token", "s\u00e9cret", "products"])

    assert exit_.value.code == 2
    assert "not ASCII, which a gRPC header cannot carry" in capsys.readouterr().err


def test_the_client_refuses_a_token_with_a_control_character():
    with pytest.raises(ValueError, match="control character"):
        InspectionClient("127.0.0.1:1", token="secret\r")
