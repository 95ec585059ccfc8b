/*  test_glob -- unit tests for nodes/validator/glob.c (cmocka).

    glob_compile of both syntaxes (GLOB_SHELL: a word as the shell parser
    reports it; GLOB_POLICY: a policy path pattern body), glob_overlap as
    truth tables (a is the shell side, b the policy side: the dot rule
    binds a's wildcards only), the budget answer and glob_is_wild.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "glob.h"

#define MAX_TOKS 1024

//  --------------------------------------------------------------------------
//  Helpers

//  Compiles text (NUL-terminated) in the given syntax; it must compile
static size_t
s_compile (const char *text, glob_syntax_t syntax, glob_tok_t *out)
{
    size_t count = 0;
    if (!glob_compile (text, strlen (text), syntax, out, MAX_TOKS, &count))
        fail_msg ("glob_compile refused '%s'", text);
    return count;
}

static bool
s_has (const glob_tok_t *t, unsigned char c)
{
    return (t->set[c >> 6] >> (c & 63)) & 1;
}

//  How many bytes the token accepts
static int
s_size (const glob_tok_t *t)
{
    int n = 0;
    for (int c = 0; c < 256; c++)
        n += s_has (t, (unsigned char) c);
    return n;
}

//  The token accepts exactly the one byte c, once
static void
s_expect_literal (const glob_tok_t *t, unsigned char c)
{
    if (!s_has (t, c) || s_size (t) != 1 || t->run || t->wild)
        fail_msg ("token is not the literal 0x%02x (size %d, run %d, wild %d)", c, s_size (t),
                  t->run, t->wild);
}

//  a in shell syntax, b in policy syntax: could one path match both?
static bool
s_ov (const char *a, const char *b, bool dotglob)
{
    static glob_tok_t ta[MAX_TOKS], tb[MAX_TOKS];
    size_t na = s_compile (a, GLOB_SHELL, ta);
    size_t nb = s_compile (b, GLOB_POLICY, tb);
    return glob_overlap (ta, na, tb, nb, dotglob);
}

//  The answer must be as expected without and with dotglob
static void
s_ov_is (const char *a, const char *b, bool expected, bool expected_dotglob)
{
    bool got = s_ov (a, b, false);
    if (got != expected)
        fail_msg ("overlap ('%s', '%s') = %d, expected %d", a, b, got, expected);
    got = s_ov (a, b, true);
    if (got != expected_dotglob)
        fail_msg ("overlap ('%s', '%s', dotglob) = %d, expected %d", a, b, got, expected_dotglob);
}

static void
s_yes (const char *a, const char *b)
{
    s_ov_is (a, b, true, true);
}

static void
s_no (const char *a, const char *b)
{
    s_ov_is (a, b, false, false);
}

//  --------------------------------------------------------------------------
//  glob_compile, GLOB_SHELL

static void
test_compile_shell_operators (void **state)
{
    (void) state;
    glob_tok_t t[MAX_TOKS];
    assert_int_equal (s_compile ("a*b?c", GLOB_SHELL, t), 5);
    s_expect_literal (&t[0], 'a');
    //  * : a run of anything but /, a wildcard (dot rule)
    assert_true (t[1].run);
    assert_true (t[1].wild);
    assert_false (s_has (&t[1], '/'));
    assert_true (s_has (&t[1], '.'));
    assert_true (s_has (&t[1], 0xff));
    assert_int_equal (s_size (&t[1]), 255);
    s_expect_literal (&t[2], 'b');
    //  ? : one of anything but /
    assert_false (t[3].run);
    assert_true (t[3].wild);
    assert_false (s_has (&t[3], '/'));
    assert_int_equal (s_size (&t[3]), 255);
    s_expect_literal (&t[4], 'c');

    //  ** is no operator of its own in a shell word: one run, still no /
    assert_int_equal (s_compile ("**", GLOB_SHELL, t), 1);
    assert_true (t[0].run);
    assert_false (s_has (&t[0], '/'));
    assert_int_equal (s_compile ("a**b", GLOB_SHELL, t), 3);
    //  ?? stays two characters
    assert_int_equal (s_compile ("??", GLOB_SHELL, t), 2);

    //  literal text, / included
    assert_int_equal (s_compile ("/x.y", GLOB_SHELL, t), 4);
    s_expect_literal (&t[0], '/');
    s_expect_literal (&t[2], '.');

    //  empty text: no tokens, and compiling appends to what is there
    size_t count = 0;
    assert_true (glob_compile ("", 0, GLOB_SHELL, t, MAX_TOKS, &count));
    assert_int_equal (count, 0);
    assert_true (glob_literal ("ab", 2, t, MAX_TOKS, &count));
    assert_true (glob_compile ("*", 1, GLOB_SHELL, t, MAX_TOKS, &count));
    assert_int_equal (count, 3);
    s_expect_literal (&t[1], 'b');
    assert_true (t[2].run);
    //  n bytes, not up to a NUL
    count = 0;
    assert_true (glob_compile ("ab*", 2, GLOB_SHELL, t, MAX_TOKS, &count));
    assert_int_equal (count, 2);
    assert_false (t[1].run);
}

static void
test_compile_shell_escapes_and_dynamic (void **state)
{
    (void) state;
    glob_tok_t t[MAX_TOKS];
    //  \c is the literal c
    assert_int_equal (s_compile ("\\*", GLOB_SHELL, t), 1);
    s_expect_literal (&t[0], '*');
    assert_int_equal (s_compile ("\\?\\[a]", GLOB_SHELL, t), 4);
    s_expect_literal (&t[0], '?');
    s_expect_literal (&t[1], '[');
    s_expect_literal (&t[2], 'a');
    s_expect_literal (&t[3], ']');
    assert_int_equal (s_compile ("\\\\", GLOB_SHELL, t), 1);
    s_expect_literal (&t[0], '\\');
    //  a backslash at the very end is itself
    assert_int_equal (s_compile ("a\\", GLOB_SHELL, t), 2);
    s_expect_literal (&t[1], '\\');
    //  an escaped 0x01 is that byte, not "any text"
    assert_int_equal (s_compile ("\\\x01", GLOB_SHELL, t), 1);
    s_expect_literal (&t[0], 0x01);

    //  0x01: any text, / included; no wildcard (a value may start with .)
    assert_int_equal (s_compile ("a\x01", GLOB_SHELL, t), 2);
    assert_true (t[1].run);
    assert_false (t[1].wild);
    assert_true (s_has (&t[1], '/'));
    assert_int_equal (s_size (&t[1]), 256);
    //  0x02: any text but /, dot files too
    assert_int_equal (s_compile ("\x02", GLOB_SHELL, t), 1);
    assert_true (t[0].run);
    assert_false (t[0].wild);
    assert_false (s_has (&t[0], '/'));
    assert_true (s_has (&t[0], '.'));
    //  a run next to the same run adds nothing; different runs stay
    assert_int_equal (s_compile ("\x01\x01", GLOB_SHELL, t), 1);
    assert_int_equal (s_compile ("\x02\x02", GLOB_SHELL, t), 1);
    assert_int_equal (s_compile ("*\x01", GLOB_SHELL, t), 2);
    assert_int_equal (s_compile ("\x01/\x01", GLOB_SHELL, t), 3);

    //  out of room: false
    size_t count = 0;
    assert_false (glob_compile ("abc", 3, GLOB_SHELL, t, 2, &count));
    assert_true (count <= 2);
    count = 0;
    assert_true (glob_compile ("abc", 3, GLOB_SHELL, t, 3, &count));
    assert_int_equal (count, 3);
    count = 0;
    assert_false (glob_literal ("abc", 3, t, 2, &count));
    count = 0;
    assert_false (glob_compile ("[ab]c", 5, GLOB_SHELL, t, 1, &count));
    //  glob_literal takes every byte as itself
    count = 0;
    assert_true (glob_literal ("*?[\\\x01", 5, t, MAX_TOKS, &count));
    assert_int_equal (count, 5);
    s_expect_literal (&t[0], '*');
    s_expect_literal (&t[1], '?');
    s_expect_literal (&t[2], '[');
    s_expect_literal (&t[3], '\\');
    s_expect_literal (&t[4], 0x01);
}

static void
test_compile_shell_brackets (void **state)
{
    (void) state;
    glob_tok_t t[MAX_TOKS];
    assert_int_equal (s_compile ("[abc]", GLOB_SHELL, t), 1);
    assert_false (t[0].run);
    assert_true (t[0].wild);
    assert_int_equal (s_size (&t[0]), 3);
    assert_true (s_has (&t[0], 'a') && s_has (&t[0], 'b') && s_has (&t[0], 'c'));
    assert_false (s_has (&t[0], 'd'));

    //  negation, both spellings: everything else but /
    const char *negations[] = {"[!a]", "[^a]"};
    for (int i = 0; i < 2; i++) {
        assert_int_equal (s_compile (negations[i], GLOB_SHELL, t), 1);
        assert_true (t[0].wild);
        assert_false (s_has (&t[0], 'a'));
        assert_true (s_has (&t[0], 'b'));
        assert_true (s_has (&t[0], '.'));
        assert_false (s_has (&t[0], '/'));
        assert_int_equal (s_size (&t[0]), 254);
    }
    //  ranges
    assert_int_equal (s_compile ("[a-c]", GLOB_SHELL, t), 1);
    assert_int_equal (s_size (&t[0]), 3);
    assert_true (s_has (&t[0], 'b'));
    assert_false (s_has (&t[0], '-'));
    assert_int_equal (s_compile ("[0-9A-F]", GLOB_SHELL, t), 1);
    assert_int_equal (s_size (&t[0]), 16);
    assert_true (s_has (&t[0], '7') && s_has (&t[0], 'E'));
    assert_false (s_has (&t[0], 'a'));
    assert_int_equal (s_compile ("[!0-9]", GLOB_SHELL, t), 1);
    assert_false (s_has (&t[0], '5'));
    assert_true (s_has (&t[0], 'x'));
    //  a - at the end is a member; a reversed range holds nothing
    assert_int_equal (s_compile ("[a-]", GLOB_SHELL, t), 1);
    assert_int_equal (s_size (&t[0]), 2);
    assert_true (s_has (&t[0], '-'));
    assert_int_equal (s_compile ("[z-a]", GLOB_SHELL, t), 1);
    assert_int_equal (s_size (&t[0]), 0);
    //  an escaped - is no range
    assert_int_equal (s_compile ("[a\\-z]", GLOB_SHELL, t), 1);
    assert_int_equal (s_size (&t[0]), 3);
    assert_true (s_has (&t[0], '-') && s_has (&t[0], 'z'));
    assert_false (s_has (&t[0], 'b'));
    //  ] right after [ or [! is a member
    assert_int_equal (s_compile ("[]a]", GLOB_SHELL, t), 1);
    assert_int_equal (s_size (&t[0]), 2);
    assert_true (s_has (&t[0], ']') && s_has (&t[0], 'a'));
    assert_int_equal (s_compile ("[!]a]x", GLOB_SHELL, t), 2);
    assert_false (s_has (&t[0], ']'));
    assert_false (s_has (&t[0], 'a'));
    assert_true (s_has (&t[0], 'b'));
    s_expect_literal (&t[1], 'x');
    assert_int_equal (s_compile ("[\\]]", GLOB_SHELL, t), 1);
    assert_int_equal (s_size (&t[0]), 1);
    assert_true (s_has (&t[0], ']'));
    //  a / listed in a set is never matched
    assert_int_equal (s_compile ("[!a]", GLOB_SHELL, t), 1);
    assert_false (s_has (&t[0], '/'));

    //  named classes: approximated as "anything but /", negated or not
    const char *named[] = {"[[:alpha:]]", "[![:alpha:]]", "[[:digit:]x]", "[[=a=]]", "[[.a.]]"};
    for (int i = 0; i < 5; i++) {
        if (s_compile (named[i], GLOB_SHELL, t) != 1)
            fail_msg ("'%s' is not one token", named[i]);
        assert_true (t[0].wild);
        assert_false (t[0].run);
        assert_true (s_has (&t[0], 'a'));
        assert_true (s_has (&t[0], '1'));
        assert_false (s_has (&t[0], '/'));
        assert_int_equal (s_size (&t[0]), 255);
    }
    //  a token after a named class is its own
    assert_int_equal (s_compile ("[[:alpha:]]z", GLOB_SHELL, t), 2);
    s_expect_literal (&t[1], 'z');

    //  unterminated: '[' is a literal, the rest as usual
    assert_int_equal (s_compile ("[abc", GLOB_SHELL, t), 4);
    s_expect_literal (&t[0], '[');
    s_expect_literal (&t[3], 'c');
    assert_int_equal (s_compile ("a[", GLOB_SHELL, t), 2);
    s_expect_literal (&t[1], '[');
    assert_int_equal (s_compile ("[]", GLOB_SHELL, t), 2); //  ] first is a member: no close
    s_expect_literal (&t[0], '[');
    s_expect_literal (&t[1], ']');
    assert_int_equal (s_compile ("[!", GLOB_SHELL, t), 2);
    s_expect_literal (&t[1], '!');
    assert_int_equal (s_compile ("[[:alpha:", GLOB_SHELL, t), 9);
    s_expect_literal (&t[0], '[');
    s_expect_literal (&t[1], '[');
    //  an unterminated [ before a * leaves the * an operator
    assert_int_equal (s_compile ("[a*", GLOB_SHELL, t), 3);
    s_expect_literal (&t[0], '[');
    assert_true (t[2].run && t[2].wild);
}

//  --------------------------------------------------------------------------
//  glob_compile, GLOB_POLICY

static void
test_compile_policy (void **state)
{
    (void) state;
    glob_tok_t t[MAX_TOKS];
    //  ** any text, / included; * any text but /; ? one but /; no dot rule
    assert_int_equal (s_compile ("/a/**", GLOB_POLICY, t), 4);
    assert_true (t[3].run);
    assert_false (t[3].wild);
    assert_true (s_has (&t[3], '/'));
    assert_int_equal (s_size (&t[3]), 256);
    assert_int_equal (s_compile ("*", GLOB_POLICY, t), 1);
    assert_true (t[0].run);
    assert_false (t[0].wild);
    assert_false (s_has (&t[0], '/'));
    assert_int_equal (s_compile ("?", GLOB_POLICY, t), 1);
    assert_false (t[0].run);
    assert_false (t[0].wild);
    assert_false (s_has (&t[0], '/'));
    //  *** is ** then *: two different runs
    assert_int_equal (s_compile ("***", GLOB_POLICY, t), 2);
    assert_true (s_has (&t[0], '/'));
    assert_false (s_has (&t[1], '/'));
    //  ** twice is one run
    assert_int_equal (s_compile ("****", GLOB_POLICY, t), 1);
    //  brackets, backslashes and the dynamic bytes are literal text here
    assert_int_equal (s_compile ("[ab]", GLOB_POLICY, t), 4);
    s_expect_literal (&t[0], '[');
    s_expect_literal (&t[3], ']');
    assert_int_equal (s_compile ("\\*", GLOB_POLICY, t), 2);
    s_expect_literal (&t[0], '\\');
    assert_true (t[1].run);
    assert_int_equal (s_compile ("\x01\x02", GLOB_POLICY, t), 2);
    s_expect_literal (&t[0], 0x01);
    s_expect_literal (&t[1], 0x02);
}

//  --------------------------------------------------------------------------
//  glob_overlap

static void
test_overlap_literals (void **state)
{
    (void) state;
    s_yes ("/a/b", "/a/b");
    s_no ("/a/b", "/a/c");
    s_no ("/a/b", "/a/bc"); //  whole strings, not prefixes
    s_no ("/a/bc", "/a/b");
    s_no ("/a/b", "/a");
    s_yes ("/h/.ssh", "/h/.ssh"); //  a literal . is fine
    s_no ("/h/.ssh", "/h/ssh");
    //  empty strings
    glob_tok_t t[8];
    assert_true (glob_overlap (NULL, 0, NULL, 0, false));
    s_yes ("", "");
    s_no ("", "a");
    s_no ("a", "");
    s_yes ("", "*");
    s_yes ("", "**");
    s_no ("", "?");
    s_yes ("*", "");
    s_no ("?", "");
    s_yes ("\x01", "");
    size_t n = s_compile ("x", GLOB_POLICY, t);
    assert_false (glob_overlap (t, n, NULL, 0, false));
    assert_false (glob_overlap (NULL, 0, t, n, false));
}

static void
test_overlap_stars (void **state)
{
    (void) state;
    //  * never crosses /
    s_yes ("/h/*", "/h/a");
    s_yes ("/h/*", "/h/"); //  * may be empty
    s_no ("/h/*", "/h/a/b");
    s_no ("/h/a/b", "/h/*");
    s_yes ("/h/a", "/h/*");
    s_no ("/*", "/h/a");
    s_yes ("/h/*/c", "/h/b/c");
    s_no ("/h/*/c", "/h/b/x/c");
    //  ? is exactly one character but /
    s_yes ("/h/?", "/h/a");
    s_no ("/h/?", "/h/ab");
    s_no ("/h/?", "/h/");
    s_no ("/h?b", "/h/b");
    s_no ("/h/a", "/h/?/");
    //  ** (policy) crosses /
    s_yes ("/h/a/b/c", "/h/**");
    s_yes ("/h/*/x", "/h/**");
    s_yes ("/a/b/x", "**/x");
    s_no ("/a/b/y", "**/x");
    s_yes ("/h", "/h**");
    s_no ("/h/a/b", "/h/*");
    //  ** on the shell side is just *: no /
    s_no ("/h/**", "/h/a/b");
    s_yes ("/h/**", "/h/ab");
    //  two stars on both sides
    s_yes ("/a/*x*", "/a/*y*"); //  xy
    s_yes ("/a/x*", "/a/*y");   //  xy
    s_no ("/a/x*", "/a/y*");
    s_no ("/a/*x", "/a/*y");
    s_yes ("/a/*x", "/a/*x");
    s_yes ("/a/*.c", "/a/**.c");
    s_yes ("/a/*/*", "**/*");
    s_no ("/a/*/*", "/a/*");
    s_yes ("/a/*b*c*", "/a/*c*b*"); //  bcb... or cbc...
    //  brackets
    s_yes ("/h/[ab]", "/h/b");
    s_no ("/h/[ab]", "/h/c");
    s_yes ("/h/[a-c]x", "/h/bx");
    s_no ("/h/[!a]", "/h/a");
    s_yes ("/h/[!a]", "/h/b");
    s_no ("/h/[z-a]", "/h/*");        //  an empty set matches nothing
    s_yes ("/h/[[:digit:]]", "/h/a"); //  named classes: "could"
    s_yes ("/h/[ab]", "/h/?");
    s_no ("/h/[ab][ab]", "/h/?");
}

static void
test_overlap_dot_rule (void **state)
{
    (void) state;
    //  a shell wildcard matches no leading . without dotglob
    s_ov_is ("/h/*", "/h/.ssh", false, true);
    s_ov_is ("/h/?ssh", "/h/.ssh", false, true);
    s_ov_is ("/h/[.]ssh", "/h/.ssh", false, true);
    s_ov_is ("/h/[!a]ssh", "/h/.ssh", false, true);
    s_ov_is ("/h/[[:punct:]]ssh", "/h/.ssh", false, true);
    s_ov_is ("/h/*/x", "/h/.ssh/x", false, true);
    s_ov_is ("/h/*/*", "/h/a/.b", false, true);
    s_ov_is ("/h/*", "/h/.*", false, true);
    s_ov_is ("/h/*", "/h/.**", false, true);
    //  ... but one that can be something else still overlaps
    s_yes ("/h/*", "/h/**");
    s_yes ("/h/*", "/h/*");
    s_yes ("/h/*", "/h/?ssh");
    //  a literal leading . is fine, and wildcards after it
    s_yes ("/h/.*", "/h/.ssh");
    s_yes ("/h/.s?h", "/h/.ssh");
    s_yes ("/h/.*/x", "/h/.ssh/x");
    //  a . not at the start of a component is fine
    s_yes ("/h/a*", "/h/a.b");
    s_yes ("/h/x*", "/h/x.*");
    s_yes ("/h/*b", "/h/a.b");
    s_yes ("/h/a/*", "/h/a/x.y");
    //  the policy side has no dot rule
    s_yes ("/h/.ssh", "/h/*");
    s_yes ("/h/.ssh/id", "/h/**");
    s_yes ("/h/.ssh", "/h/?ssh");
    //  nor do the dynamic bytes: 0x02 may start with a dot, 0x01 too
    s_yes ("/h/\x02/credentials", "/h/.aws/credentials");
    s_yes ("/h/\x02", "/h/.aws");
    s_no ("/h/\x02", "/h/a/b"); //  0x02 stays in one component
    s_no ("/h/\x02/x", "/h/a/b/x");
    s_yes ("/h/\x01", "/h/a/b"); //  0x01 crosses /
    s_yes ("/h/\x01", "/h/.aws/credentials");
    s_yes ("/\x01/.aws/credentials", "/home/dev/.aws/credentials");
    s_yes ("/h/.aws/credential\x01s", "/h/.aws/credentials");
    s_no ("/h/.aws/credential\x01s", "/h/.aws/credentials.bak");
    s_yes ("/h/.a*/credentials", "/h/.aws/credentials");
    s_no ("/h/.b*/credentials", "/h/.aws/credentials");
    //  suffix and prefix: *.py is no .env.* (not without dotglob, and the
    //  literal .py never meets the literal .env.)
    s_ov_is ("/p/*.py", "/p/.env.*", false, true);
    s_ov_is ("/p/*.py", "**/.env.*", false, true);
    s_ov_is ("/p/*.env", "**/.env.*", false, true);
    s_yes ("/p/*.py", "**/*.py");
    s_no ("/p/*.py", "**/*.pyc");
    s_no ("/p/src/*.c", "**/.git/config");
    s_ov_is ("/p/*/config", "**/.git/config", false, true);
    s_yes ("/p/.*/config", "**/.git/config");
    s_yes ("/p/\x02/config", "**/.git/config");
    s_no ("/p/src/*.c", "**/.git/**");
}

//  The dot rule at the very start of the text: the start of a word is the
//  start of a component too (bash: `echo *.py` lists no `.env.py`)
static void
test_overlap_dot_rule_at_start (void **state)
{
    (void) state;
    s_ov_is ("*.py", ".env.*", false, true);
    s_ov_is ("*", ".ssh", false, true);
    s_ov_is ("?ssh", ".ssh", false, true);
    s_yes (".*", ".ssh");
    s_yes ("*", "ssh");
}

//  bash: a leading . must be matched by a literal '.', so `*.ssh` does
//  not match `.ssh` (the * may be empty, but not before a leading dot)
static void
test_overlap_star_empty_before_dot (void **state)
{
    (void) state;
    s_ov_is ("/h/*.ssh", "/h/.ssh", false, true);
    s_ov_is ("/p/*.env", "**/.env", false, true);
}

//  bash splits a pattern at / before it reads brackets: `[a/b]` is the
//  literal text `[a/b]` (two components `[a` and `b]`)
static void
test_overlap_bracket_spanning_slash (void **state)
{
    (void) state;
    glob_tok_t a[64], b[64];
    size_t na = s_compile ("/x/[a/b]", GLOB_SHELL, a);
    size_t nb = 0;
    assert_true (glob_literal ("/x/[a/b]", 8, b, 64, &nb));
    assert_true (glob_overlap (a, na, b, nb, false));
    nb = 0;
    assert_true (glob_literal ("/x/a", 4, b, 64, &nb));
    assert_false (glob_overlap (a, na, b, nb, false));
}

static void
test_overlap_shell_both_sides (void **state)
{
    (void) state;
    //  both sides may be shell words: the dot rule binds the first only
    glob_tok_t a[64], b[64];
    size_t na = s_compile ("/h/*", GLOB_SHELL, a);
    size_t nb = s_compile ("/h/.ssh", GLOB_SHELL, b);
    assert_false (glob_overlap (a, na, b, nb, false));
    assert_true (glob_overlap (b, nb, a, na, false));
    assert_true (glob_overlap (a, na, b, nb, true));
    //  bracket against bracket
    na = s_compile ("/h/[abc]", GLOB_SHELL, a);
    nb = s_compile ("/h/[!ab]", GLOB_SHELL, b);
    assert_true (glob_overlap (a, na, b, nb, false)); //  c
    nb = s_compile ("/h/[!abc]", GLOB_SHELL, b);
    assert_false (glob_overlap (a, na, b, nb, false));
    //  a value against a glob
    na = s_compile ("/h/\x01", GLOB_SHELL, a);
    nb = s_compile ("/h/*/x/[ab]", GLOB_SHELL, b);
    assert_true (glob_overlap (a, na, b, nb, false));
    na = s_compile ("/g/\x01", GLOB_SHELL, a);
    assert_false (glob_overlap (a, na, b, nb, false));
}

//  Over budget (more than 32,768 position pairs) the answer is "could"
static void
test_overlap_budget (void **state)
{
    (void) state;
    static glob_tok_t a[512], b[512];
    char x[300], y[300];
    //  two literals that differ in their first byte: plainly no overlap
    //  while (na + 1) * (nb + 1) stays within 32,768 pairs
    memset (x, 'a', sizeof (x));
    memset (y, 'b', sizeof (y));
    size_t na = 0, nb = 0;
    assert_true (glob_literal (x, 180, a, 512, &na));
    assert_true (glob_literal (y, 180, b, 512, &nb));
    assert_int_equal (na, 180);
    assert_false (glob_overlap (a, na, b, nb, false)); //  181 * 181 = 32,761
    //  one more byte on one side: 182 * 181 = 32,942 pairs, over budget
    na = 0;
    assert_true (glob_literal (x, 181, a, 512, &na));
    assert_true (glob_overlap (a, na, b, nb, false));
    assert_true (glob_overlap (b, nb, a, na, false));
    //  very long patterns, wildcards and all: "could"
    na = nb = 0;
    assert_true (glob_literal (x, 300, a, 512, &na));
    assert_true (glob_literal (y, 300, b, 512, &nb));
    assert_true (glob_overlap (a, na, b, nb, false));
    assert_true (glob_overlap (a, na, b, nb, true));
    //  the dot rule does not buy a "no" over budget either
    char shell[400] = "/h/*";
    char policy[400] = "/h/.";
    memset (shell + 4, 'z', 250);
    shell[254] = 0;
    memset (policy + 4, 'z', 250);
    policy[254] = 0;
    assert_true (s_ov (shell, policy, false));
    //  a long text against a short pattern stays exact
    na = nb = 0;
    assert_true (glob_literal (x, 300, a, 512, &na));
    assert_true (glob_literal ("b", 1, b, 512, &nb));
    assert_false (glob_overlap (a, na, b, nb, false));
}

//  --------------------------------------------------------------------------
//  glob_is_wild

static void
test_is_wild (void **state)
{
    (void) state;
    struct {
        const char *text;
        bool wild;
    } cases[] = {
        {"", false},     {"abc", false},   {"/a/b.c", false}, {"a*", true},
        {"?", true},     {"[ab]", true},   {"[", true},       {"a]", false},
        {"\x01", true},  {"a\x02z", true}, {"a\\*", false},   {"\\?\\[", false},
        {"\\\\*", true}, {"a\\", false},   {"\\\x01", false}, {"~/.aws", false},
        {"a\\b*", true}, {"$x", false},    {"{a,b}", false},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++)
        if (glob_is_wild (cases[i].text, strlen (cases[i].text)) != cases[i].wild)
            fail_msg ("glob_is_wild ('%s') != %d", cases[i].text, cases[i].wild);
    //  n bytes only
    assert_false (glob_is_wild ("ab*", 2));
    assert_true (glob_is_wild ("ab*", 3));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_compile_shell_operators),
        cmocka_unit_test (test_compile_shell_escapes_and_dynamic),
        cmocka_unit_test (test_compile_shell_brackets),
        cmocka_unit_test (test_compile_policy),
        cmocka_unit_test (test_overlap_literals),
        cmocka_unit_test (test_overlap_stars),
        cmocka_unit_test (test_overlap_dot_rule),
        cmocka_unit_test (test_overlap_dot_rule_at_start),
        cmocka_unit_test (test_overlap_star_empty_before_dot),
        cmocka_unit_test (test_overlap_bracket_spanning_slash),
        cmocka_unit_test (test_overlap_shell_both_sides),
        cmocka_unit_test (test_overlap_budget),
        cmocka_unit_test (test_is_wild),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
