/*  broker -- lh-broker. See broker.h and docs/PROTOCOL.md. */
#include "broker.h"

#include "auth.h"
#include "codec.h"
#include "lh_config.h"
#include "lh_connect.h"
#include "lh_dispatch.h"
#include "lh_idhash.h"
#include "lh_log.h"
#include "lh_node.h"
#include "lh_proto.h"
#include "ratelimit.h"

#include <errno.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

//  Frames up to this size are read and answered with too_large; past it
//  (ZMQ_MAXMSGSIZE, which counts the encrypted frame under CURVE) libzmq
//  drops the connection, so one peer cannot make us buffer more.
#define HARD_MAX_MSG (2 * LH_MAX_BODY + 4096)
#define TICK_MS      100
//  Bytes in a subscription message; a longer one drops its connection
#define PUB_MAX_PREFIX 4096

typedef struct {
    const char *call;
    const char *serve;
    double rate;  //  requests per second, 0 = unlimited
    double burst; //  bucket size
} role_rules_t;

//  Built-in role rules; the config's role/<name>/* override them.
static const role_rules_t s_default_rules[ROLE_COUNT] = {
    [ROLE_AGENT] = {"validate events events.read cache echo mmi.* broker.ping", "", 500, 1000},
    [ROLE_EXPERT] = {"validate events.read cache expert echo mmi.* broker.ping", "expert.*", 500,
                     1000},
    [ROLE_NODE] = {"*", "validate cache expert events events.read echo", 0, 0},
    [ROLE_ADMIN] = {"*", "", 0, 0},
};

typedef struct {
    char agent[LH_MAX_AGENT + 1];
    role_t role;
    char key[41];
} caller_t;

typedef struct _service_t service_t;
typedef struct _worker_t worker_t;

typedef struct {
    uint64_t token; //  our handle, sent to the worker instead of the client address
    zframe_t *client;
    zframe_t *caller; //  packed caller_t, handed to the worker
    zframe_t *body;
    service_t *service;
    worker_t *worker; //  set while in flight
    void *handle;     //  in service->queue or worker->inflight
    int64_t deadline; //  ms, monotonic
    int attempts;
} request_t;

struct _service_t {
    char name[LH_MAX_SERVICE + 1];
    zlistx_t *waiting; //  worker_t with free capacity, least recently used first
    zlistx_t *queue;   //  request_t waiting for a worker (owned)
    size_t workers;
    int64_t timeout_ms;
    size_t queue_max;
    uint64_t requests;
    uint64_t replies;
    uint64_t failures;
};

struct _worker_t {
    char id[2 * 255 + 1]; //  hex of the routing id; key in self->workers
    zframe_t *identity;
    service_t *service;
    caller_t principal;
    int capacity;
    zlistx_t *inflight; //  request_t (owned)
    void *waiting_handle;
    int64_t expiry;
    uint64_t served;
};

typedef struct {
    uint64_t requests;
    uint64_t replies;
    uint64_t malformed;
    uint64_t too_large;
    uint64_t unknown_service;
    uint64_t forbidden;
    uint64_t rate_limited;
    uint64_t overloaded;
    uint64_t unavailable; //  expired in a queue
    uint64_t timeouts;    //  expired at a worker
    uint64_t worker_lost;
    uint64_t retries;
    uint64_t late_replies; //  replies for requests already answered or expired
    uint64_t forged_replies;
    uint64_t drops_frontend; //  sends refused: peer gone or its queue full
    uint64_t drops_backend;
    uint64_t drops_pub;
    uint64_t workers_ready;
    uint64_t workers_refused;
    uint64_t workers_expired;
    uint64_t workers_unreachable;
    uint64_t workers_revoked;
    uint64_t workers_disconnected;
    uint64_t protocol_errors; //  bad worker commands
    uint64_t published;       //  notifications re-published for workers and admins
    uint64_t subscriptions;   //  PUB subscriptions accepted
    uint64_t subscriptions_refused;
    uint64_t pub_malformed; //  messages on PUB that are not (un)subscriptions
    uint64_t pub_reopened;  //  PUB socket closed and bound again to revoke subscriptions
} counters_t;

//  What a key was allowed to subscribe to, for revocation after a roster
//  reload: the principal it had at its first granted subscription, and
//  whether later grants came under another principal.
typedef struct {
    char agent[LH_MAX_AGENT + 1];
    role_t role;
    bool mixed;
} grant_t;

struct _broker_t {
    zconfig_t *config;
    zsock_t *frontend;
    zsock_t *backend;
    zsock_t *pub;    //  XPUB in CURVE mode (subscriptions checked), PUB in plaintext
    bool pub_reopen; //  the PUB socket is closed and waits to be bound again
    int pub_reopen_attempts;
    //  A non-subscription message was read since the XPUB's queue was last
    //  empty: the connection libzmq applies ZMQ_SUBSCRIBE to is unknown
    bool pub_misaligned;
    zhashx_t *grants; //  Z85 key -> grant_t, keys granted a subscription
    zloop_t *loop;
    auth_t *auth;
    zcert_t *cert;
    bool plaintext;
    role_t plaintext_role;
    role_rules_t rules[ROLE_COUNT];
    ratelimit_t *limits;
    zhashx_t *services; //  name -> service_t
    zhashx_t *workers;  //  id -> worker_t
    zhashx_t *tokens;   //  token -> request_t in flight (not owned)
    uint64_t next_token;
    int64_t timeout_ms;
    size_t queue_max;
    int max_retries;
    int heartbeat_ms;
    int liveness;
    int64_t heartbeat_at;
    int64_t started_ms;
    uint64_t boot; //  random per start: clients see a restart in broker.ping
    char name[LH_MAX_AGENT + 1];
    char label[LH_MAX_AGENT * 2 + 16]; //  broker="name", on every metric
    char endpoints[3][256];
    lh_metrics_t *metrics; //  NULL without --metrics
    int64_t metrics_at;
    counters_t n;
};

//  --------------------------------------------------------------------------
//  Sending: every send is non-blocking; a refusal is counted, never waited on.

typedef struct {
    const void *data;
    size_t size;
} part_t;

static int
s_sendv (zsock_t *sock, const part_t *parts, size_t count, uint64_t *drops)
{
    if (!sock) {
        //  The PUB socket while it is being bound again (s_pub_reopen)
        (*drops)++;
        return -1;
    }
    void *handle = zsock_resolve (sock);
    for (size_t i = 0; i < count; i++) {
        int flags = (i + 1 < count ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT;
        if (zmq_send (handle, parts[i].data, parts[i].size, flags) == -1) {
            //  Only the routing frame can fail: ROUTER_MANDATORY checks it first
            (*drops)++;
            return -1;
        }
    }
    return 0;
}

#define FRAME_PART(f)                                                                              \
    (part_t)                                                                                       \
    {                                                                                              \
        zframe_data (f), zframe_size (f)                                                           \
    }
#define STR_PART(s)                                                                                \
    (part_t)                                                                                       \
    {                                                                                              \
        (s), strlen (s)                                                                            \
    }

static int
s_send_client (broker_t *self, zframe_t *client, const char *service, const void *body, size_t size)
{
    part_t parts[] = {
        FRAME_PART (client), {"", 0}, STR_PART (MDPC_CLIENT), STR_PART (service), {body, size}};
    return s_sendv (self->frontend, parts, 5, &self->n.drops_frontend);
}

static int
s_send_worker (broker_t *self, zframe_t *identity, char command, const part_t *extra,
               size_t extra_count)
{
    part_t parts[8] = {FRAME_PART (identity), {"", 0}, STR_PART (MDPW_WORKER), {&command, 1}};
    for (size_t i = 0; i < extra_count && i < 4; i++)
        parts[4 + i] = extra[i];
    return s_sendv (self->backend, parts, 4 + extra_count, &self->n.drops_backend);
}

//  Error reply to a client; the request id is read back from the body when
//  the body is readable, so the client can match it.
static void
s_client_error (broker_t *self, zframe_t *client, const char *service, zframe_t *body,
                lh_err_t code, const char *message)
{
    codec_doc_t *doc =
        body ? codec_doc_decode (zframe_data (body), zframe_size (body), NULL, NULL) : NULL;
    const msgpack_object *id = doc ? codec_map_get (codec_doc_root (doc), "id") : NULL;
    codec_buf_t buf;
    codec_buf_init (&buf);
    codec_pack_error (&buf.pk, id, code, message);
    s_send_client (self, client, service, buf.sbuf.data, buf.sbuf.size);
    codec_buf_destroy (&buf);
    codec_doc_destroy (&doc);
}

//  Notification on the PUB socket: [topic, msgpack map of string pairs].
static void
s_publish (broker_t *self, const char *topic, size_t pairs, ...)
{
    codec_buf_t buf;
    codec_buf_init (&buf);
    msgpack_pack_map (&buf.pk, pairs + 1);
    codec_pack_kv_i64 (&buf.pk, "time_ms", zclock_time ());
    va_list args;
    va_start (args, pairs);
    for (size_t i = 0; i < pairs; i++) {
        codec_pack_str (&buf.pk, va_arg (args, const char *));
        codec_pack_str (&buf.pk, va_arg (args, const char *));
    }
    va_end (args);
    part_t parts[] = {STR_PART (topic), {buf.sbuf.data, buf.sbuf.size}};
    s_sendv (self->pub, parts, 2, &self->n.drops_pub);
    codec_buf_destroy (&buf);
}

//  --------------------------------------------------------------------------
//  Services, workers and requests

static bool
s_service_internal (const char *name)
{
    return strncmp (name, "mmi.", 4) == 0 || strncmp (name, "broker.", 7) == 0;
}

static void
s_request_destroy (request_t **self_p)
{
    if (self_p && *self_p) {
        request_t *self = *self_p;
        zframe_destroy (&self->client);
        zframe_destroy (&self->caller);
        zframe_destroy (&self->body);
        free (self);
        *self_p = NULL;
    }
}

static void
s_request_destructor (void **item)
{
    s_request_destroy ((request_t **) item);
}

static void
s_service_destructor (void **item)
{
    service_t *service = (service_t *) *item;
    if (service) {
        zlistx_destroy (&service->waiting);
        zlistx_destroy (&service->queue);
        free (service);
        *item = NULL;
    }
}

static void
s_worker_destructor (void **item)
{
    worker_t *worker = (worker_t *) *item;
    if (worker) {
        zframe_destroy (&worker->identity);
        zlistx_destroy (&worker->inflight);
        free (worker);
        *item = NULL;
    }
}

static void
s_grant_destructor (void **item)
{
    free (*item);
    *item = NULL;
}

static service_t *
s_service_require (broker_t *self, const char *name)
{
    service_t *service = (service_t *) zhashx_lookup (self->services, name);
    if (service)
        return service;
    service = (service_t *) zmalloc (sizeof (service_t));
    snprintf (service->name, sizeof (service->name), "%s", name);
    service->waiting = zlistx_new ();
    service->queue = zlistx_new ();
    zlistx_set_destructor (service->queue, s_request_destructor);
    char path[128];
    snprintf (path, sizeof (path), "service/%s/timeout", name);
    service->timeout_ms = lh_config_int (self->config, path, self->timeout_ms);
    snprintf (path, sizeof (path), "service/%s/queue_max", name);
    service->queue_max = (size_t) lh_config_int (self->config, path, (long) self->queue_max);
    zhashx_insert (self->services, name, service);
    return service;
}

//  Fails a request: error to its client, then destroys it.
static void
s_request_fail (broker_t *self, request_t **request_p, lh_err_t code, const char *message)
{
    request_t *request = *request_p;
    request->service->failures++;
    s_client_error (self, request->client, request->service->name, request->body, code, message);
    s_request_destroy (request_p);
}

static void s_worker_delete (broker_t *self, worker_t *worker, const char *reason);

static void
s_worker_mark_waiting (worker_t *worker)
{
    bool has_room = (int) zlistx_size (worker->inflight) < worker->capacity;
    if (has_room && !worker->waiting_handle)
        worker->waiting_handle = zlistx_add_end (worker->service->waiting, worker);
    else if (!has_room && worker->waiting_handle) {
        zlistx_delete (worker->service->waiting, worker->waiting_handle);
        worker->waiting_handle = NULL;
    }
}

//  Hands queued requests to workers with room, least recently used first.
static void
s_dispatch (broker_t *self, service_t *service)
{
    while (zlistx_size (service->queue) > 0 && zlistx_size (service->waiting) > 0) {
        worker_t *worker = (worker_t *) zlistx_first (service->waiting);
        request_t *request = (request_t *) zlistx_first (service->queue);
        uint8_t token[8];
        for (int i = 0; i < 8; i++)
            token[i] = (uint8_t) (request->token >> (8 * i));
        part_t extra[] = {
            {token, 8}, {"", 0}, FRAME_PART (request->caller), FRAME_PART (request->body)};
        if (s_send_worker (self, worker->identity, MDPW_REQUEST, extra, 4) != 0) {
            //  The worker is gone or choked: forget it, its requests go back in the queue
            self->n.workers_unreachable++;
            s_worker_delete (self, worker,
                             errno == EHOSTUNREACH ? "connection lost" : "send queue full");
            continue;
        }
        zlistx_detach (service->queue, request->handle);
        request->worker = worker;
        request->attempts++;
        request->handle = zlistx_add_end (worker->inflight, request);
        zhashx_insert (self->tokens, LH_IDKEY (request->token), request);
        //  Round robin among workers with room: move the worker to the back
        zlistx_move_end (service->waiting, worker->waiting_handle);
        s_worker_mark_waiting (worker);
    }
}

//  Removes a worker; its in-flight requests are retried on another worker
//  while retries and time remain, and failed otherwise.
static void
s_worker_delete (broker_t *self, worker_t *worker, const char *reason)
{
    service_t *service = worker->service;
    int64_t now = zclock_mono ();
    request_t *request;
    //  From the newest back, each to the queue's head: the queue keeps arrival order
    while ((request = (request_t *) zlistx_last (worker->inflight))) {
        zlistx_detach_cur (worker->inflight);
        zhashx_delete (self->tokens, LH_IDKEY (request->token));
        request->worker = NULL;
        if (request->attempts <= self->max_retries && request->deadline > now) {
            self->n.retries++;
            request->handle = zlistx_add_start (service->queue, request);
        } else {
            self->n.worker_lost++;
            s_request_fail (self, &request, LH_E_WORKER_LOST,
                            "the worker holding this request died");
        }
    }
    if (worker->waiting_handle)
        zlistx_delete (service->waiting, worker->waiting_handle);
    service->workers--;
    lh_info ("worker removed", "service=%s worker=%s agent=%s reason=%s", service->name, worker->id,
             worker->principal.agent, reason);
    s_publish (self, "broker.worker", 4, "event", "gone", "service", service->name, "worker",
               worker->id, "reason", reason);
    zhashx_delete (self->workers, worker->id);
    s_dispatch (self, service);
}

//  Workers to remove in one sweep are named by id, not held by pointer:
//  removing one re-dispatches its requests, and a send that fails there
//  removes another worker at once, which a later step must not touch again
//  (two workers lost in the same tick crashed the broker).
static zlistx_t *
s_worker_ids_new (void)
{
    zlistx_t *ids = zlistx_new ();
    zlistx_set_duplicator (ids, (zlistx_duplicator_fn *) strdup);
    zlistx_set_destructor (ids, (zlistx_destructor_fn *) zstr_free);
    return ids;
}

static void
s_workers_delete (broker_t *self, zlistx_t *ids, const char *reason, uint64_t *counter)
{
    for (const char *id = (const char *) zlistx_first (ids); id;
         id = (const char *) zlistx_next (ids)) {
        worker_t *worker = (worker_t *) zhashx_lookup (self->workers, id);
        if (worker) {
            (*counter)++;
            s_worker_delete (self, worker, reason);
        }
    }
}

//  --------------------------------------------------------------------------
//  Who sent a message: ZAP metadata, or the plaintext principal

static bool
s_caller (broker_t *self, zframe_t *frame, caller_t *caller)
{
    if (self->plaintext) {
        snprintf (caller->agent, sizeof (caller->agent), "anonymous");
        caller->role = self->plaintext_role;
        caller->key[0] = 0;
        return true;
    }
    //  The key is what the handshake proved; agent and role come from the
    //  roster as it is now, so a reload revokes or changes open connections too
    const char *key = zframe_meta (frame, "Lh-Key");
    const auth_principal_t *principal = key ? auth_lookup (self->auth, key) : NULL;
    if (!principal)
        return false;
    snprintf (caller->agent, sizeof (caller->agent), "%s", principal->agent);
    snprintf (caller->key, sizeof (caller->key), "%s", key);
    caller->role = principal->role;
    return true;
}

static zframe_t *
s_caller_frame (const caller_t *caller)
{
    codec_buf_t buf;
    codec_buf_init (&buf);
    msgpack_pack_map (&buf.pk, 3);
    codec_pack_kv_str (&buf.pk, "key", caller->key);
    codec_pack_kv_str (&buf.pk, "agent", caller->agent);
    codec_pack_kv_str (&buf.pk, "role", role_name (caller->role));
    zframe_t *frame = zframe_new (buf.sbuf.data, buf.sbuf.size);
    codec_buf_destroy (&buf);
    return frame;
}

//  --------------------------------------------------------------------------
//  Internal services: mmi.* (8/MMI) and broker.*

static size_t
s_service_inflight (service_t *service, broker_t *self)
{
    size_t inflight = 0;
    for (worker_t *w = (worker_t *) zhashx_first (self->workers); w;
         w = (worker_t *) zhashx_next (self->workers))
        if (w->service == service)
            inflight += zlistx_size (w->inflight);
    return inflight;
}

static void
s_pack_counters (broker_t *self, msgpack_packer *pk)
{
    const counters_t *n = &self->n;
    const struct {
        const char *name;
        uint64_t value;
    } counters[] = {
        {"requests", n->requests},
        {"replies", n->replies},
        {"malformed", n->malformed},
        {"too_large", n->too_large},
        {"unknown_service", n->unknown_service},
        {"forbidden", n->forbidden},
        {"rate_limited", n->rate_limited},
        {"overloaded", n->overloaded},
        {"unavailable", n->unavailable},
        {"timeouts", n->timeouts},
        {"worker_lost", n->worker_lost},
        {"retries", n->retries},
        {"late_replies", n->late_replies},
        {"forged_replies", n->forged_replies},
        {"drops_frontend", n->drops_frontend},
        {"drops_backend", n->drops_backend},
        {"drops_pub", n->drops_pub},
        {"workers_ready", n->workers_ready},
        {"workers_refused", n->workers_refused},
        {"workers_expired", n->workers_expired},
        {"workers_unreachable", n->workers_unreachable},
        {"workers_revoked", n->workers_revoked},
        {"workers_disconnected", n->workers_disconnected},
        {"protocol_errors", n->protocol_errors},
        {"published", n->published},
        {"subscriptions", n->subscriptions},
        {"subscriptions_refused", n->subscriptions_refused},
        {"pub_malformed", n->pub_malformed},
        {"pub_reopened", n->pub_reopened},
        {"auth_accepted", self->auth ? auth_accepted (self->auth) : 0},
        {"auth_denied", self->auth ? auth_denied (self->auth) : 0},
        {"inflight", zhashx_size (self->tokens)},
    };
    size_t count = sizeof (counters) / sizeof (counters[0]);
    msgpack_pack_map (pk, count);
    for (size_t i = 0; i < count; i++)
        codec_pack_kv_u64 (pk, counters[i].name, counters[i].value);
}

static void
s_pack_service (broker_t *self, msgpack_packer *pk, service_t *service)
{
    msgpack_pack_map (pk, 8);
    codec_pack_kv_str (pk, "name", service->name);
    codec_pack_kv_u64 (pk, "workers", service->workers);
    codec_pack_kv_u64 (pk, "idle", zlistx_size (service->waiting));
    codec_pack_kv_u64 (pk, "queued", zlistx_size (service->queue));
    codec_pack_kv_u64 (pk, "inflight", s_service_inflight (service, self));
    codec_pack_kv_u64 (pk, "requests", service->requests);
    codec_pack_kv_u64 (pk, "replies", service->replies);
    codec_pack_kv_u64 (pk, "failures", service->failures);
}

static void
s_pack_worker (msgpack_packer *pk, worker_t *worker, int64_t now)
{
    msgpack_pack_map (pk, 8);
    codec_pack_kv_str (pk, "id", worker->id);
    codec_pack_kv_str (pk, "service", worker->service->name);
    codec_pack_kv_str (pk, "agent", worker->principal.agent);
    codec_pack_kv_str (pk, "role", role_name (worker->principal.role));
    codec_pack_kv_u64 (pk, "capacity", (uint64_t) worker->capacity);
    codec_pack_kv_u64 (pk, "inflight", zlistx_size (worker->inflight));
    codec_pack_kv_u64 (pk, "served", worker->served);
    codec_pack_kv_i64 (pk, "expires_in_ms", worker->expiry - now);
}

//  The broker's counters, and each service's, for Prometheus
static void
s_metrics_publish (broker_t *self)
{
    codec_buf_t counters;
    codec_buf_init (&counters);
    s_pack_counters (self, &counters.pk);
    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    msgpack_unpack_next (&u, counters.sbuf.data, counters.sbuf.size, NULL);
    lh_metrics_text_t *text = lh_metrics_text_new ();
    static const char *gauges[] = {"inflight", NULL};
    lh_metrics_text_map (text, "lighthouse_broker", &u.data, gauges, self->label);
    lh_metrics_text_add (text, "lighthouse_broker_workers", "gauge", "workers registered",
                         self->label, (double) zhashx_size (self->workers));
    for (service_t *s = (service_t *) zhashx_first (self->services); s;
         s = (service_t *) zhashx_next (self->services)) {
        char name[LH_MAX_SERVICE * 2 + 1], labels[sizeof (self->label) + LH_MAX_SERVICE * 2 + 16];
        lh_metrics_label (s->name, name, sizeof (name));
        snprintf (labels, sizeof (labels), "%s,service=\"%s\"", self->label, name);
        lh_metrics_text_add (text, "lighthouse_service_workers", "gauge", "workers of the service",
                             labels, (double) s->workers);
        lh_metrics_text_add (text, "lighthouse_service_idle_workers", "gauge", "workers with room",
                             labels, (double) zlistx_size (s->waiting));
        lh_metrics_text_add (text, "lighthouse_service_queued", "gauge", "requests waiting", labels,
                             (double) zlistx_size (s->queue));
        lh_metrics_text_add (text, "lighthouse_service_inflight", "gauge", "requests at workers",
                             labels, (double) s_service_inflight (s, self));
        lh_metrics_text_add (text, "lighthouse_service_requests_total", "counter",
                             "requests accepted into the queue", labels, (double) s->requests);
        lh_metrics_text_add (text, "lighthouse_service_replies_total", "counter",
                             "replies from workers", labels, (double) s->replies);
        lh_metrics_text_add (text, "lighthouse_service_failures_total", "counter",
                             "requests answered with an error", labels, (double) s->failures);
    }
    size_t size;
    const char *data = lh_metrics_text_data (text, &size);
    lh_metrics_publish (self->metrics, data, size);
    lh_metrics_text_destroy (&text);
    msgpack_unpacked_destroy (&u);
    codec_buf_destroy (&counters);
}

//  Internal services: one handler each, answering into pk. Arguments
//  were checked by the entry's check.
typedef void internal_fn (broker_t *self, const msgpack_object *body, const msgpack_object *id,
                          msgpack_packer *pk);
//  LH_OK, or an error with why
typedef lh_err_t internal_check_fn (const msgpack_object *body, char *why, size_t why_size);

static lh_err_t
s_check_name (const msgpack_object *body, char *why, size_t why_size)
{
    const char *name;
    size_t len;
    return codec_get_str (body, "name", true, LH_MAX_SERVICE, &name, &len, why, why_size);
}

//  The service named by a checked body's "name"
static service_t *
s_named_service (broker_t *self, const msgpack_object *body, char *key, size_t key_size)
{
    const msgpack_object *name = codec_map_get (body, "name");
    snprintf (key, key_size, "%.*s", (int) name->via.str.size, name->via.str.ptr);
    return (service_t *) zhashx_lookup (self->services, key);
}

static void
s_mmi_service (broker_t *self, const msgpack_object *body, const msgpack_object *id,
               msgpack_packer *pk)
{
    char key[LH_MAX_SERVICE + 1];
    service_t *found = s_named_service (self, body, key, sizeof (key));
    codec_pack_ok_head (pk, id, 3);
    codec_pack_kv_str (pk, "name", key);
    codec_pack_kv_bool (pk, "found", found && found->workers > 0);
    codec_pack_kv_u64 (pk, "workers", found ? found->workers : 0);
}

static void
s_mmi_workers (broker_t *self, const msgpack_object *body, const msgpack_object *id,
               msgpack_packer *pk)
{
    char key[LH_MAX_SERVICE + 1];
    service_t *found = s_named_service (self, body, key, sizeof (key));
    int64_t now = zclock_mono ();
    size_t count = 0;
    for (worker_t *w = (worker_t *) zhashx_first (self->workers); w;
         w = (worker_t *) zhashx_next (self->workers))
        count += w->service == found;
    codec_pack_ok_head (pk, id, 2);
    codec_pack_kv_str (pk, "name", key);
    codec_pack_str (pk, "workers");
    msgpack_pack_array (pk, count);
    for (worker_t *w = (worker_t *) zhashx_first (self->workers); w;
         w = (worker_t *) zhashx_next (self->workers))
        if (w->service == found)
            s_pack_worker (pk, w, now);
}

static void
s_mmi_services (broker_t *self, const msgpack_object *body, const msgpack_object *id,
                msgpack_packer *pk)
{
    (void) body;
    codec_pack_ok_head (pk, id, 1);
    codec_pack_str (pk, "services");
    msgpack_pack_array (pk, zhashx_size (self->services));
    for (service_t *s = (service_t *) zhashx_first (self->services); s;
         s = (service_t *) zhashx_next (self->services)) {
        msgpack_pack_map (pk, 2);
        codec_pack_kv_str (pk, "name", s->name);
        codec_pack_kv_u64 (pk, "workers", s->workers);
    }
}

static lh_err_t
s_check_announce (const msgpack_object *body, char *why, size_t why_size)
{
    const char *topic = NULL;
    size_t topic_len = 0;
    const msgpack_object *data = NULL;
    lh_err_t rc =
        codec_get_str (body, "topic", true, LH_MAX_TOPIC, &topic, &topic_len, why, why_size);
    if (rc == LH_OK)
        rc = codec_get_map (body, "data", true, &data, why, why_size);
    if (rc == LH_OK && (topic_len < 9 || memcmp (topic, "control.", 8) != 0)) {
        rc = LH_E_BAD_REQUEST;
        snprintf (why, why_size, "announcements go to topics under 'control.'");
    }
    return rc;
}

//  An operator's notice to every subscriber: topics under "control."
static void
s_broker_announce (broker_t *self, const msgpack_object *body, const msgpack_object *id,
                   msgpack_packer *pk)
{
    const msgpack_object *topic = codec_map_get (body, "topic");
    codec_buf_t buf;
    codec_buf_init (&buf);
    msgpack_pack_object (&buf.pk, *codec_map_get (body, "data"));
    part_t parts[] = {{topic->via.str.ptr, topic->via.str.size}, {buf.sbuf.data, buf.sbuf.size}};
    bool sent = s_sendv (self->pub, parts, 2, &self->n.drops_pub) == 0;
    codec_buf_destroy (&buf);
    if (sent)
        self->n.published++;
    codec_pack_ok_head (pk, id, 1);
    codec_pack_kv_bool (pk, "published", sent);
}

static void
s_broker_ping (broker_t *self, const msgpack_object *body, const msgpack_object *id,
               msgpack_packer *pk)
{
    (void) body;
    codec_pack_ok_head (pk, id, 3);
    codec_pack_kv_i64 (pk, "time_ms", zclock_time ());
    codec_pack_kv_str (pk, "broker", self->name);
    codec_pack_kv_u64 (pk, "boot", self->boot);
}

static void
s_broker_stats (broker_t *self, const msgpack_object *body, const msgpack_object *id,
                msgpack_packer *pk)
{
    (void) body;
    int64_t now = zclock_mono ();
    codec_pack_ok_head (pk, id, 4);
    codec_pack_str (pk, "broker");
    msgpack_pack_map (pk, 11);
    codec_pack_kv_str (pk, "name", self->name);
    codec_pack_kv_u64 (pk, "boot", self->boot);
    codec_pack_kv_str (pk, "version", "lighthouse " LH_VERSION);
    codec_pack_kv_u64 (pk, "protocol", LH_PROTO_VERSION);
    codec_pack_kv_u64 (pk, "pid", (uint64_t) getpid ());
    codec_pack_kv_u64 (pk, "uptime_ms", (uint64_t) (now - self->started_ms));
    codec_pack_kv_str (pk, "frontend", self->endpoints[0]);
    codec_pack_kv_str (pk, "backend", self->endpoints[1]);
    codec_pack_kv_str (pk, "pub", self->endpoints[2]);
    codec_pack_kv_str (pk, "security", self->plaintext ? "plaintext" : "curve");
    codec_pack_kv_u64 (pk, "roster", self->auth ? auth_size (self->auth) : 0);
    codec_pack_str (pk, "counters");
    s_pack_counters (self, pk);
    codec_pack_str (pk, "services");
    msgpack_pack_array (pk, zhashx_size (self->services));
    for (service_t *s = (service_t *) zhashx_first (self->services); s;
         s = (service_t *) zhashx_next (self->services))
        s_pack_service (self, pk, s);
    codec_pack_str (pk, "workers");
    msgpack_pack_array (pk, zhashx_size (self->workers));
    for (worker_t *w = (worker_t *) zhashx_first (self->workers); w;
         w = (worker_t *) zhashx_next (self->workers))
        s_pack_worker (pk, w, now);
}

typedef LH_DISPATCH_ENTRY (internal_fn *, internal_check_fn *) internal_t;

//  The roles here hold whatever role/<name>/call grants: the broker's
//  counters and announcements are for nodes and admins only. Plaintext
//  mode has no roles, so it checks none.
static const internal_t s_internals[] = {
    {"mmi.service", s_mmi_service, LH_ROLES_ANY, s_check_name, "is a service served: {name}"},
    {"mmi.workers", s_mmi_workers, LH_ROLES_ANY, s_check_name, "a service's workers: {name}"},
    {"mmi.services", s_mmi_services, LH_ROLES_ANY, NULL, "every known service"},
    {"broker.ping", s_broker_ping, LH_ROLES_ANY, NULL, "a round trip"},
    {"broker.stats", s_broker_stats, LH_ROLE_NODE | LH_ROLE_ADMIN, NULL,
     "counters, services and workers (lh status)"},
    {"broker.announce", s_broker_announce, LH_ROLE_NODE | LH_ROLE_ADMIN, s_check_announce,
     "publish {topic: control.*, data} to every subscriber"},
    {NULL, NULL, 0, NULL, NULL},
};

//  Answers a request for an internal service into pk.
static void
s_internal (broker_t *self, const char *service, const caller_t *caller, const msgpack_object *body,
            msgpack_packer *pk)
{
    const msgpack_object *id = codec_map_get (body, "id");
    const internal_t *entry = (const internal_t *) lh_dispatch_find (
        s_internals, sizeof (*s_internals), service, SIZE_MAX);
    char why[128];
    lh_err_t rc;
    if (!entry) {
        self->n.unknown_service++;
        codec_pack_error (pk, id, LH_E_UNKNOWN_SERVICE, "no such internal service");
    } else if (!self->plaintext && !lh_dispatch_allows (entry->roles, role_name (caller->role))) {
        self->n.forbidden++;
        codec_pack_error (pk, id, LH_E_FORBIDDEN, "your role may not call this service");
    } else if (entry->check && (rc = entry->check (body, why, sizeof (why))) != LH_OK)
        codec_pack_error (pk, id, rc, why);
    else
        entry->handler (self, body, id, pk);
}

//  8/MMI: a body that is not a msgpack map is a bare service name; answer
//  "200" or "404" as the guide's clients expect.
static bool
s_mmi_classic (broker_t *self, zframe_t *client, const char *service, zframe_t *body)
{
    if (!streq (service, "mmi.service") || zframe_size (body) == 0 ||
        (zframe_data (body)[0] & 0xF0) == 0x80 || zframe_data (body)[0] == 0xDE ||
        zframe_data (body)[0] == 0xDF)
        return false;
    char name[LH_MAX_SERVICE + 1];
    const char *answer = "404";
    if (zframe_size (body) <= LH_MAX_SERVICE) {
        memcpy (name, zframe_data (body), zframe_size (body));
        name[zframe_size (body)] = 0;
        service_t *found = (service_t *) zhashx_lookup (self->services, name);
        answer = found && found->workers > 0 ? "200" : "404";
    }
    if (s_send_client (self, client, service, answer, 3) == 0)
        self->n.replies++;
    return true;
}

//  --------------------------------------------------------------------------
//  Frontend: [client, "", MDPC01, service, body]

static bool
s_may (const char *patterns, const char *service)
{
    return patterns && auth_pattern_match (patterns, service);
}

static void
s_client_message (broker_t *self, zmsg_t *msg)
{
    zframe_t *client = zmsg_pop (msg);
    zframe_t *empty = zmsg_pop (msg);
    zframe_t *header = zmsg_pop (msg);
    zframe_t *service_frame = zmsg_pop (msg);
    zframe_t *body = zmsg_pop (msg);
    char service[LH_MAX_SERVICE + 1] = "";
    caller_t caller;
    self->n.requests++;

    if (zmsg_size (msg) > LH_MAX_FRAMES - 5) {
        self->n.malformed++;
        s_client_error (self, client, "", NULL, LH_E_BAD_REQUEST, "too many frames");
        goto done;
    }
    if (!body || zmsg_size (msg) > 0 || zframe_size (empty) != 0 ||
        !zframe_streq (header, MDPC_CLIENT)) {
        self->n.malformed++;
        s_client_error (self, client, "", NULL, LH_E_BAD_REQUEST,
                        "expected frames: empty, \"MDPC01\", service, one body");
        goto done;
    }
    if (!codec_name_valid ((const char *) zframe_data (service_frame), zframe_size (service_frame),
                           LH_MAX_SERVICE)) {
        self->n.malformed++;
        s_client_error (self, client, "", body, LH_E_BAD_REQUEST,
                        "service name must be 1-64 of [A-Za-z0-9._-]");
        goto done;
    }
    memcpy (service, zframe_data (service_frame), zframe_size (service_frame));
    service[zframe_size (service_frame)] = 0;

    if (!s_caller (self, body, &caller)) {
        self->n.forbidden++;
        s_client_error (self, client, service, body, LH_E_FORBIDDEN,
                        "unauthenticated, or the key was removed from the roster");
        goto done;
    }
    const role_rules_t *rules = &self->rules[caller.role];
    if (!ratelimit_take (self->limits, caller.agent, rules->rate, rules->burst, zclock_usecs ())) {
        self->n.rate_limited++;
        s_client_error (self, client, service, body, LH_E_RATE_LIMITED,
                        "request rate limit exceeded");
        goto done;
    }
    if (!self->plaintext && !s_may (rules->call, service)) {
        self->n.forbidden++;
        lh_warn ("call refused", "agent=%s role=%s service=%s", caller.agent,
                 role_name (caller.role), service);
        s_client_error (self, client, service, body, LH_E_FORBIDDEN,
                        "your role may not call this service");
        goto done;
    }
    if (s_mmi_classic (self, client, service, body))
        goto done;
    const char *why;
    lh_err_t rc = codec_check_request (zframe_data (body), zframe_size (body), &why);
    if (rc != LH_OK) {
        if (rc == LH_E_TOO_LARGE)
            self->n.too_large++;
        else
            self->n.malformed++;
        s_client_error (self, client, service, NULL, rc, why);
        goto done;
    }
    if (s_service_internal (service)) {
        codec_doc_t *doc = codec_doc_decode (zframe_data (body), zframe_size (body), &rc, &why);
        codec_buf_t buf;
        codec_buf_init (&buf);
        if (doc)
            s_internal (self, service, &caller, codec_doc_root (doc), &buf.pk);
        else
            codec_pack_error (&buf.pk, NULL, rc, why);
        if (s_send_client (self, client, service, buf.sbuf.data, buf.sbuf.size) == 0)
            self->n.replies++;
        codec_buf_destroy (&buf);
        codec_doc_destroy (&doc);
        goto done;
    }
    //  Known services: configured ones and those a worker has served
    service_t *target = (service_t *) zhashx_lookup (self->services, service);
    if (!target) {
        self->n.unknown_service++;
        s_client_error (self, client, service, body, LH_E_UNKNOWN_SERVICE, "no such service");
        goto done;
    }
    //  Workers with room mean an empty queue: only a request that must wait can overflow it
    if (zlistx_size (target->waiting) == 0 && zlistx_size (target->queue) >= target->queue_max) {
        self->n.overloaded++;
        target->failures++;
        s_client_error (self, client, service, body, LH_E_OVERLOADED, "service queue is full");
        goto done;
    }
    request_t *request = (request_t *) zmalloc (sizeof (request_t));
    request->token = ++self->next_token;
    request->client = client;
    request->caller = s_caller_frame (&caller);
    request->body = body;
    request->service = target;
    request->deadline = zclock_mono () + target->timeout_ms;
    request->handle = zlistx_add_end (target->queue, request);
    target->requests++;
    client = NULL;
    body = NULL;
    s_dispatch (self, target);

done:
    zframe_destroy (&client);
    zframe_destroy (&empty);
    zframe_destroy (&header);
    zframe_destroy (&service_frame);
    zframe_destroy (&body);
}

typedef void (message_fn) (broker_t *self, zmsg_t *msg);

//  Handles what is waiting on a socket, in a bounded batch so that one busy
//  socket cannot starve the other. A message with too many frames is never
//  parsed: handle gets it with the frame count checked by the caller.
//  The next message if one is waiting, else NULL. Not zsock_events before
//  each zmsg_recv: asking for ZMQ_EVENTS makes libzmq look at its command
//  mailbox, two system calls a message (getpid and poll), most of the
//  broker's cost under load; a receive that finds a message does not.
static zmsg_t *
s_recv_nowait (zsock_t *reader)
{
    void *handle = zsock_resolve (reader);
    zmq_msg_t part;
    zmq_msg_init (&part);
    if (zmq_msg_recv (&part, handle, ZMQ_DONTWAIT) == -1) {
        zmq_msg_close (&part);
        return NULL;
    }
    //  The first part (an identity, a few bytes) is copied; the rest are
    //  received into frames as zmsg_recv would, without a copy: the parts of
    //  a message arrive together, so they are there
    zmsg_t *msg = zmsg_new ();
    zframe_t *frame = zframe_new (zmq_msg_data (&part), zmq_msg_size (&part));
    bool more = zmq_msg_more (&part);
    zmq_msg_close (&part);
    zmsg_append (msg, &frame);
    while (more && (frame = zframe_recv (reader))) {
        more = zframe_more (frame);
        zmsg_append (msg, &frame);
    }
    return msg;
}

static void
s_drain (broker_t *self, zsock_t *reader, message_fn *handle)
{
    for (int i = 0; i < 256; i++) {
        zmsg_t *msg = s_recv_nowait (reader);
        if (!msg)
            break;
        handle (self, msg);
        zmsg_destroy (&msg);
    }
}

static int
s_frontend_ready (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    s_drain ((broker_t *) arg, reader, s_client_message);
    return 0;
}

//  --------------------------------------------------------------------------
//  Backend: [worker, "", MDPW01, command, ...]

static void
s_worker_id (zframe_t *identity, char *id, size_t size)
{
    size_t len = zframe_size (identity);
    if (len * 2 + 1 > size)
        len = (size - 1) / 2;
    for (size_t i = 0; i < len; i++)
        snprintf (id + 2 * i, 3, "%02x", zframe_data (identity)[i]);
    id[2 * len] = 0;
}

static void
s_worker_disconnect (broker_t *self, zframe_t *identity)
{
    s_send_worker (self, identity, MDPW_DISCONNECT, NULL, 0);
}

static void
s_worker_ready (broker_t *self, zframe_t *identity, const char *id, zmsg_t *msg)
{
    zframe_t *service_frame = zmsg_pop (msg);
    zframe_t *options = zmsg_pop (msg);
    caller_t principal;
    char service[LH_MAX_SERVICE + 1] = "";
    const char *refusal = NULL;
    if (!service_frame || zmsg_size (msg) > 0 ||
        !codec_name_valid ((const char *) zframe_data (service_frame), zframe_size (service_frame),
                           LH_MAX_SERVICE))
        refusal = "malformed READY";
    else {
        memcpy (service, zframe_data (service_frame), zframe_size (service_frame));
        service[zframe_size (service_frame)] = 0;
        if (!s_caller (self, service_frame, &principal))
            refusal = "unauthenticated";
        else if (s_service_internal (service) ||
                 (!self->plaintext && !s_may (self->rules[principal.role].serve, service)))
            refusal = "role may not serve this service";
    }
    int64_t capacity = 1;
    if (!refusal && options) {
        char why[128];
        codec_doc_t *doc =
            codec_doc_decode (zframe_data (options), zframe_size (options), NULL, NULL);
        if (!doc || codec_get_int (codec_doc_root (doc), "capacity", false, 1, LH_MAX_CAPACITY,
                                   &capacity, why, sizeof (why)) != LH_OK)
            refusal = "malformed READY options";
        codec_doc_destroy (&doc);
    }
    if (refusal) {
        self->n.workers_refused++;
        lh_warn ("worker refused", "worker=%s service=%s reason=\"%s\"", id,
                 service[0] ? service : "-", refusal);
        s_worker_disconnect (self, identity);
    } else {
        worker_t *worker = (worker_t *) zmalloc (sizeof (worker_t));
        snprintf (worker->id, sizeof (worker->id), "%s", id);
        worker->identity = zframe_dup (identity);
        worker->service = s_service_require (self, service);
        worker->principal = principal;
        worker->capacity = (int) capacity;
        worker->inflight = zlistx_new ();
        zlistx_set_destructor (worker->inflight, s_request_destructor);
        worker->expiry = zclock_mono () + (int64_t) self->heartbeat_ms * self->liveness;
        zhashx_insert (self->workers, id, worker);
        worker->service->workers++;
        self->n.workers_ready++;
        s_worker_mark_waiting (worker);
        lh_info ("worker ready", "service=%s worker=%s agent=%s capacity=%d", service, id,
                 principal.agent, worker->capacity);
        s_publish (self, "broker.worker", 3, "event", "ready", "service", service, "worker", id);
        s_dispatch (self, worker->service);
    }
    zframe_destroy (&service_frame);
    zframe_destroy (&options);
}

//  Returns -1 when the REPLY is malformed (a protocol error).
static int
s_worker_reply (broker_t *self, worker_t *worker, zmsg_t *msg)
{
    zframe_t *token_frame = zmsg_pop (msg);
    zframe_t *empty = zmsg_pop (msg);
    zframe_t *body = zmsg_pop (msg);
    int rc = 0;
    if (!body || zmsg_size (msg) > 0 || zframe_size (token_frame) != 8 ||
        zframe_size (empty) != 0) {
        rc = -1;
        goto done;
    }
    uint64_t token = 0;
    for (int i = 7; i >= 0; i--)
        token = (token << 8) | zframe_data (token_frame)[i];
    request_t *request = (request_t *) zhashx_lookup (self->tokens, LH_IDKEY (token));
    if (!request) {
        self->n.late_replies++;
        goto done;
    }
    if (request->worker != worker) {
        self->n.forged_replies++;
        lh_warn ("reply for another worker's request dropped", "worker=%s", worker->id);
        goto done;
    }
    zhashx_delete (self->tokens, LH_IDKEY (token));
    zlistx_detach (worker->inflight, request->handle);
    worker->served++;
    service_t *service = worker->service;
    if (zframe_size (body) > LH_MAX_BODY) {
        self->n.too_large++;
        s_request_fail (self, &request, LH_E_INTERNAL, "the worker's reply was too large");
    } else {
        if (s_send_client (self, request->client, service->name, zframe_data (body),
                           zframe_size (body)) == 0) {
            self->n.replies++;
            service->replies++;
        }
        s_request_destroy (&request);
    }
    s_worker_mark_waiting (worker);
    s_dispatch (self, service);
done:
    zframe_destroy (&token_frame);
    zframe_destroy (&empty);
    zframe_destroy (&body);
    return rc;
}

//  A worker's topic: its service name, or that name followed by a dot and
//  more, optionally addressed to one agent as "@<agent id>/" in front.
static bool
s_topic_allowed (const char *service, const uint8_t *topic, size_t size)
{
    if (size > LH_MAX_TOPIC)
        return false;
    if (size > 0 && topic[0] == '@') {
        const uint8_t *slash = (const uint8_t *) memchr (topic + 1, '/', size - 1);
        size_t agent_len = slash ? (size_t) (slash - topic - 1) : 0;
        if (!slash || !codec_name_valid ((const char *) topic + 1, agent_len, LH_MAX_AGENT))
            return false;
        topic = slash + 1;
        size -= agent_len + 2;
    }
    size_t name_len = strlen (service);
    return size >= name_len && memcmp (topic, service, name_len) == 0 &&
           (size == name_len || topic[name_len] == '.');
}

//  PUBLISH [topic, body]: a worker's notification, re-published on PUB when
//  the topic is in its service's namespace. Returns -1 on a protocol error.
static int
s_worker_publish (broker_t *self, worker_t *worker, zmsg_t *msg)
{
    zframe_t *topic = zmsg_pop (msg);
    zframe_t *body = zmsg_pop (msg);
    int rc = -1;
    const char *why;
    if (body && zmsg_size (msg) == 0 &&
        s_topic_allowed (worker->service->name, zframe_data (topic), zframe_size (topic)) &&
        codec_check (zframe_data (body), zframe_size (body), NULL, &why) == LH_OK) {
        part_t parts[] = {FRAME_PART (topic), FRAME_PART (body)};
        if (s_sendv (self->pub, parts, 2, &self->n.drops_pub) == 0)
            self->n.published++;
        rc = 0;
    }
    zframe_destroy (&topic);
    zframe_destroy (&body);
    return rc;
}

static void
s_worker_message (broker_t *self, zmsg_t *msg)
{
    zframe_t *identity = zmsg_pop (msg);
    zframe_t *empty = zmsg_pop (msg);
    zframe_t *header = zmsg_pop (msg);
    zframe_t *command = zmsg_pop (msg);
    char id[2 * 255 + 1];
    s_worker_id (identity, id, sizeof (id));
    worker_t *worker = (worker_t *) zhashx_lookup (self->workers, id);
    int cmd = command && zframe_size (command) == 1 ? zframe_data (command)[0] : -1;

    if (!command || zmsg_size (msg) > LH_MAX_FRAMES - 4 || zframe_size (empty) != 0 ||
        !zframe_streq (header, MDPW_WORKER)) {
        self->n.protocol_errors++;
        if (worker)
            s_worker_delete (self, worker, "protocol error");
        s_worker_disconnect (self, identity);
        goto done;
    }
    if (worker)
        worker->expiry = zclock_mono () + (int64_t) self->heartbeat_ms * self->liveness;
    bool valid = true;
    if (cmd == MDPW_READY && !worker)
        s_worker_ready (self, identity, id, msg);
    else if (cmd == MDPW_REPLY && worker)
        valid = s_worker_reply (self, worker, msg) == 0;
    else if (cmd == MDPW_PUBLISH && worker)
        valid = s_worker_publish (self, worker, msg) == 0;
    else if (cmd == MDPW_DISCONNECT) {
        if (worker) {
            self->n.workers_disconnected++;
            s_worker_delete (self, worker, "disconnected");
        }
    } else if (cmd != MDPW_HEARTBEAT || !worker)
        valid = false; //  unknown command, READY twice, or traffic before READY
    if (!valid) {
        self->n.protocol_errors++;
        if (worker)
            s_worker_delete (self, worker, "protocol error");
        s_worker_disconnect (self, identity);
    }
done:
    zframe_destroy (&identity);
    zframe_destroy (&empty);
    zframe_destroy (&header);
    zframe_destroy (&command);
}

static int
s_backend_ready (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    s_drain ((broker_t *) arg, reader, s_worker_message);
    return 0;
}

static int
s_zap_ready (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    (void) reader;
    auth_zap_handle (((broker_t *) arg)->auth);
    return 0;
}

//  --------------------------------------------------------------------------
//  PUB: who may subscribe to what (CURVE mode)
//
//  The PUB socket is an XPUB with ZMQ_XPUB_MANUAL: libzmq hands every
//  (un)subscription to us instead of applying it, and ZMQ_SUBSCRIBE or
//  ZMQ_UNSUBSCRIBE then applies to the connection the message we last read
//  came from. Each subscription message carries its connection's ZAP
//  metadata, so Lh-Key says whose it is; the roster as it is now says what
//  that key may see. Nodes and admins may subscribe to anything; agents and
//  experts only to prefixes starting "@<their agent id>/".
//
//  Two libzmq behaviours shape this code (read in its xpub.cpp):
//  * A message that is not a subscription (an XSUB peer may send one) is
//    queued without a connection, so every ZMQ_SUBSCRIBE after it would apply
//    to the wrong connection until the queue is empty again. Subscriptions
//    read in that state are refused, never applied.
//  * When a connection closes, libzmq itself drops its subscriptions and
//    queues one unsubscription per prefix with no metadata and no connection.
//    They need nothing from us.
//  libzmq before 4.3.5 (upstream commit 2df7ab6a) may apply ZMQ_SUBSCRIBE to
//  a connection that closed between queueing a subscription and our reading
//  it; s_pub_ready reads to the end of the queue with no other socket call
//  between a read and its ZMQ_SUBSCRIBE, which leaves libzmq's own command
//  processing as the only window.

static zsock_t *s_socket (broker_t *self, int type, const char *endpoint, const char *label,
                          int heartbeat_ms, char *resolved, size_t resolved_size);
static int s_pub_ready (zloop_t *loop, zsock_t *reader, void *arg);

static bool
s_role_wide (role_t role)
{
    return role == ROLE_NODE || role == ROLE_ADMIN;
}

//  Whether a principal may subscribe to prefix: everything for nodes and
//  admins; for agents and experts only "@<own id>/..." (the slash included,
//  so that "@ag" cannot match "@agent-2/").
static bool
s_may_subscribe (const char *agent, role_t role, const uint8_t *prefix, size_t size)
{
    if (s_role_wide (role))
        return true;
    size_t len = strlen (agent);
    return size >= len + 2 && prefix[0] == '@' && memcmp (prefix + 1, agent, len) == 0 &&
           prefix[len + 1] == '/';
}

//  A prefix for a log line: printable ASCII, anything else as '?', at most
//  LH_MAX_TOPIC bytes.
static void
s_printable (const uint8_t *data, size_t size, char *out, size_t out_size)
{
    size_t n = 0;
    for (size_t i = 0; i < size && n + 4 < out_size && i < LH_MAX_TOPIC; i++)
        out[n++] = data[i] >= 0x20 && data[i] < 0x7F && data[i] != '"' && data[i] != '\\'
                       ? (char) data[i]
                       : '?';
    if (size > LH_MAX_TOPIC && n + 4 < out_size)
        for (int i = 0; i < 3; i++)
            out[n++] = '.';
    out[n] = 0;
}

static void
s_grant_note (broker_t *self, const char *key, const auth_principal_t *principal)
{
    grant_t *grant = (grant_t *) zhashx_lookup (self->grants, key);
    if (!grant) {
        grant = (grant_t *) zmalloc (sizeof (grant_t));
        snprintf (grant->agent, sizeof (grant->agent), "%s", principal->agent);
        grant->role = principal->role;
        zhashx_insert (self->grants, key, grant);
    } else if (grant->role != principal->role || !streq (grant->agent, principal->agent))
        grant->mixed = true;
}

static void
s_pub_message (broker_t *self, zmq_msg_t *msg)
{
    const uint8_t *data = (const uint8_t *) zmq_msg_data (msg);
    size_t size = zmq_msg_size (msg);
    const char *key = zmq_msg_gets (msg, "Lh-Key");
    const auth_principal_t *principal = key ? auth_lookup (self->auth, key) : NULL;
    void *handle = zsock_resolve (self->pub);
    if (size == 0 || data[0] > 1) {
        self->n.pub_malformed++;
        self->pub_misaligned = true;
        lh_warn ("message on PUB that is not a subscription", "agent=%s key=%s size=%zu",
                 principal ? principal->agent : "-", key ? key : "-", size);
        return;
    }
    if (!key)
        return; //  libzmq's notice that a connection closed (see above)
    const uint8_t *prefix = data + 1;
    size_t prefix_size = size - 1;
    if (data[0] == 0) {
        //  Dropping a subscription never shows anything new, whoever asks;
        //  misaligned, it could drop another connection's
        if (!self->pub_misaligned)
            zmq_setsockopt (handle, ZMQ_UNSUBSCRIBE, prefix, prefix_size);
        return;
    }
    const char *refusal = NULL;
    if (!principal)
        refusal = "key not on the roster";
    else if (self->pub_misaligned)
        refusal = "sent after a message that was not a subscription";
    else if (!s_may_subscribe (principal->agent, principal->role, prefix, prefix_size))
        refusal = "agents and experts may subscribe only to @<own agent id>/";
    if (!refusal && zmq_setsockopt (handle, ZMQ_SUBSCRIBE, prefix, prefix_size) != 0)
        refusal = "libzmq refused it";
    if (refusal) {
        self->n.subscriptions_refused++;
        char shown[LH_MAX_TOPIC + 8];
        s_printable (prefix, prefix_size, shown, sizeof (shown));
        lh_warn ("subscription refused", "agent=%s role=%s prefix=\"%s\" reason=\"%s\"",
                 principal ? principal->agent : "-", principal ? role_name (principal->role) : "-",
                 shown, refusal);
        return;
    }
    self->n.subscriptions++;
    s_grant_note (self, key, principal);
}

static int
s_pub_ready (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    broker_t *self = (broker_t *) arg;
    void *handle = zsock_resolve (reader);
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    //  A bounded batch; zloop calls again while the queue holds more
    for (int i = 0; i < 1024; i++) {
        if (zmq_msg_recv (&msg, handle, ZMQ_DONTWAIT) == -1) {
            //  The queue is empty: connections and messages line up again
            self->pub_misaligned = false;
            break;
        }
        s_pub_message (self, &msg);
    }
    zmq_msg_close (&msg);
    return 0;
}

//  Binds the PUB socket on its endpoint; false when it cannot yet (the one
//  closed by s_pub_reopen may still hold the port for a moment).
static bool
s_pub_open (broker_t *self, const char *endpoint)
{
    char bound[sizeof (self->endpoints[2])];
    self->pub = s_socket (self, self->plaintext ? ZMQ_PUB : ZMQ_XPUB, endpoint, "pub", 0, bound,
                          sizeof (bound));
    if (!self->pub)
        return false;
    snprintf (self->endpoints[2], sizeof (self->endpoints[2]), "%s", bound);
    if (!self->plaintext)
        zloop_reader (self->loop, self->pub, s_pub_ready, self);
    self->pub_reopen = false;
    self->pub_reopen_attempts = 0;
    return true;
}

//  Revocation: libzmq can drop a connection's subscription only in answer
//  to a message from that connection, so the broker closes the PUB socket
//  and binds it again. Every reader's SUB socket reconnects by itself and
//  sends its subscriptions again, and each is checked against the new
//  roster (a removed key fails the handshake). Notifications published
//  until the socket is bound again are dropped and counted in drops_pub.
static void
s_pub_reopen (broker_t *self)
{
    self->n.pub_reopened++;
    zloop_reader_end (self->loop, self->pub);
    zsock_destroy (&self->pub);
    zhashx_purge (self->grants);
    self->pub_misaligned = false;
    self->pub_reopen = true;
    char endpoint[sizeof (self->endpoints[2])];
    snprintf (endpoint, sizeof (endpoint), "%s", self->endpoints[2]);
    if (!s_pub_open (self, endpoint))
        lh_info ("PUB socket closed, binding again at the next tick", "endpoint=%s", endpoint);
}

//  After a roster reload: a key that was granted a subscription and may now
//  see less (gone, demoted to agent or expert, or an agent under another id)
//  makes the broker reopen the PUB socket. Keys whose grants were all for
//  their own agent id and still are, and nodes and admins, keep theirs.
static void
s_subscribers_recheck (broker_t *self)
{
    if (self->plaintext || !self->pub)
        return;
    const char *revoked = NULL;
    for (grant_t *grant = (grant_t *) zhashx_first (self->grants); grant && !revoked;
         grant = (grant_t *) zhashx_next (self->grants)) {
        const char *key = (const char *) zhashx_cursor (self->grants);
        const auth_principal_t *now = auth_lookup (self->auth, key);
        bool keeps =
            now && (s_role_wide (now->role) || (!grant->mixed && !s_role_wide (grant->role) &&
                                                streq (grant->agent, now->agent)));
        if (!keeps)
            revoked = grant->agent;
    }
    if (revoked) {
        lh_info ("roster reload revokes subscriptions: reopening PUB", "agent=%s", revoked);
        s_pub_reopen (self);
    }
}

//  --------------------------------------------------------------------------
//  Timer: heartbeats, worker expiry, deadlines, roster reload

static void
s_expire_requests (broker_t *self, int64_t now)
{
    for (service_t *service = (service_t *) zhashx_first (self->services); service;
         service = (service_t *) zhashx_next (self->services)) {
        //  Retries return to the head, so the queue is not strictly in
        //  deadline order: scan it whole (it is bounded by queue_max)
        request_t *request = (request_t *) zlistx_first (service->queue);
        while (request) {
            request_t *next = (request_t *) zlistx_next (service->queue);
            if (request->deadline <= now) {
                zlistx_detach (service->queue, request->handle);
                self->n.unavailable++;
                s_request_fail (self, &request, LH_E_UNAVAILABLE,
                                "no worker took the request before its deadline");
            }
            request = next;
        }
    }
    for (worker_t *worker = (worker_t *) zhashx_first (self->workers); worker;
         worker = (worker_t *) zhashx_next (self->workers)) {
        request_t *request = (request_t *) zlistx_first (worker->inflight);
        bool freed = false;
        while (request) {
            request_t *next = (request_t *) zlistx_next (worker->inflight);
            if (request->deadline <= now) {
                zhashx_delete (self->tokens, LH_IDKEY (request->token));
                zlistx_detach (worker->inflight, request->handle);
                self->n.timeouts++;
                s_request_fail (self, &request, LH_E_TIMEOUT,
                                "the worker did not answer before the deadline");
                freed = true;
            }
            request = next;
        }
        if (freed)
            s_worker_mark_waiting (worker);
    }
}

static int
s_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    broker_t *self = (broker_t *) arg;
    int64_t now = zclock_mono ();
    if (now >= self->heartbeat_at) {
        //  Silent workers expire; ROUTER_MANDATORY tells us at once about
        //  one whose connection is gone (kill -9), without waiting for liveness
        zlistx_t *expired = s_worker_ids_new ();
        zlistx_t *unreachable = s_worker_ids_new ();
        for (worker_t *worker = (worker_t *) zhashx_first (self->workers); worker;
             worker = (worker_t *) zhashx_next (self->workers)) {
            if (worker->expiry <= now)
                zlistx_add_end (expired, worker->id);
            else if (s_send_worker (self, worker->identity, MDPW_HEARTBEAT, NULL, 0) != 0 &&
                     errno == EHOSTUNREACH)
                zlistx_add_end (unreachable, worker->id);
        }
        s_workers_delete (self, expired, "heartbeat expired", &self->n.workers_expired);
        s_workers_delete (self, unreachable, "connection lost", &self->n.workers_unreachable);
        zlistx_destroy (&expired);
        zlistx_destroy (&unreachable);
        self->heartbeat_at = now + self->heartbeat_ms;
    }
    s_expire_requests (self, now);
    if (self->metrics && now >= self->metrics_at) {
        s_metrics_publish (self);
        self->metrics_at = now + 1000;
    }
    if (self->pub_reopen) {
        char endpoint[sizeof (self->endpoints[2])];
        snprintf (endpoint, sizeof (endpoint), "%s", self->endpoints[2]);
        if (!s_pub_open (self, endpoint) && ++self->pub_reopen_attempts % 50 == 0)
            lh_warn ("PUB socket still cannot be bound again", "endpoint=%s attempts=%d", endpoint,
                     self->pub_reopen_attempts);
    }
    //  Services freed by expiry may have queued work
    for (service_t *service = (service_t *) zhashx_first (self->services); service;
         service = (service_t *) zhashx_next (self->services))
        if (zlistx_size (service->queue) && zlistx_size (service->waiting))
            s_dispatch (self, service);
    return 0;
}

//  --------------------------------------------------------------------------
//  Construction

static void
s_load_rules (broker_t *self)
{
    for (int role = 0; role < ROLE_COUNT; role++) {
        role_rules_t *rules = &self->rules[role];
        *rules = s_default_rules[role];
        char path[64];
        snprintf (path, sizeof (path), "role/%s/call", role_name ((role_t) role));
        rules->call = lh_config_str (self->config, path, rules->call);
        snprintf (path, sizeof (path), "role/%s/serve", role_name ((role_t) role));
        rules->serve = lh_config_str (self->config, path, rules->serve);
        snprintf (path, sizeof (path), "role/%s/rate", role_name ((role_t) role));
        rules->rate = (double) lh_config_int (self->config, path, (long) rules->rate);
        snprintf (path, sizeof (path), "role/%s/burst", role_name ((role_t) role));
        rules->burst = (double) lh_config_int (self->config, path, (long) rules->burst);
    }
}

static zsock_t *
s_socket (broker_t *self, int type, const char *endpoint, const char *label, int heartbeat_ms,
          char *resolved, size_t resolved_size)
{
    zsock_t *sock = zsock_new (type);
    if (!sock)
        return NULL;
    int hwm = (int) lh_config_int (self->config, "broker/hwm", 1000);
    zsock_set_sndhwm (sock, hwm);
    zsock_set_rcvhwm (sock, hwm);
    zsock_set_linger (sock, 0);
    if (type == ZMQ_ROUTER) {
        zsock_set_router_mandatory (sock, 1);
        zsock_set_maxmsgsize (sock, HARD_MAX_MSG);
    }
    if (type == ZMQ_XPUB) {
        //  Subscriptions come to s_pub_ready; none is longer than PUB_MAX_PREFIX
        zsock_set_xpub_manual (sock, 1);
        zsock_set_maxmsgsize (sock, PUB_MAX_PREFIX);
    }
    if (heartbeat_ms > 0) {
        zsock_set_heartbeat_ivl (sock, heartbeat_ms);
        zsock_set_heartbeat_timeout (sock, 3 * heartbeat_ms);
        zsock_set_heartbeat_ttl (sock, 3 * heartbeat_ms);
    }
    if (type == ZMQ_ROUTER && heartbeat_ms == 0) {
        //  A dead peer is the kernel's to find: libzmq cancels a timer in time
        //  linear in the number of timers, and with a heartbeat timer per
        //  connection every handshake and every PONG walked them all
        //  (10,000 agents took half a minute to connect)
        zsock_set_tcp_keepalive (sock, 1);
        zsock_set_tcp_keepalive_idle (sock, 60);
        zsock_set_tcp_keepalive_intvl (sock, 10);
        zsock_set_tcp_keepalive_cnt (sock, 3);
    }
    if (!self->plaintext) {
        zcert_apply (self->cert, sock);
        zsock_set_curve_server (sock, 1);
        zsock_set_zap_domain (sock, label);
    }
    if (zsock_bind (sock, "%s", endpoint) < 0) {
        //  Binding the PUB socket again may fail for a moment (s_pub_reopen)
        if (self->pub_reopen)
            lh_debug ("cannot bind yet", "socket=%s endpoint=%s", label, endpoint);
        else
            lh_error ("cannot bind", "socket=%s endpoint=%s", label, endpoint);
        zsock_destroy (&sock);
        return NULL;
    }
    snprintf (resolved, resolved_size, "%s", zsock_endpoint (sock));
    lh_info ("listening", "socket=%s endpoint=%s", label, resolved);
    return sock;
}

broker_t *
broker_new (zconfig_t *config)
{
    broker_t *self = (broker_t *) zmalloc (sizeof (broker_t));
    self->config = config;
    self->plaintext = lh_config_bool (config, "broker/plaintext", false);
    self->timeout_ms = lh_config_int (config, "broker/request_timeout", 5000);
    self->queue_max = (size_t) lh_config_int (config, "broker/queue_max", 1000);
    self->max_retries = (int) lh_config_int (config, "broker/max_retries", 1);
    self->heartbeat_ms = (int) lh_config_int (config, "broker/heartbeat", 2500);
    self->liveness = (int) lh_config_int (config, "broker/liveness", 3);
    self->plaintext_role = role_parse (lh_config_str (config, "broker/plaintext_role", "admin"));
    if (self->plaintext_role == ROLE_COUNT)
        self->plaintext_role = ROLE_ADMIN;
    self->started_ms = zclock_mono ();
    zuuid_t *uuid = zuuid_new ();
    memcpy (&self->boot, zuuid_data (uuid), sizeof (self->boot));
    zuuid_destroy (&uuid);
    const char *name = lh_config_str (config, "broker/name", "broker");
    if (!codec_name_valid (name, strlen (name), LH_MAX_AGENT)) {
        lh_error ("broker/name must be a name (letters, digits, . _ -)", "name=%s", name);
        free (self);
        return NULL;
    }
    snprintf (self->name, sizeof (self->name), "%s", name);
    char escaped[LH_MAX_AGENT * 2 + 1];
    lh_metrics_label (self->name, escaped, sizeof (escaped));
    snprintf (self->label, sizeof (self->label), "broker=\"%s\"", escaped);
    s_load_rules (self);

    self->limits = ratelimit_new ();
    self->services = zhashx_new ();
    zhashx_set_destructor (self->services, s_service_destructor);
    self->workers = zhashx_new ();
    zhashx_set_destructor (self->workers, s_worker_destructor);
    self->tokens = lh_idhash_new ();
    self->grants = zhashx_new ();
    zhashx_set_destructor (self->grants, s_grant_destructor);
    self->loop = zloop_new ();

    if (self->plaintext)
        lh_warn ("PLAINTEXT MODE: no encryption, no authentication", "role_for_everyone=%s",
                 role_name (self->plaintext_role));
    else {
        const char *cert_path = lh_config_str (config, "broker/cert", NULL);
        const char *roster = lh_config_str (config, "broker/roster", NULL);
        if (!cert_path || !roster) {
            lh_error ("CURVE needs broker/cert and broker/roster (or --plaintext)", "%s", "");
            broker_destroy (&self);
            return NULL;
        }
        self->cert = zcert_load (cert_path);
        if (!self->cert) {
            lh_error ("cannot load certificate", "path=%s", cert_path);
            broker_destroy (&self);
            return NULL;
        }
        self->auth = auth_new (roster);
        if (!self->auth || auth_zap_bind (self->auth) != 0) {
            broker_destroy (&self);
            return NULL;
        }
        lh_info ("roster loaded", "path=%s principals=%zu", roster, auth_size (self->auth));
        zloop_reader (self->loop, auth_zap_socket (self->auth), s_zap_ready, self);
    }
    //  Configured services are known before any worker arrives
    zconfig_t *services = zconfig_locate (config, "service");
    for (zconfig_t *s = services ? zconfig_child (services) : NULL; s; s = zconfig_next (s))
        if (codec_name_valid (zconfig_name (s), strlen (zconfig_name (s)), LH_MAX_SERVICE) &&
            !s_service_internal (zconfig_name (s)))
            s_service_require (self, zconfig_name (s));

    self->frontend = s_socket (
        self, ZMQ_ROUTER, lh_config_str (config, "broker/frontend", "tcp://127.0.0.1:5555"),
        "frontend", (int) lh_config_int (config, "broker/client_heartbeat", 0), self->endpoints[0],
        sizeof (self->endpoints[0]));
    self->backend = s_socket (
        self, ZMQ_ROUTER, lh_config_str (config, "broker/backend", "tcp://127.0.0.1:5556"),
        "backend", LH_WORKER_HEARTBEAT_MS, self->endpoints[1], sizeof (self->endpoints[1]));
    s_pub_open (self, lh_config_str (config, "broker/pub", "tcp://127.0.0.1:5557"));
    if (!self->frontend || !self->backend || !self->pub) {
        broker_destroy (&self);
        return NULL;
    }
    if (lh_node_metrics (config, "broker", &self->metrics) != 0) {
        broker_destroy (&self);
        return NULL;
    }
    zloop_reader (self->loop, self->frontend, s_frontend_ready, self);
    zloop_reader (self->loop, self->backend, s_backend_ready, self);
    zloop_timer (self->loop, TICK_MS, 0, s_tick, self);
    self->heartbeat_at = zclock_mono () + self->heartbeat_ms;
    return self;
}

void
broker_destroy (broker_t **self_p)
{
    if (self_p && *self_p) {
        broker_t *self = *self_p;
        //  Tell workers we are going so they reconnect to our successor at once
        if (self->backend)
            for (worker_t *w = (worker_t *) zhashx_first (self->workers); w;
                 w = (worker_t *) zhashx_next (self->workers))
                s_worker_disconnect (self, w->identity);
        zloop_destroy (&self->loop);
        lh_metrics_destroy (&self->metrics);
        zhashx_destroy (&self->tokens);
        zhashx_destroy (&self->workers);
        zhashx_destroy (&self->services);
        ratelimit_destroy (&self->limits);
        zsock_destroy (&self->frontend);
        zsock_destroy (&self->backend);
        zsock_destroy (&self->pub);
        zhashx_destroy (&self->grants);
        auth_destroy (&self->auth);
        zcert_destroy (&self->cert);
        free (self);
        *self_p = NULL;
    }
}

//  After a roster reload: workers whose key left the roster, or whose role
//  may no longer serve their service, are removed and told to go.
static void
s_workers_recheck (broker_t *self)
{
    zlistx_t *revoked = s_worker_ids_new ();
    for (worker_t *worker = (worker_t *) zhashx_first (self->workers); worker;
         worker = (worker_t *) zhashx_next (self->workers)) {
        const auth_principal_t *now = auth_lookup (self->auth, worker->principal.key);
        if (!now || !s_may (self->rules[now->role].serve, worker->service->name))
            zlistx_add_end (revoked, worker->id);
    }
    for (const char *id = (const char *) zlistx_first (revoked); id;
         id = (const char *) zlistx_next (revoked)) {
        worker_t *worker = (worker_t *) zhashx_lookup (self->workers, id);
        if (worker)
            s_worker_disconnect (self, worker->identity);
    }
    s_workers_delete (self, revoked, "revoked", &self->n.workers_revoked);
    zlistx_destroy (&revoked);
}

static int
s_sighup (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop;
    broker_t *self = (broker_t *) arg;
    struct signalfd_siginfo info;
    while (read (item->fd, &info, sizeof (info)) == sizeof (info))
        if (self->auth) {
            lh_info ("SIGHUP: reloading roster", "%s", "");
            if (auth_reload (self->auth) == 0) {
                s_workers_recheck (self);
                s_subscribers_recheck (self);
            }
        }
    return 0;
}

int
broker_run (broker_t *self)
{
    //  SIGHUP arrives as a readable fd, so it never interrupts zloop's poll
    //  (main blocked it before any thread started)
    sigset_t mask;
    sigemptyset (&mask);
    sigaddset (&mask, SIGHUP);
    int hup_fd = signalfd (-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    zmq_pollitem_t hup = {NULL, hup_fd, ZMQ_POLLIN, 0};
    if (hup_fd >= 0)
        zloop_poller (self->loop, &hup, s_sighup, self);
    lh_info ("broker running", "pid=%d security=%s", (int) getpid (),
             self->plaintext ? "plaintext" : "curve");
    zloop_start (self->loop);
    if (hup_fd >= 0) {
        zloop_poller_end (self->loop, &hup);
        close (hup_fd);
    }
    lh_info ("broker stopping", "requests=%llu replies=%llu", (unsigned long long) self->n.requests,
             (unsigned long long) self->n.replies);
    return 0;
}
