/*  replica_read -- the "events.read" service, served by every replica.

    One table names the ops: each entry's check reads and checks the
    request's arguments, its handler packs the reply. Who may read at all
    is the broker's decision (its role rules for "events.read", which by
    default admit every role): every op admits every role that gets here.
*/
#include "replica_internal.h"

#include "event.h"
#include "lh_dispatch.h"

#define READ_LIMIT_MAX 1000

//  What an op's check read from the request, for its handler
typedef struct {
    int64_t a, b; //  seq, size, from, to, old, new: see each check
    int64_t limit;
    bool raw;
    store_filter_t filter;
    char agent[LH_MAX_AGENT + 1]; //  filter.agent points here
} read_args_t;

typedef lh_err_t (read_check_fn) (const msgpack_object *body, read_args_t *args, char *why,
                                  size_t why_size);
typedef lh_err_t (read_fn) (replica_t *self, const read_args_t *args, const msgpack_object *id,
                            codec_buf_t *buf, char *why, size_t why_size);
typedef LH_DISPATCH_ENTRY (read_fn *, read_check_fn *) read_op_t;

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

const char *
replica_describe_state (int state)
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
    codec_pack_kv_str (pk, "replica", self->name);
    codec_pack_kv_u64 (pk, "replica_id", self->id);
    codec_pack_kv_str (pk, "state", replica_describe_state (raft_state (&self->raft)));
    codec_pack_kv_u64 (pk, "leader", leader_id);
    codec_pack_kv_u64 (pk, "term", self->raft.current_term);
    codec_pack_kv_u64 (pk, "commit_index", self->raft.commit_index);
    codec_pack_kv_u64 (pk, "applied_index", raft_last_applied (&self->raft));
    codec_pack_kv_u64 (pk, "size", size);
    codec_pack_kv_bin (pk, "root", root, MERKLE_HASH_SIZE);
    codec_pack_kv_str (pk, "origin", self->origin);
    codec_pack_str (pk, "monitor");
    msgpack_pack_map (pk, 4);
    codec_pack_kv_u64 (pk, "last_pass_ms", (uint64_t) self->monitor_ms);
    codec_pack_kv_str (pk, "status", verify_kind_name (self->monitor_result.kind));
    codec_pack_kv_u64 (pk, "seq", self->monitor_result.seq);
    codec_pack_kv_u64 (pk, "leaves", self->monitor_result.leaves);
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
        codec_pack_kv_u64 (pk, counters[i].name, counters[i].value);
}

void
replica_publish_metrics (replica_t *self)
{
    codec_buf_t status;
    codec_buf_init (&status);
    msgpack_pack_map (&status.pk, STATUS_PAIRS);
    s_pack_status (self, &status.pk);
    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    if (msgpack_unpack_next (&u, status.sbuf.data, status.sbuf.size, NULL) ==
        MSGPACK_UNPACK_SUCCESS) {
        char name[128], labels[160];
        lh_metrics_label (self->name, name, sizeof (name));
        snprintf (labels, sizeof (labels), "replica=\"%s\"", name);
        lh_metrics_text_t *text = lh_metrics_text_new ();
        static const char *gauges[] = {"inflight_entries", NULL};
        lh_metrics_text_map (text, "lighthouse_integrity", codec_map_get (&u.data, "counters"),
                             gauges, labels);
        const struct {
            const char *key, *help;
        } levels[] = {
            {"size", "events in the log"},
            {"term", "Raft term"},
            {"commit_index", "Raft commit index"},
            {"applied_index", "Raft entries applied"},
            {"leader", "the leader's Raft id (0: none known)"},
        };
        for (size_t i = 0; i < sizeof (levels) / sizeof (levels[0]); i++) {
            const msgpack_object *v = codec_map_get (&u.data, levels[i].key);
            char metric[64];
            snprintf (metric, sizeof (metric), "lighthouse_integrity_%s", levels[i].key);
            lh_metrics_text_add (
                text, metric, "gauge", levels[i].help, labels,
                v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (double) v->via.u64 : 0);
        }
        lh_metrics_text_add (text, "lighthouse_integrity_is_leader", "gauge",
                             "1 while this replica leads", labels,
                             raft_state (&self->raft) == RAFT_LEADER ? 1 : 0);
        lh_metrics_text_add (text, "lighthouse_integrity_monitor_ok", "gauge",
                             "1 while the integrity monitor finds nothing wrong", labels,
                             self->monitor_result.kind == VERIFY_OK ? 1 : 0);
        size_t size;
        const char *data = lh_metrics_text_data (text, &size);
        lh_metrics_publish (self->metrics, data, size);
        lh_metrics_text_destroy (&text);
    }
    msgpack_unpacked_destroy (&u);
    codec_buf_destroy (&status);
}

//  --------------------------------------------------------------------------
//  Argument checks, in the order the fields were always checked (the
//  first bad field is the one an error names)

static lh_err_t
s_check_raw (const msgpack_object *body, read_args_t *args, char *why, size_t why_size)
{
    return codec_get_bool (body, "raw", false, &args->raw, why, why_size);
}

//  get: a = seq
static lh_err_t
s_check_get (const msgpack_object *body, read_args_t *args, char *why, size_t why_size)
{
    lh_err_t rc = codec_get_int (body, "seq", true, 0, INT64_MAX, &args->a, why, why_size);
    return rc == LH_OK ? s_check_raw (body, args, why, why_size) : rc;
}

//  range: a = from, b = to (-1: the log's size)
static lh_err_t
s_check_range (const msgpack_object *body, read_args_t *args, char *why, size_t why_size)
{
    args->b = -1;
    lh_err_t rc =
        codec_get_int (body, "limit", false, 1, READ_LIMIT_MAX, &args->limit, why, why_size);
    if (rc == LH_OK)
        rc = codec_get_int (body, "from", true, 0, INT64_MAX, &args->a, why, why_size);
    if (rc == LH_OK)
        rc = codec_get_int (body, "to", false, 0, INT64_MAX, &args->b, why, why_size);
    return rc == LH_OK ? s_check_raw (body, args, why, why_size) : rc;
}

static lh_err_t
s_check_query (const msgpack_object *body, read_args_t *args, char *why, size_t why_size)
{
    store_filter_t *filter = &args->filter;
    lh_err_t rc =
        codec_get_int (body, "limit", false, 1, READ_LIMIT_MAX, &args->limit, why, why_size);
    const char *text;
    size_t len;
    int64_t after = -1;
    if (rc == LH_OK && codec_map_get (body, "agent")) {
        rc = codec_get_str (body, "agent", false, LH_MAX_AGENT, &text, &len, why, why_size);
        if (rc == LH_OK) {
            memcpy (args->agent, text, len);
            args->agent[len] = 0;
            filter->agent = args->agent;
        }
    }
    if (rc == LH_OK && codec_map_get (body, "type")) {
        rc = codec_get_str (body, "type", false, 64, &text, &len, why, why_size);
        if (rc == LH_OK && (filter->type = event_type_parse (text, len)) < 0) {
            snprintf (why, why_size, "unknown event type");
            rc = LH_E_BAD_REQUEST;
        }
    }
    if (rc == LH_OK)
        rc = codec_get_int (body, "since", false, 0, INT64_MAX, &filter->since, why, why_size);
    if (rc == LH_OK)
        rc = codec_get_int (body, "until", false, 0, INT64_MAX, &filter->until, why, why_size);
    if (rc == LH_OK)
        rc = codec_get_int (body, "after", false, 0, INT64_MAX, &after, why, why_size);
    if (after >= 0) {
        filter->from_start = false;
        filter->after = (uint64_t) after;
    }
    return rc == LH_OK ? s_check_raw (body, args, why, why_size) : rc;
}

//  checkpoint: a = size (0: the latest)
static lh_err_t
s_check_checkpoint (const msgpack_object *body, read_args_t *args, char *why, size_t why_size)
{
    return codec_get_int (body, "size", false, 0, INT64_MAX, &args->a, why, why_size);
}

//  proof: a = seq, b = size (0: the latest checkpoint)
static lh_err_t
s_check_proof (const msgpack_object *body, read_args_t *args, char *why, size_t why_size)
{
    lh_err_t rc = codec_get_int (body, "seq", true, 0, INT64_MAX, &args->a, why, why_size);
    if (rc == LH_OK)
        rc = codec_get_int (body, "size", false, 1, INT64_MAX, &args->b, why, why_size);
    return rc;
}

//  consistency: a = old, b = new (0: the latest checkpoint)
static lh_err_t
s_check_consistency (const msgpack_object *body, read_args_t *args, char *why, size_t why_size)
{
    lh_err_t rc = codec_get_int (body, "old", true, 1, INT64_MAX, &args->a, why, why_size);
    if (rc == LH_OK)
        rc = codec_get_int (body, "new", false, 1, INT64_MAX, &args->b, why, why_size);
    return rc;
}

//  --------------------------------------------------------------------------
//  Handlers

static lh_err_t
s_read_get (replica_t *self, const read_args_t *args, const msgpack_object *id, codec_buf_t *buf,
            char *why, size_t why_size)
{
    void *leaf;
    size_t leaf_size;
    if (store_get (self->store, (uint64_t) args->a, &leaf, &leaf_size) != 0) {
        snprintf (why, why_size, "no event %lld (log size %llu)", (long long) args->a,
                  (unsigned long long) store_size (self->store));
        return LH_E_NOT_FOUND;
    }
    codec_pack_ok_head (&buf->pk, id, 1);
    codec_pack_str (&buf->pk, "event");
    if (args->raw) {
        msgpack_pack_bin (&buf->pk, leaf_size);
        msgpack_pack_bin_body (&buf->pk, leaf, leaf_size);
    } else
        s_pack_leaf_item (&buf->pk, leaf, leaf_size);
    free (leaf);
    return LH_OK;
}

//  range and query: up to limit events after filter; end is where a range
//  stops (UINT64_MAX for a query)
static void
s_pack_events (replica_t *self, store_filter_t filter, int64_t limit, bool raw, uint64_t size,
               uint64_t end, const msgpack_object *id, codec_buf_t *buf)
{
    s_list_t list = {.count = 0, .raw = raw};
    codec_buf_init (&list.items);
    if (limit > 0)
        store_query (self->store, &filter, (size_t) limit, s_collect, &list);
    codec_pack_ok_head (&buf->pk, id, 3);
    codec_pack_str (&buf->pk, "events");
    msgpack_pack_array (&buf->pk, list.count);
    msgpack_sbuffer_write (&buf->sbuf, list.items.sbuf.data, list.items.sbuf.size);
    codec_buf_destroy (&list.items);
    codec_pack_kv_u64 (&buf->pk, "size", size);
    //  Where to continue: pass it back as "after" (query) or "from" (range);
    //  nil once a range has reached its end or the end of the log
    bool range = end != UINT64_MAX;
    bool more = (list.count == (size_t) limit || list.full) && limit > 0;
    if (more && range)
        more = list.last + 1 < end && list.last + 1 < size;
    codec_pack_str (&buf->pk, "next");
    if (more)
        msgpack_pack_uint64 (&buf->pk, range ? list.last + 1 : list.last);
    else
        msgpack_pack_nil (&buf->pk);
}

static lh_err_t
s_read_range (replica_t *self, const read_args_t *args, const msgpack_object *id, codec_buf_t *buf,
              char *why, size_t why_size)
{
    (void) why;
    (void) why_size;
    uint64_t size = store_size (self->store);
    int64_t a = args->a, b = args->b < 0 ? (int64_t) size : args->b, limit = args->limit;
    store_filter_t filter = args->filter;
    if (a > 0) {
        filter.from_start = false;
        filter.after = (uint64_t) a - 1;
    }
    if (b < a)
        b = a;
    if (b - a < limit)
        limit = b - a;
    s_pack_events (self, filter, limit, args->raw, size, (uint64_t) b, id, buf);
    return LH_OK;
}

static lh_err_t
s_read_query (replica_t *self, const read_args_t *args, const msgpack_object *id, codec_buf_t *buf,
              char *why, size_t why_size)
{
    (void) why;
    (void) why_size;
    s_pack_events (self, args->filter, args->limit, args->raw, store_size (self->store), UINT64_MAX,
                   id, buf);
    return LH_OK;
}

static lh_err_t
s_read_checkpoint (replica_t *self, const read_args_t *args, const msgpack_object *id,
                   codec_buf_t *buf, char *why, size_t why_size)
{
    char *note = NULL;
    uint64_t at;
    if (store_checkpoint (self->store, (uint64_t) args->a, &note, &at) != 0) {
        snprintf (why, why_size, args->a ? "no checkpoint for that size" : "the log is empty");
        return LH_E_NOT_FOUND;
    }
    codec_pack_ok_head (&buf->pk, id, 2);
    codec_pack_kv_str (&buf->pk, "checkpoint", note);
    codec_pack_kv_u64 (&buf->pk, "size", at);
    free (note);
    return LH_OK;
}

//  Proofs are against a signed checkpoint: the latest unless one is named
static lh_err_t
s_prove (replica_t *self, bool inclusion, const read_args_t *args, const msgpack_object *id,
         codec_buf_t *buf, char *why, size_t why_size)
{
    int64_t a = args->a, b = args->b;
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
    codec_pack_kv_u64 (&buf->pk, inclusion ? "seq" : "old", (uint64_t) a);
    codec_pack_kv_u64 (&buf->pk, inclusion ? "size" : "new", at);
    if (inclusion)
        codec_pack_kv_bin (&buf->pk, "leaf_hash", leaf_hash, MERKLE_HASH_SIZE);
    else
        codec_pack_kv_bin (&buf->pk, "old_root", old_root, MERKLE_HASH_SIZE);
    codec_pack_str (&buf->pk, "proof");
    s_pack_hash_list (&buf->pk, proof, count);
    codec_pack_kv_str (&buf->pk, "checkpoint", note);
    free (note);
    return LH_OK;
}

static lh_err_t
s_read_proof (replica_t *self, const read_args_t *args, const msgpack_object *id, codec_buf_t *buf,
              char *why, size_t why_size)
{
    return s_prove (self, true, args, id, buf, why, why_size);
}

static lh_err_t
s_read_consistency (replica_t *self, const read_args_t *args, const msgpack_object *id,
                    codec_buf_t *buf, char *why, size_t why_size)
{
    return s_prove (self, false, args, id, buf, why, why_size);
}

void
replica_publish_status (replica_t *self)
{
    if (!self->reader)
        return;
    codec_buf_t buf;
    codec_buf_init (&buf);
    msgpack_pack_map (&buf.pk, STATUS_PAIRS);
    s_pack_status (self, &buf.pk);
    lh_worker_publish (self->reader, "events.read.status", buf.sbuf.data, buf.sbuf.size);
    codec_buf_destroy (&buf);
}

static lh_err_t
s_read_status (replica_t *self, const read_args_t *args, const msgpack_object *id, codec_buf_t *buf,
               char *why, size_t why_size)
{
    (void) args;
    (void) why;
    (void) why_size;
    codec_pack_ok_head (&buf->pk, id, 1);
    codec_pack_str (&buf->pk, "status");
    msgpack_pack_map (&buf->pk, STATUS_PAIRS);
    s_pack_status (self, &buf->pk);
    return LH_OK;
}

//  The shape every node answers for lh status: counters at the top
static lh_err_t
s_read_stats (replica_t *self, const read_args_t *args, const msgpack_object *id, codec_buf_t *buf,
              char *why, size_t why_size)
{
    (void) args;
    (void) why;
    (void) why_size;
    codec_pack_ok_head (&buf->pk, id, STATUS_PAIRS);
    s_pack_status (self, &buf->pk);
    return LH_OK;
}

//  --------------------------------------------------------------------------
//  The table (its order is the order the "unknown op" error lists the ops in)

static const read_op_t s_reads[] = {
    {"get", s_read_get, LH_ROLES_ANY, s_check_get, "one event: {seq, raw}"},
    {"range", s_read_range, LH_ROLES_ANY, s_check_range, "events from..to: {from, to, limit, raw}"},
    {"query", s_read_query, LH_ROLES_ANY, s_check_query,
     "events by agent, type and time: {agent, type, since, until, after, limit, raw}"},
    {"checkpoint", s_read_checkpoint, LH_ROLES_ANY, s_check_checkpoint,
     "the latest signed checkpoint, or one of {size}"},
    {"proof", s_read_proof, LH_ROLES_ANY, s_check_proof, "an inclusion proof: {seq, size}"},
    {"consistency", s_read_consistency, LH_ROLES_ANY, s_check_consistency,
     "a consistency proof: {old, new}"},
    {"status", s_read_status, LH_ROLES_ANY, NULL, "role, term, size, monitor (lh status)"},
    {"stats", s_read_stats, LH_ROLES_ANY, NULL, "counters"},
    {NULL, NULL, 0, NULL, NULL},
};

//  Packs the reply to one read op into buf; returns LH_OK or an error with why.
static lh_err_t
s_read (replica_t *self, const msgpack_object *body, const char *role, codec_buf_t *buf, char *why,
        size_t why_size)
{
    const char *op;
    size_t op_len;
    lh_err_t rc = codec_get_str (body, "op", true, 32, &op, &op_len, why, why_size);
    if (rc != LH_OK)
        return rc;
    const read_op_t *entry =
        (const read_op_t *) lh_dispatch_find (s_reads, sizeof (*s_reads), op, op_len);
    if (!entry) {
        char names[128];
        lh_dispatch_names (s_reads, sizeof (*s_reads), names, sizeof (names));
        snprintf (why, why_size, "unknown op '%.*s' (%s)", (int) (op_len > 32 ? 32 : op_len), op,
                  names);
        return LH_E_BAD_REQUEST;
    }
    if (!lh_dispatch_allows (entry->roles, role)) {
        snprintf (why, why_size, "role '%s' may not read with op '%s'", role ? role : "",
                  entry->name);
        return LH_E_FORBIDDEN;
    }
    read_args_t args = {.limit = 100, .filter = {.type = -1, .from_start = true}};
    if (entry->check && (rc = entry->check (body, &args, why, why_size)) != LH_OK)
        return rc;
    return entry->handler (self, &args, codec_map_get (body, "id"), buf, why, why_size);
}

void
replica_handle_read (replica_t *self, lh_request_t *request)
{
    self->stats.reads++;
    codec_buf_t buf;
    codec_buf_init (&buf);
    char why[256] = "";
    lh_err_t rc = s_read (self, lh_request_body (request), lh_request_role (request), &buf, why,
                          sizeof (why));
    if (rc == LH_OK)
        lh_worker_reply (self->reader, &request, buf.sbuf.data, buf.sbuf.size);
    else
        lh_worker_reply_error (self->reader, &request, rc, why);
    codec_buf_destroy (&buf);
}
