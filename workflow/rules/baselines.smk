# The graph kernels of the GO kernel ridge and SGC ridge baselines, once per dataset (perturb_select.stages.baselines).
# The baselines themselves are scored by the training jobs, on the same picks and split as GEARS; with
# gears.trainer: none, by score_baselines, in a job of their own (no torch).


rule graph_kernel:
    input:
        edges="results/graph/go_jaccard.npz",
        candidates="results/data/{dataset}/candidates.tsv",
    output:
        output="results/baselines/{dataset}/kernels.npz",
    log:
        "logs/graph_kernel/{dataset}.log",
    benchmark:
        "results/benchmarks/graph_kernel/{dataset}.tsv"
    conda:
        "../../envs/numeric.yaml"
    params:
        hops=CONFIG.training.num_go_gnn_layers,
    script:
        "../../scripts/run_stage.py"


rule score_baselines:
    input:
        unpack(get_scoring_inputs),
        kernels="results/baselines/{dataset}/kernels.npz",
        split=get_split,
        selection="results/select/{dataset}/{strategy}/seed{run}.tsv",
    output:
        baselines_out="results/baselines/{dataset}/{strategy}/seed{run}/cycle{cycle}.json",
    log:
        "logs/score_baselines/{dataset}/{strategy}/seed{run}/cycle{cycle}.log",
    benchmark:
        "results/benchmarks/score_baselines/{dataset}/{strategy}/seed{run}/cycle{cycle}.tsv"
    wildcard_constraints:
        strategy=_alternatives(BASELINE_ONLY_STRATEGIES),
    conda:
        "../../envs/numeric.yaml"
    params:
        perturbations_per_cycle=get_perturbations_per_cycle,
        dataset="{dataset}",
        strategy="{strategy}",
        run="{run}",
        cycle=lambda wildcards: int(wildcards.cycle),
    script:
        "../../scripts/run_stage.py"
