/* kt_crypto.h - the encryption of segment blocks at rest (format/SPEC.md
 * section 4.6): the key file, the key id, and the sealing and opening of a
 * block's parts with XChaCha20-Poly1305 (IETF), all by libsodium. ktape
 * implements no cryptography itself: this module only lays out the bytes
 * libsodium is given.
 *
 * Owns: struct kt_crypto_key, held in libsodium's guarded memory (locked,
 * never swapped where the system allows it, wiped when freed). The key's
 * bytes never leave this module; what the rest of ktape sees is its key id,
 * an 8-byte keyed hash that names the key without revealing it.
 *
 * The only includer of <sodium.h> (tools/check-layers).
 */
#ifndef KT_CRYPTO_H
#define KT_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "kt_error.h"
#include "kt_segment.h"

#define KT_CRYPTO_KEY_BYTES    32 /* XChaCha20-Poly1305 key */
#define KT_CRYPTO_NONCE_BYTES  24 /* XChaCha20-Poly1305 nonce */
#define KT_CRYPTO_TAG_BYTES    16 /* Poly1305 tag, after the ciphertext */
#define KT_CRYPTO_KEY_ID_BYTES 8
#define KT_CRYPTO_KEY_ID_HEX   (2 * KT_CRYPTO_KEY_ID_BYTES + 1)

struct kt_crypto_key;

/* Reads a key file: exactly 64 hexadecimal digits, optionally followed by
 * one newline (what `openssl rand -hex 32` writes). Refuses a file that is
 * not a regular file, that the group or others may read or write (the key
 * is the archive's whole secret, as an ssh key is), or an all-zero key.
 * KT_ERR_INVALID with the reason; KT_ERR_NOT_FOUND when it does not exist. */
enum kt_err kt_crypto_key_load(const char *path, struct kt_crypto_key **out, struct kt_diag *diag);
/* A key from its 32 bytes (tests, vectors). */
enum kt_err kt_crypto_key_from_bytes(const uint8_t bytes[KT_CRYPTO_KEY_BYTES], struct kt_crypto_key **out);
void kt_crypto_key_free(struct kt_crypto_key *key);

/* The key id: the first 8 bytes of BLAKE2b-256 keyed with the key over the
 * 12 ASCII bytes "ktape key id". */
const uint8_t *kt_crypto_key_id(const struct kt_crypto_key *key);
/* 16 lowercase hexadecimal digits, for messages. */
void kt_crypto_key_id_hex(const uint8_t id[KT_CRYPTO_KEY_ID_BYTES], char out[KT_CRYPTO_KEY_ID_HEX]);

/* SHA-256 of data as 64 lowercase hexadecimal digits (what sha256sum
 * prints): the checksum a run records of an erasure list it applied. */
#define KT_CRYPTO_SHA256_HEX 65
void kt_crypto_sha256_hex(const uint8_t *data, size_t len, char out[KT_CRYPTO_SHA256_HEX]);

/* Fills a fresh random nonce (libsodium's randombytes). */
void kt_crypto_random_nonce(uint8_t nonce[KT_CRYPTO_NONCE_BYTES]);

/* Encrypts len bytes of in into out (len + KT_CRYPTO_TAG_BYTES bytes: the
 * ciphertext, then the tag), authenticating ad too. in and out may not
 * overlap. */
enum kt_err kt_crypto_seal(const struct kt_crypto_key *key, const uint8_t nonce[KT_CRYPTO_NONCE_BYTES],
			   const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t len, uint8_t *out);
/* Decrypts sealed (len >= KT_CRYPTO_TAG_BYTES bytes) into out (len -
 * KT_CRYPTO_TAG_BYTES bytes). KT_ERR_CHECKSUM when the tag does not verify:
 * the bytes, the associated data or the nonce were changed, or the key is
 * another one. */
enum kt_err kt_crypto_open(const struct kt_crypto_key *key, const uint8_t nonce[KT_CRYPTO_NONCE_BYTES],
			   const uint8_t *ad, size_t ad_len, const uint8_t *sealed, size_t len, uint8_t *out);

/* The associated data of a sealed block part (SPEC 4.6): the part (1 the
 * record table, 2 the data frame), the segment's partition, generation and
 * topic, and the block's index and the header fields the records are
 * decoded with, so that a block cannot be moved to another file or place,
 * nor its header changed, without failing authentication. Returns its
 * length; out holds KT_CRYPTO_AD_MAX bytes. */
#define KT_CRYPTO_PART_TABLE 1
#define KT_CRYPTO_PART_DATA  2
#define KT_CRYPTO_AD_MAX     (70 + KT_SEG_TOPIC_MAX)
size_t kt_crypto_block_ad(uint8_t *out, uint8_t part, const char *topic, int32_t partition, uint32_t generation,
			  const struct kt_block_info *b, uint32_t table_raw_size);

#endif
