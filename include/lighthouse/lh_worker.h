/*  lh_worker -- the service side of liblighthouse.

    A DEALER to each broker's backend (the endpoint may be a comma-separated
    list) speaking 7/MDP worker frames. The worker announces a capacity
    (requests it may hold at once) in its READY to every broker; each
    broker never sends more than that, so with N brokers up to N x capacity
    may arrive at once. lh_worker_recv reads every broker fairly and hides
    heartbeats and reconnection: when a broker is silent for `liveness`
    heartbeats or says DISCONNECT, the worker opens a new socket to it and
    says READY again, while the other brokers go on being served. A reply
    goes back through the broker the request came from.

    Each request carries the caller the broker authenticated (agent id,
    role, public key). That frame is the truth; names inside bodies are not.
*/
#ifndef LH_WORKER_H_INCLUDED
#define LH_WORKER_H_INCLUDED

#include <czmq.h>

#include "lh_export.h"
#include <msgpack.h>

#include "lh_connect.h"
#include "lh_proto.h"

typedef struct _lh_worker_t lh_worker_t;
typedef struct _lh_request_t lh_request_t;

LH_EXPORT lh_worker_t *lh_worker_new (const lh_connect_t *conn, const char *service, int capacity);
LH_EXPORT void lh_worker_destroy (lh_worker_t **self_p);

//  MDP heartbeat interval (default 2500 ms) and liveness (default 3).
LH_EXPORT void lh_worker_set_heartbeat (lh_worker_t *self, int interval_ms, int liveness);

//  Next request, waiting up to timeout_ms (-1: forever). NULL on timeout
//  or interrupt. Malformed requests are answered with an error here and
//  never returned.
LH_EXPORT lh_request_t *lh_worker_recv (lh_worker_t *self, int timeout_ms);

//  Replies and destroys the request. body is a complete reply map (use
//  codec_pack_ok_head with lh_request_id). Returns 0 or -1.
LH_EXPORT int lh_worker_reply (lh_worker_t *self, lh_request_t **request_p, const void *body,
                               size_t size);
LH_EXPORT int lh_worker_reply_error (lh_worker_t *self, lh_request_t **request_p, lh_err_t code,
                                     const char *message);

//  Publishes body (a msgpack map) under topic on the broker's PUB socket.
//  The broker accepts topics equal to the service name or under it
//  ("validate.decisions"); anything else is a protocol error that costs the
//  worker its registration. Sent through one broker (the one heard from
//  last), since subscribers listen to every broker. Fire and forget:
//  returns 0 when queued, -1 when no broker is connected.
LH_EXPORT int lh_worker_publish (lh_worker_t *self, const char *topic, const void *body,
                                 size_t size);

//  For event loops: one descriptor for every broker socket (an epoll set of
//  their ZMQ_FDs, stable for the worker's life). Read with lh_worker_recv
//  (self, 0) until it returns NULL whenever it is readable, after every
//  send (ZMQ_FD is edge-triggered), and at least every heartbeat interval,
//  which is when lh_worker_recv sends heartbeats and notices a silent broker.
LH_EXPORT int lh_worker_fd (lh_worker_t *self);

//  Brokers in the endpoint list, and those heard from within liveness.
LH_EXPORT size_t lh_worker_brokers (lh_worker_t *self);
LH_EXPORT size_t lh_worker_brokers_connected (lh_worker_t *self);

//  Times the worker connected again (after silence or DISCONNECT).
LH_EXPORT uint64_t lh_worker_reconnects (lh_worker_t *self);
//  DISCONNECT commands received from the broker.
LH_EXPORT uint64_t lh_worker_disconnects (lh_worker_t *self);

//  The decoded request map and its parts.
LH_EXPORT const msgpack_object *lh_request_body (const lh_request_t *self);
LH_EXPORT const msgpack_object *lh_request_id (const lh_request_t *self);
LH_EXPORT const char *lh_request_agent (const lh_request_t *self);
LH_EXPORT const char *lh_request_role (const lh_request_t *self);
LH_EXPORT const char *lh_request_key (const lh_request_t *self);
//  Drops a request without answering (the broker will time it out).
LH_EXPORT void lh_request_destroy (lh_request_t **self_p);

#endif
