/*  drive -- many lh_clients in one thread, as agents (drive.h). */
#include "drive.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>

#define SWEEP_NS 50000000ULL //  every client read at least this often

void
drive_sample (drive_check_t *c, const char *what, const lh_reply_t *reply)
{
    if (c->samples >= DRIVE_SAMPLES)
        return;
    if (reply)
        snprintf (c->sample[c->samples], sizeof (c->sample[0]), "%s: %s: %s", what,
                  lh_reply_code_name (reply), lh_reply_message (reply));
    else
        snprintf (c->sample[c->samples], sizeof (c->sample[0]), "%s", what);
    c->samples++;
}

void
drive_check_merge (drive_check_t *into, const drive_check_t *c)
{
    into->sent += c->sent;
    into->ok += c->ok;
    into->failed += c->failed;
    into->error_replies += c->error_replies;
    into->timeouts += c->timeouts;
    into->send_failed += c->send_failed;
    into->lost += c->lost;
    into->bad_replies += c->bad_replies;
    into->duplicates += c->duplicates;
    into->wrong += c->wrong;
    into->mismatched += c->mismatched;
    into->late += c->late;
    for (int k = 0; k < LOAD_ERR_KINDS; k++)
        into->by_code[k] += c->by_code[k];
    for (int i = 0; i < c->samples && into->samples < DRIVE_SAMPLES; i++)
        memcpy (into->sample[into->samples++], c->sample[i], sizeof (c->sample[0]));
}

//  {op: append, events: [{type: custom, client_id, data}]}
static void
s_pack_append (drive_t *d, drive_client_t *c)
{
    codec_buf_t *b = &d->buf;
    char client_id[64];
    snprintf (client_id, sizeof (client_id), "b%08x-%d-%u", d->nonce, c->index, c->seq++);
    msgpack_pack_map (&b->pk, 2);
    codec_pack_kv_str (&b->pk, "op", "append");
    codec_pack_str (&b->pk, "events");
    msgpack_pack_array (&b->pk, 1);
    msgpack_pack_map (&b->pk, 3);
    codec_pack_kv_str (&b->pk, "type", "custom");
    codec_pack_kv_str (&b->pk, "client_id", client_id);
    codec_pack_str (&b->pk, "data");
    msgpack_sbuffer_write (&b->sbuf, d->data->data, d->data->size);
}

static bool
s_send (drive_t *d, drive_client_t *c)
{
    d->buf.sbuf.size = 0;
    int entry = -1;
    if (d->kind == DRIVE_VALIDATE) {
        char cwd[MIX_CWD_LEN + 1];
        mix_cwd (cwd, sizeof (cwd), NULL);
        entry = mix_pick (d->mix, &c->rng);
        mix_body (d->mix, entry, cwd, &d->buf.sbuf);
    } else if (d->kind == DRIVE_ECHO)
        msgpack_sbuffer_write (&d->buf.sbuf, d->data->data, d->data->size);
    else
        s_pack_append (d, c);
    uint64_t id = 0;
    const char *why = NULL;
    uint64_t now = bench_now_ns ();
    d->check.sent++;
    static const char *service[] = {"validate", "events", "echo"};
    if (lh_client_send (c->client, service[d->kind], d->buf.sbuf.data, d->buf.sbuf.size, &id,
                        &why) != 0) {
        d->check.send_failed++;
        d->check.failed++;
        char what[160];
        snprintf (what, sizeof (what), "send refused: %s", why ? why : "?");
        drive_sample (&d->check, what, NULL);
        return false;
    }
    size_t span = 0;
    if (d->spans_on) {
        if (d->nspans == d->spans_cap) {
            size_t cap = d->spans_cap ? d->spans_cap * 2 : 65536;
            drive_span_t *spans = (drive_span_t *) realloc (d->spans, cap * sizeof (drive_span_t));
            if (spans) {
                d->spans = spans;
                d->spans_cap = cap;
            }
        }
        if (d->nspans < d->spans_cap) {
            span = d->nspans++;
            d->spans[span] = (drive_span_t){now, 0, false};
        }
    }
    c->ring[id % DRIVE_RING] = (drive_slot_t){id, now, entry, span};
    c->inflight++;
    d->inflight++;
    return true;
}

//  True when the reply is ok and shaped as promised
static bool
s_check (drive_t *d, const lh_reply_t *reply, int entry)
{
    drive_check_t *c = &d->check;
    const msgpack_object *root = lh_reply_root (reply);
    if (!lh_reply_ok (reply)) {
        lh_err_t code = lh_reply_code (reply);
        c->by_code[(int) code < LOAD_ERR_KINDS ? (int) code : (int) LH_E_INTERNAL]++;
        //  A reply made locally (no root) is lh_client's own deadline
        bool timeout = code == LH_E_TIMEOUT && !root;
        c->timeouts += timeout;
        c->error_replies += !timeout;
        c->failed++;
        drive_sample (c, timeout ? "no reply by the deadline" : "error reply", reply);
        return false;
    }
    if (d->kind == DRIVE_ECHO) {
        //  The payload sent, found once in the body
        if (!d->echo_payload) {
            msgpack_unpacked msg;
            msgpack_unpacked_init (&msg);
            if (msgpack_unpack_next (&msg, d->data->data, d->data->size, NULL) ==
                MSGPACK_UNPACK_SUCCESS) {
                const msgpack_object *p = codec_map_get (&msg.data, "payload");
                if (p && p->type == MSGPACK_OBJECT_STR) {
                    d->echo_len = p->via.str.size;
                    d->echo_payload = (char *) malloc (d->echo_len + 1);
                    memcpy (d->echo_payload, p->via.str.ptr, d->echo_len);
                }
            }
            msgpack_unpacked_destroy (&msg);
        }
        const msgpack_object *p = codec_map_get (codec_map_get (root, "echo"), "payload");
        if (!d->echo_payload || !p || p->type != MSGPACK_OBJECT_STR ||
            p->via.str.size != d->echo_len ||
            memcmp (p->via.str.ptr, d->echo_payload, d->echo_len) != 0) {
            c->mismatched++;
            c->failed++;
            drive_sample (c, "echo reply without the payload sent", reply);
            return false;
        }
        c->ok++;
        return true;
    }
    if (d->kind == DRIVE_VALIDATE) {
        if (!codec_str_eq (codec_map_get (root, "decision"), d->mix->entry[entry].expected))
            c->wrong++;
        c->ok++;
        return true;
    }
    const msgpack_object *results = codec_map_get (root, "results");
    const msgpack_object *item =
        results && results->type == MSGPACK_OBJECT_ARRAY && results->via.array.size == 1
            ? &results->via.array.ptr[0]
            : NULL;
    const msgpack_object *seq = codec_map_get (item, "seq");
    const msgpack_object *dup = codec_map_get (item, "duplicate");
    if (!seq || seq->type != MSGPACK_OBJECT_POSITIVE_INTEGER || !dup ||
        dup->type != MSGPACK_OBJECT_BOOLEAN) {
        c->bad_replies++;
        c->failed++;
        drive_sample (c, "append reply without results [{seq, duplicate}]", reply);
        return false;
    }
    if (dup->via.boolean) {
        c->duplicates++;
        c->failed++;
        drive_sample (c, "a new event acknowledged as a duplicate", reply);
        return false;
    }
    c->ok++;
    return true;
}

static bool
s_sending (drive_t *d, uint64_t now)
{
    return !d->once && now < atomic_load (&d->t1) && !bench_stop;
}

//  Reads every reply client c has (local timeouts too); in a closed loop
//  each is followed by the next request, which is then read for as well,
//  as the ZMQ_FD contract asks
static void
s_drain (drive_t *d, drive_client_t *c)
{
    lh_reply_t *reply;
    while ((reply = lh_client_recv (c->client, 0))) {
        uint64_t now = bench_now_ns ();
        uint64_t id = lh_reply_id (reply);
        drive_slot_t *slot = &c->ring[id % DRIVE_RING];
        if (slot->id != id || id == 0) {
            d->check.late++;
            lh_reply_destroy (&reply);
            continue;
        }
        slot->id = 0;
        c->inflight--;
        d->inflight--;
        bool ok = s_check (d, reply, slot->entry);
        if (d->spans_on && slot->span < d->nspans) {
            d->spans[slot->span].done_ns = now;
            d->spans[slot->span].ok = ok;
        }
        if (ok && now >= d->t0 && now < atomic_load (&d->t1)) {
            d->window_ok++;
            hist_record (&d->hist, now - slot->sent_ns);
        }
        lh_reply_destroy (&reply);
        while (d->depth && c->inflight < d->depth && s_sending (d, now))
            if (!s_send (d, c))
                break;
    }
}

//  Sends what is due: a closed loop fills up to depth, a paced client sends
//  every count / rate seconds (catching up when late)
static void
s_refill (drive_t *d, drive_client_t *c, uint64_t now)
{
    if (!s_sending (d, now))
        return;
    if (d->depth) {
        while (c->inflight < d->depth)
            if (!s_send (d, c))
                return;
        return;
    }
    uint64_t step = (uint64_t) ((double) d->count / d->rate * 1e9);
    while (c->next_due <= now && c->inflight < DRIVE_RING / 2) {
        c->next_due += step;
        s_send (d, c);
    }
}

void *
drive_run (void *arg)
{
    drive_t *d = (drive_t *) arg;
    pthread_setname_np (pthread_self (), "driver");
    uint64_t start = bench_now_ns ();
    uint64_t step = d->depth ? 0 : (uint64_t) ((double) d->count / d->rate * 1e9);
    for (int i = 0; i < d->count; i++) {
        drive_client_t *c = &d->clients[i];
        c->inflight = 0;
        c->next_due = start + step * (uint64_t) i / (uint64_t) d->count;
        d->fds[i] = (struct pollfd){lh_client_fd (c->client), POLLIN, 0};
        if (d->once)
            s_send (d, c);
        s_drain (d, c);
    }
    uint64_t next_sweep = 0;
    while (true) {
        uint64_t now = bench_now_ns ();
        uint64_t t1 = atomic_load (&d->t1);
        bool sending = s_sending (d, now);
        if (!sending && d->inflight == 0)
            break;
        if (bench_stop || (now >= t1 && now - t1 >= d->drain_ns))
            break;
        //  Every client now and then: lh_client probes silent brokers and
        //  keeps deadlines inside lh_client_recv
        if (now >= next_sweep) {
            int up_min = INT_MAX;
            uint64_t failovers = 0;
            for (int i = 0; i < d->count; i++) {
                drive_client_t *c = &d->clients[i];
                s_refill (d, c, now);
                s_drain (d, c);
                int up = (int) lh_client_brokers_up (c->client);
                up_min = up < up_min ? up : up_min;
                failovers += lh_client_failovers (c->client);
            }
            atomic_store (&d->brokers_up_min, up_min);
            atomic_store (&d->failovers_now, failovers);
            next_sweep = now + SWEEP_NS;
        }
        uint64_t wake = next_sweep;
        if (!d->depth && sending)
            for (int i = 0; i < d->count; i++) {
                drive_client_t *c = &d->clients[i];
                if (c->next_due <= now) {
                    s_refill (d, c, now);
                    s_drain (d, c);
                }
                if (c->next_due < wake)
                    wake = c->next_due;
            }
        if (sending && t1 < wake)
            wake = t1;
        now = bench_now_ns ();
        int wait_ms = wake > now ? (int) ((wake - now + 999999) / 1000000) : 0;
        int rc = poll (d->fds, (nfds_t) d->count, wait_ms);
        if (rc < 0 && errno != EINTR)
            break;
        for (int i = 0; rc > 0 && i < d->count; i++)
            if (d->fds[i].revents)
                s_drain (d, &d->clients[i]);
    }
    for (int i = 0; i < d->count; i++) {
        drive_client_t *c = &d->clients[i];
        d->check.lost += (uint64_t) c->inflight;
        d->check.failed += (uint64_t) c->inflight;
        d->failovers += lh_client_failovers (c->client);
        d->reconnects += lh_client_reconnects (c->client);
        d->dropped += lh_client_dropped (c->client);
        //  What stays pending is the next phase's late replies, not its requests
        for (int k = 0; k < DRIVE_RING; k++)
            c->ring[k].id = 0;
    }
    return NULL;
}

void
drive_init (drive_t *d, drive_client_t *clients, int count, drive_kind_t kind)
{
    memset (d, 0, sizeof (*d));
    d->clients = clients;
    d->count = count;
    d->kind = kind;
    atomic_store (&d->t1, UINT64_MAX);
    hist_reset (&d->hist);
    codec_buf_init (&d->buf);
    d->fds = (struct pollfd *) calloc ((size_t) count, sizeof (struct pollfd));
}

void
drive_destroy (drive_t *d)
{
    codec_buf_destroy (&d->buf);
    free (d->fds);
    free (d->spans);
    free (d->echo_payload);
    d->echo_payload = NULL;
    d->fds = NULL;
    d->spans = NULL;
}
