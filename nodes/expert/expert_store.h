/*  expert_store -- the expert node's durable queue of escalations.

    One LMDB file (DIR/expert.mdb) holds every escalation from its submit
    to its end, the approval codes that name live ones, and each expert's
    verdict on each, so that a restart of lh-expert loses nothing pending
    and a quorum counts distinct experts across restarts. Every change is
    one transaction, synced before the call returns: what a caller was told
    is stored, is stored. See docs/EXPERT.md for the rules it enforces:
    the queue bound, quorum (any deny decides at once), no second verdict
    by the same expert, no verdict by the asking agent's own key unless
    allowed, and no verdict once decided or expired.
*/
#ifndef EXPERT_STORE_H_INCLUDED
#define EXPERT_STORE_H_INCLUDED

#include "lh_proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXPERT_ID_SIZE     33 //  16 random bytes in hex, and the NUL
#define EXPERT_CODE_SIZE   9  //  8 characters of Crockford base32, and the NUL
#define EXPERT_REASON_MAX  1024
#define EXPERT_QUORUM_MAX  5
#define EXPERT_REQUEST_MAX (LH_MAX_BODY)

typedef enum {
    EXPERT_PENDING = 0,
    EXPERT_DECIDED,
    EXPERT_EXPIRED,
} expert_state_t;

typedef struct {
    char id[EXPERT_ID_SIZE];
    char code[EXPERT_CODE_SIZE];
    char agent[LH_MAX_AGENT + 1];  //  who asked
    char session[257];             //  the agent's session, "" when none
    char tool[LH_MAX_SERVICE + 1]; //  the tool it asked about
    char subject[257];             //  what a notice quotes (redacted)
    char capability[32];           //  who must judge
    char rule[64];                 //  the rule that escalated
    char policy[64];               //  the policy version
    uint8_t key[32];               //  the request's cache key
    uint8_t quorum;                //  experts who must allow, 1..EXPERT_QUORUM_MAX
    uint8_t allows;                //  distinct experts who allowed so far
    expert_state_t state;
    bool allowed;                       //  when decided: the outcome
    char by[LH_MAX_AGENT + 8];          //  when decided: "expert:<agent id>"
    char reason[EXPERT_REASON_MAX + 1]; //  when decided: the deciding expert's reason
    int64_t created_ms, expires_ms;     //  wall clock; pending past expires_ms is expired
} expert_esc_t;

typedef struct _expert_store_t expert_store_t;

//  Opens (creating) DIR/expert.mdb holding at most queue_max pending
//  escalations in a map of map_bytes. NULL with a message in err.
expert_store_t *expert_store_open (const char *dir, size_t queue_max, size_t map_bytes, char *err,
                                   size_t err_size);
void expert_store_destroy (expert_store_t **self_p);

//  Stores a new escalation: esc's request fields (agent, session, tool,
//  subject, capability, rule, policy, key, quorum, expires_ms) as given;
//  id, code, state, created_ms are set here and written back into esc.
//  request (msgpack, at most EXPERT_REQUEST_MAX bytes) is kept with it.
//  LH_OK, LH_E_OVERLOADED when queue_max are pending, LH_E_BAD_REQUEST for
//  bad fields, LH_E_INTERNAL when the store cannot commit (why says).
lh_err_t expert_store_submit (expert_store_t *self, expert_esc_t *esc, const void *request,
                              size_t request_size, int64_t now_ms, char *why, size_t why_size);

//  The escalation named by an id or an approval code, into esc. With
//  request_p, a copy of its request (the caller frees it). LH_OK or
//  LH_E_NOT_FOUND.
lh_err_t expert_store_get (expert_store_t *self, const char *id_or_code, expert_esc_t *esc,
                           void **request_p, size_t *request_size);

//  One expert's verdict. expert is the deciding key's agent id as the
//  broker authenticated it; allow_self lets it decide its own agent's
//  request. On LH_OK esc is the escalation after the verdict (decided when
//  a deny came, or the quorum of allows is reached). LH_E_NOT_FOUND for an
//  unknown, decided or expired escalation, LH_E_FORBIDDEN for the asking
//  agent's own key or a second verdict by the same expert, LH_E_BAD_REQUEST
//  for a reason over EXPERT_REASON_MAX; why says which.
lh_err_t expert_store_decide (expert_store_t *self, const char *id_or_code, const char *expert,
                              bool allow, const char *reason, bool allow_self, int64_t now_ms,
                              expert_esc_t *esc, char *why, size_t why_size);

//  Marks pending escalations past their expires_ms expired and frees their
//  codes; calls on_expired for each (may be NULL). Returns how many.
size_t expert_store_expire (expert_store_t *self, int64_t now_ms,
                            void (*on_expired) (const expert_esc_t *esc, void *arg), void *arg);

//  Calls fn for each pending escalation, oldest first, until fn returns
//  false. Returns how many were visited.
size_t expert_store_pending (expert_store_t *self, bool (*fn) (const expert_esc_t *esc, void *arg),
                             void *arg);

//  Pending escalations now.
size_t expert_store_pending_count (expert_store_t *self);

#endif
