/*  harness -- real Lighthouse processes for integration tests.

    A cluster_t is a launcher (ops/launcher: temp dir, fresh CURVE keys,
    roster, broker config, processes) with a running lh-broker bound to
    ephemeral loopback ports, and any workers and replicas the test starts;
    this layer adds the test's principals and turns launcher failures into
    cmocka failures. Everything is killed and removed by cluster_destroy.
*/
#ifndef LH_HARNESS_H_INCLUDED
#define LH_HARNESS_H_INCLUDED

#include "launcher.h"
#include "lh_client.h"
#include "lh_worker.h"

#include <czmq.h>
#include <sys/types.h>

typedef struct {
    launcher_t *launcher;
    char dir[256];
    char frontend[128];
    char backend[128];
    char pub[128];
    char broker_key[41];
    //  The launcher's certificates (borrowed)
    zcert_t *broker_cert;
    zcert_t *admin;    //  role admin
    zcert_t *agent;    //  role agent, agent id "agent-1"
    zcert_t *agent2;   //  role agent, agent id "agent-2"
    zcert_t *node;     //  role node
    zcert_t *stranger; //  not on the roster
    pid_t broker;
    pid_t brokers[LAUNCHER_MAX_BROKERS]; //  cluster_add_broker's, [1..]; [0] unused
    int worker_count;                    //  echo and validator workers started (their log names)
    //  lh-integrity replicas (cluster_start_integrity), ids 1..replica_count
    int replica_count;
    pid_t replicas[6];
} cluster_t;

//  cluster_destroy stops the workers and then the broker with SIGTERM and
//  fails the test unless the broker exits 0, so a sanitizer report from
//  the broker (leak, UB) fails the test that caused it.

//  Starts a broker; extra_config is appended to the generated ZPL config
//  after its "service" section (e.g. "    later\n" or a "role" section);
//  set, if not NULL, is one --set PATH=VALUE override. Fails the test when
//  the broker does not come up.
cluster_t *cluster_new (const char *extra_config, const char *set);
void cluster_destroy (cluster_t **self_p);
//  cmocka teardown: kills what a failed test left running (a failing
//  assertion jumps past the test's own cluster_destroy).
int cluster_teardown (void **state);

//  Kills the broker with SIGKILL and starts it again on the same endpoints.
void cluster_restart_broker (cluster_t *self);

//  Several brokers: starts one more (same key, roster and config) and
//  returns its index K >= 1; workers started afterwards serve through every
//  broker. cluster_destroy stops each cleanly, as the first. Broker 0 is
//  the first (self->broker).
int cluster_add_broker (cluster_t *self);
pid_t cluster_broker_pid (cluster_t *self, int k);
//  SIGKILLs broker k and starts it again on its endpoints; no wait.
pid_t cluster_restart_broker_at (cluster_t *self, int k);
//  Connection parameters naming every broker (comma-separated list).
lh_connect_t cluster_connect_all (cluster_t *self, zcert_t *cert, bool backend);

//  Starts an lh-echo worker with the node key; returns its pid. Waits until
//  the broker lists it (mmi.service) unless wait is false.
pid_t cluster_start_echo (cluster_t *self, const char *service, bool wait);
//  Starts an lh-validator with the node key, the given policy file and
//  home /home/dev; waits until the broker lists it.
pid_t cluster_start_validator (cluster_t *self, const char *policy);
//  The same with --frontend, so that it appends its decisions to the
//  integrity log; extra_args (NULL or options separated by spaces) follow.
pid_t cluster_start_validator_logging (cluster_t *self, const char *policy, const char *extra_args);
//  Starts lh-expert (data in DIR/expert) or lh-cache (DIR/cache) with the
//  node key; extra_args (NULL or options separated by spaces) follow. Waits
//  until the broker lists it.
pid_t cluster_start_expert (cluster_t *self, const char *extra_args);
pid_t cluster_start_cache (cluster_t *self, const char *extra_args);
//  A new key on the roster with role (borrowed; the launcher keeps it),
//  the broker told to read the roster again; returns once the key is served.
zcert_t *cluster_keygen (cluster_t *self, const char *name, const char *role);
//  Fails the test unless reply is ok / an error with code (then destroys it).
void cluster_expect_ok (const lh_reply_t *reply);
void cluster_expect_error (lh_reply_t **reply_p, lh_err_t code);
//  Waits until the broker reports `count` workers for service; false on timeout.
bool cluster_wait_workers (cluster_t *self, const char *service, uint64_t count, int timeout_ms);

//  Starts count (1..5) lh-integrity replicas with the node key: signer keys
//  and the shared keys file under DIR/integrity, data in DIR/integrity/N,
//  Raft on free loopback ports; extra_args (NULL or options separated by
//  spaces, e.g. "--monitor-ms 500") go to every replica. Waits until a
//  leader serves "events" and every replica serves "events.read".
void cluster_start_integrity (cluster_t *self, int count, const char *extra_args);
//  (Re)starts replica id with the same keys, data directory and port.
pid_t cluster_start_replica (cluster_t *self, int id);
//  Signals replica id (as cluster_signal) and returns its wait status.
int cluster_stop_replica (cluster_t *self, int id, int signum);
//  The id of the current Raft leader, as a replica reports it; 0 if none
//  within timeout_ms.
int cluster_leader (cluster_t *self, int timeout_ms);
//  Path of a file under the cluster's integrity directory.
void cluster_integrity_path (cluster_t *self, const char *name, char *out, size_t size);

//  A client with the given certificate (one of the cluster's).
lh_client_t *cluster_client (cluster_t *self, zcert_t *cert);
//  Connection parameters for the frontend or backend with a certificate.
lh_connect_t cluster_connect (cluster_t *self, zcert_t *cert, bool backend);

//  Calls service with a JSON body using cert; the caller destroys the reply.
lh_reply_t *cluster_call (cluster_t *self, zcert_t *cert, const char *service, const char *json);
//  Reads one broker counter via broker.stats (admin).
uint64_t cluster_counter (cluster_t *self, const char *name);

//  Sends a signal to one of the cluster's processes; for SIGKILL and
//  SIGTERM waits for it (SIGKILL after 5 s) and returns its wait status,
//  forgetting the pid. Returns -1 otherwise.
int cluster_signal (cluster_t *self, pid_t pid, int signum);

#endif
