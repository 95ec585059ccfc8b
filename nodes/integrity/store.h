/*  store -- one replica's copy of the integrity log, in one LMDB file.

    Named databases (all keys big-endian so that LMDB's byte order is
    numeric order):
      events       seq -> leaf (event.h)
      merkle       level(1) index(8) -> hash of that perfect subtree
      by_agent     agent 0x00 seq -> ""
      by_type      type(1) seq -> ""
      by_time      ts(8, offset binary) seq -> ""
      checkpoints  tree size -> signed note (C2SP tlog-checkpoint)
      dedup        appender 0x00 client_id -> seq
      meta         "size", "mark" (last applied Raft batch: term, counter)

    Writes happen in one transaction per Raft entry, on the replica's loop
    thread (store_begin .. store_commit). Reads open their own read-only
    transaction and may run on any thread (MDB_NOTLS). The file is written
    without fsync: the Raft log is the durable copy, the store is replayed
    from it (batches carry a mark, so a replayed batch is skipped).
*/
#ifndef LH_STORE_H_INCLUDED
#define LH_STORE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "merkle.h"

typedef struct _store_t store_t;

typedef struct {
    uint64_t term;
    uint64_t counter;
} store_mark_t;

//  Opens (creating unless readonly) the store file at path. NULL with err set.
store_t *store_open (const char *path, size_t map_size, bool readonly, char *err, size_t err_size);
void store_destroy (store_t **self_p);
const char *store_path (const store_t *self);

//  Committed tree size and last applied mark.
uint64_t store_size (store_t *self);
store_mark_t store_mark (store_t *self);

//  --- Writing (loop thread only). Every call returns 0, or an MDB error
//  code (ENOSPC, MDB_MAP_FULL, ...) after which the caller must store_abort.
int store_begin (store_t *self);
//  Seq of an earlier event by the same appender with this client id, if any.
bool store_dedup_find (store_t *self, const char *by, const char *client_id, uint64_t *seq);
//  Appends a leaf as event number store_size()-in-this-txn; ev gives the
//  index keys. *seq gets its number.
int store_append (store_t *self, const void *leaf, size_t size, const event_t *ev, uint64_t *seq);
//  Tree size, root and the latest event's time inside the open transaction.
//  Times never go back: store_append refuses an event older than the last.
uint64_t store_txn_size (store_t *self);
int64_t store_txn_last_ts (store_t *self);
int store_txn_root (store_t *self, merkle_hash_t root);
int store_put_checkpoint (store_t *self, uint64_t size, const char *note);
int store_commit (store_t *self, store_mark_t mark);
void store_abort (store_t *self);

//  Replaces the checkpoint notes for sizes that have one (cosignatures),
//  in one transaction. Loop thread only, outside store_begin..store_commit.
int store_update_checkpoints (store_t *self, const uint64_t *sizes, char *const *notes, size_t n);

//  --- Reading (any thread). Results are malloc'd copies the caller frees.
int store_get (store_t *self, uint64_t seq, void **leaf, size_t *size);
//  Level-0 hash stored for seq (what the tree was built from).
int store_leaf_hash (store_t *self, uint64_t seq, merkle_hash_t out);
int store_root (store_t *self, uint64_t size, merkle_hash_t out);
//  Checkpoint at exactly size, or the latest one when size is 0.
int store_checkpoint (store_t *self, uint64_t size, char **note, uint64_t *at_size);
int store_inclusion (store_t *self, uint64_t seq, uint64_t size,
                     merkle_hash_t proof[MERKLE_MAX_PROOF], size_t *count);
int store_consistency (store_t *self, uint64_t old_size, uint64_t new_size,
                       merkle_hash_t proof[MERKLE_MAX_PROOF], size_t *count);

//  Visits leaves in seq order; the callback returns false to stop.
typedef bool (store_visit_fn) (void *arg, uint64_t seq, const void *leaf, size_t size);

typedef struct {
    const char *agent; //  NULL: any
    int type;          //  -1: any
    int64_t since;     //  ts >= since (0: any)
    int64_t until;     //  ts < until (0: any)
    uint64_t after;    //  seq > after; 0 with from_start
    bool from_start;
} store_filter_t;

//  Leaves matching filter, in seq order, at most limit of them.
int store_query (store_t *self, const store_filter_t *filter, size_t limit, store_visit_fn *visit,
                 void *arg);

//  Walks, in one read transaction (one consistent state), every checkpoint
//  in size order and then every leaf in seq order with the level-0 hash the
//  tree holds for it (zeros when it holds none). Either visitor may be
//  NULL; one returning false ends the walk.
typedef bool (store_checkpoint_fn) (void *arg, uint64_t size, const char *note);
typedef bool (store_leaf_fn) (void *arg, uint64_t seq, const void *leaf, size_t size,
                              const merkle_hash_t stored);
int store_walk (store_t *self, store_checkpoint_fn *checkpoint, store_leaf_fn *leaf, void *arg);
//  Checks that every stored interior node is the hash of its two stored
//  children. 0, or -1 with the first bad node's level and index.
int store_check_nodes (store_t *self, unsigned *level, uint64_t *index);

//  A consistent compact copy of the whole store into a buffer from alloc
//  (Raft snapshots: raft_malloc, so that no second copy is needed), and the
//  reverse. On error *data may hold a buffer the caller frees.
int store_snapshot (store_t *self, void *(*alloc) (size_t), void **data, size_t *size);
int store_restore (store_t *self, const void *data, size_t size, char *err, size_t err_size);
//  Flushes written pages to disk (any thread).
int store_sync (store_t *self);

#endif
