#include "kt_keyset.h"

#include <stdlib.h>
#include <string.h>

#include "kt_fileio.h"

/* An erasure list is read into memory whole; 16 GiB is far past millions
 * of keys and still refuses /dev/zero. */
#define KEYSET_FILE_MAX ((size_t)16 << 30)

struct slot {
	uint64_t off1; /* offset of the key in the arena + 1; 0: empty */
	uint32_t len;
	uint32_t hash; /* the hash's high half: most mismatches end here */
};

struct chunk {
	struct chunk *next;
	uint8_t *data;
};

struct kt_keyset {
	struct slot *slots;
	size_t cap; /* a power of two */
	size_t count;
	/* keys live in arenas: the loaded file (decoded in place), then
	 * blocks for keys added one by one. Offsets index a virtual
	 * concatenation: each arena is registered with its base offset. */
	uint8_t **arena;
	uint64_t *arena_base;
	size_t arena_count, arena_cap;
	uint64_t arena_end; /* the next free virtual offset */
	size_t tail_free;   /* bytes left in the last arena */
	int tail_growable;  /* the last arena is a block of ours, not the file */
};

/* FNV-1a, then a 64-bit finaliser so that the low bits (the slot index)
 * depend on every byte. */
static uint64_t hash_key(const uint8_t *p, size_t n)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64_C(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return h;
}

static const uint8_t *key_at(const struct kt_keyset *s, uint64_t off)
{
	/* arenas are few (the file, then 1 MiB blocks): search from the end */
	size_t i = s->arena_count;
	while (i > 1 && s->arena_base[i - 1] > off)
		i--;
	return s->arena[i - 1] + (off - s->arena_base[i - 1]);
}

enum kt_err kt_keyset_new(struct kt_keyset **out)
{
	struct kt_keyset *s = calloc(1, sizeof(*s));
	if (!s)
		return KT_ERR_NOMEM;
	s->cap = 64;
	s->slots = calloc(s->cap, sizeof(*s->slots));
	if (!s->slots) {
		free(s);
		return KT_ERR_NOMEM;
	}
	*out = s;
	return KT_OK;
}

void kt_keyset_free(struct kt_keyset *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->arena_count; i++)
		free(s->arena[i]);
	free(s->arena);
	free(s->arena_base);
	free(s->slots);
	free(s);
}

size_t kt_keyset_count(const struct kt_keyset *s)
{
	return s ? s->count : 0;
}

static struct slot *find(const struct kt_keyset *s, const uint8_t *key, size_t len, uint64_t h)
{
	size_t mask = s->cap - 1;
	uint32_t hi = (uint32_t)(h >> 32);
	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		struct slot *sl = &s->slots[i];
		if (!sl->off1)
			return sl;
		if (sl->hash == hi && sl->len == len && (!len || !memcmp(key_at(s, sl->off1 - 1), key, len)))
			return sl;
	}
}

int kt_keyset_has(const struct kt_keyset *s, const uint8_t *key, size_t len)
{
	if (!s || !s->count || len > UINT32_MAX)
		return 0;
	return find(s, key, len, hash_key(key, len))->off1 != 0;
}

static enum kt_err grow(struct kt_keyset *s)
{
	size_t cap = s->cap * 2;
	struct slot *n = calloc(cap, sizeof(*n));
	if (!n)
		return KT_ERR_NOMEM;
	struct slot *old = s->slots;
	size_t old_cap = s->cap;
	s->slots = n;
	s->cap = cap;
	for (size_t i = 0; i < old_cap; i++) {
		if (!old[i].off1)
			continue;
		const uint8_t *k = key_at(s, old[i].off1 - 1);
		*find(s, k, old[i].len, hash_key(k, old[i].len)) = old[i];
	}
	free(old);
	return KT_OK;
}

static enum kt_err add_arena(struct kt_keyset *s, uint8_t *data, size_t size, int growable)
{
	if (s->arena_count == s->arena_cap) {
		size_t cap = s->arena_cap ? s->arena_cap * 2 : 8;
		uint8_t **a = realloc(s->arena, cap * sizeof(*a));
		if (!a)
			return KT_ERR_NOMEM;
		s->arena = a;
		uint64_t *b = realloc(s->arena_base, cap * sizeof(*b));
		if (!b)
			return KT_ERR_NOMEM;
		s->arena_base = b;
		s->arena_cap = cap;
	}
	s->arena[s->arena_count] = data;
	s->arena_base[s->arena_count] = s->arena_end;
	s->arena_count++;
	s->tail_free = growable ? size : 0;
	s->tail_growable = growable;
	if (!growable)
		s->arena_end += size;
	return KT_OK;
}

/* Inserts a key whose bytes are already at virtual offset off. */
static enum kt_err insert_at(struct kt_keyset *s, uint64_t off, const uint8_t *key, size_t len, uint64_t h)
{
	if ((s->count + 1) * 2 > s->cap) {
		enum kt_err err = grow(s);
		if (err)
			return err;
	}
	struct slot *sl = find(s, key, len, h);
	if (sl->off1)
		return KT_OK;
	*sl = (struct slot){off + 1, (uint32_t)len, (uint32_t)(h >> 32)};
	s->count++;
	return KT_OK;
}

enum kt_err kt_keyset_add(struct kt_keyset *s, const uint8_t *key, size_t len)
{
	if (len > UINT32_MAX)
		return KT_ERR_LIMIT;
	uint64_t h = hash_key(key, len);
	if (s->count && find(s, key, len, h)->off1)
		return KT_OK;
	if (!s->tail_growable || s->tail_free < len) {
		size_t size = len > (1 << 20) ? len : (1 << 20);
		uint8_t *block = malloc(size);
		if (!block)
			return KT_ERR_NOMEM;
		enum kt_err err = add_arena(s, block, size, 1);
		if (err) {
			free(block);
			return err;
		}
	}
	uint64_t off = s->arena_end;
	uint8_t *dst = s->arena[s->arena_count - 1] + (off - s->arena_base[s->arena_count - 1]);
	if (len)
		memcpy(dst, key, len);
	s->arena_end += len;
	s->tail_free -= len;
	return insert_at(s, off, dst, len, h);
}

/* ---- the key file ---- */

static int b64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decodes n base64 characters at p into p itself (the output is shorter
 * than the input, so in place is safe). -1 when they are not base64. */
static int64_t b64_decode_inplace(uint8_t *p, size_t n)
{
	while (n && p[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return -1;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64_value(p[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			p[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* the unused low bits of the last character must be zero: otherwise
	 * two spellings would name one key, and a typo would go unnoticed */
	if (bits && (acc & ((1u << bits) - 1)))
		return -1;
	return (int64_t)o;
}

enum kt_err kt_keyset_load_file(const char *path, struct kt_keyset **out, kt_keyset_digest_cb digest, void *digest_ctx,
				struct kt_diag *diag)
{
	uint8_t *data;
	size_t len;
	enum kt_err err = kt_read_file(path, KEYSET_FILE_MAX, &data, &len, diag);
	if (err)
		return err;
	if (digest)
		digest(digest_ctx, data, len);
	struct kt_keyset *s;
	err = kt_keyset_new(&s);
	if (!err)
		err = add_arena(s, data, len, 0);
	if (err) {
		free(data);
		kt_keyset_free(s);
		return kt_diag_fail(diag, KT_ERR_NOMEM, "%s: no memory for the key list", path);
	}
	size_t line = 0;
	for (size_t pos = 0; pos < len && !err;) {
		line++;
		uint8_t *nl = memchr(data + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - data) : len;
		size_t next = nl ? end + 1 : len;
		if (end > pos && data[end - 1] == '\r')
			end--;
		if (end == pos) {
			pos = next;
			continue;
		}
		uint8_t *k = data + pos;
		size_t klen = end - pos;
		if (klen >= 7 && !memcmp(k, "base64:", 7)) {
			int64_t n = b64_decode_inplace(k + 7, klen - 7);
			if (n < 0) {
				err = kt_diag_fail(diag, KT_ERR_INVALID,
						   "%s line %zu: not valid base64 after 'base64:'", path, line);
				break;
			}
			k += 7;
			klen = (size_t)n;
		}
		if (klen > UINT32_MAX)
			err = kt_diag_fail(diag, KT_ERR_LIMIT, "%s line %zu: a key over 4 GiB", path, line);
		else
			err = insert_at(s, (uint64_t)(k - data), k, klen, hash_key(k, klen));
		if (err == KT_ERR_NOMEM)
			kt_diag_fail(diag, err, "%s: no memory for the key list (line %zu)", path, line);
		pos = next;
	}
	if (err) {
		kt_keyset_free(s);
		return err;
	}
	*out = s;
	return KT_OK;
}
