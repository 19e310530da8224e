"""The host link to a chip: frames, commands, the client, the serial link and the host
sequence that loads an image and runs inferences. Imports :mod:`skyspike.chip` and
:mod:`skyspike.spec`."""
