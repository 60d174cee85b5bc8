"""``python -m mimir.cli``: the ``mimir`` command."""

from mimir.cli.app import main

main()
