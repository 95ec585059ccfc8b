/*  harness -- real Lighthouse processes for integration tests. */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "codec.h"
#include "jsonpack.h"

#include <signal.h>
#include <stdarg.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sys/wait.h>
#include <unistd.h>

//  The cluster of the running test, for cluster_teardown
static cluster_t *s_current;

static pid_t
s_spawn (const char *log_path, char *const argv[])
{
    pid_t pid = fork ();
    if (pid == 0) {
        FILE *log = fopen (log_path, "a");
        if (log) {
            dup2 (fileno (log), 1);
            dup2 (fileno (log), 2);
        }
        execv (argv[0], argv);
        _exit (127);
    }
    return pid;
}

static zcert_t *
s_cert (cluster_t *self, FILE *roster, const char *name, const char *role)
{
    zcert_t *cert = zcert_new ();
    if (roster && role)
        fprintf (roster, "    %s\n        key = \"%s\"\n        role = %s\n", name,
                 zcert_public_txt (cert), role);
    char path[512];
    snprintf (path, sizeof (path), "%s/%s.cert", self->dir, name);
    zcert_save (cert, path);
    return cert;
}

//  Scans the broker log for "socket=NAME endpoint=EP".
static bool
s_endpoint (const char *log_path, const char *name, char *out, size_t size)
{
    FILE *log = fopen (log_path, "r");
    if (!log)
        return false;
    char line[1024], needle[64];
    snprintf (needle, sizeof (needle), "socket=%s endpoint=", name);
    bool found = false;
    while (!found && fgets (line, sizeof (line), log)) {
        char *at = strstr (line, needle);
        if (at) {
            at += strlen (needle);
            at[strcspn (at, " \n")] = 0;
            snprintf (out, size, "%s", at);
            found = true;
        }
    }
    fclose (log);
    return found;
}

cluster_t *
cluster_new (const char *extra_config, const char *set)
{
    zsys_init ();
    zsys_set_logsystem (false);
    cluster_t *self = (cluster_t *) zmalloc (sizeof (cluster_t));
    snprintf (self->dir, sizeof (self->dir), "/tmp/lh-it-XXXXXX");
    assert_non_null (mkdtemp (self->dir));

    char path[512];
    snprintf (path, sizeof (path), "%s/roster.zpl", self->dir);
    FILE *roster = fopen (path, "w");
    assert_non_null (roster);
    fprintf (roster, "principal\n");
    self->broker_cert = s_cert (self, NULL, "broker", NULL);
    self->admin = s_cert (self, roster, "admin", "admin");
    self->agent = s_cert (self, roster, "agent-1", "agent");
    self->agent2 = s_cert (self, roster, "agent-2", "agent");
    self->node = s_cert (self, roster, "node-1", "node");
    self->stranger = s_cert (self, NULL, "stranger", NULL);
    fclose (roster);
    snprintf (self->broker_key, sizeof (self->broker_key), "%s",
              zcert_public_txt (self->broker_cert));

    snprintf (path, sizeof (path), "%s/broker.cfg", self->dir);
    FILE *config = fopen (path, "w");
    assert_non_null (config);
    fprintf (config,
             "broker\n"
             "    frontend = tcp://127.0.0.1:*\n"
             "    backend = tcp://127.0.0.1:*\n"
             "    pub = tcp://127.0.0.1:*\n"
             "    cert = %s/broker.cert_secret\n"
             "    roster = %s/roster.zpl\n"
             "    heartbeat = 200\n"
             "    liveness = 3\n"
             "    request_timeout = 3000\n"
             "service\n"
             "    echo\n"
             "%s",
             self->dir, self->dir, extra_config ? extra_config : "");
    fclose (config);

    char log_path[512];
    snprintf (log_path, sizeof (log_path), "%s/broker.log", self->dir);
    snprintf (self->set, sizeof (self->set), "%s", set ? set : "");
    char *argv[] = {(char *) LH_BROKER_BIN, "-c", path, set ? "--set" : NULL, (char *) set, NULL};
    self->broker = s_spawn (log_path, argv);
    assert_true (self->broker > 0);
    for (int i = 0; i < 100; i++) {
        if (s_endpoint (log_path, "frontend", self->frontend, sizeof (self->frontend)) &&
            s_endpoint (log_path, "backend", self->backend, sizeof (self->backend)) &&
            s_endpoint (log_path, "pub", self->pub, sizeof (self->pub))) {
            s_current = self;
            return self;
        }
        zclock_sleep (50);
    }
    fail_msg ("broker did not start; see %s", log_path);
    return NULL;
}

int
cluster_signal (cluster_t *self, pid_t pid, int signum)
{
    if (pid <= 0)
        return -1;
    kill (pid, signum);
    if (signum != SIGKILL && signum != SIGTERM)
        return -1;
    int status = -1;
    bool reaped = false;
    for (int i = 0; i < 250 && !reaped; i++) {
        reaped = waitpid (pid, &status, WNOHANG) == pid;
        if (!reaped)
            zclock_sleep (20);
    }
    if (!reaped) {
        kill (pid, SIGKILL);
        waitpid (pid, &status, 0);
    }
    if (pid == self->broker)
        self->broker = 0;
    for (int i = 0; i < self->worker_count; i++)
        if (self->workers[i] == pid)
            self->workers[i] = 0;
    return status;
}

static void
s_print_log (const char *dir, const char *name)
{
    char command[512];
    snprintf (command, sizeof (command), "tail -n 40 '%s/%s' >&2", dir, name);
    if (system (command) != 0)
        fprintf (stderr, "cannot show %s\n", name);
}

void
cluster_destroy (cluster_t **self_p)
{
    if (self_p && *self_p) {
        cluster_t *self = *self_p;
        if (self == s_current)
            s_current = NULL;
        for (int i = 0; i < self->worker_count; i++)
            if (self->workers[i] > 0) {
                kill (self->workers[i], SIGCONT);
                cluster_signal (self, self->workers[i], SIGTERM);
            }
        //  Replicas must stop cleanly too: a sanitizer report fails the test
        int replica_status = 0, bad_replica = 0;
        for (int id = 1; id <= self->replica_count; id++)
            if (self->replicas[id] > 0) {
                kill (self->replicas[id], SIGCONT);
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
        zcert_destroy (&self->broker_cert);
        zcert_destroy (&self->admin);
        zcert_destroy (&self->agent);
        zcert_destroy (&self->agent2);
        zcert_destroy (&self->node);
        zcert_destroy (&self->stranger);
        if (!getenv ("LH_KEEP_TMP")) {
            char command[512];
            snprintf (command, sizeof (command), "rm -rf '%s'", self->dir);
            if (system (command) != 0)
                fprintf (stderr, "cannot remove %s\n", self->dir);
        }
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
    cluster_signal (self, self->broker, SIGKILL);
    char config[512], log_path[512];
    snprintf (config, sizeof (config), "%s/broker.cfg", self->dir);
    snprintf (log_path, sizeof (log_path), "%s/broker.log", self->dir);
    char *argv[] = {(char *) LH_BROKER_BIN,
                    "-c",
                    config,
                    "--frontend",
                    self->frontend,
                    "--backend",
                    self->backend,
                    "--pub",
                    self->pub,
                    self->set[0] ? "--set" : NULL,
                    self->set,
                    NULL};
    self->broker = s_spawn (log_path, argv);
    assert_true (self->broker > 0);
}

int
cluster_teardown (void **state)
{
    (void) state;
    if (s_current) {
        cluster_t *self = s_current;
        s_current = NULL;
        for (int i = 0; i < self->worker_count; i++)
            if (self->workers[i] > 0) {
                kill (self->workers[i], SIGCONT);
                cluster_signal (self, self->workers[i], SIGKILL);
            }
        for (int id = 1; id <= self->replica_count; id++)
            if (self->replicas[id] > 0) {
                kill (self->replicas[id], SIGCONT);
                cluster_stop_replica (self, id, SIGKILL);
            }
        cluster_signal (self, self->broker, SIGKILL);
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
    char json[128];
    snprintf (json, sizeof (json), "{\"name\":\"%s\"}", service);
    int64_t until = zclock_mono () + timeout_ms;
    while (zclock_mono () < until) {
        lh_reply_t *reply = cluster_call (self, self->admin, "mmi.service", json);
        const msgpack_object *workers = codec_map_get (lh_reply_root (reply), "workers");
        bool done = workers && workers->via.u64 == count;
        lh_reply_destroy (&reply);
        if (done)
            return true;
        zclock_sleep (50);
    }
    return false;
}

static uint64_t
s_workers_of (cluster_t *self, const char *service)
{
    char json[128];
    snprintf (json, sizeof (json), "{\"name\":\"%s\"}", service);
    lh_reply_t *reply = cluster_call (self, self->admin, "mmi.service", json);
    const msgpack_object *workers = codec_map_get (lh_reply_root (reply), "workers");
    uint64_t count = workers ? workers->via.u64 : 0;
    lh_reply_destroy (&reply);
    return count;
}

//  Starts a node process and, when wait, waits until the broker lists one
//  more worker of service.
static pid_t
s_start_node (cluster_t *self, const char *name, const char *service, char *const argv[], bool wait)
{
    assert_true (self->worker_count < 8);
    char log_path[512];
    snprintf (log_path, sizeof (log_path), "%s/%s-%d.log", self->dir, name, self->worker_count);
    uint64_t before = s_workers_of (self, service);
    pid_t pid = s_spawn (log_path, argv);
    assert_true (pid > 0);
    self->workers[self->worker_count++] = pid;
    if (wait)
        assert_true (cluster_wait_workers (self, service, before + 1, 5000));
    return pid;
}

pid_t
cluster_start_echo (cluster_t *self, const char *service, bool wait)
{
    char cert[512];
    snprintf (cert, sizeof (cert), "%s/node-1.cert_secret", self->dir);
    char *argv[] = {(char *) LH_ECHO_BIN, "--broker",    self->backend, "--broker-key",
                    self->broker_key,     "--cert",      cert,          "--service",
                    (char *) service,     "--heartbeat", "200",         NULL};
    return s_start_node (self, "echo", service, argv, wait);
}

//  Appends the options in extra (separated by spaces; split in place) to
//  argv[0..argc) and ends it with NULL; at most max entries in all.
static void
s_add_args (char **argv, int argc, int max, char *extra)
{
    char *save = NULL;
    for (char *arg = strtok_r (extra, " ", &save); arg && argc < max - 1;
         arg = strtok_r (NULL, " ", &save))
        argv[argc++] = arg;
    argv[argc] = NULL;
}

//  An lh-validator with the node key; with --frontend when logging.
static pid_t
s_start_validator (cluster_t *self, const char *policy, bool logging, const char *extra_args)
{
    char cert[512], extra[512];
    snprintf (cert, sizeof (cert), "%s/node-1.cert_secret", self->dir);
    snprintf (extra, sizeof (extra), "%s", extra_args ? extra_args : "");
    char *argv[40] = {(char *) LH_VALIDATOR_BIN,
                      "--broker",
                      self->backend,
                      "--pub",
                      self->pub,
                      "--broker-key",
                      self->broker_key,
                      "--cert",
                      cert,
                      "--policy",
                      (char *) policy,
                      "--home",
                      "/home/dev"};
    int argc = 13;
    if (logging) {
        argv[argc++] = "--frontend";
        argv[argc++] = self->frontend;
    }
    //  the validator's data (spool, redaction key) stays in the test's directory
    if (!strstr (extra, "--run-dir")) {
        argv[argc++] = "--run-dir";
        argv[argc++] = self->dir;
    }
    s_add_args (argv, argc, 40, extra);
    return s_start_node (self, "validator", "validate", argv, true);
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

static int
s_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    socklen_t len = sizeof (addr);
    int port = -1;
    if (bind (fd, (struct sockaddr *) &addr, sizeof (addr)) == 0 &&
        getsockname (fd, (struct sockaddr *) &addr, &len) == 0)
        port = ntohs (addr.sin_port);
    close (fd);
    return port;
}

void
cluster_integrity_path (cluster_t *self, const char *name, char *out, size_t size)
{
    snprintf (out, size, "%s/integrity/%s", self->dir, name);
}

pid_t
cluster_start_replica (cluster_t *self, int id)
{
    assert_true (id >= 1 && id <= self->replica_count);
    char peers[256] = "", item[64], idtext[16], dir[512], signer[512], keys[512], cert[512],
         log_path[512];
    for (int i = 1; i <= self->replica_count; i++) {
        snprintf (item, sizeof (item), "%s%d@127.0.0.1:%d", i > 1 ? " " : "", i,
                  self->raft_ports[i]);
        strcat (peers, item);
    }
    snprintf (idtext, sizeof (idtext), "%d", id);
    snprintf (dir, sizeof (dir), "%s/integrity/%d", self->dir, id);
    snprintf (signer, sizeof (signer), "%s/integrity/replica-%d.key", self->dir, id);
    snprintf (keys, sizeof (keys), "%s/integrity/keys", self->dir);
    snprintf (cert, sizeof (cert), "%s/node-1.cert_secret", self->dir);
    snprintf (log_path, sizeof (log_path), "%s/integrity/replica-%d.log", self->dir, id);
    char *argv[64] = {(char *) LH_INTEGRITY_BIN,
                      "--id",
                      idtext,
                      "--dir",
                      dir,
                      "--peers",
                      peers,
                      "--signer",
                      signer,
                      "--keys",
                      keys,
                      "--broker",
                      self->backend,
                      "--frontend",
                      self->frontend,
                      "--pub",
                      self->pub,
                      "--broker-key",
                      self->broker_key,
                      "--cert",
                      cert,
                      "--election-ms",
                      "500",
                      "--heartbeat-ms",
                      "50"};
    char extra[512];
    snprintf (extra, sizeof (extra), "%s", self->replica_args);
    s_add_args (argv, 25, 64, extra);
    self->replicas[id] = s_spawn (log_path, argv);
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
    int64_t until = zclock_mono () + timeout_ms;
    while (zclock_mono () < until) {
        if (s_workers_of (self, "events") > 0) {
            lh_reply_t *reply =
                cluster_call (self, self->admin, "events.read", "{\"op\":\"status\"}");
            const msgpack_object *status = codec_map_get (lh_reply_root (reply), "status");
            const msgpack_object *leader = codec_map_get (status, "leader");
            int id = leader && leader->type == MSGPACK_OBJECT_POSITIVE_INTEGER
                         ? (int) leader->via.u64
                         : 0;
            lh_reply_destroy (&reply);
            if (id > 0)
                return id;
        }
        zclock_sleep (50);
    }
    return 0;
}

void
cluster_start_integrity (cluster_t *self, int count, const char *extra_args)
{
    assert_true (count >= 1 && count <= 5);
    self->replica_count = count;
    snprintf (self->replica_args, sizeof (self->replica_args), "%s", extra_args ? extra_args : "");
    char path[512], keys[512];
    snprintf (path, sizeof (path), "%s/integrity", self->dir);
    assert_int_equal (zsys_dir_create ("%s", path), 0);
    snprintf (keys, sizeof (keys), "%s/integrity/keys", self->dir);
    for (int id = 1; id <= count; id++) {
        self->raft_ports[id] = s_free_port ();
        char command[1536];
        snprintf (command, sizeof (command),
                  "'%s' --keygen replica-%d --signer '%s/integrity/replica-%d.key' >> '%s'",
                  LH_INTEGRITY_BIN, id, self->dir, id, keys);
        assert_int_equal (system (command), 0);
    }
    for (int id = 1; id <= count; id++)
        cluster_start_replica (self, id);
    assert_true (cluster_wait_workers (self, "events.read", (uint64_t) count, 10000));
    assert_true (cluster_leader (self, 10000) > 0);
}
