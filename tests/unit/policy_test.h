/*  policy_test.h -- asking the policy engine from unit tests.

    Loading a policy from text, splitting a corpus line, one request
    context (cwd, home, project, role), a tool call given as JSON or a
    Bash command given as bytes, the check of a decision that every
    policy test makes, and the session (s_ctx) and policy head (HEAD)
    the tests share. Shared by test_policy, test_policy_paths
    and test_corpus; include after cmocka.h.
*/
#ifndef LH_POLICY_TEST_H_INCLUDED
#define LH_POLICY_TEST_H_INCLUDED

#include <msgpack.h>
#include <string.h>

#include "jsonpack.h"
#include "policy.h"

typedef struct {
    const char *cwd;
    const char *home;
    const char *project;
    const char *role;
} ctx_t;

//  Loads a policy from text; the test fails when it does not load
static inline policy_t *
s_load (const char *text)
{
    char err[512];
    policy_t *policy = policy_load_text (text, "test.policy", err, sizeof (err));
    if (!policy)
        fail_msg ("policy did not load: %s\n%s", err, text);
    return policy;
}

//  Splits a corpus line at its tabs into exactly 5 columns (in place);
//  false when it has another number of them
static inline bool
s_split_columns (char *line, char *cols[5])
{
    int count = 0;
    char *cursor = line;
    while (count < 5) {
        cols[count++] = cursor;
        char *tab = strchr (cursor, '\t');
        if (!tab)
            break;
        *tab = 0;
        cursor = tab + 1;
    }
    return count == 5 && !strchr (cursor, '\t');
}

//  Evaluates tool with a JSON input (NULL: no input)
static inline policy_decision_t
s_eval_json (const policy_t *policy, const char *tool, const char *json, const ctx_t *ctx)
{
    policy_decision_t d;
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_unpacked msg;
    msgpack_unpacked_init (&msg);
    const msgpack_object *input = NULL;
    if (json) {
        char why[256];
        if (jsonpack_from_json (json, strlen (json), &sbuf, why, sizeof (why)) != 0)
            fail_msg ("bad JSON in test: %s: %s", why, json);
        size_t off = 0;
        if (msgpack_unpack_next (&msg, sbuf.data, sbuf.size, &off) != MSGPACK_UNPACK_SUCCESS)
            fail_msg ("unpack failed");
        input = &msg.data;
    }
    policy_request_t req = {tool, input, ctx->cwd, ctx->home, ctx->project, ctx->role};
    policy_eval (policy, &req, &d);
    msgpack_unpacked_destroy (&msg);
    msgpack_sbuffer_destroy (&sbuf);
    return d;
}

//  Evaluates a Bash command of len bytes (may hold NULs)
static inline policy_decision_t
s_eval_bytes (const policy_t *policy, const char *cmd, size_t len, const ctx_t *ctx)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 1);
    msgpack_pack_str (&pk, 7);
    msgpack_pack_str_body (&pk, "command", 7);
    msgpack_pack_str (&pk, len);
    msgpack_pack_str_body (&pk, cmd, len);
    msgpack_unpacked msg;
    msgpack_unpacked_init (&msg);
    size_t off = 0;
    assert_int_equal (msgpack_unpack_next (&msg, sbuf.data, sbuf.size, &off),
                      MSGPACK_UNPACK_SUCCESS);
    policy_request_t req = {"Bash", &msg.data, ctx->cwd, ctx->home, ctx->project, ctx->role};
    policy_decision_t d;
    policy_eval (policy, &req, &d);
    msgpack_unpacked_destroy (&msg);
    msgpack_sbuffer_destroy (&sbuf);
    return d;
}

//  Decision and rule must be as expected (rule NULL: any)
static inline void
s_expect (policy_decision_t d, const char *label, policy_action_t action, const char *rule)
{
    if (d.action != action || (rule && strcmp (d.rule, rule) != 0))
        fail_msg ("%s: got %s by '%s' (%s), expected %s by '%s'", label,
                  policy_action_name (d.action), d.rule, d.reason, policy_action_name (action),
                  rule ? rule : "any");
    //  decisions always carry printable, bounded text
    assert_true (strlen (d.rule) < sizeof (d.rule));
    assert_true (strlen (d.reason) < sizeof (d.reason));
    if (d.action != POLICY_ALLOW)
        assert_true (d.reason[0] != 0);
}

//  The session the tests ask in: home /home/dev, project and working
//  directory /home/dev/proj, role agent
#define HOME    "/home/dev"
#define PROJECT "/home/dev/proj"

static const ctx_t s_ctx = {PROJECT, HOME, PROJECT, "agent"};

static inline policy_decision_t
s_bash_ctx (const policy_t *policy, const char *cmd, const ctx_t *ctx)
{
    return s_eval_bytes (policy, cmd, strlen (cmd), ctx);
}

static inline policy_decision_t
s_bash (const policy_t *policy, const char *cmd)
{
    return s_bash_ctx (policy, cmd, &s_ctx);
}

//  A Bash command in s_ctx must get action by rule (NULL: any)
static inline void
s_bash_is (const policy_t *policy, const char *cmd, policy_action_t action, const char *rule)
{
    s_expect (s_bash (policy, cmd), cmd, action, rule);
}

//  The head of a test policy: rules come next, anything unmatched is allowed
#define HEAD                                                                                       \
    "policy\n"                                                                                     \
    "    version = \"t1\"\n"                                                                       \
    "    default = allow\n"

#endif
