"""``python -m mimir.cli``: the ``mimir`` command."""

from mimir.cli import main

main()
