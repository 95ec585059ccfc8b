/*  lh_idhash -- a zhashx keyed by 64-bit integers stored in the key pointer
    itself (no key allocation). Keys must be non-zero. */
#ifndef LH_IDHASH_H_INCLUDED
#define LH_IDHASH_H_INCLUDED

#include <czmq.h>

zhashx_t *lh_idhash_new (void);
#define LH_IDKEY(id) ((void *) (uintptr_t) (id))

#endif
