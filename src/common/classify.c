/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <fnmatch.h>
#include <glib.h>

#include "classify.h"

static const char *const file_verdict_table[_FILE_VERDICT_MAX] = {
        [FILE_ELIGIBLE] = "eligible",
        [FILE_IGNORED_HIDDEN] = "hidden",
        [FILE_IGNORED_TEMPORARY] = "temporary",
        [FILE_IGNORED_KEYWORD] = "keyword",
        [FILE_IGNORED_NO_KIND] = "kind",
};

const char *file_verdict_to_string(FileVerdict v) {
        return v >= 0 && v < _FILE_VERDICT_MAX ? file_verdict_table[v] : NULL;
}

/* What browsers, sync clients and copy tools name a file while it is being
 * written; the final rename makes it eligible. */
static const char *const temporary_suffixes[] = { ".tmp", ".part", ".partial", ".crdownload" };

static bool is_hidden(const char *name) {
        /* '~' covers editor backups and the "~$…" locks of Office too. */
        return isempty(name) || name[0] == '.' || name[0] == '~';
}

static bool is_temporary(const char *name) {
        size_t n = strlen(name);

        for (size_t i = 0; i < ELEMENTSOF(temporary_suffixes); i++) {
                size_t k = strlen(temporary_suffixes[i]);
                if (n >= k && g_ascii_strcasecmp(name + n - k, temporary_suffixes[i]) == 0)
                        return true;
        }
        return false;
}

bool name_is_hidden_or_temporary(const char *name) {
        return is_hidden(name) || is_temporary(name);
}

/* A form of s in which case no longer matters. Names come from Windows,
 * macOS and Linux clients alike: valid UTF-8 is composed (NFC, so that a
 * macOS "é" in two code points equals the usual one) and case-folded; in a
 * name that is not UTF-8 every valid character is still folded and each
 * invalid byte is kept as it is, so nothing ever fails on a strange name.
 * Locale-independent: the same name always folds the same way. */
static char *fold(const char *s) {
        if (g_utf8_validate(s, -1, NULL)) {
                g_autofree char *nfc = g_utf8_normalize(s, -1, G_NORMALIZE_DEFAULT_COMPOSE);
                g_autofree char *folded = g_utf8_casefold(nfc ?: s, -1);
                char *again = g_utf8_normalize(folded, -1, G_NORMALIZE_DEFAULT_COMPOSE);
                return again ?: g_steal_pointer(&folded);
        }

        GString *out = g_string_sized_new(strlen(s));
        for (const char *p = s; *p;) {
                gunichar c = g_utf8_get_char_validated(p, -1);
                if (c == (gunichar) -1 || c == (gunichar) -2) {
                        g_string_append_c(out, *p);
                        p++;
                        continue;
                }
                const char *next = g_utf8_next_char(p);
                if (c < 0x80)
                        g_string_append_c(out, g_ascii_tolower(*p));
                else {
                        g_autofree char *f = g_utf8_casefold(p, next - p);
                        g_string_append(out, f);
                }
                p = next;
        }
        return g_string_free(out, false);
}

static bool contains_folded(const char *folded_name, const char *word) {
        g_autofree char *w = fold(word);
        return strstr(folded_name, w) != NULL;
}

/* Both sides are folded before fnmatch(3): FNM_CASEFOLD alone folds only
 * what the C library's current locale knows, which for a daemon started
 * in the "C" locale is ASCII. */
static bool kind_matches(const FileKind *kind, const char *folded_name) {
        for (char **p = kind->patterns; p && *p; p++) {
                g_autofree char *pattern = fold(*p);
                if (fnmatch(pattern, folded_name, FNM_CASEFOLD) == 0)
                        return true;
        }
        return false;
}

FileVerdict classify_file(const Config *c, const CameraConfig *cam, const char *name, size_t *ret_kind,
                          bool *ret_trigger) {
        if (!name)
                return FILE_IGNORED_HIDDEN;
        const char *slash = strrchr(name, '/');
        if (slash)
                name = slash + 1;

        if (is_hidden(name))
                return FILE_IGNORED_HIDDEN;
        if (is_temporary(name))
                return FILE_IGNORED_TEMPORARY;

        g_autofree char *folded = fold(name);

        for (char **k = c ? c->ignore_keywords : NULL; k && *k; k++)
                /* An empty keyword would ignore everything; the configuration
                 * refuses it, and it is skipped here all the same. */
                if (!isempty(*k) && contains_folded(folded, *k))
                        return FILE_IGNORED_KEYWORD;

        const FileKind *kinds = cam ? cam->kinds : c ? c->kinds : NULL;
        size_t n_kinds = cam ? cam->n_kinds : c ? c->n_kinds : 0;
        size_t kind = 0;
        while (kind < n_kinds && !kind_matches(&kinds[kind], folded))
                kind++;
        if (kind >= n_kinds)
                return FILE_IGNORED_NO_KIND;

        if (ret_kind)
                *ret_kind = kind;
        if (ret_trigger)
                *ret_trigger = cam && cam->trigger &&
                               (isempty(cam->trigger_keyword) || contains_folded(folded, cam->trigger_keyword));
        return FILE_ELIGIBLE;
}

/* The extension starts at the last '.' of the base name, even a leading
 * one (".TIFF" gives ".tiff"; hidden names never get this far anyway). A
 * trailing '.' gives "": "name." has nothing after the dot, and a clean
 * name ending in '.' would be mangled by Windows clients. Lower-cased
 * character by character with the Unicode tables, not the locale: clean
 * names must not depend on the daemon's environment. */
const char *file_extension_lower(const char *name, char buf[static 32]) {
        buf[0] = 0;
        if (!name)
                return buf;

        const char *base = strrchr(name, '/');
        base = base ? base + 1 : name;
        const char *dot = strrchr(base, '.');
        if (!dot || dot[1] == 0)
                return buf;

        size_t n = 0;
        for (const char *p = dot; *p;) {
                char ch[8];
                size_t len;
                gunichar c = g_utf8_get_char_validated(p, -1);

                if (c == (gunichar) -1 || c == (gunichar) -2) {
                        ch[0] = *p++;
                        len = 1;
                } else if (c < 0x80) {
                        ch[0] = g_ascii_tolower(*p++);
                        len = 1;
                } else {
                        len = (size_t) g_unichar_to_utf8(g_unichar_tolower(c), ch);
                        p = g_utf8_next_char(p);
                }
                if (n + len > 31) {
                        buf[0] = 0;
                        return buf;
                }
                memcpy(buf + n, ch, len);
                n += len;
        }
        buf[n] = 0;
        return buf;
}
