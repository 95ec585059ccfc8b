/*  guard -- the workspace's hooks answered by the policy, its changes
    reported to the log. See guard.h.
*/
#include "guard.h"

#include "codec.h"
#include "lh_client.h"
#include "lh_log.h"
#include "policy.h"
#include "spool.h"

#include <czmq.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#define S_VERSION_MAX 64
#define S_HASH_CHUNK  (64 * 1024)

//  The policy's tool for each operation (POLICY.md, "Guarded workspaces")
static const char *s_tools[WS_OPS] = {
    [WS_READ] = "FsRead",         [WS_WRITE] = "FsWrite",
    [WS_CREATE] = "FsCreate",     [WS_TRUNCATE] = "FsTruncate",
    [WS_UNLINK] = "FsUnlink",     [WS_RENAME] = "FsRename",
    [WS_MKDIR] = "FsMkdir",       [WS_RMDIR] = "FsRmdir",
    [WS_CHMOD] = "FsChmod",       [WS_CHOWN] = "FsChown",
    [WS_SYMLINK] = "FsSymlink",   [WS_LINK] = "FsLink",
    [WS_SETXATTR] = "FsSetxattr", [WS_REMOVEXATTR] = "FsRemovexattr",
};

typedef struct {
    int rc; //  0 allowed, else the negative errno
    int64_t expires;
    char version[S_VERSION_MAX + 1];
} s_decision_t;

struct _guard_t {
    guard_options_t options;
    char source[PATH_MAX];
    lh_connect_t conn;
    pthread_key_t client_key; //  one broker client per file-system thread
    pthread_mutex_t lock;     //  cache, version, reporter pipe
    zhashx_t *cache;          //  "tool\npath\ntarget" -> s_decision_t
    char version[S_VERSION_MAX + 1];
    spool_t *spool;              //  opened here, then the reporter's alone
    policy_t *policy;            //  reads while the broker is away, or NULL
    pthread_mutex_t policy_lock; //  policy_eval: one thread at a time
    zactor_t *reporter;
    atomic_uint_fast64_t checks, allowed, refused, cache_hits, errors, escalations, local_reads,
        events, events_refused;
};

void
guard_options_default (guard_options_t *options)
{
    memset (options, 0, sizeof (*options));
    options->timeout_ms = 5000;
    options->wait_ms = 30000;
    options->cache_ms = 60000;
    options->cache_max = 100000;
    options->shadow_max = 64 * 1024;
}

//  --------------------------------------------------------------------------
//  Paths: what the workspace names relative to the source, as the policy sees it

//  False when it does not fit: a path cut short would be judged as another
static bool
s_absolute (guard_t *self, const char *rel, char *out, size_t size)
{
    int n = !rel || streq (rel, ".") || !*rel ? snprintf (out, size, "%s", self->source)
                                              : snprintf (out, size, "%s/%s", self->source, rel);
    return n >= 0 && (size_t) n < size;
}

//  A symlink's text as the kernel will follow it from the link's directory
//  (lexically: the policy resolves "..")
static bool
s_link_target (guard_t *self, const char *link_rel, const char *text, char *out, size_t size)
{
    int n;
    if (text[0] == '/')
        n = snprintf (out, size, "%s", text);
    else {
        char link[PATH_MAX];
        if (!s_absolute (self, link_rel, link, sizeof (link)))
            return false;
        char *slash = strrchr (link, '/');
        if (slash)
            *slash = 0;
        n = snprintf (out, size, "%s/%s", link, text);
    }
    return n >= 0 && (size_t) n < size;
}

//  --------------------------------------------------------------------------
//  Asking the policy

static void
s_client_free (void *client)
{
    lh_client_t *c = (lh_client_t *) client;
    lh_client_destroy (&c);
}

static lh_client_t *
s_client (guard_t *self)
{
    lh_client_t *client = (lh_client_t *) pthread_getspecific (self->client_key);
    if (!client) {
        client = lh_client_new (&self->conn);
        if (client) {
            //  The SDK sends once: an escalation may be held for wait_ms
            lh_client_set_timeout (client, self->options.timeout_ms + self->options.wait_ms);
            lh_client_set_retries (client, 0);
            pthread_setspecific (self->client_key, client);
        }
    }
    return client;
}

static int
s_refusal (ws_op_t op)
{
    return op == WS_CHMOD || op == WS_CHOWN || op == WS_SETXATTR || op == WS_REMOVEXATTR ? -EPERM
                                                                                         : -EACCES;
}

//  The request: {tool, input: {path, target?, name?}, cwd, project, home?, session?, wait_ms}
static void
s_pack_request (guard_t *self, ws_op_t op, const char *path, const char *target, const char *name,
                codec_buf_t *buf)
{
    msgpack_packer *pk = &buf->pk;
    size_t keys = 5 + (self->options.home != NULL) + (self->options.session != NULL);
    msgpack_pack_map (pk, keys);
    codec_pack_kv_str (pk, "tool", s_tools[op]);
    codec_pack_str (pk, "input");
    msgpack_pack_map (pk, 1 + (target != NULL) + (name != NULL));
    codec_pack_kv_str (pk, "path", path);
    if (target)
        codec_pack_kv_str (pk, "target", target);
    if (name)
        codec_pack_kv_str (pk, "name", name);
    codec_pack_kv_str (pk, "cwd", self->source);
    codec_pack_kv_str (pk, "project", self->source);
    if (self->options.home)
        codec_pack_kv_str (pk, "home", self->options.home);
    if (self->options.session)
        codec_pack_kv_str (pk, "session", self->options.session);
    codec_pack_kv_u64 (pk, "wait_ms", (uint64_t) self->options.wait_ms);
}

static bool
s_cached (guard_t *self, const char *key, int *rc)
{
    bool hit = false;
    pthread_mutex_lock (&self->lock);
    s_decision_t *d = (s_decision_t *) zhashx_lookup (self->cache, key);
    if (d && d->expires > zclock_mono () && streq (d->version, self->version)) {
        *rc = d->rc;
        hit = true;
    }
    pthread_mutex_unlock (&self->lock);
    return hit;
}

static void
s_remember (guard_t *self, const char *key, int rc, const char *version)
{
    if (self->options.cache_ms <= 0)
        return;
    pthread_mutex_lock (&self->lock);
    if (!streq (version, self->version)) {
        //  A new policy: nothing decided under the old one holds
        snprintf (self->version, sizeof (self->version), "%s", version);
        zhashx_purge (self->cache);
    }
    if (zhashx_size (self->cache) >= self->options.cache_max)
        zhashx_purge (self->cache);
    s_decision_t *d = (s_decision_t *) zmalloc (sizeof (s_decision_t));
    d->rc = rc;
    d->expires = zclock_mono () + self->options.cache_ms;
    snprintf (d->version, sizeof (d->version), "%s", version);
    zhashx_update (self->cache, key, d);
    pthread_mutex_unlock (&self->lock);
}

//  An open for reading judged by the local policy (the broker is away)
static int
s_local_read (guard_t *self, const char *path)
{
    codec_buf_t buf;
    codec_buf_init (&buf);
    msgpack_pack_map (&buf.pk, 1);
    codec_pack_kv_str (&buf.pk, "path", path);
    msgpack_unpacked input;
    msgpack_unpacked_init (&input);
    policy_decision_t d;
    memset (&d, 0, sizeof (d));
    d.action = POLICY_DENY;
    if (msgpack_unpack_next (&input, buf.sbuf.data, buf.sbuf.size, NULL) ==
        MSGPACK_UNPACK_SUCCESS) {
        policy_request_t request = {"FsRead",           &input.data,  self->source,
                                    self->options.home, self->source, "agent"};
        pthread_mutex_lock (&self->policy_lock);
        policy_eval (self->policy, &request, &d);
        pthread_mutex_unlock (&self->policy_lock);
    }
    msgpack_unpacked_destroy (&input);
    codec_buf_destroy (&buf);
    atomic_fetch_add (&self->local_reads, 1);
    bool allow = d.action == POLICY_ALLOW;
    atomic_fetch_add (allow ? &self->allowed : &self->refused, 1);
    if (!allow)
        lh_info ("refused by the local policy", "tool=FsRead path=\"%s\" rule=%s", path, d.rule);
    return allow ? 0 : -EACCES;
}

static int
s_check (void *arg, ws_op_t op, const char *rel, const char *second, const struct fuse_ctx *ctx)
{
    (void) ctx;
    guard_t *self = (guard_t *) arg;
    if ((int) op < 0 || op >= WS_OPS || !rel)
        return -EACCES;
    atomic_fetch_add (&self->checks, 1);
    char path[PATH_MAX], target[PATH_MAX];
    const char *name = NULL, *tpath = NULL;
    bool fits;
    switch (op) {
    case WS_RENAME:
        fits = s_absolute (self, rel, path, sizeof (path)) &&
               s_absolute (self, second, target, sizeof (target));
        tpath = target;
        break;
    case WS_LINK: //  the workspace names the existing file first; the policy the new name
        fits = s_absolute (self, second, path, sizeof (path)) &&
               s_absolute (self, rel, target, sizeof (target));
        tpath = target;
        break;
    case WS_SYMLINK:
        fits = s_absolute (self, rel, path, sizeof (path)) &&
               s_link_target (self, rel, second ? second : "", target, sizeof (target));
        tpath = target;
        break;
    case WS_SETXATTR:
    case WS_REMOVEXATTR:
        fits = s_absolute (self, rel, path, sizeof (path));
        name = second;
        break;
    default:
        fits = s_absolute (self, rel, path, sizeof (path));
    }
    if (!fits) {
        atomic_fetch_add (&self->refused, 1);
        return -ENAMETOOLONG;
    }
    char key[3 * PATH_MAX];
    snprintf (key, sizeof (key), "%s\n%s\n%s\n%s", s_tools[op], path, tpath ? tpath : "",
              name ? name : "");
    int rc;
    if (s_cached (self, key, &rc)) {
        atomic_fetch_add (&self->cache_hits, 1);
        atomic_fetch_add (rc == 0 ? &self->allowed : &self->refused, 1);
        return rc;
    }
    codec_buf_t buf;
    codec_buf_init (&buf);
    s_pack_request (self, op, path, tpath, name, &buf);
    lh_client_t *client = s_client (self);
    lh_reply_t *reply =
        client ? lh_client_call (client, "validate", buf.sbuf.data, buf.sbuf.size) : NULL;
    codec_buf_destroy (&buf);
    const msgpack_object *root = reply && lh_reply_ok (reply) ? lh_reply_root (reply) : NULL;
    const msgpack_object *decision = codec_map_get (root, "decision");
    char version[S_VERSION_MAX + 1] = "";
    codec_str_copy (codec_map_get (root, "policy"), version, sizeof (version));
    if (!decision && op == WS_READ && self->policy) {
        //  Reads keep working while the broker is away, judged by our copy
        //  of the policy; not cached, so the broker decides again once back
        atomic_fetch_add (&self->errors, 1);
        lh_reply_destroy (&reply);
        return s_local_read (self, path);
    }
    if (!decision) {
        //  No decision (broker or validators away, a timeout): refused, not cached
        atomic_fetch_add (&self->errors, 1);
        atomic_fetch_add (&self->refused, 1);
        lh_warn ("no decision: refused", "tool=%s path=\"%s\" error=%s", s_tools[op], path,
                 reply ? lh_reply_code_name (reply) : "no client");
        lh_reply_destroy (&reply);
        return s_refusal (op);
    }
    bool allow = codec_str_eq (decision, "allow");
    bool escalated = codec_str_eq (decision, "escalate");
    rc = allow ? 0 : s_refusal (op);
    if (escalated)
        //  Still escalated after wait_ms: nobody answered in time. Asked
        //  again next time (an expert may answer), not cached
        atomic_fetch_add (&self->escalations, 1);
    else
        s_remember (self, key, rc, version);
    atomic_fetch_add (allow ? &self->allowed : &self->refused, 1);
    if (!allow) {
        char rule[64] = "";
        codec_str_copy (codec_map_get (root, "rule"), rule, sizeof (rule));
        lh_info ("refused", "tool=%s path=\"%s\" decision=%.*s rule=%s", s_tools[op], path,
                 (int) decision->via.str.size, decision->via.str.ptr, rule);
    }
    lh_reply_destroy (&reply);
    return rc;
}

//  --------------------------------------------------------------------------
//  Reporting: a reporter thread owns the spool (lib/spool.h is single
//  threaded); the file-system threads hand it [type, data] messages

static void
s_reporter (zsock_t *pipe, void *arg)
{
    guard_t *self = (guard_t *) arg;
    spool_t *spool = self->spool;
    self->spool = NULL;
    zsock_signal (pipe, 0);
    int flush_ms = 0;
    zpoller_t *poller = zpoller_new (pipe, NULL);
    while (true) {
        int next = spool_next_ms (spool);
        zsock_t *which = (zsock_t *) zpoller_wait (poller, next < 0 ? 1000 : next);
        if (zpoller_terminated (poller))
            break;
        bool stop = false;
        //  Everything waiting goes in one group: one sync for all of it
        while (which == pipe && !stop) {
            zmsg_t *msg = zmsg_recv (pipe);
            if (!msg)
                break;
            char *type = zmsg_popstr (msg);
            zframe_t *data = zmsg_pop (msg);
            if (type && streq (type, "$TERM"))
                stop = true;
            else if (type && streq (type, "FLUSH") && data && zframe_size (data) == sizeof (int))
                memcpy (&flush_ms, zframe_data (data), sizeof (int));
            else if (type && data &&
                     !spool_add (spool, type, self->options.agent, NULL, zframe_data (data),
                                 zframe_size (data)))
                atomic_fetch_add (&self->events_refused, 1);
            zstr_free (&type);
            zframe_destroy (&data);
            zmsg_destroy (&msg);
            which = zsock_events (pipe) & ZMQ_POLLIN ? pipe : NULL;
        }
        size_t staged = spool_staged (spool);
        if (staged) {
            if (spool_commit (spool))
                atomic_fetch_add (&self->events, staged);
            else
                atomic_fetch_add (&self->events_refused, staged);
        }
        spool_poll (spool);
        if (stop)
            break;
    }
    size_t left = flush_ms > 0 ? spool_flush (spool, flush_ms) : spool_counters (spool)->queued;
    if (left)
        lh_info ("events left in the spool, sent at the next start", "events=%zu dir=\"%s\"", left,
                 self->options.spool_dir);
    zpoller_destroy (&poller);
    spool_destroy (&spool);
}

static void
s_report (guard_t *self, const char *type, codec_buf_t *data)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, type);
    zmsg_addmem (msg, data->sbuf.data, data->sbuf.size);
    pthread_mutex_lock (&self->lock);
    int rc = self->reporter ? zmsg_send (&msg, self->reporter) : -1;
    pthread_mutex_unlock (&self->lock);
    if (rc != 0) {
        zmsg_destroy (&msg);
        atomic_fetch_add (&self->events_refused, 1);
    }
}

//  size, sha256 (hex) and the first shadow_max bytes of what fd holds
static void
s_pack_content (guard_t *self, int fd, msgpack_packer *pk)
{
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init (&state);
    uint8_t *chunk = (uint8_t *) malloc (S_HASH_CHUNK);
    size_t shadow_cap = self->options.shadow_max;
    uint8_t *shadow = shadow_cap ? (uint8_t *) malloc (shadow_cap) : NULL;
    uint64_t size = 0;
    size_t kept = 0;
    bool ok = chunk != NULL && (shadow_cap == 0 || shadow != NULL);
    while (ok) {
        ssize_t n = pread (fd, chunk, S_HASH_CHUNK, (off_t) size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            ok = n == 0;
            break;
        }
        crypto_hash_sha256_update (&state, chunk, (unsigned long long) n);
        if (kept < shadow_cap) {
            size_t take = (size_t) n < shadow_cap - kept ? (size_t) n : shadow_cap - kept;
            memcpy (shadow + kept, chunk, take);
            kept += take;
        }
        size += (uint64_t) n;
    }
    uint8_t hash[crypto_hash_sha256_BYTES];
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    crypto_hash_sha256_final (&state, hash);
    sodium_bin2hex (hex, sizeof (hex), hash, sizeof (hash));
    codec_pack_kv_u64 (pk, "size", size);
    codec_pack_kv_str (pk, "sha256", ok ? hex : "");
    codec_pack_kv_bin (pk, "content", shadow ? shadow : (const uint8_t *) "", kept);
    codec_pack_kv_bool (pk, "truncated", !ok || kept < size);
    free (chunk);
    free (shadow);
}

static void
s_changed (void *arg, ws_op_t op, const char *rel, const char *second, int fd)
{
    guard_t *self = (guard_t *) arg;
    if ((int) op < 0 || op >= WS_OPS || op == WS_READ || !rel)
        return;
    char path[PATH_MAX], other[PATH_MAX];
    if (!s_absolute (self, rel, path, sizeof (path)))
        return; //  never allowed: check refused it
    codec_buf_t data;
    codec_buf_init (&data);
    msgpack_packer *pk = &data.pk;
    const char *type;
    if (op == WS_WRITE || op == WS_CREATE || op == WS_TRUNCATE) {
        type = "file.write";
        msgpack_pack_map (pk, fd >= 0 ? 7 : 3);
        codec_pack_kv_str (pk, "path", path);
        codec_pack_kv_str (pk, "workspace", self->source);
        codec_pack_kv_str (pk, "op", ws_op_name (op));
        if (fd >= 0)
            s_pack_content (self, fd, pk);
    } else if (op == WS_RENAME || op == WS_LINK || op == WS_SYMLINK) {
        type = op == WS_RENAME ? "file.rename" : "file.link";
        bool fits = true;
        if (op == WS_LINK) //  path: the new name; target: the file it now also names
            fits = s_absolute (self, second, path, sizeof (path)) &&
                   s_absolute (self, rel, other, sizeof (other));
        else if (op == WS_RENAME)
            fits = s_absolute (self, second, other, sizeof (other));
        else
            fits = (size_t) snprintf (other, sizeof (other), "%s", second ? second : "") <
                   sizeof (other);
        if (!fits) {
            codec_buf_destroy (&data);
            return;
        }
        msgpack_pack_map (pk, op == WS_RENAME ? 3 : 4);
        codec_pack_kv_str (pk, "path", path);
        codec_pack_kv_str (pk, "target", other);
        codec_pack_kv_str (pk, "workspace", self->source);
        if (op != WS_RENAME)
            codec_pack_kv_str (pk, "kind", op == WS_LINK ? "hard" : "symbolic");
    } else {
        type = op == WS_UNLINK || op == WS_RMDIR ? "file.delete"
               : op == WS_MKDIR                  ? "file.mkdir"
                                                 : "file.attr";
        bool named = (op == WS_SETXATTR || op == WS_REMOVEXATTR) && second;
        msgpack_pack_map (pk, 3 + named);
        codec_pack_kv_str (pk, "path", path);
        codec_pack_kv_str (pk, "workspace", self->source);
        codec_pack_kv_str (pk, "op", ws_op_name (op));
        if (named)
            codec_pack_kv_str (pk, "name", second);
    }
    s_report (self, type, &data);
    codec_buf_destroy (&data);
}

//  --------------------------------------------------------------------------

guard_t *
guard_new (const lh_connect_t *conn, const lh_connect_t *events_conn,
           const guard_options_t *options, char *err, size_t err_size)
{
    if (!options || !options->source || options->source[0] != '/' || !options->spool_dir ||
        options->timeout_ms <= 0 || options->wait_ms < 0 || (events_conn && !options->agent)) {
        snprintf (err, err_size,
                  "a guard needs an absolute source, a spool, a timeout, and "
                  "the agent's name when events go with another key");
        return NULL;
    }
    if (sodium_init () < 0) {
        snprintf (err, err_size, "libsodium cannot start");
        return NULL;
    }
    guard_t *self = (guard_t *) zmalloc (sizeof (guard_t));
    self->options = *options;
    if (!events_conn)
        self->options.agent = NULL; //  the caller's own events: the broker names it
    snprintf (self->source, sizeof (self->source), "%s", options->source);
    self->options.source = self->source;
    self->conn = *conn;
    pthread_key_create (&self->client_key, s_client_free);
    pthread_mutex_init (&self->lock, NULL);
    pthread_mutex_init (&self->policy_lock, NULL);
    self->cache = zhashx_new ();
    zhashx_set_destructor (self->cache, (zhashx_destructor_fn *) zstr_free);
    char why[512];
    if (options->policy && !(self->policy = policy_load (options->policy, why, sizeof (why)))) {
        snprintf (err, err_size, "policy %s: %s", options->policy, why);
        guard_destroy (&self, 0);
        return NULL;
    }
    self->spool = spool_new (events_conn ? events_conn : &self->conn, options->spool_dir, 100000,
                             (size_t) 1 << 30, true, why, sizeof (why));
    if (!self->spool) {
        snprintf (err, err_size, "spool %s: %s", options->spool_dir, why);
        guard_destroy (&self, 0);
        return NULL;
    }
    self->reporter = zactor_new (s_reporter, self);
    if (!self->reporter) {
        snprintf (err, err_size, "cannot start the reporter");
        guard_destroy (&self, 0);
        return NULL;
    }
    return self;
}

void
guard_destroy (guard_t **self_p, int flush_ms)
{
    if (!self_p || !*self_p)
        return;
    guard_t *self = *self_p;
    pthread_mutex_lock (&self->lock);
    zactor_t *reporter = self->reporter;
    self->reporter = NULL;
    pthread_mutex_unlock (&self->lock);
    if (reporter) {
        zmsg_t *msg = zmsg_new ();
        zmsg_addstr (msg, "FLUSH");
        zmsg_addmem (msg, &flush_ms, sizeof (flush_ms));
        zmsg_send (&msg, reporter);
        zactor_destroy (&reporter);
    }
    //  This thread's client; the file-system threads' ended with them
    lh_client_t *client = (lh_client_t *) pthread_getspecific (self->client_key);
    s_client_free (client);
    pthread_setspecific (self->client_key, NULL);
    pthread_key_delete (self->client_key);
    spool_destroy (&self->spool); //  when the reporter never took it
    policy_destroy (&self->policy);
    pthread_mutex_destroy (&self->policy_lock);
    zhashx_destroy (&self->cache);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

ws_hooks_t
guard_hooks (guard_t *self)
{
    return (ws_hooks_t){s_check, s_changed, self};
}

void
guard_counters (guard_t *self, guard_counters_t *out)
{
    out->checks = atomic_load (&self->checks);
    out->allowed = atomic_load (&self->allowed);
    out->refused = atomic_load (&self->refused);
    out->cache_hits = atomic_load (&self->cache_hits);
    out->errors = atomic_load (&self->errors);
    out->escalations = atomic_load (&self->escalations);
    out->local_reads = atomic_load (&self->local_reads);
    out->events = atomic_load (&self->events);
    out->events_refused = atomic_load (&self->events_refused);
}
