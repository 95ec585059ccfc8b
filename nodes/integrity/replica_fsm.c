/*  replica_fsm -- the replica's Raft state machine: the store.

    Every replica applies the same entries in the same order, so whatever
    applying decides (sequence numbers, duplicates, clamped times) must
    depend on the log alone. An entry the store cannot apply stops the
    replica instead of being skipped: skipping would fork its log; the
    entry is replayed on restart.
*/
#include "replica_internal.h"

#include "event.h"
#include "lh_log.h"

#include <errno.h>
#include <lmdb.h>
#include <sodium.h>
#include <sys/statvfs.h>

//  A Raft entry gathers many requests: it is held to its own limits, which
//  what replica_handle_append lets into one entry stays well inside
static const codec_limits_t s_entry_limits = {
    .max_size = 16 * 1024 * 1024,
    .max_depth = LH_MAX_DEPTH,
    .max_str = LH_MAX_STR,
    .max_key = LH_MAX_KEY,
    .max_items = ENTRY_MAX_EVENTS + EVENT_MAX_BATCH,
};

void
replica_free_result (result_t **result_p)
{
    if (*result_p) {
        free ((*result_p)->seqs);
        free ((*result_p)->dups);
        free ((*result_p)->note);
        free (*result_p);
        *result_p = NULL;
    }
}

static result_t *
s_result_new (size_t count)
{
    result_t *result = (result_t *) calloc (1, sizeof (result_t));
    if (!result)
        return NULL;
    result->count = count;
    result->seqs = (uint64_t *) calloc (count ? count : 1, sizeof (uint64_t));
    result->dups = (bool *) calloc (count ? count : 1, sizeof (bool));
    if (!result->seqs || !result->dups)
        replica_free_result (&result);
    return result;
}

//  Decodes an entry: {t: term, c: counter, e: [body (bin), ...]}. NULL
//  (logged) when it is malformed; else the document events points into.
static codec_doc_t *
s_decode_entry (const void *data, size_t size, store_mark_t *mark, const msgpack_object **events)
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
        return NULL;
    }
    *mark = (store_mark_t){t->via.u64, c->via.u64};
    *events = e;
    return doc;
}

//  Appends the event of entry body i (or finds its duplicate) in the open transaction
static int
s_apply_event (replica_t *self, const msgpack_object *body, size_t i, msgpack_sbuffer *leaf,
               result_t *result)
{
    if (body->type != MSGPACK_OBJECT_BIN)
        return RAFT_MALFORMED;
    uint64_t seq = store_txn_size (self->store);
    msgpack_sbuffer_clear (leaf);
    event_t ev;
    codec_doc_t *evdoc = NULL;
    char evwhy[128];
    if (event_leaf (body->via.bin.ptr, body->via.bin.size, seq, leaf) != 0 ||
        event_decode (leaf->data, leaf->size, &ev, &evdoc, evwhy, sizeof (evwhy)) != LH_OK) {
        lh_error ("malformed event in Raft entry", "index=%zu", i);
        codec_doc_destroy (&evdoc);
        return RAFT_MALFORMED;
    }
    //  A new leader's clock may be behind the last one's: time never goes
    //  back along the log, so such an event takes the latest time (the
    //  same on every replica, since all apply the same entries in order)
    if (ev.ts < store_txn_last_ts (self->store)) {
        ev.ts = store_txn_last_ts (self->store);
        codec_buf_t again;
        codec_buf_init (&again);
        event_pack_body (&again.pk, &ev);
        msgpack_sbuffer_clear (leaf);
        int packed = event_leaf (again.sbuf.data, again.sbuf.size, seq, leaf);
        codec_buf_destroy (&again);
        if (packed != 0) {
            //  Out of memory: the same body was a map a moment ago
            codec_doc_destroy (&evdoc);
            return ENOMEM;
        }
        self->stats.clock_clamped++;
    }
    uint64_t earlier;
    int rc = 0;
    if (ev.client_id[0] && store_dedup_find (self->store, ev.by, ev.client_id, &earlier)) {
        result->seqs[i] = earlier;
        result->dups[i] = true;
        self->stats.duplicates++;
    } else
        rc = store_append (self->store, leaf->data, leaf->size, &ev, &result->seqs[i]);
    codec_doc_destroy (&evdoc); //  ev points into it
    return rc;
}

//  Applies one entry in one store transaction
static int
s_apply (replica_t *self, const void *data, size_t size, result_t **result_p)
{
    store_mark_t mark;
    const msgpack_object *e;
    codec_doc_t *doc = s_decode_entry (data, size, &mark, &e);
    if (!doc)
        return RAFT_MALFORMED;
    store_mark_t last = store_mark (self->store);
    if (mark.term < last.term || (mark.term == last.term && mark.counter <= last.counter)) {
        //  Replayed after a restart: the store already has it
        codec_doc_destroy (&doc);
        return 0;
    }
    size_t count = e->via.array.size;
    result_t *result = s_result_new (count);
    if (!result) {
        codec_doc_destroy (&doc);
        return ENOMEM;
    }
    int rc = store_begin (self->store);
    msgpack_sbuffer leaf;
    msgpack_sbuffer_init (&leaf);
    for (size_t i = 0; rc == 0 && i < count; i++)
        rc = s_apply_event (self, &e->via.array.ptr[i], i, &leaf, result);
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
        replica_free_result (&result);
        return rc;
    }
    self->stats.applied += count;
    self->stats.entries++;
    replica_publish_signature (self, result->size, result->note);
    //  Without a copy the older note is published again: still a valid signature
    char *own = strdup (result->note);
    if (own) {
        free (self->own_note);
        self->own_note = own;
        self->own_size = result->size;
    } else
        lh_warn ("out of memory: the last checkpoint is not published again", "size=%llu",
                 (unsigned long long) result->size);
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
    replica_free_result (&self->last_result);
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
    if (!*bufs) {
        raft_free (data);
        return RAFT_NOMEM;
    }
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

void
replica_init_fsm (replica_t *self)
{
    self->fsm = (struct raft_fsm){.version = 2,
                                  .data = self,
                                  .apply = s_fsm_apply,
                                  .snapshot = s_fsm_snapshot,
                                  .restore = s_fsm_restore,
                                  .snapshot_finalize = s_fsm_snapshot_finalize};
}
