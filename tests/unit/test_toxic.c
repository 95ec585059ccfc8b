/*  Unit tests: the toxics' arithmetic (chaos/toxic.c): parsing, and when
    each piece of a read is delivered under each toxic. */
#include "toxic.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

static toxic_t
s_toxic (const char *name, const char *spec)
{
    char copy[256], *argv[16], *save = NULL, err[256];
    snprintf (copy, sizeof (copy), "%s", spec);
    int argc = 0;
    for (char *w = strtok_r (copy, " ", &save); w && argc < 16; w = strtok_r (NULL, " ", &save))
        argv[argc++] = w;
    toxic_t toxic;
    if (toxic_parse (&toxic, name, argc, argv, err, sizeof (err)) != 0)
        fail_msg ("'%s' refused: %s", spec, err);
    return toxic;
}

static void
s_refused (const char *name, const char *spec, const char *why)
{
    char copy[256], *argv[16], *save = NULL, err[256] = "";
    snprintf (copy, sizeof (copy), "%s", spec);
    int argc = 0;
    for (char *w = strtok_r (copy, " ", &save); w && argc < 16; w = strtok_r (NULL, " ", &save))
        argv[argc++] = w;
    toxic_t toxic;
    assert_int_equal (toxic_parse (&toxic, name, argc, argv, err, sizeof (err)), -1);
    if (!strstr (err, why))
        fail_msg ("'%s': expected '%s' in '%s'", spec, why, err);
}

static void
test_parse (void **state)
{
    (void) state;
    toxic_t t = s_toxic ("lat", "latency both ms=200 jitter=50");
    assert_int_equal (t.kind, TOXIC_LATENCY);
    assert_int_equal (t.dir, TOXIC_BOTH);
    assert_int_equal (t.ms, 200);
    assert_int_equal (t.jitter, 50);
    t = s_toxic ("r", "reset up");
    assert_int_equal (t.dir, TOXIC_BOTH); //  a reset ends both ways
    s_refused ("x", "latency", "KIND DIRECTION");
    s_refused ("x", "teleport up", "unknown toxic");
    s_refused ("x", "latency sideways ms=1", "direction");
    s_refused ("x", "latency up ms=-1", "bad parameter");
    s_refused ("x", "latency up ms=10 jitter=20", "jitter");
    s_refused ("x", "latency up colour=red", "bad parameter");
    s_refused ("x", "latency up ms=99999999999", "bad parameter");
    s_refused ("x", "bandwidth up", "rate");
    s_refused ("x", "slicer down", "bytes");
    s_refused ("", "latency up ms=1", "name");
    s_refused ("a b", "latency up ms=1", "name");
    s_refused ("0123456789012345678901234567890123", "latency up ms=1", "name");
}

static void
test_latency_keeps_order (void **state)
{
    (void) state;
    toxic_t t[] = {s_toxic ("lat", "latency up ms=100 jitter=40")};
    toxic_state_t st = {.rng = 7};
    toxic_chunk_t out[4];
    bool close_after;
    int64_t last = 0;
    for (int i = 0; i < 200; i++) {
        assert_int_equal (toxic_plan (t, 1, TOXIC_UP, &st, 1000 + i, 10, out, 4, &close_after), 1);
        assert_false (close_after);
        assert_true (out[0].at >= 1000 + i + 60);
        assert_true (out[0].at <= 1000 + i + 140);
        assert_true (out[0].at >= last); //  never overtakes what was read before
        last = out[0].at;
    }
    //  The other direction is untouched
    assert_int_equal (toxic_plan (t, 1, TOXIC_DOWN, &st, 5000, 10, out, 4, &close_after), 1);
    assert_true (out[0].at == 5000 || out[0].at == last);
}

static void
test_bandwidth (void **state)
{
    (void) state;
    toxic_t t[] = {s_toxic ("bw", "bandwidth down rate=1000")};
    toxic_state_t st = {.rng = 1};
    toxic_chunk_t out[4];
    bool close_after;
    //  Ten reads of 100 bytes at once: one second for the thousand bytes
    for (int i = 0; i < 10; i++) {
        assert_int_equal (toxic_plan (t, 1, TOXIC_DOWN, &st, 0, 100, out, 4, &close_after), 1);
        assert_int_equal (out[0].at, i * 100);
    }
    assert_int_equal (toxic_read_max (t, 1, TOXIC_DOWN, 65536, 256), 100);
    assert_int_equal (toxic_read_max (t, 1, TOXIC_UP, 65536, 256), 65536);
}

static void
test_slicer_blackhole_limit (void **state)
{
    (void) state;
    toxic_t sl[] = {s_toxic ("sl", "slicer both bytes=3 delay=5")};
    toxic_state_t st = {.rng = 1};
    toxic_chunk_t out[8];
    bool close_after;
    size_t n = toxic_plan (sl, 1, TOXIC_UP, &st, 100, 10, out, 8, &close_after);
    assert_int_equal (n, 4);
    size_t sizes[] = {3, 3, 3, 1};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal (out[i].size, sizes[i]);
        assert_int_equal (out[i].offset, i * 3);
        assert_int_equal (out[i].at, 100 + (int64_t) i * 5);
    }
    //  More pieces than room: the last one takes the rest
    n = toxic_plan (sl, 1, TOXIC_UP, &st, 200, 30, out, 4, &close_after);
    assert_int_equal (n, 4);
    assert_int_equal (out[3].offset + out[3].size, 30);
    assert_int_equal (toxic_read_max (sl, 1, TOXIC_UP, 65536, 256), 768);

    toxic_t bh[] = {s_toxic ("bh", "blackhole up")};
    st = (toxic_state_t){.rng = 1};
    assert_int_equal (toxic_plan (bh, 1, TOXIC_UP, &st, 0, 500, out, 8, &close_after), 0);
    assert_int_equal (st.dropped, 500);
    assert_int_equal (toxic_plan (bh, 1, TOXIC_DOWN, &st, 0, 500, out, 8, &close_after), 1);

    toxic_t lim[] = {s_toxic ("lim", "limit up bytes=25")};
    st = (toxic_state_t){.rng = 1};
    assert_int_equal (toxic_plan (lim, 1, TOXIC_UP, &st, 0, 20, out, 8, &close_after), 1);
    assert_false (close_after);
    assert_int_equal (toxic_plan (lim, 1, TOXIC_UP, &st, 0, 20, out, 8, &close_after), 1);
    assert_int_equal (out[0].size, 5);
    assert_true (close_after);
    assert_int_equal (toxic_plan (lim, 1, TOXIC_UP, &st, 0, 20, out, 8, &close_after), 0);
    assert_true (close_after);
}

//  Several toxics act in a fixed order: slicer, then latency, then bandwidth
static void
test_combined (void **state)
{
    (void) state;
    toxic_t t[] = {s_toxic ("bw", "bandwidth up rate=100"), s_toxic ("lat", "latency up ms=50"),
                   s_toxic ("sl", "slicer up bytes=10 delay=0")};
    toxic_state_t st = {.rng = 1};
    toxic_chunk_t out[8];
    bool close_after;
    size_t n = toxic_plan (t, 3, TOXIC_UP, &st, 0, 30, out, 8, &close_after);
    assert_int_equal (n, 3);
    assert_int_equal (out[0].at, 50);
    assert_int_equal (out[1].at, 150);
    assert_int_equal (out[2].at, 250);
    assert_true (toxic_resets (t, 3) == false);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_parse),     cmocka_unit_test (test_latency_keeps_order),
        cmocka_unit_test (test_bandwidth), cmocka_unit_test (test_slicer_blackhole_limit),
        cmocka_unit_test (test_combined),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
