/*  test_util.h -- a growable byte buffer for hand-built msgpack in unit tests.

    b_bytes (&b, 3, 0x81, 0xA1, 'a') appends raw bytes; b_str appends a str
    in its smallest form; b_be appends a big-endian integer of n bytes.
*/
#ifndef LH_TEST_UTIL_H_INCLUDED
#define LH_TEST_UTIL_H_INCLUDED

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *data;
    size_t size;
    size_t cap;
} buf_t;

static inline void
b_put (buf_t *b, const void *data, size_t n)
{
    if (b->size + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->size + n)
            cap *= 2;
        uint8_t *grown = (uint8_t *) realloc (b->data, cap);
        if (!grown)
            abort ();
        b->data = grown;
        b->cap = cap;
    }
    if (n)
        memcpy (b->data + b->size, data, n);
    b->size += n;
}

static inline void
b_byte (buf_t *b, uint8_t v)
{
    b_put (b, &v, 1);
}

static inline void
b_bytes (buf_t *b, int n, ...)
{
    va_list args;
    va_start (args, n);
    for (int i = 0; i < n; i++)
        b_byte (b, (uint8_t) va_arg (args, int));
    va_end (args);
}

static inline void
b_be (buf_t *b, uint64_t v, size_t n)
{
    for (size_t i = n; i > 0; i--)
        b_byte (b, (uint8_t) (v >> (8 * (i - 1))));
}

static inline void
b_strn (buf_t *b, const void *text, size_t len)
{
    if (len < 32)
        b_byte (b, (uint8_t) (0xA0 | len));
    else if (len < 256) {
        b_byte (b, 0xD9);
        b_be (b, len, 1);
    } else if (len < 65536) {
        b_byte (b, 0xDA);
        b_be (b, len, 2);
    } else {
        b_byte (b, 0xDB);
        b_be (b, len, 4);
    }
    b_put (b, text, len);
}

static inline void
b_str (buf_t *b, const char *text)
{
    b_strn (b, text, strlen (text));
}

static inline void
b_free (buf_t *b)
{
    free (b->data);
    b->data = NULL;
    b->size = b->cap = 0;
}

#endif
