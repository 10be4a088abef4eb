"""Rule aggregate_report: summary table (strategy x cycle, mean ± std over seeds) and plots."""
from perturb_select.pipeline import aggregate_report, run_snakemake_stage

run_snakemake_stage(
    snakemake,
    aggregate_report,
    metric_files=list(snakemake.input),
    metrics_out=snakemake.output.metrics,
    summary_out=snakemake.output.summary,
    plots={"mse_top20_de": snakemake.output.mse_plot, "pearson_delta": snakemake.output.pearson_plot},
    dataset=snakemake.params.dataset,
)
