// catch_main.cpp — the suite's entry point, plus a listener that ends the run with one
// plain summary line ("N passed, N failed, N skipped") that people and CI tools can read.
// A test that cannot run here (no GPU) calls T2L_SKIP(reason): it prints a visible
// "SKIPPED" line and is counted as skipped, not passed.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <cstdio>

#include "test_util.h"

namespace t2l_test {
int g_skipped_in_case = 0;
}

namespace {
struct SummaryListener : Catch::TestEventListenerBase {
    using TestEventListenerBase::TestEventListenerBase;
    int passed = 0, failed = 0, skipped = 0;

    void testCaseStarting(Catch::TestCaseInfo const& info) override {
        TestEventListenerBase::testCaseStarting(info);
        t2l_test::g_skipped_in_case = 0;
    }
    void testCaseEnded(Catch::TestCaseStats const& stats) override {
        if (!stats.totals.assertions.allOk()) failed++;
        else if (t2l_test::g_skipped_in_case) skipped++;
        else passed++;
        TestEventListenerBase::testCaseEnded(stats);
    }
    void testRunEnded(Catch::TestRunStats const& stats) override {
        std::fflush(stdout);
        std::printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
        std::fflush(stdout);
        TestEventListenerBase::testRunEnded(stats);
    }
};
}  // namespace
CATCH_REGISTER_LISTENER(SummaryListener)
