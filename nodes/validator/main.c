/*  lh-validator -- worker of the "validate" service.

    Serves decisions from a policy file, caches them, publishes them on the
    broker's PUB socket in batches as "validate.decisions" {count, decisions:
    [notice, ...]} (one message per NOTICE_BATCH decisions or NOTICE_DELAY_MS,
    whichever comes first: a message per decision cost more than the
    decision itself), and reloads the policy
    on SIGHUP or on a "control.validate" {op: "reload"} announcement
    (lh policy reload) without dropping requests: a reload happens between
    two requests, and a policy that fails to load leaves the old one serving.

    With --frontend, every decision is also appended to the integrity log
    ("events") through a spool (spool.h), once its reply has gone: the log
    being slow or down never delays an answer. On SIGTERM the spool gets
    SHUTDOWN_FLUSH_MS to drain.
*/
#include "codec.h"
#include "lh_config.h"
#include "lh_log.h"
#include "lh_worker.h"
#include "spool.h"
#include "validator.h"

#include <signal.h>

static const lh_option_t s_options[] = {
    {"broker", "validator/broker", "tcp://127.0.0.1:5556", "broker backend endpoint", false},
    {"pub", "validator/pub", NULL, "broker PUB endpoint, for reload announcements", false},
    {"frontend", "validator/frontend", NULL,
     "broker frontend endpoint: decisions also go to the integrity log (events)", false},
    {"spool-max", "validator/spool_max", "100000",
     "decisions held for the integrity log; more are dropped and counted", false},
    {"broker-key", "validator/broker_key", NULL, "broker public key (Z85); omit for plaintext",
     false},
    {"cert", "validator/cert", NULL, "this node's secret certificate", false},
    {"policy", "validator/policy", NULL, "policy file (see nodes/validator/POLICY.md)", false},
    {"cache-size", "validator/cache_size", "100000", "decisions kept in the L1 cache", false},
    {"home", "validator/home", "/root", "home directory when a request names none", false},
    {"capacity", "validator/capacity", "64", "requests held at once", false},
    {"log-level", "validator/log_level", "info", "debug, info, warn or error", false},
    {NULL, NULL, NULL, NULL, false},
};

#define NOTICE_BATCH      64
#define NOTICE_DELAY_MS   10
#define SHUTDOWN_FLUSH_MS 2000

static volatile sig_atomic_t s_hup;

//  Decision notices waiting to be published, packed back to back
typedef struct {
    codec_buf_t items;
    size_t count;
    int64_t due;
} batch_t;

static void
s_batch_flush (batch_t *batch, lh_worker_t *worker)
{
    if (batch->count == 0)
        return;
    codec_buf_t body;
    codec_buf_init (&body);
    msgpack_pack_map (&body.pk, 2);
    codec_pack_str (&body.pk, "count");
    msgpack_pack_uint64 (&body.pk, batch->count);
    codec_pack_str (&body.pk, "decisions");
    msgpack_pack_array (&body.pk, batch->count);
    msgpack_sbuffer_write (&body.sbuf, batch->items.sbuf.data, batch->items.sbuf.size);
    lh_worker_publish (worker, "validate.decisions", body.sbuf.data, body.sbuf.size);
    codec_buf_destroy (&body);
    msgpack_sbuffer_clear (&batch->items.sbuf);
    batch->count = 0;
}

//  The spool for the integrity log, or NULL without --frontend.
static spool_t *
s_spool (zconfig_t *config, zcert_t *cert, validator_t *validator)
{
    lh_connect_t conn = {.endpoint = lh_config_str (config, "validator/frontend", NULL),
                         .server_key = lh_config_str (config, "validator/broker_key", NULL),
                         .cert = cert};
    if (!conn.endpoint)
        return NULL;
    spool_t *spool =
        spool_new (&conn, (size_t) lh_config_int (config, "validator/spool_max", 100000));
    if (!spool)
        return NULL;
    const spool_counters_t *n = spool_counters (spool);
    validator_add_counter (validator, "spool_queued", &n->queued);
    validator_add_counter (validator, "spool_sent", &n->sent);
    validator_add_counter (validator, "spool_acked", &n->acked);
    validator_add_counter (validator, "spool_duplicates", &n->duplicates);
    validator_add_counter (validator, "spool_retries", &n->retries);
    validator_add_counter (validator, "spool_dropped", &n->dropped);
    validator_add_counter (validator, "spool_rejected", &n->rejected);
    return spool;
}

//  Last chance for the spool, after the worker has left the broker.
static void
s_spool_flush (spool_t *spool)
{
    if (!spool)
        return;
    //  czmq's handler set this on SIGTERM and lh_client gives up while it is
    //  set; cleared, a second signal still cuts the flush short
    zsys_interrupted = 0;
    size_t left = spool_flush (spool, SHUTDOWN_FLUSH_MS);
    const spool_counters_t *n = spool_counters (spool);
    if (left)
        lh_warn ("decisions left out of the integrity log", "unsent=%zu dropped=%llu rejected=%llu",
                 left, (unsigned long long) n->dropped, (unsigned long long) n->rejected);
    else
        lh_info ("integrity log spool flushed", "acked=%llu dropped=%llu rejected=%llu",
                 (unsigned long long) n->acked, (unsigned long long) n->dropped,
                 (unsigned long long) n->rejected);
}

static void
s_on_hup (int signum)
{
    (void) signum;
    s_hup = 1;
}

static void
s_reload (validator_t *validator, const char *why)
{
    char err[512];
    if (validator_reload (validator, err, sizeof (err)) == 0)
        lh_info ("policy reloaded", "trigger=%s version=%s", why,
                 validator_policy_version (validator));
    else
        lh_error ("policy reload failed, keeping the current policy", "trigger=%s error=\"%s\"",
                  why, err);
}

//  A SUB socket for "control.validate" announcements, or NULL without --pub.
static zsock_t *
s_control (zconfig_t *config, zcert_t *cert)
{
    const char *endpoint = lh_config_str (config, "validator/pub", NULL);
    if (!endpoint)
        return NULL;
    zsock_t *sub = zsock_new (ZMQ_SUB);
    const char *key = lh_config_str (config, "validator/broker_key", NULL);
    if (key && cert) {
        zcert_apply (cert, sub);
        zsock_set_curve_serverkey (sub, key);
    }
    zsock_set_subscribe (sub, "control.validate");
    zsock_connect (sub, "%s", endpoint);
    return sub;
}

static void
s_control_check (zsock_t *sub, validator_t *validator)
{
    while (sub && (zsock_events (sub) & ZMQ_POLLIN)) {
        zmsg_t *msg = zmsg_recv (sub);
        zframe_t *topic = zmsg_first (msg);
        zframe_t *body = zmsg_next (msg);
        codec_doc_t *doc =
            body ? codec_doc_decode (zframe_data (body), zframe_size (body), NULL, NULL) : NULL;
        if (doc && zframe_streq (topic, "control.validate") &&
            codec_str_eq (codec_map_get (codec_doc_root (doc), "op"), "reload"))
            s_reload (validator, "announcement");
        codec_doc_destroy (&doc);
        zmsg_destroy (&msg);
    }
}

int
main (int argc, char **argv)
{
    int exit_code = 0;
    zconfig_t *config = lh_config_load ("lh-validator",
                                        "Lighthouse validator: answers allow / deny / escalate "
                                        "for the \"validate\" service.",
                                        s_options, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    lh_log_init ("validator",
                 lh_log_level_parse (lh_config_str (config, "validator/log_level", "info")));
    zsys_init ();
    zsys_set_logsystem (false);
    struct sigaction action = {.sa_handler = s_on_hup};
    sigemptyset (&action.sa_mask);
    sigaction (SIGHUP, &action, NULL);

    int rc = 1;
    zcert_t *cert = NULL;
    lh_worker_t *worker = NULL;
    validator_t *validator = NULL;
    zsock_t *control = NULL;
    spool_t *spool = NULL;
    const char *policy_path = lh_config_str (config, "validator/policy", NULL);
    const char *cert_path = lh_config_str (config, "validator/cert", NULL);
    char err[512];
    if (!policy_path) {
        lh_error ("no policy file: --policy FILE", "%s", "");
        goto done;
    }
    if (cert_path && !(cert = zcert_load (cert_path))) {
        lh_error ("cannot load certificate", "path=%s", cert_path);
        goto done;
    }
    validator =
        validator_new (policy_path, (size_t) lh_config_int (config, "validator/cache_size", 100000),
                       lh_config_str (config, "validator/home", "/root"), err, sizeof (err));
    if (!validator) {
        lh_error ("cannot load policy", "path=%s error=\"%s\"", policy_path, err);
        goto done;
    }
    const char *frontend = lh_config_str (config, "validator/frontend", NULL);
    if (lh_config_int (config, "validator/spool_max", 100000) < 1) {
        lh_error ("--spool-max must be at least 1", "%s", "");
        goto done;
    }
    spool = s_spool (config, cert, validator);
    if (frontend && !spool) {
        lh_error ("cannot start the integrity log client", "frontend=%s", frontend);
        goto done;
    }
    lh_connect_t conn = {.endpoint = lh_config_str (config, "validator/broker", NULL),
                         .server_key = lh_config_str (config, "validator/broker_key", NULL),
                         .cert = cert};
    worker =
        lh_worker_new (&conn, "validate", (int) lh_config_int (config, "validator/capacity", 64));
    if (!worker) {
        lh_error ("cannot start worker", "broker=%s", conn.endpoint);
        goto done;
    }
    control = s_control (config, cert);
    lh_info ("serving", "service=validate broker=%s policy=%s version=%s events=%s", conn.endpoint,
             policy_path, validator_policy_version (validator), frontend ? frontend : "off");

    batch_t batch = {.count = 0};
    codec_buf_init (&batch.items);
    while (!zsys_interrupted) {
        //  Short waits: reloads are checked between requests, never during one
        int64_t now = zclock_mono ();
        int wait = batch.count ? (batch.due > now ? (int) (batch.due - now) : 0) : 100;
        int spool_wait = spool ? spool_next_ms (spool) : -1;
        if (spool_wait >= 0 && spool_wait < wait)
            wait = spool_wait;
        lh_request_t *request = lh_worker_recv (worker, wait);
        if (s_hup) {
            s_hup = 0;
            s_reload (validator, "SIGHUP");
        }
        s_control_check (control, validator);
        if (request) {
            codec_buf_t reply;
            codec_buf_init (&reply);
            char agent[LH_MAX_AGENT + 1];
            snprintf (agent, sizeof (agent), "%s", lh_request_agent (request));
            //  The notice is packed straight after the ones already waiting
            size_t mark = batch.items.sbuf.size;
            bool decided =
                validator_handle (validator, lh_request_body (request), lh_request_agent (request),
                                  lh_request_role (request), &reply, &batch.items);
            if (decided && batch.count++ == 0)
                batch.due = zclock_mono () + NOTICE_DELAY_MS;
            lh_worker_reply (worker, &request, reply.sbuf.data, reply.sbuf.size);
            codec_buf_destroy (&reply);
            //  Only once the agent has its answer
            if (decided && spool)
                spool_add (spool, agent, batch.items.sbuf.data + mark,
                           batch.items.sbuf.size - mark);
        }
        if (batch.count >= NOTICE_BATCH || (batch.count && zclock_mono () >= batch.due))
            s_batch_flush (&batch, worker);
        if (spool)
            spool_poll (spool);
    }
    s_batch_flush (&batch, worker);
    codec_buf_destroy (&batch.items);
    //  Leave the broker first, so no request waits on the flush
    lh_worker_destroy (&worker);
    s_spool_flush (spool);
    rc = 0;
    lh_info ("stopping", "%s", "");
done:
    spool_destroy (&spool);
    zsock_destroy (&control);
    lh_worker_destroy (&worker);
    validator_destroy (&validator);
    zcert_destroy (&cert);
    zconfig_destroy (&config);
    return rc;
}
