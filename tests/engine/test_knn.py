import numpy as np
import pytest

from patchcore.knn import NearestNeighbours


def test_distance_is_one_minus_the_best_cosine_similarity():
    bank = np.eye(3, dtype=np.float32)
    query = np.array([[0.6, 0.8, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(NearestNeighbours(bank).distances(query), [0.2, 0.0, 1.0], atol=1e-6)


def test_distances_are_never_negative():
    bank = np.array([[1.0, 0.0]], dtype=np.float32)
    slightly_long = np.array([[1.0001, 0.0]], dtype=np.float32)
    assert NearestNeighbours(bank).distances(slightly_long)[0] == 0.0


def test_wrong_dimension_and_empty_bank_are_refused():
    with pytest.raises(ValueError):
        NearestNeighbours(np.eye(3, dtype=np.float32)).distances(np.ones((1, 4), np.float32))
    with pytest.raises(ValueError):
        NearestNeighbours(np.zeros((0, 3), np.float32))
