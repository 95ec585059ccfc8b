/*  cache_store -- the fleet's verdict cache in LMDB. See cache_store.h.

    One file, DIR/cache.mdb, four databases:
        verdicts   primary key -> value (below)
        by_id      id (16 bytes) -> primary key
        by_expiry  expires (be64 ms) + id -> "" (eviction and sweep order)
        meta       "policy" -> the version last written, "since" -> be64 ms
    Primary key: u8 len, policy, u8 scope, key (32), u8 len, agent, be16
    len, session; so every key of one version shares one prefix and sorts
    together. Value: id (16), u8 decision, be64 created, be64 expires, be16
    len, expert, be16 len, reason.
*/
#include "cache_store.h"

#include "codec.h"

#include <errno.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ID_BYTES 16
#define PKEY_MAX                                                                                   \
    (1 + CACHE_MAX_POLICY + 1 + CACHE_KEY_BYTES + 1 + CACHE_MAX_AGENT + 2 + CACHE_MAX_SESSION)
#define VALUE_MAX (ID_BYTES + 1 + 8 + 8 + 2 + CACHE_MAX_EXPERT + 2 + CACHE_MAX_REASON)

enum { DB_VERDICTS, DB_BY_ID, DB_BY_EXPIRY, DB_META, DB_COUNT };
static const char *s_db_names[DB_COUNT] = {"verdicts", "by_id", "by_expiry", "meta"};

struct _cache_store_t {
    char *path;
    cache_limits_t limits;
    MDB_env *env;
    MDB_dbi dbi[DB_COUNT];
    cache_stats_t n;
};

static const char *s_scope_names[CACHE_SCOPES] = {"once", "session", "agent", "global"};
static const char *s_decision_names[] = {"allow", "deny"};

const char *
cache_scope_name (cache_scope_t scope)
{
    return scope < CACHE_SCOPES ? s_scope_names[scope] : "?";
}

int
cache_scope_parse (const char *text, size_t len)
{
    for (int i = 0; i < CACHE_SCOPES; i++)
        if (strlen (s_scope_names[i]) == len && memcmp (s_scope_names[i], text, len) == 0)
            return i;
    return -1;
}

const char *
cache_decision_name (cache_decision_t decision)
{
    return decision <= CACHE_DENY ? s_decision_names[decision] : "?";
}

int
cache_decision_parse (const char *text, size_t len)
{
    for (int i = 0; i <= CACHE_DENY; i++)
        if (strlen (s_decision_names[i]) == len && memcmp (s_decision_names[i], text, len) == 0)
            return i;
    return -1;
}

cache_store_t *
cache_store_open (const char *dir, const cache_limits_t *limits, char *err, size_t err_size)
{
    if (!dir || !*dir || !limits || limits->max_entries < 1 ||
        limits->map_size < CACHE_MIN_MAP_SIZE || limits->max_ttl_s < 1 || limits->grace_ms < 0) {
        snprintf (err, err_size,
                  "bad cache limits: max entries >= 1, map size >= %zu bytes, max ttl >= 1 s",
                  CACHE_MIN_MAP_SIZE);
        return NULL;
    }
    if (mkdir (dir, 0700) != 0 && errno != EEXIST) {
        snprintf (err, err_size, "%s: cannot create: %s", dir, strerror (errno));
        return NULL;
    }
    cache_store_t *self = (cache_store_t *) calloc (1, sizeof (cache_store_t));
    size_t path_size = strlen (dir) + sizeof ("/cache.mdb");
    if (self)
        self->path = (char *) malloc (path_size);
    if (!self || !self->path) {
        free (self);
        snprintf (err, err_size, "out of memory");
        return NULL;
    }
    snprintf (self->path, path_size, "%s/cache.mdb", dir);
    self->limits = *limits;
    if (sodium_init () < 0) {
        snprintf (err, err_size, "libsodium failed to initialise");
        cache_store_destroy (&self);
        return NULL;
    }
    int rc = mdb_env_create (&self->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs (self->env, DB_COUNT);
    if (rc == 0)
        rc = mdb_env_set_mapsize (self->env, limits->map_size);
    if (rc == 0)
        rc = mdb_env_open (self->env, self->path, MDB_NOSUBDIR | MDB_NOTLS, 0600);
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
        snprintf (err, err_size, "%s: %s", self->path, mdb_strerror (rc));
        cache_store_destroy (&self);
        return NULL;
    }
    return self;
}

void
cache_store_destroy (cache_store_t **self_p)
{
    if (self_p && *self_p) {
        cache_store_t *self = *self_p;
        if (self->env)
            mdb_env_close (self->env);
        free (self->path);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Keys and values

static void
s_be16 (uint8_t *out, size_t v)
{
    out[0] = (uint8_t) (v >> 8);
    out[1] = (uint8_t) v;
}

static size_t
s_get_be16 (const uint8_t *in)
{
    return ((size_t) in[0] << 8) | in[1];
}

//  The length of the policy prefix [len, policy] of a primary key.
static size_t
s_prefix (uint8_t *out, const char *policy)
{
    size_t plen = strlen (policy);
    out[0] = (uint8_t) plen;
    memcpy (out + 1, policy, plen);
    return 1 + plen;
}

static size_t
s_pkey (uint8_t *out, const char *policy, cache_scope_t scope, const uint8_t *key,
        const char *agent, const char *session)
{
    size_t at = s_prefix (out, policy);
    out[at++] = (uint8_t) scope;
    memcpy (out + at, key, CACHE_KEY_BYTES);
    at += CACHE_KEY_BYTES;
    const char *a = scope == CACHE_SCOPE_GLOBAL ? "" : agent;
    const char *s = scope == CACHE_SCOPE_SESSION ? session : "";
    size_t alen = strlen (a), slen = strlen (s);
    out[at++] = (uint8_t) alen;
    memcpy (out + at, a, alen);
    at += alen;
    s_be16 (out + at, slen);
    memcpy (out + at + 2, s, slen);
    return at + 2 + slen;
}

static size_t
s_value (uint8_t *out, const uint8_t *id, cache_decision_t decision, int64_t created,
         int64_t expires, const char *expert, const char *reason)
{
    size_t at = 0, elen = strlen (expert), rlen = strlen (reason);
    memcpy (out, id, ID_BYTES);
    at += ID_BYTES;
    out[at++] = (uint8_t) decision;
    codec_put_be64 (out + at, (uint64_t) created);
    codec_put_be64 (out + at + 8, (uint64_t) expires);
    at += 16;
    s_be16 (out + at, elen);
    memcpy (out + at + 2, expert, elen);
    at += 2 + elen;
    s_be16 (out + at, rlen);
    memcpy (out + at + 2, reason, rlen);
    return at + 2 + rlen;
}

//  The id and expiry of a stored value; false when it is not one of ours.
static bool
s_value_head (const MDB_val *val, const uint8_t **id, int64_t *expires)
{
    if (val->mv_size < ID_BYTES + 1 + 16 + 4)
        return false;
    const uint8_t *p = (const uint8_t *) val->mv_data;
    *id = p;
    *expires = (int64_t) codec_get_be64 (p + ID_BYTES + 1 + 8);
    return true;
}

static bool
s_value_decode (const MDB_val *val, cache_verdict_t *out)
{
    const uint8_t *p = (const uint8_t *) val->mv_data, *end = p + val->mv_size;
    if (val->mv_size < ID_BYTES + 1 + 16 + 4)
        return false;
    sodium_bin2hex (out->id, sizeof (out->id), p, ID_BYTES);
    p += ID_BYTES;
    out->decision = *p++ == CACHE_DENY ? CACHE_DENY : CACHE_ALLOW;
    out->created_ms = (int64_t) codec_get_be64 (p);
    out->expires_ms = (int64_t) codec_get_be64 (p + 8);
    p += 16;
    size_t elen = s_get_be16 (p);
    p += 2;
    if (elen > CACHE_MAX_EXPERT || end - p < (ptrdiff_t) elen + 2)
        return false;
    memcpy (out->expert, p, elen);
    out->expert[elen] = 0;
    p += elen;
    size_t rlen = s_get_be16 (p);
    p += 2;
    if (rlen > CACHE_MAX_REASON || end - p < (ptrdiff_t) rlen)
        return false;
    memcpy (out->reason, p, rlen);
    out->reason[rlen] = 0;
    return true;
}

static void
s_expiry_key (uint8_t *out, int64_t expires, const uint8_t *id)
{
    codec_put_be64 (out, (uint64_t) expires);
    memcpy (out + 8, id, ID_BYTES);
}

//  Deletes the verdict under pkey (value val) and its index entries.
static int
s_delete (cache_store_t *self, MDB_txn *txn, MDB_val *pkey, const MDB_val *val)
{
    const uint8_t *id;
    int64_t expires;
    uint8_t id_copy[ID_BYTES], ek[8 + ID_BYTES];
    if (!s_value_head (val, &id, &expires))
        return mdb_del (txn, self->dbi[DB_VERDICTS], pkey, NULL);
    memcpy (id_copy, id, ID_BYTES); //  val points into the page being changed
    s_expiry_key (ek, expires, id_copy);
    MDB_val idk = {ID_BYTES, id_copy}, exk = {sizeof (ek), ek};
    int rc = mdb_del (txn, self->dbi[DB_VERDICTS], pkey, NULL);
    if (rc == 0)
        rc = mdb_del (txn, self->dbi[DB_BY_ID], &idk, NULL);
    if (rc == 0)
        rc = mdb_del (txn, self->dbi[DB_BY_EXPIRY], &exk, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

//  Deletes the verdict with id (binary); MDB_NOTFOUND when there is none.
//  *expires_out (when not NULL) gets its expiry.
static int
s_delete_id (cache_store_t *self, MDB_txn *txn, const uint8_t *id, int64_t *expires_out)
{
    uint8_t pk[PKEY_MAX];
    MDB_val idk = {ID_BYTES, (void *) id}, pkey, val;
    int rc = mdb_get (txn, self->dbi[DB_BY_ID], &idk, &pkey);
    if (rc != 0)
        return rc;
    if (pkey.mv_size > sizeof (pk))
        return MDB_CORRUPTED;
    memcpy (pk, pkey.mv_data, pkey.mv_size);
    pkey.mv_data = pk;
    rc = mdb_get (txn, self->dbi[DB_VERDICTS], &pkey, &val);
    if (rc == MDB_NOTFOUND) //  a dangling index entry: drop it
        return mdb_del (txn, self->dbi[DB_BY_ID], &idk, NULL) == 0 ? MDB_NOTFOUND : MDB_CORRUPTED;
    if (rc != 0)
        return rc;
    const uint8_t *vid;
    int64_t expires = 0;
    if (expires_out && s_value_head (&val, &vid, &expires))
        *expires_out = expires;
    return s_delete (self, txn, &pkey, &val);
}

//  --------------------------------------------------------------------------
//  Operations

static bool
s_text_ok (const char *text, size_t min, size_t max)
{
    size_t len = text ? strlen (text) : 0;
    return len >= min && len <= max;
}

static int
s_check_put (const cache_store_t *self, const cache_put_t *put, char *err, size_t err_size)
{
    const char *why = NULL;
    if (!put->policy || !s_text_ok (put->policy, 1, CACHE_MAX_POLICY))
        why = "policy must be 1..128 bytes";
    else if (!put->key)
        why = "key must be 32 bytes";
    else if (put->scope >= CACHE_SCOPES)
        why = "scope must be once, session, agent or global";
    else if (put->decision != CACHE_ALLOW && put->decision != CACHE_DENY)
        why = "decision must be allow or deny";
    else if (!s_text_ok (put->expert, 1, CACHE_MAX_EXPERT))
        why = "expert must be 1..64 bytes";
    else if (!s_text_ok (put->reason, 0, CACHE_MAX_REASON))
        why = "reason must be at most 1024 bytes";
    else if ((put->scope == CACHE_SCOPE_SESSION || put->scope == CACHE_SCOPE_AGENT) &&
             (!put->agent || !codec_name_valid (put->agent, strlen (put->agent), CACHE_MAX_AGENT)))
        why = "scopes session and agent need an agent id (1..64 bytes of [A-Za-z0-9._-])";
    else if (put->scope == CACHE_SCOPE_SESSION && !s_text_ok (put->session, 1, CACHE_MAX_SESSION))
        why = "scope session needs a session id of 1..256 bytes";
    if (why) {
        snprintf (err, err_size, "%s", why);
        return -1;
    }
    if (put->ttl_s < 1 || put->ttl_s > self->limits.max_ttl_s) {
        snprintf (err, err_size, "ttl must be 1..%lld seconds", (long long) self->limits.max_ttl_s);
        return -1;
    }
    return 0;
}

static int
s_fail (cache_store_t *self, MDB_txn *txn, int rc, const char *what, char *err, size_t err_size)
{
    if (txn)
        mdb_txn_abort (txn);
    if (rc == MDB_MAP_FULL) {
        self->n.map_full++;
        snprintf (err, err_size, "cache is full: the map (%zu bytes) has no room; nothing changed",
                  self->limits.map_size);
        return CACHE_EFULL;
    }
    snprintf (err, err_size, "%s: %s", what, mdb_strerror (rc));
    return CACHE_EIO;
}

//  Records policy as the version last written (meta), when it changed.
static int
s_note_policy (cache_store_t *self, MDB_txn *txn, const char *policy, int64_t now_ms)
{
    MDB_val k = {6, "policy"}, v;
    size_t plen = strlen (policy);
    int rc = mdb_get (txn, self->dbi[DB_META], &k, &v);
    if (rc == 0 && v.mv_size == plen && memcmp (v.mv_data, policy, plen) == 0)
        return 0;
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    v = (MDB_val){plen, (void *) policy};
    rc = mdb_put (txn, self->dbi[DB_META], &k, &v, 0);
    uint8_t since[8];
    codec_put_be64 (since, (uint64_t) now_ms);
    MDB_val sk = {5, "since"}, sv = {8, since};
    if (rc == 0)
        rc = mdb_put (txn, self->dbi[DB_META], &sk, &sv, 0);
    return rc;
}

int
cache_store_put (cache_store_t *self, const cache_put_t *put, int64_t now_ms, char *id_out,
                 char *err, size_t err_size)
{
    if (s_check_put (self, put, err, err_size) != 0)
        return CACHE_EBAD;
    uint8_t id[ID_BYTES];
    randombytes_buf (id, sizeof (id));
    if (put->scope == CACHE_SCOPE_ONCE) {
        sodium_bin2hex (id_out, CACHE_ID_HEX + 1, id, sizeof (id));
        self->n.puts_once++;
        return 0;
    }
    uint8_t pk[PKEY_MAX], value[VALUE_MAX], ek[8 + ID_BYTES];
    int64_t expires = now_ms + put->ttl_s * 1000;
    MDB_val pkey = {s_pkey (pk, put->policy, put->scope, put->key, put->agent ? put->agent : "",
                            put->session ? put->session : ""),
                    pk};
    MDB_val val = {s_value (value, id, put->decision, now_ms, expires, put->expert,
                            put->reason ? put->reason : ""),
                   value};
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    if (rc != 0)
        return s_fail (self, NULL, rc, "cannot begin", err, err_size);
    MDB_val old;
    bool evicted = false;
    rc = mdb_get (txn, self->dbi[DB_VERDICTS], &pkey, &old);
    if (rc == 0)
        rc = s_delete (self, txn, &pkey, &old); //  replaced
    else if (rc == MDB_NOTFOUND) {
        MDB_stat st;
        rc = mdb_stat (txn, self->dbi[DB_VERDICTS], &st);
        if (rc == 0 && st.ms_entries >= self->limits.max_entries) {
            //  Full: the verdict that expires first goes (an expired one first)
            MDB_cursor *cur;
            MDB_val k, v;
            rc = mdb_cursor_open (txn, self->dbi[DB_BY_EXPIRY], &cur);
            if (rc == 0) {
                rc = mdb_cursor_get (cur, &k, &v, MDB_FIRST);
                uint8_t victim[ID_BYTES];
                if (rc == 0 && k.mv_size == 8 + ID_BYTES)
                    memcpy (victim, (uint8_t *) k.mv_data + 8, ID_BYTES);
                else if (rc == 0)
                    rc = MDB_CORRUPTED;
                mdb_cursor_close (cur);
                if (rc == 0)
                    rc = s_delete_id (self, txn, victim, NULL);
                evicted = rc == 0;
            }
        }
    }
    if (rc == 0)
        rc = mdb_put (txn, self->dbi[DB_VERDICTS], &pkey, &val, 0);
    MDB_val idk = {ID_BYTES, id};
    if (rc == 0)
        rc = mdb_put (txn, self->dbi[DB_BY_ID], &idk, &pkey, MDB_NOOVERWRITE);
    s_expiry_key (ek, expires, id);
    MDB_val exk = {sizeof (ek), ek}, empty = {0, ""};
    if (rc == 0)
        rc = mdb_put (txn, self->dbi[DB_BY_EXPIRY], &exk, &empty, 0);
    if (rc == 0)
        rc = s_note_policy (self, txn, put->policy, now_ms);
    if (rc != 0)
        return s_fail (self, txn, rc, "cannot store the verdict", err, err_size);
    rc = mdb_txn_commit (txn);
    if (rc != 0)
        return s_fail (self, NULL, rc, "cannot commit the verdict", err, err_size);
    self->n.puts++;
    self->n.evictions += evicted;
    sodium_bin2hex (id_out, CACHE_ID_HEX + 1, id, sizeof (id));
    return 0;
}

int
cache_store_get (cache_store_t *self, const char *policy, const uint8_t *key, const char *agent,
                 const char *session, int64_t now_ms, cache_verdict_t *out, char *err,
                 size_t err_size)
{
    agent = agent ? agent : "";
    session = session ? session : "";
    if (!policy || !s_text_ok (policy, 1, CACHE_MAX_POLICY) || !key ||
        strlen (agent) > CACHE_MAX_AGENT || strlen (session) > CACHE_MAX_SESSION) {
        snprintf (err, err_size,
                  "bad lookup: policy 1..128 bytes, key 32 bytes, agent at most "
                  "64 bytes, session at most 256");
        return -1;
    }
    self->n.gets++;
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        snprintf (err, err_size, "cannot begin: %s", mdb_strerror (rc));
        return -1;
    }
    int found = 0;
    for (cache_scope_t scope = CACHE_SCOPE_SESSION; scope <= CACHE_SCOPE_GLOBAL && !found;
         scope++) {
        if ((scope == CACHE_SCOPE_SESSION && (!*session || !*agent)) ||
            (scope == CACHE_SCOPE_AGENT && !*agent))
            continue;
        uint8_t pk[PKEY_MAX];
        MDB_val pkey = {s_pkey (pk, policy, scope, key, agent, session), pk}, val;
        rc = mdb_get (txn, self->dbi[DB_VERDICTS], &pkey, &val);
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc != 0 || !s_value_decode (&val, out)) {
            mdb_txn_abort (txn);
            snprintf (err, err_size, "cannot read a verdict: %s",
                      rc ? mdb_strerror (rc) : "malformed value");
            return -1;
        }
        if (out->expires_ms <= now_ms)
            continue; //  expired: the sweep removes it
        out->scope = scope;
        snprintf (out->policy, sizeof (out->policy), "%s", policy);
        snprintf (out->agent, sizeof (out->agent), "%s", scope == CACHE_SCOPE_GLOBAL ? "" : agent);
        snprintf (out->session, sizeof (out->session), "%s",
                  scope == CACHE_SCOPE_SESSION ? session : "");
        found = 1;
    }
    mdb_txn_abort (txn);
    if (found)
        self->n.hits++;
    else
        self->n.misses++;
    return found;
}

//  Deleting copies pages too, so in a map that puts have filled a
//  revocation or a sweep may not fit, and a verdict that cannot be revoked
//  stays in force. Deletions alone may grow the map into a reserve (an
//  eighth of map_size, at least 256 KiB); afterwards it is given back as far
//  as LMDB can shrink it (never below the pages in use), so the file stays
//  within map_size plus the reserve.
static int
s_reserve (cache_store_t *self, bool take)
{
    size_t reserve = self->limits.map_size / 8;
    if (reserve < (size_t) 256 * 1024)
        reserve = (size_t) 256 * 1024;
    return mdb_env_set_mapsize (self->env, self->limits.map_size + (take ? reserve : 0));
}

static int
s_revoke (cache_store_t *self, const uint8_t *bin, int64_t now_ms, char *err, size_t err_size)
{
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    if (rc != 0)
        return s_fail (self, NULL, rc, "cannot begin", err, err_size);
    int64_t expires = 0;
    rc = s_delete_id (self, txn, bin, &expires);
    if (rc == MDB_NOTFOUND) {
        mdb_txn_commit (txn); //  may have dropped a dangling index entry
        return 0;
    }
    if (rc != 0)
        return s_fail (self, txn, rc, "cannot revoke", err, err_size);
    rc = mdb_txn_commit (txn);
    if (rc != 0)
        return s_fail (self, NULL, rc, "cannot commit the revocation", err, err_size);
    if (expires <= now_ms)
        return 0; //  it had expired: removed, but nothing live was revoked
    self->n.revocations++;
    return 1;
}

int
cache_store_revoke (cache_store_t *self, const char *id, int64_t now_ms, char *err, size_t err_size)
{
    uint8_t bin[ID_BYTES];
    size_t bin_len = 0;
    if (!id || strlen (id) != CACHE_ID_HEX ||
        sodium_hex2bin (bin, sizeof (bin), id, CACHE_ID_HEX, NULL, &bin_len, NULL) != 0 ||
        bin_len != ID_BYTES) {
        snprintf (err, err_size, "a verdict id is 32 hex digits");
        return -1;
    }
    uint64_t full = self->n.map_full;
    int rc = s_revoke (self, bin, now_ms, err, err_size);
    if (rc == CACHE_EFULL && s_reserve (self, true) == 0) {
        rc = s_revoke (self, bin, now_ms, err, err_size);
        s_reserve (self, false);
    }
    if (rc >= 0)
        self->n.map_full = full; //  only a put that did not fit counts
    return rc;
}

static int
s_sweep (cache_store_t *self, int64_t now_ms, size_t max, char *err, size_t err_size)
{
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    if (rc != 0)
        return s_fail (self, NULL, rc, "cannot begin", err, err_size);
    size_t removed = 0, expired = 0;
    MDB_cursor *cur = NULL;
    //  Expired verdicts, in expiry order
    while (rc == 0 && removed < max) {
        MDB_val k, v;
        uint8_t ek[8 + ID_BYTES];
        rc = mdb_cursor_open (txn, self->dbi[DB_BY_EXPIRY], &cur);
        if (rc == 0)
            rc = mdb_cursor_get (cur, &k, &v, MDB_FIRST);
        bool ours = rc == 0 && k.mv_size == sizeof (ek);
        if (ours)
            memcpy (ek, k.mv_data, sizeof (ek));
        else if (rc == 0)
            rc = mdb_cursor_del (cur, 0); //  not one of ours
        mdb_cursor_close (cur);
        cur = NULL;
        if (!ours)
            continue; //  ends on NOTFOUND or an error
        if ((int64_t) codec_get_be64 (ek) > now_ms)
            break;
        rc = s_delete_id (self, txn, ek + 8, NULL);
        if (rc == MDB_NOTFOUND) { //  an index entry without its verdict
            MDB_val exk = {sizeof (ek), ek};
            rc = mdb_del (txn, self->dbi[DB_BY_EXPIRY], &exk, NULL);
        }
        removed++;
        expired++;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    //  Other policy versions, once the last written one has settled
    MDB_val mk = {6, "policy"}, mv, sk = {5, "since"}, sv;
    char current[CACHE_MAX_POLICY + 1] = "";
    int64_t since = INT64_MAX;
    if (rc == 0 && mdb_get (txn, self->dbi[DB_META], &mk, &mv) == 0 &&
        mv.mv_size <= CACHE_MAX_POLICY && mdb_get (txn, self->dbi[DB_META], &sk, &sv) == 0 &&
        sv.mv_size == 8) {
        memcpy (current, mv.mv_data, mv.mv_size);
        current[mv.mv_size] = 0;
        since = (int64_t) codec_get_be64 ((uint8_t *) sv.mv_data);
    }
    size_t versions = 0;
    if (rc == 0 && *current && now_ms - since >= self->limits.grace_ms) {
        uint8_t prefix[1 + CACHE_MAX_POLICY + 1], at[PKEY_MAX];
        size_t plen = s_prefix (prefix, current);
        size_t at_len = 0; //  where to look next (empty: the first key)
        while (rc == 0 && removed < max) {
            MDB_val k = {at_len, at}, v;
            rc = mdb_cursor_open (txn, self->dbi[DB_VERDICTS], &cur);
            if (rc == 0)
                rc = mdb_cursor_get (cur, &k, &v, at_len ? MDB_SET_RANGE : MDB_FIRST);
            if (rc == 0 && k.mv_size >= plen && memcmp (k.mv_data, prefix, plen) == 0) {
                //  The current version: skip its whole range in one step
                memcpy (at, prefix, plen);
                at[plen] = 0xFF;
                at_len = plen + 1;
                mdb_cursor_close (cur);
                cur = NULL;
                continue;
            }
            mdb_cursor_close (cur);
            cur = NULL;
            if (rc != 0 || k.mv_size > sizeof (at))
                break;
            memcpy (at, k.mv_data, k.mv_size);
            at_len = k.mv_size;
            MDB_val pkey = {at_len, at};
            rc = s_delete (self, txn, &pkey, &v);
            removed++;
            versions++;
        }
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    if (rc != 0)
        return s_fail (self, txn, rc, "cannot sweep", err, err_size);
    rc = mdb_txn_commit (txn);
    if (rc != 0)
        return s_fail (self, NULL, rc, "cannot commit the sweep", err, err_size);
    self->n.expired_swept += expired;
    self->n.versions_swept += versions;
    return (int) removed;
}

int
cache_store_sweep (cache_store_t *self, int64_t now_ms, size_t max, char *err, size_t err_size)
{
    //  Deleting copies pages too: in a full map, smaller transactions
    //  may fit where a large one does not
    uint64_t full = self->n.map_full;
    int rc = s_sweep (self, now_ms, max, err, err_size);
    while (rc == CACHE_EFULL && max > 1) {
        max /= 2;
        rc = s_sweep (self, now_ms, max, err, err_size);
    }
    if (rc == CACHE_EFULL && s_reserve (self, true) == 0) {
        rc = s_sweep (self, now_ms, max, err, err_size);
        s_reserve (self, false);
    }
    if (rc >= 0)
        self->n.map_full = full; //  only a put that did not fit counts
    return rc;
}

void
cache_store_stats (cache_store_t *self, cache_stats_t *stats)
{
    *stats = self->n;
    stats->max_entries = self->limits.max_entries;
    MDB_envinfo info;
    MDB_stat est;
    if (mdb_env_info (self->env, &info) == 0 && mdb_env_stat (self->env, &est) == 0) {
        stats->map_size = info.me_mapsize;
        stats->map_used = (uint64_t) (info.me_last_pgno + 1) * est.ms_psize;
    }
    MDB_txn *txn = NULL;
    MDB_stat st;
    if (mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn) == 0) {
        if (mdb_stat (txn, self->dbi[DB_VERDICTS], &st) == 0)
            stats->entries = st.ms_entries;
        mdb_txn_abort (txn);
    }
}
