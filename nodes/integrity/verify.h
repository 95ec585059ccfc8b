/*  verify -- checks a log from its leaves and signed checkpoints alone.

    Feed leaves in sequence order and, whenever the tree has exactly a
    checkpoint's size, that checkpoint. Each leaf is re-hashed (and compared
    with the hash a store kept for it, if given), the tree is rebuilt from
    the leaves, and each checkpoint's root must equal the rebuilt root and
    carry a valid signature by one of the given keys, the latest one at
    least `quorum` of them (its root commits to every earlier event; older
    checkpoints may predate a peer's first cosignature), and the latest must
    cover every event. A signature line by a known key that does not verify
    fails, whatever the quorum. verify_store also checks every stored
    interior tree node against its children. The first
    violation is kept; later input is ignored.

    Used by each replica's integrity monitor (on its own store) and by
    `lh verify` (on a copied replica directory or an exported log).
*/
#ifndef LH_VERIFY_H_INCLUDED
#define LH_VERIFY_H_INCLUDED

#include "merkle.h"
#include "note.h"
#include "store.h"

typedef enum {
    VERIFY_OK,
    VERIFY_LEAF_HASH,  //  a leaf does not hash to what the tree holds for it
    VERIFY_ROOT,       //  the rebuilt root differs from a checkpoint's or the stored tree's
    VERIFY_SIGNATURE,  //  a checkpoint signature by a known key does not verify
    VERIFY_QUORUM,     //  too few valid signatures, or events under no checkpoint
    VERIFY_GAP,        //  a sequence number is missing or out of order
    VERIFY_MALFORMED,  //  a leaf or checkpoint cannot be parsed
    VERIFY_DIVERGENCE, //  two replicas signed different roots for one size
    VERIFY_KIND_COUNT
} verify_kind_t;

typedef struct {
    verify_kind_t kind;
    uint64_t seq; //  the first bad or missing event; a checkpoint's tree size for checkpoint faults
    char detail[256];
    uint64_t leaves;      //  leaves checked
    uint64_t checkpoints; //  checkpoints checked
} verify_result_t;

//  Wire and log name: "leaf_hash_mismatch", "root_mismatch", ...
const char *verify_kind_name (verify_kind_t kind);

typedef struct _verify_t verify_t;

//  keys are borrowed and must outlive the verifier; origin NULL accepts any.
verify_t *verify_new (note_key_t *const *keys, size_t nkeys, size_t quorum, const char *origin);
void verify_destroy (verify_t **self_p);
//  stored_hash: what a store kept for this leaf, or NULL. Returns 0, or -1
//  once a violation has been found.
int verify_leaf (verify_t *self, uint64_t seq, const void *leaf, size_t size,
                 const merkle_hash_t stored_hash);
int verify_checkpoint (verify_t *self, uint64_t size, const char *note);
//  Final check against the root the store's own tree gives (NULL: skip).
int verify_finish (verify_t *self, const merkle_hash_t stored_root);
const verify_result_t *verify_result (verify_t *self);

//  Verifies a whole store: every leaf, every checkpoint, the stored tree.
//  Returns 0 when clean, -1 with *result naming the first violation.
int verify_store (store_t *store, note_key_t *const *keys, size_t nkeys, size_t quorum,
                  const char *origin, verify_result_t *result);

#endif
