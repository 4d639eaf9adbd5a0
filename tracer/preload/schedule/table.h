/*
 * The thread table (table.c): which slot of the run's shared region the
 * supervisor registered for this thread, its identity across runs (its
 * creator and creation order), and the count of threads that can act.
 */
#ifndef FFC_SCHEDULE_TABLE_H
#define FFC_SCHEDULE_TABLE_H
#include <stdint.h>

#include "../protocol/schedule.h"

/* The run's shared region: the functions below need it. */
void table_attach(struct sched_shared *region);

/* In a forked child: its thread is a new one (the supervisor registered
 * it). */
void table_after_fork(void);

/* This thread's id, read once. */
int32_t table_tid(void);

/* Looks up this thread's slot (until it is found, a few times): then it
 * counts as able to act. */
void table_find_me(void);

/* This thread's identity across runs (from its tid until its slot is
 * found: not the same in every run). */
uint64_t table_logical(void);

/* Whether this thread's slot is found and its ordinal (the nth thread or
 * process of the run) is `ordinal`. */
int table_is_ordinal(uint64_t ordinal);

/* This thread starts (1) or stops (0) waiting for another thread: it does
 * not count as able to act meanwhile. */
void table_waiting(int waiting);

/* The harness's main thread no longer counts as able to act (once its
 * slot is found). */
void table_uncount_harness(void);

/* Whether a thread of the test other than this one can act now. */
int table_others_can_act(void);

#endif
