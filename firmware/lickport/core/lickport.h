/* The lick-port controller's portable core: no Arduino, no AVR registers.
 *
 * The board layer (arduino/lickport.cpp) feeds it received bytes, raw input edges with
 * their micros() stamps, and the time at each pass of its main loop; the core runs the
 * uploaded state machines, applies outputs through the board's callback, and queues the
 * frames to send. Compiled with gcc on the host, the same code runs the unit tests
 * (tests/core_tests.c). The wire format is in ../PROTOCOL.md.
 *
 * Times are micros() values (uint32, wrapping every 71.6 minutes); the core compares them
 * wrap-safely and extends them to 48 bits for the host.
 */
#ifndef LICKPORT_H
#define LICKPORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LP_PROTOCOL 1
#define LP_FW_MAJOR 1
#define LP_FW_MINOR 0
#define LP_FW_PATCH 0

/* Limits per state machine; two machines (running + queued) live in RAM. */
#if defined(RIG_BOARD_MEGA)
#define LP_BOARD 2
#define LP_MAX_STATES 64
#define LP_MAX_TRANSITIONS 160
#define LP_MAX_OUTPUTS 96
#define LP_TX_RING 1024
#else
#define LP_BOARD 1 /* Uno (and the host build) */
#define LP_MAX_STATES 20
#define LP_MAX_TRANSITIONS 32
#define LP_MAX_OUTPUTS 16
#define LP_TX_RING 160
#endif
#define LP_HEADER 4
#define LP_STATE_SIZE 9
#define LP_TRANSITION_SIZE 2
#define LP_OUTPUT_SIZE 8
#define LP_BLOB_MAX                                                                        \
    (LP_HEADER + LP_STATE_SIZE * LP_MAX_STATES + LP_TRANSITION_SIZE * LP_MAX_TRANSITIONS + \
     LP_OUTPUT_SIZE * LP_MAX_OUTPUTS)
#define LP_MAX_PAYLOAD 64 /* type + body, before the CRC */
#define LP_RX_MAX (LP_MAX_PAYLOAD + 2 + 2)
#define LP_MAX_TIMER_US 1800000000UL /* 30 min: wrap-safe comparisons need < 35.8 min */
#define LP_HARD_MAX_OPEN_US 1000000UL  /* no valve opens longer than 1 s, whatever is configured */
#define LP_TICK_US 4                    /* micros() resolution on a 16 MHz AVR */

/* Targets in the state table. */
#define LP_EXIT 0xFE
#define LP_NONE 0xFF

/* Input lines and events: event = 2 * line (onset) or 2 * line + 1 (offset); Tup = 8. */
enum { LP_LICK_LEFT, LP_LICK_RIGHT, LP_FRAME_CLOCK, LP_AUX, LP_N_LINES };
#define LP_TUP 8
/* Output channels, in the rig's order; BITCODE is the board's own (not in machines). */
enum {
    LP_VALVE_LEFT,
    LP_VALVE_RIGHT,
    LP_GO_CUE,
    LP_TONE_HIGH,
    LP_TONE_LOW,
    LP_POLE_DROP,
    LP_POLE_POSITION,
    LP_TRIAL_TTL,
    LP_N_CHANNELS,
    LP_BITCODE = LP_N_CHANNELS
};

/* Message types (host -> board upper case, board -> host lower case). */
enum {
    LP_HELLO = 'H', LP_CONFIG = 'C', LP_UPLOAD = 'U', LP_QUEUE = 'Q', LP_ABORT = 'X',
    LP_HEARTBEAT = 'B', LP_OVERRIDE = 'O', LP_STATS = 'T',
    LP_R_HELLO = 'h', LP_R_ACK = 'a', LP_R_ERROR = 'e', LP_R_EVENT = 'v', LP_R_STATUS = 's',
    LP_R_STATS = 't'
};
/* Event kinds inside a 'v' frame. */
enum {
    LP_EV_TRIAL_START = 'S', LP_EV_STATE = 's', LP_EV_INPUT = 'i', LP_EV_OUTPUT = 'o',
    LP_EV_TRIAL_END = 'E', LP_EV_VALVE_CUT = 'c'
};
/* Why a trial ended. */
enum { LP_END_EXIT, LP_END_ABORT, LP_END_WATCHDOG };
/* Error codes in an 'e' frame. */
enum {
    LP_E_CRC = 1, LP_E_COBS, LP_E_TOO_LONG, LP_E_TYPE, LP_E_LENGTH, LP_E_OFFSET,
    LP_E_MACHINE, LP_E_BUSY, LP_E_REFUSED, LP_E_OVERFLOW, LP_E_WATCHDOG, LP_E_CONFIG
};

typedef struct {
    /* Set an output: value 0 = off; freq_hz > 0 = a tone on the speaker. */
    void (*write_output)(void *ctx, uint8_t channel, uint8_t value, uint16_t freq_hz);
    void *ctx;
} lp_board_t;

typedef struct {
    uint16_t debounce_us[LP_N_LINES];
    uint32_t heartbeat_us;
    uint32_t max_open_us[2];
    uint8_t bitcode;
} lp_config_t;

typedef struct {
    uint8_t blob[2][LP_BLOB_MAX];
    uint8_t run_slot;  /* the running machine's slot; uploads go to the other one */
    uint8_t running, queued;
    uint32_t trial, queued_trial;
    uint8_t state;
    uint32_t entered;  /* when the current state was entered */
    uint8_t held[LP_N_CHANNELS];     /* value held by the current state (0: none) */
    uint16_t held_freq[LP_N_CHANNELS];
    uint8_t pulsing;                 /* bit per channel */
    uint32_t pulse_end[LP_N_CHANNELS];
} lp_machine_t;

typedef struct {
    lp_board_t board;
    lp_config_t config;
    lp_machine_t m;
    /* clock */
    uint32_t now;
    uint16_t epoch;  /* micros() wraps seen: bits 32-47 of the time */
    uint8_t clock_started;
    /* inputs: raw edges waiting, debounced levels */
    uint8_t edge_line[8], edge_level[8];
    uint32_t edge_t[8];
    uint8_t edge_head, edge_count;
    uint8_t raw, level, locked;  /* bit per line */
    uint32_t lock_until[LP_N_LINES];
    /* outputs as driven, and the valves' safety */
    uint8_t out_value[LP_N_CHANNELS];
    uint32_t valve_opened[2];
    uint8_t override_on;  /* bit per channel switched on by an override */
    uint32_t override_end[LP_N_CHANNELS];
    uint8_t override_timed;
    /* watchdog */
    uint32_t last_rx;
    uint8_t watchdog_fired;
    /* bitcode */
    uint8_t bitcode_on, bitcode_level, bitcode_slot;
    uint32_t bitcode_start, bitcode_value;
    /* receive: COBS decoded and the CRC run byte by byte as they arrive */
    uint8_t rx[LP_RX_MAX];
    uint8_t rx_len, rx_overflow, rx_started, rx_code, rx_left, rx_raw;
    uint16_t rx_crc;
    /* the upload in progress: the next offset expected */
    uint16_t up_next;
    /* transmit: [length][payload] records */
    uint8_t tx[LP_TX_RING];
    uint16_t tx_head, tx_used;
    uint16_t dropped;
    /* main-loop statistics */
    uint32_t passes;
    uint16_t loop_max;
    uint16_t loop_hist[16];
} lp_core_t;

void lp_init(lp_core_t *c, const lp_board_t *board, uint32_t now);
/* One received byte (frames end at 0x00). */
void lp_rx_byte(lp_core_t *c, uint8_t byte);
/* A raw edge on an input line at time t (t <= the next lp_poll's now). */
void lp_input(lp_core_t *c, uint8_t line, uint8_t level, uint32_t t);
/* One pass of the main loop at time now: events, timers, pulses, safety. */
void lp_poll(lp_core_t *c, uint32_t now);
/* The next frame to send, COBS-encoded with its 0x00, if it fits in room; else 0. */
size_t lp_tx_next(lp_core_t *c, uint8_t *out, size_t room);
/* The board's main-loop period, for the statistics ('T'). */
void lp_loop_period(lp_core_t *c, uint32_t period_us);

/* frame.c */
uint16_t lp_crc16(const uint8_t *data, size_t n, uint16_t crc);
uint16_t lp_crc16_byte(uint16_t crc, uint8_t byte);

/* machine.c: 0 if the blob is a runnable machine, else 1 + the offset of the bad field. */
uint16_t lp_machine_check(const uint8_t *blob, uint16_t length);
uint16_t lp_get16(const uint8_t *p);
uint32_t lp_get32(const uint8_t *p);

/* executor.c (used by controller.c) */
void lp_exec_begin(lp_core_t *c, uint32_t t);
void lp_exec_end(lp_core_t *c, uint32_t t, uint8_t reason);
void lp_exec_input(lp_core_t *c, uint8_t event, uint32_t t);
/* The executor's next deadline (Tup or pulse end); 0 if none, else 1 and *t. */
uint8_t lp_exec_deadline(const lp_core_t *c, uint32_t *t);
void lp_exec_due(lp_core_t *c, uint32_t t);
/* The reflex: drive the pins of the state an input event leads to, now (its records
 * follow when the event is processed in time order). */
void lp_exec_reflex(lp_core_t *c, uint8_t event, uint32_t t);
/* Only the pulses that end at t (before inputs at the same time). */
void lp_exec_pulses(lp_core_t *c, uint32_t t);
/* inputs.c: every edge and deadline up to c->now, in time order */
void lp_advance(lp_core_t *c);

/* The interrupt's reflex: what an onset on a lick line may do before the main loop sees it.
 * After a pass (lp_poll, a command), a board that takes its lick lines by interrupt asks for
 * it: an onset on line l stamped in [from[l], until), taken by the interrupt when no other edge
 * waits, opens valves[l] (bit 0 left, bit 1 right) at once, exactly as the core will when it
 * takes that edge in time order (it then drives the same pins again). 0: nothing. It holds
 * until the core next runs; until is at most LP_REFLEX_SPAN_US after c->now. */
#define LP_REFLEX_SPAN_US 100000UL
typedef struct {
    uint8_t valves[2];
    uint32_t from[2];
    uint32_t until;
} lp_reflex_t;
void lp_reflex_arm(const lp_core_t *c, lp_reflex_t *r);
/* controller.c (used by executor.c) */
void lp_emit_event(lp_core_t *c, uint8_t kind, uint32_t t, const uint8_t *body, uint8_t n);
void lp_drive(lp_core_t *c, uint8_t channel, uint8_t value, uint16_t freq, uint32_t t);

/* Wrap-safe time comparison: a at or before b. */
static inline uint8_t lp_le(uint32_t a, uint32_t b) { return (int32_t)(b - a) >= 0; }

#ifdef __cplusplus
}
#endif
#endif
