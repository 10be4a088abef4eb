rule select:
    input:
        edges="results/graph/go_jaccard.npz",
        split="results/splits/{dataset}/seed{seed}.json",
    output:
        "results/select/{dataset}/{strategy}/seed{seed}.tsv",
    params:
        strategy_params=strategy_params,
        cycles=config["experiment"]["cycles"],
        batch_size=config["experiment"]["batch_size"],
    log:
        "logs/select/{dataset}/{strategy}/seed{seed}.log",
    benchmark:
        "results/benchmarks/select/{dataset}/{strategy}/seed{seed}.tsv"
    conda:
        "../../envs/go.yaml"
    script:
        "../../scripts/select.py"
