/*  test_spool -- unit tests for nodes/validator/spool.c (cmocka).

    Every test keeps its spool in a fresh directory under $TMPDIR (default
    /tmp) and reads the LMDB file itself, with plain LMDB, between runs of
    the spool: what is on disk is what a restart would send. The integrity
    log is either absent (an inproc endpoint nobody binds: the SDK connects
    lazily and queues) or played by a ROUTER socket in the test's own
    thread, which answers each append request as the test says. No daemon,
    no network.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <czmq.h>
#include <lmdb.h>

#include "codec.h"
#include "event.h"
#include "lh_proto.h"
#include "spool.h"

#define MAX_FILE 64
#define BIG_MAP  ((size_t) 16 << 20)
#define DECISION "validation.decision"

typedef struct {
    char dir[256];
    char endpoint[128];
    lh_connect_t conn;
    spool_t *spool;
    zsock_t *log; //  the fake integrity log, when bound
} fixture_t;

//  The events in the spool file, key order
typedef struct {
    size_t count;
    uint64_t keys[MAX_FILE];
    char *values[MAX_FILE];
    size_t sizes[MAX_FILE];
} file_t;

static int s_fixtures;

static int
s_setup (void **state)
{
    fixture_t *fx = (fixture_t *) calloc (1, sizeof (fixture_t));
    if (!fx)
        return -1;
    const char *tmp = getenv ("TMPDIR");
    snprintf (fx->dir, sizeof (fx->dir), "%s/lh-test-spool-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp (fx->dir))
        return -1;
    snprintf (fx->endpoint, sizeof (fx->endpoint), "inproc://lh-test-spool-%d-%d", (int) getpid (),
              ++s_fixtures);
    fx->conn = (lh_connect_t){.endpoint = fx->endpoint};
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    spool_destroy (&fx->spool);
    zsock_destroy (&fx->log);
    zsys_dir_delete ("%s/sub/deeper", fx->dir);
    zsys_dir_delete ("%s/sub", fx->dir);
    const char *names[] = {"spool.mdb", "spool.mdb-lock", "spool.lock", "not-a-dir"};
    for (size_t i = 0; i < sizeof (names) / sizeof (names[0]); i++) {
        char path[400];
        snprintf (path, sizeof (path), "%s/%s", fx->dir, names[i]);
        if (unlink (path) != 0)
            rmdir (path);
    }
    assert_int_equal (rmdir (fx->dir), 0);
    free (fx);
    return 0;
}

static spool_t *
s_open (fixture_t *fx, size_t max_events, size_t map_bytes)
{
    char err[512] = "";
    spool_t *spool = spool_new (&fx->conn, fx->dir, max_events, map_bytes, true, err, sizeof (err));
    if (!spool)
        fail_msg ("spool_new: %s", err);
    return spool;
}

//  The data map of event n: {n, pad: `pad` bytes}
static void
s_data (codec_buf_t *buf, uint64_t n, size_t pad)
{
    msgpack_sbuffer_clear (&buf->sbuf);
    msgpack_pack_map (&buf->pk, 2);
    codec_pack_str (&buf->pk, "n");
    msgpack_pack_uint64 (&buf->pk, n);
    codec_pack_str (&buf->pk, "pad");
    msgpack_pack_str (&buf->pk, pad);
    char chunk[256];
    memset (chunk, 'p', sizeof (chunk));
    for (size_t left = pad; left > 0;) {
        size_t take = left < sizeof (chunk) ? left : sizeof (chunk);
        msgpack_pack_str_body (&buf->pk, chunk, take);
        left -= take;
    }
}

static bool
s_add (spool_t *spool, uint64_t n, size_t pad, const char *agent)
{
    codec_buf_t data;
    codec_buf_init (&data);
    s_data (&data, n, pad);
    bool ok = spool_add (spool, DECISION, agent, NULL, data.sbuf.data, data.sbuf.size);
    codec_buf_destroy (&data);
    return ok;
}

//  Reads the spool file with plain LMDB (the spool must be closed)
static void
s_read_file (fixture_t *fx, file_t *file)
{
    memset (file, 0, sizeof (*file));
    char path[400];
    snprintf (path, sizeof (path), "%s/spool.mdb", fx->dir);
    MDB_env *env;
    assert_int_equal (mdb_env_create (&env), 0);
    assert_int_equal (mdb_env_set_mapsize (env, BIG_MAP), 0);
    assert_int_equal (mdb_env_open (env, path, MDB_NOSUBDIR | MDB_RDONLY, 0600), 0);
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *cursor;
    assert_int_equal (mdb_txn_begin (env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal (mdb_dbi_open (txn, NULL, 0, &dbi), 0);
    assert_int_equal (mdb_cursor_open (txn, dbi, &cursor), 0);
    MDB_val key, val;
    for (int op = MDB_FIRST; mdb_cursor_get (cursor, &key, &val, op) == 0; op = MDB_NEXT) {
        assert_true (file->count < MAX_FILE);
        assert_int_equal (key.mv_size, 8);
        file->keys[file->count] = codec_get_be64 ((const uint8_t *) key.mv_data);
        file->values[file->count] = (char *) malloc (val.mv_size);
        memcpy (file->values[file->count], val.mv_data, val.mv_size);
        file->sizes[file->count++] = val.mv_size;
    }
    mdb_cursor_close (cursor);
    mdb_txn_abort (txn);
    mdb_env_close (env);
}

static void
s_file_free (file_t *file)
{
    for (size_t i = 0; i < file->count; i++)
        free (file->values[i]);
    file->count = 0;
}

static const char *
s_str (const msgpack_object *map, const char *key, char *buf, size_t size)
{
    const msgpack_object *v = codec_map_get (map, key);
    if (!v || !codec_str_copy (v, buf, size))
        buf[0] = 0;
    return buf;
}

//  Checks a stored event map: {type, agent?, client_id, data: {n, pad}}
//  with data n; its client id goes to ref
static void
s_check_event (const void *bytes, size_t size, uint64_t n, const char *agent, char *ref,
               size_t ref_size)
{
    lh_err_t err;
    const char *why;
    codec_doc_t *doc = codec_doc_decode (bytes, size, &err, &why);
    if (!doc)
        fail_msg ("stored event does not decode: %s", why);
    const msgpack_object *m = codec_doc_root (doc);
    char buf[128];
    assert_string_equal (s_str (m, "type", buf, sizeof (buf)), DECISION);
    if (agent)
        assert_string_equal (s_str (m, "agent", buf, sizeof (buf)), agent);
    else
        assert_null (codec_map_get (m, "agent"));
    s_str (m, "client_id", ref, ref_size);
    assert_true (strlen (ref) > 0 && strlen (ref) <= EVENT_MAX_REF);
    const msgpack_object *data = codec_map_get (m, "data");
    assert_non_null (data);
    const msgpack_object *got = codec_map_get (data, "n");
    assert_non_null (got);
    assert_int_equal (got->via.u64, n);
    codec_doc_destroy (&doc);
}

//  --------------------------------------------------------------------------
//  The fake integrity log

static void
s_log_bind (fixture_t *fx)
{
    fx->log = zsock_new (ZMQ_ROUTER);
    assert_non_null (fx->log);
    assert_int_equal (zsock_bind (fx->log, "%s", fx->endpoint), 0);
}

typedef enum { ANSWER_OK, ANSWER_DUPLICATE, ANSWER_ERROR } answer_kind_t;

//  One append request from the spool: its events' packed bytes (copied
//  into events/sizes, up to max) and count
typedef struct {
    size_t count;
    char *events[MAX_FILE];
    size_t sizes[MAX_FILE];
} request_t;

//  Polls the spool until the log gets a request (up to 3 s), answers it
//  with kind (code for errors) and returns what it carried
static void
s_log_serve (fixture_t *fx, answer_kind_t kind, lh_err_t code, request_t *got)
{
    memset (got, 0, sizeof (*got));
    zpoller_t *poller = zpoller_new (fx->log, NULL);
    int64_t until = zclock_mono () + 3000;
    zmsg_t *msg = NULL;
    while (!msg && zclock_mono () < until) {
        spool_poll (fx->spool);
        if (zpoller_wait (poller, 5))
            msg = zmsg_recv (fx->log);
    }
    zpoller_destroy (&poller);
    if (!msg)
        fail_msg ("the spool sent nothing to the log");
    assert_int_equal (zmsg_size (msg), 5);
    zframe_t *routing = zmsg_pop (msg);
    zframe_t *empty = zmsg_pop (msg);
    zframe_t *header = zmsg_pop (msg);
    zframe_t *service = zmsg_pop (msg);
    zframe_t *body = zmsg_pop (msg);
    assert_int_equal (zframe_size (empty), 0);
    assert_true (zframe_streq (header, MDPC_CLIENT));
    assert_true (zframe_streq (service, "events"));
    lh_err_t err;
    const char *why;
    codec_doc_t *doc = codec_doc_decode (zframe_data (body), zframe_size (body), &err, &why);
    if (!doc)
        fail_msg ("append request does not decode: %s", why);
    const msgpack_object *root = codec_doc_root (doc);
    char op[16];
    assert_string_equal (s_str (root, "op", op, sizeof (op)), "append");
    const msgpack_object *id = codec_map_get (root, "id");
    assert_non_null (id);
    const msgpack_object *events = codec_map_get (root, "events");
    assert_non_null (events);
    assert_int_equal (events->type, MSGPACK_OBJECT_ARRAY);
    got->count = events->via.array.size;
    assert_true (got->count <= MAX_FILE);
    for (size_t i = 0; i < got->count; i++) {
        codec_buf_t one;
        codec_buf_init (&one);
        msgpack_pack_object (&one.pk, events->via.array.ptr[i]);
        got->events[i] = (char *) malloc (one.sbuf.size);
        memcpy (got->events[i], one.sbuf.data, one.sbuf.size);
        got->sizes[i] = one.sbuf.size;
        codec_buf_destroy (&one);
    }

    codec_buf_t reply;
    codec_buf_init (&reply);
    if (kind == ANSWER_ERROR)
        codec_pack_error (&reply.pk, id, code, "the fake log says no");
    else {
        codec_pack_ok_head (&reply.pk, id, 1);
        codec_pack_str (&reply.pk, "results");
        msgpack_pack_array (&reply.pk, got->count);
        for (size_t i = 0; i < got->count; i++) {
            msgpack_pack_map (&reply.pk, 2);
            codec_pack_str (&reply.pk, "seq");
            msgpack_pack_uint64 (&reply.pk, i);
            codec_pack_str (&reply.pk, "duplicate");
            if (kind == ANSWER_DUPLICATE)
                msgpack_pack_true (&reply.pk);
            else
                msgpack_pack_false (&reply.pk);
        }
    }
    zmsg_t *out = zmsg_new ();
    zmsg_append (out, &routing);
    zmsg_addmem (out, "", 0);
    zmsg_addstr (out, MDPC_CLIENT);
    zmsg_addstr (out, "events");
    zmsg_addmem (out, reply.sbuf.data, reply.sbuf.size);
    assert_int_equal (zmsg_send (&out, fx->log), 0);
    codec_buf_destroy (&reply);
    codec_doc_destroy (&doc);
    zframe_destroy (&empty);
    zframe_destroy (&header);
    zframe_destroy (&service);
    zframe_destroy (&body);
    zmsg_destroy (&msg);
}

static void
s_request_free (request_t *got)
{
    for (size_t i = 0; i < got->count; i++)
        free (got->events[i]);
    got->count = 0;
}

//  Polls the spool until its counter reaches want (up to 3 s)
static void
s_poll_until (fixture_t *fx, const uint64_t *counter, uint64_t want)
{
    int64_t until = zclock_mono () + 3000;
    while (*counter != want && zclock_mono () < until) {
        spool_poll (fx->spool);
        zclock_sleep (1);
    }
    assert_int_equal (*counter, want);
}

//  --------------------------------------------------------------------------
//  Tests

//  Committed events are in the file, whole, in order, each with its own
//  client id; a restart finds every one of them and sends them again with
//  the same bytes; new events get new keys and client ids
static void
test_durable_across_restart (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    fx->spool = s_open (fx, 100, BIG_MAP);
    const spool_counters_t *n = spool_counters (fx->spool);
    assert_int_equal (spool_next_ms (fx->spool), -1); //  nothing to do
    const char *agents[] = {"agent-1", NULL, "not a valid agent id!", "agent-2", "agent-1"};
    for (uint64_t i = 0; i < 5; i++)
        assert_true (s_add (fx->spool, i, 10 + i, agents[i]));
    assert_int_equal (spool_staged (fx->spool), 5);
    assert_int_equal (n->stored, 0);
    assert_int_equal (n->queued, 0);
    assert_true (spool_commit (fx->spool));
    assert_int_equal (spool_staged (fx->spool), 0);
    assert_int_equal (n->stored, 5);
    assert_int_equal (n->queued, 5);
    assert_int_equal (n->commits, 1);
    assert_int_equal (n->refused, 0);
    assert_true (n->bytes > 0);
    //  Committing nothing is a success and no commit
    assert_true (spool_commit (fx->spool));
    assert_int_equal (n->commits, 1);
    //  Queued: the first batch is due within SPOOL_DELAY_MS
    int next = spool_next_ms (fx->spool);
    assert_true (next >= 0 && next <= SPOOL_DELAY_MS);
    spool_destroy (&fx->spool);

    file_t before;
    s_read_file (fx, &before);
    assert_int_equal (before.count, 5);
    char refs[6][EVENT_MAX_REF + 1];
    for (size_t i = 0; i < 5; i++) {
        if (i)
            assert_true (before.keys[i] == before.keys[i - 1] + 1);
        //  An agent id the log would refuse is left out of the event
        s_check_event (before.values[i], before.sizes[i], i, i == 2 ? NULL : agents[i], refs[i],
                       sizeof (refs[i]));
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal (refs[i], refs[j]);
    }

    fx->spool = s_open (fx, 100, BIG_MAP);
    n = spool_counters (fx->spool);
    assert_int_equal (n->replayed, 5);
    assert_int_equal (n->queued, 5);
    assert_int_equal (n->stored, 0);
    assert_true (s_add (fx->spool, 5, 3, "agent-3"));
    assert_true (spool_commit (fx->spool));
    assert_int_equal (n->queued, 6);
    spool_destroy (&fx->spool);

    file_t after;
    s_read_file (fx, &after);
    assert_int_equal (after.count, 6);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal (after.keys[i], before.keys[i]);
        assert_int_equal (after.sizes[i], before.sizes[i]);
        assert_memory_equal (after.values[i], before.values[i], before.sizes[i]);
    }
    assert_true (after.keys[5] > after.keys[4]);
    s_check_event (after.values[5], after.sizes[5], 5, "agent-3", refs[5], sizeof (refs[5]));
    for (size_t j = 0; j < 5; j++)
        assert_string_not_equal (refs[5], refs[j]);
    s_file_free (&before);
    s_file_free (&after);
}

//  Staged events are not durable until committed: a stop before the commit
//  leaves nothing (they were never answered either)
static void
test_uncommitted_not_kept (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    fx->spool = s_open (fx, 100, BIG_MAP);
    assert_true (s_add (fx->spool, 0, 1, "agent-1"));
    assert_true (spool_commit (fx->spool));
    assert_true (s_add (fx->spool, 1, 1, "agent-1"));
    assert_true (s_add (fx->spool, 2, 1, "agent-1"));
    spool_destroy (&fx->spool);
    fx->spool = s_open (fx, 100, BIG_MAP);
    assert_int_equal (spool_counters (fx->spool)->replayed, 1);
    assert_int_equal (spool_staged (fx->spool), 0);
    spool_destroy (&fx->spool);
    file_t file;
    s_read_file (fx, &file);
    assert_int_equal (file.count, 1);
    char ref[EVENT_MAX_REF + 1];
    s_check_event (file.values[0], file.sizes[0], 0, "agent-1", ref, sizeof (ref));
    s_file_free (&file);
}

//  At max_events (queued and staged together, replayed ones included)
//  spool_add refuses and counts it; the rest of the group is unaffected
static void
test_count_bound (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    fx->spool = s_open (fx, 4, BIG_MAP);
    const spool_counters_t *n = spool_counters (fx->spool);
    for (uint64_t i = 0; i < 3; i++)
        assert_true (s_add (fx->spool, i, 1, "agent-1"));
    assert_true (spool_commit (fx->spool));
    assert_true (s_add (fx->spool, 3, 1, "agent-1"));
    assert_false (s_add (fx->spool, 4, 1, "agent-1"));
    assert_int_equal (n->refused, 1);
    assert_int_equal (spool_staged (fx->spool), 1);
    assert_true (spool_commit (fx->spool)); //  the staged one is still fine
    assert_int_equal (n->queued, 4);
    assert_int_equal (n->stored, 4);
    assert_false (s_add (fx->spool, 5, 1, "agent-1"));
    assert_int_equal (n->refused, 2);
    assert_int_equal (spool_staged (fx->spool), 0);
    spool_destroy (&fx->spool);

    //  After a restart the events found count against the bound
    fx->spool = s_open (fx, 4, BIG_MAP);
    n = spool_counters (fx->spool);
    assert_int_equal (n->replayed, 4);
    assert_false (s_add (fx->spool, 6, 1, "agent-1"));
    assert_int_equal (n->refused, 1);
    spool_destroy (&fx->spool);

    //  A larger bound takes more, and nothing earlier was lost
    fx->spool = s_open (fx, 5, BIG_MAP);
    assert_true (s_add (fx->spool, 7, 1, "agent-1"));
    assert_true (spool_commit (fx->spool));
    assert_false (s_add (fx->spool, 8, 1, "agent-1"));
    spool_destroy (&fx->spool);
    file_t file;
    s_read_file (fx, &file);
    assert_int_equal (file.count, 5);
    const uint64_t want[] = {0, 1, 2, 3, 7};
    char ref[EVENT_MAX_REF + 1];
    for (size_t i = 0; i < 5; i++)
        s_check_event (file.values[i], file.sizes[i], want[i], "agent-1", ref, sizeof (ref));
    s_file_free (&file);
}

//  At map_bytes the LMDB map is full: the add that does not fit is refused,
//  and with it the whole open group (its transaction is dead), which the
//  commit then reports; what was committed before stays, and the spool
//  takes new events once there is room (here: after a restart with a
//  larger map)
static void
test_size_bound (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    const size_t map = 256 * 1024, pad = 8 * 1024;
    fx->spool = s_open (fx, 1000, map);
    const spool_counters_t *n = spool_counters (fx->spool);
    uint64_t i = 0;
    //  One event per group until one is refused
    while (i < 100) {
        if (!s_add (fx->spool, i, pad, "agent-1"))
            break;
        assert_true (spool_commit (fx->spool));
        i++;
    }
    assert_true (i > 5 && i < 100);
    uint64_t stored = i;
    assert_int_equal (n->stored, stored);
    assert_int_equal (n->refused, 1);
    assert_false (spool_commit (fx->spool)); //  the failed group
    assert_int_equal (spool_staged (fx->spool), 0);
    assert_true (n->bytes <= map);
    assert_true (n->bytes > stored * pad);

    //  A group of small events, then a big one that cannot fit: all refused
    bool ok = true;
    uint64_t refused = n->refused, staged = 0;
    for (uint64_t k = 0; k < 3 && ok; k++) {
        ok = s_add (fx->spool, 1000 + k, 1, "agent-1");
        staged += ok;
    }
    if (ok) {
        assert_false (s_add (fx->spool, 2000, 64 * 1024, "agent-1"));
        assert_int_equal (spool_staged (fx->spool), 0);
        assert_int_equal (n->refused, refused + staged + 1);
        //  The group is closed: adding more to it is refused too
        assert_false (s_add (fx->spool, 2001, 1, "agent-1"));
    }
    assert_false (spool_commit (fx->spool));
    assert_int_equal (n->stored, stored);
    assert_int_equal (n->queued, stored);
    spool_destroy (&fx->spool);

    file_t file;
    s_read_file (fx, &file);
    assert_int_equal (file.count, stored);
    char ref[EVENT_MAX_REF + 1];
    for (size_t k = 0; k < file.count; k++)
        s_check_event (file.values[k], file.sizes[k], k, "agent-1", ref, sizeof (ref));
    s_file_free (&file);

    fx->spool = s_open (fx, 1000, BIG_MAP);
    assert_int_equal (spool_counters (fx->spool)->replayed, stored);
    assert_true (s_add (fx->spool, 3000, pad, "agent-1"));
    assert_true (spool_commit (fx->spool));
}

//  An event the log could never take is refused on its own; the group
//  it was added to is not harmed
static void
test_event_too_large (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    fx->spool = s_open (fx, 100, BIG_MAP);
    const spool_counters_t *n = spool_counters (fx->spool);
    assert_true (s_add (fx->spool, 0, 1, "agent-1"));
    assert_false (s_add (fx->spool, 1, LH_MAX_BODY, "agent-1"));
    assert_int_equal (n->refused, 1);
    assert_int_equal (spool_staged (fx->spool), 1);
    assert_true (spool_commit (fx->spool));
    assert_int_equal (n->stored, 1);
}

static void
test_bad_arguments (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char err[256];
    lh_connect_t no_endpoint = {.endpoint = NULL};
    struct {
        const lh_connect_t *conn;
        const char *dir;
        size_t max_events;
    } cases[] = {
        {NULL, fx->dir, 10},
        {&no_endpoint, fx->dir, 10},
        {&fx->conn, NULL, 10},
        {&fx->conn, fx->dir, 0},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        err[0] = 0;
        assert_null (spool_new (cases[i].conn, cases[i].dir, cases[i].max_events, BIG_MAP, true,
                                err, sizeof (err)));
        assert_string_equal (err, "bad spool arguments");
    }
}

//  The directory is made (0700) when missing, and made 0700 when not
static void
test_directory_created_private (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char dir[400];
    snprintf (dir, sizeof (dir), "%s/sub/deeper", fx->dir);
    char err[512] = "";
    spool_t *spool = spool_new (&fx->conn, dir, 10, BIG_MAP, false, err, sizeof (err));
    if (!spool)
        fail_msg ("spool_new: %s", err);
    struct stat st;
    assert_int_equal (stat (dir, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0700);
    assert_true (s_add (spool, 0, 1, NULL));
    assert_true (spool_commit (spool)); //  sync off commits too
    spool_destroy (&spool);
    char path[500];
    const char *names[] = {"spool.mdb", "spool.mdb-lock", "spool.lock"};
    for (size_t i = 0; i < 3; i++) {
        snprintf (path, sizeof (path), "%s/%s", dir, names[i]);
        unlink (path);
    }
    assert_int_equal (chmod (fx->dir, 0755), 0);
    fx->spool = s_open (fx, 10, BIG_MAP);
    assert_int_equal (stat (fx->dir, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0700);
}

//  A second spool on the same directory is refused while the first runs
static void
test_locked_against_second (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    fx->spool = s_open (fx, 10, BIG_MAP);
    assert_true (s_add (fx->spool, 0, 1, "agent-1"));
    assert_true (spool_commit (fx->spool));
    char err[512] = "";
    assert_null (spool_new (&fx->conn, fx->dir, 10, BIG_MAP, true, err, sizeof (err)));
    assert_non_null (strstr (err, "another process uses"));
    assert_non_null (strstr (err, fx->dir));
    //  The first one is unharmed
    assert_true (s_add (fx->spool, 1, 1, "agent-1"));
    assert_true (spool_commit (fx->spool));
    assert_int_equal (spool_counters (fx->spool)->queued, 2);
    spool_destroy (&fx->spool);
    fx->spool = s_open (fx, 10, BIG_MAP);
    assert_int_equal (spool_counters (fx->spool)->replayed, 2);
}

//  A spool directory that is not one, a corrupt or truncated spool file,
//  a spool file or lock that cannot be opened: NULL and a message naming
//  the directory, never a crash
static void
test_bad_directory (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char err[512], path[400];

    //  The directory is a regular file
    snprintf (path, sizeof (path), "%s/not-a-dir", fx->dir);
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    fputs ("hello\n", file);
    fclose (file);
    err[0] = 0;
    assert_null (spool_new (&fx->conn, path, 10, BIG_MAP, true, err, sizeof (err)));
    print_message ("spool directory a file: %s\n", err);
    assert_non_null (strstr (err, path));
    assert_non_null (strstr (err, strerror (ENOTDIR)));
    unlink (path);

    //  Garbage where the LMDB file should be
    snprintf (path, sizeof (path), "%s/spool.mdb", fx->dir);
    file = fopen (path, "w");
    assert_non_null (file);
    for (int i = 0; i < 16384; i++)
        fputc (0xAB, file);
    fclose (file);
    err[0] = 0;
    assert_null (spool_new (&fx->conn, fx->dir, 10, BIG_MAP, true, err, sizeof (err)));
    print_message ("garbage spool file: %s\n", err);
    assert_non_null (strstr (err, "cannot open the spool in"));
    assert_non_null (strstr (err, fx->dir));
    unlink (path);
    snprintf (path, sizeof (path), "%s/spool.mdb-lock", fx->dir);
    unlink (path);

    //  A real spool file cut short
    fx->spool = s_open (fx, 10, BIG_MAP);
    assert_true (s_add (fx->spool, 0, 100, "agent-1"));
    assert_true (spool_commit (fx->spool));
    spool_destroy (&fx->spool);
    snprintf (path, sizeof (path), "%s/spool.mdb", fx->dir);
    assert_int_equal (truncate (path, 100), 0);
    err[0] = 0;
    assert_null (spool_new (&fx->conn, fx->dir, 10, BIG_MAP, true, err, sizeof (err)));
    print_message ("truncated spool file: %s\n", err);
    assert_non_null (strstr (err, "cannot open the spool in"));
    unlink (path);

    //  The spool file is a directory
    assert_int_equal (mkdir (path, 0700), 0);
    err[0] = 0;
    assert_null (spool_new (&fx->conn, fx->dir, 10, BIG_MAP, true, err, sizeof (err)));
    assert_non_null (strstr (err, "cannot open the spool in"));
    assert_int_equal (rmdir (path), 0);

    //  The lock file cannot be opened (a directory: even root cannot)
    snprintf (path, sizeof (path), "%s/spool.lock", fx->dir);
    unlink (path);
    assert_int_equal (mkdir (path, 0700), 0);
    err[0] = 0;
    assert_null (spool_new (&fx->conn, fx->dir, 10, BIG_MAP, true, err, sizeof (err)));
    assert_non_null (strstr (err, "cannot open"));
    assert_non_null (strstr (err, fx->dir));
    assert_int_equal (rmdir (path), 0);

    //  And with everything fixed it works again
    fx->spool = s_open (fx, 10, BIG_MAP);
    assert_int_equal (spool_counters (fx->spool)->replayed, 0);
}

//  With no log answering, nothing is lost: a flush gives up with every
//  event still queued and still on disk
static void
test_no_log_nothing_lost (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    fx->spool = s_open (fx, 100, BIG_MAP);
    const spool_counters_t *n = spool_counters (fx->spool);
    for (uint64_t i = 0; i < 3; i++)
        assert_true (s_add (fx->spool, i, 1, "agent-1"));
    assert_true (spool_commit (fx->spool));
    for (int k = 0; k < 30; k++) {
        spool_poll (fx->spool);
        zclock_sleep (2);
    }
    assert_int_equal (spool_flush (fx->spool, 150), 3);
    assert_int_equal (n->queued, 3);
    assert_int_equal (n->acked, 0);
    spool_destroy (&fx->spool);
    file_t file;
    s_read_file (fx, &file);
    assert_int_equal (file.count, 3);
    s_file_free (&file);
}

//  Acknowledged events leave the file and do not come back after a restart;
//  what the log got is byte for byte what was stored
static void
test_acked_events_leave (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_log_bind (fx);
    fx->spool = s_open (fx, 100, BIG_MAP);
    const spool_counters_t *n = spool_counters (fx->spool);
    for (uint64_t i = 0; i < 4; i++)
        assert_true (s_add (fx->spool, i, 20, "agent-1"));
    assert_true (spool_commit (fx->spool));
    request_t got;
    s_log_serve (fx, ANSWER_OK, LH_OK, &got);
    assert_int_equal (got.count, 4);
    char ref[EVENT_MAX_REF + 1];
    for (size_t i = 0; i < 4; i++)
        s_check_event (got.events[i], got.sizes[i], i, "agent-1", ref, sizeof (ref));
    s_poll_until (fx, &n->acked, 4);
    assert_int_equal (n->queued, 0);
    assert_int_equal (n->sent, 4);
    assert_int_equal (n->duplicates, 0);
    assert_int_equal (n->retries, 0);
    assert_int_equal (spool_next_ms (fx->spool), -1);
    assert_int_equal (spool_flush (fx->spool, 10), 0);
    s_request_free (&got);

    //  One more, not yet answered when the spool stops
    assert_true (s_add (fx->spool, 4, 20, "agent-1"));
    assert_true (spool_commit (fx->spool));
    spool_destroy (&fx->spool);
    file_t file;
    s_read_file (fx, &file);
    assert_int_equal (file.count, 1);
    s_check_event (file.values[0], file.sizes[0], 4, "agent-1", ref, sizeof (ref));

    //  After a restart exactly that one is sent again, the same bytes
    //  (client id included); the log had it already
    fx->spool = s_open (fx, 100, BIG_MAP);
    n = spool_counters (fx->spool);
    assert_int_equal (n->replayed, 1);
    s_log_serve (fx, ANSWER_DUPLICATE, LH_OK, &got);
    assert_int_equal (got.count, 1);
    assert_int_equal (got.sizes[0], file.sizes[0]);
    assert_memory_equal (got.events[0], file.values[0], file.sizes[0]);
    s_poll_until (fx, &n->acked, 1);
    assert_int_equal (n->duplicates, 1);
    assert_int_equal (n->queued, 0);
    s_request_free (&got);
    s_file_free (&file);
    spool_destroy (&fx->spool);
    s_read_file (fx, &file);
    assert_int_equal (file.count, 0);
    s_file_free (&file);
}

//  A failed append keeps the events and sends them again, same bytes,
//  after the backoff; a malformed-batch refusal gives them up
static void
test_failed_append_retried_rejected_given_up (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_log_bind (fx);
    fx->spool = s_open (fx, 100, BIG_MAP);
    const spool_counters_t *n = spool_counters (fx->spool);
    for (uint64_t i = 0; i < 2; i++)
        assert_true (s_add (fx->spool, i, 5, "agent-1"));
    assert_true (spool_commit (fx->spool));

    request_t first, second;
    s_log_serve (fx, ANSWER_ERROR, LH_E_UNAVAILABLE, &first);
    assert_int_equal (first.count, 2);
    int64_t failed_at = zclock_mono ();
    s_log_serve (fx, ANSWER_OK, LH_OK, &second);
    //  Not before the first backoff step
    assert_true (zclock_mono () - failed_at >= SPOOL_BACKOFF_MS / 2);
    assert_int_equal (second.count, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal (second.sizes[i], first.sizes[i]);
        assert_memory_equal (second.events[i], first.events[i], first.sizes[i]);
    }
    s_poll_until (fx, &n->acked, 2);
    assert_int_equal (n->retries, 2);
    assert_int_equal (n->sent, 4);
    assert_int_equal (n->queued, 0);
    s_request_free (&first);
    s_request_free (&second);

    //  bad_request: the same bytes would be refused forever
    for (uint64_t i = 2; i < 5; i++)
        assert_true (s_add (fx->spool, i, 5, "agent-1"));
    assert_true (spool_commit (fx->spool));
    s_log_serve (fx, ANSWER_ERROR, LH_E_BAD_REQUEST, &first);
    assert_int_equal (first.count, 3);
    s_poll_until (fx, &n->rejected, 3);
    assert_int_equal (n->queued, 0);
    assert_int_equal (n->acked, 2);
    s_request_free (&first);
    spool_destroy (&fx->spool);
    file_t file;
    s_read_file (fx, &file);
    assert_int_equal (file.count, 0);
    s_file_free (&file);
}

int
main (void)
{
    zsys_init ();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_durable_across_restart, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_uncommitted_not_kept, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_count_bound, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_size_bound, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_event_too_large, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bad_arguments, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_directory_created_private, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_locked_against_second, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bad_directory, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_no_log_nothing_lost, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_acked_events_leave, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_failed_append_retried_rejected_given_up, s_setup,
                                         s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
