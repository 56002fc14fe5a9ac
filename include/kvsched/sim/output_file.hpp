// kvsched/sim/output_file.hpp: output files written whole or not at all, only where writing
// them is safe: checked before a run (check_output_paths), written after it
// (write_file_atomically).
#pragma once
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace kvsched::sim {

/// An output path that cannot or must not be written (a directory, an input, a path given
/// twice, an unwritable folder, a failed write). A std::invalid_argument, so kvsched-sim
/// exits with code 2; what() names the flag (or the path) and the reason.
struct OutputError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

/// One output the caller will write: `what` names it in messages (e.g. "--json").
struct OutputPath {
  std::string what;
  std::filesystem::path path;
  bool is_dir = false;  // a folder the caller creates and fills (e.g. --plot)
};

namespace detail {

/// errno as text, for messages.
[[nodiscard]] inline std::string errno_text(int err) { return std::generic_category().message(err); }

/// lstat() of `p`: false when it does not exist (ENOENT, ENOTDIR); throws OutputError for
/// other errors.
[[nodiscard]] inline bool lstat_path(const std::filesystem::path& p, struct stat& st, const std::string& what) {
  if (::lstat(p.c_str(), &st) == 0) return true;
  const int err = errno;
  if (err == ENOENT || err == ENOTDIR) return false;
  throw OutputError(what + " " + p.string() + ": " + errno_text(err));
}

/// Nearest existing ancestor of a path that does not exist yet ("." for a bare relative name),
/// where a folder output will be created.
[[nodiscard]] inline std::filesystem::path existing_ancestor(std::filesystem::path p) {
  std::error_code ec;
  while (true) {
    p = p.parent_path();
    if (p.empty()) return ".";
    if (std::filesystem::exists(p, ec)) return p;
  }
}

/// Throws OutputError unless `dir` is a folder the process can create entries in.
inline void check_writable_dir(const std::filesystem::path& dir, const std::string& what, const std::filesystem::path& out) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw OutputError(what + " " + out.string() + ": " + dir.string() + " is not a directory");
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw OutputError(what + " " + out.string() + ": cannot create files in " + dir.string() + ": " + errno_text(errno));
}

/// Lexically normal absolute form, for comparing paths that do not exist yet.
[[nodiscard]] inline std::filesystem::path normal_path(const std::filesystem::path& p) {
  std::error_code ec;
  auto w = std::filesystem::weakly_canonical(std::filesystem::absolute(p, ec), ec);
  return ec ? std::filesystem::absolute(p).lexically_normal() : w;
}

/// True when `a` and `b` name the same file: the same inode when both exist
/// (std::filesystem::equivalent: hard links and symlinks included), else the same normal path.
[[nodiscard]] inline bool same_file(const std::filesystem::path& a, const std::filesystem::path& b) {
  std::error_code ec;
  if (std::filesystem::exists(a, ec) && std::filesystem::exists(b, ec)) {
    const bool eq = std::filesystem::equivalent(a, b, ec);
    if (!ec) return eq;
  }
  return normal_path(a) == normal_path(b);
}

}  // namespace detail

/// Checks, before any work, that every output can be written and that none destroys
/// something: a file output must be a regular file, a symlink to one, a character device
/// (/dev/null, /dev/stdout) or a FIFO (the last three are written in place, never replaced),
/// or a new path in a writable folder; a folder output must be a writable folder or
/// creatable under one. No output may be the same file (by filesystem identity) as one of
/// `inputs` (inputs that do not exist are skipped), and no two outputs the same path.
/// Errors: OutputError naming the output's flag, the path and the reason.
inline void check_output_paths(const std::vector<OutputPath>& outputs, const std::vector<std::filesystem::path>& inputs) {
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const OutputPath& o = outputs[i];
    if (o.path.empty()) continue;
    struct stat st {};
    const bool exists = detail::lstat_path(o.path, st, o.what);
    if (o.is_dir) {
      if (exists) {
        std::error_code ec;
        if (!std::filesystem::is_directory(o.path, ec))
          throw OutputError(o.what + " " + o.path.string() + ": exists and is not a directory");
        detail::check_writable_dir(o.path, o.what, o.path);
      } else {
        detail::check_writable_dir(detail::existing_ancestor(o.path), o.what, o.path);
      }
    } else if (exists) {
      struct stat target = st;
      if (S_ISLNK(st.st_mode) && ::stat(o.path.c_str(), &target) != 0)
        throw OutputError(o.what + " " + o.path.string() + ": symlink to nothing writable: " + detail::errno_text(errno));
      if (S_ISDIR(target.st_mode)) throw OutputError(o.what + " " + o.path.string() + ": is a directory; name a file");
      if (!S_ISREG(target.st_mode) && !S_ISCHR(target.st_mode) && !S_ISFIFO(target.st_mode))
        throw OutputError(o.what + " " + o.path.string() + ": not a regular file, character device or FIFO; refusing to write it");
      if (::access(o.path.c_str(), W_OK) != 0)
        throw OutputError(o.what + " " + o.path.string() + ": not writable: " + detail::errno_text(errno));
      if (S_ISREG(st.st_mode)) {  // replaced by rename: the folder must take a new entry
        detail::check_writable_dir(o.path.parent_path().empty() ? std::filesystem::path(".") : o.path.parent_path(), o.what, o.path);
      }
    } else {
      const auto parent = o.path.parent_path().empty() ? std::filesystem::path(".") : o.path.parent_path();
      // A file inside a folder output that will be created (e.g. --plot DIR/kvsched-sim.json).
      const bool in_new_dir = std::any_of(outputs.begin(), outputs.end(), [&](const OutputPath& d) {
        std::error_code ec;
        return d.is_dir && !std::filesystem::exists(parent, ec) && detail::same_file(d.path, parent);
      });
      detail::check_writable_dir(in_new_dir ? detail::existing_ancestor(o.path) : parent, o.what, o.path);
    }
    if (!o.is_dir) {
      for (const auto& in : inputs) {
        std::error_code ec;
        if (in.empty() || !std::filesystem::exists(in, ec)) continue;
        if (detail::same_file(o.path, in))
          throw OutputError(o.what + " " + o.path.string() + ": is an input (" + in.string() + "); refusing to overwrite it");
      }
    }
    for (std::size_t k = 0; k < i; ++k) {
      if (outputs[k].path.empty()) continue;
      if (detail::same_file(o.path, outputs[k].path))
        throw OutputError(o.what + " " + o.path.string() + ": same path as " + outputs[k].what + "; give each output its own");
    }
  }
}

/// Writes `content` to `path`, whole or not at all where that is possible:
///  - a new path or an existing regular file: into a new temporary file beside it (created
///    exclusively, so no other file is clobbered), then renamed over `path` (POSIX rename is
///    atomic within a file system); on failure the temporary file is removed and `path` is
///    untouched;
///  - an existing symlink, character device (/dev/null, /dev/stdout) or FIFO: written in place
///    through it (opened without creating), never replaced by a regular file;
///  - anything else (a directory, a socket, a block device): refused.
/// Errors: OutputError naming the path and the system's reason.
inline void write_file_atomically(const std::filesystem::path& path, std::string_view content) {
  auto write_all = [&](int fd) {
    std::size_t done = 0;
    while (done < content.size()) {
      const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      done += static_cast<std::size_t>(n);
    }
    return 0;
  };
  struct stat st {};
  const bool exists = detail::lstat_path(path, st, "output");
  if (exists && !S_ISREG(st.st_mode)) {
    struct stat target {};
    const bool resolved = ::stat(path.c_str(), &target) == 0;
    const mode_t m = S_ISLNK(st.st_mode) ? (resolved ? target.st_mode : 0) : st.st_mode;
    const bool in_place = S_ISREG(m) || S_ISCHR(m) || S_ISFIFO(m);
    if (!in_place) {
      throw OutputError(path.string() + (S_ISDIR(m) ? ": is a directory; name a file"
                                                    : resolved ? ": not a regular file; refusing to write it"
                                                               : ": symlink to nothing; refusing to write it"));
    }
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | (S_ISREG(m) ? O_TRUNC : 0));
    if (fd < 0) throw OutputError(path.string() + ": cannot open for writing: " + detail::errno_text(errno));
    const int err = write_all(fd);
    const int close_err = ::close(fd) != 0 ? errno : 0;
    if (err != 0 || close_err != 0) throw OutputError(path.string() + ": write failed: " + detail::errno_text(err != 0 ? err : close_err));
    return;
  }
  // New file or regular file: temporary file beside it, then rename.
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    tmp = path.string() + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(attempt);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) throw OutputError(path.string() + ": cannot create a temporary file beside it: " + detail::errno_text(errno));
  const int err = write_all(fd);
  const int sync_err = (err == 0 && ::fsync(fd) != 0) ? errno : 0;
  const int close_err = ::close(fd) != 0 ? errno : 0;
  if (err != 0 || sync_err != 0 || close_err != 0) {
    ::unlink(tmp.c_str());
    throw OutputError(path.string() + ": write failed: " + detail::errno_text(err != 0 ? err : sync_err != 0 ? sync_err : close_err));
  }
  if (exists) ::chmod(tmp.c_str(), st.st_mode & 07777);  // keep the replaced file's permissions
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int rename_err = errno;  // captured before unlink() can change errno
    ::unlink(tmp.c_str());
    throw OutputError(path.string() + ": cannot replace: " + detail::errno_text(rename_err));
  }
}

}  // namespace kvsched::sim
