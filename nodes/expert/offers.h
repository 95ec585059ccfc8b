/*  offers -- lh-expert handing pending escalations to automated experts.

    Each pending escalation is offered, as a "review" request, to the
    service expert.<capability> (docs/EXPERT.md section 4). A worker that
    accepts holds the escalation for review_ms: its verdict comes back as
    a decide, like a person's. An offer refused, failed, unanswered, or
    accepted and then left without a verdict (the worker died mid-review)
    is not a verdict: the escalation is offered again, to whichever worker
    the broker picks. A capability nobody serves (unknown_service,
    unavailable) is not asked again for CAPABILITY_BACKOFF_MS, so that
    escalations waiting for people cost nothing. Offers live in memory: a
    restarted lh-expert offers everything pending again.
*/
#ifndef LH_EXPERT_OFFERS_H_INCLUDED
#define LH_EXPERT_OFFERS_H_INCLUDED

#include "expert_store.h"
#include "lh_client.h"

#include <stdbool.h>
#include <stdint.h>

#define OFFERS_CAPABILITY_BACKOFF_MS 5000
#define OFFERS_RETRY_MS              1000

typedef struct _offers_t offers_t;

typedef struct {
    uint64_t offers;   //  review requests sent
    uint64_t accepted; //  accepted by a worker (escalation.assigned)
    uint64_t reoffers; //  offered again after a failure or a lapsed review
    uint64_t failed;   //  refused, failed or unanswered offers
} offers_counters_t;

//  Called when a worker accepted escalation id (for its event)
typedef void (offers_assigned_fn) (void *arg, const expert_esc_t *esc, uint32_t attempt);

//  Offers through client (borrowed: lh-expert's client of the frontend).
offers_t *offers_new (lh_client_t *client, int review_ms, offers_assigned_fn *assigned, void *arg);
void offers_destroy (offers_t **self_p);

//  Offers every pending escalation of store that is due (not in flight,
//  not held by a worker, its capability not backing off).
void offers_sweep (offers_t *self, expert_store_t *store, int64_t now_ms);

//  Offers esc now when it is due (just submitted, say).
void offers_offer (offers_t *self, expert_store_t *store, const expert_esc_t *esc, int64_t now_ms);

//  Takes reply if it answers an offer (true; the caller still destroys it).
bool offers_take (offers_t *self, expert_store_t *store, const lh_reply_t *reply, int64_t now_ms);

//  The escalation ended (decided, expired): no more offers.
void offers_forget (offers_t *self, const char *id);

const offers_counters_t *offers_counters (offers_t *self);

#endif
