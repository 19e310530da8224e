"""``python -m skyspike.apps.cli``: the ``skyspike`` command."""
from skyspike.apps.cli import main

main()
