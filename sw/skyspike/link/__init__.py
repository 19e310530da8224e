"""The host link to a chip: the command set (:mod:`.commands`), the wire format
(:mod:`.frames`), byte pipes to the firmware's UART (:mod:`.links`), the client
(:mod:`.client`) and the host sequence that loads an image and runs inferences
(:mod:`.host`). Imports :mod:`skyspike.chip` and :mod:`skyspike.spec`, never
:mod:`skyspike.emu`."""
