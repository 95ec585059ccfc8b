/*  test_checker -- unit tests for chaos/checker.c and lh-drill-check (cmocka).

    Leaves are built the way a replica builds them (event_pack_body, then
    event_leaf), so the checker reads exactly what a log holds. The base
    drill: appenders load-1 and load-2 append c-0..c-2 (acknowledged at
    seqs 0, 1, 3), c-3 (failed) and c-4 (timed out, absent); the validator
    (validator-1) logs one decision about agent-7 at seq 2, which agent-7
    was answered. Each test doctors the history or a replica's log and
    checks what the checker says. The last test runs lh-drill-check on
    files it writes under $TMPDIR and checks its exit codes.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "checker.h"
#include "codec.h"
#include "event.h"

#define TS_BASE  INT64_C (1700000000000000000)
#define MAX_LOG  16
#define MAX_OPS  16
#define WHY_SIZE 512

typedef struct {
    const char *type;
    const char *by;
    const char *agent; //  NULL: the appender
    const char *cid;   //  NULL: none
} leaf_spec_t;

typedef struct {
    leaf_spec_t log[MAX_LOG];
    size_t size;
    checker_append_t ops[MAX_OPS];
    size_t nops;
    size_t answered; //  answered decisions about agent-7
} drill_t;

//  The base drill (see the top of the file)
static void
s_drill (drill_t *d)
{
    memset (d, 0, sizeof (*d));
    const leaf_spec_t log[] = {
        {"custom", "load-1", NULL, "c-0"},
        {"custom", "load-2", NULL, "c-1"},
        {"validation.decision", "validator-1", "agent-7", "v-0"},
        {"file.write", "load-1", NULL, "c-2"},
    };
    memcpy (d->log, log, sizeof (log));
    d->size = 4;
    const checker_append_t ops[] = {
        {"c-0", "load-1", 0, 10, CHECKER_OK, 0, NULL},
        {"c-1", "load-2", 5, 20, CHECKER_OK, 1, NULL},
        {"c-2", "load-1", 25, 30, CHECKER_OK, 3, NULL},
        {"c-3", "load-2", 31, 40, CHECKER_FAIL, 0, "forbidden"},
        {"c-4", "load-1", 41, 50, CHECKER_INFO, 0, "timeout"},
    };
    memcpy (d->ops, ops, sizeof (ops));
    d->nops = 5;
    d->answered = 1;
}

static void
s_push_leaf (drill_t *d, const char *type, const char *by, const char *agent, const char *cid)
{
    assert_true (d->size < MAX_LOG);
    d->log[d->size++] = (leaf_spec_t){type, by, agent, cid};
}

static void
s_push_op (drill_t *d, checker_append_t op)
{
    assert_true (d->nops < MAX_OPS);
    d->ops[d->nops++] = op;
}

//  The leaf of spec at seq, as a replica stores it
static void
s_leaf (uint64_t seq, const leaf_spec_t *spec, msgpack_sbuffer *leaf)
{
    event_t ev;
    memset (&ev, 0, sizeof (ev));
    ev.ts = TS_BASE + (int64_t) seq;
    int type = event_type_parse (spec->type, strlen (spec->type));
    assert_true (type >= 0);
    ev.type = (event_type_t) type;
    snprintf (ev.by, sizeof (ev.by), "%s", spec->by);
    snprintf (ev.agent, sizeof (ev.agent), "%s", spec->agent ? spec->agent : spec->by);
    snprintf (ev.role, sizeof (ev.role), "node");
    if (spec->cid)
        snprintf (ev.client_id, sizeof (ev.client_id), "%s", spec->cid);
    codec_buf_t data;
    codec_buf_init (&data);
    msgpack_pack_map (&data.pk, 2);
    codec_pack_kv_u64 (&data.pk, "n", seq);
    codec_pack_kv_str (&data.pk, "path", "/srv/work/notes.txt");
    lh_err_t err;
    const char *why;
    codec_doc_t *doc = codec_doc_decode (data.sbuf.data, data.sbuf.size, &err, &why);
    assert_non_null (doc);
    ev.data = codec_doc_root (doc);
    codec_buf_t body;
    codec_buf_init (&body);
    event_pack_body (&body.pk, &ev);
    assert_int_equal (event_leaf (body.sbuf.data, body.sbuf.size, seq, leaf), 0);
    codec_buf_destroy (&body);
    codec_doc_destroy (&doc);
    codec_buf_destroy (&data);
}

//  Adds replica `name` holding the first `size` leaves of d's log; when
//  flip_seq < size, one byte of that leaf's agent id is changed
static void
s_replica (checker_t *checker, const char *name, const drill_t *d, size_t size, size_t flip_seq)
{
    char why[WHY_SIZE];
    int replica = checker_add_log (checker, name, why, sizeof (why));
    assert_true (replica >= 0);
    for (size_t seq = 0; seq < size; seq++) {
        msgpack_sbuffer leaf;
        msgpack_sbuffer_init (&leaf);
        s_leaf (seq, &d->log[seq], &leaf);
        if (seq == flip_seq) {
            char *hit = memmem (leaf.data, leaf.size, "agent-7", 7);
            assert_non_null (hit);
            hit[6] = '8'; //  still a valid event: only the bytes differ
        }
        if (checker_add_leaf (checker, replica, seq, leaf.data, leaf.size, why, sizeof (why)) != 0)
            fail_msg ("leaf %zu: %s", seq, why);
        msgpack_sbuffer_destroy (&leaf);
    }
}

static checker_t *
s_checker (const drill_t *d)
{
    checker_t *checker = checker_new ();
    char why[WHY_SIZE];
    for (size_t i = 0; i < d->nops; i++)
        if (checker_add_append (checker, &d->ops[i], why, sizeof (why)) != 0)
            fail_msg ("op %zu: %s", i, why);
    for (size_t i = 0; i < d->answered; i++) {
        char id[32];
        snprintf (id, sizeof (id), "r-%zu", i);
        checker_decision_t op = {id, "agent-7", 100, 110, true, "allow", NULL};
        assert_int_equal (checker_add_decision (checker, &op, why, sizeof (why)), 0);
    }
    checker_decision_t refused = {"r-x", "agent-7", 120, 130, false, NULL, "unavailable"};
    assert_int_equal (checker_add_decision (checker, &refused, why, sizeof (why)), 0);
    return checker;
}

//  The drill with three identical replicas
static void
s_check (const drill_t *d, checker_result_t *result)
{
    checker_t *checker = s_checker (d);
    s_replica (checker, "r1", d, d->size, SIZE_MAX);
    s_replica (checker, "r2", d, d->size, SIZE_MAX);
    s_replica (checker, "r3", d, d->size, SIZE_MAX);
    char why[WHY_SIZE];
    assert_int_equal (checker_run (checker, result, why, sizeof (why)), 0);
    checker_destroy (&checker);
}

//  True when one of the described problems holds every one of the words
static bool
s_problem (const checker_result_t *result, const char *a, const char *b)
{
    for (size_t i = 0; i < result->problem_count && i < CHECKER_PROBLEMS; i++)
        if (strstr (result->problems[i], a) && (!b || strstr (result->problems[i], b)))
            return true;
    return false;
}

static void
s_dump (const checker_result_t *result)
{
    checker_result_print (result, stderr);
}

//  --------------------------------------------------------------------------
//  Histories that pass

static void
test_clean_run (void **state)
{
    (void) state;
    drill_t d;
    s_drill (&d);
    checker_result_t r = {0};
    s_check (&d, &r);
    if (!r.ok)
        s_dump (&r);
    assert_true (r.ok);
    assert_int_equal (r.appends, 5);
    assert_int_equal (r.acked, 3);
    assert_int_equal (r.lost + r.duplicated + r.reordered + r.misplaced + r.unexpected, 0);
    assert_int_equal (r.indeterminate, 1);
    assert_int_equal (r.indeterminate_landed, 0);
    assert_int_equal (r.failed, 1);
    assert_int_equal (r.failed_but_present, 0);
    assert_true (r.replicas_identical);
    assert_int_equal (r.replicas, 3);
    assert_int_equal (r.log_size, 4);
    assert_string_equal (r.reference, "r1");
    assert_int_equal (r.decisions, 2);
    assert_int_equal (r.decisions_answered, 1);
    assert_int_equal (r.decisions_logged, 1);
    assert_int_equal (r.decisions_missing, 0);
    assert_int_equal (r.agent_count, 1);
    assert_string_equal (r.agents[0].agent, "agent-7");
    assert_int_equal (r.problem_count, 0);
    char *json = checker_result_json (&r);
    assert_non_null (json);
    assert_non_null (strstr (json, "\"ok\": true"));
    assert_non_null (strstr (json, "\"indeterminate_landed\": 0"));
    assert_non_null (strstr (json, "\"first_difference\": null"));
    free (json);
    checker_result_clear (&r);
}

static void
test_indeterminate_landed (void **state)
{
    (void) state;
    drill_t d;
    s_drill (&d);
    s_push_leaf (&d, "custom", "load-1", NULL, "c-4"); //  the timed-out append landed
    checker_result_t r = {0};
    s_check (&d, &r);
    assert_true (r.ok);
    assert_int_equal (r.indeterminate, 1);
    assert_int_equal (r.indeterminate_landed, 1);
    checker_result_clear (&r);
}

static void
test_resend_is_not_reordered (void **state)
{
    (void) state;
    //  c-5 times out, c-6 is acknowledged, then c-5's resend is answered
    //  with the seq of its first attempt, which landed before c-6
    drill_t d;
    s_drill (&d);
    s_push_op (&d, (checker_append_t){"c-5", "load-1", 51, 60, CHECKER_INFO, 0, "timeout"});
    s_push_op (&d, (checker_append_t){"c-6", "load-2", 61, 62, CHECKER_OK, 5, NULL});
    s_push_op (&d, (checker_append_t){"c-5", "load-1", 63, 64, CHECKER_OK, 4, NULL});
    s_push_leaf (&d, "custom", "load-1", NULL, "c-5");
    s_push_leaf (&d, "custom", "load-2", NULL, "c-6");
    checker_result_t r = {0};
    s_check (&d, &r);
    if (!r.ok)
        s_dump (&r);
    assert_true (r.ok);
    assert_int_equal (r.acked, 5);
    assert_int_equal (r.indeterminate, 1);
    checker_result_clear (&r);
}

static void
test_other_appenders (void **state)
{
    (void) state;
    //  The validator's, an expert's and an alert without client id are not the drill's
    drill_t d;
    s_drill (&d);
    s_push_leaf (&d, "policy.loaded", "validator-1", NULL, "v-1");
    s_push_leaf (&d, "escalation.requested", "expert-1", "agent-7", "e-1");
    s_push_leaf (&d, "integrity.alert", "replica-2", NULL, NULL);
    checker_result_t r = {0};
    s_check (&d, &r);
    assert_true (r.ok);
    assert_int_equal (r.unexpected, 0);
    assert_int_equal (r.log_size, 7);
    checker_result_clear (&r);
}

//  --------------------------------------------------------------------------
//  Doctored histories and logs that must fail

static void
test_lost (void **state)
{
    (void) state;
    drill_t d;
    s_drill (&d);
    d.size = 3; //  c-2, acknowledged at seq 3, is not there
    checker_result_t r = {0};
    s_check (&d, &r);
    assert_false (r.ok);
    assert_int_equal (r.lost, 1);
    assert_int_equal (r.misplaced, 0);
    assert_true (s_problem (&r, "lost: c-2 by load-1", "seq 3"));
    char *json = checker_result_json (&r);
    assert_non_null (strstr (json, "\"lost\": 1"));
    assert_non_null (strstr (json, "\"ok\": false"));
    free (json);
    checker_result_clear (&r);
}

static void
test_duplicated (void **state)
{
    (void) state;
    drill_t d;
    s_drill (&d);
    s_push_leaf (&d, "custom", "load-2", NULL, "c-1");
    checker_result_t r = {0};
    s_check (&d, &r);
    assert_false (r.ok);
    assert_int_equal (r.duplicated, 1);
    assert_true (s_problem (&r, "duplicated: c-1 by load-2", "seqs 1 and 4"));
    checker_result_clear (&r);
}

static void
test_duplicated_validator_event (void **state)
{
    (void) state;
    //  Exactly-once holds for every appender, not only the drill's
    drill_t d;
    s_drill (&d);
    s_push_leaf (&d, "validation.decision", "validator-1", "agent-7", "v-0");
    checker_result_t r = {0};
    s_check (&d, &r);
    assert_false (r.ok);
    assert_int_equal (r.duplicated, 1);
    checker_result_clear (&r);
}

static void
test_reordered (void **state)
{
    (void) state;
    //  c-0 was acknowledged (t=10) before c-1 was sent (t=15), yet has the later seq
    drill_t d;
    s_drill (&d);
    d.ops[0] = (checker_append_t){"c-0", "load-1", 0, 10, CHECKER_OK, 1, NULL};
    d.ops[1] = (checker_append_t){"c-1", "load-2", 15, 20, CHECKER_OK, 0, NULL};
    d.log[0] = (leaf_spec_t){"custom", "load-2", NULL, "c-1"};
    d.log[1] = (leaf_spec_t){"custom", "load-1", NULL, "c-0"};
    checker_result_t r = {0};
    s_check (&d, &r);
    assert_false (r.ok);
    assert_int_equal (r.reordered, 1);
    assert_int_equal (r.misplaced + r.lost, 0);
    assert_true (s_problem (&r, "reordered: c-0 by load-1 (seq 1)", "c-1 by load-2 (seq 0)"));
    checker_result_clear (&r);
}

static void
test_concurrent_is_not_reordered (void **state)
{
    (void) state;
    //  The same seqs, but the two appends overlapped in time: either order is right
    drill_t d;
    s_drill (&d);
    d.ops[0] = (checker_append_t){"c-0", "load-1", 0, 10, CHECKER_OK, 1, NULL};
    d.ops[1] = (checker_append_t){"c-1", "load-2", 5, 20, CHECKER_OK, 0, NULL};
    d.log[0] = (leaf_spec_t){"custom", "load-2", NULL, "c-1"};
    d.log[1] = (leaf_spec_t){"custom", "load-1", NULL, "c-0"};
    checker_result_t r = {0};
    s_check (&d, &r);
    assert_true (r.ok);
    checker_result_clear (&r);
}

static void
test_reordered_counts_pairs (void **state)
{
    (void) state;
    //  Three appends one after the other, logged backwards: three pairs
    drill_t d;
    s_drill (&d);
    d.nops = 0;
    d.size = 0;
    d.answered = 0;
    s_push_op (&d, (checker_append_t){"a", "load-1", 0, 1, CHECKER_OK, 2, NULL});
    s_push_op (&d, (checker_append_t){"b", "load-1", 2, 3, CHECKER_OK, 1, NULL});
    s_push_op (&d, (checker_append_t){"c", "load-1", 4, 5, CHECKER_OK, 0, NULL});
    s_push_leaf (&d, "custom", "load-1", NULL, "c");
    s_push_leaf (&d, "custom", "load-1", NULL, "b");
    s_push_leaf (&d, "custom", "load-1", NULL, "a");
    checker_result_t r = {0};
    s_check (&d, &r);
    assert_false (r.ok);
    assert_int_equal (r.reordered, 3);
    checker_result_clear (&r);
}

static void
test_acked_seq_holds_another_event (void **state)
{
    (void) state;
    //  c-2 is in the log, but not at seq 2 where it was acknowledged
    drill_t d;
    s_drill (&d);
    d.ops[2].seq = 2;
    checker_result_t r = {0};
    s_check (&d, &r);
    assert_false (r.ok);
    assert_int_equal (r.misplaced, 1);
    assert_int_equal (r.lost, 0);
    assert_true (s_problem (&r, "misplaced: c-2 by load-1 acknowledged at seq 2", "at seq 3"));
    checker_result_clear (&r);
}

static void
test_acked_past_the_end (void **state)
{
    (void) state;
    drill_t d;
    s_drill (&d);
    d.ops[2].seq = 9;
    checker_result_t r = {0};
    s_check (&d, &r);
    assert_false (r.ok);
    assert_int_equal (r.misplaced, 1);
    checker_result_clear (&r);
}

static void
test_failed_but_present (void **state)
{
    (void) state;
    drill_t d;
    s_drill (&d);
    s_push_leaf (&d, "custom", "load-2", NULL, "c-3");
    checker_result_t r = {0};
    s_check (&d, &r);
    assert_false (r.ok);
    assert_int_equal (r.failed, 1);
    assert_int_equal (r.failed_but_present, 1);
    assert_true (s_problem (&r, "failed but present: c-3 by load-2", "forbidden"));
    checker_result_clear (&r);
}

static void
test_unexpected (void **state)
{
    (void) state;
    drill_t d;
    s_drill (&d);
    s_push_leaf (&d, "custom", "load-1", NULL, "c-99");
    checker_result_t r = {0};
    s_check (&d, &r);
    assert_false (r.ok);
    assert_int_equal (r.unexpected, 1);
    assert_true (s_problem (&r, "unexpected: seq 4", "c-99"));
    checker_result_clear (&r);
}

static void
test_unexpected_without_client_id (void **state)
{
    (void) state;
    //  Every append of the drill has a client id: one without came from no operation
    drill_t d;
    s_drill (&d);
    s_push_leaf (&d, "session.start", "load-2", NULL, NULL);
    checker_result_t r = {0};
    s_check (&d, &r);
    assert_false (r.ok);
    assert_int_equal (r.unexpected, 1);
    checker_result_clear (&r);
}

static void
test_replica_differs_in_one_byte (void **state)
{
    (void) state;
    drill_t d;
    s_drill (&d);
    checker_t *checker = s_checker (&d);
    s_replica (checker, "r1", &d, d.size, SIZE_MAX);
    s_replica (checker, "r2", &d, d.size, SIZE_MAX);
    s_replica (checker, "r3", &d, d.size, 2);
    checker_result_t r = {0};
    char why[WHY_SIZE];
    assert_int_equal (checker_run (checker, &r, why, sizeof (why)), 0);
    assert_false (r.ok);
    assert_false (r.replicas_identical);
    assert_int_equal (r.first_difference, 2);
    assert_string_equal (r.differ[0], "r1");
    assert_string_equal (r.differ[1], "r3");
    assert_int_equal (r.lost + r.duplicated + r.misplaced + r.unexpected, 0);
    assert_true (s_problem (&r, "replicas r1 and r3 differ at seq 2", NULL));
    char *json = checker_result_json (&r);
    assert_non_null (strstr (json, "\"replicas_identical\": false"));
    assert_non_null (strstr (json, "\"seq\": 2"));
    free (json);
    checker_result_clear (&r);
    checker_destroy (&checker);
}

static void
test_shorter_replica (void **state)
{
    (void) state;
    //  The short one first: the history is still checked against the longest
    drill_t d;
    s_drill (&d);
    checker_t *checker = s_checker (&d);
    s_replica (checker, "r1", &d, 3, SIZE_MAX);
    s_replica (checker, "r2", &d, d.size, SIZE_MAX);
    s_replica (checker, "r3", &d, d.size, SIZE_MAX);
    checker_result_t r = {0};
    char why[WHY_SIZE];
    assert_int_equal (checker_run (checker, &r, why, sizeof (why)), 0);
    assert_false (r.ok);
    assert_false (r.replicas_identical);
    assert_string_equal (r.reference, "r2");
    assert_int_equal (r.first_difference, 3);
    assert_int_equal (r.lost, 0);
    assert_true (s_problem (&r, "replica r1 has 3 events, r2 has 4", NULL));
    checker_result_clear (&r);
    checker_destroy (&checker);
}

static void
test_decisions_missing (void **state)
{
    (void) state;
    drill_t d;
    s_drill (&d);
    d.answered = 3; //  the log holds one decision about agent-7
    checker_result_t r = {0};
    s_check (&d, &r);
    assert_false (r.ok);
    assert_int_equal (r.decisions_answered, 3);
    assert_int_equal (r.decisions_logged, 1);
    assert_int_equal (r.decisions_missing, 2);
    assert_true (s_problem (&r, "decisions missing: agent-7 was answered 3", "holds 1"));
    char *json = checker_result_json (&r);
    assert_non_null (strstr (json, "\"decisions_missing\": 2"));
    assert_non_null (strstr (json, "\"agent-7\""));
    free (json);
    checker_result_clear (&r);
}

//  --------------------------------------------------------------------------
//  Bad input

static void
test_bad_operations (void **state)
{
    (void) state;
    checker_t *checker = checker_new ();
    char why[WHY_SIZE];
    checker_append_t bad[] = {
        {"has space", "load-1", 0, 1, CHECKER_OK, 0, NULL},
        {"", "load-1", 0, 1, CHECKER_OK, 0, NULL},
        {"c-1", "load/1", 0, 1, CHECKER_OK, 0, NULL},
        {"c-1", "load-1", 5, 1, CHECKER_OK, 0, NULL},
        {"c-1", "load-1", -1, 1, CHECKER_OK, 0, NULL},
        {"c-1", "load-1", 0, 1, (checker_outcome_t) 7, 0, NULL},
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++)
        assert_int_equal (checker_add_append (checker, &bad[i], why, sizeof (why)), -1);
    checker_decision_t maybe = {"r-1", "agent-7", 0, 1, true, "maybe", NULL};
    assert_int_equal (checker_add_decision (checker, &maybe, why, sizeof (why)), -1);
    assert_int_equal (checker_add_log (checker, "r1", why, sizeof (why)), 0);
    assert_int_equal (checker_add_log (checker, "r1", why, sizeof (why)), -1);
    //  Leaves in order, parsing, at the seq they say
    msgpack_sbuffer leaf;
    msgpack_sbuffer_init (&leaf);
    leaf_spec_t spec = {"custom", "load-1", NULL, "c-0"};
    s_leaf (1, &spec, &leaf);
    assert_int_equal (checker_add_leaf (checker, 0, 0, leaf.data, leaf.size, why, sizeof (why)),
                      -1);
    assert_non_null (strstr (why, "says it is 1"));
    assert_int_equal (checker_add_leaf (checker, 0, 1, leaf.data, leaf.size, why, sizeof (why)),
                      -1);
    assert_int_equal (checker_add_leaf (checker, 0, 0, "\x81\xa1x\x01", 4, why, sizeof (why)), -1);
    assert_int_equal (checker_add_leaf (checker, 1, 0, leaf.data, leaf.size, why, sizeof (why)),
                      -1);
    msgpack_sbuffer_destroy (&leaf);
    checker_destroy (&checker);
    //  Nothing to check against
    checker = checker_new ();
    checker_result_t r = {0};
    assert_int_equal (checker_run (checker, &r, why, sizeof (why)), -1);
    checker_destroy (&checker);
}

//  --------------------------------------------------------------------------
//  History files

static char s_dir[256];

static void
s_path (char *out, size_t size, const char *name)
{
    snprintf (out, size, "%s/%s", s_dir, name);
}

static void
s_write_file (const char *path, const void *data, size_t size)
{
    FILE *file = fopen (path, "wb");
    assert_non_null (file);
    assert_int_equal (fwrite (data, 1, size, file), size);
    assert_int_equal (fclose (file), 0);
}

static char *
s_read_file (const char *path, size_t *size)
{
    FILE *file = fopen (path, "rb");
    assert_non_null (file);
    char *data = malloc ((1 << 20) + 1);
    assert_non_null (data);
    *size = fread (data, 1, 1 << 20, file);
    fclose (file);
    data[*size] = 0;
    return data;
}

static void
test_history_round_trip (void **state)
{
    (void) state;
    drill_t d;
    s_drill (&d);
    d.ops[3].error = "refused: \"forbidden\" \\ tab\there"; //  escaped, and the tab kept as '?'
    checker_t *checker = s_checker (&d);
    char one[300], two[300], why[WHY_SIZE];
    s_path (one, sizeof (one), "history-1.jsonl");
    s_path (two, sizeof (two), "history-2.jsonl");
    assert_int_equal (checker_history_write (checker, one, why, sizeof (why)), 0);
    checker_t *again = checker_new ();
    if (checker_history_read (again, one, why, sizeof (why)) != 0)
        fail_msg ("%s", why);
    assert_int_equal (checker_history_write (again, two, why, sizeof (why)), 0);
    size_t size_one, size_two;
    char *text_one = s_read_file (one, &size_one);
    char *text_two = s_read_file (two, &size_two);
    assert_int_equal (size_one, size_two);
    assert_memory_equal (text_one, text_two, size_one);
    assert_non_null (strstr (text_one, "{\"op\":\"append\",\"client_id\":\"c-0\",\"by\":\"load-1\","
                                       "\"invoke_ms\":0,\"complete_ms\":10,\"outcome\":\"ok\","
                                       "\"seq\":0}\n"));
    assert_non_null (strstr (text_one, "\"error\":\"refused: \\\"forbidden\\\" \\\\ tab?here\""));
    assert_non_null (strstr (text_one, "\"outcome\":\"answered\",\"decision\":\"allow\""));
    assert_non_null (strstr (text_one, "\"outcome\":\"error\",\"error\":\"unavailable\""));
    //  Checked alike
    s_replica (checker, "r1", &d, d.size, SIZE_MAX);
    s_replica (again, "r1", &d, d.size, SIZE_MAX);
    checker_result_t r1 = {0}, r2 = {0};
    assert_int_equal (checker_run (checker, &r1, why, sizeof (why)), 0);
    assert_int_equal (checker_run (again, &r2, why, sizeof (why)), 0);
    char *json1 = checker_result_json (&r1), *json2 = checker_result_json (&r2);
    assert_string_equal (json1, json2);
    free (json1);
    free (json2);
    checker_result_clear (&r1);
    checker_result_clear (&r2);
    free (text_one);
    free (text_two);
    checker_destroy (&checker);
    checker_destroy (&again);
    remove (one);
    remove (two);
}

//  One line at a time, as lh-drill-load writes: the same bytes as the
//  whole-file writer, and an invalid operation refused
static void
test_history_lines (void **state)
{
    (void) state;
    char why[WHY_SIZE], path[300];
    checker_append_t append = {"d-load-1-7", "load-1", 5, 9, CHECKER_OK, 42, NULL};
    checker_append_t resend = {"d-load-1-8", "load-1", 6, 2006, CHECKER_INFO, 0, "timeout"};
    checker_decision_t decision = {"d-load-1-v3", "load-1", 7, 8, true, "deny", NULL};
    char *lines[3] = {checker_append_line (&append, why, sizeof (why)),
                      checker_append_line (&resend, why, sizeof (why)),
                      checker_decision_line (&decision, why, sizeof (why))};
    assert_string_equal (lines[0], "{\"op\":\"append\",\"client_id\":\"d-load-1-7\",\"by\":"
                                   "\"load-1\",\"invoke_ms\":5,\"complete_ms\":9,\"outcome\":"
                                   "\"ok\",\"seq\":42}");
    assert_string_equal (lines[1], "{\"op\":\"append\",\"client_id\":\"d-load-1-8\",\"by\":"
                                   "\"load-1\",\"invoke_ms\":6,\"complete_ms\":2006,\"outcome\":"
                                   "\"info\",\"error\":\"timeout\"}");
    assert_string_equal (lines[2], "{\"op\":\"decision\",\"request_id\":\"d-load-1-v3\","
                                   "\"agent\":\"load-1\",\"invoke_ms\":7,\"complete_ms\":8,"
                                   "\"outcome\":\"answered\",\"decision\":\"deny\"}");
    //  Read back and written whole: the same text
    s_path (path, sizeof (path), "lines.jsonl");
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    for (int i = 0; i < 3; i++)
        fprintf (file, "%s\n", lines[i]);
    fclose (file);
    checker_t *checker = checker_new ();
    assert_int_equal (checker_history_read (checker, path, why, sizeof (why)), 0);
    char again[300];
    s_path (again, sizeof (again), "lines-again.jsonl");
    assert_int_equal (checker_history_write (checker, again, why, sizeof (why)), 0);
    size_t size_one, size_two;
    char *one = s_read_file (path, &size_one), *two = s_read_file (again, &size_two);
    assert_int_equal (size_one, size_two);
    assert_memory_equal (one, two, size_one);
    free (one);
    free (two);
    for (int i = 0; i < 3; i++)
        free (lines[i]);
    checker_destroy (&checker);
    remove (path);
    remove (again);
    //  Refused as checker_add_* refuses
    checker_append_t spaced = {"has space", "load-1", 5, 9, CHECKER_FAIL, 0, NULL};
    assert_null (checker_append_line (&spaced, why, sizeof (why)));
    assert_non_null (strstr (why, "client_id"));
    checker_decision_t backwards = {"r-1", "load-1", 9, 5, false, NULL, "timeout"};
    assert_null (checker_decision_line (&backwards, why, sizeof (why)));
    assert_non_null (strstr (why, "invoke_ms"));
}

static void
test_history_malformed (void **state)
{
    (void) state;
    const char *good = "{\"op\":\"append\",\"client_id\":\"c-0\",\"by\":\"load-1\","
                       "\"invoke_ms\":0,\"complete_ms\":10,\"outcome\":\"ok\",\"seq\":0}\n";
    struct {
        const char *line;
        const char *why;
    } cases[] = {
        {"not json", "invalid JSON"},
        {"[1, 2]", "not a JSON object"},
        {"{\"op\":\"delete\"}", "field 'op' must be"},
        {"{\"op\":\"append\",\"client_id\":\"c-1\",\"by\":\"load-1\",\"invoke_ms\":0,"
         "\"complete_ms\":1,\"outcome\":\"ok\",\"seq\":1,\"colour\":\"red\"}",
         "unknown field 'colour'"},
        {"{\"op\":\"append\",\"by\":\"load-1\",\"invoke_ms\":0,\"complete_ms\":1,"
         "\"outcome\":\"info\"}",
         "client_id"},
        {"{\"op\":\"append\",\"client_id\":\"c 1\",\"by\":\"load-1\",\"invoke_ms\":0,"
         "\"complete_ms\":1,\"outcome\":\"info\"}",
         "printable ASCII without spaces"},
        {"{\"op\":\"append\",\"client_id\":\"c-1\",\"by\":\"load-1\",\"invoke_ms\":0,"
         "\"complete_ms\":1,\"outcome\":\"maybe\"}",
         "field 'outcome' must be"},
        {"{\"op\":\"append\",\"client_id\":\"c-1\",\"by\":\"load-1\",\"invoke_ms\":0,"
         "\"complete_ms\":1,\"outcome\":\"ok\"}",
         "seq"},
        {"{\"op\":\"append\",\"client_id\":\"c-1\",\"by\":\"load-1\",\"invoke_ms\":0,"
         "\"complete_ms\":1,\"outcome\":\"fail\",\"seq\":3}",
         "for outcome \"ok\" only"},
        {"{\"op\":\"append\",\"client_id\":\"c-1\",\"by\":\"load-1\",\"invoke_ms\":0,"
         "\"complete_ms\":1,\"outcome\":\"ok\",\"seq\":1.5}",
         "seq"},
        {"{\"op\":\"append\",\"client_id\":\"c-1\",\"by\":\"load-1\",\"invoke_ms\":0,"
         "\"complete_ms\":1,\"outcome\":\"ok\",\"seq\":-1}",
         "seq"},
        {"{\"op\":\"append\",\"client_id\":\"c-1\",\"by\":\"load-1\",\"invoke_ms\":9,"
         "\"complete_ms\":1,\"outcome\":\"info\"}",
         "invoke_ms <= complete_ms"},
        {"{\"op\":\"append\",\"client_id\":\"c-1\",\"client_id\":\"c-2\",\"by\":\"load-1\","
         "\"invoke_ms\":0,\"complete_ms\":1,\"outcome\":\"info\"}",
         "invalid JSON"},
        {"{\"op\":\"decision\",\"request_id\":\"r-1\",\"agent\":\"agent-7\",\"invoke_ms\":0,"
         "\"complete_ms\":1,\"outcome\":\"answered\"}",
         "decision"},
        {"{\"op\":\"decision\",\"request_id\":\"r-1\",\"agent\":\"agent-7\",\"invoke_ms\":0,"
         "\"complete_ms\":1,\"outcome\":\"answered\",\"decision\":\"perhaps\"}",
         "allow, defer, escalate or deny"},
        {"{\"op\":\"decision\",\"request_id\":\"r-1\",\"agent\":\"agent-7\",\"invoke_ms\":0,"
         "\"complete_ms\":1,\"outcome\":\"error\",\"decision\":\"deny\"}",
         "for outcome \"answered\" only"},
    };
    char path[300], why[WHY_SIZE];
    s_path (path, sizeof (path), "bad.jsonl");
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        char text[1024];
        snprintf (text, sizeof (text), "%s%s\n", good, cases[i].line);
        s_write_file (path, text, strlen (text));
        checker_t *checker = checker_new ();
        why[0] = 0;
        assert_int_equal (checker_history_read (checker, path, why, sizeof (why)), -1);
        char where[320];
        snprintf (where, sizeof (where), "%s:2: ", path);
        if (strncmp (why, where, strlen (where)) != 0 || !strstr (why, cases[i].why))
            fail_msg ("case %zu: got '%s', wanted '%s' and '%s'", i, why, where, cases[i].why);
        //  All or nothing: the good first line was not kept
        char out[300];
        s_path (out, sizeof (out), "bad-out.jsonl");
        assert_int_equal (checker_history_write (checker, out, why, sizeof (why)), 0);
        size_t size;
        free (s_read_file (out, &size));
        assert_int_equal (size, 0);
        remove (out);
        checker_destroy (&checker);
    }
    checker_t *checker = checker_new ();
    s_path (path, sizeof (path), "no-such-history.jsonl");
    assert_int_equal (checker_history_read (checker, path, why, sizeof (why)), -1);
    assert_non_null (strstr (why, "cannot read"));
    checker_destroy (&checker);
    s_path (path, sizeof (path), "bad.jsonl");
    remove (path);
}

//  --------------------------------------------------------------------------
//  lh-drill-check as a process

//  An export as `lh event export` writes it (EVENTS.md 7)
static void
s_export (const char *path, const drill_t *d, size_t size)
{
    codec_buf_t out;
    codec_buf_init (&out);
    msgpack_pack_map (&out.pk, 2);
    codec_pack_kv_str (&out.pk, "format", "lighthouse-log/1");
    codec_pack_kv_str (&out.pk, "origin", "lighthouse.test/log");
    for (size_t seq = 0; seq < size; seq++) {
        msgpack_sbuffer leaf;
        msgpack_sbuffer_init (&leaf);
        s_leaf (seq, &d->log[seq], &leaf);
        msgpack_pack_map (&out.pk, 2);
        codec_pack_kv_u64 (&out.pk, "seq", seq);
        codec_pack_kv_bin (&out.pk, "leaf", leaf.data, leaf.size);
        msgpack_sbuffer_destroy (&leaf);
    }
    msgpack_pack_map (&out.pk, 2);
    codec_pack_kv_u64 (&out.pk, "size", size);
    codec_pack_kv_str (&out.pk, "checkpoint",
                       "lighthouse.test/log\n4\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n");
    s_write_file (path, out.sbuf.data, out.sbuf.size);
    codec_buf_destroy (&out);
}

//  Runs lh-drill-check with args; its exit status, its stderr in err
static int
s_run (const char *const *args, char *err, size_t err_size)
{
    char err_path[300];
    s_path (err_path, sizeof (err_path), "stderr.txt");
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        int null = open ("/dev/null", O_WRONLY);
        int errfd = open (err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (null < 0 || errfd < 0)
            _exit (99);
        dup2 (null, 1);
        dup2 (errfd, 2);
        const char *argv[16] = {LH_DRILL_CHECK};
        for (size_t i = 0; args[i] && i < 14; i++)
            argv[i + 1] = args[i];
        execv (LH_DRILL_CHECK, (char *const *) argv);
        _exit (98);
    }
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    size_t size;
    char *text = s_read_file (err_path, &size);
    snprintf (err, err_size, "%s", text);
    free (text);
    remove (err_path);
    assert_true (WIFEXITED (status));
    return WEXITSTATUS (status);
}

static void
test_drill_check_process (void **state)
{
    (void) state;
    drill_t d;
    s_drill (&d);
    checker_t *checker = s_checker (&d);
    char history[300], e1[300], e2[300], e3[300], json[300], why[WHY_SIZE], err[2048];
    s_path (history, sizeof (history), "drill.jsonl");
    s_path (e1, sizeof (e1), "r1.export");
    s_path (e2, sizeof (e2), "r2.export");
    s_path (e3, sizeof (e3), "r3.export");
    s_path (json, sizeof (json), "report.json");
    assert_int_equal (checker_history_write (checker, history, why, sizeof (why)), 0);
    checker_destroy (&checker);
    s_export (e1, &d, d.size);
    s_export (e2, &d, d.size);

    const char *help[] = {"--help", NULL};
    assert_int_equal (s_run (help, err, sizeof (err)), 0);
    //  Clean: 0, and the JSON report
    const char *clean[] = {"--history", history,  "--export", e1,  "--export",
                           e2,          "--json", json,       NULL};
    assert_int_equal (s_run (clean, err, sizeof (err)), 0);
    size_t size;
    char *report = s_read_file (json, &size);
    assert_non_null (strstr (report, "\"ok\": true"));
    assert_non_null (strstr (report, "\"acked\": 3"));
    free (report);
    //  A shorter replica (its export complete, of fewer events): 1
    s_export (e3, &d, 3);
    const char *shorter[] = {"--history", history, "--export", e1, "--export", e3, NULL};
    assert_int_equal (s_run (shorter, err, sizeof (err)), 1);
    //  Lost everywhere: 1
    const char *lost[] = {"--history", history, "--export", e3, NULL};
    assert_int_equal (s_run (lost, err, sizeof (err)), 1);

    //  Bad input: 2, with a one-line error naming the file
    const char *usage[] = {"--history", history, NULL};
    assert_int_equal (s_run (usage, err, sizeof (err)), 2);
    const char *unknown[] = {"--frobnicate", "x", NULL};
    assert_int_equal (s_run (unknown, err, sizeof (err)), 2);
    char missing[300];
    s_path (missing, sizeof (missing), "no-such.export");
    const char *absent[] = {"--history", history, "--export", missing, NULL};
    assert_int_equal (s_run (absent, err, sizeof (err)), 2);
    assert_non_null (strstr (err, "no-such.export"));
    char *newline = strchr (err, '\n');
    assert_non_null (newline);
    assert_int_equal (newline[1], 0); //  one line
    //  An export cut short (the checkpoint record half there)
    char *bytes = s_read_file (e1, &size);
    s_write_file (e3, bytes, size - 10);
    const char *cut[] = {"--history", history, "--export", e3, NULL};
    assert_int_equal (s_run (cut, err, sizeof (err)), 2);
    assert_non_null (strstr (err, "cut short"));
    //  ... or cut between records, without its checkpoint
    msgpack_sbuffer leaf;
    msgpack_sbuffer_init (&leaf);
    codec_buf_t whole;
    codec_buf_init (&whole);
    msgpack_pack_map (&whole.pk, 2);
    codec_pack_kv_str (&whole.pk, "format", "lighthouse-log/1");
    codec_pack_kv_str (&whole.pk, "origin", "lighthouse.test/log");
    s_leaf (0, &d.log[0], &leaf);
    msgpack_pack_map (&whole.pk, 2);
    codec_pack_kv_u64 (&whole.pk, "seq", 0);
    codec_pack_kv_bin (&whole.pk, "leaf", leaf.data, leaf.size);
    s_write_file (e3, whole.sbuf.data, whole.sbuf.size);
    assert_int_equal (s_run (cut, err, sizeof (err)), 2);
    assert_non_null (strstr (err, "does not end with a checkpoint"));
    codec_buf_destroy (&whole);
    msgpack_sbuffer_destroy (&leaf);
    //  Not an export at all
    s_write_file (e3, "\x81\xa1x\x01", 4);
    assert_int_equal (s_run (cut, err, sizeof (err)), 2);
    assert_non_null (strstr (err, "not a lighthouse-log/1 export"));
    //  Garbage after the checkpoint
    memcpy (bytes + size, "\xc1", 1);
    s_write_file (e3, bytes, size + 1);
    assert_int_equal (s_run (cut, err, sizeof (err)), 2);
    free (bytes);
    //  A malformed history
    s_write_file (history, "{\"op\":\"append\"}\n", 16);
    assert_int_equal (s_run (clean, err, sizeof (err)), 2);
    assert_non_null (strstr (err, "drill.jsonl:1: "));
    remove (history);
    remove (e1);
    remove (e2);
    remove (e3);
    remove (json);
}

static int
s_setup (void **state)
{
    (void) state;
    const char *tmp = getenv ("TMPDIR");
    snprintf (s_dir, sizeof (s_dir), "%s/test_checker.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    return mkdtemp (s_dir) ? 0 : -1;
}

static int
s_teardown (void **state)
{
    (void) state;
    return rmdir (s_dir);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_clean_run),
        cmocka_unit_test (test_indeterminate_landed),
        cmocka_unit_test (test_resend_is_not_reordered),
        cmocka_unit_test (test_other_appenders),
        cmocka_unit_test (test_lost),
        cmocka_unit_test (test_duplicated),
        cmocka_unit_test (test_duplicated_validator_event),
        cmocka_unit_test (test_reordered),
        cmocka_unit_test (test_concurrent_is_not_reordered),
        cmocka_unit_test (test_reordered_counts_pairs),
        cmocka_unit_test (test_acked_seq_holds_another_event),
        cmocka_unit_test (test_acked_past_the_end),
        cmocka_unit_test (test_failed_but_present),
        cmocka_unit_test (test_unexpected),
        cmocka_unit_test (test_unexpected_without_client_id),
        cmocka_unit_test (test_replica_differs_in_one_byte),
        cmocka_unit_test (test_shorter_replica),
        cmocka_unit_test (test_decisions_missing),
        cmocka_unit_test (test_bad_operations),
        cmocka_unit_test (test_history_round_trip),
        cmocka_unit_test (test_history_lines),
        cmocka_unit_test (test_history_malformed),
        cmocka_unit_test (test_drill_check_process),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
