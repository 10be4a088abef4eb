"""Rule build_go_graph: GEARS's Jaccard GO graph from gene2go, go-basic.obo and gene_info."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.stages.runner import run_snakemake_stage  # first: the test hooks' import trace
from perturb_select.stages.go import build_go_graph

run_snakemake_stage(
    snakemake,
    build_go_graph,
    gene2go=snakemake.input.gene2go,
    obo=snakemake.input.obo,
    gene_info=snakemake.input.gene_info,
    edges_out=snakemake.output.edges,
    npz_out=snakemake.output.npz,
    stats_out=snakemake.output.stats,
    gene2go_out=snakemake.output.gene2go,
    graph=snakemake.params.graph,
    taxid=snakemake.params.taxid,
)
