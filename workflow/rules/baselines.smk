# The graph kernels of the GO kernel ridge and SGC ridge baselines, once per dataset (perturb_select.stages.baselines).
# The baselines themselves are scored by the training jobs, on the same picks and split as GEARS.


rule graph_kernel:
    input:
        edges="results/graph/go_jaccard.npz",
        candidates="results/data/{dataset}/candidates.tsv",
    output:
        "results/baselines/{dataset}/kernels.npz",
    log:
        "logs/graph_kernel/{dataset}.log",
    benchmark:
        "results/benchmarks/graph_kernel/{dataset}.tsv"
    conda:
        "../../envs/numeric.yaml"
    params:
        hops=CONFIG.training.num_go_gnn_layers,
    script:
        "../../scripts/graph_kernel.py"
