/*  hookd -- the agent machine's warm connection for lh-hook.

    `lh hook` pays for its libraries, a CURVE handshake and a new broker
    connection on every tool call. lh-hookd keeps one lh_client (the agent's
    key) connected, and lh-hook, which links no ZeroMQ at all, asks through
    it over a Unix socket: one connection per call, one request frame, one
    reply frame (hook/hook.h, "The socket"). Only peers with lh-hookd's own
    uid, or root, are served: the socket stands for the agent's key.
*/
#ifndef LH_HOOKD_H_INCLUDED
#define LH_HOOKD_H_INCLUDED

#include "codec.h"
#include "lh_client.h"

#include <stdint.h>
#include <sys/types.h>

typedef struct _hookd_t hookd_t;

typedef struct {
    const char *socket_path; //  created, mode 0600, in a directory only we may use
    int max_clients;         //  connections held at once; more wait in the backlog
    //  More users served besides our own and root (an agent's, when lh-hookd
    //  runs as a user of its own): the socket is then left open to all
    //  (0666, the directory searchable) and each peer's uid is checked
    const uid_t *allow_uids;
    size_t allow_count;
} hookd_config_t;

//  Listens at config->socket_path; client is owned by the caller and
//  outlives hookd. NULL after logging why.
hookd_t *hookd_new (const hookd_config_t *config, lh_client_t *client);
//  Stops listening and removes the socket file.
void hookd_destroy (hookd_t **self_p);
//  Serves until interrupted (zsys_interrupted). Returns 0.
int hookd_run (hookd_t *self);
//  Counters as a msgpack map into buf (for logs, metrics and lh status).
void hookd_counters (hookd_t *self, codec_buf_t *buf);
//  Called about once a second from hookd_run, with the counters.
typedef void (hookd_tick_fn) (hookd_t *self, void *arg);
void hookd_set_tick (hookd_t *self, hookd_tick_fn *tick, void *arg);

#endif
