/* A fast, exact stack walker from DWARF call-frame information with a
 * per-thread cache of rules per code address (see unwind.c). */
#ifndef FFC_UNWIND_H
#define FFC_UNWIND_H

#include <stdint.h>

/* Writes up to `max` return addresses of the calling thread's stack into
 * `pcs`, innermost first, leaving out the leading frames whose address is
 * in [skip_lo, skip_hi) (the caller's own library). Returns how many, or
 * -1 where the unwind tables say something this walker does not model
 * (the caller then falls back to _Unwind_Backtrace). */
int ffc_backtrace(uint64_t *pcs, unsigned max, uintptr_t skip_lo, uintptr_t skip_hi);

/* The same from a function's entry, where the stack pointer `entry_rsp`
 * points at its return address and rbp is `entry_rbp` (as an assembly
 * stub sees them): the walk starts at the caller, with none of the frames
 * between that entry and this call to unwind. */
int ffc_backtrace_from(uint64_t *pcs, unsigned max, uintptr_t entry_rsp, uintptr_t entry_rbp, uintptr_t skip_lo,
                       uintptr_t skip_hi);

#endif
