/*  test_expert_store -- unit tests for nodes/expert/expert_store.c (cmocka):
    real LMDB files in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "expert_store.h"

#define NOW     1700000000000LL
#define HOUR_MS (3600LL * 1000)

typedef struct {
    char dir[64];
    expert_store_t *store;
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *fx = (fixture_t *) calloc (1, sizeof (fixture_t));
    snprintf (fx->dir, sizeof (fx->dir), "/tmp/lh-expert-XXXXXX");
    assert_non_null (mkdtemp (fx->dir));
    char err[256];
    fx->store = expert_store_open (fx->dir, 4, (size_t) 8 << 20, err, sizeof (err));
    if (!fx->store)
        fail_msg ("open: %s", err);
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    expert_store_destroy (&fx->store);
    char command[128];
    snprintf (command, sizeof (command), "rm -rf '%s'", fx->dir);
    assert_int_equal (system (command), 0);
    free (fx);
    return 0;
}

static void
s_reopen (fixture_t *fx)
{
    expert_store_destroy (&fx->store);
    assert_null (fx->store);
    char err[256];
    fx->store = expert_store_open (fx->dir, 4, (size_t) 8 << 20, err, sizeof (err));
    if (!fx->store)
        fail_msg ("reopen: %s", err);
}

static expert_esc_t
s_esc (const char *agent, uint8_t quorum, int64_t expires_ms)
{
    expert_esc_t esc;
    memset (&esc, 0, sizeof (esc));
    snprintf (esc.agent, sizeof (esc.agent), "%s", agent);
    snprintf (esc.session, sizeof (esc.session), "s-1");
    snprintf (esc.tool, sizeof (esc.tool), "Bash");
    snprintf (esc.subject, sizeof (esc.subject), "terraform apply");
    snprintf (esc.capability, sizeof (esc.capability), "security");
    snprintf (esc.rule, sizeof (esc.rule), "infra");
    snprintf (esc.policy, sizeof (esc.policy), "2026-12-05.1");
    memset (esc.key, 0xAB, sizeof (esc.key));
    esc.quorum = quorum;
    esc.expires_ms = expires_ms;
    return esc;
}

static const char s_request[] = "\x81\xa4tool\xa4"
                                "Bash"; //  {tool: "Bash"}

static void
s_submit (fixture_t *fx, expert_esc_t *esc)
{
    char why[256] = "";
    lh_err_t rc =
        expert_store_submit (fx->store, esc, s_request, sizeof (s_request) - 1, NOW, why, 256);
    if (rc != LH_OK)
        fail_msg ("submit: %d %s", rc, why);
    assert_int_equal (strlen (esc->id), EXPERT_ID_SIZE - 1);
    assert_int_equal (strlen (esc->code), EXPERT_CODE_SIZE - 1);
}

//  Submitted, found by id and by code (any case, look-alikes), kept across
//  a restart with its request byte for byte
static void
test_submit_get_restart (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    expert_esc_t esc = s_esc ("agent-1", 1, NOW + HOUR_MS);
    s_submit (fx, &esc);
    assert_int_equal (esc.state, EXPERT_PENDING);
    assert_int_equal (esc.created_ms, NOW);
    //  Codes avoid letters people confuse
    assert_null (strpbrk (esc.code, "ILOU"));
    assert_int_equal (expert_store_pending_count (fx->store), 1);

    s_reopen (fx);
    expert_esc_t got;
    void *request = NULL;
    size_t size = 0;
    assert_int_equal (expert_store_get (fx->store, esc.id, &got, &request, &size), LH_OK);
    assert_string_equal (got.agent, "agent-1");
    assert_string_equal (got.code, esc.code);
    assert_string_equal (got.capability, "security");
    assert_int_equal (got.quorum, 1);
    assert_int_equal (got.expires_ms, NOW + HOUR_MS);
    assert_memory_equal (got.key, esc.key, sizeof (esc.key));
    assert_int_equal (size, sizeof (s_request) - 1);
    assert_memory_equal (request, s_request, size);
    free (request);

    char lower[EXPERT_CODE_SIZE];
    for (int i = 0; i < EXPERT_CODE_SIZE; i++)
        lower[i] =
            (char) (esc.code[i] >= 'A' && esc.code[i] <= 'Z' ? esc.code[i] + 32 : esc.code[i]);
    assert_int_equal (expert_store_get (fx->store, lower, &got, NULL, NULL), LH_OK);
    assert_string_equal (got.id, esc.id);
    assert_int_equal (expert_store_pending_count (fx->store), 1);

    assert_int_equal (expert_store_get (fx->store, "ZZZZZZZZ", &got, NULL, NULL), LH_E_NOT_FOUND);
    assert_int_equal (expert_store_get (fx->store, "", &got, NULL, NULL), LH_E_NOT_FOUND);
    assert_int_equal (expert_store_get (fx->store, NULL, &got, NULL, NULL), LH_E_NOT_FOUND);
}

//  Bad submissions change nothing; the queue bound is overloaded
static void
test_submit_bounds (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char why[256];
    expert_esc_t bad = s_esc ("agent-1", 0, NOW + HOUR_MS);
    assert_int_equal (expert_store_submit (fx->store, &bad, s_request, 4, NOW, why, 256),
                      LH_E_BAD_REQUEST);
    bad = s_esc ("agent-1", EXPERT_QUORUM_MAX + 1, NOW + HOUR_MS);
    assert_int_equal (expert_store_submit (fx->store, &bad, s_request, 4, NOW, why, 256),
                      LH_E_BAD_REQUEST);
    bad = s_esc ("agent-1", 1, NOW); //  already expired
    assert_int_equal (expert_store_submit (fx->store, &bad, s_request, 4, NOW, why, 256),
                      LH_E_BAD_REQUEST);
    bad = s_esc ("", 1, NOW + HOUR_MS);
    assert_int_equal (expert_store_submit (fx->store, &bad, s_request, 4, NOW, why, 256),
                      LH_E_BAD_REQUEST);
    bad = s_esc ("agent-1", 1, NOW + HOUR_MS);
    assert_int_equal (
        expert_store_submit (fx->store, &bad, s_request, EXPERT_REQUEST_MAX + 1, NOW, why, 256),
        LH_E_BAD_REQUEST);
    assert_int_equal (expert_store_pending_count (fx->store), 0);

    char codes[4][EXPERT_CODE_SIZE];
    for (int i = 0; i < 4; i++) {
        expert_esc_t esc = s_esc ("agent-1", 1, NOW + HOUR_MS);
        s_submit (fx, &esc);
        memcpy (codes[i], esc.code, EXPERT_CODE_SIZE);
        for (int j = 0; j < i; j++)
            assert_string_not_equal (codes[i], codes[j]);
    }
    expert_esc_t fifth = s_esc ("agent-1", 1, NOW + HOUR_MS);
    assert_int_equal (expert_store_submit (fx->store, &fifth, s_request, 4, NOW, why, 256),
                      LH_E_OVERLOADED);
    assert_non_null (strstr (why, "waiting"));
    assert_int_equal (expert_store_pending_count (fx->store), 4);
}

//  One allow decides a quorum of one; the decided escalation leaves the
//  queue, its code is freed, and later verdicts change nothing
static void
test_decide_allow (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    expert_esc_t esc = s_esc ("agent-1", 1, NOW + HOUR_MS);
    s_submit (fx, &esc);
    expert_esc_t out;
    char why[256] = "";
    assert_int_equal (expert_store_decide (fx->store, esc.code, "alice", true, "looks fine", false,
                                           NOW + 1000, &out, why, sizeof (why)),
                      LH_OK);
    assert_int_equal (out.state, EXPERT_DECIDED);
    assert_true (out.allowed);
    assert_string_equal (out.by, "expert:alice");
    assert_string_equal (out.reason, "looks fine");
    assert_int_equal (expert_store_pending_count (fx->store), 0);
    //  By id it is still there, decided; by code it is gone
    s_reopen (fx);
    expert_esc_t got;
    assert_int_equal (expert_store_get (fx->store, esc.id, &got, NULL, NULL), LH_OK);
    assert_int_equal (got.state, EXPERT_DECIDED);
    assert_true (got.allowed);
    assert_int_equal (expert_store_get (fx->store, esc.code, &got, NULL, NULL), LH_E_NOT_FOUND);
    //  A late verdict: not found, and the outcome stands
    assert_int_equal (expert_store_decide (fx->store, esc.id, "bob", false, "no", false, NOW + 2000,
                                           &out, why, sizeof (why)),
                      LH_E_NOT_FOUND);
    assert_non_null (strstr (why, "decided already"));
    assert_int_equal (expert_store_get (fx->store, esc.id, &got, NULL, NULL), LH_OK);
    assert_true (got.allowed);
}

//  A quorum of two: one allow is not enough, the same expert cannot vote
//  twice (even across a restart), a second expert completes it; any deny
//  decides at once
static void
test_quorum (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    expert_esc_t esc = s_esc ("agent-1", 2, NOW + HOUR_MS);
    s_submit (fx, &esc);
    expert_esc_t out;
    char why[256];
    assert_int_equal (expert_store_decide (fx->store, esc.id, "alice", true, "ok", false, NOW + 1,
                                           &out, why, sizeof (why)),
                      LH_OK);
    assert_int_equal (out.state, EXPERT_PENDING);
    assert_int_equal (out.allows, 1);
    s_reopen (fx);
    assert_int_equal (expert_store_decide (fx->store, esc.id, "alice", true, "ok again", false,
                                           NOW + 2, &out, why, sizeof (why)),
                      LH_E_FORBIDDEN);
    assert_non_null (strstr (why, "already"));
    assert_int_equal (expert_store_decide (fx->store, esc.id, "bob", true, "agreed", false, NOW + 3,
                                           &out, why, sizeof (why)),
                      LH_OK);
    assert_int_equal (out.state, EXPERT_DECIDED);
    assert_true (out.allowed);
    assert_string_equal (out.by, "expert:bob");

    expert_esc_t other = s_esc ("agent-2", 3, NOW + HOUR_MS);
    s_submit (fx, &other);
    assert_int_equal (expert_store_decide (fx->store, other.id, "alice", true, "ok", false, NOW + 4,
                                           &out, why, sizeof (why)),
                      LH_OK);
    assert_int_equal (expert_store_decide (fx->store, other.id, "carol", false, "no: prod", false,
                                           NOW + 5, &out, why, sizeof (why)),
                      LH_OK);
    assert_int_equal (out.state, EXPERT_DECIDED);
    assert_false (out.allowed);
    assert_string_equal (out.by, "expert:carol");
    assert_string_equal (out.reason, "no: prod");
}

//  An expert may not decide its own agent's request unless allowed; bad
//  verdicts change nothing
static void
test_decide_refusals (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    expert_esc_t esc = s_esc ("alice", 1, NOW + HOUR_MS);
    s_submit (fx, &esc);
    expert_esc_t out;
    char why[256];
    assert_int_equal (expert_store_decide (fx->store, esc.id, "alice", true, "mine", false, NOW + 1,
                                           &out, why, sizeof (why)),
                      LH_E_FORBIDDEN);
    assert_non_null (strstr (why, "own"));
    char long_reason[EXPERT_REASON_MAX + 2];
    memset (long_reason, 'r', sizeof (long_reason) - 1);
    long_reason[sizeof (long_reason) - 1] = 0;
    assert_int_equal (expert_store_decide (fx->store, esc.id, "bob", true, long_reason, false,
                                           NOW + 1, &out, why, sizeof (why)),
                      LH_E_BAD_REQUEST);
    assert_int_equal (expert_store_decide (fx->store, esc.id, "", true, "x", false, NOW + 1, &out,
                                           why, sizeof (why)),
                      LH_E_BAD_REQUEST);
    assert_int_equal (expert_store_decide (fx->store, "0123456789abcdef0123456789abcdef", "bob",
                                           true, "x", false, NOW + 1, &out, why, sizeof (why)),
                      LH_E_NOT_FOUND);
    //  Nothing of that was recorded: bob's verdict still counts
    assert_int_equal (expert_store_get (fx->store, esc.id, &out, NULL, NULL), LH_OK);
    assert_int_equal (out.state, EXPERT_PENDING);
    assert_int_equal (out.allows, 0);
    //  With allow_self, a single-person setup may decide its own
    assert_int_equal (expert_store_decide (fx->store, esc.id, "alice", true, "mine", true, NOW + 2,
                                           &out, why, sizeof (why)),
                      LH_OK);
    assert_int_equal (out.state, EXPERT_DECIDED);
}

static void
s_count_expired (const expert_esc_t *esc, void *arg)
{
    assert_int_equal (esc->state, EXPERT_EXPIRED);
    (*(int *) arg)++;
}

static bool
s_collect (const expert_esc_t *esc, void *arg)
{
    assert_int_equal (esc->state, EXPERT_PENDING);
    (*(int *) arg)++;
    return true;
}

//  Expiry: only escalations past their time, codes freed, verdicts refused
static void
test_expire (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    expert_esc_t soon = s_esc ("agent-1", 1, NOW + 1000);
    expert_esc_t later = s_esc ("agent-1", 1, NOW + HOUR_MS);
    expert_esc_t soon2 = s_esc ("agent-2", 2, NOW + 2000);
    s_submit (fx, &soon);
    s_submit (fx, &later);
    s_submit (fx, &soon2);
    int expired = 0;
    assert_int_equal (expert_store_expire (fx->store, NOW + 999, s_count_expired, &expired), 0);
    assert_int_equal (expert_store_expire (fx->store, NOW + 5000, s_count_expired, &expired), 2);
    assert_int_equal (expired, 2);
    assert_int_equal (expert_store_pending_count (fx->store), 1);
    int pending = 0;
    assert_int_equal (expert_store_pending (fx->store, s_collect, &pending), 1);
    assert_int_equal (pending, 1);

    expert_esc_t out;
    char why[256];
    assert_int_equal (expert_store_decide (fx->store, soon.id, "bob", true, "late", false,
                                           NOW + 6000, &out, why, sizeof (why)),
                      LH_E_NOT_FOUND);
    assert_non_null (strstr (why, "expire"));
    assert_int_equal (expert_store_get (fx->store, soon.code, &out, NULL, NULL), LH_E_NOT_FOUND);
    assert_int_equal (expert_store_get (fx->store, soon.id, &out, NULL, NULL), LH_OK);
    assert_int_equal (out.state, EXPERT_EXPIRED);
    //  A verdict after the deadline but before the sweep is refused too
    assert_int_equal (expert_store_decide (fx->store, later.id, "bob", true, "late", false,
                                           NOW + HOUR_MS, &out, why, sizeof (why)),
                      LH_E_NOT_FOUND);
    //  Room in the queue again
    s_reopen (fx);
    assert_int_equal (expert_store_pending_count (fx->store), 1);
}

static void
test_open_errors (void **state)
{
    (void) state;
    char err[256] = "";
    assert_null (expert_store_open (NULL, 4, (size_t) 8 << 20, err, sizeof (err)));
    assert_non_null (strstr (err, "arguments"));
    assert_null (expert_store_open ("/tmp", 0, (size_t) 8 << 20, err, sizeof (err)));
    err[0] = 0;
    assert_null (expert_store_open ("/proc/lh-no-such-dir", 4, (size_t) 8 << 20, err, 256));
    assert_true (err[0] != 0);
    //  A file where the store should be: a clear error, not a crash
    char dir[64];
    snprintf (dir, sizeof (dir), "/tmp/lh-expert-XXXXXX");
    assert_non_null (mkdtemp (dir));
    char path[128];
    snprintf (path, sizeof (path), "%s/expert.mdb", dir);
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    fputs ("not an lmdb file, not at all, and long enough to be read as a header............",
           file);
    fclose (file);
    err[0] = 0;
    assert_null (expert_store_open (dir, 4, (size_t) 8 << 20, err, sizeof (err)));
    assert_non_null (strstr (err, "cannot open"));
    char command[128];
    snprintf (command, sizeof (command), "rm -rf '%s'", dir);
    assert_int_equal (system (command), 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_submit_get_restart, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_submit_bounds, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_decide_allow, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_quorum, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_decide_refusals, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_expire, s_setup, s_teardown),
        cmocka_unit_test (test_open_errors),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
