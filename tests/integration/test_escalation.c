/*  Integration tests: escalation end to end over CURVE. An agent's validate
    request that the policy escalates (the default policy: sudo) goes from
    lh-validator to the shared verdict cache (lh-cache) and to lh-expert,
    where a person (lh review, lh approve) or an automated expert (lh expert
    serve) decides; the agent gets the verdict, by whom, or the fail-closed
    fallback with an approval code; the verdict is remembered for its scope
    and can be revoked. Faults: no expert, no cache, an automated expert
    that crashes or dies mid-review, a flood past the queue's bound. */
#include "harness.h"

#include "codec.h"
#include "jsonpack.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SUDO  "sudo systemctl restart nginx"
#define SUDO2 "sudo systemctl restart apache2"

//  Broker deadlines above the longest wait the tests ask for
static cluster_t *
s_cluster (void)
{
    return cluster_new ("    validate\n        timeout = 30000\n"
                        "    expert\n        timeout = 30000\n",
                        NULL);
}

//  lh-cache (with_cache), lh-expert with --frontend and extra (NULL or
//  options), and a validator with --frontend
static void
s_start_nodes (cluster_t *c, bool with_cache, const char *extra)
{
    if (with_cache)
        cluster_start_cache (c, NULL);
    char args[512];
    snprintf (args, sizeof (args), "--frontend %s %s", c->frontend, extra ? extra : "");
    cluster_start_expert (c, args);
    cluster_start_validator_logging (c, LH_DEFAULT_POLICY, NULL);
}

//  A validate request for command, waiting up to wait_ms for a verdict
static void
s_pack_validate (codec_buf_t *b, const char *command, int wait_ms, const char *session)
{
    msgpack_pack_map (&b->pk, 4 + (session != NULL));
    codec_pack_kv_str (&b->pk, "tool", "Bash");
    codec_pack_str (&b->pk, "input");
    msgpack_pack_map (&b->pk, 1);
    codec_pack_kv_str (&b->pk, "command", command);
    codec_pack_kv_str (&b->pk, "cwd", "/home/dev/project");
    codec_pack_kv_u64 (&b->pk, "wait_ms", (uint64_t) wait_ms);
    if (session)
        codec_pack_kv_str (&b->pk, "session", session);
}

static uint64_t
s_send (lh_client_t *client, const char *command, int wait_ms, const char *session)
{
    codec_buf_t b;
    codec_buf_init (&b);
    s_pack_validate (&b, command, wait_ms, session);
    uint64_t id = 0;
    assert_int_equal (lh_client_send (client, "validate", b.sbuf.data, b.sbuf.size, &id, NULL), 0);
    codec_buf_destroy (&b);
    return id;
}

static lh_reply_t *
s_validate (cluster_t *c, zcert_t *cert, const char *command, int wait_ms, const char *session)
{
    lh_client_t *client = cluster_client (c, cert);
    lh_client_set_timeout (client, wait_ms + 8000);
    lh_client_set_retries (client, 0);
    s_send (client, command, wait_ms, session);
    lh_reply_t *reply = lh_client_recv (client, wait_ms + 9000);
    lh_client_destroy (&client);
    cluster_expect_ok (reply);
    return reply;
}

static bool
s_is (const lh_reply_t *reply, const char *key, const char *value)
{
    return codec_str_eq (codec_map_get (lh_reply_root (reply), key), value);
}

static void
s_field (const lh_reply_t *reply, const char *key, char *out, size_t size)
{
    if (!codec_str_copy (codec_map_get (lh_reply_root (reply), key), out, size))
        fail_msg ("reply has no str field '%s'", key);
}

//  The reply must say decision, by; prints the reply when it does not
static void
s_expect (const lh_reply_t *reply, const char *decision, const char *by)
{
    if (!s_is (reply, "decision", decision) || !s_is (reply, "by", by)) {
        char *text = jsonpack_to_json (lh_reply_root (reply), false);
        fail_msg ("expected %s by %s, got %s", decision, by, text ? text : "?");
    }
}

//  The id of the only pending escalation, as an expert lists it (waits for it)
static void
s_pending_id (cluster_t *c, zcert_t *expert, char *id, size_t size)
{
    id[0] = 0;
    for (int i = 0; i < 100 && !id[0]; i++) {
        lh_reply_t *reply = cluster_call (c, expert, "expert", "{\"op\":\"list\"}");
        cluster_expect_ok (reply);
        const msgpack_object *list = codec_map_get (lh_reply_root (reply), "escalations");
        if (list && list->type == MSGPACK_OBJECT_ARRAY && list->via.array.size == 1)
            codec_str_copy (codec_map_get (&list->via.array.ptr[0], "id"), id, size);
        lh_reply_destroy (&reply);
        if (!id[0])
            zclock_sleep (50);
    }
    assert_int_equal (strlen (id), 32);
}

static lh_reply_t *
s_decide (cluster_t *c, zcert_t *expert, const char *id, const char *decision, const char *scope)
{
    char json[512];
    snprintf (json, sizeof (json),
              "{\"op\":\"decide\",\"escalation\":\"%s\",\"decision\":\"%s\",\"reason\":\"looked "
              "at it\",\"scope\":\"%s\",\"ttl\":600}",
              id, decision, scope);
    return cluster_call (c, expert, "expert", json);
}

//  Runs lh with an expert key (name); returns its exit status, output in DIR/name.out
static int
s_lh (cluster_t *c, const char *name, const char *args)
{
    char cert[512], command[2048];
    launcher_cert_path (c->launcher, name, cert, sizeof (cert));
    snprintf (command, sizeof (command),
              "LH_BROKER='%s' LH_BROKER_KEY='%s' LH_CERT='%s' '%s' %s >%s/%s.out 2>&1", c->frontend,
              c->broker_key, cert, LH_CLI_BIN, args, c->dir, name);
    int status = system (command);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

//  A person's verdict reaches the waiting agent, named; it is remembered
//  for its scope (agent-1, not agent-2) until revoked
static void
test_verdict_cache_revoke (void **state)
{
    (void) state;
    cluster_t *c = s_cluster ();
    zcert_t *alice = cluster_keygen (c, "alice", "expert");
    s_start_nodes (c, true, NULL);
    char args[256];

    //  Policy decisions are the policy's
    lh_reply_t *reply = s_validate (c, c->agent, "ls -la", 0, NULL);
    s_expect (reply, "allow", "policy");
    lh_reply_destroy (&reply);

    //  Consoles (admins, nodes) follow the queue on the PUB socket
    zsock_t *sub = zsock_new (ZMQ_SUB);
    zcert_apply (c->admin, sub);
    zsock_set_curve_serverkey (sub, c->broker_key);
    zsock_set_subscribe (sub, "expert.queue");
    zsock_set_rcvtimeo (sub, 5000);
    assert_int_equal (zsock_connect (sub, "%s", c->pub), 0);
    zclock_sleep (300);

    //  The agent waits; alice approves for agent-1
    lh_client_t *agent = cluster_client (c, c->agent);
    lh_client_set_timeout (agent, 20000);
    lh_client_set_retries (agent, 0);
    uint64_t rid = s_send (agent, SUDO, 10000, NULL);
    char id[40];
    s_pending_id (c, alice, id, sizeof (id));
    assert_null (lh_client_recv (agent, 200)); //  still waiting
    //  The expert sees what was asked, and why
    char json[128];
    snprintf (json, sizeof (json), "{\"op\":\"show\",\"escalation\":\"%s\"}", id);
    reply = cluster_call (c, alice, "expert", json);
    cluster_expect_ok (reply);
    const msgpack_object *esc = codec_map_get (lh_reply_root (reply), "escalation");
    assert_true (codec_str_eq (codec_map_get (esc, "subject"), SUDO));
    assert_true (codec_str_eq (codec_map_get (esc, "agent"), "agent-1"));
    assert_true (codec_str_eq (codec_map_get (esc, "capability"), "security"));
    const msgpack_object *asked = codec_map_get (codec_map_get (esc, "request"), "input");
    assert_true (codec_str_eq (codec_map_get (asked, "command"), SUDO));
    lh_reply_destroy (&reply);
    reply = s_decide (c, alice, id, "allow", "agent");
    cluster_expect_ok (reply);
    const msgpack_object *verdict = codec_map_get (lh_reply_root (reply), "verdict");
    char verdict_id[40] = "";
    assert_true (
        codec_str_copy (codec_map_get (verdict, "verdict_id"), verdict_id, sizeof (verdict_id)));
    assert_int_equal (strlen (verdict_id), 32);
    assert_true (codec_str_eq (codec_map_get (verdict, "scope"), "agent"));
    lh_reply_destroy (&reply);
    reply = lh_client_recv (agent, 5000);
    cluster_expect_ok (reply);
    assert_int_equal (lh_reply_id (reply), rid);
    s_expect (reply, "allow", "expert:alice");
    assert_true (s_is (reply, "escalation", id));
    lh_reply_destroy (&reply);
    lh_client_destroy (&agent);
    const char *changes[] = {"requested", "decided"};
    for (int i = 0; i < 2; i++) {
        zmsg_t *msg = zmsg_recv (sub);
        assert_non_null (msg);
        char *topic = zmsg_popstr (msg);
        assert_string_equal (topic, "expert.queue");
        zstr_free (&topic);
        zframe_t *frame = zmsg_pop (msg);
        codec_doc_t *doc = codec_doc_decode (zframe_data (frame), zframe_size (frame), NULL, NULL);
        assert_non_null (doc);
        assert_true (codec_str_eq (codec_map_get (codec_doc_root (doc), "change"), changes[i]));
        assert_true (codec_str_eq (
            codec_map_get (codec_map_get (codec_doc_root (doc), "escalation"), "id"), id));
        codec_doc_destroy (&doc);
        zframe_destroy (&frame);
        zmsg_destroy (&msg);
    }
    zsock_destroy (&sub);

    //  The same request again: the shared cache answers, at once; then the
    //  validator's moment of memory of that verdict
    for (int i = 0; i < 2; i++) {
        reply = s_validate (c, c->agent, SUDO, 0, NULL);
        s_expect (reply, "allow", "cache");
        assert_true (s_is (reply, "verdict_id", verdict_id));
        lh_reply_destroy (&reply);
    }
    //  Another agent is not covered by scope agent: escalated, with a code
    reply = s_validate (c, c->agent2, SUDO, 0, NULL);
    s_expect (reply, "escalate", "policy");
    char code[16];
    s_field (reply, "code", code, sizeof (code));
    assert_int_equal (strlen (code), 8);
    char reason[1024];
    s_field (reply, "reason", reason, sizeof (reason));
    assert_non_null (strstr (reason, code));
    lh_reply_destroy (&reply);
    //  Another command is not covered either
    reply = s_validate (c, c->agent, SUDO2, 0, NULL);
    s_expect (reply, "escalate", "policy");
    lh_reply_destroy (&reply);

    //  An agent may not revoke; alice does, and the request is escalated again
    //  (lh-cache's notice makes the validator forget it at once)
    snprintf (json, sizeof (json), "{\"op\":\"revoke\",\"verdict_id\":\"%s\"}", verdict_id);
    reply = cluster_call (c, c->agent, "expert", json);
    cluster_expect_error (&reply, LH_E_FORBIDDEN);
    snprintf (args, sizeof (args), "review revoke %s", verdict_id);
    assert_int_equal (s_lh (c, "alice", args), 0);
    reply = s_validate (c, c->agent, SUDO, 0, NULL);
    s_expect (reply, "escalate", "policy");
    lh_reply_destroy (&reply);
    //  A second revocation finds nothing live
    reply = cluster_call (c, alice, "expert", json);
    cluster_expect_ok (reply);
    const msgpack_object *revoked = codec_map_get (lh_reply_root (reply), "revoked");
    assert_true (revoked && revoked->type == MSGPACK_OBJECT_BOOLEAN && !revoked->via.boolean);
    lh_reply_destroy (&reply);

    //  The validator counts what happened
    reply = cluster_call (c, c->admin, "validate", "{\"op\":\"stats\"}");
    cluster_expect_ok (reply);
    const msgpack_object *counters = codec_map_get (lh_reply_root (reply), "counters");
    assert_true (codec_map_get (counters, "verdict_cache_hits")->via.u64 >= 1);
    assert_true (codec_map_get (counters, "verdicts_recalled")->via.u64 >= 1);
    assert_true (codec_map_get (counters, "expert_verdicts")->via.u64 >= 1);
    lh_reply_destroy (&reply);
    cluster_destroy (&c);
}

//  Nobody answers in time: deny (fail closed), the reason carrying the
//  approval code; lh approve CODE, and the agent's retry is allowed
static void
test_deadline_code_retry (void **state)
{
    (void) state;
    cluster_t *c = s_cluster ();
    cluster_keygen (c, "bob", "expert");
    s_start_nodes (c, true, NULL);
    char args[256];
    //  bob watches the queue meanwhile (for 4 s)
    char cert[512], watch[2048];
    launcher_cert_path (c->launcher, "bob", cert, sizeof (cert));
    snprintf (watch, sizeof (watch),
              "LH_BROKER='%s' LH_BROKER_KEY='%s' LH_CERT='%s' timeout -s INT 4 '%s' review watch "
              "--interval 200 >%s/watch.out 2>&1 &",
              c->frontend, c->broker_key, cert, LH_CLI_BIN, c->dir);
    assert_int_equal (system (watch), 0);
    zclock_sleep (500);

    int64_t start = zclock_mono ();
    lh_reply_t *reply = s_validate (c, c->agent, SUDO, 600, "s-1");
    int64_t took = zclock_mono () - start;
    s_expect (reply, "deny", "policy");
    assert_true (took >= 550 && took < 3000);
    char code[16], reason[1024];
    s_field (reply, "code", code, sizeof (code));
    s_field (reply, "reason", reason, sizeof (reason));
    assert_non_null (strstr (reason, "no expert answered within 600 ms"));
    assert_non_null (strstr (reason, code));
    lh_reply_t *first = reply;

    snprintf (args, sizeof (args), "approve %s --reason 'planned restart'", code);
    assert_int_equal (s_lh (c, "bob", args), 0);
    //  Remembered for the session (the default when the request named one)
    reply = s_validate (c, c->agent, SUDO, 0, "s-1");
    s_expect (reply, "allow", "cache");
    lh_reply_destroy (&reply);
    reply = s_validate (c, c->agent, SUDO, 0, "s-2");
    s_expect (reply, "escalate", "policy");
    lh_reply_destroy (&reply);
    //  A verdict for a code that no longer names a live escalation changes nothing
    snprintf (args, sizeof (args), "approve %s", code);
    assert_int_equal (s_lh (c, "bob", args), 1);

    //  The watch saw the escalation arrive and leave
    zclock_sleep (4000 - (int) (zclock_mono () - start));
    char path[400], seen[4096] = "";
    snprintf (path, sizeof (path), "%s/watch.out", c->dir);
    FILE *f = fopen (path, "r");
    assert_non_null (f);
    size_t n = fread (seen, 1, sizeof (seen) - 1, f);
    seen[n] = 0;
    fclose (f);
    char id[40];
    s_field (first, "escalation", id, sizeof (id));
    lh_reply_destroy (&first);
    char line[64];
    snprintf (line, sizeof (line), "+ %s", id);
    if (!strstr (seen, line) || !strstr (seen, SUDO))
        fail_msg ("the watch did not show the escalation arrive: %s", seen);
    snprintf (line, sizeof (line), "- %s", id);
    if (!strstr (seen, line))
        fail_msg ("the watch did not show the escalation leave: %s", seen);
    cluster_destroy (&c);
}

//  Runs lh hook --agent agent with a Bash payload of command, as agent-1,
//  waiting wait_ms for a verdict; returns the exit status, stdout and
//  stderr in DIR/hook.out
static int
s_hook (cluster_t *c, const char *agent, const char *command, int wait_ms, char *out, size_t size)
{
    char cert[512], payload[400], shell[2048];
    launcher_cert_path (c->launcher, "agent-1", cert, sizeof (cert));
    snprintf (payload, sizeof (payload), "%s/hook.json", c->dir);
    FILE *f = fopen (payload, "w");
    assert_non_null (f);
    fprintf (f,
             "{\"session_id\":\"s-9\",\"hook_event_name\":\"PreToolUse\",\"tool_name\":\"Bash\","
             "\"tool_input\":{\"command\":\"%s\"},\"cwd\":\"/home/dev/project\"}",
             command);
    fclose (f);
    snprintf (shell, sizeof (shell),
              "LH_BROKER='%s' LH_BROKER_KEY='%s' LH_CERT='%s' LH_HOOK_WAIT_MS=%d '%s' hook "
              "--agent %s <%s >%s/hook.out 2>&1",
              c->frontend, c->broker_key, cert, wait_ms, LH_CLI_BIN, agent, payload, c->dir);
    int status = system (shell);
    char path[400];
    snprintf (path, sizeof (path), "%s/hook.out", c->dir);
    f = fopen (path, "r");
    size_t n = f ? fread (out, 1, size - 1, f) : 0;
    out[n] = 0;
    if (f)
        fclose (f);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

//  An agent whose hook cannot ask (Codex) is denied with a code; an expert
//  approves the code and the agent's retry (Claude Code's hook too, same
//  session) is allowed from the cache
static void
test_hook_code_flow (void **state)
{
    (void) state;
    cluster_t *c = s_cluster ();
    cluster_keygen (c, "bob", "expert");
    s_start_nodes (c, true, NULL);
    char args[256];
    char out[4096];
    int64_t start = zclock_mono ();
    assert_int_equal (s_hook (c, "codex", SUDO, 400, out, sizeof (out)), 2);
    assert_true (zclock_mono () - start >= 400);
    const char *at = strstr (out, "approval code ");
    if (!at)
        fail_msg ("no approval code in: %s", out);
    char code[9];
    snprintf (code, sizeof (code), "%.8s", at + strlen ("approval code "));
    snprintf (args, sizeof (args), "approve %s --reason 'restart is fine'", code);
    assert_int_equal (s_lh (c, "bob", args), 0);
    assert_int_equal (s_hook (c, "claude", SUDO, 0, out, sizeof (out)), 0);
    if (!strstr (out, "\"permissionDecision\":\"allow\""))
        fail_msg ("the retry was not allowed: %s", out);
    //  Not for another command
    assert_int_equal (s_hook (c, "codex", SUDO2, 0, out, sizeof (out)), 2);
    cluster_destroy (&c);
}

//  The events of type in the log (waits up to 10 s for at least count)
static lh_reply_t *
s_events (cluster_t *c, const char *type, uint32_t count)
{
    char json[160];
    snprintf (json, sizeof (json), "{\"op\":\"query\",\"type\":\"%s\",\"limit\":100}", type);
    for (int i = 0; i < 100; i++) {
        lh_reply_t *reply = cluster_call (c, c->admin, "events.read", json);
        cluster_expect_ok (reply);
        const msgpack_object *events = codec_map_get (lh_reply_root (reply), "events");
        if (events && events->type == MSGPACK_OBJECT_ARRAY && events->via.array.size >= count)
            return reply;
        lh_reply_destroy (&reply);
        zclock_sleep (100);
    }
    fail_msg ("fewer than %u %s events in the log", count, type);
    return NULL;
}

static const msgpack_object *
s_event_at (const lh_reply_t *reply, uint32_t i)
{
    return &codec_map_get (lh_reply_root (reply), "events")->via.array.ptr[i];
}

//  The log tells the whole story, each step naming its cause: requested,
//  the verdict (with the verdict id), the decision it made, the verdict
//  used from the cache, the revocation, an expiry
static void
test_events_story (void **state)
{
    (void) state;
    cluster_t *c = s_cluster ();
    zcert_t *alice = cluster_keygen (c, "alice", "expert");
    cluster_start_integrity (c, 1, NULL);
    s_start_nodes (c, true, NULL);
    char args[256];

    lh_client_t *agent = cluster_client (c, c->agent);
    lh_client_set_timeout (agent, 20000);
    lh_client_set_retries (agent, 0);
    s_send (agent, SUDO, 10000, NULL);
    char id[40];
    s_pending_id (c, alice, id, sizeof (id));
    lh_reply_t *reply = s_decide (c, alice, id, "allow", "global");
    cluster_expect_ok (reply);
    char verdict_id[40];
    assert_true (codec_str_copy (
        codec_map_get (codec_map_get (lh_reply_root (reply), "verdict"), "verdict_id"), verdict_id,
        sizeof (verdict_id)));
    lh_reply_destroy (&reply);
    reply = lh_client_recv (agent, 5000);
    s_expect (reply, "allow", "expert:alice");
    lh_reply_destroy (&reply);
    lh_client_destroy (&agent);
    reply = s_validate (c, c->agent2, SUDO, 0, NULL);
    s_expect (reply, "allow", "cache");
    lh_reply_destroy (&reply);
    snprintf (args, sizeof (args), "review revoke %s", verdict_id);
    assert_int_equal (s_lh (c, "alice", args), 0);

    reply = s_events (c, "escalation.requested", 1);
    const msgpack_object *e = s_event_at (reply, 0);
    assert_true (codec_str_eq (codec_map_get (e, "causation"), id));
    assert_true (codec_str_eq (codec_map_get (e, "agent"), "agent-1"));
    assert_true (codec_str_eq (codec_map_get (codec_map_get (e, "data"), "subject"), SUDO));
    lh_reply_destroy (&reply);
    reply = s_events (c, "expert.verdict", 1);
    e = s_event_at (reply, 0);
    const msgpack_object *data = codec_map_get (e, "data");
    assert_true (codec_str_eq (codec_map_get (e, "causation"), id));
    assert_true (codec_str_eq (codec_map_get (data, "expert"), "alice"));
    assert_true (codec_str_eq (codec_map_get (data, "decision"), "allow"));
    assert_true (codec_str_eq (codec_map_get (data, "scope"), "global"));
    assert_true (codec_str_eq (codec_map_get (data, "verdict_id"), verdict_id));
    lh_reply_destroy (&reply);
    reply = s_events (c, "verdict.used", 1);
    e = s_event_at (reply, 0);
    assert_true (codec_str_eq (codec_map_get (e, "causation"), verdict_id));
    assert_true (codec_str_eq (codec_map_get (e, "agent"), "agent-2"));
    lh_reply_destroy (&reply);
    reply = s_events (c, "verdict.revoked", 1);
    e = s_event_at (reply, 0);
    assert_true (codec_str_eq (codec_map_get (e, "causation"), verdict_id));
    assert_true (codec_str_eq (codec_map_get (codec_map_get (e, "data"), "revoked_by"), "alice"));
    lh_reply_destroy (&reply);
    //  The decisions name who made them
    reply = s_events (c, "validation.decision", 2);
    int by_expert = 0, by_cache = 0;
    const msgpack_object *events = codec_map_get (lh_reply_root (reply), "events");
    for (uint32_t i = 0; i < events->via.array.size; i++) {
        data = codec_map_get (&events->via.array.ptr[i], "data");
        if (codec_str_eq (codec_map_get (data, "by"), "expert:alice") &&
            codec_str_eq (codec_map_get (data, "escalation"), id))
            by_expert++;
        if (codec_str_eq (codec_map_get (data, "by"), "cache") &&
            codec_str_eq (codec_map_get (data, "verdict_id"), verdict_id))
            by_cache++;
    }
    assert_int_equal (by_expert, 1);
    assert_int_equal (by_cache, 1);
    lh_reply_destroy (&reply);
    cluster_destroy (&c);
}

//  Without lh-expert and lh-cache the validator still answers at once,
//  failing closed for a caller that waits; with lh-cache down but lh-expert
//  up it still escalates
static void
test_services_down (void **state)
{
    (void) state;
    //  expert not configured in the broker: unknown until lh-expert registers
    cluster_t *c = cluster_new ("    validate\n        timeout = 30000\n", NULL);
    cluster_start_validator_logging (c, LH_DEFAULT_POLICY, NULL);
    int64_t start = zclock_mono ();
    lh_reply_t *reply = s_validate (c, c->agent, SUDO, 5000, NULL);
    s_expect (reply, "deny", "policy");
    assert_true (zclock_mono () - start < 3000);
    char reason[1024];
    s_field (reply, "reason", reason, sizeof (reason));
    assert_non_null (strstr (reason, "no expert could be asked"));
    assert_null (codec_map_get (lh_reply_root (reply), "code"));
    lh_reply_destroy (&reply);
    //  Not waiting: the policy's escalate, for the agent's own prompt
    reply = s_validate (c, c->agent, SUDO, 0, NULL);
    s_expect (reply, "escalate", "policy");
    lh_reply_destroy (&reply);

    char args[256];
    snprintf (args, sizeof (args), "--frontend %s", c->frontend);
    cluster_start_expert (c, args);
    reply = s_validate (c, c->agent, SUDO, 300, NULL);
    s_expect (reply, "deny", "policy");
    s_field (reply, "reason", reason, sizeof (reason));
    assert_non_null (strstr (reason, "no expert answered within 300 ms"));
    assert_non_null (codec_map_get (lh_reply_root (reply), "code"));
    lh_reply_destroy (&reply);
    cluster_destroy (&c);
}

//  An automated expert (lh expert serve --exec) decides as its own key;
//  one that crashes denies; one killed mid-review is replaced by another
static void
test_automated_expert (void **state)
{
    (void) state;
    cluster_t *c = s_cluster ();
    cluster_keygen (c, "robot", "expert");
    s_start_nodes (c, true, "--review-ms 1500");

    //  A reviewer that sleeps holds the first review and is killed during it
    char sleeper[400], crasher[400];
    snprintf (sleeper, sizeof (sleeper), "%s/sleeper.sh", c->dir);
    snprintf (crasher, sizeof (crasher), "%s/crasher.sh", c->dir);
    FILE *f = fopen (sleeper, "w");
    fprintf (f, "#!/bin/sh\nsleep 30\n");
    fclose (f);
    f = fopen (crasher, "w");
    fprintf (f, "#!/bin/sh\nkill -SEGV $$\n");
    fclose (f);
    chmod (sleeper, 0755);
    chmod (crasher, 0755);
    char cert[512], log[400];
    launcher_cert_path (c->launcher, "robot", cert, sizeof (cert));
    setenv ("LH_CERT", cert, 1);
    setenv ("LH_BROKER", c->frontend, 1);
    setenv ("LH_BROKER_KEY", c->broker_key, 1);
    char *slow[] = {(char *) LH_CLI_BIN, "expert",      "serve", "--capability",
                    "security",          "--exec",      sleeper, "--backend",
                    c->backend,          "--heartbeat", "200",   NULL};
    snprintf (log, sizeof (log), "%s/sleeper.log", c->dir);
    pid_t slow_pid = launcher_spawn (c->launcher, "sleeper", slow, log, -1, -1);
    assert_true (cluster_wait_workers (c, "expert.security", 1, 10000));

    lh_client_t *agent = cluster_client (c, c->agent);
    lh_client_set_timeout (agent, 25000);
    lh_client_set_retries (agent, 0);
    uint64_t rid = s_send (agent, SUDO, 15000, NULL);
    zclock_sleep (700); //  offered to the sleeper, which accepted
    launcher_signal (c->launcher, slow_pid, SIGKILL);
    char *good[] = {
        (char *) LH_CLI_BIN,         "expert",    "serve",    "--capability", "security", "--exec",
        (char *) LH_REVIEWER_SCRIPT, "--backend", c->backend, "--heartbeat",  "200",      NULL};
    snprintf (log, sizeof (log), "%s/reviewer.log", c->dir);
    pid_t good_pid = launcher_spawn (c->launcher, "reviewer", good, log, -1, -1);
    assert_true (good_pid > 0);
    //  The review lapses (1.5 s) and is offered again, to the reviewer
    lh_reply_t *reply = lh_client_recv (agent, 15000);
    cluster_expect_ok (reply);
    assert_int_equal (lh_reply_id (reply), rid);
    s_expect (reply, "allow", "expert:robot");
    lh_reply_destroy (&reply);
    reply = cluster_call (c, c->admin, "expert", "{\"op\":\"stats\"}");
    cluster_expect_ok (reply);
    const msgpack_object *counters = codec_map_get (lh_reply_root (reply), "counters");
    assert_true (codec_map_get (counters, "reoffers")->via.u64 >= 1);
    lh_reply_destroy (&reply);
    launcher_signal (c->launcher, good_pid, SIGTERM);

    //  A reviewer that crashes is a deny naming the fault
    char *bad[] = {(char *) LH_CLI_BIN, "expert",      "serve", "--capability",
                   "security",          "--exec",      crasher, "--backend",
                   c->backend,          "--heartbeat", "200",   NULL};
    snprintf (log, sizeof (log), "%s/crasher.log", c->dir);
    launcher_spawn (c->launcher, "crasher", bad, log, -1, -1);
    zclock_sleep (500);
    reply = s_validate (c, c->agent, SUDO2, 10000, NULL);
    s_expect (reply, "deny", "expert:robot");
    char reason[1024];
    s_field (reply, "reason", reason, sizeof (reason));
    assert_non_null (strstr (reason, "fail"));
    lh_reply_destroy (&reply);
    lh_client_destroy (&agent);
    cluster_destroy (&c);
}

//  Sends n escalations from cert at once (wait 0); counts those given a
//  code and those refused with a reason holding refusal
static void
s_flood (cluster_t *c, zcert_t *cert, int n, const char *refusal, int *escalated, int *refused)
{
    lh_client_t *agent = cluster_client (c, cert);
    lh_client_set_timeout (agent, 20000);
    lh_client_set_retries (agent, 0);
    for (int i = 0; i < n; i++) {
        char command[64];
        snprintf (command, sizeof (command), "sudo systemctl restart svc-%d", i);
        s_send (agent, command, 0, NULL);
    }
    *escalated = *refused = 0;
    for (int i = 0; i < n; i++) {
        lh_reply_t *reply = lh_client_recv (agent, 20000);
        cluster_expect_ok (reply);
        s_expect (reply, "escalate", "policy");
        if (codec_map_get (lh_reply_root (reply), "code"))
            (*escalated)++;
        else {
            char reason[1024];
            s_field (reply, "reason", reason, sizeof (reason));
            if (!strstr (reason, "overloaded") || !strstr (reason, refusal))
                fail_msg ("unexpected refusal: %s", reason);
            (*refused)++;
        }
        lh_reply_destroy (&reply);
    }
    lh_client_destroy (&agent);
}

//  A flood past lh-expert's bounds: every request answered, the refused
//  ones with a reason; one agent cannot take the whole queue; exactly
//  queue_max escalations kept
static void
test_flood (void **state)
{
    (void) state;
    cluster_t *c = s_cluster ();
    zcert_t *alice = cluster_keygen (c, "alice", "expert");
    char args[256];
    snprintf (args, sizeof (args), "--frontend %s --queue-max 40 --agent-max 30", c->frontend);
    cluster_start_expert (c, args);
    //  Room for the whole flood in the validator: lh-expert's bounds are tested
    cluster_start_validator_logging (c, LH_DEFAULT_POLICY, "--capacity 1024");
    int escalated, refused;
    s_flood (c, c->agent, 50, "agent agent-1 has 30", &escalated, &refused);
    assert_int_equal (escalated, 30);
    assert_int_equal (refused, 20);
    s_flood (c, c->agent2, 20, "40 escalations are waiting", &escalated, &refused);
    assert_int_equal (escalated, 10);
    assert_int_equal (refused, 10);
    lh_reply_t *reply = cluster_call (c, alice, "expert", "{\"op\":\"list\",\"limit\":1000}");
    cluster_expect_ok (reply);
    assert_int_equal (codec_map_get (lh_reply_root (reply), "escalations")->via.array.size, 40);
    lh_reply_destroy (&reply);
    cluster_destroy (&c);
}

//  A validator holds a bounded number of waiting escalations, an eighth of
//  them at most for one agent: beyond, the fallback answers at once
static void
test_validator_bound (void **state)
{
    (void) state;
    cluster_t *c = s_cluster (); //  expert configured, no lh-expert: submits wait
    cluster_start_validator_logging (c, LH_DEFAULT_POLICY, "--escalations 16");
    lh_client_t *agent = cluster_client (c, c->agent);
    lh_client_set_timeout (agent, 20000);
    lh_client_set_retries (agent, 0);
    lh_client_t *other = cluster_client (c, c->agent2);
    lh_client_set_timeout (other, 20000);
    lh_client_set_retries (other, 0);
    int64_t start = zclock_mono ();
    for (int i = 0; i < 4; i++)
        s_send (agent, SUDO, 1500, NULL);
    s_send (other, SUDO, 1500, NULL);
    //  Requests that need no expert are not held up by those that wait
    lh_client_t *third = cluster_client (c, c->admin);
    lh_client_set_timeout (third, 5000);
    s_send (third, "ls -la", 0, NULL);
    lh_reply_t *quick = lh_client_recv (third, 5000);
    cluster_expect_ok (quick);
    s_expect (quick, "allow", "policy");
    assert_true (zclock_mono () - start < 1000);
    lh_reply_destroy (&quick);
    lh_client_destroy (&third);
    int at_once = 0, at_deadline = 0;
    for (int i = 0; i < 4; i++) {
        lh_reply_t *reply = lh_client_recv (agent, 10000);
        cluster_expect_ok (reply);
        s_expect (reply, "deny", "policy");
        char reason[1024];
        s_field (reply, "reason", reason, sizeof (reason));
        if (strstr (reason, "too many escalations held")) {
            assert_true (zclock_mono () - start < 1000);
            at_once++;
        } else {
            assert_true (zclock_mono () - start >= 1500);
            at_deadline++;
        }
        lh_reply_destroy (&reply);
    }
    assert_int_equal (at_once, 2);
    assert_int_equal (at_deadline, 2);
    lh_reply_t *reply = lh_client_recv (other, 10000);
    cluster_expect_ok (reply);
    s_expect (reply, "deny", "policy");
    char reason[1024];
    s_field (reply, "reason", reason, sizeof (reason));
    assert_null (strstr (reason, "too many escalations held"));
    lh_reply_destroy (&reply);
    lh_client_destroy (&agent);
    lh_client_destroy (&other);
    cluster_destroy (&c);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown (test_verdict_cache_revoke, cluster_teardown),
        cmocka_unit_test_teardown (test_deadline_code_retry, cluster_teardown),
        cmocka_unit_test_teardown (test_services_down, cluster_teardown),
        cmocka_unit_test_teardown (test_hook_code_flow, cluster_teardown),
        cmocka_unit_test_teardown (test_events_story, cluster_teardown),
        cmocka_unit_test_teardown (test_automated_expert, cluster_teardown),
        cmocka_unit_test_teardown (test_flood, cluster_teardown),
        cmocka_unit_test_teardown (test_validator_bound, cluster_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
