/*  shell_wrappers.c -- looking through wrappers: sudo, env, xargs, bash -c, ...

    For each command the emitter appends, finds what it runs: an inner
    command (appended after it, the wrapper's name added to its chain) or
    a string handed to a shell, parsed again with the same parser. Most
    wrappers are rows of the tables in shell_wrappers_table.c (their
    options, scanned getopt-style here, an unknown option read both ways);
    those with a syntax of their own (env -S, find -exec, tmux, git, bwrap,
    ...) have a function each. Aliases are here too: an alias is a wrapper
    whose value is parsed again.
*/
#include "shell_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

//  Aliases, at the end of the file
static void s_unwrap_alias (shell_t *sh, const s_ectx_t *ctx, size_t index, const shell_cmd_t *cmd);
static void s_alias_define (shell_t *sh, const shell_cmd_t *cmd, bool unalias);
static void s_alias_put_word (shell_t *sh, s_str_t *out, const shell_word_t *w);

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
    if (!shell_emit_deeper (sh, &c))
        return;
    c.calls = ctx->calls && calls;
    s_rec_t rec = sh->recs[outer];
    rec.pub.argv = argv;
    rec.pub.argc = argc;
    rec.pub.assigns = shell_merge_assigns (sh, rec.pub.assigns, rec.pub.assigns_count, assigns,
                                           nassigns, &rec.pub.assigns_count);
    rec.pub.wrappers = shell_add_wrapper (sh, rec.pub.wrappers, rec.pub.wrappers_count, name);
    rec.pub.wrappers_count++;
    if (also) {
        rec.pub.wrappers = shell_add_wrapper (sh, rec.pub.wrappers, rec.pub.wrappers_count, also);
        rec.pub.wrappers_count++;
    }
    if (sh->failed)
        return;
    size_t index = shell_push_rec (sh, &rec);
    shell_note_call (sh, &c, index);
    if (index != S_NONE)
        shell_unwrap (sh, &c, index);
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
    if (!shell_emit_deeper (sh, &c))
        return;
    size_t len = strlen (text);
    if (!shell_charge (sh, len))
        return;
    char what[64];
    snprintf (what, sizeof (what), "%s string", name);
    const char *label = shell_strndup (sh, what, strlen (what));
    s_node_t *root = shell_parse_text (sh, text, len, c.depth, label);
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
    c.wrappers = shell_add_wrapper (sh, rec.pub.wrappers, rec.pub.wrappers_count, name);
    c.nwrappers = rec.pub.wrappers_count + 1;
    c.redirs = rec.pub.redirs;
    c.nredirs = rec.pub.redirs_count;
    if (script) {
        shell_redir_t *kept =
            shell_arena_alloc (sh, (rec.pub.redirs_count + 1) * sizeof (shell_redir_t));
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
    shell_emit (sh, root, &c);
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
            shell_str_putc (sh, &str, ' ');
        size_t len = strlen (argv[i].text);
        if (!shell_charge (sh, len + 1))
            return "";
        shell_str_put (sh, &str, argv[i].text, len);
    }
    return shell_str_cstr (sh, &str);
}

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
        if (o->numeric && shell_is_all_digits (t + 1))
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

//  Options, NAME=value words and fixed operands, then the command
static void
s_exec_from (shell_t *sh, const s_ectx_t *ctx, size_t outer, const shell_cmd_t *cmd,
             const s_wrap_t *w, size_t k)
{
    size_t a = k;
    if (w->assigns)
        while (k < cmd->argc && shell_is_assignment (cmd->argv[k].text))
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
        shell_word_t *w = shell_vec_push (sh, &st->words, sizeof (shell_word_t));
        if (w) {
            w->text = shell_str_cstr (sh, &st->cur);
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
                shell_str_putc (sh, &st.cur, d);
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
                shell_str_putc (sh, &st.cur, s_split_escape (d));
            continue;
        }
        if (c == '$' && s[i + 1] == '{')
            st.dyn = true;
        shell_str_putc (sh, &st.cur, c);
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
            if (!shell_charge (sh, strlen (split) + n))
                return;
            shell_word_t *parts = s_env_split (sh, split, v[i - 1].dynamic, &count);
            if (sh->failed)
                return;
            shell_word_t *fresh =
                shell_arena_alloc (sh, (count + n - i + 1) * sizeof (shell_word_t));
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
    while (i < n && shell_is_assignment (v[i].text))
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
            s_reparse (sh, ctx, outer, v[i].text, shell_strndup (sh, label, strlen (label)), false);
        }
        return;
    }
    if (i < n && !s_flag && !s_is_stdin_path (v[i].text))
        return; //  runs a script file (bash /dev/stdin reads stdin as one)
    snprintf (label, sizeof (label), "%s <<", name);
    s_stdin_script (sh, ctx, outer, cmd, shell_strndup (sh, label, strlen (label)));
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
            shell_str_putc (sh, &text, '\n');
            continue;
        }
        if (!shell_charge (sh, strlen (k) + 1))
            return;
        if (text.n && text.data[text.n - 1] != '\n')
            shell_str_putc (sh, &text, ' ');
        shell_str_put (sh, &text, k, strlen (k));
    }
    const char *src = shell_str_cstr (sh, &text);
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
        const s_tmux_cmd_t *t = shell_find_tmux_cmd (name);
        if (t) {
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
                        shell_str_putc (sh, &typed, '\n');
                        c++;
                    } else
                        shell_str_putc (sh, &typed, *c);
                }
                s_reparse (sh, ctx, index, shell_str_cstr (sh, &typed), "screen -X stuff", false);
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
            alias_name[naliases] = shell_strndup (sh, conf + 6, klen - 6);
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
            shell_str_put (sh, &text, value + 1, strlen (value + 1));
        else {
            //  A git alias: git with these arguments (not itself again)
            size_t w = strcspn (value, " \t");
            if (w == strlen (sub) && !strncmp (value, sub, w))
                return;
            shell_str_put (sh, &text, "git ", 4);
            shell_str_put (sh, &text, value, strlen (value));
        }
        for (size_t k = i + 1; k < n; k++) {
            shell_str_putc (sh, &text, ' ');
            s_alias_put_word (sh, &text, &v[k]);
        }
        s_reparse (sh, ctx, index, shell_str_cstr (sh, &text), "git alias", false);
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

//  bwrap: options take 0 to 3 arguments (shell_bwrap_nargs); an unknown one is read with 0
//  and with 1
static void
s_unwrap_bwrap (shell_t *sh, const s_ectx_t *ctx, size_t index, const shell_cmd_t *cmd)
{
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
        int nargs = shell_bwrap_nargs (t);
        if (nargs >= 0)
            i += (size_t) nargs;
        else {
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

//  Where the first of verbs is (npm's, pnpm's subcommand), or argc;
//  which: the verb's index in verbs
static size_t
s_verb_at (const shell_cmd_t *cmd, const char *const *verbs, size_t *which)
{
    for (size_t i = 1; i < cmd->argc; i++) {
        const char *t = cmd->argv[i].text;
        if (!strcmp (t, "--"))
            break;
        for (size_t k = 0; verbs[k]; k++)
            if (!strcmp (t, verbs[k])) {
                *which = k;
                return i;
            }
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
    if (!shell_charge (sh, n + 1))
        return NULL;
    bool *reach = shell_arena_alloc (sh, (n + 2) * sizeof (bool));
    bool *start = shell_arena_alloc (sh, (n + 1) * sizeof (bool));
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
        if (o->numeric && shell_is_all_digits (t + 1))
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

//  argv[rest..] after a first word of its own (hatch run ENV:CMD,
//  docker run --entrypoint CMD IMAGE ARGS)
static void
s_runner_emit_as (shell_t *sh, const s_ectx_t *ctx, size_t index, const shell_cmd_t *cmd,
                  const shell_word_t *first, size_t rest, const char *name)
{
    size_t n = rest < cmd->argc ? cmd->argc - rest : 0;
    shell_word_t *argv = shell_arena_alloc (sh, (n + 1) * sizeof (shell_word_t));
    if (!argv || !shell_charge (sh, n + 1))
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
            shell_word_t *copy = shell_arena_alloc (sh, sizeof (shell_word_t));
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
    shell_word_t *argv = shell_arena_alloc (sh, (n + 1) * sizeof (shell_word_t));
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
    bool *at = shell_arena_alloc (sh, (n + 1) * sizeof (bool));
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

void
shell_unwrap (shell_t *sh, const s_ectx_t *ctx, size_t index)
{
    if (sh->failed)
        return;
    const shell_cmd_t cmd = sh->recs[index].pub;
    if (cmd.argc == 0 || cmd.argv[0].dynamic)
        return;
    if (!strcmp (cmd.argv[0].text, "alias") || !strcmp (cmd.argv[0].text, "unalias")) {
        if (shell_charge (sh, cmd.argc))
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
    const char *shell = shell_find_shell (name);
    if (shell) {
        if (shell_charge (sh, cmd.argc))
            s_unwrap_shell (sh, ctx, index, &cmd, shell);
        return;
    }
    bool runner = false;
    for (const s_runner_t *run = shell_find_runner (name, NULL); run && !sh->failed;
         run = shell_find_runner (name, run)) {
        if (!runner && !shell_charge (sh, cmd.argc))
            return;
        runner = true;
        s_unwrap_runner (sh, ctx, index, &cmd, run);
    }
    if (runner)
        return;
    const s_wrap_t *w = shell_find_wrap (name);
    if (!w || !shell_charge (sh, cmd.argc))
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
        if (n - i < 2 || !strcmp (v[i].text, "-") || !v[i].text[0] ||
            shell_is_all_digits (v[i].text))
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
                shell_word_t *argv = shell_arena_alloc (sh, (n - i) * sizeof (shell_word_t));
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
    case W_NPM:
    case W_PNPM:
    case W_YARN:
    case W_BUN: {
        const s_pkgexec_t *px = shell_find_pkgexec (w->type);
        size_t verb = 0;
        size_t at = px && px->verbs[0] ? s_verb_at (&cmd, px->verbs, &verb) : 0;
        if (px && at < n)
            s_unwrap_pkgexec (sh, ctx, index, &cmd, at + 1, px->longs, px->shorts, px->names[verb]);
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
        if (shell_is_meta (name[i]) || strchr ("/$`=\\'\"", name[i]))
            return false;
    return true;
}

static s_alias_t *
s_alias_find (shell_t *sh, const char *name, size_t len)
{
    s_alias_t *a = sh->aliases.data;
    if (!shell_charge (sh, sh->aliases.n))
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
        s_alias_t *a = shell_vec_push (sh, &sh->aliases, sizeof (s_alias_t));
        if (!a)
            return;
        a->name = shell_strndup (sh, t, len);
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
        bare = shell_is_name_char (*c) || strchr ("./,:+-@%=^", *c) != NULL;
    if (w->dynamic || bare) {
        shell_str_put (sh, out, t, strlen (t));
        return;
    }
    shell_str_putc (sh, out, '\'');
    for (const char *c = t; *c; c++) {
        if (*c == '\'')
            shell_str_put (sh, out, "'\\''", 4);
        else
            shell_str_putc (sh, out, *c);
    }
    shell_str_putc (sh, out, '\'');
}

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
    const char **names =
        shell_arena_alloc (sh, (ctx->nexpanding + cmd->argc + 1) * sizeof (char *));
    if (!names)
        return;
    size_t nnames = ctx->nexpanding;
    for (size_t i = 0; i < nnames; i++)
        names[i] = ctx->expanding[i];
    names[nnames++] = a->name;
    s_str_t text = {0};
    const char *value = a->value;
    shell_str_put (sh, &text, value, strlen (value));
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
        shell_str_put (sh, &text, value, strlen (value));
        i++;
    }
    for (; i < cmd->argc; i++) {
        shell_str_putc (sh, &text, ' ');
        s_alias_put_word (sh, &text, &cmd->argv[i]);
    }
    const char *src = shell_str_cstr (sh, &text);
    if (sh->failed)
        return;
    s_ectx_t c = *ctx;
    c.expanding = names;
    c.nexpanding = nnames;
    s_reparse (sh, &c, index, src, "alias", true);
}
