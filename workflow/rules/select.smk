# The per-seed test split and the one-shot rankings (perturb_select.stages.select).


rule split_test_set:
    input:
        candidates="results/data/{dataset}/candidates.tsv",
    output:
        "results/splits/{dataset}/seed{seed}.json",
    log:
        "logs/split_test_set/{dataset}/seed{seed}.log",
    conda:
        "../../envs/numeric.yaml"
    params:
        test_fraction=CONFIG.experiment.test_fraction,
        per_cycle=per_cycle_of,
    script:
        "../../scripts/split_test_set.py"


rule select:
    input:
        edges="results/graph/go_jaccard.npz",
        split=split_file,
    output:
        "results/select/{dataset}/{strategy}/seed{run}.tsv",
    log:
        "logs/select/{dataset}/{strategy}/seed{run}.log",
    benchmark:
        "results/benchmarks/select/{dataset}/{strategy}/seed{run}.tsv"
    wildcard_constraints:
        strategy=_alternatives(ONE_SHOT_STRATEGIES),
    conda:
        "../../envs/numeric.yaml"
    params:
        strategy_params=strategy_params,
        per_cycle=per_cycle_of,
    script:
        "../../scripts/select.py"
