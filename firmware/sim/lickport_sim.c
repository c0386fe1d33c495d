/*
 * lickport-sim: run a firmware ELF in a simulated ATmega328P (libsimavr), bridge UART0 to a
 * pty and serve one coupler, in lockstep, over a UNIX socket. See README.md in this folder
 * for the command line and the control protocol.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "avr_extint.h"
#include "avr_ioport.h"
#include "avr_timer.h"
#include "avr_uart.h"
#include "sim_avr.h"
#include "sim_cycle_timers.h"
#include "sim_elf.h"
#include "sim_io.h"
#include "sim_irq.h"
#include "uart_pty.h"

#define FREQ 16000000ULL
#define MS(n) ((avr_cycle_count_t)(n) * (FREQ / 1000))
#define CHECK_EVERY 1024 /* cycles between wall-clock / signal checks */
#define MAX_WATCH 32

enum kind { DIGITAL, TONE, PWM };

/* The ATmega328P's timer output-compare pins (data-space register addresses). */
typedef struct oc {
    char pin[4];
    char timer;
    uint8_t tccra, tccrb, ocr, com_shift, wide; /* com_shift 6: unit A, 4: unit B */
} oc_t;
static const oc_t ocs[] = {
    {"PD6", '0', 0x44, 0x45, 0x47, 6, 0}, {"PD5", '0', 0x44, 0x45, 0x48, 4, 0}, /* OC0A/B */
    {"PB1", '1', 0x80, 0x81, 0x88, 6, 1}, {"PB2", '1', 0x80, 0x81, 0x8A, 4, 1}, /* OC1A/B */
    {"PB3", '2', 0xB0, 0xB1, 0xB3, 6, 0}, {"PD3", '2', 0xB0, 0xB1, 0xB4, 4, 0}, /* OC2A/B */
};
#define OC_POLL 1600 /* cycles (0.1 ms) between looks at a pwm pin's timer registers */

typedef struct watch {
    char name[4];            /* "PB1" */
    enum kind kind;
    const oc_t *oc;          /* pwm: the pin's output-compare unit, if it has one */
    avr_irq_t *irq;
    int level;               /* last level seen */
    int value;               /* last reported value (level, Hz or duty) */
    int edges, rises;        /* edges and rising edges seen since the pin went quiet */
    int driven;              /* pwm: the timer drives the pin (duty from its registers) */
    avr_cycle_count_t first_edge, last_edge, last_rise, last_fall, period;
} watch_t;

static avr_t *avr;
static watch_t watches[MAX_WATCH];
static int n_watches;
static volatile sig_atomic_t stop_signal;
static const char *socket_path;
static char *outbox;                  /* pending "out" lines */
static size_t outbox_len, outbox_cap;
static void (*extint_reset)(avr_io_t *io);

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("lickport-sim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (socket_path) unlink(socket_path);
    exit(1);
}

/* ---- output pins ---------------------------------------------------------------------- */

static void emit(avr_cycle_count_t cycle, const watch_t *w, int value) {
    char line[64];
    int n = snprintf(line, sizeof line, "out %" PRIu64 " %s %d\n", cycle, w->name, value);
    if (outbox_len + n + 1 > outbox_cap) {
        outbox_cap = 2 * outbox_cap + 256;
        if (!(outbox = realloc(outbox, outbox_cap))) die("out of memory");
    }
    memcpy(outbox + outbox_len, line, n + 1);
    outbox_len += n;
}

/* A tone pin silent for 2 ms: report 0, stamped with the last edge. */
static avr_cycle_count_t tone_silent(avr_t *a, avr_cycle_count_t when, void *param) {
    (void)a, (void)when;
    watch_t *w = param;
    if (w->value) emit(w->last_edge, w, 0);
    w->value = w->edges = w->rises = 0;
    return 0;
}

/* simavr 1.6 does not drive OC pins in phase-correct PWM (Arduino's analogWrite on timers 1
 * and 2), and any PORTx write re-drives an OC pin with its PORT bit. So while a timer drives a
 * pin in an 8-bit PWM mode (TOP 0xFF), its duty comes from the timer's registers; -1 otherwise. */
static int oc_duty(const oc_t *oc) {
    if (!oc) return -1;
    uint8_t a = avr->data[oc->tccra], b = avr->data[oc->tccrb];
    int com = (a >> oc->com_shift) & 3, wgm = (a & 3) | ((b >> 3) & (oc->wide ? 3 : 1)) << 2;
    int fast = wgm == (oc->wide ? 5 : 3);
    if (com < 2 || !(b & 7) || (wgm != 1 && !fast)) return -1;
    unsigned ocr = avr->data[oc->ocr] | (oc->wide ? avr->data[oc->ocr + 1] << 8 : 0);
    if (ocr > 255) ocr = 255;
    if (fast) /* high for OCR+1 of 256 ticks (inverted: the rest) */
        return (int)(((com == 2 ? ocr + 1 : 255 - ocr) * 255 + 128) / 256);
    return (int)(com == 2 ? ocr : 255 - ocr); /* phase correct: 2*OCR of 510 ticks */
}

/* A pwm pin held low or high for 2 periods (5 ms if unknown): duty 0 or 255. */
static avr_cycle_count_t pwm_held(avr_t *a, avr_cycle_count_t when, void *param) {
    (void)a, (void)when;
    watch_t *w = param;
    if (oc_duty(w->oc) >= 0) return 0;
    int duty = w->level ? 255 : 0;
    if (duty != w->value) emit(w->last_edge, w, duty);
    w->value = duty, w->edges = w->rises = 0, w->period = 0;
    return 0;
}

/* (Re)starts a tone pin's silence timer or a pwm pin's held-level timer. */
static void arm(watch_t *w) {
    if (w->kind == TONE)
        avr_cycle_timer_register(avr, MS(2), tone_silent, w);
    else if (w->kind == PWM)
        avr_cycle_timer_register(avr, w->period ? 2 * w->period : MS(5), pwm_held, w);
}

/* Looks at a pwm pin's timer (every OC_POLL cycles, and when the firmware writes an OCR):
 * reports the duty it produces, or hands the pin back to edge measurement. */
static void pwm_check(watch_t *w) {
    int duty = oc_duty(w->oc);
    if (duty >= 0 && duty != w->value) emit(avr->cycle, w, duty), w->value = duty;
    if (duty < 0 && w->driven) /* released: 0 or 255 once held, timed from now */
        w->last_edge = avr->cycle, w->period = 0, arm(w);
    w->driven = duty >= 0;
}

static avr_cycle_count_t pwm_poll(avr_t *a, avr_cycle_count_t when, void *param) {
    (void)a;
    pwm_check(param);
    return when + OC_POLL;
}

static void on_ocr(avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq, (void)value;
    pwm_check(param);
}

static void on_pin(avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq;
    watch_t *w = param;
    int level = value != 0;
    avr_cycle_count_t now = avr->cycle;
    if (level == w->level) return;
    w->level = level;
    switch (w->kind) {
    case DIGITAL:
        emit(now, w, level);
        w->value = level;
        return;
    case TONE: /* frequency on the first full period, from rising edge to rising edge */
        if (w->edges++ == 0) w->first_edge = now;
        if (level) {
            if (!w->value && w->rises++) {
                w->value = (int)((FREQ + (now - w->last_rise) / 2) / (now - w->last_rise));
                emit(w->first_edge, w, w->value);
            }
            w->last_rise = now;
        }
        break;
    case PWM: /* duty over one period, from rising edge to rising edge */
        if (oc_duty(w->oc) >= 0) return; /* the timer drives it: see pwm_check() */
        if (!level) {
            w->last_fall = now;
        } else {
            if (w->rises && w->last_fall > w->last_rise) {
                avr_cycle_count_t period = now - w->last_rise, high = w->last_fall - w->last_rise;
                int duty = (int)((high * 255 + period / 2) / period);
                w->period = period;
                if (duty != w->value) emit(w->last_rise, w, duty);
                w->value = duty;
            }
            w->rises++, w->last_rise = now;
        }
        break;
    }
    w->last_edge = now;
    arm(w);
}

/* "PB1" -> port 'B', bit 1; the ioport irq of that pin, or NULL. */
static avr_irq_t *pin_irq(const char *name) {
    if (strlen(name) != 3 || name[0] != 'P' || name[1] < 'A' || name[1] > 'L' || name[2] < '0'
        || name[2] > '7')
        return NULL;
    return avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ(name[1]), name[2] - '0');
}

static void add_watches(char *spec) {
    for (char *tok = strtok(spec, ","); tok; tok = strtok(NULL, ",")) {
        if (n_watches == MAX_WATCH) die("too many watched pins (max %d)", MAX_WATCH);
        watch_t *w = &watches[n_watches++];
        char *kind = strchr(tok, ':');
        if (kind) *kind++ = '\0';
        if (!kind || !strcmp(kind, "digital")) w->kind = DIGITAL;
        else if (!strcmp(kind, "tone")) w->kind = TONE;
        else if (!strcmp(kind, "pwm")) w->kind = PWM;
        else die("unknown pin kind '%s' (digital, tone or pwm)", kind);
        if (!(w->irq = pin_irq(tok))) die("no such pin '%s' (e.g. PD6)", tok);
        memcpy(w->name, tok, 4);
        w->level = w->value = w->irq->value != 0;
        avr_irq_register_notify(w->irq, on_pin, w);
        for (size_t i = 0; w->kind == PWM && i < sizeof ocs / sizeof ocs[0]; i++) {
            if (strcmp(ocs[i].pin, w->name)) continue;
            w->oc = &ocs[i];
            int unit = ocs[i].com_shift == 6 ? TIMER_IRQ_OUT_PWM0 : TIMER_IRQ_OUT_PWM1;
            avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_TIMER_GETIRQ(ocs[i].timer), unit),
                                    on_ocr, w);
            avr_cycle_timer_register(avr, OC_POLL, pwm_poll, w);
        }
    }
}

/* simavr's UART usleep()s whenever the firmware polls an idle UCSR0A (it then simulates at
 * ~0.1 MHz), and echoes text to the console: neither, please. */
static void quiet_uart(void) {
    uint32_t flags = 0;
    avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
    flags &= ~(AVR_UART_FLAG_POLL_SLEEP | AVR_UART_FLAG_STDIO);
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
}

/* Runs after simavr's own extint reset (at init, then on every reset): strict level
 * triggering of INT0/INT1 off, and the tone/pwm timers that avr_reset cleared re-armed. */
static void after_reset(avr_io_t *io) {
    extint_reset(io);
    avr_extint_set_strict_lvl_trig(avr, 0, 0);
    avr_extint_set_strict_lvl_trig(avr, 1, 0);
    quiet_uart();
    for (int i = 0; i < n_watches; i++) {
        arm(&watches[i]);
        if (watches[i].oc) avr_cycle_timer_register(avr, OC_POLL, pwm_poll, &watches[i]);
    }
}

/* ---- the control socket --------------------------------------------------------------- */

static int listener = -1, coupler = -1;
static char inbuf[4096];
static size_t in_len;

static void send_all(const char *buf, size_t len) {
    while (len) {
        ssize_t n = send(coupler, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR && !stop_signal) continue;
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) stop_signal = -1; /* gone */
        if (n <= 0) return;
        buf += n, len -= n;
    }
}

/* The next command line (without '\n'), or NULL when the coupler is gone or on a signal. */
static char *read_line(void) {
    static size_t consumed;
    memmove(inbuf, inbuf + consumed, in_len - consumed);
    in_len -= consumed, consumed = 0;
    for (;;) {
        char *nl = memchr(inbuf, '\n', in_len);
        if (nl) {
            *nl = '\0';
            consumed = nl - inbuf + 1;
            return inbuf;
        }
        if (in_len == sizeof inbuf - 1) die("command line too long");
        ssize_t n = recv(coupler, inbuf + in_len, sizeof inbuf - 1 - in_len, 0);
        if (n < 0 && errno == EINTR && !stop_signal) continue;
        if (n <= 0) return NULL;
        in_len += n;
    }
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static avr_cycle_count_t at_target(avr_t *a, avr_cycle_count_t when, void *param) {
    (void)a, (void)when, (void)param; /* only bounds a sleeping CPU's jump to the target */
    return 0;
}

/* Runs until `target` (or forever if negative) or until an output is reported. */
static void run_until(int64_t target, int realtime, double t0) {
    if (target >= 0 && (avr_cycle_count_t)target > avr->cycle)
        avr_cycle_timer_register(avr, target - avr->cycle, at_target, NULL);
    avr_cycle_count_t next_check = avr->cycle + CHECK_EVERY;
    unsigned checks = 0;
    while (!outbox_len && (target < 0 || avr->cycle < (avr_cycle_count_t)target)) {
        int state = avr_run(avr);
        if (state == cpu_Crashed)
            die("firmware crashed at cycle %" PRIu64 " (pc 0x%x)", avr->cycle, avr->pc);
        if (state == cpu_Done)
            die("firmware stopped at cycle %" PRIu64 " (pc 0x%x): sleep with interrupts off?",
                avr->cycle, avr->pc);
        if (avr->cycle < next_check) continue;
        next_check = avr->cycle + CHECK_EVERY;
        char peek;
        if (!(++checks & 63) && recv(coupler, &peek, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
            stop_signal = -1; /* the coupler left during a long run */
        if (stop_signal) return;
        while (realtime && !stop_signal) { /* sleep until the wall clock catches up */
            double ahead = (double)avr->cycle / FREQ - (now_s() - t0);
            if (ahead <= 0) break;
            struct timespec ts = {0, (long)(1e9 * (ahead < 2e-3 ? ahead : 2e-3))};
            nanosleep(&ts, NULL);
        }
    }
}

/* Shutting the sockets down wakes accept()/recv() even if the signal came just before. */
static void on_signal(int sig) {
    stop_signal = sig;
    if (listener >= 0) shutdown(listener, SHUT_RDWR);
    if (coupler >= 0) shutdown(coupler, SHUT_RDWR);
}

static void sleep_nothing(avr_t *a, avr_cycle_count_t how_long) { (void)a, (void)how_long; }

static void usage(void) {
    fputs("usage: lickport-sim FIRMWARE.elf --control SOCKET_PATH [--realtime|--fast]\n"
          "                    [--watch PIN[:digital|tone|pwm],...]\n", stderr);
    exit(2);
}

int main(int argc, char **argv) {
    static const struct option opts[] = {
        {"control", required_argument, 0, 'c'}, {"realtime", no_argument, 0, 'r'},
        {"fast", no_argument, 0, 'f'},          {"watch", required_argument, 0, 'w'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    char *watch_specs[MAX_WATCH];
    int n_specs = 0, realtime = 0, opt;
    const char *control = NULL;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 'c') control = optarg;
        else if (opt == 'r') realtime = 1;
        else if (opt == 'f') realtime = 0;
        else if (opt == 'w' && n_specs < MAX_WATCH) watch_specs[n_specs++] = optarg;
        else usage();
    }
    if (optind != argc - 1 || !control) usage();

    /* Our three stdout lines go to the real stdout; simavr's chatter goes to stderr. */
    FILE *out = fdopen(dup(STDOUT_FILENO), "w");
    dup2(STDERR_FILENO, STDOUT_FILENO);
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* SIGINT/SIGTERM go to this thread only: block them before uart_pty starts its thread. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT), sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: wake blocking calls */
    sigaction(SIGINT, &sa, NULL), sigaction(SIGTERM, &sa, NULL);

    elf_firmware_t fw = {0};
    if (elf_read_firmware(argv[optind], &fw) != 0) die("cannot read firmware '%s'", argv[optind]);
    if (!(avr = avr_make_mcu_by_name("atmega328p"))) die("simavr has no atmega328p");
    avr_init(avr);
    avr->frequency = FREQ;
    avr_load_firmware(avr, &fw);
    avr->frequency = FREQ;
    avr->sleep = sleep_nothing; /* a sleeping CPU just advances the clock; we pace it */
    avr_extint_set_strict_lvl_trig(avr, 0, 0);
    avr_extint_set_strict_lvl_trig(avr, 1, 0);
    for (avr_io_t *io = avr->io_port; io; io = io->next)
        if (!strcmp(io->kind, "extint")) extint_reset = io->reset, io->reset = after_reset;
    if (!extint_reset) die("simavr has no extint module");
    for (int i = 0; i < n_specs; i++) add_watches(watch_specs[i]);

    unsetenv("SIMAVR_UART_XTERM"), unsetenv("SIMAVR_UART_TAP");
    static uart_pty_t pty;
    uart_pty_init(avr, &pty);
    uart_pty_connect(&pty, '0');
    quiet_uart();
    pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);

    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(control) >= sizeof addr.sun_path) die("socket path too long: %s", control);
    strcpy(addr.sun_path, control);
    listener = socket(AF_UNIX, SOCK_STREAM, 0);
    unlink(control);
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0)
        die("cannot bind %s: %s", control, strerror(errno));
    socket_path = control;
    if (listen(listener, 1) < 0) die("listen: %s", strerror(errno));

    fprintf(out, "port: %s\ncontrol: %s\nready\n", pty.port[0].slavename, control);
    fflush(out);

    while ((coupler = accept(listener, NULL, NULL)) < 0)
        if (errno != EINTR || stop_signal) goto done;
    close(listener);
    listener = -1;
    if (stop_signal) goto done;
    double t0 = now_s(); /* the run starts now: realtime mode paces against this */
    char reply[32];
    snprintf(reply, sizeof reply, "at %" PRIu64 "\n", avr->cycle);
    send_all(reply, strlen(reply));

    char *line;
    while (!stop_signal && (line = read_line())) {
        char name[8];
        int level, addr, len;
        int64_t target;
        if (sscanf(line, "set %7s %d", name, &level) == 2) {
            avr_irq_t *irq = pin_irq(name);
            if (!irq) die("set: no such pin '%s'", name);
            avr_raise_irq(irq, level != 0);
        } else if (sscanf(line, "run %" SCNd64, &target) == 1) {
            run_until(target, realtime, t0);
            if (stop_signal) break;
            if (outbox_len) send_all(outbox, outbox_len);
            outbox_len = 0;
            snprintf(reply, sizeof reply, "at %" PRIu64 "\n", avr->cycle);
            send_all(reply, strlen(reply));
        } else if (sscanf(line, "peek %i %i", &addr, &len) == 2) {
            /* the data space as stored (RAM; I/O registers as last written or read) */
            if (addr < 0 || len < 0 || len > 4096 || addr + len > (int)avr->ramend + 1)
                die("peek: bad range %d+%d", addr, len);
            char *hex = malloc(2 * (size_t)len + 8);
            if (!hex) die("out of memory");
            strcpy(hex, "mem ");
            for (int i = 0; i < len; i++) sprintf(hex + 4 + 2 * i, "%02x", avr->data[addr + i]);
            strcat(hex, "\n");
            send_all(hex, strlen(hex));
            free(hex);
        } else if (!strcmp(line, "timer0")) {
            /* timer 0's phase: the cycle of its last overflow and the cycles per overflow */
            char t0[64] = "timer0 -1 0\n";
            for (avr_io_t *io = avr->io_port; io; io = io->next)
                if (!strcmp(io->kind, "timer") && ((avr_timer_t *)io)->name == '0')
                    snprintf(t0, sizeof t0, "timer0 %" PRIu64 " %" PRIu64 "\n",
                             ((avr_timer_t *)io)->tov_base, ((avr_timer_t *)io)->tov_cycles);
            send_all(t0, strlen(t0));
        } else if (!strcmp(line, "quit")) {
            break;
        } else {
            die("unknown command '%s'", line);
        }
    }
done:
    unlink(control); /* no uart_pty_stop(): it pthread_kill()s SIGINT, blocked in its thread */
    return 0;
}
