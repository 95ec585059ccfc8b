/*  lh_log -- structured log lines. See lh_log.h. */
#include "lh_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static char s_component[32] = "lh";
static lh_log_level_t s_level = LH_LOG_INFO;
static const char *s_names[] = {"debug", "info", "warn", "error"};

void
lh_log_init (const char *component, lh_log_level_t level)
{
    snprintf (s_component, sizeof (s_component), "%s", component);
    s_level = level;
}

lh_log_level_t
lh_log_level_parse (const char *name)
{
    for (int level = LH_LOG_DEBUG; level <= LH_LOG_ERROR; level++)
        if (name && strcmp (name, s_names[level]) == 0)
            return (lh_log_level_t) level;
    return LH_LOG_INFO;
}

const char *
lh_log_quote (const char *text, size_t len, char *buf, size_t size)
{
    size_t out = 0;
    buf[out++] = '"';
    for (size_t i = 0; i < len && out + 4 < size; i++) {
        unsigned char c = (unsigned char) text[i];
        if (c == '"' || c == '\\') {
            buf[out++] = '\\';
            buf[out++] = (char) c;
        } else if (c < 0x20 || c == 0x7F)
            buf[out++] = '?';
        else
            buf[out++] = (char) c;
    }
    buf[out++] = '"';
    buf[out] = 0;
    return buf;
}

void
lh_log (lh_log_level_t level, const char *msg, const char *fields_fmt, ...)
{
    if (level < s_level)
        return;
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r (&now.tv_sec, &tm);
    char line[2048];
    char quoted[512];
    int n = snprintf (line, sizeof (line),
                      "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s comp=%s msg=%s",
                      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                      tm.tm_sec, now.tv_nsec / 1000000, s_names[level], s_component,
                      lh_log_quote (msg, strlen (msg), quoted, sizeof (quoted)));
    if (fields_fmt && *fields_fmt && n > 0 && (size_t) n < sizeof (line) - 2) {
        line[n++] = ' ';
        va_list args;
        va_start (args, fields_fmt);
        int m = vsnprintf (line + n, sizeof (line) - n, fields_fmt, args);
        va_end (args);
        if (m > 0)
            n += m;
    }
    if (n < 0 || (size_t) n >= sizeof (line) - 1)
        n = sizeof (line) - 2;
    line[n++] = '\n';
    fwrite (line, 1, (size_t) n, stderr);
}
