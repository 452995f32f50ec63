/* kt_exit_codes.c - the one table of ktape's exit codes: what each means
 * and what an operator does about it. `ktape help exit-codes` prints it;
 * tests/cli_docs.sh checks that docs/OPERATIONS.md and docs/ktape.1 list
 * exactly these codes, and tests/integration/test_exit_codes.sh makes each
 * one happen by the case it names. */
#include <stdio.h>

#include "kt_cli.h"

const struct kt_exit_info kt_exit_codes[] = {
	{KT_EXIT_OK, "ok", "the command did all it was asked"},
	{KT_EXIT_ERROR, "error",
	 "a failure without a more specific code (a full disk, a read-only archive for a "
	 "writer, ...): read the one-line message"},
	{KT_EXIT_USAGE, "usage", "bad command line or option value; the message names it"},
	{KT_EXIT_LOCKED, "locked",
	 "another ktape process holds the archive's writer lock (or a restore is running "
	 "during reindex)"},
	{KT_EXIT_DATA_LOST, "data lost",
	 "records are gone: dump finished but retention deleted some before they were read, or the selection of "
	 "cat or restore spans offsets the archive lost (missing ranges; restore --allow-gaps goes on without them)"},
	{KT_EXIT_DAMAGED, "damaged",
	 "archive data or the catalog failed a checksum or format check, or a file the "
	 "catalog lists is missing: ktape verify says where"},
	{KT_EXIT_KAFKA, "kafka",
	 "the cluster is unreachable, refused authentication, or a broker reported an "
	 "error (the message names topic, partition and offset where it applies)"},
	{KT_EXIT_NOT_FOUND, "not found",
	 "the archive, a topic or a partition does not exist (in the archive, or in "
	 "the target cluster for compare)"},
	{KT_EXIT_MISMATCH, "mismatch", "compare found differences between the cluster and the archive"},
	{KT_EXIT_REFUSED, "refused",
	 "refused for safety: a target that already holds records, an active consumer "
	 "group"},
	{KT_EXIT_VERSION, "version", "the archive was written by a newer, incompatible ktape: upgrade ktape"},
	{KT_EXIT_STORAGE, "storage",
	 "the bucket of an s3:// archive was unreachable within --s3-timeout, or the object store refused the "
	 "request (access denied, a bad signature): the message has the store's own error code"},
	{KT_EXIT_KEY, "key",
	 "the archive is encrypted with another key than the one in --encrypt-key-file (the message names both "
	 "key ids); no key at all for an encrypted archive is a usage error (2)"},
	{KT_EXIT_INTERRUPTED, "interrupted",
	 "stopped by SIGINT or SIGTERM; what was complete is committed and the next run continues"},
};
const size_t kt_exit_code_count = sizeof(kt_exit_codes) / sizeof(kt_exit_codes[0]);

void kt_cli_print_exit_codes(void)
{
	printf("ktape exit codes (the same for every command):\n\n");
	for (size_t i = 0; i < kt_exit_code_count; i++)
		printf("  %3d  %-12s %s\n", kt_exit_codes[i].code, kt_exit_codes[i].name, kt_exit_codes[i].meaning);
}
