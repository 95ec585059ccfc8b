/*  spool -- a node's events on their way to the integrity log. See spool.h. */
#include "spool.h"

#include "codec.h"
#include "event.h"
#include "lh_client.h"
#include "lh_log.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

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
    void *handle;                   //  in self->batches
    uint64_t keys[EVENT_MAX_BATCH]; //  its events' keys in the spool file
} batch_t;

//  An event staged in the open write transaction
typedef struct {
    uint64_t key;
    size_t offset, size; //  in self->staged_events
} staged_t;

struct _spool_t {
    lh_client_t *client;
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn; //  the open group, NULL when nothing is staged
    bool sync;
    bool group_failed; //  a put failed: the whole group is refused at commit
    int lock_fd;
    uint64_t next_key;
    codec_buf_t staged_events;
    staged_t *staged;
    size_t staged_count, staged_max;
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
    uint64_t refused_logged;
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

static void
s_update_bytes (spool_t *self)
{
    MDB_envinfo info;
    MDB_stat st;
    if (mdb_env_info (self->env, &info) == 0 && mdb_env_stat (self->env, &st) == 0)
        self->n.bytes = (uint64_t) (info.me_last_pgno + 1) * st.ms_psize;
}

//  Puts a packed event into the batches to send, as the newest.
static void
s_enqueue (spool_t *self, uint64_t key, const void *event, size_t size, int64_t now)
{
    batch_t *batch = (batch_t *) zlistx_last (self->batches);
    if (batch && !batch->closed && batch->events.sbuf.size + size > BATCH_BYTES)
        batch->closed = true;
    if (!batch || batch->closed) {
        batch = (batch_t *) zmalloc (sizeof (batch_t));
        codec_buf_init (&batch->events);
        batch->first_at = now;
        batch->handle = zlistx_add_end (self->batches, batch);
    }
    msgpack_sbuffer_write (&batch->events.sbuf, (const char *) event, size);
    if (batch->count == 0)
        snprintf (batch->first, sizeof (batch->first), "%llu", (unsigned long long) key);
    batch->keys[batch->count++] = key;
    if (batch->count == EVENT_MAX_BATCH)
        batch->closed = true;
    self->n.queued++;
}

//  Every event left in the file, queued again in key order.
static int
s_replay (spool_t *self)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cursor = NULL;
    int rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0)
        rc = mdb_cursor_open (txn, self->dbi, &cursor);
    MDB_val key, val;
    int64_t now = zclock_mono ();
    for (int op = MDB_FIRST; rc == 0 && mdb_cursor_get (cursor, &key, &val, op) == 0;
         op = MDB_NEXT) {
        if (key.mv_size != 8 || val.mv_size + 1024 > BATCH_BYTES)
            continue;
        uint64_t k = codec_get_be64 ((const uint8_t *) key.mv_data);
        s_enqueue (self, k, val.mv_data, val.mv_size, now);
        self->n.replayed++;
        self->next_key = k + 1;
    }
    mdb_cursor_close (cursor);
    mdb_txn_abort (txn);
    return rc;
}

static int
s_env_open (spool_t *self, const char *dir, size_t map_bytes)
{
    char path[PATH_MAX];
    snprintf (path, sizeof (path), "%s/spool.mdb", dir);
    int rc = mdb_env_create (&self->env);
    if (rc == 0)
        rc = mdb_env_set_mapsize (self->env, map_bytes);
    //  NOSYNC: spool_commit syncs once per group itself; NOTLS: one thread.
    //  Not WRITEMAP, though it commits a little faster: a full disk under
    //  a sparse map is a SIGBUS, where pwrite answers ENOSPC
    if (rc == 0)
        rc = mdb_env_open (self->env, path, MDB_NOSUBDIR | MDB_NOSYNC | MDB_NOTLS, 0600);
    MDB_txn *txn = NULL;
    if (rc == 0)
        rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open (txn, NULL, 0, &self->dbi);
    if (rc == 0)
        rc = mdb_txn_commit (txn);
    else if (txn)
        mdb_txn_abort (txn);
    return rc;
}

spool_t *
spool_new (const lh_connect_t *conn, const char *dir, size_t max_events, size_t map_bytes,
           bool sync, char *err, size_t err_size)
{
    if (!conn || !conn->endpoint || !dir || max_events == 0 || sodium_init () < 0) {
        snprintf (err, err_size, "bad spool arguments");
        return NULL;
    }
    if (zsys_dir_create ("%s", dir) != 0 || chmod (dir, 0700) != 0) {
        snprintf (err, err_size, "cannot create the spool directory %s: %s", dir, strerror (errno));
        return NULL;
    }
    char path[PATH_MAX];
    snprintf (path, sizeof (path), "%s/spool.lock", dir);
    int lock_fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd < 0 || flock (lock_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf (err, err_size, "%s %s: %s", lock_fd < 0 ? "cannot open" : "another process uses",
                  dir,
                  lock_fd < 0 ? strerror (errno) : "give each process its own spool directory");
        if (lock_fd >= 0)
            close (lock_fd);
        return NULL;
    }
    spool_t *self = (spool_t *) zmalloc (sizeof (spool_t));
    self->lock_fd = lock_fd;
    self->sync = sync;
    self->batches = zlistx_new ();
    zlistx_set_destructor (self->batches, s_batch_destroy);
    codec_buf_init (&self->staged_events);
    self->max_events = max_events;
    int rc = s_env_open (self, dir, map_bytes);
    if (rc == 0)
        rc = s_replay (self);
    if (rc != 0) {
        snprintf (err, err_size, "cannot open the spool in %s: %s", dir, mdb_strerror (rc));
        spool_destroy (&self);
        return NULL;
    }
    s_update_bytes (self);
    self->client = lh_client_new (conn);
    if (!self->client) {
        snprintf (err, err_size, "cannot connect to %s", conn->endpoint);
        spool_destroy (&self);
        return NULL;
    }
    //  Resends are ours, paced by the backoff; a local timeout is just a failure
    lh_client_set_timeout (self->client, SPOOL_TIMEOUT_MS);
    lh_client_set_retries (self->client, 0);
    uint8_t raw[8];
    randombytes_buf (raw, sizeof (raw));
    sodium_bin2hex (self->instance, sizeof (self->instance), raw, sizeof (raw));
    if (self->n.replayed)
        lh_info ("events from an earlier run to send again", "events=%llu dir=%s",
                 (unsigned long long) self->n.replayed, dir);
    return self;
}

static void
s_group_reset (spool_t *self)
{
    if (self->txn)
        mdb_txn_abort (self->txn);
    self->txn = NULL;
    msgpack_sbuffer_clear (&self->staged_events.sbuf);
    self->staged_count = 0;
    self->group_failed = false;
}

void
spool_destroy (spool_t **self_p)
{
    if (self_p && *self_p) {
        spool_t *self = *self_p;
        s_group_reset (self);
        zlistx_destroy (&self->batches);
        lh_client_destroy (&self->client);
        if (self->env)
            mdb_env_close (self->env);
        codec_buf_destroy (&self->staged_events);
        free (self->staged);
        if (self->lock_fd >= 0)
            close (self->lock_fd);
        free (self);
        *self_p = NULL;
    }
}

const spool_counters_t *
spool_counters (spool_t *self)
{
    return &self->n;
}

size_t
spool_staged (spool_t *self)
{
    return self->staged_count;
}

static void
s_report_refusals (spool_t *self, int64_t now)
{
    if (self->n.refused > self->refused_logged && now >= self->warn_at) {
        lh_error ("spool cannot store events, requests answered with an error",
                  "refused=%llu queued=%llu max=%zu bytes=%llu",
                  (unsigned long long) self->n.refused, (unsigned long long) self->n.queued,
                  self->max_events, (unsigned long long) self->n.bytes);
        self->refused_logged = self->n.refused;
        self->warn_at = now + WARN_MS;
    }
}

static void
s_group_fail (spool_t *self, int rc)
{
    lh_debug ("spool group refused", "error=\"%s\" events=%zu", mdb_strerror (rc),
              self->staged_count);
    self->n.refused += self->staged_count;
    if (self->txn)
        mdb_txn_abort (self->txn);
    self->txn = NULL;
    msgpack_sbuffer_clear (&self->staged_events.sbuf);
    self->staged_count = 0;
    self->group_failed = true;
}

bool
spool_add (spool_t *self, const char *type, const char *agent, const char *causation,
           const void *data, size_t size)
{
    if (self->group_failed || self->n.queued + self->staged_count >= self->max_events) {
        self->n.refused++;
        return false;
    }
    if (size + EVENT_OVERHEAD > BATCH_BYTES) {
        //  The validator keeps its events well under this: a bug, not an outage
        self->n.refused++;
        lh_error ("event too large for the integrity log", "type=%s bytes=%zu", type, size);
        return false;
    }
    uint64_t key = self->next_key + self->staged_count;
    char ref[EVENT_MAX_REF + 1];
    snprintf (ref, sizeof (ref), "%s-%llu", self->instance, (unsigned long long) key);
    //  Without a valid agent id (as the log checks it: a bad one would make it
    //  refuse the whole batch) the event names its appender; data keeps the original
    bool named = agent && codec_name_valid (agent, strlen (agent), LH_MAX_AGENT);
    //  A reference the log would refuse is left out rather than losing the event
    bool caused = causation && event_ref_valid (causation, strlen (causation));
    size_t offset = self->staged_events.sbuf.size;
    msgpack_packer *pk = &self->staged_events.pk;
    msgpack_pack_map (pk, 3 + named + caused);
    codec_pack_kv_str (pk, "type", type);
    if (named)
        codec_pack_kv_str (pk, "agent", agent);
    if (caused)
        codec_pack_kv_str (pk, "causation", causation);
    codec_pack_kv_str (pk, "client_id", ref);
    codec_pack_str (pk, "data");
    msgpack_sbuffer_write (&self->staged_events.sbuf, (const char *) data, size);
    int rc = self->txn ? 0 : mdb_txn_begin (self->env, NULL, 0, &self->txn);
    uint8_t k[8];
    codec_put_be64 (k, key);
    MDB_val mkey = {8, k},
            mval = {self->staged_events.sbuf.size - offset, self->staged_events.sbuf.data + offset};
    if (rc == 0)
        rc = mdb_put (self->txn, self->dbi, &mkey, &mval, MDB_APPEND);
    if (rc != 0) {
        //  MDB_MAP_FULL, ENOSPC, ...: the transaction is dead, and the group with it
        self->n.refused++;
        s_group_fail (self, rc);
        return false;
    }
    if (self->staged_count == self->staged_max) {
        self->staged_max = self->staged_max ? self->staged_max * 2 : 64;
        self->staged = (staged_t *) realloc (self->staged, self->staged_max * sizeof (staged_t));
        assert (self->staged);
    }
    self->staged[self->staged_count++] =
        (staged_t){.key = key, .offset = offset, .size = mval.mv_size};
    return true;
}

bool
spool_commit (spool_t *self)
{
    if (self->group_failed) {
        s_group_reset (self);
        s_report_refusals (self, zclock_mono ());
        return false;
    }
    if (!self->txn)
        return true;
    int rc = mdb_txn_commit (self->txn);
    self->txn = NULL;
    if (rc == 0 && self->sync)
        rc = mdb_env_sync (self->env, 1);
    if (rc != 0) {
        lh_error ("spool commit failed", "error=\"%s\" events=%zu", mdb_strerror (rc),
                  self->staged_count);
        //  Committed but not synced: take them out again, so that what was not
        //  answered is not logged either (best effort)
        MDB_txn *txn = NULL;
        if (mdb_txn_begin (self->env, NULL, 0, &txn) == 0) {
            for (size_t i = 0; i < self->staged_count; i++) {
                uint8_t k[8];
                codec_put_be64 (k, self->staged[i].key);
                MDB_val mkey = {8, k};
                mdb_del (txn, self->dbi, &mkey, NULL);
            }
            if (mdb_txn_commit (txn) != 0)
                lh_warn ("spool: events of a failed commit may be sent at the next start",
                         "events=%zu", self->staged_count);
        }
        s_group_fail (self, rc);
        s_group_reset (self);
        s_report_refusals (self, zclock_mono ());
        return false;
    }
    int64_t now = zclock_mono ();
    for (size_t i = 0; i < self->staged_count; i++)
        s_enqueue (self, self->staged[i].key,
                   self->staged_events.sbuf.data + self->staged[i].offset, self->staged[i].size,
                   now);
    self->n.stored += self->staged_count;
    self->n.commits++;
    self->next_key += self->staged_count;
    msgpack_sbuffer_clear (&self->staged_events.sbuf);
    self->staged_count = 0;
    s_update_bytes (self);
    return true;
}

//  The batch's events leave the spool file (no sync: a deletion lost in a
//  crash only sends them again, and the log answers duplicate).
static void
s_forget (spool_t *self, batch_t *batch)
{
    MDB_txn *txn = self->txn;
    int rc = txn ? 0 : mdb_txn_begin (self->env, NULL, 0, &txn);
    for (size_t i = 0; rc == 0 && i < batch->count; i++) {
        uint8_t k[8];
        codec_put_be64 (k, batch->keys[i]);
        MDB_val mkey = {8, k};
        rc = mdb_del (txn, self->dbi, &mkey, NULL);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    if (txn != self->txn)
        rc = rc == 0 ? mdb_txn_commit (txn) : (mdb_txn_abort (txn), rc);
    else if (rc != 0) {
        //  The open group's transaction died with the deletion
        s_group_fail (self, rc);
        self->group_failed = true;
    }
    if (rc != 0)
        lh_warn ("spool: acknowledged events not removed, they will be sent again",
                 "events=%zu error=\"%s\"", batch->count, mdb_strerror (rc));
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
    s_report_refusals (self, now);
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
    if (self->n.refused > self->refused_logged && self->warn_at < at)
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
