"""Batch rules of the active-learning baselines on hand-checked inputs."""

import numpy as np
import pytest

from perturb_select.active.rules import typicality, typiclust_batch, uncertainty_batch
from perturb_select.io import InputError


def test_uncertainty_takes_the_smallest_gears_scores():
    # GEARS's score exp(-mean logvar): small = large predicted variance = uncertain
    assert uncertainty_batch([0.5, 0.1, 0.9, 0.1], 2).tolist() == [1, 3]  # tie: pool order
    assert uncertainty_batch(np.exp(-np.array([0.0, 2.0, -1.0])), 1).tolist() == [1]  # largest logvar
    with pytest.raises(InputError, match="experiment.perturbations_per_cycle.*larger than the 2"):
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
    picks, score = typiclust_batch(features, labelled, 1, seed=0)
    assert picks.tolist() == [6]  # blob B holds no labelled point; (10, 10) is its densest point
    assert score[0] > 1 / 0.2  # its 2 nearest neighbours (of 6 - 1) lie 0.1 away
    two, _ = typiclust_batch(features, labelled, 2, seed=0)
    assert len(set(two.tolist())) == 2 and not labelled[two].any()
    assert np.array_equal(two, typiclust_batch(features, labelled, 2, seed=0)[0])  # seeded
    everything, _ = typiclust_batch(features, labelled, 11, seed=3)
    assert sorted(everything.tolist()) == list(range(1, 12))
    with pytest.raises(InputError, match="larger than the 11 unlabelled"):
        typiclust_batch(features, labelled, 12, seed=0)


def test_acsfw_is_seeded_and_leaves_torch_state_alone():
    import torch

    from perturb_select.active.rules import acsfw_batch

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


def _scores(genes, labelled, features, uncertainty=None):
    from perturb_select.gears.results import PoolScores

    n = len(genes)
    return PoolScores(
        np.array(genes),
        np.array(labelled),
        np.asarray(features, dtype=np.float32),
        np.full(n, np.nan) if uncertainty is None else np.asarray(uncertainty),
        {"cycle": 1},
    )


def test_pool_scores_round_trip_and_bad_files(tmp_path):
    from perturb_select.gears.results import PoolScores

    scores = _scores(["A", "B", "C"], [True, False, False], np.arange(6).reshape(3, 2), [0.5, 0.1, 0.9])
    scores.save(tmp_path / "pool.npz")
    back = PoolScores.load(tmp_path / "pool.npz")
    assert back.genes.tolist() == ["A", "B", "C"] and back.labelled.tolist() == [True, False, False]
    assert np.array_equal(back.features, scores.features) and np.array_equal(back.uncertainty, scores.uncertainty)
    assert back.info == {"cycle": 1}
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="bad.npz.*not an .npz file"):
        PoolScores.load(tmp_path / "bad.npz")
    np.savez(tmp_path / "untagged.npz", genes=np.array(["A"]))
    with pytest.raises(InputError, match="untagged.npz, field 'format'.*no format tag"):
        PoolScores.load(tmp_path / "untagged.npz")
    np.savez(tmp_path / "partial.npz", format=np.array("perturb-select pool scores v1"), genes=np.array(["A"]))
    with pytest.raises(InputError, match="partial.npz, field 'labelled'"):
        PoolScores.load(tmp_path / "partial.npz")


def test_picks_files_in_order_and_their_checks(tmp_path):
    from perturb_select.active.picks import read_picks, write_picks

    write_picks(["B", "A"], [0.1, np.nan], cycle=1, method="random", path=tmp_path / "c1.tsv")
    write_picks(["D", "C"], [2.0, 1.0], cycle=2, method="typiclust", path=tmp_path / "c2.tsv")
    assert read_picks([tmp_path / "c1.tsv", tmp_path / "c2.tsv"], 2) == ["B", "A", "D", "C"]
    assert read_picks([], 2) == []
    text = (tmp_path / "c2.tsv").read_text().splitlines()
    assert text[0].split("\t") == ["rank", "gene", "cycle", "method", "score"]
    assert text[1].split("\t") == ["1", "D", "2", "typiclust", "2"]
    with pytest.raises(InputError, match="c2.tsv, field 'cycle'"):
        read_picks([tmp_path / "c2.tsv"], 2)  # cycle 2's file where cycle 1's belongs
    with pytest.raises(InputError, match="expected a batch of 3"):
        read_picks([tmp_path / "c1.tsv"], 3)
    write_picks(["A", "E"], [0, 0], cycle=2, method="acsfw", path=tmp_path / "again.tsv")
    with pytest.raises(InputError, match="picked in two cycles: \\['A'\\]"):
        read_picks([tmp_path / "c1.tsv", tmp_path / "again.tsv"], 2)


def test_next_batch_by_method_on_hand_made_scores():
    from perturb_select.active.rules import next_batch

    genes = ["L1", "P1", "P2", "P3", "P4"]
    features = [[0, 0.1], [0.1, 0], [5, 5], [5.1, 5], [5, 5.1]]
    scores = _scores(genes, [True, False, False, False, False], features, [0.9, 0.8, 0.2, 0.5, 0.2])
    remaining = ["P1", "P2", "P3", "P4"]
    picked, score = next_batch("uncertainty", {}, scores, ["L1"], remaining, 2, seed=0)
    assert picked == ["P2", "P4"] and score.tolist() == [0.2, 0.2]  # least certain; tie in pool order
    picked, score = next_batch("typiclust", {"neighbours": 20}, scores, ["L1"], remaining, 1, seed=0)
    assert picked == ["P2"] and score[0] > 1  # the centre of the cluster with no labelled member
    picked, score = next_batch("acsfw", {"random_features": 64, "sigma": 0.1}, scores, ["L1"], remaining, 2, seed=0)
    assert len(set(picked)) == 2 and set(picked) <= set(remaining) and np.isnan(score).all()
    assert picked == next_batch("acsfw", {"random_features": 64, "sigma": 0.1}, scores, ["L1"], remaining, 2, seed=0)[0]
    with pytest.raises(InputError, match="field 'labelled'"):
        next_batch("typiclust", {}, scores, ["P1"], ["P2", "P3"], 1, seed=0)
    with pytest.raises(InputError, match="no scores for \\['P9'\\]"):
        next_batch("typiclust", {}, scores, ["L1"], ["P9"], 1, seed=0)
    with pytest.raises(InputError, match="experiment.perturbations_per_cycle.*larger than the 4"):
        next_batch("uncertainty", {}, scores, ["L1"], remaining, 5, seed=0)
    no_head = _scores(genes, [True, False, False, False, False], features)
    with pytest.raises(InputError, match="without its head"):
        next_batch("uncertainty", {}, no_head, ["L1"], remaining, 1, seed=0)


def test_cycle_seeds_differ_by_run_and_cycle():
    from perturb_select.active.rules import cycle_seed

    seeds = {cycle_seed(init, cycle) for init in range(5) for cycle in range(1, 6)}
    assert len(seeds) == 25 and cycle_seed(3, 2) == cycle_seed(3, 2)
