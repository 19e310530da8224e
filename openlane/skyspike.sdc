# SkySpike timing constraints (the chip top openframe_project_wrapper, or the core alone):
# OpenLane 2 (PNR_SDC_FILE, SIGNOFF_SDC_FILE) and the pre-layout OpenSTA run of `make synth`
# read this same file.
# The period comes from CLOCK_PERIOD (ns) and the clock port from CLOCK_PORT in the
# environment: OpenLane exports its config variables, skyspike_hw.flow.sta sets them; 10 ns
# (100 MHz) and `clk` otherwise. The chip top has ONE clock, from the pad gpio_in[0]
# (hw/skyspike_hw/pins.py): the CPU, the bus, the core and every SRAM macro run on it.
# PicoRV32 makes 10 ns on its own with margin (`make synth` reports its fmax), so there is no
# divided CPU clock and no generated clock.
set period 10.0
if {[info exists ::env(CLOCK_PERIOD)]} { set period $::env(CLOCK_PERIOD) }
set clock_port clk
if {[info exists ::env(CLOCK_PORT)]} { set clock_port $::env(CLOCK_PORT) }

create_clock -name clk -period $period [get_ports $clock_port]
set_clock_uncertainty 0.25 [get_clocks clk]
set_clock_transition 0.15 [get_clocks clk]

# The Wishbone side: a master in the same clock domain with 20 % of the cycle outside the core
# on either side; inputs driven by an inv_2, outputs loaded with 33.442 fF (OpenLane's defaults).
set clk_index [lsearch [all_inputs] [get_ports $clock_port]]
set data_inputs [lreplace [all_inputs] $clk_index $clk_index]
set_input_delay [expr {0.2 * $period}] -clock clk $data_inputs
set_output_delay [expr {0.2 * $period}] -clock clk [all_outputs]
set_driving_cell -lib_cell sky130_fd_sc_hd__inv_2 -pin Y $data_inputs
set_load 0.033442 [all_outputs]

# dbg_*: the engine's update trace, for verification only (left unconnected on the chip).
set dbg_ports [get_ports -quiet dbg_*]
if {[llength $dbg_ports]} { set_false_path -to $dbg_ports }
