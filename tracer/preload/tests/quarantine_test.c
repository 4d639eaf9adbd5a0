/* The quarantine of freed slots when its ring of QUARANTINE (1 << 17)
 * records is full (run preloaded with FFI_CHECK_GUARD_PROTECT=poison; see
 * tracer/tests/quarantine.rs): a free that finds it full must make room
 * before it takes its place. Before, the newest record was written over
 * the oldest and left at once yet stayed in the ring, to leave a second
 * time once poisoned slots made the page limit drain the ring, by then
 * taking the record of a live allocation with it: that allocation's one
 * free was an "invalid free". Prints "ok" or the allocator aborts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RING (1u << 17)
/* Nine data pages: no recycled size, so always protected when freed. */
#define LARGE (9 * 4096 - 100)
#define KEPT 1000

static void *kept[KEPT];
static void *small[KEPT];

int main(void) {
    /* Live pages raise the quarantine's page limit (a quarter of them). */
    for (int i = 0; i < KEPT; i++) kept[i] = malloc(LARGE);
    /* Poisoned slots (a recycled size, under `poison`) enter the ring
     * first, within that limit. */
    for (int i = 0; i < KEPT; i++) small[i] = malloc(100);
    for (int i = 0; i < KEPT; i++) free(small[i]);
    /* Protected slots fill the ring, then go past it. */
    for (unsigned i = 0; i < RING - KEPT + 500; i++) free(malloc(LARGE));
    /* A live allocation takes a record the ring's turnover just freed. */
    char *live = malloc(LARGE);
    memset(live, 1, LARGE);
    /* The page limit drops with the live pages: the ring drains. */
    for (int i = 0; i < KEPT; i++) free(kept[i]);
    /* Its one free. */
    free(live);
    puts("ok");
    return 0;
}
