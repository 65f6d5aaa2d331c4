"""Which held-out scores name a teach image as unlike the others: above twice the median of the rest."""

from patchcore.outliers import outlier_images


def test_one_image_far_above_the_others_is_named():
    assert outlier_images([0.10, 0.11, 0.12, 0.10, 0.30, 0.10, 0.09, 0.11]) == [4]


def test_images_that_vary_within_twice_the_median_are_not():
    assert outlier_images([0.10, 0.14, 0.12, 0.10, 0.19, 0.10, 0.09, 0.11]) == []


def test_twice_the_others_median_is_the_limit():
    assert outlier_images([0.1, 0.1, 0.1, 0.2]) == []
    assert outlier_images([0.1, 0.1, 0.1, 0.21]) == [3]


def test_two_bad_images_are_both_named():
    assert outlier_images([0.1, 0.1, 0.35, 0.1, 0.1, 0.1, 0.3, 0.1]) == [2, 6]


def test_three_images_are_too_few_to_compare():
    assert outlier_images([0.1, 0.1, 0.5]) == []
