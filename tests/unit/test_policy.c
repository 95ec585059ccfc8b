/*  test_policy -- unit tests for nodes/validator/policy.c (cmocka).

    test_policy           every test, the corpus included
    test_policy corpus    only the corpus (tests/corpus/cases.tsv against
                          nodes/validator/default.policy): fails listing
                          every miss
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

//  --------------------------------------------------------------------------
//  Helpers

//  The text must fail to load with a message containing every fragment
static void
s_load_error (const char *text, const char *fragment, const char *fragment2)
{
    char err[512] = "";
    policy_t *policy = policy_load_text (text, "bad.policy", err, sizeof (err));
    if (policy) {
        policy_destroy (&policy);
        fail_msg ("loaded, expected an error with '%s':\n%s", fragment, text);
    }
    if (strncmp (err, "bad.policy: ", 12) != 0)
        fail_msg ("error '%s' does not start with the file name", err);
    if (!strstr (err, fragment) || (fragment2 && !strstr (err, fragment2)))
        fail_msg ("error '%s' lacks '%s'%s%s", err, fragment, fragment2 ? " / " : "",
                  fragment2 ? fragment2 : "");
}

//  --------------------------------------------------------------------------
//  Loader

static void
test_load_minimal (void **state)
{
    (void) state;
    policy_t *p = s_load ("policy\n    version = \"v-1\"\n");
    assert_string_equal (policy_version (p), "v-1");
    assert_int_equal (policy_rule_count (p), 0);
    //  with no default, everything is denied (fail closed)
    s_bash_is (p, "ls", POLICY_DENY, "default");
    policy_destroy (&p);
    assert_null (p);
    policy_destroy (&p);
    policy_destroy (NULL);
}

static void
test_load_errors (void **state)
{
    (void) state;
    //  the file itself
    s_load_error ("", "policy", "missing section");
    s_load_error ("policy\n    default = allow\n", "policy/version", "missing");
    s_load_error ("policy\n    version = \"a b\"\n", "policy/version", "printable");
    s_load_error ("policy\n    version = \"\"\n", "policy/version", NULL);
    s_load_error (HEAD "policy\n    version = 2\n", "policy", "duplicate section");
    s_load_error (HEAD "rules\n", "rules", "unknown section");
    s_load_error (HEAD "rule = x\n", "rule", "takes no value");
    s_load_error (HEAD "    colour = red\n", "policy/colour", "unknown key");
    s_load_error (HEAD "    default = deny\n", "policy/default", "duplicate key");
    s_load_error ("policy\n    version = 1\n    default = alow\n", "policy/default", "bad action");
    s_load_error ("policy\n    version = 1\n    unknown_tool = escalate\n", "policy/unknown_tool",
                  "bad action");
    s_load_error ("policy\n    version = 1\n    parse_error = \"escalate:\"\n", "capability", NULL);
    s_load_error ("policy\n    version = 1\n    parse_error = \"escalate:Sec urity\"\n",
                  "capability", "a-z");
    s_load_error (
        "policy\n    version = 1\n    bad_input = \"escalate:abcdefghijklmnopqrstuvwxyz0123456\"\n",
        "capability", "31");
    //  ZPL syntax, with line numbers
    s_load_error ("policy\n   version = 1\n", "line 2", "4 spaces");
    s_load_error ("policy\n\tversion = 1\n", "line 2", "tabs");
    s_load_error ("policy\n        version = 1\n", "line 2", "too far");
    s_load_error ("policy\n    version = \"1\n", "line 2", "missing closing");
    s_load_error ("policy\n    version = \"1\" extra\n", "line 2", "after the quoted");
    s_load_error ("policy\n    version 1\n", "line 2", "expected '='");
    s_load_error ("policy\n    !version = 1\n", "line 2", "expected a name");
    s_load_error ("policy\n    /version = 1\n", "line 2", "'/'");
    s_load_error ("policy\n    version = \"\xff\"\n", "UTF-8", NULL);
    {
        char text[2200];
        snprintf (text, sizeof (text), "policy\n    version = \"%01100d\"\n", 0);
        s_load_error (text, "line 2", "longer than 1024");
    }
    //  classes
    s_load_error (HEAD "class\n    Secrets = \"~/.ssh/**\"\n", "class/Secrets", "class names");
    s_load_error (HEAD "class\n    a = x\n    a = \"\"\n", "class/a", "empty list");
    s_load_error (HEAD "class\n    other = x\n", "class/other", "built in");
    s_load_error (HEAD "class\n    project = x\n", "class/project", "without a value");
    s_load_error (HEAD "class\n    project\n    project\n", "class/project", "placed twice");
    s_load_error (HEAD "class\n    a = \"\"\n", "class/a", "empty list");
    s_load_error (HEAD "class\n    a = \"~root/x\"\n", "class/a", "~user");
    s_load_error (HEAD "class\n    a = \"$FOO/x\"\n", "class/a", "$HOME and $PROJECT");
    s_load_error (HEAD "class\n    a = \"'/x\"\n", "class/a", "missing closing '");
    {
        char text[4096] = HEAD "class\n";
        for (int i = 0; i < 28; i++)
            snprintf (text + strlen (text), sizeof (text) - strlen (text), "    c%d = /c%d\n", i,
                      i);
        s_load_error (text, "too many classes", NULL);
    }
    {
        char text[1024];
        char pat[300];
        memset (pat, 'a', 256);
        pat[256] = 0;
        snprintf (text, sizeof (text), HEAD "class\n    a = \"/%s\"\n", pat);
        s_load_error (text, "class/a", "longer than 255");
        memset (pat, 0, sizeof (pat));
        for (int i = 0; i < 40; i++)
            strcat (pat, "*a");
        snprintf (text, sizeof (text), HEAD "class\n    a = \"/%s\"\n", pat);
        s_load_error (text, "class/a", "too complex");
    }
    //  rules
    s_load_error (HEAD "rule\n    Bad_Name\n        action = allow\n", "rule/Bad_Name", "a-z 0-9");
    s_load_error (HEAD "rule\n    r = 1\n        action = allow\n", "rule/r", "not a value");
    s_load_error (HEAD "rule\n    r\n        command = ls\n", "rule/r/action", "missing");
    s_load_error (HEAD "rule\n    r\n        action = block\n", "rule/r/action", "bad action");
    s_load_error (HEAD "rule\n    r\n        action = deny\n", "rule/r/reason", "required");
    s_load_error (HEAD "rule\n    r\n        action = escalate:ops\n        reason = \"\"\n",
                  "rule/r/reason", "required");
    s_load_error (HEAD "rule\n    r\n        action = allow\n        colour = red\n",
                  "rule/r/colour", "unknown key");
    s_load_error (HEAD
                  "rule\n    r\n        action = allow\n        command = a\n        command = b\n",
                  "rule/r/command", "duplicate key");
    s_load_error (HEAD "rule\n    r\n        action = allow\n        risk = extreme\n",
                  "rule/r/risk", "bad risk");
    s_load_error (HEAD "rule\n    r\n        action = allow\n        path = secrets\n",
                  "rule/r/path", "unknown class 'secrets'");
    s_load_error (HEAD "rule\n    r\n        action = allow\n        target = \"\"\n",
                  "rule/r/target", "empty list");
    s_load_error (HEAD "rule\n    r\n        action = allow\n        when = full_moon\n",
                  "rule/r/when", "unknown predicate");
    s_load_error (HEAD "rule\n    r\n        action = allow\n        flag = r\n", "rule/r/flag",
                  "starts with -");
    s_load_error (HEAD "rule\n    r\n        action = allow\n        nocase = yes\n",
                  "rule/r/nocase", "true or false");
    s_load_error (
        HEAD "rule\n    r\n        action = allow\n        tool = Write\n        command = rm\n",
        "rule/r/command", "only applies to Bash");
    s_load_error (HEAD "rule\n    r\n        action = allow\n        arg = \"'abc\"\n",
                  "rule/r/arg", "missing closing '");
    s_load_error (HEAD "rule\n    r\n        action = allow\n        arg = \"\"\n", "rule/r/arg",
                  "empty list");
    s_load_error (
        HEAD
        "rule\n    r\n        action = allow\n    r\n        action = deny\n        reason = x\n",
        "rule/r", "duplicate rule name");
    s_load_error (HEAD
                  "rule\n    r\n        action = allow\n        arg = x\n            deeper = 1\n",
                  "rule/r/arg", "no indented lines");
    {
        char text[1024];
        char reason[300];
        memset (reason, 'x', 256);
        reason[256] = 0;
        snprintf (text, sizeof (text),
                  HEAD "rule\n    r\n        action = deny\n        reason = \"%s\"\n", reason);
        s_load_error (text, "rule/r/reason", "255");
    }
    //  caps that keep loading fast
    {
        size_t cap = 10001 * 40 + 200;
        char *text = (char *) malloc (cap);
        assert_non_null (text);
        size_t len = (size_t) snprintf (text, cap, HEAD "rule\n");
        for (int i = 0; i < 10001; i++)
            len +=
                (size_t) snprintf (text + len, cap - len, "    r%d\n        action = allow\n", i);
        s_load_error (text, "line 20001", "too many rules, classes and policy keys");
        len = (size_t) snprintf (text, cap, HEAD "rule\n    r\n");
        for (int i = 0; i < 65; i++)
            len += (size_t) snprintf (text + len, cap - len, "        arg = x\n");
        s_load_error (text, "line 70", "too many keys");
        free (text);
    }
    //  files
    char err[256];
    assert_null (policy_load ("/nonexistent/x.policy", err, sizeof (err)));
    assert_non_null (strstr (err, "/nonexistent/x.policy: cannot open"));
    assert_null (policy_load_text (NULL, "n", err, sizeof (err)));
    //  a NULL or tiny err buffer is fine
    assert_null (policy_load_text ("nonsense", "n", NULL, 0));
    assert_null (policy_load_text ("nonsense", "n", err, 1));
    assert_int_equal (err[0], 0);
}

static void
test_load_file (void **state)
{
    (void) state;
    char err[512];
    policy_t *p = policy_load (LH_POLICY_FILE, err, sizeof (err));
    if (!p)
        fail_msg ("default.policy: %s", err);
    assert_true (policy_rule_count (p) > 100);
    assert_true (strlen (policy_version (p)) > 0);
    policy_destroy (&p);

    //  a file with a NUL byte, and one that is too big
    char path[] = "/tmp/lh-test-policy-XXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, "policy\n\0", 8), 8);
    close (fd);
    assert_null (policy_load (path, err, sizeof (err)));
    assert_non_null (strstr (err, "NUL"));
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    fputs ("policy\n    version = 1\n", file);
    for (int i = 0; i < 5 * 1024 * 1024 / 16; i++)
        fputs ("# padding line\n", file);
    fclose (file);
    assert_null (policy_load (path, err, sizeof (err)));
    assert_non_null (strstr (err, "larger than"));
    unlink (path);
}

//  --------------------------------------------------------------------------
//  Conditions

static void
test_cond_command (void **state)
{
    (void) state;
    policy_t *p = s_load (HEAD "rule\n"
                               "    py\n"
                               "        command = \"python*\"\n"
                               "        action = deny\n"
                               "        reason = py\n"
                               "    by-path\n"
                               "        command = \"./deploy.sh\"\n"
                               "        action = deny\n"
                               "        reason = deploy\n"
                               "    rm\n"
                               "        command = \"rm rmdir\"\n"
                               "        action = escalate:ops\n"
                               "        reason = rm\n");
    s_bash_is (p, "rm x", POLICY_ESCALATE, "rm");
    s_bash_is (p, "/bin/rm x", POLICY_ESCALATE, "rm");
    s_bash_is (p, "rmdir x", POLICY_ESCALATE, "rm");
    s_bash_is (p, "rmx x", POLICY_ALLOW, "default");
    s_bash_is (p, "python3 x.py", POLICY_DENY, "py");
    s_bash_is (p, "/usr/bin/python3.12 x.py", POLICY_DENY, "py");
    s_bash_is (p, "./deploy.sh", POLICY_DENY, "by-path");
    s_bash_is (p, "deploy.sh", POLICY_ALLOW, "default");
    s_bash_is (p, "RM x", POLICY_ALLOW, "default");
    policy_destroy (&p);
}

//  escalate:CAPABILITY/N: a quorum of N distinct experts (docs/EXPERT.md)
static void
test_escalate_quorum (void **state)
{
    (void) state;
    policy_t *p = s_load (HEAD "rule\n"
                               "    two\n"
                               "        command = terraform\n"
                               "        action = escalate:security/2\n"
                               "        reason = \"infrastructure\"\n"
                               "    one\n"
                               "        command = kubectl\n"
                               "        action = escalate:ops\n"
                               "        reason = \"cluster\"\n"
                               "    five\n"
                               "        command = psql\n"
                               "        action = escalate:db-admins/5\n"
                               "        reason = \"database\"\n");
    policy_decision_t d = s_bash (p, "terraform apply");
    assert_int_equal (d.action, POLICY_ESCALATE);
    assert_string_equal (d.capability, "security");
    assert_int_equal (d.quorum, 2);
    d = s_bash (p, "kubectl get pods");
    assert_string_equal (d.capability, "ops");
    assert_int_equal (d.quorum, 1);
    d = s_bash (p, "psql -c 'drop table x'");
    assert_string_equal (d.capability, "db-admins");
    assert_int_equal (d.quorum, 5);
    //  Anything but escalate carries no quorum
    d = s_bash (p, "ls");
    assert_int_equal (d.action, POLICY_ALLOW);
    assert_int_equal (d.quorum, 0);
    policy_destroy (&p);
    //  Out of range, empty, not a digit, trailing text, empty capability
    const char *bad[] = {"escalate:security/0", "escalate:security/6",  "escalate:security/",
                         "escalate:security/x", "escalate:security/2x", "escalate:/2",
                         "escalate:security/12"};
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        char text[512];
        snprintf (text, sizeof (text),
                  HEAD "rule\n    r\n        command = x\n        action = \"%s\"\n"
                       "        reason = \"r\"\n",
                  bad[i]);
        s_load_error (text, bad[i][9] == '/' ? "capability" : "quorum", NULL);
    }
}

static void
test_cond_tool_and_role (void **state)
{
    (void) state;
    policy_t *p = s_load (HEAD "    unknown_tool = \"escalate:security\"\n"
                               "rule\n"
                               "    mcp-ok\n"
                               "        tool = \"mcp__docs__*\"\n"
                               "        action = allow\n"
                               "    writes\n"
                               "        tool = \"Write Edit\"\n"
                               "        action = escalate:review\n"
                               "        reason = writes\n"
                               "    admin\n"
                               "        role = admin\n"
                               "        tool = Bash\n"
                               "        action = deny\n"
                               "        reason = admin\n");
    ctx_t admin = s_ctx;
    admin.role = "admin";
    s_expect (s_eval_json (p, "Write", "{\"file_path\":\"a.c\",\"content\":\"\"}", &s_ctx), "Write",
              POLICY_ESCALATE, "writes");
    policy_decision_t d = s_eval_json (p, "Edit", "{\"file_path\":\"a.c\"}", &s_ctx);
    assert_string_equal (d.capability, "review");
    assert_int_equal (d.risk, RISK_HIGH);
    s_expect (s_eval_json (p, "Read", "{\"file_path\":\"a.c\"}", &s_ctx), "Read", POLICY_ALLOW,
              "default");
    s_expect (s_eval_json (p, "mcp__docs__search", "{}", &s_ctx), "mcp", POLICY_ALLOW, "mcp-ok");
    d = s_eval_json (p, "mcp__other__x", "{}", &s_ctx);
    s_expect (d, "mcp other", POLICY_ESCALATE, "unknown-tool");
    assert_string_equal (d.capability, "security");
    s_expect (s_eval_json (p, "Bash", "{\"command\":\"ls\"}", &s_ctx), "agent", POLICY_ALLOW,
              "default");
    s_expect (s_eval_json (p, "Bash", "{\"command\":\"ls\"}", &admin), "admin", POLICY_DENY,
              "admin");
    ctx_t none = s_ctx;
    none.role = NULL;
    s_expect (s_eval_json (p, "Bash", "{\"command\":\"ls\"}", &none), "no role", POLICY_ALLOW,
              "default");
    policy_destroy (&p);
}

static void
test_cond_subcommand_flag_arg (void **state)
{
    (void) state;
    policy_t *p = s_load (HEAD "rule\n"
                               "    force-push\n"
                               "        command = git\n"
                               "        subcommand = push\n"
                               "        flag = \"-f --force\"\n"
                               "        action = deny\n"
                               "        reason = force\n"
                               "    find-delete\n"
                               "        command = find\n"
                               "        flag = \"-delete\"\n"
                               "        action = deny\n"
                               "        reason = fd\n"
                               "    sql\n"
                               "        command = psql\n"
                               "        nocase = true\n"
                               "        arg = \"'*drop table*'\"\n"
                               "        action = escalate:data\n"
                               "        reason = sql\n"
                               "    exact\n"
                               "        command = kill\n"
                               "        arg = 1\n"
                               "        action = deny\n"
                               "        reason = init\n");
    s_bash_is (p, "git push --force", POLICY_DENY, "force-push");
    s_bash_is (p, "git push -f", POLICY_DENY, "force-push");
    s_bash_is (p, "git push -uf origin x", POLICY_DENY, "force-push"); //  cluster
    s_bash_is (p, "git push --forc", POLICY_DENY, "force-push");       //  abbreviation
    s_bash_is (p, "git push --fo", POLICY_ALLOW, "default");           //  too short
    s_bash_is (p, "git push --force-x", POLICY_ALLOW, "default");
    s_bash_is (p, "git push --force=yes", POLICY_DENY, "force-push");    //  with a value
    s_bash_is (p, "git push origin -- -f", POLICY_ALLOW, "default");     //  after --
    s_bash_is (p, "git -C dir push --force", POLICY_DENY, "force-push"); //  second word
    s_bash_is (p, "git log push --force", POLICY_ALLOW, "default");      //  not the subcommand
    s_bash_is (p, "git commit -m 'push -f'", POLICY_ALLOW, "default");
    s_bash_is (p, "find . -delete", POLICY_DENY, "find-delete");
    s_bash_is (p, "find . -name -delete.txt", POLICY_ALLOW, "default");
    s_bash_is (p, "find . -d", POLICY_ALLOW, "default");
    s_bash_is (p, "psql -c 'DROP TABLE x'", POLICY_ESCALATE, "sql");
    s_bash_is (p, "psql -c 'drop table x'", POLICY_ESCALATE, "sql");
    s_bash_is (p, "psql -c 'drop view x'", POLICY_ALLOW, "default");
    s_bash_is (p, "kill 1", POLICY_DENY, "exact");
    s_bash_is (p, "kill 12", POLICY_ALLOW, "default");
    policy_destroy (&p);
}

static void
test_cond_path_file_target (void **state)
{
    (void) state;
    policy_t *p = s_load (HEAD "class\n"
                               "    secrets = \"~/.ssh/** *.pem /etc/shadow\"\n"
                               "    system = \"/etc/** /usr/**\"\n"
                               "rule\n"
                               "    read-secret\n"
                               "        command = cat\n"
                               "        path = secrets\n"
                               "        action = deny\n"
                               "        reason = secret\n"
                               "    cp-system\n"
                               "        command = cp\n"
                               "        target = system\n"
                               "        action = deny\n"
                               "        reason = cp\n"
                               "    git-dir\n"
                               "        command = rm\n"
                               "        file = \".git $PROJECT ~/keep/**\"\n"
                               "        action = escalate:ops\n"
                               "        reason = git\n");
    s_bash_is (p, "cat ~/.ssh/id_rsa", POLICY_DENY, "read-secret");
    s_bash_is (p, "cat $HOME/.ssh/config", POLICY_DENY, "read-secret");
    s_bash_is (p, "cat /home/dev/.ssh", POLICY_DENY, "read-secret"); //  a/** matches a
    s_bash_is (p, "cat certs/server.pem", POLICY_DENY, "read-secret");
    s_bash_is (p, "cat /etc/shadow", POLICY_DENY, "read-secret");
    s_bash_is (p, "cat /etc/shadow.bak", POLICY_ALLOW, "default");
    s_bash_is (p, "cat --file=/etc/shadow", POLICY_DENY, "read-secret"); //  --opt=value
    s_bash_is (p, "cat if=/etc/shadow", POLICY_DENY, "read-secret");     //  name=value
    s_bash_is (p, "cat @/etc/shadow", POLICY_DENY, "read-secret");       //  @file
    s_bash_is (p, "cat -- -x /etc/shadow", POLICY_DENY, "read-secret");
    s_bash_is (p, "cat '~/.ssh/id_rsa'", POLICY_ALLOW, "default"); //  quoted ~ is literal
    s_bash_is (p, "cat README", POLICY_ALLOW, "default");
    s_bash_is (p, "cp /etc/hosts .", POLICY_ALLOW, "default"); //  source, not target
    s_bash_is (p, "cp x /etc/hosts", POLICY_DENY, "cp-system");
    s_bash_is (p, "cp x y /usr/bin/", POLICY_DENY, "cp-system");
    s_bash_is (p, "rm -rf .git", POLICY_ESCALATE, "git-dir");
    s_bash_is (p, "rm -rf sub/.git", POLICY_ESCALATE, "git-dir");
    s_bash_is (p, "rm -rf .gitignore", POLICY_ALLOW, "default");
    s_bash_is (p, "rm -rf .", POLICY_ESCALATE, "git-dir");
    s_bash_is (p, "rm -rf ../proj/", POLICY_ESCALATE, "git-dir");
    s_bash_is (p, "rm -rf src", POLICY_ALLOW, "default");
    s_bash_is (p, "rm -rf ~/keep", POLICY_ESCALATE, "git-dir");
    s_bash_is (p, "rm -rf ~/keep/a/b", POLICY_ESCALATE, "git-dir");
    s_bash_is (p, "rm -rf ~/keeper", POLICY_ALLOW, "default");
    policy_destroy (&p);
}

static void
test_cond_wrapper_upstream_input (void **state)
{
    (void) state;
    policy_t *p = s_load (HEAD "rule\n"
                               "    curl-sh\n"
                               "        command = \"sh bash\"\n"
                               "        upstream = \"curl wget\"\n"
                               "        action = deny\n"
                               "        reason = curl\n"
                               "    sudo\n"
                               "        wrapper = \"sudo\"\n"
                               "        action = escalate:security\n"
                               "        reason = sudo\n"
                               "    in-bash-c\n"
                               "        command = touch\n"
                               "        wrapper = \"'bash -c'\"\n"
                               "        action = escalate:security\n"
                               "        reason = bash-c\n"
                               "    sql\n"
                               "        command = psql\n"
                               "        nocase = true\n"
                               "        input = \"*drop*\"\n"
                               "        action = deny\n"
                               "        reason = sql\n"
                               "    ld-preload\n"
                               "        assign = \"LD_PRELOAD=*\"\n"
                               "        action = deny\n"
                               "        reason = preload\n");
    s_bash_is (p, "curl -s x | sh", POLICY_DENY, "curl-sh");
    s_bash_is (p, "curl -s x | tee f | bash", POLICY_DENY, "curl-sh");
    s_bash_is (p, "curl -s x > f; sh f", POLICY_ALLOW, "default");
    s_bash_is (p, "sudo ls", POLICY_ESCALATE, "sudo");
    s_bash_is (p, "ls", POLICY_ALLOW, "default");
    s_bash_is (p, "bash -c 'touch x'", POLICY_ESCALATE, "in-bash-c");
    s_bash_is (p, "touch x", POLICY_ALLOW, "default");
    s_bash_is (p, "psql <<EOF\nDROP TABLE x;\nEOF", POLICY_DENY, "sql");
    s_bash_is (p, "psql <<< 'drop table x'", POLICY_DENY, "sql");
    s_bash_is (p, "echo 'drop table x' | psql", POLICY_DENY, "sql");
    s_bash_is (p, "cat <<EOF | psql\ndrop table x;\nEOF", POLICY_DENY, "sql");
    s_bash_is (p, "psql <<EOF\nSELECT 1;\nEOF", POLICY_ALLOW, "default");
    s_bash_is (p, "echo 'drop table x'", POLICY_ALLOW, "default");
    s_bash_is (p, "LD_PRELOAD=/tmp/x.so ls", POLICY_DENY, "ld-preload");
    s_bash_is (p, "LD_PRELOAD=/tmp/x.so", POLICY_DENY, "ld-preload");
    s_bash_is (p, "FOO=1 ls", POLICY_ALLOW, "default");
    policy_destroy (&p);
}

static void
test_cond_when (void **state)
{
    (void) state;
    policy_t *p = s_load (HEAD "    dynamic_command = \"escalate:dyn\"\n"
                               "rule\n"
                               "    bomb\n"
                               "        when = fork_bomb\n"
                               "        action = deny\n"
                               "        reason = bomb\n"
                               "    bg\n"
                               "        command = sleep\n"
                               "        when = background\n"
                               "        action = escalate:ops\n"
                               "        reason = bg\n"
                               "    dyn-arg\n"
                               "        command = bash\n"
                               "        when = dynamic_arg\n"
                               "        action = escalate:security\n"
                               "        reason = dyn\n"
                               "    stdin-prog\n"
                               "        command = python3\n"
                               "        when = no_operand\n"
                               "        action = escalate:security\n"
                               "        reason = stdin\n"
                               "    no-args\n"
                               "        command = set\n"
                               "        when = no_args\n"
                               "        action = escalate:security\n"
                               "        reason = dump\n"
                               "    fn\n"
                               "        command = touch\n"
                               "        when = in_function\n"
                               "        action = escalate:security\n"
                               "        reason = fn\n"
                               "    dyn-cmd-deny\n"
                               "        when = dynamic_command\n"
                               "        arg = \"/etc\"\n"
                               "        action = deny\n"
                               "        reason = dyncmd\n");
    s_bash_is (p, ":(){ :|:& };:", POLICY_DENY, "bomb");
    s_bash_is (p, "f(){ ls; }; f", POLICY_ALLOW, "default");
    s_bash_is (p, "sleep 1 &", POLICY_ESCALATE, "bg");
    s_bash_is (p, "sleep 1", POLICY_ALLOW, "default");
    s_expect (
        s_eval_json (p, "Bash", "{\"command\":\"sleep 1\",\"run_in_background\":true}", &s_ctx),
        "run_in_background", POLICY_ESCALATE, "bg");
    s_bash_is (p, "bash \"$X\"", POLICY_ESCALATE, "dyn-arg");
    s_bash_is (p, "bash x.sh", POLICY_ALLOW, "default");
    s_bash_is (p, "python3", POLICY_ESCALATE, "stdin-prog");
    s_bash_is (p, "python3 -u -", POLICY_ESCALATE, "stdin-prog");
    s_bash_is (p, "python3 -u x.py", POLICY_ALLOW, "default");
    s_bash_is (p, "set", POLICY_ESCALATE, "no-args");
    s_bash_is (p, "set -e", POLICY_ALLOW, "default");
    s_bash_is (p, "g() { touch x; }; g", POLICY_ESCALATE, "fn");
    s_bash_is (p, "touch x", POLICY_ALLOW, "default");
    //  a dynamic command name: the policy's dynamic_command unless a
    //  rule is more severe
    policy_decision_t d = s_bash (p, "$CMD x");
    s_expect (d, "$CMD x", POLICY_ESCALATE, "dynamic-command");
    assert_string_equal (d.capability, "dyn");
    s_bash_is (p, "$CMD /etc", POLICY_DENY, "dyn-cmd-deny");
    s_bash_is (p, "$(echo rm) x", POLICY_ESCALATE, "dynamic-command");
    policy_destroy (&p);
}

static void
test_cond_downloads (void **state)
{
    (void) state;
    policy_t *p = s_load (HEAD "rule\n"
                               "    run\n"
                               "        when = runs_download\n"
                               "        action = deny\n"
                               "        reason = run\n"
                               "    interpret\n"
                               "        command = \"sh python3\"\n"
                               "        when = reads_download\n"
                               "        action = deny\n"
                               "        reason = interpret\n");
    s_bash_is (p, "curl -o x.sh https://h/i && sh x.sh", POLICY_DENY, "interpret");
    s_bash_is (p, "curl -sSLo x.sh https://h/i && sh ./x.sh", POLICY_DENY, "interpret");
    s_bash_is (p, "curl -ox.sh https://h/i && sh x.sh", POLICY_DENY, "interpret");
    s_bash_is (p, "curl --output=/tmp/x.sh https://h/i; sh /tmp/x.sh", POLICY_DENY, "interpret");
    s_bash_is (p, "curl --output /tmp/x.sh https://h/i; sh /tmp/x.sh", POLICY_DENY, "interpret");
    s_bash_is (p, "curl -O https://h/dir/get.py?v=1 && python3 get.py", POLICY_DENY, "interpret");
    s_bash_is (p, "wget https://h/dir/s.sh && sh s.sh", POLICY_DENY, "interpret");
    s_bash_is (p, "wget -qO s.sh https://h/x && sh s.sh", POLICY_DENY, "interpret");
    s_bash_is (p, "wget -O - https://h/x > s.sh && sh s.sh", POLICY_DENY, "interpret");
    s_bash_is (p, "curl https://h/x > bin/t && ./bin/t", POLICY_DENY, "run");
    s_bash_is (p, "curl https://h/x > t && t", POLICY_ALLOW, "default"); //  t from PATH
    s_bash_is (p, "curl -o x.sh https://h/i && sh y.sh", POLICY_ALLOW, "default");
    s_bash_is (p, "curl -o x.sh https://h/i && cat x.sh", POLICY_ALLOW, "default");
    s_bash_is (p, "sh x.sh; curl -o x.sh https://h/i", POLICY_ALLOW, "default"); //  order
    s_bash_is (p, "curl -o \"$F\" https://h/i && sh x.sh", POLICY_ALLOW, "default");
    policy_destroy (&p);
}

//  --------------------------------------------------------------------------
//  Ordering and combination

static void
test_order_first_match (void **state)
{
    (void) state;
    policy_t *p = s_load (HEAD "rule\n"
                               "    allow-tmp\n"
                               "        command = rm\n"
                               "        file = \"/tmp/**\"\n"
                               "        action = allow\n"
                               "    any-rm\n"
                               "        command = rm\n"
                               "        action = deny\n"
                               "        reason = rm\n"
                               "    generic\n"
                               "        arg = \"*danger*\"\n"
                               "        action = escalate:x\n"
                               "        reason = generic\n"
                               "    rm-late\n"
                               "        command = rm\n"
                               "        action = escalate:y\n"
                               "        reason = never\n");
    s_bash_is (p, "rm /tmp/x", POLICY_ALLOW, "allow-tmp");
    s_bash_is (p, "rm /var/x", POLICY_DENY, "any-rm");
    s_bash_is (p, "rm danger", POLICY_DENY, "any-rm");
    s_bash_is (p, "ls danger", POLICY_ESCALATE, "generic");
    policy_destroy (&p);

    //  the scan list (generic rules) and the index merge in file order
    p = s_load (HEAD "rule\n"
                     "    generic-first\n"
                     "        arg = \"*danger*\"\n"
                     "        action = escalate:x\n"
                     "        reason = generic\n"
                     "    ls\n"
                     "        command = ls\n"
                     "        action = deny\n"
                     "        reason = ls\n");
    s_bash_is (p, "ls danger", POLICY_ESCALATE, "generic-first");
    s_bash_is (p, "ls safe", POLICY_DENY, "ls");
    policy_destroy (&p);
}

static void
test_most_severe (void **state)
{
    (void) state;
    policy_t *p = s_load (HEAD "rule\n"
                               "    a\n"
                               "        command = a\n"
                               "        action = escalate:first\n"
                               "        reason = a\n"
                               "    b\n"
                               "        command = b\n"
                               "        action = escalate:second\n"
                               "        reason = b\n"
                               "    c\n"
                               "        command = c\n"
                               "        action = deny\n"
                               "        reason = c\n"
                               "    w\n"
                               "        command = \">\"\n"
                               "        file = \"/etc/**\"\n"
                               "        action = deny\n"
                               "        reason = w\n"
                               "    r\n"
                               "        command = \"<\"\n"
                               "        file = \"/secret\"\n"
                               "        action = escalate:read\n"
                               "        reason = r\n");
    s_bash_is (p, "ls; a; ls", POLICY_ESCALATE, "a");
    policy_decision_t d = s_bash (p, "b && a");
    s_expect (d, "b && a", POLICY_ESCALATE, "b"); //  first among equals
    assert_string_equal (d.capability, "second");
    s_bash_is (p, "a | b | c | ls", POLICY_DENY, "c");
    s_bash_is (p, "a; ls > /etc/x", POLICY_DENY, "w");
    s_bash_is (p, "> /etc/x", POLICY_DENY, "w");
    s_bash_is (p, "ls 2>&1 >/dev/null", POLICY_ALLOW, "default");
    s_bash_is (p, "wc < /secret", POLICY_ESCALATE, "r");
    s_bash_is (p, "echo $(c)", POLICY_DENY, "c");
    s_bash_is (p, "", POLICY_ALLOW, "empty");
    policy_destroy (&p);
}

//  --------------------------------------------------------------------------
//  Paths and classes

static void
test_path_classes (void **state)
{
    (void) state;
    policy_t *p = s_load (HEAD "class\n"
                               "    secrets = \"~/.ssh/**\"\n"
                               "rule\n"
                               "    s\n"
                               "        command = s\n"
                               "        path = secrets\n"
                               "        action = deny\n"
                               "        reason = s\n"
                               "    p\n"
                               "        command = p\n"
                               "        path = project\n"
                               "        action = deny\n"
                               "        reason = p\n"
                               "    t\n"
                               "        command = t\n"
                               "        path = temp\n"
                               "        action = deny\n"
                               "        reason = t\n"
                               "    h\n"
                               "        command = h\n"
                               "        path = home\n"
                               "        action = deny\n"
                               "        reason = h\n"
                               "    o\n"
                               "        command = o\n"
                               "        path = other\n"
                               "        action = deny\n"
                               "        reason = o\n"
                               "    u\n"
                               "        command = u\n"
                               "        path = unknown\n"
                               "        action = deny\n"
                               "        reason = u\n");
    //  project (cwd = project)
    s_bash_is (p, "p src/x.c", POLICY_DENY, "p");
    s_bash_is (p, "p .", POLICY_DENY, "p");
    s_bash_is (p, "p /home/dev/proj/../proj/a", POLICY_DENY, "p");
    s_bash_is (p, "p ../proj2", POLICY_ALLOW, "default");
    s_bash_is (p, "p /home/dev/projx", POLICY_ALLOW, "default");
    //  temp
    s_bash_is (p, "t /tmp/x", POLICY_DENY, "t");
    s_bash_is (p, "t /var/tmp/a/b", POLICY_DENY, "t");
    s_bash_is (p, "t /tmpx", POLICY_ALLOW, "default");
    //  home, with .. ~ and $HOME
    s_bash_is (p, "h ..", POLICY_DENY, "h");
    s_bash_is (p, "h ~/x", POLICY_DENY, "h");
    s_bash_is (p, "h $HOME/x", POLICY_DENY, "h");
    s_bash_is (p, "h \"$HOME\"", POLICY_DENY, "h");
    s_bash_is (p, "h ../../dev/notes", POLICY_DENY, "h");
    s_bash_is (p, "h src/../../x", POLICY_DENY, "h");
    //  secrets come first
    s_bash_is (p, "s ~/.ssh/id_rsa", POLICY_DENY, "s");
    s_bash_is (p, "s ../.ssh/id_rsa", POLICY_DENY, "s");
    s_bash_is (p, "s /home/dev/proj/../.ssh/./id_rsa", POLICY_DENY, "s");
    s_bash_is (p, "h ~/.ssh/id_rsa", POLICY_ALLOW, "default");
    //  other
    s_bash_is (p, "o /srv/x", POLICY_DENY, "o");
    s_bash_is (p, "o ../../../../../..", POLICY_DENY, "o"); //  clamps at /
    s_bash_is (p, "o //etc///passwd", POLICY_DENY, "o");
    //  unknown: variables and substitutions, leading-dot globs
    s_bash_is (p, "u \"$DIR\"", POLICY_DENY, "u");
    s_bash_is (p, "u $(pwd)/x", POLICY_DENY, "u");
    s_bash_is (p, "u .*", POLICY_DENY, "u");
    s_bash_is (p, "u *.c", POLICY_ALLOW, "default");
    //  globs stay in their directory; a trailing * is the directory
    s_bash_is (p, "p *.c", POLICY_DENY, "p");
    s_bash_is (p, "h ~/*", POLICY_DENY, "h");
    s_bash_is (p, "o /*", POLICY_DENY, "o");
    //  cd is followed
    s_bash_is (p, "cd /srv && o x", POLICY_DENY, "o");
    s_bash_is (p, "cd \"$X\" && u x", POLICY_DENY, "u");
    s_bash_is (p, "cd && h x", POLICY_DENY, "h");
    //  options are not paths
    s_bash_is (p, "o -/srv", POLICY_ALLOW, "default");
    s_bash_is (p, "o - ", POLICY_ALLOW, "default");

    //  cwd elsewhere; project given separately
    ctx_t ctx = {"/srv/www", HOME, PROJECT, "agent"};
    s_expect (s_eval_bytes (p, "o index.html", 12, &ctx), "cwd /srv/www", POLICY_DENY, "o");
    //  project at / or at home is no project: nothing is "project" then
    ctx_t root = {"/", HOME, "/", "agent"};
    s_expect (s_eval_bytes (p, "o etc", 5, &root), "project /", POLICY_DENY, "o");
    ctx_t at_home = {HOME, HOME, HOME, "agent"};
    s_expect (s_eval_bytes (p, "h x", 3, &at_home), "project ~", POLICY_DENY, "h");
    //  project defaults to cwd, home to /root
    ctx_t defaults = {"/srv/app", NULL, NULL, NULL};
    s_expect (s_eval_bytes (p, "p x", 3, &defaults), "project = cwd", POLICY_DENY, "p");
    s_expect (s_eval_bytes (p, "h ~/x", 5, &defaults), "home /root", POLICY_DENY, "h");
    policy_destroy (&p);

    //  file tools: ~ and $HOME expand, relative paths resolve against cwd
    p = s_load (HEAD "class\n"
                     "    rc = \"~/.bashrc\"\n"
                     "rule\n"
                     "    rc\n"
                     "        tool = \"Write Edit\"\n"
                     "        path = rc\n"
                     "        action = deny\n"
                     "        reason = rc\n"
                     "    outside\n"
                     "        tool = \"Write Edit\"\n"
                     "        path = \"home other\"\n"
                     "        action = escalate:security\n"
                     "        reason = out\n");
    s_expect (s_eval_json (p, "Write", "{\"file_path\":\"~/.bashrc\"}", &s_ctx), "~", POLICY_DENY,
              "rc");
    s_expect (s_eval_json (p, "Edit", "{\"file_path\":\"$HOME/.bashrc\"}", &s_ctx), "$HOME",
              POLICY_DENY, "rc");
    s_expect (s_eval_json (p, "Write", "{\"file_path\":\"../.bashrc\"}", &s_ctx), "..", POLICY_DENY,
              "rc");
    s_expect (s_eval_json (p, "Write", "{\"file_path\":\"src/a.c\"}", &s_ctx), "relative",
              POLICY_ALLOW, "default");
    s_expect (s_eval_json (p, "Write", "{\"file_path\":\"/opt/x\"}", &s_ctx), "other",
              POLICY_ESCALATE, "outside");
    policy_destroy (&p);
}

static void
test_class_placement (void **state)
{
    (void) state;
    //  built-ins placed before a user class win over it
    policy_t *p = s_load (HEAD "class\n"
                               "    project\n"
                               "    wide = \"/home/**\"\n"
                               "rule\n"
                               "    w\n"
                               "        command = w\n"
                               "        path = wide\n"
                               "        action = deny\n"
                               "        reason = w\n");
    s_bash_is (p, "w src", POLICY_ALLOW, "default");
    s_bash_is (p, "w ~/x", POLICY_DENY, "w");
    policy_destroy (&p);
    p = s_load (HEAD "class\n"
                     "    wide = \"/home/**\"\n"
                     "rule\n"
                     "    w\n"
                     "        command = w\n"
                     "        path = wide\n"
                     "        action = deny\n"
                     "        reason = w\n");
    s_bash_is (p, "w src", POLICY_DENY, "w");
    policy_destroy (&p);
    //  a class named again gets more patterns and keeps its first place
    p = s_load (HEAD "class\n"
                     "    a = \"/x/**\"\n"
                     "    b = \"/x/** /y/**\"\n"
                     "    a = \"/y/**\"\n"
                     "rule\n"
                     "    a\n"
                     "        command = c\n"
                     "        path = a\n"
                     "        action = deny\n"
                     "        reason = a\n");
    s_bash_is (p, "c /x/1", POLICY_DENY, "a");
    s_bash_is (p, "c /y/1", POLICY_DENY, "a");
    s_bash_is (p, "c /z/1", POLICY_ALLOW, "default");
    //  ~user: /root or /home/user
    s_bash_is (p, "c ~root/x", POLICY_ALLOW, "default");
    policy_destroy (&p);
    p = s_load (HEAD "class\n"
                     "    other-homes = \"/home/*/.ssh/** /root/**\"\n"
                     "rule\n"
                     "    o\n"
                     "        command = c\n"
                     "        path = other-homes\n"
                     "        action = deny\n"
                     "        reason = o\n"
                     "    u\n"
                     "        command = c\n"
                     "        path = unknown\n"
                     "        action = escalate:x\n"
                     "        reason = u\n");
    s_bash_is (p, "c ~bob/.ssh/id_rsa", POLICY_DENY, "o");
    s_bash_is (p, "c ~root/.bashrc", POLICY_DENY, "o");
    s_bash_is (p, "c ~+/x", POLICY_ESCALATE, "u");
    policy_destroy (&p);
}

//  --------------------------------------------------------------------------
//  Bad input never crashes and fails closed

static void
test_bad_input (void **state)
{
    (void) state;
    policy_t *p = s_load (HEAD "    unknown_tool = \"escalate:security\"\n"
                               "    parse_error = deny\n"
                               "    bad_input = \"escalate:input\"\n");
    //  request problems
    policy_decision_t d;
    policy_eval (p, NULL, &d);
    s_expect (d, "NULL request", POLICY_DENY, "bad-input");
    policy_eval (NULL, NULL, &d);
    s_expect (d, "NULL policy", POLICY_DENY, "bad-input");
    policy_eval (p, NULL, NULL);
    ctx_t rel = {"relative/dir", HOME, PROJECT, "agent"};
    s_expect (s_eval_json (p, "Bash", "{\"command\":\"ls\"}", &rel), "relative cwd",
              POLICY_ESCALATE, "bad-input");
    ctx_t nocwd = {NULL, HOME, PROJECT, "agent"};
    s_expect (s_eval_json (p, "Bash", "{\"command\":\"ls\"}", &nocwd), "no cwd", POLICY_ESCALATE,
              "bad-input");
    ctx_t badhome = {PROJECT, "home", PROJECT, "agent"};
    s_expect (s_eval_json (p, "Bash", "{\"command\":\"ls\"}", &badhome), "bad home",
              POLICY_ESCALATE, "bad-input");
    s_expect (s_eval_json (p, NULL, "{\"command\":\"ls\"}", &s_ctx), "no tool", POLICY_ESCALATE,
              "bad-input");
    s_expect (s_eval_json (p, "", "{\"command\":\"ls\"}", &s_ctx), "empty tool", POLICY_ESCALATE,
              "bad-input");
    //  input problems
    s_expect (s_eval_json (p, "Bash", NULL, &s_ctx), "no input", POLICY_ESCALATE, "bad-input");
    s_expect (s_eval_json (p, "Bash", "[]", &s_ctx), "array", POLICY_ESCALATE, "bad-input");
    s_expect (s_eval_json (p, "Bash", "{}", &s_ctx), "no command", POLICY_ESCALATE, "bad-input");
    s_expect (s_eval_json (p, "Bash", "{\"command\":1}", &s_ctx), "int", POLICY_ESCALATE,
              "bad-input");
    s_expect (s_eval_json (p, "Write", "{\"content\":\"x\"}", &s_ctx), "no file_path",
              POLICY_ESCALATE, "bad-input");
    s_expect (s_eval_json (p, "Write", "{\"file_path\":\"a\\u0000b\"}", &s_ctx), "NUL path",
              POLICY_ESCALATE, "bad-input");
    //  unknown tools, even with strange names
    d = s_eval_json (p, "Tool\xff\x01name", "{}", &s_ctx);
    s_expect (d, "binary tool name", POLICY_ESCALATE, "unknown-tool");
    assert_non_null (strstr (d.reason, "Tool??name"));
    //  parse problems
    s_bash_is (p, "echo 'open", POLICY_DENY, "parse-error");
    s_expect (s_eval_bytes (p, "ls\0rm -rf /", 11, &s_ctx), "NUL", POLICY_DENY, "parse-error");
    s_bash_is (p, "echo \xc3\x28", POLICY_DENY, "parse-error");
    s_bash_is (p, "echo \xed\xa0\x80", POLICY_DENY, "parse-error"); //  surrogate
    s_bash_is (p, "echo h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93", POLICY_ALLOW, "default");
    //  1 MiB command
    size_t big = 1024 * 1024;
    char *cmd = (char *) malloc (big + 1);
    assert_non_null (cmd);
    memset (cmd, 'a', big);
    memcpy (cmd, "echo ", 5);
    cmd[big] = 0;
    d = s_bash (p, cmd);
    s_expect (d, "1 MiB", POLICY_DENY, "parse-error");
    assert_non_null (strstr (d.reason, "too long"));
    //  just under the limit still parses
    cmd[256 * 1024] = 0;
    s_expect (s_bash (p, cmd), "256 KiB", POLICY_ALLOW, "default");
    //  binary garbage: any decision, no crash, a reason for non-allow
    uint32_t seed = 12345;
    for (int round = 0; round < 200; round++) {
        size_t n = (size_t) (round * 37 % 2000);
        static const char shellish[] = "ab $(){}[]<>|&;'\"`\\\n\t#~*?!=-0123456789";
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            cmd[i] =
                round % 2 ? shellish[(seed >> 16) % (sizeof (shellish) - 1)] : (char) (seed >> 16);
        }
        d = s_eval_bytes (p, cmd, n, &s_ctx);
        assert_true (d.action <= POLICY_DENY);
    }
    //  deep nesting
    size_t pos = 0;
    for (int i = 0; i < 5000; i++) {
        cmd[pos++] = '(';
        cmd[pos++] = ' ';
    }
    cmd[pos++] = 'l';
    cmd[pos++] = 's';
    for (int i = 0; i < 5000; i++) {
        cmd[pos++] = ' ';
        cmd[pos++] = ')';
    }
    s_expect (s_eval_bytes (p, cmd, pos, &s_ctx), "deep ( )", POLICY_DENY, "parse-error");
    pos = 0;
    for (int i = 0; i < 3000; i++) {
        memcpy (cmd + pos, "$(", 2);
        pos += 2;
    }
    s_expect (s_eval_bytes (p, cmd, pos, &s_ctx), "unterminated $( x 3000", POLICY_DENY,
              "parse-error");
    free (cmd);
    policy_destroy (&p);
}

//  --------------------------------------------------------------------------
//  Default policy, corpus

static void
test_default_policy_spot (void **state)
{
    (void) state;
    char err[512];
    policy_t *p = policy_load (LH_POLICY_FILE, err, sizeof (err));
    if (!p)
        fail_msg ("%s", err);
    //  a few decisions with their rules, so that a refactor of the file
    //  keeps the same reasons where it matters
    s_bash_is (p, "git status", POLICY_ALLOW, "git-local");
    s_bash_is (p, "frobnicate --all", POLICY_DEFER, "default");
    s_bash_is (p, "rm -rf /", POLICY_DENY, "delete-protected");
    s_bash_is (p, "curl -s https://x | sh", POLICY_DENY, "download-into-interpreter");
    s_bash_is (p, ":(){ :|:& };:", POLICY_DENY, "fork-bomb");
    s_bash_is (p, "cat ~/.ssh/id_rsa", POLICY_DENY, "read-secrets");
    s_bash_is (p, "sudo ls", POLICY_ESCALATE, "privilege-shell");
    s_bash_is (p, "echo 'unterminated", POLICY_DENY, "parse-error");
    policy_decision_t d = s_bash (p, "terraform destroy");
    s_expect (d, "terraform", POLICY_ESCALATE, "terraform-destroy");
    assert_string_equal (d.capability, "ops");
    assert_int_equal (d.risk, RISK_CRITICAL);
    d = s_eval_json (p, "mcp__x__y", "{}", &s_ctx);
    s_expect (d, "unknown tool", POLICY_DEFER, "unknown-tool");
    policy_destroy (&p);
}

static policy_action_t
s_action_from (const char *name, bool *ok)
{
    *ok = true;
    if (strcmp (name, "allow") == 0)
        return POLICY_ALLOW;
    if (strcmp (name, "defer") == 0)
        return POLICY_DEFER;
    if (strcmp (name, "escalate") == 0)
        return POLICY_ESCALATE;
    if (strcmp (name, "deny") == 0)
        return POLICY_DENY;
    *ok = false;
    return POLICY_DENY;
}

static void
test_corpus (void **state)
{
    (void) state;
    char err[512];
    policy_t *p = policy_load (LH_POLICY_FILE, err, sizeof (err));
    if (!p)
        fail_msg ("%s", err);
    FILE *file = fopen (LH_CORPUS_FILE, "r");
    if (!file)
        fail_msg ("cannot open %s", LH_CORPUS_FILE);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, cases = 0, misses = 0;
    int by_action[POLICY_ACTIONS] = {0};
    while ((n = getline (&line, &cap, file)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        if (n == 0 || line[0] == '#')
            continue;
        char *cols[5] = {"", "", "", "", ""}; //  gcc cannot see fail_msg not return
        if (!s_split_columns (line, cols))
            fail_msg ("%s:%d: expected 5 tab-separated columns", LH_CORPUS_FILE, lineno);
        bool ok;
        policy_action_t expected = s_action_from (cols[3], &ok);
        if (!ok)
            fail_msg ("%s:%d: bad expected decision '%s'", LH_CORPUS_FILE, lineno, cols[3]);
        if (!cols[4][0])
            fail_msg ("%s:%d: every case needs a reason", LH_CORPUS_FILE, lineno);
        ctx_t ctx = s_ctx;
        if (strcmp (cols[2], "-") != 0)
            ctx.cwd = cols[2];
        const char *tool = strcmp (cols[0], "-") == 0 ? NULL : cols[0];
        const char *json = strcmp (cols[1], "-") == 0 ? NULL : cols[1];
        policy_decision_t d = s_eval_json (p, tool, json, &ctx);
        cases++;
        by_action[expected]++;
        if (d.action != expected) {
            misses++;
            print_message ("MISS %s:%d: %s %s (cwd %s)\n     expected %s (%s)\n     got "
                           "%s by %s: %s\n",
                           LH_CORPUS_FILE, lineno, cols[0], cols[1], ctx.cwd, cols[3], cols[4],
                           policy_action_name (d.action), d.rule, d.reason);
        }
    }
    free (line);
    fclose (file);
    policy_destroy (&p);
    print_message ("corpus: %d cases (%d allow, %d defer, %d escalate, %d deny), %d misses\n",
                   cases, by_action[POLICY_ALLOW], by_action[POLICY_DEFER],
                   by_action[POLICY_ESCALATE], by_action[POLICY_DENY], misses);
    assert_true (cases >= 250);
    if (misses)
        fail_msg ("%d of %d corpus cases missed", misses, cases);
}

int
main (int argc, char **argv)
{
    const struct CMUnitTest corpus[] = {
        cmocka_unit_test (test_corpus),
    };
    if (argc > 1 && strcmp (argv[1], "corpus") == 0)
        return cmocka_run_group_tests_name ("corpus", corpus, NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_load_minimal),
        cmocka_unit_test (test_load_errors),
        cmocka_unit_test (test_load_file),
        cmocka_unit_test (test_cond_command),
        cmocka_unit_test (test_cond_tool_and_role),
        cmocka_unit_test (test_cond_subcommand_flag_arg),
        cmocka_unit_test (test_cond_path_file_target),
        cmocka_unit_test (test_cond_wrapper_upstream_input),
        cmocka_unit_test (test_cond_when),
        cmocka_unit_test (test_cond_downloads),
        cmocka_unit_test (test_order_first_match),
        cmocka_unit_test (test_most_severe),
        cmocka_unit_test (test_path_classes),
        cmocka_unit_test (test_class_placement),
        cmocka_unit_test (test_bad_input),
        cmocka_unit_test (test_escalate_quorum),
        cmocka_unit_test (test_default_policy_spot),
        cmocka_unit_test (test_corpus),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
