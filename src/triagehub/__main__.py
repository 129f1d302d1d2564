"""``python -m triagehub``: the same as the ``triagehub`` command."""

from triagehub.cli.main import main

main()
