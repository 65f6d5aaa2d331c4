"""Web page fixtures: the real server with its page on a free port (the tiny model, so teaching takes
milliseconds), one without tokens and one with an admin and an inspect token, and a headless Chromium driven
by Selenium (the system's chromium and chromedriver: nothing is downloaded)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from page_helpers import ADMIN_TOKEN, BROKEN_PRODUCT, CHROMEDRIVER, CHROMIUM, INSPECT_TOKEN
from patchcore_client.local_server import LocalServer
from tiny_model import write_tiny_model


@pytest.fixture(scope="session")
def web_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("web_model") / "tiny_test_64.onnx")


def _server(model: Path, folder: Path, env: dict[str, str] | None = None) -> LocalServer:
    store = folder / "store"
    (store / BROKEN_PRODUCT).mkdir(parents=True)
    (store / BROKEN_PRODUCT / "v00000001.bank").write_bytes(b"this is not a memory bank")
    return LocalServer(model, store, log_path=folder / "server.log", env=env, web=True)


@pytest.fixture(scope="module")
def open_server(web_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """A server without tokens: everyone may read and change."""
    with _server(web_model, tmp_path_factory.mktemp("open_server")) as server:
        yield server


@pytest.fixture(scope="module")
def token_server(web_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    env = {"PATCHCORE_ADMIN_TOKEN": ADMIN_TOKEN, "PATCHCORE_INSPECT_TOKEN": INSPECT_TOKEN}
    with _server(web_model, tmp_path_factory.mktemp("token_server"), env) as server:
        yield server


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Headless Chromium with a fresh profile."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip("needs Debian's chromium and chromium-driver (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
