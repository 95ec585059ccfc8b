/*  shell.c -- a POSIX/bash command-line parser for policy decisions.

    Two passes over an arena owned by the shell_t:

    1. The parser turns the source into a small syntax tree: lists, and-or
       lists, pipelines, simple commands, compound commands and function
       definitions. Words are expanded as they are read (quote removal, ~
       and $HOME, dynamic marks); every command substitution, backquote and
       process substitution inside a word is parsed on the spot as a nested
       list and hangs off the word. Heredoc bodies are read when the line
       that introduced them ends. `((` and `$((` look ahead for the `))`
       that makes them arithmetic, as bash does, else they are subshells.

    2. The emitter walks the tree in execution order and appends one
       shell_cmd_t per simple command, substitutions first. It then looks
       through wrappers (sudo, env, xargs, find -exec, bash -c, eval, ...)
       with a table of each wrapper's options: an inner command is appended
       after its wrapper with the wrapper's name added to its chain; strings
       that a wrapper hands to a shell (-c strings, eval, ssh, heredocs fed
       to a shell) are parsed again with the same parser. An option missing
       from a wrapper's table is read both ways, so that nothing hides
       behind an option the table does not know.

    The pieces: shell_lexer.c and shell_parser.c (pass 1), shell_emit.c
    (pass 2), shell_wrappers.c with its tables in shell_wrappers_table.c,
    all allocating from shell_arena.c; shell_internal.h is what they
    share. This file holds the API.

    Bounds: recursion is counted on both passes against max_depth (wrapper
    levels and re-parses included), the arena has a memory limit
    proportional to the input, the result holds at most max_commands
    commands, and the work of wrapper analysis and re-parsing (which can
    revisit the same words) has a budget proportional to the input. Scans
    move forward and lookaheads are bounded by nesting, so time is linear
    in the input. Failure anywhere is an error for the whole parse: the
    caller fails closed.
*/

#include "shell_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  API

static void
s_copy_err (char *err, size_t err_size, const char *msg)
{
    if (err && err_size) {
        snprintf (err, err_size, "%s", msg);
    }
}

shell_t *
shell_parse (const char *src, size_t len, const shell_opts_t *opts, char *err, size_t err_size)
{
    if (err && err_size)
        err[0] = 0;
    shell_t *self = calloc (1, sizeof (shell_t));
    if (!self) {
        s_copy_err (err, err_size, "out of memory");
        return NULL;
    }
    self->max_depth = opts && opts->max_depth ? opts->max_depth : S_DEPTH_DEFAULT;
    if (self->max_depth > S_DEPTH_MAX)
        self->max_depth = S_DEPTH_MAX;
    self->max_commands = opts && opts->max_commands ? opts->max_commands : S_COMMANDS_DEFAULT;
    self->home = opts ? opts->home : NULL;
    self->home_len = self->home ? strlen (self->home) : 0;
    //  Bounded by what the input and the options can ask for
    size_t commands = self->max_commands < SIZE_MAX / 8 / S_MEM_PER_COMMAND
                          ? self->max_commands
                          : SIZE_MAX / 8 / S_MEM_PER_COMMAND;
    self->mem_limit = S_MEM_BASE + (len < S_INPUT_MAX ? len : S_INPUT_MAX) * S_MEM_PER_BYTE +
                      commands * S_MEM_PER_COMMAND;
    self->work_limit = S_WORK_BASE + (len < S_INPUT_MAX ? len : S_INPUT_MAX) * S_WORK_PER_BYTE;
    self->bind_limit = self->work_limit;

    if (!src && len)
        shell_fail (self, "no input");
    else if (len > S_INPUT_MAX)
        shell_fail (self, "command too long (%zu bytes, at most %zu)", len, S_INPUT_MAX);
    else if (len && memchr (src, 0, len))
        shell_fail (self, "NUL byte in command (offset %zu)",
                    (size_t) ((const char *) memchr (src, 0, len) - src));
    else {
        s_parser_t p = {.sh = self, .buf = src ? src : "", .len = len};
        s_node_t *root = shell_parse_program (&p);
        if (!self->failed) {
            s_ectx_t ctx = {.upstream = S_NONE, .func = S_NONE, .calls = true};
            shell_emit (self, root, &ctx);
        }
        if (!self->failed)
            shell_find_recursion (self);
    }
    if (self->failed) {
        s_copy_err (err, err_size, self->msg);
        shell_destroy (&self);
        return NULL;
    }
    self->home = NULL;
    return self;
}

void
shell_destroy (shell_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shell_t *self = *self_p;
    s_chunk_t *chunk = self->chunks;
    while (chunk) {
        s_chunk_t *next = chunk->next;
        free (chunk);
        chunk = next;
    }
    free (self->recs);
    free (self);
    *self_p = NULL;
}

size_t
shell_count (const shell_t *self)
{
    return self ? self->nrecs : 0;
}

const shell_cmd_t *
shell_cmd (const shell_t *self, size_t index)
{
    if (!self || index >= self->nrecs)
        return NULL;
    return &self->recs[index].pub;
}

const shell_cmd_t *
shell_upstream (const shell_t *self, const shell_cmd_t *cmd)
{
    if (!self || !cmd || self->nrecs == 0)
        return NULL;
    uintptr_t base = (uintptr_t) self->recs;
    uintptr_t at = (uintptr_t) cmd;
    if (at < base || at >= base + self->nrecs * sizeof (s_rec_t) ||
        (at - base) % sizeof (s_rec_t) != 0)
        return NULL;
    size_t up = self->recs[(at - base) / sizeof (s_rec_t)].upstream;
    return up == S_NONE ? NULL : &self->recs[up].pub;
}

bool
shell_has_recursive_function (const shell_t *self)
{
    return self && self->recursive;
}
