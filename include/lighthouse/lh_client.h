/*  lh_client -- the agent side of liblighthouse.

    A DEALER to the broker speaking 7/MDP client frames. Requests are
    pipelined: lh_client_send returns at once with the request id, replies
    come back through lh_client_recv in any order, matched by id. Each
    request has a deadline; when it passes, the request is sent again (same
    id, so servers can deduplicate) up to `retries` times, reconnecting the
    socket first when the broker has been silent (the Lazy Pirate pattern),
    and then reported as a local LH_E_TIMEOUT reply. Replies that arrive for
    requests no longer pending are counted and dropped.
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
typedef struct _lh_reply_t lh_reply_t;

//  Connects (asynchronously, as ZeroMQ does). NULL on bad arguments.
LH_EXPORT lh_client_t *lh_client_new (const lh_connect_t *conn);
LH_EXPORT void lh_client_destroy (lh_client_t **self_p);

//  Per-request deadline (default 3000 ms) and resends after it (default 2).
LH_EXPORT void lh_client_set_timeout (lh_client_t *self, int timeout_ms);
LH_EXPORT void lh_client_set_retries (lh_client_t *self, int retries);

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
//  For event loops: the socket's ZMQ_FD (it changes when the client
//  reconnects). Edge-triggered, as ZeroMQ's is: whenever it is readable,
//  after every send, and by the earliest deadline, read with
//  lh_client_recv (self, 0) until it returns NULL.
LH_EXPORT int lh_client_fd (lh_client_t *self);
//  Replies dropped because their request was no longer pending.
LH_EXPORT uint64_t lh_client_dropped (lh_client_t *self);
//  Times the socket was torn down and connected again.
LH_EXPORT uint64_t lh_client_reconnects (lh_client_t *self);

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
