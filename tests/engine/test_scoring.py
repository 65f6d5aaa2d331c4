import numpy as np
import pytest

from patchcore.errors import InvalidInput, ProductUnusable
from patchcore.model import read_model_info
from patchcore.scoring import Scorer


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
