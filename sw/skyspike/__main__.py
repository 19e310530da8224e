"""``python -m skyspike``: the ``skyspike`` command."""
from skyspike.apps.cli import main

main()
