"""Rule aggregate_report: GEARS beside its baselines: summary, paired comparisons, AUC, conclusions, plots."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.pipeline import aggregate_report, run_snakemake_stage

run_snakemake_stage(
    snakemake,
    aggregate_report,
    metric_files=list(snakemake.input.metrics),
    baseline_files=list(snakemake.input.baselines),
    metrics_out=snakemake.output.metrics,
    summary_out=snakemake.output.summary,
    plots={"mse_top20_de": snakemake.output.mse_plot, "pearson_delta": snakemake.output.pearson_plot},
    dataset=snakemake.params.dataset,
    learning_out=snakemake.output.learning_curves,
    learning_plot=snakemake.output.learning_plot,
    model_plots={"mse_top20_de": snakemake.output.models_mse_plot,
                 "pearson_delta": snakemake.output.models_pearson_plot},
    comparison_out=snakemake.output.comparison,
    auc_out=snakemake.output.auc,
    conclusions_out=snakemake.output.conclusions,
)
