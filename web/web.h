/*  web -- lh-web, the console: an HTTP server (libmicrohttpd) in one thread
    with the broker clients and the PUB feed, in one poll loop.

    A page's request that needs the cluster is sent to the broker without
    waiting: its HTTP connection is suspended until every reply has come
    (or the client library's own deadline made one), then resumed with the
    answer. Live pages hold a server-sent event stream each (feed.h).
    Nothing is kept beyond sessions (session.h) and the feed's recent past.

    Security (docs/CONSOLE.md): bound to loopback unless told otherwise;
    the Host header must name this server (no DNS rebinding); every /api/
    path but login wants a session cookie; every POST wants JSON, a
    same-origin Origin when one is sent, and the session's CSRF token;
    every response carries a strict Content-Security-Policy; static files
    come from one directory, by names without slashes or leading dots.
*/
#ifndef LH_WEB_WEB_H_INCLUDED
#define LH_WEB_WEB_H_INCLUDED

#include "lh_connect.h"
#include "lh_metrics.h"

#include <msgpack.h>

#include <czmq.h>
#include <stdbool.h>

typedef struct _web_t web_t;

typedef struct {
    const char *listen;      //  IPV4:PORT (port 0: any)
    const char *static_dir;  //  the pages (web/static)
    const char *drills_dir;  //  drill reports shown on the cluster page; NULL: none
    const char *keys_path;   //  the replicas' verifier keys, for the page's own check
    const char *tokens_path; //  reviewer tokens (session.h)
    const char *allow_hosts; //  more Host values, comma-separated (a TLS proxy's name)
    const char *pub;         //  brokers' PUB endpoints, comma-separated
    lh_connect_t conn;       //  brokers' frontends, broker key, lh-web's own (admin) key
    bool secure_cookie;      //  behind TLS: cookies marked Secure
    int idle_ms, max_age_ms, max_sessions;
    int stream_rate;     //  decisions a second to one live page
    int max_connections; //  HTTP connections at once
    int call_timeout_ms; //  one broker request, before its one resend
    int watch_ms;        //  decisions followed this long after a page last asked
} web_config_t;

//  Binds and connects; NULL with a message in err.
web_t *web_new (const web_config_t *config, char *err, size_t err_size);
void web_destroy (web_t **self_p);
//  Publishes the counters there once a second (borrowed; NULL: none).
void web_set_metrics (web_t *self, lh_metrics_t *metrics);
//  The counters as a msgpack map (what /metrics and /api/stats show).
void web_counters_pack (web_t *self, msgpack_packer *pk);
//  The port bound.
int web_port (web_t *self);
//  Serves until zsys_interrupted; then ends streams and answers what is
//  pending. Returns 0.
int web_run (web_t *self);

#endif
