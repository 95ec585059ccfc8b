/*  Integration tests: lh-chaos, the fault proxy, as a real process between
    real sockets: a Lighthouse client talking to the broker through it
    (latency, black hole, reset, each switched at run time with lh chaos),
    and raw TCP through it to an echo server in this process (slicer,
    limit). Bad orders are refused and change nothing; SIGTERM ends it. */
#include "harness.h"

#include "codec.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <cmocka.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

//  A TCP echo server on a thread: one connection at a time
static int s_echo_listener = -1;

static void *
s_echo_thread (void *arg)
{
    (void) arg;
    while (true) {
        int fd = accept (s_echo_listener, NULL, NULL);
        if (fd < 0)
            return NULL;
        char buf[4096];
        ssize_t n;
        while ((n = recv (fd, buf, sizeof (buf), 0)) > 0)
            if (send (fd, buf, (size_t) n, MSG_NOSIGNAL) != n)
                break;
        close (fd);
    }
}

static int
s_echo_start (pthread_t *thread)
{
    s_echo_listener = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    assert_int_equal (bind (s_echo_listener, (struct sockaddr *) &addr, sizeof (addr)), 0);
    assert_int_equal (listen (s_echo_listener, 8), 0);
    socklen_t len = sizeof (addr);
    getsockname (s_echo_listener, (struct sockaddr *) &addr, &len);
    assert_int_equal (pthread_create (thread, NULL, s_echo_thread, NULL), 0);
    return ntohs (addr.sin_port);
}

static int
s_port_of (const char *endpoint)
{
    const char *colon = strrchr (endpoint, ':');
    return colon ? atoi (colon + 1) : -1;
}

//  Runs lh chaos ARGS against control; returns its exit status, output in out
static int
s_chaos (const char *control, const char *args, char *out, size_t size)
{
    char command[1024];
    snprintf (command, sizeof (command), "'%s' chaos --control '%s' %s 2>&1", LH_CLI_BIN, control,
              args);
    FILE *p = popen (command, "r");
    assert_non_null (p);
    size_t n = fread (out, 1, size - 1, p);
    out[n] = 0;
    int status = pclose (p);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

//  The port lh-chaos gave link name (its "listen" in list)
static int
s_link_port (const char *control, const char *name)
{
    char out[8192], key[64];
    for (int i = 0; i < 50; i++) {
        if (s_chaos (control, "list", out, sizeof (out)) == 0)
            break;
        zclock_sleep (100);
    }
    snprintf (key, sizeof (key), "\"name\":\"%s\",\"listen\":\"127.0.0.1:", name);
    const char *at = strstr (out, key);
    if (!at)
        fail_msg ("no link %s in: %s", name, out);
    return atoi (at + strlen (key));
}

static lh_reply_t *
s_echo_via (cluster_t *c, int port, int timeout_ms)
{
    lh_connect_t conn = cluster_connect (c, c->admin, false);
    char endpoint[64];
    snprintf (endpoint, sizeof (endpoint), "tcp://127.0.0.1:%d", port);
    conn.endpoint = endpoint;
    lh_client_t *client = lh_client_new (&conn);
    lh_client_set_timeout (client, timeout_ms);
    lh_client_set_retries (client, 0);
    lh_reply_t *reply = lh_client_call (client, "echo", "\x81\xa1x\x01", 4);
    lh_client_destroy (&client);
    assert_non_null (reply);
    return reply;
}

//  Sends len bytes through port and reads them back; the ms it took, or -1
//  when the connection ended first
static int64_t
s_raw_round_trip (int port, size_t len)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) port)};
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    assert_int_equal (connect (fd, (struct sockaddr *) &addr, sizeof (addr)), 0);
    struct timeval tv = {5, 0};
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof (tv));
    char buf[4096];
    memset (buf, 'c', sizeof (buf));
    int64_t start = zclock_mono ();
    if (send (fd, buf, len, MSG_NOSIGNAL) != (ssize_t) len) {
        close (fd); //  reset before a byte went
        return -1;
    }
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv (fd, buf, sizeof (buf), 0);
        if (n <= 0)
            break;
        got += (size_t) n;
    }
    close (fd);
    return got == len ? zclock_mono () - start : -1;
}

static void
test_proxy (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    cluster_start_echo (c, "echo", true);
    pthread_t thread;
    int echo_port = s_echo_start (&thread);
    char links[256], control[300], log[300];
    snprintf (links, sizeof (links), "front=127.0.0.1:0>127.0.0.1:%d,raw=127.0.0.1:0>127.0.0.1:%d",
              s_port_of (c->frontend), echo_port);
    snprintf (control, sizeof (control), "ipc://%s/chaos.ctl", c->dir);
    snprintf (log, sizeof (log), "%s/chaos.log", c->dir);
    char *argv[] = {(char *) LH_CHAOS_BIN, "--links", links, "--control", control, NULL};
    pid_t chaos = launcher_spawn (c->launcher, "chaos", argv, log, -1, -1);
    assert_true (chaos > 0);
    int front = s_link_port (control, "front");
    int raw = s_link_port (control, "raw");
    char out[8192];

    //  Through the proxy, untouched
    lh_reply_t *reply = s_echo_via (c, front, 3000);
    cluster_expect_ok (reply);
    lh_reply_destroy (&reply);

    //  150 ms each way: a round trip takes at least 300 ms
    assert_int_equal (s_chaos (control, "add front slow latency both ms=150", out, sizeof (out)),
                      0);
    reply = s_echo_via (c, front, 5000);
    cluster_expect_ok (reply);
    assert_true (lh_reply_rtt_us (reply) >= 300 * 1000);
    lh_reply_destroy (&reply);
    assert_int_equal (s_chaos (control, "remove front slow", out, sizeof (out)), 0);

    //  A black hole: no answer, and the client fails closed at its deadline
    assert_int_equal (s_chaos (control, "add front hole blackhole up", out, sizeof (out)), 0);
    reply = s_echo_via (c, front, 700);
    assert_int_equal (lh_reply_code (reply), LH_E_TIMEOUT);
    lh_reply_destroy (&reply);
    assert_int_equal (s_chaos (control, "clear front", out, sizeof (out)), 0);
    reply = s_echo_via (c, front, 3000);
    cluster_expect_ok (reply);
    lh_reply_destroy (&reply);

    //  A reset: connections refused until it is removed
    assert_int_equal (s_chaos (control, "add raw cut reset both", out, sizeof (out)), 0);
    assert_true (s_raw_round_trip (raw, 10) < 0);
    assert_int_equal (s_chaos (control, "remove raw cut", out, sizeof (out)), 0);
    assert_true (s_raw_round_trip (raw, 10) >= 0);

    //  A slicer: 1000 bytes in 100-byte pieces 30 ms apart, all of them
    assert_int_equal (
        s_chaos (control, "add raw thin slicer up bytes=100 delay=30", out, sizeof (out)), 0);
    int64_t took = s_raw_round_trip (raw, 1000);
    assert_true (took >= 270);
    assert_int_equal (s_chaos (control, "clear raw", out, sizeof (out)), 0);
    //  A limit: the connection closes after 50 bytes
    assert_int_equal (s_chaos (control, "add raw cap limit down bytes=50", out, sizeof (out)), 0);
    assert_true (s_raw_round_trip (raw, 200) < 0);
    assert_int_equal (s_chaos (control, "clear all", out, sizeof (out)), 0);
    assert_true (s_raw_round_trip (raw, 200) >= 0);

    //  Bad orders: refused, nothing changed
    assert_int_equal (s_chaos (control, "add nowhere x latency up ms=1", out, sizeof (out)), 1);
    assert_non_null (strstr (out, "no link"));
    assert_int_equal (s_chaos (control, "add raw x latency sideways", out, sizeof (out)), 1);
    assert_int_equal (s_chaos (control, "add raw x latency up ms=5 jitter=9", out, sizeof (out)),
                      1);
    assert_int_equal (s_chaos (control, "remove raw ghost", out, sizeof (out)), 1);
    assert_int_equal (s_chaos (control, "teleport", out, sizeof (out)), 1);
    assert_int_equal (s_chaos (control, "list", out, sizeof (out)), 0);
    assert_null (strstr (out, "\"kind\""));

    int status = launcher_signal (c->launcher, chaos, SIGTERM);
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    shutdown (s_echo_listener, SHUT_RDWR);
    close (s_echo_listener);
    pthread_join (thread, NULL);
    cluster_destroy (&c);
}

//  Refused at start: no links, a bad link, a control endpoint others can reach
static void
test_bad_start (void **state)
{
    (void) state;
    const char *cases[][2] = {
        {"", "tcp://127.0.0.1:7711"},
        {"a=127.0.0.1:0", "tcp://127.0.0.1:7711"},
        {"a=999.0.0.1:0>127.0.0.1:1", "tcp://127.0.0.1:7711"},
        {"a=127.0.0.1:0>127.0.0.1:1,a=127.0.0.1:0>127.0.0.1:2", "tcp://127.0.0.1:7711"},
        {"a=127.0.0.1:0>127.0.0.1:1", "tcp://0.0.0.0:7711"},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        char command[512];
        snprintf (command, sizeof (command), "'%s' --links '%s' --control '%s' >/dev/null 2>&1",
                  LH_CHAOS_BIN, cases[i][0], cases[i][1]);
        int status = system (command);
        if (!WIFEXITED (status) || WEXITSTATUS (status) == 0)
            fail_msg ("lh-chaos started with --links '%s' --control '%s'", cases[i][0],
                      cases[i][1]);
    }
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown (test_proxy, cluster_teardown),
        cmocka_unit_test (test_bad_start),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
