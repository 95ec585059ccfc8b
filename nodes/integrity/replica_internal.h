/*  replica_internal -- what the replica's source files share.

    replica.c sets a replica up and runs its loop; replica_fsm.c is the
    Raft state machine, replica_append.c the leader's "events" service
    (group commit), replica_read.c the "events.read" service,
    replica_sign.c the checkpoint signatures replicas exchange, and
    replica_monitor.c the integrity monitor and its alerts. All of them
    work on the one replica_t below, on the loop's thread (but for the
    monitor pass and the periodic sync, which run in libuv's workers).
    Nothing outside the replica includes this file: replica.h is its API.
*/
#ifndef LH_REPLICA_INTERNAL_H_INCLUDED
#define LH_REPLICA_INTERNAL_H_INCLUDED

#include "replica.h"

#include "codec.h"
#include "lh_client.h"
#include "lh_connect.h"
#include "lh_metrics.h"
#include "lh_worker.h"
#include "merkle.h"
#include "note.h"
#include "store.h"
#include "transport.h"
#include "uvzmq.h"
#include "verify.h"

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#define MAX_PEERS         9
#define COSIG_PENDING_MAX 4096  //  peer signatures for sizes not applied yet
#define ENTRY_MAX_EVENTS  16384 //  events in one Raft entry, whatever --entry-events says
#define REPORTED_MAX      64    //  alerts remembered, so that each is raised once

//  An append request waiting for its entry: events [first, first + count)
typedef struct {
    lh_request_t *request;
    size_t first, count;
} member_t;

//  One Raft entry in flight
typedef struct {
    struct raft_apply req;
    struct _replica_t *self;
    uint64_t generation; //  of the events worker the members came through
    member_t *members;
    size_t nmembers;
} proposal_t;

//  What applying one entry produced, read by the leader's apply callback
typedef struct {
    size_t count;
    uint64_t *seqs;
    bool *dups;
    uint64_t size;
    merkle_hash_t root;
    char *note;
} result_t;

typedef struct {
    uint64_t size;
    char *note;
    char peer[NOTE_MAX_NAME + 1];
} cosig_t;

typedef struct {
    verify_kind_t kind; //  VERIFY_OK: an empty slot
    uint64_t seq;
    char peer[NOTE_MAX_NAME + 1];
} reported_t;

struct _replica_t {
    zconfig_t *config;
    unsigned id;
    char name[NOTE_MAX_NAME + 1];
    char origin[256];
    char dir[2048];
    uv_loop_t loop;
    bool loop_ready; //  uv_loop_init succeeded: uv_loop_close is due
    transport_t transport;
    struct raft_io io;
    struct raft_fsm fsm;
    struct raft raft;
    struct raft_configuration peers;
    bool raft_started;
    store_t *store;
    note_key_t *signer;
    note_key_t *keys[MAX_PEERS]; //  every replica's verifier key, ours included
    size_t nkeys;
    zcert_t *cert;
    lh_connect_t backend, frontend;
    int capacity;
    //  Services
    lh_worker_t *reader;                  //  events.read
    lh_worker_t *writer;                  //  events, while leader
    uint64_t generation;                  //  bumped every time writer is replaced
    uvzmq_t *reader_watch, *writer_watch; //  while the loop runs
    lh_client_t *alerts;                  //  appends integrity.alert events through the broker
    lh_metrics_t *metrics;                //  --metrics, or NULL
    zsock_t *sub;                         //  peers' checkpoint signatures, from the broker's PUB
    //  Group commit
    codec_buf_t pending; //  entry bodies as msgpack bin, back to back
    size_t pending_events;
    member_t *members;
    size_t nmembers, members_alloc;
    uint64_t counter; //  proposals made in this term
    uint64_t counter_term;
    int inflight, max_inflight;
    size_t max_entry_events;
    result_t *last_result;
    //  Peer signatures not yet matched with our own checkpoint
    cosig_t cosigs[COSIG_PENDING_MAX];
    size_t ncosigs;
    //  Timers and signals
    uv_timer_t tick, sync, monitor;
    uv_check_t propose;
    uv_signal_t sigterm, sigint, sighup;
    uv_work_t monitor_work;
    bool monitor_busy;
    verify_result_t monitor_pass; //  written by the pass in its worker thread
    int64_t monitor_pass_ms;
    int64_t monitor_ms;   //  how long the last full pass took
    int64_t monitor_next; //  no pass before this (monotonic ms)
    uv_work_t sync_work;
    bool sync_busy;
    verify_result_t monitor_result;
    reported_t reported[REPORTED_MAX]; //  alerts already raised
    size_t reported_next;
    int exit_code;
    bool stopping;
    bool failed; //  the store could not apply an entry: stop, replay on restart
    int last_state;
    char *own_note; //  our signature on the latest tree head, published again now and then
    uint64_t own_size;
    unsigned ticks;
    //  Counters (events.read op "status", lh status)
    struct {
        uint64_t appends, appended, duplicates, rejected, entries, applied, apply_errors;
        uint64_t reads, cosigs_sent, cosigs_merged, cosigs_bad, alerts, monitor_runs, clock_clamped;
        uint64_t leader_changes, not_leader;
    } stats;
};

//  replica_fsm.c: fills self->fsm for raft_init
void replica_init_fsm (replica_t *self);
void replica_free_result (result_t **result_p);

//  replica_append.c (leader)
void replica_handle_append (replica_t *self, lh_request_t *request);
//  Sends what has gathered since the last proposal as one entry.
void replica_propose (replica_t *self);
//  Refuses what has not been proposed yet (leadership is gone).
void replica_drop_pending (replica_t *self, const char *why);

//  replica_read.c
void replica_handle_read (replica_t *self, lh_request_t *request);
const char *replica_describe_state (int raft_state);

//  replica_sign.c
void replica_publish_signature (replica_t *self, uint64_t size, const char *note);
//  Publishes the status map (events.read op status) on "events.read.status".
void replica_publish_status (replica_t *self);
//  Renders the status and counters for Prometheus (--metrics), each second
void replica_publish_metrics (replica_t *self);
//  Takes in the peers' signatures waiting on self->sub and merges those
//  for sizes applied here.
void replica_receive_signatures (replica_t *self);

//  replica_monitor.c
//  peer: the peer a signature came from, or NULL.
void replica_raise_alert (replica_t *self, verify_kind_t kind, uint64_t seq, const char *peer,
                          const char *detail);
//  The monitor timer's callback: starts a pass when one is due.
void replica_check_store (uv_timer_t *timer);

#endif
