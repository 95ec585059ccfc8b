/*  lh-policy-bench -- how long policy_eval takes, next to its baselines.

    Every call of the policy corpus (tests/corpus/cases.tsv: Bash commands,
    file tools, unknown tools, bad input) is evaluated PASSES times, each
    call timed on its own, in these configurations measured in one run:

      parse only      shell_parse + shell_destroy of the Bash commands: the
                      part of policy_eval that belongs to the parser
      empty policy    policy_eval with a policy of no rules: parse, input
                      checks, path set-up, decision text
      default         policy_eval with nodes/validator/default.policy
      default+1000    the same with 1,000 generated rules in front of it:
                      800 for commands of their own, 150 in the buckets of
                      common commands (git, npm, rm, cat, ...), 50 for the
                      file tools; none matches a corpus call, so every
                      decision stays the same (checked)
      default+1000 scan  worst case: 1,000 rules without a command, which
                      every command has to try

    Usage: lh-policy-bench [--rounds R] [--passes N] [--json] [--only NAME]
                           [--slowest N] [--policy FILE] [--corpus FILE]

    The configurations take turns, R rounds (default 5) of N passes
    (default 20) each; every figure printed is the median of the rounds'
    figures, so that a burst of load from elsewhere on the machine moves
    one round, not the result.

    --only runs one configuration (for profiling): parse, empty, default,
    extra, scan. --slowest N lists the N calls slowest under the default
    policy (median of their passes).

    Not a test: nothing fails on a slow machine. It prints a table (or one
    JSON object) of p50 / p99 / p99.9 / max / mean in microseconds.
*/
#include <czmq.h>
#include <stdint.h>
#include <time.h>

#include "jsonpack.h"
#include "lh_config.h"
#include "policy.h"
#include "shell.h"

typedef struct {
    char *tool;
    char *cwd;
    const char *command; //  Bash: points into the unpacked input
    size_t command_len;
    msgpack_sbuffer sbuf;
    msgpack_unpacked msg;
    bool has_input;
} call_t;

typedef struct {
    const char *name;
    const char *what;
    size_t samples;
    double p50, p99, p999, max, mean;
} result_t;

static uint64_t
s_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static int
s_cmp_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static void
s_summarise (result_t *r, uint64_t *ns, size_t n)
{
    r->samples = n;
    if (!n)
        return;
    qsort (ns, n, sizeof (uint64_t), s_cmp_u64);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double) ns[i];
    r->p50 = (double) ns[(size_t) ((double) (n - 1) * 0.50)] / 1000.0;
    r->p99 = (double) ns[(size_t) ((double) (n - 1) * 0.99)] / 1000.0;
    r->p999 = (double) ns[(size_t) ((double) (n - 1) * 0.999)] / 1000.0;
    r->max = (double) ns[n - 1] / 1000.0;
    r->mean = sum / (double) n / 1000.0;
}

//  Reads the corpus; returns the number of calls
static size_t
s_read_corpus (const char *path, call_t **calls_p)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        fprintf (stderr, "lh-policy-bench: cannot open %s\n", path);
        exit (1);
    }
    call_t *calls = NULL;
    size_t count = 0, cap = 0;
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t n;
    while ((n = getline (&line, &line_cap, file)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        if (n == 0 || line[0] == '#')
            continue;
        char *cols[5] = {NULL};
        int k = 0;
        for (char *c = line; c && k < 5; k++) {
            cols[k] = c;
            c = strchr (c, '\t');
            if (c)
                *c++ = 0;
        }
        if (k < 4)
            continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 256;
            calls = (call_t *) realloc (calls, cap * sizeof (call_t));
            assert (calls);
        }
        call_t *c = &calls[count];
        memset (c, 0, sizeof (*c));
        c->tool = strcmp (cols[0], "-") ? strdup (cols[0]) : NULL;
        c->cwd = strdup (strcmp (cols[2], "-") ? cols[2] : "/home/dev/proj");
        msgpack_sbuffer_init (&c->sbuf);
        msgpack_unpacked_init (&c->msg);
        if (strcmp (cols[1], "-") != 0) {
            char why[256];
            if (jsonpack_from_json (cols[1], strlen (cols[1]), &c->sbuf, why, sizeof (why)) == 0) {
                size_t off = 0;
                c->has_input = msgpack_unpack_next (&c->msg, c->sbuf.data, c->sbuf.size, &off) ==
                               MSGPACK_UNPACK_SUCCESS;
            }
        }
        if (c->has_input && c->tool && strcmp (c->tool, "Bash") == 0 &&
            c->msg.data.type == MSGPACK_OBJECT_MAP) {
            for (uint32_t i = 0; i < c->msg.data.via.map.size; i++) {
                const msgpack_object_kv *kv = &c->msg.data.via.map.ptr[i];
                if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 7 &&
                    memcmp (kv->key.via.str.ptr, "command", 7) == 0 &&
                    kv->val.type == MSGPACK_OBJECT_STR) {
                    c->command = kv->val.via.str.size ? kv->val.via.str.ptr : "";
                    c->command_len = kv->val.via.str.size;
                }
            }
        }
        count++;
    }
    free (line);
    fclose (file);
    *calls_p = calls;
    return count;
}

static char *
s_read_file (const char *path)
{
    FILE *file = fopen (path, "rb");
    if (!file) {
        fprintf (stderr, "lh-policy-bench: cannot open %s\n", path);
        exit (1);
    }
    fseek (file, 0, SEEK_END);
    long size = ftell (file);
    fseek (file, 0, SEEK_SET);
    char *text = (char *) malloc ((size_t) size + 1);
    assert (text);
    size_t got = fread (text, 1, (size_t) size, file);
    text[got] = 0;
    fclose (file);
    return text;
}

//  The default policy with 1,000 generated rules before its own
//  (scan: all without a command)
static char *
s_with_extra_rules (const char *base, bool scan)
{
    const char *rules = strstr (base, "\nrule\n");
    assert (rules);
    size_t head = (size_t) (rules - base) + 1;
    size_t cap = strlen (base) + 1000 * 300;
    char *text = (char *) malloc (cap);
    assert (text);
    memcpy (text, base, head);
    size_t len = head;
    len += (size_t) snprintf (text + len, cap - len, "rule\n");
    static const char *hot[] = {"git",    "npm",     "rm",   "cat", "ls", "make", "python3", "curl",
                                "docker", "kubectl", "grep", "cp",  "mv", "echo", "find"};
    static const char *const tools[] = {"Write", "Edit", "Read"};
    static const char *const classes[] = {"secrets", "system", "home", "other", "devices"};
    for (int i = 0; i < 1000; i++) {
        len += (size_t) snprintf (text + len, cap - len, "    extra-%d\n", i);
        if (scan)
            len += (size_t) snprintf (text + len, cap - len,
                                      "        arg = \"--extra-flag-%d *never-%d*\"\n", i, i);
        else if (i < 800)
            len += (size_t) snprintf (text + len, cap - len,
                                      "        command = \"tool%d tool%d-cli\"\n"
                                      "        flag = \"-x --extra-%d\"\n"
                                      "        path = \"%s\"\n",
                                      i, i, i, classes[i % 5]);
        else if (i < 950)
            len += (size_t) snprintf (text + len, cap - len,
                                      "        command = %s\n"
                                      "        arg = \"--never-%d 'never %d *'\"\n",
                                      hot[i % 15], i, i);
        else
            len += (size_t) snprintf (text + len, cap - len,
                                      "        tool = %s\n"
                                      "        file = \"/never/%d/** *.never%d\"\n",
                                      tools[i % 3], i, i);
        len += (size_t) snprintf (text + len, cap - len,
                                  "        action = escalate:ops\n"
                                  "        reason = \"generated rule %d\"\n",
                                  i);
    }
    assert (len + strlen (base + head) < cap);
    memcpy (text + len, base + head, strlen (base + head) + 1);
    return text;
}

static policy_t *
s_load_text (const char *text, const char *name)
{
    char err[512];
    policy_t *policy = policy_load_text (text, name, err, sizeof (err));
    if (!policy) {
        fprintf (stderr, "lh-policy-bench: %s\n", err);
        exit (1);
    }
    return policy;
}

static void
s_request (const call_t *c, policy_request_t *req)
{
    req->tool = c->tool;
    req->input = c->has_input ? &c->msg.data : NULL;
    req->cwd = c->cwd;
    req->home = "/home/dev";
    req->project = "/home/dev/proj";
    req->role = "agent";
}

static void
s_bench_policy (const policy_t *policy, const call_t *calls, size_t count, int passes, uint64_t *ns,
                result_t *r, policy_decision_t *decisions)
{
    policy_request_t req;
    policy_decision_t d;
    for (size_t i = 0; i < count; i++) { //  warm-up, and the decisions
        s_request (&calls[i], &req);
        policy_eval (policy, &req, &d);
        if (decisions)
            decisions[i] = d;
    }
    size_t n = 0;
    for (int pass = 0; pass < passes; pass++)
        for (size_t i = 0; i < count; i++) {
            s_request (&calls[i], &req);
            uint64_t t0 = s_now_ns ();
            policy_eval (policy, &req, &d);
            ns[n++] = s_now_ns () - t0;
        }
    s_summarise (r, ns, n);
}

static void
s_bench_parse (const call_t *calls, size_t count, int passes, uint64_t *ns, result_t *r)
{
    shell_opts_t opts = {.home = "/home/dev", .max_depth = 0, .max_commands = 0};
    char err[256];
    size_t n = 0;
    for (int pass = 0; pass <= passes; pass++)
        for (size_t i = 0; i < count; i++) {
            if (!calls[i].command || calls[i].command_len > 256 * 1024)
                continue;
            uint64_t t0 = s_now_ns ();
            shell_t *sh =
                shell_parse (calls[i].command, calls[i].command_len, &opts, err, sizeof (err));
            shell_destroy (&sh);
            uint64_t t = s_now_ns () - t0;
            if (pass > 0) //  pass 0 warms up
                ns[n++] = t;
        }
    s_summarise (r, ns, n);
}

typedef struct {
    size_t index;
    uint64_t median;
} slow_t;

static int
s_cmp_slow (const void *a, const void *b)
{
    uint64_t x = ((const slow_t *) a)->median, y = ((const slow_t *) b)->median;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void
s_list_slowest (const policy_t *policy, const call_t *calls, size_t count, int passes, int top)
{
    slow_t *slow = (slow_t *) calloc (count, sizeof (slow_t));
    uint64_t *ns = (uint64_t *) calloc ((size_t) passes, sizeof (uint64_t));
    assert (slow && ns);
    policy_request_t req;
    policy_decision_t d;
    for (size_t i = 0; i < count; i++) {
        s_request (&calls[i], &req);
        for (int pass = 0; pass < passes; pass++) {
            uint64_t t0 = s_now_ns ();
            policy_eval (policy, &req, &d);
            ns[pass] = s_now_ns () - t0;
        }
        qsort (ns, (size_t) passes, sizeof (uint64_t), s_cmp_u64);
        slow[i].index = i;
        slow[i].median = ns[passes / 2];
    }
    qsort (slow, count, sizeof (slow_t), s_cmp_slow);
    printf ("slowest calls under the default policy (median of %d):\n", passes);
    for (int i = 0; i < top && (size_t) i < count; i++) {
        const call_t *c = &calls[slow[i].index];
        printf ("%8.2f us  %s %.*s\n", (double) slow[i].median / 1000.0, c->tool ? c->tool : "-",
                c->command ? (int) (c->command_len > 100 ? 100 : c->command_len) : 0,
                c->command ? c->command : "");
    }
    free (slow);
    free (ns);
}

static const lh_option_t s_options[] = {
    {"rounds", "policy_bench/rounds", "5", "rounds of each configuration (the median is kept)",
     false},
    {"passes", "policy_bench/passes", "20", "passes over the corpus per round", false},
    {"json", "policy_bench/json", NULL, "print the results as JSON", true},
    {"only", "policy_bench/only", NULL, "one configuration: parse, empty, default, extra or scan",
     false},
    {"slowest", "policy_bench/slowest", "0", "list the N slowest cases", false},
    {"policy", "policy_bench/policy", LH_POLICY_FILE, "policy file", false},
    {"corpus", "policy_bench/corpus", LH_CORPUS_FILE, "corpus of labelled calls", false},
    {NULL, NULL, NULL, NULL, false},
};

int
main (int argc, char **argv)
{
    int exit_code = 0;
    zconfig_t *config = lh_config_load (
        "lh-policy-bench",
        "policy_eval latency over the policy corpus: the default policy, with 1,000 extra\n"
        "rules, and the baselines (parsing only, an empty policy). Not a test.",
        s_options, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    int passes = (int) lh_config_int (config, "policy_bench/passes", 20);
    int rounds = (int) lh_config_int (config, "policy_bench/rounds", 5);
    bool json = lh_config_bool (config, "policy_bench/json", false);
    const char *policy_path = lh_config_str (config, "policy_bench/policy", LH_POLICY_FILE);
    const char *corpus_path = lh_config_str (config, "policy_bench/corpus", LH_CORPUS_FILE);
    const char *only = lh_config_str (config, "policy_bench/only", NULL);
    int slowest = (int) lh_config_int (config, "policy_bench/slowest", 0);
    if (passes < 1)
        passes = 1;
    if (rounds < 1)
        rounds = 1;
    if (rounds > 99)
        rounds = 99;
    call_t *calls = NULL;
    size_t count = s_read_corpus (corpus_path, &calls);
    size_t bash = 0;
    for (size_t i = 0; i < count; i++)
        bash += calls[i].command != NULL;

    char *base = s_read_file (policy_path);
    char *extra = s_with_extra_rules (base, false);
    char *extra_scan = s_with_extra_rules (base, true);
    policy_t *empty = s_load_text ("policy\n    version = empty\n    default = allow\n", "empty");
    policy_t *dflt = s_load_text (base, policy_path);
    policy_t *more = s_load_text (extra, "default+1000");
    policy_t *more_scan = s_load_text (extra_scan, "default+1000-scan");

    uint64_t *ns = (uint64_t *) malloc ((size_t) (passes + 1) * count * sizeof (uint64_t));
    policy_decision_t *d0 = (policy_decision_t *) calloc (count, sizeof (policy_decision_t));
    policy_decision_t *d1 = (policy_decision_t *) calloc (count, sizeof (policy_decision_t));
    policy_decision_t *d2 = (policy_decision_t *) calloc (count, sizeof (policy_decision_t));
    assert (ns && d0 && d1 && d2);

    result_t results[5] = {
        {"parse only", "shell_parse + shell_destroy, Bash calls", 0, 0, 0, 0, 0, 0},
        {"empty policy", "policy_eval, no rules", 0, 0, 0, 0, 0, 0},
        {"default", "policy_eval, default.policy", 0, 0, 0, 0, 0, 0},
        {"default+1000", "policy_eval, + 1,000 indexed rules", 0, 0, 0, 0, 0, 0},
        {"default+1000 scan", "policy_eval, + 1,000 rules without command (worst case)", 0, 0, 0, 0,
         0, 0},
    };
    static const char *keys[] = {"parse", "empty", "default", "extra", "scan"};
    bool run[5];
    for (int i = 0; i < 5; i++)
        run[i] = !only || strcmp (only, keys[i]) == 0;
    //  decisions of the default and the extended policies are compared
    policy_request_t req;
    for (size_t i = 0; i < count; i++) {
        s_request (&calls[i], &req);
        policy_eval (dflt, &req, &d0[i]);
        policy_eval (more, &req, &d1[i]);
        policy_eval (more_scan, &req, &d2[i]);
    }
    result_t by_round[5][99];
    const policy_t *policies[5] = {NULL, empty, dflt, more, more_scan};
    for (int round = 0; round < rounds; round++)
        for (int c = 0; c < 5; c++) {
            if (!run[c])
                continue;
            if (c == 0)
                s_bench_parse (calls, count, passes, ns, &by_round[c][round]);
            else
                s_bench_policy (policies[c], calls, count, passes, ns, &by_round[c][round], NULL);
        }
    for (int c = 0; c < 5; c++) {
        if (!run[c])
            continue;
        double v[99];
        double *fields[5] = {&results[c].p50, &results[c].p99, &results[c].p999, &results[c].max,
                             &results[c].mean};
        for (int f = 0; f < 5; f++) {
            for (int round = 0; round < rounds; round++) {
                const result_t *r = &by_round[c][round];
                const double all[5] = {r->p50, r->p99, r->p999, r->max, r->mean};
                v[round] = all[f];
            }
            qsort (v, (size_t) rounds, sizeof (double), s_cmp_double);
            *fields[f] = v[rounds / 2];
        }
        results[c].samples = by_round[c][0].samples * (size_t) rounds;
    }

    size_t changed = 0, changed_scan = 0;
    for (size_t i = 0; i < count; i++) {
        changed += d0[i].action != d1[i].action || strcmp (d0[i].rule, d1[i].rule) != 0;
        changed_scan += d0[i].action != d2[i].action || strcmp (d0[i].rule, d2[i].rule) != 0;
    }

    if (json) {
        printf ("{\"calls\":%zu,\"bash\":%zu,\"rounds\":%d,\"passes\":%d,\"policy\":\"%s\","
                "\"rules\":%zu,"
                "\"changed_by_extra_rules\":%zu,\"changed_by_scan_rules\":%zu,\"results\":[",
                count, bash, rounds, passes, policy_version (dflt), policy_rule_count (dflt),
                changed, changed_scan);
        bool first = true;
        for (int i = 0; i < 5; i++) {
            if (!results[i].samples)
                continue;
            printf ("%s{\"name\":\"%s\",\"samples\":%zu,\"p50_us\":%.3f,\"p99_us\":%.3f,"
                    "\"p999_us\":%.3f,\"max_us\":%.3f,\"mean_us\":%.3f}",
                    first ? "" : ",", results[i].name, results[i].samples, results[i].p50,
                    results[i].p99, results[i].p999, results[i].max, results[i].mean);
            first = false;
        }
        printf ("]}\n");
    } else {
        printf ("lh-policy-bench: %zu corpus calls (%zu Bash), %d rounds of %d passes; policy %s, "
                "%zu rules\nfigures: median of the rounds, microseconds per call\n",
                count, bash, rounds, passes, policy_version (dflt), policy_rule_count (dflt));
        printf ("%-18s %9s %9s %9s %9s %9s %9s  %s\n", "configuration", "samples", "p50 us",
                "p99 us", "p99.9 us", "max us", "mean us", "what");
        for (int i = 0; i < 5; i++)
            if (results[i].samples)
                printf ("%-18s %9zu %9.2f %9.2f %9.2f %9.1f %9.2f  %s\n", results[i].name,
                        results[i].samples, results[i].p50, results[i].p99, results[i].p999,
                        results[i].max, results[i].mean, results[i].what);
        printf ("decisions changed by the 1,000 extra rules: %zu (scan variant: %zu)\n", changed,
                changed_scan);
    }

    if (slowest > 0)
        s_list_slowest (dflt, calls, count, passes, slowest);
    policy_destroy (&empty);
    policy_destroy (&dflt);
    policy_destroy (&more);
    policy_destroy (&more_scan);
    for (size_t i = 0; i < count; i++) {
        free (calls[i].tool);
        free (calls[i].cwd);
        msgpack_unpacked_destroy (&calls[i].msg);
        msgpack_sbuffer_destroy (&calls[i].sbuf);
    }
    free (calls);
    free (base);
    free (extra);
    free (extra_scan);
    free (ns);
    free (d0);
    free (d1);
    free (d2);
    zconfig_destroy (&config);
    return changed || changed_scan ? 1 : 0;
}
