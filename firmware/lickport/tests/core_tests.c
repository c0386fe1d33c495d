/* The portable core's unit tests, on the host (make -C firmware test). Each test drives
 * the core as the board layer does: bytes in, edges in, lp_poll(now), frames out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lickport.h"

static int failures, checks;
#define CHECK(cond)                                                               \
    do {                                                                          \
        checks++;                                                                 \
        if (!(cond)) {                                                            \
            failures++;                                                           \
            fprintf(stderr, "%s:%d: %s: failed: %s\n", __FILE__, __LINE__, __func__, #cond); \
        }                                                                         \
    } while (0)

/* A plain COBS codec, the tests' own: frames are built and checked with it, apart from
 * the core's streaming one. */
static size_t lp_cobs_encode(const uint8_t *in, size_t n, uint8_t *out) {
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

static int lp_cobs_decode(uint8_t *buf, size_t n) {
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

/* The board: what each output pin was last set to, and when (the test's clock). */
static uint8_t pin[LP_N_CHANNELS + 1];
static uint32_t clock_now;
static uint32_t pin_changed_at[LP_N_CHANNELS + 1];
static void write_output(void *ctx, uint8_t ch, uint8_t value, uint16_t freq) {
    (void)ctx, (void)freq;
    pin[ch] = value;
    pin_changed_at[ch] = clock_now;
}

static lp_core_t core;
static void reset(void) {
    lp_board_t board = {write_output, 0};
    memset(pin, 0, sizeof pin);
    clock_now = 1000;
    lp_init(&core, &board, clock_now);
}

static void send(const uint8_t *payload, size_t n) {
    uint8_t raw[80], enc[90];
    memcpy(raw, payload, n);
    uint16_t crc = lp_crc16(payload, n, 0xFFFF);
    raw[n] = (uint8_t)crc;
    raw[n + 1] = (uint8_t)(crc >> 8);
    size_t len = lp_cobs_encode(raw, n + 2, enc);
    for (size_t i = 0; i < len; i++) lp_rx_byte(&core, enc[i]);
    lp_rx_byte(&core, 0);
}

static void poll_at(uint32_t t) {
    clock_now = t;
    lp_poll(&core, t);
}

/* The frames the core sent, decoded: payloads, in order. */
typedef struct { uint8_t p[64]; int n; } frame_t;
static frame_t out[64];
static int n_out;
static void drain(void) {
    n_out = 0;
    uint8_t buf[80];
    size_t len;
    while ((len = lp_tx_next(&core, buf, sizeof buf)) > 0) {
        CHECK(buf[len - 1] == 0);
        int n = lp_cobs_decode(buf, len - 1);
        CHECK(n >= 3);
        CHECK(lp_crc16(buf, (size_t)n - 2, 0xFFFF) == lp_get16(buf + n - 2));
        memcpy(out[n_out].p, buf, (size_t)n - 2);
        out[n_out++].n = n - 2;
    }
}
/* The i-th event frame's kind, time and first body byte. */
static int find_event(int from, uint8_t kind) {
    for (int i = from; i < n_out; i++)
        if (out[i].p[0] == 'v' && out[i].p[1] == kind) return i;
    return -1;
}
static uint32_t ev_time(int i) { return lp_get32(out[i].p + 2); }

/* A two-state machine: A (1 ms, valve_left pulse 0.5 ms) -Tup-> B; B: lick_left -> exit. */
static uint16_t build(uint8_t *b, uint32_t timer_us, uint32_t pulse_us) {
    uint8_t *p = b;
    *p++ = 2, *p++ = 1, *p++ = 1, *p++ = 0;
    uint32_t t = timer_us;
    uint8_t a[9] = {(uint8_t)t, (uint8_t)(t >> 8), (uint8_t)(t >> 16), (uint8_t)(t >> 24), 1, 0, 0, 0, 1};
    memcpy(p, a, 9), p += 9;
    uint8_t s[9] = {0, 0, 0, 0, LP_NONE, 0, 1, 1, 0};
    memcpy(p, s, 9), p += 9;
    *p++ = 0 /* lick_left */, *p++ = LP_EXIT;
    uint8_t o[8] = {LP_VALVE_LEFT, 1, 0, 0, (uint8_t)pulse_us, (uint8_t)(pulse_us >> 8),
                    (uint8_t)(pulse_us >> 16), (uint8_t)(pulse_us >> 24)};
    memcpy(p, o, 8), p += 8;
    return (uint16_t)(p - b);
}

static void poll_at(uint32_t t);
static void upload(const uint8_t *blob, uint16_t n, uint32_t trial) {
    for (uint16_t at = 0; at < n; at += 40) {
        uint8_t u[64] = {'U', (uint8_t)at, (uint8_t)(at >> 8)};
        uint16_t k = n - at < 40 ? n - at : 40;
        memcpy(u + 3, blob + at, k);
        send(u, 3u + k);
    }
    uint8_t q[7] = {'Q', (uint8_t)trial, (uint8_t)(trial >> 8), 0, 0, (uint8_t)n,
                    (uint8_t)(n >> 8)};
    send(q, 7);
    poll_at(clock_now); /* an idle board starts it in the next pass */
}

static void test_crc_and_cobs(void) {
    CHECK(lp_crc16((const uint8_t *)"123456789", 9, 0xFFFF) == 0x29B1);
    uint8_t in[300], enc[310];
    for (int i = 0; i < 300; i++) in[i] = (uint8_t)(i % 7 == 0 ? 0 : i);
    size_t n = lp_cobs_encode(in, 300, enc);
    CHECK(memchr(enc, 0, n) == NULL);
    CHECK(lp_cobs_decode(enc, n) == 300 && memcmp(enc, in, 300) == 0);
    uint8_t bad[3] = {5, 1, 2}; /* a block longer than the frame */
    CHECK(lp_cobs_decode(bad, 3) == -1);
}

static void test_hello(void) {
    reset();
    send((const uint8_t *)"H", 1);
    drain();
    CHECK(n_out == 1 && out[0].p[0] == 'h' && out[0].p[1] == LP_PROTOCOL);
    CHECK(out[0].p[6] == LP_MAX_STATES && lp_get16(out[0].p + 9) == LP_BLOB_MAX);
}

static void test_trial_runs_and_queued_trial_starts_at_exit(void) {
    reset();
    uint8_t blob[64];
    uint16_t n = build(blob, 1000, 500);
    upload(blob, n, 7);
    drain();
    CHECK(out[0].p[0] == 'a' && out[0].p[1] == 'Q' && lp_get32(out[0].p + 2) == 7);
    int s = find_event(0, 'S');
    CHECK(s > 0 && ev_time(s) == 1000 && lp_get32(out[s].p + 8) == 7);
    CHECK(pin[LP_VALVE_LEFT] == 1);
    upload(blob, n, 8); /* queued behind trial 7 */
    poll_at(1499);
    CHECK(pin[LP_VALVE_LEFT] == 1);
    poll_at(1700); /* the pulse ended at 1500, seen late: the record says 1500 */
    drain();
    int off = find_event(0, 'o');
    CHECK(off >= 0 && ev_time(off) == 1500 && out[off].p[9] == 0 && pin[LP_VALVE_LEFT] == 0);
    poll_at(2100); /* Tup at 2000 -> B */
    drain();
    int tup = find_event(0, 'i');
    CHECK(tup >= 0 && out[tup].p[8] == LP_TUP && ev_time(tup) == 2000);
    CHECK(core.m.state == 1 && core.m.entered == 2000);
    lp_input(&core, LP_LICK_LEFT, 1, 2345);
    poll_at(2350);
    drain();
    int end = find_event(0, 'E'), next = find_event(0, 'S');
    CHECK(end >= 0 && ev_time(end) == 2345 && out[end].p[8] == LP_END_EXIT);
    CHECK(next > end && ev_time(next) == 2345 && lp_get32(out[next].p + 8) == 8); /* no dead time */
    CHECK(core.m.running && core.m.trial == 8 && pin[LP_VALVE_LEFT] == 1);
}

static void test_debounce(void) {
    reset();
    uint8_t blob[64];
    upload(blob, build(blob, 1000, 500), 1);
    poll_at(2000); /* in B */
    drain();
    core.config.debounce_us[LP_LICK_RIGHT] = 1000;
    lp_input(&core, LP_LICK_RIGHT, 1, 3000); /* accepted */
    lp_input(&core, LP_LICK_RIGHT, 0, 3100); /* chatter: ignored */
    lp_input(&core, LP_LICK_RIGHT, 1, 3200);
    lp_input(&core, LP_LICK_RIGHT, 0, 3500); /* the real offset, inside the lockout */
    poll_at(3600);
    drain();
    CHECK(n_out == 1 && out[0].p[8] == 2 && ev_time(0) == 3000);
    poll_at(4100); /* lockout over at 4000: the offset is reported then */
    drain();
    CHECK(n_out == 1 && out[0].p[8] == 3 && ev_time(0) == 4000);
}

static void test_watchdog_closes_valves(void) {
    reset();
    uint8_t cfg[12] = {'C', 0, 0, 0, 0, 0x2C, 0x01, 0xE8, 0x03, 0xE8, 0x03, 1}; /* 300 ms, 1 s */
    send(cfg, 12);
    uint8_t blob[64];
    upload(blob, build(blob, 5000000, 900000), 1); /* a 0.9 s valve pulse */
    drain();
    CHECK(pin[LP_VALVE_LEFT] == 1);
    poll_at(1000 + 100000);
    send((const uint8_t *)"B", 1); /* the last heartbeat, at 0.1 s */
    poll_at(1000 + 400000);
    CHECK(pin[LP_VALVE_LEFT] == 1 && core.m.running);
    poll_at(1000 + 400001 + 36); /* 300 ms after it, plus one loop pass */
    drain();
    CHECK(pin[LP_VALVE_LEFT] == 0 && !core.m.running);
    int end = find_event(0, 'E');
    CHECK(end >= 0 && out[end].p[8] == LP_END_WATCHDOG);
    int e = -1;
    for (int i = 0; i < n_out; i++)
        if (out[i].p[0] == 'e' && out[i].p[1] == LP_E_WATCHDOG) e = i;
    CHECK(e >= 0);
    send((const uint8_t *)"B", 1); /* the status says so */
    drain();
    CHECK(out[n_out - 1].p[0] == 's' && out[n_out - 1].p[18] == 1 && out[n_out - 1].p[19] == 0);
}

static void test_valve_cut_at_maximum(void) {
    reset();
    uint8_t blob[64];
    upload(blob, build(blob, 5000000, 400000), 1); /* asks for 400 ms; the maximum is 200 */
    drain();
    for (uint32_t t = 1000; t < 300000; t += 37) {
        if (t % 100000 < 37) send((const uint8_t *)"B", 1);
        poll_at(t);
    }
    drain();
    int cut = find_event(0, 'c');
    CHECK(cut >= 0 && ev_time(cut) == 1000 + 200000 && out[cut].p[8] == LP_VALVE_LEFT);
    CHECK(pin[LP_VALVE_LEFT] == 0 && pin_changed_at[LP_VALVE_LEFT] < 1000 + 200000 + 37);
    /* a config asking for more than the hard ceiling gets the ceiling */
    uint8_t cfg[12] = {'C', 0, 0, 0, 0, 0xE8, 0x03, 0x10, 0x27, 0x10, 0x27, 1}; /* 10 s */
    send(cfg, 12);
    CHECK(core.config.max_open_us[0] == LP_HARD_MAX_OPEN_US);
}

static void test_bad_frames_are_reported_and_skipped(void) {
    reset();
    uint8_t enc[8] = {3, 'H', 0x12, 0}; /* CRC missing */
    for (int i = 0; i < 4; i++) lp_rx_byte(&core, enc[i]);
    uint8_t junk[200];
    for (int i = 0; i < 200; i++) junk[i] = (uint8_t)(1 + i % 250);
    for (int i = 0; i < 200; i++) lp_rx_byte(&core, junk[i]);
    lp_rx_byte(&core, 0);
    send((const uint8_t *)"Z", 1);
    uint8_t blob[64];
    uint16_t n = build(blob, 1000, 500);
    blob[LP_HEADER + 4] = 9; /* state 0's Tup goes to state 9 of 2 */
    upload(blob, n, 1);
    send((const uint8_t *)"H", 1); /* and the line still works */
    drain();
    CHECK(n_out == 5);
    CHECK(out[0].p[0] == 'e' && out[0].p[1] == LP_E_COBS);
    CHECK(out[1].p[0] == 'e' && out[1].p[1] == LP_E_TOO_LONG);
    CHECK(out[2].p[0] == 'e' && out[2].p[1] == LP_E_TYPE && out[2].p[2] == 'Z');
    CHECK(out[3].p[0] == 'e' && out[3].p[1] == LP_E_MACHINE && lp_get16(out[3].p + 3) == LP_HEADER + 4);
    CHECK(out[4].p[0] == 'h');
    CHECK(!core.m.running && !core.m.queued);
}

static void test_clock_wrap(void) {
    reset();
    poll_at(0xFFFFFF00u);
    send((const uint8_t *)"B", 1);
    poll_at(0x00000100u); /* micros() wrapped */
    send((const uint8_t *)"B", 1);
    drain();
    CHECK(n_out == 2 && lp_get16(out[0].p + 5) == 0 && lp_get16(out[1].p + 5) == 1);
}

static void test_abort_drops_queued(void) {
    reset();
    uint8_t blob[64];
    uint16_t n = build(blob, 1000000, 500);
    upload(blob, n, 3);
    upload(blob, n, 4);
    poll_at(5000);
    send((const uint8_t *)"X", 1);
    drain();
    int end = find_event(0, 'E');
    CHECK(end >= 0 && out[end].p[8] == LP_END_ABORT);
    CHECK(out[n_out - 1].p[0] == 'a' && lp_get32(out[n_out - 1].p + 2) == 3 &&
          lp_get32(out[n_out - 1].p + 6) == 4);
    CHECK(!core.m.running && !core.m.queued && find_event(end, 'S') < 0);
}

/* A (timer_us, Tup -> exit): lick_left -> R, lick_right -> A; R (20 ms, valve_left held). */
static uint16_t build_reward(uint8_t *b, uint32_t timer_us) {
    uint8_t *p = b;
    *p++ = 2, *p++ = 2, *p++ = 1, *p++ = 0;
    uint32_t t = timer_us;
    uint8_t a[9] = {(uint8_t)t, (uint8_t)(t >> 8), (uint8_t)(t >> 16), (uint8_t)(t >> 24),
                    LP_EXIT, 0, 2, 0, 0};
    memcpy(p, a, 9), p += 9;
    uint8_t r[9] = {0x20, 0x4E, 0, 0, LP_EXIT, 2, 0, 0, 1}; /* 20000 us */
    memcpy(p, r, 9), p += 9;
    *p++ = 0 /* lick_left */, *p++ = 1;
    *p++ = 2 /* lick_right */, *p++ = 0;
    uint8_t o[8] = {LP_VALVE_LEFT, 1, 0, 0, 0, 0, 0, 0};
    memcpy(p, o, 8), p += 8;
    return (uint16_t)(p - b);
}

static void test_reflex_arming(void) {
    reset();
    lp_reflex_t r;
    lp_reflex_arm(&core, &r);
    CHECK(r.valves[0] == 0 && r.valves[1] == 0); /* idle */
    uint8_t blob[64];
    upload(blob, build_reward(blob, 10000), 1); /* A entered at 1000, Tup at 11000 */
    drain();
    lp_reflex_arm(&core, &r);
    CHECK(r.valves[0] == 1 && r.valves[1] == 0); /* left opens valve_left; right: no valve */
    CHECK(r.from[0] == 1000 && r.until == 11000);
    lp_input(&core, LP_LICK_RIGHT, 1, 2000); /* A again at 2000 (Tup 12000), right locked */
    lp_input(&core, LP_LICK_RIGHT, 0, 2500); /* inside the lockout: taken at 3000 */
    poll_at(2600);
    lp_reflex_arm(&core, &r);
    CHECK(r.valves[0] == 1 && r.until == 3000); /* the lockout's end is an event */
    poll_at(3100);
    lp_reflex_arm(&core, &r);
    CHECK(r.valves[0] == 1 && r.until == 12000 && r.from[0] == 3100);
    lp_input(&core, LP_LICK_LEFT, 1, 3200); /* waiting edge: nothing armed */
    lp_reflex_arm(&core, &r);
    CHECK(r.valves[0] == 0 && r.valves[1] == 0);
    poll_at(3300); /* in R: no lick leaves R */
    CHECK(pin[LP_VALVE_LEFT] == 1 && core.m.state == 1);
    lp_reflex_arm(&core, &r);
    CHECK(r.valves[0] == 0 && r.valves[1] == 0);
    lp_input(&core, LP_LICK_LEFT, 0, 3400);
    poll_at(23300); /* exit at 23200 */
    drain();
    upload(blob, build_reward(blob, 1000000), 2); /* a 1 s timer: armed for the span */
    lp_reflex_arm(&core, &r);
    CHECK(r.valves[0] == 1 && r.until == 23300 + LP_REFLEX_SPAN_US);
    core.config.debounce_us[LP_LICK_LEFT] = 1000; /* locked, low: armed from the lockout's end */
    core.locked |= 1, core.lock_until[LP_LICK_LEFT] = 23800;
    lp_reflex_arm(&core, &r);
    CHECK(r.valves[0] == 1 && r.from[0] == 23800);
    core.locked = 0;
    core.last_rx = 23300 - 990000; /* the heartbeat's deadline comes first */
    lp_reflex_arm(&core, &r);
    CHECK(r.until == 23300 + 10000);
}

int main(void) {
    test_reflex_arming();
    test_crc_and_cobs();
    test_hello();
    test_trial_runs_and_queued_trial_starts_at_exit();
    test_debounce();
    test_watchdog_closes_valves();
    test_valve_cut_at_maximum();
    test_bad_frames_are_reported_and_skipped();
    test_clock_wrap();
    test_abort_drops_queued();
    printf("core tests: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
