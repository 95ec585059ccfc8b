/*  escalation -- lh-escalation-bench: what an escalation to an expert
    costs, end to end through the real services, in one run
    (bench/run-escalation, bench/README.md).

    Starts on 127.0.0.1 a CURVE lh-broker, lh-cache, lh-expert
    (--frontend: it offers reviews and remembers verdicts) and one
    lh-validator (--frontend: it asks the cache, then lh-expert), with the
    default policy, and in this process an automated expert: an lh_worker
    of expert.security with an expert key (made after the broker started,
    which then reads its roster again on SIGHUP), that accepts every review
    at once and gives its verdict with a decide through an lh_client of the
    same key, the decides pipelined, on a thread of its own. Then, as agents
    (role agent), in this order:

    1. one verdict with scope global, for one command (the cache-hit
       request);
    2. one agent, one request in flight: `ls -la` (allowed by the policy)
       and that cached command, alternately, so that both see the same
       machine: plain validate latency and cache-hit latency;
    3. one agent, one request in flight, a command never asked before each
       time (`sudo systemctl restart svc-N`, escalated to capability
       security, allowed with scope once): the escalation round trip;
    4. AGENTS agents (each its own key and lh_client), one escalation in
       flight each, for a fixed window: escalations per second and their
       round trips, with each process's CPU over the window.

    Every reply is checked: ok, decision allow, and by as expected (policy,
    cache, expert:robot). Failures are counted by kind, a few are shown,
    and a run with any failure exits 1.
*/
#include "bench.h"

#include "codec.h"
#include "jsonpack.h"
#include "launcher.h"
#include "lh_client.h"
#include "lh_config.h"
#include "lh_worker.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef LH_BENCH_BROKER
#define LH_BENCH_BROKER ""
#endif
#ifndef LH_BENCH_VALIDATOR
#define LH_BENCH_VALIDATOR ""
#endif
#ifndef LH_BENCH_EXPERT
#define LH_BENCH_EXPERT ""
#endif
#ifndef LH_BENCH_CACHE
#define LH_BENCH_CACHE ""
#endif
#ifndef LH_BENCH_POLICY
#define LH_BENCH_POLICY ""
#endif

#define TOOL              "lh-escalation-bench"
#define TARGET_CACHE_P99  1.2 //  cache-hit p99 over plain validate p99, at most
#define MAX_AGENTS        1000
#define SAMPLES           3   //  failed replies shown per phase
#define HEARTBEAT_MS      200 //  the broker's; every worker beats at it
#define CWD               "/home/dev/project"
#define PLAIN_COMMAND     "ls -la"
#define ROBOT             "robot"
#define BY_ROBOT          "expert:" ROBOT
#define CAPABILITY        "expert.security"
#define GLOBAL_PREFIX     "sudo systemctl restart cached-" //  the robot decides these global
#define DECIDE_TTL_S      600
#define DECIDE_TIMEOUT_MS 10000
#define ROBOT_POLL_MS     50          //  well inside the heartbeat: lh_worker_recv beats
#define SWEEP_NS          50000000ULL //  every agent's socket read at least this often
#define GRACE_MS          8000        //  an agent's deadline past its wait_ms

typedef struct {
    int requests, warmup, agents, wait_ms;
    double duration, settle;
    int validator_capacity, escalations, agent_max, queue_max, robot_capacity, spool_sync;
    int port_base;
    const char *dir, *json, *source;
    const char *broker_bin, *validator_bin, *expert_bin, *cache_bin, *policy;
    bool keep;
} xopts_t;

#define s_progress(...) bench_progress (TOOL, __VA_ARGS__)

//  --------------------------------------------------------------------------
//  Options

static const char *s_summary =
    "Escalations to an automated expert through a CURVE lh-broker, lh-validator\n"
    "(default policy), lh-cache and lh-expert on 127.0.0.1, the expert a worker of\n"
    "expert.security in this process that allows every review at once. One agent,\n"
    "one request in flight: plain validate (ls -la) and a cached verdict,\n"
    "alternately, then escalations of commands never asked before; then AGENTS\n"
    "agents with one escalation in flight each for --duration seconds. Every reply\n"
    "is checked (ok, allow, by policy / cache / expert:robot).\n"
    "Ports: P (frontend), P+1 (backend), P+2 (pub).\n"
    "\n"
    "Target (reported, not asserted): cache-hit p99 <= 1.2x plain validate p99.\n"
    "Exit status: 0 when every reply was as expected, 1 when one was not or the\n"
    "cluster could not run, 2 on usage errors, 130 when interrupted.";

static const lh_option_t s_options[] = {
    {"requests", "escalation/requests", "2000", "measured requests of each one-agent phase", false},
    {"warmup", "escalation/warmup", "100", "unmeasured requests before each one-agent phase",
     false},
    {"agents", "escalation/agents", "100", "agents of the throughput phase", false},
    {"duration", "escalation/duration", "10", "measured seconds of the throughput phase", false},
    {"settle", "escalation/settle", "1", "unmeasured seconds before that window", false},
    {"wait-ms", "escalation/wait_ms", "10000",
     "wait_ms of every request: how long an agent waits for an expert", false},
    {"validator-capacity", "escalation/validator_capacity", "256",
     "lh-validator --capacity: requests it holds, escalations included (its default)", false},
    {"escalations", "escalation/escalations", "128",
     "lh-validator --escalations: held at once, at most half the capacity, an eighth of them "
     "per agent",
     false},
    {"agent-max", "escalation/agent_max", "100",
     "lh-expert --agent-max: pending escalations per agent", false},
    {"queue-max", "escalation/queue_max", "10000",
     "lh-expert --queue-max: pending escalations in all", false},
    {"robot-capacity", "escalation/robot_capacity", "256",
     "reviews the automated expert holds at once", false},
    {"spool-sync", "escalation/spool_sync", "1",
     "lh-validator --spool-sync: 1 fdatasyncs each group of decisions before answering", false},
    {"policy", "escalation/policy", NULL, "the validator's policy [nodes/validator/default.policy]",
     false},
    {"dir", "escalation/dir", NULL, "where the temporary directory goes [$TMPDIR or /tmp]", false},
    {"port-base", "escalation/port_base", "17300", "first port (see below)", false},
    {"broker-bin", "escalation/broker_bin", NULL, "lh-broker [next to " TOOL "]", false},
    {"validator-bin", "escalation/validator_bin", NULL, "lh-validator [next to " TOOL "]", false},
    {"expert-bin", "escalation/expert_bin", NULL, "lh-expert [next to " TOOL "]", false},
    {"cache-bin", "escalation/cache_bin", NULL, "lh-cache [next to " TOOL "]", false},
    {"source", "escalation/source", NULL, "what was built (bench/run-escalation passes the commit)",
     false},
    {"json", "escalation/json", NULL, "also write the results as JSON to FILE", false},
    {"keep", "escalation/keep", NULL, "keep the temporary directory (keys, logs, data)", true},
    {NULL, NULL, NULL, NULL, false},
};

//  The options as lh_config_load reads them; the tree stays alive for the
//  strings in o. -1 to run, else the exit status.
static int
s_parse (xopts_t *o, int argc, char **argv, zconfig_t **config_p)
{
    int exit_code = 0;
    zconfig_t *config = lh_config_load (TOOL, s_summary, s_options, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    *config_p = config;
#define S(name) lh_config_str (config, "escalation/" name, NULL)
#define I(name) (int) lh_config_int (config, "escalation/" name, -1)
#define D(name) atof (lh_config_str (config, "escalation/" name, "-1"))
    *o = (xopts_t){.requests = I ("requests"),
                   .warmup = I ("warmup"),
                   .agents = I ("agents"),
                   .wait_ms = I ("wait_ms"),
                   .duration = D ("duration"),
                   .settle = D ("settle"),
                   .validator_capacity = I ("validator_capacity"),
                   .escalations = I ("escalations"),
                   .agent_max = I ("agent_max"),
                   .queue_max = I ("queue_max"),
                   .robot_capacity = I ("robot_capacity"),
                   .spool_sync = I ("spool_sync"),
                   .port_base = I ("port_base"),
                   .dir = S ("dir"),
                   .json = S ("json"),
                   .source = S ("source"),
                   .broker_bin = S ("broker_bin"),
                   .validator_bin = S ("validator_bin"),
                   .expert_bin = S ("expert_bin"),
                   .cache_bin = S ("cache_bin"),
                   .policy = S ("policy"),
                   .keep = lh_config_bool (config, "escalation/keep", false)};
#undef S
#undef I
#undef D
    if (!o->policy)
        o->policy = LH_BENCH_POLICY;
    if (o->requests < 1 || o->warmup < 0 || o->agents < 1 || o->agents > MAX_AGENTS ||
        o->wait_ms < 100 || o->wait_ms > 600000 || o->duration <= 0 || o->settle < 0 ||
        o->validator_capacity < 1 || o->validator_capacity > LH_MAX_CAPACITY ||
        o->escalations < 1 || o->agent_max < 1 || o->queue_max < 1 || o->robot_capacity < 1 ||
        o->robot_capacity > LH_MAX_CAPACITY || (o->spool_sync != 0 && o->spool_sync != 1) ||
        o->port_base < 1024 || o->port_base > 65000) {
        fprintf (stderr, TOOL ": an option is out of range (try --help)\n");
        return 2;
    }
    return -1;
}

//  --------------------------------------------------------------------------
//  Checking replies

typedef struct {
    const char *name; //  the phase, for messages
    const char *by;   //  who must have decided
    uint64_t sent, ok, failed;
    uint64_t error_replies; //  ok: false from a service or the broker
    uint64_t timeouts;      //  no reply by the agent's deadline (lh_client's, no resends)
    uint64_t wrong_decision, wrong_by;
    uint64_t send_failed; //  lh_client_send refused
    uint64_t lost;        //  still unanswered when the phase ended
    uint64_t by_code[LOAD_ERR_KINDS];
    char sample[SAMPLES][512];
    int samples;
} check_t;

static void
s_check_init (check_t *c, const char *name, const char *by)
{
    memset (c, 0, sizeof (*c));
    c->name = name;
    c->by = by;
}

static void
s_sample (check_t *c, const char *what, const lh_reply_t *reply)
{
    if (c->samples >= SAMPLES)
        return;
    char *json =
        reply && lh_reply_root (reply) ? jsonpack_to_json (lh_reply_root (reply), false) : NULL;
    if (json)
        snprintf (c->sample[c->samples], sizeof (c->sample[0]), "%s: %s", what, json);
    else if (reply)
        snprintf (c->sample[c->samples], sizeof (c->sample[0]), "%s: %s: %s", what,
                  lh_reply_code_name (reply), lh_reply_message (reply));
    else
        snprintf (c->sample[c->samples], sizeof (c->sample[0]), "%s", what);
    free (json);
    c->samples++;
}

//  True when the reply is ok, allows, and names the expected decider
static bool
s_check (check_t *c, const lh_reply_t *reply)
{
    const msgpack_object *root = lh_reply_root (reply);
    char what[96] = "";
    if (!lh_reply_ok (reply)) {
        lh_err_t code = lh_reply_code (reply);
        c->by_code[(int) code < LOAD_ERR_KINDS ? (int) code : (int) LH_E_INTERNAL]++;
        //  A reply made locally (no root) is lh_client's own deadline
        if (code == LH_E_TIMEOUT && !root) {
            c->timeouts++;
            snprintf (what, sizeof (what), "no reply by the deadline");
        } else {
            c->error_replies++;
            snprintf (what, sizeof (what), "error reply");
        }
    } else if (!codec_str_eq (codec_map_get (root, "decision"), "allow")) {
        c->wrong_decision++;
        snprintf (what, sizeof (what), "decision is not allow");
    } else if (!codec_str_eq (codec_map_get (root, "by"), c->by)) {
        c->wrong_by++;
        snprintf (what, sizeof (what), "by is not %s", c->by);
    }
    if (!what[0]) {
        c->ok++;
        return true;
    }
    c->failed++;
    s_sample (c, what, reply);
    return false;
}

static void
s_check_merge (check_t *into, const check_t *c)
{
    into->sent += c->sent;
    into->ok += c->ok;
    into->failed += c->failed;
}

//  --------------------------------------------------------------------------
//  Requests

//  {tool: Bash, input: {command}, cwd, wait_ms}: what an agent's hook sends
static void
s_pack_validate (codec_buf_t *buf, const char *command, int wait_ms)
{
    buf->sbuf.size = 0;
    msgpack_pack_map (&buf->pk, 4);
    codec_pack_kv_str (&buf->pk, "tool", "Bash");
    codec_pack_str (&buf->pk, "input");
    msgpack_pack_map (&buf->pk, 1);
    codec_pack_kv_str (&buf->pk, "command", command);
    codec_pack_kv_str (&buf->pk, "cwd", CWD);
    codec_pack_kv_u64 (&buf->pk, "wait_ms", (uint64_t) wait_ms);
}

//  A command never asked before in this run: nothing can be cached for it
static uint64_t s_next_service;

static void
s_fresh_command (char *out, size_t size)
{
    snprintf (out, size, "sudo systemctl restart svc-%llu", (unsigned long long) s_next_service++);
}

//  One request, the only one in flight: sends it, waits for its reply,
//  checks it. The round trip goes in hist when the reply is as expected.
static bool
s_call_one (lh_client_t *client, codec_buf_t *buf, const char *command, int wait_ms, check_t *c,
            hist_t *hist)
{
    s_pack_validate (buf, command, wait_ms);
    uint64_t id = 0;
    const char *why = NULL;
    c->sent++;
    uint64_t start = bench_now_ns ();
    if (lh_client_send (client, "validate", buf->sbuf.data, buf->sbuf.size, &id, &why) != 0) {
        c->send_failed++;
        c->failed++;
        char what[160];
        snprintf (what, sizeof (what), "send refused: %s", why ? why : "?");
        s_sample (c, what, NULL);
        return false;
    }
    lh_reply_t *reply = NULL;
    //  -1: until the reply or the request's deadline (then a local timeout)
    while (!bench_stop && (reply = lh_client_recv (client, -1)) && lh_reply_id (reply) != id)
        lh_reply_destroy (&reply);
    uint64_t end = bench_now_ns ();
    if (!reply) {
        c->lost++;
        c->failed++;
        return false;
    }
    bool ok = s_check (c, reply);
    lh_reply_destroy (&reply);
    if (ok && hist)
        hist_record (hist, end - start);
    return ok;
}

//  --------------------------------------------------------------------------
//  The automated expert: reviews in, accepted at once, decides out

typedef struct {
    lh_connect_t worker_conn, client_conn; //  backend and frontend, the robot's key
    int capacity;
    atomic_bool stop;
    atomic_bool failed; //  could not open its sockets
    atomic_int tid;
    atomic_uint_fast64_t reviews, bad_reviews, accepted, reply_failed;
    atomic_uint_fast64_t decides, decides_global, decides_ok, decides_failed;
    char error[256]; //  the first failed decide (read after the thread ended)
} robot_t;

static void
s_review (robot_t *r, lh_worker_t *worker, lh_client_t *client, lh_request_t **request_p,
          codec_buf_t *buf)
{
    const msgpack_object *body = lh_request_body (*request_p);
    char escalation[40] = "", command[256] = "";
    codec_str_copy (codec_map_get (body, "escalation"), escalation, sizeof (escalation));
    const msgpack_object *input = codec_map_get (codec_map_get (body, "request"), "input");
    codec_str_copy (codec_map_get (input, "command"), command, sizeof (command));
    r->reviews++;
    if (strlen (escalation) != 32) {
        r->bad_reviews++;
        lh_worker_reply_error (worker, request_p, LH_E_BAD_REQUEST,
                               "a review names its escalation (32 characters)");
        return;
    }
    //  Accepted at once, as lh expert serve does: the verdict is a decide
    //  as our own key, which a reply could not carry
    buf->sbuf.size = 0;
    codec_pack_ok_head (&buf->pk, lh_request_id (*request_p), 1);
    codec_pack_kv_bool (&buf->pk, "accepted", true);
    if (lh_worker_reply (worker, request_p, buf->sbuf.data, buf->sbuf.size) == 0)
        r->accepted++;
    else
        r->reply_failed++;
    bool global = strncmp (command, GLOBAL_PREFIX, strlen (GLOBAL_PREFIX)) == 0;
    buf->sbuf.size = 0;
    msgpack_pack_map (&buf->pk, 6);
    codec_pack_kv_str (&buf->pk, "op", "decide");
    codec_pack_kv_str (&buf->pk, "escalation", escalation);
    codec_pack_kv_str (&buf->pk, "decision", "allow");
    codec_pack_kv_str (&buf->pk, "reason", TOOL " allows everything");
    codec_pack_kv_str (&buf->pk, "scope", global ? "global" : "once");
    codec_pack_kv_u64 (&buf->pk, "ttl", DECIDE_TTL_S);
    uint64_t id;
    const char *why = NULL;
    //  Not waited for: the decides stay in flight, their replies are read
    //  in the loop
    if (lh_client_send (client, "expert", buf->sbuf.data, buf->sbuf.size, &id, &why) == 0) {
        r->decides++;
        r->decides_global += global;
    } else {
        if (!r->decides_failed)
            snprintf (r->error, sizeof (r->error), "decide not sent: %s", why ? why : "?");
        r->decides_failed++;
    }
}

static void
s_decided (robot_t *r, const lh_reply_t *reply)
{
    const msgpack_object *verdict = codec_map_get (lh_reply_root (reply), "verdict");
    if (lh_reply_ok (reply) && codec_str_eq (codec_map_get (verdict, "decision"), "allow")) {
        r->decides_ok++;
        return;
    }
    if (!r->decides_failed)
        snprintf (r->error, sizeof (r->error), "decide: %s: %s",
                  lh_reply_ok (reply) ? "ok" : lh_reply_code_name (reply),
                  lh_reply_ok (reply) ? "no verdict allow in the reply" : lh_reply_message (reply));
    r->decides_failed++;
}

static void *
s_robot_run (void *arg)
{
    robot_t *r = (robot_t *) arg;
    r->tid = (int) syscall (SYS_gettid);
    pthread_setname_np (pthread_self (), "robot");
    //  The sockets are made here: a ZeroMQ socket belongs to one thread
    lh_worker_t *worker = lh_worker_new (&r->worker_conn, CAPABILITY, r->capacity);
    lh_client_t *client = lh_client_new (&r->client_conn);
    if (!worker || !client) {
        r->failed = true;
        lh_worker_destroy (&worker);
        lh_client_destroy (&client);
        return NULL;
    }
    lh_worker_set_heartbeat (worker, HEARTBEAT_MS, 3);
    lh_client_set_timeout (client, DECIDE_TIMEOUT_MS);
    lh_client_set_retries (client, 0);
    codec_buf_t buf;
    codec_buf_init (&buf);
    while (!r->stop) {
        //  Both sockets are read until empty after any work, so that no
        //  edge of their edge-triggered ZMQ_FDs is missed before we poll
        bool worked = false;
        lh_request_t *request;
        while ((request = lh_worker_recv (worker, 0))) {
            s_review (r, worker, client, &request, &buf);
            worked = true;
        }
        lh_reply_t *reply;
        while ((reply = lh_client_recv (client, 0))) {
            s_decided (r, reply);
            lh_reply_destroy (&reply);
            worked = true;
        }
        if (worked)
            continue;
        struct pollfd fds[2] = {{lh_worker_fd (worker), POLLIN, 0},
                                {lh_client_fd (client), POLLIN, 0}};
        poll (fds, 2, ROBOT_POLL_MS);
    }
    codec_buf_destroy (&buf);
    lh_client_destroy (&client);
    lh_worker_destroy (&worker);
    return NULL;
}

//  --------------------------------------------------------------------------
//  Environment: the cluster

typedef struct {
    launcher_t *launcher;
    char tmp[256];
    char broker_bin[PATH_MAX], validator_bin[PATH_MAX], expert_bin[PATH_MAX], cache_bin[PATH_MAX];
    char broker_key[41], frontend[64], backend[64];
    char validator_args[256], expert_args[256];
    zcert_t *agent_cert; //  agent-1, the one-agent phases (the launcher's)
    zcert_t **certs;     //  one per agent of the throughput phase (ours)
    int ncerts;
    pid_t broker, validator, expert, cache;
    robot_t robot;
    pthread_t robot_thread;
    bool robot_started;
    bool failed;
} xenv_t;

static int
s_env_init (xenv_t *env, const xopts_t *o)
{
    char self[PATH_MAX];
    if (proc_self_dir (self, sizeof (self)) != 0 ||
        !proc_find_bin_named (env->broker_bin, PATH_MAX, o->broker_bin, self, "../broker/lh-broker",
                              LH_BENCH_BROKER, TOOL, "lh-broker", "--broker-bin") ||
        !proc_find_bin_named (env->validator_bin, PATH_MAX, o->validator_bin, self,
                              "../nodes/validator/lh-validator", LH_BENCH_VALIDATOR, TOOL,
                              "lh-validator", "--validator-bin") ||
        !proc_find_bin_named (env->expert_bin, PATH_MAX, o->expert_bin, self,
                              "../nodes/expert/lh-expert", LH_BENCH_EXPERT, TOOL, "lh-expert",
                              "--expert-bin") ||
        !proc_find_bin_named (env->cache_bin, PATH_MAX, o->cache_bin, self,
                              "../nodes/cache/lh-cache", LH_BENCH_CACHE, TOOL, "lh-cache",
                              "--cache-bin"))
        return -1;
    if (access (o->policy, R_OK) != 0) {
        fprintf (stderr, TOOL ": cannot read the policy %s; use --policy\n", o->policy);
        return -1;
    }
    const char *base = o->dir ? o->dir : getenv ("TMPDIR");
    if (base && strlen (base) > 200) {
        fprintf (stderr, TOOL ": %s: path too long for the temporary directory\n", base);
        return -1;
    }
    char template[PATH_MAX];
    snprintf (template, sizeof (template), "%s/lh-bench-escalation.XXXXXX",
              base && *base ? base : "/tmp");
    env->launcher = launcher_new (template);
    if (!env->launcher)
        return -1;
    launcher_t *launcher = env->launcher;
    snprintf (env->tmp, sizeof (env->tmp), "%s", launcher_dir (launcher));
    launcher_set_bin (launcher, LAUNCHER_BROKER, env->broker_bin);
    launcher_set_bin (launcher, LAUNCHER_VALIDATOR, env->validator_bin);
    launcher_set_port_base (launcher, o->port_base);
    env->agent_cert = launcher_keygen (launcher, "agent-1", "agent");
    //  The throughput agents' keys live in memory: only the roster needs them
    env->ncerts = o->agents;
    env->certs = (zcert_t **) calloc ((size_t) o->agents, sizeof (zcert_t *));
    int rc = env->agent_cert && env->certs ? 0 : -1;
    for (int i = 0; rc == 0 && i < o->agents; i++) {
        env->certs[i] = zcert_new ();
        char name[16];
        snprintf (name, sizeof (name), "a%d", i);
        rc = env->certs[i] ? launcher_add_principal (launcher, name,
                                                     zcert_public_txt (env->certs[i]), "agent")
                           : -1;
    }
    if (rc != 0) {
        fprintf (stderr, TOOL ": cannot make keys in %s\n", env->tmp);
        return -1;
    }
    return 0;
}

//  lh-cache or lh-expert with the nodes' key, waiting until it serves
static pid_t
s_start_node (xenv_t *env, const char *bin, const char *name, const char *service,
              const char *extra)
{
    char cert[PATH_MAX], dir[PATH_MAX], log[PATH_MAX], args[512];
    launcher_cert_path (env->launcher, "node", cert, sizeof (cert));
    snprintf (dir, sizeof (dir), "%s/%s", env->tmp, name);
    snprintf (log, sizeof (log), "%s/%s.log", env->tmp, name);
    snprintf (args, sizeof (args), "%s", extra);
    char *argv[32] = {
        (char *) bin, "--broker", env->backend, "--broker-key", env->broker_key, "--cert", cert,
        "--dir",      dir,        NULL};
    int argc = 9;
    char *save = NULL;
    for (char *arg = strtok_r (args, " ", &save); arg && argc < 31;
         arg = strtok_r (NULL, " ", &save))
        argv[argc++] = arg;
    argv[argc] = NULL;
    pid_t pid = launcher_spawn (env->launcher, name, argv, log, -1, -1);
    if (pid <= 0 || !launcher_wait_workers (env->launcher, service, 1, 10000)) {
        if (!bench_stop) {
            fprintf (stderr, TOOL ": %s did not register as \"%s\"\n", name, service);
            launcher_log_tail (log, 20);
        }
        return -1;
    }
    return pid;
}

//  One call as cert, {op} (an empty map when op is NULL); NULL when interrupted
static lh_reply_t *
s_call (xenv_t *env, zcert_t *cert, const char *service, const char *op, int timeout_ms)
{
    lh_connect_t conn = {.endpoint = env->frontend, .server_key = env->broker_key, .cert = cert};
    lh_client_t *client = lh_client_new (&conn);
    if (!client)
        return NULL;
    lh_client_set_timeout (client, timeout_ms);
    lh_client_set_retries (client, 0);
    codec_buf_t body;
    codec_buf_init (&body);
    msgpack_pack_map (&body.pk, op ? 1 : 0);
    if (op)
        codec_pack_kv_str (&body.pk, "op", op);
    lh_reply_t *reply = lh_client_call (client, service, body.sbuf.data, body.sbuf.size);
    codec_buf_destroy (&body);
    lh_client_destroy (&client);
    return reply;
}

//  The robot's key, made now: the broker reads its roster again on SIGHUP,
//  and the key works once broker.ping answers it
static zcert_t *
s_robot_key (xenv_t *env)
{
    zcert_t *cert = launcher_keygen (env->launcher, ROBOT, "expert");
    if (!cert)
        return NULL;
    fflush (NULL); //  the launcher's roster file, before the broker reads it
    launcher_signal (env->launcher, env->broker, SIGHUP);
    for (int i = 0; i < 50 && !bench_stop; i++) {
        lh_reply_t *reply = s_call (env, cert, "broker.ping", NULL, 1000);
        bool ok = reply && lh_reply_ok (reply);
        lh_reply_destroy (&reply);
        if (ok)
            return cert;
        zclock_sleep (100);
    }
    fprintf (stderr, TOOL ": the broker did not take the key %s after SIGHUP\n", ROBOT);
    return NULL;
}

static int
s_cluster_start (xenv_t *env, const xopts_t *o)
{
    launcher_t *launcher = env->launcher;
    launcher_set_args (launcher, LAUNCHER_BROKER, "--log-level warn");
    //  Held requests outlive the default deadline: the broker keeps a
    //  validate and an expert.submit as long as the agent waits. Agents
    //  (one asks thousands of times a second) and the robot (one decide per
    //  escalation) are not rate limited.
    char config[1024];
    snprintf (config, sizeof (config),
              "    heartbeat = %d\n"
              "    liveness = 3\n"
              "    request_timeout = 5000\n"
              "service\n"
              "    validate\n"
              "        timeout = %d\n"
              "    expert\n"
              "        timeout = %d\n"
              "role\n"
              "    agent\n"
              "        rate = 0\n"
              "    expert\n"
              "        rate = 0\n",
              HEARTBEAT_MS, o->wait_ms + 20000, o->wait_ms + 20000);
    if (launcher_start_broker (launcher, config) != 0)
        return -1;
    env->broker = launcher_broker_pid (launcher);
    snprintf (env->broker_key, sizeof (env->broker_key), "%s", launcher_broker_key (launcher));
    snprintf (env->frontend, sizeof (env->frontend), "%s", launcher_frontend (launcher));
    snprintf (env->backend, sizeof (env->backend), "%s", launcher_backend (launcher));

    char args[256];
    snprintf (args, sizeof (args), "--heartbeat %d", HEARTBEAT_MS);
    env->cache = s_start_node (env, env->cache_bin, "cache", "cache", args);
    if (env->cache <= 0)
        return -1;
    snprintf (env->expert_args, sizeof (env->expert_args),
              "--frontend %s --heartbeat %d --agent-max %d --queue-max %d", env->frontend,
              HEARTBEAT_MS, o->agent_max, o->queue_max);
    env->expert = s_start_node (env, env->expert_bin, "expert", "expert", env->expert_args);
    if (env->expert <= 0)
        return -1;
    snprintf (env->validator_args, sizeof (env->validator_args),
              "--home /home/dev --frontend %s --heartbeat %d --capacity %d --escalations %d "
              "--spool-sync %d",
              env->frontend, HEARTBEAT_MS, o->validator_capacity, o->escalations, o->spool_sync);
    env->validator = launcher_start_validator (launcher, o->policy, env->validator_args, true);
    if (env->validator <= 0)
        return -1;

    zcert_t *robot = s_robot_key (env);
    if (!robot)
        return -1;
    robot_t *r = &env->robot;
    r->worker_conn = (lh_connect_t){.endpoint = env->backend,
                                    .server_key = env->broker_key,
                                    .cert = robot,
                                    .heartbeat_ms = LH_WORKER_HEARTBEAT_MS};
    r->client_conn =
        (lh_connect_t){.endpoint = env->frontend, .server_key = env->broker_key, .cert = robot};
    r->capacity = o->robot_capacity;
    if (pthread_create (&env->robot_thread, NULL, s_robot_run, r) != 0)
        return -1;
    env->robot_started = true;
    if (!launcher_wait_workers (launcher, CAPABILITY, 1, 10000) || r->failed) {
        fprintf (stderr, TOOL ": the automated expert did not register as %s\n", CAPABILITY);
        return -1;
    }
    return 0;
}

static bool
s_cluster_alive (xenv_t *env)
{
    launcher_t *l = env->launcher;
    return launcher_alive (l, env->broker) && launcher_alive (l, env->validator) &&
           launcher_alive (l, env->expert) && launcher_alive (l, env->cache);
}

static void
s_robot_stop (xenv_t *env)
{
    if (!env->robot_started)
        return;
    env->robot.stop = true;
    pthread_join (env->robot_thread, NULL);
    env->robot_started = false;
}

static void
s_env_destroy (xenv_t *env, bool keep)
{
    s_robot_stop (env);
    for (int i = 0; i < env->ncerts && env->certs; i++)
        zcert_destroy (&env->certs[i]);
    free (env->certs);
    env->certs = NULL;
    if (!env->launcher)
        return;
    if (keep || env->failed) {
        s_progress ("kept %s (keys, logs, data)", env->tmp);
        launcher_set_keep (env->launcher, true);
    }
    launcher_destroy (&env->launcher);
}

//  --------------------------------------------------------------------------
//  Phases 1 to 3: one agent, one request in flight

typedef struct {
    check_t check;
    hist_t hist; //  round trips of replies as expected, measured part, ns
} phase_t;

static void
s_phase_init (phase_t *p, const char *name, const char *by)
{
    s_check_init (&p->check, name, by);
    hist_reset (&p->hist);
}

//  Plain validate and the cached verdict, one after the other, warmup
//  pairs and then requests pairs
static void
s_plain_and_cached (lh_client_t *agent, const xopts_t *o, const char *cached, phase_t *plain,
                    phase_t *hit)
{
    codec_buf_t buf;
    codec_buf_init (&buf);
    for (int i = 0; i < o->warmup + o->requests && !bench_stop; i++) {
        bool measured = i >= o->warmup;
        s_call_one (agent, &buf, PLAIN_COMMAND, o->wait_ms, &plain->check,
                    measured ? &plain->hist : NULL);
        s_call_one (agent, &buf, cached, o->wait_ms, &hit->check, measured ? &hit->hist : NULL);
    }
    codec_buf_destroy (&buf);
}

static void
s_escalations (lh_client_t *agent, const xopts_t *o, phase_t *esc)
{
    codec_buf_t buf;
    codec_buf_init (&buf);
    for (int i = 0; i < o->warmup + o->requests && !bench_stop; i++) {
        char command[96];
        s_fresh_command (command, sizeof (command));
        s_call_one (agent, &buf, command, o->wait_ms, &esc->check,
                    i >= o->warmup ? &esc->hist : NULL);
    }
    codec_buf_destroy (&buf);
}

//  --------------------------------------------------------------------------
//  Phase 4: many agents, one escalation in flight each, one thread

typedef struct {
    lh_client_t *client;
    uint64_t id, sent_ns;
    bool inflight;
} tagent_t;

typedef struct {
    host_snap_t host;
    cpu_snap_t broker, validator, expert, cache, self;
} xsnap_t;

typedef struct {
    int agents;
    bool ran;
    double seconds; //  the window
    uint64_t window_ok;
    double rate;     //  escalations answered as expected per second, in the window
    hist_t hist;     //  their round trips, ns
    check_t connect; //  one plain validate per agent before anything is measured
    check_t check;   //  settle + window + drain
    uint64_t late;   //  replies to no pending request
    //  CPU percent over the window (100 = one core), and per escalation in us
    double broker, validator, expert, cache, self, robot, host, other;
    double broker_top, validator_top, expert_top, cache_top;
    char broker_comm[24], validator_comm[24], expert_comm[24], cache_comm[24];
    double us_broker, us_validator, us_expert, us_cache, us_self, us_all;
} through_t;

typedef struct {
    tagent_t *agent;
    int count;
    struct pollfd *fds;
    codec_buf_t buf;
    const xopts_t *o;
    bool plain;   //  the connect round: ls -la, by policy
    bool sending; //  a reply is followed by the next request
    int inflight;
    uint64_t t0, t1; //  the window; replies in [t0, t1) are measured
    check_t *check;
    through_t *t;
} tdriver_t;

static void
s_tsend (tdriver_t *d, tagent_t *a)
{
    char command[96];
    if (d->plain)
        snprintf (command, sizeof (command), "%s", PLAIN_COMMAND);
    else
        s_fresh_command (command, sizeof (command));
    s_pack_validate (&d->buf, command, d->o->wait_ms);
    const char *why = NULL;
    d->check->sent++;
    a->sent_ns = bench_now_ns ();
    if (lh_client_send (a->client, "validate", d->buf.sbuf.data, d->buf.sbuf.size, &a->id, &why) !=
        0) {
        //  Counted; the agent tries again at the next sweep
        d->check->send_failed++;
        d->check->failed++;
        char what[160];
        snprintf (what, sizeof (what), "send refused: %s", why ? why : "?");
        s_sample (d->check, what, NULL);
        return;
    }
    a->inflight = true;
    d->inflight++;
}

//  Reads every reply agent a has (and its local timeouts), sending its
//  next request after each while the run lasts; also after a send, as the
//  ZMQ_FD contract asks
static void
s_tdrain (tdriver_t *d, tagent_t *a)
{
    lh_reply_t *reply;
    while ((reply = lh_client_recv (a->client, 0))) {
        uint64_t now = bench_now_ns ();
        if (!a->inflight || lh_reply_id (reply) != a->id) {
            d->t->late++;
            lh_reply_destroy (&reply);
            continue;
        }
        a->inflight = false;
        d->inflight--;
        if (s_check (d->check, reply) && now >= d->t0 && now < d->t1) {
            d->t->window_ok++;
            hist_record (&d->t->hist, now - a->sent_ns);
        }
        lh_reply_destroy (&reply);
        if (d->sending && now < d->t1)
            s_tsend (d, a);
    }
}

static void
s_xsnap (xsnap_t *s, xenv_t *env)
{
    host_snap (&s->host);
    cpu_snap (&s->broker, env->broker);
    cpu_snap (&s->validator, env->validator);
    cpu_snap (&s->expert, env->expert);
    cpu_snap (&s->cache, env->cache);
    cpu_snap (&s->self, getpid ());
}

static void
s_cpu_figures (through_t *t, xenv_t *env, const xsnap_t *a, const xsnap_t *b)
{
    t->broker = cpu_percent (&a->broker, &b->broker, &t->broker_top, t->broker_comm,
                             sizeof (t->broker_comm));
    t->validator = cpu_percent (&a->validator, &b->validator, &t->validator_top, t->validator_comm,
                                sizeof (t->validator_comm));
    t->expert = cpu_percent (&a->expert, &b->expert, &t->expert_top, t->expert_comm,
                             sizeof (t->expert_comm));
    t->cache =
        cpu_percent (&a->cache, &b->cache, &t->cache_top, t->cache_comm, sizeof (t->cache_comm));
    //  A process that used no CPU has no busiest thread
    char *comms[] = {t->broker_comm, t->validator_comm, t->expert_comm, t->cache_comm};
    for (int i = 0; i < 4; i++)
        if (!comms[i][0])
            snprintf (comms[i], sizeof (t->broker_comm), "-");
    t->self = cpu_percent (&a->self, &b->self, NULL, NULL, 0);
    t->robot = cpu_percent_tid (&a->self, &b->self, env->robot.tid);
    t->host = host_busy_percent (&a->host, &b->host);
    double ours = t->broker + t->validator + t->expert + t->cache + t->self;
    t->other = t->host > ours ? t->host - ours : 0;
    if (t->window_ok) {
        double per = t->seconds / (double) t->window_ok * 1e6 / 100.0;
        t->us_broker = t->broker * per;
        t->us_validator = t->validator * per;
        t->us_expert = t->expert * per;
        t->us_cache = t->cache * per;
        t->us_self = t->self * per;
        t->us_all = ours * per;
    }
}

//  Runs the agents until nothing is in flight and nothing more is to be
//  sent, or until `until`; the CPU of every process over [t0, t1)
static void
s_tpump (tdriver_t *d, xenv_t *env, uint64_t until, xsnap_t *snap)
{
    uint64_t next_sweep = 0;
    bool at_t0 = false, at_t1 = false;
    while (!bench_stop) {
        uint64_t now = bench_now_ns ();
        if (!at_t0 && now >= d->t0) {
            if (snap)
                s_xsnap (&snap[0], env);
            at_t0 = true;
        }
        if (!at_t1 && now >= d->t1) {
            d->sending = false;
            if (snap)
                s_xsnap (&snap[1], env);
            at_t1 = true;
        }
        if ((!d->sending && d->inflight == 0) || now >= until)
            break;
        //  Every agent now and then: the local deadlines are lh_client's,
        //  kept in lh_client_recv; an agent whose send was refused goes on
        if (now >= next_sweep) {
            for (int i = 0; i < d->count; i++) {
                tagent_t *a = &d->agent[i];
                if (!a->inflight && d->sending)
                    s_tsend (d, a);
                s_tdrain (d, a);
            }
            next_sweep = now + SWEEP_NS;
        }
        uint64_t wake = next_sweep < until ? next_sweep : until;
        if (!at_t0 && d->t0 < wake)
            wake = d->t0;
        if (!at_t1 && d->t1 < wake)
            wake = d->t1;
        for (int i = 0; i < d->count; i++)
            d->fds[i] = (struct pollfd){lh_client_fd (d->agent[i].client), POLLIN, 0};
        now = bench_now_ns ();
        int wait_ms = wake > now ? (int) ((wake - now) / 1000000) + 1 : 0;
        int rc = poll (d->fds, (nfds_t) d->count, wait_ms);
        if (rc < 0 && errno != EINTR)
            break;
        for (int i = 0; rc > 0 && i < d->count; i++)
            if (d->fds[i].revents)
                s_tdrain (d, &d->agent[i]);
    }
    if (snap && at_t0 && !at_t1)
        s_xsnap (&snap[1], env);
}

static void
s_throughput (xenv_t *env, const xopts_t *o, through_t *t)
{
    t->agents = o->agents;
    hist_reset (&t->hist);
    s_check_init (&t->connect, "throughput: connect (ls -la)", "policy");
    s_check_init (&t->check, "throughput: escalations", BY_ROBOT);
    tdriver_t d = {.count = o->agents, .o = o, .t = t};
    d.agent = (tagent_t *) calloc ((size_t) o->agents, sizeof (tagent_t));
    d.fds = (struct pollfd *) calloc ((size_t) o->agents, sizeof (struct pollfd));
    codec_buf_init (&d.buf);
    xsnap_t *snap = (xsnap_t *) calloc (2, sizeof (xsnap_t));
    bool opened = d.agent && d.fds && snap;
    for (int i = 0; opened && i < o->agents; i++) {
        lh_connect_t conn = {
            .endpoint = env->frontend, .server_key = env->broker_key, .cert = env->certs[i]};
        d.agent[i].client = lh_client_new (&conn);
        if (!d.agent[i].client) {
            fprintf (stderr, TOOL ": cannot open agent %d: %s\n", i, zmq_strerror (errno));
            opened = false;
            break;
        }
        lh_client_set_timeout (d.agent[i].client, o->wait_ms + GRACE_MS);
        lh_client_set_retries (d.agent[i].client, 0);
    }
    if (opened) {
        //  Each agent once, so that the CURVE handshakes are over (and
        //  every key works) before anything is measured
        d.plain = true;
        d.check = &t->connect;
        d.sending = false;
        d.t0 = d.t1 = bench_now_ns ();
        for (int i = 0; i < d.count; i++)
            s_tsend (&d, &d.agent[i]);
        s_tpump (&d, env, bench_now_ns () + (uint64_t) (o->wait_ms + GRACE_MS) * 1000000ULL, NULL);
        t->connect.lost = (uint64_t) d.inflight;
        t->connect.failed += t->connect.lost;
        opened = t->connect.ok == (uint64_t) d.count;
    }
    if (opened && !bench_stop) {
        d.plain = false;
        d.check = &t->check;
        d.inflight = 0;
        for (int i = 0; i < d.count; i++)
            d.agent[i].inflight = false;
        uint64_t start = bench_now_ns ();
        d.t0 = start + (uint64_t) (o->settle * 1e9);
        d.t1 = d.t0 + (uint64_t) (o->duration * 1e9);
        d.sending = true;
        for (int i = 0; i < d.count; i++) {
            s_tsend (&d, &d.agent[i]);
            s_tdrain (&d, &d.agent[i]);
        }
        //  The drain: every request ends by its deadline at the latest
        uint64_t until = d.t1 + (uint64_t) (o->wait_ms + GRACE_MS + 2000) * 1000000ULL;
        s_tpump (&d, env, until, snap);
        t->check.lost = (uint64_t) d.inflight;
        t->check.failed += t->check.lost;
        t->seconds = (double) (d.t1 - d.t0) / 1e9;
        t->rate = (double) t->window_ok / t->seconds;
        t->ran = !bench_stop;
        s_cpu_figures (t, env, &snap[0], &snap[1]);
    }
    for (int i = 0; d.agent && i < d.count; i++)
        lh_client_destroy (&d.agent[i].client);
    codec_buf_destroy (&d.buf);
    free (snap);
    free (d.fds);
    free (d.agent);
}

//  --------------------------------------------------------------------------
//  Counters of the services, at the end

typedef struct {
    const char *service; //  and the name in the report
    char *json;          //  the counters map as JSON (NULL when not answered)
    char text[2048];     //  its non-zero counters, name=value
} counters_t;

static void
s_counters (xenv_t *env, counters_t *c)
{
    zcert_t *admin = launcher_cert (env->launcher, "admin");
    bool broker = streq (c->service, "broker.stats");
    lh_reply_t *reply = s_call (env, admin, c->service, broker ? NULL : "stats", 5000);
    const msgpack_object *map =
        reply && lh_reply_ok (reply) ? codec_map_get (lh_reply_root (reply), "counters") : NULL;
    if (!map || map->type != MSGPACK_OBJECT_MAP) {
        snprintf (c->text, sizeof (c->text), "(no answer: %s)",
                  reply ? lh_reply_message (reply) : "interrupted");
        lh_reply_destroy (&reply);
        return;
    }
    c->json = jsonpack_to_json (map, false);
    size_t len = 0;
    for (uint32_t i = 0; i < map->via.map.size && len < sizeof (c->text); i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key, *v = &map->via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
            !v->via.u64)
            continue;
        int n = snprintf (c->text + len, sizeof (c->text) - len, "%s%.*s=%llu", len ? " " : "",
                          (int) k->via.str.size, k->via.str.ptr, (unsigned long long) v->via.u64);
        len += n > 0 ? (size_t) n : 0;
    }
    lh_reply_destroy (&reply);
}

//  --------------------------------------------------------------------------
//  Report

typedef struct {
    char when[32];
    char load_before[64];
    double host_before;
    char *command;
} meta_t;

typedef struct {
    double p50, p90, p99, max, mean; //  ms
    uint64_t n;
} lat_t;

static lat_t
s_lat (const hist_t *h)
{
    return (lat_t){.n = h->count,
                   .p50 = (double) hist_percentile (h, 50) / 1e6,
                   .p90 = (double) hist_percentile (h, 90) / 1e6,
                   .p99 = (double) hist_percentile (h, 99) / 1e6,
                   .max = h->count ? (double) h->max / 1e6 : 0,
                   .mean = hist_mean (h) / 1e6};
}

static double
s_ratio (double a, double b)
{
    return b > 0 ? a / b : 0;
}

static void
s_lat_row (FILE *out, const char *name, const hist_t *h, const check_t *c)
{
    lat_t l = s_lat (h);
    fprintf (out, "%-44s %6llu %9.3f %9.3f %9.3f %9.3f %9.3f %7llu\n", name,
             (unsigned long long) l.n, l.p50, l.p90, l.p99, l.max, l.mean,
             (unsigned long long) c->failed);
}

static void
s_check_row (FILE *out, const check_t *c)
{
    fprintf (out, "  %-36s sent %6llu  as expected %6llu  failed %llu", c->name,
             (unsigned long long) c->sent, (unsigned long long) c->ok,
             (unsigned long long) c->failed);
    if (c->failed) {
        fprintf (out,
                 " (error replies %llu, no reply by the deadline %llu, decision not allow "
                 "%llu, by not %s %llu, send refused %llu, unanswered at the end %llu)",
                 (unsigned long long) c->error_replies, (unsigned long long) c->timeouts,
                 (unsigned long long) c->wrong_decision, c->by, (unsigned long long) c->wrong_by,
                 (unsigned long long) c->send_failed, (unsigned long long) c->lost);
        for (int k = 1; k < LOAD_ERR_KINDS && k < LH_E_COUNT; k++)
            if (c->by_code[k])
                fprintf (out, " %s %llu", codec_err_name ((lh_err_t) k),
                         (unsigned long long) c->by_code[k]);
    }
    fprintf (out, "\n");
    for (int i = 0; i < c->samples; i++)
        fprintf (out, "      e.g. %s\n", c->sample[i]);
}

typedef struct {
    check_t setup;
    phase_t plain, hit, esc;
    through_t through;
    counters_t counters[4];
    uint64_t robot_reviews, robot_bad, robot_accepted, robot_reply_failed, robot_decides,
        robot_global, robot_ok, robot_failed;
    char robot_error[256];
    bool cluster_ok, died;
    uint64_t failures;
} results_t;

static void
s_table (FILE *out, const xopts_t *o, const xenv_t *env, const meta_t *m, const results_t *r)
{
    fprintf (out, "\n" TOOL "  %s  %ld cores\n", m->when, sysconf (_SC_NPROCESSORS_ONLN));
    fprintf (out, "command: %s\n", m->command ? m->command : "?");
    if (o->source)
        fprintf (out, "source: %s\n", o->source);
    fprintf (out,
             "host before the run: loadavg %s; %.0f%% CPU busy (100 = one core) over 1 s with "
             "nothing of ours running\n",
             m->load_before, m->host_before);
    fprintf (out,
             "cluster on 127.0.0.1, CURVE: lh-broker (heartbeat %d ms, validate and expert "
             "deadlines %d ms, role/agent/rate=0, role/expert/rate=0), lh-cache, lh-expert %s, "
             "lh-validator %s --policy %s\n",
             HEARTBEAT_MS, o->wait_ms + 20000, env->expert_args, env->validator_args, o->policy);
    fprintf (out,
             "automated expert: in this process, a worker of %s (capacity %d) as key '%s' "
             "(role expert): accepts each review at once, then decide allow (scope once; "
             "global for %s*), decides pipelined\n",
             CAPABILITY, o->robot_capacity, ROBOT, GLOBAL_PREFIX);
    fprintf (out,
             "requests: validate {tool: Bash, input: {command}, cwd: %s, wait_ms: %d}; one-agent "
             "phases: %d measured after %d unmeasured, agent 'agent-1'\n",
             CWD, o->wait_ms, o->requests, o->warmup);
    fprintf (out, "\n%-44s %6s %9s %9s %9s %9s %9s %7s\n", "one agent, one request in flight", "n",
             "p50 ms", "p90 ms", "p99 ms", "max ms", "mean ms", "failed");
    s_lat_row (out, "plain validate: ls -la, by policy", &r->plain.hist, &r->plain.check);
    s_lat_row (out, "cache hit: the cached command, by cache", &r->hit.hist, &r->hit.check);
    s_lat_row (out, "escalation: new command, by " BY_ROBOT, &r->esc.hist, &r->esc.check);
    fprintf (out, "(plain validate and cache hit alternate, request by request; then the "
                  "escalations)\n");
    lat_t plain = s_lat (&r->plain.hist), hit = s_lat (&r->hit.hist), esc = s_lat (&r->esc.hist);
    fprintf (out, "\nescalation round trip / plain validate:  p50 %.1fx  p99 %.1fx  max %.1fx\n",
             s_ratio (esc.p50, plain.p50), s_ratio (esc.p99, plain.p99),
             s_ratio (esc.max, plain.max));
    double hit_p99 = s_ratio (hit.p99, plain.p99);
    fprintf (out,
             "cache hit / plain validate:              p50 %.2fx  p99 %.3fx  (target p99 <= "
             "%.1fx: %s)\n",
             s_ratio (hit.p50, plain.p50), hit_p99, TARGET_CACHE_P99,
             !hit.n || !plain.n            ? "not measured"
             : hit_p99 <= TARGET_CACHE_P99 ? "met"
                                           : "MISSED");

    const through_t *t = &r->through;
    lat_t tl = s_lat (&t->hist);
    fprintf (out,
             "\nthroughput: %d agents (each its own key and lh_client, role agent), one "
             "escalation in flight each, a new command each time\n",
             t->agents);
    if (!t->ran)
        fprintf (out, "  did not run\n");
    else {
        fprintf (out,
                 "  %.1f escalations/s (%llu answered as expected in the %.1f s window, after "
                 "%.1f s unmeasured)\n",
                 t->rate, (unsigned long long) t->window_ok, t->seconds, o->settle);
        fprintf (out, "  round trip ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f  mean %.3f\n",
                 tl.p50, tl.p90, tl.p99, tl.max, tl.mean);
        fprintf (out,
                 "  CPU%% over the window (100 = one core; busiest thread): broker %.0f (%s "
                 "%.0f), validator %.0f (%s %.0f), lh-expert %.0f (%s %.0f), lh-cache %.0f (%s "
                 "%.0f), this process %.0f (robot thread %.0f), host %.0f, other %.0f\n",
                 t->broker, t->broker_comm, t->broker_top, t->validator, t->validator_comm,
                 t->validator_top, t->expert, t->expert_comm, t->expert_top, t->cache,
                 t->cache_comm, t->cache_top, t->self, t->robot, t->host, t->other);
        fprintf (out,
                 "  CPU us per escalation: broker %.0f, validator %.0f, lh-expert %.0f, lh-cache "
                 "%.0f, this process %.0f, all of ours %.0f\n",
                 t->us_broker, t->us_validator, t->us_expert, t->us_cache, t->us_self, t->us_all);
    }
    if (t->late)
        fprintf (out, "  replies to no pending request: %llu\n", (unsigned long long) t->late);

    fprintf (out, "\nchecks (every reply: ok, decision allow, by as expected):\n");
    s_check_row (out, &r->setup);
    s_check_row (out, &r->plain.check);
    s_check_row (out, &r->hit.check);
    s_check_row (out, &r->esc.check);
    s_check_row (out, &t->connect);
    s_check_row (out, &t->check);
    fprintf (out,
             "automated expert: reviews %llu (malformed %llu), accepted %llu (reply failed "
             "%llu), decides sent %llu (global %llu), allowed %llu, failed %llu%s%s\n",
             (unsigned long long) r->robot_reviews, (unsigned long long) r->robot_bad,
             (unsigned long long) r->robot_accepted, (unsigned long long) r->robot_reply_failed,
             (unsigned long long) r->robot_decides, (unsigned long long) r->robot_global,
             (unsigned long long) r->robot_ok, (unsigned long long) r->robot_failed,
             r->robot_error[0] ? ": first " : "", r->robot_error);
    fprintf (out, "\nservice counters at the end (non-zero):\n");
    for (int i = 0; i < 4; i++)
        fprintf (out, "  %-13s %s\n", r->counters[i].service, r->counters[i].text);
    if (r->died)
        fprintf (out, "\na process of the cluster died during the run (logs kept in %s)\n",
                 env->tmp);
    fprintf (out, "\nresult: %llu failure%s%s\n", (unsigned long long) r->failures,
             r->failures == 1 ? "" : "s", r->failures || !r->cluster_ok ? ": exit status 1" : "");
}

static void
s_json_lat (FILE *out, const hist_t *h)
{
    lat_t l = s_lat (h);
    fprintf (out,
             "\"n\": %llu, \"p50_ms\": %.4f, \"p90_ms\": %.4f, \"p99_ms\": %.4f, \"max_ms\": "
             "%.4f, \"mean_ms\": %.4f",
             (unsigned long long) l.n, l.p50, l.p90, l.p99, l.max, l.mean);
}

static void
s_json_check (FILE *out, const check_t *c)
{
    fprintf (out,
             "{\"sent\": %llu, \"ok\": %llu, \"failed\": %llu, \"error_replies\": %llu, "
             "\"timeouts\": %llu, \"wrong_decision\": %llu, \"wrong_by\": %llu, "
             "\"send_failed\": %llu, \"lost\": %llu, \"expected_by\": ",
             (unsigned long long) c->sent, (unsigned long long) c->ok,
             (unsigned long long) c->failed, (unsigned long long) c->error_replies,
             (unsigned long long) c->timeouts, (unsigned long long) c->wrong_decision,
             (unsigned long long) c->wrong_by, (unsigned long long) c->send_failed,
             (unsigned long long) c->lost);
    bench_json_string (out, c->by);
    fprintf (out, ", \"samples\": [");
    for (int i = 0; i < c->samples; i++) {
        fprintf (out, "%s", i ? ", " : "");
        bench_json_string (out, c->sample[i]);
    }
    fprintf (out, "]}");
}

static void
s_json_phase (FILE *out, const char *key, const phase_t *p, bool last)
{
    fprintf (out, "    \"%s\": {", key);
    s_json_lat (out, &p->hist);
    fprintf (out, ", \"checks\": ");
    s_json_check (out, &p->check);
    fprintf (out, "}%s\n", last ? "" : ",");
}

static void
s_json (FILE *out, const xopts_t *o, const xenv_t *env, const meta_t *m, const results_t *r)
{
    lat_t plain = s_lat (&r->plain.hist), hit = s_lat (&r->hit.hist), esc = s_lat (&r->esc.hist);
    const through_t *t = &r->through;
    fprintf (out, "{\n  \"tool\": \"" TOOL "\",\n  \"when\": ");
    bench_json_string (out, m->when);
    fprintf (out, ",\n  \"command\": ");
    bench_json_string (out, m->command ? m->command : "");
    fprintf (out, ",\n  \"source\": ");
    bench_json_string (out, o->source ? o->source : "");
    fprintf (out, ",\n  \"cores\": %ld,\n  \"loadavg_before\": ", sysconf (_SC_NPROCESSORS_ONLN));
    bench_json_string (out, m->load_before);
    fprintf (out, ",\n  \"host_busy_before_pct\": %.1f,\n", m->host_before);
    fprintf (out,
             "  \"settings\": {\"requests\": %d, \"warmup\": %d, \"wait_ms\": %d, \"agents\": "
             "%d, \"agent_keys\": \"one per agent\", \"duration_s\": %.3f, \"settle_s\": %.3f, "
             "\"heartbeat_ms\": %d, \"robot_capacity\": %d, \"policy\": ",
             o->requests, o->warmup, o->wait_ms, o->agents, o->duration, o->settle, HEARTBEAT_MS,
             o->robot_capacity);
    bench_json_string (out, o->policy);
    fprintf (out, ", \"validator_args\": ");
    bench_json_string (out, env->validator_args);
    fprintf (out, ", \"expert_args\": ");
    bench_json_string (out, env->expert_args);
    fprintf (out, "},\n  \"phases\": {\n    \"setup_global_verdict\": {\"checks\": ");
    s_json_check (out, &r->setup);
    fprintf (out, "},\n");
    s_json_phase (out, "plain_validate", &r->plain, false);
    s_json_phase (out, "cache_hit", &r->hit, false);
    s_json_phase (out, "escalation", &r->esc, false);
    fprintf (out,
             "    \"throughput\": {\"ran\": %s, \"agents\": %d, \"window_s\": %.3f, "
             "\"escalations_per_s\": %.2f, \"window_ok\": %llu, ",
             t->ran ? "true" : "false", t->agents, t->seconds, t->rate,
             (unsigned long long) t->window_ok);
    s_json_lat (out, &t->hist);
    fprintf (out, ", \"late\": %llu, \"connect_checks\": ", (unsigned long long) t->late);
    s_json_check (out, &t->connect);
    fprintf (out, ", \"checks\": ");
    s_json_check (out, &t->check);
    fprintf (out,
             ", \"cpu_pct\": {\"broker\": %.1f, \"validator\": %.1f, \"expert\": %.1f, "
             "\"cache\": %.1f, \"bench\": %.1f, \"robot\": %.1f, \"host\": %.1f, \"other\": "
             "%.1f}, \"cpu_us_per_escalation\": {\"broker\": %.1f, \"validator\": %.1f, "
             "\"expert\": %.1f, \"cache\": %.1f, \"bench\": %.1f, \"all\": %.1f}}\n  },\n",
             t->broker, t->validator, t->expert, t->cache, t->self, t->robot, t->host, t->other,
             t->us_broker, t->us_validator, t->us_expert, t->us_cache, t->us_self, t->us_all);
    fprintf (out,
             "  \"ratios\": {\"escalation_p50\": %.3f, \"escalation_p99\": %.3f, "
             "\"cache_hit_p50\": %.3f, \"cache_hit_p99\": %.3f, \"cache_hit_p99_target\": %.2f, "
             "\"cache_hit_p99_met\": %s},\n",
             s_ratio (esc.p50, plain.p50), s_ratio (esc.p99, plain.p99),
             s_ratio (hit.p50, plain.p50), s_ratio (hit.p99, plain.p99), TARGET_CACHE_P99,
             hit.n && plain.n && s_ratio (hit.p99, plain.p99) <= TARGET_CACHE_P99 ? "true"
                                                                                  : "false");
    fprintf (out,
             "  \"robot\": {\"reviews\": %llu, \"malformed\": %llu, \"accepted\": %llu, "
             "\"decides\": %llu, \"global\": %llu, \"allowed\": %llu, \"failed\": %llu},\n",
             (unsigned long long) r->robot_reviews, (unsigned long long) r->robot_bad,
             (unsigned long long) r->robot_accepted, (unsigned long long) r->robot_decides,
             (unsigned long long) r->robot_global, (unsigned long long) r->robot_ok,
             (unsigned long long) r->robot_failed);
    fprintf (out, "  \"counters\": {");
    for (int i = 0; i < 4; i++) {
        fprintf (out, "%s\"%s\": %s", i ? ", " : "", r->counters[i].service,
                 r->counters[i].json ? r->counters[i].json : "null");
    }
    fprintf (out, "},\n  \"failures\": %llu,\n  \"ok\": %s\n}\n", (unsigned long long) r->failures,
             !r->failures && r->cluster_ok ? "true" : "false");
}

//  --------------------------------------------------------------------------

static int s_main (const xopts_t *o, int argc, char **argv);

int
main (int argc, char **argv)
{
    xopts_t o;
    zconfig_t *config = NULL;
    int rc = s_parse (&o, argc, argv, &config);
    if (rc < 0)
        rc = s_main (&o, argc, argv);
    zconfig_destroy (&config);
    return rc;
}

static int
s_main (const xopts_t *o, int argc, char **argv)
{
    proc_start ();
    if (sodium_init () < 0 || !zmq_has ("curve")) {
        fprintf (stderr, TOOL ": libsodium or libzmq's CURVE is not usable\n");
        return 1;
    }
    meta_t meta;
    memset (&meta, 0, sizeof (meta));
    meta.command = proc_command_line (argc, argv);
    time_t now = time (NULL);
    strftime (meta.when, sizeof (meta.when), "%Y-%m-%d %H:%M:%S", localtime (&now));
    //  What else the machine is doing, before we add anything
    proc_loadavg (meta.load_before, sizeof (meta.load_before));
    meta.host_before = host_busy_over (1000);

    xenv_t *env = (xenv_t *) calloc (1, sizeof (xenv_t));
    results_t *r = (results_t *) calloc (1, sizeof (results_t));
    s_check_init (&r->setup, "global verdict (the cached command)", BY_ROBOT);
    s_phase_init (&r->plain, "plain validate", "policy");
    s_phase_init (&r->hit, "cache hit", "cache");
    s_phase_init (&r->esc, "escalation round trip", BY_ROBOT);
    hist_reset (&r->through.hist);
    s_check_init (&r->through.connect, "throughput: connect (ls -la)", "policy");
    s_check_init (&r->through.check, "throughput: escalations", BY_ROBOT);
    const char *services[4] = {"validate", "expert", "cache", "broker.stats"};
    for (int i = 0; i < 4; i++)
        r->counters[i].service = services[i];

    if (s_env_init (env, o) != 0) {
        env->failed = true;
        s_env_destroy (env, o->keep);
        free (env);
        free (r);
        free (meta.command);
        return 1;
    }
    s_progress ("starting lh-broker, lh-cache, lh-expert, lh-validator and the automated expert "
                "in %s",
                env->tmp);
    r->cluster_ok = s_cluster_start (env, o) == 0;
    lh_client_t *agent = NULL;
    if (r->cluster_ok) {
        lh_connect_t conn = {
            .endpoint = env->frontend, .server_key = env->broker_key, .cert = env->agent_cert};
        agent = lh_client_new (&conn);
        r->cluster_ok = agent != NULL;
    }
    if (r->cluster_ok && !bench_stop) {
        lh_client_set_timeout (agent, o->wait_ms + GRACE_MS);
        lh_client_set_retries (agent, 0);
        //  1. The cached command: decided once with scope global
        char cached[96];
        snprintf (cached, sizeof (cached), "%s%08x", GLOBAL_PREFIX, randombytes_random ());
        codec_buf_t buf;
        codec_buf_init (&buf);
        s_progress ("a verdict with scope global for '%s'", cached);
        s_call_one (agent, &buf, cached, o->wait_ms, &r->setup, NULL);
        codec_buf_destroy (&buf);
        //  2. Plain validate and cache hits, alternately
        s_progress ("plain validate (ls -la) and cache hits, alternately, one in flight: %d "
                    "each after %d unmeasured",
                    o->requests, o->warmup);
        if (!bench_stop)
            s_plain_and_cached (agent, o, cached, &r->plain, &r->hit);
        lat_t plain = s_lat (&r->plain.hist), hit = s_lat (&r->hit.hist);
        s_progress ("  plain p50 %.3f p99 %.3f ms; cache hit p50 %.3f p99 %.3f ms; failed %llu "
                    "+ %llu",
                    plain.p50, plain.p99, hit.p50, hit.p99,
                    (unsigned long long) r->plain.check.failed,
                    (unsigned long long) r->hit.check.failed);
        //  3. Escalations, one at a time
        s_progress ("escalations, one in flight, a new command each: %d after %d unmeasured",
                    o->requests, o->warmup);
        if (!bench_stop)
            s_escalations (agent, o, &r->esc);
        lat_t esc = s_lat (&r->esc.hist);
        s_progress ("  p50 %.3f p99 %.3f ms; failed %llu", esc.p50, esc.p99,
                    (unsigned long long) r->esc.check.failed);
        //  4. Many agents
        s_progress ("%d agents, one escalation in flight each: %.1f s (+%.1f s unmeasured)",
                    o->agents, o->duration, o->settle);
        if (!bench_stop)
            s_throughput (env, o, &r->through);
        if (r->through.ran)
            s_progress ("  %.1f escalations/s, p50 %.3f p99 %.3f ms; failed %llu", r->through.rate,
                        (double) hist_percentile (&r->through.hist, 50) / 1e6,
                        (double) hist_percentile (&r->through.hist, 99) / 1e6,
                        (unsigned long long) r->through.check.failed);
        r->died = !s_cluster_alive (env);
        if (!r->died && !bench_stop)
            for (int i = 0; i < 4; i++)
                s_counters (env, &r->counters[i]);
    } else if (!bench_stop)
        fprintf (stderr, TOOL ": the cluster did not come up (logs kept in %s)\n", env->tmp);
    lh_client_destroy (&agent);
    s_robot_stop (env);
    robot_t *robot = &env->robot;
    r->robot_reviews = robot->reviews;
    r->robot_bad = robot->bad_reviews;
    r->robot_accepted = robot->accepted;
    r->robot_reply_failed = robot->reply_failed;
    r->robot_decides = robot->decides;
    r->robot_global = robot->decides_global;
    r->robot_ok = robot->decides_ok;
    r->robot_failed = robot->decides_failed;
    snprintf (r->robot_error, sizeof (r->robot_error), "%s", robot->error);

    check_t all;
    s_check_init (&all, "all", "");
    s_check_merge (&all, &r->setup);
    s_check_merge (&all, &r->plain.check);
    s_check_merge (&all, &r->hit.check);
    s_check_merge (&all, &r->esc.check);
    s_check_merge (&all, &r->through.connect);
    s_check_merge (&all, &r->through.check);
    r->failures = all.failed + r->robot_bad + r->robot_reply_failed + r->robot_failed;
    bool bad = r->failures > 0 || !r->cluster_ok || r->died || !r->through.ran;
    if (r->cluster_ok || r->failures)
        s_table (stdout, o, env, &meta, r);
    if (o->json) {
        FILE *file = fopen (o->json, "w");
        if (file) {
            s_json (file, o, env, &meta, r);
            fclose (file);
        } else
            fprintf (stderr, TOOL ": cannot write %s\n", o->json);
    }
    env->failed = bad && !bench_stop;
    launcher_stop_all (env->launcher, 2000);
    s_env_destroy (env, o->keep);
    for (int i = 0; i < 4; i++)
        free (r->counters[i].json);
    free (env);
    free (r);
    free (meta.command);
    if (bench_stop)
        return 130;
    return bad ? 1 : 0;
}
