/*
 * Which malloc, calloc and realloc calls come from Rust's default global
 * allocator. Rust code calls the shims __rust_alloc, __rust_alloc_zeroed
 * and __rust_realloc, which jump to std's __rdl_* functions, which (for
 * alignments of at most 16 and at most the size) tail-call malloc(size),
 * calloc(size, 1) and realloc(ptr, size). The return address is then the
 * instruction after the call to the shim, and __rdl_alloc and
 * __rdl_realloc leave the layout's alignment in rsi and rdx. The
 * supervisor finds the shims in the executable's symbol table and checks
 * std's code (symbols/rust_alloc.rs); this file recognises the call sites.
 *
 * A Rust layout's alignment is all its allocation needs, so such an
 * allocation can end flush against its guard page for every size, where a
 * C caller of malloc relies on more.
 */
#define _GNU_SOURCE
#include "rust_alloc.h"

#include <elf.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>

#define MAX_SEGMENTS 16

/* The main executable's loaded segments (run-time addresses). */
static struct {
    uintptr_t lo, hi;
    uint32_t flags;
} segments[MAX_SEGMENTS];
static unsigned segment_count;
/* The shims' run-time addresses; 0: not recognised. */
static uintptr_t entries[RUST_ENTRIES];

static int parse_hex(const char **s, uint64_t *out) {
    char *end;
    *out = strtoull(*s, &end, 16);
    if (end == *s) return 0;
    *s = *end == ':' ? end + 1 : end;
    return 1;
}

void rust_alloc_init(const char *spec) {
    uint64_t dev, ino, vaddr[RUST_ENTRIES];
    if (!spec || !parse_hex(&spec, &dev) || !parse_hex(&spec, &ino)) return;
    for (int i = 0; i < RUST_ENTRIES; i++)
        if (!parse_hex(&spec, &vaddr[i])) return;
    /* The addresses are the supervisor's test binary's: a program the test
     * runs inherits the variable and must not take them for its own. */
    struct stat st;
    if (stat("/proc/self/exe", &st) || st.st_dev != dev || st.st_ino != ino) return;
    /* The load bias, from the program headers the kernel mapped (no lock:
     * this can run inside the loader). */
    const Elf64_Phdr *ph = (const Elf64_Phdr *)getauxval(AT_PHDR);
    unsigned long n = getauxval(AT_PHNUM);
    if (!ph) return;
    uintptr_t bias = 0;
    int found = 0;
    for (unsigned long i = 0; i < n; i++)
        if (ph[i].p_type == PT_PHDR) {
            bias = (uintptr_t)ph - ph[i].p_vaddr;
            found = 1;
        }
    if (!found) return;
    for (unsigned long i = 0; i < n && segment_count < MAX_SEGMENTS; i++)
        if (ph[i].p_type == PT_LOAD) {
            segments[segment_count].lo = bias + ph[i].p_vaddr;
            segments[segment_count].hi = bias + ph[i].p_vaddr + ph[i].p_memsz;
            segments[segment_count].flags = ph[i].p_flags;
            segment_count++;
        }
    for (int i = 0; i < RUST_ENTRIES; i++) entries[i] = vaddr[i] ? bias + vaddr[i] : 0;
}

/* Whether [p, p + len) lies in one loaded segment with permission `flag`. */
static int mapped(uintptr_t p, size_t len, uint32_t flag) {
    for (unsigned i = 0; i < segment_count; i++)
        if (segments[i].flags & flag && p >= segments[i].lo && p + len <= segments[i].hi) return 1;
    return 0;
}

int rust_alloc_caller(uintptr_t ret, enum rust_entry entry) {
    uintptr_t want = entries[entry];
    if (!want || !mapped(ret - 6, 6, PF_X)) return 0;
    const unsigned char *b = (const unsigned char *)ret;
    int32_t disp;
    memcpy(&disp, b - 4, 4);
    uintptr_t target;
    if (b[-6] == 0xff && b[-5] == 0x15) {
        /* call qword ptr [rip + disp32]: through the shim's GOT slot. */
        uintptr_t slot = ret + (intptr_t)disp;
        if (!mapped(slot, 8, PF_R)) return 0;
        memcpy(&target, (const void *)slot, 8);
    } else if (b[-5] == 0xe8) {
        /* call rel32 (also the linker's relaxed `addr32 call`). */
        target = ret + (intptr_t)disp;
    } else {
        return 0;
    }
    return target == want;
}
