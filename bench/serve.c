/*  serve -- the baseline: a ROUTER echo server with no broker. See bench.h.

    Runs in its own process (lh-bench --serve-direct ...) so that it has
    its own ZeroMQ context and I/O thread, like the broker. It speaks the
    client side of 7/MDP, so the very same lh_client talks to it: it
    receives [identity, "", MDPC01, service, body] and answers with the
    reply lh-echo would produce (the body decoded and checked by the codec,
    the reply packed with the echoed body and a caller map of the same
    shape and size), on the same socket options as the broker's frontend.
*/
#include "bench.h"

#include "codec.h"
#include "lh_proto.h"

#include <errno.h>

#define MAX_PARTS 8

static void
s_pack_reply (msgpack_sbuffer *buf, const void *data, size_t size)
{
    lh_err_t err;
    const char *why;
    msgpack_packer pk;
    msgpack_packer_init (&pk, buf, msgpack_sbuffer_write);
    codec_doc_t *doc = codec_doc_decode (data, size, &err, &why);
    if (!doc) {
        codec_pack_error (&pk, NULL, err, why);
        return;
    }
    const msgpack_object *body = codec_doc_root (doc);
    codec_pack_ok_head (&pk, codec_map_get (body, "id"), 2);
    codec_pack_str (&pk, "echo");
    msgpack_pack_object (&pk, *body);
    //  What the broker's caller frame gives lh-echo for a bench client
    codec_pack_str (&pk, "caller");
    msgpack_pack_map (&pk, 3);
    codec_pack_str (&pk, "agent");
    codec_pack_str (&pk, "c0");
    codec_pack_str (&pk, "role");
    codec_pack_str (&pk, "agent");
    codec_pack_str (&pk, "key");
    codec_pack_str (&pk, "0000000000000000000000000000000000000000");
    codec_doc_destroy (&doc);
}

int
serve_direct_main (int argc, char **argv)
{
    if (argc < 3) {
        fprintf (stderr, "usage: lh-bench --serve-direct ENDPOINT [SECRET_CERT]\n");
        return 2;
    }
    const char *endpoint = argv[2];
    const char *cert_path = argc > 3 ? argv[3] : NULL;
    zsys_init ();
    zsys_set_logsystem (false);
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    zsock_set_sndhwm (router, 1000);
    zsock_set_rcvhwm (router, 1000);
    zsock_set_linger (router, 0);
    zsock_set_router_mandatory (router, 1);
    zsock_set_maxmsgsize (router, 2 * LH_MAX_BODY + 4096);
    zsock_set_heartbeat_ivl (router, 2000);
    zsock_set_heartbeat_timeout (router, 6000);
    zsock_set_heartbeat_ttl (router, 6000);
    zcert_t *cert = NULL;
    if (cert_path) {
        cert = zcert_load (cert_path);
        if (!cert) {
            fprintf (stderr, "serve-direct: cannot load %s\n", cert_path);
            zsock_destroy (&router);
            return 1;
        }
        zcert_apply (cert, router);
        zsock_set_curve_server (router, 1);
    }
    if (zsock_bind (router, "%s", endpoint) < 0) {
        fprintf (stderr, "serve-direct: cannot bind %s: %s\n", endpoint, zmq_strerror (errno));
        zcert_destroy (&cert);
        zsock_destroy (&router);
        return 1;
    }
    void *handle = zsock_resolve (router);
    zmq_msg_t parts[MAX_PARTS];
    for (int i = 0; i < MAX_PARTS; i++)
        zmq_msg_init (&parts[i]);
    uint64_t served = 0, malformed = 0;
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    while (!zsys_interrupted) {
        int count = 0;
        bool more = true, failed = false;
        while (more) {
            zmq_msg_t *part = &parts[count < MAX_PARTS ? count : MAX_PARTS - 1];
            if (zmq_msg_recv (part, handle, 0) == -1) {
                failed = true;
                break;
            }
            more = zmq_msg_more (part);
            count++;
        }
        if (failed)
            continue; //  EINTR: check for interrupt
        //  [identity, "", MDPC01, service, body]
        if (count != 5 || zmq_msg_size (&parts[1]) != 0 || zmq_msg_size (&parts[2]) != 6 ||
            memcmp (zmq_msg_data (&parts[2]), MDPC_CLIENT, 6) != 0) {
            malformed++;
            continue;
        }
        buf.size = 0;
        s_pack_reply (&buf, zmq_msg_data (&parts[4]), zmq_msg_size (&parts[4]));
        if (zmq_send (handle, zmq_msg_data (&parts[0]), zmq_msg_size (&parts[0]),
                      ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1)
            continue; //  peer gone
        zmq_send (handle, "", 0, ZMQ_SNDMORE);
        zmq_send (handle, MDPC_CLIENT, 6, ZMQ_SNDMORE);
        zmq_send (handle, zmq_msg_data (&parts[3]), zmq_msg_size (&parts[3]), ZMQ_SNDMORE);
        zmq_send (handle, buf.data, buf.size, 0);
        served++;
    }
    msgpack_sbuffer_destroy (&buf);
    for (int i = 0; i < MAX_PARTS; i++)
        zmq_msg_close (&parts[i]);
    fprintf (stderr, "serve-direct: served=%llu malformed=%llu\n", (unsigned long long) served,
             (unsigned long long) malformed);
    zcert_destroy (&cert);
    zsock_destroy (&router);
    return 0;
}
