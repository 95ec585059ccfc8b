/*  Integration tests: lh-drill-load, the load of a chaos drill, against a
    real cluster (broker, a validator that logs its decisions, three
    lh-integrity replicas) over CURVE, its history judged by lh-drill-check
    against the replicas' exports: every acknowledged append is in the log,
    every answered decision logged. One run ends by its duration, one by
    SIGTERM; bad usage and a missing key stop it before it starts. */
#include "harness.h"

#include "codec.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXPORTS 3

static int s_shell (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

//  Runs a shell command; its exit status, or -1 when it did not exit
static int
s_shell (const char *format, ...)
{
    char command[8192];
    va_list list;
    va_start (list, format);
    vsnprintf (command, sizeof (command), format, list);
    va_end (list);
    int status = system (command);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

//  The whole of a small file, NUL-terminated (the caller frees)
static char *
s_slurp (const char *path)
{
    FILE *file = fopen (path, "r");
    assert_non_null (file);
    char *text = (char *) calloc (1, 1 << 20);
    size_t n = fread (text, 1, (1 << 20) - 1, file);
    text[n] = 0;
    fclose (file);
    return text;
}

//  The text of a value after "key": in a JSON object (flat or pretty); NULL if absent
static const char *
s_json_value (const char *json, const char *key)
{
    char pattern[64];
    snprintf (pattern, sizeof (pattern), "\"%s\":", key);
    const char *at = strstr (json, pattern);
    if (!at)
        return NULL;
    at += strlen (pattern);
    while (*at == ' ')
        at++;
    return at;
}

//  A number value; -1 if absent
static long long
s_json_number (const char *json, const char *key)
{
    const char *at = s_json_value (json, key);
    return at ? strtoll (at, NULL, 10) : -1;
}

//  Waits until the log stops growing (the validator's spool drains behind
//  the answers) and every replica holds the same size
static void
s_wait_quiet (cluster_t *c, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms, stable_since = zclock_mono ();
    uint64_t sizes[8] = {0}, last_max = UINT64_MAX;
    bool seen[8] = {false};
    while (zclock_mono () < until) {
        lh_reply_t *reply = cluster_call (c, c->admin, "events.read", "{\"op\":\"status\"}");
        const msgpack_object *status = codec_map_get (lh_reply_root (reply), "status");
        const msgpack_object *id = codec_map_get (status, "replica_id");
        const msgpack_object *size = codec_map_get (status, "size");
        if (id && size && id->via.u64 < 8) {
            sizes[id->via.u64] = size->via.u64;
            seen[id->via.u64] = true;
        }
        lh_reply_destroy (&reply);
        uint64_t max = 0;
        bool agree = true;
        for (int i = 1; i <= c->replica_count; i++)
            max = sizes[i] > max ? sizes[i] : max;
        for (int i = 1; i <= c->replica_count; i++)
            agree &= seen[i] && sizes[i] == max;
        if (max != last_max) {
            last_max = max;
            stable_since = zclock_mono ();
        }
        if (agree && zclock_mono () - stable_since >= 1500)
            return;
        zclock_sleep (50);
    }
    fail_msg ("the log did not settle within %d ms", timeout_ms);
}

//  Runs lh-drill-load on the cluster with extra options; its exit status
static int
s_load (cluster_t *c, const char *name, const char *options)
{
    return s_shell ("'%s' --broker '%s' --broker-key '%s' --certs '%s' --agents drill-1,drill-2 "
                    "--history '%s/%s.jsonl' %s > '%s/%s.out' 2> '%s/%s.log'",
                    LH_DRILL_LOAD_BIN, c->frontend, c->broker_key, c->dir, c->dir, name, options,
                    c->dir, name, c->dir, name);
}

static int s_check (cluster_t *c, const char *history);

static void
test_load_and_check (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    cluster_start_integrity (c, 3, NULL);
    cluster_start_validator_logging (c, LH_DEFAULT_POLICY, NULL);
    cluster_keygen (c, "drill-1", "agent");
    cluster_keygen (c, "drill-2", "agent");

    //  A run that ends by its duration
    int64_t started = zclock_mono ();
    assert_int_equal (s_load (c, "run1", "--duration 3 --rate 25 --tag t1 --seed 7 --timeout 5000"),
                      0);
    int64_t took = zclock_mono () - started;
    assert_in_range (took, 2900, 3000 + 5000 + 1500); //  plus at most one request in flight
    char path[512];
    snprintf (path, sizeof (path), "%s/run1.out", c->dir);
    char *out = s_slurp (path);
    assert_int_equal (s_json_number (out, "agents"), 2);
    long long decisions = s_json_number (out, "decisions");
    long long appends = s_json_number (out, "appends");
    long long acked = s_json_number (out, "acked");
    //  2 agents x 25/s x 3 s = 150 slots, about half of each kind
    assert_in_range (decisions + appends, 100, 160);
    assert_in_range (decisions, 20, 140);
    assert_in_range (appends, 20, 140);
    assert_in_range (acked, 20, appends);
    //  No fault: everything acknowledged or answered at the first try
    assert_int_equal (acked, appends);
    assert_int_equal (s_json_number (out, "answered"), decisions);
    assert_int_equal (s_json_number (out, "failed"), 0);
    assert_int_equal (s_json_number (out, "indeterminate"), 0);
    free (out);
    //  Both kinds, both agents, every line as DRILLS.md 1.1 writes it
    assert_int_equal (s_shell ("grep -c '^{\"op\":\"append\",\"client_id\":\"t1-drill-1-[0-9]*\","
                               "\"by\":\"drill-1\",\"invoke_ms\":[0-9]*,\"complete_ms\":[0-9]*,"
                               "\"outcome\":\"ok\",\"seq\":[0-9]*}$' '%s/run1.jsonl' > /dev/null",
                               c->dir),
                      0);
    assert_int_equal (
        s_shell ("grep -q '^{\"op\":\"decision\",\"request_id\":\"t1-drill-2-v[0-9]*\","
                 "\"agent\":\"drill-2\",.*\"outcome\":\"answered\","
                 "\"decision\":\"[a-z]*\"}$' '%s/run1.jsonl'",
                 c->dir),
        0);
    assert_int_equal (
        s_shell ("test $(wc -l < '%s/run1.jsonl') -eq %lld", c->dir, decisions + appends), 0);
    //  Wall-clock times (ms since the epoch), not a monotonic clock
    assert_int_equal (s_shell ("awk -F'\"invoke_ms\":' -v now=$(date +%%s) "
                               "'{ split ($2, t, \",\"); if (t[1] / 1000 < now - 120 || "
                               "t[1] / 1000 > now + 5) exit 1 }' '%s/run1.jsonl'",
                               c->dir),
                      0);

    //  A run stopped by SIGTERM long before its end: the operation in
    //  flight finishes, everything is written, exit 0
    assert_int_equal (s_shell ("'%s' --broker '%s' --broker-key '%s' --certs '%s' "
                               "--agents drill-1,drill-2 --history '%s/run2.jsonl' --duration 60 "
                               "--rate 50 --tag t2 > '%s/run2.out' 2> '%s/run2.log' & "
                               "pid=$!; sleep 1.5; kill -TERM $pid; "
                               "start=$(date +%%s%%N); wait $pid; rc=$?; "
                               "test $rc -eq 0 && test $(( ($(date +%%s%%N) - start) / 1000000 )) "
                               "-lt 3000",
                               LH_DRILL_LOAD_BIN, c->frontend, c->broker_key, c->dir, c->dir,
                               c->dir, c->dir),
                      0);
    snprintf (path, sizeof (path), "%s/run2.out", c->dir);
    out = s_slurp (path);
    long long appends2 = s_json_number (out, "appends");
    long long acked2 = s_json_number (out, "acked");
    assert_in_range (appends2, 1, 200);
    assert_int_equal (s_shell ("test $(wc -l < '%s/run2.jsonl') -eq %lld", c->dir,
                               s_json_number (out, "decisions") + appends2),
                      0);
    free (out);
    assert_int_equal (s_shell ("grep -q 'stopping on a signal' '%s/run2.log'", c->dir), 0);

    //  Both runs judged against every replica's log
    assert_int_equal (
        s_shell ("cat '%s/run1.jsonl' '%s/run2.jsonl' > '%s/both.jsonl'", c->dir, c->dir, c->dir),
        0);
    snprintf (path, sizeof (path), "%s/both.jsonl", c->dir);
    assert_int_equal (s_check (c, path), 0);
    snprintf (path, sizeof (path), "%s/check.json", c->dir);
    char *check = s_slurp (path);
    const char *ok = s_json_value (check, "ok");
    assert_true (ok && strncmp (ok, "true", 4) == 0);
    assert_int_equal (s_json_number (check, "lost"), 0);
    assert_int_equal (s_json_number (check, "acked"), acked + acked2);
    assert_int_equal (s_json_number (check, "decisions_missing"), 0);
    assert_true (s_json_number (check, "decisions_logged") >= decisions);
    free (check);
    cluster_destroy (&c);
}

//  Exports the log EXPORTS times (the broker hands the reads to the
//  replicas in turn) and runs lh-drill-check on history; its exit status.
//  The report is DIR/check.json.
static int
s_check (cluster_t *c, const char *history)
{
    s_wait_quiet (c, 30000);
    char exports[1024] = "";
    for (int i = 1; i <= EXPORTS; i++) {
        s_shell ("rm -f '%s/export-%d'", c->dir, i);
        assert_int_equal (s_shell ("LH_BROKER='%s' LH_BROKER_KEY='%s' "
                                   "LH_CERT='%s/admin.cert_secret' '%s' event export "
                                   "'%s/export-%d' 2> /dev/null",
                                   c->frontend, c->broker_key, c->dir, LH_CLI_BIN, c->dir, i),
                          0);
        size_t used = strlen (exports);
        snprintf (exports + used, sizeof (exports) - used, " --export '%s/export-%d'", c->dir, i);
    }
    return s_shell ("'%s' --history '%s' %s --json '%s/check.json' > '%s/check.out'",
                    LH_DRILL_CHECK_BIN, history, exports, c->dir, c->dir);
}

//  The leader killed under load: appends in flight are indeterminate and
//  resent with their client ids; the check still passes
static void
test_leader_killed (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    cluster_start_integrity (c, 3, NULL);
    cluster_start_validator_logging (c, LH_DEFAULT_POLICY, NULL);
    cluster_keygen (c, "drill-1", "agent");
    cluster_keygen (c, "drill-2", "agent");
    //  A short deadline: appends wait out the election (>= 1 s) unanswered
    assert_int_equal (s_shell ("('%s' --broker '%s' --broker-key '%s' --certs '%s' "
                               "--agents drill-1,drill-2 --history '%s/kill.jsonl' --duration 7 "
                               "--rate 25 --append-pct 80 --timeout 500 --tag k > '%s/kill.out' "
                               "2> '%s/kill.log'; echo $? > '%s/kill.rc') &",
                               LH_DRILL_LOAD_BIN, c->frontend, c->broker_key, c->dir, c->dir,
                               c->dir, c->dir, c->dir),
                      0);
    zclock_sleep (2000);
    int leader = cluster_leader (c, 5000);
    assert_true (leader > 0);
    cluster_stop_replica (c, leader, SIGKILL);
    zclock_sleep (1500);
    cluster_start_replica (c, leader);
    char path[512];
    snprintf (path, sizeof (path), "%s/kill.rc", c->dir);
    for (int i = 0; i < 200 && access (path, F_OK) != 0; i++)
        zclock_sleep (100);
    zclock_sleep (100); //  the status written whole
    assert_int_equal (s_shell ("grep -qx 0 '%s/kill.rc'", c->dir), 0);
    snprintf (path, sizeof (path), "%s/kill.out", c->dir);
    char *out = s_slurp (path);
    assert_true (s_json_number (out, "acked") > 0);
    assert_true (s_json_number (out, "resends") > 0);
    free (out);
    assert_int_equal (s_shell ("grep -q '\"outcome\":\"info\"' '%s/kill.jsonl'", c->dir), 0);
    snprintf (path, sizeof (path), "%s/kill.jsonl", c->dir);
    assert_int_equal (s_check (c, path), 0);
    snprintf (path, sizeof (path), "%s/check.json", c->dir);
    char *check = s_slurp (path);
    const char *ok = s_json_value (check, "ok");
    assert_true (ok && strncmp (ok, "true", 4) == 0);
    assert_int_equal (s_json_number (check, "lost"), 0);
    assert_true (s_json_number (check, "acked") > 0);
    free (check);
    cluster_destroy (&c);
}

static void
test_bad_start (void **state)
{
    (void) state;
    char dir[] = "/tmp/test_drill_load.XXXXXX";
    assert_non_null (mkdtemp (dir));
    const char *common = "--broker tcp://127.0.0.1:9 --broker-key "
                         "'rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7' --duration 1";
    //  Usage: a required option missing, a value out of range, an unknown option
    assert_int_equal (s_shell ("'%s' %s --certs '%s' --history '%s/h' 2> '%s/err'",
                               LH_DRILL_LOAD_BIN, common, dir, dir, dir),
                      2);
    assert_int_equal (
        s_shell ("test $(wc -l < '%s/err') -eq 1 && grep -q -- --agents '%s/err'", dir, dir), 0);
    assert_int_equal (s_shell ("'%s' %s --certs '%s' --agents a --history '%s/h' --rate 0 "
                               "2> /dev/null",
                               LH_DRILL_LOAD_BIN, common, dir, dir),
                      2);
    assert_int_equal (s_shell ("'%s' %s --certs '%s' --agents a,a --history '%s/h' 2> /dev/null",
                               LH_DRILL_LOAD_BIN, common, dir, dir),
                      2);
    assert_int_equal (s_shell ("'%s' --colour red 2> /dev/null", LH_DRILL_LOAD_BIN), 2);
    assert_int_equal (s_shell ("'%s' --help | grep -q -- --append-pct", LH_DRILL_LOAD_BIN), 0);
    //  Cannot start: no key for the agent, then an unreadable mix
    assert_int_equal (s_shell ("'%s' %s --certs '%s' --agents nobody --history '%s/h' "
                               "2> '%s/err'",
                               LH_DRILL_LOAD_BIN, common, dir, dir, dir),
                      1);
    assert_int_equal (s_shell ("grep -q 'nobody.cert_secret' '%s/err'", dir), 0);
    zcert_t *cert = zcert_new ();
    char path[512];
    snprintf (path, sizeof (path), "%s/someone.cert", dir);
    assert_int_equal (zcert_save (cert, path), 0);
    zcert_destroy (&cert);
    assert_int_equal (s_shell ("'%s' %s --certs '%s' --agents someone --history '%s/h' "
                               "--mix /nonexistent 2> /dev/null",
                               LH_DRILL_LOAD_BIN, common, dir, dir),
                      1);
    //  Nothing ran, so no history was written
    assert_int_equal (s_shell ("test -e '%s/h'", dir), 1);
    s_shell ("rm -rf '%s'", dir);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown (test_load_and_check, cluster_teardown),
        cmocka_unit_test_teardown (test_leader_killed, cluster_teardown),
        cmocka_unit_test (test_bad_start),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
