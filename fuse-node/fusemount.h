/*  fusemount -- one low-level libfuse3 session, mounted and served the way
    both of lh-fuse's file systems are: fsname NAME, subtype lighthouse,
    default_permissions, allow_other when asked (or when running as root),
    a multithreaded loop, and a stop that is async-signal-safe (one byte to
    a pipe) and leaves no mount: root unmounts itself, cleanly while users
    let go within a grace, then aborts the connection and detaches;
    others ask fusermount3 for a lazy unmount.
*/
#ifndef LH_FUSEMOUNT_H_INCLUDED
#define LH_FUSEMOUNT_H_INCLUDED

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION FUSE_MAKE_VERSION (3, 14)
#endif
#include <fuse3/fuse_lowlevel.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *fsname;     //  "lh-workspace", "lh-log"
    int allow_other;        //  1 on, 0 off, -1: on when running as root
    bool debug;             //  libfuse's request trace on stderr
    unsigned max_threads;   //  the loop's threads (0: 1)
    unsigned stop_grace_ms; //  how long fusemount_stop waits for the mount's users
} fusemount_options_t;

typedef struct _fusemount_t fusemount_t;

//  A stoppable mount-to-be: fusemount_stop works from here on. NULL with
//  a message in err.
fusemount_t *fusemount_new (char *err, size_t err_size);

//  A session of ops (userdata for its requests) mounted at mountpoint (an
//  existing directory, resolved here). 0, or -1 with a message in err.
int fusemount_mount (fusemount_t *self, const struct fuse_lowlevel_ops *ops, size_t ops_size,
                     void *userdata, const char *mountpoint, const fusemount_options_t *options,
                     char *err, size_t err_size);

//  Serves the mount until it is unmounted or fusemount_stop is called;
//  then unmounts it. 0 on a clean end, -1 otherwise (or not mounted).
int fusemount_run (fusemount_t *self);

//  Ends fusemount_run. Async-signal-safe; any thread, any number of times.
void fusemount_stop (fusemount_t *self);

//  Notifications to the kernel (fuse_lowlevel_notify_*) only while mounted:
//  fusemount_hold returns the session, or NULL when not mounted; either way
//  fusemount_release must follow. The mount does not end in between.
struct fuse_session *fusemount_hold (fusemount_t *self);
void fusemount_release (fusemount_t *self);

//  Whether it runs as root (allow_other, ownership of what it creates)
bool fusemount_is_root (const fusemount_t *self);

//  Open files' and directories' handles (fi->fh). When the session ends
//  the kernel sends no RELEASE for those still open, so the mount keeps a
//  list: fusemount_open adds a handle with what frees it and returns a
//  token (NULL when out of memory), fusemount_close takes the token out
//  again (in RELEASE and RELEASEDIR; NULL is ignored), and
//  fusemount_destroy frees the handles left. Any thread.
typedef void (fusemount_free_fn) (void *handle);
void *fusemount_open (fusemount_t *self, void *handle, fusemount_free_fn *free_fn);
void fusemount_close (fusemount_t *self, void *token);

//  Unmounts if still mounted, frees everything; NULLs *self_p.
void fusemount_destroy (fusemount_t **self_p);

#endif
