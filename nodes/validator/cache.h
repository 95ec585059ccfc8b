/*  cache -- the validator's L1 decision cache: bounded, least recently used
    entries evicted first. Keys are 16-byte digests the caller computes. */
#ifndef LH_CACHE_H_INCLUDED
#define LH_CACHE_H_INCLUDED

#include "policy.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CACHE_KEY_SIZE 16

typedef struct _cache_t cache_t;

cache_t *cache_new (size_t capacity);
void cache_destroy (cache_t **self_p);

//  Copies the decision stored under key into *decision; false if absent.
//  A hit makes the entry the most recently used.
bool cache_get (cache_t *self, const uint8_t key[CACHE_KEY_SIZE], policy_decision_t *decision);
//  Stores a copy, evicting the least recently used entry when full.
void cache_put (cache_t *self, const uint8_t key[CACHE_KEY_SIZE],
                const policy_decision_t *decision);
void cache_clear (cache_t *self);

size_t cache_size (const cache_t *self);
uint64_t cache_evictions (const cache_t *self);

#endif
