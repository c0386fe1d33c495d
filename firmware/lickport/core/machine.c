/* The uploaded state machine: a flat little-endian blob (../PROTOCOL.md, "Machines"),
 * checked field by field before it may run. */
#include "lickport.h"

uint16_t lp_get16(const uint8_t *p) { return (uint16_t)(p[0] | (uint16_t)p[1] << 8); }

uint32_t lp_get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#define BAD(offset) return (uint16_t)((offset) + 1)

uint16_t lp_machine_check(const uint8_t *blob, uint16_t length) {
    if (length < LP_HEADER) BAD(length);
    uint8_t ns = blob[0], nt = blob[1], no = blob[2];
    if (ns == 0 || ns > LP_MAX_STATES) BAD(0);
    if (nt > LP_MAX_TRANSITIONS) BAD(1);
    if (no > LP_MAX_OUTPUTS) BAD(2);
    if (blob[3] != 0) BAD(3);
    uint16_t ts = LP_HEADER + (uint16_t)LP_STATE_SIZE * ns;
    uint16_t os = ts + (uint16_t)LP_TRANSITION_SIZE * nt;
    if (length != os + (uint16_t)LP_OUTPUT_SIZE * no) BAD(length < os ? length : os);
    for (uint8_t s = 0; s < ns; s++) {
        uint16_t at = LP_HEADER + (uint16_t)LP_STATE_SIZE * s;
        const uint8_t *p = blob + at;
        uint8_t tup = p[4];
        if (tup != LP_NONE && tup != LP_EXIT && tup >= ns) BAD(at + 4);
        if (tup != LP_NONE && (lp_get32(p) == 0 || lp_get32(p) > LP_MAX_TIMER_US)) BAD(at);
        if ((uint16_t)p[5] + p[6] > nt) BAD(at + 6);
        if ((uint16_t)p[7] + p[8] > no) BAD(at + 8);
    }
    for (uint8_t i = 0; i < nt; i++) {
        uint16_t at = ts + (uint16_t)LP_TRANSITION_SIZE * i;
        if (blob[at] >= LP_TUP) BAD(at);
        if (blob[at + 1] != LP_EXIT && blob[at + 1] >= ns) BAD(at + 1);
    }
    for (uint8_t i = 0; i < no; i++) {
        uint16_t at = os + (uint16_t)LP_OUTPUT_SIZE * i;
        if (blob[at] >= LP_N_CHANNELS) BAD(at);
        if (blob[at + 1] == 0) BAD(at + 1);
        if (lp_get32(blob + at + 4) > LP_MAX_TIMER_US) BAD(at + 4);
    }
    return 0;
}
