"""Byte pipes to the firmware (skyspike.link.links): a pyserial port's read semantics."""
from __future__ import annotations

import time

import pytest

from skyspike.link.client import HostClient
from skyspike.link.links import Link, SerialLink


def test_serial_link_semantics():
    serial = pytest.importorskip("serial")
    port = serial.serial_for_url("loop://", timeout=0)
    link = SerialLink(port)
    assert isinstance(link, Link)
    link.write(b"\x01\x02\x03")
    assert link.read(10, 0.5) == b"\x01\x02\x03"        # returns what is there, does not wait for 10
    t0 = time.monotonic()
    assert link.read(10, 0.05) == b""
    assert time.monotonic() - t0 < 0.5
    # the client over loop:// hears its own request (not a reply) and times out cleanly
    client = HostClient(link, timeout=0.05, retries=0)
    with pytest.raises(TimeoutError):
        client.identify()
    assert client.stray_frames == 1
    link.close()

