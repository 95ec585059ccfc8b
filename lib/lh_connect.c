/*  lh_connect -- broker connections. See lh_connect.h. */
#include "lh_connect.h"

#include "lh_proto.h"

#include <ctype.h>
#include <errno.h>

zlistx_t *
lh_connect_endpoints (const char *list)
{
    if (!list)
        return NULL;
    zlistx_t *endpoints = zlistx_new ();
    zlistx_set_destructor (endpoints, (zlistx_destructor_fn *) zstr_free);
    const char *at = list;
    while (true) {
        const char *end = strchr (at, ',');
        size_t len = end ? (size_t) (end - at) : strlen (at);
        while (len && isspace ((unsigned char) *at))
            at++, len--;
        while (len && isspace ((unsigned char) at[len - 1]))
            len--;
        if (len == 0 || zlistx_size (endpoints) == LH_MAX_BROKERS) {
            zlistx_destroy (&endpoints);
            return NULL;
        }
        zlistx_add_end (endpoints, strndup (at, len));
        if (!end)
            return endpoints;
        at = end + 1;
    }
}

zsock_t *
lh_connect_dealer (const lh_connect_t *conn)
{
    //  Three heartbeats must fit an int of milliseconds (czmq asserts otherwise)
    if (!conn || !conn->endpoint || (conn->server_key && !conn->cert) || conn->heartbeat_ms < 0 ||
        conn->heartbeat_ms > 3600 * 1000) {
        errno = EINVAL;
        return NULL;
    }
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (!sock)
        return NULL;
    zsock_set_linger (sock, 0);
    zsock_set_sndhwm (sock, 100000);
    zsock_set_rcvhwm (sock, 100000);
    //  Replies are bounded by the protocol; anything bigger is not ours
    zsock_set_maxmsgsize (sock, LH_MAX_BODY + 4096);
    //  ZMTP heartbeats notice a dead TCP peer that MDP alone would not
    int heartbeat = conn->heartbeat_ms > 0 ? conn->heartbeat_ms : LH_CLIENT_HEARTBEAT_MS;
    zsock_set_heartbeat_ivl (sock, heartbeat);
    zsock_set_heartbeat_timeout (sock, 3 * heartbeat);
    //  No ZMQ_HEARTBEAT_TTL: it would make the broker keep (and cancel, in
    //  time linear in all its timers) a timer per client; the broker finds
    //  dead clients by TCP keepalive and dead workers by its own heartbeats
    zsock_set_reconnect_ivl (sock, 100);
    zsock_set_reconnect_ivl_max (sock, 2000);
    if (conn->server_key) {
        zcert_apply (conn->cert, sock);
        zsock_set_curve_serverkey (sock, conn->server_key);
    }
    if (zsock_connect (sock, "%s", conn->endpoint) != 0) {
        zsock_destroy (&sock);
        errno = EINVAL;
        return NULL;
    }
    return sock;
}

zsock_t *
lh_connect_sub (const lh_connect_t *conn)
{
    zlistx_t *endpoints = conn ? lh_connect_endpoints (conn->endpoint) : NULL;
    if (!endpoints || (conn->server_key && !conn->cert)) {
        zlistx_destroy (&endpoints);
        errno = EINVAL;
        return NULL;
    }
    zsock_t *sub = zsock_new (ZMQ_SUB);
    if (sub && conn->server_key) {
        zcert_apply (conn->cert, sub);
        zsock_set_curve_serverkey (sub, conn->server_key);
    }
    for (const char *endpoint = (const char *) zlistx_first (endpoints); sub && endpoint;
         endpoint = (const char *) zlistx_next (endpoints))
        if (zsock_connect (sub, "%s", endpoint) != 0) {
            zsock_destroy (&sub);
            errno = EINVAL;
        }
    zlistx_destroy (&endpoints);
    return sub;
}

int
lh_connect_from_env (lh_connect_t *conn, zcert_t **cert_p, const char *fallback)
{
    *conn = (lh_connect_t){.endpoint = NULL};
    const char *endpoint = getenv ("LH_BROKER");
    conn->endpoint = endpoint && *endpoint ? endpoint : fallback;
    const char *key = getenv ("LH_BROKER_KEY");
    conn->server_key = key && *key ? key : NULL;
    conn->cert = NULL;
    *cert_p = NULL;
    const char *path = getenv ("LH_CERT");
    if (path && *path) {
        *cert_p = zcert_load (path);
        if (!*cert_p) {
            fprintf (stderr, "cannot load certificate '%s' (LH_CERT)\n", path);
            return -1;
        }
        conn->cert = *cert_p;
    }
    return 0;
}
