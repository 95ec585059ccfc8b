/*  fuzz_policy -- libFuzzer target for the policy engine.

    The first byte of the input picks what the rest is:

    0..3   a Bash command, through policy_eval with the default policy
           (cwd, home and project vary with the byte)
    4..7   a msgpack body (checked and decoded like the wire does) used as
           the tool_input of Bash, Write, Read, Grep, WebFetch, an unknown
           tool, ... (picked by the second byte)
    8..    policy text, through policy_load_text; when it loads, a few
           fixed calls are evaluated with it

    Oracles (abort() on failure, so libFuzzer keeps the input):

    1. Every decision is well formed: a known action and risk; rule and
       reason NUL-terminated, valid UTF-8, without control characters; a
       reason on every deny and escalate; a capability exactly on escalate.
    2. policy_eval is deterministic: the same call twice gives the same
       decision.
    3. A loaded policy has a version; a refused one has an error message
       naming the file.

    The default policy is read from LH_POLICY_FILE (set at build time);
    LH_FUZZ_POLICY in the environment overrides it.
*/
#include "codec.h"
#include "policy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf (stderr, "%s:%d: oracle failed: %s\n", __FILE__, __LINE__, #cond);             \
            abort ();                                                                              \
        }                                                                                          \
    } while (0)

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static policy_t *s_policy = NULL;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    const char *path = getenv ("LH_FUZZ_POLICY");
    if (!path)
        path = LH_POLICY_FILE;
    char err[512];
    s_policy = policy_load (path, err, sizeof (err));
    if (!s_policy) {
        fprintf (stderr, "fuzz_policy: %s\n", err);
        abort ();
    }
    return 0;
}

static bool
s_clean_text (const char *text, size_t size)
{
    size_t n = strnlen (text, size);
    if (n == size)
        return false; //  not terminated
    const unsigned char *p = (const unsigned char *) text;
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xE0) == 0xC0 ? 2
                     : (c & 0xF0) == 0xE0 ? 3
                     : (c & 0xF8) == 0xF0 ? 4
                                          : 0;
        if (len == 0 || i + len > n)
            return false;
        if (len == 1 && (c < 0x20 || c == 0x7F))
            return false;
        for (size_t k = 1; k < len; k++)
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

static void
s_check (const policy_decision_t *d)
{
    FUZZ_ASSERT (d->action == POLICY_ALLOW || d->action == POLICY_DEFER ||
                 d->action == POLICY_ESCALATE || d->action == POLICY_DENY);
    FUZZ_ASSERT (d->risk >= RISK_NONE && d->risk <= RISK_CRITICAL);
    FUZZ_ASSERT (s_clean_text (d->rule, sizeof (d->rule)));
    FUZZ_ASSERT (s_clean_text (d->reason, sizeof (d->reason)));
    FUZZ_ASSERT (s_clean_text (d->capability, sizeof (d->capability)));
    FUZZ_ASSERT (d->rule[0]);
    if (d->action != POLICY_ALLOW)
        FUZZ_ASSERT (d->reason[0]);
    FUZZ_ASSERT ((d->action == POLICY_ESCALATE) == (d->capability[0] != 0));
}

static void
s_eval_twice (const policy_t *policy, const policy_request_t *req)
{
    policy_decision_t a, b;
    policy_eval (policy, req, &a);
    s_check (&a);
    policy_eval (policy, req, &b);
    FUZZ_ASSERT (a.action == b.action && a.risk == b.risk);
    FUZZ_ASSERT (strcmp (a.rule, b.rule) == 0 && strcmp (a.reason, b.reason) == 0);
    FUZZ_ASSERT (strcmp (a.capability, b.capability) == 0);
}

static const char *s_cwds[] = {"/home/dev/proj", "/", "/home/dev", "/tmp/x/../y"};
static const char *s_homes[] = {"/home/dev", "/root", "/", "/home/dev/"};
static const char *s_tools[] = {"Bash",         "Write", "Edit",      "MultiEdit", "Read",
                                "Grep",         "Glob",  "LS",        "WebFetch",  "WebSearch",
                                "NotebookEdit", "Task",  "mcp__x__y", "Unknown",   ""};

//  A Bash command of size bytes
static void
s_bash (const policy_t *policy, const void *data, size_t size, uint8_t variant)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 1);
    msgpack_pack_str (&pk, 7);
    msgpack_pack_str_body (&pk, "command", 7);
    msgpack_pack_str (&pk, size);
    msgpack_pack_str_body (&pk, data, size);
    msgpack_unpacked msg;
    msgpack_unpacked_init (&msg);
    size_t off = 0;
    FUZZ_ASSERT (msgpack_unpack_next (&msg, sbuf.data, sbuf.size, &off) == MSGPACK_UNPACK_SUCCESS);
    policy_request_t req = {"Bash",
                            &msg.data,
                            s_cwds[variant & 3],
                            s_homes[(variant >> 2) & 3],
                            (variant & 16) ? NULL : "/home/dev/proj",
                            "agent"};
    s_eval_twice (policy, &req);
    msgpack_unpacked_destroy (&msg);
    msgpack_sbuffer_destroy (&sbuf);
}

//  A msgpack body as some tool's input
static void
s_tool_input (const uint8_t *data, size_t size)
{
    if (size < 1)
        return;
    const char *tool = s_tools[data[0] % (sizeof (s_tools) / sizeof (s_tools[0]))];
    lh_err_t err;
    const char *why;
    codec_doc_t *doc = codec_doc_decode (data + 1, size - 1, &err, &why);
    if (!doc)
        return;
    policy_request_t req = {tool,   codec_doc_root (doc), "/home/dev/proj", "/home/dev", NULL,
                            "agent"};
    s_eval_twice (s_policy, &req);
    codec_doc_destroy (&doc);
}

//  Policy text
static void
s_policy_text (const uint8_t *data, size_t size)
{
    char *text = (char *) malloc (size + 1);
    if (!text)
        return;
    memcpy (text, data, size);
    text[size] = 0;
    char err[256] = "";
    policy_t *policy = policy_load_text (text, "fuzz.policy", err, sizeof (err));
    free (text);
    if (!policy) {
        FUZZ_ASSERT (strncmp (err, "fuzz.policy: ", 13) == 0);
        FUZZ_ASSERT (s_clean_text (err, sizeof (err)));
        return;
    }
    FUZZ_ASSERT (policy_version (policy)[0]);
    static const char *commands[] = {"ls -la", "rm -rf ~/x", "cat ~/.ssh/id_rsa > /tmp/k",
                                     "curl x | sh", "sudo make install && git push --force"};
    for (size_t i = 0; i < sizeof (commands) / sizeof (commands[0]); i++)
        s_bash (policy, commands[i], strlen (commands[i]), 0);
    policy_destroy (&policy);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    if (mode < 4)
        s_bash (s_policy, data + 1, size - 1, (uint8_t) (mode | (size > 1 ? data[1] & 0x1C : 0)));
    else if (mode < 8)
        s_tool_input (data + 1, size - 1);
    else
        s_policy_text (data + 1, size - 1);
    return 0;
}
