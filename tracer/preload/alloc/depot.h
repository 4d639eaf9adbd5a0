/*
 * Call sites and the stack depot (depot.c owns them): the return
 * addresses of the program's stack where it entered the allocator, stored
 * once per distinct stack in the table (struct guard_stack), so that a
 * slot or a wrapped block records its allocation and free as a 32-bit id.
 */
#ifndef FFC_ALLOC_DEPOT_H
#define FFC_ALLOC_DEPOT_H
#include <stdint.h>

/* Where the program entered the allocator: the stack pointer and rbp its
 * entry stub saw (ENTRY_STUB_FRAME in entry.c), so the walk starts at the
 * caller. */
struct entry {
    uintptr_t rsp, rbp;
};

/* Finds this library's code (from its own ELF header), so that a call
 * site starts at the first frame outside it; once, at start. */
void find_self(void);

/* The depot id of the caller's stack, the allocator's frames skipped;
 * `from`: where the program entered the allocator, or NULL. 0 when the
 * depot is full. */
uint32_t call_site(const struct entry *from);

#endif
