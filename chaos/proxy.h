/*  proxy -- one link of lh-chaos: a TCP listener whose connections are
    relayed to an upstream address through the link's toxics (toxic.h).

    Clients connect to the listen address instead of the upstream one; each
    accepted connection gets its own upstream connection, and bytes go
    each way through the toxics in force, which can change at any time.
    Nothing blocks: lh-chaos's loop polls every link's sockets together
    (proxy_poll_fill, then proxy_poll_handle), and wakes for the next
    delayed delivery (proxy_next_ms). A connection's queue is bounded: a
    slow or delayed direction stops reading, as a real network would.
*/
#ifndef LH_PROXY_H_INCLUDED
#define LH_PROXY_H_INCLUDED

#include "toxic.h"

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#define PROXY_CONNECTIONS_MAX 1024              //  connections of one link
#define PROXY_QUEUE_MAX       (4 * 1024 * 1024) //  bytes waiting in one direction

typedef struct _proxy_t proxy_t;

//  Listens on listen ("IPv4:PORT"; port 0 picks one) and relays to
//  upstream ("IPv4:PORT"). NULL with a message in err.
proxy_t *proxy_new (const char *name, const char *listen, const char *upstream, char *err,
                    size_t err_size);
void proxy_destroy (proxy_t **self_p);

const char *proxy_name (proxy_t *self);
//  The port it listens on (what port 0 became).
int proxy_port (proxy_t *self);

//  Adds toxic (replacing one of the same name); a reset toxic resets every
//  connection at once. 0, or -1 with a message in err (too many toxics).
int proxy_toxic_add (proxy_t *self, const toxic_t *toxic, char *err, size_t err_size);
//  Removes the toxic named name; false when there is none.
bool proxy_toxic_remove (proxy_t *self, const char *name);
void proxy_toxic_clear (proxy_t *self);

//  Appends this link's poll items to items (at most max); returns how
//  many. proxy_poll_handle takes the same items back after zmq_poll.
size_t proxy_poll_fill (proxy_t *self, zmq_pollitem_t *items, size_t max);
void proxy_poll_handle (proxy_t *self, const zmq_pollitem_t *items, size_t count);
//  Ms until a delayed delivery is due (0: now), -1 when none waits.
int proxy_next_ms (proxy_t *self);

//  {name, listen, upstream, connections, accepted, bytes_up, bytes_down,
//  dropped, resets, toxics: [{name, kind, direction, ms, jitter, rate,
//  bytes, delay}]}
void proxy_pack (proxy_t *self, msgpack_packer *pk);

#endif
