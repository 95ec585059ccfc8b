/*  validator -- the "validate" service: requests in, decisions out.

    Request map: {id, tool: str, input: map, cwd: str (absolute), home?: str,
    project?: str, session?: str, tool_use_id?: str, permission_mode?: str
    (those three at most 256 bytes)} or, for admins and nodes, {id, op:
    "stats" | "reload"}. Reply map: {id, ok: true, decision: "allow" |
    "defer" | "escalate" | "deny", rule, reason, risk, capability (escalate
    only), cached: bool, policy: version}. Decisions are cached (L1, keyed
    by policy version, tool, normalised input, paths and caller role) and
    described twice, secrets redacted (redact.h): a short notice for the PUB
    socket and the data of a "validation.decision" event for the log.
*/
#ifndef LH_VALIDATOR_H_INCLUDED
#define LH_VALIDATOR_H_INCLUDED

#include "codec.h"
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
//  notice (time_ms, agent, role, tool, decision, rule, risk, cwd, subject,
//  policy, and session, tool_use_id, permission_mode when given) and, when
//  event is not NULL, the data map of its validation.decision event to
//  event (docs/EVENTS.md section 2.5).
bool validator_handle (validator_t *self, const msgpack_object *body, const char *agent,
                       const char *role, codec_buf_t *reply, codec_buf_t *notice,
                       codec_buf_t *event);

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

//  Adds a counter kept elsewhere to what op "stats" reports; name and
//  value must stay valid while requests are handled. -1 when
//  VALIDATOR_EXTRA are taken.
#define VALIDATOR_EXTRA 16
int validator_add_counter (validator_t *self, const char *name, const uint64_t *value);

#endif
