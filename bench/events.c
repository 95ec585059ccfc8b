/*  events -- lh-events-bench: appends to the integrity log, replicated,
    signed and fsync'd through the real system, beside an LMDB baseline on
    the same filesystem, in one run (bench/run-events, bench/README.md).

    Starts on 127.0.0.1 a CURVE lh-broker and three lh-integrity replicas
    (each its own data directory under the bench's temporary directory, its
    own Raft port and signer key; the integrity monitor off unless asked),
    then, with CLIENTS DEALER sockets connected as lh_client connects
    (lh_connect_dealer, each its own key in the roster), for each client
    count: a closed loop, one append in flight per client, each
    {op: "append", events: [{type: "custom", client_id, data}]} to
    "events", the reply checked ({ok, results: [{seq, duplicate}], size,
    root, checkpoint}), warmup, measured window, drain. Then the same with
    BATCH events per append, and a window with perf recording the leader.
    At the end every replica's log size must equal the events acknowledged.

    Beside it, in the same run and before the cluster starts, on the same
    filesystem: one LMDB writer committing one record per synchronous
    transaction (the single-node floor of a durable append), 4 KiB
    O_DIRECT | O_DSYNC appends as raft_uv writes them, from one writer and
    from three (the device's floor), and one Ed25519 signature of a
    checkpoint, one verification and one SHA-256 leaf hash (libsodium), so
    the replicated figures can be read against what their parts cost.

    The clients run in one thread of this process over zmq_poll: a thread
    per client would cost more in wake-ups, on two cores, than the servers
    being measured, and at most a few hundred sockets make zmq_poll's scan
    cheap next to an fsync'd round trip.
*/
#include "bench.h"

#include "codec.h"
#include "event.h"
#include "launcher.h"
#include "lh_config.h"
#include "lh_client.h"
#include "lh_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#ifndef LH_BENCH_BROKER
#define LH_BENCH_BROKER ""
#endif
#ifndef LH_BENCH_INTEGRITY
#define LH_BENCH_INTEGRITY ""
#endif

#define TARGET_EPS    20000.0 //  events/s replicated, 100 clients
#define TARGET_P99_MS 20.0    //  p99 of one append

#define REPLICAS    3
#define MAX_COUNTS  8
#define MAX_SCEN    (2 * MAX_COUNTS + 1)
#define MAX_CLIENTS 1000
#define MAX_PARTS   6
#define MAX_TARGETS (2 * MAX_SCEN + 1)

typedef struct {
    int counts[MAX_COUNTS];
    int ncounts;
    int batch;
    int batch_counts[MAX_COUNTS];
    int nbatch;
    double duration, warmup, drain, baseline_s, profile_s;
    int data_bytes;
    int timeout_ms;
    int monitor_ms;
    int port_base;
    const char *role;
    const char *replica_args;
    const char *dir;
    const char *broker_bin, *integrity_bin, *perf_bin;
    const char *source;
    const char *json_out;
    bool json, keep;
} eopts_t;

static FILE *s_out;

#define s_progress(...) bench_progress ("lh-events-bench", __VA_ARGS__)

//  --------------------------------------------------------------------------
//  Options

static const char *s_summary =
    "Appends to the integrity log (service \"events\") through a CURVE lh-broker and\n"
    "three lh-integrity replicas on 127.0.0.1: replicated (Raft), signed (Ed25519\n"
    "checkpoints) and fsync'd. Closed loop, one append in flight per client, for each\n"
    "client count; then BATCH events per append; then a window with perf recording the\n"
    "leader. Beside it, on the same filesystem: one LMDB writer, one synchronous commit\n"
    "per record; 4 KiB pwrite + fdatasync; Ed25519 sign/verify and SHA-256 timings.\n"
    "Ports: P..P+2 (broker), P+10..P+12 (Raft). --baseline defaults to --duration.\n"
    "\n"
    "Targets (reported, not asserted): >= 20,000 events/s with 100 clients, p99 of an\n"
    "append <= 20 ms. Exit status: 0 when every run ran (targets met or not), 1 when one\n"
    "could not run or the log size differs from the events acknowledged, 2 on usage\n"
    "errors, 130 when interrupted.";

static const lh_option_t s_options[] = {
    {"clients", "events/clients", "1,10,100", "client counts, one event per append", false},
    {"batch", "events/batch", "16", "events per append in the batched runs; 0: none", false},
    {"batch-clients", "events/batch_clients", "100", "client counts of the batched runs", false},
    {"duration", "events/duration", "5", "measured seconds per run", false},
    {"warmup", "events/warmup", "1", "unmeasured seconds before each", false},
    {"drain", "events/drain", "3", "most seconds to wait for the last replies", false},
    {"baseline", "events/baseline", NULL, "seconds of the LMDB baseline", false},
    {"profile", "events/profile", "3", "seconds of perf on the leader; 0: none", false},
    {"data-bytes", "events/data_bytes", "200", "packed size of each event's data map", false},
    {"role", "events/role", "agent", "the clients' role in the roster: agent or node", false},
    {"timeout", "events/timeout", "5000", "per-append deadline, ms, no resends", false},
    {"monitor-ms", "events/monitor_ms", "0", "replicas' full re-verification interval; 0: off",
     false},
    {"replica-args", "events/replica_args", NULL,
     "more lh-integrity options, e.g. \"--inflight 8\"", false},
    {"dir", "events/dir", NULL, "where the temporary directory goes [$TMPDIR or /tmp]", false},
    {"port-base", "events/port_base", "17200", "first port (see below)", false},
    {"broker-bin", "events/broker_bin", NULL, "lh-broker [next to lh-events-bench]", false},
    {"integrity-bin", "events/integrity_bin", NULL, "lh-integrity [next to lh-events-bench]",
     false},
    {"perf-bin", "events/perf_bin", NULL, "perf [from PATH]", false},
    {"source", "events/source", NULL, "what was built (bench/run-events passes the commit)", false},
    {"json", "events/json", NULL, "JSON on stdout (the table goes to stderr)", true},
    {"json-out", "events/json_out", NULL, "also write the JSON to FILE", false},
    {"keep", "events/keep", NULL, "keep the temporary directory (keys, logs, data, perf.data)",
     true},
    {NULL, NULL, NULL, NULL, false},
};

static int
s_parse_list (const char *v, int *out, int *n)
{
    *n = 0;
    for (const char *p = v; *p && *n < MAX_COUNTS;) {
        out[(*n)++] = atoi (p);
        p = strchr (p, ',');
        if (!p)
            break;
        p++;
    }
    for (int i = 0; i < *n; i++)
        if (out[i] < 1 || out[i] > MAX_CLIENTS)
            return -1;
    return *n > 0 ? 0 : -1;
}

//  The options as lh_config_load reads them; the tree stays alive for
//  the strings in o
static int
s_parse (eopts_t *o, int argc, char **argv, zconfig_t **config_p)
{
    int exit_code = 0;
    zconfig_t *config =
        lh_config_load ("lh-events-bench", s_summary, s_options, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    *config_p = config;
#define S(name) lh_config_str (config, "events/" name, NULL)
#define I(name) (int) lh_config_int (config, "events/" name, -1)
#define D(name) atof (lh_config_str (config, "events/" name, "-1"))
    *o = (eopts_t){.batch = I ("batch"),
                   .duration = D ("duration"),
                   .warmup = D ("warmup"),
                   .drain = D ("drain"),
                   .baseline_s = D ("baseline"),
                   .profile_s = D ("profile"),
                   .data_bytes = I ("data_bytes"),
                   .timeout_ms = I ("timeout"),
                   .monitor_ms = I ("monitor_ms"),
                   .port_base = I ("port_base"),
                   .role = S ("role"),
                   .replica_args = S ("replica_args"),
                   .dir = S ("dir"),
                   .broker_bin = S ("broker_bin"),
                   .integrity_bin = S ("integrity_bin"),
                   .perf_bin = S ("perf_bin"),
                   .source = S ("source"),
                   .json_out = S ("json_out"),
                   .json = lh_config_bool (config, "events/json", false),
                   .keep = lh_config_bool (config, "events/keep", false)};
    bool lists_ok = s_parse_list (S ("clients"), o->counts, &o->ncounts) == 0 &&
                    s_parse_list (S ("batch_clients"), o->batch_counts, &o->nbatch) == 0;
#undef S
#undef I
#undef D
    if (o->baseline_s < 0)
        o->baseline_s = o->duration;
    if (!lists_ok || o->duration <= 0 || o->warmup < 0 || o->drain < 0 || o->baseline_s < 0 ||
        o->profile_s < 0 || o->batch < 0 || o->batch > EVENT_MAX_BATCH || o->data_bytes < 16 ||
        o->data_bytes > 65536 || o->timeout_ms < 1 || o->monitor_ms < 0 || o->port_base < 1024 ||
        o->port_base > 65000 || !(streq (o->role, "agent") || streq (o->role, "node"))) {
        fprintf (stderr, "lh-events-bench: an option is out of range (try --help)\n");
        return 2;
    }
    return -1;
}

//  --------------------------------------------------------------------------
//  What one event looks like

//  The data map {"payload": str} packed to size bytes (or just over)
static void
s_data_map (msgpack_sbuffer *out, int size)
{
    char *text = (char *) malloc ((size_t) size + 1);
    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    for (int len = 0; len <= size; len++) {
        out->size = 0;
        msgpack_packer pk;
        msgpack_packer_init (&pk, out, msgpack_sbuffer_write);
        msgpack_pack_map (&pk, 1);
        codec_pack_str (&pk, "payload");
        for (int i = 0; i < len; i++) {
            //  Text that does not repeat, so no layer compresses it away
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            text[i] = (char) ('a' + rng % 26);
        }
        codec_pack_strn (&pk, text, (size_t) len);
        if ((int) out->size >= size)
            break;
    }
    free (text);
}

//  The leaf a replica stores for one of our events (what the tree hashes
//  and what the LMDB baseline commits)
static void
s_make_leaf (const msgpack_sbuffer *data, const char *role, msgpack_sbuffer *leaf)
{
    msgpack_unpacked msg;
    msgpack_unpacked_init (&msg);
    msgpack_unpack_next (&msg, data->data, data->size, NULL);
    event_t ev;
    memset (&ev, 0, sizeof (ev));
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    ev.ts = (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
    ev.type = EVENT_CUSTOM;
    snprintf (ev.agent, sizeof (ev.agent), "c17");
    snprintf (ev.by, sizeof (ev.by), "c17");
    snprintf (ev.role, sizeof (ev.role), "%s", role);
    snprintf (ev.client_id, sizeof (ev.client_id), "e0123abcd-17-123456");
    ev.data = &msg.data;
    codec_buf_t body;
    codec_buf_init (&body);
    event_pack_body (&body.pk, &ev);
    event_leaf (body.sbuf.data, body.sbuf.size, 1234567, leaf);
    codec_buf_destroy (&body);
    msgpack_unpacked_destroy (&msg);
}

//  --------------------------------------------------------------------------
//  Context: crypto timings, the fsync floor, the LMDB baseline

typedef struct {
    uint64_t n;
    double p50, p99, mean; //  us
} micro_t;

typedef struct {
    bool ran;
    size_t note_len, leaf_len;
    micro_t sign, verify, leaf, node;
} crypto_t;

static void
s_micro_finish (micro_t *m, const hist_t *h, double scale)
{
    m->n = h->count;
    m->p50 = (double) hist_percentile (h, 50) / scale;
    m->p99 = (double) hist_percentile (h, 99) / scale;
    m->mean = hist_mean (h) / scale;
}

//  One Ed25519 signature of a checkpoint body, one verification, one
//  SHA-256 leaf hash (0x00 || leaf) and one node hash (0x01 || l || r), as
//  lh-integrity computes them (libsodium), on this machine, in this run
static void
s_crypto (const msgpack_sbuffer *leaf, crypto_t *c)
{
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair (pk, sk);
    unsigned char root[32], sig[crypto_sign_BYTES];
    randombytes_buf (root, sizeof (root));
    char b64[64];
    sodium_bin2base64 (b64, sizeof (b64), root, sizeof (root), sodium_base64_VARIANT_ORIGINAL);
    //  The C2SP checkpoint body a replica signs for every entry
    char note[256];
    int len = snprintf (note, sizeof (note), "lighthouse/log\n%llu\n%s\n", 123456789ULL, b64);
    c->note_len = (size_t) len;
    c->leaf_len = leaf->size;
    hist_t *h = (hist_t *) malloc (sizeof (hist_t));
    //  Ed25519 takes tens of microseconds: each call is timed on its own
    hist_reset (h);
    for (int i = 0; i < 3000 && !bench_stop; i++) {
        uint64_t t = bench_now_ns ();
        crypto_sign_detached (sig, NULL, (const unsigned char *) note, (size_t) len, sk);
        hist_record (h, bench_now_ns () - t);
    }
    s_micro_finish (&c->sign, h, 1000.0);
    hist_reset (h);
    for (int i = 0; i < 1500 && !bench_stop; i++) {
        uint64_t t = bench_now_ns ();
        if (crypto_sign_verify_detached (sig, (const unsigned char *) note, (size_t) len, pk) != 0)
            break;
        hist_record (h, bench_now_ns () - t);
    }
    s_micro_finish (&c->verify, h, 1000.0);
    //  A hash takes about a microsecond, near the clock's own cost: time
    //  blocks of 100 and record the per-hash mean of each block (in 1/100 ns)
    unsigned char out[32], zero = 0, one = 1;
    hist_reset (h);
    for (int b = 0; b < 300 && !bench_stop; b++) {
        uint64_t t = bench_now_ns ();
        for (int i = 0; i < 100; i++) {
            crypto_hash_sha256_state st;
            crypto_hash_sha256_init (&st);
            crypto_hash_sha256_update (&st, &zero, 1);
            crypto_hash_sha256_update (&st, (const unsigned char *) leaf->data, leaf->size);
            crypto_hash_sha256_final (&st, out);
        }
        hist_record (h, bench_now_ns () - t);
    }
    s_micro_finish (&c->leaf, h, 100.0 * 1000.0);
    hist_reset (h);
    for (int b = 0; b < 300 && !bench_stop; b++) {
        uint64_t t = bench_now_ns ();
        for (int i = 0; i < 100; i++) {
            crypto_hash_sha256_state st;
            crypto_hash_sha256_init (&st);
            crypto_hash_sha256_update (&st, &one, 1);
            crypto_hash_sha256_update (&st, root, 32);
            crypto_hash_sha256_update (&st, out, 32);
            crypto_hash_sha256_final (&st, out);
        }
        hist_record (h, bench_now_ns () - t);
    }
    s_micro_finish (&c->node, h, 100.0 * 1000.0);
    free (h);
    c->ran = !bench_stop;
}

typedef struct {
    bool ran;
    double seconds;
    uint64_t ops;
    double rate, p50, p90, p99, p999, max, mean; //  per second; us
} timed_t;

static void
s_timed_finish (timed_t *t, const hist_t *h, double seconds)
{
    t->ran = !bench_stop && h->count > 0;
    t->seconds = seconds;
    t->ops = h->count;
    t->rate = seconds > 0 ? (double) h->count / seconds : 0;
    t->p50 = (double) hist_percentile (h, 50) / 1000.0;
    t->p90 = (double) hist_percentile (h, 90) / 1000.0;
    t->p99 = (double) hist_percentile (h, 99) / 1000.0;
    t->p999 = (double) hist_percentile (h, 99.9) / 1000.0;
    t->max = (double) h->max / 1000.0;
    t->mean = hist_mean (h) / 1000.0;
}

//  What the device gives a Raft log: 4 KiB appends with O_DIRECT | O_DSYNC
//  into a posix_fallocate'd file, as raft_uv writes its open segments
//  (each write also commits the extent it fills, so this is slower than
//  overwriting written blocks). writers threads at once, each its own file,
//  like the three replicas on one disk.
typedef struct {
    const char *dir;
    int index;
    uint64_t until;
    hist_t hist;
    bool direct, ok;
} floor_writer_t;

static void *
s_floor_writer (void *arg)
{
    floor_writer_t *w = (floor_writer_t *) arg;
    char path[PATH_MAX + 32];
    snprintf (path, sizeof (path), "%s/segment-%d", w->dir, w->index);
    enum { BLOCK = 4096, SPAN = 64 << 20 };
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && posix_fallocate (fd, 0, SPAN) == 0 && fsync (fd) == 0;
    if (fd >= 0)
        close (fd);
    w->direct = true;
    fd = ok ? open (path, O_WRONLY | O_CLOEXEC | O_DIRECT | O_DSYNC) : -1;
    if (ok && fd < 0 && errno == EINVAL) {
        //  No O_DIRECT here (tmpfs): raft_uv falls back to buffered writes too
        w->direct = false;
        fd = open (path, O_WRONLY | O_CLOEXEC | O_DSYNC);
    }
    void *block = NULL;
    ok = fd >= 0 && posix_memalign (&block, BLOCK, BLOCK) == 0;
    if (ok)
        memset (block, 'x', BLOCK);
    hist_reset (&w->hist);
    for (uint64_t i = 0; ok && !bench_stop && bench_now_ns () < w->until; i++) {
        uint64_t t0 = bench_now_ns ();
        ok = pwrite (fd, block, BLOCK, (off_t) ((i * BLOCK) % SPAN)) == BLOCK;
        hist_record (&w->hist, bench_now_ns () - t0);
    }
    w->ok = ok;
    free (block);
    if (fd >= 0)
        close (fd);
    unlink (path);
    return NULL;
}

static void
s_write_floor (const char *dir, double seconds, int writers, timed_t *t, bool *direct)
{
    floor_writer_t *w = (floor_writer_t *) calloc ((size_t) writers, sizeof (floor_writer_t));
    pthread_t *threads = (pthread_t *) calloc ((size_t) writers, sizeof (pthread_t));
    uint64_t start = bench_now_ns ();
    for (int i = 0; i < writers; i++) {
        w[i] =
            (floor_writer_t){.dir = dir, .index = i, .until = start + (uint64_t) (seconds * 1e9)};
        pthread_create (&threads[i], NULL, s_floor_writer, &w[i]);
    }
    hist_t *all = (hist_t *) malloc (sizeof (hist_t));
    hist_reset (all);
    bool ok = true;
    for (int i = 0; i < writers; i++) {
        pthread_join (threads[i], NULL);
        ok &= w[i].ok;
        hist_merge (all, &w[i].hist);
    }
    *direct = w[0].direct;
    if (ok)
        s_timed_finish (t, all, (double) (bench_now_ns () - start) / 1e9);
    free (all);
    free (threads);
    free (w);
}

//  One writer, one record per transaction, default flags (synchronous:
//  LMDB syncs the data file and writes the meta page with O_DSYNC on every
//  commit). The warmup is not measured; the window is.
static void
s_lmdb_baseline (const char *dir, const msgpack_sbuffer *record, double warmup, double seconds,
                 timed_t *t)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    int rc = mdb_env_create (&env);
    if (rc == 0)
        rc = mdb_env_set_mapsize (env, (size_t) 4 << 30);
    if (rc == 0)
        rc = mdb_env_open (env, dir, 0, 0600);
    if (rc == 0)
        rc = mdb_txn_begin (env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open (txn, NULL, 0, &dbi);
    if (rc == 0)
        rc = mdb_txn_commit (txn);
    if (rc != 0) {
        s_progress ("LMDB baseline: %s", mdb_strerror (rc));
        if (env)
            mdb_env_close (env);
        return;
    }
    hist_t *h = (hist_t *) malloc (sizeof (hist_t));
    hist_reset (h);
    uint64_t t0 = bench_now_ns () + (uint64_t) (warmup * 1e9);
    uint64_t t1 = t0 + (uint64_t) (seconds * 1e9);
    uint64_t first = 0, last = 0;
    for (uint64_t seq = 0; rc == 0 && !bench_stop; seq++) {
        uint64_t start = bench_now_ns ();
        if (start >= t1)
            break;
        uint8_t k[8];
        for (int i = 7, v = 0; i >= 0; i--, v++)
            k[i] = (uint8_t) (seq >> (8 * v));
        MDB_val key = {8, k}, val = {record->size, record->data};
        rc = mdb_txn_begin (env, NULL, 0, &txn);
        if (rc == 0) {
            rc = mdb_put (txn, dbi, &key, &val, MDB_APPEND);
            if (rc == 0)
                rc = mdb_txn_commit (txn);
            else
                mdb_txn_abort (txn);
        }
        uint64_t end = bench_now_ns ();
        if (rc == 0 && start >= t0) {
            if (!first)
                first = start;
            last = end;
            hist_record (h, end - start);
        }
    }
    if (rc != 0)
        s_progress ("LMDB baseline: %s", mdb_strerror (rc));
    else
        s_timed_finish (t, h, (double) (last - first) / 1e9);
    free (h);
    mdb_env_close (env);
}

//  --------------------------------------------------------------------------
//  Environment

typedef struct {
    launcher_t *launcher; //  the cluster, its keys and logs in tmp
    char tmp[256];        //  short, so that every path built on it fits PATH_MAX
    char fs[32];
    char broker_bin[PATH_MAX], integrity_bin[PATH_MAX], perf_bin[PATH_MAX];
    char data[REPLICAS][PATH_MAX], replica_log[REPLICAS][PATH_MAX];
    char broker_log[PATH_MAX], baseline_dir[PATH_MAX];
    char broker_key[41];
    char frontend[64];
    zcert_t *probe_cert;
    lh_client_t *probe;
    zcert_t **certs; //  one per client
    int nclients;
    pid_t broker, replica[REPLICAS];
    bool failed;
} eenv_t;

static const char *
s_fs_name (long type)
{
    switch ((unsigned long) type) {
    case 0xEF53:
        return "ext4";
    case 0x58465342:
        return "xfs";
    case 0x9123683E:
        return "btrfs";
    case 0x01021994:
        return "tmpfs";
    case 0x794C7630:
        return "overlayfs";
    case 0x2FC12FC1:
        return "zfs";
    case 0x6969:
        return "nfs";
    default:
        return "other";
    }
}

static int
s_env_init (eenv_t *env, const eopts_t *o, int max_clients)
{
    char self[PATH_MAX];
    if (proc_self_dir (self, sizeof (self)) != 0)
        return -1;
    if (!proc_find_bin (env->broker_bin, sizeof (env->broker_bin), o->broker_bin, self,
                        "../broker/lh-broker", LH_BENCH_BROKER)) {
        fprintf (stderr, "lh-events-bench: lh-broker not found (tried %s); use --broker-bin\n",
                 env->broker_bin);
        return -1;
    }
    if (!proc_find_bin (env->integrity_bin, sizeof (env->integrity_bin), o->integrity_bin, self,
                        "../nodes/integrity/lh-integrity", LH_BENCH_INTEGRITY)) {
        fprintf (stderr,
                 "lh-events-bench: lh-integrity not found (tried %s); use --integrity-bin\n",
                 env->integrity_bin);
        return -1;
    }
    if (o->perf_bin)
        snprintf (env->perf_bin, sizeof (env->perf_bin), "%s", o->perf_bin);
    else
        proc_which (env->perf_bin, sizeof (env->perf_bin), "perf");

    const char *base = o->dir ? o->dir : getenv ("TMPDIR");
    if (base && strlen (base) > 200) {
        fprintf (stderr, "lh-events-bench: %s: path too long for the temporary directory\n", base);
        return -1;
    }
    char template[PATH_MAX];
    snprintf (template, sizeof (template), "%s/lh-bench-events.XXXXXX",
              base && *base ? base : "/tmp");
    env->launcher = launcher_new (template);
    if (!env->launcher)
        return -1;
    snprintf (env->tmp, sizeof (env->tmp), "%s", launcher_dir (env->launcher));
    launcher_t *launcher = env->launcher;
    launcher_set_bin (launcher, LAUNCHER_BROKER, env->broker_bin);
    launcher_set_bin (launcher, LAUNCHER_INTEGRITY, env->integrity_bin);
    launcher_set_port_base (launcher, o->port_base);
    struct statfs fs;
    snprintf (env->fs, sizeof (env->fs), "%s",
              statfs (env->tmp, &fs) == 0 ? s_fs_name ((long) fs.f_type) : "?");
    snprintf (env->broker_log, sizeof (env->broker_log), "%s/broker.log", env->tmp);
    snprintf (env->baseline_dir, sizeof (env->baseline_dir), "%s/baseline", env->tmp);
    if (zsys_dir_create ("%s", env->baseline_dir) != 0)
        return -1;
    for (int i = 0; i < REPLICAS; i++) {
        char name[32];
        snprintf (name, sizeof (name), "%d", i + 1);
        launcher_integrity_path (launcher, name, env->data[i], PATH_MAX);
        snprintf (name, sizeof (name), "replica-%d.log", i + 1);
        launcher_integrity_path (launcher, name, env->replica_log[i], PATH_MAX);
    }
    snprintf (env->broker_key, sizeof (env->broker_key), "%s", launcher_broker_key (launcher));
    //  Every client its own key, in memory: only the roster needs them
    env->probe_cert = zcert_new ();
    env->nclients = max_clients;
    env->certs = (zcert_t **) calloc ((size_t) max_clients, sizeof (zcert_t *));
    int rc =
        launcher_add_principal (launcher, "probe", zcert_public_txt (env->probe_cert), "agent");
    for (int i = 0; i < max_clients; i++) {
        env->certs[i] = zcert_new ();
        char name[16];
        snprintf (name, sizeof (name), "c%d", i);
        rc |= launcher_add_principal (launcher, name, zcert_public_txt (env->certs[i]), o->role);
    }
    if (rc != 0) {
        fprintf (stderr, "lh-events-bench: cannot write keys in %s\n", env->tmp);
        return -1;
    }
    return 0;
}

static void
s_env_destroy (eenv_t *env, bool keep)
{
    lh_client_destroy (&env->probe);
    zcert_destroy (&env->probe_cert);
    for (int i = 0; i < env->nclients && env->certs; i++)
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
//  The cluster: one broker, three replicas

typedef struct {
    bool ok;
    char replica[64];
    char state[16];
    uint64_t id, leader, term, size;
    uint64_t entries, events, appends, appended, rejected, leader_changes;
    uint64_t sigs_sent, sigs_merged, sigs_bad, alerts, apply_errors;
} rstatus_t;

static uint64_t
s_u64 (const msgpack_object *map, const char *key)
{
    const msgpack_object *v = codec_map_get (map, key);
    return v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? v->via.u64 : 0;
}

//  Every replica's status (events.read goes to one replica per call, the
//  broker's choice, so ask until each has answered). Returns the id of the
//  replica that says it is the leader, 0 when none did.
static int
s_status_all (eenv_t *env, rstatus_t st[REPLICAS])
{
    memset (st, 0, sizeof (rstatus_t) * REPLICAS);
    codec_buf_t body;
    codec_buf_init (&body);
    msgpack_pack_map (&body.pk, 1);
    codec_pack_str (&body.pk, "op");
    codec_pack_str (&body.pk, "status");
    int seen = 0;
    for (int attempt = 0; attempt < 24 && seen < REPLICAS && !bench_stop; attempt++) {
        lh_reply_t *reply =
            lh_client_call (env->probe, "events.read", body.sbuf.data, body.sbuf.size);
        const msgpack_object *s =
            reply && lh_reply_ok (reply) ? codec_map_get (lh_reply_root (reply), "status") : NULL;
        //  "replica_id" (it was "id", which collided with the reply's own id)
        uint64_t id = codec_map_get (s, "replica_id") ? s_u64 (s, "replica_id") : s_u64 (s, "id");
        if (s && id >= 1 && id <= REPLICAS && !st[id - 1].ok) {
            rstatus_t *r = &st[id - 1];
            r->ok = true;
            seen++;
            codec_str_copy (codec_map_get (s, "replica"), r->replica, sizeof (r->replica));
            codec_str_copy (codec_map_get (s, "state"), r->state, sizeof (r->state));
            r->id = id;
            r->leader = s_u64 (s, "leader");
            r->term = s_u64 (s, "term");
            r->size = s_u64 (s, "size");
            const msgpack_object *c = codec_map_get (s, "counters");
            r->entries = s_u64 (c, "entries_applied");
            r->events = s_u64 (c, "events_applied");
            r->appends = s_u64 (c, "appends");
            r->appended = s_u64 (c, "events_appended");
            r->rejected = s_u64 (c, "appends_rejected");
            r->leader_changes = s_u64 (c, "leader_changes");
            r->sigs_sent = s_u64 (c, "signatures_sent");
            r->sigs_merged = s_u64 (c, "signatures_merged");
            r->sigs_bad = s_u64 (c, "signatures_bad");
            r->alerts = s_u64 (c, "alerts");
            r->apply_errors = s_u64 (c, "apply_errors");
        }
        lh_reply_destroy (&reply);
    }
    codec_buf_destroy (&body);
    for (int i = 0; i < REPLICAS; i++)
        if (st[i].ok && streq (st[i].state, "leader"))
            return i + 1;
    return 0;
}

static bool
s_cluster_alive (eenv_t *env)
{
    bool alive = launcher_alive (env->launcher, env->broker);
    for (int i = 0; i < REPLICAS; i++)
        alive &= launcher_alive (env->launcher, env->replica[i]);
    return alive;
}

static void
s_cluster_logs (eenv_t *env)
{
    launcher_log_tail (env->broker_log, 12);
    for (int i = 0; i < REPLICAS; i++)
        launcher_log_tail (env->replica_log[i], 12);
}

static int
s_cluster_start (eenv_t *env, const eopts_t *o, int max_clients, int *leader)
{
    *leader = 0;
    launcher_t *launcher = env->launcher;
    char args[256];
    //  Bench clients may be agents: lift their 500/s default
    snprintf (args, sizeof (args), "--queue-max %d --log-level warn --set role/agent/rate=0",
              max_clients * 4 > 1000 ? max_clients * 4 : 1000);
    launcher_set_args (launcher, LAUNCHER_BROKER, args);
    //  info: state changes and snapshots, nothing per append
    snprintf (args, sizeof (args), "--monitor-ms %d --log-level info", o->monitor_ms);
    launcher_set_args (launcher, LAUNCHER_INTEGRITY, args);
    if (launcher_start_broker (launcher, NULL) != 0 ||
        launcher_start_integrity (launcher, REPLICAS, o->replica_args) != 0) {
        env->failed = !bench_stop;
        return -1;
    }
    snprintf (env->frontend, sizeof (env->frontend), "%s", launcher_frontend (launcher));
    env->broker = launcher_broker_pid (launcher);
    for (int i = 0; i < REPLICAS; i++)
        env->replica[i] = launcher_replica_pid (launcher, i + 1);
    lh_connect_t conn = {
        .endpoint = env->frontend, .server_key = env->broker_key, .cert = env->probe_cert};
    env->probe = lh_client_new (&conn);
    if (!env->probe)
        return -1;
    lh_client_set_timeout (env->probe, 500);
    lh_client_set_retries (env->probe, 0);
    //  The launcher saw a leader; this is the one every replica agrees on
    int64_t until = zclock_mono () + 20000;
    while (!bench_stop && zclock_mono () < until && s_cluster_alive (env)) {
        rstatus_t st[REPLICAS];
        *leader = s_status_all (env, st);
        if (*leader) {
            lh_client_set_timeout (env->probe, 3000);
            return 0;
        }
        zclock_sleep (100);
    }
    if (!bench_stop) {
        fprintf (stderr, "lh-events-bench: the broker and the replicas did not come up (no "
                         "leader serving \"events\")\n");
        s_cluster_logs (env);
        env->failed = true;
    }
    return -1;
}

static void
s_cluster_stop (eenv_t *env)
{
    launcher_stop_kind (env->launcher, LAUNCHER_INTEGRITY, 5000);
    launcher_stop_kind (env->launcher, LAUNCHER_BROKER, 2000);
}

//  Lines of a replica's log that contain text
static int
s_log_count (const char *path, const char *text)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return 0;
    char line[1024];
    int n = 0;
    while (fgets (line, sizeof (line), file))
        n += strstr (line, text) != NULL;
    fclose (file);
    return n;
}

//  --------------------------------------------------------------------------
//  The clients: DEALERs driven by one thread, one append in flight each

typedef struct {
    zsock_t *sock;
    void *handle;
    int index;
    bool inflight;
    uint64_t id, next_id, sent_ns;
    uint32_t seq; //  client ids: nonce-index-seq, unique over the whole run
    uint64_t acked;
} eclient_t;

typedef struct {
    hist_t hist;              //  append latency, replies in the window, ns
    uint64_t appends, events; //  ok in the window
    uint64_t acked_appends;   //  ok, warmup + window + drain
    uint64_t acked;           //  events acknowledged new (duplicate: false), whole run
    uint64_t sent_appends;    //  whole run
    uint64_t errors;          //  all of the below
    uint64_t error_replies;   //  ok: false
    uint64_t by_code[LOAD_ERR_KINDS];
    uint64_t timeouts;             //  no reply within the deadline (no resends)
    uint64_t lost;                 //  still in flight after the drain
    uint64_t send_failed;          //  the socket refused the request
    uint64_t bad_replies;          //  ok: true but not the shape promised
    uint64_t duplicates;           //  results that said duplicate: true
    uint64_t unacked_events;       //  events of timed-out or lost appends: may be in the log
    uint64_t late;                 //  replies to no pending append
    uint64_t max_size;             //  largest log size a reply reported
    uint64_t req_bytes, rep_bytes; //  bodies in the window
} eresult_t;

typedef struct {
    eclient_t *clients;
    zmq_pollitem_t *items;
    int count;
    int batch;
    const msgpack_sbuffer *data;
    uint32_t nonce;
    int timeout_ms;
    uint64_t t0, t1, drain_ns;
    bool sending;
    int inflight;
    eresult_t r;
    msgpack_sbuffer buf;
    zmq_msg_t parts[MAX_PARTS];
} driver_t;

//  {id, op: "append", events: [{type: "custom", client_id, data} x batch]}
static void
s_pack_append (msgpack_sbuffer *buf, uint64_t id, int batch, uint32_t nonce, int index,
               uint32_t *seq, const msgpack_sbuffer *data)
{
    buf->size = 0;
    msgpack_packer pk;
    msgpack_packer_init (&pk, buf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 3);
    codec_pack_str (&pk, "id");
    msgpack_pack_uint64 (&pk, id);
    codec_pack_str (&pk, "op");
    codec_pack_str (&pk, "append");
    codec_pack_str (&pk, "events");
    msgpack_pack_array (&pk, (size_t) batch);
    for (int i = 0; i < batch; i++) {
        char client_id[EVENT_MAX_REF + 1];
        snprintf (client_id, sizeof (client_id), "e%08x-%d-%u", nonce, index, (*seq)++);
        msgpack_pack_map (&pk, 3);
        codec_pack_str (&pk, "type");
        codec_pack_str (&pk, "custom");
        codec_pack_str (&pk, "client_id");
        codec_pack_str (&pk, client_id);
        codec_pack_str (&pk, "data");
        msgpack_sbuffer_write (buf, data->data, data->size);
    }
}

static bool
s_send (driver_t *d, eclient_t *c)
{
    uint64_t id = c->next_id++;
    s_pack_append (&d->buf, id, d->batch, d->nonce, c->index, &c->seq, d->data);
    uint64_t now = bench_now_ns ();
    if (zmq_send (c->handle, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1) {
        d->r.send_failed++;
        d->r.errors++;
        return false;
    }
    zmq_send (c->handle, MDPC_CLIENT, strlen (MDPC_CLIENT), ZMQ_SNDMORE);
    zmq_send (c->handle, "events", 6, ZMQ_SNDMORE);
    zmq_send (c->handle, d->buf.data, d->buf.size, 0);
    c->inflight = true;
    c->id = id;
    c->sent_ns = now;
    d->inflight++;
    d->r.sent_appends++;
    if (now >= d->t0 && now < d->t1)
        d->r.req_bytes += d->buf.size;
    return true;
}

//  Checks one reply; returns the time after decoding (where the SDK's
//  lh_client_recv would return it)
static uint64_t
s_reply (driver_t *d, eclient_t *c, int nparts)
{
    eresult_t *r = &d->r;
    if (nparts != 4 || zmq_msg_size (&d->parts[0]) != 0) {
        r->late++;
        return bench_now_ns ();
    }
    size_t size = zmq_msg_size (&d->parts[3]);
    codec_doc_t *doc = codec_doc_decode (zmq_msg_data (&d->parts[3]), size, NULL, NULL);
    uint64_t now = bench_now_ns ();
    const msgpack_object *root = doc ? codec_doc_root (doc) : NULL;
    const msgpack_object *id = codec_map_get (root, "id");
    if (!c->inflight || !id || id->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        id->via.u64 != c->id) {
        r->late++;
        codec_doc_destroy (&doc);
        return now;
    }
    c->inflight = false;
    d->inflight--;
    bool in_window = now >= d->t0 && now < d->t1;
    const msgpack_object *ok = codec_map_get (root, "ok");
    if (ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean) {
        //  The promised shape: one {seq, duplicate} per event, the new size
        const msgpack_object *results = codec_map_get (root, "results");
        const msgpack_object *log_size = codec_map_get (root, "size");
        bool shaped = results && results->type == MSGPACK_OBJECT_ARRAY &&
                      results->via.array.size == (uint32_t) d->batch && log_size &&
                      log_size->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
                      codec_map_get (root, "root") && codec_map_get (root, "checkpoint");
        uint64_t fresh = 0, dups = 0;
        for (uint32_t i = 0; shaped && i < results->via.array.size; i++) {
            const msgpack_object *item = &results->via.array.ptr[i];
            const msgpack_object *seq = codec_map_get (item, "seq");
            const msgpack_object *dup = codec_map_get (item, "duplicate");
            shaped = seq && seq->type == MSGPACK_OBJECT_POSITIVE_INTEGER && dup &&
                     dup->type == MSGPACK_OBJECT_BOOLEAN;
            if (shaped && dup->via.boolean)
                dups++;
            else if (shaped)
                fresh++;
        }
        if (!shaped) {
            r->bad_replies++;
            r->errors++;
        } else {
            if (log_size->via.u64 > r->max_size)
                r->max_size = log_size->via.u64;
            r->acked += fresh;
            c->acked += fresh;
            if (dups) {
                //  Every client id is new: a duplicate means the log lost track of one
                r->duplicates += dups;
                r->errors++;
            } else {
                r->acked_appends++;
                if (in_window) {
                    r->appends++;
                    r->events += fresh;
                    hist_record (&r->hist, now - c->sent_ns);
                    r->rep_bytes += size;
                }
            }
        }
    } else {
        r->errors++;
        r->error_replies++;
        int k = (int) codec_reply_code (root);
        r->by_code[k > 0 ? k : (int) LH_E_INTERNAL]++;
    }
    codec_doc_destroy (&doc);
    return now;
}

//  Reads every message client c has, sending its next append after a reply
//  while the loop runs
static void
s_service (driver_t *d, eclient_t *c)
{
    while (true) {
        int nparts = 0;
        bool more = true;
        while (more) {
            zmq_msg_t *part = &d->parts[nparts < MAX_PARTS ? nparts : MAX_PARTS - 1];
            if (zmq_msg_recv (part, c->handle, ZMQ_DONTWAIT) == -1)
                return; //  nothing more (a message's parts arrive together)
            more = zmq_msg_more (part);
            nparts++;
        }
        uint64_t now = s_reply (d, c, nparts);
        if (!c->inflight && d->sending && now < d->t1)
            s_send (d, c);
    }
}

//  Appends past their deadline are errors, not resent (a resend would be a
//  duplicate the log has to recognise, and hide the failure); a client the
//  socket refused tries again here
static void
s_expire (driver_t *d, uint64_t now)
{
    uint64_t limit = (uint64_t) d->timeout_ms * 1000000ULL;
    for (int i = 0; i < d->count; i++) {
        eclient_t *c = &d->clients[i];
        if (c->inflight && now - c->sent_ns > limit) {
            c->inflight = false;
            d->inflight--;
            d->r.timeouts++;
            d->r.errors++;
            d->r.unacked_events += (uint64_t) d->batch;
        }
        if (!c->inflight && d->sending && now < d->t1)
            s_send (d, c);
    }
}

static void
s_pump (driver_t *d, uint64_t until, bool stop_when_idle)
{
    uint64_t next_expire = bench_now_ns () + 10000000ULL;
    while (!bench_stop) {
        uint64_t now = bench_now_ns ();
        if (now >= until || (stop_when_idle && d->inflight == 0))
            return;
        if (d->sending && now >= d->t1)
            d->sending = false;
        if (now >= next_expire) {
            s_expire (d, now);
            next_expire = now + 10000000ULL;
        }
        uint64_t wake = until < next_expire ? until : next_expire;
        if (d->sending && d->t1 < wake)
            wake = d->t1;
        long wait_ms = wake > now ? (long) ((wake - now) / 1000000) + 1 : 0;
        int rc = zmq_poll (d->items, d->count, wait_ms);
        if (rc < 0 && errno != EINTR)
            return;
        for (int i = 0; rc > 0 && i < d->count; i++)
            if (d->items[i].revents & ZMQ_POLLIN)
                s_service (d, &d->clients[i]);
    }
}

//  One run: every client sends, replies in [t0, t1) are measured, nothing
//  is sent from t1, the drain waits for the rest
static void *
s_drive (void *arg)
{
    driver_t *d = (driver_t *) arg;
    d->inflight = 0;
    d->sending = true;
    for (int i = 0; i < d->count; i++)
        s_send (d, &d->clients[i]);
    s_pump (d, d->t1, false);
    d->sending = false;
    s_pump (d, bench_now_ns () + d->drain_ns, true);
    d->r.lost = (uint64_t) d->inflight;
    d->r.errors += d->r.lost;
    d->r.unacked_events += d->r.lost * (uint64_t) d->batch;
    //  Whatever is still in flight is not the next run's to count
    for (int i = 0; i < d->count; i++)
        d->clients[i].inflight = false;
    return NULL;
}

//  Connects count clients and has each append one event, so that the CURVE
//  handshakes are over before anything is measured. Returns how many were
//  answered ok.
static int
s_clients_connect (eenv_t *env, driver_t *d, int count, int timeout_ms)
{
    d->clients = (eclient_t *) calloc ((size_t) count, sizeof (eclient_t));
    d->items = (zmq_pollitem_t *) calloc ((size_t) count, sizeof (zmq_pollitem_t));
    for (int i = 0; i < count; i++) {
        eclient_t *c = &d->clients[i];
        lh_connect_t conn = {
            .endpoint = env->frontend, .server_key = env->broker_key, .cert = env->certs[i]};
        c->sock = lh_connect_dealer (&conn);
        if (!c->sock) {
            fprintf (stderr, "lh-events-bench: cannot open client %d: %s\n", i,
                     zmq_strerror (errno));
            return 0;
        }
        c->handle = zsock_resolve (c->sock);
        c->index = i;
        c->next_id = 1;
        d->items[i] = (zmq_pollitem_t){.socket = c->handle, .events = ZMQ_POLLIN};
    }
    d->count = count;
    d->batch = 1;
    memset (&d->r, 0, sizeof (d->r));
    hist_reset (&d->r.hist);
    d->t0 = d->t1 = bench_now_ns ();
    d->drain_ns = (uint64_t) timeout_ms * 1000000ULL;
    s_drive (d);
    int ok = 0;
    for (int i = 0; i < count; i++)
        ok += d->clients[i].acked > 0;
    return ok;
}

static void
s_clients_close (driver_t *d)
{
    for (int i = 0; i < d->count; i++)
        zsock_destroy (&d->clients[i].sock);
    free (d->clients);
    free (d->items);
    d->clients = NULL;
    d->items = NULL;
}

//  --------------------------------------------------------------------------
//  One run, with CPU over its window

typedef struct {
    host_snap_t host;
    cpu_snap_t broker, replica[REPLICAS], self;
} esnap_t;

static void
s_snap (esnap_t *s, eenv_t *env)
{
    host_snap (&s->host);
    cpu_snap (&s->broker, env->broker);
    for (int i = 0; i < REPLICAS; i++)
        cpu_snap (&s->replica[i], env->replica[i]);
    cpu_snap (&s->self, getpid ());
}

typedef struct {
    int clients, batch;
    bool profiled; //  perf recorded the leader in this window
    bool ran, failed;
    double seconds;
    double eps, aps, p50, p90, p99, p999, pmax, mean; //  events/s, appends/s, ms
    eresult_t r;
    int leader, leader_after;
    uint64_t entries, entry_events; //  Raft entries the leader applied, and their events
    double events_per_entry, entries_per_s;
    uint64_t sigs_merged, sigs_bad;
    //  CPU percent over the window (100 = one core)
    double broker, broker_main, broker_io, broker_sys;
    double leader_cpu, leader_main, leader_io, leader_pool, leader_sys;
    double followers, follower_main, followers_sys; //  main: the busier follower's
    double clients_cpu, host, iowait, other;
    char busiest[48];
    double busiest_pct;
    //  CPU us per event
    double us_broker, us_leader, us_followers, us_clients, us_all;
} escen_t;

//  The busiest thread of all our processes
static void
s_busiest (const cpu_snap_t *a, const cpu_snap_t *b, const char *who, escen_t *s)
{
    double top = 0;
    char comm[24];
    cpu_percent (a, b, &top, comm, sizeof (comm));
    if (top > s->busiest_pct) {
        s->busiest_pct = top;
        snprintf (s->busiest, sizeof (s->busiest), "%s %s", who, comm);
    }
}

static void
s_cpu_figures (escen_t *s, eenv_t *env, const esnap_t *a, const esnap_t *b)
{
    s->broker = cpu_percent (&a->broker, &b->broker, NULL, NULL, 0);
    s->broker_main = cpu_percent_tid (&a->broker, &b->broker, (int) env->broker);
    s->broker_io = cpu_percent_prefix (&a->broker, &b->broker, "ZMQbg/IO");
    s->broker_sys = cpu_percent_sys (&a->broker, &b->broker);
    s_busiest (&a->broker, &b->broker, "broker", s);
    int l = s->leader >= 1 ? s->leader - 1 : 0;
    for (int i = 0; i < REPLICAS; i++) {
        const cpu_snap_t *ra = &a->replica[i], *rb = &b->replica[i];
        double total = cpu_percent (ra, rb, NULL, NULL, 0);
        double main = cpu_percent_tid (ra, rb, (int) env->replica[i]);
        char who[24];
        snprintf (who, sizeof (who), i == l ? "leader" : "follower");
        s_busiest (ra, rb, who, s);
        if (i == l) {
            s->leader_cpu = total;
            s->leader_main = main;
            s->leader_io = cpu_percent_prefix (ra, rb, "ZMQbg/IO");
            s->leader_pool = total - main - s->leader_io;
            if (s->leader_pool < 0)
                s->leader_pool = 0;
            s->leader_sys = cpu_percent_sys (ra, rb);
        } else {
            s->followers += total;
            s->followers_sys += cpu_percent_sys (ra, rb);
            if (main > s->follower_main)
                s->follower_main = main;
        }
    }
    s->clients_cpu = cpu_percent (&a->self, &b->self, NULL, NULL, 0);
    s->host = host_busy_percent (&a->host, &b->host);
    s->iowait = host_iowait_percent (&a->host, &b->host);
    double ours = s->broker + s->leader_cpu + s->followers + s->clients_cpu;
    s->other = s->host > ours ? s->host - ours : 0;
    if (s->r.events) {
        double per = s->seconds / (double) s->r.events * 1e6 / 100.0;
        s->us_broker = s->broker * per;
        s->us_leader = s->leader_cpu * per;
        s->us_followers = s->followers * per;
        s->us_clients = s->clients_cpu * per;
        s->us_all = ours * per;
    }
}

//  perf record on the leader over the window, when asked
typedef struct {
    char path[PATH_MAX];
    pid_t pid;
} perf_run_t;

static void
s_run (eenv_t *env, const eopts_t *o, driver_t *d, escen_t *s, double duration, perf_run_t *perf)
{
    rstatus_t before[REPLICAS], after[REPLICAS];
    s->leader = s_status_all (env, before);
    if (!s->leader) {
        s->failed = true;
        return;
    }
    d->count = s->clients;
    d->batch = s->batch;
    memset (&d->r, 0, sizeof (d->r));
    hist_reset (&d->r.hist);
    uint64_t t0 = bench_now_ns () + (uint64_t) (o->warmup * 1e9);
    uint64_t t1 = t0 + (uint64_t) (duration * 1e9);
    d->t0 = t0;
    d->t1 = t1;
    d->drain_ns = (uint64_t) (o->drain * 1e9);
    pthread_t thread;
    if (pthread_create (&thread, NULL, s_drive, d) != 0) {
        s->failed = true;
        return;
    }
    esnap_t *snap = (esnap_t *) calloc (2, sizeof (esnap_t));
    proc_sleep_until (t0);
    if (perf) {
        char pid[16], secs[32];
        snprintf (pid, sizeof (pid), "%d", (int) env->replica[s->leader - 1]);
        snprintf (secs, sizeof (secs), "%.3f", duration);
        char log[PATH_MAX];
        snprintf (log, sizeof (log), "%s/perf-record.log", env->tmp);
        //  cpu-clock: a timer, so it samples in VMs without hardware
        //  counters; DWARF call graphs, since libsodium and liblmdb have no
        //  frame pointers and the question is which of our calls spend it
        char *argv[] = {env->perf_bin, "record",       "-q",          "-e", "cpu-clock", "-F",
                        "499",         "--call-graph", "dwarf,16384", "-p", pid,         "-o",
                        perf->path,    "--",           "sleep",       secs, NULL};
        perf->pid = launcher_spawn (env->launcher, "perf", argv, log, -1, -1);
    }
    s_snap (&snap[0], env);
    proc_sleep_until (t1);
    s_snap (&snap[1], env);
    pthread_join (thread, NULL);
    if (perf && perf->pid > 0)
        for (int waited = 0; launcher_alive (env->launcher, perf->pid) && waited < 30000;
             waited += 20)
            zclock_sleep (20);
    s->leader_after = s_status_all (env, after);
    s->r = d->r;
    s->seconds = (double) (t1 - t0) / 1e9;
    if (bench_stop) {
        free (snap);
        return;
    }
    s->ran = true;
    s->eps = (double) s->r.events / s->seconds;
    s->aps = (double) s->r.appends / s->seconds;
    s->p50 = (double) hist_percentile (&s->r.hist, 50) / 1e6;
    s->p90 = (double) hist_percentile (&s->r.hist, 90) / 1e6;
    s->p99 = (double) hist_percentile (&s->r.hist, 99) / 1e6;
    s->p999 = (double) hist_percentile (&s->r.hist, 99.9) / 1e6;
    s->pmax = (double) s->r.hist.max / 1e6;
    s->mean = hist_mean (&s->r.hist) / 1e6;
    const rstatus_t *lb = &before[s->leader - 1], *la = &after[s->leader - 1];
    if (lb->ok && la->ok && la->entries >= lb->entries) {
        s->entries = la->entries - lb->entries;
        s->entry_events = la->events - lb->events;
        s->events_per_entry = s->entries ? (double) s->entry_events / (double) s->entries : 0;
        s->entries_per_s = s->events_per_entry > 0 ? s->eps / s->events_per_entry : 0;
        s->sigs_merged = la->sigs_merged - lb->sigs_merged;
        s->sigs_bad = la->sigs_bad - lb->sigs_bad;
    }
    s_cpu_figures (s, env, &snap[0], &snap[1]);
    free (snap);
}

//  --------------------------------------------------------------------------
//  perf: where the leader's time goes

#define PROF_TOP  20
#define PROF_CATS 12

//  A thread's or a library's share of the profiled samples
typedef struct {
    char name[64];
    double pct;
} share_t;

typedef struct {
    bool available, ran;
    bool hw_counters; //  perf stat -e instructions works (it does not in most VMs)
    char why[128];    //  when not available or not run
    double seconds;
    char samples[32];
    escen_t scen; //  the run perf watched (slower by perf's own cost)
    struct {
        char name[96];
        double children, self;
    } top[PROF_TOP];
    int ntop;
    struct {
        const char *label;
        const char *groups[4];
        double group_pct[4];
        double pct;
        bool found;
    } cat[PROF_CATS];
    int ncat;
    share_t thread[8], dso[10];
    int nthread, ndso;
} profile_t;

//  A JSON array of {<key>: name, "pct": share}
static void
s_json_shares (FILE *out, const char *key, const share_t *shares, int count)
{
    fprintf (out, "[");
    for (int i = 0; i < count; i++) {
        fprintf (out, "%s{\"%s\": ", i ? ", " : "", key);
        bench_json_string (out, shares[i].name);
        fprintf (out, ", \"pct\": %.2f}", shares[i].pct);
    }
    fprintf (out, "]");
}

static void
s_profile_cats (profile_t *p)
{
    //  Inclusive shares (children) of the functions that do each job. A
    //  group "a|b" names one job under the names it may have (a static
    //  function inlined into its caller is seen as the caller): its share is
    //  the largest found. Groups of a line add up. The crypto lines are the
    //  question; the rest say where the time goes.
    static const struct {
        const char *label;
        const char *groups[4];
    } cats[] = {
        {"Ed25519 sign (note_sign_line)", {"note_sign_line"}},
        {"Ed25519 verify (note_verify)", {"note_verify"}},
        {"SHA-256 (merkle_leaf_hash + merkle_node_hash)", {"merkle_leaf_hash", "merkle_node_hash"}},
        {"apply committed entries (s_fsm_apply)", {"s_fsm_apply|s_apply"}},
        {"LMDB commits, every caller (mdb_txn_commit)", {"mdb_txn_commit"}},
        {"peer signatures in (s_on_sub: verify, merge, store)",
         {"s_on_sub|s_cosig_drain|s_merge_signature"}},
        {"requests in (s_drain: receive, check, queue)", {"s_drain|s_on_append"}},
        {"replies out (s_apply_cb)", {"s_apply_cb|s_reply_append"}},
        {"proposals (s_on_check: raft_apply)", {"s_on_check|s_propose"}},
        {"kernel: io_submit (raft_uv's log writes)", {"__x64_sys_io_submit"}},
    };
    p->ncat = (int) (sizeof (cats) / sizeof (cats[0]));
    for (int i = 0; i < p->ncat && i < PROF_CATS; i++) {
        p->cat[i].label = cats[i].label;
        memcpy (p->cat[i].groups, cats[i].groups, sizeof (cats[i].groups));
    }
}

//  Whether name is one of the '|'-separated names in group
static bool
s_group_has (const char *group, const char *name)
{
    size_t len = strlen (name);
    for (const char *g = group; g && *g;) {
        const char *bar = strchr (g, '|');
        size_t glen = bar ? (size_t) (bar - g) : strlen (g);
        if (glen == len && memcmp (g, name, len) == 0)
            return true;
        g = bar ? bar + 1 : NULL;
    }
    return false;
}

//  Runs perf with args, stdout into path; true when it exited in time
static bool
s_perf_cmd (eenv_t *env, char *const argv[], const char *path, int timeout_ms)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    char log[PATH_MAX];
    snprintf (log, sizeof (log), "%s/perf.log", env->tmp);
    pid_t pid = launcher_spawn (env->launcher, "perf", argv, log, -1, fd);
    close (fd);
    int waited = 0;
    while (pid > 0 && launcher_alive (env->launcher, pid) && waited < timeout_ms && !bench_stop) {
        zclock_sleep (20);
        waited += 20;
    }
    bool done = pid > 0 && !launcher_alive (env->launcher, pid);
    launcher_stop (env->launcher, pid, 100);
    return done;
}

static void
s_perf_check (eenv_t *env, profile_t *p)
{
    if (!env->perf_bin[0]) {
        snprintf (p->why, sizeof (p->why), "perf not found (--perf-bin)");
        return;
    }
    char out[PATH_MAX];
    snprintf (out, sizeof (out), "%s/perf-stat.txt", env->tmp);
    char *hw[] = {env->perf_bin, "stat", "-x", ",", "-o", out, "-e", "instructions", "true", NULL};
    char sink[PATH_MAX];
    snprintf (sink, sizeof (sink), "%s/perf-stat.out", env->tmp);
    s_perf_cmd (env, hw, sink, 10000);
    FILE *file = fopen (out, "r");
    char line[256];
    while (file && fgets (line, sizeof (line), file))
        if (strstr (line, "instructions") && isdigit ((unsigned char) line[0]))
            p->hw_counters = true;
    if (file)
        fclose (file);
    //  Sampling needs only the software timer: try it
    snprintf (out, sizeof (out), "%s/perf-check.data", env->tmp);
    char *sw[] = {env->perf_bin, "record", "-q", "-e", "cpu-clock", "-o", out, "true", NULL};
    p->available = s_perf_cmd (env, sw, sink, 10000) && access (out, R_OK) == 0;
    unlink (out);
    if (!p->available)
        snprintf (p->why, sizeof (p->why),
                  "perf record -e cpu-clock does not work here (see "
                  "perf.log)");
}

//  Cuts what perf prints after a name (IPC columns start after two spaces)
static void
s_trim_columns (char *name)
{
    char *end = strstr (name, "  ");
    if (end)
        *end = 0;
    for (size_t n = strlen (name); n > 0 && name[n - 1] == ' '; n--)
        name[n - 1] = 0;
}

//  Frames every sample passes through, and addresses perf could not name
//  (libsodium and libc have no symbols for their static functions): they
//  say nothing about where the time goes
static bool
s_frame_generic (const char *name)
{
    static const char *generic[] = {"main",
                                    "_start",
                                    "__libc_start_call_main",
                                    "__libc_start_main_impl (inlined)",
                                    "uv_run",
                                    "replica_run",
                                    "clone3",
                                    "start_thread",
                                    "entry_SYSCALL_64_after_hwframe",
                                    "do_syscall_64",
                                    NULL};
    if (strncmp (name, "0x", 2) == 0)
        return true;
    for (int i = 0; generic[i]; i++)
        if (streq (name, generic[i]))
            return true;
    return false;
}

static void
s_perf_parse (eenv_t *env, const char *data, pid_t leader, profile_t *p)
{
    char out[PATH_MAX];
    //  Inclusive share of every function over the leader's samples (all threads)
    snprintf (out, sizeof (out), "%s/perf-children.txt", env->tmp);
    char *children[] = {env->perf_bin,     "report", "-i",     (char *) data, "--stdio",
                        "--children",      "--sort", "symbol", "-g",          "none",
                        "--percent-limit", "0.2",    NULL};
    s_perf_cmd (env, children, out, 120000);
    FILE *file = fopen (out, "r");
    char line[1024];
    while (file && fgets (line, sizeof (line), file)) {
        if (line[0] == '#') {
            char *s = strstr (line, "# Samples: ");
            if (s)
                sscanf (s + 11, "%31s", p->samples);
            continue;
        }
        double c, self;
        char kind, name[512];
        if (sscanf (line, " %lf%% %lf%% [%c] %511[^\n]", &c, &self, &kind, name) != 4)
            continue;
        //  Columns after the symbol (IPC, coverage) start after two spaces
        s_trim_columns (name);
        for (int i = 0; i < p->ncat; i++)
            for (int k = 0; k < 4 && p->cat[i].groups[k]; k++)
                if (s_group_has (p->cat[i].groups[k], name)) {
                    if (c > p->cat[i].group_pct[k])
                        p->cat[i].group_pct[k] = c;
                    p->cat[i].found = true;
                }
        if (p->ntop < PROF_TOP && !s_frame_generic (name)) {
            snprintf (p->top[p->ntop].name, sizeof (p->top[0].name), "%s%.85s",
                      kind == 'k' ? "[kernel] " : "", name);
            p->top[p->ntop].children = c;
            p->top[p->ntop].self = self;
            p->ntop++;
        }
    }
    if (file)
        fclose (file);
    for (int i = 0; i < p->ncat; i++)
        for (int k = 0; k < 4; k++)
            p->cat[i].pct += p->cat[i].group_pct[k];
    //  By thread and by library, self time
    struct {
        const char *sort;
        const char *file;
        int max;
    } views[] = {{"pid", "perf-threads.txt", 8}, {"dso", "perf-dso.txt", 10}};
    for (int v = 0; v < 2; v++) {
        snprintf (out, sizeof (out), "%s/%s", env->tmp, views[v].file);
        char *argv[] = {env->perf_bin,
                        "report",
                        "-i",
                        (char *) data,
                        "--stdio",
                        "--no-children",
                        "--sort",
                        (char *) views[v].sort,
                        "-g",
                        "none",
                        "--percent-limit",
                        "0.5",
                        NULL};
        s_perf_cmd (env, argv, out, 120000);
        file = fopen (out, "r");
        while (file && fgets (line, sizeof (line), file)) {
            double pct;
            char name[512];
            if (line[0] == '#' || sscanf (line, " %lf%% %511[^\n]", &pct, name) != 2)
                continue;
            s_trim_columns (name);
            int *count = v == 0 ? &p->nthread : &p->ndso;
            if (*count >= views[v].max)
                continue;
            if (v == 0) {
                //  "tid:name"; libuv's pool threads share the main thread's name
                snprintf (p->thread[*count].name, sizeof (p->thread[0].name), "%.50s%s", name,
                          atoi (name) == (int) leader ? " (main)" : "");
                p->thread[*count].pct = pct;
            } else {
                snprintf (p->dso[*count].name, sizeof (p->dso[0].name), "%.63s", name);
                p->dso[*count].pct = pct;
            }
            (*count)++;
        }
        if (file)
            fclose (file);
    }
    p->ran = p->ntop > 0;
    if (!p->ran)
        snprintf (p->why, sizeof (p->why), "perf report gave nothing (see perf.log)");
}

//  --------------------------------------------------------------------------
//  Report

typedef struct {
    char name[96];
    bool known;
    double value, limit;
    bool at_least;
    const char *unit;
} etarget_t;

static bool
s_met (const etarget_t *t)
{
    return t->known && (t->at_least ? t->value >= t->limit : t->value <= t->limit);
}

typedef struct {
    bool ran;
    uint64_t acked;   //  events acknowledged new, whole run (connect included)
    uint64_t unacked; //  events of appends that timed out or were lost
    uint64_t sizes[REPLICAS];
    bool have[REPLICAS];
    bool converged; //  every replica reported the same size
    bool match;     //  the leader's size == acked
    int leader;
    int snapshots[REPLICAS], elections[REPLICAS];
    uint64_t leader_changes;
} check_t;

typedef struct {
    char when[64];
    char load_before[64];
    double host_before;
    size_t data_size, leaf_size, request_size;
    int connected, wanted;
} meta_t;

static const char *
s_code_list (const eresult_t *r, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = 0;
    for (int k = 0; k < LOAD_ERR_KINDS && len < size; k++)
        if (r->by_code[k])
            len +=
                (size_t) snprintf (buf + len, size - len, " %s %llu", codec_err_name ((lh_err_t) k),
                                   (unsigned long long) r->by_code[k]);
    struct {
        const char *name;
        uint64_t n;
    } more[] = {{"timeout", r->timeouts},        {"lost", r->lost},
                {"send_failed", r->send_failed}, {"bad_reply", r->bad_replies},
                {"duplicate", r->duplicates},    {"late_reply", r->late}};
    for (size_t i = 0; i < sizeof (more) / sizeof (more[0]) && len < size; i++)
        if (more[i].n)
            len += (size_t) snprintf (buf + len, size - len, " %s %llu", more[i].name,
                                      (unsigned long long) more[i].n);
    return buf;
}

static void
s_run_name (const escen_t *s, char *buf, size_t size)
{
    snprintf (buf, size, "%d client%s x %d event%s%s", s->clients, s->clients == 1 ? "" : "s",
              s->batch, s->batch == 1 ? "" : "s", s->profiled ? " (perf)" : "");
}

//  Verifications a replica makes per entry: lh-integrity merges each of the
//  two peers' checkpoint signatures by verifying the peer's note and its own
//  (which holds one signature, then two): 1 + 1 + 1 + 2. The profile gives
//  the measured share; this is what the timings predict for it.
#define VERIFIES_PER_ENTRY 5

//  Crypto a replica does per event at this group-commit factor, from the
//  timings: a leaf hash and (amortised) one node hash per event; per entry
//  one signature, the root (about log2(size) node hashes) and the peers'
//  signatures merged
static double
s_crypto_per_event (const crypto_t *cr, double events_per_entry, uint64_t size)
{
    if (!cr->ran || events_per_entry <= 0)
        return 0;
    double levels = size > 1 ? log2 ((double) size) : 1;
    double per_entry =
        cr->sign.mean + VERIFIES_PER_ENTRY * cr->verify.mean + levels * cr->node.mean;
    return cr->leaf.mean + cr->node.mean + per_entry / events_per_entry;
}

static void
s_table (FILE *out, const eopts_t *o, const eenv_t *env, const meta_t *m, const crypto_t *cr,
         const timed_t *fs, bool direct, const timed_t *lmdb, const escen_t *scen, int nscen,
         const profile_t *prof, const check_t *check, const etarget_t *targets, int ntargets)
{
    fprintf (out,
             "\nlh-events-bench  %s  %ld cores  %.1f s per run (+%.1f s warmup)  3 lh-integrity "
             "replicas, CURVE lh-broker, clients with role %s\n",
             m->when, sysconf (_SC_NPROCESSORS_ONLN), o->duration, o->warmup, o->role);
    if (o->source)
        fprintf (out, "source: %s\n", o->source);
    fprintf (out,
             "host before the run: loadavg %s; %.0f%% CPU busy (100 = one core) over 1 s with "
             "nothing of ours running\n",
             m->load_before, m->host_before);
    fprintf (out, "data: %s (%s) holds the replicas' --dir and the baseline alike\n", env->tmp,
             env->fs);
    fprintf (out, "replicas: integrity monitor %s; options %s\n",
             o->monitor_ms ? "on" : "off (--monitor-ms 0: its full re-verification would compete)",
             o->replica_args ? o->replica_args : "default (--inflight 4, --entry-events 8192)");
    fprintf (out,
             "event: type custom, data map %zu B packed, a unique client_id; leaf stored %zu B; "
             "append request %zu B with 1 event\n",
             m->data_size, m->leaf_size, m->request_size);

    fprintf (out, "\ncontext, one thread on this machine:\n");
    if (cr->ran) {
        const struct {
            const char *what;
            const micro_t *m;
        } rows[] = {{"Ed25519 sign, checkpoint body", &cr->sign},
                    {"Ed25519 verify, same", &cr->verify},
                    {"SHA-256 leaf hash, 0x00 || leaf", &cr->leaf},
                    {"SHA-256 node hash, 0x01 || 2 x 32 B", &cr->node}};
        for (size_t i = 0; i < 4; i++) {
            char what[64];
            snprintf (what, sizeof (what), "%s (%zu B)", rows[i].what,
                      i < 2    ? cr->note_len
                      : i == 2 ? cr->leaf_len + 1
                               : (size_t) 65);
            fprintf (out, "  %-46s p50 %8.2f us  p99 %8.2f us  mean %8.2f us\n", what,
                     rows[i].m->p50, rows[i].m->p99, rows[i].m->mean);
        }
    }
    for (int k = 0; k < 2; k++)
        if (fs[k].ran) {
            char what[80];
            snprintf (what, sizeof (what), "4 KiB %sO_DSYNC appends, %d writer%s",
                      direct ? "O_DIRECT|" : "", k ? REPLICAS : 1, k ? "s at once" : "");
            fprintf (out, "  %-46s p50 %8.3f ms  p99 %8.3f ms  max %7.2f ms  (%.0f writes/s)\n",
                     what, fs[k].p50 / 1000, fs[k].p99 / 1000, fs[k].max / 1000, fs[k].rate);
        }

    fprintf (out, "\n%-34s %9s %9s %8s %8s %8s %8s %8s %7s %8s %9s\n", "run", "events/s",
             "appends/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "errors", "ev/entry",
             "entries/s");
    if (lmdb->ran)
        fprintf (out, "%-34s %9.0f %9.0f %8.3f %8.3f %8.3f %8.3f %8.3f %7d %8s %9s\n",
                 "LMDB baseline: 1 writer, sync commit", lmdb->rate, lmdb->rate, lmdb->p50 / 1000,
                 lmdb->p90 / 1000, lmdb->p99 / 1000, lmdb->p999 / 1000, lmdb->max / 1000, 0, "1",
                 "-");
    else
        fprintf (out, "%-34s %9s\n", "LMDB baseline", "FAILED");
    for (int i = 0; i < nscen; i++) {
        const escen_t *s = &scen[i];
        char name[64];
        s_run_name (s, name, sizeof (name));
        if (!s->ran) {
            fprintf (out, "%-34s %9s\n", name, s->failed ? "FAILED" : "not run");
            continue;
        }
        fprintf (out, "%-34s %9.0f %9.0f %8.3f %8.3f %8.3f %8.3f %8.3f %7llu %8.1f %9.0f\n", name,
                 s->eps, s->aps, s->p50, s->p90, s->p99, s->p999, s->pmax,
                 (unsigned long long) s->r.errors, s->events_per_entry, s->entries_per_s);
    }
    for (int i = 0; i < nscen; i++) {
        const escen_t *s = &scen[i];
        char name[64], codes[256];
        if (!s->ran || (!s->r.errors && !s->r.late))
            continue;
        s_run_name (s, name, sizeof (name));
        fprintf (out, "  errors in %s:%s\n", name, s_code_list (&s->r, codes, sizeof (codes)));
    }

    fprintf (out,
             "\nCPU%% over the window (100 = one core) | CPU us per event\n"
             "%-28s|%6s %5s %5s %5s |%6s %5s %5s %5s %5s |%6s %5s %5s |%6s |%5s %5s %5s |%6s %6s "
             "%6s %6s %6s\n",
             "", "broker", "main", "io", "sys", "leader", "main", "io", "pool", "sys", "follow",
             "main", "sys", "client", "host", "iow", "other", "broker", "leader", "follow",
             "client", "all");
    for (int i = 0; i < nscen; i++) {
        const escen_t *s = &scen[i];
        char name[64];
        if (!s->ran)
            continue;
        s_run_name (s, name, sizeof (name));
        fprintf (out,
                 "%-28s|%6.0f %5.0f %5.0f %5.0f |%6.0f %5.0f %5.0f %5.0f %5.0f |%6.0f %5.0f %5.0f "
                 "|%6.0f |%5.0f %5.0f %5.0f |%6.1f %6.1f %6.1f %6.1f %6.1f\n",
                 name, s->broker, s->broker_main, s->broker_io, s->broker_sys, s->leader_cpu,
                 s->leader_main, s->leader_io, s->leader_pool, s->leader_sys, s->followers,
                 s->follower_main, s->followers_sys, s->clients_cpu, s->host, s->iowait, s->other,
                 s->us_broker, s->us_leader, s->us_followers, s->us_clients, s->us_all);
    }
    fprintf (out, "busiest thread:");
    for (int i = 0; i < nscen; i++)
        if (scen[i].ran)
            fprintf (out, "%s %d x %d: %s %.0f%%", i ? ";" : "", scen[i].clients, scen[i].batch,
                     scen[i].busiest, scen[i].busiest_pct);
    fprintf (out, "\n");

    //  Where the leader's time goes
    const escen_t *big = NULL;
    for (int i = 0; i < nscen; i++)
        if (scen[i].ran && scen[i].batch == 1 && !scen[i].profiled &&
            (!big || scen[i].clients > big->clients))
            big = &scen[i];
    if (big && cr->ran) {
        double est = s_crypto_per_event (cr, big->events_per_entry, check->sizes[0]);
        fprintf (out,
                 "\ncrypto estimate, %d clients x 1 event (%.1f events per Raft entry): leaf + ~1 "
                 "node hash per event, per entry 1 signature + %d verifications + the root = %.2f "
                 "us per event per replica, %.1f%% of the leader's %.1f us CPU per event\n",
                 big->clients, big->events_per_entry, VERIFIES_PER_ENTRY, est,
                 big->us_leader > 0 ? 100.0 * est / big->us_leader : 0, big->us_leader);
    }
    if (prof->ran) {
        const escen_t *p = &prof->scen;
        fprintf (out,
                 "\nwhere the leader's time goes: perf record -e cpu-clock -F 499 --call-graph "
                 "dwarf on the leader (all its threads), %d clients x %d event, %.1f s, %s "
                 "samples, %.0f events/s while recorded; hardware counters: %s\n",
                 p->clients, p->batch, prof->seconds, prof->samples, p->eps,
                 prof->hw_counters ? "yes" : "not supported (cpu-clock sampling)");
        fprintf (out, "  inclusive share of the leader's samples:\n");
        for (int i = 0; i < prof->ncat; i++) {
            if (prof->cat[i].found)
                fprintf (out, "    %-58s %6.1f%%\n", prof->cat[i].label, prof->cat[i].pct);
            else
                fprintf (out, "    %-58s %7s\n", prof->cat[i].label, "<0.2%");
        }
        fprintf (out, "  by thread (self):");
        for (int i = 0; i < prof->nthread; i++)
            fprintf (out, "%s %s %.1f%%", i ? "," : "", prof->thread[i].name, prof->thread[i].pct);
        fprintf (out, "\n  by library (self):");
        for (int i = 0; i < prof->ndso; i++)
            fprintf (out, "%s %s %.1f%%", i ? "," : "", prof->dso[i].name, prof->dso[i].pct);
        fprintf (out, "\n  top functions, inclusive / self:\n");
        for (int i = 0; i < prof->ntop; i++)
            fprintf (out, "    %6.1f%% %6.1f%%  %s\n", prof->top[i].children, prof->top[i].self,
                     prof->top[i].name);
    } else if (o->profile_s > 0)
        fprintf (out, "\nprofile: not run: %s\n", prof->why);

    if (check->ran) {
        fprintf (out,
                 "\nlog check: %llu events acknowledged new over the whole run (connections' first "
                 "appends, warmups and drains included); replica sizes",
                 (unsigned long long) check->acked);
        for (int i = 0; i < REPLICAS; i++)
            if (check->have[i])
                fprintf (out, " %llu%s", (unsigned long long) check->sizes[i],
                         check->leader == i + 1 ? " (leader)" : "");
            else
                fprintf (out, " ?");
        fprintf (out, "; %s; leader's size %s acknowledged\n",
                 check->converged ? "all equal" : "NOT all equal", check->match ? "==" : "!=");
        fprintf (out,
                 "  events of appends that timed out or were lost (may be in the log): %llu; "
                 "snapshots taken: %d/%d/%d; leader elections: %d (the first one included)\n",
                 (unsigned long long) check->unacked, check->snapshots[0], check->snapshots[1],
                 check->snapshots[2],
                 check->elections[0] + check->elections[1] + check->elections[2]);
    } else
        fprintf (out, "\nlog check: not run\n");

    fprintf (out, "\n%-52s %12s %12s  %s\n", "target (reported, not asserted)", "measured",
             "target", "result");
    for (int i = 0; i < ntargets; i++) {
        const etarget_t *t = &targets[i];
        char value[32], limit[32];
        if (t->known)
            snprintf (value, sizeof (value), "%.*f %s", t->at_least ? 0 : 2, t->value, t->unit);
        else
            snprintf (value, sizeof (value), "n/a");
        snprintf (limit, sizeof (limit), "%s %.0f %s", t->at_least ? ">=" : "<=", t->limit,
                  t->unit);
        fprintf (out, "%-52s %12s %12s  %s\n", t->name, value, limit,
                 !t->known   ? "not measured"
                 : s_met (t) ? "met"
                             : "MISSED");
    }
    fputs ("\nClosed loop, one append in flight per client, no resends; latency from before the "
           "send to after the\n"
           "reply is decoded (monotonic clock, log-linear histogram, <0.8% error); a reply counts "
           "when it is ok\n"
           "and has one {seq, duplicate: false} per event. ev/entry: events per Raft entry on the "
           "leader (group\n"
           "commit), from its counters over the run. CPU% from /proc/<pid>/task/*/stat over the "
           "window: main =\n"
           "the process's first thread (the replica's libuv loop: Raft, LMDB, signing, requests), "
           "io = ZeroMQ\n"
           "I/O threads (CURVE), pool = the replica's other threads, sys = kernel time of the "
           "whole process;\n"
           "follow = both followers; client = this process (the clients' thread); host = whole "
           "machine, iow =\n"
           "its I/O wait, other = host minus ours. The LMDB baseline is one writer, one record "
           "per synchronous\n"
           "commit, on the same filesystem, run before the cluster starts.\n",
           out);
}

static void
s_json_timed (FILE *out, const char *name, const timed_t *t)
{
    fprintf (out,
             "\"%s\": {\"ran\": %s, \"ops\": %llu, \"per_s\": %.1f, \"p50_us\": %.2f, \"p90_us\": "
             "%.2f, \"p99_us\": "
             "%.2f, \"p999_us\": %.2f, \"max_us\": %.2f, \"mean_us\": %.2f}",
             name, t->ran ? "true" : "false", (unsigned long long) t->ops, t->rate, t->p50, t->p90,
             t->p99, t->p999, t->max, t->mean);
}

static void
s_json_scen (FILE *out, const escen_t *s)
{
    fprintf (out, "{\"clients\": %d, \"events_per_append\": %d, \"profiled\": %s, \"ran\": %s",
             s->clients, s->batch, s->profiled ? "true" : "false", s->ran ? "true" : "false");
    if (!s->ran) {
        fprintf (out, "}");
        return;
    }
    const eresult_t *r = &s->r;
    fprintf (out,
             ", \"seconds\": %.3f, \"events\": %llu, \"appends\": %llu, \"events_per_s\": %.1f, "
             "\"appends_per_s\": %.1f, \"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, "
             "\"p999_ms\": %.3f, "
             "\"max_ms\": %.3f, \"mean_ms\": %.3f, \"errors\": %llu, \"errors_by_code\": {",
             s->seconds, (unsigned long long) r->events, (unsigned long long) r->appends, s->eps,
             s->aps, s->p50, s->p90, s->p99, s->p999, s->pmax, s->mean,
             (unsigned long long) r->errors);
    bool first = true;
    for (int k = 0; k < LOAD_ERR_KINDS; k++)
        if (r->by_code[k]) {
            fprintf (out, "%s\"%s\": %llu", first ? "" : ", ", codec_err_name ((lh_err_t) k),
                     (unsigned long long) r->by_code[k]);
            first = false;
        }
    fprintf (
        out,
        "}, \"timeouts\": %llu, \"lost\": %llu, \"send_failed\": %llu, \"bad_replies\": "
        "%llu, \"duplicates\": %llu, \"late_replies\": %llu, \"acknowledged_events\": %llu, "
        "\"request_bytes\": %.1f, \"reply_bytes\": %.1f, \"leader\": %d, \"leader_after\": "
        "%d, \"raft_entries\": %llu, \"events_per_entry\": %.2f, \"entries_per_s\": %.1f, "
        "\"signatures_merged\": %llu, \"signatures_bad\": %llu",
        (unsigned long long) r->timeouts, (unsigned long long) r->lost,
        (unsigned long long) r->send_failed, (unsigned long long) r->bad_replies,
        (unsigned long long) r->duplicates, (unsigned long long) r->late,
        (unsigned long long) r->acked, r->appends ? (double) r->req_bytes / (double) r->appends : 0,
        r->appends ? (double) r->rep_bytes / (double) r->appends : 0, s->leader, s->leader_after,
        (unsigned long long) s->entries, s->events_per_entry, s->entries_per_s,
        (unsigned long long) s->sigs_merged, (unsigned long long) s->sigs_bad);
    fprintf (out,
             ", \"cpu_pct\": {\"broker\": %.1f, \"broker_main\": %.1f, \"broker_io\": %.1f, "
             "\"broker_sys\": %.1f, \"leader\": %.1f, \"leader_main\": %.1f, \"leader_io\": %.1f, "
             "\"leader_pool\": %.1f, \"leader_sys\": %.1f, \"followers\": %.1f, "
             "\"follower_main_max\": %.1f, \"followers_sys\": %.1f, \"clients\": %.1f, \"host\": "
             "%.1f, \"host_iowait\": %.1f, \"other\": %.1f}, \"busiest_thread\": ",
             s->broker, s->broker_main, s->broker_io, s->broker_sys, s->leader_cpu, s->leader_main,
             s->leader_io, s->leader_pool, s->leader_sys, s->followers, s->follower_main,
             s->followers_sys, s->clients_cpu, s->host, s->iowait, s->other);
    bench_json_string (out, s->busiest);
    fprintf (out,
             ", \"busiest_thread_pct\": %.1f, \"cpu_us_per_event\": {\"broker\": %.2f, "
             "\"leader\": %.2f, \"followers\": %.2f, \"clients\": %.2f, \"all\": %.2f}}",
             s->busiest_pct, s->us_broker, s->us_leader, s->us_followers, s->us_clients, s->us_all);
}

static void
s_json (FILE *out, const eopts_t *o, const eenv_t *env, const meta_t *m, const crypto_t *cr,
        const timed_t *fs, bool direct, const timed_t *lmdb, const escen_t *scen, int nscen,
        const profile_t *prof, const check_t *check, const etarget_t *targets, int ntargets)
{
    fprintf (out, "{\n  \"tool\": \"lh-events-bench\",\n  \"time\": %lld,\n  \"source\": ",
             (long long) time (NULL));
    bench_json_string (out, o->source ? o->source : "");
    fprintf (out, ",\n  \"host_before\": {\"loadavg\": ");
    bench_json_string (out, m->load_before);
    fprintf (out, ", \"busy_pct\": %.1f},\n", m->host_before);
    fprintf (out,
             "  \"config\": {\"cores\": %ld, \"replicas\": %d, \"security\": \"curve\", "
             "\"client_role\": \"%s\", \"duration_s\": %.3f, \"warmup_s\": %.3f, \"drain_s\": "
             "%.3f, \"baseline_s\": %.3f, \"profile_s\": %.3f, \"timeout_ms\": %d, "
             "\"monitor_ms\": %d, \"data_map_bytes\": %zu, \"leaf_bytes\": %zu, "
             "\"request_bytes\": %zu, \"filesystem\": \"%s\", \"replica_args\": ",
             sysconf (_SC_NPROCESSORS_ONLN), REPLICAS, o->role, o->duration, o->warmup, o->drain,
             o->baseline_s, o->profile_s, o->timeout_ms, o->monitor_ms, m->data_size, m->leaf_size,
             m->request_size, env->fs);
    bench_json_string (out, o->replica_args ? o->replica_args : "");
    fprintf (out, "},\n  \"crypto\": {\"ran\": %s, \"note_bytes\": %zu, \"leaf_bytes\": %zu",
             cr->ran ? "true" : "false", cr->note_len, cr->leaf_len);
    const struct {
        const char *name;
        const micro_t *m;
    } micro[] = {{"ed25519_sign", &cr->sign},
                 {"ed25519_verify", &cr->verify},
                 {"sha256_leaf", &cr->leaf},
                 {"sha256_node", &cr->node}};
    for (size_t i = 0; i < 4; i++)
        fprintf (out,
                 ", \"%s\": {\"n\": %llu, \"p50_us\": %.3f, \"p99_us\": %.3f, \"mean_us\": %.3f}",
                 micro[i].name, (unsigned long long) micro[i].m->n, micro[i].m->p50,
                 micro[i].m->p99, micro[i].m->mean);
    fprintf (out, "},\n  ");
    fprintf (out, "\"write_floor_o_direct\": %s,\n  ", direct ? "true" : "false");
    s_json_timed (out, "write_floor_1_writer", &fs[0]);
    fprintf (out, ",\n  ");
    s_json_timed (out, "write_floor_3_writers", &fs[1]);
    fprintf (out, ",\n  ");
    s_json_timed (out, "lmdb_baseline", lmdb);
    fprintf (out, ",\n  \"runs\": [");
    for (int i = 0; i < nscen; i++) {
        fprintf (out, "%s\n    ", i ? "," : "");
        s_json_scen (out, &scen[i]);
    }
    fprintf (out, "\n  ],\n  \"profile\": {\"ran\": %s, \"hardware_counters\": %s",
             prof->ran ? "true" : "false", prof->hw_counters ? "true" : "false");
    if (!prof->ran) {
        fprintf (out, ", \"why\": ");
        bench_json_string (out, prof->why);
    } else {
        fprintf (out, ", \"seconds\": %.3f, \"samples\": ", prof->seconds);
        bench_json_string (out, prof->samples);
        fprintf (out, ", \"run\": ");
        s_json_scen (out, &prof->scen);
        fprintf (out, ", \"inclusive_pct\": {");
        for (int i = 0; i < prof->ncat; i++) {
            fprintf (out, "%s", i ? ", " : "");
            bench_json_string (out, prof->cat[i].label);
            fprintf (out, ": %.2f", prof->cat[i].pct);
        }
        fprintf (out, "}, \"top\": [");
        for (int i = 0; i < prof->ntop; i++) {
            fprintf (out, "%s{\"symbol\": ", i ? ", " : "");
            bench_json_string (out, prof->top[i].name);
            fprintf (out, ", \"children_pct\": %.2f, \"self_pct\": %.2f}", prof->top[i].children,
                     prof->top[i].self);
        }
        fprintf (out, "], \"threads\": ");
        s_json_shares (out, "thread", prof->thread, prof->nthread);
        fprintf (out, ", \"libraries\": ");
        s_json_shares (out, "library", prof->dso, prof->ndso);
    }
    fprintf (out,
             "},\n  \"log_check\": {\"ran\": %s, \"acknowledged_events\": %llu, "
             "\"unacknowledged_events\": %llu, \"sizes\": [",
             check->ran ? "true" : "false", (unsigned long long) check->acked,
             (unsigned long long) check->unacked);
    for (int i = 0; i < REPLICAS; i++)
        fprintf (out, "%s%lld", i ? ", " : "", check->have[i] ? (long long) check->sizes[i] : -1LL);
    fprintf (out,
             "], \"converged\": %s, \"size_equals_acknowledged\": %s, \"leader\": %d, "
             "\"snapshots\": [%d, %d, %d], \"elections\": %d},\n",
             check->converged ? "true" : "false", check->match ? "true" : "false", check->leader,
             check->snapshots[0], check->snapshots[1], check->snapshots[2],
             check->elections[0] + check->elections[1] + check->elections[2]);
    fprintf (out, "  \"targets\": [");
    for (int i = 0; i < ntargets; i++) {
        const etarget_t *t = &targets[i];
        fprintf (out, "%s\n    {\"name\": ", i ? "," : "");
        bench_json_string (out, t->name);
        if (t->known)
            fprintf (out, ", \"value\": %.4f", t->value);
        else
            fprintf (out, ", \"value\": null");
        fprintf (out, ", \"limit\": %.4f, \"unit\": \"%s\", \"op\": \"%s\", \"met\": %s}", t->limit,
                 t->unit, t->at_least ? ">=" : "<=",
                 !t->known   ? "null"
                 : s_met (t) ? "true"
                             : "false");
    }
    fprintf (out, "\n  ]\n}\n");
}

//  --------------------------------------------------------------------------

//  Waits until every replica reports the same size (followers learn the
//  last commit index with the next heartbeat), then compares with what the
//  clients were told
static void
s_log_check (eenv_t *env, check_t *check)
{
    rstatus_t st[REPLICAS];
    int64_t until = zclock_mono () + 10000;
    do {
        check->leader = s_status_all (env, st);
        check->converged = true;
        for (int i = 0; i < REPLICAS; i++) {
            check->have[i] = st[i].ok;
            check->sizes[i] = st[i].size;
            check->converged &= st[i].ok && st[i].size == st[0].size;
        }
        if (check->converged)
            break;
        zclock_sleep (200);
    } while (!bench_stop && zclock_mono () < until);
    check->ran = !bench_stop && check->leader > 0;
    check->match = check->ran && check->sizes[check->leader - 1] == check->acked;
    for (int i = 0; i < REPLICAS; i++) {
        check->snapshots[i] = s_log_count (env->replica_log[i], "snapshot taken");
        check->elections[i] = s_log_count (env->replica_log[i], "state=leader");
    }
}

static int s_main (eopts_t o);

int
main (int argc, char **argv)
{
    eopts_t o;
    zconfig_t *config = NULL;
    int rc = s_parse (&o, argc, argv, &config);
    if (rc < 0)
        rc = s_main (o);
    zconfig_destroy (&config);
    return rc;
}

static int
s_main (eopts_t o)
{
    s_out = o.json ? stderr : stdout;
    proc_start ();
    if (sodium_init () < 0 || !zmq_has ("curve")) {
        fprintf (stderr, "lh-events-bench: libsodium or libzmq's CURVE is not usable\n");
        return 1;
    }
    int max_clients = 0;
    for (int i = 0; i < o.ncounts; i++)
        if (o.counts[i] > max_clients)
            max_clients = o.counts[i];
    for (int i = 0; o.batch > 0 && i < o.nbatch; i++)
        if (o.batch_counts[i] > max_clients)
            max_clients = o.batch_counts[i];

    eenv_t env;
    memset (&env, 0, sizeof (env));
    if (s_env_init (&env, &o, max_clients) != 0) {
        env.failed = true;
        s_env_destroy (&env, o.keep);
        return 1;
    }
    s_progress ("broker %s, replicas %s, work dir %s (%s)", env.broker_bin, env.integrity_bin,
                env.tmp, env.fs);

    meta_t meta;
    memset (&meta, 0, sizeof (meta));
    time_t now = time (NULL);
    strftime (meta.when, sizeof (meta.when), "%Y-%m-%d %H:%M:%S", localtime (&now));
    //  What else the machine is doing, before we add anything
    proc_loadavg (meta.load_before, sizeof (meta.load_before));
    meta.host_before = host_busy_over (1000);

    msgpack_sbuffer data, leaf, request;
    msgpack_sbuffer_init (&data);
    msgpack_sbuffer_init (&leaf);
    msgpack_sbuffer_init (&request);
    s_data_map (&data, o.data_bytes);
    s_make_leaf (&data, o.role, &leaf);
    uint32_t seq = 0;
    s_pack_append (&request, 1, 1, 0x12345678, 17, &seq, &data);
    meta.data_size = data.size;
    meta.leaf_size = leaf.size;
    meta.request_size = request.size;

    //  Context first, while nothing else of ours runs
    crypto_t crypto;
    memset (&crypto, 0, sizeof (crypto));
    timed_t fs[2], lmdb;
    memset (fs, 0, sizeof (fs));
    memset (&lmdb, 0, sizeof (lmdb));
    bool direct = false;
    s_progress ("Ed25519 and SHA-256 timings");
    s_crypto (&leaf, &crypto);
    for (int k = 0; k < 2 && !bench_stop; k++) {
        s_progress ("write floor: 4 KiB O_DIRECT|O_DSYNC appends, %d writer%s, 1 s",
                    k ? REPLICAS : 1, k ? "s" : "");
        s_write_floor (env.baseline_dir, 1.0, k ? REPLICAS : 1, &fs[k], &direct);
    }
    if (!bench_stop && o.baseline_s > 0) {
        s_progress ("LMDB baseline: 1 writer, one synchronous commit per record, %.1f s (+%.1f s "
                    "warmup)",
                    o.baseline_s, o.warmup);
        s_lmdb_baseline (env.baseline_dir, &leaf, o.warmup, o.baseline_s, &lmdb);
    }
    profile_t prof;
    memset (&prof, 0, sizeof (prof));
    s_profile_cats (&prof);
    if (o.profile_s > 0 && !bench_stop)
        s_perf_check (&env, &prof);
    else
        snprintf (prof.why, sizeof (prof.why), "--profile 0");

    escen_t scen[MAX_SCEN];
    memset (scen, 0, sizeof (scen));
    int nscen = 0;
    for (int i = 0; i < o.ncounts; i++)
        scen[nscen++] = (escen_t){.clients = o.counts[i], .batch = 1};
    for (int i = 0; o.batch > 1 && i < o.nbatch; i++)
        scen[nscen++] = (escen_t){.clients = o.batch_counts[i], .batch = o.batch};
    check_t check;
    memset (&check, 0, sizeof (check));
    bool any_failed = !lmdb.ran && o.baseline_s > 0;

    driver_t d;
    memset (&d, 0, sizeof (d));
    d.data = &data;
    d.nonce = randombytes_random ();
    d.timeout_ms = o.timeout_ms;
    msgpack_sbuffer_init (&d.buf);
    for (int i = 0; i < MAX_PARTS; i++)
        zmq_msg_init (&d.parts[i]);

    int leader = 0;
    s_progress ("starting lh-broker and 3 lh-integrity replicas");
    if (!bench_stop && s_cluster_start (&env, &o, max_clients, &leader) == 0) {
        s_progress ("leader: replica-%d; connecting %d clients", leader, max_clients);
        int ready = s_clients_connect (&env, &d, max_clients, 30000);
        check.acked += d.r.acked;
        check.unacked += d.r.unacked_events;
        s_progress ("%d of %d clients connected and had one append answered", ready, max_clients);
        if (ready < max_clients) {
            any_failed = true;
            env.failed = true;
        }
        for (int i = 0; i < nscen && !bench_stop && ready == max_clients; i++) {
            escen_t *s = &scen[i];
            s_progress ("%d client%s x %d event%s per append: %.1f s (+%.1f s warmup)", s->clients,
                        s->clients == 1 ? "" : "s", s->batch, s->batch == 1 ? "" : "s", o.duration,
                        o.warmup);
            s_run (&env, &o, &d, s, o.duration, NULL);
            check.acked += d.r.acked;
            check.unacked += d.r.unacked_events;
            if (s->ran)
                s_progress ("  %.0f events/s, %.0f appends/s, p50 %.2f ms, p99 %.2f ms, errors "
                            "%llu, %.1f events per entry",
                            s->eps, s->aps, s->p50, s->p99, (unsigned long long) s->r.errors,
                            s->events_per_entry);
            if (!s_cluster_alive (&env)) {
                fprintf (stderr, "lh-events-bench: the broker or a replica died during the run\n");
                s_cluster_logs (&env);
                s->failed = true;
                env.failed = true;
            }
            any_failed |= !s->ran;
            if (!s->ran)
                break;
        }
        if (prof.available && !bench_stop && !env.failed && ready == max_clients) {
            prof.scen = (escen_t){.clients = o.counts[0], .batch = 1, .profiled = true};
            for (int i = 0; i < o.ncounts; i++)
                if (o.counts[i] > prof.scen.clients)
                    prof.scen.clients = o.counts[i];
            prof.seconds = o.profile_s;
            perf_run_t perf = {.pid = -1};
            snprintf (perf.path, sizeof (perf.path), "%s/perf.data", env.tmp);
            s_progress ("profile: perf on the leader, %d clients x 1 event, %.1f s",
                        prof.scen.clients, o.profile_s);
            s_run (&env, &o, &d, &prof.scen, o.profile_s, &perf);
            check.acked += d.r.acked;
            check.unacked += d.r.unacked_events;
            if (prof.scen.ran && access (perf.path, R_OK) == 0) {
                s_progress ("profile: perf report (a few seconds)");
                s_perf_parse (&env, perf.path, env.replica[prof.scen.leader - 1], &prof);
            } else
                snprintf (prof.why, sizeof (prof.why),
                          "perf record wrote nothing (see "
                          "perf-record.log)");
        }
        s_progress ("log check: every replica's size against the events acknowledged");
        if (!bench_stop)
            s_log_check (&env, &check);
        if (!check.match)
            any_failed = true;
    } else
        any_failed = true;
    s_clients_close (&d);
    s_cluster_stop (&env);

    //  Targets: throughput with the most clients (100 by default), p99 of every run
    etarget_t targets[MAX_TARGETS];
    int nt = 0;
    const escen_t *most = NULL;
    for (int i = 0; i < nscen; i++)
        if (scen[i].batch == 1 && (!most || scen[i].clients > most->clients))
            most = &scen[i];
    if (most) {
        etarget_t *t = &targets[nt++];
        *t = (etarget_t){.known = most->ran,
                         .value = most->eps,
                         .limit = TARGET_EPS,
                         .at_least = true,
                         .unit = "ev/s"};
        snprintf (t->name, sizeof (t->name), "events/s replicated, %d clients x 1 event",
                  most->clients);
    }
    for (int i = 0; i < nscen; i++) {
        etarget_t *t = &targets[nt++];
        *t = (etarget_t){.known = scen[i].ran,
                         .value = scen[i].p99,
                         .limit = TARGET_P99_MS,
                         .at_least = false,
                         .unit = "ms"};
        char name[64];
        s_run_name (&scen[i], name, sizeof (name));
        snprintf (t->name, sizeof (t->name), "p99 append, %s", name);
    }

    s_table (s_out, &o, &env, &meta, &crypto, fs, direct, &lmdb, scen, nscen, &prof, &check,
             targets, nt);
    if (o.json)
        s_json (stdout, &o, &env, &meta, &crypto, fs, direct, &lmdb, scen, nscen, &prof, &check,
                targets, nt);
    if (o.json_out) {
        FILE *file = fopen (o.json_out, "w");
        if (file) {
            s_json (file, &o, &env, &meta, &crypto, fs, direct, &lmdb, scen, nscen, &prof, &check,
                    targets, nt);
            fclose (file);
        } else
            fprintf (stderr, "lh-events-bench: cannot write %s\n", o.json_out);
    }
    launcher_stop_all (env.launcher, 2000);
    for (int i = 0; i < MAX_PARTS; i++)
        zmq_msg_close (&d.parts[i]);
    msgpack_sbuffer_destroy (&d.buf);
    msgpack_sbuffer_destroy (&data);
    msgpack_sbuffer_destroy (&leaf);
    msgpack_sbuffer_destroy (&request);
    if (any_failed)
        env.failed = true;
    s_env_destroy (&env, o.keep);
    if (bench_stop)
        return 130;
    return any_failed ? 1 : 0;
}
