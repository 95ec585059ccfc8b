/*  toxic -- what lh-chaos does to the bytes of a link. See toxic.h. */
#include "toxic.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const toxic_t *s_find (const toxic_t *toxics, size_t count, toxic_kind_t kind,
                              toxic_dir_t dir);

static const char *s_kinds[] = {"latency", "bandwidth", "slicer", "blackhole", "limit", "reset"};

const char *
toxic_kind_name (toxic_kind_t kind)
{
    return s_kinds[kind];
}

const char *
toxic_dir_name (toxic_dir_t dir)
{
    return dir == TOXIC_UP ? "up" : dir == TOXIC_DOWN ? "down" : "both";
}

//  A non-negative integer at most max; -1 when text is anything else
static int64_t
s_number (const char *text, int64_t max)
{
    char *end = NULL;
    errno = 0;
    long long value = strtoll (text, &end, 10);
    if (!*text || *end || errno || value < 0 || value > max)
        return -1;
    return value;
}

int
toxic_parse (toxic_t *toxic, const char *name, int argc, char **argv, char *err, size_t err_size)
{
    memset (toxic, 0, sizeof (*toxic));
    size_t len = strlen (name);
    if (len == 0 || len > TOXIC_NAME_MAX ||
        strspn (name, "abcdefghijklmnopqrstuvwxyz"
                      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != len) {
        snprintf (err, err_size, "a toxic's name is 1 to %d of [A-Za-z0-9_.-]", TOXIC_NAME_MAX);
        return -1;
    }
    memcpy (toxic->name, name, len + 1);
    if (argc < 2) {
        snprintf (err, err_size, "a toxic is KIND DIRECTION [key=value ...]");
        return -1;
    }
    size_t kinds = sizeof (s_kinds) / sizeof (s_kinds[0]);
    size_t k = 0;
    while (k < kinds && strcmp (argv[0], s_kinds[k]) != 0)
        k++;
    if (k == kinds) {
        snprintf (err, err_size,
                  "unknown toxic '%.32s': latency, bandwidth, slicer, blackhole, limit or reset",
                  argv[0]);
        return -1;
    }
    toxic->kind = (toxic_kind_t) k;
    if (strcmp (argv[1], "up") == 0)
        toxic->dir = TOXIC_UP;
    else if (strcmp (argv[1], "down") == 0)
        toxic->dir = TOXIC_DOWN;
    else if (strcmp (argv[1], "both") == 0)
        toxic->dir = TOXIC_BOTH;
    else {
        snprintf (err, err_size, "a direction is up, down or both");
        return -1;
    }
    //  Ten minutes of delay, 1 GB/s, 1 GiB: far beyond any drill
    static const struct {
        const char *key;
        size_t offset;
        int64_t max;
    } keys[] = {
        {"ms", offsetof (toxic_t, ms), 600000},
        {"jitter", offsetof (toxic_t, jitter), 600000},
        {"rate", offsetof (toxic_t, rate), 1000000000},
        {"bytes", offsetof (toxic_t, bytes), 1LL << 30},
        {"delay", offsetof (toxic_t, delay), 600000},
    };
    for (int i = 2; i < argc; i++) {
        const char *eq = strchr (argv[i], '=');
        size_t j = 0, nkeys = sizeof (keys) / sizeof (keys[0]);
        while (eq && j < nkeys &&
               (strlen (keys[j].key) != (size_t) (eq - argv[i]) ||
                strncmp (argv[i], keys[j].key, (size_t) (eq - argv[i])) != 0))
            j++;
        int64_t value = eq && j < nkeys ? s_number (eq + 1, keys[j].max) : -1;
        if (value < 0) {
            snprintf (err, err_size, "bad parameter '%.40s': ms, jitter, rate, bytes or delay=N",
                      argv[i]);
            return -1;
        }
        *(int64_t *) ((char *) toxic + keys[j].offset) = value;
    }
    if (toxic->kind == TOXIC_BANDWIDTH && toxic->rate < 1) {
        snprintf (err, err_size, "bandwidth needs rate=BYTES_PER_SECOND (at least 1)");
        return -1;
    }
    if (toxic->kind == TOXIC_SLICER && toxic->bytes < 1) {
        snprintf (err, err_size, "slicer needs bytes=N (at least 1)");
        return -1;
    }
    if (toxic->kind == TOXIC_LATENCY && toxic->jitter > toxic->ms) {
        snprintf (err, err_size, "latency's jitter may not exceed its ms");
        return -1;
    }
    if (toxic->kind == TOXIC_RESET)
        toxic->dir = TOXIC_BOTH; //  a reset ends both ways at once
    return 0;
}

size_t
toxic_read_max (const toxic_t *toxics, size_t count, toxic_dir_t dir, size_t dflt, size_t max)
{
    size_t most = dflt;
    const toxic_t *slicer = s_find (toxics, count, TOXIC_SLICER, dir);
    if (slicer && (size_t) slicer->bytes * max < most)
        most = (size_t) slicer->bytes * max;
    const toxic_t *bandwidth = s_find (toxics, count, TOXIC_BANDWIDTH, dir);
    if (bandwidth && (size_t) (bandwidth->rate / 10) < most)
        most = bandwidth->rate >= 10 ? (size_t) (bandwidth->rate / 10) : 1;
    return most;
}

bool
toxic_resets (const toxic_t *toxics, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (toxics[i].kind == TOXIC_RESET)
            return true;
    return false;
}

static uint32_t
s_random (toxic_state_t *state)
{
    uint32_t x = state->rng ? state->rng : 2463534242u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    state->rng = x;
    return x;
}

//  The first toxic of kind acting on dir, or NULL
static const toxic_t *
s_find (const toxic_t *toxics, size_t count, toxic_kind_t kind, toxic_dir_t dir)
{
    for (size_t i = 0; i < count; i++)
        if (toxics[i].kind == kind && (toxics[i].dir & dir))
            return &toxics[i];
    return NULL;
}

size_t
toxic_plan (const toxic_t *toxics, size_t count, toxic_dir_t dir, toxic_state_t *state, int64_t now,
            size_t len, toxic_chunk_t *out, size_t max, bool *close_after)
{
    *close_after = false;
    if (len == 0 || max == 0)
        return 0;
    if (s_find (toxics, count, TOXIC_BLACKHOLE, dir)) {
        state->dropped += len;
        return 0;
    }
    const toxic_t *limit = s_find (toxics, count, TOXIC_LIMIT, dir);
    if (limit) {
        uint64_t left =
            state->passed < (uint64_t) limit->bytes ? (uint64_t) limit->bytes - state->passed : 0;
        if (len >= left) {
            len = (size_t) left;
            *close_after = true;
        }
    }
    state->passed += len;
    if (len == 0)
        return 0;
    //  Pieces: one, or the slicer's, the last taking what max leaves
    const toxic_t *slicer = s_find (toxics, count, TOXIC_SLICER, dir);
    size_t piece = slicer ? (size_t) slicer->bytes : len;
    size_t n = 0;
    for (size_t offset = 0; offset < len; n++) {
        size_t size = n + 1 == max || len - offset < piece ? len - offset : piece;
        out[n] = (toxic_chunk_t){offset, size, now + (slicer ? (int64_t) n * slicer->delay : 0)};
        offset += size;
    }
    const toxic_t *latency = s_find (toxics, count, TOXIC_LATENCY, dir);
    const toxic_t *bandwidth = s_find (toxics, count, TOXIC_BANDWIDTH, dir);
    for (size_t i = 0; i < n; i++) {
        int64_t at = out[i].at;
        if (latency) {
            int64_t jitter =
                latency->jitter
                    ? (int64_t) (s_random (state) % (uint32_t) (2 * latency->jitter + 1)) -
                          latency->jitter
                    : 0;
            at += latency->ms + jitter;
        }
        //  Bytes never overtake each other
        if (at < state->last_at)
            at = state->last_at;
        if (bandwidth) {
            if (at < state->free_at)
                at = state->free_at;
            state->free_at = at + (int64_t) (out[i].size * 1000 / (uint64_t) bandwidth->rate);
        }
        out[i].at = at;
        state->last_at = at;
    }
    return n;
}
