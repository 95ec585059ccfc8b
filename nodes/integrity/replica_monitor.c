/*  replica_monitor -- the integrity monitor and the alerts it raises.

    A pass re-verifies the whole store (every leaf, every checkpoint's root
    and signatures) in a libuv worker thread, at most a tenth of a core.
    An alert, from the monitor or from a peer's bad signature, is logged
    and appended as an integrity.alert event once, and notified on
    "events.read.alert" every time it is seen.
*/
#include "replica_internal.h"

#include "event.h"
#include "lh_log.h"

void
replica_raise_alert (replica_t *self, verify_kind_t kind, uint64_t seq, const char *peer,
                     const char *detail)
{
    //  One log line and one event per violation, however many rounds or
    //  republished signatures show it; the notification (best effort, like
    //  all of PUB) is repeated each time, so a late subscriber hears of it
    bool known = false;
    for (size_t i = 0; i < REPORTED_MAX && !known; i++) {
        reported_t *seen = &self->reported[i];
        known = seen->kind == kind && seen->seq == seq && streq (seen->peer, peer ? peer : "");
    }
    const char *kind_name = verify_kind_name (kind);
    if (!known) {
        reported_t *slot = &self->reported[self->reported_next++ % REPORTED_MAX];
        slot->kind = kind;
        slot->seq = seq;
        snprintf (slot->peer, sizeof (slot->peer), "%s", peer ? peer : "");
        self->stats.alerts++;
        lh_error ("integrity alert", "replica=%s kind=%s seq=%llu peer=%s detail=\"%s\"",
                  self->name, kind_name, (unsigned long long) seq, peer ? peer : "-", detail);
    }
    codec_buf_t data;
    codec_buf_init (&data);
    msgpack_pack_map (&data.pk, peer ? 5 : 4);
    codec_pack_kv_str (&data.pk, "replica", self->name);
    codec_pack_kv_str (&data.pk, "kind", kind_name);
    codec_pack_kv_u64 (&data.pk, "seq", seq);
    codec_pack_kv_str (&data.pk, "detail", detail);
    if (peer) {
        codec_pack_kv_str (&data.pk, "peer", peer);
    }
    if (self->reader)
        lh_worker_publish (self->reader, "events.read.alert", data.sbuf.data, data.sbuf.size);
    //  And into the log itself, once (the client id would make a repeat a duplicate)
    if (self->alerts && !known) {
        codec_buf_t req;
        codec_buf_init (&req);
        event_pack_append (&req.pk, 1);
        msgpack_pack_map (&req.pk, 3);
        codec_pack_kv_str (&req.pk, "type", "integrity.alert");
        char client_id[EVENT_MAX_REF + 1];
        snprintf (client_id, sizeof (client_id), "alert-%u-%s-%llu", self->id, kind_name,
                  (unsigned long long) seq);
        codec_pack_kv_str (&req.pk, "client_id", client_id);
        codec_pack_str (&req.pk, "data");
        msgpack_sbuffer_write (&req.sbuf, data.sbuf.data, data.sbuf.size);
        const char *why;
        lh_client_send (self->alerts, "events", req.sbuf.data, req.sbuf.size, NULL, &why);
        codec_buf_destroy (&req);
    }
    codec_buf_destroy (&data);
}

static void
s_monitor_work (uv_work_t *work)
{
    replica_t *self = (replica_t *) work->data;
    //  Results go to fields the loop reads only once the pass is done
    int64_t started = zclock_mono ();
    verify_store (self->store, self->keys, self->nkeys, 1, self->origin, &self->monitor_pass);
    self->monitor_pass_ms = zclock_mono () - started;
}

static void
s_monitor_done (uv_work_t *work, int status)
{
    replica_t *self = (replica_t *) work->data;
    self->monitor_busy = false;
    self->monitor_result = self->monitor_pass;
    self->monitor_ms = self->monitor_pass_ms;
    //  A full pass over a large log is seconds of CPU: at most a tenth of a core
    self->monitor_next = zclock_mono () + 9 * self->monitor_ms;
    if (status != 0)
        return;
    self->stats.monitor_runs++;
    const verify_result_t *result = &self->monitor_result;
    if (result->kind != VERIFY_OK)
        replica_raise_alert (self, result->kind, result->seq, NULL, result->detail);
    else
        lh_debug ("monitor: store verified", "events=%llu checkpoints=%llu",
                  (unsigned long long) result->leaves, (unsigned long long) result->checkpoints);
}

void
replica_check_store (uv_timer_t *timer)
{
    replica_t *self = (replica_t *) timer->data;
    if (self->monitor_busy || self->stopping || zclock_mono () < self->monitor_next)
        return;
    self->monitor_busy = true;
    self->monitor_work.data = self;
    uv_queue_work (&self->loop, &self->monitor_work, s_monitor_work, s_monitor_done);
}
