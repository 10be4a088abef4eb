"""Rules fetch_go_annotation, fetch_dataset: copy from the mirror or download, verify sha256."""
from perturb_select.pipeline import fetch, run_snakemake_stage

run_snakemake_stage(snakemake, fetch, output=snakemake.output[0], **snakemake.params.source)
