#include "kt_crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kt_buf.h"
#include "kt_parse.h"

struct kt_crypto_key {
	uint8_t key[KT_CRYPTO_KEY_BYTES];
	uint8_t id[KT_CRYPTO_KEY_ID_BYTES];
};

/* The key id's fixed message (SPEC 4.6): a keyed hash names the key
 * without saying anything about its bytes. */
static const char key_id_context[] = "ktape key id";

/* libsodium must be initialised once before use; sodium_init() is
 * idempotent and thread-safe, so every entry point that allocates calls it. */
static enum kt_err crypto_init(void)
{
	return sodium_init() < 0 ? KT_ERR_NOMEM : KT_OK;
}

static enum kt_err key_new(const uint8_t bytes[KT_CRYPTO_KEY_BYTES], struct kt_crypto_key **out)
{
	*out = NULL;
	if (crypto_init())
		return KT_ERR_NOMEM;
	/* guarded, locked memory, wiped by sodium_free */
	struct kt_crypto_key *k = sodium_malloc(sizeof(*k));
	if (!k)
		return KT_ERR_NOMEM;
	memcpy(k->key, bytes, KT_CRYPTO_KEY_BYTES);
	uint8_t h[32];
	crypto_generichash(h, sizeof(h), (const unsigned char *)key_id_context, sizeof(key_id_context) - 1, k->key,
			   sizeof(k->key));
	memcpy(k->id, h, sizeof(k->id));
	sodium_memzero(h, sizeof(h));
	*out = k;
	return KT_OK;
}

enum kt_err kt_crypto_key_from_bytes(const uint8_t bytes[KT_CRYPTO_KEY_BYTES], struct kt_crypto_key **out)
{
	return key_new(bytes, out);
}

enum kt_err kt_crypto_key_load(const char *path, struct kt_crypto_key **out, struct kt_diag *diag)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kt_diag_fail(diag, errno == ENOENT ? KT_ERR_NOT_FOUND : KT_ERR_INVALID,
				    "cannot open key file %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return kt_diag_fail(diag, KT_ERR_INVALID, "key file %s is not a regular file", path);
	}
	if (st.st_mode & 077) {
		close(fd);
		return kt_diag_fail(diag, KT_ERR_INVALID,
				    "key file %s may be read or written by group or others (mode %04o): chmod 600 it",
				    path, (unsigned)(st.st_mode & 07777));
	}
	/* 64 digits and a newline; one byte more tells a longer file */
	uint8_t text[2 * KT_CRYPTO_KEY_BYTES + 3];
	ssize_t n = read(fd, text, sizeof(text));
	close(fd);
	if (n < 0)
		return kt_diag_fail(diag, KT_ERR_INVALID, "cannot read key file %s: %s", path, strerror(errno));
	size_t len = (size_t)n;
	if (len == 2 * KT_CRYPTO_KEY_BYTES + 1 && text[len - 1] == '\n')
		len--;
	uint8_t bytes[KT_CRYPTO_KEY_BYTES];
	int ok = len == 2 * KT_CRYPTO_KEY_BYTES;
	uint8_t any = 0;
	for (size_t i = 0; ok && i < KT_CRYPTO_KEY_BYTES; i++) {
		int hi = kt_parse_hex_digit(text[2 * i]), lo = kt_parse_hex_digit(text[2 * i + 1]);
		if (hi < 0 || lo < 0)
			ok = 0;
		else
			bytes[i] = (uint8_t)(hi << 4 | lo);
		any |= ok ? bytes[i] : 0;
	}
	sodium_memzero(text, sizeof(text));
	if (!ok) {
		sodium_memzero(bytes, sizeof(bytes));
		return kt_diag_fail(diag, KT_ERR_INVALID,
				    "key file %s must hold exactly 64 hexadecimal digits (32 bytes) and at most a "
				    "newline; make one with: openssl rand -hex 32",
				    path);
	}
	if (!any)
		return kt_diag_fail(diag, KT_ERR_INVALID, "key file %s holds an all-zero key", path);
	enum kt_err err = key_new(bytes, out);
	sodium_memzero(bytes, sizeof(bytes));
	return err ? kt_diag_fail(diag, err, "cannot allocate memory for the key") : KT_OK;
}

void kt_crypto_key_free(struct kt_crypto_key *key)
{
	if (key)
		sodium_free(key);
}

const uint8_t *kt_crypto_key_id(const struct kt_crypto_key *key)
{
	return key->id;
}

void kt_crypto_sha256_hex(const uint8_t *data, size_t len, char out[KT_CRYPTO_SHA256_HEX])
{
	static const char digits[] = "0123456789abcdef";
	uint8_t h[crypto_hash_sha256_BYTES];
	(void)crypto_init(); /* libsodium picks its implementation there */
	crypto_hash_sha256(h, data, len);
	for (size_t i = 0; i < sizeof(h); i++) {
		out[2 * i] = digits[h[i] >> 4];
		out[2 * i + 1] = digits[h[i] & 15];
	}
	out[2 * sizeof(h)] = '\0';
}

void kt_crypto_key_id_hex(const uint8_t id[KT_CRYPTO_KEY_ID_BYTES], char out[KT_CRYPTO_KEY_ID_HEX])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < KT_CRYPTO_KEY_ID_BYTES; i++) {
		out[2 * i] = digits[id[i] >> 4];
		out[2 * i + 1] = digits[id[i] & 15];
	}
	out[2 * KT_CRYPTO_KEY_ID_BYTES] = '\0';
}

void kt_crypto_random_nonce(uint8_t nonce[KT_CRYPTO_NONCE_BYTES])
{
	/* randombytes needs no sodium_init() for correctness, but call it
	 * anyway: it picks the implementation */
	(void)crypto_init();
	randombytes_buf(nonce, KT_CRYPTO_NONCE_BYTES);
}

enum kt_err kt_crypto_seal(const struct kt_crypto_key *key, const uint8_t nonce[KT_CRYPTO_NONCE_BYTES],
			   const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t len, uint8_t *out)
{
	unsigned long long out_len;
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(out, &out_len, in, len, ad, ad_len, NULL, nonce, key->key) != 0)
		return KT_ERR_LIMIT; /* only for a message over libsodium's maximum */
	return KT_OK;
}

enum kt_err kt_crypto_open(const struct kt_crypto_key *key, const uint8_t nonce[KT_CRYPTO_NONCE_BYTES],
			   const uint8_t *ad, size_t ad_len, const uint8_t *sealed, size_t len, uint8_t *out)
{
	if (len < KT_CRYPTO_TAG_BYTES)
		return KT_ERR_FORMAT;
	unsigned long long out_len;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &out_len, NULL, sealed, len, ad, ad_len, nonce, key->key) !=
	    0)
		return KT_ERR_CHECKSUM;
	return KT_OK;
}

static void put_u64le(uint8_t *p, uint64_t v)
{
	kt_put_u32le(p, (uint32_t)v);
	kt_put_u32le(p + 4, (uint32_t)(v >> 32));
}

size_t kt_crypto_block_ad(uint8_t *out, uint8_t part, const char *topic, int32_t partition, uint32_t generation,
			  const struct kt_block_info *b, uint32_t table_raw_size)
{
	size_t topic_len = strlen(topic);
	if (topic_len > KT_SEG_TOPIC_MAX)
		topic_len = KT_SEG_TOPIC_MAX;
	uint8_t *p = out;
	memcpy(p, "KTAD", 4);
	p[4] = part;
	kt_put_u32le(p + 5, (uint32_t)partition);
	kt_put_u32le(p + 9, generation);
	kt_put_u32le(p + 13, b->index);
	kt_put_u32le(p + 17, b->record_count);
	kt_put_u32le(p + 21, b->raw_size);
	kt_put_u32le(p + 25, table_raw_size);
	put_u64le(p + 29, (uint64_t)b->first_offset);
	put_u64le(p + 37, (uint64_t)b->last_offset);
	put_u64le(p + 45, (uint64_t)b->min_timestamp);
	put_u64le(p + 53, (uint64_t)b->max_timestamp);
	put_u64le(p + 61, (uint64_t)b->base_timestamp);
	p[69] = (uint8_t)topic_len;
	memcpy(p + 70, topic, topic_len);
	return 70 + topic_len;
}
