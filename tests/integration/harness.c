/*  harness -- real Lighthouse processes for integration tests: the cmocka
    face of the launcher (ops/launcher). See harness.h. */
#include "harness.h"

#include "codec.h"
#include "jsonpack.h"

#include <signal.h>
#include <stdarg.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sys/wait.h>

//  The cluster of the running test, for cluster_teardown
static cluster_t *s_current;

cluster_t *
cluster_new (const char *extra_config, const char *set)
{
    cluster_t *self = (cluster_t *) zmalloc (sizeof (cluster_t));
    self->launcher = launcher_new ("/tmp/lh-it-XXXXXX");
    assert_non_null (self->launcher);
    launcher_t *launcher = self->launcher;
    snprintf (self->dir, sizeof (self->dir), "%s", launcher_dir (launcher));
    self->broker_cert = launcher_cert (launcher, "broker");
    self->admin = launcher_cert (launcher, "admin");
    self->agent = launcher_keygen (launcher, "agent-1", "agent");
    self->agent2 = launcher_keygen (launcher, "agent-2", "agent");
    self->node = launcher_keygen (launcher, "node-1", "node");
    self->stranger = launcher_keygen (launcher, "stranger", NULL);
    snprintf (self->broker_key, sizeof (self->broker_key), "%s", launcher_broker_key (launcher));
    //  Every node presents node-1's key; heartbeats fast enough for the tests
    launcher_set_cert (launcher, LAUNCHER_ECHO, "node-1");
    launcher_set_cert (launcher, LAUNCHER_VALIDATOR, "node-1");
    launcher_set_cert (launcher, LAUNCHER_INTEGRITY, "node-1");
    launcher_set_args (launcher, LAUNCHER_ECHO, "--heartbeat 200");
    launcher_set_args (launcher, LAUNCHER_VALIDATOR, "--heartbeat 200");
    if (set) {
        launcher_add_arg (launcher, LAUNCHER_BROKER, "--set");
        launcher_add_arg (launcher, LAUNCHER_BROKER, set);
    }
    char config[4096];
    snprintf (config, sizeof (config),
              "    heartbeat = 200\n"
              "    liveness = 3\n"
              "    request_timeout = 3000\n"
              "service\n"
              "    echo\n"
              "%s",
              extra_config ? extra_config : "");
    if (launcher_start_broker (launcher, config) != 0)
        fail_msg ("broker did not start; see %s/broker.log", self->dir);
    self->broker = launcher_broker_pid (launcher);
    snprintf (self->frontend, sizeof (self->frontend), "%s", launcher_frontend (launcher));
    snprintf (self->backend, sizeof (self->backend), "%s", launcher_backend (launcher));
    snprintf (self->pub, sizeof (self->pub), "%s", launcher_pub (launcher));
    s_current = self;
    return self;
}

int
cluster_signal (cluster_t *self, pid_t pid, int signum)
{
    int status = launcher_signal (self->launcher, pid, signum);
    if ((signum == SIGKILL || signum == SIGTERM) && pid == self->broker)
        self->broker = 0;
    for (int k = 1; k < LAUNCHER_MAX_BROKERS; k++)
        if ((signum == SIGKILL || signum == SIGTERM) && pid == self->brokers[k])
            self->brokers[k] = 0;
    return status;
}

static void
s_print_log (const char *dir, const char *name)
{
    char path[512];
    snprintf (path, sizeof (path), "%s/%s", dir, name);
    launcher_log_tail (path, 40);
}

void
cluster_destroy (cluster_t **self_p)
{
    if (self_p && *self_p) {
        cluster_t *self = *self_p;
        if (self == s_current)
            s_current = NULL;
        //  Workers first; then the replicas and the broker must stop
        //  cleanly: a sanitizer report fails the test that caused it
        launcher_t *launcher = self->launcher;
        launcher_stop_kind (launcher, LAUNCHER_ECHO, 5000);
        launcher_stop_kind (launcher, LAUNCHER_VALIDATOR, 5000);
        int replica_status = 0, bad_replica = 0;
        for (int id = 1; id <= self->replica_count; id++)
            if (self->replicas[id] > 0) {
                int status = cluster_stop_replica (self, id, SIGTERM);
                if (!(WIFEXITED (status) && WEXITSTATUS (status) == 0) && !bad_replica) {
                    bad_replica = id;
                    replica_status = status;
                    char name[64];
                    snprintf (name, sizeof (name), "integrity/replica-%d.log", id);
                    s_print_log (self->dir, name);
                }
            }
        int status = self->broker ? cluster_signal (self, self->broker, SIGTERM) : 0;
        bool clean = WIFEXITED (status) && WEXITSTATUS (status) == 0;
        if (!clean)
            s_print_log (self->dir, "broker.log");
        for (int k = 1; k < LAUNCHER_MAX_BROKERS && clean; k++)
            if (self->brokers[k]) {
                status = cluster_signal (self, self->brokers[k], SIGTERM);
                clean = WIFEXITED (status) && WEXITSTATUS (status) == 0;
            }
        launcher_destroy (&self->launcher);
        free (self);
        *self_p = NULL;
        if (!clean)
            fail_msg ("broker did not exit cleanly on SIGTERM (status 0x%x)", status);
        if (bad_replica)
            fail_msg ("replica %d did not exit cleanly on SIGTERM (status 0x%x)", bad_replica,
                      replica_status);
    }
}

void
cluster_restart_broker (cluster_t *self)
{
    self->broker = launcher_restart_broker (self->launcher);
    assert_true (self->broker > 0);
}

int
cluster_add_broker (cluster_t *self)
{
    int k = launcher_add_broker (self->launcher);
    if (k < 1)
        fail_msg ("broker %d did not start; see %s", k, self->dir);
    self->brokers[k] = launcher_broker_pid_at (self->launcher, k);
    return k;
}

pid_t
cluster_broker_pid (cluster_t *self, int k)
{
    return k == 0 ? self->broker : self->brokers[k];
}

pid_t
cluster_restart_broker_at (cluster_t *self, int k)
{
    pid_t pid = launcher_restart_broker_at (self->launcher, k);
    assert_true (pid > 0);
    if (k == 0)
        self->broker = pid;
    else
        self->brokers[k] = pid;
    return pid;
}

lh_connect_t
cluster_connect_all (cluster_t *self, zcert_t *cert, bool backend)
{
    return (lh_connect_t){.endpoint = backend ? launcher_backends (self->launcher)
                                              : launcher_frontends (self->launcher),
                          .server_key = self->broker_key,
                          .cert = cert};
}

int
cluster_teardown (void **state)
{
    (void) state;
    if (s_current) {
        cluster_t *self = s_current;
        s_current = NULL;
        //  Kill, keep the directory for the logs; the cluster is leaked
        launcher_set_keep (self->launcher, true);
        launcher_stop_all (self->launcher, 0);
        fprintf (stderr, "teardown: killed the processes of a failed test; kept %s\n", self->dir);
    }
    return 0;
}

lh_connect_t
cluster_connect (cluster_t *self, zcert_t *cert, bool backend)
{
    return (lh_connect_t){.endpoint = backend ? self->backend : self->frontend,
                          .server_key = self->broker_key,
                          .cert = cert};
}

lh_client_t *
cluster_client (cluster_t *self, zcert_t *cert)
{
    lh_connect_t conn = cluster_connect (self, cert, false);
    lh_client_t *client = lh_client_new (&conn);
    assert_non_null (client);
    lh_client_set_timeout (client, 5000); //  generous: CI machines are loaded
    lh_client_set_retries (client, 0);
    return client;
}

lh_reply_t *
cluster_call (cluster_t *self, zcert_t *cert, const char *service, const char *json)
{
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    char why[256];
    assert_int_equal (jsonpack_from_json (json, strlen (json), &body, why, sizeof (why)), 0);
    lh_client_t *client = cluster_client (self, cert);
    lh_reply_t *reply = lh_client_call (client, service, body.data, body.size);
    lh_client_destroy (&client);
    msgpack_sbuffer_destroy (&body);
    assert_non_null (reply);
    return reply;
}

uint64_t
cluster_counter (cluster_t *self, const char *name)
{
    lh_reply_t *reply = cluster_call (self, self->admin, "broker.stats", "{}");
    assert_true (lh_reply_ok (reply));
    const msgpack_object *counters = codec_map_get (lh_reply_root (reply), "counters");
    const msgpack_object *value = codec_map_get (counters, name);
    assert_non_null (value);
    uint64_t n = value->via.u64;
    lh_reply_destroy (&reply);
    return n;
}

bool
cluster_wait_workers (cluster_t *self, const char *service, uint64_t count, int timeout_ms)
{
    return launcher_wait_workers (self->launcher, service, (int) count, timeout_ms);
}

pid_t
cluster_start_echo (cluster_t *self, const char *service, bool wait)
{
    pid_t pid = launcher_start_echo (self->launcher, service, NULL, wait);
    self->worker_count = launcher_worker_count (self->launcher);
    assert_true (pid > 0);
    return pid;
}

//  An lh-validator with the node key and home /home/dev; with --frontend
//  when logging
static pid_t
s_start_validator (cluster_t *self, const char *policy, bool logging, const char *extra_args)
{
    char args[1024];
    snprintf (args, sizeof (args), "--home /home/dev%s%s %s", logging ? " --frontend " : "",
              logging ? launcher_frontends (self->launcher) : "", extra_args ? extra_args : "");
    pid_t pid = launcher_start_validator (self->launcher, policy, args, true);
    self->worker_count = launcher_worker_count (self->launcher);
    assert_true (pid > 0);
    return pid;
}

//  Starts binary as name with the node key and the broker's endpoints;
//  waits until the broker lists a worker of service
static pid_t
s_start_node (cluster_t *self, const char *binary, const char *name, const char *service,
              const char *extra_args)
{
    char cert[512], dir[300], log[300], args[1024];
    launcher_cert_path (self->launcher, "node-1", cert, sizeof (cert));
    snprintf (dir, sizeof (dir), "%s/%s", self->dir, name);
    snprintf (log, sizeof (log), "%s/%s.log", self->dir, name);
    snprintf (args, sizeof (args), "--heartbeat 200 %s", extra_args ? extra_args : "");
    char *argv[64] = {(char *) binary,
                      "--broker",
                      (char *) launcher_backends (self->launcher),
                      "--broker-key",
                      self->broker_key,
                      "--cert",
                      cert,
                      "--dir",
                      dir,
                      NULL};
    int argc = 9;
    for (char *arg = strtok (args, " "); arg && argc < 63; arg = strtok (NULL, " "))
        argv[argc++] = arg;
    argv[argc] = NULL;
    pid_t pid = launcher_spawn (self->launcher, name, argv, log, -1, -1);
    assert_true (pid > 0);
    if (!cluster_wait_workers (self, service, 1, 10000)) {
        launcher_log_tail (log, 30);
        fail_msg ("%s did not register", name);
    }
    return pid;
}

pid_t
cluster_start_expert (cluster_t *self, const char *extra_args)
{
    return s_start_node (self, LH_EXPERT_BIN, "expert", "expert", extra_args);
}

pid_t
cluster_start_cache (cluster_t *self, const char *extra_args)
{
    return s_start_node (self, LH_CACHE_BIN, "cache", "cache", extra_args);
}

zcert_t *
cluster_keygen (cluster_t *self, const char *name, const char *role)
{
    zcert_t *cert = launcher_keygen (self->launcher, name, role);
    assert_non_null (cert);
    fflush (NULL); //  the launcher's roster file, then the broker reads it again
    kill (self->broker, SIGHUP);
    for (int i = 0; i < 50; i++) {
        lh_reply_t *reply = cluster_call (self, cert, "broker.ping", "{}");
        bool ok = reply && lh_reply_ok (reply);
        lh_reply_destroy (&reply);
        if (ok)
            return cert;
        zclock_sleep (100);
    }
    fail_msg ("the broker did not take the key %s", name);
    return NULL;
}

void
cluster_expect_ok (const lh_reply_t *reply)
{
    assert_non_null (reply);
    if (!lh_reply_ok (reply))
        fail_msg ("error %s: %s", lh_reply_code_name (reply), lh_reply_message (reply));
}

void
cluster_expect_error (lh_reply_t **reply_p, lh_err_t code)
{
    assert_non_null (*reply_p);
    if (lh_reply_ok (*reply_p) || lh_reply_code (*reply_p) != code)
        fail_msg ("expected %s, got %s: %s", codec_err_name (code),
                  lh_reply_ok (*reply_p) ? "ok" : lh_reply_code_name (*reply_p),
                  lh_reply_ok (*reply_p) ? "" : lh_reply_message (*reply_p));
    lh_reply_destroy (reply_p);
}

pid_t
cluster_start_validator (cluster_t *self, const char *policy)
{
    return s_start_validator (self, policy, false, NULL);
}

pid_t
cluster_start_validator_logging (cluster_t *self, const char *policy, const char *extra_args)
{
    return s_start_validator (self, policy, true, extra_args);
}

//  --------------------------------------------------------------------------
//  Integrity replicas

void
cluster_integrity_path (cluster_t *self, const char *name, char *out, size_t size)
{
    launcher_integrity_path (self->launcher, name, out, size);
}

pid_t
cluster_start_replica (cluster_t *self, int id)
{
    assert_true (id >= 1 && id <= launcher_replica_count (self->launcher));
    self->replicas[id] = launcher_start_replica (self->launcher, id);
    assert_true (self->replicas[id] > 0);
    return self->replicas[id];
}

int
cluster_stop_replica (cluster_t *self, int id, int signum)
{
    pid_t pid = self->replicas[id];
    if (pid <= 0)
        return -1;
    int status = cluster_signal (self, pid, signum);
    if (signum == SIGKILL || signum == SIGTERM)
        self->replicas[id] = 0;
    return status;
}

int
cluster_leader (cluster_t *self, int timeout_ms)
{
    return launcher_leader (self->launcher, timeout_ms);
}

void
cluster_start_integrity (cluster_t *self, int count, const char *extra_args)
{
    assert_true (count >= 1 && count <= 5);
    //  Fast elections and heartbeats: tests kill leaders
    char args[1024];
    snprintf (args, sizeof (args), "--election-ms 500 --heartbeat-ms 50 %s",
              extra_args ? extra_args : "");
    int rc = launcher_start_integrity (self->launcher, count, args);
    self->replica_count = count;
    for (int id = 1; id <= count; id++)
        self->replicas[id] = launcher_replica_pid (self->launcher, id);
    assert_int_equal (rc, 0);
}
