"""``python -m perturb_select``: the ``perturb-select`` command (see :mod:`perturb_select.cli`)."""

from .cli import main

raise SystemExit(main())
