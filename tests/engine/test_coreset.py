import numpy as np
import pytest

from patchcore.coreset import coreset_size, greedy_coreset


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


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        greedy_coreset(np.zeros((0, 4), np.float32), 1)
    with pytest.raises(ValueError):
        greedy_coreset(np.zeros((3, 4), np.float32), 0)
