/*  lh-expert -- the worker of "expert": escalations from validators, held
    in a durable queue (expert_store) until experts decide or they expire.
    See docs/EXPERT.md.

    A submit with wait_ms is held (the worker's capacity bounds how many)
    and answered when the escalation is decided or its wait ends; the
    escalation itself lives on until its ttl, so a person can still decide
    and the verdict reaches the agent's retry. Who decides is the caller
    the broker authenticated, never a name in the body.

    Built so far: submit, list, show, decide, stats. Offering escalations
    to expert.<capability> workers and writing verdicts to the shared cache
    come next (issue 10 notes).
*/
#include "codec.h"
#include "expert_store.h"
#include "lh_dispatch.h"
#include "lh_log.h"
#include "lh_node.h"
#include "lh_worker.h"

#include <limits.h>

#define WAIT_MAX_MS    600000
#define TTL_DEFAULT_MS (24LL * 3600 * 1000)
#define TTL_MAX_MS     (7LL * 24 * 3600 * 1000)
#define SWEEP_MS       1000

static const lh_option_t s_options[] = {
    {"broker", "expert/broker", "tcp://127.0.0.1:5556", "broker backend endpoint", false},
    {"broker-key", "expert/broker_key", NULL, "broker public key (Z85); omit for plaintext", false},
    {"cert", "expert/cert", NULL, "this node's secret certificate", false},
    {"dir", "expert/dir", NULL, "data directory (expert.mdb)", false},
    {"queue-max", "expert/queue_max", "10000", "escalations waiting at most", false},
    {"map-size-mb", "expert/map_size_mb", "1024", "largest the store may grow (LMDB map)", false},
    {"capacity", "expert/capacity", "1024", "requests held at once (held submits count)", false},
    {"allow-self", "expert/allow_self", NULL,
     "an expert may decide its own agent's request (single-person setups)", true},
    {"log-level", "expert/log_level", "info", "debug, info, warn or error", false},
    {NULL, NULL, NULL, NULL, false},
};

//  A submit waiting for its escalation's end
typedef struct {
    lh_request_t *request;
    char id[EXPERT_ID_SIZE];
    int64_t until_ms;
} held_t;

typedef struct {
    expert_store_t *store;
    lh_worker_t *worker;
    zlistx_t *held; //  held_t
    bool allow_self;
    struct {
        uint64_t submitted, decided, expired, verdicts, refused, held_timeouts;
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
    lh_info ("escalation", "id=%s code=%s agent=%s capability=%s quorum=%u rule=%s", esc.id,
             esc.code, esc.agent, esc.capability, (unsigned) esc.quorum, esc.rule);
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
    lh_err_t rc = expert_store_decide (self->store, name, expert, streq (decision, "allow"), reason,
                                       self->allow_self, s_now (), &esc, why, sizeof (why));
    if (rc != LH_OK) {
        self->n.refused++;
        lh_warn ("verdict refused", "expert=%s escalation=%s error=%s why=\"%s\"", expert, name,
                 codec_err_name (rc), why);
        codec_pack_error (&buf->pk, id, rc, why);
        return false;
    }
    self->n.verdicts++;
    lh_info ("verdict", "escalation=%s expert=%s decision=%s state=%s", esc.id, expert, decision,
             s_state_name (esc.state));
    if (esc.state == EXPERT_DECIDED) {
        self->n.decided++;
        s_release (self, &esc);
    }
    codec_pack_ok_head (&buf->pk, id, 3);
    codec_pack_kv_str (&buf->pk, "escalation", esc.id);
    codec_pack_kv_str (&buf->pk, "state", s_state_name (esc.state));
    codec_pack_kv_u64 (&buf->pk, "allows", esc.allows);
    return false;
}

static bool
s_stats (expert_t *self, lh_request_t *request, codec_buf_t *buf)
{
    codec_pack_ok_head (&buf->pk, lh_request_id (request), 1);
    codec_pack_str (&buf->pk, "counters");
    msgpack_pack_map (&buf->pk, 8);
    codec_pack_kv_u64 (&buf->pk, "pending", expert_store_pending_count (self->store));
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
    lh_info ("escalation expired", "id=%s agent=%s capability=%s", esc->id, esc->agent,
             esc->capability);
    s_release (self, esc);
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
    expert_t self = {.allow_self = lh_config_bool (config, "expert/allow_self", false)};
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
    self.held = zlistx_new ();
    zlistx_set_destructor (self.held, s_held_destroy);
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
    lh_info ("serving", "service=expert broker=%s dir=%s pending=%zu", conn.endpoint, dir,
             expert_store_pending_count (self.store));
    int64_t next_sweep = 0;
    while (!zsys_interrupted) {
        lh_request_t *request = lh_worker_recv (self.worker, 100);
        if (request)
            s_handle (&self, request);
        int64_t now = s_now ();
        if (now >= next_sweep) {
            expert_store_expire (self.store, now, s_on_expired, &self);
            next_sweep = now + SWEEP_MS;
        }
        s_held_timeouts (&self, now);
    }
    lh_info ("stopping", "pending=%zu", expert_store_pending_count (self.store));
    rc = 0;
done:
    zlistx_destroy (&self.held);
    lh_worker_destroy (&self.worker);
    expert_store_destroy (&self.store);
    zcert_destroy (&cert);
    zconfig_destroy (&config);
    return rc;
}
