/*  replica_append -- the "events" service, served by the Raft leader alone.

    Group commit: appends that arrive while earlier entries are in flight
    gather into the next entry, proposed when the loop is about to sleep,
    when max_entry_events have gathered, or when an entry in flight
    commits. Each append is answered once its entry is applied, that is
    once a majority has it on disk; none is answered before.
*/
#include "replica_internal.h"

#include "event.h"
#include "lh_log.h"

#include <time.h>

#define PENDING_MAX_BYTES (2 * 1024 * 1024) //  appends waiting for the next entry (one entry)

static int64_t
s_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

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
        codec_pack_kv_u64 (&buf.pk, "seq", result->seqs[i]);
        codec_pack_kv_bool (&buf.pk, "duplicate", result->dups[i]);
    }
    codec_pack_kv_u64 (&buf.pk, "size", result->size);
    codec_pack_str (&buf.pk, "root");
    msgpack_pack_bin (&buf.pk, MERKLE_HASH_SIZE);
    msgpack_pack_bin_body (&buf.pk, result->root, MERKLE_HASH_SIZE);
    codec_pack_kv_str (&buf.pk, "checkpoint", result->note);
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
    replica_free_result (&result);
    free (proposal->members);
    free (proposal);
}

//  Answers every request not proposed yet with code and why, and forgets them.
static void
s_refuse_pending (replica_t *self, lh_err_t code, const char *why)
{
    for (size_t i = 0; i < self->nmembers; i++)
        lh_worker_reply_error (self->writer, &self->members[i].request, code, why);
    free (self->members);
    self->members = NULL;
    self->nmembers = self->members_alloc = 0;
    self->pending_events = 0;
    msgpack_sbuffer_clear (&self->pending.sbuf);
}

static int
s_pack_key (msgpack_packer *pk, const char *key)
{
    size_t len = strlen (key);
    return msgpack_pack_str (pk, len) | msgpack_pack_str_body (pk, key, len);
}

void
replica_propose (replica_t *self)
{
    if (!self->nmembers || self->inflight >= self->max_inflight || !self->writer)
        return;
    if (raft_state (&self->raft) != RAFT_LEADER)
        return;
    if (self->counter_term != self->raft.current_term) {
        self->counter_term = self->raft.current_term;
        self->counter = 0;
    }
    //  A write cut short by a failed allocation would commit a malformed
    //  entry, which no replica could ever apply: every pack is checked
    codec_buf_t entry;
    codec_buf_init (&entry);
    int bad = msgpack_pack_map (&entry.pk, 3);
    bad |= s_pack_key (&entry.pk, "t");
    bad |= msgpack_pack_uint64 (&entry.pk, self->counter_term);
    bad |= s_pack_key (&entry.pk, "c");
    bad |= msgpack_pack_uint64 (&entry.pk, self->counter + 1);
    bad |= s_pack_key (&entry.pk, "e");
    bad |= msgpack_pack_array (&entry.pk, self->pending_events);
    bad |= msgpack_sbuffer_write (&entry.sbuf, self->pending.sbuf.data, self->pending.sbuf.size);
    //  A whole number of 8-byte words: raft_uv reads back entries of other
    //  lengths from the wrong offset (libraft 0.15); the state machine skips the zeros
    size_t len = (entry.sbuf.size + 7) & ~(size_t) 7;
    struct raft_buffer buf = {.base = bad ? NULL : raft_calloc (1, len), .len = len};
    if (buf.base)
        memcpy (buf.base, entry.sbuf.data, entry.sbuf.size);
    codec_buf_destroy (&entry);
    proposal_t *proposal = buf.base ? (proposal_t *) calloc (1, sizeof (proposal_t)) : NULL;
    if (!proposal) {
        raft_free (buf.base);
        lh_error ("out of memory: appends refused", "requests=%zu events=%zu", self->nmembers,
                  self->pending_events);
        s_refuse_pending (self, LH_E_INTERNAL, "out of memory");
        return;
    }
    self->counter++;
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

void
replica_handle_append (replica_t *self, lh_request_t *request)
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
        if ((msgpack_pack_bin (&self->pending.pk, scratch.sbuf.size) |
             msgpack_pack_bin_body (&self->pending.pk, scratch.sbuf.data, scratch.sbuf.size)) !=
            0) {
            snprintf (why, sizeof (why), "out of memory");
            err = LH_E_INTERNAL;
            break;
        }
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
        size_t alloc = self->members_alloc ? self->members_alloc * 2 : 64;
        member_t *members = (member_t *) realloc (self->members, alloc * sizeof (member_t));
        if (!members) {
            self->pending.sbuf.size = mark;
            self->stats.rejected++;
            lh_worker_reply_error (self->writer, &request, LH_E_INTERNAL, "out of memory");
            return;
        }
        self->members = members;
        self->members_alloc = alloc;
    }
    self->members[self->nmembers++] =
        (member_t){request, self->pending_events, events->via.array.size};
    self->pending_events += events->via.array.size;
    self->stats.appended += events->via.array.size;
    if (self->pending_events >= self->max_entry_events)
        replica_propose (self);
}

void
replica_drop_pending (replica_t *self, const char *why)
{
    s_refuse_pending (self, LH_E_UNAVAILABLE, why);
}
