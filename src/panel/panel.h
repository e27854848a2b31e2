/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* shotsync-panel: a GTK 4 window that shows what shotsyncd announces on the
 * bus and steers it through its public D-Bus API (SPEC §4) only.
 *
 * One Panel owns everything: the bus connection, the generated proxy, the
 * widgets, the open-shot rows and the recent-shot rows. The files split it by
 * responsibility:
 *   panel.c           window layout, style, the header
 *   panel-bus.c       connection, the service coming and going, signals,
 *                     filling the view from ListShots/GetShot
 *   panel-shots.c     open shots (camera tiles, countdown) and recent shots
 *   panel-details.c   a shot's manifest in its own window
 *   panel-controls.c  Fire, Pause/Resume, next shot number, Fire results */

#include <gtk/gtk.h>
#include <stdbool.h>

#include "panel-dbus-generated.h"
#include "panel-host.h"

#define SHOTSYNC_BUS_NAME "org.shotsync.Shotsync1"
#define SHOTSYNC_BUS_PATH "/org/shotsync/Shotsync1"
#define SHOTSYNC_ERROR_PREFIX "org.shotsync.Shotsync1.Error."

/* How many shots of the day the recent list keeps, newest first. */
#define RECENT_MAX 60

typedef enum ServiceState {
        SERVICE_CONNECTING,  /* no answer from the bus yet */
        SERVICE_NO_BUS,      /* the bus itself is unreachable */
        SERVICE_NOT_RUNNING, /* the bus is there, the name has no owner */
        SERVICE_RUNNING,
        SERVICE_PAUSED,
        SERVICE_DEGRADED,
} ServiceState;

typedef struct PanelOptions {
        GBusType bus_type;   /* G_BUS_TYPE_SYSTEM or G_BUS_TYPE_SESSION */
        const char *address; /* a private bus instead, or NULL */
        const char *host;    /* --host: the system bus of another host, or NULL */
        char **host_argv;    /* how to reach it (panel_host_argv()) */
} PanelOptions;

typedef enum TileState {
        TILE_WAITING,
        TILE_PRESENT,
        TILE_LATE,
        TILE_MISSING,
} TileState;

typedef struct Panel Panel;

/* One camera of a shot in progress. */
typedef struct Tile {
        char *camera;
        TileState state;
        GtkWidget *box, *icon, *state_label;
        GtkWidget *clock_label, *clock_badge; /* its clock offset; shown when its PC's clock was set */
} Tile;

/* One shot in progress (or the latest closed one, kept until the next opens). */
typedef struct ShotRow {
        Panel *panel;
        char *id;
        GPtrArray *tiles; /* Tile*, in the order the cameras were expected */
        gint64 opened_mono; /* monotonic µs when it opened (or an estimate) */
        bool estimated;     /* opened before we watched: opened_mono is a guess */
        double timeout_sec;
        bool closed;
        char *status;       /* "collecting", "complete", "timeout" */
        GtkWidget *card, *title, *countdown, *bar, *closed_badge, *tiles_box;
} ShotRow;

/* One shot of the day in the recent list. */
typedef struct RecentRow {
        Panel *panel;
        char *id;
        char *status;
        guint files, n_missing;
        char **missing; /* names, NULL while unknown */
        bool fetching;  /* a GetShot for the names is under way */
        GtkWidget *row, *id_label, *badge, *badge_icon, *badge_label, *files_label, *missing_box, *missing_label;
} RecentRow;

struct Panel {
        GtkApplication *app;
        PanelOptions opts;

        /* bus */
        GDBusConnection *conn;
        ShotsyncShotsync1 *proxy;
        GCancellable *cancel;      /* everything asynchronous of this connection */
        GCancellable *fill_cancel; /* the fill of the current service instance */
        guint reconnect_id;
        GSubprocess *ssh;  /* --host: ssh running systemd-stdio-bridge there */
        char *bus_name;    /* which bus, as the header says it */
        char *bus_error;
        ServiceState state;
        bool denied; /* a privileged call was refused: AccessDenied */
        bool firing;

        /* header */
        GtkWidget *window;
        GtkWidget *banner, *banner_icon, *banner_label, *banner_detail;
        GtkWidget *next_value, *last_value, *last_status, *bus_label;

        /* shots in progress */
        GtkWidget *open_box, *open_placeholder;
        GHashTable *open_rows; /* id → ShotRow */
        guint tick_id;

        /* recent shots */
        GtkWidget *recent_list, *recent_placeholder;
        GHashTable *recent_rows; /* id → RecentRow */

        /* details windows */
        GHashTable *details; /* id → GtkWindow */

        /* controls */
        GtkWidget *fire_button, *pause_button, *number_spin, *number_button, *number_label;
        GtkWidget *denied_label, *message_label;
        GtkWidget *fire_title, *fire_box;
        GtkWidget *delay_spin;     /* ms: 0 fires now (Fire), N at now + N ms (FireAt) */
        guint64 fire_at_usec;      /* the instant of our FireAt under way or last answered, 0: none */
        char *fire_at_shot;        /* its shot, whose Fired signal is already shown */
        bool number_edited;  /* the user typed a number not yet sent */
        bool number_syncing; /* the panel itself is setting the number */
};

/* panel.c */
Panel *panel_new(GtkApplication *app, const PanelOptions *opts);
Panel *panel_free(Panel *p);
void panel_update_header(Panel *p);
void panel_set_state(Panel *p, ServiceState state);
void panel_message(Panel *p, bool error, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
GtkWidget *panel_icon(const char *name);
/* A status badge: icon and word (never colour alone) in a box of CSS classes
 * "badge" and state ("ok", "timeout", "pending", "late", "missing"). */
GtkWidget *panel_badge(const char *state, const char *icon, const char *text);
void panel_name_widget(GtkWidget *w, const char *name);
void panel_set_a11y_label(GtkWidget *w, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
char *panel_format_time(guint64 usec, bool with_date);

/* panel-bus.c */
void panel_bus_start(Panel *p);
void panel_bus_stop(Panel *p);
bool panel_service_up(const Panel *p);
char *panel_remote_error(const GError *error);

/* panel-shots.c */
void shots_init(Panel *p);
void shots_free(Panel *p);
void shots_opened(Panel *p, const char *id, const char *const *expected, gint64 opened_mono, bool estimated,
                  double timeout_sec);
void shots_image(Panel *p, const char *id, const char *camera, bool late);
void shots_closed(Panel *p, const char *id, const char *status, const char *const *missing, bool is_update);
void shots_clear_open(Panel *p);
void shots_update_placeholder(Panel *p);
void shots_recent_set(Panel *p, const char *id, const char *status, guint files, guint n_missing,
                      const char *const *missing);
RecentRow *shots_recent_get(Panel *p, const char *id);
void shots_fill_open(Panel *p, GVariant *manifest);
/* Every tile's clock offset and badge from CameraClocks and CameraClockChanges. */
void shots_update_clocks(Panel *p);
int shots_compare_ids(const char *a, const char *b);

/* panel-details.c */
void details_show(Panel *p, const char *id);

/* panel-controls.c */
GtkWidget *controls_new(Panel *p);
void controls_update(Panel *p);
/* A Fire's or FireAt's results; at_usec is the FireAt's instant (the
 * results' last field is then the departure of each command), 0 for Fire
 * and the Fired signal (the latency). */
void controls_fired(Panel *p, const char *shot_id, GVariant *results, guint64 at_usec);
