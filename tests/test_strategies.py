"""Strategy blocks: defaults, the errors that name the config field, and run labels."""

import pytest

from perturb_select.experiment.runs import run_label, run_seeds
from perturb_select.io import InputError
from perturb_select.strategies import (
    ACTIVE,
    ONE_SHOT,
    ONE_SHOT_PARAMETERS,
    active_params,
    strategy_params,
)


def test_active_defaults_follow_their_sources():
    assert active_params("uncertainty", None, hops=1, cycles=5) == {
        "controls": 300,
        "uncertainty_reg": 1.0,
        "method": "uncertainty",
    }
    assert active_params("typiclust", {}, hops=1, cycles=5) == {
        "controls": 300,
        "neighbours": 20,
        "method": "typiclust",
    }
    assert active_params("acsfw", {"sigma": 0.2}, hops=1, cycles=5) == {
        "controls": 300,
        "random_features": 512,
        "sigma": 0.2,
        "method": "acsfw",
    }
    hybrid = active_params("hybrid", {"then": "acsfw", "random_features": 64}, hops=2, cycles=5)
    assert hybrid == {
        "warmup_cycles": 2,
        "then": "acsfw",
        "hops": 2,
        "tie_break": "lookahead",
        "controls": 300,
        "random_features": 64,
        "sigma": 0.1,
        "method": "acsfw",
    }
    with pytest.raises(InputError, match="experiment.strategies.hybrid.tie_break"):
        active_params("hybrid", {"tie_break": "alphabet"}, hops=2, cycles=5)


@pytest.mark.parametrize(
    "strategy, block, cycles, field, words",
    [
        ("typiclust", {"neighbors": 5}, 5, "experiment.strategies.typiclust.neighbors", "it takes"),
        ("hybrid", {"warmup_cycles": 5}, 5, "experiment.strategies.hybrid.warmup_cycles", "no cycle of 5"),
        ("hybrid", {"warmup_cycles": 2}, 2, "experiment.strategies.hybrid.warmup_cycles", "no cycle of 2"),
        ("hybrid", {"then": "random"}, 5, "experiment.strategies.hybrid.then", "must be one of"),
        ("hybrid", {"sigma": 0.1}, 5, "experiment.strategies.hybrid.sigma", "it takes"),  # typiclust takes no sigma
        ("uncertainty", {}, 1, "experiment.cycles", "at least 2 cycles"),
        ("acsfw", {"sigma": 0}, 5, "experiment.strategies.acsfw.sigma", "> 0"),
        ("typiclust", {"controls": 0}, 5, "experiment.strategies.typiclust.controls", ">= 1"),
        ("typiclust", {"neighbours": True}, 5, "experiment.strategies.typiclust.neighbours", "integer"),
    ],
)
def test_bad_blocks_name_the_field(strategy, block, cycles, field, words):
    with pytest.raises(InputError) as err:
        active_params(strategy, block, hops=1, cycles=cycles)
    assert err.value.source == "config" and err.value.field == field and words in str(err.value)


def test_strategy_params_cover_one_shot_and_active_blocks():
    # K = GEARS's layers; the tie rule written out so that a change of its default reruns the jobs
    assert strategy_params("graphreach", {"hops": 2}, hops=1, cycles=3) == {"hops": 2, "tie_break": "lookahead"}
    assert strategy_params("graphreach", None, hops=1, cycles=3) == {"hops": 1, "tie_break": "lookahead"}
    assert strategy_params("maxspec", {"tie_break": "symbol"}, hops=1, cycles=3) == {"hops": 1, "tie_break": "symbol"}
    assert strategy_params("random", {}, hops=1, cycles=3) == {}
    assert strategy_params("graphreach", {"weights": "candidates"}, hops=1, cycles=3) == {
        "hops": 1,
        "weights": "candidates",
        "tie_break": "lookahead",
    }
    assert strategy_params("facility", None, hops=2, cycles=3) == {"hops": 2}
    with pytest.raises(InputError, match="experiment.strategies.facility.weights"):
        strategy_params("facility", {"weights": "candidates"}, hops=1, cycles=3)
    assert strategy_params("typiclust", None, hops=1, cycles=3) == {
        "controls": 300,
        "neighbours": 20,
        "method": "typiclust",
    }
    with pytest.raises(InputError, match="experiment.strategies.maxspec.hopz"):
        strategy_params("maxspec", {"hopz": 1}, hops=1, cycles=3)
    with pytest.raises(InputError, match="unknown strategy"):
        strategy_params("badge", {}, hops=1, cycles=3)
    assert not set(ONE_SHOT) & set(ACTIVE)


def test_one_shot_parameters_are_the_selectors_keyword_arguments():
    """The parameters a one-shot block may set are exactly what its selector takes (besides what the
    select stage fills in)."""
    import inspect

    from perturb_select.selection.registry import SELECTORS

    assert set(SELECTORS) == set(ONE_SHOT)
    for name, function in SELECTORS.items():
        keywords = {
            p
            for p, spec in inspect.signature(function).parameters.items()
            if spec.kind is inspect.Parameter.KEYWORD_ONLY
        } - {"seed", "source", "screened", "required"}
        assert set(ONE_SHOT_PARAMETERS[name]) == keywords, name


def test_run_labels_round_trip():
    assert run_seeds("7") == (7, 7) and run_seeds("7-9") == (7, 9)
    assert run_label(7, 7) == "7" and run_label(7, 9) == "7-9"
    for split, init in [(0, 0), (1, 5), (4294967295, 3)]:
        assert run_seeds(run_label(split, init)) == (split, init)
    with pytest.raises(ValueError, match="run label"):
        run_seeds("7-")
