/*  guard -- what a guarded workspace asks and tells: the workspace's hooks
    (workspace.h) answered by the policy through the broker, and every
    change it allowed written to the integrity log.

    check: each operation becomes a `validate` request of its own tool
    (FsRead, FsWrite, ... POLICY.md "Guarded workspaces") with the real
    path under the source directory, the source directory as cwd and
    project, and wait_ms so that an escalation waits for an expert up to
    the bound. allow lets the operation happen; anything else refuses it:
    deny, defer (nobody is there to ask), an escalation nobody answered in
    time, an error, no answer (fail closed). Refusals are EACCES, EPERM for
    chmod, chown and extended attributes (as POSIX has it). Decisions are
    cached per (operation, path, target) for the policy version that made
    them, so a build writing ten thousand files asks once per file. With a
    policy file of its own (the validators' one), reads keep working while
    the broker is away: an open for reading that gets no answer is decided
    here by that policy (secrets stay refused); changes never are.

    changed: a file.write (with the content's size, SHA-256 and, up to a
    bound, the content itself), file.delete, file.rename, file.mkdir,
    file.link or file.attr event, handed to a reporter thread that owns a
    durable spool (lib/spool.h): the event is on disk before the log has
    it, and sent again after a restart until the log acknowledges it.
*/
#ifndef LH_GUARD_H_INCLUDED
#define LH_GUARD_H_INCLUDED

#include "workspace.h"

#include "lh_connect.h"

#include <stdint.h>

typedef struct {
    const char *source;  //  the source directory, absolute and resolved (workspace's)
    const char *home;    //  the agent's home for the policy; NULL: the validator's
    const char *session; //  a session id for the log, or NULL
    const char *agent;   //  whom the events are about, when they go with a node key
    const char *spool_dir;
    const char *policy; //  a policy file for reads while the broker is away, or NULL
    int timeout_ms;     //  no decision within this (escalations: + wait_ms): refused
    int wait_ms;        //  how long an escalation waits for an expert's verdict
    int cache_ms;       //  how long a decision is reused; 0: never
    size_t cache_max;   //  decisions remembered at most
    size_t shadow_max;  //  content bytes carried in a file.write event
} guard_options_t;

typedef struct {
    uint64_t checks, allowed, refused, cache_hits, errors, escalations, local_reads;
    uint64_t events, events_refused;
} guard_counters_t;

typedef struct _guard_t guard_t;

void guard_options_default (guard_options_t *options);

//  A guard asking through the broker conn names as the agent, and reporting
//  through events_conn (a node key: the log view trusts file.* events from
//  nodes only; options->agent then names the agent), or through conn when
//  events_conn is NULL. Both and their certs are borrowed and must outlive
//  the guard. NULL with a message in err.
guard_t *guard_new (const lh_connect_t *conn, const lh_connect_t *events_conn,
                    const guard_options_t *options, char *err, size_t err_size);
//  Flushes the spool (up to flush_ms for the log to acknowledge it), stops
//  the reporter, frees everything; NULLs *self_p.
void guard_destroy (guard_t **self_p, int flush_ms);

//  The workspace hooks answered by this guard
ws_hooks_t guard_hooks (guard_t *self);

void guard_counters (guard_t *self, guard_counters_t *out);

#endif
