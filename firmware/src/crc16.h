#ifndef CRC16_H
#define CRC16_H
#include <stdint.h>
/* CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, MSB first, no final xor), identical to
 * skyspike.link.frames.crc16: crc16_update(PROTO_CRC_INIT, "123456789", 9) == 0x29B1. */
uint16_t crc16_update(uint16_t crc, const uint8_t *data, uint32_t len);
#endif
