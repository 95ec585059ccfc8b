/*  replica -- one lh-integrity replica. See replica.h and EVENTS.md. */
#include "replica.h"

#include "codec.h"
#include "event.h"
#include "lh_client.h"
#include "lh_config.h"
#include "lh_log.h"
#include "lh_worker.h"
#include "merkle.h"
#include "note.h"
#include "store.h"
#include "transport.h"
#include "verify.h"

#include <lmdb.h>
#include <raft.h>
#include <raft/uv.h>
#include <sodium.h>
#include <sys/statvfs.h>
#include <time.h>
#include <uv.h>

#define MAX_PEERS         9
#define TICK_MS           50
#define SYNC_MS           1000
#define PENDING_MAX_BYTES (2 * 1024 * 1024) //  appends waiting for the next entry (one entry)
#define COSIG_PENDING_MAX 4096              //  peer signatures for sizes not applied yet
#define READ_LIMIT_MAX    1000
#define ENTRY_MAX_EVENTS  16384 //  events in one Raft entry, whatever --entry-events says

//  A Raft entry gathers many requests: it is held to its own limits, which
//  what s_on_append lets into one entry stays well inside
static const codec_limits_t s_entry_limits = {
    .max_size = 16 * 1024 * 1024,
    .max_depth = LH_MAX_DEPTH,
    .max_str = LH_MAX_STR,
    .max_key = LH_MAX_KEY,
    .max_items = ENTRY_MAX_EVENTS + EVENT_MAX_BATCH,
};

//  An append request waiting for its entry: events [first, first + count)
typedef struct {
    lh_request_t *request;
    size_t first, count;
} member_t;

//  One Raft entry in flight
typedef struct {
    struct raft_apply req;
    struct _replica_t *self;
    uint64_t generation; //  of the events worker the members came through
    member_t *members;
    size_t nmembers;
} proposal_t;

//  What applying one entry produced, read by the leader's apply callback
typedef struct {
    size_t count;
    uint64_t *seqs;
    bool *dups;
    uint64_t size;
    merkle_hash_t root;
    char *note;
} result_t;

//  A ZeroMQ socket watched by the loop
typedef struct {
    uv_poll_t *poll; //  heap: closing is asynchronous
    int fd;
} watch_t;

typedef struct {
    uint64_t size;
    char *note;
    char peer[NOTE_MAX_NAME + 1];
} cosig_t;

#define REPORTED_MAX 64
typedef struct {
    verify_kind_t kind; //  VERIFY_OK: an empty slot
    uint64_t seq;
    char peer[NOTE_MAX_NAME + 1];
} reported_t;

struct _replica_t {
    zconfig_t *config;
    unsigned id;
    char name[NOTE_MAX_NAME + 1];
    char origin[256];
    char dir[2048];
    uv_loop_t loop;
    transport_t transport;
    struct raft_io io;
    struct raft_fsm fsm;
    struct raft raft;
    struct raft_configuration peers;
    bool raft_started;
    store_t *store;
    note_key_t *signer;
    note_key_t *keys[MAX_PEERS]; //  every replica's verifier key, ours included
    size_t nkeys;
    zcert_t *cert;
    lh_connect_t backend, frontend;
    int capacity;
    //  Services
    lh_worker_t *reader; //  events.read
    lh_worker_t *writer; //  events, while leader
    uint64_t generation; //  bumped every time writer is replaced
    watch_t reader_watch, writer_watch;
    lh_client_t *alerts; //  appends integrity.alert events through the broker
    zsock_t *sub;        //  peers' checkpoint signatures, from the broker's PUB
    //  Group commit
    codec_buf_t pending; //  entry bodies as msgpack bin, back to back
    size_t pending_events;
    member_t *members;
    size_t nmembers, members_alloc;
    uint64_t counter; //  proposals made in this term
    uint64_t counter_term;
    int inflight, max_inflight;
    size_t max_entry_events;
    result_t *last_result;
    //  Peer signatures not yet matched with our own checkpoint
    cosig_t cosigs[COSIG_PENDING_MAX];
    size_t ncosigs;
    //  Timers and signals
    uv_timer_t tick, sync, monitor;
    uv_prepare_t drain;
    uv_check_t propose;
    uv_signal_t sigterm, sigint, sighup;
    uv_work_t monitor_work;
    bool monitor_busy;
    verify_result_t monitor_pass; //  written by the pass in its worker thread
    int64_t monitor_pass_ms;
    int64_t monitor_ms;   //  how long the last full pass took
    int64_t monitor_next; //  no pass before this (monotonic ms)
    uv_work_t sync_work;
    bool sync_busy;
    verify_result_t monitor_result;
    reported_t reported[REPORTED_MAX]; //  alerts already raised
    size_t reported_next;
    int exit_code;
    bool stopping;
    bool failed; //  the store could not apply an entry: stop, replay on restart
    int last_state;
    char *own_note; //  our signature on the latest tree head, published again now and then
    uint64_t own_size;
    unsigned ticks;
    //  Counters (events.read op "status", lh status)
    struct {
        uint64_t appends, appended, duplicates, rejected, entries, applied, apply_errors;
        uint64_t reads, cosigs_sent, cosigs_merged, cosigs_bad, alerts, monitor_runs, clock_clamped;
        uint64_t leader_changes, not_leader;
    } stats;
};

static void s_stop (replica_t *self, int exit_code);
static void s_alert (replica_t *self, verify_kind_t kind, uint64_t seq, const char *peer,
                     const char *detail);

static int64_t
s_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

//  --------------------------------------------------------------------------
//  The state machine

static void
s_result_free (result_t **result_p)
{
    if (*result_p) {
        free ((*result_p)->seqs);
        free ((*result_p)->dups);
        free ((*result_p)->note);
        free (*result_p);
        *result_p = NULL;
    }
}

static void
s_publish_signature (replica_t *self, uint64_t size, const char *note)
{
    if (!self->reader)
        return;
    codec_buf_t buf;
    codec_buf_init (&buf);
    msgpack_pack_map (&buf.pk, 3);
    codec_pack_str (&buf.pk, "replica");
    codec_pack_str (&buf.pk, self->name);
    codec_pack_str (&buf.pk, "size");
    msgpack_pack_uint64 (&buf.pk, size);
    codec_pack_str (&buf.pk, "checkpoint");
    codec_pack_str (&buf.pk, note);
    if (lh_worker_publish (self->reader, "events.read.checkpoint", buf.sbuf.data, buf.sbuf.size) ==
        0)
        self->stats.cosigs_sent++;
    codec_buf_destroy (&buf);
}

//  Applies one entry: {t: term, c: counter, e: [body (bin), ...]}
static int
s_apply (replica_t *self, const void *data, size_t size, result_t **result_p)
{
    //  Entries read back from raft_uv's segments are padded to 8 bytes
    size_t end = 0;
    msgpack_unpacked probe;
    msgpack_unpacked_init (&probe);
    if (msgpack_unpack_next (&probe, (const char *) data, size, &end) == MSGPACK_UNPACK_SUCCESS &&
        size - end < 8) {
        for (size_t i = end; i < size; i++)
            if (((const uint8_t *) data)[i] != 0)
                end = size; //  not padding: let the strict decoder refuse it
    } else
        end = size;
    msgpack_unpacked_destroy (&probe);
    lh_err_t err;
    const char *why;
    codec_doc_t *doc = codec_doc_decode_limits (data, end, &s_entry_limits, &err, &why);
    const msgpack_object *root = doc ? codec_doc_root (doc) : NULL;
    const msgpack_object *t = codec_map_get (root, "t"), *c = codec_map_get (root, "c");
    const msgpack_object *e = codec_map_get (root, "e");
    if (!t || t->type != MSGPACK_OBJECT_POSITIVE_INTEGER || !c ||
        c->type != MSGPACK_OBJECT_POSITIVE_INTEGER || !e || e->type != MSGPACK_OBJECT_ARRAY) {
        char head[33] = "";
        sodium_bin2hex (head, sizeof (head), (const uint8_t *) data, size < 16 ? size : 16);
        lh_error ("malformed Raft entry", "error=\"%s\" bytes=%zu head=%s",
                  doc ? "missing fields" : why, size, head);
        codec_doc_destroy (&doc);
        return RAFT_MALFORMED;
    }
    store_mark_t mark = {t->via.u64, c->via.u64}, last = store_mark (self->store);
    if (mark.term < last.term || (mark.term == last.term && mark.counter <= last.counter)) {
        //  Replayed after a restart: the store already has it
        codec_doc_destroy (&doc);
        return 0;
    }
    size_t count = e->via.array.size;
    result_t *result = (result_t *) calloc (1, sizeof (result_t));
    result->count = count;
    result->seqs = (uint64_t *) calloc (count ? count : 1, sizeof (uint64_t));
    result->dups = (bool *) calloc (count ? count : 1, sizeof (bool));
    int rc = store_begin (self->store);
    msgpack_sbuffer leaf;
    msgpack_sbuffer_init (&leaf);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        const msgpack_object *body = &e->via.array.ptr[i];
        if (body->type != MSGPACK_OBJECT_BIN) {
            rc = RAFT_MALFORMED;
            break;
        }
        uint64_t seq = store_txn_size (self->store);
        msgpack_sbuffer_clear (&leaf);
        event_t ev;
        codec_doc_t *evdoc = NULL;
        char evwhy[128];
        if (event_leaf (body->via.bin.ptr, body->via.bin.size, seq, &leaf) != 0 ||
            event_decode (leaf.data, leaf.size, &ev, &evdoc, evwhy, sizeof (evwhy)) != LH_OK) {
            lh_error ("malformed event in Raft entry", "index=%zu", i);
            rc = RAFT_MALFORMED;
            break;
        }
        //  A new leader's clock may be behind the last one's: time never goes
        //  back along the log, so such an event takes the latest time (the
        //  same on every replica, since all apply the same entries in order)
        if (ev.ts < store_txn_last_ts (self->store)) {
            ev.ts = store_txn_last_ts (self->store);
            codec_buf_t again;
            codec_buf_init (&again);
            event_pack_body (&again.pk, &ev);
            msgpack_sbuffer_clear (&leaf);
            event_leaf (again.sbuf.data, again.sbuf.size, seq, &leaf);
            codec_buf_destroy (&again);
            self->stats.clock_clamped++;
        }
        uint64_t earlier;
        if (ev.client_id[0] && store_dedup_find (self->store, ev.by, ev.client_id, &earlier)) {
            result->seqs[i] = earlier;
            result->dups[i] = true;
            self->stats.duplicates++;
        } else
            rc = store_append (self->store, leaf.data, leaf.size, &ev, &result->seqs[i]);
        codec_doc_destroy (&evdoc);
    }
    msgpack_sbuffer_destroy (&leaf);
    codec_doc_destroy (&doc);
    char *body = NULL, *line = NULL;
    if (rc == 0) {
        result->size = store_txn_size (self->store);
        rc = store_txn_root (self->store, result->root);
    }
    if (rc == 0) {
        body = note_checkpoint_body (self->origin, result->size, result->root);
        line = body ? note_sign_line (self->signer, body) : NULL;
        result->note = line ? note_assemble (body, (const char **) &line, 1) : NULL;
        rc = result->note ? store_put_checkpoint (self->store, result->size, result->note) : EINVAL;
    }
    free (body);
    free (line);
    if (rc == 0)
        rc = store_commit (self->store, mark);
    else
        store_abort (self->store);
    if (rc != 0) {
        s_result_free (&result);
        return rc;
    }
    self->stats.applied += count;
    self->stats.entries++;
    s_publish_signature (self, result->size, result->note);
    free (self->own_note);
    self->own_note = strdup (result->note);
    self->own_size = result->size;
    *result_p = result;
    return 0;
}

static int
s_fsm_apply (struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    replica_t *self = (replica_t *) fsm->data;
    *result = NULL;
    //  A replica that failed once applies nothing more: skipping an entry would fork its log
    if (self->failed)
        return RAFT_IOERR;
    //  Followers never claim their results
    s_result_free (&self->last_result);
    int rc = s_apply (self, buf->base, buf->len, &self->last_result);
    if (rc != 0) {
        self->failed = true;
        self->stats.apply_errors++;
        //  LMDB reports a write the full disk cut short as EIO: say how full it is
        struct statvfs fs;
        unsigned long long free_bytes =
            statvfs (self->dir, &fs) == 0 ? (unsigned long long) fs.f_bavail * fs.f_frsize : 0;
        lh_error ("cannot apply a committed entry; stopping (it is replayed on restart)",
                  "error=\"%s\" size=%llu dir=%s free_bytes=%llu",
                  rc == RAFT_MALFORMED ? "malformed entry" : mdb_strerror (rc),
                  (unsigned long long) store_size (self->store), self->dir, free_bytes);
        //  Not from inside libraft's apply loop: the next tick stops the replica
        self->exit_code = 75;
        return RAFT_IOERR;
    }
    *result = self->last_result;
    return 0;
}

static int
s_fsm_snapshot (struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    replica_t *self = (replica_t *) fsm->data;
    void *data = NULL;
    size_t size = 0;
    store_sync (self->store);
    if (store_snapshot (self->store, raft_malloc, &data, &size) != 0) {
        raft_free (data);
        return RAFT_IOERR;
    }
    *bufs = (struct raft_buffer *) raft_malloc (sizeof (struct raft_buffer));
    (*bufs)[0].base = data;
    (*bufs)[0].len = size;
    *n_bufs = 1;
    lh_info ("snapshot taken", "bytes=%zu size=%llu", size,
             (unsigned long long) store_size (self->store));
    return 0;
}

static int
s_fsm_snapshot_finalize (struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    (void) fsm;
    for (unsigned i = 0; i < *n_bufs; i++)
        raft_free ((*bufs)[i].base);
    raft_free (*bufs);
    *bufs = NULL;
    *n_bufs = 0;
    return 0;
}

static int
s_fsm_restore (struct raft_fsm *fsm, struct raft_buffer *buf)
{
    replica_t *self = (replica_t *) fsm->data;
    char err[512];
    int rc = store_restore (self->store, buf->base, buf->len, err, sizeof (err));
    raft_free (buf->base);
    if (rc != 0) {
        lh_error ("cannot restore a snapshot", "error=\"%s\"", err);
        return RAFT_IOERR;
    }
    lh_info ("snapshot restored", "size=%llu", (unsigned long long) store_size (self->store));
    return 0;
}

//  --------------------------------------------------------------------------
//  events (leader): appends and group commit

static void
s_reply_append (replica_t *self, lh_request_t **request_p, const result_t *result, size_t first,
                size_t count)
{
    codec_buf_t buf;
    codec_buf_init (&buf);
    codec_pack_ok_head (&buf.pk, lh_request_id (*request_p), 4);
    codec_pack_str (&buf.pk, "results");
    msgpack_pack_array (&buf.pk, count);
    for (size_t i = first; i < first + count; i++) {
        msgpack_pack_map (&buf.pk, 2);
        codec_pack_str (&buf.pk, "seq");
        msgpack_pack_uint64 (&buf.pk, result->seqs[i]);
        codec_pack_str (&buf.pk, "duplicate");
        if (result->dups[i])
            msgpack_pack_true (&buf.pk);
        else
            msgpack_pack_false (&buf.pk);
    }
    codec_pack_str (&buf.pk, "size");
    msgpack_pack_uint64 (&buf.pk, result->size);
    codec_pack_str (&buf.pk, "root");
    msgpack_pack_bin (&buf.pk, MERKLE_HASH_SIZE);
    msgpack_pack_bin_body (&buf.pk, result->root, MERKLE_HASH_SIZE);
    codec_pack_str (&buf.pk, "checkpoint");
    codec_pack_str (&buf.pk, result->note);
    lh_worker_reply (self->writer, request_p, buf.sbuf.data, buf.sbuf.size);
    codec_buf_destroy (&buf);
}

static void
s_apply_cb (struct raft_apply *req, int status, void *arg)
{
    proposal_t *proposal = (proposal_t *) req->data;
    replica_t *self = proposal->self;
    result_t *result = (result_t *) arg;
    if (result && result == self->last_result)
        self->last_result = NULL; //  ours now
    self->inflight--;
    bool live = self->writer && proposal->generation == self->generation;
    for (size_t i = 0; i < proposal->nmembers; i++) {
        member_t *member = &proposal->members[i];
        if (!live)
            lh_request_destroy (&member->request);
        else if (status == 0 && result && member->first + member->count <= result->count)
            s_reply_append (self, &member->request, result, member->first, member->count);
        else
            //  Leadership lost: the entry may still commit, so a retry must reuse its client ids
            lh_worker_reply_error (self->writer, &member->request, LH_E_UNAVAILABLE,
                                   status == RAFT_LEADERSHIPLOST
                                       ? "leadership lost before the append was committed; "
                                         "retry with the same client ids"
                                       : raft_strerror (status));
    }
    s_result_free (&result);
    free (proposal->members);
    free (proposal);
}

//  Sends what has gathered since the last proposal as one entry.
static void
s_propose (replica_t *self)
{
    if (!self->nmembers || self->inflight >= self->max_inflight || !self->writer)
        return;
    if (raft_state (&self->raft) != RAFT_LEADER)
        return;
    if (self->counter_term != self->raft.current_term) {
        self->counter_term = self->raft.current_term;
        self->counter = 0;
    }
    codec_buf_t entry;
    codec_buf_init (&entry);
    msgpack_pack_map (&entry.pk, 3);
    codec_pack_str (&entry.pk, "t");
    msgpack_pack_uint64 (&entry.pk, self->counter_term);
    codec_pack_str (&entry.pk, "c");
    msgpack_pack_uint64 (&entry.pk, ++self->counter);
    codec_pack_str (&entry.pk, "e");
    msgpack_pack_array (&entry.pk, self->pending_events);
    msgpack_sbuffer_write (&entry.sbuf, self->pending.sbuf.data, self->pending.sbuf.size);
    //  A whole number of 8-byte words: raft_uv reads back entries of other
    //  lengths from the wrong offset (libraft 0.15); s_apply skips the zeros
    size_t len = (entry.sbuf.size + 7) & ~(size_t) 7;
    struct raft_buffer buf = {.base = raft_calloc (1, len), .len = len};
    memcpy (buf.base, entry.sbuf.data, entry.sbuf.size);
    codec_buf_destroy (&entry);

    proposal_t *proposal = (proposal_t *) calloc (1, sizeof (proposal_t));
    proposal->self = self;
    proposal->generation = self->generation;
    proposal->members = self->members;
    proposal->nmembers = self->nmembers;
    proposal->req.data = proposal;
    self->members = NULL;
    self->nmembers = self->members_alloc = 0;
    self->pending_events = 0;
    msgpack_sbuffer_clear (&self->pending.sbuf);
    int rc = raft_apply (&self->raft, &proposal->req, &buf, 1, s_apply_cb);
    if (rc != 0) {
        raft_free (buf.base);
        for (size_t i = 0; i < proposal->nmembers; i++)
            lh_worker_reply_error (self->writer, &proposal->members[i].request, LH_E_UNAVAILABLE,
                                   raft_strerror (rc));
        free (proposal->members);
        free (proposal);
        return;
    }
    self->inflight++;
}

static void
s_on_append (replica_t *self, lh_request_t *request)
{
    const msgpack_object *body = lh_request_body (request);
    const msgpack_object *events = codec_map_get (body, "events");
    char why[256];
    self->stats.appends++;
    if (!codec_str_eq (codec_map_get (body, "op"), "append")) {
        self->stats.rejected++;
        lh_worker_reply_error (self->writer, &request, LH_E_BAD_REQUEST,
                               "op must be \"append\" (reads go to events.read)");
        return;
    }
    if (!events || events->type != MSGPACK_OBJECT_ARRAY || events->via.array.size == 0) {
        self->stats.rejected++;
        lh_worker_reply_error (self->writer, &request, LH_E_BAD_REQUEST,
                               "field 'events' must be a non-empty array");
        return;
    }
    if (events->via.array.size > EVENT_MAX_BATCH) {
        self->stats.rejected++;
        snprintf (why, sizeof (why), "at most %d events per append", EVENT_MAX_BATCH);
        lh_worker_reply_error (self->writer, &request, LH_E_TOO_LARGE, why);
        return;
    }
    if (self->pending.sbuf.size > PENDING_MAX_BYTES ||
        self->pending_events + events->via.array.size > ENTRY_MAX_EVENTS) {
        self->stats.rejected++;
        lh_worker_reply_error (self->writer, &request, LH_E_OVERLOADED,
                               "too many appends waiting for the log; retry");
        return;
    }
    //  All or nothing: a bad event drops the request's earlier ones too
    size_t mark = self->pending.sbuf.size;
    codec_buf_t scratch;
    codec_buf_init (&scratch);
    int64_t now = s_now_ns ();
    lh_err_t err = LH_OK;
    for (uint32_t i = 0; i < events->via.array.size && err == LH_OK; i++) {
        event_t ev;
        char reason[200];
        err = event_check (&events->via.array.ptr[i], lh_request_agent (request),
                           lh_request_role (request), &ev, reason, sizeof (reason));
        if (err != LH_OK) {
            //  The index first, so that a program can tell which event was refused
            snprintf (why, sizeof (why), "event %u: %s", i, reason);
            break;
        }
        ev.ts = now;
        msgpack_sbuffer_clear (&scratch.sbuf);
        if (event_pack_body (&scratch.pk, &ev) > EVENT_MAX_DATA) {
            snprintf (why, sizeof (why), "event %u: data is over %d bytes", i, EVENT_MAX_DATA);
            err = LH_E_TOO_LARGE;
            break;
        }
        msgpack_pack_bin (&self->pending.pk, scratch.sbuf.size);
        msgpack_pack_bin_body (&self->pending.pk, scratch.sbuf.data, scratch.sbuf.size);
    }
    codec_buf_destroy (&scratch);
    if (err != LH_OK) {
        self->pending.sbuf.size = mark;
        self->stats.rejected++;
        lh_warn ("append refused", "agent=%s role=%s error=%s why=\"%s\"",
                 lh_request_agent (request), lh_request_role (request), codec_err_name (err), why);
        lh_worker_reply_error (self->writer, &request, err, why);
        return;
    }
    if (self->nmembers == self->members_alloc) {
        self->members_alloc = self->members_alloc ? self->members_alloc * 2 : 64;
        self->members =
            (member_t *) realloc (self->members, self->members_alloc * sizeof (member_t));
    }
    self->members[self->nmembers++] =
        (member_t){request, self->pending_events, events->via.array.size};
    self->pending_events += events->via.array.size;
    self->stats.appended += events->via.array.size;
    if (self->pending_events >= self->max_entry_events)
        s_propose (self);
}

//  Refuses what has not been proposed yet (leadership is gone).
static void
s_drop_pending (replica_t *self, const char *why)
{
    for (size_t i = 0; i < self->nmembers; i++)
        lh_worker_reply_error (self->writer, &self->members[i].request, LH_E_UNAVAILABLE, why);
    free (self->members);
    self->members = NULL;
    self->nmembers = self->members_alloc = 0;
    self->pending_events = 0;
    msgpack_sbuffer_clear (&self->pending.sbuf);
}

//  --------------------------------------------------------------------------
//  events.read (every replica)

static void
s_pack_leaf_item (msgpack_packer *pk, const void *leaf, size_t size)
{
    //  Leaves are msgpack maps already: embed them as they are stored
    msgpack_sbuffer_write ((msgpack_sbuffer *) pk->data, (const char *) leaf, size);
}

typedef struct {
    codec_buf_t items;
    size_t count;
    uint64_t last;
    bool raw;
    bool full; //  the next event would take the reply past LH_MAX_BODY
} s_list_t;

//  Room left in a reply for events: the rest of the map is small
#define REPLY_EVENTS_MAX (LH_MAX_BODY - 64 * 1024)

static bool
s_collect (void *arg, uint64_t seq, const void *leaf, size_t size)
{
    s_list_t *list = (s_list_t *) arg;
    //  One event always fits (a leaf is far smaller than a body); more stop
    //  where the broker would refuse the reply, and "next" says where to go on
    if (list->count && list->items.sbuf.size + size + 8 > REPLY_EVENTS_MAX) {
        list->full = true;
        return false;
    }
    if (list->raw) {
        //  The exact bytes the tree hashed, for exports and proofs
        msgpack_pack_bin (&list->items.pk, size);
        msgpack_pack_bin_body (&list->items.pk, leaf, size);
    } else
        s_pack_leaf_item (&list->items.pk, leaf, size);
    list->count++;
    list->last = seq;
    return true;
}

static void
s_pack_hash_list (msgpack_packer *pk, merkle_hash_t *hashes, size_t count)
{
    msgpack_pack_array (pk, count);
    for (size_t i = 0; i < count; i++) {
        msgpack_pack_bin (pk, MERKLE_HASH_SIZE);
        msgpack_pack_bin_body (pk, hashes[i], MERKLE_HASH_SIZE);
    }
}

static void
s_pack_bin (msgpack_packer *pk, const char *key, const void *data, size_t size)
{
    codec_pack_str (pk, key);
    msgpack_pack_bin (pk, size);
    msgpack_pack_bin_body (pk, data, size);
}

static void
s_pack_u64 (msgpack_packer *pk, const char *key, uint64_t value)
{
    codec_pack_str (pk, key);
    msgpack_pack_uint64 (pk, value);
}

static const char *
s_state_name (int state)
{
    return state == RAFT_LEADER      ? "leader"
           : state == RAFT_FOLLOWER  ? "follower"
           : state == RAFT_CANDIDATE ? "candidate"
                                     : "unavailable";
}

#define STATUS_PAIRS 12
//  The status map's pairs, without a header
static void
s_pack_status (replica_t *self, msgpack_packer *pk)
{
    raft_id leader_id = 0;
    const char *leader_address = NULL;
    raft_leader (&self->raft, &leader_id, &leader_address);
    merkle_hash_t root;
    uint64_t size = store_size (self->store);
    store_root (self->store, size, root);
    codec_pack_str (pk, "replica");
    codec_pack_str (pk, self->name);
    s_pack_u64 (pk, "replica_id", self->id);
    codec_pack_str (pk, "state");
    codec_pack_str (pk, s_state_name (raft_state (&self->raft)));
    s_pack_u64 (pk, "leader", leader_id);
    s_pack_u64 (pk, "term", self->raft.current_term);
    s_pack_u64 (pk, "commit_index", self->raft.commit_index);
    s_pack_u64 (pk, "applied_index", raft_last_applied (&self->raft));
    s_pack_u64 (pk, "size", size);
    s_pack_bin (pk, "root", root, MERKLE_HASH_SIZE);
    codec_pack_str (pk, "origin");
    codec_pack_str (pk, self->origin);
    codec_pack_str (pk, "monitor");
    msgpack_pack_map (pk, 4);
    s_pack_u64 (pk, "last_pass_ms", (uint64_t) self->monitor_ms);
    codec_pack_str (pk, "status");
    codec_pack_str (pk, verify_kind_name (self->monitor_result.kind));
    s_pack_u64 (pk, "seq", self->monitor_result.seq);
    s_pack_u64 (pk, "leaves", self->monitor_result.leaves);
    codec_pack_str (pk, "counters");
    struct {
        const char *name;
        uint64_t value;
    } counters[] = {
        {"appends", self->stats.appends},
        {"events_appended", self->stats.appended},
        {"appends_rejected", self->stats.rejected},
        {"entries_applied", self->stats.entries},
        {"events_applied", self->stats.applied},
        {"duplicates", self->stats.duplicates},
        {"apply_errors", self->stats.apply_errors},
        {"reads", self->stats.reads},
        {"signatures_sent", self->stats.cosigs_sent},
        {"signatures_merged", self->stats.cosigs_merged},
        {"signatures_bad", self->stats.cosigs_bad},
        {"alerts", self->stats.alerts},
        {"monitor_runs", self->stats.monitor_runs},
        {"times_clamped", self->stats.clock_clamped},
        {"leader_changes", self->stats.leader_changes},
        {"inflight_entries", (uint64_t) self->inflight},
    };
    size_t n = sizeof (counters) / sizeof (counters[0]);
    msgpack_pack_map (pk, n);
    for (size_t i = 0; i < n; i++)
        s_pack_u64 (pk, counters[i].name, counters[i].value);
}

//  Packs the reply to one read op into buf; returns LH_OK or an error with why.
static lh_err_t
s_read (replica_t *self, const msgpack_object *body, codec_buf_t *buf, char *why, size_t why_size)
{
    const msgpack_object *id = codec_map_get (body, "id");
    const char *op;
    size_t op_len;
    lh_err_t rc = codec_get_str (body, "op", true, 32, &op, &op_len, why, why_size);
    if (rc != LH_OK)
        return rc;
    uint64_t size = store_size (self->store);
    int64_t a = 0, b = 0, limit = 100;
#define OP(name) (op_len == strlen (name) && memcmp (op, name, op_len) == 0)
    if (OP ("get")) {
        bool raw = false;
        rc = codec_get_int (body, "seq", true, 0, INT64_MAX, &a, why, why_size);
        if (rc == LH_OK)
            rc = codec_get_bool (body, "raw", false, &raw, why, why_size);
        if (rc != LH_OK)
            return rc;
        void *leaf;
        size_t leaf_size;
        if (store_get (self->store, (uint64_t) a, &leaf, &leaf_size) != 0) {
            snprintf (why, why_size, "no event %lld (log size %llu)", (long long) a,
                      (unsigned long long) size);
            return LH_E_NOT_FOUND;
        }
        codec_pack_ok_head (&buf->pk, id, 1);
        codec_pack_str (&buf->pk, "event");
        if (raw) {
            msgpack_pack_bin (&buf->pk, leaf_size);
            msgpack_pack_bin_body (&buf->pk, leaf, leaf_size);
        } else
            s_pack_leaf_item (&buf->pk, leaf, leaf_size);
        free (leaf);
        return LH_OK;
    }
    if (OP ("range") || OP ("query")) {
        store_filter_t filter = {.type = -1, .from_start = true};
        char agent[LH_MAX_AGENT + 1];
        rc = codec_get_int (body, "limit", false, 1, READ_LIMIT_MAX, &limit, why, why_size);
        if (rc == LH_OK && OP ("range")) {
            a = 0;
            b = (int64_t) size;
            rc = codec_get_int (body, "from", true, 0, INT64_MAX, &a, why, why_size);
            if (rc == LH_OK)
                rc = codec_get_int (body, "to", false, 0, INT64_MAX, &b, why, why_size);
            if (rc == LH_OK && a > 0) {
                filter.from_start = false;
                filter.after = (uint64_t) a - 1;
            }
            if (b < a)
                b = a;
            if (b - a < limit)
                limit = b - a;
        } else if (rc == LH_OK) {
            const char *text;
            size_t len;
            int64_t after = -1;
            if (codec_map_get (body, "agent")) {
                rc = codec_get_str (body, "agent", false, LH_MAX_AGENT, &text, &len, why, why_size);
                if (rc == LH_OK) {
                    memcpy (agent, text, len);
                    agent[len] = 0;
                    filter.agent = agent;
                }
            }
            if (rc == LH_OK && codec_map_get (body, "type")) {
                rc = codec_get_str (body, "type", false, 64, &text, &len, why, why_size);
                if (rc == LH_OK && (filter.type = event_type_parse (text, len)) < 0) {
                    snprintf (why, why_size, "unknown event type");
                    rc = LH_E_BAD_REQUEST;
                }
            }
            if (rc == LH_OK)
                rc = codec_get_int (body, "since", false, 0, INT64_MAX, &filter.since, why,
                                    why_size);
            if (rc == LH_OK)
                rc = codec_get_int (body, "until", false, 0, INT64_MAX, &filter.until, why,
                                    why_size);
            if (rc == LH_OK)
                rc = codec_get_int (body, "after", false, 0, INT64_MAX, &after, why, why_size);
            if (after >= 0) {
                filter.from_start = false;
                filter.after = (uint64_t) after;
            }
        }
        if (rc != LH_OK)
            return rc;
        s_list_t list = {.count = 0};
        rc = codec_get_bool (body, "raw", false, &list.raw, why, why_size);
        if (rc != LH_OK)
            return rc;
        codec_buf_init (&list.items);
        if (limit > 0)
            store_query (self->store, &filter, (size_t) limit, s_collect, &list);
        codec_pack_ok_head (&buf->pk, id, 3);
        codec_pack_str (&buf->pk, "events");
        msgpack_pack_array (&buf->pk, list.count);
        msgpack_sbuffer_write (&buf->sbuf, list.items.sbuf.data, list.items.sbuf.size);
        codec_buf_destroy (&list.items);
        s_pack_u64 (&buf->pk, "size", size);
        //  Where to continue: pass it back as "after" (query) or "from" (range);
        //  nil once a range has reached its end or the end of the log
        bool more = (list.count == (size_t) limit || list.full) && limit > 0;
        if (more && OP ("range"))
            more = list.last + 1 < (uint64_t) b && list.last + 1 < size;
        codec_pack_str (&buf->pk, "next");
        if (more)
            msgpack_pack_uint64 (&buf->pk, OP ("range") ? list.last + 1 : list.last);
        else
            msgpack_pack_nil (&buf->pk);
        return LH_OK;
    }
    if (OP ("checkpoint")) {
        rc = codec_get_int (body, "size", false, 0, INT64_MAX, &a, why, why_size);
        char *note = NULL;
        uint64_t at;
        if (rc == LH_OK && store_checkpoint (self->store, (uint64_t) a, &note, &at) != 0) {
            snprintf (why, why_size, a ? "no checkpoint for that size" : "the log is empty");
            return LH_E_NOT_FOUND;
        }
        if (rc != LH_OK)
            return rc;
        codec_pack_ok_head (&buf->pk, id, 2);
        codec_pack_str (&buf->pk, "checkpoint");
        codec_pack_str (&buf->pk, note);
        s_pack_u64 (&buf->pk, "size", at);
        free (note);
        return LH_OK;
    }
    if (OP ("proof") || OP ("consistency")) {
        //  Proofs are against a signed checkpoint: the latest unless one is named
        bool inclusion = OP ("proof");
        rc = codec_get_int (body, inclusion ? "seq" : "old", true, inclusion ? 0 : 1, INT64_MAX, &a,
                            why, why_size);
        if (rc == LH_OK)
            rc = codec_get_int (body, inclusion ? "size" : "new", false, 1, INT64_MAX, &b, why,
                                why_size);
        if (rc != LH_OK)
            return rc;
        char *note = NULL;
        uint64_t at;
        if (store_checkpoint (self->store, (uint64_t) b, &note, &at) != 0) {
            snprintf (why, why_size, "no checkpoint for size %lld", (long long) b);
            return LH_E_NOT_FOUND;
        }
        merkle_hash_t proof[MERKLE_MAX_PROOF], leaf_hash, old_root;
        size_t count = 0;
        int prc = inclusion ? store_inclusion (self->store, (uint64_t) a, at, proof, &count)
                            : store_consistency (self->store, (uint64_t) a, at, proof, &count);
        if (prc == 0 && inclusion)
            prc = store_leaf_hash (self->store, (uint64_t) a, leaf_hash);
        if (prc == 0 && !inclusion)
            prc = store_root (self->store, (uint64_t) a, old_root);
        if (prc != 0) {
            free (note);
            snprintf (why, why_size, "no proof for %lld in a tree of size %llu", (long long) a,
                      (unsigned long long) at);
            return LH_E_NOT_FOUND;
        }
        codec_pack_ok_head (&buf->pk, id, 5);
        s_pack_u64 (&buf->pk, inclusion ? "seq" : "old", (uint64_t) a);
        s_pack_u64 (&buf->pk, inclusion ? "size" : "new", at);
        if (inclusion)
            s_pack_bin (&buf->pk, "leaf_hash", leaf_hash, MERKLE_HASH_SIZE);
        else
            s_pack_bin (&buf->pk, "old_root", old_root, MERKLE_HASH_SIZE);
        codec_pack_str (&buf->pk, "proof");
        s_pack_hash_list (&buf->pk, proof, count);
        codec_pack_str (&buf->pk, "checkpoint");
        codec_pack_str (&buf->pk, note);
        free (note);
        return LH_OK;
    }
    if (OP ("status")) {
        codec_pack_ok_head (&buf->pk, id, 1);
        codec_pack_str (&buf->pk, "status");
        msgpack_pack_map (&buf->pk, STATUS_PAIRS);
        s_pack_status (self, &buf->pk);
        return LH_OK;
    }
    if (OP ("stats")) {
        //  The shape every node answers for lh status: counters at the top
        codec_pack_ok_head (&buf->pk, id, STATUS_PAIRS);
        s_pack_status (self, &buf->pk);
        return LH_OK;
    }
#undef OP
    snprintf (why, why_size,
              "unknown op '%.*s' (get, range, query, checkpoint, proof, "
              "consistency, status, stats)",
              (int) (op_len > 32 ? 32 : op_len), op);
    return LH_E_BAD_REQUEST;
}

static void
s_on_read (replica_t *self, lh_request_t *request)
{
    self->stats.reads++;
    codec_buf_t buf;
    codec_buf_init (&buf);
    char why[256] = "";
    lh_err_t rc = s_read (self, lh_request_body (request), &buf, why, sizeof (why));
    if (rc == LH_OK)
        lh_worker_reply (self->reader, &request, buf.sbuf.data, buf.sbuf.size);
    else
        lh_worker_reply_error (self->reader, &request, rc, why);
    codec_buf_destroy (&buf);
}

//  --------------------------------------------------------------------------
//  Peer signatures

//  Notes merged in this round, by size, written in one transaction
typedef struct {
    uint64_t sizes[COSIG_PENDING_MAX];
    char *notes[COSIG_PENDING_MAX];
    size_t count;
} merged_t;

//  Our note for a size: one merged earlier in this round, or the stored one
static char *
s_our_note (replica_t *self, merged_t *merged, uint64_t size, size_t *slot)
{
    for (size_t i = 0; i < merged->count; i++)
        if (merged->sizes[i] == size) {
            *slot = i;
            return strdup (merged->notes[i]);
        }
    char *note = NULL;
    uint64_t at;
    *slot = merged->count;
    return store_checkpoint (self->store, size, &note, &at) == 0 ? note : NULL;
}

static void
s_merge_signature (replica_t *self, cosig_t *cosig, merged_t *merged)
{
    size_t slot;
    char *mine = s_our_note (self, merged, cosig->size, &slot);
    if (!mine)
        return;
    //  One verification: the peer's line over its text. Ours needs none here
    char *their_body = NULL, *my_body = NULL;
    int valid = note_verify (cosig->note, self->keys, self->nkeys, NULL, &their_body);
    note_verify (mine, NULL, 0, NULL, &my_body);
    if (valid <= 0 || !their_body) {
        self->stats.cosigs_bad++;
        s_alert (self, VERIFY_SIGNATURE, cosig->size, cosig->peer,
                 "a peer's checkpoint signature does not verify");
    } else if (!my_body || strcmp (my_body, their_body) != 0)
        s_alert (self, VERIFY_DIVERGENCE, cosig->size, cosig->peer,
                 "a peer signed a different tree head for this size");
    else {
        char *lines[NOTE_MAX_SIGS * 2];
        int mine_n = note_signature_lines (mine, lines, NOTE_MAX_SIGS);
        int theirs_n =
            mine_n >= 0 ? note_signature_lines (cosig->note, lines + mine_n, NOTE_MAX_SIGS) : -1;
        char *note = mine_n >= 0 && theirs_n >= 0 ? note_assemble (my_body, (const char **) lines,
                                                                   (size_t) (mine_n + theirs_n))
                                                  : NULL;
        if (note && strcmp (note, mine) != 0) {
            if (slot < merged->count)
                free (merged->notes[slot]);
            else
                merged->sizes[merged->count++] = cosig->size;
            merged->notes[slot] = note;
            note = NULL;
            self->stats.cosigs_merged++;
        }
        free (note);
        for (int i = 0; i < (mine_n > 0 ? mine_n : 0) + (theirs_n > 0 ? theirs_n : 0); i++)
            free (lines[i]);
    }
    free (their_body);
    free (my_body);
    free (mine);
}

static void
s_cosig_drain (replica_t *self)
{
    //  Signatures for sizes this replica has applied by now
    if (self->ncosigs == 0)
        return;
    merged_t *merged = (merged_t *) calloc (1, sizeof (merged_t));
    size_t kept = 0;
    for (size_t i = 0; i < self->ncosigs; i++) {
        cosig_t *cosig = &self->cosigs[i];
        if (cosig->size <= store_size (self->store)) {
            s_merge_signature (self, cosig, merged);
            free (cosig->note);
        } else
            self->cosigs[kept++] = *cosig;
    }
    self->ncosigs = kept;
    if (merged->count &&
        store_update_checkpoints (self->store, merged->sizes, merged->notes, merged->count) != 0)
        lh_warn ("cannot store peer signatures", "count=%zu", merged->count);
    for (size_t i = 0; i < merged->count; i++)
        free (merged->notes[i]);
    free (merged);
}

static void
s_on_sub (replica_t *self)
{
    while (self->sub && (zsock_events (self->sub) & ZMQ_POLLIN)) {
        zmsg_t *msg = zmsg_recv (self->sub);
        zframe_t *topic = zmsg_first (msg);
        zframe_t *frame = zmsg_next (msg);
        codec_doc_t *doc =
            frame ? codec_doc_decode (zframe_data (frame), zframe_size (frame), NULL, NULL) : NULL;
        const msgpack_object *root = doc ? codec_doc_root (doc) : NULL;
        char peer[NOTE_MAX_NAME + 1] = "";
        int64_t size = 0;
        const char *note;
        size_t len;
        char why[128];
        if (root && zframe_streq (topic, "events.read.checkpoint") &&
            codec_str_copy (codec_map_get (root, "replica"), peer, sizeof (peer)) &&
            strcmp (peer, self->name) != 0 &&
            codec_get_int (root, "size", true, 1, INT64_MAX, &size, why, sizeof (why)) == LH_OK &&
            codec_get_str (root, "checkpoint", true, 65536, &note, &len, why, sizeof (why)) ==
                LH_OK &&
            self->ncosigs < COSIG_PENDING_MAX) {
            cosig_t *cosig = &self->cosigs[self->ncosigs++];
            cosig->size = (uint64_t) size;
            cosig->note = strndup (note, len);
            snprintf (cosig->peer, sizeof (cosig->peer), "%s", peer);
        }
        codec_doc_destroy (&doc);
        zmsg_destroy (&msg);
    }
    s_cosig_drain (self);
}

//  --------------------------------------------------------------------------
//  Integrity monitor and alerts

static void
s_alert (replica_t *self, verify_kind_t kind, uint64_t seq, const char *peer, const char *detail)
{
    //  One log line and one event per violation, however many rounds or
    //  republished signatures show it; the notification (best effort, like
    //  all of PUB) is repeated each time, so a late subscriber hears of it
    bool known = false;
    for (size_t i = 0; i < REPORTED_MAX && !known; i++) {
        reported_t *seen = &self->reported[i];
        known = seen->kind == kind && seen->seq == seq && streq (seen->peer, peer ? peer : "");
    }
    const char *kind_name = verify_kind_name (kind);
    if (!known) {
        reported_t *slot = &self->reported[self->reported_next++ % REPORTED_MAX];
        slot->kind = kind;
        slot->seq = seq;
        snprintf (slot->peer, sizeof (slot->peer), "%s", peer ? peer : "");
        self->stats.alerts++;
        lh_error ("integrity alert", "replica=%s kind=%s seq=%llu peer=%s detail=\"%s\"",
                  self->name, kind_name, (unsigned long long) seq, peer ? peer : "-", detail);
    }
    codec_buf_t data;
    codec_buf_init (&data);
    msgpack_pack_map (&data.pk, peer ? 5 : 4);
    codec_pack_str (&data.pk, "replica");
    codec_pack_str (&data.pk, self->name);
    codec_pack_str (&data.pk, "kind");
    codec_pack_str (&data.pk, kind_name);
    s_pack_u64 (&data.pk, "seq", seq);
    codec_pack_str (&data.pk, "detail");
    codec_pack_str (&data.pk, detail);
    if (peer) {
        codec_pack_str (&data.pk, "peer");
        codec_pack_str (&data.pk, peer);
    }
    if (self->reader)
        lh_worker_publish (self->reader, "events.read.alert", data.sbuf.data, data.sbuf.size);
    //  And into the log itself, once (the client id would make a repeat a duplicate)
    if (self->alerts && !known) {
        codec_buf_t req;
        codec_buf_init (&req);
        event_pack_append (&req.pk, 1);
        msgpack_pack_map (&req.pk, 3);
        codec_pack_str (&req.pk, "type");
        codec_pack_str (&req.pk, "integrity.alert");
        char client_id[EVENT_MAX_REF + 1];
        snprintf (client_id, sizeof (client_id), "alert-%u-%s-%llu", self->id, kind_name,
                  (unsigned long long) seq);
        codec_pack_str (&req.pk, "client_id");
        codec_pack_str (&req.pk, client_id);
        codec_pack_str (&req.pk, "data");
        msgpack_sbuffer_write (&req.sbuf, data.sbuf.data, data.sbuf.size);
        const char *why;
        lh_client_send (self->alerts, "events", req.sbuf.data, req.sbuf.size, NULL, &why);
        codec_buf_destroy (&req);
    }
    codec_buf_destroy (&data);
}

static void
s_monitor_work (uv_work_t *work)
{
    replica_t *self = (replica_t *) work->data;
    //  Results go to fields the loop reads only once the pass is done
    int64_t started = zclock_mono ();
    verify_store (self->store, self->keys, self->nkeys, 1, self->origin, &self->monitor_pass);
    self->monitor_pass_ms = zclock_mono () - started;
}

static void
s_monitor_done (uv_work_t *work, int status)
{
    replica_t *self = (replica_t *) work->data;
    self->monitor_busy = false;
    self->monitor_result = self->monitor_pass;
    self->monitor_ms = self->monitor_pass_ms;
    //  A full pass over a large log is seconds of CPU: at most a tenth of a core
    self->monitor_next = zclock_mono () + 9 * self->monitor_ms;
    if (status != 0)
        return;
    self->stats.monitor_runs++;
    const verify_result_t *result = &self->monitor_result;
    if (result->kind != VERIFY_OK)
        s_alert (self, result->kind, result->seq, NULL, result->detail);
    else
        lh_debug ("monitor: store verified", "events=%llu checkpoints=%llu",
                  (unsigned long long) result->leaves, (unsigned long long) result->checkpoints);
}

static void
s_on_monitor (uv_timer_t *timer)
{
    replica_t *self = (replica_t *) timer->data;
    if (self->monitor_busy || self->stopping || zclock_mono () < self->monitor_next)
        return;
    self->monitor_busy = true;
    self->monitor_work.data = self;
    uv_queue_work (&self->loop, &self->monitor_work, s_monitor_work, s_monitor_done);
}

//  --------------------------------------------------------------------------
//  ZeroMQ sockets on the libuv loop

static void s_drain (replica_t *self);

static void
s_on_readable (uv_poll_t *poll, int status, int events)
{
    (void) status;
    (void) events;
    s_drain ((replica_t *) poll->data);
}

static void
s_close_cb (uv_handle_t *handle)
{
    free (handle);
}

//  Keeps a uv_poll on the socket's current descriptor (it changes on reconnect).
static void
s_watch (replica_t *self, watch_t *watch, int fd)
{
    if (watch->fd == fd)
        return;
    if (watch->poll) {
        uv_poll_stop (watch->poll);
        uv_close ((uv_handle_t *) watch->poll, s_close_cb);
        watch->poll = NULL;
    }
    watch->fd = fd;
    if (fd < 0)
        return;
    watch->poll = (uv_poll_t *) calloc (1, sizeof (uv_poll_t));
    uv_poll_init (&self->loop, watch->poll, fd);
    watch->poll->data = self;
    uv_poll_start (watch->poll, UV_READABLE, s_on_readable);
}

static void
s_drain (replica_t *self)
{
    if (self->stopping)
        return;
    lh_request_t *request;
    //  Bounded rounds so that a flood cannot starve Raft's own I/O
    for (int round = 0;
         round < 1024 && self->writer && (request = lh_worker_recv (self->writer, 0)); round++)
        s_on_append (self, request);
    for (int round = 0;
         round < 1024 && self->reader && (request = lh_worker_recv (self->reader, 0)); round++)
        s_on_read (self, request);
    s_watch (self, &self->reader_watch, self->reader ? lh_worker_fd (self->reader) : -1);
    s_watch (self, &self->writer_watch, self->writer ? lh_worker_fd (self->writer) : -1);
    //  Now, not after the next poll: that may sleep until a timer
    s_propose (self);
}

static void
s_on_prepare (uv_prepare_t *prepare)
{
    s_drain ((replica_t *) prepare->data);
}

static void
s_on_check (uv_check_t *check)
{
    s_propose ((replica_t *) check->data);
}

static void
s_leadership (replica_t *self)
{
    int state = raft_state (&self->raft);
    if (state != self->last_state) {
        raft_id leader_id = 0;
        const char *address = NULL;
        raft_leader (&self->raft, &leader_id, &address);
        lh_info ("raft state", "state=%s term=%llu leader=%llu", s_state_name (state),
                 (unsigned long long) self->raft.current_term, (unsigned long long) leader_id);
        if (state == RAFT_LEADER || self->last_state == RAFT_LEADER)
            self->stats.leader_changes++;
        self->last_state = state;
    }
    if (state == RAFT_LEADER && !self->writer && !self->stopping) {
        self->writer = lh_worker_new (&self->backend, "events", self->capacity);
        self->generation++;
        if (self->writer)
            lh_info ("serving", "service=events term=%llu",
                     (unsigned long long) self->raft.current_term);
    } else if (state != RAFT_LEADER && self->writer) {
        s_drop_pending (self, "this replica is no longer the leader; retry");
        s_watch (self, &self->writer_watch, -1);
        lh_worker_destroy (&self->writer);
        self->generation++;
        lh_info ("withdrawn", "service=events state=%s", s_state_name (state));
    }
}

static void
s_on_tick (uv_timer_t *timer)
{
    replica_t *self = (replica_t *) timer->data;
    if (self->stopping)
        return;
    if (self->failed) {
        s_stop (self, 75);
        return;
    }
    s_leadership (self);
    //  PUB drops what is sent before a peer subscribes: say it again each second
    if (++self->ticks % (1000 / TICK_MS) == 0 && self->own_note)
        s_publish_signature (self, self->own_size, self->own_note);
    s_on_sub (self);
    if (self->alerts) {
        lh_reply_t *reply;
        while ((reply = lh_client_recv (self->alerts, 0))) {
            if (!lh_reply_ok (reply))
                lh_warn ("alert append failed", "error=%s message=\"%s\"",
                         lh_reply_code_name (reply), lh_reply_message (reply));
            lh_reply_destroy (&reply);
        }
    }
    s_drain (self);
}

static void
s_sync_work (uv_work_t *work)
{
    replica_t *self = (replica_t *) work->data;
    store_sync (self->store);
}

static void
s_sync_done (uv_work_t *work, int status)
{
    (void) status;
    ((replica_t *) work->data)->sync_busy = false;
}

//  The flush runs in a worker thread: an fdatasync of a busy store can take
//  tens of ms, which the loop (Raft heartbeats, replies) must not wait for
static void
s_on_sync (uv_timer_t *timer)
{
    replica_t *self = (replica_t *) timer->data;
    if (self->sync_busy || self->stopping)
        return;
    self->sync_busy = true;
    self->sync_work.data = self;
    uv_queue_work (&self->loop, &self->sync_work, s_sync_work, s_sync_done);
}

static void
s_on_signal (uv_signal_t *signal, int signum)
{
    replica_t *self = (replica_t *) signal->data;
    if (signum == SIGHUP) {
        lh_info ("SIGHUP ignored (nothing to reload)", "%s", "");
        return;
    }
    lh_info ("stopping", "signal=%d", signum);
    s_stop (self, 0);
}

static void
s_raft_closed (struct raft *raft)
{
    //  The loop ends by itself once raft_uv has closed its handles
    replica_t *self = (replica_t *) raft->data;
    raft_uv_close (&self->io);
    transport_close (&self->transport);
}

static void
s_stop (replica_t *self, int exit_code)
{
    if (exit_code)
        self->exit_code = exit_code;
    if (self->stopping)
        return;
    self->stopping = true;
    //  Our handles close now; raft_uv closes its own, then the loop ends
    uv_handle_t *handles[] = {(uv_handle_t *) &self->tick,    (uv_handle_t *) &self->sync,
                              (uv_handle_t *) &self->monitor, (uv_handle_t *) &self->drain,
                              (uv_handle_t *) &self->propose, (uv_handle_t *) &self->sigterm,
                              (uv_handle_t *) &self->sigint,  (uv_handle_t *) &self->sighup};
    for (size_t i = 0; i < sizeof (handles) / sizeof (handles[0]); i++)
        if (!uv_is_closing (handles[i]))
            uv_close (handles[i], NULL);
    s_watch (self, &self->reader_watch, -1);
    s_watch (self, &self->writer_watch, -1);
    if (self->writer)
        s_drop_pending (self, "the leader is stopping; retry");
    if (self->raft_started)
        raft_close (&self->raft, s_raft_closed);
    else
        uv_stop (&self->loop);
}

//  --------------------------------------------------------------------------
//  Set-up

static char *
s_read_file (const char *path)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return NULL;
    char *text = (char *) calloc (1, 65537);
    size_t n = fread (text, 1, 65536, file);
    fclose (file);
    text[n] = 0;
    return text;
}

//  "1@host:port 2@host:port ..." into a Raft configuration
static int
s_parse_peers (replica_t *self, const char *peers, char *err, size_t err_size)
{
    raft_configuration_init (&self->peers);
    char *copy = strdup (peers);
    char *save = NULL;
    int count = 0;
    bool found = false;
    for (char *item = strtok_r (copy, " ,", &save); item; item = strtok_r (NULL, " ,", &save)) {
        char *at = strchr (item, '@');
        unsigned long id = at ? strtoul (item, NULL, 10) : 0;
        if (!at || id == 0 || id > 1000 || count >= MAX_PEERS ||
            raft_configuration_add (&self->peers, id, at + 1, RAFT_VOTER) != 0) {
            snprintf (err, err_size, "bad peer '%s' (want ID@HOST:PORT, at most %d)", item,
                      MAX_PEERS);
            free (copy);
            return -1;
        }
        if (id == self->id)
            found = true;
        count++;
    }
    free (copy);
    if (!found) {
        snprintf (err, err_size, "this replica's id %u is not among the peers", self->id);
        return -1;
    }
    return 0;
}

static int
s_load_keys (replica_t *self, const char *signer_path, const char *keys_path, char *err,
             size_t err_size)
{
    char *text = s_read_file (signer_path);
    self->signer = text ? note_key_from_signer (strtok (text, "\r\n")) : NULL;
    free (text);
    if (!self->signer) {
        snprintf (err, err_size, "%s: no signer key (create one with lh-integrity --keygen)",
                  signer_path);
        return -1;
    }
    snprintf (self->name, sizeof (self->name), "%s", note_key_name (self->signer));
    text = keys_path ? s_read_file (keys_path) : NULL;
    if (keys_path && !text) {
        snprintf (err, err_size, "%s: cannot read verifier keys", keys_path);
        return -1;
    }
    char *save = NULL;
    bool have_own = false;
    for (char *line = text ? strtok_r (text, "\r\n", &save) : NULL; line;
         line = strtok_r (NULL, "\r\n", &save)) {
        if (!*line || *line == '#')
            continue;
        note_key_t *key = note_key_from_verifier (line);
        if (!key || self->nkeys >= MAX_PEERS) {
            snprintf (err, err_size, "%s: bad verifier key line '%.60s'", keys_path, line);
            note_key_destroy (&key);
            free (text);
            return -1;
        }
        if (note_key_id (key) == note_key_id (self->signer))
            have_own = true;
        self->keys[self->nkeys++] = key;
    }
    free (text);
    if (!have_own && self->nkeys < MAX_PEERS) {
        char *own = note_key_verifier_string (self->signer);
        self->keys[self->nkeys++] = note_key_from_verifier (own);
        free (own);
    }
    return 0;
}

static zsock_t *
s_subscribe (replica_t *self, const char *endpoint)
{
    zsock_t *sub = zsock_new (ZMQ_SUB);
    if (self->backend.server_key && self->cert) {
        zcert_apply (self->cert, sub);
        zsock_set_curve_serverkey (sub, self->backend.server_key);
    }
    zsock_set_subscribe (sub, "events.read.checkpoint");
    if (zsock_connect (sub, "%s", endpoint) != 0)
        zsock_destroy (&sub);
    return sub;
}

replica_t *
replica_new (zconfig_t *config, char *err, size_t err_size)
{
    replica_t *self = (replica_t *) calloc (1, sizeof (replica_t));
    self->config = config;
    self->reader_watch.fd = self->writer_watch.fd = -1;
    self->last_state = -1;
    codec_buf_init (&self->pending);
    uv_loop_init (&self->loop);
    self->id = (unsigned) lh_config_int (config, "integrity/id", 0);
    snprintf (self->dir, sizeof (self->dir), "%s", lh_config_str (config, "integrity/dir", ""));
    snprintf (self->origin, sizeof (self->origin), "%s",
              lh_config_str (config, "integrity/origin", "lighthouse/log"));
    self->capacity = (int) lh_config_int (config, "integrity/capacity", 1024);
    self->max_inflight = (int) lh_config_int (config, "integrity/inflight", 4);
    self->max_entry_events = (size_t) lh_config_int (config, "integrity/entry_events", 8192);
    if (self->max_entry_events < 1 || self->max_entry_events > ENTRY_MAX_EVENTS)
        self->max_entry_events = ENTRY_MAX_EVENTS;
    if (self->id == 0 || !*self->dir) {
        snprintf (err, err_size, "--id N (1..1000) and --dir DIR are required");
        replica_destroy (&self);
        return NULL;
    }
    if (s_parse_peers (self, lh_config_str (config, "integrity/peers", ""), err, err_size) != 0 ||
        s_load_keys (self, lh_config_str (config, "integrity/signer", ""),
                     lh_config_str (config, "integrity/keys", NULL), err, err_size) != 0) {
        replica_destroy (&self);
        return NULL;
    }
    const char *raft_address = NULL;
    for (unsigned i = 0; i < self->peers.n; i++)
        if (self->peers.servers[i].id == self->id)
            raft_address = self->peers.servers[i].address;
    char path[2100];
    snprintf (path, sizeof (path), "%s/raft", self->dir);
    if (zsys_dir_create ("%s", path) != 0) {
        snprintf (err, err_size, "cannot create %s", path);
        replica_destroy (&self);
        return NULL;
    }
    snprintf (path, sizeof (path), "%s/log.mdb", self->dir);
    size_t map_size = (size_t) lh_config_int (config, "integrity/map_size_mb", 65536) << 20;
    self->store = store_open (path, map_size, false, err, err_size);
    if (!self->store) {
        replica_destroy (&self);
        return NULL;
    }
    //  Broker connections
    const char *cert_path = lh_config_str (config, "integrity/cert", NULL);
    if (cert_path && !(self->cert = zcert_load (cert_path))) {
        snprintf (err, err_size, "cannot load certificate %s", cert_path);
        replica_destroy (&self);
        return NULL;
    }
    self->backend =
        (lh_connect_t){.endpoint = lh_config_str (config, "integrity/broker", NULL),
                       .server_key = lh_config_str (config, "integrity/broker_key", NULL),
                       .cert = self->cert};
    self->frontend = self->backend;
    self->frontend.endpoint = lh_config_str (config, "integrity/frontend", NULL);
    self->reader = lh_worker_new (&self->backend, "events.read", self->capacity);
    if (!self->reader) {
        snprintf (err, err_size, "cannot connect to the broker at %s",
                  self->backend.endpoint ? self->backend.endpoint : "(none: --broker)");
        replica_destroy (&self);
        return NULL;
    }
    if (self->frontend.endpoint) {
        self->alerts = lh_client_new (&self->frontend);
        if (self->alerts)
            lh_client_set_timeout (self->alerts, 10000);
    }
    const char *pub = lh_config_str (config, "integrity/pub", NULL);
    if (pub)
        self->sub = s_subscribe (self, pub);

    //  Raft
    snprintf (path, sizeof (path), "%s/raft", self->dir);
    int rc = transport_init (&self->transport, &self->loop);
    if (rc == 0)
        rc = raft_uv_init (&self->io, &self->loop, path, &self->transport.outer);
    if (rc != 0) {
        snprintf (err, err_size, "raft_uv_init %s: %s", path, raft_strerror (rc));
        replica_destroy (&self);
        return NULL;
    }
    //  Peers start together: the default 1 s retry would hold the first
    //  commit back by a second whenever a first connect lost that race
    raft_uv_set_connect_retry_delay (&self->io, 100);
    self->fsm = (struct raft_fsm){.version = 2,
                                  .data = self,
                                  .apply = s_fsm_apply,
                                  .snapshot = s_fsm_snapshot,
                                  .restore = s_fsm_restore,
                                  .snapshot_finalize = s_fsm_snapshot_finalize};
    rc = raft_init (&self->raft, &self->io, &self->fsm, self->id, raft_address);
    if (rc != 0) {
        snprintf (err, err_size, "raft_init: %s", raft_errmsg (&self->raft));
        raft_uv_close (&self->io);
        transport_close (&self->transport);
        replica_destroy (&self);
        return NULL;
    }
    self->raft.data = self;
    raft_set_election_timeout (&self->raft,
                               (unsigned) lh_config_int (config, "integrity/election_ms", 1000));
    raft_set_heartbeat_timeout (&self->raft,
                                (unsigned) lh_config_int (config, "integrity/heartbeat_ms", 100));
    raft_set_snapshot_threshold (
        &self->raft, (unsigned) lh_config_int (config, "integrity/snapshot_threshold", 16384));
    raft_set_snapshot_trailing (
        &self->raft, (unsigned) lh_config_int (config, "integrity/snapshot_trailing", 4096));
    raft_set_install_snapshot_timeout (
        &self->raft, (unsigned) lh_config_int (config, "integrity/snapshot_timeout_ms", 30000));
    raft_set_pre_vote (&self->raft, true);
    rc = raft_bootstrap (&self->raft, &self->peers);
    if (rc != 0 && rc != RAFT_CANTBOOTSTRAP) {
        snprintf (err, err_size, "raft_bootstrap: %s", raft_errmsg (&self->raft));
        raft_close (&self->raft, NULL);
        replica_destroy (&self);
        return NULL;
    }
    return self;
}

int
replica_run (replica_t *self)
{
    int rc = raft_start (&self->raft);
    if (rc != 0) {
        lh_error ("cannot start raft", "error=\"%s\"", raft_errmsg (&self->raft));
        self->exit_code = 1;
        self->stopping = true;
        raft_close (&self->raft, s_raft_closed);
        uv_run (&self->loop, UV_RUN_DEFAULT);
        return 1;
    }
    self->raft_started = true;
    lh_info ("replica started", "id=%u name=%s raft=%s dir=%s size=%llu", self->id, self->name,
             self->raft.address, self->dir, (unsigned long long) store_size (self->store));
    uv_timer_init (&self->loop, &self->tick);
    uv_timer_init (&self->loop, &self->sync);
    uv_timer_init (&self->loop, &self->monitor);
    self->tick.data = self->sync.data = self->monitor.data = self;
    uv_timer_start (&self->tick, s_on_tick, TICK_MS, TICK_MS);
    uv_timer_start (&self->sync, s_on_sync, SYNC_MS, SYNC_MS);
    uint64_t every = (uint64_t) lh_config_int (self->config, "integrity/monitor_ms", 10000);
    if (every)
        uv_timer_start (&self->monitor, s_on_monitor, every, every);
    uv_prepare_init (&self->loop, &self->drain);
    self->drain.data = self;
    uv_prepare_start (&self->drain, s_on_prepare);
    uv_check_init (&self->loop, &self->propose);
    self->propose.data = self;
    uv_check_start (&self->propose, s_on_check);
    uv_signal_t *signals[] = {&self->sigterm, &self->sigint, &self->sighup};
    int signums[] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        uv_signal_init (&self->loop, signals[i]);
        signals[i]->data = self;
        uv_signal_start (signals[i], s_on_signal, signums[i]);
    }
    uv_run (&self->loop, UV_RUN_DEFAULT);
    return self->exit_code;
}

void
replica_destroy (replica_t **self_p)
{
    if (self_p && *self_p) {
        replica_t *self = *self_p;
        if (self->writer)
            s_drop_pending (self, "the leader is stopping; retry");
        s_result_free (&self->last_result);
        free (self->own_note);
        for (size_t i = 0; i < self->ncosigs; i++)
            free (self->cosigs[i].note);
        lh_worker_destroy (&self->writer);
        lh_worker_destroy (&self->reader);
        lh_client_destroy (&self->alerts);
        zsock_destroy (&self->sub);
        store_destroy (&self->store);
        note_key_destroy (&self->signer);
        for (size_t i = 0; i < self->nkeys; i++)
            note_key_destroy (&self->keys[i]);
        raft_configuration_close (&self->peers);
        zcert_destroy (&self->cert);
        codec_buf_destroy (&self->pending);
        free (self->members);
        uv_loop_close (&self->loop);
        free (self);
        *self_p = NULL;
    }
}
