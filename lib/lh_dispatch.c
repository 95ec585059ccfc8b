/*  lh_dispatch.c -- the lookup shared by every dispatch table. */
#include "lh_dispatch.h"

#include <assert.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

unsigned
lh_role_bit (const char *role)
{
    static const char *names[] = {"agent", "expert", "node", "admin"};
    if (!role)
        return 0;
    for (unsigned i = 0; i < sizeof (names) / sizeof (names[0]); i++)
        if (strcmp (role, names[i]) == 0)
            return 1u << i;
    return 0;
}

const void *
lh_dispatch_find (const void *table, size_t entry_size, const char *name, size_t len)
{
    assert (table && entry_size >= sizeof (const char *));
    if (!name)
        return NULL;
    if (len == SIZE_MAX)
        len = strlen (name);
    for (const char *entry = (const char *) table;; entry += entry_size) {
        const char *entry_name;
        memcpy (&entry_name, entry, sizeof (entry_name));
        if (!entry_name)
            return NULL;
        if (strlen (entry_name) == len && memcmp (entry_name, name, len) == 0)
            return entry;
    }
}

bool
lh_dispatch_allows (unsigned roles, const char *role)
{
    return (roles & lh_role_bit (role)) != 0;
}

char *
lh_dispatch_names (const void *table, size_t entry_size, char *buf, size_t size)
{
    assert (table && buf && size > 0);
    size_t used = 0;
    buf[0] = '\0';
    for (const char *entry = (const char *) table;; entry += entry_size) {
        const char *entry_name;
        memcpy (&entry_name, entry, sizeof (entry_name));
        if (!entry_name || used >= size)
            break;
        int n = snprintf (buf + used, size - used, "%s%s", used ? ", " : "", entry_name);
        if (n < 0)
            break;
        used += (size_t) n;
    }
    return buf;
}
