"""From trained models to chip networks: model import (PyTorch, snnTorch, NIR), the chip's
neuron in PyTorch, quantization and quantization-aware fine-tuning, training, input encoding
and data sets. Imports :mod:`skyspike.chip` and :mod:`skyspike.spec`."""
