/*  escalator -- the validator's escalations in flight. See escalator.h. */
#include "escalator.h"

#include "codec.h"
#include "lh_client.h"
#include "lh_idhash.h"
#include "lh_log.h"

#include <czmq.h>

//  lh_client's own deadline only frees what a dead service never answered:
//  every escalation ends by its own deadline long before
#define CLIENT_TIMEOUT_MS (600000 + 30000)

typedef enum { STAGE_CACHE, STAGE_EXPERT, STAGE_ENDED } stage_t;

typedef struct {
    lh_request_t *request;
    stage_t stage;
    uint64_t call;       //  the lh_client request in flight, 0 when none
    int64_t cache_until; //  mono ms: the cache's answer is a miss after this
    int64_t until;       //  mono ms: the escalation ends without a verdict after this
    int64_t wait_ms;
    uint8_t key[VALIDATOR_KEY_SIZE];
    codec_buf_t submit; //  the expert.submit body, packed at the start
    char decision[8];   //  "" until a verdict
    char by[LH_MAX_AGENT + 16];
    char reason[1200];
    char verdict_id[33], escalation[33], code[9];
    char agent[LH_MAX_AGENT + 1];
    char session[257];
} held_t;

//  A verdict from the shared cache, remembered for ESCALATOR_RECALL_MS
typedef struct {
    uint8_t key[VALIDATOR_KEY_SIZE];
    char decision[8];
    char reason[1200];
    char verdict_id[33];
    int64_t until; //  mono ms
} recall_t;

struct _escalator_t {
    lh_client_t *client;
    zlistx_t *held;      //  held_t, oldest first
    zhashx_t *calls;     //  lh_client request id -> held_t
    zhashx_t *per_agent; //  agent id -> escalations held (size_t)
    zhashx_t *recall;    //  "<key hex>/<agent>/<session>" -> recall_t
    recall_t last;       //  what escalator_recall returned
    size_t max;
    held_t *taken; //  the last escalator_next returned, freed by the next call
    escalator_counters_t n;
};

static void
s_held_destroy (held_t **self_p)
{
    if (*self_p) {
        held_t *h = *self_p;
        lh_request_destroy (&h->request);
        codec_buf_destroy (&h->submit);
        free (h);
        *self_p = NULL;
    }
}

static void
s_held_destructor (void **item)
{
    s_held_destroy ((held_t **) item);
}

static void
s_count_free (void **item)
{
    free (*item);
    *item = NULL;
}

escalator_t *
escalator_new (const lh_connect_t *conn, size_t max)
{
    lh_client_t *client = lh_client_new (conn);
    if (!client || max == 0) {
        lh_client_destroy (&client);
        return NULL;
    }
    lh_client_set_timeout (client, CLIENT_TIMEOUT_MS);
    //  A resend could hand lh-expert the same escalation twice
    lh_client_set_retries (client, 0);
    escalator_t *self = (escalator_t *) zmalloc (sizeof (escalator_t));
    self->client = client;
    self->held = zlistx_new ();
    zlistx_set_destructor (self->held, s_held_destructor);
    self->calls = lh_idhash_new ();
    self->per_agent = zhashx_new ();
    zhashx_set_destructor (self->per_agent, s_count_free);
    self->recall = zhashx_new ();
    zhashx_set_destructor (self->recall, s_count_free);
    self->max = max;
    return self;
}

void
escalator_destroy (escalator_t **self_p)
{
    if (self_p && *self_p) {
        escalator_t *self = *self_p;
        s_held_destroy (&self->taken);
        zhashx_destroy (&self->calls);
        zhashx_destroy (&self->per_agent);
        zhashx_destroy (&self->recall);
        zlistx_destroy (&self->held);
        lh_client_destroy (&self->client);
        free (self);
        *self_p = NULL;
    }
}

static void
s_end (escalator_t *self, held_t *h, const char *reason)
{
    if (h->call)
        zhashx_delete (self->calls, LH_IDKEY (h->call));
    h->call = 0;
    h->stage = STAGE_ENDED;
    if (!h->decision[0]) {
        self->n.unanswered++;
        snprintf (h->reason, sizeof (h->reason), "%s", reason ? reason : "no verdict");
    }
}

//  Sends body to service for h; NULL, or why it could not be sent
static const char *
s_call (escalator_t *self, held_t *h, const char *service, const void *body, size_t size)
{
    const char *why = NULL;
    uint64_t id = 0;
    if (lh_client_send (self->client, service, body, size, &id, &why) != LH_OK)
        return why ? why : "send failed";
    h->call = id;
    zhashx_insert (self->calls, LH_IDKEY (id), h);
    return NULL;
}

static void
s_submit (escalator_t *self, held_t *h)
{
    if (h->call)
        zhashx_delete (self->calls, LH_IDKEY (h->call));
    h->call = 0;
    h->stage = STAGE_EXPERT;
    const char *why = s_call (self, h, "expert", h->submit.sbuf.data, h->submit.sbuf.size);
    if (why) {
        char reason[256];
        snprintf (reason, sizeof (reason), "no expert could be asked (%s)", why);
        s_end (self, h, reason);
    } else
        self->n.submitted++;
}

bool
escalator_start (escalator_t *self, lh_request_t **request_p, const validator_escalation_t *esc)
{
    //  One agent holds at most an eighth: it cannot keep everyone else's
    //  escalations from their experts by waiting on many of its own
    size_t *mine = (size_t *) zhashx_lookup (self->per_agent, esc->agent);
    size_t agent_max = self->max / 8 ? self->max / 8 : 1;
    if (zlistx_size (self->held) >= self->max || (mine && *mine >= agent_max)) {
        self->n.refused++;
        return false;
    }
    if (!mine) {
        mine = (size_t *) zmalloc (sizeof (size_t));
        zhashx_insert (self->per_agent, esc->agent, mine);
    }
    (*mine)++;
    held_t *h = (held_t *) zmalloc (sizeof (held_t));
    snprintf (h->agent, sizeof (h->agent), "%s", esc->agent);
    snprintf (h->session, sizeof (h->session), "%s", esc->session);
    h->request = *request_p;
    *request_p = NULL;
    h->wait_ms = esc->wait_ms;
    memcpy (h->key, esc->key, sizeof (h->key));
    int64_t now = zclock_mono ();
    h->cache_until = now + ESCALATOR_CACHE_MS;
    h->until = now + esc->wait_ms + ESCALATOR_GRACE_MS;
    bool session = esc->session[0] != 0;

    codec_buf_init (&h->submit);
    msgpack_packer *pk = &h->submit.pk;
    msgpack_pack_map (pk, 13 + session);
    codec_pack_kv_str (pk, "op", "submit");
    codec_pack_str (pk, "request");
    msgpack_sbuffer_write (&h->submit.sbuf, esc->request.sbuf.data, esc->request.sbuf.size);
    codec_pack_kv_str (pk, "agent", esc->agent);
    if (session)
        codec_pack_kv_str (pk, "session", esc->session);
    codec_pack_kv_str (pk, "tool", esc->tool);
    codec_pack_kv_str (pk, "subject", esc->subject);
    codec_pack_kv_str (pk, "capability", esc->capability);
    codec_pack_kv_str (pk, "rule", esc->rule);
    codec_pack_kv_str (pk, "reason", esc->reason);
    codec_pack_kv_str (pk, "risk", esc->risk);
    codec_pack_kv_str (pk, "policy", esc->policy);
    codec_pack_str (pk, "key");
    msgpack_pack_bin (pk, sizeof (esc->key));
    msgpack_pack_bin_body (pk, esc->key, sizeof (esc->key));
    codec_pack_kv_u64 (pk, "quorum", esc->quorum);
    codec_pack_kv_u64 (pk, "wait_ms", (uint64_t) esc->wait_ms);

    zlistx_add_end (self->held, h);
    self->n.started++;

    codec_buf_t get;
    codec_buf_init (&get);
    pk = &get.pk;
    msgpack_pack_map (pk, 4 + session);
    codec_pack_kv_str (pk, "op", "get");
    codec_pack_kv_str (pk, "policy", esc->policy);
    codec_pack_str (pk, "key");
    msgpack_pack_bin (pk, sizeof (esc->key));
    msgpack_pack_bin_body (pk, esc->key, sizeof (esc->key));
    codec_pack_kv_str (pk, "agent", esc->agent);
    if (session)
        codec_pack_kv_str (pk, "session", esc->session);
    h->stage = STAGE_CACHE;
    if (s_call (self, h, "cache", get.sbuf.data, get.sbuf.size)) {
        //  No cache to ask is a miss, not the end
        self->n.cache_misses++;
        s_submit (self, h);
    }
    codec_buf_destroy (&get);
    return true;
}

//  Where a cache verdict for (key, agent, session) is remembered
static void
s_recall_name (const uint8_t *key, const char *agent, const char *session, char *out, size_t size)
{
    char hex[VALIDATOR_KEY_SIZE * 2 + 1];
    for (size_t i = 0; i < VALIDATOR_KEY_SIZE; i++)
        snprintf (hex + 2 * i, 3, "%02x", key[i]);
    snprintf (out, size, "%s/%s/%s", hex, agent, session);
}

bool
escalator_recall (escalator_t *self, const validator_escalation_t *esc,
                  validator_verdict_t *verdict)
{
    char name[VALIDATOR_KEY_SIZE * 2 + LH_MAX_AGENT + 260];
    s_recall_name (esc->key, esc->agent, esc->session, name, sizeof (name));
    recall_t *r = (recall_t *) zhashx_lookup (self->recall, name);
    if (!r)
        return false;
    if (zclock_mono () >= r->until) {
        zhashx_delete (self->recall, name);
        return false;
    }
    self->n.recalled++;
    self->last = *r;
    *verdict = (validator_verdict_t){.decision = self->last.decision,
                                     .by = "cache",
                                     .reason = self->last.reason,
                                     .verdict_id = self->last.verdict_id,
                                     .escalation = "",
                                     .code = "",
                                     .waited = esc->wait_ms > 0};
    memcpy (verdict->key, esc->key, sizeof (verdict->key));
    return true;
}

void
escalator_forget (escalator_t *self, const char *verdict_id)
{
    zlistx_t *names = zhashx_keys (self->recall);
    for (const char *name = (const char *) zlistx_first (names); name;
         name = (const char *) zlistx_next (names)) {
        recall_t *r = (recall_t *) zhashx_lookup (self->recall, name);
        if (r && streq (r->verdict_id, verdict_id))
            zhashx_delete (self->recall, name);
    }
    zlistx_destroy (&names);
}

static void
s_remember (escalator_t *self, const held_t *h, int64_t expires_ms)
{
    //  Never past the verdict's own end
    int64_t left = expires_ms - zclock_time ();
    if (left <= 0)
        return;
    if (zhashx_size (self->recall) >= ESCALATOR_RECALL_MAX)
        zhashx_purge (self->recall); //  a moment's memory: losing it costs a round trip
    recall_t *r = (recall_t *) zmalloc (sizeof (recall_t));
    memcpy (r->key, h->key, sizeof (r->key));
    snprintf (r->decision, sizeof (r->decision), "%s", h->decision);
    snprintf (r->reason, sizeof (r->reason), "%s", h->reason);
    snprintf (r->verdict_id, sizeof (r->verdict_id), "%s", h->verdict_id);
    r->until = zclock_mono () + (left < ESCALATOR_RECALL_MS ? left : ESCALATOR_RECALL_MS);
    char name[VALIDATOR_KEY_SIZE * 2 + LH_MAX_AGENT + 260];
    s_recall_name (h->key, h->agent, h->session, name, sizeof (name));
    zhashx_update (self->recall, name, r);
}

//  A str field of map into out; "" when absent or not a str
static void
s_copy (const msgpack_object *map, const char *key, char *out, size_t size)
{
    if (!codec_str_copy (codec_map_get (map, key), out, size))
        out[0] = 0;
}

static void
s_on_cache (escalator_t *self, held_t *h, lh_reply_t *reply)
{
    const msgpack_object *root = lh_reply_root (reply);
    const msgpack_object *verdict = root ? codec_map_get (root, "verdict") : NULL;
    char decision[8] = "";
    if (lh_reply_ok (reply) && verdict && verdict->type == MSGPACK_OBJECT_MAP)
        s_copy (verdict, "decision", decision, sizeof (decision));
    if (!streq (decision, "allow") && !streq (decision, "deny")) {
        if (!lh_reply_ok (reply))
            lh_debug ("verdict cache unavailable, treated as a miss", "error=%s message=\"%s\"",
                      lh_reply_code_name (reply), lh_reply_message (reply));
        self->n.cache_misses++;
        s_submit (self, h);
        return;
    }
    self->n.cache_hits++;
    char expert[LH_MAX_AGENT + 1], why[1025];
    s_copy (verdict, "expert", expert, sizeof (expert));
    s_copy (verdict, "reason", why, sizeof (why));
    snprintf (h->decision, sizeof (h->decision), "%s", decision);
    snprintf (h->by, sizeof (h->by), "cache");
    s_copy (verdict, "verdict_id", h->verdict_id, sizeof (h->verdict_id));
    snprintf (h->reason, sizeof (h->reason), "verdict %s of expert:%s: %s", h->verdict_id, expert,
              why[0] ? why : "(no reason given)");
    //  Only an identified verdict can be forgotten when revoked
    const msgpack_object *expires = codec_map_get (verdict, "expires_ms");
    if (strlen (h->verdict_id) == 32 && expires && expires->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        s_remember (self, h, (int64_t) expires->via.u64);
    s_end (self, h, NULL);
}

static void
s_on_expert (escalator_t *self, held_t *h, lh_reply_t *reply)
{
    char reason[300];
    if (!lh_reply_ok (reply)) {
        self->n.expert_errors++;
        snprintf (reason, sizeof (reason), "no expert could be asked (%s: %s)",
                  lh_reply_code_name (reply), lh_reply_message (reply));
        s_end (self, h, reason);
        return;
    }
    const msgpack_object *root = lh_reply_root (reply);
    s_copy (root, "escalation", h->escalation, sizeof (h->escalation));
    s_copy (root, "code", h->code, sizeof (h->code));
    char state[16];
    s_copy (root, "state", state, sizeof (state));
    const msgpack_object *verdict = codec_map_get (root, "verdict");
    char decision[8] = "";
    if (streq (state, "decided") && verdict && verdict->type == MSGPACK_OBJECT_MAP)
        s_copy (verdict, "decision", decision, sizeof (decision));
    if (streq (decision, "allow") || streq (decision, "deny")) {
        self->n.verdicts++;
        snprintf (h->decision, sizeof (h->decision), "%s", decision);
        s_copy (verdict, "by", h->by, sizeof (h->by));
        s_copy (verdict, "reason", h->reason, sizeof (h->reason));
        s_copy (verdict, "verdict_id", h->verdict_id, sizeof (h->verdict_id));
        //  lh-expert always names the expert; a verdict without one is not used
        if (strncmp (h->by, "expert:", 7) != 0 || !h->by[7]) {
            h->decision[0] = 0;
            self->n.verdicts--;
            s_end (self, h, "lh-expert sent a verdict that names no expert");
            return;
        }
        s_end (self, h, NULL);
        return;
    }
    if (streq (state, "expired"))
        s_end (self, h, "the escalation expired without a verdict");
    else if (h->wait_ms == 0)
        s_end (self, h, "escalated to experts; the request did not wait for a verdict");
    else {
        snprintf (reason, sizeof (reason), "no expert answered within %lld ms",
                  (long long) h->wait_ms);
        s_end (self, h, reason);
    }
}

//  Replies that arrived, then deadlines that passed
static void
s_advance (escalator_t *self)
{
    lh_reply_t *reply;
    while ((reply = lh_client_recv (self->client, 0))) {
        held_t *h = (held_t *) zhashx_lookup (self->calls, LH_IDKEY (lh_reply_id (reply)));
        if (h) {
            zhashx_delete (self->calls, LH_IDKEY (h->call));
            h->call = 0;
            if (h->stage == STAGE_CACHE)
                s_on_cache (self, h, reply);
            else if (h->stage == STAGE_EXPERT)
                s_on_expert (self, h, reply);
        }
        lh_reply_destroy (&reply);
    }
    int64_t now = zclock_mono ();
    for (held_t *h = (held_t *) zlistx_first (self->held); h;
         h = (held_t *) zlistx_next (self->held)) {
        if (h->stage == STAGE_CACHE && now >= h->cache_until) {
            self->n.cache_misses++;
            s_submit (self, h);
        }
        if (h->stage == STAGE_EXPERT && now >= h->until) {
            char reason[200];
            snprintf (reason, sizeof (reason), "no answer from lh-expert within %lld ms",
                      (long long) (h->wait_ms + ESCALATOR_GRACE_MS));
            s_end (self, h, reason);
        }
    }
}

lh_request_t *
escalator_next (escalator_t *self, validator_verdict_t *verdict)
{
    s_held_destroy (&self->taken);
    s_advance (self);
    for (held_t *h = (held_t *) zlistx_first (self->held); h;
         h = (held_t *) zlistx_next (self->held)) {
        if (h->stage != STAGE_ENDED)
            continue;
        zlistx_detach_cur (self->held);
        self->taken = h;
        size_t *mine = (size_t *) zhashx_lookup (self->per_agent, h->agent);
        if (mine && --*mine == 0)
            zhashx_delete (self->per_agent, h->agent);
        *verdict = (validator_verdict_t){.decision = h->decision[0] ? h->decision : NULL,
                                         .by = h->by,
                                         .reason = h->reason,
                                         .verdict_id = h->verdict_id,
                                         .escalation = h->escalation,
                                         .code = h->code,
                                         .waited = h->wait_ms > 0};
        memcpy (verdict->key, h->key, sizeof (h->key));
        lh_request_t *request = h->request;
        h->request = NULL;
        return request;
    }
    return NULL;
}

void
escalator_end_all (escalator_t *self, const char *reason)
{
    for (held_t *h = (held_t *) zlistx_first (self->held); h;
         h = (held_t *) zlistx_next (self->held))
        if (h->stage != STAGE_ENDED)
            s_end (self, h, reason);
}

int
escalator_next_ms (escalator_t *self)
{
    if (zlistx_size (self->held) == 0)
        return -1;
    s_advance (self);
    int64_t now = zclock_mono (), next = INT64_MAX;
    for (held_t *h = (held_t *) zlistx_first (self->held); h;
         h = (held_t *) zlistx_next (self->held)) {
        int64_t at = h->stage == STAGE_ENDED   ? now
                     : h->stage == STAGE_CACHE ? h->cache_until
                                               : h->until;
        if (at < next)
            next = at;
    }
    return next <= now ? 0 : (int) (next - now);
}

int
escalator_fd (escalator_t *self)
{
    return lh_client_fd (self->client);
}

size_t
escalator_held (escalator_t *self)
{
    return zlistx_size (self->held);
}

const escalator_counters_t *
escalator_counters (escalator_t *self)
{
    return &self->n;
}
