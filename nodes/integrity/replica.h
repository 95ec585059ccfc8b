/*  replica -- one lh-integrity replica: a libraft server whose state
    machine is the store, and the ZeroMQ services in front of it.

    Everything runs on one libuv loop: raft_uv's disk and TCP I/O, and the
    broker connections, whose ZMQ_FD descriptors are watched with uv_poll
    and drained until ZMQ_EVENTS shows no POLLIN (the descriptor is
    edge-triggered, so sockets are also drained before every poll).

    Every replica serves "events.read". Only the Raft leader serves
    "events": it gathers the appends that arrive while earlier entries are
    in flight into one entry (group commit), and answers each append when
    that entry is applied, that is once a majority has it on disk. Each
    replica signs the tree head of every entry it applies and publishes the
    signature; peers merge the signatures they can verify into their own
    checkpoint for that size, and raise a divergence alert when a peer
    signed a different root. An integrity monitor re-verifies the store on
    a schedule in a worker thread.
*/
#ifndef LH_REPLICA_H_INCLUDED
#define LH_REPLICA_H_INCLUDED

#include <czmq.h>

typedef struct _replica_t replica_t;

//  Reads "integrity/..." settings from config (see main.c). NULL with err set.
replica_t *replica_new (zconfig_t *config, char *err, size_t err_size);
void replica_destroy (replica_t **self_p);
//  Runs until SIGTERM or SIGINT (SIGHUP is logged and ignored). Returns 0
//  after a clean stop, non-zero when the replica had to stop on an error
//  it cannot recover from (a store it cannot write, a broken Raft log).
int replica_run (replica_t *self);

#endif
