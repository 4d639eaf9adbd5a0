/*
 * The seeded schedule, inside every process of the test: the functions
 * where threads hand over to each other are interposed here (the futex
 * calls Rust's std makes through syscall(), pthread mutexes and condition
 * variables, reads and writes of pipes and sockets, poll/select/epoll,
 * waiting for children, sending signals), and at each the seed decides,
 * in the process and without a stop for the supervisor, whether to hold
 * the thread a while before the call, or after a wait returns. Holds are
 * charged to a budget that grows with the test's own time, so the schedule
 * costs a bounded fraction of it whatever the test does.
 *
 * The supervisor sets SCHED_ENV_PATH to the file of the run's shared
 * region (protocol/schedule.h): the profile drawn from the seed, the budget, every
 * thread's logical identity (from its creator and creation order, so the
 * same seed makes the same decisions), the count of threads that can act,
 * and the journal of events that findings show. Without it, every
 * interposed function just calls the real one.
 *
 * Nothing here allocates, takes a lock or calls an interposed function:
 * atomics, raw system calls and the real functions found with dlsym.
 *
 * This file is the schedule's core (core.h): the shared region, the
 * thread table, the decisions, the budget, the journal and the holds. The
 * interposed functions are in the files beside it, one a family: sync.c
 * (futexes, pthread mutexes and condition variables), fds.c (reads and
 * writes of pipes and sockets), waits.c (readiness, children, signals
 * sent).
 */
#define _GNU_SOURCE
#include "core.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../base/raw.h"

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_ACQ_REL)

/* The shortest hold worth making: a few context switches. */
#define MIN_HOLD_NS 50000ULL

static struct sched_shared *sh;

/* This thread's identity and count of events, and its slot in the table. */
static TLS struct sched_thread *my_slot;
static TLS uint64_t my_logical;
static TLS uint64_t my_events;
/* The kinds of call this thread has made, as bits of a hash (a collision
 * makes a first call look seen: a hold missed, never an extra one). */
static TLS uint64_t kinds_seen;
static TLS int32_t my_tid;
static TLS int my_lookups;
/* This thread is running schedule code (no decisions inside it). */
static TLS int busy;

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

static void uncount_harness(void);

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
    ffc_init();
    if (ffc_harness_main_thread()) uncount_harness();
}

/* After fork the child's thread is a new one (the supervisor registered it). */
static void sched_after_fork_child(void) {
    kinds_seen = 0;
    my_slot = NULL;
    my_logical = 0;
    my_events = 0;
    my_tid = 0;
    my_lookups = 0;
}

__attribute__((constructor)) static void sched_atfork(void) { pthread_atfork(NULL, NULL, sched_after_fork_child); }

/* --- decisions (as the supervisor's own, in schedule/decisions.rs) ------ */

static uint64_t mix(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

struct rng {
    uint64_t s;
};

static uint64_t next(struct rng *r) {
    r->s += 0x9e3779b97f4a7c15ULL;
    return mix(r->s);
}

static int chance(struct rng *r, uint32_t per_mille) { return next(r) % 1000 < per_mille; }

/* A delay from MIN_HOLD_NS to max, spread evenly over the doublings
 * between them: short delays are common, long ones happen. */
static uint64_t delay(struct rng *r, uint64_t max) {
    if (max <= MIN_HOLD_NS) return MIN_HOLD_NS;
    unsigned doublings = 0;
    for (uint64_t d = MIN_HOLD_NS; d < max; d <<= 1) doublings++;
    uint64_t base = MIN_HOLD_NS << (next(r) % doublings);
    uint64_t d = base + next(r) % base;
    return d > max ? max : d;
}

/* --- the thread table ---------------------------------------------------- */

static int32_t gettid_raw(void) {
    if (!my_tid) my_tid = (int32_t)raw6(SYS_gettid, 0, 0, 0, 0, 0, 0);
    return my_tid;
}

/* The slot the supervisor registered for thread `tid`, or NULL (not yet). */
static struct sched_thread *slot_of(int32_t tid) {
    uint32_t i = (uint32_t)mix((uint64_t)tid) % SCHED_THREADS;
    for (uint32_t n = 0; n < SCHED_THREADS; n++, i = (i + 1) % SCHED_THREADS) {
        int32_t t = LOAD(&sh->threads[i].tid);
        if (t == SCHED_SLOT_FREE) return NULL;
        if (t == tid) return &sh->threads[i];
    }
    return NULL;
}

/* Moves `slot` from state `from` to `to`, adjusting the count of threads
 * that can act; whether it was in `from`. */
static int set_state(struct sched_thread *slot, uint32_t from, uint32_t to) {
    if (!__atomic_compare_exchange_n(&slot->state, &from, to, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return 0;
    if (from == SCHED_ACTIVE) ADD(&sh->active, -1);
    if (to == SCHED_ACTIVE) ADD(&sh->active, 1);
    return 1;
}

/* This thread's slot, as the supervisor registered it; until then its
 * identity comes from its tid (not the same in every run). */
static void find_me(void) {
    if (my_slot || my_lookups > 64) return;
    my_lookups++;
    int32_t tid = gettid_raw();
    my_slot = slot_of(tid);
    if (!my_slot) {
        my_logical = mix((uint64_t)tid);
        return;
    }
    my_logical = my_slot->logical;
    set_state(my_slot, SCHED_UNCOUNTED, SCHED_ACTIVE);
}

/* The harness's main thread no longer counts as able to act: it only
 * waits for the test's thread to finish (and its calls are never held), so
 * counting it would let the schedule hold a test that has no other thread,
 * which delays it and changes no order. Done once its slot is found (the
 * supervisor registered it, counted, before the program ran). */
static int harness_uncounted;

static void uncount_harness(void) {
    if (harness_uncounted) return;
    struct sched_thread *slot = slot_of(gettid_raw());
    if (!slot) return;
    harness_uncounted = 1;
    set_state(slot, SCHED_ACTIVE, SCHED_UNCOUNTED);
}

/* Whether a thread of the test other than this one can act now. */
static int others_can_act(void) {
    int64_t active = LOAD(&sh->active);
    int mine = my_slot && LOAD(&my_slot->state) == SCHED_ACTIVE;
    return active - mine > 0;
}

/* --- the budget ---------------------------------------------------------- */

/* How much of `want` the budget allows now (0: nothing): the base, plus
 * the run's per mille of its own time so far, up to the cap. A hold is
 * charged its length plus hold_cost_ns (the sleep and wake-up it costs the
 * threads it delays), so that many short holds cannot cost the test more
 * than the budget says. Mirrors Region::spend in schedule/shared.rs (the
 * supervisor's signal holds), but for the half kept for targeted holds. */
static uint64_t spend(uint64_t want, uint64_t now, int targeted) {
    uint64_t spent = LOAD(&sh->spent_ns);
    uint64_t cost = sh->hold_cost_ns;
    for (;;) {
        uint64_t elapsed = now > sh->start_ns ? now - sh->start_ns : 0;
        uint64_t own = elapsed > spent ? elapsed - spent : 0;
        uint64_t allowed = sh->budget_base_ns + own / 1000 * sh->budget_pm;
        if (allowed > sh->budget_cap_ns) allowed = sh->budget_cap_ns;
        /* Random holds may take half of it: the rest is kept for the
         * holds aimed at a first call (NOVEL_PM), which a test's early
         * random holds would otherwise leave without budget. */
        if (!targeted) allowed /= 2;
        if (spent + cost + MIN_HOLD_NS > allowed) return 0;
        uint64_t left = allowed - spent - cost;
        uint64_t grant = want < left ? want : left;
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
    e->tid = gettid_raw();
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

/* The last clock the program set itself (this process), in ns. */
static uint64_t clock_ns;

void clock_seen(uint64_t ns) { __atomic_store_n(&clock_ns, ns, __ATOMIC_RELAXED); }

void clock_seen_ts(const struct timespec *t) {
    if (t && t->tv_sec >= 0 && t->tv_nsec >= 0)
        clock_seen((uint64_t)t->tv_sec * 1000000000ULL + (uint64_t)t->tv_nsec);
}

void clock_seen_ms(int ms) {
    if (ms > 0) clock_seen((uint64_t)ms * 1000000ULL);
}

/* The program's last clock, at most half of CLOCK_HOLD_MAX (0: none). */
static uint64_t program_clock(void) {
    uint64_t clock = __atomic_load_n(&clock_ns, __ATOMIC_RELAXED);
    return clock > CLOCK_HOLD_MAX / 2 ? CLOCK_HOLD_MAX / 2 : clock;
}

/* Per mille of first calls of their kind in a thread (its first fork,
 * listen, pause, message sent, thread started...) held long: the windows
 * of ordering bugs open there (a client connects before listen; a signal
 * lands before pause; a child runs before its sibling), and a thread
 * makes few of them. */
#define NOVEL_PM 500u

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

/* A hold meant to outlast the program's own clock: between its length and
 * twice it, or, with no clock seen, between half the longest hold and all
 * of it (the budget still bounds it). */
static uint64_t beyond_clock(struct rng *r, uint64_t max) {
    uint64_t clock = program_clock();
    uint64_t low = clock ? clock : max / 2;
    if (low < MIN_HOLD_NS) low = MIN_HOLD_NS;
    return low + next(r) % (low + 1);
}

/* The longest hold now: the profile's, or twice the program's last clock
 * if that is longer (up to CLOCK_HOLD_MAX), so that "sleep 1 ms and the
 * other thread will have started" can meet a thread slower than that. */
static uint64_t longest_hold(void) {
    uint64_t max = sh->max_delay_ns;
    uint64_t clock = program_clock();
    return 2 * clock > max ? 2 * clock : max;
}

int scheduled(void) {
    if (!sh || busy || ffc_handed_over()) return 0;
    if (ffc_harness_main_thread()) {
        uncount_harness();
        return 0;
    }
    return 1;
}

uint64_t sched_before(uint32_t kind, int64_t nr, const long *args, enum wait wait) {
    busy = 1;
    find_me();
    uint64_t now = now_ns();
    struct sched_event *e = record(kind, nr, args, now);
    uint64_t event = my_events++;
    uint64_t what = kind == SCHED_KIND_CALL ? 0x100000 + (uint64_t)nr : (uint64_t)nr;
    struct rng r = {mix(sh->key ^ mix(my_logical ^ mix(event + (what << 40))))};
    uint64_t hold = 0;
    int starved = my_slot && sh->starve_events && my_slot->ordinal == sh->starve_ordinal &&
                  event < sh->starve_events;
    uint64_t max = longest_hold();
    /* The first call of its kind may be held long before it (a window
     * opens there: a signal before pause, a client before listen) and,
     * for a call that wakes another or waits, after it (the woken side
     * goes first; the woken thread is slow to run). */
    int first = first_of_its_kind(what);
    int novel = first && chance(&r, NOVEL_PM);
    int novel_after = first && wait != NO_WAIT && chance(&r, NOVEL_PM);
    if (starved)
        hold = max;
    else if (novel)
        hold = beyond_clock(&r, max);
    else if (chance(&r, sh->entry_pm))
        hold = delay(&r, max);
    uint64_t after = 0;
    if (novel_after)
        after = beyond_clock(&r, max) | TARGETED;
    else if (wait != NO_WAIT && chance(&r, sh->exit_pm))
        after = delay(&r, max);
    if (sh->serialize_ns) {
        uint64_t last = LOAD(&sh->last_release_ns);
        int64_t who = LOAD(&sh->last_release_tid);
        if (who != my_tid && now - last < sh->serialize_ns) {
            uint64_t rest = sh->serialize_ns - (now - last);
            if (rest > hold) hold = rest;
        }
    }
    int targeted = novel;
    if (hold && others_can_act() && (hold = spend(hold, now, targeted)) != 0) {
        sleep_until(now + hold);
        e->held_ns = hold;
    }
    if (sh->serialize_ns) {
        STORE(&sh->last_release_ns, now_ns());
        STORE(&sh->last_release_tid, (int64_t)my_tid);
    }
    if (wait == MAY_WAIT && my_slot) set_state(my_slot, SCHED_ACTIVE, SCHED_WAITING);
    busy = 0;
    return after;
}

void sched_after(enum wait wait, uint64_t hold) {
    if (wait == NO_WAIT) return;
    busy = 1;
    if (wait == MAY_WAIT && my_slot) set_state(my_slot, SCHED_WAITING, SCHED_ACTIVE);
    uint64_t now = now_ns();
    /* Handed over to the test's tracer while the call waited: no hold,
     * which would make system calls of its own there. */
    int targeted = hold & TARGETED;
    if (hold && !ffc_handed_over() && others_can_act() && (hold = spend(hold, now, targeted)) != 0) {
        long none[6] = {0};
        struct sched_event *e = record(SCHED_KIND_CALL, 0, none, now);
        sleep_until(now + hold);
        e->held_ns = hold;
    }
    busy = 0;
}

/* --- descriptors ------------------------------------------------------- */

/* Per descriptor: 0 unknown, 1 not a place where threads hand over (a
 * regular file, a directory, a device, stdio), 2 a pipe, FIFO, socket or
 * other anonymous object (eventfd, ...). */
#define FD_CACHED 4096
static uint8_t fd_kind[FD_CACHED];

int hands_over(int fd) {
    if (fd <= 2) return 0;
    if (fd < FD_CACHED && fd_kind[fd]) return fd_kind[fd] == 2;
    struct stat st;
    if (raw6(SYS_fstat, fd, (long)&st, 0, 0, 0, 0) != 0) return 0;
    mode_t type = st.st_mode & S_IFMT;
    int yes = type == S_IFIFO || type == S_IFSOCK || type == 0;
    if (fd < FD_CACHED) fd_kind[fd] = yes ? 2 : 1;
    return yes;
}

void forget_fd(int fd) {
    if (fd >= 0 && fd < FD_CACHED) fd_kind[fd] = 0;
}

