# SkySpike: static timing and power with OpenSTA (filled in by skyspike_hw.flow.sta).
# Prints "@@name value" lines and "@@begin name" / "@@end name" sections for the parser.
{read_libs}
read_verilog {netlist}
link_design {top}

proc skyspike_constrain {{period}} {{
    set ::env(CLOCK_PERIOD) $period
    read_sdc {sdc}
}}
skyspike_constrain {period}

puts "@@begin critical_path"
report_checks -path_delay max -sort_by_slack -fields {{slew cap fanout}} -digits 3
puts "@@end critical_path"
puts "@@begin endpoints"
report_checks -path_delay max -group_count 10 -endpoint_count 1 -format end -digits 3
puts "@@end endpoints"
puts "@@worst_slack [worst_slack -max]"
puts "@@tns [total_negative_slack -max]"
puts "@@hold_slack [worst_slack -min]"

# fmax: the shortest period with no negative setup slack under the same SDC (I/O delays are
# fractions of the period), by bisection: slack grows with the period, at different rates
# for full-cycle, half-cycle (SRAM dout is launched at the falling edge) and I/O paths.
set ws [worst_slack -max]
if {{$ws >= 0}} {{
    set hi {period}
    set lo [expr {{{period} / 2.0}}]
    skyspike_constrain $lo
    while {{[worst_slack -max] >= 0}} {{ set hi $lo; set lo [expr {{$lo / 2.0}}]; skyspike_constrain $lo }}
}} else {{
    set lo {period}
    set hi [expr {{{period} * 2.0}}]
    skyspike_constrain $hi
    while {{[worst_slack -max] < 0}} {{ set lo $hi; set hi [expr {{$hi * 2.0}}]; skyspike_constrain $hi }}
}}
while {{$hi - $lo > {resolution}}} {{
    set mid [expr {{($lo + $hi) / 2.0}}]
    skyspike_constrain $mid
    if {{[worst_slack -max] >= 0}} {{ set hi $mid }} else {{ set lo $mid }}
}}
puts "@@min_period $hi"

skyspike_constrain {period}
set_power_activity -global -activity {activity}
puts "@@begin power"
report_power -digits 6
puts "@@end power"
puts "@@begin macro_power"
set macros [get_cells -quiet *_macro]
if {{[llength $macros]}} {{ report_power -instances $macros -digits 6 }}
puts "@@end macro_power"
exit
