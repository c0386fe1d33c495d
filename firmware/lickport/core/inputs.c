/* Inputs: raw edges in (with their stamps), the lick lines' debounce lockout, the reflex,
 * and everything due taken in time order (lp_advance). */
#include "lickport.h"

void lp_input(lp_core_t *c, uint8_t line, uint8_t level, uint32_t t) {
    if (c->edge_count == sizeof c->edge_t / sizeof c->edge_t[0]) {
        c->dropped++;
        return;
    }
    uint8_t at = (uint8_t)((c->edge_head + c->edge_count++) % 8);
    c->edge_line[at] = line;
    c->edge_level[at] = level;
    c->edge_t[at] = t;
    /* The reflex: when nothing before this edge can change the state (no other edge
     * waiting, no timer or pulse due by t, the line not in a debounce lockout), the
     * state it leads to gets its pins now; the records come in the next pass. */
    uint8_t bit = (uint8_t)(1u << line);
    if (c->edge_count == 1 && c->m.running && !(c->locked & bit) && !!(c->level & bit) != level)
        lp_exec_reflex(c, (uint8_t)(2 * line + !level), t);
}

static void accept(lp_core_t *c, uint8_t line, uint8_t level, uint32_t t) {
    uint8_t bit = (uint8_t)(1u << line);
    if (!!(c->level & bit) == level) return;
    c->level = level ? c->level | bit : c->level & (uint8_t)~bit;
    if (c->config.debounce_us[line]) {
        c->locked |= bit;
        c->lock_until[line] = t + c->config.debounce_us[line];
    }
    lp_exec_input(c, (uint8_t)(2 * line + !level), t);
}

static void edge(lp_core_t *c, uint8_t line, uint8_t level, uint32_t t) {
    uint8_t bit = (uint8_t)(1u << line);
    c->raw = level ? c->raw | bit : c->raw & (uint8_t)~bit;
    if (c->locked & bit) return;  /* inside the debounce lockout: seen when it ends */
    accept(c, line, level, t);
}

/* The earliest of: a lockout's end, the executor's deadline. */
static uint8_t next_due(const lp_core_t *c, uint32_t *t, uint8_t *line) {
    uint8_t found = lp_exec_deadline(c, t);
    *line = 0xFF;
    if (!c->locked) return found;
    for (uint8_t l = 0; l < LP_N_LINES; l++)
        if ((c->locked & (1u << l)) && (!found || !lp_le(*t, c->lock_until[l]))) {
            *t = c->lock_until[l];
            *line = l;
            found = 1;
        }
    return found;
}

/* Everything up to now, in time order; at one time: pulse ends, then inputs, then Tup
 * and debounce ends (the reference executor's order within a cycle). */
void lp_advance(lp_core_t *c) {
    for (;;) {
        uint32_t due = 0;
        uint8_t line;
        uint8_t has_due = next_due(c, &due, &line) && lp_le(due, c->now);
        uint8_t has_edge = c->edge_count > 0;
        uint32_t edge_t = c->edge_t[c->edge_head];
        if (has_edge && (!has_due || lp_le(edge_t, due))) {
            if (has_due && edge_t == due) lp_exec_pulses(c, due);
            uint8_t at = c->edge_head;
            c->edge_head = (uint8_t)((c->edge_head + 1) % 8);
            c->edge_count--;
            edge(c, c->edge_line[at], c->edge_level[at], edge_t);
        } else if (has_due && line != 0xFF) {
            c->locked &= (uint8_t)~(1u << line);
            accept(c, line, !!(c->raw & (1u << line)), due);
        } else if (has_due) {
            lp_exec_due(c, due);
        } else {
            return;
        }
    }
}

/* The valves (bit 0 left, bit 1 right) a state opens as it is entered. */
static uint8_t valves_of(const lp_core_t *c, uint8_t target) {
    const uint8_t *blob = c->m.blob[c->m.run_slot];
    const uint8_t *st = blob + LP_HEADER + LP_STATE_SIZE * target;
    const uint8_t *o = blob + LP_HEADER + LP_STATE_SIZE * blob[0] + LP_TRANSITION_SIZE * blob[1] +
                       LP_OUTPUT_SIZE * st[7];
    uint8_t valves = 0;
    for (uint8_t i = 0; i < st[8]; i++, o += LP_OUTPUT_SIZE)
        if (o[0] <= LP_VALVE_RIGHT && o[1]) valves |= (uint8_t)(1u << o[0]);
    return valves;
}

/* Valid while nothing can change the state first: no edge waits, no timer, pulse, lockout end
 * or heartbeat deadline comes before the onset; the line is low (or will be when its lockout
 * ends) and out of its lockout. */
void lp_reflex_arm(const lp_core_t *c, lp_reflex_t *r) {
    r->valves[0] = r->valves[1] = 0;
    r->until = c->now + LP_REFLEX_SPAN_US;
    if (!c->m.running || c->edge_count) return;
    uint32_t due;
    if (lp_exec_deadline(c, &due) && !lp_le(r->until, due)) r->until = due;
    due = c->last_rx + c->config.heartbeat_us;
    if (!lp_le(r->until, due)) r->until = due;
    for (uint8_t l = 0; l < LP_N_LINES; l++) { /* a lockout ending on a change is an event */
        uint8_t bit = (uint8_t)(1u << l);
        if ((c->locked & bit) && ((c->raw ^ c->level) & bit) && !lp_le(r->until, c->lock_until[l]))
            r->until = c->lock_until[l];
    }
    if (!lp_le(c->now, r->until) || r->until == c->now) return;
    const uint8_t *blob = c->m.blob[c->m.run_slot];
    const uint8_t *st = blob + LP_HEADER + LP_STATE_SIZE * c->m.state;
    for (uint8_t l = LP_LICK_LEFT; l <= LP_LICK_RIGHT; l++) {
        uint8_t bit = (uint8_t)(1u << l);
        if ((c->level | c->raw) & bit) continue; /* an onset needs the line low */
        const uint8_t *tr = blob + LP_HEADER + LP_STATE_SIZE * blob[0] + LP_TRANSITION_SIZE * st[5];
        for (uint8_t i = 0; i < st[6]; i++, tr += LP_TRANSITION_SIZE) {
            if (tr[0] != 2 * l) continue;
            if (tr[1] < LP_EXIT) r->valves[l] = valves_of(c, tr[1]);
            break;
        }
        r->from[l] = (c->locked & bit) ? c->lock_until[l] : c->now;
    }
}
