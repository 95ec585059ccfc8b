#!/usr/bin/env python3
"""test_shell_bash.py -- brace expansion in the shell parser against real bash.

    test_shell_bash.py TEST_SHELL [--seed N] [--count N]

TEST_SHELL is the test_shell executable (tests/unit/test_shell.c), whose
--words mode prints the words the parser finds. Each case is an argument
list for printf; bash runs `printf '%s\\x1e' WORDS` and the parser's words
for the same line must be exactly bash's, in order, for every case whose
words the parser does not mark dynamic (none of the generated ones should
be). Hand-written cases cover bash's edge cases; a few hundred random words
are built from braces, commas, sequences, quotes, escapes, ${HOME} and ~.
Only expansions that are safe to evaluate are generated (no substitutions,
no globs). Exit status 1 on any difference.
"""
import os
import random
import subprocess
import sys

HAND = [
    "{a,b}", "a{b,c}d", "{a,b}{c,d}", "x{a,b{c,d}e}y", "{a,{b,{c,d}}}", "{a}", "{}", "{a,}", "{,a}",
    "{,}", "{a,''}", "{,a}{,b}", "{a}b,c}", "x{a}y{b,c}", "{a,b}}", "{{a,b}", "{}a,b}", "{a,\"}\"}",
    "\"{a,b}\"", "'{a,b}'", "\\{a,b}", "{a\\,b}", "{a',b'}", "{a\",\",b}", "{a,b\\}", "a\\{b,c}",
    "{1..5}", "{5..1}", "{a..e}", "{e..a}", "{01..10}", "{1..10..2}", "{10..1..3}", "{1..10..-3}",
    "{-3..3}", "{-05..3}", "{1..a}", "{a..1}", "{1..}", "{..3}", "{1...3}", "{1..3..}", "{a..c..2}",
    "{A..E}", "{3..3}", "{0..0}", "{007..9}", "{1..3}{a,b}", "{a,b}{1..3}", "x{1..3..0}y",
    "{1..2}{1..2}{1..2}", "${HOME}{a,b}", "{${HOME},x}", "{~,x}", "{~,x}/y", "~/{a,b}", "x{~,y}",
    "{a,b}=c", "a={b,c}", "--opt={x,y}", "{-rf,-v}", "{rm,-rf,/}", "{/home/dev,/x}", "{.,..}",
    "{a..b}{c..d}", "{a,b,c,d,e}", "{ab,cd}{ef,gh}ij", "{{1..2},{a..b}}", "{a,b}{}", "{}{a,b}",
    "a{,}b", "{'a',\"b\"}", "{a\\ b,c}", "{x..y..1}", "{+1..3}", "{1..+3}", "{-1..-3}", "{9..11}",
    "{08..10}", "{a,${HOME}}/x", "{\"${HOME}\",x}", "{$HOME,y}", "{a,b}#c", "{#,a}", "a{#,b}",
]

PIECES = ["a", "b", "cd", "-", "=", "/", ".", "..", ",", "{", "}", "{a,b}", "{,}", "{x}", "{1..3}",
          "{a..c}", "{3..1}", "{01..03}", "'q'", "\"r,s\"", "'{'", "\"}\"", "\\,", "\\{", "\\}",
          "${HOME}", "$HOME", "%", "+", "@", ":", "1", "2"]


def gen_word (rng, depth=0):
    out = []
    for _ in range (rng.randint (1, 3 if depth else 4)):
        r = rng.random ()
        if depth < 2 and r < 0.25:
            alts = [gen_word (rng, depth + 1) for _ in range (rng.randint (1, 3))]
            out.append ("{" + ",".join (alts) + "}")
        elif r < 0.32:
            lo, hi = rng.randint (-4, 4), rng.randint (-4, 4)
            step = rng.choice (["", "", "..2", "..-3", "..0"])
            pad = rng.choice (["", "", "0", "-0"])
            out.append ("{%s%d..%d%s}" % (pad, abs (lo) if pad else lo, hi, step))
        elif r < 0.36:
            a, b = rng.choice ("abcxyz"), rng.choice ("abcxyz")
            out.append ("{%s..%s%s}" % (a, b, rng.choice (["", "..2"])))
        else:
            out.append (rng.choice (PIECES))
    word = "".join (out)
    if depth == 0 and word.startswith ("#"):
        word = "a" + word
    return word


def short (words):
    text = repr (words)
    return text if len (text) < 300 else text[:300] + "..."


def main ():
    if len (sys.argv) < 2:
        print (__doc__)
        return 2
    exe = sys.argv[1]
    seed, count = 1, 400
    args = sys.argv[2:]
    while args:
        if args[0] == "--seed":
            seed = int (args[1])
        elif args[0] == "--count":
            count = int (args[1])
        args = args[2:]
    rng = random.Random (seed)
    cases = list (HAND)
    while len (cases) < len (HAND) + count:
        cases.append (" ".join (gen_word (rng) for _ in range (rng.randint (1, 3))))
    env = dict (os.environ, HOME="/home/u", LC_ALL="C")
    #  One record per case, tagged with its index so that a case bash
    #  refuses cannot shift the others
    script = "".join ("printf '\\035%d\\036'; printf '%%s\\036' - %s\n" % (i, c)
                      for i, c in enumerate (cases))
    bash = subprocess.run (["bash", "--norc", "--noprofile"], input=script.encode (), env=env,
                           capture_output=True, check=False)
    bash_words = {}
    for record in bash.stdout.decode ("utf-8", "replace").split ("\x1d")[1:]:
        parts = record.split ("\x1e")
        bash_words[int (parts[0])] = parts[2:-1] #  after the - before the words
    lines = "".join ("printf '%%s\\036' - %s\n" % c for c in cases)
    ours = subprocess.run ([exe, "--words"], input=lines.encode (), env=env, capture_output=True,
                           check=True)
    our_lines = ours.stdout.decode ("utf-8", "replace").split ("\n")
    failures, checked, skipped, bounded = 0, 0, 0, 0
    for i, case in enumerate (cases):
        want = bash_words.get (i)
        got = our_lines[i] if i < len (our_lines) else "ERR missing"
        if got.startswith ("ERR"):
            if "too complex" in got and want is not None and len (want) > 300:
                bounded += 1 #  past the parser's budget: refused, as it must be
                continue
            failures += 1
            print ("FAIL %r: parser error %s; bash %s" % (case, got, short (want)))
            continue
        words = got.split ("\x1d")[0].split ("\x1e")[:-1][3:]
        if any (w.startswith ("?") for w in words):
            skipped += 1
            continue
        checked += 1
        if words != want:
            failures += 1
            print ("FAIL %r:\n  bash   %s\n  parser %s" % (case, short (want), short (words)))
    print ("%d cases, %d compared, %d dynamic, %d over the budget, %d failures" %
           (len (cases), checked, skipped, bounded, failures))
    if checked < 300:
        print ("FAIL: too few cases compared")
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit (main ())
