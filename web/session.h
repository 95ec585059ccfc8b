/*  session -- who is logged in to the console, and with which key.

    Reviewers log in with a token that `lh review token` issued. The tokens
    file (ZPL) holds, per reviewer, only the SHA-256 of the token and the
    path of the reviewer's expert key (absent: a view-only login):

        reviewer
            alice
                token_sha256 = "<64 hex>"
                cert = "/path/alice.cert_secret"

    A login makes a session: a random id (the cookie), a random CSRF token
    that every state-changing request must echo, and the reviewer's key,
    with which lh-web calls `expert` decide so that the broker names the
    reviewer, never lh-web. Sessions end on logout, after idle_ms without a
    request, after max_age_ms, and when the reviewer's entry leaves or
    changes in the tokens file (read again when it changes).
*/
#ifndef LH_WEB_SESSION_H_INCLUDED
#define LH_WEB_SESSION_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#define SESSION_ID_SIZE  64 //  hex of 32 random bytes
#define SESSION_NAME_MAX 64

typedef struct _sessions_t sessions_t;

typedef struct {
    char id[SESSION_ID_SIZE + 1];
    char csrf[SESSION_ID_SIZE + 1];
    char name[SESSION_NAME_MAX + 1];
    char token_sha256[SESSION_ID_SIZE + 1]; //  the entry it logged in with
    zcert_t *cert;                          //  the reviewer's expert key; NULL: view only
    void *client;                           //  the web module's, made on first decide
    int64_t created;                        //  zclock_mono
    int64_t seen;
} session_t;

//  Called before a session is freed (the web module closes its client).
typedef void (session_close_fn) (void *arg, session_t *session);

sessions_t *sessions_new (const char *tokens_path, int idle_ms, int max_age_ms, size_t max);
void sessions_destroy (sessions_t **self_p);
void sessions_set_on_close (sessions_t *self, session_close_fn *fn, void *arg);

//  Outcome of a login attempt, as an HTTP status: 200 (session made), 400
//  (no token), 401 (unknown token), 429 (too many attempts), 503 (session
//  table full, or the reviewer's key cannot be read).
int sessions_login (sessions_t *self, const char *token, session_t **session_p, char *err,
                    size_t err_size);
//  The live session with this id (refreshing its idle time), else NULL.
session_t *sessions_find (sessions_t *self, const char *id);
//  True when header is this session's CSRF token (compared in constant time).
bool session_csrf_ok (const session_t *session, const char *header);
void sessions_logout (sessions_t *self, session_t *session);
//  Ends idle and old sessions, and those the tokens file no longer backs.
void sessions_tick (sessions_t *self);
size_t sessions_size (sessions_t *self);

typedef struct {
    uint64_t logins, login_failures, login_limited, logouts, expired;
} sessions_counters_t;
sessions_counters_t sessions_counters (sessions_t *self);

#endif
