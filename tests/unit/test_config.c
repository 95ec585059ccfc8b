/*  test_config -- unit tests for lib/lh_config.c (cmocka). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lh_config.h"

static const lh_option_t s_opts[] = {
    {"frontend", "broker/frontend", "tcp://*:5555", "client endpoint", false},
    {"hwm", "broker/hwm", "1000", "high-water mark", false},
    {"name", "node/name", NULL, "node name", false},
    {"verbose", "log/verbose", NULL, "log more", true},
    {NULL, NULL, NULL, NULL, false},
};

typedef struct {
    char dir[256];
    char path[300];
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *f = (fixture_t *) calloc (1, sizeof (fixture_t));
    const char *tmp = getenv ("TMPDIR");
    snprintf (f->dir, sizeof (f->dir), "%s/lh-test-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp (f->dir))
        return -1;
    snprintf (f->path, sizeof (f->path), "%s/lh.cfg", f->dir);
    FILE *file = fopen (f->path, "w");
    if (!file)
        return -1;
    fputs ("#   test config\n"
           "broker\n"
           "    frontend = \"tcp://127.0.0.1:7000\"\n"
           "    timeout = 250\n"
           "node\n"
           "    name = \"from-file\"\n",
           file);
    fclose (file);
    *state = f;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *f = (fixture_t *) *state;
    unlink (f->path);
    rmdir (f->dir);
    free (f);
    return 0;
}

//  Runs lh_config_load on a NULL-terminated argument list after "prog"
static zconfig_t *
s_load (int *exit_code, ...)
{
    char *argv[32] = {"prog"};
    int argc = 1;
    va_list args;
    va_start (args, exit_code);
    const char *arg;
    while ((arg = va_arg (args, const char *)) && argc < 31)
        argv[argc++] = (char *) arg;
    va_end (args);
    argv[argc] = NULL;
    *exit_code = -1;
    return lh_config_load ("prog", "A test program.", s_opts, argc, argv, exit_code);
}

static void
s_expect_usage_error (const char *label, zconfig_t *config, int exit_code)
{
    if (config) {
        zconfig_destroy (&config);
        fail_msg ("%s: accepted", label);
    }
    if (exit_code != 2)
        fail_msg ("%s: exit code %d, expected 2", label, exit_code);
}

static void
test_defaults (void **state)
{
    (void) state;
    int code;
    zconfig_t *config = s_load (&code, NULL);
    assert_non_null (config);
    assert_string_equal (lh_config_str (config, "broker/frontend", NULL), "tcp://*:5555");
    assert_string_equal (lh_config_str (config, "broker/hwm", NULL), "1000");
    assert_int_equal (lh_config_int (config, "broker/hwm", 0), 1000);
    //  No default: unset
    assert_null (lh_config_str (config, "node/name", NULL));
    assert_null (lh_config_str (config, "log/verbose", NULL));
    assert_false (lh_config_bool (config, "log/verbose", false));
    zconfig_destroy (&config);
}

static void
test_file_values (void **state)
{
    fixture_t *f = (fixture_t *) *state;
    int code;
    zconfig_t *config = s_load (&code, "-c", f->path, NULL);
    assert_non_null (config);
    assert_string_equal (lh_config_str (config, "broker/frontend", NULL), "tcp://127.0.0.1:7000");
    assert_string_equal (lh_config_str (config, "node/name", NULL), "from-file");
    //  Paths outside the option table are kept
    assert_int_equal (lh_config_int (config, "broker/timeout", 0), 250);
    //  Not in the file: default
    assert_int_equal (lh_config_int (config, "broker/hwm", 0), 1000);
    zconfig_destroy (&config);

    config = s_load (&code, "--config", f->path, NULL);
    assert_non_null (config);
    assert_string_equal (lh_config_str (config, "node/name", NULL), "from-file");
    zconfig_destroy (&config);
}

static void
test_command_line_beats_file (void **state)
{
    fixture_t *f = (fixture_t *) *state;
    int code;
    zconfig_t *config =
        s_load (&code, "-c", f->path, "--frontend", "tcp://127.0.0.1:9000", "--hwm", "5", NULL);
    assert_non_null (config);
    assert_string_equal (lh_config_str (config, "broker/frontend", NULL), "tcp://127.0.0.1:9000");
    assert_int_equal (lh_config_int (config, "broker/hwm", 0), 5);
    assert_string_equal (lh_config_str (config, "node/name", NULL), "from-file");
    zconfig_destroy (&config);

    //  Whatever the order of the arguments
    config = s_load (&code, "--name", "from-cli", "-c", f->path, NULL);
    assert_non_null (config);
    assert_string_equal (lh_config_str (config, "node/name", NULL), "from-cli");
    zconfig_destroy (&config);

    //  --name=value form
    config = s_load (&code, "--name=eq-form", "-c", f->path, NULL);
    assert_non_null (config);
    assert_string_equal (lh_config_str (config, "node/name", NULL), "eq-form");
    zconfig_destroy (&config);

    //  Flags take no value and set "1"; --flag=0 is explicit
    config = s_load (&code, "--verbose", "--name", "n", NULL);
    assert_non_null (config);
    assert_string_equal (lh_config_str (config, "log/verbose", NULL), "1");
    assert_true (lh_config_bool (config, "log/verbose", false));
    assert_string_equal (lh_config_str (config, "node/name", NULL), "n");
    zconfig_destroy (&config);
    config = s_load (&code, "--verbose=0", NULL);
    assert_non_null (config);
    assert_false (lh_config_bool (config, "log/verbose", true));
    zconfig_destroy (&config);
}

static void
test_set_path (void **state)
{
    fixture_t *f = (fixture_t *) *state;
    int code;
    zconfig_t *config = s_load (&code, "--set", "broker/hwm=5000", "--set=extra/deep/path=x=y",
                                "-c", f->path, "--set", "node/name=set-wins", NULL);
    assert_non_null (config);
    assert_int_equal (lh_config_int (config, "broker/hwm", 0), 5000);
    //  Only the first '=' separates path and value
    assert_string_equal (lh_config_str (config, "extra/deep/path", NULL), "x=y");
    assert_string_equal (lh_config_str (config, "node/name", NULL), "set-wins");
    zconfig_destroy (&config);

    //  Empty value is allowed
    config = s_load (&code, "--set", "node/name=", NULL);
    assert_non_null (config);
    assert_string_equal (lh_config_str (config, "node/name", "fallback"), "");
    zconfig_destroy (&config);
}

//  Runs s_load with stdout captured into out
static zconfig_t *
s_load_captured (int *exit_code, char *out, size_t size, const char *arg1, const char *arg2,
                 const char *arg3)
{
    fflush (stdout);
    int saved = dup (STDOUT_FILENO);
    FILE *capture = tmpfile ();
    assert_non_null (capture);
    dup2 (fileno (capture), STDOUT_FILENO);
    zconfig_t *config = s_load (exit_code, arg1, arg2, arg3, NULL);
    fflush (stdout);
    dup2 (saved, STDOUT_FILENO);
    close (saved);
    rewind (capture);
    size_t n = fread (out, 1, size - 1, capture);
    out[n] = 0;
    fclose (capture);
    return config;
}

static void
test_help (void **state)
{
    (void) state;
    char out[4096];
    int code = -1;
    zconfig_t *config = s_load_captured (&code, out, sizeof (out), "--help", NULL, NULL);
    assert_null (config);
    assert_int_equal (code, 0);
    //  Usage on stdout, generated from the option table
    assert_non_null (strstr (out, "Usage: prog "));
    assert_non_null (strstr (out, "A test program."));
    assert_non_null (strstr (out, "--frontend VALUE"));
    assert_non_null (strstr (out, "[broker/hwm = 1000]"));
    assert_non_null (strstr (out, "--verbose "));
    assert_null (strstr (out, "--verbose VALUE"));

    code = -1;
    config = s_load_captured (&code, out, sizeof (out), "--frontend", "x", "-h");
    assert_null (config);
    assert_int_equal (code, 0);
    assert_non_null (strstr (out, "Usage: prog "));
    //  --help wins even over a broken config file
    code = -1;
    config = s_load_captured (&code, out, sizeof (out), "-c", "/nonexistent/lh.cfg", "--help");
    assert_null (config);
    assert_int_equal (code, 0);
}

static void
test_usage_errors (void **state)
{
    (void) state;
    int code;
    zconfig_t *config = s_load (&code, "--nope", "1", NULL);
    s_expect_usage_error ("unknown option", config, code);
    config = s_load (&code, "--front", "x", NULL);
    s_expect_usage_error ("prefix of an option", config, code);
    config = s_load (&code, "positional", NULL);
    s_expect_usage_error ("positional argument", config, code);
    config = s_load (&code, "-x", NULL);
    s_expect_usage_error ("unknown short option", config, code);
    config = s_load (&code, "--frontend", NULL);
    s_expect_usage_error ("missing value", config, code);
    config = s_load (&code, "--set", NULL);
    s_expect_usage_error ("--set without value", config, code);
    config = s_load (&code, "--set", "novalue", NULL);
    s_expect_usage_error ("--set without '='", config, code);
    config = s_load (&code, "--set", "=x", NULL);
    s_expect_usage_error ("--set with empty path", config, code);
    config = s_load (&code, "-c", NULL);
    s_expect_usage_error ("-c without file", config, code);
    config = s_load (&code, "-c", "/nonexistent/lh.cfg", NULL);
    s_expect_usage_error ("missing config file", config, code);
}

static void
test_int_fallbacks (void **state)
{
    (void) state;
    int code;
    zconfig_t *config =
        s_load (&code, "--set", "v/ok=42", "--set", "v/neg=-7", "--set", "v/word=abc", "--set",
                "v/tail=12x", "--set", "v/empty=", "--set", "v/huge=99999999999999999999999", NULL);
    assert_non_null (config);
    assert_int_equal (lh_config_int (config, "v/ok", -1), 42);
    assert_int_equal (lh_config_int (config, "v/neg", -1), -7);
    assert_int_equal (lh_config_int (config, "v/word", -1), -1);
    assert_int_equal (lh_config_int (config, "v/tail", -1), -1);
    assert_int_equal (lh_config_int (config, "v/empty", 17), 17);
    assert_int_equal (lh_config_int (config, "v/huge", 17), 17);
    assert_int_equal (lh_config_int (config, "v/unset", 23), 23);
    assert_string_equal (lh_config_str (config, "v/unset", "fb"), "fb");
    zconfig_destroy (&config);
}

static void
test_bool_fallbacks (void **state)
{
    (void) state;
    int code;
    zconfig_t *config =
        s_load (&code, "--set", "b/one=1", "--set", "b/true=true", "--set", "b/yes=yes", "--set",
                "b/on=on", "--set", "b/zero=0", "--set", "b/false=false", "--set", "b/no=no",
                "--set", "b/off=off", "--set", "b/empty=", NULL);
    assert_non_null (config);
    const char *truthy[] = {"b/one", "b/true", "b/yes", "b/on"};
    const char *falsy[] = {"b/zero", "b/false", "b/no", "b/off"};
    for (int i = 0; i < 4; i++) {
        if (!lh_config_bool (config, truthy[i], false))
            fail_msg ("%s read as false", truthy[i]);
        if (lh_config_bool (config, falsy[i], true))
            fail_msg ("%s read as true", falsy[i]);
    }
    assert_true (lh_config_bool (config, "b/unset", true));
    assert_false (lh_config_bool (config, "b/unset", false));
    assert_true (lh_config_bool (config, "b/empty", true));
    assert_false (lh_config_bool (config, "b/empty", false));
    zconfig_destroy (&config);
}

//  lh_config.h: "Typed reads with a fallback when the path is unset or
//  malformed". A value that is neither true nor false is malformed.
static void
test_bool_malformed_falls_back (void **state)
{
    (void) state;
    int code;
    zconfig_t *config = s_load (&code, "--set", "b/maybe=maybe", "--set", "b/two=2", NULL);
    assert_non_null (config);
    bool maybe_false = lh_config_bool (config, "b/maybe", false);
    bool maybe_true = lh_config_bool (config, "b/maybe", true);
    bool two_true = lh_config_bool (config, "b/two", true);
    zconfig_destroy (&config);
    assert_false (maybe_false);
    if (!maybe_true)
        fail_msg ("lh_config_bool (\"maybe\", fallback true) returned false, not the fallback");
    assert_true (two_true);
}

int
main (void)
{
    //  Usage text and errors go to stdout/stderr; that is expected here
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_defaults, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_file_values, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_command_line_beats_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_set_path, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_help, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_usage_errors, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_int_fallbacks, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bool_fallbacks, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bool_malformed_falls_back, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
