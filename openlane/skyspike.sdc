# SkySpike core timing constraints: OpenLane 2 (PNR_SDC_FILE, SIGNOFF_SDC_FILE) and the
# pre-layout OpenSTA run of `make synth` read this same file.
# The period comes from CLOCK_PERIOD (ns) in the environment: OpenLane exports its config
# variables, skyspike_hw.flow.sta sets it; 20 ns (50 MHz) otherwise.
set period 20.0
if {[info exists ::env(CLOCK_PERIOD)]} { set period $::env(CLOCK_PERIOD) }

create_clock -name clk -period $period [get_ports clk]
set_clock_uncertainty 0.25 [get_clocks clk]
set_clock_transition 0.15 [get_clocks clk]

# The Wishbone side: a master in the same clock domain with 20 % of the cycle outside the core
# on either side; inputs driven by an inv_2, outputs loaded with 33.442 fF (OpenLane's defaults).
set clk_index [lsearch [all_inputs] [get_ports clk]]
set data_inputs [lreplace [all_inputs] $clk_index $clk_index]
set_input_delay [expr {0.2 * $period}] -clock clk $data_inputs
set_output_delay [expr {0.2 * $period}] -clock clk [all_outputs]
set_driving_cell -lib_cell sky130_fd_sc_hd__inv_2 -pin Y $data_inputs
set_load 0.033442 [all_outputs]

# dbg_*: the engine's update trace, for verification only (left unconnected on the chip).
set_false_path -to [get_ports dbg_*]
