import numpy as np
import pytest

import patchcore.coreset
from patchcore.coreset import bank_size, coreset_size, greedy_coreset


def unit_rows(count: int, dim: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def coverage_radius(features: np.ndarray, chosen: np.ndarray) -> float:
    """The largest distance from any row to its nearest chosen row (what k-center minimises)."""
    centres = features[chosen]
    squared = (features**2).sum(1)[:, None] - 2 * features @ centres.T + (centres**2).sum(1)[None]
    return float(np.sqrt(np.maximum(squared.min(axis=1), 0)).max())


@pytest.fixture(scope="module")
def clustered() -> np.ndarray:
    """[2000, 64]: uneven clusters, the situation where random sampling misses the rare patches."""
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((20, 64)) * 3
    sizes = rng.integers(5, 200, 20)
    rows = np.concatenate(
        [centre + rng.standard_normal((size, 64)) * 0.3 for centre, size in zip(centres, sizes, strict=True)]
    )
    return rows.astype(np.float32)


def test_coverage_beats_a_random_subset_of_the_same_size(clustered):
    count = 100
    greedy = coverage_radius(clustered, greedy_coreset(clustered, count, projection_dim=32))
    rng = np.random.default_rng(0)
    random_radii = [
        coverage_radius(clustered, rng.choice(len(clustered), count, replace=False)) for _ in range(5)
    ]
    assert greedy < min(random_radii)


def test_same_seed_same_indices_other_seed_other_start():
    features = unit_rows(500, 300, seed=2)
    first = greedy_coreset(features, 50, seed=3)
    np.testing.assert_array_equal(first, greedy_coreset(features, 50, seed=3))
    assert greedy_coreset(features, 50, seed=4)[0] != first[0]


def test_indices_are_distinct_and_in_range():
    features = unit_rows(300, 200, seed=5)
    chosen = greedy_coreset(features, 120)
    assert len(set(chosen.tolist())) == 120
    assert chosen.min() >= 0 and chosen.max() < 300


def test_without_projection_each_pick_is_the_farthest_row():
    features = unit_rows(200, 16, seed=6)
    chosen = greedy_coreset(features, 10, projection_dim=None)
    for step in range(1, 10):
        picked = features[chosen[:step]]
        nearest = np.linalg.norm(features[:, None] - picked[None], axis=2).min(axis=1)
        assert nearest[chosen[step]] == pytest.approx(nearest.max(), rel=1e-4)


def test_asking_for_all_rows_returns_all_rows():
    features = unit_rows(30, 8, seed=7)
    np.testing.assert_array_equal(greedy_coreset(features, 30), np.arange(30))


@pytest.mark.parametrize(("rows", "ratio", "size"), [(6272, 0.1, 628), (10, 0.01, 1), (10, 1.0, 10)])
def test_coreset_size(rows, ratio, size):
    assert coreset_size(rows, ratio) == size


@pytest.mark.parametrize(
    ("scored_rows", "images", "size"),
    [
        (8 * 784, 8, 628),  # up to 16 images: a tenth of every patch
        (16 * 784, 16, 1255),
        (256 * 784, 256, 1255),  # 256 images: the bank of 16
        (64 * 12 * 784, 64, 15053),  # 12 tiles per image: 16 images' tiles
    ],
)
def test_the_bank_stops_growing_at_16_images_worth(scored_rows, images, size):
    assert bank_size(scored_rows, images, 0.1) == size


def test_chunked_search_covers_like_the_single_search(clustered):
    count = 50
    single = coverage_radius(clustered, greedy_coreset(clustered, count, projection_dim=32))
    chunked = greedy_coreset(clustered, count, projection_dim=32, chunk_rows=250)
    assert len(set(chunked.tolist())) == count
    assert coverage_radius(clustered, chunked) <= 1.25 * single


def test_chunked_search_keeps_a_patch_unlike_all_others(clustered):
    # one row far from every cluster: a random quarter of the rows would miss it 3 times in 4
    outlier = np.full((1, clustered.shape[1]), 40.0, dtype=np.float32)
    features = np.concatenate([clustered[:1000], outlier, clustered[1000:]])
    for seed in range(4):
        assert 1000 in greedy_coreset(features, 40, projection_dim=32, seed=seed, chunk_rows=500)


def test_no_search_runs_over_more_than_chunk_rows(clustered, monkeypatch):
    searched = []
    search = patchcore.coreset._farthest_first

    def recording_search(points, *args):
        searched.append(len(points))
        return search(points, *args)

    monkeypatch.setattr(patchcore.coreset, "_farthest_first", recording_search)
    greedy_coreset(clustered, 30, projection_dim=32, chunk_rows=300)
    assert max(searched) <= 300
    assert len(searched) == 9  # 8 chunks of <= 300 rows, then one search over what they kept
    assert searched[-1] <= 2 * 30 + 8  # the chunks keep about twice the final count


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        greedy_coreset(np.zeros((0, 4), np.float32), 1)
    with pytest.raises(ValueError):
        greedy_coreset(np.zeros((3, 4), np.float32), 0)


def test_progress_counts_every_pick_up_to_the_total(clustered):
    calls = []
    greedy_coreset(
        clustered, 100, projection_dim=32, progress=lambda done, total: calls.append((done, total))
    )
    assert calls[-1] == (100, 100)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    chunked = []
    greedy_coreset(
        clustered, 30, projection_dim=32, chunk_rows=300, progress=lambda *call: chunked.append(call)
    )
    assert chunked[-1] == (8 * 8 + 30, 8 * 8 + 30)  # 8 chunks keep 8 each, then 30 picks
