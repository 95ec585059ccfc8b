/*  lh chaos -- orders for lh-chaos, the fault proxy (chaos/main.c): one
    text request on its control socket, its JSON reply printed. */
#include "cli.h"

const char cli_chaos_usage[] =
    "Usage: lh chaos [--control EP] add LINK NAME KIND DIRECTION [key=value ...]\n"
    "       lh chaos [--control EP] remove LINK NAME\n"
    "       lh chaos [--control EP] clear LINK|all\n"
    "       lh chaos [--control EP] list\n"
    "\n"
    "Changes what a link of lh-chaos does to its bytes, at once. KIND and its keys:\n"
    "  latency   ms=L jitter=J     each read delivered L +- J ms later, in order\n"
    "  bandwidth rate=B            at most B bytes a second\n"
    "  slicer    bytes=S delay=D   reads cut into S-byte pieces, D ms apart\n"
    "  blackhole                   bytes dropped, the connection left open\n"
    "  limit     bytes=N           the connection closed after N bytes\n"
    "  reset                       every connection reset (RST), now and on accept\n"
    "DIRECTION is up (client to upstream), down or both. Prints the links and their\n"
    "toxics as JSON. --control is lh-chaos's control endpoint (default $LH_CHAOS, else\n"
    "tcp://127.0.0.1:7700). Exit 0 on success, 1 when lh-chaos refused or did not answer\n"
    "within 3 s.\n";

int
cli_chaos (cli_t *cli, int argc, char **argv)
{
    (void) cli;
    const char *endpoint = getenv ("LH_CHAOS");
    int first = 1;
    if (argc > 2 && streq (argv[1], "--control")) {
        endpoint = argv[2];
        first = 3;
    }
    if (!endpoint || !*endpoint)
        endpoint = "tcp://127.0.0.1:7700";
    if (first >= argc)
        return cli_usage_error ("chaos: add, remove, clear or list");
    char command[1024];
    size_t used = 0;
    for (int i = first; i < argc; i++) {
        size_t len = strlen (argv[i]);
        if (strchr (argv[i], ' ') || used + len + 2 > sizeof (command))
            return cli_usage_error ("chaos: words without spaces, 1 KiB in all");
        if (used)
            command[used++] = ' ';
        memcpy (command + used, argv[i], len);
        used += len;
    }
    command[used] = 0;
    zsock_t *req = zsock_new (ZMQ_REQ);
    zsock_set_rcvtimeo (req, 3000);
    zsock_set_linger (req, 0);
    if (!req || zsock_connect (req, "%s", endpoint) < 0) {
        fprintf (stderr, "lh chaos: cannot connect to %s\n", endpoint);
        zsock_destroy (&req);
        return 1;
    }
    zstr_send (req, command);
    char *reply = zstr_recv (req);
    zsock_destroy (&req);
    if (!reply) {
        fprintf (stderr, "lh chaos: no answer from %s\n", endpoint);
        return 1;
    }
    printf ("%s\n", reply);
    //  lh-chaos answers {"ok":false,...} to what it refuses
    int rc = strncmp (reply, "{\"ok\":true", 10) == 0 ? 0 : 1;
    zstr_free (&reply);
    return rc;
}
