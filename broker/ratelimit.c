/*  ratelimit -- token buckets per agent. See ratelimit.h. */
#include "ratelimit.h"

#include <czmq.h>

typedef struct {
    double tokens;
    int64_t last_us;
} bucket_t;

struct _ratelimit_t {
    zhashx_t *buckets; //  agent -> bucket_t
};

static void
s_free_item (void **item)
{
    free (*item);
    *item = NULL;
}

ratelimit_t *
ratelimit_new (void)
{
    ratelimit_t *self = (ratelimit_t *) zmalloc (sizeof (ratelimit_t));
    self->buckets = zhashx_new ();
    zhashx_set_destructor (self->buckets, s_free_item);
    return self;
}

void
ratelimit_destroy (ratelimit_t **self_p)
{
    if (self_p && *self_p) {
        zhashx_destroy (&(*self_p)->buckets);
        free (*self_p);
        *self_p = NULL;
    }
}

bool
ratelimit_take (ratelimit_t *self, const char *agent, double rate, double burst, int64_t now_us)
{
    if (rate <= 0)
        return true;
    if (burst < 1)
        burst = 1;
    bucket_t *bucket = (bucket_t *) zhashx_lookup (self->buckets, agent);
    if (!bucket) {
        bucket = (bucket_t *) zmalloc (sizeof (bucket_t));
        bucket->tokens = burst;
        bucket->last_us = now_us;
        zhashx_insert (self->buckets, agent, bucket);
    }
    double refill = (double) (now_us - bucket->last_us) * rate / 1e6;
    bucket->tokens = bucket->tokens + refill > burst ? burst : bucket->tokens + refill;
    bucket->last_us = now_us;
    if (bucket->tokens < 1)
        return false;
    bucket->tokens -= 1;
    return true;
}

size_t
ratelimit_size (ratelimit_t *self)
{
    return zhashx_size (self->buckets);
}
