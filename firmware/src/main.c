/* SkySpike SoC firmware: serves the host link protocol (docs/protocol.md) on the UART. */
#include <stdint.h>

#include "hal.h"
#include "proto.h"

void hal_init(void);

/* Entered from start.S: `warm` is nonzero after a trap restarted the firmware. */
void fw_main(uint32_t warm)
{
    proto_init(!warm);
    hal_init();
    proto_loop();
}
