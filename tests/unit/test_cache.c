/*  test_cache -- unit tests for nodes/validator/cache.c (cmocka): hits and
    misses, copies in and out, least-recently-used eviction at capacity,
    keys that differ in a single bit, clear, and degenerate capacities.

    The cache keys on a 16-byte digest its caller computes; that the
    validator's digest covers the policy version, tool, input, cwd, home,
    project and role is tested through validator.c in test_validator_core. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cache.h"

//  Key number n: its 8 bytes big-endian, twice
static void
s_key (uint64_t n, uint8_t key[CACHE_KEY_SIZE])
{
    for (int i = 0; i < 8; i++)
        key[i] = key[i + 8] = (uint8_t) (n >> (8 * (7 - i)));
}

//  A decision telling which n it was stored for
static policy_decision_t
s_decision (uint64_t n)
{
    policy_decision_t d;
    memset (&d, 0, sizeof (d));
    d.action = (policy_action_t) (n % POLICY_ACTIONS);
    d.risk = (policy_risk_t) (n % 4);
    snprintf (d.rule, sizeof (d.rule), "rule-%llu", (unsigned long long) n);
    snprintf (d.reason, sizeof (d.reason), "reason for %llu", (unsigned long long) n);
    if (d.action == POLICY_ESCALATE)
        snprintf (d.capability, sizeof (d.capability), "security");
    return d;
}

static void
s_put (cache_t *cache, uint64_t n)
{
    uint8_t key[CACHE_KEY_SIZE];
    s_key (n, key);
    policy_decision_t d = s_decision (n);
    cache_put (cache, key, &d);
}

//  True when n is cached, and then with exactly its own decision
static bool
s_has (cache_t *cache, uint64_t n)
{
    uint8_t key[CACHE_KEY_SIZE];
    s_key (n, key);
    policy_decision_t got;
    memset (&got, 0xA5, sizeof (got));
    if (!cache_get (cache, key, &got))
        return false;
    policy_decision_t want = s_decision (n);
    assert_int_equal (got.action, want.action);
    assert_int_equal (got.risk, want.risk);
    assert_string_equal (got.rule, want.rule);
    assert_string_equal (got.reason, want.reason);
    assert_string_equal (got.capability, want.capability);
    return true;
}

static void
test_miss_then_hit (void **state)
{
    (void) state;
    cache_t *cache = cache_new (8);
    assert_non_null (cache);
    assert_int_equal (cache_size (cache), 0);

    //  A miss leaves the caller's decision alone
    uint8_t key[CACHE_KEY_SIZE];
    s_key (1, key);
    policy_decision_t untouched = s_decision (99);
    assert_false (cache_get (cache, key, &untouched));
    assert_string_equal (untouched.rule, "rule-99");

    s_put (cache, 1);
    assert_int_equal (cache_size (cache), 1);
    assert_true (s_has (cache, 1));
    assert_true (s_has (cache, 1)); //  a hit does not consume the entry
    assert_false (s_has (cache, 2));
    assert_int_equal (cache_size (cache), 1);
    assert_int_equal (cache_evictions (cache), 0);
    cache_destroy (&cache);
    assert_null (cache);
}

//  cache_put stores a copy: changing the caller's decision afterwards
//  changes nothing cached
static void
test_put_copies (void **state)
{
    (void) state;
    cache_t *cache = cache_new (4);
    uint8_t key[CACHE_KEY_SIZE];
    s_key (7, key);
    policy_decision_t d = s_decision (7);
    cache_put (cache, key, &d);
    snprintf (d.rule, sizeof (d.rule), "changed");
    d.action = POLICY_DENY;
    assert_true (s_has (cache, 7));
    cache_destroy (&cache);
}

//  Storing under a key already there replaces its decision, evicts nothing
static void
test_put_replaces (void **state)
{
    (void) state;
    cache_t *cache = cache_new (2);
    s_put (cache, 1);
    s_put (cache, 2);
    uint8_t key[CACHE_KEY_SIZE];
    s_key (1, key);
    policy_decision_t other = s_decision (5);
    cache_put (cache, key, &other);
    assert_int_equal (cache_size (cache), 2);
    assert_int_equal (cache_evictions (cache), 0);
    policy_decision_t got;
    assert_true (cache_get (cache, key, &got));
    assert_string_equal (got.rule, "rule-5");
    assert_true (s_has (cache, 2));
    cache_destroy (&cache);
}

//  At capacity the least recently used entry goes; a hit and a replacing
//  put both make an entry the most recently used
static void
test_evicts_least_recently_used (void **state)
{
    (void) state;
    cache_t *cache = cache_new (3);
    s_put (cache, 1);
    s_put (cache, 2);
    s_put (cache, 3);
    assert_int_equal (cache_size (cache), 3);
    assert_true (s_has (cache, 1)); //  order now 2, 3, 1
    s_put (cache, 4);               //  evicts 2
    assert_int_equal (cache_size (cache), 3);
    assert_int_equal (cache_evictions (cache), 1);
    assert_false (s_has (cache, 2));
    assert_true (s_has (cache, 1));
    assert_true (s_has (cache, 3));
    assert_true (s_has (cache, 4)); //  order now 1, 3, 4

    s_put (cache, 1); //  replaced: order 3, 4, 1
    s_put (cache, 5); //  evicts 3
    assert_int_equal (cache_evictions (cache), 2);
    assert_false (s_has (cache, 3));
    assert_true (s_has (cache, 4));
    assert_true (s_has (cache, 1));
    assert_true (s_has (cache, 5));
    assert_int_equal (cache_size (cache), 3);
    cache_destroy (&cache);
}

//  Many more keys than room: the size stays at capacity, the newest are
//  all there and every older one is gone
static void
test_bounded_under_load (void **state)
{
    (void) state;
    const size_t capacity = 64, total = 1000;
    cache_t *cache = cache_new (capacity);
    for (uint64_t n = 0; n < total; n++) {
        s_put (cache, n);
        assert_true (cache_size (cache) <= capacity);
    }
    assert_int_equal (cache_size (cache), capacity);
    assert_int_equal (cache_evictions (cache), total - capacity);
    for (uint64_t n = 0; n < total; n++)
        assert_int_equal (s_has (cache, n), n >= total - capacity);
    cache_destroy (&cache);
}

//  The whole key counts: keys one bit apart are different entries
static void
test_keys_differ_in_one_bit (void **state)
{
    (void) state;
    cache_t *cache = cache_new (256);
    uint8_t base[CACHE_KEY_SIZE];
    memset (base, 0x5A, sizeof (base));
    policy_decision_t d = s_decision (0);
    cache_put (cache, base, &d);
    for (size_t bit = 0; bit < CACHE_KEY_SIZE * 8; bit++) {
        uint8_t key[CACHE_KEY_SIZE];
        memcpy (key, base, sizeof (key));
        key[bit / 8] ^= (uint8_t) (1u << (bit % 8));
        policy_decision_t got;
        if (cache_get (cache, key, &got))
            fail_msg ("key with bit %zu flipped hits the base key's entry", bit);
        policy_decision_t mine = s_decision (bit + 1);
        cache_put (cache, key, &mine);
    }
    assert_int_equal (cache_size (cache), CACHE_KEY_SIZE * 8 + 1);
    policy_decision_t got;
    assert_true (cache_get (cache, base, &got));
    assert_string_equal (got.rule, "rule-0");
    cache_destroy (&cache);
}

//  What a policy reload does: everything goes, and the cache works as new
static void
test_clear (void **state)
{
    (void) state;
    cache_t *cache = cache_new (4);
    for (uint64_t n = 0; n < 6; n++)
        s_put (cache, n);
    assert_int_equal (cache_size (cache), 4);
    cache_clear (cache);
    assert_int_equal (cache_size (cache), 0);
    for (uint64_t n = 0; n < 6; n++)
        assert_false (s_has (cache, n));
    cache_clear (cache); //  clearing an empty cache is harmless
    assert_int_equal (cache_size (cache), 0);
    uint64_t evictions = cache_evictions (cache);
    for (uint64_t n = 10; n < 14; n++)
        s_put (cache, n);
    //  Cleared entries are not evicted later: the capacity is whole again
    assert_int_equal (cache_evictions (cache), evictions);
    assert_int_equal (cache_size (cache), 4);
    for (uint64_t n = 10; n < 14; n++)
        assert_true (s_has (cache, n));
    s_put (cache, 14);
    assert_int_equal (cache_evictions (cache), evictions + 1);
    assert_false (s_has (cache, 10));
    cache_destroy (&cache);
}

//  Capacity 0 caches nothing; capacity 1 holds the last entry only
static void
test_bad_sizes (void **state)
{
    (void) state;
    cache_t *none = cache_new (0);
    assert_non_null (none);
    for (uint64_t n = 0; n < 3; n++)
        s_put (none, n);
    assert_int_equal (cache_size (none), 0);
    assert_int_equal (cache_evictions (none), 0);
    assert_false (s_has (none, 0));
    assert_false (s_has (none, 2));
    cache_clear (none);
    cache_destroy (&none);
    assert_null (none);

    cache_t *one = cache_new (1);
    s_put (one, 1);
    assert_true (s_has (one, 1));
    s_put (one, 2);
    assert_int_equal (cache_size (one), 1);
    assert_int_equal (cache_evictions (one), 1);
    assert_false (s_has (one, 1));
    assert_true (s_has (one, 2));
    s_put (one, 2);
    assert_int_equal (cache_evictions (one), 1);
    cache_destroy (&one);

    //  Destroying nothing, or twice, is harmless
    cache_destroy (&one);
    cache_destroy (NULL);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_miss_then_hit),
        cmocka_unit_test (test_put_copies),
        cmocka_unit_test (test_put_replaces),
        cmocka_unit_test (test_evicts_least_recently_used),
        cmocka_unit_test (test_bounded_under_load),
        cmocka_unit_test (test_keys_differ_in_one_bit),
        cmocka_unit_test (test_clear),
        cmocka_unit_test (test_bad_sizes),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
