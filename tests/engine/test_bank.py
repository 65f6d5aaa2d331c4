import dataclasses
import hashlib
import json
import re
import struct

import numpy as np
import pytest

from patchcore.bank import (
    FORMAT_VERSION,
    MAGIC,
    MemoryBank,
    ProductOptions,
    TeachOptions,
    load_bank,
    save_bank,
)
from patchcore.errors import InvalidInput, ProductUnusable, StorageError


def assert_same_bank(loaded: MemoryBank, original: MemoryBank) -> None:
    np.testing.assert_array_equal(loaded.vectors, original.vectors)
    assert loaded.vectors.dtype == np.float32
    without_vectors = {"vectors": None}
    assert dataclasses.replace(loaded, **without_vectors) == dataclasses.replace(original, **without_vectors)


def test_round_trip_is_exact(tmp_path, make_bank):
    bank = make_bank()
    save_bank(bank, tmp_path / "v.bank")
    assert_same_bank(load_bank(tmp_path / "v.bank"), bank)


def test_save_leaves_no_temporary_file_and_replaces_the_old_file(tmp_path, make_bank):
    save_bank(make_bank(version=1), tmp_path / "v.bank")
    save_bank(make_bank(version=2), tmp_path / "v.bank")
    assert [path.name for path in tmp_path.iterdir()] == ["v.bank"]
    assert load_bank(tmp_path / "v.bank").version == 2


@pytest.fixture
def saved(tmp_path, make_bank):
    path = tmp_path / "v.bank"
    save_bank(make_bank(), path)
    return path


@pytest.mark.parametrize("keep", [0, 10, 30, 500, -1])
def test_a_truncated_file_is_unusable(saved, keep):
    saved.write_bytes(saved.read_bytes()[:keep])
    with pytest.raises(ProductUnusable, match=re.escape(str(saved))):
        load_bank(saved)


@pytest.mark.parametrize("position", [30, 200, 2000, -5])
def test_a_flipped_bit_is_unusable(saved, position):
    content = bytearray(saved.read_bytes())
    content[position] ^= 0x10
    saved.write_bytes(bytes(content))
    with pytest.raises(ProductUnusable):
        load_bank(saved)


def test_another_format_version_is_named_in_the_error(saved):
    content = bytearray(saved.read_bytes())
    content[len(MAGIC)] = FORMAT_VERSION + 1
    saved.write_bytes(bytes(content))
    with pytest.raises(ProductUnusable, match=f"format version {FORMAT_VERSION + 1}"):
        load_bank(saved)


def test_a_foreign_file_and_a_missing_file_are_unusable(tmp_path):
    (tmp_path / "foreign.bank").write_bytes(b"x" * 100)
    with pytest.raises(ProductUnusable, match="not a patchcore-edge bank"):
        load_bank(tmp_path / "foreign.bank")
    with pytest.raises(ProductUnusable, match=r"missing\.bank"):
        load_bank(tmp_path / "missing.bank")


def test_an_unwritable_location_is_a_storage_error(tmp_path, make_bank):
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StorageError, match="cannot write"):
        save_bank(make_bank(), tmp_path / "file" / "v.bank")


@pytest.mark.parametrize(
    "change", [{"threshold": -1.0}, {"threshold": float("nan")}, {"top_k": 0}, {"min_region_area": -1}]
)
def test_product_options_refuse_bad_values(change):
    with pytest.raises(InvalidInput):
        ProductOptions(**{"threshold": 0.5, **change})


@pytest.mark.parametrize("change", [{"coreset_ratio": 0.0}, {"coreset_ratio": 1.5}, {"threshold_scale": 0.0}])
def test_teach_options_refuse_bad_values(change):
    with pytest.raises(InvalidInput):
        TeachOptions(**change)


def test_the_teach_images_checksum_round_trips(tmp_path, make_bank):
    bank = dataclasses.replace(make_bank(), teach_images_sha256="3c" * 32)
    save_bank(bank, tmp_path / "v.bank")
    assert load_bank(tmp_path / "v.bank").teach_images_sha256 == "3c" * 32


def test_a_bank_written_before_teach_images_were_kept_still_loads(tmp_path):
    """A file as the first release wrote it, built by hand from the layout: no teach_images_sha256."""
    header = {
        "product_id": "old",
        "version": 4,
        "model_fingerprint": "cd" * 32,
        "created_unix": 1_690_000_000,
        "options": {"threshold": 0.25, "top_k": 1, "min_region_area": 0},
        "teach_options": {
            "coreset_ratio": 0.1,
            "augment_rotations": False,
            "contrast_stretch": False,
            "threshold_scale": 1.1,
            "top_k": 1,
            "seed": 0,
        },
        "stats": {
            "image_count": 8,
            "patch_count": 64,
            "bank_size": 2,
            "teach_seconds": 1.0,
            "leave_one_out_scores": [0.2],
            "timings": {},
        },
        "vectors": {"count": 2, "dim": 2, "dtype": "<f4"},
    }
    encoded = json.dumps(header).encode()
    body = MAGIC + struct.pack("<IQ", 1, len(encoded)) + encoded + struct.pack("<4f", 1, 0, 0, 1)
    (tmp_path / "v.bank").write_bytes(body + hashlib.sha256(body).digest())

    bank = load_bank(tmp_path / "v.bank")
    assert (bank.product_id, bank.version, bank.teach_images_sha256) == ("old", 4, "")
    assert (bank.teach_options.line_views, bank.teach_options.tile_size, bank.teach_options.roi) == (
        0,
        0,
        None,
    )
    np.testing.assert_array_equal(bank.vectors, [[1, 0], [0, 1]])


def test_the_teach_frame_size_round_trips_and_reaches_the_view(tmp_path, make_bank):
    bank = dataclasses.replace(
        make_bank(), teach_options=TeachOptions(tile_size=256), frame_size=(1536, 2048)
    )
    save_bank(bank, tmp_path / "v.bank")
    loaded = load_bank(tmp_path / "v.bank")
    assert loaded.frame_size == (1536, 2048)
    assert loaded.view(224).frame_size == (1536, 2048)


@pytest.mark.parametrize("frame_size", [[1536], [0, 2048], ["1536", "2048"], [1536.0, 2048]])
def test_a_malformed_frame_size_is_unusable(tmp_path, make_bank, frame_size):
    save_bank(make_bank(), tmp_path / "v.bank")
    content = (tmp_path / "v.bank").read_bytes()
    _, _, header_length = struct.unpack_from("<8sIQ", content)
    header = json.loads(content[20 : 20 + header_length])
    header["frame_size"] = frame_size
    body = content[:8] + struct.pack("<I", FORMAT_VERSION) + struct.pack("<Q", len(json.dumps(header)))
    body += json.dumps(header).encode() + content[20 + header_length : -32]
    (tmp_path / "v.bank").write_bytes(body + hashlib.sha256(body).digest())
    with pytest.raises(ProductUnusable, match="frame_size"):
        load_bank(tmp_path / "v.bank")
