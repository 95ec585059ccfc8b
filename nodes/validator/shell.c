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

    Bounds: recursion is counted on both passes against max_depth (wrapper
    levels and re-parses included), the arena has a memory limit
    proportional to the input, the result holds at most max_commands
    commands, and the work of wrapper analysis and re-parsing (which can
    revisit the same words) has a budget proportional to the input. Scans
    move forward and lookaheads are bounded by nesting, so time is linear
    in the input. Failure anywhere is an error for the whole parse: the
    caller fails closed.
*/

#include "shell.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_NONE             SIZE_MAX
#define S_DEPTH_DEFAULT    32
#define S_DEPTH_MAX        256
#define S_COMMANDS_DEFAULT 4096
#define S_INPUT_MAX        ((size_t) 16 << 20)
#define S_CHUNK            ((size_t) 64 << 10)
#define S_CHUNK_MIN        ((size_t) 4 << 10)
#define S_ALIGN            ((size_t) 16)
#define S_MEM_BASE         ((size_t) 32 << 20)
#define S_MEM_PER_BYTE     64
#define S_MEM_PER_COMMAND  2048
#define S_REDIRS_MAX       256
#define S_ASSIGNS_MAX      256
#define S_WORK_BASE        ((size_t) 64 << 10)
#define S_WORK_PER_BYTE    16
#define S_BRACE_WORDS_MAX  4096

//  How each byte of a word's text came to be (s_word_t.marks)
#define M_LIT    'L' //  unquoted literal: may be a glob or brace operator
#define M_QUOTED 'Q' //  quoted or escaped literal, or ~ and $HOME expanded
#define M_DYN    'D' //  part of an expansion the parser cannot resolve

//  --------------------------------------------------------------------------
//  Arena

typedef struct s_chunk_t {
    struct s_chunk_t *next;
    size_t size; //  bytes at mem
    size_t used;
    char *mem;
} s_chunk_t;

#define S_HDR ((sizeof (s_chunk_t) + S_ALIGN - 1) & ~(S_ALIGN - 1))

//  A command as the caller sees it, plus what shell_upstream needs
typedef struct {
    shell_cmd_t pub;
    size_t upstream; //  index of the command feeding it, or S_NONE
} s_rec_t;

typedef struct {
    void *data;
    size_t n, cap;
} s_vec_t;

typedef struct {
    char *data;
    size_t n, cap;
} s_str_t;

typedef struct {
    size_t func;        //  index into funcs
    const char *callee; //  argv[0] of a command in its body
} s_call_t;

typedef struct {
    const char *name;
    const char *value; //  NULL: defined with a value that is not static
    bool removed;
} s_alias_t;

//  A for or select loop of the parse, for binding "$NAME" in its body to
//  the pattern of its word list (see shell.h)
typedef struct s_loop_t {
    const char *name;
    size_t nlen;
    const char *bind;        //  the pattern "$name" stands for; NULL: none
    struct s_loop_t *parent; //  the loop it is in, in the same parser
    bool tainted;            //  something in its body may assign name
    int verdict;             //  0 not known yet, 1 bound, -1 not
} s_loop_t;

//  Something that may assign variables and runs where it is not seen:
//  inside a function, or a trap, eval or alias string. A loop whose name
//  text holds loses its binding, unless owner is that loop or one around
//  it (owner: the loop whose header this is)
typedef struct {
    const char *text;
    size_t len;
    const s_loop_t *owner;
} s_gevent_t;

struct _shell_t {
    s_chunk_t *chunks;
    size_t mem, mem_limit;
    void *last; //  last allocation in the head chunk (grows in place)
    s_rec_t *recs;
    size_t nrecs, caprecs;
    bool recursive;

    //  Options, valid while parsing
    const char *home;
    size_t home_len;
    size_t max_depth, max_commands;

    //  Parse and emission state
    size_t nsimple; //  simple commands in the trees parsed so far
    size_t next_pipeline;
    size_t work, work_limit; //  words scanned by wrappers, bytes parsed again
    s_vec_t funcs;           //  const char *: names of function definitions
    s_vec_t calls;           //  s_call_t
    s_vec_t aliases;         //  s_alias_t, in the order they were defined
    s_vec_t gevents;         //  s_gevent_t
    bool gwild;              //  some variable, unknown which, may be assigned anywhere
    bool bind_off;           //  binding work over its budget: no loop binds
    size_t bind_work, bind_limit;
    bool failed;
    char msg[256];
};

static void
s_fail (shell_t *sh, const char *fmt, ...)
{
    if (sh->failed)
        return;
    sh->failed = true;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (sh->msg, sizeof (sh->msg), fmt, ap);
    va_end (ap);
}

//  Wrapper analysis and re-parsing can revisit the same words (nested
//  wrappers, options read two ways): their total work is bounded by a
//  budget proportional to the input, which keeps time linear
static bool
s_charge (shell_t *sh, size_t units)
{
    if (sh->failed)
        return false;
    if (units > sh->work_limit - sh->work) {
        s_fail (sh, "command too complex (wrapper and re-parse work limit)");
        return false;
    }
    sh->work += units;
    return true;
}

static size_t
s_round (size_t size)
{
    return (size + S_ALIGN - 1) & ~(S_ALIGN - 1);
}

//  Zeroed memory from the arena; NULL (and the parse fails) past the limit
static void *
s_alloc (shell_t *sh, size_t size)
{
    if (sh->failed)
        return NULL;
    if (size > SIZE_MAX / 4) {
        s_fail (sh, "command too complex (parser memory limit)");
        return NULL;
    }
    size = size ? s_round (size) : S_ALIGN;
    s_chunk_t *head = sh->chunks;
    if (head && head->size - head->used >= size) {
        void *ptr = head->mem + head->used;
        head->used += size;
        sh->last = ptr;
        return ptr;
    }
    //  Chunks grow with the arena (small commands stay small), then stay
    //  at S_CHUNK; big requests get a chunk of their own
    bool dedicated = size > S_CHUNK / 4;
    size_t csize = sh->mem < S_CHUNK_MIN ? S_CHUNK_MIN : sh->mem < S_CHUNK ? sh->mem : S_CHUNK;
    if (dedicated || csize < size)
        csize = size;
    if (sh->mem + csize > sh->mem_limit) {
        s_fail (sh, "command too complex (parser memory limit)");
        return NULL;
    }
    s_chunk_t *chunk = calloc (1, S_HDR + csize);
    if (!chunk) {
        s_fail (sh, "out of memory");
        return NULL;
    }
    chunk->size = csize;
    chunk->used = size;
    chunk->mem = (char *) chunk + S_HDR;
    sh->mem += csize;
    if (dedicated && head) {
        //  Keep the current head: its free space stays in use
        chunk->next = head->next;
        head->next = chunk;
    } else {
        chunk->next = head;
        sh->chunks = chunk;
        sh->last = chunk->mem;
    }
    return chunk->mem;
}

//  Grows the last allocation in place when it can; else copies
static void *
s_realloc (shell_t *sh, void *ptr, size_t old, size_t size)
{
    if (sh->failed)
        return NULL;
    if (ptr && ptr == sh->last && size <= SIZE_MAX / 4) {
        s_chunk_t *head = sh->chunks;
        size_t off = (size_t) ((char *) ptr - head->mem);
        if (s_round (size) <= head->size - off) {
            head->used = off + s_round (size);
            return ptr;
        }
    }
    void *fresh = s_alloc (sh, size);
    if (fresh && old)
        memcpy (fresh, ptr, old);
    return fresh;
}

static void *
s_vec_push (shell_t *sh, s_vec_t *vec, size_t size)
{
    if (sh->failed)
        return NULL;
    if (vec->n == vec->cap) {
        size_t cap = vec->cap ? vec->cap * 2 : 4;
        if (cap > SIZE_MAX / 8 / size) {
            s_fail (sh, "command too complex (parser memory limit)");
            return NULL;
        }
        void *data = s_realloc (sh, vec->data, vec->cap * size, cap * size);
        if (!data)
            return NULL;
        vec->data = data;
        vec->cap = cap;
    }
    void *slot = (char *) vec->data + vec->n * size;
    memset (slot, 0, size);
    vec->n++;
    return slot;
}

static void
s_vec_pushp (shell_t *sh, s_vec_t *vec, const void *item)
{
    const void **slot = s_vec_push (sh, vec, sizeof (void *));
    if (slot)
        *slot = item;
}

static bool
s_str_reserve (shell_t *sh, s_str_t *str, size_t extra)
{
    if (sh->failed)
        return false;
    if (extra > SIZE_MAX / 8 - str->n) {
        s_fail (sh, "command too complex (parser memory limit)");
        return false;
    }
    if (str->n + extra + 1 <= str->cap)
        return true;
    size_t cap = str->cap ? str->cap : 16;
    while (cap < str->n + extra + 1)
        cap *= 2;
    char *data = s_realloc (sh, str->data, str->cap, cap);
    if (!data)
        return false;
    str->data = data;
    str->cap = cap;
    return true;
}

static void
s_str_putc (shell_t *sh, s_str_t *str, char c)
{
    if (s_str_reserve (sh, str, 1))
        str->data[str->n++] = c;
}

static void
s_str_put (shell_t *sh, s_str_t *str, const char *src, size_t len)
{
    if (len && s_str_reserve (sh, str, len)) {
        memcpy (str->data + str->n, src, len);
        str->n += len;
    }
}

static const char *
s_str_cstr (shell_t *sh, s_str_t *str)
{
    if (!s_str_reserve (sh, str, 0))
        return "";
    str->data[str->n] = 0;
    return str->data;
}

static const char *
s_strndup (shell_t *sh, const char *src, size_t len)
{
    char *copy = s_alloc (sh, len + 1);
    if (!copy)
        return "";
    memcpy (copy, src, len);
    copy[len] = 0;
    return copy;
}

//  --------------------------------------------------------------------------
//  Syntax tree

typedef struct s_node_t s_node_t;

typedef enum { SUB_CMD, SUB_PROCIN, SUB_PROCOUT } s_subkind_t;

typedef struct {
    s_subkind_t kind;
    s_node_t *body;
} s_sub_t;

typedef struct {
    s_sub_t *v;
    size_t n;
} s_subs_t;

typedef struct {
    shell_word_t w;
    const char *marks; //  one per byte of w.text: M_LIT, M_QUOTED or M_DYN
    const char *raw;   //  the word as written in the source (rawlen bytes)
    size_t rawlen;
    s_subs_t subs;              //  substitutions inside it, in order
    const struct s_ref_t *refs; //  "$NAME" of loops around it, in order
    size_t nrefs;
    bool noglob;    //  its pattern was made as an assignment value's
    bool plain;     //  no quoting and no expansion: may be a reserved word
    bool assign;    //  NAME=, NAME+= or NAME[..]= prefix, unquoted
    bool subscript; //  NAME[..] in that prefix: a glob unless assigned
} s_word_t;

//  "$NAME" or "${NAME}" in double quotes, at bytes [at, at + len) of a
//  word's text, inside the body of a for loop over NAME
typedef struct s_ref_t {
    size_t at, len;
    s_loop_t *loop;
} s_ref_t;

//  The references of one word, and what its pattern is made from
typedef struct {
    const s_ref_t *v;
    size_t n;
    const char *marks;
    bool noglob;
} s_wrefs_t;

typedef struct {
    shell_redir_t r;
    s_subs_t subs;
    s_wrefs_t refs;
} s_redir_t;

typedef enum {
    N_LIST,     //  kids: and-or lists
    N_ANDOR,    //  kids: pipelines
    N_PIPELINE, //  kids: commands
    N_SIMPLE,   //  argv, assigns, redirs
    N_COMPOUND, //  kids in execution order, redirs
    N_FUNC,     //  name, kids[0] the body
    N_WORDS     //  argv: words whose substitutions run (for lists, case words, (( )))
} s_nkind_t;

struct s_node_t {
    s_nkind_t kind;
    bool background; //  N_ANDOR ends with &; coproc
    bool compound;   //  [[ ]] and (( )): may be a function body
    bool loop;       //  while, until, for, select: kids from loop_from on repeat
    size_t loop_from;
    s_vec_t kids; //  s_node_t *
    shell_word_t *argv;
    s_subs_t *argv_subs;
    s_wrefs_t *argv_refs; //  NULL when no word has references
    size_t argc;
    shell_word_t *assigns;
    s_subs_t *assign_subs;
    s_wrefs_t *assign_refs;
    size_t nassigns;
    s_vec_t redirs; //  s_redir_t *
    const char *name;
};

//  --------------------------------------------------------------------------
//  Lexer

typedef enum {
    T_EOF,
    T_NEWLINE,
    T_WORD,
    T_SEMI,
    T_AMP,
    T_AND,
    T_OR,
    T_PIPE,
    T_PIPEAMP,
    T_DSEMI,
    T_SEMIAMP,
    T_DSEMIAMP,
    T_LPAREN,
    T_RPAREN,
    T_REDIR
} s_ttype_t;

typedef enum {
    R_LESS,
    R_GREAT,
    R_DGREAT,
    R_CLOBBER,
    R_LESSGREAT,
    R_LESSAND,
    R_GREATAND,
    R_ANDGREAT,
    R_ANDDGREAT,
    R_DLESS,
    R_DLESSDASH,
    R_TLESS
} s_rop_t;

typedef struct {
    s_ttype_t type;
    size_t start, end; //  source span
    s_word_t word;     //  T_WORD
    s_rop_t op;        //  T_REDIR
    int fd;            //  T_REDIR: -2 default, -1 {name}
} s_tok_t;

typedef struct s_heredoc_t {
    struct s_heredoc_t *next;
    s_redir_t *redir;
    const char *delim;
    size_t dlen;
    bool strip;  //  <<-
    bool quoted; //  delimiter quoted: body is literal
} s_heredoc_t;

typedef struct {
    shell_t *sh;
    const char *buf;
    size_t len, pos;
    size_t depth;
    const char *what; //  NULL for the command itself, else e.g. "bash -c string"
    s_tok_t tok;
    bool have;
    s_heredoc_t *hd_head, *hd_tail;
    size_t hd_unquoted;   //  heredocs in that list whose body expands
    bool cond;            //  inside [[ ]]
    bool regex;           //  the next word is the right side of =~
    s_loop_t *loop;       //  innermost for or select loop being parsed
    s_loop_t *loop_floor; //  loop around the function being parsed: "$NAME" does not reach it
    size_t in_func;       //  function bodies being parsed
} s_parser_t;

static s_node_t *s_parse_list (s_parser_t *p);
static s_node_t *s_parse_program (s_parser_t *p);
static s_node_t *s_parse_command (s_parser_t *p);

static bool
s_is_blank (char c)
{
    return c == ' ' || c == '\t';
}

static bool
s_is_meta (char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == ';' || c == '&' || c == '|' || c == '<' ||
           c == '>' || c == '(' || c == ')';
}

static bool
s_is_digit (char c)
{
    return c >= '0' && c <= '9';
}

static bool
s_is_name_start (char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool
s_is_name_char (char c)
{
    return s_is_name_start (c) || s_is_digit (c);
}

static bool
s_all_digits (const char *text)
{
    if (!*text)
        return false;
    for (; *text; text++)
        if (!s_is_digit (*text))
            return false;
    return true;
}

//  NAME=value (what env and sudo take before the command)
static bool
s_is_assignment (const char *text)
{
    if (!s_is_name_start (*text))
        return false;
    while (s_is_name_char (*text))
        text++;
    return *text == '=';
}

//  Skips backslash-newline pairs (line continuations) from i
static size_t
s_cont (const s_parser_t *p, size_t i)
{
    while (i + 1 < p->len && p->buf[i] == '\\' && p->buf[i + 1] == '\n')
        i += 2;
    return i;
}

static bool
s_next_is (const s_parser_t *p, char c)
{
    size_t i = s_cont (p, p->pos);
    return i < p->len && p->buf[i] == c;
}

static void
s_perr (s_parser_t *p, size_t at, const char *fmt, ...)
{
    shell_t *sh = p->sh;
    if (sh->failed)
        return;
    char what[160];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (what, sizeof (what), fmt, ap);
    va_end (ap);
    if (p->what)
        s_fail (sh, "%s (offset %zu in %s)", what, at, p->what);
    else
        s_fail (sh, "%s (offset %zu)", what, at);
}

//  A printable, UTF-8-safe excerpt of the source for error messages
static void
s_excerpt (const s_parser_t *p, size_t start, size_t end, char *out, size_t size)
{
    size_t n = 0;
    for (size_t i = start; i < end && i < p->len && n + 1 < size; i++) {
        unsigned char c = (unsigned char) p->buf[i];
        out[n++] = c >= 0x20 && c < 0x7f && c != '\'' ? (char) c : '?';
    }
    out[n] = 0;
}

static void
s_syntax (s_parser_t *p, const s_tok_t *tok)
{
    if (tok->type == T_EOF)
        s_perr (p, tok->start, "syntax error: unexpected end of input");
    else if (tok->type == T_NEWLINE)
        s_perr (p, tok->start, "syntax error near unexpected newline");
    else {
        char text[32];
        s_excerpt (p, tok->start, tok->end < tok->start + 24 ? tok->end : tok->start + 24, text,
                   sizeof (text));
        s_perr (p, tok->start, "syntax error near unexpected token '%s'", text);
    }
}

static bool
s_enter (s_parser_t *p)
{
    if (p->depth >= p->sh->max_depth) {
        s_perr (p, p->pos, "nesting too deep (max_depth %zu)", p->sh->max_depth);
        return false;
    }
    p->depth++;
    return true;
}

static void
s_leave (s_parser_t *p)
{
    p->depth--;
}

//  Loop variables ----------------------------------------------------------
//
//  "$NAME" in the body of `for NAME in WORD` stands for what WORD expands
//  to when WORD is static or a glob, unless NAME may be assigned while the
//  body runs. What may assign a variable is found as the input is parsed
//  (s_bind_event): assignments, read, declare, unset, printf -v, for and
//  select headers, (( )), ${NAME:=}, {NAME}>... Their text is matched
//  against the names of the loops around them, by substring, so anything
//  that mentions NAME counts. Inside a function body, and in eval, trap
//  and alias strings, they count for every loop of the input, as they may
//  run at any time; source, a dynamic command name with arguments and
//  anything that names variables dynamically count for every variable.
//  The work is charged to a budget of its own: past it nothing binds.

static bool
s_bind_charge (shell_t *sh, size_t units)
{
    if (sh->bind_off || units > sh->bind_limit - sh->bind_work) {
        sh->bind_off = true;
        return false;
    }
    sh->bind_work += units;
    return true;
}

//  text[0, len) may assign the variables it mentions; text NULL: any
//  variable. global: wherever the loop is (see above)
static void
s_bind_event (s_parser_t *p, const char *text, size_t len, bool global, const s_loop_t *owner)
{
    shell_t *sh = p->sh;
    if (sh->failed || sh->bind_off)
        return;
    if (global || p->in_func) {
        if (!text) {
            sh->gwild = true;
            return;
        }
        s_gevent_t *ev = s_vec_push (sh, &sh->gevents, sizeof (s_gevent_t));
        if (ev) {
            ev->text = text;
            ev->len = len;
            ev->owner = owner;
        }
        return;
    }
    for (s_loop_t *l = p->loop; l; l = l->parent) {
        if (!s_bind_charge (sh, l->tainted ? 1 : len + l->nlen + 1))
            return;
        if (!l->tainted && (!text || memmem (text, len, l->name, l->nlen)))
            l->tainted = true;
    }
}

static void
s_bind_event_str (s_parser_t *p, const char *text, bool global)
{
    s_bind_event (p, text, text ? strlen (text) : 0, global, NULL);
}

//  Whether "$NAME" of this loop stands for its word's pattern: decided
//  once the loop's parser is done, when its commands are emitted
static bool
s_loop_bound (shell_t *sh, s_loop_t *loop)
{
    if (loop->verdict)
        return loop->verdict > 0;
    bool ok = loop->bind && !loop->tainted && !sh->gwild;
    size_t n = loop->nlen;
    const s_gevent_t *ev = sh->gevents.data;
    for (size_t i = 0; ok && i < sh->gevents.n; i++) {
        bool around = false;
        for (const s_loop_t *l = loop; ev[i].owner && l && !around; l = l->parent) {
            if (!s_bind_charge (sh, 1))
                break;
            around = l == ev[i].owner;
        }
        if (around)
            continue;
        if (!s_bind_charge (sh, ev[i].len + n + 1) || memmem (ev[i].text, ev[i].len, loop->name, n))
            ok = false;
    }
    ok = ok && !sh->bind_off;
    loop->verdict = ok ? 1 : -1;
    return ok;
}

//  Variables bash sets by itself: never bound
static bool
s_special_var (const char *name)
{
    static const char *const names[] = {
        "_",       "REPLY",   "PWD",         "OLDPWD",      "HOME",          "RANDOM",
        "SRANDOM", "SECONDS", "LINENO",      "BASHPID",     "BASH_REMATCH",  "OPTARG",
        "OPTIND",  "COLUMNS", "LINES",       "HISTCMD",     "EPOCHSECONDS",  "EPOCHREALTIME",
        "MAPFILE", "COPROC",  "PIPESTATUS",  "FUNCNAME",    "BASH_COMMAND",  "BASH_ARGV0",
        "IFS",     "PATH",    "BASH_SOURCE", "BASH_LINENO", "GROUPS",        "DIRSTACK",
        "PPID",    "UID",     "EUID",        "SHLVL",       "BASH_SUBSHELL", "CDPATH",
        NULL};
    for (size_t i = 0; names[i]; i++)
        if (!strcmp (name, names[i]))
            return true;
    return false;
}

//  Word builder ------------------------------------------------------------

typedef enum {
    A_NAME,     //  reading what could be NAME
    A_SUB,      //  inside NAME[...]
    A_AFTERSUB, //  after NAME[...]
    A_PLUS,     //  after NAME+ (before =)
    A_VALUE,    //  after NAME= : an assignment-like word
    A_NONE      //  not an assignment
} s_astate_t;

typedef struct {
    s_parser_t *p;
    s_str_t text;
    s_vec_t subs; //  s_sub_t
    bool dynamic, quoted, plain;
    s_astate_t astate;
    bool assign;
    bool sub_glob;  //  a [...] that is a glob unless the word is an assignment
    bool subscript; //  NAME[...]= seen
    bool tilde_ok;  //  a ~ at this point starts a tilde prefix
    bool bracket;   //  unquoted [ seen
    s_str_t marks;  //  parallel to text: how each byte came to be
    char mode;      //  the mark of bytes added now
    s_vec_t refs;   //  s_ref_t
} s_wb_t;

static void
s_wb_init (s_wb_t *wb, s_parser_t *p)
{
    memset (wb, 0, sizeof (*wb));
    wb->p = p;
    wb->plain = true;
    wb->astate = A_NAME;
    wb->tilde_ok = true;
    wb->mode = M_LIT;
}

static void
s_wb_putc (s_wb_t *wb, char c)
{
    s_str_putc (wb->p->sh, &wb->text, c);
    s_str_putc (wb->p->sh, &wb->marks, wb->mode);
}

static void
s_wb_put (s_wb_t *wb, const char *src, size_t len)
{
    shell_t *sh = wb->p->sh;
    s_str_put (sh, &wb->text, src, len);
    if (len && s_str_reserve (sh, &wb->marks, len)) {
        memset (wb->marks.data + wb->marks.n, wb->mode, len);
        wb->marks.n += len;
    }
}

//  Bytes added in the given mode
static void
s_wb_putm (s_wb_t *wb, char mode, const char *src, size_t len)
{
    wb->mode = mode;
    s_wb_put (wb, src, len);
}

static void
s_wb_putcm (s_wb_t *wb, char mode, char c)
{
    wb->mode = mode;
    s_wb_putc (wb, c);
}

//  Drops what was added past n bytes
static void
s_wb_cut (s_wb_t *wb, size_t n)
{
    wb->text.n = n;
    wb->marks.n = n;
    while (wb->refs.n && ((s_ref_t *) wb->refs.data)[wb->refs.n - 1].at >= n)
        wb->refs.n--;
}

//  The bytes from at to the end were "$NAME" or "${NAME}" inside double
//  quotes: a reference when the innermost loop over NAME around it (not
//  past a function body) binds
static void
s_wb_ref (s_wb_t *wb, size_t at, const char *name, size_t n)
{
    s_parser_t *p = wb->p;
    for (s_loop_t *l = p->loop; l && l != p->loop_floor; l = l->parent) {
        if (!s_bind_charge (p->sh, 1))
            return;
        if (l->nlen != n || memcmp (l->name, name, n) != 0)
            continue;
        if (!l->bind)
            return;
        s_ref_t *ref = s_vec_push (p->sh, &wb->refs, sizeof (s_ref_t));
        if (ref) {
            ref->at = at;
            ref->len = wb->text.n - at;
            ref->loop = l;
        }
        return;
    }
}

//  Quoting or an expansion: the word is no longer a candidate NAME=
static void
s_wb_break (s_wb_t *wb)
{
    wb->plain = false;
    if (wb->astate == A_AFTERSUB && wb->sub_glob)
        wb->dynamic = true;
    if (wb->astate == A_NAME || wb->astate == A_AFTERSUB || wb->astate == A_PLUS)
        wb->astate = A_NONE;
}

static void
s_wb_sub (s_wb_t *wb, s_subkind_t kind, s_node_t *body)
{
    s_sub_t *sub = s_vec_push (wb->p->sh, &wb->subs, sizeof (s_sub_t));
    if (sub) {
        sub->kind = kind;
        sub->body = body;
    }
}

//  A bracket expression starting at the unquoted [ at i, as bash's
//  pattern matcher reads it: [!..] [^..], a ] first is a member, [:class:]
//  [=c=] [.c.] nest, an unquoted ] closes, a / means it is no bracket.
//  Sets *end to the closing ]; *dyn when a dynamic part is inside.
static bool
s_bracket_end (const char *text, const char *marks, size_t n, size_t i, size_t *end, bool *dyn)
{
    size_t j = i + 1;
    *dyn = false;
    if (j < n && marks[j] == M_LIT && (text[j] == '!' || text[j] == '^'))
        j++;
    if (j < n && text[j] == ']' && marks[j] != M_DYN)
        j++;
    while (j < n) {
        char c = text[j];
        if (c == '/')
            return false;
        if (marks[j] == M_DYN)
            *dyn = true;
        else if (c == ']' && marks[j] == M_LIT) {
            *end = j;
            return true;
        } else if (c == '[' && marks[j] == M_LIT && j + 1 < n &&
                   (text[j + 1] == ':' || text[j + 1] == '=' || text[j + 1] == '.')) {
            char kind = text[j + 1];
            size_t k = j + 2;
            while (k + 1 < n && !(text[k] == kind && text[k + 1] == ']') && text[k] != '/')
                k++;
            if (k + 1 < n && text[k] == kind) {
                j = k + 2;
                continue;
            }
        }
        j++;
    }
    return false;
}

static bool
s_glob_special (char c)
{
    return c == '*' || c == '?' || c == '[' || c == ']' || c == '\\';
}

//  shell_word_t.pattern from a word's text and marks (see shell.h); NULL
//  when nothing in it is a glob operator or dynamic, unless force. glob
//  false: unquoted * ? [ are literal too (assignment values). refs: loop
//  variables in it, which stand for their loop's pattern when it binds
static const char *
s_pattern_refs (shell_t *sh, const char *text, const char *marks, size_t n, bool glob, bool force,
                const s_wrefs_t *refs)
{
    s_str_t out = {0};
    bool special = false, last_dyn = false;
    size_t i = 0, r = 0;
    while (i < n && !sh->failed) {
        char c = text[i], m = marks ? marks[i] : M_QUOTED;
        while (refs && r < refs->n && refs->v[r].at < i)
            r++; //  inside a bracket expression: that is dynamic as a whole
        if (refs && r < refs->n && refs->v[r].at == i && s_loop_bound (sh, refs->v[r].loop)) {
            const s_ref_t *ref = &refs->v[r++];
            size_t blen = strlen (ref->loop->bind);
            if (s_bind_charge (sh, blen + 1)) {
                special = true;
                last_dyn = false;
                s_str_put (sh, &out, ref->loop->bind, blen);
                i += ref->len;
                continue;
            }
        }
        if (m == M_DYN) {
            special = true;
            if (!last_dyn)
                s_str_putc (sh, &out, '\x01');
            last_dyn = true;
            i++;
            continue;
        }
        if (m == M_LIT && glob && (c == '*' || c == '?')) {
            special = true;
            last_dyn = false;
            s_str_putc (sh, &out, c);
            i++;
            continue;
        }
        size_t end = 0;
        bool dyn = false;
        if (m == M_LIT && glob && c == '[' && s_bracket_end (text, marks, n, i, &end, &dyn)) {
            special = true;
            if (dyn) {
                //  What the bracket holds is unknown: any text at all
                if (!last_dyn)
                    s_str_putc (sh, &out, '\x01');
                last_dyn = true;
            } else {
                last_dyn = false;
                s_str_putc (sh, &out, '[');
                for (size_t k = i + 1; k < end; k++) {
                    if (marks[k] != M_LIT &&
                        (s_glob_special (text[k]) || strchr ("!^-", text[k]) != NULL))
                        s_str_putc (sh, &out, '\\');
                    s_str_putc (sh, &out, text[k]);
                }
                s_str_putc (sh, &out, ']');
            }
            i = end + 1;
            continue;
        }
        last_dyn = false;
        if (s_glob_special (c))
            s_str_putc (sh, &out, '\\');
        s_str_putc (sh, &out, c);
        i++;
    }
    if (!special && !force)
        return NULL;
    return s_str_cstr (sh, &out);
}

static const char *
s_pattern (shell_t *sh, const char *text, const char *marks, size_t n, bool glob, bool force)
{
    return s_pattern_refs (sh, text, marks, n, glob, force, NULL);
}

static s_word_t
s_wb_done (s_wb_t *wb)
{
    shell_t *sh = wb->p->sh;
    s_word_t word;
    memset (&word, 0, sizeof (word));
    word.subscript = wb->subscript && wb->assign;
    if (wb->sub_glob && (wb->astate == A_SUB || wb->astate == A_AFTERSUB || wb->astate == A_PLUS))
        wb->dynamic = true;
    word.w.text = s_str_cstr (sh, &wb->text);
    word.marks = s_str_cstr (sh, &wb->marks);
    //  An assignment's value is not globbed; an assignment-like argument
    //  is (s_word_glob)
    word.w.pattern = s_pattern (sh, word.w.text, word.marks, wb->text.n, !wb->assign, wb->dynamic);
    word.w.dynamic = wb->dynamic || word.w.pattern != NULL;
    word.w.quoted = wb->quoted;
    word.subs.v = wb->subs.data;
    word.subs.n = wb->subs.n;
    word.refs = wb->refs.data;
    word.nrefs = wb->refs.n;
    word.noglob = wb->assign;
    word.plain = wb->plain;
    word.assign = wb->assign;
    return word;
}

//  A word with an assignment's form used as an argument: globbed after all
static void
s_word_glob (shell_t *sh, s_word_t *word)
{
    word->w.pattern =
        s_pattern (sh, word->w.text, word->marks, strlen (word->w.text), true, word->w.dynamic);
    word->w.dynamic = word->w.dynamic || word->w.pattern != NULL;
    word->noglob = false;
}

static void s_read_dollar (s_parser_t *p, s_wb_t *wb, bool dq);
static void s_read_bq (s_parser_t *p, s_wb_t *wb, bool dq);

//  Reads the inside of "..." (term '"'), of '...' inside ${} within double
//  quotes (term '\''), or up to p->len (term 0: heredoc bodies, arithmetic)
static void
s_read_dq (s_parser_t *p, s_wb_t *wb, char term)
{
    size_t start = p->pos;
    if (term)
        p->pos++;
    while (!p->sh->failed) {
        p->pos = s_cont (p, p->pos);
        if (p->pos >= p->len) {
            if (term)
                s_perr (p, start,
                        term == '"' ? "unterminated double quote" : "unterminated single quote");
            return;
        }
        char c = p->buf[p->pos];
        if (term && c == term) {
            p->pos++;
            return;
        }
        if (c == '\\' && p->pos + 1 < p->len) {
            char next = p->buf[p->pos + 1];
            if (next == '$' || next == '`' || next == '\\' || (term == '"' && next == '"')) {
                s_wb_putcm (wb, M_QUOTED, next);
                p->pos += 2;
            } else {
                s_wb_putcm (wb, M_QUOTED, '\\');
                p->pos++;
            }
            continue;
        }
        if (c == '$') {
            s_read_dollar (p, wb, true);
            continue;
        }
        if (c == '`') {
            s_read_bq (p, wb, true);
            continue;
        }
        s_wb_putcm (wb, M_QUOTED, c);
        p->pos++;
    }
}

//  Parses a list up to the `)` that closes $( or <( or >(; p->pos is just
//  past the opening parenthesis. Returns the list, p->pos past the `)`.
static s_node_t *
s_read_paren_list (s_parser_t *p, size_t start, const char *what)
{
    if (!s_enter (p))
        return NULL;
    bool cond = p->cond, regex = p->regex;
    p->cond = p->regex = false;
    s_node_t *list = s_parse_list (p);
    s_tok_t *tok = &p->tok;
    if (!p->sh->failed) {
        if (!p->have)
            tok = NULL; //  cannot happen: s_parse_list stops on a peeked token
        if (!tok || tok->type == T_EOF)
            s_perr (p, start, "unterminated %s", what);
        else if (tok->type != T_RPAREN)
            s_syntax (p, tok);
        else
            p->have = false;
    }
    p->cond = cond;
    p->regex = regex;
    s_leave (p);
    return list;
}

//  $( ... ) -- p->pos on the `$`, body the offset past `(`
static void
s_read_cmdsub (s_parser_t *p, s_wb_t *wb, size_t body)
{
    size_t start = p->pos;
    p->pos = body;
    s_node_t *list = s_read_paren_list (p, start, "command substitution");
    if (p->sh->failed)
        return;
    s_wb_putm (wb, M_DYN, p->buf + start, p->pos - start);
    wb->dynamic = true;
    s_wb_sub (wb, SUB_CMD, list);
}

//  <( ... ) and >( ... ) -- p->pos on `<` or `>`, paren the offset of `(`
static void
s_read_procsub (s_parser_t *p, s_wb_t *wb, size_t paren)
{
    size_t start = p->pos;
    char dir = p->buf[start];
    s_wb_break (wb);
    p->pos = paren + 1;
    s_node_t *list = s_read_paren_list (p, start, "process substitution");
    if (p->sh->failed)
        return;
    s_wb_putm (wb, M_DYN, p->buf + start, p->pos - start);
    wb->dynamic = true;
    s_wb_sub (wb, dir == '<' ? SUB_PROCIN : SUB_PROCOUT, list);
}

//  Where the `))` closing an arithmetic expansion or command starts, or
//  S_NONE when the parentheses do not close that way (then it is a
//  command substitution or subshell holding a subshell, as in bash). i is
//  just past `((`. Quotes, $( ), ${ } and backquotes nest inside, tracked
//  on a small stack; nesting past max_depth gives up (S_NONE) and the
//  parser reports it.
static size_t
s_arith_end (const s_parser_t *p, size_t i)
{
    enum { IN_PAREN, IN_DQUOTE, IN_BRACE, IN_BACKQUOTE };
    unsigned char stack[S_DEPTH_MAX];
    size_t top = 0, max = p->sh->max_depth;
    while (i < p->len) {
        char c = p->buf[i];
        char next = i + 1 < p->len ? p->buf[i + 1] : 0;
        int where = top ? stack[top - 1] : IN_PAREN;
        if (c == '\\') {
            i += 2;
            continue;
        }
        if (where == IN_BACKQUOTE) {
            if (c == '`')
                top--;
            i++;
            continue;
        }
        int push = -1;
        if (c == '`')
            push = IN_BACKQUOTE;
        else if (c == '$' && next == '(') {
            push = IN_PAREN;
            i++;
        } else if (c == '$' && next == '{') {
            push = IN_BRACE;
            i++;
        } else if (where == IN_DQUOTE) {
            if (c == '"')
                top--;
        } else if (c == '"')
            push = IN_DQUOTE;
        else if (c == '\'') {
            const char *close = memchr (p->buf + i + 1, '\'', p->len - i - 1);
            if (!close)
                return S_NONE;
            i = (size_t) (close - p->buf);
        } else if (where == IN_BRACE) {
            if (c == '{')
                push = IN_BRACE;
            else if (c == '}')
                top--;
        } else if (c == '(')
            push = IN_PAREN;
        else if (c == ')') {
            if (top == 0)
                return next == ')' ? i : S_NONE;
            top--;
        }
        if (push >= 0) {
            if (top >= max)
                return S_NONE;
            stack[top++] = (unsigned char) push;
        }
        i++;
    }
    return S_NONE;
}

//  Reads [body, end) like a double-quoted string to find the substitutions
//  in an arithmetic expression; the text it adds is dropped by the caller
static void
s_scan_arith (s_parser_t *p, s_wb_t *wb, size_t body, size_t end)
{
    if (!s_enter (p))
        return;
    size_t len = p->len;
    p->len = end;
    p->pos = body;
    s_read_dq (p, wb, 0);
    p->len = len;
    p->pos = end + 2;
    s_leave (p);
}

//  ${ ... } -- p->pos on the `$`, body the offset past `{`
static void
s_read_param (s_parser_t *p, s_wb_t *wb, size_t body, bool dq)
{
    shell_t *sh = p->sh;
    size_t start = p->pos;
    if (!s_enter (p))
        return;
    size_t saved = wb->text.n;
    p->pos = body;
    size_t depth = 0;
    while (!sh->failed) {
        p->pos = s_cont (p, p->pos);
        if (p->pos >= p->len) {
            s_perr (p, start, "unterminated parameter expansion");
            break;
        }
        char c = p->buf[p->pos];
        if (c == '}') {
            p->pos++;
            if (depth == 0)
                break;
            depth--;
        } else if (c == '{') {
            depth++;
            p->pos++;
        } else if (c == '\\')
            p->pos = p->pos + 2 <= p->len ? p->pos + 2 : p->len;
        else if (c == '\'') {
            if (dq)
                s_read_dq (p, wb, '\'');
            else {
                const char *close = memchr (p->buf + p->pos + 1, '\'', p->len - p->pos - 1);
                if (!close) {
                    s_perr (p, p->pos, "unterminated single quote");
                    break;
                }
                p->pos = (size_t) (close - p->buf) + 1;
            }
        } else if (c == '"')
            s_read_dq (p, wb, '"');
        else if (c == '$')
            s_read_dollar (p, wb, dq);
        else if (c == '`')
            s_read_bq (p, wb, dq);
        else
            p->pos++;
    }
    s_leave (p);
    if (sh->failed)
        return;
    s_wb_cut (wb, saved);
    if (sh->home && p->pos - body == 5 && memcmp (p->buf + body, "HOME}", 5) == 0)
        s_wb_putm (wb, M_QUOTED, sh->home, sh->home_len);
    else {
        s_wb_putm (wb, M_DYN, p->buf + start, p->pos - start);
        wb->dynamic = true;
        size_t n = p->pos - body - 1, k = 0;
        while (k < n && s_is_name_char (p->buf[body + k]))
            k++;
        if (dq && k == n && n && s_is_name_start (p->buf[body]))
            s_wb_ref (wb, saved, p->buf + body, n);
        //  ${NAME=..} ${NAME:=..} assign; ${!NAME=..} assigns what NAME names
        if (memchr (p->buf + body, '=', n))
            s_bind_event (p, p->buf[body] == '!' ? NULL : p->buf + body, n, false, NULL);
    }
}

static void
s_put_utf8 (s_wb_t *wb, uint32_t cp)
{
    char out[4];
    size_t n;
    if (cp < 0x80) {
        out[0] = (char) cp;
        n = 1;
    } else if (cp < 0x800) {
        out[0] = (char) (0xC0 | (cp >> 6));
        out[1] = (char) (0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        out[0] = (char) (0xE0 | (cp >> 12));
        out[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char) (0x80 | (cp & 0x3F));
        n = 3;
    } else {
        out[0] = (char) (0xF0 | (cp >> 18));
        out[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char) (0x80 | (cp & 0x3F));
        n = 4;
    }
    s_wb_put (wb, out, n);
}

static int
s_hex (char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

//  $'...' -- p->pos on the quote. A NUL ends the string, as in bash.
static void
s_read_ansi (s_parser_t *p, s_wb_t *wb)
{
    size_t start = p->pos - 1;
    bool cut = false;
    p->pos++;
    wb->quoted = true;
    wb->mode = M_QUOTED;
    while (!p->sh->failed) {
        if (p->pos >= p->len) {
            s_perr (p, start, "unterminated $'...' string");
            return;
        }
        char c = p->buf[p->pos];
        if (c == '\'') {
            p->pos++;
            return;
        }
        if (c != '\\' || p->pos + 1 >= p->len) {
            if (!cut)
                s_wb_putc (wb, c);
            p->pos++;
            continue;
        }
        char e = p->buf[p->pos + 1];
        p->pos += 2;
        uint32_t value = 0;
        bool code_point = false;
        switch (e) {
        case 'a':
            value = 7;
            break;
        case 'b':
            value = 8;
            break;
        case 'e':
        case 'E':
            value = 27;
            break;
        case 'f':
            value = 12;
            break;
        case 'n':
            value = 10;
            break;
        case 'r':
            value = 13;
            break;
        case 't':
            value = 9;
            break;
        case 'v':
            value = 11;
            break;
        case '\\':
        case '\'':
        case '"':
        case '?':
            value = (unsigned char) e;
            break;
        case 'c':
            if (p->pos < p->len) {
                value = (unsigned char) p->buf[p->pos++] & 0x1F;
                break;
            }
            if (!cut)
                s_wb_put (wb, "\\c", 2);
            continue;
        case 'x':
        case 'u':
        case 'U': {
            size_t max = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            size_t n = 0;
            while (n < max && p->pos < p->len && s_hex (p->buf[p->pos]) >= 0) {
                value = value * 16 + (uint32_t) s_hex (p->buf[p->pos++]);
                n++;
            }
            if (n == 0 || (e != 'x' && value > 0x10FFFF)) {
                if (!cut) {
                    s_wb_putc (wb, '\\');
                    s_wb_putc (wb, e);
                    s_wb_put (wb, p->buf + p->pos - n, n);
                }
                continue;
            }
            code_point = e != 'x';
            break;
        }
        default:
            if (e >= '0' && e <= '7') {
                value = (uint32_t) (e - '0');
                for (int n = 0;
                     n < 2 && p->pos < p->len && p->buf[p->pos] >= '0' && p->buf[p->pos] <= '7';
                     n++)
                    value = value * 8 + (uint32_t) (p->buf[p->pos++] - '0');
                value &= 0xFF;
                break;
            }
            if (!cut) {
                s_wb_putc (wb, '\\');
                s_wb_putc (wb, e);
            }
            continue;
        }
        if (value == 0)
            cut = true;
        if (cut)
            continue;
        if (code_point)
            s_put_utf8 (wb, value);
        else
            s_wb_putc (wb, (char) value);
    }
}

//  $ and what follows, in or out of double quotes; p->pos on the `$`
static void
s_read_dollar (s_parser_t *p, s_wb_t *wb, bool dq)
{
    shell_t *sh = p->sh;
    s_wb_break (wb);
    size_t i = s_cont (p, p->pos + 1);
    if (i >= p->len) {
        s_wb_putcm (wb, M_QUOTED, '$');
        p->pos = i;
        return;
    }
    char c = p->buf[i];
    if (c == '(') {
        size_t j = s_cont (p, i + 1);
        if (j < p->len && p->buf[j] == '(') {
            size_t end = s_arith_end (p, j + 1);
            if (end != S_NONE) {
                size_t start = p->pos, saved = wb->text.n;
                s_bind_event (p, p->buf + j + 1, end - j - 1, false, NULL); //  $(( f = 1 ))
                s_scan_arith (p, wb, j + 1, end);
                if (sh->failed)
                    return;
                s_wb_cut (wb, saved);
                s_wb_putm (wb, M_DYN, p->buf + start, p->pos - start);
                wb->dynamic = true;
                return;
            }
        }
        s_read_cmdsub (p, wb, i + 1);
        return;
    }
    if (c == '{') {
        s_read_param (p, wb, i + 1, dq);
        return;
    }
    if (c == '\'' && !dq) {
        p->pos = i;
        s_read_ansi (p, wb);
        return;
    }
    if (c == '"' && !dq) {
        p->pos = i;
        wb->quoted = true;
        s_read_dq (p, wb, '"');
        return;
    }
    if (s_is_name_start (c)) {
        size_t j = i;
        while (j < p->len && s_is_name_char (p->buf[j]))
            j++;
        if (sh->home && j - i == 4 && memcmp (p->buf + i, "HOME", 4) == 0)
            s_wb_putm (wb, M_QUOTED, sh->home, sh->home_len);
        else {
            size_t at = wb->text.n;
            s_wb_putcm (wb, M_DYN, '$');
            s_wb_put (wb, p->buf + i, j - i);
            wb->dynamic = true;
            if (dq)
                s_wb_ref (wb, at, p->buf + i, j - i);
        }
        p->pos = j;
        return;
    }
    if (s_is_digit (c) || memchr ("@*#?-$!", c, 7)) {
        s_wb_putcm (wb, M_DYN, '$');
        s_wb_putc (wb, c);
        wb->dynamic = true;
        p->pos = i + 1;
        return;
    }
    //  A lone $ is literal
    s_wb_putcm (wb, M_QUOTED, '$');
    p->pos = i;
}

//  Parses text as a whole program in a parser of its own (backquotes,
//  heredoc bodies, strings handed to shells)
static s_node_t *
s_parse_text (shell_t *sh, const char *text, size_t len, size_t depth, const char *what)
{
    s_parser_t sub = {.sh = sh, .buf = text, .len = len, .depth = depth, .what = what};
    if (!s_enter (&sub))
        return NULL;
    return s_parse_program (&sub);
}

//  `...` -- p->pos on the opening backquote
static void
s_read_bq (s_parser_t *p, s_wb_t *wb, bool dq)
{
    shell_t *sh = p->sh;
    size_t start = p->pos++;
    s_str_t code = {0};
    bool closed = false;
    s_wb_break (wb);
    while (p->pos < p->len && !sh->failed) {
        char c = p->buf[p->pos];
        if (c == '`') {
            p->pos++;
            closed = true;
            break;
        }
        if (c == '\\' && p->pos + 1 < p->len) {
            char next = p->buf[p->pos + 1];
            if (next == '\n') {
                p->pos += 2;
                continue;
            }
            if (next == '$' || next == '`' || next == '\\' || (dq && next == '"')) {
                s_str_putc (sh, &code, next);
                p->pos += 2;
                continue;
            }
        }
        s_str_putc (sh, &code, c);
        p->pos++;
    }
    if (!closed) {
        s_perr (p, start, "unterminated backquote");
        return;
    }
    const char *text = s_str_cstr (sh, &code);
    s_node_t *list = s_parse_text (sh, text, code.n, p->depth, "backquote");
    if (sh->failed)
        return;
    s_wb_putm (wb, M_DYN, p->buf + start, p->pos - start);
    wb->dynamic = true;
    s_wb_sub (wb, SUB_CMD, list);
}

//  ~ at the start of a word or after = and : in an assignment
static void
s_tilde (s_wb_t *wb)
{
    s_parser_t *p = wb->p;
    shell_t *sh = p->sh;
    bool assign = wb->astate == A_VALUE;
    if (wb->astate == A_NAME)
        wb->astate = A_NONE;
    //  The tilde prefix runs to the first unquoted / (or : in assignments)
    size_t i = s_cont (p, p->pos + 1);
    bool empty = true;
    while (i < p->len) {
        char c = p->buf[i];
        if (c == '/' || s_is_meta (c) || (assign && c == ':'))
            break;
        if (c == '\\' || c == '\'' || c == '"' || c == '$' || c == '`') {
            //  A quoted tilde prefix is not expanded
            s_wb_putcm (wb, M_LIT, '~');
            p->pos++;
            return;
        }
        empty = false;
        i = s_cont (p, i + 1);
    }
    wb->plain = false;
    if (empty && sh->home)
        s_wb_putm (wb, M_QUOTED, sh->home, sh->home_len);
    else {
        //  ~user, ~+, ~-, or ~ without a home: left as written
        wb->mode = M_DYN;
        for (size_t k = p->pos; k < i; k = s_cont (p, k + 1))
            s_wb_putc (wb, p->buf[k]);
        wb->dynamic = true;
    }
    p->pos = i;
}

static void
s_wb_assign (s_wb_t *wb)
{
    wb->astate = A_VALUE;
    wb->assign = true;
    wb->sub_glob = false;
    wb->tilde_ok = true;
}

//  An unquoted literal character of a word
static void
s_wb_lit (s_wb_t *wb, char c, bool tilde)
{
    s_parser_t *p = wb->p;
    if (c == '~' && tilde) {
        s_tilde (wb);
        return;
    }
    wb->mode = M_LIT;
    p->pos++;
    switch (wb->astate) {
    case A_NAME:
        if (s_is_name_char (c) && !(wb->text.n == 0 && s_is_digit (c)))
            break;
        if (wb->text.n > 0 && c == '=') {
            s_wb_putc (wb, c);
            s_wb_assign (wb);
            return;
        }
        if (wb->text.n > 0 && c == '[') {
            wb->astate = A_SUB;
            wb->sub_glob = wb->subscript = true;
            s_wb_putc (wb, c);
            return;
        }
        if (wb->text.n > 0 && c == '+' && s_next_is (p, '=')) {
            wb->astate = A_PLUS;
            s_wb_putc (wb, c);
            return;
        }
        wb->astate = A_NONE;
        break;
    case A_SUB:
        if (c == ']')
            wb->astate = A_AFTERSUB;
        s_wb_putc (wb, c);
        return;
    case A_AFTERSUB:
    case A_PLUS:
        if (c == '=') {
            s_wb_putc (wb, c);
            s_wb_assign (wb);
            return;
        }
        if (wb->astate == A_AFTERSUB && c == '+' && s_next_is (p, '=')) {
            wb->astate = A_PLUS;
            s_wb_putc (wb, c);
            return;
        }
        if (wb->sub_glob)
            wb->dynamic = true;
        wb->astate = A_NONE;
        break;
    case A_VALUE:
        if (c == ':')
            wb->tilde_ok = true;
        break;
    case A_NONE:
        break;
    }
    switch (c) {
    case '*':
    case '?':
        wb->dynamic = true;
        break;
    case '[':
        wb->bracket = true;
        break;
    case ']':
        if (wb->bracket)
            wb->dynamic = true;
        break;
    default:
        break;
    }
    s_wb_putc (wb, c);
}

//  A word at p->pos (not a blank, not an operator). In regex mode (the
//  right side of =~ in [[ ]]) parentheses and | belong to the word.
static s_word_t
s_read_word (s_parser_t *p, bool regex)
{
    shell_t *sh = p->sh;
    s_wb_t wb;
    s_wb_init (&wb, p);
    size_t parens = 0, start = p->pos;
    while (!sh->failed) {
        p->pos = s_cont (p, p->pos);
        if (p->pos >= p->len)
            break;
        char c = p->buf[p->pos];
        bool tilde = wb.tilde_ok;
        wb.tilde_ok = false;
        if (c == '<' || c == '>') {
            size_t next = s_cont (p, p->pos + 1);
            if (next < p->len && p->buf[next] == '(') {
                s_read_procsub (p, &wb, next);
                continue;
            }
        }
        if (regex && (c == '(' || c == ')' || c == '|' || (parens && s_is_meta (c) && c != '\n'))) {
            if (c == '(')
                parens++;
            else if (c == ')') {
                if (!parens)
                    break;
                parens--;
            }
            wb.plain = false;
            s_wb_putcm (&wb, M_LIT, c);
            p->pos++;
            continue;
        }
        if (s_is_meta (c))
            break;
        switch (c) {
        case '\\':
            s_wb_break (&wb);
            wb.quoted = true;
            if (p->pos + 1 < p->len) {
                s_wb_putcm (&wb, M_QUOTED, p->buf[p->pos + 1]);
                p->pos += 2;
            } else {
                s_wb_putcm (&wb, M_QUOTED, '\\');
                p->pos++;
            }
            break;
        case '\'': {
            s_wb_break (&wb);
            wb.quoted = true;
            const char *close = memchr (p->buf + p->pos + 1, '\'', p->len - p->pos - 1);
            if (!close) {
                s_perr (p, p->pos, "unterminated single quote");
                break;
            }
            s_wb_putm (&wb, M_QUOTED, p->buf + p->pos + 1, (size_t) (close - p->buf) - p->pos - 1);
            p->pos = (size_t) (close - p->buf) + 1;
            break;
        }
        case '"':
            s_wb_break (&wb);
            wb.quoted = true;
            s_read_dq (p, &wb, '"');
            break;
        case '$':
            s_read_dollar (p, &wb, false);
            break;
        case '`':
            s_read_bq (p, &wb, false);
            break;
        default:
            s_wb_lit (&wb, c, tilde);
            break;
        }
    }
    s_word_t word = s_wb_done (&wb);
    word.raw = p->buf + start;
    word.rawlen = p->pos > start ? p->pos - start : 0;
    return word;
}

//  Brace expansion -------------------------------------------------------
//
//  Done the way bash does it (braces.c): on the word as written, before
//  any other expansion, so that quotes, escapes, ${..} and $(..) keep
//  their braces and commas; each resulting word is then read again as a
//  word of its own. The algorithm and its odd cases (a { that no valid
//  set follows is skipped, {a} and {} stay, a sequence that is not one
//  stays as text, a set needs an unquoted , or .. to close) follow bash.

typedef struct {
    const char **v;
    size_t n, cap;
} s_strs_t;

static bool
s_has_pair (const char *t, size_t n, char a, char b)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (t[i] == a && t[i + 1] == b)
            return true;
    return false;
}

static bool
s_brace_blank (const char *t, size_t n, size_t i)
{
    return i >= n || t[i] == ' ' || t[i] == '\t' || t[i] == '\n';
}

//  t[i] is the `(` of $( <( >( : the index of its `)`, or n
static size_t
s_brace_paren (const char *t, size_t n, size_t i)
{
    size_t depth = 0;
    char quote = 0;
    for (; i < n; i++) {
        char c = t[i];
        if (quote) {
            if (c == '\\' && quote == '"')
                i++;
            else if (c == quote)
                quote = 0;
            continue;
        }
        if (c == '\\')
            i++;
        else if (c == '\'' || c == '"' || c == '`')
            quote = c;
        else if (c == '(')
            depth++;
        else if (c == ')' && --depth == 0)
            return i;
    }
    return n;
}

//  bash's brace_gobbler: from *idx to the first unquoted `satisfy` at
//  level 0 (a } only once a , or .. was seen at level 0), 0 if none
static char
s_brace_gobble (const char *t, size_t n, size_t *idx, char satisfy)
{
    size_t i = *idx;
    size_t level = 0, commas = satisfy == '}' ? 0 : 1;
    char quoted = 0;
    bool pass = false;
    while (i < n) {
        char c = t[i];
        if (pass) {
            pass = false;
            i++;
            continue;
        }
        if (c == '\\' && (quoted == 0 || quoted == '"' || quoted == '`')) {
            pass = true;
            i++;
            continue;
        }
        if (c == '$' && i + 1 < n && t[i + 1] == '{' && quoted != '\'') {
            pass = true;
            i++;
            if (quoted == 0)
                level++;
            continue;
        }
        if (quoted) {
            if (c == quoted)
                quoted = 0;
            if (quoted == '"' && c == '$' && i + 1 < n && t[i + 1] == '(')
                i = s_brace_paren (t, n, i + 1);
            i++;
            continue;
        }
        if (c == '"' || c == '\'' || c == '`') {
            quoted = c;
            i++;
            continue;
        }
        if ((c == '$' || c == '<' || c == '>') && i + 1 < n && t[i + 1] == '(') {
            i = s_brace_paren (t, n, i + 1) + 1;
            continue;
        }
        if (c == satisfy && level == 0 && commas > 0) {
            //  A { between blanks, or before a } and after a blank, is not one
            if (c == '{' && (i == 0 || s_brace_blank (t, n, i - 1)) &&
                (s_brace_blank (t, n, i + 1) || t[i + 1] == '}')) {
                i++;
                continue;
            }
            *idx = i;
            return c;
        }
        if (c == '{')
            level++;
        else if (c == '}' && level)
            level--;
        else if (satisfy == '}' && c == ',' && level == 0)
            commas++;
        else if (satisfy == '}' && c == '.' && i + 1 < n && t[i + 1] == '.' &&
                 (i + 2 >= n || t[i + 2] != '}') && level == 0)
            commas++;
        i++;
    }
    *idx = i;
    return 0;
}

static bool
s_strs_push (shell_t *sh, s_strs_t *list, const char *str)
{
    if (list->n >= S_BRACE_WORDS_MAX) {
        s_fail (sh, "command too complex (brace expansion gives more than %d words)",
                S_BRACE_WORDS_MAX);
        return false;
    }
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 4;
        const char **v =
            s_realloc (sh, list->v, list->cap * sizeof (char *), cap * sizeof (char *));
        if (!v)
            return false;
        list->v = v;
        list->cap = cap;
    }
    list->v[list->n++] = str;
    return true;
}

static bool
s_strs_one (shell_t *sh, s_strs_t *list, const char *t, size_t n)
{
    memset (list, 0, sizeof (*list));
    return s_strs_push (sh, list, s_strndup (sh, t, n));
}

//  Every a[i] followed by every b[j], in that order
static bool
s_strs_product (shell_t *sh, const s_strs_t *a, const s_strs_t *b, s_strs_t *out)
{
    memset (out, 0, sizeof (*out));
    if (b->n && a->n > S_BRACE_WORDS_MAX / b->n) {
        s_fail (sh, "command too complex (brace expansion gives more than %d words)",
                S_BRACE_WORDS_MAX);
        return false;
    }
    for (size_t i = 0; i < a->n; i++)
        for (size_t j = 0; j < b->n; j++) {
            size_t la = strlen (a->v[i]), lb = strlen (b->v[j]);
            if (!s_charge (sh, la + lb + 1))
                return false;
            char *s = s_alloc (sh, la + lb + 1);
            if (!s)
                return false;
            memcpy (s, a->v[i], la);
            memcpy (s + la, b->v[j], lb + 1);
            if (!s_strs_push (sh, out, s))
                return false;
        }
    return true;
}

//  bash's legal_number on a NUL-terminated string
static bool
s_brace_number (const char *s, intmax_t *value)
{
    char *end;
    errno = 0;
    *value = strtoimax (s, &end, 10);
    if (errno || end == s)
        return false;
    while (*end == ' ' || *end == '\t')
        end++;
    return *s && !*end;
}

static bool
s_alpha (char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

//  bash's expand_seqterm and mkseq: 1 with the words in out, 0 when the
//  text is no sequence (or one bash refuses), -1 on failure
static int
s_brace_seq (shell_t *sh, const char *t, size_t n, s_strs_t *out)
{
    memset (out, 0, sizeof (*out));
    const char *text = s_strndup (sh, t, n);
    const char *dots = strstr (text, "..");
    if (sh->failed)
        return -1;
    if (!dots)
        return 0;
    size_t lhs_l = (size_t) (dots - text);
    const char *lhs = s_strndup (sh, text, lhs_l);
    const char *rhs = dots + 2;
    if (!lhs[0] || !rhs[0])
        return 0;
    enum { ST_BAD, ST_INT, ST_CHAR, ST_ZINT };
    intmax_t tl = 0, tr = 0;
    int lhs_t = s_brace_number (lhs, &tl)           ? ST_INT
                : (s_alpha (lhs[0]) && lhs[1] == 0) ? ST_CHAR
                                                    : ST_BAD;
    int rhs_t;
    char *ep = NULL;
    if (s_is_digit (rhs[0]) || ((rhs[0] == '+' || rhs[0] == '-') && s_is_digit (rhs[1]))) {
        rhs_t = ST_INT;
        errno = 0;
        tr = strtoimax (rhs, &ep, 10);
        if (errno == ERANGE || (*ep != 0 && *ep != '.'))
            rhs_t = ST_BAD;
    } else if (s_alpha (rhs[0]) && (rhs[1] == 0 || rhs[1] == '.')) {
        rhs_t = ST_CHAR;
        ep = (char *) rhs + 1;
    } else
        rhs_t = ST_BAD;
    intmax_t incr = 1;
    size_t tlen = n;
    if (rhs_t != ST_BAD) {
        char *oep = ep;
        errno = 0;
        if (ep[0] == '.' && ep[1] == '.' && ep[2])
            incr = strtoimax (ep + 2, &ep, 10);
        if (*ep != 0 || errno == ERANGE)
            rhs_t = ST_BAD;
        tlen -= (size_t) (ep - oep);
    }
    if (lhs_t != rhs_t || lhs_t == ST_BAD)
        return 0;
    intmax_t start, end;
    int width = 0, type = lhs_t;
    if (lhs_t == ST_CHAR) {
        start = (unsigned char) lhs[0];
        end = (unsigned char) rhs[0];
    } else {
        start = tl;
        end = tr;
        int ll = (int) lhs_l, rl = (int) (tlen - lhs_l - 2);
        if (ll > 1 && lhs[0] == '0')
            width = ll, type = ST_ZINT;
        if (ll > 2 && lhs[0] == '-' && lhs[1] == '0')
            width = ll, type = ST_ZINT;
        if (rl > 1 && rhs[0] == '0' && width < rl)
            width = rl, type = ST_ZINT;
        if (rl > 2 && rhs[0] == '-' && rhs[1] == '0' && width < rl)
            width = rl, type = ST_ZINT;
        if (width < ll && type == ST_ZINT)
            width = ll;
        if (width < rl && type == ST_ZINT)
            width = rl;
    }
    //  mkseq
    if (incr == 0)
        incr = 1;
    if (start > end && incr > 0)
        incr = -incr;
    else if (start < end && incr < 0)
        incr = -incr;
    if ((end < 0 && start > INTMAX_MAX - 2 + end) || (end > 0 && start < INTMAX_MIN + 3 + end))
        return 0; //  end - start would overflow
    intmax_t span = end - start < 0 ? start - end : end - start;
    intmax_t step = incr < 0 ? (incr == INTMAX_MIN ? INTMAX_MAX : -incr) : incr;
    if (span / step > INT_MAX - 3)
        return 0;
    if (span / step + 1 > S_BRACE_WORDS_MAX) {
        s_fail (sh, "command too complex (brace expansion gives more than %d words)",
                S_BRACE_WORDS_MAX);
        return -1;
    }
    intmax_t v = start;
    for (;;) {
        char buf[64];
        if (type == ST_INT)
            snprintf (buf, sizeof (buf), "%jd", v);
        else if (type == ST_ZINT)
            snprintf (buf, sizeof (buf), "%0*d", width > 40 ? 40 : width, (int) v);
        else {
            buf[0] = (char) v;
            buf[1] = 0;
        }
        if (width > 40 && type == ST_ZINT) {
            s_fail (sh, "command too complex (brace sequence width)");
            return -1;
        }
        if (!s_charge (sh, strlen (buf) + 1) ||
            !s_strs_push (sh, out, s_strndup (sh, buf, strlen (buf))))
            return -1;
        if ((incr > 0 && v > INTMAX_MAX - incr) || (incr < 0 && v < INTMAX_MIN - incr))
            break;
        v += incr;
        if ((incr < 0 && v < end) || (incr > 0 && v > end))
            break;
    }
    return 1;
}

static bool s_brace_expand (shell_t *sh, const char *t, size_t n, size_t depth, s_strs_t *out);

//  The inside of a set: split at unquoted level-0 commas, each part expanded
static bool
s_brace_amble (shell_t *sh, const char *t, size_t n, size_t depth, s_strs_t *out)
{
    memset (out, 0, sizeof (*out));
    size_t start = 0, i = 0;
    char c = 1;
    while (c && !sh->failed) {
        c = s_brace_gobble (t, n, &i, ',');
        s_strs_t part;
        if (!s_brace_expand (sh, t + start, i - start, depth + 1, &part))
            return false;
        for (size_t k = 0; k < part.n; k++)
            if (!s_strs_push (sh, out, part.v[k]))
                return false;
        i++;
        start = i;
    }
    return !sh->failed;
}

//  bash's brace_expand
static bool
s_brace_expand (shell_t *sh, const char *t, size_t n, size_t depth, s_strs_t *out)
{
    memset (out, 0, sizeof (*out));
    if (!s_charge (sh, n + 1))
        return false;
    if (depth >= S_DEPTH_MAX) {
        s_fail (sh, "command too complex (brace expansion nesting)");
        return false;
    }
    size_t i = 0;
    char c;
    for (;;) {
        c = s_brace_gobble (t, n, &i, '{');
        if (!c)
            break;
        size_t j = i + 1;
        if (!s_charge (sh, n - i))
            return false;
        if (s_brace_gobble (t, n, &j, '}'))
            break;
        i++;
    }
    if (c != '{')
        return s_strs_one (sh, out, t, n);
    size_t pre = i, start = ++i;
    c = s_brace_gobble (t, n, &i, '}');
    if (!c)
        return s_strs_one (sh, out, t, n);
    const char *amble = t + start;
    size_t alen = i - start;
    bool sep = false;
    for (size_t k = 0; k < alen; k++) {
        if (amble[k] == '\\') {
            k++;
            continue;
        }
        if (amble[k] == ',') {
            sep = true;
            break;
        }
    }
    s_strs_t tack;
    if (sep) {
        if (!s_brace_amble (sh, amble, alen, depth, &tack))
            return false;
    } else {
        int seq = s_brace_seq (sh, amble, alen, &tack);
        if (seq < 0)
            return false;
        if (seq == 0) {
            if (i + 1 >= n)
                return s_strs_one (sh, out, t, n);
            //  Not a sequence: kept as text, what follows may still expand
            if (!s_strs_one (sh, &tack, t + start - 1, alen + 2))
                return false;
        }
    }
    s_strs_t preamble, result;
    if (!s_strs_one (sh, &preamble, t, pre) || !s_strs_product (sh, &preamble, &tack, &result))
        return false;
    if (i + 1 < n) {
        s_strs_t post;
        if (!s_brace_expand (sh, t + i + 1, n - i - 1, depth + 1, &post) ||
            !s_strs_product (sh, &result, &post, out))
            return false;
        return true;
    }
    *out = result;
    return true;
}

//  A word's source without line continuations (outside single quotes)
static const char *
s_raw_clean (shell_t *sh, const char *raw, size_t len, size_t *outlen)
{
    if (!s_has_pair (raw, len, '\\', '\n')) {
        *outlen = len;
        return raw;
    }
    s_str_t out = {0};
    char quote = 0;
    for (size_t i = 0; i < len; i++) {
        char c = raw[i];
        if (quote == '\'') {
            if (c == '\'')
                quote = 0;
        } else if (c == '\\' && i + 1 < len) {
            if (raw[i + 1] == '\n') {
                i++;
                continue;
            }
            s_str_putc (sh, &out, c);
            c = raw[++i];
        } else if (c == '"')
            quote = quote ? 0 : '"';
        else if (c == '\'' && !quote)
            quote = '\'';
        s_str_putc (sh, &out, c);
    }
    *outlen = out.n;
    return s_str_cstr (sh, &out);
}

//  Could brace expansion change this word at all
static bool
s_brace_candidate (const s_word_t *word)
{
    const char *r = word->raw;
    size_t n = word->rawlen;
    return r && n >= 3 && memchr (r, '{', n) && memchr (r, '}', n) &&
           (memchr (r, ',', n) || s_has_pair (r, n, '.', '.'));
}

//  The words a word becomes after brace expansion, each read again (they
//  replace the word and its substitutions). Empty unquoted results are
//  dropped, as bash drops null fields. Returns the count; *words the
//  words, or NULL when nothing was expanded (use the word as it is).
static size_t
s_brace_words (s_parser_t *p, const s_word_t *word, s_word_t **words)
{
    shell_t *sh = p->sh;
    *words = NULL;
    if (!s_brace_candidate (word))
        return 1;
    size_t n;
    const char *t = s_raw_clean (sh, word->raw, word->rawlen, &n);
    s_strs_t pieces;
    if (!s_brace_expand (sh, t, n, 0, &pieces))
        return 0;
    if (pieces.n == 1 && strlen (pieces.v[0]) == n && memcmp (pieces.v[0], t, n) == 0)
        return 1;
    s_word_t *out = s_alloc (sh, pieces.n * sizeof (s_word_t));
    if (!out)
        return 0;
    size_t count = 0;
    for (size_t i = 0; i < pieces.n && !sh->failed; i++) {
        size_t len = strlen (pieces.v[i]);
        if (!s_charge (sh, len + 1))
            return 0;
        s_parser_t sub = {
            .sh = sh, .buf = pieces.v[i], .len = len, .depth = p->depth, .what = p->what};
        s_word_t piece = s_read_word (&sub, false);
        if (sh->failed)
            return 0;
        if (sub.pos != len) {
            s_perr (p, p->pos, "cannot read the brace expansion of a word");
            return 0;
        }
        if (!piece.w.text[0] && !piece.w.quoted && !piece.w.dynamic)
            continue;
        out[count++] = piece;
    }
    *words = out;
    return count;
}

//  Heredocs ----------------------------------------------------------------

static void
s_heredoc_body (s_parser_t *p, s_heredoc_t *hd, size_t body, size_t end)
{
    shell_t *sh = p->sh;
    s_str_t text = {0};
    if (hd->strip) {
        size_t i = body;
        while (i < end) {
            while (i < end && p->buf[i] == '\t')
                i++;
            const char *nl = memchr (p->buf + i, '\n', end - i);
            size_t eol = nl ? (size_t) (nl - p->buf) + 1 : end;
            s_str_put (sh, &text, p->buf + i, eol - i);
            i = eol;
        }
    } else
        s_str_put (sh, &text, p->buf + body, end - body);
    const char *copy = s_str_cstr (sh, &text);
    shell_word_t *target = &hd->redir->r.target;
    target->pattern = NULL;
    if (hd->quoted) {
        target->text = copy;
        target->quoted = true;
        return;
    }
    //  Unquoted: expanded like a double-quoted string, substitutions run
    s_parser_t sub = {.sh = sh, .buf = copy, .len = text.n, .depth = p->depth, .what = "heredoc"};
    //  ${f:=x} and $(( f = 1 )) in it assign where the command runs
    sub.loop = p->loop;
    sub.loop_floor = p->loop_floor;
    sub.in_func = p->in_func;
    if (!s_enter (&sub))
        return;
    s_wb_t wb;
    s_wb_init (&wb, &sub);
    s_read_dq (&sub, &wb, 0);
    if (sub.hd_head)
        s_perr (&sub, sub.len, "unterminated heredoc (delimiter '%s')", sub.hd_head->delim);
    s_word_t word = s_wb_done (&wb);
    if (sh->failed)
        return;
    target->text = word.w.text;
    target->dynamic = wb.dynamic;
    target->quoted = false;
    hd->redir->subs = word.subs;
}

//  After a newline: the bodies of the heredocs started on that line
static void
s_read_heredocs (s_parser_t *p)
{
    while (p->hd_head && !p->sh->failed) {
        s_heredoc_t *hd = p->hd_head;
        p->hd_head = hd->next;
        if (!p->hd_head)
            p->hd_tail = NULL;
        if (!hd->quoted)
            p->hd_unquoted--;
        size_t body = p->pos, end = 0;
        bool joined = false, found = false;
        while (p->pos < p->len) {
            const char *nl = memchr (p->buf + p->pos, '\n', p->len - p->pos);
            size_t eol = nl ? (size_t) (nl - p->buf) : p->len;
            size_t ls = p->pos;
            if (hd->strip)
                while (ls < eol && p->buf[ls] == '\t')
                    ls++;
            if (!joined && eol - ls == hd->dlen && memcmp (p->buf + ls, hd->delim, hd->dlen) == 0) {
                end = p->pos;
                p->pos = nl ? eol + 1 : eol;
                found = true;
                break;
            }
            if (!hd->quoted) {
                //  backslash-newline joins the next line to this one
                size_t n = 0;
                while (n < eol - p->pos && p->buf[eol - 1 - n] == '\\')
                    n++;
                joined = n % 2 == 1;
            }
            p->pos = nl ? eol + 1 : eol;
        }
        if (!found) {
            char delim[48];
            snprintf (delim, sizeof (delim), "%.40s", hd->delim);
            for (char *c = delim; *c; c++)
                if ((unsigned char) *c < 0x20 || (unsigned char) *c >= 0x7f || *c == '\'')
                    *c = '?';
            s_perr (p, body, "unterminated heredoc (delimiter '%s')", delim);
            return;
        }
        s_heredoc_body (p, hd, body, end);
    }
}

//  Tokens ------------------------------------------------------------------

//  p->pos on `<` or `>` (not followed by `(`): the operator into tok
static void
s_lex_redir (s_parser_t *p, s_tok_t *tok)
{
    size_t i1 = s_cont (p, p->pos + 1);
    char c = p->buf[p->pos];
    char c1 = i1 < p->len ? p->buf[i1] : 0;
    size_t i2 = i1 < p->len ? s_cont (p, i1 + 1) : p->len;
    char c2 = i2 < p->len ? p->buf[i2] : 0;
    tok->type = T_REDIR;
    if (c == '<') {
        if (c1 == '<' && c2 == '<') {
            tok->op = R_TLESS;
            p->pos = i2 + 1;
        } else if (c1 == '<' && c2 == '-') {
            tok->op = R_DLESSDASH;
            p->pos = i2 + 1;
        } else if (c1 == '<') {
            tok->op = R_DLESS;
            p->pos = i1 + 1;
        } else if (c1 == '&') {
            tok->op = R_LESSAND;
            p->pos = i1 + 1;
        } else if (c1 == '>') {
            tok->op = R_LESSGREAT;
            p->pos = i1 + 1;
        } else {
            tok->op = R_LESS;
            p->pos++;
        }
    } else {
        if (c1 == '>') {
            tok->op = R_DGREAT;
            p->pos = i1 + 1;
        } else if (c1 == '&') {
            tok->op = R_GREATAND;
            p->pos = i1 + 1;
        } else if (c1 == '|') {
            tok->op = R_CLOBBER;
            p->pos = i1 + 1;
        } else {
            tok->op = R_GREAT;
            p->pos++;
        }
    }
}

static s_word_t
s_make_word (const char *text)
{
    s_word_t word;
    memset (&word, 0, sizeof (word));
    word.w.text = text;
    word.plain = true;
    return word;
}

static s_tok_t
s_lex (s_parser_t *p)
{
    shell_t *sh = p->sh;
    s_tok_t tok;
    memset (&tok, 0, sizeof (tok));
    tok.fd = -2;
    while (!sh->failed) {
        p->pos = s_cont (p, p->pos);
        if (p->pos >= p->len)
            break;
        char c = p->buf[p->pos];
        if (s_is_blank (c))
            p->pos++;
        else if (c == '#') {
            const char *nl = memchr (p->buf + p->pos, '\n', p->len - p->pos);
            p->pos = nl ? (size_t) (nl - p->buf) : p->len;
        } else if (c == '\n' && p->cond) {
            p->pos++;
            s_read_heredocs (p);
        } else
            break;
    }
    tok.start = tok.end = p->pos;
    if (sh->failed || p->pos >= p->len) {
        if (p->hd_head && !sh->failed) {
            char delim[48];
            snprintf (delim, sizeof (delim), "%.40s", p->hd_head->delim);
            for (char *c = delim; *c; c++)
                if ((unsigned char) *c < 0x20 || (unsigned char) *c >= 0x7f || *c == '\'')
                    *c = '?';
            s_perr (p, p->pos, "unterminated heredoc (delimiter '%s')", delim);
        }
        tok.type = T_EOF;
        return tok;
    }
    char c = p->buf[p->pos];
    size_t i1 = s_cont (p, p->pos + 1);
    char c1 = i1 < p->len ? p->buf[i1] : 0;
    size_t i2 = i1 < p->len ? s_cont (p, i1 + 1) : p->len;
    char c2 = i2 < p->len ? p->buf[i2] : 0;
    bool word = false;
    switch (c) {
    case '\n':
        tok.type = T_NEWLINE;
        p->pos++;
        tok.end = p->pos;
        s_read_heredocs (p);
        return tok;
    case ';':
        if (c1 == ';' && c2 == '&') {
            tok.type = T_DSEMIAMP;
            p->pos = i2 + 1;
        } else if (c1 == ';') {
            tok.type = T_DSEMI;
            p->pos = i1 + 1;
        } else if (c1 == '&') {
            tok.type = T_SEMIAMP;
            p->pos = i1 + 1;
        } else {
            tok.type = T_SEMI;
            p->pos++;
        }
        break;
    case '&':
        if (c1 == '&') {
            tok.type = T_AND;
            p->pos = i1 + 1;
        } else if (c1 == '>' && !p->cond) {
            tok.type = T_REDIR;
            tok.op = c2 == '>' ? R_ANDDGREAT : R_ANDGREAT;
            p->pos = c2 == '>' ? i2 + 1 : i1 + 1;
        } else {
            tok.type = T_AMP;
            p->pos++;
        }
        break;
    case '|':
        if (c1 == '|') {
            tok.type = T_OR;
            p->pos = i1 + 1;
        } else if (c1 == '&') {
            tok.type = T_PIPEAMP;
            p->pos = i1 + 1;
        } else {
            tok.type = T_PIPE;
            p->pos++;
        }
        break;
    case '(':
        tok.type = T_LPAREN;
        p->pos++;
        break;
    case ')':
        tok.type = T_RPAREN;
        p->pos++;
        break;
    case '<':
    case '>':
        if (c1 == '(')
            word = true;
        else if (p->cond) {
            //  In [[ ]], < and > compare strings
            tok.type = T_WORD;
            tok.word = s_make_word (c == '<' ? "<" : ">");
            p->pos++;
        } else
            s_lex_redir (p, &tok);
        break;
    default:
        word = true;
        break;
    }
    if (word) {
        bool regex = p->regex;
        p->regex = false;
        tok.type = T_WORD;
        tok.word = s_read_word (p, regex);
        if (sh->failed) {
            tok.type = T_EOF;
            return tok;
        }
        //  2>file, {fd}>file: the word is the descriptor
        const char *text = tok.word.w.text;
        size_t tlen = strlen (text);
        //  A number is a descriptor only if it fits in an int (as in bash:
        //  9999999999>f is the word 9999999999 and >f)
        bool number = tok.word.plain && s_all_digits (text);
        long long value = 0;
        for (size_t k = 0; number && k < tlen; k++) {
            value = value * 10 + (text[k] - '0');
            if (value > INT_MAX)
                number = false;
        }
        bool named = tok.word.plain && tlen > 2 && text[0] == '{' && text[tlen - 1] == '}' &&
                     s_is_name_start (text[1]);
        for (size_t k = 1; named && k + 1 < tlen; k++)
            named = s_is_name_char (text[k]);
        size_t at = s_cont (p, p->pos);
        if (!p->cond && (number || named) && at < p->len &&
            (p->buf[at] == '<' || p->buf[at] == '>')) {
            size_t after = s_cont (p, at + 1);
            if (!(after < p->len && p->buf[after] == '(')) {
                int fd = number ? (int) value : -1;
                if (named)
                    s_bind_event (p, text + 1, tlen - 2, false, NULL); //  {NAME}> sets NAME
                p->pos = at;
                s_lex_redir (p, &tok);
                tok.fd = fd;
                memset (&tok.word, 0, sizeof (tok.word));
            }
        }
    }
    tok.end = p->pos;
    return tok;
}

static s_tok_t *
s_peek (s_parser_t *p)
{
    if (!p->have) {
        p->tok = s_lex (p);
        p->have = true;
    }
    return &p->tok;
}

static void
s_consume (s_parser_t *p)
{
    p->have = false;
}

static bool
s_kw (const s_tok_t *tok, const char *kw)
{
    return tok->type == T_WORD && tok->word.plain && strcmp (tok->word.w.text, kw) == 0;
}

//  Reserved words that close a list
static bool
s_is_closer (const s_tok_t *tok)
{
    static const char *const closers[] = {"}", "fi", "then", "else", "elif", "do", "done", "esac"};
    if (tok->type != T_WORD || !tok->word.plain)
        return false;
    for (size_t i = 0; i < sizeof (closers) / sizeof (closers[0]); i++)
        if (strcmp (tok->word.w.text, closers[i]) == 0)
            return true;
    return false;
}

//  Reserved words and tokens that start a compound command
static bool
s_is_opener (const s_tok_t *tok)
{
    static const char *const openers[] = {"{",      "if",   "while", "until",   "for",
                                          "select", "case", "[[",    "function"};
    if (tok->type == T_LPAREN)
        return true;
    if (tok->type != T_WORD || !tok->word.plain)
        return false;
    for (size_t i = 0; i < sizeof (openers) / sizeof (openers[0]); i++)
        if (strcmp (tok->word.w.text, openers[i]) == 0)
            return true;
    return false;
}

static void
s_skip_newlines (s_parser_t *p)
{
    while (!p->sh->failed && s_peek (p)->type == T_NEWLINE)
        s_consume (p);
}

static bool
s_expect_kw (s_parser_t *p, const char *kw)
{
    s_tok_t *tok = s_peek (p);
    if (p->sh->failed)
        return false;
    if (!s_kw (tok, kw)) {
        s_syntax (p, tok);
        return false;
    }
    s_consume (p);
    return true;
}

static bool
s_expect (s_parser_t *p, s_ttype_t type)
{
    s_tok_t *tok = s_peek (p);
    if (p->sh->failed)
        return false;
    if (tok->type != type) {
        s_syntax (p, tok);
        return false;
    }
    s_consume (p);
    return true;
}

//  --------------------------------------------------------------------------
//  Parser

static s_node_t *
s_node_new (s_parser_t *p, s_nkind_t kind)
{
    s_node_t *node = s_alloc (p->sh, sizeof (s_node_t));
    if (node)
        node->kind = kind;
    return node;
}

static void
s_add_kid (s_parser_t *p, s_node_t *node, s_node_t *kid)
{
    if (node && kid)
        s_vec_pushp (p->sh, &node->kids, kid);
}

static bool
s_count_simple (s_parser_t *p)
{
    shell_t *sh = p->sh;
    if (++sh->nsimple > sh->max_commands) {
        s_fail (sh, "too many commands (max_commands %zu)", sh->max_commands);
        return false;
    }
    return true;
}

//  Words collected for a node: texts and flags contiguous (they become
//  shell_cmd_t.argv as they are), substitutions on the side
typedef struct {
    s_vec_t words; //  shell_word_t
    s_vec_t subs;  //  s_isubs_t, for the few words that have some
    s_vec_t refs;  //  s_irefs_t, likewise
} s_wlist_t;

typedef struct {
    size_t index;
    s_subs_t subs;
} s_isubs_t;

typedef struct {
    size_t index;
    s_wrefs_t refs;
} s_irefs_t;

static s_wrefs_t
s_word_refs (const s_word_t *word)
{
    s_wrefs_t refs = {
        .v = word->refs, .n = word->nrefs, .marks = word->marks, .noglob = word->noglob};
    return refs;
}

static void
s_push_word (shell_t *sh, s_wlist_t *list, const s_word_t *word)
{
    shell_word_t *slot = s_vec_push (sh, &list->words, sizeof (shell_word_t));
    if (!slot)
        return;
    *slot = word->w;
    if (word->subs.n) {
        s_isubs_t *isubs = s_vec_push (sh, &list->subs, sizeof (s_isubs_t));
        if (isubs) {
            isubs->index = list->words.n - 1;
            isubs->subs = word->subs;
        }
    }
    if (word->nrefs) {
        s_irefs_t *irefs = s_vec_push (sh, &list->refs, sizeof (s_irefs_t));
        if (irefs) {
            irefs->index = list->words.n - 1;
            irefs->refs = s_word_refs (word);
        }
    }
}

//  References of the words, one per word; NULL when there are none
static s_wrefs_t *
s_wlist_refs (shell_t *sh, const s_wlist_t *list)
{
    if (!list->refs.n)
        return NULL;
    s_wrefs_t *refs = s_alloc (sh, list->words.n * sizeof (s_wrefs_t));
    if (!refs)
        return NULL;
    memset (refs, 0, list->words.n * sizeof (s_wrefs_t));
    const s_irefs_t *irefs = list->refs.data;
    for (size_t i = 0; i < list->refs.n; i++)
        refs[irefs[i].index] = irefs[i].refs;
    return refs;
}

static void
s_wlist_take (shell_t *sh, s_wlist_t *list, shell_word_t **words, s_subs_t **subs, size_t *count)
{
    *words = list->words.data;
    *subs = NULL;
    *count = 0;
    if (list->subs.n) {
        *subs = s_alloc (sh, list->words.n * sizeof (s_subs_t));
        if (!*subs)
            return;
        s_isubs_t *isubs = list->subs.data;
        for (size_t i = 0; i < list->subs.n; i++)
            (*subs)[isubs[i].index] = isubs[i].subs;
    }
    *count = list->words.n;
}

static void
s_set_words (s_parser_t *p, s_node_t *node, s_wlist_t *list)
{
    if (node) {
        node->argv_refs = s_wlist_refs (p->sh, list);
        s_wlist_take (p->sh, list, &node->argv, &node->argv_subs, &node->argc);
    }
}

static s_node_t *
s_words_node (s_parser_t *p, s_wlist_t *words)
{
    s_node_t *node = s_node_new (p, N_WORDS);
    s_set_words (p, node, words);
    return node;
}

static s_redir_t *
s_parse_redir (s_parser_t *p)
{
    shell_t *sh = p->sh;
    s_tok_t op = *s_peek (p);
    s_consume (p);
    s_tok_t *tok = s_peek (p);
    if (sh->failed)
        return NULL;
    if (tok->type != T_WORD) {
        s_syntax (p, tok);
        return NULL;
    }
    s_word_t *word = &tok->word;
    s_consume (p);
    if (op.op != R_DLESS && op.op != R_DLESSDASH && op.op != R_TLESS) {
        //  Brace expansion to other than one word is an ambiguous redirect
        s_word_t *pieces = NULL;
        size_t npieces = s_brace_words (p, word, &pieces);
        if (sh->failed)
            return NULL;
        if (pieces && npieces != 1) {
            s_perr (p, tok->start, "ambiguous redirect (brace expansion)");
            return NULL;
        }
        if (pieces)
            word = &pieces[0];
    }
    s_redir_t *rd = s_alloc (sh, sizeof (s_redir_t));
    if (!rd)
        return NULL;
    rd->r.target = word->w;
    rd->subs = word->subs;
    rd->refs = s_word_refs (word);
    int fd = 1;
    switch (op.op) {
    case R_LESS:
        rd->r.kind = SHELL_REDIR_IN;
        fd = 0;
        break;
    case R_GREAT:
    case R_CLOBBER:
        rd->r.kind = SHELL_REDIR_OUT;
        break;
    case R_DGREAT:
        rd->r.kind = SHELL_REDIR_APPEND;
        break;
    case R_LESSGREAT:
        rd->r.kind = SHELL_REDIR_INOUT;
        fd = 0;
        break;
    case R_LESSAND:
        rd->r.kind = SHELL_REDIR_DUP_IN;
        fd = 0;
        break;
    case R_GREATAND:
        //  >&file (no fd given, not a number, not -) is &>file
        if (op.fd == -2 && !word->w.dynamic && !s_all_digits (word->w.text) &&
            strcmp (word->w.text, "-") != 0)
            rd->r.kind = SHELL_REDIR_OUT_ALL;
        else
            rd->r.kind = SHELL_REDIR_DUP_OUT;
        break;
    case R_ANDGREAT:
    case R_ANDDGREAT:
        rd->r.kind = SHELL_REDIR_OUT_ALL;
        break;
    case R_TLESS:
        rd->r.kind = SHELL_REDIR_HERESTRING;
        fd = 0;
        break;
    case R_DLESS:
    case R_DLESSDASH: {
        rd->r.kind = SHELL_REDIR_HEREDOC;
        fd = 0;
        s_heredoc_t *hd = s_alloc (sh, sizeof (s_heredoc_t));
        if (!hd)
            return NULL;
        hd->redir = rd;
        hd->delim = word->w.text;
        hd->dlen = strlen (word->w.text);
        hd->strip = op.op == R_DLESSDASH;
        hd->quoted = word->w.quoted;
        if (!hd->quoted)
            p->hd_unquoted++;
        if (p->hd_tail)
            p->hd_tail->next = hd;
        else
            p->hd_head = hd;
        p->hd_tail = hd;
        //  The body comes later; substitutions in the delimiter never run
        rd->r.target.text = "";
        rd->r.target.dynamic = false;
        rd->r.target.quoted = hd->quoted;
        rd->subs.v = NULL;
        rd->subs.n = 0;
        rd->refs.n = 0;
        break;
    }
    }
    rd->r.fd = op.fd == -2 ? fd : op.fd;
    return rd;
}

static void
s_parse_trailing_redirs (s_parser_t *p, s_node_t *node)
{
    while (!p->sh->failed && s_peek (p)->type == T_REDIR) {
        s_redir_t *rd = s_parse_redir (p);
        if (rd && node)
            s_vec_pushp (p->sh, &node->redirs, rd);
    }
}

//  A word's text with its marks
static void
s_wb_append (s_wb_t *wb, const s_word_t *word)
{
    size_t n = strlen (word->w.text);
    if (!word->marks) {
        s_wb_putm (wb, M_QUOTED, word->w.text, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        s_wb_putcm (wb, word->marks[i], word->w.text[i]);
}

//  NAME=( ... ) -- word is NAME= (or NAME+=), p->pos on the `(`
static s_word_t
s_read_array (s_parser_t *p, const s_word_t *word)
{
    shell_t *sh = p->sh;
    size_t start = p->pos;
    s_wb_t wb;
    s_wb_init (&wb, p);
    wb.plain = false;
    wb.assign = true;
    wb.astate = A_VALUE;
    wb.dynamic = word->w.dynamic;
    wb.quoted = word->w.quoted;
    s_wb_append (&wb, word);
    s_wb_putcm (&wb, M_QUOTED, '(');
    for (size_t i = 0; i < word->subs.n; i++)
        s_wb_sub (&wb, word->subs.v[i].kind, word->subs.v[i].body);
    p->pos++;
    bool first = true;
    while (!sh->failed) {
        s_tok_t *tok = s_peek (p);
        if (sh->failed)
            break;
        if (tok->type == T_NEWLINE) {
            s_consume (p);
            continue;
        }
        if (tok->type == T_RPAREN) {
            s_consume (p);
            break;
        }
        if (tok->type != T_WORD) {
            if (tok->type == T_EOF)
                s_perr (p, start, "unterminated array assignment");
            else
                s_syntax (p, tok);
            break;
        }
        s_word_t *elem = &tok->word;
        s_consume (p);
        if (!first)
            s_wb_putcm (&wb, M_QUOTED, ' ');
        first = false;
        s_wb_append (&wb, elem);
        wb.dynamic = wb.dynamic || elem->w.dynamic;
        wb.quoted = wb.quoted || elem->w.quoted;
        for (size_t i = 0; i < elem->subs.n; i++)
            s_wb_sub (&wb, elem->subs.v[i].kind, elem->subs.v[i].body);
    }
    s_wb_putcm (&wb, M_QUOTED, ')');
    s_word_t array = s_wb_done (&wb);
    array.assign = true;
    return array;
}

//  NAME=( right after the word. A dynamic word also counts ($name=( is
//  what eval "$name=(...)" parses once $name is expanded; bash refuses it
//  anywhere else, so reading it as an array costs nothing)
static bool
s_array_follows (s_parser_t *p, const s_word_t *word)
{
    size_t n = strlen (word->w.text);
    return !p->have && (word->assign || word->w.dynamic) && n > 0 && word->w.text[n - 1] == '=' &&
           p->pos < p->len && p->buf[p->pos] == '(';
}

static s_node_t *s_parse_fundef (s_parser_t *p, const char *name);

//  What a simple command may assign, for loop variables (s_bind_event)
typedef enum {
    B_NONE,
    B_ARGS,   //  its arguments name variables (read, unset, let, getopts)
    B_EVAL,   //  its arguments are run later or elsewhere in this shell
    B_ANY,    //  runs code nobody sees here (source) or defines aliases
    B_DECL,   //  declare and the like: NAME or NAME=value; -n makes a reference
    B_OPTION, //  one option takes a name (printf -v, wait -p)
    B_COND    //  [[ ]]: arithmetic operands may assign
} s_bkind_t;

static s_bkind_t
s_bind_kind (const char *name, char *letter)
{
    static const struct {
        const char *name;
        s_bkind_t kind;
    } table[] = {
        {"read", B_ARGS},   {"unset", B_ARGS},    {"let", B_ARGS},      {"getopts", B_ARGS},
        {"eval", B_EVAL},   {"trap", B_EVAL},     {"mapfile", B_EVAL},  {"readarray", B_EVAL},
        {"source", B_ANY},  {".", B_ANY},         {"alias", B_ANY},     {"enable", B_ANY},
        {"fc", B_ANY},      {"declare", B_DECL},  {"typeset", B_DECL},  {"local", B_DECL},
        {"export", B_DECL}, {"readonly", B_DECL}, {"printf", B_OPTION}, {"wait", B_OPTION},
        {"[[", B_COND},
    };
    for (size_t i = 0; i < sizeof (table) / sizeof (table[0]); i++)
        if (!strcmp (name, table[i].name)) {
            *letter = !strcmp (name, "printf") ? 'v' : 'p';
            return table[i].kind;
        }
    return B_NONE;
}

//  The events of a simple command just parsed (see s_bind_event)
static void
s_bind_scan (s_parser_t *p, const s_node_t *node)
{
    const shell_word_t *argv = node->argv;
    size_t argc = node->argc;
    bool seen = p->loop || p->in_func; //  a local event can matter
    //  A shell started with BASH_ENV or an rc file runs code of its own
    for (size_t i = 0; i < argc + node->nassigns; i++) {
        const char *t = i < argc ? argv[i].text : node->assigns[i - argc].text;
        if (!strncmp (t, "BASH_ENV=", 9) || !strncmp (t, "ENV=", 4) || !strcmp (t, "--rcfile") ||
            !strcmp (t, "--init-file")) {
            s_bind_event (p, NULL, 0, true, NULL);
            break;
        }
    }
    for (size_t i = 0; seen && i < node->nassigns; i++) {
        const char *t = node->assigns[i].text;
        const char *eq = strchr (t, '=');
        s_bind_event (p, t, eq ? (size_t) (eq - t) : strlen (t), false, NULL);
    }
    //  The command that runs in this shell: past command, builtin, time
    size_t k = 0;
    while (k < argc && !argv[k].dynamic &&
           (!strcmp (argv[k].text, "command") || !strcmp (argv[k].text, "builtin") ||
            !strcmp (argv[k].text, "time"))) {
        k++;
        while (k < argc && !argv[k].dynamic && argv[k].text[0] == '-')
            k++;
    }
    if (k >= argc)
        return;
    if (argv[k].dynamic) {
        //  Could be eval or source; "$f" alone is harmless whatever it is
        const s_wrefs_t *refs = node->argv_refs ? &node->argv_refs[k] : NULL;
        bool whole =
            refs && refs->n == 1 && refs->v[0].at == 0 && refs->v[0].len == strlen (argv[k].text);
        if (k + 1 < argc || !whole)
            s_bind_event (p, NULL, 0, true, NULL);
        return;
    }
    char letter = 0;
    s_bkind_t kind = s_bind_kind (argv[k].text, &letter);
    if (!strcmp (argv[k].text, "trap")) {
        //  An action that runs only when the shell exits assigns too late
        size_t j = k + 1 < argc && !argv[k + 1].dynamic && !strcmp (argv[k + 1].text, "--") ? k + 3
                                                                                            : k + 2;
        bool exit_only = j < argc;
        for (; exit_only && j < argc; j++)
            exit_only =
                !argv[j].dynamic && (!strcmp (argv[j].text, "EXIT") || !strcmp (argv[j].text, "0"));
        if (exit_only)
            return;
    }
    bool nameref = false;
    for (size_t j = k + 1; kind == B_DECL && j < argc; j++)
        if (!argv[j].dynamic && (argv[j].text[0] == '-' || argv[j].text[0] == '+') &&
            strchr (argv[j].text, 'n'))
            nameref = true;
    bool global = kind == B_EVAL || nameref;
    switch (kind) {
    case B_NONE:
        return;
    case B_ANY:
        s_bind_event (p, NULL, 0, true, NULL);
        return;
    case B_ARGS:
    case B_EVAL:
    case B_COND:
        for (size_t j = k + 1; (seen || global) && j < argc; j++) {
            if (!argv[j].dynamic)
                s_bind_event_str (p, argv[j].text, global);
            else if (kind != B_COND) //  [[ $x -eq 1 ]] with x='f=1': see shell.h
                s_bind_event (p, NULL, 0, global, NULL);
        }
        return;
    case B_DECL:
        for (size_t j = k + 1; (seen || global) && j < argc; j++) {
            const char *t = argv[j].text;
            const char *eq = strchr (t, '=');
            size_t n = eq ? (size_t) (eq - t) : strlen (t);
            if (!argv[j].dynamic)
                s_bind_event (p, t, nameref ? strlen (t) : n, global, NULL);
            else if (!nameref && eq && !memchr (t, '$', n) && !memchr (t, '`', n) &&
                     !memchr (t, '*', n) && !memchr (t, '?', n) && !memchr (t, '[', n) &&
                     !memchr (t, '~', n) && !memchr (t, '<', n) && !memchr (t, '>', n))
                s_bind_event (p, t, n, global, NULL); //  NAME="$value"
            else
                s_bind_event (p, NULL, 0, global, NULL);
        }
        return;
    case B_OPTION:
        for (size_t j = k + 1; seen && j < argc; j++) {
            const char *t = argv[j].text;
            if (argv[j].dynamic) {
                s_bind_event (p, NULL, 0, false, NULL);
                break;
            }
            if (t[0] != '-' || !strcmp (t, "--"))
                break;
            s_bind_event_str (p, t, false);
            if (strchr (t + 1, letter) && j + 1 < argc) {
                if (argv[j + 1].dynamic)
                    s_bind_event (p, NULL, 0, false, NULL);
                else
                    s_bind_event_str (p, argv[j + 1].text, false);
            }
        }
        return;
    }
}

//  A simple command; prefix words (time, -p, coproc NAME) come first
static s_node_t *
s_parse_simple (s_parser_t *p, const s_word_t *prefix, size_t nprefix)
{
    shell_t *sh = p->sh;
    s_node_t *node = s_node_new (p, N_SIMPLE);
    if (!node || !s_count_simple (p))
        return NULL;
    s_wlist_t argv = {0}, assigns = {0};
    for (size_t i = 0; i < nprefix; i++)
        s_push_word (sh, &argv, &prefix[i]);
    bool decl = false;
    size_t braced = 0; //  words brace expansion made
    s_tok_t first = *s_peek (p);
    while (!sh->failed) {
        s_tok_t *tok = s_peek (p);
        if (sh->failed)
            break;
        if (tok->type == T_WORD) {
            s_word_t word = tok->word;
            s_consume (p);
            if (argv.words.n == 0 && (word.assign || s_array_follows (p, &word))) {
                if (s_array_follows (p, &word))
                    word = s_read_array (p, &word);
                s_push_word (sh, &assigns, &word);
                continue;
            }
            if (argv.words.n == 0 && assigns.words.n == 0 && node->redirs.n == 0 &&
                s_peek (p)->type == T_LPAREN) {
                sh->nsimple--;
                return s_parse_fundef (p, word.w.text);
            }
            if (decl && s_array_follows (p, &word)) {
                word = s_read_array (p, &word);
                s_push_word (sh, &argv, &word);
                continue;
            }
            s_word_t *pieces = NULL;
            size_t npieces = s_brace_words (p, &word, &pieces);
            if (sh->failed)
                break;
            if (pieces) {
                braced += npieces;
                if (braced > S_BRACE_WORDS_MAX) {
                    s_fail (sh, "command too complex (brace expansion gives more than %d words)",
                            S_BRACE_WORDS_MAX);
                    break;
                }
            }
            bool first_word = argv.words.n == 0;
            for (size_t k = 0; k < (pieces ? npieces : 1); k++) {
                s_word_t *one = pieces ? &pieces[k] : &word;
                if (one->assign && !decl)
                    s_word_glob (sh, one); //  x[1]=y as an argument is a glob
                s_push_word (sh, &argv, one);
            }
            if (first_word && argv.words.n >= 1) {
                const char *t = ((shell_word_t *) argv.words.data)[0].text;
                decl = !strcmp (t, "declare") || !strcmp (t, "typeset") || !strcmp (t, "local") ||
                       !strcmp (t, "export") || !strcmp (t, "readonly");
            }
        } else if (tok->type == T_REDIR) {
            s_redir_t *rd = s_parse_redir (p);
            if (rd)
                s_vec_pushp (sh, &node->redirs, rd);
        } else
            break;
    }
    if (sh->failed)
        return NULL;
    if (argv.words.n == 0 && assigns.words.n == 0 && node->redirs.n == 0) {
        s_syntax (p, &first);
        return NULL;
    }
    s_set_words (p, node, &argv);
    node->assign_refs = s_wlist_refs (sh, &assigns);
    s_wlist_take (sh, &assigns, &node->assigns, &node->assign_subs, &node->nassigns);
    s_bind_scan (p, node);
    return node;
}

//  A function's body (a compound command) and the N_FUNC node for it; both
//  function forms end here.
static s_node_t *
s_parse_fundef_body (s_parser_t *p, const char *name)
{
    if (!s_enter (p))
        return NULL;
    s_skip_newlines (p);
    s_tok_t at = *s_peek (p);
    //  The body runs when called: "$NAME" does not stand for the loops
    //  around, and what it assigns counts everywhere
    s_loop_t *floor = p->loop_floor;
    p->loop_floor = p->loop;
    p->in_func++;
    s_node_t *body = s_parse_command (p);
    if (p->hd_unquoted)
        s_bind_event (p, NULL, 0, true, NULL); //  a heredoc's text comes after the body
    p->in_func--;
    p->loop_floor = floor;
    s_leave (p);
    if (p->sh->failed || !body)
        return NULL;
    if (body->kind == N_SIMPLE && !body->compound) {
        s_syntax (p, &at);
        return NULL;
    }
    s_node_t *fn = s_node_new (p, N_FUNC);
    if (fn) {
        fn->name = name;
        s_add_kid (p, fn, body);
    }
    return fn;
}

//  NAME ( ) body -- NAME already read, the `(` peeked
static s_node_t *
s_parse_fundef (s_parser_t *p, const char *name)
{
    s_consume (p);
    if (!s_expect (p, T_RPAREN))
        return NULL;
    return s_parse_fundef_body (p, name);
}

//  (( ... )) as a command, p->pos just past `((`' first `(`; end from
//  s_arith_end. Only its substitutions run.
static s_node_t *
s_parse_arith_cmd (s_parser_t *p, size_t end)
{
    s_wb_t wb;
    s_wb_init (&wb, p);
    s_bind_event (p, p->buf + p->pos + 1, end - p->pos - 1, false, NULL); //  (( f = 1 ))
    s_scan_arith (p, &wb, p->pos + 1, end);
    s_word_t word = s_wb_done (&wb);
    if (p->sh->failed)
        return NULL;
    s_wlist_t words = {0};
    s_push_word (p->sh, &words, &word);
    //  A compound command around the expression, so it can take redirections
    s_node_t *node = s_node_new (p, N_COMPOUND);
    s_add_kid (p, node, s_words_node (p, &words));
    return node;
}

static s_node_t *
s_compound (s_parser_t *p)
{
    return s_node_new (p, N_COMPOUND);
}

//  A list that must not be empty, then the keyword that closes it
static s_node_t *
s_parse_body (s_parser_t *p, const char *closer)
{
    s_node_t *list = s_parse_list (p);
    if (p->sh->failed || !list)
        return NULL;
    s_tok_t *tok = s_peek (p);
    if (list->kids.n == 0 || (closer && !s_kw (tok, closer))) {
        s_syntax (p, tok);
        return NULL;
    }
    if (closer)
        s_consume (p);
    return list;
}

static s_node_t *
s_parse_group (s_parser_t *p)
{
    s_consume (p); //  {
    if (!s_enter (p))
        return NULL;
    s_node_t *node = s_compound (p);
    s_add_kid (p, node, s_parse_body (p, "}"));
    s_leave (p);
    return node;
}

static s_node_t *
s_parse_subshell (s_parser_t *p)
{
    s_consume (p); //  (
    if (p->pos < p->len && p->buf[p->pos] == '(') {
        size_t end = s_arith_end (p, p->pos + 1);
        if (end != S_NONE)
            return s_parse_arith_cmd (p, end);
    }
    if (!s_enter (p))
        return NULL;
    s_node_t *node = s_compound (p);
    s_node_t *list = s_parse_list (p);
    s_tok_t *tok = s_peek (p);
    if (!p->sh->failed && (tok->type != T_RPAREN || !list || list->kids.n == 0))
        s_syntax (p, tok);
    else
        s_consume (p);
    s_add_kid (p, node, list);
    s_leave (p);
    return node;
}

static s_node_t *
s_parse_if (s_parser_t *p)
{
    s_consume (p); //  if
    if (!s_enter (p))
        return NULL;
    s_node_t *node = s_compound (p);
    s_add_kid (p, node, s_parse_body (p, "then"));
    s_add_kid (p, node, s_parse_list (p));
    while (!p->sh->failed) {
        s_tok_t *tok = s_peek (p);
        if (node && node->kids.n &&
            ((s_node_t **) node->kids.data)[node->kids.n - 1]->kids.n == 0) {
            s_syntax (p, tok); //  empty then/else part
            break;
        }
        if (s_kw (tok, "elif")) {
            s_consume (p);
            s_add_kid (p, node, s_parse_body (p, "then"));
            s_add_kid (p, node, s_parse_list (p));
        } else if (s_kw (tok, "else")) {
            s_consume (p);
            s_add_kid (p, node, s_parse_body (p, "fi"));
            break;
        } else if (s_kw (tok, "fi")) {
            s_consume (p);
            break;
        } else {
            s_syntax (p, tok);
            break;
        }
    }
    s_leave (p);
    return node;
}

static s_node_t *
s_parse_while (s_parser_t *p)
{
    s_consume (p); //  while, until
    if (!s_enter (p))
        return NULL;
    s_node_t *node = s_compound (p);
    if (node)
        node->loop = true;
    s_add_kid (p, node, s_parse_body (p, "do"));
    s_add_kid (p, node, s_parse_body (p, "done"));
    s_leave (p);
    return node;
}

//  do ... done, or { ... } (bash accepts it after for and select)
static s_node_t *
s_parse_do_group (s_parser_t *p)
{
    s_tok_t *tok = s_peek (p);
    if (s_kw (tok, "{"))
        return s_parse_group (p);
    if (!s_expect_kw (p, "do"))
        return NULL;
    return s_parse_body (p, "done");
}

//  The pattern "$NAME" stands for in a loop over this one word, or NULL
static const char *
s_bind_pattern (shell_t *sh, const s_word_t *word)
{
    if (word->subs.n || word->assign || s_brace_candidate (word))
        return NULL;
    if (!word->w.dynamic)
        return s_pattern (sh, word->w.text, NULL, strlen (word->w.text), true, true);
    if (!word->w.pattern || strchr (word->w.pattern, '\x01'))
        return NULL;
    return word->w.pattern;
}

static bool
s_is_name (const char *text)
{
    if (!s_is_name_start (*text))
        return false;
    while (s_is_name_char (*text))
        text++;
    return *text == 0;
}

static s_node_t *
s_parse_for (s_parser_t *p)
{
    shell_t *sh = p->sh;
    bool is_for = s_kw (s_peek (p), "for");
    s_consume (p);
    if (!s_enter (p))
        return NULL;
    s_node_t *node = s_compound (p);
    if (node)
        node->loop = true;
    s_loop_t *loop = NULL;
    s_tok_t *tok = s_peek (p);
    if (is_for && tok->type == T_LPAREN && p->pos < p->len && p->buf[p->pos] == '(') {
        //  for (( init; test; step ))
        s_consume (p);
        size_t end = s_arith_end (p, p->pos + 1);
        if (end == S_NONE) {
            s_perr (p, tok->start, "syntax error in for (( ))");
            s_leave (p);
            return NULL;
        }
        s_add_kid (p, node, s_parse_arith_cmd (p, end));
        if (s_peek (p)->type == T_SEMI)
            s_consume (p);
    } else {
        if (tok->type != T_WORD) {
            s_syntax (p, tok);
            s_leave (p);
            return NULL;
        }
        s_word_t name = tok->word, first;
        memset (&first, 0, sizeof (first));
        s_consume (p);
        s_skip_newlines (p);
        tok = s_peek (p);
        s_wlist_t words = {0};
        bool in = false;
        if (s_kw (tok, "in")) {
            in = true;
            s_consume (p);
            while (!sh->failed) {
                tok = s_peek (p);
                if (tok->type == T_WORD) {
                    if (!words.words.n)
                        first = tok->word;
                    s_push_word (sh, &words, &tok->word);
                    s_consume (p);
                } else if (tok->type == T_SEMI || tok->type == T_NEWLINE) {
                    s_consume (p);
                    break;
                } else {
                    s_syntax (p, tok);
                    break;
                }
            }
        } else if (tok->type == T_SEMI)
            s_consume (p);
        s_add_kid (p, node, s_words_node (p, &words));
        if (node)
            node->loop_from = 1; //  the words are expanded once
        loop = s_alloc (sh, sizeof (s_loop_t));
        if (loop) {
            loop->name = name.w.text;
            loop->nlen = strlen (name.w.text);
            loop->parent = p->loop;
            if (is_for && in && words.words.n == 1 && name.plain && s_is_name (name.w.text) &&
                !s_special_var (name.w.text))
                loop->bind = s_bind_pattern (sh, &first);
            //  The header assigns name for the loops around
            s_bind_event (p, name.w.text, strlen (name.w.text), false, loop);
            p->loop = loop;
        }
    }
    s_skip_newlines (p);
    s_add_kid (p, node, s_parse_do_group (p));
    if (loop) {
        p->loop = loop->parent;
        //  A heredoc of the body whose text comes after done is expanded
        //  in the body, out of the loop's sight
        if (p->hd_unquoted)
            loop->tainted = true;
    }
    s_leave (p);
    return node;
}

static s_node_t *
s_parse_case (s_parser_t *p)
{
    shell_t *sh = p->sh;
    s_consume (p); //  case
    if (!s_enter (p))
        return NULL;
    s_node_t *node = s_compound (p);
    s_tok_t *tok = s_peek (p);
    if (tok->type != T_WORD) {
        s_syntax (p, tok);
        s_leave (p);
        return NULL;
    }
    s_wlist_t subject = {0};
    s_push_word (sh, &subject, &tok->word);
    s_consume (p);
    s_add_kid (p, node, s_words_node (p, &subject));
    s_skip_newlines (p);
    if (!s_expect_kw (p, "in")) {
        s_leave (p);
        return NULL;
    }
    while (!sh->failed) {
        s_skip_newlines (p);
        tok = s_peek (p);
        if (s_kw (tok, "esac")) {
            s_consume (p);
            break;
        }
        if (tok->type == T_LPAREN) {
            s_consume (p);
            tok = s_peek (p);
        }
        s_wlist_t patterns = {0};
        while (!sh->failed) {
            if (tok->type != T_WORD) {
                s_syntax (p, tok);
                break;
            }
            s_push_word (sh, &patterns, &tok->word);
            s_consume (p);
            tok = s_peek (p);
            if (tok->type != T_PIPE)
                break;
            s_consume (p);
            tok = s_peek (p);
        }
        if (!s_expect (p, T_RPAREN))
            break;
        s_add_kid (p, node, s_words_node (p, &patterns));
        s_add_kid (p, node, s_parse_list (p));
        tok = s_peek (p);
        if (tok->type == T_DSEMI || tok->type == T_SEMIAMP || tok->type == T_DSEMIAMP)
            s_consume (p);
        else if (!s_kw (tok, "esac")) {
            s_syntax (p, tok);
            break;
        }
    }
    s_leave (p);
    return node;
}

//  [[ ... ]]: one command, argv "[[" ... "]]"; < > && || ( ) are words
static s_node_t *
s_parse_cond (s_parser_t *p)
{
    shell_t *sh = p->sh;
    size_t start = s_peek (p)->start;
    s_wlist_t words = {0};
    s_push_word (sh, &words, &p->tok.word);
    p->cond = true;
    s_consume (p);
    if (!s_enter (p) || !s_count_simple (p)) {
        p->cond = false;
        return NULL;
    }
    while (!sh->failed) {
        s_tok_t *tok = s_peek (p);
        if (sh->failed)
            break;
        if (s_kw (tok, "]]")) {
            s_push_word (sh, &words, &tok->word);
            p->cond = false;
            s_consume (p);
            break;
        }
        const char *op = NULL;
        switch (tok->type) {
        case T_WORD:
            s_push_word (sh, &words, &tok->word);
            if (strcmp (tok->word.w.text, "=~") == 0 && tok->word.plain) {
                s_consume (p);
                p->regex = true;
                continue;
            }
            break;
        case T_AND:
            op = "&&";
            break;
        case T_OR:
            op = "||";
            break;
        case T_LPAREN:
            op = "(";
            break;
        case T_RPAREN:
            op = ")";
            break;
        case T_EOF:
            s_perr (p, start, "unterminated [[");
            break;
        default:
            s_syntax (p, tok);
            break;
        }
        if (sh->failed)
            break;
        if (op) {
            s_word_t word = s_make_word (op);
            s_push_word (sh, &words, &word);
        }
        s_consume (p);
    }
    p->cond = false;
    p->regex = false;
    s_leave (p);
    if (sh->failed)
        return NULL;
    s_node_t *node = s_node_new (p, N_SIMPLE);
    if (node) {
        node->compound = true;
        s_set_words (p, node, &words);
        s_bind_scan (p, node);
    }
    return node;
}

static s_node_t *
s_parse_function (s_parser_t *p)
{
    s_consume (p); //  function
    s_tok_t *tok = s_peek (p);
    if (tok->type != T_WORD) {
        s_syntax (p, tok);
        return NULL;
    }
    const char *name = tok->word.w.text;
    s_consume (p);
    tok = s_peek (p);
    if (tok->type == T_LPAREN)
        return s_parse_fundef (p, name);
    return s_parse_fundef_body (p, name);
}

//  coproc [NAME] command
static s_node_t *
s_parse_coproc (s_parser_t *p)
{
    s_consume (p);
    s_tok_t *tok = s_peek (p);
    s_node_t *node = NULL;
    if (s_is_opener (tok))
        node = s_parse_command (p);
    else if (tok->type == T_WORD) {
        s_word_t word = tok->word;
        s_consume (p);
        if (s_is_opener (s_peek (p))) {
            s_bind_event_str (p, word.w.text, false); //  coproc NAME sets NAME
            node = s_parse_command (p);
        } else
            node = s_parse_simple (p, &word, 1);
    } else
        node = s_parse_command (p);
    if (node)
        node->background = true;
    return node;
}

static s_node_t *
s_parse_command (s_parser_t *p)
{
    shell_t *sh = p->sh;
    s_tok_t *tok = s_peek (p);
    if (sh->failed)
        return NULL;
    s_node_t *node = NULL;
    if (tok->type == T_LPAREN)
        node = s_parse_subshell (p);
    else if (tok->type == T_WORD && tok->word.plain) {
        const char *t = tok->word.w.text;
        if (!strcmp (t, "{"))
            node = s_parse_group (p);
        else if (!strcmp (t, "if"))
            node = s_parse_if (p);
        else if (!strcmp (t, "while") || !strcmp (t, "until"))
            node = s_parse_while (p);
        else if (!strcmp (t, "for") || !strcmp (t, "select"))
            node = s_parse_for (p);
        else if (!strcmp (t, "case"))
            node = s_parse_case (p);
        else if (!strcmp (t, "[["))
            node = s_parse_cond (p);
        else if (!strcmp (t, "function"))
            return s_parse_function (p);
        else if (!strcmp (t, "coproc"))
            return s_parse_coproc (p);
        else if (s_is_closer (tok)) {
            s_syntax (p, tok);
            return NULL;
        } else
            return s_parse_simple (p, NULL, 0);
    } else if (tok->type == T_WORD || tok->type == T_REDIR)
        return s_parse_simple (p, NULL, 0);
    else {
        s_syntax (p, tok);
        return NULL;
    }
    //  Compound commands, [[ ]] and (( )) take redirections after them
    if (node && (node->kind == N_COMPOUND || node->compound))
        s_parse_trailing_redirs (p, node);
    return node;
}

static s_node_t *
s_parse_pipeline (s_parser_t *p)
{
    shell_t *sh = p->sh;
    s_tok_t *tok = s_peek (p);
    while (s_kw (tok, "!")) {
        s_consume (p);
        tok = s_peek (p);
    }
    s_node_t *first = NULL;
    if (s_kw (tok, "time")) {
        //  The keyword times a whole pipeline; before a simple command it
        //  is kept as argv[0] so that the command shows wrapper "time"
        s_word_t prefix[2];
        prefix[0] = tok->word;
        size_t nprefix = 1;
        s_consume (p);
        tok = s_peek (p);
        if (s_kw (tok, "-p")) {
            prefix[nprefix++] = tok->word;
            s_consume (p);
            tok = s_peek (p);
        }
        if (s_kw (tok, "!") || s_is_opener (tok)) {
            while (s_kw (tok, "!")) {
                s_consume (p);
                tok = s_peek (p);
            }
            first = s_parse_command (p);
        } else
            first = s_parse_simple (p, prefix, nprefix);
    } else
        first = s_parse_command (p);
    if (sh->failed || !first)
        return NULL;
    s_node_t *node = s_node_new (p, N_PIPELINE);
    s_add_kid (p, node, first);
    s_node_t *last = first;
    while (!sh->failed) {
        tok = s_peek (p);
        if (tok->type != T_PIPE && tok->type != T_PIPEAMP)
            break;
        if (tok->type == T_PIPEAMP && (last->kind == N_SIMPLE || last->kind == N_COMPOUND)) {
            //  |& is 2>&1 |
            s_redir_t *rd = s_alloc (sh, sizeof (s_redir_t));
            if (rd) {
                rd->r.kind = SHELL_REDIR_DUP_OUT;
                rd->r.fd = 2;
                rd->r.target.text = "1";
                s_vec_pushp (sh, &last->redirs, rd);
            }
        }
        s_consume (p);
        s_skip_newlines (p);
        last = s_parse_command (p);
        if (!last)
            return NULL;
        s_add_kid (p, node, last);
    }
    //  A lone command needs no pipeline node
    return node && node->kids.n == 1 ? first : node;
}

static s_node_t *
s_parse_andor (s_parser_t *p)
{
    s_node_t *node = s_node_new (p, N_ANDOR);
    s_node_t *pipeline = s_parse_pipeline (p);
    if (!pipeline)
        return NULL;
    s_add_kid (p, node, pipeline);
    while (!p->sh->failed) {
        s_tok_t *tok = s_peek (p);
        if (tok->type != T_AND && tok->type != T_OR)
            break;
        s_consume (p);
        s_skip_newlines (p);
        pipeline = s_parse_pipeline (p);
        if (!pipeline)
            return NULL;
        s_add_kid (p, node, pipeline);
    }
    return node && node->kids.n == 1 ? ((s_node_t **) node->kids.data)[0] : node;
}

static bool
s_is_end (const s_tok_t *tok)
{
    return tok->type == T_EOF || tok->type == T_RPAREN || tok->type == T_DSEMI ||
           tok->type == T_SEMIAMP || tok->type == T_DSEMIAMP || s_is_closer (tok);
}

static s_node_t *
s_parse_list (s_parser_t *p)
{
    shell_t *sh = p->sh;
    s_node_t *list = s_node_new (p, N_LIST);
    s_skip_newlines (p);
    while (!sh->failed) {
        s_tok_t *tok = s_peek (p);
        if (s_is_end (tok))
            break;
        s_node_t *andor = s_parse_andor (p);
        if (!andor)
            break;
        s_add_kid (p, list, andor);
        tok = s_peek (p);
        if (tok->type == T_SEMI || tok->type == T_AMP) {
            if (tok->type == T_AMP)
                andor->background = true;
            s_consume (p);
            s_skip_newlines (p);
        } else if (tok->type == T_NEWLINE)
            s_skip_newlines (p);
        else
            break;
    }
    return list;
}

static s_node_t *
s_parse_program (s_parser_t *p)
{
    s_node_t *list = s_parse_list (p);
    s_tok_t *tok = s_peek (p);
    if (!p->sh->failed && tok->type != T_EOF)
        s_syntax (p, tok);
    return list;
}

//  --------------------------------------------------------------------------
//  Emitter

typedef struct {
    size_t depth;
    size_t upstream; //  what stdin of commands here comes from
    bool has_pipe;   //  inside an element of a pipeline
    size_t pipe_id, pipe_pos, pipe_len;
    bool background, in_function, in_loop;
    size_t func; //  innermost function being defined, or S_NONE
    bool calls;  //  commands here can call shell functions
    const char *const *wrappers;
    size_t nwrappers;
    const shell_redir_t *redirs; //  from enclosing compound commands
    size_t nredirs;
    const shell_word_t *assigns;  //  environment a wrapper set for a shell it runs
    const char *const *expanding; //  aliases whose expansion this is
    size_t nexpanding;
    size_t nassigns;
} s_ectx_t;

static void s_emit (shell_t *sh, const s_node_t *node, const s_ectx_t *ctx);
static void s_unwrap (shell_t *sh, const s_ectx_t *ctx, size_t index);
static void s_unwrap_alias (shell_t *sh, const s_ectx_t *ctx, size_t index, const shell_cmd_t *cmd);
static void s_alias_define (shell_t *sh, const shell_cmd_t *cmd, bool unalias);
static void s_alias_put_word (shell_t *sh, s_str_t *out, const shell_word_t *w);

static bool
s_deeper (shell_t *sh, s_ectx_t *ctx)
{
    if (ctx->depth >= sh->max_depth) {
        s_fail (sh, "nesting too deep (max_depth %zu)", sh->max_depth);
        return false;
    }
    ctx->depth++;
    return true;
}

static const char *const *
s_wrappers_add (shell_t *sh, const char *const *list, size_t n, const char *name)
{
    const char **fresh = s_alloc (sh, (n + 1) * sizeof (char *));
    if (!fresh)
        return NULL;
    for (size_t i = 0; i < n; i++)
        fresh[i] = list[i];
    fresh[n] = name;
    return fresh;
}

static size_t
s_push_rec (shell_t *sh, const s_rec_t *rec)
{
    if (sh->failed)
        return S_NONE;
    if (sh->nrecs >= sh->max_commands) {
        s_fail (sh, "too many commands (max_commands %zu)", sh->max_commands);
        return S_NONE;
    }
    if (sh->nrecs == sh->caprecs) {
        size_t cap = sh->caprecs ? sh->caprecs * 2 : 16;
        if (cap > sh->max_commands)
            cap = sh->max_commands;
        size_t grow = (cap - sh->caprecs) * sizeof (s_rec_t);
        if (sh->mem + grow > sh->mem_limit) {
            s_fail (sh, "command too complex (parser memory limit)");
            return S_NONE;
        }
        s_rec_t *recs = realloc (sh->recs, cap * sizeof (s_rec_t));
        if (!recs) {
            s_fail (sh, "out of memory");
            return S_NONE;
        }
        sh->mem += grow;
        sh->recs = recs;
        sh->caprecs = cap;
    }
    sh->recs[sh->nrecs] = *rec;
    return sh->nrecs++;
}

//  A command inside a function body whose name may be a function
static void
s_note_call (shell_t *sh, const s_ectx_t *ctx, size_t index)
{
    if (index == S_NONE || ctx->func == S_NONE || !ctx->calls)
        return;
    const shell_cmd_t *cmd = &sh->recs[index].pub;
    if (cmd->argc == 0 || cmd->argv[0].dynamic)
        return;
    s_call_t *call = s_vec_push (sh, &sh->calls, sizeof (s_call_t));
    if (call) {
        call->func = ctx->func;
        call->callee = cmd->argv[0].text;
    }
}

static void
s_emit_subs (shell_t *sh, const s_ectx_t *ctx, const s_subs_t *subs, size_t *procin)
{
    for (size_t i = 0; i < subs->n && !sh->failed; i++) {
        const s_sub_t *sub = &subs->v[i];
        s_ectx_t c = *ctx;
        if (!s_deeper (sh, &c))
            return;
        c.has_pipe = false;
        c.redirs = NULL;
        c.nredirs = 0;
        c.wrappers = s_wrappers_add (sh, ctx->wrappers, ctx->nwrappers,
                                     sub->kind == SUB_CMD      ? "$()"
                                     : sub->kind == SUB_PROCIN ? "<()"
                                                               : ">()");
        c.nwrappers = ctx->nwrappers + 1;
        size_t before = sh->nrecs;
        s_emit (sh, sub->body, &c);
        if (sub->kind == SUB_PROCIN && procin && *procin == S_NONE && sh->nrecs > before)
            *procin = sh->nrecs - 1;
    }
}

//  A word's pattern with the loop variables in it that bind, or NULL when
//  none does
static const char *
s_bound_pattern (shell_t *sh, const shell_word_t *word, const s_wrefs_t *refs)
{
    bool any = false;
    for (size_t i = 0; i < refs->n && !any; i++)
        any = s_loop_bound (sh, refs->v[i].loop);
    if (!any)
        return NULL;
    return s_pattern_refs (sh, word->text, refs->marks, strlen (word->text), !refs->noglob, true,
                           refs);
}

//  The words, or a copy with the patterns of bound loop variables
static const shell_word_t *
s_bind_words (shell_t *sh, const shell_word_t *words, const s_wrefs_t *refs, size_t n)
{
    shell_word_t *copy = NULL;
    for (size_t i = 0; refs && i < n && !sh->failed; i++) {
        const char *pattern = refs[i].n ? s_bound_pattern (sh, &words[i], &refs[i]) : NULL;
        if (!pattern)
            continue;
        if (!copy) {
            copy = s_alloc (sh, n * sizeof (shell_word_t));
            if (!copy)
                return words;
            memcpy (copy, words, n * sizeof (shell_word_t));
        }
        copy[i].pattern = pattern;
    }
    return copy ? copy : words;
}

//  Redirections of the enclosing compound commands, then these
static const shell_redir_t *
s_merge_redirs (shell_t *sh, const s_ectx_t *ctx, const s_node_t *node, size_t *count)
{
    size_t own = node->redirs.n;
    *count = ctx->nredirs;
    if (ctx->nredirs + own > S_REDIRS_MAX) {
        //  Also what keeps copying inherited redirections linear
        s_fail (sh, "too many redirections (more than %d on one command)", S_REDIRS_MAX);
        return NULL;
    }
    if (own == 0)
        return ctx->redirs;
    shell_redir_t *merged = s_alloc (sh, (ctx->nredirs + own) * sizeof (shell_redir_t));
    if (!merged)
        return NULL;
    if (ctx->nredirs)
        memcpy (merged, ctx->redirs, ctx->nredirs * sizeof (shell_redir_t));
    s_redir_t **rd = node->redirs.data;
    for (size_t i = 0; i < own; i++) {
        merged[ctx->nredirs + i] = rd[i]->r;
        const char *pattern =
            rd[i]->refs.n ? s_bound_pattern (sh, &rd[i]->r.target, &rd[i]->refs) : NULL;
        if (pattern)
            merged[ctx->nredirs + i].target.pattern = pattern;
    }
    *count = ctx->nredirs + own;
    return merged;
}

//  Assignments a wrapper passes on, then these (shared when one side is empty)
static const shell_word_t *
s_merge_assigns (shell_t *sh, const shell_word_t *first, size_t nfirst, const shell_word_t *second,
                 size_t nsecond, size_t *count)
{
    *count = nfirst + nsecond;
    if (*count > S_ASSIGNS_MAX) {
        s_fail (sh, "too many assignments (more than %d on one command)", S_ASSIGNS_MAX);
        return NULL;
    }
    if (nsecond == 0)
        return first;
    if (nfirst == 0)
        return second;
    shell_word_t *merged = s_alloc (sh, *count * sizeof (shell_word_t));
    if (!merged)
        return NULL;
    memcpy (merged, first, nfirst * sizeof (shell_word_t));
    memcpy (merged + nfirst, second, nsecond * sizeof (shell_word_t));
    return merged;
}

static void
s_emit_simple (shell_t *sh, const s_node_t *node, const s_ectx_t *ctx)
{
    size_t procin = S_NONE;
    for (size_t i = 0; node->assign_subs && i < node->nassigns; i++)
        s_emit_subs (sh, ctx, &node->assign_subs[i], NULL);
    for (size_t i = 0; node->argv_subs && i < node->argc; i++)
        s_emit_subs (sh, ctx, &node->argv_subs[i], &procin);
    s_redir_t **rd = node->redirs.data;
    for (size_t i = 0; i < node->redirs.n; i++) {
        bool stdin_file = rd[i]->r.fd == 0 &&
                          (rd[i]->r.kind == SHELL_REDIR_IN || rd[i]->r.kind == SHELL_REDIR_INOUT);
        s_emit_subs (sh, ctx, &rd[i]->subs, stdin_file ? &procin : NULL);
    }
    if (sh->failed)
        return;
    s_rec_t rec;
    memset (&rec, 0, sizeof (rec));
    rec.pub.argv = s_bind_words (sh, node->argv, node->argv_refs, node->argc);
    rec.pub.argc = node->argc;
    rec.pub.assigns =
        s_merge_assigns (sh, ctx->assigns, ctx->nassigns,
                         s_bind_words (sh, node->assigns, node->assign_refs, node->nassigns),
                         node->nassigns, &rec.pub.assigns_count);
    rec.pub.redirs = s_merge_redirs (sh, ctx, node, &rec.pub.redirs_count);
    rec.pub.wrappers = ctx->wrappers;
    rec.pub.wrappers_count = ctx->nwrappers;
    if (ctx->has_pipe) {
        rec.pub.pipeline = ctx->pipe_id;
        rec.pub.position = ctx->pipe_pos;
        rec.pub.pipeline_len = ctx->pipe_len;
    } else {
        rec.pub.pipeline = sh->next_pipeline++;
        rec.pub.pipeline_len = 1;
    }
    rec.pub.background = ctx->background;
    rec.pub.in_function = ctx->in_function;
    rec.pub.in_loop = ctx->in_loop;
    rec.upstream = ctx->upstream != S_NONE ? ctx->upstream : procin;
    size_t index = s_push_rec (sh, &rec);
    s_note_call (sh, ctx, index);
    if (index != S_NONE)
        s_unwrap (sh, ctx, index);
}

static void
s_emit_pipeline (shell_t *sh, const s_node_t *node, const s_ectx_t *ctx)
{
    s_node_t **kids = node->kids.data;
    size_t n = node->kids.n;
    if (n == 1) {
        //  A lone command inside an element of a pipeline belongs to that
        //  pipeline; anywhere else each simple command is its own
        s_emit (sh, kids[0], ctx);
        return;
    }
    size_t id = sh->next_pipeline++;
    size_t upstream = ctx->upstream;
    for (size_t i = 0; i < n && !sh->failed; i++) {
        s_ectx_t c = *ctx;
        c.has_pipe = true;
        c.pipe_id = id;
        c.pipe_pos = i;
        c.pipe_len = n;
        c.upstream = upstream;
        size_t before = sh->nrecs;
        s_emit (sh, kids[i], &c);
        upstream = sh->nrecs > before ? sh->nrecs - 1 : S_NONE;
    }
}

static void
s_emit (shell_t *sh, const s_node_t *node, const s_ectx_t *ctx)
{
    if (sh->failed || !node)
        return;
    s_ectx_t c = *ctx;
    c.background = c.background || node->background;
    s_node_t **kids = node->kids.data;
    switch (node->kind) {
    case N_LIST:
    case N_ANDOR:
        for (size_t i = 0; i < node->kids.n && !sh->failed; i++)
            s_emit (sh, kids[i], &c);
        break;
    case N_PIPELINE:
        s_emit_pipeline (sh, node, &c);
        break;
    case N_SIMPLE:
        s_emit_simple (sh, node, &c);
        break;
    case N_COMPOUND: {
        if (!s_deeper (sh, &c))
            return;
        //  Redirections are opened before the body runs
        s_redir_t **rd = node->redirs.data;
        for (size_t i = 0; i < node->redirs.n; i++)
            s_emit_subs (sh, &c, &rd[i]->subs, NULL);
        c.redirs = s_merge_redirs (sh, ctx, node, &c.nredirs);
        for (size_t i = 0; i < node->kids.n && !sh->failed; i++) {
            s_ectx_t k = c;
            k.in_loop = c.in_loop || (node->loop && i >= node->loop_from);
            s_emit (sh, kids[i], &k);
        }
        break;
    }
    case N_FUNC: {
        if (!s_deeper (sh, &c))
            return;
        const char **slot = s_vec_push (sh, &sh->funcs, sizeof (char *));
        if (!slot)
            return;
        *slot = node->name;
        //  The body runs when called, not here
        c.func = sh->funcs.n - 1;
        c.in_function = true;
        c.calls = true;
        c.upstream = S_NONE;
        c.has_pipe = false;
        c.background = false;
        c.redirs = NULL;
        c.nredirs = 0;
        if (node->kids.n)
            s_emit (sh, kids[0], &c);
        break;
    }
    case N_WORDS:
        for (size_t i = 0; node->argv_subs && i < node->argc; i++)
            s_emit_subs (sh, &c, &node->argv_subs[i], NULL);
        break;
    }
}

//  --------------------------------------------------------------------------
//  Wrappers

//  The inner command of a wrapper: a new record sharing the wrapper's
//  pipeline, redirections and stdin, with name added to its chain
static void s_emit_inner_as (shell_t *sh, const s_ectx_t *ctx, size_t outer,
                             const shell_word_t *argv, size_t argc, const shell_word_t *assigns,
                             size_t nassigns, const char *name, const char *also, bool calls);

static void
s_emit_inner (shell_t *sh, const s_ectx_t *ctx, size_t outer, const shell_word_t *argv, size_t argc,
              const shell_word_t *assigns, size_t nassigns, const char *name, bool calls)
{
    s_emit_inner_as (sh, ctx, outer, argv, argc, assigns, nassigns, name, NULL, calls);
}

//  also: a second name added after name (env, then "env -C")
static void
s_emit_inner_as (shell_t *sh, const s_ectx_t *ctx, size_t outer, const shell_word_t *argv,
                 size_t argc, const shell_word_t *assigns, size_t nassigns, const char *name,
                 const char *also, bool calls)
{
    if (argc == 0 || sh->failed)
        return;
    s_ectx_t c = *ctx;
    if (!s_deeper (sh, &c))
        return;
    c.calls = ctx->calls && calls;
    s_rec_t rec = sh->recs[outer];
    rec.pub.argv = argv;
    rec.pub.argc = argc;
    rec.pub.assigns = s_merge_assigns (sh, rec.pub.assigns, rec.pub.assigns_count, assigns,
                                       nassigns, &rec.pub.assigns_count);
    rec.pub.wrappers = s_wrappers_add (sh, rec.pub.wrappers, rec.pub.wrappers_count, name);
    rec.pub.wrappers_count++;
    if (also) {
        rec.pub.wrappers = s_wrappers_add (sh, rec.pub.wrappers, rec.pub.wrappers_count, also);
        rec.pub.wrappers_count++;
    }
    if (sh->failed)
        return;
    size_t index = s_push_rec (sh, &rec);
    s_note_call (sh, &c, index);
    if (index != S_NONE)
        s_unwrap (sh, &c, index);
}

//  A string a wrapper hands to a shell: parsed and emitted as commands
//  running where the wrapper runs
static bool
s_is_stdin_redir (const shell_redir_t *r)
{
    return r->fd == 0 && (r->kind == SHELL_REDIR_IN || r->kind == SHELL_REDIR_INOUT ||
                          r->kind == SHELL_REDIR_DUP_IN || r->kind == SHELL_REDIR_HEREDOC ||
                          r->kind == SHELL_REDIR_HERESTRING);
}

//  script: text is what the shell reads on stdin, so its commands do not
//  get that stdin redirection (they would read their own script again)
static void
s_reparse_as (shell_t *sh, const s_ectx_t *ctx, size_t outer, const char *text, const char *name,
              bool calls, bool script)
{
    if (sh->failed)
        return;
    s_ectx_t c = *ctx;
    if (!s_deeper (sh, &c))
        return;
    size_t len = strlen (text);
    if (!s_charge (sh, len))
        return;
    char what[64];
    snprintf (what, sizeof (what), "%s string", name);
    const char *label = s_strndup (sh, what, strlen (what));
    s_node_t *root = s_parse_text (sh, text, len, c.depth, label);
    if (sh->failed)
        return;
    const s_rec_t rec = sh->recs[outer];
    c.upstream = rec.upstream;
    c.has_pipe = true;
    c.pipe_id = rec.pub.pipeline;
    c.pipe_pos = rec.pub.position;
    c.pipe_len = rec.pub.pipeline_len;
    c.background = rec.pub.background;
    c.in_function = rec.pub.in_function;
    c.calls = ctx->calls && calls;
    c.wrappers = s_wrappers_add (sh, rec.pub.wrappers, rec.pub.wrappers_count, name);
    c.nwrappers = rec.pub.wrappers_count + 1;
    c.redirs = rec.pub.redirs;
    c.nredirs = rec.pub.redirs_count;
    if (script) {
        shell_redir_t *kept = s_alloc (sh, (rec.pub.redirs_count + 1) * sizeof (shell_redir_t));
        if (!kept)
            return;
        c.nredirs = 0;
        for (size_t i = 0; i < rec.pub.redirs_count; i++)
            if (!s_is_stdin_redir (&rec.pub.redirs[i]))
                kept[c.nredirs++] = rec.pub.redirs[i];
        c.redirs = kept;
    }
    c.assigns = rec.pub.assigns;
    c.nassigns = rec.pub.assigns_count;
    s_emit (sh, root, &c);
}

static void
s_reparse (shell_t *sh, const s_ectx_t *ctx, size_t outer, const char *text, const char *name,
           bool calls)
{
    s_reparse_as (sh, ctx, outer, text, name, calls, false);
}

//  Arguments from..argc joined with spaces (eval, ssh, watch, sg)
static const char *
s_join (shell_t *sh, const shell_word_t *argv, size_t from, size_t argc)
{
    s_str_t str = {0};
    for (size_t i = from; i < argc; i++) {
        if (i > from)
            s_str_putc (sh, &str, ' ');
        size_t len = strlen (argv[i].text);
        if (!s_charge (sh, len + 1))
            return "";
        s_str_put (sh, &str, argv[i].text, len);
    }
    return s_str_cstr (sh, &str);
}

typedef struct {
    const char *name; //  without the leading --
    char arg;         //  0 none, ':' required, '?' only as --name=value
    char alias;       //  short option it is, '!' for help/version, 0 none
} s_long_t;

typedef struct {
    const char *shorts;    //  getopt style: "u:" takes an argument, "h::" optionally attached
    const char *nocmd;     //  options after which nothing runs
    const s_long_t *longs; //  ends with {NULL}
    bool numeric;          //  -N is an option (nice -10)
    bool longeq;           //  long options take values only as --name=value
} s_opts_t;

typedef struct {
    size_t next; //  first operand
    size_t alt;  //  first operand if an unknown option took an argument, or S_NONE
    bool nocmd;
    bool seen[128];
    const char *arg[128];
} s_optres_t;

static const s_long_t *
s_find_long (const s_long_t *longs, const char *name, size_t len)
{
    if (!longs || len == 0)
        return NULL;
    const s_long_t *found = NULL;
    size_t hits = 0;
    for (const s_long_t *l = longs; l->name; l++) {
        if (strncmp (l->name, name, len) != 0)
            continue;
        if (l->name[len] == 0)
            return l;
        found = l;
        hits++;
    }
    return hits == 1 ? found : NULL;
}

static bool
s_is_nocmd (const s_opts_t *o, char c, bool has_value)
{
    if (!o->nocmd || !c || !strchr (o->nocmd, c))
        return false;
    const char *s = strchr (o->shorts, c);
    bool optional = s && s[1] == ':' && s[2] == ':';
    return optional ? !has_value : true;
}

//  getopt-like scan from argv[i], stopping at the first operand or --
static void
s_scan_opts (const shell_cmd_t *cmd, size_t i, const s_opts_t *o, s_optres_t *r)
{
    memset (r, 0, sizeof (*r));
    r->alt = S_NONE;
    const shell_word_t *v = cmd->argv;
    size_t n = cmd->argc;
    while (i < n) {
        const char *t = v[i].text;
        if (t[0] != '-' || t[1] == 0)
            break;
        i++;
        if (strcmp (t, "--") == 0)
            break;
        if (o->numeric && s_all_digits (t + 1))
            continue;
        if (t[1] == '-') {
            const char *name = t + 2;
            const char *eq = strchr (name, '=');
            size_t nlen = eq ? (size_t) (eq - name) : strlen (name);
            const s_long_t *l = s_find_long (o->longs, name, nlen);
            if (!l) {
                if (!eq && !o->longeq && r->alt == S_NONE && i < n && v[i].text[0] != '-')
                    r->alt = i + 1;
                continue;
            }
            const char *value = eq ? eq + 1 : NULL;
            if (l->arg == ':' && !eq && i < n)
                value = v[i++].text;
            if (l->alias > 0) {
                r->seen[(int) l->alias] = true;
                if (value)
                    r->arg[(int) l->alias] = value;
                if (s_is_nocmd (o, l->alias, value != NULL))
                    r->nocmd = true;
            }
            continue;
        }
        for (size_t j = 1; t[j]; j++) {
            unsigned char c = (unsigned char) t[j];
            const char *s = c < 128 && c != ':' ? strchr (o->shorts, c) : NULL;
            if (!s) {
                if (t[j + 1] == 0 && r->alt == S_NONE && i < n && v[i].text[0] != '-')
                    r->alt = i + 1;
                continue;
            }
            r->seen[c] = true;
            if (s[1] == ':' && s[2] == ':') {
                if (t[j + 1])
                    r->arg[c] = t + j + 1;
                if (s_is_nocmd (o, (char) c, t[j + 1] != 0))
                    r->nocmd = true;
                break;
            }
            if (s[1] == ':') {
                if (t[j + 1])
                    r->arg[c] = t + j + 1;
                else if (i < n)
                    r->arg[c] = v[i++].text;
                else
                    r->arg[c] = "";
                if (s_is_nocmd (o, (char) c, true))
                    r->nocmd = true;
                break;
            }
            if (s_is_nocmd (o, (char) c, false))
                r->nocmd = true;
        }
    }
    r->next = i;
}

typedef enum {
    W_EXEC,       //  options, then the command (sudo, nice, timeout, ...)
    W_ENV,        //  env: options, -S, NAME=value, command
    W_FIND,       //  find -exec ... ;
    W_EVAL,       //  eval ARGS
    W_TRAP,       //  trap ACTION SIGNALS
    W_SU,         //  su -c STRING
    W_RUNUSER,    //  runuser -u USER CMD, runuser -c STRING
    W_SG,         //  sg GROUP [-c] STRING
    W_SSH,        //  ssh HOST COMMAND...
    W_WATCH,      //  watch COMMAND... (through sh -c unless -x)
    W_FLOCK,      //  flock FILE CMD / flock FILE -c STRING
    W_SCRIPT,     //  script -c STRING
    W_GDB,        //  gdb --args CMD
    W_BUSYBOX,    //  busybox APPLET
    W_SOURCE,     //  source /dev/stdin <<EOF
    W_TMUX,       //  tmux [-c STRING] new|neww|splitw|run|send-keys|... STRING
    W_SCREEN,     //  screen CMD, screen -X stuff TEXT
    W_GIT,        //  git -c alias.X=!CMD X, rebase --exec, bisect run, submodule foreach
    W_VIM,        //  vim -c '!CMD', +!CMD
    W_XTERM,      //  xterm ... -e CMD
    W_BWRAP,      //  bwrap OPTIONS CMD
    W_IPNETNS,    //  ip netns exec NAME CMD
    W_CAPSH,      //  capsh ... -- ARGS (bash ARGS)
    W_AT,         //  at/batch reading commands from a heredoc
    W_SHJOIN,     //  watchexec OPTIONS CMD... (joined, run by a shell)
    W_NODEMON,    //  nodemon --exec STRING
    W_ENTR,       //  entr [-s STRING | CMD]
    W_PARALLEL,   //  parallel TEMPLATE ::: ARGS
    W_MACHINECTL, //  machinectl shell MACHINE CMD
    W_NPX,        //  npx [-c STRING | PKG ARGS]
    W_NPM,        //  npm exec|x ...
    W_PNPM,       //  pnpm exec|dlx ...
    W_YARN,       //  yarn dlx|exec ...
    W_BUN         //  bun x ...
} s_wtype_t;

typedef struct {
    const char *name;
    s_wtype_t type;
    s_opts_t opts;
    size_t positional; //  operands before the command (timeout DURATION, chroot DIR)
    bool assigns;      //  NAME=value operands before the command (sudo)
    bool calls;        //  the inner command may be a shell function (time)
    const char *dflt;  //  the command when none is given (xargs)
    const char *shell; //  options that start a shell reading stdin when no command is given
} s_wrap_t;

#define S_HELP                                                                                     \
    {"help", 0, '!'},                                                                              \
    {                                                                                              \
        "version", 0, '!'                                                                          \
    }

static const s_long_t s_sudo_longs[] = {{"askpass", 0, 'A'},
                                        {"auth-type", ':', 'a'},
                                        {"background", 0, 'b'},
                                        {"bell", 0, 'B'},
                                        {"close-from", ':', 'C'},
                                        {"login-class", ':', 'c'},
                                        {"chdir", ':', 'D'},
                                        {"preserve-env", '?', 'E'},
                                        {"edit", 0, 'e'},
                                        {"group", ':', 'g'},
                                        {"set-home", 0, 'H'},
                                        {"host", ':', 'h'},
                                        {"login", 0, 'i'},
                                        {"remove-timestamp", 0, 'K'},
                                        {"reset-timestamp", 0, 'k'},
                                        {"list", 0, 'l'},
                                        {"non-interactive", 0, 'n'},
                                        {"preserve-groups", 0, 'P'},
                                        {"prompt", ':', 'p'},
                                        {"chroot", ':', 'R'},
                                        {"role", ':', 'r'},
                                        {"stdin", 0, 'S'},
                                        {"shell", 0, 's'},
                                        {"type", ':', 't'},
                                        {"command-timeout", ':', 'T'},
                                        {"other-user", ':', 'U'},
                                        {"user", ':', 'u'},
                                        {"validate", 0, 'v'},
                                        S_HELP,
                                        {NULL, 0, 0}};
static const s_long_t s_help_longs[] = {S_HELP, {NULL, 0, 0}};
static const s_long_t s_nice_longs[] = {{"adjustment", ':', 'n'}, S_HELP, {NULL, 0, 0}};
static const s_long_t s_ionice_longs[] = {{"class", ':', 'c'},
                                          {"classdata", ':', 'n'},
                                          {"pid", ':', 'p'},
                                          {"pgid", ':', 'P'},
                                          {"ignore", 0, 't'},
                                          {"uid", ':', 'u'},
                                          S_HELP,
                                          {NULL, 0, 0}};
static const s_long_t s_timeout_longs[] = {{"kill-after", ':', 'k'},
                                           {"signal", ':', 's'},
                                           {"preserve-status", 0, 0},
                                           {"foreground", 0, 0},
                                           {"verbose", 0, 'v'},
                                           S_HELP,
                                           {NULL, 0, 0}};
static const s_long_t s_stdbuf_longs[] = {
    {"input", ':', 'i'}, {"output", ':', 'o'}, {"error", ':', 'e'}, S_HELP, {NULL, 0, 0}};
static const s_long_t s_time_longs[] = {{"format", ':', 'f'},
                                        {"output", ':', 'o'},
                                        {"append", 0, 'a'},
                                        {"portability", 0, 'p'},
                                        {"quiet", 0, 'q'},
                                        {"verbose", 0, 'v'},
                                        S_HELP,
                                        {NULL, 0, 0}};
static const s_long_t s_xargs_longs[] = {{"null", 0, '0'},
                                         {"arg-file", ':', 'a'},
                                         {"delimiter", ':', 'd'},
                                         {"eof", '?', 'e'},
                                         {"replace", '?', 'i'},
                                         {"max-lines", '?', 'l'},
                                         {"max-args", ':', 'n'},
                                         {"open-tty", 0, 'o'},
                                         {"max-procs", ':', 'P'},
                                         {"interactive", 0, 'p'},
                                         {"process-slot-var", ':', 0},
                                         {"no-run-if-empty", 0, 'r'},
                                         {"max-chars", ':', 's'},
                                         {"show-limits", 0, 0},
                                         {"verbose", 0, 't'},
                                         {"exit", 0, 'x'},
                                         S_HELP,
                                         {NULL, 0, 0}};
static const s_long_t s_nsenter_longs[] = {{"all", 0, 'a'},
                                           {"target", ':', 't'},
                                           {"mount", '?', 'm'},
                                           {"uts", '?', 'u'},
                                           {"ipc", '?', 'i'},
                                           {"net", '?', 'n'},
                                           {"pid", '?', 'p'},
                                           {"user", '?', 'U'},
                                           {"cgroup", '?', 'C'},
                                           {"time", '?', 'T'},
                                           {"setuid", ':', 'S'},
                                           {"setgid", ':', 'G'},
                                           {"preserve-credentials", 0, 0},
                                           {"root", '?', 'r'},
                                           {"wd", '?', 'w'},
                                           {"wdns", ':', 0},
                                           {"env", 0, 'e'},
                                           {"no-fork", 0, 'F'},
                                           {"follow-context", 0, 'Z'},
                                           {"user-parent", 0, 0},
                                           {"keep-caps", 0, 0},
                                           {"join-cgroup", 0, 0},
                                           S_HELP,
                                           {NULL, 0, 0}};
static const s_long_t s_chroot_longs[] = {
    {"userspec", ':', 0}, {"groups", ':', 0}, {"skip-chdir", 0, 0}, S_HELP, {NULL, 0, 0}};
static const s_long_t s_unshare_longs[] = {{"mount", '?', 'm'},
                                           {"uts", '?', 'u'},
                                           {"ipc", '?', 'i'},
                                           {"net", '?', 'n'},
                                           {"pid", '?', 'p'},
                                           {"user", '?', 'U'},
                                           {"cgroup", '?', 'C'},
                                           {"time", '?', 'T'},
                                           {"fork", 0, 'f'},
                                           {"kill-child", '?', 0},
                                           {"mount-proc", '?', 0},
                                           {"map-root-user", 0, 'r'},
                                           {"map-current-user", 0, 'c'},
                                           {"map-user", ':', 0},
                                           {"map-group", ':', 0},
                                           {"map-users", ':', 0},
                                           {"map-groups", ':', 0},
                                           {"map-auto", 0, 0},
                                           {"propagation", ':', 0},
                                           {"setgroups", ':', 0},
                                           {"keep-caps", 0, 0},
                                           {"setuid", ':', 'S'},
                                           {"setgid", ':', 'G'},
                                           {"root", ':', 'R'},
                                           {"wd", ':', 'w'},
                                           {"monotonic", ':', 0},
                                           {"boottime", ':', 0},
                                           {"load-interp", ':', 0},
                                           S_HELP,
                                           {NULL, 0, 0}};
static const s_long_t s_setsid_longs[] = {
    {"ctty", 0, 'c'}, {"fork", 0, 'f'}, {"wait", 0, 'w'}, S_HELP, {NULL, 0, 0}};
static const s_long_t s_chrt_longs[] = {{"all-tasks", 0, 'a'},
                                        {"batch", 0, 'b'},
                                        {"deadline", 0, 'd'},
                                        {"ext", 0, 'e'},
                                        {"fifo", 0, 'f'},
                                        {"idle", 0, 'i'},
                                        {"max", 0, 'm'},
                                        {"other", 0, 'o'},
                                        {"pid", 0, 'p'},
                                        {"rr", 0, 'r'},
                                        {"reset-on-fork", 0, 'R'},
                                        {"sched-runtime", ':', 'T'},
                                        {"sched-period", ':', 'P'},
                                        {"sched-deadline", ':', 'D'},
                                        {"verbose", 0, 'v'},
                                        S_HELP,
                                        {NULL, 0, 0}};
static const s_long_t s_taskset_longs[] = {
    {"all-tasks", 0, 'a'}, {"cpu-list", 0, 'c'}, {"pid", 0, 'p'}, S_HELP, {NULL, 0, 0}};
static const s_long_t s_strace_longs[] = {{"output", ':', 'o'},
                                          {"attach", ':', 'p'},
                                          {"string-limit", ':', 's'},
                                          {"user", ':', 'u'},
                                          {"env", ':', 'E'},
                                          {"trace", ':', 'e'},
                                          {"follow-forks", 0, 'f'},
                                          {"summary-only", 0, 'c'},
                                          {"summary", 0, 'C'},
                                          {"trace-path", ':', 'P'},
                                          {"columns", ':', 'a'},
                                          {"signal", ':', 0},
                                          {"status", ':', 0},
                                          {"successful-only", 0, 'z'},
                                          {"failed-only", 0, 'Z'},
                                          {"seccomp-bpf", 0, 0},
                                          {"output-separately", 0, 0},
                                          {"decode-fds", '?', 0},
                                          {"absolute-timestamps", '?', 0},
                                          {"timestamps", '?', 0},
                                          S_HELP,
                                          {NULL, 0, 0}};
static const s_long_t s_ltrace_longs[] = {{"output", ':', 'o'},
                                          {"align", ':', 'a'},
                                          {"demangle", 0, 'C'},
                                          {"library", ':', 'l'},
                                          {"indent", ':', 'n'},
                                          {"config", ':', 'F'},
                                          S_HELP,
                                          {NULL, 0, 0}};
static const s_long_t s_pkexec_longs[] = {
    {"user", ':', 0}, {"disable-internal-agent", 0, 0}, {"keep-cwd", 0, 0}, S_HELP, {NULL, 0, 0}};
static const s_long_t s_fakeroot_longs[] = {
    {"lib", ':', 'l'}, {"faked", ':', 0}, {"unknown-is-real", 0, 'u'}, S_HELP, {NULL, 0, 0}};
static const s_long_t s_torsocks_longs[] = {
    {"address", ':', 'a'}, {"port", ':', 'P'},  {"user", ':', 'u'},
    {"pass", ':', 'p'},    {"isolate", 0, 'i'}, {"quiet", 0, 'q'},
    {"debug", 0, 'd'},     {"shell", 0, '!'},   S_HELP,
    {NULL, 0, 0}};
static const s_long_t s_watch_longs[] = {{"beep", 0, 'b'},
                                         {"color", 0, 'c'},
                                         {"no-color", 0, 'C'},
                                         {"differences", '?', 'd'},
                                         {"errexit", 0, 'e'},
                                         {"chgexit", 0, 'g'},
                                         {"interval", ':', 'n'},
                                         {"precise", 0, 'p'},
                                         {"equexit", ':', 'q'},
                                         {"no-rerun", 0, 'r'},
                                         {"no-title", 0, 't'},
                                         {"no-wrap", 0, 'w'},
                                         {"exec", 0, 'x'},
                                         S_HELP,
                                         {NULL, 0, 0}};
static const s_long_t s_flock_longs[] = {{"shared", 0, 's'},
                                         {"exclusive", 0, 'x'},
                                         {"unlock", 0, 'u'},
                                         {"nonblock", 0, 'n'},
                                         {"nb", 0, 'n'},
                                         {"close", 0, 'o'},
                                         {"no-fork", 0, 'F'},
                                         {"timeout", ':', 'w'},
                                         {"wait", ':', 'w'},
                                         {"conflict-exit-code", ':', 'E'},
                                         {"verbose", 0, 0},
                                         {"command", ':', 'c'},
                                         S_HELP,
                                         {NULL, 0, 0}};
static const s_long_t s_runuser_longs[] = {{"command", ':', 'c'},
                                           {"session-command", ':', 'c'},
                                           {"group", ':', 'g'},
                                           {"supp-group", ':', 'G'},
                                           {"login", 0, 'l'},
                                           {"preserve-environment", 0, 'm'},
                                           {"pty", 0, 'P'},
                                           {"shell", ':', 's'},
                                           {"user", ':', 'u'},
                                           {"whitelist-environment", ':', 'w'},
                                           S_HELP,
                                           {NULL, 0, 0}};

//  systemd-run(1), run0(1)
static const s_long_t s_systemd_run_longs[] = {{"unit", ':', 'u'},
                                               {"property", ':', 'p'},
                                               {"description", ':', 0},
                                               {"slice", ':', 0},
                                               {"slice-inherit", 0, 0},
                                               {"remain-after-exit", 0, 'r'},
                                               {"send-sighup", 0, 0},
                                               {"service-type", ':', 0},
                                               {"uid", ':', 0},
                                               {"gid", ':', 0},
                                               {"nice", ':', 0},
                                               {"working-directory", ':', 0},
                                               {"same-dir", 0, 'd'},
                                               {"setenv", ':', 'E'},
                                               {"pty", 0, 't'},
                                               {"pipe", 0, 'P'},
                                               {"shell", 0, 'S'},
                                               {"quiet", 0, 'q'},
                                               {"on-active", ':', 0},
                                               {"on-boot", ':', 0},
                                               {"on-startup", ':', 0},
                                               {"on-unit-active", ':', 0},
                                               {"on-unit-inactive", ':', 0},
                                               {"on-calendar", ':', 0},
                                               {"on-clock-change", 0, 0},
                                               {"on-timezone-change", 0, 0},
                                               {"path-property", ':', 0},
                                               {"socket-property", ':', 0},
                                               {"timer-property", ':', 0},
                                               {"no-block", 0, 0},
                                               {"wait", 0, 0},
                                               {"collect", 0, 'G'},
                                               {"user", 0, 0},
                                               {"system", 0, 0},
                                               {"scope", 0, 0},
                                               {"host", ':', 'H'},
                                               {"machine", ':', 'M'},
                                               {"no-ask-password", 0, 0},
                                               {"expand-environment", ':', 0},
                                               {"json", ':', 0},
                                               S_HELP,
                                               {NULL, 0, 0}};
static const s_long_t s_run0_longs[] = {{"user", ':', 'u'},
                                        {"group", ':', 'g'},
                                        {"nice", ':', 0},
                                        {"chdir", ':', 'D'},
                                        {"setenv", ':', 0},
                                        {"property", ':', 0},
                                        {"description", ':', 0},
                                        {"slice", ':', 0},
                                        {"slice-inherit", 0, 0},
                                        {"unit", ':', 0},
                                        {"machine", ':', 0},
                                        {"background", ':', 0},
                                        {"pty", 0, 0},
                                        {"pipe", 0, 0},
                                        {"shell-prompt-prefix", ':', 0},
                                        {"no-ask-password", 0, 0},
                                        S_HELP,
                                        {NULL, 0, 0}};
//  setpriv(1)
static const s_long_t s_setpriv_longs[] = {{"clear-groups", 0, 0},
                                           {"dump", 0, 'd'},
                                           {"groups", ':', 0},
                                           {"inh-caps", ':', 0},
                                           {"ambient-caps", ':', 0},
                                           {"bounding-set", ':', 0},
                                           {"keep-groups", 0, 0},
                                           {"init-groups", 0, 0},
                                           {"list-caps", 0, '!'},
                                           {"no-new-privs", 0, 0},
                                           {"rgid", ':', 0},
                                           {"egid", ':', 0},
                                           {"regid", ':', 0},
                                           {"ruid", ':', 0},
                                           {"euid", ':', 0},
                                           {"reuid", ':', 0},
                                           {"securebits", ':', 0},
                                           {"pdeathsig", ':', 0},
                                           {"selinux-label", ':', 0},
                                           {"apparmor-profile", ':', 0},
                                           {"landlock-access", ':', 0},
                                           {"landlock-rule", ':', 0},
                                           {"seccomp-filter", ':', 0},
                                           {"reset-env", 0, 0},
                                           S_HELP,
                                           {NULL, 0, 0}};
//  dbus-run-session(1)
static const s_long_t s_dbus_run_longs[] = {
    {"config-file", ':', 0}, {"dbus-daemon", ':', 0}, S_HELP, {NULL, 0, 0}};
//  proot(1)
static const s_long_t s_proot_longs[] = {{"rootfs", ':', 'r'},
                                         {"bind", ':', 'b'},
                                         {"mount", ':', 'm'},
                                         {"qemu", ':', 'q'},
                                         {"pwd", ':', 'w'},
                                         {"cwd", ':', 'w'},
                                         {"verbose", ':', 'v'},
                                         {"kernel-release", ':', 'k'},
                                         {"root-id", 0, '0'},
                                         {"change-id", ':', 'i'},
                                         {"link2symlink", 0, 'l'},
                                         {"kill-on-exit", 0, 0},
                                         {"usage", 0, '!'},
                                         S_HELP,
                                         {NULL, 0, 0}};
//  fakechroot(1)
static const s_long_t s_fakechroot_longs[] = {{"use-system-libs", 0, 's'},
                                              {"lib", ':', 'l'},
                                              {"elfloader", ':', 'd'},
                                              {"environment", ':', 'e'},
                                              {"config-dir", ':', 'c'},
                                              {"bindir", ':', 'b'},
                                              S_HELP,
                                              {NULL, 0, 0}};
//  npx (npm exec), pnpm, bunx, yarn: the package's binary and its arguments
static const s_long_t s_npx_longs[] = {{"package", ':', 'p'},
                                       {"call", ':', 'c'},
                                       {"yes", 0, 'y'},
                                       {"no", 0, 0},
                                       {"quiet", 0, 'q'},
                                       {"ignore-existing", 0, 0},
                                       {"shell", ':', 0},
                                       {"node-arg", ':', 'n'},
                                       {"workspace", ':', 'w'},
                                       {"workspaces", 0, 0},
                                       {"include-workspace-root", 0, 0},
                                       {"prefix", ':', 0},
                                       {"registry", ':', 0},
                                       {"cache", ':', 0},
                                       {"userconfig", ':', 0},
                                       {"loglevel", ':', 0},
                                       S_HELP,
                                       {NULL, 0, 0}};
static const s_long_t s_pnpm_longs[] = {{"filter", ':', 'F'},
                                        {"dir", ':', 'C'},
                                        {"package", ':', 0},
                                        {"shell-mode", 0, 'c'},
                                        {"recursive", 0, 'r'},
                                        {"parallel", 0, 0},
                                        {"workspace-root", 0, 'w'},
                                        {"silent", 0, 's'},
                                        {"reporter", ':', 0},
                                        {"resume-from", ':', 0},
                                        {"report-summary", 0, 0},
                                        {"no-bail", 0, 0},
                                        {"allow-build", ':', 0},
                                        S_HELP,
                                        {NULL, 0, 0}};
static const s_long_t s_bunx_longs[] = {{"package", ':', 'p'}, {"bun", 0, 0}, {"silent", 0, 0},
                                        {"verbose", 0, 0},     S_HELP,        {NULL, 0, 0}};
static const s_long_t s_yarn_dlx_longs[] = {
    {"package", ':', 'p'}, {"quiet", 0, 'q'}, S_HELP, {NULL, 0, 0}};
//  watchexec(1): the command is run by a shell unless --shell=none
static const s_long_t s_watchexec_longs[] = {{"watch", ':', 'w'},
                                             {"watch-non-recursive", ':', 'W'},
                                             {"watch-file", ':', 'F'},
                                             {"exts", ':', 'e'},
                                             {"filter", ':', 'f'},
                                             {"filter-file", ':', 0},
                                             {"filter-prog", ':', 'j'},
                                             {"ignore", ':', 'i'},
                                             {"ignore-file", ':', 0},
                                             {"debounce", ':', 'd'},
                                             {"signal", ':', 's'},
                                             {"stop-signal", ':', 0},
                                             {"stop-timeout", ':', 0},
                                             {"delay-run", ':', 0},
                                             {"poll", '?', 0},
                                             {"shell", ':', 0},
                                             {"env", ':', 'E'},
                                             {"workdir", ':', 0},
                                             {"project-origin", ':', 0},
                                             {"on-busy-update", ':', 'o'},
                                             {"emit-events-to", ':', 0},
                                             {"color", ':', 0},
                                             {"log-file", '?', 0},
                                             {"wrap-process", ':', 0},
                                             {"socket", ':', 0},
                                             {"fs-events", ':', 0},
                                             {"timeout", ':', 0},
                                             {"restart", 0, 'r'},
                                             {"clear", '?', 'c'},
                                             {"notify", 0, 'N'},
                                             {"postpone", 0, 'p'},
                                             {"no-vcs-ignore", 0, 0},
                                             {"no-project-ignore", 0, 0},
                                             {"no-global-ignore", 0, 0},
                                             {"no-default-ignore", 0, 0},
                                             {"no-discover-ignore", 0, 0},
                                             {"no-meta", 0, 0},
                                             {"no-environment", 0, 0},
                                             {"no-process-group", 0, 0},
                                             {"print-events", 0, 0},
                                             {"quiet", 0, 'q'},
                                             {"bell", 0, 0},
                                             {"verbose", 0, 'v'},
                                             {"completions", ':', '!'},
                                             {"manual", 0, '!'},
                                             S_HELP,
                                             {NULL, 0, 0}};
//  GNU parallel(1): options with values (the rest are flags)
static const s_long_t s_parallel_longs[] = {{"jobs", ':', 'j'},
                                            {"sshlogin", ':', 'S'},
                                            {"sshloginfile", ':', 0},
                                            {"slf", ':', 0},
                                            {"arg-file", ':', 'a'},
                                            {"delimiter", ':', 'd'},
                                            {"eof", '?', 'E'},
                                            {"replace", '?', 'I'},
                                            {"colsep", ':', 'C'},
                                            {"max-args", ':', 'n'},
                                            {"max-replace-args", ':', 'N'},
                                            {"max-lines", ':', 'L'},
                                            {"joblog", ':', 0},
                                            {"results", ':', 0},
                                            {"res", ':', 0},
                                            {"tmpdir", ':', 0},
                                            {"tempdir", ':', 0},
                                            {"timeout", ':', 0},
                                            {"retries", ':', 0},
                                            {"delay", ':', 0},
                                            {"halt", ':', 0},
                                            {"halt-on-error", ':', 0},
                                            {"memfree", ':', 0},
                                            {"load", ':', 0},
                                            {"nice", ':', 0},
                                            {"workdir", ':', 0},
                                            {"wd", ':', 0},
                                            {"env", ':', 0},
                                            {"basefile", ':', 0},
                                            {"bf", ':', 0},
                                            {"transferfile", ':', 0},
                                            {"tf", ':', 0},
                                            {"return", ':', 0},
                                            {"shebang-wrap", 0, 0},
                                            {"block", ':', 0},
                                            {"tag", 0, 0},
                                            {"tagstring", ':', 0},
                                            {"keep-order", 0, 'k'},
                                            {"ungroup", 0, 'u'},
                                            {"verbose", 0, 'v'},
                                            {"dry-run", 0, 0},
                                            {"progress", 0, 0},
                                            {"bar", 0, 0},
                                            {"pipe", 0, 0},
                                            {"xargs", 0, 0},
                                            {"null", 0, '0'},
                                            {"quote", 0, 'q'},
                                            {"shell", ':', 0},
                                            S_HELP,
                                            {NULL, 0, 0}};
//  nodemon: --exec/-x is a command string
static const s_long_t s_nodemon_longs[] = {{"exec", ':', 'x'},
                                           {"watch", ':', 'w'},
                                           {"ext", ':', 'e'},
                                           {"ignore", ':', 'i'},
                                           {"delay", ':', 'd'},
                                           {"config", ':', 0},
                                           {"signal", ':', 0},
                                           {"cwd", ':', 0},
                                           {"exitcrash", 0, 0},
                                           {"legacy-watch", 0, 'L'},
                                           {"polling-interval", ':', 'P'},
                                           {"quiet", 0, 'q'},
                                           {"verbose", 0, 'V'},
                                           {"no-stdin", 0, 'I'},
                                           {"spawn", 0, 0},
                                           {"on-change-only", 0, 'C'},
                                           S_HELP,
                                           {NULL, 0, 0}};

//  name, type, {shorts, nocmd, longs, -N options, long values only with =},
//  operands before the command, NAME=value operands, may call functions,
//  command when none is given, options that start a shell on stdin
// clang-format off
static const s_wrap_t s_wraps[] = {
    {"sudo",         W_EXEC,    {"Aa:BbC:c:D:Eeg:Hh::iKklNnPp:R:r:SsT:t:U:u:Vv", "eKlVvh!", s_sudo_longs, false, false}, 0, true,  false, NULL, "si"},
    {"doas",         W_EXEC,    {"a:C:Lnsu:", "CL", NULL, false, false},                                  0, false, false, NULL, "s"},
    {"pkexec",       W_EXEC,    {"", "!", s_pkexec_longs, false, false},                                  0, false, false, NULL, NULL},
    {"nice",         W_EXEC,    {"n:", "!", s_nice_longs, true, false},                                   0, false, false, NULL, NULL},
    {"ionice",       W_EXEC,    {"c:n:p:P:tu:h", "pPuh!", s_ionice_longs, false, false},                  0, false, false, NULL, NULL},
    {"nohup",        W_EXEC,    {"", "!", s_help_longs, false, false},                                    0, false, false, NULL, NULL},
    {"timeout",      W_EXEC,    {"k:s:v", "!", s_timeout_longs, false, false},                            1, false, false, NULL, NULL},
    {"stdbuf",       W_EXEC,    {"i:o:e:", "!", s_stdbuf_longs, false, false},                            0, false, false, NULL, NULL},
    {"time",         W_EXEC,    {"f:o:apqv", "!", s_time_longs, false, false},                            0, false, true,  NULL, NULL},
    {"command",      W_EXEC,    {"pVv", "Vv", NULL, false, false},                                        0, false, false, NULL, NULL},
    {"builtin",      W_EXEC,    {"", "", NULL, false, false},                                             0, false, false, NULL, NULL},
    {"exec",         W_EXEC,    {"a:cl", "", NULL, false, false},                                         0, false, false, NULL, NULL},
    {"xargs",        W_EXEC,    {"0a:d:E:e::I:i::L:l::n:oP:prs:tx", "!", s_xargs_longs, false, false},    0, false, false, "echo", NULL},
    {"nsenter",      W_EXEC,    {"aC::eFG:i::m::n::p::r::S:t:T::U::u::w::Z", "!", s_nsenter_longs, false, false}, 0, false, false, NULL, NULL},
    {"chroot",       W_EXEC,    {"", "!", s_chroot_longs, false, false},                                  1, false, false, NULL, NULL},
    {"unshare",      W_EXEC,    {"cC::fG:i::m::n::p::rR:S:T::U::u::w:", "!", s_unshare_longs, false, false}, 0, false, false, NULL, NULL},
    {"setsid",       W_EXEC,    {"cfw", "!", s_setsid_longs, false, false},                               0, false, false, NULL, NULL},
    {"chrt",         W_EXEC,    {"abD:defimoP:pRrT:v", "mp!", s_chrt_longs, false, false},                1, false, false, NULL, NULL},
    {"taskset",      W_EXEC,    {"acp", "p!", s_taskset_longs, false, false},                             1, false, false, NULL, NULL},
    {"strace",       W_EXEC,    {"a:b:cCdDe:E:fFhiI:kno:O:p:P:qrs:S:tTu:U:vVwxX:yzZ", "hV!", s_strace_longs, false, false}, 0, false, false, NULL, NULL},
    {"ltrace",       W_EXEC,    {"a:A:bcCD:e:fF:hiLl:n:o:p:rs:StTu:Vw:x:", "hV!", s_ltrace_longs, false, false}, 0, false, false, NULL, NULL},
    {"valgrind",     W_EXEC,    {"dhqv", "h!", s_help_longs, false, true},                                0, false, false, NULL, NULL},
    {"fakeroot",     W_EXEC,    {"hi:l:s:uv", "hv!", s_fakeroot_longs, false, false},                     0, false, false, NULL, NULL},
    {"unbuffer",     W_EXEC,    {"p", "", NULL, false, false},                                            0, false, false, NULL, NULL},
    {"torsocks",     W_EXEC,    {"a:dhiP:p:qu:", "h!", s_torsocks_longs, false, false},                   0, false, false, NULL, NULL},
    {"proxychains",  W_EXEC,    {"f:q", "", NULL, false, false},                                          0, false, false, NULL, NULL},
    {"proxychains4", W_EXEC,    {"f:q", "", NULL, false, false},                                          0, false, false, NULL, NULL},
    {"firejail",     W_EXEC,    {"", "!", s_help_longs, false, true},                                     0, false, false, NULL, NULL},
    {"env",          W_ENV,     {"", "", NULL, false, false},                                             0, true,  false, NULL, NULL},
    {"find",         W_FIND,    {"", "", NULL, false, false},                                             0, false, false, NULL, NULL},
    {"eval",         W_EVAL,    {"", "", NULL, false, false},                                             0, false, true,  NULL, NULL},
    {"trap",         W_TRAP,    {"", "", NULL, false, false},                                             0, false, true,  NULL, NULL},
    {"su",           W_SU,      {"", "", NULL, false, false},                                             0, false, false, NULL, NULL},
    {"runuser",      W_RUNUSER, {"c:fg:G:lmpPs:u:w:", "!", s_runuser_longs, false, false},                0, false, false, NULL, NULL},
    {"sg",           W_SG,      {"", "", NULL, false, false},                                             0, false, false, NULL, NULL},
    {"ssh",          W_SSH,     {"", "", NULL, false, false},                                             0, false, false, NULL, NULL},
    {"watch",        W_WATCH,   {"bcCd::eghn:pq:rtvwx", "hv!", s_watch_longs, false, false},              0, false, false, NULL, NULL},
    {"flock",        W_FLOCK,   {"c:E:eFhnosuVw:x", "hV!", s_flock_longs, false, false},                  0, false, false, NULL, NULL},
    {"script",       W_SCRIPT,  {"", "", NULL, false, false},                                             0, false, false, NULL, NULL},
    {"gdb",          W_GDB,     {"", "", NULL, false, false},                                             0, false, false, NULL, NULL},
    {"busybox",      W_BUSYBOX, {"", "", NULL, false, false},                                             0, false, false, NULL, NULL},
    {"source",       W_SOURCE,  {"", "", NULL, false, false},                                             0, false, false, NULL, NULL},
    {".",            W_SOURCE,  {"", "", NULL, false, false},                                             0, false, false, NULL, NULL},
    {"systemd-run",  W_EXEC,    {"u:p:rdE:tPSqGH:M:h", "h!", s_systemd_run_longs, false, false},      0, false, false, NULL, "S"},
    {"run0",         W_EXEC,    {"u:g:D:h", "h!", s_run0_longs, false, false},                        0, false, false, NULL, NULL},
    {"setpriv",      W_EXEC,    {"dhV", "dhV!", s_setpriv_longs, false, false},                       0, false, false, NULL, NULL},
    {"sshpass",      W_EXEC,    {"f:d:p:e::P:vhV", "hV", NULL, false, false},                         0, false, false, NULL, NULL},
    {"dbus-run-session", W_EXEC, {"", "!", s_dbus_run_longs, false, false},                           0, false, false, NULL, NULL},
    {"chpst",        W_EXEC,    {"vP012u:U:b:e:/:C:n:l:L:m:d:o:p:f:c:r:t:", "", NULL, false, false},  0, false, false, NULL, NULL},
    {"chronic",      W_EXEC,    {"ev", "", NULL, false, false},                                       0, false, false, NULL, NULL},
    {"caffeinate",   W_EXEC,    {"dimsut:w:", "", NULL, false, false},                                0, false, false, NULL, NULL},
    {"proot",        W_EXEC,    {"r:b:m:q:w:v:k:0i:lVh", "Vh!", s_proot_longs, false, false},         0, false, false, NULL, NULL},
    {"fakechroot",   W_EXEC,    {"sl:d:e:c:b:hv", "hv!", s_fakechroot_longs, false, false},           0, false, false, NULL, NULL},
    {"cpulimit",     W_EXEC,    {"l:p:e:P:c:s:zikrvqfbh", "h", NULL, false, false},                   0, false, false, NULL, NULL},
    {"bunx",         W_EXEC,    {"p:", "", s_bunx_longs, false, false},                               0, false, false, NULL, NULL},
    {"tmux",         W_TMUX,    {"", "", NULL, false, false},                                         0, false, false, NULL, NULL},
    {"screen",       W_SCREEN,  {"", "", NULL, false, false},                                         0, false, false, NULL, NULL},
    {"git",          W_GIT,     {"", "", NULL, false, false},                                         0, false, false, NULL, NULL},
    {"vim",          W_VIM,     {"", "", NULL, false, false},                                         0, false, false, NULL, NULL},
    {"nvim",         W_VIM,     {"", "", NULL, false, false},                                         0, false, false, NULL, NULL},
    {"vi",           W_VIM,     {"", "", NULL, false, false},                                         0, false, false, NULL, NULL},
    {"ex",           W_VIM,     {"", "", NULL, false, false},                                         0, false, false, NULL, NULL},
    {"view",         W_VIM,     {"", "", NULL, false, false},                                         0, false, false, NULL, NULL},
    {"vimdiff",      W_VIM,     {"", "", NULL, false, false},                                         0, false, false, NULL, NULL},
    {"xterm",        W_XTERM,   {"", "", NULL, false, false},                                         0, false, false, NULL, NULL},
    {"uxterm",       W_XTERM,   {"", "", NULL, false, false},                                         0, false, false, NULL, NULL},
    {"bwrap",        W_BWRAP,   {"", "", NULL, false, false},                                         0, false, false, NULL, NULL},
    {"bubblewrap",   W_BWRAP,   {"", "", NULL, false, false},                                         0, false, false, NULL, NULL},
    {"ip",           W_IPNETNS, {"", "", NULL, false, false},                                         0, false, false, NULL, NULL},
    {"capsh",        W_CAPSH,   {"", "", NULL, false, false},                                         0, false, false, NULL, NULL},
    {"at",           W_AT,      {"", "", NULL, false, false},                                         0, false, false, NULL, NULL},
    {"batch",        W_AT,      {"", "", NULL, false, false},                                         0, false, false, NULL, NULL},
    {"watchexec",    W_SHJOIN,  {"w:W:F:e:f:j:i:d:s:E:o:rc::NpqvhV", "hV!", s_watchexec_longs, false, false}, 0, false, false, NULL, NULL},
    {"nodemon",      W_NODEMON, {"x:w:e:i:d:LP:qVIChv", "hv!", s_nodemon_longs, false, false},        0, false, false, NULL, NULL},
    {"entr",         W_ENTR,    {"acdnprsz", "", NULL, false, false},                                 0, false, false, NULL, NULL},
    {"parallel",     W_PARALLEL, {"j:S:a:d:E::I:C:n:N:L:kuv0qXmhV", "hV!", s_parallel_longs, false, false}, 0, false, false, NULL, NULL},
    {"machinectl",   W_MACHINECTL, {"", "", NULL, false, false},                                      0, false, false, NULL, NULL},
    {"npx",          W_NPX,     {"", "", NULL, false, false},                                         0, false, false, NULL, NULL},
    {"npm",          W_NPM,     {"", "", NULL, false, false},                                         0, false, false, NULL, NULL},
    {"pnpm",         W_PNPM,    {"", "", NULL, false, false},                                         0, false, false, NULL, NULL},
    {"pnpx",         W_NPX,     {"", "", NULL, false, false},                                         0, false, false, NULL, NULL},
    {"yarn",         W_YARN,    {"", "", NULL, false, false},                                         0, false, false, NULL, NULL},
    {"bun",          W_BUN,     {"", "", NULL, false, false},                                         0, false, false, NULL, NULL},
};
// clang-format on

static const char *const s_shells[] = {"sh",    "bash",  "dash", "zsh",  "ksh",  "ksh93",
                                       "mksh",  "pdksh", "oksh", "ash",  "yash", "posh",
                                       "rbash", "fish",  "csh",  "tcsh", NULL};

//  Options, NAME=value words and fixed operands, then the command
static void
s_exec_from (shell_t *sh, const s_ectx_t *ctx, size_t outer, const shell_cmd_t *cmd,
             const s_wrap_t *w, size_t k)
{
    size_t a = k;
    if (w->assigns)
        while (k < cmd->argc && s_is_assignment (cmd->argv[k].text))
            k++;
    size_t nassigns = k - a;
    k = cmd->argc - k > w->positional ? k + w->positional : cmd->argc;
    if (k < cmd->argc)
        s_emit_inner (sh, ctx, outer, cmd->argv + k, cmd->argc - k, cmd->argv + a, nassigns,
                      w->name, w->calls);
    else if (w->dflt) {
        static const shell_word_t echo = {.text = "echo"};
        s_emit_inner (sh, ctx, outer, &echo, 1, cmd->argv + a, nassigns, w->name, w->calls);
    }
}

//  Splits env -S STRING into words (quotes, escapes, ${VAR} dynamic)
typedef struct {
    s_vec_t words;
    s_str_t cur;
    bool in_word, quoted, dyn, base_dyn;
} s_split_t;

static void
s_split_flush (shell_t *sh, s_split_t *st)
{
    if (st->in_word) {
        shell_word_t *w = s_vec_push (sh, &st->words, sizeof (shell_word_t));
        if (w) {
            w->text = s_str_cstr (sh, &st->cur);
            w->dynamic = st->dyn;
            w->quoted = st->quoted;
        }
    }
    memset (&st->cur, 0, sizeof (st->cur));
    st->in_word = st->quoted = false;
    st->dyn = st->base_dyn;
}

static char
s_split_escape (char c)
{
    switch (c) {
    case 'n':
        return '\n';
    case 't':
        return '\t';
    case 'r':
        return '\r';
    case 'f':
        return '\f';
    case 'v':
        return '\v';
    case '_':
        return ' ';
    default:
        return c;
    }
}

static shell_word_t *
s_env_split (shell_t *sh, const char *s, bool dynamic, size_t *count)
{
    s_split_t st;
    memset (&st, 0, sizeof (st));
    st.dyn = st.base_dyn = dynamic;
    bool stop = false;
    size_t i = 0;
    while (s[i] && !stop && !sh->failed) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            s_split_flush (sh, &st);
            i++;
            continue;
        }
        if (c == '#' && !st.in_word)
            break;
        st.in_word = true;
        if (c == '\'' || c == '"') {
            st.quoted = true;
            for (i++; s[i] && s[i] != c && !stop; i++) {
                char d = s[i];
                if (c == '"' && d == '\\' && s[i + 1]) {
                    d = s[++i];
                    if (d == 'c') {
                        stop = true;
                        break;
                    }
                    d = s_split_escape (d);
                } else if (c == '"' && d == '$' && s[i + 1] == '{')
                    st.dyn = true;
                s_str_putc (sh, &st.cur, d);
            }
            if (s[i] == c)
                i++;
            continue;
        }
        if (c == '\\' && s[i + 1]) {
            char d = s[i + 1];
            i += 2;
            st.quoted = true;
            if (d == 'c')
                stop = true;
            else if (d == '_')
                s_split_flush (sh, &st); //  outside quotes \_ separates
            else
                s_str_putc (sh, &st.cur, s_split_escape (d));
            continue;
        }
        if (c == '$' && s[i + 1] == '{')
            st.dyn = true;
        s_str_putc (sh, &st.cur, c);
        i++;
    }
    s_split_flush (sh, &st);
    *count = st.words.n;
    return st.words.data;
}

static void
s_unwrap_env (shell_t *sh, const s_ectx_t *ctx, size_t outer, const shell_cmd_t *cmd)
{
    static const char *const with_arg[] = {"unset", "chdir", "split-string", NULL};
    const shell_word_t *v = cmd->argv;
    size_t n = cmd->argc, i = 1;
    bool chdir = false; //  -C DIR: the command runs elsewhere
    while (i < n && !sh->failed) {
        const char *t = v[i].text;
        if (strcmp (t, "-") == 0) {
            i++;
            continue;
        }
        if (strcmp (t, "--") == 0) {
            i++;
            break;
        }
        if (t[0] != '-')
            break;
        i++;
        const char *split = NULL;
        bool splitting = false;
        if (t[1] == '-') {
            const char *name = t + 2;
            const char *eq = strchr (name, '=');
            size_t nlen = eq ? (size_t) (eq - name) : strlen (name);
            if ((nlen == 4 && !strncmp (name, "help", 4)) ||
                (nlen == 7 && !strncmp (name, "version", 7)))
                return;
            const char *hit = NULL;
            size_t hits = 0;
            for (size_t k = 0; with_arg[k]; k++)
                if (!strncmp (with_arg[k], name, nlen)) {
                    hit = with_arg[k];
                    hits++;
                }
            if (hits == 1) {
                const char *value = eq ? eq + 1 : i < n ? v[i++].text : "";
                chdir = chdir || !strcmp (hit, "chdir");
                if (!strcmp (hit, "split-string")) {
                    split = value;
                    splitting = true;
                }
            }
        } else {
            for (size_t j = 1; t[j]; j++) {
                char c = t[j];
                if (c == 'u' || c == 'C' || c == 'S') {
                    const char *value = t[j + 1] ? t + j + 1 : i < n ? v[i++].text : "";
                    chdir = chdir || c == 'C';
                    if (c == 'S') {
                        split = value;
                        splitting = true;
                    }
                    break;
                }
            }
        }
        if (splitting) {
            //  The words of the string take its place, then the rest
            size_t count = 0;
            if (!s_charge (sh, strlen (split) + n))
                return;
            shell_word_t *parts = s_env_split (sh, split, v[i - 1].dynamic, &count);
            if (sh->failed)
                return;
            shell_word_t *fresh = s_alloc (sh, (count + n - i + 1) * sizeof (shell_word_t));
            if (!fresh)
                return;
            if (count)
                memcpy (fresh, parts, count * sizeof (shell_word_t));
            if (n > i)
                memcpy (fresh + count, v + i, (n - i) * sizeof (shell_word_t));
            v = fresh;
            n = count + n - i;
            i = 0;
        }
    }
    size_t a = i;
    while (i < n && s_is_assignment (v[i].text))
        i++;
    s_emit_inner_as (sh, ctx, outer, v + i, n - i, v + a, i - a, "env", chdir ? "env -C" : NULL,
                     false);
}

static void
s_unwrap_find (shell_t *sh, const s_ectx_t *ctx, size_t outer, const shell_cmd_t *cmd)
{
    static const char *const actions[] = {"-exec", "-execdir", "-ok", "-okdir", NULL};
    static const char *const names[] = {"find -exec", "find -execdir", "find -ok", "find -okdir"};
    for (size_t i = 1; i < cmd->argc && !sh->failed; i++) {
        size_t a = 0;
        while (actions[a] && strcmp (cmd->argv[i].text, actions[a]) != 0)
            a++;
        if (!actions[a])
            continue;
        size_t start = i + 1, j = start;
        while (j < cmd->argc) {
            const char *t = cmd->argv[j].text;
            if (!strcmp (t, ";"))
                break;
            if (!strcmp (t, "+") && j > start && !strcmp (cmd->argv[j - 1].text, "{}"))
                break;
            j++;
        }
        if (j > start)
            s_emit_inner (sh, ctx, outer, cmd->argv + start, j - start, NULL, 0, names[a], false);
        i = j;
    }
}

//  A shell that reads its commands from stdin: when stdin is a heredoc or
//  here-string, its text is the script
static void
s_stdin_script (shell_t *sh, const s_ectx_t *ctx, size_t outer, const shell_cmd_t *cmd,
                const char *name)
{
    const shell_redir_t *input = NULL;
    for (size_t k = 0; k < cmd->redirs_count; k++)
        if (s_is_stdin_redir (&cmd->redirs[k]))
            input = &cmd->redirs[k]; //  the last one wins
    if (input && (input->kind == SHELL_REDIR_HEREDOC || input->kind == SHELL_REDIR_HERESTRING))
        s_reparse_as (sh, ctx, outer, input->target.text, name, false, true);
}

//  A path that is the process's own stdin
static bool
s_is_stdin_path (const char *path)
{
    return !strcmp (path, "/dev/stdin") || !strcmp (path, "/dev/fd/0") ||
           !strcmp (path, "/proc/self/fd/0");
}

static void
s_unwrap_shell (shell_t *sh, const s_ectx_t *ctx, size_t outer, const shell_cmd_t *cmd,
                const char *name)
{
    const shell_word_t *v = cmd->argv;
    size_t n = cmd->argc, i = 1;
    bool c_flag = false, s_flag = false;
    while (i < n) {
        const char *t = v[i].text;
        if (!strcmp (t, "--") || !strcmp (t, "-")) {
            i++;
            break;
        }
        if ((t[0] != '-' && t[0] != '+') || !t[1])
            break;
        i++;
        if (t[0] == '-' && t[1] == '-') {
            if ((!strcmp (t, "--rcfile") || !strcmp (t, "--init-file")) && i < n)
                i++;
            else if (!strcmp (t, "--help") || !strcmp (t, "--version"))
                return;
            continue;
        }
        for (size_t j = 1; t[j]; j++) {
            if (t[j] == 'c' && t[0] == '-')
                c_flag = true;
            else if (t[j] == 's' && t[0] == '-')
                s_flag = true;
            else if ((t[j] == 'o' || t[j] == 'O') && i < n)
                i++;
        }
    }
    char label[48];
    if (c_flag) {
        if (i < n) {
            snprintf (label, sizeof (label), "%s -c", name);
            s_reparse (sh, ctx, outer, v[i].text, s_strndup (sh, label, strlen (label)), false);
        }
        return;
    }
    if (i < n && !s_flag && !s_is_stdin_path (v[i].text))
        return; //  runs a script file (bash /dev/stdin reads stdin as one)
    snprintf (label, sizeof (label), "%s <<", name);
    s_stdin_script (sh, ctx, outer, cmd, s_strndup (sh, label, strlen (label)));
}

//  su and friends: -c STRING anywhere (su permutes its arguments)
static const char *
s_find_dash_c (const shell_cmd_t *cmd, const char *with_arg)
{
    const shell_word_t *v = cmd->argv;
    const char *found = NULL;
    for (size_t i = 1; i < cmd->argc; i++) {
        const char *t = v[i].text;
        if (!strcmp (t, "--"))
            break;
        if (t[0] != '-' || !t[1])
            continue;
        if (t[1] == '-') {
            const char *name = t + 2;
            const char *eq = strchr (name, '=');
            size_t nlen = eq ? (size_t) (eq - name) : strlen (name);
            bool command = (nlen == 7 && !strncmp (name, "command", 7)) ||
                           (nlen == 15 && !strncmp (name, "session-command", 15));
            bool takes = command || (nlen == 5 && !strncmp (name, "shell", 5)) ||
                         (nlen == 5 && !strncmp (name, "group", 5)) ||
                         (nlen == 10 && !strncmp (name, "supp-group", 10)) ||
                         (nlen == 4 && !strncmp (name, "user", 4)) ||
                         (nlen == 21 && !strncmp (name, "whitelist-environment", 21));
            const char *value = NULL;
            if (eq)
                value = eq + 1;
            else if (takes && i + 1 < cmd->argc)
                value = v[++i].text;
            if (command && value)
                found = value;
            continue;
        }
        for (size_t j = 1; t[j]; j++) {
            if (t[j] == 'c' || strchr (with_arg, t[j])) {
                const char *value = t[j + 1] ? t + j + 1 : i + 1 < cmd->argc ? v[++i].text : NULL;
                if (t[j] == 'c' && value)
                    found = value;
                break;
            }
        }
    }
    return found;
}

static void
s_unwrap_ssh (shell_t *sh, const s_ectx_t *ctx, size_t outer, const shell_cmd_t *cmd)
{
    static const char with_arg[] = "BbcDEeFIiJLlmOoPpQRSWw";
    const shell_word_t *v = cmd->argv;
    size_t n = cmd->argc, i = 1;
    bool host = false;
    while (i < n) {
        const char *t = v[i].text;
        if (!strcmp (t, "--")) {
            i++;
            if (!host && i < n) {
                host = true;
                i++;
            }
            break;
        }
        if (t[0] == '-' && t[1]) {
            i++;
            for (size_t j = 1; t[j]; j++)
                if (strchr (with_arg, t[j])) {
                    if (!t[j + 1] && i < n)
                        i++;
                    break;
                }
            continue;
        }
        if (host)
            break;
        host = true;
        i++;
    }
    if (host && i < n)
        s_reparse (sh, ctx, outer, s_join (sh, v, i, n), "ssh", false);
    else if (host)
        s_stdin_script (sh, ctx, outer, cmd, "ssh"); //  the remote shell reads stdin
}

//  More wrappers ------------------------------------------------------------

//  argv[from..to) as a command of its own (argv[from] its name), for
//  scanning the options of a subcommand
static shell_cmd_t
s_sub_cmd (const shell_cmd_t *cmd, size_t from, size_t to)
{
    shell_cmd_t sub;
    memset (&sub, 0, sizeof (sub));
    sub.argv = cmd->argv + from;
    sub.argc = to > from ? to - from : 0;
    return sub;
}

static void
s_reparse_join (shell_t *sh, const s_ectx_t *ctx, size_t index, const shell_cmd_t *cmd, size_t from,
                size_t to, const char *name)
{
    if (from < to)
        s_reparse (sh, ctx, index, s_join (sh, cmd->argv, from, to), name, false);
}

//  tmux: the commands (separated by ";" words) that run shell commands
typedef struct {
    const char *name, *alias;
    const char *shorts;
    char kind; //  's' shell-command operands, 'k' send-keys, 'i' if-shell
} s_tmux_cmd_t;

static const s_tmux_cmd_t s_tmux_cmds[] = {
    {"new-session", "new", "AdDEPXc:e:f:F:n:s:t:x:y:", 's'},
    {"new-window", "neww", "abdkPSc:e:F:n:t:", 's'},
    {"split-window", "splitw", "bdfhIvPZc:e:l:p:t:F:", 's'},
    {"respawn-pane", "respawnp", "kc:e:t:", 's'},
    {"respawn-window", "respawnw", "kc:e:t:", 's'},
    {"run-shell", "run", "bCc:d:t:", 's'},
    {"display-popup", "popup", "BCEb:c:d:e:h:s:S:t:T:w:x:y:", 's'},
    {"pipe-pane", "pipep", "IOot:", 's'},
    {"if-shell", "if", "bFt:", 'i'},
    {"send-keys", "send", "FHlMRXKc:N:t:", 'k'},
    {NULL, NULL, NULL, 0}};

//  send-keys KEY...: the keys typed, Enter and C-m as newlines
static void
s_tmux_keys (shell_t *sh, const s_ectx_t *ctx, size_t index, const shell_cmd_t *cmd, size_t from,
             size_t to)
{
    s_str_t text = {0};
    for (size_t i = from; i < to; i++) {
        const char *k = cmd->argv[i].text;
        if (!strcmp (k, "Enter") || !strcmp (k, "C-m") || !strcmp (k, "C-j") ||
            !strcmp (k, "KPEnter")) {
            s_str_putc (sh, &text, '\n');
            continue;
        }
        if (!s_charge (sh, strlen (k) + 1))
            return;
        if (text.n && text.data[text.n - 1] != '\n')
            s_str_putc (sh, &text, ' ');
        s_str_put (sh, &text, k, strlen (k));
    }
    const char *src = s_str_cstr (sh, &text);
    if (!sh->failed && text.n)
        s_reparse (sh, ctx, index, src, "tmux send-keys", false);
}

static void
s_unwrap_tmux (shell_t *sh, const s_ectx_t *ctx, size_t index, const shell_cmd_t *cmd)
{
    static const s_opts_t global = {"2CDluvVNc:f:L:S:T:", "Vv", NULL, false, false};
    s_optres_t r;
    s_scan_opts (cmd, 1, &global, &r);
    if (r.arg['c'])
        s_reparse (sh, ctx, index, r.arg['c'], "tmux", false);
    if (r.nocmd)
        return;
    size_t i = r.next;
    while (i < cmd->argc && !sh->failed) {
        size_t end = i;
        while (end < cmd->argc && strcmp (cmd->argv[end].text, ";") != 0)
            end++;
        const char *name = cmd->argv[i].text;
        const s_tmux_cmd_t *t = s_tmux_cmds;
        while (t->name && strcmp (t->name, name) != 0 && strcmp (t->alias, name) != 0)
            t++;
        if (t->name) {
            s_opts_t o = {t->shorts, "", NULL, false, false};
            shell_cmd_t sub = s_sub_cmd (cmd, i, end);
            s_scan_opts (&sub, 1, &o, &r);
            size_t first = i + r.next;
            bool tmux_cmd = t->kind == 's' && r.seen['C'] && !strcmp (t->name, "run-shell");
            if (t->kind == 'k')
                s_tmux_keys (sh, ctx, index, cmd, first, end);
            else if (t->kind == 'i') {
                if (first < end && !r.seen['F']) //  -F: a format, not a command
                    s_reparse (sh, ctx, index, cmd->argv[first].text, "tmux", false);
            } else if (!tmux_cmd)
                s_reparse_join (sh, ctx, index, cmd, first, end, "tmux");
        }
        i = end + 1;
    }
}

//  screen [options] [cmd [args]]; screen -X stuff TEXT / -X screen CMD
static void
s_unwrap_screen (shell_t *sh, const s_ectx_t *ctx, size_t index, const shell_cmd_t *cmd)
{
    static const char *const with_arg[] = {"-c", "-e", "-h", "-p",       "-s",
                                           "-S", "-t", "-T", "-Logfile", NULL};
    static const char *const nocmd[] = {"-v",    "-ls",    "-list",     "-wipe",
                                        "-help", "--help", "--version", NULL};
    const shell_word_t *v = cmd->argv;
    size_t n = cmd->argc, i = 1;
    while (i < n && !sh->failed) {
        const char *t = v[i].text;
        if (t[0] != '-' || !t[1])
            break;
        i++;
        if (!strcmp (t, "--"))
            break;
        if (!strcmp (t, "-X")) {
            if (i >= n)
                return;
            const char *verb = v[i].text;
            if (!strcmp (verb, "stuff")) {
                //  Typed into the window: \n, \r and ^M end lines
                const char *text = s_join (sh, v, i + 1, n);
                s_str_t typed = {0};
                for (const char *c = text; *c; c++) {
                    if ((c[0] == '\\' && (c[1] == 'n' || c[1] == 'r')) ||
                        (c[0] == '^' && (c[1] == 'M' || c[1] == 'J'))) {
                        s_str_putc (sh, &typed, '\n');
                        c++;
                    } else
                        s_str_putc (sh, &typed, *c);
                }
                s_reparse (sh, ctx, index, s_str_cstr (sh, &typed), "screen -X stuff", false);
            } else if (!strcmp (verb, "screen") || !strcmp (verb, "exec")) {
                size_t k = i + 1;
                if (!strcmp (verb, "exec") && k < n &&
                    strspn (v[k].text, ".!|") == strlen (v[k].text))
                    k++; //  exec's fd pattern
                while (!strcmp (verb, "screen") && k < n && v[k].text[0] == '-') {
                    k++; //  screen's own -t title etc.: read both ways below
                }
                if (k < n)
                    s_emit_inner (sh, ctx, index, v + k, n - k, NULL, 0, "screen", false);
            }
            return;
        }
        for (size_t k = 0; nocmd[k]; k++)
            if (!strcmp (t, nocmd[k]))
                return;
        bool whole = false;
        for (size_t k = 0; with_arg[k] && !whole; k++)
            if (!strcmp (t, with_arg[k])) {
                i++;
                whole = true;
            }
        //  A cluster (-dmS NAME): a letter taking a value ends it
        for (size_t j = 1; !whole && t[j] && t[1] != 'L' && strncmp (t, "-f", 2) != 0; j++)
            if (strchr ("cehpsStT", t[j])) {
                if (!t[j + 1])
                    i++;
                break;
            }
    }
    if (i < n)
        s_emit_inner (sh, ctx, index, v + i, n - i, NULL, 0, "screen", false);
}

//  git: -c alias.NAME=!CMD / =ARGS, rebase --exec, bisect run, submodule
//  foreach, and -c keys whose value is a command git runs
static bool
s_git_key_is (const char *key, size_t len, const char *name)
{
    return strlen (name) == len && !strncasecmp (key, name, len);
}

static void
s_unwrap_git (shell_t *sh, const s_ectx_t *ctx, size_t index, const shell_cmd_t *cmd)
{
    static const s_long_t longs[] = {{"git-dir", ':', 0},
                                     {"work-tree", ':', 0},
                                     {"namespace", ':', 0},
                                     {"config-env", ':', 0},
                                     {"super-prefix", ':', 0},
                                     {"exec-path", '?', 0},
                                     {"list-cmds", ':', '!'},
                                     S_HELP,
                                     {NULL, 0, 0}};
    const shell_word_t *v = cmd->argv;
    size_t n = cmd->argc, i = 1;
    const char *alias_name[16];
    const char *alias_value[16];
    size_t naliases = 0;
    //  Global options, collecting -c NAME=VALUE
    while (i < n && v[i].text[0] == '-' && !sh->failed) {
        const char *t = v[i++].text;
        const char *conf = NULL;
        if (!strcmp (t, "-c") && i < n)
            conf = v[i++].text;
        else if (!strncmp (t, "-c", 2) && t[2])
            conf = t + 2;
        else if (!strcmp (t, "-C") && i < n)
            i++;
        else if (t[1] == '-') {
            const char *eq = strchr (t + 2, '=');
            size_t len = eq ? (size_t) (eq - t - 2) : strlen (t + 2);
            const s_long_t *l = s_find_long (longs, t + 2, len);
            if (l && l->alias == '!')
                return;
            if (l && l->arg == ':' && !eq && i < n)
                i++;
        }
        if (!conf)
            continue;
        const char *eq = strchr (conf, '=');
        if (!eq)
            continue;
        size_t klen = (size_t) (eq - conf);
        const char *value = eq + 1;
        if (klen > 6 && !strncasecmp (conf, "alias.", 6) && naliases < 16) {
            alias_name[naliases] = s_strndup (sh, conf + 6, klen - 6);
            alias_value[naliases++] = value;
        } else if (s_git_key_is (conf, klen, "core.pager") ||
                   s_git_key_is (conf, klen, "core.editor") ||
                   s_git_key_is (conf, klen, "core.sshCommand") ||
                   s_git_key_is (conf, klen, "core.fsmonitor") ||
                   s_git_key_is (conf, klen, "sequence.editor") ||
                   s_git_key_is (conf, klen, "diff.external") ||
                   (klen > 6 && !strncasecmp (conf, "pager.", 6)))
            s_reparse (sh, ctx, index, value, "git -c", false);
        else if (s_git_key_is (conf, klen, "credential.helper") && value[0] == '!')
            s_reparse (sh, ctx, index, value + 1, "git -c", false);
    }
    if (i >= n || sh->failed)
        return;
    const char *sub = v[i].text;
    for (size_t a = naliases; a-- > 0;) {
        if (strcmp (alias_name[a], sub) != 0)
            continue;
        const char *value = alias_value[a];
        s_str_t text = {0};
        if (value[0] == '!')
            s_str_put (sh, &text, value + 1, strlen (value + 1));
        else {
            //  A git alias: git with these arguments (not itself again)
            size_t w = strcspn (value, " \t");
            if (w == strlen (sub) && !strncmp (value, sub, w))
                return;
            s_str_put (sh, &text, "git ", 4);
            s_str_put (sh, &text, value, strlen (value));
        }
        for (size_t k = i + 1; k < n; k++) {
            s_str_putc (sh, &text, ' ');
            s_alias_put_word (sh, &text, &v[k]);
        }
        s_reparse (sh, ctx, index, s_str_cstr (sh, &text), "git alias", false);
        return;
    }
    if (!strcmp (sub, "rebase")) {
        for (size_t k = i + 1; k < n; k++) {
            const char *t = v[k].text;
            if (!strcmp (t, "--"))
                break;
            if ((!strcmp (t, "--exec") || !strcmp (t, "-x")) && k + 1 < n)
                s_reparse (sh, ctx, index, v[++k].text, "git rebase --exec", false);
            else if (!strncmp (t, "--exec=", 7))
                s_reparse (sh, ctx, index, t + 7, "git rebase --exec", false);
            else if (!strncmp (t, "-x", 2) && t[2])
                s_reparse (sh, ctx, index, t + 2, "git rebase --exec", false);
        }
    } else if (!strcmp (sub, "bisect") && i + 2 < n && !strcmp (v[i + 1].text, "run"))
        s_emit_inner (sh, ctx, index, v + i + 2, n - i - 2, NULL, 0, "git bisect run", false);
    else if (!strcmp (sub, "submodule")) {
        size_t k = i + 1;
        while (k < n && v[k].text[0] == '-')
            k++;
        if (k < n && !strcmp (v[k].text, "foreach")) {
            k++;
            while (k < n && v[k].text[0] == '-')
                k++; //  --recursive, --quiet
            s_reparse_join (sh, ctx, index, cmd, k, n, "git submodule foreach");
        }
    }
}

//  vim -c CMD, +CMD, --cmd CMD: a CMD starting with ! is a shell command
static void
s_vim_cmd (shell_t *sh, const s_ectx_t *ctx, size_t index, const char *c)
{
    while (*c == ':' || *c == ' ' || *c == '\t')
        c++;
    if (!strncmp (c, "silent", 6)) {
        c += 6;
        if (*c == '!')
            c++;
        while (*c == ' ' || *c == '\t')
            c++;
    }
    if (*c == '!')
        s_reparse (sh, ctx, index, c + 1, "vim -c", false);
}

static void
s_unwrap_vim (shell_t *sh, const s_ectx_t *ctx, size_t index, const shell_cmd_t *cmd)
{
    const shell_word_t *v = cmd->argv;
    for (size_t i = 1; i < cmd->argc && !sh->failed; i++) {
        const char *t = v[i].text;
        if (!strcmp (t, "--"))
            break;
        if ((!strcmp (t, "-c") || !strcmp (t, "--cmd")) && i + 1 < cmd->argc)
            s_vim_cmd (sh, ctx, index, v[++i].text);
        else if (t[0] == '+' && t[1])
            s_vim_cmd (sh, ctx, index, t + 1);
    }
}

//  xterm ... -e CMD ARGS (and terminals like it): everything after -e
static void
s_unwrap_after (shell_t *sh, const s_ectx_t *ctx, size_t index, const shell_cmd_t *cmd,
                const char *marker, const char *name)
{
    for (size_t i = 1; i + 1 < cmd->argc; i++)
        if (!strcmp (cmd->argv[i].text, marker)) {
            s_emit_inner (sh, ctx, index, cmd->argv + i + 1, cmd->argc - i - 1, NULL, 0, name,
                          false);
            return;
        }
}

//  bwrap: options take 0, 1 or 2 arguments; an unknown one is read with 0
//  and with 1
static void
s_unwrap_bwrap (shell_t *sh, const s_ectx_t *ctx, size_t index, const shell_cmd_t *cmd)
{
    static const char *const two[] = {
        "--bind",         "--bind-try",    "--dev-bind",    "--dev-bind-try",
        "--ro-bind",      "--ro-bind-try", "--file",        "--bind-data",
        "--ro-bind-data", "--symlink",     "--chmod",       "--setenv",
        "--bind-fd",      "--ro-bind-fd",  "--overlay-src", NULL};
    static const char *const one[] = {"--args",         "--argv0",
                                      "--userns",       "--userns2",
                                      "--pidns",        "--uid",
                                      "--gid",          "--hostname",
                                      "--chdir",        "--unsetenv",
                                      "--lock-file",    "--sync-fd",
                                      "--remount-ro",   "--exec-label",
                                      "--file-label",   "--proc",
                                      "--dev",          "--tmpfs",
                                      "--mqueue",       "--dir",
                                      "--seccomp",      "--add-seccomp-fd",
                                      "--block-fd",     "--userns-block-fd",
                                      "--info-fd",      "--json-status-fd",
                                      "--cap-add",      "--cap-drop",
                                      "--perms",        "--size",
                                      "--tmp-overlay",  "--ro-overlay",
                                      "--level-prefix", NULL};
    static const char *const zero[] = {"--unshare-all",
                                       "--share-net",
                                       "--unshare-user",
                                       "--unshare-user-try",
                                       "--unshare-ipc",
                                       "--unshare-pid",
                                       "--unshare-net",
                                       "--unshare-uts",
                                       "--unshare-cgroup",
                                       "--unshare-cgroup-try",
                                       "--clearenv",
                                       "--new-session",
                                       "--die-with-parent",
                                       "--as-pid-1",
                                       "--disable-userns",
                                       "--assert-userns-disabled",
                                       NULL};
    const shell_word_t *v = cmd->argv;
    size_t n = cmd->argc, i = 1, alt = S_NONE;
    while (i < n) {
        const char *t = v[i].text;
        if (!strcmp (t, "--")) {
            i++;
            break;
        }
        if (strncmp (t, "--", 2) != 0)
            break;
        i++;
        if (!strcmp (t, "--help") || !strcmp (t, "--version"))
            return;
        bool known = !strcmp (t, "--overlay");
        if (known)
            i += 3;
        for (size_t k = 0; one[k] && !known; k++)
            if (!strcmp (t, one[k])) {
                i++;
                known = true;
            }
        for (size_t k = 0; two[k] && !known; k++)
            if (!strcmp (t, two[k])) {
                i += 2;
                known = true;
            }
        for (size_t k = 0; zero[k] && !known; k++)
            known = !strcmp (t, zero[k]);
        if (!known) {
            if (alt == S_NONE && i < n)
                alt = i; //  had it no argument, the command starts here
            i++;
        }
    }
    if (i < n)
        s_emit_inner (sh, ctx, index, v + i, n - i, NULL, 0, "bwrap", false);
    if (alt != S_NONE && alt != i && alt < n && strncmp (v[alt].text, "--", 2) != 0)
        s_emit_inner (sh, ctx, index, v + alt, n - alt, NULL, 0, "bwrap", false);
}

//  GNU parallel: the command template (before ::: or ::::) is run by a
//  shell; without one, each argument is a command
static void
s_unwrap_parallel (shell_t *sh, const s_ectx_t *ctx, size_t index, const shell_cmd_t *cmd,
                   const s_wrap_t *w)
{
    s_optres_t r;
    s_scan_opts (cmd, 1, &w->opts, &r);
    if (r.nocmd)
        return;
    size_t end = r.next;
    while (end < cmd->argc && strncmp (cmd->argv[end].text, ":::", 3) != 0)
        end++;
    if (end > r.next) {
        s_reparse_join (sh, ctx, index, cmd, r.next, end, "parallel");
        return;
    }
    for (size_t k = end; k < cmd->argc && !sh->failed; k++)
        if (strncmp (cmd->argv[k].text, ":::", 3) != 0)
            s_reparse (sh, ctx, index, cmd->argv[k].text, "parallel", false);
}

//  npx / npm exec / pnpm exec|dlx / yarn dlx|exec / bun x: -c STRING is
//  run by a shell; otherwise the package's binary is the command
static void
s_unwrap_pkgexec (shell_t *sh, const s_ectx_t *ctx, size_t index, const shell_cmd_t *cmd,
                  size_t from, const s_long_t *longs, const char *shorts, const char *name)
{
    s_opts_t o = {shorts, "", longs, false, false};
    shell_cmd_t sub = s_sub_cmd (cmd, from - 1, cmd->argc);
    s_optres_t r;
    s_scan_opts (&sub, 1, &o, &r);
    size_t next = from - 1 + r.next;
    if (r.arg['c'] && r.arg['c'][0]) {
        s_reparse (sh, ctx, index, r.arg['c'], name, false);
        return;
    }
    if (r.seen['c'] && next < cmd->argc) { //  pnpm's shell mode
        s_reparse_join (sh, ctx, index, cmd, next, cmd->argc, name);
        return;
    }
    if (next < cmd->argc)
        s_emit_inner (sh, ctx, index, cmd->argv + next, cmd->argc - next, NULL, 0, name, false);
    if (r.alt != S_NONE && from - 1 + r.alt < cmd->argc && from - 1 + r.alt != next)
        s_emit_inner (sh, ctx, index, cmd->argv + from - 1 + r.alt, cmd->argc - from + 1 - r.alt,
                      NULL, 0, name, false);
}

//  Where the first of verbs is (npm's, pnpm's subcommand), or argc
static size_t
s_verb_at (const shell_cmd_t *cmd, const char *const *verbs)
{
    for (size_t i = 1; i < cmd->argc; i++) {
        const char *t = cmd->argv[i].text;
        if (!strcmp (t, "--"))
            break;
        for (size_t k = 0; verbs[k]; k++)
            if (!strcmp (t, verbs[k]))
                return i;
    }
    return cmd->argc;
}

//  Runners: programs that run a command given after a subcommand (uv run,
//  docker exec, perf stat, ...) --------------------------------------------
//
//  Each level of options is scanned with every unknown option read both
//  ways (taking the next word or not) at once: the positions where an
//  operand may start are marked in one pass, so several unknown options
//  cost no more than one.

//  start[p]: an operand may start at argv[p], for scans from each position
//  marked in from (both of argc + 1 entries)
static bool *
s_starts (shell_t *sh, const shell_cmd_t *cmd, const bool *from, const s_opts_t *o)
{
    const shell_word_t *v = cmd->argv;
    size_t n = cmd->argc;
    if (!s_charge (sh, n + 1))
        return NULL;
    bool *reach = s_alloc (sh, (n + 2) * sizeof (bool));
    bool *start = s_alloc (sh, (n + 1) * sizeof (bool));
    if (!reach || !start)
        return NULL;
    memcpy (reach, from, (n + 1) * sizeof (bool));
    for (size_t p = 0; p < n; p++) {
        if (!reach[p])
            continue;
        const char *t = v[p].text;
        if (t[0] != '-' || t[1] == 0) {
            start[p] = true;
            continue;
        }
        if (!strcmp (t, "--")) {
            start[p + 1] = true;
            continue;
        }
        bool next_free = p + 1 < n && v[p + 1].text[0] != '-';
        bool can0 = false, can1 = false;
        if (o->numeric && s_all_digits (t + 1))
            can0 = true;
        else if (t[1] == '-') {
            const char *name = t + 2;
            const char *eq = strchr (name, '=');
            size_t nlen = eq ? (size_t) (eq - name) : strlen (name);
            const s_long_t *l = s_find_long (o->longs, name, nlen);
            if (l && (l->alias == '!' || s_is_nocmd (o, l->alias, eq != NULL)))
                continue; //  --help: nothing runs
            if (l)
                can0 = !(l->arg == ':' && !eq), can1 = l->arg == ':' && !eq;
            else
                can0 = true, can1 = !eq && !o->longeq && next_free;
        } else {
            bool flags = true;
            for (size_t j = 1; t[j] && flags; j++) {
                unsigned char c = (unsigned char) t[j];
                const char *s = c < 128 && c != ':' ? strchr (o->shorts, c) : NULL;
                if (!s) {
                    //  Unknown: its value (attached or the next word), or a flag
                    if (t[j + 1])
                        can0 = true;
                    else
                        can1 = can1 || next_free;
                    continue;
                }
                bool optional = s[1] == ':' && s[2] == ':';
                if (s_is_nocmd (o, (char) c, optional ? t[j + 1] != 0 : s[1] == ':'))
                    flags = false; //  this reading runs nothing
                else if (optional || (s[1] == ':' && t[j + 1]))
                    can0 = true, flags = false;
                else if (s[1] == ':')
                    can1 = p + 1 < n, flags = false;
            }
            can0 = can0 || flags;
        }
        if (can0)
            reach[p + 1] = true;
        if (can1)
            reach[p + 2] = true;
    }
    return start;
}

typedef struct {
    const char *prog;          //  argv[0] (basename)
    const char *verbs[3];      //  the subcommand's words (NULL-terminated)
    const s_opts_t *before[3]; //  options before each verb
    const s_opts_t *opts;      //  options of the subcommand
    size_t positional;         //  operands before the command (docker exec CONTAINER)
    char mode;                 //  see s_unwrap_runner
    char latest;               //  short option (long "latest") that drops the positional
    const char *name;          //  wrapper name
} s_runner_t;

//  uv(1): global options, `uv run` and `uv tool run` / uvx (one table: uv
//  takes its global options after the subcommand too)
static const s_long_t s_uv_longs[] = {{"with", ':', 0},
                                      {"with-editable", ':', 0},
                                      {"with-requirements", ':', 0},
                                      {"python", ':', 'p'},
                                      {"directory", ':', 0},
                                      {"project", ':', 0},
                                      {"env-file", ':', 0},
                                      {"extra", ':', 0},
                                      {"no-extra", ':', 0},
                                      {"group", ':', 0},
                                      {"no-group", ':', 0},
                                      {"only-group", ':', 0},
                                      {"package", ':', 0},
                                      {"from", ':', 0},
                                      {"constraints", ':', 'c'},
                                      {"constraint", ':', 'c'},
                                      {"overrides", ':', 0},
                                      {"override", ':', 0},
                                      {"build-constraints", ':', 'b'},
                                      {"build-constraint", ':', 'b'},
                                      {"index", ':', 0},
                                      {"default-index", ':', 0},
                                      {"index-url", ':', 'i'},
                                      {"extra-index-url", ':', 0},
                                      {"find-links", ':', 'f'},
                                      {"index-strategy", ':', 0},
                                      {"keyring-provider", ':', 0},
                                      {"resolution", ':', 0},
                                      {"prerelease", ':', 0},
                                      {"fork-strategy", ':', 0},
                                      {"exclude-newer", ':', 0},
                                      {"exclude-newer-package", ':', 0},
                                      {"no-build-package", ':', 0},
                                      {"no-binary-package", ':', 0},
                                      {"refresh-package", ':', 0},
                                      {"reinstall-package", ':', 0},
                                      {"upgrade-package", ':', 'P'},
                                      {"link-mode", ':', 0},
                                      {"config-setting", ':', 'C'},
                                      {"config-settings-package", ':', 0},
                                      {"no-build-isolation-package", ':', 0},
                                      {"cache-dir", ':', 0},
                                      {"python-preference", ':', 0},
                                      {"python-platform", ':', 0},
                                      {"color", ':', 0},
                                      {"config-file", ':', 0},
                                      {"allow-insecure-host", ':', 0},
                                      {"trusted-host", ':', 0},
                                      {"module", 0, 'm'},
                                      {"script", 0, 's'},
                                      {"quiet", 0, 'q'},
                                      {"verbose", 0, 'v'},
                                      {"no-cache", 0, 'n'},
                                      {"upgrade", 0, 'U'},
                                      {"isolated", 0, 0},
                                      {"no-sync", 0, 0},
                                      {"frozen", 0, 0},
                                      {"locked", 0, 0},
                                      {"no-project", 0, 0},
                                      {"all-extras", 0, 0},
                                      {"no-dev", 0, 0},
                                      {"offline", 0, 0},
                                      S_HELP,
                                      {NULL, 0, 0}};
static const s_opts_t s_uv_opts = {"p:i:f:P:C:c:b:mqvnUsVh", "Vh", s_uv_longs, false, false};

//  poetry(1): -C/--directory, -P/--project
static const s_long_t s_poetry_longs[] = {{"directory", ':', 'C'},
                                          {"project", ':', 'P'},
                                          {"quiet", 0, 'q'},
                                          {"verbose", 0, 'v'},
                                          {"no-interaction", 0, 'n'},
                                          {"no-plugins", 0, 0},
                                          {"no-cache", 0, 0},
                                          {"ansi", 0, 0},
                                          {"no-ansi", 0, 0},
                                          S_HELP,
                                          {NULL, 0, 0}};
static const s_opts_t s_poetry_opts = {"C:P:qvnhV", "hV", s_poetry_longs, false, false};

//  pipenv(1), pdm(1), hatch(1): options with values
static const s_long_t s_pipenv_longs[] = {
    {"python", ':', 0},  {"pypi-mirror", ':', 0}, {"site-packages", 0, 0},
    {"verbose", 0, 'v'}, {"quiet", 0, 'q'},       S_HELP,
    {NULL, 0, 0}};
static const s_opts_t s_pipenv_opts = {"vqh", "h", s_pipenv_longs, false, false};
static const s_long_t s_pdm_longs[] = {
    {"project", ':', 'p'}, {"config", ':', 'c'}, {"venv", ':', 0},          {"skip", ':', 'k'},
    {"list", 0, 'l'},      {"json", 0, 'j'},     {"site-packages", 0, 's'}, {"global", 0, 'g'},
    {"recreate", 0, 0},    {"verbose", 0, 'v'},  {"quiet", 0, 'q'},         S_HELP,
    {NULL, 0, 0}};
static const s_opts_t s_pdm_opts = {"p:c:k:ljsgvqIh", "lhj", s_pdm_longs, false, false};
static const s_long_t s_hatch_longs[] = {
    {"env", ':', 'e'},  {"project", ':', 'p'}, {"data-dir", ':', 0},     {"cache-dir", ':', 0},
    {"config", ':', 0}, {"verbose", 0, 'v'},   {"quiet", 0, 'q'},        {"color", 0, 0},
    {"no-color", 0, 0}, {"interactive", 0, 0}, {"no-interactive", 0, 0}, S_HELP,
    {NULL, 0, 0}};
static const s_opts_t s_hatch_opts = {"e:p:i:x:f:vqh", "h", s_hatch_longs, false, false};
static const s_opts_t s_hatch_run_opts = {"", "", NULL, false, false};

//  conda run, mamba run, micromamba run
static const s_long_t s_conda_longs[] = {{"name", ':', 'n'},
                                         {"prefix", ':', 'p'},
                                         {"cwd", ':', 0},
                                         {"root-prefix", ':', 'r'},
                                         {"attach", ':', 'a'},
                                         {"env", ':', 'e'},
                                         {"label", ':', 0},
                                         {"rc-file", ':', 0},
                                         {"log-level", ':', 0},
                                         {"live-stream", 0, 0},
                                         {"no-capture-output", 0, 0},
                                         {"dev", 0, 0},
                                         {"debug-wrapper-scripts", 0, 0},
                                         {"detach", 0, 'd'},
                                         {"clean-env", 0, 0},
                                         {"verbose", 0, 'v'},
                                         {"quiet", 0, 'q'},
                                         {"json", 0, 0},
                                         {"no-rc", 0, 0},
                                         {"no-env", 0, 0},
                                         {"offline", 0, 0},
                                         S_HELP,
                                         {NULL, 0, 0}};
static const s_opts_t s_conda_opts = {"n:p:r:a:e:dvqhV", "hV", s_conda_longs, false, false};

//  pipx run
static const s_long_t s_pipx_longs[] = {{"spec", ':', 0},
                                        {"python", ':', 0},
                                        {"index-url", ':', 'i'},
                                        {"pip-args", ':', 0},
                                        {"backend", ':', 0},
                                        {"no-cache", 0, 0},
                                        {"pypackages", 0, 0},
                                        {"path", 0, 0},
                                        {"fetch-missing-python", 0, 0},
                                        {"system-site-packages", 0, 0},
                                        {"editable", 0, 'e'},
                                        {"global", 0, 0},
                                        {"verbose", 0, 'v'},
                                        {"quiet", 0, 'q'},
                                        S_HELP,
                                        {NULL, 0, 0}};
static const s_opts_t s_pipx_opts = {"i:evqh", "h", s_pipx_longs, false, false};

//  bundle exec, composer exec, stack exec, cabal exec, rustup run
static const s_long_t s_bundle_longs[] = {
    {"gemfile", ':', 0}, {"retry", ':', 'r'}, {"keep-file-descriptors", 0, 0},
    {"no-color", 0, 0},  {"verbose", 0, 'V'}, S_HELP,
    {NULL, 0, 0}};
static const s_opts_t s_bundle_opts = {"r:Vh", "h", s_bundle_longs, false, false};
static const s_long_t s_composer_longs[] = {{"working-dir", ':', 'd'},
                                            {"list", 0, 'l'},
                                            {"quiet", 0, 'q'},
                                            {"verbose", 0, 'v'},
                                            {"ansi", 0, 0},
                                            {"no-ansi", 0, 0},
                                            {"no-interaction", 0, 'n'},
                                            {"no-plugins", 0, 0},
                                            {"no-scripts", 0, 0},
                                            {"no-cache", 0, 0},
                                            {"profile", 0, 0},
                                            S_HELP,
                                            {NULL, 0, 0}};
static const s_opts_t s_composer_opts = {"d:lqvnhV", "lhV", s_composer_longs, false, false};
static const s_long_t s_stack_longs[] = {{"package", ':', 0},
                                         {"rts-options", ':', 0},
                                         {"cwd", ':', 0},
                                         {"stack-yaml", ':', 0},
                                         {"resolver", ':', 0},
                                         {"snapshot", ':', 0},
                                         {"work-dir", ':', 0},
                                         {"stack-root", ':', 0},
                                         {"compiler", ':', 0},
                                         {"arch", ':', 0},
                                         {"jobs", ':', 'j'},
                                         {"verbosity", ':', 0},
                                         {"color", ':', 0},
                                         {"colour", ':', 0},
                                         {"terminal-width", ':', 0},
                                         {"ghc-options", ':', 0},
                                         {"docker-image", ':', 0},
                                         {"verbose", 0, 'v'},
                                         {"silent", 0, 0},
                                         {"nix", 0, 0},
                                         {"docker", 0, 0},
                                         S_HELP,
                                         {NULL, 0, 0}};
static const s_opts_t s_stack_opts = {"j:vh", "h", s_stack_longs, false, false};
static const s_long_t s_cabal_longs[] = {{"project-dir", ':', 0},
                                         {"project-file", ':', 0},
                                         {"builddir", ':', 0},
                                         {"store-dir", ':', 0},
                                         {"config-file", ':', 0},
                                         {"with-compiler", ':', 'w'},
                                         {"verbose", '?', 'v'},
                                         S_HELP,
                                         {NULL, 0, 0}};
static const s_opts_t s_cabal_opts = {"w:v::h", "h", s_cabal_longs, false, false};
static const s_long_t s_rustup_longs[] = {
    {"install", 0, 0}, {"verbose", 0, 'v'}, {"quiet", 0, 'q'}, S_HELP, {NULL, 0, 0}};
static const s_opts_t s_rustup_opts = {"vqhV", "hV", s_rustup_longs, false, false};

//  perf(1) and perf stat / record / trace (parse_options stops at the
//  first operand)
static const s_long_t s_perf_longs[] = {
    {"exec-path", '?', 0}, {"debugfs-dir", ':', 0}, {"buildid-dir", ':', 0},
    {"debug", ':', 0},     {"paginate", 0, 'p'},    {"no-pager", 0, 'P'},
    {"list-cmds", 0, '!'}, {"list-opts", 0, '!'},   S_HELP,
    {NULL, 0, 0}};
static const s_opts_t s_perf_opts = {"pPvh", "h", s_perf_longs, false, false};
static const s_long_t s_perf_run_longs[] = {{"event", ':', 'e'},
                                            {"expr", ':', 'e'},
                                            {"pid", ':', 'p'},
                                            {"tid", ':', 't'},
                                            {"uid", ':', 'u'},
                                            {"cpu", ':', 'C'},
                                            {"repeat", ':', 'r'},
                                            {"output", ':', 'o'},
                                            {"input", ':', 'i'},
                                            {"field-separator", ':', 'x'},
                                            {"cgroup", ':', 'G'},
                                            {"interval-print", ':', 'I'},
                                            {"interval-count", ':', 0},
                                            {"timeout", ':', 0},
                                            {"delay", ':', 'D'},
                                            {"metrics", ':', 'M'},
                                            {"log-fd", ':', 0},
                                            {"pre", ':', 0},
                                            {"post", ':', 0},
                                            {"control", ':', 0},
                                            {"filter", ':', 0},
                                            {"filter-pids", ':', 0},
                                            {"count", ':', 'c'},
                                            {"freq", ':', 'F'},
                                            {"mmap-pages", ':', 'm'},
                                            {"call-graph", ':', 0},
                                            {"branch-filter", ':', 'j'},
                                            {"clockid", ':', 'k'},
                                            {"realtime", ':', 'r'},
                                            {"duration", ':', 0},
                                            {"max-stack", ':', 0},
                                            {"min-stack", ':', 0},
                                            {"max-events", ':', 0},
                                            {"max-size", ':', 0},
                                            {"proc-map-timeout", ':', 0},
                                            {"switch-output", '?', 0},
                                            {"switch-output-event", ':', 0},
                                            {"switch-max-files", ':', 0},
                                            {"compression-level", '?', 'z'},
                                            {"snapshot", '?', 'S'},
                                            {"cputype", ':', 0},
                                            {"td-level", ':', 0},
                                            {"for-each-cgroup", ':', 0},
                                            {"affinity", ':', 0},
                                            {"mmap-flush", ':', 0},
                                            {"clang-path", ':', 0},
                                            {"clang-opt", ':', 0},
                                            {"vmlinux", ':', 0},
                                            {"map-dump", ':', 0},
                                            {"synth", ':', 0},
                                            {"all-cpus", 0, 'a'},
                                            {"append", 0, 0},
                                            {"verbose", 0, 'v'},
                                            {"quiet", 0, 'q'},
                                            S_HELP,
                                            {NULL, 0, 0}};
static const s_opts_t s_perf_run_opts = {"e:p:t:u:C:r:o:i:x:G:I:D:M:c:F:m:j:k:z::S::avqgsTnNdAh",
                                         "h", s_perf_run_longs, false, false};

//  concurrently: each operand is a command line run by a shell
static const s_long_t s_concurrently_longs[] = {{"names", ':', 'n'},
                                                {"name-separator", ':', 0},
                                                {"success", ':', 's'},
                                                {"hide", ':', 0},
                                                {"prefix", ':', 'p'},
                                                {"prefix-colors", ':', 'c'},
                                                {"prefix-length", ':', 'l'},
                                                {"timestamp-format", ':', 't'},
                                                {"kill-signal", ':', 0},
                                                {"ks", ':', 0},
                                                {"restart-tries", ':', 0},
                                                {"restart-after", ':', 0},
                                                {"max-processes", ':', 'm'},
                                                {"default-input-target", ':', 0},
                                                {"cwd", ':', 0},
                                                {"teardown", ':', 0},
                                                {"kill-others", 0, 'k'},
                                                {"kill-others-on-fail", 0, 0},
                                                {"raw", 0, 'r'},
                                                {"group", 0, 'g'},
                                                {"handle-input", 0, 'i'},
                                                {"passthrough-arguments", 0, 'P'},
                                                S_HELP,
                                                {NULL, 0, 0}};
static const s_opts_t s_concurrently_opts = {"n:s:p:c:l:t:m:krgiPhvV", "hvV", s_concurrently_longs,
                                             false, false};

//  docker / podman: global options, exec, run, compose
static const s_long_t s_docker_longs[] = {{"config", ':', 0},
                                          {"context", ':', 'c'},
                                          {"host", ':', 'H'},
                                          {"log-level", ':', 'l'},
                                          {"tlscacert", ':', 0},
                                          {"tlscert", ':', 0},
                                          {"tlskey", ':', 0},
                                          {"connection", ':', 0},
                                          {"url", ':', 0},
                                          {"identity", ':', 0},
                                          {"root", ':', 0},
                                          {"runroot", ':', 0},
                                          {"storage-driver", ':', 0},
                                          {"cgroup-manager", ':', 0},
                                          {"debug", 0, 'D'},
                                          {"tls", 0, 0},
                                          {"tlsverify", 0, 0},
                                          {"remote", 0, 'r'},
                                          S_HELP,
                                          {NULL, 0, 0}};
static const s_opts_t s_docker_opts = {"c:H:l:Drhv", "hv", s_docker_longs, false, false};
static const s_long_t s_docker_exec_longs[] = {{"env", ':', 'e'},
                                               {"env-file", ':', 0},
                                               {"user", ':', 'u'},
                                               {"workdir", ':', 'w'},
                                               {"detach-keys", ':', 0},
                                               {"preserve-fds", ':', 0},
                                               {"preserve-fd", ':', 0},
                                               {"cidfile", ':', 0},
                                               {"detach", 0, 'd'},
                                               {"interactive", 0, 'i'},
                                               {"tty", 0, 't'},
                                               {"privileged", 0, 0},
                                               {"latest", 0, 'l'},
                                               S_HELP,
                                               {NULL, 0, 0}};
static const s_opts_t s_docker_exec_opts = {"e:u:w:ditlh", "h", s_docker_exec_longs, false, false};
static const s_long_t s_docker_run_longs[] = {{"attach", ':', 'a'},
                                              {"add-host", ':', 0},
                                              {"annotation", ':', 0},
                                              {"blkio-weight", ':', 0},
                                              {"blkio-weight-device", ':', 0},
                                              {"cap-add", ':', 0},
                                              {"cap-drop", ':', 0},
                                              {"cgroup-parent", ':', 0},
                                              {"cgroupns", ':', 0},
                                              {"cidfile", ':', 0},
                                              {"cpu-count", ':', 0},
                                              {"cpu-percent", ':', 0},
                                              {"cpu-period", ':', 0},
                                              {"cpu-quota", ':', 0},
                                              {"cpu-rt-period", ':', 0},
                                              {"cpu-rt-runtime", ':', 0},
                                              {"cpu-shares", ':', 'c'},
                                              {"cpus", ':', 0},
                                              {"cpuset-cpus", ':', 0},
                                              {"cpuset-mems", ':', 0},
                                              {"detach-keys", ':', 0},
                                              {"device", ':', 0},
                                              {"device-cgroup-rule", ':', 0},
                                              {"device-read-bps", ':', 0},
                                              {"device-read-iops", ':', 0},
                                              {"device-write-bps", ':', 0},
                                              {"device-write-iops", ':', 0},
                                              {"dns", ':', 0},
                                              {"dns-option", ':', 0},
                                              {"dns-opt", ':', 0},
                                              {"dns-search", ':', 0},
                                              {"domainname", ':', 0},
                                              {"entrypoint", ':', 0},
                                              {"env", ':', 'e'},
                                              {"env-file", ':', 0},
                                              {"expose", ':', 0},
                                              {"gpus", ':', 0},
                                              {"group-add", ':', 0},
                                              {"health-cmd", ':', 0},
                                              {"health-interval", ':', 0},
                                              {"health-retries", ':', 0},
                                              {"health-start-interval", ':', 0},
                                              {"health-start-period", ':', 0},
                                              {"health-timeout", ':', 0},
                                              {"hostname", ':', 'h'},
                                              {"io-maxbandwidth", ':', 0},
                                              {"io-maxiops", ':', 0},
                                              {"ip", ':', 0},
                                              {"ip6", ':', 0},
                                              {"ipc", ':', 0},
                                              {"isolation", ':', 0},
                                              {"kernel-memory", ':', 0},
                                              {"label", ':', 'l'},
                                              {"label-file", ':', 0},
                                              {"link", ':', 0},
                                              {"link-local-ip", ':', 0},
                                              {"log-driver", ':', 0},
                                              {"log-opt", ':', 0},
                                              {"mac-address", ':', 0},
                                              {"memory", ':', 'm'},
                                              {"memory-reservation", ':', 0},
                                              {"memory-swap", ':', 0},
                                              {"memory-swappiness", ':', 0},
                                              {"mount", ':', 0},
                                              {"name", ':', 0},
                                              {"network", ':', 0},
                                              {"net", ':', 0},
                                              {"network-alias", ':', 0},
                                              {"net-alias", ':', 0},
                                              {"oom-score-adj", ':', 0},
                                              {"pid", ':', 0},
                                              {"pids-limit", ':', 0},
                                              {"platform", ':', 0},
                                              {"publish", ':', 'p'},
                                              {"pull", ':', 0},
                                              {"restart", ':', 0},
                                              {"runtime", ':', 0},
                                              {"security-opt", ':', 0},
                                              {"shm-size", ':', 0},
                                              {"stop-signal", ':', 0},
                                              {"stop-timeout", ':', 0},
                                              {"storage-opt", ':', 0},
                                              {"sysctl", ':', 0},
                                              {"tmpfs", ':', 0},
                                              {"ulimit", ':', 0},
                                              {"user", ':', 'u'},
                                              {"userns", ':', 0},
                                              {"uts", ':', 0},
                                              {"volume", ':', 'v'},
                                              {"volume-driver", ':', 0},
                                              {"volumes-from", ':', 0},
                                              {"workdir", ':', 'w'},
                                              {"arch", ':', 0},
                                              {"os", ':', 0},
                                              {"pod", ':', 0},
                                              {"secret", ':', 0},
                                              {"systemd", ':', 0},
                                              {"detach", 0, 'd'},
                                              {"interactive", 0, 'i'},
                                              {"tty", 0, 't'},
                                              {"init", 0, 0},
                                              {"no-healthcheck", 0, 0},
                                              {"oom-kill-disable", 0, 0},
                                              {"publish-all", 0, 'P'},
                                              {"privileged", 0, 0},
                                              {"read-only", 0, 0},
                                              {"rm", 0, 0},
                                              {"sig-proxy", 0, 0},
                                              {"quiet", 0, 'q'},
                                              {"disable-content-trust", 0, 0},
                                              {"help", 0, '!'},
                                              {NULL, 0, 0}};
static const s_opts_t s_docker_run_opts = {"a:c:e:h:l:m:p:u:v:w:ditPq", "", s_docker_run_longs,
                                           false, false};
static const s_long_t s_compose_longs[] = {{"file", ':', 'f'},
                                           {"project-name", ':', 'p'},
                                           {"profile", ':', 0},
                                           {"env-file", ':', 0},
                                           {"project-directory", ':', 0},
                                           {"ansi", ':', 0},
                                           {"progress", ':', 0},
                                           {"parallel", ':', 0},
                                           {"compatibility", 0, 0},
                                           {"dry-run", 0, 0},
                                           {"all-resources", 0, 0},
                                           {"verbose", 0, 0},
                                           S_HELP,
                                           {NULL, 0, 0}};
static const s_opts_t s_compose_opts = {"f:p:hv", "hv", s_compose_longs, false, false};
static const s_long_t s_compose_exec_longs[] = {{"env", ':', 'e'},     {"user", ':', 'u'},
                                                {"workdir", ':', 'w'}, {"index", ':', 0},
                                                {"detach", 0, 'd'},    {"interactive", 0, 'i'},
                                                {"no-TTY", 0, 'T'},    {"tty", 0, 't'},
                                                {"privileged", 0, 0},  S_HELP,
                                                {NULL, 0, 0}};
static const s_opts_t s_compose_exec_opts = {"e:u:w:diTth", "h", s_compose_exec_longs, false,
                                             false};
static const s_long_t s_compose_run_longs[] = {{"env", ':', 'e'},
                                               {"env-file", ':', 0},
                                               {"user", ':', 'u'},
                                               {"workdir", ':', 'w'},
                                               {"index", ':', 0},
                                               {"entrypoint", ':', 0},
                                               {"label", ':', 'l'},
                                               {"name", ':', 0},
                                               {"publish", ':', 'p'},
                                               {"pull", ':', 0},
                                               {"volume", ':', 'v'},
                                               {"cap-add", ':', 0},
                                               {"cap-drop", ':', 0},
                                               {"detach", 0, 'd'},
                                               {"interactive", 0, 'i'},
                                               {"no-TTY", 0, 'T'},
                                               {"tty", 0, 't'},
                                               {"privileged", 0, 0},
                                               {"build", 0, 0},
                                               {"no-deps", 0, 0},
                                               {"quiet-pull", 0, 0},
                                               {"quiet", 0, 'q'},
                                               {"remove-orphans", 0, 0},
                                               {"rm", 0, 0},
                                               {"service-ports", 0, 'P'},
                                               {"use-aliases", 0, 0},
                                               S_HELP,
                                               {NULL, 0, 0}};
static const s_opts_t s_compose_run_opts = {"e:u:w:l:p:v:diTtqPh", "h", s_compose_run_longs, false,
                                            false};

//  kubectl: global and exec options with values (flags go anywhere; the
//  command follows --)
static const s_long_t s_kubectl_longs[] = {{"namespace", ':', 'n'},
                                           {"container", ':', 'c'},
                                           {"filename", ':', 'f'},
                                           {"context", ':', 0},
                                           {"cluster", ':', 0},
                                           {"user", ':', 0},
                                           {"kubeconfig", ':', 0},
                                           {"server", ':', 's'},
                                           {"token", ':', 0},
                                           {"as", ':', 0},
                                           {"as-group", ':', 0},
                                           {"as-uid", ':', 0},
                                           {"request-timeout", ':', 0},
                                           {"pod-running-timeout", ':', 0},
                                           {"certificate-authority", ':', 0},
                                           {"client-certificate", ':', 0},
                                           {"client-key", ':', 0},
                                           {"tls-server-name", ':', 0},
                                           {"cache-dir", ':', 0},
                                           {"profile", ':', 0},
                                           {"profile-output", ':', 0},
                                           {"v", ':', 'v'},
                                           {"stdin", 0, 'i'},
                                           {"tty", 0, 't'},
                                           {"quiet", 0, 'q'},
                                           {"insecure-skip-tls-verify", 0, 0},
                                           S_HELP,
                                           {NULL, 0, 0}};
static const s_opts_t s_kubectl_opts = {"n:c:f:s:v:itqh", "h", s_kubectl_longs, false, false};

//  mode: 'x' the command follows the options and positional operands;
//  'r' as 'x', and --entrypoint X runs X with the operands after the image;
//  'c' operands before -- and all words after it (composer, stack, cabal:
//  options may come anywhere before --), or as 'x'; 'd' the words after
//  -- (kubectl), else as 'x'; 'h' hatch run [ENV:]CMD; 's' each operand
//  a command line for a shell (concurrently)
// clang-format off
static const s_runner_t s_runners[] = {
    {"uv",             {"run", NULL},            {&s_uv_opts},                       &s_uv_opts,          0, 'x', 0,   "uv run"},
    {"uv",             {"tool", "run", NULL},    {&s_uv_opts, &s_uv_opts},           &s_uv_opts,          0, 'x', 0,   "uvx"},
    {"uvx",            {NULL},                   {NULL},                             &s_uv_opts,          0, 'x', 0,   "uvx"},
    {"poetry",         {"run", NULL},            {&s_poetry_opts},                   &s_poetry_opts,      0, 'x', 0,   "poetry run"},
    {"pipenv",         {"run", NULL},            {&s_pipenv_opts},                   &s_pipenv_opts,      0, 'x', 0,   "pipenv run"},
    {"pdm",            {"run", NULL},            {&s_pdm_opts},                      &s_pdm_opts,         0, 'x', 0,   "pdm run"},
    {"hatch",          {"run", NULL},            {&s_hatch_opts},                    &s_hatch_run_opts,   0, 'h', 0,   "hatch run"},
    {"hatch",          {"env", "run", NULL},     {&s_hatch_opts, &s_hatch_opts},     &s_hatch_opts,       0, 'x', 0,   "hatch run"},
    {"conda",          {"run", NULL},            {&s_conda_opts},                    &s_conda_opts,       0, 'x', 0,   "conda run"},
    {"mamba",          {"run", NULL},            {&s_conda_opts},                    &s_conda_opts,       0, 'x', 0,   "conda run"},
    {"micromamba",     {"run", NULL},            {&s_conda_opts},                    &s_conda_opts,       0, 'x', 0,   "conda run"},
    {"pipx",           {"run", NULL},            {&s_pipx_opts},                     &s_pipx_opts,        0, 'x', 0,   "pipx run"},
    {"bundle",         {"exec", NULL},           {&s_bundle_opts},                   &s_bundle_opts,      0, 'x', 0,   "bundle exec"},
    {"bundler",        {"exec", NULL},           {&s_bundle_opts},                   &s_bundle_opts,      0, 'x', 0,   "bundle exec"},
    {"composer",       {"exec", NULL},           {&s_composer_opts},                 &s_composer_opts,    0, 'c', 0,   "composer exec"},
    {"stack",          {"exec", NULL},           {&s_stack_opts},                    &s_stack_opts,       0, 'c', 0,   "stack exec"},
    {"cabal",          {"exec", NULL},           {&s_cabal_opts},                    &s_cabal_opts,       0, 'c', 0,   "cabal exec"},
    {"rustup",         {"run", NULL},            {&s_rustup_opts},                   &s_rustup_opts,      1, 'x', 0,   "rustup run"},
    {"perf",           {"stat", NULL},           {&s_perf_opts},                     &s_perf_run_opts,    0, 'x', 0,   "perf stat"},
    {"perf",           {"record", NULL},         {&s_perf_opts},                     &s_perf_run_opts,    0, 'x', 0,   "perf record"},
    {"perf",           {"trace", NULL},          {&s_perf_opts},                     &s_perf_run_opts,    0, 'x', 0,   "perf trace"},
    {"concurrently",   {NULL},                   {NULL},                             &s_concurrently_opts, 0, 's', 0,  "concurrently"},
    {"docker",         {"exec", NULL},           {&s_docker_opts},                   &s_docker_exec_opts, 1, 'x', 0,   "docker exec"},
    {"docker",         {"container", "exec", NULL}, {&s_docker_opts, &s_docker_opts}, &s_docker_exec_opts, 1, 'x', 0,  "docker exec"},
    {"podman",         {"exec", NULL},           {&s_docker_opts},                   &s_docker_exec_opts, 1, 'x', 'l', "docker exec"},
    {"podman",         {"container", "exec", NULL}, {&s_docker_opts, &s_docker_opts}, &s_docker_exec_opts, 1, 'x', 'l', "docker exec"},
    {"docker",         {"run", NULL},            {&s_docker_opts},                   &s_docker_run_opts,  1, 'r', 0,   "docker run"},
    {"docker",         {"container", "run", NULL}, {&s_docker_opts, &s_docker_opts}, &s_docker_run_opts,  1, 'r', 0,   "docker run"},
    {"podman",         {"run", NULL},            {&s_docker_opts},                   &s_docker_run_opts,  1, 'r', 0,   "docker run"},
    {"podman",         {"container", "run", NULL}, {&s_docker_opts, &s_docker_opts}, &s_docker_run_opts,  1, 'r', 0,   "docker run"},
    {"docker",         {"compose", "exec", NULL}, {&s_docker_opts, &s_compose_opts}, &s_compose_exec_opts, 1, 'x', 0,   "docker compose exec"},
    {"docker",         {"compose", "run", NULL}, {&s_docker_opts, &s_compose_opts},  &s_compose_run_opts, 1, 'r', 0,   "docker compose run"},
    {"docker-compose", {"exec", NULL},           {&s_compose_opts},                  &s_compose_exec_opts, 1, 'x', 0,   "docker compose exec"},
    {"docker-compose", {"run", NULL},            {&s_compose_opts},                  &s_compose_run_opts, 1, 'r', 0,   "docker compose run"},
    {"podman-compose", {"exec", NULL},           {&s_compose_opts},                  &s_compose_exec_opts, 1, 'x', 0,   "docker compose exec"},
    {"podman-compose", {"run", NULL},            {&s_compose_opts},                  &s_compose_run_opts, 1, 'r', 0,   "docker compose run"},
    {"kubectl",        {"exec", NULL},           {&s_kubectl_opts},                  &s_kubectl_opts,     1, 'd', 0,   "kubectl exec"},
    {"oc",             {"exec", NULL},           {&s_kubectl_opts},                  &s_kubectl_opts,     1, 'd', 0,   "kubectl exec"},
};
// clang-format on

//  argv[rest..] after a first word of its own (hatch run ENV:CMD,
//  docker run --entrypoint CMD IMAGE ARGS)
static void
s_runner_emit_as (shell_t *sh, const s_ectx_t *ctx, size_t index, const shell_cmd_t *cmd,
                  const shell_word_t *first, size_t rest, const char *name)
{
    size_t n = rest < cmd->argc ? cmd->argc - rest : 0;
    shell_word_t *argv = s_alloc (sh, (n + 1) * sizeof (shell_word_t));
    if (!argv || !s_charge (sh, n + 1))
        return;
    argv[0] = *first;
    if (n)
        memcpy (argv + 1, cmd->argv + rest, n * sizeof (shell_word_t));
    s_emit_inner (sh, ctx, index, argv, n + 1, NULL, 0, name, false);
}

//  Does a short option cluster or --NAME between from and to name the
//  option that drops the positional operand (podman exec --latest)?
static bool
s_runner_latest (const shell_cmd_t *cmd, size_t from, size_t to, char latest)
{
    for (size_t i = from; latest && i < to && i < cmd->argc; i++) {
        const char *t = cmd->argv[i].text;
        if (!strcmp (t, "--latest") || (t[0] == '-' && t[1] != '-' && strchr (t + 1, latest)))
            return true;
    }
    return false;
}

//  docker run's --entrypoint (the last one) between from and to, static
static const shell_word_t *
s_runner_entrypoint (shell_t *sh, const shell_cmd_t *cmd, size_t from, size_t to)
{
    const shell_word_t *found = NULL;
    for (size_t i = from; i < to && i < cmd->argc; i++) {
        const shell_word_t *w = &cmd->argv[i];
        if (!strcmp (w->text, "--entrypoint") && i + 1 < to) {
            found = &cmd->argv[++i];
        } else if (!strncmp (w->text, "--entrypoint=", 13) && !w->dynamic) {
            shell_word_t *copy = s_alloc (sh, sizeof (shell_word_t));
            if (!copy)
                return NULL;
            copy->text = w->text + 13;
            copy->quoted = w->quoted;
            found = copy;
        }
    }
    return found && found->text[0] ? found : NULL;
}

//  Does an option word take the next word as its value (known options;
//  unknown ones do not)?
static bool
s_takes_next (const s_opts_t *o, const char *t)
{
    if (t[0] != '-' || !t[1])
        return false;
    if (t[1] == '-') {
        const char *eq = strchr (t + 2, '=');
        const s_long_t *l =
            s_find_long (o->longs, t + 2, eq ? (size_t) (eq - t - 2) : strlen (t + 2));
        return l && l->arg == ':' && !eq;
    }
    for (size_t j = 1; t[j]; j++) {
        unsigned char c = (unsigned char) t[j];
        const char *s = c < 128 && c != ':' ? strchr (o->shorts, c) : NULL;
        if (s && s[1] == ':')
            return s[2] != ':' && !t[j + 1];
    }
    return false;
}

//  composer / stack / cabal exec: the operands before -- (options may be
//  anywhere) and every word after it, the first skip of them dropped
//  (kubectl exec POD CMD); starts: also each suffix where options may end
static void
s_runner_collect (shell_t *sh, const s_ectx_t *ctx, size_t index, const shell_cmd_t *cmd,
                  size_t from, const s_runner_t *r, const bool *starts, size_t skip)
{
    size_t n = cmd->argc, count = 0;
    shell_word_t *argv = s_alloc (sh, (n + 1) * sizeof (shell_word_t));
    if (!argv)
        return;
    for (size_t i = from; i < n; i++) {
        const char *t = cmd->argv[i].text;
        if (!strcmp (t, "--")) {
            for (i++; i < n; i++)
                argv[count++] = cmd->argv[i];
            break;
        }
        if (t[0] == '-' && t[1]) {
            if (s_takes_next (r->opts, t))
                i++;
            continue;
        }
        argv[count++] = cmd->argv[i];
    }
    if (count > skip)
        s_emit_inner (sh, ctx, index, argv + skip, count - skip, NULL, 0, r->name, false);
    if (!starts)
        return;
    //  And where the options may end (a suffix of the words), unless that
    //  is the same command
    for (size_t p = from; p < n && !sh->failed; p++) {
        if (!starts[p])
            continue;
        bool same = count == n - p;
        for (size_t j = 0; same && j < count; j++)
            same = argv[j].text == cmd->argv[p + j].text;
        if (!same)
            s_emit_inner (sh, ctx, index, cmd->argv + p, n - p, NULL, 0, r->name, false);
    }
}

//  concurrently: every operand is a command line; the values of known
//  options are not (an unknown option's may be: it is parsed too)
static void
s_runner_shells (shell_t *sh, const s_ectx_t *ctx, size_t index, const shell_cmd_t *cmd,
                 size_t from, const s_runner_t *r)
{
    size_t n = cmd->argc;
    bool dashdash = false;
    for (size_t i = from; i < n && !sh->failed; i++) {
        const char *t = cmd->argv[i].text;
        if (!dashdash && !strcmp (t, "--")) {
            dashdash = true;
            continue;
        }
        if (!dashdash && t[0] == '-' && t[1]) {
            if (s_takes_next (r->opts, t))
                i++;
            continue;
        }
        s_reparse (sh, ctx, index, t, r->name, false);
    }
}

static void
s_unwrap_runner (shell_t *sh, const s_ectx_t *ctx, size_t index, const shell_cmd_t *cmd,
                 const s_runner_t *r)
{
    size_t n = cmd->argc;
    if (n < 2)
        return;
    //  at[p]: the subcommand's options may begin at p
    bool *at = s_alloc (sh, (n + 1) * sizeof (bool));
    if (!at)
        return;
    at[1] = true;
    for (size_t l = 0; l < 3 && r->verbs[l]; l++) {
        bool *starts = s_starts (sh, cmd, at, r->before[l]);
        if (!starts)
            return;
        bool any = false;
        memset (at, 0, (n + 1) * sizeof (bool));
        for (size_t p = 0; p < n; p++)
            if (starts[p] && !strcmp (cmd->argv[p].text, r->verbs[l]))
                at[p + 1] = any = true;
        if (!any)
            return;
    }
    size_t first = 0;
    while (first < n && !at[first])
        first++;
    if (r->mode == 's') {
        for (size_t a = first; a < n && !sh->failed; a++)
            if (at[a])
                s_runner_shells (sh, ctx, index, cmd, a, r);
        return;
    }
    bool *starts = s_starts (sh, cmd, at, r->opts);
    if (!starts)
        return;
    for (size_t p = 0; r->mode == 'h' && p + 1 < n; p++)
        if (starts[p] && cmd->argv[p].text[0] == '+')
            starts[p + 1] = true; //  hatch's +VAR=VALUE matrix selections
    if (r->mode == 'c') {
        for (size_t a = first; a < n && !sh->failed; a++)
            if (at[a])
                s_runner_collect (sh, ctx, index, cmd, a, r, starts, 0);
        return;
    }
    if (r->mode == 'd') {
        bool dashdash = false;
        for (size_t a = first; a < n && !sh->failed; a++) {
            if (!at[a])
                continue;
            size_t k = a;
            while (k < n && strcmp (cmd->argv[k].text, "--") != 0)
                k++;
            if (k < n) {
                dashdash = true;
                s_emit_inner (sh, ctx, index, cmd->argv + k + 1, n - k - 1, NULL, 0, r->name,
                              false);
            }
        }
        //  Else the old form, POD CMD (flags anywhere)
        for (size_t a = first; !dashdash && a < n && !sh->failed; a++)
            if (at[a])
                s_runner_collect (sh, ctx, index, cmd, a, r, NULL, r->positional);
        return;
    }
    for (size_t p = first; p < n && !sh->failed; p++) {
        if (!starts[p])
            continue;
        const shell_word_t *w = &cmd->argv[p];
        if (r->mode == 'h' && w->text[0] == '+')
            continue;
        const char *colon = r->mode == 'h' && !w->dynamic ? strchr (w->text, ':') : NULL;
        if (colon && colon[1]) {
            shell_word_t part = *w;
            part.text = colon + 1;
            s_runner_emit_as (sh, ctx, index, cmd, &part, p + 1, r->name);
        } else if (colon)
            s_emit_inner (sh, ctx, index, cmd->argv + p + 1, n - p - 1, NULL, 0, r->name, false);
        else if (p + r->positional < n)
            s_emit_inner (sh, ctx, index, cmd->argv + p + r->positional, n - p - r->positional,
                          NULL, 0, r->name, false);
        if (r->positional && s_runner_latest (cmd, first, p, r->latest))
            s_emit_inner (sh, ctx, index, cmd->argv + p, n - p, NULL, 0, r->name, false);
        const shell_word_t *entry = r->mode == 'r' ? s_runner_entrypoint (sh, cmd, first, p) : NULL;
        if (entry)
            s_runner_emit_as (sh, ctx, index, cmd, entry, p + 1, r->name);
    }
}

static void
s_unwrap (shell_t *sh, const s_ectx_t *ctx, size_t index)
{
    if (sh->failed)
        return;
    const shell_cmd_t cmd = sh->recs[index].pub;
    if (cmd.argc == 0 || cmd.argv[0].dynamic)
        return;
    if (!strcmp (cmd.argv[0].text, "alias") || !strcmp (cmd.argv[0].text, "unalias")) {
        if (s_charge (sh, cmd.argc))
            s_alias_define (sh, &cmd, cmd.argv[0].text[0] == 'u');
        return;
    }
    //  Both readings: the command as it is (below) and through its alias
    s_unwrap_alias (sh, ctx, index, &cmd);
    if (sh->failed)
        return;
    const char *name = strrchr (cmd.argv[0].text, '/');
    name = name ? name + 1 : cmd.argv[0].text;
    //  Whatever a wrapper does with its arguments, it scans them at most
    //  a few times: charged once here
    for (size_t i = 0; s_shells[i]; i++)
        if (!strcmp (name, s_shells[i])) {
            if (s_charge (sh, cmd.argc))
                s_unwrap_shell (sh, ctx, index, &cmd, s_shells[i]);
            return;
        }
    bool runner = false;
    for (size_t i = 0; i < sizeof (s_runners) / sizeof (s_runners[0]) && !sh->failed; i++)
        if (!strcmp (name, s_runners[i].prog)) {
            if (!runner && !s_charge (sh, cmd.argc))
                return;
            runner = true;
            s_unwrap_runner (sh, ctx, index, &cmd, &s_runners[i]);
        }
    if (runner)
        return;
    const s_wrap_t *w = NULL;
    for (size_t i = 0; i < sizeof (s_wraps) / sizeof (s_wraps[0]); i++)
        if (!strcmp (name, s_wraps[i].name)) {
            w = &s_wraps[i];
            break;
        }
    if (!w || !s_charge (sh, cmd.argc))
        return;
    const shell_word_t *v = cmd.argv;
    size_t n = cmd.argc;
    s_optres_t r;
    switch (w->type) {
    case W_EXEC:
        s_scan_opts (&cmd, 1, &w->opts, &r);
        if (r.nocmd)
            return;
        if (w->shell && r.next >= n) {
            //  sudo -s, sudo -i, doas -s: a shell, fed by a heredoc maybe
            for (const char *o = w->shell; *o; o++)
                if (r.seen[(int) *o]) {
                    s_stdin_script (sh, ctx, index, &cmd, w->name);
                    break;
                }
            return;
        }
        s_exec_from (sh, ctx, index, &cmd, w, r.next);
        if (r.alt != S_NONE && r.alt != r.next && r.alt < n)
            s_exec_from (sh, ctx, index, &cmd, w, r.alt);
        return;
    case W_ENV:
        s_unwrap_env (sh, ctx, index, &cmd);
        return;
    case W_FIND:
        s_unwrap_find (sh, ctx, index, &cmd);
        return;
    case W_EVAL: {
        size_t i = 1;
        if (i < n && !strcmp (v[i].text, "--"))
            i++;
        if (i < n)
            s_reparse (sh, ctx, index, s_join (sh, v, i, n), "eval", true);
        return;
    }
    case W_TRAP: {
        size_t i = 1;
        if (i < n && !strcmp (v[i].text, "--"))
            i++;
        if (i < n && v[i].text[0] == '-' && v[i].text[1])
            return; //  -l, -p
        if (n - i < 2 || !strcmp (v[i].text, "-") || !v[i].text[0] || s_all_digits (v[i].text))
            return; //  resets
        s_reparse (sh, ctx, index, v[i].text, "trap", true);
        return;
    }
    case W_SU: {
        const char *str = s_find_dash_c (&cmd, "sgGw");
        if (str)
            s_reparse (sh, ctx, index, str, "su -c", false);
        else
            s_stdin_script (sh, ctx, index, &cmd, "su");
        return;
    }
    case W_RUNUSER: {
        s_scan_opts (&cmd, 1, &w->opts, &r);
        if (r.nocmd)
            return;
        if (r.seen['u'] && r.next < n) {
            s_emit_inner (sh, ctx, index, v + r.next, n - r.next, NULL, 0, "runuser", false);
            return;
        }
        const char *str = s_find_dash_c (&cmd, "sgGwu");
        if (str)
            s_reparse (sh, ctx, index, str, "runuser -c", false);
        else if (!r.seen['u'])
            s_stdin_script (sh, ctx, index, &cmd, "runuser");
        return;
    }
    case W_SG: {
        size_t i = 1;
        if (i < n && !strcmp (v[i].text, "-"))
            i++;
        i++; //  group
        if (i < n && !strcmp (v[i].text, "-c"))
            i++;
        if (i < n)
            s_reparse (sh, ctx, index, s_join (sh, v, i, n), "sg", false);
        return;
    }
    case W_SSH:
        s_unwrap_ssh (sh, ctx, index, &cmd);
        return;
    case W_WATCH:
        s_scan_opts (&cmd, 1, &w->opts, &r);
        if (r.nocmd || r.next >= n)
            return;
        if (r.seen['x'])
            s_emit_inner (sh, ctx, index, v + r.next, n - r.next, NULL, 0, "watch", false);
        else
            s_reparse (sh, ctx, index, s_join (sh, v, r.next, n), "watch", false);
        return;
    case W_FLOCK: {
        s_scan_opts (&cmd, 1, &w->opts, &r);
        if (r.nocmd)
            return;
        if (r.arg['c'])
            s_reparse (sh, ctx, index, r.arg['c'], "flock -c", false);
        size_t k = r.next + 1; //  past FILE
        if (k >= n)
            return;
        if (!strcmp (v[k].text, "-c") || !strcmp (v[k].text, "--command")) {
            if (k + 1 < n)
                s_reparse (sh, ctx, index, v[k + 1].text, "flock -c", false);
            return;
        }
        s_emit_inner (sh, ctx, index, v + k, n - k, NULL, 0, "flock", false);
        return;
    }
    case W_SCRIPT: {
        const char *str = s_find_dash_c (&cmd, "EIOBTm");
        if (str)
            s_reparse (sh, ctx, index, str, "script -c", false);
        return;
    }
    case W_GDB:
        for (size_t i = 1; i < n; i++)
            if (!strcmp (v[i].text, "--args") || !strcmp (v[i].text, "-args")) {
                s_emit_inner (sh, ctx, index, v + i + 1, n - i - 1, NULL, 0, "gdb --args", false);
                return;
            }
        return;
    case W_BUSYBOX:
        if (n > 1 && v[1].text[0] != '-')
            s_emit_inner (sh, ctx, index, v + 1, n - 1, NULL, 0, "busybox", false);
        return;
    case W_SOURCE:
        if (n > 1 && s_is_stdin_path (v[1].text))
            s_stdin_script (sh, ctx, index, &cmd, "source");
        return;
    case W_TMUX:
        s_unwrap_tmux (sh, ctx, index, &cmd);
        return;
    case W_SCREEN:
        s_unwrap_screen (sh, ctx, index, &cmd);
        return;
    case W_GIT:
        s_unwrap_git (sh, ctx, index, &cmd);
        return;
    case W_VIM:
        s_unwrap_vim (sh, ctx, index, &cmd);
        return;
    case W_XTERM:
        s_unwrap_after (sh, ctx, index, &cmd, "-e", "xterm -e");
        return;
    case W_BWRAP:
        s_unwrap_bwrap (sh, ctx, index, &cmd);
        return;
    case W_IPNETNS:
        for (size_t i = 1; i + 3 < n; i++)
            if (!strcmp (v[i].text, "netns") && !strcmp (v[i + 1].text, "exec")) {
                s_emit_inner (sh, ctx, index, v + i + 3, n - i - 3, NULL, 0, "ip netns exec",
                              false);
                break;
            }
        return;
    case W_CAPSH: {
        //  capsh ... -- ARGS runs bash ARGS (-c STRING included)
        for (size_t i = 1; i < n; i++)
            if (!strcmp (v[i].text, "--")) {
                shell_word_t *argv = s_alloc (sh, (n - i) * sizeof (shell_word_t));
                if (!argv)
                    return;
                argv[0].text = "bash";
                memcpy (argv + 1, v + i + 1, (n - i - 1) * sizeof (shell_word_t));
                s_emit_inner (sh, ctx, index, argv, n - i, NULL, 0, "capsh", false);
                break;
            }
        return;
    }
    case W_AT: {
        for (size_t i = 1; i < n; i++)
            if (v[i].text[0] == '-' && strpbrk (v[i].text, "flrdc"))
                return; //  a file, or no job at all
        s_stdin_script (sh, ctx, index, &cmd, w->name);
        return;
    }
    case W_SHJOIN:
        s_scan_opts (&cmd, 1, &w->opts, &r);
        if (r.nocmd)
            return;
        s_reparse_join (sh, ctx, index, &cmd, r.next, n, w->name);
        if (r.alt != S_NONE && r.alt != r.next)
            s_reparse_join (sh, ctx, index, &cmd, r.alt, n, w->name);
        return;
    case W_NODEMON:
        s_scan_opts (&cmd, 1, &w->opts, &r);
        if (r.arg['x'])
            s_reparse (sh, ctx, index, r.arg['x'], "nodemon --exec", false);
        return;
    case W_ENTR:
        s_scan_opts (&cmd, 1, &w->opts, &r);
        if (r.next >= n)
            return;
        if (r.seen['s'])
            s_reparse (sh, ctx, index, v[r.next].text, "entr -s", false);
        else
            s_emit_inner (sh, ctx, index, v + r.next, n - r.next, NULL, 0, "entr", false);
        return;
    case W_PARALLEL:
        s_unwrap_parallel (sh, ctx, index, &cmd, w);
        return;
    case W_MACHINECTL:
        for (size_t i = 1; i + 2 < n; i++)
            if (!strcmp (v[i].text, "shell")) {
                s_emit_inner (sh, ctx, index, v + i + 2, n - i - 2, NULL, 0, "machinectl shell",
                              false);
                break;
            }
        return;
    case W_NPX:
        s_unwrap_pkgexec (sh, ctx, index, &cmd, 1, s_npx_longs, "p:c:yqn:w:", "npx");
        return;
    case W_NPM: {
        static const char *const verbs[] = {"exec", "x", NULL};
        size_t at = s_verb_at (&cmd, verbs);
        if (at < n)
            s_unwrap_pkgexec (sh, ctx, index, &cmd, at + 1, s_npx_longs, "p:c:yqn:w:", "npm exec");
        return;
    }
    case W_PNPM: {
        static const char *const verbs[] = {"exec", "dlx", NULL};
        size_t at = s_verb_at (&cmd, verbs);
        if (at < n)
            s_unwrap_pkgexec (sh, ctx, index, &cmd, at + 1, s_pnpm_longs, "F:C:crws",
                              v[at].text[0] == 'd' ? "pnpm dlx" : "pnpm exec");
        return;
    }
    case W_YARN: {
        static const char *const verbs[] = {"dlx", "exec", NULL};
        size_t at = s_verb_at (&cmd, verbs);
        if (at < n)
            s_unwrap_pkgexec (sh, ctx, index, &cmd, at + 1, s_yarn_dlx_longs, "p:q",
                              v[at].text[0] == 'd' ? "yarn dlx" : "yarn exec");
        return;
    }
    case W_BUN: {
        static const char *const verbs[] = {"x", NULL};
        size_t at = s_verb_at (&cmd, verbs);
        if (at < n)
            s_unwrap_pkgexec (sh, ctx, index, &cmd, at + 1, s_bunx_longs, "p:", "bun x");
        return;
    }
    }
}

//  --------------------------------------------------------------------------
//  Aliases
//
//  alias NAME=VALUE and unalias are tracked in the order commands are
//  emitted (execution order), wherever they appear: in a function body, a
//  subshell or on the same line as their use, although bash would not
//  always apply them (assume the worst). A later command whose first word
//  is unquoted, static and names an alias is kept as it is and is also
//  looked through as a wrapper "alias": the value followed by the
//  command's other words is parsed again, as bash reads it. A value
//  ending in a blank makes the next word alias-checked too; an alias is
//  not expanded inside its own expansion.

static bool
s_alias_name_ok (const char *name, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s_is_meta (name[i]) || strchr ("/$`=\\'\"", name[i]))
            return false;
    return true;
}

static s_alias_t *
s_alias_find (shell_t *sh, const char *name, size_t len)
{
    s_alias_t *a = sh->aliases.data;
    if (!s_charge (sh, sh->aliases.n))
        return NULL;
    //  The latest definition wins
    for (size_t i = sh->aliases.n; i-- > 0;)
        if (strlen (a[i].name) == len && !memcmp (a[i].name, name, len))
            return a[i].removed ? NULL : &a[i];
    return NULL;
}

//  alias NAME=VALUE ..., unalias [-a] NAME ...
static void
s_alias_define (shell_t *sh, const shell_cmd_t *cmd, bool unalias)
{
    for (size_t i = 1; i < cmd->argc && !sh->failed; i++) {
        const shell_word_t *w = &cmd->argv[i];
        const char *t = w->text;
        if (unalias && !strcmp (t, "-a")) {
            s_alias_t *a = sh->aliases.data;
            for (size_t k = 0; k < sh->aliases.n; k++)
                a[k].removed = true;
            continue;
        }
        if (t[0] == '-' && !strchr (t, '='))
            continue; //  -p, --
        const char *eq = unalias ? NULL : strchr (t, '=');
        size_t len = eq ? (size_t) (eq - t) : strlen (t);
        if (!s_alias_name_ok (t, len))
            continue;
        if (unalias) {
            if (!w->dynamic) {
                s_alias_t *a = s_alias_find (sh, t, len);
                if (a)
                    a->removed = true;
            }
            continue;
        }
        if (!eq)
            continue; //  alias NAME prints it
        s_alias_t *a = s_vec_push (sh, &sh->aliases, sizeof (s_alias_t));
        if (!a)
            return;
        a->name = s_strndup (sh, t, len);
        //  A dynamic name part is unknown too: nothing is expanded for it
        a->value = w->dynamic ? NULL : eq + 1;
    }
}

static bool
s_alias_expanding (const s_ectx_t *ctx, const char *name)
{
    for (size_t i = 0; i < ctx->nexpanding; i++)
        if (!strcmp (ctx->expanding[i], name))
            return true;
    return false;
}

//  A word to be read again: static words quoted, dynamic ones as written
static void
s_alias_put_word (shell_t *sh, s_str_t *out, const shell_word_t *w)
{
    const char *t = w->text;
    bool bare = !w->quoted && *t;
    for (const char *c = t; *c && bare; c++)
        bare = s_is_name_char (*c) || strchr ("./,:+-@%=^", *c) != NULL;
    if (w->dynamic || bare) {
        s_str_put (sh, out, t, strlen (t));
        return;
    }
    s_str_putc (sh, out, '\'');
    for (const char *c = t; *c; c++) {
        if (*c == '\'')
            s_str_put (sh, out, "'\\''", 4);
        else
            s_str_putc (sh, out, *c);
    }
    s_str_putc (sh, out, '\'');
}

static void s_reparse (shell_t *sh, const s_ectx_t *ctx, size_t outer, const char *text,
                       const char *name, bool calls);

static void
s_unwrap_alias (shell_t *sh, const s_ectx_t *ctx, size_t index, const shell_cmd_t *cmd)
{
    const shell_word_t *first = &cmd->argv[0];
    if (sh->aliases.n == 0 || first->quoted || first->dynamic ||
        s_alias_expanding (ctx, first->text))
        return;
    const s_alias_t *a = s_alias_find (sh, first->text, strlen (first->text));
    if (!a || !a->value)
        return;
    const char **names = s_alloc (sh, (ctx->nexpanding + cmd->argc + 1) * sizeof (char *));
    if (!names)
        return;
    size_t nnames = ctx->nexpanding;
    for (size_t i = 0; i < nnames; i++)
        names[i] = ctx->expanding[i];
    names[nnames++] = a->name;
    s_str_t text = {0};
    const char *value = a->value;
    s_str_put (sh, &text, value, strlen (value));
    size_t i = 1;
    //  A value ending in a blank: the next word is an alias too, maybe
    for (;;) {
        size_t vlen = strlen (value);
        if (!vlen || (value[vlen - 1] != ' ' && value[vlen - 1] != '\t') || i >= cmd->argc)
            break;
        const shell_word_t *w = &cmd->argv[i];
        bool again = false;
        for (size_t k = 0; k < nnames; k++)
            again = again || !strcmp (names[k], w->text);
        if (w->quoted || w->dynamic || again)
            break;
        const s_alias_t *next = s_alias_find (sh, w->text, strlen (w->text));
        if (!next || !next->value)
            break;
        names[nnames++] = next->name;
        value = next->value;
        s_str_put (sh, &text, value, strlen (value));
        i++;
    }
    for (; i < cmd->argc; i++) {
        s_str_putc (sh, &text, ' ');
        s_alias_put_word (sh, &text, &cmd->argv[i]);
    }
    const char *src = s_str_cstr (sh, &text);
    if (sh->failed)
        return;
    s_ectx_t c = *ctx;
    c.expanding = names;
    c.nexpanding = nnames;
    s_reparse (sh, &c, index, src, "alias", true);
}

//  --------------------------------------------------------------------------
//  Recursive functions: a cycle in the graph of calls between functions

static uint64_t
s_hash (const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char) *s) * 1099511628211ull;
    return h;
}

static void
s_find_recursion (shell_t *sh)
{
    size_t nf = sh->funcs.n;
    if (nf == 0 || sh->calls.n == 0)
        return;
    const char **names = sh->funcs.data;
    size_t cap = 16;
    while (cap < nf * 2)
        cap *= 2;
    size_t *table = s_alloc (sh, cap * sizeof (size_t)); //  name slot -> first func index + 1
    size_t *canon = s_alloc (sh, nf * sizeof (size_t));
    if (!table || !canon)
        return;
    for (size_t i = 0; i < nf; i++) {
        size_t h = (size_t) s_hash (names[i]) & (cap - 1);
        while (table[h] && strcmp (names[table[h] - 1], names[i]) != 0)
            h = (h + 1) & (cap - 1);
        if (!table[h])
            table[h] = i + 1;
        canon[i] = table[h] - 1;
    }
    //  Edges between canonical functions, as a compact adjacency
    s_call_t *calls = sh->calls.data;
    size_t nc = sh->calls.n;
    size_t *target = s_alloc (sh, nc * sizeof (size_t));
    size_t *outdeg = s_alloc (sh, (nf + 1) * sizeof (size_t));
    size_t *indeg = s_alloc (sh, nf * sizeof (size_t));
    if (!target || !outdeg || !indeg)
        return;
    for (size_t i = 0; i < nc; i++) {
        target[i] = S_NONE;
        size_t h = (size_t) s_hash (calls[i].callee) & (cap - 1);
        while (table[h]) {
            if (!strcmp (names[table[h] - 1], calls[i].callee)) {
                target[i] = table[h] - 1;
                break;
            }
            h = (h + 1) & (cap - 1);
        }
        if (target[i] != S_NONE) {
            outdeg[canon[calls[i].func] + 1]++;
            indeg[target[i]]++;
        }
    }
    for (size_t i = 0; i < nf; i++)
        outdeg[i + 1] += outdeg[i];
    size_t *edges = s_alloc (sh, (outdeg[nf] + 1) * sizeof (size_t));
    size_t *fill = s_alloc (sh, nf * sizeof (size_t));
    size_t *queue = s_alloc (sh, nf * sizeof (size_t));
    if (!edges || !fill || !queue)
        return;
    for (size_t i = 0; i < nc; i++)
        if (target[i] != S_NONE) {
            size_t from = canon[calls[i].func];
            edges[outdeg[from] + fill[from]++] = target[i];
        }
    //  Kahn: whatever cannot be ordered sits on a cycle
    size_t head = 0, tail = 0, nodes = 0, done = 0;
    for (size_t i = 0; i < nf; i++)
        if (canon[i] == i) {
            nodes++;
            if (indeg[i] == 0)
                queue[tail++] = i;
        }
    while (head < tail) {
        size_t f = queue[head++];
        done++;
        for (size_t e = outdeg[f]; e < outdeg[f + 1]; e++)
            if (--indeg[edges[e]] == 0)
                queue[tail++] = edges[e];
    }
    sh->recursive = done < nodes;
}

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
        s_fail (self, "no input");
    else if (len > S_INPUT_MAX)
        s_fail (self, "command too long (%zu bytes, at most %zu)", len, S_INPUT_MAX);
    else if (len && memchr (src, 0, len))
        s_fail (self, "NUL byte in command (offset %zu)",
                (size_t) ((const char *) memchr (src, 0, len) - src));
    else {
        s_parser_t p = {.sh = self, .buf = src ? src : "", .len = len};
        s_node_t *root = s_parse_program (&p);
        if (!self->failed) {
            s_ectx_t ctx = {.upstream = S_NONE, .func = S_NONE, .calls = true};
            s_emit (self, root, &ctx);
        }
        if (!self->failed)
            s_find_recursion (self);
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
