/*  test_web -- the console (lh-web) over a real cluster: broker, three
    integrity replicas, a logging validator, lh-expert and lh-cache, all
    over CURVE on loopback. The C side starts the cluster and lh-web, with
    reviewer tokens made by `lh review token`, a copy of the pages holding a
    symlink out of the directory, and a drills directory with a hostile
    report; the Python scripts then drive it:

      test_http.py     HTTP-level: hosts, auth, CSRF, origins, sizes,
                       malformed requests, traversal, the API end to end
                       (a verdict given as the reviewer releases a waiting
                       lh validate), sessions ending
      test_browser.py  a real headless chromium (selenium): each page, a
                       live decision, hostile command text inert, a verdict
                       from the page, a proof checked by the page and a
                       tampered one rejected, login and logout

    The browser test exits 77 where no browser can run: the test is then
    skipped with its message. lh-web must stop cleanly on SIGTERM (exit 0)
    after each run, so a sanitizer report from it fails the test. */
#include "harness.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void
s_run (const char *command)
{
    int rc = system (command);
    if (rc != 0)
        fprintf (stderr, "command failed (%d): %s\n", rc, command);
    assert_int_equal (rc, 0);
}

//  Copies the pages and adds what an attacker would plant: a link out
static void
s_static_copy (const char *dir)
{
    char cmd[4096];
    snprintf (cmd, sizeof (cmd),
              "mkdir -p %s && cp %s/*.html %s/*.js %s/*.css %s/ && "
              "ln -sf /etc/passwd %s/passwd.js",
              dir, LH_WEB_STATIC, LH_WEB_STATIC, LH_WEB_STATIC, dir, dir);
    s_run (cmd);
}

//  Drill reports: a plain one, a hostile HTML one, and a link out
static void
s_drills (const char *dir)
{
    char cmd[4096];
    snprintf (cmd, sizeof (cmd),
              "mkdir -p %s && printf '# kill-broker\\nacked 10, lost 0\\n' > %s/kill-broker.md && "
              "printf '<script>parent.__pwned=3</script>' > %s/evil.html && "
              "ln -sf /etc/shadow %s/shadow.md",
              dir, dir, dir, dir);
    s_run (cmd);
}

//  Waits for lh-web's "serving" line and returns the port it names
static int
s_web_port (const char *log_path)
{
    for (int i = 0; i < 200; i++) {
        FILE *file = fopen (log_path, "r");
        char line[1024];
        while (file && fgets (line, sizeof (line), file)) {
            char *at = strstr (line, " port=");
            if (strstr (line, "serving") && at) {
                fclose (file);
                return atoi (at + 6);
            }
        }
        if (file)
            fclose (file);
        zclock_sleep (50);
    }
    return -1;
}

typedef struct {
    cluster_t *cluster;
    pid_t web;
    char env[512];
    char web_log[512];
} console_t;

static void
s_console_start (console_t *self)
{
    cluster_t *c = cluster_new ("    validate\n        timeout = 30000\n"
                                "    expert\n        timeout = 60000\n"
                                "    cache\n    events\n    events.read\n",
                                NULL);
    self->cluster = c;
    cluster_start_integrity (c, 3, NULL);
    cluster_start_cache (c, NULL);
    cluster_start_expert (c, NULL);
    cluster_start_validator_logging (c, LH_DEFAULT_POLICY, NULL);
    cluster_keygen (c, "web", "admin");
    cluster_keygen (c, "alice", "expert");
    cluster_keygen (c, "bob", "expert");

    char dir[300], tokens[400], static_dir[400], drills[400], cert[400], alice[400], cmd[2048];
    snprintf (dir, sizeof (dir), "%s", launcher_dir (c->launcher));
    snprintf (tokens, sizeof (tokens), "%s/web-tokens.zpl", dir);
    snprintf (static_dir, sizeof (static_dir), "%s/static", dir);
    snprintf (drills, sizeof (drills), "%s/drills", dir);
    s_static_copy (static_dir);
    s_drills (drills);
    launcher_cert_path (c->launcher, "alice", alice, sizeof (alice));
    snprintf (cmd, sizeof (cmd), "%s review token alice --tokens %s --cert %s > %s/alice.token",
              LH_CLI_BIN, tokens, alice, dir);
    s_run (cmd);
    snprintf (cmd, sizeof (cmd), "%s review token bob --tokens %s --view-only > %s/bob.token",
              LH_CLI_BIN, tokens, dir);
    s_run (cmd);

    launcher_cert_path (c->launcher, "web", cert, sizeof (cert));
    char keys[400];
    launcher_integrity_path (c->launcher, "keys", keys, sizeof (keys));
    snprintf (self->web_log, sizeof (self->web_log), "%s/web.log", dir);
    char *argv[] = {LH_WEB_BIN, "--listen",      "127.0.0.1:0", "--broker", c->frontend, "--pub",
                    c->pub,     "--broker-key",  c->broker_key, "--cert",   cert,        "--tokens",
                    tokens,     "--static",      static_dir,    "--keys",   keys,        "--drills",
                    drills,     "--stream-rate", "1000",        NULL};
    self->web = launcher_spawn (c->launcher, "web", argv, self->web_log, -1, -1);
    assert_true (self->web > 0);
    int port = s_web_port (self->web_log);
    if (port <= 0)
        launcher_log_tail (self->web_log, 20);
    assert_true (port > 0);

    //  What the scripts need, one NAME=VALUE a line
    char agent[400], admin[400];
    launcher_cert_path (c->launcher, "agent-1", agent, sizeof (agent));
    launcher_cert_path (c->launcher, "admin", admin, sizeof (admin));
    snprintf (self->env, sizeof (self->env), "%s/console.env", dir);
    FILE *env = fopen (self->env, "w");
    assert_non_null (env);
    fprintf (env,
             "URL=http://127.0.0.1:%d\nPORT=%d\nDIR=%s\nLH=%s\nTOKENS=%s\nALICE_CERT=%s\n"
             "ALICE_TOKEN_FILE=%s/alice.token\nBOB_TOKEN_FILE=%s/bob.token\n"
             "LH_BROKER=%s\nLH_BROKER_KEY=%s\nAGENT_CERT=%s\nADMIN_CERT=%s\n"
             "STATIC=%s\nWEB_LOG=%s\n",
             port, port, dir, LH_CLI_BIN, tokens, alice, dir, dir, c->frontend, c->broker_key,
             agent, admin, static_dir, self->web_log);
    fclose (env);
}

//  Runs a script against the console; 77 means it could not run here
static int
s_script (console_t *self, const char *script)
{
    char cmd[1024];
    snprintf (cmd, sizeof (cmd), "/usr/bin/python3 %s/%s %s", LH_WEB_TESTS, script, self->env);
    int status = system (cmd);
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128;
}

static void
s_console_stop (console_t *self)
{
    //  A clean stop, streams and all: exit 0 (and no sanitizer report)
    int status = launcher_signal (self->cluster->launcher, self->web, SIGTERM);
    if (!(WIFEXITED (status) && WEXITSTATUS (status) == 0))
        launcher_log_tail (self->web_log, 30);
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    cluster_destroy (&self->cluster);
}

static void
test_http (void **state)
{
    (void) state;
    console_t console;
    s_console_start (&console);
    int rc = s_script (&console, "test_http.py");
    if (rc != 0)
        launcher_log_tail (console.web_log, 30);
    assert_int_equal (rc, 0);
    s_console_stop (&console);
}

static void
test_browser (void **state)
{
    (void) state;
    console_t console;
    s_console_start (&console);
    int rc = s_script (&console, "test_browser.py");
    s_console_stop (&console);
    if (rc == 77)
        skip ();
    assert_int_equal (rc, 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown (test_http, cluster_teardown),
        cmocka_unit_test_teardown (test_browser, cluster_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
