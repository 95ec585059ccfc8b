/*  fusemount -- see fusemount.h */
#include "fusemount.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

typedef struct _open_t {
    struct _open_t *prev, *next;
    void *handle;
    fusemount_free_fn *free_fn;
} open_t;

struct _fusemount_t {
    struct fuse_session *se;
    open_t open;               //  the open handles' ring; open.next is the first
    pthread_mutex_t open_lock; //  the ring
    fusemount_options_t options;
    char *mountpoint; //  resolved
    bool mounted, is_root;
    int stop_pipe[2];     //  fusemount_stop writes 's'; fusemount_run 'q' when the loop ended
    pthread_mutex_t lock; //  mounted changes, and notifications happen, under it
};

fusemount_t *
fusemount_new (char *err, size_t err_size)
{
    fusemount_t *self = (fusemount_t *) calloc (1, sizeof (fusemount_t));
    if (!self) {
        snprintf (err, err_size, "out of memory");
        return NULL;
    }
    self->stop_pipe[0] = self->stop_pipe[1] = -1;
    self->is_root = geteuid () == 0;
    pthread_mutex_init (&self->lock, NULL);
    pthread_mutex_init (&self->open_lock, NULL);
    self->open.prev = self->open.next = &self->open;
    if (pipe2 (self->stop_pipe, O_CLOEXEC) != 0 ||
        fcntl (self->stop_pipe[1], F_SETFL, O_NONBLOCK) != 0) {
        snprintf (err, err_size, "stop pipe: %s", strerror (errno));
        fusemount_destroy (&self);
    }
    return self;
}

int
fusemount_mount (fusemount_t *self, const struct fuse_lowlevel_ops *ops, size_t ops_size,
                 void *userdata, const char *mountpoint, const fusemount_options_t *options,
                 char *err, size_t err_size)
{
    if (self->se) {
        snprintf (err, err_size, "already mounted");
        return -1;
    }
    self->options = *options;
    if (self->options.max_threads == 0)
        self->options.max_threads = 1;
    self->mountpoint = realpath (mountpoint, NULL);
    if (!self->mountpoint) {
        snprintf (err, err_size, "mount point %s: %s", mountpoint, strerror (errno));
        return -1;
    }
    bool allow_other = self->options.allow_other < 0 ? self->is_root : self->options.allow_other;
    char opts[256];
    snprintf (opts, sizeof opts, "fsname=%s,subtype=lighthouse,default_permissions%s",
              self->options.fsname, allow_other ? ",allow_other" : "");
    char *argv[] = {(char *) self->options.fsname, "-o", opts, self->options.debug ? "-d" : NULL,
                    NULL};
    struct fuse_args args = FUSE_ARGS_INIT (self->options.debug ? 4 : 3, argv);
    self->se = fuse_session_new (&args, ops, ops_size, userdata);
    fuse_opt_free_args (&args);
    if (!self->se) {
        snprintf (err, err_size, "fuse_session_new failed");
        return -1;
    }
    if (fuse_session_mount (self->se, self->mountpoint) != 0) {
        snprintf (err, err_size, "cannot mount at %s (is /dev/fuse usable?)", self->mountpoint);
        fuse_session_destroy (self->se);
        self->se = NULL;
        return -1;
    }
    pthread_mutex_lock (&self->lock);
    self->mounted = true;
    pthread_mutex_unlock (&self->lock);
    return 0;
}

static void
s_sleep_ms (long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep (&ts, &ts) != 0 && errno == EINTR)
        ;
}

//  Root unmounts itself, cleanly while the mount's users let go within the
//  grace, then aborts the connection (MNT_FORCE: FUSE's umount_begin) and
//  detaches; others ask fusermount3 for a lazy unmount
static void
s_unmount (fusemount_t *self)
{
    if (!self->is_root) {
        char *argv[] = {"fusermount3", "-u", "-z", "--", self->mountpoint, NULL};
        pid_t pid;
        if (posix_spawnp (&pid, "fusermount3", NULL, NULL, argv, environ) == 0)
            while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
                ;
        return;
    }
    for (unsigned waited = 0;; waited += 50) {
        if (umount2 (self->mountpoint, UMOUNT_NOFOLLOW) == 0 || errno != EBUSY)
            return;
        if (waited >= self->options.stop_grace_ms)
            break;
        s_sleep_ms (50);
    }
    (void) !umount2 (self->mountpoint, MNT_FORCE | UMOUNT_NOFOLLOW);
    (void) !umount2 (self->mountpoint, MNT_DETACH | UMOUNT_NOFOLLOW);
}

static void *
s_stopper (void *arg)
{
    fusemount_t *self = (fusemount_t *) arg;
    for (;;) {
        char c;
        ssize_t n = read (self->stop_pipe[0], &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != 1 || c == 'q')
            return NULL;
        if (c == 's')
            break;
    }
    fuse_session_exit (self->se);
    s_unmount (self);
    return NULL;
}

int
fusemount_run (fusemount_t *self)
{
    if (!self->se || !self->mounted)
        return -1;
    pthread_t stopper;
    bool stopper_ok = pthread_create (&stopper, NULL, s_stopper, self) == 0;
    struct fuse_loop_config *config = fuse_loop_cfg_create ();
    int rc = -1;
    if (config) {
        fuse_loop_cfg_set_max_threads (config, self->options.max_threads);
        fuse_loop_cfg_set_clone_fd (config, 0);
        rc = fuse_session_loop_mt (self->se, config);
        fuse_loop_cfg_destroy (config);
    }
    if (stopper_ok) {
        char c = 'q';
        //  Blocking would need a full pipe: 'q' after thousands of stops
        while (write (self->stop_pipe[1], &c, 1) < 0 && errno == EAGAIN)
            s_sleep_ms (1);
        pthread_join (stopper, NULL);
    }
    pthread_mutex_lock (&self->lock);
    self->mounted = false;
    pthread_mutex_unlock (&self->lock);
    fuse_session_unmount (self->se);
    return rc == 0 ? 0 : -1;
}

void
fusemount_stop (fusemount_t *self)
{
    if (self && self->stop_pipe[1] >= 0) {
        int saved = errno;
        char c = 's';
        (void) !write (self->stop_pipe[1], &c, 1);
        errno = saved;
    }
}

struct fuse_session *
fusemount_hold (fusemount_t *self)
{
    pthread_mutex_lock (&self->lock);
    return self->mounted ? self->se : NULL;
}

void
fusemount_release (fusemount_t *self)
{
    pthread_mutex_unlock (&self->lock);
}

bool
fusemount_is_root (const fusemount_t *self)
{
    return self->is_root;
}

void *
fusemount_open (fusemount_t *self, void *handle, fusemount_free_fn *free_fn)
{
    open_t *item = (open_t *) calloc (1, sizeof (open_t));
    if (!item)
        return NULL;
    item->handle = handle;
    item->free_fn = free_fn;
    pthread_mutex_lock (&self->open_lock);
    item->prev = self->open.prev;
    item->next = &self->open;
    self->open.prev->next = item;
    self->open.prev = item;
    pthread_mutex_unlock (&self->open_lock);
    return item;
}

void
fusemount_close (fusemount_t *self, void *token)
{
    open_t *item = (open_t *) token;
    if (!item)
        return;
    pthread_mutex_lock (&self->open_lock);
    item->prev->next = item->next;
    item->next->prev = item->prev;
    pthread_mutex_unlock (&self->open_lock);
    free (item);
}

void
fusemount_destroy (fusemount_t **self_p)
{
    fusemount_t *self = *self_p;
    if (!self)
        return;
    if (self->se) {
        if (self->mounted)
            fuse_session_unmount (self->se);
        fuse_session_destroy (self->se);
    }
    //  The session is over: no RELEASE will come for what is still open
    while (self->open.next != &self->open) {
        open_t *item = self->open.next;
        void *handle = item->handle;
        fusemount_free_fn *free_fn = item->free_fn;
        fusemount_close (self, item);
        free_fn (handle);
    }
    pthread_mutex_destroy (&self->open_lock);
    for (int i = 0; i < 2; i++)
        if (self->stop_pipe[i] >= 0)
            close (self->stop_pipe[i]);
    pthread_mutex_destroy (&self->lock);
    free (self->mountpoint);
    free (self);
    *self_p = NULL;
}
