/*  note -- C2SP signed notes and tlog-checkpoints, signed with Ed25519.

    Every integrity replica signs the tree heads it applies, so a checkpoint carries
    several independent signatures. The formats follow c2sp.org/signed-note and
    c2sp.org/tlog-checkpoint, and keys are written as Go's golang.org/x/mod/sumdb/note
    writes them, so that notes and keys interoperate with Go tooling:

        verifier key   <name>+<8 hex key id>+<base64(0x01 || 32-byte public key)>
        signer key     PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || 32-byte seed)>
        key id         first 4 bytes, big-endian, of SHA-256(name || 0x0A || 0x01 || public key)
        note           body (ends in newline), one blank line, then signature lines
        signature line U+2014 EM DASH, space, name, space, base64(key id || signature), newline

    The body is everything before the last blank line, so a body may itself contain blank
    lines. Notes are valid UTF-8 without ASCII control characters other than newline, at
    most NOTE_MAX_SIZE bytes with at most NOTE_MAX_SIGS signature lines. Key names are
    1..NOTE_MAX_NAME bytes of UTF-8 with no '+' and no Unicode space.
*/
#ifndef LH_NOTE_H_INCLUDED
#define LH_NOTE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NOTE_MAX_NAME 64
#define NOTE_MAX_SIGS 16
#define NOTE_MAX_SIZE 65536

typedef struct _note_key_t note_key_t;

//  New Ed25519 keypair (signer). NULL if the name is not a valid key name.
note_key_t *note_key_generate (const char *name);
//  Parses PRIVATE+KEY+...; NULL if malformed or the key id does not match.
note_key_t *note_key_from_signer (const char *skey);
//  Parses name+hex+base64; NULL if malformed or the key id does not match.
note_key_t *note_key_from_verifier (const char *vkey);
//  Wipes the secret part
void note_key_destroy (note_key_t **self_p);
//  Heap strings the caller frees; the signer string is NULL for a verifier-only key
char *note_key_signer_string (const note_key_t *self);
char *note_key_verifier_string (const note_key_t *self);
const char *note_key_name (const note_key_t *self);
uint32_t note_key_id (const note_key_t *self);
bool note_key_can_sign (const note_key_t *self);

//  Heap checkpoint body "origin\nsize\nbase64(root)\n"; NULL if the origin is empty or
//  holds a newline, control character or invalid UTF-8.
char *note_checkpoint_body (const char *origin, uint64_t size, const uint8_t root[32]);
//  Parses the first three lines of a checkpoint note or body (extension lines, if any,
//  are not examined). origin is a buffer of origin_size bytes. Returns 0 or -1.
int note_checkpoint_parse (const char *text, char *origin, size_t origin_size, uint64_t *size,
                           uint8_t root[32]);

//  Heap signature line (with its newline) by a signing key over body. NULL if the key
//  cannot sign or the body is not a valid note text.
char *note_sign_line (const note_key_t *signer, const char *body);
//  Heap note: body, a blank line, then the given signature lines (each ending in "\n"),
//  keeping the first line for each key (same name and key id). NULL if the body or a
//  line is malformed, there is no line, more than NOTE_MAX_SIGS keys or the note would
//  be over NOTE_MAX_SIZE.
char *note_assemble (const char *body, const char **sig_lines, size_t n);
//  Verifies a note against known keys. Returns the number of known keys whose signature
//  verified (>= 0), or -1 if the note is malformed or a signature line by a known key
//  (same name and id) does not verify. Signature lines by unknown keys are ignored; a
//  caller that trusts the note needs a return > 0. If verified is non-NULL, verified[i]
//  is set true for each keys[i] that signed and false for the others. If body_out is
//  non-NULL it gets a heap copy of the body (NULL when -1 is returned).
int note_verify (const char *note, note_key_t *const *keys, size_t nkeys, bool *verified,
                 char **body_out);
//  Copies the signature lines of a note (for merging cosignatures): returns how many
//  were put in lines (each a heap string ending in "\n", caller frees), at most max; -1
//  if the note is malformed.
int note_signature_lines (const char *note, char **lines, size_t max);

#endif
