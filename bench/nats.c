/*  nats -- lh-nats-bench: NATS as the yardstick (issue 15; bench/run-nats,
    bench/README.md). What a user would pick instead of Lighthouse, measured
    in the same run beside it, on 127.0.0.1:

    1. Request/reply, closed loop, at each LEVEL (clients x requests in
       flight each; 1x1, 1x100, 100x16 by default), the same body on both
       sides: a msgpack map {"payload": <PAYLOAD-byte string>} (load_body,
       as lh-bench's echo).
       Lighthouse: lh-broker (plaintext, then CURVE with a key per client)
       with one lh-echo worker; lh_clients driven by one thread of this
       process (drive.c, DRIVE_ECHO: the reply's echo.payload must be the
       one sent).
       NATS: one nats-server and one responder process (this binary as
       --nats-echo: libnats, an async subscription on the subject that
       publishes each request's data to its reply subject). Each client is
       its own natsConnection with one wildcard subscription on its own
       inbox (INBOX.*) and sends with natsConnection_PublishRequest, reply
       subject INBOX.<seq>: what libnats itself does for
       natsConnection_Request (one response subscription per connection,
       a token per request), pipelined. Replies are matched by that token
       and must carry the request's bytes unchanged. The connections' sub-
       scriptions share libnats's global delivery thread (the NATS analogue
       of our one driving thread); each connection keeps its own reader and
       flusher threads, as libnats always does.
       The levels are run one after the other, the three systems in turn at
       each level (so a drift of the machine's load hits all three).

    2. Durable log. Lighthouse: lh-events-bench as a child (CURVE broker,
       three lh-integrity replicas; CLIENTS x 1 event per append, then
       CLIENTS appending BATCH events per append; its log check), read back
       from its JSON. JetStream: three nats-servers in a cluster on
       loopback, JetStream on, a stream with replicas 3 and file storage;
       CLIENTS connections (each with the three servers' URLs, as a NATS
       user connects to a cluster), each keeping 1, then BATCH, publishes in
       flight with js_PublishMsgAsync (the acknowledgement handler sends the
       next), each message one event of the same size as lh-events-bench's,
       with a Nats-Msg-Id (the JetStream analogue of our client_id). At the
       end the stream must hold every acknowledged message.
       Durability (--durability): "default" is nats-server 2.9.10 as
       shipped: a message is acknowledged once the stream leader has
       applied it, that is once a majority has written the Raft entry to
       the page cache; the stream's files are fsync'd every 2 minutes, the
       Raft log's every 5, and 2.9 has no option to change that
       (sync_interval came with 2.10). "sync" sets the synchronous-updates
       attribute (chattr +S, FS_SYNC_FL) on the store directory, which
       every file and directory nats-server makes in it inherits: every
       write returns only once it is on the disk, as with a mount -o sync
       but on the same file system as ours. So a majority's Raft entries,
       and the leader's stream write, are durable before the
       acknowledgement: what 2.10's "sync_interval: always" gives (and more:
       the Raft log too). Ours: a majority has fsync'd before the reply.
       The sync mode needs a file system with that attribute (ext4, xfs,
       btrfs; not tmpfs).

    Per run: throughput, p50/p99/p99.9 from send to checked reply, and the
    CPU of the server processes over the window (from /proc: broker + echo,
    nats-server + responder, broker + replicas, the three nats-servers) per
    request or event. Exit status 0 when every run ran and every reply was
    correct (and both logs hold what they acknowledged), 1 otherwise.
*/
#include "bench.h"
#include "drive.h"

#include "codec.h"
#include "launcher.h"
#include "lh_client.h"
#include "lh_config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <nats/nats.h>
#include <pthread.h>
#include <sodium.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef LH_BENCH_BROKER
#define LH_BENCH_BROKER ""
#endif
#ifndef LH_BENCH_ECHO
#define LH_BENCH_ECHO ""
#endif
#ifndef LH_BENCH_EVENTS
#define LH_BENCH_EVENTS ""
#endif
#ifndef LH_BENCH_INTEGRITY
#define LH_BENCH_INTEGRITY ""
#endif

#define TOOL         "lh-nats-bench"
#define MAX_LEVELS   8
#define MAX_CLIENTS  1000
#define SYSTEMS      3 //  request/reply: Lighthouse plaintext, Lighthouse CURVE, NATS
#define MODES        2 //  JetStream durability: default, sync
#define LOG_RUNS     2 //  CLIENTS x 1, CLIENTS x BATCH
#define NATS_SUBJECT "lh.echo"
#define JS_STREAM    "EVENTS"
#define JS_SUBJECT   "events.bench"
#define REPLICAS     3

#define s_progress(...) bench_progress (TOOL, __VA_ARGS__)

typedef struct {
    int clients[MAX_LEVELS], depth[MAX_LEVELS];
    int nlevels;
    int payload;
    double duration, warmup, drain;
    bool do_rr, do_log, do_plain, do_curve, do_nats, do_default, do_sync;
    int send_asap; //  -1 auto (on at depth 1, off above), 0, 1
    int capacity;
    int log_clients, batch, data_bytes;
    int timeout_ms, port_base;
    const char *dir, *source, *json_out;
    const char *broker_bin, *echo_bin, *integrity_bin, *events_bin, *nats_bin;
    bool json, keep;
} nopts_t;

static const char *s_summary =
    "NATS as the yardstick (issue 15): request/reply through lh-broker (plaintext and\n"
    "CURVE) with one lh-echo beside nats-server with one libnats responder, at each\n"
    "LEVEL (CLIENTSxDEPTH: clients x requests in flight each), the same msgpack body;\n"
    "then the integrity log (lh-events-bench: three lh-integrity replicas, fsync'd)\n"
    "beside JetStream with three nats-servers, a stream of replicas 3 on file storage,\n"
    "published with acknowledgements (js_PublishMsgAsync), CLIENTS x 1 and CLIENTS x\n"
    "BATCH in flight. --durability sync makes every write to JetStream's store\n"
    "synchronous (chattr +S on it), the closest nats-server 2.9 comes to acknowledging\n"
    "after a majority's fsync. Everything on 127.0.0.1; ports P (Lighthouse\n"
    "plaintext), P+20 (CURVE), P+40 (nats-server), P+50..P+52 and P+60..P+62\n"
    "(JetStream), P+80 and on (lh-events-bench).\n"
    "\n"
    "Targets (reported): Lighthouse request/reply throughput >= NATS at every level\n"
    "with a lower p99; the integrity log ahead of JetStream R3 at equal durability.\n"
    "Exit status: 0 when every run ran and every reply was correct, 1 otherwise, 2 on\n"
    "usage errors, 130 when interrupted.";

static const lh_option_t s_options[] = {
    {"levels", "nats/levels", "1x1,1x100,100x16", "request/reply: CLIENTSxDEPTH, comma-separated",
     false},
    {"payload", "nats/payload", "256", "request/reply: payload string, bytes", false},
    {"duration", "nats/duration", "5", "measured seconds per run", false},
    {"warmup", "nats/warmup", "1", "unmeasured seconds before each", false},
    {"drain", "nats/drain", "3", "most seconds to wait for the last replies", false},
    {"only", "nats/only", "rr,log", "rr (request/reply), log (durable log)", false},
    {"systems", "nats/systems", "plain,curve,nats",
     "request/reply: plain, curve (Lighthouse), nats", false},
    {"send-asap", "nats/send_asap", "auto",
     "libnats natsOptions_SetSendAsap for the NATS clients and the responder: on, off, "
     "auto (on at depth 1, off above: the better of the two at each, see README)",
     false},
    {"capacity", "nats/capacity", "128", "requests lh-echo may hold (as lh-bench)", false},
    {"log-clients", "nats/log_clients", "100", "durable log: clients", false},
    {"batch", "nats/batch", "16",
     "durable log: events per append (Lighthouse), publishes in flight per client (JetStream)",
     false},
    {"data-bytes", "nats/data_bytes", "200", "durable log: packed size of an event's data map",
     false},
    {"durability", "nats/durability", "default,sync",
     "JetStream: default (as shipped), sync (every write to the store synchronous: chattr +S)",
     false},
    {"timeout", "nats/timeout", "5000", "per-request deadline, ms; no resends", false},
    {"dir", "nats/dir", NULL, "where the temporary directory goes [$TMPDIR or /tmp]", false},
    {"port-base", "nats/port_base", "17600", "first port (see above)", false},
    {"broker-bin", "nats/broker_bin", NULL, "lh-broker [next to " TOOL "]", false},
    {"echo-bin", "nats/echo_bin", NULL, "lh-echo [likewise]", false},
    {"integrity-bin", "nats/integrity_bin", NULL, "lh-integrity [likewise]", false},
    {"events-bin", "nats/events_bin", NULL, "lh-events-bench [likewise]", false},
    {"nats-server-bin", "nats/nats_server_bin", NULL, "nats-server [from PATH]", false},
    {"source", "nats/source", NULL, "what was built (bench/run-nats passes the commit)", false},
    {"json", "nats/json", NULL, "JSON on stdout (the table goes to stderr)", true},
    {"json-out", "nats/json_out", NULL, "also write the JSON to FILE", false},
    {"keep", "nats/keep", NULL, "keep the temporary directory (keys, logs, data)", true},
    {NULL, NULL, NULL, NULL, false},
};

static int
s_parse_levels (const char *v, nopts_t *o)
{
    o->nlevels = 0;
    for (const char *p = v; p && *p && o->nlevels < MAX_LEVELS;) {
        int c = 0, d = 0;
        if (sscanf (p, "%dx%d", &c, &d) != 2 || c < 1 || c > MAX_CLIENTS || d < 1 ||
            d > DRIVE_RING / 2)
            return -1;
        o->clients[o->nlevels] = c;
        o->depth[o->nlevels++] = d;
        p = strchr (p, ',');
        if (p)
            p++;
    }
    return o->nlevels > 0 ? 0 : -1;
}

static int
s_parse (nopts_t *o, int argc, char **argv, zconfig_t **config_p)
{
    int exit_code = 0;
    zconfig_t *config = lh_config_load (TOOL, s_summary, s_options, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    *config_p = config;
#define S(name) lh_config_str (config, "nats/" name, NULL)
#define I(name) (int) lh_config_int (config, "nats/" name, -1)
#define D(name) atof (lh_config_str (config, "nats/" name, "-1"))
    *o = (nopts_t){.payload = I ("payload"),
                   .duration = D ("duration"),
                   .warmup = D ("warmup"),
                   .drain = D ("drain"),
                   .capacity = I ("capacity"),
                   .log_clients = I ("log_clients"),
                   .batch = I ("batch"),
                   .data_bytes = I ("data_bytes"),
                   .timeout_ms = I ("timeout"),
                   .port_base = I ("port_base"),
                   .dir = S ("dir"),
                   .source = S ("source"),
                   .json_out = S ("json_out"),
                   .broker_bin = S ("broker_bin"),
                   .echo_bin = S ("echo_bin"),
                   .integrity_bin = S ("integrity_bin"),
                   .events_bin = S ("events_bin"),
                   .nats_bin = S ("nats_server_bin"),
                   .json = lh_config_bool (config, "nats/json", false),
                   .keep = lh_config_bool (config, "nats/keep", false)};
    const char *only = S ("only"), *systems = S ("systems"), *durability = S ("durability");
    const char *asap = S ("send_asap");
    bool levels_ok = s_parse_levels (S ("levels"), o) == 0;
#undef S
#undef I
#undef D
    o->do_rr = proc_listed (only, "rr");
    o->do_log = proc_listed (only, "log");
    o->do_plain = proc_listed (systems, "plain");
    o->do_curve = proc_listed (systems, "curve");
    o->do_nats = proc_listed (systems, "nats");
    o->do_default = proc_listed (durability, "default");
    o->do_sync = proc_listed (durability, "sync");
    o->send_asap = streq (asap, "on") ? 1 : streq (asap, "off") ? 0 : streq (asap, "auto") ? -1 : 2;
    if (!levels_ok || o->payload < 1 || o->payload > 65536 || o->duration <= 0 || o->warmup < 0 ||
        o->drain < 0 || (!o->do_rr && !o->do_log) || o->send_asap == 2 || o->capacity < 1 ||
        o->log_clients < 1 || o->log_clients > MAX_CLIENTS || o->batch < 2 || o->batch > 64 ||
        o->data_bytes < 16 || o->data_bytes > 65536 || o->timeout_ms < 100 || o->port_base < 1024 ||
        o->port_base > 65000 || (o->do_rr && !o->do_plain && !o->do_curve && !o->do_nats)) {
        fprintf (stderr, TOOL ": an option is out of range (try --help)\n");
        return 2;
    }
    return -1;
}

//  --------------------------------------------------------------------------
//  The responder: lh-nats-bench --nats-echo URL SUBJECT SEND_ASAP

static void
s_echo_cb (natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) sub;
    (void) closure;
    const char *reply = natsMsg_GetReply (msg);
    if (reply)
        natsConnection_Publish (nc, reply, natsMsg_GetData (msg), natsMsg_GetDataLength (msg));
    natsMsg_Destroy (msg);
}

static int
s_echo_main (int argc, char **argv)
{
    if (argc != 5) {
        fprintf (stderr, "usage: " TOOL " --nats-echo URL SUBJECT SEND_ASAP(0|1)\n");
        return 2;
    }
    proc_init ();
    natsOptions *opts = NULL;
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    natsStatus s = natsOptions_Create (&opts);
    if (s == NATS_OK)
        s = natsOptions_SetURL (opts, argv[2]);
    if (s == NATS_OK)
        s = natsOptions_SetSendAsap (opts, streq (argv[4], "1"));
    for (int i = 0; s == NATS_OK && i < 100 && !bench_stop; i++) {
        natsStatus c = natsConnection_Connect (&nc, opts);
        if (c == NATS_OK)
            break;
        if (i == 99)
            s = c;
        zclock_sleep (100);
    }
    if (s == NATS_OK)
        s = natsConnection_Subscribe (&sub, nc, argv[3], s_echo_cb, NULL);
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits (sub, -1, -1);
    if (s == NATS_OK)
        s = natsConnection_Flush (nc);
    if (s != NATS_OK) {
        fprintf (stderr, TOOL " --nats-echo: %s\n", natsStatus_GetText (s));
        return 1;
    }
    printf ("responder on %s, subject %s, send asap %s\n", argv[2], argv[3], argv[4]);
    fflush (stdout);
    while (!bench_stop)
        zclock_sleep (100);
    natsSubscription_Destroy (sub);
    natsConnection_Destroy (nc);
    natsOptions_Destroy (opts);
    return 0;
}

//  --------------------------------------------------------------------------
//  Environment

typedef struct {
    char self[PATH_MAX], self_dir[PATH_MAX];
    char broker_bin[PATH_MAX], echo_bin[PATH_MAX], integrity_bin[PATH_MAX];
    char events_bin[PATH_MAX], nats_bin[PATH_MAX];
    char tmp[200]; //  ours (short, so that every path built on it fits): every launcher's directory
                   //  is in it
    launcher_t *nats; //  nats-server(s), the responder, lh-events-bench, in tmp/nats.*
    msgpack_sbuffer body;
    zcert_t **certs; //  CURVE clients, one each
    int ncerts;
    uint32_t nonce;
    bool failed;
} nenv_t;

static int
s_env_init (nenv_t *env, const nopts_t *o)
{
    if (proc_self_dir (env->self_dir, sizeof (env->self_dir)) != 0)
        return -1;
    ssize_t n = readlink ("/proc/self/exe", env->self, sizeof (env->self) - 1);
    if (n <= 0)
        return -1;
    env->self[n] = 0;
    if (!proc_find_bin_named (env->broker_bin, PATH_MAX, o->broker_bin, env->self_dir,
                              "../broker/lh-broker", LH_BENCH_BROKER, TOOL, "lh-broker",
                              "--broker-bin") ||
        !proc_find_bin_named (env->echo_bin, PATH_MAX, o->echo_bin, env->self_dir,
                              "../nodes/echo/lh-echo", LH_BENCH_ECHO, TOOL, "lh-echo",
                              "--echo-bin") ||
        !proc_find_bin_named (env->integrity_bin, PATH_MAX, o->integrity_bin, env->self_dir,
                              "../nodes/integrity/lh-integrity", LH_BENCH_INTEGRITY, TOOL,
                              "lh-integrity", "--integrity-bin") ||
        !proc_find_bin_named (env->events_bin, PATH_MAX, o->events_bin, env->self_dir,
                              "lh-events-bench", LH_BENCH_EVENTS, TOOL, "lh-events-bench",
                              "--events-bin"))
        return -1;
    if (o->nats_bin)
        snprintf (env->nats_bin, sizeof (env->nats_bin), "%s", o->nats_bin);
    else if (!proc_which (env->nats_bin, sizeof (env->nats_bin), "nats-server"))
        snprintf (env->nats_bin, sizeof (env->nats_bin), "/usr/bin/nats-server");
    if (access (env->nats_bin, X_OK) != 0) {
        fprintf (stderr,
                 TOOL ": nats-server not found (tried %s); install the nats-server package or "
                      "use --nats-server-bin\n",
                 env->nats_bin);
        return -1;
    }
    const char *base = o->dir ? o->dir : getenv ("TMPDIR");
    if (base && strlen (base) > 160) {
        fprintf (stderr, TOOL ": %s: path too long for the temporary directory\n", base);
        return -1;
    }
    snprintf (env->tmp, sizeof (env->tmp), "%s/lh-bench-nats.XXXXXX",
              base && *base ? base : "/tmp");
    if (!mkdtemp (env->tmp)) {
        fprintf (stderr, TOOL ": cannot make %s: %s\n", env->tmp, strerror (errno));
        env->tmp[0] = 0;
        return -1;
    }
    char template[PATH_MAX + 16];
    snprintf (template, sizeof (template), "%s/nats.XXXXXX", env->tmp);
    env->nats = launcher_new (template);
    if (!env->nats)
        return -1;
    msgpack_sbuffer_init (&env->body);
    load_body (&env->body, (size_t) o->payload);
    env->nonce = randombytes_random ();
    return 0;
}

static void
s_env_destroy (nenv_t *env, bool keep)
{
    for (int i = 0; i < env->ncerts; i++)
        zcert_destroy (&env->certs[i]);
    free (env->certs);
    env->certs = NULL;
    msgpack_sbuffer_destroy (&env->body);
    if (env->nats) {
        launcher_set_keep (env->nats, true);
        launcher_destroy (&env->nats);
    }
    if (!env->tmp[0])
        return;
    if (keep || env->failed) {
        s_progress ("kept %s (keys, logs, data)", env->tmp);
        return;
    }
    zdir_t *dir = zdir_new (env->tmp, NULL);
    if (dir) {
        zdir_remove (dir, true);
        zdir_destroy (&dir);
    }
}

//  --------------------------------------------------------------------------
//  Request/reply: results

typedef enum { SYS_PLAIN, SYS_CURVE, SYS_NATS } system_t;
static const char *s_system_name[SYSTEMS] = {"Lighthouse plaintext", "Lighthouse CURVE", "NATS"};
static const char *s_system_key[SYSTEMS] = {"lighthouse_plaintext", "lighthouse_curve", "nats"};

typedef struct {
    bool asked, ran;
    int clients, depth;
    bool send_asap; //  NATS
    double seconds;
    uint64_t ok;                            //  in the window
    double rps, p50, p99, p999, pmax, mean; //  us
    //  CPU percent over the window (100 = one core)
    double cpu_server, cpu_worker, cpu_clients, cpu_host;
    double us_server; //  server processes (broker + echo | nats-server + responder), us per request
    uint64_t sent, failed, late, dropped;
    char sample[256];
} rr_t;

typedef struct {
    host_snap_t host;
    cpu_snap_t server, worker, self;
} rsnap_t;

static void
s_rsnap (rsnap_t *s, pid_t server, pid_t worker)
{
    host_snap (&s->host);
    cpu_snap (&s->server, server);
    cpu_snap (&s->worker, worker);
    cpu_snap (&s->self, getpid ());
}

static void
s_rr_finish (rr_t *r, const hist_t *h, const rsnap_t *a, const rsnap_t *b)
{
    r->ran = !bench_stop;
    r->rps = r->seconds > 0 ? (double) r->ok / r->seconds : 0;
    r->p50 = (double) hist_percentile (h, 50) / 1000.0;
    r->p99 = (double) hist_percentile (h, 99) / 1000.0;
    r->p999 = (double) hist_percentile (h, 99.9) / 1000.0;
    r->pmax = (double) h->max / 1000.0;
    r->mean = hist_mean (h) / 1000.0;
    r->cpu_server = cpu_percent (&a->server, &b->server, NULL, NULL, 0);
    r->cpu_worker = cpu_percent (&a->worker, &b->worker, NULL, NULL, 0);
    r->cpu_clients = cpu_percent (&a->self, &b->self, NULL, NULL, 0);
    r->cpu_host = host_busy_percent (&a->host, &b->host);
    if (r->ok)
        r->us_server = (r->cpu_server + r->cpu_worker) / 100.0 * r->seconds / (double) r->ok * 1e6;
}

//  --------------------------------------------------------------------------
//  Request/reply: Lighthouse (lh-broker + one lh-echo, drive.c)

typedef struct {
    launcher_t *launcher;
    bool curve;
    pid_t broker, echo;
    drive_client_t *clients;
    int count;
    bool up;
} lhrr_t;

static int
s_lh_start (nenv_t *env, const nopts_t *o, lhrr_t *c, bool curve, int max_clients, int port)
{
    memset (c, 0, sizeof (*c));
    c->curve = curve;
    char template[PATH_MAX + 16];
    snprintf (template, sizeof (template), "%s/%s.XXXXXX", env->tmp, curve ? "curve" : "plain");
    c->launcher = launcher_new (template);
    if (!c->launcher)
        return -1;
    launcher_t *l = c->launcher;
    launcher_set_keep (l, true); //  the whole of tmp goes at the end, or stays
    launcher_set_bin (l, LAUNCHER_BROKER, env->broker_bin);
    launcher_set_bin (l, LAUNCHER_ECHO, env->echo_bin);
    launcher_set_port_base (l, port);
    launcher_set_timeout (l, 15000);
    //  Room for everything in flight; bench clients are agents: no rate limit
    long qmax = 0;
    for (int i = 0; i < o->nlevels; i++)
        if ((long) o->clients[i] * o->depth[i] > qmax)
            qmax = (long) o->clients[i] * o->depth[i];
    char args[256];
    snprintf (args, sizeof (args), "--queue-max %ld --log-level warn --set role/agent/rate=0",
              2 * qmax > 1000 ? 2 * qmax : 1000);
    launcher_set_args (l, LAUNCHER_BROKER, args);
    snprintf (args, sizeof (args), "--capacity %d --log-level warn", o->capacity);
    launcher_set_args (l, LAUNCHER_ECHO, args);
    if (curve) {
        launcher_keygen (l, "echo", "node");
        launcher_set_cert (l, LAUNCHER_ECHO, "echo");
        for (int i = 0; i < max_clients; i++) {
            char name[16];
            snprintf (name, sizeof (name), "c%d", i);
            if (launcher_add_principal (l, name, zcert_public_txt (env->certs[i]), "agent") != 0)
                return -1;
        }
    } else
        //  Plaintext: every peer gets role node, which may call echo unlimited
        launcher_set_plaintext (l, "node");
    if (launcher_start_broker (l, NULL) != 0)
        return -1;
    c->broker = launcher_broker_pid (l);
    c->echo = launcher_start_echo (l, "echo", NULL, false);
    if (c->echo < 0 || !launcher_wait_workers (l, "echo", 1, 15000)) {
        fprintf (stderr, TOOL ": the broker did not get its lh-echo\n");
        launcher_log_tail (launcher_log_path (l, c->broker), 12);
        return -1;
    }
    //  The clients, each with one echo answered (CURVE handshakes done)
    c->clients = (drive_client_t *) calloc ((size_t) max_clients, sizeof (drive_client_t));
    c->count = max_clients;
    for (int i = 0; i < max_clients; i++) {
        drive_client_t *b = &c->clients[i];
        lh_connect_t conn = {.endpoint = launcher_frontend (l),
                             .server_key = curve ? launcher_broker_key (l) : NULL,
                             .cert = curve ? env->certs[i] : NULL};
        b->client = lh_client_new (&conn);
        b->ring = (drive_slot_t *) calloc (DRIVE_RING, sizeof (drive_slot_t));
        b->index = i;
        if (!b->client || !b->ring)
            return -1;
        lh_client_set_timeout (b->client, o->timeout_ms);
        lh_client_set_retries (b->client, 0);
    }
    drive_t d;
    drive_init (&d, c->clients, max_clients, DRIVE_ECHO);
    d.data = &env->body;
    d.once = true;
    d.t0 = UINT64_MAX;
    d.drain_ns = (uint64_t) o->timeout_ms * 2000000ULL;
    drive_run (&d);
    bool ok = d.check.ok == (uint64_t) max_clients;
    if (!ok)
        fprintf (stderr, TOOL ": %s: %llu of %d clients had their first echo answered%s%s\n",
                 curve ? "CURVE" : "plaintext", (unsigned long long) d.check.ok, max_clients,
                 d.check.samples ? ": " : "", d.check.samples ? d.check.sample[0] : "");
    drive_destroy (&d);
    c->up = ok;
    return ok ? 0 : -1;
}

static void
s_lh_stop (lhrr_t *c)
{
    for (int i = 0; c->clients && i < c->count; i++) {
        lh_client_destroy (&c->clients[i].client);
        free (c->clients[i].ring);
    }
    free (c->clients);
    c->clients = NULL;
    if (c->launcher) {
        launcher_stop_kind (c->launcher, LAUNCHER_ECHO, 2000);
        launcher_stop_all (c->launcher, 2000);
        launcher_destroy (&c->launcher);
    }
}

static void
s_lh_window (nenv_t *env, const nopts_t *o, lhrr_t *c, rr_t *r)
{
    drive_t *d = (drive_t *) calloc (1, sizeof (drive_t));
    rsnap_t *snap = (rsnap_t *) calloc (2, sizeof (rsnap_t));
    drive_init (d, c->clients, r->clients, DRIVE_ECHO);
    d->depth = r->depth;
    d->data = &env->body;
    d->t0 = bench_now_ns () + (uint64_t) (o->warmup * 1e9);
    atomic_store (&d->t1, d->t0 + (uint64_t) (o->duration * 1e9));
    d->drain_ns = (uint64_t) (o->drain * 1e9);
    pthread_t thread;
    if (pthread_create (&thread, NULL, drive_run, d) == 0) {
        proc_sleep_until (d->t0);
        s_rsnap (&snap[0], c->broker, c->echo);
        proc_sleep_until (atomic_load (&d->t1));
        s_rsnap (&snap[1], c->broker, c->echo);
        pthread_join (thread, NULL);
        r->seconds = (double) (atomic_load (&d->t1) - d->t0) / 1e9;
        r->ok = d->window_ok;
        r->sent = d->check.sent;
        r->failed = d->check.failed;
        r->late = d->check.late;
        r->dropped = d->dropped;
        if (d->check.samples)
            snprintf (r->sample, sizeof (r->sample), "%s", d->check.sample[0]);
        s_rr_finish (r, &d->hist, &snap[0], &snap[1]);
    }
    drive_destroy (d);
    free (d);
    free (snap);
}

//  --------------------------------------------------------------------------
//  Request/reply: NATS (nats-server + the responder; a connection per client)

typedef struct nrun_s nrun_t;

typedef struct {
    uint64_t seq, sent_ns;
} nslot_t;

typedef struct {
    nrun_t *run;
    natsConnection *nc;
    natsSubscription *sub;
    char inbox[96];
    size_t inbox_len;
    pthread_mutex_t mu;
    int index, inflight;
    uint64_t seq;
    nslot_t *ring;
    hist_t *hist;
    uint64_t window_ok, ok, sent, failed, mismatched, late, send_failed;
    char sample[160];
} nclient_t;

struct nrun_s {
    const void *body;
    size_t body_len;
    int depth;
    bool once;
    uint64_t t0;
    _Atomic uint64_t t1;
};

typedef struct {
    pid_t server, responder;
    char url[64];
    bool send_asap; //  the responder's and clients' current setting
    nclient_t *clients;
    int count;
    nrun_t run;
    bool up;
} natsrr_t;

static void
s_nats_sample (nclient_t *c, const char *what)
{
    if (!c->sample[0])
        snprintf (c->sample, sizeof (c->sample), "%s", what);
}

//  Under c->mu
static bool
s_nats_send (nclient_t *c)
{
    nrun_t *run = c->run;
    uint64_t seq = ++c->seq;
    char reply[128];
    snprintf (reply, sizeof (reply), "%s.%llu", c->inbox, (unsigned long long) seq);
    uint64_t now = bench_now_ns ();
    c->sent++;
    natsStatus s =
        natsConnection_PublishRequest (c->nc, NATS_SUBJECT, reply, run->body, (int) run->body_len);
    if (s != NATS_OK) {
        c->send_failed++;
        c->failed++;
        s_nats_sample (c, natsStatus_GetText (s));
        return false;
    }
    c->ring[seq % DRIVE_RING] = (nslot_t){seq, now};
    c->inflight++;
    return true;
}

static bool
s_nats_sending (nrun_t *run, uint64_t now)
{
    return !run->once && now < atomic_load (&run->t1) && !bench_stop;
}

static void
s_nats_reply (natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) nc;
    (void) sub;
    nclient_t *c = (nclient_t *) closure;
    nrun_t *run = c->run;
    uint64_t now = bench_now_ns ();
    const char *subject = natsMsg_GetSubject (msg);
    uint64_t seq = subject && strlen (subject) > c->inbox_len
                       ? strtoull (subject + c->inbox_len + 1, NULL, 10)
                       : 0;
    pthread_mutex_lock (&c->mu);
    nslot_t *slot = &c->ring[seq % DRIVE_RING];
    if (seq == 0 || slot->seq != seq)
        c->late++;
    else {
        slot->seq = 0;
        c->inflight--;
        if ((size_t) natsMsg_GetDataLength (msg) != run->body_len ||
            memcmp (natsMsg_GetData (msg), run->body, run->body_len) != 0) {
            c->mismatched++;
            c->failed++;
            s_nats_sample (c, "a reply that is not the request's body");
        } else {
            c->ok++;
            if (now >= run->t0 && now < atomic_load (&run->t1)) {
                c->window_ok++;
                hist_record (c->hist, now - slot->sent_ns);
            }
        }
        while (c->inflight < run->depth && s_nats_sending (run, now))
            if (!s_nats_send (c))
                break;
    }
    pthread_mutex_unlock (&c->mu);
    natsMsg_Destroy (msg);
}

static void
s_nats_clients_close (natsrr_t *n)
{
    for (int i = 0; n->clients && i < n->count; i++) {
        nclient_t *c = &n->clients[i];
        if (c->sub)
            natsSubscription_Unsubscribe (c->sub);
        natsSubscription_Destroy (c->sub);
        natsConnection_Destroy (c->nc);
        pthread_mutex_destroy (&c->mu);
        free (c->ring);
        free (c->hist);
    }
    free (n->clients);
    n->clients = NULL;
    n->count = 0;
}

//  Every request in flight answered, or until
static bool
s_nats_wait_idle (natsrr_t *n, int count, uint64_t until)
{
    while (!bench_stop) {
        int inflight = 0;
        for (int i = 0; i < count; i++) {
            pthread_mutex_lock (&n->clients[i].mu);
            inflight += n->clients[i].inflight;
            pthread_mutex_unlock (&n->clients[i].mu);
        }
        if (inflight == 0)
            return true;
        if (bench_now_ns () >= until)
            return false;
        zclock_sleep (5);
    }
    return false;
}

//  count connections, each with its inbox subscription and one request
//  answered
static int
s_nats_clients_open (natsrr_t *n, nenv_t *env, const nopts_t *o, int count)
{
    n->clients = (nclient_t *) calloc ((size_t) count, sizeof (nclient_t));
    n->count = count;
    n->run = (nrun_t){.body = env->body.data, .body_len = env->body.size, .depth = 1, .once = true};
    atomic_store (&n->run.t1, 0);
    for (int i = 0; i < count; i++) {
        nclient_t *c = &n->clients[i];
        c->run = &n->run;
        c->index = i;
        pthread_mutex_init (&c->mu, NULL);
        c->ring = (nslot_t *) calloc (DRIVE_RING, sizeof (nslot_t));
        c->hist = (hist_t *) malloc (sizeof (hist_t));
        hist_reset (c->hist);
        natsOptions *opts = NULL;
        natsStatus s = natsOptions_Create (&opts);
        if (s == NATS_OK)
            s = natsOptions_SetURL (opts, n->url);
        if (s == NATS_OK)
            s = natsOptions_SetSendAsap (opts, n->send_asap);
        if (s == NATS_OK)
            s = natsOptions_UseGlobalMessageDelivery (opts, true);
        if (s == NATS_OK)
            s = natsConnection_Connect (&c->nc, opts);
        natsOptions_Destroy (opts);
        natsInbox *inbox = NULL;
        if (s == NATS_OK)
            s = natsInbox_Create (&inbox);
        if (s == NATS_OK) {
            snprintf (c->inbox, sizeof (c->inbox), "%s", inbox);
            c->inbox_len = strlen (c->inbox);
            char subject[128];
            snprintf (subject, sizeof (subject), "%s.*", c->inbox);
            s = natsConnection_Subscribe (&c->sub, c->nc, subject, s_nats_reply, c);
        }
        natsInbox_Destroy (inbox);
        if (s == NATS_OK)
            s = natsSubscription_SetPendingLimits (c->sub, -1, -1);
        if (s == NATS_OK)
            s = natsConnection_Flush (c->nc);
        if (s != NATS_OK) {
            fprintf (stderr, TOOL ": NATS client %d: %s\n", i, natsStatus_GetText (s));
            return -1;
        }
    }
    for (int i = 0; i < count; i++) {
        pthread_mutex_lock (&n->clients[i].mu);
        s_nats_send (&n->clients[i]);
        pthread_mutex_unlock (&n->clients[i].mu);
    }
    s_nats_wait_idle (n, count, bench_now_ns () + (uint64_t) o->timeout_ms * 2000000ULL);
    int ok = 0;
    for (int i = 0; i < count; i++) {
        nclient_t *c = &n->clients[i];
        pthread_mutex_lock (&c->mu);
        ok += c->ok == 1 && c->failed == 0;
        c->inflight = 0;
        c->ok = c->sent = 0;
        pthread_mutex_unlock (&c->mu);
    }
    if (ok != count)
        fprintf (stderr, TOOL ": %d of %d NATS clients had their first request answered\n", ok,
                 count);
    return ok == count ? 0 : -1;
}

//  nats-server and the responder, with send_asap as asked
static int
s_nats_responder (natsrr_t *n, nenv_t *env)
{
    if (n->responder > 0)
        launcher_stop (env->nats, n->responder, 2000);
    n->responder = 0;
    char log[PATH_MAX + 32];
    snprintf (log, sizeof (log), "%s/responder.log", launcher_dir (env->nats));
    char *argv[] = {env->self, "--nats-echo", n->url, NATS_SUBJECT, n->send_asap ? "1" : "0", NULL};
    n->responder = launcher_spawn (env->nats, "nats-echo", argv, log, -1, -1);
    if (n->responder < 0)
        return -1;
    //  Ready when a request is answered
    natsConnection *nc = NULL;
    int64_t until = zclock_mono () + 15000;
    bool ready = false;
    while (!ready && !bench_stop && zclock_mono () < until &&
           launcher_alive (env->nats, n->responder)) {
        if (!nc && natsConnection_ConnectTo (&nc, n->url) != NATS_OK)
            nc = NULL;
        natsMsg *reply = NULL;
        if (nc && natsConnection_Request (&reply, nc, NATS_SUBJECT, env->body.data,
                                          (int) env->body.size, 500) == NATS_OK)
            ready = natsMsg_GetDataLength (reply) == (int) env->body.size;
        natsMsg_Destroy (reply);
        if (!ready)
            zclock_sleep (100);
    }
    natsConnection_Destroy (nc);
    if (!ready && !bench_stop) {
        fprintf (stderr, TOOL ": the NATS responder did not answer\n");
        launcher_log_tail (log, 12);
        launcher_log_tail (launcher_log_path (env->nats, n->server), 12);
    }
    return ready ? 0 : -1;
}

static int
s_nats_start (natsrr_t *n, nenv_t *env, int port)
{
    memset (n, 0, sizeof (*n));
    snprintf (n->url, sizeof (n->url), "nats://127.0.0.1:%d", port);
    char log[PATH_MAX + 32], portstr[16];
    snprintf (log, sizeof (log), "%s/nats-server.log", launcher_dir (env->nats));
    snprintf (portstr, sizeof (portstr), "%d", port);
    char *argv[] = {env->nats_bin, "-a", "127.0.0.1", "-p", portstr, NULL};
    n->server = launcher_spawn (env->nats, "nats-server", argv, log, -1, -1);
    if (n->server < 0)
        return -1;
    return 0;
}

static void
s_nats_window (const nopts_t *o, natsrr_t *n, rr_t *r)
{
    nrun_t *run = &n->run;
    rsnap_t *snap = (rsnap_t *) calloc (2, sizeof (rsnap_t));
    hist_t *hist = (hist_t *) malloc (sizeof (hist_t));
    hist_reset (hist);
    for (int i = 0; i < r->clients; i++) {
        nclient_t *c = &n->clients[i];
        pthread_mutex_lock (&c->mu);
        hist_reset (c->hist);
        c->window_ok = c->ok = c->sent = c->failed = c->mismatched = c->late = c->send_failed = 0;
        c->sample[0] = 0;
        c->inflight = 0;
        memset (c->ring, 0, DRIVE_RING * sizeof (nslot_t));
        pthread_mutex_unlock (&c->mu);
    }
    run->depth = r->depth;
    run->once = false;
    run->t0 = bench_now_ns () + (uint64_t) (o->warmup * 1e9);
    atomic_store (&run->t1, run->t0 + (uint64_t) (o->duration * 1e9));
    uint64_t now = bench_now_ns ();
    for (int i = 0; i < r->clients; i++) {
        nclient_t *c = &n->clients[i];
        pthread_mutex_lock (&c->mu);
        while (c->inflight < run->depth && s_nats_sending (run, now))
            if (!s_nats_send (c))
                break;
        pthread_mutex_unlock (&c->mu);
    }
    proc_sleep_until (run->t0);
    s_rsnap (&snap[0], n->server, n->responder);
    proc_sleep_until (atomic_load (&run->t1));
    s_rsnap (&snap[1], n->server, n->responder);
    s_nats_wait_idle (n, r->clients, bench_now_ns () + (uint64_t) (o->drain * 1e9));
    r->seconds = (double) (atomic_load (&run->t1) - run->t0) / 1e9;
    for (int i = 0; i < r->clients; i++) {
        nclient_t *c = &n->clients[i];
        pthread_mutex_lock (&c->mu);
        hist_merge (hist, c->hist);
        r->ok += c->window_ok;
        r->sent += c->sent;
        //  Unanswered after the drain: lost
        r->failed += c->failed + (uint64_t) c->inflight;
        r->late += c->late;
        if (c->inflight && !r->sample[0])
            snprintf (r->sample, sizeof (r->sample), "%d requests unanswered after the drain",
                      c->inflight);
        if (c->sample[0] && !r->sample[0])
            snprintf (r->sample, sizeof (r->sample), "%s", c->sample);
        c->inflight = 0; //  what comes later is late
        memset (c->ring, 0, DRIVE_RING * sizeof (nslot_t));
        pthread_mutex_unlock (&c->mu);
    }
    r->send_asap = n->send_asap;
    s_rr_finish (r, hist, &snap[0], &snap[1]);
    free (hist);
    free (snap);
}

//  --------------------------------------------------------------------------
//  Durable log: results

typedef enum { LOG_LH, LOG_JS_DEFAULT, LOG_JS_SYNC, LOG_SYSTEMS } logsys_t;
static const char *s_log_name[LOG_SYSTEMS] = {"Lighthouse integrity log", "JetStream R3 default",
                                              "JetStream R3 sync"};
static const char *s_log_key[LOG_SYSTEMS] = {"lighthouse", "jetstream_default", "jetstream_sync"};
static const char *s_log_durability[LOG_SYSTEMS] = {
    "reply after a majority fsync'd (Raft, raft_uv O_DIRECT|O_DSYNC) and the leader applied",
    "ack after a majority wrote the entry to the page cache; fsync every 2 min (stream), 5 min "
    "(Raft log)",
    "ack after a majority wrote the Raft entry and the leader the stream, every write synchronous "
    "(chattr +S on the store, inherited by every file in it)"};

typedef struct {
    bool asked, ran;
    int clients, batch, inflight; //  events per append; appends (publishes) in flight per client
    double seconds;
    uint64_t events, appends, errors;
    double eps, aps, p50, p99, p999, pmax; //  ms
    double cpu_server;                     //  percent, over the window
    double cpu_server_sys;                 //  of which in the kernel
    double us_server;                      //  CPU us per event
    char sample[256];
} logrun_t;

typedef struct {
    bool asked, ran;
    logrun_t run[LOG_RUNS];
    bool checked, check_ok; //  the log holds what was acknowledged
    uint64_t acked, stored;
    char why[256]; //  when it did not run
    char fs[64];
    double floor_p50_us, floor_per_s; //  4 KiB synchronous appends, one writer
} logsys_res_t;

//  --------------------------------------------------------------------------
//  Durable log: Lighthouse through lh-events-bench

static double
s_jnum (json_t *o, const char *key)
{
    json_t *v = json_object_get (o, key);
    return json_is_number (v) ? json_number_value (v) : 0;
}

static void
s_lh_log (nenv_t *env, const nopts_t *o, logsys_res_t *res)
{
    char json_path[PATH_MAX + 32], log[PATH_MAX + 32];
    const char *dir = launcher_dir (env->nats);
    snprintf (json_path, sizeof (json_path), "%s/events.json", dir);
    snprintf (log, sizeof (log), "%s/events-bench.log", dir);
    char clients[16], batch[16], duration[32], warmup[32], drain[32], data[16], timeout[16],
        port[16];
    snprintf (clients, sizeof (clients), "%d", o->log_clients);
    snprintf (batch, sizeof (batch), "%d", o->batch);
    snprintf (duration, sizeof (duration), "%g", o->duration);
    snprintf (warmup, sizeof (warmup), "%g", o->warmup);
    snprintf (drain, sizeof (drain), "%g", o->drain);
    snprintf (data, sizeof (data), "%d", o->data_bytes);
    snprintf (timeout, sizeof (timeout), "%d", o->timeout_ms);
    snprintf (port, sizeof (port), "%d", o->port_base + 80);
    char *argv[40];
    int n = 0;
    char *fixed[] = {env->events_bin,
                     "--clients",
                     clients,
                     "--batch",
                     batch,
                     "--batch-clients",
                     clients,
                     "--duration",
                     duration,
                     "--warmup",
                     warmup,
                     "--drain",
                     drain,
                     "--data-bytes",
                     data,
                     "--timeout",
                     timeout,
                     "--profile",
                     "0",
                     "--baseline",
                     "0",
                     "--port-base",
                     port,
                     "--dir",
                     (char *) dir,
                     "--broker-bin",
                     env->broker_bin,
                     "--integrity-bin",
                     env->integrity_bin,
                     "--json-out",
                     json_path};
    for (size_t i = 0; i < sizeof (fixed) / sizeof (fixed[0]); i++)
        argv[n++] = fixed[i];
    if (o->source) {
        argv[n++] = "--source";
        argv[n++] = (char *) o->source;
    }
    argv[n] = NULL;
    pid_t pid = launcher_spawn (env->nats, "lh-events-bench", argv, log, -1, -1);
    while (pid > 0 && launcher_alive (env->nats, pid))
        zclock_sleep (bench_stop ? 10 : 100);
    if (bench_stop)
        return;
    json_error_t err;
    json_t *root = json_load_file (json_path, 0, &err);
    if (!root) {
        snprintf (res->why, sizeof (res->why),
                  "lh-events-bench wrote no JSON (see events-bench.log)");
        launcher_log_tail (log, 20);
        return;
    }
    json_t *cfg = json_object_get (root, "config");
    const char *fs = json_string_value (json_object_get (cfg, "filesystem"));
    snprintf (res->fs, sizeof (res->fs), "%s, O_DIRECT|O_DSYNC", fs ? fs : "?");
    json_t *floor = json_object_get (root, "write_floor_1_writer");
    res->floor_p50_us = s_jnum (floor, "p50_us");
    res->floor_per_s = s_jnum (floor, "per_s");
    json_t *runs = json_object_get (root, "runs");
    size_t i;
    json_t *run;
    json_array_foreach (runs, i, run)
    {
        int b = (int) s_jnum (run, "events_per_append");
        logrun_t *r = &res->run[b == 1 ? 0 : 1];
        if ((int) s_jnum (run, "clients") != o->log_clients ||
            !json_is_true (json_object_get (run, "ran")))
            continue;
        r->ran = true;
        r->seconds = s_jnum (run, "seconds");
        r->events = (uint64_t) s_jnum (run, "events");
        r->appends = (uint64_t) s_jnum (run, "appends");
        r->eps = s_jnum (run, "events_per_s");
        r->aps = s_jnum (run, "appends_per_s");
        r->p50 = s_jnum (run, "p50_ms");
        r->p99 = s_jnum (run, "p99_ms");
        r->p999 = s_jnum (run, "p999_ms");
        r->pmax = s_jnum (run, "max_ms");
        r->errors = (uint64_t) s_jnum (run, "errors");
        json_t *cpu = json_object_get (run, "cpu_pct");
        r->cpu_server = s_jnum (cpu, "broker") + s_jnum (cpu, "leader") + s_jnum (cpu, "followers");
        r->cpu_server_sys =
            s_jnum (cpu, "broker_sys") + s_jnum (cpu, "leader_sys") + s_jnum (cpu, "followers_sys");
        json_t *us = json_object_get (run, "cpu_us_per_event");
        r->us_server = s_jnum (us, "broker") + s_jnum (us, "leader") + s_jnum (us, "followers");
        if (r->errors)
            snprintf (r->sample, sizeof (r->sample), "%llu errors (see events-bench.log)",
                      (unsigned long long) r->errors);
    }
    json_t *check = json_object_get (root, "log_check");
    res->checked = json_is_true (json_object_get (check, "ran"));
    res->check_ok = json_is_true (json_object_get (check, "size_equals_acknowledged"));
    res->acked = (uint64_t) s_jnum (check, "acknowledged_events");
    json_t *sizes = json_object_get (check, "sizes");
    res->stored = (uint64_t) (json_is_array (sizes) && json_array_size (sizes)
                                  ? json_number_value (json_array_get (sizes, 0))
                                  : 0);
    res->ran = res->run[0].ran && res->run[1].ran;
    json_decref (root);
}

//  --------------------------------------------------------------------------
//  Durable log: JetStream

typedef struct jrun_s jrun_t;

typedef struct {
    jrun_t *run;
    natsConnection *nc;
    jsCtx *js;
    pthread_mutex_t mu;
    int index, inflight;
    uint32_t seq;
    nslot_t *ring;
    hist_t *hist;
    msgpack_sbuffer buf;
    char client_id[64];
    uint64_t window_ok, acked, sent, failed, late;
    char sample[160];
} jclient_t;

struct jrun_s {
    const msgpack_sbuffer *data; //  an event's data map
    uint32_t nonce;
    int window, timeout_ms;
    bool once;
    uint64_t t0;
    _Atomic uint64_t t1;
};

static void
s_js_sample (jclient_t *c, const char *what)
{
    if (!c->sample[0])
        snprintf (c->sample, sizeof (c->sample), "%s", what);
}

//  Under c->mu: one event {type: custom, client_id, data}, the client_id
//  also its Nats-Msg-Id
static void
s_js_event (jclient_t *c)
{
    jrun_t *run = c->run;
    uint32_t seq = ++c->seq;
    snprintf (c->client_id, sizeof (c->client_id), "j%08x-%d-%u", run->nonce, c->index, seq);
    const char *client_id = c->client_id;
    msgpack_sbuffer *b = &c->buf;
    b->size = 0;
    msgpack_packer pk;
    msgpack_packer_init (&pk, b, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 3);
    codec_pack_kv_str (&pk, "type", "custom");
    codec_pack_kv_str (&pk, "client_id", client_id);
    codec_pack_str (&pk, "data");
    msgpack_sbuffer_write (b, run->data->data, run->data->size);
}

static bool
s_js_send (jclient_t *c)
{
    jrun_t *run = c->run;
    s_js_event (c);
    uint32_t seq = c->seq;
    const char *client_id = c->client_id;
    msgpack_sbuffer *b = &c->buf;
    natsMsg *msg = NULL;
    uint64_t now = bench_now_ns ();
    c->sent++;
    natsStatus s = natsMsg_Create (&msg, JS_SUBJECT, NULL, b->data, (int) b->size);
    if (s == NATS_OK) {
        jsPubOptions po;
        jsPubOptions_Init (&po);
        po.MsgId = client_id;
        po.MaxWait = run->timeout_ms;
        s = js_PublishMsgAsync (c->js, &msg, &po);
    }
    natsMsg_Destroy (msg); //  NULL when the library took it
    if (s != NATS_OK) {
        c->failed++;
        s_js_sample (c, natsStatus_GetText (s));
        return false;
    }
    c->ring[seq % DRIVE_RING] = (nslot_t){seq, now};
    c->inflight++;
    return true;
}

static bool
s_js_sending (jrun_t *run, uint64_t now)
{
    return !run->once && now < atomic_load (&run->t1) && !bench_stop;
}

static void
s_js_ack (jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    (void) js;
    jclient_t *c = (jclient_t *) closure;
    jrun_t *run = c->run;
    uint64_t now = bench_now_ns ();
    const char *id = NULL;
    uint64_t seq = 0;
    if (natsMsgHeader_Get (msg, "Nats-Msg-Id", &id) == NATS_OK && id && strrchr (id, '-'))
        seq = strtoull (strrchr (id, '-') + 1, NULL, 10);
    pthread_mutex_lock (&c->mu);
    nslot_t *slot = &c->ring[seq % DRIVE_RING];
    if (seq == 0 || slot->seq != seq)
        c->late++;
    else {
        slot->seq = 0;
        c->inflight--;
        if (pae || !pa) {
            c->failed++;
            char what[160];
            snprintf (what, sizeof (what), "publish failed: %s (%d)",
                      pae && pae->ErrText ? pae->ErrText : "?", pae ? (int) pae->ErrCode : 0);
            s_js_sample (c, what);
        } else if (pa->Duplicate || pa->Sequence == 0 || !pa->Stream ||
                   strcmp (pa->Stream, JS_STREAM) != 0) {
            c->failed++;
            s_js_sample (c, pa->Duplicate ? "a new message acknowledged as a duplicate"
                                          : "an acknowledgement without stream or sequence");
        } else {
            c->acked++;
            if (now >= run->t0 && now < atomic_load (&run->t1)) {
                c->window_ok++;
                hist_record (c->hist, now - slot->sent_ns);
            }
        }
        while (c->inflight < run->window && s_js_sending (run, now))
            if (!s_js_send (c))
                break;
    }
    pthread_mutex_unlock (&c->mu);
    natsMsg_Destroy (msg);
}

typedef struct {
    pid_t server[REPLICAS];
    char url[REPLICAS][64];
    jclient_t *clients;
    int count;
    jrun_t run;
    natsConnection *admin;
    jsCtx *ajs;
} jscluster_t;

static bool
s_js_alive (nenv_t *env, jscluster_t *j)
{
    bool alive = true;
    for (int i = 0; i < REPLICAS; i++)
        alive &= launcher_alive (env->nats, j->server[i]);
    return alive;
}

static int
s_js_connect (natsConnection **nc, jscluster_t *j, bool global)
{
    natsOptions *opts = NULL;
    const char *servers[REPLICAS] = {j->url[0], j->url[1], j->url[2]};
    natsStatus s = natsOptions_Create (&opts);
    if (s == NATS_OK)
        s = natsOptions_SetServers (opts, servers, REPLICAS);
    if (s == NATS_OK && global)
        s = natsOptions_UseGlobalMessageDelivery (opts, true);
    if (s == NATS_OK)
        s = natsConnection_Connect (nc, opts);
    natsOptions_Destroy (opts);
    return s == NATS_OK ? 0 : -1;
}

//  Three nats-servers with JetStream in store (a directory per server), a
//  route to each other; the stream once the cluster has a meta leader
static int
s_js_start (nenv_t *env, const nopts_t *o, jscluster_t *j, const char *store, const char *tag)
{
    memset (j, 0, sizeof (*j));
    const char *dir = launcher_dir (env->nats);
    int client_port = o->port_base + 50, route_port = o->port_base + 60;
    for (int i = 0; i < REPLICAS; i++) {
        snprintf (j->url[i], sizeof (j->url[i]), "nats://127.0.0.1:%d", client_port + i);
        char conf[PATH_MAX + 64], log[PATH_MAX + 64];
        snprintf (conf, sizeof (conf), "%s/js-%s-%d.conf", dir, tag, i + 1);
        snprintf (log, sizeof (log), "%s/js-%s-%d.log", dir, tag, i + 1);
        FILE *f = fopen (conf, "w");
        if (!f)
            return -1;
        fprintf (f,
                 "server_name: n%d\nlisten: 127.0.0.1:%d\n"
                 "jetstream {\n  store_dir: \"%s/n%d\"\n  max_memory_store: 256MB\n"
                 "  max_file_store: 16GB\n}\n"
                 "cluster {\n  name: lhbench\n  listen: 127.0.0.1:%d\n  routes: [\n",
                 i + 1, client_port + i, store, i + 1, route_port + i);
        for (int k = 0; k < REPLICAS; k++)
            if (k != i)
                fprintf (f, "    nats-route://127.0.0.1:%d\n", route_port + k);
        fprintf (f, "  ]\n}\n");
        fclose (f);
        char *argv[] = {env->nats_bin, "-c", conf, NULL};
        j->server[i] = launcher_spawn (env->nats, "nats-server", argv, log, -1, -1);
        if (j->server[i] < 0)
            return -1;
    }
    //  The stream: retried until the cluster has elected its meta leader
    int64_t until = zclock_mono () + 60000;
    char last[160] = "";
    while (!bench_stop && zclock_mono () < until && s_js_alive (env, j)) {
        if (!j->admin && s_js_connect (&j->admin, j, false) != 0)
            j->admin = NULL;
        if (j->admin && !j->ajs && natsConnection_JetStream (&j->ajs, j->admin, NULL) != NATS_OK)
            j->ajs = NULL;
        if (j->ajs) {
            jsStreamConfig cfg;
            jsStreamConfig_Init (&cfg);
            const char *subjects[] = {JS_SUBJECT};
            cfg.Name = JS_STREAM;
            cfg.Subjects = subjects;
            cfg.SubjectsLen = 1;
            cfg.Storage = js_FileStorage;
            cfg.Replicas = REPLICAS;
            jsStreamInfo *si = NULL;
            jsErrCode jerr = 0;
            natsStatus s = js_AddStream (&si, j->ajs, &cfg, NULL, &jerr);
            jsStreamInfo_Destroy (si);
            if (s == NATS_OK)
                return 0;
            snprintf (last, sizeof (last), "%s (%d): %s", natsStatus_GetText (s), (int) jerr,
                      nats_GetLastError (NULL) ? nats_GetLastError (NULL) : "");
        }
        zclock_sleep (250);
    }
    if (!bench_stop) {
        fprintf (stderr, TOOL ": JetStream (%s) did not take the stream: %s\n", tag, last);
        for (int i = 0; i < REPLICAS; i++)
            launcher_log_tail (launcher_log_path (env->nats, j->server[i]), 8);
    }
    return -1;
}

static void
s_js_stop (nenv_t *env, jscluster_t *j)
{
    for (int i = 0; j->clients && i < j->count; i++) {
        jclient_t *c = &j->clients[i];
        jsCtx_Destroy (c->js);
        natsConnection_Destroy (c->nc);
        pthread_mutex_destroy (&c->mu);
        free (c->ring);
        free (c->hist);
        msgpack_sbuffer_destroy (&c->buf);
    }
    free (j->clients);
    j->clients = NULL;
    jsCtx_Destroy (j->ajs);
    natsConnection_Destroy (j->admin);
    j->ajs = NULL;
    j->admin = NULL;
    for (int i = 0; i < REPLICAS; i++)
        if (j->server[i] > 0)
            launcher_stop (env->nats, j->server[i], 5000);
}

static int
s_js_wait_idle (jscluster_t *j, uint64_t until)
{
    int inflight = 0;
    while (!bench_stop) {
        inflight = 0;
        for (int i = 0; i < j->count; i++) {
            pthread_mutex_lock (&j->clients[i].mu);
            inflight += j->clients[i].inflight;
            pthread_mutex_unlock (&j->clients[i].mu);
        }
        if (inflight == 0 || bench_now_ns () >= until)
            break;
        zclock_sleep (5);
    }
    return inflight;
}

static int
s_js_clients_open (jscluster_t *j, const nopts_t *o, const msgpack_sbuffer *data, uint32_t nonce)
{
    j->count = o->log_clients;
    j->clients = (jclient_t *) calloc ((size_t) j->count, sizeof (jclient_t));
    j->run = (jrun_t){.data = data, .nonce = nonce, .window = 1, .timeout_ms = o->timeout_ms};
    j->run.once = true;
    for (int i = 0; i < j->count; i++) {
        jclient_t *c = &j->clients[i];
        c->run = &j->run;
        c->index = i;
        pthread_mutex_init (&c->mu, NULL);
        c->ring = (nslot_t *) calloc (DRIVE_RING, sizeof (nslot_t));
        c->hist = (hist_t *) malloc (sizeof (hist_t));
        hist_reset (c->hist);
        msgpack_sbuffer_init (&c->buf);
        jsOptions jo;
        jsOptions_Init (&jo);
        jo.PublishAsync.AckHandler = s_js_ack;
        jo.PublishAsync.AckHandlerClosure = c;
        jo.PublishAsync.MaxPending = DRIVE_RING / 2;
        if (s_js_connect (&c->nc, j, true) != 0 ||
            natsConnection_JetStream (&c->js, c->nc, &jo) != NATS_OK) {
            fprintf (stderr, TOOL ": JetStream client %d cannot connect\n", i);
            return -1;
        }
    }
    for (int i = 0; i < j->count; i++) {
        pthread_mutex_lock (&j->clients[i].mu);
        s_js_send (&j->clients[i]);
        pthread_mutex_unlock (&j->clients[i].mu);
    }
    s_js_wait_idle (j, bench_now_ns () + (uint64_t) o->timeout_ms * 2000000ULL);
    int ok = 0;
    for (int i = 0; i < j->count; i++)
        ok += j->clients[i].acked == 1;
    if (ok != j->count)
        fprintf (stderr,
                 TOOL ": %d of %d JetStream clients had their first publish acknowledged%s%s\n", ok,
                 j->count, j->clients[0].sample[0] ? ": " : "", j->clients[0].sample);
    return ok == j->count ? 0 : -1;
}

static void
s_js_window (nenv_t *env, const nopts_t *o, jscluster_t *j, logrun_t *r)
{
    jrun_t *run = &j->run;
    typedef struct {
        host_snap_t host;
        cpu_snap_t server[REPLICAS];
    } jsnap_t;
    jsnap_t *snap = (jsnap_t *) calloc (2, sizeof (jsnap_t));
    hist_t *hist = (hist_t *) malloc (sizeof (hist_t));
    hist_reset (hist);
    for (int i = 0; i < j->count; i++) {
        jclient_t *c = &j->clients[i];
        pthread_mutex_lock (&c->mu);
        hist_reset (c->hist);
        c->window_ok = 0;
        c->inflight = 0;
        memset (c->ring, 0, DRIVE_RING * sizeof (nslot_t));
        pthread_mutex_unlock (&c->mu);
    }
    uint64_t failed0 = 0;
    for (int i = 0; i < j->count; i++)
        failed0 += j->clients[i].failed;
    run->window = r->inflight;
    run->once = false;
    run->t0 = bench_now_ns () + (uint64_t) (o->warmup * 1e9);
    atomic_store (&run->t1, run->t0 + (uint64_t) (o->duration * 1e9));
    uint64_t now = bench_now_ns ();
    for (int i = 0; i < j->count; i++) {
        jclient_t *c = &j->clients[i];
        pthread_mutex_lock (&c->mu);
        while (c->inflight < run->window && s_js_sending (run, now))
            if (!s_js_send (c))
                break;
        pthread_mutex_unlock (&c->mu);
    }
    proc_sleep_until (run->t0);
    host_snap (&snap[0].host);
    for (int i = 0; i < REPLICAS; i++)
        cpu_snap (&snap[0].server[i], j->server[i]);
    proc_sleep_until (atomic_load (&run->t1));
    host_snap (&snap[1].host);
    for (int i = 0; i < REPLICAS; i++)
        cpu_snap (&snap[1].server[i], j->server[i]);
    //  Every publish is acknowledged or timed out by libnats (MaxWait) by then
    double drain = o->drain > o->timeout_ms / 1000.0 + 1 ? o->drain : o->timeout_ms / 1000.0 + 1;
    int left = s_js_wait_idle (j, bench_now_ns () + (uint64_t) (drain * 1e9));
    r->seconds = (double) (atomic_load (&run->t1) - run->t0) / 1e9;
    uint64_t failed = 0;
    for (int i = 0; i < j->count; i++) {
        jclient_t *c = &j->clients[i];
        pthread_mutex_lock (&c->mu);
        hist_merge (hist, c->hist);
        r->appends += c->window_ok;
        failed += c->failed;
        if (c->sample[0] && !r->sample[0])
            snprintf (r->sample, sizeof (r->sample), "%s", c->sample);
        c->inflight = 0;
        memset (c->ring, 0, DRIVE_RING * sizeof (nslot_t));
        pthread_mutex_unlock (&c->mu);
    }
    r->errors = failed - failed0 + (uint64_t) left;
    if (left && !r->sample[0])
        snprintf (r->sample, sizeof (r->sample), "%d publishes unacknowledged after the drain",
                  left);
    r->events = r->appends;
    r->ran = !bench_stop && s_js_alive (env, j);
    r->eps = r->seconds > 0 ? (double) r->events / r->seconds : 0;
    r->aps = r->eps;
    r->p50 = (double) hist_percentile (hist, 50) / 1e6;
    r->p99 = (double) hist_percentile (hist, 99) / 1e6;
    r->p999 = (double) hist_percentile (hist, 99.9) / 1e6;
    r->pmax = (double) hist->max / 1e6;
    for (int i = 0; i < REPLICAS; i++) {
        r->cpu_server += cpu_percent (&snap[0].server[i], &snap[1].server[i], NULL, NULL, 0);
        r->cpu_server_sys += cpu_percent_sys (&snap[0].server[i], &snap[1].server[i]);
    }
    if (r->events)
        r->us_server = r->cpu_server / 100.0 * r->seconds / (double) r->events * 1e6;
    free (hist);
    free (snap);
}

//  4 KiB appends to a new file for seconds, each durable before the next:
//  write + fdatasync, or (in a chattr +S directory) the write alone. p50 in us,
//  appends per second.
static void
s_floor (const char *dir, bool sync_dir, double seconds, double *p50, double *rate)
{
    char path[PATH_MAX + 64];
    snprintf (path, sizeof (path), "%s/floor.dat", dir);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    char block[4096];
    memset (block, 'x', sizeof (block));
    hist_t *h = (hist_t *) malloc (sizeof (hist_t));
    hist_reset (h);
    uint64_t start = bench_now_ns (), until = start + (uint64_t) (seconds * 1e9);
    bool ok = true;
    while (ok && !bench_stop && bench_now_ns () < until) {
        uint64_t t = bench_now_ns ();
        ok = write (fd, block, sizeof (block)) == (ssize_t) sizeof (block) &&
             (sync_dir || fdatasync (fd) == 0);
        hist_record (h, bench_now_ns () - t);
    }
    double took = (double) (bench_now_ns () - start) / 1e9;
    *p50 = (double) hist_percentile (h, 50) / 1000.0;
    *rate = took > 0 ? (double) h->count / took : 0;
    free (h);
    close (fd);
    unlink (path);
}

//  dir, made with the synchronous-updates attribute, which what is made in
//  it inherits
static int
s_sync_dir (const char *dir, char *why, size_t why_size)
{
    if (zsys_dir_create ("%s", dir) != 0) {
        snprintf (why, why_size, "cannot make the store directory");
        return -1;
    }
    int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int flags = 0;
    bool ok = fd >= 0 && ioctl (fd, FS_IOC_GETFLAGS, &flags) == 0;
    if (ok) {
        flags |= FS_SYNC_FL;
        ok = ioctl (fd, FS_IOC_SETFLAGS, &flags) == 0;
    }
    ok = ok && ioctl (fd, FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_SYNC_FL);
    if (!ok)
        snprintf (why, why_size,
                  "this file system does not take the synchronous-updates attribute "
                  "(chattr +S): %s",
                  strerror (errno));
    if (fd >= 0)
        close (fd);
    return ok ? 0 : -1;
}

static void
s_js_log (nenv_t *env, const nopts_t *o, logsys_t which, const msgpack_sbuffer *data,
          logsys_res_t *res)
{
    bool sync_mode = which == LOG_JS_SYNC;
    const char *tag = sync_mode ? "sync" : "default";
    char store[PATH_MAX + 32];
    snprintf (store, sizeof (store), "%s/js-%s", launcher_dir (env->nats), tag);
    if (sync_mode && s_sync_dir (store, res->why, sizeof (res->why)) != 0) {
        fprintf (stderr, TOOL ": JetStream sync: %s\n", res->why);
        return;
    }
    if (!sync_mode && zsys_dir_create ("%s", store) != 0) {
        snprintf (res->why, sizeof (res->why), "cannot make the store directory");
        return;
    }
    snprintf (res->fs, sizeof (res->fs), "%s",
              sync_mode ? "write alone, chattr +S directory" : "write + fdatasync");
    s_floor (store, sync_mode, 1.0, &res->floor_p50_us, &res->floor_per_s);
    jscluster_t *j = (jscluster_t *) calloc (1, sizeof (jscluster_t));
    s_progress ("JetStream %s: three nats-servers, a stream of replicas 3 on file storage", tag);
    if (s_js_start (env, o, j, store, tag) != 0 ||
        s_js_clients_open (j, o, data, env->nonce ^ (uint32_t) which) != 0) {
        snprintf (res->why, sizeof (res->why), "the JetStream cluster did not come up");
        s_js_stop (env, j);
        free (j);
        return;
    }
    for (int k = 0; k < LOG_RUNS && !bench_stop; k++) {
        logrun_t *r = &res->run[k];
        s_progress ("JetStream %s: %d clients x %d publish%s in flight: %.1f s (+%.1f s warmup)",
                    tag, r->clients, r->inflight, r->inflight == 1 ? "" : "es", o->duration,
                    o->warmup);
        s_js_window (env, o, j, r);
        if (r->ran)
            s_progress ("  %.0f events/s, p50 %.2f ms, p99 %.2f ms, errors %llu%s%s", r->eps,
                        r->p50, r->p99, (unsigned long long) r->errors, r->sample[0] ? ": " : "",
                        r->sample);
    }
    //  The stream holds every acknowledged message (and no other)
    for (int i = 0; i < j->count; i++)
        res->acked += j->clients[i].acked;
    int64_t until = zclock_mono () + 10000;
    while (!bench_stop) {
        jsStreamInfo *si = NULL;
        jsErrCode jerr = 0;
        if (js_GetStreamInfo (&si, j->ajs, JS_STREAM, NULL, &jerr) == NATS_OK && si) {
            res->checked = true;
            res->stored = si->State.Msgs;
        }
        jsStreamInfo_Destroy (si);
        if ((res->checked && res->stored == res->acked) || zclock_mono () >= until)
            break;
        zclock_sleep (200);
    }
    res->check_ok = res->checked && res->stored == res->acked;
    res->ran = res->run[0].ran && res->run[1].ran;
    s_js_stop (env, j);
    free (j);
}

//  The data map of an event: {"payload": str} packed to size bytes
static void
s_data_map (msgpack_sbuffer *out, int size)
{
    //  map(1) + "payload" (8) + str header (1, 2 or 3 bytes) + text
    int text = size - 10;
    if (text >= 32)
        text = size - 11;
    if (text >= 256)
        text = size - 12;
    char *buf = (char *) malloc ((size_t) text + 1);
    uint64_t rng = 0x2545F4914F6CDD1DULL;
    for (int i = 0; i < text; i++)
        buf[i] = (char) ('a' + mix_rand (&rng) % 26);
    msgpack_packer pk;
    msgpack_packer_init (&pk, out, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 1);
    codec_pack_str (&pk, "payload");
    codec_pack_strn (&pk, buf, (size_t) text);
    free (buf);
}

//  --------------------------------------------------------------------------
//  Report

typedef struct {
    char when[32], load_before[64];
    double host_before;
    char *command;
    char nats_version[64];
    size_t data_size;
    size_t js_msg_size; //  one JetStream message: the event map
    size_t body_size;   //  a request/reply body
} meta_t;

typedef struct {
    rr_t rr[MAX_LEVELS][SYSTEMS];
    logsys_res_t log[LOG_SYSTEMS];
} results_t;

static double
s_ratio (double a, double b)
{
    return b > 0 ? a / b : 0;
}

//  The host's busy share that is none of ours (other work on the machine)
static double
s_other (const rr_t *r)
{
    double other = r->cpu_host - r->cpu_server - r->cpu_worker - r->cpu_clients;
    return other > 0 ? other : 0;
}

static void
s_table (FILE *out, const nopts_t *o, const meta_t *m, const results_t *res)
{
    fprintf (out, "\n## NATS as the yardstick: %s, source %s\n\n", m->when,
             o->source ? o->source : "?");
    fprintf (out,
             "load before: %s (host %.0f%% busy), %ld cores; %s; %.1f s windows (+%.1f s "
             "warmup)\n",
             m->load_before, m->host_before, sysconf (_SC_NPROCESSORS_ONLN), m->nats_version,
             o->duration, o->warmup);
    if (o->do_rr) {
        fprintf (out,
                 "\n### Request/reply (%d-byte payload in a msgpack map of %zu bytes, echoed)\n\n"
                 "| level | system | req/s | p50 us | p99 us | p99.9 us | server CPU us/req | "
                 "server CPU %% | clients CPU %% | other CPU %% | failed |\n"
                 "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
                 o->payload, m->body_size);
        for (int l = 0; l < o->nlevels; l++)
            for (int s = 0; s < SYSTEMS; s++) {
                const rr_t *r = &res->rr[l][s];
                if (!r->asked)
                    continue;
                char name[64];
                snprintf (name, sizeof (name), "%s%s", s_system_name[s],
                          s == SYS_NATS ? (r->send_asap ? " (send asap)" : " (buffered)") : "");
                if (!r->ran) {
                    fprintf (out, "| %dx%d | %s | did not run | | | | | | | | |\n", r->clients,
                             r->depth, name);
                    continue;
                }
                fprintf (out,
                         "| %dx%d | %s | %.0f | %.0f | %.0f | %.0f | %.1f | %.0f + %.0f | %.0f | "
                         "%.0f | %llu |\n",
                         r->clients, r->depth, name, r->rps, r->p50, r->p99, r->p999, r->us_server,
                         r->cpu_server, r->cpu_worker, r->cpu_clients, s_other (r),
                         (unsigned long long) r->failed);
            }
        fprintf (out, "\nLighthouse / NATS:\n\n| level | system | throughput | p99 | target "
                      "(throughput >= 1, p99 < 1) |\n|---|---|---:|---:|---|\n");
        for (int l = 0; l < o->nlevels; l++)
            for (int s = SYS_PLAIN; s <= SYS_CURVE; s++) {
                const rr_t *r = &res->rr[l][s], *n = &res->rr[l][SYS_NATS];
                if (!r->ran || !n->ran)
                    continue;
                double tp = s_ratio (r->rps, n->rps), p99 = s_ratio (r->p99, n->p99);
                fprintf (out, "| %dx%d | %s | %.2f | %.2f | %s |\n", r->clients, r->depth,
                         s_system_name[s], tp, p99,
                         tp >= 1 && p99 < 1 ? "met"
                         : tp >= 1          ? "missed (p99)"
                         : p99 < 1          ? "missed (throughput)"
                                            : "missed (both)");
            }
    }
    if (o->do_log) {
        fprintf (out,
                 "\n### Durable log (%d clients; events of %zu-byte data maps: a JetStream "
                 "message of %zu bytes)\n\n"
                 "| run | system | events/s | appends/s | p50 ms | p99 ms | p99.9 ms | server CPU "
                 "us/event | server CPU %% (sys) | errors |\n"
                 "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
                 o->log_clients, m->data_size, m->js_msg_size);
        for (int k = 0; k < LOG_RUNS; k++)
            for (int s = 0; s < LOG_SYSTEMS; s++) {
                const logsys_res_t *ls = &res->log[s];
                const logrun_t *r = &ls->run[k];
                if (!ls->asked)
                    continue;
                char run[64];
                if (s == LOG_LH)
                    snprintf (run, sizeof (run), "%dx1, %d event%s per append", r->clients,
                              r->batch, r->batch == 1 ? "" : "s");
                else
                    snprintf (run, sizeof (run), "%dx%d in flight, 1 event each", r->clients,
                              r->inflight);
                if (!r->ran) {
                    fprintf (out, "| %s | %s | did not run%s%s | | | | | | | |\n", run,
                             s_log_name[s], ls->why[0] ? ": " : "", ls->why);
                    continue;
                }
                fprintf (
                    out,
                    "| %s | %s | %.0f | %.0f | %.2f | %.2f | %.2f | %.1f | %.0f (%.0f) | %llu |\n",
                    run, s_log_name[s], r->eps, r->aps, r->p50, r->p99, r->p999, r->us_server,
                    r->cpu_server, r->cpu_server_sys, (unsigned long long) r->errors);
            }
        fprintf (out, "\nDurability and checks:\n\n");
        for (int s = 0; s < LOG_SYSTEMS; s++) {
            const logsys_res_t *ls = &res->log[s];
            if (!ls->asked)
                continue;
            fprintf (out,
                     "- %s: %s. Log check: %s (%llu acknowledged, %llu stored). 4 KiB durable "
                     "append, one writer, in its directory (%s): p50 %.0f us, %.0f/s.\n",
                     s_log_name[s], s_log_durability[s],
                     !ls->checked   ? "not run"
                     : ls->check_ok ? "ok"
                                    : "FAILED",
                     (unsigned long long) ls->acked, (unsigned long long) ls->stored, ls->fs,
                     ls->floor_p50_us, ls->floor_per_s);
        }
        fprintf (out, "\nLighthouse / JetStream (events/s, p99):\n\n| run | against | events/s | "
                      "p99 | ahead |\n|---|---|---:|---:|---|\n");
        for (int k = 0; k < LOG_RUNS; k++)
            for (int s = LOG_JS_DEFAULT; s < LOG_SYSTEMS; s++) {
                const logrun_t *a = &res->log[LOG_LH].run[k], *b = &res->log[s].run[k];
                if (!a->ran || !b->ran)
                    continue;
                double tp = s_ratio (a->eps, b->eps), p99 = s_ratio (a->p99, b->p99);
                fprintf (out, "| %s | %s%s | %.2f | %.2f | %s |\n",
                         k == 0 ? "1 event in flight per client" : "batched", s_log_name[s],
                         s == LOG_JS_SYNC ? " (equal durability)" : "", tp, p99,
                         tp >= 1 ? "yes" : "no");
            }
    }
    fprintf (out,
             "\nreq/s and events/s: replies checked ok in the window / its length. Latency: from "
             "the send call to the checked reply, in the client. Server CPU: from /proc over the "
             "window, 100 = one core (request/reply: broker + lh-echo, nats-server + responder; "
             "other: the "
             "host's busy time that is none of ours; "
             "log: broker + 3 replicas, 3 nats-servers), per ok reply or event.\n");
}

static void
s_json_rr (FILE *out, const rr_t *r)
{
    fprintf (out,
             "{\"clients\": %d, \"depth\": %d, \"ran\": %s, \"seconds\": %.3f, \"ok\": %llu, "
             "\"req_per_s\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f, \"p999_us\": %.1f, "
             "\"max_us\": %.1f, \"mean_us\": %.1f, \"cpu_pct\": {\"server\": %.1f, \"worker\": "
             "%.1f, \"clients\": %.1f, \"host\": %.1f}, \"server_cpu_us_per_req\": %.2f, "
             "\"sent\": %llu, \"failed\": %llu, \"late\": %llu, \"send_asap\": %s, \"sample\": ",
             r->clients, r->depth, r->ran ? "true" : "false", r->seconds,
             (unsigned long long) r->ok, r->rps, r->p50, r->p99, r->p999, r->pmax, r->mean,
             r->cpu_server, r->cpu_worker, r->cpu_clients, r->cpu_host, r->us_server,
             (unsigned long long) r->sent, (unsigned long long) r->failed,
             (unsigned long long) r->late, r->send_asap ? "true" : "false");
    bench_json_string (out, r->sample);
    fprintf (out, "}");
}

static void
s_json (FILE *out, const nopts_t *o, const meta_t *m, const results_t *res)
{
    fprintf (out, "{\n  \"tool\": \"" TOOL "\",\n  \"time\": %lld,\n  \"source\": ",
             (long long) time (NULL));
    bench_json_string (out, o->source ? o->source : "");
    fprintf (out, ",\n  \"command\": ");
    bench_json_string (out, m->command ? m->command : "");
    fprintf (out, ",\n  \"host_before\": {\"loadavg\": ");
    bench_json_string (out, m->load_before);
    fprintf (out, ", \"busy_pct\": %.1f},\n  \"nats_server\": ", m->host_before);
    bench_json_string (out, m->nats_version);
    fprintf (out,
             ",\n  \"config\": {\"cores\": %ld, \"duration_s\": %.3f, \"warmup_s\": %.3f, "
             "\"payload_bytes\": %d, \"body_bytes\": %d, \"log_clients\": %d, \"batch\": %d, "
             "\"data_map_bytes\": %zu, \"jetstream_message_bytes\": %zu},\n  \"request_reply\": [",
             sysconf (_SC_NPROCESSORS_ONLN), o->duration, o->warmup, o->payload, (int) m->body_size,
             o->log_clients, o->batch, m->data_size, m->js_msg_size);
    bool first = true;
    for (int l = 0; l < o->nlevels; l++) {
        fprintf (out, "%s\n    {\"level\": \"%dx%d\"", first ? "" : ",", o->clients[l],
                 o->depth[l]);
        first = false;
        for (int s = 0; s < SYSTEMS; s++)
            if (res->rr[l][s].asked) {
                fprintf (out, ", \"%s\": ", s_system_key[s]);
                s_json_rr (out, &res->rr[l][s]);
            }
        fprintf (out, "}");
    }
    fprintf (out, "\n  ],\n  \"durable_log\": {");
    first = true;
    for (int s = 0; s < LOG_SYSTEMS; s++) {
        const logsys_res_t *ls = &res->log[s];
        if (!ls->asked)
            continue;
        fprintf (out, "%s\n    \"%s\": {\"ran\": %s, \"durability\": ", first ? "" : ",",
                 s_log_key[s], ls->ran ? "true" : "false");
        first = false;
        bench_json_string (out, s_log_durability[s]);
        fprintf (out, ", \"why\": ");
        bench_json_string (out, ls->why);
        fprintf (out,
                 ", \"log_check\": {\"ran\": %s, \"ok\": %s, \"acknowledged\": %llu, \"stored\": "
                 "%llu}, \"floor_4k_p50_us\": %.1f, \"floor_4k_per_s\": %.1f, \"runs\": [",
                 ls->checked ? "true" : "false", ls->check_ok ? "true" : "false",
                 (unsigned long long) ls->acked, (unsigned long long) ls->stored, ls->floor_p50_us,
                 ls->floor_per_s);
        for (int k = 0; k < LOG_RUNS; k++) {
            const logrun_t *r = &ls->run[k];
            fprintf (
                out,
                "%s{\"clients\": %d, \"events_per_append\": %d, \"in_flight\": %d, "
                "\"ran\": %s, \"seconds\": %.3f, \"events\": %llu, \"events_per_s\": %.1f, "
                "\"appends_per_s\": %.1f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"p999_ms\": "
                "%.3f, \"max_ms\": %.3f, \"server_cpu_pct\": %.1f, \"server_cpu_sys_pct\": %.1f, "
                "\"server_cpu_us_per_event\": %.2f, \"errors\": %llu, \"sample\": ",
                k ? ", " : "", r->clients, r->batch, r->inflight, r->ran ? "true" : "false",
                r->seconds, (unsigned long long) r->events, r->eps, r->aps, r->p50, r->p99, r->p999,
                r->pmax, r->cpu_server, r->cpu_server_sys, r->us_server,
                (unsigned long long) r->errors);
            bench_json_string (out, r->sample);
            fprintf (out, "}");
        }
        fprintf (out, "]}");
    }
    fprintf (out, "\n  },\n  \"targets\": [");
    first = true;
    for (int l = 0; o->do_rr && l < o->nlevels; l++)
        for (int s = SYS_PLAIN; s <= SYS_CURVE; s++) {
            const rr_t *r = &res->rr[l][s], *n = &res->rr[l][SYS_NATS];
            if (!r->ran || !n->ran)
                continue;
            fprintf (
                out,
                "%s\n    {\"name\": \"request/reply %dx%d, %s vs NATS\", \"throughput_ratio\": "
                "%.3f, \"p99_ratio\": %.3f, \"met\": %s}",
                first ? "" : ",", r->clients, r->depth, s_system_name[s], s_ratio (r->rps, n->rps),
                s_ratio (r->p99, n->p99), r->rps >= n->rps && r->p99 < n->p99 ? "true" : "false");
            first = false;
        }
    for (int k = 0; o->do_log && k < LOG_RUNS; k++) {
        const logrun_t *a = &res->log[LOG_LH].run[k], *b = &res->log[LOG_JS_SYNC].run[k];
        if (!a->ran || !b->ran)
            continue;
        fprintf (out,
                 "%s\n    {\"name\": \"durable log %s, Lighthouse vs JetStream R3 sync\", "
                 "\"events_ratio\": %.3f, \"p99_ratio\": %.3f, \"met\": %s}",
                 first ? "" : ",", k ? "batched" : "1 in flight", s_ratio (a->eps, b->eps),
                 s_ratio (a->p99, b->p99), a->eps >= b->eps ? "true" : "false");
        first = false;
    }
    fprintf (out, "\n  ]\n}\n");
}

//  --------------------------------------------------------------------------

static int s_main (const nopts_t *o, int argc, char **argv);

int
main (int argc, char **argv)
{
    if (argc > 1 && streq (argv[1], "--nats-echo"))
        return s_echo_main (argc, argv);
    nopts_t o;
    zconfig_t *config = NULL;
    int rc = s_parse (&o, argc, argv, &config);
    if (rc < 0)
        rc = s_main (&o, argc, argv);
    zconfig_destroy (&config);
    return rc;
}

static void
s_nats_version (const char *bin, char *out, size_t size)
{
    snprintf (out, size, "nats-server ?");
    char cmd[PATH_MAX + 32];
    snprintf (cmd, sizeof (cmd), "'%s' --version 2>&1", bin);
    FILE *p = popen (cmd, "r");
    if (p) {
        if (fgets (out, (int) size, p))
            out[strcspn (out, "\n")] = 0;
        pclose (p);
    }
}

static bool
s_rr_good (const rr_t *r)
{
    return r->ran && r->failed == 0 && r->ok > 0;
}

static int
s_main (const nopts_t *o, int argc, char **argv)
{
    FILE *out = o->json ? stderr : stdout;
    proc_start ();
    if (sodium_init () < 0 || !zmq_has ("curve")) {
        fprintf (stderr, TOOL ": libsodium or libzmq's CURVE is not usable\n");
        return 1;
    }
    if (nats_Open (-1) != NATS_OK) {
        fprintf (stderr, TOOL ": libnats did not initialise\n");
        return 1;
    }
    meta_t meta;
    memset (&meta, 0, sizeof (meta));
    meta.command = proc_command_line (argc, argv);
    time_t now = time (NULL);
    strftime (meta.when, sizeof (meta.when), "%Y-%m-%d %H:%M:%S", localtime (&now));
    proc_loadavg (meta.load_before, sizeof (meta.load_before));
    meta.host_before = host_busy_over (1000);

    nenv_t *env = (nenv_t *) calloc (1, sizeof (nenv_t));
    results_t *res = (results_t *) calloc (1, sizeof (results_t));
    bool failed = false;
    if (s_env_init (env, o) != 0) {
        env->failed = true;
        s_env_destroy (env, o->keep);
        free (env);
        free (res);
        return 1;
    }
    s_nats_version (env->nats_bin, meta.nats_version, sizeof (meta.nats_version));
    meta.body_size = env->body.size;
    s_progress ("%s; broker %s; work dir %s", meta.nats_version, env->broker_bin, env->tmp);

    //  Request/reply
    int max_clients = 0;
    for (int l = 0; l < o->nlevels; l++) {
        max_clients = o->clients[l] > max_clients ? o->clients[l] : max_clients;
        for (int s = 0; s < SYSTEMS; s++) {
            rr_t *r = &res->rr[l][s];
            r->asked = o->do_rr && (s == SYS_PLAIN   ? o->do_plain
                                    : s == SYS_CURVE ? o->do_curve
                                                     : o->do_nats);
            r->clients = o->clients[l];
            r->depth = o->depth[l];
        }
    }
    if (o->do_rr && !bench_stop) {
        lhrr_t *lh = (lhrr_t *) calloc (2, sizeof (lhrr_t));
        natsrr_t *nats = (natsrr_t *) calloc (1, sizeof (natsrr_t));
        bool up[SYSTEMS] = {false, false, false};
        if (o->do_curve) {
            env->ncerts = max_clients;
            env->certs = (zcert_t **) calloc ((size_t) max_clients, sizeof (zcert_t *));
            for (int i = 0; i < max_clients; i++)
                env->certs[i] = zcert_new ();
        }
        if (o->do_plain) {
            s_progress ("Lighthouse plaintext: lh-broker, one lh-echo, %d clients", max_clients);
            up[SYS_PLAIN] = s_lh_start (env, o, &lh[0], false, max_clients, o->port_base) == 0;
        }
        if (o->do_curve && !bench_stop) {
            s_progress ("Lighthouse CURVE: lh-broker, one lh-echo, %d clients", max_clients);
            up[SYS_CURVE] = s_lh_start (env, o, &lh[1], true, max_clients, o->port_base + 20) == 0;
        }
        if (o->do_nats && !bench_stop) {
            s_progress ("NATS: nats-server, one responder, %d connections", max_clients);
            up[SYS_NATS] = s_nats_start (nats, env, o->port_base + 40) == 0;
            //  auto: as the first level wants it
            nats->send_asap = o->send_asap < 0 ? o->depth[0] == 1 : o->send_asap == 1;
            up[SYS_NATS] = up[SYS_NATS] && s_nats_responder (nats, env) == 0 &&
                           s_nats_clients_open (nats, env, o, max_clients) == 0;
        }
        for (int l = 0; l < o->nlevels && !bench_stop; l++)
            for (int s = 0; s < SYSTEMS && !bench_stop; s++) {
                rr_t *r = &res->rr[l][s];
                if (!r->asked || !up[s])
                    continue;
                if (s == SYS_NATS && o->send_asap < 0 && nats->send_asap != (r->depth == 1)) {
                    //  auto: the responder and the connections again with the other setting
                    s_nats_clients_close (nats);
                    nats->send_asap = r->depth == 1;
                    up[s] = s_nats_responder (nats, env) == 0 &&
                            s_nats_clients_open (nats, env, o, max_clients) == 0;
                    if (!up[s])
                        continue;
                }
                s_progress ("%dx%d %s%s: %.1f s (+%.1f s warmup)", r->clients, r->depth,
                            s_system_name[s],
                            s == SYS_NATS ? (nats->send_asap ? " (send asap)" : " (buffered)") : "",
                            o->duration, o->warmup);
                if (s == SYS_NATS)
                    s_nats_window (o, nats, r);
                else
                    s_lh_window (env, o, &lh[s], r);
                if (r->ran)
                    s_progress ("  %.0f req/s  p50 %.0f us  p99 %.0f us  p99.9 %.0f us  server "
                                "CPU %.1f us/req  failed %llu%s%s",
                                r->rps, r->p50, r->p99, r->p999, r->us_server,
                                (unsigned long long) r->failed, r->sample[0] ? ": " : "",
                                r->sample);
                bool alive = s == SYS_NATS ? launcher_alive (env->nats, nats->server) &&
                                                 launcher_alive (env->nats, nats->responder)
                                           : launcher_alive (lh[s].launcher, lh[s].broker) &&
                                                 launcher_alive (lh[s].launcher, lh[s].echo);
                if (!alive) {
                    fprintf (stderr, TOOL ": a server of %s died\n", s_system_name[s]);
                    r->ran = false;
                    up[s] = false;
                }
            }
        s_nats_clients_close (nats);
        if (nats->responder > 0)
            launcher_stop (env->nats, nats->responder, 2000);
        if (nats->server > 0)
            launcher_stop (env->nats, nats->server, 2000);
        s_lh_stop (&lh[0]);
        s_lh_stop (&lh[1]);
        free (lh);
        free (nats);
        for (int l = 0; l < o->nlevels; l++)
            for (int s = 0; s < SYSTEMS; s++)
                if (res->rr[l][s].asked && !s_rr_good (&res->rr[l][s]))
                    failed = true;
    }

    //  Durable log
    msgpack_sbuffer data;
    msgpack_sbuffer_init (&data);
    s_data_map (&data, o->data_bytes);
    meta.data_size = data.size;
    {
        //  The size of one JetStream message (a typical client_id)
        jclient_t probe;
        memset (&probe, 0, sizeof (probe));
        jrun_t run = {.data = &data, .nonce = 0x12345678};
        probe.run = &run;
        probe.index = 17;
        probe.seq = 123455;
        msgpack_sbuffer_init (&probe.buf);
        s_js_event (&probe);
        meta.js_msg_size = probe.buf.size;
        msgpack_sbuffer_destroy (&probe.buf);
    }
    for (int s = 0; s < LOG_SYSTEMS; s++) {
        logsys_res_t *ls = &res->log[s];
        ls->asked = o->do_log && (s == LOG_LH || (s == LOG_JS_DEFAULT && o->do_default) ||
                                  (s == LOG_JS_SYNC && o->do_sync));
        for (int k = 0; k < LOG_RUNS; k++) {
            ls->run[k].clients = o->log_clients;
            ls->run[k].batch = s == LOG_LH && k ? o->batch : 1;
            ls->run[k].inflight = s != LOG_LH && k ? o->batch : 1;
        }
    }
    if (o->do_log && !bench_stop) {
        s_progress ("Lighthouse integrity log: lh-events-bench, %d clients x 1 event, then x %d "
                    "events per append",
                    o->log_clients, o->batch);
        s_lh_log (env, o, &res->log[LOG_LH]);
        for (int k = 0; k < LOG_RUNS; k++) {
            const logrun_t *r = &res->log[LOG_LH].run[k];
            if (r->ran)
                s_progress ("  %d events per append: %.0f events/s, p50 %.2f ms, p99 %.2f ms, "
                            "errors %llu",
                            r->batch, r->eps, r->p50, r->p99, (unsigned long long) r->errors);
        }
        if (o->do_default && !bench_stop)
            s_js_log (env, o, LOG_JS_DEFAULT, &data, &res->log[LOG_JS_DEFAULT]);
        if (o->do_sync && !bench_stop)
            s_js_log (env, o, LOG_JS_SYNC, &data, &res->log[LOG_JS_SYNC]);
        for (int s = 0; s < LOG_SYSTEMS; s++) {
            const logsys_res_t *ls = &res->log[s];
            if (!ls->asked)
                continue;
            failed |= !ls->ran || !ls->check_ok;
            for (int k = 0; k < LOG_RUNS; k++)
                failed |= ls->run[k].errors > 0 || ls->run[k].events == 0;
        }
    }
    msgpack_sbuffer_destroy (&data);

    if (!bench_stop) {
        s_table (out, o, &meta, res);
        if (o->json)
            s_json (stdout, o, &meta, res);
        if (o->json_out) {
            FILE *file = fopen (o->json_out, "w");
            if (file) {
                s_json (file, o, &meta, res);
                fclose (file);
            } else {
                fprintf (stderr, TOOL ": cannot write %s\n", o->json_out);
                failed = true;
            }
        }
    }
    launcher_stop_all (env->nats, 2000);
    env->failed = failed;
    s_env_destroy (env, o->keep);
    free (env);
    free (res);
    free (meta.command);
    nats_Close ();
    if (bench_stop)
        return 130;
    return failed ? 1 : 0;
}
