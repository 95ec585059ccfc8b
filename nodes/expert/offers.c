/*  offers -- escalations offered to automated experts. See offers.h. */
#include "offers.h"

#include "codec.h"
#include "lh_idhash.h"
#include "lh_log.h"

#include <czmq.h>

typedef struct {
    char id[EXPERT_ID_SIZE];
    char capability[32];
    uint64_t call;       //  the review request in flight, 0 when none
    int64_t next_ms;     //  not offered before this (retry after a failure)
    int64_t lease_until; //  a worker holds it until this
    uint32_t attempts;   //  offers sent
    bool ended;          //  decided or expired while its offer was in flight
} offer_t;

struct _offers_t {
    lh_client_t *client;
    int review_ms;
    offers_assigned_fn *assigned;
    void *arg;
    zhashx_t *offers; //  escalation id -> offer_t
    zhashx_t *calls;  //  request id -> offer_t (borrowed from offers)
    zhashx_t *idle;   //  capability -> until (ms, boxed): nobody serves it
    int64_t now;      //  for the sweep's callback
    expert_store_t *store;
    offers_counters_t n;
};

static void
s_free (void **item)
{
    free (*item);
    *item = NULL;
}

offers_t *
offers_new (lh_client_t *client, int review_ms, offers_assigned_fn *assigned, void *arg)
{
    offers_t *self = (offers_t *) zmalloc (sizeof (offers_t));
    self->client = client;
    self->review_ms = review_ms > 0 ? review_ms : 60000;
    self->assigned = assigned;
    self->arg = arg;
    self->offers = zhashx_new ();
    zhashx_set_destructor (self->offers, s_free);
    self->calls = lh_idhash_new ();
    self->idle = zhashx_new ();
    zhashx_set_destructor (self->idle, s_free);
    return self;
}

void
offers_destroy (offers_t **self_p)
{
    if (self_p && *self_p) {
        offers_t *self = *self_p;
        zhashx_destroy (&self->calls);
        zhashx_destroy (&self->offers);
        zhashx_destroy (&self->idle);
        free (self);
        *self_p = NULL;
    }
}

static bool
s_idle (offers_t *self, const char *capability)
{
    int64_t *until = (int64_t *) zhashx_lookup (self->idle, capability);
    return until && *until > self->now;
}

static void
s_offer (offers_t *self, offer_t *offer)
{
    expert_esc_t esc;
    void *request = NULL;
    size_t size = 0;
    if (expert_store_get (self->store, offer->id, &esc, &request, &size) != LH_OK ||
        esc.state != EXPERT_PENDING)
        return;
    codec_buf_t body;
    codec_buf_init (&body);
    msgpack_packer *pk = &body.pk;
    msgpack_pack_map (pk, 11);
    codec_pack_kv_str (pk, "op", "review");
    codec_pack_kv_str (pk, "escalation", esc.id);
    codec_pack_kv_str (pk, "agent", esc.agent);
    codec_pack_kv_str (pk, "tool", esc.tool);
    codec_pack_kv_str (pk, "subject", esc.subject);
    codec_pack_kv_str (pk, "capability", esc.capability);
    codec_pack_kv_str (pk, "rule", esc.rule);
    codec_pack_kv_str (pk, "policy", esc.policy);
    codec_pack_kv_u64 (pk, "quorum", esc.quorum);
    codec_pack_kv_i64 (pk, "deadline_ms", esc.expires_ms);
    codec_pack_str (pk, "request");
    msgpack_sbuffer_write (&body.sbuf, (const char *) request, size);
    free (request);
    char service[LH_MAX_SERVICE + 1];
    snprintf (service, sizeof (service), "expert.%s", esc.capability);
    uint64_t id = 0;
    const char *why = NULL;
    if (lh_client_send (self->client, service, body.sbuf.data, body.sbuf.size, &id, &why) ==
        LH_OK) {
        offer->call = id;
        if (offer->attempts++ > 0)
            self->n.reoffers++;
        self->n.offers++;
        zhashx_insert (self->calls, LH_IDKEY (id), offer);
    } else {
        self->n.failed++;
        offer->next_ms = self->now + OFFERS_RETRY_MS;
        lh_warn ("offer not sent", "escalation=%s service=%s why=\"%s\"", esc.id, service,
                 why ? why : "-");
    }
    codec_buf_destroy (&body);
}

//  expert_store_pending's callback: offers esc when it is due
static bool
s_sweep_one (const expert_esc_t *esc, void *arg)
{
    offers_t *self = (offers_t *) arg;
    if (esc->expires_ms <= zclock_time ())
        return true;
    offer_t *offer = (offer_t *) zhashx_lookup (self->offers, esc->id);
    if (!offer) {
        offer = (offer_t *) zmalloc (sizeof (offer_t));
        memcpy (offer->id, esc->id, sizeof (offer->id));
        snprintf (offer->capability, sizeof (offer->capability), "%s", esc->capability);
        zhashx_insert (self->offers, esc->id, offer);
    }
    if (offer->call || offer->lease_until > self->now || offer->next_ms > self->now ||
        s_idle (self, esc->capability))
        return true;
    if (offer->lease_until)
        lh_info ("review lapsed without a verdict: offered again", "escalation=%s capability=%s",
                 esc->id, esc->capability);
    offer->lease_until = 0;
    s_offer (self, offer);
    return true;
}

void
offers_sweep (offers_t *self, expert_store_t *store, int64_t now_ms)
{
    self->now = now_ms;
    self->store = store;
    expert_store_pending (store, s_sweep_one, self);
}

void
offers_offer (offers_t *self, expert_store_t *store, const expert_esc_t *esc, int64_t now_ms)
{
    self->now = now_ms;
    self->store = store;
    s_sweep_one (esc, self);
}

bool
offers_take (offers_t *self, expert_store_t *store, const lh_reply_t *reply, int64_t now_ms)
{
    offer_t *offer = (offer_t *) zhashx_lookup (self->calls, LH_IDKEY (lh_reply_id (reply)));
    if (!offer)
        return false;
    zhashx_delete (self->calls, LH_IDKEY (offer->call));
    offer->call = 0;
    const msgpack_object *root = lh_reply_root (reply);
    //  A worker that accepts and decides at once may have its verdict read
    //  before its acceptance: the acceptance is still a step of the story
    bool ended = offer->ended;
    const msgpack_object *accepted = root ? codec_map_get (root, "accepted") : NULL;
    if (lh_reply_ok (reply) && accepted && accepted->type == MSGPACK_OBJECT_BOOLEAN &&
        accepted->via.boolean) {
        self->n.accepted++;
        offer->lease_until = now_ms + self->review_ms;
        expert_esc_t esc;
        if (self->assigned && expert_store_get (store, offer->id, &esc, NULL, NULL) == LH_OK)
            self->assigned (self->arg, &esc, offer->attempts);
        if (ended)
            zhashx_delete (self->offers, offer->id);
        return true;
    }
    if (ended) {
        zhashx_delete (self->offers, offer->id);
        return true;
    }
    self->n.failed++;
    lh_err_t code = lh_reply_code (reply);
    if (code == LH_E_UNKNOWN_SERVICE || code == LH_E_UNAVAILABLE) {
        //  Nobody serves the capability: people will judge, offers wait
        int64_t *until = (int64_t *) zhashx_lookup (self->idle, offer->capability);
        if (!until) {
            until = (int64_t *) zmalloc (sizeof (int64_t));
            zhashx_insert (self->idle, offer->capability, until);
        }
        *until = now_ms + OFFERS_CAPABILITY_BACKOFF_MS;
    } else
        lh_warn ("offer failed", "escalation=%s error=%s message=\"%s\"", offer->id,
                 lh_reply_code_name (reply), lh_reply_message (reply));
    offer->next_ms = now_ms + OFFERS_RETRY_MS;
    return true;
}

void
offers_forget (offers_t *self, const char *id)
{
    offer_t *offer = (offer_t *) zhashx_lookup (self->offers, id);
    if (!offer)
        return;
    if (offer->call)
        offer->ended = true; //  its answer still comes: offers_take ends it
    else
        zhashx_delete (self->offers, id);
}

const offers_counters_t *
offers_counters (offers_t *self)
{
    return &self->n;
}
