"""One-shot selection: every perturbation of the budget picked up front, from the knowledge graph alone.

``base`` (the ``Selection`` result, its TSV form and the shared checks), ``random``, ``graphreach`` and
``maxspec`` (Panagopoulos et al. 2025; ``graphreach`` also weighted by the candidates), ``facility``
(facility location on the candidates' receptive-field overlap), and ``registry`` (the selectors by name).
No model is involved; active learning, which needs a trained model, is ``perturb_select.active``.
"""
