/* Replays files (or every file of directories) through a fuzz target's
 * LLVMFuzzerTestOneInput, so the corpus and crash reproducers run in the
 * normal test suite without libFuzzer. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: cannot open %s\n", path);
		return 1;
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *data = n >= 0 ? malloc(n > 0 ? (size_t)n : 1) : NULL;
	if (!data) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		fclose(f);
		return 1;
	}
	size_t got = fread(data, 1, (size_t)n, f);
	fclose(f);
	/* also every prefix of small files: truncation at each byte */
	LLVMFuzzerTestOneInput(data, got);
	if (got <= 8192)
		for (size_t cut = 0; cut < got; cut += 13)
			LLVMFuzzerTestOneInput(data, cut);
	free(data);
	return 0;
}

int main(int argc, char **argv)
{
	int files = 0, bad = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s does not exist\n", argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			bad |= replay_file(argv[i]);
			files++;
			continue;
		}
		DIR *d = opendir(argv[i]);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char p[4096];
			snprintf(p, sizeof(p), "%s/%s", argv[i], e->d_name);
			/* subdirectories (format/vectors/v1) are given on their own */
			if (stat(p, &st) != 0 || !S_ISREG(st.st_mode))
				continue;
			bad |= replay_file(p);
			files++;
		}
		if (d)
			closedir(d);
	}
	printf("replayed %d files\n", files);
	return bad || files == 0;
}
