/*  shell_parser.c -- recursive descent from tokens to a syntax tree.

    Builds s_node_t trees (lists, and-or lists, pipelines, simple and
    compound commands, function definitions) from shell_lex's tokens with
    one token of lookahead. Words arrive expanded from shell_lexer.c; what
    a command may assign is reported back there (shell_bind_event) for the
    binding of loop variables.
*/
#include "shell_internal.h"

#include <string.h>

static s_node_t *s_parse_command (s_parser_t *p);

//  Token stream: only the parser reads tokens
static s_tok_t *
s_peek (s_parser_t *p)
{
    if (!p->have) {
        p->tok = shell_lex (p);
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
        shell_syntax_error (p, tok);
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
        shell_syntax_error (p, tok);
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
    s_node_t *node = shell_arena_alloc (p->sh, sizeof (s_node_t));
    if (node)
        node->kind = kind;
    return node;
}

static void
s_add_kid (s_parser_t *p, s_node_t *node, s_node_t *kid)
{
    if (node && kid)
        shell_vec_pushp (p->sh, &node->kids, kid);
}

static bool
s_count_simple (s_parser_t *p)
{
    shell_t *sh = p->sh;
    if (++sh->nsimple > sh->max_commands) {
        shell_fail (sh, "too many commands (max_commands %zu)", sh->max_commands);
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
    shell_word_t *slot = shell_vec_push (sh, &list->words, sizeof (shell_word_t));
    if (!slot)
        return;
    *slot = word->w;
    if (word->subs.n) {
        s_isubs_t *isubs = shell_vec_push (sh, &list->subs, sizeof (s_isubs_t));
        if (isubs) {
            isubs->index = list->words.n - 1;
            isubs->subs = word->subs;
        }
    }
    if (word->nrefs) {
        s_irefs_t *irefs = shell_vec_push (sh, &list->refs, sizeof (s_irefs_t));
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
    s_wrefs_t *refs = shell_arena_alloc (sh, list->words.n * sizeof (s_wrefs_t));
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
        *subs = shell_arena_alloc (sh, list->words.n * sizeof (s_subs_t));
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
        shell_syntax_error (p, tok);
        return NULL;
    }
    s_word_t *word = &tok->word;
    s_consume (p);
    if (op.op != R_DLESS && op.op != R_DLESSDASH && op.op != R_TLESS) {
        //  Brace expansion to other than one word is an ambiguous redirect
        s_word_t *pieces = NULL;
        size_t npieces = shell_brace_words (p, word, &pieces);
        if (sh->failed)
            return NULL;
        if (pieces && npieces != 1) {
            shell_perr (p, tok->start, "ambiguous redirect (brace expansion)");
            return NULL;
        }
        if (pieces)
            word = &pieces[0];
    }
    s_redir_t *rd = shell_arena_alloc (sh, sizeof (s_redir_t));
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
        if (op.fd == -2 && !word->w.dynamic && !shell_is_all_digits (word->w.text) &&
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
        s_heredoc_t *hd = shell_arena_alloc (sh, sizeof (s_heredoc_t));
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
            shell_vec_pushp (p->sh, &node->redirs, rd);
    }
}

//  A word's text with its marks
static void
s_wb_append (s_wb_t *wb, const s_word_t *word)
{
    size_t n = strlen (word->w.text);
    if (!word->marks) {
        shell_wb_putm (wb, M_QUOTED, word->w.text, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        shell_wb_putcm (wb, word->marks[i], word->w.text[i]);
}

//  NAME=( ... ) -- word is NAME= (or NAME+=), p->pos on the `(`
static s_word_t
s_read_array (s_parser_t *p, const s_word_t *word)
{
    shell_t *sh = p->sh;
    size_t start = p->pos;
    s_wb_t wb;
    shell_wb_init (&wb, p);
    wb.plain = false;
    wb.assign = true;
    wb.astate = A_VALUE;
    wb.dynamic = word->w.dynamic;
    wb.quoted = word->w.quoted;
    s_wb_append (&wb, word);
    shell_wb_putcm (&wb, M_QUOTED, '(');
    for (size_t i = 0; i < word->subs.n; i++)
        shell_wb_sub (&wb, word->subs.v[i].kind, word->subs.v[i].body);
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
                shell_perr (p, start, "unterminated array assignment");
            else
                shell_syntax_error (p, tok);
            break;
        }
        s_word_t *elem = &tok->word;
        s_consume (p);
        if (!first)
            shell_wb_putcm (&wb, M_QUOTED, ' ');
        first = false;
        s_wb_append (&wb, elem);
        wb.dynamic = wb.dynamic || elem->w.dynamic;
        wb.quoted = wb.quoted || elem->w.quoted;
        for (size_t i = 0; i < elem->subs.n; i++)
            shell_wb_sub (&wb, elem->subs.v[i].kind, elem->subs.v[i].body);
    }
    shell_wb_putcm (&wb, M_QUOTED, ')');
    s_word_t array = shell_wb_done (&wb);
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

//  What a simple command may assign, for loop variables (shell_bind_event)
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

//  The events of a simple command just parsed (see shell_bind_event)
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
            shell_bind_event (p, NULL, 0, true, NULL);
            break;
        }
    }
    for (size_t i = 0; seen && i < node->nassigns; i++) {
        const char *t = node->assigns[i].text;
        const char *eq = strchr (t, '=');
        shell_bind_event (p, t, eq ? (size_t) (eq - t) : strlen (t), false, NULL);
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
            shell_bind_event (p, NULL, 0, true, NULL);
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
        shell_bind_event (p, NULL, 0, true, NULL);
        return;
    case B_ARGS:
    case B_EVAL:
    case B_COND:
        for (size_t j = k + 1; (seen || global) && j < argc; j++) {
            if (!argv[j].dynamic)
                shell_bind_event_str (p, argv[j].text, global);
            else if (kind != B_COND) //  [[ $x -eq 1 ]] with x='f=1': see shell.h
                shell_bind_event (p, NULL, 0, global, NULL);
        }
        return;
    case B_DECL:
        for (size_t j = k + 1; (seen || global) && j < argc; j++) {
            const char *t = argv[j].text;
            const char *eq = strchr (t, '=');
            size_t n = eq ? (size_t) (eq - t) : strlen (t);
            if (!argv[j].dynamic)
                shell_bind_event (p, t, nameref ? strlen (t) : n, global, NULL);
            else if (!nameref && eq && !memchr (t, '$', n) && !memchr (t, '`', n) &&
                     !memchr (t, '*', n) && !memchr (t, '?', n) && !memchr (t, '[', n) &&
                     !memchr (t, '~', n) && !memchr (t, '<', n) && !memchr (t, '>', n))
                shell_bind_event (p, t, n, global, NULL); //  NAME="$value"
            else
                shell_bind_event (p, NULL, 0, global, NULL);
        }
        return;
    case B_OPTION:
        for (size_t j = k + 1; seen && j < argc; j++) {
            const char *t = argv[j].text;
            if (argv[j].dynamic) {
                shell_bind_event (p, NULL, 0, false, NULL);
                break;
            }
            if (t[0] != '-' || !strcmp (t, "--"))
                break;
            shell_bind_event_str (p, t, false);
            if (strchr (t + 1, letter) && j + 1 < argc) {
                if (argv[j + 1].dynamic)
                    shell_bind_event (p, NULL, 0, false, NULL);
                else
                    shell_bind_event_str (p, argv[j + 1].text, false);
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
            size_t npieces = shell_brace_words (p, &word, &pieces);
            if (sh->failed)
                break;
            if (pieces) {
                braced += npieces;
                if (braced > S_BRACE_WORDS_MAX) {
                    shell_fail (sh,
                                "command too complex (brace expansion gives more than %d words)",
                                S_BRACE_WORDS_MAX);
                    break;
                }
            }
            bool first_word = argv.words.n == 0;
            for (size_t k = 0; k < (pieces ? npieces : 1); k++) {
                s_word_t *one = pieces ? &pieces[k] : &word;
                if (one->assign && !decl)
                    shell_word_glob (sh, one); //  x[1]=y as an argument is a glob
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
                shell_vec_pushp (sh, &node->redirs, rd);
        } else
            break;
    }
    if (sh->failed)
        return NULL;
    if (argv.words.n == 0 && assigns.words.n == 0 && node->redirs.n == 0) {
        shell_syntax_error (p, &first);
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
    if (!shell_enter (p))
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
        shell_bind_event (p, NULL, 0, true, NULL); //  a heredoc's text comes after the body
    p->in_func--;
    p->loop_floor = floor;
    shell_leave (p);
    if (p->sh->failed || !body)
        return NULL;
    if (body->kind == N_SIMPLE && !body->compound) {
        shell_syntax_error (p, &at);
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
//  shell_find_arith_end. Only its substitutions run.
static s_node_t *
s_parse_arith_cmd (s_parser_t *p, size_t end)
{
    s_wb_t wb;
    shell_wb_init (&wb, p);
    shell_bind_event (p, p->buf + p->pos + 1, end - p->pos - 1, false, NULL); //  (( f = 1 ))
    shell_scan_arith (p, &wb, p->pos + 1, end);
    s_word_t word = shell_wb_done (&wb);
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
    s_node_t *list = shell_parse_list (p);
    if (p->sh->failed || !list)
        return NULL;
    s_tok_t *tok = s_peek (p);
    if (list->kids.n == 0 || (closer && !s_kw (tok, closer))) {
        shell_syntax_error (p, tok);
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
    if (!shell_enter (p))
        return NULL;
    s_node_t *node = s_compound (p);
    s_add_kid (p, node, s_parse_body (p, "}"));
    shell_leave (p);
    return node;
}

static s_node_t *
s_parse_subshell (s_parser_t *p)
{
    s_consume (p); //  (
    if (p->pos < p->len && p->buf[p->pos] == '(') {
        size_t end = shell_find_arith_end (p, p->pos + 1);
        if (end != S_NONE)
            return s_parse_arith_cmd (p, end);
    }
    if (!shell_enter (p))
        return NULL;
    s_node_t *node = s_compound (p);
    s_node_t *list = shell_parse_list (p);
    s_tok_t *tok = s_peek (p);
    if (!p->sh->failed && (tok->type != T_RPAREN || !list || list->kids.n == 0))
        shell_syntax_error (p, tok);
    else
        s_consume (p);
    s_add_kid (p, node, list);
    shell_leave (p);
    return node;
}

static s_node_t *
s_parse_if (s_parser_t *p)
{
    s_consume (p); //  if
    if (!shell_enter (p))
        return NULL;
    s_node_t *node = s_compound (p);
    s_add_kid (p, node, s_parse_body (p, "then"));
    s_add_kid (p, node, shell_parse_list (p));
    while (!p->sh->failed) {
        s_tok_t *tok = s_peek (p);
        if (node && node->kids.n &&
            ((s_node_t **) node->kids.data)[node->kids.n - 1]->kids.n == 0) {
            shell_syntax_error (p, tok); //  empty then/else part
            break;
        }
        if (s_kw (tok, "elif")) {
            s_consume (p);
            s_add_kid (p, node, s_parse_body (p, "then"));
            s_add_kid (p, node, shell_parse_list (p));
        } else if (s_kw (tok, "else")) {
            s_consume (p);
            s_add_kid (p, node, s_parse_body (p, "fi"));
            break;
        } else if (s_kw (tok, "fi")) {
            s_consume (p);
            break;
        } else {
            shell_syntax_error (p, tok);
            break;
        }
    }
    shell_leave (p);
    return node;
}

static s_node_t *
s_parse_while (s_parser_t *p)
{
    s_consume (p); //  while, until
    if (!shell_enter (p))
        return NULL;
    s_node_t *node = s_compound (p);
    if (node)
        node->loop = true;
    s_add_kid (p, node, s_parse_body (p, "do"));
    s_add_kid (p, node, s_parse_body (p, "done"));
    shell_leave (p);
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
    if (word->subs.n || word->assign || shell_is_brace_candidate (word))
        return NULL;
    if (!word->w.dynamic)
        return shell_make_pattern (sh, word->w.text, NULL, strlen (word->w.text), true, true);
    if (!word->w.pattern || strchr (word->w.pattern, '\x01'))
        return NULL;
    return word->w.pattern;
}

static bool
s_is_name (const char *text)
{
    if (!shell_is_name_start (*text))
        return false;
    while (shell_is_name_char (*text))
        text++;
    return *text == 0;
}

static s_node_t *
s_parse_for (s_parser_t *p)
{
    shell_t *sh = p->sh;
    bool is_for = s_kw (s_peek (p), "for");
    s_consume (p);
    if (!shell_enter (p))
        return NULL;
    s_node_t *node = s_compound (p);
    if (node)
        node->loop = true;
    s_loop_t *loop = NULL;
    s_tok_t *tok = s_peek (p);
    if (is_for && tok->type == T_LPAREN && p->pos < p->len && p->buf[p->pos] == '(') {
        //  for (( init; test; step ))
        s_consume (p);
        size_t end = shell_find_arith_end (p, p->pos + 1);
        if (end == S_NONE) {
            shell_perr (p, tok->start, "syntax error in for (( ))");
            shell_leave (p);
            return NULL;
        }
        s_add_kid (p, node, s_parse_arith_cmd (p, end));
        if (s_peek (p)->type == T_SEMI)
            s_consume (p);
    } else {
        if (tok->type != T_WORD) {
            shell_syntax_error (p, tok);
            shell_leave (p);
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
                    shell_syntax_error (p, tok);
                    break;
                }
            }
        } else if (tok->type == T_SEMI)
            s_consume (p);
        s_add_kid (p, node, s_words_node (p, &words));
        if (node)
            node->loop_from = 1; //  the words are expanded once
        loop = shell_arena_alloc (sh, sizeof (s_loop_t));
        if (loop) {
            loop->name = name.w.text;
            loop->nlen = strlen (name.w.text);
            loop->parent = p->loop;
            if (is_for && in && words.words.n == 1 && name.plain && s_is_name (name.w.text) &&
                !shell_is_special_var (name.w.text))
                loop->bind = s_bind_pattern (sh, &first);
            //  The header assigns name for the loops around
            shell_bind_event (p, name.w.text, strlen (name.w.text), false, loop);
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
    shell_leave (p);
    return node;
}

static s_node_t *
s_parse_case (s_parser_t *p)
{
    shell_t *sh = p->sh;
    s_consume (p); //  case
    if (!shell_enter (p))
        return NULL;
    s_node_t *node = s_compound (p);
    s_tok_t *tok = s_peek (p);
    if (tok->type != T_WORD) {
        shell_syntax_error (p, tok);
        shell_leave (p);
        return NULL;
    }
    s_wlist_t subject = {0};
    s_push_word (sh, &subject, &tok->word);
    s_consume (p);
    s_add_kid (p, node, s_words_node (p, &subject));
    s_skip_newlines (p);
    if (!s_expect_kw (p, "in")) {
        shell_leave (p);
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
                shell_syntax_error (p, tok);
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
        s_add_kid (p, node, shell_parse_list (p));
        tok = s_peek (p);
        if (tok->type == T_DSEMI || tok->type == T_SEMIAMP || tok->type == T_DSEMIAMP)
            s_consume (p);
        else if (!s_kw (tok, "esac")) {
            shell_syntax_error (p, tok);
            break;
        }
    }
    shell_leave (p);
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
    if (!shell_enter (p) || !s_count_simple (p)) {
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
            shell_perr (p, start, "unterminated [[");
            break;
        default:
            shell_syntax_error (p, tok);
            break;
        }
        if (sh->failed)
            break;
        if (op) {
            s_word_t word = shell_make_word (op);
            s_push_word (sh, &words, &word);
        }
        s_consume (p);
    }
    p->cond = false;
    p->regex = false;
    shell_leave (p);
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
        shell_syntax_error (p, tok);
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
            shell_bind_event_str (p, word.w.text, false); //  coproc NAME sets NAME
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
            shell_syntax_error (p, tok);
            return NULL;
        } else
            return s_parse_simple (p, NULL, 0);
    } else if (tok->type == T_WORD || tok->type == T_REDIR)
        return s_parse_simple (p, NULL, 0);
    else {
        shell_syntax_error (p, tok);
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
            s_redir_t *rd = shell_arena_alloc (sh, sizeof (s_redir_t));
            if (rd) {
                rd->r.kind = SHELL_REDIR_DUP_OUT;
                rd->r.fd = 2;
                rd->r.target.text = "1";
                shell_vec_pushp (sh, &last->redirs, rd);
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

s_node_t *
shell_parse_list (s_parser_t *p)
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

s_node_t *
shell_parse_program (s_parser_t *p)
{
    s_node_t *list = shell_parse_list (p);
    s_tok_t *tok = s_peek (p);
    if (!p->sh->failed && tok->type != T_EOF)
        shell_syntax_error (p, tok);
    return list;
}
