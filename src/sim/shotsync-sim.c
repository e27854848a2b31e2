/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* shotsync-sim: plays a campaign scenario into a raw root the way a cloud
 * sync client delivers files (hidden temporary name, write, set the mtime,
 * rename into place, never touching an existing file), so that a lab can
 * rehearse its shotsyncd configuration before a campaign. See
 * shotsync-sim(1). */

#include <fcntl.h>
#include <getopt.h>
#include <glib-unix.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "classify.h"
#include "config-build.h"
#include "sim.h"

typedef struct Options {
        const char *scenario;
        const char *raw_root;
        const char *config;
        const char *start;
        const char *fire_command;
        double speed; /* 0: the scenario's */
        bool seed_set;
        uint64_t seed;
        bool dry_run, expect, json, quiet;
} Options;

typedef struct Sim {
        Options *o;
        SimScenario *scenario;
        SimTimeline *t;
        Config *config; /* may be NULL */
        char *raw_root;
        nsec_t real_start; /* CLOCK_REALTIME of playback instant 0 */
        int64_t mono_start; /* g_get_monotonic_time() of playback instant 0 */

        GMainLoop *loop;
        guint timer;
        size_t next_file;
        uint32_t next_shot; /* index into t->shots, for fires */
        GHashTable *fire_pids; /* pid → shot number */
        unsigned n_written, n_skipped, n_failed, n_fires, n_fires_failed;
        int exit_signal;
        bool done;
} Sim;

/* ---- output ---- */

static char *date_time(nsec_t t) {
        time_t sec = (time_t) (t / NSEC_PER_SEC);
        struct tm tm;
        char buf[64];
        if (!localtime_r(&sec, &tm) || strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                return g_strdup("?");
        return g_strdup(buf);
}

static char *duration_string(usec_t u) {
        uint64_t s = (u + USEC_PER_SEC / 2) / USEC_PER_SEC;
        if (s >= 3600)
                return g_strdup_printf("%" PRIu64 "h%02" PRIu64 "m%02" PRIu64 "s", s / 3600, s / 60 % 60, s % 60);
        if (s >= 60)
                return g_strdup_printf("%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
        return g_strdup_printf("%.1fs", (double) u / 1e6);
}

static void print_file_line(Sim *sim, const SimFile *f, nsec_t mtime, usec_t at) {
        char mt[TIME_OF_DAY_MAX];
        format_time_of_day(mtime, mt);
        g_autofree char *note = sim_file_note(sim->t, f);
        printf("%+8.2fs  mtime %s  shot %-4" PRIu32 " %-12s %s%s%s%s\n", (double) at / 1e6, mt, f->shot,
               sim->scenario->cameras[f->camera].name, f->rel_path, isempty(note) ? "" : "  [", note,
               isempty(note) ? "" : "]");
}

static void print_fire_line(Sim *sim, const SimShotPlan *p, usec_t at, const char *what) {
        char ft[TIME_OF_DAY_MAX];
        format_time_of_day(p->fire_time, ft);
        printf("%+8.2fs  fire  %s  shot %-4" PRIu32 " %s\n", (double) at / 1e6, ft, p->number, what);
}

static void print_banner(Sim *sim, bool dry) {
        const SimTimeline *t = sim->t;
        const SimScenario *s = sim->scenario;
        g_autofree char *first = date_time(t->shots[0].time);
        g_autofree char *last = date_time(t->shots[t->n_shots - 1].time);
        g_autofree char *dur = duration_string(t->duration);
        unsigned n_fired = 0;
        for (uint32_t i = 0; i < t->n_shots; i++)
                n_fired += t->shots[i].fired;

        printf("%s %s%s%s: %" PRIu32 " shot%s (%u fired), %zu cameras, %zu files in %s at speed %g; campaign "
               "%s → %s%s%s\n",
               dry ? "Timeline of" : "Playing", s->path, s->name ? " — " : "", s->name ?: "", s->n_shots,
               s->n_shots == 1 ? "" : "s", n_fired, s->n_cameras, t->n_files, dur, t->opt.speed, first, last,
               dry ? "" : " into ", dry ? "" : sim->raw_root);
        fflush(stdout);
}

/* ---- writing a file as a sync client does ---- */

static int write_all(int fd, const void *buf, size_t len) {
        const char *p = buf;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

static int write_content(int fd, const Sim *sim, const SimFile *f, nsec_t mtime) {
        char iso[ISO8601_MAX];
        g_autofree char *head =
                g_strdup_printf("shotsync-sim scenario=%s camera=%s shot=%" PRIu32 " kind=%u mtime=%s\n",
                                sim->scenario->path, sim->scenario->cameras[f->camera].name, f->shot, f->kind + 1u,
                                format_iso8601(mtime, iso));
        uint64_t left = MAX(f->size, (uint64_t) 0);
        size_t hl = strlen(head);
        int r = write_all(fd, head, (size_t) MIN((uint64_t) hl, left));
        if (r < 0 || left <= hl)
                return r;
        left -= hl;

        /* The rest: pseudo-random bytes (images do not compress much). */
        static char buf[65536];
        uint64_t x = (uint64_t) mtime ^ 0x5deece66dULL;
        while (left > 0) {
                size_t n = (size_t) MIN(left, (uint64_t) sizeof buf);
                for (size_t i = 0; i + 8 <= sizeof buf; i += 8) {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        memcpy(buf + i, &x, 8);
                }
                r = write_all(fd, buf, n);
                if (r < 0)
                        return r;
                left -= n;
        }
        return 0;
}

/* Hidden temporary name in the target folder, write, futimens, rename
 * without replacing. -EEXIST when the name is taken (left alone). */
static int deliver_file(Sim *sim, const SimFile *f, nsec_t mtime) {
        g_autofree char *path = g_build_filename(sim->raw_root, f->rel_path, NULL);
        g_autofree char *dir = g_path_get_dirname(path);
        g_autofree char *base = g_path_get_basename(path);

        if (g_mkdir_with_parents(dir, 0755) < 0)
                return -errno;
        if (faccessat(AT_FDCWD, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                return -EEXIST;

        g_autofree char *tmp = g_strdup_printf("%s/.%s.~simXXXXXX", dir, base);
        int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        int r = write_content(fd, sim, f, mtime);
        if (r >= 0) {
                struct timespec ts[2] = {
                        { .tv_sec = mtime / NSEC_PER_SEC, .tv_nsec = mtime % NSEC_PER_SEC },
                        { .tv_sec = mtime / NSEC_PER_SEC, .tv_nsec = mtime % NSEC_PER_SEC },
                };
                if (futimens(fd, ts) < 0)
                        r = -errno;
        }
        if (close(fd) < 0 && r >= 0)
                r = -errno;
        if (r >= 0 && renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
                r = -errno;
                if (r == -EINVAL || r == -ENOSYS) {
                        /* A file system without RENAME_NOREPLACE: link does not replace either. */
                        r = link(tmp, path) < 0 ? -errno : 0;
                }
        }
        (void) unlink(tmp); /* after a rename, the name is gone already */
        return r;
}

/* Every folder a file will go to, before the first one: as the sync client
 * creates a folder before filling it. */
static int make_folders(Sim *sim) {
        g_autoptr(GHashTable) done = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        for (size_t i = 0; i < sim->t->n_files; i++) {
                g_autofree char *path = g_build_filename(sim->raw_root, sim->t->files[i].rel_path, NULL);
                char *dir = g_path_get_dirname(path);
                if (!g_hash_table_add(done, dir))
                        continue;
                if (g_mkdir_with_parents(dir, 0755) < 0) {
                        fprintf(stderr, "Cannot create %s: %s\n", dir, g_strerror(errno));
                        return -errno;
                }
        }
        return 0;
}

/* ---- playback ---- */

static usec_t playback_now(Sim *sim) {
        int64_t d = g_get_monotonic_time() - sim->mono_start;
        return d < 0 ? 0 : (usec_t) d;
}

static void schedule(Sim *sim);

static void maybe_finish(Sim *sim) {
        if (sim->next_file >= sim->t->n_files && sim->next_shot >= sim->t->n_shots &&
            g_hash_table_size(sim->fire_pids) == 0) {
                sim->done = true;
                g_main_loop_quit(sim->loop);
        }
}

static void on_fire_exit(GPid pid, gint status, gpointer userdata) {
        Sim *sim = userdata;
        uint32_t shot = GPOINTER_TO_UINT(g_hash_table_lookup(sim->fire_pids, GINT_TO_POINTER(pid)));
        g_autoptr(GError) e = NULL;
        bool ok = g_spawn_check_wait_status(status, &e);
        if (!ok)
                sim->n_fires_failed++;
        if (!sim->o->quiet || !ok) {
                g_autofree char *what = ok ? g_strdup("fire command done") :
                                             g_strdup_printf("fire command failed: %s", e->message);
                FILE *out = ok ? stdout : stderr;
                fprintf(out, "%+8.2fs  fire  shot %-4" PRIu32 " %s\n", (double) playback_now(sim) / 1e6, shot, what);
                fflush(out);
        }
        g_hash_table_remove(sim->fire_pids, GINT_TO_POINTER(pid));
        g_spawn_close_pid(pid);
        maybe_finish(sim);
}

static void run_fire(Sim *sim, SimShotPlan *p) {
        g_auto(GStrv) argv = NULL;
        g_autoptr(GError) e = NULL;
        GPid pid;

        nsec_t now = now_realtime();
        g_autoptr(GError) re = NULL;
        if (sim_timeline_fire_happened(sim->t, p->number, now, &re) < 0)
                fprintf(stderr, "%s\n", re ? re->message : "Cannot name the fired shot's files.");
        if (!sim->o->quiet) {
                print_fire_line(sim, p, playback_now(sim), sim->o->fire_command);
                fflush(stdout);
        }
        sim->n_fires++;
        if (!g_shell_parse_argv(sim->o->fire_command, NULL, &argv, &e) ||
            !g_spawn_async(NULL, argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, &e)) {
                fprintf(stderr, "Cannot run the fire command '%s': %s\n", sim->o->fire_command, e->message);
                sim->n_fires_failed++;
                return;
        }
        g_hash_table_insert(sim->fire_pids, GINT_TO_POINTER(pid), GUINT_TO_POINTER(p->number));
        g_child_watch_add(pid, on_fire_exit, sim);
}

static void deliver_due(Sim *sim) {
        usec_t now = playback_now(sim);
        for (;;) {
                SimShotPlan *shot = NULL;
                while (sim->next_shot < sim->t->n_shots && !sim->t->shots[sim->next_shot].fired)
                        sim->next_shot++;
                if (sim->next_shot < sim->t->n_shots)
                        shot = &sim->t->shots[sim->next_shot];
                SimFile *f = sim->next_file < sim->t->n_files ? &sim->t->files[sim->next_file] : NULL;

                /* A fire goes before the files due at the same instant. */
                if (shot && shot->at <= now && (!f || shot->at <= f->deliver_at)) {
                        sim->next_shot++;
                        run_fire(sim, shot);
                        continue;
                }
                if (!f || f->deliver_at > now)
                        break;
                sim->next_file++;
                nsec_t mtime = sim_file_mtime(sim->t, f, sim->t->shots[f->shot - 1].fire_time);
                int r = deliver_file(sim, f, mtime);
                if (r == -EEXIST) {
                        sim->n_skipped++;
                        fprintf(stderr, "%s/%s exists already: left alone.\n", sim->raw_root, f->rel_path);
                } else if (r < 0) {
                        sim->n_failed++;
                        fprintf(stderr, "Cannot write %s/%s: %s\n", sim->raw_root, f->rel_path, g_strerror(-r));
                } else {
                        sim->n_written++;
                        if (!sim->o->quiet)
                                print_file_line(sim, f, mtime, now);
                }
        }
        fflush(stdout);
}

static gboolean on_timer(gpointer userdata) {
        Sim *sim = userdata;
        sim->timer = 0;
        deliver_due(sim);
        schedule(sim);
        return G_SOURCE_REMOVE;
}

static void schedule(Sim *sim) {
        usec_t next = USEC_INFINITY;
        if (sim->next_file < sim->t->n_files)
                next = sim->t->files[sim->next_file].deliver_at;
        for (uint32_t i = sim->next_shot; i < sim->t->n_shots; i++)
                if (sim->t->shots[i].fired) {
                        next = MIN(next, sim->t->shots[i].at);
                        break;
                }
        if (next == USEC_INFINITY) {
                maybe_finish(sim);
                return;
        }
        usec_t now = playback_now(sim);
        guint ms = next > now ? (guint) MIN((next - now + 999) / 1000, (usec_t) G_MAXUINT / 2) : 0;
        sim->timer = g_timeout_add_full(G_PRIORITY_HIGH, ms, on_timer, sim, NULL);
}

static gboolean on_signal(gpointer userdata) {
        Sim *sim = userdata;
        /* SIGINT and SIGTERM get separate sources; which one is told by
         * the exit code only. */
        g_main_loop_quit(sim->loop);
        return G_SOURCE_CONTINUE;
}

static gboolean on_sigint(gpointer userdata) {
        ((Sim *) userdata)->exit_signal = SIGINT;
        return on_signal(userdata);
}

static gboolean on_sigterm(gpointer userdata) {
        ((Sim *) userdata)->exit_signal = SIGTERM;
        return on_signal(userdata);
}

static int play(Sim *sim) {
        if (g_mkdir_with_parents(sim->raw_root, 0755) < 0) {
                fprintf(stderr, "Cannot create the raw root %s: %s\n", sim->raw_root, g_strerror(errno));
                return 1;
        }
        if (make_folders(sim) < 0)
                return 1;

        sim->loop = g_main_loop_new(NULL, false);
        sim->fire_pids = g_hash_table_new(g_direct_hash, g_direct_equal);
        guint s1 = g_unix_signal_add(SIGINT, on_sigint, sim);
        guint s2 = g_unix_signal_add(SIGTERM, on_sigterm, sim);

        if (!sim->o->quiet)
                print_banner(sim, false);
        sim->mono_start = g_get_monotonic_time();
        schedule(sim);
        if (!sim->done)
                g_main_loop_run(sim->loop);

        g_source_remove(s1);
        g_source_remove(s2);
        if (sim->timer)
                g_source_remove(sim->timer);

        /* Interrupted: fire commands still running are ended too. */
        GHashTableIter it;
        void *k;
        g_hash_table_iter_init(&it, sim->fire_pids);
        while (g_hash_table_iter_next(&it, &k, NULL)) {
                GPid pid = GPOINTER_TO_INT(k);
                (void) kill(pid, SIGTERM);
                (void) waitpid(pid, NULL, 0);
                g_spawn_close_pid(pid);
        }
        g_hash_table_unref(sim->fire_pids);
        g_main_loop_unref(sim->loop);

        g_autofree char *dur = duration_string(playback_now(sim));
        if (sim->exit_signal) {
                fprintf(stderr, "Stopped by %s after %s: %u of %zu files delivered.\n", strsignal(sim->exit_signal), dur,
                        sim->n_written, sim->t->n_files);
                return 128 + sim->exit_signal;
        }
        if (!sim->o->quiet || sim->n_failed || sim->n_skipped || sim->n_fires_failed) {
                printf("Done in %s: %u files delivered", dur, sim->n_written);
                if (sim->n_skipped)
                        printf(", %u left alone (already there)", sim->n_skipped);
                if (sim->n_failed)
                        printf(", %u could not be written", sim->n_failed);
                if (sim->n_fires)
                        printf(", %u fire%s (%u failed)", sim->n_fires, sim->n_fires == 1 ? "" : "s", sim->n_fires_failed);
                printf(".\n");
        }
        return sim->n_failed || sim->n_fires_failed ? 1 : 0;
}

static void print_dry_run(Sim *sim) {
        print_banner(sim, true);
        const SimTimeline *t = sim->t;
        size_t fi = 0;
        for (uint32_t si = 0;; ) {
                while (si < t->n_shots && !t->shots[si].fired)
                        si++;
                const SimShotPlan *p = si < t->n_shots ? &t->shots[si] : NULL;
                const SimFile *f = fi < t->n_files ? &t->files[fi] : NULL;
                if (!p && !f)
                        break;
                if (p && (!f || p->at <= f->deliver_at)) {
                        print_fire_line(sim, p, p->at, sim->o->fire_command);
                        si++;
                        continue;
                }
                print_file_line(sim, f, sim_file_mtime(t, f, t->shots[f->shot - 1].fire_time), f->deliver_at);
                fi++;
        }
}

/* ---- checks against the configuration ---- */

/* What shotsyncd will make of the names, said once per camera and problem:
 * the point of a rehearsal is to find these before the campaign. */
static void check_against_config(Sim *sim) {
        Config *c = sim->config;
        const SimScenario *s = sim->scenario;
        g_autoptr(GHashTable) said = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

        for (size_t i = 0; i < s->n_cameras; i++) {
                const SimCamera *sc = &s->cameras[i];
                const CameraConfig *cc = config_camera(c, sc->name);
                if (!cc) {
                        fprintf(stderr,
                                "Warning: camera %s is not a camera in %s (no [Camera %s] group): shotsyncd will "
                                "ignore its files.\n",
                                sc->name, c->path, sc->name);
                        continue;
                }
                if (cc->n_kinds != sc->n_kinds)
                        fprintf(stderr,
                                "Warning: camera %s writes %zu kind%s of file per shot in the scenario, but %s "
                                "expects %zu (Files=).\n",
                                sc->name, sc->n_kinds, sc->n_kinds == 1 ? "" : "s", c->path, cc->n_kinds);
        }
        for (size_t i = 0; i < sim->t->n_files; i++) {
                const SimFile *f = &sim->t->files[i];
                const SimCamera *sc = &s->cameras[f->camera];
                const CameraConfig *cc = config_camera(c, sc->name);
                if (!cc)
                        continue;
                const char *base = strrchr(f->rel_path, '/') + 1;
                size_t kind;
                bool trigger;
                FileVerdict v = classify_file(c, cc, base, &kind, &trigger);
                g_autofree char *msg = NULL;
                if (f->role == SIM_FILE_TEST) {
                        if (v == FILE_ELIGIBLE)
                                msg = g_strdup_printf("test image '%s' of %s is taken as an image by shotsyncd (no "
                                                      "IgnoreKeywords word in it)",
                                                      base, sc->name);
                } else if (v != FILE_ELIGIBLE)
                        msg = g_strdup_printf("'%s' of %s is ignored by shotsyncd (%s)", base, sc->name,
                                              v == FILE_IGNORED_NO_KIND ? "it matches no Files= pattern" :
                                                                          file_verdict_to_string(v));
                else if (kind != f->kind && cc->n_kinds == sc->n_kinds)
                        msg = g_strdup_printf("'%s' of %s (kind %u in the scenario) matches kind %zu of Files=",
                                              base, sc->name, f->kind + 1u, kind + 1);
                else if (sc->trigger && !trigger)
                        msg = g_strdup_printf("'%s' of %s is not a trigger for shotsyncd (Trigger=%s, "
                                              "TriggerKeyword=%s)",
                                              base, sc->name, cc->trigger ? "true" : "false", cc->trigger_keyword);
                else if (!sc->trigger && trigger)
                        msg = g_strdup_printf("'%s' of %s is a trigger for shotsyncd, not in the scenario", base,
                                              sc->name);
                if (!msg)
                        continue;
                /* Once per camera and kind of problem. */
                g_autofree char *key = g_strdup_printf("%" PRIu32 ":%d:%d", f->camera, (int) f->role, (int) v);
                if (g_hash_table_add(said, g_steal_pointer(&key)))
                        fprintf(stderr, "Warning: %s.\n", msg);
        }
}

/* ---- main ---- */

static void help(void) {
        printf("Usage: shotsync-sim --scenario FILE [OPTIONS]\n\n"
               "Plays a laser campaign's camera files into a raw root the way a cloud sync\n"
               "client delivers them, to rehearse a shotsyncd configuration.\n\n"
               "  -s --scenario=FILE       The scenario (see shotsync-sim(1))\n"
               "  -r --raw-root=DIR        Where to write (default: RawRoot of --config)\n"
               "  -c --config=FILE         shotsyncd's configuration: checks the names against\n"
               "                           it; needed by --expect and AfterClose=\n"
               "     --speed=X             Play X times faster than real time (mtimes keep\n"
               "                           the campaign's spacing)\n"
               "     --start=TIME          Campaign time of the first shot: now, now-20m,\n"
               "                           @EPOCH, '2025-12-11 11:50:00' (default: now, or\n"
               "                           so that a faster campaign ends now)\n"
               "     --seed=N              Replace the scenario's Seed=\n"
               "     --fire-command=CMD    Run CMD (e.g. 'shotsyncctl fire') for the shots in\n"
               "                           Fire=; their files follow the real fire instant\n"
               "  -n --dry-run             Print the timeline, write nothing\n"
               "     --expect              Print what shotsyncd will make of it, write nothing\n"
               "     --json                With --expect: JSON\n"
               "  -q --quiet               Print only warnings and errors\n"
               "  -h --help                Show this help\n"
               "     --version             Show the version\n");
}

static int parse_args(int argc, char **argv, Options *o) {
        enum { ARG_SPEED = 0x100, ARG_START, ARG_SEED, ARG_FIRE, ARG_EXPECT, ARG_JSON, ARG_VERSION };
        static const struct option options[] = {
                { "scenario", required_argument, NULL, 's' },  { "raw-root", required_argument, NULL, 'r' },
                { "config", required_argument, NULL, 'c' },    { "speed", required_argument, NULL, ARG_SPEED },
                { "start", required_argument, NULL, ARG_START }, { "seed", required_argument, NULL, ARG_SEED },
                { "fire-command", required_argument, NULL, ARG_FIRE }, { "dry-run", no_argument, NULL, 'n' },
                { "expect", no_argument, NULL, ARG_EXPECT },   { "json", no_argument, NULL, ARG_JSON },
                { "quiet", no_argument, NULL, 'q' },           { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION }, {},
        };
        int c;
        while ((c = getopt_long(argc, argv, "s:r:c:nqh", options, NULL)) >= 0)
                switch (c) {
                case 's':
                        o->scenario = optarg;
                        break;
                case 'r':
                        o->raw_root = optarg;
                        break;
                case 'c':
                        o->config = optarg;
                        break;
                case ARG_SPEED: {
                        char *e = NULL;
                        o->speed = g_ascii_strtod(optarg, &e);
                        if (*e || !isfinite(o->speed) || o->speed < 0.001 || o->speed > 10000) {
                                fprintf(stderr, "--speed=%s: give a number between 0.001 and 10000.\n", optarg);
                                return 2;
                        }
                        break;
                }
                case ARG_START:
                        o->start = optarg;
                        break;
                case ARG_SEED:
                        if (!g_ascii_string_to_unsigned(optarg, 10, 0, G_MAXUINT64, &o->seed, NULL)) {
                                fprintf(stderr, "--seed=%s: give a whole number.\n", optarg);
                                return 2;
                        }
                        o->seed_set = true;
                        break;
                case ARG_FIRE:
                        o->fire_command = optarg;
                        break;
                case 'n':
                        o->dry_run = true;
                        break;
                case ARG_EXPECT:
                        o->expect = true;
                        break;
                case ARG_JSON:
                        o->json = true;
                        break;
                case 'q':
                        o->quiet = true;
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("shotsync-sim %s\n", PACKAGE_VERSION);
                        return 0;
                default:
                        fprintf(stderr, "See 'shotsync-sim --help'.\n");
                        return 2;
                }
        if (optind < argc) {
                fprintf(stderr, "Unexpected argument '%s'; see --help.\n", argv[optind]);
                return 2;
        }
        if (!o->scenario) {
                fprintf(stderr, "No scenario: give --scenario FILE (examples in /usr/share/shotsync/scenarios).\n");
                return 2;
        }
        if (o->json && !o->expect) {
                fprintf(stderr, "--json goes with --expect.\n");
                return 2;
        }
        if (o->fire_command && isempty(o->fire_command)) {
                fprintf(stderr, "--fire-command needs a command.\n");
                return 2;
        }
        return -1;
}

/* With --expect: the prediction is only worth something when it does not
 * hinge on a few hundred milliseconds; say which shots would. */
static void check_robustness(Sim *sim, const SimExpect *nominal) {
        g_autofree char *ref = sim_expect_digest(nominal, sim->t);
        for (uint64_t k = 1; k <= 6; k++) {
                g_autoptr(SimExpect) x = sim_expect_compute(sim->t, sim->config, 300 * 1000, k, NULL);
                if (!x)
                        return;
                g_autofree char *d = sim_expect_digest(x, sim->t);
                if (streq(d, ref))
                        continue;
                g_auto(GStrv) a = g_strsplit(ref, "\n", -1), b = g_strsplit(d, "\n", -1);
                for (size_t i = 0; a[i] && b[i]; i++)
                        if (!streq(a[i], b[i])) {
                                fprintf(stderr,
                                        "Warning: the outcome depends on timing: if shotsyncd saw files up to 0.3 s "
                                        "later, \"%s\" would become \"%s\".\n",
                                        a[i], b[i]);
                                break;
                        }
                return;
        }
}

int main(int argc, char **argv) {
        Options o = {};
        Sim sim = { .o = &o };
        g_autoptr(GError) e = NULL;
        int r;

        setvbuf(stdout, NULL, _IOLBF, 0);
        r = parse_args(argc, argv, &o);
        if (r >= 0)
                return r;

        g_autoptr(SimScenario) s = sim_scenario_load(o.scenario, &e);
        if (!s) {
                fprintf(stderr, "%s\n", e->message);
                return 1;
        }
        sim.scenario = s;
        if (o.seed_set)
                s->seed = o.seed;

        _cleanup_config_ Config *config = NULL;
        if (o.config) {
                g_autofree char *msg = NULL;
                if (config_load(o.config, &config, &msg) < 0) {
                        fprintf(stderr, "%s\n", msg ?: "Cannot read the configuration.");
                        return 1;
                }
                sim.config = config;
        }
        if (o.expect && !config) {
                fprintf(stderr, "--expect needs --config: the outcome depends on shotsyncd's window, timeout and "
                                "file kinds.\n");
                return 2;
        }
        sim.raw_root = g_strdup(o.raw_root ?: config ? config->raw_root : NULL);
        if (!sim.raw_root && !o.dry_run && !o.expect) {
                fprintf(stderr, "Where to write? Give --raw-root DIR or --config FILE.\n");
                return 2;
        }

        double speed = o.speed > 0 ? o.speed : s->speed;
        nsec_t now = now_realtime();
        nsec_t span = 0;
        /* The span before any draw: Shots × PeriodSec plus the jitter at most. */
        span = (nsec_t) sim_round(((double) (s->n_shots - 1) * (s->period + s->period_jitter)) * 1e9);
        const char *start_spec = o.start ?: s->start;
        nsec_t start;
        if (start_spec) {
                if (sim_parse_start(start_spec, now, &start) < 0) {
                        fprintf(stderr, "--start=%s: not a time; use now, now-20m, @EPOCH or '2025-12-11 11:50:00'.\n",
                                start_spec);
                        return 2;
                }
        } else
                /* Faster than real time, the campaign ends now: no mtime lies
                 * in the future, as with a replay of a day's files. */
                start = speed > 1 ? now - span : now;

        SimTimelineOptions topt = {
                .start = start,
                .speed = speed,
                .real_start = now,
                .fire = o.fire_command != NULL,
                .timeout = config ? (usec_t) sim_round(config->timeout_sec * 1e6) : 0,
        };
        g_autoptr(SimTimeline) t = sim_timeline_new(s, &topt, &e);
        if (!t) {
                fprintf(stderr, "%s\n", e->message);
                return 1;
        }
        sim.t = t;
        for (char **w = t->warnings; w && *w; w++)
                fprintf(stderr, "Warning: %s.\n", *w);
        if (config)
                check_against_config(&sim);

        if (o.dry_run)
                print_dry_run(&sim);
        if (o.expect) {
                g_autoptr(SimExpect) x = sim_expect_compute(t, config, 0, 0, &e);
                if (!x) {
                        fprintf(stderr, "%s\n", e->message);
                        return 1;
                }
                if (o.dry_run)
                        putchar('\n');
                if (o.json) {
                        g_autofree char *j = sim_expect_to_json(x, t);
                        printf("%s\n", j);
                } else
                        sim_expect_print(x, t, stdout);
                check_robustness(&sim, x);
        }
        if (o.dry_run || o.expect) {
                g_free(sim.raw_root);
                return 0;
        }

        /* The real instant of playback 0 is now: fired shots were planned
         * from it. */
        sim.real_start = now;
        r = play(&sim);
        g_free(sim.raw_root);
        return r;
}
