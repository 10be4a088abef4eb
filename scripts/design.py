"""Rule design: the summary table of every configured design."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.stages.runner import run_snakemake_stage  # first: the test hooks' import trace
from perturb_select.stages.design import design

run_snakemake_stage(
    snakemake, design, summaries=dict(zip(snakemake.params.designs, snakemake.input.summaries)), output=snakemake.output[0]
)
