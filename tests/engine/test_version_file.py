"""A product version as one file: what goes in comes out, and a damaged file is refused saying why."""

import numpy as np
import pytest

from patchcore.errors import ProductUnusable
from patchcore.product_version import ProductVersion
from patchcore.teach_images import TeachImages
from patchcore.version_file import decode_version_file, encode_version_file

IMAGES = TeachImages((b"first image file", b"second image file"))


def test_a_version_with_its_images_comes_back_whole(make_bank):
    version = ProductVersion.taught(make_bank("widget", version=7), IMAGES)
    back = decode_version_file(encode_version_file(version), "widget/v7")
    assert (back.bank.product_id, back.bank.version) == ("widget", 7)
    assert back.bank.options == version.bank.options
    np.testing.assert_array_equal(back.bank.vectors, version.bank.vectors)
    assert back.images.files == IMAGES.files


def test_a_version_kept_without_images_comes_back_without_them(make_bank):
    back = decode_version_file(encode_version_file(ProductVersion(make_bank("widget", version=1))), "old")
    assert back.images is None and back.bank.teach_images_sha256 == ""


def test_a_version_must_carry_the_images_its_bank_names(make_bank):
    named = ProductVersion.taught(make_bank("widget", version=1), IMAGES).bank
    with pytest.raises(ValueError, match="images its bank names"):
        encode_version_file(ProductVersion(named))
    with pytest.raises(ValueError, match="images its bank names"):
        encode_version_file(ProductVersion(named, TeachImages((b"other",))))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda content: content[:10], "truncated"),
        (lambda content: b"NOTAFILE" + content[8:], "not a patchcore-edge version file"),
        (lambda content: content[:100] + bytes([content[100] ^ 1]) + content[101:], "checksum mismatch"),
        (lambda content: content[:-1] + bytes([content[-1] ^ 1]), "teach image 2 of 2 is damaged"),
        (lambda content: content + b"more", "truncated"),
    ],
)
def test_a_damaged_file_is_refused_naming_it_and_the_damage(make_bank, damage, reason):
    content = encode_version_file(ProductVersion.taught(make_bank("widget", version=1), IMAGES))
    with pytest.raises(ProductUnusable, match=reason) as refused:
        decode_version_file(damage(content), "widget/v1-abc")
    assert "widget/v1-abc" in str(refused.value)
