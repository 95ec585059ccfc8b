/*  lh event, lh checkpoint, lh consistency, lh verify -- the integrity log
    from the command line. See docs/EVENTS.md. */
#include "cli.h"

#include "codec.h"
#include "event.h"
#include "jsonpack.h"
#include "merkle.h"
#include "note.h"
#include "store.h"
#include "verify.h"

#include <sodium.h>
#include <time.h>

static lh_reply_t *s_read (lh_client_t *client, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

static lh_reply_t *
s_read (lh_client_t *client, const char *format, ...)
{
    char json[1024];
    va_list args;
    va_start (args, format);
    vsnprintf (json, sizeof (json), format, args);
    va_end (args);
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    char why[256];
    lh_reply_t *reply = NULL;
    if (jsonpack_from_json (json, strlen (json), &body, why, sizeof (why)) == 0)
        reply = cli_call (client, "events.read", body.data, body.size);
    else
        fprintf (stderr, "lh: %s\n", why);
    msgpack_sbuffer_destroy (&body);
    return reply;
}

static void
s_print_json (const msgpack_object *obj, bool pretty)
{
    char *json = jsonpack_to_json (obj, pretty);
    printf ("%s\n", json ? json : "null");
    free (json);
}

static int
s_append (cli_t *cli, int argc, char **argv)
{
    const char *type = NULL, *data = "{}", *client_id = NULL, *agent = NULL, *correlation = NULL,
               *causation = NULL;
    for (int i = 1; i < argc; i++) {
        const char **slot = streq (argv[i], "--type")          ? &type
                            : streq (argv[i], "--data")        ? &data
                            : streq (argv[i], "--id")          ? &client_id
                            : streq (argv[i], "--agent")       ? &agent
                            : streq (argv[i], "--correlation") ? &correlation
                            : streq (argv[i], "--causation")   ? &causation
                                                               : NULL;
        if (!slot || i + 1 >= argc)
            return cli_usage_error ("event append: unknown option or missing value");
        *slot = argv[++i];
    }
    if (!type)
        return cli_usage_error ("event append: --type T is required");
    //  Without --id, a random one: the client library's resends stay exactly-once
    char random_id[2 * 12 + 1];
    if (!client_id) {
        uint8_t bytes[12];
        randombytes_buf (bytes, sizeof (bytes));
        sodium_bin2hex (random_id, sizeof (random_id), bytes, sizeof (bytes));
        client_id = random_id;
    }
    //  --data @FILE: a map too large for a command line (a file's content)
    char *loaded = NULL;
    if (data[0] == '@') {
        zfile_t *file = zfile_new (NULL, data + 1);
        zchunk_t *chunk =
            file && zfile_input (file) == 0 ? zfile_read (file, LH_MAX_BODY + 1, 0) : NULL;
        if (chunk && zchunk_size (chunk) <= LH_MAX_BODY)
            loaded = strndup ((const char *) zchunk_data (chunk), zchunk_size (chunk));
        zchunk_destroy (&chunk);
        zfile_destroy (&file);
        if (!loaded) {
            fprintf (stderr, "lh event append: --data %s: cannot read it, or over %d bytes\n", data,
                     LH_MAX_BODY);
            return 2;
        }
        data = loaded;
    }
    msgpack_sbuffer data_pack;
    msgpack_sbuffer_init (&data_pack);
    char why[256];
    int parsed = jsonpack_from_json (data, strlen (data), &data_pack, why, sizeof (why));
    free (loaded);
    if (parsed != 0) {
        fprintf (stderr, "lh event append: --data: %s\n", why);
        msgpack_sbuffer_destroy (&data_pack);
        return 2;
    }
    codec_buf_t body;
    codec_buf_init (&body);
    event_pack_append (&body.pk, 1);
    msgpack_pack_map (&body.pk, 3 + (agent != NULL) + (correlation != NULL) + (causation != NULL));
    codec_pack_kv_str (&body.pk, "type", type);
    codec_pack_kv_str (&body.pk, "client_id", client_id);
    const char *optional[][2] = {
        {"agent", agent}, {"correlation", correlation}, {"causation", causation}};
    for (size_t i = 0; i < 3; i++)
        if (optional[i][1]) {
            codec_pack_str (&body.pk, optional[i][0]);
            codec_pack_str (&body.pk, optional[i][1]);
        }
    codec_pack_str (&body.pk, "data");
    msgpack_sbuffer_write (&body.sbuf, data_pack.data, data_pack.size);
    msgpack_sbuffer_destroy (&data_pack);
    lh_client_t *client = cli_client (cli);
    lh_reply_t *reply = client ? cli_call (client, "events", body.sbuf.data, body.sbuf.size) : NULL;
    codec_buf_destroy (&body);
    int rc = 1;
    if (reply) {
        const msgpack_object *root = lh_reply_root (reply);
        const msgpack_object *results = codec_map_get (root, "results");
        const msgpack_object *first =
            results && results->type == MSGPACK_OBJECT_ARRAY && results->via.array.size
                ? &results->via.array.ptr[0]
                : NULL;
        //  {seq, duplicate, client_id, size, root, checkpoint}
        codec_buf_t out;
        codec_buf_init (&out);
        msgpack_pack_map (&out.pk, 6);
        const char *keys[] = {"seq", "duplicate"};
        for (size_t i = 0; i < 2; i++) {
            const msgpack_object *v = codec_map_get (first, keys[i]);
            codec_pack_str (&out.pk, keys[i]);
            if (v)
                msgpack_pack_object (&out.pk, *v);
            else
                msgpack_pack_nil (&out.pk);
        }
        codec_pack_kv_str (&out.pk, "client_id", client_id);
        const char *rest[] = {"size", "root", "checkpoint"};
        for (size_t i = 0; i < 3; i++) {
            const msgpack_object *v = codec_map_get (root, rest[i]);
            codec_pack_str (&out.pk, rest[i]);
            if (v)
                msgpack_pack_object (&out.pk, *v);
            else
                msgpack_pack_nil (&out.pk);
        }
        codec_doc_t *doc = codec_doc_decode (out.sbuf.data, out.sbuf.size, NULL, NULL);
        if (doc)
            s_print_json (codec_doc_root (doc), true);
        codec_doc_destroy (&doc);
        codec_buf_destroy (&out);
        rc = first ? 0 : 1;
    }
    lh_reply_destroy (&reply);
    lh_client_destroy (&client);
    return rc;
}

//  Prints events of a range/query reply as JSON lines; returns "next" or -1.
static int64_t
s_print_events (const lh_reply_t *reply, uint64_t *count)
{
    const msgpack_object *root = lh_reply_root (reply);
    const msgpack_object *events = codec_map_get (root, "events");
    for (uint32_t i = 0; events && i < events->via.array.size; i++) {
        s_print_json (&events->via.array.ptr[i], false);
        (*count)++;
    }
    fflush (stdout);
    const msgpack_object *next = codec_map_get (root, "next");
    return next && next->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t) next->via.u64 : -1;
}

static int64_t
s_parse_time (const char *text)
{
    //  Seconds (or ns) since the epoch, or an ISO date "2026-11-23T18:00:00"
    char *end;
    long long value = strtoll (text, &end, 10);
    if (*end == 0)
        return value > 100000000000LL ? value : value * 1000000000LL;
    struct tm tm = {0};
    if (strptime (text, "%Y-%m-%dT%H:%M:%S", &tm) || strptime (text, "%Y-%m-%d", &tm))
        return (int64_t) timegm (&tm) * 1000000000LL;
    return -1;
}

static int
s_query (cli_t *cli, int argc, char **argv)
{
    char filter[512] = "";
    int limit = 0;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc)
            return cli_usage_error ("event query: option needs a value");
        size_t len = strlen (filter);
        if (streq (argv[i], "--agent") || streq (argv[i], "--type")) {
            if (strchr (argv[i + 1], '"') || strchr (argv[i + 1], '\\'))
                return cli_usage_error ("event query: bad value");
            snprintf (filter + len, sizeof (filter) - len, ",\"%s\":\"%s\"", argv[i] + 2,
                      argv[i + 1]);
        } else if (streq (argv[i], "--since") || streq (argv[i], "--until")) {
            int64_t ns = s_parse_time (argv[i + 1]);
            if (ns < 0)
                return cli_usage_error ("event query: TIME is seconds since the epoch or "
                                        "YYYY-MM-DD[THH:MM:SS] (UTC)");
            snprintf (filter + len, sizeof (filter) - len, ",\"%s\":%lld", argv[i] + 2,
                      (long long) ns);
        } else if (streq (argv[i], "--limit"))
            limit = atoi (argv[i + 1]);
        else
            return cli_usage_error ("event query: unknown option");
    }
    lh_client_t *client = cli_client (cli);
    if (!client)
        return 1;
    uint64_t count = 0;
    int64_t after = -1;
    int rc = 0;
    do {
        char page[64] = "";
        if (after >= 0)
            snprintf (page, sizeof (page), ",\"after\":%lld", (long long) after);
        lh_reply_t *reply = s_read (client, "{\"op\":\"query\",\"limit\":1000%s%s}", filter, page);
        if (!reply) {
            rc = 1;
            break;
        }
        after = s_print_events (reply, &count);
        lh_reply_destroy (&reply);
    } while (after >= 0 && (!limit || count < (uint64_t) limit));
    lh_client_destroy (&client);
    return rc;
}

static int
s_range (cli_t *cli, uint64_t from, uint64_t to, bool follow)
{
    lh_client_t *client = cli_client (cli);
    if (!client)
        return 1;
    uint64_t count = 0, next = from;
    int rc = 0;
    while (!zsys_interrupted) {
        lh_reply_t *reply =
            to ? s_read (client, "{\"op\":\"range\",\"from\":%llu,\"to\":%llu,\"limit\":1000}",
                         (unsigned long long) next, (unsigned long long) to)
               : s_read (client, "{\"op\":\"range\",\"from\":%llu,\"limit\":1000}",
                         (unsigned long long) next);
        if (!reply) {
            if (!follow) {
                rc = 1;
                break;
            }
            zclock_sleep (1000);
            continue;
        }
        uint64_t before = count;
        int64_t more = s_print_events (reply, &count);
        lh_reply_destroy (&reply);
        next += count - before;
        if (more >= 0)
            continue;
        if (!follow)
            break;
        //  Replicas apply within milliseconds; a short poll keeps tail -f close
        zclock_sleep (200);
    }
    lh_client_destroy (&client);
    return rc;
}

static uint64_t
s_log_size (lh_client_t *client)
{
    lh_reply_t *reply = s_read (client, "{\"op\":\"status\"}");
    const msgpack_object *status = reply ? codec_map_get (lh_reply_root (reply), "status") : NULL;
    const msgpack_object *size = codec_map_get (status, "size");
    uint64_t value = size && size->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? size->via.u64 : 0;
    lh_reply_destroy (&reply);
    return value;
}

static int
s_tail (cli_t *cli, int argc, char **argv)
{
    bool follow = false;
    long count = 10;
    for (int i = 1; i < argc; i++) {
        if (streq (argv[i], "-f"))
            follow = true;
        else if (streq (argv[i], "-n") && i + 1 < argc)
            count = atol (argv[++i]);
        else
            return cli_usage_error ("event tail: [-n COUNT] [-f]");
    }
    lh_client_t *client = cli_client (cli);
    if (!client)
        return 1;
    uint64_t size = s_log_size (client);
    lh_client_destroy (&client);
    uint64_t from = size > (uint64_t) count ? size - (uint64_t) count : 0;
    if (!follow && size == from)
        return 0;
    return s_range (cli, from, follow ? 0 : size, follow);
}

//  Reads verifier keys (one per line, # comments) from path.
static size_t
s_load_keys (const char *path, note_key_t **keys, size_t max)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        fprintf (stderr, "lh: cannot read %s\n", path);
        return 0;
    }
    char line[1024];
    size_t n = 0;
    while (n < max && fgets (line, sizeof (line), file)) {
        line[strcspn (line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#')
            continue;
        keys[n] = note_key_from_verifier (line);
        if (!keys[n]) {
            fprintf (stderr, "lh: %s: not a verifier key: %.60s\n", path, line);
            fclose (file);
            while (n)
                note_key_destroy (&keys[--n]);
            return 0;
        }
        n++;
    }
    fclose (file);
    return n;
}

static void
s_hex (const uint8_t *bytes, char *out)
{
    sodium_bin2hex (out, 65, bytes, 32);
}

//  A heap copy of text as the inside of a JSON string (notes are ASCII and
//  the em dash, which JSON carries as is).
static char *
s_json_escape (const char *text)
{
    char *escaped = (char *) malloc (strlen (text) * 2 + 1);
    char *p = escaped;
    for (const char *s = text; *s; s++) {
        if (*s == '\n') {
            *p++ = '\\';
            *p++ = 'n';
        } else {
            if (*s == '"' || *s == '\\')
                *p++ = '\\';
            *p++ = *s;
        }
    }
    *p = 0;
    return escaped;
}

//  Prints a proof reply as JSON with hex hashes and checks it here.
static int
s_proof (cli_t *cli, bool inclusion, uint64_t a, uint64_t b, const char *keys_path)
{
    lh_client_t *client = cli_client (cli);
    if (!client)
        return 1;
    lh_reply_t *reply =
        inclusion ? (b ? s_read (client, "{\"op\":\"proof\",\"seq\":%llu,\"size\":%llu}",
                                 (unsigned long long) a, (unsigned long long) b)
                       : s_read (client, "{\"op\":\"proof\",\"seq\":%llu}", (unsigned long long) a))
                  : (b ? s_read (client, "{\"op\":\"consistency\",\"old\":%llu,\"new\":%llu}",
                                 (unsigned long long) a, (unsigned long long) b)
                       : s_read (client, "{\"op\":\"consistency\",\"old\":%llu}",
                                 (unsigned long long) a));
    lh_reply_t *event =
        reply && inclusion
            ? s_read (client, "{\"op\":\"get\",\"seq\":%llu,\"raw\":true}", (unsigned long long) a)
            : NULL;
    lh_client_destroy (&client);
    if (!reply || (inclusion && !event)) {
        lh_reply_destroy (&reply);
        lh_reply_destroy (&event);
        return 1;
    }
    const msgpack_object *root = lh_reply_root (reply);
    const msgpack_object *proof = codec_map_get (root, "proof");
    const msgpack_object *hash = codec_map_get (root, inclusion ? "leaf_hash" : "old_root");
    char note[65536];
    char origin[256];
    uint64_t size = 0;
    merkle_hash_t tree_root, hashes[MERKLE_MAX_PROOF], given;
    const char *problem = NULL;
    if (!proof || proof->type != MSGPACK_OBJECT_ARRAY || proof->via.array.size > MERKLE_MAX_PROOF ||
        !hash || hash->type != MSGPACK_OBJECT_BIN || hash->via.bin.size != 32 ||
        !codec_str_copy (codec_map_get (root, "checkpoint"), note, sizeof (note)) ||
        note_checkpoint_parse (note, origin, sizeof (origin), &size, tree_root) != 0)
        problem = "malformed proof reply";
    for (uint32_t i = 0; !problem && i < proof->via.array.size; i++) {
        const msgpack_object *h = &proof->via.array.ptr[i];
        if (h->type != MSGPACK_OBJECT_BIN || h->via.bin.size != 32)
            problem = "malformed proof hash";
        else
            memcpy (hashes[i], h->via.bin.ptr, 32);
    }
    if (!problem) {
        memcpy (given, hash->via.bin.ptr, 32);
        if (inclusion) {
            //  The leaf hash must be the hash of the event's own bytes
            const msgpack_object *bytes = codec_map_get (lh_reply_root (event), "event");
            merkle_hash_t leaf;
            if (!bytes || bytes->type != MSGPACK_OBJECT_BIN)
                problem = "the event did not come back";
            else {
                merkle_leaf_hash (bytes->via.bin.ptr, bytes->via.bin.size, leaf);
                if (memcmp (leaf, given, 32) != 0)
                    problem = "the event does not hash to the proof's leaf hash";
                else if (merkle_verify_inclusion (leaf, a, size, hashes, proof->via.array.size,
                                                  tree_root) != 0)
                    problem = "the inclusion proof does not lead to the checkpoint's root";
            }
        } else if (merkle_verify_consistency (a, size, given, tree_root, hashes,
                                              proof->via.array.size) != 0)
            problem = "the consistency proof does not verify";
    }
    int signatures = -2;
    if (!problem && keys_path) {
        note_key_t *keys[16];
        size_t nkeys = s_load_keys (keys_path, keys, 16);
        signatures = nkeys ? note_verify (note, keys, nkeys, NULL, NULL) : -1;
        while (nkeys)
            note_key_destroy (&keys[--nkeys]);
        if (signatures < 1)
            problem = "the checkpoint carries no valid signature by those keys";
    }
    if (!problem) {
        char hex[65];
        printf ("{\n  \"%s\": %llu,\n  \"%s\": %llu,\n", inclusion ? "seq" : "old",
                (unsigned long long) a, inclusion ? "size" : "new", (unsigned long long) size);
        s_hex (given, hex);
        printf ("  \"%s\": \"%s\",\n", inclusion ? "leaf_hash" : "old_root", hex);
        s_hex (tree_root, hex);
        printf ("  \"root\": \"%s\",\n  \"proof\": [", hex);
        for (uint32_t i = 0; i < proof->via.array.size; i++) {
            s_hex (hashes[i], hex);
            printf ("%s\"%s\"", i ? ", " : "", hex);
        }
        char *escaped = s_json_escape (note);
        printf ("],\n  \"checkpoint\": \"%s\",\n  \"verified\": true", escaped);
        if (signatures >= 0)
            printf (",\n  \"signatures\": %d", signatures);
        printf ("\n}\n");
        free (escaped);
    } else
        fprintf (stderr, "lh: proof NOT verified: %s\n", problem);
    lh_reply_destroy (&reply);
    lh_reply_destroy (&event);
    return problem ? 1 : 0;
}

//  --------------------------------------------------------------------------
//  Export and offline verification
//
//  An export is a msgpack stream: {format: "lighthouse-log/1", origin},
//  then one {seq, leaf: bin} per event in order, then {size, checkpoint}.

static void
s_export_header (codec_buf_t *out, const char *origin)
{
    msgpack_pack_map (&out->pk, 2);
    codec_pack_kv_str (&out->pk, "format", "lighthouse-log/1");
    codec_pack_kv_str (&out->pk, "origin", origin);
}

static void
s_export_checkpoint (codec_buf_t *out, uint64_t size, const char *note)
{
    msgpack_pack_map (&out->pk, 2);
    codec_pack_kv_u64 (&out->pk, "size", size);
    codec_pack_kv_str (&out->pk, "checkpoint", note);
}

//  One replica's log, read from its directory (LMDB readers do not stop the
//  replica, so it may run): the leaves under its latest checkpoint. Which
//  replica holds what is the question a drill asks; the network export below
//  reads whichever replica the broker picks.
static int
s_export_dir (const char *dir, FILE *file, const char *name)
{
    char path[4096], err[512], origin[256];
    snprintf (path, sizeof (path), "%s/log.mdb", dir);
    store_t *store = store_open (path, (size_t) 1 << 36, true, err, sizeof (err));
    if (!store) {
        fprintf (stderr, "lh event export: %s\n", err);
        return 1;
    }
    char *note = NULL;
    uint64_t size = 0;
    merkle_hash_t root;
    int rc = 0;
    if (store_checkpoint (store, 0, &note, &size) != 0 ||
        note_checkpoint_parse (note, origin, sizeof (origin), &size, root) != 0) {
        fprintf (stderr, "lh event export: %s holds no readable checkpoint\n", dir);
        rc = 1;
    }
    codec_buf_t out;
    codec_buf_init (&out);
    if (rc == 0)
        s_export_header (&out, origin);
    for (uint64_t seq = 0; rc == 0 && seq < size; seq++) {
        void *leaf = NULL;
        size_t leaf_size = 0;
        if (store_get (store, seq, &leaf, &leaf_size) != 0) {
            fprintf (stderr, "lh event export: %s lacks event %llu under its checkpoint\n", dir,
                     (unsigned long long) seq);
            rc = 1;
            break;
        }
        msgpack_pack_map (&out.pk, 2);
        codec_pack_kv_u64 (&out.pk, "seq", seq);
        codec_pack_str (&out.pk, "leaf");
        msgpack_pack_bin (&out.pk, leaf_size);
        msgpack_pack_bin_body (&out.pk, leaf, leaf_size);
        free (leaf);
    }
    if (rc == 0) {
        s_export_checkpoint (&out, size, note);
        if (fwrite (out.sbuf.data, 1, out.sbuf.size, file) != out.sbuf.size)
            rc = 1;
        else
            fprintf (stderr,
                     "lh: exported %llu events and the checkpoint for size %llu from %s to %s\n",
                     (unsigned long long) size, (unsigned long long) size, dir, name);
    }
    codec_buf_destroy (&out);
    free (note);
    store_destroy (&store);
    return rc;
}

static int
s_export (cli_t *cli, int argc, char **argv)
{
    const char *dir = NULL;
    if (argc == 4 && streq (argv[1], "--dir")) {
        dir = argv[2];
        argv += 2;
        argc -= 2;
    }
    if (argc != 2 || argv[1][0] == '-')
        return cli_usage_error ("event export [--dir REPLICA_DIR] FILE");
    FILE *file = fopen (argv[1], "wbx");
    if (!file) {
        fprintf (stderr, "lh: cannot create %s (it must not exist)\n", argv[1]);
        return 1;
    }
    if (dir) {
        int rc = s_export_dir (dir, file, argv[1]);
        if (fclose (file) != 0)
            rc = 1;
        if (rc != 0)
            remove (argv[1]);
        return rc;
    }
    lh_client_t *client = cli_client (cli);
    lh_reply_t *checkpoint = client ? s_read (client, "{\"op\":\"checkpoint\"}") : NULL;
    int rc = 1;
    char note[65536], origin[256];
    uint64_t size = 0;
    merkle_hash_t root;
    if (checkpoint &&
        codec_str_copy (codec_map_get (lh_reply_root (checkpoint), "checkpoint"), note,
                        sizeof (note)) &&
        note_checkpoint_parse (note, origin, sizeof (origin), &size, root) == 0) {
        codec_buf_t out;
        codec_buf_init (&out);
        s_export_header (&out, origin);
        uint64_t next = 0;
        rc = 0;
        //  Exactly the events under the checkpoint, whatever was appended since
        while (next < size && rc == 0) {
            lh_reply_t *reply =
                s_read (client, "{\"op\":\"range\",\"from\":%llu,\"to\":%llu,\"raw\":true}",
                        (unsigned long long) next, (unsigned long long) size);
            const msgpack_object *events =
                reply ? codec_map_get (lh_reply_root (reply), "events") : NULL;
            if (!events || events->type != MSGPACK_OBJECT_ARRAY || events->via.array.size == 0)
                rc = 1;
            for (uint32_t i = 0; rc == 0 && i < events->via.array.size; i++, next++) {
                msgpack_pack_map (&out.pk, 2);
                codec_pack_kv_u64 (&out.pk, "seq", next);
                codec_pack_str (&out.pk, "leaf");
                msgpack_pack_object (&out.pk, events->via.array.ptr[i]);
            }
            lh_reply_destroy (&reply);
        }
        s_export_checkpoint (&out, size, note);
        if (rc == 0 && fwrite (out.sbuf.data, 1, out.sbuf.size, file) != out.sbuf.size)
            rc = 1;
        codec_buf_destroy (&out);
        if (rc == 0)
            fprintf (stderr, "lh: exported %llu events and the checkpoint for size %llu to %s\n",
                     (unsigned long long) size, (unsigned long long) size, argv[1]);
    }
    if (fclose (file) != 0)
        rc = 1;
    if (rc != 0)
        remove (argv[1]);
    lh_reply_destroy (&checkpoint);
    lh_client_destroy (&client);
    return rc;
}

//  The origin an export's header names; -1 if the file does not start with one.
static int
s_export_origin (const char *path, char *origin, size_t size)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return -1;
    char head[4096];
    size_t n = fread (head, 1, sizeof (head), file);
    fclose (file);
    msgpack_unpacked item;
    msgpack_unpacked_init (&item);
    size_t off = 0;
    int rc = msgpack_unpack_next (&item, head, n, &off) == MSGPACK_UNPACK_SUCCESS &&
                     codec_str_eq (codec_map_get (&item.data, "format"), "lighthouse-log/1") &&
                     codec_str_copy (codec_map_get (&item.data, "origin"), origin, size)
                 ? 0
                 : -1;
    msgpack_unpacked_destroy (&item);
    return rc;
}

static int
s_verify_export (const char *path, verify_t *verify)
{
    FILE *file = fopen (path, "rb");
    if (!file) {
        fprintf (stderr, "lh verify: cannot read %s\n", path);
        return -1;
    }
    msgpack_unpacker unpacker;
    msgpack_unpacker_init (&unpacker, 1 << 20);
    msgpack_unpacked item;
    msgpack_unpacked_init (&item);
    bool header = false;
    int rc = 0;
    msgpack_unpack_return ret = MSGPACK_UNPACK_CONTINUE;
    while (rc == 0) {
        msgpack_unpacker_reserve_buffer (&unpacker, 1 << 16);
        size_t n = fread (msgpack_unpacker_buffer (&unpacker), 1, 1 << 16, file);
        msgpack_unpacker_buffer_consumed (&unpacker, n);
        while (rc == 0 &&
               (ret = msgpack_unpacker_next (&unpacker, &item)) == MSGPACK_UNPACK_SUCCESS) {
            const msgpack_object *obj = &item.data;
            const msgpack_object *leaf = codec_map_get (obj, "leaf");
            const msgpack_object *seq = codec_map_get (obj, "seq");
            const msgpack_object *note = codec_map_get (obj, "checkpoint");
            const msgpack_object *size = codec_map_get (obj, "size");
            if (!header) {
                header = codec_str_eq (codec_map_get (obj, "format"), "lighthouse-log/1");
                if (!header) {
                    fprintf (stderr, "lh verify: %s is not a Lighthouse log export\n", path);
                    rc = -1;
                }
            } else if (leaf && leaf->type == MSGPACK_OBJECT_BIN && seq &&
                       seq->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                rc =
                    verify_leaf (verify, seq->via.u64, leaf->via.bin.ptr, leaf->via.bin.size, NULL);
            else if (note && note->type == MSGPACK_OBJECT_STR && size &&
                     size->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
                char *text = strndup (note->via.str.ptr, note->via.str.size);
                rc = verify_checkpoint (verify, size->via.u64, text);
                free (text);
            } else {
                fprintf (stderr, "lh verify: %s: unexpected record\n", path);
                rc = -1;
            }
        }
        //  Bytes that are not msgpack, or a record cut short at the end, are
        //  not an export: nothing after the last good record may be ignored
        if (rc == 0 && ret != MSGPACK_UNPACK_SUCCESS && ret != MSGPACK_UNPACK_CONTINUE) {
            fprintf (stderr, "lh verify: %s: malformed record\n", path);
            rc = -1;
        }
        if (n == 0) {
            if (rc == 0 && unpacker.used > unpacker.off) {
                fprintf (stderr, "lh verify: %s: a record is cut short at the end\n", path);
                rc = -1;
            }
            break;
        }
    }
    msgpack_unpacked_destroy (&item);
    msgpack_unpacker_destroy (&unpacker);
    fclose (file);
    if (rc == 0 && verify_result (verify)->checkpoints == 0) {
        fprintf (stderr, "lh verify: %s holds no checkpoint\n", path);
        rc = -1;
    }
    return rc;
}

static int
s_verify (int argc, char **argv)
{
    const char *dir = NULL, *export = NULL, *keys_path = NULL, *origin = NULL;
    long quorum = 1;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            return cli_usage_error ("verify: option needs a value");
        if (streq (argv[i], "--dir"))
            dir = argv[++i];
        else if (streq (argv[i], "--export"))
            export = argv[++i];
        else if (streq (argv[i], "--keys"))
            keys_path = argv[++i];
        else if (streq (argv[i], "--origin"))
            origin = argv[++i];
        else if (streq (argv[i], "--quorum"))
            quorum = atol (argv[++i]);
        else
            return cli_usage_error ("verify: unknown option");
    }
    if ((!dir == !export) || !keys_path || quorum < 1)
        return cli_usage_error ("verify: (--dir REPLICA_DIR | --export FILE) --keys FILE "
                                "[--quorum N] [--origin O]");
    note_key_t *keys[16];
    size_t nkeys = s_load_keys (keys_path, keys, 16);
    if (nkeys == 0)
        return 1;
    verify_result_t result = {.kind = VERIFY_OK};
    int rc;
    if (dir) {
        char path[4096], err[512];
        snprintf (path, sizeof (path), "%s/log.mdb", dir);
        store_t *store = store_open (path, (size_t) 1 << 36, true, err, sizeof (err));
        if (!store) {
            fprintf (stderr, "lh verify: %s\n", err);
            rc = -1;
            result.kind = VERIFY_MALFORMED;
        } else
            rc = verify_store (store, keys, nkeys, (size_t) quorum, origin, &result);
        store_destroy (&store);
    } else {
        //  Every checkpoint must be for the log the header names (and --origin, if given)
        char named[256];
        if (s_export_origin (export, named, sizeof (named)) != 0) {
            fprintf (stderr, "lh verify: %s does not start with a lighthouse-log/1 header\n",
                     export);
            rc = -1;
        } else if (origin && strcmp (origin, named) != 0) {
            result.kind = VERIFY_MALFORMED;
            snprintf (result.detail, sizeof (result.detail),
                      "the export is of log '%.100s', not '%.100s'", named, origin);
            rc = -1;
        } else {
            verify_t *verify = verify_new (keys, nkeys, (size_t) quorum, named);
            rc = s_verify_export (export, verify);
            if (rc == 0)
                rc = verify_finish (verify, NULL);
            result = *verify_result (verify);
            verify_destroy (&verify);
        }
    }
    while (nkeys)
        note_key_destroy (&keys[--nkeys]);
    if (rc == 0) {
        printf ("verified: %llu events, %llu checkpoints, every leaf, root and signature valid\n",
                (unsigned long long) result.leaves, (unsigned long long) result.checkpoints);
        return 0;
    }
    if (result.kind != VERIFY_OK)
        printf ("FAILED: %s at sequence %llu: %s\n", verify_kind_name (result.kind),
                (unsigned long long) result.seq, result.detail);
    return 1;
}

//  --------------------------------------------------------------------------

const char cli_event_usage[] =
    "Usage: lh event append --type T [--data JSON|@FILE] [--id CLIENT_ID] [--agent A]\n"
    "       lh event get SEQ\n"
    "       lh event range A B\n"
    "       lh event tail [-n N] [-f]\n"
    "       lh event query [--agent A] [--type T] [--since TIME] [--until TIME] [--limit N]\n"
    "       lh event proof SEQ [--keys FILE]\n"
    "       lh event export [--dir REPLICA_DIR] FILE\n"
    "\n"
    "append returns once a majority of the replicas has the event on disk; the same\n"
    "--id is appended once. proof checks an RFC 6962 inclusion proof against the\n"
    "latest checkpoint, signed by the keys in FILE. export writes the log under the\n"
    "latest checkpoint for lh verify; with --dir, from that replica's directory\n"
    "(while it runs, too), without the broker. Events: docs/EVENTS.md.\n";

const char cli_checkpoint_usage[] =
    "Usage: lh checkpoint [--keys FILE]\n"
    "\n"
    "Prints the latest signed checkpoint (C2SP tlog-checkpoint); with --keys, checks\n"
    "its signatures against the verifier keys in FILE.\n";

const char cli_consistency_usage[] =
    "Usage: lh consistency OLD NEW [--keys FILE]\n"
    "\n"
    "Fetches and checks the RFC 6962 consistency proof between the tree of size OLD\n"
    "and the tree of size NEW.\n";

const char cli_verify_usage[] =
    "Usage: lh verify (--dir REPLICA_DIR | --export FILE) --keys FILE [--quorum N]\n"
    "                 [--origin O]\n"
    "\n"
    "Verifies a log offline: every leaf, every tree root and every checkpoint\n"
    "signature. Exit 0 when all hold, 1 naming the first bad sequence number.\n";

int
cli_event (cli_t *cli, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error ("event: append, get, range, query, tail, proof or export");
    const char *sub = argv[1];
    if (streq (sub, "append"))
        return s_append (cli, argc - 1, argv + 1);
    if (streq (sub, "query"))
        return s_query (cli, argc - 1, argv + 1);
    if (streq (sub, "tail"))
        return s_tail (cli, argc - 1, argv + 1);
    if (streq (sub, "export"))
        return s_export (cli, argc - 1, argv + 1);
    if (streq (sub, "get") && argc == 3) {
        lh_client_t *client = cli_client (cli);
        lh_reply_t *reply =
            client ? s_read (client, "{\"op\":\"get\",\"seq\":%llu}", strtoull (argv[2], NULL, 10))
                   : NULL;
        if (reply)
            s_print_json (codec_map_get (lh_reply_root (reply), "event"), true);
        int rc = reply ? 0 : 1;
        lh_reply_destroy (&reply);
        lh_client_destroy (&client);
        return rc;
    }
    if (streq (sub, "range") && argc == 4)
        return s_range (cli, strtoull (argv[2], NULL, 10), strtoull (argv[3], NULL, 10), false);
    if (streq (sub, "proof") && (argc == 3 || argc == 5))
        return s_proof (cli, true, strtoull (argv[2], NULL, 10), 0,
                        argc == 5 && streq (argv[3], "--keys") ? argv[4] : NULL);
    return cli_usage_error ("event: bad subcommand or arguments");
}

int
cli_checkpoint (cli_t *cli, int argc, char **argv)
{
    const char *keys_path = argc == 3 && streq (argv[1], "--keys") ? argv[2] : NULL;
    if (argc != 1 && !keys_path)
        return cli_usage_error ("checkpoint [--keys FILE]");
    lh_client_t *client = cli_client (cli);
    lh_reply_t *reply = client ? s_read (client, "{\"op\":\"checkpoint\"}") : NULL;
    lh_client_destroy (&client);
    char note[65536];
    if (!reply || !codec_str_copy (codec_map_get (lh_reply_root (reply), "checkpoint"), note,
                                   sizeof (note))) {
        lh_reply_destroy (&reply);
        return 1;
    }
    lh_reply_destroy (&reply);
    fputs (note, stdout);
    if (!keys_path)
        return 0;
    note_key_t *keys[16];
    size_t nkeys = s_load_keys (keys_path, keys, 16);
    int valid = nkeys ? note_verify (note, keys, nkeys, NULL, NULL) : -1;
    while (nkeys)
        note_key_destroy (&keys[--nkeys]);
    fprintf (stderr,
             valid >= 0 ? "lh: %d valid signatures by known keys\n"
                        : "lh: the checkpoint does NOT verify%.0d\n",
             valid);
    return valid >= 1 ? 0 : 1;
}

int
cli_consistency (cli_t *cli, int argc, char **argv)
{
    if (argc != 3 && argc != 5)
        return cli_usage_error ("consistency OLD NEW [--keys FILE]");
    return s_proof (cli, false, strtoull (argv[1], NULL, 10), strtoull (argv[2], NULL, 10),
                    argc == 5 && streq (argv[3], "--keys") ? argv[4] : NULL);
}

int
cli_verify (cli_t *cli, int argc, char **argv)
{
    (void) cli;
    return s_verify (argc, argv);
}
