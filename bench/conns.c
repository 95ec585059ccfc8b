/*  conns -- connection holders for the many-clients test. See bench.h.

    lh-bench --hold ENDPOINT SERVER_KEY KEYS_FILE FIRST COUNT WINDOW TIMEOUT_MS

    Opens COUNT CURVE DEALER sockets with the SDK's lh_connect_dealer (the
    settings every Lighthouse client uses), each with its own key from
    lines FIRST.. of KEYS_FILE ("public secret" in Z85), at most WINDOW
    handshakes at a time. Each socket sends one "echo" request and waits
    for its reply, so the connection is authenticated and in use. Then it
    prints "held OK FAILED MS" on stdout and keeps every socket open until
    stdin closes. A socket costs two descriptors (its mailbox and its TCP
    connection), which is why the parent spreads the clients over several
    of these processes.
*/
#include "bench.h"

#include "codec.h"
#include "lh_proto.h"

#include <errno.h>
#include <poll.h>
#include <unistd.h>

typedef struct {
    zsock_t *sock;
    uint64_t started_ns;
    int state; //  0 not opened, 1 waiting, 2 done, 3 failed
} held_t;

static bool
s_reply_ok (zmsg_t *msg)
{
    //  ["", MDPC01, service, body]
    if (zmsg_size (msg) != 4)
        return false;
    zframe_t *body = zmsg_last (msg);
    codec_doc_t *doc = codec_doc_decode (zframe_data (body), zframe_size (body), NULL, NULL);
    const msgpack_object *ok = doc ? codec_map_get (codec_doc_root (doc), "ok") : NULL;
    bool result = ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean;
    codec_doc_destroy (&doc);
    return result;
}

static int
s_send_request (zsock_t *sock, uint64_t id)
{
    codec_buf_t buf;
    codec_buf_init (&buf);
    msgpack_pack_map (&buf.pk, 2);
    codec_pack_str (&buf.pk, "id");
    msgpack_pack_uint64 (&buf.pk, id);
    codec_pack_str (&buf.pk, "payload");
    codec_pack_str (&buf.pk, "hold");
    void *handle = zsock_resolve (sock);
    int rc = zmq_send (handle, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    if (rc != -1) {
        zmq_send (handle, MDPC_CLIENT, strlen (MDPC_CLIENT), ZMQ_SNDMORE);
        zmq_send (handle, "echo", 4, ZMQ_SNDMORE);
        rc = zmq_send (handle, buf.sbuf.data, buf.sbuf.size, 0);
    }
    codec_buf_destroy (&buf);
    return rc == -1 ? -1 : 0;
}

int
conns_hold_main (int argc, char **argv)
{
    if (argc < 9) {
        fprintf (stderr, "usage: lh-bench --hold ENDPOINT SERVER_KEY KEYS_FILE FIRST COUNT "
                         "WINDOW TIMEOUT_MS\n");
        return 2;
    }
    const char *endpoint = argv[2];
    const char *server_key = argv[3];
    const char *keys_path = argv[4];
    int first = atoi (argv[5]);
    int count = atoi (argv[6]);
    int window = atoi (argv[7]);
    int timeout_ms = atoi (argv[8]);
    if (count <= 0 || window <= 0 || timeout_ms <= 0)
        return 2;
    zsys_init ();
    zsys_set_logsystem (false);
    zsys_set_max_sockets (0);
    char (*pub)[41] = calloc ((size_t) count, 41);
    char (*sec)[41] = calloc ((size_t) count, 41);
    held_t *held = (held_t *) calloc ((size_t) count, sizeof (held_t));
    zmq_pollitem_t *items = (zmq_pollitem_t *) calloc ((size_t) window, sizeof (zmq_pollitem_t));
    int *active = (int *) calloc ((size_t) window, sizeof (int));
    int loaded = proc_load_keys (keys_path, first, count, pub, sec);
    if (loaded != count) {
        fprintf (stderr, "hold: %s has %d keys from %d, wanted %d\n", keys_path, loaded, first,
                 count);
        return 1;
    }
    uint64_t t0 = bench_now_ns ();
    uint64_t give_up = t0 + (uint64_t) timeout_ms * 1000000ULL;
    int next = 0, nactive = 0, ok = 0, failed = 0;
    while (ok + failed < count && !zsys_interrupted) {
        uint64_t now = bench_now_ns ();
        //  Open more while the window has room
        while (nactive < window && next < count && now < give_up) {
            held_t *h = &held[next];
            uint8_t pub_bin[32], sec_bin[32];
            zcert_t *cert = NULL;
            if (zmq_z85_decode (pub_bin, pub[next]) && zmq_z85_decode (sec_bin, sec[next]))
                cert = zcert_new_from (pub_bin, sec_bin);
            lh_connect_t conn = {.endpoint = endpoint, .server_key = server_key, .cert = cert};
            h->sock = cert ? lh_connect_dealer (&conn) : NULL;
            zcert_destroy (&cert);
            if (!h->sock || s_send_request (h->sock, (uint64_t) next + 1) != 0) {
                fprintf (stderr, "hold: cannot open client %d: %s\n", first + next,
                         zmq_strerror (errno));
                h->state = 3;
                failed++;
                next++;
                continue;
            }
            h->state = 1;
            h->started_ns = now;
            active[nactive++] = next++;
        }
        if (nactive == 0) {
            if (next >= count || now >= give_up)
                break;
            continue;
        }
        for (int i = 0; i < nactive; i++)
            items[i] = (zmq_pollitem_t){zsock_resolve (held[active[i]].sock), 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll (items, nactive, 50);
        if (rc == -1 && errno != EINTR)
            break;
        now = bench_now_ns ();
        for (int i = 0; i < nactive; i++) {
            held_t *h = &held[active[i]];
            if (items[i].revents & ZMQ_POLLIN) {
                zmsg_t *msg = zmsg_recv (h->sock);
                bool good = msg && s_reply_ok (msg);
                zmsg_destroy (&msg);
                h->state = good ? 2 : 3;
            } else if (now >= give_up)
                h->state = 3;
            if (h->state == 3) {
                failed++;
                //  A failed one is closed, so what stays open is what we count
                zsock_destroy (&h->sock);
            } else if (h->state == 2)
                ok++;
        }
        //  Compact the active list
        int kept = 0;
        for (int i = 0; i < nactive; i++)
            if (held[active[i]].state == 1)
                active[kept++] = active[i];
        nactive = kept;
    }
    //  What was never answered or never opened counts as failed
    for (int i = 0; i < count; i++)
        if (held[i].state == 0 || held[i].state == 1) {
            failed++;
            zsock_destroy (&held[i].sock);
        }
    printf ("held %d %d %llu\n", ok, failed,
            (unsigned long long) ((bench_now_ns () - t0) / 1000000));
    fflush (stdout);

    //  Hold until the parent closes our stdin
    char byte;
    while (!zsys_interrupted) {
        ssize_t n = read (0, &byte, 1);
        if (n == 0 || (n < 0 && errno != EINTR))
            break;
    }
    for (int i = 0; i < count; i++)
        zsock_destroy (&held[i].sock);
    free (pub);
    free (sec);
    free (held);
    free (items);
    free (active);
    return 0;
}
