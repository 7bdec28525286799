/*
 * make install puts the binaries, the data, the config and a systemd unit
 * under DESTDIR/PREFIX, and what it installs runs.
 */
#include "tests/test.h"

#include <stdlib.h>
#include <sys/stat.h>

#include "tests/support/daemon.h"

static char *slurp(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int exists(const char *dir, const char *rel)
{
	char path[600];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	return stat(path, &st) == 0;
}

TEST(install_into_destdir)
{
	char build[256], dest[300], cmd[1200], path[600];
	const char *unit;

	/* EDGEBOX_BIN is <build>/bin; install from the same build. */
	snprintf(build, sizeof(build), "%s", test_bin_dir());
	if (strlen(build) > 4 && strcmp(build + strlen(build) - 4, "/bin") == 0)
		build[strlen(build) - 4] = '\0';
	snprintf(dest, sizeof(dest), "%s/root", test_tmpdir());
	snprintf(cmd, sizeof(cmd),
		 "make -s --no-print-directory install BUILD=%s PREFIX=/usr DESTDIR=%s "
		 ">%s/make.log 2>&1",
		 build, dest, test_tmpdir());
	ASSERT_MSG(system(cmd) == 0, "make install failed: %s", cmd);
	ASSERT(exists(dest, "usr/bin/edgeboxd"));
	ASSERT(exists(dest, "usr/bin/edgeboxctl"));
	ASSERT(exists(dest, "etc/edgebox/edgebox.conf"));
	ASSERT(exists(dest, "usr/share/edgebox/config/sim.conf"));
	snprintf(path, sizeof(path), "%s/lib/systemd/system/edgeboxd.service", dest);
	unit = slurp(path);
	ASSERT(unit);
	ASSERT_CONTAINS(unit, "Type=notify");
	ASSERT_CONTAINS(unit, "WatchdogSec=");
	ASSERT_CONTAINS(unit, "ExecStart=/usr/bin/edgeboxd --config /etc/edgebox/edgebox.conf");
	ASSERT(!strstr(unit, "@PREFIX@"));
	snprintf(cmd, sizeof(cmd), "%s/usr/bin/edgeboxd --version >/dev/null", dest);
	ASSERT_EQ(system(cmd), 0);
}
