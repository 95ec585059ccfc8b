/*  store -- one replica's copy of the integrity log. See store.h. */
#include "store.h"

#include "codec.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    DB_EVENTS,
    DB_MERKLE,
    DB_AGENT,
    DB_TYPE,
    DB_TIME,
    DB_CHECKPOINTS,
    DB_DEDUP,
    DB_META,
    DB_COUNT
};
static const char *s_db_names[DB_COUNT] = {"events",  "merkle",      "by_agent", "by_type",
                                           "by_time", "checkpoints", "dedup",    "meta"};

struct _store_t {
    char *path;
    size_t map_size;
    bool readonly;
    MDB_env *env;
    MDB_dbi dbi[DB_COUNT];
    //  Readers hold it shared; store_restore swaps the environment under it exclusively
    pthread_rwlock_t lock;
    MDB_txn *txn;                 //  the open write transaction
    int merkle_rc;                //  why the last Merkle node write failed
    int64_t last_ts, txn_last_ts; //  the latest event's time, committed and in txn
    uint64_t size;                //  committed tree size
    uint64_t txn_size;            //  tree size inside txn
    store_mark_t mark;
};

static int
s_env_open (store_t *self, char *err, size_t err_size)
{
    int rc = mdb_env_create (&self->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs (self->env, DB_COUNT);
    if (rc == 0)
        rc = mdb_env_set_mapsize (self->env, self->map_size);
    unsigned flags = MDB_NOSUBDIR | MDB_NOTLS | MDB_NOSYNC | (self->readonly ? MDB_RDONLY : 0);
    if (rc == 0)
        rc = mdb_env_open (self->env, self->path, flags, 0600);
    //  A copied replica directory may be read-only: read it without a lock file
    if (rc != 0 && self->readonly && (rc == EACCES || rc == EROFS)) {
        mdb_env_close (self->env);
        rc = mdb_env_create (&self->env);
        if (rc == 0)
            rc = mdb_env_set_maxdbs (self->env, DB_COUNT);
        if (rc == 0)
            rc = mdb_env_open (self->env, self->path, flags | MDB_NOLOCK, 0600);
    }
    MDB_txn *txn = NULL;
    if (rc == 0)
        rc = mdb_txn_begin (self->env, NULL, self->readonly ? MDB_RDONLY : 0, &txn);
    for (int db = 0; rc == 0 && db < DB_COUNT; db++)
        rc = mdb_dbi_open (txn, s_db_names[db], self->readonly ? 0 : MDB_CREATE, &self->dbi[db]);
    MDB_val key = {4, "size"}, val;
    self->size = 0;
    self->mark = (store_mark_t){0, 0};
    if (rc == 0 && mdb_get (txn, self->dbi[DB_META], &key, &val) == 0 && val.mv_size == 8)
        self->size = codec_get_be64 (val.mv_data);
    self->last_ts = INT64_MIN;
    key = (MDB_val){7, "last_ts"};
    if (rc == 0 && mdb_get (txn, self->dbi[DB_META], &key, &val) == 0 && val.mv_size == 8)
        self->last_ts = (int64_t) (codec_get_be64 (val.mv_data) ^ (UINT64_C (1) << 63));
    key = (MDB_val){4, "mark"};
    if (rc == 0 && mdb_get (txn, self->dbi[DB_META], &key, &val) == 0 && val.mv_size == 16)
        self->mark = (store_mark_t){codec_get_be64 (val.mv_data),
                                    codec_get_be64 ((uint8_t *) val.mv_data + 8)};
    if (rc == 0)
        rc = mdb_txn_commit (txn);
    else if (txn)
        mdb_txn_abort (txn);
    if (rc != 0) {
        snprintf (err, err_size, "%s: %s", self->path, mdb_strerror (rc));
        mdb_env_close (self->env);
        self->env = NULL;
        return -1;
    }
    return 0;
}

store_t *
store_open (const char *path, size_t map_size, bool readonly, char *err, size_t err_size)
{
    store_t *self = (store_t *) calloc (1, sizeof (store_t));
    self->path = strdup (path);
    self->map_size = map_size;
    self->readonly = readonly;
    pthread_rwlock_init (&self->lock, NULL);
    if (s_env_open (self, err, err_size) != 0)
        store_destroy (&self);
    return self;
}

void
store_destroy (store_t **self_p)
{
    if (self_p && *self_p) {
        store_t *self = *self_p;
        if (self->txn)
            mdb_txn_abort (self->txn);
        if (self->env) {
            if (!self->readonly)
                mdb_env_sync (self->env, 1);
            mdb_env_close (self->env);
        }
        pthread_rwlock_destroy (&self->lock);
        free (self->path);
        free (self);
        *self_p = NULL;
    }
}

const char *
store_path (const store_t *self)
{
    return self->path;
}

uint64_t
store_size (store_t *self)
{
    return self->size;
}

store_mark_t
store_mark (store_t *self)
{
    return self->mark;
}

//  --------------------------------------------------------------------------
//  Merkle node access through a transaction

typedef struct {
    store_t *store;
    MDB_txn *txn;
} s_merkle_ctx_t;

static int
s_merkle_get (void *arg, unsigned level, uint64_t index, merkle_hash_t out)
{
    s_merkle_ctx_t *ctx = (s_merkle_ctx_t *) arg;
    uint8_t k[9] = {(uint8_t) level};
    codec_put_be64 (k + 1, index);
    MDB_val key = {sizeof (k), k}, val;
    if (mdb_get (ctx->txn, ctx->store->dbi[DB_MERKLE], &key, &val) != 0 ||
        val.mv_size != MERKLE_HASH_SIZE)
        return -1;
    memcpy (out, val.mv_data, MERKLE_HASH_SIZE);
    return 0;
}

static int
s_merkle_put (void *arg, unsigned level, uint64_t index, const merkle_hash_t hash)
{
    s_merkle_ctx_t *ctx = (s_merkle_ctx_t *) arg;
    uint8_t k[9] = {(uint8_t) level};
    codec_put_be64 (k + 1, index);
    MDB_val key = {sizeof (k), k}, val = {MERKLE_HASH_SIZE, (void *) hash};
    ctx->store->merkle_rc = mdb_put (ctx->txn, ctx->store->dbi[DB_MERKLE], &key, &val, 0);
    return ctx->store->merkle_rc == 0 ? 0 : -1;
}

//  --------------------------------------------------------------------------
//  Writing

int
store_begin (store_t *self)
{
    if (self->readonly || self->txn)
        return EINVAL;
    int rc = mdb_txn_begin (self->env, NULL, 0, &self->txn);
    if (rc != 0)
        self->txn = NULL;
    self->txn_size = self->size;
    self->txn_last_ts = self->last_ts;
    return rc;
}

int64_t
store_txn_last_ts (store_t *self)
{
    return self->txn_last_ts;
}

static void
s_dedup_key (uint8_t *buf, size_t *len, const char *by, const char *client_id)
{
    size_t a = strlen (by), b = strlen (client_id);
    memcpy (buf, by, a);
    buf[a] = 0;
    memcpy (buf + a + 1, client_id, b);
    *len = a + 1 + b;
}

bool
store_dedup_find (store_t *self, const char *by, const char *client_id, uint64_t *seq)
{
    uint8_t k[LH_MAX_AGENT + 1 + EVENT_MAX_REF];
    size_t len;
    s_dedup_key (k, &len, by, client_id);
    MDB_val key = {len, k}, val;
    if (mdb_get (self->txn, self->dbi[DB_DEDUP], &key, &val) != 0 || val.mv_size != 8)
        return false;
    *seq = codec_get_be64 (val.mv_data);
    return true;
}

static int
s_put_empty (store_t *self, int db, const void *k, size_t len, unsigned flags)
{
    MDB_val key = {len, (void *) k}, val = {0, ""};
    return mdb_put (self->txn, self->dbi[db], &key, &val, flags);
}

int
store_append (store_t *self, const void *leaf, size_t size, const event_t *ev, uint64_t *seq_p)
{
    uint64_t seq = self->txn_size;
    //  Times never go back along the log: queries by time rely on it
    if (ev->ts < self->txn_last_ts)
        return EINVAL;
    uint8_t k[LH_MAX_AGENT + 1 + EVENT_MAX_REF + 8];
    codec_put_be64 (k, seq);
    MDB_val key = {8, k}, val = {size, (void *) leaf};
    int rc = mdb_put (self->txn, self->dbi[DB_EVENTS], &key, &val, MDB_APPEND);
    merkle_hash_t hash;
    merkle_leaf_hash (leaf, size, hash);
    s_merkle_ctx_t ctx = {self, self->txn};
    self->merkle_rc = 0;
    if (rc == 0 && merkle_append (s_merkle_get, s_merkle_put, &ctx, seq, hash) != 0)
        rc = self->merkle_rc ? self->merkle_rc : EIO;
    size_t alen = strlen (ev->agent);
    memcpy (k, ev->agent, alen);
    k[alen] = 0;
    codec_put_be64 (k + alen + 1, seq);
    if (rc == 0)
        rc = s_put_empty (self, DB_AGENT, k, alen + 9, 0);
    k[0] = (uint8_t) ev->type;
    codec_put_be64 (k + 1, seq);
    if (rc == 0)
        rc = s_put_empty (self, DB_TYPE, k, 9, 0);
    codec_put_be64 (k, (uint64_t) ev->ts ^ (UINT64_C (1) << 63));
    codec_put_be64 (k + 8, seq);
    if (rc == 0)
        rc = s_put_empty (self, DB_TIME, k, 16, 0);
    if (rc == 0 && ev->client_id[0]) {
        size_t len;
        s_dedup_key (k, &len, ev->by, ev->client_id);
        uint8_t v[8];
        codec_put_be64 (v, seq);
        MDB_val dkey = {len, k}, dval = {8, v};
        rc = mdb_put (self->txn, self->dbi[DB_DEDUP], &dkey, &dval, 0);
    }
    if (rc == 0) {
        self->txn_size = seq + 1;
        self->txn_last_ts = ev->ts;
        *seq_p = seq;
    }
    return rc;
}

uint64_t
store_txn_size (store_t *self)
{
    return self->txn_size;
}

int
store_txn_root (store_t *self, merkle_hash_t root)
{
    s_merkle_ctx_t ctx = {self, self->txn};
    if (self->txn_size == 0) {
        merkle_empty_root (root);
        return 0;
    }
    return merkle_root (s_merkle_get, &ctx, self->txn_size, root) == 0 ? 0 : EIO;
}

int
store_put_checkpoint (store_t *self, uint64_t size, const char *note)
{
    uint8_t k[8];
    codec_put_be64 (k, size);
    MDB_val key = {8, k}, val = {strlen (note), (void *) note};
    return mdb_put (self->txn, self->dbi[DB_CHECKPOINTS], &key, &val, 0);
}

int
store_commit (store_t *self, store_mark_t mark)
{
    uint8_t v[16];
    codec_put_be64 (v, self->txn_size);
    MDB_val key = {4, "size"}, val = {8, v};
    int rc = mdb_put (self->txn, self->dbi[DB_META], &key, &val, 0);
    codec_put_be64 (v, mark.term);
    codec_put_be64 (v + 8, mark.counter);
    key = (MDB_val){4, "mark"};
    val = (MDB_val){16, v};
    if (rc == 0)
        rc = mdb_put (self->txn, self->dbi[DB_META], &key, &val, 0);
    codec_put_be64 (v, (uint64_t) self->txn_last_ts ^ (UINT64_C (1) << 63));
    key = (MDB_val){7, "last_ts"};
    val = (MDB_val){8, v};
    if (rc == 0 && self->txn_size > 0)
        rc = mdb_put (self->txn, self->dbi[DB_META], &key, &val, 0);
    if (rc == 0)
        rc = mdb_txn_commit (self->txn);
    else
        mdb_txn_abort (self->txn);
    self->txn = NULL;
    if (rc == 0) {
        self->size = self->txn_size;
        self->last_ts = self->txn_last_ts;
        self->mark = mark;
    }
    return rc;
}

void
store_abort (store_t *self)
{
    if (self->txn)
        mdb_txn_abort (self->txn);
    self->txn = NULL;
    self->txn_size = self->size;
    self->txn_last_ts = self->last_ts;
}

int
store_update_checkpoints (store_t *self, const uint64_t *sizes, char *const *notes, size_t n)
{
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        uint8_t k[8];
        codec_put_be64 (k, sizes[i]);
        MDB_val key = {8, k}, val;
        //  Only sizes this replica has applied and signed itself
        if (mdb_get (txn, self->dbi[DB_CHECKPOINTS], &key, &val) != 0)
            continue;
        val = (MDB_val){strlen (notes[i]), (void *) notes[i]};
        rc = mdb_put (txn, self->dbi[DB_CHECKPOINTS], &key, &val, 0);
    }
    if (rc == 0)
        return mdb_txn_commit (txn);
    if (txn)
        mdb_txn_abort (txn);
    return rc;
}

//  --------------------------------------------------------------------------
//  Reading

static int
s_read_begin (store_t *self, MDB_txn **txn)
{
    pthread_rwlock_rdlock (&self->lock);
    int rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, txn);
    if (rc != 0)
        pthread_rwlock_unlock (&self->lock);
    return rc;
}

static void
s_read_end (store_t *self, MDB_txn *txn)
{
    mdb_txn_abort (txn);
    pthread_rwlock_unlock (&self->lock);
}

static void *
s_dup (const MDB_val *val)
{
    void *copy = malloc (val->mv_size + 1);
    memcpy (copy, val->mv_data, val->mv_size);
    ((char *) copy)[val->mv_size] = 0;
    return copy;
}

int
store_get (store_t *self, uint64_t seq, void **leaf, size_t *size)
{
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn);
    if (rc != 0)
        return rc;
    uint8_t k[8];
    codec_put_be64 (k, seq);
    MDB_val key = {8, k}, val;
    rc = mdb_get (txn, self->dbi[DB_EVENTS], &key, &val);
    if (rc == 0) {
        *leaf = s_dup (&val);
        *size = val.mv_size;
    }
    s_read_end (self, txn);
    return rc;
}

int
store_leaf_hash (store_t *self, uint64_t seq, merkle_hash_t out)
{
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn);
    if (rc != 0)
        return rc;
    s_merkle_ctx_t ctx = {self, txn};
    rc = s_merkle_get (&ctx, 0, seq, out) == 0 ? 0 : MDB_NOTFOUND;
    s_read_end (self, txn);
    return rc;
}

int
store_root (store_t *self, uint64_t size, merkle_hash_t out)
{
    if (size == 0) {
        merkle_empty_root (out);
        return 0;
    }
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn);
    if (rc != 0)
        return rc;
    s_merkle_ctx_t ctx = {self, txn};
    rc = merkle_root (s_merkle_get, &ctx, size, out) == 0 ? 0 : MDB_NOTFOUND;
    s_read_end (self, txn);
    return rc;
}

int
store_checkpoint (store_t *self, uint64_t size, char **note, uint64_t *at_size)
{
    MDB_txn *txn;
    MDB_cursor *cursor;
    int rc = s_read_begin (self, &txn);
    if (rc != 0)
        return rc;
    rc = mdb_cursor_open (txn, self->dbi[DB_CHECKPOINTS], &cursor);
    uint8_t k[8];
    codec_put_be64 (k, size);
    MDB_val key = {8, k}, val;
    if (rc == 0) {
        rc = mdb_cursor_get (cursor, &key, &val, size ? MDB_SET_KEY : MDB_LAST);
        if (rc == 0) {
            *note = (char *) s_dup (&val);
            *at_size = codec_get_be64 (key.mv_data);
        }
        mdb_cursor_close (cursor);
    }
    s_read_end (self, txn);
    return rc;
}

int
store_inclusion (store_t *self, uint64_t seq, uint64_t size, merkle_hash_t proof[MERKLE_MAX_PROOF],
                 size_t *count)
{
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn);
    if (rc != 0)
        return rc;
    s_merkle_ctx_t ctx = {self, txn};
    rc = merkle_inclusion_proof (s_merkle_get, &ctx, seq, size, proof, count) == 0 ? 0
                                                                                   : MDB_NOTFOUND;
    s_read_end (self, txn);
    return rc;
}

int
store_consistency (store_t *self, uint64_t old_size, uint64_t new_size,
                   merkle_hash_t proof[MERKLE_MAX_PROOF], size_t *count)
{
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn);
    if (rc != 0)
        return rc;
    s_merkle_ctx_t ctx = {self, txn};
    rc = merkle_consistency_proof (s_merkle_get, &ctx, old_size, new_size, proof, count) == 0
             ? 0
             : MDB_NOTFOUND;
    s_read_end (self, txn);
    return rc;
}

//  Does the leaf pass the filter's event fields? (seq was checked by the caller)
static bool
s_matches (const store_filter_t *filter, const MDB_val *leaf)
{
    if (filter->type < 0 && !filter->agent && !filter->since && !filter->until)
        return true;
    event_t ev;
    codec_doc_t *doc;
    char why[128];
    if (event_decode (leaf->mv_data, leaf->mv_size, &ev, &doc, why, sizeof (why)) != LH_OK)
        return false;
    codec_doc_destroy (&doc);
    return (filter->type < 0 || (int) ev.type == filter->type) &&
           (!filter->agent || strcmp (ev.agent, filter->agent) == 0) &&
           (!filter->since || ev.ts >= filter->since) && (!filter->until || ev.ts < filter->until);
}

int
store_query (store_t *self, const store_filter_t *filter, size_t limit, store_visit_fn *visit,
             void *arg)
{
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn);
    if (rc != 0)
        return rc;
    uint64_t first = filter->from_start ? 0 : filter->after + 1;
    MDB_cursor *index = NULL, *events = NULL;
    uint8_t k[LH_MAX_AGENT + 9];
    size_t prefix = 0;
    //  The most selective index drives; the rest is filtered on the leaf
    int db = filter->agent ? DB_AGENT : filter->type >= 0 ? DB_TYPE : -1;
    if (db == DB_AGENT) {
        prefix = strlen (filter->agent) + 1;
        memcpy (k, filter->agent, prefix);
    } else if (db == DB_TYPE) {
        k[0] = (uint8_t) filter->type;
        prefix = 1;
    } else if (filter->since) {
        //  The first event stamped at or after since starts the scan
        MDB_cursor *time;
        uint8_t t[16];
        codec_put_be64 (t, (uint64_t) filter->since ^ (UINT64_C (1) << 63));
        codec_put_be64 (t + 8, 0);
        MDB_val key = {16, t}, val;
        if (mdb_cursor_open (txn, self->dbi[DB_TIME], &time) == 0) {
            if (mdb_cursor_get (time, &key, &val, MDB_SET_RANGE) == 0) {
                uint64_t seq = codec_get_be64 ((uint8_t *) key.mv_data + 8);
                if (seq > first)
                    first = seq;
            } else
                first = UINT64_MAX;
            mdb_cursor_close (time);
        }
    }
    rc = mdb_cursor_open (txn, self->dbi[DB_EVENTS], &events);
    if (rc == 0 && db >= 0)
        rc = mdb_cursor_open (txn, self->dbi[db], &index);
    size_t found = 0;
    if (rc == 0 && index) {
        codec_put_be64 (k + prefix, first);
        MDB_val key = {prefix + 8, k}, val;
        int op = MDB_SET_RANGE;
        while (found < limit && mdb_cursor_get (index, &key, &val, op) == 0) {
            op = MDB_NEXT;
            if (key.mv_size != prefix + 8 || memcmp (key.mv_data, k, prefix) != 0)
                break;
            uint8_t s[8];
            memcpy (s, (uint8_t *) key.mv_data + prefix, 8);
            MDB_val ekey = {8, s}, leaf;
            if (mdb_cursor_get (events, &ekey, &leaf, MDB_SET_KEY) != 0 ||
                !s_matches (filter, &leaf))
                continue;
            found++;
            if (!visit (arg, codec_get_be64 (s), leaf.mv_data, leaf.mv_size))
                break;
        }
    } else if (rc == 0 && first != UINT64_MAX) {
        uint8_t s[8];
        codec_put_be64 (s, first);
        MDB_val key = {8, s}, leaf;
        int op = MDB_SET_RANGE;
        while (found < limit && mdb_cursor_get (events, &key, &leaf, op) == 0) {
            op = MDB_NEXT;
            if (!s_matches (filter, &leaf))
                continue;
            found++;
            if (!visit (arg, codec_get_be64 (key.mv_data), leaf.mv_data, leaf.mv_size))
                break;
        }
    }
    if (index)
        mdb_cursor_close (index);
    if (events)
        mdb_cursor_close (events);
    s_read_end (self, txn);
    return rc;
}

int
store_walk (store_t *self, store_checkpoint_fn *checkpoint, store_leaf_fn *leaf, void *arg)
{
    MDB_txn *txn;
    MDB_cursor *cursor = NULL;
    int rc = s_read_begin (self, &txn);
    if (rc != 0)
        return rc;
    MDB_val key, val;
    bool more = true;
    //  Checkpoints first, from the same state as the leaves
    if (checkpoint) {
        rc = mdb_cursor_open (txn, self->dbi[DB_CHECKPOINTS], &cursor);
        for (int op = MDB_FIRST; rc == 0 && more && mdb_cursor_get (cursor, &key, &val, op) == 0;
             op = MDB_NEXT) {
            if (key.mv_size != 8)
                continue;
            char *note = (char *) s_dup (&val);
            more = checkpoint (arg, codec_get_be64 (key.mv_data), note);
            free (note);
        }
        if (rc == 0)
            mdb_cursor_close (cursor);
    }
    if (rc == 0 && more && leaf) {
        rc = mdb_cursor_open (txn, self->dbi[DB_EVENTS], &cursor);
        s_merkle_ctx_t ctx = {self, txn};
        for (int op = MDB_FIRST; rc == 0 && more && mdb_cursor_get (cursor, &key, &val, op) == 0;
             op = MDB_NEXT) {
            uint64_t seq = key.mv_size == 8 ? codec_get_be64 (key.mv_data) : UINT64_MAX;
            merkle_hash_t stored;
            if (seq == UINT64_MAX || s_merkle_get (&ctx, 0, seq, stored) != 0)
                memset (stored, 0, sizeof (stored));
            more = leaf (arg, seq, val.mv_data, val.mv_size, stored);
        }
        if (rc == 0)
            mdb_cursor_close (cursor);
    }
    s_read_end (self, txn);
    return rc;
}

int
store_check_nodes (store_t *self, unsigned *level, uint64_t *index)
{
    MDB_txn *txn;
    MDB_cursor *cursor;
    int rc = s_read_begin (self, &txn);
    if (rc != 0)
        return rc;
    if (mdb_cursor_open (txn, self->dbi[DB_MERKLE], &cursor) != 0) {
        s_read_end (self, txn);
        return -1;
    }
    s_merkle_ctx_t ctx = {self, txn};
    MDB_val key, val;
    //  Each interior node must be the hash of its two children; with every
    //  leaf hash checked against its event, that checks the whole tree
    for (int op = MDB_FIRST; rc == 0 && mdb_cursor_get (cursor, &key, &val, op) == 0;
         op = MDB_NEXT) {
        unsigned l = key.mv_size == 9 ? ((uint8_t *) key.mv_data)[0] : 0;
        uint64_t i = key.mv_size == 9 ? codec_get_be64 ((uint8_t *) key.mv_data + 1) : 0;
        merkle_hash_t left, right, expected;
        if (key.mv_size != 9 || val.mv_size != MERKLE_HASH_SIZE)
            rc = -1;
        else if (l == 0)
            continue;
        else if (s_merkle_get (&ctx, l - 1, 2 * i, left) != 0 ||
                 s_merkle_get (&ctx, l - 1, 2 * i + 1, right) != 0)
            rc = -1;
        else {
            merkle_node_hash (left, right, expected);
            if (memcmp (expected, val.mv_data, MERKLE_HASH_SIZE) != 0)
                rc = -1;
        }
        if (rc != 0) {
            *level = l;
            *index = i;
        }
    }
    mdb_cursor_close (cursor);
    s_read_end (self, txn);
    return rc;
}

int
store_snapshot (store_t *self, void *(*alloc) (size_t), void **data, size_t *size)
{
    int fd = memfd_create ("lh-snapshot", MFD_CLOEXEC);
    if (fd < 0)
        return errno;
    pthread_rwlock_rdlock (&self->lock);
    int rc = mdb_env_copyfd2 (self->env, fd, MDB_CP_COMPACT);
    pthread_rwlock_unlock (&self->lock);
    struct stat st;
    if (rc == 0 && fstat (fd, &st) != 0)
        rc = errno;
    if (rc == 0) {
        *size = (size_t) st.st_size;
        *data = alloc (*size ? *size : 1);
        if (!*data)
            rc = ENOMEM;
        size_t done = 0;
        while (rc == 0 && done < *size) {
            ssize_t n = pread (fd, (char *) *data + done, *size - done, (off_t) done);
            if (n <= 0) {
                rc = n < 0 ? errno : EIO;
                break;
            }
            done += (size_t) n;
        }
    }
    close (fd);
    return rc;
}

int
store_restore (store_t *self, const void *data, size_t size, char *err, size_t err_size)
{
    char tmp[4096];
    snprintf (tmp, sizeof (tmp), "%s.restore", self->path);
    int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf (err, err_size, "%s: %s", tmp, strerror (errno));
        return -1;
    }
    size_t done = 0;
    while (done < size) {
        ssize_t n = write (fd, (const char *) data + done, size - done);
        if (n <= 0) {
            snprintf (err, err_size, "%s: %s", tmp, n < 0 ? strerror (errno) : "short write");
            close (fd);
            unlink (tmp);
            return -1;
        }
        done += (size_t) n;
    }
    if (fsync (fd) != 0) {
        snprintf (err, err_size, "%s: fsync: %s", tmp, strerror (errno));
        close (fd);
        unlink (tmp);
        return -1;
    }
    close (fd);
    pthread_rwlock_wrlock (&self->lock);
    store_abort (self);
    mdb_env_close (self->env);
    self->env = NULL;
    int rc = rename (tmp, self->path) == 0 ? s_env_open (self, err, err_size) : -1;
    if (rc != 0 && !self->env)
        snprintf (err, err_size, "%s: cannot replace with the snapshot: %s", self->path,
                  strerror (errno));
    pthread_rwlock_unlock (&self->lock);
    return rc;
}

int
store_sync (store_t *self)
{
    if (self->readonly)
        return 0;
    //  Any thread: the environment may be swapped by store_restore meanwhile
    pthread_rwlock_rdlock (&self->lock);
    int rc = self->env ? mdb_env_sync (self->env, 1) : 0;
    pthread_rwlock_unlock (&self->lock);
    return rc;
}
