/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Staging: each file is copied (cloned; hashed in hardlink mode) into the
 * clean tree's staging folder the moment it joins its shot, by a small pool
 * of threads, so that closing a shot costs renames, its manifest and folder
 * fsyncs only. What joins in one turn of the event loop is staged in one
 * go: every copy written first, then every fsync, which the file system
 * then mostly serves with one journal commit (a burst of files costs far
 * fewer commits than files). A staged file is what its shot publishes; one
 * that could not be staged, or whose staging is lost (a restart empties the
 * folder), is published the full way. */

#include "log.h"
#include "manager-internal.h"

/* Files per batch: bounded, so that a burst is spread over the threads and
 * a shot waits for a small batch, not for the whole burst. */
#define STAGE_BATCH_MAX 32

typedef struct StageItem {
        char id[SHOT_ID_MAX];
        char *rel, *src, *dst;
        StagedFile sf;
        int error;
} StageItem;

typedef struct StageBatch {
        WorkItem item;
        char *clean_root;
        PublishMode mode;
        bool discard;     /* only drop the items' staged copies */
        GPtrArray *items; /* StageItem* */
} StageBatch;

void stage_free(void *p) {
        Stage *st = p;
        if (!st)
                return;
        g_free(st->dst);
        staged_file_clear(&st->sf);
        g_free(st);
}

void stage_item_free(void *p) {
        StageItem *it = p;
        if (!it)
                return;
        g_free(it->rel);
        g_free(it->src);
        g_free(it->dst);
        staged_file_clear(&it->sf);
        g_free(it);
}

static StageBatch *batch_new(Manager *m, bool discard);

static void batch_free(StageBatch *b) {
        g_free(b->clean_root);
        g_ptr_array_unref(b->items);
        g_free(b);
}

static void stage_work(void *data) {
        StageBatch *b = data;
        if (b->discard) {
                for (guint i = 0; i < b->items->len; i++)
                        staged_file_discard(b->clean_root, &((StageItem *) b->items->pdata[i])->sf);
                return;
        }
        for (guint i = 0; i < b->items->len; i++) {
                StageItem *it = b->items->pdata[i];
                it->error = publish_stage(b->clean_root, b->mode, it->src, it->dst, &it->sf);
        }
        for (guint i = 0; i < b->items->len; i++) {
                StageItem *it = b->items->pdata[i];
                if (it->error >= 0)
                        it->error = publish_stage_sync(b->clean_root, &it->sf);
        }
}

static void discard_done(WorkItem *item, Manager *m) {
        batch_free((StageBatch *) item);
}

static void submit(Manager *m, StageBatch *b) {
        Worker *w = m->stagers[m->next_stager++ % STAGERS];
        (void) worker_submit(w, stage_work, b);
}

void manager_discard_staged(Manager *m, StagedFile *sf) {
        if (!sf->tmp)
                return;
        if (!m->stagers[0] || m->stopping) {
                staged_file_clear(sf); /* the next start empties the staging folder */
                return;
        }
        StageBatch *b = batch_new(m, true);
        StageItem *it = g_new0(StageItem, 1);
        it->sf = *sf;
        *sf = (StagedFile) {};
        g_ptr_array_add(b->items, it);
        submit(m, b);
}

static void stage_done(WorkItem *item, Manager *m) {
        StageBatch *b = (StageBatch *) item;
        for (guint i = 0; i < b->items->len; i++) {
                StageItem *it = b->items->pdata[i];
                ShotData *sd = shot_data_get(m, it->id);
                Stage *st = sd ? g_hash_table_lookup(sd->staged, it->rel) : NULL;
                if (!st || !st->busy || !streq(st->dst, it->dst)) {
                        /* Published the full way meanwhile, or the shot is gone. */
                        manager_discard_staged(m, &it->sf);
                        continue;
                }
                st->busy = false;
                st->error = it->error;
                if (it->error < 0) {
                        log_fields(LOG_DEBUG, it->error, sd->id, NULL, it->src,
                                   "Cannot stage %s ahead of publishing (%m): it is published the full way.", it->src);
                        manager_discard_staged(m, &it->sf);
                } else {
                        st->sf = it->sf;
                        it->sf = (StagedFile) {};
                }
        }
        batch_free(b);
        /* Their shots may have been waiting for them. */
        manager_schedule_flush(m);
}

static StageBatch *batch_new(Manager *m, bool discard) {
        StageBatch *b = g_new0(StageBatch, 1);
        b->item.done = discard ? discard_done : stage_done;
        b->discard = discard;
        b->clean_root = g_strdup(m->config->clean_root);
        b->mode = m->config->mode;
        b->items = g_ptr_array_new_with_free_func(stage_item_free);
        return b;
}

void manager_stage_file(Manager *m, ShotData *sd, const char *rel, const char *dst) {
        if (!m->stagers[0] || m->once || m->stopping || g_hash_table_contains(sd->done, rel))
                return;
        Stage *old = g_hash_table_lookup(sd->staged, rel);
        if (old && streq(old->dst, dst))
                return;
        if (old)
                manager_discard_staged(m, &old->sf);

        Stage *st = g_new0(Stage, 1);
        st->busy = true;
        st->dst = g_strdup(dst);
        g_hash_table_replace(sd->staged, g_strdup(rel), st);

        StageItem *it = g_new0(StageItem, 1);
        memcpy(it->id, sd->id, sizeof it->id);
        it->rel = g_strdup(rel);
        it->src = shot_raw_path(sd, rel);
        it->dst = g_strdup(dst);
        g_ptr_array_add(m->stage_pending, it);
        manager_schedule_flush(m);
}

void manager_stage_submit(Manager *m) {
        GPtrArray *p = m->stage_pending;
        if (!p || p->len == 0)
                return;
        /* Spread over the threads, in batches of at most STAGE_BATCH_MAX. */
        guint per = MIN((p->len + STAGERS - 1) / STAGERS, (guint) STAGE_BATCH_MAX);
        StageBatch *b = NULL;
        for (guint i = 0; i < p->len; i++) {
                if (!b)
                        b = batch_new(m, false);
                g_ptr_array_add(b->items, p->pdata[i]);
                p->pdata[i] = NULL;
                if (b->items->len >= per) {
                        submit(m, b);
                        b = NULL;
                }
        }
        if (b)
                submit(m, b);
        g_ptr_array_set_size(p, 0);
}

bool shot_data_staging(const ShotData *sd) {
        GHashTableIter it;
        void *v;
        g_hash_table_iter_init(&it, sd->staged);
        while (g_hash_table_iter_next(&it, NULL, &v))
                if (((Stage *) v)->busy)
                        return true;
        return false;
}

bool shot_data_take_staged(ShotData *sd, const char *rel, const char *dst, StagedFile *ret) {
        Stage *st = g_hash_table_lookup(sd->staged, rel);
        if (!st || st->busy || st->error < 0 || !streq(st->dst, dst))
                return false;
        *ret = st->sf;
        st->sf = (StagedFile) {};
        g_hash_table_remove(sd->staged, rel);
        return true;
}

void shot_data_return_staged(ShotData *sd, const char *rel, const char *dst, StagedFile *sf) {
        Stage *st = g_new0(Stage, 1);
        st->dst = g_strdup(dst);
        st->sf = *sf;
        *sf = (StagedFile) {};
        g_hash_table_replace(sd->staged, g_strdup(rel), st);
}
