/* Framing: COBS (so 0x00 only ever ends a frame) over payload + CRC-16/CCITT-FALSE. */
#include "lickport.h"

uint16_t lp_crc16(const uint8_t *data, size_t n, uint16_t crc) {
    /* poly 0x1021, init 0xFFFF (passed in), no reflection, no final xor */
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)data[i] << 8;
        for (uint8_t b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

size_t lp_cobs_encode(const uint8_t *in, size_t n, uint8_t *out) {
    size_t code_at = 0, o = 1;
    uint8_t code = 1;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == 0) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
        } else {
            out[o++] = in[i];
            if (++code == 0xFF) {
                out[code_at] = code;
                code_at = o++;
                code = 1;
            }
        }
    }
    out[code_at] = code;
    return o;
}

int lp_cobs_decode(uint8_t *buf, size_t n) {
    size_t i = 0, o = 0;
    while (i < n) {
        uint8_t code = buf[i++];
        if (code == 0 || i + code - 1 > n) return -1;
        for (uint8_t k = 1; k < code; k++) {
            if (buf[i] == 0) return -1;
            buf[o++] = buf[i++];
        }
        if (code != 0xFF && i < n) buf[o++] = 0;
    }
    return (int)o;
}
