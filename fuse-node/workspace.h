/*  workspace -- the passthrough layer of the guarded workspace: a low-level
    libfuse3 file system that shows a source directory at a mount point and
    asks a hook before every change.

    Every node is held by an O_PATH descriptor and every operation is done
    relative to those descriptors with *at() system calls; names come one
    component at a time from the kernel and are never joined into paths
    by hand. Paths handed to the hooks are relative to the source root
    ("src/a.c"; the root itself is "."), computed from the kernel's own
    name of the descriptor and refused (EACCES) when a node is no longer
    under the source root.

    Before every change check() is asked with the exact operation; a
    negative errno refuses it and nothing is changed. After every change
    that succeeded, changed() is told. Reads (opens for reading) are asked
    too (WS_READ), so that secrets can be refused; getattr, readdir,
    readlink, statfs, getxattr and listxattr are not asked. Timestamps
    (utimens) are neither asked nor reported. fuse-node/README.md lists
    every operation, what it asks and what it reports.
*/
#ifndef LH_WORKSPACE_H_INCLUDED
#define LH_WORKSPACE_H_INCLUDED

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 314
#endif
#include <fuse3/fuse_lowlevel.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum {
    WS_READ,        //  open for reading (asked, never reported)
    WS_WRITE,       //  open of an existing file for writing (O_WRONLY, O_RDWR, O_APPEND)
    WS_CREATE,      //  a new file: create (O_CREAT), mknod of a regular file, FIFO or socket
    WS_TRUNCATE,    //  truncate(2)/ftruncate(2); with WS_WRITE at an open with O_TRUNC
    WS_UNLINK,      //  path: the name removed
    WS_RENAME,      //  path: the old name; target: the new name
    WS_MKDIR,       //  path: the new directory
    WS_RMDIR,       //  path: the directory removed
    WS_CHMOD,       //  path: the node
    WS_CHOWN,       //  path: the node
    WS_SYMLINK,     //  path: the new link; target: the link's text, as given
    WS_LINK,        //  path: the existing file; target: the new name
    WS_SETXATTR,    //  path: the node; target: the attribute's name
    WS_REMOVEXATTR, //  path: the node; target: the attribute's name
    WS_OPS
} ws_op_t;

//  The operation's name in lower case ("write", "removexattr"), or "?"
const char *ws_op_name (ws_op_t op);

typedef struct {
    //  Before the operation: 0 lets it happen; a negative errno refuses it
    //  (-EACCES, -EPERM, -EIO, ...), and the caller gets that errno. path
    //  is relative to the source root; target is the second path or name
    //  (see ws_op_t) or NULL; ctx is the caller (uid, gid, pid, umask).
    //  Called from the file system's threads, possibly concurrently; it
    //  may block (it asks a remote policy). NULL allows everything.
    int (*check) (void *arg, ws_op_t op, const char *path, const char *target,
                  const struct fuse_ctx *ctx);
    //  After an allowed change succeeded. For WS_WRITE and WS_CREATE, once
    //  per open file that changed the content (wrote, was created or was
    //  truncated), at its last release, after the data is in the file
    //  (WS_CREATE when the open created the file); for WS_CREATE of mknod
    //  and for WS_TRUNCATE, right after the change. fd is then open for
    //  reading the new content (pread it; do not close it); otherwise, and
    //  for FIFOs and sockets, fd is -1. Not called for a file that is no
    //  longer under the source root when it is released (deleted, or moved
    //  out from outside the mount). NULL reports nothing.
    void (*changed) (void *arg, ws_op_t op, const char *path, const char *target, int fd);
    void *arg;
} ws_hooks_t;

typedef struct {
    double entry_timeout;   //  seconds the kernel caches names (and misses); default 1
    double attr_timeout;    //  seconds the kernel caches attributes; default 1
    unsigned max_threads;   //  the session loop's worker threads; default 10
    int allow_other;        //  1 on, 0 off, -1 (default): on when running as root
    bool debug;             //  libfuse's request trace on stderr
    unsigned stop_grace_ms; //  workspace_stop: how long an unmount waits for users
                            //  of the mount to let go before it aborts; default 2000
} ws_options_t;

typedef struct _workspace_t workspace_t;

//  The defaults (all of ws_options_t's "default" values)
void workspace_options_default (ws_options_t *options);

//  A workspace of the directory source (resolved once, here) with the hooks
//  (copied; NULL: no hooks). NULL with a message in err on failure.
workspace_t *workspace_new (const char *source, const ws_hooks_t *hooks, char *err,
                            size_t err_size);

//  Mounts the workspace at mountpoint (an existing directory) with
//  fsname=lh-workspace, subtype lighthouse, default_permissions, and
//  allow_other as options say. options NULL: the defaults. 0, or -1 with
//  a message in err.
int workspace_mount (workspace_t *self, const char *mountpoint, const ws_options_t *options,
                     char *err, size_t err_size);

//  Serves the mount (fuse_session_loop_mt) until it is unmounted or
//  workspace_stop is called; then unmounts it. 0 on a clean end, -1 on
//  an error of the session loop.
int workspace_run (workspace_t *self);

//  Ends workspace_run: unmounts cleanly, or, when users of the mount hold
//  it past stop_grace_ms, aborts the connection and detaches the mount.
//  Async-signal-safe (it writes one byte to a pipe): call it from a
//  SIGTERM handler or from any thread, any number of times.
void workspace_stop (workspace_t *self);

//  Unmounts if still mounted, frees everything; NULLs *self_p.
void workspace_destroy (workspace_t **self_p);

#endif
