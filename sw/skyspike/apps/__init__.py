"""Applications on top of the driver: the ``skyspike`` command, the demo, plots and the
generators of the firmware header and docs/memory-map.md."""
