/*
 * The schedule's seeded decisions (as the supervisor's own, in
 * src/linux/schedule/decisions.rs): a splitmix64 mix, a generator from it,
 * chances in per mille and hold lengths. Header-only: every decision is a
 * few instructions inline in the wrapper's path.
 */
#ifndef FFC_SCHEDULE_RNG_H
#define FFC_SCHEDULE_RNG_H
#include <stdint.h>

/* The shortest hold worth making: a few context switches. */
#define MIN_HOLD_NS 50000ULL

/* splitmix64's finaliser: a well-spread hash of `z`. */
static inline uint64_t mix(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A generator seeded from a decision's inputs. */
struct rng {
    uint64_t s;
};

static inline uint64_t next(struct rng *r) {
    r->s += 0x9e3779b97f4a7c15ULL;
    return mix(r->s);
}

/* True `per_mille` times in a thousand. */
static inline int chance(struct rng *r, uint32_t per_mille) { return next(r) % 1000 < per_mille; }

/* A delay from MIN_HOLD_NS to max, spread evenly over the doublings
 * between them: short delays are common, long ones happen. */
static inline uint64_t delay(struct rng *r, uint64_t max) {
    if (max <= MIN_HOLD_NS) return MIN_HOLD_NS;
    unsigned doublings = 0;
    for (uint64_t d = MIN_HOLD_NS; d < max; d <<= 1) doublings++;
    uint64_t base = MIN_HOLD_NS << (next(r) % doublings);
    uint64_t d = base + next(r) % base;
    return d > max ? max : d;
}

#endif
