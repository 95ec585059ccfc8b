/*  test_shell -- unit tests for nodes/validator/shell.c (cmocka).

    Most cases parse one command line with home "/home/u" and compare the
    commands found: s_line() joins argv texts with single spaces, s_chain()
    joins the wrapper chain with commas, s_find() finds a command by its
    argv[0] and wrapper chain.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shell.h"

static const shell_opts_t s_opts = {.home = "/home/u"};

static shell_t *
s_parse_with (const char *src, const shell_opts_t *opts)
{
    char err[256] = "";
    shell_t *sh = shell_parse (src, strlen (src), opts, err, sizeof (err));
    if (!sh)
        fail_msg ("parse failed for [%s]: %s", src, err);
    return sh;
}

static shell_t *
s_ok (const char *src)
{
    return s_parse_with (src, &s_opts);
}

//  The parse fails and the message contains needle
static void
s_fails_with (const char *src, size_t len, const shell_opts_t *opts, const char *needle)
{
    char err[256] = "";
    shell_t *sh = shell_parse (src, len, opts, err, sizeof (err));
    if (sh) {
        shell_destroy (&sh);
        fail_msg ("expected an error for [%s]", src);
    }
    if (needle && !strstr (err, needle))
        fail_msg ("error for [%s] is '%s', expected '%s'", src, err, needle);
}

static void
s_fails (const char *src, const char *needle)
{
    s_fails_with (src, strlen (src), &s_opts, needle);
}

//  argv texts joined with single spaces
static const char *
s_line (const shell_cmd_t *cmd)
{
    static char buf[4][1024];
    static int next;
    char *out = buf[next++ % 4];
    out[0] = 0;
    assert_non_null (cmd);
    for (size_t i = 0; i < cmd->argc; i++) {
        if (i)
            strncat (out, " ", 1023 - strlen (out));
        strncat (out, cmd->argv[i].text, 1023 - strlen (out));
    }
    return out;
}

//  Wrapper chain joined with commas
static const char *
s_chain (const shell_cmd_t *cmd)
{
    static char buf[4][512];
    static int next;
    char *out = buf[next++ % 4];
    out[0] = 0;
    assert_non_null (cmd);
    for (size_t i = 0; i < cmd->wrappers_count; i++) {
        if (i)
            strncat (out, ",", 511 - strlen (out));
        strncat (out, cmd->wrappers[i], 511 - strlen (out));
    }
    return out;
}

//  The first command with this argv[0] and wrapper chain (NULL: any chain)
static const shell_cmd_t *
s_find (const shell_t *sh, const char *argv0, const char *chain)
{
    for (size_t i = 0; i < shell_count (sh); i++) {
        const shell_cmd_t *cmd = shell_cmd (sh, i);
        if (cmd->argc && !strcmp (cmd->argv[0].text, argv0) &&
            (!chain || !strcmp (s_chain (cmd), chain)))
            return cmd;
    }
    return NULL;
}

static const shell_cmd_t *
s_must (const shell_t *sh, const char *argv0, const char *chain)
{
    const shell_cmd_t *cmd = s_find (sh, argv0, chain);
    if (!cmd)
        fail_msg ("no command %s with wrappers [%s]", argv0, chain ? chain : "*");
    return cmd;
}

static size_t
s_index (const shell_t *sh, const shell_cmd_t *cmd)
{
    for (size_t i = 0; i < shell_count (sh); i++)
        if (shell_cmd (sh, i) == cmd)
            return i;
    fail_msg ("not a command of the result");
    return 0;
}

//  The one command of a one-command parse, argv joined
static void
s_single (const char *src, const char *expect)
{
    shell_t *sh = s_ok (src);
    assert_int_equal (shell_count (sh), 1);
    assert_string_equal (s_line (shell_cmd (sh, 0)), expect);
    shell_destroy (&sh);
}

//  --------------------------------------------------------------------------
//  Words, quoting, expansion

static void
test_simple_words (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("  echo   hello\tworld  ");
    assert_int_equal (shell_count (sh), 1);
    const shell_cmd_t *cmd = shell_cmd (sh, 0);
    assert_int_equal (cmd->argc, 3);
    assert_string_equal (cmd->argv[1].text, "hello");
    assert_false (cmd->argv[1].dynamic);
    assert_false (cmd->argv[1].quoted);
    assert_int_equal (cmd->wrappers_count, 0);
    assert_int_equal (cmd->assigns_count, 0);
    assert_int_equal (cmd->redirs_count, 0);
    assert_false (cmd->background);
    assert_false (cmd->in_function);
    shell_destroy (&sh);
    assert_null (sh);
}

static void
test_single_quotes (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("echo 'a $b `c` \\d \"e\"' x'y'z");
    const shell_cmd_t *cmd = shell_cmd (sh, 0);
    assert_string_equal (cmd->argv[1].text, "a $b `c` \\d \"e\"");
    assert_true (cmd->argv[1].quoted);
    assert_false (cmd->argv[1].dynamic);
    assert_string_equal (cmd->argv[2].text, "xyz");
    assert_int_equal (shell_count (sh), 1); //  no command from `c` in quotes
    shell_destroy (&sh);
}

static void
test_double_quotes (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("echo \"a\\\"b\\$c\\\\d\\`e\\x 'f'\" \"$v\"");
    const shell_cmd_t *cmd = shell_cmd (sh, 0);
    assert_string_equal (cmd->argv[1].text, "a\"b$c\\d`e\\x 'f'");
    assert_true (cmd->argv[1].quoted);
    assert_false (cmd->argv[1].dynamic);
    assert_string_equal (cmd->argv[2].text, "$v");
    assert_true (cmd->argv[2].dynamic);
    assert_true (cmd->argv[2].quoted);
    shell_destroy (&sh);
}

static void
test_ansi_c_quotes (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("printf $'a\\tb\\n\\x41\\101\\u00e9\\'q\\\\' $'x\\0y'z $'\\cA'");
    const shell_cmd_t *cmd = shell_cmd (sh, 0);
    assert_string_equal (cmd->argv[1].text, "a\tb\nAA\xc3\xa9'q\\");
    assert_true (cmd->argv[1].quoted);
    assert_false (cmd->argv[1].dynamic);
    //  A NUL ends the $'' string, as in bash
    assert_string_equal (cmd->argv[2].text, "xz");
    assert_string_equal (cmd->argv[3].text, "\x01");
    shell_destroy (&sh);
    //  $'' builds a command name: it is known statically
    sh = s_ok ("$'\\x72\\x6d' -rf /");
    assert_string_equal (s_line (shell_cmd (sh, 0)), "rm -rf /");
    assert_false (shell_cmd (sh, 0)->argv[0].dynamic);
    shell_destroy (&sh);
}

static void
test_backslash_escapes (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("echo a\\ b \\$x \\' \\\\ r\\m");
    const shell_cmd_t *cmd = shell_cmd (sh, 0);
    assert_int_equal (cmd->argc, 6);
    assert_string_equal (cmd->argv[1].text, "a b");
    assert_true (cmd->argv[1].quoted);
    assert_string_equal (cmd->argv[2].text, "$x");
    assert_false (cmd->argv[2].dynamic);
    assert_string_equal (cmd->argv[3].text, "'");
    assert_string_equal (cmd->argv[4].text, "\\");
    assert_string_equal (cmd->argv[5].text, "rm");
    shell_destroy (&sh);
}

static void
test_line_continuation (void **state)
{
    (void) state;
    s_single ("echo a \\\n b", "echo a b");
    s_single ("ec\\\nho x\\\ny", "echo xy");
    s_single ("echo \"a\\\nb\"", "echo ab");
    //  Not in single quotes
    s_single ("echo 'a\\\nb'", "echo a\\\nb");
    //  Inside an operator
    shell_t *sh = s_ok ("a &\\\n& b");
    assert_int_equal (shell_count (sh), 2);
    assert_false (shell_cmd (sh, 0)->background);
    shell_destroy (&sh);
}

static void
test_comments (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("# leading\necho a#b $# # rm -rf /\n  # only\nls # x \\\necho y");
    assert_int_equal (shell_count (sh), 3);
    assert_string_equal (s_line (shell_cmd (sh, 0)), "echo a#b $#");
    assert_true (shell_cmd (sh, 0)->argv[2].dynamic);
    assert_string_equal (s_line (shell_cmd (sh, 1)), "ls");
    //  A backslash does not continue a comment
    assert_string_equal (s_line (shell_cmd (sh, 2)), "echo y");
    assert_null (s_find (sh, "rm", NULL));
    shell_destroy (&sh);
}

static void
test_empty_and_literal_words (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("echo '' \"\" $ a$ $\"loc\"");
    const shell_cmd_t *cmd = shell_cmd (sh, 0);
    assert_int_equal (cmd->argc, 6);
    assert_string_equal (cmd->argv[1].text, "");
    assert_true (cmd->argv[1].quoted);
    assert_string_equal (cmd->argv[2].text, "");
    assert_string_equal (cmd->argv[3].text, "$");
    assert_false (cmd->argv[3].dynamic);
    assert_string_equal (cmd->argv[4].text, "a$");
    assert_string_equal (cmd->argv[5].text, "loc");
    assert_true (cmd->argv[5].quoted);
    shell_destroy (&sh);
    //  Empty input and comments only: no commands
    sh = s_ok ("");
    assert_int_equal (shell_count (sh), 0);
    shell_destroy (&sh);
    sh = s_ok (" \n\n # nothing\n");
    assert_int_equal (shell_count (sh), 0);
    shell_destroy (&sh);
}

static void
test_tilde (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("ls ~ ~/x ~root/.ssh ~+ a~ \"~\" ~\"/q\" '~'");
    const shell_cmd_t *cmd = shell_cmd (sh, 0);
    assert_string_equal (cmd->argv[1].text, "/home/u");
    assert_false (cmd->argv[1].dynamic);
    assert_string_equal (cmd->argv[2].text, "/home/u/x");
    assert_string_equal (cmd->argv[3].text, "~root/.ssh");
    assert_true (cmd->argv[3].dynamic);
    assert_string_equal (cmd->argv[4].text, "~+");
    assert_true (cmd->argv[4].dynamic);
    assert_string_equal (cmd->argv[5].text, "a~");
    assert_false (cmd->argv[5].dynamic);
    assert_string_equal (cmd->argv[6].text, "~");
    assert_string_equal (cmd->argv[7].text, "~/q");
    assert_false (cmd->argv[7].dynamic);
    assert_string_equal (cmd->argv[8].text, "~");
    shell_destroy (&sh);
}

static void
test_tilde_in_assignments (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("P=~/bin:~/sbin:x cmd a=~/y --prefix=~/z b:~");
    const shell_cmd_t *cmd = shell_cmd (sh, 0);
    assert_int_equal (cmd->assigns_count, 1);
    assert_string_equal (cmd->assigns[0].text, "P=/home/u/bin:/home/u/sbin:x");
    assert_string_equal (cmd->argv[1].text, "a=/home/u/y");
    //  Only NAME= words expand after = (as bash does)
    assert_string_equal (cmd->argv[2].text, "--prefix=~/z");
    assert_string_equal (cmd->argv[3].text, "b:~");
    shell_destroy (&sh);
}

static void
test_home_variable (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("cat $HOME/.ssh/id \"${HOME}/x\" $HOMEX ${HOME:-/} '$HOME'");
    const shell_cmd_t *cmd = shell_cmd (sh, 0);
    assert_string_equal (cmd->argv[1].text, "/home/u/.ssh/id");
    assert_false (cmd->argv[1].dynamic);
    assert_string_equal (cmd->argv[2].text, "/home/u/x");
    assert_false (cmd->argv[2].dynamic);
    assert_true (cmd->argv[2].quoted);
    assert_string_equal (cmd->argv[3].text, "$HOMEX");
    assert_true (cmd->argv[3].dynamic);
    assert_string_equal (cmd->argv[4].text, "${HOME:-/}");
    assert_true (cmd->argv[4].dynamic);
    assert_string_equal (cmd->argv[5].text, "$HOME");
    assert_false (cmd->argv[5].dynamic);
    shell_destroy (&sh);
}

static void
test_no_home (void **state)
{
    (void) state;
    shell_opts_t opts = {0};
    shell_t *sh = s_parse_with ("ls ~ ~/x $HOME ${HOME}", &opts);
    const shell_cmd_t *cmd = shell_cmd (sh, 0);
    assert_string_equal (s_line (cmd), "ls ~ ~/x $HOME ${HOME}");
    for (size_t i = 1; i < 5; i++)
        assert_true (cmd->argv[i].dynamic);
    shell_destroy (&sh);
    //  NULL options: defaults, no home
    char err[64];
    sh = shell_parse ("echo ~", 6, NULL, err, sizeof (err));
    assert_non_null (sh);
    assert_true (shell_cmd (sh, 0)->argv[1].dynamic);
    shell_destroy (&sh);
}

static void
test_parameters_dynamic (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("echo $x ${y} $1 $@ $? $$ ${#z} ${a[1]} pre$x");
    const shell_cmd_t *cmd = shell_cmd (sh, 0);
    assert_string_equal (s_line (cmd), "echo $x ${y} $1 $@ $? $$ ${#z} ${a[1]} pre$x");
    for (size_t i = 1; i < cmd->argc; i++)
        assert_true (cmd->argv[i].dynamic);
    assert_false (cmd->argv[1].quoted);
    shell_destroy (&sh);
}

static void
test_globs_dynamic (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("rm *.o a?c [ab]x [ ] \"*\" '?' \\* x[1]=2");
    const shell_cmd_t *cmd = shell_cmd (sh, 0);
    assert_true (cmd->argv[1].dynamic);
    assert_true (cmd->argv[2].dynamic);
    assert_true (cmd->argv[3].dynamic);
    assert_string_equal (cmd->argv[3].text, "[ab]x");
    assert_false (cmd->argv[4].dynamic); //  [ alone
    assert_false (cmd->argv[5].dynamic);
    assert_false (cmd->argv[6].dynamic); //  quoted
    assert_false (cmd->argv[7].dynamic);
    assert_false (cmd->argv[8].dynamic);
    assert_string_equal (cmd->argv[8].text, "*");
    assert_true (cmd->argv[9].dynamic); //  an argument, so a glob
    shell_destroy (&sh);
}

static void
test_brace_expansion (void **state)
{
    (void) state;
    //  The command name and its arguments come out of one brace set
    s_single ("{rm,-rf,/}", "rm -rf /");
    s_single ("rm -rf {/home/dev,/x}", "rm -rf /home/dev /x");
    s_single ("echo a{b,c}d x{1..3}y", "echo abd acd x1y x2y x3y");
    s_single ("echo {a,b{c,d}e}f", "echo af bcef bdef");
    s_single ("echo {01..03} {1..10..4} {3..1} {a..e..2}", "echo 01 02 03 1 5 9 3 2 1 a c e");
    //  Not sets: kept as written
    shell_t *sh;
    s_single ("echo {} {a} '{a,b}' \"{a,b}\" \\{a,b} {1..a}",
              "echo {} {a} {a,b} {a,b} {a,b} {1..a}");
    sh = s_ok ("find . -exec rm {} +");
    assert_string_equal (s_line (shell_cmd (sh, 0)), "find . -exec rm {} +");
    shell_destroy (&sh);
    //  Empty unquoted results are dropped, quoted ones kept
    sh = s_ok ("echo {a,} {,''}");
    const shell_cmd_t *cmd = shell_cmd (sh, 0);
    assert_int_equal (cmd->argc, 3);
    assert_string_equal (cmd->argv[1].text, "a");
    assert_string_equal (cmd->argv[2].text, "");
    shell_destroy (&sh);
    //  ~ at the start of a result expands; ${..} keeps its braces
    s_single ("ls {~,x}/.ssh", "ls /home/u/.ssh x/.ssh");
    sh = s_ok ("echo {${v},b}");
    cmd = shell_cmd (sh, 0);
    assert_int_equal (cmd->argc, 3);
    assert_string_equal (cmd->argv[1].text, "${v}");
    assert_true (cmd->argv[1].dynamic);
    assert_false (cmd->argv[2].dynamic);
    shell_destroy (&sh);
    //  Found through wrappers and -c strings too
    sh = s_ok ("sudo {rm,-rf} ~; bash -c 'rm -r {/etc,/var}'");
    assert_string_equal (s_line (s_must (sh, "rm", "sudo")), "rm -rf /home/u");
    assert_string_equal (s_line (s_must (sh, "rm", "bash -c")), "rm -r /etc /var");
    shell_destroy (&sh);
    //  Substitutions in each result run (once per result, as in bash)
    sh = s_ok ("echo {a,b}$(id)");
    size_t ids = 0;
    for (size_t i = 0; i < shell_count (sh); i++)
        ids += !strcmp (shell_cmd (sh, i)->argv[0].text, "id");
    assert_int_equal (ids, 2);
    shell_destroy (&sh);
    //  Assignment values are not expanded; arguments of that form are
    sh = s_ok ("X={a,b} cmd y={c,d}");
    cmd = s_must (sh, "cmd", "");
    assert_string_equal (cmd->assigns[0].text, "X={a,b}");
    assert_string_equal (s_line (cmd), "cmd y=c y=d");
    shell_destroy (&sh);
    //  Redirections: one word is fine, more is an ambiguous redirect
    sh = s_ok ("echo x > {out,}");
    assert_string_equal (shell_cmd (sh, 0)->redirs[0].target.text, "out");
    shell_destroy (&sh);
    s_fails ("echo x > {a,b}", "ambiguous redirect");
    //  Here-strings and case words are not brace-expanded
    sh = s_ok ("cat <<< {a,b}");
    assert_string_equal (shell_cmd (sh, 0)->redirs[0].target.text, "{a,b}");
    shell_destroy (&sh);
}

static void
test_brace_expansion_bounds (void **state)
{
    (void) state;
    //  2^13 words, and a sequence of a million
    s_fails ("echo {a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}",
             "command too complex");
    s_fails ("echo {1..1000000}", "command too complex");
    //  4096 words across one command
    s_fails ("echo {1..3000} {1..3000}", "command too complex");
    shell_t *sh = s_ok ("echo {1..4000}");
    assert_int_equal (shell_cmd (sh, 0)->argc, 4001);
    shell_destroy (&sh);
    //  Deep nesting fails closed, it does not overflow the stack
    static char deep[200000];
    size_t n = 0;
    memcpy (deep, "echo ", 5);
    n = 5;
    for (int i = 0; i < 30000; i++)
        deep[n++] = '{';
    deep[n++] = 'a';
    deep[n++] = ',';
    deep[n++] = 'b';
    for (int i = 0; i < 30000; i++)
        deep[n++] = '}';
    deep[n] = 0;
    char err[256];
    sh = shell_parse (deep, n, &s_opts, err, sizeof (err));
    assert_null (sh);
}

static void
test_word_patterns (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("cat ~/.a*/credentials ~/.aws/credential${x}s \"$DIR\"/*.pem '*'x \"a*\"* "
                        "plain [ab]c [!a]? x[\"]\"] $a$(b)`c` ~root/x a\\*b [a/b] [$v] "
                        "$HOME/[[:alpha:]]");
    const shell_cmd_t *cmd = s_must (sh, "cat", "");
    assert_string_equal (cmd->argv[1].pattern, "/home/u/.a*/credentials");
    assert_string_equal (cmd->argv[2].pattern, "/home/u/.aws/credential\x01s");
    assert_string_equal (cmd->argv[3].pattern, "\x01/*.pem");
    assert_null (cmd->argv[4].pattern); //  all quoted: the text is the word
    assert_false (cmd->argv[4].dynamic);
    assert_string_equal (cmd->argv[5].pattern, "a\\**");
    assert_null (cmd->argv[6].pattern);
    assert_string_equal (cmd->argv[7].pattern, "[ab]c");
    assert_string_equal (cmd->argv[8].pattern, "[!a]?");
    assert_string_equal (cmd->argv[9].pattern, "x[\\]]");
    assert_string_equal (cmd->argv[10].pattern, "\x01");
    assert_string_equal (cmd->argv[11].pattern, "\x01/x");
    assert_null (cmd->argv[12].pattern); //  a\*b: escaped, literal
    assert_string_equal (cmd->argv[12].text, "a*b");
    assert_string_equal (cmd->argv[13].pattern, "\\[a/b\\]"); //  no bracket across /
    assert_string_equal (cmd->argv[14].pattern, "\x01");
    assert_string_equal (cmd->argv[15].pattern, "/home/u/[[:alpha:]]");
    for (size_t i = 1; i < cmd->argc; i++)
        assert_true ((cmd->argv[i].pattern != NULL) == cmd->argv[i].dynamic);
    shell_destroy (&sh);
    //  Assignment values are not globbed; heredoc bodies have no pattern
    sh = s_ok ("X=*.c Y=$v* cmd <<EOF\n$x *\nEOF");
    cmd = s_must (sh, "cmd", "");
    assert_string_equal (cmd->assigns[0].pattern, "X=\\*.c");
    assert_string_equal (cmd->assigns[1].pattern, "Y=\x01\\*");
    assert_null (cmd->redirs[0].target.pattern);
    shell_destroy (&sh);
    //  Brace results carry their own patterns
    sh = s_ok ("rm {a,'*'}*");
    cmd = shell_cmd (sh, 0);
    assert_string_equal (cmd->argv[1].pattern, "a*");
    assert_string_equal (cmd->argv[2].pattern, "\\**");
    shell_destroy (&sh);
}

static void
test_aliases (void **state)
{
    (void) state;
    //  Defined on earlier lines, used later: seen through "alias"
    shell_t *sh = s_ok ("shopt -s expand_aliases\nalias x=\"rm -rf\"\nx ~");
    assert_string_equal (s_line (s_must (sh, "rm", "alias")), "rm -rf /home/u");
    assert_non_null (s_find (sh, "x", "")); //  the other reading stays
    shell_destroy (&sh);
    //  Same line, several per command, a value that is a list
    sh = s_ok ("alias a='cd /' b='rm -rf .; echo'; a; b done");
    assert_string_equal (s_line (s_must (sh, "rm", "alias")), "rm -rf .");
    assert_string_equal (s_line (s_must (sh, "echo", "alias")), "echo done");
    assert_non_null (s_must (sh, "cd", "alias"));
    shell_destroy (&sh);
    //  A value ending in a blank makes the next word an alias too
    sh = s_ok ("alias s='sudo ' r='rm -rf'; s r /");
    assert_string_equal (s_line (s_must (sh, "rm", "alias,sudo")), "rm -rf /");
    shell_destroy (&sh);
    //  Not used before it is defined; unalias and unalias -a end it
    sh = s_ok ("r /; alias r='rm -rf'; unalias r; r ~");
    assert_null (s_find (sh, "rm", NULL));
    shell_destroy (&sh);
    sh = s_ok ("alias r='rm -rf' q=shred; unalias -a; r ~; q f");
    assert_null (s_find (sh, "rm", NULL));
    assert_null (s_find (sh, "shred", NULL));
    shell_destroy (&sh);
    //  Quoted or dynamic first words are not aliases
    sh = s_ok ("alias r='rm -rf'; 'r' a; \\r b; $r c");
    assert_null (s_find (sh, "rm", NULL));
    shell_destroy (&sh);
    //  Recursion stops at an alias inside its own expansion
    sh = s_ok ("alias a=b b=a ls='ls -la'; a x; ls");
    assert_non_null (s_must (sh, "b", "alias"));
    assert_non_null (s_must (sh, "a", "alias,alias"));
    assert_null (s_find (sh, "b", "alias,alias,alias"));
    assert_string_equal (s_line (s_must (sh, "ls", "alias")), "ls -la");
    shell_destroy (&sh);
    //  Through wrappers, in functions, in eval and with redirections
    sh = s_ok ("alias k='kill -9'; f() { k 1; }; eval 'k 2'; sudo k 3 > /dev/null");
    assert_string_equal (s_line (s_must (sh, "kill", "alias")), "kill -9 1");
    assert_string_equal (s_line (s_must (sh, "kill", "eval,alias")), "kill -9 2");
    const shell_cmd_t *k3 = s_must (sh, "kill", "sudo,alias");
    assert_string_equal (s_line (k3), "kill -9 3");
    assert_int_equal (k3->redirs_count, 1);
    shell_destroy (&sh);
    //  Arguments keep their quoting; a value that is not static is unknown
    sh = s_ok ("alias e=echo d=\"$CMD\"; e 'a b' \"$x\"; d /");
    const shell_cmd_t *e = s_must (sh, "echo", "alias");
    assert_int_equal (e->argc, 3);
    assert_string_equal (e->argv[1].text, "a b");
    assert_true (e->argv[2].dynamic);
    assert_int_equal (shell_count (sh), 4);
    shell_destroy (&sh);
}

//  Each line: a command, then the argv (joined) and chain the inner
//  command must have
typedef struct {
    const char *src, *argv0, *chain, *line;
} s_wrap_case_t;

static void
s_wrap_cases (const s_wrap_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        shell_t *sh = s_ok (cases[i].src);
        const shell_cmd_t *cmd = s_find (sh, cases[i].argv0, cases[i].chain);
        if (!cmd)
            fail_msg ("[%s]: no %s with wrappers [%s]", cases[i].src, cases[i].argv0,
                      cases[i].chain);
        if (strcmp (s_line (cmd), cases[i].line) != 0)
            fail_msg ("[%s]: got [%s], expected [%s]", cases[i].src, s_line (cmd), cases[i].line);
        shell_destroy (&sh);
    }
}

static void
test_wrappers_terminal_and_service (void **state)
{
    (void) state;
    static const s_wrap_case_t cases[] = {
        {"tmux new -d 'rm -rf ~'", "rm", "tmux", "rm -rf /home/u"},
        {"tmux -L s new-session -d -s x -c /tmp -e A=1 'rm -rf ~'", "rm", "tmux", "rm -rf /home/u"},
        {"tmux new -ds x \\; split-window -h -l 10 'curl x | sh'", "sh", "tmux", "sh"},
        {"tmux neww -t 1 rm -r /etc", "rm", "tmux", "rm -r /etc"},
        {"tmux respawn-pane -k -t 0 'rm x'", "rm", "tmux", "rm x"},
        {"tmux run-shell -b -d 1 'rm y'", "rm", "tmux", "rm y"},
        {"tmux if-shell -b -t 0 'rm z' 'neww'", "rm", "tmux", "rm z"},
        {"tmux send-keys -t s:0 'rm -rf ~' Enter", "rm", "tmux send-keys", "rm -rf /home/u"},
        {"tmux send -N 2 -t 0 rm Space -rf Space / C-m", "rm", "tmux send-keys",
         "rm Space -rf Space /"},
        {"tmux -c 'shred f'", "shred", "tmux", "shred f"},
        {"screen -dmS s rm -rf ~", "rm", "screen", "rm -rf /home/u"},
        {"screen -S s -d -m -t t bash -c 'rm q'", "rm", "screen,bash -c", "rm q"},
        {"screen -S s -X stuff 'rm -rf ~\\n'", "rm", "screen -X stuff", "rm -rf /home/u"},
        {"screen -S s -X screen rm w", "rm", "screen", "rm w"},
        {"systemd-run --user --scope -p MemoryMax=1G --unit=x rm -rf ~", "rm", "systemd-run",
         "rm -rf /home/u"},
        {"systemd-run -pA=1 -u x -E K=V --on-calendar daily --wait rm a", "rm", "systemd-run",
         "rm a"},
        {"run0 -u root --chdir / rm b", "rm", "run0", "rm b"},
        {"xterm -geometry 80x24 -e rm -rf ~", "rm", "xterm -e", "rm -rf /home/u"},
        {"dbus-run-session --config-file=f -- rm c", "rm", "dbus-run-session", "rm c"},
        {"machinectl -q shell root@c /bin/rm d", "/bin/rm", "machinectl shell", "/bin/rm d"},
        {"at now + 1 minute <<< 'rm -rf ~'", "rm", "at", "rm -rf /home/u"},
        {"batch <<EOF\nrm -rf ~\nEOF", "rm", "batch", "rm -rf /home/u"},
    };
    s_wrap_cases (cases, sizeof (cases) / sizeof (cases[0]));
    //  Nothing runs: no inner command
    shell_t *sh = s_ok ("tmux ls; tmux run -C 'kill-server'; screen -ls; at -f job now; "
                        "systemd-run --help rm");
    assert_null (s_find (sh, "kill-server", NULL));
    assert_null (s_find (sh, "rm", NULL));
    shell_destroy (&sh);
}

static void
test_wrappers_runners (void **state)
{
    (void) state;
    static const s_wrap_case_t cases[] = {
        {"uv run pytest -q", "pytest", "uv run", "pytest -q"},
        {"uv run rm -rf ~", "rm", "uv run", "rm -rf /home/u"},
        {"uv run --with x -p 3.12 --directory d --project p --env-file .e --extra e --group g "
         "--index-url u rm a",
         "rm", "uv run", "rm a"},
        {"uv run --python=3.12 --with=x -p3.12 -- rm b", "rm", "uv run", "rm b"},
        {"uv --directory run run rm c", "rm", "uv run", "rm c"},
        {"uv -q --cache-dir /c run --frozen --no-sync rm d", "rm", "uv run", "rm d"},
        {"uvx ruff check .", "ruff", "uvx", "ruff check ."},
        {"uvx --from x --with y rm e", "rm", "uvx", "rm e"},
        {"uv tool run --python 3.12 rm f", "rm", "uvx", "rm f"},
        {"poetry run rm -rf ~", "rm", "poetry run", "rm -rf /home/u"},
        {"poetry -C proj --no-ansi run rm g", "rm", "poetry run", "rm g"},
        {"pipenv --python 3.11 run rm h", "rm", "pipenv run", "rm h"},
        {"pdm run -p proj --venv v rm i", "rm", "pdm run", "rm i"},
        {"hatch run test:pytest -q", "pytest", "hatch run", "pytest -q"},
        {"hatch -e test run rm j", "rm", "hatch run", "rm j"},
        {"hatch run +py=3.10 test:rm -rf ~", "rm", "hatch run", "rm -rf /home/u"},
        {"hatch run test: rm k", "rm", "hatch run", "rm k"},
        {"conda run -n base --cwd / --live-stream --no-capture-output rm l", "rm", "conda run",
         "rm l"},
        {"conda run --name=base -p /env rm m", "rm", "conda run", "rm m"},
        {"mamba run -n x rm n", "rm", "conda run", "rm n"},
        {"micromamba run -r /r -n x -e A=1 rm o", "rm", "conda run", "rm o"},
        {"pipx run --spec black==23 black .", "black", "pipx run", "black ."},
        {"pipx run --python python3.12 --pip-args=-q rimraf ~", "rimraf", "pipx run",
         "rimraf /home/u"},
        {"bundle exec rake db:drop", "rake", "bundle exec", "rake db:drop"},
        {"bundle exec --gemfile=G --keep-file-descriptors rm p", "rm", "bundle exec", "rm p"},
        {"composer exec -- rm -rf ~", "rm", "composer exec", "rm -rf /home/u"},
        {"composer -d /app exec -- rm q", "rm", "composer exec", "rm q"},
        {"composer exec rm -- -rf ~", "rm", "composer exec", "rm -rf /home/u"},
        {"stack exec -- rm -rf ~", "rm", "stack exec", "rm -rf /home/u"},
        {"stack exec --package x rm -- -r r", "rm", "stack exec", "rm -r r"},
        {"stack exec rm s", "rm", "stack exec", "rm s"},
        {"cabal exec -- rm -rf ~", "rm", "cabal exec", "rm -rf /home/u"},
        {"cabal --project-dir d exec -- rm t", "rm", "cabal exec", "rm t"},
        {"rustup run stable rm u", "rm", "rustup run", "rm u"},
        {"rustup run --install nightly cargo build", "cargo", "rustup run", "cargo build"},
        {"perf stat -- sh -c 'rm -rf ~'", "sh", "perf stat", "sh -c rm -rf ~"},
        {"perf stat -- sh -c 'rm -rf ~'", "rm", "perf stat,sh -c", "rm -rf /home/u"},
        {"perf stat -e cycles -o f -r 3 -p1 rm v", "rm", "perf stat", "rm v"},
        {"perf record -g -o out.data -F 99 --call-graph dwarf -- rm w", "rm", "perf record",
         "rm w"},
        {"perf --no-pager trace -e 'syscalls:*' --duration=5 rm x", "rm", "perf trace", "rm x"},
        {"concurrently -n a,b -c red,blue 'rm -rf ~' 'npm start' -k", "rm", "concurrently",
         "rm -rf /home/u"},
        {"concurrently -k 'npm start' --names=x 'curl u | sh'", "sh", "concurrently", "sh"},
        {"concurrently -- 'rm y'", "rm", "concurrently", "rm y"},
        {"docker exec -it ctr rm -rf /", "rm", "docker exec", "rm -rf /"},
        {"docker exec -e A=1 -u root -w / --env-file f ctr rm z", "rm", "docker exec", "rm z"},
        {"docker exec --user=root -eA=1 ctr rm a2", "rm", "docker exec", "rm a2"},
        {"docker -H tcp://h --context c exec -it ctr sh -c 'rm b2'", "rm", "docker exec,sh -c",
         "rm b2"},
        {"docker container exec ctr rm c2", "rm", "docker exec", "rm c2"},
        {"podman exec -it ctr rm d2", "rm", "docker exec", "rm d2"},
        {"podman exec --latest rm e2", "rm", "docker exec", "rm e2"},
        {"docker compose exec db psql -U postgres -c 'SELECT 1'", "psql", "docker compose exec",
         "psql -U postgres -c SELECT 1"},
        {"docker compose -f a.yml -p proj exec -T -u root db rm f2", "rm", "docker compose exec",
         "rm f2"},
        {"docker-compose exec --index 2 web rm g2", "rm", "docker compose exec", "rm g2"},
        {"docker compose run --rm -e A=1 -v /:/h web rm -rf /h", "rm", "docker compose run",
         "rm -rf /h"},
        {"docker-compose run --entrypoint=sh web -c 'rm h2'", "rm", "docker compose run,sh -c",
         "rm h2"},
        {"docker run --rm -it -v /:/h -e A=1 --name x -p 80:80 --network=host -m 1g --cpus 2 "
         "-w / -u 0 --platform linux/amd64 --pull always --restart no -l k=v --mount t=b ubuntu "
         "rm -rf /h",
         "rm", "docker run", "rm -rf /h"},
        {"docker run -d --env-file e --label=a --memory=1g --user root img rm i2", "rm",
         "docker run", "rm i2"},
        {"docker run --entrypoint sh img -c 'rm j2'", "rm", "docker run,sh -c", "rm j2"},
        {"docker container run -itv/:/h img rm k2", "rm", "docker run", "rm k2"},
        {"podman run --rm img rm l2", "rm", "docker run", "rm l2"},
        {"kubectl exec pod -- rm -rf /", "rm", "kubectl exec", "rm -rf /"},
        {"kubectl -n ns exec -it pod -c app -- sh -c 'rm m2'", "rm", "kubectl exec,sh -c", "rm m2"},
        {"kubectl exec --namespace=ns deploy/x -- rm n2", "rm", "kubectl exec", "rm n2"},
        {"kubectl exec pod rm o2", "rm", "kubectl exec", "rm o2"},
        //  An option the table does not know: read with and without a value
        {"uv run --frobnicate x rm p2", "rm", "uv run", "rm p2"},
        {"uv run --frobnicate x rm p2", "x", "uv run", "x rm p2"},
        {"docker exec --frob v ctr rm q2", "rm", "docker exec", "rm q2"},
        {"perf stat -Q x rm r2", "rm", "perf stat", "rm r2"},
        //  env -C DIR: the command runs in DIR
        {"env -C /x rm s2", "rm", "env,env -C", "rm s2"},
        {"env -iC/x A=1 rm t2", "rm", "env,env -C", "rm t2"},
        {"env --chdir=/ rm u2", "rm", "env,env -C", "rm u2"},
        {"env -S '-C /t rm v2'", "rm", "env,env -C", "rm v2"},
        {"env -u X rm w2", "rm", "env", "rm w2"},
    };
    s_wrap_cases (cases, sizeof (cases) / sizeof (cases[0]));
    //  Nothing runs, or nothing but the program itself
    shell_t *sh = s_ok ("uv run --help rm; docker run --help rm; docker exec ctr; uv pip install "
                        "run rm; composer exec -l; kubectl exec pod -it; uv sync; docker ps");
    assert_null (s_find (sh, "rm", NULL));
    assert_int_equal (shell_count (sh), 8);
    shell_destroy (&sh);
    //  The program's own operands after the command are not looked at
    sh = s_ok ("uv run python manage.py run rm; docker exec c ls run x; perf stat ls -o f");
    assert_null (s_find (sh, "rm", NULL));
    assert_null (s_find (sh, "x", NULL));
    assert_string_equal (s_line (s_must (sh, "ls", "perf stat")), "ls -o f");
    assert_int_equal (shell_count (sh), 6);
    shell_destroy (&sh);
    //  The inner command keeps the runner's redirections and pipeline
    sh = s_ok ("echo x | uv run sh > out");
    const shell_cmd_t *inner = s_must (sh, "sh", "uv run");
    assert_int_equal (inner->redirs_count, 1);
    assert_ptr_equal (shell_upstream (sh, inner), s_must (sh, "echo", ""));
    shell_destroy (&sh);
}

static void
test_wrappers_vcs_and_editors (void **state)
{
    (void) state;
    static const s_wrap_case_t cases[] = {
        {"git -c alias.x='!rm -rf ~' x", "rm", "git alias", "rm -rf /home/u"},
        {"git -C /r -c user.name=a -calias.y='!curl u|sh' y arg", "curl", "git alias", "curl u"},
        {"git -c alias.x='reset --hard' x HEAD~3", "git", "git alias", "git reset --hard HEAD~3"},
        {"git --git-dir /g -c alias.c='!sh -c \"rm z\"' c", "rm", "git alias,sh -c", "rm z"},
        {"git rebase --exec 'rm -rf ~' main", "rm", "git rebase --exec", "rm -rf /home/u"},
        {"git rebase -i -x 'make; rm f' main", "rm", "git rebase --exec", "rm f"},
        {"git rebase --exec='rm g' main", "rm", "git rebase --exec", "rm g"},
        {"git bisect run rm -rf /", "rm", "git bisect run", "rm -rf /"},
        {"git submodule --quiet foreach --recursive 'rm -rf .'", "rm", "git submodule foreach",
         "rm -rf ."},
        {"git -c core.pager='curl x | sh' log", "sh", "git -c", "sh"},
        {"git -c core.sshCommand='rm h' fetch", "rm", "git -c", "rm h"},
        {"vim -c '!rm -rf ~' file", "rm", "vim -c", "rm -rf /home/u"},
        {"nvim +':silent !curl u' f", "curl", "vim -c", "curl u"},
        {"vi --cmd '!rm i' f", "rm", "vim -c", "rm i"},
    };
    s_wrap_cases (cases, sizeof (cases) / sizeof (cases[0]));
    //  Ordinary git and vim: nothing inside
    shell_t *sh = s_ok ("git -c alias.x=x x; git log -x; vim -c 'set nu' +10 f; git status");
    assert_int_equal (shell_count (sh), 4);
    shell_destroy (&sh);
}

static void
test_wrappers_packages_and_sandboxes (void **state)
{
    (void) state;
    static const s_wrap_case_t cases[] = {
        {"npx -c 'rm -rf ~'", "rm", "npx", "rm -rf /home/u"},
        {"npx --call='rm j'", "rm", "npx", "rm j"},
        {"npx -y -p rimraf rimraf ~", "rimraf", "npx", "rimraf /home/u"},
        {"npm --prefix d exec -c 'rm k'", "rm", "npm exec", "rm k"},
        {"npm exec --package=x -- rimraf ~", "rimraf", "npm exec", "rimraf /home/u"},
        {"npm x --call 'rm l'", "rm", "npm exec", "rm l"},
        {"pnpm dlx rimraf ~", "rimraf", "pnpm dlx", "rimraf /home/u"},
        {"pnpm -C d exec -c 'rm m'", "rm", "pnpm exec", "rm m"},
        {"pnpm --filter app exec rm n", "rm", "pnpm exec", "rm n"},
        {"bunx --bun rimraf ~", "rimraf", "bunx", "rimraf /home/u"},
        {"bun x rimraf o", "rimraf", "bun x", "rimraf o"},
        {"yarn dlx -p x rimraf ~", "rimraf", "yarn dlx", "rimraf /home/u"},
        {"sshpass -p pw ssh h 'rm -rf /'", "rm", "sshpass,ssh", "rm -rf /"},
        {"sshpass -e ssh h 'rm p'", "rm", "sshpass,ssh", "rm p"},
        {"ip -n x netns exec ns rm -rf /", "rm", "ip netns exec", "rm -rf /"},
        {"setpriv --reuid=1000 --regid 1000 --init-groups rm q", "rm", "setpriv", "rm q"},
        {"capsh --drop=cap_sys_admin -- -c 'rm -rf ~'", "rm", "capsh,bash -c", "rm -rf /home/u"},
        {"bwrap --ro-bind / / --dev /dev --unshare-all rm -rf ~", "rm", "bwrap", "rm -rf /home/u"},
        {"bwrap --overlay a b c --setenv K V --chdir / rm r", "rm", "bwrap", "rm r"},
        {"proot -r /x -b /dev -w / rm s", "rm", "proot", "rm s"},
        {"fakechroot -e x chroot /x rm t", "rm", "fakechroot,chroot", "rm t"},
        {"chpst -u u -/ /r rm u", "rm", "chpst", "rm u"},
        {"caffeinate -i -t 5 rm v", "rm", "caffeinate", "rm v"},
        {"chronic -ev rm w", "rm", "chronic", "rm w"},
        {"cpulimit -l 50 -- rm x", "rm", "cpulimit", "rm x"},
        {"watchexec -e py -w src -- rm -rf ~", "rm", "watchexec", "rm -rf /home/u"},
        {"watchexec --shell=bash 'rm y'", "rm", "watchexec", "rm y"},
        {"nodemon --exec 'rm -rf ~' app.js", "rm", "nodemon --exec", "rm -rf /home/u"},
        {"nodemon -w src -x 'rm z'", "rm", "nodemon --exec", "rm z"},
        {"entr -s 'rm -rf ~'", "rm", "entr -s", "rm -rf /home/u"},
        {"entr -cp rm a1", "rm", "entr", "rm a1"},
        {"parallel -j 4 --joblog l rm -rf {} ::: a b", "rm", "parallel", "rm -rf {}"},
        {"parallel ::: 'rm -rf ~' ls", "rm", "parallel", "rm -rf /home/u"},
        //  The existing wrappers still find the command after valued options
        {"sudo -u root -g wheel rm b1", "rm", "sudo", "rm b1"},
        {"doas -u root rm c1", "rm", "doas", "rm c1"},
        {"exec -a name rm d1", "rm", "exec", "rm d1"},
        {"command -p rm e1", "rm", "command", "rm e1"},
        {"nice -n 5 rm f1", "rm", "nice", "rm f1"},
        {"ionice -c 3 -n 7 rm g1", "rm", "ionice", "rm g1"},
        {"timeout -s KILL --kill-after=5 10 rm h1", "rm", "timeout", "rm h1"},
        {"stdbuf -oL -e0 rm i1", "rm", "stdbuf", "rm i1"},
        {"taskset -c 0-3 rm j1", "rm", "taskset", "rm j1"},
        {"chrt -r 5 rm k1", "rm", "chrt", "rm k1"},
        {"flock -w 5 /tmp/l rm l1", "rm", "flock", "rm l1"},
        {"busybox sh -c 'rm m1'", "rm", "busybox,sh -c", "rm m1"},
        {"env -S 'rm -rf /n1'", "rm", "env", "rm -rf /n1"},
        {"env --split-string='rm o1'", "rm", "env", "rm o1"},
    };
    s_wrap_cases (cases, sizeof (cases) / sizeof (cases[0]));
}

static void
test_arithmetic_expansion (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("echo $((1 + 2 * (3 - x)))");
    assert_int_equal (shell_count (sh), 1);
    assert_string_equal (shell_cmd (sh, 0)->argv[1].text, "$((1 + 2 * (3 - x)))");
    assert_true (shell_cmd (sh, 0)->argv[1].dynamic);
    shell_destroy (&sh);
    //  Substitutions inside arithmetic still run
    sh = s_ok ("echo $(( $(id -u) + a[`whoami`] ))");
    assert_int_equal (shell_count (sh), 3);
    assert_string_equal (s_chain (s_must (sh, "id", NULL)), "$()");
    assert_non_null (s_must (sh, "whoami", "$()"));
    assert_string_equal (shell_cmd (sh, 2)->argv[0].text, "echo");
    shell_destroy (&sh);
}

static void
test_arithmetic_lookahead_nesting (void **state)
{
    (void) state;
    //  A quote inside $( ) inside "..." must not end the string early: this
    //  is one arithmetic command, not two subshells around "n = ..."
    shell_t *sh = s_ok ("(( n = \"$(wc -c <<< '\"')\" + 1 ))");
    assert_int_equal (shell_count (sh), 1);
    assert_string_equal (s_line (shell_cmd (sh, 0)), "wc -c");
    assert_string_equal (s_chain (shell_cmd (sh, 0)), "$()");
    shell_destroy (&sh);
    sh = s_ok ("echo $(( \"$(printf '\"')\" + 1 ))");
    assert_int_equal (shell_count (sh), 2);
    assert_string_equal (s_line (shell_cmd (sh, 1)), "echo $(( \"$(printf '\"')\" + 1 ))");
    shell_destroy (&sh);
    //  $(( that closes a subshell first is a command substitution
    sh = s_ok ("echo $(( a \"$(b \"c\" d)\" ) | e \"$(f))\")");
    assert_non_null (s_must (sh, "a", "$()"));
    assert_non_null (s_must (sh, "b", "$(),$()"));
    assert_non_null (s_must (sh, "e", "$()"));
    assert_non_null (s_must (sh, "f", "$(),$()"));
    shell_destroy (&sh);
    sh = s_ok ("echo $(( \"$(( 1 ))\" + ${x:-\")\"} + $(echo \")\") ))");
    assert_int_equal (shell_count (sh), 2);
    assert_string_equal (s_line (shell_cmd (sh, 0)), "echo )");
    shell_destroy (&sh);
}

static void
test_tilde_line_continuation (void **state)
{
    (void) state;
    //  The continuation is removed before the tilde prefix is read
    s_single ("echo ~\\\n /x ~\\\n/y", "echo /home/u /x /home/u/y");
}

static void
test_quoting_corners (void **state)
{
    (void) state;
    //  Inside "${...}" single quotes quote for matching but $( ) still runs
    shell_t *sh = s_ok ("echo \"${x:-'$(id)'}\" ${y:-'$(no)'}");
    assert_non_null (s_must (sh, "id", "$()"));
    assert_null (s_find (sh, "no", NULL));
    shell_destroy (&sh);
    //  Every $'' escape
    sh = s_ok ("printf $'\\a\\b\\e\\E\\f\\r\\v\\?\\\"\\x4a\\u263a\\U0001F600\\q\\xZ'");
    assert_string_equal (shell_cmd (sh, 0)->argv[1].text,
                         "\a\b\x1b\x1b\f\r\v?\"J\xe2\x98\xba\xf0\x9f\x98\x80\\q\\xZ");
    shell_destroy (&sh);
    //  A descriptor number must fit in an int, else it is a word (bash)
    sh = s_ok ("echo 9999999999>f 2147483647>g");
    assert_string_equal (s_line (shell_cmd (sh, 0)), "echo 9999999999");
    assert_int_equal (shell_cmd (sh, 0)->redirs[0].fd, 1);
    assert_int_equal (shell_cmd (sh, 0)->redirs[1].fd, 2147483647);
    shell_destroy (&sh);
    //  Newlines inside [[ ]]; NAME[..]+= is an assignment
    sh = s_ok ("[[ a == a &&\n b == b ]] && a[1]+=y cmd");
    assert_string_equal (s_line (shell_cmd (sh, 0)), "[[ a == a && b == b ]]");
    assert_string_equal (shell_cmd (sh, 1)->assigns[0].text, "a[1]+=y");
    shell_destroy (&sh);
    s_fails ("for ((i = 0; i < 3; i++ do x; done", "syntax error");
}

//  --------------------------------------------------------------------------
//  Lists, pipelines, compound commands

static void
test_lists (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("a; b && c || d\ne\n\n f");
    assert_int_equal (shell_count (sh), 6);
    const char *expect[] = {"a", "b", "c", "d", "e", "f"};
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal (s_line (shell_cmd (sh, i)), expect[i]);
        assert_int_equal (shell_cmd (sh, i)->pipeline_len, 1);
        assert_null (shell_upstream (sh, shell_cmd (sh, i)));
    }
    //  Every lone command has a pipeline of its own
    assert_true (shell_cmd (sh, 0)->pipeline != shell_cmd (sh, 1)->pipeline);
    shell_destroy (&sh);
}

static void
test_background (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("a & b; c && d & e | f &");
    assert_int_equal (shell_count (sh), 6);
    assert_true (shell_cmd (sh, 0)->background);
    assert_false (shell_cmd (sh, 1)->background);
    assert_true (shell_cmd (sh, 2)->background); //  the whole c && d
    assert_true (shell_cmd (sh, 3)->background);
    assert_true (shell_cmd (sh, 4)->background);
    assert_true (shell_cmd (sh, 5)->background);
    shell_destroy (&sh);
}

static void
test_pipeline_upstream (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("curl -s http://x | tee log | sh -s; ls");
    assert_int_equal (shell_count (sh), 4);
    const shell_cmd_t *curl = shell_cmd (sh, 0), *tee = shell_cmd (sh, 1), *sh_ = shell_cmd (sh, 2);
    assert_int_equal (curl->pipeline, tee->pipeline);
    assert_int_equal (tee->pipeline, sh_->pipeline);
    assert_int_equal (curl->position, 0);
    assert_int_equal (tee->position, 1);
    assert_int_equal (sh_->position, 2);
    assert_int_equal (sh_->pipeline_len, 3);
    assert_null (shell_upstream (sh, curl));
    assert_ptr_equal (shell_upstream (sh, tee), curl);
    assert_ptr_equal (shell_upstream (sh, sh_), tee);
    assert_true (shell_cmd (sh, 3)->pipeline != curl->pipeline);
    assert_null (shell_upstream (sh, shell_cmd (sh, 3)));
    shell_destroy (&sh);
}

static void
test_pipeline_into_compound (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("curl x | while read l; do sh -c \"$l\"; done; { a; b; } | c");
    const shell_cmd_t *curl = s_must (sh, "curl", "");
    assert_ptr_equal (shell_upstream (sh, s_must (sh, "read", "")), curl);
    assert_ptr_equal (shell_upstream (sh, s_must (sh, "sh", "")), curl);
    assert_int_equal (s_must (sh, "sh", "")->position, 1);
    //  The last command of a group feeds the next element
    assert_ptr_equal (shell_upstream (sh, s_must (sh, "c", "")), s_must (sh, "b", ""));
    shell_destroy (&sh);
}

static void
test_pipe_stderr (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("make |& tee log");
    const shell_cmd_t *make = shell_cmd (sh, 0);
    assert_int_equal (make->redirs_count, 1);
    assert_int_equal (make->redirs[0].kind, SHELL_REDIR_DUP_OUT);
    assert_int_equal (make->redirs[0].fd, 2);
    assert_string_equal (make->redirs[0].target.text, "1");
    assert_ptr_equal (shell_upstream (sh, shell_cmd (sh, 1)), make);
    shell_destroy (&sh);
}

static void
test_negation (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("! grep -q x f && ! ! rm y");
    assert_int_equal (shell_count (sh), 2);
    assert_string_equal (s_line (shell_cmd (sh, 0)), "grep -q x f");
    assert_string_equal (s_line (shell_cmd (sh, 1)), "rm y");
    shell_destroy (&sh);
    //  ! is only special at the start
    s_single ("echo ! x", "echo ! x");
}

static void
test_subshell_and_group (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("(cd /tmp && rm -rf x); { echo a; echo b; } > out");
    assert_int_equal (shell_count (sh), 4);
    assert_string_equal (s_line (shell_cmd (sh, 0)), "cd /tmp");
    assert_string_equal (s_line (shell_cmd (sh, 1)), "rm -rf x");
    //  The group's redirection applies to every command in it
    for (size_t i = 2; i < 4; i++) {
        assert_int_equal (shell_cmd (sh, i)->redirs_count, 1);
        assert_int_equal (shell_cmd (sh, i)->redirs[0].kind, SHELL_REDIR_OUT);
        assert_string_equal (shell_cmd (sh, i)->redirs[0].target.text, "out");
    }
    shell_destroy (&sh);
    //  { and } are only reserved as whole words in command position
    s_single ("echo { } {x}", "echo { } {x}");
}

static void
test_if_elif_else (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("if test -f a; then rm a\nelif [ -d b ]; then rmdir b; else echo none; fi");
    assert_int_equal (shell_count (sh), 5);
    const char *expect[] = {"test -f a", "rm a", "[ -d b ]", "rmdir b", "echo none"};
    for (size_t i = 0; i < 5; i++)
        assert_string_equal (s_line (shell_cmd (sh, i)), expect[i]);
    shell_destroy (&sh);
}

static void
test_while_until (void **state)
{
    (void) state;
    shell_t *sh =
        s_ok ("while read -r l; do echo \"$l\"; done < in\nuntil false\ndo sleep 1; done");
    assert_int_equal (shell_count (sh), 4);
    assert_string_equal (s_line (shell_cmd (sh, 0)), "read -r l");
    assert_int_equal (shell_cmd (sh, 0)->redirs_count, 1);
    assert_int_equal (shell_cmd (sh, 0)->redirs[0].kind, SHELL_REDIR_IN);
    assert_string_equal (s_line (shell_cmd (sh, 3)), "sleep 1");
    assert_int_equal (shell_cmd (sh, 3)->redirs_count, 0);
    shell_destroy (&sh);
}

static void
test_for_loops (void **state)
{
    (void) state;
    shell_t *sh =
        s_ok ("for f in *.c $(ls); do gcc \"$f\"; done; for x; do :; done\n"
              "for ((i = 0; i < $(nproc); i++)); do echo $i; done; for y in a b\n{ rm $y; }");
    assert_non_null (s_must (sh, "ls", "$()"));
    assert_non_null (s_must (sh, "gcc", ""));
    assert_non_null (s_must (sh, ":", ""));
    assert_non_null (s_must (sh, "nproc", "$()"));
    assert_non_null (s_must (sh, "rm", ""));
    //  The word list runs before the body
    assert_true (s_index (sh, s_must (sh, "ls", NULL)) < s_index (sh, s_must (sh, "gcc", NULL)));
    assert_null (s_find (sh, "f", NULL));
    assert_null (s_find (sh, "in", NULL));
    shell_destroy (&sh);
}

//  The pattern of argument i of the first command argv0, "(null)" for none
static const char *
s_pat (const shell_t *sh, const char *argv0, size_t i)
{
    const shell_cmd_t *cmd = s_must (sh, argv0, NULL);
    assert_true (i < cmd->argc);
    return cmd->argv[i].pattern ? cmd->argv[i].pattern : "(null)";
}

//  src parses; argument i of the first command argv0 has pattern expect
static void
s_pattern_is (const char *src, const char *argv0, size_t i, const char *expect)
{
    shell_t *sh = s_ok (src);
    const char *got = s_pat (sh, argv0, i);
    if (strcmp (got, expect) != 0)
        fail_msg ("[%s]: %s argument %zu has pattern '%s', expected '%s'", src, argv0, i, got,
                  expect);
    shell_destroy (&sh);
}

static void
test_in_loop (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("while :; do sleep 1000 & done; after");
    const shell_cmd_t *sleep_ = s_must (sh, "sleep", "");
    assert_true (sleep_->background);
    assert_true (sleep_->in_loop);
    assert_true (s_must (sh, ":", "")->in_loop); //  the condition repeats too
    assert_false (s_must (sh, "after", "")->in_loop);
    shell_destroy (&sh);

    sh = s_ok ("for a in 1 2; do while x; do for ((;;)); do y; done; done; z; done; w");
    assert_true (s_must (sh, "x", "")->in_loop);
    assert_true (s_must (sh, "y", "")->in_loop);
    assert_true (s_must (sh, "z", "")->in_loop);
    assert_false (s_must (sh, "w", "")->in_loop);
    shell_destroy (&sh);

    sh = s_ok ("bash -c 'while true; do x & done'; until false; do y; done");
    assert_false (s_must (sh, "bash", "")->in_loop);
    assert_true (s_must (sh, "x", "bash -c")->in_loop);
    assert_true (s_must (sh, "x", "bash -c")->background);
    assert_true (s_must (sh, "false", "")->in_loop);
    assert_true (s_must (sh, "y", "")->in_loop);
    shell_destroy (&sh);

    //  Wrappers, substitutions and functions defined in a body; a for
    //  loop's words are expanded once
    sh = s_ok ("for f in $(ls); do sudo rm \"$(basename $f)\"; g() { h & }; done; "
               "select o in a; do eval 'k &'; done; i");
    assert_false (s_must (sh, "ls", "$()")->in_loop);
    assert_true (s_must (sh, "sudo", "")->in_loop);
    assert_true (s_must (sh, "rm", "sudo")->in_loop);
    assert_true (s_must (sh, "basename", "$()")->in_loop);
    assert_true (s_must (sh, "h", "")->in_loop);
    assert_true (s_must (sh, "h", "")->in_function);
    assert_true (s_must (sh, "k", "eval")->in_loop);
    assert_false (s_must (sh, "i", "")->in_loop);
    shell_destroy (&sh);

    sh = s_ok ("f() { while :; do f & done; }; f; if a; then b; fi; { c; }");
    assert_true (s_must (sh, "f", "")->in_loop);
    assert_true (s_must (sh, "f", "")->in_function);
    for (size_t i = 0; i < shell_count (sh); i++)
        if (strcmp (shell_cmd (sh, i)->argv[0].text, ":") &&
            strcmp (shell_cmd (sh, i)->argv[0].text, "f"))
            assert_false (shell_cmd (sh, i)->in_loop);
    shell_destroy (&sh);
}

static void
test_for_binding (void **state)
{
    (void) state;
    shell_t *sh;
    //  One static or glob word: "$f" is that word's pattern
    s_pattern_is ("for f in *.py; do cat \"$f\"; done", "cat", 1, "*.py");
    s_pattern_is ("for f in *.py; do python -m py_compile \"$f\"; done", "python", 3, "*.py");
    s_pattern_is ("for f in src/*.c; do x \"$f.o\"; done", "x", 1, "src/*.c.o");
    s_pattern_is ("for d in */; do ls \"$d\"; done", "ls", 1, "*/");
    s_pattern_is ("for d in */; do ls \"${d}\"; done", "ls", 1, "*/");
    s_pattern_is ("for f in [ab]*.py; do cat \"x$f$y\"; done", "cat", 1, "x[ab]*.py\x01");
    s_pattern_is ("for f in a.txt; do rm \"$f\"; done", "rm", 1, "a.txt");
    s_pattern_is ("for f in \"*.py\"; do rm \"$f\"; done", "rm", 1, "\\*.py");
    s_pattern_is ("for f in ~/x/*.py; do rm \"$f\"; done", "rm", 1, "/home/u/x/*.py");
    s_pattern_is ("for f in *.py\ndo\n  rm -f -- \"$f\"\ndone", "rm", 3, "*.py");
    s_pattern_is ("for f in *.py; do y=$(cat \"$f\"); done", "cat", 1, "*.py");
    s_pattern_is ("for f in *.py; do cat \"$f\" \"$f\"; done", "cat", 2, "*.py");
    s_pattern_is ("for f in *.py; do if x; then mv \"$f\" y; fi; done", "mv", 1, "*.py");
    s_pattern_is ("for f in *.py; do (( i++ )); rm \"$f\"; done", "rm", 1, "*.py");
    s_pattern_is ("for f in *.py; do read -r line; rm \"$f\"; done", "rm", 1, "*.py");
    s_pattern_is ("trap 'unlink $t' EXIT; for f in *.py; do rm \"$f\"; done", "rm", 1, "*.py");
    s_pattern_is ("h() { for f in *.py; do rm \"$f\"; done; }", "rm", 1, "*.py");
    sh = s_ok ("bash -c 'for f in *.py; do cat \"$f\"; done'");
    assert_string_equal (s_must (sh, "cat", "bash -c")->argv[1].pattern, "*.py");
    shell_destroy (&sh);
    s_pattern_is ("for f in *.py; do x <<'E'; rm \"$f\"; done\n${f:=/etc}\nE", "rm", 1, "*.py");
    //  The word stays dynamic, its text as written
    sh = s_ok ("for f in *.py; do cat \"$f\" > \"$f.out\"; X=\"$f\" y; done");
    const shell_cmd_t *cat = s_must (sh, "cat", "");
    assert_true (cat->argv[1].dynamic);
    assert_string_equal (cat->argv[1].text, "$f");
    assert_string_equal (cat->redirs[0].target.pattern, "*.py.out");
    assert_string_equal (s_must (sh, "y", "")->assigns[0].pattern, "X=*.py");
    shell_destroy (&sh);

    //  Nested loops: each name its own list; the same name inside ends
    //  the binding of the outer loop (it assigns it)
    sh = s_ok ("for f in *.py; do for g in *.c; do x \"$f\" \"$g\"; done; done");
    assert_string_equal (s_pat (sh, "x", 1), "*.py");
    assert_string_equal (s_pat (sh, "x", 2), "*.c");
    shell_destroy (&sh);
    sh = s_ok ("for f in *.py; do for f in *.c; do x \"$f\"; done; y \"$f\"; done");
    assert_string_equal (s_pat (sh, "x", 1), "*.c");
    assert_string_equal (s_pat (sh, "y", 1), "\x01");
    shell_destroy (&sh);
    sh = s_ok ("for f in *.py; do a \"$f\"; done; for f in *.c; do b \"$f\"; done; c \"$f\"");
    assert_string_equal (s_pat (sh, "a", 1), "*.py");
    assert_string_equal (s_pat (sh, "b", 1), "*.c");
    assert_string_equal (s_pat (sh, "c", 1), "\x01"); //  after done
    shell_destroy (&sh);

    //  What keeps 0x01: several words, no in, substitutions, braces,
    //  unquoted uses, other expansions of the name
    s_pattern_is ("for f in a b; do cat \"$f\"; done", "cat", 1, "\x01");
    s_pattern_is ("for f in *.py *.c; do cat \"$f\"; done", "cat", 1, "\x01");
    s_pattern_is ("for f; do cat \"$f\"; done", "cat", 1, "\x01");
    s_pattern_is ("for f in $(ls); do cat \"$f\"; done", "cat", 1, "\x01");
    s_pattern_is ("for f in $D/*; do cat \"$f\"; done", "cat", 1, "\x01");
    s_pattern_is ("for f in {a,b}.py; do cat \"$f\"; done", "cat", 1, "\x01");
    s_pattern_is ("for f in *.py; do cat $f; done", "cat", 1, "\x01");
    s_pattern_is ("for f in *.py; do mv \"$f\" \"${f%.py}.txt\"; done", "mv", 2, "\x01.txt");
    s_pattern_is ("for f in *.py; do mv \"$f\" \"${f%.py}.txt\"; done", "mv", 1, "*.py");
    s_pattern_is ("for f in *.py; do g() { cat \"$f\"; }; done", "cat", 1, "\x01");
    s_pattern_is ("for f in *.py; do cat `echo \"$f\"`; done", "echo", 1, "\x01");
    s_pattern_is ("select f in *.py; do cat \"$f\"; done", "cat", 1, "\x01");
    s_pattern_is ("for _ in *.py; do cat \"$_\"; done", "cat", 1, "\x01");
    s_pattern_is ("for PWD in *; do cat \"$PWD\"; done", "cat", 1, "\x01");

    //  Anything that may assign the name while the body runs
    static const char *const assigns[] = {
        "for f in *.py; do f=1; cat \"$f\"; done",
        "for f in *.py; do cat \"$f\"; f+=x; done", //  anywhere in the body
        "for f in *.py; do read f; cat \"$f\"; done",
        "for f in *.py; do read -r -a f; cat \"$f\"; done",
        "for f in *.py; do command read f; cat \"$f\"; done",
        "for f in *.py; do local f; cat \"$f\"; done",
        "for f in *.py; do declare f=/etc; cat \"$f\"; done",
        "for f in *.py; do unset f; cat \"$f\"; done",
        "for f in *.py; do printf -v f x; cat \"$f\"; done",
        "for f in *.py; do printf -vf x; cat \"$f\"; done",
        "for f in *.py; do getopts ab f; cat \"$f\"; done",
        "for f in *.py; do let f=1; cat \"$f\"; done",
        "for f in *.py; do (( f = 1 )); cat \"$f\"; done",
        "for f in *.py; do x=$(( f = 1 )); cat \"$f\"; done",
        "for f in *.py; do [[ f -eq 1 ]]; cat \"$f\"; done",
        "for f in *.py; do : ${f:=x}; cat \"$f\"; done",
        "for f in *.py; do exec {f}>/dev/null; cat \"$f\"; done",
        "for f in *.py; do select f in a; do :; done; cat \"$f\"; done",
        "for f in *.py; do eval 'f=/etc'; cat \"$f\"; done",
        "for f in *.py; do eval \"$x\"; cat \"$f\"; done",
        "for f in *.py; do read \"$x\"; cat \"$f\"; done",
        "for f in *.py; do $cmd f; cat \"$f\"; done",
        "for f in *.py; do \"$f\" x; cat \"$f\"; done",
        "for f in *.py; do coproc f { :; }; cat \"$f\"; done",
        "x=f; for f in *.py; do : ${!x:=/etc}; cat \"$f\"; done",
        //  Code that may run during the body, wherever it is
        "g() { f=/etc; }; for f in *.py; do g; cat \"$f\"; done",
        "g() { for f in /etc; do :; done; }; for f in *.py; do g; cat \"$f\"; done",
        "trap 'f=/etc' DEBUG; for f in *.py; do cat \"$f\"; done",
        "trap \"$x\" DEBUG; for f in *.py; do cat \"$f\"; done",
        "declare -n r=f; for f in *.py; do r=/etc; cat \"$f\"; done",
        "declare -n r=\"$x\"; for f in *.py; do r=/etc; cat \"$f\"; done",
        "source ./env.sh; for f in *.py; do cat \"$f\"; done",
        ". ./env.sh; for f in *.py; do cat \"$f\"; done",
        "alias r=read; for f in *.py; do r f; cat \"$f\"; done",
        "eval 'g() { f=/etc; }'; for f in *.py; do g; cat \"$f\"; done",
        "for f in *.py; do cat \"$f\"; done; g() { f=1; }",
        "BASH_ENV=./x bash -c 'for f in *.py; do cat \"$f\"; done'",
        //  Heredoc bodies expand where their command runs
        "for f in *.py; do x <<E\n${f:=/etc}\nE\ncat \"$f\"; done",
        "for f in *.py; do x <<E; cat \"$f\"; done\n$(( f = 1 ))\nE",
        "g() { x <<E; }; for f in *.py; do g; cat \"$f\"; done\n${f:=/etc}\nE", NULL};
    for (size_t i = 0; assigns[i]; i++)
        s_pattern_is (assigns[i], "cat", 1, "\x01");
}

static void
test_select (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("select opt in a b; do echo $opt; break; done");
    assert_int_equal (shell_count (sh), 2);
    assert_string_equal (s_line (shell_cmd (sh, 1)), "break");
    shell_destroy (&sh);
}

static void
test_case (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("case \"$1\" in\n (start|run) ./app ;;\n stop) kill $(cat pid) ;&\n"
                        " $(evil)) x ;;&\n *) echo \"usage\" ;;\nesac");
    assert_non_null (s_must (sh, "./app", ""));
    assert_non_null (s_must (sh, "kill", ""));
    assert_non_null (s_must (sh, "cat", "$()"));
    assert_non_null (s_must (sh, "evil", "$()")); //  patterns are expanded
    assert_non_null (s_must (sh, "x", ""));
    assert_non_null (s_must (sh, "echo", ""));
    assert_null (s_find (sh, "start", NULL));
    shell_destroy (&sh);
    sh = s_ok ("case x in esac");
    assert_int_equal (shell_count (sh), 0);
    shell_destroy (&sh);
}

static void
test_functions (void **state)
{
    (void) state;
    shell_t *sh =
        s_ok ("greet() { echo hi; }\nfunction build { make -j4; }\nfunction t() ( ls )\ngreet");
    assert_int_equal (shell_count (sh), 4);
    assert_true (shell_cmd (sh, 0)->in_function);
    assert_true (shell_cmd (sh, 1)->in_function);
    assert_true (shell_cmd (sh, 2)->in_function);
    assert_string_equal (s_line (shell_cmd (sh, 3)), "greet");
    assert_false (shell_cmd (sh, 3)->in_function);
    assert_false (shell_has_recursive_function (sh));
    shell_destroy (&sh);
    //  A function body must be compound
    s_fails ("f() echo x", "syntax error");
}

static void
test_cond_command (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("[[ -f $x && ( $a < $b || ! -d y ) ]] && [[ $v =~ ^(a|b)+$ ]]");
    assert_int_equal (shell_count (sh), 2);
    assert_string_equal (s_line (shell_cmd (sh, 0)), "[[ -f $x && ( $a < $b || ! -d y ) ]]");
    //  < inside [[ ]] compares, it does not redirect
    assert_int_equal (shell_cmd (sh, 0)->redirs_count, 0);
    assert_string_equal (s_line (shell_cmd (sh, 1)), "[[ $v =~ ^(a|b)+$ ]]");
    shell_destroy (&sh);
    sh = s_ok ("[[ $(id -u) -eq 0 ]]");
    assert_non_null (s_must (sh, "id", "$()"));
    shell_destroy (&sh);
    //  Redirections after [[ ]]
    sh = s_ok ("[[ -n $x ]] > /dev/null 2>&1 && echo ok");
    assert_int_equal (shell_cmd (sh, 0)->redirs_count, 2);
    assert_string_equal (shell_cmd (sh, 0)->redirs[0].target.text, "/dev/null");
    shell_destroy (&sh);
}

static void
test_arith_command (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("((i++)); (( x = $(wc -l < f) ))");
    assert_int_equal (shell_count (sh), 1);
    assert_string_equal (s_line (shell_cmd (sh, 0)), "wc -l");
    assert_string_equal (s_chain (shell_cmd (sh, 0)), "$()");
    shell_destroy (&sh);
    //  (( that does not close as arithmetic is a nested subshell, as in bash
    sh = s_ok ("((echo a); rm b)");
    assert_int_equal (shell_count (sh), 2);
    assert_string_equal (s_line (shell_cmd (sh, 1)), "rm b");
    shell_destroy (&sh);
    sh = s_ok ("echo $((echo a); rm b)");
    assert_non_null (s_must (sh, "rm", "$()"));
    shell_destroy (&sh);
    //  Redirections after (( )), their substitutions run
    sh = s_ok ("(( n > 1 )) 2>/dev/null > \"$(mktemp)\" && echo big");
    assert_non_null (s_must (sh, "mktemp", "$()"));
    assert_non_null (s_must (sh, "echo", ""));
    shell_destroy (&sh);
}

static void
test_time_keyword (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("time make all | tee log; time -p ls; time { a; b; }; time ! c");
    assert_non_null (s_must (sh, "make", "time"));
    assert_ptr_equal (shell_upstream (sh, s_must (sh, "tee", "")), s_must (sh, "make", "time"));
    assert_non_null (s_must (sh, "ls", "time"));
    assert_non_null (s_must (sh, "a", ""));
    assert_non_null (s_must (sh, "b", ""));
    assert_non_null (s_must (sh, "c", ""));
    shell_destroy (&sh);
}

static void
test_coproc (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("coproc nc -l 80; coproc NAME { cat; }");
    assert_int_equal (shell_count (sh), 2);
    assert_string_equal (s_line (shell_cmd (sh, 0)), "nc -l 80");
    assert_true (shell_cmd (sh, 0)->background);
    assert_string_equal (s_line (shell_cmd (sh, 1)), "cat");
    shell_destroy (&sh);
}

//  --------------------------------------------------------------------------
//  Redirections

static void
test_redirect_kinds (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("cmd <in >out >>app >|clob <>rw 3<&0 >&- 2>err 2>&1");
    const shell_cmd_t *cmd = shell_cmd (sh, 0);
    assert_int_equal (cmd->argc, 1);
    assert_int_equal (cmd->redirs_count, 9);
    const shell_redir_kind_t kinds[] = {
        SHELL_REDIR_IN,      SHELL_REDIR_OUT,   SHELL_REDIR_APPEND,
        SHELL_REDIR_OUT,     SHELL_REDIR_INOUT, SHELL_REDIR_DUP_IN,
        SHELL_REDIR_DUP_OUT, SHELL_REDIR_OUT,   SHELL_REDIR_DUP_OUT};
    const int fds[] = {0, 1, 1, 1, 0, 3, 1, 2, 2};
    const char *targets[] = {"in", "out", "app", "clob", "rw", "0", "-", "err", "1"};
    for (size_t i = 0; i < 9; i++) {
        assert_int_equal (cmd->redirs[i].kind, kinds[i]);
        assert_int_equal (cmd->redirs[i].fd, fds[i]);
        assert_string_equal (cmd->redirs[i].target.text, targets[i]);
    }
    shell_destroy (&sh);
}

static void
test_redirect_out_all (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("a &>log; b &>>log; c >&file; d 2> \"$f\"");
    assert_int_equal (shell_cmd (sh, 0)->redirs[0].kind, SHELL_REDIR_OUT_ALL);
    assert_int_equal (shell_cmd (sh, 0)->redirs[0].fd, 1);
    assert_int_equal (shell_cmd (sh, 1)->redirs[0].kind, SHELL_REDIR_OUT_ALL);
    //  >&file is &>file
    assert_int_equal (shell_cmd (sh, 2)->redirs[0].kind, SHELL_REDIR_OUT_ALL);
    assert_string_equal (shell_cmd (sh, 2)->redirs[0].target.text, "file");
    assert_true (shell_cmd (sh, 3)->redirs[0].target.dynamic);
    assert_true (shell_cmd (sh, 3)->redirs[0].target.quoted);
    shell_destroy (&sh);
}

static void
test_redirect_positions (void **state)
{
    (void) state;
    shell_t *sh = s_ok (">out echo a 2>/dev/null b; > empty; 2 >x; echo a>b");
    assert_string_equal (s_line (shell_cmd (sh, 0)), "echo a b");
    assert_int_equal (shell_cmd (sh, 0)->redirs_count, 2);
    assert_int_equal (shell_cmd (sh, 1)->argc, 0);
    assert_int_equal (shell_cmd (sh, 1)->redirs_count, 1);
    //  "2 >x": the 2 is a word, not a descriptor
    assert_string_equal (s_line (shell_cmd (sh, 2)), "2");
    assert_int_equal (shell_cmd (sh, 2)->redirs[0].fd, 1);
    assert_string_equal (s_line (shell_cmd (sh, 3)), "echo a");
    assert_string_equal (shell_cmd (sh, 3)->redirs[0].target.text, "b");
    shell_destroy (&sh);
}

static void
test_named_fd (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("exec {fd}>lock 12<in");
    const shell_cmd_t *cmd = shell_cmd (sh, 0);
    assert_int_equal (cmd->argc, 1);
    assert_int_equal (cmd->redirs_count, 2);
    assert_int_equal (cmd->redirs[0].fd, -1);
    assert_string_equal (cmd->redirs[0].target.text, "lock");
    assert_int_equal (cmd->redirs[1].fd, 12);
    shell_destroy (&sh);
}

static void
test_herestring (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("grep x <<< \"$data\" ; cat <<<plain");
    assert_int_equal (shell_cmd (sh, 0)->redirs[0].kind, SHELL_REDIR_HERESTRING);
    assert_int_equal (shell_cmd (sh, 0)->redirs[0].fd, 0);
    assert_true (shell_cmd (sh, 0)->redirs[0].target.dynamic);
    assert_string_equal (shell_cmd (sh, 1)->redirs[0].target.text, "plain");
    shell_destroy (&sh);
}

static void
test_heredoc_bodies (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("cat <<EOF\nhello $USER\n\\$x \\\\ \\\"q\\\"\nEOF\n"
                        "cat <<'EOF'\nliteral $USER `id`\nEOF\n"
                        "cat <<-END\n\tindented\n\t\tmore\n\tEND\n");
    assert_int_equal (shell_count (sh), 3);
    const shell_redir_t *r = &shell_cmd (sh, 0)->redirs[0];
    assert_int_equal (r->kind, SHELL_REDIR_HEREDOC);
    assert_int_equal (r->fd, 0);
    assert_string_equal (r->target.text, "hello $USER\n$x \\ \\\"q\\\"\n");
    assert_true (r->target.dynamic);
    assert_false (r->target.quoted);
    r = &shell_cmd (sh, 1)->redirs[0];
    assert_string_equal (r->target.text, "literal $USER `id`\n");
    assert_false (r->target.dynamic);
    assert_true (r->target.quoted);
    r = &shell_cmd (sh, 2)->redirs[0];
    assert_string_equal (r->target.text, "indented\nmore\n");
    assert_null (s_find (sh, "id", NULL));
    shell_destroy (&sh);
}

static void
test_heredoc_substitutions (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("cat <<EOF > out\nuser $(whoami) on `hostname`\nEOF\necho done");
    assert_int_equal (shell_count (sh), 4);
    //  Substitutions in the body run before the command
    assert_string_equal (s_line (shell_cmd (sh, 0)), "whoami");
    assert_string_equal (s_chain (shell_cmd (sh, 0)), "$()");
    assert_string_equal (s_line (shell_cmd (sh, 1)), "hostname");
    assert_string_equal (s_chain (shell_cmd (sh, 1)), "$()");
    assert_string_equal (s_line (shell_cmd (sh, 2)), "cat");
    assert_int_equal (shell_cmd (sh, 2)->redirs_count, 2);
    assert_string_equal (s_line (shell_cmd (sh, 3)), "echo done");
    shell_destroy (&sh);
}

static void
test_heredoc_multiple (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("paste <<A <<\"B\"; rm x\none\nA\ntwo $y\nB\nls");
    assert_int_equal (shell_count (sh), 3);
    const shell_cmd_t *paste = shell_cmd (sh, 0);
    assert_string_equal (paste->redirs[0].target.text, "one\n");
    assert_string_equal (paste->redirs[1].target.text, "two $y\n");
    assert_false (paste->redirs[1].target.dynamic);
    assert_string_equal (s_line (shell_cmd (sh, 1)), "rm x");
    assert_string_equal (s_line (shell_cmd (sh, 2)), "ls");
    shell_destroy (&sh);
    //  Partly quoted delimiter; a backslash-newline joins lines in unquoted bodies
    sh = s_ok ("cat <<E\"O\"F\n$x\nEOF\ncat <<X\na\\\nX\nX\n");
    assert_string_equal (shell_cmd (sh, 0)->redirs[0].target.text, "$x\n");
    assert_false (shell_cmd (sh, 0)->redirs[0].target.dynamic);
    assert_string_equal (shell_cmd (sh, 1)->redirs[0].target.text, "aX\n");
    shell_destroy (&sh);
}

static void
test_heredoc_in_substitution (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("x=$(cat <<EOF\n$(date)\nEOF\n); echo \"$x\"");
    assert_non_null (s_must (sh, "date", "$(),$()"));
    const shell_cmd_t *cat = s_must (sh, "cat", "$()");
    assert_string_equal (cat->redirs[0].target.text, "$(date)\n");
    assert_non_null (s_must (sh, "echo", ""));
    shell_destroy (&sh);
}

//  --------------------------------------------------------------------------
//  Assignments

static void
test_assignments (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("A=1 B+=2 C[3]=x LD_PRELOAD=/tmp/x.so cmd D=4; E=$(id)");
    const shell_cmd_t *cmd = s_must (sh, "cmd", "");
    assert_int_equal (cmd->assigns_count, 4);
    assert_string_equal (cmd->assigns[0].text, "A=1");
    assert_string_equal (cmd->assigns[1].text, "B+=2");
    assert_string_equal (cmd->assigns[2].text, "C[3]=x");
    assert_false (cmd->assigns[2].dynamic);
    assert_string_equal (cmd->assigns[3].text, "LD_PRELOAD=/tmp/x.so");
    //  After the command word it is an argument
    assert_string_equal (s_line (cmd), "cmd D=4");
    const shell_cmd_t *only = shell_cmd (sh, shell_count (sh) - 1);
    assert_int_equal (only->argc, 0);
    assert_int_equal (only->assigns_count, 1);
    assert_true (only->assigns[0].dynamic);
    assert_non_null (s_must (sh, "id", "$()"));
    shell_destroy (&sh);
    //  Not assignments
    s_single ("'A'=1 x", "A=1 x");
    s_single ("=1 x", "=1 x");
}

static void
test_arrays (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("a=(one \"two three\" $(four)\n # note\n five) b+=(x) c=()");
    const shell_cmd_t *cmd = shell_cmd (sh, shell_count (sh) - 1);
    assert_int_equal (cmd->argc, 0);
    assert_int_equal (cmd->assigns_count, 3);
    assert_string_equal (cmd->assigns[0].text, "a=(one two three $(four) five)");
    assert_true (cmd->assigns[0].dynamic);
    assert_string_equal (cmd->assigns[1].text, "b+=(x)");
    assert_string_equal (cmd->assigns[2].text, "c=()");
    assert_non_null (s_must (sh, "four", "$()"));
    shell_destroy (&sh);
    sh = s_ok ("local -a arr=(1 2) plain; declare -A m=([k]=v)");
    assert_string_equal (s_line (shell_cmd (sh, 0)), "local -a arr=(1 2) plain");
    assert_string_equal (s_line (shell_cmd (sh, 1)), "declare -A m=([k]=v)");
    shell_destroy (&sh);
}

//  --------------------------------------------------------------------------
//  Substitutions

static void
test_command_substitution_nested (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("echo \"$(dirname \"$(readlink -f \"$0\")\")\"");
    assert_int_equal (shell_count (sh), 3);
    assert_string_equal (s_line (shell_cmd (sh, 0)), "readlink -f $0");
    assert_string_equal (s_chain (shell_cmd (sh, 0)), "$(),$()");
    assert_string_equal (s_chain (shell_cmd (sh, 1)), "$()");
    assert_string_equal (shell_cmd (sh, 1)->argv[0].text, "dirname");
    assert_true (shell_cmd (sh, 1)->argv[1].dynamic);
    const shell_cmd_t *echo = shell_cmd (sh, 2);
    assert_string_equal (echo->argv[1].text, "$(dirname \"$(readlink -f \"$0\")\")");
    assert_true (echo->argv[1].dynamic);
    assert_true (echo->argv[1].quoted);
    shell_destroy (&sh);
}

static void
test_backquotes_nested (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("echo `echo \\`id -u\\` \\$HOME` \"`date`\"");
    assert_non_null (s_must (sh, "id", "$(),$()"));
    const shell_cmd_t *inner = s_must (sh, "echo", "$()");
    assert_string_equal (inner->argv[2].text, "/home/u");
    assert_non_null (s_must (sh, "date", "$()"));
    assert_true (s_must (sh, "echo", "")->argv[1].dynamic);
    shell_destroy (&sh);
}

static void
test_parameter_expansion_commands (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("echo ${x:-$(rm -rf /)} \"${y:=`id`}\" ${z#'$(no)'} \"${w:-\"$(yes)\"}\"");
    assert_non_null (s_must (sh, "rm", "$()"));
    assert_non_null (s_must (sh, "id", "$()"));
    assert_non_null (s_must (sh, "yes", "$()"));
    //  Single quotes inside unquoted ${} quote
    assert_null (s_find (sh, "no", NULL));
    const shell_cmd_t *echo = s_must (sh, "echo", "");
    assert_string_equal (echo->argv[1].text, "${x:-$(rm -rf /)}");
    assert_true (echo->argv[1].dynamic);
    shell_destroy (&sh);
    //  Nested braces
    sh = s_ok ("echo ${a:-{b}} ${c:-${d:-$(e)}}");
    assert_string_equal (s_line (s_must (sh, "echo", "")), "echo ${a:-{b}} ${c:-${d:-$(e)}}");
    assert_non_null (s_must (sh, "e", "$()"));
    shell_destroy (&sh);
}

static void
test_process_substitution (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("diff <(sort a) <(sort b) > >(tee log)");
    const shell_cmd_t *diff = s_must (sh, "diff", "");
    assert_string_equal (diff->argv[1].text, "<(sort a)");
    assert_true (diff->argv[1].dynamic);
    assert_int_equal (shell_count (sh), 4);
    assert_string_equal (s_chain (shell_cmd (sh, 0)), "<()");
    assert_string_equal (s_line (shell_cmd (sh, 0)), "sort a");
    assert_string_equal (s_chain (s_must (sh, "tee", NULL)), ">()");
    assert_string_equal (diff->redirs[0].target.text, ">(tee log)");
    shell_destroy (&sh);
}

static void
test_procsub_feeds_shell (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("sh <(curl -s http://x) ; bash < <(wget -qO- y)");
    const shell_cmd_t *curl = s_must (sh, "curl", "<()");
    const shell_cmd_t *sh1 = s_must (sh, "sh", "");
    assert_true (sh1->argv[1].dynamic);
    //  The script sh reads comes from curl
    assert_ptr_equal (shell_upstream (sh, sh1), curl);
    assert_ptr_equal (shell_upstream (sh, s_must (sh, "bash", "")), s_must (sh, "wget", "<()"));
    shell_destroy (&sh);
}

static void
test_bash_c_substitution (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("bash -c \"$(curl -fsSL https://x/install.sh)\"");
    const shell_cmd_t *curl = s_must (sh, "curl", "$()");
    const shell_cmd_t *bash = s_must (sh, "bash", "");
    assert_true (s_index (sh, curl) < s_index (sh, bash));
    assert_true (bash->argv[2].dynamic);
    assert_string_equal (bash->argv[2].text, "$(curl -fsSL https://x/install.sh)");
    //  The string is parsed as shell too: its command is dynamic
    const shell_cmd_t *inner = s_must (sh, "$(curl -fsSL https://x/install.sh)", "bash -c");
    assert_true (inner->argv[0].dynamic);
    assert_true (s_index (sh, bash) < s_index (sh, inner));
    shell_destroy (&sh);
}

static void
test_substitution_case_parens (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("echo $(case $x in a) rm a;; (b) rm b;; esac) after");
    assert_non_null (s_must (sh, "rm", "$()"));
    assert_string_equal (s_must (sh, "echo", "")->argv[2].text, "after");
    shell_destroy (&sh);
    sh = s_ok ("echo $(echo \")\" ')' \\)) ok");
    assert_string_equal (s_line (s_must (sh, "echo", "$()")), "echo ) ) )");
    assert_string_equal (s_must (sh, "echo", "")->argv[2].text, "ok");
    shell_destroy (&sh);
}

//  --------------------------------------------------------------------------
//  Wrappers

static void
test_sudo (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("sudo -u root -g wheel -E -H -n rm -rf /; sudo -i -- ls; sudo -uroot id;"
                        " sudo --user=bob -s whoami; sudo -C 3 -D /tmp FOO=1 make install");
    const shell_cmd_t *rm = s_must (sh, "rm", "sudo");
    assert_string_equal (s_line (rm), "rm -rf /");
    assert_non_null (s_must (sh, "sudo", ""));
    assert_string_equal (s_line (s_must (sh, "ls", "sudo")), "ls");
    assert_non_null (s_must (sh, "id", "sudo"));
    assert_non_null (s_must (sh, "whoami", "sudo"));
    const shell_cmd_t *make = s_must (sh, "make", "sudo");
    assert_string_equal (s_line (make), "make install");
    assert_int_equal (make->assigns_count, 1);
    assert_string_equal (make->assigns[0].text, "FOO=1");
    assert_null (s_find (sh, "root", NULL));
    assert_null (s_find (sh, "wheel", NULL));
    assert_null (s_find (sh, "/tmp", NULL));
    shell_destroy (&sh);
}

static void
test_sudo_runs_nothing (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("sudo -l rm; sudo -v; sudo -e /etc/hosts; sudo -s; sudo -k ls");
    assert_int_equal (shell_count (sh), 6);
    assert_null (s_find (sh, "rm", NULL));
    assert_null (s_find (sh, "/etc/hosts", NULL));
    assert_non_null (s_must (sh, "ls", "sudo")); //  -k still runs the command
    shell_destroy (&sh);
}

static void
test_wrapper_by_path (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("/usr/bin/sudo /bin/rm -r x; \\sudo 'id'");
    assert_string_equal (s_line (s_must (sh, "/bin/rm", "sudo")), "/bin/rm -r x");
    assert_non_null (s_must (sh, "id", "sudo"));
    shell_destroy (&sh);
    //  A dynamic command name is not looked through
    sh = s_ok ("$SUDO rm x");
    assert_int_equal (shell_count (sh), 1);
    shell_destroy (&sh);
}

static void
test_doas (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("doas -u admin -n reboot; doas -C /etc/doas.conf rm x");
    assert_string_equal (s_line (s_must (sh, "reboot", "doas")), "reboot");
    assert_null (s_find (sh, "rm", NULL));
    shell_destroy (&sh);
}

static void
test_env (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("env -i -u HOME PATH=/bin LD_PRELOAD=x.so bash -c 'id'; env; env -0 X=1;"
                        " env --unset=A --chdir /tmp -- B=2 ls -l");
    const shell_cmd_t *bash = s_must (sh, "bash", "env");
    assert_string_equal (s_line (bash), "bash -c id");
    assert_int_equal (bash->assigns_count, 2);
    assert_string_equal (bash->assigns[1].text, "LD_PRELOAD=x.so");
    assert_non_null (s_must (sh, "id", "env,bash -c"));
    //  --chdir: "env -C" follows "env" in the chain
    const shell_cmd_t *ls = s_must (sh, "ls", "env,env -C");
    assert_string_equal (s_line (ls), "ls -l");
    assert_int_equal (ls->assigns_count, 1);
    assert_null (s_find (sh, "HOME", NULL));
    assert_null (s_find (sh, "/tmp", NULL));
    //  env alone and env with only assignments run nothing else
    assert_int_equal (shell_count (sh), 7);
    shell_destroy (&sh);
}

static void
test_env_split_string (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("env -S 'python3 -u \"a b\"' x.py; env -S\"-i sh -c 'rm y'\"");
    assert_string_equal (s_line (s_must (sh, "python3", "env")), "python3 -u a b x.py");
    assert_string_equal (s_must (sh, "python3", "env")->argv[2].text, "a b");
    assert_non_null (s_must (sh, "rm", "env,sh -c"));
    shell_destroy (&sh);
}

static void
test_nice_ionice_nohup (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("nice -n 10 a; nice -5 b; nice --adjustment=3 c; nice -n5 d;"
                        " ionice -c 3 -n7 -t e; ionice -c2 -p 123; nohup f &");
    assert_non_null (s_must (sh, "a", "nice"));
    assert_non_null (s_must (sh, "b", "nice"));
    assert_non_null (s_must (sh, "c", "nice"));
    assert_non_null (s_must (sh, "d", "nice"));
    assert_non_null (s_must (sh, "e", "ionice"));
    assert_null (s_find (sh, "123", NULL));
    assert_true (s_must (sh, "f", "nohup")->background);
    assert_null (s_find (sh, "10", NULL));
    assert_null (s_find (sh, "7", NULL));
    shell_destroy (&sh);
}

static void
test_timeout_stdbuf (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("timeout 10 a; timeout -s KILL --kill-after=5 30s b x; timeout -k 1 2 c;"
                        " stdbuf -oL -e 0 --input=L d; timeout 5");
    assert_non_null (s_must (sh, "a", "timeout"));
    assert_string_equal (s_line (s_must (sh, "b", "timeout")), "b x");
    assert_non_null (s_must (sh, "c", "timeout"));
    assert_non_null (s_must (sh, "d", "stdbuf"));
    assert_null (s_find (sh, "30s", NULL));
    assert_null (s_find (sh, "2", NULL));
    assert_null (s_find (sh, "5", NULL));
    shell_destroy (&sh);
}

static void
test_time_wrapper (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("/usr/bin/time -v -o stats -f '%e' make; command time -p ls");
    assert_non_null (s_must (sh, "make", "time"));
    assert_non_null (s_must (sh, "ls", "command,time"));
    assert_null (s_find (sh, "stats", NULL));
    shell_destroy (&sh);
}

static void
test_command_builtin (void **state)
{
    (void) state;
    shell_t *sh =
        s_ok ("command -v rm; command -V ls; command -p cat f; builtin cd /; command -pv x");
    assert_null (s_find (sh, "rm", NULL));
    assert_null (s_find (sh, "ls", NULL));
    assert_null (s_find (sh, "x", NULL));
    assert_string_equal (s_line (s_must (sh, "cat", "command")), "cat f");
    assert_string_equal (s_line (s_must (sh, "cd", "builtin")), "cd /");
    shell_destroy (&sh);
}

static void
test_exec (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("exec -a fake -c -l bash; exec 3>&1; exec \"$@\"");
    assert_non_null (s_must (sh, "bash", "exec"));
    assert_null (s_find (sh, "fake", NULL));
    assert_int_equal (shell_count (sh), 5);
    assert_true (s_must (sh, "$@", "exec")->argv[0].dynamic);
    shell_destroy (&sh);
}

static void
test_xargs (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("find . -print0 | xargs -0 -n 1 -P4 -I {} rm -f {}; ls | xargs;"
                        " xargs -d '\\n' -L1 -a list sh -c 'echo \"$1\"' _");
    const shell_cmd_t *rm = s_must (sh, "rm", "xargs");
    assert_string_equal (s_line (rm), "rm -f {}");
    //  The inner command reads what xargs reads
    assert_ptr_equal (shell_upstream (sh, rm), s_must (sh, "find", ""));
    assert_int_equal (rm->position, 1);
    //  No command: echo
    assert_non_null (s_must (sh, "echo", "xargs"));
    assert_non_null (s_must (sh, "echo", "xargs,sh -c"));
    assert_null (s_find (sh, "list", NULL));
    assert_null (s_find (sh, "{}", NULL));
    shell_destroy (&sh);
}

static void
test_find_exec (void **state)
{
    (void) state;
    shell_t *sh =
        s_ok ("find / -name '*.log' -exec rm -f {} \\; -execdir gzip {} + -ok mv {} /x ';'"
              " -okdir chmod 600 {} \\; -print");
    assert_string_equal (s_line (s_must (sh, "rm", "find -exec")), "rm -f {}");
    assert_string_equal (s_line (s_must (sh, "gzip", "find -execdir")), "gzip {}");
    assert_string_equal (s_line (s_must (sh, "mv", "find -ok")), "mv {} /x");
    assert_string_equal (s_line (s_must (sh, "chmod", "find -okdir")), "chmod 600 {}");
    assert_int_equal (shell_count (sh), 5);
    shell_destroy (&sh);
    //  + ends -exec only after {}
    sh = s_ok ("find . -exec echo + {} +");
    assert_string_equal (s_line (s_must (sh, "echo", "find -exec")), "echo + {}");
    shell_destroy (&sh);
}

static void
test_shell_dash_c (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("bash -c 'rm -rf /tmp/x; ls' ; sh -lc \"a | b\" ; zsh -ec c; dash -c d;"
                        " ksh -o pipefail -c e arg0; /bin/bash --norc -x -c 'f'");
    assert_string_equal (s_line (s_must (sh, "rm", "bash -c")), "rm -rf /tmp/x");
    assert_non_null (s_must (sh, "ls", "bash -c"));
    const shell_cmd_t *a = s_must (sh, "a", "sh -c");
    const shell_cmd_t *b = s_must (sh, "b", "sh -c");
    assert_ptr_equal (shell_upstream (sh, b), a);
    assert_non_null (s_must (sh, "c", "zsh -c"));
    assert_non_null (s_must (sh, "d", "dash -c"));
    assert_non_null (s_must (sh, "e", "ksh -c"));
    assert_non_null (s_must (sh, "f", "bash -c"));
    assert_null (s_find (sh, "pipefail", NULL));
    shell_destroy (&sh);
}

static void
test_shell_script_and_stdin (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("bash deploy.sh arg; sh -s < script; bash <<EOF\nrm -rf /srv\nEOF\n"
                        "sh <<< 'reboot'; python3 <<EOF\nimport os\nEOF\n");
    assert_int_equal (s_must (sh, "bash", "")->argc, 3);
    assert_null (s_find (sh, "deploy.sh", NULL));
    assert_string_equal (s_line (s_must (sh, "rm", "bash <<")), "rm -rf /srv");
    assert_non_null (s_must (sh, "reboot", "sh <<"));
    assert_null (s_find (sh, "import", NULL)); //  not a shell
    shell_destroy (&sh); //  /dev/stdin, /dev/fd/0 as the script, and -s with arguments: the
    //  heredoc or here-string is the program
    sh =
        s_ok ("bash /dev/stdin <<< 'rm a'; sh /dev/fd/0 x y <<EOF\nrm b\nEOF\n"
              "bash -x -- /proc/self/fd/0 <<< 'rm c'; bash -s <<< 'rm d'; "
              "bash -s -- --flag x <<EOF\nrm e\nEOF\nbash /dev/stdin < file; bash x.sh <<< 'rm f'");
    assert_string_equal (s_line (s_must (sh, "rm", "bash <<")), "rm a");
    assert_string_equal (s_line (s_must (sh, "rm", "sh <<")), "rm b");
    size_t found = 0;
    for (size_t i = 0; i < shell_count (sh); i++) {
        const shell_cmd_t *c = shell_cmd (sh, i);
        if (!strcmp (c->argv[0].text, "rm")) {
            assert_true (!strcmp (s_chain (c), "bash <<") || !strcmp (s_chain (c), "sh <<"));
            found++;
        }
    }
    assert_int_equal (found, 5); //  not rm f: bash runs x.sh
    shell_destroy (&sh);
}

static void
test_stdin_shells (void **state)
{
    (void) state;
    shell_t *sh =
        s_ok ("sudo -s <<EOF\nrm -rf /a\nEOF\nsudo -i <<< 'rm /b'; su - root <<'X'\nrm /c\nX\n"
              "ssh -T host <<'EOF'\ncd /srv && rm -rf d\nEOF\nsource /dev/stdin <<< 'rm e';"
              " doas -s <<< 'rm f'; sudo -s < script; ssh host2");
    assert_string_equal (s_line (s_must (sh, "rm", "sudo")), "rm -rf /a");
    assert_non_null (s_must (sh, "rm", "su"));
    assert_string_equal (s_line (s_must (sh, "rm", "ssh")), "rm -rf d");
    assert_non_null (s_must (sh, "cd", "ssh"));
    assert_non_null (s_must (sh, "rm", "source"));
    assert_non_null (s_must (sh, "rm", "doas"));
    //  Two bodies under sudo: -s and -i
    size_t under_sudo = 0;
    for (size_t i = 0; i < shell_count (sh); i++)
        if (!strcmp (s_chain (shell_cmd (sh, i)), "sudo"))
            under_sudo++;
    assert_int_equal (under_sudo, 2);
    shell_destroy (&sh);
}

static void
test_stdin_script_does_not_reread (void **state)
{
    (void) state;
    //  The script's own commands do not read the script again: a shell in
    //  it reads from the pipe, not the here-string (was "nesting too deep")
    shell_t *sh = s_ok ("sh <<< 'curl -s x.example | sh'");
    assert_int_equal (shell_count (sh), 3);
    const shell_cmd_t *inner = s_must (sh, "sh", "sh <<");
    assert_int_equal (inner->redirs_count, 0);
    assert_ptr_equal (shell_upstream (sh, inner), s_must (sh, "curl", "sh <<"));
    shell_destroy (&sh);
    sh = s_ok ("bash <<'EOF'\necho ls | bash\nEOF\n");
    assert_int_equal (shell_count (sh), 3);
    shell_destroy (&sh);
    //  A -c shell keeps its stdin for the commands it runs
    sh = s_ok ("bash -c 'sh' <<< 'id'");
    assert_int_equal (s_must (sh, "sh", "bash -c")->redirs_count, 1);
    assert_non_null (s_must (sh, "id", "bash -c,sh <<"));
    shell_destroy (&sh);
}

static void
test_busybox (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("busybox sh -c 'rm x'; busybox wget http://y; busybox --list");
    assert_non_null (s_must (sh, "sh", "busybox"));
    assert_non_null (s_must (sh, "rm", "busybox,sh -c"));
    assert_non_null (s_must (sh, "wget", "busybox"));
    shell_destroy (&sh);
}

static void
test_eval (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("eval \"rm -rf\" '/tmp/x;' ls; eval \"$(ssh-agent -s)\"; eval");
    assert_string_equal (s_line (s_must (sh, "rm", "eval")), "rm -rf /tmp/x");
    assert_non_null (s_must (sh, "ls", "eval"));
    assert_non_null (s_must (sh, "ssh-agent", "$()"));
    assert_non_null (s_must (sh, "ssh-agent", "eval,$()"));
    shell_destroy (&sh);
}

static void
test_su_runuser (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("su -c 'id; rm a' root; su - bob -c b; su -l -s /bin/sh -c c; su root;"
                        " su --command=d; runuser -u www -- e x; runuser -l app -c f");
    assert_non_null (s_must (sh, "id", "su -c"));
    assert_non_null (s_must (sh, "rm", "su -c"));
    assert_non_null (s_must (sh, "b", "su -c"));
    assert_non_null (s_must (sh, "c", "su -c"));
    assert_non_null (s_must (sh, "d", "su -c"));
    assert_string_equal (s_line (s_must (sh, "e", "runuser")), "e x");
    assert_non_null (s_must (sh, "f", "runuser -c"));
    assert_null (s_find (sh, "root", NULL));
    assert_null (s_find (sh, "/bin/sh", NULL));
    shell_destroy (&sh);
}

static void
test_ssh (void **state)
{
    (void) state;
    shell_t *sh =
        s_ok ("ssh -p 2222 -i key -o StrictHostKeyChecking=no user@host 'cd /srv && rm -rf *';"
              " ssh host -t sudo reboot; ssh -N -L 80:x:80 gw; ssh h2");
    assert_non_null (s_must (sh, "cd", "ssh"));
    const shell_cmd_t *rm = s_must (sh, "rm", "ssh");
    assert_true (rm->argv[2].dynamic);
    assert_non_null (s_must (sh, "sudo", "ssh"));
    assert_non_null (s_must (sh, "reboot", "ssh,sudo"));
    assert_null (s_find (sh, "user@host", NULL));
    assert_null (s_find (sh, "gw", NULL));
    assert_null (s_find (sh, "h2", "ssh"));
    shell_destroy (&sh);
}

static void
test_watch (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("watch -n 2 -d 'ps aux | grep x'; watch -x ls -l; watch df -h");
    assert_non_null (s_must (sh, "ps", "watch"));
    assert_ptr_equal (shell_upstream (sh, s_must (sh, "grep", "watch")),
                      s_must (sh, "ps", "watch"));
    assert_string_equal (s_line (s_must (sh, "ls", "watch")), "ls -l");
    assert_string_equal (s_line (s_must (sh, "df", "watch")), "df -h");
    assert_null (s_find (sh, "2", NULL));
    shell_destroy (&sh);
}

static void
test_namespace_wrappers (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("nsenter -t 1 -m -u -n -p sh; nsenter --target=1 --mount a;"
                        " chroot /mnt /bin/bash -c b; chroot --userspec=u:g /r c; unshare -r -n d;"
                        " unshare --map-root-user --propagation private e; setsid -f f");
    assert_non_null (s_must (sh, "sh", "nsenter"));
    assert_non_null (s_must (sh, "a", "nsenter"));
    assert_non_null (s_must (sh, "/bin/bash", "chroot"));
    assert_non_null (s_must (sh, "b", "chroot,bash -c"));
    assert_non_null (s_must (sh, "c", "chroot"));
    assert_non_null (s_must (sh, "d", "unshare"));
    assert_non_null (s_must (sh, "e", "unshare"));
    assert_non_null (s_must (sh, "f", "setsid"));
    assert_null (s_find (sh, "/mnt", NULL));
    assert_null (s_find (sh, "private", NULL));
    shell_destroy (&sh);
}

static void
test_flock (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("flock /tmp/l -c 'make && make install'; flock -n -w 5 /tmp/l rsync a b;"
                        " flock 9");
    assert_non_null (s_must (sh, "make", "flock -c"));
    assert_string_equal (s_line (s_must (sh, "rsync", "flock")), "rsync a b");
    assert_int_equal (shell_count (sh), 6); //  flock 9 runs nothing
    shell_destroy (&sh);
}

static void
test_sched_wrappers (void **state)
{
    (void) state;
    shell_t *sh =
        s_ok ("chrt -f 99 a; chrt -p 1234; taskset -c 0-3 b; taskset 0x1 c; taskset -p 1");
    assert_non_null (s_must (sh, "a", "chrt"));
    assert_non_null (s_must (sh, "b", "taskset"));
    assert_non_null (s_must (sh, "c", "taskset"));
    assert_int_equal (shell_count (sh), 8);
    assert_null (s_find (sh, "99", NULL));
    assert_null (s_find (sh, "0-3", NULL));
    shell_destroy (&sh);
}

static void
test_debug_wrappers (void **state)
{
    (void) state;
    shell_t *sh =
        s_ok ("strace -f -e trace=open -o out ./a; ltrace -o x -s 64 b;"
              " valgrind --leak-check=full --log-file=v ./c 1; gdb --args ./d 2; gdb ./e");
    assert_non_null (s_must (sh, "./a", "strace"));
    assert_non_null (s_must (sh, "b", "ltrace"));
    assert_string_equal (s_line (s_must (sh, "./c", "valgrind")), "./c 1");
    assert_string_equal (s_line (s_must (sh, "./d", "gdb --args")), "./d 2");
    assert_null (s_find (sh, "./e", "gdb --args"));
    assert_null (s_find (sh, "out", NULL));
    assert_null (s_find (sh, "64", NULL));
    shell_destroy (&sh);
}

static void
test_interpreters_not_parsed (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("python3 -c 'import os; os.system(\"rm -rf /\")'; perl -e 'unlink \"x\"';"
                        " perl -E 'say 1'; ruby -e 'puts 1'; node -e 'process.exit()'; node -p 1;"
                        " php -r 'echo 1;'; lua -e 'print(1)'; osascript -e 'beep'");
    assert_int_equal (shell_count (sh), 9);
    assert_null (s_find (sh, "rm", NULL));
    assert_null (s_find (sh, "import", NULL));
    assert_string_equal (shell_cmd (sh, 0)->argv[2].text, "import os; os.system(\"rm -rf /\")");
    for (size_t i = 0; i < shell_count (sh); i++)
        assert_int_equal (shell_cmd (sh, i)->wrappers_count, 0);
    shell_destroy (&sh);
}

static void
test_wrapper_chains (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("sudo env FOO=1 nice -n 5 nohup timeout 10 bash -c 'xargs rm < list'");
    const shell_cmd_t *rm = s_must (sh, "rm", NULL);
    assert_string_equal (s_chain (rm), "sudo,env,nice,nohup,timeout,bash -c,xargs");
    assert_int_equal (rm->assigns_count, 1);
    assert_int_equal (rm->redirs_count, 1); //  xargs reads list
    assert_int_equal (shell_count (sh), 8);
    shell_destroy (&sh);
}

static void
test_wrapper_in_pipeline (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("curl -s http://x | sudo -E sh -s; wget -O- y | timeout 5 env bash");
    const shell_cmd_t *curl = s_must (sh, "curl", "");
    const shell_cmd_t *inner = s_must (sh, "sh", "sudo");
    assert_ptr_equal (shell_upstream (sh, inner), curl);
    assert_ptr_equal (shell_upstream (sh, s_must (sh, "sudo", "")), curl);
    assert_int_equal (inner->pipeline, curl->pipeline);
    assert_int_equal (inner->position, 1);
    assert_int_equal (inner->pipeline_len, 2);
    assert_ptr_equal (shell_upstream (sh, s_must (sh, "bash", "timeout,env")),
                      s_must (sh, "wget", ""));
    shell_destroy (&sh);
}

static void
test_trap (void **state)
{
    (void) state;
    shell_t *sh =
        s_ok ("trap 'rm -rf \"$tmp\"' EXIT INT; trap - EXIT; trap -p; trap 'x' ; trap 0 1");
    assert_non_null (s_must (sh, "rm", "trap"));
    assert_int_equal (shell_count (sh), 6);
    shell_destroy (&sh);
}

static void
test_unknown_option_both_readings (void **state)
{
    (void) state;
    //  An option the table does not know may or may not take an argument:
    //  both readings are listed, so nothing hides behind it
    shell_t *sh = s_ok ("nice --frobnicate value rm -rf /");
    assert_non_null (s_must (sh, "value", "nice"));
    assert_non_null (s_must (sh, "rm", "nice"));
    shell_destroy (&sh);
}

static void
test_misc_wrappers (void **state)
{
    (void) state;
    shell_t *sh =
        s_ok ("pkexec --user root a; fakeroot -- b; unbuffer -p c; torsocks d; proxychains4 -q e;"
              " sg docker -c 'f x'; script -q -c 'g' log; firejail --private h");
    assert_non_null (s_must (sh, "a", "pkexec"));
    assert_non_null (s_must (sh, "b", "fakeroot"));
    assert_non_null (s_must (sh, "c", "unbuffer"));
    assert_non_null (s_must (sh, "d", "torsocks"));
    assert_non_null (s_must (sh, "e", "proxychains4"));
    assert_string_equal (s_line (s_must (sh, "f", "sg")), "f x");
    assert_non_null (s_must (sh, "g", "script -c"));
    assert_non_null (s_must (sh, "h", "firejail"));
    shell_destroy (&sh);
}

//  --------------------------------------------------------------------------
//  Recursive functions

static void
test_fork_bomb_classic (void **state)
{
    (void) state;
    shell_t *sh = s_ok (":(){ :|:& };:");
    assert_true (shell_has_recursive_function (sh));
    assert_int_equal (shell_count (sh), 3);
    assert_true (shell_cmd (sh, 0)->in_function);
    assert_true (shell_cmd (sh, 1)->background);
    assert_ptr_equal (shell_upstream (sh, shell_cmd (sh, 1)), shell_cmd (sh, 0));
    assert_false (shell_cmd (sh, 2)->in_function);
    shell_destroy (&sh);
}

static void
test_fork_bomb_renamed (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("bomb(){ bomb|bomb& }; bomb");
    assert_true (shell_has_recursive_function (sh));
    shell_destroy (&sh);
    sh = s_ok ("function f { f & f; }; f");
    assert_true (shell_has_recursive_function (sh));
    shell_destroy (&sh);
    sh = s_ok ("f() {\n  \\f | f &\n}\nf");
    assert_true (shell_has_recursive_function (sh));
    shell_destroy (&sh);
}

static void
test_fork_bomb_indirect (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("a(){ b|b& }; b(){ a|a& }; a");
    assert_true (shell_has_recursive_function (sh));
    shell_destroy (&sh);
    sh = s_ok ("f(){ x=$(f); eval f; }");
    assert_true (shell_has_recursive_function (sh));
    shell_destroy (&sh);
    sh = s_ok ("bash -c ':(){ :|:& };:'");
    assert_true (shell_has_recursive_function (sh));
    shell_destroy (&sh);
}

static void
test_not_recursive (void **state)
{
    (void) state;
    shell_t *sh = s_ok ("ls() { command ls --color \"$@\"; }; g() { ls; }; g; h() { sudo h; }");
    assert_false (shell_has_recursive_function (sh));
    shell_destroy (&sh);
    sh = s_ok ("echo f; f; f & f");
    assert_false (shell_has_recursive_function (sh));
    shell_destroy (&sh);
}

//  --------------------------------------------------------------------------
//  Errors and limits

static void
test_unterminated (void **state)
{
    (void) state;
    s_fails ("echo 'abc", "unterminated single quote");
    s_fails ("echo \"abc", "unterminated double quote");
    s_fails ("echo `ls", "unterminated backquote");
    s_fails ("echo $(ls", "unterminated command substitution");
    s_fails ("echo ${x", "unterminated parameter expansion");
    s_fails ("echo $'abc", "unterminated $'");
    s_fails ("cat <(ls", "unterminated process substitution");
    s_fails ("a=(1 2", "unterminated array");
    s_fails ("[[ -f x", "unterminated [[");
    s_fails ("echo \"$(echo 'x)\"", NULL);
}

static void
test_unterminated_heredoc (void **state)
{
    (void) state;
    s_fails ("cat <<EOF\nbody\n", "unterminated heredoc");
    s_fails ("cat <<EOF", "unterminated heredoc");
    s_fails ("cat <<EOF\nbody\n EOF\n", "unterminated heredoc");
    s_fails ("cat <<EOF\n$(id\nEOF\n", "unterminated command substitution");
}

static void
test_syntax_errors (void **state)
{
    (void) state;
    s_fails (";", "syntax error");
    s_fails ("a |", "syntax error");
    s_fails ("a &&", "syntax error");
    s_fails ("| a", "syntax error");
    s_fails ("a ;; b", "syntax error");
    s_fails ("echo )", "syntax error");
    s_fails ("fi", "syntax error");
    s_fails ("{ }", "syntax error");
    s_fails ("( )", "syntax error");
    s_fails ("if a; then fi", "syntax error");
    s_fails ("if a; then b", "syntax error");
    s_fails ("while a; do b", "syntax error");
    s_fails ("for x in a b c", "syntax error");
    s_fails ("case x in a) b", "syntax error");
    s_fails ("cat <", "syntax error");
    s_fails ("echo a (b)", "syntax error");
    s_fails ("{ echo a }", "syntax error");
}

static void
test_errors_in_nested_strings (void **state)
{
    (void) state;
    //  A string given to a shell that does not parse fails the whole parse
    s_fails ("bash -c 'echo \"oops'", "bash -c string");
    s_fails ("eval 'if true'", "eval string");
    s_fails ("echo `echo $(`", NULL);
}

static void
test_nesting_too_deep (void **state)
{
    (void) state;
    shell_opts_t opts = {.max_depth = 4};
    const char *deep[] = {"echo $(a $(b $(c $(d $(e)))))",
                          "( ( ( ( ( a ) ) ) ) )",
                          "{ { { { { a; }; }; }; }; }",
                          "sudo sudo sudo sudo sudo a",
                          "bash -c \"bash -c 'sh -c \\\"sh -c x\\\"'\"",
                          "echo \"${a:-\"${b:-\"${c:-\"${d:-\"${e}\"}\"}\"}\"}\"",
                          "cat <<A\n$(cat <<B\n$(cat <<C\n$(cat <<D\n$(x)\nD\n)\nC\n)\nB\n)\nA\n"};
    for (size_t i = 0; i < sizeof (deep) / sizeof (deep[0]); i++)
        s_fails_with (deep[i], strlen (deep[i]), &opts, "nesting too deep");
    //  Just within the limit
    shell_t *sh = s_parse_with ("echo $(a $(b))", &opts);
    assert_int_equal (shell_count (sh), 3);
    shell_destroy (&sh);
    //  Default depth: 200 nested subshells fail cleanly
    char nested[1024] = "";
    for (int i = 0; i < 200; i++)
        strcat (nested, "( ");
    strcat (nested, "a");
    for (int i = 0; i < 200; i++)
        strcat (nested, " )");
    s_fails_with (nested, strlen (nested), &s_opts, "nesting too deep");
}

static void
test_too_many_commands (void **state)
{
    (void) state;
    //  100,000 commands against the default limit of 4096
    size_t n = 100000;
    char *src = malloc (n * 2 + 1);
    assert_non_null (src);
    for (size_t i = 0; i < n; i++)
        memcpy (src + i * 2, "a;", 2);
    src[n * 2] = 0;
    s_fails_with (src, n * 2, &s_opts, "too many commands");
    //  Raised limit: they all parse
    shell_opts_t opts = {.max_commands = n};
    char err[256];
    shell_t *sh = shell_parse (src, n * 2, &opts, err, sizeof (err));
    assert_non_null (sh);
    assert_int_equal (shell_count (sh), n);
    shell_destroy (&sh);
    free (src);
    //  Wrappers count too
    opts.max_commands = 2;
    s_fails_with ("sudo nice ls", 12, &opts, "too many commands");
}

static void
test_nul_byte (void **state)
{
    (void) state;
    s_fails_with ("echo a\0; rm -rf /", 17, &s_opts, "NUL byte");
    //  A NUL past len is not read
    shell_t *sh = shell_parse ("ls\0garbage", 2, &s_opts, NULL, 0);
    assert_non_null (sh);
    assert_int_equal (shell_count (sh), 1);
    shell_destroy (&sh);
}

static void
test_large_inputs (void **state)
{
    (void) state;
    //  A 1 MiB command line
    size_t len = 1 << 20;
    char *src = malloc (len + 1);
    assert_non_null (src);
    memcpy (src, "echo ", 5);
    for (size_t i = 5; i < len; i++)
        src[i] = (i % 8 == 7) ? ' ' : 'a' + (char) (i % 26);
    src[len] = 0;
    char err[256];
    shell_t *sh = shell_parse (src, len, &s_opts, err, sizeof (err));
    assert_non_null (sh);
    assert_int_equal (shell_count (sh), 1);
    assert_true (shell_cmd (sh, 0)->argc > 100000);
    shell_destroy (&sh);
    //  One 1 MiB word
    memset (src + 5, 'x', len - 5);
    sh = shell_parse (src, len, &s_opts, err, sizeof (err));
    assert_non_null (sh);
    assert_int_equal (strlen (shell_cmd (sh, 0)->argv[1].text), len - 5);
    shell_destroy (&sh);
    //  A 1 MiB heredoc
    const char *head = "cat <<E\n";
    memcpy (src, head, strlen (head));
    for (size_t i = strlen (head); i < len; i++)
        src[i] = i % 40 == 39 ? '\n' : '$';
    memcpy (src + len - 3, "\nE\n", 3);
    sh = shell_parse (src, len, &s_opts, err, sizeof (err));
    assert_non_null (sh);
    shell_destroy (&sh);
    free (src);
}

//  CPU time of this process: other load on the machine does not count
static double
s_seconds (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

//  CPU seconds the adversarial inputs may take: ThreadSanitizer slows the
//  parser about tenfold, and the old blow-up took over ten times more still
#if defined(__SANITIZE_THREAD__)
static const double s_cpu_bound = 10.0;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
static const double s_cpu_bound = 10.0;
#else
static const double s_cpu_bound = 2.0;
#endif
#else
static const double s_cpu_bound = 2.0;
#endif

static void
test_adversarial_wrappers_bounded (void **state)
{
    (void) state;
    //  Each "nice --zz nice" level can be read two ways (--zz taking an
    //  argument or not) and both readings reach the next level: a doubling
    //  tree whose leaves would all scan the same 1 MiB of options. The work
    //  budget stops it in linear time.
    size_t cap = 1 << 20;
    char *src = malloc (cap + 64);
    assert_non_null (src);
    size_t n = 0;
    for (int i = 0; i < 11; i++)
        n += (size_t) sprintf (src + n, "nice --zz nice ");
    while (n + 8 < cap)
        n += (size_t) sprintf (src + n, "-n 5 ");
    src[n++] = 'x';
    char err[256] = "";
    double start = s_seconds ();
    shell_t *sh = shell_parse (src, n, NULL, err, sizeof (err));
    double took = s_seconds () - start;
    //  The same with eval of a big string at the end: bounded by the
    //  budgets after a few parses of it
    size_t m = 0;
    for (int i = 0; i < 11; i++)
        m += (size_t) sprintf (src + m, "nice --zz eval ");
    src[m++] = '\'';
    while (m + 8 < cap)
        m += (size_t) sprintf (src + m, "a ");
    src[m++] = '\'';
    char err2[256] = "";
    shell_t *sh2 = shell_parse (src, m, NULL, err2, sizeof (err2));
    free (src);
    assert_null (sh);
    assert_non_null (strstr (err, "too complex"));
    //  0.1 s CPU (0.5 s under ASan, up to 2 s under TSan); it was 2.6 s (16 s):
    //  the bound tells linear from what the parser once did, not a speed
    assert_true (took < s_cpu_bound);
    assert_null (sh2);
    assert_non_null (strstr (err2, "too complex"));
}

static void
test_invalid_utf8 (void **state)
{
    (void) state;
    const char src[] = "echo \xff\xfe \"\xc3\x28\" '\x80'";
    shell_t *sh = s_ok (src);
    const shell_cmd_t *cmd = shell_cmd (sh, 0);
    assert_string_equal (cmd->argv[1].text, "\xff\xfe");
    assert_string_equal (cmd->argv[2].text, "\xc3\x28");
    assert_string_equal (cmd->argv[3].text, "\x80");
    shell_destroy (&sh);
    //  Error messages stay printable ASCII
    char err[256];
    assert_null (shell_parse ("echo \xff\xfe)", 8, &s_opts, err, sizeof (err)));
    for (const char *c = err; *c; c++)
        assert_true (*c >= 0x20 && *c < 0x7f);
}

static void
test_error_buffer (void **state)
{
    (void) state;
    char err[8];
    memset (err, 'x', sizeof (err));
    assert_null (shell_parse ("echo 'x", 7, &s_opts, err, sizeof (err)));
    assert_int_equal (strlen (err), 7); //  truncated, terminated
    assert_null (shell_parse ("echo 'x", 7, &s_opts, NULL, 0));
    assert_null (shell_parse (NULL, 5, &s_opts, err, sizeof (err)));
    shell_t *sh = shell_parse (NULL, 0, &s_opts, err, sizeof (err));
    assert_non_null (sh);
    assert_int_equal (shell_count (sh), 0);
    shell_destroy (&sh);
}

static void
test_api_edges (void **state)
{
    (void) state;
    shell_destroy (NULL);
    shell_t *none = NULL;
    shell_destroy (&none);
    assert_int_equal (shell_count (NULL), 0);
    assert_null (shell_cmd (NULL, 0));
    assert_false (shell_has_recursive_function (NULL));
    shell_t *sh = s_ok ("a | b");
    assert_null (shell_cmd (sh, 2));
    shell_cmd_t stray;
    memset (&stray, 0, sizeof (stray));
    assert_null (shell_upstream (sh, &stray));
    assert_null (shell_upstream (sh, NULL));
    assert_null (shell_upstream (NULL, shell_cmd (sh, 1)));
    shell_destroy (&sh);
}

//  test_shell --words: for each input line (a command; \n in it as \x1f),
//  one output line: the argv of every command of the parse, each word as
//  TEXT (or ?TEXT when dynamic) followed by \x1e, commands separated by
//  \x1d; or "ERR message". HOME is the home for ~. For the differential
//  test against bash (test_shell_bash.py).
static int
s_words_mode (void)
{
    static char line[1 << 16];
    shell_opts_t opts = {.home = getenv ("HOME")};
    while (fgets (line, sizeof (line), stdin)) {
        size_t len = strcspn (line, "\n");
        line[len] = 0;
        for (size_t i = 0; i < len; i++)
            if (line[i] == '\x1f')
                line[i] = '\n';
        char err[256] = "";
        shell_t *sh = shell_parse (line, len, &opts, err, sizeof (err));
        if (!sh) {
            printf ("ERR %s\n", err);
            continue;
        }
        for (size_t k = 0; k < shell_count (sh); k++) {
            const shell_cmd_t *cmd = shell_cmd (sh, k);
            if (k)
                putchar ('\x1d');
            for (size_t i = 0; i < cmd->argc; i++) {
                if (cmd->argv[i].dynamic)
                    putchar ('?');
                fputs (cmd->argv[i].text, stdout);
                putchar ('\x1e');
            }
        }
        putchar ('\n');
        fflush (stdout);
        shell_destroy (&sh);
    }
    return 0;
}

int
main (int argc, char **argv)
{
    if (argc > 1 && !strcmp (argv[1], "--words"))
        return s_words_mode ();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_simple_words),
        cmocka_unit_test (test_single_quotes),
        cmocka_unit_test (test_double_quotes),
        cmocka_unit_test (test_ansi_c_quotes),
        cmocka_unit_test (test_backslash_escapes),
        cmocka_unit_test (test_line_continuation),
        cmocka_unit_test (test_comments),
        cmocka_unit_test (test_empty_and_literal_words),
        cmocka_unit_test (test_tilde),
        cmocka_unit_test (test_tilde_in_assignments),
        cmocka_unit_test (test_home_variable),
        cmocka_unit_test (test_no_home),
        cmocka_unit_test (test_parameters_dynamic),
        cmocka_unit_test (test_globs_dynamic),
        cmocka_unit_test (test_brace_expansion),
        cmocka_unit_test (test_brace_expansion_bounds),
        cmocka_unit_test (test_word_patterns),
        cmocka_unit_test (test_aliases),
        cmocka_unit_test (test_wrappers_terminal_and_service),
        cmocka_unit_test (test_wrappers_vcs_and_editors),
        cmocka_unit_test (test_wrappers_runners),
        cmocka_unit_test (test_wrappers_packages_and_sandboxes),
        cmocka_unit_test (test_arithmetic_expansion),
        cmocka_unit_test (test_arithmetic_lookahead_nesting),
        cmocka_unit_test (test_tilde_line_continuation),
        cmocka_unit_test (test_quoting_corners),
        cmocka_unit_test (test_lists),
        cmocka_unit_test (test_background),
        cmocka_unit_test (test_pipeline_upstream),
        cmocka_unit_test (test_pipeline_into_compound),
        cmocka_unit_test (test_pipe_stderr),
        cmocka_unit_test (test_negation),
        cmocka_unit_test (test_subshell_and_group),
        cmocka_unit_test (test_if_elif_else),
        cmocka_unit_test (test_while_until),
        cmocka_unit_test (test_for_loops),
        cmocka_unit_test (test_in_loop),
        cmocka_unit_test (test_for_binding),
        cmocka_unit_test (test_select),
        cmocka_unit_test (test_case),
        cmocka_unit_test (test_functions),
        cmocka_unit_test (test_cond_command),
        cmocka_unit_test (test_arith_command),
        cmocka_unit_test (test_time_keyword),
        cmocka_unit_test (test_coproc),
        cmocka_unit_test (test_redirect_kinds),
        cmocka_unit_test (test_redirect_out_all),
        cmocka_unit_test (test_redirect_positions),
        cmocka_unit_test (test_named_fd),
        cmocka_unit_test (test_herestring),
        cmocka_unit_test (test_heredoc_bodies),
        cmocka_unit_test (test_heredoc_substitutions),
        cmocka_unit_test (test_heredoc_multiple),
        cmocka_unit_test (test_heredoc_in_substitution),
        cmocka_unit_test (test_assignments),
        cmocka_unit_test (test_arrays),
        cmocka_unit_test (test_command_substitution_nested),
        cmocka_unit_test (test_backquotes_nested),
        cmocka_unit_test (test_parameter_expansion_commands),
        cmocka_unit_test (test_process_substitution),
        cmocka_unit_test (test_procsub_feeds_shell),
        cmocka_unit_test (test_bash_c_substitution),
        cmocka_unit_test (test_substitution_case_parens),
        cmocka_unit_test (test_sudo),
        cmocka_unit_test (test_sudo_runs_nothing),
        cmocka_unit_test (test_wrapper_by_path),
        cmocka_unit_test (test_doas),
        cmocka_unit_test (test_env),
        cmocka_unit_test (test_env_split_string),
        cmocka_unit_test (test_nice_ionice_nohup),
        cmocka_unit_test (test_timeout_stdbuf),
        cmocka_unit_test (test_time_wrapper),
        cmocka_unit_test (test_command_builtin),
        cmocka_unit_test (test_exec),
        cmocka_unit_test (test_xargs),
        cmocka_unit_test (test_find_exec),
        cmocka_unit_test (test_shell_dash_c),
        cmocka_unit_test (test_shell_script_and_stdin),
        cmocka_unit_test (test_stdin_shells),
        cmocka_unit_test (test_stdin_script_does_not_reread),
        cmocka_unit_test (test_busybox),
        cmocka_unit_test (test_eval),
        cmocka_unit_test (test_su_runuser),
        cmocka_unit_test (test_ssh),
        cmocka_unit_test (test_watch),
        cmocka_unit_test (test_namespace_wrappers),
        cmocka_unit_test (test_flock),
        cmocka_unit_test (test_sched_wrappers),
        cmocka_unit_test (test_debug_wrappers),
        cmocka_unit_test (test_interpreters_not_parsed),
        cmocka_unit_test (test_wrapper_chains),
        cmocka_unit_test (test_wrapper_in_pipeline),
        cmocka_unit_test (test_trap),
        cmocka_unit_test (test_unknown_option_both_readings),
        cmocka_unit_test (test_misc_wrappers),
        cmocka_unit_test (test_fork_bomb_classic),
        cmocka_unit_test (test_fork_bomb_renamed),
        cmocka_unit_test (test_fork_bomb_indirect),
        cmocka_unit_test (test_not_recursive),
        cmocka_unit_test (test_unterminated),
        cmocka_unit_test (test_unterminated_heredoc),
        cmocka_unit_test (test_syntax_errors),
        cmocka_unit_test (test_errors_in_nested_strings),
        cmocka_unit_test (test_nesting_too_deep),
        cmocka_unit_test (test_too_many_commands),
        cmocka_unit_test (test_nul_byte),
        cmocka_unit_test (test_large_inputs),
        cmocka_unit_test (test_adversarial_wrappers_bounded),
        cmocka_unit_test (test_invalid_utf8),
        cmocka_unit_test (test_error_buffer),
        cmocka_unit_test (test_api_edges),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
