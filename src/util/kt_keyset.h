/* kt_keyset.h - a set of record keys (byte strings) for erasure lists
 * (restore and cat --drop-keys): loaded once from a file, then asked about
 * every record, so membership is one hash and, mostly, one probe.
 *
 * Owns: the keys' bytes (the file's buffer, decoded in place) and an
 * open-addressing table (linear probing, at most half full) of 16-byte
 * slots. A million 20-byte keys take about 52 MB.
 *
 * The file (kt_keyset_load_file): one key per line, '\n' or "\r\n". A line
 * "base64:X" is the key whose bytes are X in standard base64 (RFC 4648,
 * padding optional): binary keys, keys with a newline or a trailing '\r',
 * keys that start with "base64:" themselves, and the empty key
 * ("base64:" with nothing after it). Empty lines are ignored, so a
 * trailing newline or blank lines never add the empty key by accident. A
 * null key is never in the set: there is no notation for it.
 */
#ifndef KT_KEYSET_H
#define KT_KEYSET_H

#include <stddef.h>
#include <stdint.h>

#include "kt_error.h"

struct kt_keyset;

enum kt_err kt_keyset_new(struct kt_keyset **out);
void kt_keyset_free(struct kt_keyset *s);
/* Copies the key in; a key already there is not added twice. */
enum kt_err kt_keyset_add(struct kt_keyset *s, const uint8_t *key, size_t len);
int kt_keyset_has(const struct kt_keyset *s, const uint8_t *key, size_t len);
size_t kt_keyset_count(const struct kt_keyset *s);

/* Called with the file's bytes as read, before parsing: the caller's
 * checksum of the list. */
typedef void (*kt_keyset_digest_cb)(void *ctx, const uint8_t *data, size_t len);

/* Reads a key file (layout above). KT_ERR_INVALID naming the file and line
 * for bad base64; the kt_read_file errors for a file that cannot be read. */
enum kt_err kt_keyset_load_file(const char *path, struct kt_keyset **out, kt_keyset_digest_cb digest, void *digest_ctx,
				struct kt_diag *diag);

#endif
