"""Tests of perturb_select.experiment: per-seed test split, cycle bookkeeping, budget check."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SHARED_DATA as DATA  # noqa: E402  (../shared/data beside the repository)
from perturb_select.experiment.splits import check_budget, cycle_perturbations, split_test_set
from perturb_select.io import InputError

GENES = [f"G{i:02d}" for i in range(25)]


@pytest.mark.parametrize("n, n_test", [(25, 2), (10, 1), (3, 1), (2, 1), (35, 4), (45, 4), (100, 10)])
def test_test_set_size_is_round_of_fraction_at_least_one(n, n_test):
    # Python's round halves to even: 2.5 -> 2, 3.5 -> 4, 4.5 -> 4; 0.3 -> 0 -> at least 1
    split = split_test_set([f"G{i}" for i in range(n)], seed=0)
    assert len(split["test"]) == n_test
    assert len(split["pool"]) == n - n_test


def test_split_is_a_sorted_partition_with_metadata():
    split = split_test_set(list(reversed(GENES)), test_fraction=0.2, seed=7)
    assert split["seed"] == 7 and split["test_fraction"] == 0.2
    assert split["test"] == sorted(split["test"]) and split["pool"] == sorted(split["pool"])
    assert set(split["test"]).isdisjoint(split["pool"])
    assert sorted(split["test"] + split["pool"]) == GENES
    assert len(split["test"]) == 5


def test_split_is_deterministic_per_seed_and_order_free():
    first = split_test_set(GENES, seed=3)
    shuffled = list(np.random.default_rng(99).permutation(GENES))
    assert split_test_set(shuffled, seed=3) == first
    # the documented draw: default_rng(seed).permutation over the sorted candidates
    expected = sorted(GENES[i] for i in np.random.default_rng(3).permutation(25)[:2])
    assert first["test"] == expected


def test_different_seeds_give_different_splits():
    tests = {tuple(split_test_set(GENES, seed=seed)["test"]) for seed in range(20)}
    assert len(tests) > 10  # 300 possible pairs; 20 seeds collide rarely
    held_out = {g for t in tests for g in t}
    assert len(held_out) > 10  # not always the same genes


def test_pool_is_never_empty():
    split = split_test_set(["A", "B"], test_fraction=0.9, seed=0)
    assert len(split["test"]) == 1 and len(split["pool"]) == 1


@pytest.mark.parametrize("candidates", [[], ["A"]])
def test_split_needs_two_candidates(candidates):
    with pytest.raises(InputError) as error:
        split_test_set(candidates, seed=0, source="results/data/x/candidates.tsv")
    assert error.value.field == "candidates" and "results/data/x/candidates.tsv" in str(error.value)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_split_rejects_fraction_outside_unit_interval(fraction):
    with pytest.raises(InputError) as error:
        split_test_set(GENES, test_fraction=fraction, seed=0)
    assert error.value.field == "test_fraction"


def test_split_rejects_repeated_candidates():
    with pytest.raises(InputError) as error:
        split_test_set(["A", "B", "A"], seed=0)
    assert error.value.field == "candidates"


def test_cycle_perturbations():
    picks = list("abcdefgh")
    assert cycle_perturbations(picks, 1, 3) == ["a", "b", "c"]
    assert cycle_perturbations(picks, 2, 3) == list("abcdef")
    assert cycle_perturbations(picks, 4, 2) == picks
    with pytest.raises(ValueError, match="needs 9 picks"):
        cycle_perturbations(picks, 3, 3)
    with pytest.raises(ValueError):
        cycle_perturbations(picks, 0, 3)
    with pytest.raises(ValueError):
        cycle_perturbations(picks, 1, 0)


def test_check_budget():
    assert check_budget(23, 4, 5, "config.yaml") == 20
    assert check_budget(20, 4, 5, "config.yaml") == 20
    with pytest.raises(InputError) as error:
        check_budget(23, 5, 5, "config.yaml")
    assert error.value.source == "config.yaml" and error.value.field == "cycles"
    assert "25" in str(error.value) and "23" in str(error.value)
    with pytest.raises(InputError) as error:
        check_budget(23, 1, 0, "config.yaml")
    assert error.value.field == "perturbations_per_cycle"


def test_split_of_the_real_papalexi_screen():
    path = DATA / "perturbseq" / "papalexi2021_thp1.h5ad"
    if not path.exists():
        pytest.skip(f"real data not found (expected ../shared/data beside the repository): {path}")
    anndata = pytest.importorskip("anndata")
    adata = anndata.read_h5ad(path, backed="r")
    targets = sorted(set(adata.obs["perturbation"].astype(str)) - {"non-targeting"})
    adata.file.close()
    assert len(targets) == 25
    splits = [split_test_set(targets, seed=seed) for seed in range(3)]
    for split in splits:
        assert len(split["test"]) == 2 and len(split["pool"]) == 23
        assert sorted(split["test"] + split["pool"]) == targets
    assert splits[0] == split_test_set(list(reversed(targets)), seed=0)
    assert len({tuple(s["test"]) for s in splits}) > 1
    # 23-perturbation pool: 4 cycles of 5 fit, 5 cycles do not
    assert check_budget(len(splits[0]["pool"]), 4, 5, "config") == 20
    with pytest.raises(InputError):
        check_budget(len(splits[0]["pool"]), 5, 5, "config")


# --------------------------------------------------------------------------------------------------
# A plan checked against the screen before any job (issue 20 finding 10)
# --------------------------------------------------------------------------------------------------


def _plan_config(datasets: dict, cycles: int, perturbations_per_cycle: int, test_fraction: float = 0.1):
    from perturb_select.config import load_config

    return load_config(
        {
            "datasets": datasets,
            "experiment": {
                "seeds": [0],
                "cycles": cycles,
                "perturbations_per_cycle": perturbations_per_cycle,
                "test_fraction": test_fraction,
                "strategies": {"random": {}},
            },
        }
    )


PAPALEXI_BLOCK = {
    "format": "raw",
    "mirror": str(DATA / "perturbseq"),
    "mirror_name": "papalexi2021_thp1.h5ad",
    "cell_type": "THP-1",
}


def test_candidate_bounds_from_local_files(tmp_path):
    import anndata as ad
    import pandas as pd

    from perturb_select.config import DatasetConfig
    from perturb_select.screens.bounds import candidate_bound

    # the Papalexi screen: 25 targeted genes besides non-targeting (its README)
    papalexi = DatasetConfig.from_config("papalexi", PAPALEXI_BLOCK)
    assert candidate_bound(papalexi) == (25, str(DATA / "perturbseq" / "papalexi2021_thp1.h5ad"))
    # a GEARS file: distinct genes of single-gene conditions (two spellings of A are one; A+B is not one)
    conditions = ["ctrl", "A+ctrl", "ctrl+A", "B+ctrl ", "A+B", "C+ctrl"]
    obs = pd.DataFrame({"condition": pd.Categorical(conditions)}, index=[f"c{i}" for i in range(6)])
    ad.AnnData(X=np.zeros((6, 1), dtype=np.float32), obs=obs).write_h5ad(tmp_path / "gears.h5ad")
    gears = DatasetConfig.from_config("g", {"format": "gears", "mirror": str(tmp_path), "mirror_name": "gears.h5ad"})
    assert candidate_bound(gears) == (3, str(tmp_path / "gears.h5ad"))
    # a simulated screen: distinct symbols of its candidate list
    (tmp_path / "list.txt").write_text("# header\nA\nB\nA\n\nC\n")
    simulated = DatasetConfig.from_config(
        "s_simulated", {"format": "simulated", "candidates": str(tmp_path / "list.txt"), "reference": "x.h5ad"}
    )
    assert candidate_bound(simulated) == (3, str(tmp_path / "list.txt"))
    # no bound: an archive, a file not there yet, no mirror, a column that is not in the file
    (tmp_path / "a.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    for block in (
        {"format": "gears", "mirror": str(tmp_path), "mirror_name": "a.zip"},
        {"format": "gears", "mirror": str(tmp_path), "mirror_name": "absent.h5ad"},
        {"format": "gears", "url": "https://example.org/x.zip"},
        {**PAPALEXI_BLOCK, "perturbation_key": "no_such_column"},
    ):
        assert candidate_bound(DatasetConfig.from_config("x", block)) is None, block


def test_a_plan_larger_than_the_screen_is_refused_from_the_config():
    from perturb_select.experiment.splits import check_plans_fit

    # 25 candidates, 2 held out at 0.1: 23 to pick from
    check_plans_fit(_plan_config({"papalexi": PAPALEXI_BLOCK}, cycles=1, perturbations_per_cycle=23))
    with pytest.raises(
        InputError,
        match="1 cycles x 24 perturbations per cycle = 24, but .*papalexi2021_thp1.h5ad "
        "has at most 25 perturbations, 23 left to pick from",
    ) as err:
        check_plans_fit(_plan_config({"papalexi": PAPALEXI_BLOCK}, cycles=1, perturbations_per_cycle=24))
    assert err.value.source == "config" and err.value.field == "datasets.papalexi"
    # a dataset's own perturbations_per_cycle, and the test fraction, count (round(12.5) = 12 held out)
    with pytest.raises(InputError, match="3 cycles x 5 perturbations per cycle = 15, but .* 13 left"):
        check_plans_fit(
            _plan_config(
                {"papalexi": {**PAPALEXI_BLOCK, "perturbations_per_cycle": 5}},
                cycles=3,
                perturbations_per_cycle=1,
                test_fraction=0.5,
            )
        )
    # no local file: nothing to check before the split stage
    check_plans_fit(
        _plan_config(
            {"remote": {"format": "gears", "url": "https://example.org/x.zip"}}, cycles=5, perturbations_per_cycle=1000
        )
    )
