/*  shell -- a POSIX/bash command-line parser for policy decisions.

    Parses what an agent wants to run into a flat list of simple commands,
    the way a shell would see them: quoting and escapes removed, `;` `&&`
    `||` `|` `&`, subshells `( )` and groups `{ }`, `$(...)` and backticks,
    redirections, heredocs, assignments, compound commands (if, while,
    until, for, case, functions). It then looks through wrappers: sudo,
    doas, env, nice, ionice, nohup, timeout, stdbuf, time, command, builtin,
    exec, xargs, find -exec/-execdir/-ok, bash/sh/zsh/dash/ksh -c, eval and
    `source`-like -c strings are parsed again as shell, and the commands
    they run are listed with the chain of wrappers that led to them.

    Words are brace-expanded as bash does it ({a,b}, {1..5}, nesting;
    {a}, {}, ${..} and quoted braces stay): one word may become several,
    the command name included ({rm,-rf,/} is rm -rf /). Assignment values
    and here-strings are not expanded; a redirection target that expands
    to more than one word is an error (ambiguous redirect).

    It never runs anything and never reads the environment: `~` and $HOME
    expand from the options, other expansions leave the word marked dynamic.
    Input it cannot parse (unterminated quotes or substitutions, nesting
    deeper than max_depth, more than max_commands commands) is an error, so
    the caller can fail closed.

    Wrapper names in shell_cmd_t.wrappers, outermost first:
        "sudo" "doas" "pkexec" "env" "nice" "ionice" "nohup" "timeout"
        "stdbuf" "time" "command" "builtin" "exec" "xargs" "nsenter" "chroot"
        "unshare" "setsid" "chrt" "taskset" "strace" "ltrace" "valgrind"
        "fakeroot" "unbuffer" "torsocks" "proxychains" "proxychains4"
        "firejail" "busybox" "runuser" "flock" "watch" "gdb --args"
        "systemd-run" "run0" "setpriv" "sshpass" "dbus-run-session" "chpst"
        "chronic" "caffeinate" "proot" "fakechroot" "cpulimit" "bunx"
        "screen" "xterm -e" "bwrap" "ip netns exec" "capsh" (argv[0] is
        "bash": capsh -- ARGS runs bash ARGS) "machinectl shell" "entr"
        "git bisect run" "npx" "npm exec" "pnpm exec" "pnpm dlx" "yarn dlx"
        "yarn exec" "bun x" (the package's binary is the command)
        "uv run" "uvx" (uvx, uv tool run) "poetry run" "pipenv run"
        "pdm run" "hatch run" (hatch run [ENV:]CMD, hatch env run)
        "conda run" (conda, mamba, micromamba) "pipx run" "bundle exec"
        "composer exec" "stack exec" "cabal exec" (the operands before --
        and every word after it; also each suffix where options may end)
        "rustup run" (after the toolchain) "perf stat" "perf record"
        "perf trace" "docker exec" (docker/podman [container] exec, after
        the container; podman -l/--latest has none) "docker run"
        (docker/podman [container] run, after the image; --entrypoint X
        also runs X with those arguments) "docker compose exec"
        "docker compose run" (docker compose, docker-compose,
        podman-compose; after the service) "kubectl exec" (kubectl, oc:
        after --, or POD CMD without it)
            the command the wrapper runs, argv a suffix of the wrapper's
            (composer/stack/cabal exec, kubectl without --, hatch ENV:CMD
            and --entrypoint build their own argv; options before the
            subcommand and between the subcommand's levels are scanned
            too, every unknown option read both ways; watch without -x,
            and sudo -s/-i or doas -s without a command, run a shell: see
            below)
        "env" "env -C"
            env -C DIR / --chdir=DIR: the command gets both names, so the
            directory change shows
        "find -exec" "find -execdir" "find -ok" "find -okdir"
            each action up to ; or {} +
        "sh -c" "bash -c" "zsh -c" ... (the shell's basename, then " -c")
        "eval" "trap" "su -c" "runuser -c" "sg" "ssh" "watch" "flock -c"
        "script -c" "tmux" (tmux -c, and the shell-command of new-session,
        new-window, split-window, respawn-pane/-window, run-shell without
        -C, display-popup, pipe-pane, if-shell without -F) "tmux send-keys"
        (the keys joined, Enter/C-m as newlines) "screen -X stuff"
        "git alias" (git -c alias.NAME=!CMD NAME ARGS: CMD ARGS; a non-!
        alias is "git VALUE ARGS") "git -c" (core.pager, core.editor,
        core.sshCommand, core.fsmonitor, sequence.editor, diff.external,
        pager.*, credential.helper=!CMD) "git rebase --exec"
        "git submodule foreach" "vim -c" (vim/nvim/vi/ex -c, --cmd, +CMD
        when CMD starts with ! after : and silent) "npx" "npm exec"
        "pnpm exec" "pnpm dlx" (-c / --call / pnpm's shell mode)
        "watchexec" "nodemon --exec" "entr -s" "parallel" (the template
        before :::, or each ::: argument when there is none)
        "concurrently" (each operand, and each word after --, but not
        the values of options it knows)
            a string parsed again as shell (eval, ssh, watch, tmux,
            watchexec and parallel join their arguments with spaces first)
        "sh <<" "bash <<" ..., "sudo" "doas" "su" "runuser" "ssh" "source"
        "systemd-run" (--shell) "at" "batch"
            a shell reading commands from stdin (sh without -c or script,
            sh -s [ARGS], sh /dev/stdin | /dev/fd/0 | /proc/self/fd/0 [ARGS],
            sudo -s, su without -c, ssh HOST without a command, source
            /dev/stdin, ...) when stdin is a heredoc or here-string: its
            text is parsed as the script
        "alias"
            a command whose first word (unquoted, static) names an alias
            defined earlier in the input (alias NAME=VALUE, several per
            command; unalias, unalias -a) -- earlier in execution order,
            wherever the definition is (same line, function, subshell),
            with or without shopt -s expand_aliases: the value followed by
            the other words, parsed again (a value ending in a blank
            alias-checks the next word; an alias is not expanded inside
            its own expansion). The command itself is listed as well.
        "$()"  command substitution, $(...) or backquotes
        "<()" ">()"  process substitution
    Commands found through a wrapper come right after it and share its
    pipeline, position, background flag, redirections and upstream; env and
    sudo NAME=value words (and a wrapper's own assignments) are added to
    their assigns. xargs appends arguments read at run time that are not in
    argv; with no command it runs "echo". An option a wrapper's table does
    not know is read both ways (taking an argument or not), so two inner
    commands may be listed. Code given to interpreters (python -c, perl -e,
    node -e, ...) is not shell and stays an argument. A command name that is
    dynamic is never looked through.

    Limits beyond the options: max_depth is at most 256 (wrapper chains
    count as nesting); inputs over 16 MiB, commands with more than 256
    redirections or assignments (own plus inherited), trees past a memory
    budget, brace expansion to more than 4096 words in one command, and
    wrapper analysis, brace expansion or re-parsing past a work budget
    (both proportional to the input) are refused ("command too complex"), so
    time and memory stay linear in the input.

    The result owns all its memory; pointers into it live until
    shell_destroy.
*/
#ifndef LH_SHELL_H_INCLUDED
#define LH_SHELL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *home;    //  for ~ and $HOME; NULL leaves them dynamic
    size_t max_depth;    //  nesting of substitutions, subshells, -c strings; 0 = 32
    size_t max_commands; //  simple commands in the result; 0 = 4096
} shell_opts_t;

typedef struct {
    const char *text; //  after quote removal and the static expansions above;
                      //  $VAR, ${..}, $(..), `..`, $((..)), <(..) stay as
                      //  written, $'..' escapes are decoded
    bool dynamic;     //  holds $VAR, $(..), `..`, $((..)), <(..), globs
                      //  (* ? [..]) or ~user, ~+ that could not be resolved
                      //  statically (brace sets are expanded: see above)
    bool quoted;      //  some part was quoted or escaped
    //  NULL exactly when dynamic is false (the word is its text). Else a
    //  pattern for every text the word can become:
    //    - unquoted glob operators * ? and bracket expressions [..] [!..]
    //      [^..] (as bash reads them: a ] right after [ or [! is a member,
    //      [:class:] nests, an unquoted ] closes, none spans a /) stay as
    //      they are; a quoted character inside a bracket expression that
    //      is one of * ? [ ] \ ! ^ - is preceded by a backslash
    //    - every other literal * ? [ ] \ (quoted, or not an operator) is
    //      preceded by a backslash
    //    - each run of dynamic parts ($VAR, ${..}, $(..), `..`, $((..)),
    //      <(..), ~user / ~+ / ~- or ~ without a home, a bracket
    //      expression holding one) is the single byte 0x01: any text,
    //      "/" included
    //    - ~ and $HOME expanded from the options are literal text
    //    - "$NAME" or "${NAME}" inside double quotes, in the body of
    //      `for NAME in WORD; do ... done` with exactly one WORD that is
    //      static or a glob (no $, no substitution, no brace set, not
    //      NAME=...), is the pattern of WORD itself (for f in src/*.c;
    //      do cc "$f.o": "src/*.c.o"; for f in a; do x "$f": "a"), its
    //      glob operators active even though quoted: the value came from
    //      that glob. Not when NAME is a variable bash sets itself (_,
    //      PWD, REPLY, ...), nor when something may assign NAME while the
    //      body runs: in the body, a construct that can assign whose text
    //      contains NAME anywhere (NAME= and other assignments, arguments
    //      of read unset let getopts declare local export readonly
    //      typeset, printf -v, wait -p, eval, trap, mapfile, a for or
    //      select header, (( )), $(( )), static words of [[ ]], ${..=..},
    //      {NAME}>, coproc NAME; so `read file` counts for f), or such a
    //      construct with a dynamic name; the same in any function body
    //      and in eval, trap (but trap ... EXIT) and mapfile arguments
    //      anywhere in the input, which may run during the body; and
    //      anywhere in the input: source or ., alias, enable, fc, a
    //      dynamic command name with arguments, eval, trap or declare -n
    //      of a dynamic word, ${!x=..}, BASH_ENV= ENV= --rcfile
    //      --init-file (a shell running code of its own), an unquoted
    //      heredoc of a function or of the body whose text comes after
    //      its end. Unquoted $NAME (split into fields and globbed again
    //      at run time), several WORDs, `for NAME;` without in, a
    //      reference inside a function defined in the body, after done,
    //      or from backquotes, brace-expanded words and strings parsed
    //      again (bash -c "cat $f") keep 0x01; a loop inside such a
    //      string binds on its own (not in eval: its text assigns). The
    //      word stays dynamic and its text keeps $NAME. Only this input
    //      is seen: traps, functions and aliases from before it are not,
    //      nor arithmetic evaluation of a variable whose value names NAME
    //      (x='f=1'; ((x)), declare -i), which can only make it an
    //      integer.
    //  In assignments (shell_cmd_t.assigns) the value is not globbed:
    //  only 0x01 parts are special (a bound loop variable's glob is active
    //  there too). Heredoc bodies have no pattern. extglob groups never
    //  reach a word (the parser refuses them).
    const char *pattern;
} shell_word_t;

typedef enum {
    SHELL_REDIR_IN,        //  <
    SHELL_REDIR_OUT,       //  >  and >|
    SHELL_REDIR_APPEND,    //  >>
    SHELL_REDIR_INOUT,     //  <>
    SHELL_REDIR_DUP_OUT,   //  >&N, >&- (target the fd number or -); |& adds 2>&1
    SHELL_REDIR_DUP_IN,    //  <&
    SHELL_REDIR_OUT_ALL,   //  &>, &>> and >&file (stdout and stderr to a file)
    SHELL_REDIR_HEREDOC,   //  << and <<- (target.text is the body)
    SHELL_REDIR_HERESTRING //  <<<
} shell_redir_kind_t;

typedef struct {
    shell_redir_kind_t kind;
    int fd;              //  the redirected descriptor (default 0 or 1 by kind), -1 for {name}>
    shell_word_t target; //  heredocs: the body, dynamic when unquoted and expanding
} shell_redir_t;

typedef struct {
    //  argv[0] is the command as written (not resolved through PATH);
    //  argc is 0 for a command that only assigns or redirects
    const shell_word_t *argv;
    size_t argc;
    const shell_word_t *assigns; //  "NAME=value" prefixes, as written; arrays
    size_t assigns_count;        //  as "NAME=(a b)"
    //  Redirections of enclosing compound commands ({ } > f, while ... done
    //  < f) first, then the command's own
    const shell_redir_t *redirs;
    size_t redirs_count;
    //  Wrappers that led here, outermost first: "sudo", "env", "xargs",
    //  "find -exec", "bash -c", "eval", "$()" (command substitution), ...
    const char *const *wrappers;
    size_t wrappers_count;
    //  Commands with the same id form one pipeline. Commands inside a
    //  compound element of a pipeline (curl x | while ...; do sh; done) and
    //  commands found through a wrapper take that element's id and place.
    size_t pipeline;
    size_t position;     //  0-based place in that pipeline
    size_t pipeline_len; //  elements in that pipeline
    bool background;     //  runs asynchronously (&, in a backgrounded list, coproc)
    bool in_function;    //  inside a function body (emitted where it is defined)
    //  Inside the body or condition of a while, until, for (both forms) or
    //  select loop, at any depth: through wrappers and -c strings run
    //  there, and in functions defined there, too (not a for loop's word
    //  list, expanded once)
    bool in_loop;
} shell_cmd_t;

typedef struct _shell_t shell_t;

//  Parses len bytes of src. NULL on error, with a message in err.
shell_t *shell_parse (const char *src, size_t len, const shell_opts_t *opts, char *err,
                      size_t err_size);
void shell_destroy (shell_t **self_p);

//  Simple commands in execution order (inner substitutions before the
//  command that uses them).
size_t shell_count (const shell_t *self);
const shell_cmd_t *shell_cmd (const shell_t *self, size_t index);

//  The command whose output feeds cmd through a pipe, or NULL. For the
//  first element of a pipeline inside a compound command or a -c string,
//  that is what feeds the compound or the shell. Failing a pipe, a
//  process substitution cmd reads (sh <(curl ..), sh < <(curl ..)): the
//  last command in it. cmd must come from self; any other pointer gives NULL.
const shell_cmd_t *shell_upstream (const shell_t *self, const shell_cmd_t *cmd);

//  True if some function calls itself from its own body, directly or
//  through other functions, $(), eval or trap (the fork bomb
//  `:(){ :|:& };:` and its renamings). Calls through command, sudo, env...
//  run programs, not functions, and do not count.
bool shell_has_recursive_function (const shell_t *self);

#endif
