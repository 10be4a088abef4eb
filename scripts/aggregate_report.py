"""Rule aggregate_report: GEARS beside its baselines: summary, paired comparisons, AUC, conclusions, plots."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the library, in conda jobs too

from perturb_select.stages.runner import run_snakemake_stage  # first: the test hooks' import trace
from perturb_select.stages.report import aggregate_report

output = snakemake.output
run_snakemake_stage(
    snakemake,
    aggregate_report,
    metric_files=list(snakemake.input.metrics),
    baseline_files=list(snakemake.input.baselines),
    metrics_out=output.metrics,
    summary_out=output.summary,
    plots={"mse_top20_de": output.mse_plot, "pearson_delta": output.pearson_plot},
    model_plots={"mse_top20_de": output.models_mse_plot, "pearson_delta": output.models_pearson_plot},
    vs_random_plots={"mse_top20_de": output.vs_random_mse_plot, "pearson_delta": output.vs_random_pearson_plot},
    comparison_out=output.comparison,
    auc_out=output.auc,
    conclusions_out=output.conclusions,
    learning_out=output.learning_curves,
    learning_plot=output.learning_plot,
    dataset=snakemake.params.dataset,
    models_out=output.models,
    power_out=output.power,
    simulation=snakemake.params.simulation,
    trainer=snakemake.params.trainer,
)
