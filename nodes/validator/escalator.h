/*  escalator -- the validator's escalations, in flight without blocking.

    A request the policy escalates is held here while two services are
    asked in turn through the broker's frontend: the shared verdict cache
    (cache.get, docs/CACHE.md section 8), then, without a live verdict,
    lh-expert (expert.submit with the caller's wait_ms, which lh-expert
    holds until a verdict or the wait's end; docs/EXPERT.md). Each request
    has its own deadline, the caller's wait plus ESCALATOR_GRACE_MS: when
    it passes, or a service is missing or fails, the escalation ends
    without a verdict and the validator answers its fallback. Nothing here
    blocks; replies that come after an end are dropped.
*/
#ifndef LH_ESCALATOR_H_INCLUDED
#define LH_ESCALATOR_H_INCLUDED

#include "lh_connect.h"
#include "lh_worker.h"
#include "validator.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ESCALATOR_CACHE_MS   250  //  a cache that has not answered by then is a miss
#define ESCALATOR_GRACE_MS   750  //  lh-expert's answer after the caller's wait
#define ESCALATOR_RECALL_MS  2000 //  a verdict from the cache is reused this long here
#define ESCALATOR_RECALL_MAX 4096 //  verdicts remembered at most

typedef struct _escalator_t escalator_t;

//  A client of the broker's frontend (conn is copied; conn->cert is
//  borrowed) holding at most max escalations. NULL on bad arguments.
escalator_t *escalator_new (const lh_connect_t *conn, size_t max);
void escalator_destroy (escalator_t **self_p);

//  Takes the request (request_p is nulled) and starts its escalation.
//  False, leaving the request with the caller, when max are held, or an
//  eighth of max for the same agent.
bool escalator_start (escalator_t *self, lh_request_t **request_p,
                      const validator_escalation_t *escalation);

//  Takes the replies that arrived and the deadlines that passed; returns
//  the next ended escalation's request (the caller owns it) with how it
//  ended in verdict (valid until the next call), or NULL.
lh_request_t *escalator_next (escalator_t *self, validator_verdict_t *verdict);

//  A live verdict the shared cache gave for the same request (key, agent
//  and session) at most ESCALATOR_RECALL_MS ago: true, with verdict filled
//  (valid until the next call). The validator answers it at once, which
//  keeps a remembered verdict as fast as a policy decision; a revocation
//  reaches here through escalator_forget, and the short life bounds what a
//  lost notice costs.
bool escalator_recall (escalator_t *self, const validator_escalation_t *escalation,
                       validator_verdict_t *verdict);
//  A verdict was revoked (lh-cache's "cache.revoked" notice): never recalled again.
void escalator_forget (escalator_t *self, const char *verdict_id);

//  Ends every escalation still waiting, without a verdict (at shutdown).
void escalator_end_all (escalator_t *self, const char *reason);

//  Takes the replies that arrived; ms until escalator_next has work (0:
//  now), or -1 when nothing is held.
int escalator_next_ms (escalator_t *self);
//  For the event loop (lh_client_fd).
int escalator_fd (escalator_t *self);
size_t escalator_held (escalator_t *self);

typedef struct {
    uint64_t started;       //  escalations taken
    uint64_t refused;       //  not taken: max were held
    uint64_t recalled;      //  answered from a verdict remembered here
    uint64_t cache_hits;    //  ended by a live verdict in the shared cache
    uint64_t cache_misses;  //  the cache had none, failed or was late
    uint64_t submitted;     //  handed to lh-expert
    uint64_t expert_errors; //  lh-expert refused or failed (overloaded, down, ...)
    uint64_t verdicts;      //  ended by an expert's verdict
    uint64_t unanswered;    //  ended without a verdict (wait over, expired, late)
} escalator_counters_t;
const escalator_counters_t *escalator_counters (escalator_t *self);

#endif
