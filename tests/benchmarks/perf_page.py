"""The operator's page open during a measurement: a headless Chromium showing the product's live page."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import psutil

from tests.chromium import headless_chromium

LIVE_SECONDS = 30


class PageViewer:
    """One headless Chromium that shows the product page while `watching`, and a blank page otherwise."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._profile = tempfile.TemporaryDirectory(prefix="bench-chromium-")
        self._driver = headless_chromium(self._profile.name)

    @contextmanager
    def watching(self) -> Iterator[None]:
        """The page is open and its event stream live (frames are recorded and pushed) inside the block."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait

        self._driver.get(self._url)
        live = expected_conditions.text_to_be_present_in_element((By.ID, "connection"), "live")
        WebDriverWait(self._driver, LIVE_SECONDS).until(live)
        try:
            yield
        finally:
            self._driver.get("about:blank")

    def cpu_seconds(self) -> float:
        """CPU time of the browser's processes so far (chromedriver's children; a process that ended is not
        counted, so read it while the page is still open)."""
        total = 0.0
        for process in psutil.Process(self._driver.service.process.pid).children(recursive=True):
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def close(self) -> None:
        self._driver.quit()
        self._profile.cleanup()
