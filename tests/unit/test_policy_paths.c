/*  test_policy_paths -- the policy engine's path classification and the
    conditions that depend on it (nodes/validator/policy.c, POLICY.md
    "Paths" and "Rule conditions"), cmocka.

    Globs, variables and substitutions judged by every class they could
    reach; trailing wildcard components; leading variables; /proc magic
    links; symlinks on the real filesystem (a temporary directory under
    /tmp); URLs and process substitutions; "an allow needs certainty"
    (path, target, file, subcommand readings, commands run by path);
    not_flag, not_arg, when = no_command; defer; the empty input;
    policy_protect. A few cases run against nodes/validator/default.policy
    (LH_POLICY_FILE).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "jsonpack.h"
#include "policy.h"
#include "policy_test.h"

//  --------------------------------------------------------------------------
//  Helpers

static void
s_load_error (const char *text, const char *fragment)
{
    char err[512] = "";
    policy_t *policy = policy_load_text (text, "bad.policy", err, sizeof (err));
    if (policy) {
        policy_destroy (&policy);
        fail_msg ("loaded, expected an error with '%s':\n%s", fragment, text);
    }
    if (!strstr (err, fragment))
        fail_msg ("error '%s' lacks '%s'", err, fragment);
}

static policy_t *
s_load_default (void)
{
    char err[512];
    policy_t *p = policy_load (LH_POLICY_FILE, err, sizeof (err));
    if (!p)
        fail_msg ("%s", err);
    return p;
}

//  --------------------------------------------------------------------------
//  The class probe: one deny rule per class, `command = NAME`, `path =
//  NAME`. A deny needs only one candidate in the class, so the probes that
//  deny are exactly the classes the arguments could reach.

static const char *s_names[] = {"secrets", "keys", "envs", "procdev", "system",
                                "project", "temp", "home", "other",   "unknown"};
#define NCLASSES (sizeof (s_names) / sizeof (s_names[0]))
enum {
    SECRETS = 1 << 0,
    KEYS = 1 << 1,
    ENVS = 1 << 2,
    PROCDEV = 1 << 3,
    SYSTEM = 1 << 4,
    PROJ = 1 << 5,
    TEMP = 1 << 6,
    HOMEC = 1 << 7,
    OTHER = 1 << 8,
    UNKNOWN = 1 << 9
};

static policy_t *
s_probe_policy (void)
{
    static char text[8192];
    size_t o = (size_t) snprintf (text, sizeof (text),
                                  HEAD "class\n"
                                       "    secrets = \"~/.aws/** ~/.ssh/** /etc/shadow\"\n"
                                       "    keys = \"id_rsa\"\n"
                                       "    envs = \".env .env.*\"\n"
                                       "    procdev = \"/proc/** /dev/**\"\n"
                                       "    system = \"/etc/** /usr/**\"\n"
                                       "rule\n");
    for (size_t i = 0; i < NCLASSES; i++)
        o += (size_t) snprintf (text + o, sizeof (text) - o,
                                "    %s\n        command = %s\n        path = %s\n"
                                "        action = deny\n        reason = %s\n",
                                s_names[i], s_names[i], s_names[i], s_names[i]);
    assert_true (o < sizeof (text));
    return s_load (text);
}

static void
s_mask_text (unsigned mask, char *out, size_t size)
{
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < NCLASSES; i++)
        if (mask & (1u << i))
            o += (size_t) snprintf (out + o, size - o, "%s%s", o ? " " : "", s_names[i]);
    if (!o)
        snprintf (out, size, "(none)");
}

//  The classes the words reach: cmd holds '@' where the probe's command
//  name goes ("x=1; @ ~/$x"), else the probe name is put first
static unsigned
s_classes_ctx (const policy_t *p, const char *cmd, const ctx_t *ctx)
{
    unsigned mask = 0;
    for (size_t i = 0; i < NCLASSES; i++) {
        char line[1024];
        const char *at = strchr (cmd, '@');
        if (at)
            snprintf (line, sizeof (line), "%.*s%s%s", (int) (at - cmd), cmd, s_names[i], at + 1);
        else
            snprintf (line, sizeof (line), "%s %s", s_names[i], cmd);
        policy_decision_t d = s_bash_ctx (p, line, ctx);
        if (d.action == POLICY_DENY && strcmp (d.rule, s_names[i]) == 0)
            mask |= 1u << i;
        else if (d.action != POLICY_ALLOW)
            fail_msg ("%s: unexpected %s by '%s' (%s)", line, policy_action_name (d.action), d.rule,
                      d.reason);
    }
    return mask;
}

static unsigned
s_classes (const policy_t *p, const char *cmd)
{
    return s_classes_ctx (p, cmd, &s_ctx);
}

//  Exactly these classes
static void
s_classes_are (const policy_t *p, const char *cmd, unsigned expected)
{
    unsigned got = s_classes (p, cmd);
    if (got != expected) {
        char g[256], x[256];
        s_mask_text (got, g, sizeof (g));
        s_mask_text (expected, x, sizeof (x));
        fail_msg ("'%s' reaches {%s}, expected {%s}", cmd, g, x);
    }
}

//  At least these classes, and none of `never`
static void
s_classes_hold (const policy_t *p, const char *cmd, unsigned at_least, unsigned never)
{
    unsigned got = s_classes (p, cmd);
    if ((got & at_least) != at_least || (got & never)) {
        char g[256], x[256], n[256];
        s_mask_text (got, g, sizeof (g));
        s_mask_text (at_least, x, sizeof (x));
        s_mask_text (never, n, sizeof (n));
        fail_msg ("'%s' reaches {%s}, expected at least {%s} and none of {%s}", cmd, g, x, n);
    }
}

//  --------------------------------------------------------------------------
//  Globs, variables, substitutions

static void
test_glob_words_by_every_class (void **state)
{
    (void) state;
    policy_t *p = s_probe_policy ();
    //  literal paths: one class each (the first that matches)
    s_classes_are (p, "~/.aws/credentials", SECRETS);
    s_classes_are (p, "src/a.py", PROJ);
    s_classes_are (p, "src/.env.local", ENVS);
    s_classes_are (p, "/etc/passwd", SYSTEM);
    s_classes_are (p, "/etc/shadow", SECRETS);

    //  a glob reaches every class it could: ~/.a* could be ~/.aws, and a
    //  wildcard component starting with '.' could be '..' (unknown)
    s_classes_are (p, "~/.a*/credentials", SECRETS | HOMEC | UNKNOWN);
    s_classes_are (p, "~/.a?s/credentials", SECRETS | HOMEC | UNKNOWN);
    //  ... but a wildcard matches no leading '.' (bash's default): not a
    //  bracket either, so ~/[.]aws matches nothing at all (but could be ..)
    s_classes_are (p, "~/[.]aws/credentials", UNKNOWN);
    s_classes_are (p, "~/.b*/credentials", HOMEC | UNKNOWN);
    s_classes_are (p, "~/*/credentials", PROJ | HOMEC); //  ~/proj/credentials
    s_classes_are (p, "~/*/id_rsa", KEYS | PROJ | HOMEC);
    //  dotglob anywhere in the input lifts that
    s_classes_hold (p, "shopt -s dotglob; @ ~/*/credentials", SECRETS | HOMEC, 0);
    s_classes_hold (p, "GLOBIGNORE=x; @ ~/*/credentials", SECRETS | HOMEC, 0);
    s_classes_hold (p, "shopt -s dotglob; @ ~/[.]aws/credentials", SECRETS | UNKNOWN, 0);
    //  a variable or substitution inside a component: any text but /, and
    //  unknown (its value could hold ../..)
    s_classes_are (p, "~/.aws/credential${x}s", SECRETS | HOMEC | UNKNOWN);
    s_classes_are (p, "~/.aws/credential$(echo)s", SECRETS | HOMEC | UNKNOWN);
    s_classes_are (p, "~/.ss`echo h`/config", SECRETS | HOMEC | UNKNOWN);
    //  a run-time value read as one component may start with a dot
    s_classes_hold (p, "x=.aws; @ ~/$x/credentials", SECRETS, 0);
    s_classes_hold (p, "@ ~/\"$x\"/credentials", SECRETS | UNKNOWN, 0);
    s_classes_hold (p, "@ \"$HOME/${d}/credentials\"", SECRETS | UNKNOWN, 0);
    //  globs of the project stay project: *.py is no .env.*
    s_classes_are (p, "src/*.py", PROJ);
    s_classes_are (p, "*.py", PROJ);
    s_classes_are (p, "*.o", PROJ);
    s_classes_are (p, "src/.env*", ENVS | PROJ | UNKNOWN);
    s_classes_are (p, "src/*/x.c", PROJ);
    s_classes_are (p, "src/*", PROJ);
    //  a glob whose literal directory lies outside the built-in trees is
    //  also "other" (the engine does not prove that a class takes every
    //  path first: over-approximated, on the safe side)
    s_classes_are (p, "/etc/*.conf", SYSTEM | OTHER);
    s_classes_are (p, "/etc/sha*", SECRETS | SYSTEM | OTHER);
    s_classes_are (p, "/srv/*/x", OTHER);
    s_classes_are (p, "/tmp/*.log", TEMP);
    //  a glob directly under / could be any tree
    s_classes_hold (p, "/*/x", SYSTEM | OTHER | PROCDEV, SECRETS | PROJ | HOMEC);
    //  a quoted or escaped operator is literal text
    s_classes_are (p, "'~/.a*/credentials'", PROJ);
    s_classes_are (p, "~/'.a*'/credentials", HOMEC);
    s_classes_are (p, "~/.a\\*/credentials", HOMEC);
    policy_destroy (&p);

    //  the same as decisions of whole rules
    p = s_load ("policy\n    version = t\n    default = allow\n"
                "class\n"
                "    secrets = \"~/.aws/**\"\n"
                "    env = \".env.*\"\n"
                "rule\n"
                "    read-secrets\n"
                "        command = cat\n"
                "        path = \"secrets env\"\n"
                "        action = deny\n"
                "        reason = secret\n"
                "    rm-outside\n"
                "        command = rm\n"
                "        path = \"home other unknown\"\n"
                "        action = deny\n"
                "        reason = outside\n");
    s_bash_is (p, "cat ~/.a*/credentials", POLICY_DENY, "read-secrets");
    s_bash_is (p, "cat ~/.aws/credential${x}s", POLICY_DENY, "read-secrets");
    s_bash_is (p, "x=.aws; cat ~/$x/credentials", POLICY_DENY, "read-secrets");
    s_bash_is (p, "cat src/*.py", POLICY_ALLOW, "default");
    s_bash_is (p, "cat src/.env*", POLICY_DENY, "read-secrets");
    s_bash_is (p, "rm -f *.o", POLICY_ALLOW, "default");
    s_bash_is (p, "rm -f build/*", POLICY_ALLOW, "default");
    s_bash_is (p, "rm -rf ~/*", POLICY_DENY, "rm-outside");
    s_bash_is (p, "rm -f ../*.o", POLICY_DENY, "rm-outside");
    policy_destroy (&p);
}

//  bash: `src/*.env` lists no `src/.env` (a leading . is matched only by
//  a literal '.' at the start of the pattern's component)
static void
test_glob_star_before_leading_dot (void **state)
{
    (void) state;
    policy_t *p = s_probe_policy ();
    s_classes_are (p, "src/*.env", PROJ);
    s_classes_are (p, "~/*.aws/credentials", HOMEC);
    policy_destroy (&p);
}

static void
test_trailing_and_leading_values (void **state)
{
    (void) state;
    policy_t *p = s_probe_policy ();
    //  trailing components of only *, ? and variables stand for their
    //  directory
    s_classes_are (p, "src/$f", PROJ | UNKNOWN);
    s_classes_are (p, "src/${f}", PROJ | UNKNOWN);
    s_classes_are (p, "src/$(ls)", PROJ | UNKNOWN);
    s_classes_are (p, "src/*/$f", PROJ | UNKNOWN);
    s_classes_are (p, "src/??", PROJ);
    s_classes_are (p, "~/.aws/$f", SECRETS | UNKNOWN); //  ~/.aws/** holds ~/.aws itself
    s_classes_are (p, "~/.aws/*", SECRETS);
    s_classes_are (p, "~/*", HOMEC);
    s_classes_are (p, "/etc/$f", SYSTEM | UNKNOWN);
    s_classes_are (p, "/tmp/*", TEMP);
    //  a component that is not only wildcards keeps the glob (and a value
    //  may start with a dot: $f.c could be .env.c)
    s_classes_are (p, "src/$f.c", ENVS | PROJ | UNKNOWN);
    s_classes_are (p, "src/*.c", PROJ);
    //  a leading variable: no known directory, unknown, plus the classes
    //  the last component names by basename
    s_classes_are (p, "$D/id_rsa", KEYS | UNKNOWN);
    s_classes_are (p, "${D}/x/id_rsa", KEYS | UNKNOWN);
    s_classes_are (p, "$(pwd)/id_rsa", KEYS | UNKNOWN);
    s_classes_are (p, "$D/.env.prod", ENVS | UNKNOWN);
    s_classes_are (p, "$D/.env.*", ENVS | UNKNOWN);
    s_classes_are (p, "$D/id_*", KEYS | UNKNOWN);
    s_classes_are (p, "$D/notes.txt", UNKNOWN);
    s_classes_are (p, "$D/*", UNKNOWN);
    s_classes_are (p, "$f", UNKNOWN);
    s_classes_are (p, "\"$f\"", UNKNOWN);
    s_classes_are (p, "$(cat list)", UNKNOWN);
    //  a path-anchored class is not reached by basename
    s_classes_are (p, "$D/credentials", UNKNOWN);
    policy_destroy (&p);

    //  decisions: cat src/$f is project and unknown, so an allow for the
    //  project alone does not hold
    p = s_load ("policy\n    version = t\n    default = defer\n"
                "class\n"
                "    keys = \"id_rsa\"\n"
                "rule\n"
                "    read-keys\n"
                "        command = cat\n"
                "        path = keys\n"
                "        action = deny\n"
                "        reason = key\n"
                "    read-project\n"
                "        command = cat\n"
                "        path = project\n"
                "        action = allow\n");
    s_bash_is (p, "cat src/a.c", POLICY_ALLOW, "read-project");
    s_bash_is (p, "cat src/*.c", POLICY_ALLOW, "read-project");
    s_bash_is (p, "cat src/$f", POLICY_DEFER, "default");
    s_bash_is (p, "cat $D/id_rsa", POLICY_DENY, "read-keys");
    s_bash_is (p, "cat $f", POLICY_DEFER, "default");
    policy_destroy (&p);
}

//  --------------------------------------------------------------------------
//  Magic links, devices, URLs, process substitution

static void
test_magic_links (void **state)
{
    (void) state;
    policy_t *p = s_probe_policy ();
    //  what follows a magic link is kept: any path ending in it
    s_classes_hold (p, "/proc/self/cwd/../.aws/credentials", SECRETS, 0);
    s_classes_hold (p, "/proc/self/cwd/.ssh/config", SECRETS, 0);
    s_classes_hold (p, "/proc/1/cwd/x/../../.aws/credentials", SECRETS, 0);
    s_classes_hold (p, "/proc/thread-self/root/home/dev/.ssh/id_ed25519", SECRETS, 0);
    s_classes_hold (p, "/proc/42/task/43/cwd/.aws/config", SECRETS, 0);
    s_classes_hold (p, "/proc/self/fd/7/.aws/credentials", SECRETS, 0);
    s_classes_hold (p, "/proc/1/map_files/400000-401000/.aws/x", SECRETS, 0);
    s_classes_hold (p, "/dev/fd/5/.ssh/config", SECRETS, 0);
    s_classes_hold (p, "/proc/1/root/etc/passwd", SYSTEM, 0);
    s_classes_hold (p, "/proc/1/root/x/id_rsa", KEYS, 0);
    s_classes_hold (p, "/dev/fd/5/x/id_rsa", KEYS, 0);
    //  ... while a process's own stdin, stdout and stderr, and what is not
    //  a magic link, stay literal paths with their one class
    s_classes_are (p, "/dev/stdout", PROCDEV);
    s_classes_are (p, "/dev/stderr", PROCDEV);
    s_classes_are (p, "/dev/fd/1", PROCDEV);
    s_classes_are (p, "/dev/fd/2", PROCDEV);
    s_classes_are (p, "/proc/self/fd/1", PROCDEV);
    s_classes_are (p, "/proc/self/fd/0", PROCDEV);
    s_classes_are (p, "/proc/self/status", PROCDEV);
    s_classes_are (p, "/proc/cpuinfo", PROCDEV);
    s_classes_are (p, "/proc/self/cwdx/.aws/credentials", PROCDEV);
    s_classes_are (p, "/home/dev/proc/x", HOMEC);
    //  .. after a magic link stays inside its "anything"; .. before it
    //  is lexical
    s_classes_are (p, "/proc/../etc/shadow", SECRETS);
    policy_destroy (&p);
}

//  /proc/1/root is "/" of process 1: /proc/1/root/etc/shadow is
//  /etc/shadow itself, a class naming exactly /etc/shadow must be reached
static void
test_magic_link_to_root (void **state)
{
    (void) state;
    policy_t *p = s_load (HEAD "class\n"
                               "    shadow = \"/etc/shadow /etc/gshadow*\"\n"
                               "rule\n"
                               "    read-shadow\n"
                               "        command = cat\n"
                               "        path = shadow\n"
                               "        action = deny\n"
                               "        reason = shadow\n");
    s_bash_is (p, "cat /etc/shadow", POLICY_DENY, "read-shadow");
    s_bash_is (p, "cat /proc/1/root/etc/shadow", POLICY_DENY, "read-shadow");
    s_bash_is (p, "cat /proc/self/root/etc/gshadow-", POLICY_DENY, "read-shadow");
    s_bash_is (p, "cat /proc/self/cwd/../etc/shadow", POLICY_DENY, "read-shadow");
    s_bash_is (p, "cat /dev/fd/5/etc/shadow", POLICY_DENY, "read-shadow");
    policy_destroy (&p);
}

//  A working directory that is a magic link: relative paths below it are
//  "any path ending in" them as well
static void
test_magic_link_as_cwd (void **state)
{
    (void) state;
    policy_t *p = s_probe_policy ();
    ctx_t in_proc = {"/proc/1/cwd", HOME, PROJECT, "agent"};
    unsigned m = s_classes_ctx (p, ".aws/credentials", &in_proc);
    if (!(m & SECRETS))
        fail_msg ("cwd /proc/1/cwd: .aws/credentials does not reach secrets");
    s_classes_hold (p, "cd /proc/1/cwd && @ .aws/credentials", SECRETS, 0);
    s_classes_hold (p, "cd /dev/fd/7 && @ .ssh/config", SECRETS, 0);
    s_classes_hold (p, "cd /proc/1/root && @ home/dev/.ssh/config", SECRETS, 0);
    policy_destroy (&p);
}

static void
test_urls_and_pipes (void **state)
{
    (void) state;
    policy_t *p = s_probe_policy ();
    //  a URL is no path (a command that names none works in its working
    //  directory, the project here) ...
    s_classes_are (p, "https://example.com/etc/shadow", PROJ);
    s_classes_are (p, "ssh://host/home/dev/.aws/credentials", PROJ);
    s_classes_are (p, "git+ssh://host/x", PROJ);
    s_classes_are (p, "s3://bucket/.ssh/id_rsa", PROJ);
    //  ... except file://
    s_classes_are (p, "file:///etc/shadow", SECRETS);
    s_classes_are (p, "FILE:///etc/passwd", SYSTEM);
    s_classes_are (p, "file://$HOME/.aws/credentials", SECRETS);
    //  a :// after a non-scheme is a path
    s_classes_are (p, "a/b://c", PROJ);
    //  <(..) and >(..) are pipes: the words inside are their own command
    s_classes_are (p, "<(sort a)", PROJ);
    s_classes_are (p, ">(gzip)", PROJ);
    s_classes_are (p, "<(cat /etc/shadow) x", PROJ);
    policy_destroy (&p);
    //  the command inside is judged on its own
    p = s_load (HEAD "class\n"
                     "    secrets = \"/etc/shadow\"\n"
                     "rule\n"
                     "    read-secrets\n"
                     "        path = secrets\n"
                     "        action = deny\n"
                     "        reason = secret\n");
    s_bash_is (p, "diff <(sort a) b", POLICY_ALLOW, "default");
    s_bash_is (p, "diff <(sort /etc/shadow) b", POLICY_DENY, "read-secrets");
    s_bash_is (p, "curl -o x https://h/etc/shadow", POLICY_ALLOW, "default");
    s_bash_is (p, "curl file:///etc/shadow", POLICY_DENY, "read-secrets");
    policy_destroy (&p);
}

//  --------------------------------------------------------------------------
//  Symlinks on the validator's filesystem

typedef struct {
    char dir[PATH_MAX];
    char secret[PATH_MAX + 32];
    char link[PATH_MAX + 32];
    char flink[PATH_MAX + 32];
    char dangling[PATH_MAX + 32];
} links_t;

static int
s_links_setup (void **state)
{
    links_t *l = (links_t *) calloc (1, sizeof (links_t));
    assert_non_null (l);
    *state = l;
    char tmpl[] = "/tmp/lh-paths-XXXXXX";
    char *made = mkdtemp (tmpl);
    assert_non_null (made);
    //  the real path: the class names what the kernel reaches
    assert_non_null (realpath (made, l->dir));
    snprintf (l->secret, sizeof (l->secret), "%s/secretdir", l->dir);
    snprintf (l->link, sizeof (l->link), "%s/link", l->dir);
    snprintf (l->flink, sizeof (l->flink), "%s/flink", l->dir);
    snprintf (l->dangling, sizeof (l->dangling), "%s/dangling", l->dir);
    char path[PATH_MAX + 64];
    assert_int_equal (mkdir (l->secret, 0700), 0);
    snprintf (path, sizeof (path), "%s/key", l->secret);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fclose (f);
    assert_int_equal (symlink (l->secret, l->link), 0);
    assert_int_equal (symlink (path, l->flink), 0);
    snprintf (path, sizeof (path), "%s/nowhere", l->secret);
    assert_int_equal (symlink (path, l->dangling), 0);
    return 0;
}

//  Runs after the test, failed or skipped
static int
s_links_teardown (void **state)
{
    links_t *l = (links_t *) *state;
    char path[PATH_MAX + 64];
    snprintf (path, sizeof (path), "%s/key", l->secret);
    unlink (path);
    unlink (l->link);
    unlink (l->flink);
    unlink (l->dangling);
    rmdir (l->secret);
    rmdir (l->dir);
    free (l);
    return 0;
}

static policy_t *
s_links_policy (const links_t *l, const char *mode)
{
    char text[2 * PATH_MAX + 1024];
    snprintf (text, sizeof (text),
              "policy\n    version = t\n    default = allow\n%s"
              "class\n"
              "    secrets = \"%s/secretdir/**\"\n"
              "rule\n"
              "    read-secrets\n"
              "        command = cat\n"
              "        path = secrets\n"
              "        action = deny\n"
              "        reason = secret\n"
              "    read-tool\n"
              "        tool = Read\n"
              "        path = secrets\n"
              "        action = deny\n"
              "        reason = secret\n"
              "    tmp-only\n"
              "        command = touch\n"
              "        path = temp\n"
              "        action = allow\n"
              "    touch-other\n"
              "        command = touch\n"
              "        action = escalate:x\n"
              "        reason = other\n",
              mode, l->dir);
    return s_load (text);
}

//  A tree holds what an any-depth pattern names right below its root, when
//  that exists on disk: find . -delete in a project with .claude/, grep -r
//  in one with .env. Nothing is counted where nothing is there.
static void
test_tree_from_disk (void **state)
{
    links_t *l = (links_t *) *state;
    policy_t *p = s_load ("policy\n    version = t\n    default = allow\n"
                          "class\n"
                          "    agentcfg = \"**/.claude/**\"\n"
                          "    sensitive = \".env\"\n"
                          "rule\n"
                          "    delete-tree\n"
                          "        command = \"find rm\"\n"
                          "        tree = agentcfg\n"
                          "        action = deny\n"
                          "        reason = cfg\n"
                          "    grep-tree\n"
                          "        command = grep\n"
                          "        tree = sensitive\n"
                          "        action = defer\n"
                          "        reason = env\n");
    ctx_t ctx = {l->dir, HOME, l->dir, "agent"};
    //  nothing there yet
    s_expect (s_bash_ctx (p, "find . -delete", &ctx), "empty", POLICY_ALLOW, "default");
    s_expect (s_bash_ctx (p, "grep -r x .", &ctx), "empty", POLICY_ALLOW, "default");
    char path[PATH_MAX + 64];
    snprintf (path, sizeof (path), "%s/.claude", l->dir);
    assert_int_equal (mkdir (path, 0700), 0);
    snprintf (path, sizeof (path), "%s/.env", l->dir);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fclose (f);
    s_expect (s_bash_ctx (p, "find . -delete", &ctx), ".claude", POLICY_DENY, "delete-tree");
    s_expect (s_bash_ctx (p, "rm -rf ./", &ctx), ".claude", POLICY_DENY, "delete-tree");
    s_expect (s_bash_ctx (p, "grep -r x .", &ctx), ".env", POLICY_DEFER, "grep-tree");
    //  a subtree without them is not affected
    s_expect (s_bash_ctx (p, "find secretdir -delete", &ctx), "sub", POLICY_ALLOW, "default");
    policy_destroy (&p);
    unlink (path);
    snprintf (path, sizeof (path), "%s/.claude", l->dir);
    rmdir (path);
}

static void
test_symlinks (void **state)
{
    const links_t *l = (const links_t *) *state;
    char cmd[3 * PATH_MAX];
    const char *modes[] = {"    symlinks = resolve\n", "", "    symlinks = lexical\n"};
    for (int m = 0; m < 3; m++) {
        policy_t *p = s_links_policy (l, modes[m]);
        bool resolve = m < 2; //  resolve is the default
        policy_action_t through = resolve ? POLICY_DENY : POLICY_ALLOW;
        const char *rule = resolve ? "read-secrets" : "default";
        //  the real directory is a secret either way
        snprintf (cmd, sizeof (cmd), "cat %s/x", l->secret);
        s_bash_is (p, cmd, POLICY_DENY, "read-secrets");
        //  through the link: only when resolved (x need not exist)
        snprintf (cmd, sizeof (cmd), "cat %s/x", l->link);
        s_bash_is (p, cmd, through, rule);
        snprintf (cmd, sizeof (cmd), "cat %s/key", l->link);
        s_bash_is (p, cmd, through, rule);
        snprintf (cmd, sizeof (cmd), "cat %s", l->link);
        s_bash_is (p, cmd, through, rule);
        snprintf (cmd, sizeof (cmd), "cat %s", l->flink); //  a link to a file
        s_bash_is (p, cmd, through, rule);
        snprintf (cmd, sizeof (cmd), "cat %s/sub/../x", l->link);
        s_bash_is (p, cmd, through, rule);
        //  relative to the working directory
        ctx_t ctx = {l->dir, HOME, PROJECT, "agent"};
        s_expect (s_bash_ctx (p, "cat link/x", &ctx), "cat link/x (cwd)", through, rule);
        s_expect (s_bash_ctx (p, "cd link && cat x", &ctx), "cd link; cat x", through, rule);
        s_expect (s_bash_ctx (p, "cat nolink/x", &ctx), "cat nolink/x", POLICY_ALLOW, "default");
        //  a path in both classes: an allow for temp alone does not hold
        //  when the link leads into the secret directory
        snprintf (cmd, sizeof (cmd), "touch %s/new", l->link);
        s_bash_is (p, cmd, resolve ? POLICY_ESCALATE : POLICY_ALLOW,
                   resolve ? "touch-other" : "tmp-only");
        snprintf (cmd, sizeof (cmd), "touch %s/new", l->dir);
        s_bash_is (p, cmd, POLICY_ALLOW, "tmp-only");
        //  file tools too
        char json[PATH_MAX + 64];
        snprintf (json, sizeof (json), "{\"file_path\":\"%s/x\"}", l->link);
        s_expect (s_eval_json (p, "Read", json, &s_ctx), json, through,
                  resolve ? "read-tool" : "default");
        policy_destroy (&p);
    }
    //  policy/symlinks takes only resolve or lexical
    s_load_error ("policy\n    version = t\n    symlinks = physical\n", "resolve or lexical");
}

//  A symlink whose target does not exist yet: writing through it creates
//  the target, so the target's classes count
static void
test_symlink_dangling (void **state)
{
    const links_t *l = (const links_t *) *state;
    char text[2 * PATH_MAX + 1024];
    snprintf (text, sizeof (text),
              "policy\n    version = t\n    default = allow\n"
              "class\n"
              "    secrets = \"%s/secretdir/**\"\n"
              "rule\n"
              "    write-secrets\n"
              "        command = \"> touch\"\n"
              "        path = secrets\n"
              "        action = deny\n"
              "        reason = secret\n",
              l->dir);
    policy_t *p = s_load (text);
    char cmd[3 * PATH_MAX];
    //  the link to an existing file is seen
    snprintf (cmd, sizeof (cmd), "echo x > %s", l->flink);
    s_bash_is (p, cmd, POLICY_DENY, "write-secrets");
    policy_destroy (&p);
    //  the dangling one
    p = s_load (text);
    snprintf (cmd, sizeof (cmd), "echo x > %s", l->dangling);
    s_bash_is (p, cmd, POLICY_DENY, "write-secrets");
    snprintf (cmd, sizeof (cmd), "touch %s", l->dangling);
    s_bash_is (p, cmd, POLICY_DENY, "write-secrets");
    policy_destroy (&p);
}

//  --------------------------------------------------------------------------
//  An allow needs certainty

static void
test_allow_needs_certainty_path (void **state)
{
    (void) state;
    policy_t *p = s_load ("policy\n    version = t\n    default = deny\n"
                          "class\n"
                          "    system = \"/etc/**\"\n"
                          "rule\n"
                          "    read-project\n"
                          "        command = cat\n"
                          "        path = project\n"
                          "        action = allow\n"
                          "    read-system\n"
                          "        command = cat\n"
                          "        path = system\n"
                          "        action = escalate:ops\n"
                          "        reason = system\n"
                          "    read-project-or-temp\n"
                          "        command = head\n"
                          "        path = \"project temp\"\n"
                          "        action = allow\n"
                          "    read-anything-known\n"
                          "        command = tail\n"
                          "        path = \"project temp home other system\"\n"
                          "        action = allow\n");
    s_bash_is (p, "cat a.txt", POLICY_ALLOW, "read-project");
    s_bash_is (p, "cat a.txt b.txt src/c", POLICY_ALLOW, "read-project");
    //  one candidate elsewhere: the allow does not hold, the escalate does
    s_bash_is (p, "cat a.txt /etc/passwd", POLICY_ESCALATE, "read-system");
    s_bash_is (p, "cat /etc/passwd a.txt", POLICY_ESCALATE, "read-system");
    s_bash_is (p, "cat a.txt /srv/x", POLICY_DENY, "default");
    //  a glob that could leave the project, a value known at run time
    s_bash_is (p, "cat src/$f", POLICY_DENY, "default");
    s_bash_is (p, "cat $f", POLICY_DENY, "default");
    s_bash_is (p, "cat ../*", POLICY_DENY, "default");
    s_bash_is (p, "cat .*", POLICY_DENY, "default"); //  .* could be ..
    s_bash_is (p, "cat *", POLICY_ALLOW, "read-project");
    s_bash_is (p, "cat src/*/*.c", POLICY_ALLOW, "read-project");
    //  a value: --opt=value, name=value, @file
    s_bash_is (p, "cat --x=/etc/passwd a", POLICY_ESCALATE, "read-system");
    s_bash_is (p, "cat @/etc/passwd", POLICY_ESCALATE, "read-system");
    //  more classes listed: more allowed
    s_bash_is (p, "head a.txt /tmp/x", POLICY_ALLOW, "read-project-or-temp");
    s_bash_is (p, "head a.txt /var/tmp/x", POLICY_ALLOW, "read-project-or-temp");
    s_bash_is (p, "head a.txt ~/x", POLICY_DENY, "default");
    s_bash_is (p, "tail /srv/x ~/y /etc/hosts /tmp/z a", POLICY_ALLOW, "read-anything-known");
    s_bash_is (p, "tail \"$F\"", POLICY_DENY, "default");  //  unknown not listed
    s_bash_is (p, "tail ~/.a*/x", POLICY_DENY, "default"); //  ~/.a* could be ~/..
    s_bash_is (p, "tail ~/*/x", POLICY_ALLOW, "read-anything-known");
    //  xargs supplies paths at run time: unknown
    s_bash_is (p, "ls | xargs cat", POLICY_DENY, "default");
    policy_destroy (&p);

    //  the same for a deny rule: one candidate is enough
    p = s_load ("policy\n    version = t\n    default = allow\n"
                "class\n"
                "    system = \"/etc/**\"\n"
                "rule\n"
                "    read-system\n"
                "        command = cat\n"
                "        path = system\n"
                "        action = deny\n"
                "        reason = system\n");
    s_bash_is (p, "cat a.txt /etc/passwd", POLICY_DENY, "read-system");
    s_bash_is (p, "cat a.txt /etc/*", POLICY_DENY, "read-system");
    s_bash_is (p, "cat a.txt /e*/passwd", POLICY_DENY, "read-system");
    s_bash_is (p, "cat a.txt", POLICY_ALLOW, "default");
    policy_destroy (&p);
}

static void
test_allow_needs_certainty_target_file (void **state)
{
    (void) state;
    policy_t *p = s_load ("policy\n    version = t\n    default = defer\n"
                          "class\n"
                          "    system = \"/etc/** /usr/**\"\n"
                          "rule\n"
                          "    cp-into-system\n"
                          "        command = \"cp mv >\"\n"
                          "        target = system\n"
                          "        action = deny\n"
                          "        reason = system\n"
                          "    cp-into-project\n"
                          "        command = cp\n"
                          "        target = project\n"
                          "        action = allow\n"
                          "    write-project\n"
                          "        tool = Write\n"
                          "        target = project\n"
                          "        action = allow\n"
                          "    rm-build\n"
                          "        command = rm\n"
                          "        file = \"$PROJECT/build/** *.o\"\n"
                          "        action = allow\n"
                          "    rm-git\n"
                          "        command = rm\n"
                          "        file = \"**/.git/** $PROJECT\"\n"
                          "        action = deny\n"
                          "        reason = git\n");
    //  target: the last operand, or what -t names
    s_bash_is (p, "cp /etc/hosts x", POLICY_ALLOW, "cp-into-project");
    s_bash_is (p, "cp x /etc/hosts", POLICY_DENY, "cp-into-system");
    s_bash_is (p, "cp -r a b /usr/lib/", POLICY_DENY, "cp-into-system");
    s_bash_is (p, "cp -t /etc x", POLICY_DENY, "cp-into-system"); //  -t names the target
    s_bash_is (p, "cp --target-directory=/etc x", POLICY_DENY, "cp-into-system");
    s_bash_is (p, "mv -ft /etc x", POLICY_DENY, "cp-into-system");
    s_bash_is (p, "mv x /etc/", POLICY_DENY, "cp-into-system");
    s_bash_is (p, "cp x -- /etc/y", POLICY_DENY, "cp-into-system");
    //  an allow needs every class of the target: a glob or value fails it
    s_bash_is (p, "cp x src/$f", POLICY_DEFER, "default");
    s_bash_is (p, "cp x ~/y", POLICY_DEFER, "default");
    s_bash_is (p, "cp x /e*/y", POLICY_DENY, "cp-into-system");
    //  redirections: the path is the target
    s_bash_is (p, "echo hi > /etc/x", POLICY_DENY, "cp-into-system");
    s_bash_is (p, "echo hi > out.txt", POLICY_DEFER, "default"); //  echo: no rule
    //  file tools: the path
    s_expect (s_eval_json (p, "Write", "{\"file_path\":\"src/a.c\",\"content\":\"\"}", &s_ctx),
              "Write src/a.c", POLICY_ALLOW, "write-project");
    s_expect (s_eval_json (p, "Write", "{\"file_path\":\"/srv/a.c\",\"content\":\"\"}", &s_ctx),
              "Write /srv/a.c", POLICY_DEFER, "default");

    //  file: an allow needs every candidate to match
    s_bash_is (p, "rm -f build/a", POLICY_ALLOW, "rm-build");
    s_bash_is (p, "rm -f build/a src/x.o", POLICY_ALLOW, "rm-build");
    s_bash_is (p, "rm -rf build", POLICY_ALLOW, "rm-build");   //  a/** holds a
    s_bash_is (p, "rm -rf build/*", POLICY_ALLOW, "rm-build"); //  build/* is build
    s_bash_is (p, "rm -f build/a src/x.c", POLICY_DEFER, "default");
    s_bash_is (p, "rm -f build/a $f", POLICY_DEFER, "default");
    s_bash_is (p, "rm -f build/$f", POLICY_DEFER, "default"); //  could be build/../..
    s_bash_is (p, "rm -f ../proj/build/a", POLICY_ALLOW, "rm-build");
    s_bash_is (p, "rm -f ../other/build/a", POLICY_DEFER, "default");
    //  a deny needs one: .git anywhere, or the project root itself
    s_bash_is (p, "rm -f build/a .git/config", POLICY_DENY, "rm-git");
    s_bash_is (p, "rm -rf src/../.", POLICY_DENY, "rm-git");
    s_bash_is (p, "rm -rf sub/.g*/x", POLICY_DENY, "rm-git");
    //  a leading variable: the last component could be anywhere, .git too
    s_bash_is (p, "rm -rf $D/.git/x", POLICY_DENY, "rm-git");
    policy_destroy (&p);
}

//  A command with no path candidate at all: `find -delete` searches its
//  working directory (find's default starting point is .)
static void
test_allow_path_without_candidates (void **state)
{
    (void) state;
    const char *text = "policy\n    version = t\n    default = defer\n"
                       "rule\n"
                       "    cd\n"
                       "        command = cd\n"
                       "        action = allow\n"
                       "    find-delete-project\n"
                       "        command = find\n"
                       "        flag = -delete\n"
                       "        path = \"project temp\"\n"
                       "        action = allow\n";
    policy_t *p = s_load (text);
    s_bash_is (p, "find . -name '*.o' -delete", POLICY_ALLOW, "find-delete-project");
    s_bash_is (p, "cd /tmp && find . -delete", POLICY_ALLOW, "cd");
    s_bash_is (p, "find / -delete", POLICY_DEFER, "default");
    s_bash_is (p, "cd / && find . -delete", POLICY_DEFER, "default");
    policy_destroy (&p); //  skip () does not come back
    p = s_load (text);
    s_bash_is (p, "cd / && find -delete", POLICY_DEFER, "default");
    s_expect (s_bash_ctx (p, "find -delete", &(ctx_t){"/etc", HOME, PROJECT, "agent"}),
              "find -delete (cwd /etc)", POLICY_DEFER, "default");
    policy_destroy (&p);
    p = s_load_default ();
    policy_decision_t d = s_bash (p, "cd / && find -delete");
    if (d.action == POLICY_ALLOW)
        fail_msg ("default.policy allows `cd / && find -delete`");
    policy_destroy (&p);
}

//  --------------------------------------------------------------------------
//  Subcommands

static void
test_subcommand_readings (void **state)
{
    (void) state;
    policy_t *p = s_load ("policy\n    version = t\n    default = defer\n"
                          "rule\n"
                          "    kubectl-delete\n"
                          "        command = kubectl\n"
                          "        subcommand = delete\n"
                          "        action = deny\n"
                          "        reason = delete\n"
                          "    kubectl-get\n"
                          "        command = kubectl\n"
                          "        subcommand = get\n"
                          "        action = allow\n"
                          "    git-push\n"
                          "        command = git\n"
                          "        subcommand = push\n"
                          "        action = escalate:ops\n"
                          "        reason = push\n"
                          "    git-status\n"
                          "        command = git\n"
                          "        subcommand = \"status log\"\n"
                          "        action = allow\n"
                          "    docker-ps\n"
                          "        command = docker\n"
                          "        subcommand = ps\n"
                          "        action = allow\n"
                          "    frob-burn\n"
                          "        command = frob\n"
                          "        subcommand = burn\n"
                          "        action = deny\n"
                          "        reason = burn\n"
                          "    frob-look\n"
                          "        command = frob\n"
                          "        subcommand = look\n"
                          "        action = allow\n");
    //  programs with a table: options that take a value skip it
    s_bash_is (p, "kubectl --context prod -n default delete ns x", POLICY_DENY, "kubectl-delete");
    s_bash_is (p, "kubectl -n kube-system --kubeconfig k delete pod y", POLICY_DENY,
               "kubectl-delete");
    s_bash_is (p, "kubectl --context=prod delete ns x", POLICY_DENY, "kubectl-delete");
    s_bash_is (p, "kubectl --context prod get pods", POLICY_ALLOW, "kubectl-get");
    //  the value of an option is no subcommand, either way
    s_bash_is (p, "kubectl --context delete get pods", POLICY_ALLOW, "kubectl-get");
    s_bash_is (p, "kubectl -n get delete ns x", POLICY_DENY, "kubectl-delete");
    s_bash_is (p, "git -C dir -c a=b push", POLICY_ESCALATE, "git-push");
    s_bash_is (p, "git -C push status", POLICY_ALLOW, "git-status");
    s_bash_is (p, "git --git-dir x/.git log", POLICY_ALLOW, "git-status");
    s_bash_is (p, "git -c user.name=x -C /tmp/r push origin", POLICY_ESCALATE, "git-push");
    s_bash_is (p, "git --no-pager push", POLICY_ESCALATE, "git-push"); //  takes no value
    s_bash_is (p, "docker -H tcp://x ps", POLICY_ALLOW, "docker-ps");
    s_bash_is (p, "docker -H ps images", POLICY_DEFER, "default");
    s_bash_is (p, "docker --context remote ps -a", POLICY_ALLOW, "docker-ps");
    s_bash_is (p, "git status -- push", POLICY_ALLOW, "git-status");
    s_bash_is (p, "git -- push", POLICY_DEFER, "default"); //  nothing before --
    //  a program without a table: with options before it, the first and
    //  the second operand are both readings
    s_bash_is (p, "frob look", POLICY_ALLOW, "frob-look");
    s_bash_is (p, "frob look burn", POLICY_ALLOW, "frob-look"); //  no option: one reading
    s_bash_is (p, "frob -v look", POLICY_ALLOW, "frob-look");
    s_bash_is (p, "frob -v look look", POLICY_ALLOW, "frob-look");
    s_bash_is (p, "frob -o look burn", POLICY_DENY, "frob-burn"); //  -o might take look
    s_bash_is (p, "frob -o burn look", POLICY_DENY, "frob-burn");
    s_bash_is (p, "frob -o look other", POLICY_DEFER, "default"); //  allow needs both
    s_bash_is (p, "frob -o other look", POLICY_DEFER, "default");
    s_bash_is (p, "frob -o", POLICY_DEFER, "default");
    s_bash_is (p, "frob", POLICY_DEFER, "default");
    policy_destroy (&p);
}

//  --------------------------------------------------------------------------
//  not_flag, not_arg, when = no_command

static void
test_not_flag_not_arg_no_command (void **state)
{
    (void) state;
    policy_t *p = s_load ("policy\n    version = t\n    default = deny\n"
                          "rule\n"
                          "    rm-plain\n"
                          "        command = rm\n"
                          "        not_flag = \"-r --recursive\"\n"
                          "        path = project\n"
                          "        action = allow\n"
                          "    sed-print\n"
                          "        command = sed\n"
                          "        not_arg = \"-i* --in-place* -*i\"\n"
                          "        action = allow\n"
                          "    grep-nocase\n"
                          "        command = grep\n"
                          "        nocase = true\n"
                          "        not_arg = \"*SECRET*\"\n"
                          "        action = allow\n"
                          "    assign-only\n"
                          "        when = no_command\n"
                          "        action = escalate:x\n"
                          "        reason = assign\n"
                          "    ls\n"
                          "        command = ls\n"
                          "        action = allow\n");
    s_bash_is (p, "rm a.txt", POLICY_ALLOW, "rm-plain");
    s_bash_is (p, "rm -f a.txt", POLICY_ALLOW, "rm-plain");
    s_bash_is (p, "rm -r a", POLICY_DENY, "default");
    s_bash_is (p, "rm -fr a", POLICY_DENY, "default"); //  inside a cluster
    s_bash_is (p, "rm --recursive a", POLICY_DENY, "default");
    s_bash_is (p, "rm --recur a", POLICY_DENY, "default"); //  an abbreviation
    s_bash_is (p, "rm --recursive=x a", POLICY_DENY, "default");
    s_bash_is (p, "rm -- -r", POLICY_ALLOW, "rm-plain"); //  after --: an operand
    s_bash_is (p, "rm -R a", POLICY_ALLOW, "rm-plain");  //  -R is another flag
    s_bash_is (p, "sed -n p a", POLICY_ALLOW, "sed-print");
    s_bash_is (p, "sed -i s/a/b/ a", POLICY_DENY, "default");
    s_bash_is (p, "sed -i.bak s/a/b/ a", POLICY_DENY, "default");
    s_bash_is (p, "sed --in-place=.bak s/a/b/ a", POLICY_DENY, "default");
    s_bash_is (p, "sed -ni p a", POLICY_DENY, "default");
    s_bash_is (p, "grep secret a", POLICY_DENY, "default");
    s_bash_is (p, "grep -e x a", POLICY_ALLOW, "grep-nocase");
    //  no_command: only assignments or redirections
    s_bash_is (p, "FOO=1", POLICY_ESCALATE, "assign-only");
    s_bash_is (p, "FOO=1 BAR=2", POLICY_ESCALATE, "assign-only");
    s_bash_is (p, "FOO=1 ls", POLICY_ALLOW, "ls");
    s_bash_is (p, "ls", POLICY_ALLOW, "ls");
    s_bash_is (p, "ls; FOO=1", POLICY_ESCALATE, "assign-only");
    s_bash_is (p, "ls > /dev/null", POLICY_DENY, "default"); //  the > pseudo command
    policy_destroy (&p);
    //  predicates are checked by name
    s_load_error ("policy\n    version = t\nrule\n    r\n        when = no_cmd\n"
                  "        action = allow\n",
                  "no_command");
}

//  --------------------------------------------------------------------------
//  A command run by path

static void
test_command_by_path (void **state)
{
    (void) state;
    policy_t *p = s_load ("policy\n    version = t\n    default = defer\n"
                          "rule\n"
                          "    git-allow\n"
                          "        command = git\n"
                          "        action = allow\n"
                          "    tool-allow\n"
                          "        command = \"./tools/run.sh\"\n"
                          "        action = allow\n"
                          "    python-allow\n"
                          "        command = \"python*\"\n"
                          "        action = allow\n");
    s_bash_is (p, "git status", POLICY_ALLOW, "git-allow");
    s_bash_is (p, "/usr/bin/git status", POLICY_ALLOW, "git-allow");
    s_bash_is (p, "/bin/git status", POLICY_ALLOW, "git-allow");
    s_bash_is (p, "/usr/local/bin/git status", POLICY_ALLOW, "git-allow");
    s_bash_is (p, "/tmp/x/git status", POLICY_DEFER, "default");
    s_bash_is (p, "./git status", POLICY_DEFER, "default");
    s_bash_is (p, "bin/git status", POLICY_DEFER, "default");
    s_bash_is (p, "/usr/bin/../../tmp/git status", POLICY_DEFER, "default");
    s_bash_is (p, "/home/dev/.local/bin/git status", POLICY_DEFER, "default");
    s_bash_is (p, "/tmp/python3 x.py", POLICY_DEFER, "default");
    s_bash_is (p, "/usr/bin/python3 x.py", POLICY_ALLOW, "python-allow");
    //  a pattern with a / names the path as written
    s_bash_is (p, "./tools/run.sh a", POLICY_ALLOW, "tool-allow");
    s_bash_is (p, "tools/run.sh a", POLICY_DEFER, "default");
    //  through a wrapper the same holds
    s_bash_is (p, "env /tmp/x/git status", POLICY_DEFER, "default");
    s_bash_is (p, "env git status", POLICY_DEFER, "default"); //  env itself: no rule
    policy_destroy (&p);
    //  a deny for git matches git however it is run
    p = s_load ("policy\n    version = t\n    default = allow\n"
                "rule\n"
                "    git-deny\n"
                "        command = git\n"
                "        action = deny\n"
                "        reason = no git\n");
    s_bash_is (p, "git status", POLICY_DENY, "git-deny");
    s_bash_is (p, "/usr/bin/git status", POLICY_DENY, "git-deny");
    s_bash_is (p, "/tmp/x/git status", POLICY_DENY, "git-deny");
    s_bash_is (p, "./git status", POLICY_DENY, "git-deny");
    s_bash_is (p, "gitx status", POLICY_ALLOW, "default");
    policy_destroy (&p);
}

//  --------------------------------------------------------------------------
//  defer, severity order, the empty input

static void
test_defer_and_severity (void **state)
{
    (void) state;
    s_load_error ("policy\n    version = t\nrule\n    r\n        command = x\n"
                  "        action = defer\n",
                  "reason");
    s_load_error ("policy\n    version = t\n    default = deferred\n", "bad action");
    policy_t *p = s_load ("policy\n    version = t\n    default = defer\n"
                          "    unknown_tool = defer\n"
                          "rule\n"
                          "    ls\n"
                          "        command = ls\n"
                          "        action = allow\n"
                          "    ask\n"
                          "        command = ask\n"
                          "        action = defer\n"
                          "        reason = ask the user\n"
                          "    esc\n"
                          "        command = esc\n"
                          "        action = escalate:ops\n"
                          "        reason = esc\n"
                          "    rm-root\n"
                          "        command = rm\n"
                          "        arg = /\n"
                          "        action = deny\n"
                          "        reason = root\n"
                          "    rm\n"
                          "        command = rm\n"
                          "        action = allow\n");
    policy_decision_t d = s_bash (p, "ask");
    s_expect (d, "ask", POLICY_DEFER, "ask");
    assert_int_equal (d.risk, RISK_MEDIUM); //  defer's default risk
    assert_string_equal (d.reason, "ask the user");
    assert_string_equal (d.capability, "");
    d = s_bash (p, "frob");
    s_expect (d, "frob", POLICY_DEFER, "default");
    //  allow < defer < escalate < deny, across the commands of one call
    s_bash_is (p, "ls", POLICY_ALLOW, "ls");
    s_bash_is (p, "ls; frob", POLICY_DEFER, "default");
    s_bash_is (p, "frob; ls", POLICY_DEFER, "default");
    s_bash_is (p, "ls && ask", POLICY_DEFER, "ask");
    s_bash_is (p, "frob; rm -rf /", POLICY_DENY, "rm-root");
    s_bash_is (p, "rm -rf /; frob", POLICY_DENY, "rm-root");
    s_bash_is (p, "rm -rf x; ls", POLICY_ALLOW, "rm");
    s_bash_is (p, "frob | esc", POLICY_ESCALATE, "esc");
    s_bash_is (p, "esc; frob; ls", POLICY_ESCALATE, "esc");
    s_bash_is (p, "ask; esc; rm -rf /", POLICY_DENY, "rm-root");
    s_bash_is (p, "ls $(frob)", POLICY_DEFER, "default");
    s_bash_is (p, "ls > out", POLICY_DEFER, "default"); //  the > pseudo command
    //  among equals, the first in execution order
    s_bash_is (p, "ask; frob", POLICY_DEFER, "ask");
    s_bash_is (p, "frob; ask", POLICY_DEFER, "default");
    //  unknown tools
    s_expect (s_eval_json (p, "mcp__x__y", "{}", &s_ctx), "unknown tool", POLICY_DEFER,
              "unknown-tool");
    //  the empty input is allowed as `empty`, whatever the default
    s_bash_is (p, "", POLICY_ALLOW, "empty");
    s_bash_is (p, "   ", POLICY_ALLOW, "empty");
    s_bash_is (p, "# just a comment", POLICY_ALLOW, "empty");
    policy_destroy (&p);
    p = s_load ("policy\n    version = t\n");
    s_bash_is (p, "", POLICY_ALLOW, "empty");
    s_bash_is (p, "ls", POLICY_DENY, "default");
    policy_destroy (&p);
    //  a dynamic command: defer rules can make it no better than
    //  dynamic_command
    p = s_load ("policy\n    version = t\n    default = defer\n"
                "    dynamic_command = defer\n"
                "rule\n"
                "    any\n"
                "        arg = x\n"
                "        action = allow\n");
    s_bash_is (p, "$CMD x", POLICY_DEFER, "dynamic-command");
    policy_destroy (&p);
}

//  --------------------------------------------------------------------------
//  The shipped policy

static void
test_default_policy_paths (void **state)
{
    (void) state;
    policy_t *p = s_load_default ();
    s_bash_is (p, "cat ~/.a*/credentials", POLICY_DENY, "read-secrets");
    s_bash_is (p, "cat ~/.aws/credential${x}s", POLICY_DENY, "read-secrets");
    s_bash_is (p, "x=.aws; cat ~/$x/credentials", POLICY_DENY, "read-secrets");
    s_bash_is (p, "cat ~/.aws/$f", POLICY_DENY, "read-secrets");
    s_bash_is (p, "cat $D/id_rsa", POLICY_DENY, "read-secrets");
    s_bash_is (p, "cat /proc/self/cwd/../.aws/credentials", POLICY_DENY, "read-secrets");
    s_bash_is (p, "cat /dev/fd/5/.ssh/id_rsa", POLICY_DENY, "read-secrets");
    s_bash_is (p, "cat file://$HOME/.ssh/id_ed25519", POLICY_DENY, "read-secrets");
    s_bash_is (p, "cat ~/*/id_rsa", POLICY_DENY, "read-secrets");
    //  ordinary work stays allowed, what is not understood defers
    s_bash_is (p, "cat src/*.py", POLICY_ALLOW, NULL);
    s_bash_is (p, "rm -f *.o", POLICY_ALLOW, NULL);
    s_bash_is (p, "cat src/$f", POLICY_DEFER, NULL);
    s_bash_is (p, "cat $f", POLICY_DEFER, NULL);
    s_bash_is (p, "frobnicate --all", POLICY_DEFER, "default");
    s_bash_is (p, "ls; frobnicate", POLICY_DEFER, "default");
    s_bash_is (p, "", POLICY_ALLOW, "empty");
    //  an allow for git is no allow for a git elsewhere
    s_bash_is (p, "git status", POLICY_ALLOW, NULL);
    s_bash_is (p, "/usr/bin/git status", POLICY_ALLOW, NULL);
    policy_decision_t d = s_bash (p, "/tmp/x/git status");
    if (d.action == POLICY_ALLOW)
        fail_msg ("/tmp/x/git status allowed by %s", d.rule);
    policy_destroy (&p);
}

//  --------------------------------------------------------------------------
//  policy_protect

static void
test_protect_existing_class (void **state)
{
    (void) state;
    policy_t *p = s_load ("policy\n    version = t\n    default = allow\n"
                          "class\n"
                          "    secrets = \"~/.aws/**\"\n"
                          "    lighthouse = \"/opt/lh/**\"\n"
                          "rule\n"
                          "    touch-lh\n"
                          "        command = \"touch rm\"\n"
                          "        path = lighthouse\n"
                          "        action = deny\n"
                          "        reason = lighthouse\n"
                          "    read-secrets\n"
                          "        command = cat\n"
                          "        path = secrets\n"
                          "        action = deny\n"
                          "        reason = secret\n");
    s_bash_is (p, "touch /opt/lh/x", POLICY_DENY, "touch-lh");
    s_bash_is (p, "touch /srv/lh/x", POLICY_ALLOW, "default");
    char err[256] = "x";
    assert_true (policy_protect (p, "/srv/lh/** ~/.lh/state $PROJECT/.lhconf", err, sizeof (err)));
    assert_string_equal (err, "");
    s_bash_is (p, "touch /srv/lh/x", POLICY_DENY, "touch-lh");
    s_bash_is (p, "touch /srv/lh", POLICY_DENY, "touch-lh");
    s_bash_is (p, "rm -rf /srv", POLICY_ALLOW, "default");
    s_bash_is (p, "touch ~/.lh/state", POLICY_DENY, "touch-lh");
    s_bash_is (p, "touch .lhconf", POLICY_DENY, "touch-lh");
    s_bash_is (p, "touch /srv/l*/x", POLICY_DENY, "touch-lh"); //  globs too
    s_bash_is (p, "touch /srv/$d/x", POLICY_DENY, "touch-lh");
    s_bash_is (p, "rm -rf /srv/l*", POLICY_DENY, "touch-lh");
    //  what was there still is
    s_bash_is (p, "touch /opt/lh/x", POLICY_DENY, "touch-lh");
    s_bash_is (p, "cat ~/.aws/config", POLICY_DENY, "read-secrets");
    s_bash_is (p, "touch ~/x", POLICY_ALLOW, "default");
    //  nothing to add is no error
    assert_true (policy_protect (p, "", err, sizeof (err)));
    assert_true (policy_protect (p, NULL, err, sizeof (err)));
    s_bash_is (p, "touch /srv/lh/x", POLICY_DENY, "touch-lh");
    policy_destroy (&p);
}

static void
test_protect_creates_class_after_own (void **state)
{
    (void) state;
    //  project placed first, and an allow for it
    policy_t *p = s_load ("policy\n    version = t\n    default = deny\n"
                          "class\n"
                          "    project\n"
                          "    secrets = \"~/.aws/**\"\n"
                          "rule\n"
                          "    read-secrets\n"
                          "        command = cat\n"
                          "        path = secrets\n"
                          "        action = escalate:security\n"
                          "        reason = secret\n"
                          "    edit-project\n"
                          "        command = \"cat touch\"\n"
                          "        path = project\n"
                          "        action = allow\n"
                          "    temp\n"
                          "        command = touch\n"
                          "        path = temp\n"
                          "        action = escalate:tmp\n"
                          "        reason = temp\n");
    s_bash_is (p, "touch .lh/state", POLICY_ALLOW, "edit-project");
    s_bash_is (p, "touch src/a.c", POLICY_ALLOW, "edit-project");
    char err[256];
    assert_true (policy_protect (p, "$PROJECT/.lh/** /tmp/lh/**", err, sizeof (err)));
    //  the new class comes after the policy's own classes: project, which
    //  this policy placed first, keeps its paths; temp, which comes after,
    //  loses /tmp/lh to it (and so the escalation written for temp)
    s_bash_is (p, "touch .lh/state", POLICY_ALLOW, "edit-project");
    s_bash_is (p, "touch /tmp/lh/x", POLICY_DENY, "default");
    s_bash_is (p, "touch /tmp/lhx", POLICY_ESCALATE, "temp");
    s_bash_is (p, "touch src/a.c", POLICY_ALLOW, "edit-project");
    //  the other classes keep their order and places
    s_bash_is (p, "cat ~/.aws/x", POLICY_ESCALATE, "read-secrets");
    s_bash_is (p, "touch /tmp/x", POLICY_ESCALATE, "temp");
    s_bash_is (p, "touch ~/x", POLICY_DENY, "default");
    //  rules cannot name the class of a policy that lacks it
    s_load_error ("policy\n    version = t\nrule\n    r\n        path = lighthouse\n"
                  "        action = allow\n",
                  "unknown class 'lighthouse'");
    policy_destroy (&p);
}

//  A policy without the class: protecting a path must not take it out of
//  the classes its deny rules name (the new class goes after them)
static void
test_protect_keeps_deny_classes (void **state)
{
    (void) state;
    policy_t *p = s_load ("policy\n    version = t\n    default = allow\n"
                          "class\n"
                          "    system = \"/etc/**\"\n"
                          "rule\n"
                          "    rm-system\n"
                          "        command = rm\n"
                          "        path = system\n"
                          "        action = deny\n"
                          "        reason = system\n");
    s_bash_is (p, "rm -rf /etc/lighthouse", POLICY_DENY, "rm-system");
    char err[256];
    assert_true (policy_protect (p, "/etc/lighthouse/**", err, sizeof (err)));
    s_bash_is (p, "rm -rf /etc/lighthouse", POLICY_DENY, "rm-system");
    policy_destroy (&p);
}

static void
test_protect_refuses_bad_patterns (void **state)
{
    (void) state;
    policy_t *p = s_load ("policy\n    version = t\n    default = allow\n"
                          "class\n"
                          "    lighthouse = \"/opt/lh/**\"\n"
                          "rule\n"
                          "    touch-lh\n"
                          "        command = touch\n"
                          "        path = lighthouse\n"
                          "        action = deny\n"
                          "        reason = lighthouse\n");
    char long_pat[400];
    long_pat[0] = '/';
    memset (long_pat + 1, 'a', 300);
    long_pat[301] = 0;
    char complex_pat[200];
    snprintf (complex_pat, sizeof (complex_pat), "/x/*%064d*", 0);
    const char *bad[] = {"'/srv/x", "~root/x",   "$FOO/x",
                         long_pat,  complex_pat, "/srv/ok/** '/srv/bad"};
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        char err[256] = "";
        if (policy_protect (p, bad[i], err, sizeof (err)))
            fail_msg ("policy_protect accepted '%s'", bad[i]);
        if (!err[0])
            fail_msg ("policy_protect refused '%s' without a message", bad[i]);
        //  the policy is unchanged and usable
        s_bash_is (p, "touch /opt/lh/x", POLICY_DENY, "touch-lh");
        s_bash_is (p, "touch /srv/ok/x", POLICY_ALLOW, "default");
        s_bash_is (p, "touch /srv/x", POLICY_ALLOW, "default");
        s_bash_is (p, "touch src/$f", POLICY_ALLOW, "default");
    }
    char msg[256] = "";
    assert_false (policy_protect (p, "/srv/ok/** '/srv/bad", msg, sizeof (msg)));
    if (!strstr (msg, "'") && !strstr (msg, "quote") && !strstr (msg, "closing"))
        fail_msg ("message '%s' does not name the unclosed quote", msg);
    s_bash_is (p, "touch /srv/ok/x", POLICY_ALLOW, "default"); //  none of the list went in
    //  a message fits a small buffer
    char small[8];
    assert_false (policy_protect (p, "'/x", small, sizeof (small)));
    assert_true (strlen (small) < sizeof (small));
    //  and a good pattern still goes in afterwards
    char err[256];
    assert_true (policy_protect (p, "/srv/ok/**", err, sizeof (err)));
    s_bash_is (p, "touch /srv/ok/x", POLICY_DENY, "touch-lh");
    policy_destroy (&p);
}

static void
test_protect_twice (void **state)
{
    (void) state;
    //  reload-like: called again after every load, and more than once on
    //  one policy; classification must survive (the classifier points into
    //  the pattern lists that grow)
    for (int with_class = 0; with_class < 2; with_class++) {
        char text[2048];
        snprintf (text, sizeof (text),
                  "policy\n    version = t\n    default = defer\n"
                  "class\n"
                  "    secrets = \"~/.aws/** id_rsa\"\n%s"
                  "    system = \"/etc/**\"\n"
                  "    temp\n"
                  "rule\n"
                  "    read-secrets\n"
                  "        command = cat\n"
                  "        path = secrets\n"
                  "        action = deny\n"
                  "        reason = secret\n"
                  "%s"
                  "    read-ok\n"
                  "        command = cat\n"
                  "        path = \"project temp\"\n"
                  "        action = allow\n"
                  "    read-system\n"
                  "        command = cat\n"
                  "        path = system\n"
                  "        action = escalate:ops\n"
                  "        reason = system\n",
                  with_class ? "    lighthouse = \"/opt/lh/**\"\n" : "",
                  with_class ? "    cat-lh\n        command = cat\n        path = lighthouse\n"
                               "        action = escalate:lh\n        reason = lh\n"
                             : "");
        for (int round = 0; round < 3; round++) {
            policy_t *p = s_load (text);
            char err[256];
            for (int call = 0; call <= round; call++) {
                assert_true (policy_protect (p, "/srv/lh/** $PROJECT/.lh/**", err, sizeof (err)));
                assert_true (policy_protect (p, "/var/lh/keys/*", err, sizeof (err)));
            }
            policy_action_t lh = with_class ? POLICY_ESCALATE : POLICY_DEFER;
            const char *lh_rule = with_class ? "cat-lh" : "default";
            s_bash_is (p, "cat /srv/lh/x", lh, lh_rule);
            s_bash_is (p, "cat .lh/x", lh, lh_rule);
            s_bash_is (p, "cat /var/lh/keys/k1", lh, lh_rule);
            s_bash_is (p, "cat /var/lh/keys/a/b", POLICY_DEFER, "default");
            s_bash_is (p, "cat /srv/l?/x", lh, lh_rule);
            //  every other class where it was
            s_bash_is (p, "cat ~/.aws/credentials", POLICY_DENY, "read-secrets");
            s_bash_is (p, "cat x/id_rsa", POLICY_DENY, "read-secrets");
            s_bash_is (p, "cat $D/id_rsa", POLICY_DENY, "read-secrets");
            s_bash_is (p, "cat /etc/hosts", POLICY_ESCALATE, "read-system");
            s_bash_is (p, "cat /tmp/x src/a.c", POLICY_ALLOW, "read-ok");
            s_bash_is (p, "cat src/*.c", POLICY_ALLOW, "read-ok");
            s_bash_is (p, "cat ~/notes", POLICY_DEFER, "default");
            if (with_class) {
                s_bash_is (p, "cat /opt/lh/x", POLICY_ESCALATE, "cat-lh");
            }
            policy_destroy (&p);
        }
    }
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_glob_words_by_every_class),
        cmocka_unit_test (test_glob_star_before_leading_dot),
        cmocka_unit_test (test_trailing_and_leading_values),
        cmocka_unit_test (test_magic_links),
        cmocka_unit_test (test_magic_link_to_root),
        cmocka_unit_test (test_magic_link_as_cwd),
        cmocka_unit_test (test_urls_and_pipes),
        cmocka_unit_test_setup_teardown (test_symlinks, s_links_setup, s_links_teardown),
        cmocka_unit_test_setup_teardown (test_symlink_dangling, s_links_setup, s_links_teardown),
        cmocka_unit_test_setup_teardown (test_tree_from_disk, s_links_setup, s_links_teardown),
        cmocka_unit_test (test_allow_needs_certainty_path),
        cmocka_unit_test (test_allow_needs_certainty_target_file),
        cmocka_unit_test (test_allow_path_without_candidates),
        cmocka_unit_test (test_subcommand_readings),
        cmocka_unit_test (test_not_flag_not_arg_no_command),
        cmocka_unit_test (test_command_by_path),
        cmocka_unit_test (test_defer_and_severity),
        cmocka_unit_test (test_default_policy_paths),
        cmocka_unit_test (test_protect_existing_class),
        cmocka_unit_test (test_protect_creates_class_after_own),
        cmocka_unit_test (test_protect_keeps_deny_classes),
        cmocka_unit_test (test_protect_refuses_bad_patterns),
        cmocka_unit_test (test_protect_twice),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
