/*  policy -- the Lighthouse policy engine.

    A policy is a ZPL file (format: docs/POLICY.md) of ordered
    rules. policy_eval decides one tool call: for Bash it parses the command
    with the shell module and evaluates every simple command it would run
    (wrappers, substitutions and -c strings included) and every redirection;
    the most severe outcome wins (deny > escalate > allow). For file tools
    it evaluates the resolved file path. Unknown tools and unparseable input
    fail closed with the policy's own actions.

    policy_eval does not allocate on its hot path beyond what the shell
    parser needs, and is safe to call from one thread at a time per policy.
*/
#ifndef LH_POLICY_H_INCLUDED
#define LH_POLICY_H_INCLUDED

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>

//  In order of severity: a call's decision is the most severe of its parts.
//  DEFER is "no opinion": the agent's own permission flow applies.
typedef enum {
    POLICY_ALLOW = 0,
    POLICY_DEFER = 1,
    POLICY_ESCALATE = 2,
    POLICY_DENY = 3
} policy_action_t;
#define POLICY_ACTIONS 4
typedef enum { RISK_NONE = 0, RISK_LOW, RISK_MEDIUM, RISK_HIGH, RISK_CRITICAL } policy_risk_t;
//  escalate:CAPABILITY/N asks N distinct experts (docs/EXPERT.md, quorum)
#define POLICY_QUORUM_MAX 5

typedef struct {
    policy_action_t action;
    policy_risk_t risk;
    char capability[32]; //  for escalate: the expert capability asked for ("security")
    uint8_t quorum;      //  for escalate: distinct experts who must allow (1.."/5"); else 0
    char rule[64];       //  name of the rule that decided, or "default", "parse-error", ...
    char reason[256];    //  for people: why
} policy_decision_t;

typedef struct {
    const char *tool;            //  "Bash", "Write", "Edit", "Read", ...
    const msgpack_object *input; //  the tool's input map (Claude Code tool_input)
    const char *cwd;             //  absolute; relative paths resolve against it
    const char *home;            //  for ~ and $HOME; NULL: "/root"
    const char *project;         //  project root; NULL: cwd
    const char *role;            //  caller role from the broker ("agent", ...)
} policy_request_t;

typedef struct _policy_t policy_t;

//  Loads and checks a policy file. NULL with a message (file: rule/key: what)
//  in err when the file cannot be read or a rule is invalid.
policy_t *policy_load (const char *path, char *err, size_t err_size);
//  Same, from text in memory (name is used in messages).
policy_t *policy_load_text (const char *text, const char *name, char *err, size_t err_size);
void policy_destroy (policy_t **self_p);

//  Adds path patterns (POLICY.md "Path patterns", space-separated) to the
//  class `lighthouse`: the installation's own files (run directory, keys,
//  policy, env files, binaries). A policy without the class gets it after
//  its own classes. The validator calls it after every load with the paths
//  of its configuration. False with a message in err for a malformed
//  pattern; the policy is then unchanged.
bool policy_protect (policy_t *self, const char *patterns, char *err, size_t err_size);

//  The policy's version string (part of every decision cache key).
const char *policy_version (const policy_t *self);
size_t policy_rule_count (const policy_t *self);

void policy_eval (const policy_t *self, const policy_request_t *request,
                  policy_decision_t *decision);

const char *policy_action_name (policy_action_t action);
const char *policy_risk_name (policy_risk_t risk);

#endif
