// SPDX-License-Identifier: MIT
// Outside text and numbers that used to break hypetrace (issue 13): text that is not UTF-8 in
// results, pids past the kernel's range, guest names that walk out of a directory, commas in paths
// spliced into QEMU options.
#include "../temp_dir.h"
#include "core/base/error.h"
#include "core/host/files.h"
#include "core/base/json_text.h"
#include "core/host/proc.h"
#include "core/memscan/pagescan.h"
#include "core/base/text.h"
#include "drivers/qemu/qemu_driver.h"
#include "experiments/dedup.h"
#include "experiments/exitcost.h"
#include "core/views/report.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace ht;

TEST(Utf8, ValidTextIsKeptAndBadBytesAreEscaped) {
    EXPECT_TRUE(valid_utf8("qemu-system-x86"));
    EXPECT_TRUE(valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa7"));
    EXPECT_EQ(utf8_escape("caf\xc3\xa9"), "caf\xc3\xa9");
    // a name cut mid-character (comm is 16 bytes), a Latin-1 byte, an overlong '/', a surrogate,
    // a code point past U+10FFFF
    for (const char* bad : {"kworker\xe2\x82", "caf\xe9", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80"})
        EXPECT_FALSE(valid_utf8(bad)) << bad;
    EXPECT_EQ(utf8_escape("kworker\xe2\x82"), "kworker\\xe2\\x82");
    EXPECT_EQ(utf8_escape("caf\xe9!"), "caf\\xe9!");
    EXPECT_EQ(utf8_escape("\xc0\xaf"), "\\xc0\\xaf");
    EXPECT_TRUE(valid_utf8(utf8_escape("\xff\xfe\xed\xa0\x80 ok")));
}

TEST(Utf8, JsonWithBadTextIsWrittenNotThrown) {
    nlohmann::json j;
    j["comm"] = std::string("qemu\xe2\x82");
    j["stacks"] = {{{"name", std::string("caf\xe9")}, {"count", 3}}};
    j[std::string("key\xff")] = 1;
    EXPECT_THROW((void)j.dump(), nlohmann::json::type_error);  // what the writers did before
    const std::string text = dump_json(j, 2);
    auto back = nlohmann::json::parse(text);
    EXPECT_EQ(back["comm"], "qemu\\xe2\\x82");
    EXPECT_EQ(back["stacks"][0]["name"], "caf\\xe9");
    EXPECT_EQ(back["stacks"][0]["count"], 3);
    EXPECT_EQ(back["key\\xff"], 1);
    // valid text is written exactly as dump() writes it
    nlohmann::json ok = {{"a", "caf\xc3\xa9"}, {"b", {1, 2}}};
    EXPECT_EQ(dump_json(ok, 2), ok.dump(2));
}

TEST(Pids, OnlyPidsInTheKernelsRangeParse) {
    EXPECT_EQ(parse_pid("1", 4194304), pid_t(1));
    EXPECT_EQ(parse_pid("4194303", 4194304), pid_t(4194303));
    EXPECT_FALSE(parse_pid("4194304", 4194304));
    EXPECT_FALSE(parse_pid("4294967297", 4194304));  // was truncated to pid 1
    EXPECT_FALSE(parse_pid("99999999999999999999", 4194304));  // was an exception, exit 70
    EXPECT_FALSE(parse_pid("0", 4194304));
    EXPECT_FALSE(parse_pid("", 4194304));
    EXPECT_FALSE(parse_pid("-5", 4194304));
    EXPECT_FALSE(parse_pid("12a", 4194304));
    EXPECT_FALSE(parse_pid("40000", 32768));
    EXPECT_GE(pid_max(), 301);
}

TEST(Guests, NamesThatAreNotOneComponentAreRefused) {
    for (const std::string bad : {"../../sshd", "a/b", "..", ".", "bad\nname", "x\x7f"}) {
        try {
            resolve_guest(bad);
            ADD_FAILURE() << "accepted " << bad;
        } catch (const UserError& e) {
            EXPECT_NE(std::string(e.what()).find("is not a guest name"), std::string::npos) << e.what();
            EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line";
        }
    }
    for (const std::string bad : {"4294967297", "99999999999999999999"}) {
        try {
            resolve_guest(bad);
            ADD_FAILURE() << "accepted " << bad;
        } catch (const UserError& e) {
            EXPECT_NE(std::string(e.what()).find("is not a pid"), std::string::npos) << e.what();
        }
    }
}

TEST(Qemu, CommasInPathsAreEscapedInItsOptionStrings) {
    EXPECT_EQ(qemu_opt_escape("/a,b/c,,d"), "/a,,b/c,,,,d");
    GuestSpec spec;
    spec.name = "t";
    spec.variant = Variant::full;
    spec.images.dir = "/srv/images,readonly=off";
    spec.run_dir = "/var/tmp/run,x";
    spec.job_dir = "/job";
    auto args = QemuDriver::command_line(spec);
    auto has = [&](const std::string& s) { return std::find(args.begin(), args.end(), s) != args.end(); };
    EXPECT_TRUE(has("file=/srv/images,,readonly=off/full.img,if=virtio,format=raw,snapshot=on"));
    EXPECT_TRUE(has("file=/var/tmp/run,,x/job.tar,if=virtio,format=raw,readonly=on"));
    EXPECT_TRUE(has("file,id=fw,path=/var/tmp/run,,x/firmware.log"));
    EXPECT_TRUE(has("unix:/var/tmp/run,,x/qmp.sock,server=on,wait=off"));
    // -serial file: and -kernel take the rest of the argument as the path: no escaping there
    EXPECT_TRUE(has("file:/var/tmp/run,x/console.log"));
    EXPECT_TRUE(has("/srv/images,readonly=off/vmlinuz"));
}

// A checkpointed guest boots on the checkpoint's own overlay (kept) and answers pings on a socket
// whose output is also logged where the console watcher reads; a restored one loads the state
// QEMU is told of over QMP (-incoming defer), its disk writes thrown away. Cold boots are as before.
TEST(Qemu, CheckpointAndRestoreCommandLines) {
    GuestSpec spec;
    spec.name = "t";
    spec.variant = Variant::full;
    spec.images.dir = "/img";
    spec.run_dir = "/run/x";
    auto line = [](const std::vector<std::string>& a) {
        std::string s;
        for (const auto& x : a) s += x + " ";
        return s;
    };
    const std::string cold = line(QemuDriver::command_line(spec));
    EXPECT_NE(cold.find("-serial file:/run/x/marks.log -drive file=/img/full.img,if=virtio,format=raw,snapshot=on"),
              std::string::npos) << cold;
    EXPECT_EQ(cold.find("-incoming"), std::string::npos);
    EXPECT_EQ(cold.find("ping.sock"), std::string::npos);

    spec.checkpoint_dir = "/ck";
    const std::string save = line(QemuDriver::command_line(spec));
    EXPECT_NE(save.find("-chardev socket,id=marks,path=/run/x/ping.sock,server=on,wait=off,logfile=/run/x/marks.log "
                        "-serial chardev:marks"), std::string::npos) << save;
    EXPECT_NE(save.find("-drive file=/ck/disk.qcow2,if=virtio,format=qcow2 "), std::string::npos) << save;
    EXPECT_NE(save.find("-qmp unix:/run/x/qmp.sock,server=on,wait=off"), std::string::npos) << save;
    EXPECT_EQ(save.find("-incoming"), std::string::npos);

    spec.restore = true;
    const std::string load = line(QemuDriver::command_line(spec));
    EXPECT_NE(load.find("-drive file=/ck/disk.qcow2,if=virtio,format=qcow2,snapshot=on "), std::string::npos) << load;
    EXPECT_NE(load.find("-incoming defer"), std::string::npos) << load;
    // the guest's devices are the same on both sides: only backends and the disk's write policy differ
    auto devices = [](const std::string& s) {
        std::string d;
        for (std::size_t at = s.find("-device "); at != std::string::npos; at = s.find("-device ", at + 1))
            d += s.substr(at, s.find(' ', at + 8) - at) + ";";
        return d;
    };
    EXPECT_EQ(devices(save), devices(load));
    EXPECT_EQ(devices(save), devices(cold));

    spec.variant = Variant::app;  // bash on the console: the console is the ping channel
    const std::string app = line(QemuDriver::command_line(spec));
    EXPECT_NE(app.find("-chardev socket,id=console,path=/run/x/ping.sock,server=on,wait=off,logfile=/run/x/console.log "
                       "-serial chardev:console"), std::string::npos) << app;
    EXPECT_NE(app.find("-incoming defer"), std::string::npos) << app;
}

TEST(Text, ShellQuoteMakesOneWord) {
    EXPECT_EQ(shell_quote("/a b/c"), "'/a b/c'");
    EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
    EXPECT_EQ(shell_quote(""), "''");
}

// /var/tmp is shared: a directory someone else made there first, or a symlink, is not used.
TEST(ScratchDirs, OnlyADirectoryOfOurOwnIsUsed) {
    namespace fs = std::filesystem;
    const TestTempDir tmp("/tmp/ht-priv-XXXXXX");
    const fs::path root = tmp.path;
    auto refused = [](const fs::path& p, const std::string& why) {
        try {
            ScratchDir d(p, "x-1");
            ADD_FAILURE() << "used " << p;
        } catch (const UserError& e) {
            EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find("rm -rf " + p.string()), std::string::npos) << e.what();
        }
    };
    {  // made fresh: 0755, ours
        ScratchDir d(root / "a" / "hypetrace", "x-1");
        struct stat st {};
        ASSERT_EQ(lstat((root / "a" / "hypetrace").c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 0777, 0755u);
        EXPECT_TRUE(fs::is_directory(d.path()));
    }
    fs::create_directories(root / "target");
    fs::create_directory_symlink(root / "target", root / "link");
    refused(root / "link", "is a symbolic link");
    fs::create_directory(root / "open");
    chmod((root / "open").c_str(), 0777);
    refused(root / "open", "writable by other users");
    std::ofstream(root / "file") << "x";
    refused(root / "file", "is not a directory");
    if (geteuid() == 0) {  // another user's directory (only root can make one to test with)
        fs::create_directory(root / "theirs");
        ASSERT_EQ(chown((root / "theirs").c_str(), 65534, 65534), 0);
        refused(root / "theirs", "belongs to uid 65534");
    }
    EXPECT_TRUE(fs::is_empty(root / "target")) << "nothing written through the link";
}

TEST(Utf8, VisibleKeepsQuotedTextOnOneLine) {
    EXPECT_EQ(visible("a\nb\t\x7f" "caf\xe9"), "a\\x0ab\\x09\\x7fcaf\\xe9");
    EXPECT_EQ(visible("caf\xc3\xa9"), "caf\xc3\xa9");
}

// A run whose counts are incomplete says so in its report's first line, and in its JSON.
TEST(Losses, IncompleteCountsAreTheHeadline) {
    EXPECT_EQ(loss_headline(Losses{}), "");
    RunTrace t;
    t.lost_counts = 12;
    t.lost_tracked = 2;
    Losses l;
    l.add(t);
    l.add(t);
    const std::string h = loss_headline(l);
    EXPECT_EQ(h.rfind("INCOMPLETE COUNTS: ", 0), 0u) << h;
    EXPECT_NE(h.find("24 counter updates lost (a kernel map was full)"), std::string::npos) << h;
    EXPECT_NE(h.find("4 processes not followed (the tracked map was full)"), std::string::npos) << h;
    EXPECT_EQ(h.find("events lost"), std::string::npos) << h;
    EXPECT_EQ(std::count(h.begin(), h.end(), '\n'), 1);
    EXPECT_EQ(losses_json(l)["complete"], false);
    EXPECT_EQ(losses_json(Losses{})["complete"], true);

    ExitcostResult r;
    r.lost.add(t);
    const std::string text = render_text(r);
    EXPECT_EQ(text.rfind("INCOMPLETE COUNTS: 12 counter updates", 0), 0u) << text.substr(0, 200);
    EXPECT_EQ(render_text(ExitcostResult{}).find("INCOMPLETE"), std::string::npos);
}

// A file truncated under a mapping of it: touching a page past its new end is SIGBUS, which
// killed a page-cache scan (dedup's host scan reads every cached file through mappings). The scan
// has the kernel copy the pages instead (hash_mapped_pages): the copy fails, not the process.
TEST(TruncatedFile, ReadingPastItsNewEndFailsTheReadNotTheProcess) {
    char tmpl[] = "/tmp/ht-bus-XXXXXX";
    const int fd = mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    const long page = sysconf(_SC_PAGESIZE);
    ASSERT_EQ(ftruncate(fd, 2 * page), 0);
    void* m = mmap(nullptr, size_t(2 * page), PROT_READ, MAP_SHARED, fd, 0);
    ASSERT_NE(m, MAP_FAILED);
    ASSERT_EQ(ftruncate(fd, 0), 0);  // another process truncates it
    const unsigned char want[2] = {1, 1};
    uint64_t hashes[2] = {0, 0};
    EXPECT_FALSE(hash_mapped_pages(static_cast<const char*>(m), 2, want, hashes));
    ASSERT_EQ(ftruncate(fd, 2 * page), 0);
    EXPECT_TRUE(hash_mapped_pages(static_cast<const char*>(m), 2, want, hashes))
        << "the same read once the file is long enough again";
    const std::vector<char> zeros(size_t(page), 0);
    EXPECT_EQ(hashes[0], page_hash(zeros.data()));
    EXPECT_EQ(hashes[1], page_hash(zeros.data()));
    munmap(m, size_t(2 * page));
    close(fd);
    unlink(tmpl);
}

namespace {

// A scratch directory for the atomic writes, removed on every exit from the test.
struct AtomicDir {
    const TestTempDir dir{"/tmp/ht-atomic-XXXXXX"};
    const std::filesystem::path root{dir.path};
    std::filesystem::path file() const { return root / "result.json"; }
};

// The directory holds only result.json, whole ("second, longer", the second write), mode 0644:
// mkstemp's 0600 and O_TMPFILE's umask both made right.
void expect_only_the_whole_result(const AtomicDir& d) {
    namespace fs = std::filesystem;
    std::ifstream in(d.file());
    const std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(got, "second, longer");
    EXPECT_EQ(fs::status(d.file()).permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(d.root)) names.push_back(e.path().filename().string());
    EXPECT_EQ(names, std::vector<std::string>{"result.json"});
}

}  // namespace

// A result is written unnamed and linked in whole: a new file and a replaced one are the content
// written, with the mode asked, and nothing else is left in the directory.
TEST(AtomicWrite, NewAndReplacedFilesAreWholeAndNothingElseIsLeft) {
    const AtomicDir d;
    ht::write_file_atomic(d.file(), "first");
    ht::write_file_atomic(d.file(), "second, longer");
    expect_only_the_whole_result(d);
}

// Where /proc is not mounted (a minimal container), the unnamed file cannot be linked in through
// /proc/self/fd: the named temp file's way writes it instead, new and replaced, and leaves nothing
// else. A child in a mount namespace of its own, without /proc, does the writes.
TEST(AtomicWrite, WithoutProcTheNamedWayStillWritesWholeAndLeavesNothingElse) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: a mount namespace without /proc";
    const AtomicDir d;
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
            umount2("/proc", MNT_DETACH) != 0 || access("/proc/self/fd", F_OK) == 0)
            _exit(3);
        try {
            ht::write_file_atomic(d.file(), "first");
            ht::write_file_atomic(d.file(), "second, longer");
        } catch (const std::exception& e) {
            std::fprintf(stderr, "%s\n", e.what());
            _exit(1);
        }
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    if (WEXITSTATUS(status) == 3) GTEST_SKIP() << "cannot unmount /proc in a mount namespace here";
    ASSERT_EQ(WEXITSTATUS(status), 0);
    expect_only_the_whole_result(d);
}
