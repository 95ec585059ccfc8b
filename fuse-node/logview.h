/*  logview -- the log as files: a low-level libfuse3 file system serving a
    read model (logmodel.h) of the integrity log, read-only except the
    `verdict` file of each pending escalation, through which an expert
    answers as the key the node runs with.

        events/<seq>.json       one event, pretty JSON
        events.jsonl            every event, one line each
        checkpoint              the latest signed note, byte for byte
        proofs/<seq>            inclusion proof against the latest checkpoint
        decisions/<seq>.json    validation.decision events
        agents/<agent>/<seq>.json
        escalations/pending/<id>/{request,context,verdict}
        shadows/<path>          latest content of every file a workspace reported
        history/<seq>/<path>    the same as of event seq

    fuse-node/README.md ("The log view") says what each file holds, how the
    kernel caches them and what a verdict write answers.
*/
#ifndef LH_LOGVIEW_H_INCLUDED
#define LH_LOGVIEW_H_INCLUDED

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 314
#endif
#include "logmodel.h"

#include "lh_connect.h"

#include <fuse3/fuse_lowlevel.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define LOGVIEW_VERDICT_MAX (64 * 1024)

typedef struct {
    double immutable_timeout; //  seconds the kernel keeps names and attributes of files
                              //  that never change (events, history); default 3600
    double mutable_timeout;   //  the same for the others; default 1
    unsigned max_threads;     //  the session loop's threads; default 10
    int allow_other;          //  1 on, 0 off, -1 (default): on when running as root
    gid_t gid;                //  group of every node (read: 0440/0550, verdict 0220);
                              //  default the daemon's
    unsigned stop_grace_ms;   //  logview_stop: how long users may hold the mount; 2000
    int call_timeout_ms;      //  broker calls (proofs, verdicts); default 5000
    bool debug;
} logview_options_t;

typedef struct {
    uint64_t verdicts, verdicts_refused, proofs, proof_errors, invalidations;
} logview_counters_t;

typedef struct _logview_t logview_t;

void logview_options_default (logview_options_t *options);

//  A view of model (borrowed) asking the broker through conn (borrowed)
//  for proofs, contexts and verdicts. NULL with a message in err.
logview_t *logview_new (logmodel_t *model, const lh_connect_t *conn, char *err, size_t err_size);

//  Mounts at mountpoint (fsname=lh-log, subtype lighthouse,
//  default_permissions). 0, or -1 with a message in err.
int logview_mount (logview_t *self, const char *mountpoint, const logview_options_t *options,
                   char *err, size_t err_size);

//  Serves until unmounted or logview_stop; then unmounts. 0 or -1.
int logview_run (logview_t *self);

//  Async-signal-safe: ends logview_run (clean unmount, or abort and detach
//  after stop_grace_ms)
void logview_stop (logview_t *self);

void logview_destroy (logview_t **self_p);

//  The model's change callback (logmodel_follow with the view as arg):
//  invalidates what the kernel caches of what changed
void logview_changed (void *arg, const logmodel_change_t *change);

void logview_counters (logview_t *self, logview_counters_t *out);

#endif
