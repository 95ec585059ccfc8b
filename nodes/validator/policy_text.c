/*  policy_text.c -- clean text for the policy engine's messages.

    Decisions and load errors are shown to people and logged, and parts of
    them come from untrusted input (commands, tool names, policy text):
    whatever goes into them passes through here, so it is valid UTF-8
    without control characters and never cut inside a character.
*/
#include "policy_internal.h"

//  Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid
static size_t
s_utf8_seq (const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2;
        cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3;
        cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4;
        cp = s[0] & 0x07;
    } else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

bool
policy_text_is_utf8 (const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t i = 0;
    while (i < n) {
        size_t k = s_utf8_seq (p + i, n - i);
        if (!k)
            return false;
        i += k;
    }
    return true;
}

//  Appends n bytes of src to dst (size, current length *len) as valid
//  UTF-8 without control characters: invalid bytes and controls become
//  '?'; never cuts a character in half; dst stays NUL-terminated.
static void
s_append_clean (char *dst, size_t size, size_t *len, const char *src, size_t n)
{
    const unsigned char *p = (const unsigned char *) src;
    size_t i = 0;
    while (i < n && *len + 1 < size) {
        size_t k = s_utf8_seq (p + i, n - i);
        if (k == 0 || (k == 1 && (p[i] < 0x20 || p[i] == 0x7F))) {
            dst[(*len)++] = '?';
            i++;
            continue;
        }
        if (*len + k >= size)
            break;
        memcpy (dst + *len, p + i, k);
        *len += k;
        i += k;
    }
    dst[*len] = 0;
}

void
policy_text_set (char *dst, size_t size, const char *src)
{
    size_t len = 0;
    dst[0] = 0;
    s_append_clean (dst, size, &len, src, strlen (src));
}

//  Formats into dst, then cleans it to UTF-8; args already cleaned where
//  they come from outside.
void
policy_text_format (char *dst, size_t size, const char *format, ...)
{
    char raw[1024];
    va_list args;
    va_start (args, format);
    vsnprintf (raw, sizeof (raw), format, args);
    va_end (args);
    policy_text_set (dst, size, raw);
}

//  A short printable excerpt of untrusted bytes for a message
void
policy_text_excerpt (char *dst, size_t size, const char *src, size_t n)
{
    size_t len = 0;
    dst[0] = 0;
    bool cut = n > 40;
    s_append_clean (dst, size > 48 ? 48 : size, &len, src, cut ? 40 : n);
    if (cut && len + 4 < size) {
        memcpy (dst + len, "...", 4);
    }
}
