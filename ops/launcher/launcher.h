/*  launcher -- a Lighthouse cluster of real processes on loopback.

    One launcher_t owns a directory (a fresh temp dir, or a given one), the
    CURVE keys and roster in it, an lh-broker, any lh-echo / lh-validator
    workers and lh-integrity replicas, and any other child the caller
    spawns through it. Every process logs to its own file; all of them are
    stopped by launcher_destroy, and at exit. The integration tests
    (tests/integration/harness.c), lh-bench, lh-events-bench and lh-cluster
    (ops/run) all start their clusters here.

    Layout (KEYS and LOGS are DIR unless set):
        DIR/broker.cfg              written by launcher_start_broker
        KEYS/NAME.cert[_secret]     launcher_keygen; KEYS/roster.zpl
        LOGS/broker.log             (broker-N.log for the Nth broker)
        LOGS/echo-I.log, LOGS/validator-I.log   I counts every worker
        DIR/integrity/{keys,replica-N.key,N/}   LOGS/integrity/replica-N.log
*/
#ifndef LH_LAUNCHER_H_INCLUDED
#define LH_LAUNCHER_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct _launcher_t launcher_t;

typedef enum {
    LAUNCHER_BROKER,
    LAUNCHER_ECHO,
    LAUNCHER_VALIDATOR,
    LAUNCHER_INTEGRITY,
    LAUNCHER_OTHER, //  launcher_spawn: anything else
    LAUNCHER_KINDS
} launcher_kind_t;

#define LAUNCHER_MAX_REPLICAS 5
#define LAUNCHER_MAX_BROKERS  3

//  dir: NULL for a fresh /tmp/lh-XXXXXX; a path ending in XXXXXX is made
//  with mkdtemp; both are removed by destroy unless kept. Any other path is
//  created if missing and never removed. NULL (with a message) on failure.
launcher_t *launcher_new (const char *dir);
//  Stops every process (workers, replicas, broker, others: SIGCONT +
//  SIGTERM, SIGKILL after 5 s), frees the certificates, removes a
//  temporary directory unless kept (or LH_KEEP_TMP is set).
void launcher_destroy (launcher_t **self_p);

const char *launcher_dir (launcher_t *self);
//  Keep the directory on destroy (the logs of a failed run).
void launcher_set_keep (launcher_t *self, bool keep);
//  Where keys (and the roster) and logs go, under DIR; before keygen/start.
void launcher_set_keys_dir (launcher_t *self, const char *subdir);
void launcher_set_logs_dir (launcher_t *self, const char *subdir);
//  The binary of a kind (default: the build tree's).
void launcher_set_bin (launcher_t *self, launcher_kind_t kind, const char *path);
const char *launcher_bin (launcher_t *self, launcher_kind_t kind);
//  Options for every process of a kind started from now on: set replaces
//  them (split on spaces), add appends one argument as is.
void launcher_set_args (launcher_t *self, launcher_kind_t kind, const char *args);
void launcher_add_arg (launcher_t *self, launcher_kind_t kind, const char *arg);
//  The certificate (a keygen name) that workers and replicas of kind
//  present; made with role node when missing. Default "node".
void launcher_set_cert (launcher_t *self, launcher_kind_t kind, const char *name);
//  Broker ports: P (frontend), P+1 (backend), P+2 (pub), Raft P+10..;
//  0 (default): ephemeral, read back from the broker's log.
void launcher_set_port_base (launcher_t *self, int port_base);
//  No CURVE: the broker runs --plaintext and gives every peer role.
void launcher_set_plaintext (launcher_t *self, const char *role);
//  Startup waits (workers, broker, replicas each), ms; default 10000.
void launcher_set_timeout (launcher_t *self, int timeout_ms);

//  Keys. A CURVE certificate saved as KEYS/name.cert(_secret), on the
//  roster with role unless role is NULL; owned by the launcher (the same
//  one when name exists). "broker" and "admin" (role admin, the probe of
//  every readiness wait) are made by launcher_new.
zcert_t *launcher_keygen (launcher_t *self, const char *name, const char *role);
zcert_t *launcher_cert (launcher_t *self, const char *name);
//  Path of KEYS/name.cert_secret
void launcher_cert_path (launcher_t *self, const char *name, char *out, size_t size);
//  A roster entry for a key made elsewhere (bulk keys).
int launcher_add_principal (launcher_t *self, const char *name, const char *public_key,
                            const char *role);
const char *launcher_roster_path (launcher_t *self);

//  Writes DIR/broker.cfg (endpoints, cert, roster, then config, which
//  continues the broker section: more keys, or new sections) and starts
//  lh-broker -c it with the kind's args. Returns once its endpoints are
//  known and (fixed ports) it answers. 0, or -1 with a message and its log.
int launcher_start_broker (launcher_t *self, const char *config);
pid_t launcher_broker_pid (launcher_t *self);
const char *launcher_frontend (launcher_t *self);
const char *launcher_backend (launcher_t *self);
const char *launcher_pub (launcher_t *self);
const char *launcher_broker_key (launcher_t *self);
//  SIGKILLs the broker and starts it again on the same endpoints; no wait.
pid_t launcher_restart_broker (launcher_t *self);

//  Several brokers: after launcher_start_broker, each call starts one more
//  (same key, roster and config; name broker-K, its own ports) and returns
//  its index K (1..LAUNCHER_MAX_BROKERS-1) or -1. Workers and replicas
//  started afterwards serve through every broker; launcher_frontends ...
//  are the comma-separated lists clients take. The _at forms name broker K
//  (0 is the first).
int launcher_add_broker (launcher_t *self);
int launcher_broker_count (launcher_t *self);
pid_t launcher_broker_pid_at (launcher_t *self, int k);
const char *launcher_frontend_at (launcher_t *self, int k);
const char *launcher_frontends (launcher_t *self);
const char *launcher_backends (launcher_t *self);
const char *launcher_pubs (launcher_t *self);
pid_t launcher_restart_broker_at (launcher_t *self, int k);
int launcher_workers_at (launcher_t *self, int k, const char *service);
bool launcher_wait_workers_at (launcher_t *self, int k, const char *service, int count,
                               int timeout_ms);

//  Workers with the kind's certificate and args, then extra_args (NULL or
//  options separated by spaces). When wait, returns once the broker lists
//  one more worker of the service. The pid, or -1.
pid_t launcher_start_echo (launcher_t *self, const char *service, const char *extra_args,
                           bool wait);
//  lh-validator --policy policy --pub ...; --run-dir DIR unless extra_args
//  names one.
pid_t launcher_start_validator (launcher_t *self, const char *policy, const char *extra_args,
                                bool wait);
//  Workers started so far (echo and validator; the I of their logs).
int launcher_worker_count (launcher_t *self);

//  count (1..5) lh-integrity replicas: signer keys made by lh-integrity
//  --keygen where missing (DIR/integrity/replica-N.key, verifier keys
//  appended to DIR/integrity/keys), data in DIR/integrity/N, Raft on
//  P+10.. or free ports, extra_args for each. Waits until every replica
//  serves events.read and one reports a leader. 0 or -1.
int launcher_start_integrity (launcher_t *self, int count, const char *extra_args);
//  (Re)starts replica id with its keys, data and port; no wait.
pid_t launcher_start_replica (launcher_t *self, int id);
pid_t launcher_replica_pid (launcher_t *self, int id);
int launcher_replica_count (launcher_t *self);
//  The id of the leader as a replica reports it; 0 if none within timeout_ms.
int launcher_leader (launcher_t *self, int timeout_ms);
//  Path under DIR/integrity.
void launcher_integrity_path (launcher_t *self, const char *name, char *out, size_t size);

//  Any other child, registered like the cluster's: argv[0] is the binary;
//  output to log_path (NULL: /dev/null) unless stdout_fd >= 0; stdin from
//  stdin_fd when >= 0, else /dev/null. The child dies with us
//  (PR_SET_PDEATHSIG). The pid or -1.
pid_t launcher_spawn (launcher_t *self, const char *name, char *const argv[], const char *log_path,
                      int stdin_fd, int stdout_fd);

//  Workers the broker has for service (mmi.service), -1 when it does not answer.
int launcher_workers (launcher_t *self, const char *service);
//  Waits until the broker reports exactly count workers of service.
bool launcher_wait_workers (launcher_t *self, const char *service, int count, int timeout_ms);

//  Sends signum to one of our processes. For SIGTERM and SIGKILL also
//  SIGCONT, then waits (SIGKILL after 15 s for SIGTERM), returns the wait status and
//  forgets it; -1 otherwise or when pid is not ours.
int launcher_signal (launcher_t *self, pid_t pid, int signum);
//  SIGTERM, grace_ms, SIGKILL; the wait status (-1: not ours or gone).
int launcher_stop (launcher_t *self, pid_t pid, int grace_ms);
//  SIGKILL and start again with the same arguments and log; the new pid.
pid_t launcher_restart (launcher_t *self, pid_t pid);
//  True while pid (ours) runs; reaps it when it has exited.
bool launcher_alive (launcher_t *self, pid_t pid);
//  Stops every process (as destroy does), keeping keys and directory.
void launcher_stop_all (launcher_t *self, int grace_ms);
//  Stops every process of one kind: SIGTERM to all, then the waits.
void launcher_stop_kind (launcher_t *self, launcher_kind_t kind, int grace_ms);
//  The log of one of our processes, or NULL.
const char *launcher_log_path (launcher_t *self, pid_t pid);
//  The last lines of a log on stderr.
void launcher_log_tail (const char *path, int lines);

//  SIGKILLs every child of every launcher; async-signal-safe (for a
//  second Ctrl-C).
void launcher_kill_all (void);

#endif
