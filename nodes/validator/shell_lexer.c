/*  shell_lexer.c -- tokens and words of the shell parser.

    shell_lex reads the next token for shell_parser.c. Words are expanded
    as they are read: quote removal, ~ and $HOME, $'..' escapes, a mark
    per byte saying how it came to be (M_LIT, M_QUOTED, M_DYN) and the
    pattern made from them. A command substitution, backquote or process
    substitution inside a word is parsed on the spot through
    shell_parse_list, so lexer and parser recurse into each other. Also
    here: brace expansion, heredoc bodies, and the tracking of what may
    assign a for loop's variable (the parser reports what it sees).
*/
#include "shell_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool
s_is_blank (char c)
{
    return c == ' ' || c == '\t';
}

bool
shell_is_meta (char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == ';' || c == '&' || c == '|' || c == '<' ||
           c == '>' || c == '(' || c == ')';
}

static bool
s_is_digit (char c)
{
    return c >= '0' && c <= '9';
}

bool
shell_is_name_start (char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool
shell_is_name_char (char c)
{
    return shell_is_name_start (c) || s_is_digit (c);
}

bool
shell_is_all_digits (const char *text)
{
    if (!*text)
        return false;
    for (; *text; text++)
        if (!s_is_digit (*text))
            return false;
    return true;
}

//  NAME=value (what env and sudo take before the command)
bool
shell_is_assignment (const char *text)
{
    if (!shell_is_name_start (*text))
        return false;
    while (shell_is_name_char (*text))
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

void
shell_perr (s_parser_t *p, size_t at, const char *fmt, ...)
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
        shell_fail (sh, "%s (offset %zu in %s)", what, at, p->what);
    else
        shell_fail (sh, "%s (offset %zu)", what, at);
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

void
shell_syntax_error (s_parser_t *p, const s_tok_t *tok)
{
    if (tok->type == T_EOF)
        shell_perr (p, tok->start, "syntax error: unexpected end of input");
    else if (tok->type == T_NEWLINE)
        shell_perr (p, tok->start, "syntax error near unexpected newline");
    else {
        char text[32];
        s_excerpt (p, tok->start, tok->end < tok->start + 24 ? tok->end : tok->start + 24, text,
                   sizeof (text));
        shell_perr (p, tok->start, "syntax error near unexpected token '%s'", text);
    }
}

bool
shell_enter (s_parser_t *p)
{
    if (p->depth >= p->sh->max_depth) {
        shell_perr (p, p->pos, "nesting too deep (max_depth %zu)", p->sh->max_depth);
        return false;
    }
    p->depth++;
    return true;
}

void
shell_leave (s_parser_t *p)
{
    p->depth--;
}

//  Loop variables ----------------------------------------------------------
//
//  "$NAME" in the body of `for NAME in WORD` stands for what WORD expands
//  to when WORD is static or a glob, unless NAME may be assigned while the
//  body runs. What may assign a variable is found as the input is parsed
//  (shell_bind_event): assignments, read, declare, unset, printf -v, for and
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
void
shell_bind_event (s_parser_t *p, const char *text, size_t len, bool global, const s_loop_t *owner)
{
    shell_t *sh = p->sh;
    if (sh->failed || sh->bind_off)
        return;
    if (global || p->in_func) {
        if (!text) {
            sh->gwild = true;
            return;
        }
        s_gevent_t *ev = shell_vec_push (sh, &sh->gevents, sizeof (s_gevent_t));
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

void
shell_bind_event_str (s_parser_t *p, const char *text, bool global)
{
    shell_bind_event (p, text, text ? strlen (text) : 0, global, NULL);
}

//  Whether "$NAME" of this loop stands for its word's pattern: decided
//  once the loop's parser is done, when its commands are emitted
bool
shell_loop_bound (shell_t *sh, s_loop_t *loop)
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
bool
shell_is_special_var (const char *name)
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

void
shell_wb_init (s_wb_t *wb, s_parser_t *p)
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
    shell_str_putc (wb->p->sh, &wb->text, c);
    shell_str_putc (wb->p->sh, &wb->marks, wb->mode);
}

static void
s_wb_put (s_wb_t *wb, const char *src, size_t len)
{
    shell_t *sh = wb->p->sh;
    shell_str_put (sh, &wb->text, src, len);
    if (len && shell_str_reserve (sh, &wb->marks, len)) {
        memset (wb->marks.data + wb->marks.n, wb->mode, len);
        wb->marks.n += len;
    }
}

//  Bytes added in the given mode
void
shell_wb_putm (s_wb_t *wb, char mode, const char *src, size_t len)
{
    wb->mode = mode;
    s_wb_put (wb, src, len);
}

void
shell_wb_putcm (s_wb_t *wb, char mode, char c)
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
        s_ref_t *ref = shell_vec_push (p->sh, &wb->refs, sizeof (s_ref_t));
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

void
shell_wb_sub (s_wb_t *wb, s_subkind_t kind, s_node_t *body)
{
    s_sub_t *sub = shell_vec_push (wb->p->sh, &wb->subs, sizeof (s_sub_t));
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
const char *
shell_make_pattern_refs (shell_t *sh, const char *text, const char *marks, size_t n, bool glob,
                         bool force, const s_wrefs_t *refs)
{
    s_str_t out = {0};
    bool special = false, last_dyn = false;
    size_t i = 0, r = 0;
    while (i < n && !sh->failed) {
        char c = text[i], m = marks ? marks[i] : M_QUOTED;
        while (refs && r < refs->n && refs->v[r].at < i)
            r++; //  inside a bracket expression: that is dynamic as a whole
        if (refs && r < refs->n && refs->v[r].at == i && shell_loop_bound (sh, refs->v[r].loop)) {
            const s_ref_t *ref = &refs->v[r++];
            size_t blen = strlen (ref->loop->bind);
            if (s_bind_charge (sh, blen + 1)) {
                special = true;
                last_dyn = false;
                shell_str_put (sh, &out, ref->loop->bind, blen);
                i += ref->len;
                continue;
            }
        }
        if (m == M_DYN) {
            special = true;
            if (!last_dyn)
                shell_str_putc (sh, &out, '\x01');
            last_dyn = true;
            i++;
            continue;
        }
        if (m == M_LIT && glob && (c == '*' || c == '?')) {
            special = true;
            last_dyn = false;
            shell_str_putc (sh, &out, c);
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
                    shell_str_putc (sh, &out, '\x01');
                last_dyn = true;
            } else {
                last_dyn = false;
                shell_str_putc (sh, &out, '[');
                for (size_t k = i + 1; k < end; k++) {
                    if (marks[k] != M_LIT &&
                        (s_glob_special (text[k]) || strchr ("!^-", text[k]) != NULL))
                        shell_str_putc (sh, &out, '\\');
                    shell_str_putc (sh, &out, text[k]);
                }
                shell_str_putc (sh, &out, ']');
            }
            i = end + 1;
            continue;
        }
        last_dyn = false;
        if (s_glob_special (c))
            shell_str_putc (sh, &out, '\\');
        shell_str_putc (sh, &out, c);
        i++;
    }
    if (!special && !force)
        return NULL;
    return shell_str_cstr (sh, &out);
}

const char *
shell_make_pattern (shell_t *sh, const char *text, const char *marks, size_t n, bool glob,
                    bool force)
{
    return shell_make_pattern_refs (sh, text, marks, n, glob, force, NULL);
}

s_word_t
shell_wb_done (s_wb_t *wb)
{
    shell_t *sh = wb->p->sh;
    s_word_t word;
    memset (&word, 0, sizeof (word));
    word.subscript = wb->subscript && wb->assign;
    if (wb->sub_glob && (wb->astate == A_SUB || wb->astate == A_AFTERSUB || wb->astate == A_PLUS))
        wb->dynamic = true;
    word.w.text = shell_str_cstr (sh, &wb->text);
    word.marks = shell_str_cstr (sh, &wb->marks);
    //  An assignment's value is not globbed; an assignment-like argument
    //  is (shell_word_glob)
    word.w.pattern =
        shell_make_pattern (sh, word.w.text, word.marks, wb->text.n, !wb->assign, wb->dynamic);
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
void
shell_word_glob (shell_t *sh, s_word_t *word)
{
    word->w.pattern = shell_make_pattern (sh, word->w.text, word->marks, strlen (word->w.text),
                                          true, word->w.dynamic);
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
                shell_perr (p, start,
                            term == '"' ? "unterminated double quote"
                                        : "unterminated single quote");
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
                shell_wb_putcm (wb, M_QUOTED, next);
                p->pos += 2;
            } else {
                shell_wb_putcm (wb, M_QUOTED, '\\');
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
        shell_wb_putcm (wb, M_QUOTED, c);
        p->pos++;
    }
}

//  Parses a list up to the `)` that closes $( or <( or >(; p->pos is just
//  past the opening parenthesis. Returns the list, p->pos past the `)`.
static s_node_t *
s_read_paren_list (s_parser_t *p, size_t start, const char *what)
{
    if (!shell_enter (p))
        return NULL;
    bool cond = p->cond, regex = p->regex;
    p->cond = p->regex = false;
    s_node_t *list = shell_parse_list (p);
    s_tok_t *tok = &p->tok;
    if (!p->sh->failed) {
        if (!p->have)
            tok = NULL; //  cannot happen: shell_parse_list stops on a peeked token
        if (!tok || tok->type == T_EOF)
            shell_perr (p, start, "unterminated %s", what);
        else if (tok->type != T_RPAREN)
            shell_syntax_error (p, tok);
        else
            p->have = false;
    }
    p->cond = cond;
    p->regex = regex;
    shell_leave (p);
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
    shell_wb_putm (wb, M_DYN, p->buf + start, p->pos - start);
    wb->dynamic = true;
    shell_wb_sub (wb, SUB_CMD, list);
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
    shell_wb_putm (wb, M_DYN, p->buf + start, p->pos - start);
    wb->dynamic = true;
    shell_wb_sub (wb, dir == '<' ? SUB_PROCIN : SUB_PROCOUT, list);
}

//  Where the `))` closing an arithmetic expansion or command starts, or
//  S_NONE when the parentheses do not close that way (then it is a
//  command substitution or subshell holding a subshell, as in bash). i is
//  just past `((`. Quotes, $( ), ${ } and backquotes nest inside, tracked
//  on a small stack; nesting past max_depth gives up (S_NONE) and the
//  parser reports it.
size_t
shell_find_arith_end (const s_parser_t *p, size_t i)
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
void
shell_scan_arith (s_parser_t *p, s_wb_t *wb, size_t body, size_t end)
{
    if (!shell_enter (p))
        return;
    size_t len = p->len;
    p->len = end;
    p->pos = body;
    s_read_dq (p, wb, 0);
    p->len = len;
    p->pos = end + 2;
    shell_leave (p);
}

//  ${ ... } -- p->pos on the `$`, body the offset past `{`
static void
s_read_param (s_parser_t *p, s_wb_t *wb, size_t body, bool dq)
{
    shell_t *sh = p->sh;
    size_t start = p->pos;
    if (!shell_enter (p))
        return;
    size_t saved = wb->text.n;
    p->pos = body;
    size_t depth = 0;
    while (!sh->failed) {
        p->pos = s_cont (p, p->pos);
        if (p->pos >= p->len) {
            shell_perr (p, start, "unterminated parameter expansion");
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
                    shell_perr (p, p->pos, "unterminated single quote");
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
    shell_leave (p);
    if (sh->failed)
        return;
    s_wb_cut (wb, saved);
    if (sh->home && p->pos - body == 5 && memcmp (p->buf + body, "HOME}", 5) == 0)
        shell_wb_putm (wb, M_QUOTED, sh->home, sh->home_len);
    else {
        shell_wb_putm (wb, M_DYN, p->buf + start, p->pos - start);
        wb->dynamic = true;
        size_t n = p->pos - body - 1, k = 0;
        while (k < n && shell_is_name_char (p->buf[body + k]))
            k++;
        if (dq && k == n && n && shell_is_name_start (p->buf[body]))
            s_wb_ref (wb, saved, p->buf + body, n);
        //  ${NAME=..} ${NAME:=..} assign; ${!NAME=..} assigns what NAME names
        if (memchr (p->buf + body, '=', n))
            shell_bind_event (p, p->buf[body] == '!' ? NULL : p->buf + body, n, false, NULL);
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
            shell_perr (p, start, "unterminated $'...' string");
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
        shell_wb_putcm (wb, M_QUOTED, '$');
        p->pos = i;
        return;
    }
    char c = p->buf[i];
    if (c == '(') {
        size_t j = s_cont (p, i + 1);
        if (j < p->len && p->buf[j] == '(') {
            size_t end = shell_find_arith_end (p, j + 1);
            if (end != S_NONE) {
                size_t start = p->pos, saved = wb->text.n;
                shell_bind_event (p, p->buf + j + 1, end - j - 1, false, NULL); //  $(( f = 1 ))
                shell_scan_arith (p, wb, j + 1, end);
                if (sh->failed)
                    return;
                s_wb_cut (wb, saved);
                shell_wb_putm (wb, M_DYN, p->buf + start, p->pos - start);
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
    if (shell_is_name_start (c)) {
        size_t j = i;
        while (j < p->len && shell_is_name_char (p->buf[j]))
            j++;
        if (sh->home && j - i == 4 && memcmp (p->buf + i, "HOME", 4) == 0)
            shell_wb_putm (wb, M_QUOTED, sh->home, sh->home_len);
        else {
            size_t at = wb->text.n;
            shell_wb_putcm (wb, M_DYN, '$');
            s_wb_put (wb, p->buf + i, j - i);
            wb->dynamic = true;
            if (dq)
                s_wb_ref (wb, at, p->buf + i, j - i);
        }
        p->pos = j;
        return;
    }
    if (s_is_digit (c) || memchr ("@*#?-$!", c, 7)) {
        shell_wb_putcm (wb, M_DYN, '$');
        s_wb_putc (wb, c);
        wb->dynamic = true;
        p->pos = i + 1;
        return;
    }
    //  A lone $ is literal
    shell_wb_putcm (wb, M_QUOTED, '$');
    p->pos = i;
}

//  Parses text as a whole program in a parser of its own (backquotes,
//  heredoc bodies, strings handed to shells)
s_node_t *
shell_parse_text (shell_t *sh, const char *text, size_t len, size_t depth, const char *what)
{
    s_parser_t sub = {.sh = sh, .buf = text, .len = len, .depth = depth, .what = what};
    if (!shell_enter (&sub))
        return NULL;
    return shell_parse_program (&sub);
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
                shell_str_putc (sh, &code, next);
                p->pos += 2;
                continue;
            }
        }
        shell_str_putc (sh, &code, c);
        p->pos++;
    }
    if (!closed) {
        shell_perr (p, start, "unterminated backquote");
        return;
    }
    const char *text = shell_str_cstr (sh, &code);
    s_node_t *list = shell_parse_text (sh, text, code.n, p->depth, "backquote");
    if (sh->failed)
        return;
    shell_wb_putm (wb, M_DYN, p->buf + start, p->pos - start);
    wb->dynamic = true;
    shell_wb_sub (wb, SUB_CMD, list);
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
        if (c == '/' || shell_is_meta (c) || (assign && c == ':'))
            break;
        if (c == '\\' || c == '\'' || c == '"' || c == '$' || c == '`') {
            //  A quoted tilde prefix is not expanded
            shell_wb_putcm (wb, M_LIT, '~');
            p->pos++;
            return;
        }
        empty = false;
        i = s_cont (p, i + 1);
    }
    wb->plain = false;
    if (empty && sh->home)
        shell_wb_putm (wb, M_QUOTED, sh->home, sh->home_len);
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
        if (shell_is_name_char (c) && !(wb->text.n == 0 && s_is_digit (c)))
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
    shell_wb_init (&wb, p);
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
        if (regex &&
            (c == '(' || c == ')' || c == '|' || (parens && shell_is_meta (c) && c != '\n'))) {
            if (c == '(')
                parens++;
            else if (c == ')') {
                if (!parens)
                    break;
                parens--;
            }
            wb.plain = false;
            shell_wb_putcm (&wb, M_LIT, c);
            p->pos++;
            continue;
        }
        if (shell_is_meta (c))
            break;
        switch (c) {
        case '\\':
            s_wb_break (&wb);
            wb.quoted = true;
            if (p->pos + 1 < p->len) {
                shell_wb_putcm (&wb, M_QUOTED, p->buf[p->pos + 1]);
                p->pos += 2;
            } else {
                shell_wb_putcm (&wb, M_QUOTED, '\\');
                p->pos++;
            }
            break;
        case '\'': {
            s_wb_break (&wb);
            wb.quoted = true;
            const char *close = memchr (p->buf + p->pos + 1, '\'', p->len - p->pos - 1);
            if (!close) {
                shell_perr (p, p->pos, "unterminated single quote");
                break;
            }
            shell_wb_putm (&wb, M_QUOTED, p->buf + p->pos + 1,
                           (size_t) (close - p->buf) - p->pos - 1);
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
    s_word_t word = shell_wb_done (&wb);
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
        shell_fail (sh, "command too complex (brace expansion gives more than %d words)",
                    S_BRACE_WORDS_MAX);
        return false;
    }
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 4;
        const char **v =
            shell_arena_realloc (sh, list->v, list->cap * sizeof (char *), cap * sizeof (char *));
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
    return s_strs_push (sh, list, shell_strndup (sh, t, n));
}

//  Every a[i] followed by every b[j], in that order
static bool
s_strs_product (shell_t *sh, const s_strs_t *a, const s_strs_t *b, s_strs_t *out)
{
    memset (out, 0, sizeof (*out));
    if (b->n && a->n > S_BRACE_WORDS_MAX / b->n) {
        shell_fail (sh, "command too complex (brace expansion gives more than %d words)",
                    S_BRACE_WORDS_MAX);
        return false;
    }
    for (size_t i = 0; i < a->n; i++)
        for (size_t j = 0; j < b->n; j++) {
            size_t la = strlen (a->v[i]), lb = strlen (b->v[j]);
            if (!shell_charge (sh, la + lb + 1))
                return false;
            char *s = shell_arena_alloc (sh, la + lb + 1);
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
    const char *text = shell_strndup (sh, t, n);
    const char *dots = strstr (text, "..");
    if (sh->failed)
        return -1;
    if (!dots)
        return 0;
    size_t lhs_l = (size_t) (dots - text);
    const char *lhs = shell_strndup (sh, text, lhs_l);
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
        shell_fail (sh, "command too complex (brace expansion gives more than %d words)",
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
            shell_fail (sh, "command too complex (brace sequence width)");
            return -1;
        }
        if (!shell_charge (sh, strlen (buf) + 1) ||
            !s_strs_push (sh, out, shell_strndup (sh, buf, strlen (buf))))
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
    if (!shell_charge (sh, n + 1))
        return false;
    if (depth >= S_DEPTH_MAX) {
        shell_fail (sh, "command too complex (brace expansion nesting)");
        return false;
    }
    size_t i = 0;
    char c;
    for (;;) {
        c = s_brace_gobble (t, n, &i, '{');
        if (!c)
            break;
        size_t j = i + 1;
        if (!shell_charge (sh, n - i))
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
            shell_str_putc (sh, &out, c);
            c = raw[++i];
        } else if (c == '"')
            quote = quote ? 0 : '"';
        else if (c == '\'' && !quote)
            quote = '\'';
        shell_str_putc (sh, &out, c);
    }
    *outlen = out.n;
    return shell_str_cstr (sh, &out);
}

//  Could brace expansion change this word at all
bool
shell_is_brace_candidate (const s_word_t *word)
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
size_t
shell_brace_words (s_parser_t *p, const s_word_t *word, s_word_t **words)
{
    shell_t *sh = p->sh;
    *words = NULL;
    if (!shell_is_brace_candidate (word))
        return 1;
    size_t n;
    const char *t = s_raw_clean (sh, word->raw, word->rawlen, &n);
    s_strs_t pieces;
    if (!s_brace_expand (sh, t, n, 0, &pieces))
        return 0;
    if (pieces.n == 1 && strlen (pieces.v[0]) == n && memcmp (pieces.v[0], t, n) == 0)
        return 1;
    s_word_t *out = shell_arena_alloc (sh, pieces.n * sizeof (s_word_t));
    if (!out)
        return 0;
    size_t count = 0;
    for (size_t i = 0; i < pieces.n && !sh->failed; i++) {
        size_t len = strlen (pieces.v[i]);
        if (!shell_charge (sh, len + 1))
            return 0;
        s_parser_t sub = {
            .sh = sh, .buf = pieces.v[i], .len = len, .depth = p->depth, .what = p->what};
        s_word_t piece = s_read_word (&sub, false);
        if (sh->failed)
            return 0;
        if (sub.pos != len) {
            shell_perr (p, p->pos, "cannot read the brace expansion of a word");
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
            shell_str_put (sh, &text, p->buf + i, eol - i);
            i = eol;
        }
    } else
        shell_str_put (sh, &text, p->buf + body, end - body);
    const char *copy = shell_str_cstr (sh, &text);
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
    if (!shell_enter (&sub))
        return;
    s_wb_t wb;
    shell_wb_init (&wb, &sub);
    s_read_dq (&sub, &wb, 0);
    if (sub.hd_head)
        shell_perr (&sub, sub.len, "unterminated heredoc (delimiter '%s')", sub.hd_head->delim);
    s_word_t word = shell_wb_done (&wb);
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
            shell_perr (p, body, "unterminated heredoc (delimiter '%s')", delim);
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

s_word_t
shell_make_word (const char *text)
{
    s_word_t word;
    memset (&word, 0, sizeof (word));
    word.w.text = text;
    word.plain = true;
    return word;
}

s_tok_t
shell_lex (s_parser_t *p)
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
            shell_perr (p, p->pos, "unterminated heredoc (delimiter '%s')", delim);
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
            tok.word = shell_make_word (c == '<' ? "<" : ">");
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
        bool number = tok.word.plain && shell_is_all_digits (text);
        long long value = 0;
        for (size_t k = 0; number && k < tlen; k++) {
            value = value * 10 + (text[k] - '0');
            if (value > INT_MAX)
                number = false;
        }
        bool named = tok.word.plain && tlen > 2 && text[0] == '{' && text[tlen - 1] == '}' &&
                     shell_is_name_start (text[1]);
        for (size_t k = 1; named && k + 1 < tlen; k++)
            named = shell_is_name_char (text[k]);
        size_t at = s_cont (p, p->pos);
        if (!p->cond && (number || named) && at < p->len &&
            (p->buf[at] == '<' || p->buf[at] == '>')) {
            size_t after = s_cont (p, at + 1);
            if (!(after < p->len && p->buf[after] == '(')) {
                int fd = number ? (int) value : -1;
                if (named)
                    shell_bind_event (p, text + 1, tlen - 2, false, NULL); //  {NAME}> sets NAME
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
