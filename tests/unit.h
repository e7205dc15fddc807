/* unit.h - what every cmocka unit test includes. */
#ifndef KT_TEST_UNIT_H
#define KT_TEST_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#define assert_str_contains(s, sub) \
	do { \
		if (!strstr((s), (sub))) \
			fail_msg("'%s' does not contain '%s'", (s), (sub)); \
	} while (0)

#endif
