import numpy as np
import pytest

from patchcore.bank import TeachOptions
from patchcore.errors import InvalidInput, ProductUnusable
from patchcore.inspection import extract, score, search
from patchcore.model import read_model_info
from patchcore.scoring import Scorer
from patchcore.teach import teach_images


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

    grids = score(tiny_extractor, jobs)

    assert [grid.shape for grid in grids] == [(2, 8, 8), (1, 8, 8), (1, 8, 8)]
    for (frame_inputs, scorer), grid in zip(jobs, grids, strict=True):
        (features,) = extract(tiny_extractor, [frame_inputs])
        np.testing.assert_allclose(grid, search(scorer, features), atol=1e-6)
    assert grids[1].mean() > grids[0][0].mean()  # the inverted product does not know the brick
