/*
 * The alignment of a guarded allocation (align.h).
 */
#include "align.h"

#include "table.h"

/* The largest power of two dividing `size`, at most malloc's alignment
 * (which a size of 0 gets too). */
static size_t size_align(size_t size) {
    size_t a = size & -size;
    return !a || a > MALLOC_ALIGN ? MALLOC_ALIGN : a;
}

size_t natural_align(size_t size) {
    if (!ffc_settings.supervised) return MALLOC_ALIGN;
    size_t a = size_align(size);
    return a < 8 ? 8 : a;
}

int valid_align(size_t a) { return a && !(a & (a - 1)); }

size_t placement_align(size_t size, uintptr_t ret, size_t reg, enum rust_entry entry) {
    if (ffc_settings.supervised && rust_alloc_caller(ret, entry)) {
        if (entry == RUST_ALLOC_ZEROED) return size_align(size);
        if (valid_align(reg) && reg <= MALLOC_ALIGN && reg <= size) return reg;
    }
    return natural_align(size);
}
