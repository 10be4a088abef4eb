rule select:
    input:
        edges="results/graph/go_jaccard.npz",
        split=split_file,
    output:
        "results/select/{dataset}/{strategy}/seed{seed}.tsv",
    log:
        "logs/select/{dataset}/{strategy}/seed{seed}.log",
    benchmark:
        "results/benchmarks/select/{dataset}/{strategy}/seed{seed}.tsv"
    wildcard_constraints:
        strategy=_alternatives(ONE_SHOT_STRATEGIES),
    conda:
        "../../envs/go.yaml"
    params:
        strategy_params=strategy_params,
        batch_size=batch_size_of,
    script:
        "../../scripts/select.py"


rule select_active:
    input:
        unpack(active_select_inputs),
    output:
        "results/select/{dataset}/{strategy}/seed{seed}/cycle{cycle}.tsv",
    log:
        "logs/select_active/{dataset}/{strategy}/seed{seed}/cycle{cycle}.log",
    benchmark:
        "results/benchmarks/select_active/{dataset}/{strategy}/seed{seed}/cycle{cycle}.tsv"
    wildcard_constraints:
        strategy=_alternatives(ACTIVE_STRATEGIES),
    conda:
        "../../envs/active.yaml"
    params:
        strategy_params=strategy_params,
        batch_size=batch_size_of,
    script:
        "../../scripts/select_active.py"
