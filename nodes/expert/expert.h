/*  expert -- lh-expert's parts, shared by its files (the node's own, not a
    library). docs/EXPERT.md is the contract.

    main.c          options, the loop, held submits whose wait ends
    expert_ops.c    the operations of service "expert" (section 3)
    expert_tell.c   what lh-expert tells others: answers to held submits,
                    events for the log, queue changes on PUB, verdicts to
                    the cache and revocations
    offers.c        reviews offered to automated experts (section 4)
    expert_store.c  the durable queue
*/
#ifndef LH_EXPERT_H_INCLUDED
#define LH_EXPERT_H_INCLUDED

#include "codec.h"
#include "event.h"
#include "expert_store.h"
#include "lh_client.h"
#include "lh_worker.h"
#include "offers.h"
#include "spool.h"

#include <czmq.h>

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
    lh_client_t *front;  //  NULL without --frontend
    zhashx_t *calls;     //  request id -> call_t
    offers_t *offers;    //  NULL without --frontend
    spool_t *spool;      //  NULL without --frontend
    zhashx_t *per_agent; //  agent id -> pending escalations (size_t)
    size_t agent_max;
    int64_t verdict_ttl, max_ttl;
    struct {
        uint64_t submitted, decided, expired, verdicts, refused, held_timeouts, late_verdicts,
            remembered, revoked, cache_errors, joined;
    } n;
} expert_t;

//  expert_ops.c: answers request (or holds it: a waiting submit, a decide
//  or revoke waiting for the cache)
void expert_handle (expert_t *self, lh_request_t *request);
//  The counters map of op "stats" (lh status, --metrics)
void expert_pack_counters (expert_t *self, msgpack_packer *pk);

//  expert_tell.c
int64_t expert_now (void); //  wall clock, ms: deadlines are stored as such
const char *expert_state_name (expert_state_t state);
//  The map an escalation shows to reviewers (list, show, PUB), extra pairs to follow
void expert_pack_summary (msgpack_packer *pk, const expert_esc_t *esc, int64_t now, size_t extra);
void expert_pack_verdict (msgpack_packer *pk, const expert_esc_t *esc);
void expert_pack_submit_reply (codec_buf_t *buf, const msgpack_object *id, const expert_esc_t *esc);
void expert_pack_decide_reply (codec_buf_t *buf, const msgpack_object *id, const expert_esc_t *esc,
                               const char *expert, const char *scope, const char *verdict_id,
                               int64_t expires_ms, bool remembered);
//  Answers every held submit of esc (now decided or expired)
void expert_release (expert_t *self, const expert_esc_t *esc);
//  Pending escalations per agent: counted, released, counted at start
size_t *expert_agent_count (expert_t *self, const char *agent);
void expert_agent_done (expert_t *self, const char *agent);
bool expert_count_pending (const expert_esc_t *esc, void *arg);
void expert_count_free (void **item);
void expert_held_destroy (void **item);
void expert_call_destroy (void **item);
//  Events, and the queue change on PUB
void expert_publish (expert_t *self, const char *change, const expert_esc_t *esc);
void expert_event_requested (expert_t *self, const expert_esc_t *esc, int64_t wait_ms);
offers_assigned_fn expert_event_assigned;
void expert_event_verdict (expert_t *self, const expert_esc_t *esc, const char *expert,
                           const char *decision, const char *reason, const char *scope, int64_t ttl,
                           const char *verdict_id, bool late);
//  expert_store_expire's callback: released, published, logged
void expert_on_expired (const expert_esc_t *esc, void *arg);
bool expert_call_put (expert_t *self, lh_request_t *request, const expert_esc_t *esc,
                      const char *expert, const char *scope, int64_t ttl);
bool expert_call_revoke (expert_t *self, lh_request_t *request, const char *verdict_id);
//  Takes the frontend's replies: offers, puts, revocations
void expert_front_replies (expert_t *self);

#endif
