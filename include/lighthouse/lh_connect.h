/*  lh_connect -- how every Lighthouse peer connects to the broker.

    One place sets CURVE keys, ZMTP heartbeats and high-water marks, so the
    client and the worker side cannot drift apart.
*/
#ifndef LH_CONNECT_H_INCLUDED
#define LH_CONNECT_H_INCLUDED

#include <czmq.h>

#include "lh_export.h"

typedef struct {
    const char *endpoint;   //  broker endpoint(s), e.g. tcp://a:5555,tcp://b:5555
    const char *server_key; //  broker public key (Z85); NULL means plaintext
    zcert_t *cert;          //  our keypair (borrowed); required with server_key
    int heartbeat_ms;       //  ZMTP heartbeat interval; 0 means LH_CLIENT_HEARTBEAT_MS
} lh_connect_t;

//  Clients beat slowly: libzmq cancels a heartbeat timer per received
//  message in O(timers), so thousands of fast-beating peers would load the
//  broker's I/O thread quadratically. Workers (few) beat every 2 s.
#define LH_CLIENT_HEARTBEAT_MS 30000
#define LH_WORKER_HEARTBEAT_MS 2000

//  Brokers one client or worker may use at once.
#define LH_MAX_BROKERS 16

//  Splits a comma-separated list of broker endpoints into a new list of
//  strings (spaces around commas ignored). NULL when the list is empty,
//  holds an empty entry or more than LH_MAX_BROKERS.
LH_EXPORT zlistx_t *lh_connect_endpoints (const char *list);

//  A DEALER connected to one broker with the settings above, or NULL with
//  errno set (EINVAL when endpoint is missing, server_key is given without
//  cert, or heartbeat_ms is negative or over an hour).
LH_EXPORT zsock_t *lh_connect_dealer (const lh_connect_t *conn);

//  A SUB socket connected to every PUB endpoint in conn->endpoint (a comma
//  list: one per broker, since a notice goes out through one broker only),
//  with CURVE when server_key is set. The caller subscribes. NULL with
//  errno EINVAL on a bad list.
LH_EXPORT zsock_t *lh_connect_sub (const lh_connect_t *conn);

//  Fills every field of conn from the environment: LH_BROKER (or fallback endpoint),
//  LH_BROKER_KEY, LH_CERT (path of a zcert secret file, loaded into
//  *cert_p, which the caller destroys). Returns 0, or -1 with a message on
//  stderr when LH_CERT cannot be loaded.
LH_EXPORT int lh_connect_from_env (lh_connect_t *conn, zcert_t **cert_p, const char *fallback);

#endif
