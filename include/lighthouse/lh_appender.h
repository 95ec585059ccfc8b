/*  lh_appender -- events to the integrity log, batched, exactly once.

    One appender owns one lh_client. Events added are packed into append
    requests of up to `max_events` (1 to 256) and sent when a batch is full,
    when the oldest queued event has waited `linger_ms`, or on flush; at most
    `max_inflight` requests are out at once, the rest wait in order. Every
    event carries a client id (the caller's, or 32 random hex digits), so a
    resend cannot append it twice (docs/EVENTS.md 2.4): a request that fails
    for want of a leader (`unavailable`, `overloaded`, a timeout) is sent
    again with the same ids, with backoff, until `deadline_ms` after the
    event was added; then the event is reported failed, and whether it was
    appended is unknown (resend it with the same client id to find out).

    Each added event gets a ticket (1, 2, 3... in the order added) and, once
    answered, an acknowledgement with its ticket: the log's seq (and whether
    it was a duplicate), or an error. Acknowledgements of one batch come in
    ticket order; batches may complete out of order.

    For event loops, lh_appender_fd is a descriptor that becomes readable
    when replies may be waiting (edge-triggered, as lh_client_fd), and
    lh_appender_timeout_ms says how long a poll may sleep before
    lh_appender_next must be called for the appender's own timers. One
    thread can so drive many appenders and other sockets.
*/
#ifndef LH_APPENDER_H_INCLUDED
#define LH_APPENDER_H_INCLUDED

#include "lh_client.h"
#include "lh_export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _lh_appender_t lh_appender_t;

typedef struct {
    uint64_t ticket;   //  from lh_appender_add
    bool ok;           //  appended (or found appended before)
    uint64_t seq;      //  its position in the log, when ok
    bool duplicate;    //  this client id was appended before: seq is that event's
    lh_err_t code;     //  when not ok
    char message[128]; //  when not ok
} lh_ack_t;

//  Connects as lh_client_new does. NULL on bad arguments.
LH_EXPORT lh_appender_t *lh_appender_new (const lh_connect_t *conn);
//  Events not yet acknowledged are dropped (flush and drain first).
LH_EXPORT void lh_appender_destroy (lh_appender_t **self_p);

//  Batching: events per request (1..256, default 64), how long the first
//  event of a batch may wait for others (ms, 0 sends at once; default 2),
//  requests in flight (default 8), and how long an event may take in all,
//  resends included (ms, default 10000).
LH_EXPORT void lh_appender_set_batch (lh_appender_t *self, int max_events, int linger_ms);
LH_EXPORT void lh_appender_set_inflight (lh_appender_t *self, int max_inflight);
LH_EXPORT void lh_appender_set_deadline (lh_appender_t *self, int deadline_ms);

//  Queues one event: type (docs/EVENTS.md 2.1), data (a packed msgpack map
//  of at most 262,144 bytes), client_id (1..64 printable ASCII without
//  spaces, or NULL for a random one). Returns its ticket, or 0 with why
//  when the event is refused here (nothing is queued).
LH_EXPORT uint64_t lh_appender_add (lh_appender_t *self, const char *type, const void *data,
                                    size_t size, const char *client_id, const char **why);
//  Sends every queued event now (within the in-flight bound; the rest go as
//  room frees).
LH_EXPORT void lh_appender_flush (lh_appender_t *self);

//  The next acknowledgement into *ack: waits up to timeout_ms (0: only what
//  is ready; -1: until one comes or nothing is outstanding), sending what
//  batching and resends say is due. False when none came.
LH_EXPORT bool lh_appender_next (lh_appender_t *self, int timeout_ms, lh_ack_t *ack);

//  Events added and not yet acknowledged.
LH_EXPORT size_t lh_appender_outstanding (lh_appender_t *self);
//  For event loops: see above.
LH_EXPORT int lh_appender_fd (lh_appender_t *self);
LH_EXPORT int lh_appender_timeout_ms (lh_appender_t *self);
//  Requests sent again (after unavailable, overloaded or a timeout).
LH_EXPORT uint64_t lh_appender_resends (lh_appender_t *self);

#endif
