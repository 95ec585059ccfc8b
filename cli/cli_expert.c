/*  lh expert serve -- a program as an automated expert (docs/EXPERT.md 4).

    Serves expert.<capability> on the broker's backend. Each review is
    written to PROGRAM's stdin as one JSON object; PROGRAM answers one JSON
    object on stdout: {"verdict": "allow" | "deny", "reason": "..."}. The
    verdict is then given to lh-expert with decide, as this key (the broker
    authenticates it: role expert), exactly as a person's would be.

    PROGRAM is run directly (no shell), with a deadline. A crash, a
    non-zero exit, a timeout, output over 64 KiB or anything but such an
    object is a deny naming the fault: a reviewer that fails never allows.
*/
#include "cli.h"

#include "codec.h"
#include "jsonpack.h"
#include "lh_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUTPUT_MAX (64 * 1024)

const char cli_expert_usage[] =
    "Usage: lh expert serve --capability C --exec PROGRAM --backend EP [--timeout MS]\n"
    "                       [--heartbeat MS]\n"
    "\n"
    "Serves expert.C as an automated expert: each escalation offered to C is written to\n"
    "PROGRAM's stdin as JSON, and PROGRAM answers {\"verdict\": \"allow\"|\"deny\", \"reason\":\n"
    "\"...\"} on stdout, which is given as this key's verdict (LH_CERT must be an expert\n"
    "key). --backend is the broker's worker endpoint (its frontend stays LH_BROKER).\n"
    "A crash, a non-zero exit, no answer within --timeout (default 30000 ms), or output\n"
    "that is not such an object is a deny naming the fault. --heartbeat is the broker's\n"
    "MDP heartbeat (default 2500 ms). Runs until SIGINT/SIGTERM.\n";

//  Runs program with input on stdin; its stdout (NUL-terminated) into out.
//  0, or -1 with the fault in why.
static int
s_run (const char *program, const char *input, int timeout_ms, char *out, size_t out_size,
       char *why, size_t why_size)
{
    int in[2], outp[2];
    if (pipe2 (in, O_CLOEXEC) != 0 || pipe2 (outp, O_CLOEXEC) != 0) {
        snprintf (why, why_size, "cannot make pipes: %s", strerror (errno));
        return -1;
    }
    pid_t pid = fork ();
    if (pid < 0) {
        snprintf (why, why_size, "cannot fork: %s", strerror (errno));
        close (in[0]), close (in[1]), close (outp[0]), close (outp[1]);
        return -1;
    }
    if (pid == 0) {
        dup2 (in[0], 0);
        dup2 (outp[1], 1);
        execl (program, program, (char *) NULL);
        _exit (127);
    }
    close (in[0]);
    close (outp[1]);
    //  The review is small (a request is bounded); a reader that never
    //  reads gets SIGPIPE-free EPIPE and the deadline below
    signal (SIGPIPE, SIG_IGN);
    size_t len = strlen (input);
    for (size_t done = 0; done < len;) {
        ssize_t n = write (in[1], input + done, len - done);
        if (n <= 0)
            break;
        done += (size_t) n;
    }
    close (in[1]);
    size_t used = 0;
    int64_t until = zclock_mono () + timeout_ms;
    bool timed_out = false, too_long = false;
    while (true) {
        int64_t left = until - zclock_mono ();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd p = {outp[0], POLLIN, 0};
        int r = poll (&p, 1, (int) left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            timed_out = r == 0;
            break;
        }
        if (used + 1 >= out_size) {
            too_long = true;
            break;
        }
        ssize_t n = read (outp[0], out + used, out_size - 1 - used);
        if (n <= 0)
            break;
        used += (size_t) n;
    }
    out[used] = 0;
    close (outp[0]);
    if (timed_out || too_long)
        kill (pid, SIGKILL);
    int status = 0;
    waitpid (pid, &status, 0);
    if (timed_out) {
        snprintf (why, why_size, "no answer within %d ms", timeout_ms);
        return -1;
    }
    if (too_long) {
        snprintf (why, why_size, "answer over %d bytes", OUTPUT_MAX);
        return -1;
    }
    if (WIFSIGNALED (status)) {
        snprintf (why, why_size, "killed by signal %d", WTERMSIG (status));
        return -1;
    }
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
        snprintf (why, why_size, "exited %d", WIFEXITED (status) ? WEXITSTATUS (status) : -1);
        return -1;
    }
    return 0;
}

//  The verdict in PROGRAM's output; false with the fault in why
static bool
s_verdict (const char *output, bool *allow, char *reason, size_t reason_size, char *why,
           size_t why_size)
{
    msgpack_sbuffer packed;
    msgpack_sbuffer_init (&packed);
    char err[128];
    bool ok = false;
    if (jsonpack_from_json (output, strlen (output), &packed, err, sizeof (err)) != 0)
        snprintf (why, why_size, "answer is not JSON: %s", err);
    else {
        msgpack_unpacked u;
        msgpack_unpacked_init (&u);
        size_t off = 0;
        if (msgpack_unpack_next (&u, packed.data, packed.size, &off) == MSGPACK_UNPACK_SUCCESS &&
            u.data.type == MSGPACK_OBJECT_MAP) {
            const msgpack_object *v = codec_map_get (&u.data, "verdict");
            if (codec_str_eq (v, "allow") || codec_str_eq (v, "deny")) {
                *allow = codec_str_eq (v, "allow");
                if (!codec_str_copy (codec_map_get (&u.data, "reason"), reason, reason_size))
                    snprintf (reason, reason_size, "(no reason given)");
                ok = true;
            } else
                snprintf (why, why_size, "answer has no verdict \"allow\" or \"deny\"");
        } else
            snprintf (why, why_size, "answer is not a JSON object");
        msgpack_unpacked_destroy (&u);
    }
    msgpack_sbuffer_destroy (&packed);
    return ok;
}

//  Gives the verdict on escalation to lh-expert as this key
static void
s_decide (cli_t *cli, const char *escalation, bool allow, const char *reason)
{
    codec_buf_t body;
    codec_buf_init (&body);
    msgpack_pack_map (&body.pk, 4);
    codec_pack_kv_str (&body.pk, "op", "decide");
    codec_pack_kv_str (&body.pk, "escalation", escalation);
    codec_pack_kv_str (&body.pk, "decision", allow ? "allow" : "deny");
    codec_pack_kv_str (&body.pk, "reason", reason);
    lh_client_t *client = cli_client (cli);
    lh_reply_t *reply =
        client ? lh_client_call (client, "expert", body.sbuf.data, body.sbuf.size) : NULL;
    if (reply && !lh_reply_ok (reply))
        cli_print_error (reply);
    else if (reply)
        fprintf (stderr, "lh expert: %s %s\n", allow ? "allowed" : "denied", escalation);
    lh_reply_destroy (&reply);
    lh_client_destroy (&client);
    codec_buf_destroy (&body);
}

//  One review: run the program, answer the offer, give the verdict
static void
s_review (cli_t *cli, lh_worker_t *worker, lh_request_t **request_p, const char *program,
          int timeout_ms)
{
    lh_request_t *request = *request_p;
    const msgpack_object *body = lh_request_body (request);
    char escalation[40] = "";
    codec_str_copy (codec_map_get (body, "escalation"), escalation, sizeof (escalation));
    if (strlen (escalation) != 32) {
        lh_worker_reply_error (worker, request_p, LH_E_BAD_REQUEST,
                               "a review names its escalation (32 characters)");
        return;
    }
    char *input = jsonpack_to_json (body, false);
    //  Accepted at once: the review may take longer than the broker's
    //  deadline for the offer, and the verdict goes to lh-expert as ours
    codec_buf_t reply;
    codec_buf_init (&reply);
    codec_pack_ok_head (&reply.pk, lh_request_id (request), 1);
    codec_pack_kv_bool (&reply.pk, "accepted", true);
    lh_worker_reply (worker, request_p, reply.sbuf.data, reply.sbuf.size);
    codec_buf_destroy (&reply);
    char *output = (char *) malloc (OUTPUT_MAX + 1);
    char why[256] = "", reason[1025] = "";
    bool allow = false;
    bool answered =
        input && output &&
        s_run (program, input, timeout_ms, output, OUTPUT_MAX + 1, why, sizeof (why)) == 0 &&
        s_verdict (output, &allow, reason, sizeof (reason), why, sizeof (why));
    if (!answered) {
        allow = false;
        snprintf (reason, sizeof (reason), "automated reviewer %s failed: %s; failing closed",
                  program, why[0] ? why : "out of memory");
    }
    free (input);
    free (output);
    s_decide (cli, escalation, allow, reason);
}

int
cli_expert (cli_t *cli, int argc, char **argv)
{
    if (argc < 2 || !streq (argv[1], "serve"))
        return cli_usage_error ("expert: serve --capability C --exec PROGRAM --backend EP");
    const char *capability = NULL, *program = NULL, *backend = NULL;
    long timeout_ms = 30000, heartbeat_ms = 2500;
    for (int i = 2; i < argc; i++) {
        if (streq (argv[i], "--capability") && i + 1 < argc)
            capability = argv[++i];
        else if (streq (argv[i], "--exec") && i + 1 < argc)
            program = argv[++i];
        else if (streq (argv[i], "--backend") && i + 1 < argc)
            backend = argv[++i];
        else if (streq (argv[i], "--timeout") && i + 1 < argc)
            timeout_ms = strtol (argv[++i], NULL, 10);
        else if (streq (argv[i], "--heartbeat") && i + 1 < argc)
            heartbeat_ms = strtol (argv[++i], NULL, 10);
        else
            return cli_usage_error ("expert serve: unexpected argument");
    }
    if (!capability || !program || !backend)
        return cli_usage_error ("expert serve: --capability, --exec and --backend are required");
    if (timeout_ms < 1 || timeout_ms > 600000)
        return cli_usage_error ("expert serve: --timeout is 1 to 600000 ms");
    if (heartbeat_ms < 100 || heartbeat_ms > 60000)
        return cli_usage_error ("expert serve: --heartbeat is 100 to 60000 ms");
    char service[LH_MAX_SERVICE + 1];
    int n = snprintf (service, sizeof (service), "expert.%s", capability);
    if (n < 0 || (size_t) n >= sizeof (service) ||
        !codec_name_valid (service, strlen (service), LH_MAX_SERVICE))
        return cli_usage_error ("expert serve: a capability is [a-z0-9_-], 1 to 31 characters");
    if (access (program, X_OK) != 0) {
        fprintf (stderr, "lh expert: %s is not an executable file\n", program);
        return 1;
    }
    lh_connect_t conn = cli->conn;
    conn.endpoint = backend;
    conn.heartbeat_ms = LH_WORKER_HEARTBEAT_MS;
    lh_worker_t *worker = lh_worker_new (&conn, service, 1);
    if (!worker) {
        fprintf (stderr, "lh expert: cannot connect to %s\n", backend);
        return 1;
    }
    //  The broker's MDP heartbeat (its broker/heartbeat), or it expires us
    lh_worker_set_heartbeat (worker, (int) heartbeat_ms, 3);
    fprintf (stderr, "lh expert: serving %s with %s\n", service, program);
    while (!zsys_interrupted) {
        lh_request_t *request = lh_worker_recv (worker, 500);
        if (request)
            s_review (cli, worker, &request, program, (int) timeout_ms);
    }
    lh_worker_destroy (&worker);
    return 0;
}
