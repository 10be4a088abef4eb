"""How well a cycle's model predicts held-out perturbations, and what the runs say together.

``metrics`` (top-20 DE MSE, Pearson, Pearson delta, as GEARS computes them), ``baselines`` (no change,
training mean, GO kernel ridge on the same picks), ``report`` (aggregation over seeds, paired comparisons,
AUC, power, conclusions, figures), ``statistics`` (paired Wilcoxon, bootstrap interval, Holm, power) and
``stability`` (the paper's Figure 1). Neither torch nor cell-gears is needed.
"""
