/*  expert_store -- the durable queue of escalations. See expert_store.h.

    Four tables in one LMDB environment, changed together in one
    transaction (committed with a sync: MDB_NOSYNC is not used):

      esc     id -> the escalation, a msgpack map (its request kept inside)
      codes   approval code -> id, for live escalations only
      votes   id "/" expert -> "a" or "d", one per expert and escalation
      queue   created_ms (big-endian) id -> "", the pending ones in order
*/
#include "expert_store.h"

#include "codec.h"

#include <errno.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { DB_ESC, DB_CODES, DB_VOTES, DB_QUEUE, DB_COUNT };
static const char *s_db_names[DB_COUNT] = {"esc", "codes", "votes", "queue"};

struct _expert_store_t {
    MDB_env *env;
    MDB_dbi dbi[DB_COUNT];
    size_t queue_max;
};

//  --------------------------------------------------------------------------
//  Encoding

static void
s_pack (msgpack_packer *pk, const expert_esc_t *esc, const void *request, size_t request_size)
{
    msgpack_pack_map (pk, 19);
    codec_pack_kv_str (pk, "id", esc->id);
    codec_pack_kv_str (pk, "code", esc->code);
    codec_pack_kv_str (pk, "agent", esc->agent);
    codec_pack_kv_str (pk, "session", esc->session);
    codec_pack_kv_str (pk, "tool", esc->tool);
    codec_pack_kv_str (pk, "subject", esc->subject);
    codec_pack_kv_str (pk, "capability", esc->capability);
    codec_pack_kv_str (pk, "rule", esc->rule);
    codec_pack_kv_str (pk, "policy", esc->policy);
    codec_pack_kv_bin (pk, "key", esc->key, sizeof (esc->key));
    codec_pack_kv_u64 (pk, "quorum", esc->quorum);
    codec_pack_kv_u64 (pk, "allows", esc->allows);
    codec_pack_kv_u64 (pk, "state", (uint64_t) esc->state);
    codec_pack_kv_bool (pk, "allowed", esc->allowed);
    codec_pack_kv_str (pk, "by", esc->by);
    codec_pack_kv_str (pk, "reason", esc->reason);
    codec_pack_kv_i64 (pk, "created_ms", esc->created_ms);
    codec_pack_kv_i64 (pk, "expires_ms", esc->expires_ms);
    codec_pack_kv_bin (pk, "request", request, request_size);
}

static void
s_text (const msgpack_object *map, const char *key, char *out, size_t size)
{
    if (!codec_str_copy (codec_map_get (map, key), out, size))
        out[0] = 0;
}

static int64_t
s_int (const msgpack_object *map, const char *key)
{
    const msgpack_object *v = codec_map_get (map, key);
    if (v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return (int64_t) v->via.u64;
    if (v && v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return v->via.i64;
    return 0;
}

//  Decodes a stored escalation (written by s_pack: trusted, but checked
//  for shape all the same); 0, or -1 for a record that is not one
static int
s_unpack (const MDB_val *val, expert_esc_t *esc, void **request_p, size_t *request_size)
{
    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    size_t off = 0;
    int rc = -1;
    if (msgpack_unpack_next (&u, (const char *) val->mv_data, val->mv_size, &off) ==
            MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_MAP) {
        const msgpack_object *m = &u.data;
        memset (esc, 0, sizeof (*esc));
        s_text (m, "id", esc->id, sizeof (esc->id));
        s_text (m, "code", esc->code, sizeof (esc->code));
        s_text (m, "agent", esc->agent, sizeof (esc->agent));
        s_text (m, "session", esc->session, sizeof (esc->session));
        s_text (m, "tool", esc->tool, sizeof (esc->tool));
        s_text (m, "subject", esc->subject, sizeof (esc->subject));
        s_text (m, "capability", esc->capability, sizeof (esc->capability));
        s_text (m, "rule", esc->rule, sizeof (esc->rule));
        s_text (m, "policy", esc->policy, sizeof (esc->policy));
        s_text (m, "by", esc->by, sizeof (esc->by));
        s_text (m, "reason", esc->reason, sizeof (esc->reason));
        const msgpack_object *key = codec_map_get (m, "key");
        if (key && key->type == MSGPACK_OBJECT_BIN && key->via.bin.size == sizeof (esc->key))
            memcpy (esc->key, key->via.bin.ptr, sizeof (esc->key));
        esc->quorum = (uint8_t) s_int (m, "quorum");
        esc->allows = (uint8_t) s_int (m, "allows");
        esc->state = (expert_state_t) s_int (m, "state");
        const msgpack_object *allowed = codec_map_get (m, "allowed");
        esc->allowed = allowed && allowed->type == MSGPACK_OBJECT_BOOLEAN && allowed->via.boolean;
        esc->created_ms = s_int (m, "created_ms");
        esc->expires_ms = s_int (m, "expires_ms");
        const msgpack_object *request = codec_map_get (m, "request");
        rc = esc->id[0] && request && request->type == MSGPACK_OBJECT_BIN ? 0 : -1;
        if (rc == 0 && request_p) {
            *request_p = malloc (request->via.bin.size ? request->via.bin.size : 1);
            if (!*request_p)
                rc = -1;
            else {
                memcpy (*request_p, request->via.bin.ptr, request->via.bin.size);
                *request_size = request->via.bin.size;
            }
        }
    }
    msgpack_unpacked_destroy (&u);
    return rc;
}

//  --------------------------------------------------------------------------
//  Set-up

expert_store_t *
expert_store_open (const char *dir, size_t queue_max, size_t map_bytes, char *err, size_t err_size)
{
    if (!dir || !*dir || queue_max == 0 || map_bytes < ((size_t) 1 << 20)) {
        snprintf (err, err_size, "bad expert store arguments");
        return NULL;
    }
    if (mkdir (dir, 0700) != 0 && errno != EEXIST) {
        snprintf (err, err_size, "cannot create %s: %s", dir, strerror (errno));
        return NULL;
    }
    expert_store_t *self = (expert_store_t *) calloc (1, sizeof (expert_store_t));
    if (!self) {
        snprintf (err, err_size, "out of memory");
        return NULL;
    }
    self->queue_max = queue_max;
    char path[4096];
    snprintf (path, sizeof (path), "%s/expert.mdb", dir);
    int rc = mdb_env_create (&self->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs (self->env, DB_COUNT);
    if (rc == 0)
        rc = mdb_env_set_mapsize (self->env, map_bytes);
    if (rc == 0)
        rc = mdb_env_open (self->env, path, MDB_NOSUBDIR | MDB_NOTLS, 0600);
    MDB_txn *txn = NULL;
    if (rc == 0)
        rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    for (int db = 0; rc == 0 && db < DB_COUNT; db++)
        rc = mdb_dbi_open (txn, s_db_names[db], MDB_CREATE, &self->dbi[db]);
    if (rc == 0)
        rc = mdb_txn_commit (txn);
    else if (txn)
        mdb_txn_abort (txn);
    if (rc != 0) {
        snprintf (err, err_size, "cannot open %s: %s", path, mdb_strerror (rc));
        expert_store_destroy (&self);
    }
    return self;
}

void
expert_store_destroy (expert_store_t **self_p)
{
    if (self_p && *self_p) {
        expert_store_t *self = *self_p;
        if (self->env)
            mdb_env_close (self->env);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Helpers inside one transaction

//  The id a code or an id names, into id (EXPERT_ID_SIZE); false if none
static bool
s_resolve (expert_store_t *self, MDB_txn *txn, const char *id_or_code, char *id)
{
    size_t len = id_or_code ? strlen (id_or_code) : 0;
    if (len == EXPERT_CODE_SIZE - 1) {
        //  Codes are typed by people: case and the look-alikes do not matter
        char code[EXPERT_CODE_SIZE];
        for (size_t i = 0; i < len; i++) {
            char c = id_or_code[i];
            c = (char) (c >= 'a' && c <= 'z' ? c - 32 : c);
            code[i] = c == 'O' ? '0' : c == 'I' || c == 'L' ? '1' : c;
        }
        code[len] = 0;
        MDB_val key = {len, code}, val;
        if (mdb_get (txn, self->dbi[DB_CODES], &key, &val) != 0 ||
            val.mv_size != EXPERT_ID_SIZE - 1)
            return false;
        memcpy (id, val.mv_data, val.mv_size);
        id[val.mv_size] = 0;
        return true;
    }
    if (len != EXPERT_ID_SIZE - 1)
        return false;
    memcpy (id, id_or_code, len + 1);
    return true;
}

static int
s_load (expert_store_t *self, MDB_txn *txn, const char *id, expert_esc_t *esc, void **request_p,
        size_t *request_size)
{
    MDB_val key = {strlen (id), (void *) id}, val;
    if (mdb_get (txn, self->dbi[DB_ESC], &key, &val) != 0)
        return -1;
    return s_unpack (&val, esc, request_p, request_size);
}

//  Writes esc (with its request) back
static int
s_save (expert_store_t *self, MDB_txn *txn, const expert_esc_t *esc, const void *request,
        size_t request_size)
{
    codec_buf_t buf;
    codec_buf_init (&buf);
    s_pack (&buf.pk, esc, request, request_size);
    MDB_val key = {strlen (esc->id), (void *) esc->id};
    MDB_val val = {buf.sbuf.size, buf.sbuf.data};
    int rc = mdb_put (txn, self->dbi[DB_ESC], &key, &val, 0);
    codec_buf_destroy (&buf);
    return rc;
}

static void
s_queue_key (const expert_esc_t *esc, uint8_t *out)
{
    codec_put_be64 (out, (uint64_t) esc->created_ms);
    memcpy (out + 8, esc->id, EXPERT_ID_SIZE - 1);
}

//  Takes esc off the pending queue and frees its code
static int
s_retire (expert_store_t *self, MDB_txn *txn, const expert_esc_t *esc)
{
    uint8_t qk[8 + EXPERT_ID_SIZE - 1];
    s_queue_key (esc, qk);
    MDB_val key = {sizeof (qk), qk};
    int rc = mdb_del (txn, self->dbi[DB_QUEUE], &key, NULL);
    MDB_val code = {strlen (esc->code), (void *) esc->code};
    int rc2 = mdb_del (txn, self->dbi[DB_CODES], &code, NULL);
    if (rc == MDB_NOTFOUND)
        rc = 0;
    if (rc2 == MDB_NOTFOUND)
        rc2 = 0;
    return rc ? rc : rc2;
}

static size_t
s_pending (expert_store_t *self, MDB_txn *txn)
{
    MDB_stat stat;
    return mdb_stat (txn, self->dbi[DB_QUEUE], &stat) == 0 ? stat.ms_entries : 0;
}

//  --------------------------------------------------------------------------
//  Operations

lh_err_t
expert_store_submit (expert_store_t *self, expert_esc_t *esc, const void *request,
                     size_t request_size, int64_t now_ms, char *why, size_t why_size)
{
    if (!esc->agent[0] || !esc->capability[0] || esc->quorum < 1 ||
        esc->quorum > EXPERT_QUORUM_MAX || esc->expires_ms <= now_ms || !request ||
        request_size > EXPERT_REQUEST_MAX) {
        snprintf (why, why_size,
                  "an escalation needs an agent, a capability, a quorum of 1 to "
                  "%d, a future expiry and a request within the body limit",
                  EXPERT_QUORUM_MAX);
        return LH_E_BAD_REQUEST;
    }
    MDB_txn *txn;
    int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    if (rc != 0) {
        snprintf (why, why_size, "expert store: %s", mdb_strerror (rc));
        return LH_E_INTERNAL;
    }
    if (s_pending (self, txn) >= self->queue_max) {
        mdb_txn_abort (txn);
        snprintf (why, why_size, "%zu escalations are waiting already: try later", self->queue_max);
        return LH_E_OVERLOADED;
    }
    uint8_t raw[16];
    randombytes_buf (raw, sizeof (raw));
    sodium_bin2hex (esc->id, sizeof (esc->id), raw, sizeof (raw));
    //  A code no live escalation holds (40 random bits: a clash is rare)
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    for (int attempt = 0; attempt < 16; attempt++) {
        uint8_t bits[8];
        randombytes_buf (bits, sizeof (bits));
        for (int i = 0; i < EXPERT_CODE_SIZE - 1; i++)
            esc->code[i] = alphabet[bits[i] & 31];
        esc->code[EXPERT_CODE_SIZE - 1] = 0;
        MDB_val key = {EXPERT_CODE_SIZE - 1, esc->code}, val;
        if (mdb_get (txn, self->dbi[DB_CODES], &key, &val) == MDB_NOTFOUND)
            break;
    }
    esc->state = EXPERT_PENDING;
    esc->allows = 0;
    esc->allowed = false;
    esc->by[0] = 0;
    esc->reason[0] = 0;
    esc->created_ms = now_ms;
    uint8_t qk[8 + EXPERT_ID_SIZE - 1];
    s_queue_key (esc, qk);
    MDB_val key = {sizeof (qk), qk}, empty = {0, ""};
    MDB_val code = {EXPERT_CODE_SIZE - 1, esc->code}, id = {EXPERT_ID_SIZE - 1, esc->id};
    rc = s_save (self, txn, esc, request, request_size);
    if (rc == 0)
        rc = mdb_put (txn, self->dbi[DB_CODES], &code, &id, MDB_NOOVERWRITE);
    if (rc == 0)
        rc = mdb_put (txn, self->dbi[DB_QUEUE], &key, &empty, 0);
    if (rc == 0)
        rc = mdb_txn_commit (txn);
    else
        mdb_txn_abort (txn);
    if (rc != 0) {
        snprintf (why, why_size, "expert store: %s", mdb_strerror (rc));
        return LH_E_INTERNAL;
    }
    return LH_OK;
}

lh_err_t
expert_store_get (expert_store_t *self, const char *id_or_code, expert_esc_t *esc, void **request_p,
                  size_t *request_size)
{
    MDB_txn *txn;
    if (mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn) != 0)
        return LH_E_INTERNAL;
    char id[EXPERT_ID_SIZE];
    lh_err_t rc = s_resolve (self, txn, id_or_code, id) &&
                          s_load (self, txn, id, esc, request_p, request_size) == 0
                      ? LH_OK
                      : LH_E_NOT_FOUND;
    mdb_txn_abort (txn);
    return rc;
}

lh_err_t
expert_store_decide (expert_store_t *self, const char *id_or_code, const char *expert, bool allow,
                     const char *reason, bool allow_self, int64_t now_ms, expert_esc_t *esc,
                     char *why, size_t why_size)
{
    if (!expert || !*expert || strlen (expert) > LH_MAX_AGENT) {
        snprintf (why, why_size, "no expert named");
        return LH_E_BAD_REQUEST;
    }
    if (reason && strlen (reason) > EXPERT_REASON_MAX) {
        snprintf (why, why_size, "reason is over %d bytes", EXPERT_REASON_MAX);
        return LH_E_BAD_REQUEST;
    }
    MDB_txn *txn;
    int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    if (rc != 0) {
        snprintf (why, why_size, "expert store: %s", mdb_strerror (rc));
        return LH_E_INTERNAL;
    }
    char id[EXPERT_ID_SIZE];
    void *request = NULL;
    size_t request_size = 0;
    lh_err_t result = LH_OK;
    if (!s_resolve (self, txn, id_or_code, id) ||
        s_load (self, txn, id, esc, &request, &request_size) != 0) {
        snprintf (why, why_size, "no escalation %s", id_or_code ? id_or_code : "");
        result = LH_E_NOT_FOUND;
    } else if (esc->state != EXPERT_PENDING || now_ms >= esc->expires_ms) {
        snprintf (why, why_size, "escalation %s was %s: the verdict changes nothing", esc->id,
                  esc->state == EXPERT_DECIDED ? "decided already" : "left to expire");
        result = LH_E_NOT_FOUND;
    } else if (!allow_self && strcmp (expert, esc->agent) == 0) {
        snprintf (why, why_size, "%s may not decide its own agent's request", expert);
        result = LH_E_FORBIDDEN;
    }
    char vote_key[EXPERT_ID_SIZE + LH_MAX_AGENT + 1] = "";
    if (result == LH_OK)
        snprintf (vote_key, sizeof (vote_key), "%s/%s", esc->id, expert);
    MDB_val vk = {strlen (vote_key), vote_key}, vv;
    if (result == LH_OK && mdb_get (txn, self->dbi[DB_VOTES], &vk, &vv) == 0) {
        snprintf (why, why_size, "%s gave its verdict on %s already", expert, esc->id);
        result = LH_E_FORBIDDEN;
    }
    if (result == LH_OK) {
        vv = (MDB_val){1, allow ? "a" : "d"};
        rc = mdb_put (txn, self->dbi[DB_VOTES], &vk, &vv, 0);
        if (allow)
            esc->allows++;
        //  Any deny decides at once; allows decide when the quorum is reached
        if (!allow || esc->allows >= esc->quorum) {
            esc->state = EXPERT_DECIDED;
            esc->allowed = allow;
            snprintf (esc->by, sizeof (esc->by), "expert:%s", expert);
            snprintf (esc->reason, sizeof (esc->reason), "%s", reason ? reason : "");
            if (rc == 0)
                rc = s_retire (self, txn, esc);
        }
        if (rc == 0)
            rc = s_save (self, txn, esc, request, request_size);
        if (rc == 0)
            rc = mdb_txn_commit (txn);
        else
            mdb_txn_abort (txn);
        if (rc != 0) {
            snprintf (why, why_size, "expert store: %s", mdb_strerror (rc));
            result = LH_E_INTERNAL;
        }
    } else
        mdb_txn_abort (txn);
    free (request);
    return result;
}

size_t
expert_store_expire (expert_store_t *self, int64_t now_ms,
                     void (*on_expired) (const expert_esc_t *esc, void *arg), void *arg)
{
    MDB_txn *txn;
    if (mdb_txn_begin (self->env, NULL, 0, &txn) != 0)
        return 0;
    MDB_cursor *cursor;
    if (mdb_cursor_open (txn, self->dbi[DB_QUEUE], &cursor) != 0) {
        mdb_txn_abort (txn);
        return 0;
    }
    //  The queue is in creation order, not expiry order: look at each
    size_t count = 0;
    MDB_val key, val;
    int rc = mdb_cursor_get (cursor, &key, &val, MDB_FIRST);
    while (rc == 0) {
        char id[EXPERT_ID_SIZE];
        expert_esc_t esc;
        void *request = NULL;
        size_t request_size = 0;
        bool expired = false;
        if (key.mv_size == 8 + EXPERT_ID_SIZE - 1) {
            memcpy (id, (const char *) key.mv_data + 8, EXPERT_ID_SIZE - 1);
            id[EXPERT_ID_SIZE - 1] = 0;
            expired = s_load (self, txn, id, &esc, &request, &request_size) == 0 &&
                      now_ms >= esc.expires_ms;
        }
        if (expired) {
            esc.state = EXPERT_EXPIRED;
            MDB_val code = {strlen (esc.code), esc.code};
            mdb_del (txn, self->dbi[DB_CODES], &code, NULL);
            if (s_save (self, txn, &esc, request, request_size) == 0 &&
                mdb_cursor_del (cursor, 0) == 0) {
                count++;
                if (on_expired)
                    on_expired (&esc, arg);
            }
            rc = mdb_cursor_get (cursor, &key, &val, MDB_GET_CURRENT);
            if (rc != 0)
                rc = mdb_cursor_get (cursor, &key, &val, MDB_NEXT);
        } else
            rc = mdb_cursor_get (cursor, &key, &val, MDB_NEXT);
        free (request);
    }
    mdb_cursor_close (cursor);
    if (mdb_txn_commit (txn) != 0)
        return 0;
    return count;
}

size_t
expert_store_pending (expert_store_t *self, bool (*fn) (const expert_esc_t *esc, void *arg),
                      void *arg)
{
    MDB_txn *txn;
    if (mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn) != 0)
        return 0;
    MDB_cursor *cursor;
    size_t count = 0;
    if (mdb_cursor_open (txn, self->dbi[DB_QUEUE], &cursor) == 0) {
        MDB_val key, val;
        for (int rc = mdb_cursor_get (cursor, &key, &val, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get (cursor, &key, &val, MDB_NEXT)) {
            if (key.mv_size != 8 + EXPERT_ID_SIZE - 1)
                continue;
            char id[EXPERT_ID_SIZE];
            memcpy (id, (const char *) key.mv_data + 8, EXPERT_ID_SIZE - 1);
            id[EXPERT_ID_SIZE - 1] = 0;
            expert_esc_t esc;
            if (s_load (self, txn, id, &esc, NULL, NULL) != 0)
                continue;
            count++;
            if (!fn (&esc, arg))
                break;
        }
        mdb_cursor_close (cursor);
    }
    mdb_txn_abort (txn);
    return count;
}

size_t
expert_store_pending_count (expert_store_t *self)
{
    MDB_txn *txn;
    if (mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn) != 0)
        return 0;
    size_t n = s_pending (self, txn);
    mdb_txn_abort (txn);
    return n;
}
