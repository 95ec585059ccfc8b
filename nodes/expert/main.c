/*  lh-expert -- the worker of "expert": escalations from validators, held
    in a durable queue (expert_store) until experts decide or they expire.
    See docs/EXPERT.md.

    A submit with wait_ms is held (the worker's capacity bounds how many)
    and answered when the escalation is decided or its wait ends; the
    escalation itself lives on until its ttl, so a person can still decide
    and the verdict reaches the agent's retry. Who decides is the caller
    the broker authenticated, never a name in the body.

    With --frontend, lh-expert is also a client of the broker: it offers
    pending escalations to automated experts (offers.h), writes each
    verdict to the shared verdict cache (cache.put, answering the decide
    only when the cache has it, so that the expert learns the verdict's id)
    and forwards revocations (cache.revoke); and it appends every step of
    an escalation to the integrity log through a durable spool
    (escalation.requested, escalation.assigned, expert.verdict,
    escalation.expired, verdict.revoked; each with the escalation id or the
    verdict id as its causation).
*/
#include "expert.h"

#include "lh_idhash.h"
#include "lh_log.h"
#include "lh_metrics.h"
#include "lh_node.h"

#include <limits.h>

#define SWEEP_MS        1000
#define CALL_TIMEOUT_MS 5000 //  cache.put, cache.revoke, offers
#define TICK_MS         10   //  longest poll while calls are in flight (ZMQ_FD is edge-triggered)

static const lh_option_t s_options[] = {
    {"broker", "expert/broker", "tcp://127.0.0.1:5556",
     "broker backend endpoint(s), comma-separated: one per broker", false},
    {"broker-key", "expert/broker_key", NULL, "broker public key (Z85); omit for plaintext", false},
    {"cert", "expert/cert", NULL, "this node's secret certificate", false},
    {"dir", "expert/dir", NULL, "data directory (expert.mdb)", false},
    {"queue-max", "expert/queue_max", "10000", "escalations waiting at most", false},
    {"agent-max", "expert/agent_max", "100",
     "escalations waiting at most for one agent (one agent cannot fill the queue)", false},
    {"map-size-mb", "expert/map_size_mb", "1024", "largest the store may grow (LMDB map)", false},
    {"capacity", "expert/capacity", "1024", "requests held at once (held submits count)", false},
    {"heartbeat", "expert/heartbeat", "2500",
     "MDP heartbeat interval, ms (the broker's broker/heartbeat)", false},
    {"allow-self", "expert/allow_self", NULL,
     "an expert may decide its own agent's request (single-person setups)", true},
    {"frontend", "expert/frontend", NULL,
     "broker frontend endpoint: offers to automated experts, verdicts to the shared cache, "
     "events to the integrity log",
     false},
    {"spool-dir", "expert/spool_dir", NULL, "durable spool of events for the log [DIR/spool]",
     false},
    {"spool-max", "expert/spool_max", "100000",
     "events held for the log while it is away (about three per escalation); beyond, steps "
     "are not logged and each loss is an error line",
     false},
    {"review-ms", "expert/review_ms", "60000",
     "how long an automated expert that accepted a review has to give its verdict before the "
     "escalation is offered again",
     false},
    {"verdict-ttl", "expert/verdict_ttl", "3600",
     "seconds a verdict is remembered when the expert names no --ttl", false},
    {"max-ttl", "expert/max_ttl", "2592000", "the longest --ttl an expert may give, seconds",
     false},
    {"metrics", "expert/metrics", NULL,
     "serve Prometheus metrics on IPV4:PORT (GET /metrics); off when not given", false},
    {"log-level", "expert/log_level", "info", "debug, info, warn or error", false},
    {NULL, NULL, NULL, NULL, false},
};

//  Held submits whose wait ended: answered with the escalation as it stands
static void
s_held_timeouts (expert_t *self, int64_t now)
{
    held_t *h = (held_t *) zlistx_first (self->held);
    while (h) {
        void *handle = zlistx_cursor (self->held); //  h's, before the cursor moves on
        held_t *next = (held_t *) zlistx_next (self->held);
        if (now >= h->until_ms) {
            expert_esc_t esc;
            codec_buf_t buf;
            codec_buf_init (&buf);
            if (expert_store_get (self->store, h->id, &esc, NULL, NULL) == LH_OK)
                expert_pack_submit_reply (&buf, lh_request_id (h->request), &esc);
            else
                codec_pack_error (&buf.pk, lh_request_id (h->request), LH_E_INTERNAL,
                                  "the escalation could not be read back");
            lh_worker_reply (self->worker, &h->request, buf.sbuf.data, buf.sbuf.size);
            codec_buf_destroy (&buf);
            self->n.held_timeouts++;
            zlistx_delete (self->held, handle);
        }
        h = next;
    }
}

//  The next request within 100 ms; with a frontend, its replies and the
//  spool's work wake the loop too (ZMQ_FD is edge-triggered: read before
//  polling, and poll for at most TICK_MS while anything is in flight)
static lh_request_t *
s_next_request (expert_t *self)
{
    if (!self->front)
        return lh_worker_recv (self->worker, 100);
    lh_request_t *request = lh_worker_recv (self->worker, 0);
    if (request)
        return request;
    expert_front_replies (self);
    int wait = 100;
    int spool_wait = spool_next_ms (self->spool);
    if (spool_wait >= 0 && spool_wait < wait)
        wait = spool_wait;
    if (lh_client_pending (self->front) && wait > TICK_MS)
        wait = TICK_MS;
    zmq_pollitem_t items[2] = {{NULL, lh_worker_fd (self->worker), ZMQ_POLLIN, 0},
                               {NULL, lh_client_fd (self->front), ZMQ_POLLIN, 0}};
    if (wait > 0 && items[0].fd >= 0 && items[1].fd >= 0)
        zmq_poll (items, 2, wait);
    return lh_worker_recv (self->worker, 0);
}

int
main (int argc, char **argv)
{
    static const lh_node_t node = {
        "lh-expert",
        "Lighthouse expert node: holds escalations from validators in a durable queue until\n"
        "experts decide them (lh review, lh approve) or they expire (docs/EXPERT.md).",
        s_options, "expert"};
    int exit_code;
    zconfig_t *config = lh_node_start (&node, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    expert_t self = {.allow_self = lh_config_bool (config, "expert/allow_self", false),
                     .verdict_ttl = lh_config_int (config, "expert/verdict_ttl", 3600),
                     .max_ttl = lh_config_int (config, "expert/max_ttl", 2592000)};
    zcert_t *cert = NULL;
    lh_metrics_t *metrics = NULL;
    int rc = 1;
    const char *dir = lh_config_str (config, "expert/dir", NULL);
    char err[512] = "";
    if (!dir) {
        lh_error ("no data directory: --dir DIR", "%s", "");
        goto done;
    }
    if (lh_node_cert (config, "expert", &cert) != 0)
        goto done;
    long queue_max = lh_config_int (config, "expert/queue_max", 10000);
    long map_mb = lh_config_int (config, "expert/map_size_mb", 1024);
    self.store = expert_store_open (dir, queue_max > 0 ? (size_t) queue_max : 1,
                                    (size_t) (map_mb > 1 ? map_mb : 1) << 20, err, sizeof (err));
    if (!self.store) {
        lh_error ("cannot open the escalation store", "dir=%s error=\"%s\"", dir, err);
        goto done;
    }
    if (self.max_ttl < 1 || self.verdict_ttl < 1 || self.verdict_ttl > self.max_ttl) {
        lh_error ("--verdict-ttl must be 1 to --max-ttl seconds", "%s", "");
        goto done;
    }
    self.per_agent = zhashx_new ();
    zhashx_set_destructor (self.per_agent, expert_count_free);
    long agent_max = lh_config_int (config, "expert/agent_max", 100);
    self.agent_max = agent_max > 0 ? (size_t) agent_max : 1;
    expert_store_pending (self.store, expert_count_pending, &self);
    self.held = zlistx_new ();
    zlistx_set_destructor (self.held, expert_held_destroy);
    self.calls = lh_idhash_new ();
    zhashx_set_destructor (self.calls, expert_call_destroy);
    const char *frontend = lh_config_str (config, "expert/frontend", NULL);
    if (frontend) {
        lh_connect_t front = {.endpoint = frontend,
                              .server_key = lh_config_str (config, "expert/broker_key", NULL),
                              .cert = cert};
        char spool_dir[PATH_MAX];
        snprintf (spool_dir, sizeof (spool_dir), "%s",
                  lh_config_str (config, "expert/spool_dir", ""));
        if (!spool_dir[0])
            snprintf (spool_dir, sizeof (spool_dir), "%s/spool", dir);
        long spool_max = lh_config_int (config, "expert/spool_max", 100000);
        self.front = lh_client_new (&front);
        self.spool = spool_new (&front, spool_dir, (size_t) (spool_max > 0 ? spool_max : 1),
                                (size_t) 256 << 20, true, err, sizeof (err));
        if (!self.front || !self.spool) {
            lh_error ("cannot start the frontend client or the event spool",
                      "frontend=%s spool=%s error=\"%s\"", frontend, spool_dir, err);
            goto done;
        }
        lh_client_set_timeout (self.front, CALL_TIMEOUT_MS);
        lh_client_set_retries (self.front, 0);
        self.offers =
            offers_new (self.front, (int) lh_config_int (config, "expert/review_ms", 60000),
                        expert_event_assigned, &self);
    }
    lh_connect_t conn = {.endpoint = lh_config_str (config, "expert/broker", NULL),
                         .server_key = lh_config_str (config, "expert/broker_key", NULL),
                         .cert = cert};
    long capacity = lh_config_int (config, "expert/capacity", 1024);
    self.worker = lh_worker_new (
        &conn, "expert", (int) (capacity > 0 && capacity <= LH_MAX_CAPACITY ? capacity : 1024));
    if (!self.worker) {
        lh_error ("cannot start worker", "broker=%s", conn.endpoint ? conn.endpoint : "-");
        goto done;
    }
    lh_worker_set_heartbeat (self.worker, (int) lh_config_int (config, "expert/heartbeat", 2500),
                             3);
    lh_info ("serving", "service=expert broker=%s dir=%s pending=%zu frontend=%s", conn.endpoint,
             dir, expert_store_pending_count (self.store), frontend ? frontend : "off");
    if (lh_node_metrics (config, "expert", &metrics) != 0)
        goto done;
    int64_t next_sweep = 0;
    while (!zsys_interrupted) {
        lh_request_t *request = s_next_request (&self);
        if (request)
            expert_handle (&self, request);
        expert_front_replies (&self);
        int64_t now = expert_now ();
        if (now >= next_sweep) {
            expert_store_expire (self.store, now, expert_on_expired, &self);
            if (self.offers)
                offers_sweep (self.offers, self.store, now);
            next_sweep = now + SWEEP_MS;
            if (metrics) {
                static const char *gauges[] = {"pending", "held", NULL};
                codec_buf_t counters;
                codec_buf_init (&counters);
                expert_pack_counters (&self, &counters.pk);
                lh_metrics_publish_map (metrics, "lighthouse_expert", counters.sbuf.data,
                                        counters.sbuf.size, gauges);
                codec_buf_destroy (&counters);
            }
        }
        s_held_timeouts (&self, now);
        if (self.spool)
            spool_poll (self.spool);
    }
    lh_info ("stopping", "pending=%zu", expert_store_pending_count (self.store));
    lh_worker_destroy (&self.worker);
    if (self.spool && spool_flush (self.spool, 2000))
        lh_warn ("events kept in the spool for the next start", "%s", "");
    rc = 0;
done:
    lh_metrics_destroy (&metrics);
    offers_destroy (&self.offers);
    zhashx_destroy (&self.per_agent);
    zhashx_destroy (&self.calls);
    spool_destroy (&self.spool);
    lh_client_destroy (&self.front);
    zlistx_destroy (&self.held);
    lh_worker_destroy (&self.worker);
    expert_store_destroy (&self.store);
    zcert_destroy (&cert);
    zconfig_destroy (&config);
    return rc;
}
