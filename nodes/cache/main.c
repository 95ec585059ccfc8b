/*  lh-cache -- the worker of service "cache": the fleet's verdict cache
    (cache_store.c in LMDB). Operations {op: NAME, ...}: get, put, revoke,
    stats; their maps, errors and limits are in docs/CACHE.md.

    Who may do what (the caller frame the broker sends is the truth):
    nodes (validators, lh-expert) and admins may do everything; experts and
    agents may only get, and an agent only for its own agent id. Experts
    never write the cache directly: lh-expert (a node) does it for them.
*/
#include "cache_store.h"

#include "codec.h"
#include "lh_dispatch.h"
#include "lh_log.h"
#include "lh_metrics.h"
#include "lh_node.h"
#include "lh_worker.h"

#include <sodium.h>

#define SWEEP_EVERY_MS 1000
#define SWEEP_MAX      256 //  entries removed per sweep

static const lh_option_t s_options[] = {
    {"broker", "cache/broker", "tcp://127.0.0.1:5556",
     "broker backend endpoint(s), comma-separated: one per broker", false},
    {"broker-key", "cache/broker_key", NULL, "broker public key (Z85); omit for plaintext", false},
    {"cert", "cache/cert", NULL, "this node's secret certificate", false},
    {"dir", "cache/dir", "/var/lib/lighthouse/cache", "directory of cache.mdb", false},
    {"max-entries", "cache/max_entries", "100000", "verdicts kept (then evicted)", false},
    {"max-ttl", "cache/max_ttl", "2592000", "longest ttl a put may ask, seconds", false},
    {"map-size-mb", "cache/map_size_mb", "256", "largest size of cache.mdb, MiB", false},
    {"grace", "cache/grace", "300", "seconds before other policy versions are swept", false},
    {"capacity", "cache/capacity", "64", "requests held at once", false},
    {"heartbeat", "cache/heartbeat", "2500", "MDP heartbeat interval, ms", false},
    {"metrics", "cache/metrics", NULL,
     "serve Prometheus metrics on IPV4:PORT (GET /metrics); off when not given", false},
    {"log-level", "cache/log_level", "info", "debug, info, warn or error", false},
    {NULL, NULL, NULL, NULL, false},
};

typedef struct {
    cache_store_t *store;
    lh_worker_t *worker; //  for revocation notices
    int64_t max_ttl_s;
    uint64_t requests, errors, forbidden, bad_requests;
} node_t;

//  The arguments of every operation, checked before any handler runs
typedef struct {
    const char *caller_agent;
    const char *role;
    char policy[CACHE_MAX_POLICY + 1];
    uint8_t key[CACHE_KEY_BYTES];
    char agent[CACHE_MAX_AGENT + 1];
    char session[CACHE_MAX_SESSION + 1];
    char expert[CACHE_MAX_EXPERT + 1];
    char reason[CACHE_MAX_REASON + 1];
    char verdict_id[CACHE_ID_HEX + 1];
    int scope, decision;
    int64_t ttl_s;
} args_t;

typedef int check_fn (node_t *self, const msgpack_object *body, args_t *args, char *why,
                      size_t why_size);
typedef void op_fn (node_t *self, const msgpack_object *id, args_t *args, codec_buf_t *reply);

//  A str field copied into buf (NUL-terminated): 0, or -1 with why.
//  Absent: "" unless required.
static int
s_text (const msgpack_object *body, const char *key, bool required, size_t min, size_t max,
        char *buf, char *why, size_t why_size)
{
    const msgpack_object *v = codec_map_get (body, key);
    buf[0] = 0;
    if (!v || v->type == MSGPACK_OBJECT_NIL) {
        if (!required)
            return 0;
        snprintf (why, why_size, "field '%s' is required", key);
        return -1;
    }
    if (v->type != MSGPACK_OBJECT_STR) {
        snprintf (why, why_size, "field '%s' must be a str", key);
        return -1;
    }
    if (v->via.str.size < min || v->via.str.size > max) {
        snprintf (why, why_size, "field '%s' must be %zu..%zu bytes", key, min, max);
        return -1;
    }
    if (memchr (v->via.str.ptr, 0, v->via.str.size)) {
        snprintf (why, why_size, "field '%s' holds a NUL byte", key);
        return -1;
    }
    memcpy (buf, v->via.str.ptr, v->via.str.size);
    buf[v->via.str.size] = 0;
    return 0;
}

//  policy, key, agent, session: what get and put share
static int
s_check_lookup (const msgpack_object *body, args_t *args, char *why, size_t why_size)
{
    if (s_text (body, "policy", true, 1, CACHE_MAX_POLICY, args->policy, why, why_size) != 0)
        return -1;
    const msgpack_object *key = codec_map_get (body, "key");
    if (!key || key->type != MSGPACK_OBJECT_BIN || key->via.bin.size != CACHE_KEY_BYTES) {
        snprintf (why, why_size, "field 'key' must be a bin of exactly %d bytes", CACHE_KEY_BYTES);
        return -1;
    }
    memcpy (args->key, key->via.bin.ptr, CACHE_KEY_BYTES);
    if (s_text (body, "agent", false, 1, CACHE_MAX_AGENT, args->agent, why, why_size) != 0 ||
        s_text (body, "session", false, 1, CACHE_MAX_SESSION, args->session, why, why_size) != 0)
        return -1;
    if (args->agent[0] && !codec_name_valid (args->agent, strlen (args->agent), CACHE_MAX_AGENT)) {
        snprintf (why, why_size, "field 'agent' must be of [A-Za-z0-9._-]");
        return -1;
    }
    if (args->session[0] && !args->agent[0]) {
        snprintf (why, why_size, "field 'session' needs field 'agent'");
        return -1;
    }
    return 0;
}

static int
s_check_get (node_t *self, const msgpack_object *body, args_t *args, char *why, size_t why_size)
{
    (void) self;
    return s_check_lookup (body, args, why, why_size);
}

static int
s_check_put (node_t *self, const msgpack_object *body, args_t *args, char *why, size_t why_size)
{
    if (s_check_lookup (body, args, why, why_size) != 0)
        return -1;
    char word[16];
    if (s_text (body, "scope", true, 1, sizeof (word) - 1, word, why, why_size) != 0 ||
        (args->scope = cache_scope_parse (word, strlen (word))) < 0) {
        snprintf (why, why_size, "field 'scope' must be once, session, agent or global");
        return -1;
    }
    if (s_text (body, "decision", true, 1, sizeof (word) - 1, word, why, why_size) != 0 ||
        (args->decision = cache_decision_parse (word, strlen (word))) < 0) {
        snprintf (why, why_size, "field 'decision' must be allow or deny");
        return -1;
    }
    if (s_text (body, "expert", true, 1, CACHE_MAX_EXPERT, args->expert, why, why_size) != 0 ||
        s_text (body, "reason", false, 0, CACHE_MAX_REASON, args->reason, why, why_size) != 0)
        return -1;
    if (codec_get_int (body, "ttl", true, 1, self->max_ttl_s, &args->ttl_s, why, why_size) !=
        LH_OK) {
        snprintf (why, why_size, "field 'ttl' must be an integer of 1..%lld seconds",
                  (long long) self->max_ttl_s);
        return -1;
    }
    if ((args->scope == CACHE_SCOPE_SESSION || args->scope == CACHE_SCOPE_AGENT) &&
        !args->agent[0]) {
        snprintf (why, why_size, "scope %s needs field 'agent'", cache_scope_name (args->scope));
        return -1;
    }
    if (args->scope == CACHE_SCOPE_SESSION && !args->session[0]) {
        snprintf (why, why_size, "scope session needs field 'session'");
        return -1;
    }
    return 0;
}

static int
s_check_revoke (node_t *self, const msgpack_object *body, args_t *args, char *why, size_t why_size)
{
    (void) self;
    if (s_text (body, "verdict_id", true, CACHE_ID_HEX, CACHE_ID_HEX, args->verdict_id, why,
                why_size) != 0)
        return -1;
    for (const char *p = args->verdict_id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
            snprintf (why, why_size, "field 'verdict_id' must be 32 lowercase hex digits");
            return -1;
        }
    return 0;
}

//  --------------------------------------------------------------------------

static void
s_store_error (node_t *self, const msgpack_object *id, int rc, const char *err, codec_buf_t *reply)
{
    self->errors++;
    lh_error ("cache store failed", "error=\"%s\"", err);
    codec_pack_error (&reply->pk, id,
                      rc == CACHE_EBAD    ? LH_E_BAD_REQUEST
                      : rc == CACHE_EFULL ? LH_E_OVERLOADED
                                          : LH_E_INTERNAL,
                      err);
}

static void
s_op_get (node_t *self, const msgpack_object *id, args_t *args, codec_buf_t *reply)
{
    //  An agent asks only about itself
    if (lh_role_bit (args->role) == LH_ROLE_AGENT) {
        if (args->agent[0] && strcmp (args->agent, args->caller_agent) != 0) {
            self->forbidden++;
            codec_pack_error (&reply->pk, id, LH_E_FORBIDDEN,
                              "an agent may look up only its own verdicts");
            return;
        }
        snprintf (args->agent, sizeof (args->agent), "%s", args->caller_agent);
    }
    cache_verdict_t v;
    char err[256];
    int found = cache_store_get (self->store, args->policy, args->key, args->agent, args->session,
                                 zclock_time (), &v, err, sizeof (err));
    if (found < 0) {
        s_store_error (self, id, CACHE_EIO, err, reply);
        return;
    }
    msgpack_packer *pk = &reply->pk;
    codec_pack_ok_head (pk, id, found ? 2 : 1);
    codec_pack_kv_bool (pk, "found", found);
    if (!found)
        return;
    codec_pack_str (pk, "verdict");
    msgpack_pack_map (pk, 10);
    codec_pack_kv_str (pk, "verdict_id", v.id);
    codec_pack_kv_str (pk, "decision", cache_decision_name (v.decision));
    codec_pack_kv_str (pk, "scope", cache_scope_name (v.scope));
    codec_pack_kv_str (pk, "expert", v.expert);
    codec_pack_kv_str (pk, "reason", v.reason);
    codec_pack_kv_str (pk, "policy", v.policy);
    codec_pack_kv_str (pk, "agent", v.agent);
    codec_pack_kv_str (pk, "session", v.session);
    codec_pack_kv_i64 (pk, "created_ms", v.created_ms);
    codec_pack_kv_i64 (pk, "expires_ms", v.expires_ms);
}

static void
s_op_put (node_t *self, const msgpack_object *id, args_t *args, codec_buf_t *reply)
{
    cache_put_t put = {.policy = args->policy,
                       .key = args->key,
                       .scope = (cache_scope_t) args->scope,
                       .decision = (cache_decision_t) args->decision,
                       .expert = args->expert,
                       .reason = args->reason,
                       .ttl_s = args->ttl_s,
                       .agent = args->agent,
                       .session = args->session};
    char verdict_id[CACHE_ID_HEX + 1], err[256];
    int64_t now = zclock_time ();
    int rc = cache_store_put (self->store, &put, now, verdict_id, err, sizeof (err));
    if (rc != 0) {
        s_store_error (self, id, rc, err, reply);
        return;
    }
    bool stored = args->scope != CACHE_SCOPE_ONCE;
    lh_info ("verdict stored",
             "verdict_id=%s decision=%s scope=%s expert=%s agent=%s ttl=%lld by=%s stored=%s",
             verdict_id, cache_decision_name (put.decision), cache_scope_name (put.scope),
             put.expert, put.agent, (long long) put.ttl_s, args->caller_agent,
             stored ? "true" : "false");
    codec_pack_ok_head (&reply->pk, id, 3);
    codec_pack_kv_str (&reply->pk, "verdict_id", verdict_id);
    codec_pack_kv_bool (&reply->pk, "stored", stored);
    codec_pack_kv_i64 (&reply->pk, "expires_ms", now + args->ttl_s * 1000);
}

static void
s_op_revoke (node_t *self, const msgpack_object *id, args_t *args, codec_buf_t *reply)
{
    char err[256];
    int rc = cache_store_revoke (self->store, args->verdict_id, zclock_time (), err, sizeof (err));
    if (rc < 0) {
        s_store_error (self, id, rc, err, reply);
        return;
    }
    lh_info ("verdict revoked", "verdict_id=%s revoked=%s by=%s", args->verdict_id,
             rc ? "true" : "false", args->caller_agent);
    if (rc == 1 && self->worker) {
        //  Validators remember verdicts for a moment (escalator.h): they forget it now
        codec_buf_t notice;
        codec_buf_init (&notice);
        msgpack_pack_map (&notice.pk, 1);
        codec_pack_kv_str (&notice.pk, "verdict_id", args->verdict_id);
        lh_worker_publish (self->worker, "cache.revoked", notice.sbuf.data, notice.sbuf.size);
        codec_buf_destroy (&notice);
    }
    codec_pack_ok_head (&reply->pk, id, 1);
    codec_pack_kv_bool (&reply->pk, "revoked", rc == 1);
}

//  The counters map of op "stats" (lh status, --metrics)
static void
s_pack_counters (node_t *self, msgpack_packer *pk)
{
    cache_stats_t st;
    cache_store_stats (self->store, &st);
    const struct {
        const char *name;
        uint64_t value;
    } counters[] = {
        {"requests", self->requests},
        {"errors", self->errors},
        {"bad_requests", self->bad_requests},
        {"forbidden", self->forbidden},
        {"entries", st.entries},
        {"max_entries", st.max_entries},
        {"map_used", st.map_used},
        {"map_size", st.map_size},
        {"puts", st.puts},
        {"puts_once", st.puts_once},
        {"gets", st.gets},
        {"hits", st.hits},
        {"misses", st.misses},
        {"revocations", st.revocations},
        {"evictions", st.evictions},
        {"expired_swept", st.expired_swept},
        {"versions_swept", st.versions_swept},
        {"map_full", st.map_full},
    };
    size_t count = sizeof (counters) / sizeof (counters[0]);
    msgpack_pack_map (pk, count);
    for (size_t i = 0; i < count; i++)
        codec_pack_kv_u64 (pk, counters[i].name, counters[i].value);
}

static void
s_op_stats (node_t *self, const msgpack_object *id, args_t *args, codec_buf_t *reply)
{
    (void) args;
    codec_pack_ok_head (&reply->pk, id, 1);
    codec_pack_str (&reply->pk, "counters");
    s_pack_counters (self, &reply->pk);
}

typedef LH_DISPATCH_ENTRY (op_fn *, check_fn *) op_t;

#define ROLES_WRITE (LH_ROLE_NODE | LH_ROLE_ADMIN)
static const op_t s_ops[] = {
    {"get", s_op_get, LH_ROLE_AGENT | LH_ROLE_EXPERT | ROLES_WRITE, s_check_get,
     "get {policy, key, agent, session}: the most specific live verdict"},
    {"put", s_op_put, ROLES_WRITE, s_check_put,
     "put {policy, key, scope, decision, expert, reason, ttl, agent, session}: store a verdict"},
    {"revoke", s_op_revoke, ROLES_WRITE, s_check_revoke, "revoke {verdict_id}"},
    {"stats", s_op_stats, ROLES_WRITE, NULL, "counters (lh status)"},
    {NULL, NULL, 0, NULL, NULL},
};

static void
s_handle (node_t *self, const lh_request_t *request, codec_buf_t *reply)
{
    self->requests++;
    const msgpack_object *body = lh_request_body (request);
    const msgpack_object *id = lh_request_id (request);
    const msgpack_object *op = codec_map_get (body, "op");
    char why[LH_MAX_MESSAGE];
    if (!op || op->type != MSGPACK_OBJECT_STR) {
        self->bad_requests++;
        codec_pack_error (&reply->pk, id, LH_E_BAD_REQUEST,
                          "field 'op' (str) is required: get, put, revoke or stats");
        return;
    }
    const op_t *entry =
        (const op_t *) lh_dispatch_find (s_ops, sizeof (*s_ops), op->via.str.ptr, op->via.str.size);
    if (!entry) {
        char names[128];
        snprintf (why, sizeof (why), "op is one of %s",
                  lh_dispatch_names (s_ops, sizeof (*s_ops), names, sizeof (names)));
        self->bad_requests++;
        codec_pack_error (&reply->pk, id, LH_E_UNSUPPORTED, why);
        return;
    }
    const char *role = lh_request_role (request);
    if (!lh_dispatch_allows (entry->roles, role)) {
        self->forbidden++;
        snprintf (why, sizeof (why), "role %s may not %s the cache (nodes and admins only)", role,
                  entry->name);
        codec_pack_error (&reply->pk, id, LH_E_FORBIDDEN, why);
        return;
    }
    args_t args;
    memset (&args, 0, sizeof (args));
    args.caller_agent = lh_request_agent (request);
    args.role = role;
    if (entry->check && entry->check (self, body, &args, why, sizeof (why)) != 0) {
        self->bad_requests++;
        codec_pack_error (&reply->pk, id, LH_E_BAD_REQUEST, why);
        return;
    }
    entry->handler (self, id, &args, reply);
}

int
main (int argc, char **argv)
{
    static const lh_node_t node_def = {"lh-cache", "Lighthouse verdict cache node (service cache).",
                                       s_options, "cache"};
    int exit_code;
    zconfig_t *config = lh_node_start (&node_def, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    long max_entries = lh_config_int (config, "cache/max_entries", 100000);
    long max_ttl = lh_config_int (config, "cache/max_ttl", 2592000);
    long map_mb = lh_config_int (config, "cache/map_size_mb", 256);
    long grace = lh_config_int (config, "cache/grace", 300);
    if (max_entries < 1 || max_ttl < 1 || map_mb < 1 || map_mb > 1024 * 1024 || grace < 0) {
        lh_error ("bad configuration",
                  "max_entries=%ld max_ttl=%ld map_size_mb=%ld grace=%ld "
                  "(each >= 1, grace >= 0, map at most 1 TiB)",
                  max_entries, max_ttl, map_mb, grace);
        zconfig_destroy (&config);
        return 2;
    }
    const char *dir = lh_config_str (config, "cache/dir", "/var/lib/lighthouse/cache");
    cache_limits_t limits = {.max_entries = (size_t) max_entries,
                             .map_size = (size_t) map_mb << 20,
                             .max_ttl_s = max_ttl,
                             .grace_ms = (int64_t) grace * 1000};
    char err[512];
    node_t self = {.max_ttl_s = max_ttl};
    self.store = cache_store_open (dir, &limits, err, sizeof (err));
    if (!self.store) {
        lh_error ("cannot open the cache", "dir=%s error=\"%s\"", dir, err);
        zconfig_destroy (&config);
        return 1;
    }
    zcert_t *cert = NULL;
    if (lh_node_cert (config, "cache", &cert) != 0) {
        cache_store_destroy (&self.store);
        zconfig_destroy (&config);
        return 1;
    }
    lh_connect_t conn = {.endpoint = lh_config_str (config, "cache/broker", NULL),
                         .server_key = lh_config_str (config, "cache/broker_key", NULL),
                         .cert = cert};
    lh_worker_t *worker =
        lh_worker_new (&conn, "cache", (int) lh_config_int (config, "cache/capacity", 64));
    if (!worker) {
        lh_error ("cannot start worker", "broker=%s", conn.endpoint);
        cache_store_destroy (&self.store);
        zcert_destroy (&cert);
        zconfig_destroy (&config);
        return 1;
    }
    lh_worker_set_heartbeat (worker, (int) lh_config_int (config, "cache/heartbeat", 2500), 3);
    self.worker = worker;
    cache_stats_t st;
    cache_store_stats (self.store, &st);
    lh_info ("serving",
             "service=cache broker=%s dir=%s entries=%llu max_entries=%ld max_ttl=%ld "
             "map_size_mb=%ld",
             conn.endpoint, dir, (unsigned long long) st.entries, max_entries, max_ttl, map_mb);

    lh_metrics_t *metrics = NULL;
    bool failed = lh_node_metrics (config, "cache", &metrics) != 0;
    int64_t next_sweep = zclock_mono () + SWEEP_EVERY_MS;
    while (!zsys_interrupted && !failed) {
        int64_t now = zclock_mono ();
        if (now >= next_sweep && metrics) {
            static const char *gauges[] = {"entries", "max_entries", "map_used", "map_size", NULL};
            codec_buf_t counters;
            codec_buf_init (&counters);
            s_pack_counters (&self, &counters.pk);
            lh_metrics_publish_map (metrics, "lighthouse_cache", counters.sbuf.data,
                                    counters.sbuf.size, gauges);
            codec_buf_destroy (&counters);
        }
        if (now >= next_sweep) {
            int removed =
                cache_store_sweep (self.store, zclock_time (), SWEEP_MAX, err, sizeof (err));
            if (removed < 0)
                lh_warn ("sweep failed", "error=\"%s\"", err);
            else if (removed > 0)
                lh_debug ("swept", "removed=%d", removed);
            next_sweep = now + SWEEP_EVERY_MS;
        }
        lh_request_t *request = lh_worker_recv (worker, (int) (next_sweep - now));
        if (!request)
            continue;
        codec_buf_t reply;
        codec_buf_init (&reply);
        s_handle (&self, request, &reply);
        lh_worker_reply (worker, &request, reply.sbuf.data, reply.sbuf.size);
        codec_buf_destroy (&reply);
    }
    cache_store_stats (self.store, &st);
    lh_info ("stopping", "requests=%llu entries=%llu puts=%llu hits=%llu revocations=%llu",
             (unsigned long long) self.requests, (unsigned long long) st.entries,
             (unsigned long long) st.puts, (unsigned long long) st.hits,
             (unsigned long long) st.revocations);
    lh_metrics_destroy (&metrics);
    lh_worker_destroy (&worker);
    cache_store_destroy (&self.store);
    zcert_destroy (&cert);
    zconfig_destroy (&config);
    return failed ? 1 : 0;
}
