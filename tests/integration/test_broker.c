/*  Integration tests: a real lh-broker and lh-echo processes on loopback,
    with CURVE, driven through the SDK and through raw sockets. */
#include "harness.h"

#include "codec.h"
#include "jsonpack.h"

#include <signal.h>
#include <stdarg.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sys/wait.h>
#include <unistd.h>

//  --------------------------------------------------------------------------
//  Helpers

static const msgpack_object *
s_get (const lh_reply_t *reply, const char *path)
{
    //  "a.b.c" through nested maps
    const msgpack_object *obj = lh_reply_root (reply);
    char buf[128];
    snprintf (buf, sizeof (buf), "%s", path);
    for (char *part = strtok (buf, "."); part && obj; part = strtok (NULL, "."))
        obj = codec_map_get (obj, part);
    return obj;
}

static void
s_assert_ok (lh_reply_t *reply)
{
    assert_non_null (reply);
    if (!lh_reply_ok (reply))
        fail_msg ("expected ok, got %s: %s", lh_reply_code_name (reply), lh_reply_message (reply));
}

static void
s_assert_error (lh_reply_t *reply, lh_err_t code)
{
    assert_non_null (reply);
    if (lh_reply_ok (reply) || lh_reply_code (reply) != code)
        fail_msg ("expected error %s, got ok=%d code=%s message=%s", codec_err_name (code),
                  lh_reply_ok (reply), lh_reply_code_name (reply), lh_reply_message (reply));
}

//  Sends raw frames on a fresh CURVE DEALER and returns the reply body's
//  decoded doc (or NULL when nothing came back within timeout_ms).
static codec_doc_t *
s_raw (cluster_t *c, zcert_t *cert, int timeout_ms, int count, ...)
{
    lh_connect_t conn = cluster_connect (c, cert, false);
    zsock_t *sock = lh_connect_dealer (&conn);
    assert_non_null (sock);
    zmsg_t *msg = zmsg_new ();
    va_list args;
    va_start (args, count);
    for (int i = 0; i < count; i++) {
        const void *data = va_arg (args, const void *);
        size_t size = va_arg (args, size_t);
        zmsg_addmem (msg, data, size);
    }
    va_end (args);
    zmsg_send (&msg, sock);
    zsock_set_rcvtimeo (sock, timeout_ms);
    zmsg_t *reply = zmsg_recv (sock);
    codec_doc_t *doc = NULL;
    if (reply) {
        assert_int_equal (zmsg_size (reply), 4);
        zframe_t *body = zmsg_last (reply);
        doc = codec_doc_decode (zframe_data (body), zframe_size (body), NULL, NULL);
        assert_non_null (doc);
        zmsg_destroy (&reply);
    }
    zsock_destroy (&sock);
    return doc;
}

static void
s_assert_doc_error (codec_doc_t *doc, const char *code)
{
    assert_non_null (doc);
    const msgpack_object *root = codec_doc_root (doc);
    const msgpack_object *ok = codec_map_get (root, "ok");
    assert_true (ok && ok->type == MSGPACK_OBJECT_BOOLEAN && !ok->via.boolean);
    assert_true (codec_str_eq (codec_map_get (codec_map_get (root, "error"), "code"), code));
}

static bool
s_broker_alive (cluster_t *c)
{
    lh_reply_t *reply = cluster_call (c, c->admin, "broker.ping", "{}");
    bool ok = lh_reply_ok (reply);
    lh_reply_destroy (&reply);
    return ok;
}

//  --------------------------------------------------------------------------
//  Tests

static void
test_roundtrip_and_caller_frame_wins (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    cluster_start_echo (c, "echo", true);
    lh_reply_t *reply = cluster_call (c, c->agent, "echo",
                                      "{\"text\":\"hi\",\"agent\":\"agent-2\",\"role\":\"admin\"}");
    s_assert_ok (reply);
    assert_true (codec_str_eq (s_get (reply, "echo.text"), "hi"));
    //  The body claims agent-2 and admin; the broker's caller frame says who it really was
    assert_true (codec_str_eq (s_get (reply, "caller.agent"), "agent-1"));
    assert_true (codec_str_eq (s_get (reply, "caller.role"), "agent"));
    assert_true (codec_str_eq (s_get (reply, "caller.key"), zcert_public_txt (c->agent)));
    assert_int_equal (s_get (reply, "id")->via.u64, lh_reply_id (reply));
    lh_reply_destroy (&reply);
    cluster_destroy (&c);
}

static void
test_pipelined_replies_match_ids (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, "broker/queue_max=5000");
    cluster_start_echo (c, "echo", true);
    cluster_start_echo (c, "echo", true);
    lh_client_t *client = cluster_client (c, c->admin);
    //  Thousands in flight: the deadline is for a loaded CI machine, not a test of speed
    lh_client_set_timeout (client, 30000);
    enum { N = 2000 };
    static uint64_t seen[N + 1];
    memset (seen, 0, sizeof (seen));
    for (uint64_t i = 0; i < N; i++) {
        codec_buf_t buf;
        codec_buf_init (&buf);
        msgpack_pack_map (&buf.pk, 1);
        codec_pack_str (&buf.pk, "n");
        msgpack_pack_uint64 (&buf.pk, i);
        uint64_t id;
        assert_int_equal (lh_client_send (client, "echo", buf.sbuf.data, buf.sbuf.size, &id, NULL),
                          0);
        codec_buf_destroy (&buf);
        assert_true (id >= 1 && id <= N);
        seen[id] = i + 1; //  expected n for this id, plus one
    }
    for (int i = 0; i < N; i++) {
        lh_reply_t *reply = lh_client_recv (client, 5000);
        assert_non_null (reply);
        s_assert_ok (reply);
        uint64_t id = lh_reply_id (reply);
        assert_true (seen[id] > 0);
        assert_int_equal (s_get (reply, "echo.n")->via.u64, seen[id] - 1);
        seen[id] = 0; //  each id answered once
        lh_reply_destroy (&reply);
    }
    assert_int_equal (lh_client_pending (client), 0);
    lh_client_destroy (&client);
    cluster_destroy (&c);
}

static void
test_garbage_frames (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    cluster_start_echo (c, "echo", true);
    static const uint8_t map[] = {0x80};
    //  Wrong protocol header
    codec_doc_t *doc = s_raw (c, c->admin, 2000, 4, "", (size_t) 0, "MDPC99", (size_t) 6, "echo",
                              (size_t) 4, map, sizeof (map));
    s_assert_doc_error (doc, "bad_request");
    codec_doc_destroy (&doc);
    //  Missing body
    doc = s_raw (c, c->admin, 2000, 3, "", (size_t) 0, "MDPC01", (size_t) 6, "echo", (size_t) 4);
    s_assert_doc_error (doc, "bad_request");
    codec_doc_destroy (&doc);
    //  Two bodies
    doc = s_raw (c, c->admin, 2000, 5, "", (size_t) 0, "MDPC01", (size_t) 6, "echo", (size_t) 4,
                 map, sizeof (map), map, sizeof (map));
    s_assert_doc_error (doc, "bad_request");
    codec_doc_destroy (&doc);
    //  No empty delimiter
    doc = s_raw (c, c->admin, 2000, 3, "MDPC01", (size_t) 6, "echo", (size_t) 4, map, sizeof (map));
    s_assert_doc_error (doc, "bad_request");
    codec_doc_destroy (&doc);
    //  Too many frames
    doc = s_raw (c, c->admin, 2000, 10, "", (size_t) 0, "MDPC01", (size_t) 6, "echo", (size_t) 4,
                 "a", (size_t) 1, "b", (size_t) 1, "c", (size_t) 1, "d", (size_t) 1, "e",
                 (size_t) 1, "f", (size_t) 1, "g", (size_t) 1);
    s_assert_doc_error (doc, "bad_request");
    codec_doc_destroy (&doc);
    //  Bad service name
    doc = s_raw (c, c->admin, 2000, 4, "", (size_t) 0, "MDPC01", (size_t) 6, "../etc", (size_t) 6,
                 map, sizeof (map));
    s_assert_doc_error (doc, "bad_request");
    codec_doc_destroy (&doc);
    assert_true (cluster_counter (c, "malformed") >= 6);
    assert_true (s_broker_alive (c));
    cluster_destroy (&c);
}

static void
test_bad_msgpack_bodies (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    cluster_start_echo (c, "echo", true);
    static const uint8_t truncated[] = {0x82, 0xA2, 'i', 'd', 0x01, 0xA4, 't', 'e'};
    static const uint8_t not_map[] = {0x93, 0x01, 0x02, 0x03};
    static const uint8_t lying[] = {0xDF, 0xFF, 0xFF, 0xFF, 0xFF, 0xA1, 'a'};
    static const uint8_t ext[] = {0x81, 0xA1, 'a', 0xD4, 0x01, 0x00};
    static const uint8_t bad_utf8[] = {0x81, 0xA1, 'a', 0xA2, 0xC0, 0x80};
    static const uint8_t dup_key[] = {0x82, 0xA1, 'a', 0x01, 0xA1, 'a', 0x02};
    const struct {
        const uint8_t *data;
        size_t size;
        const char *code;
    } cases[] = {
        {truncated, sizeof (truncated), "bad_request"}, {not_map, sizeof (not_map), "bad_request"},
        {lying, sizeof (lying), "too_large"},           {ext, sizeof (ext), "bad_request"},
        {bad_utf8, sizeof (bad_utf8), "bad_request"},   {dup_key, sizeof (dup_key), "bad_request"},
        {(const uint8_t *) "hello", 5, "bad_request"},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        codec_doc_t *doc = s_raw (c, c->admin, 2000, 4, "", (size_t) 0, "MDPC01", (size_t) 6,
                                  "echo", (size_t) 4, cases[i].data, cases[i].size);
        s_assert_doc_error (doc, cases[i].code);
        codec_doc_destroy (&doc);
    }
    //  Oversize: a 1.5 MiB string is answered, not forwarded
    size_t big = 1536 * 1024;
    uint8_t *body = (uint8_t *) malloc (big + 16);
    size_t n = 0;
    body[n++] = 0x81;
    body[n++] = 0xA1;
    body[n++] = 'x';
    body[n++] = 0xDB;
    uint32_t len = (uint32_t) big;
    for (int i = 3; i >= 0; i--)
        body[n++] = (uint8_t) (len >> (8 * i));
    memset (body + n, 'a', big);
    n += big;
    codec_doc_t *doc = s_raw (c, c->admin, 5000, 4, "", (size_t) 0, "MDPC01", (size_t) 6, "echo",
                              (size_t) 4, body, n);
    s_assert_doc_error (doc, "too_large");
    codec_doc_destroy (&doc);
    //  Past the hard cap the connection is dropped without an answer
    uint8_t *huge = (uint8_t *) calloc (1, 3 * 1024 * 1024);
    doc = s_raw (c, c->admin, 1000, 4, "", (size_t) 0, "MDPC01", (size_t) 6, "echo", (size_t) 4,
                 huge, (size_t) 3 * 1024 * 1024);
    assert_null (doc);
    free (huge);
    free (body);
    //  The worker never saw any of it; the broker still serves
    assert_int_equal (cluster_counter (c, "too_large"), 2);
    assert_true (s_broker_alive (c));
    lh_reply_t *reply = cluster_call (c, c->admin, "echo", "{}");
    s_assert_ok (reply);
    lh_reply_destroy (&reply);
    cluster_destroy (&c);
}

static void
test_wrong_field_type_from_worker (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    cluster_start_echo (c, "echo", true);
    lh_reply_t *reply = cluster_call (c, c->admin, "echo", "{\"sleep_ms\":\"soon\"}");
    s_assert_error (reply, LH_E_BAD_REQUEST);
    assert_non_null (strstr (lh_reply_message (reply), "sleep_ms"));
    lh_reply_destroy (&reply);
    cluster_destroy (&c);
}

static void
test_unknown_service_and_forbidden (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    lh_reply_t *reply = cluster_call (c, c->admin, "nosuch", "{}");
    s_assert_error (reply, LH_E_UNKNOWN_SERVICE);
    lh_reply_destroy (&reply);
    reply = cluster_call (c, c->admin, "mmi.nosuch", "{}");
    s_assert_error (reply, LH_E_UNKNOWN_SERVICE);
    lh_reply_destroy (&reply);
    //  Agents may not read broker statistics
    reply = cluster_call (c, c->agent, "broker.stats", "{}");
    s_assert_error (reply, LH_E_FORBIDDEN);
    lh_reply_destroy (&reply);
    assert_int_equal (cluster_counter (c, "unknown_service"), 2);
    assert_int_equal (cluster_counter (c, "forbidden"), 1);
    cluster_destroy (&c);
}

static void
test_queue_until_worker_arrives (void **state)
{
    (void) state;
    cluster_t *c = cluster_new ("    later\n", "role/node/serve=echo later");
    lh_client_t *client = cluster_client (c, c->admin);
    static const uint8_t map[] = {0x81, 0xA1, 'k', 0x07};
    uint64_t id;
    assert_int_equal (lh_client_send (client, "later", map, sizeof (map), &id, NULL), 0);
    zclock_sleep (300);
    cluster_start_echo (c, "later", false);
    lh_reply_t *reply = lh_client_recv (client, 3000);
    assert_non_null (reply);
    s_assert_ok (reply);
    assert_int_equal (lh_reply_id (reply), id);
    assert_int_equal (s_get (reply, "echo.k")->via.u64, 7);
    lh_reply_destroy (&reply);
    lh_client_destroy (&client);
    cluster_destroy (&c);
}

static void
test_queue_full_is_overloaded (void **state)
{
    (void) state;
    cluster_t *c = cluster_new ("    later\n        queue_max = 3\n", NULL);
    lh_client_t *client = cluster_client (c, c->admin);
    static const uint8_t map[] = {0x80};
    for (int i = 0; i < 5; i++)
        assert_int_equal (lh_client_send (client, "later", map, 1, NULL, NULL), 0);
    //  Two refused at once; the three queued ones wait for a worker
    for (int i = 0; i < 2; i++) {
        lh_reply_t *reply = lh_client_recv (client, 1000);
        s_assert_error (reply, LH_E_OVERLOADED);
        lh_reply_destroy (&reply);
    }
    assert_null (lh_client_recv (client, 200));
    assert_int_equal (cluster_counter (c, "overloaded"), 2);
    lh_client_destroy (&client);
    cluster_destroy (&c);
}

static void
test_roster_reload_on_sighup (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    lh_reply_t *reply = cluster_call (c, c->stranger, "broker.ping", "{}");
    s_assert_error (reply, LH_E_TIMEOUT);
    lh_reply_destroy (&reply);
    char path[512];
    snprintf (path, sizeof (path), "%s/roster.zpl", c->dir);
    FILE *roster = fopen (path, "a");
    assert_non_null (roster);
    fprintf (roster, "    stranger\n        key = \"%s\"\n        role = agent\n",
             zcert_public_txt (c->stranger));
    fclose (roster);
    kill (c->broker, SIGHUP);
    zclock_sleep (300);
    reply = cluster_call (c, c->stranger, "broker.ping", "{}");
    s_assert_ok (reply);
    lh_reply_destroy (&reply);
    //  A broken roster is refused and the loaded one stays in force
    roster = fopen (path, "a");
    fprintf (roster, "    broken\n        key = \"short\"\n        role = agent\n");
    fclose (roster);
    kill (c->broker, SIGHUP);
    zclock_sleep (300);
    reply = cluster_call (c, c->agent, "broker.ping", "{}");
    s_assert_ok (reply);
    lh_reply_destroy (&reply);
    cluster_destroy (&c);
}

//  Runs lh with the cluster's settings; returns its exit status and output.
static int
s_lh (cluster_t *c, const char *args, char *out, size_t size)
{
    char command[2048];
    snprintf (command, sizeof (command),
              "LH_BROKER='%s' LH_BROKER_KEY='%s' LH_CERT='%s/admin.cert_secret' %s %s 2>&1",
              c->frontend, c->broker_key, c->dir, LH_CLI_BIN, args);
    FILE *pipe = popen (command, "r");
    assert_non_null (pipe);
    size_t n = fread (out, 1, size - 1, pipe);
    out[n] = 0;
    int status = pclose (pipe);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static void
test_lh_cli (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    cluster_start_echo (c, "echo", true);
    static char out[65536];
    assert_int_equal (s_lh (c, "call echo '{\"a\": [1, 2.5, null, true]}'", out, sizeof (out)), 0);
    assert_non_null (strstr (out, "\"ok\": true"));
    assert_non_null (strstr (out, "2.5"));
    assert_int_equal (s_lh (c, "call nosuch '{}'", out, sizeof (out)), 1);
    assert_non_null (strstr (out, "unknown_service"));
    assert_int_equal (s_lh (c, "call echo '{not json'", out, sizeof (out)), 2);
    assert_int_equal (s_lh (c, "call echo '{\"id\": 5}'", out, sizeof (out)), 1);
    assert_int_equal (s_lh (c, "status --json", out, sizeof (out)), 0);
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    char why[256];
    assert_int_equal (jsonpack_from_json (out, strlen (out), &buf, why, sizeof (why)), 0);
    msgpack_sbuffer_destroy (&buf);
    assert_non_null (strstr (out, "\"workers_ready\": 1"));
    assert_int_equal (s_lh (c, "status", out, sizeof (out)), 0);
    assert_non_null (strstr (out, "SERVICE"));
    assert_int_equal (s_lh (c, "ping -c 2", out, sizeof (out)), 0);
    assert_non_null (strstr (out, "seq=2"));
    assert_int_equal (s_lh (c, "frobnicate", out, sizeof (out)), 2);
    cluster_destroy (&c);
}

static void
test_queued_request_expires (void **state)
{
    (void) state;
    cluster_t *c = cluster_new ("    slow\n        timeout = 500\n", NULL);
    lh_reply_t *reply = cluster_call (c, c->admin, "slow", "{}");
    s_assert_error (reply, LH_E_UNAVAILABLE);
    lh_reply_destroy (&reply);
    assert_int_equal (cluster_counter (c, "unavailable"), 1);
    cluster_destroy (&c);
}

static void
test_worker_dies_retry_elsewhere (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    pid_t first = cluster_start_echo (c, "echo", true);
    lh_client_t *client = cluster_client (c, c->admin);
    lh_client_set_timeout (client, 5000);
    static const uint8_t body[] = {0x81, 0xA8, 's', 'l',  'e',  'e', 'p',
                                   '_',  'm',  's', 0xCD, 0x01, 0xF4}; //  sleep_ms: 500
    uint64_t id;
    assert_int_equal (lh_client_send (client, "echo", body, sizeof (body), &id, NULL), 0);
    zclock_sleep (200); //  the only worker now holds it
    cluster_start_echo (c, "echo", true);
    cluster_signal (c, first, SIGKILL);
    lh_reply_t *reply = lh_client_recv (client, 5000);
    assert_non_null (reply);
    s_assert_ok (reply);
    assert_int_equal (lh_reply_id (reply), id);
    lh_reply_destroy (&reply);
    assert_int_equal (cluster_counter (c, "retries"), 1);
    assert_int_equal (
        cluster_counter (c, "workers_expired") + cluster_counter (c, "workers_unreachable"), 1);
    lh_client_destroy (&client);
    cluster_destroy (&c);
}

static void
test_worker_dies_no_retry_clear_error (void **state)
{
    (void) state;
    //  No retries: the caller must hear worker_lost, not silence
    cluster_t *c = cluster_new (NULL, "broker/max_retries=0");
    pid_t only = cluster_start_echo (c, "echo", true);
    lh_client_t *client = cluster_client (c, c->admin);
    static const uint8_t body[] = {0x81, 0xA8, 's', 'l',  'e',  'e', 'p',
                                   '_',  'm',  's', 0xCD, 0x0B, 0xB8}; //  sleep_ms: 3000
    assert_int_equal (lh_client_send (client, "echo", body, sizeof (body), NULL, NULL), 0);
    zclock_sleep (200);
    cluster_signal (c, only, SIGKILL);
    lh_reply_t *reply = lh_client_recv (client, 3000);
    s_assert_error (reply, LH_E_WORKER_LOST);
    lh_reply_destroy (&reply);
    lh_client_destroy (&client);
    cluster_destroy (&c);
}

static void
test_worker_stops_heartbeating (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    pid_t worker = cluster_start_echo (c, "echo", true);
    kill (worker, SIGSTOP);
    assert_true (cluster_wait_workers (c, "echo", 0, 3000));
    assert_int_equal (cluster_counter (c, "workers_expired"), 1);
    //  Resumed, it notices the broker forgot it and registers again
    kill (worker, SIGCONT);
    assert_true (cluster_wait_workers (c, "echo", 1, 5000));
    lh_reply_t *reply = cluster_call (c, c->admin, "echo", "{}");
    s_assert_ok (reply);
    lh_reply_destroy (&reply);
    cluster_destroy (&c);
}

//  A worker speaking MDP by hand: READY for echo, then nothing (no
//  heartbeats, no replies, no DISCONNECT when it goes)
static zsock_t *
s_raw_worker (cluster_t *c)
{
    lh_connect_t conn = cluster_connect (c, c->node, true);
    zsock_t *sock = lh_connect_dealer (&conn);
    assert_non_null (sock);
    zsock_set_linger (sock, 0);
    static const uint8_t capacity[] = {0x81, 0xA8, 'c', 'a', 'p', 'a', 'c', 'i', 't', 'y', 0x04};
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, "", 0);
    zmsg_addstr (msg, MDPW_WORKER);
    zmsg_addmem (msg, &(char){MDPW_READY}, 1);
    zmsg_addstr (msg, "echo");
    zmsg_addmem (msg, capacity, sizeof (capacity));
    assert_int_equal (zmsg_send (&msg, sock), 0);
    return sock;
}

//  Worker A holds a request and falls silent; worker B's connection goes
//  just before A's expiry, so that one heartbeat tick finds both. Removing
//  A re-dispatches its request to B, the send fails and removes B, and the
//  tick must not then remove B a second time (it crashed the broker: a
//  drill isolating the broker from both validators found it).
static void
test_two_workers_lost_in_one_tick (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    lh_client_t *client = cluster_client (c, c->admin);
    static const uint8_t map[] = {0x80};
    for (int round = 0; round < 6; round++) {
        zsock_t *a = s_raw_worker (c);
        int64_t a_ready = zclock_mono ();
        assert_true (cluster_wait_workers (c, "echo", 1, 2000));
        //  A, the only worker, takes the request and never answers
        assert_int_equal (lh_client_send (client, "echo", map, 1, NULL, NULL), 0);
        zmsg_t *request = zmsg_recv (a);
        assert_non_null (request);
        zmsg_destroy (&request);
        zsock_t *b = s_raw_worker (c);
        assert_true (cluster_wait_workers (c, "echo", 2, 2000));
        //  A expires 600 ms after its READY (heartbeat 200 ms x liveness 3);
        //  B goes 20..120 ms before that, a different offset each round
        zclock_sleep ((int) (a_ready + 480 + 20 * round - zclock_mono ()));
        zsock_destroy (&b);
        zclock_sleep (1000);
        lh_reply_t *pong = cluster_call (c, c->admin, "broker.ping", "{}");
        s_assert_ok (pong);
        lh_reply_destroy (&pong);
        assert_true (cluster_wait_workers (c, "echo", 0, 100));
        zsock_destroy (&a);
    }
    //  Both ways of losing a worker were seen, and the broker lives on
    assert_true (cluster_counter (c, "workers_expired") >= 6);
    assert_true (cluster_counter (c, "workers_unreachable") >= 1);
    lh_client_destroy (&client);
    cluster_destroy (&c);
}

static void
test_stranger_key_refused (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    lh_client_t *client = cluster_client (c, c->stranger);
    lh_client_set_timeout (client, 700);
    static const uint8_t map[] = {0x80};
    lh_reply_t *reply = lh_client_call (client, "broker.ping", map, 1);
    //  No connection is ever established: the only answer is our own timeout
    s_assert_error (reply, LH_E_TIMEOUT);
    assert_null (lh_reply_root (reply));
    lh_reply_destroy (&reply);
    lh_client_destroy (&client);
    assert_true (cluster_counter (c, "auth_denied") >= 1);
    cluster_destroy (&c);
}

static void
test_agent_cannot_serve (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    lh_connect_t conn = cluster_connect (c, c->agent, true);
    lh_worker_t *worker = lh_worker_new (&conn, "echo", 1);
    assert_non_null (worker);
    lh_request_t *request = lh_worker_recv (worker, 1000);
    assert_null (request);
    assert_true (lh_worker_disconnects (worker) >= 1);
    assert_true (cluster_counter (c, "workers_refused") >= 1);
    assert_true (cluster_wait_workers (c, "echo", 0, 100));
    lh_worker_destroy (&worker);
    cluster_destroy (&c);
}

static void
test_unknown_worker_command (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    lh_connect_t conn = cluster_connect (c, c->node, true);
    zsock_t *sock = lh_connect_dealer (&conn);
    zsock_set_rcvtimeo (sock, 2000);
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, "", 0);
    zmsg_addstr (msg, "MDPW01");
    zmsg_addmem (msg, "\x09", 1);
    zmsg_send (&msg, sock);
    zmsg_t *reply = zmsg_recv (sock);
    assert_non_null (reply);
    assert_int_equal (zmsg_size (reply), 3);
    zframe_t *command = zmsg_last (reply);
    assert_int_equal (zframe_size (command), 1);
    assert_int_equal (zframe_data (command)[0], 0x05); //  DISCONNECT
    zmsg_destroy (&reply);
    zsock_destroy (&sock);
    assert_int_equal (cluster_counter (c, "protocol_errors"), 1);
    cluster_destroy (&c);
}

static void
test_rate_limit (void **state)
{
    (void) state;
    cluster_t *c = cluster_new ("role\n    agent\n        rate = 5\n        burst = 10\n", NULL);
    cluster_start_echo (c, "echo", true);
    lh_client_t *client = cluster_client (c, c->agent);
    static const uint8_t map[] = {0x80};
    for (int i = 0; i < 30; i++)
        assert_int_equal (lh_client_send (client, "echo", map, 1, NULL, NULL), 0);
    int ok = 0, limited = 0;
    for (int i = 0; i < 30; i++) {
        lh_reply_t *reply = lh_client_recv (client, 3000);
        assert_non_null (reply);
        if (lh_reply_ok (reply))
            ok++;
        else if (lh_reply_code (reply) == LH_E_RATE_LIMITED)
            limited++;
        lh_reply_destroy (&reply);
    }
    //  Burst of 10 plus at most a couple refilled while sending
    assert_true (ok >= 10 && ok <= 13);
    assert_int_equal (ok + limited, 30);
    assert_int_equal (cluster_counter (c, "rate_limited"), (uint64_t) limited);
    //  Another agent has its own bucket
    lh_reply_t *reply = cluster_call (c, c->agent2, "echo", "{}");
    s_assert_ok (reply);
    lh_reply_destroy (&reply);
    lh_client_destroy (&client);
    cluster_destroy (&c);
}

static void
test_sigterm_clean_exit (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    pid_t worker = cluster_start_echo (c, "echo", true);
    lh_reply_t *reply = cluster_call (c, c->admin, "echo", "{}");
    s_assert_ok (reply);
    lh_reply_destroy (&reply);
    int status = cluster_signal (c, worker, SIGTERM);
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 0);
    //  cluster_destroy checks the broker's own exit status
    cluster_destroy (&c);
}

static void
test_revoked_worker_removed (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    cluster_start_echo (c, "echo", true);
    //  A roster without the node's key
    char path[512];
    snprintf (path, sizeof (path), "%s/roster.zpl", c->dir);
    FILE *roster = fopen (path, "w");
    assert_non_null (roster);
    fprintf (roster, "principal\n    admin\n        key = \"%s\"\n        role = admin\n",
             zcert_public_txt (c->admin));
    fclose (roster);
    kill (c->broker, SIGHUP);
    assert_true (cluster_wait_workers (c, "echo", 0, 3000));
    assert_int_equal (cluster_counter (c, "workers_revoked"), 1);
    //  It comes back and the handshake fails: the key is no longer known
    zclock_sleep (500);
    assert_true (cluster_wait_workers (c, "echo", 0, 100));
    assert_true (cluster_counter (c, "auth_denied") >= 1);
    cluster_destroy (&c);
}

static void
test_request_id_rules (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    //  A non-negative id in a signed encoding is an id like any other
    static const uint8_t int8_id[] = {0x81, 0xA2, 'i', 'd', 0xD0, 0x05};
    codec_doc_t *doc = s_raw (c, c->admin, 2000, 4, "", (size_t) 0, "MDPC01", (size_t) 6,
                              "broker.ping", (size_t) 11, int8_id, sizeof (int8_id));
    assert_non_null (doc);
    assert_true (codec_map_get (codec_doc_root (doc), "ok")->via.boolean);
    assert_int_equal (codec_map_get (codec_doc_root (doc), "id")->via.u64, 5);
    codec_doc_destroy (&doc);
    static const uint8_t negative_id[] = {0x81, 0xA2, 'i', 'd', 0xFF};
    static const uint8_t float_id[] = {0x81, 0xA2, 'i', 'd', 0xCA, 0, 0, 0, 0};
    static const uint8_t no_id[] = {0x81, 0xA1, 'x', 0x01};
    const uint8_t *bad[] = {negative_id, float_id, no_id};
    size_t sizes[] = {sizeof (negative_id), sizeof (float_id), sizeof (no_id)};
    for (int i = 0; i < 3; i++) {
        doc = s_raw (c, c->admin, 2000, 4, "", (size_t) 0, "MDPC01", (size_t) 6, "broker.ping",
                     (size_t) 11, bad[i], sizes[i]);
        s_assert_doc_error (doc, "bad_request");
        assert_int_equal (codec_map_get (codec_doc_root (doc), "id")->type, MSGPACK_OBJECT_NIL);
        codec_doc_destroy (&doc);
    }
    cluster_destroy (&c);
}

static void
test_client_and_worker_survive_broker_restart (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    cluster_start_echo (c, "echo", true);
    lh_client_t *client = cluster_client (c, c->admin);
    lh_client_set_timeout (client, 1000);
    lh_client_set_retries (client, 8);
    cluster_restart_broker (c);
    //  Sent while the broker is down or forgetting everything: Lazy Pirate resends it
    static const uint8_t map[] = {0x81, 0xA1, 'k', 0x2A};
    lh_reply_t *reply = lh_client_call (client, "echo", map, sizeof (map));
    s_assert_ok (reply);
    assert_int_equal (s_get (reply, "echo.k")->via.u64, 42);
    lh_reply_destroy (&reply);
    assert_true (cluster_wait_workers (c, "echo", 1, 5000));
    lh_client_destroy (&client);
    cluster_destroy (&c);
}

static void
test_notifications_on_pub (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    zsock_t *sub = zsock_new (ZMQ_SUB);
    zcert_apply (c->admin, sub);
    zsock_set_curve_serverkey (sub, c->broker_key);
    zsock_set_subscribe (sub, "broker.worker");
    zsock_set_rcvtimeo (sub, 5000);
    assert_int_equal (zsock_connect (sub, "%s", c->pub), 0);
    zclock_sleep (300); //  slow joiner: let the subscription reach the broker
    cluster_start_echo (c, "echo", true);
    zmsg_t *msg = zmsg_recv (sub);
    assert_non_null (msg);
    char *topic = zmsg_popstr (msg);
    assert_string_equal (topic, "broker.worker");
    zframe_t *body = zmsg_pop (msg);
    codec_doc_t *doc = codec_doc_decode (zframe_data (body), zframe_size (body), NULL, NULL);
    assert_non_null (doc);
    assert_true (codec_str_eq (codec_map_get (codec_doc_root (doc), "event"), "ready"));
    assert_true (codec_str_eq (codec_map_get (codec_doc_root (doc), "service"), "echo"));
    codec_doc_destroy (&doc);
    zframe_destroy (&body);
    zstr_free (&topic);
    zmsg_destroy (&msg);
    zsock_destroy (&sub);
    cluster_destroy (&c);
}

static zsock_t *
s_subscriber (cluster_t *c, const char *prefix)
{
    zsock_t *sub = zsock_new (ZMQ_SUB);
    zcert_apply (c->admin, sub);
    zsock_set_curve_serverkey (sub, c->broker_key);
    zsock_set_subscribe (sub, prefix);
    zsock_set_rcvtimeo (sub, 3000);
    assert_int_equal (zsock_connect (sub, "%s", c->pub), 0);
    zclock_sleep (300); //  slow joiner
    return sub;
}

static void
test_worker_publish_and_announce (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    zsock_t *sub = s_subscriber (c, "");
    lh_connect_t conn = cluster_connect (c, c->node, true);
    lh_worker_t *worker = lh_worker_new (&conn, "echo", 1);
    assert_true (cluster_wait_workers (c, "echo", 1, 3000));
    static const uint8_t note[] = {0x81, 0xA1, 'n', 0x01};
    assert_int_equal (lh_worker_publish (worker, "echo.note", note, sizeof (note)), 0);
    //  The worker's READY notice comes first, then its own
    char *topic = NULL;
    zframe_t *body = NULL;
    for (int i = 0; i < 3 && !(topic && streq (topic, "echo.note")); i++) {
        zstr_free (&topic);
        zframe_destroy (&body);
        zmsg_t *msg = zmsg_recv (sub);
        assert_non_null (msg);
        topic = zmsg_popstr (msg);
        body = zmsg_pop (msg);
        zmsg_destroy (&msg);
    }
    assert_string_equal (topic, "echo.note");
    assert_memory_equal (zframe_data (body), note, sizeof (note));
    zstr_free (&topic);
    zframe_destroy (&body);
    //  Outside its namespace: a protocol error, the worker is removed
    assert_int_equal (lh_worker_publish (worker, "validate.decision", note, sizeof (note)), 0);
    assert_true (cluster_wait_workers (c, "echo", 0, 3000));
    assert_int_equal (cluster_counter (c, "published"), 1);
    lh_worker_destroy (&worker);
    //  An operator's announcement reaches subscribers; other topics are refused
    lh_reply_t *reply =
        cluster_call (c, c->admin, "broker.announce",
                      "{\"topic\":\"control.validate\",\"data\":{\"op\":\"reload\"}}");
    s_assert_ok (reply);
    lh_reply_destroy (&reply);
    reply = cluster_call (c, c->admin, "broker.announce", "{\"topic\":\"echo.x\",\"data\":{}}");
    s_assert_error (reply, LH_E_BAD_REQUEST);
    lh_reply_destroy (&reply);
    reply = cluster_call (c, c->agent, "broker.announce",
                          "{\"topic\":\"control.validate\",\"data\":{}}");
    s_assert_error (reply, LH_E_FORBIDDEN);
    lh_reply_destroy (&reply);
    bool seen = false;
    for (int i = 0; i < 5 && !seen; i++) {
        zmsg_t *msg = zmsg_recv (sub);
        assert_non_null (msg);
        char *t = zmsg_popstr (msg);
        seen = streq (t, "control.validate");
        zstr_free (&t);
        zmsg_destroy (&msg);
    }
    assert_true (seen);
    zsock_destroy (&sub);
    cluster_destroy (&c);
}

//  --------------------------------------------------------------------------
//  Role-aware notifications

//  A SUB socket with cert subscribed to each prefix in turn (NULL-terminated).
static zsock_t *
s_sub_as (cluster_t *c, zcert_t *cert, ...)
{
    zsock_t *sub = zsock_new (ZMQ_SUB);
    zcert_apply (cert, sub);
    zsock_set_curve_serverkey (sub, c->broker_key);
    va_list args;
    va_start (args, cert);
    for (const char *prefix = va_arg (args, const char *); prefix;
         prefix = va_arg (args, const char *))
        zsock_set_subscribe (sub, prefix);
    va_end (args);
    assert_int_equal (zsock_connect (sub, "%s", c->pub), 0);
    return sub;
}

//  The topic of the next notification, or NULL after timeout_ms.
static char *
s_next_topic (zsock_t *sub, int timeout_ms)
{
    zsock_set_rcvtimeo (sub, timeout_ms);
    zmsg_t *msg = zmsg_recv (sub);
    if (!msg)
        return NULL;
    assert_int_equal (zmsg_size (msg), 2);
    char *topic = zmsg_popstr (msg);
    zmsg_destroy (&msg);
    return topic;
}

static void
s_expect_topic (zsock_t *sub, const char *expected)
{
    char *topic = s_next_topic (sub, 3000);
    if (!topic || !streq (topic, expected))
        fail_msg ("expected notification %s, got %s", expected, topic ? topic : "nothing");
    zstr_free (&topic);
}

static void
s_expect_silence (zsock_t *sub, int timeout_ms)
{
    char *topic = s_next_topic (sub, timeout_ms);
    if (topic)
        fail_msg ("expected no notification, got %s", topic);
}

//  Waits until a broker counter reaches at least value; fails the test
//  after 5 s. Meanwhile it answers the worker's heartbeats and lets the SUB
//  socket run its commands: libzmq resends a SUB's subscriptions after a
//  reconnection only when the application next uses the socket.
static void
s_wait_counter (cluster_t *c, lh_worker_t *worker, zsock_t *sub, const char *name, uint64_t value)
{
    uint64_t now = 0;
    for (int i = 0; i < 100; i++) {
        if (worker) {
            lh_request_t *request = lh_worker_recv (worker, 0);
            if (request)
                lh_worker_reply_error (worker, &request, LH_E_UNAVAILABLE, "test worker");
        }
        if (sub)
            zsock_events (sub);
        now = cluster_counter (c, name);
        if (now >= value)
            return;
        zclock_sleep (50);
    }
    fail_msg ("counter %s is %llu, expected %llu", name, (unsigned long long) now,
              (unsigned long long) value);
}

//  Publishes a small map under topic; requests that reach the worker
//  meanwhile (lh status asks every service for its stats) are refused.
static void
s_publish_note (lh_worker_t *worker, const char *topic)
{
    static const uint8_t note[] = {0x81, 0xA1, 'n', 0x01};
    lh_request_t *request;
    while ((request = lh_worker_recv (worker, 0)))
        lh_worker_reply_error (worker, &request, LH_E_UNAVAILABLE, "test worker");
    assert_int_equal (lh_worker_publish (worker, topic, note, sizeof (note)), 0);
}

//  Writes the roster anew: the cluster's four principals, then extra.
static void
s_write_roster (cluster_t *c, const char *extra)
{
    char path[512];
    snprintf (path, sizeof (path), "%s/roster.zpl", c->dir);
    FILE *roster = fopen (path, "w");
    assert_non_null (roster);
    fprintf (roster, "principal\n");
    const struct {
        const char *name;
        zcert_t *cert;
        const char *role;
    } entries[] = {{"admin", c->admin, "admin"},
                   {"agent-1", c->agent, "agent"},
                   {"agent-2", c->agent2, "agent"},
                   {"node-1", c->node, "node"}};
    for (size_t i = 0; i < 4; i++)
        fprintf (roster, "    %s\n        key = \"%s\"\n        role = %s\n", entries[i].name,
                 zcert_public_txt (entries[i].cert), entries[i].role);
    fprintf (roster, "%s", extra ? extra : "");
    fclose (roster);
}

static void
test_pub_agents_see_only_their_own (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, "broker/heartbeat=2000");
    //  agent-1 asks for everything it can name; only "@agent-1/" is granted
    zsock_t *agent1 = s_sub_as (c, c->agent, "@agent-1/", "", "validate.decisions", "broker.worker",
                                "@agent-2/", "@ag", "@agent-1", NULL);
    zsock_t *agent2 = s_sub_as (c, c->agent2, "@agent-2/", NULL);
    zsock_t *admin = s_sub_as (c, c->admin, "", NULL);
    zsock_t *node = s_sub_as (c, c->node, "", NULL);
    s_wait_counter (c, NULL, NULL, "subscriptions", 4);
    s_wait_counter (c, NULL, NULL, "subscriptions_refused", 6);

    lh_connect_t conn = cluster_connect (c, c->node, true);
    lh_worker_t *worker = lh_worker_new (&conn, "validate", 1);
    assert_true (cluster_wait_workers (c, "validate", 1, 3000));
    //  Everyone's decisions, then agent-2's, then agent-1's own
    s_publish_note (worker, "validate.decisions");
    s_publish_note (worker, "@agent-2/validate.decisions");
    s_publish_note (worker, "@agent-1/validate.decisions");
    //  Per connection, notifications arrive in order: anything refused would come first
    s_expect_topic (agent1, "@agent-1/validate.decisions");
    s_expect_topic (agent2, "@agent-2/validate.decisions");
    zsock_t *wide[] = {admin, node};
    for (int i = 0; i < 2; i++) {
        s_expect_topic (wide[i], "broker.worker");
        s_expect_topic (wide[i], "validate.decisions");
        s_expect_topic (wide[i], "@agent-2/validate.decisions");
        s_expect_topic (wide[i], "@agent-1/validate.decisions");
    }
    s_expect_silence (agent1, 300);
    s_expect_silence (agent2, 100);
    assert_int_equal (cluster_counter (c, "subscriptions"), 4);
    assert_int_equal (cluster_counter (c, "subscriptions_refused"), 6);

    //  Unsubscribed, agent-1 hears nothing more; a refused subscription sent
    //  after the unsubscription tells us the broker has read both
    zsock_set_unsubscribe (agent1, "@agent-1/");
    zsock_set_subscribe (agent1, "validate");
    s_wait_counter (c, worker, NULL, "subscriptions_refused", 7);
    s_publish_note (worker, "@agent-1/validate.decisions");
    s_expect_topic (admin, "@agent-1/validate.decisions");
    s_expect_silence (agent1, 500);

    //  lh status shows the refusals
    static char out[65536];
    assert_int_equal (s_lh (c, "status", out, sizeof (out)), 0);
    assert_non_null (strstr (out, "subscriptions_refused"));

    //  Addressed topics follow the service rule after the slash, and the
    //  agent id must be a valid name: each of these is a protocol error
    const char *bad[] = {"@agent-1/echo.x", "@/validate.x", "@agent 1/validate", "@agent-1"};
    for (int i = 0; i < 4; i++) {
        assert_true (cluster_wait_workers (c, "validate", 1, 3000));
        s_publish_note (worker, bad[i]);
        assert_true (cluster_wait_workers (c, "validate", 0, 3000));
        assert_int_equal (cluster_counter (c, "protocol_errors"), (uint64_t) i + 1);
        lh_worker_destroy (&worker);
        worker = lh_worker_new (&conn, "validate", 1);
    }
    assert_int_equal (cluster_counter (c, "published"), 4);
    lh_worker_destroy (&worker);
    zsock_destroy (&agent1);
    zsock_destroy (&agent2);
    zsock_destroy (&admin);
    zsock_destroy (&node);
    cluster_destroy (&c);
}

static void
test_pub_revoked_on_roster_reload (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, "broker/heartbeat=2000");
    lh_connect_t conn = cluster_connect (c, c->node, true);
    lh_worker_t *worker = lh_worker_new (&conn, "echo", 1);
    assert_true (cluster_wait_workers (c, "echo", 1, 3000));
    //  A new reader, a node, joins the roster; no subscription yet, nothing to revoke
    zcert_t *watcher = zcert_new ();
    char entry[256];
    snprintf (entry, sizeof (entry), "    watcher\n        key = \"%s\"\n        role = node\n",
              zcert_public_txt (watcher));
    s_write_roster (c, entry);
    kill (c->broker, SIGHUP);
    zclock_sleep (300);
    zsock_t *sub = s_sub_as (c, watcher, "", "@watcher/", NULL);
    s_wait_counter (c, worker, sub, "subscriptions", 2);
    s_publish_note (worker, "echo.a");
    s_expect_topic (sub, "echo.a");
    assert_int_equal (cluster_counter (c, "pub_reopened"), 0);

    //  Demoted to agent: it may keep "@watcher/" but not ""
    snprintf (entry, sizeof (entry), "    watcher\n        key = \"%s\"\n        role = agent\n",
              zcert_public_txt (watcher));
    s_write_roster (c, entry);
    kill (c->broker, SIGHUP);
    s_wait_counter (c, worker, sub, "pub_reopened", 1);
    //  Its SUB socket reconnects and subscribes again, checked by the new roster
    s_wait_counter (c, worker, sub, "subscriptions", 3);
    s_wait_counter (c, worker, sub, "subscriptions_refused", 1);
    s_publish_note (worker, "echo.b");
    s_publish_note (worker, "@watcher/echo.c");
    s_expect_topic (sub, "@watcher/echo.c");
    s_expect_silence (sub, 200);

    //  A reload that changes nobody's view keeps the socket open
    s_write_roster (c, entry);
    kill (c->broker, SIGHUP);
    zclock_sleep (300);
    assert_int_equal (cluster_counter (c, "pub_reopened"), 1);

    //  Removed from the roster: its handshake fails and it hears nothing
    uint64_t denied = cluster_counter (c, "auth_denied");
    s_write_roster (c, NULL);
    kill (c->broker, SIGHUP);
    s_wait_counter (c, worker, sub, "pub_reopened", 2);
    s_wait_counter (c, worker, sub, "auth_denied", denied + 1);
    s_publish_note (worker, "@watcher/echo.d");
    s_expect_silence (sub, 500);
    assert_int_equal (cluster_counter (c, "subscriptions"), 3);
    //  The workers' backend connection was never touched
    assert_true (cluster_wait_workers (c, "echo", 1, 100));
    assert_int_equal (cluster_counter (c, "published"), 4);
    zsock_destroy (&sub);
    zcert_destroy (&watcher);
    lh_worker_destroy (&worker);
    cluster_destroy (&c);
}

static void
test_plaintext_needs_the_flag (void **state)
{
    (void) state;
    //  Without keys and without --plaintext the broker refuses to start
    char dir[] = "/tmp/lh-pt-XXXXXX";
    assert_non_null (mkdtemp (dir));
    char command[1024];
    snprintf (command, sizeof (command),
              "%s --frontend tcp://127.0.0.1:* --backend tcp://127.0.0.1:* --pub tcp://127.0.0.1:* "
              ">%s/log 2>&1",
              LH_BROKER_BIN, dir);
    int status = system (command);
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) != 0);
    snprintf (command, sizeof (command), "grep -q 'CURVE needs' %s/log && rm -rf %s", dir, dir);
    assert_int_equal (system (command), 0);
}

//  The internal services' own table holds whatever role/<name>/call
//  grants: an agent allowed to call everything still may not read the
//  broker's counters nor announce to control.* (a policy reload)
static void
test_internal_roles_hold_over_config (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, "role/agent/call=*");
    lh_reply_t *reply = cluster_call (c, c->agent, "broker.stats", "{}");
    s_assert_error (reply, LH_E_FORBIDDEN);
    lh_reply_destroy (&reply);
    reply = cluster_call (c, c->agent, "broker.announce",
                          "{\"topic\":\"control.validate\",\"data\":{\"op\":\"reload\"}}");
    s_assert_error (reply, LH_E_FORBIDDEN);
    lh_reply_destroy (&reply);
    //  What the table gives every role still works, and admins keep theirs
    reply = cluster_call (c, c->agent, "broker.ping", "{}");
    s_assert_ok (reply);
    lh_reply_destroy (&reply);
    reply = cluster_call (c, c->agent, "mmi.services", "{}");
    s_assert_ok (reply);
    lh_reply_destroy (&reply);
    reply = cluster_call (c, c->admin, "broker.stats", "{}");
    s_assert_ok (reply);
    lh_reply_destroy (&reply);
    //  An unknown internal name is unknown whoever asks
    reply = cluster_call (c, c->agent, "broker.nosuch", "{}");
    s_assert_error (reply, LH_E_UNKNOWN_SERVICE);
    lh_reply_destroy (&reply);
    cluster_destroy (&c);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown (test_roundtrip_and_caller_frame_wins, cluster_teardown),
        cmocka_unit_test_teardown (test_pipelined_replies_match_ids, cluster_teardown),
        cmocka_unit_test_teardown (test_garbage_frames, cluster_teardown),
        cmocka_unit_test_teardown (test_bad_msgpack_bodies, cluster_teardown),
        cmocka_unit_test_teardown (test_wrong_field_type_from_worker, cluster_teardown),
        cmocka_unit_test_teardown (test_unknown_service_and_forbidden, cluster_teardown),
        cmocka_unit_test_teardown (test_queue_until_worker_arrives, cluster_teardown),
        cmocka_unit_test_teardown (test_queued_request_expires, cluster_teardown),
        cmocka_unit_test_teardown (test_queue_full_is_overloaded, cluster_teardown),
        cmocka_unit_test_teardown (test_roster_reload_on_sighup, cluster_teardown),
        cmocka_unit_test_teardown (test_lh_cli, cluster_teardown),
        cmocka_unit_test_teardown (test_worker_dies_retry_elsewhere, cluster_teardown),
        cmocka_unit_test_teardown (test_worker_dies_no_retry_clear_error, cluster_teardown),
        cmocka_unit_test_teardown (test_worker_stops_heartbeating, cluster_teardown),
        cmocka_unit_test_teardown (test_two_workers_lost_in_one_tick, cluster_teardown),
        cmocka_unit_test_teardown (test_stranger_key_refused, cluster_teardown),
        cmocka_unit_test_teardown (test_agent_cannot_serve, cluster_teardown),
        cmocka_unit_test_teardown (test_unknown_worker_command, cluster_teardown),
        cmocka_unit_test_teardown (test_rate_limit, cluster_teardown),
        cmocka_unit_test_teardown (test_sigterm_clean_exit, cluster_teardown),
        cmocka_unit_test_teardown (test_client_and_worker_survive_broker_restart, cluster_teardown),
        cmocka_unit_test_teardown (test_notifications_on_pub, cluster_teardown),
        cmocka_unit_test_teardown (test_plaintext_needs_the_flag, cluster_teardown),
        cmocka_unit_test_teardown (test_worker_publish_and_announce, cluster_teardown),
        cmocka_unit_test_teardown (test_revoked_worker_removed, cluster_teardown),
        cmocka_unit_test_teardown (test_request_id_rules, cluster_teardown),
        cmocka_unit_test_teardown (test_pub_agents_see_only_their_own, cluster_teardown),
        cmocka_unit_test_teardown (test_pub_revoked_on_roster_reload, cluster_teardown),
        cmocka_unit_test_teardown (test_internal_roles_hold_over_config, cluster_teardown),
    };
    return cmocka_run_group_tests_name ("integration_broker", tests, NULL, NULL);
}
