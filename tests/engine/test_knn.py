import os
import subprocess
import sys

import numpy as np
import pytest

from patchcore.knn import NearestNeighbours, openblas_core_type


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


def _faiss_openblas_architecture(environment: dict[str, str]) -> str:
    """The kernel family of FAISS's bundled OpenBLAS after importing patchcore.knn in a fresh process."""
    script = (
        "import patchcore.knn\n"
        "from threadpoolctl import threadpool_info\n"
        "print(next(i['architecture'] for i in threadpool_info() if 'faiss' in i['filepath'] "
        "and i['internal_api'] == 'openblas'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


@pytest.mark.skipif(openblas_core_type() is None, reason="not an x86-64 Linux CPU with AVX2")
def test_faiss_runs_the_blas_kernels_this_cpu_supports():
    environment = {key: value for key, value in os.environ.items() if key != "OPENBLAS_CORETYPE"}
    assert _faiss_openblas_architecture(environment) == openblas_core_type()


@pytest.mark.skipif(openblas_core_type() is None, reason="not an x86-64 Linux CPU with AVX2")
def test_the_operatorsopenblas_core_type_wins():
    assert _faiss_openblas_architecture({**os.environ, "OPENBLAS_CORETYPE": "Haswell"}) == "Haswell"


def test_a_batch_of_one_frames_patches_gives_the_exact_nearest_distances():
    rng = np.random.default_rng(0)
    bank, queries = (rng.standard_normal((rows, 384)).astype(np.float32) for rows in (1638, 256))
    bank /= np.linalg.norm(bank, axis=1, keepdims=True)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    expected = 1.0 - (queries @ bank.T).max(axis=1)
    np.testing.assert_allclose(NearestNeighbours(bank).distances(queries), expected, atol=1e-5)
