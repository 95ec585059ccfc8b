/*  ratelimit -- one token bucket per agent.

    Buckets refill continuously at `rate` tokens per second up to `burst`.
    Agents come from the roster, so the number of buckets is bounded by it.
*/
#ifndef LH_RATELIMIT_H_INCLUDED
#define LH_RATELIMIT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _ratelimit_t ratelimit_t;

ratelimit_t *ratelimit_new (void);
void ratelimit_destroy (ratelimit_t **self_p);

//  Takes one token from agent's bucket at time now_us (monotonic). True if
//  there was one. rate <= 0 means unlimited.
bool ratelimit_take (ratelimit_t *self, const char *agent, double rate, double burst,
                     int64_t now_us);
size_t ratelimit_size (ratelimit_t *self);

#endif
