/*  lh-hook -- `lh hook` for agents that call it on every tool use, fast.

    It links no ZeroMQ, no czmq and (where Debian has the archives) no
    shared library at all: it reads the hook JSON, packs the validate
    request and asks lh-hookd over a Unix socket, which holds a warm CURVE
    connection with the agent's key. Whatever lh-hook cannot do itself goes
    to `lh hook` (the `lh` beside it), with the same input:
      - options other than --agent (--env FILE, --broker...);
      - no lh-hookd answering at the socket, or one run by another user
        (than ours or root, or than LH_HOOKD_UID when it is set);
      - lh-hookd hanging up before it answered.
    The answer, and every way of failing closed, is hook.c's, as in lh hook.
*/
#include "hook.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

//  Beyond its deadline, how long lh-hookd (which answers "timeout" itself) may take
#define GRACE_MS 1000

//  The lh beside this program (the build tree puts both in cli/)
static int
s_lh_path (char *out, size_t size)
{
    char self[PATH_MAX];
    ssize_t n = readlink ("/proc/self/exe", self, sizeof (self) - 1);
    if (n <= 0)
        return -1;
    self[n] = 0;
    char *slash = strrchr (self, '/');
    if (!slash)
        return -1;
    *slash = 0;
    int len = snprintf (out, size, "%s/lh", self);
    return len > 0 && (size_t) len < size && access (out, X_OK) == 0 ? 0 : -1;
}

//  A connection to lh-hookd, served by our own uid or root; -1 otherwise.
static int
s_connect (void)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (hook_socket_path (addr.sun_path, sizeof (addr.sun_path)) != 0)
        return -1;
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct ucred cred;
    socklen_t len = sizeof (cred);
    //  Anyone can make a socket in /tmp; only ours may answer for us: our
    //  own user or root, or exactly the user LH_HOOKD_UID names (lh-hookd
    //  run as a user of its own, which the agent cannot impersonate)
    const char *want = getenv ("LH_HOOKD_UID");
    char *end = NULL;
    unsigned long uid = want && *want ? strtoul (want, &end, 10) : 0;
    bool pinned = want && *want;
    if ((pinned && (*end || uid > 0x7fffffffUL)) ||
        connect (fd, (struct sockaddr *) &addr, sizeof (addr)) != 0 ||
        getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
        (pinned ? cred.uid != (uid_t) uid : cred.uid != geteuid () && cred.uid != 0)) {
        close (fd);
        return -1;
    }
    return fd;
}

static int
s_send_all (int fd, const void *data, size_t size)
{
    const char *at = (const char *) data;
    while (size) {
        ssize_t n = send (fd, at, size, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        at += n, size -= (size_t) n;
    }
    return 0;
}

//  Reads size bytes by deadline: 1 done, 0 the peer hung up before any
//  byte, -1 error or cut short, -2 deadline.
static int
s_recv_all (int fd, void *data, size_t size, int64_t deadline)
{
    char *at = (char *) data;
    size_t got = 0;
    while (got < size) {
        int64_t left = deadline - hook_now_ms ();
        if (left <= 0)
            return -2;
        struct pollfd item = {.fd = fd, .events = POLLIN};
        int rc = poll (&item, 1, (int) left);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return rc == 0 ? -2 : -1;
        ssize_t n = recv (fd, at + got, size - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return got == 0 && n == 0 ? 0 : -1;
        got += (size_t) n;
    }
    return 1;
}

//  Asks lh-hookd on fd; answers, or returns HOOK_GO_ON when it hung up unanswered.
static int
s_ask (int fd, int timeout_ms, int wait_ms)
{
    codec_buf_t body;
    codec_buf_init (&body);
    int status = hook_request (&body, wait_ms);
    if (status != HOOK_GO_ON) {
        codec_buf_destroy (&body);
        return status;
    }
    uint8_t frame[8];
    hook_wire_put32 (frame, (uint32_t) (body.sbuf.size + 4));
    hook_wire_put32 (frame + 4, (uint32_t) timeout_ms);
    int rc = s_send_all (fd, frame, sizeof (frame));
    if (rc == 0)
        rc = s_send_all (fd, body.sbuf.data, body.sbuf.size);
    codec_buf_destroy (&body);
    if (rc != 0)
        return HOOK_GO_ON;
    int64_t deadline = hook_now_ms () + timeout_ms + GRACE_MS;
    uint8_t head[4];
    rc = s_recv_all (fd, head, 4, deadline);
    if (rc == 0)
        return HOOK_GO_ON;
    if (rc == -2)
        return hook_fail ("lh-hookd did not answer within the hook's deadline");
    uint32_t size = hook_wire_get32 (head);
    uint8_t *data = rc == 1 && size <= HOOK_WIRE_MAX ? (uint8_t *) malloc (size ? size : 1) : NULL;
    if (!data)
        return hook_fail ("lh-hookd sent a malformed reply frame");
    rc = s_recv_all (fd, data, size, deadline);
    codec_doc_t *doc = rc == 1 ? codec_doc_decode (data, size, NULL, NULL) : NULL;
    free (data);
    if (!doc)
        return hook_fail (rc == -2 ? "lh-hookd did not answer within the hook's deadline"
                                   : "lh-hookd sent a malformed reply");
    const msgpack_object *root = codec_doc_root (doc);
    char code[64], message[512];
    if (!codec_str_copy (codec_map_get (root, "code"), code, sizeof (code)))
        snprintf (code, sizeof (code), "malformed");
    if (!codec_str_copy (codec_map_get (root, "message"), message, sizeof (message)))
        message[0] = 0;
    const msgpack_object *reply = codec_map_get (root, "reply");
    status =
        hook_verdict (code, message, reply && reply->type == MSGPACK_OBJECT_MAP ? reply : NULL);
    codec_doc_destroy (&doc);
    return status;
}

int
main (int argc, char **argv)
{
    //  The arguments lh hook would get: ours but --agent before "hook", --agent after
    char *handoff[64];
    char lh[PATH_MAX];
    bool have_lh = s_lh_path (lh, sizeof (lh)) == 0;
    int n = 0, agent = -1;
    handoff[n++] = lh;
    for (int i = 1; i < argc && n < 60; i++) {
        if (strcmp (argv[i], "--agent") == 0 && i + 1 < argc)
            agent = i++;
        else if (strncmp (argv[i], "--agent=", 8) != 0)
            handoff[n++] = argv[i];
        else
            agent = i;
    }
    handoff[n++] = (char *) "hook";
    if (agent > 0) {
        handoff[n++] = argv[agent];
        if (strcmp (argv[agent], "--agent") == 0)
            handoff[n++] = argv[agent + 1];
    }
    handoff[n] = NULL;

    for (int i = 1; i < argc; i++)
        if (strcmp (argv[i], "--version") == 0) {
            //  Exit 2, as --help does: never an answer a hook caller takes as "go ahead"
            printf ("lh-hook %s\n", LH_HOOK_VERSION);
            return 2;
        }
    int status = hook_begin (&argc, argv, 0);
    if (status == HOOK_GO_ON && n >= 60)
        status = hook_fail ("too many arguments");
    int fd = status == HOOK_GO_ON && argc == 1 ? s_connect () : -1;
    if (status == HOOK_GO_ON && fd >= 0) {
        int timeout_ms, wait_ms;
        status = hook_deadline (0, &timeout_ms, &wait_ms);
        if (status == HOOK_GO_ON)
            status = s_ask (fd, timeout_ms, wait_ms);
    }
    if (fd >= 0)
        close (fd);
    if (status == HOOK_GO_ON) {
        if (have_lh)
            hook_handoff (lh, handoff);
        char why[PATH_MAX + 128];
        snprintf (why, sizeof (why), "no lh-hookd answered, and lh hook cannot run: %s",
                  have_lh ? strerror (errno) : "no lh beside lh-hook");
        status = hook_fail (why);
    }
    hook_end ();
    return status;
}
