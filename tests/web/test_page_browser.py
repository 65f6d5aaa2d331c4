"""The operator's page in a real headless Chromium: what an operator sees and does, on the real server."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import pytest
from page_helpers import ADMIN_TOKEN, BROKEN_PRODUCT, INSPECT_TOKEN, good_parts, new_product
from patchcore_client import InspectionClient
from patchcore_client.local_server import LocalServer
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as shown
from selenium.webdriver.support.ui import WebDriverWait

WAIT_SECONDS = 30
BURSTS, BURST_FRAMES = 3, 4  # a stream of 12 frames, sent in bursts the page must show one after the other


def wait(driver, condition, message: str = ""):
    return WebDriverWait(driver, WAIT_SECONDS).until(condition, message)


def row_cells(driver, product_id: str) -> list[str]:
    """The cell texts of a product's row in the list, read in one script call: the page redraws the list
    when products change, so an element found a moment earlier can be gone."""
    script = (
        "const row = document.querySelector(`tr[data-id='${arguments[0]}']`);"
        "return row ? Array.from(row.cells, cell => cell.innerText.trim()) : null;"
    )
    return wait(driver, lambda d: d.execute_script(script, product_id), f"the row of {product_id}")


def open_from_list(driver, product_id: str) -> None:
    """Clicks the product's link in the list, finding it again if the list was redrawn meanwhile."""

    def click(d) -> bool:
        d.find_element(By.CSS_SELECTOR, f'tr[data-id="{product_id}"] a').click()
        return True

    WebDriverWait(driver, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException,)).until(click)


def product_url(server, product_id: str) -> str:
    return f"{server.page_url}products/{product_id}"


def shown_frames(driver) -> dict[int, object]:
    """The page's .frame elements by frame number (seq)."""
    frames = driver.find_elements(By.CSS_SELECTOR, "#frames .frame")
    return {int(frame.get_attribute("data-seq")): frame for frame in frames}


FIRST_FRAME_ID = 500  # the client's frame ids, other numbers than the page's own


def stream_while_watched(driver, server, product_id: str, token: str | None = None) -> list:
    """Streams BURSTS x BURST_FRAMES frames in one stream, each burst once the page shows the one before;
    returns the stream's results (result i is the page's frame i + 1: nothing else inspects the product;
    its frame_id is FIRST_FRAME_ID + i)."""
    images = good_parts(BURSTS * BURST_FRAMES, seed=7)
    bursts = [threading.Event() for _ in range(BURSTS)]
    results: list = []

    def frames():
        for burst, go in enumerate(bursts):
            go.wait(WAIT_SECONDS)
            for index in range(burst * BURST_FRAMES, (burst + 1) * BURST_FRAMES):
                yield FIRST_FRAME_ID + index, images[index]

    def run() -> None:
        with InspectionClient(server.target, token=token) as client:
            results.extend(client.inspect_stream(product_id, frames()))

    streaming = threading.Thread(target=run)
    streaming.start()
    try:
        for burst, go in enumerate(bursts):
            go.set()
            expected = (burst + 1) * BURST_FRAMES
            wait(driver, lambda d, n=expected: len(shown_frames(d)) == n, f"the page shows {expected} frames")
    finally:
        for go in bursts:
            go.set()
        streaming.join()
    return results


def open_product_page(driver, server, product_id: str) -> None:
    driver.get(product_url(server, product_id))
    wait(driver, shown.text_to_be_present_in_element((By.ID, "connection"), "live"), "the page goes live")


def teach_on_list_page(browser, server, product_id: str, parts: list, folder: Path) -> None:
    """Writes parts as part_<index>.png and drops them on the product list page under product_id."""
    files = []
    for index, rgb in enumerate(parts):
        path = folder / f"part_{index}.png"
        cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        files.append(str(path))
    browser.get(server.page_url)
    wait(browser, shown.text_to_be_present_in_element((By.ID, "connection"), "live"))
    browser.find_element(By.ID, "new-product-id").send_keys(product_id)
    browser.find_element(By.ID, "teach-files").send_keys("\n".join(files))


def test_product_list_shows_products_and_the_server(browser, open_server):
    product_id = new_product(open_server)
    with InspectionClient(open_server.target) as client:
        product = client.get_product(product_id)
        fingerprint = client.server_info().model.fingerprint
    browser.get(open_server.page_url)
    assert row_cells(browser, product_id) == [
        product_id,
        str(product.version),
        f"{product.threshold:.4f}",
        str(product.teach_stats.bank_size),
        "8",
        "yes",
        "ready",
    ]
    broken = row_cells(browser, BROKEN_PRODUCT)
    assert broken[5] == "no" and "v00000001.bank" in broken[6]
    assert browser.find_element(By.ID, "server-model").text == "tiny_test 64 px"
    assert browser.find_element(By.ID, "server-fingerprint").text == fingerprint[:12]
    open_from_list(browser, product_id)
    wait(browser, shown.text_to_be_present_in_element((By.ID, "product-id"), product_id))


def test_product_page_fills_with_frames_and_scores_while_a_stream_runs(browser, open_server):
    product_id = new_product(open_server)
    open_product_page(browser, open_server, product_id)
    results = stream_while_watched(browser, open_server, product_id)
    frames = shown_frames(browser)
    assert sorted(frames) == list(range(1, len(results) + 1))
    for seq, frame in frames.items():
        result = results[seq - 1]
        assert frame.find_element(By.CSS_SELECTOR, ".score").text == f"{result.score:.4f}"
        assert frame.find_element(By.CSS_SELECTOR, ".verdict").text == result.verdict
        assert frame.get_attribute("data-frame-id") == str(result.frame_id)
        image = frame.find_element(By.TAG_NAME, "img")
        assert browser.execute_script("return arguments[0].naturalWidth", image) > 0
    histogram = browser.find_element(By.ID, "histogram")
    wait(browser, lambda d: histogram.get_attribute("data-count") == str(len(results)), "every score counted")
    assert histogram.find_elements(By.TAG_NAME, "canvas")
    assert float(histogram.get_attribute("data-threshold")) == pytest.approx(results[0].threshold)


def test_frames_that_fail_are_counted_with_the_last_reason(browser, open_server):
    product_id = new_product(open_server)
    open_product_page(browser, open_server, product_id)
    assert not browser.find_element(By.ID, "failures").is_displayed()
    with InspectionClient(open_server.target) as client:
        results = list(client.inspect_stream(product_id, [(1, b"not an image"), (2, b"nor this")]))
    assert all(result.error for result in results)
    failures = (By.ID, "failures")
    wait(browser, shown.text_to_be_present_in_element(failures, "2 frame(s) failed since the server started"))
    assert (
        "INVALID_ARGUMENT: the image is not a JPEG, PNG, BMP or TIFF file"
        in browser.find_element(*failures).text
    )


def test_a_click_opens_the_frame_large(browser, open_server):
    product_id = new_product(open_server)
    open_product_page(browser, open_server, product_id)
    stream_while_watched(browser, open_server, product_id)
    shown_frames(browser)[1].find_element(By.TAG_NAME, "img").click()
    large = wait(browser, shown.visibility_of_element_located((By.ID, "large-image")))
    wait(browser, lambda d: d.execute_script("return arguments[0].naturalWidth", large) == 256, "loaded")
    assert f"frame_id {FIRST_FRAME_ID} at " in browser.find_element(By.ID, "large-caption").text


def test_a_tried_threshold_marks_each_frame_and_applying_it_makes_a_new_version(browser, open_server):
    product_id = new_product(open_server)
    open_product_page(browser, open_server, product_id)
    results = stream_while_watched(browser, open_server, product_id)
    scores = sorted(result.score for result in results)
    trial = round((scores[5] + scores[6]) / 2, 6)  # 6 frames good, 6 anomalous at this value
    field = browser.find_element(By.ID, "threshold")
    field.clear()
    field.send_keys(str(trial))

    def marked_as_at_trial(driver) -> bool:
        return all(
            frame.get_attribute("data-trial") == ("anomalous" if results[seq - 1].score > trial else "good")
            for seq, frame in shown_frames(driver).items()
        )

    wait(browser, marked_as_at_trial, "every frame marked with its verdict at the tried threshold")
    assert browser.find_element(By.ID, "trial-summary").text == f"at {trial}: 6 of 12 recent frames flagged"
    version = int(browser.find_element(By.ID, "version").text)
    browser.find_element(By.ID, "apply-threshold").click()
    wait(browser, shown.text_to_be_present_in_element((By.ID, "version"), str(version + 1)), "new version")
    with InspectionClient(open_server.target) as client:
        product = client.get_product(product_id)
    assert product.version == version + 1
    assert product.threshold == pytest.approx(trial)


def test_no_threshold_is_tried_until_the_operator_types_one(browser, open_server):
    """The field shows the product's threshold rounded (float32 noise away): that is no value being tried,
    on opening the page nor after Apply."""
    product_id = new_product(open_server)
    open_product_page(browser, open_server, product_id)
    stream_while_watched(browser, open_server, product_id)

    def nothing_tried(driver) -> bool:
        return driver.find_element(By.ID, "trial-summary").text == "" and not any(
            frame.get_attribute("data-trial") for frame in shown_frames(driver).values()
        )

    wait(browser, nothing_tried, "no frame marked with a tried threshold")
    field = browser.find_element(By.ID, "threshold")
    field.clear()
    field.send_keys("0.123457")  # float32 makes it 0.12345699965953827
    browser.find_element(By.ID, "apply-threshold").click()
    wait(browser, shown.text_to_be_present_in_element((By.ID, "message"), "threshold 0.123457 applied"))
    wait(browser, nothing_tried, "no frame marked with a tried threshold after Apply")


def test_dropping_good_images_teaches_a_new_product(browser, open_server, tmp_path: Path):
    teach_on_list_page(browser, open_server, "taught-on-page", good_parts(8, seed=3), tmp_path)
    status = (By.ID, "teach-status")
    wait(browser, shown.text_to_be_present_in_element(status, "taught taught-on-page: version"))
    wait(browser, shown.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-id="taught-on-page"]')))
    with InspectionClient(open_server.target) as client:
        assert client.get_product("taught-on-page").teach_stats.image_count == 8


def test_a_new_product_with_the_id_of_an_existing_one_is_not_taught_over_it(
    browser, open_server, tmp_path: Path
):
    product_id = new_product(open_server)
    path = tmp_path / "part.png"
    cv2.imwrite(str(path), cv2.cvtColor(good_parts(1, seed=5)[0], cv2.COLOR_RGB2BGR))
    browser.get(open_server.page_url)
    wait(browser, shown.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-id="{product_id}"]')))
    browser.find_element(By.ID, "new-product-id").send_keys(product_id)
    browser.find_element(By.ID, "teach-files").send_keys(str(path))
    refusal = f"{product_id} already exists (version 1, 8 images)"
    wait(browser, shown.text_to_be_present_in_element((By.ID, "teach-status"), refusal))
    with InspectionClient(open_server.target) as client:
        assert client.get_product(product_id).version == 1


def test_a_bad_part_dropped_among_good_ones_is_named(browser, open_server, tmp_path: Path):
    parts = good_parts(8, seed=4)
    cv2.rectangle(parts[2], (80, 80), (150, 150), (0, 0, 0), -1)
    teach_on_list_page(browser, open_server, "taught-with-a-bad-part", parts, tmp_path)
    named = "part_2.png looks unlike the other good images"
    wait(browser, shown.text_to_be_present_in_element((By.ID, "teach-status"), named))
    open_product_page(browser, open_server, "taught-with-a-bad-part")
    wait(browser, shown.text_to_be_present_in_element((By.ID, "outlier-images"), "2"))


def test_this_is_a_good_part_adds_the_flagged_frame_to_the_product(browser, open_server):
    product_id = new_product(open_server)
    with InspectionClient(open_server.target) as client:
        client.update_product(product_id, threshold=0.0)  # every frame is flagged
        before = client.get_product(product_id)
    open_product_page(browser, open_server, product_id)
    stream_while_watched(browser, open_server, product_id)
    shown_frames(browser)[1].find_element(By.CSS_SELECTOR, ".good-part").click()
    added = (
        f"frame_id {FIRST_FRAME_ID} added as a good part: version {before.version + 1}, threshold 0.0000 -> "
    )
    wait(browser, shown.text_to_be_present_in_element((By.ID, "message"), added))
    with InspectionClient(open_server.target) as client:
        after = client.get_product(product_id)
    assert after.version == before.version + 1
    assert after.teach_stats.image_count == before.teach_stats.image_count + 1
    assert f"-> {after.threshold:.4f}" in browser.find_element(By.ID, "message").text


def _enter_token(driver, token: str) -> None:
    form = wait(driver, shown.visibility_of_element_located((By.ID, "token-form")), "asked for a token")
    form.find_element(By.ID, "token").send_keys(token)
    form.find_element(By.ID, "token-submit").click()


def _post_threshold_status(driver, product_id: str) -> int:
    """The HTTP status of a threshold change sent from the page with the tab's token."""
    return driver.execute_async_script(
        """const done = arguments[arguments.length - 1];
        fetch(`/api/products/${arguments[0]}/threshold`, {method: "POST", body: '{"threshold": 0.5}',
              headers: {"Content-Type": "application/json", ...pageHeaders()}})
          .then((response) => done(response.status));""",
        product_id,
    )


def test_with_tokens_the_page_asks_once_and_keeps_to_the_roles(browser, token_server):
    product_id = new_product(token_server, token=ADMIN_TOKEN)
    browser.get(token_server.page_url)
    _enter_token(browser, "not-a-token")
    _enter_token(browser, INSPECT_TOKEN)  # asked again: the first one was refused
    wait(browser, shown.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-id="{product_id}"]')))
    assert not browser.find_element(By.ID, "teach-drop").is_displayed()  # inspect may not teach

    open_product_page(browser, token_server, product_id)  # no second prompt in this tab
    assert not browser.find_element(By.ID, "token-form").is_displayed()
    stream_while_watched(browser, token_server, product_id, token=INSPECT_TOKEN)
    assert not browser.find_element(By.ID, "apply-threshold").is_displayed()
    assert _post_threshold_status(browser, product_id) == 403

    browser.execute_script("sessionStorage.clear()")
    browser.refresh()
    _enter_token(browser, ADMIN_TOKEN)
    wait(browser, shown.visibility_of_element_located((By.ID, "apply-threshold")))
    version = int(wait(browser, lambda d: d.find_element(By.ID, "version").text))
    field = browser.find_element(By.ID, "threshold")
    field.clear()
    field.send_keys("0.25")
    browser.find_element(By.ID, "apply-threshold").click()
    wait(browser, shown.text_to_be_present_in_element((By.ID, "version"), str(version + 1)), "new version")
    with InspectionClient(token_server.target, token=INSPECT_TOKEN) as client:
        assert client.get_product(product_id).threshold == pytest.approx(0.25)
    assert ADMIN_TOKEN not in browser.current_url and INSPECT_TOKEN not in browser.current_url
    log = token_server.log()
    assert ADMIN_TOKEN not in log and INSPECT_TOKEN not in log


def test_a_server_that_stopped_is_said_so_when_the_operator_acts(browser, web_model, tmp_path: Path):
    """The page stays on show while the server is down (reconnecting): a click on a frame or its good-part
    button says why nothing happens, not the browser's "Failed to fetch" or nothing at all."""
    with LocalServer(web_model, tmp_path / "store", log_path=tmp_path / "server.log", web=True) as server:
        product_id = new_product(server)
        with InspectionClient(server.target) as client:
            client.update_product(product_id, threshold=0.0)  # every frame is flagged
        open_product_page(browser, server, product_id)
        stream_while_watched(browser, server, product_id)
    wait(browser, shown.text_to_be_present_in_element((By.ID, "connection"), "reconnecting"))
    unreachable = "the server cannot be reached"
    frame = shown_frames(browser)[1]
    frame.find_element(By.TAG_NAME, "img").click()
    message = (By.ID, "message")
    wait(
        browser,
        shown.text_to_be_present_in_element(message, f"frame_id {FIRST_FRAME_ID} not opened: {unreachable}"),
    )
    frame.find_element(By.CSS_SELECTOR, ".good-part").click()
    wait(browser, shown.text_to_be_present_in_element(message, f"not added: {unreachable}"))


def _deleted_while_watched(browser, server) -> str:
    """A product whose page is open with frames on it, deleted; returns its id once the page says so."""
    product_id = new_product(server)
    open_product_page(browser, server, product_id)
    stream_while_watched(browser, server, product_id)
    with InspectionClient(server.target) as client:
        client.delete_product(product_id)
    gone = f"no product '{product_id}' on this server"
    wait(browser, shown.text_to_be_present_in_element((By.ID, "message"), gone))
    return product_id


def test_a_product_deleted_while_its_page_is_open_is_no_longer_shown(browser, open_server):
    product_id = _deleted_while_watched(browser, open_server)
    assert not shown_frames(browser)
    assert browser.find_element(By.ID, "histogram").get_attribute("data-count") == "0"
    assert f"no product '{product_id}' on this server" in browser.find_element(By.ID, "status").text
    summary = [browser.find_element(By.ID, name).text for name in ("version", "current-threshold", "images")]
    assert summary == ["", "", ""]


def test_a_product_taught_again_under_a_deleted_ones_id_starts_without_its_scores(browser, open_server):
    product_id = _deleted_while_watched(browser, open_server)
    with InspectionClient(open_server.target) as client:
        # What the page asks every 2 s while the product is gone, asked now rather than waited for.
        browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch(`/api/products/${arguments[0]}/events`).then((response) => done(response.status));",
            product_id,
        )
        taught = client.teach(product_id, good_parts(8, seed=2))
    wait(
        browser, shown.text_to_be_present_in_element((By.ID, "version"), str(taught.version)), "taught again"
    )
    assert browser.find_element(By.ID, "histogram").get_attribute("data-count") == "0"


def test_the_pages_load_without_errors_in_the_console(browser, open_server):
    product_id = new_product(open_server)
    browser.get_log("browser")  # what earlier tests left
    for url in (open_server.page_url, product_url(open_server, product_id)):
        browser.get(url)
        wait(
            browser, shown.text_to_be_present_in_element((By.ID, "connection"), "live"), "the page goes live"
        )
    assert [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"] == []
