/*  replica -- one lh-integrity replica: set-up, the loop, and stopping.

    See replica.h and EVENTS.md. The services, the state machine and the
    monitor live in replica_*.c, around the replica_t of replica_internal.h;
    this file owns the libuv loop: its timers and signals, the broker
    sockets (watched with uvzmq), and Raft's start and close.
*/
#include "replica_internal.h"

#include "lh_config.h"
#include "lh_node.h"
#include "lh_log.h"

#include <errno.h>

#define TICK_MS 50
#define SYNC_MS 1000

static void s_stop (replica_t *self, int exit_code);

//  --------------------------------------------------------------------------
//  The broker sockets and the loop

//  Keeps a watcher on a worker's current descriptor (it changes on reconnect).
static void
s_rewatch (uvzmq_t *watch, lh_worker_t *worker)
{
    int fd = worker ? lh_worker_fd (worker) : -1;
    //  A watcher that failed is tried again after the next read: the tick
    //  reads the sockets in the meantime, so requests wait but stay queued
    if (watch && uvzmq_watch_fd (watch, fd) != 0)
        lh_warn ("cannot watch a broker socket", "fd=%d", fd);
}

//  Bounded rounds so that a flood cannot starve Raft's own I/O

static void
s_drain_writer (replica_t *self)
{
    lh_request_t *request;
    for (int round = 0;
         round < 1024 && self->writer && (request = lh_worker_recv (self->writer, 0)); round++)
        replica_handle_append (self, request);
    s_rewatch (self->writer_watch, self->writer);
}

static void
s_drain_reader (replica_t *self)
{
    lh_request_t *request;
    for (int round = 0;
         round < 1024 && self->reader && (request = lh_worker_recv (self->reader, 0)); round++)
        replica_handle_read (self, request);
    s_rewatch (self->reader_watch, self->reader);
}

static void
s_on_writer (uvzmq_t *watch, void *arg)
{
    (void) watch;
    replica_t *self = (replica_t *) arg;
    if (self->stopping)
        return;
    s_drain_writer (self);
    //  Now, not after the next poll: that may sleep until a timer
    replica_propose (self);
}

static void
s_on_reader (uvzmq_t *watch, void *arg)
{
    (void) watch;
    replica_t *self = (replica_t *) arg;
    if (!self->stopping)
        s_drain_reader (self);
}

//  Both sockets, also when their descriptors are silent: lh_worker_recv
//  sends the heartbeats and opens a new socket after a silent broker
static void
s_drain (replica_t *self)
{
    if (self->stopping)
        return;
    s_drain_writer (self);
    s_drain_reader (self);
    replica_propose (self);
}

static void
s_on_check (uv_check_t *check)
{
    replica_propose ((replica_t *) check->data);
}

static void
s_leadership (replica_t *self)
{
    int state = raft_state (&self->raft);
    if (state != self->last_state) {
        raft_id leader_id = 0;
        const char *address = NULL;
        raft_leader (&self->raft, &leader_id, &address);
        lh_info ("raft state", "state=%s term=%llu leader=%llu", replica_describe_state (state),
                 (unsigned long long) self->raft.current_term, (unsigned long long) leader_id);
        if (state == RAFT_LEADER || self->last_state == RAFT_LEADER)
            self->stats.leader_changes++;
        self->last_state = state;
    }
    if (state == RAFT_LEADER && !self->writer && !self->stopping) {
        self->writer = lh_worker_new (&self->backend, "events", self->capacity);
        self->generation++;
        if (self->writer)
            lh_info ("serving", "service=events term=%llu",
                     (unsigned long long) self->raft.current_term);
    } else if (state != RAFT_LEADER && self->writer) {
        replica_drop_pending (self, "this replica is no longer the leader; retry");
        uvzmq_stop (self->writer_watch);
        lh_worker_destroy (&self->writer);
        self->generation++;
        lh_info ("withdrawn", "service=events state=%s", replica_describe_state (state));
    }
}

static void
s_on_tick (uv_timer_t *timer)
{
    replica_t *self = (replica_t *) timer->data;
    if (self->stopping)
        return;
    if (self->failed) {
        s_stop (self, 75);
        return;
    }
    s_leadership (self);
    //  PUB drops what is sent before a peer subscribes: say it again each second
    bool second = ++self->ticks % (1000 / TICK_MS) == 0;
    if (second && self->own_note)
        replica_publish_signature (self, self->own_size, self->own_note);
    //  Each replica's own word on its role, term and monitor (the console)
    if (second)
        replica_publish_status (self);
    if (self->metrics && self->ticks % (1000 / TICK_MS) == 0)
        replica_publish_metrics (self);
    replica_receive_signatures (self);
    if (self->alerts) {
        lh_reply_t *reply;
        while ((reply = lh_client_recv (self->alerts, 0))) {
            if (!lh_reply_ok (reply))
                lh_warn ("alert append failed", "error=%s message=\"%s\"",
                         lh_reply_code_name (reply), lh_reply_message (reply));
            lh_reply_destroy (&reply);
        }
    }
    s_drain (self);
}

static void
s_sync_work (uv_work_t *work)
{
    replica_t *self = (replica_t *) work->data;
    store_sync (self->store);
}

static void
s_sync_done (uv_work_t *work, int status)
{
    (void) status;
    ((replica_t *) work->data)->sync_busy = false;
}

//  The flush runs in a worker thread: an fdatasync of a busy store can take
//  tens of ms, which the loop (Raft heartbeats, replies) must not wait for
static void
s_on_sync (uv_timer_t *timer)
{
    replica_t *self = (replica_t *) timer->data;
    if (self->sync_busy || self->stopping)
        return;
    self->sync_busy = true;
    self->sync_work.data = self;
    uv_queue_work (&self->loop, &self->sync_work, s_sync_work, s_sync_done);
}

static void
s_on_signal (uv_signal_t *signal, int signum)
{
    replica_t *self = (replica_t *) signal->data;
    if (signum == SIGHUP) {
        lh_info ("SIGHUP ignored (nothing to reload)", "%s", "");
        return;
    }
    lh_info ("stopping", "signal=%d", signum);
    s_stop (self, 0);
}

static void
s_raft_closed (struct raft *raft)
{
    //  The loop ends by itself once raft_uv has closed its handles
    replica_t *self = (replica_t *) raft->data;
    raft_uv_close (&self->io);
    transport_close (&self->transport);
}

static void
s_stop (replica_t *self, int exit_code)
{
    if (exit_code)
        self->exit_code = exit_code;
    if (self->stopping)
        return;
    self->stopping = true;
    //  Our handles close now; raft_uv closes its own, then the loop ends
    uv_handle_t *handles[] = {(uv_handle_t *) &self->tick,    (uv_handle_t *) &self->sync,
                              (uv_handle_t *) &self->monitor, (uv_handle_t *) &self->propose,
                              (uv_handle_t *) &self->sigterm, (uv_handle_t *) &self->sigint,
                              (uv_handle_t *) &self->sighup};
    for (size_t i = 0; i < sizeof (handles) / sizeof (handles[0]); i++)
        if (!uv_is_closing (handles[i]))
            uv_close (handles[i], NULL);
    //  Their handles close on this turn of the loop, before it ends
    uvzmq_destroy (&self->reader_watch);
    uvzmq_destroy (&self->writer_watch);
    if (self->writer)
        replica_drop_pending (self, "the leader is stopping; retry");
    if (self->raft_started)
        raft_close (&self->raft, s_raft_closed);
    else
        uv_stop (&self->loop);
}

//  --------------------------------------------------------------------------
//  Set-up

static char *
s_read_file (const char *path)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return NULL;
    char *text = (char *) calloc (1, 65537);
    if (!text) {
        fclose (file);
        errno = ENOMEM;
        return NULL;
    }
    size_t n = fread (text, 1, 65536, file);
    fclose (file);
    text[n] = 0;
    return text;
}

//  "1@host:port 2@host:port ..." into a Raft configuration
static int
s_parse_peers (replica_t *self, const char *peers, char *err, size_t err_size)
{
    raft_configuration_init (&self->peers);
    char *copy = strdup (peers);
    if (!copy) {
        snprintf (err, err_size, "out of memory");
        return -1;
    }
    char *save = NULL;
    int count = 0;
    bool found = false;
    for (char *item = strtok_r (copy, " ,", &save); item; item = strtok_r (NULL, " ,", &save)) {
        char *at = strchr (item, '@');
        unsigned long id = at ? strtoul (item, NULL, 10) : 0;
        if (!at || id == 0 || id > 1000 || count >= MAX_PEERS ||
            raft_configuration_add (&self->peers, id, at + 1, RAFT_VOTER) != 0) {
            snprintf (err, err_size, "bad peer '%s' (want ID@HOST:PORT, at most %d)", item,
                      MAX_PEERS);
            free (copy);
            return -1;
        }
        if (id == self->id)
            found = true;
        count++;
    }
    free (copy);
    if (!found) {
        snprintf (err, err_size, "this replica's id %u is not among the peers", self->id);
        return -1;
    }
    return 0;
}

static int
s_load_keys (replica_t *self, const char *signer_path, const char *keys_path, char *err,
             size_t err_size)
{
    errno = 0;
    char *text = s_read_file (signer_path);
    if (!text && errno == ENOMEM) {
        snprintf (err, err_size, "%s: out of memory", signer_path);
        return -1;
    }
    self->signer = text ? note_key_from_signer (strtok (text, "\r\n")) : NULL;
    free (text);
    if (!self->signer) {
        snprintf (err, err_size, "%s: no signer key (create one with lh-integrity --keygen)",
                  signer_path);
        return -1;
    }
    snprintf (self->name, sizeof (self->name), "%s", note_key_name (self->signer));
    errno = 0;
    text = keys_path ? s_read_file (keys_path) : NULL;
    if (keys_path && !text && errno == ENOMEM) {
        snprintf (err, err_size, "%s: out of memory", keys_path);
        return -1;
    }
    if (keys_path && !text) {
        snprintf (err, err_size, "%s: cannot read verifier keys", keys_path);
        return -1;
    }
    char *save = NULL;
    bool have_own = false;
    for (char *line = text ? strtok_r (text, "\r\n", &save) : NULL; line;
         line = strtok_r (NULL, "\r\n", &save)) {
        if (!*line || *line == '#')
            continue;
        note_key_t *key = note_key_from_verifier (line);
        if (!key || self->nkeys >= MAX_PEERS) {
            snprintf (err, err_size, "%s: bad verifier key line '%.60s'", keys_path, line);
            note_key_destroy (&key);
            free (text);
            return -1;
        }
        if (note_key_id (key) == note_key_id (self->signer))
            have_own = true;
        self->keys[self->nkeys++] = key;
    }
    free (text);
    if (!have_own && self->nkeys < MAX_PEERS) {
        char *own = note_key_verifier_string (self->signer);
        note_key_t *key = own ? note_key_from_verifier (own) : NULL;
        free (own);
        if (!key) {
            snprintf (err, err_size, "out of memory");
            return -1;
        }
        self->keys[self->nkeys++] = key;
    }
    return 0;
}

//  The SUB for peers' signatures, on every broker's PUB socket
static int
s_subscribe (replica_t *self, const char *endpoint, char *err, size_t err_size)
{
    lh_connect_t conn = self->backend;
    conn.endpoint = endpoint;
    if (!self->cert)
        conn.server_key = NULL;
    self->sub = lh_connect_sub (&conn);
    if (!self->sub) {
        snprintf (err, err_size, "cannot subscribe to %s: %s", endpoint, zmq_strerror (errno));
        return -1;
    }
    zsock_set_subscribe (self->sub, "events.read.checkpoint");
    return 0;
}

//  The broker connections: events.read's worker, the client that appends
//  alerts, and the SUB for peers' signatures
static int
s_connect_broker (replica_t *self, zconfig_t *config, char *err, size_t err_size)
{
    const char *cert_path = lh_config_str (config, "integrity/cert", NULL);
    if (cert_path && !(self->cert = zcert_load (cert_path))) {
        snprintf (err, err_size, "cannot load certificate %s", cert_path);
        return -1;
    }
    self->backend =
        (lh_connect_t){.endpoint = lh_config_str (config, "integrity/broker", NULL),
                       .server_key = lh_config_str (config, "integrity/broker_key", NULL),
                       .cert = self->cert};
    self->frontend = self->backend;
    self->frontend.endpoint = lh_config_str (config, "integrity/frontend", NULL);
    self->reader = lh_worker_new (&self->backend, "events.read", self->capacity);
    if (!self->reader) {
        snprintf (err, err_size, "cannot connect to the broker at %s",
                  self->backend.endpoint ? self->backend.endpoint : "(none: --broker)");
        return -1;
    }
    if (self->frontend.endpoint) {
        self->alerts = lh_client_new (&self->frontend);
        if (self->alerts)
            lh_client_set_timeout (self->alerts, 10000);
    }
    if (lh_node_metrics (config, "integrity", &self->metrics) != 0) {
        snprintf (err, err_size, "cannot serve metrics (--metrics)");
        return -1;
    }
    const char *pub = lh_config_str (config, "integrity/pub", NULL);
    return pub ? s_subscribe (self, pub, err, err_size) : 0;
}

static int
s_init_raft (replica_t *self, zconfig_t *config, char *err, size_t err_size)
{
    const char *raft_address = NULL;
    for (unsigned i = 0; i < self->peers.n; i++)
        if (self->peers.servers[i].id == self->id)
            raft_address = self->peers.servers[i].address;
    char path[2100];
    snprintf (path, sizeof (path), "%s/raft", self->dir);
    int rc = transport_init (&self->transport, &self->loop);
    if (rc == 0)
        rc = raft_uv_init (&self->io, &self->loop, path, &self->transport.outer);
    if (rc != 0) {
        snprintf (err, err_size, "raft_uv_init %s: %s", path, raft_strerror (rc));
        return -1;
    }
    //  Peers start together: the default 1 s retry would hold the first
    //  commit back by a second whenever a first connect lost that race
    raft_uv_set_connect_retry_delay (&self->io, 100);
    replica_init_fsm (self);
    rc = raft_init (&self->raft, &self->io, &self->fsm, self->id, raft_address);
    if (rc != 0) {
        snprintf (err, err_size, "raft_init: %s", raft_errmsg (&self->raft));
        raft_uv_close (&self->io);
        transport_close (&self->transport);
        return -1;
    }
    self->raft.data = self;
    raft_set_election_timeout (&self->raft,
                               (unsigned) lh_config_int (config, "integrity/election_ms", 1000));
    raft_set_heartbeat_timeout (&self->raft,
                                (unsigned) lh_config_int (config, "integrity/heartbeat_ms", 100));
    raft_set_snapshot_threshold (
        &self->raft, (unsigned) lh_config_int (config, "integrity/snapshot_threshold", 16384));
    raft_set_snapshot_trailing (
        &self->raft, (unsigned) lh_config_int (config, "integrity/snapshot_trailing", 4096));
    raft_set_install_snapshot_timeout (
        &self->raft, (unsigned) lh_config_int (config, "integrity/snapshot_timeout_ms", 30000));
    raft_set_pre_vote (&self->raft, true);
    rc = raft_bootstrap (&self->raft, &self->peers);
    if (rc != 0 && rc != RAFT_CANTBOOTSTRAP) {
        snprintf (err, err_size, "raft_bootstrap: %s", raft_errmsg (&self->raft));
        raft_close (&self->raft, NULL);
        return -1;
    }
    return 0;
}

replica_t *
replica_new (zconfig_t *config, char *err, size_t err_size)
{
    replica_t *self = (replica_t *) calloc (1, sizeof (replica_t));
    if (!self) {
        snprintf (err, err_size, "out of memory");
        return NULL;
    }
    self->config = config;
    self->last_state = -1;
    codec_buf_init (&self->pending);
    int rc = uv_loop_init (&self->loop);
    if (rc != 0) {
        snprintf (err, err_size, "uv_loop_init: %s", uv_strerror (rc));
        replica_destroy (&self);
        return NULL;
    }
    self->loop_ready = true;
    self->id = (unsigned) lh_config_int (config, "integrity/id", 0);
    snprintf (self->dir, sizeof (self->dir), "%s", lh_config_str (config, "integrity/dir", ""));
    snprintf (self->origin, sizeof (self->origin), "%s",
              lh_config_str (config, "integrity/origin", "lighthouse/log"));
    self->capacity = (int) lh_config_int (config, "integrity/capacity", 1024);
    self->max_inflight = (int) lh_config_int (config, "integrity/inflight", 4);
    self->max_entry_events = (size_t) lh_config_int (config, "integrity/entry_events", 8192);
    if (self->max_entry_events < 1 || self->max_entry_events > ENTRY_MAX_EVENTS)
        self->max_entry_events = ENTRY_MAX_EVENTS;
    if (self->id == 0 || !*self->dir) {
        snprintf (err, err_size, "--id N (1..1000) and --dir DIR are required");
        replica_destroy (&self);
        return NULL;
    }
    if (s_parse_peers (self, lh_config_str (config, "integrity/peers", ""), err, err_size) != 0 ||
        s_load_keys (self, lh_config_str (config, "integrity/signer", ""),
                     lh_config_str (config, "integrity/keys", NULL), err, err_size) != 0) {
        replica_destroy (&self);
        return NULL;
    }
    char path[2100];
    snprintf (path, sizeof (path), "%s/raft", self->dir);
    if (zsys_dir_create ("%s", path) != 0) {
        snprintf (err, err_size, "cannot create %s", path);
        replica_destroy (&self);
        return NULL;
    }
    snprintf (path, sizeof (path), "%s/log.mdb", self->dir);
    size_t map_size = (size_t) lh_config_int (config, "integrity/map_size_mb", 65536) << 20;
    self->store = store_open (path, map_size, false, err, err_size);
    if (!self->store) {
        replica_destroy (&self);
        return NULL;
    }
    if (s_connect_broker (self, config, err, err_size) != 0 ||
        s_init_raft (self, config, err, err_size) != 0) {
        replica_destroy (&self);
        return NULL;
    }
    return self;
}

//  Before raft_start succeeded: closes Raft and ends the loop
static int
s_abandon (replica_t *self)
{
    uvzmq_destroy (&self->reader_watch);
    uvzmq_destroy (&self->writer_watch);
    self->exit_code = 1;
    self->stopping = true;
    raft_close (&self->raft, s_raft_closed);
    uv_run (&self->loop, UV_RUN_DEFAULT);
    return 1;
}

int
replica_run (replica_t *self)
{
    self->reader_watch = uvzmq_new (&self->loop, s_on_reader, self);
    self->writer_watch = uvzmq_new (&self->loop, s_on_writer, self);
    if (!self->reader_watch || !self->writer_watch) {
        lh_error ("cannot start: out of memory", "%s", "");
        return s_abandon (self);
    }
    int rc = raft_start (&self->raft);
    if (rc != 0) {
        lh_error ("cannot start raft", "error=\"%s\"", raft_errmsg (&self->raft));
        return s_abandon (self);
    }
    self->raft_started = true;
    lh_info ("replica started", "id=%u name=%s raft=%s dir=%s size=%llu", self->id, self->name,
             self->raft.address, self->dir, (unsigned long long) store_size (self->store));
    uv_timer_init (&self->loop, &self->tick);
    uv_timer_init (&self->loop, &self->sync);
    uv_timer_init (&self->loop, &self->monitor);
    self->tick.data = self->sync.data = self->monitor.data = self;
    uv_timer_start (&self->tick, s_on_tick, TICK_MS, TICK_MS);
    uv_timer_start (&self->sync, s_on_sync, SYNC_MS, SYNC_MS);
    uint64_t every = (uint64_t) lh_config_int (self->config, "integrity/monitor_ms", 10000);
    if (every)
        uv_timer_start (&self->monitor, replica_check_store, every, every);
    //  The writer's descriptor is watched once this replica leads (s_on_tick)
    s_rewatch (self->reader_watch, self->reader);
    uv_check_init (&self->loop, &self->propose);
    self->propose.data = self;
    uv_check_start (&self->propose, s_on_check);
    uv_signal_t *signals[] = {&self->sigterm, &self->sigint, &self->sighup};
    int signums[] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        uv_signal_init (&self->loop, signals[i]);
        signals[i]->data = self;
        uv_signal_start (signals[i], s_on_signal, signums[i]);
    }
    uv_run (&self->loop, UV_RUN_DEFAULT);
    return self->exit_code;
}

void
replica_destroy (replica_t **self_p)
{
    if (self_p && *self_p) {
        replica_t *self = *self_p;
        if (self->writer)
            replica_drop_pending (self, "the leader is stopping; retry");
        replica_free_result (&self->last_result);
        free (self->own_note);
        for (size_t i = 0; i < self->ncosigs; i++)
            free (self->cosigs[i].note);
        lh_worker_destroy (&self->writer);
        lh_worker_destroy (&self->reader);
        lh_client_destroy (&self->alerts);
        lh_metrics_destroy (&self->metrics);
        zsock_destroy (&self->sub);
        store_destroy (&self->store);
        note_key_destroy (&self->signer);
        for (size_t i = 0; i < self->nkeys; i++)
            note_key_destroy (&self->keys[i]);
        raft_configuration_close (&self->peers);
        zcert_destroy (&self->cert);
        codec_buf_destroy (&self->pending);
        free (self->members);
        if (self->reader_watch || self->writer_watch) {
            //  Only if the loop ended without s_stop: let the watchers' handles close
            uvzmq_destroy (&self->reader_watch);
            uvzmq_destroy (&self->writer_watch);
            uv_run (&self->loop, UV_RUN_NOWAIT);
        }
        if (self->loop_ready)
            uv_loop_close (&self->loop);
        free (self);
        *self_p = NULL;
    }
}
