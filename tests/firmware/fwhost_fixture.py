"""The host build of the firmware's command loop (firmware/host/hal_host.c) as a fixture: built
once per session, run as a subprocess behind a PipeLink."""
from __future__ import annotations

import os
import select
import shutil
import subprocess
from pathlib import Path

import pytest

from skyspike.emu.core_model import CoreModel
from skyspike.link.links import PipeLink

FW = Path(__file__).resolve().parents[2] / "firmware"
INTERBYTE_US = 30_000      # the host build's inter-byte timeout (µs are its "cycles")


@pytest.fixture(scope="session")
def fwhost(tmp_path_factory):
    if shutil.which("cc") is None or shutil.which("make") is None:
        pytest.skip("no host C compiler (cc) to build the firmware's command loop")
    out = tmp_path_factory.mktemp("fwhost")
    r = subprocess.run(["make", "-C", str(FW), "host", f"HOST_BUILD={out}"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "warning" not in (r.stdout + r.stderr).lower(), r.stderr
    return out / "fwhost"


class CFirmware:
    """fwhost as a subprocess; ``link`` is a PipeLink to its UART."""

    def __init__(self, exe: Path, *extra: str):
        self.core = CoreModel()
        caps = [f"{self.core.caps[f'CAPS{i}']:#x}" for i in range(4)]
        self.proc = subprocess.Popen([str(exe), *caps, "--interbyte-us", str(INTERBYTE_US), *extra],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE if "--trace-timeouts" in extra else None)
        self.link = PipeLink(self.proc.stdin.fileno(), self.proc.stdout.fileno())

    def await_timeout(self, limit: float = 5.0) -> None:
        """Until the firmware's inter-byte timeout fired (needs --trace-timeouts)."""
        fd = self.proc.stderr.fileno()
        ready, _, _ = select.select([fd], [], [], limit)
        assert ready and os.read(fd, 1) == b"T", "the C firmware's inter-byte timeout did not fire"

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            assert self.proc.wait(timeout=5) == 0     # exits cleanly at EOF: it never hung
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.stdout.close()
            if self.proc.stderr:
                self.proc.stderr.close()


@pytest.fixture
def cfw(fwhost):
    fw = CFirmware(fwhost)
    yield fw
    fw.close()


