/*  lh-expert -- the worker of "expert": escalations from validators, held
    in a durable queue (expert_store) until experts decide or they expire.
    See docs/EXPERT.md.

    A submit with wait_ms is held (the worker's capacity bounds how many)
    and answered when the escalation is decided or its wait ends; the
    escalation itself lives on until its ttl, so a person can still decide
    and the verdict reaches the agent's retry. Who decides is the caller
    the broker authenticated, never a name in the body.

    With --frontend, lh-expert is also a client of the broker: it offers
    pending escalations to automated experts (offers.h), writes each
    verdict to the shared verdict cache (cache.put, answering the decide
    only when the cache has it, so that the expert learns the verdict's id)
    and forwards revocations (cache.revoke); and it appends every step of
    an escalation to the integrity log through a durable spool
    (escalation.requested, escalation.assigned, expert.verdict,
    escalation.expired, verdict.revoked; each with the escalation id or the
    verdict id as its causation).
*/
#include "codec.h"
#include "event.h"
#include "expert_store.h"
#include "lh_client.h"
#include "lh_dispatch.h"
#include "lh_idhash.h"
#include "lh_log.h"
#include "lh_node.h"
#include "lh_worker.h"
#include "offers.h"
#include "spool.h"

#include <limits.h>

#define WAIT_MAX_MS     600000
#define TTL_DEFAULT_MS  (24LL * 3600 * 1000)
#define TTL_MAX_MS      (7LL * 24 * 3600 * 1000)
#define SWEEP_MS        1000
#define CALL_TIMEOUT_MS 5000 //  cache.put, cache.revoke, offers
#define TICK_MS         10   //  longest poll while calls are in flight (ZMQ_FD is edge-triggered)

static const lh_option_t s_options[] = {
    {"broker", "expert/broker", "tcp://127.0.0.1:5556", "broker backend endpoint", false},
    {"broker-key", "expert/broker_key", NULL, "broker public key (Z85); omit for plaintext", false},
    {"cert", "expert/cert", NULL, "this node's secret certificate", false},
    {"dir", "expert/dir", NULL, "data directory (expert.mdb)", false},
    {"queue-max", "expert/queue_max", "10000", "escalations waiting at most", false},
    {"agent-max", "expert/agent_max", "100",
     "escalations waiting at most for one agent (one agent cannot fill the queue)", false},
    {"map-size-mb", "expert/map_size_mb", "1024", "largest the store may grow (LMDB map)", false},
    {"capacity", "expert/capacity", "1024", "requests held at once (held submits count)", false},
    {"heartbeat", "expert/heartbeat", "2500",
     "MDP heartbeat interval, ms (the broker's broker/heartbeat)", false},
    {"allow-self", "expert/allow_self", NULL,
     "an expert may decide its own agent's request (single-person setups)", true},
    {"frontend", "expert/frontend", NULL,
     "broker frontend endpoint: offers to automated experts, verdicts to the shared cache, "
     "events to the integrity log",
     false},
    {"spool-dir", "expert/spool_dir", NULL, "durable spool of events for the log [DIR/spool]",
     false},
    {"review-ms", "expert/review_ms", "60000",
     "how long an automated expert that accepted a review has to give its verdict before the "
     "escalation is offered again",
     false},
    {"verdict-ttl", "expert/verdict_ttl", "3600",
     "seconds a verdict is remembered when the expert names no --ttl", false},
    {"max-ttl", "expert/max_ttl", "2592000", "the longest --ttl an expert may give, seconds",
     false},
    {"log-level", "expert/log_level", "info", "debug, info, warn or error", false},
    {NULL, NULL, NULL, NULL, false},
};

//  A submit waiting for its escalation's end
typedef struct {
    lh_request_t *request;
    char id[EXPERT_ID_SIZE];
    int64_t until_ms;
} held_t;

//  A request to another service, and the request of ours waiting for it
typedef enum { CALL_PUT, CALL_REVOKE } call_kind_t;
typedef struct {
    call_kind_t kind;
    lh_request_t *request; //  the decide or revoke to answer when it returns
    char id[EXPERT_ID_SIZE];
    char expert[LH_MAX_AGENT + 1];
    char scope[8];
    int64_t ttl;
    char verdict_id[33];
} call_t;

typedef struct {
    expert_store_t *store;
    lh_worker_t *worker;
    zlistx_t *held; //  held_t
    bool allow_self;
    lh_client_t *front; //  NULL without --frontend
    zhashx_t *calls;    //  request id -> call_t
    offers_t *offers;
    spool_t *spool;
    zhashx_t *per_agent; //  agent id -> pending escalations (size_t)
    size_t agent_max;
    int64_t verdict_ttl, max_ttl;
    struct {
        uint64_t submitted, decided, expired, verdicts, refused, held_timeouts, late_verdicts,
            remembered, revoked, cache_errors;
    } n;
} expert_t;

static int64_t
s_now (void)
{
    return zclock_time ();
}

static void
s_held_destroy (void **item)
{
    held_t *h = (held_t *) *item;
    if (h) {
        lh_request_destroy (&h->request);
        free (h);
        *item = NULL;
    }
}

static const char *
s_state_name (expert_state_t state)
{
    return state == EXPERT_DECIDED ? "decided" : state == EXPERT_EXPIRED ? "expired" : "pending";
}

//  The map an escalation shows to reviewers (list and show)
static void
s_pack_summary (msgpack_packer *pk, const expert_esc_t *esc, int64_t now, size_t extra)
{
    msgpack_pack_map (pk, 11 + extra);
    codec_pack_kv_str (pk, "id", esc->id);
    codec_pack_kv_str (pk, "agent", esc->agent);
    codec_pack_kv_str (pk, "tool", esc->tool);
    codec_pack_kv_str (pk, "subject", esc->subject);
    codec_pack_kv_str (pk, "capability", esc->capability);
    codec_pack_kv_str (pk, "rule", esc->rule);
    codec_pack_kv_u64 (pk, "quorum", esc->quorum);
    codec_pack_kv_u64 (pk, "allows", esc->allows);
    codec_pack_kv_i64 (pk, "deadline", esc->expires_ms);
    codec_pack_kv_i64 (pk, "waiting_ms", now - esc->created_ms);
    codec_pack_kv_str (pk, "state", s_state_name (esc->state));
}

static void
s_pack_verdict (msgpack_packer *pk, const expert_esc_t *esc)
{
    msgpack_pack_map (pk, 3);
    codec_pack_kv_str (pk, "decision", esc->allowed ? "allow" : "deny");
    codec_pack_kv_str (pk, "by", esc->by);
    codec_pack_kv_str (pk, "reason", esc->reason);
}

//  The reply to a submit: the escalation's id, code, state and verdict
static void
s_pack_submit_reply (codec_buf_t *buf, const msgpack_object *id, const expert_esc_t *esc)
{
    bool decided = esc->state == EXPERT_DECIDED;
    codec_pack_ok_head (&buf->pk, id, 3 + decided);
    codec_pack_kv_str (&buf->pk, "escalation", esc->id);
    codec_pack_kv_str (&buf->pk, "code", esc->code);
    codec_pack_kv_str (&buf->pk, "state", s_state_name (esc->state));
    if (decided) {
        codec_pack_str (&buf->pk, "verdict");
        s_pack_verdict (&buf->pk, esc);
    }
}

//  Answers every held submit of escalation id (now decided or expired)
static void
s_release (expert_t *self, const expert_esc_t *esc)
{
    held_t *h = (held_t *) zlistx_first (self->held);
    while (h) {
        void *handle = zlistx_cursor (self->held); //  h's, before the cursor moves on
        held_t *next = (held_t *) zlistx_next (self->held);
        if (streq (h->id, esc->id)) {
            codec_buf_t buf;
            codec_buf_init (&buf);
            s_pack_submit_reply (&buf, lh_request_id (h->request), esc);
            lh_worker_reply (self->worker, &h->request, buf.sbuf.data, buf.sbuf.size);
            codec_buf_destroy (&buf);
            zlistx_delete (self->held, handle);
        }
        h = next;
    }
}

//  --------------------------------------------------------------------------
//  Pending escalations per agent

static size_t *
s_agent_count (expert_t *self, const char *agent)
{
    size_t *count = (size_t *) zhashx_lookup (self->per_agent, agent);
    if (!count) {
        count = (size_t *) zmalloc (sizeof (size_t));
        zhashx_insert (self->per_agent, agent, count);
    }
    return count;
}

static void
s_agent_done (expert_t *self, const char *agent)
{
    size_t *count = (size_t *) zhashx_lookup (self->per_agent, agent);
    if (count && --*count == 0)
        zhashx_delete (self->per_agent, agent);
}

static bool
s_count_pending (const expert_esc_t *esc, void *arg)
{
    (*s_agent_count ((expert_t *) arg, esc->agent))++;
    return true;
}

static void
s_count_free (void **item)
{
    free (*item);
    *item = NULL;
}

//  --------------------------------------------------------------------------
//  Events: one per step, durable in the spool before the step is answered

//  The map every escalation event starts with; extra pairs follow
static void
s_event_head (msgpack_packer *pk, const expert_esc_t *esc, size_t extra)
{
    msgpack_pack_map (pk, 7 + extra);
    codec_pack_kv_i64 (pk, "time_ms", s_now ());
    codec_pack_kv_str (pk, "escalation", esc->id);
    codec_pack_kv_str (pk, "agent", esc->agent);
    codec_pack_kv_str (pk, "tool", esc->tool);
    codec_pack_kv_str (pk, "subject", esc->subject);
    codec_pack_kv_str (pk, "capability", esc->capability);
    codec_pack_kv_str (pk, "rule", esc->rule);
}

//  Publishes a queue change as "expert.queue" {change, escalation summary}
//  on the broker's PUB socket, for consoles (admins and nodes may subscribe)
static void
s_publish (expert_t *self, const char *change, const expert_esc_t *esc)
{
    codec_buf_t body;
    codec_buf_init (&body);
    msgpack_pack_map (&body.pk, 2);
    codec_pack_kv_str (&body.pk, "change", change);
    codec_pack_str (&body.pk, "escalation");
    s_pack_summary (&body.pk, esc, s_now (), 0);
    lh_worker_publish (self->worker, "expert.queue", body.sbuf.data, body.sbuf.size);
    codec_buf_destroy (&body);
}

//  Stages and commits one event; false when it could not be made durable
static bool
s_event (expert_t *self, event_type_t type, const char *agent, const char *causation,
         codec_buf_t *data)
{
    if (!self->spool)
        return true;
    bool ok = spool_add (self->spool, event_type_name (type), agent, causation, data->sbuf.data,
                         data->sbuf.size) &&
              spool_commit (self->spool);
    if (!ok)
        lh_error ("event not stored for the integrity log", "type=%s causation=%s",
                  event_type_name (type), causation ? causation : "-");
    return ok;
}

static void
s_event_assigned (void *arg, const expert_esc_t *esc, uint32_t attempt)
{
    expert_t *self = (expert_t *) arg;
    lh_info ("review accepted", "escalation=%s capability=%s attempt=%u", esc->id, esc->capability,
             attempt);
    codec_buf_t data;
    codec_buf_init (&data);
    s_event_head (&data.pk, esc, 1);
    codec_pack_kv_u64 (&data.pk, "attempt", attempt);
    s_event (self, EVENT_ESCALATION_ASSIGNED, esc->agent, esc->id, &data);
    codec_buf_destroy (&data);
}

//  expert.verdict: who, what, with which scope; verdict_id once remembered
static void
s_event_verdict (expert_t *self, const expert_esc_t *esc, const char *expert, const char *decision,
                 const char *reason, const char *scope, int64_t ttl, const char *verdict_id,
                 bool late)
{
    codec_buf_t data;
    codec_buf_init (&data);
    s_event_head (&data.pk, esc, 8);
    codec_pack_kv_str (&data.pk, "expert", expert);
    codec_pack_kv_str (&data.pk, "decision", decision);
    codec_pack_kv_str (&data.pk, "reason", reason);
    codec_pack_kv_str (&data.pk, "scope", scope);
    codec_pack_kv_i64 (&data.pk, "ttl", ttl);
    codec_pack_kv_str (&data.pk, "verdict_id", verdict_id);
    codec_pack_kv_str (&data.pk, "state", late ? "late" : s_state_name (esc->state));
    codec_pack_kv_u64 (&data.pk, "allows", esc->allows);
    s_event (self, EVENT_VERDICT, esc->agent, esc->id, &data);
    codec_buf_destroy (&data);
}

//  --------------------------------------------------------------------------
//  Calls to other services (cache.put, cache.revoke) holding our requests

static void
s_call_destroy (void **item)
{
    call_t *call = (call_t *) *item;
    if (call) {
        lh_request_destroy (&call->request);
        free (call);
        *item = NULL;
    }
}

//  Sends body to service for call, which is taken unless it could not be
//  sent (false: the caller still owns call and its request)
static bool
s_call_send (expert_t *self, const char *service, codec_buf_t *body, call_t *call)
{
    uint64_t id = 0;
    if (!self->front ||
        lh_client_send (self->front, service, body->sbuf.data, body->sbuf.size, &id, NULL) != LH_OK)
        return false;
    zhashx_insert (self->calls, LH_IDKEY (id), call);
    return true;
}

static void
s_pack_decide_reply (codec_buf_t *buf, const msgpack_object *id, const expert_esc_t *esc,
                     const char *expert, const char *scope, const char *verdict_id,
                     int64_t expires_ms, bool remembered)
{
    bool decided = esc->state == EXPERT_DECIDED;
    codec_pack_ok_head (&buf->pk, id, 3 + decided);
    codec_pack_kv_str (&buf->pk, "escalation", esc->id);
    codec_pack_kv_str (&buf->pk, "state", s_state_name (esc->state));
    codec_pack_kv_u64 (&buf->pk, "allows", esc->allows);
    if (!decided)
        return;
    codec_pack_str (&buf->pk, "verdict");
    msgpack_pack_map (&buf->pk, 7);
    codec_pack_kv_str (&buf->pk, "verdict_id", verdict_id);
    codec_pack_kv_str (&buf->pk, "decision", esc->allowed ? "allow" : "deny");
    codec_pack_kv_str (&buf->pk, "expert", expert);
    codec_pack_kv_str (&buf->pk, "by", esc->by);
    codec_pack_kv_str (&buf->pk, "scope", scope);
    codec_pack_kv_i64 (&buf->pk, "expires", expires_ms);
    codec_pack_kv_bool (&buf->pk, "remembered", remembered);
}

//  The cache answered a put (or failed): the verdict's event, then the decide's answer
static void
s_on_put (expert_t *self, call_t *call, const lh_reply_t *reply)
{
    expert_esc_t esc;
    if (expert_store_get (self->store, call->id, &esc, NULL, NULL) != LH_OK) {
        lh_worker_reply_error (self->worker, &call->request, LH_E_INTERNAL,
                               "the escalation could not be read back");
        return;
    }
    const msgpack_object *root = lh_reply_root (reply);
    char verdict_id[33] = "";
    int64_t expires = 0;
    bool ok = lh_reply_ok (reply) && root &&
              codec_str_copy (codec_map_get (root, "verdict_id"), verdict_id, sizeof (verdict_id));
    const msgpack_object *e = ok ? codec_map_get (root, "expires_ms") : NULL;
    if (e && (e->type == MSGPACK_OBJECT_POSITIVE_INTEGER))
        expires = (int64_t) e->via.u64;
    if (ok)
        self->n.remembered++;
    else {
        self->n.cache_errors++;
        lh_warn ("verdict not remembered by the cache", "escalation=%s error=%s message=\"%s\"",
                 esc.id, lh_reply_code_name (reply), lh_reply_message (reply));
    }
    s_event_verdict (self, &esc, call->expert, esc.allowed ? "allow" : "deny", esc.reason,
                     call->scope, call->ttl, verdict_id, false);
    codec_buf_t buf;
    codec_buf_init (&buf);
    s_pack_decide_reply (&buf, lh_request_id (call->request), &esc, call->expert, call->scope,
                         verdict_id, expires, ok);
    lh_worker_reply (self->worker, &call->request, buf.sbuf.data, buf.sbuf.size);
    codec_buf_destroy (&buf);
}

static void
s_on_revoke (expert_t *self, call_t *call, const lh_reply_t *reply)
{
    if (!lh_reply_ok (reply)) {
        lh_worker_reply_error (self->worker, &call->request, lh_reply_code (reply),
                               lh_reply_message (reply));
        return;
    }
    const msgpack_object *revoked = codec_map_get (lh_reply_root (reply), "revoked");
    bool done = revoked && revoked->type == MSGPACK_OBJECT_BOOLEAN && revoked->via.boolean;
    if (done) {
        self->n.revoked++;
        codec_buf_t data;
        codec_buf_init (&data);
        msgpack_pack_map (&data.pk, 3);
        codec_pack_kv_i64 (&data.pk, "time_ms", s_now ());
        codec_pack_kv_str (&data.pk, "verdict_id", call->verdict_id);
        codec_pack_kv_str (&data.pk, "revoked_by", call->expert);
        if (!s_event (self, EVENT_VERDICT_REVOKED, NULL, call->verdict_id, &data))
            lh_warn ("revocation done but its event was not stored", "verdict=%s",
                     call->verdict_id);
        codec_buf_destroy (&data);
        lh_info ("verdict revoked", "verdict=%s by=%s", call->verdict_id, call->expert);
    }
    codec_buf_t buf;
    codec_buf_init (&buf);
    codec_pack_ok_head (&buf.pk, lh_request_id (call->request), 1);
    codec_pack_kv_bool (&buf.pk, "revoked", done);
    lh_worker_reply (self->worker, &call->request, buf.sbuf.data, buf.sbuf.size);
    codec_buf_destroy (&buf);
}

//  Replies from the frontend: offers, puts, revocations
static void
s_front_replies (expert_t *self)
{
    lh_reply_t *reply;
    while (self->front && (reply = lh_client_recv (self->front, 0))) {
        if (!offers_take (self->offers, self->store, reply, s_now ())) {
            uint64_t id = lh_reply_id (reply);
            call_t *call = (call_t *) zhashx_lookup (self->calls, LH_IDKEY (id));
            if (call) {
                if (call->kind == CALL_PUT)
                    s_on_put (self, call, reply);
                else
                    s_on_revoke (self, call, reply);
                zhashx_delete (self->calls, LH_IDKEY (id));
            }
        }
        lh_reply_destroy (&reply);
    }
}

//  --------------------------------------------------------------------------
//  Operations: each answers into buf, or returns true when it holds the request

typedef bool op_fn (expert_t *self, lh_request_t *request, codec_buf_t *buf);
typedef void op_check_fn (void);

static bool
s_text (const msgpack_object *body, const char *key, bool required, size_t max, char *out,
        size_t size, codec_buf_t *buf, lh_request_t *request)
{
    const char *text = NULL;
    size_t len = 0;
    char why[160];
    lh_err_t rc = codec_get_str (body, key, required, max, &text, &len, why, sizeof (why));
    if (rc != LH_OK) {
        codec_pack_error (&buf->pk, lh_request_id (request), rc, why);
        return false;
    }
    snprintf (out, size, "%.*s", (int) len, text ? text : "");
    return true;
}

static bool
s_submit (expert_t *self, lh_request_t *request, codec_buf_t *buf)
{
    const msgpack_object *body = lh_request_body (request);
    const msgpack_object *id = lh_request_id (request);
    expert_esc_t esc;
    memset (&esc, 0, sizeof (esc));
    const msgpack_object *req = NULL, *key = NULL;
    int64_t quorum = 1, wait_ms = 0, ttl_ms = TTL_DEFAULT_MS;
    char why[200] = "";
    if (!s_text (body, "agent", true, LH_MAX_AGENT, esc.agent, sizeof (esc.agent), buf, request) ||
        !s_text (body, "session", false, 256, esc.session, sizeof (esc.session), buf, request) ||
        !s_text (body, "tool", true, LH_MAX_SERVICE, esc.tool, sizeof (esc.tool), buf, request) ||
        !s_text (body, "subject", false, 256, esc.subject, sizeof (esc.subject), buf, request) ||
        !s_text (body, "capability", true, 31, esc.capability, sizeof (esc.capability), buf,
                 request) ||
        !s_text (body, "rule", true, 63, esc.rule, sizeof (esc.rule), buf, request) ||
        !s_text (body, "policy", true, 63, esc.policy, sizeof (esc.policy), buf, request))
        return false;
    lh_err_t rc = codec_get_map (body, "request", true, &req, why, sizeof (why));
    if (rc == LH_OK)
        rc =
            codec_get_int (body, "quorum", false, 1, EXPERT_QUORUM_MAX, &quorum, why, sizeof (why));
    if (rc == LH_OK)
        rc = codec_get_int (body, "wait_ms", false, 0, WAIT_MAX_MS, &wait_ms, why, sizeof (why));
    if (rc == LH_OK)
        rc = codec_get_int (body, "ttl_ms", false, 1, TTL_MAX_MS, &ttl_ms, why, sizeof (why));
    if (rc == LH_OK) {
        key = codec_map_get (body, "key");
        if (!key || key->type != MSGPACK_OBJECT_BIN || key->via.bin.size != sizeof (esc.key)) {
            rc = LH_E_BAD_REQUEST;
            snprintf (why, sizeof (why), "field 'key' must be 32 bytes of bin");
        }
    }
    if (rc != LH_OK) {
        self->n.refused++;
        codec_pack_error (&buf->pk, id, rc, why);
        return false;
    }
    if (*s_agent_count (self, esc.agent) >= self->agent_max) {
        self->n.refused++;
        snprintf (why, sizeof (why), "agent %s has %zu escalations waiting already: try later",
                  esc.agent, self->agent_max);
        lh_warn ("escalation refused", "agent=%s error=overloaded why=\"%s\"", esc.agent, why);
        codec_pack_error (&buf->pk, id, LH_E_OVERLOADED, why);
        return false;
    }
    memcpy (esc.key, key->via.bin.ptr, sizeof (esc.key));
    esc.quorum = (uint8_t) quorum;
    int64_t now = s_now ();
    esc.expires_ms = now + (ttl_ms > wait_ms ? ttl_ms : wait_ms);
    codec_buf_t packed;
    codec_buf_init (&packed);
    msgpack_pack_object (&packed.pk, *req);
    rc = expert_store_submit (self->store, &esc, packed.sbuf.data, packed.sbuf.size, now, why,
                              sizeof (why));
    codec_buf_destroy (&packed);
    if (rc != LH_OK) {
        self->n.refused++;
        lh_warn ("escalation refused", "agent=%s error=%s why=\"%s\"", esc.agent,
                 codec_err_name (rc), why);
        codec_pack_error (&buf->pk, id, rc, why);
        return false;
    }
    self->n.submitted++;
    (*s_agent_count (self, esc.agent))++;
    lh_info ("escalation", "id=%s code=%s agent=%s capability=%s quorum=%u rule=%s", esc.id,
             esc.code, esc.agent, esc.capability, (unsigned) esc.quorum, esc.rule);
    codec_buf_t data;
    codec_buf_init (&data);
    s_event_head (&data.pk, &esc, 6);
    codec_pack_kv_str (&data.pk, "code", esc.code);
    codec_pack_kv_str (&data.pk, "session", esc.session);
    codec_pack_kv_str (&data.pk, "policy", esc.policy);
    codec_pack_kv_u64 (&data.pk, "quorum", esc.quorum);
    codec_pack_kv_i64 (&data.pk, "wait_ms", wait_ms);
    codec_pack_kv_i64 (&data.pk, "expires_ms", esc.expires_ms);
    s_event (self, EVENT_ESCALATION, esc.agent, esc.id, &data);
    codec_buf_destroy (&data);
    s_publish (self, "requested", &esc);
    if (self->offers)
        offers_offer (self->offers, self->store, &esc, now);
    if (wait_ms == 0) {
        s_pack_submit_reply (buf, id, &esc);
        return false;
    }
    held_t *held = (held_t *) calloc (1, sizeof (held_t));
    if (!held) {
        //  Stored, so not lost: the caller learns the code now instead
        s_pack_submit_reply (buf, id, &esc);
        return false;
    }
    held->request = request;
    memcpy (held->id, esc.id, sizeof (held->id));
    held->until_ms = now + wait_ms;
    zlistx_add_end (self->held, held);
    return true;
}

typedef struct {
    msgpack_packer *pk;
    const char *capability;
    int64_t now;
    size_t limit, count;
    bool counting;
} list_t;

static bool
s_list_one (const expert_esc_t *esc, void *arg)
{
    list_t *l = (list_t *) arg;
    if (l->capability[0] && !streq (l->capability, esc->capability))
        return true;
    if (esc->expires_ms <= l->now)
        return true;
    if (!l->counting)
        s_pack_summary (l->pk, esc, l->now, 0);
    return ++l->count < l->limit;
}

static bool
s_list (expert_t *self, lh_request_t *request, codec_buf_t *buf)
{
    const msgpack_object *body = lh_request_body (request);
    char capability[32] = "";
    int64_t limit = 100;
    char why[160];
    if (!s_text (body, "capability", false, 31, capability, sizeof (capability), buf, request))
        return false;
    lh_err_t rc = codec_get_int (body, "limit", false, 1, 1000, &limit, why, sizeof (why));
    if (rc != LH_OK) {
        codec_pack_error (&buf->pk, lh_request_id (request), rc, why);
        return false;
    }
    //  Two passes: the array's length first, then its items
    list_t l = {&buf->pk, capability, s_now (), (size_t) limit, 0, true};
    expert_store_pending (self->store, s_list_one, &l);
    codec_pack_ok_head (&buf->pk, lh_request_id (request), 1);
    codec_pack_str (&buf->pk, "escalations");
    msgpack_pack_array (&buf->pk, l.count);
    l.count = 0;
    l.counting = false;
    if (l.limit > 0)
        expert_store_pending (self->store, s_list_one, &l);
    return false;
}

//  The escalation a body names by "escalation" or "code"; false after an error reply
static bool
s_named (expert_t *self, lh_request_t *request, codec_buf_t *buf, expert_esc_t *esc,
         void **request_p, size_t *size)
{
    const msgpack_object *body = lh_request_body (request);
    char name[EXPERT_ID_SIZE] = "";
    if (!s_text (body, "escalation", false, EXPERT_ID_SIZE - 1, name, sizeof (name), buf, request))
        return false;
    if (!name[0] &&
        !s_text (body, "code", false, EXPERT_CODE_SIZE - 1, name, sizeof (name), buf, request))
        return false;
    if (!name[0]) {
        codec_pack_error (&buf->pk, lh_request_id (request), LH_E_BAD_REQUEST,
                          "name the escalation: 'escalation' (id) or 'code'");
        return false;
    }
    if (expert_store_get (self->store, name, esc, request_p, size) != LH_OK) {
        codec_pack_error (&buf->pk, lh_request_id (request), LH_E_NOT_FOUND,
                          "no escalation with that id or code");
        return false;
    }
    return true;
}

static bool
s_show (expert_t *self, lh_request_t *request, codec_buf_t *buf)
{
    expert_esc_t esc;
    void *stored = NULL;
    size_t size = 0;
    if (!s_named (self, request, buf, &esc, &stored, &size))
        return false;
    codec_pack_ok_head (&buf->pk, lh_request_id (request), 1);
    codec_pack_str (&buf->pk, "escalation");
    bool decided = esc.state == EXPERT_DECIDED;
    s_pack_summary (&buf->pk, &esc, s_now (), 2 + decided);
    codec_pack_kv_str (&buf->pk, "policy", esc.policy);
    codec_pack_str (&buf->pk, "request");
    msgpack_sbuffer_write (&buf->sbuf, (const char *) stored, size);
    if (decided) {
        codec_pack_str (&buf->pk, "verdict");
        s_pack_verdict (&buf->pk, &esc);
    }
    free (stored);
    return false;
}

static bool
s_decide (expert_t *self, lh_request_t *request, codec_buf_t *buf)
{
    const msgpack_object *body = lh_request_body (request);
    const msgpack_object *id = lh_request_id (request);
    char decision[8], reason[EXPERT_REASON_MAX + 1], name[EXPERT_ID_SIZE] = "";
    if (!s_text (body, "decision", true, 5, decision, sizeof (decision), buf, request) ||
        !s_text (body, "reason", false, EXPERT_REASON_MAX, reason, sizeof (reason), buf, request) ||
        !s_text (body, "escalation", false, EXPERT_ID_SIZE - 1, name, sizeof (name), buf, request))
        return false;
    if (!name[0] &&
        !s_text (body, "code", false, EXPERT_CODE_SIZE - 1, name, sizeof (name), buf, request))
        return false;
    if (!streq (decision, "allow") && !streq (decision, "deny")) {
        codec_pack_error (&buf->pk, id, LH_E_BAD_REQUEST, "decision is 'allow' or 'deny'");
        return false;
    }
    //  The expert is the key the broker authenticated; any name in the body is ignored
    const char *expert = lh_request_agent (request);
    expert_esc_t esc;
    char why[256] = "";
    char scope[8] = "";
    int64_t ttl = self->verdict_ttl;
    if (!s_text (body, "scope", false, 7, scope, sizeof (scope), buf, request))
        return false;
    lh_err_t rc = codec_get_int (body, "ttl", false, 1, self->max_ttl, &ttl, why, sizeof (why));
    if (rc == LH_OK && expert_store_get (self->store, name, &esc, NULL, NULL) != LH_OK) {
        rc = LH_E_NOT_FOUND;
        snprintf (why, sizeof (why), "no escalation with that id or code");
    }
    if (rc == LH_OK && !scope[0])
        snprintf (scope, sizeof (scope), "%s", esc.session[0] ? "session" : "agent");
    if (rc == LH_OK && !streq (scope, "once") && !streq (scope, "session") &&
        !streq (scope, "agent") && !streq (scope, "global")) {
        rc = LH_E_BAD_REQUEST;
        snprintf (why, sizeof (why), "scope is once, session, agent or global");
    }
    if (rc == LH_OK && streq (scope, "session") && !esc.session[0]) {
        rc = LH_E_BAD_REQUEST;
        snprintf (why, sizeof (why), "the request named no session: scope once, agent or global");
    }
    if (rc == LH_OK)
        rc = expert_store_decide (self->store, name, expert, streq (decision, "allow"), reason,
                                  self->allow_self, s_now (), &esc, why, sizeof (why));
    if (rc != LH_OK) {
        self->n.refused++;
        lh_warn ("verdict refused", "expert=%s escalation=%s error=%s why=\"%s\"", expert, name,
                 codec_err_name (rc), why);
        //  A verdict on an escalation that already ended is logged, and changes nothing
        if (rc == LH_E_NOT_FOUND && esc.id[0] && esc.state != EXPERT_PENDING) {
            self->n.late_verdicts++;
            s_event_verdict (self, &esc, expert, decision, reason, scope, ttl, "", true);
        }
        codec_pack_error (&buf->pk, id, rc, why);
        return false;
    }
    self->n.verdicts++;
    lh_info ("verdict", "escalation=%s expert=%s decision=%s state=%s scope=%s ttl=%lld", esc.id,
             expert, decision, s_state_name (esc.state), scope, (long long) ttl);
    if (esc.state != EXPERT_DECIDED) {
        s_event_verdict (self, &esc, expert, decision, reason, scope, ttl, "", false);
        s_pack_decide_reply (buf, id, &esc, expert, scope, "", 0, false);
        return false;
    }
    self->n.decided++;
    s_agent_done (self, esc.agent);
    s_publish (self, "decided", &esc);
    s_release (self, &esc);
    if (self->offers)
        offers_forget (self->offers, esc.id);
    //  Remembered by the cache before the expert is answered, with its id
    codec_buf_t put;
    codec_buf_init (&put);
    bool named = !streq (scope, "global");
    bool session = streq (scope, "session");
    msgpack_pack_map (&put.pk, 8 + named + session);
    codec_pack_kv_str (&put.pk, "op", "put");
    codec_pack_kv_str (&put.pk, "policy", esc.policy);
    codec_pack_kv_bin (&put.pk, "key", esc.key, sizeof (esc.key));
    codec_pack_kv_str (&put.pk, "scope", scope);
    codec_pack_kv_str (&put.pk, "decision", esc.allowed ? "allow" : "deny");
    codec_pack_kv_str (&put.pk, "expert", expert);
    codec_pack_kv_str (&put.pk, "reason", esc.reason);
    codec_pack_kv_i64 (&put.pk, "ttl", ttl);
    if (named)
        codec_pack_kv_str (&put.pk, "agent", esc.agent);
    if (session)
        codec_pack_kv_str (&put.pk, "session", esc.session);
    call_t *call = (call_t *) zmalloc (sizeof (call_t));
    call->kind = CALL_PUT;
    call->request = request;
    call->ttl = ttl;
    snprintf (call->id, sizeof (call->id), "%s", esc.id);
    snprintf (call->expert, sizeof (call->expert), "%s", expert);
    snprintf (call->scope, sizeof (call->scope), "%s", scope);
    bool sent = s_call_send (self, "cache", &put, call);
    codec_buf_destroy (&put);
    if (sent)
        return true;
    //  No cache to ask: the verdict stands, not remembered for retries
    self->n.cache_errors++;
    call->request = NULL;
    s_call_destroy ((void **) &call);
    s_event_verdict (self, &esc, expert, decision, reason, scope, ttl, "", false);
    s_pack_decide_reply (buf, id, &esc, expert, scope, "", 0, false);
    return false;
}

static bool
s_revoke (expert_t *self, lh_request_t *request, codec_buf_t *buf)
{
    char verdict_id[33];
    if (!s_text (lh_request_body (request), "verdict_id", true, 32, verdict_id, sizeof (verdict_id),
                 buf, request))
        return false;
    if (!self->front) {
        codec_pack_error (&buf->pk, lh_request_id (request), LH_E_UNSUPPORTED,
                          "this lh-expert has no --frontend: no verdict cache to revoke from");
        return false;
    }
    codec_buf_t body;
    codec_buf_init (&body);
    msgpack_pack_map (&body.pk, 2);
    codec_pack_kv_str (&body.pk, "op", "revoke");
    codec_pack_kv_str (&body.pk, "verdict_id", verdict_id);
    call_t *call = (call_t *) zmalloc (sizeof (call_t));
    call->kind = CALL_REVOKE;
    call->request = request;
    snprintf (call->verdict_id, sizeof (call->verdict_id), "%s", verdict_id);
    snprintf (call->expert, sizeof (call->expert), "%s", lh_request_agent (request));
    bool sent = s_call_send (self, "cache", &body, call);
    codec_buf_destroy (&body);
    if (!sent) {
        call->request = NULL;
        s_call_destroy ((void **) &call);
        codec_pack_error (&buf->pk, lh_request_id (request), LH_E_UNAVAILABLE,
                          "the verdict cache could not be asked");
    }
    return sent;
}

static bool
s_stats (expert_t *self, lh_request_t *request, codec_buf_t *buf)
{
    codec_pack_ok_head (&buf->pk, lh_request_id (request), 1);
    codec_pack_str (&buf->pk, "counters");
    const offers_counters_t none = {0};
    const offers_counters_t *o = self->offers ? offers_counters (self->offers) : &none;
    msgpack_pack_map (&buf->pk, 16);
    codec_pack_kv_u64 (&buf->pk, "pending", expert_store_pending_count (self->store));
    codec_pack_kv_u64 (&buf->pk, "late_verdicts", self->n.late_verdicts);
    codec_pack_kv_u64 (&buf->pk, "remembered", self->n.remembered);
    codec_pack_kv_u64 (&buf->pk, "revoked", self->n.revoked);
    codec_pack_kv_u64 (&buf->pk, "cache_errors", self->n.cache_errors);
    codec_pack_kv_u64 (&buf->pk, "offers", o->offers);
    codec_pack_kv_u64 (&buf->pk, "assigned", o->accepted);
    codec_pack_kv_u64 (&buf->pk, "reoffers", o->reoffers);
    codec_pack_kv_u64 (&buf->pk, "offers_failed", o->failed);
    codec_pack_kv_u64 (&buf->pk, "held", zlistx_size (self->held));
    codec_pack_kv_u64 (&buf->pk, "submitted", self->n.submitted);
    codec_pack_kv_u64 (&buf->pk, "decided", self->n.decided);
    codec_pack_kv_u64 (&buf->pk, "expired", self->n.expired);
    codec_pack_kv_u64 (&buf->pk, "verdicts", self->n.verdicts);
    codec_pack_kv_u64 (&buf->pk, "refused", self->n.refused);
    codec_pack_kv_u64 (&buf->pk, "held_timeouts", self->n.held_timeouts);
    return false;
}

typedef LH_DISPATCH_ENTRY (op_fn *, op_check_fn *) op_t;

static const op_t s_ops[] = {
    {"submit", s_submit, LH_ROLE_NODE | LH_ROLE_ADMIN, NULL, "an escalation from a validator"},
    {"list", s_list, LH_ROLE_EXPERT | LH_ROLE_ADMIN, NULL, "pending escalations"},
    {"show", s_show, LH_ROLE_EXPERT | LH_ROLE_ADMIN, NULL, "one escalation, by id or code"},
    {"decide", s_decide, LH_ROLE_EXPERT, NULL, "an expert's verdict: allow or deny"},
    {"revoke", s_revoke, LH_ROLE_EXPERT | LH_ROLE_ADMIN, NULL, "forget a remembered verdict"},
    {"stats", s_stats, LH_ROLE_NODE | LH_ROLE_ADMIN, NULL, "counters (lh status)"},
    {NULL, NULL, 0, NULL, NULL},
};

static void
s_handle (expert_t *self, lh_request_t *request)
{
    codec_buf_t buf;
    codec_buf_init (&buf);
    const msgpack_object *body = lh_request_body (request);
    const msgpack_object *op = codec_map_get (body, "op");
    const op_t *entry = op && op->type == MSGPACK_OBJECT_STR
                            ? (const op_t *) lh_dispatch_find (s_ops, sizeof (*s_ops),
                                                               op->via.str.ptr, op->via.str.size)
                            : NULL;
    bool held = false;
    if (!entry) {
        char names[128], why[200];
        lh_dispatch_names (s_ops, sizeof (*s_ops), names, sizeof (names));
        snprintf (why, sizeof (why), "op is one of %s", names);
        codec_pack_error (&buf.pk, lh_request_id (request), LH_E_BAD_REQUEST, why);
    } else if (!lh_dispatch_allows (entry->roles, lh_request_role (request))) {
        self->n.refused++;
        codec_pack_error (&buf.pk, lh_request_id (request), LH_E_FORBIDDEN,
                          "your role may not use this operation");
    } else
        held = entry->handler (self, request, &buf);
    if (!held)
        lh_worker_reply (self->worker, &request, buf.sbuf.data, buf.sbuf.size);
    codec_buf_destroy (&buf);
}

static void
s_on_expired (const expert_esc_t *esc, void *arg)
{
    expert_t *self = (expert_t *) arg;
    self->n.expired++;
    s_agent_done (self, esc->agent);
    s_publish (self, "expired", esc);
    lh_info ("escalation expired", "id=%s agent=%s capability=%s", esc->id, esc->agent,
             esc->capability);
    s_release (self, esc);
    if (self->offers)
        offers_forget (self->offers, esc->id);
    codec_buf_t data;
    codec_buf_init (&data);
    s_event_head (&data.pk, esc, 2);
    codec_pack_kv_str (&data.pk, "code", esc->code);
    codec_pack_kv_i64 (&data.pk, "expires_ms", esc->expires_ms);
    s_event (self, EVENT_ESCALATION_EXPIRED, esc->agent, esc->id, &data);
    codec_buf_destroy (&data);
}

//  Held submits whose wait ended: answered with the escalation as it stands
static void
s_held_timeouts (expert_t *self, int64_t now)
{
    held_t *h = (held_t *) zlistx_first (self->held);
    while (h) {
        void *handle = zlistx_cursor (self->held); //  h's, before the cursor moves on
        held_t *next = (held_t *) zlistx_next (self->held);
        if (now >= h->until_ms) {
            expert_esc_t esc;
            codec_buf_t buf;
            codec_buf_init (&buf);
            if (expert_store_get (self->store, h->id, &esc, NULL, NULL) == LH_OK)
                s_pack_submit_reply (&buf, lh_request_id (h->request), &esc);
            else
                codec_pack_error (&buf.pk, lh_request_id (h->request), LH_E_INTERNAL,
                                  "the escalation could not be read back");
            lh_worker_reply (self->worker, &h->request, buf.sbuf.data, buf.sbuf.size);
            codec_buf_destroy (&buf);
            self->n.held_timeouts++;
            zlistx_delete (self->held, handle);
        }
        h = next;
    }
}

//  The next request within 100 ms; with a frontend, its replies and the
//  spool's work wake the loop too (ZMQ_FD is edge-triggered: read before
//  polling, and poll for at most TICK_MS while anything is in flight)
static lh_request_t *
s_next_request (expert_t *self)
{
    if (!self->front)
        return lh_worker_recv (self->worker, 100);
    lh_request_t *request = lh_worker_recv (self->worker, 0);
    if (request)
        return request;
    s_front_replies (self);
    int wait = 100;
    int spool_wait = spool_next_ms (self->spool);
    if (spool_wait >= 0 && spool_wait < wait)
        wait = spool_wait;
    if (lh_client_pending (self->front) && wait > TICK_MS)
        wait = TICK_MS;
    zmq_pollitem_t items[2] = {{NULL, lh_worker_fd (self->worker), ZMQ_POLLIN, 0},
                               {NULL, lh_client_fd (self->front), ZMQ_POLLIN, 0}};
    if (wait > 0 && items[0].fd >= 0 && items[1].fd >= 0)
        zmq_poll (items, 2, wait);
    return lh_worker_recv (self->worker, 0);
}

int
main (int argc, char **argv)
{
    static const lh_node_t node = {
        "lh-expert",
        "Lighthouse expert node: holds escalations from validators in a durable queue until\n"
        "experts decide them (lh review, lh approve) or they expire (docs/EXPERT.md).",
        s_options, "expert"};
    int exit_code;
    zconfig_t *config = lh_node_start (&node, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    expert_t self = {.allow_self = lh_config_bool (config, "expert/allow_self", false),
                     .verdict_ttl = lh_config_int (config, "expert/verdict_ttl", 3600),
                     .max_ttl = lh_config_int (config, "expert/max_ttl", 2592000)};
    zcert_t *cert = NULL;
    int rc = 1;
    const char *dir = lh_config_str (config, "expert/dir", NULL);
    char err[512] = "";
    if (!dir) {
        lh_error ("no data directory: --dir DIR", "%s", "");
        goto done;
    }
    if (lh_node_cert (config, "expert", &cert) != 0)
        goto done;
    long queue_max = lh_config_int (config, "expert/queue_max", 10000);
    long map_mb = lh_config_int (config, "expert/map_size_mb", 1024);
    self.store = expert_store_open (dir, queue_max > 0 ? (size_t) queue_max : 1,
                                    (size_t) (map_mb > 1 ? map_mb : 1) << 20, err, sizeof (err));
    if (!self.store) {
        lh_error ("cannot open the escalation store", "dir=%s error=\"%s\"", dir, err);
        goto done;
    }
    if (self.max_ttl < 1 || self.verdict_ttl < 1 || self.verdict_ttl > self.max_ttl) {
        lh_error ("--verdict-ttl must be 1 to --max-ttl seconds", "%s", "");
        goto done;
    }
    self.per_agent = zhashx_new ();
    zhashx_set_destructor (self.per_agent, s_count_free);
    long agent_max = lh_config_int (config, "expert/agent_max", 100);
    self.agent_max = agent_max > 0 ? (size_t) agent_max : 1;
    expert_store_pending (self.store, s_count_pending, &self);
    self.held = zlistx_new ();
    zlistx_set_destructor (self.held, s_held_destroy);
    self.calls = lh_idhash_new ();
    zhashx_set_destructor (self.calls, s_call_destroy);
    const char *frontend = lh_config_str (config, "expert/frontend", NULL);
    if (frontend) {
        lh_connect_t front = {.endpoint = frontend,
                              .server_key = lh_config_str (config, "expert/broker_key", NULL),
                              .cert = cert};
        char spool_dir[PATH_MAX];
        snprintf (spool_dir, sizeof (spool_dir), "%s",
                  lh_config_str (config, "expert/spool_dir", ""));
        if (!spool_dir[0])
            snprintf (spool_dir, sizeof (spool_dir), "%s/spool", dir);
        self.front = lh_client_new (&front);
        self.spool =
            spool_new (&front, spool_dir, 100000, (size_t) 256 << 20, true, err, sizeof (err));
        if (!self.front || !self.spool) {
            lh_error ("cannot start the frontend client or the event spool",
                      "frontend=%s spool=%s error=\"%s\"", frontend, spool_dir, err);
            goto done;
        }
        lh_client_set_timeout (self.front, CALL_TIMEOUT_MS);
        lh_client_set_retries (self.front, 0);
        self.offers =
            offers_new (self.front, (int) lh_config_int (config, "expert/review_ms", 60000),
                        s_event_assigned, &self);
    }
    lh_connect_t conn = {.endpoint = lh_config_str (config, "expert/broker", NULL),
                         .server_key = lh_config_str (config, "expert/broker_key", NULL),
                         .cert = cert};
    long capacity = lh_config_int (config, "expert/capacity", 1024);
    self.worker = lh_worker_new (
        &conn, "expert", (int) (capacity > 0 && capacity <= LH_MAX_CAPACITY ? capacity : 1024));
    if (!self.worker) {
        lh_error ("cannot start worker", "broker=%s", conn.endpoint ? conn.endpoint : "-");
        goto done;
    }
    lh_worker_set_heartbeat (self.worker, (int) lh_config_int (config, "expert/heartbeat", 2500),
                             3);
    lh_info ("serving", "service=expert broker=%s dir=%s pending=%zu frontend=%s", conn.endpoint,
             dir, expert_store_pending_count (self.store), frontend ? frontend : "off");
    int64_t next_sweep = 0;
    while (!zsys_interrupted) {
        lh_request_t *request = s_next_request (&self);
        if (request)
            s_handle (&self, request);
        s_front_replies (&self);
        int64_t now = s_now ();
        if (now >= next_sweep) {
            expert_store_expire (self.store, now, s_on_expired, &self);
            if (self.offers)
                offers_sweep (self.offers, self.store, now);
            next_sweep = now + SWEEP_MS;
        }
        s_held_timeouts (&self, now);
        if (self.spool)
            spool_poll (self.spool);
    }
    lh_info ("stopping", "pending=%zu", expert_store_pending_count (self.store));
    lh_worker_destroy (&self.worker);
    if (self.spool && spool_flush (self.spool, 2000))
        lh_warn ("events kept in the spool for the next start", "%s", "");
    rc = 0;
done:
    offers_destroy (&self.offers);
    zhashx_destroy (&self.per_agent);
    zhashx_destroy (&self.calls);
    spool_destroy (&self.spool);
    lh_client_destroy (&self.front);
    zlistx_destroy (&self.held);
    lh_worker_destroy (&self.worker);
    expert_store_destroy (&self.store);
    zcert_destroy (&cert);
    zconfig_destroy (&config);
    return rc;
}
