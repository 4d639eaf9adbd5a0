/*
 * The allocator's byte checks and its errors (checks.h).
 */
#include "checks.h"

#include <string.h>

#include "slots.h"

static const char *error_name(uint32_t kind) {
    switch (kind) {
    case GUARD_DOUBLE_FREE: return "double-free";
    case GUARD_INVALID_FREE: return "invalid-free";
    case GUARD_REALLOC_FREED: return "realloc of a freed pointer";
    case GUARD_SLACK_CORRUPTED:
    case GUARD_CANARY_CORRUPTED: return "heap-buffer-overflow (bytes past the end were overwritten)";
    case GUARD_WRITE_AFTER_FREE: return "heap-use-after-free (freed memory was written)";
    case GUARD_HEADER_CORRUPTED: return "heap-buffer-underflow (bytes before the start were overwritten)";
    default: return "allocator error";
    }
}

void report_record(struct guard_error *rec) { ffc_report(rec, error_name(rec->kind), 1); }

void report(uint32_t kind, void *ptr, int64_t slot) {
    struct guard_error rec = {GUARD_ERROR_MAGIC, kind, 0, (uint64_t)(uintptr_t)ptr, slot, 0, 0};
    report_record(&rec);
}

/* Whether every byte in [p, end) is SLACK_BYTE, eight at a time: with the
 * guard before, the slack is the rest of the page (up to 4 KiB per free). */
static int all_slack(const unsigned char *p, const unsigned char *end) {
    const uint64_t pattern = 0x0101010101010101ULL * SLACK_BYTE;
    for (; p < end && (uintptr_t)p % 8; p++)
        if (*p != SLACK_BYTE) return 0;
    uint64_t diff = 0;
    for (; p + 8 <= end; p += 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        diff |= word ^ pattern;
    }
    for (; p < end; p++) diff |= *p ^ SLACK_BYTE;
    return diff == 0;
}

uintptr_t slack_end(const struct guard_slot *s) {
    uintptr_t e = s->user + s->size + GUARD_SLACK_CHECKED, g = guard_page(s);
    return e < g ? e : g;
}

int slack_intact(const struct guard_slot *s) {
    return all_slack((const unsigned char *)(uintptr_t)(s->user + s->size), (const unsigned char *)slack_end(s));
}

int poison_intact(const unsigned char *p, const unsigned char *end, int64_t slot) {
    if (all_slack(p, end)) return 1;
    const unsigned char *first = p, *last = end - 1;
    while (*first == SLACK_BYTE) first++;
    while (*last == SLACK_BYTE) last--;
    struct guard_error rec = {GUARD_ERROR_MAGIC, GUARD_WRITE_AFTER_FREE, 0, (uint64_t)(uintptr_t)p, slot,
                              (uint64_t)(first - p), (uint64_t)(last - first + 1)};
    report_record(&rec);
    return 0;
}

int check_poison(uint32_t id) {
    const struct guard_slot *s = &slots[id];
    return poison_intact((const unsigned char *)(uintptr_t)s->user, (const unsigned char *)slack_end(s), id);
}
