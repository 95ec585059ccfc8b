/*  replica_sign -- the checkpoint signatures replicas exchange.

    Each replica signs the tree head of every entry it applies and
    publishes the note on "events.read.checkpoint" (again every second:
    PUB drops what is sent before a peer subscribes). Peers merge each
    signature they can verify into their own checkpoint for that size, so
    that a checkpoint comes to carry every replica's signature; a peer that
    signed a different root for a size raises a divergence alert.
*/
#include "replica_internal.h"

#include "lh_log.h"

void
replica_publish_signature (replica_t *self, uint64_t size, const char *note)
{
    if (!self->reader)
        return;
    codec_buf_t buf;
    codec_buf_init (&buf);
    msgpack_pack_map (&buf.pk, 3);
    codec_pack_kv_str (&buf.pk, "replica", self->name);
    codec_pack_kv_u64 (&buf.pk, "size", size);
    codec_pack_kv_str (&buf.pk, "checkpoint", note);
    if (lh_worker_publish (self->reader, "events.read.checkpoint", buf.sbuf.data, buf.sbuf.size) ==
        0)
        self->stats.cosigs_sent++;
    codec_buf_destroy (&buf);
}

//  Notes merged in this round, by size, written in one transaction
typedef struct {
    uint64_t sizes[COSIG_PENDING_MAX];
    char *notes[COSIG_PENDING_MAX];
    size_t count;
} merged_t;

//  Our note for a size: one merged earlier in this round, or the stored one
static char *
s_our_note (replica_t *self, merged_t *merged, uint64_t size, size_t *slot)
{
    for (size_t i = 0; i < merged->count; i++)
        if (merged->sizes[i] == size) {
            *slot = i;
            return strdup (merged->notes[i]);
        }
    char *note = NULL;
    uint64_t at;
    *slot = merged->count;
    return store_checkpoint (self->store, size, &note, &at) == 0 ? note : NULL;
}

static void
s_merge_signature (replica_t *self, cosig_t *cosig, merged_t *merged)
{
    size_t slot;
    char *mine = s_our_note (self, merged, cosig->size, &slot);
    if (!mine)
        return;
    //  One verification: the peer's line over its text. Ours needs none here
    char *their_body = NULL, *my_body = NULL;
    int valid = note_verify (cosig->note, self->keys, self->nkeys, NULL, &their_body);
    note_verify (mine, NULL, 0, NULL, &my_body);
    if (valid <= 0 || !their_body) {
        self->stats.cosigs_bad++;
        replica_raise_alert (self, VERIFY_SIGNATURE, cosig->size, cosig->peer,
                             "a peer's checkpoint signature does not verify");
    } else if (!my_body || strcmp (my_body, their_body) != 0)
        replica_raise_alert (self, VERIFY_DIVERGENCE, cosig->size, cosig->peer,
                             "a peer signed a different tree head for this size");
    else {
        char *lines[NOTE_MAX_SIGS * 2];
        int mine_n = note_signature_lines (mine, lines, NOTE_MAX_SIGS);
        int theirs_n =
            mine_n >= 0 ? note_signature_lines (cosig->note, lines + mine_n, NOTE_MAX_SIGS) : -1;
        char *note = mine_n >= 0 && theirs_n >= 0 ? note_assemble (my_body, (const char **) lines,
                                                                   (size_t) (mine_n + theirs_n))
                                                  : NULL;
        if (note && strcmp (note, mine) != 0) {
            if (slot < merged->count)
                free (merged->notes[slot]);
            else
                merged->sizes[merged->count++] = cosig->size;
            merged->notes[slot] = note;
            note = NULL;
            self->stats.cosigs_merged++;
        }
        free (note);
        for (int i = 0; i < (mine_n > 0 ? mine_n : 0) + (theirs_n > 0 ? theirs_n : 0); i++)
            free (lines[i]);
    }
    free (their_body);
    free (my_body);
    free (mine);
}

static void
s_cosig_drain (replica_t *self)
{
    //  Signatures for sizes this replica has applied by now
    if (self->ncosigs == 0)
        return;
    //  On the heap: 64 KiB. Without it the signatures wait for the next round
    merged_t *merged = (merged_t *) calloc (1, sizeof (merged_t));
    if (!merged) {
        lh_warn ("out of memory: peer signatures wait", "count=%zu", self->ncosigs);
        return;
    }
    size_t kept = 0;
    for (size_t i = 0; i < self->ncosigs; i++) {
        cosig_t *cosig = &self->cosigs[i];
        if (cosig->size <= store_size (self->store)) {
            s_merge_signature (self, cosig, merged);
            free (cosig->note);
        } else
            self->cosigs[kept++] = *cosig;
    }
    self->ncosigs = kept;
    if (merged->count &&
        store_update_checkpoints (self->store, merged->sizes, merged->notes, merged->count) != 0)
        lh_warn ("cannot store peer signatures", "count=%zu", merged->count);
    for (size_t i = 0; i < merged->count; i++)
        free (merged->notes[i]);
    free (merged);
}

void
replica_receive_signatures (replica_t *self)
{
    while (self->sub && (zsock_events (self->sub) & ZMQ_POLLIN)) {
        zmsg_t *msg = zmsg_recv (self->sub);
        if (!msg)
            break; //  interrupted
        zframe_t *topic = zmsg_first (msg);
        zframe_t *frame = zmsg_next (msg);
        codec_doc_t *doc =
            frame ? codec_doc_decode (zframe_data (frame), zframe_size (frame), NULL, NULL) : NULL;
        const msgpack_object *root = doc ? codec_doc_root (doc) : NULL;
        char peer[NOTE_MAX_NAME + 1] = "";
        int64_t size = 0;
        const char *note;
        size_t len;
        char why[128];
        if (root && zframe_streq (topic, "events.read.checkpoint") &&
            codec_str_copy (codec_map_get (root, "replica"), peer, sizeof (peer)) &&
            strcmp (peer, self->name) != 0 &&
            codec_get_int (root, "size", true, 1, INT64_MAX, &size, why, sizeof (why)) == LH_OK &&
            codec_get_str (root, "checkpoint", true, 65536, &note, &len, why, sizeof (why)) ==
                LH_OK &&
            self->ncosigs < COSIG_PENDING_MAX) {
            //  Without memory the signature is dropped: the peer sends it again
            cosig_t *cosig = &self->cosigs[self->ncosigs];
            cosig->size = (uint64_t) size;
            cosig->note = strndup (note, len);
            snprintf (cosig->peer, sizeof (cosig->peer), "%s", peer);
            if (cosig->note)
                self->ncosigs++;
        }
        codec_doc_destroy (&doc);
        zmsg_destroy (&msg);
    }
    s_cosig_drain (self);
}
