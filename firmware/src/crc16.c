#include "crc16.h"

uint16_t crc16_update(uint16_t crc, const uint8_t *data, uint32_t len)
{
    /* Table-free byte step for polynomial 0x1021 (x^16 + x^12 + x^5 + 1). */
    while (len--) {
        uint16_t x = (uint16_t)((crc >> 8) ^ *data++);
        x ^= x >> 4;
        crc = (uint16_t)((crc << 8) ^ (x << 12) ^ (x << 5) ^ x);
    }
    return crc;
}
