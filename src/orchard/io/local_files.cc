#include "orchard/io/local_files_internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <functional>
#include <system_error>
#include <unordered_set>
#include <utility>

namespace orchard::io::internal {
namespace {

// std::strerror may share one buffer between threads; the error category does not.
std::string ErrnoMessage(int error) { return std::generic_category().message(error); }

struct FileId {
  dev_t device = 0;
  ino_t inode = 0;
  bool operator==(const FileId& other) const {
    return device == other.device && inode == other.inode;
  }
};

bool operator<(const FileId& lhs, const FileId& rhs) {
  return lhs.device != rhs.device ? lhs.device < rhs.device : lhs.inode < rhs.inode;
}

struct FileIdHash {
  size_t operator()(const FileId& id) const {
    return std::hash<uint64_t>()(static_cast<uint64_t>(id.inode) * 0x9E3779B97F4A7C15ull ^
                                 static_cast<uint64_t>(id.device));
  }
};

using FileIdSet = std::unordered_set<FileId, FileIdHash>;

FileId IdOf(const struct stat& info) { return {info.st_dev, info.st_ino}; }

// One entry of the listing before duplicates are dropped.
struct FoundEntry {
  std::string relative;
  int64_t size = 0;
  int links = 0;        ///< symbolic links followed to reach it
  bool has_id = false;  ///< stat worked: `id` is the entry's (device, inode)
  FileId id;
  bool is_link = false;  ///< a symbolic link to a file (or to what is no folder)
  int64_t mtime_ns = 0;  ///< of the file (a link's target), for ListedFile::mtime_ns
};

int64_t MtimeNs(const struct stat& info) {
  return static_cast<int64_t>(info.st_mtim.tv_sec) * 1000000000 + info.st_mtim.tv_nsec;
}

// The walk of one local root. Directories are claimed by (device, inode) when they are
// opened, so each is read once whatever the links and bind mounts that reach it; links are
// followed in rounds (round k follows the links found by round k-1), so a path with fewer
// links reaches a directory before any path with more.
class LocalWalk {
 public:
  LocalWalk(const std::string& root_path, const std::string& display, const FileSink& sink)
      : root_path_(root_path), display_(display), sink_(sink) {}

  Status Run() {
    ClaimAncestorsOfRoot();
    ORCHARD_RETURN_NOT_OK(WalkTree("", 0));
    for (int links = 1; !links_found_.empty(); ++links) {
      std::vector<std::string> round = std::move(links_found_);
      links_found_.clear();
      std::sort(round.begin(), round.end());
      for (auto& link : round) ORCHARD_RETURN_NOT_OK(FollowLink(std::move(link), links));
    }
    return EmitLinkedFiles();
  }

 private:
  std::string FullPath(const std::string& relative) const {
    return relative.empty() ? root_path_ : root_path_ + "/" + relative;
  }

  // A link to the root, or to a folder that holds it, would list the root inside itself
  // (and, for an ancestor, everything around it): such folders count as visited.
  void ClaimAncestorsOfRoot() {
    char* resolved = ::realpath(root_path_.c_str(), nullptr);
    if (resolved == nullptr) return;  // the root's own open reports the problem
    std::string path(resolved);
    std::free(resolved);
    while (path.size() > 1) {
      const auto slash = path.rfind('/');
      path.resize(slash == 0 ? 1 : slash);
      struct stat info;
      if (::stat(path.c_str(), &info) == 0) visited_dirs_.insert(IdOf(info));
    }
  }

  // Reads the tree below `start` (relative to the root; "" is the root) in path order,
  // without following the links in it (they are queued for the next round). An explicit
  // stack, and one open descriptor at a time, whatever the depth.
  Status WalkTree(const std::string& start, int links) {
    std::vector<std::string> pending{start};
    while (!pending.empty()) {
      std::string relative = std::move(pending.back());
      pending.pop_back();
      // O_DIRECTORY: a FIFO or device swapped in for a folder is refused, never opened.
      const int fd = ::open(FullPath(relative).c_str(),
                            O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
      if (fd < 0) {
        const int error = errno;
        if (relative.empty()) {
          return Status::IOError("cannot list input '", display_, "': ", ErrnoMessage(error));
        }
        // Listed as an entry: its read fails with the reason, so the user sees an error row.
        ORCHARD_RETURN_NOT_OK(Emit({std::move(relative), 0, links, false, {}}));
        continue;
      }
      struct stat info;
      if (::fstat(fd, &info) != 0 || !visited_dirs_.insert(IdOf(info)).second) {
        ::close(fd);  // read already (a bind mount, or a second way to the same folder)
        continue;
      }
      DIR* dir = ::fdopendir(fd);
      if (dir == nullptr) {
        ::close(fd);
        ORCHARD_RETURN_NOT_OK(Emit({std::move(relative), 0, links, false, {}}));
        continue;
      }
      std::vector<std::string> subdirs;
      Status emitted;
      for (;;) {
        errno = 0;
        const dirent* entry = ::readdir(dir);
        if (entry == nullptr) {
          // A folder that fails half-way is listed as an entry too (its files read so far
          // are kept).
          if (errno != 0) emitted = Emit({relative, 0, links, false, {}});
          break;
        }
        const std::string_view name(entry->d_name);
        if (name == "." || name == ".." || IsSkippedName(name)) continue;
        std::string child =
            relative.empty() ? std::string(name) : relative + "/" + std::string(name);
        struct stat child_info;
        if (::fstatat(::dirfd(dir), entry->d_name, &child_info, AT_SYMLINK_NOFOLLOW) != 0) {
          // Deleted since readdir: not there any more. Anything else: an error row.
          if (errno != ENOENT) emitted = Emit({std::move(child), 0, links, false, {}});
          if (!emitted.ok()) break;
          continue;
        }
        if (S_ISDIR(child_info.st_mode)) {
          subdirs.push_back(std::move(child));
        } else if (S_ISLNK(child_info.st_mode)) {
          links_found_.push_back(std::move(child));
        } else {
          // FIFOs, sockets and devices are listed (size 0) for their error row; the read
          // refuses them without opening them.
          const int64_t size = S_ISREG(child_info.st_mode) ? child_info.st_size : 0;
          emitted = Emit(
              {std::move(child), size, links, true, IdOf(child_info), false, MtimeNs(child_info)});
          if (!emitted.ok()) break;
        }
      }
      ::closedir(dir);
      ORCHARD_RETURN_NOT_OK(emitted);
      // Reverse order on the stack: the first sub-folder in path order is read first.
      std::sort(subdirs.begin(), subdirs.end(), std::greater<>());
      for (auto& subdir : subdirs) pending.push_back(std::move(subdir));
    }
    return Status::OK();
  }

  Status FollowLink(std::string link, int links) {
    struct stat target;
    if (::stat(FullPath(link).c_str(), &target) != 0) {
      // Broken, looping or forbidden: its read says which, as an error row.
      return Emit({std::move(link), 0, links, false, {}, /*is_link=*/true});
    }
    if (S_ISDIR(target.st_mode)) {
      // Root and ancestors are claimed from the start, so a loop ends here. (WalkTree
      // claims the folder itself when it opens it.)
      if (visited_dirs_.count(IdOf(target)) == 0) return WalkTree(link, links);
      return Status::OK();
    }
    const int64_t size = S_ISREG(target.st_mode) ? target.st_size : 0;
    return Emit(
        {std::move(link), size, links, true, IdOf(target), /*is_link=*/true, MtimeNs(target)});
  }

  // Every entry of every folder read is listed (folders are read once, so each entry once;
  // hard links are entries of their own, as tools that copy collections make them): it goes
  // to the sink as it is found, and only its (device, inode) is kept (16 bytes a file). A
  // link to a file adds it only if nothing listed it yet: the file's own entry wins, then
  // the link with the fewest links on its path, then the first in path order; so links to
  // files wait for the end of the walk (EmitLinkedFiles).
  Status Emit(FoundEntry entry) {
    if (entry.is_link && entry.has_id) {
      linked_files_.push_back(std::move(entry));
      return Status::OK();
    }
    if (entry.has_id) listed_ids_.push_back(entry.id);
    return sink_({std::move(entry.relative), entry.size, entry.mtime_ns});
  }

  Status EmitLinkedFiles() {
    if (linked_files_.empty()) return Status::OK();
    std::sort(listed_ids_.begin(), listed_ids_.end());
    std::sort(linked_files_.begin(), linked_files_.end(),
              [](const FoundEntry& lhs, const FoundEntry& rhs) {
                return lhs.links != rhs.links ? lhs.links < rhs.links : lhs.relative < rhs.relative;
              });
    FileIdSet linked_listed;
    for (auto& entry : linked_files_) {
      if (std::binary_search(listed_ids_.begin(), listed_ids_.end(), entry.id) ||
          !linked_listed.insert(entry.id).second) {
        continue;
      }
      ORCHARD_RETURN_NOT_OK(sink_({std::move(entry.relative), entry.size, entry.mtime_ns}));
    }
    linked_files_.clear();
    return Status::OK();
  }

  const std::string& root_path_;
  const std::string& display_;
  const FileSink& sink_;
  FileIdSet visited_dirs_;
  std::vector<FileId> listed_ids_;        ///< of every file listed by its own entry
  std::vector<FoundEntry> linked_files_;  ///< links to files, emitted at the end
  std::vector<std::string> links_found_;  ///< links to follow in the next round
};

Status NotRegularFile(mode_t mode) {
  if (S_ISDIR(mode)) {
    return Status::IOError(
        "a folder, not a file: the listing could not read it (check its "
        "permissions)");
  }
  const char* kind = S_ISFIFO(mode)   ? "a FIFO (named pipe)"
                     : S_ISSOCK(mode) ? "a socket"
                     : S_ISCHR(mode)  ? "a character device"
                     : S_ISBLK(mode)  ? "a block device"
                                      : "a special file";
  return Status::IOError("not a regular file but ", kind, ": not read");
}

Status CannotOpen(const std::string& path, int error) {
  if (error == ENOENT) {
    struct stat link_info;
    if (::lstat(path.c_str(), &link_info) == 0 && S_ISLNK(link_info.st_mode)) {
      return Status::IOError("broken symbolic link: its target does not exist");
    }
    return Status::IOError("file not found (deleted or moved since it was listed?)");
  }
  if (error == ELOOP) {
    return Status::IOError("symbolic link loop: the link leads back to itself");
  }
  return Status::IOError("cannot open the file: ", ErrnoMessage(error));
}

}  // namespace

Status WalkLocalFiles(const std::string& root_path, const std::string& display,
                      const FileSink& sink) {
  struct stat info;
  if (::stat(root_path.c_str(), &info) != 0) {
    const int error = errno;
    if (error == ENOENT) return Status::IOError("input '", display, "' does not exist");
    return Status::IOError("cannot read input '", display, "': ", ErrnoMessage(error));
  }
  if (S_ISREG(info.st_mode)) {
    return Status::Invalid("input '", display,
                           "' is a file: give the folder that holds one sub-folder per label");
  }
  if (!S_ISDIR(info.st_mode)) {
    return Status::Invalid("input '", display,
                           "' is not a folder: give the folder that holds one sub-folder per "
                           "label");
  }
  return LocalWalk(root_path, display, sink).Run();
}

Result<std::shared_ptr<arrow::Buffer>> ReadLocalFile(const std::string& path, int64_t max_bytes) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) return CannotOpen(path, errno);
  if (!S_ISREG(info.st_mode)) return NotRegularFile(info.st_mode);
  ORCHARD_RETURN_NOT_OK(CheckFileSize(info.st_size, max_bytes));
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return CannotOpen(path, errno);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  // The path may name another file than the one stat saw: check what was opened.
  if (::fstat(fd, &info) != 0) {
    return Status::IOError("cannot read the file: ", ErrnoMessage(errno));
  }
  if (!S_ISREG(info.st_mode)) return NotRegularFile(info.st_mode);
  ORCHARD_RETURN_NOT_OK(CheckFileSize(info.st_size, max_bytes));
  const int64_t size = info.st_size;
  ORCHARD_ASSIGN_OR_RAISE(std::shared_ptr<arrow::Buffer> buffer, arrow::AllocateBuffer(size));
  uint8_t* data = buffer->mutable_data();
  int64_t done = 0;
  while (done < size) {
    constexpr int64_t kMaxChunk = int64_t{1} << 30;
    const ssize_t count =
        ::read(fd, data + done, static_cast<size_t>(std::min(size - done, kMaxChunk)));
    if (count < 0) {
      if (errno == EINTR) continue;
      return Status::IOError("read failed after ", done, " of ", size,
                             " bytes: ", ErrnoMessage(errno));
    }
    if (count == 0) break;
    done += count;
  }
  if (done < size) {
    return Status::IOError("the file shrank while it was read: ", done, " of ", size, " bytes");
  }
  // One byte more tells a whole file from one that grows while it is read, or that never
  // ends although its size says 0 (files of /proc and /sys).
  uint8_t extra = 0;
  ssize_t more = 0;
  do {
    more = ::read(fd, &extra, 1);
  } while (more < 0 && errno == EINTR);
  if (more > 0) {
    return Status::IOError("the file grew while it was read (past the ", size,
                           " bytes it had when opened)");
  }
  return buffer;
}

}  // namespace orchard::io::internal
