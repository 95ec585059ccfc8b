/*  load -- closed-loop load through liblighthouse. See bench.h.

    Every client is an lh_client_t in its own thread that keeps `depth`
    requests in flight: it sends until depth are pending, then waits for
    one reply, and so on. The SDK offers no socket or fd to poll, so one
    thread cannot drive many clients without spinning; a thread per client
    is how an application would use it today.

    Latency is measured around the SDK calls: from just before
    lh_client_send to just after lh_client_recv returns the reply, on the
    monotonic clock, so encoding and decoding in the client are included
    (the same on the direct and the broker path).
*/
#include "bench.h"

#include "codec.h"
#include "lh_client.h"

#include <pthread.h>
#include <unistd.h>

#define RING 4096 //  send times by request id, per client

typedef struct {
    uint64_t id;
    uint64_t sent_ns;
} stamp_t;

typedef struct {
    const load_config_t *config;
    int index;
    _Atomic int *phase; //  0 warmup, 1 measuring, 2 stopping
    load_result_t result;
    stamp_t ring[RING];
} runner_t;

void
load_body (msgpack_sbuffer *buf, size_t payload_size)
{
    msgpack_packer pk;
    msgpack_packer_init (&pk, buf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 1);
    codec_pack_str (&pk, "payload");
    char *payload = (char *) malloc (payload_size + 1);
    for (size_t i = 0; i < payload_size; i++)
        payload[i] = (char) ('a' + i % 26);
    codec_pack_strn (&pk, payload, payload_size);
    free (payload);
}

static void
s_account (runner_t *self, lh_reply_t *reply, uint64_t now, bool in_window)
{
    load_result_t *r = &self->result;
    uint64_t id = lh_reply_id (reply);
    stamp_t *stamp = &self->ring[id % RING];
    uint64_t latency =
        stamp->id == id ? now - stamp->sent_ns : (uint64_t) lh_reply_rtt_us (reply) * 1000;
    if (lh_reply_ok (reply)) {
        r->total_ok++;
        if (in_window) {
            r->ok++;
            hist_record (&r->hist, latency);
        }
    } else {
        r->errors++;
        int code = (int) lh_reply_code (reply);
        r->by_code[code >= 0 && code < LOAD_ERR_KINDS ? code : 0]++;
    }
}

static void *
s_runner (void *arg)
{
    runner_t *self = (runner_t *) arg;
    const load_config_t *config = self->config;
    load_result_t *r = &self->result;
    lh_connect_t conn = {.endpoint = config->endpoint,
                         .server_key = config->server_key,
                         .cert = config->certs ? config->certs[self->index] : NULL};
    lh_client_t *client = lh_client_new (&conn);
    if (!client) {
        r->clients_failed = 1;
        return NULL;
    }
    lh_client_set_timeout (client, config->timeout_ms);
    lh_client_set_retries (client, 0);
    int inflight = 0;
    while (!bench_stop && atomic_load (self->phase) < 2) {
        while (inflight < config->depth) {
            uint64_t id;
            const char *why;
            uint64_t sent = bench_now_ns ();
            if (lh_client_send (client, config->service, config->body, config->body_size, &id,
                                &why) != LH_OK) {
                r->send_failed++;
                r->errors++;
                break;
            }
            self->ring[id % RING] = (stamp_t){id, sent};
            inflight++;
        }
        lh_reply_t *reply = lh_client_recv (client, 100);
        if (!reply)
            continue;
        uint64_t now = bench_now_ns ();
        inflight--;
        s_account (self, reply, now, atomic_load (self->phase) == 1);
        lh_reply_destroy (&reply);
    }
    //  Drain: collect what is still in flight, bounded
    uint64_t until = bench_now_ns () + (uint64_t) (config->drain_s * 1e9);
    while (inflight > 0 && !bench_stop) {
        uint64_t now = bench_now_ns ();
        if (now >= until)
            break;
        int wait_ms = (int) ((until - now) / 1000000) + 1;
        lh_reply_t *reply = lh_client_recv (client, wait_ms);
        if (!reply)
            continue;
        inflight--;
        s_account (self, reply, bench_now_ns (), false);
        lh_reply_destroy (&reply);
    }
    r->lost = lh_client_pending (client);
    r->errors += r->lost;
    r->dropped = lh_client_dropped (client);
    lh_client_destroy (&client);
    return NULL;
}

static void
s_sleep_s (double seconds)
{
    uint64_t until = bench_now_ns () + (uint64_t) (seconds * 1e9);
    while (!bench_stop) {
        uint64_t now = bench_now_ns ();
        if (now >= until)
            break;
        uint64_t left = until - now;
        usleep ((useconds_t) (left > 50000000 ? 50000 : left / 1000 + 1));
    }
}

void
load_run (const load_config_t *config, load_result_t *result,
          void (*on_window) (int phase, void *arg), void *arg)
{
    memset (result, 0, sizeof (*result));
    hist_reset (&result->hist);
    _Atomic int phase = 0;
    runner_t **runners = (runner_t **) calloc ((size_t) config->clients, sizeof (runner_t *));
    pthread_t *threads = (pthread_t *) calloc ((size_t) config->clients, sizeof (pthread_t));
    bool *started = (bool *) calloc ((size_t) config->clients, sizeof (bool));
    pthread_attr_t attr;
    pthread_attr_init (&attr);
    pthread_attr_setstacksize (&attr, 512 * 1024);
    for (int i = 0; i < config->clients; i++) {
        runners[i] = (runner_t *) calloc (1, sizeof (runner_t));
        runners[i]->config = config;
        runners[i]->index = i;
        runners[i]->phase = &phase;
        hist_reset (&runners[i]->result.hist);
        started[i] = pthread_create (&threads[i], &attr, s_runner, runners[i]) == 0;
        if (!started[i])
            result->clients_failed++;
    }
    pthread_attr_destroy (&attr);

    s_sleep_s (config->warmup_s);
    uint64_t t0 = bench_now_ns ();
    atomic_store (&phase, 1);
    if (on_window)
        on_window (1, arg);
    s_sleep_s (config->duration_s);
    atomic_store (&phase, 2);
    uint64_t t1 = bench_now_ns ();
    if (on_window)
        on_window (2, arg);
    result->window_ns = t1 - t0;

    for (int i = 0; i < config->clients; i++) {
        if (started[i])
            pthread_join (threads[i], NULL);
        load_result_t *r = &runners[i]->result;
        hist_merge (&result->hist, &r->hist);
        result->ok += r->ok;
        result->total_ok += r->total_ok;
        result->errors += r->errors;
        result->send_failed += r->send_failed;
        result->lost += r->lost;
        result->dropped += r->dropped;
        result->clients_failed += r->clients_failed;
        for (int k = 0; k < LOAD_ERR_KINDS; k++)
            result->by_code[k] += r->by_code[k];
        free (runners[i]);
    }
    free (runners);
    free (threads);
    free (started);
}
