/*  lh_appender -- events to the integrity log, batched. See lh_appender.h. */
#include "lh_appender.h"

#include "codec.h"

#include <sodium.h>

//  What an append request may carry besides its events
#define REQUEST_SLACK 4096
//  An event's data at most (docs/EVENTS.md 2.2)
#define DATA_MAX     (256 * 1024)
#define INFLIGHT_MAX 64
//  Resends after unavailable and the like: from this, doubling, to the cap
#define BACKOFF_MIN_MS 20
#define BACKOFF_MAX_MS 1000

typedef struct {
    uint64_t ticket;
    char client_id[LH_MAX_AGENT + 1];
    char type[LH_MAX_SERVICE + 1];
    uint8_t *data;
    size_t size;
    int64_t deadline; //  ms, monotonic: reported failed after this
} event_t;

typedef struct {
    uint64_t id; //  the pending request's id, 0 while waiting to be sent
    event_t **events;
    int count;
    size_t bytes;
    int attempts;
    int64_t send_at; //  ms: sent again no sooner (backoff)
    void *handle;    //  in batches
} batch_t;

struct _lh_appender_t {
    lh_client_t *client;
    int max_events, linger_ms, max_inflight, deadline_ms;
    uint64_t next_ticket;
    zlistx_t *queue;   //  event_t not yet in a batch, oldest first
    int64_t first_at;  //  when the oldest queued event was added
    zlistx_t *batches; //  batch_t sent or waiting to be sent again
    int inflight;
    zlistx_t *acks; //  lh_ack_t ready for lh_appender_next
    size_t outstanding;
    uint64_t resends;
};

static void
s_event_destroy (event_t **self_p)
{
    if (*self_p) {
        free ((*self_p)->data);
        free (*self_p);
        *self_p = NULL;
    }
}

static void
s_batch_destroy (batch_t **self_p)
{
    batch_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < self->count; i++)
        s_event_destroy (&self->events[i]);
    free (self->events);
    free (self);
    *self_p = NULL;
}

lh_appender_t *
lh_appender_new (const lh_connect_t *conn)
{
    lh_client_t *client = lh_client_new (conn);
    if (!client)
        return NULL;
    lh_appender_t *self = (lh_appender_t *) zmalloc (sizeof (lh_appender_t));
    self->client = client;
    //  The appender resends itself, keeping the client ids; the client never
    lh_client_set_retries (client, 0);
    self->max_events = 64;
    self->linger_ms = 2;
    self->max_inflight = 8;
    lh_appender_set_deadline (self, 10000);
    self->queue = zlistx_new ();
    zlistx_set_destructor (self->queue, (zlistx_destructor_fn *) s_event_destroy);
    self->batches = zlistx_new ();
    zlistx_set_destructor (self->batches, (zlistx_destructor_fn *) s_batch_destroy);
    self->acks = zlistx_new ();
    zlistx_set_destructor (self->acks, (zlistx_destructor_fn *) zstr_free);
    return self;
}

void
lh_appender_destroy (lh_appender_t **self_p)
{
    lh_appender_t *self = *self_p;
    if (!self)
        return;
    zlistx_destroy (&self->queue);
    zlistx_destroy (&self->batches);
    zlistx_destroy (&self->acks);
    lh_client_destroy (&self->client);
    free (self);
    *self_p = NULL;
}

void
lh_appender_set_batch (lh_appender_t *self, int max_events, int linger_ms)
{
    self->max_events = max_events < 1 ? 1 : max_events > 256 ? 256 : max_events;
    self->linger_ms = linger_ms < 0 ? 0 : linger_ms;
}

void
lh_appender_set_inflight (lh_appender_t *self, int max_inflight)
{
    self->max_inflight = max_inflight < 1              ? 1
                         : max_inflight > INFLIGHT_MAX ? INFLIGHT_MAX
                                                       : max_inflight;
}

void
lh_appender_set_deadline (lh_appender_t *self, int deadline_ms)
{
    self->deadline_ms = deadline_ms < 1 ? 1 : deadline_ms;
    //  One try may take a quarter of it, so that there is time to resend
    lh_client_set_timeout (self->client, self->deadline_ms / 4 > 100 ? self->deadline_ms / 4 : 100);
}

//  A client id as the log takes it: 1..64 printable ASCII, no spaces
static bool
s_client_id_valid (const char *id)
{
    size_t len = strlen (id);
    if (len < 1 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++)
        if (id[i] <= ' ' || id[i] > '~')
            return false;
    return true;
}

uint64_t
lh_appender_add (lh_appender_t *self, const char *type, const void *data, size_t size,
                 const char *client_id, const char **why)
{
    const char *problem = NULL;
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    if (!type || !codec_name_valid (type, strlen (type), LH_MAX_SERVICE))
        problem = "type must be 1-64 of [A-Za-z0-9._-]";
    else if (!data || size == 0 || size > DATA_MAX)
        problem = "data must be a packed msgpack map of at most 262144 bytes";
    else if (msgpack_unpack_next (&unpacked, (const char *) data, size, &offset) !=
                 MSGPACK_UNPACK_SUCCESS ||
             offset != size || unpacked.data.type != MSGPACK_OBJECT_MAP)
        problem = "data must be one packed msgpack map";
    else if (client_id && !s_client_id_valid (client_id))
        problem = "client_id must be 1-64 printable ASCII characters without spaces";
    msgpack_unpacked_destroy (&unpacked);
    if (problem) {
        if (why)
            *why = problem;
        return 0;
    }
    event_t *event = (event_t *) zmalloc (sizeof (event_t));
    event->data = (uint8_t *) malloc (size);
    if (!event->data) {
        free (event);
        if (why)
            *why = "out of memory";
        return 0;
    }
    memcpy (event->data, data, size);
    event->size = size;
    snprintf (event->type, sizeof (event->type), "%s", type);
    if (client_id)
        snprintf (event->client_id, sizeof (event->client_id), "%s", client_id);
    else {
        uint8_t random[16];
        randombytes_buf (random, sizeof (random));
        sodium_bin2hex (event->client_id, sizeof (event->client_id), random, sizeof (random));
    }
    int64_t now = zclock_mono ();
    event->ticket = ++self->next_ticket;
    event->deadline = now + self->deadline_ms;
    if (zlistx_size (self->queue) == 0)
        self->first_at = now;
    zlistx_add_end (self->queue, event);
    self->outstanding++;
    return event->ticket;
}

static void
s_ack (lh_appender_t *self, const event_t *event, bool ok, uint64_t seq, bool duplicate,
       lh_err_t code, const char *message)
{
    lh_ack_t *ack = (lh_ack_t *) zmalloc (sizeof (lh_ack_t));
    *ack = (lh_ack_t){.ticket = event->ticket,
                      .ok = ok,
                      .seq = seq,
                      .duplicate = duplicate,
                      .code = ok ? LH_OK : code};
    if (!ok)
        snprintf (ack->message, sizeof (ack->message), "%s", message ? message : "");
    zlistx_add_end (self->acks, ack);
    self->outstanding--;
}

static void
s_batch_fail (lh_appender_t *self, batch_t *batch, lh_err_t code, const char *message)
{
    for (int i = 0; i < batch->count; i++)
        s_ack (self, batch->events[i], false, 0, false, code, message);
}

//  Sends (or sends again) a batch; false when it cannot be sent at all
static bool
s_send (lh_appender_t *self, batch_t *batch)
{
    codec_buf_t buf;
    codec_buf_init (&buf);
    msgpack_pack_map (&buf.pk, 2);
    codec_pack_kv_str (&buf.pk, "op", "append");
    codec_pack_str (&buf.pk, "events");
    msgpack_pack_array (&buf.pk, (size_t) batch->count);
    for (int i = 0; i < batch->count; i++) {
        event_t *event = batch->events[i];
        msgpack_pack_map (&buf.pk, 3);
        codec_pack_kv_str (&buf.pk, "type", event->type);
        codec_pack_kv_str (&buf.pk, "client_id", event->client_id);
        codec_pack_str (&buf.pk, "data");
        msgpack_sbuffer_write (&buf.sbuf, (const char *) event->data, event->size);
    }
    const char *why = NULL;
    int rc =
        lh_client_send (self->client, "events", buf.sbuf.data, buf.sbuf.size, &batch->id, &why);
    codec_buf_destroy (&buf);
    batch->attempts++;
    if (rc != 0) {
        s_batch_fail (self, batch, LH_E_BAD_REQUEST, why ? why : "the request cannot be sent");
        return false;
    }
    self->inflight++;
    return true;
}

//  Queued events into a new batch, as many as the limits allow
static batch_t *
s_batch_take (lh_appender_t *self)
{
    batch_t *batch = (batch_t *) zmalloc (sizeof (batch_t));
    batch->events = (event_t **) malloc ((size_t) self->max_events * sizeof (event_t *));
    event_t *event;
    while (batch->count < self->max_events && (event = (event_t *) zlistx_first (self->queue))) {
        size_t bytes = event->size + strlen (event->type) + strlen (event->client_id) + 32;
        if (batch->count > 0 && batch->bytes + bytes > LH_MAX_BODY - REQUEST_SLACK)
            break;
        batch->events[batch->count++] = (event_t *) zlistx_detach_cur (self->queue);
        batch->bytes += bytes;
    }
    if (zlistx_size (self->queue) > 0)
        self->first_at = zclock_mono ();
    return batch;
}

//  What is due: batches to send again after their backoff, events past
//  their deadline, and queued events (all of them when flushing)
static void
s_pump (lh_appender_t *self, bool flush)
{
    int64_t now = zclock_mono ();
    batch_t *batch = (batch_t *) zlistx_first (self->batches);
    while (batch) {
        batch_t *next = (batch_t *) zlistx_next (self->batches);
        if (!batch->id && now >= batch->send_at) {
            if (now >= batch->events[0]->deadline) {
                s_batch_fail (self, batch, LH_E_TIMEOUT,
                              "no acknowledgement before the deadline, resends included: "
                              "append again with the same client id to learn whether it was");
                zlistx_delete (self->batches, batch->handle);
            } else if (self->inflight < self->max_inflight) {
                self->resends++;
                if (!s_send (self, batch))
                    zlistx_delete (self->batches, batch->handle);
            }
        }
        batch = next;
    }
    //  Queued events that could not be sent in time (no room in flight) fail too
    event_t *event;
    while ((event = (event_t *) zlistx_first (self->queue)) && now >= event->deadline) {
        s_ack (self, event, false, 0, false, LH_E_TIMEOUT,
               "not sent before the deadline (no room while the log did not answer): append "
               "again with the same client id");
        zlistx_delete (self->queue, zlistx_cursor (self->queue));
    }
    while (zlistx_size (self->queue) > 0 && self->inflight < self->max_inflight) {
        bool full = (int) zlistx_size (self->queue) >= self->max_events;
        if (!flush && !full && now < self->first_at + self->linger_ms)
            break;
        batch = s_batch_take (self);
        if (s_send (self, batch))
            batch->handle = zlistx_add_end (self->batches, batch);
        else
            s_batch_destroy (&batch);
    }
}

void
lh_appender_flush (lh_appender_t *self)
{
    s_pump (self, true);
}

static batch_t *
s_batch_of (lh_appender_t *self, uint64_t id)
{
    for (batch_t *batch = (batch_t *) zlistx_first (self->batches); batch;
         batch = (batch_t *) zlistx_next (self->batches))
        if (batch->id == id)
            return batch;
    return NULL;
}

static bool
s_retryable (lh_err_t code)
{
    return code == LH_E_UNAVAILABLE || code == LH_E_OVERLOADED || code == LH_E_TIMEOUT ||
           code == LH_E_WORKER_LOST || code == LH_E_RATE_LIMITED;
}

//  A reply: acknowledgements, or the batch back to be sent again
static void
s_reply (lh_appender_t *self, lh_reply_t *reply)
{
    batch_t *batch = s_batch_of (self, lh_reply_id (reply));
    if (!batch)
        return;
    self->inflight--;
    batch->id = 0;
    if (!lh_reply_ok (reply)) {
        lh_err_t code = lh_reply_code (reply);
        if (s_retryable (code)) {
            int backoff = BACKOFF_MIN_MS << (batch->attempts < 6 ? batch->attempts - 1 : 5);
            batch->send_at = zclock_mono () + (backoff < BACKOFF_MAX_MS ? backoff : BACKOFF_MAX_MS);
            return;
        }
        s_batch_fail (self, batch, code, lh_reply_message (reply));
        zlistx_delete (self->batches, batch->handle);
        return;
    }
    const msgpack_object *results = codec_map_get (lh_reply_root (reply), "results");
    bool shaped = results && results->type == MSGPACK_OBJECT_ARRAY &&
                  (int) results->via.array.size == batch->count;
    for (int i = 0; i < batch->count; i++) {
        const msgpack_object *result = shaped ? &results->via.array.ptr[i] : NULL;
        const msgpack_object *seq = result ? codec_map_get (result, "seq") : NULL;
        const msgpack_object *dup = result ? codec_map_get (result, "duplicate") : NULL;
        if (seq && seq->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            s_ack (self, batch->events[i], true, seq->via.u64,
                   dup && dup->type == MSGPACK_OBJECT_BOOLEAN && dup->via.boolean, LH_OK, NULL);
        else
            s_ack (self, batch->events[i], false, 0, false, LH_E_INTERNAL,
                   "the log's reply does not name this event's seq");
    }
    zlistx_delete (self->batches, batch->handle);
}

int
lh_appender_timeout_ms (lh_appender_t *self)
{
    if (zlistx_size (self->acks) > 0)
        return 0;
    int64_t now = zclock_mono (), wake = INT64_MAX;
    if (zlistx_size (self->queue) > 0 && self->inflight < self->max_inflight)
        wake = self->first_at + self->linger_ms;
    for (batch_t *batch = (batch_t *) zlistx_first (self->batches); batch;
         batch = (batch_t *) zlistx_next (self->batches))
        if (!batch->id && batch->send_at < wake)
            wake = batch->send_at;
    //  The client's own deadlines come back through lh_client_recv
    if (self->inflight > 0) {
        int64_t client_wake = now + 50;
        if (client_wake < wake)
            wake = client_wake;
    }
    if (wake == INT64_MAX)
        return -1;
    return wake > now ? (int) (wake - now) : 0;
}

bool
lh_appender_next (lh_appender_t *self, int timeout_ms, lh_ack_t *ack)
{
    int64_t until = timeout_ms < 0 ? INT64_MAX : zclock_mono () + timeout_ms;
    while (true) {
        s_pump (self, false);
        lh_reply_t *reply;
        while ((reply = lh_client_recv (self->client, 0))) {
            s_reply (self, reply);
            lh_reply_destroy (&reply);
        }
        lh_ack_t *ready = (lh_ack_t *) zlistx_first (self->acks);
        if (ready) {
            *ack = *ready;
            zlistx_delete (self->acks, zlistx_cursor (self->acks));
            return true;
        }
        int64_t now = zclock_mono ();
        if (now >= until || (timeout_ms < 0 && self->outstanding == 0) || zsys_interrupted)
            return false;
        int wait = lh_appender_timeout_ms (self);
        int64_t left = until - now;
        if (wait < 0 || wait > left)
            wait = left > INT32_MAX ? INT32_MAX : (int) left;
        //  One reply, or the wait: then round again for timers and acks
        reply = lh_client_recv (self->client, wait);
        if (reply) {
            s_reply (self, reply);
            lh_reply_destroy (&reply);
        }
    }
}

size_t
lh_appender_outstanding (lh_appender_t *self)
{
    return self->outstanding;
}

int
lh_appender_fd (lh_appender_t *self)
{
    return lh_client_fd (self->client);
}

uint64_t
lh_appender_resends (lh_appender_t *self)
{
    return self->resends;
}
