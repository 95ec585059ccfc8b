/*  logmodel -- the log view's read model: the integrity log followed
    through the broker's `events.read` service and kept in an LMDB of its
    own (DIR/logview.mdb), shaped for the files lh-fuse log serves.

    A follower thread asks `range` (raw leaves, 1000 at a time) from the
    first sequence number it does not hold, and stores each event in one
    write transaction per batch together with its new position, so that a
    restart resumes where it stopped and a crash loses at most a batch it
    fetches again. Per event it keeps: the leaf hash, the event as pretty
    JSON (events/<seq>.json) and as one JSON line (events.jsonl), and index
    entries per agent and per type; escalation.requested opens a pending
    escalation that expert.verdict (state "decided") or escalation.expired
    closes; file.write (with content), file.delete, file.rename and
    file.link (hard) change the shadows, kept as a history of entries
    (path, seq) so that the file as of any sequence number can be read.
    Paths from events are attacker-controlled: only absolute paths of
    components other than "", "." and "..", without control bytes, up to
    4096 bytes, are kept; the others are skipped and counted.

    Readers (any thread) get copies; nothing returned points into LMDB.
*/
#ifndef LH_LOGMODEL_H_INCLUDED
#define LH_LOGMODEL_H_INCLUDED

#include "lh_connect.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOGMODEL_LATEST UINT64_MAX

typedef struct _logmodel_t logmodel_t;

//  What a committed batch changed, for the file system's invalidations
typedef struct {
    uint64_t old_size, new_size;   //  events held before and after
    uint64_t old_jsonl, new_jsonl; //  events.jsonl's size before and after
    bool checkpoint;               //  a new checkpoint note
    bool shadows;                  //  a shadow was written, moved or removed
    const char *const *closed;     //  escalations no longer pending
    size_t nclosed;
} logmodel_change_t;

typedef void (logmodel_changed_fn) (void *arg, const logmodel_change_t *change);

typedef struct {
    uint64_t size;          //  events held: sequence numbers 0 .. size - 1
    uint64_t resumed_from;  //  the position the follower started from
    uint64_t fetched;       //  events fetched since the start
    uint64_t batches;       //  batches committed since the start
    uint64_t fetch_errors;  //  failed range or checkpoint requests
    uint64_t paths_refused; //  file.* events whose path was refused (kept in the model)
    uint64_t pending;       //  escalations pending
} logmodel_counters_t;

//  A shadow as of a sequence number
typedef struct {
    uint64_t seq;   //  the event that wrote it
    uint64_t size;  //  the file's size as the event said (data.size)
    bool truncated; //  the event carried less than the whole file
    char *content;  //  heap copy (when asked), content_size bytes
    size_t content_size;
} logmodel_file_t;

//  Opens (creates) the model in dir. map_mb bounds its size on disk.
//  NULL with a message in err.
logmodel_t *logmodel_new (const char *dir, size_t map_mb, char *err, size_t err_size);
//  Stops the follower if running, closes the store; NULLs *self_p.
void logmodel_destroy (logmodel_t **self_p);

//  Starts the follower: reads through conn (borrowed: it must outlive the
//  follower) every poll_ms once caught up, retrying with backoff while the
//  broker or the replicas are away. changed is called from the follower's
//  thread after each batch that changed anything. 0, or -1.
int logmodel_follow (logmodel_t *self, const lh_connect_t *conn, int poll_ms,
                     logmodel_changed_fn *changed, void *arg);
//  Stops the follower (waits for it); idempotent.
void logmodel_stop (logmodel_t *self);

void logmodel_counters (logmodel_t *self, logmodel_counters_t *out);
//  Events held (the next sequence number the follower asks for)
uint64_t logmodel_size (logmodel_t *self);

//  events/<seq>.json: 0 and a heap copy in *json (if json is not NULL)
//  with its size, or -ENOENT
int logmodel_event (logmodel_t *self, uint64_t seq, char **json, size_t *size);
//  The leaf hash of seq (32 bytes): 0, or -ENOENT
int logmodel_leaf_hash (logmodel_t *self, uint64_t seq, uint8_t *hash);
//  events.jsonl: its size, and bytes [off, off + len) into buf (how many)
uint64_t logmodel_jsonl_size (logmodel_t *self);
size_t logmodel_jsonl_read (logmodel_t *self, uint64_t off, char *buf, size_t len);
//  The latest checkpoint note (heap copy, *size bytes), NULL when none yet
char *logmodel_checkpoint (logmodel_t *self, size_t *size);

//  Listings: fn is called for each name (in order); it returns false to
//  stop. is_dir says whether the name is a directory.
typedef bool (logmodel_name_fn) (void *arg, const char *name, bool is_dir);
//  The sequence numbers of events of type (e.g. "validation.decision"),
//  or of agent, as names "<seq>.json"
void logmodel_list_type (logmodel_t *self, const char *type, logmodel_name_fn *fn, void *arg);
void logmodel_list_agent (logmodel_t *self, const char *agent, logmodel_name_fn *fn, void *arg);
//  Agents the log names, escalations pending, sequence numbers that
//  changed the shadows (as names)
void logmodel_list_agents (logmodel_t *self, logmodel_name_fn *fn, void *arg);
void logmodel_list_pending (logmodel_t *self, logmodel_name_fn *fn, void *arg);
void logmodel_list_history (logmodel_t *self, logmodel_name_fn *fn, void *arg);
//  The names in directory dir ("" for "/", else "/a/b") among the shadows
//  as of seq at (LOGMODEL_LATEST: now); at most max names
void logmodel_list_shadows (logmodel_t *self, const char *dir, uint64_t at, size_t max,
                            logmodel_name_fn *fn, void *arg);

//  Whether seq is indexed under type / agent
bool logmodel_has_type (logmodel_t *self, const char *type, uint64_t seq);
bool logmodel_has_agent_event (logmodel_t *self, const char *agent, uint64_t seq);
bool logmodel_has_agent (logmodel_t *self, const char *agent);
//  The escalation.requested event of a pending escalation: 0, or -ENOENT
int logmodel_pending (logmodel_t *self, const char *id, uint64_t *seq);
//  Marks an escalation decided here (a verdict this node sent) so that it
//  leaves pending/ at once; the follower reports it as closed
void logmodel_decided (logmodel_t *self, const char *id);
//  The last count events of type for agent (newest first): heap copies
//  of their compact JSON, *n of them; the caller frees each and the array
char **logmodel_recent (logmodel_t *self, const char *agent, const char *type, size_t count,
                        size_t *n);

//  The file at path ("/a/b") as of seq at: 0 (content copied when
//  with_content), or -ENOENT (never written, or removed by then)
int logmodel_shadow (logmodel_t *self, const char *path, uint64_t at, bool with_content,
                     logmodel_file_t *out);
//  Whether path is a directory among the shadows as of at
bool logmodel_shadow_dir (logmodel_t *self, const char *path, uint64_t at);

//  Whether a path from an event may name a shadow: absolute, no "", "."
//  or ".." component, no byte below 0x20 or 0x7f, at most 4096 bytes
bool logmodel_path_ok (const char *path, size_t len);

#endif
