/*  Integration tests of lh hook (the Claude Code PreToolUse hook) and lh
    validate: the real lh binary as a child process, with crafted env files,
    certificates and stdin, against real brokers, validators and workers.

    Claude Code blocks a tool call only on exit 2 (the reason on stderr);
    exit 0 with a JSON permissionDecision allows or asks; any other exit
    lets the call run. So every failure path below must end in exit 2 and
    "failing closed" (or "ask" for read-only tools). */
#include "harness.h"
#include "hookrun.h"

#include "codec.h"
#include "jsonpack.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <stdatomic.h>
#include <unistd.h>

//  --------------------------------------------------------------------------
//  Running lh (hookrun.h): in a clean environment, its output collected

static const hookrun_prog_t s_lh_prog = {.bin = LH_CLI_BIN};

//  Runs lh to its end with stdin_text (len bytes) on stdin.
static hookrun_t
s_lh (const char *dir, const char *const *args, const char *const *env, const char *stdin_text,
      size_t len)
{
    return hookrun_run (&s_lh_prog, dir, args, env, stdin_text, len);
}

//  lh [--env ENV_FILE] hook with a Bash (or tool) call on stdin.
static hookrun_t
s_hook (const char *dir, const char *env_file, const char *const *env, const char *tool,
        const char *input)
{
    char *json = hookrun_hook_json (tool, input);
    const char *with_env[] = {"--env", env_file, "hook", NULL};
    const char *without[] = {"hook", NULL};
    hookrun_t r = s_lh (dir, env_file ? with_env : without, env, json, strlen (json));
    free (json);
    return r;
}

//  The hook blocked the call: exit 2, "failing closed" and what on stderr,
//  the deny JSON on stdout.
static void
s_assert_blocked (hookrun_t *r, const char *what)
{
    if (r->status != 2 || !strstr (r->err, "failing closed") || !strstr (r->err, what) ||
        !strstr (r->out, "\"permissionDecision\":\"deny\""))
        fail_msg ("expected a fail-closed deny naming '%s'; got exit %d\nstdout: %s\nstderr: %s",
                  what, r->status, r->out, r->err);
}

//  The hook asked the user: exit 0, permissionDecision ask naming what.
static void
s_assert_asked (hookrun_t *r, const char *what)
{
    if (r->status != 0 || !strstr (r->out, "\"permissionDecision\":\"ask\"") ||
        !strstr (r->out, what))
        fail_msg ("expected ask naming '%s'; got exit %d\nstdout: %s\nstderr: %s", what, r->status,
                  r->out, r->err);
}

//  --------------------------------------------------------------------------
//  Configuration without a broker: a temp dir with valid keys

typedef struct {
    char dir[256];
    char broker_key[41];
    char cert[512];     //  a valid agent certificate (secret)
    char public[512];   //  a public-only certificate
    char endpoint[128]; //  a loopback port nobody listens on
} fixture_t;

static int
s_free_port (void)
{
    //  Bind a ZeroMQ socket to an ephemeral port and close it again
    zsock_t *sock = zsock_new (ZMQ_ROUTER);
    int port = zsock_bind (sock, "tcp://127.0.0.1:*");
    zsock_destroy (&sock);
    assert_true (port > 0);
    return port;
}

static void
s_fixture (fixture_t *f)
{
    zsys_init ();
    zsys_set_logsystem (false);
    snprintf (f->dir, sizeof (f->dir), "/tmp/lh-hook-XXXXXX");
    assert_non_null (mkdtemp (f->dir));
    zcert_t *broker = zcert_new ();
    snprintf (f->broker_key, sizeof (f->broker_key), "%s", zcert_public_txt (broker));
    zcert_destroy (&broker);
    zcert_t *agent = zcert_new ();
    snprintf (f->cert, sizeof (f->cert), "%s/agent.cert", f->dir);
    assert_int_equal (zcert_save (agent, f->cert), 0);
    strcat (f->cert, "_secret");
    zcert_destroy (&agent);
    char dir[300];
    snprintf (dir, sizeof (dir), "%s/public", f->dir);
    assert_int_equal (mkdir (dir, 0700), 0);
    zcert_t *other = zcert_new ();
    snprintf (f->public, sizeof (f->public), "%s/only.cert", dir);
    assert_int_equal (zcert_save_public (other, f->public), 0);
    zcert_destroy (&other);
    snprintf (f->endpoint, sizeof (f->endpoint), "tcp://127.0.0.1:%d", s_free_port ());
}

static void
s_fixture_done (fixture_t *f)
{
    char command[512];
    snprintf (command, sizeof (command), "rm -rf '%s'", f->dir);
    assert_int_equal (system (command), 0);
}

//  Writes DIR/name with text; returns the path in a static buffer.
static const char *
s_file (fixture_t *f, const char *name, const char *text)
{
    static char path[512];
    snprintf (path, sizeof (path), "%s/%s", f->dir, name);
    hookrun_write (path, text, strlen (text));
    return path;
}

//  An env file with the fixture's endpoint, key and certificate, each
//  replaced by the given line when not NULL ("" drops it).
static const char *
s_env_file (fixture_t *f, const char *broker, const char *key, const char *cert)
{
    char text[4096], line[3][700];
    snprintf (line[0], sizeof (line[0]), "export LH_BROKER='%s'\n", f->endpoint);
    snprintf (line[1], sizeof (line[1]), "export LH_BROKER_KEY='%s'\n", f->broker_key);
    snprintf (line[2], sizeof (line[2]), "export LH_CERT='%s'\n", f->cert);
    snprintf (text, sizeof (text), "# test env\n%s%s%sexport PATH='/x':\"$PATH\"\n",
              broker ? broker : line[0], key ? key : line[1], cert ? cert : line[2]);
    return s_file (f, "env", text);
}

#define BASH_LS "{\"command\":\"ls\"}"

static void
test_env_file_missing (void **state)
{
    (void) state;
    fixture_t f;
    s_fixture (&f);
    char path[512];
    snprintf (path, sizeof (path), "%s/no-such.env", f.dir);
    hookrun_t r = s_hook (f.dir, path, NULL, "Bash", BASH_LS);
    s_assert_blocked (&r, "cannot read env file");
    assert_non_null (strstr (r.err, "No such file"));
    hookrun_free (&r);
    //  A read-only tool asks instead
    r = s_hook (f.dir, path, NULL, "Read", "{\"file_path\":\"/work/p/a\"}");
    s_assert_asked (&r, "cannot read env file");
    hookrun_free (&r);
    s_fixture_done (&f);
}

static void
test_env_file_unreadable (void **state)
{
    (void) state;
    fixture_t f;
    s_fixture (&f);
    //  A directory opens but cannot be read (as root, modes do not stop reads)
    hookrun_t r = s_hook (f.dir, f.dir, NULL, "Bash", BASH_LS);
    s_assert_blocked (&r, "cannot read env file");
    hookrun_free (&r);
    s_fixture_done (&f);
}

static void
test_env_file_bad_syntax (void **state)
{
    (void) state;
    fixture_t f;
    s_fixture (&f);
    const char *bad[] = {
        "LH_BROKER tcp://127.0.0.1:5555\n",           //  no '='
        "export LH_BROKER=\"tcp://$HOST:5555\"\n",    //  an expansion lh would not do
        "LH_BROKER='tcp://127.0.0.1:5555\n",          //  unterminated quote
        "9LH=1\n",                                    //  not a name
        "LH_CERT=/a b\n",                             //  a space in a bare word
        "LH_BROKER=tcp://127.0.0.1:5555 ; rm -rf ~\n" //  shell code
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        char text[512];
        snprintf (text, sizeof (text), "# fine\n\n%s", bad[i]);
        const char *path = s_file (&f, "bad.env", text);
        hookrun_t r = s_hook (f.dir, path, NULL, "Bash", BASH_LS);
        s_assert_blocked (&r, "line 3: not NAME=VALUE");
        hookrun_free (&r);
    }
    //  A line too long to be one
    char *long_line = (char *) malloc (10000);
    memset (long_line, 'x', 9998);
    memcpy (long_line, "LH_X=", 5);
    long_line[9998] = '\n';
    long_line[9999] = 0;
    hookrun_t r = s_hook (f.dir, s_file (&f, "long.env", long_line), NULL, "Bash", BASH_LS);
    free (long_line);
    s_assert_blocked (&r, "line 1: longer than");
    hookrun_free (&r);
    s_fixture_done (&f);
}

static void
test_no_broker_endpoint (void **state)
{
    (void) state;
    fixture_t f;
    s_fixture (&f);
    hookrun_t r = s_hook (f.dir, s_env_file (&f, "", NULL, NULL), NULL, "Bash", BASH_LS);
    s_assert_blocked (&r, "LH_BROKER is not set");
    hookrun_free (&r);
    //  No env file and nothing in the environment: the same
    r = s_hook (f.dir, NULL, NULL, "Bash", BASH_LS);
    s_assert_blocked (&r, "LH_BROKER is not set");
    hookrun_free (&r);
    s_fixture_done (&f);
}

static void
test_bad_endpoint (void **state)
{
    (void) state;
    fixture_t f;
    s_fixture (&f);
    const char *bad[] = {"LH_BROKER=http://127.0.0.1:5555\n", "LH_BROKER=tcp://127.0.0.1:99999\n",
                         "LH_BROKER=tcp://127.0.0.1\n", "LH_BROKER=tcp://:5555\n",
                         "LH_BROKER=ipc://\n"};
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        hookrun_t r = s_hook (f.dir, s_env_file (&f, bad[i], NULL, NULL), NULL, "Bash", BASH_LS);
        s_assert_blocked (&r, "is not tcp://HOST:PORT or ipc://PATH");
        hookrun_free (&r);
    }
    //  --broker on the command line is checked the same way
    const char *args[] = {"--env", s_env_file (&f, NULL, NULL, NULL), "--broker", "tcp://x", "hook",
                          NULL};
    char *json = hookrun_hook_json ("Bash", BASH_LS);
    hookrun_t r = s_lh (f.dir, args, NULL, json, strlen (json));
    free (json);
    s_assert_blocked (&r, "--broker 'tcp://x' is not");
    hookrun_free (&r);
    s_fixture_done (&f);
}

static void
test_cert_missing (void **state)
{
    (void) state;
    fixture_t f;
    s_fixture (&f);
    char line[600];
    snprintf (line, sizeof (line), "LH_CERT=%s/nobody.cert_secret\n", f.dir);
    hookrun_t r = s_hook (f.dir, s_env_file (&f, NULL, NULL, line), NULL, "Bash", BASH_LS);
    s_assert_blocked (&r, "cannot read certificate");
    assert_non_null (strstr (r.err, "No such file"));
    hookrun_free (&r);
    s_fixture_done (&f);
}

static void
test_cert_unreadable (void **state)
{
    (void) state;
    fixture_t f;
    s_fixture (&f);
    char line[600];
    snprintf (line, sizeof (line), "LH_CERT=%s\n", f.dir);
    hookrun_t r = s_hook (f.dir, s_env_file (&f, NULL, NULL, line), NULL, "Bash", BASH_LS);
    s_assert_blocked (&r, "is not a regular file");
    hookrun_free (&r);
    s_fixture_done (&f);
}

static void
test_cert_malformed (void **state)
{
    (void) state;
    fixture_t f;
    s_fixture (&f);
    char line[700];
    //  Not ZPL at all
    const char *path = s_file (&f, "garbage.cert_secret", "\x01\x02 not a certificate\n\tx\n");
    snprintf (line, sizeof (line), "LH_CERT=%s\n", path);
    hookrun_t r = s_hook (f.dir, s_env_file (&f, NULL, NULL, line), NULL, "Bash", BASH_LS);
    assert_int_equal (r.status, 2);
    assert_true (strstr (r.err, "is not a ZPL file") ||
                 strstr (r.err, "no valid curve/public-key"));
    s_assert_blocked (&r, "certificate");
    hookrun_free (&r);
    //  The public half only (the .cert instead of the .cert_secret)
    snprintf (line, sizeof (line), "LH_CERT=%s\n", f.public);
    r = s_hook (f.dir, s_env_file (&f, NULL, NULL, line), NULL, "Bash", BASH_LS);
    s_assert_blocked (&r, "no valid curve/secret-key");
    hookrun_free (&r);
    //  A public key that is not the secret key's
    zcert_t *one = zcert_new (), *two = zcert_new ();
    char text[512];
    snprintf (text, sizeof (text), "curve\n    public-key = \"%s\"\n    secret-key = \"%s\"\n",
              zcert_public_txt (one), zcert_secret_txt (two));
    zcert_destroy (&one);
    zcert_destroy (&two);
    path = s_file (&f, "mixed.cert_secret", text);
    snprintf (line, sizeof (line), "LH_CERT=%s\n", path);
    r = s_hook (f.dir, s_env_file (&f, NULL, NULL, line), NULL, "Bash", BASH_LS);
    s_assert_blocked (&r, "the secret key does not match the public key");
    hookrun_free (&r);
    //  Keys of the right length that are not Z85
    path = s_file (&f, "z85.cert_secret",
                   "curve\n    public-key = \"~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\"\n"
                   "    secret-key = \"~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\"\n");
    snprintf (line, sizeof (line), "LH_CERT=%s\n", path);
    r = s_hook (f.dir, s_env_file (&f, NULL, NULL, line), NULL, "Bash", BASH_LS);
    s_assert_blocked (&r, "no valid curve/public-key");
    hookrun_free (&r);
    s_fixture_done (&f);
}

static void
test_broker_key_malformed (void **state)
{
    (void) state;
    fixture_t f;
    s_fixture (&f);
    //  Each of these made czmq assert (exit 134: the call went ahead)
    const char *bad[] = {"LH_BROKER_KEY=abc\n",
                         "LH_BROKER_KEY='~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~'\n",
                         "LH_BROKER_KEY=0123456789012345678901234567890123456789X\n"};
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        hookrun_t r = s_hook (f.dir, s_env_file (&f, NULL, bad[i], NULL), NULL, "Bash", BASH_LS);
        s_assert_blocked (&r, "LH_BROKER_KEY is not a CURVE public key");
        hookrun_free (&r);
    }
    const char *args[] = {
        "--env", s_env_file (&f, NULL, NULL, NULL), "--broker-key", "short", "hook", NULL};
    char *json = hookrun_hook_json ("Bash", BASH_LS);
    hookrun_t r = s_lh (f.dir, args, NULL, json, strlen (json));
    free (json);
    s_assert_blocked (&r, "--broker-key is not a CURVE public key");
    hookrun_free (&r);
    s_fixture_done (&f);
}

static void
test_broker_key_without_cert (void **state)
{
    (void) state;
    fixture_t f;
    s_fixture (&f);
    hookrun_t r = s_hook (f.dir, s_env_file (&f, NULL, NULL, ""), NULL, "Bash", BASH_LS);
    s_assert_blocked (&r, "LH_BROKER_KEY is set but LH_CERT is not");
    hookrun_free (&r);
    s_fixture_done (&f);
}

static void
test_bad_timeout_setting (void **state)
{
    (void) state;
    fixture_t f;
    s_fixture (&f);
    const char *env_file = s_env_file (&f, NULL, NULL, NULL);
    const char *values[] = {"LH_HOOK_TIMEOUT_MS=abc", "LH_HOOK_TIMEOUT_MS=0",
                            "LH_HOOK_TIMEOUT_MS=999999", "LH_HOOK_TIMEOUT_MS=-5"};
    for (size_t i = 0; i < sizeof (values) / sizeof (values[0]); i++) {
        const char *env[] = {values[i], NULL};
        hookrun_t r = s_hook (f.dir, env_file, env, "Bash", BASH_LS);
        s_assert_blocked (&r, "LH_HOOK_TIMEOUT_MS (or --timeout) is not 1 to 30000 ms");
        hookrun_free (&r);
    }
    s_fixture_done (&f);
}

static void
test_bad_arguments (void **state)
{
    (void) state;
    fixture_t f;
    s_fixture (&f);
    const char *env_file = s_env_file (&f, NULL, NULL, NULL);
    char *json = hookrun_hook_json ("Bash", BASH_LS);
    const char *extra[] = {"--env", env_file, "hook", "now", NULL};
    hookrun_t r = s_lh (f.dir, extra, NULL, json, strlen (json));
    s_assert_blocked (&r, "lh hook takes no arguments");
    hookrun_free (&r);
    const char *unknown[] = {"--env", env_file, "--verbose", "hook", NULL};
    r = s_lh (f.dir, unknown, NULL, json, strlen (json));
    s_assert_blocked (&r, "unknown option --verbose");
    hookrun_free (&r);
    const char *slow[] = {"--env", env_file, "--timeout", "60000", "hook", NULL};
    r = s_lh (f.dir, slow, NULL, json, strlen (json));
    s_assert_blocked (&r, "is not 1 to 30000 ms");
    hookrun_free (&r);
    //  The help text is no answer either: exit 2
    const char *help[] = {"hook", "--help", NULL};
    r = s_lh (f.dir, help, NULL, json, strlen (json));
    assert_int_equal (r.status, 2);
    assert_non_null (strstr (r.out, "PreToolUse"));
    hookrun_free (&r);
    free (json);
    s_fixture_done (&f);
}

static void
test_stdin_not_json (void **state)
{
    (void) state;
    fixture_t f;
    s_fixture (&f);
    const char *env_file = s_env_file (&f, NULL, NULL, NULL);
    const char *args[] = {"--env", env_file, "hook", NULL};
    const char *bad[] = {"not json", "{\"tool_name\":\"Bash\",", "[1,2]",
                         "{\"tool_name\":\"Bash\",\"tool_name\":\"Read\"}"};
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        hookrun_t r = s_lh (f.dir, args, NULL, bad[i], strlen (bad[i]));
        assert_int_equal (r.status, 2);
        assert_non_null (strstr (r.err, "failing closed"));
        assert_non_null (strstr (r.out, "\"permissionDecision\":\"deny\""));
        hookrun_free (&r);
    }
    hookrun_t r = s_lh (f.dir, args, NULL, "not json", 8);
    s_assert_blocked (&r, "the hook input is not JSON");
    hookrun_free (&r);
    //  Nothing at all on stdin
    r = s_lh (f.dir, args, NULL, "", 0);
    s_assert_blocked (&r, "the hook input is not JSON");
    hookrun_free (&r);
    s_fixture_done (&f);
}

static void
test_stdin_too_large (void **state)
{
    (void) state;
    fixture_t f;
    s_fixture (&f);
    size_t size = 16 * 1024 * 1024 + 100;
    char *text = (char *) malloc (size);
    memset (text, ' ', size);
    memcpy (text, "{\"a\":1}", 7);
    const char *args[] = {"--env", s_env_file (&f, NULL, NULL, NULL), "hook", NULL};
    hookrun_t r = s_lh (f.dir, args, NULL, text, size);
    free (text);
    s_assert_blocked (&r, "more than 16 MiB");
    hookrun_free (&r);
    s_fixture_done (&f);
}

static void
test_stdin_missing_fields (void **state)
{
    (void) state;
    fixture_t f;
    s_fixture (&f);
    const char *args[] = {"--env", s_env_file (&f, NULL, NULL, NULL), "hook", NULL};
    struct {
        const char *json, *what;
    } cases[] = {
        {"{\"tool_input\":{\"command\":\"ls\"},\"cwd\":\"/w\"}", "no tool_name"},
        {"{\"tool_name\":42,\"tool_input\":{},\"cwd\":\"/w\"}", "no tool_name"},
        {"{\"tool_name\":\"\",\"tool_input\":{},\"cwd\":\"/w\"}", "no tool_name"},
        {"{\"tool_name\":\"Bash\",\"cwd\":\"/w\"}", "no tool_input object"},
        {"{\"tool_name\":\"Bash\",\"tool_input\":\"ls\",\"cwd\":\"/w\"}", "no tool_input object"},
        {"{\"tool_name\":\"Bash\",\"tool_input\":{\"command\":\"ls\"}}", "no absolute cwd"},
        {"{\"tool_name\":\"Bash\",\"tool_input\":{\"command\":\"ls\"},\"cwd\":\"w\"}",
         "no absolute cwd"},
        {"{\"hook_event_name\":\"PostToolUse\",\"tool_name\":\"Bash\",\"tool_input\":{},"
         "\"cwd\":\"/w\"}",
         "lh hook is for PreToolUse, not PostToolUse"},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        hookrun_t r = s_lh (f.dir, args, NULL, cases[i].json, strlen (cases[i].json));
        s_assert_blocked (&r, cases[i].what);
        hookrun_free (&r);
    }
    //  A read-only tool with a bad field asks
    const char *read = "{\"tool_name\":\"Read\",\"tool_input\":{\"file_path\":\"/w/a\"}}";
    hookrun_t r = s_lh (f.dir, args, NULL, read, strlen (read));
    s_assert_asked (&r, "no absolute cwd");
    hookrun_free (&r);
    s_fixture_done (&f);
}

static void
test_input_unencodable (void **state)
{
    (void) state;
    fixture_t f;
    s_fixture (&f);
    const char *env_file = s_env_file (&f, NULL, NULL, NULL);
    //  Nesting deeper than LH_MAX_DEPTH
    char deep[256] = "{\"file_path\":\"/work/p/a\",\"x\":";
    for (int i = 0; i < 20; i++)
        strcat (deep, "[");
    for (int i = 0; i < 20; i++)
        strcat (deep, "]");
    strcat (deep, "}");
    hookrun_t r = s_hook (f.dir, env_file, NULL, "Write", deep);
    s_assert_blocked (&r, "the tool input breaks a protocol limit");
    hookrun_free (&r);
    //  A key longer than LH_MAX_KEY
    char key[200];
    snprintf (key, sizeof (key), "{\"file_path\":\"/work/p/a\",\"%080d\":1}", 0);
    r = s_hook (f.dir, env_file, NULL, "Write", key);
    s_assert_blocked (&r, "the tool input breaks a protocol limit");
    hookrun_free (&r);
    //  A command (judged: never cut) too large to send
    size_t big = 700 * 1024;
    char *command = (char *) malloc (big + 64);
    int n = snprintf (command, 64, "{\"command\":\"echo ");
    memset (command + n, 'a', big);
    strcpy (command + n + big, "\"}");
    r = s_hook (f.dir, env_file, NULL, "Bash", command);
    free (command);
    s_assert_blocked (&r, "without its content fields");
    hookrun_free (&r);
    s_fixture_done (&f);
}

static void
test_out_of_memory (void **state)
{
    (void) state;
#ifdef LH_SANITIZED
    skip (); //  the sanitizers own malloc; the LD_PRELOAD library cannot fail it
#else
    fixture_t f;
    s_fixture (&f);
    //  Every allocation over 1 MiB fails: reading a 3 MiB hook input runs out
    const char *env[] = {"LD_PRELOAD=" LH_MALLOC_FAIL_LIB, "LH_TEST_MALLOC_LIMIT=1048576", NULL};
    size_t big = 3 * 1024 * 1024;
    char *input = (char *) malloc (big + 64);
    int n = snprintf (input, 64, "{\"file_path\":\"/work/p/a\",\"content\":\"");
    memset (input + n, 'a', big);
    strcpy (input + n + big, "\"}");
    hookrun_t r = s_hook (f.dir, s_env_file (&f, NULL, NULL, NULL), env, "Write", input);
    free (input);
    s_assert_blocked (&r, "Cannot allocate memory");
    hookrun_free (&r);
    s_fixture_done (&f);
#endif
}

static void
test_stdin_stalled (void **state)
{
    (void) state;
    fixture_t f;
    s_fixture (&f);
    //  stdin stays open and silent: the watchdog answers at 300 + 3000 ms
    int fds[2];
    assert_int_equal (pipe (fds), 0);
    const char *args[] = {"--env", s_env_file (&f, NULL, NULL, NULL), "hook", NULL};
    const char *env[] = {"LH_HOOK_TIMEOUT_MS=300", NULL};
    int64_t start = zclock_mono ();
    pid_t pid = hookrun_spawn (&s_lh_prog, f.dir, args, env, NULL, fds[0]);
    close (fds[0]);
    hookrun_t r = {0};
    hookrun_collect (f.dir, pid, start, &r);
    close (fds[1]);
    s_assert_blocked (&r, "the hook ran out of time");
    assert_true (r.elapsed_ms >= 3000 && r.elapsed_ms < 6000);
    hookrun_free (&r);
    s_fixture_done (&f);
}

//  --------------------------------------------------------------------------
//  Against a broker

static void
test_connect_refused (void **state)
{
    (void) state;
    fixture_t f;
    s_fixture (&f);
    //  Nobody listens on the endpoint: no answer within the deadline
    const char *env[] = {"LH_HOOK_TIMEOUT_MS=300", NULL};
    const char *env_file = s_env_file (&f, NULL, NULL, NULL);
    hookrun_t r = s_hook (f.dir, env_file, env, "Bash", BASH_LS);
    s_assert_blocked (&r, "no reply within 300 ms");
    assert_true (r.elapsed_ms < 3000);
    hookrun_free (&r);
    r = s_hook (f.dir, env_file, env, "Grep", "{\"pattern\":\"x\"}");
    s_assert_asked (&r, "no reply within 300 ms");
    hookrun_free (&r);
    s_fixture_done (&f);
}

static void
test_timeout_no_validator (void **state)
{
    (void) state;
    //  The service is known but has no worker: the request waits, the hook does not
    cluster_t *c = cluster_new ("    validate\n", NULL);
    const char *env[] = {"LH_HOOK_TIMEOUT_MS=500", NULL};
    hookrun_t r = s_hook (c->dir, hookrun_env_file (c, "agent-1"), env, "Bash", BASH_LS);
    s_assert_blocked (&r, "no reply within 500 ms");
    assert_true (r.elapsed_ms < 3500);
    hookrun_free (&r);
    //  A key the roster does not know: the broker never answers it either
    r = s_hook (c->dir, hookrun_env_file (c, "stranger"), env, "Bash", BASH_LS);
    s_assert_blocked (&r, "no reply within 500 ms");
    hookrun_free (&r);
    cluster_destroy (&c);
}

static void
test_signal_terminates (void **state)
{
    (void) state;
    cluster_t *c = cluster_new ("    validate\n", NULL);
    const char *args[] = {"--env", hookrun_env_file (c, "agent-1"), "hook", NULL};
    const char *env[] = {"LH_HOOK_TIMEOUT_MS=20000", NULL};
    char in_path[512];
    char *json = hookrun_hook_json ("Bash", BASH_LS);
    hookrun_stdin (c->dir, json, strlen (json), in_path, sizeof (in_path));
    free (json);
    //  Termination requests and crashes (a czmq assert is SIGABRT) alike
    int signals[] = {SIGTERM, SIGINT, SIGHUP, SIGABRT, SIGSEGV};
    for (size_t i = 0; i < sizeof (signals) / sizeof (signals[0]); i++) {
        int64_t start = zclock_mono ();
        pid_t pid = hookrun_spawn (&s_lh_prog, c->dir, args, env, in_path, -1);
        zclock_sleep (400); //  waiting for validate by now
        kill (pid, signals[i]);
        hookrun_t r = {0};
        hookrun_collect (c->dir, pid, start, &r);
        char what[64];
        snprintf (what, sizeof (what), "stopped by signal %d", signals[i]);
        s_assert_blocked (&r, what);
        hookrun_free (&r);
    }
    cluster_destroy (&c);
}

//  A stand-in validate worker answering as told, recording what it is asked.
typedef enum { FAKE_ERROR, FAKE_NO_DECISION, FAKE_UNKNOWN, FAKE_NOT_STR, FAKE_ALLOW } fake_mode_t;

typedef struct {
    cluster_t *cluster;
    fake_mode_t mode;
    atomic_bool stop; //  set by the test thread, read by the worker thread
    pthread_t thread;
    pthread_mutex_t lock;
    char *last; //  the last request body, as JSON
    char agent[LH_MAX_AGENT + 1];
} fake_t;

static void *
s_fake_run (void *arg)
{
    fake_t *fake = (fake_t *) arg;
    char cert_path[512];
    snprintf (cert_path, sizeof (cert_path), "%s/node-1.cert_secret", fake->cluster->dir);
    zcert_t *cert = zcert_load (cert_path);
    lh_connect_t conn = cluster_connect (fake->cluster, cert, true);
    lh_worker_t *worker = lh_worker_new (&conn, "validate", 4);
    lh_worker_set_heartbeat (worker, 200, 3);
    while (!fake->stop) {
        lh_request_t *request = lh_worker_recv (worker, 50);
        if (!request)
            continue;
        char *body = jsonpack_to_json (lh_request_body (request), false);
        pthread_mutex_lock (&fake->lock);
        free (fake->last);
        fake->last = body;
        snprintf (fake->agent, sizeof (fake->agent), "%s", lh_request_agent (request));
        pthread_mutex_unlock (&fake->lock);
        if (fake->mode == FAKE_ERROR) {
            lh_worker_reply_error (worker, &request, LH_E_INTERNAL, "policy engine exploded");
            continue;
        }
        codec_buf_t reply;
        codec_buf_init (&reply);
        codec_pack_ok_head (&reply.pk, lh_request_id (request), 3);
        codec_pack_str (&reply.pk, fake->mode == FAKE_NO_DECISION ? "verdict" : "decision");
        if (fake->mode == FAKE_NOT_STR)
            msgpack_pack_int (&reply.pk, 42);
        else
            codec_pack_str (&reply.pk, fake->mode == FAKE_UNKNOWN ? "maybe" : "allow");
        codec_pack_str (&reply.pk, "rule");
        codec_pack_str (&reply.pk, "fake-rule");
        codec_pack_str (&reply.pk, "reason");
        codec_pack_str (&reply.pk, "the fake says so");
        lh_worker_reply (worker, &request, reply.sbuf.data, reply.sbuf.size);
        codec_buf_destroy (&reply);
    }
    lh_worker_destroy (&worker);
    zcert_destroy (&cert);
    return NULL;
}

static void
s_fake_start (fake_t *fake, cluster_t *c, fake_mode_t mode)
{
    memset (fake, 0, sizeof (*fake));
    fake->cluster = c;
    fake->mode = mode;
    pthread_mutex_init (&fake->lock, NULL);
    assert_int_equal (pthread_create (&fake->thread, NULL, s_fake_run, fake), 0);
    assert_true (cluster_wait_workers (c, "validate", 1, 5000));
}

static void
s_fake_stop (fake_t *fake)
{
    fake->stop = true;
    pthread_join (fake->thread, NULL);
    pthread_mutex_destroy (&fake->lock);
    free (fake->last);
}

static void
test_reply_error (void **state)
{
    (void) state;
    cluster_t *c = cluster_new ("    validate\n", NULL);
    fake_t fake;
    s_fake_start (&fake, c, FAKE_ERROR);
    hookrun_t r = s_hook (c->dir, hookrun_env_file (c, "agent-1"), NULL, "Bash", BASH_LS);
    s_assert_blocked (&r, "validate answered internal: policy engine exploded");
    hookrun_free (&r);
    s_fake_stop (&fake);
    cluster_destroy (&c);
    //  A broker refusal is an error reply too: agents may not call validate here
    c = cluster_new ("    validate\nrole\n    agent\n        call = \"echo\"\n", NULL);
    cluster_start_echo (c, "validate", true);
    r = s_hook (c->dir, hookrun_env_file (c, "agent-1"), NULL, "Bash", BASH_LS);
    s_assert_blocked (&r, "validate answered forbidden");
    hookrun_free (&r);
    cluster_destroy (&c);
}

static void
test_reply_malformed (void **state)
{
    (void) state;
    //  lh-echo serving validate: an ok reply without a decision
    cluster_t *c = cluster_new ("    validate\n", NULL);
    cluster_start_echo (c, "validate", true);
    hookrun_t r = s_hook (c->dir, hookrun_env_file (c, "agent-1"), NULL, "Bash", BASH_LS);
    s_assert_blocked (&r, "validate sent no known decision ('-')");
    hookrun_free (&r);
    cluster_destroy (&c);
    c = cluster_new ("    validate\n", NULL);
    fake_t fake;
    s_fake_start (&fake, c, FAKE_NOT_STR);
    r = s_hook (c->dir, hookrun_env_file (c, "agent-1"), NULL, "Bash", BASH_LS);
    s_assert_blocked (&r, "validate sent no known decision");
    hookrun_free (&r);
    s_fake_stop (&fake);
    cluster_destroy (&c);
}

static void
test_reply_unknown_decision (void **state)
{
    (void) state;
    cluster_t *c = cluster_new ("    validate\n", NULL);
    fake_t fake;
    s_fake_start (&fake, c, FAKE_UNKNOWN);
    hookrun_t r = s_hook (c->dir, hookrun_env_file (c, "agent-1"), NULL, "Bash", BASH_LS);
    s_assert_blocked (&r, "validate sent no known decision ('maybe')");
    hookrun_free (&r);
    r = s_hook (c->dir, hookrun_env_file (c, "agent-1"), NULL, "LS", "{\"path\":\"/work/p\"}");
    s_assert_asked (&r, "no known decision ('maybe')");
    hookrun_free (&r);
    //  lh validate: exit 1, not a decision's status
    const char *args[] = {
        "--env", hookrun_env_file (c, "agent-1"), "validate", "--tool", "Bash", "--command", "ls",
        NULL};
    r = s_lh (c->dir, args, NULL, NULL, 0);
    assert_int_equal (r.status, 1);
    assert_non_null (strstr (r.err, "'maybe'"));
    hookrun_free (&r);
    s_fake_stop (&fake);
    cluster_destroy (&c);
}

//  --------------------------------------------------------------------------
//  Decisions from a real validator

static const char *s_test_policy = "policy\n"
                                   "    version = \"hook-test.1\"\n"
                                   "    default = defer\n"
                                   "    unknown_tool = deny\n"
                                   "    parse_error = deny\n"
                                   "    bad_input = deny\n"
                                   "class\n"
                                   "    protected = \"/etc/** /home/dev/.ssh/**\"\n"
                                   "rule\n"
                                   "    no-rm\n"
                                   "        command = \"rm\"\n"
                                   "        action = deny\n"
                                   "        reason = \"no deletes here\"\n"
                                   "    ask-deploy\n"
                                   "        command = \"deploy\"\n"
                                   "        action = \"escalate:ops\"\n"
                                   "        reason = \"deploys need a person\"\n"
                                   "    ok-ls\n"
                                   "        command = \"ls\"\n"
                                   "        action = allow\n"
                                   "        reason = \"listing\"\n"
                                   "    protect-tool\n"
                                   "        tool = \"Write Edit\"\n"
                                   "        path = protected\n"
                                   "        action = deny\n"
                                   "        reason = \"writes a protected file\"\n"
                                   "    project-tool\n"
                                   "        tool = \"Write Edit\"\n"
                                   "        file = \"$PROJECT/**\"\n"
                                   "        action = allow\n"
                                   "        reason = \"in-project edit\"\n";

static cluster_t *
s_cluster_with_policy (const char *policy_text)
{
    cluster_t *c = cluster_new ("    validate\n", NULL);
    char path[512];
    snprintf (path, sizeof (path), "%s/test.policy", c->dir);
    hookrun_write (path, policy_text, strlen (policy_text));
    cluster_start_validator (c, path);
    return c;
}

static void
test_decisions (void **state)
{
    (void) state;
    cluster_t *c = s_cluster_with_policy (s_test_policy);
    const char *env_file = hookrun_env_file (c, "agent-1");
    //  allow: exit 0, permissionDecision allow
    hookrun_t r = s_hook (c->dir, env_file, NULL, "Bash", BASH_LS);
    assert_int_equal (r.status, 0);
    assert_non_null (strstr (r.out, "\"permissionDecision\":\"allow\""));
    assert_non_null (strstr (r.out, "Lighthouse allow (rule ok-ls): listing"));
    hookrun_free (&r);
    //  deny: exit 2, the reason on stderr
    r = s_hook (c->dir, env_file, NULL, "Bash", "{\"command\":\"rm -f x\"}");
    assert_int_equal (r.status, 2);
    assert_non_null (strstr (r.err, "Lighthouse deny (rule no-rm): no deletes here"));
    assert_non_null (strstr (r.out, "\"permissionDecision\":\"deny\""));
    hookrun_free (&r);
    //  escalate: exit 0, ask
    r = s_hook (c->dir, env_file, NULL, "Bash", "{\"command\":\"deploy prod\"}");
    assert_int_equal (r.status, 0);
    assert_non_null (strstr (r.out, "\"permissionDecision\":\"ask\""));
    assert_non_null (strstr (r.out, "Lighthouse escalate to ops (rule ask-deploy)"));
    hookrun_free (&r);
    //  defer: exit 0 and nothing at all on stdout (Claude Code's own flow)
    r = s_hook (c->dir, env_file, NULL, "Bash", "{\"command\":\"make -j4\"}");
    assert_int_equal (r.status, 0);
    assert_string_equal (r.out, "");
    hookrun_free (&r);
    //  A read-only tool is decided like the others when Lighthouse answers
    r = s_hook (c->dir, env_file, NULL, "Write",
                "{\"file_path\":\"/etc/hosts\",\"content\":\"x\"}");
    assert_int_equal (r.status, 2);
    assert_non_null (strstr (r.err, "rule protect-tool"));
    hookrun_free (&r);

    //  lh validate: exit 0 allow, 2 deny, 3 escalate, 4 defer, 64 usage
    struct {
        const char *command;
        int status;
        const char *first;
    } cases[] = {{"ls -l", 0, "allow\n"},
                 {"rm -rf build", 2, "deny\n"},
                 {"deploy prod", 3, "escalate to ops\n"},
                 {"make -j4", 4, "defer\n"}};
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        const char *args[] = {"--env",     env_file,         "validate", "--tool",  "Bash",
                              "--command", cases[i].command, "--cwd",    "/work/p", NULL};
        r = s_lh (c->dir, args, NULL, NULL, 0);
        assert_int_equal (r.status, cases[i].status);
        assert_true (strncmp (r.out, cases[i].first, strlen (cases[i].first)) == 0);
        hookrun_free (&r);
    }
    const char *json_args[] = {"--env",     env_file,   "validate", "--tool", "Bash",
                               "--command", "make -j4", "--json",   NULL};
    r = s_lh (c->dir, json_args, NULL, NULL, 0);
    assert_int_equal (r.status, 4);
    assert_non_null (strstr (r.out, "\"decision\": \"defer\""));
    hookrun_free (&r);
    const char *usage[] = {"--env", env_file, "validate", "--tool", "Bash", NULL};
    r = s_lh (c->dir, usage, NULL, NULL, 0);
    assert_int_equal (r.status, 64);
    hookrun_free (&r);
    const char *bad_input[] = {"--env", env_file,  "validate", "--tool",
                               "Write", "--input", "[1]",      NULL};
    r = s_lh (c->dir, bad_input, NULL, NULL, 0);
    assert_int_equal (r.status, 64);
    assert_non_null (strstr (r.err, "must be a JSON object"));
    hookrun_free (&r);
    cluster_destroy (&c);
}

//  A Write of size bytes of content to path, as tool_input JSON.
static char *
s_big_write (const char *path, size_t size)
{
    char *input = (char *) malloc (size + 256);
    int n = snprintf (input, 256, "{\"file_path\":\"%s\",\"content\":\"", path);
    for (size_t i = 0; i < size; i++)
        input[n + i] = (char) ('a' + i % 26);
    strcpy (input + n + size, "\"}");
    return input;
}

static void
test_large_write (void **state)
{
    (void) state;
    //  The shipped policy: a 2 MiB write is judged by its path, never timed out
    cluster_t *c = cluster_new ("    validate\n", NULL);
    cluster_start_validator (c, LH_DEFAULT_POLICY);
    const char *env_file = hookrun_env_file (c, "agent-1");
#ifdef LH_SANITIZED
    //  The default deadline holds in normal builds; the sanitizers slow 2 MiB
    //  of JSON, msgpack and redaction past it on a loaded machine
    const char *env[] = {"CLAUDE_PROJECT_DIR=/work/p", "LH_HOOK_TIMEOUT_MS=20000", NULL};
#else
    const char *env[] = {"CLAUDE_PROJECT_DIR=/work/p", NULL};
#endif
    char *project = s_big_write ("/work/p/data/big.txt", 2 * 1024 * 1024);
    hookrun_t r = s_hook (c->dir, env_file, env, "Write", project);
    assert_null (strstr (r.err, "could not decide"));
    assert_int_equal (r.status, 0);
    assert_true (streq (r.out, "") || strstr (r.out, "\"permissionDecision\":\"allow\""));
    hookrun_free (&r);
    char *protected = s_big_write ("/etc/passwd", 2 * 1024 * 1024);
    r = s_hook (c->dir, env_file, env, "Write", protected);
    assert_int_equal (r.status, 2);
    assert_non_null (strstr (r.err, "Lighthouse deny"));
    assert_null (strstr (r.err, "could not decide"));
    hookrun_free (&r);
    //  lh validate --input @FILE judges it the same way
    char path[512];
    snprintf (path, sizeof (path), "%s/big.json", c->dir);
    hookrun_write (path, project, strlen (project));
    char at[520];
    snprintf (at, sizeof (at), "@%s", path);
    const char *args[] = {"--env",   env_file, "validate", "--tool",  "Write",
                          "--input", at,       "--cwd",    "/work/p", NULL};
    r = s_lh (c->dir, args, NULL, NULL, 0);
    assert_true (r.status == 0 || r.status == 4);
    assert_non_null (strstr (r.out, "1 oversized field sent as size and SHA-256"));
    hookrun_free (&r);
    hookrun_write (path, protected, strlen (protected));
    r = s_lh (c->dir, args, NULL, NULL, 0);
    assert_int_equal (r.status, 2);
    hookrun_free (&r);
    free (project);
    free (protected);
    //  A MultiEdit of many large edits: the largest strings go first, the
    //  paths stay
    json_t *edits = json_array ();
    char *chunk = (char *) malloc (200 * 1024 + 1);
    memset (chunk, 'q', 200 * 1024);
    chunk[200 * 1024] = 0;
    for (int i = 0; i < 6; i++)
        json_array_append_new (edits,
                               json_pack ("{s:s,s:s}", "old_string", chunk, "new_string", "short"));
    free (chunk);
    json_t *multi = json_pack ("{s:s,s:o}", "file_path", "/etc/sudoers", "edits", edits);
    char *text = json_dumps (multi, JSON_COMPACT);
    json_decref (multi);
    r = s_hook (c->dir, env_file, env, "MultiEdit", text);
    free (text);
    assert_int_equal (r.status, 2);
    assert_non_null (strstr (r.err, "Lighthouse deny"));
    hookrun_free (&r);
    cluster_destroy (&c);
}

static void
test_forwards_context (void **state)
{
    (void) state;
    cluster_t *c = cluster_new ("    validate\n", NULL);
    fake_t fake;
    s_fake_start (&fake, c, FAKE_ALLOW);
    const char *env_file = hookrun_env_file (c, "agent-1");
    const char *env[] = {"CLAUDE_PROJECT_DIR=/work/p", NULL};
    size_t size = 2 * 1024 * 1024;
    char *input = s_big_write ("/work/p/big.txt", size);
    hookrun_t r = s_hook (c->dir, env_file, env, "Write", input);
    assert_int_equal (r.status, 0);
    assert_non_null (strstr (r.out, "\"permissionDecision\":\"allow\""));
    hookrun_free (&r);
    //  What validate was asked
    pthread_mutex_lock (&fake.lock);
    json_t *body = json_loads (fake.last, 0, NULL);
    assert_string_equal (fake.agent, "agent-1");
    pthread_mutex_unlock (&fake.lock);
    assert_non_null (body);
    assert_string_equal (json_string_value (json_object_get (body, "tool")), "Write");
    assert_string_equal (json_string_value (json_object_get (body, "cwd")), "/work/p");
    assert_string_equal (json_string_value (json_object_get (body, "home")), "/home/dev");
    assert_string_equal (json_string_value (json_object_get (body, "project")), "/work/p");
    assert_string_equal (json_string_value (json_object_get (body, "session")), "sess-42");
    assert_string_equal (json_string_value (json_object_get (body, "tool_use_id")), "toolu_01ABC");
    assert_string_equal (json_string_value (json_object_get (body, "permission_mode")), "default");
    json_t *sent = json_object_get (body, "input");
    assert_string_equal (json_string_value (json_object_get (sent, "file_path")),
                         "/work/p/big.txt");
    //  The content became its size and SHA-256
    const char *content = strstr (input, "\"content\":\"") + 11;
    uint8_t hash[crypto_hash_sha256_BYTES];
    char hex[2 * crypto_hash_sha256_BYTES + 1], marker[160];
    crypto_hash_sha256 (hash, (const uint8_t *) content, size);
    sodium_bin2hex (hex, sizeof (hex), hash, sizeof (hash));
    snprintf (marker, sizeof (marker), "[lighthouse: %zu bytes not sent, sha256 %s]", size, hex);
    assert_string_equal (json_string_value (json_object_get (sent, "content")), marker);
    json_decref (body);
    free (input);
    //  Context that is not a short string is left out, never cut
    char *long_id = (char *) malloc (400);
    memset (long_id, 'x', 399);
    long_id[399] = 0;
    char *json = NULL;
    assert_true (asprintf (&json,
                           "{\"session_id\":7,\"cwd\":\"/work/p\",\"permission_mode\":\"plan\","
                           "\"tool_name\":\"Bash\",\"tool_input\":{\"command\":\"ls\"},"
                           "\"tool_use_id\":\"%s\"}",
                           long_id) > 0);
    free (long_id);
    const char *args[] = {"--env", env_file, "hook", NULL};
    r = s_lh (c->dir, args, NULL, json, strlen (json));
    free (json);
    assert_int_equal (r.status, 0);
    hookrun_free (&r);
    pthread_mutex_lock (&fake.lock);
    body = json_loads (fake.last, 0, NULL);
    pthread_mutex_unlock (&fake.lock);
    assert_null (json_object_get (body, "session"));
    assert_null (json_object_get (body, "tool_use_id"));
    assert_string_equal (json_string_value (json_object_get (body, "permission_mode")), "plan");
    assert_string_equal (
        json_string_value (json_object_get (json_object_get (body, "input"), "command")), "ls");
    json_decref (body);
    s_fake_stop (&fake);
    cluster_destroy (&c);
}

static void
test_validator_accepts_context (void **state)
{
    (void) state;
    //  The real validator takes the new optional fields (and decides as without them)
    cluster_t *c = s_cluster_with_policy (s_test_policy);
    lh_reply_t *reply =
        cluster_call (c, c->agent, "validate",
                      "{\"tool\":\"Bash\",\"input\":{\"command\":\"ls\"},"
                      "\"cwd\":\"/work/p\",\"session\":\"s1\","
                      "\"tool_use_id\":\"toolu_1\",\"permission_mode\":\"default\"}");
    assert_true (lh_reply_ok (reply));
    assert_true (codec_str_eq (codec_map_get (lh_reply_root (reply), "decision"), "allow"));
    lh_reply_destroy (&reply);
    cluster_destroy (&c);
}

//  --------------------------------------------------------------------------
//  lh hook --agent: each agent's documented contract, byte for byte

#define PRE_ANSWER(decision)                                                                       \
    "{\"hookSpecificOutput\":{\"hookEventName\":\"PreToolUse\",\"permissionDecision\":\"" decision \
    "\",\"permissionDecisionReason\":\"%R\"}}\n"
#define GEMINI_DENY  "{\"decision\":\"deny\",\"reason\":\"%R\"}\n"
#define CURSOR_DENY  "{\"permission\":\"deny\",\"user_message\":\"%R\",\"agent_message\":\"%R\"}\n"
#define COPILOT_DENY "{\"permissionDecision\":\"deny\",\"permissionDecisionReason\":\"%R\"}\n"
#define NO_ASK_TAIL                                                                                \
    " hooks cannot ask you, so it is blocked: to approve it, run it yourself, or have the "        \
    "Lighthouse policy allow it"

//  An agent, its shell payload (%C the command; cwd /work/p) as its docs
//  show it, and its answers (%R the reason) with their exit status.
typedef struct {
    const char *name;
    const char *label; //  NULL when the agent can ask
    const char *shell;
    const char *allow, *deny, *escalate, *defer, *block;
    int allow_status, deny_status, escalate_status, block_status;
} agent_case_t;

static const agent_case_t s_agents[] = {
    {"claude", NULL,
     "{\"session_id\":\"sess-42\",\"transcript_path\":\"/tmp/t.jsonl\",\"cwd\":\"/work/p\","
     "\"permission_mode\":\"default\",\"hook_event_name\":\"PreToolUse\",\"tool_name\":\"Bash\","
     "\"tool_input\":{\"command\":\"%C\",\"description\":\"d\"},\"tool_use_id\":\"toolu_01ABC\"}",
     PRE_ANSWER ("allow"), PRE_ANSWER ("deny"), PRE_ANSWER ("ask"), "", PRE_ANSWER ("deny"), 0, 2,
     0, 2},
    {"codex", "Codex CLI",
     "{\"session_id\":\"019a-codex\",\"turn_id\":\"t-1\",\"transcript_path\":null,"
     "\"cwd\":\"/work/p\",\"hook_event_name\":\"PreToolUse\",\"model\":\"gpt-5-codex\","
     "\"permission_mode\":\"default\",\"tool_name\":\"Bash\",\"tool_use_id\":\"call_1\","
     "\"tool_input\":{\"command\":\"%C\"}}",
     "", PRE_ANSWER ("deny"), PRE_ANSWER ("deny"), "", PRE_ANSWER ("deny"), 0, 2, 2, 2},
    {"gemini", "Gemini CLI",
     "{\"session_id\":\"g-1\",\"transcript_path\":\"/tmp/g.json\",\"cwd\":\"/work/p\","
     "\"hook_event_name\":\"BeforeTool\",\"timestamp\":\"2026-01-01T00:00:00.000Z\","
     "\"tool_name\":\"run_shell_command\",\"tool_input\":{\"command\":\"%C\","
     "\"description\":\"d\"}}",
     "{\"decision\":\"allow\"}\n", GEMINI_DENY, GEMINI_DENY, "{}\n", GEMINI_DENY, 0, 2, 2, 2},
    {"cursor", NULL,
     "{\"conversation_id\":\"c-1\",\"generation_id\":\"gen-1\",\"model\":\"m\","
     "\"hook_event_name\":\"beforeShellExecution\",\"cursor_version\":\"1.7.2\","
     "\"workspace_roots\":[\"/work/p\"],\"user_email\":null,\"command\":\"%C\","
     "\"cwd\":\"/work/p\"}",
     "{\"permission\":\"allow\"}\n", CURSOR_DENY,
     "{\"permission\":\"ask\",\"user_message\":\"%R\",\"agent_message\":\"%R\"}\n", "", CURSOR_DENY,
     0, 0, 0, 0},
    {"copilot", "GitHub Copilot CLI",
     "{\"timestamp\":1704614600000,\"cwd\":\"/work/p\",\"toolName\":\"bash\","
     "\"toolArgs\":\"{\\\"command\\\":\\\"%C\\\",\\\"description\\\":\\\"d\\\"}\"}",
     "", COPILOT_DENY, COPILOT_DENY, "", COPILOT_DENY, 0, 0, 0, 0},
};

//  template with every %<key> replaced by value (a new string)
static char *
s_subst (const char *template, char key, const char *value)
{
    size_t size = strlen (template) + 1, n = 0;
    for (const char *p = template; *p; p++)
        if (p[0] == '%' && p[1] == key)
            size += strlen (value);
    char *text = (char *) malloc (size);
    assert_non_null (text);
    for (const char *p = template; *p; p++)
        if (p[0] == '%' && p[1] == key) {
            memcpy (text + n, value, strlen (value));
            n += strlen (value);
            p++;
        } else
            text[n++] = *p;
    text[n] = 0;
    return text;
}

//  lh [--env ENV_FILE] hook --agent AGENT with payload on stdin
static hookrun_t
s_agent_hook (const char *dir, const char *env_file, const char *const *env, const char *agent,
              const char *payload)
{
    const char *args[] = {"--env", env_file, "hook", "--agent", agent, NULL};
#ifdef LH_SANITIZED
    //  Without an env of its own, a case checks decisions, not deadlines:
    //  the sanitizers are slow
    static const char *const slow[] = {"LH_HOOK_TIMEOUT_MS=20000", NULL};
    if (!env)
        env = slow;
#endif
    return s_lh (dir, args, env, payload, strlen (payload));
}

static hookrun_t
s_agent_shell (const char *dir, const char *env_file, const char *const *env,
               const agent_case_t *agent, const char *command)
{
    char *payload = s_subst (agent->shell, 'C', command);
    hookrun_t r = s_agent_hook (dir, env_file, env, agent->name, payload);
    free (payload);
    return r;
}

//  stdout is template with reason, byte for byte, and the exit status is status
static void
s_assert_answer (hookrun_t *r, const char *agent, const char *template, const char *reason,
                 int status)
{
    char *expected = s_subst (template, 'R', reason);
    if (r->status != status || strcmp (r->out, expected) != 0)
        fail_msg ("%s: expected exit %d and\n%s\ngot exit %d and\n%s\nstderr: %s", agent, status,
                  expected, r->status, r->out, r->err);
    free (expected);
}

//  The agent's block answer, the reason being what stderr says (each agent
//  gets it there), naming what and failing closed.
static void
s_assert_agent_blocked (hookrun_t *r, const agent_case_t *agent, const char *what)
{
    char reason[2048];
    snprintf (reason, sizeof (reason), "%s", r->err);
    size_t len = strlen (reason);
    if (len > 0 && reason[len - 1] == '\n')
        reason[len - 1] = 0;
    if (!strstr (reason, "failing closed") || !strstr (reason, what) || strchr (reason, '\n'))
        fail_msg ("%s: expected a fail-closed reason naming '%s'; got exit %d\nstdout: %s\n"
                  "stderr: %s",
                  agent->name, what, r->status, r->out, r->err);
    s_assert_answer (r, agent->name, agent->block, reason, agent->block_status);
}

static void
test_agents_decisions (void **state)
{
    (void) state;
    cluster_t *c = s_cluster_with_policy (s_test_policy);
    const char *env_file = hookrun_env_file (c, "agent-1");
    for (size_t i = 0; i < sizeof (s_agents) / sizeof (s_agents[0]); i++) {
        const agent_case_t *a = &s_agents[i];
        char escalate[512];
        snprintf (escalate, sizeof (escalate), "%s%s%s%s",
                  "Lighthouse escalate to ops (rule ask-deploy): deploys need a person",
                  a->label ? "; " : "", a->label ? a->label : "", a->label ? NO_ASK_TAIL : "");
        hookrun_t r = s_agent_shell (c->dir, env_file, NULL, a, "ls -l");
        s_assert_answer (&r, a->name, a->allow, "Lighthouse allow (rule ok-ls): listing",
                         a->allow_status);
        hookrun_free (&r);
        r = s_agent_shell (c->dir, env_file, NULL, a, "rm -f x");
        s_assert_answer (&r, a->name, a->deny, "Lighthouse deny (rule no-rm): no deletes here",
                         a->deny_status);
        assert_string_equal (r.err, "Lighthouse deny (rule no-rm): no deletes here\n");
        hookrun_free (&r);
        r = s_agent_shell (c->dir, env_file, NULL, a, "deploy prod");
        s_assert_answer (&r, a->name, a->escalate, escalate, a->escalate_status);
        hookrun_free (&r);
        r = s_agent_shell (c->dir, env_file, NULL, a, "make -j4");
        s_assert_answer (&r, a->name, a->defer, "", 0);
        assert_string_equal (r.err, "");
        hookrun_free (&r);
    }
    //  Other tools, mapped to Lighthouse's: a Write to a protected file
    struct {
        const char *agent, *payload, *expected;
        int status;
    } writes[] = {
        {"gemini",
         "{\"session_id\":\"g-1\",\"cwd\":\"/work/p\",\"hook_event_name\":\"BeforeTool\","
         "\"tool_name\":\"write_file\",\"tool_input\":{\"file_path\":\"/etc/hosts\","
         "\"content\":\"x\"}}",
         "{\"decision\":\"deny\",\"reason\":\"Lighthouse deny (rule protect-tool): writes a "
         "protected file\"}\n",
         2},
        {"copilot",
         "{\"timestamp\":1,\"cwd\":\"/work/p\",\"toolName\":\"create\","
         "\"toolArgs\":\"{\\\"path\\\":\\\"/etc/hosts\\\",\\\"file_text\\\":\\\"x\\\"}\"}",
         "{\"permissionDecision\":\"deny\",\"permissionDecisionReason\":\"Lighthouse deny (rule "
         "protect-tool): writes a protected file\"}\n",
         0},
        {"codex",
         "{\"session_id\":\"s\",\"cwd\":\"/work/p\",\"hook_event_name\":\"PreToolUse\","
         "\"tool_name\":\"Write\",\"tool_input\":{\"file_path\":\"/etc/hosts\",\"content\":\"x\"}}",
         PRE_ANSWER ("deny"), 2},
        //  Cursor's beforeReadFile answers permission only
        {"cursor",
         "{\"conversation_id\":\"c-1\",\"hook_event_name\":\"beforeReadFile\","
         "\"workspace_roots\":[\"/work/p\"],\"file_path\":\"/work/p/a.c\",\"content\":\"int x;\","
         "\"attachments\":[]}",
         "", 0},
    };
    for (size_t i = 0; i < sizeof (writes) / sizeof (writes[0]); i++) {
        hookrun_t r = s_agent_hook (c->dir, env_file, NULL, writes[i].agent, writes[i].payload);
        s_assert_answer (&r, writes[i].agent, writes[i].expected,
                         "Lighthouse deny (rule protect-tool): writes a protected file",
                         writes[i].status);
        hookrun_free (&r);
    }
    cluster_destroy (&c);
}

//  The validate request each agent's payload becomes
static void
test_agents_requests (void **state)
{
    (void) state;
    cluster_t *c = cluster_new ("    validate\n", NULL);
    fake_t fake;
    s_fake_start (&fake, c, FAKE_ALLOW);
    const char *env_file = hookrun_env_file (c, "agent-1");
    struct {
        const char *agent, *payload, *request;
    } cases[] = {
        {"codex",
         "{\"session_id\":\"s-1\",\"turn_id\":\"t\",\"cwd\":\"/work/p\",\"hook_event_name\":"
         "\"PreToolUse\",\"tool_name\":\"mcp__github__create_issue\",\"tool_use_id\":\"call_9\","
         "\"tool_input\":{\"title\":\"t\"}}",
         "{\"tool\":\"mcp__github__create_issue\",\"input\":{\"title\":\"t\"},\"cwd\":\"/work/p\","
         "\"home\":\"/home/dev\",\"session\":\"s-1\",\"tool_use_id\":\"call_9\"}"},
        {"gemini",
         "{\"session_id\":\"g-1\",\"cwd\":\"/work/p\",\"hook_event_name\":\"BeforeTool\","
         "\"tool_name\":\"read_file\",\"tool_input\":{\"absolute_path\":\"/work/p/a.c\"}}",
         "{\"tool\":\"Read\",\"input\":{\"file_path\":\"/work/p/a.c\"},\"cwd\":\"/work/p\","
         "\"home\":\"/home/dev\",\"session\":\"g-1\"}"},
        {"gemini",
         "{\"session_id\":\"g-1\",\"cwd\":\"/work/p\",\"hook_event_name\":\"BeforeTool\","
         "\"tool_name\":\"query\",\"tool_input\":{\"sql\":\"select 1\"},\"mcp_context\":"
         "{\"server_name\":\"db\",\"tool_name\":\"query\",\"command\":\"npx\"}}",
         "{\"tool\":\"mcp__db__query\",\"input\":{\"sql\":\"select 1\"},\"cwd\":\"/work/p\","
         "\"home\":\"/home/dev\",\"session\":\"g-1\"}"},
        {"cursor",
         "{\"conversation_id\":\"c-1\",\"generation_id\":\"gen-1\",\"hook_event_name\":"
         "\"beforeMCPExecution\",\"workspace_roots\":[\"/work/p\"],\"tool_name\":\"query\","
         "\"tool_input\":\"{\\\"sql\\\":\\\"select 1\\\"}\",\"url\":\"http://localhost:3000\"}",
         "{\"tool\":\"mcp__unknown__query\",\"input\":{\"sql\":\"select 1\"},\"cwd\":\"/work/p\","
         "\"home\":\"/home/dev\",\"project\":\"/work/p\",\"session\":\"c-1\"}"},
        {"cursor",
         "{\"conversation_id\":\"c-1\",\"hook_event_name\":\"beforeShellExecution\","
         "\"workspace_roots\":[\"/work/p\"],\"command\":\"ls\",\"cwd\":\"/work/p/src\"}",
         "{\"tool\":\"Bash\",\"input\":{\"command\":\"ls\"},\"cwd\":\"/work/p/src\","
         "\"home\":\"/home/dev\",\"project\":\"/work/p\",\"session\":\"c-1\"}"},
        {"copilot",
         "{\"timestamp\":1,\"cwd\":\"/work/p\",\"toolName\":\"edit\",\"toolArgs\":"
         "\"{\\\"path\\\":\\\"/work/p/a.c\\\",\\\"old_str\\\":\\\"a\\\",\\\"new_str\\\":"
         "\\\"b\\\"}\"}",
         "{\"tool\":\"Edit\",\"input\":{\"file_path\":\"/work/p/a.c\",\"old_string\":\"a\","
         "\"new_string\":\"b\"},\"cwd\":\"/work/p\",\"home\":\"/home/dev\"}"},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        hookrun_t r = s_agent_hook (c->dir, env_file, NULL, cases[i].agent, cases[i].payload);
        hookrun_free (&r);
        pthread_mutex_lock (&fake.lock);
        json_t *body = json_loads (fake.last, 0, NULL);
        pthread_mutex_unlock (&fake.lock);
        json_t *expected = json_loads (cases[i].request, 0, NULL);
        assert_non_null (expected);
        json_object_del (body, "id");
        if (!json_equal (body, expected)) {
            char *got = json_dumps (body, JSON_COMPACT);
            fail_msg ("%s: expected the request\n%s\ngot\n%s", cases[i].agent, cases[i].request,
                      got);
        }
        json_decref (body);
        json_decref (expected);
    }
    s_fake_stop (&fake);
    cluster_destroy (&c);
}

//  Every failure is the agent's block answer
static void
test_agents_fail_closed (void **state)
{
    (void) state;
    fixture_t f;
    s_fixture (&f);
    const char *env[] = {"LH_HOOK_TIMEOUT_MS=300", NULL};
    const char *refused = s_env_file (&f, NULL, NULL, NULL);
    size_t big = 16 * 1024 * 1024 + 1;
    char *oversize = (char *) malloc (big);
    assert_non_null (oversize);
    memset (oversize, ' ', big);
    for (size_t i = 0; i < sizeof (s_agents) / sizeof (s_agents[0]); i++) {
        const agent_case_t *a = &s_agents[i];
        //  No reply
        hookrun_t r = s_agent_shell (f.dir, refused, env, a, "ls");
        s_assert_agent_blocked (&r, a, "no reply within 300 ms");
        hookrun_free (&r);
        //  Bad stdin, oversize stdin, a payload of another shape
        r = s_agent_hook (f.dir, refused, env, a->name, "{\"tool_name\":");
        s_assert_agent_blocked (&r, a, "the hook input is not JSON");
        hookrun_free (&r);
        const char *args[] = {"--env", refused, "hook", "--agent", a->name, NULL};
        r = s_lh (f.dir, args, env, oversize, big);
        s_assert_agent_blocked (&r, a, "more than 16 MiB");
        hookrun_free (&r);
        r = s_agent_hook (f.dir, refused, env, a->name, "{\"something\":\"else\"}");
        s_assert_agent_blocked (&r, a,
                                streq (a->name, "cursor")    ? "not (no hook_event_name)"
                                : streq (a->name, "copilot") ? "no toolName string"
                                                             : "no tool_name string");
        hookrun_free (&r);
        //  A payload without an absolute cwd
        char *payload = s_subst (a->shell, 'C', "ls");
        char *relative = strstr (payload, "/work/p");
        while (relative) {
            relative[0] = 'w';
            relative = strstr (payload, "/work/p");
        }
        r = s_agent_hook (f.dir, refused, env, a->name, payload);
        free (payload);
        s_assert_agent_blocked (&r, a, "no absolute cwd");
        hookrun_free (&r);
    }
    free (oversize);
    //  An unknown or missing --agent: Claude Code's block (exit 2, deny JSON)
    char *payload = s_subst (s_agents[0].shell, 'C', "ls");
    hookrun_t r = s_agent_hook (f.dir, refused, env, "aider", payload);
    s_assert_agent_blocked (&r, &s_agents[0], "unknown --agent 'aider'");
    hookrun_free (&r);
    const char *missing[] = {"--env", refused, "hook", "--agent", NULL};
    r = s_lh (f.dir, missing, env, payload, strlen (payload));
    s_assert_agent_blocked (&r, &s_agents[0], "--agent needs a name");
    hookrun_free (&r);
    free (payload);
    //  --help describes --agent and is no "go ahead" for anyone
    const char *help[] = {"hook", "--agent", "codex", "--help", NULL};
    r = s_lh (f.dir, help, NULL, NULL, 0);
    assert_int_equal (r.status, 2);
    assert_non_null (strstr (r.out, "--agent claude|codex|gemini|cursor|copilot"));
    hookrun_free (&r);
    s_fixture_done (&f);
}

//  Error and malformed replies, a timeout and a signal, for every agent
static void
test_agents_fail_closed_cluster (void **state)
{
    (void) state;
    cluster_t *c = cluster_new ("    validate\n", NULL);
    const char *env_file = hookrun_env_file (c, "agent-1");
    const char *env[] = {"LH_HOOK_TIMEOUT_MS=500", NULL};
    char in_path[512];
    for (size_t i = 0; i < sizeof (s_agents) / sizeof (s_agents[0]); i++) {
        const agent_case_t *a = &s_agents[i];
        //  No worker: the deadline passes
        hookrun_t r = s_agent_shell (c->dir, env_file, env, a, "ls");
        s_assert_agent_blocked (&r, a, "no reply within 500 ms");
        hookrun_free (&r);
        //  A signal while waiting: the answer prepared for it
        char *payload = s_subst (a->shell, 'C', "ls");
        hookrun_stdin (c->dir, payload, strlen (payload), in_path, sizeof (in_path));
        free (payload);
        const char *args[] = {"--env", env_file, "hook", "--agent", a->name, NULL};
        const char *long_env[] = {"LH_HOOK_TIMEOUT_MS=20000", NULL};
        int64_t start = zclock_mono ();
        pid_t pid = hookrun_spawn (&s_lh_prog, c->dir, args, long_env, in_path, -1);
        zclock_sleep (400);
        kill (pid, SIGTERM);
        r = (hookrun_t){0};
        hookrun_collect (c->dir, pid, start, &r);
        assert_non_null (strstr (r.err, "stopped by signal 15; failing closed: Bash is blocked"));
        s_assert_answer (&r, a->name, a->block,
                         "Lighthouse could not decide: the hook was stopped or ran out of time",
                         a->block_status);
        hookrun_free (&r);
    }
    fake_mode_t modes[] = {FAKE_ERROR, FAKE_NO_DECISION};
    const char *whats[] = {"validate answered internal: policy engine exploded",
                           "validate sent no known decision"};
    for (size_t m = 0; m < 2; m++) {
        fake_t fake;
        s_fake_start (&fake, c, modes[m]);
        for (size_t i = 0; i < sizeof (s_agents) / sizeof (s_agents[0]); i++) {
            hookrun_t r = s_agent_shell (c->dir, env_file, NULL, &s_agents[i], "ls");
            s_assert_agent_blocked (&r, &s_agents[i], whats[m]);
            hookrun_free (&r);
        }
        s_fake_stop (&fake);
    }
    cluster_destroy (&c);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_env_file_missing),
        cmocka_unit_test (test_env_file_unreadable),
        cmocka_unit_test (test_env_file_bad_syntax),
        cmocka_unit_test (test_no_broker_endpoint),
        cmocka_unit_test (test_bad_endpoint),
        cmocka_unit_test (test_cert_missing),
        cmocka_unit_test (test_cert_unreadable),
        cmocka_unit_test (test_cert_malformed),
        cmocka_unit_test (test_broker_key_malformed),
        cmocka_unit_test (test_broker_key_without_cert),
        cmocka_unit_test (test_bad_timeout_setting),
        cmocka_unit_test (test_bad_arguments),
        cmocka_unit_test (test_stdin_not_json),
        cmocka_unit_test (test_stdin_too_large),
        cmocka_unit_test (test_stdin_missing_fields),
        cmocka_unit_test (test_input_unencodable),
        cmocka_unit_test (test_out_of_memory),
        cmocka_unit_test (test_stdin_stalled),
        cmocka_unit_test (test_connect_refused),
        cmocka_unit_test_teardown (test_timeout_no_validator, cluster_teardown),
        cmocka_unit_test_teardown (test_signal_terminates, cluster_teardown),
        cmocka_unit_test_teardown (test_reply_error, cluster_teardown),
        cmocka_unit_test_teardown (test_reply_malformed, cluster_teardown),
        cmocka_unit_test_teardown (test_reply_unknown_decision, cluster_teardown),
        cmocka_unit_test_teardown (test_decisions, cluster_teardown),
        cmocka_unit_test_teardown (test_large_write, cluster_teardown),
        cmocka_unit_test_teardown (test_forwards_context, cluster_teardown),
        cmocka_unit_test_teardown (test_validator_accepts_context, cluster_teardown),
        cmocka_unit_test (test_agents_fail_closed),
        cmocka_unit_test_teardown (test_agents_decisions, cluster_teardown),
        cmocka_unit_test_teardown (test_agents_requests, cluster_teardown),
        cmocka_unit_test_teardown (test_agents_fail_closed_cluster, cluster_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
