"""What a fleet names and shows: store URLs without credentials, bucket keys of product ids, manifests."""

import pytest

from server.fleet.connection import url_without_credentials
from server.fleet.manifest import Manifest, key_product, product_key


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("nats://user:secret@nats.site:4222", "nats://nats.site:4222"),
        ("tls://token@nats.site:4222", "tls://nats.site:4222"),
        ("nats://127.0.0.1:4222", "nats://127.0.0.1:4222"),
    ],
)
def test_a_store_url_is_shown_without_credentials(url, shown):
    assert url_without_credentials(url) == shown


@pytest.mark.parametrize("product_id", ["flange", "part.v2", "a..b", "ends.", "x_y-z"])
def test_every_product_id_has_a_key_of_subject_tokens_that_maps_back(product_id):
    key = product_key(product_id)
    assert not key.startswith(".") and not key.endswith(".") and ".." not in key  # no empty token
    assert key_product(key) == product_id


def test_a_manifest_reads_back_and_garbage_is_no_manifest():
    manifest = Manifest(3, "flange/v00000003-abc", "ab" * 32, "f" * 64, 1.5, previous_object="flange/v2")
    assert Manifest.decode(manifest.encode()) == manifest
    for value in (b"not json", b'{"version": 3}', b"[]"):
        with pytest.raises(ValueError, match="not a product manifest"):
            Manifest.decode(value)
