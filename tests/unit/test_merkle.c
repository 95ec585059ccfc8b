/*  test_merkle -- unit tests for schemas/merkle.c (cmocka).

    The store-backed tree is checked against a naive recursive RFC 6962 implementation
    written here, against the published Certificate Transparency test vectors, and
    against the streaming tree; tampered proofs must all fail.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "merkle.h"

#define MAX_LEAVES   300
#define STORE_LEVELS 12
#define STORE_WIDTH  512

//  An in-memory node store: node[level][index]
typedef struct {
    merkle_hash_t node[STORE_LEVELS][STORE_WIDTH];
    bool present[STORE_LEVELS][STORE_WIDTH];
    size_t gets;
    size_t puts;
} store_t;

static int
s_get (void *ctx, unsigned level, uint64_t index, merkle_hash_t out)
{
    store_t *store = (store_t *) ctx;
    store->gets++;
    if (level >= STORE_LEVELS || index >= STORE_WIDTH || !store->present[level][index])
        return -1;
    memcpy (out, store->node[level][index], MERKLE_HASH_SIZE);
    return 0;
}

static int
s_put (void *ctx, unsigned level, uint64_t index, const merkle_hash_t hash)
{
    store_t *store = (store_t *) ctx;
    store->puts++;
    if (level >= STORE_LEVELS || index >= STORE_WIDTH)
        return -1;
    //  A node is written once: a second write means append recomputed the wrong node
    if (store->present[level][index])
        fail_msg ("node (%u, %llu) written twice", level, (unsigned long long) index);
    memcpy (store->node[level][index], hash, MERKLE_HASH_SIZE);
    store->present[level][index] = true;
    return 0;
}

static int
s_put_failing (void *ctx, unsigned level, uint64_t index, const merkle_hash_t hash)
{
    (void) ctx, (void) level, (void) index, (void) hash;
    return -1;
}

static void
s_hex (const char *hex, uint8_t *out, size_t size)
{
    assert_int_equal (strlen (hex), 2 * size);
    for (size_t i = 0; i < size; i++) {
        unsigned byte;
        assert_int_equal (sscanf (hex + 2 * i, "%2x", &byte), 1);
        out[i] = (uint8_t) byte;
    }
}

static void
s_assert_hash (const merkle_hash_t hash, const char *hex)
{
    merkle_hash_t want;
    s_hex (hex, want, MERKLE_HASH_SIZE);
    assert_memory_equal (hash, want, MERKLE_HASH_SIZE);
}

//  Test leaf i: the leaf hash of 1..3 bytes derived from i, distinct for every i
static void
s_leaf (size_t i, merkle_hash_t out)
{
    uint8_t data[3] = {(uint8_t) i, (uint8_t) (i >> 8), (uint8_t) (i * 7)};
    merkle_leaf_hash (data, 1 + i % 3, out);
}

//  ---------------------------------------------------------------------------------------
//  Naive RFC 6962 section 2.1, straight from the recursive definitions

static size_t
ref_split (size_t n)
{
    size_t k = 1;
    while (k * 2 < n)
        k *= 2;
    return k;
}

static void
ref_mth (const merkle_hash_t *leaves, size_t n, merkle_hash_t out)
{
    if (n == 0)
        merkle_empty_root (out);
    else if (n == 1)
        memcpy (out, leaves[0], MERKLE_HASH_SIZE);
    else {
        size_t k = ref_split (n);
        merkle_hash_t left, right;
        ref_mth (leaves, k, left);
        ref_mth (leaves + k, n - k, right);
        merkle_node_hash (left, right, out);
    }
}

//  PATH(m, D[n]); returns the number of hashes written to out
static size_t
ref_path (size_t m, const merkle_hash_t *leaves, size_t n, merkle_hash_t *out)
{
    if (n == 1)
        return 0;
    size_t k = ref_split (n), count;
    if (m < k) {
        count = ref_path (m, leaves, k, out);
        ref_mth (leaves + k, n - k, out[count]);
    } else {
        count = ref_path (m - k, leaves + k, n - k, out);
        ref_mth (leaves, k, out[count]);
    }
    return count + 1;
}

//  SUBPROOF(m, D[n], b)
static size_t
ref_subproof (size_t m, const merkle_hash_t *leaves, size_t n, bool b, merkle_hash_t *out)
{
    if (m == n) {
        if (b)
            return 0;
        ref_mth (leaves, m, out[0]);
        return 1;
    }
    size_t k = ref_split (n), count;
    if (m <= k) {
        count = ref_subproof (m, leaves, k, b, out);
        ref_mth (leaves + k, n - k, out[count]);
    } else {
        count = ref_subproof (m - k, leaves + k, n - k, false, out);
        ref_mth (leaves, k, out[count]);
    }
    return count + 1;
}

//  ---------------------------------------------------------------------------------------

typedef struct {
    store_t *store;
    merkle_hash_t leaves[MAX_LEAVES];
    size_t size;
} fixture_t;

//  A store and leaf list with n leaves appended through merkle_append
static fixture_t *
s_fixture (size_t n)
{
    fixture_t *self = calloc (1, sizeof (fixture_t));
    assert_non_null (self);
    self->store = calloc (1, sizeof (store_t));
    assert_non_null (self->store);
    for (size_t i = 0; i < n; i++) {
        s_leaf (i, self->leaves[i]);
        assert_int_equal (merkle_append (s_get, s_put, self->store, i, self->leaves[i]), 0);
    }
    self->size = n;
    return self;
}

static void
s_fixture_destroy (fixture_t **self_p)
{
    free ((*self_p)->store);
    free (*self_p);
    *self_p = NULL;
}

static void
test_known_hashes (void **state)
{
    (void) state;
    merkle_hash_t hash;
    merkle_empty_root (hash);
    s_assert_hash (hash, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    merkle_leaf_hash ("", 0, hash);
    s_assert_hash (hash, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
    merkle_leaf_hash (NULL, 0, hash);
    s_assert_hash (hash, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");

    //  The root of an empty store and an empty streaming tree
    store_t *store = calloc (1, sizeof (store_t));
    assert_non_null (store);
    assert_int_equal (merkle_root (s_get, store, 0, hash), 0);
    s_assert_hash (hash, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    free (store);
    merkle_tree_t *tree = merkle_tree_new ();
    assert_non_null (tree);
    assert_int_equal (merkle_tree_size (tree), 0);
    merkle_tree_root (tree, hash);
    s_assert_hash (hash, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    merkle_tree_destroy (&tree);
    assert_null (tree);
    merkle_tree_destroy (&tree);
}

//  The Certificate Transparency reference tree (transparency-dev/merkle testonly and
//  proof/verify_test.go): its leaves, every root, the node hashes and sample proofs
static const struct {
    const char *data;
    size_t size;
} s_ct_leaves[] = {
    {"", 0},
    {"\x00", 1},
    {"\x10", 1},
    {"\x20\x21", 2},
    {"\x30\x31", 2},
    {"\x40\x41\x42\x43", 4},
    {"\x50\x51\x52\x53\x54\x55\x56\x57", 8},
    {"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f", 16},
};

static const char *s_ct_roots[] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static const char *s_ct_leaf_hashes[] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
};

typedef struct {
    uint64_t a, b; // inclusion: leaf index, tree size; consistency: old, new size
    size_t count;
    const char *proof[3];
} ct_proof_t;

static const ct_proof_t s_ct_inclusion[] = {
    {0,
     8,
     3,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {5,
     8,
     3,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 3, 1, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {1,
     5,
     3,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {0, 1, 0, {NULL}},
};

static const ct_proof_t s_ct_consistency[] = {
    {1, 1, 0, {NULL}},
    {1,
     8,
     3,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6,
     8,
     3,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2,
     5,
     2,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {6,
     7,
     3,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
};

static void
test_ct_vectors (void **state)
{
    (void) state;
    store_t *store = calloc (1, sizeof (store_t));
    assert_non_null (store);
    merkle_tree_t *tree = merkle_tree_new ();
    assert_non_null (tree);
    merkle_hash_t leaves[8], roots[8], hash;
    for (size_t i = 0; i < 8; i++) {
        merkle_leaf_hash (s_ct_leaves[i].data, s_ct_leaves[i].size, leaves[i]);
        s_assert_hash (leaves[i], s_ct_leaf_hashes[i]);
        assert_int_equal (merkle_append (s_get, s_put, store, i, leaves[i]), 0);
        merkle_tree_append (tree, leaves[i]);
        assert_int_equal (merkle_root (s_get, store, i + 1, roots[i]), 0);
        s_assert_hash (roots[i], s_ct_roots[i]);
        merkle_tree_root (tree, hash);
        s_assert_hash (hash, s_ct_roots[i]);
    }
    //  The perfect subtrees the store holds are the published node hashes
    s_assert_hash (store->node[1][1],
                   "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e");
    s_assert_hash (store->node[1][2],
                   "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a");
    s_assert_hash (store->node[2][1],
                   "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4");
    assert_int_equal (store->puts, 8 + 4 + 2 + 1);

    merkle_hash_t proof[MERKLE_MAX_PROOF];
    size_t count;
    for (size_t v = 0; v < sizeof (s_ct_inclusion) / sizeof (s_ct_inclusion[0]); v++) {
        const ct_proof_t *want = &s_ct_inclusion[v];
        assert_int_equal (merkle_inclusion_proof (s_get, store, want->a, want->b, proof, &count),
                          0);
        assert_int_equal (count, want->count);
        for (size_t i = 0; i < count; i++)
            s_assert_hash (proof[i], want->proof[i]);
        assert_int_equal (merkle_verify_inclusion (leaves[want->a], want->a, want->b, proof, count,
                                                   roots[want->b - 1]),
                          0);
    }
    for (size_t v = 0; v < sizeof (s_ct_consistency) / sizeof (s_ct_consistency[0]); v++) {
        const ct_proof_t *want = &s_ct_consistency[v];
        assert_int_equal (merkle_consistency_proof (s_get, store, want->a, want->b, proof, &count),
                          0);
        assert_int_equal (count, want->count);
        for (size_t i = 0; i < count; i++)
            s_assert_hash (proof[i], want->proof[i]);
        assert_int_equal (merkle_verify_consistency (want->a, want->b, roots[want->a - 1],
                                                     roots[want->b - 1], proof, count),
                          0);
    }
    merkle_tree_destroy (&tree);
    free (store);
}

//  Every size 1..MAX_LEAVES: roots, streaming roots and every inclusion proof against
//  the naive implementation
static void
test_against_reference (void **state)
{
    (void) state;
    fixture_t *fx = s_fixture (MAX_LEAVES);
    merkle_tree_t *tree = merkle_tree_new ();
    assert_non_null (tree);
    merkle_hash_t proof[MERKLE_MAX_PROOF], want_proof[MERKLE_MAX_PROOF];
    merkle_hash_t root, want, streamed;
    for (size_t n = 1; n <= MAX_LEAVES; n++) {
        merkle_tree_append (tree, fx->leaves[n - 1]);
        assert_int_equal (merkle_tree_size (tree), n);
        ref_mth (fx->leaves, n, want);
        size_t gets = fx->store->gets;
        assert_int_equal (merkle_root (s_get, fx->store, n, root), 0);
        assert_memory_equal (root, want, MERKLE_HASH_SIZE);
        //  One get per set bit of the size
        assert_int_equal (fx->store->gets - gets, (size_t) __builtin_popcountll (n));
        merkle_tree_root (tree, streamed);
        assert_memory_equal (streamed, want, MERKLE_HASH_SIZE);

        //  Comparing every path with the O(n) reference is quadratic; a stride keeps it quick
        size_t stride = n <= 64 ? 1 : 5;
        for (size_t i = 0; i < n; i++) {
            size_t count = 0;
            assert_int_equal (merkle_inclusion_proof (s_get, fx->store, i, n, proof, &count), 0);
            assert_true (count <= 9);
            assert_int_equal (merkle_verify_inclusion (fx->leaves[i], i, n, proof, count, root), 0);
            if (i % stride == 0 || i == n - 1) {
                size_t want_count = ref_path (i, fx->leaves, n, want_proof);
                assert_int_equal (count, want_count);
                assert_memory_equal (proof, want_proof, count * MERKLE_HASH_SIZE);
            }
        }
    }
    //  Every node is written once: 2n - popcount(n) nodes in all
    assert_int_equal (fx->store->puts, 2 * MAX_LEAVES - __builtin_popcountll (MAX_LEAVES));
    merkle_tree_destroy (&tree);
    s_fixture_destroy (&fx);
}

static void
test_consistency_reference (void **state)
{
    (void) state;
    fixture_t *fx = s_fixture (70);
    merkle_hash_t roots[71], proof[MERKLE_MAX_PROOF], want_proof[MERKLE_MAX_PROOF];
    for (size_t n = 1; n <= 70; n++)
        assert_int_equal (merkle_root (s_get, fx->store, n, roots[n]), 0);
    for (size_t new_size = 1; new_size <= 70; new_size++)
        for (size_t old_size = 1; old_size <= new_size; old_size++) {
            size_t count = 99;
            assert_int_equal (
                merkle_consistency_proof (s_get, fx->store, old_size, new_size, proof, &count), 0);
            size_t want_count = ref_subproof (old_size, fx->leaves, new_size, true, want_proof);
            assert_int_equal (count, want_count);
            assert_memory_equal (proof, want_proof, count * MERKLE_HASH_SIZE);
            assert_int_equal (merkle_verify_consistency (old_size, new_size, roots[old_size],
                                                         roots[new_size], proof, count),
                              0);
            if (old_size < new_size)
                assert_int_equal (merkle_verify_consistency (old_size, new_size, roots[new_size],
                                                             roots[new_size], proof, count),
                                  -1);
        }
    s_fixture_destroy (&fx);
}

static void
test_inclusion_tampering (void **state)
{
    (void) state;
    fixture_t *fx = s_fixture (40);
    merkle_hash_t proof[MERKLE_MAX_PROOF + 1], bad[MERKLE_MAX_PROOF + 1], root, other;
    merkle_hash_t zero = {0};
    for (uint64_t n = 1; n <= 40; n++) {
        assert_int_equal (merkle_root (s_get, fx->store, n, root), 0);
        memcpy (other, root, MERKLE_HASH_SIZE);
        other[31] ^= 1;
        for (uint64_t i = 0; i < n; i++) {
            size_t count;
            const merkle_hash_t *leaf = (const merkle_hash_t *) fx->leaves[i];
            assert_int_equal (merkle_inclusion_proof (s_get, fx->store, i, n, proof, &count), 0);
            assert_int_equal (merkle_verify_inclusion (*leaf, i, n, proof, count, root), 0);

            //  Any flipped bit in any proof hash
            for (size_t p = 0; p < count; p++)
                for (unsigned bit = 0; bit < 8 * MERKLE_HASH_SIZE; bit += 37) {
                    memcpy (bad, proof, count * MERKLE_HASH_SIZE);
                    bad[p][bit / 8] ^= (uint8_t) (1u << (bit % 8));
                    assert_int_equal (merkle_verify_inclusion (*leaf, i, n, bad, count, root), -1);
                }
            //  Every other index, including out of range ones
            for (uint64_t j = 0; j < n + 2; j++)
                if (j != i)
                    assert_int_equal (merkle_verify_inclusion (*leaf, j, n, proof, count, root),
                                      -1);
            assert_int_equal (merkle_verify_inclusion (*leaf, i - 1, n, proof, count, root), -1);
            //  A size with a different tree height
            assert_int_equal (merkle_verify_inclusion (*leaf, i, n * 2, proof, count, root), -1);
            assert_int_equal (merkle_verify_inclusion (*leaf, i, n / 2, proof, count, root), -1);
            //  Wrong leaf, wrong root
            assert_int_equal (
                merkle_verify_inclusion (fx->leaves[(i + 1) % 40], i, n, proof, count, root), -1);
            assert_int_equal (merkle_verify_inclusion (*leaf, i, n, proof, count, other), -1);
            //  Truncated, extended, prefixed
            if (count > 0)
                assert_int_equal (merkle_verify_inclusion (*leaf, i, n, proof, count - 1, root),
                                  -1);
            memcpy (bad, proof, count * MERKLE_HASH_SIZE);
            memcpy (bad[count], zero, MERKLE_HASH_SIZE);
            assert_int_equal (merkle_verify_inclusion (*leaf, i, n, bad, count + 1, root), -1);
            memcpy (bad[count], root, MERKLE_HASH_SIZE);
            assert_int_equal (merkle_verify_inclusion (*leaf, i, n, bad, count + 1, root), -1);
            memcpy (bad[0], root, MERKLE_HASH_SIZE);
            memcpy (bad + 1, proof, count * MERKLE_HASH_SIZE);
            assert_int_equal (merkle_verify_inclusion (*leaf, i, n, bad, count + 1, root), -1);
            //  One more level on top reaches a root of its own, but not at this size
            merkle_hash_t above;
            memcpy (bad, proof, count * MERKLE_HASH_SIZE);
            memcpy (bad[count], zero, MERKLE_HASH_SIZE);
            merkle_node_hash (zero, root, above);
            assert_int_equal (merkle_verify_inclusion (*leaf, i, n, bad, count + 1, above), -1);
        }
    }
    s_fixture_destroy (&fx);
}

static void
test_consistency_tampering (void **state)
{
    (void) state;
    fixture_t *fx = s_fixture (40);
    merkle_hash_t roots[41], proof[MERKLE_MAX_PROOF + 1], bad[MERKLE_MAX_PROOF + 1];
    for (size_t n = 1; n <= 40; n++)
        assert_int_equal (merkle_root (s_get, fx->store, n, roots[n]), 0);
    for (uint64_t new_size = 2; new_size <= 40; new_size++)
        for (uint64_t old_size = 1; old_size < new_size; old_size++) {
            const merkle_hash_t *r1 = (const merkle_hash_t *) roots[old_size];
            const merkle_hash_t *r2 = (const merkle_hash_t *) roots[new_size];
            size_t count;
            assert_int_equal (
                merkle_consistency_proof (s_get, fx->store, old_size, new_size, proof, &count), 0);
            assert_true (count > 0);
            assert_int_equal (
                merkle_verify_consistency (old_size, new_size, *r1, *r2, proof, count), 0);

            for (size_t p = 0; p < count; p++)
                for (unsigned bit = 0; bit < 8 * MERKLE_HASH_SIZE; bit += 41) {
                    memcpy (bad, proof, count * MERKLE_HASH_SIZE);
                    bad[p][bit / 8] ^= (uint8_t) (1u << (bit % 8));
                    assert_int_equal (
                        merkle_verify_consistency (old_size, new_size, *r1, *r2, bad, count), -1);
                }
            //  Wrong sizes
            assert_int_equal (
                merkle_verify_consistency (old_size - 1, new_size, *r1, *r2, proof, count), -1);
            if (old_size + 1 < new_size)
                assert_int_equal (
                    merkle_verify_consistency (old_size + 1, new_size, *r1, *r2, proof, count), -1);
            assert_int_equal (
                merkle_verify_consistency (old_size, new_size * 2, *r1, *r2, proof, count), -1);
            assert_int_equal (
                merkle_verify_consistency (new_size, old_size, *r1, *r2, proof, count), -1);
            //  Wrong or swapped roots
            assert_int_equal (
                merkle_verify_consistency (old_size, new_size, *r2, *r1, proof, count), -1);
            assert_int_equal (
                merkle_verify_consistency (old_size, new_size, *r2, *r2, proof, count), -1);
            assert_int_equal (
                merkle_verify_consistency (old_size, new_size, *r1, *r1, proof, count), -1);
            //  Empty, truncated, extended, prefixed
            assert_int_equal (merkle_verify_consistency (old_size, new_size, *r1, *r2, proof, 0),
                              -1);
            assert_int_equal (
                merkle_verify_consistency (old_size, new_size, *r1, *r2, proof, count - 1), -1);
            memcpy (bad, proof, count * MERKLE_HASH_SIZE);
            memcpy (bad[count], *r2, MERKLE_HASH_SIZE);
            assert_int_equal (
                merkle_verify_consistency (old_size, new_size, *r1, *r2, bad, count + 1), -1);
            memcpy (bad[0], *r1, MERKLE_HASH_SIZE);
            memcpy (bad + 1, proof, count * MERKLE_HASH_SIZE);
            assert_int_equal (
                merkle_verify_consistency (old_size, new_size, *r1, *r2, bad, count + 1), -1);
            merkle_hash_t above;
            memcpy (bad, proof, count * MERKLE_HASH_SIZE);
            memcpy (bad[count], *r1, MERKLE_HASH_SIZE);
            merkle_node_hash (*r1, *r2, above);
            assert_int_equal (
                merkle_verify_consistency (old_size, new_size, *r1, above, bad, count + 1), -1);
            //  No proof at all must not be read
            assert_int_equal (merkle_verify_consistency (old_size, new_size, *r1, *r2, NULL, 0),
                              -1);
        }
    //  Equal sizes: the proof is empty and the roots equal
    assert_int_equal (merkle_verify_consistency (7, 7, roots[7], roots[7], NULL, 0), 0);
    assert_int_equal (merkle_verify_consistency (7, 7, roots[7], roots[8], NULL, 0), -1);
    assert_int_equal (merkle_verify_consistency (7, 7, roots[7], roots[7], roots, 1), -1);
    s_fixture_destroy (&fx);
}

static void
test_missing_nodes (void **state)
{
    (void) state;
    fixture_t *fx = s_fixture (13);
    merkle_hash_t root, proof[MERKLE_MAX_PROOF];
    size_t count;
    //  Leaves 8..11 form node (2, 2); size 13 needs it, size 8 does not
    fx->store->present[2][2] = false;
    assert_int_equal (merkle_root (s_get, fx->store, 13, root), -1);
    assert_int_equal (merkle_root (s_get, fx->store, 8, root), 0);
    assert_int_equal (merkle_inclusion_proof (s_get, fx->store, 12, 13, proof, &count), -1);
    assert_int_equal (count, 0);
    assert_int_equal (merkle_inclusion_proof (s_get, fx->store, 3, 13, proof, &count), -1);
    assert_int_equal (merkle_inclusion_proof (s_get, fx->store, 3, 8, proof, &count), 0);
    assert_int_equal (merkle_consistency_proof (s_get, fx->store, 8, 13, proof, &count), -1);
    assert_int_equal (merkle_consistency_proof (s_get, fx->store, 5, 8, proof, &count), 0);
    fx->store->present[2][2] = true;
    assert_int_equal (merkle_root (s_get, fx->store, 13, root), 0);

    //  Asking beyond the stored tree finds nodes missing rather than inventing them
    assert_int_equal (merkle_root (s_get, fx->store, 14, root), -1);
    assert_int_equal (merkle_inclusion_proof (s_get, fx->store, 0, 14, proof, &count), -1);
    assert_int_equal (merkle_consistency_proof (s_get, fx->store, 13, 14, proof, &count), -1);

    //  Appending leaf 13 needs leaf 12 to build node (1, 6)
    merkle_hash_t leaf;
    s_leaf (13, leaf);
    fx->store->present[0][12] = false;
    assert_int_equal (merkle_append (s_get, s_put, fx->store, 13, leaf), -1);
    assert_int_equal (merkle_append (s_get, s_put_failing, fx->store, 13, leaf), -1);
    s_fixture_destroy (&fx);
}

static void
test_bad_arguments (void **state)
{
    (void) state;
    fixture_t *fx = s_fixture (8);
    merkle_hash_t root, proof[MERKLE_MAX_PROOF + 1];
    size_t count;
    const uint64_t huge = MERKLE_MAX_SIZE + 1;
    assert_int_equal (merkle_root (NULL, fx->store, 8, root), -1);
    assert_int_equal (merkle_root (s_get, fx->store, huge, root), -1);
    assert_int_equal (merkle_root (s_get, fx->store, UINT64_MAX, root), -1);
    assert_int_equal (merkle_root (s_get, fx->store, 8, root), 0);

    assert_int_equal (merkle_append (NULL, s_put, fx->store, 8, root), -1);
    assert_int_equal (merkle_append (s_get, NULL, fx->store, 8, root), -1);
    assert_int_equal (merkle_append (s_get, s_put, fx->store, MERKLE_MAX_SIZE, root), -1);

    assert_int_equal (merkle_inclusion_proof (s_get, fx->store, 0, 0, proof, &count), -1);
    assert_int_equal (merkle_inclusion_proof (s_get, fx->store, 8, 8, proof, &count), -1);
    assert_int_equal (merkle_inclusion_proof (s_get, fx->store, 0, huge, proof, &count), -1);
    assert_int_equal (merkle_inclusion_proof (s_get, fx->store, 0, 8, NULL, &count), -1);
    assert_int_equal (merkle_inclusion_proof (s_get, fx->store, 0, 8, proof, NULL), -1);
    assert_int_equal (merkle_inclusion_proof (NULL, fx->store, 0, 8, proof, &count), -1);

    assert_int_equal (merkle_consistency_proof (s_get, fx->store, 0, 8, proof, &count), -1);
    assert_int_equal (merkle_consistency_proof (s_get, fx->store, 0, 0, proof, &count), -1);
    assert_int_equal (merkle_consistency_proof (s_get, fx->store, 5, 4, proof, &count), -1);
    assert_int_equal (merkle_consistency_proof (s_get, fx->store, 1, huge, proof, &count), -1);
    assert_int_equal (merkle_consistency_proof (s_get, fx->store, 8, 8, proof, &count), 0);
    assert_int_equal (count, 0);

    //  Verifiers: index >= size, size 0, huge sizes, too long proofs, NULL proofs
    assert_int_equal (merkle_inclusion_proof (s_get, fx->store, 3, 8, proof, &count), 0);
    assert_int_equal (merkle_verify_inclusion (fx->leaves[3], 3, 8, proof, count, root), 0);
    assert_int_equal (merkle_verify_inclusion (fx->leaves[3], 3, 8, NULL, count, root), -1);
    assert_int_equal (merkle_verify_inclusion (NULL, 3, 8, proof, count, root), -1);
    assert_int_equal (merkle_verify_inclusion (fx->leaves[3], 3, 8, proof, count, NULL), -1);
    assert_int_equal (merkle_verify_inclusion (fx->leaves[0], 0, 0, proof, 0, root), -1);
    assert_int_equal (merkle_verify_inclusion (fx->leaves[0], 8, 8, proof, count, root), -1);
    assert_int_equal (merkle_verify_inclusion (fx->leaves[0], 0, huge, proof, count, root), -1);
    assert_int_equal (
        merkle_verify_inclusion (fx->leaves[3], 3, 8, proof, MERKLE_MAX_PROOF + 1, root), -1);
    merkle_hash_t root1;
    assert_int_equal (merkle_root (s_get, fx->store, 1, root1), 0);
    assert_int_equal (merkle_verify_inclusion (fx->leaves[0], 0, 1, NULL, 0, root1), 0);

    assert_int_equal (merkle_consistency_proof (s_get, fx->store, 1, 8, proof, &count), 0);
    assert_int_equal (merkle_verify_consistency (1, 8, root1, root, proof, count), 0);
    assert_int_equal (merkle_verify_consistency (0, 8, root1, root, proof, count), -1);
    assert_int_equal (merkle_verify_consistency (0, 0, root1, root1, NULL, 0), -1);
    assert_int_equal (merkle_verify_consistency (8, 1, root, root1, proof, count), -1);
    assert_int_equal (merkle_verify_consistency (1, huge, root1, root, proof, count), -1);
    assert_int_equal (merkle_verify_consistency (1, 8, root1, root, NULL, count), -1);
    assert_int_equal (merkle_verify_consistency (1, 8, NULL, root, proof, count), -1);
    assert_int_equal (merkle_verify_consistency (1, 8, root1, NULL, proof, count), -1);
    assert_int_equal (merkle_verify_consistency (1, 8, root1, root, proof, MERKLE_MAX_PROOF + 1),
                      -1);
    s_fixture_destroy (&fx);
}

//  A tree of up to 2^63 identical leaves: every node at a level has the same hash, so
//  this oracle is a faithful store for any size. It refuses nodes beyond `limit`.
typedef struct {
    merkle_hash_t level[64];
    uint64_t limit;
    size_t gets;
} uniform_t;

static int
s_uniform_get (void *ctx, unsigned level, uint64_t index, merkle_hash_t out)
{
    uniform_t *self = (uniform_t *) ctx;
    self->gets++;
    if (level > 63 || index >= (self->limit >> level))
        return -1;
    memcpy (out, self->level[level], MERKLE_HASH_SIZE);
    return 0;
}

static void
test_huge_trees (void **state)
{
    (void) state;
    uniform_t oracle = {.limit = MERKLE_MAX_SIZE};
    merkle_leaf_hash ("x", 1, oracle.level[0]);
    for (unsigned l = 1; l < 64; l++)
        merkle_node_hash (oracle.level[l - 1], oracle.level[l - 1], oracle.level[l]);

    //  The streaming tree agrees on small sizes
    merkle_tree_t *tree = merkle_tree_new ();
    assert_non_null (tree);
    merkle_hash_t streamed, root;
    for (uint64_t n = 1; n <= 100; n++) {
        merkle_tree_append (tree, oracle.level[0]);
        merkle_tree_root (tree, streamed);
        assert_int_equal (merkle_root (s_uniform_get, &oracle, n, root), 0);
        assert_memory_equal (root, streamed, MERKLE_HASH_SIZE);
    }
    merkle_tree_destroy (&tree);

    const uint64_t top = MERKLE_MAX_SIZE;
    const uint64_t sizes[] = {top, top - 1, top / 2 + 1, 3 * (top / 4) + 5, top / 2 - 1};
    merkle_hash_t proof[MERKLE_MAX_PROOF], old_root;
    for (size_t s = 0; s < sizeof (sizes) / sizeof (sizes[0]); s++) {
        uint64_t n = sizes[s];
        oracle.limit = n;
        assert_int_equal (merkle_root (s_uniform_get, &oracle, n, root), 0);
        const uint64_t indices[] = {0, 1, n / 2, n - 2, n - 1};
        for (size_t i = 0; i < sizeof (indices) / sizeof (indices[0]); i++) {
            size_t count;
            oracle.gets = 0;
            assert_int_equal (
                merkle_inclusion_proof (s_uniform_get, &oracle, indices[i], n, proof, &count), 0);
            assert_true (count <= 63);
            //  O(log n) store reads
            assert_true (oracle.gets <= 2 * 64);
            assert_int_equal (
                merkle_verify_inclusion (oracle.level[0], indices[i], n, proof, count, root), 0);
        }
        const uint64_t olds[] = {1, 2, top / 4, n / 2 + 1, n - 1, n};
        for (size_t o = 0; o < sizeof (olds) / sizeof (olds[0]); o++) {
            size_t count;
            assert_int_equal (merkle_root (s_uniform_get, &oracle, olds[o], old_root), 0);
            assert_int_equal (
                merkle_consistency_proof (s_uniform_get, &oracle, olds[o], n, proof, &count), 0);
            assert_true (count <= MERKLE_MAX_PROOF);
            assert_int_equal (merkle_verify_consistency (olds[o], n, old_root, root, proof, count),
                              0);
        }
    }
    //  The longest consistency proof there is fills MERKLE_MAX_PROOF exactly
    size_t count;
    oracle.limit = top;
    assert_int_equal (merkle_root (s_uniform_get, &oracle, top, root), 0);
    assert_int_equal (merkle_root (s_uniform_get, &oracle, top - 1, old_root), 0);
    assert_int_equal (
        merkle_consistency_proof (s_uniform_get, &oracle, top - 1, top, proof, &count), 0);
    assert_int_equal (count, MERKLE_MAX_PROOF);
    assert_int_equal (merkle_verify_consistency (top - 1, top, old_root, root, proof, count), 0);
    assert_int_equal (merkle_inclusion_proof (s_uniform_get, &oracle, top - 1, top, proof, &count),
                      0);
    assert_int_equal (count, 63);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_known_hashes),        cmocka_unit_test (test_ct_vectors),
        cmocka_unit_test (test_against_reference),   cmocka_unit_test (test_consistency_reference),
        cmocka_unit_test (test_inclusion_tampering), cmocka_unit_test (test_consistency_tampering),
        cmocka_unit_test (test_missing_nodes),       cmocka_unit_test (test_bad_arguments),
        cmocka_unit_test (test_huge_trees),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
