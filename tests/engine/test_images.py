import io
import struct
import zlib

import cv2
import numpy as np
import pytest

from patchcore.errors import InvalidInput, TooLarge
from patchcore.images import (
    PixelFormat,
    decode_encoded,
    decode_raw,
    decode_scaled,
    list_image_files,
    read_image_bytes,
)


@pytest.fixture
def rgb() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)


def encode(rgb: np.ndarray, suffix: str) -> bytes:
    ok, encoded = cv2.imencode(suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return encoded.tobytes()


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tiff"])
def test_lossless_formats_decode_to_the_same_rgb_pixels(rgb, suffix):
    np.testing.assert_array_equal(decode_encoded(encode(rgb, suffix)), rgb)


def test_jpeg_decodes_to_rgb_of_the_right_size_and_colour():
    red = np.zeros((16, 24, 3), np.uint8)
    red[..., 0] = 200
    decoded = decode_encoded(encode(red, ".jpg"))
    assert decoded.shape == (16, 24, 3)
    assert decoded[..., 0].mean() > 150 > decoded[..., 2].mean()


def test_raw_formats_give_the_same_rgb(rgb):
    height, width = rgb.shape[:2]
    np.testing.assert_array_equal(decode_raw(rgb.tobytes(), width, height, PixelFormat.RGB8), rgb)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    np.testing.assert_array_equal(decode_raw(bgr.tobytes(), width, height, PixelFormat.BGR8), rgb)
    gray = rgb[..., 0].copy()
    decoded = decode_raw(gray.tobytes(), width, height, PixelFormat.GRAY8)
    np.testing.assert_array_equal(decoded, np.repeat(gray[..., None], 3, axis=2))


@pytest.mark.parametrize("fmt", list(PixelFormat))
def test_raw_length_mismatch_is_invalid_input(fmt):
    with pytest.raises(InvalidInput, match="needs exactly"):
        decode_raw(b"\0" * 11, 2, 2, fmt)


def test_raw_zero_size_is_invalid_input():
    with pytest.raises(InvalidInput):
        decode_raw(b"", 0, 5, PixelFormat.GRAY8)


def test_raw_over_the_pixel_cap_is_too_large():
    with pytest.raises(TooLarge):
        decode_raw(b"\0" * 100, 10, 10, PixelFormat.GRAY8, max_pixels=99)


def test_encoded_over_the_pixel_cap_is_too_large(rgb):
    with pytest.raises(TooLarge):
        decode_encoded(encode(rgb, ".png"), max_pixels=30 * 40 - 1)


def _png_claiming(width: int, height: int) -> bytes:
    data = bytearray(encode(np.zeros((2, 2, 3), np.uint8), ".png"))
    struct.pack_into(">II", data, 16, width, height)
    return bytes(data)


def _jpeg_claiming(width: int, height: int) -> bytes:
    data = bytearray(encode(np.zeros((8, 8, 3), np.uint8), ".jpg"))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def _bmp_claiming(width: int, height: int) -> bytes:
    data = bytearray(encode(np.zeros((2, 2, 3), np.uint8), ".bmp"))
    struct.pack_into("<ii", data, 18, width, -height)
    return bytes(data)


def _tiff_claiming(width: int, height: int) -> bytes:
    # little-endian classic TIFF, one IFD with ImageWidth and ImageLength as LONG
    entries = struct.pack("<HHII", 256, 4, 1, width) + struct.pack("<HHII", 257, 4, 1, height)
    return b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 2) + entries + struct.pack("<I", 0)


@pytest.mark.parametrize("claiming", [_png_claiming, _jpeg_claiming, _bmp_claiming, _tiff_claiming])
def test_a_small_file_declaring_a_huge_image_is_refused_before_decoding(claiming, monkeypatch):
    def no_decoding(*args):
        raise AssertionError("the image must not be decoded")

    monkeypatch.setattr(cv2, "imdecode", no_decoding)
    data = claiming(65_000, 65_000)
    assert len(data) < 2000
    with pytest.raises(TooLarge, match="4,225,000,000 pixels"):
        decode_encoded(data)


def test_a_tiff_declaring_its_size_twice_is_refused_before_decoding(monkeypatch):
    """libtiff decodes with the first width and height: a huge size, then a small one, would pass a check
    of the last ones and decode the huge image."""
    monkeypatch.setattr(cv2, "imdecode", lambda *args: pytest.fail("the image must not be decoded"))
    huge_then_small = [(256, 25_000), (257, 25_000), (256, 100), (257, 100)]
    entries = b"".join(struct.pack("<HHII", tag, 4, 1, value) for tag, value in huge_then_small)
    data = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 4) + entries + struct.pack("<I", 0)
    with pytest.raises(InvalidInput, match="declares its image size twice"):
        decode_encoded(data)


@pytest.mark.parametrize("data", [b"", b"hello world", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0\x00"])
def test_empty_foreign_or_cut_short_bytes_are_invalid_input(data):
    with pytest.raises(InvalidInput):
        decode_encoded(data)


def test_damaged_body_with_a_valid_header_is_invalid_input(rgb):
    data = encode(rgb, ".png")
    with pytest.raises(InvalidInput, match="could not be decoded"):
        decode_encoded(data[:40])


def test_list_image_files_is_sorted_and_filtered(tmp_path, rgb):
    for name in ["b.PNG", "a.jpg", "c.tiff", "notes.txt", "d.bmp"]:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub.png").mkdir()
    assert [path.name for path in list_image_files(tmp_path)] == ["a.jpg", "b.PNG", "c.tiff", "d.bmp"]


def test_read_image_bytes_names_a_file_it_cannot_read(tmp_path):
    (tmp_path / "good.png").write_bytes(b"bytes")
    assert read_image_bytes(tmp_path / "good.png") == b"bytes"
    with pytest.raises(InvalidInput, match=r"cannot read image file .*missing\.png"):
        read_image_bytes(tmp_path / "missing.png")


def test_a_decoder_exception_is_invalid_input(rgb, monkeypatch):
    def throwing_decoder(*args):
        raise cv2.error("decoder failed")

    monkeypatch.setattr(cv2, "imdecode", throwing_decoder)
    with pytest.raises(InvalidInput, match="could not be decoded"):
        decode_encoded(encode(rgb, ".png"))


def _jpeg_frame(height: int, width: int) -> np.ndarray:
    """A smooth colour gradient: JPEG keeps it well, so scaled and full decodes can be compared."""
    rows, cols = np.mgrid[0:height, 0:width]
    return np.stack([rows * 255 // height, cols * 255 // width, (rows + cols) % 256], axis=-1).astype(
        np.uint8
    )


def shrink_by(factor: int):
    """A shrink rule that asks for `factor` whatever the frame's size."""
    return lambda width, height: factor


@pytest.mark.parametrize(("factor", "decoded_shape"), [(1, (480, 640)), (2, (240, 320)), (4, (120, 160))])
def test_a_jpeg_decodes_shrunk_by_the_factor_its_rule_asks_for(factor, decoded_shape):
    frame = _jpeg_frame(480, 640)
    scaled = decode_scaled(encode(frame, ".jpg"), shrink_by(factor))
    assert scaled.rgb.shape == (*decoded_shape, 3)
    assert scaled.size == (480, 640) and scaled.shrink == factor
    full_then_shrunk = cv2.resize(frame, decoded_shape[::-1], interpolation=cv2.INTER_AREA)
    assert np.abs(scaled.rgb.astype(int) - full_then_shrunk).mean() < 3  # the same picture, and RGB


def test_the_shrink_rule_is_asked_with_the_declared_width_and_height():
    asked = []
    decode_scaled(
        encode(_jpeg_frame(48, 64), ".jpg"), lambda width, height: asked.append((width, height)) or 1
    )
    assert asked == [(64, 48)]


def test_other_formats_decode_at_full_size_whatever_the_rule(rgb):
    scaled = decode_scaled(encode(np.tile(rgb, (8, 8, 1)), ".png"), shrink_by(2))
    assert scaled.rgb.shape == (240, 320, 3)
    assert scaled.size == (240, 320) and scaled.shrink == 1


def _with_exif_orientation(rgb: np.ndarray, orientation: int) -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = orientation  # 6: rotate 90 degrees clockwise to display
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def test_a_shrunk_jpeg_reports_its_size_after_exif_rotation():
    data = _with_exif_orientation(_jpeg_frame(480, 640), 6)
    scaled = decode_scaled(data, shrink_by(2))
    assert scaled.rgb.shape == (320, 240, 3)
    assert scaled.size == (640, 480)
    assert decode_encoded(data).shape == (640, 480, 3)


@pytest.mark.parametrize(("orientation", "shown"), [(1, (1799, 1800)), (6, (1800, 1799)), (8, (1800, 1799))])
def test_a_nearly_square_jpeg_shrunk_by_8_reports_its_size_as_shown(orientation, shown):
    """Stored 1800x1799: shrunk by 8 both ways of showing it are 225x225, so the shape cannot tell them
    apart; the EXIF tag does."""
    data = _with_exif_orientation(_jpeg_frame(1799, 1800), orientation)
    assert decode_scaled(data, shrink_by(8)).size == shown
    assert decode_encoded(data).shape[:2] == shown


def _with_sbit(png: bytes, bits: bytes) -> bytes:
    """png with an sBIT chunk declaring these significant bits per channel, right after its IHDR."""
    chunk = b"sBIT" + bits
    sbit = struct.pack(">I", len(bits)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    ihdr_end = 8 + 25  # signature, then IHDR: length, type, 13 bytes, CRC
    return png[:ihdr_end] + sbit + png[ihdr_end:]


def test_12_bit_samples_in_a_16_bit_png_use_its_8_top_bits_unless_sbit_declares_12():
    levels = np.array([[0, 16, 2048, 4095]], np.uint16)  # a Mono12 camera's values, not shifted up
    png = cv2.imencode(".png", levels)[1].tobytes()
    assert decode_encoded(png)[0, :, 0].tolist() == [0, 0, 8, 15]  # >> 8: 16 grey levels are left
    declared = decode_encoded(_with_sbit(png, bytes([12])))
    assert declared.shape == (1, 4, 3)
    assert declared[0, :, 0].tolist() == [0, 1, 128, 255]  # 16 * 255 / 4095 = 1.0, 2048 * 255 / 4095 = 127.5


def test_a_colour_16_bit_png_with_sbit_keeps_its_colours():
    bgr = np.zeros((2, 2, 3), np.uint16)
    bgr[..., 2] = 4095  # red, full scale at 12 bits
    png = cv2.imencode(".png", bgr)[1].tobytes()
    rgb = decode_encoded(_with_sbit(png, bytes([12, 12, 12])))
    assert rgb[0, 0].tolist() == [255, 0, 0]
