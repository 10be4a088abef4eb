rule fetch_dataset:
    input:
        dataset_mirror_input,
    output:
        "resources/datasets/{dataset}.h5ad",
    log:
        "logs/fetch_dataset/{dataset}.log",
    conda:
        "../../envs/go.yaml"
    params:
        source=dataset_source,
    script:
        "../../scripts/fetch_source.py"


rule preprocess_dataset:
    input:
        screen="resources/datasets/{dataset}.h5ad",
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
        dataset=dataset_config,
        taxid=config["go"]["taxid"],
    script:
        "../../scripts/preprocess_dataset.py"


rule split_test_set:
    input:
        candidates="results/data/{dataset}/candidates.tsv",
    output:
        "results/splits/{dataset}/seed{seed}.json",
    log:
        "logs/split_test_set/{dataset}/seed{seed}.log",
    conda:
        "../../envs/go.yaml"
    params:
        test_fraction=config["experiment"]["test_fraction"],
        batch_size=batch_size_of,
    script:
        "../../scripts/split_test_set.py"
