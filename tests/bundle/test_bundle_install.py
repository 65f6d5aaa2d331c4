"""The line-PC install end to end: `make bundle` with the Lite0 model, install.sh into a temp prefix with no
package index reachable, then the installed `patchcore-server` teaches and inspects, driven by the installed
`patchcore-client`. Bundle size and install time are printed (the README quotes them)."""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from bundle_tools import make_bundle, offline_environment, run
from patchcore_client.local_server import free_port
from patchcore_client.synthetic import defective_part, good_part

from server.config import ServerConfig

pytestmark = pytest.mark.slow

MODEL = "efficientnet_lite0_224.onnx"


@dataclass(frozen=True)
class Install:
    prefix: Path
    bundle_dir: Path  # the unpacked bundle


def report(request: pytest.FixtureRequest, line: str) -> None:
    """Prints a line in pytest's output, past its output capture."""
    plugins = request.config.pluginmanager
    with plugins.get_plugin("capturemanager").global_and_fixture_disabled():
        plugins.get_plugin("terminalreporter").write_line(f"[bundle] {line}")


def install(bundle_dir: Path, prefix: Path) -> subprocess.CompletedProcess[str]:
    return run([bundle_dir / "install.sh", prefix], env=offline_environment(), timeout=600)


@pytest.fixture(scope="module")
def bundle(lite0_model: Path, tmp_path_factory: pytest.TempPathFactory, request) -> Path:
    out = tmp_path_factory.mktemp("dist")
    start = time.monotonic()
    result = make_bundle([lite0_model], out)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    (bundle,) = out.glob("patchcore-edge-*.tar.gz")
    seconds = time.monotonic() - start
    report(request, f"{bundle.name}: {bundle.stat().st_size / 1e6:.0f} MB, built in {seconds:.0f} s")
    return bundle


@pytest.fixture(scope="module")
def installed(bundle: Path, tmp_path_factory: pytest.TempPathFactory, request) -> Install:
    line_pc = tmp_path_factory.mktemp("line_pc")
    assert run(["tar", "xzf", bundle, "-C", line_pc]).returncode == 0
    bundle_dir = line_pc / bundle.name.removesuffix(".tar.gz")
    prefix = line_pc / "opt" / "patchcore-edge"
    start = time.monotonic()
    hardened = os.umask(0o077)  # as root's shell on a hardened line PC; the service runs as another user
    try:
        result = install(bundle_dir, prefix)
    finally:
        os.umask(hardened)
    assert result.returncode == 0, result.stdout + result.stderr
    seconds = time.monotonic() - start
    size_mb = sum(path.stat().st_size for path in prefix.rglob("*") if path.is_file()) / 1e6
    report(request, f"install.sh into an empty prefix: {seconds:.0f} s, {size_mb:.0f} MB installed")
    return Install(prefix, bundle_dir)


def write_png(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture
def server(installed: Install, tmp_path: Path) -> Iterator[str]:
    """The installed patchcore-server with its store outside the prefix; yields its target once the installed
    client's health probe says SERVING."""
    port = free_port()
    command = [
        installed.prefix / "bin" / "patchcore-server", "--model", installed.prefix / "models" / MODEL,
        "--store", tmp_path / "store", "--port", str(port), "--metrics-port", "0",
    ]  # fmt: skip
    with open(tmp_path / "server.log", "wb") as output:
        process = subprocess.Popen(list(map(str, command)), stdout=output, stderr=subprocess.STDOUT)
    target = f"127.0.0.1:{port}"
    log = tmp_path / "server.log"
    try:
        client = installed.prefix / "bin" / "patchcore-client"
        probe = run([client, "--target", target, "health", "--wait", "120"])
        assert (probe.returncode, probe.stdout.strip()) == (0, "SERVING"), log.read_text()
        yield target
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log.read_text()


def test_the_installed_server_teaches_and_inspects(installed, server, tmp_path):
    client = [installed.prefix / "bin" / "patchcore-client", "--target", server]
    rng = np.random.default_rng(5)
    (tmp_path / "good").mkdir()
    for index in range(8):
        write_png(tmp_path / "good" / f"part_{index}.png", good_part(rng))
    frames = [write_png(tmp_path / "good_part.png", good_part(rng))]
    frames.append(write_png(tmp_path / "scratched_part.png", defective_part(rng, "scratch")))

    taught = run([*client, "teach", "--product", "flange", tmp_path / "good"])
    assert taught.returncode == 0, taught.stderr
    inspected = run([*client, "inspect", "--product", "flange", *frames, "--out", tmp_path / "out"])
    assert inspected.returncode == 0, inspected.stderr
    with open(tmp_path / "out" / "results.csv", newline="") as table:
        assert [row["verdict"] for row in csv.DictReader(table)] == ["good", "anomalous"]


@pytest.mark.parametrize("module", ["torch", "timm"])
def test_the_exporters_frameworks_are_not_installed(installed, module):
    result = run([installed.prefix / "bin" / "python", "-c", f"import {module}"])
    assert result.returncode == 1
    assert f"No module named '{module}'" in result.stderr


def test_everything_installed_is_readable_by_the_services_user_after_a_hardened_umask(installed):
    """Installed with umask 077 (the fixture): the service's own user must read every file and open every
    folder, or the unit fails with Permission denied."""
    closed = [
        path
        for path in [installed.prefix, *installed.prefix.rglob("*")]
        if not path.is_symlink() and path.stat().st_mode & (0o005 if path.is_dir() else 0o004) == 0
    ]
    assert closed == []


def test_running_install_again_upgrades_in_place(installed, request):
    """An older install is simulated by a changed file of the client: the bundle's own wheels always replace
    ours, whatever their version number."""
    (cli,) = installed.prefix.glob("lib/python*/site-packages/patchcore_client/cli.py")
    bundled = cli.read_text()
    cli.write_text(bundled + "\nOLDER_INSTALL = True\n")
    start = time.monotonic()
    result = install(installed.bundle_dir, installed.prefix)
    assert result.returncode == 0, result.stdout + result.stderr
    report(request, f"install.sh over an existing install: {time.monotonic() - start:.0f} s")
    assert cli.read_text() == bundled


def test_install_refuses_a_folder_that_holds_something_else(installed, tmp_path):
    (tmp_path / "opt").mkdir()
    (tmp_path / "opt" / "bin").mkdir()
    result = install(installed.bundle_dir, tmp_path / "opt")
    assert result.returncode == 1
    assert "holds no earlier patchcore-edge install" in result.stderr


def unit_settings(unit: Path) -> dict[str, list[str]]:
    """{key: [values in order]} of a systemd unit file."""
    settings: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if match := re.fullmatch(r"(\w+)=(.*)", line):
            settings.setdefault(match[1], []).append(match[2])
    return settings


def test_the_service_unit(installed):
    unit = installed.prefix / "systemd" / "patchcore-edge.service"
    settings = unit_settings(unit)
    assert settings["ExecStart"] == [str(installed.prefix / "bin" / "patchcore-server")]
    assert settings["User"] == ["patchcore-edge"] and settings["Restart"] == ["on-failure"]
    assert settings["RestartPreventExitStatus"] == ["2"]  # a configuration error: a restart cannot fix it
    assert settings["StateDirectory"] == ["patchcore-edge"]
    assert settings["UMask"] == ["0027"]  # the store's teach images are not world-readable
    assert f"PATCHCORE_MODEL={installed.prefix / 'models' / MODEL}" in settings["Environment"]
    assert "PATCHCORE_STORE=/var/lib/patchcore-edge/store" in settings["Environment"]
    assert settings["EnvironmentFile"] == ["-/etc/patchcore-edge/patchcore-edge.env"]
    assert settings["ExecStartPost"][0].startswith(f"{installed.prefix}/bin/patchcore-client health --wait")
    assert int(settings["TimeoutStopSec"][0]) > ServerConfig.grace_seconds
    assert int(settings["LimitNOFILE"][0]) > 2 * ServerConfig.max_calls  # open calls and page requests


def test_systemd_accepts_the_unit(installed):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not on PATH (Debian: apt-get install systemd)")
    result = run(["systemd-analyze", "verify", installed.prefix / "systemd" / "patchcore-edge.service"])
    # verify exits 0 on settings it ignores, and says so on stderr
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
