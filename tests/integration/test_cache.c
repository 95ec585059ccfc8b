/*  Integration tests: lh-cache (service cache) behind a real broker, over
    CURVE: put, get, revoke and stats on the wire, the roles the node
    enforces, malformed bodies, and verdicts kept across a restart. */
#include "harness.h"

#include "codec.h"

#include <signal.h>
#include <stdarg.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sys/wait.h>
#include <unistd.h>

static const uint8_t s_key[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                  17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static pid_t
s_start_cache (cluster_t *c)
{
    return cluster_start_cache (c, "--max-ttl 3600 --log-level debug");
}

//  Calls cache with a body packed by the caller (a map without id)
static lh_reply_t *
s_call (cluster_t *c, zcert_t *cert, codec_buf_t *body)
{
    lh_client_t *client = cluster_client (c, cert);
    lh_reply_t *reply = lh_client_call (client, "cache", body->sbuf.data, body->sbuf.size);
    lh_client_destroy (&client);
    codec_buf_destroy (body);
    assert_non_null (reply);
    return reply;
}

static lh_reply_t *
s_put (cluster_t *c, zcert_t *cert, const char *scope, const char *decision, const char *agent,
       const char *session, int64_t ttl)
{
    codec_buf_t b;
    codec_buf_init (&b);
    msgpack_pack_map (&b.pk, 7 + (agent != NULL) + (session != NULL));
    codec_pack_kv_str (&b.pk, "op", "put");
    codec_pack_kv_str (&b.pk, "policy", "p1");
    codec_pack_kv_bin (&b.pk, "key", s_key, sizeof (s_key));
    codec_pack_kv_str (&b.pk, "scope", scope);
    codec_pack_kv_str (&b.pk, "decision", decision);
    codec_pack_kv_str (&b.pk, "expert", "alice");
    codec_pack_kv_i64 (&b.pk, "ttl", ttl);
    if (agent)
        codec_pack_kv_str (&b.pk, "agent", agent);
    if (session)
        codec_pack_kv_str (&b.pk, "session", session);
    return s_call (c, cert, &b);
}

static lh_reply_t *
s_get (cluster_t *c, zcert_t *cert, const char *agent, const char *session)
{
    codec_buf_t b;
    codec_buf_init (&b);
    msgpack_pack_map (&b.pk, 3 + (agent != NULL) + (session != NULL));
    codec_pack_kv_str (&b.pk, "op", "get");
    codec_pack_kv_str (&b.pk, "policy", "p1");
    codec_pack_kv_bin (&b.pk, "key", s_key, sizeof (s_key));
    if (agent)
        codec_pack_kv_str (&b.pk, "agent", agent);
    if (session)
        codec_pack_kv_str (&b.pk, "session", session);
    return s_call (c, cert, &b);
}

static lh_reply_t *
s_revoke (cluster_t *c, zcert_t *cert, const char *verdict_id)
{
    codec_buf_t b;
    codec_buf_init (&b);
    msgpack_pack_map (&b.pk, 2);
    codec_pack_kv_str (&b.pk, "op", "revoke");
    codec_pack_kv_str (&b.pk, "verdict_id", verdict_id);
    return s_call (c, cert, &b);
}

//  The verdict id of a put reply
static void
s_put_ok (lh_reply_t **reply, char *id, size_t size)
{
    cluster_expect_ok (*reply);
    assert_true (codec_str_copy (codec_map_get (lh_reply_root (*reply), "verdict_id"), id, size));
    assert_int_equal (strlen (id), 32);
    lh_reply_destroy (reply);
}

//  The verdict id of a get reply, "" when none was found
static void
s_found (lh_reply_t **reply, char *id, size_t size, char *decision, size_t dsize)
{
    cluster_expect_ok (*reply);
    const msgpack_object *root = lh_reply_root (*reply);
    const msgpack_object *found = codec_map_get (root, "found");
    assert_non_null (found);
    id[0] = 0;
    if (found->via.boolean) {
        const msgpack_object *v = codec_map_get (root, "verdict");
        assert_true (codec_str_copy (codec_map_get (v, "verdict_id"), id, size));
        assert_true (codec_str_copy (codec_map_get (v, "decision"), decision, dsize));
        assert_true (codec_str_eq (codec_map_get (v, "expert"), "alice"));
    }
    lh_reply_destroy (reply);
}

static void
s_expect (cluster_t *c, zcert_t *cert, const char *agent, const char *session, const char *want_id,
          const char *want_decision)
{
    char id[64], decision[16] = "";
    lh_reply_t *reply = s_get (c, cert, agent, session);
    s_found (&reply, id, sizeof (id), decision, sizeof (decision));
    assert_string_equal (id, want_id);
    if (want_decision)
        assert_string_equal (decision, want_decision);
}

static void
test_cache_over_the_wire (void **state)
{
    (void) state;
    cluster_t *c = cluster_new ("    cache\n", NULL);
    zcert_t *expert = launcher_keygen (c->launcher, "expert-1", "expert");
    fflush (NULL); //  the launcher's roster file, then the broker reads it again
    kill (c->broker, SIGHUP);
    zclock_sleep (300);
    pid_t cache = s_start_cache (c);

    //  put by a node; get by a node sees precedence
    char gid[64], aid[64], sid[64];
    lh_reply_t *reply = s_put (c, c->node, "global", "deny", NULL, NULL, 600);
    s_put_ok (&reply, gid, sizeof (gid));
    reply = s_put (c, c->admin, "agent", "allow", "agent-1", NULL, 600);
    s_put_ok (&reply, aid, sizeof (aid));
    reply = s_put (c, c->node, "session", "deny", "agent-1", "s1", 600);
    s_put_ok (&reply, sid, sizeof (sid));
    s_expect (c, c->node, "agent-1", "s1", sid, "deny");
    s_expect (c, c->node, "agent-1", "s2", aid, "allow");
    s_expect (c, c->node, "agent-2", NULL, gid, "deny");
    s_expect (c, expert, "agent-1", NULL, aid, "allow");
    //  An agent gets only its own: its id is taken from the broker's frame
    s_expect (c, c->agent, NULL, NULL, aid, "allow");
    s_expect (c, c->agent2, NULL, NULL, gid, "deny");
    reply = s_get (c, c->agent2, "agent-1", NULL);
    cluster_expect_error (&reply, LH_E_FORBIDDEN);
    //  once is answered but not stored
    char oid[64];
    reply = s_put (c, c->node, "once", "allow", "agent-2", NULL, 60);
    cluster_expect_ok (reply);
    assert_false (codec_map_get (lh_reply_root (reply), "stored")->via.boolean);
    s_put_ok (&reply, oid, sizeof (oid));
    s_expect (c, c->node, "agent-2", NULL, gid, NULL);

    //  put and revoke are for nodes and admins
    reply = s_put (c, c->agent, "global", "allow", NULL, NULL, 60);
    cluster_expect_error (&reply, LH_E_FORBIDDEN);
    reply = s_put (c, expert, "global", "allow", NULL, NULL, 60);
    cluster_expect_error (&reply, LH_E_FORBIDDEN);
    reply = s_revoke (c, c->agent, gid);
    cluster_expect_error (&reply, LH_E_FORBIDDEN);
    reply = s_revoke (c, expert, gid);
    cluster_expect_error (&reply, LH_E_FORBIDDEN);
    s_expect (c, c->node, "agent-2", NULL, gid, "deny"); //  nothing changed

    //  Malformed bodies: bad_request, nothing changed
    const char *bad[] = {
        "{}",
        "{\"op\":1}",
        "{\"op\":\"get\",\"policy\":\"p1\",\"key\":\"not bin\"}",
        "{\"op\":\"get\",\"key\":\"x\"}",
        "{\"op\":\"revoke\",\"verdict_id\":\"short\"}",
        "{\"op\":\"revoke\",\"verdict_id\":\"ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ\"}",
        "{\"op\":\"revoke\"}",
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        reply = cluster_call (c, c->node, "cache", bad[i]);
        if (lh_reply_ok (reply) || lh_reply_code (reply) != LH_E_BAD_REQUEST)
            fail_msg ("%s: expected bad_request, got %s", bad[i], lh_reply_code_name (reply));
        lh_reply_destroy (&reply);
    }
    reply = cluster_call (c, c->node, "cache", "{\"op\":\"flush\"}");
    cluster_expect_error (&reply, LH_E_UNSUPPORTED);
    reply = s_put (c, c->node, "global", "maybe", NULL, NULL, 60);
    cluster_expect_error (&reply, LH_E_BAD_REQUEST);
    reply = s_put (c, c->node, "global", "allow", NULL, NULL, 3601); //  over --max-ttl
    cluster_expect_error (&reply, LH_E_BAD_REQUEST);
    reply = s_put (c, c->node, "global", "allow", NULL, NULL, 0);
    cluster_expect_error (&reply, LH_E_BAD_REQUEST);
    reply = s_put (c, c->node, "session", "allow", "agent-1", NULL, 60); //  no session
    cluster_expect_error (&reply, LH_E_BAD_REQUEST);
    reply = s_put (c, c->node, "everywhere", "allow", NULL, NULL, 60);
    cluster_expect_error (&reply, LH_E_BAD_REQUEST);
    {
        codec_buf_t b; //  a key of 31 bytes
        codec_buf_init (&b);
        msgpack_pack_map (&b.pk, 3);
        codec_pack_kv_str (&b.pk, "op", "get");
        codec_pack_kv_str (&b.pk, "policy", "p1");
        codec_pack_kv_bin (&b.pk, "key", s_key, 31);
        reply = s_call (c, c->node, &b);
        cluster_expect_error (&reply, LH_E_BAD_REQUEST);
    }
    s_expect (c, c->node, "agent-2", NULL, gid, "deny");
    s_expect (c, c->node, "agent-1", "s1", sid, "deny");

    //  Revocation: the session verdict goes, the agent one shows through
    reply = s_revoke (c, c->node, sid);
    cluster_expect_ok (reply);
    assert_true (codec_map_get (lh_reply_root (reply), "revoked")->via.boolean);
    lh_reply_destroy (&reply);
    reply = s_revoke (c, c->admin, sid);
    cluster_expect_ok (reply);
    assert_false (codec_map_get (lh_reply_root (reply), "revoked")->via.boolean);
    lh_reply_destroy (&reply);
    s_expect (c, c->node, "agent-1", "s1", aid, "allow");

    //  stats: counters, for nodes and admins
    reply = cluster_call (c, c->admin, "cache", "{\"op\":\"stats\"}");
    cluster_expect_ok (reply);
    const msgpack_object *counters = codec_map_get (lh_reply_root (reply), "counters");
    assert_non_null (counters);
    assert_int_equal (codec_map_get (counters, "entries")->via.u64, 2);
    assert_int_equal (codec_map_get (counters, "revocations")->via.u64, 1);
    assert_true (codec_map_get (counters, "forbidden")->via.u64 >= 5);
    lh_reply_destroy (&reply);
    reply = cluster_call (c, c->agent, "cache", "{\"op\":\"stats\"}");
    cluster_expect_error (&reply, LH_E_FORBIDDEN);

    //  A restart keeps the verdicts and the revocation
    int status = cluster_signal (c, cache, SIGTERM);
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 0);
    assert_true (cluster_wait_workers (c, "cache", 0, 10000));
    cache = s_start_cache (c);
    s_expect (c, c->node, "agent-1", "s1", aid, "allow");
    s_expect (c, c->node, "agent-2", "s1", gid, "deny");
    reply = s_revoke (c, c->node, sid);
    cluster_expect_ok (reply);
    assert_false (codec_map_get (lh_reply_root (reply), "revoked")->via.boolean);
    lh_reply_destroy (&reply);
    status = cluster_signal (c, cache, SIGTERM);
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    cluster_destroy (&c);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown (test_cache_over_the_wire, cluster_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
