/*
 * A fast, exact stack walker for the allocator's call sites.
 *
 * The frames are found from DWARF call-frame information (.eh_frame), as
 * libgcc's _Unwind_Backtrace does (Rust's std and -O2 C keep no frame
 * pointers), but what a frame needs is reduced to a rule per code address,
 * computed once and kept in a cache the threads share (not per thread:
 * 48 KiB of static TLS came out of every thread's stack, so a thread of
 * PTHREAD_STACK_MIN could not be created):
 *
 *   CFA = rsp or rbp + offset;  return address at CFA - 8;
 *   rbp restored from CFA + rbp_offset, or unchanged.
 *
 * A cache hit costs a few loads per frame. On a miss, glibc's
 * _dl_find_object (2.35 and later) gives the object's .eh_frame_hdr, whose
 * sorted table gives the FDE, whose CFA program (after its CIE's) is run up
 * to the address. Anything this does not model (a CFA from an expression
 * or another register, a signal frame, a 64-bit DWARF length) makes the
 * walk report failure, and the caller falls back to libgcc. The walk stops
 * where the return address is undefined (_start, clone) or no FDE covers
 * the address.
 *
 * Every memory read of the walk is of the current thread's stack between
 * the walker's own frame and 64 MiB above it, each frame strictly above
 * the one before, or of read-only unwind tables of loaded objects.
 * Nothing here allocates or locks.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <string.h>

#include "unwind.h"


/* DWARF register numbers on x86-64. */
#define REG_RBP 6
#define REG_RSP 7
#define REG_RA 16

#define NO_OFFSET INT32_MIN
#define CACHE_SIZE 2048u
#define MAX_STACK_SPAN (64ull << 20)

struct rule {
    uint64_t pc;     /* the lookup address (0: empty entry) */
    int32_t cfa_off;
    int32_t rbp_off; /* NO_OFFSET: rbp is unchanged */
    uint8_t cfa_reg; /* REG_RSP or REG_RBP */
    uint8_t kind;    /* RULE_* */
    /* In the cache: a sequence number, odd while the entry is written, and
     * whether a thread is writing it. A reader copies the entry and keeps
     * the copy only if the number was even and unchanged around it (a
     * sequence lock: readers never write, so threads walking the same
     * code do not contend); a writer that finds the entry taken leaves it. */
    uint8_t seq;
    uint8_t busy;
};

enum { RULE_OK = 1, RULE_END = 2, RULE_UNKNOWN = 3 };

static struct rule cache[CACHE_SIZE];

/* Weak: glibc before 2.35 has no _dl_find_object, and the library must
 * still load there (the walk then always falls back). */
#pragma weak _dl_find_object

/* --- reading DWARF ------------------------------------------------------ */

static uint64_t uleb(const uint8_t **p) {
    uint64_t v = 0;
    int shift = 0;
    uint8_t b;
    do {
        b = *(*p)++;
        if (shift < 64) v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
    } while (b & 0x80);
    return v;
}

static int64_t sleb(const uint8_t **p) {
    int64_t v = 0;
    int shift = 0;
    uint8_t b;
    do {
        b = *(*p)++;
        if (shift < 64) v |= (int64_t)(b & 0x7f) << shift;
        shift += 7;
    } while (b & 0x80);
    if (shift < 64 && (b & 0x40)) v |= -((int64_t)1 << shift);
    return v;
}

/* A pointer in encoding `enc` at *p (pcrel and datarel relative to `data`);
 * returns 0 on an encoding this does not read. */
static int read_encoded(const uint8_t **p, uint8_t enc, uintptr_t data, uintptr_t *out) {
    if (enc == 0xff) return 0; /* DW_EH_PE_omit */
    const uint8_t *at = *p;
    uintptr_t v;
    switch (enc & 0x0f) {
    case 0x00: memcpy(&v, at, 8); *p += 8; break;                          /* absptr */
    case 0x01: v = (uintptr_t)uleb(p); break;                              /* uleb128 */
    case 0x02: { uint16_t x; memcpy(&x, at, 2); v = x; *p += 2; break; }   /* udata2 */
    case 0x03: { uint32_t x; memcpy(&x, at, 4); v = x; *p += 4; break; }   /* udata4 */
    case 0x04: memcpy(&v, at, 8); *p += 8; break;                          /* udata8 */
    case 0x09: v = (uintptr_t)sleb(p); break;                              /* sleb128 */
    case 0x0a: { int16_t x; memcpy(&x, at, 2); v = (uintptr_t)(intptr_t)x; *p += 2; break; }
    case 0x0b: { int32_t x; memcpy(&x, at, 4); v = (uintptr_t)(intptr_t)x; *p += 4; break; }
    case 0x0c: memcpy(&v, at, 8); *p += 8; break;
    default: return 0;
    }
    switch (enc & 0x70) {
    case 0x00: break;
    case 0x10: v += (uintptr_t)at; break; /* pcrel */
    case 0x30: v += data; break;          /* datarel */
    default: return 0;
    }
    *out = v;
    return 1;
}

/* --- running the CFA program ------------------------------------------- */

struct state {
    int64_t cfa_off;
    int32_t rbp_off;
    uint8_t cfa_reg;
    uint8_t ra_undefined;
};

/* Runs CFA instructions [p, end) while the location is <= target; returns
 * 0 on anything unsupported. */
static int run_cfa(const uint8_t *p, const uint8_t *end, uintptr_t loc, uintptr_t target, uint64_t code_align,
                   int64_t data_align, struct state *s, const struct state *initial) {
    struct state saved[8];
    int depth = 0;
    while (p < end) {
        uint8_t op = *p++;
        uint8_t hi = op & 0xc0, low = op & 0x3f;
        if (hi == 0x40) { /* advance_loc */
            loc += low * code_align;
            if (loc > target) return 1;
            continue;
        }
        if (hi == 0x80) { /* offset */
            int64_t off = (int64_t)uleb(&p) * data_align;
            if (low == REG_RBP) s->rbp_off = (int32_t)off;
            continue;
        }
        if (hi == 0xc0) { /* restore */
            if (low == REG_RBP) s->rbp_off = initial->rbp_off;
            if (low == REG_RA) s->ra_undefined = initial->ra_undefined;
            continue;
        }
        uint64_t reg;
        int64_t off;
        switch (op) {
        case 0x00: break; /* nop */
        case 0x02: loc += *p++ * code_align; if (loc > target) return 1; break;
        case 0x03: { uint16_t d; memcpy(&d, p, 2); p += 2; loc += d * code_align; if (loc > target) return 1; break; }
        case 0x04: { uint32_t d; memcpy(&d, p, 4); p += 4; loc += d * code_align; if (loc > target) return 1; break; }
        case 0x05: /* offset_extended */
            reg = uleb(&p);
            off = (int64_t)uleb(&p) * data_align;
            if (reg == REG_RBP) s->rbp_off = (int32_t)off;
            break;
        case 0x06: /* restore_extended */
            reg = uleb(&p);
            if (reg == REG_RBP) s->rbp_off = initial->rbp_off;
            if (reg == REG_RA) s->ra_undefined = initial->ra_undefined;
            break;
        case 0x07: /* undefined */
            reg = uleb(&p);
            if (reg == REG_RA) s->ra_undefined = 1;
            if (reg == REG_RBP) return 0;
            break;
        case 0x08: /* same_value */
            reg = uleb(&p);
            if (reg == REG_RBP) s->rbp_off = NO_OFFSET;
            break;
        case 0x09: /* register */
            reg = uleb(&p);
            (void)uleb(&p);
            if (reg == REG_RBP || reg == REG_RA) return 0;
            break;
        case 0x0a: /* remember_state */
            if (depth == 8) return 0;
            saved[depth++] = *s;
            break;
        case 0x0b: /* restore_state */
            if (depth == 0) return 0;
            *s = saved[--depth];
            break;
        case 0x0c: /* def_cfa */
            s->cfa_reg = (uint8_t)uleb(&p);
            s->cfa_off = (int64_t)uleb(&p);
            break;
        case 0x0d: s->cfa_reg = (uint8_t)uleb(&p); break;   /* def_cfa_register */
        case 0x0e: s->cfa_off = (int64_t)uleb(&p); break;   /* def_cfa_offset */
        case 0x11: /* offset_extended_sf */
            reg = uleb(&p);
            off = sleb(&p) * data_align;
            if (reg == REG_RBP) s->rbp_off = (int32_t)off;
            break;
        case 0x12: /* def_cfa_sf */
            s->cfa_reg = (uint8_t)uleb(&p);
            s->cfa_off = sleb(&p) * data_align;
            break;
        case 0x13: s->cfa_off = sleb(&p) * data_align; break; /* def_cfa_offset_sf */
        case 0x10: /* expression */
        case 0x16: /* val_expression */
            reg = uleb(&p);
            if (reg == REG_RBP || reg == REG_RA) return 0;
            p += uleb(&p);
            break;
        case 0x14: /* val_offset */
        case 0x15: /* val_offset_sf */
            reg = uleb(&p);
            (void)uleb(&p);
            if (reg == REG_RBP || reg == REG_RA) return 0;
            break;
        case 0x2e: (void)uleb(&p); break; /* GNU_args_size */
        default: return 0;                /* def_cfa_expression, set_loc, ... */
        }
    }
    return 1;
}

/* The rule for code address `pc`, computed from the unwind tables. */
static struct rule compute(uintptr_t pc) {
    struct rule r = {pc, 0, NO_OFFSET, 0, RULE_UNKNOWN, 0, 0};
    struct dl_find_object obj;
    if (_dl_find_object((void *)pc, &obj) != 0) {
        r.kind = RULE_END;
        return r;
    }
    const uint8_t *hdr = obj.dlfo_eh_frame;
    if (!hdr || hdr[0] != 1) return r;
    uintptr_t base = (uintptr_t)hdr;
    const uint8_t *p = hdr + 4;
    uintptr_t eh_frame, count;
    if (!read_encoded(&p, hdr[1], base, &eh_frame) || !read_encoded(&p, hdr[2], base, &count)) return r;
    if (hdr[3] != 0x3b) return r; /* datarel | sdata4 table */
    const int32_t *table = (const int32_t *)p;
    size_t lo = 0, hi = count;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (base + (intptr_t)table[2 * mid] <= pc) lo = mid;
        else hi = mid;
    }
    if (!count || base + (intptr_t)table[2 * lo] > pc) {
        r.kind = RULE_END;
        return r;
    }
    const uint8_t *fde = (const uint8_t *)(base + (intptr_t)table[2 * lo + 1]);
    uint32_t fde_len;
    memcpy(&fde_len, fde, 4);
    if (fde_len == 0xffffffffu || fde_len == 0) return r;
    int32_t cie_off;
    memcpy(&cie_off, fde + 4, 4);
    const uint8_t *cie = fde + 4 - cie_off;
    uint32_t cie_len;
    memcpy(&cie_len, cie, 4);
    if (cie_len == 0xffffffffu) return r;
    const uint8_t *cie_end = cie + 4 + cie_len;
    const uint8_t *q = cie + 8;
    uint8_t version = *q++;
    const char *aug = (const char *)q;
    q += strlen(aug) + 1;
    if (aug[0] == 'e' && aug[1] == 'h') return r;
    uint64_t code_align = uleb(&q);
    int64_t data_align = sleb(&q);
    uint64_t ra_reg = version == 1 ? *q++ : uleb(&q);
    if (ra_reg != REG_RA) return r;
    uint8_t fde_enc = 0;
    if (aug[0] == 'z') {
        uint64_t len = uleb(&q);
        const uint8_t *aug_end = q + len;
        for (const char *a = aug + 1; *a; a++) {
            if (*a == 'R') fde_enc = *q++;
            else if (*a == 'L') q++;
            else if (*a == 'P') {
                uint8_t enc = *q++;
                uintptr_t ignored;
                if (!read_encoded(&q, enc & 0x7f, base, &ignored)) return r;
            } else if (*a == 'S') return r; /* a signal frame */
            else if (*a != 'B') return r;
        }
        q = aug_end;
    }
    const uint8_t *f = fde + 8;
    uintptr_t start, range;
    if (!read_encoded(&f, fde_enc, base, &start) || !read_encoded(&f, fde_enc & 0x0f, base, &range)) return r;
    if (pc < start || pc >= start + range) {
        r.kind = RULE_END;
        return r;
    }
    if (aug[0] == 'z') f += uleb(&f);
    struct state s = {0, NO_OFFSET, 0, 0}, initial;
    if (!run_cfa(q, cie_end, start, (uintptr_t)-1, code_align, data_align, &s, &s)) return r;
    initial = s;
    if (!run_cfa(f, fde + 4 + fde_len, start, pc, code_align, data_align, &s, &initial)) return r;
    if (s.ra_undefined) {
        r.kind = RULE_END;
        return r;
    }
    if ((s.cfa_reg != REG_RSP && s.cfa_reg != REG_RBP) || s.cfa_off < 16 || s.cfa_off > (1 << 30)) return r;
    r.cfa_reg = s.cfa_reg;
    r.cfa_off = (int32_t)s.cfa_off;
    r.rbp_off = s.rbp_off;
    r.kind = RULE_OK;
    return r;
}

/* The cached rule for `pc`, if the cache has a consistent one. */
static int cached(struct rule *e, uintptr_t pc, struct rule *out) {
    uint8_t seq = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
    if (seq & 1) return 0;
    out->pc = __atomic_load_n(&e->pc, __ATOMIC_RELAXED);
    out->cfa_off = __atomic_load_n(&e->cfa_off, __ATOMIC_RELAXED);
    out->rbp_off = __atomic_load_n(&e->rbp_off, __ATOMIC_RELAXED);
    out->cfa_reg = __atomic_load_n(&e->cfa_reg, __ATOMIC_RELAXED);
    out->kind = __atomic_load_n(&e->kind, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return __atomic_load_n(&e->seq, __ATOMIC_RELAXED) == seq && out->pc == pc;
}

/* Keeps rule `r` in cache entry `e`, unless another thread is writing it. */
static void keep(struct rule *e, const struct rule *r) {
    if (__atomic_exchange_n(&e->busy, 1, __ATOMIC_ACQUIRE)) return;
    uint8_t seq = __atomic_load_n(&e->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&e->seq, (uint8_t)(seq + 1), __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&e->pc, r->pc, __ATOMIC_RELAXED);
    __atomic_store_n(&e->cfa_off, r->cfa_off, __ATOMIC_RELAXED);
    __atomic_store_n(&e->rbp_off, r->rbp_off, __ATOMIC_RELAXED);
    __atomic_store_n(&e->cfa_reg, r->cfa_reg, __ATOMIC_RELAXED);
    __atomic_store_n(&e->kind, r->kind, __ATOMIC_RELAXED);
    __atomic_store_n(&e->seq, (uint8_t)(seq + 2), __ATOMIC_RELEASE);
    __atomic_store_n(&e->busy, 0, __ATOMIC_RELEASE);
}

static struct rule rule_for(uintptr_t pc) {
    struct rule *e = &cache[(pc ^ (pc >> 11)) % CACHE_SIZE];
    struct rule r;
    if (cached(e, pc, &r)) return r;
    r = compute(pc);
    keep(e, &r);
    return r;
}

/* --- the walk ------------------------------------------------------------ */

/* Walks the frames from the one at `pc` (its stack pointer `rsp`, rbp
 * `rbp`): `own` says it is the walker's own frame (at `pc` exactly, not
 * recorded), otherwise `pc` is a return address, recorded first and
 * looked up at pc - 1 as every caller's is. */
static int walk(uint64_t *pcs, unsigned max, uintptr_t pc, uintptr_t rsp, uintptr_t rbp, int own, uintptr_t skip_lo,
                uintptr_t skip_hi) {
    if (!_dl_find_object) return -1;
    const uintptr_t floor = rsp;
    unsigned n = 0;
    int skipping = 1;
    for (int frame = 0; n < max && frame < 256; frame++) {
        if (!own || frame > 0) {
            if (!pc) break;
            if (!skipping || pc < skip_lo || pc >= skip_hi) {
                skipping = 0;
                pcs[n++] = pc;
                if (n == max) break;
            }
        }
        const struct rule rule = rule_for(own && frame == 0 ? pc : pc - 1);
        const struct rule *r = &rule;
        if (r->kind == RULE_END) break;
        if (r->kind != RULE_OK) return -1;
        uintptr_t cfa = (r->cfa_reg == REG_RSP ? rsp : rbp) + (intptr_t)r->cfa_off;
        if (cfa <= rsp || cfa - 8 < floor || cfa - floor > MAX_STACK_SPAN) return -1;
        uintptr_t ra = *(const uintptr_t *)(cfa - 8);
        if (r->rbp_off != NO_OFFSET) {
            uintptr_t at = cfa + (intptr_t)r->rbp_off;
            if (at < floor || at - floor > MAX_STACK_SPAN) return -1;
            rbp = *(const uintptr_t *)at;
        }
        rsp = cfa;
        pc = ra;
    }
    return (int)n;
}

__attribute__((noinline)) int ffc_backtrace(uint64_t *pcs, unsigned max, uintptr_t skip_lo, uintptr_t skip_hi) {
    uintptr_t pc, rsp, rbp;
    __asm__ volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2" : "=r"(pc), "=r"(rsp), "=r"(rbp));
    return walk(pcs, max, pc, rsp, rbp, 1, skip_lo, skip_hi);
}

int ffc_backtrace_from(uint64_t *pcs, unsigned max, uintptr_t entry_rsp, uintptr_t entry_rbp, uintptr_t skip_lo,
                       uintptr_t skip_hi) {
    uintptr_t ra = *(const uintptr_t *)entry_rsp;
    return walk(pcs, max, ra, entry_rsp + 8, entry_rbp, 0, skip_lo, skip_hi);
}
