/*
 * The allocator's byte checks and its errors (checks.c): the slack after a
 * guarded block and the poison of a freed one hold SLACK_BYTE; a changed
 * byte, and every misuse the entry points catch, is reported to the
 * supervisor as a struct guard_error (protocol/guard.h).
 */
#ifndef FFC_ALLOC_CHECKS_H
#define FFC_ALLOC_CHECKS_H
#include <stdint.h>

#include "table.h"

/* Reports an error (base.c: trapping to the supervisor, or a message
 * and abort). */
void report_record(struct guard_error *rec);

/* Reports an error of `kind` about pointer `ptr` (in slot `slot`, or -1). */
void report(uint32_t kind, void *ptr, int64_t slot);

/* The end of the slack that is filled and checked (GUARD_SLACK_CHECKED). */
uintptr_t slack_end(const struct guard_slot *s);

/* Whether a live slot's slack, after its block, still holds SLACK_BYTE. */
int slack_intact(const struct guard_slot *s);

/* Whether the freed bytes [p, end) still hold the poison; if not, reports a
 * write after free of the block at p (its slot, or -1 for a wrapped block)
 * with the offset and length of the change. */
int poison_intact(const unsigned char *p, const unsigned char *end, int64_t slot);

/* Reports a write after free if a poisoned slot's bytes (from its pointer
 * to the end of its checked slack) are not all GUARD_POISON_BYTE; returns
 * whether they were. */
int check_poison(uint32_t id);

#endif
