/*  lh_bucket -- one token bucket: it refills continuously at `rate` tokens
    a second up to `burst`, and each take costs one token. The broker's
    per-agent limits (broker/ratelimit.c), the console's logins and its live
    pages' streams count with it. */
#ifndef LH_BUCKET_H_INCLUDED
#define LH_BUCKET_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    double tokens;
    int64_t at_us; //  when tokens was last brought up to date (monotonic)
} lh_bucket_t;

//  A bucket holding tokens at now_us.
void lh_bucket_init (lh_bucket_t *self, double tokens, int64_t now_us);
//  Refills up to now_us, then takes one token: true when there was one.
bool lh_bucket_take (lh_bucket_t *self, double rate, double burst, int64_t now_us);

#endif
