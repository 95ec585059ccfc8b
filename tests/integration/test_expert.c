/*  Integration tests: lh-expert (service expert) behind a real broker, over
    CURVE: a validator's submit (immediate and held), experts deciding by id
    and by code (lh approve), quorum, who may do what, forged names in
    bodies, malformed bodies, and escalations kept across a SIGKILL. */
#include "harness.h"

#include "codec.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t
s_start_expert (cluster_t *c)
{
    return cluster_start_expert (c, "--queue-max 50");
}

//  Two expert keys on the roster
static void
s_experts (cluster_t *c, zcert_t **alice, zcert_t **bob)
{
    *alice = cluster_keygen (c, "alice", "expert");
    *bob = cluster_keygen (c, "bob", "expert");
}

static void
s_pack_submit (codec_buf_t *b, const char *agent, int quorum, int wait_ms, bool with_key)
{
    static const uint8_t key[32] = {7};
    msgpack_pack_map (&b->pk, 11 + with_key);
    codec_pack_kv_str (&b->pk, "op", "submit");
    codec_pack_kv_str (&b->pk, "agent", agent);
    codec_pack_kv_str (&b->pk, "session", "s-1");
    codec_pack_kv_str (&b->pk, "tool", "Bash");
    codec_pack_kv_str (&b->pk, "subject", "terraform apply");
    codec_pack_kv_str (&b->pk, "capability", "security");
    codec_pack_kv_str (&b->pk, "rule", "infra");
    codec_pack_kv_str (&b->pk, "policy", "p1");
    codec_pack_kv_u64 (&b->pk, "quorum", (uint64_t) quorum);
    codec_pack_kv_u64 (&b->pk, "wait_ms", (uint64_t) wait_ms);
    codec_pack_str (&b->pk, "request");
    msgpack_pack_map (&b->pk, 2);
    codec_pack_kv_str (&b->pk, "tool", "Bash");
    codec_pack_str (&b->pk, "input");
    msgpack_pack_map (&b->pk, 1);
    codec_pack_kv_str (&b->pk, "command", "terraform apply");
    if (with_key)
        codec_pack_kv_bin (&b->pk, "key", key, sizeof (key));
}

static lh_reply_t *
s_call (cluster_t *c, zcert_t *cert, codec_buf_t *body)
{
    lh_client_t *client = cluster_client (c, cert);
    lh_client_set_timeout (client, 8000);
    lh_reply_t *reply = lh_client_call (client, "expert", body->sbuf.data, body->sbuf.size);
    lh_client_destroy (&client);
    codec_buf_destroy (body);
    assert_non_null (reply);
    return reply;
}

//  Submits for agent; returns the reply (id and code in it)
static lh_reply_t *
s_submit (cluster_t *c, const char *agent, int quorum)
{
    codec_buf_t b;
    codec_buf_init (&b);
    s_pack_submit (&b, agent, quorum, 0, true);
    lh_reply_t *reply = s_call (c, c->node, &b);
    cluster_expect_ok (reply);
    assert_true (codec_str_eq (codec_map_get (lh_reply_root (reply), "state"), "pending"));
    return reply;
}

static void
s_field (const lh_reply_t *reply, const char *key, char *out, size_t size)
{
    assert_true (codec_str_copy (codec_map_get (lh_reply_root (reply), key), out, size));
}

static lh_reply_t *
s_decide (cluster_t *c, zcert_t *cert, const char *name_key, const char *name, const char *decision,
          const char *forged_expert)
{
    codec_buf_t b;
    codec_buf_init (&b);
    msgpack_pack_map (&b.pk, 4 + (forged_expert != NULL));
    codec_pack_kv_str (&b.pk, "op", "decide");
    codec_pack_kv_str (&b.pk, name_key, name);
    codec_pack_kv_str (&b.pk, "decision", decision);
    codec_pack_kv_str (&b.pk, "reason", "checked the plan");
    if (forged_expert)
        codec_pack_kv_str (&b.pk, "expert", forged_expert);
    return s_call (c, cert, &b);
}

static lh_reply_t *
s_show (cluster_t *c, zcert_t *cert, const char *id)
{
    codec_buf_t b;
    codec_buf_init (&b);
    msgpack_pack_map (&b.pk, 2);
    codec_pack_kv_str (&b.pk, "op", "show");
    codec_pack_kv_str (&b.pk, "escalation", id);
    return s_call (c, cert, &b);
}

//  A validator's escalation, seen and decided by an expert; the verdict is
//  the authenticated expert's, whatever the body says
static void
test_submit_list_decide (void **state)
{
    (void) state;
    cluster_t *c = cluster_new ("    expert\n        timeout = 20000\n", NULL);
    zcert_t *alice, *bob;
    s_experts (c, &alice, &bob);
    s_start_expert (c);

    lh_reply_t *sub = s_submit (c, "agent-1", 1);
    char id[40], code[16];
    s_field (sub, "escalation", id, sizeof (id));
    s_field (sub, "code", code, sizeof (code));
    assert_int_equal (strlen (id), 32);
    assert_int_equal (strlen (code), 8);
    lh_reply_destroy (&sub);
    //  The same request again while pending (a resend through another
    //  broker after one died): it joins the first, so the list holds one
    sub = s_submit (c, "agent-1", 1);
    char again[40];
    s_field (sub, "escalation", again, sizeof (again));
    assert_string_equal (again, id);
    lh_reply_destroy (&sub);

    lh_reply_t *reply = cluster_call (c, alice, "expert", "{\"op\":\"list\"}");
    cluster_expect_ok (reply);
    const msgpack_object *list = codec_map_get (lh_reply_root (reply), "escalations");
    assert_true (list && list->type == MSGPACK_OBJECT_ARRAY && list->via.array.size == 1);
    const msgpack_object *e = &list->via.array.ptr[0];
    assert_true (codec_str_eq (codec_map_get (e, "id"), id));
    assert_true (codec_str_eq (codec_map_get (e, "agent"), "agent-1"));
    assert_true (codec_str_eq (codec_map_get (e, "subject"), "terraform apply"));
    assert_true (codec_str_eq (codec_map_get (e, "capability"), "security"));
    lh_reply_destroy (&reply);

    //  alice decides, claiming to be bob in the body: the verdict is alice's
    reply = s_decide (c, alice, "code", code, "allow", "bob");
    cluster_expect_ok (reply);
    assert_true (codec_str_eq (codec_map_get (lh_reply_root (reply), "state"), "decided"));
    lh_reply_destroy (&reply);
    reply = s_show (c, bob, id);
    cluster_expect_ok (reply);
    const msgpack_object *verdict =
        codec_map_get (codec_map_get (lh_reply_root (reply), "escalation"), "verdict");
    assert_non_null (verdict);
    assert_true (codec_str_eq (codec_map_get (verdict, "by"), "expert:alice"));
    assert_true (codec_str_eq (codec_map_get (verdict, "decision"), "allow"));
    lh_reply_destroy (&reply);
    //  Late: decided already
    reply = s_decide (c, bob, "escalation", id, "deny", NULL);
    cluster_expect_error (&reply, LH_E_NOT_FOUND);
    cluster_destroy (&c);
}

//  Who may do what: agents neither list nor decide (the broker refuses the
//  service; the node's table refuses what the roles it admits may not do),
//  experts do not submit, an expert does not decide its own agent's request
static void
test_roles (void **state)
{
    (void) state;
    cluster_t *c = cluster_new ("    expert\n        timeout = 20000\n", NULL);
    zcert_t *alice, *bob;
    s_experts (c, &alice, &bob);
    s_start_expert (c);
    lh_reply_t *sub = s_submit (c, "alice", 1);
    char id[40];
    s_field (sub, "escalation", id, sizeof (id));
    lh_reply_destroy (&sub);

    lh_reply_t *reply = cluster_call (c, c->agent, "expert", "{\"op\":\"list\"}");
    cluster_expect_error (&reply, LH_E_FORBIDDEN);
    reply = s_decide (c, c->agent, "escalation", id, "allow", NULL);
    cluster_expect_error (&reply, LH_E_FORBIDDEN);
    reply = s_decide (c, c->node, "escalation", id, "allow", NULL);
    cluster_expect_error (&reply, LH_E_FORBIDDEN);
    codec_buf_t b;
    codec_buf_init (&b);
    s_pack_submit (&b, "agent-1", 1, 0, true);
    //  (the broker lets experts call expert; the node refuses the op)
    reply = s_call (c, alice, &b);
    cluster_expect_error (&reply, LH_E_FORBIDDEN);
    //  alice may not approve her own agent's request; bob may
    reply = s_decide (c, alice, "escalation", id, "allow", NULL);
    cluster_expect_error (&reply, LH_E_FORBIDDEN);
    reply = s_decide (c, bob, "escalation", id, "allow", NULL);
    cluster_expect_ok (reply);
    lh_reply_destroy (&reply);
    cluster_destroy (&c);
}

//  A held submit is answered when the quorum is reached; a second verdict
//  by the same expert is refused; a held submit nobody decides is answered
//  pending when its wait ends
static void
test_held_quorum (void **state)
{
    (void) state;
    cluster_t *c = cluster_new ("    expert\n        timeout = 20000\n", NULL);
    zcert_t *alice, *bob;
    s_experts (c, &alice, &bob);
    s_start_expert (c);

    lh_client_t *validator = cluster_client (c, c->node);
    lh_client_set_timeout (validator, 15000);
    codec_buf_t b;
    codec_buf_init (&b);
    s_pack_submit (&b, "agent-1", 2, 10000, true);
    uint64_t rid;
    assert_int_equal (lh_client_send (validator, "expert", b.sbuf.data, b.sbuf.size, &rid, NULL),
                      0);
    codec_buf_destroy (&b);
    //  The experts find it and decide
    char id[40] = "";
    for (int i = 0; i < 50 && !id[0]; i++) {
        lh_reply_t *reply = cluster_call (c, alice, "expert", "{\"op\":\"list\"}");
        const msgpack_object *list = codec_map_get (lh_reply_root (reply), "escalations");
        if (list && list->type == MSGPACK_OBJECT_ARRAY && list->via.array.size == 1)
            codec_str_copy (codec_map_get (&list->via.array.ptr[0], "id"), id, sizeof (id));
        lh_reply_destroy (&reply);
        if (!id[0])
            zclock_sleep (100);
    }
    assert_int_equal (strlen (id), 32);
    lh_reply_t *reply = s_decide (c, alice, "escalation", id, "allow", NULL);
    cluster_expect_ok (reply);
    assert_true (codec_str_eq (codec_map_get (lh_reply_root (reply), "state"), "pending"));
    lh_reply_destroy (&reply);
    reply = s_decide (c, alice, "escalation", id, "allow", NULL);
    cluster_expect_error (&reply, LH_E_FORBIDDEN);
    //  Not answered yet: one allow of two
    assert_null (lh_client_recv (validator, 300));
    reply = s_decide (c, bob, "escalation", id, "allow", NULL);
    cluster_expect_ok (reply);
    lh_reply_destroy (&reply);
    reply = lh_client_recv (validator, 5000);
    assert_non_null (reply);
    cluster_expect_ok (reply);
    assert_int_equal (lh_reply_id (reply), rid);
    const msgpack_object *root = lh_reply_root (reply);
    assert_true (codec_str_eq (codec_map_get (root, "state"), "decided"));
    const msgpack_object *verdict = codec_map_get (root, "verdict");
    assert_true (codec_str_eq (codec_map_get (verdict, "decision"), "allow"));
    assert_true (codec_str_eq (codec_map_get (verdict, "by"), "expert:bob"));
    lh_reply_destroy (&reply);

    //  Two held at once, decided in the other order: each reply to its own
    uint64_t rids[2];
    char ids[2][40] = {"", ""};
    for (int i = 0; i < 2; i++) {
        codec_buf_init (&b);
        s_pack_submit (&b, i ? "agent-2" : "agent-1", 1, 8000, true);
        assert_int_equal (
            lh_client_send (validator, "expert", b.sbuf.data, b.sbuf.size, &rids[i], NULL), 0);
        codec_buf_destroy (&b);
    }
    for (int t = 0; t < 50 && (!ids[0][0] || !ids[1][0]); t++) {
        reply = cluster_call (c, alice, "expert", "{\"op\":\"list\"}");
        const msgpack_object *list = codec_map_get (lh_reply_root (reply), "escalations");
        for (uint32_t i = 0; list && i < list->via.array.size; i++) {
            const msgpack_object *e = &list->via.array.ptr[i];
            int which = codec_str_eq (codec_map_get (e, "agent"), "agent-2") ? 1 : 0;
            codec_str_copy (codec_map_get (e, "id"), ids[which], sizeof (ids[which]));
        }
        lh_reply_destroy (&reply);
        if (!ids[0][0] || !ids[1][0])
            zclock_sleep (100);
    }
    assert_int_equal (strlen (ids[0]), 32);
    assert_int_equal (strlen (ids[1]), 32);
    const char *decisions[2] = {"deny", "allow"};
    for (int i = 1; i >= 0; i--) {
        reply = s_decide (c, bob, "escalation", ids[i], decisions[i], NULL);
        cluster_expect_ok (reply);
        lh_reply_destroy (&reply);
        reply = lh_client_recv (validator, 5000);
        assert_non_null (reply);
        cluster_expect_ok (reply);
        assert_int_equal (lh_reply_id (reply), rids[i]);
        assert_true (codec_str_eq (codec_map_get (lh_reply_root (reply), "escalation"), ids[i]));
        verdict = codec_map_get (lh_reply_root (reply), "verdict");
        assert_true (codec_str_eq (codec_map_get (verdict, "decision"), decisions[i]));
        lh_reply_destroy (&reply);
    }

    //  Nobody decides: the wait ends, still pending, the code given
    codec_buf_init (&b);
    s_pack_submit (&b, "agent-1", 1, 400, true);
    int64_t start = zclock_mono ();
    assert_int_equal (lh_client_send (validator, "expert", b.sbuf.data, b.sbuf.size, &rid, NULL),
                      0);
    codec_buf_destroy (&b);
    reply = lh_client_recv (validator, 5000);
    assert_non_null (reply);
    cluster_expect_ok (reply);
    assert_true (zclock_mono () - start >= 350);
    assert_true (codec_str_eq (codec_map_get (lh_reply_root (reply), "state"), "pending"));
    assert_non_null (codec_map_get (lh_reply_root (reply), "code"));
    lh_reply_destroy (&reply);
    lh_client_destroy (&validator);
    cluster_destroy (&c);
}

//  An escalation whose life ended takes no verdict: not_found, counted as
//  late, and nothing changes
static void
test_late_verdict (void **state)
{
    (void) state;
    cluster_t *c = cluster_new ("    expert\n        timeout = 20000\n", NULL);
    zcert_t *alice, *bob;
    s_experts (c, &alice, &bob);
    s_start_expert (c);
    codec_buf_t b;
    codec_buf_init (&b);
    s_pack_submit (&b, "agent-1", 1, 0, true);
    //  One more pair: a life of 300 ms (the map's header counted 12)
    b.sbuf.data[0] = (char) (0x80 | 13);
    codec_pack_kv_u64 (&b.pk, "ttl_ms", 300);
    lh_reply_t *sub = s_call (c, c->node, &b);
    cluster_expect_ok (sub);
    char id[40];
    s_field (sub, "escalation", id, sizeof (id));
    lh_reply_destroy (&sub);
    lh_reply_t *reply = NULL;
    bool expired = false;
    for (int i = 0; i < 40 && !expired; i++) {
        zclock_sleep (100);
        reply = s_show (c, alice, id);
        expired = codec_str_eq (
            codec_map_get (codec_map_get (lh_reply_root (reply), "escalation"), "state"),
            "expired");
        lh_reply_destroy (&reply);
    }
    assert_true (expired);
    reply = s_decide (c, alice, "escalation", id, "allow", NULL);
    cluster_expect_error (&reply, LH_E_NOT_FOUND);
    reply = cluster_call (c, c->node, "expert", "{\"op\":\"stats\"}");
    cluster_expect_ok (reply);
    const msgpack_object *counters = codec_map_get (lh_reply_root (reply), "counters");
    assert_int_equal (codec_map_get (counters, "late_verdicts")->via.u64, 1);
    assert_int_equal (codec_map_get (counters, "expired")->via.u64, 1);
    assert_int_equal (codec_map_get (counters, "decided")->via.u64, 0);
    lh_reply_destroy (&reply);
    cluster_destroy (&c);
}

//  Malformed bodies change nothing; escalations survive a SIGKILL; lh
//  approve CODE decides as the key it runs with
static void
test_bad_input_restart_cli (void **state)
{
    (void) state;
    cluster_t *c = cluster_new ("    expert\n        timeout = 20000\n", NULL);
    zcert_t *alice, *bob;
    s_experts (c, &alice, &bob);
    pid_t expert = s_start_expert (c);

    codec_buf_t b;
    codec_buf_init (&b);
    s_pack_submit (&b, "agent-1", 1, 0, false); //  no key
    lh_reply_t *reply = s_call (c, c->node, &b);
    cluster_expect_error (&reply, LH_E_BAD_REQUEST);
    codec_buf_init (&b);
    s_pack_submit (&b, "agent-1", 9, 0, true); //  quorum over 5
    reply = s_call (c, c->node, &b);
    cluster_expect_error (&reply, LH_E_BAD_REQUEST);
    reply = cluster_call (c, c->node, "expert", "{\"op\":\"nonsense\"}");
    cluster_expect_error (&reply, LH_E_BAD_REQUEST);
    reply = cluster_call (c, c->node, "expert", "{\"op\":\"stats\"}");
    cluster_expect_ok (reply);
    const msgpack_object *counters = codec_map_get (lh_reply_root (reply), "counters");
    assert_true (codec_map_get (counters, "pending")->via.u64 == 0);
    lh_reply_destroy (&reply);

    lh_reply_t *sub = s_submit (c, "agent-1", 1);
    char id[40], code[16];
    s_field (sub, "escalation", id, sizeof (id));
    s_field (sub, "code", code, sizeof (code));
    lh_reply_destroy (&sub);
    reply = s_decide (c, alice, "escalation", id, "maybe", NULL);
    cluster_expect_error (&reply, LH_E_BAD_REQUEST);
    reply = s_decide (c, alice, "code", "ZZZZZZZZ", "allow", NULL);
    cluster_expect_error (&reply, LH_E_NOT_FOUND);

    //  Killed with the escalation pending: it comes back
    launcher_signal (c->launcher, expert, SIGKILL);
    s_start_expert (c);
    reply = s_show (c, alice, id);
    cluster_expect_ok (reply);
    assert_true (codec_str_eq (
        codec_map_get (codec_map_get (lh_reply_root (reply), "escalation"), "state"), "pending"));
    lh_reply_destroy (&reply);

    //  lh approve CODE (lower case) with bob's key
    char cert[512], command[2048];
    launcher_cert_path (c->launcher, "bob", cert, sizeof (cert));
    for (char *p = code; *p; p++)
        *p = (char) (*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    snprintf (command, sizeof (command),
              "LH_BROKER='%s' LH_BROKER_KEY='%s' LH_CERT='%s' '%s' approve %s --reason 'ok' "
              ">%s/approve.out 2>&1",
              c->frontend, c->broker_key, cert, LH_CLI_BIN, code, c->dir);
    int status = system (command);
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    reply = s_show (c, alice, id);
    const msgpack_object *verdict =
        codec_map_get (codec_map_get (lh_reply_root (reply), "escalation"), "verdict");
    assert_true (codec_str_eq (codec_map_get (verdict, "by"), "expert:bob"));
    lh_reply_destroy (&reply);
    //  A subject with terminal escapes (agents write it) reaches the
    //  reviewer's terminal without them
    codec_buf_init (&b);
    msgpack_pack_map (&b.pk, 10);
    codec_pack_kv_str (&b.pk, "op", "submit");
    codec_pack_kv_str (&b.pk, "agent", "agent-1");
    codec_pack_kv_str (&b.pk, "tool", "Bash");
    codec_pack_kv_str (&b.pk, "subject", "\x1b[2J\x1b[1;1Hls  # harmless\r");
    codec_pack_kv_str (&b.pk, "capability", "security");
    codec_pack_kv_str (&b.pk, "rule", "infra");
    codec_pack_kv_str (&b.pk, "policy", "p1");
    static const uint8_t key[32] = {9};
    codec_pack_kv_bin (&b.pk, "key", key, sizeof (key));
    codec_pack_str (&b.pk, "request");
    msgpack_pack_map (&b.pk, 0);
    codec_pack_kv_u64 (&b.pk, "quorum", 1);
    reply = s_call (c, c->node, &b);
    cluster_expect_ok (reply);
    lh_reply_destroy (&reply);
    launcher_cert_path (c->launcher, "alice", cert, sizeof (cert));
    snprintf (command, sizeof (command),
              "LH_BROKER='%s' LH_BROKER_KEY='%s' LH_CERT='%s' '%s' review list >%s/list.out 2>&1",
              c->frontend, c->broker_key, cert, LH_CLI_BIN, c->dir);
    status = system (command);
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    char path[512], listing[8192] = "";
    snprintf (path, sizeof (path), "%s/list.out", c->dir);
    FILE *file = fopen (path, "r");
    assert_non_null (file);
    size_t got = fread (listing, 1, sizeof (listing) - 1, file);
    fclose (file);
    listing[got] = 0;
    assert_non_null (strstr (listing, "harmless"));
    assert_null (strchr (listing, '\x1b'));
    assert_null (strchr (listing, '\r'));

    //  The agent's own key cannot: the broker refuses it the service
    launcher_cert_path (c->launcher, "agent-1", cert, sizeof (cert));
    snprintf (command, sizeof (command),
              "LH_BROKER='%s' LH_BROKER_KEY='%s' LH_CERT='%s' '%s' approve %s >/dev/null 2>&1",
              c->frontend, c->broker_key, cert, LH_CLI_BIN, code);
    status = system (command);
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 1);
    cluster_destroy (&c);
}

//  A program as an automated expert: lh expert serve runs it on each
//  review and gives its verdict as its own key; a failing program denies
static void
test_expert_serve (void **state)
{
    (void) state;
    cluster_t *c = cluster_new ("    expert\n        timeout = 20000\n", NULL);
    zcert_t *alice, *bob;
    s_experts (c, &alice, &bob);
    launcher_keygen (c->launcher, "robot", "expert");
    fflush (NULL);
    kill (c->broker, SIGHUP);
    zclock_sleep (300);
    s_start_expert (c);

    //  The reviewer reads the review (JSON) and answers by its content
    char program[512], cert[512], log[512];
    snprintf (program, sizeof (program), "%s/reviewer.sh", c->dir);
    FILE *file = fopen (program, "w");
    assert_non_null (file);
    fputs ("#!/bin/sh\n"
           "review=$(cat)\n"
           "case \"$review\" in\n"
           "  *crash-me*) exit 3 ;;\n"
           "  *garbage*) echo 'allow it, sure' ;;\n"
           "  *huge*) printf '{\"verdict\": \"allow\", \"reason\": \"'; head -c 70000 /dev/zero "
           "| tr '\\0' a; echo '\"}' ;;\n"
           "  *terraform*) echo '{\"verdict\": \"deny\", \"reason\": \"no applies today\"}' ;;\n"
           "  *) echo '{\"verdict\": \"allow\", \"reason\": \"fine\"}' ;;\n"
           "esac\n",
           file);
    fclose (file);
    assert_int_equal (chmod (program, 0755), 0);
    launcher_cert_path (c->launcher, "robot", cert, sizeof (cert));
    snprintf (log, sizeof (log), "%s/robot.log", c->dir);
    char env_cert[600], env_broker[200], env_key[100];
    snprintf (env_cert, sizeof (env_cert), "%s", cert);
    snprintf (env_broker, sizeof (env_broker), "%s", c->frontend);
    snprintf (env_key, sizeof (env_key), "%s", c->broker_key);
    char *argv[] = {(char *) LH_CLI_BIN,
                    "--broker",
                    env_broker,
                    "--broker-key",
                    env_key,
                    "--cert",
                    env_cert,
                    "expert",
                    "serve",
                    "--capability",
                    "security",
                    "--exec",
                    program,
                    "--backend",
                    c->backend,
                    "--timeout",
                    "3000",
                    "--heartbeat",
                    "200",
                    NULL};
    pid_t robot = launcher_spawn (c->launcher, "robot", argv, log, -1, -1);
    assert_true (robot > 0);
    if (!cluster_wait_workers (c, "expert.security", 1, 10000)) {
        launcher_log_tail (log, 20);
        fail_msg ("lh expert serve did not register");
    }
    const char *subjects[] = {"terraform apply", "ls", "crash-me", "garbage", "huge"};
    const char *want[] = {"deny", "allow", "deny", "deny", "deny"};
    const char *reason[] = {"no applies today", "fine", "exited 3", "not JSON", "over 65536 bytes"};
    for (int i = 0; i < 5; i++) {
        lh_reply_t *sub = s_submit (c, "agent-1", 1);
        char id[40];
        s_field (sub, "escalation", id, sizeof (id));
        lh_reply_destroy (&sub);
        //  Offered as lh-expert will offer it
        codec_buf_t b;
        codec_buf_init (&b);
        msgpack_pack_map (&b.pk, 4);
        codec_pack_kv_str (&b.pk, "op", "review");
        codec_pack_kv_str (&b.pk, "escalation", id);
        codec_pack_kv_str (&b.pk, "subject", subjects[i]);
        codec_pack_kv_str (&b.pk, "capability", "security");
        lh_client_t *client = cluster_client (c, c->node);
        lh_client_set_timeout (client, 8000);
        lh_reply_t *reply = lh_client_call (client, "expert.security", b.sbuf.data, b.sbuf.size);
        lh_client_destroy (&client);
        codec_buf_destroy (&b);
        assert_non_null (reply);
        cluster_expect_ok (reply);
        lh_reply_destroy (&reply);
        //  The verdict arrives as robot's
        const msgpack_object *verdict = NULL;
        for (int t = 0; t < 50; t++) {
            lh_reply_destroy (&reply);
            reply = s_show (c, alice, id);
            verdict =
                codec_map_get (codec_map_get (lh_reply_root (reply), "escalation"), "verdict");
            if (verdict)
                break;
            zclock_sleep (100);
        }
        if (!verdict)
            fail_msg ("no verdict for '%s'", subjects[i]);
        assert_true (codec_str_eq (codec_map_get (verdict, "by"), "expert:robot"));
        if (!codec_str_eq (codec_map_get (verdict, "decision"), want[i]))
            fail_msg ("'%s': not %s", subjects[i], want[i]);
        char text[1100];
        assert_true (codec_str_copy (codec_map_get (verdict, "reason"), text, sizeof (text)));
        if (!strstr (text, reason[i]))
            fail_msg ("'%s': reason '%s' lacks '%s'", subjects[i], text, reason[i]);
        lh_reply_destroy (&reply);
    }
    cluster_destroy (&c);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown (test_submit_list_decide, cluster_teardown),
        cmocka_unit_test_teardown (test_roles, cluster_teardown),
        cmocka_unit_test_teardown (test_held_quorum, cluster_teardown),
        cmocka_unit_test_teardown (test_bad_input_restart_cli, cluster_teardown),
        cmocka_unit_test_teardown (test_expert_serve, cluster_teardown),
        cmocka_unit_test_teardown (test_late_verdict, cluster_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
