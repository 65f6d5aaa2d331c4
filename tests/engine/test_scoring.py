import dataclasses

import numpy as np
import pytest

from patchcore.errors import InvalidInput, ProductUnusable
from patchcore.model import read_model_info
from patchcore.scoring import Scorer, find_regions, image_score, upsample_heatmap


def test_image_score_is_the_max_or_the_mean_of_the_top_k():
    scores = np.array([[0.1, 0.9], [0.5, 0.7]])
    assert image_score(scores, 1) == pytest.approx(0.9)
    assert image_score(scores, 2) == pytest.approx(0.8)
    assert image_score(scores, 10) == pytest.approx(0.55)


def test_heatmap_has_the_frame_size_and_peaks_where_the_hot_patch_is():
    grid = np.zeros((8, 8), np.float32)
    grid[2, 6] = 1.0
    heatmap = upsample_heatmap(grid, model_size=64, frame_size=(300, 500))
    assert heatmap.shape == (300, 500) and heatmap.dtype == np.float32
    peak_y, peak_x = np.unravel_index(np.argmax(heatmap), heatmap.shape)
    assert 2 / 8 * 300 <= peak_y < 3 / 8 * 300 and 6 / 8 * 500 <= peak_x < 7 / 8 * 500
    assert heatmap.max() < 1.0  # smoothed


def test_regions_are_sorted_by_peak_and_filtered_by_area():
    heatmap = np.zeros((100, 100), np.float32)
    heatmap[10:20, 10:30] = 0.6  # 200 pixels, lower peak
    heatmap[50:55, 50:55] = 0.9  # 25 pixels, higher peak
    heatmap[80, 80] = 0.7  # 1 pixel
    regions = find_regions(heatmap, threshold=0.5)
    assert [(region.peak_score, region.area) for region in regions] == [
        pytest.approx((0.9, 25)),
        pytest.approx((0.7, 1)),
        pytest.approx((0.6, 200)),
    ]
    assert (regions[2].x, regions[2].y, regions[2].width, regions[2].height) == (10, 10, 20, 10)
    assert [region.area for region in find_regions(heatmap, 0.5, min_area=20)] == [25, 200]


def test_a_bank_from_another_model_is_refused(brick_bank, tmp_path, tiny_model_writer):
    other_model = read_model_info(tiny_model_writer(tmp_path / "other.onnx", seed=1))
    with pytest.raises(ProductUnusable, match="another model"):
        Scorer(brick_bank, other_model)


def test_heatmap_only_when_asked_and_regions_only_when_anomalous(brick_bank, tiny_extractor):
    scorer = Scorer(brick_bank, tiny_extractor.info)
    threshold = brick_bank.options.threshold
    quiet = np.full((8, 8), threshold / 2, np.float32)
    assert scorer.result(quiet, (120, 80), want_heatmap=False).heatmap is None
    result = scorer.result(quiet, (120, 80), want_heatmap=True)
    assert result.heatmap.shape == (120, 80) and not result.anomalous and result.regions == []
    hot = quiet.copy()
    hot[3:5, 3:5] = threshold * 3
    result = scorer.result(hot, (120, 80), want_heatmap=False)
    assert result.anomalous and result.heatmap is None and len(result.regions) == 1


def test_options_changed_after_loading_take_effect(brick_bank, tiny_extractor):
    bank = dataclasses.replace(brick_bank, options=dataclasses.replace(brick_bank.options, top_k=4))
    scorer = Scorer(bank, tiny_extractor.info)
    grid = np.zeros((8, 8), np.float32)
    grid[0, :4] = 1.0
    assert scorer.result(grid, (64, 64), want_heatmap=False).score == pytest.approx(1.0)
    bank.options.top_k = 8
    assert scorer.result(grid, (64, 64), want_heatmap=False).score == pytest.approx(0.5)


def test_patch_scores_check_the_feature_shape(brick_bank, tiny_extractor):
    scorer = Scorer(brick_bank, tiny_extractor.info)
    bank_members = brick_bank.vectors[np.arange(2 * 64) % len(brick_bank.vectors)].reshape(2, 64, -1)
    scores = scorer.patch_scores(bank_members)
    assert scores.shape == (2, 8, 8)
    np.testing.assert_allclose(scores, 0.0, atol=1e-6)
    with pytest.raises(InvalidInput):
        scorer.patch_scores(brick_bank.vectors[None, :60])
