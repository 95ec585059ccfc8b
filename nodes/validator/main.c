/*  lh-validator -- worker of the "validate" service.

    Serves decisions from a policy file, caches them, publishes them on the
    broker's PUB socket in batches as "validate.decisions" {count, decisions:
    [notice, ...]} (one message per NOTICE_BATCH decisions or NOTICE_DELAY_MS,
    whichever comes first: a message per decision cost more than the
    decision itself), and reloads the policy
    on SIGHUP or on a "control.validate" {op: "reload"} announcement
    (lh policy reload) without dropping requests: a reload happens between
    two requests, and a policy that fails to load leaves the old one serving.
*/
#include "codec.h"
#include "lh_config.h"
#include "lh_log.h"
#include "lh_worker.h"
#include "validator.h"

#include <signal.h>

static const lh_option_t s_options[] = {
    {"broker", "validator/broker", "tcp://127.0.0.1:5556", "broker backend endpoint", false},
    {"pub", "validator/pub", NULL, "broker PUB endpoint, for reload announcements", false},
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

#define NOTICE_BATCH    64
#define NOTICE_DELAY_MS 10

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
    lh_info ("serving", "service=validate broker=%s policy=%s version=%s", conn.endpoint,
             policy_path, validator_policy_version (validator));

    batch_t batch = {.count = 0};
    codec_buf_init (&batch.items);
    while (!zsys_interrupted) {
        //  Short waits: reloads are checked between requests, never during one
        int64_t now = zclock_mono ();
        int wait = batch.count ? (batch.due > now ? (int) (batch.due - now) : 0) : 100;
        lh_request_t *request = lh_worker_recv (worker, wait);
        if (s_hup) {
            s_hup = 0;
            s_reload (validator, "SIGHUP");
        }
        s_control_check (control, validator);
        if (request) {
            codec_buf_t reply;
            codec_buf_init (&reply);
            //  The notice is packed straight after the ones already waiting
            if (validator_handle (validator, lh_request_body (request), lh_request_agent (request),
                                  lh_request_role (request), &reply, &batch.items) &&
                batch.count++ == 0)
                batch.due = zclock_mono () + NOTICE_DELAY_MS;
            lh_worker_reply (worker, &request, reply.sbuf.data, reply.sbuf.size);
            codec_buf_destroy (&reply);
        }
        if (batch.count >= NOTICE_BATCH || (batch.count && zclock_mono () >= batch.due))
            s_batch_flush (&batch, worker);
    }
    s_batch_flush (&batch, worker);
    codec_buf_destroy (&batch.items);
    rc = 0;
    lh_info ("stopping", "%s", "");
done:
    zsock_destroy (&control);
    lh_worker_destroy (&worker);
    validator_destroy (&validator);
    zcert_destroy (&cert);
    zconfig_destroy (&config);
    return rc;
}
