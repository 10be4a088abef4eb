"""Rules simulate_dataset and simulate_replicate: a SIMULATED raw-count screen with known truth, drawn on the
GO graph."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.stages.runner import run_snakemake_stage  # first: the test hooks' import trace
from perturb_select.stages.data import simulate_dataset

run_snakemake_stage(
    snakemake,
    simulate_dataset,
    edges=snakemake.input.edges,
    gene_info=snakemake.input.gene_info,
    candidates=snakemake.input.candidates,
    reference=snakemake.input.reference,
    screen_out=snakemake.output.screen,
    truth_out=snakemake.output.truth,
    name=snakemake.wildcards.dataset,
    dataset=snakemake.params.dataset,
    taxid=snakemake.params.taxid,
    hops=snakemake.params.hops,
    replicate=snakemake.wildcards.get("seed"),  # simulate_replicate: the experiment seed; else None
)
