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
