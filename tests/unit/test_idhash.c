/*  test_idhash -- unit tests for lib/lh_idhash.c (cmocka). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lh_idhash.h"

static void
test_insert_lookup_delete (void **state)
{
    (void) state;
    zhashx_t *hash = lh_idhash_new ();
    assert_non_null (hash);
    static int values[3];
    //  Sequential ids (what the client library hands out) and extreme ones
    const uint64_t n = 20000;
    for (uint64_t id = 1; id <= n; id++)
        assert_int_equal (zhashx_insert (hash, LH_IDKEY (id), &values[id % 3]), 0);
    uint64_t big[] = {UINT64_MAX, (uint64_t) 1 << 63, ((uint64_t) 1 << 32) + 1};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal (zhashx_insert (hash, LH_IDKEY (big[i]), &values[i]), 0);
    assert_int_equal (zhashx_size (hash), n + 3);

    //  A second insert of a present id is refused
    assert_int_equal (zhashx_insert (hash, LH_IDKEY (7), &values[0]), -1);

    for (uint64_t id = 1; id <= n; id++)
        assert_ptr_equal (zhashx_lookup (hash, LH_IDKEY (id)), &values[id % 3]);
    for (size_t i = 0; i < 3; i++)
        assert_ptr_equal (zhashx_lookup (hash, LH_IDKEY (big[i])), &values[i]);
    assert_null (zhashx_lookup (hash, LH_IDKEY (n + 1)));
    assert_null (zhashx_lookup (hash, LH_IDKEY ((uint64_t) 1 << 32)));

    //  Delete the even ids: the odd ones stay
    for (uint64_t id = 2; id <= n; id += 2)
        zhashx_delete (hash, LH_IDKEY (id));
    assert_int_equal (zhashx_size (hash), n / 2 + 3);
    for (uint64_t id = 1; id <= n; id++) {
        void *item = zhashx_lookup (hash, LH_IDKEY (id));
        if (id % 2)
            assert_ptr_equal (item, &values[id % 3]);
        else
            assert_null (item);
    }
    //  Keys come back as the ids themselves
    uint64_t sum = 0;
    for (void *item = zhashx_first (hash); item; item = zhashx_next (hash)) {
        uint64_t id = (uint64_t) (uintptr_t) zhashx_cursor (hash);
        if (id <= n)
            sum += id;
    }
    assert_int_equal (sum, (n / 2) * (n / 2)); //  1 + 3 + ... + (n - 1)
    zhashx_destroy (&hash);
    assert_null (hash);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_insert_lookup_delete),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
