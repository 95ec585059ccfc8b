/*  lh-validator -- worker of the "validate" service.

    Serves decisions from a policy file, caches them, publishes them on the
    broker's PUB socket in batches as "validate.decisions" {count, decisions:
    [notice, ...]}, and each agent's own as "@<agent>/validate.decisions"
    (one message per NOTICE_BATCH decisions or NOTICE_DELAY_MS, whichever
    comes first: a message per decision cost more than the decision
    itself), and reloads the policy on SIGHUP or on a "control.validate"
    {op: "reload"} announcement (lh policy reload) without dropping
    requests: a reload happens between two requests, and a policy that
    fails to load leaves the old one serving.

    With --frontend, a request the policy escalates is held (escalator.h)
    while the shared verdict cache and then lh-expert are asked, never
    blocking the others, and answered with the verdict or, when none comes
    by the caller's wait_ms, the fallback (docs/EXPERT.md).

    With --frontend, every decision and every policy load is also appended
    to the integrity log ("events") through a durable spool (spool.h): the
    requests that arrived together are decided, their events written to the
    spool in one group commit, and only then answered. A decision that
    cannot be made durable (spool full, disk full, I/O error) is not
    answered: the request gets an `unavailable` error, which the hook turns
    into a block. The log being slow or down never delays an answer. On
    SIGTERM the spool gets SHUTDOWN_FLUSH_MS to drain; what is left stays in
    the spool directory and is sent at the next start.

    Secrets in notices and events are redacted (redact.h) with the
    installation's key (--redact-key).
*/
#include "codec.h"
#include "lh_node.h"
#include "lh_log.h"
#include "lh_metrics.h"
#include "lh_worker.h"
#include "event.h"
#include "redact.h"
#include "escalator.h"
#include "spool.h"
#include "validator.h"

#include <limits.h>
#include <signal.h>
#include <unistd.h>

static const lh_option_t s_options[] = {
    {"broker", "validator/broker", "tcp://127.0.0.1:5556",
     "broker backend endpoint(s), comma-separated: one per broker", false},
    {"pub", "validator/pub", NULL, "broker PUB endpoint(s), comma-separated: reload announcements",
     false},
    {"frontend", "validator/frontend", NULL,
     "broker frontend endpoint: decisions also go to the integrity log (events)", false},
    {"run-dir", "validator/run_dir", NULL,
     "data directory [$XDG_STATE_HOME/lighthouse or ~/.local/state/lighthouse]", false},
    {"spool-dir", "validator/spool_dir", NULL,
     "durable spool of events for the integrity log [RUN_DIR/validator-spool]", false},
    {"spool-max", "validator/spool_max", "100000",
     "events held for the integrity log; beyond, requests are answered with an error", false},
    {"spool-max-mb", "validator/spool_max_mb", "1024", "size bound of the spool file, MiB", false},
    {"spool-sync", "validator/spool_sync", "1",
     "1: fdatasync each group before answering (survives power loss); 0: survives a kill only",
     false},
    {"redact-key", "validator/redact_key", NULL,
     "key of the keyed hash replacing secrets, created 0600 if missing [RUN_DIR/redact.key]",
     false},
    {"protect", "validator/protect", NULL,
     "path patterns for the policy's class lighthouse [the policy's directory, the run directory, "
     "the spool, the "
     "certificate, the redaction key, this program's directory]",
     false},
    {"agent-topics", "validator/agent_topics", "1",
     "1: also publish each agent's notices as @<agent>/validate.decisions", false},
    {"broker-key", "validator/broker_key", NULL, "broker public key (Z85); omit for plaintext",
     false},
    {"cert", "validator/cert", NULL, "this node's secret certificate", false},
    {"policy", "validator/policy", NULL,
     "policy file (docs/POLICY.md); default PREFIX/share/lighthouse/default.policy", false},
    {"cache-size", "validator/cache_size", "100000", "decisions kept in the L1 cache", false},
    {"home", "validator/home", "/root", "home directory when a request names none", false},
    {"capacity", "validator/capacity", "256",
     "requests held at once (escalations waiting for experts included)", false},
    {"heartbeat", "validator/heartbeat", "2500",
     "MDP heartbeat interval, ms (the broker's broker/heartbeat)", false},
    {"escalations", "validator/escalations", NULL,
     "escalated requests held at once while the verdict cache and experts are asked (needs "
     "--frontend), at most half the capacity, an eighth of them for one agent; beyond, the "
     "fallback answers at once [capacity / 2]",
     false},
    {"metrics", "validator/metrics", NULL,
     "serve Prometheus metrics on IPV4:PORT (GET /metrics); off when not given", false},
    {"log-level", "validator/log_level", "info", "debug, info, warn or error", false},
    {NULL, NULL, NULL, NULL, false},
};

#define NOTICE_BATCH      64
#define NOTICE_DELAY_MS   10
#define SHUTDOWN_FLUSH_MS 2000
#define GROUP_MAX         LH_MAX_CAPACITY //  requests decided together, one commit

static volatile sig_atomic_t s_hup;

//  Decision notices waiting to be published, packed back to back
typedef struct {
    codec_buf_t items;
    size_t count;
} batch_t;

//  Everything published: all notices, and each agent's own
typedef struct {
    batch_t all;
    zhashx_t *agents; //  agent id -> batch_t
    int64_t due;
    bool agent_topics;
    lh_worker_t *worker;
} notices_t;

static void
s_batch_destroy (void **item)
{
    batch_t *batch = (batch_t *) *item;
    if (batch) {
        codec_buf_destroy (&batch->items);
        free (batch);
        *item = NULL;
    }
}

static void
s_batch_publish (batch_t *batch, lh_worker_t *worker, const char *topic)
{
    if (batch->count == 0)
        return;
    codec_buf_t body;
    codec_buf_init (&body);
    msgpack_pack_map (&body.pk, 2);
    codec_pack_kv_u64 (&body.pk, "count", batch->count);
    codec_pack_str (&body.pk, "decisions");
    msgpack_pack_array (&body.pk, batch->count);
    msgpack_sbuffer_write (&body.sbuf, batch->items.sbuf.data, batch->items.sbuf.size);
    lh_worker_publish (worker, topic, body.sbuf.data, body.sbuf.size);
    codec_buf_destroy (&body);
    msgpack_sbuffer_clear (&batch->items.sbuf);
    batch->count = 0;
}

static void
s_notices_flush (notices_t *self)
{
    s_batch_publish (&self->all, self->worker, "validate.decisions");
    for (batch_t *batch = (batch_t *) zhashx_first (self->agents); batch;
         batch = (batch_t *) zhashx_next (self->agents)) {
        char topic[LH_MAX_TOPIC + 1];
        snprintf (topic, sizeof (topic), "@%s/validate.decisions",
                  (const char *) zhashx_cursor (self->agents));
        s_batch_publish (batch, self->worker, topic);
    }
    //  Agents come and go: keep no empty batches
    zhashx_purge (self->agents);
}

static void
s_notices_add (notices_t *self, const char *agent, const void *notice, size_t size)
{
    if (self->all.count++ == 0)
        self->due = zclock_mono () + NOTICE_DELAY_MS;
    msgpack_sbuffer_write (&self->all.items.sbuf, (const char *) notice, size);
    if (!self->agent_topics || !codec_name_valid (agent, strlen (agent), LH_MAX_AGENT))
        return;
    batch_t *batch = (batch_t *) zhashx_lookup (self->agents, agent);
    if (!batch) {
        batch = (batch_t *) zmalloc (sizeof (batch_t));
        codec_buf_init (&batch->items);
        zhashx_insert (self->agents, agent, batch);
    }
    msgpack_sbuffer_write (&batch->items.sbuf, (const char *) notice, size);
    batch->count++;
}

//  Paths the validator knows as its installation's, for --protect
static void
s_protect_add (char *list, size_t size, const char *path, bool dir)
{
    if (!path || !*path)
        return;
    char real[PATH_MAX];
    if (!realpath (path, real))
        snprintf (real, sizeof (real), "%s", path);
    if (real[0] != '/' || strchr (real, ' ') || strlen (real) > 240) {
        lh_warn ("path not protected (relative, with a space or too long)", "path=%s", real);
        return;
    }
    size_t len = strlen (list);
    snprintf (list + len, size - len, "%s%s%s", len ? " " : "", real,
              dir ? (streq (real, "/") ? "**" : "/**") : "");
}

static void
s_dirname (const char *path, char *out, size_t size)
{
    snprintf (out, size, "%s", path);
    char *slash = strrchr (out, '/');
    if (!slash)
        snprintf (out, size, ".");
    else if (slash == out)
        out[1] = 0;
    else
        *slash = 0;
}

typedef struct {
    spool_t *spool;
    bool in_group; //  while a group of requests is being decided
} loads_t;

//  validator_on_load_fn: a policy.loaded event, through the spool
static void
s_on_load (void *arg, validator_t *validator, const char *by, const char *role)
{
    loads_t *loads = (loads_t *) arg;
    lh_info ("policy loaded", "by=%s role=%s version=%s sha256=%s", by, role[0] ? role : "-",
             validator_policy_version (validator), validator_policy_sha256 (validator));
    if (!loads->spool)
        return;
    codec_buf_t data;
    codec_buf_init (&data);
    validator_pack_loaded (validator, by, role, &data.pk);
    bool stored = spool_add (loads->spool, event_type_name (EVENT_POLICY_LOADED), NULL, NULL,
                             data.sbuf.data, data.sbuf.size);
    //  An op reload is committed with its group, before its reply; the others now
    if (stored && !loads->in_group)
        stored = spool_commit (loads->spool);
    if (!stored)
        lh_error ("policy.loaded event not stored", "by=%s", by);
    codec_buf_destroy (&data);
}

//  The spool for the integrity log, or NULL without --frontend.
static spool_t *
s_spool (zconfig_t *config, zcert_t *cert, validator_t *validator, const char *dir, char *err,
         size_t err_size)
{
    lh_connect_t conn = {.endpoint = lh_config_str (config, "validator/frontend", NULL),
                         .server_key = lh_config_str (config, "validator/broker_key", NULL),
                         .cert = cert};
    if (!conn.endpoint)
        return NULL;
    long max_mb = lh_config_int (config, "validator/spool_max_mb", 1024);
    spool_t *spool =
        spool_new (&conn, dir, (size_t) lh_config_int (config, "validator/spool_max", 100000),
                   (size_t) (max_mb > 0 ? max_mb : 1024) * 1024 * 1024,
                   lh_config_int (config, "validator/spool_sync", 1) != 0, err, err_size);
    if (!spool)
        return NULL;
    const spool_counters_t *n = spool_counters (spool);
    validator_add_counter (validator, "spool_queued", &n->queued);
    validator_add_counter (validator, "spool_bytes", &n->bytes);
    validator_add_counter (validator, "spool_stored", &n->stored);
    validator_add_counter (validator, "spool_commits", &n->commits);
    validator_add_counter (validator, "spool_replayed", &n->replayed);
    validator_add_counter (validator, "spool_refused", &n->refused);
    validator_add_counter (validator, "spool_sent", &n->sent);
    validator_add_counter (validator, "spool_acked", &n->acked);
    validator_add_counter (validator, "spool_duplicates", &n->duplicates);
    validator_add_counter (validator, "spool_retries", &n->retries);
    validator_add_counter (validator, "spool_rejected", &n->rejected);
    return spool;
}

//  Last chance for the spool, after the worker has left the broker.
static void
s_spool_flush (spool_t *spool)
{
    if (!spool)
        return;
    //  czmq's handler set this on SIGTERM and lh_client gives up while it is
    //  set; cleared, a second signal still cuts the flush short
    zsys_interrupted = 0;
    size_t left = spool_flush (spool, SHUTDOWN_FLUSH_MS);
    const spool_counters_t *n = spool_counters (spool);
    if (left)
        lh_warn ("events kept in the spool for the next start",
                 "unsent=%zu refused=%llu rejected=%llu", left, (unsigned long long) n->refused,
                 (unsigned long long) n->rejected);
    else
        lh_info ("integrity log spool flushed", "acked=%llu refused=%llu rejected=%llu",
                 (unsigned long long) n->acked, (unsigned long long) n->refused,
                 (unsigned long long) n->rejected);
}

static void
s_on_hup (int signum)
{
    (void) signum;
    s_hup = 1;
}

static void
s_reload (validator_t *validator, const char *why)
{
    char err[512];
    if (validator_reload (validator, why, err, sizeof (err)) != 0)
        lh_error ("policy reload failed, keeping the current policy", "trigger=%s error=\"%s\"",
                  why, err);
}

//  A SUB socket for "control.validate" announcements, or NULL without --pub.
static zsock_t *
s_control (zconfig_t *config, zcert_t *cert)
{
    const char *endpoint = lh_config_str (config, "validator/pub", NULL);
    if (!endpoint)
        return NULL;
    const char *key = lh_config_str (config, "validator/broker_key", NULL);
    lh_connect_t conn = {
        .endpoint = endpoint, .server_key = key && cert ? key : NULL, .cert = cert};
    zsock_t *sub = lh_connect_sub (&conn);
    if (!sub) {
        lh_error ("cannot subscribe", "pub=%s", endpoint);
        return NULL;
    }
    zsock_set_subscribe (sub, "control.validate");
    //  Revoked verdicts: forgotten at once, not when their moment is over
    zsock_set_subscribe (sub, "cache.revoked");
    return sub;
}

static void
s_control_check (zsock_t *sub, validator_t *validator, escalator_t *escalator)
{
    while (sub && (zsock_events (sub) & ZMQ_POLLIN)) {
        zmsg_t *msg = zmsg_recv (sub);
        zframe_t *topic = zmsg_first (msg);
        zframe_t *body = zmsg_next (msg);
        codec_doc_t *doc =
            body ? codec_doc_decode (zframe_data (body), zframe_size (body), NULL, NULL) : NULL;
        char verdict_id[33];
        if (doc && zframe_streq (topic, "control.validate") &&
            codec_str_eq (codec_map_get (codec_doc_root (doc), "op"), "reload"))
            s_reload (validator, "announcement");
        else if (doc && escalator && zframe_streq (topic, "cache.revoked") &&
                 codec_str_copy (codec_map_get (codec_doc_root (doc), "verdict_id"), verdict_id,
                                 sizeof (verdict_id)))
            escalator_forget (escalator, verdict_id);
        codec_doc_destroy (&doc);
        zmsg_destroy (&msg);
    }
}

//  One request of a group: decided, then answered once the group is durable
typedef struct {
    lh_request_t *request;
    codec_buf_t reply;
    codec_buf_t notice;
    char agent[LH_MAX_AGENT + 1];
    bool decided;
    bool stored; //  its event is staged in the spool
} pending_t;

//  The default run directory: $XDG_STATE_HOME/lighthouse or ~/.local/state/lighthouse
static void
s_default_run_dir (char *out, size_t size)
{
    const char *state = getenv ("XDG_STATE_HOME");
    const char *home = getenv ("HOME");
    if (state && state[0] == '/')
        snprintf (out, size, "%s/lighthouse", state);
    else
        snprintf (out, size, "%s/.local/state/lighthouse", home && *home ? home : "/tmp");
}

//  The default policy: beside an installed binary (PREFIX/bin/../share/
//  lighthouse, so that a relocated or DESTDIR install finds its own), else
//  where cmake --install puts it for the configured prefix.
static void
s_default_policy (char *out, size_t size)
{
    char exe[PATH_MAX], dir[PATH_MAX - 64];
    ssize_t n = readlink ("/proc/self/exe", exe, sizeof (exe) - 1);
    if (n > 0) {
        exe[n] = 0;
        s_dirname (exe, dir, sizeof (dir));
        snprintf (out, size, "%s/../share/lighthouse/default.policy", dir);
        if (access (out, R_OK) == 0)
            return;
    }
    snprintf (out, size, "%s", LH_INSTALLED_POLICY);
}

//  What the policy's class lighthouse protects besides its own patterns:
//  validator/protect when set, else the policy's directory, the run
//  directory, the spool (paths[2], NULL when off), the certificate and its
//  public half, the redaction key and the directory of this binary.
//  paths: {policy, run_dir, spool_dir, cert, redact_key}, any may be NULL.
static void
s_protect_list (zconfig_t *config, const char *paths[5], char *protect, size_t size)
{
    const char *given = lh_config_str (config, "validator/protect", NULL);
    if (given) {
        snprintf (protect, size, "%s", given);
        return;
    }
    char dir[PATH_MAX];
    s_dirname (paths[0], dir, sizeof (dir));
    s_protect_add (protect, size, dir, true);
    s_protect_add (protect, size, paths[1], true);
    if (paths[2])
        s_protect_add (protect, size, paths[2], true);
    const char *cert_path = paths[3];
    if (cert_path) {
        s_protect_add (protect, size, cert_path, false);
        //  zcert_save writes the public half beside the secret one
        size_t len = strlen (cert_path);
        if (len > 7 && streq (cert_path + len - 7, "_secret")) {
            char pub[PATH_MAX];
            snprintf (pub, sizeof (pub), "%.*s", (int) (len - 7), cert_path);
            s_protect_add (protect, size, pub, false);
        }
    }
    s_protect_add (protect, size, paths[4], false);
    char exe[PATH_MAX];
    ssize_t n = readlink ("/proc/self/exe", exe, sizeof (exe) - 1);
    if (n > 0) {
        exe[n] = 0;
        s_dirname (exe, dir, sizeof (dir));
        s_protect_add (protect, size, dir, true);
    }
}

//  What deciding a group needs
typedef struct {
    validator_t *validator;
    lh_worker_t *worker;
    spool_t *spool;
    escalator_t *escalator; //  NULL without --frontend
    validator_escalation_t escalation;
    codec_buf_t event;
} decider_t;

//  A verdict.used event: a remembered verdict allowed this request
static bool
s_verdict_used (decider_t *d, pending_t *p, const validator_verdict_t *verdict)
{
    const msgpack_object *tool = codec_map_get (lh_request_body (p->request), "tool");
    codec_buf_t data;
    codec_buf_init (&data);
    msgpack_pack_map (&data.pk, 5);
    codec_pack_kv_i64 (&data.pk, "time_ms", zclock_time ());
    codec_pack_kv_str (&data.pk, "verdict_id", verdict->verdict_id);
    codec_pack_kv_str (&data.pk, "by", verdict->by);
    codec_pack_kv_str (&data.pk, "agent", p->agent);
    codec_pack_str (&data.pk, "tool");
    msgpack_pack_object (&data.pk, *tool);
    bool stored = spool_add (d->spool, event_type_name (EVENT_VERDICT_USED), p->agent,
                             verdict->verdict_id, data.sbuf.data, data.sbuf.size);
    codec_buf_destroy (&data);
    return stored;
}

//  Decides p's request (with the verdict of its escalation, when it comes
//  back from one) and stages its events; an escalated request goes to the
//  escalator and leaves p (p->request NULL).
static void
s_decide_one (decider_t *d, pending_t *p, const validator_verdict_t *verdict)
{
    msgpack_sbuffer_clear (&p->reply.sbuf);
    msgpack_sbuffer_clear (&p->notice.sbuf);
    msgpack_sbuffer_clear (&d->event.sbuf);
    snprintf (p->agent, sizeof (p->agent), "%s", lh_request_agent (p->request));
    const msgpack_object *body = lh_request_body (p->request);
    const char *role = lh_request_role (p->request);
    codec_buf_t *event = d->spool ? &d->event : NULL;
    validator_result_t result =
        validator_decide (d->validator, body, p->agent, role, verdict,
                          verdict ? NULL : &d->escalation, &p->reply, &p->notice, event);
    validator_verdict_t recalled;
    if (result == VALIDATOR_ESCALATED && d->escalator &&
        escalator_recall (d->escalator, &d->escalation, &recalled)) {
        msgpack_sbuffer_clear (&p->reply.sbuf);
        msgpack_sbuffer_clear (&p->notice.sbuf);
        verdict = &recalled;
        result = validator_decide (d->validator, body, p->agent, role, verdict, NULL, &p->reply,
                                   &p->notice, event);
    }
    if (result == VALIDATOR_ESCALATED && d->escalator &&
        escalator_start (d->escalator, &p->request, &d->escalation)) {
        p->decided = false;
        return;
    }
    if (result == VALIDATOR_ESCALATED) {
        //  Nowhere to send it: the fallback now, or, with no experts at all
        //  and nobody waiting for them, the policy's escalate as it is
        validator_verdict_t none = {
            .reason = d->escalator
                          ? "too many escalations held by this validator, or by this agent on it"
                          : "this validator has no expert service (no --frontend)",
            .by = "policy",
            .verdict_id = "",
            .escalation = "",
            .code = "",
            .waited = d->escalation.wait_ms > 0};
        memcpy (none.key, d->escalation.key, sizeof (none.key));
        bool plain = !d->escalator && !none.waited;
        result = validator_decide (d->validator, body, p->agent, role, plain ? NULL : &none, NULL,
                                   &p->reply, &p->notice, event);
    }
    p->decided = result == VALIDATOR_DECIDED;
    p->stored = p->decided && d->spool &&
                spool_add (d->spool, event_type_name (EVENT_DECISION), p->agent, NULL,
                           d->event.sbuf.data, d->event.sbuf.size);
    if (p->stored && verdict && verdict->decision && streq (verdict->decision, "allow") &&
        streq (verdict->by, "cache"))
        p->stored = s_verdict_used (d, p, verdict);
}

//  Decides the escalations that ended, then every request already here
//  (request and what follows without waiting), up to GROUP_MAX, staging
//  each decision's events in the spool; returns how many are in group.
static size_t
s_decide_group (decider_t *d, lh_request_t *request, pending_t *group)
{
    size_t count = 0;
    validator_verdict_t verdict;
    lh_request_t *ended;
    //  At most half the group, so that request always has a place; the
    //  rest end in the next group
    while (d->escalator && count < GROUP_MAX / 2 &&
           (ended = escalator_next (d->escalator, &verdict))) {
        pending_t *p = &group[count++];
        p->request = ended;
        s_decide_one (d, p, &verdict);
    }
    while (request) {
        pending_t *p = &group[count++];
        p->request = request;
        s_decide_one (d, p, NULL);
        request = count < GROUP_MAX ? lh_worker_recv (d->worker, 0) : NULL;
    }
    return count;
}

//  Answers a decided group: a decision whose event is not durable is not
//  given (the log must hold every decision an agent acted on).
static void
s_answer_group (lh_worker_t *worker, spool_t *spool, bool durable, pending_t *group, size_t count,
                notices_t *notices)
{
    for (size_t i = 0; i < count; i++) {
        pending_t *p = &group[i];
        if (!p->request)
            continue; //  escalated: answered when its escalation ends
        if (p->decided && spool && !(p->stored && durable))
            lh_worker_reply_error (worker, &p->request, LH_E_UNAVAILABLE,
                                   "the decision could not be stored for the integrity log "
                                   "(spool full or disk error): not answered");
        else {
            lh_worker_reply (worker, &p->request, p->reply.sbuf.data, p->reply.sbuf.size);
            if (p->decided)
                s_notices_add (notices, p->agent, p->notice.sbuf.data, p->notice.sbuf.size);
        }
    }
}

//  The next request, waiting up to wait ms; while escalations are held their
//  replies wake the loop too (both sockets' ZMQ_FD, edge-triggered: read
//  before polling, and polled for at most ESCALATION_TICK_MS)
#define ESCALATION_TICK_MS 10
static lh_request_t *
s_next_request (decider_t *d, int wait)
{
    int ends = d->escalator ? escalator_next_ms (d->escalator) : -1;
    if (ends < 0)
        return lh_worker_recv (d->worker, wait);
    lh_request_t *request = lh_worker_recv (d->worker, 0);
    if (request)
        return request;
    if (ends < wait)
        wait = ends;
    if (wait > ESCALATION_TICK_MS)
        wait = ESCALATION_TICK_MS;
    zmq_pollitem_t items[2] = {{NULL, lh_worker_fd (d->worker), ZMQ_POLLIN, 0},
                               {NULL, escalator_fd (d->escalator), ZMQ_POLLIN, 0}};
    if (wait > 0 && items[0].fd >= 0 && items[1].fd >= 0)
        zmq_poll (items, 2, wait);
    return lh_worker_recv (d->worker, 0);
}

static void
s_escalator_counters (validator_t *validator, const escalator_counters_t *n)
{
    validator_add_counter (validator, "escalations_started", &n->started);
    validator_add_counter (validator, "escalations_refused", &n->refused);
    validator_add_counter (validator, "verdicts_recalled", &n->recalled);
    validator_add_counter (validator, "verdict_cache_hits", &n->cache_hits);
    validator_add_counter (validator, "verdict_cache_misses", &n->cache_misses);
    validator_add_counter (validator, "expert_submits", &n->submitted);
    validator_add_counter (validator, "expert_errors", &n->expert_errors);
    validator_add_counter (validator, "expert_verdicts", &n->verdicts);
    validator_add_counter (validator, "escalations_unanswered", &n->unanswered);
}

int
main (int argc, char **argv)
{
    static const lh_node_t node = {"lh-validator",
                                   "Lighthouse validator: answers allow / defer / escalate / "
                                   "deny for the \"validate\" service.",
                                   s_options, "validator"};
    int exit_code;
    zconfig_t *config = lh_node_start (&node, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    struct sigaction action = {.sa_handler = s_on_hup};
    sigemptyset (&action.sa_mask);
    sigaction (SIGHUP, &action, NULL);

    int rc = 1;
    zcert_t *cert = NULL;
    lh_worker_t *worker = NULL;
    validator_t *validator = NULL;
    redact_t *redact = NULL;
    zsock_t *control = NULL;
    spool_t *spool = NULL;
    pending_t *group = NULL;
    decider_t decider = {.escalator = NULL};
    lh_metrics_t *metrics = NULL;
    int64_t metrics_at = 0;
    notices_t notices = {.agents = NULL};
    loads_t loads = {.spool = NULL};
    char default_policy[PATH_MAX];
    s_default_policy (default_policy, sizeof (default_policy));
    const char *policy_path = lh_config_str (config, "validator/policy", default_policy);
    const char *cert_path = lh_config_str (config, "validator/cert", NULL);
    const char *frontend = lh_config_str (config, "validator/frontend", NULL);
    char err[512], run_dir[PATH_MAX - 64], spool_dir[PATH_MAX], key_path[PATH_MAX];
    if (lh_config_str (config, "validator/run_dir", NULL))
        snprintf (run_dir, sizeof (run_dir), "%s", lh_config_str (config, "validator/run_dir", ""));
    else
        s_default_run_dir (run_dir, sizeof (run_dir));
    snprintf (spool_dir, sizeof (spool_dir), "%s",
              lh_config_str (config, "validator/spool_dir", ""));
    if (!spool_dir[0])
        snprintf (spool_dir, sizeof (spool_dir), "%s/validator-spool", run_dir);
    snprintf (key_path, sizeof (key_path), "%s",
              lh_config_str (config, "validator/redact_key", ""));
    if (!key_path[0]) {
        snprintf (key_path, sizeof (key_path), "%s/redact.key", run_dir);
        if (zsys_dir_create ("%s", run_dir) != 0) {
            lh_error ("cannot create the run directory", "path=%s", run_dir);
            goto done;
        }
    }
    if (lh_node_cert (config, "validator", &cert) != 0)
        goto done;
    if (!(redact = redact_open (key_path, err, sizeof (err)))) {
        lh_error ("cannot load the redaction key", "error=\"%s\"", err);
        goto done;
    }
    char protect[8192] = "";
    const char *paths[] = {policy_path, run_dir, frontend ? spool_dir : NULL, cert_path, key_path};
    s_protect_list (config, paths, protect, sizeof (protect));
    validator = validator_new (
        policy_path, (size_t) lh_config_int (config, "validator/cache_size", 100000),
        lh_config_str (config, "validator/home", "/root"), protect, redact, err, sizeof (err));
    if (!validator) {
        lh_error ("cannot load policy", "path=%s error=\"%s\"", policy_path, err);
        goto done;
    }
    if (lh_config_int (config, "validator/spool_max", 100000) < 1) {
        lh_error ("--spool-max must be at least 1", "%s", "");
        goto done;
    }
    spool = s_spool (config, cert, validator, spool_dir, err, sizeof (err));
    if (frontend && !spool) {
        lh_error ("cannot start the integrity log spool", "frontend=%s error=\"%s\"", frontend,
                  err);
        goto done;
    }
    loads.spool = spool;
    validator_set_on_load (validator, s_on_load, &loads);
    lh_connect_t conn = {.endpoint = lh_config_str (config, "validator/broker", NULL),
                         .server_key = lh_config_str (config, "validator/broker_key", NULL),
                         .cert = cert};
    int capacity = (int) lh_config_int (config, "validator/capacity", 256);
    worker = lh_worker_new (&conn, "validate", capacity);
    if (!worker) {
        lh_error ("cannot start worker", "broker=%s", conn.endpoint);
        goto done;
    }
    //  Requests held for experts outlive many heartbeats: the broker must not
    //  think the worker dead while it holds them
    lh_worker_set_heartbeat (worker, (int) lh_config_int (config, "validator/heartbeat", 2500), 3);
    control = s_control (config, cert);
    if (lh_node_metrics (config, "validator", &metrics) != 0)
        goto done;
    lh_info ("serving",
             "service=validate broker=%s policy=%s version=%s events=%s spool=%s protect=\"%s\"",
             conn.endpoint, policy_path, validator_policy_version (validator),
             frontend ? frontend : "off", spool ? spool_dir : "-", protect);

    codec_buf_init (&notices.all.items);
    notices.agents = zhashx_new ();
    zhashx_set_destructor (notices.agents, s_batch_destroy);
    notices.agent_topics = lh_config_int (config, "validator/agent_topics", 1) != 0;
    notices.worker = worker;
    group = (pending_t *) zmalloc (GROUP_MAX * sizeof (pending_t));
    for (size_t i = 0; i < GROUP_MAX; i++) {
        codec_buf_init (&group[i].reply);
        codec_buf_init (&group[i].notice);
    }
    decider = (decider_t){.validator = validator, .worker = worker, .spool = spool};
    codec_buf_init (&decider.event);
    codec_buf_init (&decider.escalation.request);
    if (frontend) {
        lh_connect_t front = {.endpoint = frontend,
                              .server_key = lh_config_str (config, "validator/broker_key", NULL),
                              .cert = cert};
        //  Every escalation held takes one of the broker's slots for this
        //  worker: half stay for the requests that need no expert
        long most = lh_config_int (config, "validator/escalations", capacity / 2);
        if (most < 1 || most > capacity / 2)
            most = capacity / 2 > 0 ? capacity / 2 : 1;
        decider.escalator = escalator_new (&front, (size_t) most);
        if (!decider.escalator) {
            lh_error ("cannot start asking experts", "frontend=%s", frontend);
            goto done;
        }
        s_escalator_counters (validator, escalator_counters (decider.escalator));
    }
    while (!zsys_interrupted) {
        //  Short waits: reloads are checked between requests, never during one
        int64_t now = zclock_mono ();
        int wait = notices.all.count ? (notices.due > now ? (int) (notices.due - now) : 0) : 100;
        int spool_wait = spool ? spool_next_ms (spool) : -1;
        if (spool_wait >= 0 && spool_wait < wait)
            wait = spool_wait;
        lh_request_t *request = s_next_request (&decider, wait);
        if (s_hup) {
            s_hup = 0;
            s_reload (validator, "signal");
        }
        s_control_check (control, validator, decider.escalator);
        loads.in_group = true;
        size_t count = s_decide_group (&decider, request, group);
        //  One commit, one sync for the whole group, before any answer
        loads.in_group = false;
        bool durable = !spool || spool_commit (spool);
        s_answer_group (worker, spool, durable, group, count, &notices);
        if (notices.all.count >= NOTICE_BATCH ||
            (notices.all.count && zclock_mono () >= notices.due))
            s_notices_flush (&notices);
        if (spool)
            spool_poll (spool);
        if (metrics && zclock_mono () >= metrics_at) {
            static const char *gauges[] = {"cache_size", "rules", "spool_queued", "spool_bytes",
                                           NULL};
            codec_buf_t counters;
            codec_buf_init (&counters);
            validator_pack_counters (validator, &counters.pk);
            lh_metrics_publish_map (metrics, "lighthouse_validator", counters.sbuf.data,
                                    counters.sbuf.size, gauges);
            codec_buf_destroy (&counters);
            metrics_at = zclock_mono () + 1000;
        }
    }
    if (decider.escalator) {
        //  Every held request gets its fallback before the worker leaves
        escalator_end_all (decider.escalator, "the validator is shutting down");
        while (escalator_held (decider.escalator)) {
            size_t count = s_decide_group (&decider, NULL, group);
            bool durable = !spool || spool_commit (spool);
            s_answer_group (worker, spool, durable, group, count, &notices);
        }
    }
    s_notices_flush (&notices);
    //  Leave the broker first, so no request waits on the flush
    lh_worker_destroy (&worker);
    s_spool_flush (spool);
    rc = 0;
    lh_info ("stopping", "%s", "");
done:
    lh_metrics_destroy (&metrics);
    escalator_destroy (&decider.escalator);
    codec_buf_destroy (&decider.event);
    codec_buf_destroy (&decider.escalation.request);
    if (group) {
        for (size_t i = 0; i < GROUP_MAX; i++) {
            codec_buf_destroy (&group[i].reply);
            codec_buf_destroy (&group[i].notice);
        }
        free (group);
    }
    if (notices.agents) {
        codec_buf_destroy (&notices.all.items);
        zhashx_destroy (&notices.agents);
    }
    spool_destroy (&spool);
    zsock_destroy (&control);
    lh_worker_destroy (&worker);
    validator_destroy (&validator);
    redact_destroy (&redact);
    zcert_destroy (&cert);
    zconfig_destroy (&config);
    return rc;
}
