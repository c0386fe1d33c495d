/* The state-machine executor: the rules of rig.fsm.executor's timing table, on micros()
 * time instead of 100 us cycles. An event's time is when it happened (an input's stamp,
 * a timer's exact end), never when the loop noticed it, so chains of timers do not drift,
 * and the next queued trial begins at the exit's own time (no dead time). */
#include "lickport.h"

static const uint8_t *machine(const lp_core_t *c) { return c->m.blob[c->m.run_slot]; }
static const uint8_t *state_at(const lp_core_t *c, uint8_t s) {
    return machine(c) + LP_HEADER + LP_STATE_SIZE * s;
}
static const uint8_t *transitions(const lp_core_t *c) {
    return machine(c) + LP_HEADER + LP_STATE_SIZE * machine(c)[0];
}
static const uint8_t *outputs(const lp_core_t *c) {
    return transitions(c) + LP_TRANSITION_SIZE * machine(c)[1];
}

static void record_output(lp_core_t *c, uint8_t ch, uint8_t value, uint16_t freq, uint32_t t) {
    uint8_t body[4] = {ch, value, (uint8_t)freq, (uint8_t)(freq >> 8)};
    lp_drive(c, ch, value, freq, t);  /* the pin first: the report can wait */
    lp_emit_event(c, LP_EV_OUTPUT, t, body, 4);
}

static void enter(lp_core_t *c, uint8_t index, uint32_t t) {
    lp_machine_t *m = &c->m;
    const uint8_t *st = state_at(c, index);
    const uint8_t *outs = outputs(c) + LP_OUTPUT_SIZE * st[7];
    uint8_t new_held[LP_N_CHANNELS] = {0};
    uint16_t new_freq[LP_N_CHANNELS] = {0};
    for (uint8_t i = 0; i < st[8]; i++) {
        const uint8_t *o = outs + LP_OUTPUT_SIZE * i;
        if (lp_get32(o + 4) == 0) {
            new_held[o[0]] = o[1];
            new_freq[o[0]] = lp_get16(o + 2);
        }
    }
    for (uint8_t ch = 0; ch < LP_N_CHANNELS; ch++)  /* row 8: held outputs end at exit */
        if (m->held[ch] && !new_held[ch] && !(m->pulsing & (1u << ch)))
            record_output(c, ch, 0, 0, t);
    m->state = index;
    m->entered = t;
    lp_emit_event(c, LP_EV_STATE, t, &index, 1);
    for (uint8_t ch = 0; ch < LP_N_CHANNELS; ch++) {
        if (new_held[ch] && (new_held[ch] != m->held[ch] || new_freq[ch] != m->held_freq[ch]))
            record_output(c, ch, new_held[ch], new_freq[ch], t);
        m->held[ch] = new_held[ch];
        m->held_freq[ch] = new_freq[ch];
    }
    for (uint8_t i = 0; i < st[8]; i++) {  /* row 9: pulses run their length */
        const uint8_t *o = outs + LP_OUTPUT_SIZE * i;
        uint32_t length = lp_get32(o + 4);
        if (length == 0) continue;
        m->pulsing |= (uint8_t)(1u << o[0]);
        m->pulse_end[o[0]] = t + length;
        record_output(c, o[0], o[1], lp_get16(o + 2), t);
    }
}

/* The pins of a state's outputs, before any record is queued: a lick reaches the valve
 * first (enter() records the same values after and re-drives them harmlessly). */
static void drive_entry(lp_core_t *c, uint8_t index, uint32_t t) {
    const uint8_t *st = state_at(c, index);
    const uint8_t *o = outputs(c) + LP_OUTPUT_SIZE * st[7];
    for (uint8_t i = 0; i < st[8]; i++, o += LP_OUTPUT_SIZE)
        lp_drive(c, o[0], o[1], lp_get16(o + 2), t);
}

static void go(lp_core_t *c, uint8_t target, uint32_t t) {
    if (target == LP_EXIT)
        lp_exec_end(c, t, LP_END_EXIT);
    else if (target != LP_NONE)
        enter(c, target, t);
}

void lp_exec_begin(lp_core_t *c, uint32_t t) {
    lp_machine_t *m = &c->m;
    m->run_slot = (uint8_t)(1 - m->run_slot);
    m->trial = m->queued_trial;
    m->queued = 0;
    m->running = 1;
    uint8_t body[4] = {(uint8_t)m->trial, (uint8_t)(m->trial >> 8), (uint8_t)(m->trial >> 16),
                       (uint8_t)(m->trial >> 24)};
    lp_emit_event(c, LP_EV_TRIAL_START, t, body, 4);
    if (c->config.bitcode) {
        c->bitcode_on = 1;
        c->bitcode_slot = 0;
        c->bitcode_start = t;
        c->bitcode_value = m->trial;
    }
    enter(c, 0, t);
}

void lp_exec_end(lp_core_t *c, uint32_t t, uint8_t reason) {
    lp_machine_t *m = &c->m;
    if (!m->running) return;
    for (uint8_t ch = 0; ch < LP_N_CHANNELS; ch++)  /* row 11: everything off at exit */
        if (m->held[ch] || (m->pulsing & (1u << ch))) record_output(c, ch, 0, 0, t);
    for (uint8_t ch = 0; ch < LP_N_CHANNELS; ch++) m->held[ch] = 0;
    m->pulsing = 0;
    m->running = 0;
    lp_emit_event(c, LP_EV_TRIAL_END, t, &reason, 1);
    if (m->queued && reason == LP_END_EXIT) lp_exec_begin(c, t); /* row 12, same pass */
}

void lp_exec_input(lp_core_t *c, uint8_t event, uint32_t t) {
    if (!c->m.running) return;  /* row 3: no events while idle */
    const uint8_t *st = state_at(c, c->m.state);
    const uint8_t *tr = transitions(c) + LP_TRANSITION_SIZE * st[5];
    uint8_t target = LP_NONE;
    for (uint8_t i = 0; i < st[6]; i++, tr += LP_TRANSITION_SIZE)
        if (tr[0] == event) {
            target = tr[1];
            break;
        }
    if (target < LP_EXIT) drive_entry(c, target, t);
    lp_emit_event(c, LP_EV_INPUT, t, &event, 1);
    go(c, target, t);
}

uint8_t lp_exec_deadline(const lp_core_t *c, uint32_t *t) {
    const lp_machine_t *m = &c->m;
    if (!m->running) return 0;
    uint8_t found = 0;
    const uint8_t *st = state_at(c, m->state);
    if (st[4] != LP_NONE) {
        *t = m->entered + lp_get32(st);
        found = 1;
    }
    if (!m->pulsing) return found;
    uint8_t bit = 1;
    for (uint8_t ch = 0; ch < LP_N_CHANNELS; ch++, bit = (uint8_t)(bit << 1))
        if ((m->pulsing & bit) && (!found || !lp_le(*t, m->pulse_end[ch]))) {
            *t = m->pulse_end[ch];
            found = 1;
        }
    return found;
}

void lp_exec_pulses(lp_core_t *c, uint32_t t) {
    lp_machine_t *m = &c->m;
    for (uint8_t ch = 0; ch < LP_N_CHANNELS; ch++)
        if ((m->pulsing & (1u << ch)) && m->pulse_end[ch] == t) {
            m->pulsing &= (uint8_t)~(1u << ch);
            if (!m->held[ch]) record_output(c, ch, 0, 0, t);
        }
}

void lp_exec_due(lp_core_t *c, uint32_t t) {
    lp_machine_t *m = &c->m;
    lp_exec_pulses(c, t); /* pulse ends first (the reference's order) */
    if (!m->running) return;
    const uint8_t *st = state_at(c, m->state);
    if (st[4] != LP_NONE && m->entered + lp_get32(st) == t) {
        uint8_t tup = LP_TUP;
        if (st[4] < LP_EXIT) drive_entry(c, st[4], t);
        lp_emit_event(c, LP_EV_INPUT, t, &tup, 1);
        go(c, st[4], t);
    }
}

void lp_exec_reflex(lp_core_t *c, uint8_t event, uint32_t t) {
    uint32_t due;
    if (lp_exec_deadline(c, &due) && lp_le(due, t)) return; /* the state may change first */
    const uint8_t *st = state_at(c, c->m.state);
    const uint8_t *tr = transitions(c) + LP_TRANSITION_SIZE * st[5];
    for (uint8_t i = 0; i < st[6]; i++, tr += LP_TRANSITION_SIZE)
        if (tr[0] == event) {
            if (tr[1] < LP_EXIT) drive_entry(c, tr[1], t);
            return;
        }
}
