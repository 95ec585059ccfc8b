/*  logmodel -- the log view's read model (see logmodel.h).

    One LMDB environment, DIR/logview.mdb, named databases:
      meta     "next" (be64: events held), "jsonl" (be64: events.jsonl's
               size), "checkpoint" (the note), "refused" (be64)
      events   be64 seq -> leaf hash (32) | be64 jsonl offset | be32 pretty
               length | pretty JSON | one JSON line
      jsonl    be64 offset of a line in events.jsonl -> be64 seq
      agents   agent \0 be64 seq -> ""
      types    type \0 be64 seq -> ""
      pending  escalation id -> be64 seq of its escalation.requested
      hist     path \0 be64 seq -> flags (1 removed, 2 truncated) | be64
               size | content: the shadows' history
      hseqs    be64 seq -> "": events that changed the shadows
    Only the follower thread writes, except logmodel_decided.
*/
#include "logmodel.h"

#include "codec.h"
#include "jsonpack.h"
#include "lh_client.h"
#include "lh_log.h"
#include "merkle.h"
#include "note.h"

#include <czmq.h>
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>

#define S_BATCH      1000
#define S_PATH_MAX   4096
#define S_HEAD       44 //  hash, jsonl offset, pretty length
#define S_F_REMOVED  1
#define S_F_TRUNC    2
#define S_BACKOFF_MS 5000

struct _logmodel_t {
    MDB_env *env;
    MDB_dbi meta, events, jsonl, agents, types, pending, hist, hseqs;
    pthread_t thread;
    bool running;
    const lh_connect_t *conn;
    int poll_ms;
    logmodel_changed_fn *changed;
    void *arg;
    pthread_mutex_t lock; //  wake, stop, decided
    pthread_cond_t cond;
    bool stop, wake;
    zlistx_t *decided; //  ids closed here, not yet reported
    atomic_uint_fast64_t size, resumed_from, fetched, batches, fetch_errors, paths_refused;
};

//  --------------------------------------------------------------------------
//  Small helpers

static void
s_be64 (uint8_t *out, uint64_t v)
{
    codec_put_be64 (out, v);
}

static uint64_t
s_get64 (const void *p)
{
    return codec_get_be64 ((const uint8_t *) p);
}

//  key = text \0 be64 seq, in out (at least len + 9 bytes)
static size_t
s_key (uint8_t *out, const char *text, size_t len, uint64_t seq)
{
    memcpy (out, text, len);
    out[len] = 0;
    s_be64 (out + len + 1, seq);
    return len + 9;
}

static bool
s_agent_ok (const char *s, size_t len)
{
    if (len < 1 || len > 64 || (len == 1 && s[0] == '.') ||
        (len == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool
s_id_ok (const char *s, size_t len)
{
    if (len != 32)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

bool
logmodel_path_ok (const char *path, size_t len)
{
    if (len < 2 || len > S_PATH_MAX || path[0] != '/' || path[len - 1] == '/')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) path[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    //  Every component: not "", ".", "..", at most 255 bytes
    size_t start = 1;
    for (size_t i = 1; i <= len; i++)
        if (i == len || path[i] == '/') {
            size_t n = i - start;
            if (n == 0 || n > 255 || (n == 1 && path[start] == '.') ||
                (n == 2 && path[start] == '.' && path[start + 1] == '.'))
                return false;
            start = i + 1;
        }
    return true;
}

static const msgpack_object *
s_str (const msgpack_object *map, const char *key)
{
    const msgpack_object *o = codec_map_get (map, key);
    return o && o->type == MSGPACK_OBJECT_STR ? o : NULL;
}

//  --------------------------------------------------------------------------
//  Store

logmodel_t *
logmodel_new (const char *dir, size_t map_mb, char *err, size_t err_size)
{
    if (!dir || map_mb < 1) {
        snprintf (err, err_size, "a model needs a directory and a map size");
        return NULL;
    }
    if (mkdir (dir, 0700) != 0 && errno != EEXIST) {
        snprintf (err, err_size, "cannot make %s: %s", dir, strerror (errno));
        return NULL;
    }
    logmodel_t *self = (logmodel_t *) calloc (1, sizeof (logmodel_t));
    if (!self)
        return NULL;
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->cond, NULL);
    self->decided = zlistx_new ();
    zlistx_set_destructor (self->decided, (zlistx_destructor_fn *) zstr_free);
    char path[4200];
    snprintf (path, sizeof (path), "%s/logview.mdb", dir);
    int rc = mdb_env_create (&self->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs (self->env, 8);
    if (rc == 0)
        rc = mdb_env_set_mapsize (self->env, map_mb << 20);
    if (rc == 0)
        rc = mdb_env_set_maxreaders (self->env, 512);
    if (rc == 0)
        rc = mdb_env_open (self->env, path, MDB_NOSUBDIR | MDB_NOTLS, 0600);
    MDB_txn *txn = NULL;
    if (rc == 0)
        rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    const char *names[] = {"meta",  "events",  "jsonl", "agents",
                           "types", "pending", "hist",  "hseqs"};
    MDB_dbi *dbis[] = {&self->meta,  &self->events,  &self->jsonl, &self->agents,
                       &self->types, &self->pending, &self->hist,  &self->hseqs};
    for (int i = 0; rc == 0 && i < 8; i++)
        rc = mdb_dbi_open (txn, names[i], MDB_CREATE, dbis[i]);
    if (rc == 0) {
        rc = mdb_txn_commit (txn);
        txn = NULL;
    }
    if (txn)
        mdb_txn_abort (txn);
    if (rc != 0) {
        snprintf (err, err_size, "cannot open %s: %s", path, mdb_strerror (rc));
        logmodel_destroy (&self);
        return NULL;
    }
    self->size = logmodel_size (self);
    return self;
}

void
logmodel_destroy (logmodel_t **self_p)
{
    logmodel_t *self = *self_p;
    if (!self)
        return;
    logmodel_stop (self);
    if (self->env)
        mdb_env_close (self->env);
    zlistx_destroy (&self->decided);
    pthread_cond_destroy (&self->cond);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

static MDB_txn *
s_read_txn (logmodel_t *self)
{
    MDB_txn *txn = NULL;
    if (mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn) != 0)
        return NULL;
    return txn;
}

static uint64_t
s_meta64 (logmodel_t *self, MDB_txn *txn, const char *name)
{
    MDB_val k = {strlen (name), (void *) name}, v;
    if (mdb_get (txn, self->meta, &k, &v) == 0 && v.mv_size == 8)
        return s_get64 (v.mv_data);
    return 0;
}

static int
s_put_meta64 (logmodel_t *self, MDB_txn *txn, const char *name, uint64_t value)
{
    uint8_t b[8];
    s_be64 (b, value);
    MDB_val k = {strlen (name), (void *) name}, v = {8, b};
    return mdb_put (txn, self->meta, &k, &v, 0);
}

uint64_t
logmodel_size (logmodel_t *self)
{
    MDB_txn *txn = s_read_txn (self);
    uint64_t n = txn ? s_meta64 (self, txn, "next") : 0;
    if (txn)
        mdb_txn_abort (txn);
    return n;
}

uint64_t
logmodel_jsonl_size (logmodel_t *self)
{
    MDB_txn *txn = s_read_txn (self);
    uint64_t n = txn ? s_meta64 (self, txn, "jsonl") : 0;
    if (txn)
        mdb_txn_abort (txn);
    return n;
}

void
logmodel_counters (logmodel_t *self, logmodel_counters_t *out)
{
    memset (out, 0, sizeof (*out));
    out->size = self->size;
    out->resumed_from = self->resumed_from;
    out->fetched = self->fetched;
    out->batches = self->batches;
    out->fetch_errors = self->fetch_errors;
    MDB_txn *txn = s_read_txn (self);
    if (txn) {
        out->paths_refused = s_meta64 (self, txn, "refused");
        MDB_stat st;
        if (mdb_stat (txn, self->pending, &st) == 0)
            out->pending = st.ms_entries;
        mdb_txn_abort (txn);
    }
}

//  --------------------------------------------------------------------------
//  Reads

int
logmodel_event (logmodel_t *self, uint64_t seq, char **json, size_t *size)
{
    MDB_txn *txn = s_read_txn (self);
    if (!txn)
        return -EIO;
    uint8_t kb[8];
    s_be64 (kb, seq);
    MDB_val k = {8, kb}, v;
    int rc = -ENOENT;
    if (mdb_get (txn, self->events, &k, &v) == 0 && v.mv_size >= S_HEAD) {
        const uint8_t *p = (const uint8_t *) v.mv_data;
        size_t pretty =
            ((size_t) p[40] << 24) | ((size_t) p[41] << 16) | ((size_t) p[42] << 8) | p[43];
        if (pretty <= v.mv_size - S_HEAD) {
            rc = 0;
            if (size)
                *size = pretty;
            if (json) {
                *json = (char *) malloc (pretty + 1);
                if (*json) {
                    memcpy (*json, p + S_HEAD, pretty);
                    (*json)[pretty] = 0;
                } else
                    rc = -ENOMEM;
            }
        }
    }
    mdb_txn_abort (txn);
    return rc;
}

int
logmodel_leaf_hash (logmodel_t *self, uint64_t seq, uint8_t *hash)
{
    MDB_txn *txn = s_read_txn (self);
    if (!txn)
        return -EIO;
    uint8_t kb[8];
    s_be64 (kb, seq);
    MDB_val k = {8, kb}, v;
    int rc = -ENOENT;
    if (mdb_get (txn, self->events, &k, &v) == 0 && v.mv_size >= S_HEAD) {
        memcpy (hash, v.mv_data, 32);
        rc = 0;
    }
    mdb_txn_abort (txn);
    return rc;
}

size_t
logmodel_jsonl_read (logmodel_t *self, uint64_t off, char *buf, size_t len)
{
    MDB_txn *txn = s_read_txn (self);
    if (!txn)
        return 0;
    size_t got = 0;
    MDB_cursor *cur = NULL;
    uint8_t kb[8];
    s_be64 (kb, off);
    MDB_val k = {8, kb}, v;
    if (off < s_meta64 (self, txn, "jsonl") && mdb_cursor_open (txn, self->jsonl, &cur) == 0) {
        //  The line holding off: the last one starting at or before it
        int rc = mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE);
        if (rc != 0 || s_get64 (k.mv_data) > off)
            rc = mdb_cursor_get (cur, &k, &v, rc == 0 ? MDB_PREV : MDB_LAST);
        uint64_t at = off;
        while (rc == 0 && got < len && k.mv_size == 8 && v.mv_size == 8) {
            uint64_t start = s_get64 (k.mv_data);
            uint8_t sb[8];
            memcpy (sb, v.mv_data, 8);
            MDB_val ek = {8, sb}, ev;
            if (mdb_get (txn, self->events, &ek, &ev) != 0 || ev.mv_size < S_HEAD)
                break;
            const uint8_t *p = (const uint8_t *) ev.mv_data;
            size_t pretty =
                ((size_t) p[40] << 24) | ((size_t) p[41] << 16) | ((size_t) p[42] << 8) | p[43];
            if (pretty > ev.mv_size - S_HEAD)
                break;
            const uint8_t *line = p + S_HEAD + pretty;
            size_t line_len = ev.mv_size - S_HEAD - pretty;
            if (at < start || at - start > line_len)
                break;
            size_t skip = (size_t) (at - start);
            size_t take = line_len - skip < len - got ? line_len - skip : len - got;
            memcpy (buf + got, line + skip, take);
            got += take;
            at += take;
            rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close (cur);
    }
    mdb_txn_abort (txn);
    return got;
}

char *
logmodel_checkpoint (logmodel_t *self, size_t *size)
{
    MDB_txn *txn = s_read_txn (self);
    if (!txn)
        return NULL;
    MDB_val k = {10, (void *) "checkpoint"}, v;
    char *note = NULL;
    if (mdb_get (txn, self->meta, &k, &v) == 0 && (note = (char *) malloc (v.mv_size + 1))) {
        memcpy (note, v.mv_data, v.mv_size);
        note[v.mv_size] = 0;
        *size = v.mv_size;
    }
    mdb_txn_abort (txn);
    return note;
}

//  Keys "prefix \0 be64" of dbi, as "<seq>.json"
static void
s_list_seqs (logmodel_t *self, MDB_dbi dbi, const char *prefix, logmodel_name_fn *fn, void *arg)
{
    size_t plen = strlen (prefix);
    if (plen > 128)
        return;
    MDB_txn *txn = s_read_txn (self);
    MDB_cursor *cur = NULL;
    if (!txn || mdb_cursor_open (txn, dbi, &cur) != 0) {
        if (txn)
            mdb_txn_abort (txn);
        return;
    }
    uint8_t kb[140];
    MDB_val k = {s_key (kb, prefix, plen, 0), kb}, v;
    int rc = mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size == plen + 9 && memcmp (k.mv_data, prefix, plen) == 0 &&
           ((const uint8_t *) k.mv_data)[plen] == 0) {
        char name[32];
        snprintf (name, sizeof (name), "%llu.json",
                  (unsigned long long) s_get64 ((const uint8_t *) k.mv_data + plen + 1));
        if (!fn (arg, name, false))
            break;
        rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close (cur);
    mdb_txn_abort (txn);
}

void
logmodel_list_type (logmodel_t *self, const char *type, logmodel_name_fn *fn, void *arg)
{
    s_list_seqs (self, self->types, type, fn, arg);
}

void
logmodel_list_agent (logmodel_t *self, const char *agent, logmodel_name_fn *fn, void *arg)
{
    s_list_seqs (self, self->agents, agent, fn, arg);
}

void
logmodel_list_agents (logmodel_t *self, logmodel_name_fn *fn, void *arg)
{
    MDB_txn *txn = s_read_txn (self);
    MDB_cursor *cur = NULL;
    if (!txn || mdb_cursor_open (txn, self->agents, &cur) != 0) {
        if (txn)
            mdb_txn_abort (txn);
        return;
    }
    MDB_val k, v;
    int rc = mdb_cursor_get (cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        const char *key = (const char *) k.mv_data;
        size_t n = strnlen (key, k.mv_size);
        char name[80];
        if (n > 64 || n + 9 != k.mv_size)
            break;
        memcpy (name, key, n);
        name[n] = 0;
        if (!fn (arg, name, true))
            break;
        //  The next agent: past every "name \0 ..." key
        uint8_t next[80];
        memcpy (next, name, n);
        next[n] = 1;
        k.mv_size = n + 1;
        k.mv_data = next;
        rc = mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE);
    }
    mdb_cursor_close (cur);
    mdb_txn_abort (txn);
}

void
logmodel_list_pending (logmodel_t *self, logmodel_name_fn *fn, void *arg)
{
    MDB_txn *txn = s_read_txn (self);
    MDB_cursor *cur = NULL;
    if (!txn || mdb_cursor_open (txn, self->pending, &cur) != 0) {
        if (txn)
            mdb_txn_abort (txn);
        return;
    }
    MDB_val k, v;
    int rc = mdb_cursor_get (cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        char name[40];
        if (k.mv_size < sizeof (name)) {
            memcpy (name, k.mv_data, k.mv_size);
            name[k.mv_size] = 0;
            if (!fn (arg, name, true))
                break;
        }
        rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close (cur);
    mdb_txn_abort (txn);
}

void
logmodel_list_history (logmodel_t *self, logmodel_name_fn *fn, void *arg)
{
    MDB_txn *txn = s_read_txn (self);
    MDB_cursor *cur = NULL;
    if (!txn || mdb_cursor_open (txn, self->hseqs, &cur) != 0) {
        if (txn)
            mdb_txn_abort (txn);
        return;
    }
    MDB_val k, v;
    int rc = mdb_cursor_get (cur, &k, &v, MDB_FIRST);
    while (rc == 0 && k.mv_size == 8) {
        char name[32];
        snprintf (name, sizeof (name), "%llu", (unsigned long long) s_get64 (k.mv_data));
        if (!fn (arg, name, true))
            break;
        rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close (cur);
    mdb_txn_abort (txn);
}

static bool
s_has (logmodel_t *self, MDB_dbi dbi, const char *text, uint64_t seq)
{
    size_t len = strlen (text);
    if (len > 128)
        return false;
    MDB_txn *txn = s_read_txn (self);
    if (!txn)
        return false;
    uint8_t kb[140];
    MDB_val k = {s_key (kb, text, len, seq), kb}, v;
    bool found = mdb_get (txn, dbi, &k, &v) == 0;
    mdb_txn_abort (txn);
    return found;
}

bool
logmodel_has_type (logmodel_t *self, const char *type, uint64_t seq)
{
    return s_has (self, self->types, type, seq);
}

bool
logmodel_has_agent_event (logmodel_t *self, const char *agent, uint64_t seq)
{
    return s_has (self, self->agents, agent, seq);
}

bool
logmodel_has_agent (logmodel_t *self, const char *agent)
{
    size_t len = strlen (agent);
    if (!s_agent_ok (agent, len))
        return false;
    MDB_txn *txn = s_read_txn (self);
    MDB_cursor *cur = NULL;
    bool found = false;
    if (txn && mdb_cursor_open (txn, self->agents, &cur) == 0) {
        uint8_t kb[80];
        MDB_val k = {s_key (kb, agent, len, 0), kb}, v;
        found = mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE) == 0 && k.mv_size == len + 9 &&
                memcmp (k.mv_data, agent, len) == 0 && ((const uint8_t *) k.mv_data)[len] == 0;
        mdb_cursor_close (cur);
    }
    if (txn)
        mdb_txn_abort (txn);
    return found;
}

int
logmodel_pending (logmodel_t *self, const char *id, uint64_t *seq)
{
    if (!s_id_ok (id, strlen (id)))
        return -ENOENT;
    MDB_txn *txn = s_read_txn (self);
    if (!txn)
        return -EIO;
    MDB_val k = {strlen (id), (void *) id}, v;
    int rc = -ENOENT;
    if (mdb_get (txn, self->pending, &k, &v) == 0 && v.mv_size == 8) {
        *seq = s_get64 (v.mv_data);
        rc = 0;
    }
    mdb_txn_abort (txn);
    return rc;
}

void
logmodel_decided (logmodel_t *self, const char *id)
{
    if (!s_id_ok (id, strlen (id)))
        return;
    MDB_txn *txn = NULL;
    if (mdb_txn_begin (self->env, NULL, 0, &txn) == 0) {
        MDB_val k = {strlen (id), (void *) id};
        if (mdb_del (txn, self->pending, &k, NULL) == 0)
            mdb_txn_commit (txn);
        else
            mdb_txn_abort (txn);
    }
    pthread_mutex_lock (&self->lock);
    zlistx_add_end (self->decided, strdup (id));
    self->wake = true;
    pthread_cond_signal (&self->cond);
    pthread_mutex_unlock (&self->lock);
}

char **
logmodel_recent (logmodel_t *self, const char *agent, const char *type, size_t count, size_t *n)
{
    *n = 0;
    size_t len = strlen (agent);
    char **out = (char **) calloc (count + 1, sizeof (char *));
    MDB_txn *txn = s_read_txn (self);
    MDB_cursor *cur = NULL;
    if (!out || !s_agent_ok (agent, len) || !txn ||
        mdb_cursor_open (txn, self->agents, &cur) != 0) {
        if (txn)
            mdb_txn_abort (txn);
        return out;
    }
    uint8_t kb[80];
    MDB_val k = {s_key (kb, agent, len, UINT64_MAX), kb}, v;
    int rc = mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE);
    rc = mdb_cursor_get (cur, &k, &v, rc == 0 ? MDB_PREV : MDB_LAST);
    size_t tlen = strlen (type);
    for (size_t scanned = 0; rc == 0 && *n < count && scanned < 10000; scanned++) {
        if (k.mv_size != len + 9 || memcmp (k.mv_data, agent, len) != 0)
            break;
        uint64_t seq = s_get64 ((const uint8_t *) k.mv_data + len + 1);
        uint8_t tb[160];
        MDB_val tk = {s_key (tb, type, tlen < 128 ? tlen : 128, seq), tb}, tv;
        if (mdb_get (txn, self->types, &tk, &tv) == 0) {
            uint8_t sb[8];
            s_be64 (sb, seq);
            MDB_val ek = {8, sb}, ev;
            if (mdb_get (txn, self->events, &ek, &ev) == 0 && ev.mv_size >= S_HEAD) {
                const uint8_t *p = (const uint8_t *) ev.mv_data;
                size_t pretty =
                    ((size_t) p[40] << 24) | ((size_t) p[41] << 16) | ((size_t) p[42] << 8) | p[43];
                if (pretty <= ev.mv_size - S_HEAD) {
                    size_t ll = ev.mv_size - S_HEAD - pretty;
                    char *line = (char *) malloc (ll + 1);
                    if (line) {
                        memcpy (line, p + S_HEAD + pretty, ll);
                        line[ll] = 0;
                        out[(*n)++] = line;
                    }
                }
            }
        }
        rc = mdb_cursor_get (cur, &k, &v, MDB_PREV);
    }
    mdb_cursor_close (cur);
    mdb_txn_abort (txn);
    return out;
}

//  The history entry of path as of at in txn: 0 with the value, or -ENOENT
static int
s_hist_at (logmodel_t *self, MDB_txn *txn, const char *path, size_t len, uint64_t at,
           MDB_val *value, uint64_t *seq)
{
    MDB_cursor *cur = NULL;
    if (len > S_PATH_MAX || mdb_cursor_open (txn, self->hist, &cur) != 0)
        return -ENOENT;
    uint8_t kb[S_PATH_MAX + 9];
    MDB_val k = {s_key (kb, path, len, at == UINT64_MAX ? UINT64_MAX : at + 1), kb};
    int rc = mdb_cursor_get (cur, &k, value, MDB_SET_RANGE);
    if (rc == 0 && at == UINT64_MAX && k.mv_size == len + 9 && memcmp (k.mv_data, kb, len + 9) == 0)
        ; //  exactly the last possible key
    else
        rc = mdb_cursor_get (cur, &k, value, rc == 0 ? MDB_PREV : MDB_LAST);
    int found = -ENOENT;
    if (rc == 0 && k.mv_size == len + 9 && memcmp (k.mv_data, path, len) == 0 &&
        ((const uint8_t *) k.mv_data)[len] == 0 && value->mv_size >= 9) {
        *seq = s_get64 ((const uint8_t *) k.mv_data + len + 1);
        if (!(((const uint8_t *) value->mv_data)[0] & S_F_REMOVED))
            found = 0;
    }
    mdb_cursor_close (cur);
    return found;
}

int
logmodel_shadow (logmodel_t *self, const char *path, uint64_t at, bool with_content,
                 logmodel_file_t *out)
{
    memset (out, 0, sizeof (*out));
    size_t len = strlen (path);
    if (!logmodel_path_ok (path, len))
        return -ENOENT;
    MDB_txn *txn = s_read_txn (self);
    if (!txn)
        return -EIO;
    MDB_val v;
    uint64_t seq = 0;
    int rc = s_hist_at (self, txn, path, len, at, &v, &seq);
    if (rc == 0) {
        const uint8_t *p = (const uint8_t *) v.mv_data;
        out->seq = seq;
        out->truncated = (p[0] & S_F_TRUNC) != 0;
        out->size = s_get64 (p + 1);
        out->content_size = v.mv_size - 9;
        if (with_content) {
            out->content = (char *) malloc (out->content_size + 1);
            if (out->content)
                memcpy (out->content, p + 9, out->content_size);
            else
                rc = -ENOMEM;
        }
    }
    mdb_txn_abort (txn);
    return rc;
}

//  Every path under prefix ("/a/b/", with its slash; "/" for all) that
//  exists as of at: fn (arg, path, len) until it returns false
typedef bool (s_path_fn) (void *arg, const char *path, size_t len);

static void
s_live (logmodel_t *self, MDB_txn *txn, const char *prefix, size_t plen, uint64_t at, s_path_fn *fn,
        void *arg)
{
    MDB_cursor *cur = NULL;
    if (mdb_cursor_open (txn, self->hist, &cur) != 0)
        return;
    char *group = (char *) malloc (S_PATH_MAX + 1);
    size_t glen = 0;
    bool have = false, alive = false;
    MDB_val k = {plen, (void *) prefix}, v;
    int rc = group ? mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE) : MDB_NOTFOUND;
    for (; group; rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
        const char *key = (const char *) k.mv_data;
        size_t klen = rc == 0 && k.mv_size >= 9 ? k.mv_size - 9 : 0;
        bool in = rc == 0 && klen >= plen && klen <= S_PATH_MAX &&
                  memcmp (key, prefix, plen) == 0 && key[klen] == 0;
        bool same = in && have && klen == glen && memcmp (key, group, glen) == 0;
        if (have && !same) {
            if (alive && !fn (arg, group, glen))
                break;
            have = false;
        }
        if (!in)
            break;
        if (!same) {
            memcpy (group, key, klen);
            glen = klen;
            have = true;
            alive = false;
        }
        if (s_get64 (key + klen + 1) <= at && v.mv_size >= 1)
            alive = !(((const uint8_t *) v.mv_data)[0] & S_F_REMOVED);
    }
    free (group);
    mdb_cursor_close (cur);
}

typedef struct {
    const char *dir;
    size_t dlen;
    zhashx_t *seen; //  name -> "d" or "f"
    size_t max;
    bool any;
} s_names_t;

static bool
s_collect_name (void *arg, const char *path, size_t len)
{
    s_names_t *n = (s_names_t *) arg;
    n->any = true;
    if (!n->seen)
        return false; //  only asked whether any exists
    const char *rest = path + n->dlen;
    size_t rlen = len - n->dlen;
    const char *slash = memchr (rest, '/', rlen);
    size_t clen = slash ? (size_t) (slash - rest) : rlen;
    char name[256];
    if (clen == 0 || clen > 255)
        return true;
    memcpy (name, rest, clen);
    name[clen] = 0;
    const char *was = (const char *) zhashx_lookup (n->seen, name);
    if (!was || (slash && streq (was, "f")))
        zhashx_update (n->seen, name, (void *) (slash ? "d" : "f"));
    return zhashx_size (n->seen) < n->max;
}

bool
logmodel_shadow_dir (logmodel_t *self, const char *path, uint64_t at)
{
    size_t len = strlen (path);
    if (len != 0 && !logmodel_path_ok (path, len))
        return false;
    char prefix[S_PATH_MAX + 2];
    snprintf (prefix, sizeof (prefix), "%s/", path);
    MDB_txn *txn = s_read_txn (self);
    if (!txn)
        return false;
    s_names_t names = {prefix, len + 1, NULL, 0, false};
    s_live (self, txn, prefix, len + 1, at, s_collect_name, &names);
    mdb_txn_abort (txn);
    return names.any;
}

void
logmodel_list_shadows (logmodel_t *self, const char *dir, uint64_t at, size_t max,
                       logmodel_name_fn *fn, void *arg)
{
    size_t len = strlen (dir);
    if (len != 0 && !logmodel_path_ok (dir, len))
        return;
    char prefix[S_PATH_MAX + 2];
    snprintf (prefix, sizeof (prefix), "%s/", dir);
    MDB_txn *txn = s_read_txn (self);
    if (!txn)
        return;
    s_names_t names = {prefix, len + 1, zhashx_new (), max ? max : 1, false};
    s_live (self, txn, prefix, len + 1, at, s_collect_name, &names);
    mdb_txn_abort (txn);
    zlistx_t *keys = zhashx_keys (names.seen);
    zlistx_set_comparator (keys, (zlistx_comparator_fn *) strcmp);
    zlistx_sort (keys);
    for (const char *name = (const char *) zlistx_first (keys); name;
         name = (const char *) zlistx_next (keys))
        if (!fn (arg, name, streq ((const char *) zhashx_lookup (names.seen, name), "d")))
            break;
    zlistx_destroy (&keys);
    zhashx_destroy (&names.seen);
}

//  --------------------------------------------------------------------------
//  The follower: one batch into one write transaction

typedef struct {
    logmodel_t *self;
    MDB_txn *txn;
    uint64_t seq;
    uint64_t refused; //  paths refused in this batch
    bool shadows;
    zlistx_t *closed;
    int rc; //  first LMDB error
} s_batch_t;

static void
s_put (s_batch_t *b, MDB_dbi dbi, const void *key, size_t klen, const void *val, size_t vlen)
{
    MDB_val k = {klen, (void *) key}, v = {vlen, (void *) val};
    int rc = mdb_put (b->txn, dbi, &k, &v, 0);
    if (rc != 0 && b->rc == 0)
        b->rc = rc;
}

static void
s_hist_put (s_batch_t *b, const char *path, size_t len, uint8_t flags, uint64_t size,
            const void *content, size_t clen)
{
    uint8_t *key = (uint8_t *) malloc (len + 9);
    uint8_t *val = (uint8_t *) malloc (9 + clen);
    if (key && val) {
        s_key (key, path, len, b->seq);
        val[0] = flags;
        s_be64 (val + 1, size);
        if (clen)
            memcpy (val + 9, content, clen);
        s_put (b, b->self->hist, key, len + 9, val, 9 + clen);
        uint8_t sb[8];
        s_be64 (sb, b->seq);
        s_put (b, b->self->hseqs, sb, 8, "", 0);
        b->shadows = true;
    } else if (b->rc == 0)
        b->rc = ENOMEM;
    free (key);
    free (val);
}

static bool
s_collect_path (void *arg, const char *path, size_t len)
{
    zlistx_add_end ((zlistx_t *) arg, strndup (path, len));
    return true;
}

//  Paths that exist now: path itself and everything under it
static zlistx_t *
s_live_paths (s_batch_t *b, const char *path, size_t len)
{
    zlistx_t *list = zlistx_new ();
    zlistx_set_destructor (list, (zlistx_destructor_fn *) zstr_free);
    MDB_val v;
    uint64_t seq;
    if (s_hist_at (b->self, b->txn, path, len, UINT64_MAX, &v, &seq) == 0)
        zlistx_add_end (list, strndup (path, len));
    char prefix[S_PATH_MAX + 2];
    memcpy (prefix, path, len);
    prefix[len] = '/';
    s_live (b->self, b->txn, prefix, len + 1, UINT64_MAX, s_collect_path, list);
    return list;
}

//  file.delete: the path and everything under it removed
static void
s_remove (s_batch_t *b, const char *path, size_t len)
{
    zlistx_t *list = s_live_paths (b, path, len);
    for (char *p = (char *) zlistx_first (list); p; p = (char *) zlistx_next (list))
        s_hist_put (b, p, strlen (p), S_F_REMOVED, 0, NULL, 0);
    zlistx_destroy (&list);
}

//  file.rename (move = true): everything at or under from moves to to;
//  file.link (move = false): the file from is also named to
static void
s_move (s_batch_t *b, const char *from, size_t flen, const char *to, size_t tlen, bool move)
{
    if (flen == tlen && memcmp (from, to, flen) == 0)
        return;
    if (tlen > flen && memcmp (to, from, flen) == 0 && to[flen] == '/')
        return; //  into itself: refused by any file system
    zlistx_t *list = move ? s_live_paths (b, from, flen) : NULL;
    if (!move) {
        list = zlistx_new ();
        zlistx_set_destructor (list, (zlistx_destructor_fn *) zstr_free);
        zlistx_add_end (list, strndup (from, flen));
    }
    for (char *p = (char *) zlistx_first (list); p; p = (char *) zlistx_next (list)) {
        size_t plen = strlen (p);
        MDB_val v;
        uint64_t seq;
        if (s_hist_at (b->self, b->txn, p, plen, UINT64_MAX, &v, &seq) != 0)
            continue;
        char target[S_PATH_MAX + 1];
        if (tlen + (plen - flen) > S_PATH_MAX)
            continue;
        memcpy (target, to, tlen);
        memcpy (target + tlen, p + flen, plen - flen);
        size_t nlen = tlen + plen - flen;
        //  Copy before writing: the value points into the map
        size_t clen = v.mv_size - 9;
        uint8_t *copy = (uint8_t *) malloc (v.mv_size);
        if (!copy)
            continue;
        memcpy (copy, v.mv_data, v.mv_size);
        s_hist_put (b, target, nlen, copy[0] & S_F_TRUNC, s_get64 (copy + 1), copy + 9, clen);
        free (copy);
    }
    if (move) {
        //  What was at the target and is not replaced stays (a file over a
        //  file is replaced above); the sources are gone
        for (char *p = (char *) zlistx_first (list); p; p = (char *) zlistx_next (list))
            s_hist_put (b, p, strlen (p), S_F_REMOVED, 0, NULL, 0);
    }
    zlistx_destroy (&list);
}

//  A path from an event's data, if acceptable (counted otherwise)
static bool
s_event_path (s_batch_t *b, const msgpack_object *data, const char *key, const char **path,
              size_t *len)
{
    const msgpack_object *o = s_str (data, key);
    if (!o)
        return false;
    *path = o->via.str.ptr;
    *len = o->via.str.size;
    if (!logmodel_path_ok (*path, *len)) {
        b->refused++;
        return false;
    }
    return true;
}

static void
s_shadows (s_batch_t *b, const char *type, const msgpack_object *data)
{
    const char *path, *target;
    size_t len, tlen;
    if (streq (type, "file.write")) {
        const msgpack_object *content = codec_map_get (data, "content");
        if (!content || content->type != MSGPACK_OBJECT_BIN)
            return; //  nothing to show
        if (!s_event_path (b, data, "path", &path, &len))
            return;
        const msgpack_object *size = codec_map_get (data, "size");
        const msgpack_object *trunc = codec_map_get (data, "truncated");
        uint64_t n = size && size->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? size->via.u64
                                                                           : content->via.bin.size;
        bool cut = (trunc && trunc->type == MSGPACK_OBJECT_BOOLEAN && trunc->via.boolean) ||
                   n > content->via.bin.size;
        //  A directory there before is replaced by the file
        s_remove (b, path, len);
        s_hist_put (b, path, len, cut ? S_F_TRUNC : 0, n, content->via.bin.ptr,
                    content->via.bin.size);
    } else if (streq (type, "file.delete")) {
        if (s_event_path (b, data, "path", &path, &len))
            s_remove (b, path, len);
    } else if (streq (type, "file.rename") || streq (type, "file.link")) {
        bool move = streq (type, "file.rename");
        if (!move && !codec_str_eq (codec_map_get (data, "kind"), "hard"))
            return;
        if (!s_event_path (b, data, "path", &path, &len) ||
            !s_event_path (b, data, "target", &target, &tlen))
            return;
        if (move)
            s_move (b, path, len, target, tlen, true);
        else //  path: the new name; target: the file it now also names
            s_move (b, target, tlen, path, len, false);
    }
}

//  One leaf into the batch; false when it is not the expected event
static bool
s_apply (s_batch_t *b, const void *leaf, size_t size, uint64_t *jsonl)
{
    logmodel_t *self = b->self;
    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    size_t off = 0;
    bool ok = msgpack_unpack_next (&u, (const char *) leaf, size, &off) == MSGPACK_UNPACK_SUCCESS &&
              off == size && u.data.type == MSGPACK_OBJECT_MAP;
    const msgpack_object *ev = &u.data;
    const msgpack_object *seq = ok ? codec_map_get (ev, "seq") : NULL;
    if (!seq || seq->type != MSGPACK_OBJECT_POSITIVE_INTEGER || seq->via.u64 != b->seq) {
        msgpack_unpacked_destroy (&u);
        return false;
    }
    char *pretty = jsonpack_to_json (ev, true);
    char *line = jsonpack_to_json (ev, false);
    size_t plen = pretty ? strlen (pretty) + 1 : 0, llen = line ? strlen (line) + 1 : 0;
    uint8_t *val = pretty && line ? (uint8_t *) malloc (S_HEAD + plen + llen) : NULL;
    if (!val) {
        free (pretty);
        free (line);
        msgpack_unpacked_destroy (&u);
        return false;
    }
    merkle_leaf_hash (leaf, size, val);
    s_be64 (val + 32, *jsonl);
    val[40] = (uint8_t) (plen >> 24);
    val[41] = (uint8_t) (plen >> 16);
    val[42] = (uint8_t) (plen >> 8);
    val[43] = (uint8_t) plen;
    memcpy (val + S_HEAD, pretty, plen - 1);
    val[S_HEAD + plen - 1] = '\n';
    memcpy (val + S_HEAD + plen, line, llen - 1);
    val[S_HEAD + plen + llen - 1] = '\n';
    uint8_t sb[8], ob[8];
    s_be64 (sb, b->seq);
    s_be64 (ob, *jsonl);
    s_put (b, self->events, sb, 8, val, S_HEAD + plen + llen);
    s_put (b, self->jsonl, ob, 8, sb, 8);
    *jsonl += llen;
    free (val);
    free (pretty);
    free (line);

    //  Indexes
    uint8_t kb[140];
    const msgpack_object *agent = s_str (ev, "agent");
    if (agent && s_agent_ok (agent->via.str.ptr, agent->via.str.size))
        s_put (b, self->agents, kb, s_key (kb, agent->via.str.ptr, agent->via.str.size, b->seq), "",
               0);
    const msgpack_object *type = s_str (ev, "type");
    char tname[64] = "";
    if (type && type->via.str.size < sizeof (tname)) {
        memcpy (tname, type->via.str.ptr, type->via.str.size);
        tname[type->via.str.size] = 0;
        s_put (b, self->types, kb, s_key (kb, tname, strlen (tname), b->seq), "", 0);
    }
    const msgpack_object *data = codec_map_get (ev, "data");
    if (data && data->type == MSGPACK_OBJECT_MAP) {
        const msgpack_object *id = s_str (data, "escalation");
        bool id_ok = id && s_id_ok (id->via.str.ptr, id->via.str.size);
        if (id_ok && streq (tname, "escalation.requested"))
            s_put (b, self->pending, id->via.str.ptr, id->via.str.size, sb, 8);
        else if (id_ok && (streq (tname, "escalation.expired") ||
                           (streq (tname, "expert.verdict") &&
                            codec_str_eq (codec_map_get (data, "state"), "decided")))) {
            MDB_val k = {id->via.str.size, (void *) id->via.str.ptr};
            if (mdb_del (b->txn, self->pending, &k, NULL) == 0)
                zlistx_add_end (b->closed, strndup (id->via.str.ptr, id->via.str.size));
        } else if (strncmp (tname, "file.", 5) == 0) {
            //  Shadows only from what a guarded workspace saw (it appends with
            //  a node key): an agent may append file.* events of its own, and
            //  its claims must not pass for the files' contents
            const msgpack_object *role = s_str (ev, "role");
            if (role && (codec_str_eq (role, "node") || codec_str_eq (role, "admin")))
                s_shadows (b, tname, data);
        }
    }
    msgpack_unpacked_destroy (&u);
    return true;
}

//  Waits up to ms unless stopped or woken; true when stopping
static bool
s_wait (logmodel_t *self, int ms)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long) (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock (&self->lock);
    while (!self->stop && !self->wake)
        if (pthread_cond_timedwait (&self->cond, &self->lock, &ts) == ETIMEDOUT)
            break;
    self->wake = false;
    bool stop = self->stop;
    pthread_mutex_unlock (&self->lock);
    return stop;
}

static lh_reply_t *
s_call (lh_client_t *client, const char *op, uint64_t from)
{
    codec_buf_t b;
    codec_buf_init (&b);
    bool range = streq (op, "range");
    msgpack_pack_map (&b.pk, range ? 4 : 1);
    codec_pack_kv_str (&b.pk, "op", op);
    if (range) {
        codec_pack_kv_u64 (&b.pk, "from", from);
        codec_pack_kv_u64 (&b.pk, "limit", S_BATCH);
        codec_pack_kv_bool (&b.pk, "raw", true);
    }
    lh_reply_t *reply = lh_client_call (client, "events.read", b.sbuf.data, b.sbuf.size);
    codec_buf_destroy (&b);
    return reply;
}

//  One range request applied; the number of events, -1 on failure. *end
//  when the log has no more.
static int
s_fetch (logmodel_t *self, lh_client_t *client, logmodel_change_t *change, zlistx_t *closed,
         bool *end)
{
    uint64_t from = self->size;
    lh_reply_t *reply = s_call (client, "range", from);
    const msgpack_object *root = reply && lh_reply_ok (reply) ? lh_reply_root (reply) : NULL;
    const msgpack_object *events = root ? codec_map_get (root, "events") : NULL;
    if (!events || events->type != MSGPACK_OBJECT_ARRAY) {
        if (reply)
            lh_debug ("range failed", "from=%llu code=%s message=\"%s\"", (unsigned long long) from,
                      lh_reply_code_name (reply), lh_reply_message (reply));
        lh_reply_destroy (&reply);
        return -1;
    }
    const msgpack_object *next = codec_map_get (root, "next");
    *end = !next || next->type != MSGPACK_OBJECT_POSITIVE_INTEGER;
    uint32_t count = events->via.array.size;
    if (count == 0) {
        lh_reply_destroy (&reply);
        return 0;
    }
    s_batch_t b = {.self = self, .seq = from, .closed = closed};
    if (mdb_txn_begin (self->env, NULL, 0, &b.txn) != 0) {
        lh_reply_destroy (&reply);
        return -1;
    }
    uint64_t jsonl = s_meta64 (self, b.txn, "jsonl");
    change->old_jsonl = jsonl;
    uint32_t applied = 0;
    for (; applied < count && b.rc == 0; applied++) {
        const msgpack_object *leaf = &events->via.array.ptr[applied];
        if (leaf->type != MSGPACK_OBJECT_BIN ||
            !s_apply (&b, leaf->via.bin.ptr, leaf->via.bin.size, &jsonl)) {
            lh_error ("unexpected event in a range reply", "seq=%llu", (unsigned long long) b.seq);
            break;
        }
        b.seq++;
    }
    if (b.rc == 0 && applied > 0) {
        s_put_meta64 (self, b.txn, "next", b.seq);
        s_put_meta64 (self, b.txn, "jsonl", jsonl);
        s_put_meta64 (self, b.txn, "refused", s_meta64 (self, b.txn, "refused") + b.refused);
    }
    int rc = b.rc == 0 && applied > 0 ? mdb_txn_commit (b.txn) : (mdb_txn_abort (b.txn), b.rc);
    lh_reply_destroy (&reply);
    if (rc != 0) {
        lh_error ("cannot store events", "from=%llu error=\"%s\"", (unsigned long long) from,
                  mdb_strerror (rc));
        zlistx_purge (closed);
        return -1;
    }
    if (applied == 0)
        return -1;
    self->size = b.seq;
    self->fetched += applied;
    self->batches++;
    change->new_jsonl = jsonl;
    change->shadows |= b.shadows;
    if (b.refused)
        lh_warn ("event paths refused", "count=%llu before_seq=%llu",
                 (unsigned long long) b.refused, (unsigned long long) b.seq);
    return (int) applied;
}

//  Signature lines of a note
static size_t
s_signatures (const char *note, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i + 1 < len; i++)
        if (note[i] == '\n' && (unsigned char) note[i + 1] == 0xE2) //  "\n— "
            n++;
    return n;
}

//  The note's tree size, 0 if it does not parse
static uint64_t
s_note_size (const char *note, size_t len)
{
    char *text = strndup (note, len);
    char origin[256];
    uint64_t size = 0;
    uint8_t root[32];
    if (!text || note_checkpoint_parse (text, origin, sizeof (origin), &size, root) != 0)
        size = 0;
    free (text);
    return size;
}

//  The latest checkpoint, stored when it is newer than the one held: a
//  larger tree, or the same tree with more signatures (replicas answer in
//  turn, each with its own note: the file must not flip between them).
//  True when it changed.
static bool
s_checkpoint (logmodel_t *self, lh_client_t *client)
{
    lh_reply_t *reply = s_call (client, "checkpoint", 0);
    const msgpack_object *note =
        reply && lh_reply_ok (reply) ? s_str (lh_reply_root (reply), "checkpoint") : NULL;
    bool changed = false;
    uint64_t size = note ? s_note_size (note->via.str.ptr, note->via.str.size) : 0;
    if (note && size) {
        MDB_txn *txn = NULL;
        MDB_val k = {10, (void *) "checkpoint"}, v;
        if (mdb_txn_begin (self->env, NULL, 0, &txn) == 0) {
            bool newer = true;
            if (mdb_get (txn, self->meta, &k, &v) == 0) {
                uint64_t held = s_note_size ((const char *) v.mv_data, v.mv_size);
                newer = size > held ||
                        (size == held && s_signatures (note->via.str.ptr, note->via.str.size) >
                                             s_signatures ((const char *) v.mv_data, v.mv_size));
            }
            MDB_val nv = {note->via.str.size, (void *) note->via.str.ptr};
            if (newer && mdb_put (txn, self->meta, &k, &nv, 0) == 0)
                changed = mdb_txn_commit (txn) == 0;
            else
                mdb_txn_abort (txn);
        }
    } else if (!reply || lh_reply_code (reply) != LH_E_NOT_FOUND)
        self->fetch_errors++;
    lh_reply_destroy (&reply);
    return changed;
}

static void *
s_follow (void *arg)
{
    logmodel_t *self = (logmodel_t *) arg;
    lh_client_t *client = lh_client_new (self->conn);
    if (!client) {
        lh_error ("cannot make a broker client", "endpoint=%s", self->conn->endpoint);
        return NULL;
    }
    lh_client_set_timeout (client, 5000);
    lh_client_set_retries (client, 1);
    self->resumed_from = self->size;
    lh_info ("following the log", "from=%llu", (unsigned long long) self->size);
    int backoff = 0;
    zlistx_t *closed = zlistx_new ();
    zlistx_set_destructor (closed, (zlistx_destructor_fn *) zstr_free);
    bool stop = false;
    while (!stop) {
        logmodel_change_t change = {.old_size = self->size};
        bool end = false;
        int n = s_fetch (self, client, &change, closed, &end);
        bool checkpoint = n >= 0 ? s_checkpoint (self, client) : false;
        pthread_mutex_lock (&self->lock);
        while (zlistx_size (self->decided))
            zlistx_add_end (closed, zlistx_detach (self->decided, NULL));
        pthread_mutex_unlock (&self->lock);
        change.new_size = self->size;
        if (n <= 0)
            change.old_jsonl = change.new_jsonl = 0;
        change.checkpoint = checkpoint;
        size_t nclosed = zlistx_size (closed);
        const char **ids = nclosed ? (const char **) calloc (nclosed, sizeof (char *)) : NULL;
        size_t i = 0;
        for (const char *id = (const char *) zlistx_first (closed); id && ids;
             id = (const char *) zlistx_next (closed))
            ids[i++] = id;
        change.closed = ids;
        change.nclosed = i;
        if (self->changed && (n > 0 || checkpoint || i > 0))
            self->changed (self->arg, &change);
        free (ids);
        zlistx_purge (closed);
        if (n < 0) {
            self->fetch_errors++;
            backoff = backoff ? (backoff * 2 > S_BACKOFF_MS ? S_BACKOFF_MS : backoff * 2) : 200;
            stop = s_wait (self, backoff);
        } else {
            backoff = 0;
            stop = end || n == 0 ? s_wait (self, self->poll_ms) : s_wait (self, 0);
        }
    }
    zlistx_destroy (&closed);
    lh_client_destroy (&client);
    return NULL;
}

int
logmodel_follow (logmodel_t *self, const lh_connect_t *conn, int poll_ms,
                 logmodel_changed_fn *changed, void *arg)
{
    if (self->running || !conn || poll_ms < 1)
        return -1;
    self->conn = conn;
    self->poll_ms = poll_ms;
    self->changed = changed;
    self->arg = arg;
    self->stop = false;
    if (pthread_create (&self->thread, NULL, s_follow, self) != 0)
        return -1;
    self->running = true;
    return 0;
}

void
logmodel_stop (logmodel_t *self)
{
    if (!self->running)
        return;
    pthread_mutex_lock (&self->lock);
    self->stop = true;
    pthread_cond_signal (&self->cond);
    pthread_mutex_unlock (&self->lock);
    pthread_join (self->thread, NULL);
    self->running = false;
}
