"""Rule evaluate: top-20 DE MSE, Pearson and Pearson delta of one run."""
from perturb_select.pipeline import evaluate, run_snakemake_stage

run_snakemake_stage(
    snakemake,
    evaluate,
    predictions=snakemake.input[0],
    output=snakemake.output[0],
    wildcards=dict(snakemake.wildcards.items()),
)
