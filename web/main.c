/*  lh-web -- the console: live decisions, the review queue, the log with
    proofs the page checks itself, and the cluster, over HTTP on loopback
    (docs/CONSOLE.md). A client of the brokers with its own (admin) key for
    reads; reviewers' verdicts go out under each reviewer's own key. */
#include "lh_log.h"
#include "lh_metrics.h"
#include "lh_node.h"
#include "web.h"

#include <sys/stat.h>

static const lh_option_t s_options[] = {
    {"listen", "web/listen", "127.0.0.1:8080",
     "IPV4:PORT to serve on; keep it on loopback and put a TLS proxy in front for remote use",
     false},
    {"broker", "web/broker", "tcp://127.0.0.1:5555",
     "broker frontend endpoint(s), comma-separated: one per broker", false},
    {"pub", "web/pub", "tcp://127.0.0.1:5557",
     "broker PUB endpoint(s), comma-separated: decisions, queue changes, replicas", false},
    {"broker-key", "web/broker_key", NULL, "broker public key (Z85); omit for plaintext", false},
    {"cert", "web/cert", NULL, "lh-web's own secret certificate (role admin: it reads everything)",
     false},
    {"tokens", "web/tokens", NULL,
     "reviewer tokens file (lh review token); read again when it changes", false},
    {"static", "web/static", NULL, "directory of the pages [the installed or source web/static]",
     false},
    {"keys", "web/keys", NULL, "the replicas' verifier keys file, for the page's proof check",
     false},
    {"drills", "web/drills", NULL, "directory of drill reports shown on the cluster page", false},
    {"allow-host", "web/allow_hosts", NULL,
     "more Host header values to answer, comma-separated (the name a TLS proxy forwards)", false},
    {"secure-cookie", "web/secure_cookie", NULL, "mark the session cookie Secure (behind TLS)",
     true},
    {"idle", "web/idle", "1800", "seconds without a request before a session ends", false},
    {"max-age", "web/max_age", "43200", "seconds after which a session ends anyway", false},
    {"max-sessions", "web/max_sessions", "64", "sessions at once", false},
    {"max-connections", "web/max_connections", "128", "HTTP connections at once", false},
    {"stream-rate", "web/stream_rate", "200",
     "decisions a second sent to one live page (the rest are counted, not sent)", false},
    {"timeout", "web/timeout", "2000", "ms before a broker request is sent again, once", false},
    {"watch", "web/watch", "120",
     "seconds decisions are followed after a page last asked (none open: not followed)", false},
    {"metrics", "web/metrics", NULL,
     "serve Prometheus metrics on IPV4:PORT (GET /metrics); off when not given", false},
    {"log-level", "web/log_level", "info", "debug, info, warn or error", false},
    {NULL, NULL, NULL, NULL, false},
};

static bool
s_is_dir (const char *path)
{
    struct stat st;
    return path && stat (path, &st) == 0 && S_ISDIR (st.st_mode);
}

int
main (int argc, char **argv)
{
    static const lh_node_t node = {"lh-web",
                                   "Lighthouse console: watch the fleet and answer escalations "
                                   "from a browser.",
                                   s_options, "web"};
    int exit_code;
    zconfig_t *config = lh_node_start (&node, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    zcert_t *cert = NULL;
    lh_metrics_t *metrics = NULL;
    if (lh_node_cert (config, "web", &cert) != 0 ||
        lh_node_metrics (config, "web", &metrics) != 0) {
        zcert_destroy (&cert);
        zconfig_destroy (&config);
        return 1;
    }
    const char *tokens = lh_config_str (config, "web/tokens", NULL);
    const char *static_dir = lh_config_str (config, "web/static", NULL);
    if (!static_dir)
        static_dir =
            s_is_dir (LH_WEB_STATIC_INSTALLED) ? LH_WEB_STATIC_INSTALLED : LH_WEB_STATIC_SOURCE;
    if (!tokens || !s_is_dir (static_dir)) {
        lh_error ("cannot start", "reason=\"%s\"",
                  !tokens ? "--tokens is required (lh review token makes the file)"
                          : "the pages' directory (--static) is missing");
        zcert_destroy (&cert);
        lh_metrics_destroy (&metrics);
        zconfig_destroy (&config);
        return 1;
    }
    web_config_t wc = {
        .listen = lh_config_str (config, "web/listen", "127.0.0.1:8080"),
        .static_dir = static_dir,
        .drills_dir = lh_config_str (config, "web/drills", NULL),
        .keys_path = lh_config_str (config, "web/keys", NULL),
        .tokens_path = tokens,
        .allow_hosts = lh_config_str (config, "web/allow_hosts", NULL),
        .pub = lh_config_str (config, "web/pub", NULL),
        .conn = {.endpoint = lh_config_str (config, "web/broker", "tcp://127.0.0.1:5555"),
                 .server_key = lh_config_str (config, "web/broker_key", NULL),
                 .cert = cert},
        .secure_cookie = lh_config_bool (config, "web/secure_cookie", false),
        .idle_ms = (int) lh_config_int (config, "web/idle", 1800) * 1000,
        .max_age_ms = (int) lh_config_int (config, "web/max_age", 43200) * 1000,
        .max_sessions = (int) lh_config_int (config, "web/max_sessions", 64),
        .stream_rate = (int) lh_config_int (config, "web/stream_rate", 200),
        .max_connections = (int) lh_config_int (config, "web/max_connections", 128),
        .call_timeout_ms = (int) lh_config_int (config, "web/timeout", 2000),
        .watch_ms = (int) lh_config_int (config, "web/watch", 120) * 1000,
    };
    char err[512];
    web_t *web = web_new (&wc, err, sizeof (err));
    if (!web) {
        lh_error ("cannot start", "reason=\"%s\"", err);
        zcert_destroy (&cert);
        lh_metrics_destroy (&metrics);
        zconfig_destroy (&config);
        return 1;
    }
    web_set_metrics (web, metrics);
    lh_info ("serving", "url=http://%s/ port=%d broker=%s static=%s", wc.listen, web_port (web),
             wc.conn.endpoint, static_dir);
    int rc = web_run (web);
    web_destroy (&web);
    lh_metrics_destroy (&metrics);
    zcert_destroy (&cert);
    zconfig_destroy (&config);
    return rc;
}
