/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Shots and files put back from saved state after a restart: no events,
 * the owner knows them already. */

#include "engine-internal.h"

static int u32_cmp(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
        return x < y ? -1 : x > y;
}

/* The kinds it opened with where they differ from today's. */
static EngineLayoutSet *restored_layouts(Engine *e, const EngineShotRestore *r) {
        EngineLayoutSet *cur = eng_current_layouts(e);
        EngineLayout **mine = g_new0(EngineLayout *, MAX(cur->n, 1u));
        bool differs = false;
        for (uint32_t i = 0; i < r->n_kinds; i++) {
                const EngineCameraKinds *k = &r->kinds[i];
                EngineCamera *c = eng_camera_get(e, k->camera);
                EngineLayout *l = eng_layout_for(e, c, k->ids, k->n);
                if (l != cur->v[k->camera]) {
                        eng_layout_unref(mine[k->camera]);
                        mine[k->camera] = l;
                        differs = true;
                } else
                        eng_layout_unref(l);
        }
        if (!differs) {
                g_free(mine);
                return eng_layout_set_ref(cur);
        }
        EngineLayoutSet *set = g_malloc(sizeof(EngineLayoutSet) + cur->n * sizeof(EngineLayout *));
        set->ref = 1;
        set->n = cur->n;
        for (uint32_t i = 0; i < cur->n; i++)
                set->v[i] = mine[i] ?: eng_layout_ref(cur->v[i]);
        g_free(mine);
        return set;
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
        for (uint32_t i = 0; i < r->n_kinds; i++)
                if (!eng_camera_get(e, r->kinds[i].camera) || r->kinds[i].n == 0 || r->kinds[i].n > UINT16_MAX)
                        return -EINVAL;

        int k = numbering_restore(e->numbering, r->date, r->number);
        if (k < 0)
                return k;

        Shot *s = eng_shot_alloc(e, r->date, r->number, r->trigger_time, r->window_start, r->window_end);
        s->status = r->status;
        s->trigger_camera = r->trigger_camera;
        s->opened_at = r->opened_at;
        s->closed_at = r->closed_at;
        s->deadline = r->deadline;
        s->late_grace = r->late_grace;
        s->layouts = restored_layouts(e, r);
        s->n_expected = r->n_expected;
        s->expected = g_new(uint32_t, MAX(r->n_expected, 1u));
        if (r->n_expected > 0)
                memcpy(s->expected, r->expected, r->n_expected * sizeof(uint32_t));
        qsort_safe(s->expected, s->n_expected, sizeof(uint32_t), u32_cmp);
        s->n_missing = s->n_expected;
        eng_anchor_at_open(e, s);

        eng_shot_index_add(e, s);
        eng_live_add(e, s);
        eng_list_insert(s->status == SHOT_COLLECTING ? &e->collecting : &e->closed, s);
        if (ret)
                *ret = s;
        return 0;
}

int engine_restore_file(Engine *e, Shot *s, const EngineFileInfo *info, bool late, nsec_t offset, usec_t seen_at) {
        if (!s || !info || isempty(info->path) || offset < -CLOCK_VALUE_MAX || offset > CLOCK_VALUE_MAX)
                return -EINVAL;
        const EngineLayout *l = eng_shot_layout(e, s, info->camera);
        if (!l || info->kind >= l->n_kinds)
                return -ENOENT;
        uint32_t slot = l->slots[info->kind];
        if (eng_slot_test(s, slot))
                return -EEXIST;

        /* Several versions of one path may be in shots (rule 15); the
         * table of files holds the newest. */
        EnginePathKey k;
        engine_path_key(info->path, &k);
        EngineFile *other = eng_lookup_key(e, &k);
        if (other && other->dt == info->dt)
                return -EEXIST;
        EngineFile *f = eng_file_new(info, &k, slot, seen_at);
        f->offset = offset;
        /* Its residual went into the saved clocks already. */
        f->flags |= ENGINE_FILE_SAMPLED;
        if (other && other->dt > info->dt)
                f->flags |= ENGINE_FILE_SUPERSEDED;
        else {
                if (other) {
                        g_hash_table_remove(e->files, &other->key);
                        other->flags |= ENGINE_FILE_SUPERSEDED;
                }
                g_hash_table_add(e->files, &f->key);
        }
        if (!s->trigger_file && info->trigger && info->camera == s->trigger_camera &&
            sat_sub(info->dt, offset) == s->trigger_time)
                s->trigger_file = f;
        /* eng_assign() sets LATE itself for closed shots; restore says what was. */
        ShotStatus saved = s->status;
        s->status = SHOT_COLLECTING;
        eng_assign(e, s, f, false);
        s->status = saved;
        if (late)
                f->flags |= ENGINE_FILE_LATE;
        if (info->camera == e->reference && f->kind == 0 && !s->anchor_file) {
                s->anchor = sat_sub(f->dt, offset);
                s->anchor_file = f;
                s->anchored = true;
        }
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
