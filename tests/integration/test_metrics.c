/*  Integration tests: every daemon's --metrics, scraped over HTTP and read
    with the Prometheus client library's own text-format parser
    (tests/interop/scrape_metrics.py): broker, validator, lh-expert,
    lh-cache and an integrity replica, after real requests. Anything but GET /metrics is 404; a
    listen address that is not one is refused at start. */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

//  A loopback port nobody listens on now
static int
s_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    assert_int_equal (bind (fd, (struct sockaddr *) &addr, sizeof (addr)), 0);
    socklen_t len = sizeof (addr);
    getsockname (fd, (struct sockaddr *) &addr, &len);
    close (fd);
    return ntohs (addr.sin_port);
}

//  The first line of the answer to request on port
static void
s_http (int port, const char *request, char *line, size_t size)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) port)};
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    assert_int_equal (connect (fd, (struct sockaddr *) &addr, sizeof (addr)), 0);
    assert_true (send (fd, request, strlen (request), 0) > 0);
    ssize_t n = recv (fd, line, size - 1, MSG_WAITALL);
    line[n > 0 ? n : 0] = 0;
    char *eol = strstr (line, "\r\n");
    if (eol)
        *eol = 0;
    close (fd);
}

static void
test_scrape (void **state)
{
    (void) state;
    int ports[5];
    for (int i = 0; i < 5; i++)
        ports[i] = s_free_port ();
    char set[64], args[256];
    snprintf (set, sizeof (set), "broker/metrics=127.0.0.1:%d", ports[0]);
    cluster_t *c = cluster_new ("    validate\n    expert\n        timeout = 10000\n", set);
    snprintf (args, sizeof (args), "--metrics 127.0.0.1:%d", ports[4]);
    cluster_start_integrity (c, 1, args);
    snprintf (args, sizeof (args), "--metrics 127.0.0.1:%d", ports[3]);
    cluster_start_cache (c, args);
    snprintf (args, sizeof (args), "--frontend %s --metrics 127.0.0.1:%d", c->frontend, ports[2]);
    cluster_start_expert (c, args);
    snprintf (args, sizeof (args), "--metrics 127.0.0.1:%d", ports[1]);
    cluster_start_validator_logging (c, LH_DEFAULT_POLICY, args);
    const char *requests[] = {
        "{\"tool\":\"Bash\",\"input\":{\"command\":\"ls -la\"},\"cwd\":\"/w\"}",
        "{\"tool\":\"Bash\",\"input\":{\"command\":\"sudo systemctl restart x\"},\"cwd\":\"/w\"}",
        "{\"tool\":\"Bash\",\"input\":{\"command\":\"rm -rf /\"},\"cwd\":\"/w\"}",
    };
    for (size_t i = 0; i < 3; i++) {
        lh_reply_t *reply = cluster_call (c, c->agent, "validate", requests[i]);
        cluster_expect_ok (reply);
        lh_reply_destroy (&reply);
    }
    //  Each daemon renders its counters every second, and the decisions
    //  reach the log from the validator's spool: asked again until they show
    //  (sanitizers slow all of it), at most 20 s
    char command[2048];
    snprintf (command, sizeof (command),
              "/usr/bin/python3 '%s' "
              "http://127.0.0.1:%d/metrics 'lighthouse_broker_requests_total{broker=broker-1}>=3' "
              "'lighthouse_service_replies_total{service=validate}>=3' "
              "'lighthouse_service_workers{service=cache}>=1' "
              "'lighthouse_broker_workers{broker=broker-1}>=1' -- "
              "http://127.0.0.1:%d/metrics 'lighthouse_validator_requests_total>=3' "
              "'lighthouse_validator_deny_total>=1' 'lighthouse_validator_escalated_total>=1' -- "
              "http://127.0.0.1:%d/metrics 'lighthouse_expert_submitted_total>=1' "
              "'lighthouse_expert_pending>=1' -- "
              "http://127.0.0.1:%d/metrics 'lighthouse_cache_gets_total>=1' "
              "'lighthouse_cache_max_entries>=1' -- "
              "http://127.0.0.1:%d/metrics 'lighthouse_integrity_is_leader>=1' "
              "'lighthouse_integrity_size>=3' 'lighthouse_integrity_events_applied_total>=3' "
              "'lighthouse_integrity_monitor_ok>=1'",
              LH_SCRAPE_SCRIPT, ports[0], ports[1], ports[2], ports[3], ports[4]);
    int status = -1;
    for (int tries = 0; tries < 20; tries++) {
        zclock_sleep (1000);
        status = system (command);
        if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
            break;
    }
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);

    char line[256];
    s_http (ports[1], "GET /other HTTP/1.0\r\n\r\n", line, sizeof (line));
    assert_string_equal (line, "HTTP/1.1 404 Not Found");
    s_http (ports[1], "POST /metrics HTTP/1.0\r\n\r\n", line, sizeof (line));
    assert_string_equal (line, "HTTP/1.1 404 Not Found");
    s_http (ports[1], "GET /metrics HTTP/1.0\r\n\r\n", line, sizeof (line));
    assert_string_equal (line, "HTTP/1.1 200 OK");
    cluster_destroy (&c);
}

//  A --metrics that is not IPV4:PORT stops the daemon at start
static void
test_bad_listen (void **state)
{
    (void) state;
    //  Each would start without the bad --metrics (the broker in plaintext
    //  on ephemeral ports, lh-cache with a data directory of its own)
    const char *commands[] = {
        "'" LH_BROKER_BIN "' --plaintext --frontend 'tcp://127.0.0.1:*' --backend "
        "'tcp://127.0.0.1:*' --pub 'tcp://127.0.0.1:*'",
        "'" LH_CACHE_BIN "' --dir /tmp/lh-metrics-bad-$$",
    };
    for (size_t i = 0; i < 2; i++) {
        char command[1024];
        snprintf (command, sizeof (command),
                  "timeout 10 %s --metrics 'not-an-address' >/tmp/lh-metrics-bad-$$.log 2>&1; "
                  "s=$?; grep -q 'cannot serve metrics' /tmp/lh-metrics-bad-$$.log || s=99; "
                  "rm -rf /tmp/lh-metrics-bad-$$ /tmp/lh-metrics-bad-$$.log; exit $s",
                  commands[i]);
        int status = system (command);
        if (!WIFEXITED (status) || WEXITSTATUS (status) != 1)
            fail_msg ("%s: started with a bad --metrics, or failed otherwise", commands[i]);
    }
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown (test_scrape, cluster_teardown),
        cmocka_unit_test (test_bad_listen),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
