#!/usr/bin/env python
"""MaxSpec's readings and the tie rules, measured (issue 25): on the Replogle 2022 K562 essential list (1,085
candidates resolved to GO-graph nodes, budget 500) and on the Papalexi 2021 screen's 25 perturbations.

    .venv/bin/python benchmarks/maxspec_readings.py                 # ~7 min on 2 shared cores
    .venv/bin/python benchmarks/maxspec_readings.py --quick         # K562 budget 100, a smaller exact check

Per reading of MaxSpec (operator whole_graph | induced x direction maximize | minimize), the criterion after
every pick, how many picks a tie decided (the criterion equal for two candidates, so GraphReach's gain and
then the tie rule decided), coverage of the GO graph at 100/200/500 picks, and the overlap of the picks with
GraphReach's. The shortlist against the plain (exact) greedy over all picks on a subset of candidates where
the exact one is affordable. For GraphReach's tie rules (symbol, lookahead, seeded over 10 seeds): ties,
coverage at the budget, and how much the one-shot set changes between seeds (Jaccard of the first cycle's 100
picks and of all 500). Writes results/benchmarks/maxspec_readings{,_curves,_ties}.tsv and docs/figures/
maxspec_readings.svg. Uses the main job's results/graph/go_jaccard.npz when it exists, else builds the graph.
"""

from __future__ import annotations

import argparse
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA = ROOT.parent / "shared" / "data"

READINGS = [("whole_graph", "maximize"), ("whole_graph", "minimize"), ("induced", "maximize"), ("induced", "minimize")]


def load_graph():
    from perturb_select.knowledge.build import GoFiles, build_knowledge_graph
    from perturb_select.knowledge.graph import KnowledgeGraph

    cached = ROOT / "results" / "graph" / "go_jaccard.npz"
    if cached.exists():
        return KnowledgeGraph.read_npz(cached)
    go = DATA / "go"
    return build_knowledge_graph(
        GoFiles(gene2go=go / "gene2go_human.gz", obo=go / "go-basic.obo", gene_info=go / "Homo_sapiens.gene_info.gz")
    ).graph


def k562_candidates(graph) -> list[str]:
    from perturb_select.knowledge.symbols import SymbolResolver

    resolver = SymbolResolver.from_gene_info(
        DATA / "go" / "Homo_sapiens.gene_info.gz", universe=set(graph.genes), taxid=9606
    )
    path = DATA / "genelists" / "replogle2022_k562_essential_1092_genes.txt"
    symbols = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return sorted({r.symbol for r in map(resolver.resolve, symbols) if r.ok})


def papalexi_candidates(graph) -> list[str]:
    """The screen's perturbations that are graph nodes (the pipeline's candidates.tsv when it exists)."""
    processed = ROOT / "results" / "data" / "papalexi2021" / "candidates.tsv"
    if processed.exists():
        genes = pd.read_csv(processed, sep="\t")["gene"].astype(str)
    else:
        import anndata

        adata = anndata.read_h5ad(DATA / "perturbseq" / "papalexi2021_thp1.h5ad", backed="r")
        genes = pd.Series(adata.obs["perturbation"].astype(str).unique())
        genes = genes[genes != "non-targeting"]
    return sorted(g for g in genes if g in graph)


def coverage_curve(graph, genes, hops=1) -> np.ndarray:
    """Nodes of the graph inside the union of the picks' receptive fields, after each pick."""
    from perturb_select.knowledge.graph import perturbation_fields

    fields = perturbation_fields(graph, list(genes), hops).tocsr()
    covered = np.zeros(graph.n_nodes, dtype=bool)
    out = np.empty(len(genes), dtype=np.int64)
    for i in range(len(genes)):
        covered[fields.indices[fields.indptr[i] : fields.indptr[i + 1]]] = True
        out[i] = covered.sum()
    return out


def readings(graph, name, candidates, budget, checkpoints):
    from perturb_select.selection.graphreach import graphreach
    from perturb_select.selection.maxspec import maxspec

    reach = graphreach(graph, candidates, budget, hops=1)
    rows, curves = [], []
    for operator, direction in READINGS:
        start = time.perf_counter()
        sel = maxspec(graph, candidates, budget, hops=1, operator=operator, direction=direction)
        seconds = time.perf_counter() - start
        cover = coverage_curve(graph, sel.genes)
        row = {
            "candidates": name,
            "operator": operator,
            "direction": direction,
            "budget": budget,
            "seconds": round(seconds, 1),
            "ties": sel.ties,
            "first_tie": int(np.argmax(sel.tied)) + 1 if sel.tied.any() else 0,
            "criterion_first": sel.objective[0],
            "criterion_last": sel.objective[-1],
            "distinct_criterion_values": int(np.unique(np.round(sel.objective, 9)).size),
        }
        for c in checkpoints:
            if c <= budget:
                row[f"coverage_{c}"] = int(cover[c - 1])
                row[f"overlap_graphreach_{c}"] = len(set(sel.genes[:c]) & set(reach.genes[:c]))
        rows.append(row)
        curves.append(
            pd.DataFrame(
                {
                    "candidates": name,
                    "operator": operator,
                    "direction": direction,
                    "pick": np.arange(1, budget + 1),
                    "criterion": sel.objective,
                    "tie": sel.tied.astype(int),
                    "covered_nodes": cover,
                }
            )
        )
        print(
            f"{name} {operator:>11} {direction:>8}: {seconds:6.1f} s, {sel.ties} ties, "
            f"c {sel.objective[0]:.6f} -> {sel.objective[-1]:.6f}",
            flush=True,
        )
    reach_cover = coverage_curve(graph, reach.genes)
    rows.append(
        {
            "candidates": name,
            "operator": "graphreach",
            "direction": "",
            "budget": budget,
            "ties": reach.ties,
            **{f"coverage_{c}": int(reach_cover[c - 1]) for c in checkpoints if c <= budget},
        }
    )
    return rows, curves


def shortlist_check(graph, candidates, budget, seed=25):
    """Shortlisted against plain greedy (every candidate exact each step) on a random subset."""
    from perturb_select.selection.maxspec import maxspec

    rng = np.random.default_rng(seed)
    subset = sorted(rng.choice(candidates, size=min(200, len(candidates)), replace=False).tolist())
    rows = []
    for operator, direction in READINGS:
        fast = maxspec(graph, subset, budget, hops=1, operator=operator, direction=direction)
        start = time.perf_counter()
        exact = maxspec(graph, subset, budget, hops=1, operator=operator, direction=direction, shortlist=None)
        same = next((i for i, (a, b) in enumerate(zip(fast.genes, exact.genes)) if a != b), budget)
        rows.append(
            {
                "operator": operator,
                "direction": direction,
                "subset": len(subset),
                "budget": budget,
                "same_prefix": same,
                "shared_picks": len(set(fast.genes) & set(exact.genes)),
                "criterion_shortlist": fast.objective[-1],
                "criterion_exact": exact.objective[-1],
                "exact_seconds": round(time.perf_counter() - start, 1),
            }
        )
        print(
            f"shortlist check {operator} {direction}: same first {same} of {budget}, {rows[-1]['shared_picks']} shared",
            flush=True,
        )
    return rows


def tie_rules(graph, candidates, budget, seeds, perturbations_per_cycle=100):
    from perturb_select.selection.graphreach import graphreach

    rows = []
    for rule in ("symbol", "lookahead", "seeded"):
        picks = []
        for seed in seeds if rule == "seeded" else seeds[:1]:
            sel = graphreach(graph, candidates, budget, hops=1, tie_break=rule, seed=seed)
            picks.append(sel)
        first = [set(s.genes[:perturbations_per_cycle]) for s in picks]
        whole = [set(s.genes) for s in picks]

        def jaccard(sets):
            """Mean Jaccard index over the pairs of runs (1 for a single, deterministic run)."""
            return np.mean([len(a & b) / len(a | b) for a, b in combinations(sets, 2)]) if len(sets) > 1 else 1.0

        rows.append(
            {
                "rule": rule,
                "seeds": len(picks),
                "ties_mean": np.mean([s.ties for s in picks]),
                "ties_in_first_cycle": np.mean([s.tied[:perturbations_per_cycle].sum() for s in picks]),
                "coverage_at_budget_mean": np.mean([s.objective[-1] for s in picks]),
                "coverage_at_budget_min": np.min([s.objective[-1] for s in picks]),
                "coverage_at_100_mean": np.mean([s.objective[min(perturbations_per_cycle, budget) - 1] for s in picks]),
                "jaccard_first_cycle": jaccard(first),
                "jaccard_all": jaccard(whole),
            }
        )
        print(f"tie rule {rule}: {rows[-1]}", flush=True)
    return rows


def plot(curves: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(curves["candidates"]))
    fig, axes = plt.subplots(len(names), 2, figsize=(11, 3.6 * len(names)), squeeze=False)
    for r, name in enumerate(names):
        for c, operator in enumerate(("whole_graph", "induced")):
            ax = axes[r, c]
            for direction, style in (("maximize", "-"), ("minimize", "--")):
                part = curves[
                    (curves.candidates == name) & (curves.operator == operator) & (curves.direction == direction)
                ]
                ax.plot(part["pick"], part["criterion"], style, label=direction)
                ties = part[part["tie"] == 1]
                ax.plot(ties["pick"], ties["criterion"], "|", color="grey", markersize=4)
            ax.set_title(f"{name}: operator {operator}", fontsize=10)
            ax.set_xlabel("pick")
            ax.set_ylabel("spectral norm c(S)")
            ax.legend(title="direction (| = pick decided by a tie)", fontsize=8, title_fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Date": None})
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="K562 budget 100, exact check budget 20")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "results" / "benchmarks")
    parser.add_argument("--figure", type=Path, default=ROOT / "docs" / "figures" / "maxspec_readings.svg")
    args = parser.parse_args(argv)
    graph = load_graph()
    budget = 100 if args.quick else 500
    k562 = k562_candidates(graph)
    papalexi = papalexi_candidates(graph)
    rows, curves = readings(graph, "replogle_k562", k562, budget, (100, 200, 500))
    more_rows, more_curves = readings(graph, "papalexi2021", papalexi, len(papalexi), ())
    summary = pd.DataFrame(rows + more_rows)
    check = pd.DataFrame(shortlist_check(graph, k562, 20 if args.quick else 60))
    ties = pd.DataFrame(tie_rules(graph, k562, budget, list(range(1, 11))))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    summary.to_csv(args.output_dir / "maxspec_readings.tsv", sep="\t", index=False)
    check.to_csv(args.output_dir / "maxspec_readings_shortlist.tsv", sep="\t", index=False)
    ties.to_csv(args.output_dir / "maxspec_readings_ties.tsv", sep="\t", index=False)
    curve_table = pd.concat(curves + more_curves, ignore_index=True)
    curve_table.to_csv(args.output_dir / "maxspec_readings_curves.tsv", sep="\t", index=False)
    plot(curve_table, args.figure)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(summary.to_string(index=False))
        print(check.to_string(index=False))
        print(ties.to_string(index=False))
    print(f"wrote {args.output_dir}/maxspec_readings*.tsv and {args.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
