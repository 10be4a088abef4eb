# The runs aggregated over seeds, compared and plotted; the stability of the picks
# (perturb_select.stages.report).


rule aggregate_report:
    input:
        metric_files=get_metric_files,
        baseline_files=get_baseline_files,
    output:
        metrics_out="results/report/{dataset}/metrics.tsv",
        summary_out=report(
            "results/report/{dataset}/summary.tsv",
            caption="../report/summary.rst",
            category="Results",
            subcategory="{dataset}",
        ),
        mse_plot=report(
            "results/report/{dataset}/mse_top20_de.svg",
            caption="../report/mse_top20_de.rst",
            category="Results",
            subcategory="{dataset}",
        ),
        pearson_plot=report(
            "results/report/{dataset}/pearson_delta.svg",
            caption="../report/pearson_delta.rst",
            category="Results",
            subcategory="{dataset}",
        ),
        vs_random_mse_plot=report(
            "results/report/{dataset}/vs_random_mse_top20_de.svg",
            caption="../report/vs_random.rst",
            category="Results",
            subcategory="{dataset}",
        ),
        vs_random_pearson_plot=report(
            "results/report/{dataset}/vs_random_pearson_delta.svg",
            caption="../report/vs_random.rst",
            category="Results",
            subcategory="{dataset}",
        ),
        models_mse_plot=report(
            "results/report/{dataset}/models_mse_top20_de.svg",
            caption="../report/models.rst",
            category="Baselines",
            subcategory="{dataset}",
        ),
        models_pearson_plot=report(
            "results/report/{dataset}/models_pearson_delta.svg",
            caption="../report/models.rst",
            category="Baselines",
            subcategory="{dataset}",
        ),
        comparison_out=report(
            "results/report/{dataset}/comparison.tsv",
            caption="../report/comparison.rst",
            category="Baselines",
            subcategory="{dataset}",
        ),
        auc_out=report(
            "results/report/{dataset}/auc.tsv",
            caption="../report/auc.rst",
            category="Baselines",
            subcategory="{dataset}",
        ),
        conclusions_out=report(
            "results/report/{dataset}/conclusions.txt",
            caption="../report/conclusions.rst",
            category="Results",
            subcategory="{dataset}",
        ),
        models_out=report(
            "results/report/{dataset}/models.tsv",
            caption="../report/models_table.rst",
            category="Baselines",
            subcategory="{dataset}",
        ),
        power_out=report(
            "results/report/{dataset}/power.tsv",
            caption="../report/power.rst",
            category="Baselines",
            subcategory="{dataset}",
        ),
        learning_out="results/report/{dataset}/learning_curves.tsv",
        learning_plot=report(
            "results/report/{dataset}/learning_curves.svg",
            caption="../report/learning_curves.rst",
            category="Results",
            subcategory="{dataset}",
        ),
    log:
        "logs/aggregate_report/{dataset}.log",
    conda:
        "../../envs/numeric.yaml"
    params:
        dataset="{dataset}",
        simulation=get_simulation,
        trainer=CONFIG.training.trainer,
    script:
        "../../scripts/run_stage.py"


rule stability:
    input:
        get_stability_files,
    output:
        table_out="results/report/{dataset}/stability.tsv",
        plot_out=report(
            "results/report/{dataset}/stability.svg",
            caption="../report/stability.rst",
            category="Results",
            subcategory="{dataset}",
        ),
    log:
        "logs/stability/{dataset}.log",
    conda:
        "../../envs/numeric.yaml"
    params:
        runs=get_stability_runs,
        kinds={
            s: ("active" if s in ACTIVE_STRATEGIES else "one-shot")
            for s in sorted(STRATEGIES)
        },
        perturbations_per_cycle=get_perturbations_per_cycle,
        cycles=CONFIG.experiment.cycles,
        dataset="{dataset}",
        simulated=lambda wildcards: wildcards.dataset in SIMULATED_DATASETS,
    script:
        "../../scripts/run_stage.py"


rule simulated_map:
    input:
        metrics=expand(
            "results/report/{dataset}/metrics.tsv", dataset=SIMULATED_DATASETS
        ),
    output:
        table_out=report(
            "results/report/simulated_map.tsv",
            caption="../report/simulated_map.rst",
            category="SIMULATED map",
        ),
        figure_out=report(
            "results/report/simulated_map.svg",
            caption="../report/simulated_map.rst",
            category="SIMULATED map",
        ),
    log:
        "logs/simulated_map.log",
    conda:
        "../../envs/numeric.yaml"
    params:
        datasets=SIMULATED_DATASETS,
        truths=get_simulated_truths(),
        cycles=get_map_cycles(),
    script:
        "../../scripts/run_stage.py"
