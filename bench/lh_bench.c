/*  lh-bench -- the Lighthouse load generator.

    One run measures, side by side on 127.0.0.1:

      direct   lh_client <-> a ROUTER echo server (lh-bench --serve-direct,
               its own process): the baseline, no broker
      broker   lh_client <-> lh-broker <-> lh-echo worker(s), all real
               processes started here

    each with plaintext and CURVE, in two closed-loop scenarios: one
    synchronous client (depth 1) and CLIENTS clients with DEPTH requests in
    flight each. Then a fresh CURVE broker is given CONNS connected clients
    (held by child processes, one request each) and its RSS is read from
    /proc before and after. Results are a table and, with --json, JSON,
    with ratios to the direct baseline of the same run and the targets.

    Every child dies with the bench: SIGTERM/SIGKILL on exit or signal,
    PR_SET_PDEATHSIG if the bench itself is killed.
*/
#include "bench.h"

#include "codec.h"
#include "launcher.h"
#include "lh_client.h"
#include "lh_config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef LH_BENCH_BROKER
#define LH_BENCH_BROKER ""
#endif
#ifndef LH_BENCH_ECHO
#define LH_BENCH_ECHO ""
#endif

#define MAX_WORKERS 16

//  Targets (bench/README in the usage text and the report)
#define TARGET_THROUGHPUT_RATIO 0.6  //  broker >= 0.6x direct, many pipelining clients
#define TARGET_P99_RATIO        2.0  //  broker p99 <= 2x direct, one synchronous client
#define TARGET_KIB_PER_CLIENT   50.0 //  broker RSS per connected CURVE client
#define TARGET_CURVE_COST_PCT   25.0 //  throughput lost to CURVE through the broker

typedef struct {
    double duration;
    double warmup;
    double drain;
    int clients;
    int depth;
    int conns;
    int conn_procs;
    int conn_window;
    int conn_timeout_s;
    int size;
    int workers;
    int capacity;
    int io_threads;
    int port_base;
    int timeout_ms;
    bool json;
    const char *json_out;
    bool plain;
    bool curve;
    bool do_sync;
    bool do_pipe;
    bool do_conns;
    const char *broker_bin;
    const char *echo_bin;
    bool keep;
} opts_t;

typedef struct {
    char tmp[64]; //  /tmp/lh-bench.XXXXXX, the launcher's
    char broker_secret[PATH_MAX];
    char holder_keys[PATH_MAX];
    char broker_key[41];
    zcert_t **client_certs;
    int nclients;
    char self_exe[PATH_MAX];
    char broker_bin[PATH_MAX];
    char echo_bin[PATH_MAX];
    msgpack_sbuffer body;
    bool failed; //  keep the temp dir for the logs
} env_t;

typedef struct {
    bool is_broker;
    bool curve;
    pid_t server; //  broker or direct server
    pid_t workers[MAX_WORKERS];
    int nworkers;
    char endpoint[64];
    char log[PATH_MAX];
    char worker_log[PATH_MAX];
} cluster_t;

typedef struct {
    const char *path;     //  direct | broker
    const char *security; //  plain | curve
    const char *kind;     //  sync | pipe
    int clients;
    int depth;
    bool ran;
    bool failed; //  could not start
    double rps;
    double p50, p99, p999, pmax, mean; //  us
    uint64_t requests;                 //  ok replies in the window
    uint64_t errors;
    uint64_t lost;
    uint64_t send_failed;
    uint64_t dropped;
    int clients_failed;
    uint64_t by_code[LOAD_ERR_KINDS];
    long rss_kib, hwm_kib; //  server (broker or direct) after the scenario
    double cpu_bench;
    double cpu_server, cpu_server_top, cpu_server_io;
    char server_top[24];
    double cpu_echo;
    double cpu_host;       //  whole machine, 100 = one core
    double cpu_us_per_req; //  bench + server + workers, per ok reply
    double bound_rps;      //  req/s at which the server's busiest thread would be at 100%
    bool has_ratio;
    double ratio_rps, ratio_p99;
} scen_t;

typedef struct {
    bool ran;
    bool failed;
    int conns, procs, ok, failed_conns;
    double seconds;
    long rss_before, rss_after, rss_closed, hwm, fds_before, fds;
    long live; //  broker descriptors gained: connections still open
    double kib_per_client;
    double cpu_broker, cpu_broker_top, cpu_host; //  during the connection phase
    char broker_top[24];
    char note[256];
} conns_t;

typedef struct {
    const char *name;
    bool known;
    double value;
    double limit;
    bool at_least; //  value >= limit, else value <= limit
    const char *unit;
    bool incomplete; //  the measurement did not cover what the target asks: missed
} target_t;

static FILE *s_out; //  the table: stdout, or stderr when JSON goes to stdout
//  Every process of the run: the brokers and their workers, one after the
//  other, the direct servers and the holders
static launcher_t *s_launcher;

#define s_progress(...) bench_progress ("lh-bench", __VA_ARGS__)

//  --------------------------------------------------------------------------
//  Options

static const char *s_summary =
    "Lighthouse load generator. Starts its own lh-broker, lh-echo and direct\n"
    "ROUTER echo server on 127.0.0.1 and measures, side by side:\n"
    "  direct/broker x plain/curve x {1 synchronous client, CLIENTS x DEPTH pipelined}\n"
    "  and CONNS connected CURVE clients held by one broker (RSS per client).\n"
    "--suite validate: echo vs validate through the broker (lh-bench --suite validate\n"
    "--help). --conn-procs 0: at least 8 holders, more if the fd limit needs it.\n"
    "\n"
    "Targets: broker throughput >= 0.6x direct (CLIENTS x DEPTH); broker p99 <= 2x\n"
    "direct (1 synchronous client); <= 50 KiB broker RSS per connected CURVE client;\n"
    "CURVE costs <= 25% of broker throughput. Exit status: 0 when everything ran\n"
    "(targets missed or not), 1 when a scenario could not run, 2 on usage errors.";

static const lh_option_t s_options[] = {
    {"duration", "bench/duration", "5", "measured seconds per scenario", false},
    {"warmup", "bench/warmup", "1", "unmeasured seconds before each scenario", false},
    {"drain", "bench/drain", "3", "most seconds to wait for in-flight replies after", false},
    {"clients", "bench/clients", "100", "clients in the pipelined scenario", false},
    {"depth", "bench/depth", "16", "requests in flight per pipelined client", false},
    {"size", "bench/size", "256", "payload string in each request, bytes", false},
    {"conns", "bench/conns", "10000", "connected clients for the RSS test, 0 skips it", false},
    {"conn-procs", "bench/conn_procs", "0", "processes holding them (0: see below)", false},
    {"conn-window", "bench/conn_window", "64", "handshakes in progress per holder process", false},
    {"conn-timeout", "bench/conn_timeout", "60", "bound on the whole connection phase, s", false},
    {"workers", "bench/workers", "1", "lh-echo workers behind the broker", false},
    {"capacity", "bench/capacity", "128", "requests each worker may hold", false},
    {"io-threads", "bench/io_threads", "1", "ZeroMQ I/O threads in the bench's clients", false},
    {"timeout", "bench/timeout", "5000", "per-request deadline in the client, ms; no resends",
     false},
    {"security", "bench/security", "both", "plain, curve or both", false},
    {"only", "bench/only", "sync,pipe,conns", "comma list of sync, pipe, conns", false},
    {"port-base", "bench/port_base", "17000", "ports P..P+11 on 127.0.0.1", false},
    {"broker-bin", "bench/broker_bin", NULL, "lh-broker [next to lh-bench in the build tree]",
     false},
    {"echo-bin", "bench/echo_bin", NULL, "lh-echo [likewise]", false},
    {"json", "bench/json", NULL, "JSON on stdout (the table goes to stderr)", true},
    {"json-out", "bench/json_out", NULL, "also write the JSON to FILE", false},
    {"keep", "bench/keep", NULL, "keep the temporary directory (keys, config, logs)", true},
    {"suite", "bench/suite", "echo", "echo: this suite; validate: echo vs validate", false},
    {NULL, NULL, NULL, NULL, false},
};

static bool
s_list_has (const char *list, const char *word)
{
    size_t len = strlen (word);
    const char *p = list;
    while ((p = strstr (p, word))) {
        bool start = p == list || p[-1] == ',';
        bool end = p[len] == 0 || p[len] == ',';
        if (start && end)
            return true;
        p += len;
    }
    return false;
}

//  The options as lh_config_load reads them (so -c FILE and --set work as
//  for the daemons); the tree stays alive for the strings in o
static int
s_parse (opts_t *o, int argc, char **argv, zconfig_t **config_p)
{
    int exit_code = 0;
    zconfig_t *config = lh_config_load ("lh-bench", s_summary, s_options, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    *config_p = config;
    const char *security = lh_config_str (config, "bench/security", "both");
    const char *only = lh_config_str (config, "bench/only", "sync,pipe,conns");
    *o = (opts_t){.duration = atof (lh_config_str (config, "bench/duration", "5")),
                  .warmup = atof (lh_config_str (config, "bench/warmup", "1")),
                  .drain = atof (lh_config_str (config, "bench/drain", "3")),
                  .clients = (int) lh_config_int (config, "bench/clients", -1),
                  .depth = (int) lh_config_int (config, "bench/depth", -1),
                  .conns = (int) lh_config_int (config, "bench/conns", -1),
                  .conn_procs = (int) lh_config_int (config, "bench/conn_procs", -1),
                  .conn_window = (int) lh_config_int (config, "bench/conn_window", -1),
                  .conn_timeout_s = (int) lh_config_int (config, "bench/conn_timeout", -1),
                  .size = (int) lh_config_int (config, "bench/size", -1),
                  .workers = (int) lh_config_int (config, "bench/workers", -1),
                  .capacity = (int) lh_config_int (config, "bench/capacity", -1),
                  .io_threads = (int) lh_config_int (config, "bench/io_threads", -1),
                  .port_base = (int) lh_config_int (config, "bench/port_base", -1),
                  .timeout_ms = (int) lh_config_int (config, "bench/timeout", -1),
                  .json = lh_config_bool (config, "bench/json", false),
                  .json_out = lh_config_str (config, "bench/json_out", NULL),
                  .keep = lh_config_bool (config, "bench/keep", false),
                  .broker_bin = lh_config_str (config, "bench/broker_bin", NULL),
                  .echo_bin = lh_config_str (config, "bench/echo_bin", NULL),
                  .plain = streq (security, "plain") || streq (security, "both"),
                  .curve = streq (security, "curve") || streq (security, "both"),
                  .do_sync = s_list_has (only, "sync"),
                  .do_pipe = s_list_has (only, "pipe"),
                  .do_conns = s_list_has (only, "conns")};
    if (!o->plain && !o->curve) {
        fprintf (stderr, "lh-bench: --security is plain, curve or both\n");
        return 2;
    }
    if (o->duration <= 0 || o->warmup < 0 || o->drain < 0 || o->clients < 1 || o->depth < 1 ||
        o->size < 0 || o->size > 512 * 1024 || o->conns < 0 || o->conn_procs < 0 ||
        o->conn_window < 1 || o->conn_timeout_s < 1 || o->workers < 1 || o->workers > MAX_WORKERS ||
        o->capacity < 1 || o->capacity > LH_MAX_CAPACITY || o->io_threads < 1 ||
        o->timeout_ms < 1 || o->port_base < 1024 || o->port_base > 65000) {
        fprintf (stderr, "lh-bench: an option is out of range (try --help)\n");
        return 2;
    }
    if (o->conns == 0)
        o->do_conns = false;
    return -1;
}

//  --------------------------------------------------------------------------
//  Environment: binaries, keys, roster

static int
s_env_init (env_t *env, const opts_t *o)
{
    ssize_t n = readlink ("/proc/self/exe", env->self_exe, sizeof (env->self_exe) - 1);
    if (n <= 0)
        return -1;
    env->self_exe[n] = 0;
    char self_dir[PATH_MAX];
    snprintf (self_dir, sizeof (self_dir), "%s", env->self_exe);
    char *slash = strrchr (self_dir, '/');
    if (slash)
        *slash = 0;
    if (!proc_find_bin (env->broker_bin, sizeof (env->broker_bin), o->broker_bin, self_dir,
                        "../broker/lh-broker", LH_BENCH_BROKER)) {
        fprintf (stderr, "lh-bench: lh-broker not found (tried %s); use --broker-bin\n",
                 env->broker_bin);
        return -1;
    }
    if (!proc_find_bin (env->echo_bin, sizeof (env->echo_bin), o->echo_bin, self_dir,
                        "../nodes/echo/lh-echo", LH_BENCH_ECHO)) {
        fprintf (stderr, "lh-bench: lh-echo not found (tried %s); use --echo-bin\n", env->echo_bin);
        return -1;
    }
    s_launcher = launcher_new ("/tmp/lh-bench.XXXXXX");
    if (!s_launcher)
        return -1;
    snprintf (env->tmp, sizeof (env->tmp), "%s", launcher_dir (s_launcher));
    launcher_set_bin (s_launcher, LAUNCHER_BROKER, env->broker_bin);
    launcher_set_bin (s_launcher, LAUNCHER_ECHO, env->echo_bin);
    launcher_set_cert (s_launcher, LAUNCHER_ECHO, "echo");
    launcher_set_timeout (s_launcher, 15000);
    msgpack_sbuffer_init (&env->body);
    load_body (&env->body, (size_t) o->size);

    //  Keys: the launcher's broker and echo certificates, roster in ZPL
    launcher_keygen (s_launcher, "echo", "node");
    launcher_cert_path (s_launcher, "broker", env->broker_secret, sizeof (env->broker_secret));
    snprintf (env->broker_key, sizeof (env->broker_key), "%s", launcher_broker_key (s_launcher));
    snprintf (env->holder_keys, sizeof (env->holder_keys), "%s/holders.keys", env->tmp);
    FILE *keys = fopen (env->holder_keys, "w");
    if (!keys) {
        fprintf (stderr, "lh-bench: cannot write keys in %s\n", env->tmp);
        return -1;
    }
    //  Load clients: agents c0.. with their own keys, kept in memory
    env->nclients = o->clients;
    env->client_certs = (zcert_t **) calloc ((size_t) env->nclients, sizeof (zcert_t *));
    for (int i = 0; i < env->nclients; i++) {
        env->client_certs[i] = zcert_new ();
        char name[16];
        snprintf (name, sizeof (name), "c%d", i);
        launcher_add_principal (s_launcher, name, zcert_public_txt (env->client_certs[i]), "agent");
    }
    //  Connection holders: agents h0.., keys in a file for the holder processes
    int holders = o->do_conns ? o->conns : 0;
    for (int i = 0; i < holders; i++) {
        char pub[41], sec[41];
        if (zmq_curve_keypair (pub, sec) != 0) {
            fprintf (stderr, "lh-bench: zmq_curve_keypair failed (libzmq without CURVE?)\n");
            fclose (keys);
            return -1;
        }
        char name[16];
        snprintf (name, sizeof (name), "h%d", i);
        launcher_add_principal (s_launcher, name, pub, "agent");
        fprintf (keys, "%s %s\n", pub, sec);
    }
    fclose (keys);
    return 0;
}

static void
s_env_destroy (env_t *env, bool keep)
{
    for (int i = 0; i < env->nclients; i++)
        zcert_destroy (&env->client_certs[i]);
    free (env->client_certs);
    msgpack_sbuffer_destroy (&env->body);
    if (!s_launcher)
        return;
    if (keep || env->failed) {
        s_progress ("kept %s (keys, config, logs)", env->tmp);
        launcher_set_keep (s_launcher, true);
    }
    launcher_destroy (&s_launcher);
}

//  --------------------------------------------------------------------------
//  Clusters: the direct server, or a broker with its workers

static lh_client_t *
s_probe_client (const env_t *env, const cluster_t *c)
{
    lh_connect_t conn = {.endpoint = c->endpoint,
                         .server_key = c->curve ? env->broker_key : NULL,
                         .cert = c->curve ? env->client_certs[0] : NULL};
    lh_client_t *client = lh_client_new (&conn);
    if (client) {
        lh_client_set_timeout (client, 300);
        lh_client_set_retries (client, 0);
    }
    return client;
}

//  Waits until the direct server answers. Returns 0, or -1 when it died
//  or time ran out.
static int
s_direct_wait (env_t *env, cluster_t *c, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms;
    while (!bench_stop && zclock_mono () < until && launcher_alive (s_launcher, c->server)) {
        lh_client_t *client = s_probe_client (env, c);
        if (!client)
            break;
        lh_reply_t *reply = lh_client_call (client, "echo", env->body.data, env->body.size);
        bool ready = reply && lh_reply_ok (reply);
        lh_reply_destroy (&reply);
        lh_client_destroy (&client);
        if (ready)
            return 0;
        zclock_sleep (100);
    }
    if (!bench_stop) {
        fprintf (stderr, "lh-bench: direct server at %s did not come up\n", c->endpoint);
        launcher_log_tail (c->log, 12);
        env->failed = true;
    }
    return -1;
}

static void
s_cluster_stop (cluster_t *c)
{
    //  Workers first, so the broker does not log them as lost
    launcher_stop_kind (s_launcher, LAUNCHER_ECHO, 2000);
    launcher_stop_kind (s_launcher, LAUNCHER_BROKER, 2000);
    if (c->server > 0)
        launcher_stop (s_launcher, c->server, 2000);
    c->server = 0;
    c->nworkers = 0;
}

static int
s_direct_start (env_t *env, bool curve, int port, cluster_t *c)
{
    memset (c, 0, sizeof (*c));
    c->curve = curve;
    snprintf (c->endpoint, sizeof (c->endpoint), "tcp://127.0.0.1:%d", port);
    snprintf (c->log, sizeof (c->log), "%s/direct-%s.log", env->tmp, curve ? "curve" : "plain");
    char *argv[] = {env->self_exe, "--serve-direct", c->endpoint, curve ? env->broker_secret : NULL,
                    NULL};
    c->server = launcher_spawn (s_launcher, "direct", argv, c->log, -1, -1);
    if (c->server < 0)
        return -1;
    return s_direct_wait (env, c, 10000);
}

static int
s_broker_start (env_t *env, const opts_t *o, bool curve, int port, int workers, bool unlimited,
                cluster_t *c)
{
    memset (c, 0, sizeof (*c));
    c->is_broker = true;
    c->curve = curve;
    //  Room for every request the load can have in flight
    long qmax = 2L * o->clients * o->depth;
    char args[256];
    snprintf (args, sizeof (args), "--queue-max %ld --log-level warn%s", qmax > 1000 ? qmax : 1000,
              //  Bench clients are agents; lift the default 500/s per agent
              unlimited ? " --set role/agent/rate=0" : "");
    launcher_set_args (s_launcher, LAUNCHER_BROKER, args);
    snprintf (args, sizeof (args), "--capacity %d --log-level warn", o->capacity);
    launcher_set_args (s_launcher, LAUNCHER_ECHO, args);
    //  Plaintext: every peer must both call and serve echo without a rate
    //  limit, which is what node may do
    launcher_set_plaintext (s_launcher, curve ? NULL : "node");
    launcher_set_port_base (s_launcher, port);
    if (launcher_start_broker (s_launcher, NULL) != 0) {
        env->failed = !bench_stop;
        return -1;
    }
    c->server = launcher_broker_pid (s_launcher);
    snprintf (c->endpoint, sizeof (c->endpoint), "%s", launcher_frontend (s_launcher));
    snprintf (c->log, sizeof (c->log), "%s", launcher_log_path (s_launcher, c->server));
    for (int i = 0; i < workers; i++) {
        c->workers[i] = launcher_start_echo (s_launcher, "echo", NULL, false);
        if (c->workers[i] < 0)
            return -1;
        c->nworkers++;
    }
    snprintf (c->worker_log, sizeof (c->worker_log), "%s",
              launcher_log_path (s_launcher, c->workers[0]));
    if (!launcher_wait_workers (s_launcher, "echo", workers, 15000)) {
        if (!bench_stop) {
            fprintf (stderr, "lh-bench: broker at %s did not get its workers\n", c->endpoint);
            launcher_log_tail (c->log, 12);
            launcher_log_tail (c->worker_log, 12);
            env->failed = true;
        }
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Scenarios

typedef struct {
    cluster_t *cluster;
    cpu_snap_t self[2];
    cpu_snap_t server[2];
    cpu_snap_t workers[2][MAX_WORKERS];
    host_snap_t host[2];
} window_t;

static void
s_on_window (int phase, void *arg)
{
    window_t *w = (window_t *) arg;
    int k = phase - 1;
    host_snap (&w->host[k]);
    cpu_snap (&w->self[k], getpid ());
    cpu_snap (&w->server[k], w->cluster->server);
    for (int i = 0; i < w->cluster->nworkers; i++)
        cpu_snap (&w->workers[k][i], w->cluster->workers[i]);
}

static void
s_scenario (env_t *env, const opts_t *o, cluster_t *c, scen_t *s)
{
    s_progress ("%-6s %-5s %s: %d client(s) x depth %d, %.1f s (+%.1f s warmup)", s->path,
                s->security, s->kind, s->clients, s->depth, o->duration, o->warmup);
    load_config_t config = {.endpoint = c->endpoint,
                            .server_key = c->curve ? env->broker_key : NULL,
                            .certs = c->curve ? env->client_certs : NULL,
                            .clients = s->clients,
                            .depth = s->depth,
                            .warmup_s = o->warmup,
                            .duration_s = o->duration,
                            .drain_s = o->drain,
                            .timeout_ms = o->timeout_ms,
                            .body = env->body.data,
                            .body_size = env->body.size,
                            .service = "echo"};
    load_result_t *r = (load_result_t *) malloc (sizeof (load_result_t));
    window_t *w = (window_t *) calloc (1, sizeof (window_t));
    w->cluster = c;
    load_run (&config, r, s_on_window, w);
    s->ran = !bench_stop;
    double seconds = (double) r->window_ns / 1e9;
    s->requests = r->ok;
    s->rps = seconds > 0 ? (double) r->ok / seconds : 0;
    s->p50 = (double) hist_percentile (&r->hist, 50) / 1000.0;
    s->p99 = (double) hist_percentile (&r->hist, 99) / 1000.0;
    s->p999 = (double) hist_percentile (&r->hist, 99.9) / 1000.0;
    s->pmax = (double) r->hist.max / 1000.0;
    s->mean = hist_mean (&r->hist) / 1000.0;
    s->errors = r->errors + (uint64_t) r->clients_failed;
    s->lost = r->lost;
    s->send_failed = r->send_failed;
    s->dropped = r->dropped;
    s->clients_failed = r->clients_failed;
    memcpy (s->by_code, r->by_code, sizeof (s->by_code));
    s->rss_kib = proc_rss_kib (c->server);
    s->hwm_kib = proc_hwm_kib (c->server);
    s->cpu_bench = cpu_percent (&w->self[0], &w->self[1], NULL, NULL, 0);
    s->cpu_server = cpu_percent (&w->server[0], &w->server[1], &s->cpu_server_top, s->server_top,
                                 sizeof (s->server_top));
    s->cpu_server_io = cpu_percent_prefix (&w->server[0], &w->server[1], "ZMQbg/IO");
    for (int i = 0; i < c->nworkers; i++)
        s->cpu_echo += cpu_percent (&w->workers[0][i], &w->workers[1][i], NULL, NULL, 0);
    s->cpu_host = host_busy_percent (&w->host[0], &w->host[1]);
    if (s->cpu_server_top > 5)
        s->bound_rps = s->rps * 100.0 / s->cpu_server_top;
    if (s->requests)
        s->cpu_us_per_req = (s->cpu_bench + s->cpu_server + s->cpu_echo) / 100.0 * seconds /
                            (double) s->requests * 1e6;
    if (s->ran)
        s_progress ("  %.0f req/s  p50 %.1f us  p99 %.1f us  p99.9 %.1f us  errors %llu", s->rps,
                    s->p50, s->p99, s->p999, (unsigned long long) s->errors);
    free (w);
    free (r);
}

//  --------------------------------------------------------------------------
//  Many connected clients: broker RSS per client

static void
s_conns (env_t *env, const opts_t *o, long nofile, conns_t *r)
{
    r->conns = o->conns;
    //  Each held client costs its holder two descriptors: stay well inside the limit
    int per_proc_max = (int) ((nofile - 256) / 2 * 9 / 10);
    int procs = o->conn_procs;
    if (procs == 0) {
        //  Each holder's I/O thread pays for its connections' heartbeat
        //  timers too (see the report): keep them small so the broker is
        //  what is measured
        procs = (o->conns + per_proc_max - 1) / per_proc_max;
        if (procs < 8)
            procs = 8;
    }
    if (procs > o->conns)
        procs = o->conns;
    r->procs = procs;
    s_progress ("conns: %d CURVE clients held by %d processes (fd limit %ld)", o->conns, procs,
                nofile);
    if (o->conns + 256 > nofile)
        s_progress ("conns: the broker needs about %d descriptors; the limit is %ld",
                    o->conns + 256, nofile);
    cluster_t c;
    if (s_broker_start (env, o, true, o->port_base + 6, 1, false, &c) != 0) {
        r->failed = true;
        snprintf (r->note, sizeof (r->note), "broker did not start");
        s_cluster_stop (&c);
        return;
    }
    zclock_sleep (500);
    r->rss_before = proc_rss_kib (c.server);
    r->fds_before = proc_fd_count (c.server);
    cpu_snap_t *cpu = (cpu_snap_t *) calloc (2, sizeof (cpu_snap_t));
    host_snap_t host[2];
    cpu_snap (&cpu[0], c.server);
    host_snap (&host[0]);

    pid_t pids[256];
    int to_child[256], from_child[256];
    int started = 0;
    int per = (o->conns + procs - 1) / procs;
    char window[16], timeout[16];
    snprintf (window, sizeof (window), "%d", o->conn_window);
    snprintf (timeout, sizeof (timeout), "%d", o->conn_timeout_s * 1000);
    uint64_t t0 = bench_now_ns ();
    for (int p = 0; p < procs && p < 256; p++) {
        int first = p * per;
        int count = o->conns - first < per ? o->conns - first : per;
        if (count <= 0)
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
        snprintf (first_s, sizeof (first_s), "%d", first);
        snprintf (count_s, sizeof (count_s), "%d", count);
        snprintf (log, sizeof (log), "%s/hold-%d.log", env->tmp, p);
        char *argv[] = {env->self_exe, "--hold", c.endpoint, env->broker_key, env->holder_keys,
                        first_s,       count_s,  window,     timeout,         NULL};
        pids[started] = launcher_spawn (s_launcher, "hold", argv, log, in[0], out[1]);
        close (in[0]);
        close (out[1]);
        if (pids[started] < 0) {
            close (in[1]);
            close (out[0]);
            break;
        }
        to_child[started] = in[1];
        from_child[started] = out[0];
        started++;
    }
    int64_t until = zclock_mono () + (int64_t) o->conn_timeout_s * 1000 + 10000;
    for (int p = 0; p < started; p++) {
        char line[128];
        int ok = 0, failed = 0;
        unsigned long long ms = 0;
        if (proc_read_line (from_child[p], line, sizeof (line), until) == 0 &&
            sscanf (line, "held %d %d %llu", &ok, &failed, &ms) == 3) {
            r->ok += ok;
            r->failed_conns += failed;
        } else {
            r->failed_conns += per;
            snprintf (r->note, sizeof (r->note), "holder %d did not report", p);
        }
    }
    r->seconds = (double) (bench_now_ns () - t0) / 1e9;
    cpu_snap (&cpu[1], c.server);
    host_snap (&host[1]);
    r->cpu_broker =
        cpu_percent (&cpu[0], &cpu[1], &r->cpu_broker_top, r->broker_top, sizeof (r->broker_top));
    r->cpu_host = host_busy_percent (&host[0], &host[1]);
    free (cpu);
    s_progress ("conns: %d connected and answered, %d failed, in %.1f s; broker CPU %.0f%% "
                "(busiest thread %s %.0f%%), host %.0f%%",
                r->ok, r->failed_conns, r->seconds, r->cpu_broker, r->broker_top, r->cpu_broker_top,
                r->cpu_host);
    //  Let the broker settle (heartbeats, freed handshake buffers), then read
    zclock_sleep (1000);
    r->rss_after = proc_rss_kib (c.server);
    r->hwm = proc_hwm_kib (c.server);
    r->fds = proc_fd_count (c.server);
    r->live = r->fds - r->fds_before;
    if (r->live < r->ok)
        snprintf (r->note, sizeof (r->note),
                  "%d answered but only %ld still connected: the broker dropped some", r->ok,
                  r->live);
    if (r->ok > 0)
        r->kib_per_client = (double) (r->rss_after - r->rss_before) / r->ok;
    //  Release: the holders close their sockets when stdin closes
    for (int p = 0; p < started; p++)
        close (to_child[p]);
    for (int p = 0; p < started; p++) {
        for (int i = 0; i < 100 && launcher_alive (s_launcher, pids[p]); i++)
            zclock_sleep (50);
        launcher_stop (s_launcher, pids[p], 1000);
        close (from_child[p]);
    }
    zclock_sleep (1000);
    r->rss_closed = proc_rss_kib (c.server);
    r->ran = !bench_stop;
    s_cluster_stop (&c);
    s_progress ("conns: broker RSS %ld KiB before, %ld KiB with %d clients (%ld connections "
                "open), %ld KiB after they left: %.1f KiB per client",
                r->rss_before, r->rss_after, r->ok, r->live, r->rss_closed, r->kib_per_client);
}

//  --------------------------------------------------------------------------
//  Report

static const char *
s_err_name (int code)
{
    return codec_err_name ((lh_err_t) code);
}

static bool
s_target_met (const target_t *t)
{
    return t->known && !t->incomplete &&
           (t->at_least ? t->value >= t->limit : t->value <= t->limit);
}

static void
s_table (FILE *out, const opts_t *o, const scen_t *scen, int nscen, const conns_t *conns,
         const target_t *targets, int ntargets, long nofile)
{
    char when[64];
    time_t now = time (NULL);
    strftime (when, sizeof (when), "%Y-%m-%d %H:%M:%S", localtime (&now));
    fprintf (out,
             "\nlh-bench %s  %ld cores  %.1f s per scenario (+%.1f s warmup)  payload %d B  "
             "broker: %d lh-echo, capacity %d  fd limit %ld\n\n",
             when, sysconf (_SC_NPROCESSORS_ONLN), o->duration, o->warmup, o->size, o->workers,
             o->capacity, nofile);
    fprintf (out, "%-6s %-5s %-7s %9s %9s %9s %9s %9s %7s   %-6s %-6s\n", "path", "sec", "load",
             "req/s", "p50 us", "p99 us", "p99.9 us", "max us", "errors", "thr", "p99");
    fprintf (out, "%-6s %-5s %-7s %9s %9s %9s %9s %9s %7s   %-13s\n", "", "", "", "", "", "", "",
             "", "", "vs direct");
    for (int i = 0; i < nscen; i++) {
        const scen_t *s = &scen[i];
        char load[16];
        snprintf (load, sizeof (load), "%dx%d", s->clients, s->depth);
        if (!s->ran) {
            if (s->failed)
                fprintf (out, "%-6s %-5s %-7s %9s\n", s->path, s->security, load, "FAILED");
            continue;
        }
        char ratio[32] = "-";
        if (s->has_ratio)
            snprintf (ratio, sizeof (ratio), "%.2fx  %.2fx", s->ratio_rps, s->ratio_p99);
        fprintf (out, "%-6s %-5s %-7s %9.0f %9.1f %9.1f %9.1f %9.1f %7llu   %s\n", s->path,
                 s->security, load, s->rps, s->p50, s->p99, s->p999, s->pmax,
                 (unsigned long long) s->errors, ratio);
    }
    fprintf (out, "\n%-6s %-5s %-7s | %-29s %5s %5s %5s %5s | %7s | %9s | %7s\n", "path", "sec",
             "load", "CPU% (100 = one core): server", "s.io", "echo", "bench", "host", "CPU us",
             "bound", "RSS MiB");
    fprintf (out, "%-6s %-5s %-7s | %-29s %5s %5s %5s %5s | %7s | %9s | %7s\n", "", "", "",
             "  total (busiest thread)", "", "", "", "", "per req", "req/s", "server");
    for (int i = 0; i < nscen; i++) {
        const scen_t *s = &scen[i];
        if (!s->ran)
            continue;
        char load[16], server[48], echo[16];
        snprintf (load, sizeof (load), "%dx%d", s->clients, s->depth);
        snprintf (server, sizeof (server), "  %3.0f (%s %.0f)", s->cpu_server, s->server_top,
                  s->cpu_server_top);
        if (streq (s->path, "broker"))
            snprintf (echo, sizeof (echo), "%.0f", s->cpu_echo);
        else
            snprintf (echo, sizeof (echo), "-");
        fprintf (out, "%-6s %-5s %-7s | %-29s %5.0f %5s %5.0f %5.0f | %7.1f | %9.0f | %7.1f\n",
                 s->path, s->security, load, server, s->cpu_server_io, echo, s->cpu_bench,
                 s->cpu_host, s->cpu_us_per_req, s->bound_rps, (double) s->rss_kib / 1024.0);
    }
    for (int i = 0; i < nscen; i++) {
        const scen_t *s = &scen[i];
        if (!s->ran || !s->errors)
            continue;
        fprintf (out, "  errors in %s %s %dx%d:", s->path, s->security, s->clients, s->depth);
        for (int k = 0; k < LOAD_ERR_KINDS; k++)
            if (s->by_code[k])
                fprintf (out, " %s %llu", s_err_name (k), (unsigned long long) s->by_code[k]);
        if (s->lost)
            fprintf (out, " lost %llu", (unsigned long long) s->lost);
        if (s->send_failed)
            fprintf (out, " send_failed %llu", (unsigned long long) s->send_failed);
        if (s->clients_failed)
            fprintf (out, " clients_failed %d", s->clients_failed);
        fprintf (out, "\n");
    }
    if (conns->ran || conns->failed) {
        fprintf (out,
                 "\nconnected clients (CURVE, own key each, one echo request each, %d holder "
                 "processes): ",
                 conns->procs);
        if (conns->failed)
            fprintf (out, "FAILED (%s)\n", conns->note);
        else
            fprintf (out,
                     "%d of %d answered, %d failed, in %.1f s (bound %d s)\n"
                     "  broker during the connection phase: CPU %.0f%% (busiest thread %s "
                     "%.0f%%), host %.0f%%\n"
                     "  broker RSS %.1f MiB before, %.1f MiB with %ld connections open, %.1f MiB "
                     "after they left (peak %.1f MiB)\n"
                     "  => %.1f KiB per connected client%s%s\n",
                     conns->ok, conns->conns, conns->failed_conns, conns->seconds,
                     o->conn_timeout_s, conns->cpu_broker, conns->broker_top, conns->cpu_broker_top,
                     conns->cpu_host, (double) conns->rss_before / 1024.0,
                     (double) conns->rss_after / 1024.0, conns->live,
                     (double) conns->rss_closed / 1024.0, (double) conns->hwm / 1024.0,
                     conns->kib_per_client, conns->note[0] ? "\n  note: " : "", conns->note);
    }
    fprintf (out, "\n%-60s %11s %11s  %s\n", "target", "measured", "target", "result");
    for (int i = 0; i < ntargets; i++) {
        const target_t *t = &targets[i];
        char value[32], limit[32];
        if (t->known)
            snprintf (value, sizeof (value), "%.2f%s", t->value, t->unit);
        else
            snprintf (value, sizeof (value), "n/a");
        snprintf (limit, sizeof (limit), "%s%.2f%s", t->at_least ? ">=" : "<=", t->limit, t->unit);
        fprintf (out, "%-60s %11s %11s  %s\n", t->name, value, limit,
                 !t->known          ? "not measured"
                 : s_target_met (t) ? "met"
                                    : "MISSED");
    }
    fprintf (out,
             "\nLatency: monotonic clock around lh_client_send/lh_client_recv, log-linear "
             "histogram (<0.8%% error).\nvs direct: broker over direct, same security and load, "
             "this run. CPU%%: /proc/<pid>/task/*/stat over\nthe measured window; s.io = the "
             "server's ZeroMQ I/O threads; host = whole machine (/proc/stat), so\nhost minus "
             "the rest is other processes and interrupts. CPU us per req = bench + server +\n"
             "echo CPU time per ok reply. bound = req/s x 100 / busiest server thread %%: a "
             "projection of where\nthat thread would saturate given a core of its own (not a "
             "measurement).\n");
}

static void
s_json_str (FILE *out, const char *key, const char *value, bool comma)
{
    fprintf (out, "\"%s\": \"%s\"%s", key, value, comma ? ", " : "");
}

static void
s_json (FILE *out, const opts_t *o, const scen_t *scen, int nscen, const conns_t *conns,
        const target_t *targets, int ntargets, long nofile)
{
    fprintf (out, "{\n  \"tool\": \"lh-bench\",\n  \"time\": %lld,\n", (long long) time (NULL));
    fprintf (out,
             "  \"config\": {\"cores\": %ld, \"duration_s\": %.3f, \"warmup_s\": %.3f, "
             "\"payload_bytes\": %d, \"clients\": %d, \"depth\": %d, \"workers\": %d, "
             "\"capacity\": %d, \"io_threads\": %d, \"timeout_ms\": %d, \"conns\": %d, "
             "\"fd_limit\": %ld},\n",
             sysconf (_SC_NPROCESSORS_ONLN), o->duration, o->warmup, o->size, o->clients, o->depth,
             o->workers, o->capacity, o->io_threads, o->timeout_ms, o->conns, nofile);
    fprintf (out, "  \"scenarios\": [");
    bool first = true;
    for (int i = 0; i < nscen; i++) {
        const scen_t *s = &scen[i];
        if (!s->ran && !s->failed)
            continue;
        fprintf (out, "%s\n    {", first ? "" : ",");
        first = false;
        char name[48];
        snprintf (name, sizeof (name), "%s-%s-%s", s->path, s->security, s->kind);
        s_json_str (out, "name", name, true);
        s_json_str (out, "path", s->path, true);
        s_json_str (out, "security", s->security, true);
        s_json_str (out, "kind", s->kind, true);
        fprintf (out, "\"clients\": %d, \"depth\": %d, \"ran\": %s", s->clients, s->depth,
                 s->ran ? "true" : "false");
        if (s->ran) {
            fprintf (out,
                     ", \"requests\": %llu, \"throughput_rps\": %.1f, \"p50_us\": %.2f, "
                     "\"p99_us\": %.2f, \"p999_us\": %.2f, \"max_us\": %.2f, \"mean_us\": %.2f, "
                     "\"errors\": %llu, \"lost\": %llu, \"errors_by_code\": {",
                     (unsigned long long) s->requests, s->rps, s->p50, s->p99, s->p999, s->pmax,
                     s->mean, (unsigned long long) s->errors, (unsigned long long) s->lost);
            bool first_code = true;
            for (int k = 0; k < LOAD_ERR_KINDS; k++)
                if (s->by_code[k]) {
                    fprintf (out, "%s\"%s\": %llu", first_code ? "" : ", ", s_err_name (k),
                             (unsigned long long) s->by_code[k]);
                    first_code = false;
                }
            fprintf (out,
                     "}, \"server_rss_kib\": %ld, \"server_hwm_kib\": %ld, \"cpu_pct\": "
                     "{\"bench\": %.1f, \"server\": %.1f, \"server_busiest_thread\": %.1f, "
                     "\"server_busiest_thread_name\": \"%s\", \"server_io_threads\": %.1f, "
                     "\"echo\": %.1f, \"host\": %.1f}, \"cpu_us_per_request\": %.2f, "
                     "\"busiest_thread_bound_rps\": %.0f",
                     s->rss_kib, s->hwm_kib, s->cpu_bench, s->cpu_server, s->cpu_server_top,
                     s->server_top, s->cpu_server_io, s->cpu_echo, s->cpu_host, s->cpu_us_per_req,
                     s->bound_rps);
            if (streq (s->path, "broker"))
                fprintf (out, ", \"broker_rss_kib\": %ld", s->rss_kib);
            if (s->has_ratio)
                fprintf (out, ", \"ratio_throughput\": %.4f, \"ratio_p99\": %.4f", s->ratio_rps,
                         s->ratio_p99);
        }
        fprintf (out, "}");
    }
    fprintf (out, "\n  ],\n  \"connections\": ");
    if (conns->ran || conns->failed)
        fprintf (out,
                 "{\"security\": \"curve\", \"requested\": %d, \"processes\": %d, \"ok\": %d, "
                 "\"failed\": %d, \"seconds\": %.2f, \"broker_rss_before_kib\": %ld, "
                 "\"broker_rss_after_kib\": %ld, \"broker_rss_closed_kib\": %ld, "
                 "\"broker_hwm_kib\": %ld, \"broker_fds\": %ld, \"connections_open\": %ld, "
                 "\"rss_per_client_kib\": %.2f, \"broker_cpu_pct\": %.1f, "
                 "\"broker_busiest_thread\": \"%s\", \"broker_busiest_thread_pct\": %.1f, "
                 "\"host_cpu_pct\": %.1f, \"timeout_s\": %d, \"note\": \"%s\"},\n",
                 conns->conns, conns->procs, conns->ok, conns->failed_conns, conns->seconds,
                 conns->rss_before, conns->rss_after, conns->rss_closed, conns->hwm, conns->fds,
                 conns->live, conns->kib_per_client, conns->cpu_broker, conns->broker_top,
                 conns->cpu_broker_top, conns->cpu_host, o->conn_timeout_s, conns->note);
    else
        fprintf (out, "null,\n");
    fprintf (out, "  \"targets\": [");
    for (int i = 0; i < ntargets; i++) {
        const target_t *t = &targets[i];
        bool met = s_target_met (t);
        fprintf (out, "%s\n    {\"name\": \"%s\", ", i ? "," : "", t->name);
        if (t->known)
            fprintf (out, "\"value\": %.4f, ", t->value);
        else
            fprintf (out, "\"value\": null, ");
        fprintf (out,
                 "\"limit\": %.4f, \"op\": \"%s\", \"unit\": \"%s\", \"incomplete\": %s, "
                 "\"met\": %s}",
                 t->limit, t->at_least ? ">=" : "<=", t->unit, t->incomplete ? "true" : "false",
                 !t->known ? "null"
                 : met     ? "true"
                           : "false");
    }
    fprintf (out, "\n  ]\n}\n");
}

//  --------------------------------------------------------------------------

//  Index in the scenario table: security (plain, curve) x path x kind
static int
s_index (int sec, int path, int kind)
{
    return sec * 4 + path * 2 + kind;
}

int
main (int argc, char **argv)
{
    if (argc > 1 && streq (argv[1], "--serve-direct"))
        return serve_direct_main (argc, argv);
    if (argc > 1 && streq (argv[1], "--hold"))
        return conns_hold_main (argc, argv);
    if (argc > 1 && streq (argv[1], "--agents"))
        return agents_main (argc, argv);
    for (int i = 1; i + 1 < argc; i++)
        if (streq (argv[i], "--suite")) {
            if (streq (argv[i + 1], "validate"))
                return validate_main (argc, argv);
            if (!streq (argv[i + 1], "echo")) {
                fprintf (stderr, "lh-bench: --suite is echo (the default) or validate\n");
                return 2;
            }
        }

    opts_t o;
    zconfig_t *config = NULL;
    int rc = s_parse (&o, argc, argv, &config);
    if (rc >= 0) {
        zconfig_destroy (&config);
        return rc;
    }
    s_out = o.json ? stderr : stdout;

    zsys_init ();
    zsys_set_logsystem (false);
    proc_init (); //  after zsys_init, so our signal handlers win
    long nofile = proc_raise_nofile (65536);
    zsys_set_max_sockets (0);
    zsys_set_io_threads ((size_t) o.io_threads);
    zsys_set_linger (0);
    if (o.curve && !zmq_has ("curve")) {
        s_progress ("this libzmq has no CURVE: plaintext only");
        o.curve = false;
        o.do_conns = false;
    }

    env_t env;
    memset (&env, 0, sizeof (env));
    if (s_env_init (&env, &o) != 0) {
        env.failed = true;
        s_env_destroy (&env, o.keep);
        zconfig_destroy (&config);
        return 1;
    }
    s_progress ("broker %s, echo %s, work dir %s", env.broker_bin, env.echo_bin, env.tmp);

    static const char *sec_names[2] = {"plain", "curve"};
    static const char *path_names[2] = {"direct", "broker"};
    static const char *kind_names[2] = {"sync", "pipe"};
    scen_t scen[8];
    memset (scen, 0, sizeof (scen));
    for (int sec = 0; sec < 2; sec++)
        for (int path = 0; path < 2; path++)
            for (int kind = 0; kind < 2; kind++) {
                scen_t *s = &scen[s_index (sec, path, kind)];
                s->security = sec_names[sec];
                s->path = path_names[path];
                s->kind = kind_names[kind];
                s->clients = kind ? o.clients : 1;
                s->depth = kind ? o.depth : 1;
            }
    bool any_failed = false;
    for (int sec = 0; sec < 2 && !bench_stop; sec++) {
        if ((sec == 0 && !o.plain) || (sec == 1 && !o.curve) || (!o.do_sync && !o.do_pipe))
            continue;
        for (int path = 0; path < 2 && !bench_stop; path++) {
            cluster_t c;
            int port = path ? o.port_base + 3 * sec : o.port_base + 10 + sec;
            int started = path ? s_broker_start (&env, &o, sec == 1, port, o.workers, true, &c)
                               : s_direct_start (&env, sec == 1, port, &c);
            for (int kind = 0; kind < 2 && !bench_stop; kind++) {
                if ((kind == 0 && !o.do_sync) || (kind == 1 && !o.do_pipe))
                    continue;
                scen_t *s = &scen[s_index (sec, path, kind)];
                if (started != 0) {
                    s->failed = true;
                    any_failed = true;
                    continue;
                }
                s_scenario (&env, &o, &c, s);
                //  A dead server means the numbers are not what they seem
                if (!launcher_alive (s_launcher, c.server)) {
                    fprintf (stderr, "lh-bench: the %s died during the run\n", s->path);
                    launcher_log_tail (c.log, 12);
                    env.failed = true;
                    any_failed = true;
                }
            }
            s_cluster_stop (&c);
        }
    }
    conns_t conns;
    memset (&conns, 0, sizeof (conns));
    if (o.do_conns && !bench_stop) {
        s_conns (&env, &o, nofile, &conns);
        any_failed |= conns.failed;
        if (conns.failed)
            env.failed = true;
    }

    //  Ratios to the direct baseline of the same security and load
    for (int sec = 0; sec < 2; sec++)
        for (int kind = 0; kind < 2; kind++) {
            scen_t *d = &scen[s_index (sec, 0, kind)];
            scen_t *b = &scen[s_index (sec, 1, kind)];
            if (d->ran && b->ran && d->rps > 0 && d->p99 > 0) {
                b->has_ratio = true;
                b->ratio_rps = b->rps / d->rps;
                b->ratio_p99 = b->p99 / d->p99;
            }
        }
    target_t targets[8];
    int nt = 0;
    for (int sec = 1; sec >= 0; sec--) {
        const scen_t *b = &scen[s_index (sec, 1, 1)];
        targets[nt++] = (target_t){sec ? "throughput broker/direct, CLIENTSxDEPTH, curve"
                                       : "throughput broker/direct, CLIENTSxDEPTH, plain",
                                   b->has_ratio,
                                   b->ratio_rps,
                                   TARGET_THROUGHPUT_RATIO,
                                   true,
                                   "x",
                                   false};
    }
    for (int sec = 1; sec >= 0; sec--) {
        const scen_t *b = &scen[s_index (sec, 1, 0)];
        targets[nt++] = (target_t){sec ? "p99 broker/direct, 1 synchronous client, curve"
                                       : "p99 broker/direct, 1 synchronous client, plain",
                                   b->has_ratio,
                                   b->ratio_p99,
                                   TARGET_P99_RATIO,
                                   false,
                                   "x",
                                   false};
    }
    //  The target is about holding all of them: fewer held is a miss whatever the KiB
    static char conns_label[96];
    snprintf (conns_label, sizeof (conns_label), "broker RSS per client, %d CURVE clients held%s",
              o.conns,
              conns.ran && (conns.ok < o.conns || conns.live < o.conns) ? " (NOT all held)" : "");
    bool all_held = conns.ok >= o.conns && conns.live >= o.conns;
    targets[nt++] = (target_t){conns_label,
                               conns.ran && conns.ok > 0,
                               conns.kib_per_client,
                               TARGET_KIB_PER_CLIENT,
                               false,
                               " KiB",
                               !all_held};
    const scen_t *bp = &scen[s_index (0, 1, 1)];
    const scen_t *bc = &scen[s_index (1, 1, 1)];
    targets[nt++] = (target_t){"throughput lost to CURVE through the broker, CLIENTSxDEPTH",
                               bp->ran && bc->ran && bp->rps > 0,
                               bp->rps > 0 ? 100.0 * (1.0 - bc->rps / bp->rps) : 0,
                               TARGET_CURVE_COST_PCT,
                               false,
                               "%",
                               false};
    //  Name the load in the target labels
    static char labels[8][96];
    for (int i = 0; i < nt; i++) {
        const char *at = strstr (targets[i].name, "CLIENTSxDEPTH");
        if (at) {
            snprintf (labels[i], sizeof (labels[i]), "%.*s%dx%d%s", (int) (at - targets[i].name),
                      targets[i].name, o.clients, o.depth, at + strlen ("CLIENTSxDEPTH"));
            targets[i].name = labels[i];
        }
    }

    s_table (s_out, &o, scen, 8, &conns, targets, nt, nofile);
    if (o.json)
        s_json (stdout, &o, scen, 8, &conns, targets, nt, nofile);
    if (o.json_out) {
        FILE *file = fopen (o.json_out, "w");
        if (file) {
            s_json (file, &o, scen, 8, &conns, targets, nt, nofile);
            fclose (file);
        } else
            fprintf (stderr, "lh-bench: cannot write %s\n", o.json_out);
    }
    launcher_stop_all (s_launcher, 2000);
    s_env_destroy (&env, o.keep);
    zconfig_destroy (&config);
    if (bench_stop)
        return 130;
    return any_failed ? 1 : 0;
}
