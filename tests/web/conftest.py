"""Web page fixtures: the real server with its page on a free port (the tiny model, so teaching takes
milliseconds), one without tokens and one with an admin and an inspect token, and a headless Chromium driven
by Selenium (the system's chromium and chromedriver: nothing is downloaded)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from chromium import chromium_installed, headless_chromium
from page_helpers import ADMIN_TOKEN, BROKEN_PRODUCT, INSPECT_TOKEN
from patchcore_client.local_server import LocalServer
from tiny_model import write_tiny_model


@pytest.fixture(scope="session")
def web_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("web_model") / "tiny_test_64.onnx")


def _server(
    model: Path, folder: Path, env: dict[str, str] | None = None, extra_args: tuple[str, ...] = ()
) -> LocalServer:
    store = folder / "store"
    (store / BROKEN_PRODUCT).mkdir(parents=True)
    (store / BROKEN_PRODUCT / "v00000001.bank").write_bytes(b"this is not a memory bank")
    return LocalServer(model, store, extra_args, folder / "server.log", env=env, web=True)


@pytest.fixture(scope="module")
def open_server(web_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """A server without tokens: everyone may read and change."""
    with _server(web_model, tmp_path_factory.mktemp("open_server")) as server:
        yield server


@pytest.fixture(scope="module")
def network_server(web_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """A server without tokens listening on every interface, as for a page opened from other PCs, with one
    name given for its page (reached here at 127.0.0.1 all the same)."""
    flags = ("--host", "0.0.0.0", "--page-allowed-hosts", "line-pc-3.plant")
    with _server(web_model, tmp_path_factory.mktemp("network_server"), extra_args=flags) as server:
        yield server


@pytest.fixture(scope="module")
def token_server(web_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    env = {"PATCHCORE_ADMIN_TOKEN": ADMIN_TOKEN, "PATCHCORE_INSPECT_TOKEN": INSPECT_TOKEN}
    with _server(web_model, tmp_path_factory.mktemp("token_server"), env) as server:
        yield server


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Headless Chromium with a fresh profile."""
    if not chromium_installed():
        pytest.skip("needs Debian's chromium and chromium-driver (.ci/run installs them)")
    driver = headless_chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield driver
    finally:
        driver.quit()
