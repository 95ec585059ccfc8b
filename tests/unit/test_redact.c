/*  test_redact -- unit tests for nodes/validator/redact.c (cmocka): every
    kind of secret, ordinary commands left alone, idempotence, map keys,
    bounds, and the key file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "redact.h"

#include <sodium.h>

static redact_t *s_r;

static int
s_setup (void **state)
{
    (void) state;
    uint8_t key[REDACT_KEY_SIZE];
    for (int i = 0; i < REDACT_KEY_SIZE; i++)
        key[i] = (uint8_t) i;
    s_r = redact_new (key);
    return s_r ? 0 : -1;
}

static int
s_teardown (void **state)
{
    (void) state;
    redact_destroy (&s_r);
    return 0;
}

//  Redacted copy of text (caller frees); *count gets the secrets replaced.
static char *
s_redact (const char *text, size_t *count)
{
    msgpack_sbuffer out;
    msgpack_sbuffer_init (&out);
    size_t n = redact_text (s_r, text, strlen (text), &out);
    if (count)
        *count = n;
    char *copy = (char *) malloc (out.size + 1);
    memcpy (copy, out.data ? out.data : "", out.size);
    copy[out.size] = 0;
    msgpack_sbuffer_destroy (&out);
    return copy;
}

//  text with secret in it becomes text with the secret's marker instead.
static void
s_expect (const char *before, const char *secret, const char *after)
{
    char marker[REDACT_MARKER_SZ + 1];
    redact_marker (s_r, secret, strlen (secret), marker);
    char want[4096];
    const char *at = strstr (after, "@@");
    assert_non_null (at);
    snprintf (want, sizeof (want), "%.*s%s%s", (int) (at - after), after, marker, at + 2);
    size_t count = 0;
    char *got = s_redact (before, &count);
    if (strcmp (got, want) != 0)
        fail_msg ("redacting [%s]\n  got  [%s]\n  want [%s]", before, got, want);
    assert_int_equal (count, 1);
    //  Idempotent
    char *again = s_redact (got, &count);
    assert_string_equal (again, got);
    assert_int_equal (count, 0);
    free (again);
    free (got);
}

static void
s_untouched (const char *text)
{
    size_t count = 1;
    char *got = s_redact (text, &count);
    if (strcmp (got, text) != 0 || count != 0)
        fail_msg ("false redaction of [%s]: [%s]", text, got);
    free (got);
}

static void
test_providers (void **state)
{
    (void) state;
    s_expect ("aws configure set aws_access_key_id AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE",
              "aws configure set aws_access_key_id @@");
    s_expect ("export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
              "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "export AWS_SECRET_ACCESS_KEY=@@");
    s_expect ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
              "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_access_key = @@");
    s_expect ("git clone https://ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5@github.com/o/r",
              "ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5", "git clone https://@@@github.com/o/r");
    s_expect ("GH=gho_16C7e42F292c6912E7710c838347Ae178B4a; gh auth status",
              "gho_16C7e42F292c6912E7710c838347Ae178B4a", "GH=@@; gh auth status");
    s_expect ("echo ghs_16C7e42F292c6912E7710c838347Ae178B4a | gh auth login --with-token",
              "ghs_16C7e42F292c6912E7710c838347Ae178B4a", "echo @@ | gh auth login --with-token");
    s_expect ("echo github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz012345 > t",
              "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz012345", "echo @@ > t");
    s_expect ("curl -H 'PRIVATE-TOKEN: glpat-xYz12AbC34dEf56GhI78jK' https://gitlab.com/api",
              "glpat-xYz12AbC34dEf56GhI78jK", "curl -H 'PRIVATE-TOKEN: @@' https://gitlab.com/api");
    s_expect ("slack-cli send --bot xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp",
              "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp", "slack-cli send --bot @@");
    s_expect ("stripe charges list --api-key sk_live_4eC39HqLyjWDarjtT1zdp7dc",
              "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe charges list --api-key @@");
    s_expect ("stripe x rk_live_51H8abcDEF123ghiJKL456", "rk_live_51H8abcDEF123ghiJKL456",
              "stripe x @@");
    s_expect ("OPENAI=sk-proj-Ab3De5Gh7Jk9Mn1Pq3St5Vw7Yz9Bc1Ef3Hi5 python x.py",
              "sk-proj-Ab3De5Gh7Jk9Mn1Pq3St5Vw7Yz9Bc1Ef3Hi5", "OPENAI=@@ python x.py");
    s_expect ("llm -k sk-Ab3De5Gh7Jk9Mn1Pq3St5Vw7Yz9Bc1Ef3Hi5Kl7 prompt",
              "sk-Ab3De5Gh7Jk9Mn1Pq3St5Vw7Yz9Bc1Ef3Hi5Kl7", "llm -k @@ prompt");
    s_expect ("claude --key sk-ant-api03-Ab3De5Gh7Jk9Mn1Pq3St5Vw7Yz9Bc1Ef3Hi5-xyzAA",
              "sk-ant-api03-Ab3De5Gh7Jk9Mn1Pq3St5Vw7Yz9Bc1Ef3Hi5-xyzAA", "claude --key @@");
    s_expect ("curl 'https://maps.googleapis.com/x?key=AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY'",
              "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
              "curl 'https://maps.googleapis.com/x?key=@@'");
    s_expect (
        "npm config set //registry.npmjs.org/:_authToken npm_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5",
        "npm_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5",
        "npm config set //registry.npmjs.org/:_authToken @@");
    s_expect ("twine upload -p "
              "pypi-AgEIcHlwaS5vcmcCJGE0ZjM4ZDk2LWQ3MzctNDQ2Ni1hZmQxLTA1YjU5ZjE3YjY2OQ dist/*",
              "pypi-AgEIcHlwaS5vcmcCJGE0ZjM4ZDk2LWQ3MzctNDQ2Ni1hZmQxLTA1YjU5ZjE3YjY2OQ",
              "twine upload -p @@ dist/*");
    s_expect ("jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_"
              "XgL0n3I9PlFUP0THsR8U x",
              "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_"
              "XgL0n3I9PlFUP0THsR8U",
              "jwt=@@ x");
}

static void
test_headers_and_assignments (void **state)
{
    (void) state;
    s_expect ("curl -H \"Authorization: Bearer abc.def-123_XYZ\" https://x", "abc.def-123_XYZ",
              "curl -H \"Authorization: Bearer @@\" https://x");
    s_expect ("curl -H 'authorization: Basic dXNlcjpwYXNz' https://x", "dXNlcjpwYXNz",
              "curl -H 'authorization: Basic @@' https://x");
    s_expect ("http GET x Authorization:token_ABCDEFGH", "token_ABCDEFGH",
              "http GET x Authorization:@@");
    s_expect ("wget --header='X-Api-Key: 8f14e45fceea167a' https://x", "8f14e45fceea167a",
              "wget --header='X-Api-Key: @@' https://x");
    s_expect ("echo bearer 0123456789abcdef", "0123456789abcdef", "echo bearer @@");
    s_expect ("DB_PASSWORD=hunter2 ./run", "hunter2", "DB_PASSWORD=@@ ./run");
    s_expect ("export PASSWD='a b c'", "a b c", "export PASSWD='@@'");
    s_expect ("app --client-secret=s3cr3t", "s3cr3t", "app --client-secret=@@");
    s_expect ("curl 'https://x/cb?access_token=abc123&x=1'", "abc123",
              "curl 'https://x/cb?access_token=@@&x=1'");
    s_expect ("{\"password\": \"pa ss\", \"user\": \"u\"}", "pa ss",
              "{\"password\": \"@@\", \"user\": \"u\"}");
    s_expect ("password: hunter2\nuser: bob\n", "hunter2", "password: @@\nuser: bob\n");
    s_expect ("kubectl create secret generic db --from-literal=password=hunter2", "hunter2",
              "kubectl create secret generic db --from-literal=password=@@");
}

static void
test_cli_arguments (void **state)
{
    (void) state;
    s_expect ("mysql -u root -phunter2 db", "hunter2", "mysql -u root -p@@ db");
    s_expect ("sudo /usr/bin/mysqldump -p'x y' db > d.sql", "x y",
              "sudo /usr/bin/mysqldump -p'@@' db > d.sql");
    s_expect ("mysql --password=hunter2 db", "hunter2", "mysql --password=@@ db");
    s_expect ("docker login --password hunter2 reg", "hunter2", "docker login --password @@ reg");
    s_expect ("psql x; tool --passwd \"p w\"", "p w", "psql x; tool --passwd \"@@\"");
    s_expect ("sshpass -p hunter2 ssh host", "hunter2", "sshpass -p @@ ssh host");
    s_expect ("curl -u admin:hunter2 https://x", "hunter2", "curl -u admin:@@ https://x");
    s_expect ("curl --user 'admin:hunter 2' https://x", "hunter 2",
              "curl --user 'admin:@@' https://x");
    s_expect ("curl -uadmin:hunter2 https://x", "hunter2", "curl -uadmin:@@ https://x");
    s_expect ("git clone https://bob:hunter2@git.example.com/r.git", "hunter2",
              "git clone https://bob:@@@git.example.com/r.git");
    s_expect ("psql postgres://app:pw%40x@db:5432/app", "pw%40x",
              "psql postgres://app:@@@db:5432/app");
}

static void
test_private_keys (void **state)
{
    (void) state;
    const char *pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabc=\n"
                      "-----END RSA PRIVATE KEY-----";
    char text[512], after[512];
    snprintf (text, sizeof (text), "cat > k <<EOF\n%s\nEOF", pem);
    snprintf (after, sizeof (after), "cat > k <<EOF\n@@\nEOF");
    s_expect (text, pem, after);
    const char *open = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA";
    snprintf (text, sizeof (text), "x %s", open);
    s_expect (text, open, "x @@");
    //  A certificate is not a secret
    s_untouched ("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----");
}

static void
test_ordinary_commands (void **state)
{
    (void) state;
    const char *plain[] = {
        "git log --grep=token",
        "git log --grep=password --author=me",
        "grep -rn 'password' src/",
        "grep -r \"token: \" docs",
        "echo $GITHUB_TOKEN | gh auth login --with-token",
        "export TOKEN=$(cat ~/.token)",
        "PASSWORD=${DB_PASS} ./run",
        "mysql -u root -p",
        "mysql -u root -p -h db",
        "ssh -p 2222 host",
        "docker run -p 8080:80 nginx",
        "curl -u admin https://x",
        "curl https://example.com/a:b",
        "git checkout sk-feature-branch-with-a-long-name",
        "pip install scikit-learn",
        "git commit -m 'fix token refresh for bearer auth'",
        "cat password.txt secret.yaml token.json",
        "pytest -k test_token_expiry",
        "ls -la ~/.ssh && cat ~/.ssh/id_ed25519.pub",
        "kubectl get secret db -o yaml",
        "std::string token; a::b",
        "echo AKIA1234",
        "make CFLAGS=-O2 -j4",
        "cmake -S . -B build -DCMAKE_BUILD_TYPE=Release",
        "PWD=/home/dev ./x",
        "npm install --save-dev eslint",
        "curl -H 'Accept: application/json' https://api.example.com",
        "cd /work/p && ./configure --prefix=/usr",
        "",
    };
    for (size_t i = 0; i < sizeof (plain) / sizeof (plain[0]); i++)
        s_untouched (plain[i]);
}

static void
test_equal_secrets_equal_markers (void **state)
{
    (void) state;
    size_t count = 0;
    char *got = s_redact ("DB_PASSWORD=hunter2 x; mysql -phunter2; Y_TOKEN=other", &count);
    assert_int_equal (count, 3);
    char marker[REDACT_MARKER_SZ + 1], other[REDACT_MARKER_SZ + 1];
    redact_marker (s_r, "hunter2", 7, marker);
    redact_marker (s_r, "other", 5, other);
    const char *first = strstr (got, marker);
    assert_non_null (first);
    assert_non_null (strstr (first + 1, marker));
    assert_non_null (strstr (got, other));
    assert_string_not_equal (marker, other);
    assert_null (strstr (got, "hunter2"));
    //  The marker is the first 12 hex digits of keyed BLAKE2b-128, as EVENTS.md says
    uint8_t key[REDACT_KEY_SIZE], hash[16];
    for (int i = 0; i < REDACT_KEY_SIZE; i++)
        key[i] = (uint8_t) i;
    crypto_generichash (hash, 16, (const uint8_t *) "hunter2", 7, key, sizeof (key));
    char hex[33], want[REDACT_MARKER_SZ + 1];
    sodium_bin2hex (hex, sizeof (hex), hash, 16);
    snprintf (want, sizeof (want), "[redacted:%.12s]", hex);
    assert_string_equal (marker, want);
    //  Another key, another marker
    key[0] ^= 1;
    redact_t *r2 = redact_new (key);
    redact_marker (r2, "hunter2", 7, other);
    assert_string_not_equal (marker, other);
    redact_destroy (&r2);
    free (got);
}

static void
test_maps (void **state)
{
    (void) state;
    //  {"command": "mysql -phunter2", "env": {"API_TOKEN": "t0ken", "n": 3}, "password": "$X"}
    msgpack_sbuffer in;
    msgpack_sbuffer_init (&in);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &in, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 3);
    msgpack_pack_str_with_body (&pk, "command", 7);
    msgpack_pack_str_with_body (&pk, "mysql -phunter2", 15);
    msgpack_pack_str_with_body (&pk, "env", 3);
    msgpack_pack_map (&pk, 2);
    msgpack_pack_str_with_body (&pk, "API_TOKEN", 9);
    msgpack_pack_str_with_body (&pk, "t0ken", 5);
    msgpack_pack_str_with_body (&pk, "n", 1);
    msgpack_pack_int (&pk, 3);
    msgpack_pack_str_with_body (&pk, "password", 8);
    msgpack_pack_str_with_body (&pk, "$X", 2);
    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    assert_int_equal (msgpack_unpack_next (&u, in.data, in.size, NULL), MSGPACK_UNPACK_SUCCESS);
    msgpack_sbuffer out;
    msgpack_sbuffer_init (&out);
    msgpack_packer opk;
    msgpack_packer_init (&opk, &out, msgpack_sbuffer_write);
    assert_int_equal (redact_pack (s_r, &u.data, &opk), 2);
    msgpack_unpacked r;
    msgpack_unpacked_init (&r);
    assert_int_equal (msgpack_unpack_next (&r, out.data, out.size, NULL), MSGPACK_UNPACK_SUCCESS);
    const msgpack_object_map *m = &r.data.via.map;
    assert_int_equal (m->size, 3);
    char m1[REDACT_MARKER_SZ + 1], m2[REDACT_MARKER_SZ + 1], cmd[64];
    redact_marker (s_r, "hunter2", 7, m1);
    redact_marker (s_r, "t0ken", 5, m2);
    snprintf (cmd, sizeof (cmd), "mysql -p%s", m1);
    assert_int_equal (m->ptr[0].val.via.str.size, strlen (cmd));
    assert_memory_equal (m->ptr[0].val.via.str.ptr, cmd, strlen (cmd));
    const msgpack_object_map *env = &m->ptr[1].val.via.map;
    assert_memory_equal (env->ptr[0].val.via.str.ptr, m2, strlen (m2));
    assert_int_equal (env->ptr[1].val.type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal (m->ptr[2].val.via.str.size, 2); //  a variable, not a secret
    msgpack_unpacked_destroy (&r);
    msgpack_unpacked_destroy (&u);
    msgpack_sbuffer_destroy (&out);
    msgpack_sbuffer_destroy (&in);
}

static void
test_bounds_truncated (void **state)
{
    (void) state;
    const char *cut[] = {"ghp_abc",        "AKIA",           "eyJhbGciOiJIUzI1NiJ9.",
                         "-----BEGIN RSA", "mysql -p",       "curl -u",
                         "curl -u a",      "Authorization:", "x://a:b",
                         "bearer ",        "--password",     "\"password\":",
                         "sshpass -p",     "x PASSWORD="};
    for (size_t i = 0; i < sizeof (cut) / sizeof (cut[0]); i++)
        s_untouched (cut[i]);
    s_expect ("PASSWORD=\"unterminated", "unterminated", "PASSWORD=\"@@");
    s_expect ("mysql -p'open", "open", "mysql -p'@@");
    //  A large text: linear, every secret found, the rest byte for byte
    size_t n = 400 * 1024;
    char *big = (char *) malloc (n + 64);
    memset (big, 'a', n);
    memcpy (big + 1000, " TOKEN=x1 ", 10);
    strcpy (big + n, " ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5");
    size_t count = 0;
    char *got = s_redact (big, &count);
    assert_int_equal (count, 2);
    assert_int_equal (strlen (got), strlen (big) - 2 - 40 + 2 * REDACT_MARKER_SZ);
    assert_memory_equal (got, big, 1007);
    free (got);
    free (big);
    //  Not NUL-terminated input: only len bytes are read
    msgpack_sbuffer out;
    msgpack_sbuffer_init (&out);
    const char text[] = {'T', 'O', 'K', 'E', 'N', '=', 'a', 'b'};
    assert_int_equal (redact_text (s_r, text, 7, &out), 1);
    char marker[REDACT_MARKER_SZ + 1];
    redact_marker (s_r, "a", 1, marker);
    assert_int_equal (out.size, 6 + strlen (marker));
    assert_memory_equal (out.data + 6, marker, strlen (marker));
    msgpack_sbuffer_destroy (&out);
}

static void
test_key_file (void **state)
{
    (void) state;
    char dir[] = "/tmp/lh-redact-XXXXXX";
    assert_non_null (mkdtemp (dir));
    char path[256], err[256];
    snprintf (path, sizeof (path), "%s/redact.key", dir);
    redact_t *a = redact_open (path, err, sizeof (err));
    assert_non_null (a);
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0600);
    assert_int_equal (st.st_size, 65);
    //  Opened again: the same key
    redact_t *b = redact_open (path, err, sizeof (err));
    assert_non_null (b);
    char ma[REDACT_MARKER_SZ + 1], mb[REDACT_MARKER_SZ + 1];
    redact_marker (a, "s", 1, ma);
    redact_marker (b, "s", 1, mb);
    assert_string_equal (ma, mb);
    redact_destroy (&b);
    //  Readable by others: refused
    assert_int_equal (chmod (path, 0644), 0);
    assert_null (redact_open (path, err, sizeof (err)));
    assert_non_null (strstr (err, "chmod 600"));
    //  Not a key: refused
    FILE *f = fopen (path, "w");
    fputs ("not hex\n", f);
    fclose (f);
    chmod (path, 0600);
    assert_null (redact_open (path, err, sizeof (err)));
    assert_non_null (strstr (err, "64 hex"));
    unlink (path);
    //  A directory that does not exist: an error, not a crash
    snprintf (path, sizeof (path), "%s/no/such/redact.key", dir);
    assert_null (redact_open (path, err, sizeof (err)));
    redact_destroy (&a);
    rmdir (dir);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_providers),
        cmocka_unit_test (test_headers_and_assignments),
        cmocka_unit_test (test_cli_arguments),
        cmocka_unit_test (test_private_keys),
        cmocka_unit_test (test_ordinary_commands),
        cmocka_unit_test (test_equal_secrets_equal_markers),
        cmocka_unit_test (test_maps),
        cmocka_unit_test (test_bounds_truncated),
        cmocka_unit_test (test_key_file),
    };
    return cmocka_run_group_tests_name ("unit_redact", tests, s_setup, s_teardown);
}
