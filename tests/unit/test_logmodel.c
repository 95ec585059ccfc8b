/*  logmodel: the log view's check of paths from events (attacker-chosen:
    any agent may append file.* events), by table and by random bytes,
    and an empty model opened, reopened and read.
*/
#include "logmodel.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool
s_ok (const char *path)
{
    return logmodel_path_ok (path, strlen (path));
}

static void
test_paths (void **state)
{
    (void) state;
    const char *good[] = {"/a",      "/proj/src/a.c",     "/a/.b", "/a/..b", "/a/b..",
                          "/a b/c~", "/\xc3\xa9t\xc3\xa9"};
    const char *bad[] = {"",       "/",       "a",        "a/b",     "../../x", "/a/../../b",
                         "/a/./b", "/a//b",   "/a/",      "/.",      "/..",     "/a/..",
                         "/a/.",   "/a\nb",   "/a\tb",    "/a\x7f",  "/a\x01",  "./a",
                         "//a",    "/a/b/..", "/a/../b/", "/a/b\r/c"};
    for (size_t i = 0; i < sizeof (good) / sizeof (good[0]); i++)
        if (!s_ok (good[i]))
            fail_msg ("refused: %s", good[i]);
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++)
        if (s_ok (bad[i]))
            fail_msg ("accepted: %s", bad[i]);
    //  A NUL inside is refused (the length says where the path ends)
    assert_false (logmodel_path_ok ("/a\0b", 4));
    //  Length: 4096 bytes at most, components 255
    char long_path[5000];
    long_path[0] = '/';
    memset (long_path + 1, 'a', 255);
    long_path[256] = 0;
    assert_true (s_ok (long_path));
    long_path[256] = 'a';
    long_path[257] = 0;
    assert_false (s_ok (long_path));
    size_t n = 0;
    while (n < 4096) {
        long_path[n++] = '/';
        for (int i = 0; i < 100 && n < 4096; i++)
            long_path[n++] = 'b';
    }
    long_path[n] = 0;
    assert_true (s_ok (long_path));
    long_path[n++] = 'c';
    long_path[n] = 0;
    assert_false (s_ok (long_path));
}

//  Random paths from a small alphabet that makes every trap likely: what is
//  accepted never holds "", "." or ".." components nor control bytes
static void
test_paths_random (void **state)
{
    (void) state;
    const char alphabet[] = "/./..a\n\0\x7f";
    srand (12345);
    unsigned accepted = 0;
    for (int round = 0; round < 200000; round++) {
        char path[24];
        size_t len = 1 + (size_t) rand () % (sizeof (path) - 1);
        for (size_t i = 0; i < len; i++)
            path[i] = alphabet[rand () % (int) (sizeof (alphabet) - 1)];
        if (!logmodel_path_ok (path, len))
            continue;
        accepted++;
        assert_int_equal (path[0], '/');
        assert_true (path[len - 1] != '/');
        for (size_t i = 0; i < len; i++)
            assert_true ((unsigned char) path[i] >= 0x20 && path[i] != 0x7f);
        size_t start = 1;
        for (size_t i = 1; i <= len; i++)
            if (i == len || path[i] == '/') {
                size_t c = i - start;
                assert_true (c > 0);
                assert_false (c == 1 && path[start] == '.');
                assert_false (c == 2 && path[start] == '.' && path[start + 1] == '.');
                start = i + 1;
            }
    }
    assert_true (accepted > 100);
}

static void
test_empty_model (void **state)
{
    (void) state;
    char dir[] = "/tmp/lh-logmodel-XXXXXX";
    assert_non_null (mkdtemp (dir));
    char err[256];
    for (int i = 0; i < 2; i++) {
        logmodel_t *model = logmodel_new (dir, 16, err, sizeof (err));
        assert_non_null (model);
        assert_int_equal (logmodel_size (model), 0);
        assert_int_equal (logmodel_jsonl_size (model), 0);
        size_t size = 0;
        assert_null (logmodel_checkpoint (model, &size));
        assert_int_equal (logmodel_event (model, 0, NULL, &size), -ENOENT);
        logmodel_file_t file;
        assert_int_equal (logmodel_shadow (model, "/a", LOGMODEL_LATEST, true, &file), -ENOENT);
        assert_int_equal (logmodel_shadow (model, "../a", LOGMODEL_LATEST, true, &file), -ENOENT);
        assert_false (logmodel_shadow_dir (model, "", LOGMODEL_LATEST));
        uint64_t seq;
        assert_int_equal (logmodel_pending (model, "../../etc", &seq), -ENOENT);
        assert_false (logmodel_has_agent (model, ".."));
        char buf[16];
        assert_int_equal (logmodel_jsonl_read (model, 0, buf, sizeof (buf)), 0);
        logmodel_destroy (&model);
        assert_null (model);
    }
    char command[128];
    snprintf (command, sizeof (command), "rm -rf '%s'", dir);
    assert_int_equal (system (command), 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_paths),
        cmocka_unit_test (test_paths_random),
        cmocka_unit_test (test_empty_model),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
