/*  test_store -- unit tests for nodes/integrity/store.c and verify.c (cmocka).

    Every test builds a real LMDB store in a fresh directory under $TMPDIR
    (default /tmp), filled the way a replica applies Raft entries
    (replica.c, s_apply): one write transaction per entry, each leaf made
    from a packed event body with event_leaf, indexed by what event_decode
    reads back from it, then a checkpoint signed by 1..3 replica keys and a
    commit with the entry's mark. The standard fixture is three entries:
    events 0..2 signed by one key, 3..6 by two, 7..9 by three.

    The corruption tests close the store, change its file with plain LMDB,
    reopen it and check that the verifier names the right violation at the
    right sequence number: the integrity monitor and `lh verify` report
    exactly that to an operator.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "codec.h"
#include "event.h"
#include "merkle.h"
#include "note.h"
#include "store.h"
#include "verify.h"

#define ORIGIN     "lighthouse.test/integrity"
#define MAP_SIZE   ((size_t) 64 << 20)
#define MAX_EVENTS 32
#define NKEYS      3
#define TS_BASE    INT64_C (1700000000000000000)
#define TS_STEP    1000
#define TS(i)      (TS_BASE + (int64_t) (i) *TS_STEP)

typedef struct {
    char dir[256];
    char path[300];
    store_t *store;
    note_key_t *keys[NKEYS]; //  the replicas: what the verifier trusts
    note_key_t *stranger;    //  a key no verifier knows
    uint64_t counter;        //  mark counter of the last entry
    uint64_t size;           //  events committed
    void *leaves[MAX_EVENTS];
    size_t leaf_sizes[MAX_EVENTS];
    merkle_hash_t hashes[MAX_EVENTS];    //  leaf hashes
    merkle_hash_t roots[MAX_EVENTS + 1]; //  roots[n]: root of the first n leaves
    merkle_tree_t *tree;                 //  rebuilt independently of the store
} fixture_t;

//  --------------------------------------------------------------------------
//  Building a store

static const event_type_t s_types[] = {EVENT_COMMAND_EXECUTED, EVENT_FILE_WRITE, EVENT_DECISION,
                                       EVENT_CUSTOM};

//  Event number i: agent-(i % 3), type s_types[i % 4], client id c-i; its
//  data map goes through the codec the way an append request's would
static void
s_event (uint64_t i, int64_t ts, event_t *ev, codec_doc_t **data_p)
{
    memset (ev, 0, sizeof (*ev));
    ev->ts = ts;
    ev->type = s_types[i % 4];
    snprintf (ev->agent, sizeof (ev->agent), "agent-%d", (int) (i % 3));
    snprintf (ev->by, sizeof (ev->by), "node-1");
    snprintf (ev->role, sizeof (ev->role), "node");
    snprintf (ev->client_id, sizeof (ev->client_id), "c-%llu", (unsigned long long) i);
    if (i % 2)
        snprintf (ev->correlation, sizeof (ev->correlation), "corr-%llu",
                  (unsigned long long) i / 2);
    codec_buf_t buf;
    codec_buf_init (&buf);
    msgpack_pack_map (&buf.pk, 2);
    codec_pack_str (&buf.pk, "i");
    msgpack_pack_uint64 (&buf.pk, i);
    char path[64];
    snprintf (path, sizeof (path), "/srv/work/file-%llu.txt", (unsigned long long) i);
    codec_pack_str (&buf.pk, "path");
    codec_pack_str (&buf.pk, path);
    lh_err_t err;
    const char *why;
    *data_p = codec_doc_decode (buf.sbuf.data, buf.sbuf.size, &err, &why);
    assert_non_null (*data_p);
    ev->data = codec_doc_root (*data_p);
    codec_buf_destroy (&buf);
}

//  The leaf of event i at seq i
static void
s_leaf (uint64_t i, int64_t ts, msgpack_sbuffer *leaf)
{
    event_t ev;
    codec_doc_t *data;
    s_event (i, ts, &ev, &data);
    codec_buf_t body;
    codec_buf_init (&body);
    event_pack_body (&body.pk, &ev);
    assert_int_equal (event_leaf (body.sbuf.data, body.sbuf.size, i, leaf), 0);
    codec_buf_destroy (&body);
    codec_doc_destroy (&data);
}

//  A checkpoint note for (size, root) signed by each of signers
static char *
s_note (note_key_t *const *signers, size_t nsigners, uint64_t size, const merkle_hash_t root)
{
    char *body = note_checkpoint_body (ORIGIN, size, root);
    assert_non_null (body);
    char *lines[NKEYS + 1];
    assert_true (nsigners <= NKEYS + 1);
    for (size_t i = 0; i < nsigners; i++) {
        lines[i] = note_sign_line (signers[i], body);
        assert_non_null (lines[i]);
    }
    char *note = note_assemble (body, (const char **) lines, nsigners);
    assert_non_null (note);
    for (size_t i = 0; i < nsigners; i++)
        free (lines[i]);
    free (body);
    return note;
}

//  One Raft entry: count events, then a checkpoint signed by the first
//  nsigners replica keys. ts gives the events' times (NULL: TS(seq)).
static void
s_entry (fixture_t *fx, size_t count, size_t nsigners, const int64_t *ts)
{
    assert_true (fx->size + count <= MAX_EVENTS);
    assert_int_equal (store_begin (fx->store), 0);
    msgpack_sbuffer leaf;
    msgpack_sbuffer_init (&leaf);
    for (size_t i = 0; i < count; i++) {
        uint64_t seq = store_txn_size (fx->store);
        assert_int_equal (seq, fx->size + i);
        msgpack_sbuffer_clear (&leaf);
        s_leaf (seq, ts ? ts[i] : TS (seq), &leaf);
        //  As the replica does: the index keys come from the leaf itself
        event_t ev;
        codec_doc_t *doc;
        char why[128];
        assert_int_equal (event_decode (leaf.data, leaf.size, &ev, &doc, why, sizeof (why)), LH_OK);
        uint64_t got = UINT64_MAX;
        assert_int_equal (store_append (fx->store, leaf.data, leaf.size, &ev, &got), 0);
        assert_int_equal (got, seq);
        codec_doc_destroy (&doc);

        fx->leaves[seq] = malloc (leaf.size);
        assert_non_null (fx->leaves[seq]);
        memcpy (fx->leaves[seq], leaf.data, leaf.size);
        fx->leaf_sizes[seq] = leaf.size;
        merkle_leaf_hash (leaf.data, leaf.size, fx->hashes[seq]);
        merkle_tree_append (fx->tree, fx->hashes[seq]);
        merkle_tree_root (fx->tree, fx->roots[seq + 1]);
    }
    msgpack_sbuffer_destroy (&leaf);
    uint64_t size = store_txn_size (fx->store);
    assert_int_equal (size, fx->size + count);
    merkle_hash_t root;
    assert_int_equal (store_txn_root (fx->store, root), 0);
    assert_memory_equal (root, fx->roots[size], MERKLE_HASH_SIZE);
    char *note = s_note (fx->keys, nsigners, size, root);
    assert_int_equal (store_put_checkpoint (fx->store, size, note), 0);
    free (note);
    assert_int_equal (store_commit (fx->store, (store_mark_t){1, ++fx->counter}), 0);
    fx->size = size;
    assert_int_equal (store_size (fx->store), size);
}

static int
s_setup_empty (void **state)
{
    fixture_t *fx = (fixture_t *) calloc (1, sizeof (fixture_t));
    if (!fx)
        return -1;
    const char *tmp = getenv ("TMPDIR");
    snprintf (fx->dir, sizeof (fx->dir), "%s/lh-test-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp (fx->dir))
        return -1;
    snprintf (fx->path, sizeof (fx->path), "%s/store.lmdb", fx->dir);
    char err[512] = "";
    fx->store = store_open (fx->path, MAP_SIZE, false, err, sizeof (err));
    if (!fx->store) {
        fprintf (stderr, "store_open: %s\n", err);
        return -1;
    }
    for (int i = 0; i < NKEYS; i++) {
        char name[32];
        snprintf (name, sizeof (name), "replica-%d", i + 1);
        fx->keys[i] = note_key_generate (name);
        if (!fx->keys[i])
            return -1;
    }
    fx->stranger = note_key_generate ("intruder");
    fx->tree = merkle_tree_new ();
    if (!fx->stranger || !fx->tree)
        return -1;
    merkle_empty_root (fx->roots[0]);
    *state = fx;
    return 0;
}

//  The standard log: 10 events in three entries, checkpoints at 3, 7, 10
static int
s_setup (void **state)
{
    if (s_setup_empty (state) != 0)
        return -1;
    fixture_t *fx = (fixture_t *) *state;
    s_entry (fx, 3, 1, NULL);
    s_entry (fx, 4, 2, NULL);
    s_entry (fx, 3, 3, NULL);
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    store_destroy (&fx->store);
    //  LMDB leaves a -lock file beside each store; remove whatever is there
    DIR *dir = opendir (fx->dir);
    if (dir) {
        struct dirent *entry;
        while ((entry = readdir (dir))) {
            if (strcmp (entry->d_name, ".") == 0 || strcmp (entry->d_name, "..") == 0)
                continue;
            char path[600];
            snprintf (path, sizeof (path), "%s/%s", fx->dir, entry->d_name);
            unlink (path);
        }
        closedir (dir);
    }
    rmdir (fx->dir);
    for (int i = 0; i < NKEYS; i++)
        note_key_destroy (&fx->keys[i]);
    note_key_destroy (&fx->stranger);
    for (size_t i = 0; i < MAX_EVENTS; i++)
        free (fx->leaves[i]);
    merkle_tree_destroy (&fx->tree);
    free (fx);
    return 0;
}

//  --------------------------------------------------------------------------
//  Editing the file underneath the store

typedef struct {
    MDB_env *env;
    MDB_txn *txn;
} raw_t;

static void
s_node_key (uint8_t k[9], unsigned level, uint64_t index)
{
    k[0] = (uint8_t) level;
    codec_put_be64 (k + 1, index);
}

//  Closes the fixture's store and opens its file with plain LMDB for writing
static void
s_raw_begin (fixture_t *fx, raw_t *raw)
{
    store_destroy (&fx->store);
    assert_int_equal (mdb_env_create (&raw->env), 0);
    assert_int_equal (mdb_env_set_maxdbs (raw->env, 8), 0);
    assert_int_equal (mdb_env_set_mapsize (raw->env, MAP_SIZE), 0);
    assert_int_equal (mdb_env_open (raw->env, fx->path, MDB_NOSUBDIR, 0600), 0);
    assert_int_equal (mdb_txn_begin (raw->env, NULL, 0, &raw->txn), 0);
}

static MDB_dbi
s_raw_db (raw_t *raw, const char *name)
{
    MDB_dbi dbi;
    assert_int_equal (mdb_dbi_open (raw->txn, name, 0, &dbi), 0);
    return dbi;
}

static void
s_raw_put (raw_t *raw, const char *db, const void *key, size_t klen, const void *val, size_t vlen)
{
    MDB_val k = {klen, (void *) key}, v = {vlen, (void *) val};
    assert_int_equal (mdb_put (raw->txn, s_raw_db (raw, db), &k, &v, 0), 0);
}

static void
s_raw_del (raw_t *raw, const char *db, const void *key, size_t klen)
{
    MDB_val k = {klen, (void *) key};
    assert_int_equal (mdb_del (raw->txn, s_raw_db (raw, db), &k, NULL), 0);
}

//  A malloc'd copy of a value (NUL-terminated, for notes)
static uint8_t *
s_raw_get (raw_t *raw, const char *db, const void *key, size_t klen, size_t *size)
{
    MDB_val k = {klen, (void *) key}, v;
    assert_int_equal (mdb_get (raw->txn, s_raw_db (raw, db), &k, &v), 0);
    uint8_t *copy = (uint8_t *) malloc (v.mv_size + 1);
    assert_non_null (copy);
    memcpy (copy, v.mv_data, v.mv_size);
    copy[v.mv_size] = 0;
    *size = v.mv_size;
    return copy;
}

//  Commits the edits and reopens the store on the changed file
static void
s_raw_end (fixture_t *fx, raw_t *raw)
{
    assert_int_equal (mdb_txn_commit (raw->txn), 0);
    mdb_env_close (raw->env);
    char err[512] = "";
    fx->store = store_open (fx->path, MAP_SIZE, false, err, sizeof (err));
    assert_non_null (fx->store);
}

//  Replaces the checkpoint note filed at size
static void
s_put_note (fixture_t *fx, uint64_t size, const char *note)
{
    raw_t raw;
    s_raw_begin (fx, &raw);
    uint8_t k[8];
    codec_put_be64 (k, size);
    s_raw_put (&raw, "checkpoints", k, 8, note, strlen (note));
    s_raw_end (fx, &raw);
}

//  The stored checkpoint note at exactly size (the caller frees it)
static char *
s_get_note (fixture_t *fx, uint64_t size)
{
    char *note = NULL;
    uint64_t at = 0;
    assert_int_equal (store_checkpoint (fx->store, size, &note, &at), 0);
    assert_int_equal (at, size);
    return note;
}

//  --------------------------------------------------------------------------
//  Verifying

static int
s_verify (fixture_t *fx, size_t quorum, verify_result_t *result)
{
    memset (result, 0xAB, sizeof (*result));
    return verify_store (fx->store, fx->keys, NKEYS, quorum, ORIGIN, result);
}

//  verify_store (quorum 1) must fail with kind at seq, after checking
//  leaves events and checkpoints checkpoints
static void
s_expect (fixture_t *fx, verify_kind_t kind, uint64_t seq, uint64_t leaves, uint64_t checkpoints)
{
    verify_result_t result;
    int rc = s_verify (fx, 1, &result);
    if (result.kind != kind || result.seq != seq)
        print_message ("verify_store: %s at %llu (%s)\n", verify_kind_name (result.kind),
                       (unsigned long long) result.seq, result.detail);
    assert_int_equal (rc, -1);
    assert_string_equal (verify_kind_name (result.kind), verify_kind_name (kind));
    assert_int_equal (result.seq, seq);
    assert_int_equal (result.leaves, leaves);
    assert_int_equal (result.checkpoints, checkpoints);
    assert_true (strlen (result.detail) > 0);
}

static void
s_expect_clean (fixture_t *fx, size_t quorum)
{
    verify_result_t result;
    int rc = s_verify (fx, quorum, &result);
    if (rc != 0)
        print_message ("verify_store: %s at %llu (%s)\n", verify_kind_name (result.kind),
                       (unsigned long long) result.seq, result.detail);
    assert_int_equal (rc, 0);
    assert_int_equal (result.kind, VERIFY_OK);
    assert_int_equal (result.leaves, fx->size);
}

//  --------------------------------------------------------------------------
//  A clean store

static void
test_clean_store_verifies (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    verify_result_t result;
    assert_int_equal (s_verify (fx, 1, &result), 0);
    assert_int_equal (result.kind, VERIFY_OK);
    assert_int_equal (result.leaves, 10);
    assert_int_equal (result.checkpoints, 3);
    assert_string_equal (result.detail, "");

    //  The latest checkpoint carries all three signatures: a quorum of three holds...
    assert_int_equal (s_verify (fx, NKEYS, &result), 0);
    assert_int_equal (result.checkpoints, 3);
    //  ... and one more is refused, naming the latest checkpoint
    assert_int_equal (s_verify (fx, NKEYS + 1, &result), -1);
    assert_int_equal (result.kind, VERIFY_QUORUM);
    assert_int_equal (result.seq, 10);
    assert_int_equal (result.leaves, 10);
    assert_int_equal (result.checkpoints, 3);

    //  Without an origin any is accepted; a different one is refused at the first checkpoint
    assert_int_equal (verify_store (fx->store, fx->keys, NKEYS, 1, NULL, &result), 0);
    assert_int_equal (verify_store (fx->store, fx->keys, NKEYS, 1, "other.example/log", &result),
                      -1);
    assert_int_equal (result.kind, VERIFY_MALFORMED);
    assert_int_equal (result.seq, 3);

    //  Trusting only the third replica: size 3 predates its first signature,
    //  and every checkpoint needs a signer the verifier knows
    assert_int_equal (verify_store (fx->store, &fx->keys[2], 1, 1, ORIGIN, &result), -1);
    assert_int_equal (result.kind, VERIFY_QUORUM);
    assert_int_equal (result.seq, 3);
    assert_int_equal (result.checkpoints, 0);

    //  A verifier with no keys at all trusts nothing
    assert_int_equal (verify_store (fx->store, NULL, 0, 0, ORIGIN, &result), -1);
    assert_int_equal (result.kind, VERIFY_QUORUM);
    assert_int_equal (result.seq, 3);

    assert_string_equal (verify_kind_name (VERIFY_OK), "ok");
    assert_string_equal (verify_kind_name (VERIFY_LEAF_HASH), "leaf_hash_mismatch");
    assert_string_equal (verify_kind_name (VERIFY_GAP), "sequence_gap");
    assert_string_equal (verify_kind_name (VERIFY_KIND_COUNT), "unknown");
    assert_string_equal (verify_kind_name ((verify_kind_t) -1), "unknown");
}

static void
test_empty_store (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_int_equal (store_size (fx->store), 0);
    store_mark_t mark = store_mark (fx->store);
    assert_int_equal (mark.term, 0);
    assert_int_equal (mark.counter, 0);
    merkle_hash_t root, empty;
    merkle_empty_root (empty);
    assert_int_equal (store_root (fx->store, 0, root), 0);
    assert_memory_equal (root, empty, MERKLE_HASH_SIZE);
    char *note = NULL;
    uint64_t at;
    assert_int_equal (store_checkpoint (fx->store, 0, &note, &at), MDB_NOTFOUND);
    assert_null (note);
    //  Nothing to check, and no checkpoint to ask a quorum of
    verify_result_t result;
    assert_int_equal (s_verify (fx, NKEYS, &result), 0);
    assert_int_equal (result.leaves, 0);
    assert_int_equal (result.checkpoints, 0);
}

static void
test_get_and_leaf_hash (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    for (uint64_t seq = 0; seq < fx->size; seq++) {
        void *leaf = NULL;
        size_t size = 0;
        assert_int_equal (store_get (fx->store, seq, &leaf, &size), 0);
        assert_int_equal (size, fx->leaf_sizes[seq]);
        assert_memory_equal (leaf, fx->leaves[seq], size);
        //  The leaf is the event: its seq, agent and type as written
        event_t ev;
        codec_doc_t *doc;
        char why[128];
        assert_int_equal (event_decode (leaf, size, &ev, &doc, why, sizeof (why)), LH_OK);
        assert_int_equal (ev.seq, seq);
        assert_int_equal (ev.ts, TS (seq));
        assert_int_equal (ev.type, s_types[seq % 4]);
        char agent[16];
        snprintf (agent, sizeof (agent), "agent-%d", (int) (seq % 3));
        assert_string_equal (ev.agent, agent);
        assert_string_equal (ev.by, "node-1");
        codec_doc_destroy (&doc);
        free (leaf);

        merkle_hash_t hash;
        assert_int_equal (store_leaf_hash (fx->store, seq, hash), 0);
        assert_memory_equal (hash, fx->hashes[seq], MERKLE_HASH_SIZE);
    }
    void *leaf = NULL;
    size_t size;
    assert_int_equal (store_get (fx->store, fx->size, &leaf, &size), MDB_NOTFOUND);
    assert_null (leaf);
    merkle_hash_t hash;
    assert_int_equal (store_leaf_hash (fx->store, fx->size, hash), MDB_NOTFOUND);
}

static void
test_roots_and_proofs (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    merkle_hash_t root, proof[MERKLE_MAX_PROOF];
    size_t count;
    for (uint64_t size = 0; size <= fx->size; size++) {
        assert_int_equal (store_root (fx->store, size, root), 0);
        assert_memory_equal (root, fx->roots[size], MERKLE_HASH_SIZE);
    }
    //  Past the end the tree has no nodes to build a root from
    assert_int_not_equal (store_root (fx->store, fx->size + 1, root), 0);

    for (uint64_t size = 1; size <= fx->size; size++)
        for (uint64_t seq = 0; seq < size; seq++) {
            assert_int_equal (store_inclusion (fx->store, seq, size, proof, &count), 0);
            assert_int_equal (
                merkle_verify_inclusion (fx->hashes[seq], seq, size, proof, count, fx->roots[size]),
                0);
            //  The proof is for this leaf only
            uint64_t other = (seq + 1) % size;
            if (other != seq)
                assert_int_equal (merkle_verify_inclusion (fx->hashes[other], seq, size, proof,
                                                           count, fx->roots[size]),
                                  -1);
        }
    assert_int_not_equal (store_inclusion (fx->store, 5, 5, proof, &count), 0);
    assert_int_not_equal (store_inclusion (fx->store, 3, fx->size + 1, proof, &count), 0);

    for (uint64_t old_size = 1; old_size <= fx->size; old_size++)
        for (uint64_t new_size = old_size; new_size <= fx->size; new_size++) {
            assert_int_equal (store_consistency (fx->store, old_size, new_size, proof, &count), 0);
            if (old_size == new_size)
                assert_int_equal (count, 0);
            assert_int_equal (merkle_verify_consistency (old_size, new_size, fx->roots[old_size],
                                                         fx->roots[new_size], proof, count),
                              0);
            //  ... and proves nothing about another old root
            if (old_size > 1)
                assert_int_equal (merkle_verify_consistency (old_size, new_size,
                                                             fx->roots[old_size - 1],
                                                             fx->roots[new_size], proof, count),
                                  -1);
        }
    assert_int_not_equal (store_consistency (fx->store, 0, 5, proof, &count), 0);
    assert_int_not_equal (store_consistency (fx->store, 7, 3, proof, &count), 0);
    assert_int_not_equal (store_consistency (fx->store, 3, fx->size + 1, proof, &count), 0);
}

static void
test_checkpoints (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    //  Size 0 asks for the latest
    char *note = NULL;
    uint64_t at = 0;
    assert_int_equal (store_checkpoint (fx->store, 0, &note, &at), 0);
    assert_int_equal (at, 10);
    char origin[256];
    uint64_t size;
    merkle_hash_t root;
    assert_int_equal (note_checkpoint_parse (note, origin, sizeof (origin), &size, root), 0);
    assert_string_equal (origin, ORIGIN);
    assert_int_equal (size, 10);
    assert_memory_equal (root, fx->roots[10], MERKLE_HASH_SIZE);
    bool verified[NKEYS];
    assert_int_equal (note_verify (note, fx->keys, NKEYS, verified, NULL), 3);
    free (note);

    //  By size: each entry's note, signed by as many replicas as it was
    const uint64_t sizes[] = {3, 7, 10};
    for (int i = 0; i < 3; i++) {
        note = s_get_note (fx, sizes[i]);
        assert_int_equal (note_checkpoint_parse (note, origin, sizeof (origin), &size, root), 0);
        assert_int_equal (size, sizes[i]);
        assert_memory_equal (root, fx->roots[sizes[i]], MERKLE_HASH_SIZE);
        assert_int_equal (note_verify (note, fx->keys, NKEYS, verified, NULL), i + 1);
        for (int k = 0; k < NKEYS; k++)
            assert_int_equal (verified[k], k <= i);
        free (note);
    }
    note = NULL;
    assert_int_equal (store_checkpoint (fx->store, 5, &note, &at), MDB_NOTFOUND);
    assert_null (note);

    //  Cosignatures arriving later replace the notes of sizes the store has
    //  signed; a size it has no checkpoint for gets none
    char *cosigned = s_note (fx->keys, NKEYS, 3, fx->roots[3]);
    const uint64_t update_sizes[] = {3, 5};
    char *const update_notes[] = {cosigned, cosigned};
    assert_int_equal (store_update_checkpoints (fx->store, update_sizes, update_notes, 2), 0);
    note = s_get_note (fx, 3);
    assert_string_equal (note, cosigned);
    free (note);
    note = NULL;
    assert_int_equal (store_checkpoint (fx->store, 5, &note, &at), MDB_NOTFOUND);
    assert_null (note);
    free (cosigned);
    //  Now even a verifier trusting only the third replica accepts every checkpoint but size 7
    verify_result_t result;
    assert_int_equal (verify_store (fx->store, &fx->keys[2], 1, 1, ORIGIN, &result), -1);
    assert_int_equal (result.kind, VERIFY_QUORUM);
    assert_int_equal (result.seq, 7);
    s_expect_clean (fx, NKEYS);
}

//  --------------------------------------------------------------------------
//  Queries

typedef struct {
    fixture_t *fx;
    uint64_t seqs[MAX_EVENTS];
    size_t count;
    size_t stop_after; //  the visitor says stop after this many (0: never)
} found_t;

static bool
s_collect (void *arg, uint64_t seq, const void *leaf, size_t size)
{
    found_t *found = (found_t *) arg;
    assert_true (found->count < MAX_EVENTS);
    assert_true (seq < found->fx->size);
    //  The visitor gets the leaf stored for that seq
    assert_int_equal (size, found->fx->leaf_sizes[seq]);
    assert_memory_equal (leaf, found->fx->leaves[seq], size);
    found->seqs[found->count++] = seq;
    return !(found->stop_after && found->count >= found->stop_after);
}

static void
s_expect_query (fixture_t *fx, store_filter_t filter, size_t limit, const uint64_t *want,
                size_t nwant)
{
    found_t found = {.fx = fx};
    assert_int_equal (store_query (fx->store, &filter, limit, s_collect, &found), 0);
    if (found.count != nwant || (nwant && memcmp (found.seqs, want, nwant * sizeof (*want))))
        for (size_t i = 0; i < found.count; i++)
            print_message ("  found %llu\n", (unsigned long long) found.seqs[i]);
    assert_int_equal (found.count, nwant);
    if (nwant)
        assert_memory_equal (found.seqs, want, nwant * sizeof (*want));
}

#define SEQS(...) (const uint64_t[]){__VA_ARGS__}, sizeof ((uint64_t[]){__VA_ARGS__}) / 8
#define NONE      NULL, 0

static void
test_query (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    //  agent-0: 0 3 6 9, agent-1: 1 4 7, agent-2: 2 5 8
    //  command.executed: 0 4 8, file.write: 1 5 9, decision: 2 6, custom: 3 7
    const store_filter_t all = {.type = -1, .from_start = true};
    store_filter_t f = all;
    s_expect_query (fx, f, 100, SEQS (0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
    s_expect_query (fx, f, 0, NONE);

    //  Paging through everything, four at a time
    s_expect_query (fx, f, 4, SEQS (0, 1, 2, 3));
    f = (store_filter_t){.type = -1, .after = 3};
    s_expect_query (fx, f, 4, SEQS (4, 5, 6, 7));
    f.after = 7;
    s_expect_query (fx, f, 4, SEQS (8, 9));
    f.after = 9;
    s_expect_query (fx, f, 4, NONE);
    //  after 0 is "seq > 0", unlike from_start
    f.after = 0;
    s_expect_query (fx, f, 2, SEQS (1, 2));

    //  By agent, with paging
    f = (store_filter_t){.agent = "agent-1", .type = -1, .from_start = true};
    s_expect_query (fx, f, 100, SEQS (1, 4, 7));
    s_expect_query (fx, f, 2, SEQS (1, 4));
    f = (store_filter_t){.agent = "agent-1", .type = -1, .after = 4};
    s_expect_query (fx, f, 2, SEQS (7));
    f = (store_filter_t){.agent = "agent-0", .type = -1, .after = 0};
    s_expect_query (fx, f, 100, SEQS (3, 6, 9));
    //  An agent id is matched whole, never as a prefix
    f = (store_filter_t){.agent = "agent-", .type = -1, .from_start = true};
    s_expect_query (fx, f, 100, NONE);
    f.agent = "agent-10";
    s_expect_query (fx, f, 100, NONE);
    f.agent = "nobody";
    s_expect_query (fx, f, 100, NONE);

    //  By type
    f = (store_filter_t){.type = EVENT_FILE_WRITE, .from_start = true};
    s_expect_query (fx, f, 100, SEQS (1, 5, 9));
    f = (store_filter_t){.type = EVENT_DECISION, .after = 2};
    s_expect_query (fx, f, 100, SEQS (6));
    f = (store_filter_t){.type = EVENT_CUSTOM, .from_start = true};
    s_expect_query (fx, f, 1, SEQS (3));
    f.type = EVENT_SESSION_START;
    s_expect_query (fx, f, 100, NONE);

    //  Agent and type together
    f = (store_filter_t){.agent = "agent-1", .type = EVENT_FILE_WRITE, .from_start = true};
    s_expect_query (fx, f, 100, SEQS (1));
    f = (store_filter_t){.agent = "agent-0", .type = EVENT_COMMAND_EXECUTED, .from_start = true};
    s_expect_query (fx, f, 100, SEQS (0));
    f = (store_filter_t){.agent = "agent-2", .type = EVENT_CUSTOM, .from_start = true};
    s_expect_query (fx, f, 100, NONE);

    //  By time: since inclusive, until exclusive
    f = (store_filter_t){.type = -1, .since = TS (3), .until = TS (7), .from_start = true};
    s_expect_query (fx, f, 100, SEQS (3, 4, 5, 6));
    f = (store_filter_t){.type = -1, .since = TS (3) + 1, .from_start = true};
    s_expect_query (fx, f, 100, SEQS (4, 5, 6, 7, 8, 9));
    f = (store_filter_t){.type = -1, .since = TS (8), .from_start = true};
    s_expect_query (fx, f, 100, SEQS (8, 9));
    f = (store_filter_t){.type = -1, .until = TS (2), .from_start = true};
    s_expect_query (fx, f, 100, SEQS (0, 1));
    f = (store_filter_t){.type = -1, .since = TS (2), .from_start = true};
    s_expect_query (fx, f, 2, SEQS (2, 3));
    f = (store_filter_t){.type = -1, .since = TS (3), .after = 5};
    s_expect_query (fx, f, 100, SEQS (6, 7, 8, 9));
    f = (store_filter_t){.type = -1, .since = TS (2), .after = 0};
    s_expect_query (fx, f, 100, SEQS (2, 3, 4, 5, 6, 7, 8, 9));
    f = (store_filter_t){.type = -1, .since = TS (10), .from_start = true};
    s_expect_query (fx, f, 100, NONE);
    f = (store_filter_t){.type = -1, .since = TS (5), .until = TS (5), .from_start = true};
    s_expect_query (fx, f, 100, NONE);
    //  Time with an index
    f = (store_filter_t){.agent = "agent-0", .type = -1, .since = TS (4), .from_start = true};
    s_expect_query (fx, f, 100, SEQS (6, 9));
    f = (store_filter_t){.type = EVENT_FILE_WRITE, .until = TS (5), .from_start = true};
    s_expect_query (fx, f, 100, SEQS (1));

    //  A visitor that stops early ends the query there
    found_t found = {.fx = fx, .stop_after = 2};
    f = all;
    assert_int_equal (store_query (fx->store, &f, 100, s_collect, &found), 0);
    assert_int_equal (found.count, 2);
    found = (found_t){.fx = fx, .stop_after = 1};
    f = (store_filter_t){.agent = "agent-2", .type = -1, .from_start = true};
    assert_int_equal (store_query (fx->store, &f, 100, s_collect, &found), 0);
    assert_int_equal (found.count, 1);
    assert_int_equal (found.seqs[0], 2);
}

//  Times are the leader's wall clock, which can step back after a leader
//  change. The store refuses an event older than the last (the replica gives
//  such an event the latest time before it gets here), so that queries by
//  time can start where the time index says.
static void
test_query_since_unordered_times (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    const int64_t times[] = {TS (0), TS (3), TS (3), TS (4)};
    s_entry (fx, 4, 1, times);
    found_t found = {.fx = fx};
    store_filter_t f = {.type = -1, .since = TS (1), .from_start = true};
    assert_int_equal (store_query (fx->store, &f, 100, s_collect, &found), 0);
    s_expect_query (fx, f, 100, SEQS (1, 2, 3));
    f.until = TS (4);
    s_expect_query (fx, f, 100, SEQS (1, 2));

    //  An event stamped before the last one is refused and changes nothing
    msgpack_sbuffer leaf;
    msgpack_sbuffer_init (&leaf);
    s_leaf (4, TS (2), &leaf);
    event_t ev;
    codec_doc_t *doc;
    char why[128];
    assert_int_equal (event_decode (leaf.data, leaf.size, &ev, &doc, why, sizeof (why)), LH_OK);
    assert_int_equal (store_begin (fx->store), 0);
    assert_int_equal (store_txn_last_ts (fx->store), TS (4));
    uint64_t seq;
    assert_int_equal (store_append (fx->store, leaf.data, leaf.size, &ev, &seq), EINVAL);
    store_abort (fx->store);
    codec_doc_destroy (&doc);
    msgpack_sbuffer_destroy (&leaf);
    assert_int_equal (store_size (fx->store), 4);
}

static void
test_dedup_in_txn (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_int_equal (store_begin (fx->store), 0);
    //  A second transaction cannot start while one is open
    assert_int_equal (store_begin (fx->store), EINVAL);
    uint64_t seq = UINT64_MAX;
    assert_true (store_dedup_find (fx->store, "node-1", "c-4", &seq));
    assert_int_equal (seq, 4);
    assert_true (store_dedup_find (fx->store, "node-1", "c-0", &seq));
    assert_int_equal (seq, 0);
    //  Client ids belong to their appender
    assert_false (store_dedup_find (fx->store, "node-2", "c-4", &seq));
    assert_false (store_dedup_find (fx->store, "node-1", "c-10", &seq));
    assert_false (store_dedup_find (fx->store, "node-1c-4", "", &seq));

    //  An event appended in this transaction is found before the commit
    msgpack_sbuffer leaf;
    msgpack_sbuffer_init (&leaf);
    s_leaf (10, TS (10), &leaf);
    event_t ev;
    codec_doc_t *doc;
    char why[128];
    assert_int_equal (event_decode (leaf.data, leaf.size, &ev, &doc, why, sizeof (why)), LH_OK);
    assert_int_equal (store_append (fx->store, leaf.data, leaf.size, &ev, &seq), 0);
    assert_int_equal (seq, 10);
    seq = 0;
    assert_true (store_dedup_find (fx->store, "node-1", "c-10", &seq));
    assert_int_equal (seq, 10);
    codec_doc_destroy (&doc);
    msgpack_sbuffer_destroy (&leaf);
    store_abort (fx->store);
    //  ... and gone with the aborted transaction
    assert_int_equal (store_begin (fx->store), 0);
    assert_false (store_dedup_find (fx->store, "node-1", "c-10", &seq));
    store_abort (fx->store);
}

static void
test_reopen_keeps_mark_and_size (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    store_mark_t mark = store_mark (fx->store);
    assert_int_equal (mark.term, 1);
    assert_int_equal (mark.counter, 3);
    //  A new term's first entry
    assert_int_equal (store_begin (fx->store), 0);
    assert_int_equal (store_commit (fx->store, (store_mark_t){2, 1}), 0);
    store_destroy (&fx->store);
    assert_null (fx->store);

    char err[512] = "";
    fx->store = store_open (fx->path, MAP_SIZE, false, err, sizeof (err));
    assert_non_null (fx->store);
    assert_string_equal (store_path (fx->store), fx->path);
    assert_int_equal (store_size (fx->store), 10);
    mark = store_mark (fx->store);
    assert_int_equal (mark.term, 2);
    assert_int_equal (mark.counter, 1);
    merkle_hash_t root;
    assert_int_equal (store_root (fx->store, 10, root), 0);
    assert_memory_equal (root, fx->roots[10], MERKLE_HASH_SIZE);
    s_expect_clean (fx, NKEYS);
    store_destroy (&fx->store);

    //  Read-only, as `lh verify` opens a copy: same contents, no writing
    fx->store = store_open (fx->path, MAP_SIZE, true, err, sizeof (err));
    assert_non_null (fx->store);
    assert_int_equal (store_size (fx->store), 10);
    assert_int_equal (store_mark (fx->store).term, 2);
    assert_int_equal (store_begin (fx->store), EINVAL);
    assert_int_equal (store_sync (fx->store), 0);
    s_expect_clean (fx, NKEYS);
}

static void
test_snapshot_restore (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    void *data = NULL;
    size_t size = 0;
    assert_int_equal (store_sync (fx->store), 0);
    assert_int_equal (store_snapshot (fx->store, malloc, &data, &size), 0);
    assert_non_null (data);
    assert_true (size > 0);

    char path[400], err[512] = "";
    snprintf (path, sizeof (path), "%s/other.lmdb", fx->dir);
    store_t *other = store_open (path, MAP_SIZE, false, err, sizeof (err));
    assert_non_null (other);
    assert_int_equal (store_size (other), 0);
    assert_int_equal (store_restore (other, data, size, err, sizeof (err)), 0);
    free (data);
    //  The temporary copy was renamed into place
    char tmp[420];
    snprintf (tmp, sizeof (tmp), "%s.restore", path);
    assert_int_not_equal (access (tmp, F_OK), 0);

    assert_int_equal (store_size (other), store_size (fx->store));
    assert_int_equal (store_mark (other).term, store_mark (fx->store).term);
    assert_int_equal (store_mark (other).counter, store_mark (fx->store).counter);
    merkle_hash_t a, b;
    assert_int_equal (store_root (fx->store, fx->size, a), 0);
    assert_int_equal (store_root (other, fx->size, b), 0);
    assert_memory_equal (a, b, MERKLE_HASH_SIZE);
    verify_result_t result;
    assert_int_equal (verify_store (other, fx->keys, NKEYS, NKEYS, ORIGIN, &result), 0);
    assert_int_equal (result.leaves, 10);
    assert_int_equal (result.checkpoints, 3);

    //  The restored store takes appends where the original left off
    assert_int_equal (store_begin (other), 0);
    assert_int_equal (store_txn_size (other), 10);
    uint64_t seq;
    assert_true (store_dedup_find (other, "node-1", "c-9", &seq));
    assert_int_equal (seq, 9);
    store_abort (other);
    store_destroy (&other);
}

static void
test_abort_keeps_size (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_int_equal (store_begin (fx->store), 0);
    msgpack_sbuffer leaf;
    msgpack_sbuffer_init (&leaf);
    for (uint64_t i = 10; i < 12; i++) {
        msgpack_sbuffer_clear (&leaf);
        s_leaf (i, TS (i), &leaf);
        event_t ev;
        codec_doc_t *doc;
        char why[128];
        assert_int_equal (event_decode (leaf.data, leaf.size, &ev, &doc, why, sizeof (why)), LH_OK);
        uint64_t seq;
        assert_int_equal (store_append (fx->store, leaf.data, leaf.size, &ev, &seq), 0);
        assert_int_equal (seq, i);
        codec_doc_destroy (&doc);
    }
    assert_int_equal (store_txn_size (fx->store), 12);
    //  Readers never see an open transaction
    assert_int_equal (store_size (fx->store), 10);
    void *got = NULL;
    size_t got_size;
    assert_int_equal (store_get (fx->store, 10, &got, &got_size), MDB_NOTFOUND);
    store_abort (fx->store);
    assert_int_equal (store_size (fx->store), 10);
    assert_int_equal (store_txn_size (fx->store), 10);
    assert_int_equal (store_mark (fx->store).counter, 3);
    assert_int_equal (store_get (fx->store, 10, &got, &got_size), MDB_NOTFOUND);
    merkle_hash_t root;
    assert_int_equal (store_root (fx->store, 10, root), 0);
    assert_memory_equal (root, fx->roots[10], MERKLE_HASH_SIZE);
    //  A second abort is harmless
    store_abort (fx->store);
    msgpack_sbuffer_destroy (&leaf);

    //  The next entry reuses the numbers the aborted one took
    s_entry (fx, 2, 3, NULL);
    assert_int_equal (store_size (fx->store), 12);
    s_expect_clean (fx, NKEYS);
    store_destroy (&fx->store);
    char err[512];
    fx->store = store_open (fx->path, MAP_SIZE, false, err, sizeof (err));
    assert_non_null (fx->store);
    assert_int_equal (store_size (fx->store), 12);
}

static void
test_open_missing_readonly (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char path[400], err[512] = "";
    snprintf (path, sizeof (path), "%s/missing.lmdb", fx->dir);
    assert_null (store_open (path, MAP_SIZE, true, err, sizeof (err)));
    //  The message names the file
    assert_non_null (strstr (err, path));
    assert_true (strlen (err) > strlen (path));
    //  ... and nothing was created
    assert_int_not_equal (access (path, F_OK), 0);
    //  Under a missing directory even a writable open fails
    snprintf (path, sizeof (path), "%s/no/such/dir/store.lmdb", fx->dir);
    err[0] = 0;
    assert_null (store_open (path, MAP_SIZE, false, err, sizeof (err)));
    assert_non_null (strstr (err, path));
}

//  --------------------------------------------------------------------------
//  Corruption

static void
test_changed_leaf_byte (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    raw_t raw;
    s_raw_begin (fx, &raw);
    uint8_t k[8];
    codec_put_be64 (k, 6);
    size_t size;
    uint8_t *leaf = s_raw_get (&raw, "events", k, 8, &size);
    //  One byte of the path in the data map: still a well-formed event
    leaf[size - 6] ^= 0x01;
    s_raw_put (&raw, "events", k, 8, leaf, size);
    free (leaf);
    s_raw_end (fx, &raw);
    s_expect (fx, VERIFY_LEAF_HASH, 6, 6, 1);
}

static void
test_deleted_event (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    raw_t raw;
    s_raw_begin (fx, &raw);
    uint8_t k[8];
    codec_put_be64 (k, 4);
    s_raw_del (&raw, "events", k, 8);
    s_raw_end (fx, &raw);
    s_expect (fx, VERIFY_GAP, 4, 4, 1);
}

static void
test_deleted_last_event (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    raw_t raw;
    s_raw_begin (fx, &raw);
    uint8_t k[8];
    codec_put_be64 (k, 9);
    s_raw_del (&raw, "events", k, 8);
    s_raw_end (fx, &raw);
    //  Nothing follows it, but the checkpoint for size 10 cannot be reached
    s_expect (fx, VERIFY_GAP, 9, 9, 2);
}

static void
test_changed_leaf_hash_node (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    raw_t raw;
    s_raw_begin (fx, &raw);
    uint8_t k[9];
    s_node_key (k, 0, 2);
    size_t size;
    uint8_t *hash = s_raw_get (&raw, "merkle", k, 9, &size);
    assert_int_equal (size, MERKLE_HASH_SIZE);
    hash[17] ^= 0x80;
    s_raw_put (&raw, "merkle", k, 9, hash, size);
    free (hash);
    s_raw_end (fx, &raw);
    s_expect (fx, VERIFY_LEAF_HASH, 2, 2, 0);
}

//  A forged checkpoint: another root for size 7, signed by a key the
//  verifier does not know. The root is compared before the signatures.
static void
test_checkpoint_root_resigned_by_stranger (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    merkle_hash_t forged;
    memcpy (forged, fx->roots[7], MERKLE_HASH_SIZE);
    forged[0] ^= 0x01;
    char *note = s_note (&fx->stranger, 1, 7, forged);
    s_put_note (fx, 7, note);
    free (note);
    s_expect (fx, VERIFY_ROOT, 7, 7, 1);
}

//  The root line changed, the replicas' signatures kept: the signatures no
//  longer verify, but the verifier reports the root first (verify.c checks
//  a checkpoint's root against the events before its signatures)
static void
test_checkpoint_root_changed_signatures_kept (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char *note = s_get_note (fx, 7);
    char *body = NULL;
    assert_int_equal (note_verify (note, fx->keys, NKEYS, NULL, &body), 2);
    merkle_hash_t forged;
    memcpy (forged, fx->roots[7], MERKLE_HASH_SIZE);
    forged[31] ^= 0x40;
    char *forged_body = note_checkpoint_body (ORIGIN, 7, forged);
    assert_int_equal (strlen (forged_body), strlen (body));
    char *changed = strdup (note);
    memcpy (changed, forged_body, strlen (forged_body));
    assert_string_not_equal (changed, note);
    //  Any verifier of the note alone sees the signatures fail
    assert_int_equal (note_verify (changed, fx->keys, NKEYS, NULL, NULL), -1);
    s_put_note (fx, 7, changed);
    s_expect (fx, VERIFY_ROOT, 7, 7, 1);
    free (changed);
    free (forged_body);
    free (body);
    free (note);
}

//  The root kept but the signed text changed (an extension line added): the
//  root matches, a known key's signature does not
static void
test_checkpoint_text_changed_signatures_kept (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char *note = s_get_note (fx, 7);
    char *body = NULL;
    assert_int_equal (note_verify (note, fx->keys, NKEYS, NULL, &body), 2);
    const char *extra = "injected extension line\n";
    size_t blen = strlen (body);
    char *changed = (char *) malloc (strlen (note) + strlen (extra) + 1);
    assert_non_null (changed);
    memcpy (changed, note, blen);
    strcpy (changed + blen, extra);
    strcat (changed, note + blen);
    s_put_note (fx, 7, changed);
    s_expect (fx, VERIFY_SIGNATURE, 7, 7, 1);
    free (changed);
    free (body);
    free (note);
}

//  The right root, signed only by a key the verifier does not know
static void
test_checkpoint_signed_by_stranger_only (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char *note = s_note (&fx->stranger, 1, 7, fx->roots[7]);
    s_put_note (fx, 7, note);
    free (note);
    s_expect (fx, VERIFY_QUORUM, 7, 7, 1);
}

static void
test_signature_byte_flipped (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char *note = s_get_note (fx, 10);
    //  The second replica's signature line: after the blank line, the second "\n"-ended line
    char *sigs = strstr (note, "\n\n");
    assert_non_null (sigs);
    char *line = strchr (sigs + 2, '\n');
    assert_non_null (line);
    line++;
    char *end = strchr (line, '\n');
    assert_non_null (end);
    //  A base64 digit well inside the signature (past the 4-byte key id), still base64
    char *digit = end - 30;
    *digit = *digit == 'A' ? 'B' : 'A';
    assert_int_equal (note_verify (note, fx->keys, NKEYS, NULL, NULL), -1);
    //  Unknown keys are ignored: the first replica alone still accepts it
    assert_int_equal (note_verify (note, fx->keys, 1, NULL, NULL), 1);
    s_put_note (fx, 10, note);
    free (note);
    s_expect (fx, VERIFY_SIGNATURE, 10, 10, 2);
}

static void
test_unparseable_checkpoint (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_put_note (fx, 7, "not a checkpoint\n");
    s_expect (fx, VERIFY_MALFORMED, 7, 7, 1);
}

//  Garbage in place of event 4, with a matching leaf hash so that the leaf
//  itself is what fails
static void
test_unparseable_leaf (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    const uint8_t garbage[] = {0x83, 0xa3, 's', 'e', 'q', 0x04, 0xc1, 0xff};
    merkle_hash_t hash;
    merkle_leaf_hash (garbage, sizeof (garbage), hash);
    raw_t raw;
    s_raw_begin (fx, &raw);
    uint8_t k[9];
    codec_put_be64 (k, 4);
    s_raw_put (&raw, "events", k, 8, garbage, sizeof (garbage));
    s_node_key (k, 0, 4);
    s_raw_put (&raw, "merkle", k, 9, hash, sizeof (hash));
    s_raw_end (fx, &raw);
    s_expect (fx, VERIFY_MALFORMED, 4, 4, 1);
}

//  A well-formed leaf that is event 5, filed as event 4
static void
test_leaf_with_another_seq (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    raw_t raw;
    s_raw_begin (fx, &raw);
    uint8_t k[9];
    codec_put_be64 (k, 4);
    s_raw_put (&raw, "events", k, 8, fx->leaves[5], fx->leaf_sizes[5]);
    s_node_key (k, 0, 4);
    s_raw_put (&raw, "merkle", k, 9, fx->hashes[5], MERKLE_HASH_SIZE);
    s_raw_end (fx, &raw);
    s_expect (fx, VERIFY_GAP, 4, 4, 1);
}

static void
test_checkpoint_beyond_last_event (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char *note = s_note (fx->keys, NKEYS, 15, fx->roots[10]);
    s_put_note (fx, 15, note);
    free (note);
    //  seq is the first event missing (10); the detail names the checkpoint's size
    verify_result_t result;
    assert_int_equal (s_verify (fx, 1, &result), -1);
    assert_non_null (strstr (result.detail, "15"));
    s_expect (fx, VERIFY_GAP, 10, 10, 3);
}

//  An interior node the root of the whole tree is built from (size 10 is
//  node (3, 0) over 0..7 and node (1, 4) over 8..9): every leaf and
//  checkpoint passes; the node check names the node's first leaf
static void
test_internal_node_changed (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    raw_t raw;
    s_raw_begin (fx, &raw);
    uint8_t k[9];
    s_node_key (k, 1, 4);
    size_t size;
    uint8_t *hash = s_raw_get (&raw, "merkle", k, 9, &size);
    hash[0] ^= 0xff;
    s_raw_put (&raw, "merkle", k, 9, hash, size);
    free (hash);
    s_raw_end (fx, &raw);
    s_expect (fx, VERIFY_ROOT, 8, 10, 3);
}

//  An interior node under (3, 0), which the root of size 10 does not read
//  but which inclusion proofs do
static void
test_internal_node_off_the_root_path (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    raw_t raw;
    s_raw_begin (fx, &raw);
    uint8_t k[9];
    s_node_key (k, 1, 0);
    size_t size;
    uint8_t *hash = s_raw_get (&raw, "merkle", k, 9, &size);
    hash[5] ^= 0x10;
    s_raw_put (&raw, "merkle", k, 9, hash, size);
    free (hash);
    s_raw_end (fx, &raw);
    //  The store now serves a proof for event 2 that does not verify
    merkle_hash_t proof[MERKLE_MAX_PROOF];
    size_t count;
    assert_int_equal (store_inclusion (fx->store, 2, 10, proof, &count), 0);
    assert_int_equal (merkle_verify_inclusion (fx->hashes[2], 2, 10, proof, count, fx->roots[10]),
                      -1);
    verify_result_t result;
    assert_int_equal (s_verify (fx, 1, &result), -1);
    assert_int_equal (result.kind, VERIFY_ROOT);
    assert_int_equal (result.seq, 0); //  the node's first leaf
}

//  Merkle node access through a raw transaction, to rebuild a tree the way
//  store_append does
static int
s_raw_node_get (void *arg, unsigned level, uint64_t index, merkle_hash_t out)
{
    raw_t *raw = (raw_t *) arg;
    uint8_t k[9];
    s_node_key (k, level, index);
    MDB_val key = {9, k}, val;
    if (mdb_get (raw->txn, s_raw_db (raw, "merkle"), &key, &val) != 0 ||
        val.mv_size != MERKLE_HASH_SIZE)
        return -1;
    memcpy (out, val.mv_data, MERKLE_HASH_SIZE);
    return 0;
}

static int
s_raw_node_put (void *arg, unsigned level, uint64_t index, const merkle_hash_t hash)
{
    uint8_t k[9];
    s_node_key (k, level, index);
    s_raw_put ((raw_t *) arg, "merkle", k, 9, hash, MERKLE_HASH_SIZE);
    return 0;
}

//  Someone who can write the file rewrites event 5 (a valid event, with
//  another agent), rebuilds every tree node to match, and deletes the
//  signed checkpoints that would give the rewrite away
static void
test_checkpoints_stripped (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    msgpack_sbuffer forged;
    msgpack_sbuffer_init (&forged);
    s_leaf (6, TS (5), &forged);
    //  ... renumbered as event 5: the header, "seq", then seq as a fixint
    assert_int_equal ((uint8_t) forged.data[5], 0x06);
    forged.data[5] = 0x05;
    event_t ev;
    codec_doc_t *doc;
    char why[128];
    assert_int_equal (event_decode (forged.data, forged.size, &ev, &doc, why, sizeof (why)), LH_OK);
    assert_int_equal (ev.seq, 5);
    codec_doc_destroy (&doc);

    raw_t raw;
    s_raw_begin (fx, &raw);
    uint8_t k[8];
    codec_put_be64 (k, 5);
    s_raw_put (&raw, "events", k, 8, forged.data, forged.size);
    for (uint64_t seq = 0; seq < fx->size; seq++) {
        merkle_hash_t hash;
        if (seq == 5)
            merkle_leaf_hash (forged.data, forged.size, hash);
        else
            memcpy (hash, fx->hashes[seq], MERKLE_HASH_SIZE);
        assert_int_equal (merkle_append (s_raw_node_get, s_raw_node_put, &raw, seq, hash), 0);
    }
    const uint64_t sizes[] = {3, 7, 10};
    for (int i = 0; i < 3; i++) {
        codec_put_be64 (k, sizes[i]);
        s_raw_del (&raw, "checkpoints", k, 8);
    }
    s_raw_end (fx, &raw);
    msgpack_sbuffer_destroy (&forged);

    //  Every leaf matches its tree and no signature is left to contradict it
    verify_result_t result;
    //  ... but no checkpoint covers them
    assert_int_equal (s_verify (fx, 1, &result), -1);
    assert_int_equal (result.kind, VERIFY_QUORUM);
}

//  --------------------------------------------------------------------------
//  The streaming verifier on its own

static void
test_streaming_clean (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    verify_t *verify = verify_new (fx->keys, NKEYS, NKEYS, ORIGIN);
    assert_non_null (verify);
    for (uint64_t seq = 0; seq < fx->size; seq++) {
        //  With and without a stored hash to compare
        assert_int_equal (verify_leaf (verify, seq, fx->leaves[seq], fx->leaf_sizes[seq],
                                       seq % 2 ? fx->hashes[seq] : NULL),
                          0);
        if (seq + 1 == 3 || seq + 1 == 7 || seq + 1 == 10) {
            char *note = s_get_note (fx, seq + 1);
            assert_int_equal (verify_checkpoint (verify, seq + 1, note), 0);
            free (note);
        }
    }
    assert_int_equal (verify_finish (verify, fx->roots[10]), 0);
    assert_int_equal (verify_finish (verify, NULL), 0);
    const verify_result_t *result = verify_result (verify);
    assert_int_equal (result->kind, VERIFY_OK);
    assert_int_equal (result->leaves, 10);
    assert_int_equal (result->checkpoints, 3);
    //  A stored root that differs fails the final check
    assert_int_equal (verify_finish (verify, fx->roots[9]), -1);
    assert_int_equal (result->kind, VERIFY_ROOT);
    assert_int_equal (result->seq, 10);
    verify_destroy (&verify);
    assert_null (verify);
    verify_destroy (&verify);
}

static void
test_streaming_out_of_order (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    verify_t *verify = verify_new (fx->keys, NKEYS, 1, ORIGIN);
    assert_int_equal (verify_leaf (verify, 0, fx->leaves[0], fx->leaf_sizes[0], NULL), 0);
    //  Event 2 where event 1 is due
    assert_int_equal (verify_leaf (verify, 2, fx->leaves[2], fx->leaf_sizes[2], NULL), -1);
    const verify_result_t *result = verify_result (verify);
    assert_int_equal (result->kind, VERIFY_GAP);
    assert_int_equal (result->seq, 1);
    assert_int_equal (result->leaves, 1);
    //  The first violation is kept; later input is ignored
    assert_int_equal (verify_leaf (verify, 1, fx->leaves[1], fx->leaf_sizes[1], NULL), -1);
    char *note = s_get_note (fx, 3);
    assert_int_equal (verify_checkpoint (verify, 3, note), -1);
    free (note);
    assert_int_equal (verify_finish (verify, NULL), -1);
    assert_int_equal (result->kind, VERIFY_GAP);
    assert_int_equal (result->seq, 1);
    assert_int_equal (result->leaves, 1);
    verify_destroy (&verify);

    //  The same event twice
    verify = verify_new (fx->keys, NKEYS, 1, ORIGIN);
    assert_int_equal (verify_leaf (verify, 0, fx->leaves[0], fx->leaf_sizes[0], NULL), 0);
    assert_int_equal (verify_leaf (verify, 1, fx->leaves[1], fx->leaf_sizes[1], NULL), 0);
    assert_int_equal (verify_leaf (verify, 1, fx->leaves[1], fx->leaf_sizes[1], NULL), -1);
    assert_int_equal (verify_result (verify)->kind, VERIFY_GAP);
    assert_int_equal (verify_result (verify)->seq, 2);
    verify_destroy (&verify);

    //  A leaf whose own seq differs from its place
    verify = verify_new (fx->keys, NKEYS, 1, ORIGIN);
    assert_int_equal (verify_leaf (verify, 0, fx->leaves[1], fx->leaf_sizes[1], NULL), -1);
    assert_int_equal (verify_result (verify)->kind, VERIFY_GAP);
    assert_int_equal (verify_result (verify)->seq, 0);
    verify_destroy (&verify);

    //  A checkpoint offered when the tree has another size, or filed under another size
    verify = verify_new (fx->keys, NKEYS, 1, ORIGIN);
    for (uint64_t seq = 0; seq < 3; seq++)
        assert_int_equal (
            verify_leaf (verify, seq, fx->leaves[seq], fx->leaf_sizes[seq], fx->hashes[seq]), 0);
    note = s_get_note (fx, 7);
    assert_int_equal (verify_checkpoint (verify, 7, note), -1);
    assert_int_equal (verify_result (verify)->kind, VERIFY_GAP);
    assert_int_equal (verify_result (verify)->seq, 7);
    verify_destroy (&verify);
    verify = verify_new (fx->keys, NKEYS, 1, ORIGIN);
    for (uint64_t seq = 0; seq < 3; seq++)
        assert_int_equal (verify_leaf (verify, seq, fx->leaves[seq], fx->leaf_sizes[seq], NULL), 0);
    assert_int_equal (verify_checkpoint (verify, 3, note), -1);
    assert_int_equal (verify_result (verify)->kind, VERIFY_GAP);
    assert_int_equal (verify_result (verify)->seq, 3);
    free (note);
    verify_destroy (&verify);

    //  A stored hash that differs
    verify = verify_new (fx->keys, NKEYS, 1, ORIGIN);
    assert_int_equal (verify_leaf (verify, 0, fx->leaves[0], fx->leaf_sizes[0], fx->hashes[1]), -1);
    assert_int_equal (verify_result (verify)->kind, VERIFY_LEAF_HASH);
    assert_int_equal (verify_result (verify)->seq, 0);
    assert_int_equal (verify_result (verify)->leaves, 0);
    verify_destroy (&verify);
}

int
main (void)
{
#define T(name) cmocka_unit_test_setup_teardown (name, s_setup, s_teardown)
#define E(name) cmocka_unit_test_setup_teardown (name, s_setup_empty, s_teardown)
    const struct CMUnitTest tests[] = {
        T (test_clean_store_verifies),
        E (test_empty_store),
        T (test_get_and_leaf_hash),
        T (test_roots_and_proofs),
        T (test_checkpoints),
        T (test_query),
        E (test_query_since_unordered_times),
        T (test_dedup_in_txn),
        T (test_reopen_keeps_mark_and_size),
        T (test_snapshot_restore),
        T (test_abort_keeps_size),
        E (test_open_missing_readonly),
        T (test_changed_leaf_byte),
        T (test_deleted_event),
        T (test_deleted_last_event),
        T (test_changed_leaf_hash_node),
        T (test_checkpoint_root_resigned_by_stranger),
        T (test_checkpoint_root_changed_signatures_kept),
        T (test_checkpoint_text_changed_signatures_kept),
        T (test_checkpoint_signed_by_stranger_only),
        T (test_signature_byte_flipped),
        T (test_unparseable_checkpoint),
        T (test_unparseable_leaf),
        T (test_leaf_with_another_seq),
        T (test_checkpoint_beyond_last_event),
        T (test_internal_node_changed),
        T (test_internal_node_off_the_root_path),
        T (test_checkpoints_stripped),
        T (test_streaming_clean),
        T (test_streaming_out_of_order),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
