"""The chip's contract, as data: generator parameters (:mod:`.config`), the memory map, the
registers' fields and the error codes (:mod:`.memmap`), the descriptor and neuron-state layouts
(:mod:`.layouts`), on the field machinery of :mod:`.bitfields`.

Everything else derives from these tables: the RTL's field access, the driver's encoders and
decoders, the firmware header and docs/memory-map.md. This package imports nothing else of
SkySpike's and no third-party library."""
