# Design a screen: a candidate gene list in, ranked perturbations out (`snakemake --cores 2 design`).
# Not part of rule all: one entry under config `design:` per list (perturb_select.stages.design).


rule design_screen:
    input:
        unpack(get_design_inputs),
        edges="results/graph/go_jaccard.npz",
        gene_info=go_path("gene_info"),
    output:
        table_out="results/design/{design}.tsv",
        unresolved_out="results/design/{design}.unresolved.tsv",
        plot_out="results/design/{design}.coverage.svg",
        summary_out="results/design/{design}.summary.json",
    log:
        "logs/design_screen/{design}.log",
    benchmark:
        "results/benchmarks/design_screen/{design}.tsv"
    wildcard_constraints:
        design="|".join(DESIGNS) if DESIGNS else "(?!)",
    conda:
        "../../envs/numeric.yaml"
    params:
        design=get_design_block,
        taxid=CONFIG.graph.taxid,
    script:
        "../../scripts/run_stage.py"


rule design:
    input:
        # the rest of each design: built by this target, not read
        expand("results/design/{design}.tsv", design=DESIGNS),
        expand("results/design/{design}.unresolved.tsv", design=DESIGNS),
        expand("results/design/{design}.coverage.svg", design=DESIGNS),
        summaries=expand("results/design/{design}.summary.json", design=DESIGNS),
    output:
        output="results/design/summary.tsv",
    log:
        "logs/design.log",
    localrule: True
    conda:
        "../../envs/numeric.yaml"
    params:
        designs=DESIGNS,
    script:
        "../../scripts/run_stage.py"
