"""Teach-time line views over gRPC: unset takes the server's default, 0 turns them off, N adds N views of each
image to the patches the coreset chooses from, without growing the bank."""

import numpy as np
import pytest
from grpc import RpcError, StatusCode
from patchcore_client.synthetic import machined_surface
from server_helpers import teach_frames

PATCHES_PER_INPUT = 28 * 28  # efficientnet_lite0 at 224
DEFAULT_LINE_VIEWS = 4


@pytest.fixture(scope="module")
def surfaces() -> list[np.ndarray]:
    rng = np.random.default_rng(8)
    return [machined_surface(rng, 240, 320) for _ in range(3)]


def test_unset_takes_the_default_and_zero_turns_them_off(stub, surfaces):
    default = teach_frames(stub, "views-default", surfaces)
    off = teach_frames(stub, "views-off", surfaces, line_views=0)

    assert default.teach_options.line_views == DEFAULT_LINE_VIEWS
    assert default.teach_stats.patch_count == 3 * (1 + DEFAULT_LINE_VIEWS) * PATCHES_PER_INPUT
    assert off.teach_options.HasField("line_views") and off.teach_options.line_views == 0
    assert off.teach_stats.patch_count == 3 * PATCHES_PER_INPUT


def test_views_widen_the_choice_but_not_the_bank(stub, surfaces):
    off = teach_frames(stub, "views-none", surfaces, line_views=0)
    two = teach_frames(stub, "views-two", surfaces, line_views=2)

    assert two.teach_options.line_views == 2
    assert two.teach_stats.patch_count == 3 * 3 * PATCHES_PER_INPUT
    assert two.teach_stats.bank_size == off.teach_stats.bank_size


def test_more_than_32_views_are_invalid(stub, surfaces):
    with pytest.raises(RpcError) as failure:
        teach_frames(stub, "views-many", surfaces[:2], line_views=33)
    assert failure.value.code() == StatusCode.INVALID_ARGUMENT
    assert "line_views" in failure.value.details()
