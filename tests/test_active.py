"""Batch rules of the active-learning baselines on hand-checked inputs."""

import numpy as np
import pytest

from perturb_select.active import typicality, typiclust_batch, uncertainty_batch
from perturb_select.io import InputError


def test_uncertainty_takes_the_smallest_gears_scores():
    # GEARS's score exp(-mean logvar): small = large predicted variance = uncertain
    assert uncertainty_batch([0.5, 0.1, 0.9, 0.1], 2).tolist() == [1, 3]  # tie: pool order
    assert uncertainty_batch(np.exp(-np.array([0.0, 2.0, -1.0])), 1).tolist() == [1]  # largest logvar
    with pytest.raises(InputError, match="experiment.batch_size.*larger than the 2"):
        uncertainty_batch([0.1, 0.2], 3)
    with pytest.raises(ValueError, match="finite"):
        uncertainty_batch([0.1, np.nan], 1)


def test_typicality_by_hand():
    points = np.array([[0.0], [1.0], [3.0]])
    np.testing.assert_allclose(typicality(points, 1), 1 / (np.array([1.0, 1.0, 2.0]) + 1e-5))
    np.testing.assert_allclose(typicality(points, 2), 1 / (np.array([2.0, 1.5, 2.5]) + 1e-5))
    np.testing.assert_allclose(typicality(points, 0), typicality(points, 1))  # at least one neighbour
    assert typicality(np.array([[4.0, 2.0]]), 20).tolist() == [0.0]  # lone point: 0, not NaN


def test_typiclust_picks_the_typical_point_of_the_unlabelled_cluster():
    rng = np.random.default_rng(0)
    blob_a = rng.normal(0, 0.1, (6, 2))
    blob_b = np.array([[10.0, 10.0], [10.1, 10.0], [9.9, 10.0], [10.0, 10.1], [10.0, 9.9], [11.0, 11.0]])
    features = np.vstack([blob_a, blob_b])
    labelled = np.zeros(12, dtype=bool)
    labelled[0] = True
    picks = typiclust_batch(features, labelled, 1, seed=0)
    assert picks.tolist() == [6]  # blob B holds no labelled point; (10, 10) is its densest point
    two = typiclust_batch(features, labelled, 2, seed=0)
    assert len(set(two.tolist())) == 2 and not labelled[two].any()
    assert np.array_equal(two, typiclust_batch(features, labelled, 2, seed=0))  # seeded
    everything = typiclust_batch(features, labelled, 11, seed=3)
    assert sorted(everything.tolist()) == list(range(1, 12))
    with pytest.raises(InputError, match="larger than the 11 unlabelled"):
        typiclust_batch(features, labelled, 12, seed=0)


def test_acsfw_is_seeded_and_leaves_torch_state_alone():
    import torch

    from perturb_select.active import acsfw_batch

    rng = np.random.default_rng(1)
    pool, train = rng.normal(size=(40, 8)), rng.normal(size=(6, 8))
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = acsfw_batch(pool, train, 5, seed=0)
    assert torch.equal(torch.get_rng_state(), before)  # caller's torch stream untouched
    b = acsfw_batch(pool, train, 5, seed=0)
    assert a.tolist() == b.tolist() and len(set(a.tolist())) == 5 and a.max() < 40
    others = {tuple(acsfw_batch(pool, train, 5, seed=s).tolist()) for s in range(1, 6)}
    assert len(others) > 1  # the seed drives the random features
    with pytest.raises(InputError, match="larger than the 40"):
        acsfw_batch(pool, train, 41, seed=0)
    with pytest.raises(ValueError, match="same width"):
        acsfw_batch(pool, train[:, :3], 2, seed=0)
