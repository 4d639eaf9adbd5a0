/*
 * What is guarded (policy.c owns the rule): the seed's decisions, the
 * budget of the guards' kernel work, and whether an allocation that needs
 * a fresh slot gets one.
 *
 * A guarded allocation from a recycled slot costs no
 * system call and no page fault, so it is always taken. One that needs a
 * fresh slot costs a page fault (about 2 us here), and protecting a freed
 * slot costs as much again (the kernel discards the page): both are
 * charged to a budget of the process's own time (`within_budget`). Within
 * it, every allocation is guarded and every freed slot protected; past it,
 * freed slots are poisoned (and recycled), and a fresh slot is taken only
 * while the quarantine is still filling (its slots will be recycled), for
 * a call site that has none guarded yet, or for the seed's residue sample
 * (`sampled`): up to a thread's GUARD_TIER-th allocation one in
 * GUARD_SAMPLE, then one in GUARD_SAMPLE_LATE. The rest are wrapped glibc
 * blocks. (Measured side by side on git2's suite: a 10 ms base and a
 * 16 MiB quarantine cost 30 % more time for the same share of guarded
 * allocations; 0.5 ms + 10 % took 8 % less time than 1 ms + 25 %. A 2 ms
 * base with a 4 MiB quarantine cost git2's suite 1.72x nextest, 1 ms with
 * 1 MiB 1.51x (medians of 7 side by side): a short test filled the
 * quarantine with fresh slots it never lived to recycle. The base is 1 ms
 * so that a short test's first allocations and frees are still guarded
 * and protected when page faults are slow, as on a loaded machine.)
 */
#ifndef FFC_ALLOC_POLICY_H
#define FFC_ALLOC_POLICY_H
#include <stddef.h>
#include <stdint.h>

#define GUARD_TIER 16384u
#define GUARD_SAMPLE 16u
#define GUARD_SAMPLE_LATE 256u
/* The budget: COST_BASE_NS, plus COST_PM per mille of the process's own
 * time (elapsed, less what the guards cost). */
#define COST_BASE_NS 1000000ULL
#define COST_PM 100u
/* Most pages live guarded allocations may hold (128 MiB). */
#define GUARD_BUDGET_PAGES 32768u

/* splitmix64 of the run's seed and n. */
uint64_t decide(uint64_t n);

/* Whether the guards' kernel work so far (hdr->cost_ns) is within the
 * budget: COST_BASE_NS plus COST_PM per mille of the process's own time. */
int within_budget(void);

/* Under the lock: whether an allocation that needs a fresh slot is
 * guarded, the `mine`-th of its thread, of `size` bytes, from call site
 * `site`: within the budget, while the quarantine fills, for a site with
 * none guarded yet, or in the seed's residue sample. */
int fresh_wanted(uint64_t mine, size_t size, uint32_t site);

#endif
