/*  toxic -- what lh-chaos does to the bytes of one direction of a link.

    A toxic is named, applies to one direction (up: client to upstream,
    down: upstream to client) or both, and is one of:

      latency   ms=L jitter=J   each read is delivered L +- J ms later, in order
      bandwidth rate=B          at most B bytes a second
      slicer    bytes=S delay=D reads cut into S-byte pieces, D ms apart
      blackhole                 bytes are read and dropped; the connection stays open
      limit     bytes=N         after N bytes the connection is closed
      reset     (both ways)     connections are reset (RST) at once and on accept

    Whatever order they were added in, a direction's toxics act in this
    order: blackhole, limit, slicer, latency, bandwidth. toxic_plan is the
    whole of their arithmetic, without sockets, so that it can be tested.
*/
#ifndef LH_TOXIC_H_INCLUDED
#define LH_TOXIC_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOXIC_NAME_MAX 31
#define TOXIC_MAX      16 //  toxics on one link

typedef enum {
    TOXIC_LATENCY,
    TOXIC_BANDWIDTH,
    TOXIC_SLICER,
    TOXIC_BLACKHOLE,
    TOXIC_LIMIT,
    TOXIC_RESET,
} toxic_kind_t;

typedef enum { TOXIC_UP = 1, TOXIC_DOWN = 2, TOXIC_BOTH = 3 } toxic_dir_t;

typedef struct {
    char name[TOXIC_NAME_MAX + 1];
    toxic_kind_t kind;
    toxic_dir_t dir;
    int64_t ms, jitter, rate, bytes, delay;
} toxic_t;

//  A direction's running state: what its toxics remember between reads
typedef struct {
    uint64_t passed;  //  bytes let through (limit)
    int64_t last_at;  //  latest delivery time planned (order is kept)
    int64_t free_at;  //  when the bandwidth is free again
    uint64_t dropped; //  bytes a blackhole swallowed
    uint32_t rng;     //  jitter's xorshift state, never 0
} toxic_state_t;

//  One piece of a read, to be written at `at` (ms, the caller's clock)
typedef struct {
    size_t offset, size;
    int64_t at;
} toxic_chunk_t;

//  Parses "KIND DIR [key=value ...]" words (argv style) into toxic, named
//  name. 0, or -1 with a message in err.
int toxic_parse (toxic_t *toxic, const char *name, int argc, char **argv, char *err,
                 size_t err_size);

//  Plans the delivery of len bytes read at now in direction dir: at most
//  max chunks into out; returns how many (0 when everything was dropped).
//  *close_after is set when the connection must close once they are written.
size_t toxic_plan (const toxic_t *toxics, size_t count, toxic_dir_t dir, toxic_state_t *state,
                   int64_t now, size_t len, toxic_chunk_t *out, size_t max, bool *close_after);

//  How much to read at once in direction dir, at most dflt: a slicer's
//  pieces must fit in max chunks, and a bandwidth is paced in tenths of a
//  second rather than in whole reads.
size_t toxic_read_max (const toxic_t *toxics, size_t count, toxic_dir_t dir, size_t dflt,
                       size_t max);

//  True when one of toxics resets connections.
bool toxic_resets (const toxic_t *toxics, size_t count);

const char *toxic_kind_name (toxic_kind_t kind);
const char *toxic_dir_name (toxic_dir_t dir);

#endif
