/*  spool -- the validator's decisions on their way to the integrity log.

    Each decision notice becomes a "validation.decision" event appended
    through the broker to the "events" service. Events wait in memory and go
    in batches (EVENT_MAX_BATCH events, or SPOOL_DELAY_MS after the first
    one), several requests in flight. A request that fails is sent again,
    same events and client ids, after a backoff (100 ms doubling to 5 s;
    while backing off one request probes the log at a time), so the log
    appends each event once however often it is resent. Nothing here
    blocks: the validator's loop calls spool_poll between requests.

    The spool holds at most max_events; decisions beyond that are counted
    as dropped and reported in a warning at most once a second. The log
    refusing a batch as malformed (bad_request, too_large, unsupported) is
    an error logged with the count, not a retry loop.
*/
#ifndef LH_SPOOL_H_INCLUDED
#define LH_SPOOL_H_INCLUDED

#include "lh_connect.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPOOL_DELAY_MS    20 //  the longest an event waits for companions
#define SPOOL_INFLIGHT    4  //  append requests in flight while the log answers
#define SPOOL_TIMEOUT_MS  6000
#define SPOOL_BACKOFF_MS  100
#define SPOOL_BACKOFF_MAX 5000

typedef struct _spool_t spool_t;

//  Events, except queued (a level, not a total)
typedef struct {
    uint64_t queued;     //  in the spool now: not yet acknowledged by the log
    uint64_t sent;       //  sent in append requests, resends included
    uint64_t acked;      //  acknowledged (appended, or already there)
    uint64_t duplicates; //  acknowledged as already appended (a resend that had landed)
    uint64_t retries;    //  resent after a failed or unanswered request
    uint64_t dropped;    //  not queued because the spool was full
    uint64_t rejected;   //  refused by the log as malformed, given up
} spool_counters_t;

//  A client of the broker's frontend (conn is copied; conn->cert is
//  borrowed and must outlive the spool). NULL on bad arguments.
spool_t *spool_new (const lh_connect_t *conn, size_t max_events);
void spool_destroy (spool_t **self_p);

//  Queues the decision notice (a packed msgpack map) about agent. Returns
//  false when the spool is full and the decision was dropped.
bool spool_add (spool_t *self, const char *agent, const void *notice, size_t size);

//  Sends what is due and takes the replies that arrived; never blocks.
void spool_poll (spool_t *self);

//  Ms until spool_poll has work (0: now), or -1 when only a new decision
//  can give it some.
int spool_next_ms (spool_t *self);

//  Sends everything at once and waits up to timeout_ms for the log to
//  acknowledge it (cut short by an interrupt). Returns the events left.
size_t spool_flush (spool_t *self, int timeout_ms);

const spool_counters_t *spool_counters (spool_t *self);

#endif
