/*  malloc_fail -- an LD_PRELOAD library for test_hook: malloc, calloc and
    realloc fail (NULL, ENOMEM) for any request larger than
    LH_TEST_MALLOC_LIMIT bytes, so that a test can drive a real process into
    its out-of-memory paths. Not usable with sanitizers, which own malloc. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

extern void *__libc_malloc (size_t size);
extern void *__libc_calloc (size_t count, size_t size);
extern void *__libc_realloc (void *ptr, size_t size);

//  getenv and strtoull allocate nothing, so they may run inside malloc
static size_t
s_limit (void)
{
    static size_t limit;
    if (limit == 0) {
        const char *text = getenv ("LH_TEST_MALLOC_LIMIT");
        limit = text ? (size_t) strtoull (text, NULL, 10) : SIZE_MAX;
        if (limit == 0)
            limit = SIZE_MAX;
    }
    return limit;
}

void *
malloc (size_t size)
{
    if (size > s_limit ()) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_malloc (size);
}

void *
calloc (size_t count, size_t size)
{
    if (size && count > s_limit () / size) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_calloc (count, size);
}

void *
realloc (void *ptr, size_t size)
{
    if (size > s_limit ()) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_realloc (ptr, size);
}
