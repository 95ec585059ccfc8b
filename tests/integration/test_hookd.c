/*  Integration tests of lh-hookd and lh-hook: the static hook binary asking
    a warm lh-hookd over its Unix socket, against a real CURVE cluster (a
    broker and an lh-validator with the default policy).

    lh-hook must answer exactly as lh hook does, through lh-hookd or by
    handing the call to lh hook (no lh-hookd, one of another uid, one that
    hangs up, any option but --agent), and fail closed itself when lh-hookd
    does not answer. lh-hookd must serve only its own uid and root, survive
    malformed frames, refuse to start on an unsafe or taken socket, and
    leave no socket behind on SIGTERM. Its counters are read from its
    Prometheus endpoint and from the "stopped" line it logs on SIGTERM. */
#include "harness.h"
#include "hookrun.h"

#include "codec.h"
#include "jsonpack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

//  Generous: under the sanitizers on a loaded machine, start-up and the
//  exit-time leak check take seconds
#define START_WAIT_MS 20000
#define STOP_WAIT_MS  20000

//  The hook JSON's commands and the default policy's decisions for them
#define BASH_ALLOWED "{\"command\":\"ls -la\"}"
#define BASH_DENIED  "{\"command\":\"rm -rf ~\"}"

//  --------------------------------------------------------------------------
//  Children that are not the launcher's (lh-hookd, run as any uid): killed
//  by the teardown when a failed assertion skips the test's own stop

#define MAX_CHILDREN 16
static pid_t s_children[MAX_CHILDREN];

static void
s_child_add (pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (s_children[i] == 0) {
            s_children[i] = pid;
            return;
        }
}

static void
s_child_forget (pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (s_children[i] == pid)
            s_children[i] = 0;
}

static int
s_teardown (void **state)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (s_children[i] > 0) {
            kill (s_children[i], SIGCONT);
            kill (s_children[i], SIGKILL);
            waitpid (s_children[i], NULL, 0);
            s_children[i] = 0;
        }
    return cluster_teardown (state);
}

//  Waits up to timeout_ms for pid; its wait status, or -1 when it still runs.
static int
s_wait_exit (pid_t pid, int timeout_ms)
{
    int status;
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        pid_t rc = waitpid (pid, &status, WNOHANG);
        if (rc == pid) {
            s_child_forget (pid);
            return status;
        }
        assert_true (rc == 0);
        usleep (10000);
    }
    return -1;
}

//  --------------------------------------------------------------------------
//  Files

static bool
s_exists (const char *path)
{
    struct stat st;
    return lstat (path, &st) == 0;
}

//  --------------------------------------------------------------------------
//  Running lh and lh-hook

//  The programs, each run isolated (hookrun.h)
static const hookrun_prog_t s_prog_lh = {.bin = LH_CLI_BIN, .isolated = true};
static const hookrun_prog_t s_prog_hook = {.bin = LH_HOOK_BIN, .isolated = true};
static const hookrun_prog_t s_prog_hookd = {.bin = LH_HOOKD_BIN, .isolated = true};

//  The hook JSON: json, or a Bash call with input (the caller frees it)
static char *
s_hook_input (const char *json, const char *input)
{
    return json ? strdup (json) : hookrun_hook_json ("Bash", input);
}

//  Writes the hook JSON (as s_hook_input) to DIR/run.in; returns its path.
static const char *
s_stdin (const char *dir, const char *json, const char *input)
{
    static char path[512];
    char *text = s_hook_input (json, input);
    hookrun_stdin (dir, text, strlen (text), path, sizeof (path));
    free (text);
    return path;
}

//  Runs prog to its end with the hook JSON (as s_hook_input) on stdin.
static hookrun_t
s_run (const hookrun_prog_t *prog, const char *dir, const char *const *args, const char *const *env,
       const char *json, const char *input)
{
    char *text = s_hook_input (json, input);
    hookrun_t r = hookrun_run (prog, dir, args, env, text, strlen (text));
    free (text);
    return r;
}

//  The same settings as environment variables, for lh hook after a handoff
typedef struct {
    char broker[200];
    char key[80];
    char cert[400];
} broker_env_t;

static void
s_broker_env (cluster_t *c, broker_env_t *e)
{
    snprintf (e->broker, sizeof (e->broker), "LH_BROKER=%s", c->frontend);
    snprintf (e->key, sizeof (e->key), "LH_BROKER_KEY=%s", c->broker_key);
    snprintf (e->cert, sizeof (e->cert), "LH_CERT=%s/agent-1.cert_secret", c->dir);
}

//  The reference: lh --env FILE hook [extra], for a Bash call with input
//  (or the hook JSON json)
static hookrun_t
s_reference (cluster_t *c, const char *extra1, const char *extra2, const char *json,
             const char *input)
{
    const char *args[] = {"--env", hookrun_env_file (c, "agent-1"), "hook", extra1, extra2, NULL};
    const char *env[] = {"LH_HOOK_TIMEOUT_MS=5000", NULL};
    return s_run (&s_prog_lh, c->dir, args, env, json, input);
}

static void
s_dump (const char *what, hookrun_t *r)
{
    fprintf (stderr, "%s: exit %d after %lld ms\nstdout: %s\nstderr: %s\n", what, r->status,
             (long long) r->elapsed_ms, r->out, r->err);
}

//  got must be the reference's answer: exit status, stdout, stderr
static void
s_assert_same (hookrun_t *got, hookrun_t *want)
{
    if (got->status != want->status || strcmp (got->out, want->out) != 0 ||
        strcmp (got->err, want->err) != 0) {
        s_dump ("lh-hook", got);
        s_dump ("lh hook", want);
        fail_msg ("lh-hook answered otherwise than lh hook");
    }
}

//  The default policy: ls -la allowed (exit 0), rm -rf ~ denied (exit 2)
static void
s_assert_decision (hookrun_t *r, const char *decision)
{
    bool allow = streq (decision, "allow");
    char json[64];
    snprintf (json, sizeof (json), "\"permissionDecision\":\"%s\"", decision);
    if (r->status != (allow ? 0 : 2) || !strstr (r->out, json) ||
        !strstr (r->out, allow ? "Lighthouse allow (rule " : "Lighthouse deny (rule ")) {
        s_dump ("hook", r);
        fail_msg ("expected %s", decision);
    }
}

//  The hook blocked the call itself: exit 2, "failing closed" and what on stderr
static void
s_assert_blocked (hookrun_t *r, const char *what)
{
    if (r->status != 2 || !strstr (r->err, "failing closed") || !strstr (r->err, what) ||
        !strstr (r->out, "\"permissionDecision\":\"deny\"")) {
        s_dump ("hook", r);
        fail_msg ("expected a fail-closed deny naming '%s'", what);
    }
}

//  lh-hook with env (NULL-terminated, at most 10) and options, for a Bash call
//  with input, compared with the reference; decision is what both must say
static void
s_hook_same (cluster_t *c, const char *const *env, const char *extra1, const char *extra2,
             const char *input, const char *decision)
{
    const char *all[12] = {"LH_HOOK_TIMEOUT_MS=5000"};
    int n = 1;
    for (int i = 0; env && env[i] && n < 11; i++)
        all[n++] = env[i];
    all[n] = NULL;
    const char *args[] = {extra1, extra2, NULL};
    hookrun_t want = s_reference (c, NULL, NULL, NULL, input);
    s_assert_decision (&want, decision);
    hookrun_t got = s_run (&s_prog_hook, c->dir, args, all, NULL, input);
    s_assert_same (&got, &want);
    hookrun_free (&got);
    hookrun_free (&want);
}

//  --------------------------------------------------------------------------
//  lh-hookd

typedef struct {
    pid_t pid;
    char socket[256];
    char log[512];
    int metrics; //  its metrics port, 0 when none
} hookd_t;

//  More arguments for the next lh-hookd started (test_dedicated_user)
static const char *s_hookd_extra[4];

//  Starts lh-hookd (as uid/gid when uid is not 0) with the agent's key (cert,
//  NULL for the cluster's) at socket, logging to DIR/name.log; metrics on an
//  ephemeral port when asked. No wait.
static void
s_hookd_spawn (cluster_t *c, hookd_t *h, const char *name, const char *socket, uid_t uid, gid_t gid,
               const char *cert, bool metrics)
{
    memset (h, 0, sizeof (*h));
    snprintf (h->socket, sizeof (h->socket), "%.255s", socket);
    snprintf (h->log, sizeof (h->log), "%s/%s.log", c->dir, name);
    char cert_path[512];
    snprintf (cert_path, sizeof (cert_path), "%s/agent-1.cert_secret", c->dir);
    const char *argv[20] = {LH_HOOKD_BIN,  "--socket",  h->socket,
                            "--broker",    c->frontend, "--broker-key",
                            c->broker_key, "--cert",    cert ? cert : cert_path};
    int argc = 9;
    if (metrics) {
        argv[argc++] = "--metrics";
        argv[argc++] = "127.0.0.1:0";
    }
    for (int i = 0; s_hookd_extra[i] && argc < 19; i++)
        argv[argc++] = s_hookd_extra[i];
    argv[argc] = NULL;
    int log = open (h->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true (log >= 0);
    pid_t parent = getpid ();
    h->pid = fork ();
    assert_true (h->pid >= 0);
    if (h->pid == 0) {
        int null_fd = open ("/dev/null", O_RDONLY);
        if (null_fd < 0)
            _exit (126);
        dup2 (null_fd, 0);
        dup2 (log, 1);
        dup2 (log, 2);
        hookrun_child_isolate ();
        if (uid != 0 && hookrun_become (uid, gid) != 0)
            _exit (125);
        //  After setuid, which clears it
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (getppid () != parent)
            _exit (124);
        execv (argv[0], (char *const *) argv);
        _exit (127);
    }
    close (log);
    s_child_add (h->pid);
}

//  Waits until the log has text, or fails (the process exited, or timeout)
static void
s_hookd_wait_log (hookd_t *h, const char *text)
{
    for (int waited = 0; waited < START_WAIT_MS; waited += 20) {
        char *log = hookrun_slurp (h->log);
        bool found = strstr (log, text) != NULL;
        free (log);
        if (found)
            return;
        int status;
        if (waitpid (h->pid, &status, WNOHANG) == h->pid) {
            s_child_forget (h->pid);
            h->pid = 0;
            launcher_log_tail (h->log, 30);
            fail_msg ("lh-hookd exited (status 0x%x) before logging %s", status, text);
        }
        usleep (20000);
    }
    launcher_log_tail (h->log, 30);
    fail_msg ("lh-hookd did not log %s", text);
}

//  s_hookd_spawn, then waits until it serves (and reads its metrics port)
static void
s_hookd_start_as (cluster_t *c, hookd_t *h, const char *name, const char *socket, uid_t uid,
                  gid_t gid, const char *cert, bool metrics)
{
    s_hookd_spawn (c, h, name, socket, uid, gid, cert, metrics);
    s_hookd_wait_log (h, "msg=\"serving\"");
    if (metrics) {
        char *log = hookrun_slurp (h->log);
        const char *line = strstr (log, "msg=\"metrics\"");
        const char *port = line ? strstr (line, "port=") : NULL;
        assert_non_null (port);
        h->metrics = atoi (port + 5);
        free (log);
        assert_true (h->metrics > 0);
    }
}

//  lh-hookd of ours (root) at DIR/NAME/hookd.sock, a 0700 directory it makes
static void
s_hookd_start (cluster_t *c, hookd_t *h, const char *name, bool metrics)
{
    char socket[600];
    snprintf (socket, sizeof (socket), "%s/%s/hookd.sock", c->dir, name);
    s_hookd_start_as (c, h, name, socket, 0, 0, NULL, metrics);
    struct stat st;
    assert_int_equal (lstat (h->socket, &st), 0);
    assert_true (S_ISSOCK (st.st_mode));
    assert_int_equal (st.st_mode & 0777, 0600);
}

//  "LH_HOOKD_SOCKET=..." for h, in a static buffer
static const char *
s_socket_env (const char *socket)
{
    static char env[300];
    snprintf (env, sizeof (env), "LH_HOOKD_SOCKET=%.255s", socket);
    return env;
}

//  The counters of lh-hookd's "stopped" line, as a JSON object
static json_t *
s_stopped_counters (const char *log_path)
{
    char *log = hookrun_slurp (log_path);
    const char *marker = "msg=\"stopped\" counters=\"";
    char *at = strstr (log, marker);
    if (!at) {
        launcher_log_tail (log_path, 30);
        free (log);
        fail_msg ("lh-hookd logged no stopped line");
    }
    char text[2048];
    size_t n = 0;
    for (const char *p = at + strlen (marker); *p && *p != '"' && n + 1 < sizeof (text); p++) {
        if (*p == '\\' && p[1])
            p++;
        text[n++] = *p;
    }
    text[n] = 0;
    free (log);
    json_error_t error;
    json_t *counters = json_loads (text, 0, &error);
    if (!json_is_object (counters))
        fail_msg ("the stopped line's counters are not a JSON object: %s", text);
    return counters;
}

//  Fails unless the counters are as expected: "NAME=N" or "NAME>=N" items
//  separated by spaces
static void
s_expect_counts (json_t *counters, const char *expected)
{
    const char *p = expected;
    while (*p) {
        char name[64];
        long want;
        int used = 0;
        bool at_least = sscanf (p, "%63[a-z_]>=%ld %n", name, &want, &used) == 2 && used > 0;
        if (!at_least && !(sscanf (p, "%63[a-z_]=%ld %n", name, &want, &used) == 2 && used > 0))
            fail_msg ("bad counter expectation at '%s'", p);
        p += used;
        json_t *value = json_object_get (counters, name);
        if (!json_is_integer (value))
            fail_msg ("no counter %s", name);
        long got = (long) json_integer_value (value);
        if (at_least ? got < want : got != want)
            fail_msg ("counter %s is %ld, expected %s%ld", name, got, at_least ? ">= " : "", want);
    }
}

//  SIGTERM: lh-hookd must exit 0 and take its socket with it, and the
//  counters of its stopped line must be as expected (s_expect_counts).
static void
s_hookd_stop (hookd_t *h, const char *expected)
{
    assert_true (h->pid > 0);
    kill (h->pid, SIGCONT);
    assert_int_equal (kill (h->pid, SIGTERM), 0);
    int status = s_wait_exit (h->pid, STOP_WAIT_MS);
    if (status == -1) {
        kill (h->pid, SIGKILL);
        waitpid (h->pid, NULL, 0);
        s_child_forget (h->pid);
    }
    h->pid = 0;
    if (!(status != -1 && WIFEXITED (status) && WEXITSTATUS (status) == 0)) {
        launcher_log_tail (h->log, 30);
        fail_msg ("lh-hookd did not exit 0 on SIGTERM (status 0x%x)", status);
    }
    if (s_exists (h->socket))
        fail_msg ("lh-hookd left its socket %s behind", h->socket);
    json_t *counters = s_stopped_counters (h->log);
    s_expect_counts (counters, expected);
    json_decref (counters);
}

//  --------------------------------------------------------------------------
//  Its metrics endpoint

//  GET /metrics from 127.0.0.1:port; the response (freed by the caller)
static char *
s_http_get (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true (fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) port)};
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 3};
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof (tv));
    assert_int_equal (connect (fd, (struct sockaddr *) &addr, sizeof (addr)), 0);
    const char *request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    assert_int_equal (send (fd, request, strlen (request), MSG_NOSIGNAL),
                      (ssize_t) strlen (request));
    size_t size = 0, capacity = 65536;
    char *text = (char *) malloc (capacity + 1);
    assert_non_null (text);
    ssize_t n;
    while (size < capacity && (n = recv (fd, text + size, capacity - size, 0)) > 0)
        size += (size_t) n;
    text[size] = 0;
    close (fd);
    return text;
}

//  A sample's value in the exposition text, -1 when absent
static long
s_sample (const char *text, const char *name)
{
    size_t len = strlen (name);
    for (const char *line = text; line && *line; line = strchr (line, '\n')) {
        if (*line == '\n')
            line++;
        if (strncmp (line, name, len) == 0 && line[len] == ' ')
            return strtol (line + len + 1, NULL, 10);
    }
    return -1;
}

//  Scrapes until sample lighthouse_hookd_NAME is want (published once a
//  second); returns the last value read.
static long
s_metric_wait (hookd_t *h, const char *name, long want, int timeout_ms)
{
    char full[128];
    snprintf (full, sizeof (full), "lighthouse_hookd_%s", name);
    long value = -1;
    for (int64_t end = zclock_mono () + timeout_ms; zclock_mono () < end; zclock_sleep (100)) {
        char *text = s_http_get (h->metrics);
        value = s_sample (text, full);
        free (text);
        if (value == want)
            break;
    }
    return value;
}

//  --------------------------------------------------------------------------
//  Raw frames

static int
s_raw_connect (const char *path)
{
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf (addr.sun_path, sizeof (addr.sun_path), "%.107s", path);
    if (connect (fd, (struct sockaddr *) &addr, sizeof (addr)) != 0) {
        close (fd);
        return -1;
    }
    return fd;
}

static void
s_put32 (uint8_t *at, uint32_t value)
{
    at[0] = (uint8_t) (value >> 24), at[1] = (uint8_t) (value >> 16);
    at[2] = (uint8_t) (value >> 8), at[3] = (uint8_t) value;
}

//  A request frame: length, deadline, body
static size_t
s_frame (uint8_t *out, size_t size, uint32_t deadline_ms, const void *body, size_t body_size)
{
    assert_true (8 + body_size <= size);
    s_put32 (out, (uint32_t) (4 + body_size));
    s_put32 (out + 4, deadline_ms);
    memcpy (out + 8, body, body_size);
    return 8 + body_size;
}

//  A validate body from JSON, packed into buf; its size
static size_t
s_body (const char *json, uint8_t *buf, size_t size)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    char why[256];
    assert_int_equal (jsonpack_from_json (json, strlen (json), &sbuf, why, sizeof (why)), 0);
    assert_true (sbuf.size <= size);
    memcpy (buf, sbuf.data, sbuf.size);
    size_t n = sbuf.size;
    msgpack_sbuffer_destroy (&sbuf);
    return n;
}

typedef enum { RAW_REPLY, RAW_CLOSED, RAW_TIMEOUT } raw_result_t;

//  Reads a reply frame on fd within timeout_ms: RAW_REPLY with its code (and
//  the decision of an "ok" reply), RAW_CLOSED when the peer closed before a
//  byte of one, RAW_TIMEOUT.
static raw_result_t
s_raw_reply (int fd, int timeout_ms, char *code, size_t code_size, char *decision,
             size_t decision_size)
{
    uint8_t buf[65536];
    size_t got = 0;
    int64_t end = zclock_mono () + timeout_ms;
    while (true) {
        if (got >= 4) {
            uint32_t size = (uint32_t) buf[0] << 24 | (uint32_t) buf[1] << 16 |
                            (uint32_t) buf[2] << 8 | (uint32_t) buf[3];
            assert_true (size <= sizeof (buf) - 4);
            if (got >= 4 + size) {
                codec_doc_t *doc = codec_doc_decode (buf + 4, size, NULL, NULL);
                assert_non_null (doc);
                const msgpack_object *root = codec_doc_root (doc);
                assert_true (root->type == MSGPACK_OBJECT_MAP);
                assert_true (codec_str_copy (codec_map_get (root, "code"), code, code_size));
                assert_true (codec_map_get (root, "message") != NULL);
                if (decision) {
                    const msgpack_object *reply = codec_map_get (root, "reply");
                    if (!reply || !codec_str_copy (codec_map_get (reply, "decision"), decision,
                                                   decision_size))
                        snprintf (decision, decision_size, "-");
                }
                codec_doc_destroy (&doc);
                return RAW_REPLY;
            }
        }
        int64_t left = end - zclock_mono ();
        if (left <= 0)
            return RAW_TIMEOUT;
        struct pollfd item = {.fd = fd, .events = POLLIN};
        if (poll (&item, 1, (int) left) <= 0)
            continue;
        ssize_t n = recv (fd, buf + got, sizeof (buf) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            //  A reply cut short is a failure, not a close
            assert_int_equal (got, 0);
            return RAW_CLOSED;
        }
        got += (size_t) n;
    }
}

//  Sends data on a new connection to socket (then shuts down writing when
//  half_close); the reply's code into code ("" when none), RAW_* as above.
static raw_result_t
s_raw (const char *socket, const void *data, size_t size, bool half_close, char *code,
       size_t code_size, char *decision, size_t decision_size)
{
    int fd = s_raw_connect (socket);
    assert_true (fd >= 0);
    const uint8_t *at = (const uint8_t *) data;
    size_t done = 0;
    while (done < size) {
        ssize_t n = send (fd, at + done, size - done, MSG_NOSIGNAL);
        if (n <= 0)
            break; //  lh-hookd may answer and close before it has read it all
        done += (size_t) n;
    }
    if (half_close)
        shutdown (fd, SHUT_WR);
    code[0] = 0;
    raw_result_t result = s_raw_reply (fd, 10000, code, code_size, decision, decision_size);
    close (fd);
    return result;
}

//  One malformed frame: lh-hookd answers bad_request (and closes)
static void
s_expect_bad_request (const char *socket, const char *what, const void *data, size_t size)
{
    char code[64];
    raw_result_t result = s_raw (socket, data, size, false, code, sizeof (code), NULL, 0);
    if (result != RAW_REPLY || !streq (code, "bad_request"))
        fail_msg ("%s: expected a bad_request reply, got %s '%s'", what,
                  result == RAW_REPLY    ? "reply"
                  : result == RAW_CLOSED ? "a close"
                                         : "nothing",
                  code);
}

//  --------------------------------------------------------------------------
//  The cluster: a broker and lh-validator with the default policy

static cluster_t *
s_cluster (pid_t *validator)
{
    cluster_t *c = cluster_new ("    validate\n", NULL);
    pid_t pid = cluster_start_validator (c, LH_DEFAULT_POLICY);
    if (validator)
        *validator = pid;
    return c;
}

//  --------------------------------------------------------------------------
//  1. Decisions through lh-hookd are lh hook's

static void
test_decisions_match (void **state)
{
    (void) state;
    cluster_t *c = s_cluster (NULL);
    hookd_t h;
    s_hookd_start (c, &h, "hookd", true);
    //  No LH_BROKER in lh-hook's environment: a handoff to lh hook could not
    //  answer, so a decision is lh-hookd's
    const char *env[] = {s_socket_env (h.socket), NULL};
    s_hook_same (c, env, NULL, NULL, BASH_ALLOWED, "allow");
    s_hook_same (c, env, NULL, NULL, BASH_DENIED, "deny");
    //  --agent stays with lh-hookd, and speaks the agent's contract
    const char *gemini = "{\"hook_event_name\":\"BeforeTool\",\"tool_name\":\"run_shell_command\","
                         "\"tool_input\":" BASH_DENIED ",\"cwd\":\"/work/p\"}";
    hookrun_t want = s_reference (c, "--agent", "gemini", gemini, NULL);
    assert_int_equal (want.status, 2);
    assert_non_null (strstr (want.out, "\"decision\":\"deny\""));
    const char *args[] = {"--agent", "gemini", NULL};
    const char *env_timeout[] = {s_socket_env (h.socket), "LH_HOOK_TIMEOUT_MS=5000", NULL};
    hookrun_t got = s_run (&s_prog_hook, c->dir, args, env_timeout, gemini, NULL);
    s_assert_same (&got, &want);
    hookrun_free (&got);
    hookrun_free (&want);

    //  Three calls went through it, each answered
    assert_int_equal (s_metric_wait (&h, "calls_total", 3, 5000), 3);
    assert_int_equal (s_metric_wait (&h, "answered_total", 3, 5000), 3);
    assert_int_equal (s_metric_wait (&h, "brokers_up", 1, 5000), 1);
    s_hookd_stop (
        &h, "accepted=3 calls=3 answered=3 errors=0 timeouts=0 bad_frames=0 refused=0 open=0");
    cluster_destroy (&c);
}

//  --------------------------------------------------------------------------
//  2. Without lh-hookd, and with options, lh-hook hands the call to lh hook

static void
test_fallback (void **state)
{
    (void) state;
    cluster_t *c = s_cluster (NULL);
    broker_env_t be;
    s_broker_env (c, &be);
    //  Nothing at the socket path (its directory does not even exist)
    char missing[300];
    snprintf (missing, sizeof (missing), "%s/none/hookd.sock", c->dir);
    const char *env_missing[] = {s_socket_env (missing), be.broker, be.key, be.cert, NULL};
    s_hook_same (c, env_missing, NULL, NULL, BASH_ALLOWED, "allow");
    s_hook_same (c, env_missing, NULL, NULL, BASH_DENIED, "deny");

    //  A socket file that nobody listens on (an lh-hookd that died)
    char stale[300];
    snprintf (stale, sizeof (stale), "%s/stale.sock", c->dir);
    int fd = socket (AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf (addr.sun_path, sizeof (addr.sun_path), "%.107s", stale);
    assert_int_equal (bind (fd, (struct sockaddr *) &addr, sizeof (addr)), 0);
    close (fd);
    assert_true (s_exists (stale));
    const char *env_stale[] = {s_socket_env (stale), be.broker, be.key, be.cert, NULL};
    s_hook_same (c, env_stale, NULL, NULL, BASH_ALLOWED, "allow");
    s_hook_same (c, env_stale, NULL, NULL, BASH_DENIED, "deny");

    //  With lh-hookd running, --env FILE goes to lh hook all the same
    hookd_t h;
    s_hookd_start (c, &h, "hookd", false);
    const char *env_hookd[] = {s_socket_env (h.socket), NULL};
    s_hook_same (c, env_hookd, NULL, NULL, BASH_ALLOWED, "allow");
    s_hook_same (c, env_hookd, "--env", hookrun_env_file (c, "agent-1"), BASH_ALLOWED, "allow");
    s_hook_same (c, env_hookd, "--env", hookrun_env_file (c, "agent-1"), BASH_DENIED, "deny");
    //  Only the first call was its: --env never connects
    s_hookd_stop (&h, "accepted=1 calls=1 answered=1");
    cluster_destroy (&c);
}

//  --------------------------------------------------------------------------
//  3. Only one's own uid, or root, is served and trusted

//  Runs fn in a child with uid/gid; its exit status (or 128 + signal)
static int
s_as_user (uid_t uid, gid_t gid, int (*fn) (void *), void *arg)
{
    fflush (NULL);
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        if (hookrun_become (uid, gid) != 0)
            _exit (125);
        _exit (fn (arg));
    }
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

static int
s_can_run_hookd (void *arg)
{
    (void) arg;
    return access (LH_HOOKD_BIN, X_OK) == 0 ? 0 : 1;
}

//  As another uid: connects to the socket and sends a whole frame. 0 when
//  lh-hookd closed without a reply, 1 a reply, 2 no connection, 3 silence.
static int
s_foreign_client (void *arg)
{
    const char *path = (const char *) arg;
    int fd = s_raw_connect (path);
    if (fd < 0) {
        fprintf (stderr, "foreign client: connect %s: %s\n", path, strerror (errno));
        return 2;
    }
    uint8_t frame[64], body[32];
    //  {"tool": "Bash"}
    size_t body_size = 0;
    body[body_size++] = 0x81;
    body[body_size++] = 0xa4;
    memcpy (body + body_size, "tool", 4), body_size += 4;
    body[body_size++] = 0xa4;
    memcpy (body + body_size, "Bash", 4), body_size += 4;
    size_t size = 8 + body_size;
    s_put32 (frame, (uint32_t) (4 + body_size));
    s_put32 (frame + 4, 2000);
    memcpy (frame + 8, body, body_size);
    if (send (fd, frame, size, MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET)
        return 2;
    struct pollfd item = {.fd = fd, .events = POLLIN};
    if (poll (&item, 1, 5000) <= 0)
        return 3;
    char byte;
    ssize_t n = recv (fd, &byte, 1, 0);
    close (fd);
    return n > 0 ? 1 : 0;
}

//  The users of the uid tests: lh-hookd's (nobody) and an agent's (daemon)
typedef struct {
    uid_t nobody_uid, daemon_uid;
    gid_t nobody_gid, daemon_gid;
} users_t;

//  Skips test unless it runs as root, with users nobody and daemon and
//  nobody able to run lh-hookd; their ids into u
static void
s_users (const char *test, users_t *u)
{
    if (geteuid () != 0) {
        print_message ("%s: skipped, it needs root (to run lh-hookd as nobody)\n", test);
        skip ();
    }
    //  getpwnam's answer is overwritten by the next call: copied at once
    struct passwd *user = getpwnam ("nobody");
    u->nobody_uid = user ? user->pw_uid : 0;
    u->nobody_gid = user ? user->pw_gid : 0;
    user = getpwnam ("daemon");
    u->daemon_uid = user ? user->pw_uid : 0;
    u->daemon_gid = user ? user->pw_gid : 0;
    if (u->nobody_uid == 0 || u->daemon_uid == 0 || u->nobody_uid == u->daemon_uid) {
        print_message ("%s: skipped, no users nobody and daemon\n", test);
        skip ();
    }
    if (s_as_user (u->nobody_uid, u->nobody_gid, s_can_run_hookd, NULL) != 0) {
        print_message ("%s: skipped, nobody cannot run %s\n", test, LH_HOOKD_BIN);
        skip ();
    }
}

//  nobody's corner of the cluster's directory (made 0711, so that others
//  reach into it): the paths of its home DIR/nobody, its socket directory
//  and socket (neither made), and its copy of the agent's key
typedef struct {
    char home[300], sock_dir[320], cert[340], socket[340];
} nobody_home_t;

//  Makes home (with mode, nobody's) and the key in it (0600, nobody's)
static void
s_nobody_home (cluster_t *c, const users_t *u, mode_t mode, nobody_home_t *home)
{
    assert_int_equal (chmod (c->dir, 0711), 0);
    snprintf (home->home, sizeof (home->home), "%s/nobody", c->dir);
    snprintf (home->sock_dir, sizeof (home->sock_dir), "%s/sock", home->home);
    snprintf (home->cert, sizeof (home->cert), "%s/agent.cert_secret", home->home);
    snprintf (home->socket, sizeof (home->socket), "%s/hookd.sock", home->sock_dir);
    assert_int_equal (mkdir (home->home, mode), 0);
    char source[300];
    snprintf (source, sizeof (source), "%s/agent-1.cert_secret", c->dir);
    char *key = hookrun_slurp (source);
    assert_true (strlen (key) > 0);
    hookrun_write (home->cert, key, strlen (key));
    free (key);
    assert_int_equal (chmod (home->cert, 0600), 0);
    assert_int_equal (chown (home->cert, u->nobody_uid, u->nobody_gid), 0);
    assert_int_equal (chown (home->home, u->nobody_uid, u->nobody_gid), 0);
}

static void
test_foreign_uid (void **state)
{
    (void) state;
    users_t u;
    s_users ("test_foreign_uid", &u);
    cluster_t *c = s_cluster (NULL);
    //  nobody's corner of the cluster's directory: its key, its socket
    //  directory (0755: nobody's alone to write, others may reach the socket)
    nobody_home_t home;
    s_nobody_home (c, &u, 0755, &home);
    const char *socket = home.socket;
    assert_int_equal (mkdir (home.sock_dir, 0755), 0);
    assert_int_equal (chown (home.sock_dir, u.nobody_uid, u.nobody_gid), 0);

    hookd_t h;
    s_hookd_start_as (c, &h, "hookd-nobody", socket, u.nobody_uid, u.nobody_gid, home.cert, false);
    struct stat st;
    assert_int_equal (lstat (socket, &st), 0);
    assert_int_equal (st.st_uid, u.nobody_uid);

    //  lh-hook, as root, does not ask nobody's lh-hookd: lh hook answers
    broker_env_t be;
    s_broker_env (c, &be);
    const char *env[] = {s_socket_env (socket), be.broker, be.key, be.cert, NULL};
    s_hook_same (c, env, NULL, NULL, BASH_ALLOWED, "allow");
    s_hook_same (c, env, NULL, NULL, BASH_DENIED, "deny");

    //  A third uid that can reach the socket is refused without a reply
    assert_int_equal (chmod (socket, 0666), 0);
    assert_int_equal (s_as_user (u.daemon_uid, u.daemon_gid, s_foreign_client, home.socket), 0);

    //  lh-hook hung up as soon as it saw the uid: nothing was asked
    s_hookd_stop (&h, "calls=0 answered=0 bad_frames=0 refused=1");
    char *log = hookrun_slurp (h.log);
    char refused[64];
    snprintf (refused, sizeof (refused), "msg=\"peer refused\" uid=%u", (unsigned) u.daemon_uid);
    assert_non_null (strstr (log, refused));
    free (log);
    cluster_destroy (&c);
}

//  lh-hookd as a user of its own (nobody) serving an agent's user (daemon)
//  that --allow-uid names; that agent's lh-hook, told LH_HOOKD_UID, asks it
//  and no one else
static void
test_dedicated_user (void **state)
{
    (void) state;
    users_t u;
    s_users ("test_dedicated_user", &u);
    cluster_t *c = s_cluster (NULL);
    nobody_home_t home;
    s_nobody_home (c, &u, 0711, &home);
    const char *socket = home.socket;
    //  The agent's working directory
    char work[320];
    snprintf (work, sizeof (work), "%s/daemon", c->dir);
    assert_int_equal (mkdir (work, 0755), 0);
    assert_int_equal (chown (work, u.daemon_uid, u.daemon_gid), 0);

    //  lh-hookd makes its directory 0711 and its socket 0666 for others to reach
    hookd_t h;
    s_hookd_extra[0] = "--allow-uid";
    s_hookd_extra[1] = "daemon";
    s_hookd_start_as (c, &h, "hookd-dedicated", socket, u.nobody_uid, u.nobody_gid, home.cert,
                      false);
    s_hookd_extra[0] = s_hookd_extra[1] = NULL;
    struct stat st;
    assert_int_equal (lstat (home.sock_dir, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0711);
    assert_int_equal (lstat (socket, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0666);

    //  The agent (daemon) pins lh-hookd's uid: served, and the decisions are lh hook's
    char pin[64], sock_env[400];
    snprintf (pin, sizeof (pin), "LH_HOOKD_UID=%u", (unsigned) u.nobody_uid);
    snprintf (sock_env, sizeof (sock_env), "LH_HOOKD_SOCKET=%s", socket);
    const char *env[] = {sock_env, pin, NULL};
    const hookrun_prog_t as_daemon = {
        .bin = LH_HOOK_BIN, .isolated = true, .uid = u.daemon_uid, .gid = u.daemon_gid};
    hookrun_t allowed = s_run (&as_daemon, work, NULL, env, NULL, BASH_ALLOWED);
    hookrun_t denied = s_run (&as_daemon, work, NULL, env, NULL, BASH_DENIED);
    //  Unpinned, nobody's lh-hookd is neither daemon nor root: not asked, and
    //  lh hook (no broker settings here) fails closed
    const char *unpinned[] = {sock_env, NULL};
    hookrun_t refused = s_run (&as_daemon, work, NULL, unpinned, NULL, BASH_ALLOWED);
    //  Pinned to another uid (root's): not asked either
    const char *wrong[] = {sock_env, "LH_HOOKD_UID=0", NULL};
    hookrun_t mismatch = s_run (&as_daemon, work, NULL, wrong, NULL, BASH_ALLOWED);
    if (allowed.status != 0 || denied.status != 2) {
        s_dump ("allowed", &allowed);
        s_dump ("denied", &denied);
    }
    assert_int_equal (allowed.status, 0);
    assert_non_null (strstr (allowed.out, "\"permissionDecision\":\"allow\""));
    assert_int_equal (denied.status, 2);
    assert_int_equal (refused.status, 2);
    assert_non_null (strstr (refused.err, "failing closed"));
    assert_int_equal (mismatch.status, 2);
    s_hookd_stop (&h, "calls=2 answered=2 refused=0");
    hookrun_free (&allowed);
    hookrun_free (&denied);
    hookrun_free (&refused);
    hookrun_free (&mismatch);
    cluster_destroy (&c);
}

//  --------------------------------------------------------------------------
//  4. lh-hookd stopped: lh-hook fails closed by its own deadline

static void
test_hookd_stopped (void **state)
{
    (void) state;
    cluster_t *c = s_cluster (NULL);
    hookd_t h;
    s_hookd_start (c, &h, "hookd", false);
    const char *env[] = {s_socket_env (h.socket), NULL};
    assert_int_equal (kill (h.pid, SIGSTOP), 0);
    const char *env_short[] = {s_socket_env (h.socket), "LH_HOOK_TIMEOUT_MS=500", NULL};
    hookrun_t r = s_run (&s_prog_hook, c->dir, NULL, env_short, NULL, BASH_ALLOWED);
    assert_int_equal (kill (h.pid, SIGCONT), 0);
    s_assert_blocked (&r, "lh-hookd did not answer");
    //  It waited its 500 ms and lh-hookd's second of grace
    if (r.elapsed_ms < 1000 || r.elapsed_ms > 10000) {
        s_dump ("lh-hook", &r);
        fail_msg ("answered after %lld ms", (long long) r.elapsed_ms);
    }
    hookrun_free (&r);
    //  Running again, it serves
    s_hook_same (c, env, NULL, NULL, BASH_ALLOWED, "allow");
    //  The abandoned call, found with its whole frame and a hang-up, was
    //  read, sent and forgotten: nothing is left open
    s_hookd_stop (&h, "accepted=2 calls=2 open=0 answered>=1");
    cluster_destroy (&c);
}

//  --------------------------------------------------------------------------
//  5. lh-hookd killed while a call waits: lh hook takes the call over

static void
test_hookd_killed (void **state)
{
    (void) state;
    pid_t validator;
    cluster_t *c = s_cluster (&validator);
    hookd_t h;
    s_hookd_start (c, &h, "hookd", true);
    const char *env[] = {s_socket_env (h.socket), NULL};
    s_hook_same (c, env, NULL, NULL, BASH_ALLOWED, "allow");
    //  The validator paused: the next call waits in lh-hookd
    assert_int_equal (kill (validator, SIGSTOP), 0);
    broker_env_t be;
    s_broker_env (c, &be);
    const char *env_wait[] = {
        s_socket_env (h.socket), "LH_HOOK_TIMEOUT_MS=3000", be.broker, be.key, be.cert, NULL};
    int64_t start = zclock_mono ();
    pid_t pid = hookrun_spawn (&s_prog_hook, c->dir, NULL, env_wait,
                               s_stdin (c->dir, NULL, BASH_ALLOWED), -1);
    long calls = s_metric_wait (&h, "calls_total", 2, 2500);
    assert_int_equal (kill (h.pid, SIGKILL), 0);
    assert_int_equal (waitpid (h.pid, NULL, 0), h.pid);
    s_child_forget (h.pid);
    h.pid = 0;
    hookrun_t r = {0};
    hookrun_collect (c->dir, pid, start, &r);
    assert_int_equal (calls, 2);
    //  lh hook's own answer: its deadline passed with the validator still stopped
    s_assert_blocked (&r, "validate answered");
    if (strstr (r.err, "lh-hookd") || strstr (r.err, "hook's deadline")) {
        s_dump ("lh-hook", &r);
        fail_msg ("lh-hook answered itself instead of handing the call to lh hook");
    }
    hookrun_free (&r);
    assert_int_equal (kill (validator, SIGCONT), 0);
    assert_true (cluster_wait_workers (c, "validate", 1, 10000));

    //  The dead lh-hookd's socket is left; a new lh-hookd replaces it
    assert_true (s_exists (h.socket));
    hookd_t again;
    s_hookd_start (c, &again, "hookd", false);
    s_hook_same (c, env, NULL, NULL, BASH_DENIED, "deny");
    s_hookd_stop (&again, "calls=1");
    cluster_destroy (&c);
}

//  --------------------------------------------------------------------------
//  6. Malformed frames

static void
test_bad_frames (void **state)
{
    (void) state;
    cluster_t *c = s_cluster (NULL);
    hookd_t h;
    s_hookd_start (c, &h, "hookd", false);
    static uint8_t frame[256], body[200];
    char code[64], decision[32];

    //  The control: a well-formed frame is answered with the decision
    size_t body_size = s_body ("{\"tool\":\"Bash\",\"input\":{\"command\":\"ls -la\"},"
                               "\"cwd\":\"/work/p\",\"home\":\"/home/dev\"}",
                               body, sizeof (body));
    size_t good = s_frame (frame, sizeof (frame), 5000, body, body_size);
    assert_int_equal (
        s_raw (h.socket, frame, good, false, code, sizeof (code), decision, sizeof (decision)),
        RAW_REPLY);
    assert_string_equal (code, "ok");
    assert_string_equal (decision, "allow");

    //  Lengths: 0, 4 (a deadline and no body), over HOOK_WIRE_MAX
    uint8_t head[8] = {0};
    s_expect_bad_request (h.socket, "length 0", head, 4);
    s_put32 (head, 4);
    s_put32 (head + 4, 1000);
    s_expect_bad_request (h.socket, "length 4", head, 8);
    s_put32 (head, LH_MAX_BODY + 5);
    s_expect_bad_request (h.socket, "length over 1 MiB + 4", head, 4);
    //  Not a frame at all: its first bytes are a length over the limit
    const char *garbage = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    s_expect_bad_request (h.socket, "garbage", garbage, strlen (garbage));
    //  Deadlines: 0, and over LH_HOOK_TIMEOUT_MS + LH_HOOK_WAIT_MS at most
    size_t size = s_frame (frame, sizeof (frame), 0, body, body_size);
    s_expect_bad_request (h.socket, "deadline 0", frame, size);
    size = s_frame (frame, sizeof (frame), 80001, body, body_size);
    s_expect_bad_request (h.socket, "deadline 80001", frame, size);
    //  Bodies: a msgpack array, and bytes that are not msgpack
    const uint8_t array[] = {0x92, 0x01, 0x02};
    size = s_frame (frame, sizeof (frame), 1000, array, sizeof (array));
    s_expect_bad_request (h.socket, "array body", frame, size);
    const uint8_t not_msgpack[] = {0xc1, 0xc1, 0xc1, 0xc1};
    size = s_frame (frame, sizeof (frame), 1000, not_msgpack, sizeof (not_msgpack));
    s_expect_bad_request (h.socket, "not msgpack", frame, size);
    //  A map cut short
    const uint8_t short_map[] = {0x82, 0xa4, 't', 'o'};
    size = s_frame (frame, sizeof (frame), 1000, short_map, sizeof (short_map));
    s_expect_bad_request (h.socket, "map cut short", frame, size);

    //  Half a frame, then a hang-up: nothing to answer, the connection closed
    s_put32 (frame, 100);
    assert_int_equal (s_raw (h.socket, frame, 20, true, code, sizeof (code), NULL, 0), RAW_CLOSED);
    //  A whole frame and a byte more: the call is dropped, no reply
    s_frame (frame, sizeof (frame), 5000, body, body_size);
    frame[good] = '!';
    assert_int_equal (s_raw (h.socket, frame, good + 1, false, code, sizeof (code), NULL, 0),
                      RAW_CLOSED);

    //  lh-hookd still serves lh-hook
    const char *env[] = {s_socket_env (h.socket), NULL};
    s_hook_same (c, env, NULL, NULL, BASH_ALLOWED, "allow");
    s_hook_same (c, env, NULL, NULL, BASH_DENIED, "deny");
    //  Bad frames: 9 answered bad_request, 1 a byte too long. Calls: the
    //  control, the frame with a byte more and lh-hook's two
    s_hookd_stop (&h, "bad_frames=10 calls=4 answered=3 accepted=14 open=0");
    cluster_destroy (&c);
}

//  --------------------------------------------------------------------------
//  7. Start-up refusals, and --help

//  An lh-hookd that must refuse to start, logging why
static void
s_expect_refusal (cluster_t *c, const char *name, const char *socket, const char *why)
{
    hookd_t h;
    s_hookd_spawn (c, &h, name, socket, 0, 0, NULL, false);
    int status = s_wait_exit (h.pid, START_WAIT_MS);
    if (status == -1)
        fail_msg ("%s: lh-hookd did not refuse to start", name);
    char *log = hookrun_slurp (h.log);
    if (!WIFEXITED (status) || WEXITSTATUS (status) == 0 || !strstr (log, why) ||
        strstr (log, "msg=\"serving\"")) {
        fprintf (stderr, "%s", log);
        fail_msg ("%s: expected exit 1 and '%s' (status 0x%x)", name, why, status);
    }
    free (log);
}

static void
test_startup_refusals (void **state)
{
    (void) state;
    cluster_t *c = s_cluster (NULL);
    //  A directory anyone may write: someone could put their socket there
    char dir[300], socket[320];
    snprintf (dir, sizeof (dir), "%s/open", c->dir);
    snprintf (socket, sizeof (socket), "%s/hookd.sock", dir);
    assert_int_equal (mkdir (dir, 0700), 0);
    assert_int_equal (chmod (dir, 0777), 0);
    s_expect_refusal (c, "hookd-open", socket, "msg=\"socket directory refused\"");
    assert_false (s_exists (socket));
    assert_int_equal (s_raw_connect (socket), -1);
    //  Group-writable: the same
    assert_int_equal (chmod (dir, 0770), 0);
    s_expect_refusal (c, "hookd-group", socket, "msg=\"socket directory refused\"");
    assert_false (s_exists (socket));
    //  Another user's directory
    if (geteuid () == 0) {
        assert_int_equal (chmod (dir, 0700), 0);
        assert_int_equal (chown (dir, 65534, 65534), 0);
        s_expect_refusal (c, "hookd-theirs", socket, "msg=\"socket directory refused\"");
        assert_false (s_exists (socket));
    }

    //  A live lh-hookd's socket is not taken over
    hookd_t first;
    s_hookd_start (c, &first, "hookd", false);
    s_expect_refusal (c, "hookd-second", first.socket, "msg=\"socket in use\"");
    assert_true (s_exists (first.socket));
    const char *env[] = {s_socket_env (first.socket), NULL};
    s_hook_same (c, env, NULL, NULL, BASH_ALLOWED, "allow");
    s_hookd_stop (&first, "calls=1 answered=1");
    cluster_destroy (&c);
}

static void
test_help (void **state)
{
    (void) state;
    char dir[] = "/tmp/lh-hookd-XXXXXX";
    assert_non_null (mkdtemp (dir));
    const char *args[] = {"--help", NULL};
    hookrun_t r = s_run (&s_prog_hookd, dir, args, NULL, "", NULL);
    assert_int_equal (r.status, 0);
    const char *options[] = {"--socket",  "--broker ",   "--broker-key", "--cert", "--max-clients",
                             "--metrics", "--log-level", "-c, --config", "--set"};
    for (size_t i = 0; i < sizeof (options) / sizeof (options[0]); i++)
        if (!strstr (r.out, options[i]))
            fail_msg ("lh-hookd --help does not name %s:\n%s", options[i], r.out);
    hookrun_free (&r);
    //  A usage error is not a start
    const char *bad[] = {"--no-such-option", NULL};
    r = s_run (&s_prog_hookd, dir, bad, NULL, "", NULL);
    assert_int_not_equal (r.status, 0);
    hookrun_free (&r);
    char command[300];
    snprintf (command, sizeof (command), "rm -rf '%s'", dir);
    assert_int_equal (system (command), 0);
}

//  --------------------------------------------------------------------------
//  8. SIGTERM: exit 0, no socket left, open calls told

static void
test_sigterm (void **state)
{
    (void) state;
    pid_t validator;
    cluster_t *c = s_cluster (&validator);
    hookd_t h;
    s_hookd_start (c, &h, "hookd", true);
    //  A call held (the validator paused) when SIGTERM comes: answered at
    //  once, and lh-hook fails closed
    assert_int_equal (kill (validator, SIGSTOP), 0);
    const char *env[] = {s_socket_env (h.socket), "LH_HOOK_TIMEOUT_MS=20000", NULL};
    int64_t start = zclock_mono ();
    pid_t pid =
        hookrun_spawn (&s_prog_hook, c->dir, NULL, env, s_stdin (c->dir, NULL, BASH_ALLOWED), -1);
    assert_int_equal (s_metric_wait (&h, "calls_total", 1, 5000), 1);
    assert_int_equal (s_metric_wait (&h, "open", 1, 5000), 1);
    s_hookd_stop (&h, "open=1 answered=0");
    hookrun_t r = {0};
    hookrun_collect (c->dir, pid, start, &r);
    s_assert_blocked (&r, "validate answered unavailable: lh-hookd is stopping");
    assert_true (r.elapsed_ms < 15000);
    hookrun_free (&r);
    assert_int_equal (kill (validator, SIGCONT), 0);
    //  Idle, the same: exit 0, the socket gone (s_hookd_stop asserts both)
    s_hookd_start (c, &h, "hookd", false);
    assert_true (s_exists (h.socket));
    s_hookd_stop (&h, "calls=0");
    cluster_destroy (&c);
}

//  --------------------------------------------------------------------------
//  9. lh-hook is a static binary

static void
test_static_binary (void **state)
{
    (void) state;
#if defined(LH_SANITIZED)
    print_message ("test_static_binary: skipped under the sanitizers (lh-hook links them)\n");
    skip ();
#elif !defined(LH_HOOK_STATIC)
    print_message ("test_static_binary: skipped, this build links lh-hook dynamically "
                   "(no static msgpack-c, jansson or libsodium archives)\n");
    skip ();
#else
    char command[600];
    snprintf (command, sizeof (command), "ldd '%s' 2>&1", LH_HOOK_BIN);
    FILE *pipe = popen (command, "r");
    assert_non_null (pipe);
    char out[4096];
    size_t n = fread (out, 1, sizeof (out) - 1, pipe);
    out[n] = 0;
    pclose (pipe);
    if (!strstr (out, "not a dynamic executable"))
        fail_msg ("ldd %s:\n%s", LH_HOOK_BIN, out);
#endif
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_help),
        cmocka_unit_test (test_static_binary),
        cmocka_unit_test_teardown (test_decisions_match, s_teardown),
        cmocka_unit_test_teardown (test_fallback, s_teardown),
        cmocka_unit_test_teardown (test_foreign_uid, s_teardown),
        cmocka_unit_test_teardown (test_dedicated_user, s_teardown),
        cmocka_unit_test_teardown (test_hookd_stopped, s_teardown),
        cmocka_unit_test_teardown (test_hookd_killed, s_teardown),
        cmocka_unit_test_teardown (test_bad_frames, s_teardown),
        cmocka_unit_test_teardown (test_startup_refusals, s_teardown),
        cmocka_unit_test_teardown (test_sigterm, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
