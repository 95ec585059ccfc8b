/*  redact -- secrets out of what the validator logs and publishes.

    Every secret found in a text is replaced by a keyed hash of it,
    "[redacted:<12 hex>]": the first 6 bytes of BLAKE2b-128 (libsodium
    crypto_generichash, 16-byte output) keyed with the installation's
    32-byte key, over the secret's bytes alone. Equal secrets give equal
    markers, so they stay comparable across events; without the key the
    marker says nothing about the secret. What is found:

    - provider tokens anywhere in the text: AWS access key ids (AKIA...,
      ASIA...), GitHub (ghp_ gho_ ghs_ ghu_ ghr_ github_pat_), GitLab
      (glpat-), Slack (xox?-), Stripe (sk_live_ rk_live_ sk_test_
      rk_test_), OpenAI and Anthropic (sk-, sk-proj-, sk-ant-), Google
      (AIza), npm (npm_), PyPI (pypi-), JWTs (eyJ...eyJ...);
    - PEM private key blocks, BEGIN to END (to the end of the text when
      the END line is missing);
    - "Authorization:" header values (the scheme word kept) and
      "Bearer <token>";
    - assignments NAME=VALUE, NAME: VALUE, "NAME": "VALUE" whose name ends
      with password, passwd, passphrase, secret, token, apikey, api_key,
      secret_key, access_key, private_key (case, '-' and '_' ignored), and
      a str under such a key in a map;
    - --password VALUE and --passwd VALUE; -pSECRET after mysql, mysqldump,
      mysqladmin, mariadb and friends; sshpass -p; curl -u / --user
      user:SECRET; URLs scheme://user:SECRET@host.

    Values that are a variable ($X), empty, or already a marker are left
    alone, so redacting twice changes nothing.
*/
#ifndef LH_REDACT_H_INCLUDED
#define LH_REDACT_H_INCLUDED

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REDACT_KEY_SIZE  32
#define REDACT_HASH_HEX  12           //  hex digits of the hash in a marker
#define REDACT_MARKER    "[redacted:" //  a marker is REDACT_MARKER + hex + "]"
#define REDACT_MARKER_SZ (10 + REDACT_HASH_HEX + 1)

typedef struct _redact_t redact_t;

//  A redactor with this key (REDACT_KEY_SIZE bytes).
redact_t *redact_new (const uint8_t *key);
//  Reads the key from path (64 hex digits and a newline), creating the file
//  with a random key, mode 0600, when it does not exist. NULL with a
//  message in err when it cannot be read, created or parsed, or when
//  group or others may read it.
redact_t *redact_open (const char *path, char *err, size_t err_size);
void redact_destroy (redact_t **self_p);

//  Writes text with every secret replaced to out (appended). Returns the
//  number of secrets replaced.
size_t redact_text (const redact_t *self, const char *text, size_t len, msgpack_sbuffer *out);

//  Packs obj with every str redacted (and, in a map, every str under a
//  secret-named key replaced whole). Returns the number of secrets.
size_t redact_pack (const redact_t *self, const msgpack_object *obj, msgpack_packer *pk);

//  The marker for secret[0..len) (REDACT_MARKER_SZ chars and a NUL).
void redact_marker (const redact_t *self, const char *secret, size_t len,
                    char marker[REDACT_MARKER_SZ + 1]);

#endif
