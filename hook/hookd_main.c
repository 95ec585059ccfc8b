/*  lh-hookd -- keeps the agent's broker connection warm for lh-hook, which
    asks through it over a Unix socket (hookd.h; docs/HOOK.md). */
#include "hook.h"
#include "hookd.h"
#include "jsonpack.h"
#include "lh_log.h"
#include "lh_metrics.h"
#include "lh_node.h"

#include <errno.h>
#include <pwd.h>

static const lh_option_t s_options[] = {
    {"socket", "hookd/socket", NULL,
     "Unix socket to serve [LH_HOOKD_SOCKET, else $XDG_RUNTIME_DIR/lighthouse/hookd.sock, else "
     "/tmp/lighthouse-UID/hookd.sock]",
     false},
    {"broker", "hookd/broker", "tcp://127.0.0.1:5555",
     "broker frontend endpoint(s), comma-separated: one per broker", false},
    {"broker-key", "hookd/broker_key", NULL, "broker public key (Z85); omit for plaintext", false},
    {"cert", "hookd/cert", NULL, "the agent's secret certificate (role agent)", false},
    {"max-clients", "hookd/max_clients", "256", "hook calls held at once", false},
    {"allow-uid", "hookd/allow_uids", NULL,
     "more users to serve (names or uids, comma-separated) when lh-hookd runs as a user of its "
     "own: the socket is then 0666 in a 0711 directory, and each peer's uid is checked",
     false},
    {"metrics", "hookd/metrics", NULL,
     "serve Prometheus metrics on IPV4:PORT (GET /metrics); off when not given", false},
    {"log-level", "hookd/log_level", "info", "debug, info, warn or error", false},
    {NULL, NULL, NULL, NULL, false},
};

//  "alice,1001" into uids; -1 after logging the first that is no user
static int
s_allow_uids (const char *list, uid_t *uids, size_t max, size_t *count)
{
    *count = 0;
    char copy[1024];
    snprintf (copy, sizeof (copy), "%s", list ? list : "");
    for (char *save = NULL, *word = strtok_r (copy, ", ", &save); word;
         word = strtok_r (NULL, ", ", &save)) {
        char *end;
        errno = 0;
        unsigned long number = strtoul (word, &end, 10);
        struct passwd *user = *end ? getpwnam (word) : NULL;
        if ((*end && !user) || (!*end && (errno || number > 0x7fffffffUL)) || *count == max) {
            lh_error ("cannot start", "reason=\"%s\" user=%s",
                      *count == max ? "too many users in --allow-uid" : "no such user", word);
            return -1;
        }
        uids[(*count)++] = user ? user->pw_uid : (uid_t) number;
    }
    return 0;
}

static void
s_tick (hookd_t *hookd, void *arg)
{
    lh_metrics_t *metrics = (lh_metrics_t *) arg;
    codec_buf_t buf;
    codec_buf_init (&buf);
    hookd_counters (hookd, &buf);
    static const char *const gauges[] = {"open", "brokers_up", NULL};
    lh_metrics_publish_map (metrics, "lighthouse_hookd", buf.sbuf.data, buf.sbuf.size, gauges);
    codec_buf_destroy (&buf);
}

int
main (int argc, char **argv)
{
    static const lh_node_t node = {
        "lh-hookd", "Lighthouse hook helper: a warm broker connection that lh-hook asks through.",
        s_options, "hookd"};
    int exit_code;
    zconfig_t *config = lh_node_start (&node, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    zcert_t *cert = NULL;
    lh_metrics_t *metrics = NULL;
    char path[108];
    const char *socket_path = lh_config_str (config, "hookd/socket", NULL);
    if (!socket_path && hook_socket_path (path, sizeof (path)) == 0)
        socket_path = path;
    lh_connect_t conn = {.endpoint = lh_config_str (config, "hookd/broker", "tcp://127.0.0.1:5555"),
                         .server_key = lh_config_str (config, "hookd/broker_key", NULL)};
    lh_client_t *client = NULL;
    hookd_t *hookd = NULL;
    if (lh_node_cert (config, "hookd", &cert) == 0 &&
        lh_node_metrics (config, "hookd", &metrics) == 0) {
        conn.cert = cert;
        client = lh_client_new (&conn);
        if (!client)
            lh_error ("cannot start", "reason=\"%s\"", "bad broker endpoint or key");
    }
    uid_t allow[16];
    size_t allow_count = 0;
    if (client &&
        s_allow_uids (lh_config_str (config, "hookd/allow_uids", NULL), allow, 16, &allow_count))
        lh_client_destroy (&client);
    if (client) {
        //  Each call has its own deadline here; a resend could escalate it twice
        lh_client_set_timeout (client, HOOK_TIMEOUT_MAX + HOOK_WAIT_MAX);
        lh_client_set_retries (client, 0);
        hookd_config_t hc = {.socket_path = socket_path,
                             .max_clients = (int) lh_config_int (config, "hookd/max_clients", 256),
                             .allow_uids = allow,
                             .allow_count = allow_count};
        hookd = hookd_new (&hc, client);
    }
    int rc = 1;
    if (hookd) {
        if (metrics)
            hookd_set_tick (hookd, s_tick, metrics);
        lh_info ("serving", "socket=%s broker=%s", socket_path, conn.endpoint);
        rc = hookd_run (hookd);
        codec_buf_t buf;
        codec_buf_init (&buf);
        hookd_counters (hookd, &buf);
        codec_doc_t *doc = codec_doc_decode (buf.sbuf.data, buf.sbuf.size, NULL, NULL);
        char *counters = doc ? jsonpack_to_json (codec_doc_root (doc), false) : NULL;
        char quoted[1024];
        lh_info ("stopped", "counters=%s",
                 lh_log_quote (counters ? counters : "{}", counters ? strlen (counters) : 2, quoted,
                               sizeof (quoted)));
        free (counters);
        codec_doc_destroy (&doc);
        codec_buf_destroy (&buf);
        hookd_destroy (&hookd);
    }
    lh_client_destroy (&client);
    lh_metrics_destroy (&metrics);
    zcert_destroy (&cert);
    zconfig_destroy (&config);
    return rc;
}
