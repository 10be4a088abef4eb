"""Rules preprocess_dataset and preprocess_replicate: a screen -> GEARS layout with DE genes, its arrays;
candidates and dropped."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.stages.runner import run_snakemake_stage  # first: the test hooks' import trace
from perturb_select.stages.data import preprocess_dataset

run_snakemake_stage(
    snakemake,
    preprocess_dataset,
    screen=snakemake.input.screen,
    edges=snakemake.input.edges,
    gene_info=snakemake.input.gene_info,
    adata_out=snakemake.output.adata,
    arrays_out=snakemake.output.arrays,
    candidates_out=snakemake.output.candidates,
    dropped_out=snakemake.output.dropped,
    name=snakemake.wildcards.dataset,
    dataset=snakemake.params.dataset,
    taxid=snakemake.params.taxid,
    dataset_candidates=snakemake.input.get("dataset_candidates"),  # preprocess_replicate
)
