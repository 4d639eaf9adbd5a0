/* Forks while threads allocate and free (run with the guard allocator
 * preloaded; see tracer/tests/fork.rs). Each child checks the allocator's
 * tables as it inherited them: every slot on the live list is live and
 * knows its place there, the live pages add up, and every block on the
 * wrapped list is live and knows its place. Prints "ok", or how many of
 * the children saw them half-updated. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../protocol/guard.h"

struct guard_header *ffi_check_guard_header(void);

#define THREADS 3
#define FORKS 200

static volatile int stop;

/* Keeps 64 blocks of sizes from 1 to 9000 bytes, replacing one at a time. */
static void *churn(void *arg) {
    unsigned x = (unsigned)(uintptr_t)arg;
    void *kept[64] = {0};
    while (!stop) {
        x = x * 1103515245u + 12345u;
        int k = (int)((x >> 20) % 64);
        free(kept[k]);
        kept[k] = malloc(1 + (x >> 8) % 9000);
    }
    for (int k = 0; k < 64; k++) free(kept[k]);
    return NULL;
}

static int consistent(const struct guard_header *h) {
    const uint32_t *live = (const uint32_t *)((const char *)h + GUARD_LIVE_OFFSET);
    const struct guard_slot *slots = (const struct guard_slot *)((const char *)h + GUARD_SLOTS_OFFSET);
    uint64_t pages = 0;
    for (uint64_t i = 0; i < h->live; i++) {
        const struct guard_slot *s = &slots[live[i]];
        if (s->state != GUARD_LIVE || s->live_index != i) return 0;
        pages += s->pages;
    }
    if (pages != h->live_pages) return 0;
    const uint64_t *wrapped = (const uint64_t *)((const char *)h + GUARD_WRAPPED_OFFSET);
    for (uint64_t i = 0; i < h->wrapped; i++) {
        const struct guard_wrap *w = (const struct guard_wrap *)(uintptr_t)wrapped[i] - 1;
        if (w->live_index != i || w->key != (GUARD_WRAP_MAGIC ^ h->wrap_salt ^ wrapped[i])) return 0;
    }
    return 1;
}

int main(void) {
    const struct guard_header *h = ffi_check_guard_header();
    if (!h) {
        puts("the guard allocator is not loaded");
        return 1;
    }
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) pthread_create(&threads[t], NULL, churn, (void *)(uintptr_t)(t + 1));
    usleep(20000);
    int bad = 0;
    for (int i = 0; i < FORKS; i++) {
        pid_t pid = fork();
        if (pid == 0) _exit(consistent(h) ? 0 : 1);
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) bad++;
    }
    stop = 1;
    for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);
    if (bad)
        printf("%d of %d children saw half-updated tables\n", bad, FORKS);
    else
        puts("ok");
    return 0;
}
