/*  lh_bucket -- one token bucket. See lh_bucket.h. */
#include "lh_bucket.h"

void
lh_bucket_init (lh_bucket_t *self, double tokens, int64_t now_us)
{
    self->tokens = tokens;
    self->at_us = now_us;
}

bool
lh_bucket_take (lh_bucket_t *self, double rate, double burst, int64_t now_us)
{
    double tokens = self->tokens + (double) (now_us - self->at_us) * rate / 1e6;
    self->tokens = tokens > burst ? burst : tokens;
    self->at_us = now_us;
    if (self->tokens < 1)
        return false;
    self->tokens -= 1;
    return true;
}
