"""evaluation.verdict and benchmarks/gears_verdict.py: the table's writer, GEARS's printed learning curve, and the
quick mode's smallest piece end to end on a tiny SIMULATED screen over a random graph (seconds)."""

import sys

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from perturb_select.evaluation.verdict import VERDICT_COLUMNS, parse_gears_log, verdict_rows, write_verdict_tsv

sys.path.insert(0, str(REPO / "benchmarks"))

# What GEARS.train (cell-gears 0.1.2) prints per epoch, between its step lines
GEARS_LOG = """Start Training...
Epoch 1 Step 1 Train Loss: 0.5123
Epoch 1: Train Overall MSE: 0.0596 Validation Overall MSE: 0.0678. 
Train Top 20 DE MSE: 0.2439 Validation Top 20 DE MSE: 0.2902. 
Epoch 2 Step 1 Train Loss: 0.4100
Epoch 2: Train Overall MSE: 0.0512 Validation Overall MSE: 0.0601. 
Train Top 20 DE MSE: 0.2201 Validation Top 20 DE MSE: 0.3010. 
Done!
"""


def test_parse_gears_log_reads_every_epoch():
    curve = parse_gears_log(GEARS_LOG)
    assert curve.columns.tolist() == ["epoch", "train_mse", "val_mse", "train_mse_top20_de", "val_mse_top20_de"]
    assert curve["epoch"].tolist() == [1, 2]
    assert curve["val_mse_top20_de"].tolist() == [0.2902, 0.3010]
    assert curve["train_mse"].tolist() == [0.0596, 0.0512]
    assert parse_gears_log("Start Training...\nDone!").empty
    with pytest.raises(ValueError, match="1 epoch lines but 0"):
        parse_gears_log(GEARS_LOG.split("Train Top 20")[0])


def _scores(mse, n=3):
    return {"n_perturbations": n, "mean": {"mse_top20_de": mse, "pearson_delta": 0.5}}


def test_verdict_rows_and_writer(tmp_path):
    keys = {"screen": "simulated_kernel_gs0.9", "mechanism": "kernel", "graph_signal": 0.9, "cycle": 2, "seed": 1}
    rows = verdict_rows(
        keys,
        {"test": _scores(0.3), "train": _scores(0.2, 5)},
        model="gears",
        trainer="perturbations",
        schedule="early stopping",
        epochs=12,
        best_epoch=4,
        budget_epochs=40,
        stopped_early=True,
        cpu_s=3.0,
    )
    rows += verdict_rows(keys, {"test": _scores(0.25)}, model="train_mean", cpu_s=0.1)
    assert [r["split"] for r in rows] == ["test", "train", "test"]
    frame = write_verdict_tsv(rows, tmp_path / "verdict_simulated.tsv")
    back = pd.read_csv(tmp_path / "verdict_simulated.tsv", sep="\t")
    assert back.columns.tolist() == list(VERDICT_COLUMNS) == frame.columns.tolist()
    assert back["mse_top20_de"].tolist() == [0.3, 0.2, 0.25]
    assert back["n_perturbations"].tolist() == [3, 5, 3]
    assert back["epochs"].isna().tolist() == [False, False, True]
    with pytest.raises(ValueError, match="SIMULATED"):
        write_verdict_tsv([{**rows[0], "screen": "papalexi"}], tmp_path / "x.tsv")
    with pytest.raises(ValueError, match="splits"):
        write_verdict_tsv([{**rows[0], "split": "val"}], tmp_path / "x.tsv")
    with pytest.raises(ValueError, match="mse_top20_de"):
        write_verdict_tsv([{k: v for k, v in rows[0].items() if k != "mse_top20_de"}], tmp_path / "x.tsv")
    assert not (tmp_path / "x.tsv").exists()


def _random_graph(n=80, seed=0):
    from perturb_select.knowledge.graph import KnowledgeGraph

    rng = np.random.default_rng(seed)
    genes = [f"G{i:03d}" for i in range(n)]
    rows = [
        (s, t, float(rng.uniform(0.1, 1.0)))
        for t in genes
        for s in rng.choice([g for g in genes if g != t], 3, replace=False)
    ]
    return KnowledgeGraph.from_edges(pd.DataFrame(rows, columns=["source", "target", "importance"]))


@pytest.mark.gears
def test_quick_mode_smallest_piece_end_to_end(tmp_path, capsys):
    """One tiny SIMULATED screen, one cycle: the reference models on both splits, the perturbations trainer with
    its in-sample predictions, the table, the mechanism shares, the report and the figure."""
    import gears_verdict as bench
    from perturb_select.config import SimulationConfig, TrainingConfig
    from perturb_select.evaluation.mechanism import field_coverage, unreached_weight
    from perturb_select.evaluation.verdict import (
        GoInputs,
        cached_graph_kernels,
        gears_scores,
        reference_scores,
        simulated_case,
    )
    from perturb_select.experiment.splits import split_test_set
    from perturb_select.gears.common import split_validation
    from perturb_select.screens.simulated import ControlModel

    graph = _random_graph()
    rng = np.random.default_rng(1)
    control = ControlModel(
        means=rng.gamma(2.0, 1.0, 200), dispersions=np.full(200, 0.2), log_library_sd=0.3, source="made up"
    )
    candidates = graph.genes[:40].tolist()
    settings = SimulationConfig(
        graph_signal=0.9,
        n_genes=60,
        cells_per_perturbation=8,
        control_cells=40,
        truth_cells=20,
        programmes=3,
        genes_per_programme=20,
    )
    case = simulated_case(graph, candidates, control, settings, seed=0)
    assert case.name == "simulated_kernel_gs0.9" and case.candidates == candidates
    assert set(case.truth) == {"ctrl"} | {f"{g}+ctrl" for g in candidates}
    kernels = cached_graph_kernels(graph, case.candidates, 1, tmp_path / "cache", betas=(1.0, 4.0))
    again = cached_graph_kernels(graph, case.candidates, 1, tmp_path / "cache", betas=(1.0, 4.0))
    np.testing.assert_array_equal(kernels.diffusion, again.diffusion)
    assert len(list((tmp_path / "cache").iterdir())) == 1

    split = split_test_set(case.candidates, test_fraction=0.2, seed=1)
    picks, test = split["pool"][:20], split["test"]
    fitted = [c.split("+")[0] for c in split_validation(picks, 0.1, 1)[0]]
    references = reference_scores(case, kernels, picks, fitted, test)
    assert references["train"]["models"]["train_mean"]["n_perturbations"] == len(fitted) == 18
    assert (
        references["test"]["models"]["oracle"]["mean"]["mse_top20_de"]
        < references["test"]["models"]["no_change"]["mean"]["mse_top20_de"]
    )
    keys = {"screen": case.name, "mechanism": case.mechanism, "graph_signal": 0.9, "cycle": 1, "seed": 1}
    rows = []
    for model in references["test"]["models"]:
        rows += verdict_rows(keys, {s: references[s]["models"][model] for s in references}, model=model)
    config = TrainingConfig(
        trainer="perturbations", epochs=4, patience=2, hidden_size=8, device="cpu", perturbations_per_step=4
    )
    go = GoInputs(graph=graph, gene2go_path=tmp_path / "unused.pkl", key="test")
    result, curve, cpu_s, wall_s = bench.run_gears(config, case, go, picks, test, 1, tmp_path)
    assert result.train_predictions.conditions.tolist() == [f"{g}+ctrl" for g in fitted]
    info = bench.curve_columns(config, curve)
    assert info["epochs"] == len(curve) <= 4 and 1 <= info["best_epoch"] <= info["epochs"]
    rows += verdict_rows(
        keys,
        gears_scores(result),
        model="gears",
        trainer="perturbations",
        schedule="s",
        **info,
        cpu_s=cpu_s,
        wall_s=wall_s,
    )
    table = write_verdict_tsv(rows, tmp_path / "verdict_simulated.tsv")
    assert set(table["split"]) == {"test", "train"}
    assert (table.groupby("model")["split"].nunique() == 2).all()

    coverage, unreached = field_coverage(graph, test, picks, 1), unreached_weight(graph, test, picks, 1)
    assert ((coverage >= 0) & (coverage <= 1)).all() and ((unreached >= 0) & (unreached <= 1)).all()
    per = {
        ("train_mean", "", ""): references["test"]["models"]["train_mean"]["per_perturbation"],
        ("go_kernel_ridge", "", ""): references["test"]["models"]["go_kernel_ridge"]["per_perturbation"],
        ("gears", "perturbations", "s"): gears_scores(result)["test"]["per_perturbation"],
    }
    mechanism = pd.DataFrame(
        [
            {
                **keys,
                "perturbation": g,
                "field_coverage": c,
                "unreached_weight": u,
                "model": m,
                "trainer": t,
                "schedule": s,
                "mse_top20_de": errors[f"{g}+ctrl"]["mse_top20_de"],
            }
            for g, c, u in zip(test, coverage, unreached)
            for (m, t, s), errors in per.items()
        ]
    )
    curves = curve.assign(**keys, trainer="perturbations", schedule="s")
    bench.report(table, mechanism, curves, {("perturbations", "s"): config}, "oracle")
    printed = capsys.readouterr().out
    assert "beats_train_mean" in printed and "by field_coverage" in printed and "gears/perturbations" in printed
    bench.figure(table, tmp_path / "verdict_simulated.png", quick=True)
    assert (tmp_path / "verdict_simulated.png").stat().st_size > 1000
