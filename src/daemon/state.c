/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Snapshots as plain data: made in the event loop, folded together while
 * the worker is busy, written by state-files.c. */

#include "state-internal.h"

StateSnapshot *state_snapshot_new(void) {
        return g_new0(StateSnapshot, 1);
}


void state_shot_clear(StateShot *sh) {
        g_free(sh->trigger_camera);
        g_strfreev(sh->expected);
        g_free(sh->raw_root);
        for (size_t i = 0; i < sh->n_kinds; i++) {
                g_free(sh->kinds[i].camera);
                g_strfreev(sh->kinds[i].ids);
        }
        g_free(sh->kinds);
        for (size_t i = 0; i < sh->n_files; i++) {
                g_free(sh->files[i].path);
                g_free(sh->files[i].camera);
        }
        g_free(sh->files);
        if (sh->metadata)
                g_hash_table_unref(sh->metadata);
        g_strfreev(sh->duplicate_triggers);
        *sh = (StateShot) {};
}

GHashTable *state_metadata_copy(GHashTable *from) {
        GHashTable *to = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        if (from) {
                GHashTableIter it;
                void *k, *v;
                g_hash_table_iter_init(&it, from);
                while (g_hash_table_iter_next(&it, &k, &v))
                        g_hash_table_insert(to, g_strdup(k), g_strdup(v));
        }
        return to;
}

void state_shot_copy(const StateShot *from, StateShot *to) {
        *to = *from;
        to->trigger_camera = g_strdup(from->trigger_camera);
        to->expected = g_strdupv(from->expected);
        to->raw_root = g_strdup(from->raw_root);
        to->kinds = g_new(StateKinds, MAX(from->n_kinds, 1u));
        for (size_t i = 0; i < from->n_kinds; i++) {
                to->kinds[i].camera = g_strdup(from->kinds[i].camera);
                to->kinds[i].ids = g_strdupv(from->kinds[i].ids);
        }
        to->files = g_new(StateFile, MAX(from->n_files, 1u));
        for (size_t i = 0; i < from->n_files; i++) {
                to->files[i] = from->files[i];
                to->files[i].path = g_strdup(from->files[i].path);
                to->files[i].camera = g_strdup(from->files[i].camera);
        }
        to->metadata = state_metadata_copy(from->metadata);
        to->duplicate_triggers = g_strdupv(from->duplicate_triggers);
}

StateSnapshot *state_snapshot_free(StateSnapshot *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_shots; i++)
                state_shot_clear(&s->shots[i]);
        g_free(s->shots);
        for (size_t i = 0; i < s->n_counters; i++)
                g_free(s->counters[i].ranges);
        g_free(s->counters);
        state_clocks_clear(s);
        g_free(s->forget);
        g_free(s->last_shot);
        g_free(s->raw_root);
        if (s->removed)
                g_ptr_array_unref(s->removed);
        if (s->bad)
                g_ptr_array_unref(s->bad);
        g_free(s);
        return NULL;
}

StateShot *state_snapshot_add_shot(StateSnapshot *s) {
        s->shots = g_renew(StateShot, s->shots, s->n_shots + 1);
        StateShot *sh = &s->shots[s->n_shots++];
        *sh = (StateShot) {
                .late_grace = -1,
                .metadata = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free),
        };
        return sh;
}

const StateKinds *state_shot_kinds(const StateShot *sh, const char *camera) {
        for (size_t i = 0; i < sh->n_kinds; i++)
                if (streq(sh->kinds[i].camera, camera))
                        return &sh->kinds[i];
        return NULL;
}

StateKinds *state_shot_add_kinds(StateShot *sh, const char *camera) {
        sh->kinds = g_renew(StateKinds, sh->kinds, sh->n_kinds + 1);
        StateKinds *k = &sh->kinds[sh->n_kinds++];
        *k = (StateKinds) { .camera = g_strdup(camera) };
        return k;
}

StateFile *state_shot_add_file(StateShot *sh) {
        sh->files = g_renew(StateFile, sh->files, sh->n_files + 1);
        StateFile *f = &sh->files[sh->n_files++];
        *f = (StateFile) {};
        return f;
}

void state_snapshot_add_counter(StateSnapshot *s, uint32_t date, uint32_t next, const uint32_t *ranges,
                                uint32_t n_ranges) {
        s->counters = g_renew(StateCounter, s->counters, s->n_counters + 1);
        StateCounter *c = &s->counters[s->n_counters++];
        *c = (StateCounter) {
                .date = date,
                .next = next,
                .ranges = g_memdup2(ranges, (gsize) n_ranges * 2 * sizeof(uint32_t)),
                .n_ranges = n_ranges,
        };
}

void state_snapshot_absorb(StateSnapshot *newer, StateSnapshot *older) {
        newer->seq = MAX(newer->seq, older->seq);
        if (newer->full) {
                /* It holds everything already; only a reset must not be lost. */
                return;
        }
        newer->full = older->full;
        newer->drop_legacy = newer->drop_legacy || older->drop_legacy;
        /* Clocks come with the main file: a newer one without it keeps the
         * older one's (which may hold none, every clock being fresh). */
        if (!newer->write_main && older->write_main) {
                state_clocks_clear(newer);
                newer->clocks = g_steal_pointer(&older->clocks);
                newer->n_clocks = older->n_clocks;
                older->n_clocks = 0;
                newer->clock_reference = g_steal_pointer(&older->clock_reference);
        }
        newer->write_main = newer->write_main || older->write_main;
        if (!newer->last_shot)
                newer->last_shot = g_steal_pointer(&older->last_shot);
        if (!newer->raw_root)
                newer->raw_root = g_steal_pointer(&older->raw_root);
        if (newer->reset_forgotten)
                older->n_forget = 0; /* forgotten in the old root, before the reset */
        else if (older->reset_forgotten)
                newer->reset_forgotten = true;
        /* Shots the newer one does not mention keep the older version. */
        for (size_t i = 0; i < older->n_shots; i++) {
                StateShot *o = &older->shots[i];
                bool mentioned = false;
                for (size_t j = 0; j < newer->n_shots && !mentioned; j++)
                        mentioned = newer->shots[j].date == o->date && newer->shots[j].number == o->number;
                char id[SHOT_ID_MAX];
                (void) shot_format_id(o->date, o->number, id);
                for (guint j = 0; newer->removed && j < newer->removed->len && !mentioned; j++)
                        mentioned = streq(newer->removed->pdata[j], id);
                if (mentioned)
                        continue;
                newer->shots = g_renew(StateShot, newer->shots, newer->n_shots + 1);
                newer->shots[newer->n_shots++] = *o;
                *o = (StateShot) {};
        }
        for (guint i = 0; older->removed && i < older->removed->len; i++) {
                const char *id = older->removed->pdata[i];
                bool readded = false;
                for (size_t j = 0; j < newer->n_shots && !readded; j++) {
                        char nid[SHOT_ID_MAX];
                        (void) shot_format_id(newer->shots[j].date, newer->shots[j].number, nid);
                        readded = streq(nid, id);
                }
                if (!readded)
                        state_snapshot_remove_shot(newer, id);
        }
        if (older->n_forget > 0) {
                StateForgotten *merged = g_new(StateForgotten, older->n_forget + newer->n_forget);
                memcpy(merged, older->forget, older->n_forget * sizeof(StateForgotten));
                if (newer->n_forget > 0)
                        memcpy(merged + older->n_forget, newer->forget, newer->n_forget * sizeof(StateForgotten));
                g_free(newer->forget);
                newer->forget = merged;
                newer->n_forget += older->n_forget;
        }
}

void state_snapshot_remove_shot(StateSnapshot *s, const char *id) {
        if (!s->removed)
                s->removed = g_ptr_array_new_with_free_func(g_free);
        for (guint i = 0; i < s->removed->len; i++)
                if (streq(s->removed->pdata[i], id))
                        return;
        g_ptr_array_add(s->removed, g_strdup(id));
}
