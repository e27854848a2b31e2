/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Shots and files put back from saved state after a restart: no events,
 * the owner knows them already. */

#include "engine-internal.h"

static int u32_cmp(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
        return x < y ? -1 : x > y;
}

int engine_restore_shot(Engine *e, const EngineShotRestore *r, Shot **ret) {
        char id[SHOT_ID_MAX];

        if (!r || r->number == 0 || r->status >= _SHOT_STATUS_MAX || r->window_start > r->window_end ||
            r->trigger_time < r->window_start || r->trigger_time > r->window_end)
                return -EINVAL;
        if (shot_format_id(r->date, r->number, id) < 0)
                return -EINVAL;
        if (engine_find_shot(e, id))
                return -EEXIST;
        if (r->trigger_camera != ENGINE_NO_CAMERA && !eng_camera_get(e, r->trigger_camera))
                return -ENOENT;
        for (uint32_t i = 0; i < r->n_expected; i++)
                if (!eng_camera_get(e, r->expected[i]))
                        return -ENOENT;

        int k = numbering_restore(e->numbering, r->date, r->number);
        if (k < 0)
                return k;

        Shot *s = eng_shot_alloc(e, r->date, r->number, r->trigger_time, r->window_start, r->window_end);
        s->status = r->status;
        s->trigger_camera = r->trigger_camera;
        s->opened_at = r->opened_at;
        s->closed_at = r->closed_at;
        s->deadline = r->deadline;
        s->n_expected = r->n_expected;
        s->expected = g_new(uint32_t, MAX(r->n_expected, 1u));
        if (r->n_expected > 0)
                memcpy(s->expected, r->expected, r->n_expected * sizeof(uint32_t));
        qsort_safe(s->expected, s->n_expected, sizeof(uint32_t), u32_cmp);
        s->n_missing = s->n_expected;

        eng_shot_index_add(e, s);
        eng_live_add(e, s);
        eng_list_insert(s->status == SHOT_COLLECTING ? &e->collecting : &e->closed, s);
        if (ret)
                *ret = s;
        return 0;
}

int engine_restore_file(Engine *e, Shot *s, const EngineFileInfo *info, bool late, usec_t seen_at) {
        uint32_t slot;

        if (!s || !info || isempty(info->path))
                return -EINVAL;
        if (!eng_slot_of(e, info->camera, info->kind, &slot))
                return -ENOENT;
        if (eng_slot_test(s, slot) || engine_lookup_file(e, info->path))
                return -EEXIST;

        EnginePathKey k;
        engine_path_key(info->path, &k);
        EngineFile *f = eng_file_new(info, &k, seen_at);
        g_hash_table_add(e->files, &f->key);
        if (!s->trigger_file && info->trigger && info->camera == s->trigger_camera && info->dt == s->trigger_time)
                s->trigger_file = f;
        /* eng_assign() sets LATE itself for closed shots; restore says what was. */
        ShotStatus saved = s->status;
        s->status = SHOT_COLLECTING;
        eng_assign(e, s, f, false);
        s->status = saved;
        if (late)
                f->flags |= ENGINE_FILE_LATE;
        return 0;
}

void engine_restore_done(Engine *e, usec_t now) {
        Shot *s = e->collecting.head;
        while (s) {
                Shot *next = s->next;
                eng_maybe_complete(e, s, now);
                s = next;
        }
}
