/*  feed -- what the console hears on the brokers' PUB sockets. */
#include "feed.h"

#include "codec.h"
#include "jsonpack.h"
#include "lh_bucket.h"
#include "lh_log.h"

#include <sodium.h>
#include <time.h>

#define TICKS      120  //  seconds of summaries kept
#define ALERTS     50   //  integrity alerts kept
#define SAMPLES    4096 //  latencies sampled per second for its p99
#define FIELD_SIZE 65

//  The four decisions, in the order of the summaries
static const char *s_decisions[] = {"allow", "deny", "escalate", "defer"};

typedef struct {
    uint64_t seq;
    const char *event; //  static: the SSE event name
    char *packed;      //  a decision's notice, msgpack; converted when read
    size_t packed_size;
    char *json; //  the data line, single-line JSON (made on first read)
    char agent[FIELD_SIZE], decision[16], rule[FIELD_SIZE];
} entry_t;

typedef struct {
    json_t *status; //  the replica's last events.read.status
    uint64_t signed_size;
    int64_t heard; //  zclock_mono of the last word from it
} replica_t;

struct _feed_t {
    entry_t *ring;
    size_t ring_size;
    uint64_t head; //  seq of the next entry
    int rate;
    //  The second being counted, and the summaries of those before it
    int64_t second;
    uint64_t counts[4];
    uint32_t samples[SAMPLES];
    size_t sampled, seen;
    json_t *ticks; //  array, oldest first
    zhashx_t *replicas;
    json_t *alerts;
    feed_counters_t n;
};

struct _feed_reader_t {
    feed_t *feed;
    uint64_t cursor;
    char *agent, *decision, *rule;
    char *pending; //  an event being written out
    size_t pending_size, pending_off;
    uint64_t missed;
    bool hello;
    lh_bucket_t bucket; //  decisions it may still be sent
};

static void
s_entry_clear (entry_t *e)
{
    free (e->packed);
    free (e->json);
    memset (e, 0, sizeof (*e));
}

static void
s_replica_destroy (void **item)
{
    replica_t *r = (replica_t *) *item;
    if (r) {
        json_decref (r->status);
        free (r);
        *item = NULL;
    }
}

feed_t *
feed_new (size_t ring, int rate)
{
    feed_t *self = (feed_t *) zmalloc (sizeof (feed_t));
    self->ring_size = ring < 16 ? 16 : ring;
    self->ring = (entry_t *) zmalloc (self->ring_size * sizeof (entry_t));
    self->rate = rate < 1 ? 1 : rate;
    self->second = (int64_t) time (NULL);
    self->ticks = json_array ();
    self->alerts = json_array ();
    self->replicas = zhashx_new ();
    zhashx_set_destructor (self->replicas, s_replica_destroy);
    return self;
}

void
feed_destroy (feed_t **self_p)
{
    feed_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->ring_size; i++)
        s_entry_clear (&self->ring[i]);
    free (self->ring);
    json_decref (self->ticks);
    json_decref (self->alerts);
    zhashx_destroy (&self->replicas);
    free (self);
    *self_p = NULL;
}

static entry_t *
s_push (feed_t *self, const char *event)
{
    entry_t *e = &self->ring[self->head % self->ring_size];
    s_entry_clear (e);
    e->seq = self->head++;
    e->event = event;
    return e;
}

static void
s_push_json (feed_t *self, const char *event, json_t *data)
{
    entry_t *e = s_push (self, event);
    e->json = json_dumps (data, JSON_COMPACT);
}

static void
s_field (const msgpack_object *map, const char *key, char *out, size_t size)
{
    if (!codec_str_copy (codec_map_get (map, key), out, size))
        out[0] = 0;
}

static void
s_decision (feed_t *self, const msgpack_object *notice)
{
    if (notice->type != MSGPACK_OBJECT_MAP)
        return;
    entry_t *e = s_push (self, "decision");
    s_field (notice, "agent", e->agent, sizeof (e->agent));
    s_field (notice, "decision", e->decision, sizeof (e->decision));
    s_field (notice, "rule", e->rule, sizeof (e->rule));
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_object (&pk, *notice);
    e->packed = sbuf.data; //  the entry owns the buffer now
    e->packed_size = sbuf.size;
    self->n.decisions++;

    for (size_t i = 0; i < 4; i++)
        if (streq (e->decision, s_decisions[i]))
            self->counts[i]++;
    const msgpack_object *latency = codec_map_get (notice, "latency_us");
    if (latency && latency->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        uint32_t us = latency->via.u64 > UINT32_MAX ? UINT32_MAX : (uint32_t) latency->via.u64;
        //  Reservoir sampling keeps the p99 of a busy second honest
        self->seen++;
        if (self->sampled < SAMPLES)
            self->samples[self->sampled++] = us;
        else {
            uint32_t at = randombytes_uniform (
                (uint32_t) (self->seen < UINT32_MAX ? self->seen : UINT32_MAX));
            if (at < SAMPLES)
                self->samples[at] = us;
        }
    }
}

static void
s_replica_status (feed_t *self, const msgpack_object *body)
{
    char name[FIELD_SIZE];
    s_field (body, "replica", name, sizeof (name));
    if (!name[0])
        return;
    replica_t *r = (replica_t *) zhashx_lookup (self->replicas, name);
    if (!r) {
        if (zhashx_size (self->replicas) >= 16)
            return; //  a cluster has 3 or 5: anything more is noise
        r = (replica_t *) zmalloc (sizeof (replica_t));
        zhashx_insert (self->replicas, name, r);
    }
    r->heard = zclock_mono ();
    if (codec_map_get (body, "checkpoint")) {
        const msgpack_object *size = codec_map_get (body, "size");
        if (size && size->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            r->signed_size = size->via.u64;
        return;
    }
    json_t *status = jsonpack_to_value (body);
    if (status) {
        json_decref (r->status);
        r->status = status;
    }
}

bool
feed_take (feed_t *self, zmsg_t *msg)
{
    self->n.messages++;
    zframe_t *topic = zmsg_first (msg);
    zframe_t *body = zmsg_next (msg);
    lh_err_t err;
    const char *why;
    codec_doc_t *doc = topic && body
                           ? codec_doc_decode (zframe_data (body), zframe_size (body), &err, &why)
                           : NULL;
    if (!doc) {
        self->n.ignored++;
        return false;
    }
    const msgpack_object *root = codec_doc_root (doc);
    bool known = true;
    if (zframe_streq (topic, "validate.decisions")) {
        const msgpack_object *list = codec_map_get (root, "decisions");
        for (uint32_t i = 0; list && list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size;
             i++)
            s_decision (self, &list->via.array.ptr[i]);
    } else if (zframe_streq (topic, "expert.queue")) {
        json_t *data = jsonpack_to_value (root);
        if (data)
            s_push_json (self, "queue", data);
        json_decref (data);
    } else if (zframe_streq (topic, "events.read.status") ||
               zframe_streq (topic, "events.read.checkpoint"))
        s_replica_status (self, root);
    else if (zframe_streq (topic, "events.read.alert")) {
        json_t *data = jsonpack_to_value (root);
        if (data) {
            s_push_json (self, "alert", data);
            json_array_append_new (self->alerts, data);
            if (json_array_size (self->alerts) > ALERTS)
                json_array_remove (self->alerts, 0);
        }
    } else
        known = false;
    if (!known)
        self->n.ignored++;
    codec_doc_destroy (&doc);
    return known;
}

static int
s_cmp_u32 (const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
    return x < y ? -1 : x > y;
}

bool
feed_tick (feed_t *self)
{
    int64_t now = (int64_t) time (NULL);
    if (now <= self->second)
        return false;
    json_t *tick = json_object ();
    json_object_set_new (tick, "t", json_integer (self->second));
    uint64_t total = 0;
    for (size_t i = 0; i < 4; i++) {
        json_object_set_new (tick, s_decisions[i], json_integer ((json_int_t) self->counts[i]));
        total += self->counts[i];
    }
    uint32_t p99 = 0;
    if (self->sampled) {
        qsort (self->samples, self->sampled, sizeof (uint32_t), s_cmp_u32);
        p99 = self->samples[(self->sampled * 99 + 99) / 100 - 1];
    }
    json_object_set_new (tick, "total", json_integer ((json_int_t) total));
    json_object_set_new (tick, "p99_us", json_integer (p99));
    s_push_json (self, "tick", tick);
    json_array_append_new (self->ticks, tick);
    if (json_array_size (self->ticks) > TICKS)
        json_array_remove (self->ticks, 0);
    memset (self->counts, 0, sizeof (self->counts));
    self->sampled = self->seen = 0;
    self->second = now;
    return true;
}

//  A decision's notice as a JSON value (a new reference), NULL for others
static json_t *
s_entry_value (const entry_t *e)
{
    if (!e->packed)
        return NULL;
    msgpack_unpacked notice;
    msgpack_unpacked_init (&notice);
    json_t *value =
        msgpack_unpack_next (&notice, e->packed, e->packed_size, NULL) == MSGPACK_UNPACK_SUCCESS
            ? jsonpack_to_value (&notice.data)
            : NULL;
    msgpack_unpacked_destroy (&notice);
    return value;
}

//  The data line of an entry, made on first use
static const char *
s_entry_json (entry_t *e)
{
    if (!e->json) {
        json_t *value = s_entry_value (e);
        e->json = value ? json_dumps (value, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref (value);
    }
    return e->json;
}

static bool
s_match (const entry_t *e, const char *agent, const char *decision, const char *rule)
{
    return (!agent || streq (agent, e->agent)) && (!decision || streq (decision, e->decision)) &&
           (!rule || streq (rule, e->rule));
}

json_t *
feed_decisions (feed_t *self, const char *agent, const char *decision, const char *rule,
                size_t limit)
{
    json_t *list = json_array ();
    uint64_t oldest = self->head > self->ring_size ? self->head - self->ring_size : 0;
    //  Newest first, then turned round
    for (uint64_t seq = self->head; seq > oldest && json_array_size (list) < limit; seq--) {
        entry_t *e = &self->ring[(seq - 1) % self->ring_size];
        if (!e->packed || !s_match (e, agent, decision, rule))
            continue;
        json_t *item = s_entry_value (e);
        if (item)
            json_array_insert_new (list, 0, item);
    }
    json_t *reply = json_object ();
    json_object_set_new (reply, "decisions", list);
    return reply;
}

json_t *
feed_rates (feed_t *self)
{
    json_t *reply = json_object ();
    json_object_set (reply, "ticks", self->ticks);
    return reply;
}

json_t *
feed_replicas (feed_t *self)
{
    json_t *list = json_array ();
    int64_t now = zclock_mono ();
    for (replica_t *r = (replica_t *) zhashx_first (self->replicas); r;
         r = (replica_t *) zhashx_next (self->replicas)) {
        json_t *item = r->status ? json_deep_copy (r->status) : json_object ();
        json_object_set_new (item, "replica",
                             json_string ((const char *) zhashx_cursor (self->replicas)));
        json_object_set_new (item, "signed_size", json_integer ((json_int_t) r->signed_size));
        json_object_set_new (item, "age_ms", json_integer (now - r->heard));
        json_array_append_new (list, item);
    }
    return list;
}

json_t *
feed_alerts (feed_t *self)
{
    return json_incref (self->alerts);
}

static char *
s_dup_or_null (const char *text)
{
    return text && *text ? strdup (text) : NULL;
}

feed_reader_t *
feed_reader_new (feed_t *self, const char *agent, const char *decision, const char *rule)
{
    feed_reader_t *reader = (feed_reader_t *) zmalloc (sizeof (feed_reader_t));
    reader->feed = self;
    reader->cursor = self->head;
    reader->agent = s_dup_or_null (agent);
    reader->decision = s_dup_or_null (decision);
    reader->rule = s_dup_or_null (rule);
    lh_bucket_init (&reader->bucket, self->rate, zclock_usecs ());
    return reader;
}

void
feed_reader_destroy (feed_reader_t **self_p)
{
    feed_reader_t *self = *self_p;
    if (!self)
        return;
    free (self->agent);
    free (self->decision);
    free (self->rule);
    free (self->pending);
    free (self);
    *self_p = NULL;
}

static void
s_pending_set (feed_reader_t *self, const char *event, const char *data)
{
    free (self->pending);
    self->pending_size = (size_t) asprintf (&self->pending, "event: %s\ndata: %s\n\n", event, data);
    self->pending_off = 0;
}

//  The next event due to this reader into pending; false when none
static bool
s_next (feed_reader_t *self)
{
    feed_t *feed = self->feed;
    if (!self->hello) {
        self->hello = true;
        s_pending_set (self, "hello", "{}");
        return true;
    }
    if (self->missed) {
        char data[64];
        snprintf (data, sizeof (data), "{\"count\":%llu}", (unsigned long long) self->missed);
        feed->n.dropped += self->missed;
        self->missed = 0;
        s_pending_set (self, "dropped", data);
        return true;
    }
    int64_t now_us = zclock_usecs ();
    uint64_t oldest = feed->head > feed->ring_size ? feed->head - feed->ring_size : 0;
    if (self->cursor < oldest) {
        self->missed += oldest - self->cursor;
        self->cursor = oldest;
    }
    while (self->cursor < feed->head) {
        entry_t *e = &feed->ring[self->cursor++ % feed->ring_size];
        if (e->packed) {
            if (!s_match (e, self->agent, self->decision, self->rule))
                continue;
            if (!lh_bucket_take (&self->bucket, feed->rate, feed->rate, now_us)) {
                self->missed++;
                continue;
            }
        }
        const char *json = s_entry_json (e);
        if (!json)
            continue;
        s_pending_set (self, e->event, json);
        feed->n.sent++;
        return true;
    }
    //  What went over the rate is told at once, not at the next entry
    if (self->missed)
        return s_next (self);
    return false;
}

size_t
feed_reader_fill (feed_reader_t *self, char *buf, size_t size)
{
    size_t written = 0;
    while (written < size) {
        if (!self->pending || self->pending_off == self->pending_size) {
            if (!s_next (self))
                break;
        }
        size_t left = self->pending_size - self->pending_off;
        size_t take = left < size - written ? left : size - written;
        memcpy (buf + written, self->pending + self->pending_off, take);
        self->pending_off += take;
        written += take;
    }
    return written;
}

feed_counters_t
feed_counters (feed_t *self)
{
    return self->n;
}
