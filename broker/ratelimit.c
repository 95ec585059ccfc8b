/*  ratelimit -- token buckets per agent. See ratelimit.h. */
#include "ratelimit.h"

#include "lh_bucket.h"

#include <czmq.h>

struct _ratelimit_t {
    zhashx_t *buckets; //  agent -> lh_bucket_t
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
    lh_bucket_t *bucket = (lh_bucket_t *) zhashx_lookup (self->buckets, agent);
    if (!bucket) {
        bucket = (lh_bucket_t *) zmalloc (sizeof (lh_bucket_t));
        lh_bucket_init (bucket, burst, now_us);
        zhashx_insert (self->buckets, agent, bucket);
    }
    return lh_bucket_take (bucket, rate, burst, now_us);
}

size_t
ratelimit_size (ratelimit_t *self)
{
    return zhashx_size (self->buckets);
}
