"""The C++ examples against the live server: `teach` teaches, `inspect_stream` streams files, `inspect_raw`
sends raw camera buffers; each prints `<frame_id> <score> OK|NG` or `<frame_id> - ERROR <CODE>: <message>`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import pytest
from native_tools import parse_lines, run
from patchcore_client.client import InspectionClient
from patchcore_client.local_server import LocalServer, free_port

PRODUCT = "flange-cpp"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def taught(cpp_bin, live_server, part_images) -> subprocess.CompletedProcess[str]:
    """The C++ `teach` run that taught PRODUCT from the 8 teach images."""
    return run([cpp_bin / "teach", "--target", live_server.target, "--product", PRODUCT, *part_images.teach])


def test_teach_warns_of_a_file_that_looks_unlike_the_others(cpp_bin, live_server, part_images, tmp_path):
    pitted = cv2.imread(str(part_images.teach[0]))
    cv2.circle(pitted, (150, 110), 12, (0, 0, 0), -1)
    bad = tmp_path / "pitted.png"
    cv2.imwrite(str(bad), pitted)
    teach = [cpp_bin / "teach", "--target", live_server.target, "--product", "flange-cpp-bad-part"]

    result = run([*teach, *part_images.teach[1:], bad])

    assert result.returncode == 0, result.stderr
    assert f"warning: {bad} looks unlike the other good images" in result.stderr


def inspect_stream(cpp_bin: Path, server: LocalServer, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return run([cpp_bin / "inspect_stream", "--target", server.target, *args])


def test_teach_prints_the_new_product_version(taught):
    assert taught.returncode == 0, taught.stderr
    words = taught.stdout.split()
    assert words[:4] == ["product", PRODUCT, "version", "1"]
    assert words[words.index("images") + 1] == "8"
    assert float(words[words.index("threshold") + 1]) > 0


def test_stream_prints_every_frame_in_order_with_its_verdict(cpp_bin, live_server, part_images, taught):
    frames = [path for pair in zip(part_images.good, part_images.defective, strict=True) for path in pair]
    expected = ["OK", "NG"] * len(part_images.good)

    result = inspect_stream(cpp_bin, live_server, "--product", PRODUCT, "--deadline-ms", "120000", *frames)

    assert result.returncode == 0, result.stderr
    rows = parse_lines(result.stdout)
    assert [frame_id for frame_id, _, _ in rows] == list(range(len(frames)))
    assert [verdict for _, _, verdict in rows] == expected
    good_scores = [float(score) for _, score, verdict in rows if verdict == "OK"]
    defect_scores = [float(score) for _, score, verdict in rows if verdict == "NG"]
    assert max(good_scores) < min(defect_scores)


def test_a_bad_frame_gets_its_own_error_and_the_stream_goes_on(
    cpp_bin, live_server, part_images, taught, tmp_path
):
    junk = tmp_path / "truncated.png"
    junk.write_bytes(part_images.good[0].read_bytes()[:40])
    frames = [part_images.good[0], junk, part_images.defective[0], part_images.good[1]]

    result = inspect_stream(cpp_bin, live_server, "--product", PRODUCT, *frames)

    assert result.returncode == 1
    assert [(frame_id, verdict) for frame_id, _, verdict in parse_lines(result.stdout)] == [
        (0, "OK"),
        (1, "ERROR INVALID_ARGUMENT"),
        (2, "NG"),
        (3, "OK"),
    ]
    assert "4 frames, 1 failed" in result.stderr


def test_an_unknown_product_fails_every_frame_and_the_exit_code(cpp_bin, live_server, part_images):
    result = inspect_stream(cpp_bin, live_server, "--product", "never-taught", *part_images.good[:2])

    assert result.returncode == 1
    assert parse_lines(result.stdout) == [(0, "-", "ERROR NOT_FOUND"), (1, "-", "ERROR NOT_FOUND")]


def test_an_unreadable_file_stops_the_stream_with_exit_code_2(
    cpp_bin, live_server, part_images, taught, tmp_path
):
    missing = tmp_path / "no-such-frame.png"

    result = inspect_stream(cpp_bin, live_server, "--product", PRODUCT, part_images.good[0], missing)

    assert result.returncode == 2
    assert parse_lines(result.stdout) == [(0, parse_lines(result.stdout)[0][1], "OK")]
    assert str(missing) in result.stderr


def test_a_deadline_shorter_than_the_work_ends_the_call_non_zero(cpp_bin, live_server, part_images, taught):
    frames = part_images.good
    result = inspect_stream(cpp_bin, live_server, "--product", PRODUCT, "--deadline-ms", "1", *frames)

    assert result.returncode == 1
    assert "DEADLINE_EXCEEDED" in result.stderr


def test_an_unreachable_server_exits_non_zero(cpp_bin, part_images):
    closed = f"127.0.0.1:{free_port()}"
    result = run([cpp_bin / "inspect_stream", "--target", closed, "--product", PRODUCT, part_images.good[0]])

    assert result.returncode == 1
    assert "UNAVAILABLE" in result.stderr


def test_teach_sends_the_tile_size(cpp_bin, live_server, part_images):
    result = run(
        [cpp_bin / "teach", "--target", live_server.target, "--product", "tiled-cpp", "--tile-size", "96",
         *part_images.teach[:2]]
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    with InspectionClient(live_server.target) as client:
        assert client.get_product("tiled-cpp").teach_options.tile_size == 96


def test_teach_refuses_an_image_that_is_not_an_image(cpp_bin, live_server, tmp_path):
    junk = tmp_path / "notes.png"
    junk.write_text("not a picture")

    result = run([cpp_bin / "teach", "--target", live_server.target, "--product", "junk-only", junk])

    assert result.returncode == 1
    assert "INVALID_ARGUMENT" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["frame.png"], "--product is required"),
        (["--product", PRODUCT], "no input file given"),
        (["--product", PRODUCT, "--colour", "red", "frame.png"], "unknown option --colour"),
        (["--product", PRODUCT, "--deadline-ms", "soon", "frame.png"], "--deadline-ms must be"),
    ],
)
def test_a_bad_command_line_prints_the_usage_and_exits_2(cpp_bin, args, message):
    result = run([cpp_bin / "inspect_stream", *args])

    assert result.returncode == 2
    assert message in result.stderr
    assert "usage: inspect_stream" in result.stderr


def test_a_token_with_a_line_end_is_a_usage_error_not_a_crash(cpp_bin, live_server, part_images):
    """A token read from a file saved with Windows line ends; gRPC aborted the program on it."""
    args = ["--target", live_server.target, "--token", "s3cret\r", "--product", PRODUCT, part_images.good[0]]
    result = run([cpp_bin / "inspect_stream", *args])

    assert result.returncode == 2
    assert "the token holds a control character" in result.stderr
    assert "s3cret" not in result.stderr


def write_raw(png: Path, folder: Path, gray: bool) -> Path:
    """The PNG's pixels as a raw camera buffer: GRAY8 or BGR8, rows top to bottom, no padding."""
    pixels = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)
    raw = folder / (png.stem + (".gray" if gray else ".bgr"))
    pixels.tofile(raw)
    return raw


def inspect_raw(cpp_bin: Path, server: LocalServer, fmt: str, *files: Path) -> subprocess.CompletedProcess:
    size = ["--width", "256", "--height", "256", "--format", fmt]
    return run([cpp_bin / "inspect_raw", "--target", server.target, "--product", PRODUCT, *size, *files])


def test_raw_bgr_buffers_score_like_the_encoded_files(cpp_bin, live_server, part_images, taught, tmp_path):
    pngs = [part_images.good[2], part_images.defective[2]]
    raws = [write_raw(png, tmp_path, gray=False) for png in pngs]

    raw_result = inspect_raw(cpp_bin, live_server, "bgr8", *raws)
    encoded_result = inspect_stream(cpp_bin, live_server, "--product", PRODUCT, *pngs)

    assert raw_result.returncode == 0, raw_result.stderr
    raw_rows = parse_lines(raw_result.stdout)
    assert [verdict for _, _, verdict in raw_rows] == ["OK", "NG"]
    encoded_scores = [float(score) for _, score, _ in parse_lines(encoded_result.stdout)]
    assert [float(score) for _, score, _ in raw_rows] == pytest.approx(encoded_scores, abs=1e-5)


def test_raw_gray_buffers_score_like_gray_png_files(cpp_bin, live_server, part_images, taught, tmp_path):
    raw = write_raw(part_images.good[3], tmp_path, gray=True)
    gray_png = tmp_path / "gray.png"
    cv2.imwrite(str(gray_png), cv2.imread(str(part_images.good[3]), cv2.IMREAD_GRAYSCALE))

    raw_result = inspect_raw(cpp_bin, live_server, "gray8", raw)
    encoded_result = inspect_stream(cpp_bin, live_server, "--product", PRODUCT, gray_png)

    assert raw_result.returncode == 0, raw_result.stderr
    [(frame_id, raw_score, _)] = parse_lines(raw_result.stdout)
    [(_, encoded_score, _)] = parse_lines(encoded_result.stdout)
    assert frame_id == 0
    assert float(raw_score) == pytest.approx(float(encoded_score), abs=1e-5)


def test_a_raw_buffer_of_the_wrong_size_fails_its_frame(cpp_bin, live_server, part_images, taught, tmp_path):
    gray = write_raw(part_images.good[0], tmp_path, gray=True)  # 1 byte per pixel, sent as BGR8

    result = inspect_raw(cpp_bin, live_server, "bgr8", gray)

    assert result.returncode == 1
    assert parse_lines(result.stdout) == [(0, "-", "ERROR INVALID_ARGUMENT")]


@pytest.mark.parametrize("tile_size", ["4294967296", "4294967808"])
def test_a_tile_size_beyond_uint32_is_a_usage_error(cpp_bin, part_images, tile_size):
    """TeachOptions.tile_size is a uint32: 2**32 + 512 was sent as 512 and taught with tiles of 512."""
    closed = f"127.0.0.1:{free_port()}"
    args = ["--target", closed, "--product", "p", "--tile-size", tile_size, part_images.teach[0]]

    result = run([cpp_bin / "teach", *args])

    assert result.returncode == 2
    assert f"--tile-size must be at most 4294967295, got {tile_size}" in result.stderr
    assert "usage: teach" in result.stderr


@pytest.mark.parametrize("example", ["inspect_stream", "teach"])
def test_a_deadline_beyond_the_clock_is_a_usage_error(cpp_bin, part_images, example):
    """now + 2**63-1 ms overflowed the clock into a deadline already passed: DEADLINE_EXCEEDED at once."""
    closed = f"127.0.0.1:{free_port()}"
    args = ["--target", closed, "--product", "p", "--deadline-ms", str(2**63 - 1), part_images.teach[0]]

    result = run([cpp_bin / example, *args])

    assert result.returncode == 2
    assert "--deadline-ms must be at most" in result.stderr
