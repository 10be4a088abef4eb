"""The experiment's bookkeeping: the per-seed test split, the perturbations of each cycle (read from either
kind of pick file), and run labels (``splits``, ``runs``)."""
