/*  test_auth -- unit tests for broker/auth.c (cmocka): service patterns,
    roles, roster loading from temporary files and the ZAP handler. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "lh_log.h"
#include "lh_proto.h"

//  --------------------------------------------------------------------------
//  Patterns and roles

static void
test_pattern_match (void **state)
{
    (void) state;
    struct {
        const char *patterns;
        const char *service;
        bool match;
    } cases[] = {
        {"*", "echo", true},
        {"*", "events.read", true},
        {"*", "x", true},
        {"echo", "echo", true},
        {"echo", "ech", false},
        {"echo", "echo2", false},
        {"echo", "echoes", false},
        {"echo", "Echo", false},
        {"events.*", "events.read", true},
        {"events.*", "events.a.b", true},
        {"events.*", "events", false},
        {"events.*", "eventsx", false},
        {"events.*", "event", false},
        {"events.*", "xevents.read", false},
        {"events.*", "other.read", false},
        {"validate events.* echo", "echo", true},
        {"validate events.* echo", "validate", true},
        {"validate events.* echo", "events.write", true},
        {"validate events.* echo", "valid", false},
        {"validate events.* echo", "other", false},
        {"a,b", "b", true},
        {"a, b", "b", true},
        {"a,  ,b", "b", true},
        {"  echo  ", "echo", true},
        {"a * b", "anything", true},
        {"", "echo", false},
        {"   ", "echo", false},
        {",,", "echo", false},
        {"mmi.*", "mmi.service", true},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        bool got = auth_pattern_match (cases[i].patterns, cases[i].service);
        if (got != cases[i].match)
            fail_msg ("auth_pattern_match (\"%s\", \"%s\") = %d, expected %d", cases[i].patterns,
                      cases[i].service, got, cases[i].match);
    }
}

static void
test_roles (void **state)
{
    (void) state;
    assert_int_equal (role_parse ("agent"), ROLE_AGENT);
    assert_int_equal (role_parse ("expert"), ROLE_EXPERT);
    assert_int_equal (role_parse ("node"), ROLE_NODE);
    assert_int_equal (role_parse ("admin"), ROLE_ADMIN);
    assert_int_equal (role_parse ("Admin"), ROLE_COUNT);
    assert_int_equal (role_parse ("admin "), ROLE_COUNT);
    assert_int_equal (role_parse ("adm"), ROLE_COUNT);
    assert_int_equal (role_parse (""), ROLE_COUNT);
    assert_int_equal (role_parse (NULL), ROLE_COUNT);
    for (int role = 0; role < ROLE_COUNT; role++)
        assert_int_equal (role_parse (role_name ((role_t) role)), role);
    assert_string_equal (role_name (ROLE_COUNT), "unknown");
}

//  --------------------------------------------------------------------------
//  Roster files

typedef struct {
    char dir[256];
    char path[300];
    char keys[4][41]; //  fresh Z85 public keys
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *f = (fixture_t *) calloc (1, sizeof (fixture_t));
    const char *tmp = getenv ("TMPDIR");
    snprintf (f->dir, sizeof (f->dir), "%s/lh-test-auth-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp (f->dir))
        return -1;
    snprintf (f->path, sizeof (f->path), "%s/roster.cfg", f->dir);
    for (int i = 0; i < 4; i++) {
        char secret[41];
        if (zmq_curve_keypair (f->keys[i], secret) != 0)
            return -1;
    }
    *state = f;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *f = (fixture_t *) *state;
    unlink (f->path);
    rmdir (f->dir);
    free (f);
    return 0;
}

static void
s_write (const fixture_t *f, const char *text)
{
    FILE *file = fopen (f->path, "w");
    assert_non_null (file);
    fputs (text, file);
    fclose (file);
}

//  One roster entry as ZPL
static void
s_entry (char *buf, size_t size, const char *agent, const char *key, const char *role)
{
    size_t len = strlen (buf);
    snprintf (buf + len, size - len, "    %s\n        key = \"%s\"\n        role = %s\n", agent,
              key, role);
}

static void
test_roster_valid (void **state)
{
    fixture_t *f = (fixture_t *) *state;
    char text[2048] = "#   Lighthouse roster\nprincipal\n";
    s_entry (text, sizeof (text), "agent-7", f->keys[0], "agent");
    s_entry (text, sizeof (text), "expert_1", f->keys[1], "expert");
    s_entry (text, sizeof (text), "node.echo", f->keys[2], "node");
    s_entry (text, sizeof (text), "Admin", f->keys[3], "admin");
    s_write (f, text);
    auth_t *auth = auth_new (f->path);
    assert_non_null (auth);
    assert_int_equal (auth_size (auth), 4);
    assert_int_equal (auth_accepted (auth), 0);
    assert_int_equal (auth_denied (auth), 0);
    auth_destroy (&auth);
    assert_null (auth);

    //  Longest agent id allowed
    char agent[LH_MAX_AGENT + 1];
    memset (agent, 'a', LH_MAX_AGENT);
    agent[LH_MAX_AGENT] = 0;
    snprintf (text, sizeof (text), "principal\n");
    s_entry (text, sizeof (text), agent, f->keys[0], "agent");
    s_write (f, text);
    auth = auth_new (f->path);
    assert_non_null (auth);
    assert_int_equal (auth_size (auth), 1);
    auth_destroy (&auth);
}

static void
s_expect_refused (fixture_t *f, const char *label, const char *text)
{
    s_write (f, text);
    auth_t *auth = auth_new (f->path);
    if (auth) {
        size_t size = auth_size (auth);
        auth_destroy (&auth);
        fail_msg ("%s: roster accepted with %zu principals", label, size);
    }
}

static void
test_roster_invalid (void **state)
{
    fixture_t *f = (fixture_t *) *state;
    char text[2048];
    char key[48];

    //  Key one character short, one too long
    snprintf (key, sizeof (key), "%.39s", f->keys[0]);
    snprintf (text, sizeof (text), "principal\n");
    s_entry (text, sizeof (text), "agent-1", key, "agent");
    s_expect_refused (f, "key of 39 chars", text);
    snprintf (key, sizeof (key), "%sx", f->keys[0]);
    snprintf (text, sizeof (text), "principal\n");
    s_entry (text, sizeof (text), "agent-1", key, "agent");
    s_expect_refused (f, "key of 41 chars", text);
    //  40 chars but not Z85
    snprintf (key, sizeof (key), "~%.39s", f->keys[0] + 1);
    snprintf (text, sizeof (text), "principal\n");
    s_entry (text, sizeof (text), "agent-1", key, "agent");
    s_expect_refused (f, "key with '~'", text);
    //  No key at all
    s_expect_refused (f, "no key", "principal\n    agent-1\n        role = agent\n");

    //  Roles
    snprintf (text, sizeof (text), "principal\n");
    s_entry (text, sizeof (text), "agent-1", f->keys[0], "superuser");
    s_expect_refused (f, "role superuser", text);
    snprintf (text, sizeof (text), "principal\n");
    s_entry (text, sizeof (text), "agent-1", f->keys[0], "Agent");
    s_expect_refused (f, "role Agent", text);
    snprintf (text, sizeof (text), "principal\n    agent-1\n        key = \"%s\"\n", f->keys[0]);
    s_expect_refused (f, "no role", text);

    //  Agent names: a ZPL name, but not an agent id
    snprintf (text, sizeof (text), "principal\n");
    s_entry (text, sizeof (text), "bad$agent", f->keys[0], "agent");
    s_expect_refused (f, "agent bad$agent", text);
    snprintf (text, sizeof (text), "principal\n");
    s_entry (text, sizeof (text), "a/b", f->keys[0], "agent");
    s_expect_refused (f, "agent a/b", text);
    char agent[LH_MAX_AGENT + 2];
    memset (agent, 'a', LH_MAX_AGENT + 1);
    agent[LH_MAX_AGENT + 1] = 0;
    snprintf (text, sizeof (text), "principal\n");
    s_entry (text, sizeof (text), agent, f->keys[0], "agent");
    s_expect_refused (f, "agent of 65 chars", text);

    //  One bad entry after good ones spoils the roster
    snprintf (text, sizeof (text), "principal\n");
    s_entry (text, sizeof (text), "agent-1", f->keys[0], "agent");
    s_entry (text, sizeof (text), "agent-2", f->keys[1], "agent");
    s_entry (text, sizeof (text), "agent-3", f->keys[2], "boss");
    s_expect_refused (f, "third entry bad", text);

    //  Two principals with one key
    snprintf (text, sizeof (text), "principal\n");
    s_entry (text, sizeof (text), "agent-1", f->keys[0], "agent");
    s_entry (text, sizeof (text), "agent-2", f->keys[1], "agent");
    s_entry (text, sizeof (text), "agent-3", f->keys[0], "admin");
    s_expect_refused (f, "duplicate key", text);

    //  No file
    unlink (f->path);
    assert_null (auth_new (f->path));
    assert_null (auth_new ("/nonexistent/dir/roster.cfg"));
}

static void
test_reload_keeps_old_on_error (void **state)
{
    fixture_t *f = (fixture_t *) *state;
    char text[2048] = "principal\n";
    s_entry (text, sizeof (text), "agent-1", f->keys[0], "agent");
    s_entry (text, sizeof (text), "agent-2", f->keys[1], "expert");
    s_write (f, text);
    auth_t *auth = auth_new (f->path);
    assert_non_null (auth);
    assert_int_equal (auth_size (auth), 2);

    //  Bad role: refused, old roster stays
    snprintf (text, sizeof (text), "principal\n");
    s_entry (text, sizeof (text), "agent-1", f->keys[0], "agent");
    s_entry (text, sizeof (text), "agent-2", f->keys[1], "expert");
    s_entry (text, sizeof (text), "agent-3", f->keys[2], "wizard");
    s_write (f, text);
    assert_int_equal (auth_reload (auth), -1);
    assert_int_equal (auth_size (auth), 2);

    //  Duplicate key: refused too
    snprintf (text, sizeof (text), "principal\n");
    s_entry (text, sizeof (text), "agent-1", f->keys[0], "agent");
    s_entry (text, sizeof (text), "agent-9", f->keys[0], "agent");
    s_write (f, text);
    assert_int_equal (auth_reload (auth), -1);
    assert_int_equal (auth_size (auth), 2);

    //  A good file replaces the roster
    snprintf (text, sizeof (text), "principal\n");
    s_entry (text, sizeof (text), "agent-1", f->keys[0], "agent");
    s_entry (text, sizeof (text), "agent-2", f->keys[1], "expert");
    s_entry (text, sizeof (text), "agent-3", f->keys[2], "node");
    s_write (f, text);
    assert_int_equal (auth_reload (auth), 0);
    assert_int_equal (auth_size (auth), 3);

    //  File gone: keep the last good one
    unlink (f->path);
    assert_int_equal (auth_reload (auth), -1);
    assert_int_equal (auth_size (auth), 3);
    auth_destroy (&auth);
}

//  --------------------------------------------------------------------------
//  ZAP handler, driven directly over inproc (RFC 27)

typedef struct {
    char status[8];
    char text[64];
    char user[LH_MAX_AGENT + 1];
    char role[16];
    char key[41];
} zap_reply_t;

static void
s_zap_call (auth_t *auth, zsock_t *client, const char *mechanism, const uint8_t *key,
            size_t key_size, zap_reply_t *reply)
{
    zmsg_t *request = zmsg_new ();
    zmsg_addstr (request, "1.0");
    zmsg_addstr (request, "req-1");
    zmsg_addstr (request, "global");
    zmsg_addstr (request, "127.0.0.1");
    zmsg_addstr (request, "");
    zmsg_addstr (request, mechanism);
    if (key)
        zmsg_addmem (request, key, key_size);
    assert_int_equal (zmsg_send (&request, client), 0);
    //  The handler reads one request
    zpoller_t *poller = zpoller_new (auth_zap_socket (auth), NULL);
    assert_ptr_equal (zpoller_wait (poller, 2000), auth_zap_socket (auth));
    zpoller_destroy (&poller);
    auth_zap_handle (auth);

    zsock_set_rcvtimeo (client, 2000);
    zmsg_t *msg = zmsg_recv (client);
    assert_non_null (msg);
    assert_int_equal (zmsg_size (msg), 6);
    char *version = zmsg_popstr (msg);
    char *request_id = zmsg_popstr (msg);
    char *status = zmsg_popstr (msg);
    char *text = zmsg_popstr (msg);
    char *user = zmsg_popstr (msg);
    zframe_t *meta = zmsg_pop (msg);
    assert_string_equal (version, "1.0");
    assert_string_equal (request_id, "req-1");
    snprintf (reply->status, sizeof (reply->status), "%s", status);
    snprintf (reply->text, sizeof (reply->text), "%s", text);
    snprintf (reply->user, sizeof (reply->user), "%s", user);
    reply->role[0] = reply->key[0] = 0;

    //  Metadata: name length (1), name, value length (4, BE), value
    const uint8_t *p = zframe_data (meta);
    const uint8_t *end = p + zframe_size (meta);
    while (p < end) {
        assert_true (end - p >= 1);
        size_t name_len = *p++;
        assert_true ((size_t) (end - p) >= name_len + 4);
        const char *name = (const char *) p;
        p += name_len;
        size_t value_len = (size_t) p[0] << 24 | (size_t) p[1] << 16 | (size_t) p[2] << 8 | p[3];
        p += 4;
        assert_true ((size_t) (end - p) >= value_len);
        if (name_len == 7 && memcmp (name, "Lh-Role", 7) == 0)
            snprintf (reply->role, sizeof (reply->role), "%.*s", (int) value_len, p);
        else if (name_len == 6 && memcmp (name, "Lh-Key", 6) == 0)
            snprintf (reply->key, sizeof (reply->key), "%.*s", (int) value_len, p);
        else
            fail_msg ("unexpected metadata %.*s", (int) name_len, name);
        p += value_len;
    }
    zframe_destroy (&meta);
    zstr_free (&version);
    zstr_free (&request_id);
    zstr_free (&status);
    zstr_free (&text);
    zstr_free (&user);
    zmsg_destroy (&msg);
}

static void
test_zap_handler (void **state)
{
    fixture_t *f = (fixture_t *) *state;
    char text[2048] = "principal\n";
    s_entry (text, sizeof (text), "agent-7", f->keys[0], "expert");
    s_write (f, text);
    auth_t *auth = auth_new (f->path);
    assert_non_null (auth);
    assert_int_equal (auth_zap_bind (auth), 0);
    assert_non_null (auth_zap_socket (auth));
    zsock_t *client = zsock_new_req ("inproc://zeromq.zap.01");
    assert_non_null (client);

    uint8_t known[32], unknown[32];
    assert_non_null (zmq_z85_decode (known, f->keys[0]));
    assert_non_null (zmq_z85_decode (unknown, f->keys[1]));

    zap_reply_t reply;
    s_zap_call (auth, client, "CURVE", known, 32, &reply);
    assert_string_equal (reply.status, "200");
    assert_string_equal (reply.user, "agent-7");
    assert_string_equal (reply.role, "expert");
    assert_string_equal (reply.key, f->keys[0]);
    assert_int_equal (auth_accepted (auth), 1);

    s_zap_call (auth, client, "CURVE", unknown, 32, &reply);
    assert_string_equal (reply.status, "400");
    assert_string_equal (reply.user, "");
    assert_string_equal (reply.role, "");
    s_zap_call (auth, client, "PLAIN", known, 32, &reply);
    assert_string_equal (reply.status, "400");
    assert_string_equal (reply.text, "unsupported mechanism");
    s_zap_call (auth, client, "CURVE", known, 31, &reply);
    assert_string_equal (reply.status, "400");
    s_zap_call (auth, client, "CURVE", NULL, 0, &reply);
    assert_string_equal (reply.status, "400");
    assert_int_equal (auth_accepted (auth), 1);
    assert_int_equal (auth_denied (auth), 4);

    //  After a reload the new roster answers
    snprintf (text, sizeof (text), "principal\n");
    s_entry (text, sizeof (text), "agent-8", f->keys[1], "node");
    s_write (f, text);
    assert_int_equal (auth_reload (auth), 0);
    s_zap_call (auth, client, "CURVE", unknown, 32, &reply);
    assert_string_equal (reply.status, "200");
    assert_string_equal (reply.user, "agent-8");
    assert_string_equal (reply.role, "node");
    s_zap_call (auth, client, "CURVE", known, 32, &reply);
    assert_string_equal (reply.status, "400");

    zsock_destroy (&client);
    auth_destroy (&auth);
}

int
main (void)
{
    //  Roster errors are logged; keep the test output readable
    lh_log_init ("test_auth", (lh_log_level_t) (LH_LOG_ERROR + 1));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_pattern_match),
        cmocka_unit_test (test_roles),
        cmocka_unit_test_setup_teardown (test_roster_valid, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_roster_invalid, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_reload_keeps_old_on_error, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_zap_handler, s_setup, s_teardown),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zsys_shutdown ();
    return rc;
}
