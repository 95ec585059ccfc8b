/*  lh-echo -- the trivial node: serves "echo" by returning the request body
    and the caller the broker authenticated. Used by ops/run as a smoke test
    of the whole path, by the tests, and as the worker in bench/.

    A request may carry "sleep_ms" (0..60000) to hold it, which lets tests
    kill a worker while it holds a request.
*/
#include "codec.h"
#include "lh_node.h"
#include "lh_log.h"
#include "lh_worker.h"

static const lh_option_t s_options[] = {
    {"broker", "echo/broker", "tcp://127.0.0.1:5556",
     "broker backend endpoint(s), comma-separated: one per broker", false},
    {"broker-key", "echo/broker_key", NULL, "broker public key (Z85); omit for plaintext", false},
    {"cert", "echo/cert", NULL, "this node's secret certificate", false},
    {"service", "echo/service", "echo", "service name to serve", false},
    {"capacity", "echo/capacity", "64", "requests held at once", false},
    {"heartbeat", "echo/heartbeat", "2500", "MDP heartbeat interval, ms", false},
    {"log-level", "echo/log_level", "info", "debug, info, warn or error", false},
    {NULL, NULL, NULL, NULL, false},
};

typedef struct {
    lh_request_t *request;
    int64_t due;
} held_t;

static void
s_held_destroy (void **item)
{
    held_t *h = (held_t *) *item;
    if (h) {
        lh_request_destroy (&h->request);
        free (h);
        *item = NULL;
    }
}

static void
s_answer (lh_worker_t *worker, lh_request_t **request_p)
{
    lh_request_t *request = *request_p;
    const msgpack_object *body = lh_request_body (request);
    codec_buf_t buf;
    codec_buf_init (&buf);
    codec_pack_ok_head (&buf.pk, lh_request_id (request), 2);
    codec_pack_str (&buf.pk, "echo");
    msgpack_pack_object (&buf.pk, *body);
    codec_pack_str (&buf.pk, "caller");
    msgpack_pack_map (&buf.pk, 3);
    codec_pack_kv_str (&buf.pk, "agent", lh_request_agent (request));
    codec_pack_kv_str (&buf.pk, "role", lh_request_role (request));
    codec_pack_kv_str (&buf.pk, "key", lh_request_key (request));
    lh_worker_reply (worker, request_p, buf.sbuf.data, buf.sbuf.size);
    codec_buf_destroy (&buf);
}

int
main (int argc, char **argv)
{
    static const lh_node_t node = {"lh-echo", "Lighthouse echo node.", s_options, "echo"};
    int exit_code;
    zconfig_t *config = lh_node_start (&node, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    zcert_t *cert = NULL;
    if (lh_node_cert (config, "echo", &cert) != 0) {
        zconfig_destroy (&config);
        return 1;
    }
    lh_connect_t conn = {.endpoint = lh_config_str (config, "echo/broker", NULL),
                         .server_key = lh_config_str (config, "echo/broker_key", NULL),
                         .cert = cert};
    const char *service = lh_config_str (config, "echo/service", "echo");
    lh_worker_t *worker =
        lh_worker_new (&conn, service, (int) lh_config_int (config, "echo/capacity", 64));
    if (!worker) {
        lh_error ("cannot start worker", "broker=%s", conn.endpoint);
        zcert_destroy (&cert);
        zconfig_destroy (&config);
        return 1;
    }
    lh_worker_set_heartbeat (worker, (int) lh_config_int (config, "echo/heartbeat", 2500), 3);
    lh_info ("serving", "service=%s broker=%s", service, conn.endpoint);

    zlistx_t *held = zlistx_new (); //  held_t, requests asked to wait
    zlistx_set_destructor (held, s_held_destroy);
    uint64_t served = 0;
    while (!zsys_interrupted) {
        int64_t now = zclock_mono ();
        int wait = 1000;
        for (held_t *h = (held_t *) zlistx_first (held); h; h = (held_t *) zlistx_next (held)) {
            if (h->due <= now) {
                s_answer (worker, &h->request);
                served++;
                zlistx_delete (held, zlistx_cursor (held));
            } else if (h->due - now < wait)
                wait = (int) (h->due - now);
        }
        lh_request_t *request = lh_worker_recv (worker, wait);
        if (!request)
            continue;
        int64_t sleep_ms = 0;
        char why[128];
        if (codec_get_int (lh_request_body (request), "sleep_ms", false, 0, 60000, &sleep_ms, why,
                           sizeof (why)) != LH_OK) {
            lh_worker_reply_error (worker, &request, LH_E_BAD_REQUEST, why);
            continue;
        }
        if (sleep_ms > 0) {
            held_t *h = (held_t *) zmalloc (sizeof (held_t));
            h->request = request;
            h->due = zclock_mono () + sleep_ms;
            zlistx_add_end (held, h);
            continue;
        }
        s_answer (worker, &request);
        served++;
    }
    zlistx_destroy (&held);
    lh_info ("stopping", "served=%llu", (unsigned long long) served);
    lh_worker_destroy (&worker);
    zcert_destroy (&cert);
    zconfig_destroy (&config);
    return 0;
}
