"""Rules design_screen (one configured design) and design (the summary table of all designs)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.pipeline import design, design_summary, run_snakemake_stage

if snakemake.rule == "design":
    run_snakemake_stage(
        snakemake,
        design_summary,
        summaries=dict(zip(snakemake.params.designs, snakemake.input.summaries)),
        output=snakemake.output[0],
    )
else:
    entry = snakemake.params.design
    run_snakemake_stage(
        snakemake,
        design,
        edges=snakemake.input.edges,
        gene_info=snakemake.input.gene_info,
        genes=snakemake.input.genes,
        table_out=snakemake.output.table,
        unresolved_out=snakemake.output.unresolved,
        plot_out=snakemake.output.plot,
        summary_out=snakemake.output.summary,
        budget=entry["budget"],
        cycles=entry["cycles"],
        batch=entry["batch"],
        screened=snakemake.input.get("screened"),
        require=snakemake.input.get("require"),
        exclude=snakemake.input.get("exclude"),
        method=entry["method"],
        hops=entry["hops"],
        taxid=snakemake.params.taxid,
        seed=entry["seed"],
        source=f"config: design.{snakemake.wildcards.design}",
    )
