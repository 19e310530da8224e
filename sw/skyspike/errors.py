"""The errors the driver raises at its public boundaries (docs/driver.md, "Errors").

Every failure a user can cause -- a network the chip cannot hold, a damaged file, bad input
spikes, a link that does not answer, a core that reports an error -- is one of these; the
``skyspike`` command prints it as one line and exits non-zero. Anything else escaping is a bug.

    SkySpikeError
    +-- NetworkError (ValueError)     a network or its fields that the chip cannot take
    |   +-- NetworkFileError          a network or model file that cannot be read
    +-- InputError (ValueError)       input spikes, values or encodings that are not valid
    +-- LinkError                     the host link: no answer, malformed or refused replies
    +-- DeviceError                   a device that is not the core a network was compiled for
    +-- CoreRunError                  the core (or its emulation) reported a run error
    +-- BackendError                  a backend that cannot run (e.g. a simulator that failed)

This module imports nothing: every layer may raise these.
"""


class SkySpikeError(Exception):
    """Base of every error the driver raises on purpose."""


class NetworkError(SkySpikeError, ValueError):
    """A network (or one of its fields) that the chip cannot hold or compute; the message names
    the layer and the limit."""


class NetworkFileError(NetworkError):
    """A chip network file or model file that is missing, damaged, too large or of another format."""


class InputError(SkySpikeError, ValueError):
    """Input spikes, input values or an encoding that is not valid (the message says which)."""


class LinkError(SkySpikeError):
    """The host link failed: a timeout, a malformed reply, or a command the firmware refused."""


class DeviceError(SkySpikeError):
    """The device is not what the network needs (core ID, version or capabilities)."""


class CoreRunError(SkySpikeError):
    """The core reported a run error (STATUS.error, skyspike.spec.memmap.RunError)."""


class BackendError(SkySpikeError):
    """A backend could not run (a simulator build or run that failed, a missing tool)."""


__all__ = ["SkySpikeError", "NetworkError", "NetworkFileError", "InputError", "LinkError", "DeviceError",
           "CoreRunError", "BackendError"]
