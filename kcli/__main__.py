"""``python -m kcli``: the same entry point as the ``kcli`` console script (and what ``accelerate launch -m`` runs)."""

from kcli.main import main

main()
