"""Rule preprocess_dataset: raw-count screen -> GEARS layout with DE genes; candidates and dropped."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.pipeline import preprocess_dataset, run_snakemake_stage

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
    dataset=snakemake.params.dataset,
    taxid=snakemake.params.taxid,
)
