/*  validator -- the "validate" service: requests in, decisions out.

    Request map: {id, tool: str, input: map, cwd: str (absolute), home?: str,
    project?: str, session?: str} or, for admins, {id, op: "stats" | "reload"}.
    Reply map: {id, ok: true, decision: "allow" | "deny" | "escalate", rule,
    reason, risk, capability (escalate only), cached: bool, policy: version}.
    Decisions are cached (L1, keyed by policy version, tool, normalised
    input, paths and caller role) and described in a notice for the PUB
    socket.
*/
#ifndef LH_VALIDATOR_H_INCLUDED
#define LH_VALIDATOR_H_INCLUDED

#include "codec.h"

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _validator_t validator_t;

//  Loads the policy file; NULL with a message in err.
validator_t *validator_new (const char *policy_path, size_t cache_size, const char *home, char *err,
                            size_t err_size);
void validator_destroy (validator_t **self_p);

//  Answers one request: the complete reply map goes to reply; when a
//  decision was made, a notice map (time_ms, agent, role, tool, decision,
//  rule, risk, cwd, subject, policy) is appended to notice and the
//  function returns true.
bool validator_handle (validator_t *self, const msgpack_object *body, const char *agent,
                       const char *role, codec_buf_t *reply, codec_buf_t *notice);

//  Loads the policy file again; on error keeps the current policy and
//  returns -1 with a message in err. Clears the cache on success.
int validator_reload (validator_t *self, char *err, size_t err_size);
const char *validator_policy_version (validator_t *self);

//  Adds a counter kept elsewhere to what op "stats" reports; name and
//  value must stay valid while requests are handled. -1 when
//  VALIDATOR_EXTRA are taken.
#define VALIDATOR_EXTRA 16
int validator_add_counter (validator_t *self, const char *name, const uint64_t *value);

#endif
