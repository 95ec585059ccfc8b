/*  cache -- bounded LRU of decisions. See cache.h. */
#include "cache.h"

#include <czmq.h>

typedef struct {
    char key[CACHE_KEY_SIZE * 2 + 1]; //  hex, also the hash key
    policy_decision_t decision;
    void *handle; //  in self->order
} entry_t;

struct _cache_t {
    zhashx_t *entries; //  hex key -> entry_t (owned)
    zlistx_t *order;   //  entry_t, least recently used first
    size_t capacity;
    uint64_t evictions;
};

static void
s_entry_destroy (void **item)
{
    free (*item);
    *item = NULL;
}

static void
s_hex (const uint8_t key[CACHE_KEY_SIZE], char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < CACHE_KEY_SIZE; i++) {
        hex[2 * i] = digits[key[i] >> 4];
        hex[2 * i + 1] = digits[key[i] & 15];
    }
    hex[2 * CACHE_KEY_SIZE] = 0;
}

cache_t *
cache_new (size_t capacity)
{
    cache_t *self = (cache_t *) zmalloc (sizeof (cache_t));
    self->entries = zhashx_new ();
    zhashx_set_destructor (self->entries, s_entry_destroy);
    self->order = zlistx_new ();
    self->capacity = capacity;
    return self;
}

void
cache_destroy (cache_t **self_p)
{
    if (self_p && *self_p) {
        zlistx_destroy (&(*self_p)->order);
        zhashx_destroy (&(*self_p)->entries);
        free (*self_p);
        *self_p = NULL;
    }
}

bool
cache_get (cache_t *self, const uint8_t key[CACHE_KEY_SIZE], policy_decision_t *decision)
{
    char hex[CACHE_KEY_SIZE * 2 + 1];
    s_hex (key, hex);
    entry_t *entry = (entry_t *) zhashx_lookup (self->entries, hex);
    if (!entry)
        return false;
    zlistx_move_end (self->order, entry->handle);
    *decision = entry->decision;
    return true;
}

void
cache_put (cache_t *self, const uint8_t key[CACHE_KEY_SIZE], const policy_decision_t *decision)
{
    if (self->capacity == 0)
        return;
    entry_t *entry = (entry_t *) zmalloc (sizeof (entry_t));
    s_hex (key, entry->key);
    entry->decision = *decision;
    entry_t *old = (entry_t *) zhashx_lookup (self->entries, entry->key);
    if (old) {
        old->decision = *decision;
        zlistx_move_end (self->order, old->handle);
        free (entry);
        return;
    }
    if (zhashx_size (self->entries) >= self->capacity) {
        entry_t *oldest = (entry_t *) zlistx_detach (self->order, NULL);
        zhashx_delete (self->entries, oldest->key);
        self->evictions++;
    }
    entry->handle = zlistx_add_end (self->order, entry);
    zhashx_insert (self->entries, entry->key, entry);
}

void
cache_clear (cache_t *self)
{
    zlistx_purge (self->order);
    zhashx_purge (self->entries);
}

size_t
cache_size (const cache_t *self)
{
    return zhashx_size (self->entries);
}

uint64_t
cache_evictions (const cache_t *self)
{
    return self->evictions;
}
