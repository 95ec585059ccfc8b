/*  merkle -- RFC 6962 Merkle tree hashing, proofs and verification. See merkle.h.

    Every range of leaves the RFC recursion visits starts at a multiple of the largest
    power of two not above its length, so its MTH is the right fold of the perfect
    subtrees given by the bits of its length, high to low. s_range_hash relies on that
    and refuses a misaligned range rather than fetching the wrong nodes.
*/
#include "merkle.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct _merkle_tree_t {
    uint64_t size;
    //  frontier[level] is the perfect subtree of 2^level leaves for each set bit of size
    merkle_hash_t frontier[64];
};

void
merkle_leaf_hash (const void *data, size_t size, merkle_hash_t out)
{
    static const unsigned char prefix = 0x00;
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init (&state);
    crypto_hash_sha256_update (&state, &prefix, 1);
    if (size)
        crypto_hash_sha256_update (&state, data, size);
    crypto_hash_sha256_final (&state, out);
}

void
merkle_node_hash (const merkle_hash_t left, const merkle_hash_t right, merkle_hash_t out)
{
    //  Copied first so that out may alias either input
    unsigned char buf[1 + 2 * MERKLE_HASH_SIZE];
    buf[0] = 0x01;
    memcpy (buf + 1, left, MERKLE_HASH_SIZE);
    memcpy (buf + 1 + MERKLE_HASH_SIZE, right, MERKLE_HASH_SIZE);
    crypto_hash_sha256 (out, buf, sizeof (buf));
}

void
merkle_empty_root (merkle_hash_t out)
{
    crypto_hash_sha256 (out, NULL, 0);
}

static bool
s_equal (const merkle_hash_t a, const merkle_hash_t b)
{
    return memcmp (a, b, MERKLE_HASH_SIZE) == 0;
}

//  Largest power of two strictly below n, n >= 2: the RFC 6962 split point
static uint64_t
s_split (uint64_t n)
{
    return UINT64_C (1) << (63 - __builtin_clzll (n - 1));
}

//  MTH of leaves [start, start + n), n >= 1, from stored perfect subtrees
static int
s_range_hash (merkle_get_fn *get, void *ctx, uint64_t start, uint64_t n, merkle_hash_t out)
{
    merkle_hash_t pieces[64];
    size_t count = 0;
    uint64_t at = start;
    for (int level = 63; level >= 0; level--) {
        uint64_t width = UINT64_C (1) << level;
        if (!(n & width))
            continue;
        if (at & (width - 1))
            return -1;
        if (get (ctx, (unsigned) level, at >> level, pieces[count]) != 0)
            return -1;
        count++;
        at += width;
    }
    if (count == 0)
        return -1;
    memcpy (out, pieces[count - 1], MERKLE_HASH_SIZE);
    for (size_t i = count - 1; i-- > 0;)
        merkle_node_hash (pieces[i], out, out);
    return 0;
}

//  Proofs are found top-down but sent bottom-up
static void
s_reverse (merkle_hash_t *proof, size_t count)
{
    for (size_t i = 0; i < count / 2; i++) {
        merkle_hash_t tmp;
        memcpy (tmp, proof[i], MERKLE_HASH_SIZE);
        memcpy (proof[i], proof[count - 1 - i], MERKLE_HASH_SIZE);
        memcpy (proof[count - 1 - i], tmp, MERKLE_HASH_SIZE);
    }
}

int
merkle_append (merkle_get_fn *get, merkle_put_fn *put, void *ctx, uint64_t size,
               const merkle_hash_t leaf)
{
    if (!get || !put || !leaf || size >= MERKLE_MAX_SIZE)
        return -1;
    merkle_hash_t hash;
    memcpy (hash, leaf, MERKLE_HASH_SIZE);
    if (put (ctx, 0, size, hash) != 0)
        return -1;
    //  Each odd index at a level is a right child whose parent is now complete
    uint64_t index = size;
    for (unsigned level = 0; index & 1; level++, index >>= 1) {
        merkle_hash_t left;
        if (get (ctx, level, index - 1, left) != 0)
            return -1;
        merkle_node_hash (left, hash, hash);
        if (put (ctx, level + 1, index >> 1, hash) != 0)
            return -1;
    }
    return 0;
}

int
merkle_root (merkle_get_fn *get, void *ctx, uint64_t size, merkle_hash_t out)
{
    if (!get || !out || size > MERKLE_MAX_SIZE)
        return -1;
    if (size == 0) {
        merkle_empty_root (out);
        return 0;
    }
    return s_range_hash (get, ctx, 0, size, out);
}

int
merkle_inclusion_proof (merkle_get_fn *get, void *ctx, uint64_t index, uint64_t size,
                        merkle_hash_t proof[MERKLE_MAX_PROOF], size_t *count)
{
    if (count)
        *count = 0;
    if (!get || !proof || !count || index >= size || size > MERKLE_MAX_SIZE)
        return -1;
    uint64_t start = 0, n = size, m = index;
    size_t depth = 0;
    while (n > 1) {
        if (depth == MERKLE_MAX_PROOF)
            return -1;
        uint64_t k = s_split (n);
        if (m < k) {
            if (s_range_hash (get, ctx, start + k, n - k, proof[depth]) != 0)
                return -1;
            n = k;
        } else {
            if (s_range_hash (get, ctx, start, k, proof[depth]) != 0)
                return -1;
            start += k;
            m -= k;
            n -= k;
        }
        depth++;
    }
    s_reverse (proof, depth);
    *count = depth;
    return 0;
}

int
merkle_consistency_proof (merkle_get_fn *get, void *ctx, uint64_t old_size, uint64_t new_size,
                          merkle_hash_t proof[MERKLE_MAX_PROOF], size_t *count)
{
    if (count)
        *count = 0;
    if (!get || !proof || !count || old_size == 0 || old_size > new_size ||
        new_size > MERKLE_MAX_SIZE)
        return -1;
    //  SUBPROOF(m, D[start:start+n], whole) of RFC 6962 section 2.1.2, unrolled
    uint64_t start = 0, n = new_size, m = old_size;
    bool whole = true;
    size_t depth = 0;
    while (m < n) {
        if (depth == MERKLE_MAX_PROOF)
            return -1;
        uint64_t k = s_split (n);
        if (m <= k) {
            if (s_range_hash (get, ctx, start + k, n - k, proof[depth]) != 0)
                return -1;
            n = k;
        } else {
            if (s_range_hash (get, ctx, start, k, proof[depth]) != 0)
                return -1;
            start += k;
            m -= k;
            n -= k;
            whole = false;
        }
        depth++;
    }
    //  The verifier knows the old root only when the old tree is this very subtree
    if (!whole) {
        if (depth == MERKLE_MAX_PROOF)
            return -1;
        if (s_range_hash (get, ctx, start, m, proof[depth]) != 0)
            return -1;
        depth++;
    }
    s_reverse (proof, depth);
    *count = depth;
    return 0;
}

int
merkle_verify_inclusion (const merkle_hash_t leaf, uint64_t index, uint64_t size,
                         const merkle_hash_t *proof, size_t count, const merkle_hash_t root)
{
    if (!leaf || !root || (count && !proof) || count > MERKLE_MAX_PROOF || index >= size ||
        size > MERKLE_MAX_SIZE)
        return -1;
    uint64_t fn = index, sn = size - 1;
    merkle_hash_t r;
    memcpy (r, leaf, MERKLE_HASH_SIZE);
    for (size_t i = 0; i < count; i++) {
        if (sn == 0)
            return -1;
        if ((fn & 1) || fn == sn) {
            merkle_node_hash (proof[i], r, r);
            //  Levels where this node has no right sibling add nothing
            while (fn != 0 && !(fn & 1)) {
                fn >>= 1;
                sn >>= 1;
            }
        } else
            merkle_node_hash (r, proof[i], r);
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && s_equal (r, root) ? 0 : -1;
}

int
merkle_verify_consistency (uint64_t old_size, uint64_t new_size, const merkle_hash_t old_root,
                           const merkle_hash_t new_root, const merkle_hash_t *proof, size_t count)
{
    if (!old_root || !new_root || (count && !proof) || count > MERKLE_MAX_PROOF || old_size == 0 ||
        old_size > new_size || new_size > MERKLE_MAX_SIZE)
        return -1;
    if (old_size == new_size)
        return count == 0 && s_equal (old_root, new_root) ? 0 : -1;
    if (count == 0)
        return -1;

    //  A power-of-two old tree is a node of the new one, so the proof leaves it out
    bool implicit = (old_size & (old_size - 1)) == 0;
    size_t total = count + (implicit ? 1 : 0);
#define PATH(i) (implicit ? ((i) == 0 ? old_root : proof[(i) -1]) : proof[i])

    uint64_t fn = old_size - 1, sn = new_size - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    merkle_hash_t fr, sr;
    memcpy (fr, PATH (0), MERKLE_HASH_SIZE);
    memcpy (sr, PATH (0), MERKLE_HASH_SIZE);
    for (size_t i = 1; i < total; i++) {
        if (sn == 0)
            return -1;
        if ((fn & 1) || fn == sn) {
            merkle_node_hash (PATH (i), fr, fr);
            merkle_node_hash (PATH (i), sr, sr);
            while (fn != 0 && !(fn & 1)) {
                fn >>= 1;
                sn >>= 1;
            }
        } else
            merkle_node_hash (sr, PATH (i), sr);
        fn >>= 1;
        sn >>= 1;
    }
#undef PATH
    return sn == 0 && s_equal (fr, old_root) && s_equal (sr, new_root) ? 0 : -1;
}

merkle_tree_t *
merkle_tree_new (void)
{
    return calloc (1, sizeof (merkle_tree_t));
}

void
merkle_tree_destroy (merkle_tree_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

void
merkle_tree_append (merkle_tree_t *self, const merkle_hash_t leaf)
{
    //  A full uint64 would need a 65th level; 2^64 appends never happen
    if (!self || !leaf || self->size == UINT64_MAX)
        return;
    merkle_hash_t carry;
    memcpy (carry, leaf, MERKLE_HASH_SIZE);
    unsigned level = 0;
    for (uint64_t size = self->size; size & 1; size >>= 1, level++)
        merkle_node_hash (self->frontier[level], carry, carry);
    memcpy (self->frontier[level], carry, MERKLE_HASH_SIZE);
    self->size++;
}

uint64_t
merkle_tree_size (merkle_tree_t *self)
{
    return self ? self->size : 0;
}

void
merkle_tree_root (merkle_tree_t *self, merkle_hash_t out)
{
    if (!self || self->size == 0) {
        merkle_empty_root (out);
        return;
    }
    bool first = true;
    for (unsigned level = 0; level < 64; level++) {
        if (!(self->size & (UINT64_C (1) << level)))
            continue;
        if (first)
            memcpy (out, self->frontier[level], MERKLE_HASH_SIZE);
        else
            merkle_node_hash (self->frontier[level], out, out);
        first = false;
    }
}
