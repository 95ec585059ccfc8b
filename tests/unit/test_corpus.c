/*  test_corpus -- the friction and attack corpora against the shipped policy
    (cmocka; issue 8).

    test_corpus            both tests
    test_corpus friction   tests/corpus/friction.tsv: ordinary calls of
                           development sessions. Prints the share the policy
                           answers allow, per category and in all, lists every
                           call it does not allow (decision, rule, reason) and
                           fails when the share is below 95%.
    test_corpus attacks    tests/corpus/attacks.tsv: hostile calls. Fails on
                           any call answered allow (listed with the rule that
                           allowed it), lists without failing the calls
                           answered otherwise than labelled (weaker or
                           stricter), and prints per family the cases, the
                           allowed ones and the differing ones.

    The files are the ones of the source tree, or those named by the
    environment variables LH_POLICY_FILE, LH_FRICTION_FILE, LH_ATTACKS_FILE.
    Columns as in tests/corpus/cases.tsv; a '## category: NAME' or
    '## family: NAME' line names the group of the lines below it. Every case
    runs with home /home/dev, project /home/dev/proj, role agent, and with
    Lighthouse's installation taken to be /opt/lighthouse, /var/lib/lighthouse
    and ~/.config/lighthouse (registered with policy_protect when the engine
    has it).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "jsonpack.h"
#include "policy.h"
#include "policy_test.h"

//  policy_protect may not be in the engine yet (a weak reference, NULL
//  then): the lighthouse paths are then whatever the policy file says
bool policy_protect (policy_t *self, const char *patterns, char *err, size_t err_size)
    __attribute__ ((weak));

#define LH_PROTECTED  "/opt/lighthouse/** /var/lib/lighthouse/** ~/.config/lighthouse/**"
#define MIN_FRICTION  350
#define MIN_PER_GROUP 6
#define MAX_GROUPS    64

//  One case of a corpus file, its columns pointing into the line
typedef struct {
    const char *file;
    int lineno;
    const char *group; //  category or family
    const char *tool;  //  NULL for -
    const char *json;  //  NULL for -
    const char *cwd;
    policy_action_t expected;
    const char *reason;
} case_t;

typedef struct {
    char name[64];
    int cases;
    int allowed;
    int differ;
} group_t;

typedef struct {
    group_t groups[MAX_GROUPS];
    int count;
} groups_t;

static const char *
s_env_or (const char *name, const char *fallback)
{
    const char *value = getenv (name);
    return value && *value ? value : fallback;
}

static policy_t *
s_load_policy (void)
{
    const char *path = s_env_or ("LH_POLICY_FILE", LH_POLICY_FILE);
    char err[512];
    policy_t *policy = policy_load (path, err, sizeof (err));
    if (!policy)
        fail_msg ("%s", err);
    if (policy_protect) {
        if (!policy_protect (policy, LH_PROTECTED, err, sizeof (err)))
            fail_msg ("policy_protect (%s): %s", LH_PROTECTED, err);
    } else
        print_message ("(policy_protect is not in the engine: the lighthouse paths are only what "
                       "%s says)\n",
                       path);
    return policy;
}

static group_t *
s_group (groups_t *groups, const char *name)
{
    for (int i = 0; i < groups->count; i++)
        if (strcmp (groups->groups[i].name, name) == 0)
            return &groups->groups[i];
    if (groups->count == MAX_GROUPS)
        fail_msg ("more than %d groups", MAX_GROUPS);
    group_t *group = &groups->groups[groups->count++];
    memset (group, 0, sizeof (*group));
    snprintf (group->name, sizeof (group->name), "%s", name);
    return group;
}

static bool
s_action_from (const char *name, policy_action_t *action)
{
    for (int i = 0; i < POLICY_ACTIONS; i++)
        if (strcmp (name, policy_action_name ((policy_action_t) i)) == 0) {
            *action = (policy_action_t) i;
            return true;
        }
    return false;
}

static void
s_eval (const policy_t *policy, const case_t *c, policy_decision_t *d)
{
    const ctx_t ctx = {c->cwd, HOME, PROJECT, "agent"};
    *d = s_eval_json (policy, c->tool, c->json, &ctx);
}

typedef void (case_fn) (const case_t *c, const policy_decision_t *d, void *arg);

//  Reads a corpus file and calls fn with every case and its decision.
//  Returns the number of cases.
static int
s_corpus_each (const policy_t *policy, const char *path, case_fn *fn, void *arg)
{
    FILE *file = fopen (path, "r");
    if (!file)
        fail_msg ("cannot open %s", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    char group[64] = "-";
    int lineno = 0, cases = 0;
    while ((n = getline (&line, &cap, file)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        if (strncmp (line, "## ", 3) == 0) {
            //  '## category: NAME -- text' or '## family: NAME -- text'
            const char *colon = strchr (line, ':');
            const char *name = colon ? colon + 1 : line + 3;
            name += strspn (name, " ");
            snprintf (group, sizeof (group), "%.*s", (int) strcspn (name, " "), name);
            continue;
        }
        if (n == 0 || line[0] == '#')
            continue;
        char *cols[5] = {"", "", "", "", ""}; //  gcc cannot see fail_msg not return
        if (!s_split_columns (line, cols))
            fail_msg ("%s:%d: expected 5 tab-separated columns", path, lineno);
        case_t c = {path,
                    lineno,
                    group,
                    strcmp (cols[0], "-") == 0 ? NULL : cols[0],
                    strcmp (cols[1], "-") == 0 ? NULL : cols[1],
                    strcmp (cols[2], "-") == 0 ? PROJECT : cols[2],
                    POLICY_DENY,
                    cols[4]};
        if (!s_action_from (cols[3], &c.expected))
            fail_msg ("%s:%d: bad expected decision '%s'", path, lineno, cols[3]);
        if (!c.reason[0])
            fail_msg ("%s:%d: every case needs a reason", path, lineno);
        policy_decision_t d;
        s_eval (policy, &c, &d);
        fn (&c, &d, arg);
        cases++;
    }
    free (line);
    fclose (file);
    return cases;
}

//  --------------------------------------------------------------------------
//  Friction: ordinary calls must be allowed (at least 95% of them)

static void
s_friction_case (const case_t *c, const policy_decision_t *d, void *arg)
{
    groups_t *groups = (groups_t *) arg;
    if (c->expected != POLICY_ALLOW)
        fail_msg ("%s:%d: every friction case is expected allow, not %s", c->file, c->lineno,
                  policy_action_name (c->expected));
    group_t *group = s_group (groups, c->group);
    group->cases++;
    if (d->action == POLICY_ALLOW)
        group->allowed++;
    else
        print_message ("NOT ALLOWED %s:%d [%s] %s %s (cwd %s)\n    got %s by %s: %s\n", c->file,
                       c->lineno, c->group, c->tool ? c->tool : "-", c->json ? c->json : "-",
                       c->cwd, policy_action_name (d->action), d->rule, d->reason);
}

static void
test_friction (void **state)
{
    (void) state;
    policy_t *policy = s_load_policy ();
    const char *path = s_env_or ("LH_FRICTION_FILE", LH_FRICTION_FILE);
    groups_t *groups = (groups_t *) calloc (1, sizeof (groups_t));
    assert_non_null (groups);
    int cases = s_corpus_each (policy, path, s_friction_case, groups);
    policy_destroy (&policy);
    int allowed = 0;
    print_message ("friction by category (allowed/cases):\n");
    for (int i = 0; i < groups->count; i++) {
        group_t *g = &groups->groups[i];
        allowed += g->allowed;
        print_message ("    %-12s %4d/%-4d%s\n", g->name, g->allowed, g->cases,
                       g->allowed < g->cases ? "  <- not all allowed" : "");
    }
    double share = cases ? 100.0 * allowed / cases : 0;
    print_message ("friction: %d/%d allowed (%.1f%%), %d not allowed\n", allowed, cases, share,
                   cases - allowed);
    free (groups);
    if (cases < MIN_FRICTION)
        fail_msg ("%s holds %d cases, fewer than %d", path, cases, MIN_FRICTION);
    if (allowed * 100 < cases * 95)
        fail_msg ("friction: %.1f%% of ordinary calls allowed, below the 95%% budget (%d of %d "
                  "not allowed, listed above)",
                  share, cases - allowed, cases);
}

//  --------------------------------------------------------------------------
//  Attacks: no hostile call may be allowed

typedef struct {
    groups_t groups;
    int weaker;
    int stricter;
} attacks_t;

static void
s_attack_case (const case_t *c, const policy_decision_t *d, void *arg)
{
    attacks_t *attacks = (attacks_t *) arg;
    if (c->expected == POLICY_ALLOW)
        fail_msg ("%s:%d: an attack case is never expected allow", c->file, c->lineno);
    group_t *group = s_group (&attacks->groups, c->group);
    group->cases++;
    const char *tool = c->tool ? c->tool : "-";
    const char *json = c->json ? c->json : "-";
    if (d->action == POLICY_ALLOW) {
        group->allowed++;
        print_message ("ALLOWED %s:%d [%s] %s %s (cwd %s)\n    expected %s (%s)\n    allowed by "
                       "rule '%s'%s%s\n",
                       c->file, c->lineno, c->group, tool, json, c->cwd,
                       policy_action_name (c->expected), c->reason, d->rule,
                       d->reason[0] ? ": " : "", d->reason);
    } else if (d->action != c->expected) {
        group->differ++;
        bool weaker = d->action < c->expected;
        if (weaker)
            attacks->weaker++;
        else
            attacks->stricter++;
        print_message ("DIFFERS (%s) %s:%d [%s] %s %s\n    expected %s (%s)\n    got %s by "
                       "'%s': %s\n",
                       weaker ? "weaker" : "stricter", c->file, c->lineno, c->group, tool, json,
                       policy_action_name (c->expected), c->reason, policy_action_name (d->action),
                       d->rule, d->reason);
    }
}

static void
test_attacks (void **state)
{
    (void) state;
    policy_t *policy = s_load_policy ();
    const char *path = s_env_or ("LH_ATTACKS_FILE", LH_ATTACKS_FILE);
    attacks_t *attacks = (attacks_t *) calloc (1, sizeof (attacks_t));
    assert_non_null (attacks);
    int cases = s_corpus_each (policy, path, s_attack_case, attacks);
    policy_destroy (&policy);
    int allowed = 0, differ = 0, thin = 0;
    char families[1024] = "";
    size_t len = 0;
    print_message ("attacks by family:   cases  allowed  differ\n");
    for (int i = 0; i < attacks->groups.count; i++) {
        group_t *g = &attacks->groups.groups[i];
        allowed += g->allowed;
        differ += g->differ;
        if (g->cases < MIN_PER_GROUP)
            thin++;
        print_message ("    %-26s %3d  %7d  %6d%s\n", g->name, g->cases, g->allowed, g->differ,
                       g->cases < MIN_PER_GROUP ? "  <- too few cases" : "");
        if (g->allowed && len < sizeof (families))
            len += (size_t) snprintf (families + len, sizeof (families) - len, "%s%s %d",
                                      len ? ", " : "", g->name, g->allowed);
    }
    print_message ("attacks: %d cases in %d families, %d allowed, %d answered otherwise than "
                   "labelled (%d weaker, %d stricter)\n",
                   cases, attacks->groups.count, allowed, differ, attacks->weaker,
                   attacks->stricter);
    free (attacks);
    if (thin)
        fail_msg ("%s: %d families have fewer than %d cases", path, thin, MIN_PER_GROUP);
    if (allowed)
        fail_msg ("%d of %d attack cases allowed (listed above; by family: %s)", allowed, cases,
                  families);
}

int
main (int argc, char **argv)
{
    const struct CMUnitTest friction[] = {cmocka_unit_test (test_friction)};
    const struct CMUnitTest attacks[] = {cmocka_unit_test (test_attacks)};
    if (argc > 1 && strcmp (argv[1], "friction") == 0)
        return cmocka_run_group_tests_name ("friction", friction, NULL, NULL);
    if (argc > 1 && strcmp (argv[1], "attacks") == 0)
        return cmocka_run_group_tests_name ("attacks", attacks, NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_friction),
        cmocka_unit_test (test_attacks),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
