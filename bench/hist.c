/*  hist -- log-linear latency histogram. See bench.h.

    Values below 2^7 have a bucket each; above, every power of two is cut
    into 128 buckets, so a bucket is at most 1/128 of its value wide (the
    idea of HdrHistogram with 2 significant digits). Percentiles report the
    middle of the bucket, clamped to the exact min and max.
*/
#include "bench.h"

#include <stdarg.h>

#include <time.h>

uint64_t
bench_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static int
s_index (uint64_t v)
{
    if (v < HIST_SUB)
        return (int) v;
    int e = 63 - __builtin_clzll (v); //  e >= HIST_SUB_BITS
    int shift = e - HIST_SUB_BITS;
    int mantissa = (int) (v >> shift) - HIST_SUB; //  0..HIST_SUB-1
    return (shift + 1) * HIST_SUB + mantissa;
}

//  Lowest value and width of a bucket
static void
s_bounds (int index, uint64_t *low, uint64_t *width)
{
    if (index < HIST_SUB) {
        *low = (uint64_t) index;
        *width = 1;
        return;
    }
    int shift = index / HIST_SUB - 1;
    uint64_t mantissa = (uint64_t) (index % HIST_SUB) + HIST_SUB;
    *low = mantissa << shift;
    *width = 1ULL << shift;
}

void
hist_reset (hist_t *self)
{
    memset (self, 0, sizeof (*self));
    self->min = UINT64_MAX;
}

void
hist_record (hist_t *self, uint64_t value)
{
    self->counts[s_index (value)]++;
    self->count++;
    self->sum += (double) value;
    if (value < self->min)
        self->min = value;
    if (value > self->max)
        self->max = value;
}

void
hist_merge (hist_t *self, const hist_t *other)
{
    if (!other->count)
        return;
    for (int i = 0; i < HIST_BUCKETS; i++)
        self->counts[i] += other->counts[i];
    self->count += other->count;
    self->sum += other->sum;
    if (other->min < self->min)
        self->min = other->min;
    if (other->max > self->max)
        self->max = other->max;
}

uint64_t
hist_percentile (const hist_t *self, double p)
{
    if (!self->count)
        return 0;
    if (p <= 0)
        return self->min;
    if (p >= 100)
        return self->max;
    uint64_t rank = (uint64_t) ((p / 100.0) * (double) self->count + 0.999999);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        seen += self->counts[i];
        if (seen >= rank) {
            uint64_t low, width;
            s_bounds (i, &low, &width);
            uint64_t mid = low + width / 2;
            if (mid < self->min)
                mid = self->min;
            if (mid > self->max)
                mid = self->max;
            return mid;
        }
    }
    return self->max;
}

double
hist_mean (const hist_t *self)
{
    return self->count ? self->sum / (double) self->count : 0;
}

void
bench_progress (const char *tool, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    fprintf (stderr, "[%s] ", tool);
    vfprintf (stderr, format, args);
    fprintf (stderr, "\n");
    va_end (args);
}

void
bench_json_string (FILE *out, const char *text)
{
    fputc ('"', out);
    for (const char *c = text; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf (out, "\\%c", *c);
        else if ((unsigned char) *c < 0x20)
            fprintf (out, "\\u%04x", (unsigned char) *c);
        else
            fputc (*c, out);
    }
    fputc ('"', out);
}
