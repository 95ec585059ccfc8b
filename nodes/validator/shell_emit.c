/*  shell_emit.c -- the syntax tree to the result's commands.

    Walks a tree in execution order and appends one record per simple
    command, substitutions first, with its pipeline, the redirections of
    the compound commands around it and its wrapper chain. Each record is
    handed to shell_unwrap (shell_wrappers.c), which appends what the
    command runs. Calls between shell functions are noted as commands are
    emitted; once all is emitted, shell_find_recursion looks for a cycle
    among them.
*/
#include "shell_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

bool
shell_emit_deeper (shell_t *sh, s_ectx_t *ctx)
{
    if (ctx->depth >= sh->max_depth) {
        shell_fail (sh, "nesting too deep (max_depth %zu)", sh->max_depth);
        return false;
    }
    ctx->depth++;
    return true;
}

const char *const *
shell_add_wrapper (shell_t *sh, const char *const *list, size_t n, const char *name)
{
    const char **fresh = shell_arena_alloc (sh, (n + 1) * sizeof (char *));
    if (!fresh)
        return NULL;
    for (size_t i = 0; i < n; i++)
        fresh[i] = list[i];
    fresh[n] = name;
    return fresh;
}

size_t
shell_push_rec (shell_t *sh, const s_rec_t *rec)
{
    if (sh->failed)
        return S_NONE;
    if (sh->nrecs >= sh->max_commands) {
        shell_fail (sh, "too many commands (max_commands %zu)", sh->max_commands);
        return S_NONE;
    }
    if (sh->nrecs == sh->caprecs) {
        size_t cap = sh->caprecs ? sh->caprecs * 2 : 16;
        if (cap > sh->max_commands)
            cap = sh->max_commands;
        size_t grow = (cap - sh->caprecs) * sizeof (s_rec_t);
        if (sh->mem + grow > sh->mem_limit) {
            shell_fail (sh, "command too complex (parser memory limit)");
            return S_NONE;
        }
        s_rec_t *recs = realloc (sh->recs, cap * sizeof (s_rec_t));
        if (!recs) {
            shell_fail (sh, "out of memory");
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
void
shell_note_call (shell_t *sh, const s_ectx_t *ctx, size_t index)
{
    if (index == S_NONE || ctx->func == S_NONE || !ctx->calls)
        return;
    const shell_cmd_t *cmd = &sh->recs[index].pub;
    if (cmd->argc == 0 || cmd->argv[0].dynamic)
        return;
    s_call_t *call = shell_vec_push (sh, &sh->calls, sizeof (s_call_t));
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
        if (!shell_emit_deeper (sh, &c))
            return;
        c.has_pipe = false;
        c.redirs = NULL;
        c.nredirs = 0;
        c.wrappers = shell_add_wrapper (sh, ctx->wrappers, ctx->nwrappers,
                                        sub->kind == SUB_CMD      ? "$()"
                                        : sub->kind == SUB_PROCIN ? "<()"
                                                                  : ">()");
        c.nwrappers = ctx->nwrappers + 1;
        size_t before = sh->nrecs;
        shell_emit (sh, sub->body, &c);
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
        any = shell_loop_bound (sh, refs->v[i].loop);
    if (!any)
        return NULL;
    return shell_make_pattern_refs (sh, word->text, refs->marks, strlen (word->text), !refs->noglob,
                                    true, refs);
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
            copy = shell_arena_alloc (sh, n * sizeof (shell_word_t));
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
        shell_fail (sh, "too many redirections (more than %d on one command)", S_REDIRS_MAX);
        return NULL;
    }
    if (own == 0)
        return ctx->redirs;
    shell_redir_t *merged = shell_arena_alloc (sh, (ctx->nredirs + own) * sizeof (shell_redir_t));
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
const shell_word_t *
shell_merge_assigns (shell_t *sh, const shell_word_t *first, size_t nfirst,
                     const shell_word_t *second, size_t nsecond, size_t *count)
{
    *count = nfirst + nsecond;
    if (*count > S_ASSIGNS_MAX) {
        shell_fail (sh, "too many assignments (more than %d on one command)", S_ASSIGNS_MAX);
        return NULL;
    }
    if (nsecond == 0)
        return first;
    if (nfirst == 0)
        return second;
    shell_word_t *merged = shell_arena_alloc (sh, *count * sizeof (shell_word_t));
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
        shell_merge_assigns (sh, ctx->assigns, ctx->nassigns,
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
    size_t index = shell_push_rec (sh, &rec);
    shell_note_call (sh, ctx, index);
    if (index != S_NONE)
        shell_unwrap (sh, ctx, index);
}

static void
s_emit_pipeline (shell_t *sh, const s_node_t *node, const s_ectx_t *ctx)
{
    s_node_t **kids = node->kids.data;
    size_t n = node->kids.n;
    if (n == 1) {
        //  A lone command inside an element of a pipeline belongs to that
        //  pipeline; anywhere else each simple command is its own
        shell_emit (sh, kids[0], ctx);
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
        shell_emit (sh, kids[i], &c);
        upstream = sh->nrecs > before ? sh->nrecs - 1 : S_NONE;
    }
}

void
shell_emit (shell_t *sh, const s_node_t *node, const s_ectx_t *ctx)
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
            shell_emit (sh, kids[i], &c);
        break;
    case N_PIPELINE:
        s_emit_pipeline (sh, node, &c);
        break;
    case N_SIMPLE:
        s_emit_simple (sh, node, &c);
        break;
    case N_COMPOUND: {
        if (!shell_emit_deeper (sh, &c))
            return;
        //  Redirections are opened before the body runs
        s_redir_t **rd = node->redirs.data;
        for (size_t i = 0; i < node->redirs.n; i++)
            s_emit_subs (sh, &c, &rd[i]->subs, NULL);
        c.redirs = s_merge_redirs (sh, ctx, node, &c.nredirs);
        for (size_t i = 0; i < node->kids.n && !sh->failed; i++) {
            s_ectx_t k = c;
            k.in_loop = c.in_loop || (node->loop && i >= node->loop_from);
            shell_emit (sh, kids[i], &k);
        }
        break;
    }
    case N_FUNC: {
        if (!shell_emit_deeper (sh, &c))
            return;
        const char **slot = shell_vec_push (sh, &sh->funcs, sizeof (char *));
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
            shell_emit (sh, kids[0], &c);
        break;
    }
    case N_WORDS:
        for (size_t i = 0; node->argv_subs && i < node->argc; i++)
            s_emit_subs (sh, &c, &node->argv_subs[i], NULL);
        break;
    }
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

void
shell_find_recursion (shell_t *sh)
{
    size_t nf = sh->funcs.n;
    if (nf == 0 || sh->calls.n == 0)
        return;
    const char **names = sh->funcs.data;
    size_t cap = 16;
    while (cap < nf * 2)
        cap *= 2;
    //  table: name slot -> first func index + 1
    size_t *table = shell_arena_alloc (sh, cap * sizeof (size_t));
    size_t *canon = shell_arena_alloc (sh, nf * sizeof (size_t));
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
    size_t *target = shell_arena_alloc (sh, nc * sizeof (size_t));
    size_t *outdeg = shell_arena_alloc (sh, (nf + 1) * sizeof (size_t));
    size_t *indeg = shell_arena_alloc (sh, nf * sizeof (size_t));
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
    size_t *edges = shell_arena_alloc (sh, (outdeg[nf] + 1) * sizeof (size_t));
    size_t *fill = shell_arena_alloc (sh, nf * sizeof (size_t));
    size_t *queue = shell_arena_alloc (sh, nf * sizeof (size_t));
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
