// The lick-port controller on an Arduino Uno or Mega 2560: pins, the clock, the serial
// line. Everything else is the portable core (../core/), the same code the host tests run.
//
// Pins (both boards):  in  D2 frame clock (interrupt), D3 aux (interrupt),
//                          D4 left lick, D5 right lick (polled each loop pass)
//                      out D6 left valve, D7 right valve, D8 pole drop, D9 speaker (tones),
//                          D10 pole position (PWM; Mega: D11), D11 bitcode (Mega: D10),
//                          D12 trial TTL, D13 LED (a trial is running)
#include <Arduino.h>

#include "lickport.h"

#if defined(RIG_BOARD_MEGA)
static const uint8_t POLE_POSITION_PIN = 11, BITCODE_PIN = 10;
#else
static const uint8_t POLE_POSITION_PIN = 10, BITCODE_PIN = 11;
#endif
static const uint8_t FRAME_PIN = 2, AUX_PIN = 3, LICK_PINS[2] = {4, 5};
static const uint8_t SPEAKER_PIN = 9, LED_PIN = 13;
// Output channel -> pin (tones go to the speaker, the pole position is PWM).
static const uint8_t OUT_PINS[LP_N_CHANNELS + 1] = {
    6, 7, SPEAKER_PIN, SPEAKER_PIN, SPEAKER_PIN, 8, POLE_POSITION_PIN, 12, BITCODE_PIN};
static const uint32_t BAUD = 500000UL;  // exact at 16 MHz; the loop keeps up with it

static lp_core_t core;
static volatile uint8_t *out_reg[LP_N_CHANNELS + 1];
static uint8_t out_mask[LP_N_CHANNELS + 1];
static volatile uint8_t *led_reg;
static uint8_t led_mask;
static int8_t sounding = -1;  // the tone channel on the speaker

// Edges caught by the interrupts, with their micros() stamps.
static volatile uint8_t isr_line[16], isr_level[16], isr_head, isr_count;
static volatile uint32_t isr_t[16];

static void catch_edge(uint8_t line, uint8_t pin) {
    uint32_t t = micros();
    if (isr_count < 16) {
        uint8_t at = (isr_head + isr_count) & 15;
        isr_line[at] = line;
        isr_level[at] = digitalRead(pin);
        isr_t[at] = t;
        isr_count++;
    }
}
static void frame_edge() { catch_edge(LP_FRAME_CLOCK, FRAME_PIN); }
static void aux_edge() { catch_edge(LP_AUX, AUX_PIN); }

static void write_output(void *, uint8_t ch, uint8_t value, uint16_t freq) {
    if (ch <= LP_VALVE_RIGHT) {  // the valves first: the lick-to-water path
        if (value) *out_reg[ch] |= out_mask[ch];
        else *out_reg[ch] &= (uint8_t)~out_mask[ch];
    } else if (ch == LP_POLE_POSITION) {
        analogWrite(POLE_POSITION_PIN, value);
    } else if (ch >= LP_GO_CUE && ch <= LP_TONE_LOW) {
        if (value && freq) {
            tone(SPEAKER_PIN, freq);
            sounding = ch;
        } else if (sounding == ch) {
            noTone(SPEAKER_PIN);
            sounding = -1;
        }
    } else if (value) {
        *out_reg[ch] |= out_mask[ch];
    } else {
        *out_reg[ch] &= (uint8_t)~out_mask[ch];
    }
}

void setup() {
    for (uint8_t ch = 0; ch <= LP_N_CHANNELS; ch++) {
        pinMode(OUT_PINS[ch], OUTPUT);
        digitalWrite(OUT_PINS[ch], LOW);
        out_reg[ch] = portOutputRegister(digitalPinToPort(OUT_PINS[ch]));
        out_mask[ch] = digitalPinToBitMask(OUT_PINS[ch]);
    }
    pinMode(LED_PIN, OUTPUT);
    led_reg = portOutputRegister(digitalPinToPort(LED_PIN));
    led_mask = digitalPinToBitMask(LED_PIN);
    for (uint8_t i = 0; i < 2; i++) pinMode(LICK_PINS[i], INPUT);
    pinMode(FRAME_PIN, INPUT);
    pinMode(AUX_PIN, INPUT);
    Serial.begin(BAUD);
    UDR0 = 0;  // an idle frame delimiter; simavr sets UDRE only after a first byte
    lp_board_t board = {write_output, 0};
    lp_init(&core, &board, micros());
    attachInterrupt(digitalPinToInterrupt(FRAME_PIN), frame_edge, CHANGE);
    attachInterrupt(digitalPinToInterrupt(AUX_PIN), aux_edge, CHANGE);
}

// The lick lines, read several times a pass (a read is one port load): a change is
// stamped (the pass's time, or micros() later in the pass) and handed to the core, whose
// reflex drives the valve at once when the lick is the one the state waits for.
#if defined(RIG_BOARD_MEGA)  // D4 = PG5, D5 = PE3
#define LICK_BITS() ((uint8_t)(((PING >> 5) & 1) | ((PINE >> 2) & 2)))
#else  // D4, D5 = PD4, PD5
#define LICK_BITS() ((uint8_t)((PIND >> 4) & 3))
#endif
static uint8_t licks;  // bit 0 left, bit 1 right, as last handed to the core

static void __attribute__((noinline)) licks_changed(uint8_t bits, uint32_t now) {
    uint32_t t = now ? now : micros();
    for (uint8_t i = 0; i < 2; i++)
        if (((bits ^ licks) >> i) & 1) lp_input(&core, LP_LICK_LEFT + i, (bits >> i) & 1, t);
    licks = bits;
}

static inline __attribute__((always_inline)) void check_licks(uint32_t now) {
    uint8_t bits = LICK_BITS();
    if (bits != licks) licks_changed(bits, now);
}

// Frames go out through the UART's data register directly, a byte whenever it is empty
// (HardwareSerial's write costs 150-400 cycles a byte): a frame is encoded when the last
// one is out, and no pass ever waits for the line.
static uint8_t tx_frame[LP_MAX_PAYLOAD + 8], tx_len, tx_at;

static void send() {
    if (tx_at == tx_len) {
        tx_len = (uint8_t)lp_tx_next(&core, tx_frame, sizeof tx_frame);
        tx_at = 0;
    }
    while (tx_at < tx_len && (UCSR0A & _BV(UDRE0))) UDR0 = tx_frame[tx_at++];
}

void loop() {
    static uint32_t last;
    uint32_t now = micros();
    lp_loop_period(&core, now - last);
    last = now;
    while (isr_count) {  // interrupt edges first: they are older than this pass
        noInterrupts();
        uint8_t at = isr_head, line = isr_line[at], level = isr_level[at];
        uint32_t t = isr_t[at];
        isr_head = (at + 1) & 15;
        isr_count--;
        interrupts();
        lp_input(&core, line, level, t);
    }
    check_licks(now);
    lp_poll(&core, now);
    check_licks(0);
    // Everything received (bytes arrive every 22 us at 500 kbaud; the 64-byte buffer must
    // never fill during an upload), with a look at the lick lines every 16 bytes.
    for (uint8_t k = 1; Serial.available() > 0; k++) {
        lp_rx_byte(&core, (uint8_t)Serial.read());
        if ((k & 15) == 0) check_licks(0);
    }
    check_licks(0);
    send();
    check_licks(0);
    if (core.m.running) *led_reg |= led_mask;
    else *led_reg &= (uint8_t)~led_mask;
}
