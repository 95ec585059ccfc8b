/*  fuzz_shell -- libFuzzer target for the shell parser (nodes/validator/shell.c).

    The first byte picks the options, the rest is the command line:
        bit 0       home "/home/fuzz" or none
        bits 1-2    max_depth 0 (default 32), 2, 5 or 12
        bits 3-4    max_commands 0 (default 4096), 1, 8 or 64

    Oracles (abort() on failure):

    1. A refusal comes with a message: non-empty, printable ASCII, within
       err. Input holding a NUL byte is always refused.
    2. A result is consistent: every command reachable by index, every
       pointer/count pair walkable, every text NUL-terminated (strlen), every
       enum in range, position < pipeline_len, at most max_commands
       commands, shell_upstream NULL or another command of the result.
    3. Parsing the same bytes again gives the same result: same outcome, same
       number of commands, same argv texts and wrapper chains.
*/
#include "shell.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

//  abort() with a line on stderr: libFuzzer saves the input as a crash
#define FUZZ_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf (stderr, "%s:%d: oracle failed: %s\n", __FILE__, __LINE__, #cond);             \
            abort ();                                                                              \
        }                                                                                          \
    } while (0)

static size_t s_sink; //  keeps the walks from being optimised away

static void
s_check_word (const shell_word_t *word)
{
    FUZZ_ASSERT (word->text != NULL);
    s_sink += strlen (word->text) + word->dynamic + word->quoted;
}

static void
s_check (const shell_t *sh, const shell_opts_t *opts)
{
    size_t count = shell_count (sh);
    size_t max = opts->max_commands ? opts->max_commands : 4096;
    FUZZ_ASSERT (count <= max);
    FUZZ_ASSERT (shell_cmd (sh, count) == NULL);
    for (size_t i = 0; i < count; i++) {
        const shell_cmd_t *cmd = shell_cmd (sh, i);
        FUZZ_ASSERT (cmd != NULL);
        FUZZ_ASSERT (cmd->argc == 0 || cmd->argv != NULL);
        for (size_t k = 0; k < cmd->argc; k++)
            s_check_word (&cmd->argv[k]);
        FUZZ_ASSERT (cmd->assigns_count == 0 || cmd->assigns != NULL);
        for (size_t k = 0; k < cmd->assigns_count; k++) {
            s_check_word (&cmd->assigns[k]);
            FUZZ_ASSERT (strchr (cmd->assigns[k].text, '=') != NULL);
        }
        FUZZ_ASSERT (cmd->argc > 0 || cmd->assigns_count > 0 || cmd->redirs_count > 0);
        FUZZ_ASSERT (cmd->redirs_count == 0 || cmd->redirs != NULL);
        for (size_t k = 0; k < cmd->redirs_count; k++) {
            const shell_redir_t *r = &cmd->redirs[k];
            FUZZ_ASSERT (r->kind >= SHELL_REDIR_IN && r->kind <= SHELL_REDIR_HERESTRING);
            FUZZ_ASSERT (r->fd >= -1);
            s_check_word (&r->target);
        }
        FUZZ_ASSERT (cmd->wrappers_count == 0 || cmd->wrappers != NULL);
        for (size_t k = 0; k < cmd->wrappers_count; k++) {
            FUZZ_ASSERT (cmd->wrappers[k] != NULL);
            FUZZ_ASSERT (strlen (cmd->wrappers[k]) > 0);
        }
        FUZZ_ASSERT (cmd->pipeline_len >= 1);
        FUZZ_ASSERT (cmd->position < cmd->pipeline_len);
        //  Upstream: a command of the result that comes before this one
        const shell_cmd_t *up = shell_upstream (sh, cmd);
        if (up) {
            size_t k = 0;
            while (k < i && shell_cmd (sh, k) != up)
                k++;
            FUZZ_ASSERT (k < i);
        }
    }
    //  Pointers that are not commands of the result have no upstream
    shell_cmd_t stray;
    memset (&stray, 0, sizeof (stray));
    FUZZ_ASSERT (shell_upstream (sh, &stray) == NULL);
    FUZZ_ASSERT (shell_upstream (sh, NULL) == NULL);
    s_sink += shell_has_recursive_function (sh);
}

static void
s_same (const shell_t *a, const shell_t *b)
{
    FUZZ_ASSERT (shell_count (a) == shell_count (b));
    FUZZ_ASSERT (shell_has_recursive_function (a) == shell_has_recursive_function (b));
    for (size_t i = 0; i < shell_count (a); i++) {
        const shell_cmd_t *x = shell_cmd (a, i), *y = shell_cmd (b, i);
        FUZZ_ASSERT (x->argc == y->argc);
        for (size_t k = 0; k < x->argc; k++) {
            FUZZ_ASSERT (strcmp (x->argv[k].text, y->argv[k].text) == 0);
            FUZZ_ASSERT (x->argv[k].dynamic == y->argv[k].dynamic);
        }
        FUZZ_ASSERT (x->wrappers_count == y->wrappers_count);
        for (size_t k = 0; k < x->wrappers_count; k++)
            FUZZ_ASSERT (strcmp (x->wrappers[k], y->wrappers[k]) == 0);
        FUZZ_ASSERT (x->redirs_count == y->redirs_count);
        FUZZ_ASSERT (x->pipeline_len == y->pipeline_len && x->position == y->position);
        FUZZ_ASSERT ((shell_upstream (a, x) == NULL) == (shell_upstream (b, y) == NULL));
    }
}

static void
s_check_err (const char *err, size_t size)
{
    size_t len = strnlen (err, size);
    FUZZ_ASSERT (len > 0 && len < size);
    for (size_t i = 0; i < len; i++)
        FUZZ_ASSERT (err[i] >= 0x20 && err[i] < 0x7f);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    static const size_t depths[] = {0, 2, 5, 12};
    static const size_t commands[] = {0, 1, 8, 64};
    shell_opts_t opts = {.home = (data[0] & 1) ? "/home/fuzz" : NULL,
                         .max_depth = depths[(data[0] >> 1) & 3],
                         .max_commands = commands[(data[0] >> 3) & 3]};
    const char *src = (const char *) data + 1;
    size_t len = size - 1;

    char err[256];
    memset (err, 'x', sizeof (err));
    shell_t *sh = shell_parse (src, len, &opts, err, sizeof (err));
    char err2[256] = "";
    shell_t *again = shell_parse (src, len, &opts, err2, sizeof (err2));
    FUZZ_ASSERT ((sh == NULL) == (again == NULL));
    if (!sh) {
        s_check_err (err, sizeof (err));
        FUZZ_ASSERT (strcmp (err, err2) == 0);
        return 0;
    }
    FUZZ_ASSERT (memchr (src, 0, len) == NULL);
    FUZZ_ASSERT (err[0] == 0);
    s_check (sh, &opts);
    s_same (sh, again);
    shell_destroy (&sh);
    FUZZ_ASSERT (sh == NULL);
    shell_destroy (&again);
    return 0;
}
