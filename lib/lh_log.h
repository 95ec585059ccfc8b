/*  lh_log -- structured (logfmt) log lines on stderr.

    One line per event: ts=... level=... comp=... msg="..." then the
    caller's key=value pairs. Values containing spaces must be quoted by
    the caller (lh_log_quote helps).
*/
#ifndef LH_LOG_H_INCLUDED
#define LH_LOG_H_INCLUDED

#include <stddef.h>

typedef enum { LH_LOG_DEBUG, LH_LOG_INFO, LH_LOG_WARN, LH_LOG_ERROR } lh_log_level_t;

//  Names the component in every line; level is the lowest one printed.
void lh_log_init (const char *component, lh_log_level_t level);
//  Parses "debug", "info", "warn", "error"; LH_LOG_INFO for anything else.
lh_log_level_t lh_log_level_parse (const char *name);

void lh_log (lh_log_level_t level, const char *msg, const char *fields_fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

#define lh_debug(msg, ...) lh_log (LH_LOG_DEBUG, msg, __VA_ARGS__)
#define lh_info(msg, ...)  lh_log (LH_LOG_INFO, msg, __VA_ARGS__)
#define lh_warn(msg, ...)  lh_log (LH_LOG_WARN, msg, __VA_ARGS__)
#define lh_error(msg, ...) lh_log (LH_LOG_ERROR, msg, __VA_ARGS__)

//  Writes text into buf as a logfmt value: quoted and escaped, cut to fit.
const char *lh_log_quote (const char *text, size_t len, char *buf, size_t size);

#endif
