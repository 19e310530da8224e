"""SkySpike driver: from a trained spiking network to the chip's answer.

Layers, bottom to top (docs/architecture.md; each imports only the layers below it):

* :mod:`skyspike.spec` -- the chip's contract as data (configurations, memory map, register and
  descriptor fields, the neuron-state entry, error codes, SRAM macros); the hardware imports
  only this.
* :mod:`skyspike.chip` -- the integer chip: networks and placement, the golden model, the memory
  image, the readout rule, read-back and the network file.
* :mod:`skyspike.compiler` -- model import, neurons, quantization, QAT, training, encoding, data.
* :mod:`skyspike.link` -- the host link: frames, commands, the client, serial link, host sequence.
* :mod:`skyspike.emu` and :mod:`skyspike.rtlsim` -- the emulated chip and the RTL simulation.
* :mod:`skyspike.backends` -- golden, RTL simulation and serial hardware behind one interface.
* :mod:`skyspike.apps` -- the ``skyspike`` command, the demo, plots, generated headers and docs.

The names below are what the README's "bring your own model" example uses. They load on first
use, so that ``import skyspike.spec`` (the hardware's only import) stays light.
"""
from importlib import import_module

_EXPORTS = {
    "quantize": ("skyspike.compiler.quantize", "quantize"),
    "encode": ("skyspike.compiler.encode", None),
    "datasets": ("skyspike.compiler.datasets", None),
    "export_nir": ("skyspike.compiler.model", "export_nir"),
    "Schmitt": ("skyspike.compiler.neurons", "Schmitt"),
    "GoldenBackend": ("skyspike.backends", "GoldenBackend"),
    "SimBackend": ("skyspike.backends", "SimBackend"),
    "SerialBackend": ("skyspike.backends", "SerialBackend"),
    "save_compiled": ("skyspike.chip.netfile", "save_compiled"),
    "load_compiled": ("skyspike.chip.netfile", "load_compiled"),
    "CONFIGS": ("skyspike.spec.config", "CONFIGS"),
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'skyspike' has no attribute {name!r}") from None
    mod = import_module(module)
    return mod if attr is None else getattr(mod, attr)


def __dir__():
    return __all__
