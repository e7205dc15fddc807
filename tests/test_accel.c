/* Unit tests of accel.c and the cache's locks: the verdicts on KVM (kept,
 * read back, expired, forgotten, cleared by a boot that works), a kernel's
 * key in any cache folder, and a lock that a second process waits for.
 * The probe runs the test double of QEMU (tests/fixtures), which passes it
 * without starting anything; ktpack asks for a usable /dev/kvm first. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"
#include "internal.h"
#include <ktpack/cache.h>

#define DOUBLE	"tests/fixtures/qemu-kvm-hangs.sh"
#define VMLINUX	"vmlinux-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char root[64];

static int setup(void **state)
{
	(void)state;
	strcpy(root, "/tmp/kt-test-accel.XXXXXX");
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rm_tree(root);
}

static struct kt_cache *cache_at(const char *name)
{
	char path[128];
	struct kt_cache_opts o = { .dir = path };
	struct kt_cache *c = NULL;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	assert_int_equal(kt_cache__open(&o, &c, NULL), 0);
	return c;
}

/* A vmlinux named as the kernel cache names one, opened as a run holds it. */
static int cached_vmlinux(struct kt_cache *c)
{
	int fd = openat(kt_cache__fd(c), VMLINUX, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	assert_true(fd > 2);
	return fd;
}

static bool have_kvm_dev(void)
{
	if (!access("/dev/kvm", R_OK | W_OK) && !access(DOUBLE, X_OK))
		return true;
	fprintf(stderr, "(skipped: no usable /dev/kvm, or not run from the checkout)\n");
	return false;
}

static void test_lock_waits_for_its_holder(void **state)
{
	struct kt_cache *c = cache_at("lock");
	volatile sig_atomic_t one = 1;
	struct kt_stop stop = { .signal = &one };
	char done[160];
	int fd = -1, p[2];
	pid_t pid;

	(void)state;
	snprintf(done, sizeof(done), "%s/done", root);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		int lfd;

		if (kt_cache_lock(c, "x", NULL, KT_LOCK_FOREVER, &lfd))
			_exit(1);
		(void)!write(p[1], "l", 1);
		usleep(300 * 1000);
		close(open(done, O_WRONLY | O_CREAT, 0600));
		kt_cache_unlock(c, "x", lfd);
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], done + sizeof(done) - 1, 1), 1);	/* the child holds it */
	close(p[0]);
	/* a signal for a guest that is not up yet ends the wait, as a stop does */
	assert_int_equal(kt_cache_lock(c, "x", &stop, KT_LOCK_FOREVER, &fd), -EINTR);
	/* a bound ends it too, and 0 asks only whether it is free */
	assert_int_equal(kt_cache_lock(c, "x", NULL, 0, &fd), -EWOULDBLOCK);
	assert_int_equal(kt_cache_lock(c, "x", NULL, 50, &fd), -ETIMEDOUT);
	/* else it is had once the holder let go, and not before */
	assert_int_equal(kt_cache_lock(c, "x", NULL, KT_LOCK_FOREVER, &fd), 0);
	assert_int_equal(access(done, F_OK), 0);
	kt_cache_unlock(c, "x", fd);
	assert_int_equal(faccessat(kt_cache__fd(c), ".kt-x.lock", F_OK, 0), -1);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	kt_cache__close(c);
}

static void test_boot_verdicts(void **state)
{
	struct kt_cache *c;
	struct kt_accel_req q = { .qemu = DOUBLE, .want = KT_ACCEL_AUTO, .pvh = true };
	struct kt_accel_plan p;
	struct kt_accel_memory m;
	struct kt_err e;

	(void)state;
	if (!have_kvm_dev())
		return;
	c = cache_at("verdicts");
	q.cache = c;
	q.kernel_fd = cached_vmlinux(c);
	assert_int_equal(kt_accel_recall(&q, &m), 0);
	assert_int_equal(m.probe, 1);
	assert_int_equal(m.boot, 1);
	/* nothing known: KVM, and this run holds the boot verdict's lock */
	assert_int_equal(kt_accel_plan(&q, &p, &e), 0);
	assert_int_equal(p.accel, KT_ACCEL_KVM);
	assert_true(p.lock >= 0);
	assert_string_equal(p.why, "");
	assert_int_equal(kt_accel_kvm_verdict(&p, "no sign of life within 20 s", &e), 0);
	assert_int_equal(p.accel, KT_ACCEL_TCG);
	assert_true(p.fell_back);
	assert_int_equal(p.lock, -1);
	kt_accel_plan_release(&p);
	assert_int_equal(kt_accel_recall(&q, &m), 0);
	assert_int_equal(m.probe, 0);
	assert_int_equal(m.boot, -ENODEV);
	assert_string_equal(m.boot_why, "no sign of life within 20 s");
	/* remembered: TCG at once, saying why */
	assert_int_equal(kt_accel_plan(&q, &p, &e), 0);
	assert_int_equal(p.accel, KT_ACCEL_TCG);
	assert_int_equal(p.lock, -1);
	assert_string_equal(p.why, "it did not boot this kernel: no sign of life within 20 s");
	kt_accel_plan_release(&p);
	/* --accel kvm tries again, fails with the reason... */
	q.want = KT_ACCEL_KVM;
	assert_int_equal(kt_accel_plan(&q, &p, &e), 0);
	assert_int_equal(p.accel, KT_ACCEL_KVM);
	assert_int_equal(kt_accel_kvm_verdict(&p, "still nothing", &e), -ENODEV);
	assert_string_equal(e.msg, "KVM cannot boot this kernel: still nothing");
	kt_accel_plan_release(&p);
	/* ...or boots, which clears the verdict */
	assert_int_equal(kt_accel_plan(&q, &p, &e), 0);
	assert_int_equal(kt_accel_kvm_verdict(&p, NULL, &e), 0);
	kt_accel_plan_release(&p);
	assert_int_equal(kt_accel_recall(&q, &m), 0);
	assert_int_equal(m.boot, 0);
	q.want = KT_ACCEL_AUTO;
	assert_int_equal(kt_accel_plan(&q, &p, &e), 0);
	assert_int_equal(p.accel, KT_ACCEL_KVM);
	assert_int_equal(p.lock, -1);	/* known to work: nothing to decide */
	kt_accel_plan_release(&p);
	kt_accel_forget(&q);
	assert_int_equal(kt_accel_recall(&q, &m), 0);
	assert_int_equal(m.probe, 1);
	assert_int_equal(m.boot, 1);
	close(q.kernel_fd);
	kt_cache__close(c);
}

/* Rewrites every verdict of @c to be @age seconds old. */
static void age_verdicts(struct kt_cache *c, time_t age)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "touch -d @%lld %s/kvm-*", (long long)(time(NULL) - age),
		 kt_cache__path(c));
	assert_int_equal(system(cmd), 0);
}

static void test_verdicts_age_and_travel_with_the_kernel(void **state)
{
	struct kt_cache *a, *b;
	struct kt_accel_req q = { .qemu = DOUBLE, .want = KT_ACCEL_AUTO };
	struct kt_accel_plan p;
	struct kt_accel_memory m;
	char cmd[512];

	(void)state;
	if (!have_kvm_dev())
		return;
	a = cache_at("a");
	b = cache_at("b");
	q.cache = a;
	q.kernel_fd = cached_vmlinux(a);
	assert_int_equal(kt_accel_plan(&q, &p, NULL), 0);
	kt_accel_kvm_verdict(&p, "hung", NULL);
	kt_accel_plan_release(&p);
	/* the same kernel (by its name, a digest) in another cache folder
	 * has the same verdict */
	snprintf(cmd, sizeof(cmd), "cp -p %s/kvm-* %s/", kt_cache__path(a), kt_cache__path(b));
	assert_int_equal(system(cmd), 0);
	close(q.kernel_fd);
	q.cache = b;
	q.kernel_fd = cached_vmlinux(b);
	assert_int_equal(kt_accel_recall(&q, &m), 0);
	assert_int_equal(m.boot, -ENODEV);
	assert_string_equal(m.boot_why, "hung");
	/* a day old: asked again, and the old file is gone */
	age_verdicts(b, KT_KVM_PROBE_CACHE_S + 60);
	assert_int_equal(kt_accel_recall(&q, &m), 0);
	assert_int_equal(m.probe, 1);
	assert_int_equal(m.boot, 1);
	snprintf(cmd, sizeof(cmd), "ls %s | grep -q kvm-", kt_cache__path(b));
	assert_int_not_equal(system(cmd), 0);
	/* a verdict from the future is not trusted either */
	q.cache = a;
	close(q.kernel_fd);
	q.kernel_fd = cached_vmlinux(a);
	age_verdicts(a, -3600);
	assert_int_equal(kt_accel_recall(&q, &m), 0);
	assert_int_equal(m.boot, 1);
	close(q.kernel_fd);
	kt_cache__close(a);
	kt_cache__close(b);
}

static void test_foreign_guest_and_tcg(void **state)
{
	struct kt_accel_req q = { .qemu = DOUBLE, .want = KT_ACCEL_KVM, .arch = KT_ARCH_AARCH64 };
	struct kt_accel_plan p;
	struct kt_err e;

	(void)state;
	if (kt_arch_native() == KT_ARCH_AARCH64)
		q.arch = KT_ARCH_X86_64;
	assert_int_equal(kt_accel_plan(&q, &p, &e), -ENODEV);
	assert_str_contains(e.msg, "KVM cannot run an");
	q.want = KT_ACCEL_AUTO;
	assert_int_equal(kt_accel_plan(&q, &p, &e), 0);
	assert_int_equal(p.accel, KT_ACCEL_TCG);
	assert_string_equal(p.why, "");
	q.want = KT_ACCEL_TCG;
	q.arch = KT_ARCH_NONE;
	assert_int_equal(kt_accel_plan(&q, &p, &e), 0);
	assert_int_equal(p.accel, KT_ACCEL_TCG);
}

static void test_names(void **state)
{
	enum kt_accel a;

	(void)state;
	assert_int_equal(kt_accel_parse("kvm", &a), 0);
	assert_int_equal(a, KT_ACCEL_KVM);
	assert_int_equal(kt_accel_parse("tcg", &a), 0);
	assert_int_equal(a, KT_ACCEL_TCG);
	assert_int_equal(kt_accel_parse("auto", &a), 0);
	assert_int_equal(a, KT_ACCEL_AUTO);
	assert_int_equal(kt_accel_parse("hvf", &a), -EINVAL);
	assert_string_equal(kt_accel_name(KT_ACCEL_TCG), "TCG");
	assert_string_equal(kt_accel_name(KT_ACCEL_KVM), "KVM");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lock_waits_for_its_holder),
		cmocka_unit_test(test_boot_verdicts),
		cmocka_unit_test(test_verdicts_age_and_travel_with_the_kernel),
		cmocka_unit_test(test_foreign_guest_and_tcg),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
