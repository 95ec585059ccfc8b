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

    It never runs anything and never reads the environment: `~` and $HOME
    expand from the options, other expansions leave the word marked dynamic.
    Input it cannot parse (unterminated quotes or substitutions, nesting
    deeper than max_depth, more than max_commands commands) is an error, so
    the caller can fail closed.

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
    const char *text; //  after quote removal and the static expansions above
    bool dynamic;     //  holds $VAR, $(..), `..`, $((..)), globs or brace sets
                      //  that could not be resolved statically
    bool quoted;      //  some part was quoted or escaped
} shell_word_t;

typedef enum {
    SHELL_REDIR_IN,        //  <
    SHELL_REDIR_OUT,       //  >  and >|
    SHELL_REDIR_APPEND,    //  >>
    SHELL_REDIR_INOUT,     //  <>
    SHELL_REDIR_DUP_OUT,   //  >&  (target is an fd number, or a file with &>)
    SHELL_REDIR_DUP_IN,    //  <&
    SHELL_REDIR_OUT_ALL,   //  &> and &>> (stdout and stderr to a file)
    SHELL_REDIR_HEREDOC,   //  << and <<- (target.text is the body)
    SHELL_REDIR_HERESTRING //  <<<
} shell_redir_kind_t;

typedef struct {
    shell_redir_kind_t kind;
    int fd; //  the redirected descriptor (default 0 or 1 by kind)
    shell_word_t target;
} shell_redir_t;

typedef struct {
    //  argv[0] is the command as written (not resolved through PATH);
    //  argc is 0 for a command that only assigns or redirects
    const shell_word_t *argv;
    size_t argc;
    const shell_word_t *assigns; //  "NAME=value" prefixes, as written
    size_t assigns_count;
    const shell_redir_t *redirs;
    size_t redirs_count;
    //  Wrappers that led here, outermost first: "sudo", "env", "xargs",
    //  "find -exec", "bash -c", "eval", "$()" (command substitution), ...
    const char *const *wrappers;
    size_t wrappers_count;
    size_t pipeline;     //  commands with the same id form one pipeline
    size_t position;     //  0-based place in that pipeline
    size_t pipeline_len; //  commands in that pipeline
    bool background;     //  ends with &
    bool in_function;    //  inside a function body
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

//  The command whose output feeds cmd through a pipe, or NULL.
const shell_cmd_t *shell_upstream (const shell_t *self, const shell_cmd_t *cmd);

//  True if some function calls itself from its own body (the fork bomb
//  `:(){ :|:& };:` and its renamings).
bool shell_has_recursive_function (const shell_t *self);

#endif
