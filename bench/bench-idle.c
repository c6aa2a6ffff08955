// SPDX-License-Identifier: GPL-2.0
// bench-idle: idle spinners that count, for bench/bench.sh, which builds it static on the
// host and copies it into the benchmark guest as /usr/bin/bench-idle.
//
// "spin CPU" is a SCHED_IDLE loop pinned to CPU that counts its iterations in
// /tmp/bench-idle.CPU: it keeps that CPU from ever halting (with icount sleep=off an all-idle
// guest jumps its clock to the next timer, which turns a wait for the emulated device into
// milliseconds), and what it counted is the CPU's idle time. "mark TAG" appends
// "TAG <CLOCK_MONOTONIC ns> <loops of CPU 0> ..." to /tmp/bench-idle.log. fio runs "start" (a
// detached spinner on the job's CPU, then a mark) right before each job's I/O and "stop" (a
// mark, then the spinner ends) right after it, so fio's own start-up and exit, where the guest
// sleeps, still let icount skip the idle time.
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long ncpus(void)
{
	return sysconf(_SC_NPROCESSORS_CONF);
}

// spin CPU: SCHED_IDLE on CPU, counting loops in /tmp/bench-idle.CPU.
static int spin(int cpu)
{
	struct sched_param sp = { 0 };
	volatile uint64_t *n;
	char path[64];
	cpu_set_t set;
	int fd;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) || sched_setscheduler(0, SCHED_IDLE, &sp)) {
		perror("bench-idle: affinity or SCHED_IDLE");
		return 1;
	}
	snprintf(path, sizeof(path), "/tmp/bench-idle.%d", cpu);
	fd = open(path, O_RDWR | O_CREAT, 0644);
	if (fd < 0 || ftruncate(fd, 4096)) {
		perror(path);
		return 1;
	}
	n = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (n == MAP_FAILED) {
		perror("bench-idle: mmap");
		return 1;
	}
	for (;;)
		(*n)++;
}

// mark TAG: "TAG <CLOCK_MONOTONIC ns> <loops of CPU 0> ..." to /tmp/bench-idle.log.
static int mark(const char *tag)
{
	struct timespec ts;
	FILE *log;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	log = fopen("/tmp/bench-idle.log", "a");
	if (!log)
		return 1;
	fprintf(log, "%s %lld", tag, (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	for (long c = 0; c < ncpus(); c++) {
		char path[64];
		uint64_t v = 0;
		int fd;

		snprintf(path, sizeof(path), "/tmp/bench-idle.%ld", c);
		fd = open(path, O_RDONLY);
		if (fd >= 0) {
			if (pread(fd, &v, sizeof(v), 0) != sizeof(v))
				v = 0;
			close(fd);
		}
		fprintf(log, " %llu", (unsigned long long)v);
	}
	fputc('\n', log);
	return fclose(log) != 0;
}

// The CPU this process may run on (the first of its affinity mask).
static int my_cpu(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 0;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			return c;
	return 0;
}

// read_cpu_int KIND CPU V / write_cpu_int KIND CPU V: the number in /tmp/bench-idle.KIND.CPU
// (the CPU's spinner pid, "pid", or its user count, "users"). Reading returns -1 when there is
// no such file, 0 when it holds no number, 1 when *V was read.
static int read_cpu_int(const char *kind, long cpu, int *v)
{
	char path[64];
	FILE *f;
	int r;

	snprintf(path, sizeof(path), "/tmp/bench-idle.%s.%ld", kind, cpu);
	f = fopen(path, "r");
	if (!f)
		return -1;
	r = fscanf(f, "%d", v) == 1;
	fclose(f);
	return r;
}

static void write_cpu_int(const char *kind, long cpu, int v)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/bench-idle.%s.%ld", kind, cpu);
	f = fopen(path, "w");
	if (f) {
		fprintf(f, "%d\n", v);
		fclose(f);
	}
}

static void kill_spinner(long cpu)
{
	char path[64];
	int pid, r = read_cpu_int("pid", cpu, &pid);

	if (r < 0)
		return;
	if (r == 1 && pid > 1)
		kill(pid, SIGKILL);
	snprintf(path, sizeof(path), "/tmp/bench-idle.pid.%ld", cpu);
	unlink(path);
}

// lock_cpu CPU: an exclusive flock on /tmp/bench-idle.lock.CPU (released when the returned
// descriptor is closed), so the spinner bookkeeping of one CPU changes under one process at a
// time: the jobs of a group that share a CPU run their prerun and postrun concurrently.
static int lock_cpu(int cpu)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/bench-idle.lock.%d", cpu);
	fd = open(path, O_RDWR | O_CREAT, 0644);
	if (fd >= 0 && flock(fd, LOCK_EX)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

// users CPU: how many running jobs share CPU's spinner (0 when none is counted).
static int users(int cpu)
{
	int n;

	return read_cpu_int("users", cpu, &n) == 1 ? n : 0;
}

// spawn CPU LOCK: a detached spinner on CPU, its pid in /tmp/bench-idle.pid.CPU. The
// children close LOCK (the CPU's lock, which an inherited descriptor would hold for as long
// as the spinner runs).
static void spawn(int cpu, int lock)
{
	pid_t p = fork();

	if (p == 0) {
		pid_t q;

		if (lock >= 0)
			close(lock);
		setsid();
		q = fork();
		if (q == 0) {
			int fd = open("/dev/null", O_RDWR);

			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			_exit(spin(cpu));
		} else if (q > 0) {
			write_cpu_int("pid", cpu, q);
		}
		_exit(q > 0 ? 0 : 1);
	}
	if (p > 0)
		waitpid(p, NULL, 0);
}

// start: one more job on this process's CPU; the first starts the CPU's spinner. Then
// "mark preCPU". fio runs it as exec_prerun in the job process, after pinning the job. Jobs
// of a group on one CPU share its spinner (counted under the CPU's lock): each starting its
// own, as this did once, let two of them race on the pid file and leave a spinner running
// for the rest of the VM, which kept a second vCPU busy and halved every later one-CPU job's
// share of guest time.
static int start(void)
{
	int cpu = my_cpu();
	int lock = lock_cpu(cpu);
	char tag[32];
	int n = users(cpu);

	if (n == 0) {
		kill_spinner(cpu);
		spawn(cpu, lock);
	}
	write_cpu_int("users", cpu, n + 1);
	if (lock >= 0)
		close(lock);
	snprintf(tag, sizeof(tag), "pre%d", cpu);
	return mark(tag);
}

// stop: "mark postCPU", then one job fewer on this CPU; the last ends its spinner (fio's
// exec_postrun).
static int stop(void)
{
	int cpu = my_cpu();
	char tag[32];
	int lock, n, rc;

	snprintf(tag, sizeof(tag), "post%d", cpu);
	rc = mark(tag);
	lock = lock_cpu(cpu);
	n = users(cpu);
	if (n <= 1) {
		kill_spinner(cpu);
		write_cpu_int("users", cpu, 0);
	} else {
		write_cpu_int("users", cpu, n - 1);
	}
	if (lock >= 0)
		close(lock);
	return rc;
}

// reap: after a job, no spinner may be left: every CPU's is ended and its count cleared, and
// any other bench-idle process still running (a spinner no count knows of) is killed and
// reported on stderr, as a bench run with a leaked spinner measures nothing.
static int reap(void)
{
	char path[300], stat[512];
	int leaked = 0;
	DIR *d;
	struct dirent *e;

	for (long c = 0; c < ncpus(); c++) {
		kill_spinner(c);
		write_cpu_int("users", c, 0);
	}
	d = opendir("/proc");
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		int pid = atoi(e->d_name);
		FILE *f;

		if (pid <= 1 || pid == getpid())
			continue;
		// /proc/PID/stat: "PID (COMM) STATE ..."; a killed spinner not yet reaped by init
		// (state Z) is not running.
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(stat, sizeof(stat), f) && strstr(stat, " (bench-idle) ")) {
			char *end = strrchr(stat, ')');

			if (end && end[1] == ' ' && end[2] != 'Z') {
				kill(pid, SIGKILL);
				leaked++;
			}
		}
		fclose(f);
	}
	closedir(d);
	if (leaked)
		fprintf(stderr, "bench-idle: killed %d spinner(s) left running after the job\n", leaked);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "spin"))
		return spin(atoi(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "mark"))
		return mark(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "start"))
		return start();
	if (argc == 2 && !strcmp(argv[1], "stop"))
		return stop();
	if (argc == 2 && !strcmp(argv[1], "reap"))
		return reap();
	fprintf(stderr, "usage: bench-idle spin CPU | mark TAG | start | stop | reap\n");
	return 2;
}
