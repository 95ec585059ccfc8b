/*  Integration tests: three lh-integrity replicas (real Raft over loopback
    TCP, real LMDB files, fsync on) behind a real CURVE broker. After each
    test the replicas are stopped and their stores opened read-only, so
    that what was acknowledged is checked on disk, replica by replica. */
#include "harness.h"
#include "lh_appender.h"

#include "codec.h"
#include "event.h"
#include "jsonpack.h"
#include "merkle.h"
#include "note.h"
#include "store.h"
#include "verify.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define REPLICAS 3

//  Appends one event; returns its seq or -1 (error reply); *code gets the error.
static int64_t
s_append (lh_client_t *client, const char *type, const char *client_id, const char *data_json,
          lh_err_t *code)
{
    size_t size = strlen (data_json) + 512;
    char *json = (char *) malloc (size);
    snprintf (json, size, "{\"op\":\"append\",\"events\":[{\"type\":\"%s\"%s%s%s,\"data\":%s}]}",
              type, client_id ? ",\"client_id\":\"" : "", client_id ? client_id : "",
              client_id ? "\"" : "", data_json);
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    char why[256];
    assert_int_equal (jsonpack_from_json (json, strlen (json), &body, why, sizeof (why)), 0);
    free (json);
    lh_reply_t *reply = lh_client_call (client, "events", body.data, body.size);
    msgpack_sbuffer_destroy (&body);
    int64_t seq = -1;
    if (code)
        *code = lh_reply_code (reply);
    if (lh_reply_ok (reply)) {
        const msgpack_object *results = codec_map_get (lh_reply_root (reply), "results");
        assert_non_null (results);
        assert_int_equal (results->via.array.size, 1);
        seq = (int64_t) codec_map_get (&results->via.array.ptr[0], "seq")->via.u64;
    }
    lh_reply_destroy (&reply);
    return seq;
}

static lh_reply_t *
s_read (cluster_t *c, const char *json)
{
    lh_reply_t *reply = cluster_call (c, c->admin, "events.read", json);
    if (!lh_reply_ok (reply))
        fail_msg ("events.read %s: %s: %s", json, lh_reply_code_name (reply),
                  lh_reply_message (reply));
    return reply;
}

static uint64_t
s_u64 (const msgpack_object *map, const char *key)
{
    const msgpack_object *v = codec_map_get (map, key);
    assert_non_null (v);
    return v->via.u64;
}

//  The replicas' verifier keys, from the cluster's keys file.
static size_t
s_keys (cluster_t *c, note_key_t **keys)
{
    char path[512], line[512];
    cluster_integrity_path (c, "keys", path, sizeof (path));
    FILE *file = fopen (path, "r");
    assert_non_null (file);
    size_t n = 0;
    while (n < REPLICAS && fgets (line, sizeof (line), file)) {
        line[strcspn (line, "\r\n")] = 0;
        keys[n] = note_key_from_verifier (line);
        assert_non_null (keys[n]);
        n++;
    }
    fclose (file);
    return n;
}

//  Opens replica id's store read-only (the replica must be stopped).
static store_t *
s_store (cluster_t *c, int id)
{
    char path[512], name[64], err[256];
    snprintf (name, sizeof (name), "%d/log.mdb", id);
    cluster_integrity_path (c, name, path, sizeof (path));
    store_t *store = store_open (path, (size_t) 1 << 30, true, err, sizeof (err));
    if (!store)
        fail_msg ("cannot open %s: %s", path, err);
    return store;
}

//  Called for each event of a replica's store: the replica's id, the event's
//  seq and the event (valid during the call)
typedef void (event_fn_t) (int replica, uint64_t seq, const event_t *ev, void *arg);

//  Opens replica id's store (s_store) and calls fn for each of its events
//  0 to size - 1, every one of which must be there and decode.
static void
s_each_event (cluster_t *c, int id, uint64_t size, event_fn_t *fn, void *arg)
{
    store_t *store = s_store (c, id);
    for (uint64_t seq = 0; seq < size; seq++) {
        void *leaf;
        size_t leaf_size;
        assert_int_equal (store_get (store, seq, &leaf, &leaf_size), 0);
        event_t ev;
        codec_doc_t *doc;
        char why[128];
        assert_int_equal (event_decode (leaf, leaf_size, &ev, &doc, why, sizeof (why)), LH_OK);
        fn (id, seq, &ev, arg);
        codec_doc_destroy (&doc);
        free (leaf);
    }
    store_destroy (&store);
}

//  Waits until the log served by events.read has at least size events.
static bool
s_wait_size (cluster_t *c, uint64_t size, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms;
    while (zclock_mono () < until) {
        lh_reply_t *reply = cluster_call (c, c->admin, "events.read", "{\"op\":\"status\"}");
        const msgpack_object *status = codec_map_get (lh_reply_root (reply), "status");
        uint64_t have = status ? s_u64 (status, "size") : 0;
        lh_reply_destroy (&reply);
        if (have >= size)
            return true;
        zclock_sleep (50);
    }
    return false;
}

//  Waits until every running replica reports the same log size (a follower
//  learns of a commit with the leader's next heartbeat); false on timeout.
static bool
s_wait_converged (cluster_t *c, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms;
    uint64_t sizes[8] = {0};
    bool seen[8] = {false};
    int running = 0;
    for (int id = 1; id <= c->replica_count; id++)
        running += c->replicas[id] > 0;
    while (zclock_mono () < until) {
        lh_reply_t *reply = cluster_call (c, c->admin, "events.read", "{\"op\":\"status\"}");
        const msgpack_object *status = codec_map_get (lh_reply_root (reply), "status");
        const msgpack_object *id = codec_map_get (status, "replica_id");
        if (id && id->via.u64 < 8) {
            sizes[id->via.u64] = s_u64 (status, "size");
            seen[id->via.u64] = true;
        }
        lh_reply_destroy (&reply);
        int agree = 0;
        uint64_t max = 0;
        for (int i = 1; i <= c->replica_count; i++)
            max = sizes[i] > max ? sizes[i] : max;
        for (int i = 1; i <= c->replica_count; i++)
            agree += seen[i] && sizes[i] == max;
        if (agree == running)
            return true;
        zclock_sleep (20);
    }
    for (int i = 1; i <= c->replica_count; i++)
        print_message ("replica %d: %s, size %llu\n", i, seen[i] ? "answered" : "never answered",
                       (unsigned long long) sizes[i]);
    if (getenv ("LH_TEST_GDB"))
        for (int i = 1; i <= c->replica_count; i++) {
            char command[256];
            snprintf (command, sizeof (command),
                      "gdb -p %d -batch -ex 'thread apply all bt 12' 2>/dev/null | grep '^#' >&2",
                      (int) c->replicas[i]);
            if (c->replicas[i] > 0 && system (command) != 0)
                print_message ("no backtrace of replica %d\n", i);
        }
    return false;
}

//  Waits until the latest checkpoint, read from whichever replicas answer,
//  carries `count` valid signatures six times running; false on timeout.
static bool
s_wait_cosigned (cluster_t *c, int count, int timeout_ms)
{
    note_key_t *keys[REPLICAS];
    size_t nkeys = s_keys (c, keys);
    int64_t until = zclock_mono () + timeout_ms;
    int running = 0;
    while (running < 6 && zclock_mono () < until) {
        lh_reply_t *reply = cluster_call (c, c->admin, "events.read", "{\"op\":\"checkpoint\"}");
        char note[4096] = "";
        codec_str_copy (codec_map_get (lh_reply_root (reply), "checkpoint"), note, sizeof (note));
        lh_reply_destroy (&reply);
        if (note_verify (note, keys, nkeys, NULL, NULL) >= count)
            running++;
        else {
            running = 0;
            zclock_sleep (50);
        }
    }
    for (size_t i = 0; i < nkeys; i++)
        note_key_destroy (&keys[i]);
    return running == 6;
}

//  Stops every replica and checks each store on disk: it verifies against
//  all keys, and all replicas hold the same size and root. Returns the size.
static uint64_t
s_check_replicas (cluster_t *c)
{
    assert_true (s_wait_converged (c, 10000));
    for (int id = 1; id <= c->replica_count; id++)
        if (c->replicas[id] > 0) {
            int status = cluster_stop_replica (c, id, SIGTERM);
            assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
        }
    note_key_t *keys[REPLICAS];
    size_t nkeys = s_keys (c, keys);
    uint64_t size = 0;
    merkle_hash_t first_root;
    for (int id = 1; id <= c->replica_count; id++) {
        store_t *store = s_store (c, id);
        verify_result_t result;
        if (verify_store (store, keys, nkeys, 1, "lighthouse/log", &result) != 0)
            fail_msg ("replica %d: %s at %llu: %s", id, verify_kind_name (result.kind),
                      (unsigned long long) result.seq, result.detail);
        merkle_hash_t root;
        assert_int_equal (store_root (store, store_size (store), root), 0);
        if (id == 1) {
            size = store_size (store);
            memcpy (first_root, root, sizeof (root));
        } else {
            if (store_size (store) != size)
                fail_msg ("replica %d has %llu events, replica 1 has %llu", id,
                          (unsigned long long) store_size (store), (unsigned long long) size);
            assert_memory_equal (root, first_root, sizeof (root));
        }
        store_destroy (&store);
    }
    for (size_t i = 0; i < nkeys; i++)
        note_key_destroy (&keys[i]);
    return size;
}

static int s_flip (const char *path, const char *marker);

//  Runs lh with the admin key and args; returns its exit status. Output
//  goes to DIR/lh.out.
static int s_lh (cluster_t *c, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static int
s_lh (cluster_t *c, const char *format, ...)
{
    char args[2048], command[4096];
    va_list list;
    va_start (list, format);
    vsnprintf (args, sizeof (args), format, list);
    va_end (list);
    snprintf (command, sizeof (command),
              "LH_BROKER='%s' LH_BROKER_KEY='%s' LH_CERT='%s/admin.cert_secret' '%s' %s "
              "> '%s/lh.out' 2>&1",
              c->frontend, c->broker_key, c->dir, LH_CLI_BIN, args, c->dir);
    int status = system (command);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

//  Whether DIR/lh.out matches an extended regular expression.
static bool
s_lh_out (cluster_t *c, const char *pattern)
{
    char command[1024];
    snprintf (command, sizeof (command), "grep -Eq '%s' '%s/lh.out'", pattern, c->dir);
    return system (command) == 0;
}

//  --------------------------------------------------------------------------

static void
test_append_read_prove (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    cluster_start_integrity (c, REPLICAS, NULL);
    lh_client_t *agent = cluster_client (c, c->agent);
    lh_client_t *node = cluster_client (c, c->node);

    //  Exactly once under retries: the same client id answers the same seq
    lh_err_t code;
    int64_t first = s_append (agent, "command.executed", "run-1", "{\"command\":\"make\"}", &code);
    assert_int_equal (first, 0);
    assert_int_equal (s_append (agent, "command.executed", "run-1", "{\"command\":\"make\"}", NULL),
                      0);
    //  The same client id from another appender is another event
    assert_int_equal (s_append (node, "custom", "run-1", "{}", NULL), 1);
    for (int i = 0; i < 20; i++)
        assert_int_equal (s_append (i % 2 ? agent : node, i % 2 ? "file.write" : "custom", NULL,
                                    "{\"path\":\"/w/a.c\",\"content\":\"x\"}", NULL),
                          2 + i);

    //  Followers serve reads too, a heartbeat behind the leader at most
    assert_true (s_wait_converged (c, 5000));

    //  get: the agent id is the caller frame's
    lh_reply_t *reply = s_read (c, "{\"op\":\"get\",\"seq\":0}");
    const msgpack_object *ev = codec_map_get (lh_reply_root (reply), "event");
    assert_true (codec_str_eq (codec_map_get (ev, "agent"), "agent-1"));
    assert_true (codec_str_eq (codec_map_get (ev, "by"), "agent-1"));
    assert_true (codec_str_eq (codec_map_get (ev, "role"), "agent"));
    assert_true (codec_str_eq (codec_map_get (ev, "type"), "command.executed"));
    lh_reply_destroy (&reply);

    //  query by agent and type, paged
    reply = s_read (c, "{\"op\":\"query\",\"agent\":\"agent-1\",\"type\":\"file.write\","
                       "\"limit\":4}");
    const msgpack_object *events = codec_map_get (lh_reply_root (reply), "events");
    assert_int_equal (events->via.array.size, 4);
    uint64_t next = s_u64 (lh_reply_root (reply), "next");
    assert_int_equal (s_u64 (&events->via.array.ptr[0], "seq"), 3);
    lh_reply_destroy (&reply);
    char json[256];
    snprintf (json, sizeof (json),
              "{\"op\":\"query\",\"agent\":\"agent-1\",\"type\":\"file.write\",\"after\":%llu}",
              (unsigned long long) next);
    reply = s_read (c, json);
    assert_int_equal (codec_map_get (lh_reply_root (reply), "events")->via.array.size, 6);
    lh_reply_destroy (&reply);
    reply = s_read (c, "{\"op\":\"range\",\"from\":5,\"to\":9}");
    events = codec_map_get (lh_reply_root (reply), "events");
    assert_int_equal (events->via.array.size, 4);
    assert_int_equal (s_u64 (&events->via.array.ptr[3], "seq"), 8);
    lh_reply_destroy (&reply);

    //  Inclusion proof of event 7 against the latest checkpoint, checked here
    reply = s_read (c, "{\"op\":\"proof\",\"seq\":7}");
    const msgpack_object *root = lh_reply_root (reply);
    const msgpack_object *proof = codec_map_get (root, "proof");
    const msgpack_object *leaf_hash = codec_map_get (root, "leaf_hash");
    char origin[64];
    uint64_t size;
    uint8_t tree_root[32];
    char note[1024];
    assert_true (codec_str_copy (codec_map_get (root, "checkpoint"), note, sizeof (note)));
    assert_int_equal (note_checkpoint_parse (note, origin, sizeof (origin), &size, tree_root), 0);
    assert_int_equal (size, 22);
    merkle_hash_t hashes[MERKLE_MAX_PROOF];
    for (uint32_t i = 0; i < proof->via.array.size; i++)
        memcpy (hashes[i], proof->via.array.ptr[i].via.bin.ptr, 32);
    merkle_hash_t leaf;
    memcpy (leaf, leaf_hash->via.bin.ptr, 32);
    assert_int_equal (
        merkle_verify_inclusion (leaf, 7, size, hashes, proof->via.array.size, tree_root), 0);
    //  The leaf hash is the hash of the event's bytes
    lh_reply_t *raw = s_read (c, "{\"op\":\"get\",\"seq\":7,\"raw\":true}");
    const msgpack_object *bytes = codec_map_get (lh_reply_root (raw), "event");
    merkle_hash_t rehash;
    merkle_leaf_hash (bytes->via.bin.ptr, bytes->via.bin.size, rehash);
    assert_memory_equal (rehash, leaf, 32);
    lh_reply_destroy (&raw);
    lh_reply_destroy (&reply);

    //  Consistency proof from 5 to the latest
    reply = s_read (c, "{\"op\":\"consistency\",\"old\":5}");
    root = lh_reply_root (reply);
    proof = codec_map_get (root, "proof");
    for (uint32_t i = 0; i < proof->via.array.size; i++)
        memcpy (hashes[i], proof->via.array.ptr[i].via.bin.ptr, 32);
    merkle_hash_t old_root;
    memcpy (old_root, codec_map_get (root, "old_root")->via.bin.ptr, 32);
    assert_true (codec_str_copy (codec_map_get (root, "checkpoint"), note, sizeof (note)));
    assert_int_equal (note_checkpoint_parse (note, origin, sizeof (origin), &size, tree_root), 0);
    assert_int_equal (
        merkle_verify_consistency (5, size, old_root, tree_root, hashes, proof->via.array.size), 0);
    lh_reply_destroy (&reply);

    //  Checkpoints gather every replica's signature
    assert_true (s_wait_cosigned (c, REPLICAS, 5000));

    //  The same through lh: append (exactly once under --id), proofs checked
    //  by lh against the replicas' keys, export and offline verification
    char keys_path[512], export_path[512];
    cluster_integrity_path (c, "keys", keys_path, sizeof (keys_path));
    cluster_integrity_path (c, "export", export_path, sizeof (export_path));
    assert_int_equal (s_lh (c, "event append --type custom --data '{\"k\":1}' --id cli-1"), 0);
    assert_true (s_lh_out (c, "\"seq\": 22"));
    assert_int_equal (s_lh (c, "event append --type custom --data '{\"k\":1}' --id cli-1"), 0);
    assert_true (s_lh_out (c, "\"duplicate\": true"));
    //  --data @FILE, for maps too large for a command line; a bad one writes nothing
    char data_path[512], command_data[1024];
    cluster_integrity_path (c, "data.json", data_path, sizeof (data_path));
    snprintf (command_data, sizeof (command_data),
              "printf '{\"path\":\"/w/big\",\"content\":\"%%0200000d\"}' 0 > '%s'", data_path);
    assert_int_equal (system (command_data), 0);
    assert_int_equal (s_lh (c, "event append --type file.write --data @'%s' --id cli-2", data_path),
                      0);
    assert_true (s_lh_out (c, "\"seq\": 23"));
    assert_int_equal (s_lh (c, "event append --type custom --data @/nonexistent"), 2);
    assert_int_equal (s_lh (c, "event append --type custom --data '[1'"), 2);
    assert_true (s_wait_converged (c, 5000));
    assert_int_equal (s_lh (c, "event proof 22 --keys '%s'", keys_path), 0);
    assert_true (s_lh_out (c, "\"verified\": true"));
    assert_int_equal (s_lh (c, "consistency 3 24 --keys '%s'", keys_path), 0);
    assert_int_equal (s_lh (c, "checkpoint --keys '%s'", keys_path), 0);
    assert_true (s_lh_out (c, "^24$"));
    assert_int_equal (s_lh (c, "event query --agent agent-1 --type file.write"), 0);
    char command[1536];
    snprintf (command, sizeof (command), "test $(grep -c file.write '%s/lh.out') -eq 10", c->dir);
    assert_int_equal (system (command), 0);
    assert_int_equal (s_lh (c, "event tail -n 3"), 0);
    assert_true (s_lh_out (c, "\"seq\":21,") && s_lh_out (c, "\"seq\":23,"));
    assert_int_equal (s_lh (c, "status"), 0);
    assert_true (s_lh_out (c, "^INTEGRITY LOG lighthouse/log") && s_lh_out (c, "events_appended"));
    //  tail -f follows what is appended after it started
    char command_tail[2048];
    snprintf (command_tail, sizeof (command_tail),
              "(LH_BROKER='%s' LH_BROKER_KEY='%s' LH_CERT='%s/admin.cert_secret' timeout 4 '%s' "
              "event tail -n 0 -f > '%s/tail.out' 2>&1 &)",
              c->frontend, c->broker_key, c->dir, LH_CLI_BIN, c->dir);
    assert_int_equal (system (command_tail), 0);
    zclock_sleep (1000);
    assert_int_equal (s_append (node, "custom", "tail-1", "{\"followed\":1}", NULL), 24);
    assert_int_equal (s_append (node, "custom", "tail-2", "{\"followed\":2}", NULL), 25);
    zclock_sleep (3500);
    snprintf (command_tail, sizeof (command_tail),
              "grep -c '\"followed\"' '%s/tail.out' | grep -qx 2 && ! grep -q '\"seq\":23,' "
              "'%s/tail.out'",
              c->dir, c->dir);
    assert_int_equal (system (command_tail), 0);
    assert_int_equal (s_lh (c, "event get 99"), 1);
    assert_true (s_lh_out (c, "not_found"));
    assert_int_equal (s_lh (c, "event export '%s'", export_path), 0);
    assert_int_equal (s_lh (c, "verify --export '%s' --keys '%s'", export_path, keys_path), 0);
    assert_true (s_lh_out (c, "verified: 26 events"));
    //  Bytes after the last record, or a last record cut short: not an export
    char damaged[600], shell[2048];
    snprintf (damaged, sizeof (damaged), "%s.damaged", export_path);
    snprintf (shell, sizeof (shell), "cp '%s' '%s' && printf '\\301\\301junk' >> '%s'", export_path,
              damaged, damaged);
    assert_int_equal (system (shell), 0);
    assert_int_equal (s_lh (c, "verify --export '%s' --keys '%s'", damaged, keys_path), 1);
    assert_true (s_lh_out (c, "malformed record"));
    snprintf (shell, sizeof (shell), "head -c -7 '%s' > '%s'", export_path, damaged);
    assert_int_equal (system (shell), 0);
    assert_int_equal (s_lh (c, "verify --export '%s' --keys '%s'", damaged, keys_path), 1);
    assert_true (s_lh_out (c, "cut short"));
    //  One changed byte in the export: verify names the event
    assert_true (s_flip (export_path, "/w/a.c") >= 1);
    assert_int_equal (s_lh (c, "verify --export '%s' --keys '%s'", export_path, keys_path), 1);
    assert_true (s_lh_out (c, "FAILED: root_mismatch"));

    lh_client_destroy (&agent);
    lh_client_destroy (&node);
    assert_int_equal (s_check_replicas (c), 26);
    cluster_destroy (&c);
}

static void
test_bad_appends (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    cluster_start_integrity (c, REPLICAS, NULL);
    lh_client_t *agent = cluster_client (c, c->agent);
    lh_err_t code;
    assert_int_equal (s_append (agent, "custom", NULL, "{}", NULL), 0);

    struct {
        const char *json;
        lh_err_t code;
    } cases[] = {
        {"{\"op\":\"append\",\"events\":[{\"type\":\"custom\",\"data\":{},\"agent\":\"agent-2\"}]}",
         LH_E_FORBIDDEN}, //  forged agent id
        {"{\"op\":\"append\",\"events\":[{\"type\":\"validation.decision\",\"data\":{}}]}",
         LH_E_FORBIDDEN}, //  agents do not write decisions
        {"{\"op\":\"append\",\"events\":[{\"type\":\"integrity.alert\",\"data\":{}}]}",
         LH_E_FORBIDDEN},
        {"{\"op\":\"append\",\"events\":[{\"type\":\"no.such\",\"data\":{}}]}", LH_E_BAD_REQUEST},
        {"{\"op\":\"append\",\"events\":[{\"type\":\"custom\",\"data\":[1]}]}", LH_E_BAD_REQUEST},
        {"{\"op\":\"append\",\"events\":[{\"type\":7,\"data\":{}}]}", LH_E_BAD_REQUEST},
        {"{\"op\":\"append\",\"events\":[{\"type\":\"custom\",\"data\":{},\"seq\":0}]}",
         LH_E_BAD_REQUEST}, //  the log numbers events, not the caller
        {"{\"op\":\"append\",\"events\":[{\"type\":\"file.write\",\"data\":{\"content\":\"x\"}}]}",
         LH_E_BAD_REQUEST}, //  a file write without a path
        {"{\"op\":\"append\",\"events\":[{\"type\":\"file.rename\",\"data\":{\"target\":\"b\"}}]}",
         LH_E_BAD_REQUEST}, //  every file.* event names its path
        {"{\"op\":\"append\",\"events\":[{\"type\":\"file.delete\",\"data\":{\"path\":\"\"}}]}",
         LH_E_BAD_REQUEST},
        {"{\"op\":\"append\",\"events\":[]}", LH_E_BAD_REQUEST},
        {"{\"op\":\"append\",\"events\":[{\"type\":\"custom\",\"data\":{},\"client_id\":\"a b\"}]}",
         LH_E_BAD_REQUEST},
        {"{\"op\":\"delete\",\"events\":[]}", LH_E_BAD_REQUEST},
        //  one good event and one bad: nothing is written
        {"{\"op\":\"append\",\"events\":[{\"type\":\"custom\",\"data\":{}},{\"type\":\"custom\"}]}",
         LH_E_BAD_REQUEST},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        lh_reply_t *reply = cluster_call (c, c->agent, "events", cases[i].json);
        if (lh_reply_ok (reply) || lh_reply_code (reply) != cases[i].code)
            fail_msg ("%s: expected %s, got %s", cases[i].json, codec_err_name (cases[i].code),
                      lh_reply_ok (reply) ? "ok" : lh_reply_code_name (reply));
        lh_reply_destroy (&reply);
    }
    //  Over-long client id, oversize data, too many events in one append
    char big[EVENT_MAX_DATA + 1024];
    memset (big, 'a', sizeof (big) - 1);
    big[sizeof (big) - 1] = 0;
    char *json = (char *) malloc (sizeof (big) + 256);
    snprintf (json, sizeof (big) + 256, "{\"s\":\"%s\"}", big);
    assert_int_equal (s_append (agent, "custom", NULL, json, &code), -1);
    assert_int_equal (code, LH_E_TOO_LARGE);
    free (json);
    assert_int_equal (s_append (agent, "custom",
                                "0123456789012345678901234567890123456789012345678901234567890123X",
                                "{}", &code),
                      -1);
    assert_int_equal (code, LH_E_TOO_LARGE);
    char many[64 * 300] = "{\"op\":\"append\",\"events\":[";
    for (int i = 0; i < EVENT_MAX_BATCH + 1; i++)
        strcat (many,
                i ? ",{\"type\":\"custom\",\"data\":{}}" : "{\"type\":\"custom\",\"data\":{}}");
    strcat (many, "]}");
    lh_reply_t *reply = cluster_call (c, c->agent, "events", many);
    assert_false (lh_reply_ok (reply));
    assert_int_equal (lh_reply_code (reply), LH_E_TOO_LARGE);
    lh_reply_destroy (&reply);
    //  Experts may read but not append (broker role rules); strangers get nothing
    zcert_t *stranger = c->stranger;
    reply = cluster_call (c, stranger, "events", "{\"op\":\"append\",\"events\":[]}");
    assert_false (lh_reply_ok (reply));
    lh_reply_destroy (&reply);
    //  Unknown read op and missing fields
    reply = cluster_call (c, c->agent, "events.read", "{\"op\":\"drop\"}");
    assert_int_equal (lh_reply_code (reply), LH_E_BAD_REQUEST);
    lh_reply_destroy (&reply);
    reply = cluster_call (c, c->agent, "events.read", "{\"op\":\"get\",\"seq\":99}");
    assert_int_equal (lh_reply_code (reply), LH_E_NOT_FOUND);
    lh_reply_destroy (&reply);

    //  Still exactly the one good event
    assert_int_equal (s_append (agent, "custom", NULL, "{}", NULL), 1);
    //  An agent reports the changes it made, each type with its path
    static const char *const file_types[] = {"file.delete", "file.rename", "file.mkdir",
                                             "file.link", "file.attr"};
    for (size_t i = 0; i < 5; i++)
        assert_true (s_append (agent, file_types[i], NULL, "{\"path\":\"src/a.c\"}", &code) ==
                     (int64_t) i + 2);
    lh_client_destroy (&agent);
    assert_int_equal (s_check_replicas (c), 7);
    cluster_destroy (&c);
}

//  test_kill_leader_under_appends' check of one replica's events: client id
//  "k-<n>" once each, at the seq it was acknowledged with
typedef struct {
    int target;
    const int64_t *acked; //  the seq of each n
    char *seen;           //  [target], the n seen so far
} acked_walk_t;

static void
s_check_acked (int replica, uint64_t seq, const event_t *ev, void *arg)
{
    acked_walk_t *walk = (acked_walk_t *) arg;
    int n = atoi (ev->client_id + 2);
    assert_true (n >= 0 && n < walk->target);
    if (walk->seen[n])
        fail_msg ("replica %d: client id %s appears twice", replica, ev->client_id);
    walk->seen[n] = 1;
    assert_int_equal ((int64_t) seq, walk->acked[n]);
}

//  Appends with client ids "k-<n>" until `target` are acknowledged, killing
//  the leader with SIGKILL after `kill_after`; resends use the same id.
static void
test_kill_leader_under_appends (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    cluster_start_integrity (c, REPLICAS, NULL);
    lh_client_t *node = cluster_client (c, c->node);
    lh_client_set_timeout (node, 2000);
    const int target = 400, kill_after = 150;
    int64_t *acked = (int64_t *) calloc (target, sizeof (int64_t));
    int killed = 0;
    int64_t killed_at = 0, resumed_at = 0;
    for (int n = 0; n < target; n++) {
        if (n == kill_after) {
            killed = cluster_leader (c, 5000);
            assert_true (killed > 0);
            cluster_stop_replica (c, killed, SIGKILL);
            killed_at = zclock_mono ();
        }
        char id[32];
        snprintf (id, sizeof (id), "k-%d", n);
        int64_t seq = -1;
        for (int attempt = 0; seq < 0 && attempt < 100; attempt++) {
            seq = s_append (node, "custom", id, "{\"n\":1}", NULL);
            if (seq < 0)
                zclock_sleep (100);
        }
        if (seq < 0)
            fail_msg ("append %d never acknowledged", n);
        if (n == kill_after)
            resumed_at = zclock_mono ();
        acked[n] = seq;
    }
    print_message ("appends resumed %lld ms after the leader (replica %d) was killed\n",
                   (long long) (resumed_at - killed_at), killed);
    //  The killed replica comes back and catches up
    cluster_start_replica (c, killed);
    lh_client_destroy (&node);
    zclock_sleep (1500);
    uint64_t size = s_check_replicas (c);

    //  Every acknowledged event: once, in the order acknowledged, same on every replica
    acked_walk_t walk = {.target = target, .acked = acked};
    for (int id = 1; id <= REPLICAS; id++) {
        walk.seen = (char *) calloc (target, 1);
        s_each_event (c, id, size, s_check_acked, &walk);
        for (int n = 0; n < target; n++)
            if (!walk.seen[n])
                fail_msg ("replica %d lost acknowledged event k-%d", id, n);
        free (walk.seen);
    }
    assert_int_equal (size, (uint64_t) target);
    free (acked);
    cluster_destroy (&c);
}

//  test_appender_batches_exactly_once's check of one replica's events: each
//  "a-<n>" and "late-<n>" at the seq their tickets were acknowledged with
typedef struct {
    int target;
    const int64_t *seq_of; //  the seq of each a-n
    int late;
    const int64_t *late_seq; //  the seq of each late-n
} appended_walk_t;

static void
s_check_appended (int replica, uint64_t seq, const event_t *ev, void *arg)
{
    (void) replica;
    appended_walk_t *walk = (appended_walk_t *) arg;
    if (strncmp (ev->client_id, "late-", 5) == 0) {
        int n = atoi (ev->client_id + 5);
        assert_true (n >= 0 && n < walk->late);
        assert_int_equal (walk->late_seq[n], (int64_t) seq);
    } else {
        int n = atoi (ev->client_id + 2);
        assert_true (n >= 0 && n < walk->target);
        //  The seq each ticket was acknowledged with holds that very event
        assert_int_equal (walk->seq_of[n], (int64_t) seq);
    }
}

//  The SDK's batching appender, driven from a poll loop on its descriptor:
//  every event acknowledged once with its own seq, through a leader's death,
//  and each in the log once, on every replica.
static void
test_appender_batches_exactly_once (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    cluster_start_integrity (c, REPLICAS, NULL);
    lh_connect_t conn = cluster_connect (c, c->node, false);
    lh_appender_t *appender = lh_appender_new (&conn);
    assert_non_null (appender);
    lh_appender_set_batch (appender, 32, 2);
    lh_appender_set_inflight (appender, 4);
    lh_appender_set_deadline (appender, 20000);

    //  Refused before anything is queued
    const char *why = NULL;
    static const uint8_t array[] = {0x91, 0x01}, map[] = {0x81, 0xA1, 'n', 0x01};
    assert_int_equal (lh_appender_add (appender, "custom", array, sizeof (array), NULL, &why), 0);
    assert_non_null (strstr (why, "map"));
    assert_int_equal (lh_appender_add (appender, "custom", map, sizeof (map), "has space", &why),
                      0);
    assert_int_equal (lh_appender_add (appender, "bad type!", map, sizeof (map), NULL, &why), 0);
    assert_int_equal (lh_appender_add (appender, "custom", map, 2, NULL, &why), 0);
    assert_int_equal (lh_appender_outstanding (appender), 0);

    const int target = 2000, kill_after = 600;
    int64_t *seq_of = (int64_t *) malloc (target * sizeof (int64_t));
    for (int n = 0; n < target; n++)
        seq_of[n] = -1;
    int added = 0, acked = 0, killed = 0;
    while (acked < target) {
        //  Keep a few hundred outstanding, as a busy node would
        while (added < target && lh_appender_outstanding (appender) < 300) {
            char id[32];
            snprintf (id, sizeof (id), "a-%d", added);
            uint64_t ticket = lh_appender_add (appender, "custom", map, sizeof (map), id, &why);
            assert_int_equal (ticket, (uint64_t) added + 1);
            added++;
        }
        if (!killed && acked >= kill_after) {
            killed = cluster_leader (c, 5000);
            assert_true (killed > 0);
            cluster_stop_replica (c, killed, SIGKILL);
        }
        struct pollfd item = {.fd = lh_appender_fd (appender), .events = POLLIN};
        int wait = lh_appender_timeout_ms (appender);
        poll (&item, 1, wait < 0 || wait > 100 ? 100 : wait);
        lh_ack_t ack;
        while (lh_appender_next (appender, 0, &ack)) {
            assert_true (ack.ticket >= 1 && ack.ticket <= (uint64_t) target);
            if (!ack.ok)
                fail_msg ("ticket %llu failed: %s", (unsigned long long) ack.ticket, ack.message);
            assert_int_equal (seq_of[ack.ticket - 1], -1);
            seq_of[ack.ticket - 1] = (int64_t) ack.seq;
            acked++;
        }
    }
    assert_int_equal (lh_appender_outstanding (appender), 0);
    print_message ("%llu append request(s) sent again around the leader's death\n",
                   (unsigned long long) lh_appender_resends (appender));
    lh_appender_destroy (&appender);
    cluster_start_replica (c, killed);
    assert_true (cluster_leader (c, 10000) > 0);

    //  No log at all (every replica stopped): several batches sent again
    //  with backoff until the deadline, then each event failed once; added
    //  again with the same client ids once the log is back, each is there once
    const int late = 100;
    appender = lh_appender_new (&conn);
    lh_appender_set_batch (appender, 16, 0);
    lh_appender_set_inflight (appender, 3);
    lh_appender_set_deadline (appender, 2000);
    pid_t pids[REPLICAS + 1];
    for (int id = 1; id <= REPLICAS; id++) {
        pids[id] = launcher_replica_pid (c->launcher, id);
        kill (pids[id], SIGSTOP);
    }
    char id[32];
    for (int n = 0; n < late; n++) {
        snprintf (id, sizeof (id), "late-%d", n);
        assert_int_equal (lh_appender_add (appender, "custom", map, sizeof (map), id, &why),
                          (uint64_t) n + 1);
    }
    char *failed = (char *) calloc ((size_t) late, 1);
    lh_ack_t ack;
    for (int n = 0; n < late; n++) {
        assert_true (lh_appender_next (appender, 15000, &ack));
        assert_false (ack.ok);
        assert_int_equal (ack.code, LH_E_TIMEOUT);
        assert_non_null (strstr (ack.message, "same client id"));
        assert_true (ack.ticket >= 1 && ack.ticket <= (uint64_t) late);
        assert_int_equal (failed[ack.ticket - 1], 0);
        failed[ack.ticket - 1] = 1;
    }
    free (failed);
    assert_int_equal (lh_appender_outstanding (appender), 0);
    assert_true (lh_appender_resends (appender) >= 1);
    for (int n = 0; n < REPLICAS; n++)
        kill (pids[n + 1], SIGCONT);
    lh_appender_set_deadline (appender, 20000);
    int64_t *late_seq = (int64_t *) malloc ((size_t) late * sizeof (int64_t));
    for (int n = 0; n < late; n++) {
        snprintf (id, sizeof (id), "late-%d", n);
        assert_int_equal (lh_appender_add (appender, "custom", map, sizeof (map), id, &why),
                          (uint64_t) late + n + 1);
        late_seq[n] = -1;
    }
    for (int n = 0; n < late; n++) {
        assert_true (lh_appender_next (appender, 25000, &ack));
        assert_true (ack.ok);
        assert_true (ack.ticket > (uint64_t) late && ack.ticket <= 2 * (uint64_t) late);
        assert_int_equal (late_seq[ack.ticket - late - 1], -1);
        late_seq[ack.ticket - late - 1] = (int64_t) ack.seq;
    }
    lh_appender_destroy (&appender);

    zclock_sleep (1500);
    uint64_t size = s_check_replicas (c);
    assert_int_equal (size, (uint64_t) target + late);
    appended_walk_t walk = {.target = target, .seq_of = seq_of, .late = late, .late_seq = late_seq};
    for (int r = 1; r <= REPLICAS; r++)
        s_each_event (c, r, size, s_check_appended, &walk);
    free (late_seq);
    free (seq_of);
    cluster_destroy (&c);
}

static void
test_empty_replica_catches_up (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    //  Small snapshots so that the wiped replica is sent one
    //  (the leader may compact past a snapshot it is still sending: it sends a
    //  newer one when the install times out)
    cluster_start_integrity (c, REPLICAS,
                             "--snapshot-threshold 16 --snapshot-trailing 4 "
                             "--snapshot-timeout-ms 1000");
    lh_client_t *node = cluster_client (c, c->node);
    for (int n = 0; n < 100; n++)
        assert_int_equal (s_append (node, "custom", NULL, "{\"n\":1}", NULL), n);
    int leader = cluster_leader (c, 5000);
    int victim = leader == 3 ? 2 : 3;
    cluster_stop_replica (c, victim, SIGKILL);
    char path[512], command[640];
    snprintf (path, sizeof (path), "%s/integrity/%d", c->dir, victim);
    snprintf (command, sizeof (command), "rm -rf '%s'", path);
    assert_int_equal (system (command), 0);
    for (int n = 100; n < 150; n++)
        assert_int_equal (s_append (node, "custom", NULL, "{\"n\":1}", NULL), n);
    cluster_start_replica (c, victim);
    for (int n = 150; n < 200; n++)
        assert_int_equal (s_append (node, "custom", NULL, "{\"n\":1}", NULL), n);
    lh_client_destroy (&node);
    //  Give it time to install the snapshot and replay the rest
    zclock_sleep (2000);
    assert_int_equal (s_check_replicas (c), 200);
    cluster_destroy (&c);
}

//  Flips every copy of a marker in one replica's LMDB file.
static int
s_flip (const char *path, const char *marker)
{
    int fd = open (path, O_RDWR);
    assert_true (fd >= 0);
    struct stat st;
    assert_int_equal (fstat (fd, &st), 0);
    char *map =
        (char *) mmap (NULL, (size_t) st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true (map != MAP_FAILED);
    int flipped = 0;
    size_t len = strlen (marker);
    for (char *p = map; (p = (char *) memmem (p, (size_t) (map + st.st_size - p), marker, len));
         p += len) {
        p[0] ^= 0x01;
        flipped++;
    }
    msync (map, (size_t) st.st_size, MS_SYNC);
    munmap (map, (size_t) st.st_size);
    close (fd);
    return flipped;
}

static void
test_flipped_byte_alert (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    cluster_start_integrity (c, REPLICAS, "--monitor-ms 300");
    lh_client_t *node = cluster_client (c, c->node);
    for (int n = 0; n < 30; n++)
        assert_int_equal (s_append (node, "custom", NULL,
                                    n == 17 ? "{\"note\":\"FLIP-ME-HERE\"}" : "{\"n\":1}", NULL),
                          n);
    assert_true (s_wait_size (c, 30, 5000));
    zclock_sleep (500); //  every replica has applied and signed
    int leader = cluster_leader (c, 5000);
    int victim = leader == 2 ? 1 : 2;
    char path[512], name[64];
    snprintf (name, sizeof (name), "%d/log.mdb", victim);
    cluster_integrity_path (c, name, path, sizeof (path));
    //  Alerts are also published: listen on the broker's PUB socket
    zsock_t *sub = zsock_new (ZMQ_SUB);
    zcert_apply (c->admin, sub);
    zsock_set_curve_serverkey (sub, c->broker_key);
    zsock_set_subscribe (sub, "events.read.alert");
    zsock_set_subscribe (sub, "events.read.checkpoint");
    assert_int_equal (zsock_connect (sub, "%s", c->pub), 0);
    //  Replicas repeat their signatures every second: one arriving proves
    //  the subscription is in place before anything is flipped
    zsock_set_rcvtimeo (sub, 5000);
    zmsg_t *msg = zmsg_recv (sub);
    assert_non_null (msg);
    zmsg_destroy (&msg);
    assert_true (s_flip (path, "FLIP-ME-HERE") >= 1);

    //  Within seconds: an integrity.alert event naming the replica, seq and kind
    bool found = false;
    for (int i = 0; i < 100 && !found; i++) {
        lh_reply_t *reply = s_read (c, "{\"op\":\"query\",\"type\":\"integrity.alert\"}");
        const msgpack_object *events = codec_map_get (lh_reply_root (reply), "events");
        for (uint32_t j = 0; j < events->via.array.size; j++) {
            const msgpack_object *data = codec_map_get (&events->via.array.ptr[j], "data");
            char replica[64], kind[64];
            snprintf (name, sizeof (name), "replica-%d", victim);
            if (codec_str_copy (codec_map_get (data, "replica"), replica, sizeof (replica)) &&
                streq (replica, name) &&
                codec_str_copy (codec_map_get (data, "kind"), kind, sizeof (kind)) &&
                streq (kind, "leaf_hash_mismatch") && s_u64 (data, "seq") == 17)
                found = true;
        }
        lh_reply_destroy (&reply);
        if (!found)
            zclock_sleep (100);
    }
    assert_true (found);
    int skipped = 0;
    while ((msg = zmsg_recv (sub)) && !zframe_streq (zmsg_first (msg), "events.read.alert")) {
        zmsg_destroy (&msg);
        skipped++;
    }
    if (!msg)
        fail_msg ("no alert on the PUB socket (%d other messages, errno %d)", skipped, errno);
    zframe_t *body = zmsg_last (msg);
    codec_doc_t *doc = codec_doc_decode (zframe_data (body), zframe_size (body), NULL, NULL);
    assert_non_null (doc);
    assert_true (codec_str_eq (codec_map_get (codec_doc_root (doc), "kind"), "leaf_hash_mismatch"));
    assert_int_equal (s_u64 (codec_doc_root (doc), "seq"), 17);
    codec_doc_destroy (&doc);
    zmsg_destroy (&msg);
    zsock_destroy (&sub);
    //  The replica's log line says the same
    char log_path[512], command[4096];
    snprintf (name, sizeof (name), "replica-%d.log", victim);
    cluster_integrity_path (c, name, log_path, sizeof (log_path));
    snprintf (command, sizeof (command),
              "grep -q 'integrity alert.*kind=leaf_hash_mismatch seq=17' '%s'", log_path);
    assert_int_equal (system (command), 0);

    //  lh verify names it offline, on a copy, and passes a healthy replica
    lh_client_destroy (&node);
    assert_true (s_wait_converged (c, 5000));
    assert_true (s_wait_cosigned (c, 2, 5000));
    for (int id = 1; id <= REPLICAS; id++)
        cluster_stop_replica (c, id, SIGTERM);
    char keys[512], copy[512];
    cluster_integrity_path (c, "keys", keys, sizeof (keys));
    cluster_integrity_path (c, "copy", copy, sizeof (copy));
    snprintf (command, sizeof (command),
              "cp -r '%s/integrity/%d' '%s' && '%s' verify --dir '%s' --keys '%s' > '%s.out' 2>&1",
              c->dir, victim, copy, LH_CLI_BIN, copy, keys, copy);
    int status = system (command);
    assert_int_equal (WEXITSTATUS (status), 1);
    snprintf (command, sizeof (command), "grep -q 'leaf_hash_mismatch.*17' '%s.out'", copy);
    assert_int_equal (system (command), 0);
    snprintf (command, sizeof (command),
              "'%s' verify --dir '%s/integrity/%d' --keys '%s' --quorum 2", LH_CLI_BIN, c->dir,
              leader, keys);
    assert_int_equal (system (command), 0);
    cluster_destroy (&c);
}

//  Waits for an integrity.alert event of kind about peer; true when found.
static bool
s_wait_alert (cluster_t *c, const char *kind, const char *peer, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms;
    while (zclock_mono () < until) {
        lh_reply_t *reply = s_read (c, "{\"op\":\"query\",\"type\":\"integrity.alert\"}");
        const msgpack_object *events = codec_map_get (lh_reply_root (reply), "events");
        bool found = false;
        for (uint32_t j = 0; j < events->via.array.size; j++) {
            const msgpack_object *data = codec_map_get (&events->via.array.ptr[j], "data");
            found |= codec_str_eq (codec_map_get (data, "kind"), kind) &&
                     codec_str_eq (codec_map_get (data, "peer"), peer);
        }
        lh_reply_destroy (&reply);
        if (found)
            return true;
        zclock_sleep (100);
    }
    return false;
}

//  A replica's key signs a different root for a size the log has: the other
//  replicas call it divergence. A signature by no known key is a bad one.
static void
test_peer_divergence (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    cluster_start_integrity (c, REPLICAS, NULL);
    lh_client_t *node = cluster_client (c, c->node);
    for (int n = 0; n < 5; n++)
        assert_int_equal (s_append (node, "custom", NULL, "{}", NULL), n);
    assert_true (s_wait_converged (c, 5000));
    //  Replica 1's own signer key, as a thief would have it
    char path[512], text[512];
    cluster_integrity_path (c, "replica-1.key", path, sizeof (path));
    FILE *file = fopen (path, "r");
    assert_non_null (file);
    assert_non_null (fgets (text, sizeof (text), file));
    fclose (file);
    text[strcspn (text, "\n")] = 0;
    note_key_t *stolen = note_key_from_signer (text);
    note_key_t *stranger = note_key_generate ("replica-2");
    assert_non_null (stolen);
    uint8_t root[32];
    memset (root, 0xab, sizeof (root));
    char *body = note_checkpoint_body ("lighthouse/log", 5, root);
    //  Published as events.read would: a worker of that service with the node key
    lh_connect_t conn = cluster_connect (c, c->node, true);
    lh_worker_t *fake = lh_worker_new (&conn, "events.read", 1);
    assert_non_null (fake);
    assert_true (cluster_wait_workers (c, "events.read", REPLICAS + 1, 5000));
    note_key_t *signers[] = {stolen, stranger};
    const char *names[] = {"replica-1", "replica-2"};
    bool diverged = false, forged = false;
    for (int round = 0; round < 50 && !(diverged && forged); round++) {
        for (int i = 0; i < 2; i++) {
            char *line = note_sign_line (signers[i], body);
            char *note = note_assemble (body, (const char **) &line, 1);
            codec_buf_t buf;
            codec_buf_init (&buf);
            msgpack_pack_map (&buf.pk, 3);
            codec_pack_str (&buf.pk, "replica");
            codec_pack_str (&buf.pk, names[i]);
            codec_pack_str (&buf.pk, "size");
            msgpack_pack_uint64 (&buf.pk, 5);
            codec_pack_str (&buf.pk, "checkpoint");
            codec_pack_str (&buf.pk, note);
            lh_worker_publish (fake, "events.read.checkpoint", buf.sbuf.data, buf.sbuf.size);
            codec_buf_destroy (&buf);
            free (line);
            free (note);
        }
        lh_worker_recv (fake, 100); //  keeps its heartbeats going
        diverged = diverged || s_wait_alert (c, "replica_divergence", "replica-1", 100);
        forged = forged || s_wait_alert (c, "bad_signature", "replica-2", 100);
    }
    assert_true (diverged);
    assert_true (forged);
    free (body);
    note_key_destroy (&stolen);
    note_key_destroy (&stranger);
    lh_worker_destroy (&fake);
    lh_client_destroy (&node);
    //  The log itself is intact: the alerts are appended after the 5 events
    assert_true (s_check_replicas (c) >= 7);
    cluster_destroy (&c);
}

//  Appends pipelined while one entry is in flight gather into entries of
//  thousands of events (more than a wire body may hold): every replica
//  applies them and every append is answered. Reads of large events stay
//  within a wire body and page.
static void
test_large_entries (void **state)
{
    (void) state;
    //  No worker dies here: 4 s of liveness keeps a replica busy with a large
    //  entry (slow under the sanitizers) registered
    cluster_t *c = cluster_new (NULL, "broker/liveness=20");
    cluster_start_integrity (c, REPLICAS, "--inflight 1");
    lh_client_t *node = cluster_client (c, c->node);
    lh_client_set_timeout (node, 20000);
    lh_client_set_retries (node, 0);
    const int requests = 60, per = EVENT_MAX_BATCH;
    codec_buf_t body;
    codec_buf_init (&body);
    for (int r = 0; r < requests; r++) {
        msgpack_sbuffer_clear (&body.sbuf);
        event_pack_append (&body.pk, (size_t) per);
        for (int i = 0; i < per; i++) {
            msgpack_pack_map (&body.pk, 2);
            codec_pack_str (&body.pk, "type");
            codec_pack_str (&body.pk, "custom");
            codec_pack_str (&body.pk, "data");
            msgpack_pack_map (&body.pk, 1);
            codec_pack_str (&body.pk, "i");
            msgpack_pack_int (&body.pk, r * per + i);
        }
        uint64_t id;
        const char *why;
        assert_int_equal (
            lh_client_send (node, "events", body.sbuf.data, body.sbuf.size, &id, &why), 0);
    }
    codec_buf_destroy (&body);
    int acked = 0, overloaded = 0;
    for (int r = 0; r < requests; r++) {
        lh_reply_t *reply = lh_client_recv (node, 30000);
        assert_non_null (reply);
        if (lh_reply_ok (reply))
            acked++;
        else if (lh_reply_code (reply) == LH_E_OVERLOADED)
            overloaded++;
        else
            fail_msg ("append failed: %s: %s", lh_reply_code_name (reply),
                      lh_reply_message (reply));
        lh_reply_destroy (&reply);
    }
    lh_client_destroy (&node);
    lh_reply_t *reply = s_read (c, "{\"op\":\"status\"}");
    const msgpack_object *counters =
        codec_map_get (codec_map_get (lh_reply_root (reply), "status"), "counters");
    print_message ("%d appends of %d events answered (%d overloaded) in %llu entries\n", acked, per,
                   overloaded, (unsigned long long) s_u64 (counters, "entries_applied"));
    lh_reply_destroy (&reply);
    assert_true (acked > 0 && acked + overloaded == requests);
    uint64_t size = (uint64_t) acked * per;

    //  Ten 200 KB events: a range stops short of the body limit and pages on
    node = cluster_client (c, c->node);
    size_t blob = 200 * 1000;
    char *data = (char *) malloc (blob + 64);
    memcpy (data, "{\"blob\":\"", 9);
    memset (data + 9, 'y', blob);
    strcpy (data + 9 + blob, "\"}");
    for (int n = 0; n < 10; n++)
        assert_int_equal (s_append (node, "custom", NULL, data, NULL), (int64_t) size + n);
    free (data);
    lh_client_destroy (&node);
    assert_true (s_wait_converged (c, 5000));
    uint64_t from = size, pages = 0;
    while (from < size + 10) {
        char json[128];
        snprintf (json, sizeof (json), "{\"op\":\"range\",\"from\":%llu,\"raw\":true}",
                  (unsigned long long) from);
        reply = s_read (c, json);
        const msgpack_object *events = codec_map_get (lh_reply_root (reply), "events");
        assert_true (events->via.array.size >= 1 && events->via.array.size < 10);
        from += events->via.array.size;
        const msgpack_object *next = codec_map_get (lh_reply_root (reply), "next");
        if (from < size + 10)
            assert_int_equal (next->via.u64, from);
        lh_reply_destroy (&reply);
        pages++;
    }
    assert_true (pages >= 3);
    assert_int_equal (s_check_replicas (c), size + 10);
    cluster_destroy (&c);
}

//  One replica on a 20 MiB tmpfs: it fills up, stops (exit 75) and
//  acknowledges nothing more; the other two go on; nothing acknowledged is lost.
static void
test_full_disk (void **state)
{
    (void) state;
    cluster_t *c = cluster_new (NULL, NULL);
    const int victim = 3;
    char dir[512], command[1024];
    snprintf (dir, sizeof (dir), "%s/integrity/%d", c->dir, victim);
    assert_int_equal (zsys_dir_create ("%s", dir), 0);
    snprintf (command, sizeof (command), "mount -t tmpfs -o size=20m tmpfs '%s' 2>/dev/null", dir);
    if (system (command) != 0) {
        cluster_destroy (&c);
        print_message ("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN): skipped\n");
        skip ();
    }
    cluster_start_integrity (c, REPLICAS, NULL);
    lh_client_t *node = cluster_client (c, c->node);
    lh_client_set_timeout (node, 3000);
    //  100 KB events: the tmpfs holds fewer than 100 of them (Raft log and store)
    size_t blob = 100 * 1000;
    char *data = (char *) malloc (blob + 64);
    memcpy (data, "{\"blob\":\"", 9);
    memset (data + 9, 'x', blob);
    strcpy (data + 9 + blob, "\"}");
    const int target = 200;
    for (int n = 0; n < target; n++) {
        char id[32];
        snprintf (id, sizeof (id), "big-%d", n);
        int64_t seq = -1;
        for (int attempt = 0; seq < 0 && attempt < 100; attempt++)
            if ((seq = s_append (node, "custom", id, data, NULL)) < 0)
                zclock_sleep (100);
        if (seq != n)
            fail_msg ("append %d: seq %lld", n, (long long) seq);
    }
    free (data);
    lh_client_destroy (&node);
    //  The full replica stopped on its own with the documented status
    int status = -1;
    for (int i = 0; i < 100 && c->replicas[victim] > 0; i++) {
        if (waitpid (c->replicas[victim], &status, WNOHANG) == c->replicas[victim])
            c->replicas[victim] = 0;
        else
            zclock_sleep (100);
    }
    assert_int_equal (c->replicas[victim], 0);
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 75);
    char log_path[512];
    snprintf (log_path, sizeof (log_path), "%s/integrity/replica-%d.log", c->dir, victim);
    snprintf (command, sizeof (command),
              "grep -q 'cannot apply a committed entry.*free_bytes=[0-9]' '%s'", log_path);
    assert_int_equal (system (command), 0);
    //  The two others hold every acknowledged event
    int survivors[] = {1, 2};
    c->replica_count = 2; //  s_check_replicas checks replicas 1 and 2
    assert_int_equal (s_check_replicas (c), (uint64_t) target);
    c->replica_count = REPLICAS;
    for (int i = 0; i < 2; i++) {
        store_t *store = s_store (c, survivors[i]);
        assert_int_equal (store_size (store), (uint64_t) target);
        store_destroy (&store);
    }
    snprintf (command, sizeof (command), "umount '%s'", dir);
    assert_int_equal (system (command), 0);
    cluster_destroy (&c);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown (test_append_read_prove, cluster_teardown),
        cmocka_unit_test_teardown (test_bad_appends, cluster_teardown),
        cmocka_unit_test_teardown (test_kill_leader_under_appends, cluster_teardown),
        cmocka_unit_test_teardown (test_appender_batches_exactly_once, cluster_teardown),
        cmocka_unit_test_teardown (test_empty_replica_catches_up, cluster_teardown),
        cmocka_unit_test_teardown (test_flipped_byte_alert, cluster_teardown),
        cmocka_unit_test_teardown (test_peer_divergence, cluster_teardown),
        cmocka_unit_test_teardown (test_large_entries, cluster_teardown),
        cmocka_unit_test_teardown (test_full_disk, cluster_teardown),
    };
    //  LH_TEST_FILTER=test_full_disk runs one test (cmocka's glob)
    if (getenv ("LH_TEST_FILTER"))
        cmocka_set_test_filter (getenv ("LH_TEST_FILTER"));
    return cmocka_run_group_tests (tests, NULL, NULL);
}
