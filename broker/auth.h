/*  auth -- who is calling: the roster, the ZAP handler and role rules.

    The roster is a ZPL file mapping CURVE public keys to an agent id and a
    role. The ZAP handler (RFC 27) answers libzmq's handshake checks from
    it, so an unknown key never completes a connection, and hands each
    accepted connection its principal as ZMTP metadata: User-Id is the
    agent id, "Lh-Role" the role, "Lh-Key" the Z85 public key. The broker
    reads those back from every message with zframe_meta.

    Roster format:
        principal
            agent-7
                key = "Z85 public key, 40 chars"
                role = agent            # agent | expert | node | admin
*/
#ifndef LH_AUTH_H_INCLUDED
#define LH_AUTH_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

#include "lh_proto.h"

typedef enum { ROLE_AGENT, ROLE_EXPERT, ROLE_NODE, ROLE_ADMIN, ROLE_COUNT } role_t;

typedef struct _auth_t auth_t;

typedef struct {
    char agent[LH_MAX_AGENT + 1];
    role_t role;
} auth_principal_t;

//  Loads the roster; NULL with a log line when it cannot be read or holds
//  an invalid entry.
auth_t *auth_new (const char *roster_path);
void auth_destroy (auth_t **self_p);

//  Reads the roster file again; on error keeps the old one. Returns 0 or -1.
int auth_reload (auth_t *self);
//  The principal a Z85 public key maps to in the roster now, or NULL. The
//  broker asks on every message, so a key removed by a reload stops working
//  on connections that are already open.
const auth_principal_t *auth_lookup (auth_t *self, const char *key);
size_t auth_size (auth_t *self);

//  Binds the ZAP endpoint (inproc://zeromq.zap.01) in this process's
//  context. Add auth_zap_socket to the loop and call auth_zap_handle when
//  it is readable.
int auth_zap_bind (auth_t *self);
zsock_t *auth_zap_socket (auth_t *self);
void auth_zap_handle (auth_t *self);

uint64_t auth_accepted (auth_t *self);
uint64_t auth_denied (auth_t *self);

const char *role_name (role_t role);
//  ROLE_COUNT if unknown.
role_t role_parse (const char *name);

//  Space-separated service patterns: "validate events.* *".
bool auth_pattern_match (const char *patterns, const char *service);

#endif
