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

      policy.c             this: policy_eval's request checks, the
                           accessors and names of policy.h
      policy_load.c        policy_load, policy_load_text, policy_protect,
                           policy_destroy: ZPL to rules, indexes, classifier
      policy_pattern.c     pattern compilation and matching
      policy_paths.c       path resolution and classification
      policy_conditions.c  rule conditions, the index lookups
      policy_eval.c        decisions, Bash evaluation, the other tools
      policy_text.c        clean UTF-8 for messages
*/
#include "policy_internal.h"

//  Tools the engine knows
static const char *s_file_tools[] = {"Write", "Edit", "MultiEdit", "NotebookEdit", "Read"};
static const char *s_other_tools[] = {"Glob",       "Grep",     "LS",        "WebFetch",
                                      "WebSearch",  "Task",     "TodoWrite", "ExitPlanMode",
                                      "BashOutput", "KillShell"};

//  --------------------------------------------------------------------------
//  Evaluation entry

static bool
s_in_list (const char *s, size_t n, const char *const *list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (policy_streq_n (s, n, list[i]))
            return true;
    return false;
}

//  Normalises an absolute directory; false if it is not one
static bool
s_norm_dir (const char *in, char *out, size_t *len)
{
    if (!in || in[0] != '/')
        return false;
    size_t n = strnlen (in, PATH_BUF);
    if (n >= PATH_BUF)
        return false;
    int r = policy_paths_resolve ("/", 1, in, n, out);
    if (r < 0)
        return false;
    *len = (size_t) r;
    return true;
}

void
policy_eval (const policy_t *self, const policy_request_t *request, policy_decision_t *decision)
{
    if (!decision)
        return;
    memset (decision, 0, sizeof (*decision));
    static const action_t deny = {POLICY_DENY, RISK_CRITICAL, ""};
    if (!self || !request) {
        policy_decide (decision, &deny, "bad-input", "no policy or no request");
        return;
    }
    eval_t e;
    //  the big buffers are written before they are read; clear the rest
    e.policy = self;
    e.req = request;
    e.tool = request->tool ? request->tool : "";
    e.tool_len = strlen (e.tool);
    e.role = request->role;
    e.ncwd = 0;
    e.cwd_unknown = false;
    e.nfind = 0;
    e.find_unknown = false;
    e.downloads.count = 0;
    e.downloads.lost = false;
    e.written.count = 0;
    e.written.lost = false;
    e.fork_bomb = false;
    e.dotglob = false;
    e.nocaseglob = false;
    e.glob_depth = false;
    e.nplain = 0;
    e.cwd_mask_key = 0;
    e.run_in_background = false;
    e.depth = 0;
    e.extra_count = 0;
    e.have = false;
    e.done = false;
    memset (&e.best, 0, sizeof (e.best));

    if (!request->tool || !request->tool[0]) {
        policy_offer (&e, &self->bad_input, "bad-input", "the request names no tool");
        *decision = e.best;
        return;
    }
    if (!s_norm_dir (request->cwd, e.cwds[0], &e.cwd_lens[0])) {
        policy_offer_bad_input (&e, "cwd must be an absolute path");
        *decision = e.best;
        return;
    }
    e.ncwd = 1;
    if (!s_norm_dir (request->home ? request->home : "/root", e.home, &e.home_len)) {
        policy_offer_bad_input (&e, "home must be an absolute path");
        *decision = e.best;
        return;
    }
    if (!s_norm_dir (request->project ? request->project : request->cwd, e.project,
                     &e.project_len)) {
        policy_offer_bad_input (&e, "project must be an absolute path");
        *decision = e.best;
        return;
    }
    //  A project root of /, the home directory or one of its parents
    //  would make everything "project": no project then
    e.project_on =
        !(e.project_len == 1 || policy_path_under (e.home, e.home_len, e.project, e.project_len));

    bool file_tool = s_in_list (e.tool, e.tool_len, s_file_tools,
                                sizeof (s_file_tools) / sizeof (s_file_tools[0]));
    bool other_tool = s_in_list (e.tool, e.tool_len, s_other_tools,
                                 sizeof (s_other_tools) / sizeof (s_other_tools[0]));
    if (strcmp (e.tool, "Bash") == 0)
        policy_eval_bash (&e);
    else
        policy_eval_tool (&e, file_tool || other_tool, file_tool);
    if (!e.have) //  cannot happen; fail closed all the same
        policy_offer (&e, &deny, "internal", "no decision");
    *decision = e.best;
}

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
