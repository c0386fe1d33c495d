/* The board's protocol and safety: frames in, commands, events out, input debouncing,
 * the host's heartbeat, the valves' maximum open time and the trial-number bitcode. */
#include <string.h>

#include "lickport.h"

#define BITCODE_SLOT_US 2000UL /* start bit, gap, then 16 bits LSB first, 2 ms each */
#define BITCODE_BITS 16

static void put32(uint8_t *p, uint32_t v) {
    for (uint8_t i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- transmit ring: [length][payload] ------------------------------------------------- */
static uint16_t wrap(uint16_t at) { return at >= LP_TX_RING ? (uint16_t)(at - LP_TX_RING) : at; }

static void tx_push(lp_core_t *c, const uint8_t *payload, uint8_t n) {
    if (c->tx_used + n + 1u > LP_TX_RING) {
        c->dropped++;
        return;
    }
    uint16_t at = wrap((uint16_t)(c->tx_head + c->tx_used));
    c->tx[at] = n;
    at = wrap((uint16_t)(at + 1));
    if (at + n <= LP_TX_RING) {
        memcpy(c->tx + at, payload, n);
    } else {
        uint16_t first = (uint16_t)(LP_TX_RING - at);
        memcpy(c->tx + at, payload, first);
        memcpy(c->tx, payload + first, n - first);
    }
    c->tx_used = (uint16_t)(c->tx_used + n + 1u);
}

/* Encodes straight from the ring (no copy on the stack: the Uno's stack is small). */
size_t lp_tx_next(lp_core_t *c, uint8_t *out, size_t room) {
    if (c->dropped && c->tx_used + 8u <= LP_TX_RING) {  /* say that events were lost */
        uint8_t e[5] = {LP_R_ERROR, LP_E_OVERFLOW, 0, (uint8_t)c->dropped,
                        (uint8_t)(c->dropped >> 8)};
        c->dropped = 0;
        tx_push(c, e, 5);
    }
    if (c->tx_used == 0) return 0;
    uint8_t n = c->tx[c->tx_head];
    if (room < (size_t)n + 5u) return 0; /* payload + CRC + COBS overhead + 0x00 */
    uint16_t first = wrap((uint16_t)(c->tx_head + 1)), at = first;
    uint16_t crc = 0xFFFF;
    for (uint8_t i = 0; i < n; i++, at = wrap((uint16_t)(at + 1)))
        crc = lp_crc16_byte(crc, c->tx[at]);
    size_t code_at = 0, o = 1;
    uint8_t code = 1;
    at = first;
    for (uint8_t i = 0; i < n + 2; i++) { /* COBS over payload + CRC (n + 2 < 254) */
        uint8_t byte = i < n ? c->tx[at] : (uint8_t)(i == n ? crc : crc >> 8);
        at = wrap((uint16_t)(at + 1));
        if (byte == 0) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
        } else {
            out[o++] = byte;
            code++;
        }
    }
    out[code_at] = code;
    out[o++] = 0;
    c->tx_head = wrap((uint16_t)(first + n));
    c->tx_used = (uint16_t)(c->tx_used - n - 1u);
    return o;
}

static void reply_error(lp_core_t *c, uint8_t code, uint8_t type, uint16_t detail) {
    uint8_t e[5] = {LP_R_ERROR, code, type, (uint8_t)detail, (uint8_t)(detail >> 8)};
    tx_push(c, e, 5);
}

static void reply_ack(lp_core_t *c, uint8_t type, uint32_t arg, uint32_t arg2) {
    uint8_t a[10] = {LP_R_ACK, type};
    put32(a + 2, arg);
    put32(a + 6, arg2);
    tx_push(c, a, 10);
}

/* ---- time ------------------------------------------------------------------------------- */
static void time48(const lp_core_t *c, uint32_t t, uint8_t *out) {
    uint16_t epoch = c->epoch;
    if (t > c->now && epoch) epoch--;  /* stamped before micros() last wrapped */
    put32(out, t);
    out[4] = (uint8_t)epoch;
    out[5] = (uint8_t)(epoch >> 8);
}

void lp_emit_event(lp_core_t *c, uint8_t kind, uint32_t t, const uint8_t *body, uint8_t n) {
    uint8_t p[16] = {LP_R_EVENT, kind};
    time48(c, t, p + 2);
    memcpy(p + 8, body, n);
    tx_push(c, p, (uint8_t)(8 + n));
}

/* ---- outputs and the valves' safety ------------------------------------------------------- */
void lp_drive(lp_core_t *c, uint8_t ch, uint8_t value, uint16_t freq, uint32_t t) {
    if (ch < 2 && value && !c->out_value[ch]) c->valve_opened[ch] = t;
    c->out_value[ch] = value;
    c->board.write_output(c->board.ctx, ch, value, freq);
}

static void all_off(lp_core_t *c, uint32_t t) {
    for (uint8_t ch = 0; ch < LP_N_CHANNELS; ch++)
        if (c->out_value[ch]) lp_drive(c, ch, 0, 0, t);
    c->override_on = c->override_timed = 0;
}

static void guard_valves(lp_core_t *c) {
    if (!c->out_value[0] && !c->out_value[1]) return;
    for (uint8_t v = 0; v < 2; v++) {
        if (!c->out_value[v]) continue;
        uint32_t limit = c->valve_opened[v] + c->config.max_open_us[v];
        if (!lp_le(limit, c->now)) continue;
        lp_drive(c, v, 0, 0, limit);
        lp_emit_event(c, LP_EV_VALVE_CUT, limit, &v, 1);
    }
}

/* ---- commands ------------------------------------------------------------------------------ */
static void hello(lp_core_t *c) {
    uint8_t h[12] = {LP_R_HELLO, LP_PROTOCOL, LP_FW_MAJOR, LP_FW_MINOR, LP_FW_PATCH, LP_BOARD,
                     LP_MAX_STATES, LP_MAX_TRANSITIONS, LP_MAX_OUTPUTS,
                     (uint8_t)LP_BLOB_MAX, (uint8_t)(LP_BLOB_MAX >> 8), LP_TICK_US};
    tx_push(c, h, 12);
}

static void status(lp_core_t *c) {
    uint8_t s[21] = {LP_R_STATUS};
    time48(c, c->now, s + 1);
    s[7] = c->m.running;
    put32(s + 8, c->m.trial);
    s[12] = c->m.state;
    s[13] = c->m.queued;
    put32(s + 14, c->m.queued_trial);
    s[18] = c->watchdog_fired;
    s[19] = c->out_value[0] || c->out_value[1];
    s[20] = 0;
    tx_push(c, s, 21);
}

static void stats(lp_core_t *c, uint8_t reset) {
    uint8_t t[1 + 4 + 2 + 32] = {LP_R_STATS};
    put32(t + 1, c->passes);
    t[5] = (uint8_t)c->loop_max;
    t[6] = (uint8_t)(c->loop_max >> 8);
    for (uint8_t i = 0; i < 16; i++) {
        t[7 + 2 * i] = (uint8_t)c->loop_hist[i];
        t[8 + 2 * i] = (uint8_t)(c->loop_hist[i] >> 8);
    }
    tx_push(c, t, sizeof t);
    if (reset) {
        c->passes = 0;
        c->loop_max = 0;
        memset(c->loop_hist, 0, sizeof c->loop_hist);
    }
}

static uint8_t config(lp_core_t *c, const uint8_t *b) {
    uint32_t heartbeat = 1000UL * lp_get16(b + 4);
    uint32_t open_l = 1000UL * lp_get16(b + 6), open_r = 1000UL * lp_get16(b + 8);
    if (heartbeat == 0 || open_l == 0 || open_r == 0) return 0;
    c->config.debounce_us[LP_LICK_LEFT] = lp_get16(b);
    c->config.debounce_us[LP_LICK_RIGHT] = lp_get16(b + 2);
    c->config.heartbeat_us = heartbeat;
    c->config.max_open_us[0] = open_l < LP_HARD_MAX_OPEN_US ? open_l : LP_HARD_MAX_OPEN_US;
    c->config.max_open_us[1] = open_r < LP_HARD_MAX_OPEN_US ? open_r : LP_HARD_MAX_OPEN_US;
    c->config.bitcode = b[10] & 1;
    return 1;
}

static void queue(lp_core_t *c, const uint8_t *b) {
    lp_machine_t *m = &c->m;
    uint8_t slot = (uint8_t)(1 - m->run_slot);
    uint16_t length = lp_get16(b + 4);
    if (m->queued) return reply_error(c, LP_E_BUSY, LP_QUEUE, 0);
    if (length > LP_BLOB_MAX || length != c->up_next)
        return reply_error(c, LP_E_LENGTH, LP_QUEUE, length);
    c->up_next = 0xFFFF;  /* one upload, one queue */
    uint16_t bad = lp_machine_check(m->blob[slot], length);
    if (bad) return reply_error(c, LP_E_MACHINE, LP_QUEUE, (uint16_t)(bad - 1));
    m->queued = 1;
    m->queued_trial = lp_get32(b);
    reply_ack(c, LP_QUEUE, m->queued_trial, 0);
    /* an idle board starts it at the top of the next loop pass, at that pass's time */
}

static void abort_trial(lp_core_t *c) {
    lp_machine_t *m = &c->m;
    uint32_t ended = m->running ? m->trial : 0xFFFFFFFFUL;
    uint32_t dropped = m->queued ? m->queued_trial : 0xFFFFFFFFUL;
    m->queued = 0;
    lp_exec_end(c, c->now, LP_END_ABORT);
    all_off(c, c->now);
    reply_ack(c, LP_ABORT, ended, dropped);
}

static void override(lp_core_t *c, const uint8_t *b) {
    uint8_t ch = b[0], value = b[1];
    if (c->m.running || c->m.queued) return reply_error(c, LP_E_REFUSED, LP_OVERRIDE, ch);
    if (ch >= LP_N_CHANNELS) return reply_error(c, LP_E_CONFIG, LP_OVERRIDE, ch);
    uint16_t freq = ch >= LP_GO_CUE && ch <= LP_TONE_LOW ? lp_get16(b + 4) : 0;
    uint8_t body[4] = {ch, value, (uint8_t)freq, (uint8_t)(freq >> 8)};
    lp_emit_event(c, LP_EV_OUTPUT, c->now, body, 4);
    lp_drive(c, ch, value, freq, c->now);
    uint8_t bit = (uint8_t)(1u << ch);
    c->override_on = value ? c->override_on | bit : c->override_on & (uint8_t)~bit;
    c->override_timed &= (uint8_t)~bit;
    if (value && lp_get16(b + 2)) {
        c->override_timed |= bit;
        c->override_end[ch] = c->now + 1000UL * lp_get16(b + 2);
    }
    reply_ack(c, LP_OVERRIDE, ch, value);
}

/* A command's body length (an upload's at least), or -1 for an unknown type. */
static int body_length(uint8_t type) {
    switch (type) {
    case LP_HELLO: case LP_ABORT: case LP_HEARTBEAT: return 0;
    case LP_STATS: return 1;
    case LP_UPLOAD: return 3;
    case LP_OVERRIDE: return 6;
    case LP_QUEUE: return 6;
    case LP_CONFIG: return 11;
    default: return -1;
    }
}

static void dispatch(lp_core_t *c, const uint8_t *p, uint8_t n) {
    uint8_t type = p[0];
    int length = body_length(type);
    if (length < 0) return reply_error(c, LP_E_TYPE, type, 0);
    if (type == LP_UPLOAD ? n < 1 + length : n != 1 + length)
        return reply_error(c, LP_E_LENGTH, type, n);
    c->last_rx = c->now;
    const uint8_t *b = p + 1;
    switch (type) {
    case LP_HELLO: hello(c); break;
    case LP_HEARTBEAT: status(c); break;
    case LP_STATS: stats(c, b[0] & 1); break;
    case LP_CONFIG:
        if (config(c, b)) reply_ack(c, LP_CONFIG, 0, 0);
        else reply_error(c, LP_E_CONFIG, LP_CONFIG, 0);
        break;
    case LP_UPLOAD: {  /* chunks in order from offset 0 (each frame has its own CRC) */
        uint16_t offset = lp_get16(b), count = (uint16_t)(n - 3);
        if (c->m.queued) return reply_error(c, LP_E_BUSY, LP_UPLOAD, offset);
        if (offset == 0) c->up_next = 0;
        if (offset != c->up_next || (uint32_t)offset + count > LP_BLOB_MAX) {
            c->up_next = 0xFFFF;  /* the upload is broken until it starts again at 0 */
            return reply_error(c, LP_E_OFFSET, LP_UPLOAD, offset);
        }
        memcpy(c->m.blob[1 - c->m.run_slot] + offset, b + 2, count);
        c->up_next = (uint16_t)(offset + count);
        break;
    }
    case LP_QUEUE: queue(c, b); break;
    case LP_ABORT: abort_trial(c); break;
    case LP_OVERRIDE: override(c, b); break;
    }
}

static void rx_put(lp_core_t *c, uint8_t byte) {
    if (c->rx_len >= LP_RX_MAX) {
        c->rx_overflow = 1;
        return;
    }
    if (c->rx_len >= 2) c->rx_crc = lp_crc16_byte(c->rx_crc, c->rx[c->rx_len - 2]);
    c->rx[c->rx_len++] = byte;
}

static void rx_reset(lp_core_t *c) {
    c->rx_len = c->rx_overflow = c->rx_started = c->rx_left = c->rx_raw = 0;
    c->rx_crc = 0xFFFF;
}

void lp_rx_byte(lp_core_t *c, uint8_t byte) {
    if (byte != 0) {  /* COBS, decoded as it comes */
        if (c->rx_raw < 0xFF) c->rx_raw++;
        if (c->rx_left == 0) {
            if (c->rx_started && c->rx_code != 0xFF) rx_put(c, 0);
            c->rx_started = 1;
            c->rx_code = byte;
            c->rx_left = (uint8_t)(byte - 1);
        } else {
            rx_put(c, byte);
            c->rx_left--;
        }
        return;
    }
    uint8_t n = c->rx_len, raw = c->rx_raw, overflow = c->rx_overflow;
    uint8_t started = c->rx_started, left = c->rx_left;
    uint16_t crc = c->rx_crc;
    rx_reset(c);
    if (!started) return;  /* idle zeros between frames */
    if (overflow) return reply_error(c, LP_E_TOO_LONG, 0, raw);
    if (left != 0 || n < 3) return reply_error(c, LP_E_COBS, 0, raw);
    if (crc != lp_get16(c->rx + n - 2)) return reply_error(c, LP_E_CRC, c->rx[0], 0);
    dispatch(c, c->rx, (uint8_t)(n - 2));
}

/* ---- the host's heartbeat, overrides, bitcode --------------------------------------------- */
static void watchdog(lp_core_t *c) {
    uint8_t armed = c->m.running || c->m.queued || c->override_on;
    if (!armed || lp_le(c->now, c->last_rx + c->config.heartbeat_us)) return;
    uint32_t t = c->last_rx + c->config.heartbeat_us;
    c->watchdog_fired = 1;
    c->m.queued = 0;
    lp_exec_end(c, c->now, LP_END_WATCHDOG);
    all_off(c, t);
    reply_error(c, LP_E_WATCHDOG, 0, 0);
}

static void overrides(lp_core_t *c) {
    if (!c->override_on && !c->override_timed) return;
    for (uint8_t ch = 0; ch < LP_N_CHANNELS; ch++) {
        uint8_t bit = (uint8_t)(1u << ch);
        if ((c->override_timed & bit) && lp_le(c->override_end[ch], c->now)) {
            c->override_timed &= (uint8_t)~bit;
            c->override_on &= (uint8_t)~bit;
            uint8_t body[4] = {ch, 0, 0, 0};
            lp_emit_event(c, LP_EV_OUTPUT, c->override_end[ch], body, 4);
            lp_drive(c, ch, 0, 0, c->override_end[ch]);
        }
        if ((c->override_on & bit) && !c->out_value[ch]) c->override_on &= (uint8_t)~bit;
    }
}

/* Slot 0: start bit (high); slot 1: low; slots 2-17: the trial number, LSB first. */
static void bitcode(lp_core_t *c) {
    if (!c->bitcode_on || !lp_le(c->bitcode_start, c->now)) return;
    uint8_t slot = c->bitcode_slot++;
    c->bitcode_start += BITCODE_SLOT_US;
    uint8_t level = slot == 0 ? 1
                    : slot == 1 ? 0
                    : slot < 2 + BITCODE_BITS ? (uint8_t)((c->bitcode_value >> (slot - 2)) & 1)
                                               : 0;
    if (level != c->bitcode_level) {
        c->bitcode_level = level;
        c->board.write_output(c->board.ctx, LP_BITCODE, level, 0);
    }
    if (slot >= 2 + BITCODE_BITS) c->bitcode_on = 0;
}

void lp_poll(lp_core_t *c, uint32_t now) {
    if (now < c->now) c->epoch++;
    c->now = now;
    lp_advance(c);
    if (c->m.queued && !c->m.running) {
        all_off(c, now);  /* an override ends when a trial starts */
        lp_exec_begin(c, now);
    }
    guard_valves(c);
    overrides(c);
    watchdog(c);
    bitcode(c);
}

void lp_loop_period(lp_core_t *c, uint32_t period) {
    uint16_t p = period > 0xFFFF ? 0xFFFF : (uint16_t)period;
    c->passes++;
    if (p > c->loop_max) c->loop_max = p;
    uint8_t bucket = p >= 15 * LP_TICK_US ? 15 : (uint8_t)(p >> 2);
    if (c->loop_hist[bucket] < 0xFFFF) c->loop_hist[bucket]++;
}

void lp_init(lp_core_t *c, const lp_board_t *board, uint32_t now) {
    memset(c, 0, sizeof *c);
    c->board = *board;
    c->now = c->last_rx = now;
    c->rx_crc = 0xFFFF;
    c->up_next = 0xFFFF;
    c->m.run_slot = 1;  /* the first upload goes to slot 0 */
    c->config.debounce_us[LP_LICK_LEFT] = c->config.debounce_us[LP_LICK_RIGHT] = 1000;
    c->config.heartbeat_us = 1000000UL;
    c->config.max_open_us[0] = c->config.max_open_us[1] = 200000UL;
    c->config.bitcode = 1;
}
