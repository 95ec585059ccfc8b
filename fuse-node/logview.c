/*  logview -- the log as files (see logview.h and fuse-node/README.md).

    Nodes: a table of (kind, seq, name) -> node holding the kernel's lookup
    count; the FUSE inode number is the node's address (the root's is
    FUSE_ROOT_ID). Names come one component at a time from the kernel and
    are checked against what the model holds before a node is made, so a
    name the model does not know is ENOENT and nothing is ever resolved
    outside the model. Paths under shadows/ and history/<seq>/ are built one
    component at a time and must pass logmodel_path_ok.

    Open files: a handle per open holding a copy of the content (events,
    shadows, checkpoint, proofs, contexts are made at open), except
    events.jsonl, read from the model at each read, and verdict, which
    gathers what is written and sends it as a decide request.
*/
#include "logview.h"

#include "fusemount.h"

#include "codec.h"
#include "jsonpack.h"
#include "lh_client.h"
#include "lh_log.h"
#include "merkle.h"
#include "note.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <spawn.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define S_LIST_MAX    100000 //  names one directory listing shows at most
#define S_PROOF_CACHE 1024
#define S_RECENT      10
#define S_DECISION    "validation.decision"
#define S_REASON_MAX  1024
#define S_TTL_MAX     (30 * 86400)

typedef enum {
    N_ROOT,
    N_EVENTS,
    N_EVENT,
    N_JSONL,
    N_CHECKPOINT,
    N_PROOFS,
    N_PROOF,
    N_DECISIONS,
    N_DECISION,
    N_AGENTS,
    N_AGENT,
    N_AGENT_EVENT,
    N_ESCALATIONS,
    N_PENDING,
    N_ESC,
    N_ESC_REQUEST,
    N_ESC_CONTEXT,
    N_ESC_VERDICT,
    N_SHADOWS, //  a directory among the shadows (name: "" for the top, else "/a/b")
    N_SHADOW,  //  a file among the shadows (name: "/a/b")
    N_HISTORY,
    N_HIST_DIR,  //  seq, name as N_SHADOWS
    N_HIST_FILE, //  seq, name as N_SHADOW
} s_kind_t;

typedef struct {
    s_kind_t kind;
    uint64_t seq;
    char *name;       //  agent, escalation id or path; "" when none
    uint64_t nlookup; //  under the table's lock
    char *key;
} s_node_t;

typedef struct {
    s_kind_t kind;
    //  The open's reference and one per read being answered: a read's reply
    //  is sent from data, and the kernel may deliver it to the reader, which
    //  may close and so have RELEASE run, before writev has returned
    atomic_int refs;
    char *data;
    size_t size;
    //  verdict
    pthread_mutex_t lock;
    char id[40];
    char *buf;
    size_t len;
    void *token; //  fusemount_open's
    bool sent;
} s_handle_t;

typedef struct {
    char **names; //  first byte 'd' or 'f', then the name
    size_t count, alloc;
    uint64_t numeric; //  events/ and proofs/: count of names made on the fly
    const char *suffix;
    void *token; //  fusemount_open's
} s_dir_t;

struct _logview_t {
    logmodel_t *model;
    lh_connect_t conn;
    logview_options_t options;
    fusemount_t *mount;   //  made with the view, so that a stop before the mount holds
    pthread_mutex_t lock; //  nodes, proofs
    zhashx_t *nodes;      //  key -> s_node_t
    s_node_t root;
    zhashx_t *proofs; //  "seq" -> rendered proof (char *)
    pthread_key_t client_key;
    time_t started;
    atomic_uint_fast64_t verdicts, verdicts_refused, proofs_fetched, proof_errors, invalidations;
};

static const struct {
    const char *name;
    s_kind_t kind;
} s_top[] = {
    {"events", N_EVENTS},           {"events.jsonl", N_JSONL},  {"checkpoint", N_CHECKPOINT},
    {"proofs", N_PROOFS},           {"decisions", N_DECISIONS}, {"agents", N_AGENTS},
    {"escalations", N_ESCALATIONS}, {"shadows", N_SHADOWS},     {"history", N_HISTORY},
};
#define S_TOP (sizeof (s_top) / sizeof (s_top[0]))

static bool
s_is_dir (s_kind_t kind)
{
    return kind == N_ROOT || kind == N_EVENTS || kind == N_PROOFS || kind == N_DECISIONS ||
           kind == N_AGENTS || kind == N_AGENT || kind == N_ESCALATIONS || kind == N_PENDING ||
           kind == N_ESC || kind == N_SHADOWS || kind == N_HISTORY || kind == N_HIST_DIR;
}

static bool
s_immutable (s_kind_t kind)
{
    return kind == N_EVENT || kind == N_DECISION || kind == N_AGENT_EVENT || kind == N_HIST_DIR ||
           kind == N_HIST_FILE || kind == N_ESC_REQUEST;
}

//  --------------------------------------------------------------------------
//  The node table

static s_node_t *
s_node (logview_t *self, fuse_ino_t ino)
{
    return ino == FUSE_ROOT_ID ? &self->root : (s_node_t *) (uintptr_t) ino;
}

static fuse_ino_t
s_ino (logview_t *self, s_node_t *node)
{
    return node == &self->root ? FUSE_ROOT_ID : (fuse_ino_t) (uintptr_t) node;
}

//  The node for (kind, seq, name), its lookup count raised; NULL: no memory
static s_node_t *
s_node_get (logview_t *self, s_kind_t kind, uint64_t seq, const char *name)
{
    size_t n = strlen (name) + 48;
    char *key = (char *) malloc (n);
    if (!key)
        return NULL;
    snprintf (key, n, "%d/%llu/%s", (int) kind, (unsigned long long) seq, name);
    pthread_mutex_lock (&self->lock);
    s_node_t *node = (s_node_t *) zhashx_lookup (self->nodes, key);
    if (!node && (node = (s_node_t *) calloc (1, sizeof (s_node_t)))) {
        node->kind = kind;
        node->seq = seq;
        node->name = strdup (name);
        node->key = key;
        key = NULL;
        if (!node->name) {
            free (node->key);
            free (node);
            node = NULL;
        } else
            zhashx_insert (self->nodes, node->key, node);
    }
    if (node)
        node->nlookup++;
    pthread_mutex_unlock (&self->lock);
    free (key);
    return node;
}

//  A node already known (no count raised), or NULL
static fuse_ino_t
s_known (logview_t *self, s_kind_t kind, uint64_t seq, const char *name)
{
    char key[128];
    if (strlen (name) > 64)
        return 0;
    snprintf (key, sizeof (key), "%d/%llu/%s", (int) kind, (unsigned long long) seq, name);
    pthread_mutex_lock (&self->lock);
    s_node_t *node = (s_node_t *) zhashx_lookup (self->nodes, key);
    pthread_mutex_unlock (&self->lock);
    return node ? (fuse_ino_t) (uintptr_t) node : 0;
}

static void
s_node_free (void **item)
{
    s_node_t *node = (s_node_t *) *item;
    if (node) {
        free (node->name);
        free (node->key);
        free (node);
        *item = NULL;
    }
}

static void
s_node_forget (logview_t *self, s_node_t *node, uint64_t nlookup)
{
    if (node == &self->root)
        return;
    pthread_mutex_lock (&self->lock);
    node->nlookup = node->nlookup > nlookup ? node->nlookup - nlookup : 0;
    if (node->nlookup == 0)
        zhashx_delete (self->nodes, node->key); //  frees it
    pthread_mutex_unlock (&self->lock);
}

//  --------------------------------------------------------------------------
//  Names

static bool
s_name_ok (const char *name)
{
    size_t n = strlen (name);
    return n > 0 && n <= NAME_MAX && !streq (name, ".") && !streq (name, "..") &&
           !strchr (name, '/');
}

//  A sequence number written as the kernel would list it: digits, no
//  leading zero, no overflow, then suffix
static bool
s_parse_seq (const char *name, const char *suffix, uint64_t *seq)
{
    size_t n = strlen (name), s = strlen (suffix);
    if (n <= s || n - s > 20 || strcmp (name + n - s, suffix) != 0)
        return false;
    n -= s;
    if (name[0] == '0' && n > 1)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        uint64_t d = (uint64_t) (name[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *seq = v;
    return true;
}

//  dir + "/" + name as a shadow path, if acceptable
static char *
s_child_path (const char *dir, const char *name)
{
    size_t n = strlen (dir) + strlen (name) + 2;
    char *path = (char *) malloc (n);
    if (!path)
        return NULL;
    snprintf (path, n, "%s/%s", dir, name);
    if (!logmodel_path_ok (path, strlen (path))) {
        free (path);
        return NULL;
    }
    return path;
}

//  --------------------------------------------------------------------------
//  Attributes

static int
s_stat (logview_t *self, s_node_t *node, struct stat *st)
{
    memset (st, 0, sizeof (*st));
    st->st_ino = s_ino (self, node);
    st->st_uid = geteuid ();
    st->st_gid = self->options.gid;
    st->st_atime = st->st_mtime = st->st_ctime = self->started;
    if (s_is_dir (node->kind)) {
        st->st_mode = S_IFDIR | 0550;
        st->st_nlink = 2;
        return 0;
    }
    st->st_mode = node->kind == N_ESC_VERDICT ? S_IFREG | 0220 : S_IFREG | 0440;
    st->st_nlink = 1;
    size_t size = 0;
    logmodel_file_t file;
    int rc = 0;
    switch (node->kind) {
    case N_EVENT:
    case N_DECISION:
    case N_AGENT_EVENT:
    case N_ESC_REQUEST:
        rc = logmodel_event (self->model, node->seq, NULL, &size);
        break;
    case N_JSONL:
        st->st_size = (off_t) logmodel_jsonl_size (self->model);
        return 0;
    case N_CHECKPOINT: {
        char *note = logmodel_checkpoint (self->model, &size);
        free (note);
        break;
    }
    case N_PROOF: {
        char key[24];
        snprintf (key, sizeof (key), "%llu", (unsigned long long) node->seq);
        pthread_mutex_lock (&self->lock);
        const char *proof = (const char *) zhashx_lookup (self->proofs, key);
        size = proof ? strlen (proof) : 0;
        pthread_mutex_unlock (&self->lock);
        break;
    }
    case N_SHADOW:
    case N_HIST_FILE:
        rc = logmodel_shadow (self->model, node->name,
                              node->kind == N_SHADOW ? LOGMODEL_LATEST : node->seq, false, &file);
        size = file.content_size;
        break;
    default:
        break;
    }
    st->st_size = (off_t) size;
    return rc;
}

static double
s_timeout (logview_t *self, s_kind_t kind)
{
    return s_immutable (kind) ? self->options.immutable_timeout : self->options.mutable_timeout;
}

static void
s_reply_node (logview_t *self, fuse_req_t req, s_kind_t kind, uint64_t seq, const char *name)
{
    s_node_t *node = s_node_get (self, kind, seq, name);
    if (!node) {
        fuse_reply_err (req, ENOMEM);
        return;
    }
    struct fuse_entry_param e;
    memset (&e, 0, sizeof (e));
    int rc = s_stat (self, node, &e.attr);
    if (rc != 0) {
        s_node_forget (self, node, 1);
        fuse_reply_err (req, -rc);
        return;
    }
    e.ino = s_ino (self, node);
    e.attr_timeout = e.entry_timeout = s_timeout (self, kind);
    if (fuse_reply_entry (req, &e) != 0)
        s_node_forget (self, node, 1);
}

//  --------------------------------------------------------------------------
//  Operations

static void
s_lookup (fuse_req_t req, fuse_ino_t parent, const char *name)
{
    logview_t *self = (logview_t *) fuse_req_userdata (req);
    s_node_t *dir = s_node (self, parent);
    uint64_t seq = 0, size = logmodel_size (self->model);
    if (!s_name_ok (name)) {
        fuse_reply_err (req, ENOENT);
        return;
    }
    switch (dir->kind) {
    case N_ROOT:
        for (size_t i = 0; i < S_TOP; i++)
            if (streq (name, s_top[i].name)) {
                s_reply_node (self, req, s_top[i].kind, 0, "");
                return;
            }
        break;
    case N_EVENTS:
        if (s_parse_seq (name, ".json", &seq) && seq < size) {
            s_reply_node (self, req, N_EVENT, seq, "");
            return;
        }
        break;
    case N_PROOFS:
        if (s_parse_seq (name, "", &seq) && seq < size) {
            s_reply_node (self, req, N_PROOF, seq, "");
            return;
        }
        break;
    case N_DECISIONS:
        if (s_parse_seq (name, ".json", &seq) && logmodel_has_type (self->model, S_DECISION, seq)) {
            s_reply_node (self, req, N_DECISION, seq, "");
            return;
        }
        break;
    case N_AGENTS:
        if (logmodel_has_agent (self->model, name)) {
            s_reply_node (self, req, N_AGENT, 0, name);
            return;
        }
        break;
    case N_AGENT:
        if (s_parse_seq (name, ".json", &seq) &&
            logmodel_has_agent_event (self->model, dir->name, seq)) {
            s_reply_node (self, req, N_AGENT_EVENT, seq, dir->name);
            return;
        }
        break;
    case N_ESCALATIONS:
        if (streq (name, "pending")) {
            s_reply_node (self, req, N_PENDING, 0, "");
            return;
        }
        break;
    case N_PENDING:
        if (logmodel_pending (self->model, name, &seq) == 0) {
            s_reply_node (self, req, N_ESC, seq, name);
            return;
        }
        break;
    case N_ESC: {
        s_kind_t kind = streq (name, "request")   ? N_ESC_REQUEST
                        : streq (name, "context") ? N_ESC_CONTEXT
                        : streq (name, "verdict") ? N_ESC_VERDICT
                                                  : N_ROOT;
        if (kind != N_ROOT) {
            s_reply_node (self, req, kind, dir->seq, dir->name);
            return;
        }
        break;
    }
    case N_HISTORY:
        if (s_parse_seq (name, "", &seq) && seq < size) {
            s_reply_node (self, req, N_HIST_DIR, seq, "");
            return;
        }
        break;
    case N_SHADOWS:
    case N_HIST_DIR: {
        char *path = s_child_path (dir->name, name);
        uint64_t at = dir->kind == N_SHADOWS ? LOGMODEL_LATEST : dir->seq;
        logmodel_file_t file;
        if (path && logmodel_shadow_dir (self->model, path, at)) {
            s_reply_node (self, req, dir->kind, dir->seq, path);
            free (path);
            return;
        }
        if (path && logmodel_shadow (self->model, path, at, false, &file) == 0) {
            s_reply_node (self, req, dir->kind == N_SHADOWS ? N_SHADOW : N_HIST_FILE, dir->seq,
                          path);
            free (path);
            return;
        }
        free (path);
        break;
    }
    default:
        fuse_reply_err (req, ENOTDIR);
        return;
    }
    fuse_reply_err (req, ENOENT);
}

static void
s_forget (fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    logview_t *self = (logview_t *) fuse_req_userdata (req);
    s_node_forget (self, s_node (self, ino), nlookup);
    fuse_reply_none (req);
}

static void
s_forget_multi (fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    logview_t *self = (logview_t *) fuse_req_userdata (req);
    for (size_t i = 0; i < count; i++)
        s_node_forget (self, s_node (self, forgets[i].ino), forgets[i].nlookup);
    fuse_reply_none (req);
}

static void
s_getattr (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void) fi;
    logview_t *self = (logview_t *) fuse_req_userdata (req);
    s_node_t *node = s_node (self, ino);
    struct stat st;
    int rc = s_stat (self, node, &st);
    if (rc != 0)
        fuse_reply_err (req, -rc);
    else
        fuse_reply_attr (req, &st, s_timeout (self, node->kind));
}

static void
s_refuse (fuse_req_t req)
{
    fuse_reply_err (req, EACCES);
}

//  Only a verdict may be truncated (open with O_TRUNC); nothing else changes
static void
s_setattr (fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
    logview_t *self = (logview_t *) fuse_req_userdata (req);
    s_node_t *node = s_node (self, ino);
    int times = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
                FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
    if (node->kind != N_ESC_VERDICT || !(to_set & FUSE_SET_ATTR_SIZE) ||
        (to_set & ~(FUSE_SET_ATTR_SIZE | times)) || attr->st_size != 0) {
        s_refuse (req);
        return;
    }
    if (fi && fi->fh) {
        s_handle_t *h = (s_handle_t *) (uintptr_t) fi->fh;
        pthread_mutex_lock (&h->lock);
        h->len = 0;
        pthread_mutex_unlock (&h->lock);
    }
    struct stat st;
    s_stat (self, node, &st);
    fuse_reply_attr (req, &st, s_timeout (self, node->kind));
}

static void
s_mknod (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    (void) parent, (void) name, (void) mode, (void) rdev;
    s_refuse (req);
}

static void
s_mkdir (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    (void) parent, (void) name, (void) mode;
    s_refuse (req);
}

static void
s_remove (fuse_req_t req, fuse_ino_t parent, const char *name)
{
    (void) parent, (void) name;
    s_refuse (req);
}

static void
s_symlink (fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    (void) link, (void) parent, (void) name;
    s_refuse (req);
}

static void
s_rename (fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
          const char *newname, unsigned int flags)
{
    (void) parent, (void) name, (void) newparent, (void) newname, (void) flags;
    s_refuse (req);
}

static void
s_link (fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    (void) ino, (void) newparent, (void) newname;
    s_refuse (req);
}

static void
s_create (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
          struct fuse_file_info *fi)
{
    (void) parent, (void) name, (void) mode, (void) fi;
    s_refuse (req);
}

static void
s_setxattr (fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
            int flags)
{
    (void) ino, (void) name, (void) value, (void) size, (void) flags;
    s_refuse (req);
}

static void
s_removexattr (fuse_req_t req, fuse_ino_t ino, const char *name)
{
    (void) ino, (void) name;
    s_refuse (req);
}

static void
s_fallocate (fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
             struct fuse_file_info *fi)
{
    (void) ino, (void) mode, (void) offset, (void) length, (void) fi;
    s_refuse (req);
}

//  --------------------------------------------------------------------------
//  The broker: one client per file-system thread

static void
s_client_free (void *client)
{
    lh_client_t *c = (lh_client_t *) client;
    lh_client_destroy (&c);
}

static lh_client_t *
s_client (logview_t *self)
{
    lh_client_t *client = (lh_client_t *) pthread_getspecific (self->client_key);
    if (!client && (client = lh_client_new (&self->conn))) {
        lh_client_set_timeout (client, self->options.call_timeout_ms);
        lh_client_set_retries (client, 0);
        pthread_setspecific (self->client_key, client);
    }
    return client;
}

static lh_reply_t *
s_call (logview_t *self, const char *service, codec_buf_t *body)
{
    lh_client_t *client = s_client (self);
    return client ? lh_client_call (client, service, body->sbuf.data, body->sbuf.size) : NULL;
}

static char *
s_render (codec_buf_t *buf)
{
    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    char *json = NULL;
    if (msgpack_unpack_next (&u, buf->sbuf.data, buf->sbuf.size, NULL) == MSGPACK_UNPACK_SUCCESS)
        json = jsonpack_to_json (&u.data, true);
    msgpack_unpacked_destroy (&u);
    if (json) {
        size_t n = strlen (json);
        char *line = (char *) realloc (json, n + 2);
        if (line) {
            line[n] = '\n';
            line[n + 1] = 0;
            json = line;
        }
    }
    return json;
}

static void
s_pack_hex (msgpack_packer *pk, const uint8_t *hash)
{
    char hex[65];
    sodium_bin2hex (hex, sizeof (hex), hash, 32);
    codec_pack_str (pk, hex);
}

//  proofs/<seq>: fetched, checked against the leaf the model holds and the
//  checkpoint's root, rendered; cached until the checkpoint changes
static char *
s_proof (logview_t *self, uint64_t seq, int *err)
{
    char key[24];
    snprintf (key, sizeof (key), "%llu", (unsigned long long) seq);
    pthread_mutex_lock (&self->lock);
    const char *cached = (const char *) zhashx_lookup (self->proofs, key);
    char *copy = cached ? strdup (cached) : NULL;
    pthread_mutex_unlock (&self->lock);
    if (copy)
        return copy;
    codec_buf_t body;
    codec_buf_init (&body);
    msgpack_pack_map (&body.pk, 2);
    codec_pack_kv_str (&body.pk, "op", "proof");
    codec_pack_kv_u64 (&body.pk, "seq", seq);
    lh_reply_t *reply = s_call (self, "events.read", &body);
    codec_buf_destroy (&body);
    const msgpack_object *root = reply && lh_reply_ok (reply) ? lh_reply_root (reply) : NULL;
    const msgpack_object *proof = root ? codec_map_get (root, "proof") : NULL;
    const msgpack_object *leaf = root ? codec_map_get (root, "leaf_hash") : NULL;
    const msgpack_object *note = root ? codec_map_get (root, "checkpoint") : NULL;
    char origin[256];
    uint64_t size = 0;
    merkle_hash_t tree_root, mine, hashes[MERKLE_MAX_PROOF];
    char *text = note && note->type == MSGPACK_OBJECT_STR
                     ? strndup (note->via.str.ptr, note->via.str.size)
                     : NULL;
    bool ok = proof && proof->type == MSGPACK_OBJECT_ARRAY &&
              proof->via.array.size <= MERKLE_MAX_PROOF && leaf &&
              leaf->type == MSGPACK_OBJECT_BIN && leaf->via.bin.size == 32 && text &&
              note_checkpoint_parse (text, origin, sizeof (origin), &size, tree_root) == 0;
    for (uint32_t i = 0; ok && i < proof->via.array.size; i++) {
        const msgpack_object *h = &proof->via.array.ptr[i];
        ok = h->type == MSGPACK_OBJECT_BIN && h->via.bin.size == 32;
        if (ok)
            memcpy (hashes[i], h->via.bin.ptr, 32);
    }
    if (!ok) {
        *err = reply && lh_reply_code (reply) == LH_E_NOT_FOUND ? ENOENT : EIO;
        self->proof_errors++;
        lh_reply_destroy (&reply);
        free (text);
        return NULL;
    }
    //  Verified: the leaf the model holds is the one proven, and the proof
    //  leads to the checkpoint's root (the note's signatures: lh event proof --keys)
    bool verified =
        logmodel_leaf_hash (self->model, seq, mine) == 0 &&
        memcmp (mine, leaf->via.bin.ptr, 32) == 0 &&
        merkle_verify_inclusion (mine, seq, size, hashes, proof->via.array.size, tree_root) == 0;
    codec_buf_t out;
    codec_buf_init (&out);
    msgpack_pack_map (&out.pk, 7);
    codec_pack_kv_u64 (&out.pk, "seq", seq);
    codec_pack_kv_u64 (&out.pk, "size", size);
    codec_pack_str (&out.pk, "leaf_hash");
    s_pack_hex (&out.pk, (const uint8_t *) leaf->via.bin.ptr);
    codec_pack_str (&out.pk, "root");
    s_pack_hex (&out.pk, tree_root);
    codec_pack_str (&out.pk, "proof");
    msgpack_pack_array (&out.pk, proof->via.array.size);
    for (uint32_t i = 0; i < proof->via.array.size; i++)
        s_pack_hex (&out.pk, hashes[i]);
    codec_pack_kv_str (&out.pk, "checkpoint", text);
    codec_pack_kv_bool (&out.pk, "verified", verified);
    char *json = s_render (&out);
    codec_buf_destroy (&out);
    lh_reply_destroy (&reply);
    free (text);
    if (!json) {
        *err = ENOMEM;
        return NULL;
    }
    self->proofs_fetched++;
    pthread_mutex_lock (&self->lock);
    if (zhashx_size (self->proofs) >= S_PROOF_CACHE)
        zhashx_purge (self->proofs);
    zhashx_update (self->proofs, key, strdup (json));
    pthread_mutex_unlock (&self->lock);
    return json;
}

//  A JSON text as msgpack; false when it does not parse
static bool
s_parse (const char *json, size_t len, msgpack_sbuffer *sbuf, msgpack_unpacked *u)
{
    char why[128];
    msgpack_sbuffer_init (sbuf);
    msgpack_unpacked_init (u);
    return jsonpack_from_json (json, len, sbuf, why, sizeof (why)) == 0 &&
           msgpack_unpack_next (u, sbuf->data, sbuf->size, NULL) == MSGPACK_UNPACK_SUCCESS;
}

//  escalations/pending/<id>/context: the escalation as the log has it, the
//  request as lh-expert shows it (when it answers), the policy's reason
//  (from the escalate decision, once logged) and the agent's recent decisions
static char *
s_context (logview_t *self, s_node_t *node)
{
    char *event = NULL;
    size_t size = 0;
    if (logmodel_event (self->model, node->seq, &event, &size) != 0)
        return NULL;
    msgpack_sbuffer sbuf;
    msgpack_unpacked u;
    bool parsed = s_parse (event, size, &sbuf, &u);
    free (event);
    const msgpack_object *ev = parsed ? &u.data : NULL;
    const msgpack_object *data = ev ? codec_map_get (ev, "data") : NULL;
    char agent[80] = "";
    codec_str_copy (ev ? codec_map_get (ev, "agent") : NULL, agent, sizeof (agent));
    //  lh-expert's view: the request itself
    codec_buf_t body;
    codec_buf_init (&body);
    msgpack_pack_map (&body.pk, 2);
    codec_pack_kv_str (&body.pk, "op", "show");
    codec_pack_kv_str (&body.pk, "escalation", node->name);
    lh_reply_t *show = s_call (self, "expert", &body);
    codec_buf_destroy (&body);
    const msgpack_object *esc =
        show && lh_reply_ok (show) ? codec_map_get (lh_reply_root (show), "escalation") : NULL;
    size_t nrecent = 0;
    char **recent =
        agent[0] ? logmodel_recent (self->model, agent, S_DECISION, S_RECENT, &nrecent) : NULL;
    static const char *keys[] = {"agent", "tool",   "subject",    "capability", "rule",
                                 "code",  "quorum", "expires_ms", "session",    "policy"};
    size_t nkeys = sizeof (keys) / sizeof (keys[0]);
    codec_buf_t out;
    codec_buf_init (&out);
    msgpack_pack_map (&out.pk, nkeys + 6);
    codec_pack_kv_str (&out.pk, "escalation", node->name);
    codec_pack_kv_u64 (&out.pk, "requested_seq", node->seq);
    for (size_t i = 0; i < nkeys; i++) {
        codec_pack_str (&out.pk, keys[i]);
        const msgpack_object *o = data ? codec_map_get (data, keys[i]) : NULL;
        if (o)
            msgpack_pack_object (&out.pk, *o);
        else
            msgpack_pack_nil (&out.pk);
    }
    //  The reason: from a decision about this escalation, if logged yet
    codec_pack_str (&out.pk, "reason");
    bool reason = false;
    msgpack_sbuffer dbufs[S_RECENT];
    msgpack_unpacked decisions[S_RECENT];
    bool dok[S_RECENT];
    for (size_t i = 0; i < nrecent; i++)
        dok[i] = s_parse (recent[i], strlen (recent[i]), &dbufs[i], &decisions[i]);
    for (size_t i = 0; i < nrecent && !reason; i++) {
        const msgpack_object *d = dok[i] ? codec_map_get (&decisions[i].data, "data") : NULL;
        const msgpack_object *r = d ? codec_map_get (d, "reason") : NULL;
        if (r && codec_str_eq (codec_map_get (d, "escalation"), node->name)) {
            msgpack_pack_object (&out.pk, *r);
            reason = true;
        }
    }
    if (!reason)
        msgpack_pack_nil (&out.pk);
    codec_pack_str (&out.pk, "request");
    const msgpack_object *request = esc ? codec_map_get (esc, "request") : NULL;
    if (request)
        msgpack_pack_object (&out.pk, *request);
    else
        msgpack_pack_nil (&out.pk);
    codec_pack_str (&out.pk, "expert");
    if (esc)
        msgpack_pack_object (&out.pk, *esc);
    else
        msgpack_pack_nil (&out.pk);
    codec_pack_str (&out.pk, "recent_decisions");
    size_t good = 0;
    for (size_t i = 0; i < nrecent; i++)
        good += dok[i];
    msgpack_pack_array (&out.pk, good);
    for (size_t i = 0; i < nrecent; i++)
        if (dok[i])
            msgpack_pack_object (&out.pk, decisions[i].data);
    char *json = s_render (&out);
    codec_buf_destroy (&out);
    for (size_t i = 0; i < nrecent; i++) {
        msgpack_unpacked_destroy (&decisions[i]);
        msgpack_sbuffer_destroy (&dbufs[i]);
        free (recent[i]);
    }
    free (recent);
    lh_reply_destroy (&show);
    msgpack_unpacked_destroy (&u);
    msgpack_sbuffer_destroy (&sbuf);
    return json;
}

//  --------------------------------------------------------------------------
//  Verdicts

static bool
s_blank (const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (text[i] != ' ' && text[i] != '\n' && text[i] != '\t' && text[i] != '\r')
            return false;
    return true;
}

//  Sends what the handle gathered as a decide: 0 or a positive errno.
//  EINVAL: not a verdict object; EACCES: refused (role, own agent, second
//  verdict); ENOENT: no longer pending; EIO: no answer, or the broker's error.
static int
s_send_verdict (logview_t *self, s_handle_t *h)
{
    msgpack_sbuffer sbuf;
    msgpack_unpacked u;
    if (!s_parse (h->buf, h->len, &sbuf, &u) || u.data.type != MSGPACK_OBJECT_MAP) {
        msgpack_unpacked_destroy (&u);
        msgpack_sbuffer_destroy (&sbuf);
        return EINVAL;
    }
    const msgpack_object *m = &u.data;
    const msgpack_object *decision = NULL, *reason = NULL, *scope = NULL, *ttl = NULL;
    bool ok = true;
    for (uint32_t i = 0; ok && i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key, *v = &m->via.map.ptr[i].val;
        if (codec_str_eq (k, "decision"))
            decision = v;
        else if (codec_str_eq (k, "reason"))
            reason = v;
        else if (codec_str_eq (k, "scope"))
            scope = v;
        else if (codec_str_eq (k, "ttl"))
            ttl = v;
        else
            ok = false;
    }
    ok =
        ok && decision && (codec_str_eq (decision, "allow") || codec_str_eq (decision, "deny")) &&
        (!reason || (reason->type == MSGPACK_OBJECT_STR && reason->via.str.size <= S_REASON_MAX)) &&
        (!scope || codec_str_eq (scope, "once") || codec_str_eq (scope, "session") ||
         codec_str_eq (scope, "agent") || codec_str_eq (scope, "global")) &&
        (!ttl || (ttl->type == MSGPACK_OBJECT_POSITIVE_INTEGER && ttl->via.u64 >= 1 &&
                  ttl->via.u64 <= S_TTL_MAX));
    int rc = EINVAL;
    if (ok) {
        codec_buf_t body;
        codec_buf_init (&body);
        msgpack_pack_map (&body.pk, 4 + (scope != NULL) + (ttl != NULL));
        codec_pack_kv_str (&body.pk, "op", "decide");
        codec_pack_kv_str (&body.pk, "escalation", h->id);
        codec_pack_str (&body.pk, "decision");
        msgpack_pack_object (&body.pk, *decision);
        codec_pack_str (&body.pk, "reason");
        if (reason && reason->via.str.size)
            msgpack_pack_object (&body.pk, *reason);
        else
            codec_pack_str (&body.pk, "given through lh-fuse log");
        if (scope) {
            codec_pack_str (&body.pk, "scope");
            msgpack_pack_object (&body.pk, *scope);
        }
        if (ttl) {
            codec_pack_str (&body.pk, "ttl");
            msgpack_pack_object (&body.pk, *ttl);
        }
        lh_reply_t *reply = s_call (self, "expert", &body);
        codec_buf_destroy (&body);
        lh_err_t code = reply ? lh_reply_code (reply) : LH_E_UNAVAILABLE;
        rc = code == LH_OK              ? 0
             : code == LH_E_BAD_REQUEST ? EINVAL
             : code == LH_E_FORBIDDEN   ? EACCES
             : code == LH_E_NOT_FOUND   ? ENOENT
                                        : EIO;
        if (rc == 0) {
            self->verdicts++;
            const msgpack_object *state = codec_map_get (lh_reply_root (reply), "state");
            lh_info ("verdict given", "escalation=%s state=%.*s", h->id,
                     state && state->type == MSGPACK_OBJECT_STR ? (int) state->via.str.size : 1,
                     state && state->type == MSGPACK_OBJECT_STR ? state->via.str.ptr : "?");
            if (codec_str_eq (state, "decided"))
                logmodel_decided (self->model, h->id);
        } else {
            self->verdicts_refused++;
            lh_warn ("verdict refused", "escalation=%s code=%s message=\"%s\"", h->id,
                     reply ? lh_reply_code_name (reply) : "unavailable",
                     reply ? lh_reply_message (reply) : "");
        }
        lh_reply_destroy (&reply);
    }
    msgpack_unpacked_destroy (&u);
    msgpack_sbuffer_destroy (&sbuf);
    return rc;
}

//  At flush and release: what was written and not yet sent; 0 or an errno
static int
s_verdict_close (logview_t *self, s_handle_t *h)
{
    pthread_mutex_lock (&h->lock);
    int rc = 0;
    if (!h->sent && h->len && !s_blank (h->buf, h->len)) {
        rc = s_send_verdict (self, h);
        h->sent = true; //  one attempt per handle: a refusal is final
    }
    pthread_mutex_unlock (&h->lock);
    return rc;
}

//  --------------------------------------------------------------------------
//  Files

static void
s_handle_free (void *arg)
{
    s_handle_t *h = (s_handle_t *) arg;
    if (h && atomic_fetch_sub (&h->refs, 1) == 1) {
        pthread_mutex_destroy (&h->lock);
        free (h->data);
        free (h->buf);
        free (h);
    }
}

static void
s_open (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    logview_t *self = (logview_t *) fuse_req_userdata (req);
    s_node_t *node = s_node (self, ino);
    if (s_is_dir (node->kind)) {
        fuse_reply_err (req, EISDIR);
        return;
    }
    bool writing = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
    if (writing && node->kind != N_ESC_VERDICT) {
        s_refuse (req);
        return;
    }
    s_handle_t *h = (s_handle_t *) calloc (1, sizeof (s_handle_t));
    if (!h) {
        fuse_reply_err (req, ENOMEM);
        return;
    }
    pthread_mutex_init (&h->lock, NULL);
    atomic_init (&h->refs, 1);
    h->kind = node->kind;
    int rc = 0;
    logmodel_file_t file;
    switch (node->kind) {
    case N_EVENT:
    case N_DECISION:
    case N_AGENT_EVENT:
    case N_ESC_REQUEST:
        rc = -logmodel_event (self->model, node->seq, &h->data, &h->size);
        fi->keep_cache = 1;
        break;
    case N_JSONL:
        fi->keep_cache = 1; //  appended to only: the grown tail is invalidated
        break;
    case N_CHECKPOINT:
        h->data = logmodel_checkpoint (self->model, &h->size);
        rc = h->data ? 0 : ENOENT;
        fi->direct_io = 1;
        break;
    case N_PROOF:
        h->data = s_proof (self, node->seq, &rc);
        if (h->data)
            h->size = strlen (h->data);
        fi->direct_io = 1;
        break;
    case N_ESC_CONTEXT:
        h->data = s_context (self, node);
        rc = h->data ? 0 : ENOENT;
        if (h->data)
            h->size = strlen (h->data);
        fi->direct_io = 1;
        break;
    case N_ESC_VERDICT:
        if (logmodel_pending (self->model, node->name, &(uint64_t){0}) != 0)
            rc = writing ? ENOENT : 0;
        snprintf (h->id, sizeof (h->id), "%s", node->name);
        fi->direct_io = 1;
        break;
    case N_SHADOW:
    case N_HIST_FILE:
        rc = -logmodel_shadow (self->model, node->name,
                               node->kind == N_SHADOW ? LOGMODEL_LATEST : node->seq, true, &file);
        h->data = file.content;
        h->size = file.content_size;
        fi->keep_cache = node->kind == N_HIST_FILE;
        break;
    default:
        rc = EACCES;
    }
    if (rc != 0) {
        s_handle_free (h);
        fuse_reply_err (req, rc);
        return;
    }
    h->token = fusemount_open (self->mount, h, s_handle_free);
    if (!h->token) {
        s_handle_free (h);
        fuse_reply_err (req, ENOMEM);
        return;
    }
    fi->fh = (uint64_t) (uintptr_t) h;
    if (fuse_reply_open (req, fi) != 0) {
        fusemount_close (self->mount, h->token);
        s_handle_free (h);
    }
}

static void
s_read (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    logview_t *self = (logview_t *) fuse_req_userdata (req);
    (void) ino;
    s_handle_t *h = (s_handle_t *) (uintptr_t) fi->fh;
    if (h->kind == N_JSONL) {
        char *buf = (char *) malloc (size ? size : 1);
        if (!buf) {
            fuse_reply_err (req, ENOMEM);
            return;
        }
        size_t got = logmodel_jsonl_read (self->model, (uint64_t) off, buf, size);
        fuse_reply_buf (req, buf, got);
        free (buf);
        return;
    }
    if (off < 0 || (size_t) off >= h->size) {
        fuse_reply_buf (req, NULL, 0);
        return;
    }
    size_t n = h->size - (size_t) off < size ? h->size - (size_t) off : size;
    atomic_fetch_add (&h->refs, 1);
    fuse_reply_buf (req, h->data + off, n);
    s_handle_free (h);
}

static void
s_write (fuse_req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off,
         struct fuse_file_info *fi)
{
    logview_t *self = (logview_t *) fuse_req_userdata (req);
    (void) ino;
    s_handle_t *h = (s_handle_t *) (uintptr_t) fi->fh;
    if (h->kind != N_ESC_VERDICT) {
        s_refuse (req);
        return;
    }
    if (off < 0 || (uint64_t) off + size > LOGVIEW_VERDICT_MAX) {
        fuse_reply_err (req, EFBIG);
        return;
    }
    pthread_mutex_lock (&h->lock);
    int rc = 0;
    if (h->sent) {
        //  After the verdict went out, only blank space may follow
        rc = s_blank (data, size) ? 0 : EINVAL;
    } else {
        if (!h->buf)
            h->buf = (char *) calloc (1, LOGVIEW_VERDICT_MAX);
        if (!h->buf)
            rc = ENOMEM;
        else {
            if ((size_t) off > h->len)
                memset (h->buf + h->len, ' ', (size_t) off - h->len);
            memcpy (h->buf + off, data, size);
            if ((size_t) off + size > h->len)
                h->len = (size_t) off + size;
            //  A complete JSON document goes out now, so that write(2)
            //  returns the answer; a partial one waits for more or close(2)
            msgpack_sbuffer sbuf;
            msgpack_unpacked u;
            bool complete = s_parse (h->buf, h->len, &sbuf, &u);
            msgpack_unpacked_destroy (&u);
            msgpack_sbuffer_destroy (&sbuf);
            if (complete) {
                rc = s_send_verdict (self, h);
                h->sent = true;
            }
        }
    }
    pthread_mutex_unlock (&h->lock);
    if (rc)
        fuse_reply_err (req, rc);
    else
        fuse_reply_write (req, size);
}

static void
s_flush (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    logview_t *self = (logview_t *) fuse_req_userdata (req);
    (void) ino;
    s_handle_t *h = (s_handle_t *) (uintptr_t) fi->fh;
    fuse_reply_err (req, h->kind == N_ESC_VERDICT ? s_verdict_close (self, h) : 0);
}

static void
s_release (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    logview_t *self = (logview_t *) fuse_req_userdata (req);
    (void) ino;
    s_handle_t *h = (s_handle_t *) (uintptr_t) fi->fh;
    if (h->kind == N_ESC_VERDICT)
        s_verdict_close (self, h);
    fusemount_close (self->mount, h->token);
    s_handle_free (h);
    fuse_reply_err (req, 0);
}

static void
s_fsync (fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    (void) ino, (void) datasync, (void) fi;
    fuse_reply_err (req, 0);
}

//  shadows and history files: where the content came from
static void
s_getxattr (fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    logview_t *self = (logview_t *) fuse_req_userdata (req);
    s_node_t *node = s_node (self, ino);
    logmodel_file_t file;
    if ((node->kind != N_SHADOW && node->kind != N_HIST_FILE) ||
        logmodel_shadow (self->model, node->name,
                         node->kind == N_SHADOW ? LOGMODEL_LATEST : node->seq, false, &file) != 0) {
        fuse_reply_err (req, ENODATA);
        return;
    }
    char value[32];
    if (streq (name, "user.lighthouse.seq"))
        snprintf (value, sizeof (value), "%llu", (unsigned long long) file.seq);
    else if (streq (name, "user.lighthouse.size"))
        snprintf (value, sizeof (value), "%llu", (unsigned long long) file.size);
    else if (streq (name, "user.lighthouse.truncated"))
        snprintf (value, sizeof (value), "%d", file.truncated ? 1 : 0);
    else {
        fuse_reply_err (req, ENODATA);
        return;
    }
    size_t n = strlen (value);
    if (size == 0)
        fuse_reply_xattr (req, n);
    else if (size < n)
        fuse_reply_err (req, ERANGE);
    else
        fuse_reply_buf (req, value, n);
}

static void
s_listxattr (fuse_req_t req, fuse_ino_t ino, size_t size)
{
    logview_t *self = (logview_t *) fuse_req_userdata (req);
    s_node_t *node = s_node (self, ino);
    static const char names[] =
        "user.lighthouse.seq\0user.lighthouse.size\0user.lighthouse.truncated";
    size_t n = (node->kind == N_SHADOW || node->kind == N_HIST_FILE) ? sizeof (names) : 0;
    if (size == 0)
        fuse_reply_xattr (req, n);
    else if (size < n)
        fuse_reply_err (req, ERANGE);
    else
        fuse_reply_buf (req, names, n);
}

//  --------------------------------------------------------------------------
//  Directories: the listing is made at opendir

static bool
s_dir_add (void *arg, const char *name, bool is_dir)
{
    s_dir_t *d = (s_dir_t *) arg;
    if (d->count >= S_LIST_MAX)
        return false;
    if (d->count == d->alloc) {
        size_t alloc = d->alloc ? d->alloc * 2 : 64;
        char **names = (char **) realloc (d->names, alloc * sizeof (char *));
        if (!names)
            return false;
        d->names = names;
        d->alloc = alloc;
    }
    size_t n = strlen (name);
    char *entry = (char *) malloc (n + 2);
    if (!entry)
        return false;
    entry[0] = is_dir ? 'd' : 'f';
    memcpy (entry + 1, name, n + 1);
    d->names[d->count++] = entry;
    return true;
}

static void
s_dir_free (void *arg)
{
    s_dir_t *d = (s_dir_t *) arg;
    for (size_t i = 0; i < d->count; i++)
        free (d->names[i]);
    free (d->names);
    free (d);
}

static void
s_opendir (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    logview_t *self = (logview_t *) fuse_req_userdata (req);
    s_node_t *node = s_node (self, ino);
    if (!s_is_dir (node->kind)) {
        fuse_reply_err (req, ENOTDIR);
        return;
    }
    s_dir_t *d = (s_dir_t *) calloc (1, sizeof (s_dir_t));
    if (!d) {
        fuse_reply_err (req, ENOMEM);
        return;
    }
    uint64_t size = logmodel_size (self->model);
    switch (node->kind) {
    case N_ROOT:
        for (size_t i = 0; i < S_TOP; i++)
            s_dir_add (d, s_top[i].name, s_is_dir (s_top[i].kind));
        break;
    case N_EVENTS:
    case N_PROOFS:
        d->numeric = size;
        d->suffix = node->kind == N_EVENTS ? ".json" : "";
        break;
    case N_DECISIONS:
        logmodel_list_type (self->model, S_DECISION, s_dir_add, d);
        break;
    case N_AGENTS:
        logmodel_list_agents (self->model, s_dir_add, d);
        break;
    case N_AGENT:
        logmodel_list_agent (self->model, node->name, s_dir_add, d);
        break;
    case N_ESCALATIONS:
        s_dir_add (d, "pending", true);
        break;
    case N_PENDING:
        logmodel_list_pending (self->model, s_dir_add, d);
        break;
    case N_ESC:
        s_dir_add (d, "request", false);
        s_dir_add (d, "context", false);
        s_dir_add (d, "verdict", false);
        break;
    case N_HISTORY:
        logmodel_list_history (self->model, s_dir_add, d);
        break;
    case N_SHADOWS:
    case N_HIST_DIR:
        logmodel_list_shadows (self->model, node->name,
                               node->kind == N_SHADOWS ? LOGMODEL_LATEST : node->seq, S_LIST_MAX,
                               s_dir_add, d);
        break;
    default:
        break;
    }
    d->token = fusemount_open (self->mount, d, s_dir_free);
    if (!d->token) {
        s_dir_free (d);
        fuse_reply_err (req, ENOMEM);
        return;
    }
    fi->fh = (uint64_t) (uintptr_t) d;
    fi->keep_cache = 0;
    if (fuse_reply_open (req, fi) != 0) {
        fusemount_close (self->mount, d->token);
        s_dir_free (d);
    }
}

static void
s_readdir (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void) ino;
    s_dir_t *d = (s_dir_t *) (uintptr_t) fi->fh;
    char *buf = (char *) malloc (size ? size : 1);
    if (!buf) {
        fuse_reply_err (req, ENOMEM);
        return;
    }
    uint64_t total = 2 + (d->suffix ? d->numeric : d->count);
    size_t used = 0;
    for (uint64_t i = off < 0 ? 0 : (uint64_t) off; i < total; i++) {
        char name[NAME_MAX + 1];
        struct stat st = {.st_ino = i + 2};
        if (i < 2) {
            snprintf (name, sizeof (name), "%s", i ? ".." : ".");
            st.st_mode = S_IFDIR;
        } else if (d->suffix) {
            snprintf (name, sizeof (name), "%llu%s", (unsigned long long) (i - 2), d->suffix);
            st.st_mode = S_IFREG;
        } else {
            snprintf (name, sizeof (name), "%s", d->names[i - 2] + 1);
            st.st_mode = d->names[i - 2][0] == 'd' ? S_IFDIR : S_IFREG;
        }
        size_t need = fuse_add_direntry (req, buf + used, size - used, name, &st, (off_t) (i + 1));
        if (need > size - used)
            break;
        used += need;
    }
    fuse_reply_buf (req, buf, used);
    free (buf);
}

static void
s_releasedir (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    logview_t *self = (logview_t *) fuse_req_userdata (req);
    (void) ino;
    s_dir_t *d = (s_dir_t *) (uintptr_t) fi->fh;
    fusemount_close (self->mount, d->token);
    s_dir_free (d);
    fuse_reply_err (req, 0);
}

static void
s_init (void *userdata, struct fuse_conn_info *conn)
{
    (void) userdata;
    conn->want &= ~(unsigned) FUSE_CAP_WRITEBACK_CACHE;
    conn->want &= ~(unsigned) FUSE_CAP_AUTO_INVAL_DATA;
}

static const struct fuse_lowlevel_ops s_ops = {
    .init = s_init,
    .lookup = s_lookup,
    .forget = s_forget,
    .forget_multi = s_forget_multi,
    .getattr = s_getattr,
    .setattr = s_setattr,
    .mknod = s_mknod,
    .mkdir = s_mkdir,
    .unlink = s_remove,
    .rmdir = s_remove,
    .symlink = s_symlink,
    .rename = s_rename,
    .link = s_link,
    .create = s_create,
    .open = s_open,
    .read = s_read,
    .write = s_write,
    .flush = s_flush,
    .release = s_release,
    .fsync = s_fsync,
    .opendir = s_opendir,
    .readdir = s_readdir,
    .releasedir = s_releasedir,
    .setxattr = s_setxattr,
    .getxattr = s_getxattr,
    .listxattr = s_listxattr,
    .removexattr = s_removexattr,
    .fallocate = s_fallocate,
};

//  --------------------------------------------------------------------------
//  Invalidation, from the follower's thread

void
logview_changed (void *arg, const logmodel_change_t *change)
{
    logview_t *self = (logview_t *) arg;
    if (change->checkpoint) {
        pthread_mutex_lock (&self->lock);
        zhashx_purge (self->proofs);
        pthread_mutex_unlock (&self->lock);
    }
    //  What may have changed: directories that grow (not history's), the
    //  growing files, the shadows; collected under the lock, told after
    size_t n = 0, alloc = 0;
    fuse_ino_t *inos = NULL;
    s_kind_t *kinds = NULL;
    pthread_mutex_lock (&self->lock);
    alloc = zhashx_size (self->nodes) + 1;
    inos = (fuse_ino_t *) calloc (alloc, sizeof (fuse_ino_t));
    kinds = (s_kind_t *) calloc (alloc, sizeof (s_kind_t));
    for (s_node_t *node = (s_node_t *) zhashx_first (self->nodes); node && inos && kinds;
         node = (s_node_t *) zhashx_next (self->nodes)) {
        bool grows = (s_is_dir (node->kind) && node->kind != N_HIST_DIR) ||
                     (node->kind == N_JSONL && change->new_jsonl > change->old_jsonl) ||
                     (node->kind == N_CHECKPOINT && change->checkpoint) ||
                     (node->kind == N_SHADOW && change->shadows);
        if (grows && n < alloc) {
            kinds[n] = node->kind;
            inos[n++] = (fuse_ino_t) (uintptr_t) node;
        }
    }
    pthread_mutex_unlock (&self->lock);
    struct fuse_session *se = fusemount_hold (self->mount);
    for (size_t i = 0; se && i < n; i++) {
        off_t off = kinds[i] == N_JSONL ? (off_t) change->old_jsonl : 0;
        fuse_lowlevel_notify_inval_inode (se, inos[i], off, 0);
        self->invalidations++;
    }
    free (inos);
    free (kinds);
    //  Escalations decided or expired: their names leave pending/ now
    fuse_ino_t pending = s_known (self, N_PENDING, 0, "");
    for (size_t i = 0; se && pending && i < change->nclosed; i++) {
        fuse_lowlevel_notify_inval_entry (se, pending, change->closed[i],
                                          strlen (change->closed[i]));
        self->invalidations++;
    }
    fusemount_release (self->mount);
}

//  --------------------------------------------------------------------------
//  Life

void
logview_options_default (logview_options_t *options)
{
    memset (options, 0, sizeof (*options));
    options->immutable_timeout = 3600;
    options->mutable_timeout = 1;
    options->max_threads = 10;
    options->allow_other = -1;
    options->gid = getegid ();
    options->stop_grace_ms = 2000;
    options->call_timeout_ms = 5000;
}

logview_t *
logview_new (logmodel_t *model, const lh_connect_t *conn, char *err, size_t err_size)
{
    if (!model || !conn) {
        snprintf (err, err_size, "a log view needs a model and a broker");
        return NULL;
    }
    logview_t *self = (logview_t *) calloc (1, sizeof (logview_t));
    if (!self) {
        snprintf (err, err_size, "out of memory");
        return NULL;
    }
    self->model = model;
    self->conn = *conn;
    self->started = time (NULL);
    logview_options_default (&self->options);
    pthread_mutex_init (&self->lock, NULL);
    self->root.kind = N_ROOT;
    self->root.nlookup = 1;
    self->nodes = zhashx_new ();
    self->proofs = zhashx_new ();
    if (self->nodes)
        zhashx_set_destructor (self->nodes, s_node_free);
    if (self->proofs)
        zhashx_set_destructor (self->proofs, (zhashx_destructor_fn *) zstr_free);
    if (!self->nodes || !self->proofs ||
        pthread_key_create (&self->client_key, s_client_free) != 0) {
        snprintf (err, err_size, "log view: %s", strerror (errno ? errno : ENOMEM));
        logview_destroy (&self);
        return NULL;
    }
    self->mount = fusemount_new (err, err_size);
    if (!self->mount) {
        logview_destroy (&self);
        return NULL;
    }
    return self;
}

int
logview_mount (logview_t *self, const char *mountpoint, const logview_options_t *options, char *err,
               size_t err_size)
{
    if (options)
        self->options = *options;
    if (self->options.call_timeout_ms <= 0)
        self->options.call_timeout_ms = 5000;
    fusemount_options_t mount = {"lh-log", self->options.allow_other, self->options.debug,
                                 self->options.max_threads, self->options.stop_grace_ms};
    return fusemount_mount (self->mount, &s_ops, sizeof s_ops, self, mountpoint, &mount, err,
                            err_size);
}

int
logview_run (logview_t *self)
{
    return fusemount_run (self->mount);
}

void
logview_stop (logview_t *self)
{
    if (self)
        fusemount_stop (self->mount);
}

void
logview_counters (logview_t *self, logview_counters_t *out)
{
    out->verdicts = self->verdicts;
    out->verdicts_refused = self->verdicts_refused;
    out->proofs = self->proofs_fetched;
    out->proof_errors = self->proof_errors;
    out->invalidations = self->invalidations;
}

void
logview_destroy (logview_t **self_p)
{
    logview_t *self = *self_p;
    if (!self)
        return;
    fusemount_destroy (&self->mount);
    //  The broker client of the thread that destroys (the others' went with them)
    lh_client_t *client =
        self->nodes ? (lh_client_t *) pthread_getspecific (self->client_key) : NULL;
    if (client) {
        pthread_setspecific (self->client_key, NULL);
        lh_client_destroy (&client);
    }
    if (self->nodes)
        pthread_key_delete (self->client_key);
    zhashx_destroy (&self->nodes);
    zhashx_destroy (&self->proofs);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}
