// The lick-port controller on an Arduino Uno or Mega 2560: pins, the clock, the serial
// line. Everything else is the portable core (../core/), the same code the host tests run.
//
// Pins (both boards):  in  D2 frame clock, D3 aux, D4 left lick, D5 right lick: on the Uno
//                          all four by one pin-change interrupt (PCINT2, port D), stamped in
//                          it; on the Mega D2/D3 by INT4/INT5, D4/D5 polled each loop pass
//                          (PG5 and PE3 have no pin-change interrupt)
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
static const uint8_t OUT_PINS[LP_N_CHANNELS + 1] PROGMEM = {
    6, 7, SPEAKER_PIN, SPEAKER_PIN, SPEAKER_PIN, 8, POLE_POSITION_PIN, 12, BITCODE_PIN};
static const uint32_t BAUD = 500000UL;  // exact at 16 MHz; the loop keeps up with it

static lp_core_t core;
static volatile uint8_t *out_reg[LP_N_CHANNELS + 1];
static uint8_t out_mask[LP_N_CHANNELS + 1];
static volatile uint8_t *led_reg;
static uint8_t led_mask;
static int8_t sounding = -1;  // the tone channel on the speaker

#if !defined(RIG_BOARD_MEGA)
// ---- the Uno: its own clock, UART receiver, tone and input interrupt ---------------------
// Every interrupt but the inputs' is a few instructions (none blocks another for more than
// 20 cycles), so an edge on D2-D5 is stamped within 4 us whatever the board is doing. The
// Arduino core's wiring.c, HardwareSerial, Tone and WInterrupts are not linked.

// The clock: timer 0 (as the Arduino core sets it: fast PWM, clock / 64, a tick of 4 us),
// its overflows counted in 8 bits by the interrupt and extended in the main loop.
static volatile uint8_t lp_ovf;
ISR(TIMER0_OVF_vect, ISR_NAKED) {
    asm volatile(
        "push r24\n in r24, __SREG__\n push r24\n"
        "lds r24, %[ovf]\n subi r24, 0xFF\n sts %[ovf], r24\n"
        "pop r24\n out __SREG__, r24\n pop r24\n reti\n" ::[ovf] "i"(&lp_ovf));
}

// 16-bit ticks of 4 us now: overflows and TCNT0 read together (an overflow not yet counted
// is the pending flag).
static inline uint16_t ticks_now() {
    uint8_t sreg = SREG;
    cli();
    uint8_t o = lp_ovf, t = TCNT0;
    if ((TIFR0 & _BV(TOV0)) && t != 255) o++;
    SREG = sreg;
    return (uint16_t)(o << 8 | t);
}

static uint32_t clock_high;  // ticks, above the 16 bits (main loop only)
static uint16_t clock_last;
static uint32_t ticks32(uint16_t t) {
    if (t < clock_last) clock_high += 0x10000UL;
    clock_last = t;
    return clock_high + t;
}
extern "C" unsigned long micros() { return ticks32(ticks_now()) << 2; }

// What the Arduino core's init() does for the timers this board uses.
extern "C" void init() {
    TCCR0A = _BV(WGM01) | _BV(WGM00);
    TCCR0B = _BV(CS01) | _BV(CS00);
    TIMSK0 = _BV(TOIE0);
    TCCR1B = _BV(CS11) | _BV(CS10);  // timer 1: 8-bit phase correct PWM (analogWrite, D10)
    TCCR1A = _BV(WGM10);
    UCSR0B = 0;
    sei();
}

// The UART's receiver: the byte is read (which clears the interrupt) and interrupts are on
// again before it is stored.
static volatile uint8_t lp_rx_buf[64], lp_rx_head, lp_rx_tail;
ISR(USART_RX_vect, ISR_NAKED) {
    asm volatile(
        "push r24\n lds r24, %[udr]\n sei\n"
        "push r25\n in r25, __SREG__\n push r25\n push r30\n push r31\n"
        "lds r30, %[head]\n mov r25, r30\n inc r25\n andi r25, 63\n"
        "lds r31, %[tail]\n cp r25, r31\n breq 1f\n"  // full: the byte is lost
        "ldi r31, 0\n subi r30, lo8(-(%[buf]))\n sbci r31, hi8(-(%[buf]))\n"
        "st Z, r24\n sts %[head], r25\n"
        "1: pop r31\n pop r30\n pop r25\n out __SREG__, r25\n pop r25\n pop r24\n reti\n"
        ::[udr] "n"(_SFR_MEM_ADDR(UDR0)), [head] "i"(&lp_rx_head), [tail] "i"(&lp_rx_tail),
          [buf] "i"(lp_rx_buf));
}

static void uart_begin() {
    UCSR0A = _BV(U2X0);
    UBRR0 = F_CPU / 8 / BAUD - 1;  // 3: exact at 16 MHz
    UCSR0C = _BV(UCSZ01) | _BV(UCSZ00);
    UCSR0B = _BV(RXEN0) | _BV(TXEN0) | _BV(RXCIE0);
}

// Tones: timer 2 in CTC mode, the speaker pin (D9, PB1) toggled by a two-instruction
// interrupt; the prescaler and compare value as Arduino's tone() chooses them.
ISR(TIMER2_COMPA_vect, ISR_NAKED) {
    asm volatile("push r24\n ldi r24, 2\n out %[pin], r24\n pop r24\n reti\n"
                 ::[pin] "I"(_SFR_IO_ADDR(PINB)));
}

static void tone_on(uint16_t freq) {
    static const uint8_t shifts[7] PROGMEM = {0, 3, 5, 6, 7, 8, 10};
    uint32_t ocr = 0;
    uint8_t cs = 1;
    for (; cs <= 7; cs++) {
        ocr = F_CPU / freq / 2 / (1UL << pgm_read_byte(&shifts[cs - 1])) - 1;
        if (ocr <= 255) break;
    }
    TIMSK2 = 0;
    TCCR2A = _BV(WGM21);
    TCCR2B = cs;
    OCR2A = (uint8_t)ocr;
    TCNT2 = 0;
    TIMSK2 = _BV(OCIE2A);
}

static void tone_off() {
    TIMSK2 = 0;
    uint8_t sreg = SREG;
    cli();
    PORTB &= (uint8_t)~_BV(PB1);
    SREG = sreg;
}

// The inputs: one pin-change interrupt for D2-D5 (PD2-PD5). Its first instructions copy
// TCNT0, TIFR0 and PIND to the general-purpose I/O registers (the stamp, 7 cycles after the
// vector); the body queues the port's new bits with the stamp and, when the change is a lick
// onset the core has armed and no other edge waits, opens the valves at once.
#define IN_BITS 0x3C
#define LICK_BITS_D 0x30  // PD4 left, PD5 right
static volatile uint8_t in_bits[8], in_head, in_count, in_last, in_lost;
static volatile uint16_t in_t[8];
static volatile uint8_t arm_valves[2];  // PORTD bits (PD6 left valve, PD7 right)
static volatile uint16_t arm_from[2], arm_until;

extern "C" void __vector_lp_inputs() __attribute__((signal, used));
ISR(PCINT2_vect, ISR_NAKED) {
    asm volatile(
        "push r24\n in r24, %[tcnt]\n out %[g1], r24\n in r24, %[tifr]\n out %[g0], r24\n"
        "in r24, %[pind]\n out %[g2], r24\n pop r24\n jmp %x[body]\n"
        ::[tcnt] "I"(_SFR_IO_ADDR(TCNT0)), [tifr] "I"(_SFR_IO_ADDR(TIFR0)),
          [pind] "I"(_SFR_IO_ADDR(PIND)), [g0] "I"(_SFR_IO_ADDR(GPIOR0)),
          [g1] "I"(_SFR_IO_ADDR(GPIOR1)), [g2] "I"(_SFR_IO_ADDR(GPIOR2)),
          [body] "i"(__vector_lp_inputs));
}

void __vector_lp_inputs() {
    uint8_t t8 = GPIOR1, bits = GPIOR2 & IN_BITS, o = lp_ovf;
    if ((GPIOR0 & _BV(TOV0)) && t8 != 255) o++;
    uint8_t changed = bits ^ in_last;
    if (!changed) return;
    in_last = bits;
    if (in_count == sizeof in_t / sizeof in_t[0]) {
        in_lost++;
        return;
    }
    uint16_t t = (uint16_t)(o << 8 | t8);
    uint8_t first = in_count == 0, at = (uint8_t)((in_head + in_count) & 7);
    in_bits[at] = bits;
    in_t[at] = t;
    in_count++;
    if (!first || !(changed & bits) || (changed != _BV(PD4) && changed != _BV(PD5)))
        return;  // one lick line's onset only, nothing before it waiting
    sei();  // the rest may be interrupted by the next edge
    uint8_t line = changed >> 5;  // 0 left, 1 right
    uint8_t valves = arm_valves[line];
    if (valves && (int16_t)(t - arm_from[line]) >= 0 && (int16_t)(t - arm_until) < 0) {
        cli();
        PORTD |= valves;
    }
}

// The core's reflex, as PORTD bits and 16-bit ticks, for the interrupt (after each pass).
static void arm() {
    lp_reflex_t r;
    lp_reflex_arm(&core, &r);
    uint16_t now = (uint16_t)(core.now >> 2);
    cli();
    for (uint8_t l = 0; l < 2; l++) {
        arm_valves[l] = (uint8_t)((r.valves[l] & 1 ? _BV(PD6) : 0) | (r.valves[l] & 2 ? _BV(PD7) : 0));
        arm_from[l] = lp_le(r.from[l], core.now) ? now : (uint16_t)((r.from[l] + 3) >> 2);
    }
    arm_until = (uint16_t)((r.until + 3) >> 2);
    sei();
}
static inline void disarm() { arm_valves[0] = arm_valves[1] = 0; }

// The edges the interrupt queued up to now, to the core (lick lines first within one change,
// as the core takes them); the time now, read with the queue's length.
static uint8_t in_seen;
static uint32_t take_edges() {
    cli();
    uint16_t t16 = ticks_now();
    uint8_t n = in_count, lost = in_lost;
    in_lost = 0;
    sei();
    uint32_t now = ticks32(t16);
    if (lost) core.dropped = (uint16_t)(core.dropped + lost);
    if (n) disarm();
    for (; n; n--) {
        uint8_t at = in_head, bits = in_bits[at];
        uint32_t t = now - (uint16_t)(t16 - in_t[at]);
        cli();
        in_head = (uint8_t)((at + 1) & 7);
        in_count--;
        sei();
        uint8_t changed = bits ^ in_seen;
        in_seen = bits;
        if (changed & _BV(PD4)) lp_input(&core, LP_LICK_LEFT, !!(bits & _BV(PD4)), t << 2);
        if (changed & _BV(PD5)) lp_input(&core, LP_LICK_RIGHT, !!(bits & _BV(PD5)), t << 2);
        if (changed & _BV(PD2)) lp_input(&core, LP_FRAME_CLOCK, !!(bits & _BV(PD2)), t << 2);
        if (changed & _BV(PD3)) lp_input(&core, LP_AUX, !!(bits & _BV(PD3)), t << 2);
    }
    return now << 2;
}

static void start_inputs() {
    PCMSK2 = IN_BITS;
    PCICR = _BV(PCIE2);
    cli();
    uint8_t bits = PIND & IN_BITS;
    if (bits) {  // a line high at start-up: an edge now
        in_last = bits;
        in_bits[0] = bits;
        in_t[0] = ticks_now();
        in_count = 1;
    }
    sei();
}

// Free RAM painted at start-up (before the stack is used), so the simulator can find the
// stack's lowest point: the harness reads the RAM (firmware/sim/README.md).
extern uint8_t _end, __stack;
extern "C" void lp_paint_stack() __attribute__((naked, used, section(".init3")));
void lp_paint_stack() {
    for (uint8_t *p = &_end; p <= &__stack; p++) *p = 0xC5;
}

static inline uint8_t rx_available() { return lp_rx_head != lp_rx_tail; }
static inline uint8_t rx_read() {
    uint8_t at = lp_rx_tail, b = lp_rx_buf[at];
    lp_rx_tail = (uint8_t)((at + 1) & 63);
    return b;
}
#define tone(pin, freq) tone_on(freq)
#define noTone(pin) tone_off()

#else
// ---- the Mega: the Arduino core's clock, Serial, tone() and external interrupts ----------
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

// The lick lines, read several times a pass (a read is one port load): a change is
// stamped (the pass's time, or micros() later in the pass) and handed to the core, whose
// reflex drives the valve at once when the lick is the one the state waits for.
#define LICK_BITS() ((uint8_t)(((PING >> 5) & 1) | ((PINE >> 2) & 2)))  // D4 = PG5, D5 = PE3
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

static uint32_t take_edges() {
    uint32_t now = micros();
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
    return now;
}

static void start_inputs() {
    attachInterrupt(digitalPinToInterrupt(FRAME_PIN), frame_edge, CHANGE);
    attachInterrupt(digitalPinToInterrupt(AUX_PIN), aux_edge, CHANGE);
}
static void uart_begin() { Serial.begin(BAUD); }
static inline uint8_t rx_available() { return Serial.available() > 0; }
static inline uint8_t rx_read() { return (uint8_t)Serial.read(); }
static inline void arm() {}
static inline void disarm() {}
#endif

static void write_output(void *, uint8_t ch, uint8_t value, uint16_t freq) {
    if (ch == LP_POLE_POSITION) {
        analogWrite(POLE_POSITION_PIN, value);
    } else if (ch >= LP_GO_CUE && ch <= LP_TONE_LOW) {
        if (value && freq) {
            tone(SPEAKER_PIN, freq);
            sounding = ch;
        } else if (sounding == ch) {
            noTone(SPEAKER_PIN);
            sounding = -1;
        }
    } else {  // the valves (the lick-to-water path) and the digital lines
        uint8_t sreg = SREG;
        cli();  // the interrupts write these ports too
        if (value) *out_reg[ch] |= out_mask[ch];
        else *out_reg[ch] &= (uint8_t)~out_mask[ch];
        SREG = sreg;
    }
}

void setup() {
    for (uint8_t ch = 0; ch <= LP_N_CHANNELS; ch++) {
        uint8_t pin = pgm_read_byte(&OUT_PINS[ch]);
        pinMode(pin, OUTPUT);
        digitalWrite(pin, LOW);
        out_reg[ch] = portOutputRegister(digitalPinToPort(pin));
        out_mask[ch] = digitalPinToBitMask(pin);
    }
    pinMode(LED_PIN, OUTPUT);
    led_reg = portOutputRegister(digitalPinToPort(LED_PIN));
    led_mask = digitalPinToBitMask(LED_PIN);
    for (uint8_t i = 0; i < 2; i++) pinMode(LICK_PINS[i], INPUT);
    pinMode(FRAME_PIN, INPUT);
    pinMode(AUX_PIN, INPUT);
    uart_begin();
    UDR0 = 0;  // an idle frame delimiter; simavr sets UDRE only after a first byte
    lp_board_t board = {write_output, 0};
    lp_init(&core, &board, micros());
    start_inputs();
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

// The core's view of the valves, on their pins: a pin an interrupt drove that the core did
// not (it never should) is put back.
static inline void valves_as_core() {
#if !defined(RIG_BOARD_MEGA)
    uint8_t want = (uint8_t)((core.out_value[0] ? _BV(PD6) : 0) | (core.out_value[1] ? _BV(PD7) : 0));
    cli();
    if ((PORTD & (_BV(PD6) | _BV(PD7))) != want)
        PORTD = (uint8_t)((PORTD & ~(_BV(PD6) | _BV(PD7))) | want);
    sei();
#endif
}

static void pass(uint32_t now) {
    lp_poll(&core, now);
    valves_as_core();
}

void loop() {
    static uint32_t last;
    uint32_t now = take_edges();
    lp_loop_period(&core, now - last);
    last = now;
    pass(now);
    arm();
    // Everything received (bytes arrive every 20 us at 500 kbaud; the 64-byte buffer must
    // never fill during an upload). A frame's last byte (0x00) is taken at its own time,
    // after the edges before it: the core is brought to now, the reflex off while it acts.
    for (uint8_t k = 1; rx_available(); k++) {
        uint8_t byte = rx_read();
        if (byte == 0) {
            now = take_edges();
            pass(now);
            disarm();
            lp_rx_byte(&core, 0);
            valves_as_core();
            arm();
        } else {
            lp_rx_byte(&core, byte);
        }
#if defined(RIG_BOARD_MEGA)
        if ((k & 15) == 0) check_licks(0);
#endif
    }
    send();
    if (core.m.running) *led_reg |= led_mask;
    else *led_reg &= (uint8_t)~led_mask;
}
