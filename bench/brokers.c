/*  brokers -- lh-brokers-bench: what several brokers cost and what they buy
    (issue 13; bench/run-brokers, bench/README.md).

    1. Throughput and latency with the same machine: (a) one lh-broker
       with 2 ZeroMQ I/O threads against (b) two lh-brokers with 1 I/O
       thread each, each configuration a fresh CURVE cluster on 127.0.0.1
       (broker(s), one lh-validator with the default policy, three
       lh-integrity replicas), measured in the same run, one after the
       other (--rounds N interleaves them N times). Validate: CLIENTS x
       DEPTH closed loop over the request mix of bench/validate-mix.tsv
       (warm cache); append: APPEND_CLIENTS x APPEND_DEPTH, one new event
       per append, replicated by the three replicas.
    2. The stall an agent sees when one of two brokers dies or hangs: a
       paced validate stream (RATE/s from STREAM_CLIENTS clients, each
       holding both brokers) through configuration (b); first BASELINE
       seconds without faults, then KILLS times a broker drawn at random is
       SIGKILLed and restarted HOLD seconds later, then PAUSES times one is
       SIGSTOPped for HOLD seconds. Per fault: the longest round trip of
       any request in flight during the fault (stall), and the failovers.

    Clients are lh_client_t (the SDK, which spreads requests over the
    brokers and fails over), each with its own key (role agent), all driven
    by one thread of this process over their lh_client_fd descriptors; no
    resends (retries 0): a request unanswered by its deadline is a failure.
    Every reply is checked. Any failure: exit status 1.
*/
#include "bench.h"
#include "drive.h"

#include "codec.h"
#include "jsonpack.h"
#include "launcher.h"
#include "lh_client.h"
#include "lh_config.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <time.h>
#include <unistd.h>

#ifndef LH_BENCH_BROKER
#define LH_BENCH_BROKER ""
#endif
#ifndef LH_BENCH_VALIDATOR
#define LH_BENCH_VALIDATOR ""
#endif
#ifndef LH_BENCH_INTEGRITY
#define LH_BENCH_INTEGRITY ""
#endif
#ifndef LH_BENCH_POLICY
#define LH_BENCH_POLICY ""
#endif
#ifndef LH_BENCH_MIX
#define LH_BENCH_MIX ""
#endif

#define TOOL        "lh-brokers-bench"
#define MAX_CLIENTS 1000
#define MAX_ROUNDS  10
#define MAX_FAULTS  200
#define REPLICAS    3
#define CONFIGS     2   //  (a) one broker, (b) two
#define DATA_BYTES  190 //  the payload of an appended event (as lh-events-bench)

typedef struct {
    double duration, warmup, drain;
    int rounds, clients, depth, append_clients, append_depth, validator_inflight;
    bool do_throughput, do_faults;
    int stream_clients, kills, pauses, timeout_ms, port_base;
    double rate, baseline, hold, settle;
    uint64_t seed;
    const char *policy, *mix, *dir, *source, *json_out, *only;
    const char *broker_bin, *validator_bin, *integrity_bin;
    bool json, keep;
} bopts_t;

#define s_progress(...) bench_progress (TOOL, __VA_ARGS__)

//  The two configurations: brokers, ZeroMQ I/O threads in each
static const int s_brokers[CONFIGS] = {1, 2};
static const int s_io_threads[CONFIGS] = {2, 1};
static const char *s_config_name[CONFIGS] = {"one broker, 2 I/O threads",
                                             "two brokers, 1 I/O thread each"};

//  --------------------------------------------------------------------------
//  Options

static const char *s_summary =
    "Several brokers (issue 13): one lh-broker with 2 ZeroMQ I/O threads against two\n"
    "lh-brokers with 1 each, the same machine, CURVE, each with one lh-validator\n"
    "(default policy) and three lh-integrity replicas on 127.0.0.1: validate and\n"
    "append throughput and latency, closed loop. Then, through the two brokers, a\n"
    "paced validate stream while a broker is killed (and restarted) or paused, again\n"
    "and again: the longest round trip of a request in flight during each fault.\n"
    "Clients hold every broker (lh_client with the endpoint list), no resends.\n"
    "Ports: P .. P+5 (brokers), P+10 .. P+12 (Raft).\n"
    "\n"
    "Exit status: 0 when every request was answered ok, 1 when one was not or a\n"
    "cluster could not run, 2 on usage errors, 130 when interrupted.";

static const lh_option_t s_options[] = {
    {"duration", "brokers/duration", "5", "measured seconds per throughput window", false},
    {"warmup", "brokers/warmup", "1", "unmeasured seconds before each window", false},
    {"drain", "brokers/drain", "3", "most seconds to wait for replies after a window", false},
    {"rounds", "brokers/rounds", "2",
     "throughput: both configurations this many times, interleaved", false},
    {"clients", "brokers/clients", "100", "validate throughput: clients", false},
    {"depth", "brokers/depth", "16", "validate throughput: requests in flight per client", false},
    {"append-clients", "brokers/append_clients", "100", "append throughput: clients", false},
    {"append-depth", "brokers/append_depth", "1", "append throughput: appends in flight per client",
     false},
    {"validator-inflight", "brokers/validator_inflight", "256",
     "requests the validator holds, over all brokers (--capacity = this / brokers)", false},
    {"only", "brokers/only", "throughput,faults", "comma list of throughput, faults", false},
    {"stream-clients", "brokers/stream_clients", "4", "faults: clients of the paced stream", false},
    {"rate", "brokers/rate", "200", "faults: validate requests per second, all clients", false},
    {"baseline", "brokers/baseline", "20", "faults: seconds of the stream before any fault", false},
    {"kills", "brokers/kills", "20", "faults: SIGKILLs (each followed by a restart)", false},
    {"pauses", "brokers/pauses", "10", "faults: SIGSTOPs (each followed by SIGCONT)", false},
    {"hold", "brokers/hold", "3", "faults: seconds a broker stays dead or stopped", false},
    {"settle", "brokers/settle", "1", "faults: seconds after the clients use it again", false},
    {"timeout", "brokers/timeout", "10000", "client deadline per request, ms; no resends", false},
    {"seed", "brokers/seed", "1", "which broker each fault hits (xorshift)", false},
    {"policy", "brokers/policy", NULL, "the validator's policy [nodes/validator/default.policy]",
     false},
    {"mix", "brokers/mix", NULL, "the validate request mix [bench/validate-mix.tsv]", false},
    {"dir", "brokers/dir", NULL, "where the temporary directories go [$TMPDIR or /tmp]", false},
    {"port-base", "brokers/port_base", "17400", "first port (see below)", false},
    {"broker-bin", "brokers/broker_bin", NULL, "lh-broker [next to " TOOL "]", false},
    {"validator-bin", "brokers/validator_bin", NULL, "lh-validator [likewise]", false},
    {"integrity-bin", "brokers/integrity_bin", NULL, "lh-integrity [likewise]", false},
    {"source", "brokers/source", NULL, "what was built (bench/run-brokers passes the commit)",
     false},
    {"json", "brokers/json", NULL, "JSON on stdout (the table goes to stderr)", true},
    {"json-out", "brokers/json_out", NULL, "also write the results as JSON to FILE", false},
    {"keep", "brokers/keep", NULL, "keep the temporary directories (keys, logs, data)", true},
    {NULL, NULL, NULL, NULL, false},
};

//  -1 to run, else the exit status
static int
s_parse (bopts_t *o, int argc, char **argv, zconfig_t **config_p)
{
    int exit_code = 0;
    zconfig_t *config = lh_config_load (TOOL, s_summary, s_options, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    *config_p = config;
#define S(name) lh_config_str (config, "brokers/" name, NULL)
#define I(name) (int) lh_config_int (config, "brokers/" name, -1)
#define D(name) atof (lh_config_str (config, "brokers/" name, "-1"))
    *o = (bopts_t){.duration = D ("duration"),
                   .warmup = D ("warmup"),
                   .drain = D ("drain"),
                   .rounds = I ("rounds"),
                   .clients = I ("clients"),
                   .depth = I ("depth"),
                   .append_clients = I ("append_clients"),
                   .append_depth = I ("append_depth"),
                   .validator_inflight = I ("validator_inflight"),
                   .only = S ("only"),
                   .stream_clients = I ("stream_clients"),
                   .rate = D ("rate"),
                   .baseline = D ("baseline"),
                   .kills = I ("kills"),
                   .pauses = I ("pauses"),
                   .hold = D ("hold"),
                   .settle = D ("settle"),
                   .timeout_ms = I ("timeout"),
                   .seed = (uint64_t) lh_config_int (config, "brokers/seed", 1),
                   .policy = S ("policy"),
                   .mix = S ("mix"),
                   .dir = S ("dir"),
                   .port_base = I ("port_base"),
                   .broker_bin = S ("broker_bin"),
                   .validator_bin = S ("validator_bin"),
                   .integrity_bin = S ("integrity_bin"),
                   .source = S ("source"),
                   .json = lh_config_bool (config, "brokers/json", false),
                   .json_out = S ("json_out"),
                   .keep = lh_config_bool (config, "brokers/keep", false)};
#undef S
#undef I
#undef D
    if (!o->policy)
        o->policy = LH_BENCH_POLICY;
    if (!o->mix)
        o->mix = LH_BENCH_MIX;
    o->do_throughput = proc_listed (o->only, "throughput");
    o->do_faults = proc_listed (o->only, "faults");
    if (o->duration <= 0 || o->warmup < 0 || o->drain < 0 || o->rounds < 1 ||
        o->rounds > MAX_ROUNDS || o->clients < 1 || o->clients > MAX_CLIENTS || o->depth < 1 ||
        o->depth > DRIVE_RING / 2 || o->append_clients < 1 || o->append_clients > MAX_CLIENTS ||
        o->append_depth < 1 || o->append_depth > DRIVE_RING / 2 || o->validator_inflight < 2 ||
        o->validator_inflight > 2 * LH_MAX_CAPACITY || o->stream_clients < 1 ||
        o->stream_clients > MAX_CLIENTS || o->rate <= 0 || o->rate > 100000 || o->baseline < 1 ||
        o->kills < 0 || o->pauses < 0 || o->kills + o->pauses > MAX_FAULTS || o->hold <= 0 ||
        o->settle < 0 || o->timeout_ms < 1000 || o->port_base < 1024 || o->port_base > 65000 ||
        (!o->do_throughput && !o->do_faults) || o->seed == 0) {
        fprintf (stderr, TOOL ": an option is out of range (try --help)\n");
        return 2;
    }
    return -1;
}

//  --------------------------------------------------------------------------
//  Checking replies

//  --------------------------------------------------------------------------
//  Environment and clusters

typedef struct {
    char broker_bin[PATH_MAX], validator_bin[PATH_MAX], integrity_bin[PATH_MAX];
    char base[PATH_MAX]; //  where the temporary directories go
    zcert_t **certs;     //  one per client, in memory; every cluster's roster has them
    int ncerts;
    mix_t mix;
    msgpack_sbuffer data; //  an appended event's data: {payload: DATA_BYTES characters}
    uint32_t nonce;
} benv_t;

typedef struct {
    int config;
    launcher_t *launcher;
    char tmp[PATH_MAX];
    int brokers;
    pid_t broker[LAUNCHER_MAX_BROKERS], validator, replica[REPLICAS];
    char broker_args[256], validator_args[256];
    bool failed;
} bcluster_t;

static int
s_env_init (benv_t *env, const bopts_t *o)
{
    char self[PATH_MAX];
    if (proc_self_dir (self, sizeof (self)) != 0 ||
        !proc_find_bin_named (env->broker_bin, PATH_MAX, o->broker_bin, self, "../broker/lh-broker",
                              LH_BENCH_BROKER, TOOL, "lh-broker", "--broker-bin") ||
        !proc_find_bin_named (env->validator_bin, PATH_MAX, o->validator_bin, self,
                              "../nodes/validator/lh-validator", LH_BENCH_VALIDATOR, TOOL,
                              "lh-validator", "--validator-bin") ||
        !proc_find_bin_named (env->integrity_bin, PATH_MAX, o->integrity_bin, self,
                              "../nodes/integrity/lh-integrity", LH_BENCH_INTEGRITY, TOOL,
                              "lh-integrity", "--integrity-bin"))
        return -1;
    if (access (o->policy, R_OK) != 0) {
        fprintf (stderr, TOOL ": cannot read the policy %s; use --policy\n", o->policy);
        return -1;
    }
    char err[256];
    if (mix_load (&env->mix, o->mix, err, sizeof (err)) != 0) {
        fprintf (stderr, TOOL ": %s\n", err);
        return -1;
    }
    const char *base = o->dir ? o->dir : getenv ("TMPDIR");
    snprintf (env->base, sizeof (env->base), "%s", base && *base ? base : "/tmp");
    if (strlen (env->base) > 200) {
        fprintf (stderr, TOOL ": %s: path too long for the temporary directory\n", env->base);
        return -1;
    }
    int most = o->clients;
    most = o->append_clients > most ? o->append_clients : most;
    most = o->stream_clients > most ? o->stream_clients : most;
    env->ncerts = most;
    env->certs = (zcert_t **) calloc ((size_t) most, sizeof (zcert_t *));
    for (int i = 0; env->certs && i < most; i++)
        if (!(env->certs[i] = zcert_new ()))
            return -1;
    env->nonce = randombytes_random ();
    msgpack_sbuffer_init (&env->data);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &env->data, msgpack_sbuffer_write);
    char payload[DATA_BYTES + 1];
    for (int i = 0; i < DATA_BYTES; i++)
        payload[i] = (char) ('a' + i % 26);
    payload[DATA_BYTES] = 0;
    msgpack_pack_map (&pk, 1);
    codec_pack_kv_str (&pk, "payload", payload);
    return env->certs ? 0 : -1;
}

static void
s_env_destroy (benv_t *env)
{
    for (int i = 0; env->certs && i < env->ncerts; i++)
        zcert_destroy (&env->certs[i]);
    free (env->certs);
    env->certs = NULL;
    mix_destroy (&env->mix);
    msgpack_sbuffer_destroy (&env->data);
}

static bool
s_cluster_alive (bcluster_t *c)
{
    bool alive = launcher_alive (c->launcher, c->validator);
    for (int k = 0; k < c->brokers; k++)
        alive &= launcher_alive (c->launcher, launcher_broker_pid_at (c->launcher, k));
    for (int i = 0; i < REPLICAS; i++)
        alive &= launcher_alive (c->launcher, launcher_replica_pid (c->launcher, i + 1));
    return alive;
}

static void
s_cluster_destroy (bcluster_t *c, bool keep)
{
    if (!c->launcher)
        return;
    launcher_stop_kind (c->launcher, LAUNCHER_VALIDATOR, 2000);
    launcher_stop_kind (c->launcher, LAUNCHER_INTEGRITY, 5000);
    launcher_stop_all (c->launcher, 2000);
    if (keep || c->failed) {
        s_progress ("kept %s (keys, logs, data)", c->tmp);
        launcher_set_keep (c->launcher, true);
    }
    launcher_destroy (&c->launcher);
}

//  One request through the list as the launcher's admin (or an agent),
//  until it is answered ok or timeout_ms passes
static bool
s_ready (bcluster_t *c, zcert_t *cert, const char *service, const void *body, size_t size,
         int timeout_ms)
{
    lh_connect_t conn = {.endpoint = launcher_frontends (c->launcher),
                         .server_key = launcher_broker_key (c->launcher),
                         .cert = cert};
    lh_client_t *client = lh_client_new (&conn);
    if (!client)
        return false;
    lh_client_set_timeout (client, 2000);
    lh_client_set_retries (client, 0);
    bool ok = false;
    int64_t until = zclock_mono () + timeout_ms;
    while (!ok && !bench_stop && zclock_mono () < until) {
        lh_reply_t *reply = lh_client_call (client, service, body, size);
        ok = reply && lh_reply_ok (reply);
        lh_reply_destroy (&reply);
        if (!ok)
            zclock_sleep (200);
    }
    lh_client_destroy (&client);
    return ok;
}

//  Brokers, three replicas and the validator of configuration `config`,
//  every worker listed by every broker, an append and a validate answered
static int
s_cluster_start (bcluster_t *c, benv_t *env, const bopts_t *o, int config)
{
    memset (c, 0, sizeof (*c));
    c->config = config;
    c->brokers = s_brokers[config];
    char template[PATH_MAX];
    snprintf (template, sizeof (template), "%s/lh-bench-brokers.XXXXXX", env->base);
    c->launcher = launcher_new (template);
    if (!c->launcher)
        return -1;
    launcher_t *l = c->launcher;
    snprintf (c->tmp, sizeof (c->tmp), "%s", launcher_dir (l));
    launcher_set_bin (l, LAUNCHER_BROKER, env->broker_bin);
    launcher_set_bin (l, LAUNCHER_VALIDATOR, env->validator_bin);
    launcher_set_bin (l, LAUNCHER_INTEGRITY, env->integrity_bin);
    launcher_set_port_base (l, o->port_base);
    launcher_set_timeout (l, 15000);
    int rc = 0;
    for (int i = 0; rc == 0 && i < env->ncerts; i++) {
        char name[16];
        snprintf (name, sizeof (name), "a%d", i);
        rc = launcher_add_principal (l, name, zcert_public_txt (env->certs[i]), "agent");
    }
    if (rc != 0) {
        fprintf (stderr, TOOL ": cannot write the roster in %s\n", c->tmp);
        c->failed = true;
        return -1;
    }
    //  Agents are not rate limited (one bench client asks thousands of
    //  times a second); each broker's queue holds every request in flight
    int most = o->clients * o->depth;
    most = o->append_clients * o->append_depth > most ? o->append_clients * o->append_depth : most;
    snprintf (c->broker_args, sizeof (c->broker_args),
              "--io-threads %d --queue-max %d --log-level warn --set role/agent/rate=0",
              s_io_threads[config], most + 1000);
    launcher_set_args (l, LAUNCHER_BROKER, c->broker_args);
    //  The monitor's periodic full re-verification would compete (as in lh-events-bench)
    launcher_set_args (l, LAUNCHER_INTEGRITY, "--monitor-ms 0 --log-level warn");
    //  The same requests held by the validator in both configurations: a
    //  worker takes up to capacity through each broker
    snprintf (c->validator_args, sizeof (c->validator_args), "--capacity %d --home %s",
              o->validator_inflight / c->brokers, MIX_HOME);
    launcher_set_args (l, LAUNCHER_VALIDATOR, "--log-level warn");
    //  Services declared, as every deployment does (ops/run, ops/cluster): a
    //  restarted broker then queues requests until the workers are back,
    //  rather than answer unknown_service to a client that found it up first
    if (launcher_start_broker (l, "service\n    validate\n    events\n    events.read\n") != 0)
        goto failed;
    for (int k = 1; k < c->brokers; k++)
        if (launcher_add_broker (l) != k)
            goto failed;
    if (launcher_start_integrity (l, REPLICAS, NULL) != 0)
        goto failed;
    c->validator = launcher_start_validator (l, o->policy, c->validator_args, false);
    if (c->validator <= 0)
        goto failed;
    for (int k = 0; k < c->brokers; k++) {
        c->broker[k] = launcher_broker_pid_at (l, k);
        if (!launcher_wait_workers_at (l, k, "validate", 1, 15000) ||
            !launcher_wait_workers_at (l, k, "events.read", REPLICAS, 15000)) {
            fprintf (stderr, TOOL ": broker %d does not list the validator and %d replicas\n", k,
                     REPLICAS);
            goto failed;
        }
    }
    for (int i = 0; i < REPLICAS; i++)
        c->replica[i] = launcher_replica_pid (l, i + 1);
    //  Until the leader takes appends: a status read, then one append
    codec_buf_t buf;
    codec_buf_init (&buf);
    msgpack_pack_map (&buf.pk, 2);
    codec_pack_kv_str (&buf.pk, "op", "append");
    codec_pack_str (&buf.pk, "events");
    msgpack_pack_array (&buf.pk, 1);
    msgpack_pack_map (&buf.pk, 3);
    codec_pack_kv_str (&buf.pk, "type", "custom");
    char client_id[64];
    snprintf (client_id, sizeof (client_id), "b%08x-ready-%d", env->nonce, config);
    codec_pack_kv_str (&buf.pk, "client_id", client_id);
    codec_pack_str (&buf.pk, "data");
    msgpack_sbuffer_write (&buf.sbuf, env->data.data, env->data.size);
    bool ready = s_ready (c, env->certs[0], "events", buf.sbuf.data, buf.sbuf.size, 20000);
    codec_buf_destroy (&buf);
    if (!ready) {
        fprintf (stderr, TOOL ": no append answered through %s\n", launcher_frontends (l));
        goto failed;
    }
    return 0;
failed:
    c->failed = !bench_stop;
    return -1;
}

//  count lh_clients of the list, each its own key, each with one validate
//  answered (CURVE handshakes with every broker it reached done)
static drive_client_t *
s_clients_new (benv_t *env, bcluster_t *c, const bopts_t *o, int count, drive_check_t *connect)
{
    drive_client_t *clients = (drive_client_t *) calloc ((size_t) count, sizeof (drive_client_t));
    if (!clients)
        return NULL;
    bool ok = true;
    for (int i = 0; i < count && ok; i++) {
        drive_client_t *b = &clients[i];
        lh_connect_t conn = {.endpoint = launcher_frontends (c->launcher),
                             .server_key = launcher_broker_key (c->launcher),
                             .cert = env->certs[i]};
        b->client = lh_client_new (&conn);
        b->ring = (drive_slot_t *) calloc (DRIVE_RING, sizeof (drive_slot_t));
        b->index = i;
        b->rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t) (i + 1) * 0xBF58476D1CE4E5B9ULL);
        ok = b->client && b->ring;
        if (ok) {
            lh_client_set_timeout (b->client, o->timeout_ms);
            lh_client_set_retries (b->client, 0);
        }
    }
    if (ok) {
        //  As many requests as brokers: round robin reaches each
        for (int round = 0; round < c->brokers && ok; round++) {
            drive_t d;
            drive_init (&d, clients, count, DRIVE_VALIDATE);
            d.mix = &env->mix;
            d.once = true;
            d.t0 = UINT64_MAX;
            d.drain_ns = (uint64_t) o->timeout_ms * 2000000ULL;
            drive_run (&d);
            ok = d.check.ok == (uint64_t) count;
            drive_check_merge (connect, &d.check);
            drive_destroy (&d);
        }
    }
    if (!ok) {
        for (int i = 0; i < count; i++) {
            lh_client_destroy (&clients[i].client);
            free (clients[i].ring);
        }
        free (clients);
        return NULL;
    }
    return clients;
}

static void
s_clients_destroy (drive_client_t **clients_p, int count)
{
    drive_client_t *clients = *clients_p;
    for (int i = 0; clients && i < count; i++) {
        lh_client_destroy (&clients[i].client);
        free (clients[i].ring);
    }
    free (clients);
    *clients_p = NULL;
}

//  --------------------------------------------------------------------------
//  Throughput

typedef struct {
    host_snap_t host;
    cpu_snap_t broker[LAUNCHER_MAX_BROKERS], validator, replica[REPLICAS], self;
} bsnap_t;

typedef struct {
    bool ran;
    int rounds;
    double seconds; //  the windows, summed
    uint64_t ok;    //  ok replies in the windows
    double rps[MAX_ROUNDS];
    hist_t hist;
    drive_check_t check;
    uint64_t failovers;
    //  CPU percent over the windows (100 = one core), averaged over rounds
    double brokers, brokers_main, brokers_io, broker_top, validator, replicas, self, host, other;
    char broker_top_comm[24];
    //  Per broker, summed over rounds: requests of the service in the window,
    //  and held (queued + at the worker) at mid-window, from broker.stats
    uint64_t broker_requests[LAUNCHER_MAX_BROKERS];
    uint64_t broker_held[LAUNCHER_MAX_BROKERS];
    int stats_rounds;
    double us_brokers, us_all; //  CPU us per ok reply
} tput_t;

static void
s_bsnap (bsnap_t *s, bcluster_t *c)
{
    host_snap (&s->host);
    for (int k = 0; k < c->brokers; k++)
        cpu_snap (&s->broker[k], c->broker[k]);
    cpu_snap (&s->validator, c->validator);
    for (int i = 0; i < REPLICAS; i++)
        cpu_snap (&s->replica[i], c->replica[i]);
    cpu_snap (&s->self, getpid ());
}

typedef struct {
    uint64_t requests, queued, inflight;
} bstat_t;

//  The service's counters from broker k's broker.stats, as admin; false
//  when it does not answer
static bool
s_broker_stats (bcluster_t *c, int k, const char *service, bstat_t *out)
{
    memset (out, 0, sizeof (*out));
    lh_connect_t conn = {.endpoint = launcher_frontend_at (c->launcher, k),
                         .server_key = launcher_broker_key (c->launcher),
                         .cert = launcher_cert (c->launcher, "admin")};
    lh_client_t *client = lh_client_new (&conn);
    if (!client)
        return false;
    lh_client_set_timeout (client, 2000);
    lh_client_set_retries (client, 0);
    lh_reply_t *reply = lh_client_call (client, "broker.stats", "\x80", 1);
    bool found = false;
    const msgpack_object *services =
        reply && lh_reply_ok (reply) ? codec_map_get (lh_reply_root (reply), "services") : NULL;
    for (uint32_t i = 0; services && services->type == MSGPACK_OBJECT_ARRAY &&
                         i < services->via.array.size && !found;
         i++) {
        const msgpack_object *s = &services->via.array.ptr[i];
        if (!codec_str_eq (codec_map_get (s, "name"), service))
            continue;
        const msgpack_object *v[3] = {codec_map_get (s, "requests"), codec_map_get (s, "queued"),
                                      codec_map_get (s, "inflight")};
        uint64_t *into[3] = {&out->requests, &out->queued, &out->inflight};
        for (int j = 0; j < 3; j++)
            if (v[j] && v[j]->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                *into[j] = v[j]->via.u64;
        found = true;
    }
    lh_reply_destroy (&reply);
    lh_client_destroy (&client);
    return found;
}

//  One closed-loop window of kind through cluster c, merged into t
static void
s_window (benv_t *env, bcluster_t *c, const bopts_t *o, drive_client_t *clients, int count,
          int depth, drive_kind_t kind, tput_t *t)
{
    drive_t *d = (drive_t *) calloc (1, sizeof (drive_t));
    bsnap_t *snap = (bsnap_t *) calloc (2, sizeof (bsnap_t));
    drive_init (d, clients, count, kind);
    d->depth = depth;
    d->mix = &env->mix;
    d->data = &env->data;
    d->nonce = env->nonce ^ (uint32_t) (c->config << 24) ^ (uint32_t) (t->rounds << 16);
    uint64_t start = bench_now_ns ();
    d->t0 = start + (uint64_t) (o->warmup * 1e9);
    atomic_store (&d->t1, d->t0 + (uint64_t) (o->duration * 1e9));
    d->drain_ns = (uint64_t) (o->drain * 1e9);
    pthread_t thread;
    if (pthread_create (&thread, NULL, drive_run, d) != 0) {
        drive_destroy (d);
        free (d);
        free (snap);
        return;
    }
    const char *service = kind == DRIVE_VALIDATE ? "validate" : "events";
    bstat_t before[LAUNCHER_MAX_BROKERS], mid[LAUNCHER_MAX_BROKERS], after[LAUNCHER_MAX_BROKERS];
    bool stats = true;
    proc_sleep_until (d->t0);
    s_bsnap (&snap[0], c);
    for (int k = 0; k < c->brokers; k++)
        stats &= s_broker_stats (c, k, service, &before[k]);
    //  Where the requests in flight are: at each broker, mid-window
    proc_sleep_until (d->t0 + (atomic_load (&d->t1) - d->t0) / 2);
    for (int k = 0; k < c->brokers; k++)
        stats &= s_broker_stats (c, k, service, &mid[k]);
    proc_sleep_until (atomic_load (&d->t1));
    s_bsnap (&snap[1], c);
    for (int k = 0; k < c->brokers; k++)
        stats &= s_broker_stats (c, k, service, &after[k]);
    pthread_join (thread, NULL);
    if (stats) {
        t->stats_rounds++;
        for (int k = 0; k < c->brokers; k++) {
            t->broker_requests[k] += after[k].requests - before[k].requests;
            t->broker_held[k] += mid[k].queued + mid[k].inflight;
        }
    }

    double seconds = (double) (atomic_load (&d->t1) - d->t0) / 1e9;
    t->ran = true;
    t->rps[t->rounds++] = seconds > 0 ? (double) d->window_ok / seconds : 0;
    t->seconds += seconds;
    t->ok += d->window_ok;
    hist_merge (&t->hist, &d->hist);
    drive_check_merge (&t->check, &d->check);
    t->failovers += d->failovers;
    //  CPU: a running mean over the rounds
    double w = 1.0 / t->rounds;
    double brokers = 0, main_ = 0, io = 0, top = 0;
    char top_comm[24] = "-";
    for (int k = 0; k < c->brokers; k++) {
        double ktop = 0;
        char kcomm[24] = "";
        brokers +=
            cpu_percent (&snap[0].broker[k], &snap[1].broker[k], &ktop, kcomm, sizeof (kcomm));
        main_ += cpu_percent_prefix (&snap[0].broker[k], &snap[1].broker[k], "lh-");
        io += cpu_percent_prefix (&snap[0].broker[k], &snap[1].broker[k], "ZMQbg/IO");
        if (ktop > top) {
            top = ktop;
            snprintf (top_comm, sizeof (top_comm), "%s", kcomm);
        }
    }
    double validator = cpu_percent (&snap[0].validator, &snap[1].validator, NULL, NULL, 0);
    double replicas = 0;
    for (int i = 0; i < REPLICAS; i++)
        replicas += cpu_percent (&snap[0].replica[i], &snap[1].replica[i], NULL, NULL, 0);
    double self = cpu_percent (&snap[0].self, &snap[1].self, NULL, NULL, 0);
    double host = host_busy_percent (&snap[0].host, &snap[1].host);
    double ours = brokers + validator + replicas + self;
    double other = host > ours ? host - ours : 0;
    t->brokers += (brokers - t->brokers) * w;
    t->brokers_main += (main_ - t->brokers_main) * w;
    t->brokers_io += (io - t->brokers_io) * w;
    if (top > t->broker_top) {
        t->broker_top = top;
        snprintf (t->broker_top_comm, sizeof (t->broker_top_comm), "%s", top_comm);
    }
    t->validator += (validator - t->validator) * w;
    t->replicas += (replicas - t->replicas) * w;
    t->self += (self - t->self) * w;
    t->host += (host - t->host) * w;
    t->other += (other - t->other) * w;
    if (t->ok) {
        //  From the means: CPU share x window / replies
        double per = t->seconds / (double) t->ok * 1e6 / 100.0;
        t->us_brokers = t->brokers * per;
        t->us_all = (t->brokers + t->validator + t->replicas + t->self) * per;
    }
    drive_destroy (d);
    free (d);
    free (snap);
}

//  --------------------------------------------------------------------------
//  Faults

typedef struct {
    int signum; //  SIGKILL or SIGSTOP
    int broker;
    uint64_t at, restored, listed, rejoined, end; //  ns; 0: did not happen
    uint64_t failovers;                           //  over the clients, during the cycle
    //  From the spans, ms: the longest round trip of a request in flight
    //  during [at, restored), during [restored, end), and either
    double during_ms, after_ms, stall_ms;
    double after_sent_s; //  when the longest of after_ms was sent, from the restart
    int in_flight;       //  requests in flight at some time in [at, end)
} fault_t;

typedef struct {
    bool ran;
    int nfaults;
    fault_t fault[MAX_FAULTS];
    uint64_t start, base0, base1; //  the stream, and its part without faults
    hist_t base_hist;             //  round trips sent in [base0, base1), ns
    double base_window_ms[256];   //  the longest in each hold-long window of it
    int base_windows;
    hist_t all_hist; //  every answered request of the stream
    drive_check_t check;
    drive_check_t connect;
    uint64_t failovers, reconnects, dropped;
    int clients;
} faults_t;

//  The longest round trip of a request in flight at some time in [a, b),
//  ms; how many were in flight, and when the longest was sent. With
//  answered_by_b, requests still in flight at b are left out (at the end of
//  a fault's cycle they belong to the next fault)
static double
s_longest (const drive_t *d, uint64_t a, uint64_t b, bool answered_by_b, int *count,
           uint64_t *sent_p)
{
    uint64_t longest = 0, sent = 0;
    int n = 0;
    for (size_t i = 0; i < d->nspans; i++) {
        const drive_span_t *s = &d->spans[i];
        uint64_t done = s->done_ns ? s->done_ns : UINT64_MAX;
        if (s->sent_ns >= b || done <= a || (answered_by_b && done > b))
            continue;
        n++;
        uint64_t rtt = s->done_ns ? s->done_ns - s->sent_ns : 0;
        if (rtt > longest) {
            longest = rtt;
            sent = s->sent_ns;
        }
    }
    if (count)
        *count = n;
    if (sent_p)
        *sent_p = sent;
    return (double) longest / 1e6;
}

//  Waits until every client believes `want` brokers are up; the time or 0
static uint64_t
s_wait_up (drive_t *d, int want, int timeout_ms)
{
    uint64_t until = bench_now_ns () + (uint64_t) timeout_ms * 1000000ULL;
    while (!bench_stop && bench_now_ns () < until) {
        if (atomic_load (&d->brokers_up_min) >= want)
            return bench_now_ns ();
        usleep (10000);
    }
    return 0;
}

static void
s_faults (benv_t *env, bcluster_t *c, const bopts_t *o, faults_t *f)
{
    f->clients = o->stream_clients;
    drive_client_t *clients = s_clients_new (env, c, o, o->stream_clients, &f->connect);
    if (!clients) {
        fprintf (stderr, TOOL ": the stream's clients did not connect\n");
        return;
    }
    drive_t *d = (drive_t *) calloc (1, sizeof (drive_t));
    drive_init (d, clients, o->stream_clients, DRIVE_VALIDATE);
    d->rate = o->rate;
    d->mix = &env->mix;
    d->spans_on = true;
    d->drain_ns = (uint64_t) o->timeout_ms * 1000000ULL + 2000000000ULL;
    atomic_store (&d->brokers_up_min, 0);
    f->start = bench_now_ns ();
    d->t0 = f->start;
    pthread_t thread;
    if (pthread_create (&thread, NULL, drive_run, d) != 0) {
        drive_destroy (d);
        free (d);
        s_clients_destroy (&clients, o->stream_clients);
        return;
    }
    f->ran = true;
    f->base0 = f->start + 1000000000ULL;
    f->base1 = f->base0 + (uint64_t) (o->baseline * 1e9);
    s_progress ("  baseline: %.0f s without faults", o->baseline);
    proc_sleep_until (f->base1);
    uint64_t rng = o->seed;
    uint64_t hold = (uint64_t) (o->hold * 1e9);
    for (int i = 0; i < o->kills + o->pauses && !bench_stop; i++) {
        fault_t *x = &f->fault[f->nfaults++];
        x->signum = i < o->kills ? SIGKILL : SIGSTOP;
        x->broker = (int) (mix_rand (&rng) % (uint64_t) c->brokers);
        uint64_t failovers = atomic_load (&d->failovers_now);
        pid_t pid = launcher_broker_pid_at (c->launcher, x->broker);
        x->at = bench_now_ns ();
        if (x->signum == SIGKILL)
            launcher_signal (c->launcher, pid, SIGKILL);
        else
            kill (pid, SIGSTOP);
        proc_sleep_until (x->at + hold);
        x->restored = bench_now_ns ();
        if (x->signum == SIGKILL)
            c->broker[x->broker] = launcher_restart_broker_at (c->launcher, x->broker);
        else
            kill (pid, SIGCONT);
        //  Back when the broker lists the validator again and every client
        //  uses it again
        if (launcher_wait_workers_at (c->launcher, x->broker, "validate", 1, 20000))
            x->listed = bench_now_ns ();
        x->rejoined = s_wait_up (d, c->brokers, 20000);
        proc_sleep_until (bench_now_ns () + (uint64_t) (o->settle * 1e9));
        x->end = bench_now_ns ();
        x->failovers = atomic_load (&d->failovers_now) - failovers;
        s_progress ("  %s broker %d: back in %.2f s (listed %.2f s), %llu failover(s)",
                    x->signum == SIGKILL ? "SIGKILL" : "SIGSTOP", x->broker,
                    x->rejoined ? (double) (x->rejoined - x->restored) / 1e9 : -1.0,
                    x->listed ? (double) (x->listed - x->restored) / 1e9 : -1.0,
                    (unsigned long long) x->failovers);
        if (!x->rejoined || !x->listed) {
            fprintf (stderr, TOOL ": broker %d did not come back; no more faults\n", x->broker);
            c->failed = true;
            break;
        }
    }
    atomic_store (&d->t1, bench_now_ns ());
    pthread_join (thread, NULL);

    //  Per fault, from the spans
    for (int i = 0; i < f->nfaults; i++) {
        fault_t *x = &f->fault[i];
        uint64_t sent = 0;
        x->during_ms = s_longest (d, x->at, x->restored, false, NULL, NULL);
        x->after_ms = s_longest (d, x->restored, x->end, true, NULL, &sent);
        x->after_sent_s = ((double) sent - (double) x->restored) / 1e9;
        x->stall_ms = x->during_ms > x->after_ms ? x->during_ms : x->after_ms;
        s_longest (d, x->at, x->end, true, &x->in_flight, NULL);
    }
    hist_reset (&f->base_hist);
    hist_reset (&f->all_hist);
    for (size_t i = 0; i < d->nspans; i++) {
        const drive_span_t *s = &d->spans[i];
        if (!s->done_ns || !s->ok)
            continue;
        hist_record (&f->all_hist, s->done_ns - s->sent_ns);
        if (s->sent_ns >= f->base0 && s->sent_ns < f->base1)
            hist_record (&f->base_hist, s->done_ns - s->sent_ns);
    }
    //  The same measure without faults: windows as long as a fault
    for (uint64_t a = f->base0; a + hold <= f->base1 && f->base_windows < 256; a += hold)
        f->base_window_ms[f->base_windows++] = s_longest (d, a, a + hold, false, NULL, NULL);
    f->check = d->check;
    f->failovers = d->failovers;
    f->reconnects = d->reconnects;
    f->dropped = d->dropped;
    drive_destroy (d);
    free (d);
    s_clients_destroy (&clients, o->stream_clients);
}

//  --------------------------------------------------------------------------
//  Report

typedef struct {
    char when[64];
    char load_before[64];
    double host_before;
    char *command;
} meta_t;

typedef struct {
    tput_t validate[CONFIGS], append[CONFIGS];
    drive_check_t connect;
    char validator_args[CONFIGS][256], broker_args[CONFIGS][256];
    faults_t *faults;
    bool cluster_failed;
    uint64_t failures;
} results_t;

typedef struct {
    double p50, p90, p99, p999, max, mean; //  ms
    uint64_t n;
} lat_t;

static lat_t
s_lat (const hist_t *h)
{
    lat_t l = {0};
    l.n = h->count;
    if (!h->count)
        return l;
    l.p50 = (double) hist_percentile (h, 50) / 1e6;
    l.p90 = (double) hist_percentile (h, 90) / 1e6;
    l.p99 = (double) hist_percentile (h, 99) / 1e6;
    l.p999 = (double) hist_percentile (h, 99.9) / 1e6;
    l.max = (double) h->max / 1e6;
    l.mean = hist_mean (h) / 1e6;
    return l;
}

static double
s_ratio (double a, double b)
{
    return b > 0 ? a / b : 0;
}

static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

//  Nearest-rank percentile of n values (sorted here); 0 when empty
static double
s_pct (double *values, int n, double p)
{
    if (n <= 0)
        return 0;
    qsort (values, (size_t) n, sizeof (double), s_cmp_double);
    int rank = (int) (p / 100.0 * n + 0.999999);
    rank = rank < 1 ? 1 : rank > n ? n : rank;
    return values[rank - 1];
}

typedef struct {
    int n;
    double stall[3], during[3], after[3]; //  p50, p99, max, ms
    double back[2], listed[2];            //  p50, max, s
    uint64_t failovers;
    int in_flight;
} fsum_t;

static fsum_t
s_fsum (const faults_t *f, int signum)
{
    fsum_t s = {0};
    double stall[MAX_FAULTS], during[MAX_FAULTS], after[MAX_FAULTS], back[MAX_FAULTS],
        listed[MAX_FAULTS];
    for (int i = 0; i < f->nfaults; i++) {
        const fault_t *x = &f->fault[i];
        if (x->signum != signum || !x->end)
            continue;
        stall[s.n] = x->stall_ms;
        during[s.n] = x->during_ms;
        after[s.n] = x->after_ms;
        back[s.n] = x->rejoined ? (double) (x->rejoined - x->restored) / 1e9 : 0;
        listed[s.n] = x->listed ? (double) (x->listed - x->restored) / 1e9 : 0;
        s.failovers += x->failovers;
        s.in_flight += x->in_flight;
        s.n++;
    }
    double *sets[3] = {stall, during, after};
    double *outs[3] = {s.stall, s.during, s.after};
    for (int k = 0; k < 3; k++) {
        outs[k][0] = s_pct (sets[k], s.n, 50);
        outs[k][1] = s_pct (sets[k], s.n, 99);
        outs[k][2] = s_pct (sets[k], s.n, 100);
    }
    s.back[0] = s_pct (back, s.n, 50);
    s.back[1] = s_pct (back, s.n, 100);
    s.listed[0] = s_pct (listed, s.n, 50);
    s.listed[1] = s_pct (listed, s.n, 100);
    return s;
}

static void
s_check_line (FILE *out, const char *name, const drive_check_t *c)
{
    fprintf (out,
             "  %-28s sent %llu, ok %llu, failed %llu (error replies %llu, timeouts %llu, send "
             "refused %llu, lost %llu, bad %llu, duplicates %llu); late replies %llu; "
             "decisions other than the mix file's %llu\n",
             name, (unsigned long long) c->sent, (unsigned long long) c->ok,
             (unsigned long long) c->failed, (unsigned long long) c->error_replies,
             (unsigned long long) c->timeouts, (unsigned long long) c->send_failed,
             (unsigned long long) c->lost, (unsigned long long) c->bad_replies,
             (unsigned long long) c->duplicates, (unsigned long long) c->late,
             (unsigned long long) c->wrong);
    for (int i = 0; i < c->samples; i++)
        fprintf (out, "    %s\n", c->sample[i]);
}

static void
s_tput_row (FILE *out, const char *label, const char *load, const tput_t *t)
{
    lat_t l = s_lat (&t->hist);
    fprintf (out,
             "%-34s %-9s %9.0f %8.3f %8.3f %8.3f %8.3f %6llu | %5.0f %5.0f %5.0f %5.0f %5.0f %5.0f "
             "%5.0f %5.0f %5.0f | %6.1f %6.1f\n",
             label, load, s_ratio ((double) t->ok, t->seconds), l.p50, l.p99, l.p999, l.max,
             (unsigned long long) t->check.failed, t->brokers, t->brokers_main, t->brokers_io,
             t->broker_top, t->validator, t->replicas, t->self, t->host, t->other, t->us_brokers,
             t->us_all);
}

static void
s_table (FILE *out, const bopts_t *o, const meta_t *m, const results_t *r)
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
             "clusters on 127.0.0.1, CURVE, one per configuration, fresh each time: lh-broker(s), "
             "one lh-validator (--policy %s), three lh-integrity replicas (--monitor-ms 0). No "
             "CPU pinning: every process (brokers, validator, replicas, this load generator) "
             "shares the machine's %ld cores, so \"same total cores\" means all of them in both "
             "configurations, with 2 ZeroMQ I/O threads in the brokers either way.\n",
             o->policy, sysconf (_SC_NPROCESSORS_ONLN));
    for (int k = 0; k < CONFIGS; k++)
        fprintf (out, "  (%c) %s: lh-broker %s; lh-validator %s\n", 'a' + k, s_config_name[k],
                 r->broker_args[k][0] ? r->broker_args[k] : "-",
                 r->validator_args[k][0] ? r->validator_args[k] : "-");

    if (o->do_throughput) {
        fprintf (out,
                 "\nthroughput, closed loop, every client an lh_client holding the list (own key, "
                 "role agent), no resends; %d round%s of warmup %.1f s + window %.1f s each\n",
                 o->rounds, o->rounds == 1 ? "" : "s", o->warmup, o->duration);
        fprintf (out,
                 "%-34s %-9s %9s %8s %8s %8s %8s %6s | %5s %5s %5s %5s %5s %5s %5s %5s %5s | %6s "
                 "%6s\n",
                 "", "clients", "req/s", "p50 ms", "p99 ms", "p99.9", "max ms", "failed", "brk",
                 "main", "io", "top", "valid", "repl", "bench", "host", "other", "us brk",
                 "us all");
        char load[32];
        for (int k = 0; k < CONFIGS; k++) {
            char label[64];
            snprintf (label, sizeof (label), "validate (%c) %s", 'a' + k,
                      k ? "2 brokers x 1 io" : "1 broker x 2 io");
            snprintf (load, sizeof (load), "%dx%d", o->clients, o->depth);
            s_tput_row (out, label, load, &r->validate[k]);
        }
        for (int k = 0; k < CONFIGS; k++) {
            char label[64];
            snprintf (label, sizeof (label), "append (%c) %s", 'a' + k,
                      k ? "2 brokers x 1 io" : "1 broker x 2 io");
            snprintf (load, sizeof (load), "%dx%d", o->append_clients, o->append_depth);
            s_tput_row (out, label, load, &r->append[k]);
        }
        fprintf (out, "(CPU%% over the window, 100 = one core: brk = the brokers, main = their "
                      "main threads, io = their ZeroMQ I/O threads, top = the busiest broker "
                      "thread, valid = lh-validator, repl = the three replicas, bench = this "
                      "process; us = CPU us per reply: the brokers', all of ours)\n");
        for (int kind = 0; kind < 2; kind++) {
            const tput_t *t = kind ? r->append : r->validate;
            lat_t a = s_lat (&t[0].hist), b = s_lat (&t[1].hist);
            fprintf (out,
                     "two / one, %-8s throughput %.3fx, p50 %.3fx, p99 %.3fx; brokers' CPU per "
                     "reply %.3fx\n",
                     kind ? "append:" : "validate:",
                     s_ratio (s_ratio ((double) t[1].ok, t[1].seconds),
                              s_ratio ((double) t[0].ok, t[0].seconds)),
                     s_ratio (b.p50, a.p50), s_ratio (b.p99, a.p99),
                     s_ratio (t[1].us_brokers, t[0].us_brokers));
        }
        fprintf (out, "per broker, from broker.stats (requests of the service in the window, "
                      "share; held = queued + at the worker, mid-window; mean over rounds):\n");
        for (int kind = 0; kind < 2; kind++)
            for (int k = 0; k < CONFIGS; k++) {
                const tput_t *t = kind ? &r->append[k] : &r->validate[k];
                uint64_t all = 0;
                for (int b = 0; b < s_brokers[k]; b++)
                    all += t->broker_requests[b];
                fprintf (out, "  %-8s (%c):", kind ? "append" : "validate", 'a' + k);
                for (int b = 0; b < s_brokers[k] && t->stats_rounds; b++)
                    fprintf (out, "  broker %d: %llu requests (%.1f%%), held %.0f", b,
                             (unsigned long long) (t->broker_requests[b] / t->stats_rounds),
                             all ? 100.0 * (double) t->broker_requests[b] / (double) all : 0,
                             (double) t->broker_held[b] / t->stats_rounds);
                fprintf (out, "%s\n", t->stats_rounds ? "" : "  broker.stats did not answer");
            }
        if (o->rounds > 1)
            for (int kind = 0; kind < 2; kind++)
                for (int k = 0; k < CONFIGS; k++) {
                    const tput_t *t = kind ? &r->append[k] : &r->validate[k];
                    fprintf (out, "req/s by round, %s (%c):", kind ? "append" : "validate",
                             'a' + k);
                    for (int i = 0; i < t->rounds; i++)
                        fprintf (out, " %.0f", t->rps[i]);
                    fprintf (out, "\n");
                }
    }

    const faults_t *f = r->faults;
    if (o->do_faults && f && f->ran) {
        fprintf (out,
                 "\nfaults: (b) two brokers, a paced stream of %.0f validate/s from %d clients "
                 "(lh_client with both brokers, deadline %d ms, no resends, failover %d ms); a "
                 "broker drawn at random (seed %llu) SIGKILLed and restarted %.1f s later, or "
                 "SIGSTOPped and SIGCONTed %.1f s later; the next fault %.1f s after every client "
                 "uses it again\n",
                 o->rate, f->clients, o->timeout_ms, LH_CLIENT_FAILOVER_MS,
                 (unsigned long long) o->seed, o->hold, o->hold, o->settle);
        lat_t b = s_lat (&f->base_hist);
        double windows[256];
        memcpy (windows, f->base_window_ms, sizeof (windows));
        double w50 = s_pct (windows, f->base_windows, 50);
        double w99 = s_pct (windows, f->base_windows, 99);
        double wmax = s_pct (windows, f->base_windows, 100);
        fprintf (out,
                 "baseline, no faults (%.0f s, same stream, before the first fault): %llu "
                 "requests, p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms; longest in "
                 "flight per %.1f s window (%d windows): p50 %.3f, p99 %.3f, max %.3f ms\n",
                 o->baseline, (unsigned long long) b.n, b.p50, b.p99, b.p999, b.max, o->hold,
                 f->base_windows, w50, w99, wmax);
        fprintf (out, "\n%-8s %4s | %27s | %21s | %21s | %13s | %13s | %9s %9s\n", "fault", "n",
                 "stall ms: p50 / p99 / max", "during: p50 / max", "after: p50 / max",
                 "back s p50/max", "listed s", "failovers", "requests");
        for (int s = 0; s < 2; s++) {
            int signum = s ? SIGSTOP : SIGKILL;
            fsum_t x = s_fsum (f, signum);
            if (!x.n)
                continue;
            fprintf (out,
                     "%-8s %4d | %8.1f %8.1f %9.1f | %10.1f %10.1f | %10.1f %10.1f | %6.2f %6.2f "
                     "| %6.2f %6.2f | %9llu %9d\n",
                     s ? "SIGSTOP" : "SIGKILL", x.n, x.stall[0], x.stall[1], x.stall[2],
                     x.during[0], x.during[2], x.after[0], x.after[2], x.back[0], x.back[1],
                     x.listed[0], x.listed[1], (unsigned long long) x.failovers, x.in_flight);
        }
        fprintf (out,
                 "(stall: per fault, the longest round trip of any request in flight at some "
                 "time from the fault to the next one, the greater of during: in flight at some "
                 "time from the fault to the restart / SIGCONT, and after: from then to the next "
                 "fault, answered before it (those still in flight count for the next fault); "
                 "back: from the restart / SIGCONT until every client uses that broker again; "
                 "listed: until it lists the validator again; requests: in flight during the "
                 "cycles, summed)\n");
        lat_t all = s_lat (&f->all_hist);
        fprintf (out,
                 "requests of the stream: %llu sent, %llu answered ok, %llu failed or lost "
                 "(error replies %llu, no reply by the deadline %llu, unanswered at the end "
                 "%llu)\n",
                 (unsigned long long) f->check.sent, (unsigned long long) f->check.ok,
                 (unsigned long long) f->check.failed, (unsigned long long) f->check.error_replies,
                 (unsigned long long) f->check.timeouts, (unsigned long long) f->check.lost);
        fprintf (out,
                 "whole stream: %llu answered ok, p50 %.3f ms, p99 %.3f ms, max %.3f ms; "
                 "failovers %llu, reconnects %llu, late replies dropped by lh_client %llu\n",
                 (unsigned long long) all.n, all.p50, all.p99, all.max,
                 (unsigned long long) f->failovers, (unsigned long long) f->reconnects,
                 (unsigned long long) f->dropped);
        fprintf (out, "per fault (s after the stream began; ms):\n");
        for (int i = 0; i < f->nfaults; i++) {
            const fault_t *x = &f->fault[i];
            fprintf (out,
                     "  %2d %s broker %d at %7.2f s: stall %8.1f (during %8.1f, after %8.1f sent "
                     "at %+.2f s), back %5.2f s, failovers %llu\n",
                     i + 1, x->signum == SIGKILL ? "SIGKILL" : "SIGSTOP", x->broker,
                     (double) (x->at - f->start) / 1e9, x->stall_ms, x->during_ms, x->after_ms,
                     x->after_sent_s,
                     x->rejoined ? (double) (x->rejoined - x->restored) / 1e9 : -1.0,
                     (unsigned long long) x->failovers);
        }
    }

    fprintf (out, "\nchecks (every reply ok; validate decisions compared with the mix file):\n");
    s_check_line (out, "connect (one validate each)", &r->connect);
    for (int k = 0; k < CONFIGS && o->do_throughput; k++) {
        char name[48];
        snprintf (name, sizeof (name), "validate (%c)", 'a' + k);
        s_check_line (out, name, &r->validate[k].check);
        snprintf (name, sizeof (name), "append (%c)", 'a' + k);
        s_check_line (out, name, &r->append[k].check);
    }
    if (f && f->ran) {
        s_check_line (out, "faults: stream clients", &f->connect);
        s_check_line (out, "faults: the stream", &f->check);
    }
    fprintf (out, "\nresult: %llu failed request%s%s%s\n", (unsigned long long) r->failures,
             r->failures == 1 ? "" : "s",
             r->cluster_failed ? "; a cluster did not run as asked" : "",
             r->failures || r->cluster_failed ? ": exit status 1" : "");
}

static void
s_json_check (FILE *out, const drive_check_t *c)
{
    fprintf (out,
             "{\"sent\": %llu, \"ok\": %llu, \"failed\": %llu, \"error_replies\": %llu, "
             "\"timeouts\": %llu, \"send_failed\": %llu, \"lost\": %llu, \"bad_replies\": %llu, "
             "\"duplicates\": %llu, \"late\": %llu, \"wrong_decisions\": %llu, \"samples\": [",
             (unsigned long long) c->sent, (unsigned long long) c->ok,
             (unsigned long long) c->failed, (unsigned long long) c->error_replies,
             (unsigned long long) c->timeouts, (unsigned long long) c->send_failed,
             (unsigned long long) c->lost, (unsigned long long) c->bad_replies,
             (unsigned long long) c->duplicates, (unsigned long long) c->late,
             (unsigned long long) c->wrong);
    for (int i = 0; i < c->samples; i++) {
        fputs (i ? ", " : "", out);
        bench_json_string (out, c->sample[i]);
    }
    fputs ("]}", out);
}

static void
s_json_lat (FILE *out, const hist_t *h)
{
    lat_t l = s_lat (h);
    fprintf (out,
             "\"n\": %llu, \"p50_ms\": %.4f, \"p90_ms\": %.4f, \"p99_ms\": %.4f, \"p999_ms\": "
             "%.4f, \"max_ms\": %.4f, \"mean_ms\": %.4f",
             (unsigned long long) l.n, l.p50, l.p90, l.p99, l.p999, l.max, l.mean);
}

static void
s_json_tput (FILE *out, const tput_t *t, int config)
{
    fprintf (out, "{\"config\": \"%c\", \"ran\": %s, \"rps\": %.2f, \"window_s\": %.3f, ",
             'a' + config, t->ran ? "true" : "false", s_ratio ((double) t->ok, t->seconds),
             t->seconds);
    s_json_lat (out, &t->hist);
    fprintf (out, ", \"rps_by_round\": [");
    for (int i = 0; i < t->rounds; i++)
        fprintf (out, "%s%.2f", i ? ", " : "", t->rps[i]);
    fprintf (out,
             "], \"cpu_pct\": {\"brokers\": %.1f, \"brokers_main\": %.1f, \"brokers_io\": %.1f, "
             "\"broker_top_thread\": %.1f, \"validator\": %.1f, \"replicas\": %.1f, \"bench\": "
             "%.1f, \"host\": %.1f, \"other\": %.1f}, \"cpu_us_per_reply\": {\"brokers\": %.2f, "
             "\"all\": %.2f}, \"failovers\": %llu, \"checks\": ",
             t->brokers, t->brokers_main, t->brokers_io, t->broker_top, t->validator, t->replicas,
             t->self, t->host, t->other, t->us_brokers, t->us_all,
             (unsigned long long) t->failovers);
    s_json_check (out, &t->check);
    fprintf (out, ", \"per_broker\": [");
    for (int b = 0; b < s_brokers[config] && t->stats_rounds; b++)
        fprintf (out, "%s{\"requests\": %llu, \"held_mid_window\": %.1f}", b ? ", " : "",
                 (unsigned long long) (t->broker_requests[b] / t->stats_rounds),
                 (double) t->broker_held[b] / t->stats_rounds);
    fputs ("]", out);
    fputs ("}", out);
}

static void
s_json_fsum (FILE *out, const fsum_t *x)
{
    fprintf (out,
             "{\"n\": %d, \"stall_ms\": {\"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f}, "
             "\"during_ms\": {\"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f}, \"after_ms\": "
             "{\"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f}, \"back_s\": {\"p50\": %.3f, \"max\": "
             "%.3f}, \"listed_s\": {\"p50\": %.3f, \"max\": %.3f}, \"failovers\": %llu, "
             "\"requests_in_flight\": %d}",
             x->n, x->stall[0], x->stall[1], x->stall[2], x->during[0], x->during[1], x->during[2],
             x->after[0], x->after[1], x->after[2], x->back[0], x->back[1], x->listed[0],
             x->listed[1], (unsigned long long) x->failovers, x->in_flight);
}

static void
s_json (FILE *out, const bopts_t *o, const meta_t *m, const results_t *r)
{
    fprintf (out, "{\n  \"tool\": \"" TOOL "\",\n  \"when\": ");
    bench_json_string (out, m->when);
    fprintf (out, ",\n  \"command\": ");
    bench_json_string (out, m->command ? m->command : "");
    fprintf (out, ",\n  \"source\": ");
    bench_json_string (out, o->source ? o->source : "");
    fprintf (out, ",\n  \"cores\": %ld,\n  \"cpu_pinning\": false,\n  \"loadavg_before\": ",
             sysconf (_SC_NPROCESSORS_ONLN));
    bench_json_string (out, m->load_before);
    fprintf (out, ",\n  \"host_busy_before_pct\": %.1f,\n  \"configs\": [", m->host_before);
    for (int k = 0; k < CONFIGS; k++) {
        fprintf (out, "%s{\"name\": \"%c\", \"brokers\": %d, \"io_threads_each\": %d, ",
                 k ? ", " : "", 'a' + k, s_brokers[k], s_io_threads[k]);
        fprintf (out, "\"broker_args\": ");
        bench_json_string (out, r->broker_args[k]);
        fprintf (out, ", \"validator_args\": ");
        bench_json_string (out, r->validator_args[k]);
        fputs ("}", out);
    }
    fprintf (out,
             "],\n  \"settings\": {\"duration_s\": %.3f, \"warmup_s\": %.3f, \"rounds\": %d, "
             "\"clients\": %d, \"depth\": %d, \"append_clients\": %d, \"append_depth\": %d, "
             "\"stream_clients\": %d, \"rate\": %.1f, \"baseline_s\": %.1f, \"kills\": %d, "
             "\"pauses\": %d, \"hold_s\": %.2f, \"settle_s\": %.2f, \"timeout_ms\": %d, "
             "\"failover_ms\": %d, \"seed\": %llu},\n",
             o->duration, o->warmup, o->rounds, o->clients, o->depth, o->append_clients,
             o->append_depth, o->stream_clients, o->rate, o->baseline, o->kills, o->pauses, o->hold,
             o->settle, o->timeout_ms, LH_CLIENT_FAILOVER_MS, (unsigned long long) o->seed);
    fprintf (out, "  \"throughput\": {\"validate\": [");
    for (int k = 0; k < CONFIGS; k++) {
        fputs (k ? ", " : "", out);
        s_json_tput (out, &r->validate[k], k);
    }
    fprintf (out, "],\n    \"append\": [");
    for (int k = 0; k < CONFIGS; k++) {
        fputs (k ? ", " : "", out);
        s_json_tput (out, &r->append[k], k);
    }
    fprintf (out, "],\n    \"ratios_two_over_one\": {");
    for (int kind = 0; kind < 2; kind++) {
        const tput_t *t = kind ? r->append : r->validate;
        lat_t a = s_lat (&t[0].hist), b = s_lat (&t[1].hist);
        fprintf (out,
                 "%s\"%s\": {\"throughput\": %.4f, \"p50\": %.4f, \"p99\": %.4f, "
                 "\"broker_cpu_per_reply\": %.4f}",
                 kind ? ", " : "", kind ? "append" : "validate",
                 s_ratio (s_ratio ((double) t[1].ok, t[1].seconds),
                          s_ratio ((double) t[0].ok, t[0].seconds)),
                 s_ratio (b.p50, a.p50), s_ratio (b.p99, a.p99),
                 s_ratio (t[1].us_brokers, t[0].us_brokers));
    }
    fprintf (out, "}},\n  \"faults\": ");
    const faults_t *f = r->faults;
    if (!f || !f->ran)
        fprintf (out, "null");
    else {
        fprintf (out, "{\"baseline\": {");
        s_json_lat (out, &f->base_hist);
        double windows[256];
        memcpy (windows, f->base_window_ms, sizeof (windows));
        fprintf (out,
                 ", \"windows\": %d, \"window_longest_ms\": {\"p50\": %.3f, \"p99\": %.3f, "
                 "\"max\": %.3f}}, \"sigkill\": ",
                 f->base_windows, s_pct (windows, f->base_windows, 50),
                 s_pct (windows, f->base_windows, 99), s_pct (windows, f->base_windows, 100));
        fsum_t kill = s_fsum (f, SIGKILL), stop = s_fsum (f, SIGSTOP);
        s_json_fsum (out, &kill);
        fprintf (out, ", \"sigstop\": ");
        s_json_fsum (out, &stop);
        fprintf (out, ", \"whole_stream\": {");
        s_json_lat (out, &f->all_hist);
        fprintf (out,
                 "}, \"failovers\": %llu, \"reconnects\": %llu, \"late_dropped\": %llu, "
                 "\"checks\": ",
                 (unsigned long long) f->failovers, (unsigned long long) f->reconnects,
                 (unsigned long long) f->dropped);
        s_json_check (out, &f->check);
        fprintf (out, ", \"each\": [");
        for (int i = 0; i < f->nfaults; i++) {
            const fault_t *x = &f->fault[i];
            fprintf (out,
                     "%s\n      {\"signal\": \"%s\", \"broker\": %d, \"at_s\": %.3f, "
                     "\"stall_ms\": %.3f, \"during_ms\": %.3f, \"after_ms\": %.3f, "
                     "\"after_sent_s\": %.3f, \"back_s\": %.3f, \"listed_s\": %.3f, "
                     "\"failovers\": %llu, \"requests_in_flight\": %d}",
                     i ? "," : "", x->signum == SIGKILL ? "SIGKILL" : "SIGSTOP", x->broker,
                     (double) (x->at - f->start) / 1e9, x->stall_ms, x->during_ms, x->after_ms,
                     x->after_sent_s,
                     x->rejoined ? (double) (x->rejoined - x->restored) / 1e9 : -1.0,
                     x->listed ? (double) (x->listed - x->restored) / 1e9 : -1.0,
                     (unsigned long long) x->failovers, x->in_flight);
        }
        fprintf (out, "]}");
    }
    fprintf (out, ",\n  \"failures\": %llu,\n  \"ok\": %s\n}\n", (unsigned long long) r->failures,
             !r->failures && !r->cluster_failed ? "true" : "false");
}

//  --------------------------------------------------------------------------

//  Both kinds of window through a fresh cluster of configuration k
static int
s_throughput_round (benv_t *env, const bopts_t *o, int k, results_t *r, bcluster_t *c)
{
    s_progress ("(%c) %s: starting the cluster", 'a' + k, s_config_name[k]);
    if (s_cluster_start (c, env, o, k) != 0)
        return -1;
    snprintf (r->broker_args[k], sizeof (r->broker_args[k]), "%s", c->broker_args);
    snprintf (r->validator_args[k], sizeof (r->validator_args[k]), "%s", c->validator_args);
    if (!o->do_throughput)
        return 0;
    int most = o->clients > o->append_clients ? o->clients : o->append_clients;
    drive_client_t *clients = s_clients_new (env, c, o, most, &r->connect);
    if (!clients) {
        fprintf (stderr, TOOL ": the clients did not connect (logs in %s)\n", c->tmp);
        c->failed = true;
        return -1;
    }
    s_window (env, c, o, clients, o->clients, o->depth, DRIVE_VALIDATE, &r->validate[k]);
    const tput_t *v = &r->validate[k];
    s_progress ("  validate %dx%d: %.0f req/s, p99 %.3f ms, failed %llu", o->clients, o->depth,
                v->rps[v->rounds - 1], s_lat (&v->hist).p99, (unsigned long long) v->check.failed);
    if (!bench_stop)
        s_window (env, c, o, clients, o->append_clients, o->append_depth, DRIVE_APPEND,
                  &r->append[k]);
    const tput_t *a = &r->append[k];
    if (a->rounds)
        s_progress ("  append %dx%d: %.0f req/s, p99 %.3f ms, failed %llu", o->append_clients,
                    o->append_depth, a->rps[a->rounds - 1], s_lat (&a->hist).p99,
                    (unsigned long long) a->check.failed);
    s_clients_destroy (&clients, most);
    if (!s_cluster_alive (c)) {
        fprintf (stderr, TOOL ": a process of the cluster died (logs in %s)\n", c->tmp);
        c->failed = true;
        return -1;
    }
    return 0;
}

static int s_main (const bopts_t *o, int argc, char **argv);

int
main (int argc, char **argv)
{
    bopts_t o;
    zconfig_t *config = NULL;
    int rc = s_parse (&o, argc, argv, &config);
    if (rc < 0)
        rc = s_main (&o, argc, argv);
    zconfig_destroy (&config);
    return rc;
}

static int
s_main (const bopts_t *o, int argc, char **argv)
{
    FILE *out = o->json ? stderr : stdout;
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

    benv_t *env = (benv_t *) calloc (1, sizeof (benv_t));
    results_t *r = (results_t *) calloc (1, sizeof (results_t));
    for (int k = 0; k < CONFIGS; k++) {
        hist_reset (&r->validate[k].hist);
        hist_reset (&r->append[k].hist);
    }
    if (s_env_init (env, o) != 0) {
        s_env_destroy (env);
        free (env);
        free (r);
        free (meta.command);
        return 1;
    }
    //  Throughput: a then b, rounds times; the faults through the last b
    int rounds = o->do_throughput ? o->rounds : 1;
    for (int round = 0; round < rounds && !bench_stop && !r->cluster_failed; round++)
        for (int k = 0; k < CONFIGS && !bench_stop && !r->cluster_failed; k++) {
            bool faults_here = o->do_faults && round == rounds - 1 && k == 1;
            if (!o->do_throughput && !faults_here)
                continue;
            bcluster_t c;
            if (o->do_throughput && rounds > 1)
                s_progress ("round %d of %d", round + 1, rounds);
            if (s_throughput_round (env, o, k, r, &c) != 0)
                r->cluster_failed = !bench_stop;
            else if (faults_here && !bench_stop) {
                s_progress ("(b) faults: %.0f validate/s from %d clients; %d kills, %d pauses of "
                            "%.1f s",
                            o->rate, o->stream_clients, o->kills, o->pauses, o->hold);
                r->faults = (faults_t *) calloc (1, sizeof (faults_t));
                s_faults (env, &c, o, r->faults);
                if (!r->faults->ran || c.failed || !s_cluster_alive (&c))
                    r->cluster_failed = !bench_stop;
            }
            s_cluster_destroy (&c, o->keep);
        }

    drive_check_t all;
    memset (&all, 0, sizeof (all));
    drive_check_merge (&all, &r->connect);
    for (int k = 0; k < CONFIGS; k++) {
        drive_check_merge (&all, &r->validate[k].check);
        drive_check_merge (&all, &r->append[k].check);
    }
    if (r->faults) {
        drive_check_merge (&all, &r->faults->connect);
        drive_check_merge (&all, &r->faults->check);
    }
    r->failures = all.failed;
    s_table (out, o, &meta, r);
    if (o->json)
        s_json (stdout, o, &meta, r);
    if (o->json_out) {
        FILE *file = fopen (o->json_out, "w");
        if (file) {
            s_json (file, o, &meta, r);
            fclose (file);
        } else
            fprintf (stderr, TOOL ": cannot write %s\n", o->json_out);
    }
    bool bad = r->failures > 0 || r->cluster_failed;
    s_env_destroy (env);
    free (r->faults);
    free (env);
    free (r);
    free (meta.command);
    if (bench_stop)
        return 130;
    return bad ? 1 : 0;
}
