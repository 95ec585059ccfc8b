/*  auth -- roster, ZAP handler and roles. See auth.h. */
#include "auth.h"

#include "codec.h"
#include "lh_log.h"
#include "lh_proto.h"

#include <arpa/inet.h>

struct _auth_t {
    char *path;
    zhashx_t *keys; //  Z85 public key -> auth_principal_t
    zsock_t *zap;
    uint64_t accepted;
    uint64_t denied;
};

static const char *s_role_names[ROLE_COUNT] = {"agent", "expert", "node", "admin"};

const char *
role_name (role_t role)
{
    return role < ROLE_COUNT ? s_role_names[role] : "unknown";
}

role_t
role_parse (const char *name)
{
    for (int role = 0; role < ROLE_COUNT; role++)
        if (name && streq (name, s_role_names[role]))
            return (role_t) role;
    return ROLE_COUNT;
}

static void
s_free_item (void **item)
{
    free (*item);
    *item = NULL;
}

static zhashx_t *
s_load (const char *path)
{
    zconfig_t *root = zconfig_load (path);
    if (!root) {
        lh_error ("cannot read roster", "path=%s", path);
        return NULL;
    }
    zhashx_t *keys = zhashx_new ();
    zhashx_set_destructor (keys, s_free_item);
    zconfig_t *section = zconfig_locate (root, "principal");
    zconfig_t *entry = section ? zconfig_child (section) : NULL;
    bool valid = true;
    for (; entry && valid; entry = zconfig_next (entry)) {
        const char *agent = zconfig_name (entry);
        const char *key = zconfig_get (entry, "key", "");
        const char *role = zconfig_get (entry, "role", "");
        uint8_t bin[32];
        auth_principal_t principal = {.role = role_parse (role)};
        if (!codec_name_valid (agent, strlen (agent), LH_MAX_AGENT) || strlen (key) != 40 ||
            !zmq_z85_decode (bin, key) || principal.role == ROLE_COUNT) {
            lh_error ("invalid roster entry", "path=%s agent=%s role=%s", path, agent, role);
            valid = false;
            break;
        }
        snprintf (principal.agent, sizeof (principal.agent), "%s", agent);
        auth_principal_t *copy = (auth_principal_t *) zmalloc (sizeof (auth_principal_t));
        *copy = principal;
        if (zhashx_insert (keys, key, copy) != 0) {
            free (copy);
            lh_error ("duplicate key in roster", "path=%s agent=%s", path, agent);
            valid = false;
        }
    }
    zconfig_destroy (&root);
    if (!valid)
        zhashx_destroy (&keys);
    return keys;
}

auth_t *
auth_new (const char *roster_path)
{
    zhashx_t *keys = s_load (roster_path);
    if (!keys)
        return NULL;
    auth_t *self = (auth_t *) zmalloc (sizeof (auth_t));
    self->path = strdup (roster_path);
    self->keys = keys;
    return self;
}

void
auth_destroy (auth_t **self_p)
{
    if (self_p && *self_p) {
        auth_t *self = *self_p;
        zhashx_destroy (&self->keys);
        zsock_destroy (&self->zap);
        free (self->path);
        free (self);
        *self_p = NULL;
    }
}

int
auth_reload (auth_t *self)
{
    zhashx_t *keys = s_load (self->path);
    if (!keys)
        return -1;
    zhashx_destroy (&self->keys);
    self->keys = keys;
    lh_info ("roster loaded", "path=%s principals=%zu", self->path, zhashx_size (keys));
    return 0;
}

const auth_principal_t *
auth_lookup (auth_t *self, const char *key)
{
    return (const auth_principal_t *) zhashx_lookup (self->keys, key);
}

size_t
auth_size (auth_t *self)
{
    return zhashx_size (self->keys);
}

int
auth_zap_bind (auth_t *self)
{
    self->zap = zsock_new (ZMQ_REP);
    if (!self->zap || zsock_bind (self->zap, "inproc://zeromq.zap.01") != 0) {
        lh_error ("cannot bind ZAP handler", "endpoint=inproc://zeromq.zap.01");
        return -1;
    }
    return 0;
}

zsock_t *
auth_zap_socket (auth_t *self)
{
    return self->zap;
}

//  ZMTP metadata: name length (1 byte), name, value length (4 bytes BE), value.
static void
s_meta_add (zchunk_t *chunk, const char *name, const char *value)
{
    uint8_t name_len = (uint8_t) strlen (name);
    uint32_t value_len = htonl ((uint32_t) strlen (value));
    zchunk_extend (chunk, &name_len, 1);
    zchunk_extend (chunk, name, name_len);
    zchunk_extend (chunk, &value_len, 4);
    zchunk_extend (chunk, value, strlen (value));
}

static void s_zap_handle_one (auth_t *self, zmsg_t *request);

void
auth_zap_handle (auth_t *self)
{
    //  Every request waiting, not one a wake: a reconnecting fleet sends
    //  thousands at once, and each handshake waits for its answer
    for (int i = 0; i < 1024 && (zsock_events (self->zap) & ZMQ_POLLIN); i++) {
        zmsg_t *request = zmsg_recv (self->zap);
        if (!request)
            return;
        s_zap_handle_one (self, request);
    }
}

static void
s_zap_handle_one (auth_t *self, zmsg_t *request)
{
    //  version, request id, domain, address, routing id, mechanism, credentials...
    char *version = zmsg_popstr (request);
    char *request_id = zmsg_popstr (request);
    char *domain = zmsg_popstr (request);
    char *address = zmsg_popstr (request);
    char *routing_id = zmsg_popstr (request);
    char *mechanism = zmsg_popstr (request);
    zframe_t *client_key = zmsg_pop (request);

    const char *status = "400";
    const char *text = "unknown key";
    const char *user = "";
    zchunk_t *meta = zchunk_new (NULL, 0);
    char key[41] = "";
    if (!version || !streq (version, "1.0") || !mechanism || !streq (mechanism, "CURVE") ||
        !client_key || zframe_size (client_key) != 32)
        text = "unsupported mechanism";
    else {
        zmq_z85_encode (key, zframe_data (client_key), 32);
        auth_principal_t *principal = (auth_principal_t *) zhashx_lookup (self->keys, key);
        if (principal) {
            status = "200";
            text = "OK";
            user = principal->agent;
            s_meta_add (meta, "Lh-Role", role_name (principal->role));
            s_meta_add (meta, "Lh-Key", key);
        }
    }
    if (streq (status, "200"))
        self->accepted++;
    else {
        self->denied++;
        lh_warn ("connection refused", "reason=\"%s\" key=%s address=%s domain=%s", text,
                 key[0] ? key : "-", address ? address : "-", domain ? domain : "-");
    }
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "1.0");
    zmsg_addstr (reply, request_id ? request_id : "");
    zmsg_addstr (reply, status);
    zmsg_addstr (reply, text);
    zmsg_addstr (reply, user);
    zmsg_addmem (reply, zchunk_data (meta), zchunk_size (meta));
    zmsg_send (&reply, self->zap);

    zchunk_destroy (&meta);
    zframe_destroy (&client_key);
    zstr_free (&version);
    zstr_free (&request_id);
    zstr_free (&domain);
    zstr_free (&address);
    zstr_free (&routing_id);
    zstr_free (&mechanism);
    zmsg_destroy (&request);
}

uint64_t
auth_accepted (auth_t *self)
{
    return self->accepted;
}

uint64_t
auth_denied (auth_t *self)
{
    return self->denied;
}

bool
auth_pattern_match (const char *patterns, const char *service)
{
    size_t service_len = strlen (service);
    const char *p = patterns;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ' ' && *p != ',')
            p++;
        size_t len = (size_t) (p - start);
        if (len == 0)
            break;
        if (len == 1 && *start == '*')
            return true;
        //  "events.*" matches "events.read" but not "events"
        if (len >= 2 && start[len - 1] == '*') {
            if (service_len >= len - 1 && memcmp (service, start, len - 1) == 0)
                return true;
        } else if (len == service_len && memcmp (service, start, len) == 0)
            return true;
    }
    return false;
}
