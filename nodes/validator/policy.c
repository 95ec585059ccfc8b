/*  policy -- the Lighthouse policy engine (see policy.h, POLICY.md).

    Loading turns the ZPL text into rules with pre-compiled patterns and
    two indexes: rules naming literal commands are found through a hash
    table keyed by command name, rules naming literal tools (for the file
    and other tools) through a second one; every other rule sits on a
    scan list. Evaluating one command merges its bucket with the scan
    list in rule order, so the first matching rule is found without
    looking at the rules written for other commands.

    Evaluation uses the stack only (the shell parser allocates its
    result; a shell fed from a pipe or heredoc gets its input parsed
    again). Paths are resolved lexically, never through the filesystem.

    The engine's files (policy_internal.h holds what they share):

      policy.c             this: the accessors and names of policy.h
      policy_load.c        policy_load, policy_load_text, policy_protect,
                           policy_destroy: ZPL to rules, indexes, classifier
      policy_pattern.c     pattern compilation and matching
      policy_paths.c       path resolution and classification
      policy_conditions.c  rule conditions, the index lookups
      policy_eval.c        policy_eval: request checks, decisions, Bash
                           evaluation, the other tools
      policy_text.c        clean UTF-8 for messages
*/
#include "policy_internal.h"

//  --------------------------------------------------------------------------
//  Accessors and names

const char *
policy_version (const policy_t *self)
{
    return self && self->version ? self->version : "";
}

size_t
policy_rule_count (const policy_t *self)
{
    return self ? self->rule_count : 0;
}

const char *
policy_action_name (policy_action_t action)
{
    switch (action) {
    case POLICY_ALLOW:
        return "allow";
    case POLICY_DEFER:
        return "defer";
    case POLICY_ESCALATE:
        return "escalate";
    case POLICY_DENY:
        return "deny";
    }
    return "deny";
}

const char *
policy_risk_name (policy_risk_t risk)
{
    switch (risk) {
    case RISK_NONE:
        return "none";
    case RISK_LOW:
        return "low";
    case RISK_MEDIUM:
        return "medium";
    case RISK_HIGH:
        return "high";
    case RISK_CRITICAL:
        return "critical";
    }
    return "critical";
}
