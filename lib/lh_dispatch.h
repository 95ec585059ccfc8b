/*  lh_dispatch -- name -> {handler, roles, check} tables.

    Every dispatcher in Lighthouse (the broker's internal services, the
    validator's operations, the replica's reads, the lh commands) is a
    static const array of entries declared with LH_DISPATCH_ENTRY and ended
    by an entry whose name is NULL. The first member is the name; the
    handler and the argument check have the dispatcher's own types, so the
    compiler checks them; help is the entry's usage or one line about it,
    for --help and for the error that names what exists. One lookup serves
    every table:

        typedef LH_DISPATCH_ENTRY (read_fn *, read_check_fn *) read_op_t;
        static const read_op_t s_reads[] = {
            {"get", s_read_get, LH_ROLES_READ, s_check_seq, "get SEQ: one event"},
            {NULL}
        };
        const read_op_t *op = lh_dispatch_find (s_reads, sizeof *s_reads, name, len);
        if (!op)                                       ... unknown
        else if (!lh_dispatch_allows (op->roles, role)) ... forbidden
        else if (op->check && op->check (...) != 0)     ... bad arguments
        else op->handler (...);
*/
#ifndef LH_DISPATCH_H_INCLUDED
#define LH_DISPATCH_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

//  Role bits, in the order of the broker's roster roles. LH_ROLE_LOCAL
//  stands for whoever runs a local command (lh), who has no roster role.
#define LH_ROLE_AGENT  (1u << 0)
#define LH_ROLE_EXPERT (1u << 1)
#define LH_ROLE_NODE   (1u << 2)
#define LH_ROLE_ADMIN  (1u << 3)
#define LH_ROLE_LOCAL  (1u << 4)
#define LH_ROLES_ANY   (LH_ROLE_AGENT | LH_ROLE_EXPERT | LH_ROLE_NODE | LH_ROLE_ADMIN | LH_ROLE_LOCAL)

#define LH_DISPATCH_ENTRY(handler_type, check_type)                                                \
    struct {                                                                                       \
        const char *name;                                                                          \
        handler_type handler;                                                                      \
        unsigned roles;                                                                            \
        check_type check;                                                                          \
        const char *help;                                                                          \
    }

//  The bit of a roster role name ("agent", "expert", "node", "admin"); 0
//  for NULL or any other name, which no entry admits.
unsigned lh_role_bit (const char *role);

//  The entry of table (entries of entry_size bytes, the first member of
//  each a const char *name, ended by a NULL name) named name[0..len), or
//  NULL. len may be SIZE_MAX for a NUL-terminated name.
const void *lh_dispatch_find (const void *table, size_t entry_size, const char *name, size_t len);

//  True when an entry admitting roles may be used by role (a role name).
bool lh_dispatch_allows (unsigned roles, const char *role);

//  Writes the names of table's entries into buf, separated by ", ", for
//  an error naming what exists; returns buf.
char *lh_dispatch_names (const void *table, size_t entry_size, char *buf, size_t size);

#endif
