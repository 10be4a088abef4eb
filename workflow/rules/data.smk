# A screen, fetched (or, SIMULATED, drawn) and brought into GEARS's layout (perturb_select.stages.data).


rule fetch_dataset:
    input:
        dataset_mirror_input,
    output:
        "resources/datasets/{dataset}.h5ad",
    log:
        "logs/fetch_dataset/{dataset}.log",
    wildcard_constraints:
        dataset=_alternatives(FETCHED_DATASETS),
    conda:
        "../../envs/scanpy.yaml"
    params:
        dataset=dataset_block,
    script:
        "../../scripts/fetch_dataset.py"


rule simulate_dataset:
    input:
        unpack(simulation_inputs),
        edges="results/graph/go_jaccard.npz",
        gene_info=go_path("gene_info"),
    output:
        screen="results/data/{dataset}/simulated_counts.h5ad",
        truth="results/data/{dataset}/simulated_truth.npz",
    log:
        "logs/simulate_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/simulate_dataset/{dataset}.tsv"
    wildcard_constraints:
        dataset=_alternatives(SIMULATED_DATASETS),
    conda:
        "../../envs/scanpy.yaml"
    params:
        dataset=dataset_block,
        taxid=config["go"]["taxid"],
        hops=CONFIG.training.num_go_gnn_layers,
    script:
        "../../scripts/simulate_dataset.py"


rule preprocess_dataset:
    input:
        screen=screen_input,
        edges="results/graph/go_jaccard.tsv",
        gene_info=go_path("gene_info"),
    output:
        adata="results/data/{dataset}/perturb_processed.h5ad",
        arrays="results/data/{dataset}/screen.npz",
        candidates=report(
            "results/data/{dataset}/candidates.tsv",
            caption="../report/candidates.rst",
            category="Data",
            subcategory="{dataset}",
        ),
        dropped=report(
            "results/data/{dataset}/dropped.tsv",
            caption="../report/dropped.rst",
            category="Data",
            subcategory="{dataset}",
        ),
    log:
        "logs/preprocess_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/preprocess_dataset/{dataset}.tsv"
    conda:
        "../../envs/scanpy.yaml"
    params:
        dataset=dataset_block,
        taxid=config["go"]["taxid"],
    script:
        "../../scripts/preprocess_dataset.py"
