/*  session -- who is logged in to the console, and with which key. */
#include "session.h"

#include "lh_bucket.h"
#include "lh_log.h"

#include <sodium.h>
#include <sys/stat.h>

//  Guessing a 256-bit token is hopeless, but a flood of logins is not free
#define LOGIN_RATE  5 //  attempts per second, all clients together
#define LOGIN_BURST 20

struct _sessions_t {
    char *tokens_path;
    zconfig_t *tokens;
    struct timespec tokens_mtime;
    off_t tokens_size;
    zhashx_t *by_id; //  id -> session_t
    int idle_ms, max_age_ms;
    size_t max;
    lh_bucket_t logins;
    session_close_fn *on_close;
    void *on_close_arg;
    sessions_counters_t n;
};

static void
s_hex (const uint8_t *bytes, size_t size, char *out)
{
    sodium_bin2hex (out, size * 2 + 1, bytes, size);
}

static void
s_random_hex (char out[SESSION_ID_SIZE + 1])
{
    uint8_t bytes[SESSION_ID_SIZE / 2];
    randombytes_buf (bytes, sizeof (bytes));
    s_hex (bytes, sizeof (bytes), out);
}

//  Reads the tokens file again when it changed; false when it cannot be read
static bool
s_tokens_load (sessions_t *self)
{
    struct stat st;
    if (stat (self->tokens_path, &st) != 0) {
        zconfig_destroy (&self->tokens);
        return false;
    }
    if (self->tokens && st.st_mtim.tv_sec == self->tokens_mtime.tv_sec &&
        st.st_mtim.tv_nsec == self->tokens_mtime.tv_nsec && st.st_size == self->tokens_size)
        return true;
    zconfig_t *tokens = zconfig_load (self->tokens_path);
    if (!tokens) {
        lh_warn ("tokens file unreadable", "path=%s", self->tokens_path);
        return false;
    }
    zconfig_destroy (&self->tokens);
    self->tokens = tokens;
    self->tokens_mtime = st.st_mtim;
    self->tokens_size = st.st_size;
    return true;
}

static void
s_session_free (sessions_t *self, session_t *session)
{
    if (self->on_close)
        self->on_close (self->on_close_arg, session);
    zcert_destroy (&session->cert);
    sodium_memzero (session->csrf, sizeof (session->csrf));
    free (session);
}

sessions_t *
sessions_new (const char *tokens_path, int idle_ms, int max_age_ms, size_t max)
{
    assert (tokens_path);
    sessions_t *self = (sessions_t *) zmalloc (sizeof (sessions_t));
    self->tokens_path = strdup (tokens_path);
    self->by_id = zhashx_new ();
    self->idle_ms = idle_ms;
    self->max_age_ms = max_age_ms;
    self->max = max;
    lh_bucket_init (&self->logins, LOGIN_BURST, zclock_usecs ());
    s_tokens_load (self);
    return self;
}

void
sessions_destroy (sessions_t **self_p)
{
    sessions_t *self = *self_p;
    if (!self)
        return;
    for (session_t *s = (session_t *) zhashx_first (self->by_id); s;
         s = (session_t *) zhashx_next (self->by_id))
        s_session_free (self, s);
    zhashx_destroy (&self->by_id);
    zconfig_destroy (&self->tokens);
    free (self->tokens_path);
    free (self);
    *self_p = NULL;
}

void
sessions_set_on_close (sessions_t *self, session_close_fn *fn, void *arg)
{
    self->on_close = fn;
    self->on_close_arg = arg;
}

//  The reviewer entry whose token hash is digest (every entry compared, in
//  constant time each), else NULL
static zconfig_t *
s_entry_for (sessions_t *self, const char *digest)
{
    zconfig_t *found = NULL;
    zconfig_t *reviewers = self->tokens ? zconfig_locate (self->tokens, "reviewer") : NULL;
    for (zconfig_t *r = reviewers ? zconfig_child (reviewers) : NULL; r; r = zconfig_next (r)) {
        const char *hash = zconfig_get (r, "token_sha256", "");
        if (strlen (hash) == SESSION_ID_SIZE &&
            sodium_memcmp (hash, digest, SESSION_ID_SIZE) == 0 && !found)
            found = r;
    }
    return found;
}

int
sessions_login (sessions_t *self, const char *token, session_t **session_p, char *err,
                size_t err_size)
{
    *session_p = NULL;
    if (!lh_bucket_take (&self->logins, LOGIN_RATE, LOGIN_BURST, zclock_usecs ())) {
        self->n.login_limited++;
        snprintf (err, err_size, "too many login attempts: wait a second");
        return 429;
    }
    if (!token || !*token || strlen (token) > 256) {
        self->n.login_failures++;
        snprintf (err, err_size, "a token is required");
        return 400;
    }
    s_tokens_load (self);
    uint8_t hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (hash, (const uint8_t *) token, strlen (token));
    char digest[SESSION_ID_SIZE + 1];
    s_hex (hash, sizeof (hash), digest);
    zconfig_t *entry = s_entry_for (self, digest);
    const char *name = entry ? zconfig_name (entry) : NULL;
    if (!entry || !name || strlen (name) > SESSION_NAME_MAX) {
        self->n.login_failures++;
        lh_warn ("login refused", "reason=%s", "unknown token");
        snprintf (err, err_size, "unknown token");
        return 401;
    }
    if (zhashx_size (self->by_id) >= self->max) {
        snprintf (err, err_size, "too many sessions: log out elsewhere or wait");
        return 503;
    }
    zcert_t *cert = NULL;
    const char *cert_path = zconfig_get (entry, "cert", "");
    if (*cert_path) {
        cert = zcert_load (cert_path);
        if (!cert || strlen (zcert_secret_txt (cert)) != 40) {
            zcert_destroy (&cert);
            lh_error ("reviewer key unreadable", "reviewer=%s cert=%s", name, cert_path);
            snprintf (err, err_size, "your key cannot be read on the server");
            return 503;
        }
    }
    session_t *session = (session_t *) zmalloc (sizeof (session_t));
    s_random_hex (session->id);
    s_random_hex (session->csrf);
    snprintf (session->name, sizeof (session->name), "%s", name);
    memcpy (session->token_sha256, digest, sizeof (digest));
    session->cert = cert;
    session->created = session->seen = zclock_mono ();
    zhashx_insert (self->by_id, session->id, session);
    self->n.logins++;
    lh_info ("login", "reviewer=%s expert=%d", name, cert != NULL);
    *session_p = session;
    return 200;
}

session_t *
sessions_find (sessions_t *self, const char *id)
{
    if (!id || strlen (id) != SESSION_ID_SIZE)
        return NULL;
    session_t *session = (session_t *) zhashx_lookup (self->by_id, id);
    if (!session)
        return NULL;
    int64_t now = zclock_mono ();
    if (now - session->seen > self->idle_ms || now - session->created > self->max_age_ms)
        return NULL; //  sessions_tick frees it
    session->seen = now;
    return session;
}

bool
session_csrf_ok (const session_t *session, const char *header)
{
    return session && header && strlen (header) == SESSION_ID_SIZE &&
           sodium_memcmp (session->csrf, header, SESSION_ID_SIZE) == 0;
}

static void
s_remove (sessions_t *self, session_t *session)
{
    zhashx_delete (self->by_id, session->id);
    s_session_free (self, session);
}

void
sessions_logout (sessions_t *self, session_t *session)
{
    lh_info ("logout", "reviewer=%s", session->name);
    self->n.logouts++;
    s_remove (self, session);
}

void
sessions_tick (sessions_t *self)
{
    bool readable = s_tokens_load (self);
    int64_t now = zclock_mono ();
    zlistx_t *ended = zlistx_new ();
    for (session_t *s = (session_t *) zhashx_first (self->by_id); s;
         s = (session_t *) zhashx_next (self->by_id)) {
        const char *why = NULL;
        if (now - s->seen > self->idle_ms)
            why = "idle";
        else if (now - s->created > self->max_age_ms)
            why = "too old";
        else if (!readable || s_entry_for (self, s->token_sha256) == NULL)
            why = "token withdrawn";
        if (why) {
            lh_info ("session ended", "reviewer=%s reason=%s", s->name, why);
            zlistx_add_end (ended, s);
        }
    }
    for (session_t *s = (session_t *) zlistx_first (ended); s;
         s = (session_t *) zlistx_next (ended)) {
        self->n.expired++;
        s_remove (self, s);
    }
    zlistx_destroy (&ended);
}

size_t
sessions_size (sessions_t *self)
{
    return zhashx_size (self->by_id);
}

sessions_counters_t
sessions_counters (sessions_t *self)
{
    return self->n;
}
