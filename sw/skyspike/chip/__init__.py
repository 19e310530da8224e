"""The integer chip: chip networks and their placement, the golden model (the executable spec)
and its cycle predictor, the memory image, the readout rule, read-back, and the network file.
Imports only :mod:`skyspike.spec` (and numpy)."""
