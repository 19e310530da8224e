"""Emulators of the chip behind the host link: the firmware and core models, and the emulated
chip on a pseudo-terminal. Imports :mod:`skyspike.link`, :mod:`skyspike.chip`,
:mod:`skyspike.spec`."""
