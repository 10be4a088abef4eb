"""Rule graph_kernel: the graph kernels between the dataset's candidates (GO kernel ridge, SGC ridge)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.stages.runner import run_snakemake_stage  # first: the test hooks' import trace
from perturb_select.stages.baselines import graph_kernel

run_snakemake_stage(
    snakemake,
    graph_kernel,
    edges=snakemake.input.edges,
    candidates=snakemake.input.candidates,
    output=snakemake.output[0],
    hops=snakemake.params.hops,
)
