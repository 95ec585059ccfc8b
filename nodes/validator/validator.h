/*  validator -- the "validate" service: requests in, decisions out.

    Request map: {id, tool: str, input: map, cwd: str (absolute), home?: str,
    project?: str, session?: str, tool_use_id?: str, permission_mode?: str
    (those three at most 256 bytes), wait_ms?: uint} or, for admins and
    nodes, {id, op: "stats" | "reload"}. Reply map: {id, ok: true, decision:
    "allow" | "defer" | "escalate" | "deny", by, rule, reason, risk,
    capability and quorum (escalate only), escalation, code, verdict_id
    (when an escalation had them), cached: bool, policy: version}
    (docs/POLICY.md, docs/EXPERT.md section 2.1). Decisions are cached (L1, keyed
    by policy version, tool, normalised input, paths and caller role) and
    described twice, secrets redacted (redact.h): a short notice for the PUB
    socket and the data of a "validation.decision" event for the log.
*/
#ifndef LH_VALIDATOR_H_INCLUDED
#define LH_VALIDATOR_H_INCLUDED

#include "codec.h"
#include "lh_proto.h"
#include "redact.h"

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _validator_t validator_t;

//  Loads the policy file and adds protect (NULL: nothing) to its class
//  `lighthouse` (policy_protect); NULL with a message in err. redact is
//  borrowed and must outlive the validator.
validator_t *validator_new (const char *policy_path, size_t cache_size, const char *home,
                            const char *protect, redact_t *redact, char *err, size_t err_size);
void validator_destroy (validator_t **self_p);

//  Called after every successful load (the first one included, from
//  validator_set_on_load itself) with who asked: the caller's agent id and
//  role for op "reload", or what the caller of validator_reload said.
typedef void (validator_on_load_fn) (void *arg, validator_t *validator, const char *by,
                                     const char *role);
void validator_set_on_load (validator_t *self, validator_on_load_fn *fn, void *arg);

//  Answers one request: the complete reply map goes to reply. When a
//  decision was made the function returns true, appends a notice map to
//  notice (time_ms, agent, role, tool, decision, rule, latency_us (time spent
//  deciding), by, risk, cwd, subject, policy, and session, tool_use_id, permission_mode when given)
//  and, when event is not NULL, the data map of its validation.decision event to event
//  (docs/EVENTS.md section 2.5).
bool validator_handle (validator_t *self, const msgpack_object *body, const char *agent,
                       const char *role, codec_buf_t *reply, codec_buf_t *notice,
                       codec_buf_t *event);

//  What an escalated request needs on its way to the shared verdict cache
//  and the experts (docs/EXPERT.md, docs/CACHE.md section 8).
#define VALIDATOR_KEY_SIZE 32
typedef struct {
    uint8_t key[VALIDATOR_KEY_SIZE]; //  the request key: BLAKE2b-256 of what decides
    int64_t wait_ms;                 //  how long the caller waits for a verdict
    char agent[LH_MAX_AGENT + 1];
    char session[257];
    char tool[65];
    char subject[257]; //  redacted, as a notice quotes it
    char capability[32];
    char rule[64];
    char reason[256];
    char risk[16];
    uint8_t quorum;
    char policy[129];
    codec_buf_t request; //  {tool, input (redacted), cwd, home, project}; the caller inits it
} validator_escalation_t;

//  How an escalation ended, for validator_decide's second call
typedef struct {
    uint8_t key[VALIDATOR_KEY_SIZE]; //  the escalation's; a verdict for another key is not used
    const char *decision;            //  "allow" or "deny"; NULL when no verdict came
    const char *by;                  //  "cache" or "expert:<agent id>"
    const char *reason;              //  the verdict's, or why there is none
    const char *verdict_id;          //  "" when none
    const char *escalation;          //  the escalation's id, "" when none was made
    const char *code;                //  its approval code, "" when none
    bool waited;                     //  the caller waited (wait_ms > 0): no verdict is a deny
} validator_verdict_t;

typedef enum {
    VALIDATOR_ANSWERED = 0, //  reply holds an error or an operation's answer
    VALIDATOR_DECIDED,      //  reply, notice (and event) hold a decision
    VALIDATOR_ESCALATED,    //  escalation is filled; nothing was packed
} validator_result_t;

//  validator_handle, with escalations taken apart: given escalation (and
//  no verdict), a request the policy escalates comes back ESCALATED, for
//  the caller to ask the verdict cache and the experts without blocking;
//  called again with the same body and the verdict (or its absence), it
//  answers with it (by: "cache" | "expert:<id>"), or with the fallback:
//  deny when the caller waited, else escalate, the reason carrying the
//  approval code. A verdict is used only while the policy still escalates
//  the same request key (a reload in between is answered afresh).
validator_result_t validator_decide (validator_t *self, const msgpack_object *body,
                                     const char *agent, const char *role,
                                     const validator_verdict_t *verdict,
                                     validator_escalation_t *escalation, codec_buf_t *reply,
                                     codec_buf_t *notice, codec_buf_t *event);

//  Packs the data map of a policy.loaded event for the policy in force.
void validator_pack_loaded (validator_t *self, const char *by, const char *role,
                            msgpack_packer *pk);

//  Loads the policy file again; on error keeps the current policy and
//  returns -1 with a message in err. Clears the cache on success and
//  calls the on_load function with by ("signal", "announcement") and role "".
int validator_reload (validator_t *self, const char *by, char *err, size_t err_size);
//  SHA-256 (hex) of the policy file's bytes in force.
const char *validator_policy_sha256 (validator_t *self);
const char *validator_policy_version (validator_t *self);

//  The counters map op "stats" reports (lh status, --metrics).
void validator_pack_counters (validator_t *self, msgpack_packer *pk);

//  Adds a counter kept elsewhere to what op "stats" reports; name and
//  value must stay valid while requests are handled. -1 when
//  VALIDATOR_EXTRA are taken.
#define VALIDATOR_EXTRA 32
int validator_add_counter (validator_t *self, const char *name, const uint64_t *value);

#endif
