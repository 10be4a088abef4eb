"""Rule evaluate: top-20 DE MSE, Pearson and Pearson delta of one run."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.pipeline import evaluate, run_snakemake_stage

run_snakemake_stage(
    snakemake,
    evaluate,
    predictions=snakemake.input[0],
    output=snakemake.output[0],
    wildcards=dict(snakemake.wildcards.items()),
)
