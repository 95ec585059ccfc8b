/*  lh-fuse -- Lighthouse's file-system node.

    lh-fuse log --mount MNT --dir DIR ...
        The integrity log as files at MNT (logview.c), from a read model in
        DIR (logmodel.c) that follows the log through events.read. Read-only
        except escalations/pending/<id>/verdict: a verdict written there is
        the verdict of the expert whose key lh-fuse runs with (--cert).

    lh-fuse workspace --source DIR --mount MNT ...
        DIR shown at MNT: every change under MNT and every open for reading
        is asked of the policy through the broker first (guard.c), every
        change allowed is logged (workspace.c does the file system).

    It talks to the broker's frontend as the agent whose key it holds
    (--cert): the decisions and file.* events are that agent's.
*/
#include "guard.h"
#include "logmodel.h"
#include "logview.h"
#include "workspace.h"

#include "codec.h"
#include "lh_log.h"
#include "lh_node.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static const lh_option_t s_workspace_options[] = {
    {"source", "workspace/source", NULL, "the directory shown (required)", false},
    {"mount", "workspace/mount", NULL, "where it is shown: an existing directory (required)",
     false},
    {"broker", "workspace/broker", "tcp://127.0.0.1:5555",
     "broker frontend endpoint(s), comma-separated: one per broker", false},
    {"broker-key", "workspace/broker_key", NULL, "broker public key (Z85); omit for plaintext",
     false},
    {"cert", "workspace/cert", NULL,
     "the agent's secret certificate: decisions and events are that agent's", false},
    {"events-cert", "workspace/events_cert", NULL,
     "a node key the file.* events go with (the log view trusts only those); needs --agent", false},
    {"agent", "workspace/agent", NULL, "the agent the events are about, with --events-cert", false},
    {"spool-dir", "workspace/spool_dir", "/var/lib/lighthouse/workspace-spool",
     "durable spool of file.* events for the log", false},
    {"home", "workspace/home", NULL, "the agent's home directory for the policy", false},
    {"policy", "workspace/policy", NULL,
     "the validators' policy file: reads keep working (secrets refused) while the broker is away",
     false},
    {"session", "workspace/session", NULL, "a session id for the log", false},
    {"timeout", "workspace/timeout", "5000", "ms to wait for a decision; none by then: refused",
     false},
    {"wait", "workspace/wait", "30000",
     "ms an escalated change waits for an expert's verdict; none by then: refused", false},
    {"cache-ms", "workspace/cache_ms", "60000", "ms a decision is reused (0: never)", false},
    {"shadow-max", "workspace/shadow_max", "65536",
     "content bytes a file.write event carries (0: none)", false},
    {"threads", "workspace/threads", "10", "file-system threads", false},
    {"flush", "workspace/flush", "5000", "ms to wait at exit for the log to take the events",
     false},
    {"metrics", "workspace/metrics", NULL,
     "serve Prometheus metrics on IPV4:PORT (GET /metrics); off when not given", false},
    {"log-level", "workspace/log_level", "info", "debug, info, warn or error", false},
    {NULL, NULL, NULL, NULL, false},
};

static workspace_t *s_workspace; //  for the signal handler

static void
s_on_signal (int signum)
{
    (void) signum;
    if (s_workspace)
        workspace_stop (s_workspace);
}

typedef struct {
    guard_t *guard;
    lh_metrics_t *metrics;
    volatile bool done;
} s_publisher_t;

//  The guard's counters as metrics, once a second
static void *
s_publish (void *arg)
{
    s_publisher_t *p = (s_publisher_t *) arg;
    while (!p->done) {
        guard_counters_t n;
        guard_counters (p->guard, &n);
        codec_buf_t buf;
        codec_buf_init (&buf);
        msgpack_pack_map (&buf.pk, 8);
        codec_pack_kv_u64 (&buf.pk, "checks", n.checks);
        codec_pack_kv_u64 (&buf.pk, "allowed", n.allowed);
        codec_pack_kv_u64 (&buf.pk, "refused", n.refused);
        codec_pack_kv_u64 (&buf.pk, "cache_hits", n.cache_hits);
        codec_pack_kv_u64 (&buf.pk, "errors", n.errors);
        codec_pack_kv_u64 (&buf.pk, "escalations_unanswered", n.escalations);
        codec_pack_kv_u64 (&buf.pk, "events", n.events);
        codec_pack_kv_u64 (&buf.pk, "events_refused", n.events_refused);
        lh_metrics_publish_map (p->metrics, "lighthouse_workspace", buf.sbuf.data, buf.sbuf.size,
                                NULL);
        codec_buf_destroy (&buf);
        for (int i = 0; i < 10 && !p->done; i++)
            zclock_sleep (100);
    }
    return NULL;
}

static int
s_workspace_main (int argc, char **argv)
{
    static const lh_node_t node_def = {
        "lh-fuse workspace",
        "Lighthouse guarded workspace: DIR shown at MNT, every change asked of the policy "
        "and logged.",
        s_workspace_options, "workspace"};
    int exit_code;
    zconfig_t *config = lh_node_start (&node_def, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    const char *source = lh_config_str (config, "workspace/source", NULL);
    const char *mount = lh_config_str (config, "workspace/mount", NULL);
    guard_options_t options;
    guard_options_default (&options);
    options.home = lh_config_str (config, "workspace/home", NULL);
    options.session = lh_config_str (config, "workspace/session", NULL);
    options.spool_dir = lh_config_str (config, "workspace/spool_dir", NULL);
    options.policy = lh_config_str (config, "workspace/policy", NULL);
    options.agent = lh_config_str (config, "workspace/agent", NULL);
    options.timeout_ms = (int) lh_config_int (config, "workspace/timeout", 5000);
    options.wait_ms = (int) lh_config_int (config, "workspace/wait", 30000);
    options.cache_ms = (int) lh_config_int (config, "workspace/cache_ms", 60000);
    long shadow = lh_config_int (config, "workspace/shadow_max", 65536);
    long threads = lh_config_int (config, "workspace/threads", 10);
    long flush = lh_config_int (config, "workspace/flush", 5000);
    if (!source || !mount || options.timeout_ms < 100 || options.wait_ms < 0 ||
        options.wait_ms > 600000 || options.cache_ms < 0 || shadow < 0 || shadow > 1 << 20 ||
        threads < 1 || threads > 256 || flush < 0) {
        lh_error ("bad configuration",
                  "source=\"%s\" mount=\"%s\" (both required) timeout=%d (>= 100) wait=%d "
                  "(0..600000) cache_ms=%d (>= 0) shadow_max=%ld (0..1048576) threads=%ld "
                  "(1..256) flush=%ld (>= 0)",
                  source ? source : "", mount ? mount : "", options.timeout_ms, options.wait_ms,
                  options.cache_ms, shadow, threads, flush);
        zconfig_destroy (&config);
        return 2;
    }
    options.shadow_max = (size_t) shadow;
    char real[PATH_MAX];
    if (!realpath (source, real)) {
        lh_error ("cannot use the source", "source=\"%s\" error=\"%s\"", source, strerror (errno));
        zconfig_destroy (&config);
        return 1;
    }
    options.source = real;
    zcert_t *cert = NULL;
    if (lh_node_cert (config, "workspace", &cert) != 0) {
        zconfig_destroy (&config);
        return 1;
    }
    lh_connect_t conn = {.endpoint = lh_config_str (config, "workspace/broker", NULL),
                         .server_key = lh_config_str (config, "workspace/broker_key", NULL),
                         .cert = cert};
    const char *events_path = lh_config_str (config, "workspace/events_cert", NULL);
    zcert_t *events_cert = events_path ? zcert_load (events_path) : NULL;
    if (events_path && (!events_cert || !options.agent)) {
        lh_error ("bad configuration", "events_cert=\"%s\" (%s) needs agent", events_path,
                  events_cert ? "loaded" : "cannot be loaded");
        zcert_destroy (&events_cert);
        zcert_destroy (&cert);
        zconfig_destroy (&config);
        return events_cert ? 2 : 1;
    }
    lh_connect_t events_conn = conn;
    events_conn.cert = events_cert;
    char err[512];
    int rc = 1;
    guard_t *guard =
        guard_new (&conn, events_cert ? &events_conn : NULL, &options, err, sizeof (err));
    ws_hooks_t hooks = guard ? guard_hooks (guard) : (ws_hooks_t){0};
    workspace_t *workspace = guard ? workspace_new (real, &hooks, err, sizeof (err)) : NULL;
    ws_options_t ws;
    workspace_options_default (&ws);
    ws.max_threads = (unsigned) threads;
    lh_metrics_t *metrics = NULL;
    pthread_t publisher;
    s_publisher_t pub = {guard, NULL, false};
    bool publishing = false;
    if (!workspace)
        lh_error ("cannot start", "error=\"%s\"", err);
    else if (workspace_mount (workspace, mount, &ws, err, sizeof (err)) != 0)
        lh_error ("cannot mount", "mount=\"%s\" error=\"%s\"", mount, err);
    else if (lh_node_metrics (config, "workspace", &metrics) == 0) {
        s_workspace = workspace;
        struct sigaction sa;
        memset (&sa, 0, sizeof (sa));
        sa.sa_handler = s_on_signal;
        sigaction (SIGTERM, &sa, NULL);
        sigaction (SIGINT, &sa, NULL);
        sigaction (SIGHUP, &sa, NULL);
        if (metrics) {
            pub.metrics = metrics;
            publishing = pthread_create (&publisher, NULL, s_publish, &pub) == 0;
        }
        lh_info ("serving", "source=\"%s\" mount=\"%s\" broker=%s wait_ms=%d cache_ms=%d", real,
                 mount, conn.endpoint, options.wait_ms, options.cache_ms);
        rc = workspace_run (workspace) == 0 ? 0 : 1;
        s_workspace = NULL;
    }
    if (publishing) {
        pub.done = true;
        pthread_join (publisher, NULL);
    }
    guard_counters_t n = {0};
    if (guard)
        guard_counters (guard, &n);
    lh_info ("stopping",
             "checks=%llu allowed=%llu refused=%llu cache_hits=%llu errors=%llu events=%llu",
             (unsigned long long) n.checks, (unsigned long long) n.allowed,
             (unsigned long long) n.refused, (unsigned long long) n.cache_hits,
             (unsigned long long) n.errors, (unsigned long long) n.events);
    workspace_destroy (&workspace);
    guard_destroy (&guard, (int) flush);
    lh_metrics_destroy (&metrics);
    zcert_destroy (&events_cert);
    zcert_destroy (&cert);
    zconfig_destroy (&config);
    return rc;
}

//  --------------------------------------------------------------------------
//  lh-fuse log

static const lh_option_t s_log_options[] = {
    {"mount", "log/mount", NULL, "where the log is shown: an existing directory (required)", false},
    {"dir", "log/dir", "/var/lib/lighthouse/logview", "the read model's directory (its LMDB)",
     false},
    {"broker", "log/broker", "tcp://127.0.0.1:5555",
     "broker frontend endpoint(s), comma-separated: one per broker", false},
    {"broker-key", "log/broker_key", NULL, "broker public key (Z85); omit for plaintext", false},
    {"cert", "log/cert", NULL,
     "an expert's secret certificate: the log is read, and verdicts given, as that expert", false},
    {"poll-ms", "log/poll_ms", "500", "ms between reads of the log once caught up", false},
    {"map-mb", "log/map_mb", "4096", "the read model's size bound on disk, MiB", false},
    {"threads", "log/threads", "10", "file-system threads", false},
    {"gid", "log/gid", NULL,
     "group owning every file (read 0440, verdict 0220); default the daemon's", false},
    {"metrics", "log/metrics", NULL,
     "serve Prometheus metrics on IPV4:PORT (GET /metrics); off when not given", false},
    {"log-level", "log/log_level", "info", "debug, info, warn or error", false},
    {NULL, NULL, NULL, NULL, false},
};

static logview_t *s_logview; //  for the signal handler

static void
s_on_log_signal (int signum)
{
    (void) signum;
    if (s_logview)
        logview_stop (s_logview);
}

typedef struct {
    logmodel_t *model;
    logview_t *view;
    lh_metrics_t *metrics;
    volatile bool done;
} s_log_publisher_t;

static void *
s_log_publish (void *arg)
{
    s_log_publisher_t *p = (s_log_publisher_t *) arg;
    static const char *const gauges[] = {"size", "resumed_from", "pending", NULL};
    while (!p->done) {
        logmodel_counters_t m;
        logview_counters_t v;
        logmodel_counters (p->model, &m);
        logview_counters (p->view, &v);
        codec_buf_t buf;
        codec_buf_init (&buf);
        msgpack_pack_map (&buf.pk, 12);
        codec_pack_kv_u64 (&buf.pk, "size", m.size);
        codec_pack_kv_u64 (&buf.pk, "resumed_from", m.resumed_from);
        codec_pack_kv_u64 (&buf.pk, "pending", m.pending);
        codec_pack_kv_u64 (&buf.pk, "fetched", m.fetched);
        codec_pack_kv_u64 (&buf.pk, "batches", m.batches);
        codec_pack_kv_u64 (&buf.pk, "fetch_errors", m.fetch_errors);
        codec_pack_kv_u64 (&buf.pk, "paths_refused", m.paths_refused);
        codec_pack_kv_u64 (&buf.pk, "verdicts", v.verdicts);
        codec_pack_kv_u64 (&buf.pk, "verdicts_refused", v.verdicts_refused);
        codec_pack_kv_u64 (&buf.pk, "proofs", v.proofs);
        codec_pack_kv_u64 (&buf.pk, "proof_errors", v.proof_errors);
        codec_pack_kv_u64 (&buf.pk, "invalidations", v.invalidations);
        lh_metrics_publish_map (p->metrics, "lighthouse_logview", buf.sbuf.data, buf.sbuf.size,
                                gauges);
        codec_buf_destroy (&buf);
        for (int i = 0; i < 10 && !p->done; i++)
            zclock_sleep (100);
    }
    return NULL;
}

static int
s_log_main (int argc, char **argv)
{
    static const lh_node_t node_def = {
        "lh-fuse log",
        "Lighthouse log view: the integrity log as files at MNT (events, checkpoint, proofs, "
        "decisions, agents, pending escalations with a writable verdict, shadows, history).",
        s_log_options, "log"};
    int exit_code;
    zconfig_t *config = lh_node_start (&node_def, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    const char *mount = lh_config_str (config, "log/mount", NULL);
    const char *dir = lh_config_str (config, "log/dir", NULL);
    long poll = lh_config_int (config, "log/poll_ms", 500);
    long map_mb = lh_config_int (config, "log/map_mb", 4096);
    long threads = lh_config_int (config, "log/threads", 10);
    long gid = lh_config_int (config, "log/gid", -1);
    if (!mount || !dir || poll < 10 || poll > 600000 || map_mb < 16 || map_mb > (1L << 24) ||
        threads < 1 || threads > 256 || gid < -1) {
        lh_error ("bad configuration",
                  "mount=\"%s\" dir=\"%s\" (both required) poll_ms=%ld (10..600000) map_mb=%ld "
                  "(16..16777216) threads=%ld (1..256) gid=%ld",
                  mount ? mount : "", dir ? dir : "", poll, map_mb, threads, gid);
        zconfig_destroy (&config);
        return 2;
    }
    zcert_t *cert = NULL;
    if (lh_node_cert (config, "log", &cert) != 0) {
        zconfig_destroy (&config);
        return 1;
    }
    lh_connect_t conn = {.endpoint = lh_config_str (config, "log/broker", NULL),
                         .server_key = lh_config_str (config, "log/broker_key", NULL),
                         .cert = cert};
    char err[512];
    int rc = 1;
    logmodel_t *model = logmodel_new (dir, (size_t) map_mb, err, sizeof (err));
    logview_t *view = model ? logview_new (model, &conn, err, sizeof (err)) : NULL;
    logview_options_t options;
    logview_options_default (&options);
    options.max_threads = (unsigned) threads;
    if (gid >= 0)
        options.gid = (gid_t) gid;
    lh_metrics_t *metrics = NULL;
    pthread_t publisher;
    s_log_publisher_t pub = {model, view, NULL, false};
    bool publishing = false;
    if (!view)
        lh_error ("cannot start", "dir=\"%s\" error=\"%s\"", dir, err);
    else if (logview_mount (view, mount, &options, err, sizeof (err)) != 0)
        lh_error ("cannot mount", "mount=\"%s\" error=\"%s\"", mount, err);
    else if (logmodel_follow (model, &conn, (int) poll, logview_changed, view) != 0)
        lh_error ("cannot follow the log", "broker=%s", conn.endpoint);
    else if (lh_node_metrics (config, "log", &metrics) == 0) {
        s_logview = view;
        struct sigaction sa;
        memset (&sa, 0, sizeof (sa));
        sa.sa_handler = s_on_log_signal;
        sigaction (SIGTERM, &sa, NULL);
        sigaction (SIGINT, &sa, NULL);
        sigaction (SIGHUP, &sa, NULL);
        if (metrics) {
            pub.metrics = metrics;
            publishing = pthread_create (&publisher, NULL, s_log_publish, &pub) == 0;
        }
        lh_info ("serving", "mount=\"%s\" dir=\"%s\" broker=%s poll_ms=%ld", mount, dir,
                 conn.endpoint, poll);
        rc = logview_run (view) == 0 ? 0 : 1;
        s_logview = NULL;
    }
    if (publishing) {
        pub.done = true;
        pthread_join (publisher, NULL);
    }
    if (model) {
        logmodel_stop (model);
        logmodel_counters_t m;
        logmodel_counters (model, &m);
        lh_info ("stopping",
                 "size=%llu resumed_from=%llu fetched=%llu fetch_errors=%llu "
                 "paths_refused=%llu",
                 (unsigned long long) m.size, (unsigned long long) m.resumed_from,
                 (unsigned long long) m.fetched, (unsigned long long) m.fetch_errors,
                 (unsigned long long) m.paths_refused);
    }
    logview_destroy (&view);
    logmodel_destroy (&model);
    lh_metrics_destroy (&metrics);
    zcert_destroy (&cert);
    zconfig_destroy (&config);
    return rc;
}

int
main (int argc, char **argv)
{
    if (argc >= 2 && streq (argv[1], "workspace"))
        return s_workspace_main (argc - 1, argv + 1);
    if (argc >= 2 && streq (argv[1], "log"))
        return s_log_main (argc - 1, argv + 1);
    bool help = argc >= 2 && (streq (argv[1], "--help") || streq (argv[1], "-h"));
    fprintf (help ? stdout : stderr,
             "Usage: lh-fuse workspace --source DIR --mount MNT [options]   (lh-fuse workspace "
             "--help)\n"
             "       lh-fuse log --mount MNT --dir DIR [options]   (lh-fuse log --help)\n"
             "Lighthouse's file-system node: a guarded workspace, and the log as files "
             "(fuse-node/README.md).\n");
    return help ? 0 : 2;
}
