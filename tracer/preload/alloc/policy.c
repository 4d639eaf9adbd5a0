/*
 * What is guarded: the rule (policy.h).
 */
#include "policy.h"

#include "slots.h"
#include "table.h"

uint64_t decide(uint64_t n) {
    uint64_t z = hdr->seed + (n + 1) * 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int within_budget(void) {
    uint64_t spent = __atomic_load_n(&hdr->cost_ns, __ATOMIC_RELAXED);
    uint64_t elapsed = now_ns() - start_ns;
    uint64_t own = elapsed > spent ? elapsed - spent : 0;
    return spent <= COST_BASE_NS + own / 1000 * COST_PM;
}

/* Whether the seed's residue sample guards the `mine`-th allocation of a
 * thread, of `size` bytes (consulted only past the budget): a seed-free
 * hash of the allocation plus the seed, modulo the rate, is 0. So
 * consecutive seeds guard disjoint samples, and any GUARD_SAMPLE
 * consecutive seeds together guard every allocation up to the
 * GUARD_TIER-th of each thread (GUARD_SAMPLE_LATE seeds, every one after). */
static int sampled(uint64_t mine, size_t size) {
    uint64_t rate = mine < GUARD_TIER ? GUARD_SAMPLE : GUARD_SAMPLE_LATE;
    uint64_t z = (mine + 1) * 0x9e3779b97f4a7c15ULL ^ (uint64_t)size;
    z = (z ^ (z >> 31)) * 0xbf58476d1ce4e5b9ULL;
    return (z ^ (z >> 29)) % rate == hdr->seed % rate;
}

/* Under the lock: whether the quarantine is still filling (its poisoned
 * slots come back to the pools once it is full, so slots taken now are
 * recycled later). */
static int quarantine_filling(void) { return hdr->quarantine_pages < QUARANTINE_PAGES + hdr->live_pages / 4; }

int fresh_wanted(uint64_t mine, size_t size, uint32_t site) {
    return within_budget() || quarantine_filling() ||
           (site && !__atomic_load_n(&stacks[site].guarded, __ATOMIC_RELAXED)) || sampled(mine, size);
}
