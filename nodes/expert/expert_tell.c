/*  expert_tell -- what lh-expert tells others. See expert.h.

    The answers held submits get (expert_release), the events of an
    escalation's life for the integrity log (through the spool, each with
    the escalation id, or the verdict id, as its causation), the queue
    changes on the broker's PUB socket, and the calls to the verdict cache
    (cache.put, cache.revoke) that hold a decide or revoke until the cache
    answers.
*/
#include "expert.h"

#include "lh_idhash.h"
#include "lh_log.h"

int64_t
expert_now (void)
{
    return zclock_time ();
}

void
expert_held_destroy (void **item)
{
    held_t *h = (held_t *) *item;
    if (h) {
        lh_request_destroy (&h->request);
        free (h);
        *item = NULL;
    }
}

const char *
expert_state_name (expert_state_t state)
{
    return state == EXPERT_DECIDED ? "decided" : state == EXPERT_EXPIRED ? "expired" : "pending";
}

//  The map an escalation shows to reviewers (list and show)
void
expert_pack_summary (msgpack_packer *pk, const expert_esc_t *esc, int64_t now, size_t extra)
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
    codec_pack_kv_str (pk, "state", expert_state_name (esc->state));
}

void
expert_pack_verdict (msgpack_packer *pk, const expert_esc_t *esc)
{
    msgpack_pack_map (pk, 3);
    codec_pack_kv_str (pk, "decision", esc->allowed ? "allow" : "deny");
    codec_pack_kv_str (pk, "by", esc->by);
    codec_pack_kv_str (pk, "reason", esc->reason);
}

//  The reply to a submit: the escalation's id, code, state and verdict
void
expert_pack_submit_reply (codec_buf_t *buf, const msgpack_object *id, const expert_esc_t *esc)
{
    bool decided = esc->state == EXPERT_DECIDED;
    codec_pack_ok_head (&buf->pk, id, 3 + decided);
    codec_pack_kv_str (&buf->pk, "escalation", esc->id);
    codec_pack_kv_str (&buf->pk, "code", esc->code);
    codec_pack_kv_str (&buf->pk, "state", expert_state_name (esc->state));
    if (decided) {
        codec_pack_str (&buf->pk, "verdict");
        expert_pack_verdict (&buf->pk, esc);
    }
}

//  Answers every held submit of escalation id (now decided or expired)
void
expert_release (expert_t *self, const expert_esc_t *esc)
{
    held_t *h = (held_t *) zlistx_first (self->held);
    while (h) {
        void *handle = zlistx_cursor (self->held); //  h's, before the cursor moves on
        held_t *next = (held_t *) zlistx_next (self->held);
        if (streq (h->id, esc->id)) {
            codec_buf_t buf;
            codec_buf_init (&buf);
            expert_pack_submit_reply (&buf, lh_request_id (h->request), esc);
            lh_worker_reply (self->worker, &h->request, buf.sbuf.data, buf.sbuf.size);
            codec_buf_destroy (&buf);
            zlistx_delete (self->held, handle);
        }
        h = next;
    }
}

size_t *
expert_agent_count (expert_t *self, const char *agent)
{
    size_t *count = (size_t *) zhashx_lookup (self->per_agent, agent);
    if (!count) {
        count = (size_t *) zmalloc (sizeof (size_t));
        zhashx_insert (self->per_agent, agent, count);
    }
    return count;
}

void
expert_agent_done (expert_t *self, const char *agent)
{
    size_t *count = (size_t *) zhashx_lookup (self->per_agent, agent);
    if (count && --*count == 0)
        zhashx_delete (self->per_agent, agent);
}

bool
expert_count_pending (const expert_esc_t *esc, void *arg)
{
    (*expert_agent_count ((expert_t *) arg, esc->agent))++;
    return true;
}

void
expert_count_free (void **item)
{
    free (*item);
    *item = NULL;
}

//  The map every escalation event starts with; extra pairs follow
static void
s_event_head (msgpack_packer *pk, const expert_esc_t *esc, size_t extra)
{
    msgpack_pack_map (pk, 7 + extra);
    codec_pack_kv_i64 (pk, "time_ms", expert_now ());
    codec_pack_kv_str (pk, "escalation", esc->id);
    codec_pack_kv_str (pk, "agent", esc->agent);
    codec_pack_kv_str (pk, "tool", esc->tool);
    codec_pack_kv_str (pk, "subject", esc->subject);
    codec_pack_kv_str (pk, "capability", esc->capability);
    codec_pack_kv_str (pk, "rule", esc->rule);
}

//  Publishes a queue change as "expert.queue" {change, escalation summary}
//  on the broker's PUB socket, for consoles (admins and nodes may subscribe)
void
expert_publish (expert_t *self, const char *change, const expert_esc_t *esc)
{
    codec_buf_t body;
    codec_buf_init (&body);
    msgpack_pack_map (&body.pk, 2);
    codec_pack_kv_str (&body.pk, "change", change);
    codec_pack_str (&body.pk, "escalation");
    expert_pack_summary (&body.pk, esc, expert_now (), 0);
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

void
expert_event_assigned (void *arg, const expert_esc_t *esc, uint32_t attempt)
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
void
expert_event_verdict (expert_t *self, const expert_esc_t *esc, const char *expert,
                      const char *decision, const char *reason, const char *scope, int64_t ttl,
                      const char *verdict_id, bool late)
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
    codec_pack_kv_str (&data.pk, "state", late ? "late" : expert_state_name (esc->state));
    codec_pack_kv_u64 (&data.pk, "allows", esc->allows);
    s_event (self, EVENT_VERDICT, esc->agent, esc->id, &data);
    codec_buf_destroy (&data);
}

void
expert_call_destroy (void **item)
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

void
expert_pack_decide_reply (codec_buf_t *buf, const msgpack_object *id, const expert_esc_t *esc,
                          const char *expert, const char *scope, const char *verdict_id,
                          int64_t expires_ms, bool remembered)
{
    bool decided = esc->state == EXPERT_DECIDED;
    codec_pack_ok_head (&buf->pk, id, 3 + decided);
    codec_pack_kv_str (&buf->pk, "escalation", esc->id);
    codec_pack_kv_str (&buf->pk, "state", expert_state_name (esc->state));
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
    expert_event_verdict (self, &esc, call->expert, esc.allowed ? "allow" : "deny", esc.reason,
                          call->scope, call->ttl, verdict_id, false);
    codec_buf_t buf;
    codec_buf_init (&buf);
    expert_pack_decide_reply (&buf, lh_request_id (call->request), &esc, call->expert, call->scope,
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
        codec_pack_kv_i64 (&data.pk, "time_ms", expert_now ());
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
void
expert_front_replies (expert_t *self)
{
    lh_reply_t *reply;
    while (self->front && (reply = lh_client_recv (self->front, 0))) {
        if (!offers_take (self->offers, self->store, reply, expert_now ())) {
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

void
expert_on_expired (const expert_esc_t *esc, void *arg)
{
    expert_t *self = (expert_t *) arg;
    self->n.expired++;
    expert_agent_done (self, esc->agent);
    expert_publish (self, "expired", esc);
    lh_info ("escalation expired", "id=%s agent=%s capability=%s", esc->id, esc->agent,
             esc->capability);
    expert_release (self, esc);
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

//  escalation.requested, and the queue change, for a new escalation
void
expert_event_requested (expert_t *self, const expert_esc_t *esc, int64_t wait_ms)
{
    codec_buf_t data;
    codec_buf_init (&data);
    s_event_head (&data.pk, esc, 6);
    codec_pack_kv_str (&data.pk, "code", esc->code);
    codec_pack_kv_str (&data.pk, "session", esc->session);
    codec_pack_kv_str (&data.pk, "policy", esc->policy);
    codec_pack_kv_u64 (&data.pk, "quorum", esc->quorum);
    codec_pack_kv_i64 (&data.pk, "wait_ms", wait_ms);
    codec_pack_kv_i64 (&data.pk, "expires_ms", esc->expires_ms);
    s_event (self, EVENT_ESCALATION, esc->agent, esc->id, &data);
    codec_buf_destroy (&data);
    expert_publish (self, "requested", esc);
}

//  Remembers a decided escalation's verdict in the cache (cache.put), the
//  decide request held until the cache answers; false, the request left
//  with the caller, when the cache cannot be asked
bool
expert_call_put (expert_t *self, lh_request_t *request, const expert_esc_t *esc, const char *expert,
                 const char *scope, int64_t ttl)
{
    codec_buf_t put;
    codec_buf_init (&put);
    bool named = !streq (scope, "global");
    bool session = streq (scope, "session");
    msgpack_pack_map (&put.pk, 8 + named + session);
    codec_pack_kv_str (&put.pk, "op", "put");
    codec_pack_kv_str (&put.pk, "policy", esc->policy);
    codec_pack_kv_bin (&put.pk, "key", esc->key, sizeof (esc->key));
    codec_pack_kv_str (&put.pk, "scope", scope);
    codec_pack_kv_str (&put.pk, "decision", esc->allowed ? "allow" : "deny");
    codec_pack_kv_str (&put.pk, "expert", expert);
    codec_pack_kv_str (&put.pk, "reason", esc->reason);
    codec_pack_kv_i64 (&put.pk, "ttl", ttl);
    if (named)
        codec_pack_kv_str (&put.pk, "agent", esc->agent);
    if (session)
        codec_pack_kv_str (&put.pk, "session", esc->session);
    call_t *call = (call_t *) zmalloc (sizeof (call_t));
    call->kind = CALL_PUT;
    call->request = request;
    call->ttl = ttl;
    snprintf (call->id, sizeof (call->id), "%s", esc->id);
    snprintf (call->expert, sizeof (call->expert), "%s", expert);
    snprintf (call->scope, sizeof (call->scope), "%s", scope);
    bool sent = s_call_send (self, "cache", &put, call);
    codec_buf_destroy (&put);
    if (!sent) {
        call->request = NULL;
        expert_call_destroy ((void **) &call);
    }
    return sent;
}

//  Forwards a revocation to the cache, the request held until it answers;
//  false, the request left with the caller, when the cache cannot be asked
bool
expert_call_revoke (expert_t *self, lh_request_t *request, const char *verdict_id)
{
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
        expert_call_destroy ((void **) &call);
    }
    return sent;
}
