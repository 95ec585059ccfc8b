/*  lh-integrity -- one replica of the integrity log (see replica.h, EVENTS.md).

    lh-integrity --keygen NAME --signer FILE   writes a new Ed25519 signer key
    to FILE (mode 0600) and prints its verifier key, for the keys file that
    every replica and every verifier reads.
*/
#include "lh_node.h"
#include "lh_log.h"
#include "note.h"
#include "replica.h"

#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <unistd.h>

static const lh_option_t s_options[] = {
    {"id", "integrity/id", NULL, "this replica's Raft id (1..1000), one of --peers", false},
    {"dir", "integrity/dir", NULL, "data directory (Raft log and snapshots, log.mdb)", false},
    {"peers", "integrity/peers", NULL, "every replica as ID@HOST:PORT, separated by spaces", false},
    {"origin", "integrity/origin", "lighthouse/log", "checkpoint origin line (the log's name)",
     false},
    {"signer", "integrity/signer", NULL, "this replica's signer key file (see --keygen)", false},
    {"keys", "integrity/keys", NULL, "file of every replica's verifier key, one per line", false},
    {"broker", "integrity/broker", "tcp://127.0.0.1:5556",
     "broker backend endpoint(s), comma-separated: one per broker", false},
    {"frontend", "integrity/frontend", NULL, "broker frontend, for appending integrity alerts",
     false},
    {"pub", "integrity/pub", NULL,
     "broker PUB endpoint(s), comma-separated: peers' checkpoint signatures", false},
    {"broker-key", "integrity/broker_key", NULL, "broker public key (Z85); omit for plaintext",
     false},
    {"cert", "integrity/cert", NULL, "this node's secret certificate", false},
    {"capacity", "integrity/capacity", "1024", "requests held at once per service", false},
    {"inflight", "integrity/inflight", "4", "Raft entries in flight before appends wait", false},
    {"entry-events", "integrity/entry_events", "8192", "events gathered into one entry at most",
     false},
    {"election-ms", "integrity/election_ms", "1000", "Raft election timeout", false},
    {"heartbeat-ms", "integrity/heartbeat_ms", "100", "Raft heartbeat interval", false},
    {"snapshot-threshold", "integrity/snapshot_threshold", "16384",
     "entries between Raft snapshots", false},
    {"snapshot-trailing", "integrity/snapshot_trailing", "4096",
     "entries kept in the Raft log after a snapshot", false},
    {"snapshot-timeout-ms", "integrity/snapshot_timeout_ms", "30000",
     "how long the leader waits for a follower to install a snapshot before sending it again",
     false},
    {"monitor-ms", "integrity/monitor_ms", "10000",
     "interval of the integrity monitor's full re-verification (0: off)", false},
    {"map-size-mb", "integrity/map_size_mb", "65536", "largest the store may grow (LMDB map)",
     false},
    {"keygen", "integrity/keygen", NULL, "write a new signer key named NAME to --signer, exit",
     false},
    {"metrics", "integrity/metrics", NULL,
     "serve Prometheus metrics on IPV4:PORT (GET /metrics); off when not given", false},
    {"log-level", "integrity/log_level", "info", "debug, info, warn or error", false},
    {NULL, NULL, NULL, NULL, false},
};

static int
s_keygen (const char *name, const char *path)
{
    if (!path) {
        fprintf (stderr, "lh-integrity: --keygen needs --signer FILE\n");
        return 2;
    }
    note_key_t *key = note_key_generate (name);
    if (!key) {
        fprintf (stderr, "lh-integrity: '%s' is not a valid key name\n", name);
        return 2;
    }
    char *signer = note_key_signer_string (key);
    char *verifier = note_key_verifier_string (key);
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int rc = 0;
    if (fd < 0 || dprintf (fd, "%s\n", signer) < 0) {
        fprintf (stderr, "lh-integrity: cannot create %s: %s\n", path, strerror (errno));
        rc = 1;
    } else
        printf ("%s\n", verifier);
    if (fd >= 0)
        close (fd);
    sodium_memzero (signer, strlen (signer));
    free (signer);
    free (verifier);
    note_key_destroy (&key);
    return rc;
}

int
main (int argc, char **argv)
{
    static const lh_node_t node = {
        "lh-integrity",
        "Lighthouse integrity log replica: Raft-replicated, signed, Merkle-tree "
        "event log serving \"events\" (leader) and \"events.read\".",
        s_options, "integrity"};
    int exit_code;
    zconfig_t *config = lh_node_start (&node, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    const char *keygen = lh_config_str (config, "integrity/keygen", NULL);
    if (keygen) {
        int rc = s_keygen (keygen, lh_config_str (config, "integrity/signer", NULL));
        zconfig_destroy (&config);
        return rc;
    }
    //  libuv owns the signals: czmq's handler would only set zsys_interrupted
    zsys_handler_set (NULL);
    //  raft_uv writes to peers that may have gone: EPIPE, not death
    signal (SIGPIPE, SIG_IGN);
    char err[512] = "";
    replica_t *replica = replica_new (config, err, sizeof (err));
    if (!replica) {
        lh_error ("cannot start", "error=\"%s\"", err);
        zconfig_destroy (&config);
        return 1;
    }
    int rc = replica_run (replica);
    replica_destroy (&replica);
    lh_info ("stopped", "exit=%d", rc);
    zconfig_destroy (&config);
    return rc;
}
