/* kt_man.c - `ktape help --man COMMAND`: the command's man page, in roff,
 * made from the same help text that `ktape help COMMAND` prints, so the
 * two cannot disagree. Meson builds ktape-COMMAND.1 with it and installs
 * them; tests/man_pages.sh renders each with groff -ww.
 *
 * The help texts follow one layout, which this relies on: paragraphs; an
 * "Options:" line and option lines ("  -x, --long ARG   what it does", a
 * continuation indented further); "Exit codes: ..." paragraphs; an
 * "Examples:" line and indented command lines. Indented lines elsewhere
 * are kept as preformatted blocks. */
#include <stdio.h>
#include <string.h>

#include "kt_cli.h"

/* Text for roff: backslashes escaped, a leading '.' or '\'' made literal,
 * and with dashes set the hyphen is a minus (options, commands). */
static void roff(const char *s, size_t n, int dashes)
{
	if (n && (s[0] == '.' || s[0] == '\''))
		fputs("\\&", stdout);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\')
			fputs("\\e", stdout);
		else if (s[i] == '-' && dashes)
			fputs("\\-", stdout);
		else
			putchar(s[i]);
	}
}

static void roff_line(const char *s, size_t n, int dashes)
{
	roff(s, n, dashes);
	putchar('\n');
}

static size_t indent_of(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && s[i] == ' ')
		i++;
	return i;
}

/* "  -a, --archive DIR   archive directory": where the description
 * starts (after the first run of 2+ spaces past the term), or n. */
static size_t option_split(const char *s, size_t n, size_t *term_end)
{
	size_t i = indent_of(s, n);
	/* a line of only a term ("--encrypt-key-file FILE", its description
	 * on the next line) ends at n: the last character is the term's */
	while (i < n && !(s[i] == ' ' && i + 1 < n && s[i + 1] == ' '))
		i++;
	*term_end = i;
	while (i < n && s[i] == ' ')
		i++;
	return i;
}

enum man_part { PART_TEXT, PART_OPTIONS, PART_EXAMPLES };

struct man_state {
	enum man_part part;
	int pre;	/* inside .nf */
	int in_option;	/* a .TP entry is open */
	int exit_shown; /* the EXIT STATUS heading is printed */
};

static void end_pre(struct man_state *m)
{
	if (m->pre) {
		puts(".fi");
		m->pre = 0;
	}
}

static void text_line(struct man_state *m, const char *s, size_t n, int *para_start)
{
	size_t ind = indent_of(s, n);
	if (ind >= 2) {
		if (!m->pre) {
			puts(".PP\n.nf");
			m->pre = 1;
		}
		roff_line(s, n, 0);
		return;
	}
	end_pre(m);
	if (*para_start) {
		if (n >= 11 && !strncmp(s, "Exit codes:", 11) && !m->exit_shown) {
			puts(".SH EXIT STATUS");
			m->exit_shown = 1;
		} else {
			puts(".PP");
		}
	}
	roff_line(s, n, 0);
}

static void option_line(struct man_state *m, const char *s, size_t n)
{
	size_t ind = indent_of(s, n);
	if (ind <= 6 && ind < n && s[ind] == '-') {
		size_t term_end;
		size_t d = option_split(s, n, &term_end);
		puts(".TP");
		fputs("\\fB", stdout);
		roff(s + ind, term_end - ind, 1);
		puts("\\fR");
		if (d < n)
			roff_line(s + d, n - d, 0);
		m->in_option = 1;
		return;
	}
	roff_line(s + ind, n - ind, 0); /* a continuation of the option above */
}

void kt_cli_print_man(const struct kt_command *cmd)
{
	char upper[64];
	size_t k = 0;
	for (const char *p = "ktape-"; *p && k < sizeof(upper) - 1; p++)
		upper[k++] = (char)(*p - 32 * (*p >= 'a' && *p <= 'z'));
	for (const char *p = cmd->name; *p && k < sizeof(upper) - 1; p++)
		upper[k++] = (char)(*p - 32 * (*p >= 'a' && *p <= 'z'));
	upper[k] = '\0';
	printf(".\\\" Made by 'ktape help --man %s' from the help text; do not edit.\n", cmd->name);
	printf(".TH %s 1 \"\" \"ktape %s\" \"ktape manual\"\n", upper, KTAPE_VERSION);
	printf(".SH NAME\nktape\\-%s \\- ", cmd->name);
	roff_line(cmd->summary, strlen(cmd->summary), 0);
	puts(".SH SYNOPSIS\n.nf");
	for (const char *l = cmd->usage; *l;) {
		const char *e = strchr(l, '\n');
		size_t n = e ? (size_t)(e - l) : strlen(l);
		size_t ind = indent_of(l, n);
		roff_line(l + ind, n - ind, 1);
		l += n + (e != NULL);
	}
	puts(".fi\n.SH DESCRIPTION");
	struct man_state m = {PART_TEXT, 0, 0, 0};
	int para_start = 1;
	for (const char *l = cmd->help; *l;) {
		const char *e = strchr(l, '\n');
		size_t n = e ? (size_t)(e - l) : strlen(l);
		if (n == 0) {
			if (m.part == PART_OPTIONS)
				m.part = PART_TEXT;
			end_pre(&m);
			para_start = 1;
		} else if (n == 8 && !strncmp(l, "Options:", 8)) {
			end_pre(&m);
			puts(".SH OPTIONS");
			m.part = PART_OPTIONS;
			para_start = 0;
		} else if (n == 9 && !strncmp(l, "Examples:", 9)) {
			end_pre(&m);
			puts(".SH EXAMPLES\n.nf");
			m.part = PART_EXAMPLES;
			m.pre = 1;
		} else if (m.part == PART_OPTIONS) {
			option_line(&m, l, n);
		} else if (m.part == PART_EXAMPLES) {
			size_t ind = indent_of(l, n);
			roff_line(l + ind, n - ind, 1);
		} else {
			text_line(&m, l, n, &para_start);
			para_start = 0;
		}
		l += n + (e != NULL);
	}
	end_pre(&m);
	puts(".SH SEE ALSO\n\\fBktape\\fR(1), \\fBktape\\-archive\\fR(5), and \\fBktape help exit\\-codes\\fR for "
	     "what every exit code means (the same for every command).");
}
