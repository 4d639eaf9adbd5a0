/*
 * The allocator's one lock (lock.c owns it): the slot lists, the
 * quarantines and the counters of the header are changed under it. A
 * futex mutex that makes its system calls raw (the schedule interposes
 * futex), held across fork so that the child inherits the lists whole.
 */
#ifndef FFC_ALLOC_LOCK_H
#define FFC_ALLOC_LOCK_H

void lock(void);
void unlock(void);

/* Registers the fork handlers: the lock is held across fork; in the child
 * it is free again and the live list holds only live slots. */
void lock_fork_handlers(void);

#endif
