/*  test_ratelimit -- unit tests for broker/ratelimit.c (cmocka).
    Time is simulated: every call passes its own now_us. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ratelimit.h"

#define SEC 1000000LL

static int
s_setup (void **state)
{
    *state = ratelimit_new ();
    return *state ? 0 : -1;
}

static int
s_teardown (void **state)
{
    ratelimit_t *rl = (ratelimit_t *) *state;
    ratelimit_destroy (&rl);
    return rl == NULL ? 0 : -1;
}

//  How many tokens can be taken at once at time now
static int
s_drain (ratelimit_t *rl, const char *agent, double rate, double burst, int64_t now)
{
    int taken = 0;
    while (taken < 100000 && ratelimit_take (rl, agent, rate, burst, now))
        taken++;
    return taken;
}

static void
test_new_is_empty (void **state)
{
    ratelimit_t *rl = (ratelimit_t *) *state;
    assert_int_equal (ratelimit_size (rl), 0);
}

static void
test_burst_then_refusal_then_refill (void **state)
{
    ratelimit_t *rl = (ratelimit_t *) *state;
    const int64_t t0 = 1000 * SEC;
    //  rate 2/s, burst 5: a new agent starts with a full bucket
    for (int i = 0; i < 5; i++)
        assert_true (ratelimit_take (rl, "agent-1", 2, 5, t0));
    assert_false (ratelimit_take (rl, "agent-1", 2, 5, t0));
    assert_false (ratelimit_take (rl, "agent-1", 2, 5, t0));

    //  0.25 s gives half a token: still refused
    assert_false (ratelimit_take (rl, "agent-1", 2, 5, t0 + SEC / 4));
    //  0.6 s in all gives 1.2 tokens: one request
    assert_true (ratelimit_take (rl, "agent-1", 2, 5, t0 + SEC * 6 / 10));
    assert_false (ratelimit_take (rl, "agent-1", 2, 5, t0 + SEC * 6 / 10));

    //  3 s later: 0.2 + 6 tokens, capped at the burst of 5
    assert_int_equal (s_drain (rl, "agent-1", 2, 5, t0 + SEC * 36 / 10), 5);
    //  A long idle period still only refills to the burst
    assert_int_equal (s_drain (rl, "agent-1", 2, 5, t0 + 3600 * SEC), 5);
    assert_int_equal (ratelimit_size (rl), 1);
}

static void
test_steady_rate (void **state)
{
    ratelimit_t *rl = (ratelimit_t *) *state;
    //  rate 10/s, burst 1: over 10 simulated seconds at 1 ms steps, about 100 pass
    int passed = 0;
    for (int64_t ms = 0; ms < 10000; ms++)
        passed += ratelimit_take (rl, "steady", 10, 1, ms * 1000);
    assert_in_range (passed, 99, 101);

    //  rate 0.5/s: one token every 2 s
    ratelimit_t *slow = ratelimit_new ();
    assert_true (ratelimit_take (slow, "slow", 0.5, 1, 0));
    assert_false (ratelimit_take (slow, "slow", 0.5, 1, SEC));
    assert_false (ratelimit_take (slow, "slow", 0.5, 1, SEC * 19 / 10));
    assert_true (ratelimit_take (slow, "slow", 0.5, 1, SEC * 21 / 10));
    ratelimit_destroy (&slow);
    assert_null (slow);
}

static void
test_rate_zero_is_unlimited (void **state)
{
    ratelimit_t *rl = (ratelimit_t *) *state;
    for (int i = 0; i < 10000; i++)
        assert_true (ratelimit_take (rl, "free", 0, 1, 0));
    for (int i = 0; i < 100; i++)
        assert_true (ratelimit_take (rl, "free", -1, 0, 0));
    //  An unlimited agent does not cost a bucket
    assert_int_equal (ratelimit_size (rl), 0);
}

static void
test_buckets_per_agent (void **state)
{
    ratelimit_t *rl = (ratelimit_t *) *state;
    assert_int_equal (s_drain (rl, "alice", 1, 3, 0), 3);
    assert_false (ratelimit_take (rl, "alice", 1, 3, 0));
    //  bob has his own full bucket
    assert_int_equal (s_drain (rl, "bob", 1, 3, 0), 3);
    assert_int_equal (s_drain (rl, "carol", 1, 2, 0), 2);
    assert_int_equal (ratelimit_size (rl), 3);
    //  Refill is per agent too: alice after 1 s, bob untouched since
    assert_true (ratelimit_take (rl, "alice", 1, 3, SEC));
    assert_false (ratelimit_take (rl, "alice", 1, 3, SEC));
    assert_int_equal (s_drain (rl, "bob", 1, 3, SEC), 1);
    //  Names are compared whole
    assert_true (ratelimit_take (rl, "alic", 1, 3, SEC));
    assert_int_equal (ratelimit_size (rl), 4);
}

static void
test_burst_below_one (void **state)
{
    ratelimit_t *rl = (ratelimit_t *) *state;
    //  A burst under one token would refuse everything: it counts as one
    assert_true (ratelimit_take (rl, "tiny", 1, 0, 0));
    assert_false (ratelimit_take (rl, "tiny", 1, 0, 0));
    assert_true (ratelimit_take (rl, "tiny", 1, 0.5, SEC));
    assert_false (ratelimit_take (rl, "tiny", 1, 0.5, SEC));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_new_is_empty, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_burst_then_refusal_then_refill, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_steady_rate, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_rate_zero_is_unlimited, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_buckets_per_agent, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_burst_below_one, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
