/*  test_cache_store -- unit tests for nodes/cache/cache_store.c (cmocka).

    Every test opens a real LMDB store in a fresh directory under $TMPDIR
    (default /tmp) and moves the clock itself (times are passed in).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache_store.h"

#define T0 INT64_C (1700000000000)

typedef struct {
    char dir[256];
    cache_limits_t limits;
    cache_store_t *store;
} fixture_t;

static void
s_rmdir (const char *dir)
{
    char path[300];
    snprintf (path, sizeof (path), "%s/cache.mdb", dir);
    unlink (path);
    snprintf (path, sizeof (path), "%s/cache.mdb-lock", dir);
    unlink (path);
    rmdir (dir);
}

static int
setup (void **state)
{
    fixture_t *f = (fixture_t *) calloc (1, sizeof (fixture_t));
    const char *tmp = getenv ("TMPDIR");
    snprintf (f->dir, sizeof (f->dir), "%s/lh-cache-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null (mkdtemp (f->dir));
    f->limits = (cache_limits_t){
        .max_entries = 100, .map_size = 4u << 20, .max_ttl_s = 3600, .grace_ms = 1000};
    char err[256];
    f->store = cache_store_open (f->dir, &f->limits, err, sizeof (err));
    if (!f->store)
        fail_msg ("open: %s", err);
    *state = f;
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *f = (fixture_t *) *state;
    cache_store_destroy (&f->store);
    s_rmdir (f->dir);
    free (f);
    return 0;
}

static void
s_reopen (fixture_t *f)
{
    char err[256];
    cache_store_destroy (&f->store);
    f->store = cache_store_open (f->dir, &f->limits, err, sizeof (err));
    if (!f->store)
        fail_msg ("reopen: %s", err);
}

static void
s_key (uint8_t *key, int n)
{
    memset (key, 0, CACHE_KEY_BYTES);
    key[0] = (uint8_t) n;
    key[1] = (uint8_t) (n >> 8);
    key[31] = 0x5a;
}

static cache_put_t
s_put_args (const char *policy, const uint8_t *key, cache_scope_t scope, cache_decision_t d,
            const char *agent, const char *session, int64_t ttl)
{
    return (cache_put_t){.policy = policy,
                         .key = key,
                         .scope = scope,
                         .decision = d,
                         .expert = "alice",
                         .reason = "reviewed",
                         .ttl_s = ttl,
                         .agent = agent,
                         .session = session};
}

//  Puts and returns the verdict id (static buffer per call site is fine in tests)
static void
s_put (fixture_t *f, const cache_put_t *put, int64_t now, char *id)
{
    char err[256];
    int rc = cache_store_put (f->store, put, now, id, err, sizeof (err));
    if (rc != 0)
        fail_msg ("put: %d %s", rc, err);
    assert_int_equal (strlen (id), CACHE_ID_HEX);
}

static int
s_get (fixture_t *f, const char *policy, const uint8_t *key, const char *agent, const char *session,
       int64_t now, cache_verdict_t *v)
{
    char err[256];
    int rc = cache_store_get (f->store, policy, key, agent, session, now, v, err, sizeof (err));
    if (rc < 0)
        fail_msg ("get: %s", err);
    return rc;
}

static void
test_scopes_and_precedence (void **state)
{
    fixture_t *f = (fixture_t *) *state;
    uint8_t key[CACHE_KEY_BYTES];
    s_key (key, 1);
    char gid[CACHE_ID_HEX + 1], aid[CACHE_ID_HEX + 1], sid[CACHE_ID_HEX + 1];
    cache_verdict_t v;
    assert_int_equal (s_get (f, "v1", key, "agent-1", "s1", T0, &v), 0);

    cache_put_t put = s_put_args ("v1", key, CACHE_SCOPE_GLOBAL, CACHE_DENY, "agent-9", "s9", 60);
    s_put (f, &put, T0, gid);
    put = s_put_args ("v1", key, CACHE_SCOPE_AGENT, CACHE_ALLOW, "agent-1", NULL, 60);
    s_put (f, &put, T0, aid);
    put = s_put_args ("v1", key, CACHE_SCOPE_SESSION, CACHE_DENY, "agent-1", "s1", 60);
    s_put (f, &put, T0, sid);

    //  The session verdict for its session, the agent one for its other sessions
    assert_int_equal (s_get (f, "v1", key, "agent-1", "s1", T0 + 1, &v), 1);
    assert_string_equal (v.id, sid);
    assert_int_equal (v.scope, CACHE_SCOPE_SESSION);
    assert_int_equal (v.decision, CACHE_DENY);
    assert_string_equal (v.session, "s1");
    assert_string_equal (v.expert, "alice");
    assert_string_equal (v.reason, "reviewed");
    assert_string_equal (v.policy, "v1");
    assert_true (v.created_ms == T0 && v.expires_ms == T0 + 60000);
    assert_int_equal (s_get (f, "v1", key, "agent-1", "s2", T0 + 1, &v), 1);
    assert_string_equal (v.id, aid);
    assert_int_equal (v.decision, CACHE_ALLOW);
    assert_int_equal (s_get (f, "v1", key, "agent-1", NULL, T0 + 1, &v), 1);
    assert_string_equal (v.id, aid);
    //  Anyone else gets the global one; its agent and session were not part of the key
    assert_int_equal (s_get (f, "v1", key, "agent-2", "s1", T0 + 1, &v), 1);
    assert_string_equal (v.id, gid);
    assert_string_equal (v.agent, "");
    assert_int_equal (s_get (f, "v1", key, NULL, NULL, T0 + 1, &v), 1);
    assert_string_equal (v.id, gid);
    //  Another request key has nothing
    uint8_t other[CACHE_KEY_BYTES];
    s_key (other, 2);
    assert_int_equal (s_get (f, "v1", other, "agent-1", "s1", T0 + 1, &v), 0);

    //  Once is never stored, yet gets an id
    char oid[CACHE_ID_HEX + 1];
    put = s_put_args ("v1", other, CACHE_SCOPE_ONCE, CACHE_ALLOW, "agent-1", "s1", 60);
    s_put (f, &put, T0, oid);
    assert_int_equal (s_get (f, "v1", other, "agent-1", "s1", T0 + 1, &v), 0);

    //  A second put at the same place replaces the first (whose id dies)
    char aid2[CACHE_ID_HEX + 1];
    put = s_put_args ("v1", key, CACHE_SCOPE_AGENT, CACHE_DENY, "agent-1", NULL, 60);
    s_put (f, &put, T0 + 5, aid2);
    assert_string_not_equal (aid, aid2);
    assert_int_equal (s_get (f, "v1", key, "agent-1", "s2", T0 + 6, &v), 1);
    assert_string_equal (v.id, aid2);
    char err[256];
    assert_int_equal (cache_store_revoke (f->store, aid, T0 + 6, err, sizeof (err)), 0);
    cache_stats_t st;
    cache_store_stats (f->store, &st);
    assert_int_equal (st.entries, 3);
    assert_int_equal (st.puts, 4);
    assert_int_equal (st.puts_once, 1);
}

static void
test_ttl_expiry (void **state)
{
    fixture_t *f = (fixture_t *) *state;
    uint8_t key[CACHE_KEY_BYTES];
    s_key (key, 1);
    char gid[CACHE_ID_HEX + 1], aid[CACHE_ID_HEX + 1];
    cache_put_t put = s_put_args ("v1", key, CACHE_SCOPE_GLOBAL, CACHE_DENY, NULL, NULL, 100);
    s_put (f, &put, T0, gid);
    put = s_put_args ("v1", key, CACHE_SCOPE_AGENT, CACHE_ALLOW, "agent-1", NULL, 10);
    s_put (f, &put, T0, aid);
    cache_verdict_t v;
    assert_int_equal (s_get (f, "v1", key, "agent-1", NULL, T0 + 9999, &v), 1);
    assert_string_equal (v.id, aid);
    //  The agent verdict has expired: the global one shows through
    assert_int_equal (s_get (f, "v1", key, "agent-1", NULL, T0 + 10000, &v), 1);
    assert_string_equal (v.id, gid);
    assert_int_equal (s_get (f, "v1", key, "agent-1", NULL, T0 + 100000, &v), 0);
    //  The sweep removes expired entries only
    char err[256];
    assert_int_equal (cache_store_sweep (f->store, T0 + 10000, 100, err, sizeof (err)), 1);
    cache_stats_t st;
    cache_store_stats (f->store, &st);
    assert_int_equal (st.entries, 1);
    assert_int_equal (st.expired_swept, 1);
    assert_int_equal (cache_store_sweep (f->store, T0 + 10000, 100, err, sizeof (err)), 0);
    //  A revocation of an expired verdict revokes nothing
    assert_int_equal (cache_store_revoke (f->store, gid, T0 + 100000, err, sizeof (err)), 0);
    cache_store_stats (f->store, &st);
    assert_int_equal (st.entries, 0);
}

static void
test_revocation_survives_reopen (void **state)
{
    fixture_t *f = (fixture_t *) *state;
    uint8_t key[CACHE_KEY_BYTES];
    s_key (key, 7);
    char id1[CACHE_ID_HEX + 1], id2[CACHE_ID_HEX + 1];
    cache_put_t put = s_put_args ("v1", key, CACHE_SCOPE_SESSION, CACHE_ALLOW, "a", "s", 600);
    s_put (f, &put, T0, id1);
    put = s_put_args ("v1", key, CACHE_SCOPE_GLOBAL, CACHE_DENY, NULL, NULL, 600);
    s_put (f, &put, T0, id2);
    char err[256];
    assert_int_equal (cache_store_revoke (f->store, id1, T0 + 1, err, sizeof (err)), 1);
    cache_verdict_t v;
    assert_int_equal (s_get (f, "v1", key, "a", "s", T0 + 2, &v), 1);
    assert_string_equal (v.id, id2);
    s_reopen (f);
    //  After a restart: the revoked one stays gone, the other is still there
    assert_int_equal (s_get (f, "v1", key, "a", "s", T0 + 3, &v), 1);
    assert_string_equal (v.id, id2);
    assert_int_equal (v.decision, CACHE_DENY);
    assert_int_equal (cache_store_revoke (f->store, id1, T0 + 3, err, sizeof (err)), 0);
    assert_int_equal (cache_store_revoke (f->store, id2, T0 + 3, err, sizeof (err)), 1);
    s_reopen (f);
    assert_int_equal (s_get (f, "v1", key, "a", "s", T0 + 4, &v), 0);
    cache_stats_t st;
    cache_store_stats (f->store, &st);
    assert_int_equal (st.entries, 0);
    //  Unknown ids and malformed ones
    assert_int_equal (
        cache_store_revoke (f->store, "00000000000000000000000000000000", T0, err, sizeof (err)),
        0);
    assert_int_equal (cache_store_revoke (f->store, "xyz", T0, err, sizeof (err)), CACHE_EBAD);
    assert_int_equal (
        cache_store_revoke (f->store, "0000000000000000000000000000000g", T0, err, sizeof (err)),
        CACHE_EBAD);
    assert_int_equal (cache_store_revoke (f->store, NULL, T0, err, sizeof (err)), CACHE_EBAD);
}

static void
test_version_invalidation (void **state)
{
    fixture_t *f = (fixture_t *) *state;
    uint8_t key[CACHE_KEY_BYTES];
    char id[CACHE_ID_HEX + 1];
    for (int i = 0; i < 10; i++) {
        s_key (key, i);
        cache_put_t put = s_put_args ("v1", key, CACHE_SCOPE_GLOBAL, CACHE_ALLOW, NULL, NULL, 600);
        s_put (f, &put, T0, id);
    }
    s_key (key, 3);
    cache_verdict_t v;
    assert_int_equal (s_get (f, "v1", key, NULL, NULL, T0 + 1, &v), 1);
    //  A new policy sees nothing of the old one, at once
    assert_int_equal (s_get (f, "v2", key, NULL, NULL, T0 + 1, &v), 0);
    cache_put_t put = s_put_args ("v2", key, CACHE_SCOPE_GLOBAL, CACHE_DENY, NULL, NULL, 600);
    s_put (f, &put, T0 + 10, id);
    //  One that sorts before and one after v2, to check the sweep skips v2's range
    put = s_put_args ("v0", key, CACHE_SCOPE_GLOBAL, CACHE_DENY, NULL, NULL, 600);
    s_put (f, &put, T0 + 11, id);
    put = s_put_args ("v2", key, CACHE_SCOPE_AGENT, CACHE_ALLOW, "a", NULL, 600);
    s_put (f, &put, T0 + 12, id); //  v2 is the version last written again, since T0 + 12
    assert_int_equal (s_get (f, "v2", key, NULL, NULL, T0 + 13, &v), 1);
    assert_int_equal (v.decision, CACHE_DENY);
    char err[256];
    //  Within the grace nothing of the old versions goes
    assert_int_equal (cache_store_sweep (f->store, T0 + 500, 100, err, sizeof (err)), 0);
    //  After it, in bounded steps
    assert_int_equal (cache_store_sweep (f->store, T0 + 2000, 4, err, sizeof (err)), 4);
    assert_int_equal (cache_store_sweep (f->store, T0 + 2000, 4, err, sizeof (err)), 4);
    assert_int_equal (cache_store_sweep (f->store, T0 + 2000, 4, err, sizeof (err)), 3);
    assert_int_equal (cache_store_sweep (f->store, T0 + 2000, 4, err, sizeof (err)), 0);
    cache_stats_t st;
    cache_store_stats (f->store, &st);
    assert_int_equal (st.entries, 2);
    assert_int_equal (st.versions_swept, 11);
    assert_int_equal (s_get (f, "v1", key, NULL, NULL, T0 + 2000, &v), 0);
    assert_int_equal (s_get (f, "v2", key, "a", NULL, T0 + 2000, &v), 1);
    assert_int_equal (v.decision, CACHE_ALLOW);
    s_reopen (f); //  the version last written is kept across a restart
    assert_int_equal (cache_store_sweep (f->store, T0 + 3000, 100, err, sizeof (err)), 0);
}

static void
test_bounds_and_eviction (void **state)
{
    fixture_t *f = (fixture_t *) *state;
    cache_store_destroy (&f->store);
    f->limits.max_entries = 3;
    s_reopen (f);
    uint8_t key[CACHE_KEY_BYTES];
    char ids[5][CACHE_ID_HEX + 1];
    //  ttl 100, 50, 200: the one with ttl 50 expires first
    int64_t ttls[] = {100, 50, 200, 300, 300};
    for (int i = 0; i < 3; i++) {
        s_key (key, i);
        cache_put_t put =
            s_put_args ("v1", key, CACHE_SCOPE_GLOBAL, CACHE_ALLOW, NULL, NULL, ttls[i]);
        s_put (f, &put, T0, ids[i]);
    }
    s_key (key, 3);
    cache_put_t put = s_put_args ("v1", key, CACHE_SCOPE_GLOBAL, CACHE_ALLOW, NULL, NULL, 300);
    s_put (f, &put, T0, ids[3]);
    cache_stats_t st;
    cache_store_stats (f->store, &st);
    assert_int_equal (st.entries, 3);
    assert_int_equal (st.evictions, 1);
    cache_verdict_t v;
    s_key (key, 1);
    assert_int_equal (s_get (f, "v1", key, NULL, NULL, T0 + 1, &v), 0); //  evicted
    s_key (key, 0);
    assert_int_equal (s_get (f, "v1", key, NULL, NULL, T0 + 1, &v), 1);
    //  Replacing an entry in a full store evicts nothing
    put = s_put_args ("v1", key, CACHE_SCOPE_GLOBAL, CACHE_DENY, NULL, NULL, 300);
    s_put (f, &put, T0 + 1, ids[4]);
    cache_store_stats (f->store, &st);
    assert_int_equal (st.entries, 3);
    assert_int_equal (st.evictions, 1);
    //  An expired entry is evicted before any live one
    s_key (key, 9);
    put = s_put_args ("v1", key, CACHE_SCOPE_GLOBAL, CACHE_ALLOW, NULL, NULL, 300);
    s_put (f, &put, T0 + 250 * 1000, ids[4]); //  key 2 (ttl 200) has expired
    s_key (key, 2);
    assert_int_equal (s_get (f, "v1", key, NULL, NULL, T0 + 1, &v), 0);
    s_key (key, 3);
    assert_int_equal (s_get (f, "v1", key, NULL, NULL, T0 + 1, &v), 1);
}

//  One round: fill a 256 KiB map until a put does not fit, then empty it
//  again. Whether a deletion fits in what the puts left depends on how the
//  random verdict ids split the pages, hence several rounds.
static void
s_map_full_round (fixture_t *f)
{
    cache_store_destroy (&f->store);
    s_rmdir (f->dir);
    assert_int_equal (mkdir (f->dir, 0700), 0);
    f->limits.map_size = 256 * 1024;
    f->limits.max_entries = 100000;
    s_reopen (f);
    char reason[CACHE_MAX_REASON + 1];
    memset (reason, 'r', CACHE_MAX_REASON);
    reason[CACHE_MAX_REASON] = 0;
    uint8_t key[CACHE_KEY_BYTES];
    char id[CACHE_ID_HEX + 1], err[256];
    int rc = 0, stored = 0;
    for (int i = 0; i < 1000 && rc == 0; i++) {
        s_key (key, i);
        cache_put_t put = s_put_args ("v1", key, CACHE_SCOPE_GLOBAL, CACHE_ALLOW, NULL, NULL, 600);
        put.reason = reason;
        rc = cache_store_put (f->store, &put, T0, id, err, sizeof (err));
        stored += rc == 0;
    }
    assert_int_equal (rc, CACHE_EFULL);
    assert_non_null (strstr (err, "full"));
    assert_true (stored > 5);
    cache_stats_t st;
    cache_store_stats (f->store, &st);
    assert_int_equal (st.entries, (uint64_t) stored);
    assert_int_equal (st.map_full, 1);
    //  Nothing changed: the failed key is absent, the others are there
    cache_verdict_t v;
    s_key (key, stored);
    assert_int_equal (s_get (f, "v1", key, NULL, NULL, T0 + 1, &v), 0);
    s_key (key, 0);
    assert_int_equal (s_get (f, "v1", key, NULL, NULL, T0 + 1, &v), 1);
    //  A full map never keeps a verdict from being revoked
    assert_int_equal (cache_store_revoke (f->store, v.id, T0 + 1, err, sizeof (err)), 1);
    assert_int_equal (s_get (f, "v1", key, NULL, NULL, T0 + 2, &v), 0);
    //  The sweep empties it, and puts fit again
    assert_true (cache_store_sweep (f->store, T0 + 601 * 1000, 1000, err, sizeof (err)) > 0);
    s_key (key, stored);
    cache_put_t put = s_put_args ("v1", key, CACHE_SCOPE_GLOBAL, CACHE_ALLOW, NULL, NULL, 600);
    assert_int_equal (cache_store_put (f->store, &put, T0 + 602 * 1000, id, err, sizeof (err)), 0);
    cache_store_stats (f->store, &st);
    assert_int_equal (st.map_full, 1); //  deletions that needed the reserve are not counted
    //  Within map_size and the deletions' reserve (256 KiB here)
    char path[300];
    struct stat sb;
    snprintf (path, sizeof (path), "%s/cache.mdb", f->dir);
    assert_int_equal (stat (path, &sb), 0);
    assert_true ((size_t) sb.st_size <= f->limits.map_size + 256 * 1024);
}

static void
test_map_full (void **state)
{
    fixture_t *f = (fixture_t *) *state;
    for (int round = 0; round < 30; round++)
        s_map_full_round (f);
}

static void
test_bad_arguments (void **state)
{
    fixture_t *f = (fixture_t *) *state;
    uint8_t key[CACHE_KEY_BYTES];
    s_key (key, 1);
    char id[CACHE_ID_HEX + 1], err[256];
    char long_policy[CACHE_MAX_POLICY + 2], long_reason[CACHE_MAX_REASON + 2];
    memset (long_policy, 'p', sizeof (long_policy) - 1);
    long_policy[sizeof (long_policy) - 1] = 0;
    memset (long_reason, 'r', sizeof (long_reason) - 1);
    long_reason[sizeof (long_reason) - 1] = 0;
    cache_put_t good = s_put_args ("v1", key, CACHE_SCOPE_SESSION, CACHE_ALLOW, "a", "s", 60);
    cache_put_t bad[12];
    for (int i = 0; i < 12; i++)
        bad[i] = good;
    bad[0].policy = "";
    bad[1].policy = long_policy;
    bad[2].key = NULL;
    bad[3].scope = CACHE_SCOPES;
    bad[4].decision = (cache_decision_t) 7;
    bad[5].expert = "";
    bad[6].reason = long_reason;
    bad[7].ttl_s = 0;
    bad[8].ttl_s = 3601;
    bad[9].session = "";
    bad[10].agent = "bad agent";
    bad[11].scope = CACHE_SCOPE_AGENT;
    bad[11].agent = NULL;
    for (int i = 0; i < 12; i++) {
        err[0] = 0;
        if (cache_store_put (f->store, &bad[i], T0, id, err, sizeof (err)) != CACHE_EBAD)
            fail_msg ("bad put %d was accepted", i);
        assert_true (err[0] != 0);
    }
    cache_stats_t st;
    cache_store_stats (f->store, &st);
    assert_int_equal (st.entries, 0);
    assert_int_equal (st.puts, 0);
    cache_verdict_t v;
    assert_int_equal (cache_store_get (f->store, "", key, NULL, NULL, T0, &v, err, sizeof (err)),
                      -1);
    assert_int_equal (cache_store_get (f->store, "v1", NULL, NULL, NULL, T0, &v, err, sizeof (err)),
                      -1);
    //  Bad limits
    cache_limits_t limits = f->limits;
    limits.max_entries = 0;
    assert_null (cache_store_open (f->dir, &limits, err, sizeof (err)));
    limits = f->limits;
    limits.map_size = 1024;
    assert_null (cache_store_open (f->dir, &limits, err, sizeof (err)));
    assert_null (cache_store_open ("/proc/lh-no-such/cache", &f->limits, err, sizeof (err)));
    //  Names
    assert_int_equal (cache_scope_parse ("agent", 5), CACHE_SCOPE_AGENT);
    assert_int_equal (cache_scope_parse ("agents", 6), -1);
    assert_int_equal (cache_decision_parse ("deny", 4), CACHE_DENY);
    assert_int_equal (cache_decision_parse ("escalate", 8), -1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_scopes_and_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown (test_ttl_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown (test_revocation_survives_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown (test_version_invalidation, setup, teardown),
        cmocka_unit_test_setup_teardown (test_bounds_and_eviction, setup, teardown),
        cmocka_unit_test_setup_teardown (test_map_full, setup, teardown),
        cmocka_unit_test_setup_teardown (test_bad_arguments, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
