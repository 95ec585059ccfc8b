/*  lh_idhash -- integer-keyed zhashx. See lh_idhash.h. */
#include "lh_idhash.h"

static size_t
s_hash (const void *key)
{
    //  splitmix64 finaliser: sequential ids spread over all buckets
    uint64_t x = (uint64_t) (uintptr_t) key;
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return (size_t) x;
}

static int
s_compare (const void *a, const void *b)
{
    return (uintptr_t) a < (uintptr_t) b ? -1 : (uintptr_t) a > (uintptr_t) b;
}

zhashx_t *
lh_idhash_new (void)
{
    zhashx_t *hash = zhashx_new ();
    zhashx_set_key_hasher (hash, s_hash);
    zhashx_set_key_comparator (hash, s_compare);
    zhashx_set_key_duplicator (hash, NULL);
    zhashx_set_key_destructor (hash, NULL);
    return hash;
}
