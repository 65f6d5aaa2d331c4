from dataclasses import replace

import numpy as np
import pytest

from patchcore.bank import ProductOptions, TeachOptions
from patchcore.errors import InvalidInput, ProductUnusable
from patchcore.geometry import FrameView
from patchcore.heatmap import frame_heatmap
from patchcore.inspection import extract, score, search
from patchcore.knn import NearestNeighbours
from patchcore.model import read_model_info
from patchcore.regions import find_regions
from patchcore.scoring import Scorer, image_score
from patchcore.teach import teach_images
from patchcore.verdict import verdict


def test_a_bank_from_another_model_is_refused(brick_bank, tmp_path, tiny_model_writer):
    other_model = read_model_info(tiny_model_writer(tmp_path / "other.onnx", seed=1))
    with pytest.raises(ProductUnusable, match="another model"):
        Scorer(brick_bank, other_model)


def test_patch_scores_check_the_feature_shape(brick_bank, tiny_extractor):
    scorer = Scorer(brick_bank, tiny_extractor.info)
    bank_members = brick_bank.vectors[np.arange(2 * 64) % len(brick_bank.vectors)].reshape(2, 64, -1)
    scores = scorer.patch_scores(bank_members)
    assert scores.shape == (2, 8, 8)
    np.testing.assert_allclose(scores, 0.0, atol=1e-6)
    with pytest.raises(InvalidInput):
        scorer.patch_scores(brick_bank.vectors[None, :60])


def test_a_vector_opposite_to_the_bank_scores_two(brick_bank, tiny_extractor):
    scorer = Scorer(brick_bank, tiny_extractor.info)
    vector = brick_bank.vectors[0]
    others = brick_bank.vectors @ vector
    assert others.max() == pytest.approx(1.0)  # the bank holds the vector itself
    opposite = np.tile(-vector, (1, 64, 1))
    assert scorer.patch_scores(opposite).max() == pytest.approx(1.0 - (brick_bank.vectors @ -vector).max())


def test_one_model_run_scores_frames_of_several_products_each_against_its_own_bank(
    brick_bank, brick_crops, tiny_extractor
):
    other_bank = teach_images(
        tiny_extractor, [255 - crop for crop in brick_crops[:8]], "inverted", TeachOptions()
    )
    brick, inverted = Scorer(brick_bank, tiny_extractor.info), Scorer(other_bank, tiny_extractor.info)
    size = tiny_extractor.info.input_size
    inputs = [crop[:size, :size] for crop in brick_crops[8:]]
    jobs = [(np.stack(inputs), brick), (inputs[0][None], inverted), (inputs[1][None], brick)]

    grids = [scores.grids() for scores in score(tiny_extractor, jobs)]

    assert [grid.shape for grid in grids] == [(2, 8, 8), (1, 8, 8), (1, 8, 8)]
    for (frame_inputs, scorer), grid in zip(jobs, grids, strict=True):
        (features,) = extract(tiny_extractor, [frame_inputs])
        np.testing.assert_allclose(grid, search(scorer, features).grids(), atol=1e-6)
    assert grids[1].mean() > grids[0][0].mean()  # the inverted product does not know the brick


def _unit_rows(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture()
def wide_scorer(brick_bank, tiny_extractor):
    """A scorer over a bank of 600 random unit vectors in the tiny model's space (it has an 8 x 8 grid)."""
    rng = np.random.default_rng(7)
    bank = replace(brick_bank, vectors=_unit_rows(rng.standard_normal((600, brick_bank.vectors.shape[1]))))
    return Scorer(bank, tiny_extractor.info)


def _brute_force_scores(scorer: Scorer, features: np.ndarray) -> np.ndarray:
    """Every patch's cosine distance to its nearest bank vector, by a plain matrix product."""
    patches = features.reshape(-1, features.shape[-1])
    return np.sort(1.0 - (patches @ scorer.bank.vectors.T).max(axis=1))[::-1]


def _searches(monkeypatch) -> list[tuple[int, int]]:
    """(query count, bank vectors searched) of every nearest-neighbour search from now on, in order."""
    searched = []
    exact = NearestNeighbours.distances

    def counted(index, queries):
        searched.append((len(queries), len(index)))
        return exact(index, queries)

    monkeypatch.setattr(NearestNeighbours, "distances", counted)
    return searched


TILES = 64  # frames of 64 tiles x 64 patches against 600 vectors: 2.5M pairs, where the bounds are used


@pytest.mark.parametrize("top_k", [1, 3, 64, 5000])
def test_the_image_score_from_the_bounded_search_is_the_exact_one(wide_scorer, top_k):
    rng = np.random.default_rng(top_k)
    near_bank = wide_scorer.bank.vectors[rng.integers(0, 600, (TILES, 64))]
    features = _unit_rows(near_bank + 0.05 * rng.standard_normal(near_bank.shape))
    features[5, 17] = _unit_rows(rng.standard_normal(near_bank.shape[-1]))  # one patch far from all of it
    exact = _brute_force_scores(wide_scorer, features)

    score = wide_scorer.frame_scores(features).image_score(top_k)

    assert score == pytest.approx(exact[: min(top_k, exact.size)].mean(), abs=1e-5)


def test_the_bounded_search_leaves_out_patches_that_cannot_be_the_highest(wide_scorer, monkeypatch):
    rng = np.random.default_rng(0)
    features = wide_scorer.bank.vectors[rng.integers(0, 150, (TILES, 64))].copy()  # the bank's first quarter
    features[3, 9] = _unit_rows(rng.standard_normal(features.shape[-1]))
    searched = _searches(monkeypatch)
    scores = wide_scorer.frame_scores(features)

    assert scores.image_score(1) == pytest.approx(_brute_force_scores(wide_scorer, features)[0], abs=1e-5)
    assert searched == [(TILES * 64, 150), (64, 600)]  # every patch against the quarter; 64 exactly
    every_patch = np.sort(scores.grids().ravel())[::-1]
    np.testing.assert_allclose(every_patch, _brute_force_scores(wide_scorer, features), atol=1e-5)


@pytest.fixture()
def wider_scorer(brick_bank, tiny_extractor):
    """A scorer over a bank of 2,400 random unit vectors: large enough for bounds from its first sixteenth
    (150 vectors) before its first quarter."""
    rng = np.random.default_rng(8)
    bank = replace(brick_bank, vectors=_unit_rows(rng.standard_normal((2400, brick_bank.vectors.shape[1]))))
    return Scorer(bank, tiny_extractor.info)


@pytest.mark.parametrize("top_k", [1, 3, 64])
def test_the_image_score_bounded_by_several_parts_of_the_bank_is_the_exact_one(wider_scorer, top_k):
    rng = np.random.default_rng(top_k)
    near_bank = wider_scorer.bank.vectors[rng.integers(0, 2400, (TILES, 64))]
    features = _unit_rows(near_bank + 0.05 * rng.standard_normal(near_bank.shape))
    features[[5, 40], [17, 2]] = _unit_rows(rng.standard_normal((2, near_bank.shape[-1])))
    exact = _brute_force_scores(wider_scorer, features)

    score = wider_scorer.frame_scores(features).image_score(top_k)

    assert score == pytest.approx(exact[:top_k].mean(), abs=1e-5)


def test_a_large_bank_bounds_every_patch_by_its_smallest_part_first(wider_scorer, monkeypatch):
    rng = np.random.default_rng(1)
    features = wider_scorer.bank.vectors[rng.integers(0, 150, (TILES, 64))].copy()  # the first sixteenth
    features[7, 30] = _unit_rows(rng.standard_normal(features.shape[-1]))
    searched = _searches(monkeypatch)

    score = wider_scorer.frame_scores(features).image_score(1)

    assert score == pytest.approx(_brute_force_scores(wider_scorer, features)[0], abs=1e-5)
    assert searched == [(TILES * 64, 150), (64, 2400)]  # every patch against the sixteenth; 64 exactly


def test_a_small_frame_against_a_small_bank_is_searched_in_full_once(wide_scorer, monkeypatch):
    features = wide_scorer.bank.vectors[:64][None].copy()  # 64 patches x 600 vectors
    searched = _searches(monkeypatch)
    scores = wide_scorer.frame_scores(features)

    assert scores.image_score(1) == pytest.approx(0.0, abs=1e-6)
    assert scores.grids().shape == (1, 8, 8)
    assert searched == [(64, 600)]


@pytest.mark.parametrize("want_heatmap", [False, True])
def test_the_bounded_search_counts_a_part_of_the_frame_seen_by_two_tiles_once(wide_scorer, want_heatmap):
    plan = FrameView(64, tile_size=256).plan((1900, 1900))  # 8 x 8 tiles, 235 pixels apart
    assert len(plan.tiles) == TILES and plan.tiles[1].x == 235
    rng = np.random.default_rng(3)
    near_bank = wide_scorer.bank.vectors[rng.integers(0, 600, (TILES, 64))]
    features = _unit_rows(near_bank + 0.05 * rng.standard_normal(near_bank.shape))
    planted = _unit_rows(rng.standard_normal((2, near_bank.shape[-1])))
    (far_score, far), (other_score, other) = sorted(
        ((_brute_force_scores(wide_scorer, vector[None, None])[0], vector) for vector in planted),
        key=lambda scored: -scored[0],
    )
    features[0, 3 * 8 + 7] = far  # frame x 224..256, y 96..128 in the first tile
    features[1, 3 * 8 + 0] = far  # frame x 235..267, y 96..128: mostly the same pixels, in the second
    features[9, 5 * 8 + 4] = other  # a tile of the second row, nowhere near them
    assert far_score > other_score > _brute_force_scores(wide_scorer, features)[3]  # the 3 planted lead
    options = ProductOptions(threshold=10.0, top_k=2)

    result = verdict(wide_scorer.frame_scores(features), plan, options, want_heatmap)

    assert result.score == pytest.approx((far_score + other_score) / 2, abs=1e-5)


def test_a_top_k_above_the_patch_count_is_the_mean_of_every_patch():
    assert image_score(np.array([[0.1, 0.2], [0.3, 0.4]], np.float32), top_k=100) == pytest.approx(0.25)


def _controlled_scorer(brick_bank, tiny_extractor, bound: float) -> Scorer:
    """A scorer over 600 unit vectors whose rows 300..449 each lie `bound` (cosine distance) from row - 300,
    in the bank's first quarter, and farther from every other row of it."""
    rng = np.random.default_rng(11)
    dim = brick_bank.vectors.shape[1]
    vectors = _unit_rows(rng.standard_normal((600, dim)))
    base = vectors[:150]
    aside = rng.standard_normal((150, dim))
    aside = _unit_rows(aside - (aside * base).sum(axis=1, keepdims=True) * base)  # orthogonal to its base
    vectors[300:450] = _unit_rows((1 - bound) * base + np.sqrt(1 - (1 - bound) ** 2) * aside)
    return Scorer(replace(brick_bank, vectors=vectors), tiny_extractor.info)


def test_an_anomalous_tiled_frames_regions_come_from_a_few_exact_patches(
    brick_bank, tiny_extractor, monkeypatch
):
    plan = FrameView(64, tile_size=256).plan((1900, 1900))  # 8 x 8 tiles, 235 pixels apart
    threshold = 0.3
    scorer = _controlled_scorer(brick_bank, tiny_extractor, bound=0.8 * threshold)
    rng = np.random.default_rng(5)
    features = scorer.bank.vectors[rng.integers(300, 450, (TILES, 64))].copy()  # exactly in the bank
    far = _unit_rows(rng.standard_normal((10, features.shape[-1])))
    features[0, [3 * 8 + 6, 3 * 8 + 7, 4 * 8 + 6, 4 * 8 + 7]] = far[:4]  # where the first two tiles meet
    features[1, [3 * 8 + 0, 4 * 8 + 0]] = far[4:6]
    features[18, [2 * 8 + 2, 2 * 8 + 3, 3 * 8 + 2, 3 * 8 + 3]] = far[6:]  # a second defect, in a tile
    every_patch = (1.0 - (features @ scorer.bank.vectors.T).max(axis=-1)).reshape(TILES, 8, 8)
    assert every_patch.max() > 1.5 * threshold and np.sort(every_patch.ravel())[-11] < 1e-5
    expected = find_regions(frame_heatmap(every_patch, plan), threshold)
    assert len(expected) == 2
    searched = _searches(monkeypatch)

    result = verdict(scorer.frame_scores(features), plan, ProductOptions(threshold=threshold), False)

    assert [(r.x, r.y, r.width, r.height, r.area) for r in result.regions] == [
        (r.x, r.y, r.width, r.height, r.area) for r in expected
    ]
    assert [r.peak_score for r in result.regions] == pytest.approx([r.peak_score for r in expected], abs=1e-5)
    exactly = sum(queries for queries, vectors in searched if vectors == 600)
    assert exactly < TILES * 64 / 4  # far fewer patches than the frame's searched against the whole bank


def test_a_frame_far_from_the_bank_has_its_regions_searched_against_the_whole_bank_at_once(
    wide_scorer, monkeypatch
):
    plan = FrameView(64, tile_size=256).plan((1900, 1900))
    rng = np.random.default_rng(6)
    features = _unit_rows(rng.standard_normal((TILES, 64, wide_scorer.bank.vectors.shape[1])))
    scores = wide_scorer.frame_scores(features)
    assert scores.image_score(1) > 0.2
    searched = _searches(monkeypatch)

    result = verdict(scores, plan, ProductOptions(threshold=0.01), False)

    assert len(result.regions) == 1 and result.regions[0].area == 1900 * 1900  # the whole frame
    assert searched == [(TILES * 64, 150), (TILES * 64, 600)]  # the quarter, then the whole bank once
