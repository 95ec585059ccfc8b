/*  spool -- the validator's decisions on their way to the integrity log. See spool.h. */
#include "spool.h"

#include "codec.h"
#include "event.h"
#include "lh_client.h"
#include "lh_log.h"

#include <czmq.h>
#include <limits.h>
#include <sodium.h>

//  Room for the request's own keys and the id lh_client adds
#define BATCH_BYTES (LH_MAX_BODY - 1024)
//  An event's bytes besides its notice: keys, type, agent, client id
#define EVENT_OVERHEAD (128 + LH_MAX_AGENT + EVENT_MAX_REF)
#define POLL_MS        5 //  how often replies are looked for while requests are in flight
#define WARN_MS        1000

//  Up to EVENT_MAX_BATCH events, sent (and resent) as one append request
typedef struct {
    codec_buf_t events; //  packed event maps, back to back
    size_t count;
    char first[EVENT_MAX_REF + 1]; //  client id of the first event, for logs
    int64_t first_at;              //  when the first event was queued
    bool closed;                   //  full, or sent once: its events and ids are fixed
    bool inflight;
    uint64_t request; //  lh_client request id while in flight
    uint64_t epoch;   //  the spool's epoch when last sent
    uint32_t attempts;
    void *handle; //  in self->batches
} batch_t;

struct _spool_t {
    lh_client_t *client;
    zlistx_t *batches; //  batch_t, oldest first
    size_t max_events;
    size_t inflight;   //  requests
    char instance[17]; //  random per process start, so client ids never repeat across restarts
    uint64_t next_ref;
    int backoff_ms;     //  0 while the log answers
    int64_t hold_until; //  no sends before this
    //  Bumped at every backoff step: a failure of a request sent before the
    //  step is the same outage, not a reason to back off further
    uint64_t epoch;
    lh_err_t last_error;
    bool flushing;
    uint64_t dropped_logged;
    int64_t warn_at;
    int64_t recv_at;
    spool_counters_t n;
};

static void
s_batch_destroy (void **item)
{
    batch_t *batch = (batch_t *) *item;
    if (batch) {
        codec_buf_destroy (&batch->events);
        free (batch);
        *item = NULL;
    }
}

spool_t *
spool_new (const lh_connect_t *conn, size_t max_events)
{
    if (!conn || !conn->endpoint || max_events == 0 || sodium_init () < 0)
        return NULL;
    lh_client_t *client = lh_client_new (conn);
    if (!client)
        return NULL;
    spool_t *self = (spool_t *) zmalloc (sizeof (spool_t));
    self->client = client;
    //  Resends are ours, paced by the backoff; a local timeout is just a failure
    lh_client_set_timeout (client, SPOOL_TIMEOUT_MS);
    lh_client_set_retries (client, 0);
    self->batches = zlistx_new ();
    zlistx_set_destructor (self->batches, s_batch_destroy);
    self->max_events = max_events;
    uint8_t raw[8];
    randombytes_buf (raw, sizeof (raw));
    sodium_bin2hex (self->instance, sizeof (self->instance), raw, sizeof (raw));
    return self;
}

void
spool_destroy (spool_t **self_p)
{
    if (self_p && *self_p) {
        spool_t *self = *self_p;
        zlistx_destroy (&self->batches);
        lh_client_destroy (&self->client);
        free (self);
        *self_p = NULL;
    }
}

const spool_counters_t *
spool_counters (spool_t *self)
{
    return &self->n;
}

static void
s_report_drops (spool_t *self, int64_t now)
{
    if (self->n.dropped > self->dropped_logged && now >= self->warn_at) {
        lh_warn ("spool full, decisions not sent to the integrity log",
                 "dropped=%llu queued=%llu max=%zu", (unsigned long long) self->n.dropped,
                 (unsigned long long) self->n.queued, self->max_events);
        self->dropped_logged = self->n.dropped;
        self->warn_at = now + WARN_MS;
    }
}

bool
spool_add (spool_t *self, const char *agent, const void *notice, size_t size)
{
    int64_t now = zclock_mono ();
    if (self->n.queued >= self->max_events) {
        self->n.dropped++;
        s_report_drops (self, now);
        return false;
    }
    size_t need = size + EVENT_OVERHEAD;
    if (need > BATCH_BYTES) {
        //  Notices are a few KB: this is a bug, not an outage
        self->n.rejected++;
        lh_error ("decision notice too large for the integrity log", "bytes=%zu", size);
        return false;
    }
    batch_t *batch = (batch_t *) zlistx_last (self->batches);
    if (batch && !batch->closed && batch->events.sbuf.size + need > BATCH_BYTES)
        batch->closed = true;
    if (!batch || batch->closed) {
        batch = (batch_t *) zmalloc (sizeof (batch_t));
        codec_buf_init (&batch->events);
        batch->first_at = now;
        batch->handle = zlistx_add_end (self->batches, batch);
    }
    char ref[EVENT_MAX_REF + 1];
    snprintf (ref, sizeof (ref), "%s-%llu", self->instance, (unsigned long long) ++self->next_ref);
    //  Without a valid agent id (as the log checks it: a bad one would make it
    //  refuse the whole batch) the event names its appender; data keeps the original
    bool named = agent && codec_name_valid (agent, strlen (agent), LH_MAX_AGENT);
    msgpack_packer *pk = &batch->events.pk;
    msgpack_pack_map (pk, named ? 4 : 3);
    codec_pack_str (pk, "type");
    codec_pack_str (pk, event_type_name (EVENT_DECISION));
    if (named) {
        codec_pack_str (pk, "agent");
        codec_pack_str (pk, agent);
    }
    codec_pack_str (pk, "client_id");
    codec_pack_str (pk, ref);
    codec_pack_str (pk, "data");
    msgpack_sbuffer_write (&batch->events.sbuf, (const char *) notice, size);
    if (batch->count++ == 0)
        snprintf (batch->first, sizeof (batch->first), "%s", ref);
    if (batch->count == EVENT_MAX_BATCH)
        batch->closed = true;
    self->n.queued++;
    return true;
}

static void
s_forget (spool_t *self, batch_t *batch)
{
    self->n.queued -= batch->count;
    zlistx_delete (self->batches, batch->handle);
}

static void
s_failed (spool_t *self, batch_t *batch, lh_err_t code, const char *code_name, const char *message,
          int64_t now)
{
    char quoted[LH_MAX_MESSAGE + 8];
    lh_log_quote (message ? message : "", message ? strlen (message) : 0, quoted, sizeof (quoted));
    if (code == LH_E_BAD_REQUEST || code == LH_E_TOO_LARGE || code == LH_E_UNSUPPORTED) {
        //  The same bytes would be refused again: resending would only hold the spool
        lh_error ("integrity log refused decisions, giving them up",
                  "events=%zu first=%s error=%s message=%s", batch->count, batch->first, code_name,
                  quoted);
        self->n.rejected += batch->count;
        s_forget (self, batch);
        return;
    }
    batch->attempts++;
    if (batch->epoch != self->epoch)
        return;
    self->epoch++;
    bool first = self->backoff_ms == 0;
    self->backoff_ms = first ? SPOOL_BACKOFF_MS
                             : (self->backoff_ms * 2 > SPOOL_BACKOFF_MAX ? SPOOL_BACKOFF_MAX
                                                                         : self->backoff_ms * 2);
    self->hold_until = now + self->backoff_ms;
    if (first || code != self->last_error)
        lh_warn ("integrity log append failed, decisions kept to resend",
                 "error=%s message=%s events=%zu queued=%llu retry_ms=%d", code_name, quoted,
                 batch->count, (unsigned long long) self->n.queued, self->backoff_ms);
    else
        lh_debug ("integrity log append failed again", "error=%s queued=%llu retry_ms=%d",
                  code_name, (unsigned long long) self->n.queued, self->backoff_ms);
    self->last_error = code;
}

static void
s_acked (spool_t *self, batch_t *batch, const msgpack_object *root)
{
    const msgpack_object *results = codec_map_get (root, "results");
    size_t duplicates = 0;
    if (results && results->type == MSGPACK_OBJECT_ARRAY &&
        results->via.array.size == batch->count) {
        for (uint32_t i = 0; i < results->via.array.size; i++) {
            const msgpack_object *dup = codec_map_get (&results->via.array.ptr[i], "duplicate");
            if (dup && dup->type == MSGPACK_OBJECT_BOOLEAN && dup->via.boolean)
                duplicates++;
        }
    } else
        lh_warn ("append reply does not list every event", "events=%zu first=%s", batch->count,
                 batch->first);
    lh_debug ("decisions appended", "events=%zu first=%s duplicates=%zu attempts=%u", batch->count,
              batch->first, duplicates, batch->attempts + 1);
    self->n.acked += batch->count;
    self->n.duplicates += duplicates;
    if (self->backoff_ms) {
        lh_info ("integrity log appends resumed", "queued=%llu",
                 (unsigned long long) (self->n.queued - batch->count));
        self->backoff_ms = 0;
        self->hold_until = 0;
    }
    s_forget (self, batch);
}

static void
s_on_reply (spool_t *self, lh_reply_t *reply, int64_t now)
{
    batch_t *batch = (batch_t *) zlistx_first (self->batches);
    while (batch && !(batch->inflight && batch->request == lh_reply_id (reply)))
        batch = (batch_t *) zlistx_next (self->batches);
    if (batch) {
        batch->inflight = false;
        self->inflight--;
        if (lh_reply_ok (reply))
            s_acked (self, batch, lh_reply_root (reply));
        else
            s_failed (self, batch, lh_reply_code (reply), lh_reply_code_name (reply),
                      lh_reply_message (reply), now);
    }
    lh_reply_destroy (&reply);
}

static size_t
s_slots (spool_t *self)
{
    //  While backing off, one request finds out whether the log is back
    size_t max = self->backoff_ms ? 1 : SPOOL_INFLIGHT;
    return self->inflight < max ? max - self->inflight : 0;
}

static batch_t *
s_first_waiting (spool_t *self)
{
    batch_t *batch = (batch_t *) zlistx_first (self->batches);
    while (batch && batch->inflight)
        batch = (batch_t *) zlistx_next (self->batches);
    return batch;
}

static int64_t
s_due (spool_t *self, batch_t *batch)
{
    int64_t due = batch->closed || self->flushing ? 0 : batch->first_at + SPOOL_DELAY_MS;
    return self->hold_until > due ? self->hold_until : due;
}

//  Returns false when the request could not be sent.
static bool
s_send (spool_t *self, batch_t *batch, int64_t now)
{
    batch->closed = true;
    batch->epoch = self->epoch;
    codec_buf_t body;
    codec_buf_init (&body);
    event_pack_append (&body.pk, batch->count);
    msgpack_sbuffer_write (&body.sbuf, batch->events.sbuf.data, batch->events.sbuf.size);
    const char *why = NULL;
    int rc = lh_client_send (self->client, "events", body.sbuf.data, body.sbuf.size,
                             &batch->request, &why);
    codec_buf_destroy (&body);
    if (rc != LH_OK) {
        s_failed (self, batch, (lh_err_t) rc, codec_err_name ((lh_err_t) rc), why, now);
        return false;
    }
    lh_debug ("appending decisions", "events=%zu first=%s waited_ms=%lld attempt=%u", batch->count,
              batch->first, (long long) (now - batch->first_at), batch->attempts + 1);
    batch->inflight = true;
    self->inflight++;
    self->n.sent += batch->count;
    if (batch->attempts)
        self->n.retries += batch->count;
    return true;
}

static void
s_send_due (spool_t *self, int64_t now)
{
    while (s_slots (self) > 0) {
        batch_t *batch = s_first_waiting (self);
        if (!batch || s_due (self, batch) > now || !s_send (self, batch, now))
            break;
    }
}

void
spool_poll (spool_t *self)
{
    int64_t now = zclock_mono ();
    //  At most once a millisecond, not after every decision of a busy validator
    if (self->inflight && now >= self->recv_at) {
        self->recv_at = now + 1;
        lh_reply_t *reply;
        while (self->inflight && (reply = lh_client_recv (self->client, 0)))
            s_on_reply (self, reply, now);
    }
    s_send_due (self, now);
    s_report_drops (self, now);
}

int
spool_next_ms (spool_t *self)
{
    int64_t now = zclock_mono ();
    int64_t at = INT64_MAX;
    if (self->inflight)
        at = now + POLL_MS;
    batch_t *batch = s_slots (self) > 0 ? s_first_waiting (self) : NULL;
    if (batch && s_due (self, batch) < at)
        at = s_due (self, batch);
    if (self->n.dropped > self->dropped_logged && self->warn_at < at)
        at = self->warn_at;
    if (at == INT64_MAX)
        return -1;
    return at <= now ? 0 : at - now > INT_MAX ? INT_MAX : (int) (at - now);
}

size_t
spool_flush (spool_t *self, int timeout_ms)
{
    int64_t now = zclock_mono ();
    int64_t until = now + timeout_ms;
    self->flushing = true;
    //  One probe at once even in the middle of a backoff: the log may be back
    self->hold_until = 0;
    while (self->n.queued && !zsys_interrupted && now < until) {
        s_send_due (self, now);
        int64_t wake =
            self->hold_until > now && self->hold_until < until ? self->hold_until : until;
        lh_reply_t *reply = lh_client_recv (self->client, (int) (wake - now));
        now = zclock_mono ();
        if (reply)
            s_on_reply (self, reply, now);
    }
    return (size_t) self->n.queued;
}
