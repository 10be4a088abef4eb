# The per-seed test split and the one-shot rankings (perturb_select.stages.select).


rule split_test_set:
    input:
        candidates="results/data/{dataset}/candidates.tsv",
    output:
        output="results/splits/{dataset}/seed{seed}.json",
    log:
        "logs/split_test_set/{dataset}/seed{seed}.log",
    conda:
        "../../envs/numeric.yaml"
    params:
        # what the split depends on, no more: adding a cycle or changing perturbations_per_cycle keeps it
        seed=lambda wildcards: int(wildcards.seed),
        test_fraction=CONFIG.experiment.test_fraction,
    script:
        "../../scripts/run_stage.py"


rule select:
    input:
        edges="results/graph/go_jaccard.npz",
        split=get_split,
    output:
        output="results/select/{dataset}/{strategy}/seed{run}.tsv",
    log:
        "logs/select/{dataset}/{strategy}/seed{run}.log",
    benchmark:
        "results/benchmarks/select/{dataset}/{strategy}/seed{run}.tsv"
    wildcard_constraints:
        strategy=_alternatives(ONE_SHOT_STRATEGIES),
    conda:
        "../../envs/numeric.yaml"
    params:
        strategy="{strategy}",
        seed=get_init_seed,  # random's permutation
        strategy_params=get_strategy_params,
        perturbations_per_cycle=get_perturbations_per_cycle,
    script:
        "../../scripts/run_stage.py"
