/*  lh_client -- the agent side of liblighthouse.

    DEALERs to one or more brokers speaking 7/MDP client frames. Requests
    are pipelined: lh_client_send returns at once with the request id,
    replies come back through lh_client_recv in any order, matched by id.

    With several brokers (an endpoint list "tcp://a:5555,tcp://b:5555"), a
    new client pings them all and holds its first requests until one
    answers (at most half the failover time), then sends round robin over
    the brokers that are up. A broker that holds requests and has been
    silent for half the failover time is asked "broker.ping"; unanswered
    for the other half, it is down: its socket is opened anew and its
    requests are sent again (same id) through the others, so a dead, paused
    or cut-off broker stalls a request by about the failover time (default
    LH_CLIENT_FAILOVER_MS). A broker whose ping reply carries a new boot id
    restarted; what it held is sent again too. Down brokers are probed with
    backoff (up to 5 s) and used again once they answer.

    Each request also has a deadline; when it passes, the request is sent
    again (same id, through another broker when there is one) up to
    `retries` times, and then reported as a local LH_E_TIMEOUT reply: with
    every broker gone a caller fails closed within timeout x (retries + 1).
    With one broker nothing is pinged (there is nowhere to fail over to): a
    socket silent since the send is replaced before the resend (the Lazy
    Pirate pattern). Replies that arrive for requests no longer pending (the
    first answer wins) are counted and dropped.
*/
#ifndef LH_CLIENT_H_INCLUDED
#define LH_CLIENT_H_INCLUDED

#include <czmq.h>

#include "lh_export.h"
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "lh_connect.h"
#include "lh_proto.h"

typedef struct _lh_client_t lh_client_t;

//  Silence, in ms, after which a broker holding requests is given up for another.
#define LH_CLIENT_FAILOVER_MS 1000
typedef struct _lh_reply_t lh_reply_t;

//  Connects (asynchronously, as ZeroMQ does). NULL on bad arguments.
LH_EXPORT lh_client_t *lh_client_new (const lh_connect_t *conn);
LH_EXPORT void lh_client_destroy (lh_client_t **self_p);

//  Per-request deadline (default 3000 ms) and resends after it (default 2).
LH_EXPORT void lh_client_set_timeout (lh_client_t *self, int timeout_ms);
LH_EXPORT void lh_client_set_retries (lh_client_t *self, int retries);
//  Failover time (default LH_CLIENT_FAILOVER_MS), see above.
LH_EXPORT void lh_client_set_failover (lh_client_t *self, int failover_ms);

//  Sends body (a msgpack map without "id") to service; the library adds
//  the id and returns it in *id_p. Returns 0, or an lh_err_t with *why set
//  when the body is malformed or the socket refuses it.
LH_EXPORT int lh_client_send (lh_client_t *self, const char *service, const void *body, size_t size,
                              uint64_t *id_p, const char **why);

//  Next reply, waiting up to timeout_ms (-1: until one is due). NULL when
//  nothing arrived or expired in that time, or on interrupt.
LH_EXPORT lh_reply_t *lh_client_recv (lh_client_t *self, int timeout_ms);

//  Send and wait for this request's reply (always non-NULL unless
//  interrupted: failures come back as error replies).
LH_EXPORT lh_reply_t *lh_client_call (lh_client_t *self, const char *service, const void *body,
                                      size_t size);

LH_EXPORT size_t lh_client_pending (lh_client_t *self);
//  For event loops: one descriptor (an epoll set of every broker socket's
//  ZMQ_FD, stable for the client's life). Edge-triggered, as ZeroMQ's is:
//  whenever it is readable, after every send, and at least every
//  LH_CLIENT_FAILOVER_MS / 2 while requests are pending (probes and
//  deadlines run inside), read with lh_client_recv (self, 0) until NULL.
LH_EXPORT int lh_client_fd (lh_client_t *self);
//  Replies dropped because their request was no longer pending.
LH_EXPORT uint64_t lh_client_dropped (lh_client_t *self);
//  Times a broker socket was torn down and connected again.
LH_EXPORT uint64_t lh_client_reconnects (lh_client_t *self);
//  Times a broker was declared down and its requests sent elsewhere.
LH_EXPORT uint64_t lh_client_failovers (lh_client_t *self);
//  Brokers in the endpoint list, and how many are believed up.
LH_EXPORT size_t lh_client_brokers (lh_client_t *self);
LH_EXPORT size_t lh_client_brokers_up (lh_client_t *self);

LH_EXPORT uint64_t lh_reply_id (const lh_reply_t *self);
LH_EXPORT const char *lh_reply_service (const lh_reply_t *self);
LH_EXPORT bool lh_reply_ok (const lh_reply_t *self);
//  LH_OK on success; LH_E_INTERNAL when the server sent a code this
//  library does not know (the name is still in lh_reply_code_name).
LH_EXPORT lh_err_t lh_reply_code (const lh_reply_t *self);
LH_EXPORT const char *lh_reply_code_name (const lh_reply_t *self);
LH_EXPORT const char *lh_reply_message (const lh_reply_t *self);
//  Whole decoded reply map; NULL for replies made locally (timeouts).
LH_EXPORT const msgpack_object *lh_reply_root (const lh_reply_t *self);
//  Round trip from the last send of this request, microseconds.
LH_EXPORT int64_t lh_reply_rtt_us (const lh_reply_t *self);
LH_EXPORT void lh_reply_destroy (lh_reply_t **self_p);

#endif
