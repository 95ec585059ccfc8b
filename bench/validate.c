/*  validate -- lh-bench --suite validate: the validate service against the
    echo baseline, end to end through one broker, in one run.

    Starts on 127.0.0.1 a CURVE lh-broker (agents' rate limit lifted) with
    WORKERS lh-echo and WORKERS lh-validator (the default policy) behind it,
    then for each agent count (1, 100, 1,000) starts the agent processes
    (lh-bench --agents, AGENTS_PER_PROC agents per process, one thread
    each) and runs, with the very same connected agents:

      echo            {"payload"} sized like the mean validate body
      validate warm   the 70/20/10 mix, cwd fixed: agents repeat calls, so
                      after the first of each the L1 cache answers
      validate cold   the same calls, each from a directory no request
                      named before: every one is a cache miss and goes
                      through policy_eval

    Each scenario: warmup, measured window, drain; closed loop, depth 1 per
    agent, no resends. Before that, lh-policy-bench (policy_eval alone) runs
    as a child and its figures are reported with the rest, and every mix
    entry is sent once warm and once cold to check its decision.

    Targets (the issue): validate p99 <= 1.2x echo p99 and validate
    throughput >= 0.8x echo throughput, at each agent count; reported for
    the warm cache (the realistic case) and the cold one.
*/
#include "bench.h"

#include "codec.h"
#include "jsonpack.h"
#include "launcher.h"
#include "lh_client.h"
#include "lh_config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#ifndef LH_BENCH_BROKER
#define LH_BENCH_BROKER ""
#endif
#ifndef LH_BENCH_ECHO
#define LH_BENCH_ECHO ""
#endif
#ifndef LH_BENCH_VALIDATOR
#define LH_BENCH_VALIDATOR ""
#endif
#ifndef LH_BENCH_POLICY_BENCH
#define LH_BENCH_POLICY_BENCH ""
#endif
#ifndef LH_BENCH_POLICY
#define LH_BENCH_POLICY ""
#endif
#ifndef LH_BENCH_MIX
#define LH_BENCH_MIX ""
#endif

#define TARGET_P99_RATIO 1.2 //  validate p99 <= 1.2x echo p99
#define TARGET_RPS_RATIO 0.8 //  validate throughput >= 0.8x echo

#define MAX_COUNTS   8
#define MAX_WORKERS  8
#define MAX_PROCS    64
#define MAX_MISMATCH 16
#define MAX_ROUNDS   16

typedef struct {
    int counts[MAX_COUNTS];
    int ncounts;
    double duration, warmup, drain;
    int workers;
    int capacity;
    int per_proc;
    int timeout_ms;
    int connect_s;
    int port_base;
    int policy_rounds;
    int rounds;
    int spool_sync; //  lh-validator --spool-sync
    bool warm, cold;
    bool json;
    const char *json_out;
    const char *source;
    const char *mix_path;
    const char *policy_path;
    const char *broker_bin, *echo_bin, *validator_bin, *policy_bench_bin;
    bool keep;
} vopts_t;

typedef struct {
    char tmp[64];
    char self_exe[PATH_MAX];
    char broker_bin[PATH_MAX], echo_bin[PATH_MAX], validator_bin[PATH_MAX];
    char policy_bench_bin[PATH_MAX];
    char keys[PATH_MAX]; //  the agents' keys, for the driver processes
    char broker_key[41];
    zcert_t *probe; //  role agent: readiness and the mix check
    char frontend[64], backend[64], pub[64];
    pid_t broker;
    pid_t echo[MAX_WORKERS], validator[MAX_WORKERS];
    char broker_log[PATH_MAX], echo_log[PATH_MAX], validator_log[PATH_MAX];
    bool failed;
} venv_t;

typedef struct {
    const char *service; //  echo | validate
    const char *cache;   //  - | warm | cold
    agents_mode_t mode;
    int agents, procs;
    bool ran, failed;
    double rps, p50, p99, p999, pmax, mean; //  us
    double cls_p50[MIX_CLASSES], cls_p99[MIX_CLASSES];
    uint64_t cls_ok[MIX_CLASSES];
    uint64_t requests, errors, lost, timeouts, send_failed, dropped, wrong, cached;
    uint64_t by_code[LOAD_ERR_KINDS];
    double req_mean, rep_mean; //  body bytes
    double cpu_broker, cpu_broker_top, cpu_broker_main, cpu_broker_io;
    char broker_top[24];
    double cpu_worker, cpu_worker_top, cpu_worker_main, cpu_worker_io; //  this service's workers
    char worker_top[24];
    double cpu_idle_workers; //  the other service's workers
    double cpu_agents, cpu_self, cpu_host, cpu_other;
    double cpu_us_per_req;
    double us_broker, us_worker, us_agents; //  CPU per reply
    double bound_rps;
    double hit_pct;
    bool has_ratio;
    double ratio_rps, ratio_p99;
    double ratio_cpu;     //  echo's broker + worker CPU per reply over ours
    agents_result_t *acc; //  raw figures, summed over rounds
    int rounds;
    double seconds; //  measured, all rounds
    double round_rps[MAX_ROUNDS];
} vscen_t;

typedef struct {
    bool ran;
    int exit_code;
    char *json; //  its output, as printed
    int nresults;
    struct {
        char name[32];
        uint64_t samples;
        double p50, p99, p999, max, mean;
    } results[8];
    char policy[64];
    uint64_t rules, calls;
} pbench_t;

typedef struct {
    int entries;
    int checked;
    int mismatches;
    char lines[MAX_MISMATCH][160];
    bool failed;
} check_t;

static FILE *s_out;
//  The broker, its workers, lh-policy-bench and the agent drivers
static launcher_t *s_launcher;

#define s_progress(...) bench_progress ("lh-bench validate", __VA_ARGS__)

//  --------------------------------------------------------------------------
//  Options

static const char *s_summary =
    "lh-bench --suite validate: end-to-end \"validate\" against the \"echo\" baseline\n"
    "through one CURVE lh-broker on 127.0.0.1, in one run: for each agent count, echo,\n"
    "validate with the L1 cache warm and validate with it defeated (a new cwd per\n"
    "request), with the same agents (closed loop, one request in flight each). Also\n"
    "runs lh-policy-bench. --rounds N repeats echo, warm, cold N times per agent count,\n"
    "interleaved; figures merge the rounds. --spool-sync 1 fdatasyncs each group of\n"
    "decisions before replying, 0 leaves them to the page cache (survives a killed\n"
    "validator, not a power cut).\n"
    "\n"
    "Targets: validate p99 <= 1.2x echo p99, validate throughput >= 0.8x echo,\n"
    "per agent count and cache mode. Exit status: 0 when every scenario ran (targets\n"
    "met or not), 1 when one could not run, 2 on usage errors, 130 when interrupted.";

static const lh_option_t s_options[] = {
    {"suite", "validate/suite", "validate", "the suite (lh-bench --suite)", false},
    {"agents", "validate/agents", "1,100,1000", "agent counts", false},
    {"duration", "validate/duration", "5", "measured seconds per scenario", false},
    {"warmup", "validate/warmup", "1", "unmeasured seconds before each", false},
    {"drain", "validate/drain", "3", "most seconds to wait for the last replies", false},
    {"cache", "validate/cache", "warm,cold", "warm, cold or both", false},
    {"rounds", "validate/rounds", "1", "repeat echo, warm, cold N times per agent count", false},
    {"workers", "validate/workers", "1", "lh-echo and lh-validator processes, each", false},
    {"capacity", "validate/capacity", "64", "requests each worker may hold", false},
    {"agents-per-proc", "validate/agents_per_proc", "250",
     "agents per driver process (one thread each)", false},
    {"timeout", "validate/timeout", "5000", "per-request deadline, ms, no resends", false},
    {"connect-timeout", "validate/connect_timeout", "60",
     "bound on connecting the agents of one count, s", false},
    {"policy-rounds", "validate/policy_rounds", "5", "lh-policy-bench rounds; 0 skips it", false},
    {"spool-sync", "validate/spool_sync", "1", "lh-validator --spool-sync (0 or 1)", false},
    {"mix", "validate/mix", LH_BENCH_MIX, "request mix", false},
    {"policy", "validate/policy", LH_BENCH_POLICY, "policy for lh-validator", false},
    {"port-base", "validate/port_base", "17100", "ports P..P+2 on 127.0.0.1", false},
    {"broker-bin", "validate/broker_bin", NULL, "lh-broker [next to lh-bench]", false},
    {"echo-bin", "validate/echo_bin", NULL, "lh-echo [next to lh-bench]", false},
    {"validator-bin", "validate/validator_bin", NULL, "lh-validator [next to lh-bench]", false},
    {"policy-bench-bin", "validate/policy_bench_bin", NULL, "lh-policy-bench [next to lh-bench]",
     false},
    {"source", "validate/source", NULL, "what was built (bench/run-validate passes the commit)",
     false},
    {"json", "validate/json", NULL, "JSON on stdout (the table goes to stderr)", true},
    {"json-out", "validate/json_out", NULL, "also write the JSON to FILE", false},
    {"keep", "validate/keep", NULL, "keep the temporary directory (keys, logs)", true},
    {NULL, NULL, NULL, NULL, false},
};

static bool
s_list_has (const char *list, const char *word)
{
    size_t len = strlen (word);
    for (const char *p = list; (p = strstr (p, word)); p += len)
        if ((p == list || p[-1] == ',') && (p[len] == 0 || p[len] == ','))
            return true;
    return false;
}

//  The options as lh_config_load reads them; the tree stays alive for
//  the strings in o
static int
s_parse (vopts_t *o, int argc, char **argv, zconfig_t **config_p)
{
    int exit_code = 0;
    zconfig_t *config =
        lh_config_load ("lh-bench --suite validate", s_summary, s_options, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    *config_p = config;
#define S(name) lh_config_str (config, "validate/" name, NULL)
#define I(name) (int) lh_config_int (config, "validate/" name, -1)
#define D(name) atof (lh_config_str (config, "validate/" name, "-1"))
#define B(name) lh_config_bool (config, "validate/" name, false)
    const char *cache = S ("cache");
    *o = (vopts_t){.duration = D ("duration"),
                   .warmup = D ("warmup"),
                   .drain = D ("drain"),
                   .workers = I ("workers"),
                   .capacity = I ("capacity"),
                   .per_proc = I ("agents_per_proc"),
                   .timeout_ms = I ("timeout"),
                   .connect_s = I ("connect_timeout"),
                   .port_base = I ("port_base"),
                   .policy_rounds = I ("policy_rounds"),
                   .rounds = I ("rounds"),
                   .spool_sync = I ("spool_sync"),
                   .warm = s_list_has (cache, "warm"),
                   .cold = s_list_has (cache, "cold"),
                   .json = B ("json"),
                   .keep = B ("keep"),
                   .json_out = S ("json_out"),
                   .source = S ("source"),
                   .mix_path = S ("mix"),
                   .policy_path = S ("policy"),
                   .broker_bin = S ("broker_bin"),
                   .echo_bin = S ("echo_bin"),
                   .validator_bin = S ("validator_bin"),
                   .policy_bench_bin = S ("policy_bench_bin")};
    for (const char *p = S ("agents"); *p && o->ncounts < MAX_COUNTS;) {
        o->counts[o->ncounts++] = atoi (p);
        p = strchr (p, ',');
        if (!p)
            break;
        p++;
    }
#undef S
#undef I
#undef D
#undef B
    bool counts_ok = o->ncounts > 0;
    for (int i = 0; i < o->ncounts; i++)
        counts_ok &= o->counts[i] >= 1 && o->counts[i] <= 20000;
    if (!counts_ok || o->duration <= 0 || o->warmup < 0 || o->drain < 0 || o->workers < 1 ||
        o->workers > MAX_WORKERS || o->capacity < 1 || o->capacity > LH_MAX_CAPACITY ||
        o->per_proc < 1 || o->timeout_ms < 1 || o->connect_s < 1 || o->policy_rounds < 0 ||
        o->spool_sync < 0 || o->spool_sync > 1 || o->policy_rounds > 99 || o->rounds < 1 ||
        o->rounds > MAX_ROUNDS || o->port_base < 1024 || o->port_base > 65000 ||
        (!o->warm && !o->cold)) {
        fprintf (stderr, "lh-bench: an option is out of range (try --help)\n");
        return 2;
    }
    return -1;
}

//  --------------------------------------------------------------------------
//  Environment

static bool
s_find (char *out, const char *given, const char *self_dir, const char *relative,
        const char *built_in, const char *what)
{
    if (proc_find_bin (out, PATH_MAX, given, self_dir, relative, built_in))
        return true;
    fprintf (stderr, "lh-bench: %s not found (tried %s)\n", what, out);
    return false;
}

static int
s_env_init (venv_t *env, const vopts_t *o, int max_agents)
{
    ssize_t n = readlink ("/proc/self/exe", env->self_exe, sizeof (env->self_exe) - 1);
    if (n <= 0)
        return -1;
    env->self_exe[n] = 0;
    char dir[PATH_MAX];
    snprintf (dir, sizeof (dir), "%s", env->self_exe);
    char *slash = strrchr (dir, '/');
    if (slash)
        *slash = 0;
    if (!s_find (env->broker_bin, o->broker_bin, dir, "../broker/lh-broker", LH_BENCH_BROKER,
                 "lh-broker (--broker-bin)") ||
        !s_find (env->echo_bin, o->echo_bin, dir, "../nodes/echo/lh-echo", LH_BENCH_ECHO,
                 "lh-echo (--echo-bin)") ||
        !s_find (env->validator_bin, o->validator_bin, dir, "../nodes/validator/lh-validator",
                 LH_BENCH_VALIDATOR, "lh-validator (--validator-bin)"))
        return -1;
    if (o->policy_rounds > 0 &&
        !s_find (env->policy_bench_bin, o->policy_bench_bin, dir, "lh-policy-bench",
                 LH_BENCH_POLICY_BENCH, "lh-policy-bench (--policy-bench-bin)"))
        return -1;
    s_launcher = launcher_new ("/tmp/lh-bench-validate.XXXXXX");
    if (!s_launcher)
        return -1;
    snprintf (env->tmp, sizeof (env->tmp), "%s", launcher_dir (s_launcher));
    launcher_set_bin (s_launcher, LAUNCHER_BROKER, env->broker_bin);
    launcher_set_bin (s_launcher, LAUNCHER_ECHO, env->echo_bin);
    launcher_set_bin (s_launcher, LAUNCHER_VALIDATOR, env->validator_bin);
    launcher_set_port_base (s_launcher, o->port_base);
    launcher_set_timeout (s_launcher, 15000);
    launcher_set_cert (s_launcher, LAUNCHER_ECHO, "echo");
    launcher_set_cert (s_launcher, LAUNCHER_VALIDATOR, "validator");
    launcher_keygen (s_launcher, "echo", "node");
    launcher_keygen (s_launcher, "validator", "node");
    snprintf (env->broker_log, sizeof (env->broker_log), "%s/broker.log", env->tmp);
    snprintf (env->broker_key, sizeof (env->broker_key), "%s", launcher_broker_key (s_launcher));

    env->probe = zcert_new ();
    snprintf (env->keys, sizeof (env->keys), "%s/agents.keys", env->tmp);
    FILE *keys = fopen (env->keys, "w");
    if (!keys ||
        launcher_add_principal (s_launcher, "probe", zcert_public_txt (env->probe), "agent") != 0) {
        fprintf (stderr, "lh-bench: cannot write keys in %s\n", env->tmp);
        if (keys)
            fclose (keys);
        return -1;
    }
    for (int i = 0; i < max_agents; i++) {
        char pub[41], sec[41], name[16];
        if (zmq_curve_keypair (pub, sec) != 0) {
            fprintf (stderr, "lh-bench: zmq_curve_keypair failed (libzmq without CURVE?)\n");
            fclose (keys);
            return -1;
        }
        snprintf (name, sizeof (name), "a%d", i);
        launcher_add_principal (s_launcher, name, pub, "agent");
        fprintf (keys, "%s %s\n", pub, sec);
    }
    fclose (keys);
    return 0;
}

static void
s_env_destroy (venv_t *env, bool keep)
{
    zcert_destroy (&env->probe);
    if (!s_launcher)
        return;
    if (keep || env->failed) {
        s_progress ("kept %s (keys, logs)", env->tmp);
        launcher_set_keep (s_launcher, true);
    }
    launcher_destroy (&s_launcher);
}

//  --------------------------------------------------------------------------
//  The cluster: one broker, WORKERS lh-echo, WORKERS lh-validator

static lh_client_t *
s_probe (venv_t *env, int timeout_ms)
{
    lh_connect_t conn = {
        .endpoint = env->frontend, .server_key = env->broker_key, .cert = env->probe};
    lh_client_t *client = lh_client_new (&conn);
    if (client) {
        lh_client_set_timeout (client, timeout_ms);
        lh_client_set_retries (client, 0);
    }
    return client;
}

static bool
s_cluster_alive (venv_t *env, const vopts_t *o)
{
    bool alive = launcher_alive (s_launcher, env->broker);
    for (int i = 0; i < o->workers; i++)
        alive &= launcher_alive (s_launcher, env->echo[i]) &&
                 launcher_alive (s_launcher, env->validator[i]);
    return alive;
}

static void
s_cluster_logs (venv_t *env)
{
    launcher_log_tail (env->broker_log, 12);
    launcher_log_tail (env->echo_log, 12);
    launcher_log_tail (env->validator_log, 12);
}

static int
s_cluster_start (venv_t *env, const vopts_t *o, int max_agents)
{
    char args[512];
    long qmax = 2L * max_agents;
    //  Bench agents are agents: lift their 500/s default
    snprintf (args, sizeof (args), "--queue-max %ld --log-level warn --set role/agent/rate=0",
              qmax > 1000 ? qmax : 1000);
    launcher_set_args (s_launcher, LAUNCHER_BROKER, args);
    snprintf (args, sizeof (args), "--capacity %d --log-level warn", o->capacity);
    launcher_set_args (s_launcher, LAUNCHER_ECHO, args);
    launcher_set_args (s_launcher, LAUNCHER_VALIDATOR, args);
    if (launcher_start_broker (s_launcher, NULL) != 0) {
        env->failed = !bench_stop;
        return -1;
    }
    env->broker = launcher_broker_pid (s_launcher);
    snprintf (env->frontend, sizeof (env->frontend), "%s", launcher_frontend (s_launcher));
    for (int i = 0; i < o->workers; i++) {
        env->echo[i] = launcher_start_echo (s_launcher, "echo", NULL, false);
        //  The durable spool on (issue 8): every decision written and
        //  fdatasync'd before its reply; no log serves "events" here, so
        //  the spool only grows (bounds lifted for the run)
        snprintf (args, sizeof (args),
                  "--home %s --frontend %s --spool-dir %s/spool-%d --spool-max 100000000 "
                  "--spool-max-mb 16384 --spool-sync %d",
                  MIX_HOME, env->frontend, env->tmp, i, o->spool_sync);
        env->validator[i] = launcher_start_validator (s_launcher, o->policy_path, args, false);
        if (env->echo[i] < 0 || env->validator[i] < 0)
            return -1;
    }
    snprintf (env->echo_log, sizeof (env->echo_log), "%s",
              launcher_log_path (s_launcher, env->echo[0]));
    snprintf (env->validator_log, sizeof (env->validator_log), "%s",
              launcher_log_path (s_launcher, env->validator[0]));
    if (launcher_wait_workers (s_launcher, "echo", o->workers, 15000) &&
        launcher_wait_workers (s_launcher, "validate", o->workers, 15000))
        return 0;
    if (!bench_stop) {
        fprintf (stderr, "lh-bench: the broker and its workers did not come up\n");
        s_cluster_logs (env);
        env->failed = true;
    }
    return -1;
}

static void
s_cluster_stop (venv_t *env, const vopts_t *o)
{
    (void) env;
    (void) o;
    launcher_stop_kind (s_launcher, LAUNCHER_ECHO, 2000);
    launcher_stop_kind (s_launcher, LAUNCHER_VALIDATOR, 2000);
    launcher_stop_kind (s_launcher, LAUNCHER_BROKER, 2000);
}

//  Every mix entry once warm and once cold through the real validator:
//  the decision must be the one the mix file expects
static void
s_check_mix (venv_t *env, const mix_t *mix, check_t *check)
{
    check->entries = mix->count;
    lh_client_t *client = s_probe (env, 5000);
    if (!client) {
        check->failed = true;
        return;
    }
    for (int i = 0; i < mix->count && !bench_stop; i++)
        for (int cold = 0; cold < 2; cold++) {
            char token[24], cwd[64];
            snprintf (token, sizeof (token), "check%015x", (unsigned) (i * 2 + cold));
            mix_cwd (cwd, sizeof (cwd), cold ? token : NULL);
            msgpack_sbuffer body;
            msgpack_sbuffer_init (&body);
            mix_body (mix, i, cwd, &body);
            lh_reply_t *reply = lh_client_call (client, "validate", body.data, body.size);
            msgpack_sbuffer_destroy (&body);
            char decision[32] = "(error)";
            if (reply && lh_reply_ok (reply))
                codec_str_copy (codec_map_get (lh_reply_root (reply), "decision"), decision,
                                sizeof (decision));
            else if (reply)
                snprintf (decision, sizeof (decision), "(%s)", lh_reply_code_name (reply));
            lh_reply_destroy (&reply);
            check->checked++;
            if (!streq (decision, mix->entry[i].expected)) {
                if (check->mismatches < MAX_MISMATCH)
                    snprintf (check->lines[check->mismatches],
                              sizeof (check->lines[check->mismatches]), "%s %s %s: %s, expected %s",
                              cold ? "cold" : "warm", mix->entry[i].tool, mix->entry[i].label,
                              decision, mix->entry[i].expected);
                check->mismatches++;
            }
        }
    lh_client_destroy (&client);
}

//  --------------------------------------------------------------------------
//  lh-policy-bench, run as a child; its JSON is kept and summarised

static int
s_read_all (int fd, char **out, int64_t until)
{
    size_t len = 0, cap = 4096;
    char *buf = (char *) malloc (cap);
    while (!bench_stop) {
        int64_t left = until - zclock_mono ();
        if (left <= 0)
            break;
        struct pollfd pfd = {fd, POLLIN, 0};
        int rc = poll (&pfd, 1, (int) (left > 200 ? 200 : left));
        if (rc < 0 && errno != EINTR)
            break;
        if (rc <= 0)
            continue;
        if (len + 1024 > cap) {
            cap *= 2;
            buf = (char *) realloc (buf, cap);
        }
        ssize_t n = read (fd, buf + len, cap - len - 1);
        if (n <= 0) {
            buf[len] = 0;
            *out = buf;
            return 0;
        }
        len += (size_t) n;
    }
    free (buf);
    return -1;
}

static double
s_num (const msgpack_object *map, const char *key)
{
    const msgpack_object *v = codec_map_get (map, key);
    if (!v)
        return 0;
    if (v->type == MSGPACK_OBJECT_FLOAT64 || v->type == MSGPACK_OBJECT_FLOAT32)
        return v->via.f64;
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return (double) v->via.u64;
    return 0;
}

static void
s_policy_bench (venv_t *env, const vopts_t *o, pbench_t *pb)
{
    char rounds[16];
    snprintf (rounds, sizeof (rounds), "%d", o->policy_rounds);
    char *argv[] = {env->policy_bench_bin,   "--json", "--rounds", rounds, "--policy",
                    (char *) o->policy_path, NULL};
    int out[2];
    if (pipe2 (out, O_CLOEXEC) != 0)
        return;
    char log[PATH_MAX];
    snprintf (log, sizeof (log), "%s/policy-bench.log", env->tmp);
    s_progress ("lh-policy-bench --rounds %d (policy_eval alone, one thread)", o->policy_rounds);
    pid_t pid = launcher_spawn (s_launcher, "lh-policy-bench", argv, log, -1, out[1]);
    close (out[1]);
    if (pid < 0) {
        close (out[0]);
        return;
    }
    char *text = NULL;
    int rc = s_read_all (out[0], &text, zclock_mono () + 120000);
    close (out[0]);
    for (int i = 0; i < 500 && launcher_alive (s_launcher, pid); i++)
        zclock_sleep (10);
    launcher_stop (s_launcher, pid, 1000);
    if (rc != 0 || !text)
        return;
    //  One JSON object on one line
    char *nl = strchr (text, '\n');
    if (nl)
        *nl = 0;
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    char why[256];
    msgpack_unpacked msg;
    msgpack_unpacked_init (&msg);
    size_t off = 0;
    if (jsonpack_from_json (text, strlen (text), &sbuf, why, sizeof (why)) == 0 &&
        msgpack_unpack_next (&msg, sbuf.data, sbuf.size, &off) == MSGPACK_UNPACK_SUCCESS) {
        const msgpack_object *root = &msg.data;
        pb->ran = true;
        pb->json = text;
        text = NULL;
        codec_str_copy (codec_map_get (root, "policy"), pb->policy, sizeof (pb->policy));
        pb->rules = (uint64_t) s_num (root, "rules");
        pb->calls = (uint64_t) s_num (root, "calls");
        const msgpack_object *results = codec_map_get (root, "results");
        if (results && results->type == MSGPACK_OBJECT_ARRAY)
            for (uint32_t i = 0; i < results->via.array.size && pb->nresults < 8; i++) {
                const msgpack_object *r = &results->via.array.ptr[i];
                codec_str_copy (codec_map_get (r, "name"), pb->results[pb->nresults].name,
                                sizeof (pb->results[0].name));
                pb->results[pb->nresults].samples = (uint64_t) s_num (r, "samples");
                pb->results[pb->nresults].p50 = s_num (r, "p50_us");
                pb->results[pb->nresults].p99 = s_num (r, "p99_us");
                pb->results[pb->nresults].p999 = s_num (r, "p999_us");
                pb->results[pb->nresults].max = s_num (r, "max_us");
                pb->results[pb->nresults].mean = s_num (r, "mean_us");
                pb->nresults++;
            }
    }
    msgpack_unpacked_destroy (&msg);
    msgpack_sbuffer_destroy (&sbuf);
    free (text);
}

//  --------------------------------------------------------------------------
//  Agent processes

typedef struct {
    pid_t pid;
    int to, from; //  its stdin, its stdout
    int first, count;
    char result[PATH_MAX];
} driver_proc_t;

static void
s_drivers_stop (driver_proc_t *procs, int nprocs)
{
    for (int p = 0; p < nprocs; p++)
        if (procs[p].to >= 0) {
            close (procs[p].to);
            procs[p].to = -1;
        }
    for (int p = 0; p < nprocs; p++) {
        for (int i = 0; i < 200 && launcher_alive (s_launcher, procs[p].pid); i++)
            zclock_sleep (10);
        launcher_stop (s_launcher, procs[p].pid, 1000);
        if (procs[p].from >= 0)
            close (procs[p].from);
        procs[p].from = -1;
    }
}

//  Starts the processes for count agents; returns how many started, with
//  the agents that answered in *ready
static int
s_drivers_start (venv_t *env, const vopts_t *o, int count, int payload, driver_proc_t *procs,
                 int *ready)
{
    int nprocs = (count + o->per_proc - 1) / o->per_proc;
    if (nprocs > MAX_PROCS)
        nprocs = MAX_PROCS;
    int per = (count + nprocs - 1) / nprocs;
    char payload_s[16], timeout_s[16], connect_s[16];
    snprintf (payload_s, sizeof (payload_s), "%d", payload);
    snprintf (timeout_s, sizeof (timeout_s), "%d", o->timeout_ms);
    snprintf (connect_s, sizeof (connect_s), "%d", o->connect_s * 1000);
    int started = 0;
    for (int p = 0; p < nprocs; p++) {
        driver_proc_t *d = &procs[started];
        d->first = p * per;
        d->count = count - d->first < per ? count - d->first : per;
        if (d->count <= 0)
            break;
        int in[2], out[2];
        if (pipe2 (in, O_CLOEXEC) != 0)
            break;
        if (pipe2 (out, O_CLOEXEC) != 0) {
            close (in[0]);
            close (in[1]);
            break;
        }
        char first_s[16], count_s[16], log[PATH_MAX];
        snprintf (first_s, sizeof (first_s), "%d", d->first);
        snprintf (count_s, sizeof (count_s), "%d", d->count);
        snprintf (log, sizeof (log), "%s/agents-%d-%d.log", env->tmp, count, p);
        snprintf (d->result, sizeof (d->result), "%s/agents-%d-%d.result", env->tmp, count, p);
        char *argv[] = {env->self_exe, "--agents", env->frontend, env->broker_key,
                        env->keys,     first_s,    count_s,       (char *) o->mix_path,
                        payload_s,     timeout_s,  connect_s,     d->result,
                        NULL};
        d->pid = launcher_spawn (s_launcher, "agents", argv, log, in[0], out[1]);
        close (in[0]);
        close (out[1]);
        if (d->pid < 0) {
            close (in[1]);
            close (out[0]);
            break;
        }
        d->to = in[1];
        d->from = out[0];
        started++;
    }
    *ready = 0;
    int64_t until = zclock_mono () + (int64_t) o->connect_s * 1000 + 10000;
    for (int p = 0; p < started; p++) {
        char line[128];
        int ok = 0, failed = 0;
        unsigned long long ms = 0;
        if (proc_read_line (procs[p].from, line, sizeof (line), until) == 0 &&
            sscanf (line, "ready %d %d %llu", &ok, &failed, &ms) == 3)
            *ready += ok;
    }
    return started;
}

//  --------------------------------------------------------------------------
//  One scenario

typedef struct {
    cpu_snap_t broker;
    cpu_snap_t echo[MAX_WORKERS], validator[MAX_WORKERS];
    cpu_snap_t self;
    cpu_snap_t drivers[MAX_PROCS];
    host_snap_t host;
} vsnap_t;

static void
s_snap (vsnap_t *s, venv_t *env, const vopts_t *o, driver_proc_t *procs, int nprocs)
{
    host_snap (&s->host);
    cpu_snap (&s->broker, env->broker);
    for (int i = 0; i < o->workers; i++) {
        cpu_snap (&s->echo[i], env->echo[i]);
        cpu_snap (&s->validator[i], env->validator[i]);
    }
    cpu_snap (&s->self, getpid ());
    for (int p = 0; p < nprocs; p++)
        cpu_snap (&s->drivers[p], procs[p].pid);
}

//  One measured window of scenario s, added to what earlier rounds gathered
static void
s_round (venv_t *env, const vopts_t *o, driver_proc_t *procs, int nprocs, vscen_t *s, int round)
{
    char of[32] = "";
    if (o->rounds > 1)
        snprintf (of, sizeof (of), "  round %d/%d", round + 1, o->rounds);
    s_progress ("%5d agents  %-8s %-4s  %.1f s (+%.1f s warmup)%s", s->agents, s->service, s->cache,
                o->duration, o->warmup, of);
    uint64_t t0 = bench_now_ns () + (uint64_t) (o->warmup * 1e9);
    uint64_t t1 = t0 + (uint64_t) (o->duration * 1e9);
    uint64_t seed = bench_now_ns () ^ ((uint64_t) getpid () << 32);
    unsigned nonce = (unsigned) mix_rand (&seed);
    static const char *modes[] = {"echo", "warm", "cold"};
    bool failed = false;
    for (int p = 0; p < nprocs; p++) {
        unlink (procs[p].result);
        char line[160];
        int len = snprintf (line, sizeof (line), "run %s %llu %llu %llu %u\n", modes[s->mode],
                            (unsigned long long) t0, (unsigned long long) t1,
                            (unsigned long long) (o->drain * 1000), nonce);
        if (write (procs[p].to, line, (size_t) len) != len)
            failed = true;
    }
    vsnap_t *snap = (vsnap_t *) calloc (2, sizeof (vsnap_t));
    proc_sleep_until (t0);
    s_snap (&snap[0], env, o, procs, nprocs);
    proc_sleep_until (t1);
    s_snap (&snap[1], env, o, procs, nprocs);

    agents_result_t *sum = s->acc;
    agents_result_t *one = (agents_result_t *) calloc (1, sizeof (agents_result_t));
    int64_t until = zclock_mono () + (int64_t) (o->drain * 1000) + 10000;
    int reported = 0;
    uint64_t ok_before = 0, ok_after = 0;
    for (int c = 0; c < MIX_CLASSES; c++)
        ok_before += sum->ok[c];
    for (int p = 0; p < nprocs; p++) {
        char line[64];
        if (proc_read_line (procs[p].from, line, sizeof (line), until) != 0 ||
            !streq (line, "done"))
            continue;
        FILE *file = fopen (procs[p].result, "rb");
        bool read_ok = file && fread (one, sizeof (*one), 1, file) == 1;
        if (file)
            fclose (file);
        if (!read_ok)
            continue;
        reported++;
        for (int c = 0; c < MIX_CLASSES; c++) {
            hist_merge (&sum->hist[c], &one->hist[c]);
            sum->ok[c] += one->ok[c];
            sum->wrong[c] += one->wrong[c];
        }
        sum->cached += one->cached;
        sum->total_ok += one->total_ok;
        sum->errors += one->errors;
        sum->send_failed += one->send_failed;
        sum->timeouts += one->timeouts;
        sum->lost += one->lost;
        sum->dropped += one->dropped;
        for (int k = 0; k < LOAD_ERR_KINDS; k++)
            sum->by_code[k] += one->by_code[k];
        sum->req_bytes += one->req_bytes;
        sum->rep_bytes += one->rep_bytes;
        sum->sent += one->sent;
    }
    free (one);
    for (int c = 0; c < MIX_CLASSES; c++)
        ok_after += sum->ok[c];
    double seconds = (double) (t1 - t0) / 1e9;
    if (failed || reported != nprocs) {
        if (!bench_stop)
            s->failed = true;
        free (snap);
        return;
    }
    if (round < MAX_ROUNDS)
        s->round_rps[round] = (double) (ok_after - ok_before) / seconds;
    s->rounds++;
    s->seconds += seconds;

    //  CPU over the window, summed over rounds (averaged in s_finish)
    double top = 0;
    char name[24];
    s->cpu_broker += cpu_percent (&snap[0].broker, &snap[1].broker, &top, name, sizeof (name));
    s->cpu_broker_top += top;
    snprintf (s->broker_top, sizeof (s->broker_top), "%s", name);
    //  Main threads keep the program's name; libzmq names its I/O threads
    s->cpu_broker_main += cpu_percent_prefix (&snap[0].broker, &snap[1].broker, "lh-");
    s->cpu_broker_io += cpu_percent_prefix (&snap[0].broker, &snap[1].broker, "ZMQbg/IO");
    double worker_top = 0;
    for (int i = 0; i < o->workers; i++) {
        bool echo = s->mode == AGENTS_ECHO;
        const cpu_snap_t *a = echo ? &snap[0].echo[i] : &snap[0].validator[i];
        const cpu_snap_t *b = echo ? &snap[1].echo[i] : &snap[1].validator[i];
        const cpu_snap_t *ia = echo ? &snap[0].validator[i] : &snap[0].echo[i];
        const cpu_snap_t *ib = echo ? &snap[1].validator[i] : &snap[1].echo[i];
        s->cpu_worker += cpu_percent (a, b, &top, name, sizeof (name));
        s->cpu_worker_main += cpu_percent_prefix (a, b, "lh-");
        s->cpu_worker_io += cpu_percent_prefix (a, b, "ZMQbg/IO");
        if (top >= worker_top) {
            worker_top = top;
            snprintf (s->worker_top, sizeof (s->worker_top), "%s", name);
        }
        s->cpu_idle_workers += cpu_percent (ia, ib, NULL, NULL, 0);
    }
    s->cpu_worker_top += worker_top;
    for (int p = 0; p < nprocs; p++)
        s->cpu_agents += cpu_percent (&snap[0].drivers[p], &snap[1].drivers[p], NULL, NULL, 0);
    s->cpu_self += cpu_percent (&snap[0].self, &snap[1].self, NULL, NULL, 0);
    s->cpu_host += host_busy_percent (&snap[0].host, &snap[1].host);
    free (snap);
}

//  Figures of scenario s from what its rounds gathered
static void
s_finish (vscen_t *s)
{
    s->ran = !bench_stop && !s->failed && s->rounds > 0;
    if (!s->ran)
        return;
    agents_result_t *sum = s->acc;
    hist_t *all = (hist_t *) malloc (sizeof (hist_t));
    hist_reset (all);
    for (int c = 0; c < MIX_CLASSES; c++) {
        hist_merge (all, &sum->hist[c]);
        s->cls_ok[c] = sum->ok[c];
        s->cls_p50[c] = (double) hist_percentile (&sum->hist[c], 50) / 1000.0;
        s->cls_p99[c] = (double) hist_percentile (&sum->hist[c], 99) / 1000.0;
        s->wrong += sum->wrong[c];
    }
    s->requests = all->count;
    s->rps = (double) all->count / s->seconds;
    s->p50 = (double) hist_percentile (all, 50) / 1000.0;
    s->p99 = (double) hist_percentile (all, 99) / 1000.0;
    s->p999 = (double) hist_percentile (all, 99.9) / 1000.0;
    s->pmax = (double) all->max / 1000.0;
    s->mean = hist_mean (all) / 1000.0;
    s->errors = sum->errors;
    s->lost = sum->lost;
    s->timeouts = sum->timeouts;
    s->send_failed = sum->send_failed;
    s->dropped = sum->dropped;
    s->cached = sum->cached;
    memcpy (s->by_code, sum->by_code, sizeof (s->by_code));
    s->req_mean = sum->sent ? (double) sum->req_bytes / (double) sum->sent : 0;
    s->rep_mean = all->count ? (double) sum->rep_bytes / (double) all->count : 0;
    s->hit_pct =
        s->mode != AGENTS_ECHO && all->count ? 100.0 * (double) s->cached / (double) all->count : 0;
    double n = s->rounds;
    s->cpu_broker /= n;
    s->cpu_broker_top /= n;
    s->cpu_broker_main /= n;
    s->cpu_broker_io /= n;
    s->cpu_worker_main /= n;
    s->cpu_worker_io /= n;
    s->cpu_worker /= n;
    s->cpu_worker_top /= n;
    s->cpu_idle_workers /= n;
    s->cpu_agents /= n;
    s->cpu_self /= n;
    s->cpu_host /= n;
    double ours = s->cpu_broker + s->cpu_worker + s->cpu_idle_workers + s->cpu_agents + s->cpu_self;
    s->cpu_other = s->cpu_host > ours ? s->cpu_host - ours : 0;
    if (s->requests) {
        double per = s->seconds / (double) s->requests * 1e6 / 100.0;
        s->cpu_us_per_req = ours * per;
        s->us_broker = s->cpu_broker * per;
        s->us_worker = s->cpu_worker * per;
        s->us_agents = s->cpu_agents * per;
    }
    if (s->cpu_worker_top > 5)
        s->bound_rps = s->rps * 100.0 / s->cpu_worker_top;
    free (all);
}

//  --------------------------------------------------------------------------
//  Report

typedef struct {
    char name[96];
    bool known;
    double value, limit;
    bool at_least;
} vtarget_t;

static bool
s_met (const vtarget_t *t)
{
    return t->known && (t->at_least ? t->value >= t->limit : t->value <= t->limit);
}

static void
s_table (FILE *out, const vopts_t *o, const mix_t *mix, double mean_body, int payload,
         const check_t *check, const pbench_t *pb, const vscen_t *scen, int nscen,
         const vtarget_t *targets, int ntargets, const char *load_before, double host_before)
{
    char when[64];
    time_t now = time (NULL);
    strftime (when, sizeof (when), "%Y-%m-%d %H:%M:%S", localtime (&now));
    fprintf (out,
             "\nlh-bench --suite validate  %s  %ld cores  %d x %.1f s per scenario (+%.1f s "
             "warmup each)  CURVE broker, %d lh-echo + %d lh-validator (capacity %d)\n",
             when, sysconf (_SC_NPROCESSORS_ONLN), o->rounds, o->duration, o->warmup, o->workers,
             o->workers, o->capacity);
    if (o->source)
        fprintf (out, "source: %s\n", o->source);
    fprintf (out,
             "host before the run: loadavg %s; %.0f%% CPU busy (100 = one core) over 1 s with "
             "nothing of ours running\n",
             load_before, host_before);
    fprintf (out,
             "mix: %d%% safe (%d calls) / %d%% risky (%d) / %d%% complex (%d) from %s; bodies: "
             "validate %.0f B mean, echo %d B payload\n",
             mix_class_pct[0], mix->in_class[0], mix_class_pct[1], mix->in_class[1],
             mix_class_pct[2], mix->in_class[2], o->mix_path, mean_body, payload);
    if (check->failed)
        fprintf (out, "decision check: FAILED (no answer)\n");
    else if (check->mismatches == 0)
        fprintf (out, "decision check: all %d entries, warm and cold, as expected\n",
                 check->entries);
    else {
        fprintf (out, "decision check: %d of %d answers NOT as the mix file expects:\n",
                 check->mismatches, check->checked);
        for (int i = 0; i < check->mismatches && i < MAX_MISMATCH; i++)
            fprintf (out, "  %s\n", check->lines[i]);
    }

    fprintf (out, "\n%6s %-8s %-5s %9s %9s %9s %9s %9s %7s %6s %5s %6s   %-6s %-6s\n", "agents",
             "service", "cache", "req/s", "p50 us", "p99 us", "p99.9 us", "max us", "errors",
             "wrong", "hit%", "B req", "thr", "p99  srv cpu");
    fprintf (out, "%6s %-8s %-5s %9s %9s %9s %9s %9s %7s %6s %5s %6s   %-13s\n", "", "", "", "", "",
             "", "", "", "", "", "", "/rep", "vs echo");
    for (int i = 0; i < nscen; i++) {
        const vscen_t *s = &scen[i];
        if (!s->ran) {
            if (s->failed)
                fprintf (out, "%6d %-8s %-5s %9s\n", s->agents, s->service, s->cache, "FAILED");
            continue;
        }
        char ratio[32] = "-", hit[16] = "-", bytes[24];
        if (s->has_ratio)
            snprintf (ratio, sizeof (ratio), "%.2fx  %.2fx  %.2fx", s->ratio_rps, s->ratio_p99,
                      s->ratio_cpu);
        if (s->mode != AGENTS_ECHO)
            snprintf (hit, sizeof (hit), "%.0f", s->hit_pct);
        snprintf (bytes, sizeof (bytes), "%.0f/%.0f", s->req_mean, s->rep_mean);
        fprintf (out, "%6d %-8s %-5s %9.0f %9.1f %9.1f %9.1f %9.1f %7llu %6llu %5s %6s   %s\n",
                 s->agents, s->service, s->cache, s->rps, s->p50, s->p99, s->p999, s->pmax,
                 (unsigned long long) s->errors, (unsigned long long) s->wrong, hit, bytes, ratio);
    }

    if (o->rounds > 1) {
        fprintf (out, "\nreq/s by round (the rows above merge them):\n");
        for (int i = 0; i < nscen; i++) {
            const vscen_t *s = &scen[i];
            if (!s->ran)
                continue;
            fprintf (out, "%6d %-8s %-5s", s->agents, s->service, s->cache);
            for (int r = 0; r < s->rounds && r < MAX_ROUNDS; r++)
                fprintf (out, " %9.0f", s->round_rps[r]);
            fprintf (out, "\n");
        }
    }

    fprintf (out, "\n%6s %-8s %-5s | %-19s | %-19s | %6s %5s %5s %5s | %-27s | %7s\n", "agents",
             "service", "cache", "CPU% broker", "CPU% worker(s)", "agents", "idle", "host", "other",
             "CPU us per reply", "worker");
    fprintf (out, "%6s %-8s %-5s | %-19s | %-19s | %6s %5s %5s %5s | %6s %6s %6s %6s | %7s\n", "",
             "", "", "total ( main    io)", "total ( main    io)", "", "wrkr", "", "", "broker",
             "worker", "agents", "all", "bound/s");
    for (int i = 0; i < nscen; i++) {
        const vscen_t *s = &scen[i];
        if (!s->ran)
            continue;
        fprintf (
            out,
            "%6d %-8s %-5s | %5.0f (%5.0f %5.0f) | %5.0f (%5.0f %5.0f) | %6.0f %5.0f %5.0f %5.0f | "
            "%6.1f %6.1f %6.1f %6.1f | %7.0f\n",
            s->agents, s->service, s->cache, s->cpu_broker, s->cpu_broker_main, s->cpu_broker_io,
            s->cpu_worker, s->cpu_worker_main, s->cpu_worker_io, s->cpu_agents, s->cpu_idle_workers,
            s->cpu_host, s->cpu_other, s->us_broker, s->us_worker, s->us_agents, s->cpu_us_per_req,
            s->bound_rps);
    }

    fprintf (out, "\nvalidate latency by class (us):\n%6s %-5s |", "agents", "cache");
    for (int c = 0; c < MIX_CLASSES; c++)
        fprintf (out, " %-7s %8s %9s %9s |", mix_class_name[c], "share", "p50", "p99");
    fprintf (out, "\n");
    for (int i = 0; i < nscen; i++) {
        const vscen_t *s = &scen[i];
        if (!s->ran || s->mode == AGENTS_ECHO)
            continue;
        fprintf (out, "%6d %-5s |", s->agents, s->cache);
        for (int c = 0; c < MIX_CLASSES; c++)
            fprintf (out, " %-7s %7.1f%% %9.1f %9.1f |", "",
                     s->requests ? 100.0 * (double) s->cls_ok[c] / (double) s->requests : 0,
                     s->cls_p50[c], s->cls_p99[c]);
        fprintf (out, "\n");
    }
    for (int i = 0; i < nscen; i++) {
        const vscen_t *s = &scen[i];
        if (!s->ran || (!s->errors && !s->dropped))
            continue;
        fprintf (out, "  errors in %d agents %s %s:", s->agents, s->service, s->cache);
        for (int k = 0; k < LOAD_ERR_KINDS; k++)
            if (s->by_code[k])
                fprintf (out, " %s %llu", codec_err_name ((lh_err_t) k),
                         (unsigned long long) s->by_code[k]);
        if (s->lost)
            fprintf (out, " lost %llu", (unsigned long long) s->lost);
        if (s->send_failed)
            fprintf (out, " send_failed %llu", (unsigned long long) s->send_failed);
        if (s->dropped)
            fprintf (out, " late/unmatched replies %llu", (unsigned long long) s->dropped);
        fprintf (out, "\n");
    }

    if (pb->ran) {
        fprintf (out,
                 "\nlh-policy-bench (policy_eval alone, one thread, %llu corpus calls, policy %s, "
                 "%llu rules; median of %d rounds):\n",
                 (unsigned long long) pb->calls, pb->policy, (unsigned long long) pb->rules,
                 o->policy_rounds);
        fprintf (out, "  %-18s %9s %9s %9s %9s %9s %9s\n", "configuration", "samples", "p50 us",
                 "p99 us", "p99.9 us", "max us", "mean us");
        for (int i = 0; i < pb->nresults; i++)
            fprintf (out, "  %-18s %9llu %9.2f %9.2f %9.2f %9.1f %9.2f\n", pb->results[i].name,
                     (unsigned long long) pb->results[i].samples, pb->results[i].p50,
                     pb->results[i].p99, pb->results[i].p999, pb->results[i].max,
                     pb->results[i].mean);
    } else if (o->policy_rounds > 0)
        fprintf (out, "\nlh-policy-bench: FAILED (see the kept directory)\n");

    fprintf (out, "\n%-58s %9s %9s  %s\n", "target", "measured", "target", "result");
    for (int i = 0; i < ntargets; i++) {
        const vtarget_t *t = &targets[i];
        char value[32], limit[32];
        if (t->known)
            snprintf (value, sizeof (value), "%.3fx", t->value);
        else
            snprintf (value, sizeof (value), "n/a");
        snprintf (limit, sizeof (limit), "%s%.1fx", t->at_least ? ">=" : "<=", t->limit);
        fprintf (out, "%-58s %9s %9s  %s\n", t->name, value, limit,
                 !t->known   ? "not measured"
                 : s_met (t) ? "met"
                             : "MISSED");
    }
    fputs (
        "\nClosed loop, one request in flight per agent, no resends; latency from before the send "
        "to after\n"
        "the reply is decoded (monotonic clock, log-linear histogram, <0.8% error). vs echo: "
        "validate\n"
        "over echo, same agents and connections, this run; srv cpu: echo's broker + worker CPU per "
        "reply\n"
        "over validate's, the throughput ratio to expect where the servers' CPU is the limit (not "
        "a\n"
        "target). hit%: replies that said cached. wrong: decisions not as the mix file expects. B\n"
        "req/rep: mean body bytes. CPU% (100 = one core) over the window, from "
        "/proc/<pid>/task/*/stat;\n"
        "main = the program's thread, io = its ZeroMQ I/O thread (CURVE runs there); worker(s) = "
        "the\n"
        "processes serving the scenario's service, idle wrkr = the other service's, agents = the "
        "driver\n"
        "processes, host = whole machine, other = host minus all of ours (other work on the "
        "machine). CPU\n"
        "us per reply: CPU time over ok replies (all = every process of ours). worker bound/s: "
        "req/s x\n"
        "100 / the busiest worker thread's %, where it would saturate with a core of its own (a\n"
        "projection).\n",
        out);
}

static void
s_json_scen (FILE *out, const vscen_t *s)
{
    fprintf (out,
             "{\"agents\": %d, \"service\": \"%s\", \"cache\": \"%s\", \"processes\": %d, \"ran\": "
             "%s",
             s->agents, s->service, s->cache, s->procs, s->ran ? "true" : "false");
    if (!s->ran) {
        fprintf (out, "}");
        return;
    }
    fprintf (out,
             ", \"requests\": %llu, \"throughput_rps\": %.1f, \"p50_us\": %.2f, \"p99_us\": %.2f, "
             "\"p999_us\": %.2f, \"max_us\": %.2f, \"mean_us\": %.2f, \"errors\": %llu, "
             "\"timeouts\": %llu, \"lost\": %llu, \"send_failed\": %llu, \"unmatched_replies\": "
             "%llu, \"errors_by_code\": {",
             (unsigned long long) s->requests, s->rps, s->p50, s->p99, s->p999, s->pmax, s->mean,
             (unsigned long long) s->errors, (unsigned long long) s->timeouts,
             (unsigned long long) s->lost, (unsigned long long) s->send_failed,
             (unsigned long long) s->dropped);
    bool first = true;
    for (int k = 0; k < LOAD_ERR_KINDS; k++)
        if (s->by_code[k]) {
            fprintf (out, "%s\"%s\": %llu", first ? "" : ", ", codec_err_name ((lh_err_t) k),
                     (unsigned long long) s->by_code[k]);
            first = false;
        }
    fprintf (out, "}, \"request_body_bytes\": %.1f, \"reply_body_bytes\": %.1f", s->req_mean,
             s->rep_mean);
    if (s->mode != AGENTS_ECHO) {
        fprintf (out, ", \"cache_hit_pct\": %.2f, \"wrong_decisions\": %llu, \"by_class\": {",
                 s->hit_pct, (unsigned long long) s->wrong);
        for (int c = 0; c < MIX_CLASSES; c++)
            fprintf (out, "%s\"%s\": {\"requests\": %llu, \"p50_us\": %.2f, \"p99_us\": %.2f}",
                     c ? ", " : "", mix_class_name[c], (unsigned long long) s->cls_ok[c],
                     s->cls_p50[c], s->cls_p99[c]);
        fprintf (out, "}");
    }
    fprintf (out,
             ", \"cpu_pct\": {\"broker\": %.1f, \"broker_busiest_thread\": \"%s\", "
             "\"broker_busiest_thread_pct\": %.1f, \"broker_main\": %.1f, \"broker_io\": %.1f, "
             "\"worker\": %.1f, \"worker_busiest_thread\": \"%s\", \"worker_busiest_thread_pct\": "
             "%.1f, \"worker_main\": %.1f, \"worker_io\": %.1f, \"idle_workers\": %.1f, "
             "\"agents\": %.1f, \"bench\": %.1f, \"host\": %.1f, \"other\": %.1f}, "
             "\"cpu_us_per_request\": {\"broker\": %.2f, \"worker\": %.2f, \"agents\": %.2f, "
             "\"all\": %.2f}, \"worker_bound_rps\": %.0f",
             s->cpu_broker, s->broker_top, s->cpu_broker_top, s->cpu_broker_main, s->cpu_broker_io,
             s->cpu_worker, s->worker_top, s->cpu_worker_top, s->cpu_worker_main, s->cpu_worker_io,
             s->cpu_idle_workers, s->cpu_agents, s->cpu_self, s->cpu_host, s->cpu_other,
             s->us_broker, s->us_worker, s->us_agents, s->cpu_us_per_req, s->bound_rps);
    if (s->has_ratio)
        fprintf (out,
                 ", \"ratio_throughput\": %.4f, \"ratio_p99\": %.4f, "
                 "\"ratio_server_cpu_per_reply\": %.4f",
                 s->ratio_rps, s->ratio_p99, s->ratio_cpu);
    fprintf (out, ", \"rounds_throughput_rps\": [");
    for (int r = 0; r < s->rounds && r < MAX_ROUNDS; r++)
        fprintf (out, "%s%.1f", r ? ", " : "", s->round_rps[r]);
    fprintf (out, "]}");
}

static void
s_json (FILE *out, const vopts_t *o, const mix_t *mix, double mean_body, int payload,
        const check_t *check, const pbench_t *pb, const vscen_t *scen, int nscen,
        const vtarget_t *targets, int ntargets, const char *load_before, double host_before)
{
    fprintf (out, "{\n  \"tool\": \"lh-bench\",\n  \"suite\": \"validate\",\n  \"time\": %lld,\n",
             (long long) time (NULL));
    fprintf (out, "  \"source\": ");
    bench_json_string (out, o->source ? o->source : "");
    fprintf (out, ",\n  \"host_before\": {\"loadavg\": ");
    bench_json_string (out, load_before);
    fprintf (out, ", \"busy_pct\": %.1f},\n", host_before);
    fprintf (
        out,
        "  \"config\": {\"cores\": %ld, \"security\": \"curve\", \"duration_s\": %.3f, "
        "\"warmup_s\": %.3f, \"drain_s\": %.3f, \"rounds\": %d, \"workers\": %d, \"capacity\": %d, "
        "\"agents_per_process\": %d, \"timeout_ms\": %d, \"depth\": 1, \"policy\": ",
        sysconf (_SC_NPROCESSORS_ONLN), o->duration, o->warmup, o->drain, o->rounds, o->workers,
        o->capacity, o->per_proc, o->timeout_ms);
    bench_json_string (out, o->policy_path);
    fprintf (out, ", \"mix\": ");
    bench_json_string (out, o->mix_path);
    fprintf (out,
             ", \"mix_pct\": {\"safe\": %d, \"risky\": %d, \"complex\": %d}, \"mix_entries\": "
             "{\"safe\": %d, \"risky\": %d, \"complex\": %d}, \"validate_body_bytes\": %.1f, "
             "\"echo_payload_bytes\": %d},\n",
             mix_class_pct[0], mix_class_pct[1], mix_class_pct[2], mix->in_class[0],
             mix->in_class[1], mix->in_class[2], mean_body, payload);
    fprintf (out,
             "  \"decision_check\": {\"checked\": %d, \"mismatches\": %d, \"failed\": %s, "
             "\"details\": [",
             check->checked, check->mismatches, check->failed ? "true" : "false");
    for (int i = 0; i < check->mismatches && i < MAX_MISMATCH; i++) {
        fprintf (out, "%s", i ? ", " : "");
        bench_json_string (out, check->lines[i]);
    }
    fprintf (out, "]},\n  \"scenarios\": [");
    bool first = true;
    for (int i = 0; i < nscen; i++) {
        if (!scen[i].ran && !scen[i].failed)
            continue;
        fprintf (out, "%s\n    ", first ? "" : ",");
        first = false;
        s_json_scen (out, &scen[i]);
    }
    fprintf (out, "\n  ],\n  \"policy_bench\": %s,\n", pb->ran && pb->json ? pb->json : "null");
    fprintf (out, "  \"targets\": [");
    for (int i = 0; i < ntargets; i++) {
        const vtarget_t *t = &targets[i];
        fprintf (out, "%s\n    {\"name\": \"%s\", ", i ? "," : "", t->name);
        if (t->known)
            fprintf (out, "\"value\": %.4f, ", t->value);
        else
            fprintf (out, "\"value\": null, ");
        fprintf (out, "\"limit\": %.4f, \"op\": \"%s\", \"met\": %s}", t->limit,
                 t->at_least ? ">=" : "<=",
                 !t->known   ? "null"
                 : s_met (t) ? "true"
                             : "false");
    }
    fprintf (out, "\n  ]\n}\n");
}

//  --------------------------------------------------------------------------

//  Payload that makes the echo body {"payload": str} as large as target
static int
s_echo_payload (double target)
{
    for (int p = 0; p < 4096; p++) {
        msgpack_sbuffer buf;
        msgpack_sbuffer_init (&buf);
        load_body (&buf, (size_t) p);
        size_t size = buf.size;
        msgpack_sbuffer_destroy (&buf);
        if ((double) size >= target - 0.5)
            return p;
    }
    return 256;
}

static int s_suite (vopts_t o);

int
validate_main (int argc, char **argv)
{
    vopts_t o;
    zconfig_t *config = NULL;
    int rc = s_parse (&o, argc, argv, &config);
    if (rc < 0)
        rc = s_suite (o);
    zconfig_destroy (&config);
    return rc;
}

static int
s_suite (vopts_t o)
{
    s_out = o.json ? stderr : stdout;
    zsys_init ();
    zsys_set_logsystem (false);
    proc_init ();
    long nofile = proc_raise_nofile (65536);
    zsys_set_max_sockets (0);
    zsys_set_linger (0);
    if (!zmq_has ("curve")) {
        fprintf (stderr, "lh-bench: this libzmq has no CURVE\n");
        return 1;
    }
    int max_agents = 0;
    for (int i = 0; i < o.ncounts; i++)
        if (o.counts[i] > max_agents)
            max_agents = o.counts[i];
    //  The broker holds a connection per agent; each driver process two
    //  descriptors per agent
    if (max_agents + 256 > nofile || (long) o.per_proc * 2 + 256 > nofile)
        s_progress ("warning: descriptor limit %ld is tight for %d agents", nofile, max_agents);

    mix_t mix;
    char err[512];
    if (mix_load (&mix, o.mix_path, err, sizeof (err)) != 0) {
        fprintf (stderr, "lh-bench: %s\n", err);
        return 1;
    }
    double mean_body = mix_mean_body (&mix);
    int payload = s_echo_payload (mean_body);

    venv_t env;
    memset (&env, 0, sizeof (env));
    if (s_env_init (&env, &o, max_agents) != 0) {
        env.failed = true;
        s_env_destroy (&env, o.keep);
        mix_destroy (&mix);
        return 1;
    }
    s_progress ("broker %s, echo %s, validator %s, work dir %s", env.broker_bin, env.echo_bin,
                env.validator_bin, env.tmp);

    //  What else the machine is doing, before we add anything
    char load_before[64] = "?";
    proc_loadavg (load_before, sizeof (load_before));
    double host_before = host_busy_over (1000);

    pbench_t pb;
    memset (&pb, 0, sizeof (pb));
    if (o.policy_rounds > 0 && !bench_stop)
        s_policy_bench (&env, &o, &pb);
    bool any_failed = o.policy_rounds > 0 && !pb.ran;

    vscen_t scen[MAX_COUNTS * 3];
    memset (scen, 0, sizeof (scen));
    int nscen = 0;
    check_t check;
    memset (&check, 0, sizeof (check));
    s_progress ("starting the broker, %d lh-echo and %d lh-validator", o.workers, o.workers);
    if (!bench_stop && s_cluster_start (&env, &o, max_agents) == 0) {
        s_check_mix (&env, &mix, &check);
        if (check.mismatches)
            s_progress ("decision check: %d answers not as the mix file expects", check.mismatches);
        for (int k = 0; k < o.ncounts && !bench_stop; k++) {
            int count = o.counts[k];
            driver_proc_t procs[MAX_PROCS];
            memset (procs, 0, sizeof (procs));
            int ready = 0;
            s_progress ("%d agents: connecting", count);
            int nprocs = s_drivers_start (&env, &o, count, payload, procs, &ready);
            s_progress ("%d agents: %d connected and answered, %d process(es)", count, ready,
                        nprocs);
            vscen_t *first = &scen[nscen];
            int nmodes = 0;
            for (int m = 0; m < 3; m++) {
                if ((m == 1 && !o.warm) || (m == 2 && !o.cold))
                    continue;
                vscen_t *s = &scen[nscen++];
                nmodes++;
                s->agents = count;
                s->procs = nprocs;
                s->mode = (agents_mode_t) m;
                s->service = m == 0 ? "echo" : "validate";
                s->cache = m == 0 ? "-" : m == 1 ? "warm" : "cold";
                s->acc = (agents_result_t *) calloc (1, sizeof (agents_result_t));
                for (int c = 0; c < MIX_CLASSES; c++)
                    hist_reset (&s->acc->hist[c]);
                if (ready < count || nprocs == 0)
                    s->failed = true;
            }
            //  Rounds interleave the services, so drift on the machine
            //  falls on all of them
            for (int r = 0; r < o.rounds && !bench_stop; r++)
                for (int m = 0; m < nmodes && !bench_stop; m++) {
                    vscen_t *s = &first[m];
                    if (s->failed)
                        continue;
                    s_round (&env, &o, procs, nprocs, s, r);
                    if (!s_cluster_alive (&env, &o)) {
                        fprintf (stderr, "lh-bench: the broker or a worker died during the run\n");
                        s_cluster_logs (&env);
                        env.failed = true;
                        s->failed = true;
                    }
                    zclock_sleep (200);
                }
            for (int m = 0; m < nmodes; m++) {
                vscen_t *s = &first[m];
                s_finish (s);
                if (s->ran)
                    s_progress ("%5d agents  %-8s %-4s  %.0f req/s  p50 %.1f us  p99 %.1f us  "
                                "p99.9 %.1f us  errors %llu%s",
                                s->agents, s->service, s->cache, s->rps, s->p50, s->p99, s->p999,
                                (unsigned long long) s->errors,
                                s->wrong ? "  (decisions not as expected: see the table)" : "");
            }
            s_drivers_stop (procs, nprocs);
            if (!s_cluster_alive (&env, &o))
                break;
        }
    } else
        any_failed = true;
    s_cluster_stop (&env, &o);

    //  Ratios to the echo of the same agent count; the targets
    vtarget_t targets[MAX_COUNTS * 4];
    int nt = 0;
    for (int i = 0; i < nscen; i++) {
        any_failed |= scen[i].failed;
        if (scen[i].mode == AGENTS_ECHO)
            continue;
        const vscen_t *echo = NULL;
        for (int j = 0; j < nscen; j++)
            if (scen[j].agents == scen[i].agents && scen[j].mode == AGENTS_ECHO)
                echo = &scen[j];
        vscen_t *s = &scen[i];
        if (echo && echo->ran && s->ran && echo->rps > 0 && echo->p99 > 0) {
            s->has_ratio = true;
            s->ratio_rps = s->rps / echo->rps;
            s->ratio_p99 = s->p99 / echo->p99;
            double ours = s->us_broker + s->us_worker;
            s->ratio_cpu = ours > 0 ? (echo->us_broker + echo->us_worker) / ours : 0;
        }
        vtarget_t *t = &targets[nt++];
        *t = (vtarget_t){.known = s->has_ratio,
                         .value = s->ratio_p99,
                         .limit = TARGET_P99_RATIO,
                         .at_least = false};
        snprintf (t->name, sizeof (t->name), "p99 validate/echo, %d agent%s, cache %s", s->agents,
                  s->agents == 1 ? "" : "s", s->cache);
        t = &targets[nt++];
        *t = (vtarget_t){.known = s->has_ratio,
                         .value = s->ratio_rps,
                         .limit = TARGET_RPS_RATIO,
                         .at_least = true};
        snprintf (t->name, sizeof (t->name), "throughput validate/echo, %d agent%s, cache %s",
                  s->agents, s->agents == 1 ? "" : "s", s->cache);
    }

    s_table (s_out, &o, &mix, mean_body, payload, &check, &pb, scen, nscen, targets, nt,
             load_before, host_before);
    if (o.json)
        s_json (stdout, &o, &mix, mean_body, payload, &check, &pb, scen, nscen, targets, nt,
                load_before, host_before);
    if (o.json_out) {
        FILE *file = fopen (o.json_out, "w");
        if (file) {
            s_json (file, &o, &mix, mean_body, payload, &check, &pb, scen, nscen, targets, nt,
                    load_before, host_before);
            fclose (file);
        } else
            fprintf (stderr, "lh-bench: cannot write %s\n", o.json_out);
    }
    launcher_stop_all (s_launcher, 2000);
    if (any_failed)
        env.failed = true;
    s_env_destroy (&env, o.keep);
    free (pb.json);
    for (int i = 0; i < nscen; i++)
        free (scen[i].acc);
    mix_destroy (&mix);
    if (bench_stop)
        return 130;
    return any_failed ? 1 : 0;
}
