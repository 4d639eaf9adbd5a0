/*
 * The seeded schedule's shared region: one file per supervised run, mapped
 * (MAP_SHARED) by the supervisor and by every process of the test, which
 * finds it through SCHED_ENV_PATH. The supervisor writes the header (the
 * profile drawn from the seed, the budget) and the thread table; the
 * processes count the budget spent and the active threads, and append to
 * the journal. tracer/src/preload/schedule.rs mirrors it; bump
 * SCHED_VERSION on any change.
 */
#ifndef FFI_CHECK_SCHEDULE_H
#define FFI_CHECK_SCHEDULE_H
#include <stdint.h>

#define SCHED_MAGIC 0x6863732d6366666cULL /* "lffc-sch" */
#define SCHED_VERSION 5u
#define SCHED_ENV_PATH "FFI_CHECK_SCHEDULE"
#define SCHED_THREADS 8192u  /* thread table slots (open addressing by tid) */
#define SCHED_JOURNAL 1024u  /* journal entries (a ring) */
#define SCHED_CLOCKS 64u     /* pending clocks of the program (sleeps, timed waits, timers) */

/* A thread table slot's tid: free, or freed (probing goes on past it). */
#define SCHED_SLOT_FREE 0
#define SCHED_SLOT_GONE (-1)

/* What a thread is doing, as the schedule counts it. */
enum sched_state {
    SCHED_UNCOUNTED = 0, /* not seen yet, or gone */
    SCHED_ACTIVE = 1,    /* counted in `active` */
    SCHED_WAITING = 2,   /* in a call that may wait for another thread */
};

/* Journal entries that are not system calls (`nr` is the function). */
#define SCHED_KIND_SYSCALL 0u
#define SCHED_KIND_CALL 1u   /* nr: enum sched_call */
#define SCHED_KIND_EVENT 2u  /* written by the supervisor: text in `text` */

enum sched_call {
    SCHED_MUTEX_LOCK = 1,
    SCHED_MUTEX_UNLOCK = 2,
    SCHED_COND_WAIT = 3,
    SCHED_COND_SIGNAL = 4,
    SCHED_COND_BROADCAST = 5,
    SCHED_PTHREAD_KILL = 6,
    SCHED_THREAD_START = 7,  /* a new thread's first event */
    SCHED_PTHREAD_CREATE = 8,
    SCHED_PTHREAD_JOIN = 9,
    SCHED_RWLOCK_RDLOCK = 10,
    SCHED_RWLOCK_WRLOCK = 11,
    SCHED_RWLOCK_UNLOCK = 12,
    SCHED_BARRIER_WAIT = 13,
    SCHED_SEM_WAIT = 14,
    SCHED_SEM_POST = 15,
    SCHED_SEM_TIMEDWAIT = 16,
    SCHED_EVENTFD_READ = 17,
    SCHED_EVENTFD_WRITE = 18,
    SCHED_SIGQUEUE = 19,
    SCHED_PTHREAD_SIGQUEUE = 20,
    SCHED_SIGWAIT = 21,
    SCHED_POSIX_SPAWN = 22, /* posix_spawn and posix_spawnp */
};

struct sched_thread {
    int32_t tid;      /* SCHED_SLOT_FREE, SCHED_SLOT_GONE, or the thread */
    uint32_t state;   /* enum sched_state, written by the thread */
    uint64_t logical; /* its identity across runs (creator, creation order) */
    uint64_t ordinal; /* the nth thread or process of the run */
};

/* A clock the program is running: a thread sleeping or waiting with a
 * timeout until `deadline_ns`, or a timer it armed. Written by the
 * processes only (the supervisor never reads it): a slot is free when its
 * deadline has passed. */
enum sched_clock_kind {
    SCHED_CLOCK_WAIT = 0,  /* a sleep or timed wait: cleared when it returns */
    SCHED_CLOCK_TIMER = 1, /* a timer: left to expire */
};
struct sched_clock {
    uint64_t deadline_ns; /* CLOCK_MONOTONIC; 0 free, UINT64_MAX being written */
    uint64_t length_ns;   /* how long the program set it for */
    int32_t tid;          /* the thread that set it */
    uint32_t kind;        /* enum sched_clock_kind */
};
struct sched_event {
    uint64_t seq;     /* index + 1 once the entry is complete */
    uint64_t at_ns;   /* CLOCK_MONOTONIC */
    int32_t pid;
    int32_t tid;
    uint32_t kind;    /* SCHED_KIND_* */
    uint32_t pad;
    int64_t nr;
    uint64_t args[6];
    uint64_t held_ns; /* how long the schedule held the thread here */
    char text[24];    /* SCHED_KIND_EVENT: what happened */
};

struct sched_shared {
    uint64_t magic;            /* SCHED_MAGIC once the header is written */
    uint32_t version;          /* SCHED_VERSION */
    uint32_t size;             /* sizeof(struct sched_shared) */
    uint64_t key;              /* the seed mixed with the test's name */
    uint32_t entry_pm;         /* per mille of calls held on entry */
    uint32_t exit_pm;          /* per mille of waiting calls held on return */
    uint64_t max_delay_ns;     /* the longest single hold */
    uint64_t starve_ordinal;   /* the thread held at each of its first events */
    uint64_t starve_events;    /* ... for this many (0: none) */
    uint64_t serialize_ns;     /* a call within this of another thread's goes after it */
    uint64_t start_ns;         /* CLOCK_MONOTONIC when the run started */
    uint64_t budget_base_ns;   /* holds allowed from the start */
    uint64_t budget_cap_ns;    /* holds allowed at most */
    uint32_t budget_pm;        /* plus this per mille of the run's own time */
    uint32_t pad;
    uint64_t hold_cost_ns;     /* charged for each hold on top of its length */
    uint64_t spent_ns;         /* atomic: charged to the budget so far */
    uint64_t held_ns;          /* atomic: held so far */
    uint64_t last_release_ns;  /* atomic: when a thread last went on */
    int64_t last_release_tid;  /* atomic: which */
    int64_t active;            /* atomic: threads in state SCHED_ACTIVE */
    uint64_t journal_next;     /* atomic: entries appended so far */
    uint64_t aimed_until_ns;   /* atomic: a hold aimed at a window lasts until then ... */
    int64_t aimed_tid;         /* atomic: ... in this thread (others are not held meanwhile) */
    uint64_t spawned_ns;       /* atomic: when a thread or process of the test was last created */
    uint64_t preempt_spent_ns; /* atomic: charged to the preemption points' own pot (the supervisor's) */
    int64_t holding;           /* atomic: threads inside a hold of the processes' now */
    struct sched_thread threads[SCHED_THREADS];
    struct sched_event journal[SCHED_JOURNAL];
    struct sched_clock clocks[SCHED_CLOCKS];
};

#endif
