"""HostClient (skyspike.link.client) against the Python firmware model: the shared protocol
scenarios and fuzz, time-outs, retries of damaged requests, stray and malformed replies."""
from __future__ import annotations

import time

import pytest
from link_scenarios import fuzz_link, scenario_basic, scenario_errors, scenario_hung_core

from skyspike.link.client import HostClient, LinkTimeoutError, ProtocolError, RemoteError
from skyspike.link.commands import REPLY_FLAG, Cmd, Status
from skyspike.link.frames import FrameParser, encode_frame
from skyspike.emu.firmware_model import ModelLink


@pytest.fixture
def model_client():
    link = ModelLink()
    return HostClient(link, timeout=0.5, retries=2), link


def test_client_basic(model_client):
    client, link = model_client
    core = link.model.core
    scenario_basic(client, caps=tuple(core.caps[f"CAPS{i}"] for i in range(4)))


def test_client_errors(model_client):
    scenario_errors(model_client[0])


def test_client_fuzz(model_client):
    client, link = model_client
    counters = fuzz_link(client, link.write, rounds=400)
    assert counters["RX_FRAMES"] > 300


class SilentLink:
    def __init__(self):
        self.written = b""

    def write(self, data):
        self.written += data

    def read(self, n, timeout):
        time.sleep(timeout)
        return b""


def test_timeout_on_silent_link():
    client = HostClient(SilentLink(), timeout=0.05, retries=1)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match=r"no reply to IDENTIFY .* within 0\.050 s"):
        client.identify()
    assert time.monotonic() - t0 < 1.0
    assert client.link.written.count(b"\xA5\x5A") == 2        # one retry
    with pytest.raises(LinkTimeoutError, match="RUN"):
        client.run(timeout_cycles=100, wait=0.02)


def test_timeout_on_partial_reply_then_recovery(model_client):
    client, link = model_client
    client.timeout = 0.05

    class Cut:
        """Delivers only the first bytes of the next reply."""
        def __init__(self, inner, keep):
            self.inner, self.keep = inner, keep

        def write(self, d):
            self.inner.write(d)
            out = self.inner.model.out
            del out[self.keep:]

        def read(self, n, t):
            return self.inner.read(n, t)

    client.link = Cut(link, 9)
    with pytest.raises(LinkTimeoutError, match=r"IDENTIFY .* received 9 bytes \(\d+ truncated frames"):
        client.identify()
    client.link = link
    assert client.identify().core_ok            # the stale partial reply did not stick



def test_retry_after_corrupted_request():
    link = ModelLink()

    class Flaky:
        def __init__(self):
            self.n = 0

        def write(self, d):
            self.n += 1
            if self.n == 1:                   # damage the first request on the wire
                d = bytearray(d)
                d[-1] ^= 0x40                 # CRC byte: the header (seq) stays readable
            link.write(bytes(d))

        def read(self, n, t):
            return link.read(n, t)

    client = HostClient(Flaky(), timeout=0.2, retries=1)
    assert client.identify().core_ok
    assert client.status().counters["BAD_CRC"] == 1
    client = HostClient(Flaky(), timeout=0.2, retries=0)
    with pytest.raises(RemoteError) as e:
        client.identify()
    assert e.value.code == Status.BAD_CRC


def test_stray_and_mismatched_replies_are_ignored(model_client):
    client, link = model_client
    # an unsolicited reply with another seq, and one for another command with the next seq
    link.model.out += encode_frame(Cmd.STATUS | REPLY_FLAG, 0xEE, b"\x00")
    link.model.out += encode_frame(Cmd.READ_MEM | REPLY_FLAG, (client.seq + 1) & 0xFF, b"\x00")
    assert client.identify().core_ok
    assert client.stray_frames == 2


def test_malformed_reply_raises_protocol_error(model_client):
    client, link = model_client

    class Liar:
        def write(self, d):
            link.write(d)
            f = FrameParser().feed(bytes(link.model.take_output()))[0]
            link.model.out += encode_frame(f.cmd, f.seq, f.payload + b"\x00")   # one byte too many

        def read(self, n, t):
            return link.read(n, t)

    client.link = Liar()
    with pytest.raises(ProtocolError, match="IDENTIFY: reply carries 32 bytes, expected 31"):
        client.identify()



def test_run_timeout_and_busy(model_client):
    client, link = model_client
    scenario_hung_core(client, lambda on: setattr(link.model.core, "hang", on))


# -- argument checks (issue: reliability, defect 14) -------------------------------------------

@pytest.mark.parametrize("call, match", [
    (lambda c: c.read_mem(-4, 1), "do not fit"),
    (lambda c: c.read_mem(0x4_0000, 1), "do not fit"),
    (lambda c: c.read_mem(2, 1), "do not fit"),
    (lambda c: c.read_mem(0, -1), "do not fit"),
    (lambda c: c.read_mem(0.5, 1), "must be integers"),
    (lambda c: c.write_mem(0, [2**40]), "not an unsigned 32-bit integer"),
    (lambda c: c.write_mem(0, [1.7]), "not an unsigned 32-bit integer"),
    (lambda c: c.write_mem(0, [-1]), "not an unsigned 32-bit integer"),
    (lambda c: c.write_mem(0x3_FFFC, [1, 2]), "do not fit"),
    (lambda c: c.load_inputs([1], offset=0x3_0000), "do not fit"),
    (lambda c: c.run(timeout_cycles=0), "timeout_cycles"),
    (lambda c: c.read_results(-1), "n_counts=-1"),
    (lambda c: c.read_results(1, count_first=True), "count_first=True"),
])
def test_bad_arguments_are_refused_before_sending(call, match):
    from skyspike.errors import InputError

    link = ModelLink()
    with pytest.raises(InputError, match=match):
        call(HostClient(link, timeout=0.2))
    assert link.written == 0   # nothing went out on the link


class FalseHeaderLink(ModelLink):
    """Line noise that forms a false header with the next RUN's command and sequence number
    just before the real request (issue: reliability, defect 15)."""

    def write(self, data: bytes) -> None:
        if data[3] == Cmd.RUN:
            super().write(data[:2] + data[2:5] + b"\x40\x00")   # sync, version, RUN, seq, length 64
            self.model.idle()                                  # ... and then nothing: TRUNCATED
        super().write(data)


def test_run_survives_a_false_header_with_its_own_sequence_number():
    link = FalseHeaderLink()
    client = HostClient(link, timeout=0.3)
    client.write_mem(0x28, [1 | 1 << 8])   # NET: one layer, one step (a network of zeros is fine)
    result = client.run(check=False)
    assert result.done
