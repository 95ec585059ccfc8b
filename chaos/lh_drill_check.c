/*  lh-drill-check -- replays a drill's check from its files.

    lh-drill-check --history FILE --export FILE [--export FILE ...] [--json FILE]

    Reads a history (JSON Lines, docs/DRILLS.md) and one `lh event export`
    per replica (docs/EVENTS.md section 7), runs the checker and prints its
    summary. Exits 0 when every check passed, 1 when one failed, 2 on bad
    usage or input. Signatures and roots are not checked here: that is
    `lh verify --export`'s job.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checker.h"
#include "codec.h"
#include "lh_version.h"

#define S_MAX_EXPORTS 16
#define S_CHUNK       (1 << 16)

static void
s_usage (FILE *out)
{
    fprintf (out,
             "Usage: lh-drill-check --history FILE --export FILE [--export FILE ...] "
             "[--json FILE]\n"
             "Checks a drill's history against the final log of every replica.\n"
             "\n"
             "  --history FILE  the drill's operations, JSON Lines (docs/DRILLS.md)\n"
             "  --export FILE   one replica's log as `lh event export` writes it; once per\n"
             "                  replica (at most %d), the path names the replica\n"
             "  --json FILE     also write the report as JSON\n"
             "  --help          this text\n"
             "  --version       the version\n"
             "\n"
             "Exit status: 0 every check passed, 1 a check failed, 2 bad usage or input.\n",
             S_MAX_EXPORTS);
}

//  One export record; -1 with why set when it is out of place or malformed
static int
s_record (checker_t *checker, int replica, const msgpack_object *obj, bool *header, char *origin,
          uint64_t *leaves, bool *closed, char *why, size_t why_size)
{
    const msgpack_object *leaf = codec_map_get (obj, "leaf");
    const msgpack_object *seq = codec_map_get (obj, "seq");
    const msgpack_object *note = codec_map_get (obj, "checkpoint");
    const msgpack_object *size = codec_map_get (obj, "size");
    if (!*header) {
        const msgpack_object *named = codec_map_get (obj, "origin");
        if (!codec_str_eq (codec_map_get (obj, "format"), "lighthouse-log/1") ||
            !codec_str_copy (named, origin, 256)) {
            snprintf (why, why_size, "not a lighthouse-log/1 export (no header)");
            return -1;
        }
        *header = true;
        return 0;
    }
    if (obj->type == MSGPACK_OBJECT_MAP && obj->via.map.size == 2 && leaf &&
        leaf->type == MSGPACK_OBJECT_BIN && seq && seq->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (checker_add_leaf (checker, replica, seq->via.u64, leaf->via.bin.ptr, leaf->via.bin.size,
                              why, why_size) != 0)
            return -1;
        (*leaves)++;
        *closed = false;
        return 0;
    }
    if (obj->type == MSGPACK_OBJECT_MAP && obj->via.map.size == 2 && note &&
        note->type == MSGPACK_OBJECT_STR && size && size->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        //  A checkpoint stands right after its last leaf (EVENTS.md 7)
        if (size->via.u64 != *leaves) {
            snprintf (why, why_size, "checkpoint for size %llu after %llu events",
                      (unsigned long long) size->via.u64, (unsigned long long) *leaves);
            return -1;
        }
        *closed = true;
        return 0;
    }
    snprintf (why, why_size, "unexpected record after %llu events", (unsigned long long) *leaves);
    return -1;
}

//  Reads an export into the checker as the log of replica `path`
static int
s_read_export (checker_t *checker, const char *path, char *origin, char *why, size_t why_size)
{
    char reason[512];
    int replica = checker_add_log (checker, path, reason, sizeof (reason));
    if (replica < 0) {
        snprintf (why, why_size, "%s: %s", path, reason);
        return -1;
    }
    FILE *file = fopen (path, "rb");
    if (!file) {
        snprintf (why, why_size, "cannot read %s: %s", path, strerror (errno));
        return -1;
    }
    msgpack_unpacker unpacker;
    msgpack_unpacker_init (&unpacker, S_CHUNK);
    msgpack_unpacked item;
    msgpack_unpacked_init (&item);
    bool header = false, closed = false;
    uint64_t leaves = 0;
    int rc = 0;
    size_t n;
    do {
        if (!msgpack_unpacker_reserve_buffer (&unpacker, S_CHUNK)) {
            snprintf (reason, sizeof (reason), "out of memory");
            rc = -1;
            break;
        }
        n = fread (msgpack_unpacker_buffer (&unpacker), 1, S_CHUNK, file);
        msgpack_unpacker_buffer_consumed (&unpacker, n);
        msgpack_unpack_return ret;
        while (rc == 0 &&
               (ret = msgpack_unpacker_next (&unpacker, &item)) == MSGPACK_UNPACK_SUCCESS)
            rc = s_record (checker, replica, &item.data, &header, origin, &leaves, &closed, reason,
                           sizeof (reason));
        if (rc == 0 && ret == MSGPACK_UNPACK_PARSE_ERROR) {
            snprintf (reason, sizeof (reason), "not msgpack after %llu events",
                      (unsigned long long) leaves);
            rc = -1;
        }
    } while (rc == 0 && n > 0);
    if (rc == 0 && ferror (file)) {
        snprintf (reason, sizeof (reason), "%s", strerror (errno));
        rc = -1;
    }
    //  A cut file must not pass for a shorter replica
    if (rc == 0 && msgpack_unpacker_message_size (&unpacker) > 0) {
        snprintf (reason, sizeof (reason), "cut short in a record after %llu events",
                  (unsigned long long) leaves);
        rc = -1;
    }
    if (rc == 0 && (!header || !closed)) {
        snprintf (reason, sizeof (reason),
                  !header ? "empty, not an export" : "does not end with a checkpoint record");
        rc = -1;
    }
    if (rc != 0)
        snprintf (why, why_size, "%s: %s", path, reason);
    msgpack_unpacked_destroy (&item);
    msgpack_unpacker_destroy (&unpacker);
    fclose (file);
    return rc;
}

int
main (int argc, char **argv)
{
    const char *history = NULL, *json = NULL;
    const char *exports[S_MAX_EXPORTS];
    size_t nexports = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp (arg, "--help") == 0 || strcmp (arg, "-h") == 0) {
            s_usage (stdout);
            return 0;
        }
        if (strcmp (arg, "--version") == 0) {
            printf ("lh-drill-check %s\n", LH_VERSION_STRING);
            return 0;
        }
        if (i + 1 >= argc ||
            (strcmp (arg, "--history") && strcmp (arg, "--export") && strcmp (arg, "--json"))) {
            fprintf (stderr, "lh-drill-check: %s '%s' (see --help)\n",
                     i + 1 >= argc ? "missing value or unknown option" : "unknown option", arg);
            return 2;
        }
        const char *value = argv[++i];
        if (strcmp (arg, "--history") == 0)
            history = value;
        else if (strcmp (arg, "--json") == 0)
            json = value;
        else if (nexports == S_MAX_EXPORTS) {
            fprintf (stderr, "lh-drill-check: more than %d exports\n", S_MAX_EXPORTS);
            return 2;
        } else
            exports[nexports++] = value;
    }
    if (!history || nexports == 0) {
        fprintf (stderr, "lh-drill-check: --history and at least one --export are required (see "
                         "--help)\n");
        return 2;
    }
    checker_t *checker = checker_new ();
    char why[1024], origin[256], first_origin[256] = "";
    int rc = checker_history_read (checker, history, why, sizeof (why));
    for (size_t i = 0; rc == 0 && i < nexports; i++) {
        rc = s_read_export (checker, exports[i], origin, why, sizeof (why));
        //  Replicas of one log share its origin
        if (rc == 0 && i > 0 && strcmp (origin, first_origin) != 0) {
            snprintf (why, sizeof (why), "%s is of log '%.100s', %s of '%.100s'", exports[i],
                      origin, exports[0], first_origin);
            rc = -1;
        }
        if (rc == 0 && i == 0)
            snprintf (first_origin, sizeof (first_origin), "%s", origin);
    }
    checker_result_t result = {0};
    if (rc == 0)
        rc = checker_run (checker, &result, why, sizeof (why));
    if (rc != 0) {
        fprintf (stderr, "lh-drill-check: %s\n", why);
        checker_destroy (&checker);
        return 2;
    }
    checker_result_print (&result, stdout);
    int status = result.ok ? 0 : 1;
    if (json) {
        char *text = checker_result_json (&result);
        FILE *file = text ? fopen (json, "w") : NULL;
        bool written = file && fprintf (file, "%s\n", text) >= 0;
        if (file && fclose (file) != 0)
            written = false;
        if (!written) {
            fprintf (stderr, "lh-drill-check: cannot write %s\n", json);
            status = 2;
        }
        free (text);
    }
    checker_result_clear (&result);
    checker_destroy (&checker);
    return status;
}
