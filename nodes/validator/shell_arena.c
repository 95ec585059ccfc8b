/*  shell_arena.c -- the parser's arena, its budgets, and failing.

    Everything a parse allocates (syntax tree, words, the result's words
    and vectors) lives in chunks owned by the shell_t and goes at once in
    shell_destroy: nothing is freed on its own, so no path can leak or
    double-free. Allocation past a memory limit proportional to the input
    fails, as does work past shell_charge's budget; a failure anywhere
    fails the whole parse, keeping the first message (shell_fail).
*/
#include "shell_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_HDR ((sizeof (s_chunk_t) + S_ALIGN - 1) & ~(S_ALIGN - 1))

void
shell_fail (shell_t *sh, const char *fmt, ...)
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
bool
shell_charge (shell_t *sh, size_t units)
{
    if (sh->failed)
        return false;
    if (units > sh->work_limit - sh->work) {
        shell_fail (sh, "command too complex (wrapper and re-parse work limit)");
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
void *
shell_arena_alloc (shell_t *sh, size_t size)
{
    if (sh->failed)
        return NULL;
    if (size > SIZE_MAX / 4) {
        shell_fail (sh, "command too complex (parser memory limit)");
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
        shell_fail (sh, "command too complex (parser memory limit)");
        return NULL;
    }
    s_chunk_t *chunk = calloc (1, S_HDR + csize);
    if (!chunk) {
        shell_fail (sh, "out of memory");
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
void *
shell_arena_realloc (shell_t *sh, void *ptr, size_t old, size_t size)
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
    void *fresh = shell_arena_alloc (sh, size);
    if (fresh && old)
        memcpy (fresh, ptr, old);
    return fresh;
}

void *
shell_vec_push (shell_t *sh, s_vec_t *vec, size_t size)
{
    if (sh->failed)
        return NULL;
    if (vec->n == vec->cap) {
        size_t cap = vec->cap ? vec->cap * 2 : 4;
        if (cap > SIZE_MAX / 8 / size) {
            shell_fail (sh, "command too complex (parser memory limit)");
            return NULL;
        }
        void *data = shell_arena_realloc (sh, vec->data, vec->cap * size, cap * size);
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

void
shell_vec_pushp (shell_t *sh, s_vec_t *vec, const void *item)
{
    const void **slot = shell_vec_push (sh, vec, sizeof (void *));
    if (slot)
        *slot = item;
}

bool
shell_str_reserve (shell_t *sh, s_str_t *str, size_t extra)
{
    if (sh->failed)
        return false;
    if (extra > SIZE_MAX / 8 - str->n) {
        shell_fail (sh, "command too complex (parser memory limit)");
        return false;
    }
    if (str->n + extra + 1 <= str->cap)
        return true;
    size_t cap = str->cap ? str->cap : 16;
    while (cap < str->n + extra + 1)
        cap *= 2;
    char *data = shell_arena_realloc (sh, str->data, str->cap, cap);
    if (!data)
        return false;
    str->data = data;
    str->cap = cap;
    return true;
}

void
shell_str_putc (shell_t *sh, s_str_t *str, char c)
{
    if (shell_str_reserve (sh, str, 1))
        str->data[str->n++] = c;
}

void
shell_str_put (shell_t *sh, s_str_t *str, const char *src, size_t len)
{
    if (len && shell_str_reserve (sh, str, len)) {
        memcpy (str->data + str->n, src, len);
        str->n += len;
    }
}

const char *
shell_str_cstr (shell_t *sh, s_str_t *str)
{
    if (!shell_str_reserve (sh, str, 0))
        return "";
    str->data[str->n] = 0;
    return str->data;
}

const char *
shell_strndup (shell_t *sh, const char *src, size_t len)
{
    char *copy = shell_arena_alloc (sh, len + 1);
    if (!copy)
        return "";
    memcpy (copy, src, len);
    copy[len] = 0;
    return copy;
}
