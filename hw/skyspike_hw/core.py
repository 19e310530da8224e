"""SkySpike core: the engine, its SRAM macros and a Wishbone (B4 classic) target on the
control side. The memory map is ``skyspike.spec.memmap`` (docs/memory-map.md); every register
field is read from its layout there."""
from amaranth import Array, Cat, Module, Mux, Signal
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import In, Out

from skyspike.spec import memmap as mm
from skyspike.spec.config import CoreConfig, log2
from skyspike.spec.layouts import DESC_WORDS, STORED_WORDS

from .engine import Engine
from .layouts import data_layout
from .ports import WishboneSignature
from .sram import SRAMMacro

__all__ = ["ADR_BITS", "SNNCore"]

#: Word-address bits of the bus: the map spans 0x0 .. 0x3FFFF (bytes).
ADR_BITS = 16
#: The engine's update-group trace, passed through to the core's ports.
DEBUG_PORTS = ("dbg_valid", "dbg_step", "dbg_layer", "dbg_neuron", "dbg_lanes", "dbg_spikes", "dbg_v")

# A CTRL write acts only with byte 0 selected: every CTRL field sits in that byte.
assert all(f.msb < 8 for f in mm.CTRL)
# The descriptor table's word index is the low bits of the offset.
assert DESC_WORDS == 1 << log2(DESC_WORDS) and STORED_WORDS < DESC_WORDS


def _reg_word(name: str) -> int:
    """Word offset of register ``name`` in the register block."""
    return mm.REG[name] >> 2


class _ReadSource(enum.Enum, shape=2):
    """What the ack cycle of a read returns."""
    NONE = 0     # no read since reset (a write leaves the last read's source: dat_r is don't-care)
    VALUE = 1    # a value registered at the request
    WEIGHTS = 2  # the word a weight bank reads at the request
    INPUTS = 3   # the word an input bank reads at the request


class _Request:
    """The decoded bus request of this cycle (combinational).

    ``req``: a new access (strobe neither acked nor waiting for its read); ``sel[region]``: the byte address falls in
    that region of ``mm.region_sizes``; ``offset[region]``: its word offset in the region;
    ``write``: a write that may change memories and tables (they are frozen while running)."""

    def __init__(self, wb, cfg: CoreConfig, busy):
        self.wb = wb
        self.read_pending = Signal()   # a read waits for its data, which the ack cycle carries
        self.req = wb.cyc & wb.stb & ~wb.ack & ~self.read_pending
        self.byte_adr = Cat(Signal(2), wb.adr)
        regions = mm.region_sizes(cfg)
        self.sel = {name: (self.byte_adr >= base) & (self.byte_adr < base + size)
                    for name, (base, size) in regions.items()}
        self.offset = {name: (self.byte_adr - base) >> 2 for name, (base, _) in regions.items()}
        self.write = self.req & wb.we & ~busy

    def masked(self, old):
        """``old`` with the selected bytes of the write data in place."""
        wb = self.wb
        return Cat(*[Mux(wb.sel[b], wb.dat_w[8 * b: 8 * b + 8], old[8 * b: 8 * b + 8]) for b in range(4)])


def _packed(m, layout, name, **fields):
    """A word of ``layout`` (``skyspike.spec``) driven from ``fields``; other bits read 0."""
    word = Signal(data_layout(layout), name=name)
    m.d.comb += [word[k].eq(v) for k, v in fields.items()]
    return word


class SNNCore(wiring.Component):
    """The SNN core with its weight and input SRAM macros.

    Parameters
    ----------
    cfg : CoreConfig
        Maximum sizes (``skyspike.spec.config.CONFIGS``).
    sim_model : bool
        SRAMs as cycle-exact simulation models (True) or black-box macro instances (False).

    Attributes
    ----------
    wb : In(WishboneSignature(16))
        The control bus, target side (a Caravel user project's wbs_* roles; top-level ports
        ``wb_cyc``, ``wb_adr`` ... in the generated Verilog). ``wb.adr`` is the word address
        (byte address >> 2); ``wb.ack`` comes one cycle after the strobe for a write, two
        cycles after it for a read (an SRAM read and its dout register).
    irq : Out(1)
        The last inference finished and CTRL.irq_en is set.
    dbg_* : Out
        The engine's update-group trace (see :class:`Engine`), for verification.
    """

    def __init__(self, cfg: CoreConfig, *, sim_model: bool = True):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
        mm.check_fits(cfg)
        self.cfg = cfg
        self.sim_model = sim_model
        U = cfg.update_lanes
        super().__init__({
            "wb": In(WishboneSignature(ADR_BITS)),
            "irq": Out(1),
            "dbg_valid": Out(1), "dbg_step": Out(8), "dbg_layer": Out(8), "dbg_neuron": Out(16),
            "dbg_lanes": Out(U), "dbg_spikes": Out(U), "dbg_v": Out(16 * U),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.engine = eng = Engine(self.cfg)
        m.d.comb += [getattr(self, name).eq(getattr(eng, name)) for name in DEBUG_PORTS]
        bus = _Request(self.wb, self.cfg, eng.busy)
        self._input_lock(m, eng, bus)
        w_rd, in_rd = self._memories(m, eng, bus)
        clear_flags, irq_en, net, seed = self._control(m, eng, bus)
        bus_error, write_refused, bus_addr = self._bus_errors(m, eng, bus, clear_flags)
        status = _packed(m, mm.STATUS, "status", busy=eng.busy, done=eng.done, bus_error=bus_error,
                         write_refused=write_refused, error=eng.error, error_layer=eng.error_layer)
        reg_value = self._register_value(m, bus, {
            "STATUS": status, "BUS_ADDR": bus_addr, "NET": net, "SEED": seed, "CYCLES": eng.cycles,
            "CTRL": _packed(m, mm.CTRL, "ctrl_r", irq_en=irq_en)})
        desc_value = self._descriptors(m, eng, bus)
        self._read_data(m, eng, bus, reg_value, desc_value, w_rd, in_rd)
        return m

    def _memories(self, m, eng, bus):
        """The SRAM macros: port 0 on the bus, port 1 on the engine. Returns the port 0 read
        data of the weight banks and of the input banks (Arrays indexed by bank)."""
        cfg, wb = self.cfg, self.wb

        def bank_set(prefix, count, depth, ports, region, locked):
            rdata = []
            for j in range(count):
                bank = SRAMMacro(depth, sim_model=self.sim_model)
                m.submodules[f"{prefix}{j}"] = bank
                hit = bus.sel[region] & (bus.offset[region] >> log2(depth) == j)
                m.d.comb += [
                    bank.p0.en.eq(bus.req & hit & (~wb.we | ~locked)), bank.p0.we.eq(wb.we),
                    bank.p0.wmask.eq(wb.sel), bank.p0.addr.eq(bus.offset[region][:log2(depth)]),
                    bank.p0.wdata.eq(wb.dat_w),
                    # port 1: the engine's read port of this bank
                    bank.p1.en.eq(ports[j].en), bank.p1.addr.eq(ports[j].addr),
                ]
                # The macros drive dout after the falling edge: each dout goes straight into a
                # flop at the next rising edge, so no path runs through logic in half a cycle.
                # The flops load only in the cycle after a read (dout is meaningless at other
                # times), so that they are clock-gated the rest of the time.
                p0_q = Signal(32, name=f"{prefix}{j}_p0_q")
                p1_q = Signal(32, name=f"{prefix}{j}_p1_q")
                p0_read = Signal(name=f"{prefix}{j}_p0_read")
                p1_read = Signal(name=f"{prefix}{j}_p1_read")
                m.d.sync += [p0_read.eq(bank.p0.en & ~bank.p0.we), p1_read.eq(bank.p1.en)]
                with m.If(p0_read):
                    m.d.sync += p0_q.eq(bank.p0.rdata)
                with m.If(p1_read):
                    m.d.sync += p1_q.eq(bank.p1.data)
                m.d.comb += ports[j].data.eq(p1_q)
                rdata.append(p0_q)
            return Array(rdata)

        return (bank_set("wbank", cfg.banks, cfg.bank_depth, eng.w, "weights", eng.busy),
                bank_set("ibank", cfg.input_banks, cfg.input_depth, eng.inp, "inputs", bus.input_locked))

    def _input_lock(self, m, eng, bus):
        """``bus.input_locked``: the addressed input-buffer word may not be written now. The
        running inference's frames are locked; the rest of the buffer is free for the next
        inference (double buffering). Until the run knows its span, all of it is locked."""
        word = Signal(16)
        m.d.comb += word.eq(bus.offset["inputs"] & (self.cfg.input_depth - 1))
        bus.input_locked = Signal()
        running_input = (~eng.input_span_known
                         | ((word >= eng.input_base) & (word - eng.input_base < eng.input_span)))
        m.d.comb += bus.input_locked.eq(eng.busy & running_input)

    def _control(self, m, eng, bus):
        """CTRL (start and abort strobes, irq_en), NET and SEED. Returns ``clear_flags`` (a CTRL
        write clears the sticky flags this cycle), ``irq_en``, ``net`` (a view of mm.NET) and ``seed``."""
        wb = self.wb
        irq_en = Signal()
        net = Signal(data_layout(mm.NET), name="net")
        seed = Signal(32, name="seed")
        start = Signal()
        abort = Signal()
        clear_flags = Signal()
        m.d.comb += [eng.n_layers.eq(net.n_layers), eng.steps.eq(net.steps), eng.seed.eq(seed),
                     eng.input_base.eq(net.input_base),
                     eng.start.eq(start), eng.abort.eq(abort), self.irq.eq(eng.done & irq_en)]
        m.d.sync += [start.eq(0), abort.eq(0)]
        ctrl = data.View(data_layout(mm.CTRL), wb.dat_w)
        new_net = data.View(data_layout(mm.NET), bus.masked(net.as_value()))
        with m.If(bus.req & wb.we & bus.sel["regs"]):
            with m.Switch(bus.offset["regs"]):
                with m.Case(_reg_word("CTRL")):
                    with m.If(wb.sel[0]):
                        m.d.sync += [start.eq(ctrl.start & ~eng.busy), abort.eq(ctrl.abort),
                                     irq_en.eq(ctrl.irq_en)]
                        m.d.comb += clear_flags.eq(ctrl.clear_flags | ctrl.abort)
                with m.Case(_reg_word("NET")):
                    with m.If(~eng.busy):  # only the fields are stored: the rest reads 0
                        m.d.sync += [net[f.name].eq(new_net[f.name]) for f in mm.NET]
                with m.Case(_reg_word("SEED")):
                    with m.If(~eng.busy):
                        m.d.sync += seed.eq(bus.masked(seed))
        return clear_flags, irq_en, net, seed

    def _bus_errors(self, m, eng, bus, clear_flags):
        """Every access is acked; the ones that cannot be honoured are reported, never
        half-applied. Returns the sticky ``bus_error`` (unmapped address, or a write to a
        read-only location) and ``write_refused`` (a write that would disturb the running
        inference) flags and ``bus_addr`` (the byte address of the last such access)."""
        we, sel, regs = self.wb.we, bus.sel, bus.offset["regs"]
        bus_error = Signal()
        write_refused = Signal()
        bus_addr = Signal(32)
        reg_known = Signal()
        reg_writable = Signal()
        with m.Switch(regs):
            for r in mm.REGS:
                with m.Case(r.offset >> 2):
                    m.d.comb += [reg_known.eq(1), reg_writable.eq(r.writable)]
        mapped = Cat(sel[name] for name in sel if name != "regs").any() | (sel["regs"] & reg_known)
        read_only = sel["counts"] | sel["state"] | (sel["regs"] & ~reg_writable)
        frozen = (sel["weights"] | sel["descriptors"]
                  | (sel["regs"] & ((regs == _reg_word("NET")) | (regs == _reg_word("SEED")))))
        bad = bus.req & (~mapped | (we & read_only))
        refused = bus.req & we & ((frozen & eng.busy) | (sel["inputs"] & bus.input_locked))
        with m.If(clear_flags):
            m.d.sync += [bus_error.eq(0), write_refused.eq(0)]
        with m.If(bad | refused):
            m.d.sync += bus_addr.eq(bus.byte_adr)
        with m.If(bad):
            m.d.sync += bus_error.eq(1)
        with m.If(refused):
            m.d.sync += write_refused.eq(1)
        return bus_error, write_refused, bus_addr

    def _register_value(self, m, bus, values):
        """The read value of the addressed register: the constants of ``mm.caps_words`` and
        ``values`` (register name -> value); 0 elsewhere."""
        reg_value = Signal(32)
        with m.Switch(bus.offset["regs"]):
            for name, value in {**mm.caps_words(self.cfg), **values}.items():
                with m.Case(_reg_word(name)):
                    m.d.comb += reg_value.eq(value)
        return reg_value

    def _descriptors(self, m, eng, bus):
        """The descriptor table: ``STORED_WORDS`` registers per layer, written from the bus
        while idle and read by the engine. Returns the addressed word's read value (the
        reserved words read 0)."""
        cfg = self.cfg
        desc = [[Signal(32, name=f"desc{ly}_{w}") for w in range(STORED_WORDS)] for ly in range(cfg.max_layers)]
        m.d.comb += eng.desc.eq(Cat(*Array([Cat(*ws) for ws in desc])[eng.desc_index]))
        offset = bus.offset["descriptors"]
        for ly, words in enumerate(desc):
            for w, reg in enumerate(words):
                with m.If(bus.write & bus.sel["descriptors"] & (offset == ly * DESC_WORDS + w)):
                    m.d.sync += reg.eq(bus.masked(reg))
        flat = Array([reg for words in desc for reg in words] + [0])
        word = offset[:log2(DESC_WORDS)]
        return Mux(word >= STORED_WORDS, 0, flat[(offset >> log2(DESC_WORDS)) * STORED_WORDS + word])

    def _read_data(self, m, eng, bus, reg_value, desc_value, w_rd, in_rd):
        """The ack and the read data: the value is selected and registered at the request; SRAM
        data arrives from the bank's dout register in the ack cycle, two cycles after the
        request (the bank reads at the first edge, its dout register captures at the second)."""
        cfg, wb, sel, offset = self.cfg, self.wb, bus.sel, bus.offset
        m.d.comb += [eng.state_index.eq(offset["state"]), eng.count_index.eq(offset["counts"])]
        source = Signal(_ReadSource)
        value_q = Signal(32)
        bank_q = Signal(range(max(cfg.banks, cfg.input_banks)))
        # Writes are acked in the next cycle; reads one later, with the registered SRAM data.
        m.d.sync += [wb.ack.eq((bus.req & wb.we) | bus.read_pending), bus.read_pending.eq(bus.req & ~wb.we)]
        with m.If(bus.req & ~wb.we):
            m.d.sync += [source.eq(_ReadSource.VALUE), value_q.eq(0)]
            with m.If(sel["regs"]):
                m.d.sync += value_q.eq(reg_value)
            with m.Elif(sel["descriptors"]):
                m.d.sync += value_q.eq(desc_value)
            with m.Elif(sel["counts"]):
                m.d.sync += value_q.eq(eng.count_data)
            with m.Elif(sel["state"]):
                m.d.sync += value_q.eq(eng.state_data)  # a layouts.STATE_ENTRY word
            with m.Elif(sel["weights"]):
                m.d.sync += [source.eq(_ReadSource.WEIGHTS), bank_q.eq(offset["weights"] >> log2(cfg.bank_depth))]
            with m.Elif(sel["inputs"]):
                m.d.sync += [source.eq(_ReadSource.INPUTS), bank_q.eq(offset["inputs"] >> log2(cfg.input_depth))]
        with m.Switch(source):
            with m.Case(_ReadSource.VALUE):
                m.d.comb += wb.dat_r.eq(value_q)
            with m.Case(_ReadSource.WEIGHTS):
                m.d.comb += wb.dat_r.eq(w_rd[bank_q])
            with m.Case(_ReadSource.INPUTS):
                m.d.comb += wb.dat_r.eq(in_rd[bank_q[:max(1, log2(cfg.input_banks))]])
