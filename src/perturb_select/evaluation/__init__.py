"""How well a cycle's model predicts held-out perturbations, and what the runs say together.

``metrics`` (top-20 DE MSE, Pearson, Pearson delta, as GEARS computes them), ``baselines`` (no change,
training mean, GO kernel ridge and SGC ridge on the same picks; on a SIMULATED screen the oracle),
``report`` (aggregation over seeds, paired comparisons, each strategy minus random by cycle, AUC, power),
``figures`` (the report's plots), ``conclusions`` (what the tables say, in words), ``statistics`` (paired
Wilcoxon, bootstrap interval, Holm, power), ``stability`` (the paper's Figure 1), ``strategy_map`` (the map
across SIMULATED truths), ``mechanism`` (how much of each test perturbation's receptive field the picks
trained) and ``verdict`` (the GEARS verdict benchmark's in-process inputs and table). Neither torch nor
cell-gears is needed; the graph kernels are ``knowledge.kernels``'s.
"""
