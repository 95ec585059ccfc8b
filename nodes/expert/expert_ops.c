/*  expert_ops -- the operations of service "expert" (docs/EXPERT.md
    section 3): submit, list, show, decide, revoke, stats. See expert.h. */
#include "expert.h"

#include "lh_dispatch.h"
#include "lh_log.h"

#define WAIT_MAX_MS    600000
#define TTL_DEFAULT_MS (24LL * 3600 * 1000)
#define TTL_MAX_MS     (7LL * 24 * 3600 * 1000)

//  Each operation answers into buf, or returns true when it holds the request
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

typedef struct {
    const expert_esc_t *want;
    expert_esc_t found;
    int64_t now;
    bool hit;
} same_t;

static bool
s_same_one (const expert_esc_t *esc, void *arg)
{
    same_t *same = (same_t *) arg;
    const expert_esc_t *want = same->want;
    if (esc->expires_ms > same->now && streq (esc->agent, want->agent) &&
        streq (esc->session, want->session) && streq (esc->policy, want->policy) &&
        streq (esc->capability, want->capability) && esc->quorum == want->quorum &&
        memcmp (esc->key, want->key, sizeof (esc->key)) == 0) {
        same->found = *esc;
        same->hit = true;
    }
    return !same->hit;
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
    memcpy (esc.key, key->via.bin.ptr, sizeof (esc.key));
    esc.quorum = (uint8_t) quorum;
    int64_t now = expert_now ();
    //  The same request pending already (a resend through another broker
    //  after one died, or the agent asking again): join it, so reviewers
    //  see one escalation and one verdict releases every caller
    same_t same = {.want = &esc, .now = now};
    expert_store_pending (self->store, s_same_one, &same);
    if (same.hit) {
        esc = same.found;
        self->n.joined++;
        lh_info ("escalation joined", "id=%s agent=%s", esc.id, esc.agent);
    } else if (*expert_agent_count (self, esc.agent) >= self->agent_max) {
        self->n.refused++;
        snprintf (why, sizeof (why), "agent %s has %zu escalations waiting already: try later",
                  esc.agent, self->agent_max);
        lh_warn ("escalation refused", "agent=%s error=overloaded why=\"%s\"", esc.agent, why);
        codec_pack_error (&buf->pk, id, LH_E_OVERLOADED, why);
        return false;
    }
    if (!same.hit) {
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
        (*expert_agent_count (self, esc.agent))++;
        lh_info ("escalation", "id=%s code=%s agent=%s capability=%s quorum=%u rule=%s", esc.id,
                 esc.code, esc.agent, esc.capability, (unsigned) esc.quorum, esc.rule);
        expert_event_requested (self, &esc, wait_ms);
        if (self->offers)
            offers_offer (self->offers, self->store, &esc, now);
    }
    if (wait_ms == 0) {
        expert_pack_submit_reply (buf, id, &esc);
        return false;
    }
    held_t *held = (held_t *) calloc (1, sizeof (held_t));
    if (!held) {
        //  Stored, so not lost: the caller learns the code now instead
        expert_pack_submit_reply (buf, id, &esc);
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
        expert_pack_summary (l->pk, esc, l->now, 0);
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
    list_t l = {&buf->pk, capability, expert_now (), (size_t) limit, 0, true};
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
    expert_pack_summary (&buf->pk, &esc, expert_now (), 2 + decided);
    codec_pack_kv_str (&buf->pk, "policy", esc.policy);
    codec_pack_str (&buf->pk, "request");
    msgpack_sbuffer_write (&buf->sbuf, (const char *) stored, size);
    if (decided) {
        codec_pack_str (&buf->pk, "verdict");
        expert_pack_verdict (&buf->pk, &esc);
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
                                  self->allow_self, expert_now (), &esc, why, sizeof (why));
    if (rc != LH_OK) {
        self->n.refused++;
        lh_warn ("verdict refused", "expert=%s escalation=%s error=%s why=\"%s\"", expert, name,
                 codec_err_name (rc), why);
        //  A verdict on an escalation that already ended is logged, and changes nothing
        if (rc == LH_E_NOT_FOUND && esc.id[0] && esc.state != EXPERT_PENDING) {
            self->n.late_verdicts++;
            expert_event_verdict (self, &esc, expert, decision, reason, scope, ttl, "", true);
        }
        codec_pack_error (&buf->pk, id, rc, why);
        return false;
    }
    self->n.verdicts++;
    lh_info ("verdict", "escalation=%s expert=%s decision=%s state=%s scope=%s ttl=%lld", esc.id,
             expert, decision, expert_state_name (esc.state), scope, (long long) ttl);
    if (esc.state != EXPERT_DECIDED) {
        expert_event_verdict (self, &esc, expert, decision, reason, scope, ttl, "", false);
        expert_pack_decide_reply (buf, id, &esc, expert, scope, "", 0, false);
        return false;
    }
    self->n.decided++;
    expert_agent_done (self, esc.agent);
    expert_publish (self, "decided", &esc);
    expert_release (self, &esc);
    if (self->offers)
        offers_forget (self->offers, esc.id);
    //  Remembered by the cache before the expert is answered, with its id
    if (expert_call_put (self, request, &esc, expert, scope, ttl))
        return true;
    //  No cache to ask: the verdict stands, not remembered for retries
    self->n.cache_errors++;
    expert_event_verdict (self, &esc, expert, decision, reason, scope, ttl, "", false);
    expert_pack_decide_reply (buf, id, &esc, expert, scope, "", 0, false);
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
    if (expert_call_revoke (self, request, verdict_id))
        return true;
    codec_pack_error (&buf->pk, lh_request_id (request), LH_E_UNAVAILABLE,
                      "the verdict cache could not be asked");
    return false;
}

static bool
s_stats (expert_t *self, lh_request_t *request, codec_buf_t *buf)
{
    codec_pack_ok_head (&buf->pk, lh_request_id (request), 1);
    codec_pack_str (&buf->pk, "counters");
    expert_pack_counters (self, &buf->pk);
    return false;
}

void
expert_pack_counters (expert_t *self, msgpack_packer *pk)
{
    const offers_counters_t none = {0};
    const offers_counters_t *o = self->offers ? offers_counters (self->offers) : &none;
    msgpack_pack_map (pk, 17);
    codec_pack_kv_u64 (pk, "pending", expert_store_pending_count (self->store));
    codec_pack_kv_u64 (pk, "late_verdicts", self->n.late_verdicts);
    codec_pack_kv_u64 (pk, "remembered", self->n.remembered);
    codec_pack_kv_u64 (pk, "revoked", self->n.revoked);
    codec_pack_kv_u64 (pk, "cache_errors", self->n.cache_errors);
    codec_pack_kv_u64 (pk, "offers", o->offers);
    codec_pack_kv_u64 (pk, "assigned", o->accepted);
    codec_pack_kv_u64 (pk, "reoffers", o->reoffers);
    codec_pack_kv_u64 (pk, "offers_failed", o->failed);
    codec_pack_kv_u64 (pk, "held", zlistx_size (self->held));
    codec_pack_kv_u64 (pk, "submitted", self->n.submitted);
    codec_pack_kv_u64 (pk, "joined", self->n.joined);
    codec_pack_kv_u64 (pk, "decided", self->n.decided);
    codec_pack_kv_u64 (pk, "expired", self->n.expired);
    codec_pack_kv_u64 (pk, "verdicts", self->n.verdicts);
    codec_pack_kv_u64 (pk, "refused", self->n.refused);
    codec_pack_kv_u64 (pk, "held_timeouts", self->n.held_timeouts);
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

void
expert_handle (expert_t *self, lh_request_t *request)
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
