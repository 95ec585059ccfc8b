/*  test_note -- unit tests for schemas/note.c (cmocka).

    The interoperability vectors are the published ones of Go's
    golang.org/x/mod/sumdb/note (package documentation and note_test.go): the
    PeterNeumann and EnochRoot keys, and their signatures over the same text.
*/
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "note.h"

#define DASH "\xe2\x80\x94" // U+2014 EM DASH

static const char *s_peter_vkey =
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
static const char *s_peter_skey =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
static const char *s_enoch_vkey = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
static const char *s_text = "If you think cryptography is the answer to your problem,\n"
                            "then you don't know what your problem is.\n";
static const char *s_peter_sig = DASH " PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZ"
                                      "InNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
static const char *s_enoch_sig = DASH " EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2t"
                                      "iOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

//  Concatenates up to five strings into a heap string
static char *
s_cat (const char *a, const char *b, const char *c, const char *d, const char *e)
{
    const char *parts[] = {a, b, c, d, e};
    size_t size = 1;
    for (size_t i = 0; i < 5; i++)
        size += parts[i] ? strlen (parts[i]) : 0;
    char *text = malloc (size);
    assert_non_null (text);
    text[0] = 0;
    for (size_t i = 0; i < 5; i++)
        if (parts[i])
            strcat (text, parts[i]);
    return text;
}

//  note_verify with no flags or body wanted
static int
s_verify (const char *note, note_key_t *const *keys, size_t nkeys)
{
    return note_verify (note, keys, nkeys, NULL, NULL);
}

static void
test_go_keys (void **state)
{
    (void) state;
    note_key_t *peter = note_key_from_verifier (s_peter_vkey);
    assert_non_null (peter);
    assert_string_equal (note_key_name (peter), "PeterNeumann");
    assert_int_equal (note_key_id (peter), 0xc74f20a3);
    assert_false (note_key_can_sign (peter));
    assert_null (note_key_signer_string (peter));
    char *text = note_key_verifier_string (peter);
    assert_string_equal (text, s_peter_vkey);
    free (text);
    note_key_destroy (&peter);
    assert_null (peter);
    note_key_destroy (&peter);

    note_key_t *signer = note_key_from_signer (s_peter_skey);
    assert_non_null (signer);
    assert_true (note_key_can_sign (signer));
    assert_int_equal (note_key_id (signer), 0xc74f20a3);
    text = note_key_verifier_string (signer);
    assert_string_equal (text, s_peter_vkey);
    free (text);
    text = note_key_signer_string (signer);
    assert_string_equal (text, s_peter_skey);
    free (text);
    note_key_destroy (&signer);

    note_key_t *enoch = note_key_from_verifier (s_enoch_vkey);
    assert_non_null (enoch);
    assert_int_equal (note_key_id (enoch), 0xaf0cfe78);
    note_key_destroy (&enoch);

    //  Go reads the id with ParseUint, so upper case hex is accepted; we write lower case
    note_key_t *upper = note_key_from_verifier (
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
    assert_non_null (upper);
    text = note_key_verifier_string (upper);
    assert_string_equal (text, s_peter_vkey);
    free (text);
    note_key_destroy (&upper);

    //  Go's own rejects: wrong key length and unknown algorithm, each with a matching id
    assert_null (note_key_from_verifier (
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="));
    assert_null (note_key_from_verifier (
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"));

    //  Every proper substring and every single-byte change is refused
    const char *keys[] = {s_peter_vkey, s_peter_skey};
    for (size_t k = 0; k < 2; k++) {
        size_t len = strlen (keys[k]);
        char *buf = malloc (len + 1);
        assert_non_null (buf);
        for (size_t i = 0; i <= len; i++)
            for (size_t j = i + 1; j <= len; j++) {
                if (i == 0 && j == len)
                    continue;
                memcpy (buf, keys[k] + i, j - i);
                buf[j - i] = 0;
                note_key_t *key =
                    k == 0 ? note_key_from_verifier (buf) : note_key_from_signer (buf);
                if (key)
                    fail_msg ("accepted %s", buf);
            }
        for (size_t i = 0; i < len; i++) {
            strcpy (buf, keys[k]);
            buf[i]++;
            note_key_t *key = k == 0 ? note_key_from_verifier (buf) : note_key_from_signer (buf);
            if (key)
                fail_msg ("accepted %s", buf);
        }
        free (buf);
    }
    //  A signer string is no verifier string and the other way round
    assert_null (note_key_from_verifier (s_peter_skey));
    assert_null (note_key_from_signer (s_peter_vkey));
    assert_null (note_key_from_verifier (NULL));
    assert_null (note_key_from_signer (NULL));
}

static void
test_go_note (void **state)
{
    (void) state;
    note_key_t *signer = note_key_from_signer (s_peter_skey);
    note_key_t *peter = note_key_from_verifier (s_peter_vkey);
    note_key_t *enoch = note_key_from_verifier (s_enoch_vkey);
    assert_non_null (signer);
    assert_non_null (peter);
    assert_non_null (enoch);

    //  Ed25519 is deterministic: our line is Go's, byte for byte
    char *line = note_sign_line (signer, s_text);
    assert_string_equal (line, s_peter_sig);
    const char *lines[] = {line};
    char *note = note_assemble (s_text, lines, 1);
    char *want = s_cat (s_text, "\n", s_peter_sig, NULL, NULL);
    assert_string_equal (note, want);
    free (want);
    free (note);
    free (line);

    char *one = s_cat (s_text, "\n", s_peter_sig, NULL, NULL);
    char *two = s_cat (s_text, "\n", s_peter_sig, s_enoch_sig, NULL);
    note_key_t *both[] = {peter, enoch};
    bool verified[2] = {false, false};
    char *body = NULL;
    assert_int_equal (note_verify (one, both, 1, verified, &body), 1);
    assert_true (verified[0]);
    assert_string_equal (body, s_text);
    free (body);
    assert_int_equal (note_verify (two, both, 2, verified, NULL), 2);
    assert_true (verified[0] && verified[1]);
    assert_int_equal (note_verify (two, both + 1, 1, verified, NULL), 1);
    assert_int_equal (s_verify (two, NULL, 0), 0);
    assert_int_equal (note_verify (two, both, 2, verified, &body), 2);
    assert_string_equal (body, s_text);
    free (body);

    char *lines_out[4] = {NULL};
    assert_int_equal (note_signature_lines (two, lines_out, 4), 2);
    assert_string_equal (lines_out[0], s_peter_sig);
    assert_string_equal (lines_out[1], s_enoch_sig);
    free (lines_out[0]);
    free (lines_out[1]);
    assert_int_equal (note_signature_lines (two, lines_out, 1), 1);
    free (lines_out[0]);

    //  A changed text fails
    char *tampered = strdup (two);
    memcpy (strstr (tampered, "cryptography"), "cryptographY", 12);
    assert_int_equal (note_verify (tampered, both, 2, verified, &body), -1);
    assert_false (verified[0] || verified[1]);
    assert_null (body);
    free (tampered);

    //  Go's invalid signature: four more base64 characters inside Peter's
    char *bad_sig = strdup (s_peter_sig);
    char *longer = malloc (strlen (bad_sig) + 5);
    sprintf (longer, "%.60sABCD%s", bad_sig, bad_sig + 60);
    char *bad = s_cat (s_text, "\n", longer, NULL, NULL);
    assert_int_equal (s_verify (bad, both, 1), -1);
    assert_int_equal (s_verify (bad, both + 1, 1), 0);
    free (bad);

    //  Go's repeated verified and unverified signatures
    char *enoch_abcd = strdup (s_enoch_sig);
    char *enoch_longer = malloc (strlen (enoch_abcd) + 5);
    sprintf (enoch_longer, "%.60sABCD%s", enoch_abcd, enoch_abcd + 60);
    char *repeated = s_cat (s_text, "\n", s_peter_sig, s_peter_sig, NULL);
    char *repeated2 = s_cat (repeated, s_enoch_sig, s_enoch_sig, enoch_longer, NULL);
    assert_int_equal (note_verify (repeated2, both, 1, verified, NULL), 1);
    assert_true (verified[0]);
    free (repeated);
    free (repeated2);
    free (enoch_abcd);
    free (enoch_longer);
    free (bad_sig);
    free (longer);

    //  Go's malformed notes
    char *peter_no_newline = strdup (s_peter_sig);
    peter_no_newline[strlen (peter_no_newline) - 1] = 0;
    char *malformed[] = {
        s_cat (s_text, NULL, NULL, NULL, NULL),
        s_cat (s_text, "\n", NULL, NULL, NULL),
        s_cat (s_text, "\n", peter_no_newline, NULL, NULL),
        s_cat ("\x01", s_text, "\n", s_peter_sig, NULL),
        s_cat ("\xff", s_text, "\n", s_peter_sig, NULL),
        s_cat (s_text, "\n",
               DASH " Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFY"
                    "C2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
               NULL, NULL),
        s_cat (s_text, "\n", s_peter_sig, "Unexpected line.\n", NULL),
    };
    for (size_t i = 0; i < sizeof (malformed) / sizeof (malformed[0]); i++) {
        assert_int_equal (s_verify (malformed[i], both, 1), -1);
        assert_int_equal (s_verify (malformed[i], NULL, 0), -1);
        assert_int_equal (note_signature_lines (malformed[i], lines_out, 4), -1);
        free (malformed[i]);
    }
    free (peter_no_newline);
    free (one);
    free (two);
    note_key_destroy (&signer);
    note_key_destroy (&peter);
    note_key_destroy (&enoch);
}

static void
test_key_roundtrip (void **state)
{
    (void) state;
    note_key_t *key = note_key_generate ("example.com/log");
    assert_non_null (key);
    assert_true (note_key_can_sign (key));
    assert_string_equal (note_key_name (key), "example.com/log");

    char *skey = note_key_signer_string (key);
    char *vkey = note_key_verifier_string (key);
    char prefix[64];
    snprintf (prefix, sizeof (prefix), "PRIVATE+KEY+example.com/log+%08" PRIx32 "+",
              note_key_id (key));
    assert_memory_equal (skey, prefix, strlen (prefix));
    assert_memory_equal (vkey, prefix + strlen ("PRIVATE+KEY+"),
                         strlen (prefix + strlen ("PRIVATE+KEY+")));
    //  base64 of the type byte and 32 key bytes
    assert_int_equal (strlen (skey), strlen (prefix) + 44);
    assert_int_equal (skey[strlen (prefix)], 'A');

    note_key_t *parsed = note_key_from_signer (skey);
    assert_non_null (parsed);
    assert_int_equal (note_key_id (parsed), note_key_id (key));
    assert_string_equal (note_key_name (parsed), "example.com/log");
    char *vkey2 = note_key_verifier_string (parsed);
    assert_string_equal (vkey2, vkey);
    char *skey2 = note_key_signer_string (parsed);
    assert_string_equal (skey2, skey);

    note_key_t *verifier = note_key_from_verifier (vkey);
    assert_non_null (verifier);
    assert_int_equal (note_key_id (verifier), note_key_id (key));
    assert_false (note_key_can_sign (verifier));
    assert_null (note_sign_line (verifier, "text\n"));

    //  What the parsed signer signs, the parsed verifier accepts
    char *line = note_sign_line (parsed, "hello\n");
    const char *lines[] = {line};
    char *note = note_assemble ("hello\n", lines, 1);
    assert_int_equal (s_verify (note, &verifier, 1), 1);

    free (note);
    free (line);
    free (skey);
    free (vkey);
    free (skey2);
    free (vkey2);
    note_key_destroy (&key);
    note_key_destroy (&parsed);
    note_key_destroy (&verifier);
}

static void
test_key_names (void **state)
{
    (void) state;
    char longest[NOTE_MAX_NAME + 2];
    memset (longest, 'n', NOTE_MAX_NAME);
    longest[NOTE_MAX_NAME] = 0;
    const char *good[] = {"a", longest, "\xe4\xbe\x8b.jp/log", "sigsum.org/v1/tree/abc", "a=b"};
    for (size_t i = 0; i < sizeof (good) / sizeof (good[0]); i++) {
        note_key_t *key = note_key_generate (good[i]);
        assert_non_null (key);
        char *vkey = note_key_verifier_string (key);
        note_key_t *back = note_key_from_verifier (vkey);
        assert_non_null (back);
        assert_string_equal (note_key_name (back), good[i]);
        free (vkey);
        note_key_destroy (&back);
        note_key_destroy (&key);
    }
    char too_long[NOTE_MAX_NAME + 2];
    memset (too_long, 'n', NOTE_MAX_NAME + 1);
    too_long[NOTE_MAX_NAME + 1] = 0;
    const char *bad[] = {
        "",
        too_long,
        "a b",
        "a+b",
        "a\tb",
        "a\nb",
        "a\x7f\x01",
        "a\xc2\xa0"
        "b", // NO-BREAK SPACE
        "a\xe3\x80\x80"
        "b", // IDEOGRAPHIC SPACE
        "a\xe2\x80\x83"
        "b", // EM SPACE
        "a\xc2\x85"
        "b", // NEXT LINE
        "a\xe2\x80\xa8"
        "b", // LINE SEPARATOR
        "\xff",
        "\xc0\xaf",     // overlong '/'
        "\xed\xa0\x80", // surrogate
        "\xe4\xbe",     // truncated
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++)
        if (note_key_generate (bad[i]))
            fail_msg ("accepted name %zu", i);
    assert_null (note_key_generate (NULL));
}

static void
test_verifier_rejects (void **state)
{
    (void) state;
    note_key_t *key = note_key_generate ("example.com/w");
    char *vkey = note_key_verifier_string (key);
    //  The base64 may hold '+' itself: it starts after the second one
    const char *b64 = strchr (strchr (vkey, '+') + 1, '+') + 1;
    uint32_t id = note_key_id (key);
    char text[256];

    snprintf (text, sizeof (text), "example.com/w+%08" PRIx32 "+%s", id, b64);
    note_key_t *good = note_key_from_verifier (text);
    assert_non_null (good);
    note_key_destroy (&good);

    const char *cases[] = {
        "example.com/w+%08" PRIx32 "x+%s",    // nine characters of id
        "example.com/w+%07" PRIx32 "+%s",     // seven characters of id
        "example.com/v+%08" PRIx32 "+%s",     // another name, so another id
        "a+b+example.com/w+%08" PRIx32 "+%s", // '+' in name
        "example com/w+%08" PRIx32 "+%s",     // space in name
        "+%08" PRIx32 "+%s",                  // empty name
        "example.com/w+%08" PRIx32 "+%s=",    // trailing garbage in base64
        "example.com/w+%08" PRIx32 "+!%s",    // not base64
        "example.com/w+%08" PRIx32 "%s",      // one '+' missing
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral" //  each case is a literal above
        snprintf (text, sizeof (text), cases[i], i == 1 ? id >> 4 : id, b64);
#pragma GCC diagnostic pop
        if (note_key_from_verifier (text))
            fail_msg ("accepted %s", text);
    }
    //  Wrong id
    snprintf (text, sizeof (text), "example.com/w+%08" PRIx32 "+%s", id ^ 1, b64);
    assert_null (note_key_from_verifier (text));
    //  Truncated base64
    snprintf (text, sizeof (text), "example.com/w+%08" PRIx32 "+%.43s", id, b64);
    assert_null (note_key_from_verifier (text));
    //  Wrong type byte: the second base64 digit holds the type's low two bits, 01xxxx for
    //  0x01; adding 16 makes them 10, type 0x02
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    snprintf (text, sizeof (text), "example.com/w+%08" PRIx32 "+%s", id, b64);
    char *type = strchr (strchr (text, '+') + 1, '+') + 2;
    size_t digit = (size_t) (strchr (alphabet, *type) - alphabet);
    assert_true (digit >= 16 && digit < 32);
    *type = alphabet[digit + 16];
    assert_null (note_key_from_verifier (text));
    *type = alphabet[digit];
    assert_non_null (good = note_key_from_verifier (text));
    note_key_destroy (&good);
    //  Too long a name
    char name[NOTE_MAX_NAME + 2];
    memset (name, 'n', NOTE_MAX_NAME + 1);
    name[NOTE_MAX_NAME + 1] = 0;
    snprintf (text, sizeof (text), "%s+%08" PRIx32 "+%s", name, id, b64);
    assert_null (note_key_from_verifier (text));
    assert_null (note_key_from_verifier (""));
    assert_null (note_key_from_verifier ("example.com/w"));
    free (vkey);
    note_key_destroy (&key);
}

static void
test_sign_verify_three (void **state)
{
    (void) state;
    note_key_t *keys[3], *verifiers[3];
    char *lines[3];
    const char *names[3] = {"example.com/log", "witness.example/a", "witness.example/b"};
    uint8_t root[32];
    for (size_t i = 0; i < 32; i++)
        root[i] = (uint8_t) (i * 9);
    char *body = note_checkpoint_body ("example.com/log", 12345, root);
    assert_non_null (body);
    for (size_t i = 0; i < 3; i++) {
        keys[i] = note_key_generate (names[i]);
        char *vkey = note_key_verifier_string (keys[i]);
        verifiers[i] = note_key_from_verifier (vkey);
        assert_non_null (verifiers[i]);
        free (vkey);
        lines[i] = note_sign_line (keys[i], body);
        assert_non_null (lines[i]);
        assert_memory_equal (lines[i], DASH " ", 4);
    }
    note_key_t *stranger = note_key_generate ("example.com/log");
    assert_true (note_key_id (stranger) != note_key_id (keys[0]));

    const char *in[5] = {lines[0], lines[1], lines[0], lines[2], lines[1]};
    char *note = note_assemble (body, in, 5);
    assert_non_null (note);
    char *want = s_cat (body, "\n", lines[0], lines[1], lines[2]);
    assert_string_equal (note, want);
    free (want);

    bool verified[4];
    char *body_out = NULL;
    assert_int_equal (note_verify (note, verifiers, 3, verified, &body_out), 3);
    assert_true (verified[0] && verified[1] && verified[2]);
    assert_string_equal (body_out, body);
    free (body_out);
    assert_int_equal (note_verify (note, keys, 3, verified, NULL), 3);

    note_key_t *some[] = {verifiers[2], stranger, verifiers[0]};
    assert_int_equal (note_verify (note, some, 3, verified, NULL), 2);
    assert_true (verified[0] && !verified[1] && verified[2]);
    assert_int_equal (note_verify (note, &stranger, 1, verified, NULL), 0);
    assert_false (verified[0]);

    //  A changed body byte condemns the note for anyone who knows a signer
    char *tampered = strdup (note);
    tampered[strlen ("example.com/log\n1")] = '3';
    assert_int_equal (note_verify (tampered, verifiers, 3, verified, NULL), -1);
    assert_false (verified[0] || verified[1] || verified[2]);
    assert_int_equal (s_verify (tampered, verifiers + 2, 1), -1);
    assert_int_equal (s_verify (tampered, &stranger, 1), 0);
    free (tampered);

    //  A changed signature byte (past the key id) fails; a changed key id makes the
    //  line a stranger's, which is ignored
    tampered = strdup (note);
    char *sig = strstr (tampered, "witness.example/a ") + strlen ("witness.example/a ");
    sig[40] = sig[40] == 'A' ? 'B' : 'A';
    assert_int_equal (s_verify (tampered, verifiers, 3), -1);
    assert_int_equal (s_verify (tampered, verifiers + 2, 1), 1);
    sig[40] = strstr (note, "witness.example/a ")[strlen ("witness.example/a ") + 40];
    sig[2] = sig[2] == 'A' ? 'B' : 'A';
    assert_int_equal (note_verify (tampered, verifiers, 3, verified, NULL), 2);
    assert_true (verified[0] && !verified[1] && verified[2]);
    free (tampered);

    //  Same name, another key id: another key, so both lines stay
    char *stranger_line = note_sign_line (stranger, body);
    const char *same_name[] = {lines[0], stranger_line};
    char *both = note_assemble (body, same_name, 2);
    assert_int_equal (note_signature_lines (both, NULL, 0), 0);
    note_key_t *pair[] = {stranger, verifiers[0]};
    assert_int_equal (note_verify (both, pair, 2, verified, NULL), 2);
    free (both);
    free (stranger_line);

    //  Merging cosignatures from two notes
    const char *first[] = {lines[0]};
    const char *rest[] = {lines[2], lines[1]};
    char *note1 = note_assemble (body, first, 1);
    char *note2 = note_assemble (body, rest, 2);
    char *merged_lines[NOTE_MAX_SIGS];
    int n1 = note_signature_lines (note1, merged_lines, NOTE_MAX_SIGS);
    assert_int_equal (n1, 1);
    int n2 = note_signature_lines (note2, merged_lines + n1, NOTE_MAX_SIGS - (size_t) n1);
    assert_int_equal (n2, 2);
    char *merged = note_assemble (body, (const char **) merged_lines, 3);
    assert_int_equal (note_verify (merged, verifiers, 3, verified, NULL), 3);
    for (int i = 0; i < 3; i++)
        free (merged_lines[i]);
    free (merged);
    free (note1);
    free (note2);

    for (size_t i = 0; i < 3; i++) {
        free (lines[i]);
        note_key_destroy (&keys[i]);
        note_key_destroy (&verifiers[i]);
    }
    note_key_destroy (&stranger);
    free (note);
    free (body);
}

static void
test_malformed (void **state)
{
    (void) state;
    const char *body = "origin\n";
    note_key_t *keys[NOTE_MAX_SIGS + 1];
    char *lines[NOTE_MAX_SIGS + 1];
    for (size_t i = 0; i <= NOTE_MAX_SIGS; i++) {
        char name[32];
        snprintf (name, sizeof (name), "w%zu", i);
        keys[i] = note_key_generate (name);
        lines[i] = note_sign_line (keys[i], body);
        assert_non_null (lines[i]);
    }
    //  16 signatures are fine, 17 are not
    char *note = note_assemble (body, (const char **) lines, NOTE_MAX_SIGS);
    assert_non_null (note);
    assert_int_equal (s_verify (note, keys, NOTE_MAX_SIGS + 1), NOTE_MAX_SIGS);
    assert_null (note_assemble (body, (const char **) lines, NOTE_MAX_SIGS + 1));
    char *seventeen = s_cat (note, lines[NOTE_MAX_SIGS], NULL, NULL, NULL);
    assert_int_equal (s_verify (seventeen, keys, NOTE_MAX_SIGS + 1), -1);
    assert_int_equal (s_verify (seventeen, NULL, 0), -1);
    char *out[NOTE_MAX_SIGS + 1];
    assert_int_equal (note_signature_lines (seventeen, out, NOTE_MAX_SIGS + 1), -1);
    free (seventeen);
    free (note);

    const char *sig = lines[0] + 4; // "w0 <base64>\n"
    char *cases[] = {
        s_cat (body, sig, NULL, NULL, NULL),                    // no dash, no blank line
        s_cat (body, lines[0], NULL, NULL, NULL),               // no blank line
        s_cat (body, "\n", "\xe2\x80 ", sig, NULL),             // truncated UTF-8 dash
        s_cat (body, "\n", "\xe2\x80\x93 ", sig, NULL),         // EN DASH
        s_cat (body, "\n", "-- ", sig, NULL),                   // ASCII
        s_cat (body, "\n", DASH, sig, NULL),                    // no space after the dash
        s_cat (body, "\n", DASH "  ", sig, NULL),               // empty name
        s_cat (body, "\n", DASH " w0\n", NULL, NULL),           // no signature
        s_cat (body, "\n", DASH " w0 \n", NULL, NULL),          // empty signature
        s_cat (body, "\n", DASH " w0 AAAAAA==\n", NULL, NULL),  // key id only
        s_cat (body, "\n", DASH " w0 AAAAAAB=\n", NULL, NULL),  // non-zero padding bits
        s_cat (body, "\n", DASH " w0 AAAAAAA\n", NULL, NULL),   // missing padding
        s_cat (body, "\n", DASH " w0 AAAA*AAA\n", NULL, NULL),  // not base64
        s_cat (body, "\n", DASH " w+0 AAAAAAAA\n", NULL, NULL), // '+' in the name
        s_cat (body, "\n", lines[0], "\n", NULL),               // blank line at the end
        s_cat (body, "\n", lines[0], "trailing\n", NULL),       // not a signature line
        s_cat (body, "\n", lines[0], lines[1], "x"),            // no final newline
        s_cat ("ori\tgin\n", "\n", lines[0], NULL, NULL),       // tab
        s_cat ("origin\r\n", "\n", lines[0], NULL, NULL),       // carriage return
        s_cat ("ori\xc0\x80gin\n", "\n", lines[0], NULL, NULL), // overlong NUL
        s_cat ("", "", NULL, NULL, NULL),                       // empty
        s_cat ("\n", NULL, NULL, NULL, NULL),                   // a newline
        s_cat ("\n\n", NULL, NULL, NULL, NULL),                 // a blank line
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        if (s_verify (cases[i], keys, NOTE_MAX_SIGS + 1) != -1)
            fail_msg ("case %zu verified", i);
        if (note_signature_lines (cases[i], out, NOTE_MAX_SIGS) != -1)
            fail_msg ("case %zu split", i);
        free (cases[i]);
    }
    assert_int_equal (s_verify (NULL, keys, 1), -1);
    assert_int_equal (s_verify ("x\n\n" DASH " w0 AAAAAAAA\n", NULL, 1), -1);
    //  A syntactically fine line by an unknown key is no reason to refuse
    assert_int_equal (s_verify ("x\n\n" DASH " w0 AAAAAAAA\n", NULL, 0), 0);
    assert_int_equal (note_signature_lines ("x\n\n" DASH " w0 AAAAAAAA\n", NULL, 0), 0);

    //  Over 64 KiB
    char *big = malloc (NOTE_MAX_SIZE + 1);
    memset (big, 'x', NOTE_MAX_SIZE);
    big[NOTE_MAX_SIZE - 1] = '\n';
    big[NOTE_MAX_SIZE] = 0;
    assert_null (note_sign_line (keys[0], big));
    //  A 100-byte signature line ("w0" and 92 base64 characters) after a 65500-byte body
    big[65499] = '\n';
    big[65500] = 0;
    char *line = note_sign_line (keys[0], big);
    assert_non_null (line);
    assert_int_equal (strlen (line), 100);
    const char *one[] = {line};
    assert_null (note_assemble (big, one, 1));
    char *huge = s_cat (big, "\n", line, NULL, NULL);
    assert_true (strlen (huge) > NOTE_MAX_SIZE);
    assert_int_equal (s_verify (huge, keys, 1), -1);
    free (huge);
    free (line);
    //  Exactly NOTE_MAX_SIZE bytes
    big[NOTE_MAX_SIZE - 102] = '\n';
    big[NOTE_MAX_SIZE - 101] = 0;
    line = note_sign_line (keys[0], big);
    one[0] = line;
    note = note_assemble (big, one, 1);
    assert_non_null (note);
    assert_int_equal (strlen (note), NOTE_MAX_SIZE);
    assert_int_equal (s_verify (note, keys, 1), 1);
    free (note);
    free (line);
    free (big);

    //  Bodies that cannot be signed, lines that cannot be assembled
    assert_null (note_sign_line (keys[0], ""));
    assert_null (note_sign_line (keys[0], "no newline"));
    assert_null (note_sign_line (keys[0], "bell\x07\n"));
    assert_null (note_sign_line (keys[0], "\xff\n"));
    assert_null (note_sign_line (keys[0], NULL));
    assert_null (note_sign_line (NULL, body));
    const char *no_newline[] = {DASH " w0 AAAAAAAA"};
    const char *two_lines[] = {DASH " w0 AAAAAAAA\n" DASH " w1 AAAAAAAA\n"};
    const char *garbage[] = {"hello\n"};
    const char *null_line[] = {NULL};
    const char *fine[] = {DASH " w0 AAAAAAAA\n"};
    assert_null (note_assemble (body, no_newline, 1));
    assert_null (note_assemble (body, two_lines, 1));
    assert_null (note_assemble (body, garbage, 1));
    assert_null (note_assemble (body, null_line, 1));
    assert_null (note_assemble (body, fine, 0));
    assert_null (note_assemble ("no newline", fine, 1));
    assert_null (note_assemble (NULL, fine, 1));
    note = note_assemble (body, fine, 1);
    assert_string_equal (note, "origin\n\n" DASH " w0 AAAAAAAA\n");
    free (note);

    for (size_t i = 0; i <= NOTE_MAX_SIGS; i++) {
        free (lines[i]);
        note_key_destroy (&keys[i]);
    }
}

static void
test_blank_lines_in_body (void **state)
{
    (void) state;
    //  The signatures follow the last blank line, so a text may hold blank lines too
    const char *bodies[] = {"a\n\nb\n", "\n", "a\n\n", "a\n\n\n\nb\n"};
    note_key_t *key = note_key_generate ("example.com/k");
    for (size_t i = 0; i < sizeof (bodies) / sizeof (bodies[0]); i++) {
        char *line = note_sign_line (key, bodies[i]);
        assert_non_null (line);
        const char *lines[] = {line};
        char *note = note_assemble (bodies[i], lines, 1);
        assert_non_null (note);
        char *body = NULL;
        assert_int_equal (note_verify (note, &key, 1, NULL, &body), 1);
        assert_string_equal (body, bodies[i]);
        free (body);
        free (note);
        free (line);
    }
    note_key_destroy (&key);
}

static void
test_checkpoint (void **state)
{
    (void) state;
    uint8_t root[32], got_root[32];
    for (size_t i = 0; i < 32; i++)
        root[i] = (uint8_t) (255 - i);
    char origin[64];
    uint64_t size;
    const uint64_t sizes[] = {0, 1, 20852163, UINT64_MAX};
    for (size_t i = 0; i < sizeof (sizes) / sizeof (sizes[0]); i++) {
        char *body = note_checkpoint_body ("example.com/log42", sizes[i], root);
        assert_non_null (body);
        char want_start[64];
        snprintf (want_start, sizeof (want_start), "example.com/log42\n%" PRIu64 "\n", sizes[i]);
        assert_memory_equal (body, want_start, strlen (want_start));
        assert_int_equal (strlen (body), strlen (want_start) + 44 + 1);
        assert_int_equal (note_checkpoint_parse (body, origin, sizeof (origin), &size, got_root),
                          0);
        assert_string_equal (origin, "example.com/log42");
        assert_true (size == sizes[i]);
        assert_memory_equal (got_root, root, 32);

        //  And from the signed note
        note_key_t *key = note_key_generate ("example.com/log42");
        char *line = note_sign_line (key, body);
        const char *lines[] = {line};
        char *note = note_assemble (body, lines, 1);
        memset (got_root, 0, 32);
        assert_int_equal (note_checkpoint_parse (note, origin, sizeof (origin), &size, got_root),
                          0);
        assert_true (size == sizes[i]);
        assert_memory_equal (got_root, root, 32);
        free (note);
        free (line);
        note_key_destroy (&key);
        free (body);
    }

    //  The example of c2sp.org/tlog-checkpoint, with its extension-free body
    const char *example = "example.com/behind-the-sofa\n20852163\n"
                          "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    assert_int_equal (note_checkpoint_parse (example, origin, sizeof (origin), &size, got_root), 0);
    assert_string_equal (origin, "example.com/behind-the-sofa");
    assert_true (size == 20852163);
    assert_int_equal (got_root[0], 0x0a);
    assert_int_equal (got_root[31], 0x62);
    //  Extension lines follow and are not examined
    const char *extended = "o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\next\n";
    assert_int_equal (note_checkpoint_parse (extended, origin, sizeof (origin), &size, got_root),
                      0);
    //  The origin must fit, with its NUL
    assert_int_equal (note_checkpoint_parse (example, origin, 27, &size, got_root), -1);
    assert_int_equal (note_checkpoint_parse (example, origin, 28, &size, got_root), 0);

    const char *bad[] = {
        "o\n01\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "o\n00\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "o\n\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "o\n+1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "o\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "o\n 1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "o\n1 \nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "o\n0x1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "o\n18446744073709551616\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "o\n99999999999999999999\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "o\n123456789012345678901\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n",   // no padding
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n",  // non-zero padding bits
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=x\n", // trailing garbage
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jx\n",      // 30 bytes
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2IA\n",  // 33 bytes
        "o\n1\nCsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I=\n",  // URL alphabet
        "o\n1\n\n",
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=",       // no newline
        "\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",      // empty origin
        "o\x01\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", // control character
        "\xff\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",  // not UTF-8
        "o\n1\n",
        "o\n",
        "",
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++)
        if (note_checkpoint_parse (bad[i], origin, sizeof (origin), &size, got_root) != -1)
            fail_msg ("parsed bad checkpoint %zu", i);
    assert_int_equal (note_checkpoint_parse (NULL, origin, sizeof (origin), &size, got_root), -1);
    assert_int_equal (note_checkpoint_parse (example, NULL, 64, &size, got_root), -1);
    assert_int_equal (note_checkpoint_parse (example, origin, 0, &size, got_root), -1);

    assert_null (note_checkpoint_body ("", 1, root));
    assert_null (note_checkpoint_body ("a\nb", 1, root));
    assert_null (note_checkpoint_body ("a\x01", 1, root));
    assert_null (note_checkpoint_body ("\xff", 1, root));
    assert_null (note_checkpoint_body (NULL, 1, root));
    assert_null (note_checkpoint_body ("o", 1, NULL));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_go_keys),          cmocka_unit_test (test_go_note),
        cmocka_unit_test (test_key_roundtrip),    cmocka_unit_test (test_key_names),
        cmocka_unit_test (test_verifier_rejects), cmocka_unit_test (test_sign_verify_three),
        cmocka_unit_test (test_malformed),        cmocka_unit_test (test_blank_lines_in_body),
        cmocka_unit_test (test_checkpoint),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
