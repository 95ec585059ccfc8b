#!/usr/bin/env python3
"""diff_bash.py -- differential checks of the shell parser against bash.

    python3 nodes/validator/fuzz/diff_bash.py [--seed N] [--words N] [--scripts N]

Compiles a small helper against nodes/validator/shell.c (cc, in a temporary
directory) and runs two checks with random inputs:

1. words: `printf '%s\\0' WORDS` built from quotes, escapes, $'..', line
   continuations, tildes and comments. For every command bash accepts whose
   words the parser does not mark dynamic, the argv texts must be exactly
   what bash passes to printf.

2. scripts: random programs of commands c1..c5 (exported functions that log
   their argv) with lists, pipelines, groups, subshells, if/for/while/case,
   functions, heredocs, $( ), backquotes, <( ), eval, bash -c, env, timeout,
   xargs. Every command bash runs must be in the parse (same argv, or the
   same name when the parse marks a word dynamic): nothing bash executes
   may be missing. When the parser refuses a script that `bash -n` accepts,
   that is reported too (bash -n does not look inside eval or -c strings,
   so those reports need a look by hand).

Known bash 5.2 quirk it can report: a heredoc inside { } inside "$( )"
makes bash drop the next `;` (it runs `cat ; echo x` as `cat echo x`).

Exit status 1 when a check fails. Needs bash and a C compiler.
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname (os.path.abspath (__file__))
SHELL_DIR = os.path.dirname (HERE)

HELPER = r"""
#include "shell.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/*  argv mode (argc > 1): argv[2..] of the last command, NUL-separated, or
    DYN / NOARGS / ERR. Otherwise every command: words joined by \x01, \x02
    when some word is dynamic, \x03 after each command. */
int main (int argc, char **argv) {
    static char buf[1 << 20];
    size_t n = fread (buf, 1, sizeof buf, stdin);
    shell_opts_t o = {.home = getenv ("HOME")};
    char err[256];
    shell_t *sh = shell_parse (buf, n, &o, err, sizeof err);
    if (!sh) { printf ("ERR: %s", err); return 0; }
    if (argc > 1) {
        const shell_cmd_t *c = shell_count (sh) ? shell_cmd (sh, shell_count (sh) - 1) : NULL;
        if (!c || c->argc < 3) { printf ("NOARGS"); return 0; }
        for (size_t i = 2; i < c->argc; i++) if (c->argv[i].dynamic) { printf ("DYN"); return 0; }
        for (size_t i = 2; i < c->argc; i++) { fputs (c->argv[i].text, stdout); putchar (0); }
    }
    else
        for (size_t k = 0; k < shell_count (sh); k++) {
            const shell_cmd_t *c = shell_cmd (sh, k);
            int dyn = 0;
            for (size_t i = 0; i < c->argc; i++) {
                if (i) putchar (1);
                fputs (c->argv[i].text, stdout);
                dyn |= c->argv[i].dynamic;
            }
            if (dyn) putchar (2);
            putchar (3);
        }
    shell_destroy (&sh);
    return 0;
}
"""

WORD_PIECES = ["a", "b", "x y", " ", "\\ ", "\\'", '\\"', "\\\\", "\\\n", "'q r'", "''", '""',
               '"s t"', '"a\\"b"', '"\\$x"', '"\\\\"', '"\\n"', "$'\\n'", "$'\\x41'", "$'\\101'",
               "$'\\''", "$'a\\tb'", "$'\\u00e9'", "#", "a#b", "~", "~/d", "a=~/e", "x=~:~/f",
               '"~"', "=", "%", "^", ",", "}", "{", "'\"'", '"\'"', "\\#", "\u00e9", "\\\u00e9",
               "$", '"$"', "a$", "\\\t", "'\\\n'", '"a\\\nb"', "\\;", "\\|", "\\&", "\\<", "\\>",
               "\\(", "\\)", "-", "--x=1"]

#  Each record is written with one write() so that concurrent pipeline
#  members do not interleave: newlines become \x04 first (stdio would
#  flush at each one)
#  (\x1f between words and \x1e after each record: bash uses \x01 itself)
PRELUDE = r"""lg() { local IFS=$'\x1f' r; printf -v r '%s\x1e' "$*"; r=${r//$'\n'/$'\x04'}; printf '%s' "$r" >> "$LOG"; }
c1() { lg c1 "$@"; }; c2() { lg c2 "$@"; }; c3() { lg c3 "$@"; }; c4() { lg c4 "$@"; }; c5() { lg c5 "$@"; }
export -f lg c1 c2 c3 c4 c5
"""

SCRIPT_WORDS = ["a", "'b c'", '"d"', "e\\ f", "$'g\\n'", "h#i", "--j=k", "'l'\"m\"", "~/n", "x=~/o"]


def sh_quote (s):
    return "'" + s.replace ("'", "'\\''") + "'"


class Gen:
    def __init__ (self, rng):
        self.rng = rng

    def word (self, d):
        r = self.rng.random ()
        if d < 3 and r < 0.08:
            return "$(" + self.lst (d + 1) + ")"
        if d < 3 and r < 0.12:
            return '"$(' + self.lst (d + 1) + ')"'
        if d < 3 and r < 0.14:
            inner = self.simple (d + 1)
            return "`" + inner.replace ("\\", "\\\\").replace ("`", "\\`").replace ("$", "\\$") + "`"
        if d < 3 and r < 0.16:
            return "<(" + self.lst (d + 1) + ")"
        return self.rng.choice (SCRIPT_WORDS)

    def simple (self, d):
        words = ["c%d" % self.rng.randint (1, 5)]
        words += [self.word (d) for _ in range (self.rng.randint (0, 3))]
        return " ".join (words)

    def cmd (self, d):
        r = self.rng.random ()
        if d < 3:
            if r < 0.06:
                return "{ " + self.lst (d + 1) + "; }"
            if r < 0.12:
                return "( " + self.lst (d + 1) + " )"
            if r < 0.16:
                return "if %s; then %s; else %s; fi" % (self.lst (d + 1), self.lst (d + 1),
                                                       self.lst (d + 1))
            if r < 0.19:
                return "for v in a b; do " + self.lst (d + 1) + "; done"
            if r < 0.22:
                return "case a in a) %s ;; *) %s ;; esac" % (self.lst (d + 1), self.lst (d + 1))
            if r < 0.25:
                return "eval " + sh_quote (self.lst (d + 1))
            if r < 0.28:
                return "bash -c " + sh_quote (self.lst (d + 1))
            if r < 0.30:
                return "while false; do %s; done; until true; do %s; done" % (self.lst (d + 1),
                                                                            self.lst (d + 1))
            if r < 0.33 and d == 0:
                #  only at the top: bash 5.2 mangles heredocs it re-prints
                #  inside $( ) (see above)
                return "{ c1 <<EOF\nx $(" + self.lst (d + 1) + ")\nEOF\n}"
            if r < 0.35:
                return "env X=1 " + self.simple (d + 1)
            if r < 0.37:
                return "f%d() { %s; }; f%d" % (d, self.lst (d + 1), d)
            if r < 0.39:
                return "xargs -r " + self.simple (d + 1) + " < /dev/null"
            if r < 0.41:
                return "timeout 5 " + self.simple (d + 1)
        return self.simple (d)

    def pipeline (self, d):
        return " | ".join (self.cmd (d) for _ in range (self.rng.choice ([1, 1, 1, 2, 3])))

    def lst (self, d):
        out = self.pipeline (d)
        for _ in range (self.rng.randint (0, 2)):
            out += self.rng.choice ([" ; ", " && ", " || ", "\n", " & "]) + self.pipeline (d)
        return out


def check_words (helper, rng, count):
    bad = 0
    for _ in range (count):
        words = ["".join (rng.choice (WORD_PIECES) for _ in range (rng.randint (1, 4)))
                 for _ in range (rng.randint (1, 4))]
        cmd = "printf '%s\\0' " + " ".join (words)
        b = subprocess.run (["bash", "-c", cmd], capture_output=True)
        if b.returncode != 0:
            continue
        mine = subprocess.run ([helper, "argv"], input=cmd.encode (), capture_output=True).stdout
        if mine in (b"DYN", b"NOARGS"):
            continue
        if mine != b.stdout:
            print ("words: %r\n  bash %r\n  parser %r" % (cmd, b.stdout, mine))
            bad += 1
    return bad


def check_scripts (helper, rng, count, workdir):
    gen = Gen (rng)
    bad = 0
    for k in range (count):
        script = gen.lst (0)
        log = os.path.join (workdir, "log%d" % k)
        env = dict (os.environ, LOG=log)
        try:
            subprocess.run (["bash", "-c", PRELUDE + script], capture_output=True, env=env,
                            timeout=20, cwd=workdir)
        except subprocess.TimeoutExpired:
            continue
        out = subprocess.run ([helper], input=script.encode (), capture_output=True).stdout
        out = out.decode ("utf-8", "replace")
        if out.startswith ("ERR"):
            if subprocess.run (["bash", "-n", "-c", script], capture_output=True).returncode == 0:
                print ("scripts: parser refuses what bash -n accepts: %r\n  %s" % (script, out))
                bad += 1
            continue
        static, dynamic_names = set (), set ()
        for line in filter (None, out.replace ("\n", "\x04").split ("\x03")):
            if line.endswith ("\x02"):
                dynamic_names.add (line[:-1].split ("\x01")[0])
            else:
                static.add (line)
        try:
            with open (log, encoding="utf-8", errors="replace") as f:
                log_text = f.read ().replace ("\x1f", "\x01")
                ran = set (filter (None, log_text.split ("\x1e")))
            os.unlink (log)
        except FileNotFoundError:
            ran = set ()
        for r in ran:
            if r not in static and r.split ("\x01")[0] not in dynamic_names:
                print ("scripts: bash ran %r, not in the parse of %r" % (r, script))
                bad += 1
                break
    return bad


def main ():
    ap = argparse.ArgumentParser (description=__doc__.split ("\n")[0])
    ap.add_argument ("--seed", type=int, default=1)
    ap.add_argument ("--words", type=int, default=2000)
    ap.add_argument ("--scripts", type=int, default=100)
    args = ap.parse_args ()
    rng = random.Random (args.seed)
    with tempfile.TemporaryDirectory () as tmp:
        src = os.path.join (tmp, "helper.c")
        with open (src, "w") as f:
            f.write (HELPER)
        helper = os.path.join (tmp, "helper")
        subprocess.run (["cc", "-O1", "-std=c11", "-I", SHELL_DIR, src,
                         os.path.join (SHELL_DIR, "shell.c"), "-o", helper], check=True)
        bad = check_words (helper, rng, args.words)
        print ("words: %d random commands, %d mismatches" % (args.words, bad))
        bad2 = check_scripts (helper, rng, args.scripts, tmp)
        print ("scripts: %d random programs, %d problems" % (args.scripts, bad2))
    return 1 if bad or bad2 else 0


if __name__ == "__main__":
    sys.exit (main ())
