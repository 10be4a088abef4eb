"""Rule graph_kernel: diffusion kernels between the dataset's candidates (for the GO kernel ridge baseline)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.pipeline import graph_kernels, run_snakemake_stage

run_snakemake_stage(
    snakemake,
    graph_kernels,
    edges=snakemake.input.edges,
    candidates=snakemake.input.candidates,
    output=snakemake.output[0],
)
