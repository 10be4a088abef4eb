"""Rule simulated_candidates: a replicated SIMULATED dataset's candidates, once for all its replicates."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.stages.runner import run_snakemake_stage  # first: the test hooks' import trace
from perturb_select.stages.data import simulated_candidates

run_snakemake_stage(
    snakemake,
    simulated_candidates,
    candidates=snakemake.input.candidates,
    edges=snakemake.input.edges,
    gene_info=snakemake.input.gene_info,
    candidates_out=snakemake.output.candidates,
    name=snakemake.wildcards.dataset,
    dataset=snakemake.params.dataset,
    taxid=snakemake.params.taxid,
)
