/*  workspace -- the passthrough layer of the guarded workspace (see
    workspace.h and fuse-node/README.md).

    Nodes: a table of (st_dev, st_ino) -> node, each holding an O_PATH
    descriptor and the kernel's lookup count; the FUSE inode number is the
    node's address (the root's is FUSE_ROOT_ID). The descriptor pins the
    inode, so its number cannot be reused while the node lives. Every
    operation works relative to those descriptors: *at() calls with names
    the kernel gave one component at a time, or the descriptor's
    /proc/self/fd/N link where a call has no *at() form.

    Open files: a handle per open, with its real descriptor and whether it
    changed the content (dirty); the last release of a dirty handle calls
    changed() with a descriptor open for reading.
*/
#include "workspace.h"

#include "fusemount.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

typedef struct _ws_node_t ws_node_t;
struct _ws_node_t {
    ws_node_t *next; //  hash chain
    dev_t dev;
    ino_t ino;
    int fd;           //  O_PATH | O_NOFOLLOW
    mode_t type;      //  S_IFMT bits
    uint64_t nlookup; //  under the table's lock
};

typedef struct {
    ws_node_t *node;
    int fd;
    bool readable;
    ws_op_t op;        //  WS_WRITE, or WS_CREATE when this open created the file
    atomic_bool dirty; //  wrote, created or truncated
    void *token;       //  fusemount_open's
} ws_handle_t;

typedef struct {
    DIR *dir;
    off_t offset;
    struct dirent *entry; //  read but not yet sent
    void *token;          //  fusemount_open's
} ws_dir_t;

static void
s_handle_free (void *arg)
{
    ws_handle_t *h = (ws_handle_t *) arg;
    close (h->fd);
    free (h);
}

static void
s_dir_free (void *arg)
{
    ws_dir_t *d = (ws_dir_t *) arg;
    closedir (d->dir);
    free (d);
}

struct _workspace_t {
    char *source; //  resolved, without a trailing '/' ("" for "/")
    size_t source_len;
    ws_hooks_t hooks;
    ws_options_t options;
    bool is_root;
    fusemount_t *mount; //  made with the workspace, so that a stop before the mount holds
    ws_node_t root;
    pthread_mutex_t lock; //  the table and every node's nlookup
    ws_node_t **buckets;
    size_t nbuckets; //  a power of two
    size_t count;
};

static const char *s_op_names[WS_OPS] = {
    "read",  "write", "create", "truncate", "unlink", "rename",   "mkdir",
    "rmdir", "chmod", "chown",  "symlink",  "link",   "setxattr", "removexattr",
};

const char *
ws_op_name (ws_op_t op)
{
    return (unsigned) op < WS_OPS ? s_op_names[op] : "?";
}

//  ---------------------------------------------------------------------
//  The node table

static size_t
s_bucket (workspace_t *self, dev_t dev, ino_t ino)
{
    uint64_t h =
        ((uint64_t) ino * 0x9E3779B97F4A7C15ull) ^ ((uint64_t) dev * 0xC2B2AE3D27D4EB4Full);
    return (size_t) (h >> 17) & (self->nbuckets - 1);
}

//  Grows the table (under the lock); keeps the old one when memory is short
static void
s_table_grow (workspace_t *self)
{
    size_t nbuckets = self->nbuckets * 2;
    ws_node_t **buckets = calloc (nbuckets, sizeof (ws_node_t *));
    if (!buckets)
        return;
    ws_node_t **old = self->buckets;
    size_t nold = self->nbuckets;
    self->buckets = buckets;
    self->nbuckets = nbuckets;
    for (size_t i = 0; i < nold; i++) {
        ws_node_t *node = old[i];
        while (node) {
            ws_node_t *next = node->next;
            size_t b = s_bucket (self, node->dev, node->ino);
            node->next = buckets[b];
            buckets[b] = node;
            node = next;
        }
    }
    free (old);
}

//  The node of fd (an O_PATH descriptor of the file st describes), its
//  lookup count raised by one. Takes fd: closes it when the node exists.
//  NULL when memory is short (fd closed).
static ws_node_t *
s_node_get (workspace_t *self, int fd, const struct stat *st)
{
    pthread_mutex_lock (&self->lock);
    size_t b = s_bucket (self, st->st_dev, st->st_ino);
    ws_node_t *node = self->buckets[b];
    while (node && (node->dev != st->st_dev || node->ino != st->st_ino))
        node = node->next;
    if (node) {
        node->nlookup++;
        pthread_mutex_unlock (&self->lock);
        close (fd);
        return node;
    }
    node = calloc (1, sizeof (ws_node_t));
    if (!node) {
        pthread_mutex_unlock (&self->lock);
        close (fd);
        return NULL;
    }
    node->dev = st->st_dev;
    node->ino = st->st_ino;
    node->fd = fd;
    node->type = st->st_mode & S_IFMT;
    node->nlookup = 1;
    node->next = self->buckets[b];
    self->buckets[b] = node;
    if (++self->count > self->nbuckets)
        s_table_grow (self);
    pthread_mutex_unlock (&self->lock);
    return node;
}

static void
s_node_forget (workspace_t *self, ws_node_t *node, uint64_t nlookup)
{
    if (node == &self->root)
        return;
    pthread_mutex_lock (&self->lock);
    node->nlookup = node->nlookup > nlookup ? node->nlookup - nlookup : 0;
    if (node->nlookup > 0) {
        pthread_mutex_unlock (&self->lock);
        return;
    }
    ws_node_t **link = &self->buckets[s_bucket (self, node->dev, node->ino)];
    while (*link && *link != node)
        link = &(*link)->next;
    if (*link)
        *link = node->next;
    self->count--;
    pthread_mutex_unlock (&self->lock);
    close (node->fd);
    free (node);
}

static ws_node_t *
s_node (workspace_t *self, fuse_ino_t ino)
{
    return ino == FUSE_ROOT_ID ? &self->root : (ws_node_t *) (uintptr_t) ino;
}

static fuse_ino_t
s_ino (workspace_t *self, ws_node_t *node)
{
    return node == &self->root ? FUSE_ROOT_ID : (fuse_ino_t) (uintptr_t) node;
}

//  ---------------------------------------------------------------------
//  Names and paths

static void
s_proc (char *buf, size_t size, int fd)
{
    snprintf (buf, size, "/proc/self/fd/%d", fd);
}

//  One component from the kernel: not empty, not "." or "..", no '/'
static bool
s_name_ok (const char *name)
{
    size_t len = strlen (name);
    return len > 0 && len <= NAME_MAX && strcmp (name, ".") != 0 && strcmp (name, "..") != 0 &&
           !strchr (name, '/');
}

//  The node's path relative to the source root ("." for the root) in
//  *path_p (malloc'd), 0; or -EACCES when it is not under the source
//  root (moved out, or deleted), -ENOMEM. The kernel's name of the
//  descriptor is trusted only once resolving it again beneath the root,
//  without following any symbolic link, reaches the same inode.
static int
s_path (workspace_t *self, ws_node_t *node, char **path_p)
{
    *path_p = NULL;
    if (node == &self->root) {
        *path_p = strdup (".");
        return *path_p ? 0 : -ENOMEM;
    }
    char proc[64];
    s_proc (proc, sizeof proc, node->fd);
    char buf[PATH_MAX + 1];
    ssize_t n = readlink (proc, buf, sizeof buf);
    if (n < 0 || (size_t) n >= sizeof buf)
        return -EACCES;
    buf[n] = 0;
    if ((size_t) n <= self->source_len + 1 || memcmp (buf, self->source, self->source_len) != 0 ||
        buf[self->source_len] != '/')
        return -EACCES;
    const char *rel = buf + self->source_len + 1;
    struct open_how how = {.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
                                      RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV};
    int fd = (int) syscall (SYS_openat2, self->root.fd, rel, &how, sizeof how);
    if (fd < 0) {
        //  RESOLVE_NO_XDEV refuses a mount inside the source: resolve again,
        //  still beneath the root and without symbolic links
        how.resolve &= ~(uint64_t) RESOLVE_NO_XDEV;
        fd = (int) syscall (SYS_openat2, self->root.fd, rel, &how, sizeof how);
        if (fd < 0)
            return -EACCES;
    }
    struct stat st;
    int rc = fstatat (fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
    close (fd);
    if (rc != 0 || st.st_dev != node->dev || st.st_ino != node->ino)
        return -EACCES;
    *path_p = strdup (rel);
    return *path_p ? 0 : -ENOMEM;
}

//  The path of name in parent (a new or removed name), as s_path
static int
s_child_path (workspace_t *self, ws_node_t *parent, const char *name, char **path_p)
{
    *path_p = NULL;
    if (!s_name_ok (name))
        return -EINVAL;
    char *dir;
    int rc = s_path (self, parent, &dir);
    if (rc)
        return rc;
    size_t size = strlen (dir) + strlen (name) + 2;
    char *path = malloc (size);
    if (!path) {
        free (dir);
        return -ENOMEM;
    }
    if (parent == &self->root)
        snprintf (path, size, "%s", name);
    else
        snprintf (path, size, "%s/%s", dir, name);
    free (dir);
    *path_p = path;
    return 0;
}

//  ---------------------------------------------------------------------
//  Hooks

static int
s_check (workspace_t *self, fuse_req_t req, ws_op_t op, const char *path, const char *target)
{
    if (!self->hooks.check)
        return 0;
    int rc = self->hooks.check (self->hooks.arg, op, path, target, fuse_req_ctx (req));
    return rc == 0 ? 0 : rc < 0 ? rc : -EACCES;
}

//  Reports a change; for a regular file with want_fd, with a descriptor
//  open for reading it (fd, when it is one, else a new one)
static void
s_changed (workspace_t *self, ws_op_t op, const char *path, const char *target, ws_node_t *node,
           int fd)
{
    if (!self->hooks.changed)
        return;
    int own = -1;
    if (fd < 0 && node && node->type == S_IFREG) {
        char proc[64];
        s_proc (proc, sizeof proc, node->fd);
        own = open (proc, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        fd = own;
    }
    self->hooks.changed (self->hooks.arg, op, path, target, fd);
    if (own >= 0)
        close (own);
}

//  ---------------------------------------------------------------------
//  Entries

static void
s_entry_init (workspace_t *self, struct fuse_entry_param *e)
{
    memset (e, 0, sizeof *e);
    e->attr_timeout = self->options.attr_timeout;
    e->entry_timeout = self->options.entry_timeout;
}

//  Fills e for fd (an O_PATH descriptor, taken), raising its node's
//  lookup count; 0 or -errno
static int
s_entry_from_fd (workspace_t *self, int fd, struct fuse_entry_param *e)
{
    s_entry_init (self, e);
    if (fstatat (fd, "", &e->attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) {
        int rc = -errno;
        close (fd);
        return rc;
    }
    ws_node_t *node = s_node_get (self, fd, &e->attr);
    if (!node)
        return -ENOMEM;
    e->ino = s_ino (self, node);
    return 0;
}

static int
s_entry (workspace_t *self, ws_node_t *parent, const char *name, struct fuse_entry_param *e)
{
    int fd = openat (parent->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    return s_entry_from_fd (self, fd, e);
}

//  A new node (fd: O_PATH or open) gets the caller's ownership and the
//  mode asked for (the kernel applied the umask), as if the caller had
//  made it: the daemon's own umask and identity do not show
static void
s_own (workspace_t *self, fuse_req_t req, ws_node_t *parent, int fd, mode_t mode)
{
    struct stat st, pst;
    if (fstatat (fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0)
        return;
    bool setgid_dir = fstatat (parent->fd, "", &pst, AT_EMPTY_PATH) == 0 && (pst.st_mode & S_ISGID);
    const struct fuse_ctx *ctx = fuse_req_ctx (req);
    gid_t gid = setgid_dir ? st.st_gid : ctx->gid;
    if (self->is_root && (st.st_uid != ctx->uid || st.st_gid != gid))
        if (fchownat (fd, "", ctx->uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0)
            return;
    if (S_ISLNK (st.st_mode))
        return;
    mode &= 07777;
    if (S_ISDIR (st.st_mode) && setgid_dir)
        mode |= S_ISGID;
    if (!S_ISDIR (st.st_mode) && (mode & S_ISGID) && gid != ctx->gid)
        mode &= ~(mode_t) S_ISGID;
    if (fstatat (fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0 &&
        (st.st_mode & 07777) != mode) {
        char proc[64];
        s_proc (proc, sizeof proc, fd);
        (void) !chmod (proc, mode);
    }
}

//  ---------------------------------------------------------------------
//  Operations

static void
s_init (void *userdata, struct fuse_conn_info *conn)
{
    (void) userdata;
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
        conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
    if (conn->capable & FUSE_CAP_SPLICE_WRITE)
        conn->want |= FUSE_CAP_SPLICE_WRITE;
    //  The guard judges at open and every byte passes through the daemon
    conn->want &= ~(unsigned) FUSE_CAP_WRITEBACK_CACHE;
}

static void
s_lookup (fuse_req_t req, fuse_ino_t parent, const char *name)
{
    workspace_t *self = fuse_req_userdata (req);
    ws_node_t *pnode = s_node (self, parent);
    struct fuse_entry_param e;
    int rc;
    if (strcmp (name, ".") == 0 || strcmp (name, "..") == 0) {
        //  The root's parent is the root; another's is looked up and must
        //  still be under the root
        ws_node_t *node = pnode;
        int fd = -1;
        if (strcmp (name, "..") == 0 && pnode != &self->root)
            fd = openat (pnode->fd, "..", O_PATH | O_NOFOLLOW | O_CLOEXEC);
        else
            fd = openat (node->fd, ".", O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            fuse_reply_err (req, errno);
            return;
        }
        rc = s_entry_from_fd (self, fd, &e);
        if (rc == 0 && e.ino != FUSE_ROOT_ID) {
            char *path;
            int prc = s_path (self, s_node (self, e.ino), &path);
            free (path);
            if (prc) {
                s_node_forget (self, s_node (self, e.ino), 1);
                rc = -ENOENT;
            }
        }
    } else if (strlen (name) > NAME_MAX)
        rc = -ENAMETOOLONG;
    else if (strchr (name, '/'))
        rc = -ENOENT;
    else
        rc = s_entry (self, pnode, name, &e);
    if (rc == -ENOENT) {
        //  A negative entry, cached as long as a positive one
        s_entry_init (self, &e);
        e.ino = 0;
        fuse_reply_entry (req, &e);
        return;
    }
    if (rc)
        fuse_reply_err (req, -rc);
    else if (fuse_reply_entry (req, &e) != 0)
        s_node_forget (self, s_node (self, e.ino), 1);
}

static void
s_forget (fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    workspace_t *self = fuse_req_userdata (req);
    s_node_forget (self, s_node (self, ino), nlookup);
    fuse_reply_none (req);
}

static void
s_forget_multi (fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    workspace_t *self = fuse_req_userdata (req);
    for (size_t i = 0; i < count; i++)
        s_node_forget (self, s_node (self, forgets[i].ino), forgets[i].nlookup);
    fuse_reply_none (req);
}

static void
s_getattr (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void) fi;
    workspace_t *self = fuse_req_userdata (req);
    struct stat st;
    if (fstatat (s_node (self, ino)->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0)
        fuse_reply_err (req, errno);
    else
        fuse_reply_attr (req, &st, self->options.attr_timeout);
}

static void
s_setattr (fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
    workspace_t *self = fuse_req_userdata (req);
    ws_node_t *node = s_node (self, ino);
    ws_handle_t *h = fi ? (ws_handle_t *) (uintptr_t) fi->fh : NULL;
    char proc[64];
    s_proc (proc, sizeof proc, node->fd);
    char *path = NULL;
    int rc = 0;
    bool chmod_ = to_set & FUSE_SET_ATTR_MODE;
    bool chown_ = to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID);
    bool trunc = to_set & FUSE_SET_ATTR_SIZE;
    if (chmod_ || chown_ || trunc)
        rc = s_path (self, node, &path);
    //  Every change is asked before any is made
    if (rc == 0 && chmod_)
        rc = s_check (self, req, WS_CHMOD, path, NULL);
    if (rc == 0 && chown_)
        rc = s_check (self, req, WS_CHOWN, path, NULL);
    if (rc == 0 && trunc)
        rc = s_check (self, req, WS_TRUNCATE, path, NULL);
    if (rc == 0 && chmod_) {
        if (h)
            rc = fchmod (h->fd, attr->st_mode & 07777);
        else if (node->type == S_IFLNK)
            rc = (errno = EOPNOTSUPP, -1);
        else
            rc = chmod (proc, attr->st_mode & 07777);
        rc = rc ? -errno : 0;
        if (rc == 0)
            s_changed (self, WS_CHMOD, path, NULL, NULL, -1);
    }
    if (rc == 0 && chown_) {
        uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t) -1;
        gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t) -1;
        rc = fchownat (node->fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) ? -errno : 0;
        if (rc == 0)
            s_changed (self, WS_CHOWN, path, NULL, NULL, -1);
    }
    if (rc == 0 && trunc) {
        if (h)
            rc = ftruncate (h->fd, attr->st_size);
        else
            rc = truncate (proc, attr->st_size);
        rc = rc ? -errno : 0;
        if (rc == 0) {
            if (h)
                atomic_store (&h->dirty, true);
            s_changed (self, WS_TRUNCATE, path, NULL, node, -1);
        }
    }
    if (rc == 0 && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
        //  Timestamps: neither asked nor reported
        struct timespec tv[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_nsec = UTIME_OMIT}};
        if (to_set & FUSE_SET_ATTR_ATIME_NOW)
            tv[0].tv_nsec = UTIME_NOW;
        else if (to_set & FUSE_SET_ATTR_ATIME)
            tv[0] = attr->st_atim;
        if (to_set & FUSE_SET_ATTR_MTIME_NOW)
            tv[1].tv_nsec = UTIME_NOW;
        else if (to_set & FUSE_SET_ATTR_MTIME)
            tv[1] = attr->st_mtim;
        if (h)
            rc = futimens (h->fd, tv);
        else if (node->type == S_IFLNK)
            rc = (errno = EOPNOTSUPP, -1);
        else
            rc = utimensat (AT_FDCWD, proc, tv, 0);
        rc = rc ? -errno : 0;
    }
    free (path);
    if (rc) {
        fuse_reply_err (req, -rc);
        return;
    }
    s_getattr (req, ino, fi);
}

static void
s_readlink (fuse_req_t req, fuse_ino_t ino)
{
    workspace_t *self = fuse_req_userdata (req);
    char buf[PATH_MAX + 1];
    ssize_t n = readlinkat (s_node (self, ino)->fd, "", buf, sizeof buf);
    if (n < 0)
        fuse_reply_err (req, errno);
    else if ((size_t) n >= sizeof buf)
        fuse_reply_err (req, ENAMETOOLONG);
    else {
        buf[n] = 0;
        fuse_reply_readlink (req, buf);
    }
}

//  Replies with the entry of name in parent after a creation, which is
//  reported; fd is the new node's O_PATH descriptor (taken) or -1 to
//  look name up
static void
s_reply_created (workspace_t *self, fuse_req_t req, ws_node_t *parent, const char *name, int fd,
                 ws_op_t op, const char *path, const char *target)
{
    struct fuse_entry_param e;
    int rc = fd >= 0 ? s_entry_from_fd (self, fd, &e) : s_entry (self, parent, name, &e);
    ws_node_t *node = rc == 0 ? s_node (self, e.ino) : NULL;
    //  A created regular file is reported with its (empty) content
    s_changed (self, op, path, target, op == WS_CREATE ? node : NULL, -1);
    if (rc)
        fuse_reply_err (req, -rc);
    else if (fuse_reply_entry (req, &e) != 0)
        s_node_forget (self, node, 1);
}

static void
s_mknod (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    workspace_t *self = fuse_req_userdata (req);
    ws_node_t *pnode = s_node (self, parent);
    //  Devices never; regular files, FIFOs and sockets are creations
    if (S_ISCHR (mode) || S_ISBLK (mode)) {
        fuse_reply_err (req, EPERM);
        return;
    }
    if (!S_ISREG (mode) && !S_ISFIFO (mode) && !S_ISSOCK (mode)) {
        fuse_reply_err (req, EINVAL);
        return;
    }
    char *path;
    int rc = s_child_path (self, pnode, name, &path);
    if (rc == 0)
        rc = s_check (self, req, WS_CREATE, path, NULL);
    if (rc == 0 && mknodat (pnode->fd, name, (mode & S_IFMT) | (mode & 07777), rdev) != 0)
        rc = -errno;
    int fd = -1;
    if (rc == 0) {
        fd = openat (pnode->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0)
            s_own (self, req, pnode, fd, mode);
        s_reply_created (self, req, pnode, name, fd, WS_CREATE, path, NULL);
    } else
        fuse_reply_err (req, -rc);
    free (path);
}

static void
s_mkdir (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    workspace_t *self = fuse_req_userdata (req);
    ws_node_t *pnode = s_node (self, parent);
    char *path;
    int rc = s_child_path (self, pnode, name, &path);
    if (rc == 0)
        rc = s_check (self, req, WS_MKDIR, path, NULL);
    if (rc == 0 && mkdirat (pnode->fd, name, mode & 07777) != 0)
        rc = -errno;
    if (rc == 0) {
        int fd = openat (pnode->fd, name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0)
            s_own (self, req, pnode, fd, mode);
        s_reply_created (self, req, pnode, name, fd, WS_MKDIR, path, NULL);
    } else
        fuse_reply_err (req, -rc);
    free (path);
}

static void
s_symlink (fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    workspace_t *self = fuse_req_userdata (req);
    ws_node_t *pnode = s_node (self, parent);
    char *path;
    int rc = s_child_path (self, pnode, name, &path);
    if (rc == 0)
        rc = s_check (self, req, WS_SYMLINK, path, link);
    if (rc == 0 && symlinkat (link, pnode->fd, name) != 0)
        rc = -errno;
    if (rc == 0) {
        int fd = openat (pnode->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0)
            s_own (self, req, pnode, fd, 0);
        s_reply_created (self, req, pnode, name, fd, WS_SYMLINK, path, link);
    } else
        fuse_reply_err (req, -rc);
    free (path);
}

static void
s_link (fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    workspace_t *self = fuse_req_userdata (req);
    ws_node_t *node = s_node (self, ino);
    ws_node_t *npnode = s_node (self, newparent);
    char *path = NULL, *newpath = NULL;
    int rc = s_path (self, node, &path);
    if (rc == 0)
        rc = s_child_path (self, npnode, newname, &newpath);
    if (rc == 0)
        rc = s_check (self, req, WS_LINK, path, newpath);
    if (rc == 0 && linkat (node->fd, "", npnode->fd, newname, AT_EMPTY_PATH) != 0) {
        //  AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the descriptor's link
        //  does not (and is not a symbolic link to follow further)
        char proc[64];
        s_proc (proc, sizeof proc, node->fd);
        if (errno == EEXIST || linkat (AT_FDCWD, proc, npnode->fd, newname, AT_SYMLINK_FOLLOW))
            rc = -errno;
    }
    if (rc == 0)
        s_reply_created (self, req, npnode, newname, -1, WS_LINK, path, newpath);
    else
        fuse_reply_err (req, -rc);
    free (path);
    free (newpath);
}

static void
s_remove (fuse_req_t req, fuse_ino_t parent, const char *name, ws_op_t op)
{
    workspace_t *self = fuse_req_userdata (req);
    ws_node_t *pnode = s_node (self, parent);
    char *path;
    int rc = s_child_path (self, pnode, name, &path);
    if (rc == 0)
        rc = s_check (self, req, op, path, NULL);
    if (rc == 0 && unlinkat (pnode->fd, name, op == WS_RMDIR ? AT_REMOVEDIR : 0) != 0)
        rc = -errno;
    if (rc == 0)
        s_changed (self, op, path, NULL, NULL, -1);
    free (path);
    fuse_reply_err (req, -rc);
}

static void
s_unlink (fuse_req_t req, fuse_ino_t parent, const char *name)
{
    s_remove (req, parent, name, WS_UNLINK);
}

static void
s_rmdir (fuse_req_t req, fuse_ino_t parent, const char *name)
{
    s_remove (req, parent, name, WS_RMDIR);
}

static void
s_rename (fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
          const char *newname, unsigned int flags)
{
    workspace_t *self = fuse_req_userdata (req);
    ws_node_t *pnode = s_node (self, parent);
    ws_node_t *npnode = s_node (self, newparent);
    if (flags & ~(unsigned) (RENAME_NOREPLACE | RENAME_EXCHANGE)) {
        fuse_reply_err (req, EINVAL); //  RENAME_WHITEOUT: overlay file systems only
        return;
    }
    char *path = NULL, *newpath = NULL;
    int rc = s_child_path (self, pnode, name, &path);
    if (rc == 0)
        rc = s_child_path (self, npnode, newname, &newpath);
    if (rc == 0)
        rc = s_check (self, req, WS_RENAME, path, newpath);
    if (rc == 0 && renameat2 (pnode->fd, name, npnode->fd, newname, flags) != 0)
        rc = -errno;
    if (rc == 0)
        s_changed (self, WS_RENAME, path, newpath, NULL, -1);
    free (path);
    free (newpath);
    fuse_reply_err (req, -rc);
}

//  A handle for fd; replies to open or create
static void
s_reply_open (workspace_t *self, fuse_req_t req, ws_node_t *node, int fd, int flags, ws_op_t op,
              bool dirty, struct fuse_file_info *fi, struct fuse_entry_param *e)
{
    ws_handle_t *h = calloc (1, sizeof (ws_handle_t));
    if (!h) {
        close (fd);
        if (e)
            s_node_forget (self, node, 1);
        fuse_reply_err (req, ENOMEM);
        return;
    }
    h->node = node;
    h->fd = fd;
    h->readable = (flags & O_ACCMODE) != O_WRONLY;
    h->op = op;
    atomic_init (&h->dirty, dirty);
    h->token = fusemount_open (self->mount, h, s_handle_free);
    if (!h->token) {
        s_handle_free (h);
        if (e)
            s_node_forget (self, node, 1);
        fuse_reply_err (req, ENOMEM);
        return;
    }
    fi->fh = (uint64_t) (uintptr_t) h;
    //  A file opened only for reading keeps the kernel's page cache (the
    //  attributes' mtime still invalidates it: FUSE_CAP_AUTO_INVAL_DATA)
    fi->keep_cache = (flags & O_ACCMODE) == O_RDONLY && !(flags & O_TRUNC);
    //  Nothing to report at the close of such a handle: no FLUSH round trip
    fi->noflush = fi->keep_cache;
    int rc = e ? fuse_reply_create (req, e, fi) : fuse_reply_open (req, fi);
    if (rc != 0) {
        //  The kernel never saw the open: no release will come
        fusemount_close (self->mount, h->token);
        s_handle_free (h);
        if (e)
            s_node_forget (self, node, 1);
    }
}

//  Asks what an open of an existing file needs: read or write, and
//  truncate for O_TRUNC
static int
s_check_open (workspace_t *self, fuse_req_t req, const char *path, int flags)
{
    int rc = s_check (self, req, (flags & O_ACCMODE) == O_RDONLY ? WS_READ : WS_WRITE, path, NULL);
    if (rc == 0 && (flags & O_TRUNC))
        rc = s_check (self, req, WS_TRUNCATE, path, NULL);
    return rc;
}

//  The flags of our own open: no creation, no O_DIRECT (the page cache is
//  the kernel's business, and our buffers are not aligned)
static int
s_open_flags (int flags)
{
    return (flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_NOFOLLOW | O_DIRECT)) | O_CLOEXEC;
}

static void
s_open (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    workspace_t *self = fuse_req_userdata (req);
    ws_node_t *node = s_node (self, ino);
    char *path;
    int rc = s_path (self, node, &path);
    if (rc == 0)
        rc = s_check_open (self, req, path, fi->flags);
    free (path);
    if (rc) {
        fuse_reply_err (req, -rc);
        return;
    }
    char proc[64];
    s_proc (proc, sizeof proc, node->fd);
    int fd = open (proc, s_open_flags (fi->flags));
    if (fd < 0) {
        fuse_reply_err (req, errno);
        return;
    }
    s_reply_open (self, req, node, fd, fi->flags, WS_WRITE, (fi->flags & O_TRUNC) != 0, fi, NULL);
}

static void
s_create (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
          struct fuse_file_info *fi)
{
    workspace_t *self = fuse_req_userdata (req);
    ws_node_t *pnode = s_node (self, parent);
    char *path;
    int rc = s_child_path (self, pnode, name, &path);
    if (rc) {
        fuse_reply_err (req, -rc);
        return;
    }
    //  The kernel asks to create a name it saw missing; when it has
    //  appeared since (made outside the mount), this is an open of it
    struct stat st;
    bool exists = fstatat (pnode->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
    int fd = -1;
    if (exists && (fi->flags & O_EXCL))
        rc = -EEXIST;
    else if (exists) {
        rc = s_check_open (self, req, path, fi->flags);
        if (rc == 0 && (fd = openat (pnode->fd, name, s_open_flags (fi->flags) | O_NOFOLLOW)) < 0)
            rc = -errno;
    } else {
        rc = s_check (self, req, WS_CREATE, path, NULL);
        if (rc == 0 &&
            (fd = openat (pnode->fd, name, s_open_flags (fi->flags) | O_CREAT | O_EXCL | O_NOFOLLOW,
                          mode & 07777)) < 0)
            rc = -errno;
        if (rc == 0)
            s_own (self, req, pnode, fd, mode);
    }
    free (path);
    int pfd = -1;
    if (rc == 0) {
        char proc[64];
        s_proc (proc, sizeof proc, fd);
        if ((pfd = open (proc, O_PATH | O_CLOEXEC)) < 0)
            rc = -errno;
    }
    struct fuse_entry_param e;
    if (rc == 0)
        rc = s_entry_from_fd (self, pfd, &e);
    if (rc) {
        if (fd >= 0)
            close (fd);
        fuse_reply_err (req, -rc);
        return;
    }
    s_reply_open (self, req, s_node (self, e.ino), fd, fi->flags, exists ? WS_WRITE : WS_CREATE,
                  !exists || (fi->flags & O_TRUNC), fi, &e);
}

static void
s_read (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void) ino;
    ws_handle_t *h = (ws_handle_t *) (uintptr_t) fi->fh;
    struct fuse_bufvec buf = FUSE_BUFVEC_INIT (size);
    buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
    buf.buf[0].fd = h->fd;
    buf.buf[0].pos = off;
    fuse_reply_data (req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void
s_write (fuse_req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off,
         struct fuse_file_info *fi)
{
    (void) ino;
    ws_handle_t *h = (ws_handle_t *) (uintptr_t) fi->fh;
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite (h->fd, data + done, size - done, off + (off_t) done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t) n;
    }
    if (done > 0)
        atomic_store (&h->dirty, true);
    if (done == 0 && size > 0)
        fuse_reply_err (req, errno ? errno : EIO);
    else
        fuse_reply_write (req, done);
}

//  Reports the handle's change, if it made one since the last report
static void
s_report_handle (workspace_t *self, ws_handle_t *h)
{
    if (!atomic_exchange (&h->dirty, false) || !self->hooks.changed)
        return;
    char *path;
    if (s_path (self, h->node, &path) == 0)
        s_changed (self, h->op, path, NULL, h->node, h->readable ? h->fd : -1);
    free (path);
}

//  close(2) of a descriptor of the handle: the kernel waits for the
//  answer (a release comes later, after close(2) has returned), so a
//  change is reported here, in order with the caller's next steps
static void
s_flush (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    workspace_t *self = fuse_req_userdata (req);
    (void) ino;
    ws_handle_t *h = (ws_handle_t *) (uintptr_t) fi->fh;
    //  close(2) semantics for the source's file system (a network one
    //  reports write errors at close)
    int fd = dup (h->fd);
    int rc = fd < 0 || close (fd) != 0 ? errno : 0;
    s_report_handle (self, h);
    fuse_reply_err (req, rc);
}

static void
s_release (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    workspace_t *self = fuse_req_userdata (req);
    (void) ino;
    ws_handle_t *h = (ws_handle_t *) (uintptr_t) fi->fh;
    //  What changed after the last close(2) (through a shared mapping)
    s_report_handle (self, h);
    fusemount_close (self->mount, h->token);
    s_handle_free (h);
    fuse_reply_err (req, 0);
}

static void
s_fsync (fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    (void) ino;
    ws_handle_t *h = (ws_handle_t *) (uintptr_t) fi->fh;
    int rc = datasync ? fdatasync (h->fd) : fsync (h->fd);
    fuse_reply_err (req, rc ? errno : 0);
}

static void
s_fallocate (fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
             struct fuse_file_info *fi)
{
    (void) ino;
    //  On a handle the open already asked to write
    ws_handle_t *h = (ws_handle_t *) (uintptr_t) fi->fh;
    int rc = fallocate (h->fd, mode, offset, length) ? errno : 0;
    if (rc == 0)
        atomic_store (&h->dirty, true);
    fuse_reply_err (req, rc);
}

static void
s_lseek (fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
    (void) ino;
    ws_handle_t *h = (ws_handle_t *) (uintptr_t) fi->fh;
    off_t res = lseek (h->fd, off, whence);
    if (res < 0)
        fuse_reply_err (req, errno);
    else
        fuse_reply_lseek (req, res);
}

static void
s_opendir (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    workspace_t *self = fuse_req_userdata (req);
    ws_dir_t *d = calloc (1, sizeof (ws_dir_t));
    if (!d) {
        fuse_reply_err (req, ENOMEM);
        return;
    }
    int fd = openat (s_node (self, ino)->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || !(d->dir = fdopendir (fd))) {
        int rc = errno;
        if (fd >= 0)
            close (fd);
        free (d);
        fuse_reply_err (req, rc);
        return;
    }
    d->token = fusemount_open (self->mount, d, s_dir_free);
    if (!d->token) {
        s_dir_free (d);
        fuse_reply_err (req, ENOMEM);
        return;
    }
    fi->fh = (uint64_t) (uintptr_t) d;
    if (fuse_reply_open (req, fi) != 0) {
        fusemount_close (self->mount, d->token);
        s_dir_free (d);
    }
}

static void
s_readdir (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void) ino;
    ws_dir_t *d = (ws_dir_t *) (uintptr_t) fi->fh;
    char *buf = malloc (size ? size : 1);
    if (!buf) {
        fuse_reply_err (req, ENOMEM);
        return;
    }
    if (off != d->offset) {
        seekdir (d->dir, off);
        d->entry = NULL;
        d->offset = off;
    }
    size_t used = 0;
    int rc = 0;
    for (;;) {
        if (!d->entry) {
            errno = 0;
            d->entry = readdir (d->dir);
            if (!d->entry) {
                rc = errno;
                break;
            }
        }
        struct stat st = {.st_ino = d->entry->d_ino, .st_mode = (mode_t) d->entry->d_type << 12};
        size_t need = fuse_add_direntry (req, buf + used, size - used, d->entry->d_name, &st,
                                         d->entry->d_off);
        if (need > size - used)
            break; //  sent with the next call
        used += need;
        d->offset = d->entry->d_off;
        d->entry = NULL;
    }
    if (rc && used == 0)
        fuse_reply_err (req, rc);
    else
        fuse_reply_buf (req, buf, used);
    free (buf);
}

static void
s_releasedir (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    workspace_t *self = fuse_req_userdata (req);
    (void) ino;
    ws_dir_t *d = (ws_dir_t *) (uintptr_t) fi->fh;
    fusemount_close (self->mount, d->token);
    s_dir_free (d);
    fuse_reply_err (req, 0);
}

static void
s_fsyncdir (fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    (void) ino;
    ws_dir_t *d = (ws_dir_t *) (uintptr_t) fi->fh;
    int fd = dirfd (d->dir);
    int rc = datasync ? fdatasync (fd) : fsync (fd);
    fuse_reply_err (req, rc ? errno : 0);
}

static void
s_statfs (fuse_req_t req, fuse_ino_t ino)
{
    workspace_t *self = fuse_req_userdata (req);
    struct statvfs st;
    if (fstatvfs (s_node (self, ino)->fd, &st) != 0)
        fuse_reply_err (req, errno);
    else
        fuse_reply_statfs (req, &st);
}

//  Only the user.* attributes may be changed: the others carry
//  permissions (ACLs, capabilities) or security labels that the daemon,
//  acting for the caller, must not set
static bool
s_xattr_writable (const char *name)
{
    return strncmp (name, "user.", 5) == 0;
}

static void
s_setxattr (fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
            int flags)
{
    workspace_t *self = fuse_req_userdata (req);
    ws_node_t *node = s_node (self, ino);
    if (!s_xattr_writable (name) || node->type == S_IFLNK) {
        fuse_reply_err (req, EOPNOTSUPP);
        return;
    }
    char *path;
    int rc = s_path (self, node, &path);
    if (rc == 0)
        rc = s_check (self, req, WS_SETXATTR, path, name);
    char proc[64];
    s_proc (proc, sizeof proc, node->fd);
    if (rc == 0 && setxattr (proc, name, value, size, flags) != 0)
        rc = -errno;
    if (rc == 0)
        s_changed (self, WS_SETXATTR, path, name, NULL, -1);
    free (path);
    fuse_reply_err (req, -rc);
}

static void
s_removexattr (fuse_req_t req, fuse_ino_t ino, const char *name)
{
    workspace_t *self = fuse_req_userdata (req);
    ws_node_t *node = s_node (self, ino);
    if (!s_xattr_writable (name) || node->type == S_IFLNK) {
        fuse_reply_err (req, EOPNOTSUPP);
        return;
    }
    char *path;
    int rc = s_path (self, node, &path);
    if (rc == 0)
        rc = s_check (self, req, WS_REMOVEXATTR, path, name);
    char proc[64];
    s_proc (proc, sizeof proc, node->fd);
    if (rc == 0 && removexattr (proc, name) != 0)
        rc = -errno;
    if (rc == 0)
        s_changed (self, WS_REMOVEXATTR, path, name, NULL, -1);
    free (path);
    fuse_reply_err (req, -rc);
}

//  getxattr (name) or listxattr (name NULL): the size, or the value
static void
s_xattr_read (fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    workspace_t *self = fuse_req_userdata (req);
    ws_node_t *node = s_node (self, ino);
    if (node->type == S_IFLNK) {
        //  No race-free way to read a symbolic link's own attributes
        if (name)
            fuse_reply_err (req, ENODATA);
        else
            fuse_reply_xattr (req, 0);
        return;
    }
    char proc[64];
    s_proc (proc, sizeof proc, node->fd);
    char *buf = size ? malloc (size) : NULL;
    if (size && !buf) {
        fuse_reply_err (req, ENOMEM);
        return;
    }
    ssize_t n = name ? getxattr (proc, name, buf, size) : listxattr (proc, buf, size);
    if (n < 0)
        fuse_reply_err (req, errno);
    else if (size == 0)
        fuse_reply_xattr (req, (size_t) n);
    else
        fuse_reply_buf (req, buf, (size_t) n);
    free (buf);
}

static void
s_getxattr (fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    s_xattr_read (req, ino, name, size);
}

static void
s_listxattr (fuse_req_t req, fuse_ino_t ino, size_t size)
{
    s_xattr_read (req, ino, NULL, size);
}

static const struct fuse_lowlevel_ops s_ops = {
    .init = s_init,
    .lookup = s_lookup,
    .forget = s_forget,
    .forget_multi = s_forget_multi,
    .getattr = s_getattr,
    .setattr = s_setattr,
    .readlink = s_readlink,
    .mknod = s_mknod,
    .mkdir = s_mkdir,
    .unlink = s_unlink,
    .rmdir = s_rmdir,
    .symlink = s_symlink,
    .rename = s_rename,
    .link = s_link,
    .open = s_open,
    .create = s_create,
    .read = s_read,
    .write = s_write,
    .flush = s_flush,
    .release = s_release,
    .fsync = s_fsync,
    .fallocate = s_fallocate,
    .lseek = s_lseek,
    .opendir = s_opendir,
    .readdir = s_readdir,
    .releasedir = s_releasedir,
    .fsyncdir = s_fsyncdir,
    .statfs = s_statfs,
    .setxattr = s_setxattr,
    .getxattr = s_getxattr,
    .listxattr = s_listxattr,
    .removexattr = s_removexattr,
};

//  ---------------------------------------------------------------------
//  The workspace

void
workspace_options_default (ws_options_t *options)
{
    memset (options, 0, sizeof *options);
    options->entry_timeout = 1.0;
    options->attr_timeout = 1.0;
    options->max_threads = 10;
    options->allow_other = -1;
    options->stop_grace_ms = 2000;
}

workspace_t *
workspace_new (const char *source, const ws_hooks_t *hooks, char *err, size_t err_size)
{
    workspace_t *self = calloc (1, sizeof (workspace_t));
    if (!self) {
        snprintf (err, err_size, "out of memory");
        return NULL;
    }
    self->root.fd = -1;
    pthread_mutex_init (&self->lock, NULL);
    workspace_options_default (&self->options);
    self->mount = fusemount_new (err, err_size);
    if (!self->mount) {
        workspace_destroy (&self);
        return NULL;
    }
    self->is_root = fusemount_is_root (self->mount);
    if (hooks)
        self->hooks = *hooks;
    self->source = realpath (source, NULL);
    if (!self->source) {
        snprintf (err, err_size, "source %s: %s", source, strerror (errno));
        workspace_destroy (&self);
        return NULL;
    }
    self->source_len = strlen (self->source);
    if (self->source_len == 1) //  "/"
        self->source[--self->source_len] = 0;
    self->root.fd = open (source, O_PATH | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (self->root.fd < 0 || fstat (self->root.fd, &st) != 0) {
        snprintf (err, err_size, "source %s: %s", source, strerror (errno));
        workspace_destroy (&self);
        return NULL;
    }
    self->root.dev = st.st_dev;
    self->root.ino = st.st_ino;
    self->root.type = S_IFDIR;
    self->root.nlookup = 1;
    self->nbuckets = 1024;
    self->buckets = calloc (self->nbuckets, sizeof (ws_node_t *));
    if (!self->buckets) {
        snprintf (err, err_size, "workspace: %s", strerror (errno ? errno : ENOMEM));
        workspace_destroy (&self);
        return NULL;
    }
    self->buckets[s_bucket (self, st.st_dev, st.st_ino)] = &self->root;
    self->count = 1;
    return self;
}

int
workspace_mount (workspace_t *self, const char *mountpoint, const ws_options_t *options, char *err,
                 size_t err_size)
{
    if (options)
        self->options = *options;
    fusemount_options_t mount = {"lh-workspace", self->options.allow_other, self->options.debug,
                                 self->options.max_threads, self->options.stop_grace_ms};
    return fusemount_mount (self->mount, &s_ops, sizeof s_ops, self, mountpoint, &mount, err,
                            err_size);
}

int
workspace_run (workspace_t *self)
{
    return fusemount_run (self->mount);
}

void
workspace_stop (workspace_t *self)
{
    if (self)
        fusemount_stop (self->mount);
}

void
workspace_destroy (workspace_t **self_p)
{
    workspace_t *self = *self_p;
    if (!self)
        return;
    fusemount_destroy (&self->mount);
    if (self->buckets)
        for (size_t i = 0; i < self->nbuckets; i++) {
            ws_node_t *node = self->buckets[i];
            while (node) {
                ws_node_t *next = node->next;
                if (node != &self->root) {
                    close (node->fd);
                    free (node);
                }
                node = next;
            }
        }
    free (self->buckets);
    if (self->root.fd >= 0)
        close (self->root.fd);
    pthread_mutex_destroy (&self->lock);
    free (self->source);
    free (self);
    *self_p = NULL;
}
