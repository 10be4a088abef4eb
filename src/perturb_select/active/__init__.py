"""Active learning: the batch rules that pick each cycle's perturbations from a trained model's view of the
pool (``rules``: uncertainty, TypiClust, ACS-FW, the hybrid's GraphReach warm-up) and the per-cycle pick
files (``picks``). The model's view comes from ``gears.results.PoolScores``; nothing here trains a model.
"""
