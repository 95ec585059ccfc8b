/*  cache_store -- the fleet's verdict cache (service `cache`) in LMDB.

    A verdict is an expert's (or a node's) answer to one request, keyed by
    (policy version, request key, scope[, agent[, session]]): the request
    key is the 32-byte hash a validator computes for the request. Scopes,
    from the most to the least specific: session (the key also holds the
    agent id and session id), agent (the agent id), global. Scope once is
    never stored. A lookup returns the most specific live verdict.

    The policy version leads every key, so a new policy finds nothing of
    the old one without any scan; entries of other versions are removed by
    cache_store_sweep in bounded steps once a version has been the only
    one written for `grace_ms`, and by expiry.

    Bounded: at most max_entries verdicts; a put into a full store evicts
    the verdict that expires first (an expired one, when there is one). The
    puts never grow the file past map_size: a put that does not fit fails
    with a clear message and changes nothing. Revocations and the sweep may
    use a reserve beyond it (map_size / 8, at least 256 KiB), so that a full
    map can always be emptied again. Revocation deletes the verdict in a
    synced transaction, so it survives a restart. Times are milliseconds
    since the epoch, passed in by the caller (tests move the clock).
    Docs: docs/CACHE.md.
*/
#ifndef LH_CACHE_STORE_H_INCLUDED
#define LH_CACHE_STORE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CACHE_KEY_BYTES    32
#define CACHE_ID_HEX       32  //  verdict id: 16 random bytes in hex
#define CACHE_MAX_POLICY   128 //  bytes of a policy version
#define CACHE_MAX_AGENT    64  //  bytes of an agent id (LH_MAX_AGENT)
#define CACHE_MAX_SESSION  256 //  bytes of a session id
#define CACHE_MAX_EXPERT   64  //  bytes of an expert name
#define CACHE_MAX_REASON   1024
#define CACHE_MIN_MAP_SIZE ((size_t) 64 * 1024)

typedef enum {
    CACHE_SCOPE_ONCE,
    CACHE_SCOPE_SESSION,
    CACHE_SCOPE_AGENT,
    CACHE_SCOPE_GLOBAL,
    CACHE_SCOPES
} cache_scope_t;

typedef enum { CACHE_ALLOW, CACHE_DENY } cache_decision_t;

typedef struct {
    char id[CACHE_ID_HEX + 1];
    cache_decision_t decision;
    cache_scope_t scope;
    char policy[CACHE_MAX_POLICY + 1];
    char agent[CACHE_MAX_AGENT + 1];     //  "" for scope global
    char session[CACHE_MAX_SESSION + 1]; //  "" unless scope session
    char expert[CACHE_MAX_EXPERT + 1];
    char reason[CACHE_MAX_REASON + 1];
    int64_t created_ms;
    int64_t expires_ms;
} cache_verdict_t;

//  What a put asks for; strings NUL-terminated (NULL counts as "").
typedef struct {
    const char *policy;
    const uint8_t *key; //  CACHE_KEY_BYTES
    cache_scope_t scope;
    cache_decision_t decision;
    const char *expert;
    const char *reason;
    int64_t ttl_s; //  1..max_ttl_s
    const char *agent;
    const char *session;
} cache_put_t;

typedef struct {
    size_t max_entries; //  >= 1
    size_t map_size;    //  bytes, >= CACHE_MIN_MAP_SIZE
    int64_t max_ttl_s;  //  >= 1
    int64_t grace_ms;   //  before other versions are swept (>= 0)
} cache_limits_t;

typedef struct {
    uint64_t entries;  //  verdicts stored (live or expired, not yet swept)
    uint64_t map_used; //  bytes of the map in use
    uint64_t map_size;
    uint64_t max_entries;
    //  Since open
    uint64_t puts, puts_once, gets, hits, misses, revocations, evictions, expired_swept,
        versions_swept, map_full;
} cache_stats_t;

typedef struct _cache_store_t cache_store_t;

//  Opens (creating) DIR/cache.mdb. NULL with a message on failure.
cache_store_t *cache_store_open (const char *dir, const cache_limits_t *limits, char *err,
                                 size_t err_size);
void cache_store_destroy (cache_store_t **self_p);

//  The names of scopes and decisions on the wire; parse returns -1 for others.
const char *cache_scope_name (cache_scope_t scope);
int cache_scope_parse (const char *text, size_t len);
const char *cache_decision_name (cache_decision_t decision);
int cache_decision_parse (const char *text, size_t len);

//  Failures of put (and of revoke and sweep, which never say CACHE_EBAD)
#define CACHE_EBAD  (-1) //  bad arguments
#define CACHE_EFULL (-2) //  the map has no room
#define CACHE_EIO   (-3) //  LMDB failed

//  Stores a verdict (scope once: nothing is stored) and writes its new id
//  into id_out (CACHE_ID_HEX + 1 bytes). A verdict already stored under
//  the same key and scope is replaced. Returns 0, or CACHE_E* with a
//  message and nothing changed.
int cache_store_put (cache_store_t *self, const cache_put_t *put, int64_t now_ms, char *id_out,
                     char *err, size_t err_size);

//  The most specific live verdict for (policy, key) as seen by agent and
//  session (either may be NULL or ""): session, then agent, then global.
//  1 found (*out filled), 0 none, -1 error (message).
int cache_store_get (cache_store_t *self, const char *policy, const uint8_t *key, const char *agent,
                     const char *session, int64_t now_ms, cache_verdict_t *out, char *err,
                     size_t err_size);

//  Deletes the verdict with that id. 1 revoked, 0 no such live verdict
//  (unknown, replaced, expired or revoked before), CACHE_EIO or
//  CACHE_EFULL, or CACHE_EBAD when id is not 32 hex digits.
int cache_store_revoke (cache_store_t *self, const char *id, int64_t now_ms, char *err,
                        size_t err_size);

//  Removes up to max entries: expired verdicts, then verdicts of policy
//  versions other than the one last written, once that one has been the
//  only one written for grace_ms. Returns how many, or CACHE_E* with a message.
int cache_store_sweep (cache_store_t *self, int64_t now_ms, size_t max, char *err, size_t err_size);

void cache_store_stats (cache_store_t *self, cache_stats_t *stats);

#endif
