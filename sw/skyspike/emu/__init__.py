"""Emulators of the chip behind the host link: the core's memory map (:mod:`.core_model`),
the firmware's command loop (:mod:`.firmware_model`, with a link to it) and the emulated chip
on a pseudo-terminal (:mod:`.fakechip`). Imports :mod:`skyspike.link`, :mod:`skyspike.chip`,
:mod:`skyspike.spec`."""
