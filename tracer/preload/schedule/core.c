/*
 * The seeded schedule, inside every process of the test: the functions
 * where threads hand over to each other are interposed in the files beside
 * this one, and at each the seed decides, in the process and without a
 * stop for the supervisor, whether to hold the thread a while before the
 * call or after it. Holds are charged to a budget that grows with the
 * test's own time, so the schedule costs a bounded fraction of it whatever
 * the test does.
 *
 * Three kinds of hold:
 * - aimed: before the first call of its kind in a thread (its first
 *   listen, pause, fork, message sent, thread start...) and after the
 *   first wait of its kind returns, the seed may hold the thread until
 *   another thread's clock runs out (a sleep, a timed wait, a timer:
 *   clocks.h) and a margin beyond, so that the other side acts first
 *   whatever the machine's speed ("sleep 5 ms and the server listens");
 *   one thread is held so at a time, and the others are not held
 *   meanwhile (holding both sides would close the window); with no clock
 *   pending just after a thread or process was created, the hold first
 *   waits a moment for one (await_newcomer);
 * - woken side first: after the first call of its kind that wakes another
 *   (a write, a post, a signal sent, a thread or child started), a short
 *   hold;
 * - random: before any call and after waits, as the seed's profile says,
 *   50 us up to the profile's longest hold (or twice the program's last
 *   clock, up to CLOCK_HOLD_MAX). Sleeps are never held: that would only
 *   lengthen them.
 * No hold ends within half a generous wait's length of its deadline (a
 * thread that gives another 50 ms to act is not made to see it late).
 * Between calls, the supervisor preempts threads itself
 * (src/linux/supervisor/preempt.rs), from a budget pot of its own.
 *
 * The supervisor sets SCHED_ENV_PATH to the file of the run's shared
 * region (protocol/schedule.h): the profile drawn from the seed, the
 * budget, every thread's logical identity (from its creator and creation
 * order, so the same seed makes the same decisions: table.h), the count of
 * threads that can act, the program's pending clocks (clocks.h) and the
 * journal of events that findings show. Without it, every interposed
 * function just calls the real one.
 *
 * Nothing here allocates, takes a lock or calls an interposed function:
 * atomics, raw system calls and the real functions found with dlsym.
 *
 * This file is the schedule's core (core.h): the shared region, the
 * decisions, the budget, the journal and the holds. The interposed
 * functions are in the files beside it, one a family: sync.c (futexes,
 * pthread mutexes and condition variables), fds.c (reads and writes of
 * pipes and sockets), waits.c (readiness, children, signals sent), time.c
 * (sleeps, signal waits, timers), sockets.c, ipc.c and threads.c.
 */
#define _GNU_SOURCE
#include "core.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../base/raw.h"
#include "clocks.h"
#include "rng.h"
#include "table.h"

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_ACQ_REL)

static struct sched_shared *sh;

/* This thread's count of events. */
static TLS uint64_t my_events;
/* The kinds of call this thread has made, as bits of a hash (a collision
 * makes a first call look seen: a hold missed, never an extra one). */
static TLS uint64_t kinds_seen;
/* This thread is running schedule code (no decisions inside it). */
static TLS int busy;
/* When this thread (or process) made its first scheduled call. */
static TLS uint64_t born_ns;
/* The pthread mutexes this thread holds (sched_locks). */
static TLS int locks_held;

/* --- raw system calls -------------------------------------------------- */

#define raw6 raw_syscall6

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static void sleep_until(uint64_t deadline) {
    struct timespec t = {(time_t)(deadline / 1000000000ULL), (long)(deadline % 1000000000ULL)};
    while (raw6(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, (long)&t, 0, 0, 0) == -EINTR) {
    }
}

/* --- setup --------------------------------------------------------------- */

__attribute__((constructor)) static void sched_constructor(void) {
    const char *path = getenv(SCHED_ENV_PATH);
    if (!path || !*path) return;
    int fd = (int)raw6(SYS_openat, AT_FDCWD, (long)path, O_RDWR | O_CLOEXEC, 0, 0, 0);
    if (fd < 0) return;
    void *p = (void *)raw6(SYS_mmap, 0, sizeof(struct sched_shared), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    raw6(SYS_close, fd, 0, 0, 0, 0, 0);
    if ((unsigned long)p > -4096UL) return;
    struct sched_shared *s = p;
    if (LOAD(&s->magic) != SCHED_MAGIC || s->version != SCHED_VERSION || s->size != sizeof *s) {
        raw6(SYS_munmap, (long)p, sizeof *s, 0, 0, 0, 0);
        return;
    }
    sh = s;
    table_attach(s);
    clocks_attach(s->clocks);
    ffc_init();
    if (ffc_harness_main_thread()) table_uncount_harness();
}

/* After fork the child's thread is a new one (the supervisor registered it). */
static void sched_after_fork_child(void) {
    table_after_fork();
    clocks_after_fork();
    kinds_seen = 0;
    my_events = 0;
    born_ns = 0;
}

__attribute__((constructor)) static void sched_atfork(void) { pthread_atfork(NULL, NULL, sched_after_fork_child); }

/* --- the budget ---------------------------------------------------------- */

/* How much of `want` the budget allows now (0: nothing): the base, plus
 * the run's per mille of its own time so far (its elapsed time less what
 * the schedule held), up to the cap. A hold is
 * charged its length plus hold_cost_ns (the sleep and wake-up it costs the
 * threads it delays), so that many short holds cannot cost the test more
 * than the budget says. Mirrors Region::spend in schedule/shared.rs (the
 * supervisor's signal holds), but for the half kept for targeted holds.
 * With `exact`, all of `want` or nothing. */
static uint64_t spend(uint64_t want, uint64_t now, int targeted, int exact) {
    uint64_t spent = LOAD(&sh->spent_ns);
    uint64_t cost = sh->hold_cost_ns;
    for (;;) {
        uint64_t elapsed = now > sh->start_ns ? now - sh->start_ns : 0;
        uint64_t held = LOAD(&sh->held_ns);
        uint64_t own = elapsed > held ? elapsed - held : 0;
        /* Holds aimed at a window start from twice the base: one aimed at
         * a 10 ms clock waits up to 15 ms (charged about 6), and a window
         * often needs the second or third of a thread's first calls. */
        uint64_t allowed = (targeted ? 2 : 1) * sh->budget_base_ns + own / 1000 * sh->budget_pm;
        if (allowed > sh->budget_cap_ns) allowed = sh->budget_cap_ns;
        /* Random holds may take half of the base budget: the rest is kept
         * for the aimed ones, which a test's early random holds would
         * otherwise leave without budget. */
        if (!targeted) allowed /= 2;
        if (spent + cost + MIN_HOLD_NS > allowed) return 0;
        uint64_t left = allowed - spent - cost;
        uint64_t grant = want < left ? want : left;
        if (exact && grant < want) return 0;
        if (__atomic_compare_exchange_n(&sh->spent_ns, &spent, spent + grant + cost, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            ADD(&sh->held_ns, grant);
            return grant;
        }
    }
}

/* --- the journal --------------------------------------------------------- */

static struct sched_event *record(uint32_t kind, int64_t nr, const long *args, uint64_t now) {
    uint64_t i = __atomic_fetch_add(&sh->journal_next, 1, __ATOMIC_ACQ_REL);
    struct sched_event *e = &sh->journal[i % SCHED_JOURNAL];
    STORE(&e->seq, 0);
    e->at_ns = now;
    e->pid = (int32_t)raw6(SYS_getpid, 0, 0, 0, 0, 0, 0);
    e->tid = table_tid();
    e->kind = kind;
    e->nr = nr;
    for (int a = 0; a < 6; a++) e->args[a] = (uint64_t)args[a];
    e->held_ns = 0;
    STORE(&e->seq, i + 1);
    return e;
}

/* --- holds ---------------------------------------------------------------- */

/* The longest hold a clock of the program's own stretches holds to: 20 ms
 * meets a program that sleeps up to 10 ms assuming the other side is
 * faster; a test that waits 50 ms "to make sure" (signal-hook's shutdown
 * tests) is not outwaited by one hold (at 50 ms, two seeds of four hung
 * it; natively it never fails, even with the cores loaded). */
#define CLOCK_HOLD_MAX 20000000ULL

/* A hold aimed at a clock lasts until another thread's clock (a sleep, a
 * timed wait, a timer) no further than this runs out. A thread that waits
 * longer than this for another to act (clocks.h's generous waits) is
 * never made to see it late. */
#define CLOCK_WINDOW 25000000ULL

int scheduled(void) {
    if (!sh || busy || ffc_handed_over()) return 0;
    if (ffc_harness_main_thread()) {
        table_uncount_harness();
        return 0;
    }
    return 1;
}

/* The least margin a hold aimed at another thread's clock adds beyond
 * its deadline. */
#define AIM_MARGIN_MIN 1000000ULL

/* The last clock the program set itself (this process), in ns. */
static uint64_t clock_ns;

/* The clock of this thread's next scheduled call, a wait with a timeout
 * or a sleep (clock_seen): pending in the clock table while it waits. */
static TLS uint64_t next_wait_ns;

void clock_seen(uint64_t ns) {
    __atomic_store_n(&clock_ns, ns, __ATOMIC_RELAXED);
    if (scheduled()) next_wait_ns = ns;
}

/* A relative timespec in ns; whether it is one (not NULL, not negative). */
static int timespec_ns(const struct timespec *t, uint64_t *ns) {
    if (!t || t->tv_sec < 0 || t->tv_nsec < 0) return 0;
    *ns = (uint64_t)t->tv_sec * 1000000000ULL + (uint64_t)t->tv_nsec;
    return 1;
}

void clock_seen_ts(const struct timespec *t) {
    uint64_t ns;
    if (timespec_ns(t, &ns)) clock_seen(ns);
}

void clock_seen_until(clockid_t clock, const struct timespec *t) {
    if (!t) return;
    struct timespec now;
    clock_gettime(clock, &now);
    int64_t ns = ((int64_t)t->tv_sec - (int64_t)now.tv_sec) * 1000000000LL + (t->tv_nsec - now.tv_nsec);
    if (ns > 0) clock_seen((uint64_t)ns);
}

void clock_seen_ms(int ms) {
    if (ms > 0) clock_seen((uint64_t)ms * 1000000ULL);
}

void timer_seen(uint64_t ns) {
    __atomic_store_n(&clock_ns, ns, __ATOMIC_RELAXED);
    if (scheduled()) clocks_timer(table_tid(), now_ns(), ns);
}

void timer_seen_ts(const struct timespec *t) {
    uint64_t ns;
    if (timespec_ns(t, &ns)) timer_seen(ns);
}

/* The program's last clock, at most half of CLOCK_HOLD_MAX (0: none). */
static uint64_t program_clock(void) {
    uint64_t clock = __atomic_load_n(&clock_ns, __ATOMIC_RELAXED);
    return clock > CLOCK_HOLD_MAX / 2 ? CLOCK_HOLD_MAX / 2 : clock;
}

/* Per mille of calls inside a critical section, made while another
 * thread is held aimed at a window, that are held until just after it
 * goes on (by up to SPAN_MARGIN). */
#define SPAN_PM 500u
#define SPAN_MARGIN 2000000ULL

void sched_locks(int delta) {
    if (delta > 0 || locks_held > 0) locks_held += delta;
}

/* The hold after a first call that wakes another (the woken side goes
 * first), drawn evenly between these: a wake-up takes tens of
 * microseconds, a hundred or more on a loaded machine (shorter holds let
 * the notifier go on first in a rerun of the same seed), and a longer hold
 * would let the woken side do more than its first step. */
#define NOTIFY_HOLD_MIN 250000ULL
#define NOTIFY_HOLD_MAX 1000000ULL

/* Per mille of first calls of their kind in a thread (its first fork,
 * listen, pause, message sent, thread started...) held long: the windows
 * of ordering bugs open there (a client connects before listen; a signal
 * lands before pause; a child runs before its sibling), and a thread
 * makes few of them. */
#define NOVEL_PM 500u

/* Per mille for a first wait for a signal (pause, sigsuspend, sigwait
 * without a timeout): the lost wakeup's window (the signal came between
 * the check of its flag and the wait) ends exactly there, and a thread's
 * earlier aimed holds (its first write, say) let the signal come before
 * the check instead, so this one is tried more often. */
#define SIGNAL_WAIT_PM 875u

/* Whether call (kind, nr) waits for a signal with no timeout. */
static int waits_for_signal(uint32_t kind, int64_t nr, enum wait wait) {
    if (wait != MAY_WAIT) return 0;
    if (kind == SCHED_KIND_CALL) return nr == SCHED_SIGWAIT;
    return nr == SYS_pause || nr == SYS_rt_sigsuspend || nr == SYS_rt_sigtimedwait;
}

/* Whether this thread makes a call of kind `what` for the first time. */
static int first_of_its_kind(uint64_t what) {
    uint64_t bit = 1ULL << (mix(what) >> 58);
    if (kinds_seen & bit) return 0;
    kinds_seen |= bit;
    return 1;
}

/* The lowest bit of a hold for after a call: it is aimed at a first call
 * (a nanosecond more or less changes nothing). */
#define TARGETED 1ULL

/* The longest hold now: the profile's, or twice the program's last clock
 * if that is longer (up to CLOCK_HOLD_MAX), so that "sleep 1 ms and the
 * other thread will have started" can meet a thread slower than that. */
static uint64_t longest_hold(void) {
    uint64_t max = sh->max_delay_ns;
    uint64_t clock = program_clock();
    return 2 * clock > max ? 2 * clock : max;
}

/* What a hold is for. */
enum hold_kind {
    HOLD_RANDOM,   /* the seed's profile */
    HOLD_AIMED,    /* at a window: one thread at a time (aimed) */
    HOLD_SPANNING, /* a critical section across an aimed hold's end */
};

/* Whether a hold aimed at a window holds another thread at `now`: no
 * other thread is held meanwhile (holding both sides of a window would
 * close it again). */
static int aimed_elsewhere(uint64_t now) {
    return LOAD(&sh->aimed_until_ns) > now && LOAD(&sh->aimed_tid) != (int64_t)table_tid();
}

/* Claims the aimed hold for this thread until `until`, unless another
 * thread's runs at `now`; whether it did. */
static int claim_aimed(uint64_t now, uint64_t until) {
    uint64_t current = LOAD(&sh->aimed_until_ns);
    if (current > now && LOAD(&sh->aimed_tid) != (int64_t)table_tid()) return 0;
    if (!__atomic_compare_exchange_n(&sh->aimed_until_ns, &current, until, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return 0;
    STORE(&sh->aimed_tid, (int64_t)table_tid());
    return 1;
}

/* Holds the thread for `hold` from `now` (0: not at all) if the budget
 * allows, charged `charge` (at most the hold); no hold may end past
 * `limit`. What it held, recorded in `e`; with `e` NULL, in a journal
 * entry of its own (a hold after a call returned), made only if it holds. */
static uint64_t hold_for(uint64_t hold, uint64_t charge, uint64_t now, uint64_t limit, enum hold_kind kind,
                         struct sched_event *e) {
    int targeted = kind != HOLD_RANDOM;
    if (!hold || !charge || now + hold > limit) return 0;
    /* A hold until another thread's clock runs out (charged less than it
     * lasts) is worth making even when no other thread can act now: the
     * clock will (a timer interrupts a blocked read). */
    if (charge == hold && !table_others_can_act()) return 0;
    /* While a thread is held aimed at a window, the others run. */
    if (kind != HOLD_SPANNING && aimed_elsewhere(now)) return 0;
    if (kind == HOLD_AIMED && !claim_aimed(now, now + hold)) return 0;
    uint64_t granted;
    if (charge < hold) {
        /* Charged less than it lasts: all of it or nothing. */
        granted = spend(charge, now, targeted, 1) ? hold : 0;
        if (granted) ADD(&sh->held_ns, hold - charge);
    } else {
        granted = spend(hold, now, targeted, 0);
    }
    if (kind == HOLD_AIMED && granted != hold) STORE(&sh->aimed_until_ns, now + granted);
    if (!granted) return 0;
    if (!e) {
        long none[6] = {0};
        e = record(SCHED_KIND_CALL, 0, none, now);
    }
    ADD(&sh->holding, 1);
    sleep_until(now + granted);
    ADD(&sh->holding, -1);
    e->held_ns = granted;
    return granted;
}

/* A thread or process created this recently may be about to set a clock
 * (a child that works 10 ms, then exits; a thread that sleeps 1 ms, then
 * signals): a hold aimed at a window that finds no clock pending waits for
 * one until then, looking every AWAIT_STEP. Natively the creator usually
 * reaches its next call before the new one has run at all. */
#define NEWCOMER_NS 5000000ULL
#define AWAIT_STEP 100000ULL

void sched_spawned(void) {
    if (sh) STORE(&sh->spawned_ns, now_ns());
}

/* A thread or process created less than NEWCOMER_NS ago, while another
 * thread is held (its creator after the creation, say, about to sleep),
 * waits at most this long for a clock of another: without claiming the
 * aimed hold, so that an older thread's aimed hold, waiting for the new
 * one's clock, is not kept off meanwhile. */
#define NEWBORN_NS 1000000ULL

/* No clock pending at *now, but a thread or process was just created:
 * an older thread waits (one thread at a time, as an aimed hold) until
 * the new one sets a clock within CLOCK_WINDOW or stops being new; the
 * new one itself waits up to NEWBORN_NS for another's. Charged what it
 * waits; returns what clocks_view says then; *now moves on. */
static void await_newcomer(uint64_t *now, struct clocks_view *v) {
    uint64_t spawned = LOAD(&sh->spawned_ns);
    uint64_t end = spawned + NEWCOMER_NS;
    int newborn = born_ns >= spawned;
    /* A new one waits only at a call after its start (held at its start
     * before another thread's clock, it already goes last; and one that
     * computes without a call before its next would be held in its
     * entirety, where a preemption may split it), only while a thread is
     * held, and not while another thread's hold is aimed at a window (that
     * one waits for this one to act). */
    if (newborn && (my_events <= 1 || LOAD(&sh->holding) <= 0 || LOAD(&sh->aimed_until_ns) > *now)) return;
    if (newborn && end > *now + NEWBORN_NS) end = *now + NEWBORN_NS;
    if (!born_ns || end <= *now + AWAIT_STEP || end > v->limit_ns || !table_others_can_act()) return;
    if (!newborn && !claim_aimed(*now, end)) return;
    uint64_t granted = spend(end - *now, *now, 1, 1);
    uint64_t t = *now;
    /* Until a clock appears, or nobody else can act (nobody will set one),
     * or, for a new one, a step after no thread is held any more. */
    int held_before = 1;
    while (granted && t < end && !v->deadline_ns && table_others_can_act() && held_before) {
        if (newborn) held_before = LOAD(&sh->holding) > 0;
        sleep_until(t + AWAIT_STEP < end ? t + AWAIT_STEP : end);
        t = now_ns();
        clocks_view(table_tid(), t, CLOCK_WINDOW, CLOCK_WINDOW, v);
    }
    if (granted && t < end) {
        /* Give back what was not waited. */
        ADD(&sh->spent_ns, -(end - t));
        ADD(&sh->held_ns, -(end - t));
    }
    if (!newborn) STORE(&sh->aimed_until_ns, t);
    *now = t;
}

/* A hold aimed at a window (a first call's): until another thread's clock
 * runs out and a margin beyond, so that thread acts first. Charged the
 * margin and a quarter of the wait: the clock's thread was not going to
 * act before its deadline anyway, and the held thread has usually little
 * to do before it meets that thread again (so the schedule holds threads
 * for at most four times its budget). With no such clock, `fallback`.
 * Sets *charge and *limit. */
static uint64_t aimed(struct rng *r, uint64_t *at, uint64_t fallback, uint64_t *charge, uint64_t *limit) {
    struct clocks_view v;
    clocks_view(table_tid(), *at, CLOCK_WINDOW, CLOCK_WINDOW, &v);
    if (!v.deadline_ns) await_newcomer(at, &v);
    uint64_t now = *at;
    *limit = v.limit_ns;
    if (!v.deadline_ns) {
        *charge = fallback;
        return fallback;
    }
    /* A margin of 1 ms to half the clock's length: the other thread's
     * next steps (a fork, a connect, a send) take time once it wakes. */
    uint64_t half = v.length_ns / 2 > AIM_MARGIN_MIN ? v.length_ns / 2 : AIM_MARGIN_MIN;
    uint64_t margin = AIM_MARGIN_MIN + next(r) % (half - AIM_MARGIN_MIN + 1);
    *charge = (v.deadline_ns - now) / 4 + margin;
    return v.deadline_ns - now + margin;
}

/* The latest a hold may end now (clocks.h's generous waits). */
static uint64_t hold_limit(uint64_t now) {
    struct clocks_view v;
    clocks_view(table_tid(), now, 0, CLOCK_WINDOW, &v);
    return v.limit_ns;
}

uint64_t sched_before(uint32_t kind, int64_t nr, const long *args, enum wait wait) {
    busy = 1;
    table_find_me();
    uint64_t now = now_ns();
    struct sched_event *e = record(kind, nr, args, now);
    uint64_t waits = next_wait_ns;
    next_wait_ns = 0;
    if (wait == SLEEP) {
        /* Never held: that would only lengthen the sleep. */
        clocks_wait_begin(table_tid(), now, waits);
        busy = 0;
        return 0;
    }
    if (!my_events) born_ns = now;
    uint64_t event = my_events++;
    uint64_t what = kind == SCHED_KIND_CALL ? 0x100000 + (uint64_t)nr : (uint64_t)nr;
    struct rng r = {mix(sh->key ^ mix(table_logical() ^ mix(event + (what << 40))))};
    uint64_t hold = 0;
    int starved = sh->starve_events && table_is_ordinal(sh->starve_ordinal) && event < sh->starve_events;
    uint64_t max = longest_hold();
    /* The first call of its kind may be held long before it (a window
     * opens there: a signal before pause, a client before listen) and,
     * for a call that wakes another or waits, after it (the woken side
     * goes first; the woken thread is slow to run). */
    int first = first_of_its_kind(what);
    int novel = first && chance(&r, waits_for_signal(kind, nr, wait) ? SIGNAL_WAIT_PM : NOVEL_PM);
    int novel_after = first && wait != NO_WAIT && chance(&r, NOVEL_PM);
    uint64_t charge = 0, limit = UINT64_MAX;
    if (starved)
        hold = max;
    else if (novel)
        hold = aimed(&r, &now, 0, &charge, &limit);
    else if (chance(&r, sh->entry_pm))
        hold = delay(&r, max);
    uint64_t after = 0;
    if (novel_after && wait == NOTIFY)
        /* The woken side goes first: a short hold is enough. */
        after = (NOTIFY_HOLD_MIN + next(&r) % (NOTIFY_HOLD_MAX - NOTIFY_HOLD_MIN)) & ~TARGETED;
    else if (novel_after)
        after = delay(&r, sh->max_delay_ns) | TARGETED;
    else if (wait != NO_WAIT && chance(&r, sh->exit_pm))
        after = delay(&r, max) & ~TARGETED;
    int aiming = novel && !starved;
    /* In a critical section while another thread is held aimed at a
     * window: the seed may hold this one until just after that thread goes
     * on, so that it meets the lock taken (a fork while another thread
     * holds a lock; a reader that finds the writer mid-update). */
    int spans = 0;
    if (locks_held > 0 && !starved && !aiming) {
        uint64_t until = LOAD(&sh->aimed_until_ns);
        if (until > now && LOAD(&sh->aimed_tid) != (int64_t)table_tid() && chance(&r, SPAN_PM)) {
            hold = until - now + delay(&r, SPAN_MARGIN);
            spans = 1;
        }
    }
    if (sh->serialize_ns) {
        uint64_t last = LOAD(&sh->last_release_ns);
        int64_t who = LOAD(&sh->last_release_tid);
        if (who != table_tid() && now - last < sh->serialize_ns) {
            uint64_t rest = sh->serialize_ns - (now - last);
            if (rest > hold) {
                hold = rest;
                aiming = 0;
                spans = 0;
            }
        }
    }
    if (!aiming) {
        charge = hold;
        if (hold) limit = hold_limit(now);
    }
    hold = hold_for(hold, charge, now, limit, aiming ? HOLD_AIMED : spans ? HOLD_SPANNING : HOLD_RANDOM, e);
    if (sh->serialize_ns) {
        STORE(&sh->last_release_ns, now_ns());
        STORE(&sh->last_release_tid, (int64_t)table_tid());
    }
    if (waits) clocks_wait_begin(table_tid(), now + hold, waits);
    if (wait == MAY_WAIT) table_waiting(1);
    busy = 0;
    return after;
}

void sched_after(enum wait wait, uint64_t hold) {
    if (clocks_waiting()) clocks_wait_end();
    if (wait == NO_WAIT || wait == SLEEP) return;
    busy = 1;
    if (wait == MAY_WAIT) table_waiting(0);
    /* Handed over to the test's tracer while the call waited: no hold,
     * which would make system calls of its own there. */
    if (hold && !ffc_handed_over()) {
        uint64_t now = now_ns();
        int targeted = hold & TARGETED;
        uint64_t charge = hold, limit;
        if (targeted) {
            struct rng r = {mix(hold)};
            hold = aimed(&r, &now, hold, &charge, &limit);
        } else {
            limit = hold_limit(now);
        }
        hold = hold_for(hold, charge, now, limit, targeted ? HOLD_AIMED : HOLD_RANDOM, NULL);
    }
    busy = 0;
}
