/* kt_archive_key.c - the rule that an archive is encrypted with one key or
 * not at all (docs/OPERATIONS.md "Encryption at rest"), checked against
 * the archive's newest segment before a command reads or writes records.
 * The reader checks every file again (its key id) as it opens it; this
 * makes a wrong or missing key fail before a restore creates topics or a
 * dump writes a segment, and keeps a dump from mixing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt_archive.h"
#include "kt_catalog.h"
#include "kt_segment_reader.h"

#define NEWEST 4 /* segments tried, newest first, when one cannot be opened */

struct newest {
	int64_t id[NEWEST];
	char *path[NEWEST];
	int nomem;
};

static int newest_cb(void *ctx, const struct kt_catalog_segment *seg)
{
	struct newest *n = ctx;
	int at = NEWEST;
	while (at > 0 && (!n->path[at - 1] || n->id[at - 1] < seg->segment_id))
		at--;
	if (at == NEWEST)
		return 0;
	free(n->path[NEWEST - 1]);
	memmove(&n->path[at + 1], &n->path[at], (NEWEST - 1 - (size_t)at) * sizeof(n->path[0]));
	memmove(&n->id[at + 1], &n->id[at], (NEWEST - 1 - (size_t)at) * sizeof(n->id[0]));
	n->id[at] = seg->segment_id;
	n->path[at] = strdup(seg->path);
	if (!n->path[at])
		n->nomem = 1;
	return n->nomem;
}

/* The newest segment that opens: whether it is encrypted, its key id and
 * name; *found 0 for an archive without a readable segment. */
static enum kt_err newest_state(struct kt_archive *a, int *found, int *encrypted, uint8_t *id, char *rel,
				size_t rel_size, struct kt_diag *diag)
{
	struct newest n = {{0}, {NULL}, 0};
	enum kt_err err = kt_catalog_each_segment(kt_archive_catalog(a), NULL, newest_cb, &n, diag);
	if (!err && n.nomem)
		err = KT_ERR_NOMEM;
	*found = *encrypted = 0;
	for (int i = 0; !err && !*found && i < NEWEST && n.path[i]; i++) {
		struct kt_store_segment *seg;
		/* a file that does not open is verify's business, not this one's;
		 * from a bucket only the header and footer ranges are fetched */
		if (kt_archive_segment_open(a, n.path[i], NULL, &seg, NULL))
			continue;
		const struct kt_segment_info *info = kt_segment_reader_info(kt_store_segment_reader(seg));
		*found = 1;
		*encrypted = info->encrypted;
		memcpy(id, info->key_id, KT_SEG_KEY_ID_SIZE);
		snprintf(rel, rel_size, "%s", n.path[i]);
		kt_store_segment_close(seg);
	}
	for (int i = 0; i < NEWEST; i++)
		free(n.path[i]);
	return err;
}

enum kt_err kt_archive_encryption(struct kt_archive *a, int *out_encrypted, uint8_t id[KT_SEG_KEY_ID_SIZE],
				  struct kt_diag *diag)
{
	int found;
	char rel[KT_DIAG_PATH_MAX];
	return newest_state(a, &found, out_encrypted, id, rel, sizeof(rel), diag);
}

enum kt_err kt_archive_use_key(struct kt_archive *a, const struct kt_crypto_key *key, int writing, struct kt_diag *diag)
{
	kt_archive_set_key(a, key);
	int found, encrypted;
	uint8_t id[KT_SEG_KEY_ID_SIZE];
	char rel[KT_DIAG_PATH_MAX] = "";
	enum kt_err err = newest_state(a, &found, &encrypted, id, rel, sizeof(rel), diag);
	if (err || !found)
		return err;
	char have[KT_CRYPTO_KEY_ID_HEX], given[KT_CRYPTO_KEY_ID_HEX];
	kt_crypto_key_id_hex(id, have);
	if (encrypted && !key)
		return kt_diag_fail(diag, KT_ERR_INVALID,
				    "archive %s is encrypted (key id %s, newest segment %s): give its key with "
				    "--encrypt-key-file",
				    kt_archive_dir(a), have, rel);
	if (encrypted && memcmp(id, kt_crypto_key_id(key), KT_SEG_KEY_ID_SIZE) != 0) {
		kt_crypto_key_id_hex(kt_crypto_key_id(key), given);
		return kt_diag_fail(diag, KT_ERR_KEY,
				    "archive %s is encrypted with key id %s (newest segment %s), the key file has key "
				    "id %s%s",
				    kt_archive_dir(a), have, rel, given,
				    writing ? "; an archive holds one key: dump into a new archive to change keys"
					    : "");
	}
	if (!encrypted && key && writing)
		return kt_diag_fail(
			diag, KT_ERR_EXISTS,
			"archive %s holds unencrypted segments (newest %s): an archive is encrypted from its "
			"first dump or not at all; dump into a new archive to encrypt",
			kt_archive_dir(a), rel);
	return KT_OK;
}
