/*  verify -- checks a log from its leaves and signed checkpoints. See verify.h. */
#include "verify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_kind_names[VERIFY_KIND_COUNT] = {
    [VERIFY_OK] = "ok",
    [VERIFY_LEAF_HASH] = "leaf_hash_mismatch",
    [VERIFY_ROOT] = "root_mismatch",
    [VERIFY_SIGNATURE] = "bad_signature",
    [VERIFY_QUORUM] = "too_few_signatures",
    [VERIFY_GAP] = "sequence_gap",
    [VERIFY_MALFORMED] = "malformed",
    [VERIFY_DIVERGENCE] = "replica_divergence",
};

const char *
verify_kind_name (verify_kind_t kind)
{
    return (int) kind >= 0 && kind < VERIFY_KIND_COUNT ? s_kind_names[kind] : "unknown";
}

struct _verify_t {
    note_key_t *const *keys;
    size_t nkeys;
    size_t quorum;
    char *origin;
    merkle_tree_t *tree;
    uint64_t last_size; //  the latest checkpoint seen, and its valid signatures
    size_t last_valid;
    verify_result_t result;
};

verify_t *
verify_new (note_key_t *const *keys, size_t nkeys, size_t quorum, const char *origin)
{
    verify_t *self = (verify_t *) calloc (1, sizeof (verify_t));
    self->keys = keys;
    self->nkeys = nkeys;
    self->quorum = quorum;
    self->origin = origin ? strdup (origin) : NULL;
    self->tree = merkle_tree_new ();
    return self;
}

void
verify_destroy (verify_t **self_p)
{
    if (self_p && *self_p) {
        verify_t *self = *self_p;
        merkle_tree_destroy (&self->tree);
        free (self->origin);
        free (self);
        *self_p = NULL;
    }
}

static int s_fail (verify_t *self, verify_kind_t kind, uint64_t seq, const char *format, ...)
    __attribute__ ((format (printf, 4, 5)));

static int
s_fail (verify_t *self, verify_kind_t kind, uint64_t seq, const char *format, ...)
{
    self->result.kind = kind;
    self->result.seq = seq;
    va_list args;
    va_start (args, format);
    vsnprintf (self->result.detail, sizeof (self->result.detail), format, args);
    va_end (args);
    return -1;
}

int
verify_leaf (verify_t *self, uint64_t seq, const void *leaf, size_t size,
             const merkle_hash_t stored_hash)
{
    if (self->result.kind != VERIFY_OK)
        return -1;
    uint64_t expected = merkle_tree_size (self->tree);
    if (seq != expected)
        return s_fail (self, VERIFY_GAP, expected, "expected event %llu, found %llu",
                       (unsigned long long) expected, (unsigned long long) seq);
    merkle_hash_t hash;
    merkle_leaf_hash (leaf, size, hash);
    if (stored_hash && memcmp (hash, stored_hash, MERKLE_HASH_SIZE) != 0)
        return s_fail (self, VERIFY_LEAF_HASH, seq,
                       "event %llu does not hash to the leaf hash its tree holds",
                       (unsigned long long) seq);
    event_t ev;
    codec_doc_t *doc;
    char why[128];
    if (event_decode (leaf, size, &ev, &doc, why, sizeof (why)) != LH_OK)
        return s_fail (self, VERIFY_MALFORMED, seq, "event %llu: %s", (unsigned long long) seq,
                       why);
    codec_doc_destroy (&doc);
    if (ev.seq != seq)
        return s_fail (self, VERIFY_GAP, seq, "event stored as %llu says it is %llu",
                       (unsigned long long) seq, (unsigned long long) ev.seq);
    merkle_tree_append (self->tree, hash);
    self->result.leaves++;
    return 0;
}

int
verify_checkpoint (verify_t *self, uint64_t size, const char *note)
{
    if (self->result.kind != VERIFY_OK)
        return -1;
    char origin[256];
    uint64_t note_size;
    merkle_hash_t root, rebuilt;
    if (note_checkpoint_parse (note, origin, sizeof (origin), &note_size, root) != 0)
        return s_fail (self, VERIFY_MALFORMED, size, "checkpoint at size %llu does not parse",
                       (unsigned long long) size);
    if (note_size != size || merkle_tree_size (self->tree) != size)
        return s_fail (self, VERIFY_GAP, size,
                       "checkpoint for size %llu filed at %llu, tree has %llu",
                       (unsigned long long) note_size, (unsigned long long) size,
                       (unsigned long long) merkle_tree_size (self->tree));
    if (self->origin && strcmp (origin, self->origin) != 0)
        return s_fail (self, VERIFY_MALFORMED, size, "checkpoint origin '%s', expected '%s'",
                       origin, self->origin);
    merkle_tree_root (self->tree, rebuilt);
    if (memcmp (root, rebuilt, MERKLE_HASH_SIZE) != 0)
        return s_fail (self, VERIFY_ROOT, size,
                       "checkpoint root for size %llu differs from the root of the events",
                       (unsigned long long) size);
    int valid = note_verify (note, self->keys, self->nkeys, NULL, NULL);
    if (valid < 0)
        return s_fail (self, VERIFY_SIGNATURE, size,
                       "checkpoint for size %llu has a signature that does not verify",
                       (unsigned long long) size);
    //  Every checkpoint needs a signer; the quorum is asked of the latest,
    //  whose root commits to every event before it
    if (valid < 1)
        return s_fail (self, VERIFY_QUORUM, size,
                       "checkpoint for size %llu has no valid signature by a known key",
                       (unsigned long long) size);
    self->last_size = size;
    self->last_valid = (size_t) valid;
    self->result.checkpoints++;
    return 0;
}

int
verify_finish (verify_t *self, const merkle_hash_t stored_root)
{
    if (self->result.kind != VERIFY_OK)
        return -1;
    //  Every event must be under a signed checkpoint, the latest one under N
    uint64_t leaves = merkle_tree_size (self->tree);
    if (leaves > 0 && (!self->result.checkpoints || self->last_size != leaves))
        return s_fail (self, VERIFY_QUORUM, self->result.checkpoints ? self->last_size : 0,
                       "events %llu to %llu are under no signed checkpoint",
                       (unsigned long long) (self->result.checkpoints ? self->last_size : 0),
                       (unsigned long long) leaves - 1);
    if (self->result.checkpoints && self->last_valid < self->quorum)
        return s_fail (self, VERIFY_QUORUM, self->last_size,
                       "the latest checkpoint (size %llu) has %zu valid signatures, %zu required",
                       (unsigned long long) self->last_size, self->last_valid, self->quorum);
    merkle_hash_t rebuilt;
    merkle_tree_root (self->tree, rebuilt);
    if (stored_root && memcmp (rebuilt, stored_root, MERKLE_HASH_SIZE) != 0)
        return s_fail (self, VERIFY_ROOT, merkle_tree_size (self->tree),
                       "the stored tree's root for size %llu differs from the root of the events",
                       (unsigned long long) merkle_tree_size (self->tree));
    return 0;
}

const verify_result_t *
verify_result (verify_t *self)
{
    return &self->result;
}

//  --------------------------------------------------------------------------
//  A whole store

typedef struct {
    uint64_t size;
    char *note;
} s_checkpoint_t;

typedef struct {
    verify_t *verify;
    s_checkpoint_t *list;
    size_t count, alloc, next;
} s_walk_t;

static bool
s_collect (void *arg, uint64_t size, const char *note)
{
    s_walk_t *walk = (s_walk_t *) arg;
    if (walk->count == walk->alloc) {
        walk->alloc = walk->alloc ? walk->alloc * 2 : 256;
        walk->list = (s_checkpoint_t *) realloc (walk->list, walk->alloc * sizeof (s_checkpoint_t));
    }
    walk->list[walk->count++] = (s_checkpoint_t){size, strdup (note)};
    return true;
}

static bool
s_leaf (void *arg, uint64_t seq, const void *leaf, size_t size, const merkle_hash_t stored)
{
    s_walk_t *walk = (s_walk_t *) arg;
    if (verify_leaf (walk->verify, seq, leaf, size, stored) != 0)
        return false;
    while (walk->next < walk->count && walk->list[walk->next].size == seq + 1)
        if (verify_checkpoint (walk->verify, seq + 1, walk->list[walk->next++].note) != 0)
            return false;
    return true;
}

int
verify_store (store_t *store, note_key_t *const *keys, size_t nkeys, size_t quorum,
              const char *origin, verify_result_t *result)
{
    s_walk_t walk = {.verify = verify_new (keys, nkeys, quorum, origin)};
    //  Checkpoints and leaves from one state, so the latest checkpoint is the tree's size
    int rc = store_walk (store, s_collect, s_leaf, &walk);
    if (rc != 0)
        s_fail (walk.verify, VERIFY_MALFORMED, 0, "cannot read the store: error %d", rc);
    uint64_t size = walk.verify->result.leaves;
    if (walk.verify->result.kind == VERIFY_OK && walk.next < walk.count)
        s_fail (walk.verify, VERIFY_GAP, size, "checkpoint for size %llu but only %llu events",
                (unsigned long long) walk.list[walk.next].size, (unsigned long long) size);
    unsigned level;
    uint64_t index;
    if (walk.verify->result.kind == VERIFY_OK && store_check_nodes (store, &level, &index) != 0)
        s_fail (walk.verify, VERIFY_ROOT, index << level,
                "tree node (level %u, index %llu) is not the hash of its children", level,
                (unsigned long long) index);
    merkle_hash_t stored_root;
    if (walk.verify->result.kind == VERIFY_OK) {
        if (store_root (store, size, stored_root) == 0)
            verify_finish (walk.verify, stored_root);
        else
            s_fail (walk.verify, VERIFY_ROOT, size, "the stored tree has no root for size %llu",
                    (unsigned long long) size);
    }
    *result = walk.verify->result;
    for (size_t i = 0; i < walk.count; i++)
        free (walk.list[i].note);
    free (walk.list);
    verify_destroy (&walk.verify);
    return result->kind == VERIFY_OK ? 0 : -1;
}
