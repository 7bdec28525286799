/*
 * edgeboxd — the box's daemon: loads the config, builds the pipeline, runs
 * the supervisor from its main loop, and answers signals:
 *   SIGTERM/SIGINT  ordered shutdown: producers, then consumers, store last
 *   SIGHUP          reload the config; a bad new config keeps the old one
 * Under systemd (Type=notify) it sends READY=1, WATCHDOG=1, RELOADING=1 and
 * STOPPING=1.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "firmware/config.h"
#include "firmware/control.h"
#include "firmware/diag.h"
#include "firmware/log.h"
#include "firmware/pipeline.h"
#include "firmware/sdnotify.h"
#include "firmware/supervisor.h"
#include "firmware/update.h"
#include "hal/time.h"

#define EDGEBOX_VERSION "0.1.0"
#define MAX_SETS 64

struct options {
	const char *config_path;
	const char *sets[MAX_SETS];
	int nsets;
	bool check_only;
	const char *log_level;
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: edgeboxd [OPTIONS]\n"
		   "The edgebox daemon: presence, identity and the sales conversation.\n\n"
		   "  -c, --config FILE      config file (default /etc/edgebox/edgebox.conf)\n"
		   "  -s, --set S.KEY=VALUE  override one config value (repeatable)\n"
		   "      --check-config     load and check the config, open nothing, exit\n"
		   "  -l, --log-level LEVEL  error, warning, notice, info or debug\n"
		   "  -V, --version          print the version\n"
		   "  -h, --help             this help\n\n"
		   "Exit status: 0 clean shutdown, 1 runtime failure, 2 bad config or usage.\n");
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"set", required_argument, NULL, 's'},
	    {"check-config", no_argument, NULL, 'C'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;

	o->config_path = "/etc/edgebox/edgebox.conf";
	while ((c = getopt_long(argc, argv, "c:s:l:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config_path = optarg;
			break;
		case 's':
			if (o->nsets == MAX_SETS) {
				fprintf(stderr, "edgeboxd: more than %d --set options\n", MAX_SETS);
				return 2;
			}
			o->sets[o->nsets++] = optarg;
			break;
		case 'C':
			o->check_only = true;
			break;
		case 'l':
			o->log_level = optarg;
			break;
		case 'V':
			printf("edgeboxd %s\n", EDGEBOX_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "edgeboxd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	return -1;
}

/* Loads the file and the --set overrides and reads the daemon's own keys. */
static int load_config(const struct options *o, struct config **ret, struct config_error *err)
{
	struct config *c;
	const char *level;
	enum log_level lv;
	int rc, i;

	rc = config_load(o->config_path, &c, err);
	if (rc < 0)
		return rc;
	for (i = 0; i < o->nsets; i++) {
		rc = config_set(c, o->sets[i], err);
		if (rc < 0)
			goto fail;
	}
	rc = config_str(c, "daemon", "log_level", "info", false, &level, err);
	if (rc < 0)
		goto fail;
	if (o->log_level)
		level = o->log_level;
	if (log_level_from_string(level, &lv) < 0) {
		snprintf(err->msg, sizeof(err->msg),
			 "%s: [daemon] log_level: expected error, warning, notice, info or debug, "
			 "got '%s'",
			 config_name(c), level);
		rc = -EINVAL;
		goto fail;
	}
	log_set_level(lv);
	*ret = c;
	return 0;
fail:
	config_free(c);
	return rc;
}

/* The slot the bootloader started, from "edgebox.slot=a|b" on the kernel
 * command line; none on a development machine. */
static enum update_slot booted_slot(void)
{
	char line[4096] = "";
	const char *p;
	FILE *f = fopen("/proc/cmdline", "r");

	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
	}
	p = strstr(line, "edgebox.slot=");
	if (!p)
		return UPDATE_SLOT_NONE;
	return p[13] == 'a' ? UPDATE_SLOT_A : p[13] == 'b' ? UPDATE_SLOT_B : UPDATE_SLOT_NONE;
}

/*
 * A/B updates: with an [update] section, this start is counted against a
 * slot on trial (and rolled back from when its tries are used up); the trial
 * is judged every tick from how long the supervisor has been healthy.
 */
struct trial {
	struct update *u;
	bool judging;
	uint64_t start_ns, healthy_since_ns;
};

static int trial_start(const struct config *cfg, struct trial *t, struct config_error *err)
{
	struct update_params up;
	struct update_boot_result r;
	struct update_error uerr;
	int rc;

	memset(t, 0, sizeof(*t));
	if (!config_has_section(cfg, "update"))
		return 0;
	rc = update_params_from_config(cfg, "update", &up, err);
	if (rc < 0)
		return rc;
	rc = update_new(&up, &t->u, &uerr);
	if (rc == 0)
		rc = update_boot(t->u, booted_slot(), &r, &uerr);
	if (rc < 0) {
		log_error("update", "%s", uerr.msg);
		return 0; /* the box runs; the technician sees it in diag */
	}
	t->start_ns = hal_now_ns();
	if (r.action == UPDATE_BOOT_ROLLED_BACK) {
		log_error("update",
			  "the new firmware did not report healthy; rolled back to slot "
			  "%s (see edgeboxctl update --status); reboot to start it",
			  update_slot_name(r.active));
	} else if (r.action == UPDATE_BOOT_TRYING) {
		log_notice("update", "slot %s on trial: %d more starts to report healthy",
			   update_slot_name(r.active), r.tries);
		t->judging = true;
	}
	return 0;
}

/* 1 when the trial failed and the daemon must exit to be started again. */
static int trial_tick(struct trial *t, struct supervisor *sup, uint64_t now)
{
	struct update_error uerr;

	if (!t->judging)
		return 0;
	if (!sup->healthy)
		t->healthy_since_ns = 0;
	else if (!t->healthy_since_ns)
		t->healthy_since_ns = now;
	switch (update_trial_judge(t->u, (double)(now - t->start_ns) / 1e9,
				   t->healthy_since_ns ? (double)(now - t->healthy_since_ns) / 1e9
						       : 0)) {
	case UPDATE_TRIAL_WAIT:
		return 0;
	case UPDATE_TRIAL_GOOD:
		if (update_mark_good(t->u, &uerr) < 0)
			log_error("update", "%s", uerr.msg);
		else
			log_notice("update", "the new firmware is healthy: marked good");
		t->judging = false;
		return 0;
	case UPDATE_TRIAL_FAILED:
		update_note_failure(
		    t->u, sup->unhealthy_reason[0] ? sup->unhealthy_reason : "not healthy in time",
		    &uerr);
		log_error("update", "the new firmware did not become healthy in time; exiting so "
				    "the next start counts against its trial");
		t->judging = false;
		return 1;
	}
	return 0;
}

/* Builds and checks a pipeline from a config; on success it is not started. */
static int build(const struct options *o, struct config **ret_cfg, struct pipeline **ret_p,
		 struct control_params *ret_cp, bool *ret_control, struct config_error *err)
{
	struct config *c;
	struct pipeline *p;
	int rc;

	rc = load_config(o, &c, err);
	if (rc < 0)
		return rc;
	rc = pipeline_create(c, &p, err);
	if (rc < 0) {
		config_free(c);
		return rc;
	}
	/* the update keys are read by trial_start; mark them known here */
	if (config_has_section(c, "update")) {
		struct update_params up;

		rc = update_params_from_config(c, "update", &up, err);
		if (rc < 0) {
			pipeline_free(p);
			config_free(c);
			return rc;
		}
	}
	rc = control_params_from_config(c, ret_cp, ret_control, err);
	rc = rc ?: config_check_unused(c, err);
	if (rc < 0) {
		pipeline_free(p);
		config_free(c);
		return rc;
	}
	*ret_cfg = c;
	*ret_p = p;
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = {0};
	struct config_error err;
	struct config *cfg = NULL;
	struct pipeline *p = NULL;
	struct signalfd_siginfo si;
	struct control_params cp;
	struct control *ctl = NULL;
	uint64_t last_pub = 0;
	bool ctl_on = false;
	struct trial trial;
	struct pollfd pfd;
	sigset_t mask;
	int rc, sfd, exit_code = 0;
	bool running = true;

	rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;

	/* Before any thread exists, so every stage inherits the mask and the
	 * signals arrive only through the signalfd. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		log_error("edgeboxd", "signalfd: %s", strerror(errno));
		return 1;
	}

	if (o.check_only) {
		rc = load_config(&o, &cfg, &err);
		if (rc == 0) {
			/* every section and key the daemon reads, checked without
			 * opening any device (docs/technicians.md) */
			rc = diag_config_check_cfg(cfg, err.msg, sizeof(err.msg));
			config_free(cfg);
			if (rc == 0) {
				printf("%s: %s\n", o.config_path, err.msg[0] ? err.msg : "ok");
				return 0;
			}
		}
		fprintf(stderr, "edgeboxd: %s\n", err.msg);
		return 2;
	}

	rc = build(&o, &cfg, &p, &cp, &ctl_on, &err);
	if (rc < 0) {
		log_error("edgeboxd", "%s", err.msg);
		log_error("edgeboxd", "not starting: fix the config and start again");
		sdnotify_send("STATUS=bad config");
		return rc == -EINVAL ? 2 : 1;
	}
	trial_start(cfg, &trial, &err);
	pipeline_supervisor(p)->p.sd_watchdog_usec = sdnotify_watchdog_usec();
	pipeline_start(p);
	if (ctl_on) {
		char msg[512];
		ssize_t n =
		    readlink("/proc/self/exe", cp.edgeboxd_path, sizeof(cp.edgeboxd_path) - 1);

		cp.edgeboxd_path[n > 0 ? n : 0] = '\0';
		snprintf(cp.version, sizeof(cp.version), "%s", EDGEBOX_VERSION);
		cp.config_sets = o.sets;
		cp.n_config_sets = (size_t)o.nsets;
		if (control_create(&cp, &ctl, msg, sizeof(msg)) < 0)
			log_error("control", "%s; running without the control socket", msg);
		pipeline_set_control(p, ctl);
	}
	sdnotify_send("READY=1\nSTATUS=running");
	log_notice("edgeboxd", "running with %s (pid %d)", o.config_path, (int)getpid());

	pfd.fd = sfd;
	pfd.events = POLLIN;
	while (running) {
		rc = poll(&pfd, 1, pipeline_tick_ms(p));
		if (rc > 0 && read(sfd, &si, sizeof(si)) == sizeof(si)) {
			struct config *ncfg;
			struct pipeline *np;

			switch (si.ssi_signo) {
			case SIGHUP:
				log_notice("edgeboxd", "SIGHUP: reloading %s", o.config_path);
				sdnotify_send("RELOADING=1");
				/* Devices cannot be open twice: stop, then rebuild; if the new
				 * config is bad, rebuild from the old one. */
				pipeline_stop(p);
				pipeline_free(p);
				p = NULL;
				struct control_params ncp;
				bool nctl;

				if (build(&o, &ncfg, &np, &ncp, &nctl, &err) == 0) {
					if (ctl)
						control_set_store_path(ctl, ncp.store_path);
					config_free(cfg);
					cfg = ncfg;
					p = np;
					log_notice("edgeboxd", "config reloaded");
				} else {
					log_error("edgeboxd", "%s; keeping the previous config",
						  err.msg);
					if (pipeline_create(cfg, &p, &err) < 0) {
						log_error("edgeboxd",
							  "cannot restore the previous config: %s",
							  err.msg);
						config_free(cfg);
						return 1;
					}
				}
				pipeline_supervisor(p)->p.sd_watchdog_usec =
				    sdnotify_watchdog_usec();
				pipeline_set_control(p, ctl);
				pipeline_start(p);
				sdnotify_send("READY=1\nSTATUS=running");
				break;
			default:
				log_notice("edgeboxd", "%s: shutting down",
					   strsignal((int)si.ssi_signo));
				running = false;
				break;
			}
		}
		if (running) {
			uint64_t now = hal_now_ns();

			pipeline_tick(p, now);
			if (ctl && now - last_pub >= 1000000000ull) {
				char *js;

				last_pub = now;
				if (pipeline_status_json(p, &js) == 0)
					control_publish_status(ctl, js, now);
			}
			if (trial_tick(&trial, pipeline_supervisor(p), hal_now_ns())) {
				exit_code = 1;
				running = false;
			}
		}
	}
	sdnotify_send("STOPPING=1");
	pipeline_set_control(p, NULL);
	control_free(ctl);
	pipeline_stop(p);
	pipeline_free(p);
	update_free(trial.u);
	config_free(cfg);
	close(sfd);
	log_notice("edgeboxd", "stopped");
	return exit_code;
}
