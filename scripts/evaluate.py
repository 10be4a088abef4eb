"""Rule evaluate: top-20 DE MSE, Pearson and Pearson delta of one run."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.stages.runner import run_snakemake_stage  # first: the test hooks' import trace
from perturb_select.stages.evaluate import evaluate

wildcards = snakemake.wildcards
run_snakemake_stage(
    snakemake,
    evaluate,
    predictions=snakemake.input[0],
    output=snakemake.output[0],
    dataset=wildcards.dataset,
    strategy=wildcards.strategy,
    seed=int(wildcards.seed),
    cycle=int(wildcards.cycle),
)
