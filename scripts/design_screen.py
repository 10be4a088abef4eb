"""Rule design_screen: one configured design -> ranked picks, unresolved queries, coverage plot, summary."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.stages.runner import run_snakemake_stage  # first: the test hooks' import trace
from perturb_select.stages.design import design_screen

run_snakemake_stage(
    snakemake,
    design_screen,
    edges=snakemake.input.edges,
    gene_info=snakemake.input.gene_info,
    table_out=snakemake.output.table,
    unresolved_out=snakemake.output.unresolved,
    plot_out=snakemake.output.plot,
    summary_out=snakemake.output.summary,
    name=snakemake.wildcards.design,
    design=snakemake.params.design,
    default_hops=snakemake.params.default_hops,
    taxid=snakemake.params.taxid,
)
