/*  Several brokers (PROTOCOL.md 12.6): real lh-broker processes on loopback
    sharing one key and roster, workers serving through every one, clients
    holding the list. A broker killed, paused or restarted must cost no
    answered request and no acknowledged append; with every broker gone a
    client fails closed within its timeout. */
#include "harness.h"

#include "codec.h"
#include "jsonpack.h"
#include "lh_idhash.h"

#include <setjmp.h>
#include <signal.h>
#include <cmocka.h>

#define POLICY LH_DEFAULT_POLICY

//  One request of a stream: what was asked and what came back
typedef struct {
    uint64_t id;
    bool append;
    char client_id[32];
    int answers;
    bool ok;
} asked_t;

static void
s_body (const char *json, msgpack_sbuffer *body)
{
    char why[256];
    msgpack_sbuffer_init (body);
    assert_int_equal (jsonpack_from_json (json, strlen (json), body, why, sizeof (why)), 0);
}

//  Sends request n of a stream: validates and appends, alternately
static asked_t *
s_ask (lh_client_t *client, int n, const char *run)
{
    asked_t *a = (asked_t *) zmalloc (sizeof (asked_t));
    a->append = n % 2;
    char json[512];
    if (a->append) {
        snprintf (a->client_id, sizeof (a->client_id), "%s-%d", run, n);
        snprintf (json, sizeof (json),
                  "{\"op\":\"append\",\"events\":[{\"type\":\"command.executed\","
                  "\"client_id\":\"%s\",\"data\":{\"command\":\"make %d\"}}]}",
                  a->client_id, n);
    } else
        snprintf (json, sizeof (json),
                  "{\"tool\":\"Bash\",\"input\":{\"command\":\"ls -la src/%d\"},"
                  "\"cwd\":\"/home/dev/p\"}",
                  n);
    msgpack_sbuffer body;
    s_body (json, &body);
    const char *why;
    assert_int_equal (lh_client_send (client, a->append ? "events" : "validate", body.data,
                                      body.size, &a->id, &why),
                      LH_OK);
    msgpack_sbuffer_destroy (&body);
    return a;
}

//  Seqs of every event in the log with this client id, read through client
//  How many times each client_id is in the log (the whole log, read once:
//  reading it again for every append made the check quadratic)
static zhashx_t *
s_log_counts (lh_client_t *client)
{
    zhashx_t *counts = zhashx_new ();
    uint64_t from = 0;
    while (true) {
        char json[128];
        snprintf (json, sizeof (json), "{\"op\":\"range\",\"from\":%llu,\"limit\":1000}",
                  (unsigned long long) from);
        msgpack_sbuffer body;
        s_body (json, &body);
        lh_reply_t *reply = lh_client_call (client, "events.read", body.data, body.size);
        msgpack_sbuffer_destroy (&body);
        cluster_expect_ok (reply);
        const msgpack_object *events = codec_map_get (lh_reply_root (reply), "events");
        for (uint32_t i = 0; events && i < events->via.array.size; i++) {
            char id[128];
            if (!codec_str_copy (codec_map_get (&events->via.array.ptr[i], "client_id"), id,
                                 sizeof (id)))
                continue;
            intptr_t times = (intptr_t) zhashx_lookup (counts, id);
            zhashx_update (counts, id, (void *) (times + 1));
        }
        const msgpack_object *next = codec_map_get (lh_reply_root (reply), "next");
        bool more = next && next->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
        if (more)
            from = next->via.u64;
        lh_reply_destroy (&reply);
        if (!more)
            return counts;
    }
}

static lh_reply_t *
s_call_json (lh_client_t *client, const char *service, const char *json)
{
    msgpack_sbuffer body;
    s_body (json, &body);
    lh_reply_t *reply = lh_client_call (client, service, body.data, body.size);
    msgpack_sbuffer_destroy (&body);
    return reply;
}

static lh_client_t *
s_client_to (cluster_t *c, zcert_t *cert, const char *endpoint, int timeout_ms, int retries)
{
    lh_connect_t conn = {.endpoint = endpoint, .server_key = c->broker_key, .cert = cert};
    lh_client_t *client = lh_client_new (&conn);
    assert_non_null (client);
    lh_client_set_timeout (client, timeout_ms);
    lh_client_set_retries (client, retries);
    return client;
}

static uint64_t
s_requests_at (cluster_t *c, int k)
{
    lh_client_t *client = s_client_to (c, c->admin, launcher_frontend_at (c->launcher, k), 5000, 0);
    lh_reply_t *reply = lh_client_call (client, "broker.stats", "\x80", 1);
    cluster_expect_ok (reply);
    const msgpack_object *counters = codec_map_get (lh_reply_root (reply), "counters");
    const msgpack_object *requests = codec_map_get (counters, "requests");
    uint64_t value = requests ? requests->via.u64 : 0;
    lh_reply_destroy (&reply);
    lh_client_destroy (&client);
    return value;
}

static void
s_wait_everywhere (cluster_t *c, const char *service, int count)
{
    for (int k = 0; k < launcher_broker_count (c->launcher); k++)
        if (!launcher_wait_workers_at (c->launcher, k, service, count, 10000))
            fail_msg ("broker %d does not list %d %s worker(s)", k, count, service);
}

//  ---------------------------------------------------------------------------
//  Validations and appends streamed through the list while brokers are
//  killed (SIGKILL) or paused (SIGSTOP for 2 s): every request answered
//  once and ok, every acknowledged append exactly once in the log.

typedef struct {
    int victim;     //  broker index
    int signum;     //  SIGKILL or SIGSTOP
    int at_ms;      //  into the stream
    int64_t resume; //  SIGSTOP: when to send SIGCONT
    bool done;
} fault_t;

static void
s_stream_through_faults (int brokers, fault_t *faults, int nfaults)
{
    cluster_t *c =
        cluster_new ("    validate\n        timeout = 10000\n    events\n    events.read\n", NULL);
    for (int k = 1; k < brokers; k++)
        cluster_add_broker (c);
    cluster_start_integrity (c, 3, NULL);
    s_wait_everywhere (c, "events.read", 3);
    cluster_start_validator (c, POLICY);
    s_wait_everywhere (c, "validate", 1);

    lh_connect_t conn = cluster_connect_all (c, c->agent, false);
    lh_client_t *client = lh_client_new (&conn);
    assert_int_equal (lh_client_brokers (client), (size_t) brokers);
    lh_client_set_timeout (client, 8000);
    lh_client_set_retries (client, 0); //  the failover alone must carry it
    zhashx_t *asked = lh_idhash_new ();
    zlistx_t *all = zlistx_new ();
    zlistx_set_destructor (all, (zlistx_destructor_fn *) zstr_free);

    char run[16];
    snprintf (run, sizeof (run), "b%d-%d", brokers, nfaults);
    int sent = 0, answered = 0, appends_acked = 0;
    int64_t start = zclock_mono (), stream_ms = 3500;
    int64_t max_rtt_us = 0, next_at = 0;
    while (answered < sent || zclock_mono () < start + stream_ms) {
        int64_t now = zclock_mono ();
        for (fault_t *f = faults; f < faults + nfaults; f++) {
            pid_t pid = cluster_broker_pid (c, f->victim);
            if (!f->done && now >= start + f->at_ms) {
                if (f->signum == SIGKILL)
                    cluster_signal (c, pid, SIGKILL);
                else {
                    kill (pid, SIGSTOP);
                    f->resume = now + 2000;
                }
                f->done = true;
            }
            if (f->resume && now >= f->resume) {
                kill (pid, SIGCONT);
                f->resume = 0;
            }
        }
        //  Paced under the agent role's rate limit (500/s), which each
        //  broker enforces on its own: all of it may go to one
        while (now < start + stream_ms && sent - answered < 16 && now >= next_at) {
            next_at = now + 3;
            asked_t *a = s_ask (client, sent++, run);
            zhashx_insert (asked, LH_IDKEY (a->id), a);
            zlistx_add_end (all, a);
        }
        lh_reply_t *reply = lh_client_recv (client, 3);
        if (!reply) {
            assert_true (zclock_mono () < start + 30000);
            continue;
        }
        asked_t *a = (asked_t *) zhashx_lookup (asked, LH_IDKEY (lh_reply_id (reply)));
        assert_non_null (a);
        a->answers++;
        assert_int_equal (a->answers, 1);
        answered++;
        if (!lh_reply_ok (reply))
            fail_msg ("request %llu (%s) failed: %s: %s", (unsigned long long) a->id,
                      a->append ? "append" : "validate", lh_reply_code_name (reply),
                      lh_reply_message (reply));
        a->ok = true;
        if (a->append)
            appends_acked++;
        else {
            char decision[16];
            codec_str_copy (codec_map_get (lh_reply_root (reply), "decision"), decision,
                            sizeof (decision));
            assert_string_equal (decision, "allow");
        }
        if (lh_reply_rtt_us (reply) > max_rtt_us)
            max_rtt_us = lh_reply_rtt_us (reply);
        lh_reply_destroy (&reply);
    }
    for (fault_t *f = faults; f < faults + nfaults; f++) {
        if (f->resume)
            kill (cluster_broker_pid (c, f->victim), SIGCONT);
        assert_true (f->done);
    }
    assert_true (appends_acked > 20);
    assert_true (lh_client_failovers (client) >= (uint64_t) nfaults);
    printf ("  %d brokers, %d fault(s): %d requests answered once, longest %.0f ms, "
            "%llu failover(s)\n",
            brokers, nfaults, answered, max_rtt_us / 1000.0,
            (unsigned long long) lh_client_failovers (client));

    //  Every acknowledged append is in the log exactly once (read through the rest)
    lh_connect_t admin = cluster_connect_all (c, c->admin, false);
    lh_client_t *reader = lh_client_new (&admin);
    lh_client_set_timeout (reader, 5000);
    //  A replica may answer a heartbeat behind the leader: read again while
    //  an acknowledged append is missing; one found twice fails at once
    const char *missing = "";
    for (int round = 0; round < 50 && missing; round++, zclock_sleep (missing ? 100 : 0)) {
        zhashx_t *counts = s_log_counts (reader);
        missing = NULL;
        for (asked_t *a = (asked_t *) zlistx_first (all); a; a = (asked_t *) zlistx_next (all)) {
            if (!a->append || !a->ok)
                continue;
            intptr_t times = (intptr_t) zhashx_lookup (counts, a->client_id);
            if (times > 1)
                fail_msg ("acknowledged append %s is in the log %d times", a->client_id,
                          (int) times);
            if (times == 0 && !missing)
                missing = a->client_id;
        }
        zhashx_destroy (&counts);
    }
    if (missing)
        fail_msg ("acknowledged append %s is not in the log", missing);
    lh_client_destroy (&reader);
    zhashx_destroy (&asked);
    zlistx_destroy (&all);
    lh_client_destroy (&client);
    cluster_destroy (&c);
}

static void
test_two_brokers_one_killed (void **state)
{
    (void) state;
    fault_t faults[] = {{.victim = 0, .signum = SIGKILL, .at_ms = 1000}};
    s_stream_through_faults (2, faults, 1);
}

//  Three brokers: one paused, and while it is, another killed; the third
//  carries everything until the paused one comes back
static void
test_three_brokers_one_paused_one_killed (void **state)
{
    (void) state;
    fault_t faults[] = {{.victim = 1, .signum = SIGSTOP, .at_ms = 800},
                        {.victim = 2, .signum = SIGKILL, .at_ms = 1600}};
    s_stream_through_faults (3, faults, 2);
}

//  ---------------------------------------------------------------------------
//  Spreading, serving through every broker, notices once

static void
test_workers_serve_through_every_broker (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    cluster_add_broker (c);
    cluster_start_echo (c, "echo", true);
    s_wait_everywhere (c, "echo", 1);

    //  A client of the list spreads its requests over both
    uint64_t before[2] = {s_requests_at (c, 0), s_requests_at (c, 1)};
    lh_connect_t conn = cluster_connect_all (c, c->agent, false);
    lh_client_t *client = lh_client_new (&conn);
    lh_client_set_timeout (client, 5000);
    for (int i = 0; i < 100; i++) {
        lh_reply_t *reply = lh_client_call (client, "echo", "\x81\xa1n\x01", 4);
        cluster_expect_ok (reply);
        lh_reply_destroy (&reply);
    }
    assert_int_equal (lh_client_brokers_up (client), 2);
    lh_client_destroy (&client);
    for (int k = 0; k < 2; k++) {
        uint64_t served = s_requests_at (c, k) - before[k];
        printf ("  broker %d carried %llu of 100 requests\n", k, (unsigned long long) served);
        assert_true (served >= 25);
    }

    //  A worker that lost one broker serves through the other, and comes
    //  back to the first when it returns
    cluster_signal (c, cluster_broker_pid (c, 0), SIGKILL);
    client = s_client_to (c, c->agent, launcher_frontend_at (c->launcher, 1), 5000, 0);
    lh_reply_t *reply = lh_client_call (client, "echo", "\x81\xa1n\x02", 4);
    cluster_expect_ok (reply);
    lh_reply_destroy (&reply);
    lh_client_destroy (&client);
    cluster_restart_broker_at (c, 0);
    assert_true (launcher_wait_workers_at (c->launcher, 0, "echo", 1, 10000));
    client = s_client_to (c, c->agent, launcher_frontend_at (c->launcher, 0), 5000, 0);
    reply = lh_client_call (client, "echo", "\x81\xa1n\x03", 4);
    cluster_expect_ok (reply);
    lh_reply_destroy (&reply);
    lh_client_destroy (&client);
    cluster_destroy (&c);
}

static void
test_notice_arrives_once (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    cluster_add_broker (c);
    lh_connect_t backends = cluster_connect_all (c, c->node, true);
    lh_worker_t *worker = lh_worker_new (&backends, "echo", 1);
    assert_non_null (worker);
    lh_worker_set_heartbeat (worker, 200, 3);
    int64_t until = zclock_mono () + 10000;
    while (lh_worker_brokers_connected (worker) < 2 && zclock_mono () < until)
        lh_worker_recv (worker, 50);
    assert_int_equal (lh_worker_brokers_connected (worker), 2);
    s_wait_everywhere (c, "echo", 1);

    lh_connect_t pubs = {
        .endpoint = launcher_pubs (c->launcher), .server_key = c->broker_key, .cert = c->admin};
    zsock_t *sub = lh_connect_sub (&pubs);
    assert_non_null (sub);
    zsock_set_subscribe (sub, "echo.");
    zsock_set_subscribe (sub, "control.join");
    zsock_set_rcvtimeo (sub, 100);
    //  Past the slow joiner on each broker: an announcement through it has
    //  come through (both subscriptions went out on each connection at once)
    for (int k = 0; k < 2; k++) {
        lh_client_t *admin =
            s_client_to (c, c->admin, launcher_frontend_at (c->launcher, k), 2000, 0);
        bool joined = false;
        for (int i = 0; i < 100 && !joined; i++) {
            lh_reply_t *reply =
                s_call_json (admin, "broker.announce", "{\"topic\":\"control.join\",\"data\":{}}");
            lh_reply_destroy (&reply);
            zmsg_t *msg = zmsg_recv (sub);
            joined = msg != NULL;
            zmsg_destroy (&msg);
            lh_worker_recv (worker, 0);
        }
        assert_true (joined);
        lh_client_destroy (&admin);
    }
    //  Each notice goes through one broker (the one the worker heard from
    //  last) and arrives once, whichever carried it
    int seen[40] = {0};
    for (int i = 0; i < 40; i++) {
        //  {"n": i}, i a positive fixint
        char data[4] = {(char) 0x81, (char) 0xa1, 'n', (char) i};
        lh_worker_publish (worker, "echo.n", data, 4);
        lh_worker_recv (worker, 60);
    }
    int64_t stop = zclock_mono () + 1500;
    while (zclock_mono () < stop) {
        zmsg_t *msg = zmsg_recv (sub);
        if (!msg)
            continue;
        zframe_t *topic = zmsg_first (msg);
        zframe_t *body = zmsg_next (msg);
        if (zframe_streq (topic, "echo.n") && zframe_size (body) == 4 && zframe_data (body)[3] < 40)
            seen[zframe_data (body)[3]]++;
        zmsg_destroy (&msg);
    }
    for (int i = 0; i < 40; i++)
        if (seen[i] != 1)
            fail_msg ("notice %d arrived %d times", i, seen[i]);
    zsock_destroy (&sub);
    lh_worker_destroy (&worker);
    cluster_destroy (&c);
}

//  ---------------------------------------------------------------------------
//  The roster: one file, read by each broker when it starts or gets SIGHUP

static void
test_broker_restarted_with_changed_roster (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    cluster_add_broker (c);
    cluster_start_echo (c, "echo", true);
    s_wait_everywhere (c, "echo", 1);
    //  A key added to the roster file; only broker 1 restarts and reads it
    zcert_t *late = launcher_keygen (c->launcher, "agent-late", "agent");
    fflush (NULL);
    cluster_restart_broker_at (c, 1);
    assert_true (launcher_wait_workers_at (c->launcher, 1, "echo", 1, 10000));
    lh_client_t *client = s_client_to (c, late, launcher_frontend_at (c->launcher, 1), 5000, 0);
    lh_reply_t *reply = lh_client_call (client, "echo", "\x80", 1);
    cluster_expect_ok (reply);
    lh_reply_destroy (&reply);
    lh_client_destroy (&client);
    //  Broker 0 has not read it: the key is refused there (no handshake)
    client = s_client_to (c, late, launcher_frontend_at (c->launcher, 0), 500, 0);
    reply = lh_client_call (client, "echo", "\x80", 1);
    cluster_expect_error (&reply, LH_E_TIMEOUT);
    lh_client_destroy (&client);
    //  ... until it reads the roster again
    kill (c->broker, SIGHUP);
    bool served = false;
    for (int i = 0; i < 50 && !served; i++) {
        client = s_client_to (c, late, launcher_frontend_at (c->launcher, 0), 300, 0);
        reply = lh_client_call (client, "echo", "\x80", 1);
        served = reply && lh_reply_ok (reply);
        lh_reply_destroy (&reply);
        lh_client_destroy (&client);
    }
    assert_true (served);
    cluster_destroy (&c);
}

//  ---------------------------------------------------------------------------
//  Every broker gone: the client fails closed within its timeout, the hook blocks

static void
test_every_broker_down_fails_closed (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    cluster_add_broker (c);
    cluster_start_validator (c, POLICY);
    s_wait_everywhere (c, "validate", 1);
    char list[600];
    snprintf (list, sizeof (list), "%s", launcher_frontends (c->launcher));
    cluster_signal (c, cluster_broker_pid (c, 0), SIGKILL);
    cluster_signal (c, cluster_broker_pid (c, 1), SIGKILL);

    lh_connect_t conn = {.endpoint = list, .server_key = c->broker_key, .cert = c->agent};
    lh_client_t *client = lh_client_new (&conn);
    lh_client_set_timeout (client, 400);
    lh_client_set_retries (client, 1);
    int64_t start = zclock_mono ();
    msgpack_sbuffer body;
    s_body ("{\"tool\":\"Bash\",\"input\":{\"command\":\"ls\"},\"cwd\":\"/p\"}", &body);
    lh_reply_t *reply = lh_client_call (client, "validate", body.data, body.size);
    msgpack_sbuffer_destroy (&body);
    int64_t took = zclock_mono () - start;
    assert_non_null (reply);
    assert_false (lh_reply_ok (reply));
    assert_int_equal (lh_reply_code (reply), LH_E_TIMEOUT);
    //  timeout x (retries + 1), with room for a loaded machine
    assert_true (took >= 700 && took < 3000);
    lh_reply_destroy (&reply);
    lh_client_destroy (&client);

    //  lh hook: no decision, so the tool call is blocked (exit 2)
    char cert[512], command[2048];
    launcher_cert_path (c->launcher, "agent-1", cert, sizeof (cert));
    snprintf (command, sizeof (command),
              "echo '{\"hook_event_name\":\"PreToolUse\",\"tool_name\":\"Bash\","
              "\"tool_input\":{\"command\":\"ls\"},\"cwd\":\"/tmp\",\"session_id\":\"s\"}' | "
              "LH_BROKER='%s' LH_BROKER_KEY='%s' LH_CERT='%s' LH_HOOK_TIMEOUT_MS=400 %s hook "
              ">/dev/null 2>&1",
              list, c->broker_key, cert, LH_CLI_BIN);
    int status = system (command);
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 2);
    cluster_destroy (&c);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown (test_workers_serve_through_every_broker, cluster_teardown),
        cmocka_unit_test_teardown (test_notice_arrives_once, cluster_teardown),
        cmocka_unit_test_teardown (test_two_brokers_one_killed, cluster_teardown),
        cmocka_unit_test_teardown (test_three_brokers_one_paused_one_killed, cluster_teardown),
        cmocka_unit_test_teardown (test_broker_restarted_with_changed_roster, cluster_teardown),
        cmocka_unit_test_teardown (test_every_broker_down_fails_closed, cluster_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
