/*  merkle -- the RFC 6962 Merkle tree over SHA-256 that makes the event log tamper-evident.

    Leaves are hashed SHA-256(0x00 || data), interior nodes SHA-256(0x01 || left || right),
    and a tree whose size is not a power of two is split at the largest power of two below
    its size, exactly as RFC 6962 section 2.1 says, so that roots and proofs interoperate
    with Certificate Transparency and C2SP tlog tooling.

    The log keeps its hashes in a store of perfect subtrees reached through two callbacks,
    so that the same code serves LMDB and in-memory trees. Node (level, index) is the root
    of the perfect subtree over leaves [index << level, (index + 1) << level). Every stored
    tree is at most 2^63 leaves, which bounds every proof by MERKLE_MAX_PROOF hashes.

    merkle_tree_t needs no store: it keeps only the O(log n) frontier, for verifying an
    exported log offline.
*/
#ifndef LH_MERKLE_H_INCLUDED
#define LH_MERKLE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#define MERKLE_HASH_SIZE 32
#define MERKLE_MAX_PROOF 64 // max hashes in any proof for trees up to 2^63 leaves
#define MERKLE_MAX_SIZE  (UINT64_C (1) << 63)

typedef uint8_t merkle_hash_t[MERKLE_HASH_SIZE];

//  SHA-256(0x00 || data)
void merkle_leaf_hash (const void *data, size_t size, merkle_hash_t out);
//  SHA-256(0x01 || left || right); out may be left or right
void merkle_node_hash (const merkle_hash_t left, const merkle_hash_t right, merkle_hash_t out);
//  SHA-256(""), the root of the empty tree
void merkle_empty_root (merkle_hash_t out);

//  A store of complete-subtree hashes (see above). Callbacks return 0, or -1 if the node
//  is missing or the store failed.
typedef int (merkle_get_fn) (void *ctx, unsigned level, uint64_t index, merkle_hash_t out);
typedef int (merkle_put_fn) (void *ctx, unsigned level, uint64_t index, const merkle_hash_t hash);

//  Appends leaf number `size` (the tree had `size` leaves before): puts (0, size) and
//  every perfect subtree this leaf completes (O(log n) gets and puts). Returns 0 or -1.
int merkle_append (merkle_get_fn *get, merkle_put_fn *put, void *ctx, uint64_t size,
                   const merkle_hash_t leaf);
//  RFC 6962 MTH of the first `size` leaves using only stored perfect subtrees (O(log n)
//  gets). Size 0 gives the empty root. Returns 0 or -1.
int merkle_root (merkle_get_fn *get, void *ctx, uint64_t size, merkle_hash_t out);
//  RFC 6962 section 2.1.1 audit path for leaf `index` in the tree of `size` leaves, the
//  leaf's sibling first; *count set. Returns 0, or -1 (index >= size, missing node, ...).
int merkle_inclusion_proof (merkle_get_fn *get, void *ctx, uint64_t index, uint64_t size,
                            merkle_hash_t proof[MERKLE_MAX_PROOF], size_t *count);
//  RFC 6962 section 2.1.2 consistency proof from old_size to new_size
//  (0 < old_size <= new_size; equal sizes give an empty proof). Returns 0 or -1.
int merkle_consistency_proof (merkle_get_fn *get, void *ctx, uint64_t old_size, uint64_t new_size,
                              merkle_hash_t proof[MERKLE_MAX_PROOF], size_t *count);

//  Pure verifiers (RFC 9162 sections 2.1.3.2 and 2.1.4.2): 0 when the proof is valid,
//  -1 otherwise. A consistency proof between equal sizes is valid when it is empty and
//  the roots are equal; old_size 0 is refused (there is nothing to be consistent with).
int merkle_verify_inclusion (const merkle_hash_t leaf, uint64_t index, uint64_t size,
                             const merkle_hash_t *proof, size_t count, const merkle_hash_t root);
int merkle_verify_consistency (uint64_t old_size, uint64_t new_size, const merkle_hash_t old_root,
                               const merkle_hash_t new_root, const merkle_hash_t *proof,
                               size_t count);

//  A streaming tree for offline verification: keeps only the O(log n) frontier.
typedef struct _merkle_tree_t merkle_tree_t;

//  NULL when out of memory
merkle_tree_t *merkle_tree_new (void);
void merkle_tree_destroy (merkle_tree_t **self_p);
void merkle_tree_append (merkle_tree_t *self, const merkle_hash_t leaf);
uint64_t merkle_tree_size (merkle_tree_t *self);
void merkle_tree_root (merkle_tree_t *self, merkle_hash_t out);

#endif
