"""Teach names the images that look unlike the others, as a defective part sent among good ones does."""

import numpy as np
from patchcore_client.synthetic import good_part
from patchcore_edge.v1 import inspection_pb2 as pb
from server_helpers import teach_frames, with_pit

BAD_PART = 5


def test_a_defective_part_among_good_ones_is_named(stub):
    rng = np.random.default_rng(31)
    frames = [good_part(rng) for _ in range(8)]
    frames[BAD_PART] = with_pit(frames[BAD_PART], (150, 110), 12)
    product = teach_frames(stub, "taught-with-a-bad-part", frames)
    assert list(product.teach_stats.outlier_images) == [BAD_PART]
    stored = stub.GetProduct(pb.GetProductRequest(product_id="taught-with-a-bad-part"))
    assert list(stored.teach_stats.outlier_images) == [BAD_PART]


def test_good_parts_alone_name_none(stub):
    rng = np.random.default_rng(32)
    product = teach_frames(stub, "taught-with-good-parts", [good_part(rng) for _ in range(8)])
    assert list(product.teach_stats.outlier_images) == []
    assert len(product.teach_stats.leave_one_out_scores) == 8
