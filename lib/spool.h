/*  spool -- a node's events on their way to the integrity log.

    Every event (lh-validator: a "validation.decision" per answer, a
    "policy.loaded" per policy load; lh-expert: each step of an escalation)
    is first written to an LMDB environment in the spool
    directory and made durable, and only then answered: spool_add stages
    events in one write transaction and spool_commit commits the whole
    group with one fdatasync (MDB_NOSYNC + mdb_env_sync; or no sync at all
    with sync off, which survives the process being killed but not the
    machine losing power). An event leaves the directory only when the log
    has acknowledged it. On start every event still there is sent again,
    bytes and client ids unchanged, so the log (exactly-once per client id)
    appends each once however often it was sent.

    Events go in batches (EVENT_MAX_BATCH events, or SPOOL_DELAY_MS after
    the first one), several requests in flight. A request that fails is sent
    again, same events and client ids, after a backoff (100 ms doubling to
    5 s; while backing off one request probes the log at a time). Nothing
    here blocks but spool_commit's sync: the node's loop calls
    spool_poll between requests.

    The spool holds at most max_events and map_bytes: beyond either,
    spool_add refuses (the validator then answers an error instead of a
    decision it could not make durable) and counts the refusal. The log
    refusing a batch as malformed (bad_request, too_large, unsupported) is
    an error logged with the count, and the batch is given up.
*/
#ifndef LH_SPOOL_H_INCLUDED
#define LH_SPOOL_H_INCLUDED

#include "lh_connect.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPOOL_DELAY_MS    20 //  the longest an event waits for companions
#define SPOOL_INFLIGHT    4  //  append requests in flight while the log answers
#define SPOOL_TIMEOUT_MS  6000
#define SPOOL_BACKOFF_MS  100
#define SPOOL_BACKOFF_MAX 5000

typedef struct _spool_t spool_t;

//  Events, except queued and bytes (levels, not totals)
typedef struct {
    uint64_t queued;     //  in the spool now: not yet acknowledged by the log
    uint64_t bytes;      //  bytes of the spool's LMDB file
    uint64_t stored;     //  made durable (spool_commit succeeded)
    uint64_t replayed;   //  found in the directory at start and sent again
    uint64_t commits;    //  group commits (one sync each)
    uint64_t refused;    //  not stored (spool full, map full, disk error): not answered
    uint64_t sent;       //  sent in append requests, resends included
    uint64_t acked;      //  acknowledged (appended, or already there)
    uint64_t duplicates; //  acknowledged as already appended (a resend that had landed)
    uint64_t retries;    //  resent after a failed or unanswered request
    uint64_t rejected;   //  refused by the log as malformed, given up
} spool_counters_t;

//  A client of the broker's frontend (conn is copied; conn->cert is
//  borrowed and must outlive the spool), with its events in dir (created
//  0700 if missing, locked against a second process). Events found there
//  are queued to be sent again. NULL with a message in err.
spool_t *spool_new (const lh_connect_t *conn, const char *dir, size_t max_events, size_t map_bytes,
                    bool sync, char *err, size_t err_size);
void spool_destroy (spool_t **self_p);

//  Stages an event {type, agent?, causation?, client_id, data} (data: a
//  packed msgpack map; causation NULL for none) in the open group. False
//  when it cannot be stored (spool or disk full): the event is not staged
//  and counted as refused.
bool spool_add (spool_t *self, const char *type, const char *agent, const char *causation,
                const void *data, size_t size);

//  Commits the staged group with one sync; its events are then durable and
//  queued for the log. False when the commit failed: the whole group is
//  forgotten and counted as refused. True when nothing was staged.
bool spool_commit (spool_t *self);
//  Events staged and not yet committed.
size_t spool_staged (spool_t *self);

//  Sends what is due and takes the replies that arrived; never blocks.
void spool_poll (spool_t *self);

//  Ms until spool_poll has work (0: now), or -1 when only a new decision
//  can give it some.
int spool_next_ms (spool_t *self);

//  Sends everything at once and waits up to timeout_ms for the log to
//  acknowledge it (cut short by an interrupt). Returns the events left.
size_t spool_flush (spool_t *self, int timeout_ms);

const spool_counters_t *spool_counters (spool_t *self);

#endif
