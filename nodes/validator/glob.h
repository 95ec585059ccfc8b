/*  glob -- could two path patterns match the same path?

    The policy classifies a word such as `~/.a*` (then `/credentials`) or
    `~/.aws/credential${x}s` by every class it could reach, not by its
    literal text. Both sides are patterns compiled to the same tokens: one
    character from a set, or a run (possibly empty) of characters from a
    set. glob_overlap decides whether some string matches both, by a
    search over pairs of positions (no backtracking blow-up: each pair is
    visited once).

    Two syntaxes compile:
      GLOB_SHELL   a word as the shell parser reports it (shell_word_t
                   pattern): `*` `?` `[...]` as bash reads them, `\c` a
                   literal c,
                   byte 0x01 any text including `/` (a variable or
                   substitution), 0x02 any text without `/` (a value read
                   as one component: it may start with a dot); `*` `?`
                   `[..]` never match `/`.
      GLOB_POLICY  a policy path pattern body (POLICY.md): `**` any text,
                   `*` any text without `/`, `?` one character but `/`.
*/
#ifndef LH_GLOB_H_INCLUDED
#define LH_GLOB_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GLOB_ANY_TEXT '\x01' //  in GLOB_SHELL: any text, `/` included
#define GLOB_ANY_NAME '\x02' //  in GLOB_SHELL: any text without `/`, dot files too

typedef enum { GLOB_SHELL, GLOB_POLICY } glob_syntax_t;

typedef struct {
    uint64_t set[4]; //  the bytes this token accepts
    bool run;        //  zero or more of them, else exactly one
    bool wild;       //  a shell wildcard: matches no leading '.' without dotglob
} glob_tok_t;

//  Compiles n bytes of text, appending to out (at most max tokens, *count
//  in use). False when out is full or a bracket is malformed in a way the
//  caller should treat as "could be anything".
bool glob_compile (const char *text, size_t n, glob_syntax_t syntax, glob_tok_t *out, size_t max,
                   size_t *count);

//  Appends a literal (no wildcard) to out.
bool glob_literal (const char *text, size_t n, glob_tok_t *out, size_t max, size_t *count);

//  True if some string matches both token lists. Without dotglob a
//  component of a that starts with a wildcard matches no name starting
//  with '.' (bash's default). Over budget (more than 32,768 position
//  pairs) it answers true: "could".
bool glob_overlap (const glob_tok_t *a, size_t na, const glob_tok_t *b, size_t nb, bool dotglob);

//  True if the text holds a glob operator or a dynamic part (GLOB_SHELL).
bool glob_is_wild (const char *text, size_t n);

#endif
